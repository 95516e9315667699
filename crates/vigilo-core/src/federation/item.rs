//! Signed feed items: the versioned wire envelope a node publishes in its feed, how it is
//! signed, and how a reader verifies it against the keys its admin pinned.
//!
//! On the wire an item is one JSON object:
//!
//! ```json
//! {"audience":{"scope":"countries","countries":["SG","GB"]},
//!  "format":"vigilo-federation/1","id":"ew-2026-000004",
//!  "issued_at":"2026-12-07T02:00:00Z",
//!  "origin":{"country":"VN","key_id":"…32 hex…"},
//!  "payload":{…},"signature":"…86 characters of base64url…",
//!  "type":"early_warning","version":2}
//! ```
//!
//! The signature is Ed25519 over the RFC 8785 canonical form of that object without its
//! `signature` member. The verifier re-canonicalises what it parsed, so a peer's JSON
//! layout does not matter, only its content. Unknown members are refused: a new member means
//! a new `format`.

use super::identity::{CountryCode, KeyId, NodeKeys, PeerIdentity, PublicKey};
use super::jcs::{canonical_bytes, parse_strict, JcsError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The envelope format this code writes and reads.
pub const ITEM_FORMAT: &str = "vigilo-federation/1";
/// The largest version number (versions are JSON integers, exact in every implementation).
pub const MAX_VERSION: u64 = 1 << 53;
/// The most countries an audience may list.
pub const MAX_AUDIENCE_COUNTRIES: usize = 250;
const MAX_ID_LEN: usize = 100;
/// `,"signature":"` + 86 characters of base64url + `"`: what the signature adds to the
/// canonical content (which always has other members, hence the comma).
const SIGNATURE_MEMBER_LEN: usize = 101;

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemType {
    DirectoryEntry,
    EarlyWarning,
    SafetyNotice,
    /// Withdraws the item of the same origin and id (a later version of it).
    Retraction,
}

impl ItemType {
    pub fn code(self) -> &'static str {
        match self {
            ItemType::DirectoryEntry => "directory_entry",
            ItemType::EarlyWarning => "early_warning",
            ItemType::SafetyNotice => "safety_notice",
            ItemType::Retraction => "retraction",
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who may read an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case", deny_unknown_fields)]
pub enum Audience {
    /// Anyone, including anonymous readers of the feed.
    Public,
    /// Every GRN member node (requests signed by a pinned peer).
    Members,
    /// Only the nodes of these countries (sorted, without repeats, not empty).
    Countries { countries: Vec<CountryCode> },
}

impl Audience {
    /// An audience of listed countries, sorted and without repeats.
    pub fn countries(list: impl IntoIterator<Item = CountryCode>) -> Result<Audience, ItemError> {
        let mut countries: Vec<CountryCode> = list.into_iter().collect();
        countries.sort();
        countries.dedup();
        let audience = Audience::Countries { countries };
        audience.check()?;
        Ok(audience)
    }

    fn check(&self) -> Result<(), ItemError> {
        if let Audience::Countries { countries } = self {
            if countries.is_empty() {
                return Err(ItemError::EmptyAudience);
            }
            if countries.len() > MAX_AUDIENCE_COUNTRIES {
                return Err(ItemError::AudienceTooLong);
            }
            if !countries.windows(2).all(|w| w[0] < w[1]) {
                return Err(ItemError::AudienceNotSorted);
            }
        }
        Ok(())
    }

    /// Whether a member node of `country` may read it.
    pub fn includes(&self, country: CountryCode) -> bool {
        match self {
            Audience::Public | Audience::Members => true,
            Audience::Countries { countries } => countries.contains(&country),
        }
    }

    /// Whether a feed request may see it: anonymous (`None`) requests see public items only;
    /// requests signed by a pinned peer see what includes that peer's country.
    pub fn visible_to(&self, requester: Option<CountryCode>) -> bool {
        match requester {
            None => matches!(self, Audience::Public),
            Some(c) => self.includes(c),
        }
    }
}

/// An item's stable id within its origin: 1 to 100 characters of `A-Z a-z 0-9 . _ : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ItemId(String);

impl ItemId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ItemId {
    type Err = ItemError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.is_empty()
            && s.len() <= MAX_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            Ok(ItemId(s.to_owned()))
        } else {
            Err(ItemError::Id(s.chars().take(MAX_ID_LEN + 1).collect()))
        }
    }
}

impl TryFrom<String> for ItemId {
    type Error = ItemError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> String {
        id.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who issued an item: the signer's key id and its country (which must be the country the
/// admin pinned with that key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub key_id: KeyId,
    pub country: CountryCode,
}

/// The signed content of an item (the envelope without its signature).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub format: String,
    #[serde(rename = "type")]
    pub item_type: ItemType,
    pub id: ItemId,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub origin: Origin,
    pub audience: Audience,
    pub payload: Value,
}

/// What is wrong with an item being built or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    #[error("item id '{0}' must be 1 to 100 characters of letters, digits, '.', '_', ':' or '-'")]
    Id(String),
    #[error("item version {0} must be between 1 and 2^53")]
    Version(u64),
    #[error("the audience lists no country")]
    EmptyAudience,
    #[error("the audience lists more than {MAX_AUDIENCE_COUNTRIES} countries")]
    AudienceTooLong,
    #[error("the audience's countries are not sorted without repeats")]
    AudienceNotSorted,
    #[error("the issue time has no RFC 3339 form (year outside 0000-9999?)")]
    IssuedAt,
    #[error("the item has no canonical JSON form: {0}")]
    Canonical(#[from] JcsError),
}

/// An item to sign: everything but the origin, which is the signing node's.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemDraft {
    pub item_type: ItemType,
    pub id: ItemId,
    pub version: u64,
    pub issued_at: OffsetDateTime,
    pub country: CountryCode,
    pub audience: Audience,
    pub payload: Value,
}

