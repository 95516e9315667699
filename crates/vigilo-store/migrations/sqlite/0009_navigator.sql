-- The Navigator (SQLite): readiness self-assessments, the training catalogue and sessions,
-- facility types for the readiness map, and the regulator's settings. Keep in step with
-- ../postgres/0009_navigator.sql.

-- A facility's kind, for the readiness map (declared by the facility or an administrator).
CREATE TABLE facility_profiles (
    facility_id   TEXT PRIMARY KEY REFERENCES organisations (id),
    facility_type TEXT NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- One self-assessment by a facility or a provincial health department (org_id) against one
-- framework version. A draft is saved as often as needed (every saved state is kept in
-- readiness_assessment_revisions); a submitted one is frozen. Levels are computed by
-- vigilo_core::navigator::evaluate when saved and stored beside the answers.
CREATE TABLE readiness_assessments (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organisations (id),
    subject_kind          TEXT NOT NULL CHECK (subject_kind IN ('facility', 'province')),
    province_code         TEXT NOT NULL,
    facility_type         TEXT NOT NULL,
    framework_id          TEXT NOT NULL,
    framework_version     INTEGER NOT NULL,
    framework_fingerprint TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('draft', 'submitted')),
    revision              INTEGER NOT NULL,
    answers_json          TEXT NOT NULL,
    score_json            TEXT NOT NULL,
    overall_level         INTEGER NOT NULL,
    overall_mean          REAL NOT NULL,
    answered              INTEGER NOT NULL,
    unanswered            INTEGER NOT NULL,
    created_by            TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_by            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    submitted_by          TEXT,
    submitted_at          TEXT
);
CREATE INDEX readiness_assessments_org ON readiness_assessments (org_id, created_at);
CREATE INDEX readiness_assessments_province ON readiness_assessments (province_code, status);

CREATE TABLE readiness_assessment_revisions (
    assessment_id TEXT NOT NULL REFERENCES readiness_assessments (id),
    revision      INTEGER NOT NULL,
    answers_json  TEXT NOT NULL,
    overall_level INTEGER NOT NULL,
    saved_by      TEXT NOT NULL,
    saved_at      TEXT NOT NULL,
    PRIMARY KEY (assessment_id, revision)
);

CREATE TABLE training_courses (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    audience   TEXT NOT NULL,
    hours      REAL NOT NULL CHECK (hours >= 0),
    provider   TEXT NOT NULL,
    product_id TEXT REFERENCES products (id),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX training_courses_product ON training_courses (product_id);

-- A session held at a facility, or province-wide (facility_id NULL) by a health department.
CREATE TABLE training_sessions (
    id            TEXT PRIMARY KEY,
    course_id     TEXT NOT NULL REFERENCES training_courses (id),
    facility_id   TEXT REFERENCES organisations (id),
    province_code TEXT NOT NULL,
    held_on       TEXT NOT NULL,
    total_trained INTEGER NOT NULL CHECK (total_trained > 0),
    recorded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX training_sessions_facility ON training_sessions (facility_id, held_on);
CREATE INDEX training_sessions_province ON training_sessions (province_code, held_on);

CREATE TABLE training_session_counts (
    session_id TEXT NOT NULL REFERENCES training_sessions (id),
    role       TEXT NOT NULL,
    trained    INTEGER NOT NULL CHECK (trained > 0),
    PRIMARY KEY (session_id, role)
);

-- training_records is now the facility's training status per AI tool, written only from a
-- session of a course on that tool (the deployment check reads it).
ALTER TABLE training_records ADD COLUMN session_id TEXT REFERENCES training_sessions (id);

CREATE TABLE regulator_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
