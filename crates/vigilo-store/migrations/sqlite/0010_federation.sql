-- GRN federation (SQLite): this node's identity, pinned peers and their sync state, the
-- signed items this node publishes, the items received from peers, request nonces, the
-- outbound record and refusals. Keep in step with ../postgres/0010_federation.sql.
-- No patient data: items are directory entries, early warnings, safety notices and
-- retractions. The node's private key seed is never stored here (it lives in a key file).

-- This node: one row (id = 1), written at start from the key file and the configuration.
CREATE TABLE fed_node (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    name       TEXT NOT NULL,
    country    TEXT NOT NULL,
    base_url   TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Peers pinned by the admin. A removed peer keeps its row (removed_at set); adding the same
-- key again makes a new row, so at most one live row per key.
CREATE TABLE fed_peers (
    id              TEXT PRIMARY KEY,
    key_id          TEXT NOT NULL,
    identity_line   TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    country         TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    name            TEXT NOT NULL,
    added_by        TEXT NOT NULL,
    added_at        TEXT NOT NULL,
    removed_by      TEXT,
    removed_at      TEXT,
    -- Sync state: the last feed position taken from this peer (NULL: from the start).
    feed_cursor     BIGINT,
    last_success_at TEXT,
    last_error      TEXT,
    last_error_at   TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT
);
CREATE UNIQUE INDEX fed_peers_live_key ON fed_peers (key_id) WHERE removed_at IS NULL;

-- fed_feed_head serialises publishing, so feed positions commit in increasing order.
CREATE TABLE fed_feed_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO fed_feed_head (id, position) VALUES (1, 0);

-- Items this node signed, in feed order. A newer version of an id supersedes the older
-- row, which is then no longer served.
CREATE TABLE fed_published (
    position       BIGINT PRIMARY KEY,
    item_type      TEXT NOT NULL CHECK (item_type IN ('directory_entry', 'early_warning', 'safety_notice', 'retraction')),
    item_id        TEXT NOT NULL,
    version        BIGINT NOT NULL,
    audience_json  TEXT NOT NULL,
    wire           TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    superseded     INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),
    published_by   TEXT NOT NULL,
    published_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX fed_published_version ON fed_published (item_id, version);
CREATE INDEX fed_published_served ON fed_published (superseded, position);

-- Items received from peers, verified, one row per (origin key, id): the newest version.
CREATE TABLE fed_received (
    origin_key_id  TEXT NOT NULL,
    item_id        TEXT NOT NULL,
    origin_country TEXT NOT NULL,
    version        BIGINT NOT NULL,
    item_type      TEXT NOT NULL,
    hidden         INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    content_digest TEXT NOT NULL,
    wire           TEXT NOT NULL,
    issued_at      TEXT NOT NULL,
    peer_id        TEXT NOT NULL REFERENCES fed_peers (id),
    received_at    TEXT NOT NULL,
    PRIMARY KEY (origin_key_id, item_id)
);
CREATE INDEX fed_received_shown ON fed_received (hidden, item_type, issued_at);

-- Nonces of verified signed requests, kept until they could no longer pass the skew check.
CREATE TABLE fed_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX fed_nonces_expiry ON fed_nonces (expires_at);

-- Every item served: what, which version, to whom ('anonymous' or a peer's key id), when.
-- For the transfer impact assessment the personal data protection law asks for.
CREATE TABLE fed_outbound (
    id                TEXT PRIMARY KEY,
    position          BIGINT NOT NULL,
    item_type         TEXT NOT NULL,
    item_id           TEXT NOT NULL,
    version           BIGINT NOT NULL,
    recipient         TEXT NOT NULL,
    recipient_country TEXT,
    sent_at           TEXT NOT NULL
);
CREATE INDEX fed_outbound_sent ON fed_outbound (sent_at, id);

-- Refused incoming items and refused feed requests: why, never the refused content.
CREATE TABLE fed_refusals (
    id        TEXT PRIMARY KEY,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('item', 'page', 'request')),
    peer_id   TEXT,
    key_id    TEXT,
    position  BIGINT,
    item_id   TEXT,
    reason    TEXT NOT NULL
);
CREATE INDEX fed_refusals_at ON fed_refusals (at, id);
