// store.js — the storefront: every page is built from the public API
// (lib.js), routed by the URL's hash so the server has one page to serve.
import {
  api, ApiError, busy, ensureGuest, field, go, h, idemKey, img, loadSession, login, logout, money,
  mount, notice, route, session, when,
} from './lib.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const TEST_CARD = '4242424242424242';

// ---- chrome: navigation, search with autocomplete -------------------------

let cartCount = 0;
function renderNav() {
  const u = session.user;
  mount(nav,
    h('a', { href: '#/wishlist' }, 'Wishlist'),
    h('a', { href: '#/orders' }, 'Orders'),
    u ? h('a', { href: '#/account' }, `Account (${u.name})`) : h('a', { href: '#/login' }, 'Log in'),
    u && u.role !== 'customer' ? h('a', { href: '/admin/' }, 'Console') : null,
    h('a', { href: '#/cart', id: 'cart-link' }, `Cart (${cartCount})`));
}

async function refreshCartCount() {
  if (!session.user && !localStorage.getItem('shopd.guest')) { cartCount = 0; renderNav(); return; }
  try {
    const c = await api('GET', '/v1/cart');
    cartCount = c.lines.filter((l) => !l.saved_for_later).reduce((n, l) => n + l.quantity, 0);
  } catch { cartCount = 0; }
  renderNav();
}

function setupSearch() {
  const form = document.getElementById('search');
  const input = document.getElementById('q');
  const list = document.getElementById('suggestions');
  let timer = null;
  let active = -1;
  const close = () => { list.hidden = true; input.setAttribute('aria-expanded', 'false'); active = -1; };
  const choose = (s) => {
    close();
    if (s.product_id) go(`#/p/${s.product_id}`);
    else { input.value = s.text; go(`#/search?q=${encodeURIComponent(s.text)}`); }
  };
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) { close(); return; }
    timer = setTimeout(async () => {
      try {
        const r = await api('GET', `/v1/search/suggest?q=${encodeURIComponent(q)}`);
        mount(list, r.suggestions.slice(0, 8).map((s, i) => h('li', {
          role: 'option', id: `sug-${i}`, 'aria-selected': 'false',
          onmousedown: (e) => { e.preventDefault(); choose(s); },
        }, s.text)));
        list.hidden = !r.suggestions.length;
        input.setAttribute('aria-expanded', String(!list.hidden));
        list._items = r.suggestions;
      } catch { close(); }
    }, 120);
  });
  input.addEventListener('keydown', (e) => {
    const items = [...list.children];
    if (list.hidden || !items.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.setAttribute('aria-selected', String(i === active)));
      input.setAttribute('aria-activedescendant', items[active].id);
    } else if (e.key === 'Enter' && active >= 0) {
      e.preventDefault();
      choose(list._items[active]);
    } else if (e.key === 'Escape') close();
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    close();
    const q = input.value.trim();
    if (q) go(`#/search?q=${encodeURIComponent(q)}`);
  });
}

// ---- shared pieces -------------------------------------------------------

function stars(avg, count) {
  const a = Number(avg || 0);
  return h('span.stars', { 'aria-label': `Rated ${a.toFixed(1)} out of 5 from ${count || 0} reviews` },
    `${'★'.repeat(Math.round(a))}${'☆'.repeat(5 - Math.round(a))} (${count || 0})`);
}

function card(p) {
  return h('li.card',
    h('a', { href: `#/p/${p.id || p.product_id}` },
      img(p.image || (p.images && p.images[0]) || 'data:,', ''),
      h('span.title', p.title)),
    h('span.price', money(p.price_cents, p.currency)),
    p.rating ? stars(p.rating.average, p.rating.count) : null,
    p.in_stock === false ? h('span.badge', 'Out of stock') : null);
}

function grid(items) {
  return items.length ? h('ul.grid', items.map(card)) : h('p', 'Nothing here yet.');
}

function problemText(err) {
  if (!(err instanceof ApiError)) return `Something went wrong: ${err.message}`;
  const extra = err.fields.filter(Boolean);
  return extra.length ? `${err.message} (${extra.join('; ')})` : err.message;
}

function loading() { mount(main, h('p.loading', { role: 'status' }, 'Loading…')); }

function title(t) { document.title = `${t} · shopd`; }

function needLogin(what) {
  return h('section',
    h('h1', what),
    h('p', 'Please ', h('a', { href: `#/login?next=${encodeURIComponent(location.hash)}` }, 'log in'), ' first.'));
}

// ---- the first page's data, fetched beside the session ---------------------

// The first page's public data is asked for at once, beside GET /v1/me,
// rather than after it: one round trip less before the page shows. Each
// answer is used once, by the first render that asks for it.
const early = new Map();
function prefetch(path) {
  const p = api('GET', path);
  p.catch(() => {}); // the page that uses it reports a failure
  early.set(path, p);
}
function getData(path) {
  const p = early.get(path);
  early.delete(path);
  return p || api('GET', path);
}
const HOME_DATA = ['/v1/categories', '/v1/products?sort=popularity&limit=12'];

// ---- home ------------------------------------------------------------------

async function home() {
  title('Home');
  const [cats, popular] = await Promise.all(HOME_DATA.map(getData));
  mount(main,
    h('h1', 'Welcome to the shop'),
    h('section', h('h2', 'Categories'),
      h('ul.chips', cats.map((c) => h('li', h('a', { href: `#/c/${c.id}` }, c.name))))),
    h('section', h('h2', 'Popular now'), grid(popular.data)));
}

// ---- browse and search: one listing with facets and sorts ------------------

const SORTS = [['popularity', 'Most popular'], ['price_asc', 'Price: low to high'],
  ['price_desc', 'Price: high to low'], ['rating', 'Best rated'], ['newest', 'Newest']];

