use thiserror::Error;

/// Errors from the store. Callers map them to messages and HTTP problems.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL '{0}': use sqlite://path/file.db or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    #[error("cannot connect to database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{what} not found: {key}")]
    NotFound { what: &'static str, key: String },
    #[error("{what} already exists: {key}")]
    Conflict { what: &'static str, key: String },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("reference data is invalid: {0}")]
    ReferenceData(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("background task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// True when the database itself is unreachable or overloaded, so the caller
    /// should answer "try again" (503) rather than "bad request".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Connect { .. }
                | StoreError::Db(
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
                )
        )
    }

    /// Maps a unique-constraint violation to `Conflict`, leaving other errors alone.
    pub(crate) fn on_unique(self, what: &'static str, key: &str) -> StoreError {
        if let StoreError::Db(sqlx::Error::Database(db)) = &self {
            if db.is_unique_violation() {
                return StoreError::Conflict {
                    what,
                    key: key.to_string(),
                };
            }
        }
        self
    }
}

/// A value the caller gave is not acceptable; the reason says what to change.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Nothing of this kind has this key.
pub(crate) fn not_found(what: &'static str, key: &str) -> StoreError {
    StoreError::NotFound {
        what,
        key: key.into(),
    }
}
