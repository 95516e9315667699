//! GRN federation over HTTP: this node's signed feed (`GET /federation/v1/feed`), the admin
//! pages for this node's identity and its pinned peers, the reviewers' "From GRN peers" page,
//! the outbound record's export, and the sync job that pulls every peer's feed.
//!
//! The wire format, signatures and sync rules are `vigilo_core::federation`'s
//! (`docs/federation.md`); the storage is `vigilo_store`'s. Signed requests are verified
//! against the authority of this node's configured base URL, never the request's `Host`.

use crate::ctx::{random_hex, Ctx};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::extract::PageForm;
use crate::i18n::Tr;
use crate::pages::{render_page as render, Layout};
use crate::AppState;
use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::Duration;
use vigilo_core::federation::{
    check_page, jcs, sign_request, verify_item_value, verify_request, Audience, EarlyWarning,
    HttpRequest, ItemId, ItemType, KeyId, NodeKeys, PeerIdentity, RequestError, VerifiedItem,
    VerifyPolicy,
};
use vigilo_store::{
    ItemRefusal, NewPublication, PageOutcome, Peer, PublishedItem, Store, StoreError,
    ANONYMOUS_RECIPIENT,
};

/// The feed's path under a node's base URL.
pub const FEED_PATH: &str = "/federation/v1/feed";

/// This node's federation settings (from the binary's flags, environment and config file).
#[derive(Clone)]
pub struct FederationConfig {
    /// This node's keys: without them the node neither signs requests nor publishes (the
    /// public feed is still served).
    pub keys: Option<Arc<NodeKeys>>,
    /// This node's name, country and base URL. Signed requests must name the base URL's
    /// authority; the node's identity line is built from it.
    pub identity: Option<PeerIdentity>,
    /// How far a signed request's `created`, or an item's issue time, may be from now.
    pub max_skew: Duration,
    /// The largest item accepted from a peer (canonical bytes).
    pub max_item_bytes: usize,
    /// The largest feed page accepted from a peer.
    pub max_response_bytes: usize,
    /// The size this node's feed pages stop at (after at least one item); below
    /// `max_response_bytes` so that peers with the default settings accept every page.
    pub max_page_bytes: usize,
    /// Time allowed for one feed request to a peer, connection to last byte.
    pub fetch_timeout: StdDuration,
    /// Items asked for per page.
    pub page_limit: u32,
    /// Pages pulled from one peer per run (the rest waits for the next run).
    pub max_pages_per_run: u32,
    /// No new page is asked of a peer after this long in one run.
    pub peer_run_budget: StdDuration,
    /// How often the sync job runs; also the first back-off step.
    pub sync_interval: Duration,
    /// The longest back-off for a peer that keeps failing.
    pub max_backoff: Duration,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            keys: None,
            identity: None,
            max_skew: Duration::minutes(5),
            max_item_bytes: vigilo_store::MAX_PUBLISHED_ITEM_BYTES,
            max_response_bytes: 8 * 1024 * 1024,
            max_page_bytes: 4 * 1024 * 1024,
            fetch_timeout: StdDuration::from_secs(20),
            page_limit: 200,
            max_pages_per_run: 50,
            peer_run_budget: StdDuration::from_secs(120),
            sync_interval: Duration::minutes(5),
            max_backoff: Duration::hours(6),
        }
    }
}

impl std::fmt::Debug for FederationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederationConfig")
            .field("key_id", &self.keys.as_ref().map(|k| k.key_id()))
            .field("identity", &self.identity.as_ref().map(|i| i.to_line()))
            .field("sync_interval", &self.sync_interval)
            .finish_non_exhaustive()
    }
}

/// The most items a feed page holds.
pub const MAX_PAGE_LIMIT: u32 = 500;
const DEFAULT_PAGE_LIMIT: u32 = 100;