async function listing(kind, id, query) {
  const params = new URLSearchParams(query);
  let heading;
  if (kind === 'c') {
    params.set('category', id);
    const cats = await api('GET', '/v1/categories');
    const find = (list) => { for (const c of list) { if (String(c.id) === id) return c; const f = find(c.children || []); if (f) return f; } return null; };
    const cat = find(cats);
    heading = cat ? cat.name : 'Category';
  } else {
    heading = `Results for “${params.get('q') || ''}”`;
  }
  title(heading);
  if (!params.get('limit')) params.set('limit', '24');
  const path = kind === 'c' ? '/v1/products' : '/v1/search';
  const r = await api('GET', `${path}?${params}`);
  const here = (changes) => {
    const p = new URLSearchParams(query);
    for (const [k, v] of Object.entries(changes)) { if (v === null) p.delete(k); else p.set(k, v); }
    p.delete('cursor');
    return `#/${kind}${kind === 'c' ? `/${id}` : ''}?${p}`;
  };
  const facets = r.facets || {};
  const facetList = (name, label, items, fmt, key) => (items && items.length ? h('section.facet',
    h('h2', label),
    h('ul', items.slice(0, 12).map((f) => {
      const chosen = key ? key(f) : { [name]: f.value };
      const on = Object.entries(chosen).every(([k, v]) => query.get(k) === String(v));
      return h('li', h('a', { href: here(on ? Object.fromEntries(Object.keys(chosen).map((k) => [k, null])) : chosen), 'aria-current': on ? 'true' : null },
        `${fmt ? fmt(f) : f.value} (${f.count})`));
    }))) : null);
  const sort = h('select', { id: 'sort', onchange: (e) => go(here({ sort: e.target.value })) },
    (kind === 's' ? [['relevance', 'Best match'], ...SORTS] : SORTS).map(([v, t]) => h('option', { value: v, selected: (query.get('sort') || (kind === 's' ? 'relevance' : 'popularity')) === v }, t)));
  const cur = r.data[0] && r.data[0].currency;
  mount(main,
    h('h1', heading),
    r.corrected_query ? h('p.didyoumean', 'Showing results for ', h('strong', r.corrected_query),
      '. ', h('a', { href: `#/s?q=${encodeURIComponent(r.corrected_query)}` }, `Search for “${r.corrected_query}” instead`)) : null,
    h('div.listing',
      h('aside.facets', { 'aria-label': 'Filters' },
        facetList('brand', 'Brand', facets.brand),
        kind === 's' ? facetList('category', 'Category', facets.category, (f) => f.name || f.value, (f) => ({ category: f.id || f.value })) : null,
        facetList('price', 'Price', facets.price, (f) => `${money(f.from_cents, cur)} – ${f.to_cents ? money(f.to_cents, cur) : 'more'}`,
          (f) => ({ min_price: f.from_cents, max_price: f.to_cents ? f.to_cents : null })),
        facetList('rating', 'Rating', facets.rating, (f) => `${f.value ?? f.min}+ stars`, (f) => ({ min_rating: f.value ?? f.min })),
        h('section.facet', h('h2', 'Availability'),
          h('a', { href: here({ in_stock: query.get('in_stock') === 'true' ? null : 'true' }), 'aria-current': query.get('in_stock') === 'true' ? 'true' : null }, 'In stock only'))),
      h('div.results',
        h('div.toolbar', h('span', { role: 'status' }, `${r.total ?? r.data.length} products`),
          h('label', { for: 'sort' }, 'Sort by '), sort),
        grid(r.data),
        r.next_cursor ? h('a.more', { href: `${here({})}&cursor=${encodeURIComponent(r.next_cursor)}` }, 'Next page') : null)));
}

// ---- product page ---------------------------------------------------------

async function product(id) {
  const p = await getData(`/v1/products/${id}`);
  title(p.title);
  api('POST', '/v1/events', { type: 'view', product_id: p.id }).catch(() => {});
  let variant = p.variants.find((v) => v.available > 0) || p.variants[0];
  const status = h('div', { 'aria-live': 'polite' });
  const avail = h('p.avail');
  const price = h('p.price.big');
  const qty = h('input', { id: 'qty', type: 'number', min: 1, max: 99, value: 1, inputmode: 'numeric' });
  const addBtn = h('button.primary', { type: 'submit' }, 'Add to cart');
  const showVariant = () => {
    price.textContent = money(variant.price_cents, p.currency);
    avail.textContent = variant.available > 0 ? `In stock: ${variant.available} available` : 'Out of stock';
    addBtn.disabled = !(variant.available > 0) && !p.allow_backorder;
  };
  const optionsText = (v) => Object.entries(v.options || {}).map(([k, x]) => `${k}: ${x}`).join(', ') || v.sku;
  const picker = p.variants.length > 1 ? h('fieldset.variants', h('legend', 'Choose an option'),
    p.variants.map((v) => h('label.variant',
      h('input', { type: 'radio', name: 'variant', value: v.id, checked: v === variant,
        onchange: () => { variant = v; showVariant(); } }),
      ` ${optionsText(v)} — ${money(v.price_cents, p.currency)}${v.available > 0 ? '' : ' (out of stock)'}`))) : null;
  showVariant();
  // Live availability: stock changes while the page is open.
  const timer = setInterval(async () => {
    if (!document.body.contains(avail)) { clearInterval(timer); return; }
    try {
      const fresh = await api('GET', `/v1/products/${id}`);
      const v = fresh.variants.find((x) => x.id === variant.id);
      if (v) { variant.available = v.available; showVariant(); }
    } catch { /* keep the last known */ }
  }, 15000);
  const gallery = h('div.gallery', (p.images || []).slice(0, 6).map((src, i) => img(src, `${p.title}, picture ${i + 1}`, 'photo')));
  const hist = p.rating && p.rating.histogram ? h('ul.hist', [5, 4, 3, 2, 1].map((n) => h('li', `${n} ★: ${p.rating.histogram[n] || 0}`))) : null;
  const reviewsBox = h('div');
  const wishBtn = h('button', { type: 'button', onclick: async (e) => {
    if (!session.user) { go(`#/login?next=${encodeURIComponent(location.hash)}`); return; }
    await busy(e.target, async () => {
      try { await api('PUT', `/v1/me/wishlist/${p.id}`); notice(status, 'Saved to your wishlist.', 'ok'); }
      catch (err) { notice(status, problemText(err)); }
    });
  } }, 'Save to wishlist');
  mount(main,
    h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/' }, 'Home'), ' › ',
      p.category ? h('a', { href: `#/c/${p.category.id}` }, p.category.name) : null),
    h('article.product',
      gallery,
      h('div.buy',
        h('h1', p.title),
        h('p.brand', p.brand),
        p.rating ? stars(p.rating.average, p.rating.count) : null,
        price, avail,
        h('form', { onsubmit: async (e) => {
          e.preventDefault();
          await busy(addBtn, async () => {
            try {
              await ensureGuest();
              await api('POST', '/v1/cart/lines', { variant_id: variant.id, quantity: Number(qty.value) || 1 });
              notice(status, 'Added to your cart.', 'ok');
              refreshCartCount();
            } catch (err) {
              notice(status, err.status === 409 ? `Only ${err.problem.available ?? 'a few'} left: ${problemText(err)}` : problemText(err));
            }
          });
        } }, picker, h('div.field', h('label', { for: 'qty' }, 'Quantity'), qty), addBtn),
        wishBtn, status)),
    h('section', h('h2', 'Description'), h('p', p.description || '')),
    p.specs && Object.keys(p.specs).length ? h('section', h('h2', 'Specifications'),
      h('dl.specs', Object.entries(p.specs).map(([k, v]) => [h('dt', k), h('dd', String(v))]))) : null,
    h('section', { id: 'fbt' }),
    h('section', h('h2', 'Reviews'), hist, reviewsBox));
  loadReviews(p, reviewsBox, 'helpful');
  loadTogether(p);
}

