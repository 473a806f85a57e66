// admin.js — the admin and seller console: the same API as any client, with
// the caller's role deciding what it may see (a seller sees only their own).
import {
  api, ApiError, busy, field, go, h, idemKey, loadSession, login, logout, money, mount, notice,
  route, session, when,
} from './lib.js';

const main = document.getElementById('main');
const side = document.getElementById('side');
const isAdmin = () => session.user && session.user.role === 'admin';

const PAGES = [
  ['products', 'Products', 'seller'], ['review', 'Listing review', 'admin'], ['stock', 'Stock', 'seller'],
  ['orders', 'Orders', 'seller'], ['returns', 'Returns', 'admin'], ['fraud', 'Fraud holds', 'admin'],
  ['flash', 'Flash sales', 'admin'], ['promotions', 'Promotions', 'admin'], ['reviews', 'Reviews', 'admin'],
  ['dead-letters', 'Dead letters', 'admin'], ['analytics', 'Analytics', 'seller'],
];

function renderSide(current) {
  const u = session.user;
  mount(side, h('p', h('a.brand', { href: '/' }, 'shopd'), ' console'),
    u ? h('p.meta', `${u.name} (${u.role})`) : null,
    u ? h('ul', PAGES.filter(([, , who]) => who === 'seller' || isAdmin())
      .map(([k, t]) => h('li', h('a', { href: `#/${k}`, 'aria-current': k === current ? 'page' : null }, t)))) : null,
    u ? h('button', { type: 'button', onclick: async () => { await logout(); render(); } }, 'Log out') : null);
}

function problemText(err) {
  if (!(err instanceof ApiError)) return err.message;
  const extra = err.fields.filter(Boolean);
  return extra.length ? `${err.message} (${extra.join('; ')})` : err.message;
}

function table(cols, rows) {
  if (!rows.length) return h('p', 'Nothing here.');
  return h('table',
    h('thead', h('tr', cols.map(([t]) => h('th', { scope: 'col' }, t)))),
    h('tbody', rows.map((r) => h('tr', cols.map(([, f]) => h('td', f(r)))))));
}

// A button that runs an API call with progress, then re-renders the page.
function action(label, fn, msg) {
  return h('button', { type: 'button', onclick: (e) => busy(e.target, async () => {
    try { await fn(); await render(); } catch (err) { notice(msg, problemText(err)); }
  }) }, label);
}

// ---- login ----------------------------------------------------------------------

function loginPage() {
  const msg = h('div', { 'aria-live': 'assertive' });
  const [f1, email] = field('Email', { type: 'email', required: true, autocomplete: 'email', id: 'email' });
  const [f2, pw] = field('Password', { type: 'password', required: true, autocomplete: 'current-password', id: 'password' });
  const btn = h('button.primary', { type: 'submit' }, 'Log in');
  mount(main, h('h1', 'Console log in'),
    session.user ? h('p.msg.error', { role: 'alert' }, 'This console is for sellers and staff; your account is a customer account.') : null,
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      await busy(btn, async () => {
        try { await login(email.value, pw.value); render(); } catch (err) { notice(msg, problemText(err)); }
      });
    } }, f1, f2, btn), msg);
}

// ---- products -------------------------------------------------------------------

async function products() {
  const r = await api('GET', '/v1/seller/products?limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', 'Products'), h('p', h('a.button.primary', { href: '#/products/new' }, 'New product')), msg,
    table([['Title', (p) => h('a', { href: `#/products/${p.id}` }, p.title)], ['Status', (p) => p.status],
      ['Price', (p) => (p.price_cents !== undefined ? money(p.price_cents, p.currency) : '')], ['Updated', (p) => when(p.updated_at)],
      ['', (p) => (p.status === 'draft' || p.status === 'rejected' ? action('Submit for review', () => api('POST', `/v1/products/${p.id}/submit`), msg) : null)]], r.data));
}

function flatCats(list, out = [], prefix = '') {
  for (const c of list) { out.push([c.id, prefix + c.name]); flatCats(c.children || [], out, `${prefix}${c.name} › `); }
  return out;
}

