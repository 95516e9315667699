-- Directory (PostgreSQL). Keep in step with ../sqlite/0002_directory.sql.

CREATE TABLE products (
    id                    TEXT PRIMARY KEY,
    manufacturer_id       TEXT NOT NULL REFERENCES organisations (id),
    name                  TEXT NOT NULL,
    name_en               TEXT,
    clinical_area         TEXT NOT NULL,
    input_modality        TEXT NOT NULL,
    ai_kind               TEXT NOT NULL,
    country               TEXT NOT NULL,
    domestic              BIGINT NOT NULL,
    licence_status        TEXT NOT NULL DEFAULT 'not_licensed',
    classification_json   TEXT,
    risk_class            TEXT,
    classification_status TEXT NOT NULL DEFAULT 'unclassified',
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (manufacturer_id, name)
);

CREATE TABLE product_versions (
    id              TEXT PRIMARY KEY,
    product_id      TEXT NOT NULL REFERENCES products (id),
    version         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'published', 'withdrawn')),
    model_card_json TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    published_at    TEXT,
    withdrawn_at    TEXT,
    UNIQUE (product_id, version)
);
CREATE INDEX product_versions_product ON product_versions (product_id);

-- Entries of foreign regulators' lists (FDA's AI-enabled device list first).
CREATE TABLE foreign_references (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    reference     TEXT NOT NULL,
    device        TEXT NOT NULL,
    company       TEXT NOT NULL,
    panel         TEXT NOT NULL,
    product_code  TEXT NOT NULL,
    decision_date TEXT NOT NULL,
    list_label    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (source, reference)
);

CREATE TABLE product_reliance (
    product_id   TEXT NOT NULL REFERENCES products (id),
    reference_id TEXT NOT NULL REFERENCES foreign_references (id),
    rationale    TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (product_id, reference_id)
);

-- One searchable row per public entry, local or foreign, kept by the store in
-- the same transaction as the change. search_text is folded (vigilo_core::text::fold).
CREATE TABLE directory_entries (
    id             TEXT PRIMARY KEY,
    source         TEXT NOT NULL,
    name           TEXT NOT NULL,
    sort_name      TEXT NOT NULL,
    manufacturer   TEXT NOT NULL,
    country        TEXT NOT NULL,
    domestic       BIGINT NOT NULL,
    clinical_area  TEXT NOT NULL,
    risk_class     TEXT NOT NULL,
    licence_status TEXT NOT NULL,
    modality       TEXT NOT NULL,
    summary        TEXT NOT NULL,
    search_text    TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX directory_entries_sort ON directory_entries (sort_name, id);

CREATE TABLE directory_changes (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL
);

-- Trigram index over the folded text: substring search with LIKE '%...%'.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX directory_entries_search ON directory_entries USING gin (search_text gin_trgm_ops);
