// lib.js — what the storefront and the admin console share: the API client
// (cookie session + CSRF token, guest token), DOM building that only ever
// sets text (never innerHTML: a product titled <img onerror=…> shows as
// text), money per currency, and a small hash router.

const GUEST_KEY = 'shopd.guest';

// leftBehind: the guest cart's lines the last login could not merge, until
// the cart page has shown them.
export const session = { user: null, csrf: null, leftBehind: [] };

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // "field: reason" lines for a form, or the detail.
  get fields() {
    return (this.problem.errors || []).map((e) => (e.field ? `${e.field}: ${e.detail || e.message || ''}` : e.detail || ''));
  }
}

export function guestToken() { return localStorage.getItem(GUEST_KEY); }
export function forgetGuest() { localStorage.removeItem(GUEST_KEY); }

// One call to the API. Writes carry the CSRF token when logged in; a guest
// carries X-Guest-Token. Resolves to the parsed JSON (null for 204).
export async function api(method, path, body, extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session.csrf && method !== 'GET') headers['X-CSRF-Token'] = session.csrf;
  const g = guestToken();
  if (g && !session.user) headers['X-Guest-Token'] = g;
  const res = await fetch(path, { method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = { detail: text }; } }
  if (!res.ok) {
    if (res.status === 401 && g && data && /guest/i.test(data.detail || '')) forgetGuest();
    throw new ApiError(res.status, data);
  }
  return data;
}

// A guest token for a cart before login (POST /v1/guest), made once.
export async function ensureGuest() {
  if (session.user || guestToken()) return;
  const r = await api('POST', '/v1/guest');
  localStorage.setItem(GUEST_KEY, r.guest_token);
}

export async function loadSession() {
  try {
    const me = await api('GET', '/v1/me');
    session.user = me;
    session.csrf = me.csrf_token || null;
  } catch {
    session.user = null;
    session.csrf = null;
  }
  return session.user;
}

export async function login(email, password, name) {
  const body = { email, password, cookie: true };
  if (name !== undefined) body.name = name;
  const r = await api('POST', name !== undefined ? '/v1/auth/register' : '/v1/auth/login', body);
  session.user = r.user;
  session.csrf = r.csrf_token;
  session.leftBehind = r.cart_left_behind || [];
  forgetGuest(); // its cart merged into the account's (but for leftBehind)
  return r.user;
}

export async function logout() {
  try { await api('POST', '/v1/auth/logout'); } catch { /* already gone */ }
  session.user = null;
  session.csrf = null;
}

// h('tag.class', {attr: v, onclick: fn}, children…): children are nodes or
// strings (text nodes). Never parses HTML.
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const fmts = new Map();
export function money(cents, currency = 'USD') {
  let f = fmts.get(currency);
  if (!f) {
    try { f = new Intl.NumberFormat(undefined, { style: 'currency', currency }); }
    catch { f = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' }); }
    fmts.set(currency, f);
  }
  const digits = f.resolvedOptions().maximumFractionDigits;
  return f.format((cents || 0) / 10 ** digits);
}

export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
}

// A labelled form field; returns [wrapper, input].
export function field(label, attrs = {}) {
  const id = attrs.id || `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${Math.random().toString(36).slice(2, 7)}`;
  const input = attrs.options
    ? h('select', { id, name: attrs.name }, attrs.options.map(([v, t]) => h('option', { value: v, selected: String(attrs.value) === String(v) }, t)))
    : attrs.multiline
      ? h('textarea', { id, name: attrs.name, required: attrs.required, rows: 4 }, attrs.value || '')
      : h('input', { id, type: 'text', ...attrs, options: undefined });
  return [h('div.field', h('label', { for: id }, label), input), input];
}

// Shows a message in a live region: screen readers announce it.
export function notice(el, text, kind = 'error') {
  mount(el, text ? h(`p.msg.${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text) : null);
}

// Runs an action with progress: the button is disabled and says so.
export async function busy(button, fn) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = `${label}…`;
  try { return await fn(); } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

// Hash routes: '#/p/12?x=1' → {parts:['p','12'], query:URLSearchParams}.
export function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(qs || '') };
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

export function idemKey() {
  const a = new Uint8Array(16);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A product image that quietly disappears when it cannot load.
export function img(src, alt, cls = 'thumb') {
  const el = h(`img.${cls}`, { src, alt, loading: 'lazy', width: 160, height: 160 });
  el.addEventListener('error', () => el.classList.add('broken'));
  return el;
}