// ---- The feed ----

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn request_error_code(e: &RequestError) -> ErrorCode {
    match e {
        RequestError::UnknownKey(_) => ErrorCode::FederationUnknownKey,
        RequestError::Stale { .. } | RequestError::FromTheFuture { .. } => {
            ErrorCode::FederationStale
        }
        RequestError::Replayed => ErrorCode::FederationReplayed,
        _ => ErrorCode::FederationBadSignature,
    }
}

/// Who asked for the feed: anonymous, or a pinned peer whose signature verified.
struct Requester {
    key_id: Option<KeyId>,
    country: Option<vigilo_core::federation::CountryCode>,
}

async fn verify_feed_request(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Requester, (RequestError, Option<String>)> {
    let signed = headers.contains_key("signature") || headers.contains_key("signature-input");
    if !signed {
        return Ok(Requester {
            key_id: None,
            country: None,
        });
    }
    let fed = &state.config.federation;
    let Some(me) = fed.identity.as_ref() else {
        return Err((
            RequestError::Malformed("this node has no base URL configured".into()),
            None,
        ));
    };
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for name in ["signature", "signature-input", "content-digest"] {
        for v in headers.get_all(name) {
            match v.to_str() {
                Ok(s) => fields.push((name, s)),
                Err(_) => {
                    return Err((
                        RequestError::Malformed(format!("{name} is not visible ASCII")),
                        None,
                    ))
                }
            }
        }
    }
    let authority = me.base_url.authority();
    let path = format!("{}{FEED_PATH}", me.base_url.path());
    let req = HttpRequest {
        method: "GET",
        authority: &authority,
        path: &path,
        query: uri.query(),
        headers: &fields,
        body: b"",
    };
    let pinned = state
        .store
        .pinned_keys()
        .await
        .map_err(|e| (RequestError::Malformed(format!("pinned keys: {e}")), None))?;
    let now = state.store.now();
    // The nonce is checked last, after the signature verified; the store's check is
    // asynchronous, so the closure takes note and the store is asked right after.
    let mut seen: Option<(KeyId, String)> = None;
    let mut note = |k: &KeyId, n: &str, _created: i64| {
        seen = Some((k.clone(), n.to_owned()));
        true
    };
    let verified = verify_request(&req, &pinned, now, fed.max_skew, &mut note).map_err(|e| {
        let key = fields
            .iter()
            .find(|(n, _)| *n == "signature-input")
            .and_then(|(_, v)| v.split("keyid=\"").nth(1))
            .and_then(|s| s.split('"').next())
            .map(|s| s.chars().take(40).collect());
        (e, key)
    })?;
    if let Some((key_id, nonce)) = seen {
        let fresh = state
            .store
            .use_nonce(key_id.as_str(), &nonce, now + fed.max_skew * 2)
            .await
            .map_err(|e| (RequestError::Malformed(format!("nonce store: {e}")), None))?;
        if !fresh {
            return Err((RequestError::Replayed, Some(key_id.to_string())));
        }
    }
    Ok(Requester {
        key_id: Some(verified.key_id),
        country: Some(verified.country),
    })
}

/// `GET /federation/v1/feed?after=CURSOR&limit=N`: this node's items in feed order, the
/// newest version of each. Anonymous requests see public items; requests signed by a pinned
/// peer see members' items and those addressed to its country too. Every item served is
/// written to the outbound record.
pub async fn feed(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> AppResult<Response> {
    let query = uri.query();
    let after = match query_param(query, "after") {
        None | Some("") => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ctx.err(AppError::invalid(
                "after must be a feed position (a whole number)",
            ))
        })?),
    };
    let limit = match query_param(query, "limit") {
        None | Some("") => DEFAULT_PAGE_LIMIT,
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_LIMIT).contains(n))
            .ok_or_else(|| {
                ctx.err(AppError::invalid(format!(
                    "limit must be 1 to {MAX_PAGE_LIMIT}"
                )))
            })?,
    };
    let requester = match verify_feed_request(&state, &headers, &uri).await {
        Ok(r) => r,
        Err((e, key_id)) => {
            tracing::warn!(key_id = key_id.as_deref().unwrap_or("-"), error = %e, "federation feed request refused");
            // Recorded for the admin's page within a rate; beyond it, the log line only.
            if state.federation_refusals.check(client.ip()).is_ok() {
                let refusal = ItemRefusal {
                    position: None,
                    item_id: None,
                    key_id: key_id.clone(),
                    reason: e.to_string(),
                };
                if let Err(e2) = state.store.record_refusal("request", None, &refusal).await {
                    tracing::warn!(error = %e2, "cannot record a refused federation request");
                }
            }
            return Err(ctx.err(AppError::new(request_error_code(&e)).detail(e.to_string())));
        }
    };
    let page = state
        .store
        .feed_rows(after, limit)
        .await
        .map_err(ctx.store_err())?;
    // The items are served exactly as signed and stored (canonical JSON). A page stops
    // early (with at least one item) at `max_page_bytes`, so that it fits every reader's
    // response limit and a run of large items cannot block a reader for good.
    let max_bytes = state.config.federation.max_page_bytes;
    let mut served: Vec<&PublishedItem> = Vec::new();
    let mut body = String::from("{\"items\":[");
    let mut next = page.next;
    let mut scanned = after.unwrap_or(0);
    for row in &page.rows {
        let visible = match row.audience() {
            Ok(a) => a.visible_to(requester.country),
            Err(e) => {
                tracing::error!(position = row.position, error = %e, "stored item unreadable");
                false
            }
        };
        if visible {
            if !served.is_empty() && body.len() + row.wire.len() + 40 > max_bytes {
                next = scanned;
                break;
            }
            if !served.is_empty() {
                body.push(',');
            }
            body.push_str(&format!("{{\"position\":{},\"item\":", row.position));
            body.push_str(&row.wire);
            body.push('}');
            served.push(row);
        }
        scanned = u64::try_from(row.position).unwrap_or(scanned);
    }
    body.push_str(&format!("],\"next\":{next}}}"));
    let recipient = requester
        .key_id
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_else(|| ANONYMOUS_RECIPIENT.to_string());
    let country = requester.country.map(|c| c.to_string());
    state
        .store
        .record_outbound(&recipient, country.as_deref(), &served)
        .await
        .map_err(ctx.store_err())?;
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ---- Admin pages ----

