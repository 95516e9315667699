//! Load shedding: at most `max_in_flight` requests are worked on at once; the next one is
//! answered 503 with `Retry-After` at once, before it touches the database, instead of
//! queueing without bound while every answer gets slower. Health checks and static files
//! are never shed, so a busy server is not taken for a dead one.

use crate::error::{AppError, ErrorCode};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Seconds a shed client is asked to wait: short, the burst is usually over by then.
const RETRY_AFTER_SECS: u64 = 2;

fn never_shed(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || path.starts_with("/static/")
}

pub async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    if never_shed(req.uri().path()) {
        return next.run(req).await;
    }
    match in_flight.try_acquire_owned() {
        Ok(permit) => {
            let resp = next.run(req).await;
            drop(permit);
            resp
        }
        Err(_) => {
            tracing::debug!(path = req.uri().path(), "shed: too many requests in flight");
            AppError::new(ErrorCode::Overloaded)
                .retry_after(RETRY_AFTER_SECS)
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use axum::Router;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    fn app(in_flight: Arc<Semaphore>, release: Arc<Notify>) -> Router {
        Router::new()
            .route(
                "/slow",
                get(move || {
                    let release = release.clone();
                    async move {
                        release.notified().await;
                        "done"
                    }
                }),
            )
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(in_flight, shed_load))
    }

    fn get_req(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn the_request_past_the_limit_is_refused_at_once_and_health_checks_pass() {
        let in_flight = Arc::new(Semaphore::new(1));
        let release = Arc::new(Notify::new());
        let router = app(in_flight.clone(), release.clone());
        let first = tokio::spawn(router.clone().oneshot(get_req("/slow")));
        while in_flight.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let shed = router.clone().oneshot(get_req("/slow")).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()["retry-after"], "2");
        let health = router.clone().oneshot(get_req("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        // The permit came back: the next request is served.
        assert_eq!(in_flight.available_permits(), 1);
        let again = tokio::spawn(router.oneshot(get_req("/slow")));
        while in_flight.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(again.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
