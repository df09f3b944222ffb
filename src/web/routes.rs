//! Route table and handlers.
//!
//! Every response, matched or not, carries the security headers of
//! `security_headers`: a Content-Security-Policy that allows only our own
//! script and stylesheet (no inline code), no framing, no MIME sniffing and
//! no referrer. The OAuth pages need nothing more: they are plain HTML and
//! redirects (a 302 is not subject to `form-action`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::admin::{AdminRejection, admin_only};
use super::oauth::{self, TwitchConnect};
use super::{api, dashboard, status};
use crate::channel::ChannelLogin;
use crate::channel::ChannelSet;
use crate::raffle::{RaffleEngine, RaffleRules};
use crate::store::Store;
use crate::twitch::live_status::{CachedLiveStatus, DASHBOARD_LIVE_TTL, UnknownLiveStatus};

/// Shared state handed to handlers.
#[derive(Clone, Debug)]
pub struct WebState {
    /// The database.
    pub store: Store,
    /// Runs raffle rounds for the admin draw endpoint.
    pub engine: RaffleEngine,
    /// Channels this instance serves; connecting adds to it.
    pub channels: ChannelSet,
    /// `TWITCH_CHANNELS` (+ `--channel`): never dropped by a disconnect.
    pub configured_channels: Arc<[ChannelLogin]>,
    /// `ADMIN_TOKEN`; `None` disables admin endpoints.
    pub admin_token: Option<SecretString>,
    /// Twitch OAuth, when `TWITCH_CLIENT_ID` and `TWITCH_CLIENT_SECRET` are set.
    pub twitch: Option<TwitchConnect>,
    /// Live status for the dashboard, cached so page refreshes do not hammer Helix.
    pub live: CachedLiveStatus,
    /// `RAFFLE_INTERVAL`, for the next slot shown on the dashboard.
    pub raffle_interval: Duration,
}

impl WebState {
    /// State with only a database: no served channels, no admin token, no
    /// Twitch, unknown live status, and a raffle engine with the default
    /// rules and interval (SPEC §3).
    pub fn new(store: Store) -> Self {
        Self {
            engine: RaffleEngine::new(store.clone(), RaffleRules::default(), Arc::new(UnknownLiveStatus)),
            store,
            channels: ChannelSet::new([]),
            configured_channels: Arc::from(Vec::new()),
            admin_token: None,
            twitch: None,
            live: CachedLiveStatus::new(Arc::new(UnknownLiveStatus), DASHBOARD_LIVE_TTL),
            // SPEC §3's default `RAFFLE_INTERVAL`.
            raffle_interval: Duration::from_secs(60),
        }
    }
}

/// The Content-Security-Policy of every response: only our own script,
/// stylesheet and images, no inline code, no framing.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds the security headers to a response (keeping any a handler chose).
pub(crate) fn security_headers(mut response: warp::reply::Response) -> warp::reply::Response {
    use warp::http::HeaderValue;
    use warp::http::header::{
        CONTENT_SECURITY_POLICY as CSP, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (CSP, CONTENT_SECURITY_POLICY),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Every route of the server, with JSON errors for anything unmatched and
/// the security headers on everything.
pub fn routes(state: WebState) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let dashboard = warp::path::end()
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(dashboard::page);
    let script = warp::path!("static" / "dashboard.js")
        .and(warp::get())
        .map(|| dashboard::asset("text/javascript; charset=utf-8", dashboard::SCRIPT));
    let stylesheet = warp::path!("static" / "dashboard.css")
        .and(warp::get())
        .map(|| dashboard::asset("text/css; charset=utf-8", dashboard::STYLESHEET));
    let api_status = warp::path!("api" / "status")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(status::api_status);
    let metrics = warp::path!("metrics").and(warp::get()).map(|| {
        let mut response = warp::reply::Response::new(crate::metrics::render().into());
        response.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        response
    });
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
        .and(warp::query::<HashMap<String, String>>())
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
        .and(admin.clone())
        .and(with_state(state.clone()))
        .then(|login: String, state: WebState| api::set_paused(state, login, false));
    let auth_start = warp::path!("auth" / "twitch")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(oauth::start);
    let auth_callback = warp::path!("auth" / "callback")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::query::<HashMap<String, String>>())
        .and(warp::cookie::optional::<String>(oauth::STATE_COOKIE))
        .then(oauth::callback);
    let disconnect = warp::path!("api" / "channels" / String / "connection")
        .and(warp::delete())
        .and(admin)
        .and(with_state(state))
        .then(|login: String, state: WebState| oauth::disconnect(state, login));
    dashboard
        .or(script)
        .unify()
        .or(stylesheet)
        .unify()
        .or(api_status)
        .unify()
        .or(metrics)
        .unify()
        .or(healthz)
        .unify()
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
        .or(auth_start)
        .unify()
        .or(auth_callback)
        .unify()
        .or(disconnect)
        .unify()
        .recover(handle_rejection)
        .unify()
        .map(security_headers)
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
pub(crate) fn json_error(status: StatusCode, message: &str) -> warp::reply::Response {
    json_status(status, serde_json::json!({"error": message}))
}

async fn handle_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(admin) = rejection.find::<AdminRejection>() {
        let mut response = match admin {
            AdminRejection::Disabled => json_error(StatusCode::FORBIDDEN, admin.message()),
            AdminRejection::Unauthorized => json_error(StatusCode::UNAUTHORIZED, admin.message()),
        };
        if *admin == AdminRejection::Unauthorized {
            response.headers_mut().insert(
                warp::http::header::WWW_AUTHENTICATE,
                warp::http::HeaderValue::from_static("Bearer"),
            );
        }
        return Ok(response);
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