async function productEdit(id) {
  const cats = flatCats(await api('GET', '/v1/categories'));
  const p = id === 'new' ? null : await api('GET', `/v1/products/${id}`);
  const msg = h('div', { 'aria-live': 'polite' });
  const [f1, t] = field('Title', { required: true, value: p ? p.title : '', id: 'p-title', maxlength: 200 });
  const [f2, b] = field('Brand', { required: true, value: p ? p.brand : '', id: 'p-brand' });
  const [f3, c] = field('Category', { options: cats, value: p && p.category ? p.category.id : '', id: 'p-category' });
  const [f4, d] = field('Description', { multiline: true, value: p ? p.description : '', id: 'p-description' });
  const [f5, img] = field('Image URL', { value: p && p.images ? p.images[0] || '' : '', id: 'p-image' });
  const [f6, sku] = field('SKU of the first variant', { value: p ? p.variants[0].sku : '', required: !p, id: 'p-sku' });
  const [f7, price] = field('Price in cents', { type: 'number', min: 0, value: p ? p.variants[0].price_cents : '', required: true, id: 'p-price' });
  const save = h('button.primary', { type: 'submit' }, p ? 'Save' : 'Create draft');
  const form = h('form', { onsubmit: async (e) => {
    e.preventDefault();
    await busy(save, async () => {
      try {
        const body = { title: t.value, brand: b.value, category_id: Number(c.value), description: d.value || ' ' };
        if (img.value) body.images = [img.value];
        if (p) {
          await api('PATCH', `/v1/products/${p.id}`, body);
          if (Number(price.value) !== p.variants[0].price_cents) await api('PATCH', `/v1/variants/${p.variants[0].id}`, { price_cents: Number(price.value) });
          notice(msg, 'Saved.', 'ok');
        } else {
          const made = await api('POST', '/v1/products', { ...body, currency: 'USD', variants: [{ sku: sku.value, price_cents: Number(price.value) }] });
          go(`#/products/${made.id}`);
        }
      } catch (err) { notice(msg, problemText(err)); }
    });
  } }, f1, f2, f3, f4, f5, p ? null : f6, f7, save);
  const vsku = h('input', { id: 'v-sku', required: true });
  const vprice = h('input', { id: 'v-price', type: 'number', min: 0, required: true });
  const vopt = h('input', { id: 'v-option', placeholder: 'size=L' });
  mount(main, h('h1', p ? `Edit: ${p.title}` : 'New product'), p ? h('p', `Status: ${p.status}`) : null, form, msg,
    p ? h('section', h('h2', 'Variants'),
      table([['SKU', (v) => v.sku], ['Options', (v) => Object.entries(v.options || {}).map(([k, x]) => `${k}: ${x}`).join(', ')],
        ['Price', (v) => money(v.price_cents, p.currency)], ['Available', (v) => String(v.available)],
        ['', (v) => h('a', { href: `#/stock/${v.id}` }, 'Stock')]], p.variants),
      h('form', { onsubmit: async (e) => {
        e.preventDefault();
        const btn = e.submitter || e.target.querySelector('button');
        await busy(btn, async () => {
          try {
            // PATCH /v1/products/{id}: a `variants` item without an id adds
            // one; the existing variants are left as they are.
            const [k, x] = vopt.value.split('=');
            const v = { sku: vsku.value.trim(), price_cents: Number(vprice.value) };
            if (k && k.trim()) v.options = { [k.trim()]: (x || '').trim() };
            await api('PATCH', `/v1/products/${p.id}`, { variants: [v] });
            await render();
            notice(main.querySelector('[aria-live]'), `Added variant ${v.sku}.`, 'ok');
          } catch (err) { notice(msg, problemText(err)); }
        });
      } }, h('h3', 'Add a variant'),
      h('div.field', h('label', { for: 'v-sku' }, 'SKU'), vsku), h('div.field', h('label', { for: 'v-price' }, 'Price in cents'), vprice),
      h('div.field', h('label', { for: 'v-option' }, 'Option (name=value)'), vopt), h('button', { type: 'submit' }, 'Add variant')),
    (p.status === 'draft' || p.status === 'rejected') ? action('Submit for review', () => api('POST', `/v1/products/${p.id}/submit`), msg) : null) : null);
}

