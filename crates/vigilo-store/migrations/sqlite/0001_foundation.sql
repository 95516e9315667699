-- Foundation schema (SQLite). Keep in step with ../postgres/0001_foundation.sql:
-- same tables, same columns (a test compares them).
-- Times are RFC 3339 UTC text with microseconds, so they sort as text on both backends.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE admin_units (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    short_name  TEXT NOT NULL,
    level       TEXT NOT NULL CHECK (level IN ('nation', 'province', 'local')),
    unit_type   TEXT NOT NULL,
    parent_code TEXT REFERENCES admin_units (code),
    area_km2    REAL,
    name_folded TEXT NOT NULL
);
CREATE INDEX admin_units_parent ON admin_units (parent_code);

CREATE TABLE organisations (
    id              TEXT PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('manufacturer', 'facility', 'regulator')),
    name            TEXT NOT NULL,
    name_en         TEXT,
    admin_unit_code TEXT REFERENCES admin_units (code),
    created_at      TEXT NOT NULL,
    CHECK (kind <> 'facility' OR admin_unit_code IS NOT NULL)
);
CREATE INDEX organisations_unit ON organisations (admin_unit_code);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('reporter', 'vendor', 'reviewer', 'admin', 'peer')),
    organisation_id TEXT REFERENCES organisations (id),
    disabled        INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE login_failures (
    id  INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    at  TEXT NOT NULL
);
CREATE INDEX login_failures_key_at ON login_failures (key, at);

-- Append-only, hash-chained. audit_head serialises appends: every append first
-- updates the head row, which takes the write lock on both backends.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id);

CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE jobs (
    name          TEXT PRIMARY KEY,
    interval_secs INTEGER NOT NULL,
    next_run_at   TEXT NOT NULL,
    lease_owner   TEXT,
    lease_until   TEXT,
    last_run_at   TEXT,
    last_status   TEXT
);

CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name      TEXT NOT NULL REFERENCES jobs (name),
    scheduled_for TEXT NOT NULL,
    owner         TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,
    detail        TEXT,
    UNIQUE (job_name, scheduled_for)
);