async function loadTogether(p) {
  const box = document.getElementById('fbt');
  let items = (p.recommendations && p.recommendations.frequently_bought_together) || null;
  if (!items) {
    try { items = (await api('GET', `/v1/products/${p.id}/frequently-bought-together?limit=6`)).data; }
    catch { return; } // the recommendations API is not in this build
  }
  if (box && items && items.length) {
    mount(box, h('h2', 'Frequently bought together'),
      h('ul.grid', items.map((x) => card({ ...x, currency: x.currency || p.currency }))));
  }
}

async function loadReviews(p, box, sort) {
  let r;
  try { r = await api('GET', `/v1/products/${p.id}/reviews?sort=${sort}&limit=10`); }
  catch (err) { mount(box, h('p', problemText(err))); return; }
  const sorter = h('select', { id: 'review-sort', onchange: (e) => loadReviews(p, box, e.target.value) },
    [['helpful', 'Most helpful'], ['newest', 'Newest'], ['rating_desc', 'Highest rating'], ['rating_asc', 'Lowest rating']]
      .map(([v, t]) => h('option', { value: v, selected: v === sort }, t)));
  const msg = h('div', { 'aria-live': 'polite' });
  const [rt, rating] = field('Rating', { options: [[5, '5 stars'], [4, '4 stars'], [3, '3 stars'], [2, '2 stars'], [1, '1 star']] });
  const [tt, rtitle] = field('Title', { required: true, maxlength: 200 });
  const [bt, rbody] = field('Your review', { multiline: true });
  mount(box,
    h('div.toolbar', h('label', { for: 'review-sort' }, 'Sort reviews '), sorter),
    r.data.length ? h('ul.reviews', r.data.map((x) => h('li.review',
      h('h3', `${'★'.repeat(x.rating)} ${x.title}`),
      h('p.meta', `${x.author ? x.author.name : ''} · ${when(x.created_at)}${x.verified_purchase ? ' · Verified purchase' : ''}${x.status !== 'approved' ? ` · ${x.status}` : ''}`),
      h('p', x.body),
      h('button', { type: 'button', onclick: async (e) => {
        if (!session.user) { go('#/login'); return; }
        try { await api('POST', `/v1/reviews/${x.id}/helpful`); e.target.textContent = 'Thanks!'; e.target.disabled = true; }
        catch (err) { notice(msg, problemText(err)); }
      } }, `Helpful (${x.helpful_count})`)))) : h('p', 'No reviews yet.'),
    session.user ? h('form.review-form', { onsubmit: async (e) => {
      e.preventDefault();
      try {
        const made = await api('POST', `/v1/products/${p.id}/reviews`, { rating: Number(rating.value), title: rtitle.value, body: rbody.value });
        notice(msg, made.status === 'approved' ? 'Thanks for your review.' : 'Thanks: your review will appear once it is checked.', 'ok');
      } catch (err) { notice(msg, problemText(err)); }
    } }, h('h3', 'Write a review'), rt, tt, bt, h('button', { type: 'submit' }, 'Submit review')) : null,
    msg);
}

// ---- cart ------------------------------------------------------------------

// A cart warning in words, prices per currency (the API's message counts cents).
function warningText(w, c) {
  const l = c.lines.find((x) => x.id === w.line_id);
  if (!l) return w.message || w.type;
  if (w.type === 'price_dropped' || w.type === 'price_increased') {
    return `${l.title}: the price ${w.type === 'price_dropped' ? 'dropped' : 'went up'} from ${money(l.price_at_add_cents, c.currency)} to ${money(l.unit_price_cents, c.currency)} since you added it.`;
  }
  if (w.type === 'insufficient_stock') return `${l.title}: only ${l.available} left; you have ${l.quantity} in your cart.`;
  if (w.type === 'unavailable') return `${l.title} is no longer for sale.`;
  return `${l.title}: ${w.message || w.type}`;
}

