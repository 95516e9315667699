//! GRN federation, the pure part: node identity and the shareable identity line, RFC 8785
//! canonical JSON, signed feed items and their verification against pinned peer keys, an
//! RFC 9421 subset for signed requests, the early-warning message, and the sync rules.
//!
//! No I/O, no clock, no randomness: key seeds, nonces and `now` arrive as parameters. The
//! store, the server's `/federation/v1` endpoints, the sync job and the `vigilo peer`
//! commands are built on these functions; the wire format and the trust model are in
//! `docs/federation.md`.

pub mod directory;
pub mod identity;
pub mod item;
pub mod jcs;
pub mod request;
pub mod sync;
pub mod warning;

pub use directory::{DirectoryEntryError, SharedDirectoryEntry, DIRECTORY_SCHEMA};
pub use identity::{
    BaseUrl, CountryCode, IdentityError, KeyId, NodeKeys, NodeName, PeerIdentity, PublicKey,
};
pub use item::{
    sign_item, verify_item, verify_item_value, Audience, Item, ItemDraft, ItemError, ItemId,
    ItemType, Origin, PinnedKey, PinnedKeys, SignedItem, TrustedPeers, VerifiedItem, VerifyError,
    VerifyPolicy,
};
pub use request::{
    sign_request, verify_request, HttpRequest, NonceCheck, RequestError, SignatureHeaders,
    VerifiedRequest,
};
pub use sync::{check_page, decide, CursorError, Stored, SyncDecision};
pub use warning::{
    compose_early_warning, ActionKind, ActionTaken, ComposeError, EarlyWarning, ReportStage,
    SeriousnessCounts, WarningCounts, WarningInput, WarningProduct,
};
