//! Online backup and restore of a SQLite database (`vigilo backup`, `vigilo restore`).
//!
//! A backup is `VACUUM INTO` a new file: SQLite copies one read snapshot while the server
//! goes on writing (WAL keeps writers and the reading copy apart), so the copy is
//! consistent without stopping anything. The copy is written under a temporary name,
//! synced, checked (integrity, foreign keys, migrations, the audit chain) and only then
//! renamed, so a file with the backup's name is always a whole, verified database.
//!
//! Restore copies the backup beside the target, checks that copy, moves any existing
//! database (with its WAL) aside and renames the copy into place: a restore that fails
//! halfway leaves the old database as it was. PostgreSQL has its own tools (`pg_dump`,
//! point-in-time recovery); `docs/operations.md` says how.

use crate::error::{invalid, not_found};
use crate::{Store, StoreError};
use std::path::{Path, PathBuf};

/// The SQLite file behind a `sqlite:` URL; `None` for PostgreSQL and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .trim()
        .strip_prefix("sqlite://")
        .or_else(|| url.trim().strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// What a check of a backup file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    pub bytes: u64,
    pub migrations: usize,
    pub audit_rows: u64,
    pub incidents: i64,
    pub monitoring_reports: i64,
}

/// A restore done: what was restored, and where the database it replaced went.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    pub check: BackupCheck,
    pub replaced: Option<PathBuf>,
}

const WAL_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Task(format!("{what} {}: {e}", path.display()))
}

/// Removes a file and its WAL companions, ignoring the ones that are not there.
fn remove_with_wal(path: &Path) {
    let _ = std::fs::remove_file(path);
    for s in WAL_SUFFIXES {
        let _ = std::fs::remove_file(with_suffix(path, s));
    }
}

/// fsyncs a file, then its folder, so a rename or a new file survives a power cut.
fn sync_file_and_dir(path: &Path) -> Result<(), StoreError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("cannot sync", path, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // Opening a folder to fsync it works on Linux and macOS; elsewhere it is best effort.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn sqlite_url(path: &Path) -> Result<String, StoreError> {
    let text = path
        .to_str()
        .ok_or_else(|| invalid("path", format!("{} is not valid UTF-8", path.display())))?;
    Ok(format!("sqlite://{text}"))
}

impl Store {
    /// Writes a consistent copy of the live SQLite database to `dest` while the server
    /// keeps serving, then checks it. Refuses to overwrite a file.
    pub async fn backup_into(&self, dest: &Path) -> Result<BackupCheck, StoreError> {
        if self.backend() != crate::Backend::Sqlite {
            return Err(invalid(
                "database",
                "vigilo backup copies SQLite databases; for PostgreSQL use pg_dump --format=custom (docs/operations.md, \"Backups\")",
            ));
        }
        if dest.exists() {
            return Err(StoreError::Conflict {
                what: "backup file",
                key: dest.display().to_string(),
            });
        }
        let partial = with_suffix(dest, ".partial");
        remove_with_wal(&partial);
        let partial_text = partial
            .to_str()
            .ok_or_else(|| invalid("path", format!("{} is not valid UTF-8", dest.display())))?
            .to_string();
        let copied = sqlx::query("VACUUM INTO $1")
            .bind(&partial_text)
            .execute(self.pool())
            .await;
        if let Err(e) = copied {
            remove_with_wal(&partial);
            return Err(e.into());
        }
        // VACUUM INTO does not sync its output.
        let checked = match sync_file_and_dir(&partial) {
            Ok(()) => check_sqlite_file(&partial).await,
            Err(e) => Err(e),
        };
        let check = match checked {
            Ok(c) => c,
            Err(e) => {
                remove_with_wal(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, dest).map_err(|e| {
            remove_with_wal(&partial);
            io_error("cannot rename the backup to", dest, e)
        })?;
        sync_file_and_dir(dest)?;
        Ok(check)
    }
}

/// Checks that a SQLite file is a whole Vigilo database this build can run: integrity
/// and foreign keys hold, no migration is newer than this build, the audit chain verifies.
/// Opening it converts it to WAL mode, so call this on copies, not on the only original.
pub async fn check_sqlite_file(path: &Path) -> Result<BackupCheck, StoreError> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| io_error("cannot read", path, e))?
        .len();
    // A quick look at the header first: connecting to a file that is not SQLite would
    // only time out.
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
        .is_ok();
    if !read || &header != b"SQLite format 3\0" {
        return Err(invalid("backup", "this file is not a SQLite database"));
    }
    let store = Store::connect(&sqlite_url(path)?).await?;
    let result = check_open(&store, bytes).await;
    store.close().await;
    // The last connection to close checkpoints and removes the WAL; one left behind
    // would hold writes the file itself lacks, and a rename would part them.
    let wal = with_suffix(path, "-wal");
    if std::fs::metadata(&wal)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        return Err(StoreError::Task(format!(
            "{} was not checkpointed after the check",
            wal.display()
        )));
    }
    result
}

