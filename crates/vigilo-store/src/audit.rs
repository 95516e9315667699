//! The append-only, hash-chained audit trail.

use crate::{Store, StoreError};
use serde::Serialize;
use sqlx::AnyConnection;
use vigilo_core::audit::{AuditContent, AuditRow, ChainBreak, ChainVerifier};

/// A state change to record: who, what, before and after.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &str, object_type: &str, object_id: &str) -> Self {
        Self {
            actor: actor.to_string(),
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            before: None,
            after: None,
        }
    }
    pub fn before(mut self, v: serde_json::Value) -> Self {
        self.before = Some(v);
        self
    }
    pub fn after(mut self, v: serde_json::Value) -> Self {
        self.after = Some(v);
        self
    }
}

/// A stored audit row as shown to administrators.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    fn to_row(&self) -> AuditRow {
        AuditRow {
            content: AuditContent {
                seq: self.seq,
                at: self.at.clone(),
                actor: self.actor.clone(),
                action: self.action.clone(),
                object_type: self.object_type.clone(),
                object_id: self.object_id.clone(),
                before: self.before_json.clone(),
                after: self.after_json.clone(),
            },
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub verified: u64,
    pub first_break: Option<ChainBreak>,
}

/// Appends one audit row inside the caller's transaction, so the state change and
/// its record commit or roll back together. The head row update comes first: it
/// takes the row lock (PostgreSQL) or the write lock (SQLite) and so serialises
/// appends across processes.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    at: &str,
    entry: &AuditEntry,
) -> Result<i64, StoreError> {
    let (seq, prev_hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, last_hash")
            .fetch_one(&mut *conn)
            .await?;
    let hash = insert_row(conn, seq, &prev_hash, at, entry).await?;
    sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Inserts row `seq` chained to `prev_hash`; returns its hash.
async fn insert_row(
    conn: &mut AnyConnection,
    seq: i64,
    prev_hash: &str,
    at: &str,
    entry: &AuditEntry,
) -> Result<String, StoreError> {
    let content = AuditContent {
        seq,
        at: at.to_string(),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        object_type: entry.object_type.clone(),
        object_id: entry.object_id.clone(),
        before: entry.before.as_ref().map(|v| v.to_string()),
        after: entry.after.as_ref().map(|v| v.to_string()),
    };
    let hash = content.chain_hash(prev_hash);
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, before_json, after_json, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(seq)
    .bind(&content.at)
    .bind(&content.actor)
    .bind(&content.action)
    .bind(&content.object_type)
    .bind(&content.object_id)
    .bind(&content.before)
    .bind(&content.after)
    .bind(prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(hash)
}

/// The audit chain's head held through a batch of appends in one transaction: locked and
/// read once, advanced in memory as rows are inserted, written back once by
/// [`AuditCursor::finish`]. The rows are exactly those [`append`] would write one by one.
pub(crate) struct AuditCursor {
    seq: i64,
    last_hash: String,
    moved: bool,
}

impl AuditCursor {
    /// Takes the head row's lock (as [`append`] does) and reads it.
    pub(crate) async fn lock(conn: &mut AnyConnection) -> Result<AuditCursor, StoreError> {
        let (seq, last_hash): (i64, String) =
            sqlx::query_as("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, last_hash")
                .fetch_one(&mut *conn)
                .await?;
        Ok(AuditCursor {
            seq,
            last_hash,
            moved: false,
        })
    }

    /// Inserts the next row; the head moves only when the insert succeeded.
    pub(crate) async fn append(
        &mut self,
        conn: &mut AnyConnection,
        at: &str,
        entry: &AuditEntry,
    ) -> Result<i64, StoreError> {
        let seq = self.seq + 1;
        let hash = insert_row(conn, seq, &self.last_hash, at, entry).await?;
        self.seq = seq;
        self.last_hash = hash;
        self.moved = true;
        Ok(seq)
    }

    /// Writes the head back (inside the same transaction).
    pub(crate) async fn finish(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if self.moved {
            sqlx::query("UPDATE audit_head SET seq = $1, last_hash = $2 WHERE id = 1")
                .bind(self.seq)
                .bind(&self.last_hash)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

impl Store {
    /// Records an event that changes nothing else (a login, an export).
    pub async fn record_audit(&self, entry: AuditEntry) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let seq = append(&mut tx, &self.now_text(), &entry).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// The newest audit rows first, before `before_seq` when given.
    pub async fn list_audit(
        &self,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query_as::<_, AuditRecord>(
            "SELECT seq, at, actor, action, object_type, object_id, before_json, after_json, prev_hash, hash \
             FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows)
    }

    /// Walks the whole chain in pages and names the first broken row. Also checks
    /// that the head row points at the last row, so deleting the tail is caught.
    pub async fn verify_audit(&self) -> Result<VerifyOutcome, StoreError> {
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        let mut last: Option<AuditRecord> = None;
        loop {
            let page = sqlx::query_as::<_, AuditRecord>(
                "SELECT seq, at, actor, action, object_type, object_id, before_json, after_json, prev_hash, hash \
                 FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
            )
            .bind(after)
            .fetch_all(self.pool())
            .await?;
            if page.is_empty() {
                break;
            }
            for rec in &page {
                if let Err(b) = verifier.push(&rec.to_row()) {
                    return Ok(VerifyOutcome {
                        verified: verifier.verified,
                        first_break: Some(b),
                    });
                }
            }
            after = page.last().map(|r| r.seq).unwrap_or(after);
            last = page.into_iter().last();
        }
        let (head_seq, head_hash): (i64, String) =
            sqlx::query_as("SELECT seq, last_hash FROM audit_head WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        let (last_seq, last_hash) = last
            .map(|r| (r.seq, r.hash))
            .unwrap_or((0, vigilo_core::audit::GENESIS_HASH.to_string()));
        if head_seq != last_seq || head_hash != last_hash {
            return Ok(VerifyOutcome {
                verified: verifier.verified,
                first_break: Some(ChainBreak::Gap {
                    seq: last_seq + 1,
                    expected: head_seq,
                }),
            });
        }
        Ok(VerifyOutcome {
            verified: verifier.verified,
            first_break: None,
        })
    }
}