// Why the guest cart's lines did not all join the account's (API: cart_left_behind).
function leftBehindText(left) {
  const n = left.length;
  const why = [...new Set(left.map((l) => (l.reason === 'currency'
    ? 'they are priced in another currency than your cart'
    : 'your cart has no room for more lines')))].join('; ');
  return `${n} item${n === 1 ? '' : 's'} from before you logged in could not be added: ${why}.`;
}

async function cart() {
  title('Cart');
  const left = session.leftBehind;
  session.leftBehind = [];
  if (!session.user && !localStorage.getItem('shopd.guest')) {
    mount(main, h('h1', 'Your cart'), h('p', 'Your cart is empty. ', h('a', { href: '#/' }, 'Start shopping')));
    return;
  }
  const c = await api('GET', '/v1/cart');
  const msg = h('div', { 'aria-live': 'polite' });
  const act = async (btn, fn) => busy(btn, async () => {
    try { await fn(); await cart(); refreshCartCount(); } catch (err) { notice(msg, problemText(err)); }
  });
  const line = (l) => {
    const q = h('input', { type: 'number', min: 1, max: 999, value: l.quantity, id: `q-${l.id}`, 'aria-label': `Quantity of ${l.title}` });
    return h('li.line',
      h('a', { href: `#/p/${l.product_id}` }, l.title),
      h('span.opts', Object.values(l.options || {}).join(', ')),
      h('span', money(l.unit_price_cents, c.currency)),
      l.saved_for_later ? null : h('span.qty', q, h('button', { type: 'button', onclick: (e) => act(e.target, () => api('PATCH', `/v1/cart/lines/${l.id}`, { quantity: Number(q.value) })) }, 'Update')),
      h('span.total', money(l.line_total_cents, c.currency)),
      l.saved_for_later
        ? h('button', { type: 'button', onclick: (e) => act(e.target, () => api('POST', `/v1/cart/lines/${l.id}/move-to-cart`)) }, 'Move to cart')
        : h('button', { type: 'button', onclick: (e) => act(e.target, () => api('POST', `/v1/cart/lines/${l.id}/save-for-later`)) }, 'Save for later'),
      h('button', { type: 'button', onclick: (e) => act(e.target, () => api('DELETE', `/v1/cart/lines/${l.id}`)) }, 'Remove'));
  };
  const active = c.lines.filter((l) => !l.saved_for_later);
  const saved = c.lines.filter((l) => l.saved_for_later);
  const [cf, code] = field('Coupon code', { id: 'coupon', value: c.coupon_code || '' });
  mount(main,
    h('h1', 'Your cart'),
    left.length ? h('div', { role: 'status', id: 'left-behind' }, h('p.msg.error', leftBehindText(left))) : null,
    (c.warnings || []).length ? h('div', { role: 'status' }, h('ul.warnings', c.warnings.map((w) => h('li', warningText(w, c))))) : null,
    active.length ? h('ul.lines', active.map(line)) : h('p', 'Your cart is empty. ', h('a', { href: '#/' }, 'Start shopping')),
    h('form.coupon', { onsubmit: (e) => { e.preventDefault(); act(e.submitter || e.target.querySelector('button'), () => api('PUT', '/v1/cart/coupon', { code: code.value.trim() })); } },
      cf, h('button', { type: 'submit' }, 'Apply'),
      c.coupon_code ? h('button', { type: 'button', onclick: (e) => act(e.target, () => api('DELETE', '/v1/cart/coupon')) }, 'Remove coupon') : null),
    (c.promotions || []).length ? h('ul.promos', c.promotions.map((p) => h('li', `${p.name}${p.code ? ` (${p.code})` : ''}: −${money(p.discount_cents, c.currency)}`))) : null,
    h('dl.totals',
      h('dt', 'Subtotal'), h('dd', money(c.subtotal_cents, c.currency)),
      h('dt', 'Discount'), h('dd', { id: 'discount' }, `−${money(c.discount_cents, c.currency)}`),
      h('dt', 'Shipping'), h('dd', money(c.shipping_cents, c.currency)),
      h('dt', 'Tax'), h('dd', money(c.tax_cents, c.currency)),
      h('dt', 'Total'), h('dd', { id: 'cart-total' }, money(c.total_cents, c.currency))),
    msg,
    active.length ? h('a.button.primary', { href: '#/checkout' }, 'Check out') : null,
    saved.length ? h('section', h('h2', 'Saved for later'), h('ul.lines', saved.map(line))) : null);
}

// ---- checkout -----------------------------------------------------------------