async fn check_open(store: &Store, bytes: u64) -> Result<BackupCheck, StoreError> {
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(store.pool())
        .await?;
    if integrity != ["ok"] {
        let first: Vec<String> = integrity.into_iter().take(3).collect();
        return Err(invalid(
            "backup",
            format!("the database is damaged: {}", first.join("; ")),
        ));
    }
    let orphans = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(store.pool())
        .await?
        .len();
    if orphans > 0 {
        return Err(invalid(
            "backup",
            format!("{orphans} rows point at rows that are missing"),
        ));
    }
    let has_migrations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(store.pool())
    .await?;
    if has_migrations == 0 {
        return Err(invalid("backup", "this file is not a Vigilo database"));
    }
    let migrations = store.applied_migrations().await?;
    if migrations > store.known_migrations() {
        return Err(invalid(
            "backup",
            format!(
                "it was made by a newer Vigilo ({migrations} migrations, this build knows {}); restore it with that version",
                store.known_migrations()
            ),
        ));
    }
    let audit = store.verify_audit().await?;
    if let Some(b) = audit.first_break {
        return Err(invalid(
            "backup",
            format!("its audit chain is broken at row {}: {b}", b.seq()),
        ));
    }
    let incidents: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM incidents")
        .fetch_one(store.pool())
        .await?;
    let monitoring_reports: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM monitoring_reports")
        .fetch_one(store.pool())
        .await?;
    Ok(BackupCheck {
        bytes,
        migrations,
        audit_rows: audit.verified,
        incidents,
        monitoring_reports,
    })
}

/// Puts a backup in place of the SQLite database at `target`. The server must be
/// stopped. An existing target is kept beside it as `<target>.replaced-<stamp>` and only
/// when `replace` is set; otherwise the restore refuses. Nothing is touched until the
/// copy has passed [`check_sqlite_file`].
pub async fn restore_sqlite(
    backup: &Path,
    target: &Path,
    replace: bool,
    stamp: &str,
) -> Result<RestoreOutcome, StoreError> {
    if !backup.is_file() {
        return Err(not_found("backup file", &backup.display().to_string()));
    }
    if target.exists() && !replace {
        return Err(StoreError::Conflict {
            what: "database file",
            key: target.display().to_string(),
        });
    }
    let staging = with_suffix(target, ".restoring");
    remove_with_wal(&staging);
    std::fs::copy(backup, &staging).map_err(|e| {
        remove_with_wal(&staging);
        io_error("cannot copy the backup to", &staging, e)
    })?;
    let checked = match sync_file_and_dir(&staging) {
        Ok(()) => check_sqlite_file(&staging).await,
        Err(e) => Err(e),
    };
    let check = match checked {
        Ok(c) => c,
        Err(e) => {
            remove_with_wal(&staging);
            return Err(e);
        }
    };
    let replaced = if target.exists() {
        let aside = with_suffix(target, &format!(".replaced-{stamp}"));
        std::fs::rename(target, &aside)
            .map_err(|e| io_error("cannot move the old database to", &aside, e))?;
        // The old WAL goes with its database: left behind, SQLite would replay it into
        // the restored file.
        for s in WAL_SUFFIXES {
            let wal = with_suffix(target, s);
            if wal.exists() {
                std::fs::rename(&wal, with_suffix(&aside, s))
                    .map_err(|e| io_error("cannot move", &wal, e))?;
            }
        }
        Some(aside)
    } else {
        None
    };
    std::fs::rename(&staging, target)
        .map_err(|e| io_error("cannot rename the restored database to", target, e))?;
    sync_file_and_dir(target)?;
    Ok(RestoreOutcome { check, replaced })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_from_urls() {
        assert_eq!(
            sqlite_file("sqlite://a/b.db"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:b.db?mode=rwc"),
            Some(PathBuf::from("b.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
        assert_eq!(
            with_suffix(Path::new("x/v.db"), "-wal"),
            PathBuf::from("x/v.db-wal")
        );
    }
}
