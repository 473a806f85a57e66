-- Reviews (ENG-1). shop/review.h is the essay: the state machine these
-- columns carry and who moves each transition.
--
-- A review row holds its *published* version (rating, title, body) and, for
-- an approved review whose edit is held for moderation, the edit beside it
-- (edit_*): until the edit is approved the published version stays public
-- and counted in products.rating_*. `held` is 1 exactly when something
-- awaits a moderator (a pending review or a held edit); the CHECK keeps it
-- true, and the admin queue is one range of reviews_held.
CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY,
    product_id    INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status = 'pending' OR status = 'approved' OR
                                       status = 'rejected'),
    rating        INTEGER NOT NULL CHECK (rating >= 1 AND rating <= 5),
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    verified      INTEGER NOT NULL DEFAULT 0,    -- the author bought it (when last written)
    helpful_count INTEGER NOT NULL DEFAULT 0,
    held_for      INTEGER NOT NULL DEFAULT 0,    -- moderation reasons (MOD_* bits) of what is held
    held          INTEGER NOT NULL DEFAULT 0,
    edit_rating   INTEGER CHECK (edit_rating IS NULL OR edit_rating >= 1 AND edit_rating <= 5),
    edit_title    TEXT,
    edit_body     TEXT,
    reply_body    TEXT,                          -- the seller's one public reply
    reply_by      INTEGER,
    reply_at      INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (product_id, user_id),
    CHECK (edit_rating IS NULL OR status = 'approved'),
    CHECK (held = 0 AND status <> 'pending' AND edit_rating IS NULL OR
           held = 1 AND (status = 'pending' OR edit_rating IS NOT NULL))
);
-- A product's approved reviews in each order the list offers, so a page is
-- one index range (keyset cursors: sort key, then id).
CREATE INDEX reviews_helpful ON reviews (product_id, status, helpful_count, id);
CREATE INDEX reviews_newest ON reviews (product_id, status, created_at, id);
CREATE INDEX reviews_rating ON reviews (product_id, status, rating, id);
CREATE INDEX reviews_held ON reviews (held, id);
CREATE INDEX reviews_status ON reviews (status, id);
CREATE INDEX reviews_user ON reviews (user_id);

-- One helpful vote per user per review.
CREATE TABLE review_votes (
    review_id  INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (review_id, user_id)
);
CREATE INDEX review_votes_user ON review_votes (user_id);

-- Every status move (shop/status.h appends here).
CREATE TABLE review_history (
    id        INTEGER PRIMARY KEY,
    review_id INTEGER NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    status    TEXT NOT NULL,
    note      TEXT,
    at        INTEGER NOT NULL
);
CREATE INDEX review_history_review ON review_history (review_id, id);

