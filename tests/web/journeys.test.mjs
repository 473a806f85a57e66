// journeys.test.mjs — the storefront and the console in a real headless
// Chromium against a real shopd (harness.mjs): whole shopper and staff
// journeys, accessibility on every page, and the web security rules.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Shop, audit, audited, browser, cartShows, helpers, newPage, ready, uid } from './harness.mjs';

const shop = new Shop();
let br;
const errors = [];
let kettleA; let kettleB; let mug; let shopper; let orderId;

const { goto, hashChange, register, addToCart, staffLogin, clickWhileShown } = helpers(shop);

before(async () => {
  await shop.start();
  await shop.setup();
  kettleA = await shop.product('Copper Kettle', { brand: 'Acme', price: 2599 });
  kettleB = await shop.product('Steel Kettle', { brand: 'Brewco', price: 3199 });
  mug = await shop.product('Stoneware Mug', { brand: 'Acme', price: 899 });
  await shop.api('POST', '/v1/admin/promotions', { name: 'Ten off', code: 'SAVE10', type: 'percentage', percent_bps: 1000, priority: 0 }, shop.admin.token);
  await shop.searchable('kettle', kettleB.id);
  await shop.searchable('mug', mug.id);
  br = await browser();
});

after(async () => {
  if (br) await br.close();
  await shop.stop();
  console.log(`pages audited (axe, screenshots in build/web/): ${audited.join(', ')}`);
});

