//! GRN federation storage: this node's identity, the peers the admin pinned (and the
//! [`TrustedPeers`] built from the live ones), each peer's sync state, the signed items this
//! node publishes in feed order, the items received from peers (applied with
//! `vigilo_core::federation::decide` in one transaction with the peer's new cursor), request
//! nonces, the outbound record and refusals.
//!
//! The node's private key is not stored here: the binary keeps its seed in a key file and
//! hands [`NodeKeys`] to [`Store::publish`], which signs under the feed lock.

use crate::audit::{append, AuditEntry};
use crate::error::invalid;
use crate::monitoring::placeholders;
use crate::shared_directory::{put_received_entry, remove_received_entry};
use crate::{format_time, new_id, Store, StoreError};
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::HashMap;
use time::OffsetDateTime;
use vigilo_core::federation::{
    decide, sign_item, Audience, ItemDraft, ItemId, ItemType, NodeKeys, PeerIdentity,
    SharedDirectoryEntry, SignedItem, Stored, SyncDecision, TrustedPeers, VerifiedItem,
};

fn item_type_of(code: &str) -> Option<ItemType> {
    Some(match code {
        "directory_entry" => ItemType::DirectoryEntry,
        "early_warning" => ItemType::EarlyWarning,
        "safety_notice" => ItemType::SafetyNotice,
        "retraction" => ItemType::Retraction,
        _ => return None,
    })
}

fn digest_from_hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(bytes) = hex::decode(s) {
        if bytes.len() == 32 {
            out.copy_from_slice(&bytes);
        }
    }
    out
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Rows per multi-row statement (11 values each at most: well below both backends' limits
/// on bound values).
const ROWS_PER_STATEMENT: usize = 500;

/// What `decide` is given for a stored row of `fed_received`.
fn stored_of(version: i64, item_type: &str, hidden: i64, digest: &str) -> Stored {
    let version = u64::try_from(version).unwrap_or(0);
    let content_digest = digest_from_hex(digest);
    match (hidden, item_type_of(item_type)) {
        (0, Some(item_type)) => Stored::Visible {
            version,
            item_type,
            content_digest,
        },
        _ => Stored::Hidden {
            version,
            content_digest,
        },
    }
}

/// A row of `fed_received` to write.
struct ReceivedRow {
    origin: String,
    item_id: String,
    country: String,
    version: i64,
    item_type: &'static str,
    hidden: i64,
    digest: String,
    wire: String,
    issued: String,
}

/// A peer pinned by the admin, with its sync state.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Peer {
    pub id: String,
    pub key_id: String,
    pub identity_line: String,
    pub public_key: String,
    pub country: String,
    pub base_url: String,
    pub name: String,
    pub added_by: String,
    pub added_at: String,
    pub removed_by: Option<String>,
    pub removed_at: Option<String>,
    /// The last feed position taken from this peer; `None`: from the start.
    pub feed_cursor: Option<i64>,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Consecutive failed pulls (0 after a success).
    pub failures: i64,
    /// Not pulled before this time (back-off after failures).
    pub next_attempt_at: Option<String>,
}

impl Peer {
    /// The identity the admin pinned (parsed again from the stored line).
    pub fn identity(&self) -> Result<PeerIdentity, StoreError> {
        PeerIdentity::parse_line(&self.identity_line)
            .map_err(|e| invalid("stored identity line", e.to_string()))
    }

    pub fn cursor(&self) -> Option<u64> {
        self.feed_cursor.and_then(|c| u64::try_from(c).ok())
    }
}

const PEER_COLUMNS: &str = "id, key_id, identity_line, public_key, country, base_url, name, added_by, added_at, removed_by, removed_at, feed_cursor, last_success_at, last_error, last_error_at, failures, next_attempt_at";

/// An item this node published, as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PublishedItem {
    pub position: i64,
    pub item_type: String,
    pub item_id: String,
    pub version: i64,
    pub audience_json: String,
    /// The item in canonical JSON with its signature: exactly what the feed serves.
    pub wire: String,
    pub content_digest: String,
    pub superseded: i64,
    pub published_by: String,
    pub published_at: String,
}

impl PublishedItem {
    pub fn audience(&self) -> Result<Audience, StoreError> {
        serde_json::from_str(&self.audience_json)
            .map_err(|e| invalid("stored audience", e.to_string()))
    }
}

