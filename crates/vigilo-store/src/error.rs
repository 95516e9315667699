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
        match self {
            StoreError::Connect { .. }
            | StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => true,
            StoreError::Db(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| is_unavailable_sqlstate(&c))
            }
            _ => false,
        }
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

/// PostgreSQL's codes for "the server is going away or not there yet": connection
/// exceptions (class 08), shutdown and start-up (57P01-57P03), too many connections.
/// A restart of the database answers these; the client should come back later.
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
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

#[cfg(test)]
mod tests {
    use super::is_unavailable_sqlstate;

    #[test]
    fn restart_codes_are_unavailable_and_constraint_codes_are_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_sqlstate(code), "{code}");
        }
        // unique violation, serialization failure, syntax error, disk full: not a restart
        for code in ["23505", "40001", "42601", "53100", "57014"] {
            assert!(!is_unavailable_sqlstate(code), "{code}");
        }
    }
}
