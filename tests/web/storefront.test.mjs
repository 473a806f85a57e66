// storefront.test.mjs — the storefront's features one at a time, beyond the
// whole journeys (journeys.test.mjs): search autocomplete by keyboard and
// "did you mean", facets and sorts, the cart's quantities, save for later and
// warnings, the account's address book, cards and notification settings,
// checkout with a saved address, express shipping and store credit, writing
// a review, frequently bought together, and the wishlist. Each new page state
// passes axe at desktop and phone width.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PASSWORD, Shop, audit, audited, browser, cartShows, helpers, newPage, ready } from './harness.mjs';

const shop = new Shop();
const { goto, hashChange, register, addToCart } = helpers(shop);
let br;
const errors = [];
let kettleA; let kettleB; let mug; let glass; let descaler;
let page; // one registered shopper through the account, checkout and review tests

const dollars = (t) => Number(t.replace(/[^0-9.]/g, ''));
const cardPrices = (p) => p.$$eval('.card .price', (els) => els.map((e) => e.textContent));
const cardTitles = (p) => p.$$eval('.card .title', (els) => els.map((e) => e.textContent));
const me = (p, path) => p.evaluate(async (x) => (await fetch(x)).json(), path);

before(async () => {
  await shop.start();
  await shop.setup();
  kettleA = await shop.product('Copper Kettle', { brand: 'Acme', price: 2599 });
  kettleB = await shop.product('Steel Kettle', { brand: 'Brewco', price: 3199 });
  mug = await shop.product('Stoneware Mug', { brand: 'Acme', price: 899 });
  glass = await shop.product('Glass Kettle', { brand: 'Brewco', price: 4599, stock: 0 });
  descaler = await shop.product('Kettle Descaler', { brand: 'Acme', price: 499 });
  // Three customers bought the kettle with the descaler: the minimum support
  // for "frequently bought together".
  for (let i = 0; i < 3; i++) await shop.buy(await shop.customer(), [kettleA.variants[0].id, descaler.variants[0].id]);
  await shop.searchable('kettle', glass.id);
  await shop.searchable('mug', mug.id);
  br = await browser();
});

after(async () => {
  if (br) await br.close();
  await shop.stop();
  console.log(`pages audited (axe, screenshots in build/web/): ${audited.join(', ')}`);
});

