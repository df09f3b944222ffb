//! What operators and monitors poll: `GET /healthz` (the process answers),
//! `GET /readyz` (the database answers) and `GET /metrics` (Prometheus text).

use serde::Serialize;
use warp::http::header::CONTENT_TYPE;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::reply;
use super::state::WebState;

/// The body of `/healthz` and `/readyz`.
#[derive(Serialize)]
struct Probe {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// `GET /healthz`.
pub(crate) fn healthz() -> Response {
    reply::json(
        StatusCode::OK,
        &Probe {
            status: "ok",
            error: None,
        },
    )
}

/// `GET /readyz`: 200 when the database answers, 503 otherwise.
pub(crate) async fn readyz(state: WebState) -> Response {
    match state.store.ping().await {
        Ok(()) => reply::json(
            StatusCode::OK,
            &Probe {
                status: "ready",
                error: None,
            },
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &Probe {
                    status: "unavailable",
                    error: Some("database unreachable"),
                },
            )
        }
    }
}

/// `GET /metrics`.
pub(crate) fn metrics() -> Response {
    let mut response = Response::new(crate::metrics::render().into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