const PUBLISHED_COLUMNS: &str = "position, item_type, item_id, version, audience_json, wire, content_digest, superseded, published_by, published_at";

/// One page of this node's feed as stored: the served (newest) rows after the cursor, and
/// the position the reader continues from.
#[derive(Debug, Clone)]
pub struct FeedRows {
    pub rows: Vec<PublishedItem>,
    /// The last position scanned, or the cursor asked for when nothing was after it.
    pub next: u64,
}

/// What to publish: the store gives it the next version of its id, signs it with the node's
/// keys and appends it to the feed.
#[derive(Debug, Clone)]
pub struct NewPublication {
    pub item_type: ItemType,
    pub id: ItemId,
    pub audience: Audience,
    pub payload: serde_json::Value,
}

/// An item received from a peer, as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReceivedItem {
    pub origin_key_id: String,
    pub item_id: String,
    pub origin_country: String,
    pub version: i64,
    pub item_type: String,
    pub hidden: i64,
    pub content_digest: String,
    /// The item exactly as received (canonical JSON with its signature).
    pub wire: String,
    pub issued_at: String,
    pub peer_id: String,
    pub received_at: String,
    /// The name of the peer it came from.
    pub peer_name: String,
}

/// An incoming item the sync job refused before the store saw it (bad signature, unknown
/// signer, not addressed to this node, malformed): recorded with the page, never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRefusal {
    pub position: Option<u64>,
    pub item_id: Option<String>,
    pub key_id: Option<String>,
    pub reason: String,
}

/// What applying one feed page did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    pub inserted: u64,
    pub replaced: u64,
    pub hidden: u64,
    pub unchanged: u64,
    pub refused: u64,
}

/// A refused item or request, as recorded.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Refusal {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub peer_id: Option<String>,
    pub key_id: Option<String>,
    pub position: Option<i64>,
    pub item_id: Option<String>,
    pub reason: String,
}

/// One item served: what, to whom, when.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboundRecord {
    pub id: String,
    pub position: i64,
    pub item_type: String,
    pub item_id: String,
    pub version: i64,
    /// `anonymous` (the public feed) or the requesting peer's key id.
    pub recipient: String,
    pub recipient_country: Option<String>,
    pub sent_at: String,
}

/// The largest item this node publishes (canonical bytes with the signature): what peers
/// accept by default (`VerifyPolicy::max_item_bytes` in the sync job).
pub const MAX_PUBLISHED_ITEM_BYTES: usize = 256 * 1024;

/// The recipient of anonymous (unsigned) feed requests in the outbound record.
pub const ANONYMOUS_RECIPIENT: &str = "anonymous";