async function checkout() {
  title('Checkout');
  if (!session.user) { mount(main, needLogin('Checkout')); return; }
  const [c, addrs, cards, credit] = await Promise.all([
    api('GET', '/v1/cart'), api('GET', '/v1/me/addresses'), api('GET', '/v1/me/payment-methods'),
    api('GET', '/v1/me/store-credit').catch(() => ({ balance_cents: 0 })),
  ]);
  const msg = h('div', { 'aria-live': 'assertive' });
  const addrList = addrs.data || addrs;
  const cardList = cards.data || cards;
  const addrChoice = h('fieldset', h('legend', 'Ship to'),
    addrList.map((a, i) => h('label.choice', h('input', { type: 'radio', name: 'addr', value: a.id, checked: a.is_default || i === 0 }),
      ` ${a.name}, ${a.line1}, ${a.city} ${a.postal_code}, ${a.country}`)),
    addrList.length ? null : h('p', 'Add an address below.'));
  const [f1, aName] = field('Full name', { required: !addrList.length, autocomplete: 'name' });
  const [f2, aLine] = field('Street address', { required: !addrList.length, autocomplete: 'address-line1' });
  const [f3, aCity] = field('City', { required: !addrList.length, autocomplete: 'address-level2' });
  const [f4, aRegion] = field('Region', { autocomplete: 'address-level1' });
  const [f5, aZip] = field('Postal code', { required: !addrList.length, autocomplete: 'postal-code' });
  const [f6, aCountry] = field('Country (2 letters)', { required: !addrList.length, value: 'US', maxlength: 2, autocomplete: 'country' });
  const newAddr = h('details', { open: !addrList.length }, h('summary', 'Add a new address'), f1, f2, f3, f4, f5, f6);
  const cardChoice = h('fieldset', h('legend', 'Pay with'),
    cardList.map((k, i) => h('label.choice', h('input', { type: 'radio', name: 'card', value: k.id, checked: i === cardList.length - 1 }),
      ` ${k.brand} ending ${k.last4} (${k.exp_month}/${k.exp_year})`)),
    h('label.choice', h('input', { type: 'radio', name: 'card', value: 'new', checked: !cardList.length }), ' A new card'));
  const [c1, cNum] = field('Card number', { inputmode: 'numeric', autocomplete: 'cc-number', value: cardList.length ? '' : TEST_CARD });
  const [c2, cMonth] = field('Expiry month', { type: 'number', min: 1, max: 12, value: 12, autocomplete: 'cc-exp-month' });
  const [c3, cYear] = field('Expiry year', { type: 'number', min: 2024, max: 2100, value: new Date().getFullYear() + 3, autocomplete: 'cc-exp-year' });
  const [c4, cCvc] = field('CVC', { inputmode: 'numeric', value: '123', autocomplete: 'cc-csc' });
  const newCard = h('div.newcard', h('p.hint', `Test card: ${TEST_CARD.replace(/(\d{4})/g, '$1 ').trim()}`), c1, c2, c3, c4);
  const useCredit = h('input', { type: 'checkbox', id: 'use-credit', disabled: !(credit.balance_cents > 0) });
  const ship = h('fieldset', h('legend', 'Shipping method'),
    [['standard', 'Standard'], ['express', 'Express']].map(([v, t], i) => h('label.choice', h('input', { type: 'radio', name: 'ship', value: v, checked: i === 0 }), ` ${t}`)));
  const place = h('button.primary', { type: 'submit', id: 'place-order' }, `Place order · ${money(c.total_cents, c.currency)}`);
  // The totals as the order will be: the cart quoted for the chosen address
  // and shipping method (GET /v1/cart?country=&region=&shipping_method=),
  // less the store credit used.
  let quoted = c;
  const totals = h('dl.totals', { id: 'checkout-totals' });
  const showTotals = () => {
    const cur = quoted.currency;
    const used = useCredit.checked ? Math.min(credit.balance_cents || 0, quoted.total_cents) : 0;
    mount(totals,
      h('dt', 'Subtotal'), h('dd', money(quoted.subtotal_cents, cur)),
      h('dt', 'Discount'), h('dd', `−${money(quoted.discount_cents, cur)}`),
      h('dt', 'Shipping'), h('dd', { id: 'checkout-shipping' }, money(quoted.shipping_cents, cur)),
      h('dt', 'Tax'), h('dd', money(quoted.tax_cents, cur)),
      h('dt', 'Total'), h('dd', { id: 'checkout-total' }, money(quoted.total_cents, cur)),
      used ? [h('dt', 'Store credit'), h('dd', `−${money(used, cur)}`), h('dt', 'To pay by card'), h('dd', { id: 'checkout-card' }, money(quoted.total_cents - used, cur))] : null);
    if (!place.disabled) place.textContent = `Place order · ${money(quoted.total_cents, cur)}`;
  };
  const quote = async () => {
    const id = Number((form.querySelector('input[name=addr]:checked') || {}).value || 0);
    const a = newAddr.open && aLine.value ? { country: aCountry.value.toUpperCase(), region: aRegion.value } : addrList.find((x) => x.id === id);
    const q = new URLSearchParams({ shipping_method: form.querySelector('input[name=ship]:checked').value });
    if (a && /^[A-Z]{2}$/.test(a.country || '')) q.set('country', a.country);
    if (a && a.region) q.set('region', a.region);
    try { quoted = await api('GET', `/v1/cart?${q}`); } catch { /* keep the last quote */ }
    showTotals();
  };
  const form = h('form.checkout', { onsubmit: async (e) => {
    e.preventDefault();
    notice(msg, '');
    await busy(place, async () => {
      try {
        let addressId = Number((form.querySelector('input[name=addr]:checked') || {}).value || 0);
        if (!addressId || newAddr.open && aLine.value) {
          const a = await api('POST', '/v1/me/addresses', { name: aName.value, line1: aLine.value, city: aCity.value,
            region: aRegion.value || undefined, postal_code: aZip.value, country: aCountry.value.toUpperCase(), is_default: true });
          addressId = a.id;
        }
        let cardId = (form.querySelector('input[name=card]:checked') || {}).value;
        const payments = [];
        const creditCovers = useCredit.checked && credit.balance_cents >= quoted.total_cents;
        if (creditCovers) payments.push({ store_credit: true });
        else {
          if (useCredit.checked) payments.push({ store_credit: true, amount_cents: credit.balance_cents });
          if (cardId === 'new' || !cardId) {
            const k = await api('POST', '/v1/me/payment-methods', { type: 'card', number: cNum.value.replace(/\s+/g, ''),
              exp_month: Number(cMonth.value), exp_year: Number(cYear.value), cvc: cCvc.value });
            cardId = k.id;
          }
          payments.push({ payment_method_id: Number(cardId) });
        }
        const order = await api('POST', '/v1/orders', { shipping_address_id: addressId, payments,
          shipping_method: form.querySelector('input[name=ship]:checked').value }, { 'Idempotency-Key': idemKey() });
        refreshCartCount();
        go(`#/orders/${order.id}?placed=1`);
      } catch (err) {
        let text = problemText(err);
        if (err.status === 402) text = `Your card was declined: ${err.message}. No order was placed and nothing was charged; try another card.`;
        else if (err.status === 409) {
          const lines = err.problem.lines || [];
          text = `Some items are short of stock: ${lines.map((l) => `${l.title || l.variant_id}: ${l.available ?? 0} left`).join('; ') || err.message}. Update your cart and try again.`;
        } else if (err.status === 503) text = 'The payment service is not answering. Nothing was charged; please try again in a minute.';
        notice(msg, text);
      }
    });
  } }, addrChoice, newAddr, ship, cardChoice, newCard,
  h('p', h('label', { for: 'use-credit' }, useCredit, ` Use store credit (${money(credit.balance_cents || 0, c.currency)} available)`)),
  totals, msg, place);
  form.addEventListener('change', (e) => { if (e.target === useCredit) showTotals(); else quote(); });
  mount(main, h('h1', 'Checkout'), form);
  quote();
}