pub struct PeerRow {
    pub key_id: String,
    pub country: String,
    pub name: String,
    pub base_url: String,
    pub added: String,
    pub cursor: String,
    pub last_success: String,
    pub failures: i64,
    pub last_error: String,
    pub next_attempt: String,
}

fn peer_row(p: Peer) -> PeerRow {
    PeerRow {
        cursor: p.feed_cursor.map(|c| c.to_string()).unwrap_or_default(),
        added: format!("{} ({})", short_time(&p.added_at), p.added_by),
        last_success: p
            .last_success_at
            .as_deref()
            .map(short_time)
            .unwrap_or_default(),
        failures: p.failures,
        last_error: p.last_error.unwrap_or_default(),
        next_attempt: p
            .next_attempt_at
            .as_deref()
            .map(short_time)
            .unwrap_or_default(),
        key_id: p.key_id,
        country: p.country,
        name: p.name,
        base_url: p.base_url,
    }
}

fn short_time(t: &str) -> String {
    t.get(..16).unwrap_or(t).replace('T', " ")
}

pub struct PublishedRow {
    pub position: i64,
    pub item_type: String,
    pub item_id: String,
    pub version: i64,
    pub audience: String,
    pub published: String,
    pub served: bool,
}

pub struct RefusalRow {
    pub at: String,
    pub kind: String,
    pub key_id: String,
    pub item_id: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin_federation.html")]
struct FederationPage {
    l: Layout,
    identity_line: Option<String>,
    key_id: String,
    peers: Vec<PeerRow>,
    published: Vec<PublishedRow>,
    refusals: Vec<RefusalRow>,
    line: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn federation_page(
    state: &AppState,
    ctx: &Ctx,
    line: String,
    error: Option<String>,
    notice: Option<String>,
) -> AppResult<Response> {
    let l = Layout::new(state, ctx);
    let store = &state.store;
    let fed = &state.config.federation;
    let identity = match &fed.identity {
        Some(i) => Some(i.clone()),
        None => store.node_identity().await.map_err(ctx.store_err())?,
    };
    let peers = store
        .list_peers(false)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(peer_row)
        .collect();
    let published = store
        .published_items(None, 50)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|p| PublishedRow {
            audience: match p.audience() {
                Ok(vigilo_core::federation::Audience::Public) => l.tr.t("fed-audience-public"),
                Ok(vigilo_core::federation::Audience::Members) => l.tr.t("fed-audience-members"),
                Ok(vigilo_core::federation::Audience::Countries { countries }) => countries
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => "?".into(),
            },
            position: p.position,
            item_type: l.tr.t(&format!("fed-type-{}", p.item_type)),
            item_id: p.item_id,
            version: p.version,
            published: short_time(&p.published_at),
            served: p.superseded == 0,
        })
        .collect();
    let refusals = store
        .list_refusals(30)
        .await
        .map_err(ctx.store_err())?
        .into_iter()
        .map(|r| RefusalRow {
            at: short_time(&r.at),
            kind: r.kind,
            key_id: r.key_id.unwrap_or_default(),
            item_id: r.item_id.unwrap_or_default(),
            reason: r.reason,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        &FederationPage {
            key_id: identity
                .as_ref()
                .map(|i| i.key_id().to_string())
                .unwrap_or_default(),
            identity_line: identity.map(|i| i.to_line()),
            l,
            peers,
            published,
            refusals,
            line,
            error,
            notice,
        },
        ctx,
        status,
    )
}

/// `GET /admin/federation`: this node's identity line, the pinned peers with their sync
/// state, what this node published, recent refusals.
pub async fn admin_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    federation_page(&state, &ctx, String::new(), None, None).await
}

#[derive(Deserialize, Default)]
pub struct PeerForm {
    #[serde(default)]
    pub line: String,
}

/// `POST /admin/federation/peers`: pins a peer from its identity line.
pub async fn add_peer_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    PageForm(form): PageForm<PeerForm>,
) -> AppResult<Response> {
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    let identity = match PeerIdentity::parse_line(&form.line) {
        Ok(i) => i,
        Err(e) => {
            let msg = tr.ta("fed-line-invalid", &[("reason", e.to_string())]);
            return federation_page(&state, &ctx, form.line, Some(msg), None).await;
        }
    };
    match state.store.add_peer(&ctx.actor(), &identity).await {
        Ok(p) => {
            tracing::info!(key_id = %p.key_id, country = %p.country, "federation peer pinned");
            Ok(Redirect::to("/admin/federation").into_response())
        }
        Err(e @ (StoreError::Invalid { .. } | StoreError::Conflict { .. })) => {
            let msg = tr.ta("form-error", &[("reason", e.to_string())]);
            federation_page(&state, &ctx, form.line, Some(msg), None).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

/// `POST /admin/federation/peers/{id}/remove`: unpins a peer by its key id.
pub async fn remove_peer_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
    Path(key_id): Path<String>,
) -> AppResult<Response> {
    let tr = Tr::new(state.i18n.clone(), ctx.lang);
    match state.store.remove_peer(&ctx.actor(), &key_id).await {
        Ok(p) => {
            tracing::info!(key_id = %p.key_id, "federation peer removed");
            let notice = tr.ta("fed-peer-removed", &[("name", p.name)]);
            federation_page(&state, &ctx, String::new(), None, Some(notice)).await
        }
        Err(e @ StoreError::Invalid { .. }) => {
            let msg = tr.ta("form-error", &[("reason", e.to_string())]);
            federation_page(&state, &ctx, String::new(), Some(msg), None).await
        }
        Err(e) => Err(ctx.err(e.into())),
    }
}

/// `GET /admin/federation/outbound.csv`: the outbound record (every item served: what,
/// which version, to whom, when), for the transfer impact assessment.
pub async fn outbound_csv(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let rows = state
        .store
        .outbound_records(None, 1_000_000)
        .await
        .map_err(ctx.store_err())?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string()));
    w.write_record([
        "sent_at",
        "recipient",
        "recipient_country",
        "item_type",
        "item_id",
        "version",
        "position",
    ])
    .map_err(csv_err)?;
    for r in rows {
        w.write_record([
            r.sent_at,
            r.recipient,
            r.recipient_country.unwrap_or_default(),
            r.item_type,
            r.item_id,
            r.version.to_string(),
            r.position.to_string(),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?;
    let _ = state
        .store
        .record_audit(vigilo_store::AuditEntry::new(
            &ctx.actor(),
            "federation.outbound_export",
            "fed_outbound",
            "csv",
        ))
        .await;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"vigilo-federation-outbound.csv\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

// ---- From GRN peers ----

pub struct ReceivedRow {
    pub country: String,
    pub peer_name: String,
    pub item_type: String,
    pub item_id: String,
    pub version: i64,
    pub issued: String,
    pub product: String,
    pub seriousness: String,
    pub summary: String,
    pub recommendation: String,
}

#[derive(Template)]
#[template(path = "from_peers.html")]
struct FromPeersPage {
    l: Layout,
    items: Vec<ReceivedRow>,
}

fn text_of(payload: &serde_json::Value, key: &str) -> String {
    payload
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .chars()
        .take(2000)
        .collect()
}

/// `GET /from-peers`: early warnings and safety notices received from GRN peers (not the
/// retracted ones), newest first.
pub async fn from_peers_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Arc<Ctx>>,
) -> AppResult<Response> {
    let l = Layout::new(&state, &ctx);
    let received = state
        .store
        .received_items(
            &[ItemType::EarlyWarning, ItemType::SafetyNotice],
            false,
            500,
        )
        .await
        .map_err(ctx.store_err())?;
    let mut items = Vec::new();
    for r in received {
        let payload = serde_json::from_str::<serde_json::Value>(&r.wire)
            .ok()
            .and_then(|v| v.get("payload").cloned())
            .unwrap_or_default();
        let (product, seriousness, summary, recommendation) =
            match EarlyWarning::from_payload(&payload) {
                Ok(w) if r.item_type == "early_warning" => (
                    format!(
                        "{} — {} ({})",
                        w.product.name,
                        w.product.manufacturer,
                        w.product.versions.join(", ")
                    ),
                    w.seriousness.label(ctx.lang).to_string(),
                    w.summary,
                    w.recommendation,
                ),
                _ => (
                    text_of(&payload, "product"),
                    String::new(),
                    text_of(&payload, "summary"),
                    text_of(&payload, "recommendation"),
                ),
            };
        items.push(ReceivedRow {
            country: r.origin_country,
            peer_name: r.peer_name,
            item_type: l.tr.t(&format!("fed-type-{}", r.item_type)),
            item_id: r.item_id,
            version: r.version,
            issued: short_time(&r.issued_at),
            product,
            seriousness,
            summary,
            recommendation,
        });
    }
    render(&FromPeersPage { l, items }, &ctx, StatusCode::OK)
}

/// Early warnings received from peers about a product known by these names (compared
/// folded: case, diacritics and `đ` aside), newest first; from one origin country only when
/// given. Members-only material: callers show it to staff only.
pub async fn received_warnings_about(
    state: &AppState,
    ctx: &Ctx,
    names: &[&str],
    country: Option<&str>,
) -> AppResult<Vec<ReceivedRow>> {
    let wanted: Vec<String> = names
        .iter()
        .map(|n| vigilo_core::text::fold(n))
        .filter(|n| !n.is_empty())
        .collect();
    let received = state
        .store
        .received_items(&[ItemType::EarlyWarning], false, 5000)
        .await
        .map_err(ctx.store_err())?;
    let mut rows = Vec::new();
    for r in received {
        if country.is_some_and(|c| c != r.origin_country) {
            continue;
        }
        let Some(w) = serde_json::from_str::<serde_json::Value>(&r.wire)
            .ok()
            .and_then(|v| v.get("payload").cloned())
            .and_then(|p| EarlyWarning::from_payload(&p).ok())
        else {
            continue;
        };
        if !wanted.contains(&vigilo_core::text::fold(&w.product.name)) {
            continue;
        }
        rows.push(ReceivedRow {
            country: r.origin_country,
            peer_name: r.peer_name,
            item_type: String::new(),
            item_id: r.item_id,
            version: r.version,
            issued: short_time(&r.issued_at),
            product: format!(
                "{} — {} ({})",
                w.product.name,
                w.product.manufacturer,
                w.product.versions.join(", ")
            ),
            seriousness: w.seriousness.label(ctx.lang).to_string(),
            summary: w.summary,
            recommendation: w.recommendation,
        });
    }
    Ok(rows)
}

// ---- Sync ----

/// What one sync run did, over all peers.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SyncSummary {
    pub peers: u64,
    pub failed: u64,
    pub inserted: u64,
    pub replaced: u64,
    pub hidden: u64,
    pub unchanged: u64,
    pub refused: u64,
}

impl std::fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} peer(s), {} failed; {} new, {} replaced, {} hidden, {} unchanged, {} refused",
            self.peers,
            self.failed,
            self.inserted,
            self.replaced,
            self.hidden,
            self.unchanged,
            self.refused
        )
    }
}

