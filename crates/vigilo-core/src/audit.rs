//! The audit chain's canonical form and hashing.
//!
//! Each audit row carries the SHA-256 of the previous row and of its own
//! canonical content, so editing or deleting a row behind the application's
//! back breaks the chain from that row on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash that stands before the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit event as stored. `before` and `after` are JSON text exactly as stored,
/// so that the hash covers the bytes that are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditContent {
    pub seq: i64,
    /// RFC 3339 UTC time as stored.
    pub at: String,
    /// Who acted: a user id, `system`, or `cli:<os user>`.
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl AuditContent {
    /// Canonical serialisation: a JSON object with keys in lexical order and no
    /// insignificant whitespace (serde_json orders struct fields as declared, so the
    /// map below fixes the order explicitly).
    pub fn canonical(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("action".into(), self.action.clone().into());
        map.insert("actor".into(), self.actor.clone().into());
        map.insert("after".into(), self.after.clone().into());
        map.insert("at".into(), self.at.clone().into());
        map.insert("before".into(), self.before.clone().into());
        map.insert("object_id".into(), self.object_id.clone().into());
        map.insert("object_type".into(), self.object_type.clone().into());
        map.insert("seq".into(), self.seq.into());
        serde_json::Value::Object(map).to_string()
    }

    /// The row hash: SHA-256 over the previous hash, a newline, and the canonical content.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        let mut h = Sha256::new();
        h.update(prev_hash.as_bytes());
        h.update(b"\n");
        h.update(self.canonical().as_bytes());
        hex::encode(h.finalize())
    }
}

/// A stored row: content plus the two hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub content: AuditContent,
    pub prev_hash: String,
    pub hash: String,
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("audit row {seq}: sequence gap (expected {expected})")]
    Gap { seq: i64, expected: i64 },
    #[error("audit row {seq}: previous-hash link does not match row {prev}")]
    Link { seq: i64, prev: i64 },
    #[error("audit row {seq}: content does not match its hash (row was altered)")]
    Content { seq: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Gap { seq, .. }
            | ChainBreak::Link { seq, .. }
            | ChainBreak::Content { seq } => *seq,
        }
    }
}

/// Incremental verifier, so a long chain can be streamed in pages.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    pub verified: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            verified: 0,
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, row: &AuditRow) -> Result<(), ChainBreak> {
        let seq = row.content.seq;
        if seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                seq,
                expected: self.expected_seq,
            });
        }
        if row.prev_hash != self.prev_hash {
            return Err(ChainBreak::Link { seq, prev: seq - 1 });
        }
        if row.content.chain_hash(&row.prev_hash) != row.hash {
            return Err(ChainBreak::Content { seq });
        }
        self.expected_seq += 1;
        self.prev_hash = row.hash.clone();
        self.verified += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, prev: &str, action: &str) -> AuditRow {
        let content = AuditContent {
            seq,
            at: "2026-11-23T09:00:00.000000Z".into(),
            actor: "u1".into(),
            action: action.into(),
            object_type: "user".into(),
            object_id: "x".into(),
            before: None,
            after: Some("{\"role\":\"vendor\"}".into()),
        };
        let hash = content.chain_hash(prev);
        AuditRow {
            content,
            prev_hash: prev.into(),
            hash,
        }
    }

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_string();
        for i in 1..=n {
            let r = row(i, &prev, "user.create");
            prev = r.hash.clone();
            out.push(r);
        }
        out
    }

    #[test]
    fn canonical_is_sorted_and_compact() {
        let r = row(1, GENESIS_HASH, "a");
        assert_eq!(
            r.content.canonical(),
            r#"{"action":"a","actor":"u1","after":"{\"role\":\"vendor\"}","at":"2026-11-23T09:00:00.000000Z","before":null,"object_id":"x","object_type":"user","seq":1}"#
        );
    }

    #[test]
    fn intact_chain_verifies() {
        let mut v = ChainVerifier::default();
        for r in chain(5) {
            v.push(&r).expect("intact");
        }
        assert_eq!(v.verified, 5);
    }

    #[test]
    fn edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].content.action = "user.delete".into();
        let mut v = ChainVerifier::default();
        let err = rows.iter().try_for_each(|r| v.push(r)).unwrap_err();
        assert_eq!(err, ChainBreak::Content { seq: 3 });
    }

    #[test]
    fn rehashed_row_breaks_next_link() {
        let mut rows = chain(5);
        rows[1].content.actor = "attacker".into();
        rows[1].hash = rows[1].content.chain_hash(&rows[1].prev_hash);
        let mut v = ChainVerifier::default();
        let err = rows.iter().try_for_each(|r| v.push(r)).unwrap_err();
        assert_eq!(err, ChainBreak::Link { seq: 3, prev: 2 });
    }

    #[test]
    fn deleted_row_is_a_gap() {
        let mut rows = chain(4);
        rows.remove(1);
        let mut v = ChainVerifier::default();
        let err = rows.iter().try_for_each(|r| v.push(r)).unwrap_err();
        assert_eq!(err.seq(), 3);
    }
}
