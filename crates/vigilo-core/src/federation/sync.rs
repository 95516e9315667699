//! The sync rules, as pure functions: what to do with a verified incoming item given what
//! is stored for its (origin, id), and whether a peer's feed page moves forward.
//!
//! A retraction is the next version of the item it withdraws (same origin and id, type
//! `retraction`): stored, it hides the item; arriving first, it is kept as a hidden
//! tombstone so that the older version it withdrew cannot be inserted afterwards.

use super::item::{ItemType, VerifiedItem};

/// What is stored for an (origin, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Nothing,
    Visible {
        version: u64,
        item_type: ItemType,
        content_digest: [u8; 32],
    },
    Hidden {
        version: u64,
        content_digest: [u8; 32],
    },
}

/// What the store does with an incoming item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncDecision {
    /// Nothing stored: insert it.
    Insert,
    /// A newer version: replace what is stored (and show it again if it was hidden).
    Replace,
    /// The same version with the same content: nothing to do (a resend).
    NoOp,
    /// A retraction: store it and hide the item.
    Hide,
    /// An older version than the stored one: refused and logged.
    RefuseOlder { stored: u64, incoming: u64 },
    /// The same version with different content: the origin signed two different items
    /// under one version. Refused and logged; the stored one stays.
    RefuseConflict { version: u64 },
    /// A new version of another type (other than a retraction): refused and logged.
    RefuseTypeChange {
        stored: ItemType,
        incoming: ItemType,
    },
}

impl SyncDecision {
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            SyncDecision::RefuseOlder { .. }
                | SyncDecision::RefuseConflict { .. }
                | SyncDecision::RefuseTypeChange { .. }
        )
    }
}

/// Decides what to do with a verified incoming item.
pub fn decide(stored: Stored, incoming: &VerifiedItem) -> SyncDecision {
    let item = incoming.item();
    let retraction = item.item_type == ItemType::Retraction;
    let (version, digest) = match stored {
        Stored::Nothing => {
            return if retraction {
                SyncDecision::Hide
            } else {
                SyncDecision::Insert
            }
        }
        Stored::Visible {
            version,
            content_digest,
            ..
        }
        | Stored::Hidden {
            version,
            content_digest,
        } => (version, content_digest),
    };
    if item.version < version {
        return SyncDecision::RefuseOlder {
            stored: version,
            incoming: item.version,
        };
    }
    if item.version == version {
        return if *incoming.content_digest() == digest {
            SyncDecision::NoOp
        } else {
            SyncDecision::RefuseConflict { version }
        };
    }
    if retraction {
        return SyncDecision::Hide;
    }
    if let Stored::Visible { item_type, .. } = stored {
        if item_type != item.item_type {
            return SyncDecision::RefuseTypeChange {
                stored: item_type,
                incoming: item.item_type,
            };
        }
    }
    SyncDecision::Replace
}

/// A feed page that does not move forward.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the peer's next cursor {next} is before the cursor asked for ({after})")]
    Backwards { after: u64, next: u64 },
    #[error("item at position {position} is not after the cursor asked for ({after})")]
    ItemNotAfter { after: u64, position: u64 },
    #[error("items are not in increasing feed order ({previous} then {position})")]
    OutOfOrder { previous: u64, position: u64 },
    #[error("the next cursor {next} is before the last item's position {last}")]
    BehindLastItem { next: u64, last: u64 },
}

