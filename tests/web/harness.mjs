// harness.mjs — a real shopd for the browser journeys: a fresh SQLite
// database in a temporary directory, a free port, the API tests' settings
// (fast password hashing, fraud scoring off), and a bearer-token API client
// to set a shop up as its staff would. Debian's chromium, driven by
// playwright-core; axe-core checks each page; screenshots go to build/web/.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.SHOPD_BIN || path.join(ROOT, 'shopd');
export const SHOTS = path.join(ROOT, 'build', 'web');
export const PASSWORD = 'correct-horse-9';
export const uid = () => Math.random().toString(36).slice(2, 10);

const ENV = { SHOPD_PWHASH_MEMLIMIT: '65536', SHOPD_PWHASH_OPSLIMIT: '1', SHOPD_LOG_LEVEL: 'warn', SHOPD_FRAUD: 'off' };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

export class Shop {
  // extraEnv: settings for this shop only (e.g. a notification provider).
  async start(extraEnv = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shopd-web-'));
    this.db = path.join(this.dir, 'shop.db');
    this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.env = { ...process.env, ...ENV, ...extraEnv };
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
    this.proc = spawn(BIN, ['serve', '--port', String(this.port), '--db', this.db], { env: this.env, stdio: ['ignore', log, log] });
    for (let i = 0; i < 300; i++) {
      try { if ((await fetch(`${this.base}/healthz`)).ok) return this; } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`shopd did not start: ${this.log()}`);
  }

