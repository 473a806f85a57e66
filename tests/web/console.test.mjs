// console.test.mjs — the admin and seller console's pages one at a time,
// beyond the whole journeys (journeys.test.mjs): editing a product and adding
// a variant, stock per warehouse, flash sales, promotions and coupon codes,
// review moderation, notification dead letters, analytics charts, and a
// seller who sees only their own products, orders and figures. Each new page
// state passes axe at desktop and phone width.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Shop, audit, audited, browser, helpers, newPage, uid } from './harness.mjs';

// Notifications go to a webhook nobody answers, one attempt each: every
// notification becomes a dead letter at once. Fraud scoring holds one kind of
// order (below).
const shop = new Shop();
const { hashChange, staffLogin } = helpers(shop);
let br;
const errors = [];
let kettle; let mug; let ap; let other; let otherProduct; let buyer;

before(async () => {
  await shop.start({ SHOPD_NOTIFY_PROVIDER: 'webhook', SHOPD_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9/closed',
    SHOPD_NOTIFY_MAX_ATTEMPTS: '1', SHOPD_NOTIFY_SCAN_MS: '50', SHOPD_NOTIFY_BACKOFF_MS: '50', SHOPD_NOTIFY_BACKOFF_MAX_MS: '200',
    // Fraud scoring on, holding a new account's order above $1,000 and nothing else.
    SHOPD_FRAUD: 'on', SHOPD_FRAUD_NEW_ACCOUNT_HOURS: '24', SHOPD_FRAUD_HIGH_VALUE_CENTS: '100000',
    SHOPD_FRAUD_POINTS_NEW_ACCOUNT: '50', SHOPD_FRAUD_HOLD_SCORE: '50', SHOPD_FRAUD_REJECT_SCORE: '1000' });
  await shop.setup();
  kettle = await shop.product('Copper Kettle', { brand: 'Acme', price: 2599 });
  mug = await shop.product('Stoneware Mug', { brand: 'Acme', price: 899 });
  // Another seller with a product of their own; one order holds both sellers' lines.
  other = await shop.staff('seller', ['--trusted']);
  const saved = shop.seller;
  shop.seller = other;
  otherProduct = await shop.product('Olive Board', { brand: 'Woodly', price: 3900 });
  shop.seller = saved;
  buyer = await shop.customer();
  await shop.buy(buyer, [kettle.variants[0].id, otherProduct.variants[0].id]);
  br = await browser();
  ap = await newPage(br, errors);
  await staffLogin(ap, shop.admin);
});

after(async () => {
  if (br) await br.close();
  await shop.stop();
  console.log(`pages audited (axe, screenshots in build/web/): ${audited.join(', ')}`);
});

const rowWith = (p, text) => p.locator(`tbody tr:has-text("${text}")`);

describe('products and stock', () => {
  test('an admin edits a product, changes its price and adds a variant that the storefront offers', async () => {
    await hashChange(ap, `#/products/${kettle.id}`);
    await ap.fill('#p-title', 'Copper Kettle 2L');
    await ap.fill('#p-price', '2799');
    await ap.click('button:has-text("Save")');
    await ap.waitForSelector('text=Saved.');
    const sku = `LG-${uid()}`;
    await ap.fill('#v-sku', sku);
    await ap.fill('#v-price', '3299');
    await ap.fill('#v-option', 'size=3L');
    await ap.press('#v-option', 'Enter'); // the keyboard submits the form
    await ap.waitForSelector(`text=Added variant ${sku}.`);
    assert.equal(await rowWith(ap, sku).count(), 1);
    assert.match(await rowWith(ap, sku).textContent(), /size: 3L.*\$32\.99/);
    await audit(ap, 'admin-product-variants');
    const p = await shop.api('GET', `/v1/products/${kettle.id}`);
    assert.equal(p.title, 'Copper Kettle 2L');
    assert.deepEqual(p.variants.map((v) => v.price_cents), [2799, 3299]);

    // A duplicate SKU is refused with the field named, and nothing changes.
    await ap.fill('#v-sku', sku);
    await ap.fill('#v-price', '100');
    await ap.click('button:has-text("Add variant")');
    await ap.waitForSelector('[role=alert]');
    assert.match(await ap.textContent('[role=alert]'), /sku/i);
    assert.equal((await shop.api('GET', `/v1/products/${kettle.id}`)).variants.length, 2);
  });

  test('stock is set per warehouse', async () => {
    const north = (await shop.api('POST', '/v1/warehouses', { code: 'PDX', name: 'Portland', country: 'US', postal_code: '97201', lat: 45.5, lon: -122.7 }, shop.admin.token)).id;
    const vid = mug.variants[0].id;
    await hashChange(ap, '#/stock');
    await ap.fill('#variant', String(vid));
    await ap.press('#variant', 'Enter');
    await ap.waitForSelector('text=Portland');
    await ap.fill('input[aria-label="On hand at PDX"]', '7');
    await ap.click('button:has-text("Set PDX")');
    await ap.waitForSelector('h2:has-text("27 on hand")');
    const inv = await shop.api('GET', `/v1/inventory/${vid}`, undefined, shop.admin.token);
    const at = (w) => inv.rows.find((x) => x.warehouse_id === w).on_hand;
    assert.equal(at(north), 7);
    assert.equal(at(shop.warehouse), 20);
    assert.equal(await ap.inputValue('input[aria-label="On hand at PDX"]'), '7');
    await ap.click('summary:has-text("Stock movements")');
    assert.match(await ap.textContent('details'), /PDX adjust, on hand 0 → 7/);
    await audit(ap, 'admin-stock-set');
  });
});