/// Checks a feed page fetched with `?after=after` (`None` from the start): each item's
/// feed position must be after `after` and increasing, and the page's next cursor must not
/// go backwards (from `after` nor from the last item). The sync job keeps its cursor only
/// when this passes.
pub fn check_page(after: Option<u64>, positions: &[u64], next: u64) -> Result<(), CursorError> {
    let floor = after.unwrap_or(0);
    if next < floor {
        return Err(CursorError::Backwards { after: floor, next });
    }
    let mut previous: Option<u64> = None;
    for &position in positions {
        if after.is_some() && position <= floor {
            return Err(CursorError::ItemNotAfter {
                after: floor,
                position,
            });
        }
        if let Some(p) = previous {
            if position <= p {
                return Err(CursorError::OutOfOrder {
                    previous: p,
                    position,
                });
            }
        }
        previous = Some(position);
    }
    if let Some(last) = previous {
        if next < last {
            return Err(CursorError::BehindLastItem { next, last });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::federation::identity::NodeKeys;
    use crate::federation::item::{
        sign_item, verify_item, Audience, ItemDraft, TrustedPeers, VerifyPolicy,
    };
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

    fn item(item_type: ItemType, version: u64, text: &str) -> VerifiedItem {
        let keys = NodeKeys::from_seed(&[2; 32]);
        let s = sign_item(
            &keys,
            ItemDraft {
                item_type,
                id: "ew-1".parse().unwrap(),
                version,
                issued_at: datetime!(2026-12-07 02:00 UTC),
                country: "VN".parse().unwrap(),
                audience: Audience::Members,
                payload: json!({ "text": text }),
            },
        )
        .unwrap();
        let mut t = TrustedPeers::new();
        t.pin(keys.public_key(), "VN".parse().unwrap());
        verify_item(
            &s.wire,
            &t,
            &VerifyPolicy {
                now: datetime!(2026-12-07 03:00 UTC),
                max_future_skew: Duration::minutes(5),
                max_item_bytes: 65536,
                reader: "SG".parse().unwrap(),
            },
        )
        .unwrap()
    }

    fn visible(i: &VerifiedItem) -> Stored {
        Stored::Visible {
            version: i.item().version,
            item_type: i.item().item_type,
            content_digest: *i.content_digest(),
        }
    }

    #[test]
    fn decisions() {
        let ew = ItemType::EarlyWarning;
        let v2 = item(ew, 2, "a");
        assert_eq!(decide(Stored::Nothing, &v2), SyncDecision::Insert);
        assert_eq!(decide(visible(&v2), &v2), SyncDecision::NoOp);
        assert_eq!(
            decide(visible(&v2), &item(ew, 2, "b")),
            SyncDecision::RefuseConflict { version: 2 }
        );
        assert_eq!(
            decide(visible(&v2), &item(ew, 3, "c")),
            SyncDecision::Replace
        );
        assert_eq!(
            decide(visible(&v2), &item(ew, 1, "old")),
            SyncDecision::RefuseOlder {
                stored: 2,
                incoming: 1
            }
        );
        assert_eq!(
            decide(visible(&v2), &item(ItemType::SafetyNotice, 3, "x")),
            SyncDecision::RefuseTypeChange {
                stored: ew,
                incoming: ItemType::SafetyNotice
            }
        );
        // Retraction: hides a stored item, or is kept as a tombstone when it comes first.
        let r3 = item(ItemType::Retraction, 3, "withdrawn");
        assert_eq!(decide(visible(&v2), &r3), SyncDecision::Hide);
        assert_eq!(decide(Stored::Nothing, &r3), SyncDecision::Hide);
        let hidden = Stored::Hidden {
            version: 3,
            content_digest: *r3.content_digest(),
        };
        assert_eq!(decide(hidden, &r3), SyncDecision::NoOp);
        // The version it withdrew arriving late is refused.
        assert_eq!(
            decide(hidden, &v2),
            SyncDecision::RefuseOlder {
                stored: 3,
                incoming: 2
            }
        );
        // A later version after a retraction publishes it again.
        assert_eq!(
            decide(hidden, &item(ew, 4, "republished")),
            SyncDecision::Replace
        );
        assert!(SyncDecision::RefuseOlder {
            stored: 2,
            incoming: 1
        }
        .is_refusal());
        assert!(!SyncDecision::Hide.is_refusal());
    }

    #[test]
    fn cursors() {
        assert_eq!(check_page(None, &[1, 2, 5], 5), Ok(()));
        assert_eq!(check_page(Some(5), &[6, 9], 9), Ok(()));
        assert_eq!(check_page(Some(9), &[], 9), Ok(()));
        assert_eq!(check_page(Some(9), &[], 12), Ok(()));
        assert_eq!(
            check_page(Some(9), &[], 3),
            Err(CursorError::Backwards { after: 9, next: 3 })
        );
        assert_eq!(
            check_page(Some(9), &[9, 10], 10),
            Err(CursorError::ItemNotAfter {
                after: 9,
                position: 9
            })
        );
        assert_eq!(
            check_page(Some(9), &[11, 10], 11),
            Err(CursorError::OutOfOrder {
                previous: 11,
                position: 10
            })
        );
        assert_eq!(
            check_page(Some(9), &[10, 12], 11),
            Err(CursorError::BehindLastItem { next: 11, last: 12 })
        );
    }
}