async function reviewQueue() {
  const r = await api('GET', '/v1/seller/products?status=pending_review&limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', 'Listing review'), msg,
    table([['Title', (p) => h('a', { href: `/#/p/${p.id}` }, p.title)], ['Brand', (p) => p.brand || ''], ['Seller', (p) => String(p.seller_id)],
      ['', (p) => [action(`Approve ${p.title}`, () => api('POST', `/v1/admin/products/${p.id}/approve`), msg), ' ',
        action('Reject', () => api('POST', `/v1/admin/products/${p.id}/reject`, { reason: prompt('Why?') || 'does not meet the listing rules' }), msg)]]], r.data));
}

// ---- stock -------------------------------------------------------------------------

async function stock(variantId) {
  const whs = await api('GET', '/v1/warehouses');
  const vin = h('input', { id: 'variant', type: 'number', min: 1, value: variantId || '' });
  const msg = h('div', { 'aria-live': 'polite' });
  let body = null;
  if (variantId) {
    // {rows:[{warehouse_id, on_hand, reserved, available}], total:{…}, movements:[…]}
    const s = await api('GET', `/v1/inventory/${variantId}`);
    const rows = s.rows || [];
    const list = whs.data || whs;
    const code = (id) => (list.find((w) => w.id === id) || { code: `#${id}` }).code;
    const inputs = {};
    body = h('section', h('h2', `Variant ${variantId}: ${s.total.on_hand} on hand, ${s.total.available} available`),
      table([['Warehouse', (w) => `${w.code} ${w.name}`], ['On hand', (w) => {
        const cur = rows.find((x) => x.warehouse_id === w.id);
        inputs[w.id] = h('input', { type: 'number', min: 0, value: cur ? cur.on_hand : 0, 'aria-label': `On hand at ${w.code}` });
        return inputs[w.id];
      }], ['Reserved', (w) => String((rows.find((x) => x.warehouse_id === w.id) || {}).reserved || 0)],
      ['', (w) => action(`Set ${w.code}`, () => api('PUT', `/v1/inventory/${variantId}/${w.id}`, { on_hand: Number(inputs[w.id].value) }), msg)]], list),
      (s.movements || []).length ? h('details', h('summary', 'Stock movements'), h('ul', s.movements.slice(0, 50).map((m) =>
        h('li', `${when(m.at)}: ${code(m.warehouse_id)} ${m.kind.replace(/_/g, ' ')}, on hand ${m.on_hand_before} → ${m.on_hand_after}, reserved ${m.reserved_before} → ${m.reserved_after}${m.ref ? ` (${m.ref})` : ''}`)))) : null);
  }
  mount(main, h('h1', 'Stock'),
    h('form', { onsubmit: (e) => { e.preventDefault(); go(`#/stock/${vin.value}`); } },
      h('div.field', h('label', { for: 'variant' }, 'Variant id'), vin), h('button', { type: 'submit' }, 'Show')), msg, body);
}

// ---- orders and fulfilment -------------------------------------------------------------

async function orders(query) {
  const st = query.get('status') || '';
  const msg = h('div', { 'aria-live': 'polite' });
  const sel = h('select', { id: 'status', onchange: (e) => go(`#/orders?status=${e.target.value}`) },
    ['', 'paid', 'fulfilling', 'partially_shipped', 'shipped', 'delivered', 'cancelled', 'on_hold'].map((s) => h('option', { value: s, selected: s === st }, s || 'any')));
  if (!isAdmin()) {
    const r = await api('GET', `/v1/seller/orders${st ? `?status=${st}` : ''}`);
    mount(main, h('h1', 'Your orders'), h('label', { for: 'status' }, 'Status '), sel, msg,
      table([['Order', (o) => `#${o.id || o.order_id}`], ['Status', (o) => o.status], ['Lines', (o) => (o.lines || []).map((l) => `${l.quantity} × ${l.title}`).join(', ')],
        ['', (o) => action('Fulfil my lines', () => api('POST', `/v1/seller/orders/${o.id || o.order_id}/fulfil`, {}, { 'Idempotency-Key': idemKey() }), msg)]], r.data));
    return;
  }
  const r = await api('GET', `/v1/admin/orders?limit=100${st ? `&status=${st}` : ''}`);
  mount(main, h('h1', 'Orders'), h('label', { for: 'status' }, 'Status '), sel, msg,
    table([['Order', (o) => h('a', { href: `#/orders/${o.id}` }, `#${o.id}`)], ['Placed', (o) => when(o.created_at)], ['Status', (o) => o.status],
      ['Total', (o) => money(o.total_cents, o.currency)],
      ['', (o) => (['paid', 'fulfilling', 'partially_shipped'].includes(o.status) ? action(`Fulfil #${o.id}`, () => api('POST', `/v1/admin/orders/${o.id}/fulfil`, {}, { 'Idempotency-Key': idemKey() }), msg) : null)]], r.data));
}