/// Why pulling a peer failed (the peer's back-off grows; other peers go on).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this node has no keys or identity: federation is not configured")]
    NotConfigured,
    #[error("cannot sign the request: {0}")]
    Sign(#[from] RequestError),
    #[error("request failed: {0}")]
    Http(String),
    #[error("the peer answered HTTP {0}")]
    Status(u16),
    #[error("the peer's page is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the peer's page is not valid: {0}")]
    Page(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The HTTP client for pulling peers: bounded in time, no redirects, no cookies.
pub fn sync_client(config: &FederationConfig) -> Result<reqwest::Client, SyncError> {
    reqwest::Client::builder()
        .timeout(config.fetch_timeout)
        .connect_timeout(config.fetch_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vigilo/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SyncError::Http(e.to_string()))
}

/// Pulls every live peer whose back-off has passed. One peer's failure is recorded on it
/// (with an exponentially growing back-off) and never stops the others.
pub async fn sync_peers(
    store: &Store,
    config: &FederationConfig,
    client: &reqwest::Client,
) -> Result<SyncSummary, SyncError> {
    if config.keys.is_none() || config.identity.is_none() {
        return Err(SyncError::NotConfigured);
    }
    let mut summary = SyncSummary::default();
    // Peers are pulled side by side: a slow peer delays nobody else.
    let mut tasks = tokio::task::JoinSet::new();
    for peer in store.peers_due().await? {
        summary.peers += 1;
        let (store, config, client) = (store.clone(), config.clone(), client.clone());
        tasks.spawn(async move {
            // Pages applied before a failure count too: they are stored with their cursor.
            let mut outcome = PageOutcome::default();
            let failed = match sync_peer(&store, &config, &client, &peer, &mut outcome).await {
                Ok(()) => false,
                Err(e) => {
                    record_failure(&store, &config, &peer, &e).await;
                    true
                }
            };
            (outcome, failed)
        });
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((o, failed)) => {
                summary.inserted += o.inserted;
                summary.replaced += o.replaced;
                summary.hidden += o.hidden;
                summary.unchanged += o.unchanged;
                summary.refused += o.refused;
                summary.failed += u64::from(failed);
            }
            Err(e) => {
                summary.failed += 1;
                tracing::error!(error = %e, "federation sync task failed");
            }
        }
    }
    Ok(summary)
}

/// What one pass of sharing the directory did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct ShareSummary {
    pub entries: u64,
    pub published: u64,
    pub unchanged: u64,
    pub retracted: u64,
    /// Entries peers would refuse (e.g. a name over the shared limit): logged, not sent.
    pub skipped: u64,
}

