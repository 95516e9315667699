//! `vigilo backup FILE` and `vigilo restore FILE`: online SQLite backups, checked copies.
//! The work is in `vigilo_store::backup`; this turns its outcomes into operator messages.

use crate::{ConfigFile, DbArgs};
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use vigilo_core::Clock;
use vigilo_store::{BackupCheck, Store, StoreError};

#[derive(Args)]
pub struct BackupArgs {
    /// The new backup file (never overwritten)
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A file written by `vigilo backup`
    pub file: PathBuf,
    /// Replace an existing database; it is kept beside the restored one as
    /// <database>.replaced-<time>
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

const PG_HINT: &str = "PostgreSQL has its own tools: pg_dump --format=custom for a backup, pg_restore to put it back, WAL archiving for point-in-time recovery (docs/operations.md, \"Backups\")";

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

fn summary(c: &BackupCheck) -> String {
    format!(
        "{}; {} incident reports, {} monitoring reports; {} migrations applied; audit chain of {} entries verified",
        megabytes(c.bytes),
        c.incidents,
        c.monitoring_reports,
        c.migrations,
        c.audit_rows
    )
}

/// The federation key lives in a file beside the database, not in it.
fn key_reminder(database: &Path) -> Option<String> {
    let dir = database.parent().filter(|d| !d.as_os_str().is_empty());
    let key = dir.map_or_else(
        || PathBuf::from(crate::peer_cli::DEFAULT_KEY_FILE),
        |d| d.join(crate::peer_cli::DEFAULT_KEY_FILE),
    );
    key.exists().then(|| {
        format!(
            "The node's federation key is not in the database: keep a copy of {} with the backup (it is secret).",
            key.display()
        )
    })
}

pub async fn backup(a: BackupArgs, config: &ConfigFile) -> Result<()> {
    let url = a.db.resolve(config);
    let Some(database) = vigilo_store::sqlite_file(&url) else {
        bail!("vigilo backup copies SQLite databases. {PG_HINT}.");
    };
    if !database.is_file() {
        bail!(
            "there is no database at {}; give the server's --database",
            database.display()
        );
    }
    // Connect without migrating: a backup must not change the database it copies.
    let store = Store::connect(&url).await?;
    let result = store.backup_into(&a.file).await;
    store.close().await;
    match result {
        Ok(check) => {
            println!(
                "backup written to {}: {}",
                a.file.display(),
                summary(&check)
            );
            if let Some(r) = key_reminder(&database) {
                println!("{r}");
            }
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => bail!(
            "{} already exists; backups are never overwritten, give a new file name",
            a.file.display()
        ),
        Err(e) => bail!("backup failed, nothing was written: {e}"),
    }
}

pub async fn restore(a: RestoreArgs, config: &ConfigFile) -> Result<()> {
    let url = a.db.resolve(config);
    let Some(database) = vigilo_store::sqlite_file(&url) else {
        bail!("vigilo restore puts back SQLite backups. {PG_HINT}.");
    };
    let stamp = vigilo_store::SystemClock
        .now()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| "earlier".to_string());
    match vigilo_store::restore_sqlite(&a.file, &database, a.replace, &stamp).await {
        Ok(done) => {
            println!(
                "restored {} into {}: {}",
                a.file.display(),
                database.display(),
                summary(&done.check)
            );
            if let Some(old) = done.replaced {
                println!(
                    "The database it replaced is kept as {} (delete it when you no longer need it).",
                    old.display()
                );
            }
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => bail!(
            "{} already holds a database. Stop the server, then run again with --replace (the current database is kept beside the restored one).",
            database.display()
        ),
        Err(StoreError::NotFound { .. }) => bail!("there is no backup file {}", a.file.display()),
        Err(e) => bail!(
            "restore failed, the database at {} was not touched: {e}",
            database.display()
        ),
    }
}
