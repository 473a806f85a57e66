-- When a promotion's usage limit was reached, and when a single-use code was
-- used (shop/promo.h, Limits): a checkout refuses a promotion the cart may
-- have shown only when its limit was reached after the cart last changed.
-- NULL on rows from before: those limits were reached before any cart now
-- open was last shown, as far as anyone can tell.
ALTER TABLE promotions ADD COLUMN limit_reached_at BIGINT;
ALTER TABLE promotion_codes ADD COLUMN used_at BIGINT;