impl std::fmt::Display for ShareSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} directory entries: {} published, {} unchanged, {} retracted, {} skipped",
            self.entries, self.published, self.unchanged, self.retracted, self.skipped
        )
    }
}

/// Publishes this node's public directory to its feed: a new version of an entry whose
/// shared facts changed (or a first one), a retraction for a product that left the public
/// directory. Run by the `federation-share-directory` job; idempotent, so a run that finds
/// nothing changed publishes nothing.
pub async fn share_directory(
    store: &Store,
    config: &FederationConfig,
) -> Result<ShareSummary, SyncError> {
    let (Some(keys), Some(identity)) = (&config.keys, &config.identity) else {
        return Err(SyncError::NotConfigured);
    };
    let actor = "system:federation-share-directory";
    let shares = store
        .local_directory_shares(Some(&identity.base_url.to_string()))
        .await?;
    let mut published = store.published_directory_payloads().await?;
    let mut summary = ShareSummary::default();
    for (product_id, entry) in shares {
        summary.entries += 1;
        let id_text = vigilo_store::directory_item_id(&product_id);
        if let Err(e) = entry.check() {
            tracing::warn!(product = %product_id, error = %e, "directory entry not shared: peers would refuse it");
            published.remove(&id_text);
            summary.skipped += 1;
            continue;
        }
        let payload = entry.to_payload();
        match published.remove(&id_text) {
            Some(Some(old)) if old == payload => {
                summary.unchanged += 1;
                continue;
            }
            // Retracted once: the id cannot be published again.
            Some(None) => continue,
            _ => {}
        }
        let Ok(id) = id_text.parse::<ItemId>() else {
            continue;
        };
        store
            .publish(
                actor,
                keys,
                NewPublication {
                    item_type: ItemType::DirectoryEntry,
                    id,
                    audience: Audience::Public,
                    payload,
                },
            )
            .await?;
        summary.published += 1;
    }
    // Whatever is still listed as published left the public directory.
    for (id_text, payload) in published {
        if payload.is_none() {
            continue;
        }
        let Ok(id) = id_text.parse::<ItemId>() else {
            continue;
        };
        store
            .retract(actor, keys, &id, "no longer in the public directory")
            .await?;
        summary.retracted += 1;
    }
    Ok(summary)
}

