-- Yearly product rollups, shop-wide (year = yyyy): a shop-wide report over
-- the last 365 days reads the current year's row per product less the days
-- after the range (none: they have not happened) plus the rest from the
-- previous year's months and days — about a third of the rows months alone
-- need (shop/analytics.c). Seller reports keep to months and days.
CREATE TABLE analytics_product_years (
    product_id    INTEGER NOT NULL,
    year          INTEGER NOT NULL,
    units         INTEGER NOT NULL DEFAULT 0,
    revenue_cents INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (year, product_id)
) WITHOUT ROWID;

INSERT INTO analytics_product_years (product_id, year, units, revenue_cents)
SELECT product_id, month / 100, sum(units), sum(revenue_cents)
FROM analytics_product_months GROUP BY month / 100, product_id;
