// web_load.mjs — first loads of a page in headless Chromium (Debian's, driven
// by playwright-core from tests/web), for bench/web.py.
//
//   node bench/web_load.mjs capture URL DIR     saves every GET /v1/… answer the
//                                               page loads under DIR (a static copy)
//   node bench/web_load.mjs measure RUNS SELECTOR URL…
//       loads each URL RUNS times, alternating, each in a fresh context (cold
//       cache), after one warm-up each; prints JSON per URL: the medians of
//       bytes (all responses as transferred: headers and compressed bodies),
//       content_ms and tti_ms, and the request count.
//
// Time to interactive, concretely: from navigation start (performance.now()
// origin) until the page's main content from the API is in the document
// (SELECTOR matches, the page says body[data-ready=true] and shows no
// "Loading…") and then the main thread is idle (the first requestIdleCallback
// after that). content_ms is the first of those two instants.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests/web/package.json'));
const { chromium } = require('playwright-core');

const exe = process.env.CHROMIUM || execFileSync('sh', ['-c', 'command -v chromium']).toString().trim();
const br = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
const [mode, ...args] = process.argv.slice(2);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

function watch(selector) {
  // Runs in the page before its own scripts (CDP, so the CSP does not apply).
  const done = () => document.body && document.body.dataset.ready === 'true' && document.querySelector(selector) &&
    !document.querySelector('main .loading');
  const obs = new MutationObserver(() => {
    if (window.__content || !done()) return;
    window.__content = performance.now();
    obs.disconnect();
    requestIdleCallback(() => { window.__tti = performance.now(); });
  });
  obs.observe(document, { subtree: true, childList: true, attributes: true });
}

async function load(url, selector) {
  const ctx = await br.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0; let requests = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; requests++; });
  cdp.on('Network.loadingFailed', () => { requests++; });
  await page.addInitScript(watch, selector);
  await page.goto(url);
  await page.waitForFunction(() => window.__tti !== undefined, undefined, { timeout: 20000 });
  const t = await page.evaluate(() => ({ content: window.__content, tti: window.__tti }));
  await page.waitForLoadState('networkidle');
  await ctx.close();
  return { bytes, requests, content_ms: t.content, tti_ms: t.tti };
}

if (mode === 'capture') {
  const [url, dir] = args;
  const ctx = await br.newContext();
  const page = await ctx.newPage();
  const saved = [];
  page.on('response', async (r) => {
    const u = new URL(r.url());
    if (r.request().method() !== 'GET' || !u.pathname.startsWith('/v1/') || r.status() !== 200) return;
    const file = path.join(dir, `${u.pathname}.json`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, await r.body());
    saved.push(u.pathname);
  });
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForLoadState('networkidle');
  await ctx.close();
  console.log(JSON.stringify(saved));
} else {
  const [runs, selector, ...urls] = args;
  const got = Object.fromEntries(urls.map((u) => [u, []]));
  for (const u of urls) await load(u, selector);
  for (let i = 0; i < Number(runs); i++) for (const u of urls) got[u].push(await load(u, selector));
  const out = {};
  for (const [u, rs] of Object.entries(got)) {
    out[u] = { bytes: median(rs.map((r) => r.bytes)), requests: median(rs.map((r) => r.requests)),
      content_ms: median(rs.map((r) => r.content_ms)), tti_ms: median(rs.map((r) => r.tti_ms)),
      tti_runs: rs.map((r) => Math.round(r.tti_ms)) };
  }
  console.log(JSON.stringify(out));
}
await br.close();
