-- Deployments and post-deployment monitoring (PostgreSQL). Keep in step with
-- ../sqlite/0007_monitoring.sql. Reports are aggregates per period, never patient rows.

-- Who was trained on a product at a facility: how many, not who (training is part of the Navigator).
CREATE TABLE training_records (
    id            TEXT PRIMARY KEY,
    facility_id   TEXT NOT NULL REFERENCES organisations (id),
    product_id    TEXT NOT NULL REFERENCES products (id),
    trained_on    TEXT NOT NULL,
    course        TEXT NOT NULL,
    staff_trained BIGINT NOT NULL CHECK (staff_trained > 0),
    recorded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX training_records_facility ON training_records (facility_id, product_id);

-- What every deployment of a version reports besides the fixed counts (bins, counters).
CREATE TABLE monitoring_declarations (
    version_id       TEXT PRIMARY KEY REFERENCES product_versions (id),
    declaration_json TEXT NOT NULL,
    updated_by       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- Province and commune are copied from the facility so that KPI tables group without joins.
CREATE TABLE deployments (
    id               TEXT PRIMARY KEY,
    product_id       TEXT NOT NULL REFERENCES products (id),
    version_id       TEXT NOT NULL REFERENCES product_versions (id),
    facility_id      TEXT NOT NULL REFERENCES organisations (id),
    authorisation_id TEXT NOT NULL REFERENCES authorisations (id),
    training_id      TEXT NOT NULL REFERENCES training_records (id),
    province_code    TEXT NOT NULL,
    unit_code        TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('planned', 'active', 'paused', 'ended')),
    frequency        TEXT NOT NULL CHECK (frequency IN ('day', 'week', 'month')),
    go_live          TEXT NOT NULL,
    end_date         TEXT,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX deployments_facility ON deployments (facility_id);
CREATE INDEX deployments_version ON deployments (version_id);
CREATE INDEX deployments_product_province ON deployments (product_id, province_code);

CREATE TABLE deployment_events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    at            TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    from_status   TEXT NOT NULL,
    to_status     TEXT NOT NULL,
    reason        TEXT NOT NULL
);
CREATE INDEX deployment_events_deployment ON deployment_events (deployment_id, seq);

-- The current revision of each deployment x period. report_key is `deployment/period`, so a
-- resend finds its row by one key; period_anchor (an ISO date) gathers rows into coarser periods.
-- baseline = 1 for a period that ended on or before go-live (counts without the AI): AI KPIs
-- and reporting status leave those rows out; the impact assessment reads them.
CREATE TABLE monitoring_reports (
    report_key        TEXT PRIMARY KEY,
    deployment_id     TEXT NOT NULL REFERENCES deployments (id),
    product_id        TEXT NOT NULL,
    version_id        TEXT NOT NULL,
    facility_id       TEXT NOT NULL,
    province_code     TEXT NOT NULL,
    unit_code         TEXT NOT NULL,
    period            TEXT NOT NULL,
    period_start      TEXT NOT NULL,
    period_anchor     TEXT NOT NULL,
    baseline          BIGINT NOT NULL DEFAULT 0 CHECK (baseline IN (0, 1)),
    uses              BIGINT NOT NULL,
    positives         BIGINT NOT NULL,
    tp                BIGINT,
    fp                BIGINT,
    fn                BIGINT,
    tn                BIGINT,
    overrides         BIGINT NOT NULL,
    escalations       BIGINT NOT NULL,
    downtime_minutes  BIGINT NOT NULL,
    latency_p50_ms    DOUBLE PRECISION,
    latency_p95_ms    DOUBLE PRECISION,
    score_histogram   TEXT NOT NULL,
    mix_json          TEXT NOT NULL,
    counters_json     TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    revision          BIGINT NOT NULL,
    source            TEXT NOT NULL,
    first_received_at TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    received_by       TEXT NOT NULL
);
CREATE INDEX monitoring_reports_anchor ON monitoring_reports (period_anchor, product_id);
CREATE INDEX monitoring_reports_deployment ON monitoring_reports (deployment_id, period_start);

-- Earlier revisions, kept whole when a late correction replaces them.
CREATE TABLE monitoring_report_revisions (
    report_key    TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    row_json      TEXT NOT NULL,
    received_at   TEXT NOT NULL,
    superseded_at TEXT NOT NULL,
    PRIMARY KEY (report_key, revision)
);

-- Declared extra counters (unsafe answers, confirmatory tests), one row each so SQL can sum them.
CREATE TABLE monitoring_report_counters (
    report_key TEXT NOT NULL REFERENCES monitoring_reports (report_key),
    name       TEXT NOT NULL,
    value      BIGINT NOT NULL,
    PRIMARY KEY (report_key, name)
);

-- One receipt per batch, whatever way it came in.
CREATE TABLE monitoring_batches (
    id              TEXT PRIMARY KEY,
    receipt         TEXT NOT NULL UNIQUE,
    source          TEXT NOT NULL,
    received_by     TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    row_count       BIGINT NOT NULL,
    accepted        BIGINT NOT NULL,
    unchanged       BIGINT NOT NULL,
    revised         BIGINT NOT NULL,
    rejected        BIGINT NOT NULL
);

CREATE TABLE monitoring_alerts (
    id            TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    product_id    TEXT NOT NULL,
    province_code TEXT NOT NULL,
    metric        TEXT NOT NULL,
    method        TEXT NOT NULL,
    period        TEXT NOT NULL,
    level         TEXT NOT NULL CHECK (level IN ('watch', 'act')),
    value         DOUBLE PRECISION NOT NULL,
    threshold     DOUBLE PRECISION NOT NULL,
    evidence_json TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('new', 'acknowledged', 'resolved')),
    note          TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    updated_by    TEXT,
    UNIQUE (deployment_id, metric, method, period)
);
CREATE INDEX monitoring_alerts_state ON monitoring_alerts (state, created_at);
CREATE INDEX monitoring_alerts_product ON monitoring_alerts (product_id);