async fn record_refusal_on(
    conn: &mut AnyConnection,
    at: &str,
    kind: &str,
    peer_id: Option<&str>,
    r: &ItemRefusal,
) -> Result<(), StoreError> {
    let reason: String = r.reason.chars().take(500).collect();
    let item_id: Option<String> = r.item_id.as_ref().map(|s| s.chars().take(100).collect());
    let key_id: Option<String> = r.key_id.as_ref().map(|s| s.chars().take(64).collect());
    sqlx::query(
        "INSERT INTO fed_refusals (id, at, kind, peer_id, key_id, position, item_id, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(at)
    .bind(kind)
    .bind(peer_id)
    .bind(key_id)
    .bind(r.position.map(to_i64))
    .bind(item_id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    // ---- This node ----

    /// Records this node's identity (at every start, from the key file and the
    /// configuration). Returns whether it changed; a change is audited.
    pub async fn set_node_identity(
        &self,
        actor: &str,
        identity: &PeerIdentity,
    ) -> Result<bool, StoreError> {
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let old: Option<(String, String, String, String)> =
            sqlx::query_as("SELECT name, country, base_url, public_key FROM fed_node WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        let new = (
            identity.name.to_string(),
            identity.country.to_string(),
            identity.base_url.to_string(),
            identity.public_key.to_string(),
        );
        if old.as_ref() == Some(&new) {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO fed_node (id, name, country, base_url, key_id, public_key, updated_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, country = excluded.country, \
             base_url = excluded.base_url, key_id = excluded.key_id, \
             public_key = excluded.public_key, updated_at = excluded.updated_at",
        )
        .bind(&new.0)
        .bind(&new.1)
        .bind(&new.2)
        .bind(identity.key_id().to_string())
        .bind(&new.3)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let mut entry = AuditEntry::new(
            actor,
            "federation.identity",
            "fed_node",
            identity.key_id().as_str(),
        )
        .after(json!({"line": identity.to_line()}));
        if let Some(o) = old {
            entry = entry
                .before(json!({"name": o.0, "country": o.1, "base_url": o.2, "public_key": o.3}));
        }
        append(&mut tx, &now, &entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// This node's identity, once set.
    pub async fn node_identity(&self) -> Result<Option<PeerIdentity>, StoreError> {
        let row: Option<(String, String, String, String)> =
            sqlx::query_as("SELECT name, country, base_url, public_key FROM fed_node WHERE id = 1")
                .fetch_optional(self.pool())
                .await?;
        let Some((name, country, base_url, key)) = row else {
            return Ok(None);
        };
        let parse = |e: vigilo_core::federation::IdentityError| {
            invalid("stored node identity", e.to_string())
        };
        Ok(Some(PeerIdentity {
            name: name.parse().map_err(parse)?,
            country: country.parse().map_err(parse)?,
            base_url: base_url.parse().map_err(parse)?,
            public_key: key.parse().map_err(parse)?,
        }))
    }

    // ---- Peers ----

    /// Pins a peer from its identity line. Refused when its key is already pinned (remove it
    /// first) or is this node's own key.
    pub async fn add_peer(&self, actor: &str, identity: &PeerIdentity) -> Result<Peer, StoreError> {
        let key_id = identity.key_id().to_string();
        if let Some(me) = self.node_identity().await? {
            if me.key_id() == identity.key_id() {
                return Err(invalid("peer", "this is this node's own key"));
            }
        }
        let now = self.now_text();
        let line = identity.to_line();
        let mut tx = self.begin_write().await?;
        let live: Option<(String,)> =
            sqlx::query_as("SELECT id FROM fed_peers WHERE key_id = $1 AND removed_at IS NULL")
                .bind(&key_id)
                .fetch_optional(&mut *tx)
                .await?;
        if live.is_some() {
            return Err(StoreError::Conflict {
                what: "peer",
                key: key_id,
            });
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO fed_peers (id, key_id, identity_line, public_key, country, base_url, name, added_by, added_at, failures) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)",
        )
        .bind(&id)
        .bind(&key_id)
        .bind(&line)
        .bind(identity.public_key.to_string())
        .bind(identity.country.to_string())
        .bind(identity.base_url.to_string())
        .bind(identity.name.to_string())
        .bind(actor)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from(e).on_unique("peer", &key_id))?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "federation.peer_add", "fed_peer", &key_id)
                .after(json!({"line": line})),
        )
        .await?;
        tx.commit().await?;
        self.peer(&id).await?.ok_or_else(|| StoreError::NotFound {
            what: "peer",
            key: id,
        })
    }

    /// Unpins a live peer by its key id (a unique prefix of at least 8 characters is
    /// enough). Its received items stay; nothing more is accepted from it.
    pub async fn remove_peer(&self, actor: &str, key_id: &str) -> Result<Peer, StoreError> {
        let key_id = key_id.trim().to_ascii_lowercase();
        if key_id.len() < 8 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "key id",
                "give the peer's key id (at least its first 8 hex characters)",
            ));
        }
        let now = self.now_text();
        let mut tx = self.begin_write().await?;
        let pattern = format!("{key_id}%");
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, key_id FROM fed_peers WHERE key_id LIKE $1 AND removed_at IS NULL",
        )
        .bind(&pattern)
        .fetch_all(&mut *tx)
        .await?;
        let (id, full_key) = match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(StoreError::NotFound {
                    what: "peer",
                    key: key_id,
                })
            }
            _ => {
                return Err(invalid(
                    "key id",
                    format!("'{key_id}' names more than one peer; give more characters"),
                ))
            }
        };
        sqlx::query("UPDATE fed_peers SET removed_by = $1, removed_at = $2 WHERE id = $3")
            .bind(actor)
            .bind(&now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        append(
            &mut tx,
            &now,
            &AuditEntry::new(actor, "federation.peer_remove", "fed_peer", &full_key),
        )
        .await?;
        tx.commit().await?;
        self.peer(&id).await?.ok_or_else(|| StoreError::NotFound {
            what: "peer",
            key: id,
        })
    }

    pub async fn peer(&self, id: &str) -> Result<Option<Peer>, StoreError> {
        Ok(
            sqlx::query_as::<_, Peer>(sqlf!("SELECT {PEER_COLUMNS} FROM fed_peers WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The live peer with this key id.
    pub async fn peer_by_key(&self, key_id: &str) -> Result<Option<Peer>, StoreError> {
        Ok(sqlx::query_as::<_, Peer>(sqlf!(
            "SELECT {PEER_COLUMNS} FROM fed_peers WHERE key_id = $1 AND removed_at IS NULL"
        ))
        .bind(key_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Peers by name; removed ones too when asked.
    pub async fn list_peers(&self, include_removed: bool) -> Result<Vec<Peer>, StoreError> {
        let filter = if include_removed {
            ""
        } else {
            "WHERE removed_at IS NULL"
        };
        Ok(sqlx::query_as::<_, Peer>(sqlf!(
            "SELECT {PEER_COLUMNS} FROM fed_peers {filter} ORDER BY country, name, added_at"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    /// The keys of the live peers, for `verify_item` and `verify_request`: only what the
    /// admin pinned, each for the country it was pinned with.
    pub async fn pinned_keys(&self) -> Result<TrustedPeers, StoreError> {
        let mut trusted = TrustedPeers::new();
        for p in self.list_peers(false).await? {
            trusted.pin_identity(&p.identity()?);
        }
        Ok(trusted)
    }

    /// Live peers whose back-off has passed (or that never failed), to pull now.
    pub async fn peers_due(&self) -> Result<Vec<Peer>, StoreError> {
        Ok(sqlx::query_as::<_, Peer>(sqlf!(
            "SELECT {PEER_COLUMNS} FROM fed_peers WHERE removed_at IS NULL \
             AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY country, name"
        ))
        .bind(self.now_text())
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a failed pull: the error, one more consecutive failure, and when to try again.
    /// Returns the number of consecutive failures.
    pub async fn record_sync_failure(
        &self,
        peer_id: &str,
        error: &str,
        next_attempt_at: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        let error: String = error.chars().take(500).collect();
        let failures: Option<(i64,)> = sqlx::query_as(
            "UPDATE fed_peers SET failures = failures + 1, last_error = $1, last_error_at = $2, \
             next_attempt_at = $3 WHERE id = $4 RETURNING failures",
        )
        .bind(error)
        .bind(self.now_text())
        .bind(format_time(next_attempt_at))
        .bind(peer_id)
        .fetch_optional(self.pool())
        .await?;
        failures.map(|(n,)| n).ok_or_else(|| StoreError::NotFound {
            what: "peer",
            key: peer_id.into(),
        })
    }

    // ---- Publishing ----

    /// The newest published version of an id.
    pub async fn published_version(&self, id: &ItemId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM fed_published WHERE item_id = $1")
                .bind(id.as_str())
                .fetch_one(self.pool())
                .await?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    }

    /// Signs and publishes an item as this node: the next version of its id, issued now,
    /// from this node's country, appended to the feed (the older version is no longer
    /// served), with an audit entry, in one transaction.
    pub async fn publish(
        &self,
        actor: &str,
        keys: &NodeKeys,
        new: NewPublication,
    ) -> Result<PublishedItem, StoreError> {
        let me = self
            .node_identity()
            .await?
            .ok_or_else(|| invalid("node identity", "this node has no identity yet"))?;
        if me.key_id() != keys.key_id() {
            return Err(invalid(
                "node key",
                "the key given is not this node's recorded key",
            ));
        }
        let now = self.now();
        let issued_at = now.replace_nanosecond(0).unwrap_or(now);
        let now_text = format_time(now);
        let mut tx = self.begin_write().await?;
        // Takes the feed lock first: positions commit in increasing order.
        let (position,): (i64,) = sqlx::query_as(
            "UPDATE fed_feed_head SET position = position + 1 WHERE id = 1 RETURNING position",
        )
        .fetch_one(&mut *tx)
        .await?;
        let latest: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT version, item_type, audience_json FROM fed_published WHERE item_id = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(new.id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let version = latest.as_ref().map(|l| l.0 + 1).unwrap_or(1);
        if let Some((_, t, _)) = &latest {
            if t == ItemType::Retraction.code() {
                return Err(invalid("item", format!("{} was retracted", new.id)));
            }
            if new.item_type != ItemType::Retraction && t != new.item_type.code() {
                return Err(invalid(
                    "item type",
                    format!("{} is a {t}; a new version keeps its type", new.id),
                ));
            }
        } else if new.item_type == ItemType::Retraction {
            return Err(StoreError::NotFound {
                what: "published item",
                key: new.id.to_string(),
            });
        }
        let signed: SignedItem = sign_item(
            keys,
            ItemDraft {
                item_type: new.item_type,
                id: new.id.clone(),
                version: u64::try_from(version).unwrap_or(1),
                issued_at,
                country: me.country,
                audience: new.audience.clone(),
                payload: new.payload,
            },
        )
        .map_err(|e| invalid("item", e.to_string()))?;
        if signed.wire.len() > MAX_PUBLISHED_ITEM_BYTES {
            return Err(invalid(
                "item",
                format!(
                    "{} bytes signed, more than the {MAX_PUBLISHED_ITEM_BYTES} peers accept",
                    signed.wire.len()
                ),
            ));
        }
        let wire =
            String::from_utf8(signed.wire.clone()).map_err(|e| invalid("item", e.to_string()))?;
        let audience_json =
            serde_json::to_string(&new.audience).map_err(|e| invalid("audience", e.to_string()))?;
        sqlx::query("UPDATE fed_published SET superseded = 1 WHERE item_id = $1")
            .bind(new.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlf!(
            "INSERT INTO fed_published ({PUBLISHED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)"
        ))
        .bind(position)
        .bind(new.item_type.code())
        .bind(new.id.as_str())
        .bind(version)
        .bind(&audience_json)
        .bind(&wire)
        .bind(hex::encode(signed.content_digest))
        .bind(actor)
        .bind(&now_text)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &now_text,
            &AuditEntry::new(actor, "federation.publish", "fed_item", new.id.as_str()).after(
                json!({"type": new.item_type.code(), "version": version, "position": position,
                       "audience": new.audience, "digest": hex::encode(signed.content_digest)}),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(PublishedItem {
            position,
            item_type: new.item_type.code().into(),
            item_id: new.id.to_string(),
            version,
            audience_json,
            wire,
            content_digest: hex::encode(signed.content_digest),
            superseded: 0,
            published_by: actor.into(),
            published_at: now_text,
        })
    }

    /// Withdraws a published item: its next version, of type `retraction`, for the same
    /// audience, with the reason as payload.
    pub async fn retract(
        &self,
        actor: &str,
        keys: &NodeKeys,
        id: &ItemId,
        reason: &str,
    ) -> Result<PublishedItem, StoreError> {
        let latest = sqlx::query_as::<_, PublishedItem>(sqlf!(
            "SELECT {PUBLISHED_COLUMNS} FROM fed_published WHERE item_id = $1 AND superseded = 0"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "published item",
            key: id.to_string(),
        })?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(invalid("reason", "1 to 2000 characters"));
        }
        self.publish(
            actor,
            keys,
            NewPublication {
                item_type: ItemType::Retraction,
                id: id.clone(),
                audience: latest.audience()?,
                payload: json!({"reason": reason}),
            },
        )
        .await
    }

    /// Published items, newest position first (for the admin's list).
    pub async fn published_items(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PublishedItem>, StoreError> {
        Ok(sqlx::query_as::<_, PublishedItem>(sqlf!(
            "SELECT {PUBLISHED_COLUMNS} FROM fed_published WHERE position < $1 \
             ORDER BY position DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 1_000_000))
        .fetch_all(self.pool())
        .await?)
    }

    /// The served rows after `after` (the newest version of each id only), at most `limit`.
    pub async fn feed_rows(&self, after: Option<u64>, limit: u32) -> Result<FeedRows, StoreError> {
        let from = after.map(to_i64).unwrap_or(0);
        let rows = sqlx::query_as::<_, PublishedItem>(sqlf!(
            "SELECT {PUBLISHED_COLUMNS} FROM fed_published WHERE superseded = 0 AND position > $1 \
             ORDER BY position LIMIT $2"
        ))
        .bind(from)
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(self.pool())
        .await?;
        let next = rows
            .last()
            .and_then(|r| u64::try_from(r.position).ok())
            .unwrap_or(after.unwrap_or(0));
        Ok(FeedRows { rows, next })
    }

    // ---- Outbound record ----

    /// Records the items served in one feed response, to one recipient.
    pub async fn record_outbound(
        &self,
        recipient: &str,
        recipient_country: Option<&str>,
        items: &[&PublishedItem],
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let now = self.now_text();
        let backend = self.backend();
        let mut tx = self.pool().begin().await?;
        // One statement per chunk, not per item: on PostgreSQL each statement is a round
        // trip, and a feed page holds up to 500 items.
        for chunk in items.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(backend, 8 * i, 8)))
                .collect();
            let sql = sqlf!(
                "INSERT INTO fed_outbound (id, position, item_type, item_id, version, recipient, recipient_country, sent_at) \
                 VALUES {}",
                rows.join(", ")
            );
            let mut q = sqlx::query(sql);
            for p in chunk {
                q = q
                    .bind(new_id())
                    .bind(p.position)
                    .bind(&p.item_type)
                    .bind(&p.item_id)
                    .bind(p.version)
                    .bind(recipient)
                    .bind(recipient_country)
                    .bind(&now);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The outbound record in time order, from `since` (inclusive) when given.
    pub async fn outbound_records(
        &self,
        since: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<OutboundRecord>, StoreError> {
        Ok(sqlx::query_as::<_, OutboundRecord>(
            "SELECT id, position, item_type, item_id, version, recipient, recipient_country, sent_at \
             FROM fed_outbound WHERE sent_at >= $1 ORDER BY sent_at, id LIMIT $2",
        )
        .bind(since.map(format_time).unwrap_or_default())
        .bind(limit.clamp(1, 1_000_000))
        .fetch_all(self.pool())
        .await?)
    }

    // ---- Nonces ----

    /// Remembers a verified request's nonce until `expires_at`; `false` when the key used
    /// it before (a replay).
    pub async fn use_nonce(
        &self,
        key_id: &str,
        nonce: &str,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO fed_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, nonce) DO NOTHING",
        )
        .bind(key_id)
        .bind(nonce)
        .bind(format_time(expires_at))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Forgets nonces past their expiry. Returns how many.
    pub async fn purge_nonces(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM fed_nonces WHERE expires_at < $1")
            .bind(self.now_text())
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    // ---- Receiving ----

    /// Applies one verified feed page from a peer in one transaction: each item through
    /// `decide` against what is stored for its (origin, id), the refusals (those given and
    /// those `decide` makes) recorded, and the peer's cursor moved from `after` to `next`
    /// (refused as a conflict when the cursor is no longer `after`, or the peer was removed).
    /// A success clears the peer's failure count and back-off.
    pub async fn apply_feed_page(
        &self,
        peer_id: &str,
        after: Option<u64>,
        next: u64,
        items: &[(u64, VerifiedItem)],
        refusals: &[ItemRefusal],
    ) -> Result<PageOutcome, StoreError> {
        let now = self.now_text();
        let mut out = PageOutcome::default();
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE fed_peers SET feed_cursor = $1, last_success_at = $2, failures = 0, \
             last_error = NULL, next_attempt_at = NULL \
             WHERE id = $3 AND removed_at IS NULL AND COALESCE(feed_cursor, -1) = $4",
        )
        .bind(to_i64(next))
        .bind(&now)
        .bind(peer_id)
        .bind(after.map(to_i64).unwrap_or(-1))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Err(StoreError::Conflict {
                what: "peer cursor",
                key: peer_id.into(),
            });
        }
        for r in refusals {
            record_refusal_on(&mut tx, &now, "item", Some(peer_id), r).await?;
            out.refused += 1;
        }
        // What is stored for the page's items, read in one statement per origin (and chunk),
        // and written back in one statement per chunk: one round trip per item made a
        // 100,000-item sync take 39 s on PostgreSQL. Decisions are taken in page order
        // against `known`, which follows the page's own earlier items, so an id that comes
        // twice in a page is decided as if each were applied in turn.
        let backend = self.backend();
        let mut by_origin: HashMap<String, Vec<&str>> = HashMap::new();
        for (_, v) in items {
            let item = v.item();
            by_origin
                .entry(item.origin.key_id.to_string())
                .or_default()
                .push(item.id.as_str());
        }
        let mut known: HashMap<(String, String), Stored> = HashMap::new();
        for (origin, ids) in &by_origin {
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let sql = sqlf!(
                    "SELECT item_id, version, item_type, hidden, content_digest FROM fed_received \
                     WHERE origin_key_id = {} AND item_id IN ({})",
                    placeholders(backend, 0, 1),
                    placeholders(backend, 1, chunk.len())
                );
                let mut q =
                    sqlx::query_as::<_, (String, i64, String, i64, String)>(sql).bind(origin);
                for id in chunk {
                    q = q.bind(*id);
                }
                for (id, version, t, hidden, digest) in q.fetch_all(&mut *tx).await? {
                    known.insert(
                        (origin.clone(), id),
                        stored_of(version, &t, hidden, &digest),
                    );
                }
            }
        }
        // The rows to write, one per (origin, id): the last decision for it wins.
        let mut writes: Vec<ReceivedRow> = Vec::new();
        // Directory entries joining or leaving the register, in page order.
        let mut register: Vec<RegisterChange> = Vec::new();
        let mut write_at: HashMap<(String, String), usize> = HashMap::new();
        for (position, v) in items {
            let item = v.item();
            let origin = item.origin.key_id.to_string();
            let key = (origin.clone(), item.id.to_string());
            let stored = known.get(&key).copied().unwrap_or(Stored::Nothing);
            let decision = decide(stored, v);
            // A directory entry joins the register: its payload is read strictly first, and
            // one that could not have come from a directory is refused, not stored.
            let mut shared_entry = None;
            if matches!(decision, SyncDecision::Insert | SyncDecision::Replace)
                && item.item_type == ItemType::DirectoryEntry
            {
                match SharedDirectoryEntry::from_payload(&item.payload) {
                    Ok(e) => shared_entry = Some(e),
                    Err(e) => {
                        let reason = format!("directory entry refused: {e}");
                        tracing::warn!(peer = peer_id, item = %item.id, %reason, "federation item refused");
                        record_refusal_on(
                            &mut tx,
                            &now,
                            "item",
                            Some(peer_id),
                            &ItemRefusal {
                                position: Some(*position),
                                item_id: Some(item.id.to_string()),
                                key_id: Some(origin.clone()),
                                reason,
                            },
                        )
                        .await?;
                        out.refused += 1;
                        continue;
                    }
                }
            }
            match decision {
                SyncDecision::NoOp => out.unchanged += 1,
                SyncDecision::Insert | SyncDecision::Replace | SyncDecision::Hide => {
                    let hidden = decision == SyncDecision::Hide;
                    let country = item.origin.country.to_string();
                    let issued = format_time(item.issued_at);
                    if let Some(e) = shared_entry {
                        register.push(RegisterChange::Put {
                            country: country.clone(),
                            item_id: item.id.to_string(),
                            issued_on: issued.get(..10).unwrap_or(&issued).to_string(),
                            entry: Box::new(e),
                        });
                    } else if hidden {
                        register.push(RegisterChange::Remove {
                            country: country.clone(),
                            item_id: item.id.to_string(),
                        });
                    }
                    known.insert(
                        key.clone(),
                        if hidden {
                            Stored::Hidden {
                                version: item.version,
                                content_digest: *v.content_digest(),
                            }
                        } else {
                            Stored::Visible {
                                version: item.version,
                                item_type: item.item_type,
                                content_digest: *v.content_digest(),
                            }
                        },
                    );
                    let row = ReceivedRow {
                        origin,
                        item_id: item.id.to_string(),
                        country,
                        version: to_i64(item.version),
                        item_type: item.item_type.code(),
                        hidden: i64::from(hidden),
                        digest: hex::encode(v.content_digest()),
                        wire: String::from_utf8_lossy(v.wire()).into_owned(),
                        issued,
                    };
                    match write_at.get(&key) {
                        Some(&i) => writes[i] = row,
                        None => {
                            write_at.insert(key, writes.len());
                            writes.push(row);
                        }
                    }
                    match decision {
                        SyncDecision::Insert => out.inserted += 1,
                        SyncDecision::Replace => out.replaced += 1,
                        _ => out.hidden += 1,
                    }
                }
                refused => {
                    let reason = match refused {
                        SyncDecision::RefuseOlder { stored, incoming } => {
                            format!("older version {incoming} than the stored {stored}")
                        }
                        SyncDecision::RefuseConflict { version } => {
                            format!("version {version} again with other content")
                        }
                        SyncDecision::RefuseTypeChange { stored, incoming } => {
                            format!("type changed from {stored} to {incoming}")
                        }
                        _ => "refused".into(),
                    };
                    tracing::warn!(peer = peer_id, item = %item.id, %reason, "federation item refused");
                    record_refusal_on(
                        &mut tx,
                        &now,
                        "item",
                        Some(peer_id),
                        &ItemRefusal {
                            position: Some(*position),
                            item_id: Some(item.id.to_string()),
                            key_id: Some(origin.clone()),
                            reason,
                        },
                    )
                    .await?;
                    out.refused += 1;
                }
            }
        }
        for chunk in writes.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", placeholders(backend, 11 * i, 11)))
                .collect();
            let sql = sqlf!(
                "INSERT INTO fed_received (origin_key_id, item_id, origin_country, version, item_type, hidden, content_digest, wire, issued_at, peer_id, received_at) \
                 VALUES {} \
                 ON CONFLICT (origin_key_id, item_id) DO UPDATE SET origin_country = excluded.origin_country, \
                 version = excluded.version, item_type = excluded.item_type, hidden = excluded.hidden, \
                 content_digest = excluded.content_digest, wire = excluded.wire, issued_at = excluded.issued_at, \
                 peer_id = excluded.peer_id, received_at = excluded.received_at",
                rows.join(", ")
            );
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q
                    .bind(&r.origin)
                    .bind(&r.item_id)
                    .bind(&r.country)
                    .bind(r.version)
                    .bind(r.item_type)
                    .bind(r.hidden)
                    .bind(&r.digest)
                    .bind(&r.wire)
                    .bind(&r.issued)
                    .bind(peer_id)
                    .bind(&now);
            }
            q.execute(&mut *tx).await?;
        }
        for change in register {
            match change {
                RegisterChange::Put {
                    country,
                    item_id,
                    issued_on,
                    entry,
                } => {
                    put_received_entry(&mut tx, &now, &country, &item_id, &issued_on, &entry)
                        .await?
                }
                RegisterChange::Remove { country, item_id } => {
                    remove_received_entry(&mut tx, &now, &country, &item_id).await?
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records a refused request or page (outside a page's transaction).
    pub async fn record_refusal(
        &self,
        kind: &str,
        peer_id: Option<&str>,
        refusal: &ItemRefusal,
    ) -> Result<(), StoreError> {
        if !matches!(kind, "item" | "page" | "request") {
            return Err(invalid("refusal kind", kind.to_string()));
        }
        let mut conn = self.pool().acquire().await?;
        record_refusal_on(&mut conn, &self.now_text(), kind, peer_id, refusal).await
    }

    /// Refusals, newest first.
    pub async fn list_refusals(&self, limit: i64) -> Result<Vec<Refusal>, StoreError> {
        Ok(sqlx::query_as::<_, Refusal>(
            "SELECT id, at, kind, peer_id, key_id, position, item_id, reason FROM fed_refusals \
             ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?)
    }

    /// Received items of these types (all when empty), newest issue first; hidden ones
    /// (retracted) only when asked.
    pub async fn received_items(
        &self,
        types: &[ItemType],
        include_hidden: bool,
        limit: i64,
    ) -> Result<Vec<ReceivedItem>, StoreError> {
        // Only the types' constant codes are written into the statement.
        let type_filter = if types.is_empty() {
            String::new()
        } else {
            let codes: Vec<String> = types.iter().map(|t| format!("'{}'", t.code())).collect();
            format!("AND r.item_type IN ({})", codes.join(", "))
        };
        Ok(sqlx::query_as::<_, ReceivedItem>(sqlf!(
            "SELECT r.origin_key_id, r.item_id, r.origin_country, r.version, r.item_type, r.hidden, \
             r.content_digest, r.wire, r.issued_at, r.peer_id, r.received_at, p.name AS peer_name \
             FROM fed_received r JOIN fed_peers p ON p.id = r.peer_id \
             WHERE r.hidden <= $1 {type_filter} ORDER BY r.issued_at DESC, r.item_id LIMIT $2"
        ))
        .bind(i64::from(include_hidden))
        .bind(limit.clamp(1, 100_000))
        .fetch_all(self.pool())
        .await?)
    }
}

/// A received directory entry's effect on the register.
enum RegisterChange {
    Put {
        country: String,
        item_id: String,
        issued_on: String,
        entry: Box<SharedDirectoryEntry>,
    },
    Remove {
        country: String,
        item_id: String,
    },
}
