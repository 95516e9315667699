-- Early warning: incident reports, their codes, triage history and the vendor's answers
-- (SQLite). Keep in step with ../postgres/0008_early_warning.sql.
-- Narratives are stored only after de-identification; no patient identifier has a column.

-- IMDRF adverse event terminology (annexes A to G), loaded by `vigilo import imdrf FILE`.
CREATE TABLE imdrf_terms (
    code       TEXT PRIMARY KEY,
    annex      TEXT NOT NULL,
    term       TEXT NOT NULL,
    definition TEXT NOT NULL,
    parent     TEXT,
    level      INTEGER NOT NULL,
    loaded_at  TEXT NOT NULL
);
CREATE INDEX imdrf_terms_annex ON imdrf_terms (annex, code);

-- One row per report. product_id may be empty when the reporter did not know the product
-- (product_text says what they called it; foreign_reference_id links a device on a foreign
-- regulator's list, as in imported MAUDE reports); version_id and deployment_id are filled from the
-- facility's deployment when the reporter named the product and the site but not the version.
-- external_id is the public source's key (MAUDE report key, AIID incident id), so a second
-- import of the same file adds nothing. client_key is the reporter's own key for a resend
-- from an offline draft.
CREATE TABLE incidents (
    id                   TEXT PRIMARY KEY,
    receipt              TEXT NOT NULL UNIQUE,
    source               TEXT NOT NULL,
    external_id          TEXT,
    client_key           TEXT,
    reporter_kind        TEXT NOT NULL,
    reporter_user_id     TEXT REFERENCES users (id),
    reporter_org_id      TEXT REFERENCES organisations (id),
    product_id           TEXT REFERENCES products (id),
    version_id           TEXT REFERENCES product_versions (id),
    product_text         TEXT,
    foreign_reference_id TEXT REFERENCES foreign_references (id),
    manufacturer_text    TEXT,
    deployment_id        TEXT REFERENCES deployments (id),
    facility_id          TEXT REFERENCES organisations (id),
    province_code        TEXT,
    unit_code            TEXT,
    country              TEXT NOT NULL,
    occurred_on          TEXT,
    aware_on             TEXT,
    received_at          TEXT NOT NULL,
    received_on          TEXT NOT NULL,
    seriousness          TEXT NOT NULL CHECK (seriousness IN ('death', 'serious_injury', 'other_injury', 'malfunction', 'near_miss')),
    public_health_threat INTEGER NOT NULL DEFAULT 0 CHECK (public_health_threat IN (0, 1)),
    narrative            TEXT NOT NULL,
    redactions_json      TEXT NOT NULL,
    patient_sex          TEXT,
    patient_age_band     TEXT,
    state                TEXT NOT NULL CHECK (state IN ('received', 'triaged', 'investigating', 'closed')),
    deadline             TEXT NOT NULL,
    causality            TEXT,
    duplicate_of         TEXT REFERENCES incidents (id),
    completeness         REAL NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX incidents_external ON incidents (source, external_id);
CREATE UNIQUE INDEX incidents_client_key ON incidents (client_key);
CREATE INDEX incidents_product ON incidents (product_id, received_on);
CREATE INDEX incidents_state ON incidents (state, deadline);
CREATE INDEX incidents_received ON incidents (received_at, id);
CREATE INDEX incidents_facility ON incidents (facility_id);
CREATE INDEX incidents_foreign ON incidents (foreign_reference_id);

-- IMDRF and AI codes given to a report by a reviewer (system 'imdrf' or 'ai'), and a public
-- source's own codes kept by the importer (system 'source', e.g. maude_event_type:IN).
CREATE TABLE incident_codes (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    code        TEXT NOT NULL,
    system      TEXT NOT NULL CHECK (system IN ('imdrf', 'ai', 'source')),
    assigned_by TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    PRIMARY KEY (incident_id, code)
);
CREATE INDEX incident_codes_code ON incident_codes (code, incident_id);

CREATE TABLE incident_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, seq);

-- The conversation between the regulator and the manufacturer about a report.
CREATE TABLE incident_messages (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          TEXT NOT NULL,
    author_id   TEXT NOT NULL,
    author_role TEXT NOT NULL CHECK (author_role IN ('regulator', 'vendor')),
    body        TEXT NOT NULL
);
CREATE INDEX incident_messages_incident ON incident_messages (incident_id, at);

-- Signals found by the detection job (vigilo-stats methods over the stored reports). One row
-- per signal_key (method, product or version, code, region): a daily run updates the signal it
-- found before. product_key is a product id, a version as `product@version`, or `fda:<id>` for a
-- device on the FDA list (imported MAUDE reports).
CREATE TABLE signals (
    id                TEXT PRIMARY KEY,
    signal_key        TEXT NOT NULL UNIQUE,
    method            TEXT NOT NULL CHECK (method IN ('disproportionality', 'rate', 'cluster')),
    product_key       TEXT NOT NULL,
    product_label     TEXT NOT NULL,
    product_id        TEXT REFERENCES products (id),
    version_id        TEXT REFERENCES product_versions (id),
    code              TEXT NOT NULL,
    region            TEXT NOT NULL,
    window_start      TEXT,
    window_end        TEXT,
    observed          INTEGER NOT NULL,
    expected          REAL NOT NULL,
    score_label       TEXT NOT NULL,
    score             REAL NOT NULL,
    evidence_json     TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('new', 'under_review', 'confirmed', 'refuted')),
    still_detected    INTEGER NOT NULL CHECK (still_detected IN (0, 1)),
    first_detected_at TEXT NOT NULL,
    last_detected_at  TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX signals_state ON signals (state, last_detected_at);
CREATE INDEX signals_product ON signals (product_id);

-- The reports behind a signal, as of its last detection.
CREATE TABLE signal_incidents (
    signal_id   TEXT NOT NULL REFERENCES signals (id),
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    PRIMARY KEY (signal_id, incident_id)
);
CREATE INDEX signal_incidents_incident ON signal_incidents (incident_id);

CREATE TABLE signal_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    signal_id  TEXT NOT NULL REFERENCES signals (id),
    at         TEXT NOT NULL,
    actor_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX signal_events_signal ON signal_events (signal_id, seq);

-- Safety notices: a field safety notice or a suspension for some versions of a product, most
-- often from a confirmed signal. Every deployment of those versions at the time of issue is a
-- recipient and its facility acknowledges it; a suspension also suspends the versions'
-- licences and pauses their running deployments, in the same transaction.
CREATE TABLE safety_notices (
    id        TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    kind      TEXT NOT NULL CHECK (kind IN ('field_safety_notice', 'suspension')),
    product_id TEXT NOT NULL REFERENCES products (id),
    signal_id TEXT REFERENCES signals (id),
    title_vi  TEXT NOT NULL,
    title_en  TEXT NOT NULL,
    body_vi   TEXT NOT NULL,
    body_en   TEXT NOT NULL,
    action_vi TEXT NOT NULL,
    action_en TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE INDEX safety_notices_product ON safety_notices (product_id, issued_at);

CREATE TABLE safety_notice_versions (
    notice_id  TEXT NOT NULL REFERENCES safety_notices (id),
    version_id TEXT NOT NULL REFERENCES product_versions (id),
    PRIMARY KEY (notice_id, version_id)
);

CREATE TABLE safety_notice_recipients (
    notice_id       TEXT NOT NULL REFERENCES safety_notices (id),
    deployment_id   TEXT NOT NULL REFERENCES deployments (id),
    facility_id     TEXT NOT NULL REFERENCES organisations (id),
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    PRIMARY KEY (notice_id, deployment_id)
);
CREATE INDEX safety_notice_recipients_facility ON safety_notice_recipients (facility_id, notice_id);