const NEXT = { label_created: ['in_transit'], in_transit: ['out_for_delivery', 'delivered'], out_for_delivery: ['delivered', 'delivery_failed'], delivery_failed: ['out_for_delivery'] };

async function orderDetail(id) {
  const o = await api('GET', `/v1/orders/${id}`);
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', `Order #${o.id}`), h('p', `Status: ${o.status} · ${money(o.total_cents, o.currency)} · ${when(o.created_at)}`), msg,
    table([['Item', (l) => l.title], ['Qty', (l) => String(l.quantity)], ['Price', (l) => money(l.unit_price_cents, o.currency)]], o.lines),
    ['paid', 'fulfilling', 'partially_shipped'].includes(o.status) ? action('Fulfil', () => api('POST', `/v1/admin/orders/${o.id}/fulfil`, {}, { 'Idempotency-Key': idemKey() }), msg) : null,
    h('h2', 'Shipments'),
    table([['Tracking', (s) => s.tracking_number], ['Carrier', (s) => `${s.carrier} ${s.service}`], ['Status', (s) => s.status],
      ['', (s) => (NEXT[s.status] || []).map((n) => action(`Mark ${n.replace(/_/g, ' ')}`, () => api('PATCH', `/v1/admin/shipments/${s.id}`, { status: n }), msg))]], o.shipments || []));
}

async function returnsPage() {
  const r = await api('GET', '/v1/admin/returns?limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  const moves = { requested: ['approved', 'rejected'], approved: ['received', 'rejected'], received: ['inspected'], inspected: ['refunded', 'partially_refunded', 'rejected'] };
  mount(main, h('h1', 'Returns'), msg,
    table([['Return', (x) => `#${x.id}`], ['Order', (x) => h('a', { href: `#/orders/${x.order_id}` }, `#${x.order_id}`)], ['Status', (x) => x.status],
      ['Reason', (x) => x.reason], ['Lines', (x) => x.lines.map((l) => `${l.quantity} × line ${l.order_line_id}`).join(', ')],
      ['', (x) => (moves[x.status] || []).map((n) => action(`${n === 'refunded' ? 'Refund' : n[0].toUpperCase() + n.slice(1).replace(/_/g, ' ')} #${x.id}`,
        () => api('PATCH', `/v1/admin/returns/${x.id}`, n === 'partially_refunded' ? { status: n, refund_cents: Number(prompt('Refund in cents') || 0) } : { status: n }), msg))]], r.data));
}

async function fraud() {
  const r = await api('GET', '/v1/admin/fraud/holds');
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', 'Fraud holds'), msg,
    table([['Order', (o) => h('a', { href: `#/orders/${o.id}` }, `#${o.id}`)], ['Total', (o) => money(o.total_cents, o.currency)],
      ['Score', (o) => String(o.fraud ? o.fraud.score : '')], ['Reasons', (o) => (o.fraud ? (o.fraud.reasons || []).map((x) => x.code || x.detail || x).join(', ') : '')],
      ['', (o) => [action('Approve', () => api('POST', `/v1/admin/orders/${o.id}/approve`), msg), ' ', action('Reject', () => api('POST', `/v1/admin/orders/${o.id}/reject`), msg)]]], r.data));
}

// ---- flash sales, promotions, reviews, dead letters ------------------------------------------

function localInput(id, label, offsetMin) {
  const d = new Date(Date.now() + offsetMin * 60000);
  const v = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  return field(label, { type: 'datetime-local', value: v, id });
}

