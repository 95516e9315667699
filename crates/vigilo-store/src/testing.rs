//! Fresh databases for tests on either backend. Used by the store's conformance
//! suite and the server test harness; the caller decides (from its environment)
//! whether a PostgreSQL server is available.

use crate::{random_token, Store, StoreError};
use sqlx::Connection;
use std::path::PathBuf;

/// A throw-away database: a SQLite file in the temp directory, or a new database
/// on a PostgreSQL server. Removed by `cleanup` (PostgreSQL) or on drop (SQLite).
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    sqlite_dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> Result<TestDb, StoreError> {
        let dir = std::env::temp_dir().join(format!("vigilo-test-{}", random_token(8)));
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::Invalid {
            field: "temp dir",
            reason: e.to_string(),
        })?;
        let url = format!("sqlite://{}", dir.join("test.db").display());
        Ok(TestDb {
            url,
            sqlite_dir: Some(dir),
            pg: None,
        })
    }

    /// Creates a fresh database on the server named by `admin_url` (any database on
    /// that server the user may connect to).
    pub async fn postgres(admin_url: &str) -> Result<TestDb, StoreError> {
        sqlx::any::install_default_drivers();
        let name = format!("vigilo_test_{}", random_token(6));
        let mut conn =
            sqlx::AnyConnection::connect(admin_url)
                .await
                .map_err(|e| StoreError::Connect {
                    url: crate::redact_url(admin_url),
                    reason: e.to_string(),
                })?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let (base, query) = match admin_url.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin_url, String::new()),
        };
        let server = base.rsplit_once('/').map(|(s, _)| s).unwrap_or(base);
        Ok(TestDb {
            url: format!("{server}/{name}{query}"),
            sqlite_dir: None,
            pg: Some((admin_url.to_string(), name)),
        })
    }

    pub async fn open(&self) -> Result<Store, StoreError> {
        Store::open(&self.url).await
    }

    /// Drops a PostgreSQL test database (close every Store on it first).
    pub async fn cleanup(mut self) {
        if let Some((admin, name)) = self.pg.take() {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs each named `async fn(&TestDb)` as a test on SQLite, and on PostgreSQL when
/// `VIGILO_TEST_POSTGRES_URL` names a server (CI sets it; without it the PostgreSQL
/// tests print that they were skipped). Test crates need `tokio` with `macros`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = match $crate::testing::TestDb::sqlite() {
                        Ok(db) => db,
                        Err(e) => panic!("cannot create a SQLite test database: {e}"),
                    };
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Ok(url) = std::env::var("VIGILO_TEST_POSTGRES_URL") else {
                        eprintln!("skipped: set VIGILO_TEST_POSTGRES_URL to run on PostgreSQL");
                        return;
                    };
                    let db = match $crate::testing::TestDb::postgres(&url).await {
                        Ok(db) => db,
                        Err(e) => panic!("cannot create a PostgreSQL test database on {}: {e}", $crate::redact_url(&url)),
                    };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}