describe('sales and promotions', () => {
  test('an admin creates a flash sale and ends it', async () => {
    await hashChange(ap, '#/flash');
    await ap.fill('#fs-variant', String(mug.variants[0].id));
    await ap.fill('#fs-qty', '5');
    await ap.fill('#fs-price', '499');
    await ap.click('button:has-text("Create sale")');
    await ap.waitForSelector('tbody tr:has-text("$4.99")');
    const row = rowWith(ap, '$4.99');
    assert.match(await row.textContent(), /5\/5.*scheduled/);
    await audit(ap, 'admin-flash-created');
    await row.locator('button:has-text("End now")').click();
    await ap.waitForFunction(() => [...document.querySelectorAll('tbody tr')].some((tr) => tr.textContent.includes('$4.99') && !tr.querySelector('button')));
    const sales = await shop.api('GET', '/v1/admin/flash-sales', undefined, shop.admin.token);
    assert.ok((sales.data || sales).some((s) => s.price_cents === 499 && s.status === 'ended'));
  });

  test('an admin creates a coupon code that a cart accepts, then ends it', async () => {
    await hashChange(ap, '#/promotions');
    await ap.fill('#pr-name', 'Five off');
    await ap.fill('#pr-code', 'FIVEOFF');
    await ap.selectOption('#pr-type', 'fixed');
    await ap.fill('#pr-amount', '500');
    await ap.click('button:has-text("Create promotion")');
    await ap.waitForSelector('tbody tr:has-text("FIVEOFF")');
    await audit(ap, 'admin-promotion-created');
    const who = await shop.customer();
    await shop.api('POST', '/v1/cart/lines', { variant_id: mug.variants[0].id, quantity: 2 }, who.token);
    const c = await shop.api('PUT', '/v1/cart/coupon', { code: 'FIVEOFF' }, who.token);
    assert.equal(c.discount_cents, 500);
    await rowWith(ap, 'FIVEOFF').locator('button:has-text("End")').click();
    await ap.waitForFunction(() => [...document.querySelectorAll('tbody tr')].some((tr) => tr.textContent.includes('FIVEOFF') && !tr.querySelector('button')));
  });
});

describe('moderation and notifications', () => {
  test('a held review is approved by an admin and then shows in the storefront', async () => {
    const r = await shop.api('POST', `/v1/products/${mug.id}/reviews`, { rating: 5, title: 'Lovely mug', body: 'Keeps tea warm, see www.example.com' }, buyer.token);
    assert.equal(r.status, 'pending');
    await hashChange(ap, '#/reviews');
    const row = rowWith(ap, 'Lovely mug');
    await row.waitFor();
    assert.match(await row.textContent(), /link/);
    await audit(ap, 'admin-reviews-pending');
    await row.locator('button:has-text("Approve")').click();
    await ap.waitForSelector('tbody tr:has-text("Lovely mug")', { state: 'detached' });
    const list = await shop.api('GET', `/v1/products/${mug.id}/reviews`);
    assert.ok(list.data.some((x) => x.title === 'Lovely mug' && x.status === 'approved'));
  });

  test('notification dead letters are listed and retried', async () => {
    await shop.api('PUT', `/v1/me/wishlist/${mug.id}`, undefined, buyer.token);
    await shop.api('POST', '/v1/admin/notifications/fanout', { product_id: mug.id, key: `web-${uid()}` }, shop.admin.token);
    for (let i = 0; ; i++) {
      const d = await shop.api('GET', '/v1/admin/notifications/dead-letters', undefined, shop.admin.token);
      if (d.data.length) break;
      assert.ok(i < 100, 'a dead letter');
      await new Promise((res) => setTimeout(res, 100));
    }
    await hashChange(ap, '#/dead-letters');
    const row = ap.locator('tbody tr').first();
    await row.waitFor();
    assert.match(await row.textContent(), /email/);
    await audit(ap, 'admin-dead-letters-listed');
    const id = (await row.locator('td').first().textContent()).replace('#', '');
    const [res] = await Promise.all([
      ap.waitForResponse((r) => r.url().endsWith(`/dead-letters/${id}/retry`)),
      row.locator('button:has-text("Retry")').click(),
    ]);
    assert.equal(res.status(), 200);
    assert.equal((await res.json()).id, Number(id));
    await ap.waitForFunction(() => !document.querySelector('button[aria-busy=true]'));
    assert.equal(await ap.locator('[role=alert]').count(), 0, 'the retry was accepted');
  });
});