describe('storefront', () => {
  test('guest browses, searches with a typo, filters, fills a cart, registers (cart merged), applies a coupon, checks out with 4242, sees the order', async () => {
    const page = await newPage(br, errors);
    shopper = page;
    const res = await goto(page, '/');
    assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
    await page.waitForSelector('text=Popular now');
    await audit(page, 'home');

    await page.fill('#q', 'ketle');
    await page.press('#q', 'Enter');
    await ready(page);
    await page.waitForSelector('.didyoumean');
    assert.match(await page.textContent('.didyoumean'), /kettle/i);
    await audit(page, 'search');

    await page.click('.facets a:has-text("Brewco")');
    await page.waitForFunction(() => location.hash.includes('brand=Brewco'));
    await ready(page);
    const titles = await page.$$eval('.card .title', (els) => els.map((e) => e.textContent));
    assert.deepEqual(titles, ['Steel Kettle']);

    await hashChange(page, `#/c/${shop.leaf}`);
    await page.waitForSelector('.card');
    await audit(page, 'category');

    await addToCart(page, kettleB.id);
    await audit(page, 'product');
    await addToCart(page, mug.id);
    await hashChange(page, '#/cart');
    assert.equal(await page.locator('ul.lines > li').count(), 2);
    await audit(page, 'cart');

    await goto(page, '/#/login');
    await audit(page, 'login');
    await register(page, '#/cart');
    assert.equal(await page.locator('ul.lines > li').count(), 2, 'the guest cart merged into the new account');
    await cartShows(page, 2);

    await page.fill('#coupon', 'SAVE10');
    await page.click('form.coupon button:has-text("Apply")');
    await page.waitForSelector('.promos >> text=Ten off');
    assert.notEqual(await page.textContent('#discount'), '−$0.00');

    await page.click('text=Check out');
    await ready(page);
    await page.getByLabel('Full name').fill('Ann Buyer');
    await page.getByLabel('Street address').fill('1 Pike St');
    await page.getByLabel('City').fill('Seattle');
    await page.getByLabel('Region').fill('WA');
    await page.getByLabel('Postal code').fill('98101');
    assert.equal(await page.getByLabel('Card number').inputValue(), '4242424242424242');
    await audit(page, 'checkout');
    await page.click('#place-order');
    await page.waitForSelector('text=Thank you! Your order is placed.');
    orderId = Number((await page.evaluate(() => location.hash)).match(/orders\/(\d+)/)[1]);
    assert.equal(await page.textContent('#order-status'), 'paid');
    await audit(page, 'order');
    await hashChange(page, '#/orders');
    await page.waitForSelector(`a:has-text("#${orderId}")`);
    await audit(page, 'orders');
    await cartShows(page, 0);
  });

  test('a declined card (…0002) shows a clear message and places no order', async () => {
    const page = await newPage(br, errors);
    await register(page, '#/');
    await addToCart(page, kettleA.id);
    await hashChange(page, '#/checkout');
    await page.getByLabel('Full name').fill('Dee Klein');
    await page.getByLabel('Street address').fill('2 Pike St');
    await page.getByLabel('City').fill('Seattle');
    await page.getByLabel('Postal code').fill('98101');
    await page.getByLabel('Card number').fill('4000000000000002');
    await page.click('#place-order');
    const alert = page.locator('[role=alert]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /declined.*No order was placed/s);
    await hashChange(page, '#/orders');
    await page.waitForSelector('text=No orders yet.');
    await page.context().close();
  });

  test('account, wishlist and the other shopper pages pass axe', async () => {
    const page = shopper;
    await goto(page, `/#/p/${kettleA.id}`);
    await page.click('text=Save to wishlist');
    await page.waitForSelector('text=Saved to your wishlist.');
    await hashChange(page, '#/wishlist');
    await page.waitForSelector('text=Copper Kettle');
    await audit(page, 'wishlist');
    await hashChange(page, '#/account');
    await page.waitForSelector('text=Payment methods');
    await audit(page, 'account');
  });
});

describe('console', () => {
  test('a seller lists a product, an admin approves it, the storefront finds it', async () => {
    const seller = await shop.staff('seller');
    const sp = await newPage(br, errors);
    await staffLogin(sp, seller);
    await audit(sp, 'admin-products');
    await sp.click('text=New product');
    await ready(sp);
    await sp.fill('#p-title', 'Walnut Cutting Board');
    await sp.fill('#p-brand', 'Woodly');
    await sp.selectOption('#p-category', String(shop.leaf));
    await sp.fill('#p-description', 'End grain walnut.');
    await sp.fill('#p-sku', `WB-${uid()}`);
    await sp.fill('#p-price', '4500');
    await audit(sp, 'admin-product-new');
    await sp.click('text=Create draft');
    await sp.waitForSelector('text=Status: draft');
    await ready(sp);
    await audit(sp, 'admin-product-edit');
    await sp.click('text=Submit for review');
    await sp.waitForSelector('text=Status: pending_review');
    await sp.context().close();

    const ap = await newPage(br, errors);
    await staffLogin(ap, shop.admin);
    await hashChange(ap, '#/review');
    await ap.click('text=Approve Walnut Cutting Board');
    await ap.waitForSelector('text=Nothing here.');
    await audit(ap, 'admin-review');

    const page = await newPage(br, errors);
    for (let i = 0; ; i++) {
      await goto(page, '/#/search?q=walnut');
      if (await page.locator('.card:has-text("Walnut Cutting Board")').count()) break;
      assert.ok(i < 50, 'the approved product is found by search');
      await page.waitForTimeout(200);
    }
    await page.context().close();
    this_admin = ap;
  });

  test('an admin fulfils the order, the shopper sees tracking, requests a return, the admin refunds it', async () => {
    const ap = this_admin;
    await hashChange(ap, '#/orders');
    await audit(ap, 'admin-orders');
    await ap.click(`text=Fulfil #${orderId}`);
    await ap.waitForFunction((id) => [...document.querySelectorAll('tbody tr')]
      .some((tr) => tr.textContent.includes(`#${id}`) && !/\bpaid\b/.test(tr.children[2].textContent)), orderId);
    await hashChange(ap, `#/orders/${orderId}`);
    await ap.waitForSelector('button:has-text("Mark in transit")');
    await audit(ap, 'admin-order');
    await clickWhileShown(ap, 'button:has-text("Mark in transit")');
    await clickWhileShown(ap, 'button:has-text("Mark delivered")');

    const page = shopper;
    await goto(page, `/#/orders/${orderId}`);
    const tracking = await page.textContent('.tracking');
    assert.ok(tracking && tracking.length > 4, 'the shopper sees a tracking number');
    assert.match(await page.textContent('.shipments'), /delivered/);
    await page.locator('input[data-line]').first().fill('1');
    await page.fill('#return-reason', 'Too small');
    await page.click('text=Request return');
    await page.waitForSelector('.return-status');

    await hashChange(ap, '#/returns');
    await audit(ap, 'admin-returns');
    const rid = (await ap.textContent('tbody tr td')).replace('#', '');
    for (const step of ['Received', 'Inspected', 'Refund']) {
      if (step === 'Received' && await ap.locator(`button:has-text("Approved #${rid}")`).count()) {
        await ap.click(`button:has-text("Approved #${rid}")`);
        await ready(ap);
      }
      await ap.click(`button:has-text("${step} #${rid}")`);
      await ap.waitForSelector(`button:has-text("${step} #${rid}")`, { state: 'detached' });
      await ready(ap);
    }
    await goto(page, `/#/orders/${orderId}`);
    assert.equal(await page.textContent('.return-status'), 'refunded');
    assert.ok(await page.locator('text=Refunds').count());
  });

  test('the other console pages load and pass axe', async () => {
    const ap = this_admin;
    // Flash sales, promotions, reviews, dead letters, analytics and a
    // variant's stock are audited with data in them by console.test.mjs.
    for (const p of ['stock', 'fraud']) {
      await hashChange(ap, `#/${p}`);
      assert.equal(await ap.locator('main h1').count(), 1, p);
      assert.notEqual(await ap.textContent('main h1'), 'Could not load this page', p);
      await audit(ap, `admin-${p}`);
    }
  });
});

let this_admin;

describe('flash sale', () => {
  test('the waiting room admits the shopper, who buys', async () => {
    const start = new Date(Date.now() + 1500);
    const sale = await shop.api('POST', '/v1/admin/flash-sales', { variant_id: mug.variants[0].id, quantity: 3, price_cents: 499,
      starts_at: start.toISOString(), ends_at: new Date(Date.now() + 3600000).toISOString(), per_customer_limit: 1, admit_per_second: 20 }, shop.admin.token);
    const page = shopper;
    await goto(page, `/#/flash/${sale.id}`);
    await page.waitForSelector('#countdown');
    await audit(page, 'flash-sale');
    while (Date.now() < start.getTime() + 1200) await page.waitForTimeout(200);
    await goto(page, `/#/flash/${sale.id}`);
    await page.click('#join-queue');
    await page.waitForSelector('#buy-now:not([hidden])', { timeout: 20000 });
    await page.click('#buy-now');
    await page.waitForSelector('text=Thank you! Your order is placed.');
  });
});

describe('security', () => {
  test('a product titled with markup renders as text', async () => {
    const title = '<img src=x onerror=alert(1)>';
    const p = await shop.product(title, { brand: 'Evil' });
    const page = shopper;
    let dialog = false;
    page.on('dialog', async (d) => { dialog = true; await d.dismiss(); });
    await goto(page, `/#/p/${p.id}`);
    assert.equal(await page.textContent('main h1'), title);
    assert.equal(await page.locator('main img[src="x"]').count(), 0);
    await page.waitForTimeout(300);
    assert.equal(dialog, false);
  });

  test('a write without the CSRF token and a cross-origin form post are refused', async () => {
    const page = shopper;
    await goto(page, '/#/');
    const noToken = await page.evaluate(async () => (await fetch('/v1/me/addresses', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'X', line1: 'Y', city: 'Z', postal_code: '1', country: 'US' }) })).status);
    assert.equal(noToken, 403);
    const before = await page.evaluate(async () => (await (await fetch('/v1/cart')).json()).lines.length);

    // Another origin's page (another port: same site, so the Lax cookie rides along).
    const evil = http.createServer((req, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!doctype html><html lang="en"><title>evil</title><form id="f" method="POST" enctype="text/plain" action="${shop.base}/v1/cart/lines">
        <input name='{"variant_id":${mug.variants[0].id},"quantity":1,"x":"' value='"}'></form><script>document.getElementById('f').submit()</script></html>`);
    });
    await new Promise((r) => evil.listen(0, '127.0.0.1', r));
    try {
      await page.goto(`http://127.0.0.1:${evil.address().port}/`);
      await page.waitForURL(/\/v1\/cart\/lines/);
      assert.match(await page.textContent('body'), /"status":403/);
    } finally { evil.close(); }
    await goto(page, '/#/');
    const after_ = await page.evaluate(async () => (await (await fetch('/v1/cart')).json()).lines.length);
    assert.equal(after_, before, 'the cross-origin post changed nothing');
  });

  test('no page threw a script error', () => {
    assert.deepEqual(errors, []);
  });
});
