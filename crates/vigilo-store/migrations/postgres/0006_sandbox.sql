-- Sandbox studies (PostgreSQL). Keep in step with ../sqlite/0006_sandbox.sql.
-- Dataset bytes live in `documents` (content-addressed); only the regulator reads them.

CREATE TABLE sandbox_datasets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES documents (sha256),
    size        BIGINT NOT NULL,
    roles_json  TEXT NOT NULL,
    row_count   BIGINT NOT NULL,
    positive_count BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- A study's protocol is fixed when the study is registered: its hash is kept
-- so every report can show which protocol it was judged against.
CREATE TABLE sandbox_studies (
    id               TEXT PRIMARY KEY,
    reference        TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    dataset_id       TEXT NOT NULL REFERENCES sandbox_datasets (id),
    product_id       TEXT NOT NULL REFERENCES products (id),
    version_id       TEXT NOT NULL REFERENCES product_versions (id),
    vendor_org_id    TEXT NOT NULL REFERENCES organisations (id),
    application_id   TEXT REFERENCES applications (id),
    protocol_json    TEXT NOT NULL,
    protocol_sha256  TEXT NOT NULL,
    max_submissions  BIGINT NOT NULL,
    submissions_used BIGINT NOT NULL,
    status           TEXT NOT NULL,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX sandbox_studies_vendor ON sandbox_studies (vendor_org_id);

CREATE TABLE sandbox_submissions (
    id           TEXT PRIMARY KEY,
    study_id     TEXT NOT NULL REFERENCES sandbox_studies (id),
    kind         TEXT NOT NULL,
    file_sha256  TEXT NOT NULL,
    size         BIGINT NOT NULL,
    counted      BIGINT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT,
    verdict      TEXT,
    report_json  TEXT,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL
);
CREATE INDEX sandbox_submissions_study ON sandbox_submissions (study_id, submitted_at);