// ---- orders ---------------------------------------------------------------------

async function orders() {
  title('Orders');
  if (!session.user) { mount(main, needLogin('Your orders')); return; }
  const r = await api('GET', '/v1/orders?limit=50');
  mount(main, h('h1', 'Your orders'),
    r.data.length ? h('table',
      h('thead', h('tr', h('th', { scope: 'col' }, 'Order'), h('th', { scope: 'col' }, 'Placed'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Total'))),
      h('tbody', r.data.map((o) => h('tr',
        h('td', h('a', { href: `#/orders/${o.id}` }, `#${o.id}`)), h('td', when(o.created_at)),
        h('td', o.status), h('td', money(o.total_cents, o.currency)))))) : h('p', 'No orders yet.'));
}

async function orderDetail(id, query) {
  title(`Order #${id}`);
  if (!session.user) { mount(main, needLogin('Order')); return; }
  const o = await api('GET', `/v1/orders/${id}`);
  const msg = h('div', { 'aria-live': 'polite' });
  const returns = (await api('GET', '/v1/me/returns').catch(() => ({ data: [] }))).data.filter((x) => x.order_id === o.id);
  const cancellable = ['paid', 'on_hold', 'pending_payment', 'fulfilling'].includes(o.status);
  const delivered = (o.shipments || []).some((s) => s.status === 'delivered');
  const reason = h('input', { id: 'return-reason', type: 'text', value: '' });
  mount(main,
    h('h1', `Order #${o.id}`),
    query.get('placed') ? h('p.msg.ok', { role: 'status' }, 'Thank you! Your order is placed.') : null,
    h('p', 'Status: ', h('strong', { id: 'order-status' }, o.status), ` · placed ${when(o.created_at)}`),
    h('table',
      h('thead', h('tr', h('th', { scope: 'col' }, 'Item'), h('th', { scope: 'col' }, 'Qty'), h('th', { scope: 'col' }, 'Price'), delivered ? h('th', { scope: 'col' }, 'Return') : null)),
      h('tbody', o.lines.map((l) => h('tr', h('td', l.title), h('td', String(l.quantity)), h('td', money(l.unit_price_cents, o.currency)),
        delivered ? h('td', h('input', { type: 'number', min: 0, max: l.quantity, value: 0, 'data-line': l.id, 'aria-label': `Quantity of ${l.title} to return` })) : null)))),
    h('dl.totals',
      h('dt', 'Subtotal'), h('dd', money(o.subtotal_cents, o.currency)),
      h('dt', 'Discount'), h('dd', `−${money(o.discount_cents, o.currency)}`),
      h('dt', 'Shipping'), h('dd', money(o.shipping_cents, o.currency)),
      h('dt', 'Tax'), h('dd', money(o.tax_cents, o.currency)),
      h('dt', 'Total'), h('dd', money(o.total_cents, o.currency))),
    h('section', h('h2', 'Shipments'),
      (o.shipments || []).length ? h('ul.shipments', o.shipments.map((s) => h('li.shipment',
        h('p', h('strong', `${s.carrier} ${s.service}`), ' · tracking ', h('code.tracking', s.tracking_number), ` · ${s.status.replace(/_/g, ' ')}`),
        h('ol.events', (s.events || []).map((ev) => h('li', `${when(ev.at)}: ${ev.status.replace(/_/g, ' ')}${ev.detail ? ` — ${ev.detail}` : ''}`)))))) : h('p', 'Not shipped yet.')),
    (o.refunds || []).length ? h('section', h('h2', 'Refunds'), h('ul', o.refunds.map((r) => h('li', `${money(r.amount_cents, o.currency)} · ${when(r.created_at)}`)))) : null,
    returns.length ? h('section', h('h2', 'Returns'), h('ul', returns.map((r) => h('li.return', `Return #${r.id}: `, h('strong.return-status', r.status), r.refund_cents ? ` · refund ${money(r.refund_cents, o.currency)}` : '')))) : null,
    delivered ? h('form.return', { onsubmit: async (e) => {
      e.preventDefault();
      const lines = [...main.querySelectorAll('input[data-line]')].filter((i) => Number(i.value) > 0)
        .map((i) => ({ order_line_id: Number(i.dataset.line), quantity: Number(i.value) }));
      if (!lines.length) { notice(msg, 'Choose how many of an item to return.'); return; }
      try {
        await api('POST', `/v1/orders/${o.id}/returns`, { lines, reason: reason.value || 'no reason given' }, { 'Idempotency-Key': idemKey() });
        await orderDetail(id, new URLSearchParams());
        notice(document.querySelector('#main [aria-live]') || msg, 'Return requested.', 'ok');
      } catch (err) { notice(msg, problemText(err)); }
    } }, h('h2', 'Return items'), h('div.field', h('label', { for: 'return-reason' }, 'Reason'), reason),
    h('button', { type: 'submit' }, 'Request return')) : null,
    cancellable ? h('button', { type: 'button', id: 'cancel-order', onclick: async (e) => {
      if (!confirm('Cancel this order?')) return;
      await busy(e.target, async () => {
        try { await api('POST', `/v1/orders/${o.id}/cancel`, {}); await orderDetail(id, new URLSearchParams()); }
        catch (err) { notice(msg, problemText(err)); }
      });
    } }, 'Cancel order') : null,
    msg);
}

// ---- wishlist, account ---------------------------------------------------------

async function wishlist() {
  title('Wishlist');
  if (!session.user) { mount(main, needLogin('Wishlist')); return; }
  const r = await api('GET', '/v1/me/wishlist');
  mount(main, h('h1', 'Wishlist'),
    r.data.length ? h('ul.lines', r.data.map((w) => h('li.line',
      h('a', { href: `#/p/${w.product_id}` }, w.title), h('span', money(w.price_cents, w.currency)),
      h('span', w.in_stock ? 'In stock' : 'Out of stock'),
      h('button', { type: 'button', onclick: async () => { await api('DELETE', `/v1/me/wishlist/${w.product_id}`); wishlist(); } }, 'Remove')))) : h('p', 'Nothing saved yet.'));
}

async function account() {
  title('Account');
  if (!session.user) { mount(main, needLogin('Account')); return; }
  const [addrs, cards, prefs, credit] = await Promise.all([
    api('GET', '/v1/me/addresses'), api('GET', '/v1/me/payment-methods'),
    api('GET', '/v1/me/notification-preferences'), api('GET', '/v1/me/store-credit').catch(() => null)]);
  const msg = h('div', { 'aria-live': 'polite' });
  const [f1, aName] = field('Full name', { required: true });
  const [f2, aLine] = field('Street address', { required: true });
  const [f3, aCity] = field('City', { required: true });
  const [f5, aZip] = field('Postal code', { required: true });
  const [f6, aCountry] = field('Country (2 letters)', { required: true, value: 'US', maxlength: 2 });
  const [f7, aPhone] = field('Phone (for SMS updates)', { type: 'tel', autocomplete: 'tel' });
  const aDefault = h('input', { type: 'checkbox', id: 'addr-default' });
  const [k1, kNum] = field('Card number', { required: true, inputmode: 'numeric' });
  const [k2, kMonth] = field('Expiry month', { type: 'number', min: 1, max: 12, value: 12 });
  const [k3, kYear] = field('Expiry year', { type: 'number', value: new Date().getFullYear() + 3 });
  const [k4, kCvc] = field('CVC', { required: true, inputmode: 'numeric' });
  const pref = (k, label) => h('label.choice', h('input', { type: 'checkbox', name: k, checked: prefs[k] }), ` ${label}`);
  // Runs a change with progress, then shows the account again with `done` said.
  const act = (fn, done) => async (e) => {
    e.preventDefault();
    const btn = e.type === 'submit' ? (e.submitter || e.target.querySelector('button')) : e.currentTarget;
    await busy(btn, async () => {
      try {
        await fn();
        await account();
        if (done) notice(main.querySelector('[aria-live]'), done, 'ok');
      } catch (err) { notice(msg, problemText(err)); }
    });
  };
  mount(main, h('h1', `Hello, ${session.user.name}`), msg,
    credit ? h('p', `Store credit: ${money(credit.balance_cents, credit.currency)}`) : null,
    h('section', h('h2', 'Addresses'),
      h('ul', (addrs.data || addrs).map((a) => h('li', `${a.name}, ${a.line1}, ${a.city} ${a.postal_code}, ${a.country}${a.is_default ? ' (default)' : ''} `,
        h('button', { type: 'button', onclick: act(() => api('DELETE', `/v1/me/addresses/${a.id}`)) }, 'Delete')))),
      h('form', { onsubmit: act(() => api('POST', '/v1/me/addresses', { name: aName.value, line1: aLine.value, city: aCity.value, postal_code: aZip.value,
        country: aCountry.value.toUpperCase(), phone: aPhone.value.trim() || undefined, is_default: aDefault.checked }), 'Address added.') },
        h('h3', 'Add an address'), f1, f2, f3, f5, f6, f7,
        h('p', h('label', { for: 'addr-default' }, aDefault, ' Make this my default address')),
        h('button', { type: 'submit' }, 'Add address'))),
    h('section', h('h2', 'Payment methods'),
      h('ul', (cards.data || cards).map((k) => h('li', `${k.brand} ending ${k.last4} (${k.exp_month}/${k.exp_year}) `,
        h('button', { type: 'button', onclick: act(() => api('DELETE', `/v1/me/payment-methods/${k.id}`)) }, 'Delete')))),
      h('form', { onsubmit: act(() => api('POST', '/v1/me/payment-methods', { type: 'card', number: kNum.value.replace(/\s+/g, ''), exp_month: Number(kMonth.value), exp_year: Number(kYear.value), cvc: kCvc.value }), 'Card added.') },
        h('h3', 'Add a card'), k1, k2, k3, k4, h('button', { type: 'submit' }, 'Add card'))),
    h('section', h('h2', 'Notifications'),
      h('form', { onsubmit: act(async () => {
        const f = e => main.querySelector(`input[name=${e}]`).checked;
        await api('PUT', '/v1/me/notification-preferences', { push: f('push'), email: f('email'), sms: f('sms') });
      }, 'Preferences saved.') }, h('fieldset', h('legend', 'Tell me about my orders by'), pref('email', 'Email'), pref('push', 'Push'), pref('sms', 'SMS')),
      h('button', { type: 'submit' }, 'Save preferences'))),
    h('button', { type: 'button', id: 'logout', onclick: async () => { await logout(); renderNav(); go('#/'); } }, 'Log out'));
}

// ---- login / register -------------------------------------------------------------

function loginPage(query) {
  title('Log in');
  const next = query.get('next') || '#/';
  const msg = h('div', { 'aria-live': 'assertive' });
  const form = (register) => {
    const [f0, name] = field('Name', { required: true, autocomplete: 'name', id: register ? 'reg-name' : undefined });
    const [f1, email] = field('Email', { type: 'email', required: true, autocomplete: 'email', id: register ? 'reg-email' : 'login-email' });
    const [f2, pw] = field('Password', { type: 'password', required: true, minlength: 8, autocomplete: register ? 'new-password' : 'current-password', id: register ? 'reg-password' : 'login-password' });
    const btn = h('button.primary', { type: 'submit' }, register ? 'Create account' : 'Log in');
    return h('form.auth', { onsubmit: async (e) => {
      e.preventDefault();
      await busy(btn, async () => {
        try {
          await login(email.value, pw.value, register ? name.value : undefined);
          renderNav(); refreshCartCount(); go(next);
        } catch (err) { notice(msg, problemText(err)); }
      });
    } }, h('h2', register ? 'New here? Create an account' : 'Log in'), register ? f0 : null, f1, f2, btn);
  };
  mount(main, h('h1', 'Your account'), msg, h('div.two', form(false), form(true)));
}

// ---- flash-sale waiting room ------------------------------------------------------------

async function flashSale(id) {
  title('Flash sale');
  const sale = await api('GET', `/v1/flash-sales/${id}`);
  const info = h('div', { 'aria-live': 'polite', id: 'room-status' });
  const countdown = h('p.countdown', { id: 'countdown' });
  const msg = h('div', { 'aria-live': 'assertive' });
  let p = null;
  if (sale.product_id) p = await api('GET', `/v1/products/${sale.product_id}`).catch(() => null);
  const tick = () => {
    const target = new Date(sale.status === 'scheduled' ? sale.starts_at : sale.ends_at).getTime();
    const s = Math.max(0, Math.round((target - Date.now()) / 1000));
    countdown.textContent = `${sale.status === 'scheduled' ? 'Starts in' : 'Ends in'} ${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m ${s % 60}s`;
  };
  tick();
  const clock = setInterval(() => { if (!document.body.contains(countdown)) clearInterval(clock); else tick(); }, 1000);
  const join = h('button.primary', { type: 'button', id: 'join-queue' }, 'Join the queue');
  const buyBtn = h('button.primary', { type: 'button', id: 'buy-now', hidden: true }, 'Buy now');
  let entry = null;
  const show = () => {
    if (!entry) return;
    if (entry.status === 'waiting') mount(info, h('p', `You are number ${entry.position} in line; ${entry.ahead} ahead of you.`));
    else if (entry.status === 'admitted') { mount(info, h('p', 'It is your turn! Buy before your token expires.')); buyBtn.hidden = false; join.hidden = true; }
    else mount(info, h('p', `Your place: ${entry.status}`));
  };
  const poll = async () => {
    if (!document.body.contains(info)) return;
    try { entry = await api('GET', `/v1/flash-sales/${id}/queue/me`); show(); } catch { /* not in line */ }
    if (entry && entry.status === 'waiting') setTimeout(poll, 1000);
  };
  join.addEventListener('click', () => busy(join, async () => {
    if (!session.user) { go(`#/login?next=${encodeURIComponent(location.hash)}`); return; }
    try { entry = await api('POST', `/v1/flash-sales/${id}/queue`); show(); if (entry.status === 'waiting') setTimeout(poll, 1000); }
    catch (err) { notice(msg, problemText(err)); }
  }));
  buyBtn.addEventListener('click', () => busy(buyBtn, async () => {
    try {
      const [addrs, cards] = await Promise.all([api('GET', '/v1/me/addresses'), api('GET', '/v1/me/payment-methods')]);
      const a = (addrs.data || addrs)[0];
      const k = (cards.data || cards)[0];
      if (!a || !k) { notice(msg, 'Add an address and a card in your account first.'); return; }
      const order = await api('POST', `/v1/flash-sales/${id}/purchase`, { token: entry.token, shipping_address_id: a.id, payment_method_id: k.id }, { 'Idempotency-Key': idemKey() });
      go(`#/orders/${order.id}?placed=1`);
    } catch (err) { notice(msg, problemText(err)); }
  }));
  mount(main, h('h1', `Flash sale${p ? `: ${p.title}` : ''}`),
    h('p.price.big', money(sale.price_cents, sale.currency)),
    h('p', `${sale.remaining} of ${sale.quantity} left · ${sale.status}`), countdown, info, msg, join, buyBtn);
  if (session.user) poll();
}

// ---- router ----------------------------------------------------------------------

// main[data-shown] is the hash whose page is on screen, set once its render
// is done (tests wait for it: a hash change renders a task later).
async function render() {
  const shown = location.hash;
  delete main.dataset.shown;
  const { parts, query } = route();
  loading();
  window.scrollTo(0, 0);
  try {
    const [a, b] = parts;
    if (!a) await home();
    else if (a === 'c' && b) await listing('c', b, query);
    else if (a === 's' || a === 'search') await listing('s', null, query);
    else if (a === 'p' && b) await product(b);
    else if (a === 'cart') await cart();
    else if (a === 'checkout') await checkout();
    else if (a === 'orders' && b) await orderDetail(b, query);
    else if (a === 'orders') await orders();
    else if (a === 'wishlist') await wishlist();
    else if (a === 'account') await account();
    else if (a === 'login') loginPage(query);
    else if (a === 'flash' && b) await flashSale(b);
    else mount(main, h('h1', 'Not found'), h('p', h('a', { href: '#/' }, 'Back to the shop')));
  } catch (err) {
    mount(main, h('h1', 'Sorry'), h('p', { role: 'alert' }, problemText(err)));
  }
  main.dataset.shown = shown;
  main.focus({ preventScroll: true });
}

window.addEventListener('hashchange', render);
setupSearch();
{
  const [a, b] = route().parts;
  if (!a) HOME_DATA.forEach(prefetch);
  else if (a === 'p' && b) prefetch(`/v1/products/${b}`);
}
await loadSession();
renderNav();
refreshCartCount();
await render();
document.body.dataset.ready = 'true';
