-- PostgreSQL twin of ../sqlite/0027_analytics.sql.
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
    day            BIGINT PRIMARY KEY,
    revenue_cents  BIGINT NOT NULL DEFAULT 0,
    refunds_cents  BIGINT NOT NULL DEFAULT 0,
    orders         BIGINT NOT NULL DEFAULT 0,
    units          BIGINT NOT NULL DEFAULT 0,
    returned_units BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE analytics_seller_days (
    seller_id      BIGINT NOT NULL,
    day            BIGINT NOT NULL,
    revenue_cents  BIGINT NOT NULL DEFAULT 0,
    refunds_cents  BIGINT NOT NULL DEFAULT 0,
    orders         BIGINT NOT NULL DEFAULT 0,
    units          BIGINT NOT NULL DEFAULT 0,
    returned_units BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (seller_id, day)
);

CREATE TABLE analytics_product_days (
    product_id    BIGINT NOT NULL,
    day           BIGINT NOT NULL,
    seller_id     BIGINT NOT NULL,
    units         BIGINT NOT NULL DEFAULT 0,
    revenue_cents BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, product_id)
);
CREATE INDEX analytics_product_days_seller ON analytics_product_days (seller_id, day);

-- Monthly product rollups (month = yyyymm): a year's top products read
-- twelve rows per product, not 365.
CREATE TABLE analytics_product_months (
    product_id    BIGINT NOT NULL,
    month         BIGINT NOT NULL,
    seller_id     BIGINT NOT NULL,
    units         BIGINT NOT NULL DEFAULT 0,
    revenue_cents BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (month, product_id)
);
CREATE INDEX analytics_product_months_seller ON analytics_product_months (seller_id, month);

-- What the consumer has counted, by a natural key ('paid:<order>',
-- 'refund:<refund>', 'return:<return>'): an event delivered twice, or two
-- events about the same fact, count once.
CREATE TABLE analytics_applied (
    key TEXT PRIMARY KEY,
    at  BIGINT NOT NULL
);