async function flash() {
  const r = await api('GET', '/v1/admin/flash-sales');
  const msg = h('div', { 'aria-live': 'polite' });
  const [a, variant] = field('Variant id', { type: 'number', required: true, id: 'fs-variant' });
  const [b, qty] = field('Quantity', { type: 'number', value: 10, id: 'fs-qty' });
  const [c, price] = field('Price in cents', { type: 'number', required: true, id: 'fs-price' });
  const [d, starts] = localInput('fs-start', 'Starts', 1);
  const [e2, ends] = localInput('fs-end', 'Ends', 61);
  const [f, limit] = field('Per customer', { type: 'number', value: 1, id: 'fs-limit' });
  const [g, rate] = field('Admit per second', { type: 'number', value: 5, id: 'fs-rate' });
  mount(main, h('h1', 'Flash sales'), msg,
    table([['Sale', (s) => h('a', { href: `/#/flash/${s.id}` }, `#${s.id}`)], ['Variant', (s) => String(s.variant_id)], ['Price', (s) => money(s.price_cents, s.currency)],
      ['Left', (s) => `${s.remaining}/${s.quantity}`], ['Status', (s) => s.status], ['Starts', (s) => when(s.starts_at)],
      ['', (s) => (s.status === 'live' || s.status === 'scheduled' ? action('End now', () => api('POST', `/v1/admin/flash-sales/${s.id}/end`), msg) : null)]], r.data || r),
    h('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/admin/flash-sales', { variant_id: Number(variant.value), quantity: Number(qty.value), price_cents: Number(price.value),
          starts_at: new Date(starts.value).toISOString(), ends_at: new Date(ends.value).toISOString(), per_customer_limit: Number(limit.value), admit_per_second: Number(rate.value) });
        render();
      } catch (err) { notice(msg, problemText(err)); }
    } }, h('h2', 'New flash sale'), a, b, c, d, e2, f, g, h('button.primary', { type: 'submit' }, 'Create sale')));
}

async function promotions() {
  const r = await api('GET', '/v1/admin/promotions?limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  const [a, name] = field('Name', { required: true, id: 'pr-name' });
  const [b, code] = field('Coupon code (empty: automatic)', { id: 'pr-code' });
  const [c, type] = field('Type', { id: 'pr-type', options: [['percentage', 'Percentage'], ['fixed', 'Fixed amount'], ['free_shipping', 'Free shipping']] });
  const [d, pct] = field('Percent', { type: 'number', min: 1, max: 100, value: 10, id: 'pr-percent' });
  const [e2, amount] = field('Amount in cents (fixed)', { type: 'number', min: 1, id: 'pr-amount' });
  const [f, min] = field('Minimum subtotal in cents', { type: 'number', min: 0, id: 'pr-min' });
  mount(main, h('h1', 'Promotions and coupons'), msg,
    table([['Name', (p) => p.name], ['Code', (p) => p.code || '(automatic)'], ['Type', (p) => p.type], ['Uses', (p) => String(p.uses)],
      ['Status', (p) => p.status], ['', (p) => (p.active ? action('End', () => api('PATCH', `/v1/admin/promotions/${p.id}`, { active: false }), msg) : null)]], r.data),
    h('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const body = { name: name.value, type: type.value, priority: 0 };
        if (code.value) body.code = code.value;
        if (type.value === 'percentage') body.percent_bps = Math.round(Number(pct.value) * 100);
        if (type.value === 'fixed') body.amount_cents = Number(amount.value);
        if (min.value) body.min_subtotal_cents = Number(min.value);
        await api('POST', '/v1/admin/promotions', body);
        render();
      } catch (err) { notice(msg, problemText(err)); }
    } }, h('h2', 'New promotion'), a, b, c, d, e2, f, h('button.primary', { type: 'submit' }, 'Create promotion')));
}

async function reviews() {
  const r = await api('GET', '/v1/admin/reviews?status=pending&limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', 'Review moderation'), msg,
    table([['Product', (x) => h('a', { href: `/#/p/${x.product_id}` }, `#${x.product_id}`)], ['Rating', (x) => '★'.repeat(x.rating)],
      ['Title', (x) => x.title], ['Review', (x) => x.body], ['Why held', (x) => (x.held_for || []).join(', ')],
      ['', (x) => [action('Approve', () => api('POST', `/v1/admin/reviews/${x.id}/approve`), msg), ' ', action('Reject', () => api('POST', `/v1/admin/reviews/${x.id}/reject`), msg)]]], r.data));
}