describe('search', () => {
  test('autocomplete suggests as one types and is chosen with the keyboard', async () => {
    const p = await newPage(br, errors);
    await goto(p, '/');
    await p.focus('#q');
    await p.keyboard.type('stonew', { delay: 20 });
    const first = p.locator('#suggestions li').first();
    await first.waitFor();
    assert.equal(await p.getAttribute('#q', 'aria-expanded'), 'true');
    assert.match(await p.textContent('#suggestions'), /stoneware/i);
    await audit(p, 'search-suggestions');
    await p.keyboard.press('ArrowDown');
    assert.equal(await p.getAttribute('#q', 'aria-activedescendant'), 'sug-0');
    assert.equal(await first.getAttribute('aria-selected'), 'true');
    await p.keyboard.press('Enter');
    await p.waitForFunction(() => /^#\/(p\/|search\?q=)/.test(location.hash));
    await p.waitForSelector('body[data-ready=true]');
    await p.waitForSelector('main >> text=Stoneware Mug');
    assert.equal(await p.isHidden('#suggestions'), true);
    await p.context().close();
  });

  test('a typo shows "did you mean", whose link searches the corrected words', async () => {
    const p = await newPage(br, errors);
    await goto(p, '/#/search?q=ketle');
    await p.waitForSelector('.didyoumean');
    await p.click('.didyoumean a');
    await p.waitForFunction(() => location.hash.startsWith('#/s?q=kettle'));
    await p.waitForFunction(() => !document.querySelector('main .loading'));
    await p.waitForSelector('.card');
    const titles = await cardTitles(p);
    assert.ok(titles.includes('Copper Kettle') && titles.includes('Steel Kettle'), titles.join());
    assert.equal(await p.locator('.didyoumean').count(), 0);
    await p.context().close();
  });
});

describe('category', () => {
  test('sorts by price both ways, filters by brand, price and stock, and clears a filter', async () => {
    const p = await newPage(br, errors);
    await goto(p, `/#/c/${shop.leaf}`);
    await p.waitForSelector('.card');
    assert.equal((await cardTitles(p)).length, 5);

    await p.selectOption('#sort', 'price_asc');
    await p.waitForFunction(() => location.hash.includes('sort=price_asc'));
    await settled(p);
    const up = (await cardPrices(p)).map(dollars);
    assert.deepEqual(up, [...up].sort((a, b) => a - b));
    assert.equal(await p.inputValue('#sort'), 'price_asc');

    await p.selectOption('#sort', 'price_desc');
    await p.waitForFunction(() => location.hash.includes('sort=price_desc'));
    await settled(p);
    const down = (await cardPrices(p)).map(dollars);
    assert.deepEqual(down, [...up].reverse());

    await p.click('.facets a:has-text("Brewco")');
    await p.waitForFunction(() => location.hash.includes('brand=Brewco'));
    await settled(p);
    assert.deepEqual((await cardTitles(p)).sort(), ['Glass Kettle', 'Steel Kettle']);
    assert.ok(p.url().includes('sort=price_desc'), 'a filter keeps the sort');
    assert.equal(await p.getAttribute('.facets a:has-text("Brewco")', 'aria-current'), 'true');

    await p.click('.facets a:has-text("In stock only")');
    await p.waitForFunction(() => location.hash.includes('in_stock=true'));
    await settled(p);
    assert.deepEqual(await cardTitles(p), ['Steel Kettle']);
    await audit(p, 'category-filtered');

    await p.click('.facets a:has-text("Brewco")'); // chosen: clicking it again clears it
    await p.waitForFunction(() => !location.hash.includes('brand='));
    await settled(p);
    assert.deepEqual((await cardTitles(p)).sort(), ['Copper Kettle', 'Kettle Descaler', 'Steel Kettle', 'Stoneware Mug']);

    const priceLinks = p.locator('.facet:has(h2:text-is("Price")) a');
    assert.ok(await priceLinks.count() > 0, 'a price facet');
    const label = await priceLinks.first().textContent();
    await priceLinks.first().click();
    await p.waitForFunction(() => location.hash.includes('min_price='));
    await settled(p);
    const [lo, hi] = label.replace(/\(\d+\)$/, '').split('–').map((x) => (/more/.test(x) ? Infinity : dollars(x)));
    const inRange = (await cardPrices(p)).map(dollars);
    assert.ok(inRange.length > 0 && inRange.every((x) => x >= lo && x <= hi), `${label}: ${inRange}`);
    await p.context().close();
  });
});

// The listing has rendered again after a change of its URL.
// The page of the hash just changed is on screen (not the one before it).
async function settled(p) {
  await ready(p);
}

describe('cart', () => {
  test('changes a quantity, saves for later and back, shows price and stock warnings, removes', async () => {
    const p = await newPage(br, errors);
    await addToCart(p, kettleA.id);
    await addToCart(p, mug.id);
    await hashChange(p, '#/cart');
    const mugLine = p.locator('ul.lines > li:has-text("Stoneware Mug")');
    await mugLine.locator('input[type=number]').fill('3');
    await mugLine.locator('button:has-text("Update")').click();
    await p.waitForFunction(() => [...document.querySelectorAll('ul.lines > li')].some((li) => li.textContent.includes('Stoneware Mug') && li.textContent.includes('$26.97')));
    await cartShows(p, 4);

    await p.locator('ul.lines > li:has-text("Copper Kettle") button:has-text("Save for later")').click();
    await p.waitForSelector('h2:text-is("Saved for later")');
    assert.equal(await p.locator('main > ul.lines > li').count(), 1);
    assert.match(await p.textContent('section:has(h2:text-is("Saved for later"))'), /Copper Kettle/);
    await cartShows(p, 3);
    await audit(p, 'cart-saved-for-later');
    await p.click('button:has-text("Move to cart")');
    await p.waitForSelector('h2:text-is("Saved for later")', { state: 'detached' });
    assert.equal(await p.locator('main > ul.lines > li').count(), 2);

    // The price drops and the stock falls below the quantity while it sits in the cart.
    await shop.api('PATCH', `/v1/variants/${mug.variants[0].id}`, { price_cents: 799 }, shop.seller.token);
    await shop.api('PUT', `/v1/inventory/${mug.variants[0].id}/${shop.warehouse}`, { on_hand: 2 }, shop.seller.token);
    await goto(p, '/#/cart');
    const warn = await p.textContent('ul.warnings');
    assert.match(warn, /Stoneware Mug: the price dropped from \$8\.99 to \$7\.99/);
    assert.match(warn, /Stoneware Mug: only 2 left; you have 3 in your cart/);
    await audit(p, 'cart-warnings');
    await shop.api('PATCH', `/v1/variants/${mug.variants[0].id}`, { price_cents: 899 }, shop.seller.token);
    await shop.api('PUT', `/v1/inventory/${mug.variants[0].id}/${shop.warehouse}`, { on_hand: 20 }, shop.seller.token);

    await p.locator('ul.lines > li:has-text("Stoneware Mug") button:has-text("Remove")').click();
    await p.waitForSelector('ul.lines > li:has-text("Stoneware Mug")', { state: 'detached' });
    await cartShows(p, 1);
    await p.context().close();
  });

  test('a guest cart merges into an existing account on logging in', async () => {
    const who = await shop.customer();
    await shop.api('POST', '/v1/cart/lines', { variant_id: kettleB.variants[0].id, quantity: 1 }, who.token);
    const p = await newPage(br, errors);
    await addToCart(p, mug.id);
    await goto(p, '/#/login?next=%23%2Fcart');
    await p.fill('#login-email', who.email);
    await p.fill('#login-password', PASSWORD);
    await p.click('form.auth button:has-text("Log in")');
    await p.waitForFunction(() => location.hash === '#/cart');
    await p.waitForFunction(() => !document.querySelector('main .loading'));
    await p.waitForSelector('ul.lines > li:has-text("Stoneware Mug")');
    assert.equal(await p.locator('main > ul.lines > li').count(), 2, "the guest's mug joined the account's kettle");
    await p.context().close();
  });

  test('a guest line that cannot merge is named in the cart, not lost silently', async () => {
    const tea = await shop.product('Sencha Tea', { price: 650, currency: 'EUR' });
    const who = await shop.customer();
    await shop.api('POST', '/v1/cart/lines', { variant_id: kettleB.variants[0].id, quantity: 1 }, who.token);
    const p = await newPage(br, errors);
    await addToCart(p, tea.id); // the guest's cart is in euros, the account's in dollars
    await goto(p, '/#/login?next=%23%2Fcart');
    await p.fill('#login-email', who.email);
    await p.fill('#login-password', PASSWORD);
    await p.click('form.auth button:has-text("Log in")');
    await p.waitForFunction(() => location.hash === '#/cart');
    await p.waitForSelector('#left-behind');
    assert.match(await p.textContent('#left-behind'), /^1 item from before you logged in could not be added: they are priced in another currency/);
    assert.equal(await p.locator('main > ul.lines > li').count(), 1, 'the kettle alone');
    await goto(p, '/#/');
    await goto(p, '/#/cart');
    await p.waitForSelector('main > ul.lines > li');
    assert.equal(await p.locator('#left-behind').count(), 0, 'said once');
    await p.context().close();
  });

  test('the product page adds to the cart with the keyboard alone', async () => {
    const p = await newPage(br, errors);
    await goto(p, `/#/p/${kettleB.id}`);
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await p.keyboard.press('Tab');
      reached = await p.evaluate(() => document.activeElement && document.activeElement.textContent === 'Add to cart');
    }
    assert.ok(reached, 'Tab reaches "Add to cart"');
    await p.keyboard.press('Enter');
    await p.waitForSelector('text=Added to your cart.');
    await p.context().close();
  });
});

