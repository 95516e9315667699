-- Appraisal and licensing (SQLite). Keep in step with ../postgres/0004_appraisal.sql.

-- Named counters for human reference numbers (HS-2026-000042, GP-2026-000007).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- Evidence files, content-addressed: the same bytes are stored once.
CREATE TABLE documents (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    content    BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    product_id    TEXT NOT NULL REFERENCES products (id),
    version_id    TEXT NOT NULL REFERENCES product_versions (id),
    vendor_org_id TEXT NOT NULL REFERENCES organisations (id),
    state         TEXT NOT NULL,
    paused_from   TEXT,
    outcome       TEXT,
    frameworks    TEXT NOT NULL,
    reviewer_id   TEXT REFERENCES users (id),
    decision_reasons TEXT,
    conditions_json  TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    state_since   TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX applications_vendor ON applications (vendor_org_id);
CREATE INDEX applications_version ON applications (version_id);
CREATE INDEX applications_state ON applications (state);

-- Every transition, in order: the service clocks are computed from these rows.
CREATE TABLE application_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    at             TEXT NOT NULL,
    actor_id       TEXT NOT NULL,
    command        TEXT NOT NULL,
    from_state     TEXT NOT NULL,
    to_state       TEXT NOT NULL,
    reason         TEXT NOT NULL
);
CREATE INDEX application_events_app ON application_events (application_id, seq);

CREATE TABLE application_documents (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id),
    sha256         TEXT NOT NULL REFERENCES documents (sha256),
    filename       TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    size           INTEGER NOT NULL,
    item_ref       TEXT,
    uploaded_by    TEXT NOT NULL,
    uploaded_at    TEXT NOT NULL
);
CREATE INDEX application_documents_app ON application_documents (application_id);

-- The vendor's answers and each reviewer's assessment per checklist item, keyed
-- by framework and version so a newer framework never breaks older dossiers.
CREATE TABLE checklist_answers (
    application_id    TEXT NOT NULL REFERENCES applications (id),
    framework         TEXT NOT NULL,
    framework_version INTEGER NOT NULL,
    item_id           TEXT NOT NULL,
    value             TEXT NOT NULL,
    note              TEXT NOT NULL,
    updated_by        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (application_id, framework, framework_version, item_id)
);

CREATE TABLE review_assessments (
    application_id    TEXT NOT NULL REFERENCES applications (id),
    reviewer_id       TEXT NOT NULL REFERENCES users (id),
    framework         TEXT NOT NULL,
    framework_version INTEGER NOT NULL,
    item_id           TEXT NOT NULL,
    value             TEXT NOT NULL,
    note              TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (application_id, reviewer_id, framework, framework_version, item_id)
);

CREATE TABLE authorisations (
    id              TEXT PRIMARY KEY,
    reference       TEXT NOT NULL UNIQUE,
    application_id  TEXT REFERENCES applications (id),
    product_id      TEXT NOT NULL REFERENCES products (id),
    version_id      TEXT NOT NULL REFERENCES product_versions (id),
    jurisdiction    TEXT NOT NULL,
    status          TEXT NOT NULL,
    basis           TEXT NOT NULL,
    parent_id       TEXT REFERENCES authorisations (id),
    outcome         TEXT NOT NULL,
    conditions_json TEXT NOT NULL,
    granted_at      TEXT NOT NULL,
    expires_on      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX authorisations_product ON authorisations (product_id);
CREATE INDEX authorisations_version ON authorisations (version_id);
CREATE INDEX authorisations_due ON authorisations (status, expires_on);

CREATE TABLE authorisation_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    authorisation_id TEXT NOT NULL REFERENCES authorisations (id),
    at               TEXT NOT NULL,
    actor_id         TEXT NOT NULL,
    command          TEXT NOT NULL,
    from_status      TEXT NOT NULL,
    to_status        TEXT NOT NULL,
    reason           TEXT NOT NULL
);
CREATE INDEX authorisation_events_auth ON authorisation_events (authorisation_id, seq);