  log() { try { return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8').slice(-4000); } catch { return ''; } }

  async stop() {
    if (!this.proc) return;
    const done = new Promise((r) => this.proc.once('exit', (code, sig) => r([code, sig])));
    this.proc.kill('SIGTERM');
    const [code] = await done;
    if (code !== 0 && code !== null) throw new Error(`shopd exited with ${code}: ${this.log()}`);
    if (!process.env.SHOPD_TEST_KEEP) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  cli(...args) { return execFileSync(BIN, [...args, '--db', this.db], { env: this.env }).toString(); }

  async api(method, p, body, token, headers = {}) {
    const h = { Accept: 'application/json', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const r = await fetch(this.base + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    const data = text ? JSON.parse(text) : null;
    if (!r.ok) throw new Error(`${method} ${p} → ${r.status} ${text}`);
    return data;
  }

  // A staff account made with the CLI; returns {email, token}.
  async staff(role, extra = []) {
    const email = `${role}-${uid()}@example.com`;
    this.cli('user', 'create', '--email', email, '--password', PASSWORD, '--role', role, ...extra);
    const r = await this.api('POST', '/v1/auth/login', { email, password: PASSWORD });
    return { email, token: r.token, user: r.user };
  }

  // Admin, a trusted seller, a category tree, a warehouse.
  async setup() {
    this.admin = await this.staff('admin');
    this.seller = await this.staff('seller', ['--trusted']);
    this.root = (await this.api('POST', '/v1/categories', { name: 'Kitchen' }, this.admin.token)).id;
    this.leaf = (await this.api('POST', '/v1/categories', { name: 'Kettles', parent_id: this.root }, this.admin.token)).id;
    this.warehouse = (await this.api('POST', '/v1/warehouses', { code: 'SEA', name: 'Seattle', country: 'US', postal_code: '98101', lat: 47.6, lon: -122.3 }, this.admin.token)).id;
  }

  async product(title, { brand = 'Acme', price = 2599, stock = 20, category, currency = 'USD' } = {}) {
    const p = await this.api('POST', '/v1/products', { title, description: `${title}, a fine thing for tests.`, brand,
      category_id: category || this.leaf, currency, variants: [{ sku: `SKU-${uid()}`, price_cents: price, weight_grams: 500 }] }, this.seller.token);
    for (const v of p.variants) await this.api('PUT', `/v1/inventory/${v.id}/${this.warehouse}`, { on_hand: stock }, this.seller.token);
    const s = await this.api('POST', `/v1/products/${p.id}/submit`, undefined, this.seller.token);
    if (s.status !== 'published') await this.api('POST', `/v1/admin/products/${p.id}/approve`, undefined, this.admin.token);
    return p;
  }

  // A customer with an address and the test card: {token, user, address, card}.
  async customer() {
    const email = `buyer-${uid()}@example.com`;
    const r = await this.api('POST', '/v1/auth/register', { email, password: PASSWORD, name: 'Api Buyer' });
    const address = (await this.api('POST', '/v1/me/addresses', { name: 'Api Buyer', line1: '1 Pike St', city: 'Seattle',
      postal_code: '98101', country: 'US' }, r.token)).id;
    const card = (await this.api('POST', '/v1/me/payment-methods', { type: 'card', number: '4242424242424242',
      exp_month: 12, exp_year: 2031, cvc: '123' }, r.token)).id;
    return { email, token: r.token, user: r.user, address, card };
  }

  // The customer buys one of each variant; returns the order.
  async buy(who, variantIds) {
    for (const v of variantIds) await this.api('POST', '/v1/cart/lines', { variant_id: v, quantity: 1 }, who.token);
    return this.api('POST', '/v1/orders', { shipping_address_id: who.address, payments: [{ payment_method_id: who.card }],
      shipping_method: 'standard' }, who.token, { 'Idempotency-Key': uid() + uid() });
  }

  // Waits until the search index finds `q` (it follows the catalog asynchronously).
  async searchable(q, id) {
    for (let i = 0; i < 200; i++) {
      const r = await this.api('GET', `/v1/search?q=${encodeURIComponent(q)}`);
      if (r.data.some((x) => x.id === id)) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`search never found ${q}`);
  }
}

export async function browser() {
  const exe = process.env.CHROMIUM || execFileSync('sh', ['-c', 'command -v chromium']).toString().trim();
  return chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
}

export async function newPage(br, errors) {
  const ctx = await br.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
  return page;
}

// The page of the current hash is rendered (web/*.js set main[data-shown]
// when done: a hash change renders a task later, and what is on screen until
// then is the previous page).
export async function ready(page) {
  await page.waitForSelector('body[data-ready=true]');
  await page.waitForFunction(() => {
    const main = document.querySelector('main');
    return main && main.dataset.shown === location.hash && !main.querySelector('.loading');
  });
}

// The header's cart count, which follows a change of the cart a request later.
export async function cartShows(page, n) {
  await page.waitForFunction((x) => document.querySelector('#cart-link')?.textContent === `Cart (${x})`, n);
}

// axe-core on the page as it is at desktop and at phone width (0 serious or
// critical violations at either), and a screenshot at each width.
export const audited = [];
export async function audit(page, name) {
  const check = async (width) => {
    const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${width}: ${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  };
  audited.push(name);
  fs.mkdirSync(SHOTS, { recursive: true });
  const bad = await check('desktop');
  await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    bad.push(...await check('phone'));
    await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
  } finally {
    await page.setViewportSize(size);
  }
  if (bad.length) throw new Error(`${name}: accessibility violations:\n${bad.join('\n')}`);
}

// The page moves every journey makes, bound to one shop.
export function helpers(shop) {
  async function goto(page, hash) {
    // A URL differing only in its hash would not load the page again.
    const r = page.url() === shop.base + hash ? await page.reload() : await page.goto(shop.base + hash);
    await ready(page);
    return r;
  }

  async function hashChange(page, hash) {
    await page.evaluate((x) => { location.hash = x; }, hash);
    await ready(page);
  }

  async function register(page, next = '#/') {
    const email = `shopper-${uid()}@example.com`;
    await goto(page, `/#/login?next=${encodeURIComponent(next)}`);
    await page.fill('#reg-name', 'Web Shopper');
    await page.fill('#reg-email', email);
    await page.fill('#reg-password', PASSWORD);
    await page.click('text=Create account');
    await page.waitForFunction((n) => location.hash === n, next);
    await ready(page);
    return email;
  }

  async function addToCart(page, productId) {
    await goto(page, `/#/p/${productId}`);
    await page.click('button:has-text("Add to cart")');
    await page.waitForSelector('text=Added to your cart.');
  }

  async function staffLogin(page, who) {
    await goto(page, '/admin/');
    await page.fill('#email', who.email);
    await page.fill('#password', PASSWORD);
    await page.click('button:has-text("Log in")');
    await page.waitForSelector('nav.side >> text=Log out');
    await ready(page);
  }

  /* Clicks every button the selector shows, one at a time: the page renders
   * again after each click, so a button counted a moment ago may be gone by
   * the time it would be clicked; then look again instead of waiting for it. */
  async function clickWhileShown(page, selector) {
    for (let i = 0; i < 20; i++) {
      const b = page.locator(selector);
      if (!(await b.count())) return;
      try {
        await b.first().click({ timeout: 3000 });
      } catch {
        continue;
      }
      await ready(page);
    }
    throw new Error(`${selector} is still shown after 20 clicks`);
  }
  return { goto, hashChange, register, addToCart, staffLogin, clickWhileShown };
}