describe('account and checkout', () => {
  test('the account keeps addresses, cards and notification settings', async () => {
    page = await newPage(br, errors);
    await register(page, '#/account');
    await page.waitForSelector('h2:text-is("Addresses")');
    const addAddress = async (name, line1) => {
      await page.getByLabel('Full name').fill(name);
      await page.getByLabel('Street address').fill(line1);
      await page.getByLabel('City').fill('Seattle');
      await page.getByLabel('Postal code').fill('98101');
      await page.click('button:has-text("Add address")');
      await page.waitForSelector(`li:has-text("${line1}")`);
    };
    await addAddress('Ann Home', '1 Pike St');
    await addAddress('Ann Office', '500 Union St');
    await addAddress('Ann Old', '9 Gone Ave');
    await page.locator('li:has-text("9 Gone Ave") button:has-text("Delete")').click();
    await page.waitForSelector('li:has-text("9 Gone Ave")', { state: 'detached' });
    assert.equal((await me(page, '/v1/me/addresses')).data.length, 2);

    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('CVC').fill('123');
    await page.click('button:has-text("Add card")');
    await page.waitForSelector('li:has-text("ending 4242")');

    // SMS needs a phone number: the page says so and nothing changes.
    await page.locator('input[name=sms]').setChecked(true);
    await page.click('button:has-text("Save preferences")');
    await page.waitForSelector('[role=alert]:has-text("phone number")');
    assert.equal((await me(page, '/v1/me/notification-preferences')).sms, false);
    await page.locator('input[name=sms]').setChecked(false);
    const was = await page.locator('input[name=email]').isChecked();
    await page.locator('input[name=email]').setChecked(!was);
    await page.click('button:has-text("Save preferences")');
    await page.waitForSelector('text=Preferences saved.');
    await goto(page, '/#/account');
    assert.equal(await page.locator('input[name=email]').isChecked(), !was);
    assert.equal((await me(page, '/v1/me/notification-preferences')).email, !was);
    // With a phone on the default address, SMS can be switched on.
    await page.getByLabel('Full name').fill('Ann Mobile');
    await page.getByLabel('Street address').fill('7 Pine St');
    await page.getByLabel('City').fill('Seattle');
    await page.getByLabel('Postal code').fill('98101');
    await page.getByLabel('Phone (for SMS updates)').fill('+12065550100');
    await page.check('#addr-default');
    await page.click('button:has-text("Add address")');
    await page.waitForSelector('li:has-text("7 Pine St"):has-text("(default)")');
    await page.locator('input[name=sms]').setChecked(true);
    await page.click('button:has-text("Save preferences")');
    await page.waitForSelector('text=Preferences saved.');
    assert.equal((await me(page, '/v1/me/notification-preferences')).sms, true);
    await audit(page, 'account-filled');
  });

  test('checkout picks a saved address, express shipping and store credit', async () => {
    const user = await me(page, '/v1/me');
    await shop.api('POST', `/v1/admin/users/${user.id}/store-credit`, { amount_cents: 1000, reason: 'web test' }, shop.admin.token);
    await addToCart(page, kettleA.id);
    await hashChange(page, '#/checkout');
    await page.check('label.choice:has-text("500 Union St") input');
    await page.waitForSelector('#checkout-shipping');
    const standard = await page.textContent('#checkout-shipping');
    await page.check('label.choice:has-text("Express") input');
    await page.waitForFunction((x) => document.querySelector('#checkout-shipping').textContent !== x, standard);
    assert.ok(dollars(await page.textContent('#checkout-shipping')) > dollars(standard), 'express costs more');
    assert.match(await page.textContent('label[for=use-credit]'), /\$10\.00 available/);
    await page.check('#use-credit');
    const total = dollars(await page.textContent('#checkout-total'));
    assert.equal(dollars(await page.textContent('#checkout-card')).toFixed(2), (total - 10).toFixed(2));
    assert.match(await page.textContent('#place-order'), new RegExp(`\\$${total.toFixed(2)}`));
    assert.ok(await page.locator('label.choice:has-text("ending 4242") input').isChecked(), 'the saved card is chosen');
    await audit(page, 'checkout-saved');
    await page.click('#place-order');
    await page.waitForSelector('text=Thank you! Your order is placed.');
    const id = Number((await page.evaluate(() => location.hash)).match(/orders\/(\d+)/)[1]);
    const o = await me(page, `/v1/orders/${id}`);
    assert.equal(o.status, 'paid');
    assert.equal(o.total_cents, Math.round(total * 100), 'the order costs what the page said');
    assert.match(JSON.stringify(o.shipping_address || o), /500 Union St/);
    assert.match(JSON.stringify(o), /express/);
    const credit = await me(page, '/v1/me/store-credit');
    assert.equal(credit.balance_cents, 0, 'the store credit paid part of it');
    assert.equal(await page.textContent('#order-status'), 'paid');
  });

  test('a buyer writes a review on the product page', async () => {
    await goto(page, `/#/p/${kettleA.id}`);
    await page.waitForSelector('form.review-form');
    await page.selectOption('form.review-form select', '4');
    await page.fill('form.review-form input', 'Boils fast');
    await page.fill('form.review-form textarea', 'Quick and quiet, the copper looks lovely.');
    await page.click('button:has-text("Submit review")');
    // A new account's review waits for a moderator; its author sees it meanwhile.
    await page.waitForSelector('text=Thanks: your review will appear once it is checked.');
    await goto(page, `/#/p/${kettleA.id}`);
    await page.waitForSelector('li.review:has-text("Boils fast")');
    assert.match(await page.textContent('li.review:has-text("Boils fast")'), /Verified purchase · pending/);
    await audit(page, 'product-reviewed');
  });

  test('the product page shows what is frequently bought together', async () => {
    for (let i = 0; ; i++) {
      const r = await shop.api('GET', `/v1/products/${kettleA.id}/frequently-bought-together`);
      if (r.data.some((x) => x.product_id === descaler.id)) break;
      assert.ok(i < 100, 'the recommendations worker saw the orders');
      await new Promise((res) => setTimeout(res, 100));
    }
    await goto(page, `/#/p/${kettleA.id}`);
    await page.waitForSelector('#fbt h2:text-is("Frequently bought together")');
    await page.click('#fbt a:has-text("Kettle Descaler")');
    await page.waitForFunction((id) => location.hash === `#/p/${id}`, descaler.id);
    await page.waitForSelector('main h1:text-is("Kettle Descaler")');
  });

  test('the wishlist keeps and removes a product', async () => {
    await goto(page, `/#/p/${mug.id}`);
    await page.click('text=Save to wishlist');
    await page.waitForSelector('text=Saved to your wishlist.');
    await hashChange(page, '#/wishlist');
    await page.waitForSelector('li:has-text("Stoneware Mug")');
    assert.match(await page.textContent('li:has-text("Stoneware Mug")'), /In stock/);
    await page.click('li:has-text("Stoneware Mug") button:has-text("Remove")');
    await page.waitForSelector('text=Nothing saved yet.');
    assert.equal((await me(page, '/v1/me/wishlist')).data.length, 0);
  });

  test('checkout names an item short of stock; a placed order is cancelled from its page', async () => {
    await addToCart(page, mug.id);
    await shop.api('PUT', `/v1/inventory/${mug.variants[0].id}/${shop.warehouse}`, { on_hand: 0 }, shop.seller.token);
    await hashChange(page, '#/checkout');
    await page.click('#place-order');
    const alert = page.locator('[role=alert]');
    await alert.waitFor();
    assert.match(await alert.textContent(), /short of stock: Stoneware Mug: 0 left/);
    await shop.api('PUT', `/v1/inventory/${mug.variants[0].id}/${shop.warehouse}`, { on_hand: 20 }, shop.seller.token);
    await page.click('#place-order');
    await page.waitForSelector('text=Thank you! Your order is placed.');
    page.once('dialog', (d) => d.accept());
    await page.click('#cancel-order');
    await page.waitForFunction(() => document.querySelector('#order-status') && document.querySelector('#order-status').textContent === 'cancelled');
    assert.equal(await page.locator('#cancel-order').count(), 0);
    await audit(page, 'order-cancelled');
  });

  test('no page threw a script error', () => {
    assert.deepEqual(errors, []);
  });
});