/// A signed item as published: its content, signature and wire bytes (canonical JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedItem {
    pub item: Item,
    pub signature: [u8; 64],
    /// The JSON object with its signature, in canonical form: what the feed serves.
    pub wire: Vec<u8>,
    /// SHA-256 of the signed content (the canonical form without the signature).
    pub content_digest: [u8; 32],
}

impl SignedItem {
    /// The item as a JSON value (the wire form), to place in a feed page.
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.wire).unwrap_or(Value::Null)
    }
}

fn item_object(item: &Item) -> Result<Map<String, Value>, ItemError> {
    match serde_json::to_value(item) {
        Ok(Value::Object(map)) => Ok(map),
        // Only the time can fail to serialise (a year beyond four digits).
        _ => Err(ItemError::IssuedAt),
    }
}

/// Signs a draft as this node: origin is the node's key id and the draft's country.
pub fn sign_item(keys: &NodeKeys, draft: ItemDraft) -> Result<SignedItem, ItemError> {
    if draft.version == 0 || draft.version > MAX_VERSION {
        return Err(ItemError::Version(draft.version));
    }
    draft.audience.check()?;
    let item = Item {
        format: ITEM_FORMAT.to_owned(),
        item_type: draft.item_type,
        id: draft.id,
        version: draft.version,
        issued_at: draft.issued_at,
        origin: Origin {
            key_id: keys.key_id(),
            country: draft.country,
        },
        audience: draft.audience,
        payload: draft.payload,
    };
    let mut object = item_object(&item)?;
    let content = canonical_bytes(&Value::Object(object.clone()))?;
    let signature = keys.sign(&content);
    object.insert(
        "signature".to_owned(),
        Value::String(URL_SAFE_NO_PAD.encode(signature)),
    );
    let wire = canonical_bytes(&Value::Object(object))?;
    Ok(SignedItem {
        item,
        signature,
        wire,
        content_digest: Sha256::digest(&content).into(),
    })
}

/// A pinned peer key: the key and the country its admin pinned it for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedKey {
    pub key: PublicKey,
    pub country: CountryCode,
}

/// Where the verifier finds pinned keys. Never the network: only what the admin added.
pub trait PinnedKeys {
    fn pinned(&self, key_id: &KeyId) -> Option<PinnedKey>;
}

