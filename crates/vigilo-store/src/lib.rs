//! The Store: Vigilo's storage over SQLite and PostgreSQL.
//!
//! One set of repository functions runs on both backends through sqlx's `Any`
//! driver with runtime-checked queries. Portable SQL only: `$n` placeholders,
//! TEXT times in RFC 3339 UTC with microseconds, BIGINT/INTEGER integers.
//! Each backend has its own migration tree; a test checks they stay in step.

/// Formats SQL text from constant column lists. Only compile-time constants are
/// ever interpolated; values always go through `bind`.
macro_rules! sqlf {
    ($($arg:tt)*) => {
        sqlx::AssertSqlSafe(format!($($arg)*))
    };
}

mod admin;
mod appraisal;
mod audit;
mod auth;
mod backup;
mod bulk;
mod directory;
mod error;
mod federation;
mod group_commit;
mod incidents;
mod jobs;
mod monitoring;
mod navigator;
mod notices;
mod orgs;
mod sandbox;
mod shared_directory;
mod signals;
pub mod testing;
mod time_fmt;
mod warnings;

pub use admin::AdminUnitRow;
pub use appraisal::{
    Application, ApplicationDocument, ApplicationEvent, ApplicationFilter, Assessment,
    Authorisation, AuthorisationEvent, DecisionInput, ItemAnswer,
};
pub use audit::{AuditEntry, AuditRecord, VerifyOutcome};
pub use auth::{ApiToken, NewUser, Session, User};
pub use backup::{check_sqlite_file, restore_sqlite, sqlite_file, BackupCheck, RestoreOutcome};
pub use directory::{
    search_terms, DirectoryChange, DirectoryEntry, DirectoryPage, DirectoryQuery, Facet,
    FacetCount, ForeignReference, ImportReport, NewProduct, Product, ProductVersion,
    ReferenceRecord, Reliance,
};
pub use error::StoreError;
pub use federation::{
    FeedRows, ItemRefusal, NewPublication, OutboundRecord, PageOutcome, Peer, PublishedItem,
    ReceivedItem, Refusal, ANONYMOUS_RECIPIENT, MAX_PUBLISHED_ITEM_BYTES,
};
pub use incidents::{
    CountBy, CountCell, ImdrfTermRow, Incident, IncidentCode, IncidentEvent, IncidentFilter,
    IncidentMessage, IncidentView, NewIncident, ProductChoice, PublicImport, PublicIncidentFilter,
    PublicIncidentRow, ReporterAccount, Submission,
};
pub use jobs::{JobClaim, JobRun};
pub use monitoring::{
    parse_counts, Alert, AlertFilter, BatchReceipt, Deployment, DeploymentFilter, DeploymentView,
    FacilityPeriodSums, GroupBy, ImpactSums, NewAlert, NewDeployment, ProvinceRollout, ReportSums,
    RowOutcome, StoredReport, Submitter, SumsQuery, Training, UnreadableRow,
};
pub use navigator::{
    AssessedUnit, AssessmentRevision, ReadinessAssessment, ReadinessCell, RecordedSession,
    SessionFilter, ToolTrainingStatus, TrainingCourse, TrainingSession,
};
pub use notices::{FacilityNotice, IssuedNotice, NewNotice, Notice, NoticeRecipient};
pub use orgs::{NewOrganisation, Organisation};
pub use sandbox::{
    NewDataset, NewStudy, SandboxDataset, SandboxStudy, SandboxSubmission, SubmissionOutcome,
};
pub use shared_directory::{
    directory_item_id, received_entry_id, received_reference, ReceivedDirectoryEntry,
};
pub use signals::{
    CellKey, CellReport, Detection, DetectionOutcome, MonthCount, PlaceReport, Signal, SignalEvent,
    SignalFilter, SignalGroup, SignalInput, SignalSnapshot,
};
pub use time_fmt::{format_time, parse_time};
pub use warnings::{WarningBasis, WarningDecision, WarningDraft};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use vigilo_core::Clock;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The packaged 2025 administrative map, loaded at first start.
const ADMIN_UNITS_CSV: &[u8] = include_bytes!("../../../data/vn_admin_units_2025.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The system clock, for production use. Tests pass a fixed or stepped clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    facet_cache: Arc<directory::FacetCache>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    redacted_url: String,
    incident_writer: Arc<group_commit::IncidentWriter>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.redacted_url)
            .finish()
    }
}

