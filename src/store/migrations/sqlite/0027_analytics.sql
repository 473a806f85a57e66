-- Import handles (CAT-6) and sales analytics rollups (OPS-2).
--
-- A product imported from a Shopify CSV keeps the file's handle, so the
-- same file imported again updates it instead of adding a copy. Handles are
-- unique per owner (a seller's, or the shop's own).
ALTER TABLE products ADD COLUMN handle TEXT;
CREATE UNIQUE INDEX products_handle ON products (seller_id, handle) WHERE handle IS NOT NULL;

-- Daily rollups, maintained by the outbox consumer "analytics" (shop/analytics.h
-- is the essay). `day` is the shop-local date as an integer yyyymmdd.
CREATE TABLE analytics_days (
    day            INTEGER PRIMARY KEY,
    revenue_cents  INTEGER NOT NULL DEFAULT 0,
    refunds_cents  INTEGER NOT NULL DEFAULT 0,
    orders         INTEGER NOT NULL DEFAULT 0,
    units          INTEGER NOT NULL DEFAULT 0,
    returned_units INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE analytics_seller_days (
    seller_id      INTEGER NOT NULL,
    day            INTEGER NOT NULL,
    revenue_cents  INTEGER NOT NULL DEFAULT 0,
    refunds_cents  INTEGER NOT NULL DEFAULT 0,
    orders         INTEGER NOT NULL DEFAULT 0,
    units          INTEGER NOT NULL DEFAULT 0,
    returned_units INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (seller_id, day)
);

CREATE TABLE analytics_product_days (
    product_id    INTEGER NOT NULL,
    day           INTEGER NOT NULL,
    seller_id     INTEGER NOT NULL,
    units         INTEGER NOT NULL DEFAULT 0,
    revenue_cents INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, product_id)
) WITHOUT ROWID; -- clustered by day: a range of days is one contiguous read
CREATE INDEX analytics_product_days_seller ON analytics_product_days (seller_id, day);

-- Monthly product rollups (month = yyyymm): a year's top products read
-- twelve rows per product, not 365.
CREATE TABLE analytics_product_months (
    product_id    INTEGER NOT NULL,
    month         INTEGER NOT NULL,
    seller_id     INTEGER NOT NULL,
    units         INTEGER NOT NULL DEFAULT 0,
    revenue_cents INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (month, product_id)
) WITHOUT ROWID;
CREATE INDEX analytics_product_months_seller ON analytics_product_months (seller_id, month);

-- What the consumer has counted, by a natural key ('paid:<order>',
-- 'refund:<refund>', 'return:<return>'): an event delivered twice, or two
-- events about the same fact, count once.
CREATE TABLE analytics_applied (
    key TEXT PRIMARY KEY,
    at  INTEGER NOT NULL
);