/// The pinned keys as a map, built from the identities the admin added.
#[derive(Debug, Clone, Default)]
pub struct TrustedPeers(HashMap<KeyId, PinnedKey>);

impl TrustedPeers {
    pub fn new() -> TrustedPeers {
        TrustedPeers::default()
    }

    pub fn pin(&mut self, key: PublicKey, country: CountryCode) {
        self.0.insert(key.key_id(), PinnedKey { key, country });
    }

    pub fn pin_identity(&mut self, identity: &PeerIdentity) {
        self.pin(identity.public_key, identity.country);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<&'a PeerIdentity> for TrustedPeers {
    fn from_iter<I: IntoIterator<Item = &'a PeerIdentity>>(iter: I) -> Self {
        let mut peers = TrustedPeers::new();
        for id in iter {
            peers.pin_identity(id);
        }
        peers
    }
}

impl PinnedKeys for TrustedPeers {
    fn pinned(&self, key_id: &KeyId) -> Option<PinnedKey> {
        self.0.get(key_id).copied()
    }
}

impl<F: Fn(&KeyId) -> Option<PinnedKey>> PinnedKeys for F {
    fn pinned(&self, key_id: &KeyId) -> Option<PinnedKey> {
        self(key_id)
    }
}

/// The reader's side of verification: when it is, how far ahead of it an item's issue time
/// may be, the largest item it accepts, and its own country (for the audience).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    pub now: OffsetDateTime,
    pub max_future_skew: Duration,
    pub max_item_bytes: usize,
    pub reader: CountryCode,
}

/// Why an incoming item was refused. Each is logged by the sync job and never stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("item of {size} bytes is larger than the limit of {max}")]
    TooLarge { size: usize, max: usize },
    #[error("malformed item: {0}")]
    Malformed(String),
    #[error("unsupported item format '{0}' (this node reads {ITEM_FORMAT})")]
    UnsupportedFormat(String),
    #[error("item signed by key {0}, which is not pinned")]
    UnknownSigner(KeyId),
    #[error("item claims country {claimed} but its key is pinned for {pinned}")]
    WrongCountry {
        claimed: CountryCode,
        pinned: CountryCode,
    },
    #[error("the item's signature does not verify")]
    BadSignature,
    #[error("item issued at {issued_at}, too far after now ({now})")]
    FromTheFuture { issued_at: String, now: String },
    #[error("item's audience does not include {0}")]
    NotForReader(CountryCode),
}

/// An item whose signature verified against a pinned key and which this node may read.
/// Only [`verify_item`] and [`verify_item_value`] make one.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedItem {
    item: Item,
    signature: [u8; 64],
    wire: Vec<u8>,
    content_digest: [u8; 32],
}

