-- Early warnings for GRN peers on their way out: composed by a reviewer from a confirmed
-- signal, approved by an admin (not the composer), then signed and published to the feed.
-- payload_json is exactly what will be signed; nothing is re-derived at approval.
CREATE TABLE warning_drafts (
    id             TEXT PRIMARY KEY,
    signal_id      TEXT NOT NULL REFERENCES signals (id),
    reference      TEXT NOT NULL,
    payload_json   TEXT NOT NULL,
    audience_json  TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('awaiting_approval', 'returned', 'withdrawn', 'published', 'retracted')),
    composed_by    TEXT NOT NULL,
    composed_at    TEXT NOT NULL,
    decided_by     TEXT,
    decided_at     TEXT,
    reason         TEXT,
    item_id        TEXT,
    item_version   BIGINT,
    updated_at     TEXT NOT NULL
);
CREATE INDEX warning_drafts_state ON warning_drafts (state, updated_at);
CREATE INDEX warning_drafts_signal ON warning_drafts (signal_id);
