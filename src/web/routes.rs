//! Route table and handlers.

use std::convert::Infallible;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::admin::{AdminDisabled, Unauthorized, admin_only};
use super::api;
use crate::raffle::RaffleEngine;
use crate::secret::SecretString;
use crate::store::Store;

/// Shared state handed to handlers.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The database.
    pub store: Store,
    /// Runs raffle rounds for the admin draw endpoint.
    pub engine: RaffleEngine,
    /// `ADMIN_TOKEN`; `None` disables admin routes (403).
    pub admin_token: Option<SecretString>,
}

/// Every route of the server, with JSON errors for anything unmatched.
pub fn routes(state: WebState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})).into_response());
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(|state: WebState| async move { readyz(&state).await });
    let raffles = warp::path!("api" / "raffles")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .then(api::list_raffles);
    let admin = admin_only(state.admin_token.clone());
    let draw = warp::path!("api" / "channels" / String / "draw")
        .and(warp::post())
        .and(admin.clone())
        .and(with_state(state.clone()))
        .then(|login: String, state: WebState| api::draw(state, login));
    let pause = warp::path!("api" / "channels" / String / "pause")
        .and(warp::post())
        .and(admin.clone())
        .and(with_state(state.clone()))
        .then(|login: String, state: WebState| api::set_paused(state, login, true));
    let resume = warp::path!("api" / "channels" / String / "resume")
        .and(warp::post())
        .and(admin)
        .and(with_state(state))
        .then(|login: String, state: WebState| api::set_paused(state, login, false));
    healthz
        .or(readyz)
        .unify()
        .or(raffles)
        .unify()
        .or(draw)
        .unify()
        .or(pause)
        .unify()
        .or(resume)
        .unify()
        .recover(handle_rejection)
}

fn with_state(state: WebState) -> impl Filter<Extract = (WebState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

async fn readyz(state: &WebState) -> warp::reply::Response {
    match state.store.ping().await {
        Ok(()) => json_status(StatusCode::OK, serde_json::json!({"status": "ready"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            json_status(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "unavailable", "error": "database unreachable"}),
            )
        }
    }
}

fn json_status(status: StatusCode, body: serde_json::Value) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// A JSON error reply `{"error": message}`.
pub fn json_error(status: StatusCode, message: &str) -> warp::reply::Response {
    json_status(status, serde_json::json!({"error": message}))
}

async fn handle_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    if rejection.find::<AdminDisabled>().is_some() {
        return Ok(json_error(
            StatusCode::FORBIDDEN,
            "admin endpoints are disabled: set ADMIN_TOKEN to enable them",
        ));
    }
    if rejection.find::<Unauthorized>().is_some() {
        let reply = warp::reply::with_header(
            json_error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"),
            "www-authenticate",
            "Bearer",
        );
        return Ok(reply.into_response());
    }
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid query string")
    } else if rejection.find::<warp::body::BodyDeserializeError>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid request body")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if rejection.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
    } else {
        tracing::error!(rejection = ?rejection, "unhandled rejection");
        (StatusCode::BAD_REQUEST, "bad request")
    };
    Ok(json_error(status, message))
}