impl VerifiedItem {
    pub fn item(&self) -> &Item {
        &self.item
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The item as received, in canonical form (with its signature): what to store, so
    /// that it can be verified again or shown as evidence.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// SHA-256 of the signed content: two items with the same origin, id and version must
    /// have the same digest, or the origin signed two different things.
    pub fn content_digest(&self) -> &[u8; 32] {
        &self.content_digest
    }

    pub fn into_item(self) -> Item {
        self.item
    }
}

fn malformed(e: impl fmt::Display) -> VerifyError {
    VerifyError::Malformed(e.to_string().chars().take(300).collect())
}

/// Verifies one item given as bytes (refused before parsing if longer than the limit).
pub fn verify_item(
    bytes: &[u8],
    keys: &impl PinnedKeys,
    policy: &VerifyPolicy,
) -> Result<VerifiedItem, VerifyError> {
    if bytes.len() > policy.max_item_bytes {
        return Err(VerifyError::TooLarge {
            size: bytes.len(),
            max: policy.max_item_bytes,
        });
    }
    let value = parse_strict(bytes).map_err(malformed)?;
    verify_item_value(value, keys, policy)
}

/// Verifies one item already parsed (from a feed page, which should be parsed with
/// [`parse_strict`](super::jcs::parse_strict) so that duplicate member names are refused);
/// its canonical size is bounded too.
pub fn verify_item_value(
    value: Value,
    keys: &impl PinnedKeys,
    policy: &VerifyPolicy,
) -> Result<VerifiedItem, VerifyError> {
    let Value::Object(mut object) = value else {
        return Err(malformed("an item must be a JSON object"));
    };
    let signature = match object.remove("signature") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(malformed("'signature' must be a string")),
        None => return Err(malformed("the item has no 'signature'")),
    };
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(&signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed("'signature' is not 64 bytes of unpadded base64url"))?;
    if let Some(Value::String(format)) = object.get("format") {
        if format != ITEM_FORMAT {
            return Err(VerifyError::UnsupportedFormat(
                format.chars().take(60).collect(),
            ));
        }
    }
    let mut content_value = Value::Object(object);
    let content = canonical_bytes(&content_value).map_err(malformed)?;
    let wire_len = content.len() + SIGNATURE_MEMBER_LEN;
    if wire_len > policy.max_item_bytes {
        return Err(VerifyError::TooLarge {
            size: wire_len,
            max: policy.max_item_bytes,
        });
    }
    let item = Item::deserialize(&content_value).map_err(malformed)?;
    if item.format != ITEM_FORMAT {
        return Err(VerifyError::UnsupportedFormat(
            item.format.chars().take(60).collect(),
        ));
    }
    if item.version == 0 || item.version > MAX_VERSION {
        return Err(malformed(ItemError::Version(item.version)));
    }
    item.audience.check().map_err(malformed)?;
    // A store that answers with another key than the one named is treated as not knowing it.
    let pinned = keys
        .pinned(&item.origin.key_id)
        .filter(|p| p.key.key_id() == item.origin.key_id)
        .ok_or_else(|| VerifyError::UnknownSigner(item.origin.key_id.clone()))?;
    if pinned.country != item.origin.country {
        return Err(VerifyError::WrongCountry {
            claimed: item.origin.country,
            pinned: pinned.country,
        });
    }
    if !pinned.key.verify(&content, &signature) {
        return Err(VerifyError::BadSignature);
    }
    if item.issued_at - policy.now > policy.max_future_skew {
        return Err(VerifyError::FromTheFuture {
            issued_at: item.issued_at.format(&Rfc3339).unwrap_or_default(),
            now: policy.now.format(&Rfc3339).unwrap_or_default(),
        });
    }
    if !item.audience.includes(policy.reader) {
        return Err(VerifyError::NotForReader(policy.reader));
    }
    if let Value::Object(object) = &mut content_value {
        object.insert(
            "signature".to_owned(),
            Value::String(URL_SAFE_NO_PAD.encode(signature)),
        );
    }
    let wire = canonical_bytes(&content_value).map_err(malformed)?;
    Ok(VerifiedItem {
        item,
        signature,
        wire,
        content_digest: Sha256::digest(&content).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 03:00 UTC);

    fn vn() -> NodeKeys {
        NodeKeys::from_seed(&[1; 32])
    }
    fn c(s: &str) -> CountryCode {
        s.parse().unwrap()
    }

    fn draft(payload: Value) -> ItemDraft {
        ItemDraft {
            item_type: ItemType::EarlyWarning,
            id: "ew-2026-000004".parse().unwrap(),
            version: 2,
            issued_at: datetime!(2026-12-07 02:00 UTC),
            country: c("VN"),
            audience: Audience::countries([c("SG"), c("GB"), c("SG")]).unwrap(),
            payload,
        }
    }

    fn trusted() -> TrustedPeers {
        let mut t = TrustedPeers::new();
        t.pin(vn().public_key(), c("VN"));
        t
    }

    fn policy(reader: &str) -> VerifyPolicy {
        VerifyPolicy {
            now: NOW,
            max_future_skew: Duration::minutes(5),
            max_item_bytes: 64 * 1024,
            reader: c(reader),
        }
    }

    fn signed() -> SignedItem {
        sign_item(&vn(), draft(json!({"summary": "Sai liều", "count": 7}))).unwrap()
    }

    #[test]
    fn sign_then_verify() {
        let s = signed();
        let text = std::str::from_utf8(&s.wire).unwrap();
        assert!(text.starts_with(r#"{"audience":{"countries":["GB","SG"],"scope":"countries"},"format":"vigilo-federation/1","id":"ew-2026-000004","issued_at":"2026-12-07T02:00:00Z","origin":{"country":"VN","key_id":""#), "{text}");
        let v = verify_item(&s.wire, &trusted(), &policy("SG")).unwrap();
        assert_eq!(v.item(), &s.item);
        assert_eq!(v.wire(), s.wire.as_slice());
        assert_eq!(v.content_digest(), &s.content_digest);
        let content = canonical_bytes(&serde_json::to_value(&s.item).unwrap()).unwrap();
        assert_eq!(s.wire.len(), content.len() + SIGNATURE_MEMBER_LEN);
        // Layout does not matter: pretty-printed, members reordered.
        let pretty = serde_json::to_vec_pretty(&s.to_value()).unwrap();
        assert!(verify_item(&pretty, &trusted(), &policy("GB")).is_ok());
    }

    #[test]
    fn each_refusal() {
        let s = signed();
        let p = policy("SG");
        let mut small = p;
        small.max_item_bytes = 100;
        assert!(matches!(
            verify_item(&s.wire, &trusted(), &small),
            Err(VerifyError::TooLarge { max: 100, .. })
        ));
        // The bound is exact, also for an item taken from a parsed page.
        small.max_item_bytes = s.wire.len();
        assert!(verify_item_value(s.to_value(), &trusted(), &small).is_ok());
        small.max_item_bytes = s.wire.len() - 1;
        assert_eq!(
            verify_item_value(s.to_value(), &trusted(), &small),
            Err(VerifyError::TooLarge {
                size: s.wire.len(),
                max: s.wire.len() - 1
            })
        );
        assert!(matches!(
            verify_item(b"{\"a\":", &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
        assert!(matches!(
            verify_item(b"[1]", &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
        // Two payloads in one object: refused, whichever one was signed.
        let text = std::str::from_utf8(&s.wire).unwrap();
        let doubled = text.replacen("\"payload\":", "\"payload\":{\"count\":99},\"payload\":", 1);
        assert!(matches!(
            verify_item(doubled.as_bytes(), &trusted(), &p),
            Err(VerifyError::Malformed(m)) if m.contains("duplicate")
        ));
        // Unknown signer: nothing pinned.
        assert_eq!(
            verify_item(&s.wire, &TrustedPeers::new(), &p),
            Err(VerifyError::UnknownSigner(vn().key_id()))
        );
        // A key pinned for another country.
        let mut elsewhere = TrustedPeers::new();
        elsewhere.pin(vn().public_key(), c("SG"));
        assert_eq!(
            verify_item(&s.wire, &elsewhere, &p),
            Err(VerifyError::WrongCountry {
                claimed: c("VN"),
                pinned: c("SG")
            })
        );
        // A key source that answers with another key than the one asked for.
        let confused = |_: &KeyId| {
            Some(PinnedKey {
                key: NodeKeys::from_seed(&[8; 32]).public_key(),
                country: c("VN"),
            })
        };
        assert_eq!(
            verify_item(&s.wire, &confused, &p),
            Err(VerifyError::UnknownSigner(vn().key_id()))
        );
        // Forged: signed by an unpinned key that claims the pinned key's id.
        let forger = NodeKeys::from_seed(&[9; 32]);
        let forged = sign_item(&forger, draft(json!({}))).unwrap();
        let mut v = forged.to_value();
        v["origin"]["key_id"] = json!(vn().key_id().as_str());
        assert_eq!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::BadSignature)
        );
        // Tampered payload.
        let mut v = s.to_value();
        v["payload"]["count"] = json!(8);
        assert_eq!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::BadSignature)
        );
        // Tampered audience, to read what was not addressed to us.
        let mut v = s.to_value();
        v["audience"]["countries"] = json!(["GB", "SG", "US"]);
        assert_eq!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::BadSignature)
        );
        // Not addressed to this reader.
        assert_eq!(
            verify_item(&s.wire, &trusted(), &policy("US")),
            Err(VerifyError::NotForReader(c("US")))
        );
        // Issued too far ahead of our clock; within the skew is fine.
        let mut early = p;
        early.now = datetime!(2026-12-07 01:54 UTC);
        assert!(matches!(
            verify_item(&s.wire, &trusted(), &early),
            Err(VerifyError::FromTheFuture { .. })
        ));
        early.now = datetime!(2026-12-07 01:56 UTC);
        assert!(verify_item(&s.wire, &trusted(), &early).is_ok());
        // An unknown member, another format, a missing signature, a bad version.
        let mut v = s.to_value();
        v["extra"] = json!(1);
        assert!(matches!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
        let mut v = s.to_value();
        v["format"] = json!("vigilo-federation/2");
        assert_eq!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::UnsupportedFormat("vigilo-federation/2".into()))
        );
        let mut v = s.to_value();
        v.as_object_mut().unwrap().remove("signature");
        assert!(matches!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
        let mut v = s.to_value();
        v["signature"] = json!("AAAA");
        assert!(matches!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
        let mut v = s.to_value();
        v["version"] = json!(0);
        assert!(matches!(
            verify_item_value(v, &trusted(), &p),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn drafts_are_checked() {
        let mut d = draft(json!({}));
        d.version = 0;
        assert_eq!(sign_item(&vn(), d).unwrap_err(), ItemError::Version(0));
        assert_eq!(Audience::countries([]), Err(ItemError::EmptyAudience));
        assert!("a b".parse::<ItemId>().is_err());
        assert!("".parse::<ItemId>().is_err());
        assert!("x".repeat(101).parse::<ItemId>().is_err());
        let mut d = draft(json!({"n": u64::MAX}));
        d.audience = Audience::Public;
        assert!(matches!(sign_item(&vn(), d), Err(ItemError::Canonical(_))));
    }

    #[test]
    fn audience_visibility() {
        let listed = Audience::countries([c("SG")]).unwrap();
        assert!(Audience::Public.visible_to(None));
        assert!(!Audience::Members.visible_to(None));
        assert!(Audience::Members.visible_to(Some(c("ZM"))));
        assert!(listed.visible_to(Some(c("SG"))));
        assert!(!listed.visible_to(Some(c("ZM"))));
        assert!(!listed.visible_to(None));
    }

    fn arb_payload() -> impl Strategy<Value = Value> {
        (
            "\\PC{0,40}",
            any::<u32>(),
            prop::collection::vec("[A-Z][0-9]{4}", 0..4),
            any::<bool>(),
        )
            .prop_map(|(summary, count, codes, serious)| {
                json!({"summary": summary, "count": count, "codes": codes, "serious": serious})
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sign_then_verify_always_holds(payload in arb_payload(), seed in any::<[u8; 32]>(), version in 1u64..1000) {
            let keys = NodeKeys::from_seed(&seed);
            let mut d = draft(payload);
            d.version = version;
            let s = sign_item(&keys, d).unwrap();
            let mut t = TrustedPeers::new();
            t.pin(keys.public_key(), c("VN"));
            let v = verify_item(&s.wire, &t, &policy("SG")).unwrap();
            prop_assert_eq!(v.item(), &s.item);
        }

        #[test]
        fn any_single_byte_tamper_of_the_payload_fails(payload in arb_payload(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let s = sign_item(&vn(), draft(payload)).unwrap();
            let text = std::str::from_utf8(&s.wire).unwrap();
            let start = text.find("\"payload\":").unwrap() + "\"payload\":".len();
            let end = text.find(",\"signature\":").unwrap();
            let i = start + at.index(end - start);
            let mut bytes = s.wire.clone();
            bytes[i] ^= xor;
            // Whatever the byte became, the item is refused (malformed JSON, or a payload
            // that is not the one signed), unless the change left the same JSON value
            // (it cannot: every byte of a canonical form is significant).
            let r = verify_item(&bytes, &trusted(), &policy("SG"));
            prop_assert!(r.is_err(), "accepted after tampering byte {}", i);
        }
    }
}