async function deadLetters() {
  const r = await api('GET', '/v1/admin/notifications/dead-letters?limit=100');
  const msg = h('div', { 'aria-live': 'polite' });
  mount(main, h('h1', 'Notification dead letters'), msg,
    table([['Id', (n) => `#${n.id}`], ['User', (n) => String(n.user_id)], ['Channel', (n) => n.channel], ['Kind', (n) => n.kind],
      ['Title', (n) => n.title], ['Attempts', (n) => String(n.attempts)], ['Last error', (n) => n.last_error || ''],
      ['', (n) => action('Retry', () => api('POST', `/v1/admin/notifications/dead-letters/${n.id}/retry`), msg)]], r.data));
}

// ---- analytics: bar charts in SVG (no library) ----------------------------------------

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function barChart(label, days, key, fmt) {
  const W = 600; const H = 180; const max = Math.max(1, ...days.map((d) => d[key] || 0));
  const bw = W / Math.max(1, days.length);
  const el = svg('svg', { viewBox: `0 0 ${W} ${H + 20}`, class: 'chart', role: 'img', 'aria-label': `${label} by day` });
  days.forEach((d, i) => {
    const v = d[key] || 0; const bh = Math.round((v / max) * H);
    const r = svg('rect', { x: i * bw + 1, y: H - bh, width: Math.max(1, bw - 2), height: bh });
    r.append(svg('title', {}, `${d.date}: ${fmt(v)}`));
    el.append(r);
  });
  el.append(svg('text', { x: 0, y: H + 15 }, days.length ? days[0].date : ''));
  el.append(svg('text', { x: W - 60, y: H + 15 }, days.length ? days[days.length - 1].date : ''));
  return h('figure', h('figcaption', label), el);
}

async function analytics() {
  const to = new Date().toISOString().slice(0, 10);
  const from = new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10);
  const r = await api('GET', `/v1/${isAdmin() ? 'admin' : 'seller'}/analytics?from=${from}&to=${to}`);
  const cur = r.currency;
  const t = r.totals;
  mount(main, h('h1', 'Analytics'), h('p', `${from} to ${to}`),
    h('dl.totals', h('dt', 'Revenue'), h('dd', money(t.revenue_cents, cur)), h('dt', 'Orders'), h('dd', String(t.orders)),
      h('dt', 'Average order'), h('dd', money(t.average_order_cents, cur)),
      h('dt', 'Refunds'), h('dd', money(t.refunds_cents, cur)),
      h('dt', 'Returns rate'), h('dd', `${(t.returns_rate_bps / 100).toFixed(2)} %`)),
    barChart('Revenue', r.days, 'revenue_cents', (v) => money(v, cur)),
    barChart('Orders', r.days, 'orders', String),
    barChart('Average order value', r.days, 'average_order_cents', (v) => money(v, cur)),
    h('h2', 'Top products'),
    table([['Product', (p) => p.title], ['Units', (p) => String(p.units)], ['Revenue', (p) => money(p.revenue_cents, cur)]], r.top_products || []));
}

// ---- router ---------------------------------------------------------------------------

// main[data-shown] is the hash whose page is on screen, set once its render
// is done (tests wait for it: a hash change renders a task later).
async function render() {
  const shown = location.hash;
  delete main.dataset.shown;
  try {
    await renderPage();
  } finally {
    main.dataset.shown = shown;
  }
}

async function renderPage() {
  const { parts, query } = route();
  const [a, b] = parts;
  renderSide(a || 'products');
  mount(main, h('p.loading', { role: 'status' }, 'Loading…'));
  document.title = `${(PAGES.find(([k]) => k === (a || 'products')) || [0, 'Console'])[1]} · shopd console`;
  if (!session.user || session.user.role === 'customer') { loginPage(); return; }
  try {
    if (!a || a === 'products') await (b ? productEdit(b) : products());
    else if (a === 'review') await reviewQueue();
    else if (a === 'stock') await stock(b);
    else if (a === 'orders') await (b ? orderDetail(b) : orders(query));
    else if (a === 'returns') await returnsPage();
    else if (a === 'fraud') await fraud();
    else if (a === 'flash') await flash();
    else if (a === 'promotions') await promotions();
    else if (a === 'reviews') await reviews();
    else if (a === 'dead-letters') await deadLetters();
    else if (a === 'analytics') await analytics();
    else mount(main, h('h1', 'Not found'));
  } catch (err) {
    mount(main, h('h1', 'Could not load this page'), h('p', { role: 'alert' }, problemText(err)));
  }
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', render);
await loadSession();
await render();
document.body.dataset.ready = 'true';