/// One more consecutive failure for the peer, and its back-off: the interval doubled for
/// each failure before this one, at most `max_backoff`.
async fn record_failure(store: &Store, config: &FederationConfig, peer: &Peer, e: &SyncError) {
    let step = peer.failures.clamp(0, 16) as u32;
    let backoff = config
        .sync_interval
        .checked_mul(1i32 << step)
        .unwrap_or(config.max_backoff)
        .min(config.max_backoff);
    tracing::warn!(peer = %peer.key_id, country = %peer.country, error = %e, "federation sync failed");
    if let Err(e2) = store
        .record_sync_failure(&peer.id, &e.to_string(), store.now() + backoff)
        .await
    {
        tracing::warn!(peer = %peer.key_id, error = %e2, "cannot record sync failure");
    }
}

async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, SyncError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(SyncError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| SyncError::Http(e.to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(SyncError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn refuse_page(store: &Store, peer: &Peer, after: Option<u64>, reason: String) -> SyncError {
    tracing::warn!(peer = %peer.key_id, %reason, "federation page refused");
    let _ = store
        .record_refusal(
            "page",
            Some(&peer.id),
            &ItemRefusal {
                position: after,
                item_id: None,
                key_id: Some(peer.key_id.clone()),
                reason: reason.clone(),
            },
        )
        .await;
    SyncError::Page(reason)
}

/// Pulls one peer's feed from its cursor, page by page, storing each page with its cursor
/// in one transaction.
async fn sync_peer(
    store: &Store,
    config: &FederationConfig,
    client: &reqwest::Client,
    peer: &Peer,
    total: &mut PageOutcome,
) -> Result<(), SyncError> {
    let (Some(keys), Some(me)) = (config.keys.as_deref(), config.identity.as_ref()) else {
        return Err(SyncError::NotConfigured);
    };
    let identity = peer.identity()?;
    let started = std::time::Instant::now();
    let mut after = peer.cursor();
    for _ in 0..config.max_pages_per_run.max(1) {
        if started.elapsed() > config.peer_run_budget {
            // The rest waits for the next run; what was taken is stored.
            break;
        }
        let pinned = store.pinned_keys().await?;
        let query = match after {
            Some(a) => format!("after={a}&limit={}", config.page_limit),
            None => format!("limit={}", config.page_limit),
        };
        let path = format!("{}{FEED_PATH}", identity.base_url.path());
        let authority = identity.base_url.authority();
        let now = store.now();
        let nonce = random_hex(16);
        let signature = sign_request(
            keys,
            &HttpRequest {
                method: "GET",
                authority: &authority,
                path: &path,
                query: Some(&query),
                headers: &[],
                body: b"",
            },
            now.unix_timestamp(),
            &nonce,
        )?;
        let url = format!("{}{FEED_PATH}?{query}", identity.base_url);
        let resp = client
            .get(&url)
            .header("signature-input", &signature.signature_input)
            .header("signature", &signature.signature)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| SyncError::Http(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(SyncError::Status(resp.status().as_u16()));
        }
        let body = read_bounded(resp, config.max_response_bytes).await?;
        let page = match jcs::parse_strict(&body) {
            Ok(v) => v,
            Err(e) => return Err(refuse_page(store, peer, after, format!("not JSON: {e}")).await),
        };
        let (entries, next) = match (
            page.get("items").and_then(|v| v.as_array()),
            page.get("next").and_then(|v| v.as_u64()),
        ) {
            (Some(items), Some(next)) => (items.clone(), next),
            _ => {
                return Err(refuse_page(
                    store,
                    peer,
                    after,
                    "a page is {\"items\": [...], \"next\": N}".into(),
                )
                .await)
            }
        };
        let mut positions = Vec::with_capacity(entries.len());
        for e in &entries {
            match e.get("position").and_then(|p| p.as_u64()) {
                Some(p) => positions.push(p),
                None => {
                    return Err(
                        refuse_page(store, peer, after, "an entry has no position".into()).await,
                    )
                }
            }
        }
        if let Err(e) = check_page(after, &positions, next) {
            return Err(refuse_page(store, peer, after, e.to_string()).await);
        }
        let policy = VerifyPolicy {
            now,
            max_future_skew: config.max_skew,
            max_item_bytes: config.max_item_bytes,
            reader: me.country,
        };
        let mut verified: Vec<(u64, VerifiedItem)> = Vec::new();
        let mut refusals = Vec::new();
        for (entry, position) in entries.into_iter().zip(positions.iter().copied()) {
            let item = entry.get("item").cloned().unwrap_or_default();
            let item_id = item
                .get("id")
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(100).collect::<String>());
            let key_id = item
                .get("origin")
                .and_then(|o| o.get("key_id"))
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(64).collect::<String>());
            match verify_item_value(item, &pinned, &policy) {
                Ok(v) => verified.push((position, v)),
                Err(e) => {
                    tracing::warn!(peer = %peer.key_id, position, item = item_id.as_deref().unwrap_or("-"), error = %e, "federation item refused");
                    refusals.push(ItemRefusal {
                        position: Some(position),
                        item_id,
                        key_id,
                        reason: e.to_string(),
                    });
                }
            }
        }
        let outcome = store
            .apply_feed_page(&peer.id, after, next, &verified, &refusals)
            .await?;
        tracing::info!(peer = %peer.key_id, after = after.unwrap_or(0), next,
            inserted = outcome.inserted, replaced = outcome.replaced, hidden = outcome.hidden,
            unchanged = outcome.unchanged, refused = outcome.refused, "federation page applied");
        total.inserted += outcome.inserted;
        total.replaced += outcome.replaced;
        total.hidden += outcome.hidden;
        total.unchanged += outcome.unchanged;
        total.refused += outcome.refused;
        let moved = Some(next) != after;
        after = Some(next);
        if !moved {
            break;
        }
    }
    Ok(())
}