describe('analytics and sellers', () => {
  test('analytics shows revenue, orders and average order value as charts, and top products', async () => {
    await hashChange(ap, '#/analytics');
    await ap.waitForSelector('svg.chart');
    assert.equal(await ap.locator('svg.chart').count(), 3);
    assert.ok(await ap.locator('svg.chart rect').count() > 0);
    assert.equal(await ap.textContent('dl.totals dt:text-is("Orders") + dd'), '1');
    assert.match(await ap.textContent('dl.totals dt:text-is("Refunds") + dd'), /0\.00/);
    assert.equal(await ap.textContent('dl.totals dt:text-is("Returns rate") + dd'), '0.00 %');
    const top = await ap.$$eval('table tbody tr td:first-child', (els) => els.map((e) => e.textContent));
    assert.ok(top.includes('Olive Board') && top.some((t) => t.startsWith('Copper Kettle')), top.join());
    await audit(ap, 'admin-analytics-data');
  });

  test('a seller sees only their own products, orders and figures', async () => {
    const sp = await newPage(br, errors);
    await staffLogin(sp, other);
    const nav = await sp.textContent('nav.side');
    assert.doesNotMatch(nav, /Listing review|Returns|Fraud holds|Promotions|Dead letters/);
    await sp.waitForSelector('tbody tr');
    assert.deepEqual(await sp.$$eval('tbody tr td:first-child', (els) => els.map((e) => e.textContent)), ['Olive Board']);
    await hashChange(sp, '#/orders');
    await sp.waitForSelector('tbody tr');
    const lines = await sp.textContent('tbody');
    assert.match(lines, /Olive Board/);
    assert.doesNotMatch(lines, /Copper Kettle/);
    await audit(sp, 'seller-orders');
    await hashChange(sp, '#/analytics');
    await sp.waitForSelector('svg.chart');
    const top = await sp.$$eval('table tbody tr td:first-child', (els) => els.map((e) => e.textContent));
    assert.deepEqual(top, ['Olive Board']);
    await audit(sp, 'seller-analytics');
    // Another seller's product is not theirs to edit.
    await hashChange(sp, `#/products/${kettle.id}`);
    if (await sp.locator('#p-title').count()) {
      await sp.fill('#p-title', 'Hijacked');
      await sp.click('button:has-text("Save")');
      await sp.waitForSelector('[role=alert]');
    }
    assert.notEqual((await shop.api('GET', `/v1/products/${kettle.id}`)).title, 'Hijacked');
    await sp.context().close();
  });

});

describe('fraud holds', () => {
  test('a held order is listed with its reasons and approved', async () => {
    const big = await shop.product('Espresso Machine', { brand: 'Acme', price: 150000 });
    const o = await shop.buy(await shop.customer(), [big.variants[0].id]);
    assert.equal(o.status, 'on_hold');
    await hashChange(ap, '#/fraud');
    const row = rowWith(ap, `#${o.id}`);
    await row.waitFor();
    assert.match(await row.textContent(), /new_account_high_value/);
    await audit(ap, 'admin-fraud-held');
    await row.locator('button:has-text("Approve")').click();
    await ap.waitForSelector(`tbody tr:has-text("#${o.id}")`, { state: 'detached' });
    assert.equal((await shop.api('GET', `/v1/orders/${o.id}`, undefined, shop.admin.token)).status, 'paid');
  });

  test('no page threw a script error', () => {
    assert.deepEqual(errors, []);
  });
});
