-- Promotions and coupons (ENG-3). shop/promo.h is the essay: the kinds, how
-- they combine, and how the limits stay exact.
--
-- A promotion's targets and tiers are small JSON arrays read with the row;
-- `uses` counts the orders that hold a use (taken by a conditional UPDATE
-- in the checkout that creates the order, given back on cancellation).
CREATE TABLE promotions (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    type               TEXT NOT NULL CHECK (type = 'percentage' OR type = 'fixed' OR
                                            type = 'buy_x_get_y' OR type = 'free_shipping' OR
                                            type = 'tiered'),
    percent_bps        INTEGER NOT NULL DEFAULT 0,
    amount_cents       INTEGER NOT NULL DEFAULT 0,
    buy_quantity       INTEGER NOT NULL DEFAULT 0,
    get_quantity       INTEGER NOT NULL DEFAULT 0,
    get_percent_bps    INTEGER NOT NULL DEFAULT 10000,
    tiers              TEXT,                        -- [{min_subtotal_cents, amount_cents|percent_bps}]
    product_ids        TEXT,                        -- [id, …] or NULL
    category_ids       TEXT,                        -- [id, …] or NULL
    min_subtotal_cents INTEGER NOT NULL DEFAULT 0,
    max_discount_cents INTEGER NOT NULL DEFAULT 0,  -- 0: no cap
    starts_at          INTEGER NOT NULL DEFAULT 0,
    ends_at            INTEGER,                     -- NULL: open-ended
    usage_limit        INTEGER,                     -- NULL: unlimited
    per_customer_limit INTEGER,
    uses               INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    priority           INTEGER NOT NULL DEFAULT 0,
    stackable          INTEGER NOT NULL DEFAULT 0,
    active             INTEGER NOT NULL DEFAULT 1,
    automatic          INTEGER NOT NULL DEFAULT 1,  -- 0: only by a code
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    CHECK (usage_limit IS NULL OR uses <= usage_limit)
);
-- The live automatic promotions every cart and checkout reads: one range.
CREATE INDEX promotions_automatic ON promotions (automatic, active, id);

-- Codes are stored upper-case (lookups are case-insensitive) and unique
-- across promotions. A single-use code is taken by a conditional UPDATE.
CREATE TABLE promotion_codes (
    id           INTEGER PRIMARY KEY,
    promotion_id INTEGER NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    code         TEXT NOT NULL UNIQUE,
    single_use   INTEGER NOT NULL DEFAULT 0,
    uses         INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    created_at   INTEGER NOT NULL,
    CHECK (single_use = 0 OR uses <= 1)
);
CREATE INDEX promotion_codes_promotion ON promotion_codes (promotion_id, id);

-- The order's snapshot of what each promotion gave it, and its use:
-- released = 1 once the use was given back (cancellation).
CREATE TABLE order_promotions (
    id                      INTEGER PRIMARY KEY,
    order_id                INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    promotion_id            INTEGER NOT NULL,
    code_id                 INTEGER,
    user_id                 INTEGER NOT NULL,
    name                    TEXT NOT NULL,
    code                    TEXT,
    type                    TEXT NOT NULL,
    discount_cents          INTEGER NOT NULL,
    shipping_discount_cents INTEGER NOT NULL DEFAULT 0,
    released                INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL
);
CREATE INDEX order_promotions_order ON order_promotions (order_id, id);
-- A customer's uses of a promotion (per_customer_limit).
CREATE INDEX order_promotions_customer ON order_promotions (promotion_id, user_id, released);

-- Each line's share of the order's discount (what it was paid is
-- quantity × unit_price_cents − discount_cents + tax_cents).
ALTER TABLE order_lines ADD COLUMN discount_cents INTEGER NOT NULL DEFAULT 0;
-- The code the shopper put on the cart (upper-case), priced on every read.
ALTER TABLE carts ADD COLUMN coupon_code TEXT;
