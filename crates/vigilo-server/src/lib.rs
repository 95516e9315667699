//! Vigilo's HTTP server: pages, JSON API, authentication, background jobs.
//!
//! This is the only crate that knows HTTP and HTML. Every route is declared in
//! [`routes::route_table`] with the access it needs; the router is built only
//! from that table, so a new route cannot forget its role check.

pub mod api;
pub mod appraisal;
pub mod blueprints;
pub mod ctx;
pub mod directory;
pub mod error;
pub mod extract;
pub mod federation;
pub mod federation_warnings;
pub mod fhir_incidents;
pub mod i18n;
pub mod impact;
pub mod incident_signals;
pub mod incidents;
pub mod jobs;
pub mod monitoring;
pub mod monitoring_alerts;
pub mod monitoring_report;
pub mod navigator;
pub mod notices;
pub mod openapi;
pub mod orgs;
pub mod overload;
pub mod pages;
pub mod products;
pub mod ratelimit;
pub mod routes;
pub mod sandbox;
pub mod signals;

use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use vigilo_store::Store;

pub use error::{AppError, ErrorCode};
pub use routes::{route_table, Access, RouteSpec};

/// Settings the binary reads from flags, environment and config file.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// `Some(true)` forces the cookie Secure flag; `None` sets it when the request
    /// came over TLS (per `X-Forwarded-Proto` from the reverse proxy).
    pub secure_cookies: Option<bool>,
    pub session_ttl: time::Duration,
    /// Run the periodic job scheduler in this process.
    pub run_jobs: bool,
    /// Failed logins allowed per user name in the throttle window.
    pub login_max_failures: i64,
    pub login_window: time::Duration,
    /// How to start the sandbox worker that runs submitted models (the `vigilo`
    /// binary's hidden `sandbox-worker` command). `None`: model submissions are
    /// refused and predictions files still work.
    pub sandbox_worker: Option<vigilo_sandbox::WorkerCommand>,
    /// Days to triage an incident report, by seriousness.
    pub incident_clock: vigilo_core::incident::ReportingClock,
    /// Anonymous incident reports (form and API) allowed per client address.
    pub intake_per_client: ratelimit::Rate,
    /// Anonymous incident reports allowed from all addresses together.
    pub intake_overall: ratelimit::Rate,
    /// GRN federation: this node's keys and identity, limits, the sync interval.
    pub federation: federation::FederationConfig,
    /// Requests worked on at once; the next is answered 503 at once (see `overload`).
    pub max_in_flight: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            body_limit: 10 * 1024 * 1024,
            secure_cookies: None,
            session_ttl: time::Duration::hours(12),
            run_jobs: true,
            login_max_failures: 5,
            login_window: time::Duration::minutes(15),
            sandbox_worker: None,
            incident_clock: vigilo_core::incident::ReportingClock::default(),
            // A station sending a day's reports at once fits; a script flooding does not.
            intake_per_client: ratelimit::Rate::new(30, Duration::from_secs(20)),
            intake_overall: ratelimit::Rate::new(500, Duration::from_millis(50)),
            federation: federation::FederationConfig::default(),
            // Far above what the database can serve at once (8 or 16 connections), so it
            // sheds only a pile-up, never a normal busy hour.
            max_in_flight: 512,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub i18n: Arc<i18n::I18n>,
    /// Checklist frameworks shipped with this build (dossiers and readiness).
    pub checklists: Arc<vigilo_core::checklist::Catalog>,
    /// Limits on anonymous incident reports.
    pub intake_limiter: Arc<ratelimit::RateLimiter>,
    /// Limits on writing refused federation requests to the database (each is logged
    /// anyway), so that a flood of bad signatures cannot fill it.
    pub federation_refusals: Arc<ratelimit::RateLimiter>,
    /// Permits for requests in flight (load shedding).
    pub in_flight: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    I18n(#[from] i18n::I18nError),
    #[error("checklist frameworks are invalid: {0}")]
    Checklists(#[from] vigilo_core::checklist::FrameworkErrors),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig) -> Result<Self, ServerError> {
        Ok(Self {
            store,
            intake_limiter: Arc::new(ratelimit::RateLimiter::new(
                config.intake_per_client,
                config.intake_overall,
            )),
            federation_refusals: Arc::new(ratelimit::RateLimiter::new(
                ratelimit::Rate::new(30, Duration::from_secs(2)),
                ratelimit::Rate::new(120, Duration::from_millis(500)),
            )),
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
            config: Arc::new(config),
            i18n: Arc::new(i18n::I18n::load()?),
            checklists: Arc::new(vigilo_core::checklist::Catalog::builtin()?),
        })
    }
}

/// Renders a document to PDF off the async threads and answers with it.
pub(crate) async fn pdf_response(
    ctx: &ctx::Ctx,
    doc: vigilo_report::Document,
    filename: &str,
) -> Result<axum::response::Response, AppError> {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    let bytes = tokio::task::spawn_blocking(move || vigilo_report_pdf::to_pdf(&doc))
        .await
        .map_err(|e| ctx.err(AppError::new(ErrorCode::Internal).detail(e.to_string())))?
        .map_err(|e| {
            tracing::error!(error = %e, "PDF rendering failed");
            ctx.err(AppError::new(ErrorCode::Internal))
        })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The full application router.
pub fn router(state: AppState) -> Router {
    routes::build(state)
}

/// Binds the address; separate from [`serve`] so callers can print the real port.
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Some(identity) = &state.config.federation.identity {
        // Recorded at every start: the key file or the configuration may have changed.
        if let Err(e) = state
            .store
            .set_node_identity("system:start", identity)
            .await
        {
            tracing::warn!(error = %e, "cannot record this node's federation identity");
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let jobs = if state.config.run_jobs {
        Some(tokio::spawn(jobs::run_scheduler(
            state.store.clone(),
            state.config.clone(),
            stop_rx.clone(),
            Duration::from_secs(5),
        )))
    } else {
        None
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await?;
    if let Some(j) = jobs {
        let _ = j.await;
    }
    Ok(())
}
