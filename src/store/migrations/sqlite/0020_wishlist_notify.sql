-- Wishlists (ENG-2), devices and notification preferences (ACC-5), and the
-- durable notification store with its fan-outs (NTF-1…4). See shop/notify.h
-- for the state machine these tables carry.

-- The primary key is a user's own list; wishlist_product is the reverse
-- index: "everyone who wishlisted P" is one range of it, read in user-id
-- order in chunks (work/fanout.c), however many users that is.
CREATE TABLE wishlist (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, product_id)
) WITHOUT ROWID;
CREATE INDEX wishlist_product ON wishlist (product_id, user_id);

-- Push targets. A token belongs to the user who registered it last (a
-- phone that changes hands follows its new owner).
CREATE TABLE devices (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform   TEXT NOT NULL CHECK (platform = 'ios' OR platform = 'android' OR
                                    platform = 'web'),
    token      TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);

-- Per-channel opt-in; no row means the defaults (push on, email on, sms off).
CREATE TABLE notification_prefs (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    push       INTEGER NOT NULL,
    email      INTEGER NOT NULL,
    sms        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per thing worth telling people about. event_key names the event
-- ('flash_sale:7', 'order.confirmed:42', 'price_drop:12:1999', ...); it is
-- unique, so a trigger that runs twice finds its message again.
CREATE TABLE notify_messages (
    id         INTEGER PRIMARY KEY,
    event_key  TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',           -- JSON object
    created_at INTEGER NOT NULL
);

-- One row per (message, user, channel): the dedup key is that triple, so
-- nobody is told the same thing twice on one channel, across retries and
-- restarts. channel: 0 push, 1 email, 2 sms. state: 0 pending, 1 sent,
-- 2 failed (retrying at next_at), 3 dead, 4 skipped (no address or opted
-- out by the time it was sent). Integers keep the 500,000-row fan-out lean.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES notify_messages (id),
    user_id    INTEGER NOT NULL,
    channel    INTEGER NOT NULL CHECK (channel BETWEEN 0 AND 2),
    state      INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX notifications_dedup ON notifications (message_id, user_id, channel);
-- Only rows still owed a delivery attempt: small however large the table.
CREATE INDEX notifications_due ON notifications (next_at) WHERE state IN (0, 2);
CREATE INDEX notifications_dead ON notifications (id) WHERE state = 3;

-- A fan-out owed to every wishlister of a product. cursor_user advances in
-- the same transaction as the notification rows of each chunk, so a crash
-- resumes exactly where the last committed chunk ended.
CREATE TABLE notify_fanouts (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL UNIQUE REFERENCES notify_messages (id),
    product_id    INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    cursor_user   INTEGER NOT NULL DEFAULT 0,       -- wishlisters up to here are done
    users_total   INTEGER NOT NULL DEFAULT -1,      -- counted when the first chunk runs
    users_done    INTEGER NOT NULL DEFAULT 0,
    notifications INTEGER NOT NULL DEFAULT 0,       -- rows created
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
);
CREATE INDEX notify_fanouts_running ON notify_fanouts (state, id) WHERE state = 'running';