/// Removes the password from a database URL so it can be shown in errors and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.rsplit_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

/// Normalises a database URL: `sqlite:` files are created when missing unless a
/// `mode` is given.
fn normalise_url(url: &str) -> Result<(String, Backend), StoreError> {
    let url = url.trim();
    if url.starts_with("sqlite:") {
        let has_mode = url
            .split_once('?')
            .map(|(_, q)| q.split('&').any(|kv| kv.starts_with("mode=")))
            .unwrap_or(false);
        let full = if has_mode || url.contains(":memory:") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        Ok((full, Backend::Sqlite))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((url.to_string(), Backend::Postgres))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// Starts a transaction that will write: on SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so it waits for other writers up front instead of failing at
/// its first write.
pub(crate) async fn begin_write_on(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
    let tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    Ok(tx)
}

impl Store {
    /// Connects without migrating. Fails with a message naming the URL (password
    /// removed) when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with_clock(url, Arc::new(SystemClock)).await
    }

    pub async fn connect_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (full, backend) = normalise_url(url)?;
        let redacted_url = redact_url(url);
        let options = AnyConnectOptions::from_str(&full).map_err(|e| StoreError::Connect {
            url: redacted_url.clone(),
            reason: e.to_string(),
        })?;
        let mut pool_options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            });
        if backend == Backend::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers run beside the writer; FULL sync because this
                    // is a system of record; busy_timeout makes writers wait, not fail.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Connect {
                url: redacted_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Store {
            pool,
            facet_cache: Arc::new(directory::FacetCache::default()),
            backend,
            clock,
            redacted_url,
            incident_writer: Arc::default(),
        })
    }

    /// Connects and brings the schema and reference data up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// The store's clock (the system clock, or the test's).
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn now_text(&self) -> String {
        format_time(self.clock.now())
    }

    /// Applies pending migrations, then loads reference data that is missing.
    /// Returns the number of migrations applied.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before = self.applied_migrations().await.unwrap_or(0);
        migrator.run(&self.pool).await?;
        let after = self.applied_migrations().await?;
        self.load_admin_units(ADMIN_UNITS_CSV).await?;
        Ok(after.saturating_sub(before))
    }

    async fn applied_migrations(&self) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Number of migrations this build knows about.
    pub fn known_migrations(&self) -> usize {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.iter().count(),
            Backend::Postgres => POSTGRES_MIGRATIONS.iter().count(),
        }
    }

    /// Readiness: the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (BEGIN IMMEDIATE), so a transaction that reads then writes never fails
    /// with a lock-upgrade conflict; writers queue on the busy timeout instead.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        begin_write_on(&self.pool, self.backend).await
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Reads a value from the key-value `meta` table.
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Tables and their columns, for the test that keeps the two migration trees in step.
    pub async fn schema_columns(&self) -> Result<Vec<(String, String)>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                // The FTS5 index and its shadow tables are SQLite's search index; PostgreSQL
                // indexes the same column with pg_trgm instead.
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations' \
                 AND m.name NOT LIKE 'directory_fts%' \
                 ORDER BY m.name, p.name"
            }
            Backend::Postgres => {
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
                 ORDER BY table_name, column_name"
            }
        };
        let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        let mut rows = rows;
        rows.sort();
        Ok(rows)
    }
}

/// Random URL-safe token with `bytes` bytes of entropy, hex encoded.
pub(crate) fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 hex of a high-entropy secret (session and API tokens); a slow hash is
/// not needed because the secrets are random, not chosen by people.
pub(crate) fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            redact_url("postgres://vigilo:secret@db:5432/vigilo"),
            "postgres://vigilo:***@db:5432/vigilo"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            normalise_url("sqlite://x.db").map(|x| x.0).ok(),
            Some("sqlite://x.db?mode=rwc".to_string())
        );
        assert_eq!(
            normalise_url("sqlite://x.db?mode=ro").map(|x| x.0).ok(),
            Some("sqlite://x.db?mode=ro".to_string())
        );
        assert!(matches!(
            normalise_url("mysql://a:b@c/d"),
            Err(StoreError::UnsupportedUrl(u)) if u == "mysql://a:***@c/d"
        ));
    }
}
