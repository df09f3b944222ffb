//! The route table: which handler answers which request, what an unmatched
//! request gets, and the security headers on every answer.
//!
//! Handlers depend on `state` and `reply`; this module depends on the
//! handlers; nothing depends back on it.
//!
//! Every response, matched or not, carries the security headers of
//! `security_headers`: a Content-Security-Policy that allows only our own
//! script and stylesheet (no inline code), no framing, no MIME sniffing and
//! no referrer. The OAuth pages need nothing more: they are plain HTML and
//! redirects (a 302 is not subject to `form-action`).

use std::collections::HashMap;

use super::client::client_key;
use std::convert::Infallible;
use std::sync::Arc;

use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::admin::{AdminRejection, admin_only};
use super::language::LanguageRequest;
use super::reply::WebError;
use super::session::{Caller, RefusedAccess};
use super::state::WebState;
use super::{api, control, dashboard, items, oauth, probes, raffle_page, room, session, status};

/// The Content-Security-Policy of every response: only our own script,
/// stylesheet and images, no inline code, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Adds the security headers to a response (keeping any a handler chose).
fn security_headers(mut response: warp::reply::Response) -> warp::reply::Response {
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
pub(crate) fn routes(state: WebState) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let dashboard = warp::path::end()
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(language_request())
        .and(warp::header::headers_cloned())
        .then(dashboard::page);
    let board = warp::path!("partials" / "channels")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(language_request())
        .then(dashboard::board)
        .map(Reply::into_response);
    let script = warp::path!("static" / "dashboard.js")
        .and(get_or_head())
        .map(|| dashboard::asset("text/javascript; charset=utf-8", dashboard::SCRIPT));
    let control_script = warp::path!("static" / "control.js")
        .and(warp::get())
        .map(|| dashboard::asset("text/javascript; charset=utf-8", dashboard::CONTROL_SCRIPT));
    let stylesheet = warp::path!("static" / "dashboard.css")
        .and(get_or_head())
        .map(|| dashboard::asset("text/css; charset=utf-8", dashboard::STYLESHEET));
    let api_status = warp::path!("api" / "status")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .then(status::api_status)
        .map(Reply::into_response);
    let metrics = warp::path!("metrics").and(get_or_head()).map(probes::metrics);
    let healthz = warp::path!("healthz").and(get_or_head()).map(probes::healthz);
    let readyz = warp::path!("readyz")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .then(probes::readyz);
    let raffles = warp::path!("api" / "raffles")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(warp::query::<HashMap<String, String>>())
        .then(api::list_raffles)
        .map(Reply::into_response);
    let admin = admin_only(state.admin_token.clone(), Arc::clone(&state.admin_guard));
    // The admin token or the channel's signed-in broadcaster (SPEC §13).
    let caller = session::caller(state.clone());
    let room = room_routes(&state, caller.clone());
    let draw = warp::path!("api" / "channels" / String / "draw")
        .and(warp::post())
        .and(caller.clone())
        .and(warp::query::<HashMap<String, String>>())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |login: String,
             caller: Caller,
             query: HashMap<String, String>,
             request: LanguageRequest,
             state: WebState| async move {
                let language = request.reader(state.languages.language_for(&login));
                api::draw(state, caller, login, query)
                    .await
                    .map_err(|e| e.spoken_in(language))
            },
        )
        .map(Reply::into_response);
    let pause = warp::path!("api" / "channels" / String / "pause")
        .and(warp::post())
        .and(caller.clone())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(|login, caller, request, state| set_paused(state, caller, login, request, true))
        .map(Reply::into_response);
    let resume = warp::path!("api" / "channels" / String / "resume")
        .and(warp::post())
        .and(caller.clone())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(|login, caller, request, state| set_paused(state, caller, login, request, false))
        .map(Reply::into_response);
    let approve = warp::path!("api" / "channels" / String / "approve")
        .and(warp::post())
        .and(admin.clone())
        .and(with_state(state.clone()))
        .then(|login: String, state: WebState| api::approve(state, login))
        .map(Reply::into_response);
    let get_settings = warp::path!("api" / "channels" / String / "settings")
        .and(get_or_head())
        .and(caller.clone())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |login: String, caller: Caller, request: LanguageRequest, state: WebState| async move {
                let language = request.reader(state.languages.language_for(&login));
                control::get_settings(state, caller, login)
                    .await
                    .map_err(|e| e.spoken_in(language))
            },
        )
        .map(Reply::into_response);
    let put_settings = warp::path!("api" / "channels" / String / "settings")
        .and(warp::put())
        .and(caller.clone())
        .and(warp::body::content_length_limit(control::MAX_SETTINGS_BODY))
        .and(warp::body::json::<serde_json::Value>())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |login: String, caller: Caller, body: serde_json::Value, request: LanguageRequest, state: WebState| async move {
                let language = request.reader(state.languages.language_for(&login));
                control::put_settings(state, caller, login, body).await.map_err(|e| e.spoken_in(language))
            },
        )
        .map(Reply::into_response);
    let history = warp::path!("partials" / "history" / String)
        .and(warp::get())
        .and(caller.clone())
        .and(with_state(state.clone()))
        .and(language_request())
        .then(
            |login: String, caller: Caller, state: WebState, request: LanguageRequest| {
                dashboard::history(state, caller, login, request)
            },
        )
        .map(Reply::into_response);
    let get_items = warp::path!("api" / "channels" / String / "items")
        .and(get_or_head())
        .and(caller.clone())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |login: String, caller: Caller, language: LanguageRequest, state: WebState| {
                items::get_items(state, caller, login, language)
            },
        )
        .map(Reply::into_response);
    let put_items = warp::path!("api" / "channels" / String / "items")
        .and(warp::put())
        .and(caller.clone())
        .and(language_request())
        .and(warp::body::content_length_limit(items::MAX_ITEMS_BODY))
        .and(warp::body::json::<serde_json::Value>())
        .and(with_state(state.clone()))
        .then(
            |login: String, caller: Caller, language: LanguageRequest, body: serde_json::Value, state: WebState| {
                items::put_items(state, caller, login, language, body)
            },
        )
        .map(Reply::into_response);
    let api_session = warp::path!("api" / "session")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .then(|state: WebState, headers: warp::http::HeaderMap| async move {
            let language = LanguageRequest::from_headers(&headers).reader(state.languages.default_language());
            session::current(state, headers)
                .await
                .map_err(|e| e.spoken_in(language))
        })
        .map(Reply::into_response);
    let logout = warp::path!("auth" / "logout")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(caller)
        .and(language_request())
        .then(|state: WebState, caller: Caller, request: LanguageRequest| async move {
            let language = request.reader(state.languages.default_language());
            session::logout(state, caller).await.map_err(|e| e.spoken_in(language))
        })
        .map(Reply::into_response);
    let auth_start = warp::path!("auth" / "twitch")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(client_key())
        .and(language_request())
        .and(oauth::request_target())
        .then(oauth::start)
        .map(Reply::into_response);
    let auth_bot = warp::path!("auth" / "twitch" / "bot")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(client_key())
        .and(language_request())
        .then(oauth::start_bot)
        .map(Reply::into_response);
    let bot_disconnect = warp::path!("api" / "bot")
        .and(warp::delete())
        .and(admin.clone())
        .and(with_state(state.clone()))
        .then(oauth::disconnect_bot)
        .map(Reply::into_response);
    let auth_callback = warp::path!("auth" / "callback")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(warp::query::<Vec<(String, String)>>())
        .and(oauth::browser_state())
        .and(language_request())
        .then(oauth::callback);
    let disconnect = warp::path!("api" / "channels" / String / "connection")
        .and(warp::delete())
        .and(admin)
        .and(with_state(state))
        .then(|login: String, state: WebState| oauth::disconnect(state, login))
        .map(Reply::into_response);
    // Boxed in groups: one chain of every route makes a type so deep that
    // compiling it takes minutes.
    let pages = dashboard
        .or(board)
        .unify()
        .or(script)
        .unify()
        .or(control_script)
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
        .boxed();
    let control = draw
        .or(pause)
        .unify()
        .or(resume)
        .unify()
        .or(approve)
        .unify()
        .or(get_settings)
        .unify()
        .or(put_settings)
        .unify()
        .or(api_session)
        .unify()
        .or(logout)
        .unify()
        .or(history)
        .unify()
        .boxed();
    // The prize editor: its own group, like every group of a few routes.
    let prizes = get_items.or(put_items).unify().boxed();
    pages
        .or(control)
        .unify()
        .or(room)
        .unify()
        .or(prizes)
        .unify()
        .or(auth_start)
        .unify()
        .or(auth_bot)
        .unify()
        .or(bot_disconnect)
        .unify()
        .or(auth_callback)
        .unify()
        .or(disconnect)
        .unify()
        .recover(handle_rejection)
        .unify()
        .map(security_headers)
}

/// `GET`, and `HEAD` wherever `GET` is answered (hyper sends a `HEAD`
/// answer's headers without its body).
fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

/// The control room's viewer list and resend, the public raffle page with
/// its snapshot, and the favicon (SPEC §13), boxed as one group.
fn room_routes(
    state: &WebState,
    caller: impl Filter<Extract = (Caller,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> warp::filters::BoxedFilter<(warp::reply::Response,)> {
    let viewers = warp::path!("api" / "channels" / String / "viewers")
        .and(get_or_head())
        .and(caller.clone())
        .and(warp::query::<HashMap<String, String>>())
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |login: String,
             caller: Caller,
             query: HashMap<String, String>,
             request: LanguageRequest,
             state: WebState| async move {
                let language = request.reader(state.languages.language_for(&login));
                room::list_viewers(state, caller, login, query)
                    .await
                    .map_err(|e| e.spoken_in(language))
            },
        )
        .map(Reply::into_response);
    let resend = warp::path!("api" / "raffles" / i64 / "resend")
        .and(warp::post())
        .and(caller)
        .and(language_request())
        .and(with_state(state.clone()))
        .then(
            |id: i64, caller: Caller, request: LanguageRequest, state: WebState| async move {
                let language = request.reader(state.languages.default_language());
                room::resend(state, caller, id).await.map_err(|e| e.spoken_in(language))
            },
        )
        .map(Reply::into_response);
    let snapshot = warp::path!("api" / "raffles" / i64 / "snapshot")
        .and(get_or_head())
        .and(with_state(state.clone()))
        .then(|id: i64, state: WebState| room::snapshot(state, id))
        .map(Reply::into_response);
    let page = warp::path!("raffles" / String)
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(language_request())
        .and(warp::header::optional::<String>("accept-language"))
        .then(raffle_page::page);
    let favicon = warp::path!("favicon.ico")
        .or(warp::path!("static" / "favicon.svg"))
        .unify()
        .and(get_or_head())
        .map(raffle_page::favicon);
    viewers
        .or(resend)
        .unify()
        .or(snapshot)
        .unify()
        .or(page)
        .unify()
        .or(favicon)
        .unify()
        .boxed()
}

/// `POST /api/channels/{login}/pause` and `/resume`, refusals in the reader's language.
async fn set_paused(
    state: WebState,
    caller: Caller,
    login: String,
    request: LanguageRequest,
    paused: bool,
) -> Result<warp::reply::Response, WebError> {
    let language = request.reader(state.languages.language_for(&login));
    api::set_paused(state, caller, login, paused)
        .await
        .map_err(|e| e.spoken_in(language))
}

/// The visitor's `?lang=`, language cookie and `Accept-Language`; never rejects.
fn language_request() -> impl Filter<Extract = (LanguageRequest,), Error = Infallible> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and(warp::header::headers_cloned())
        .map(|query: String, headers: warp::http::HeaderMap| {
            let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            LanguageRequest::from_request(&query, &headers)
        })
}

fn with_state(state: WebState) -> impl Filter<Extract = (WebState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// What an unmatched or refused request gets: a JSON error.
async fn handle_rejection(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(admin) = rejection.find::<AdminRejection>() {
        return Ok(WebError::from(*admin).into_response());
    }
    if let Some(refused) = rejection.find::<RefusedAccess>() {
        return Ok(WebError::from(refused).into_response());
    }
    // Body rejections first: they come from the route whose path and
    // method matched, while a sibling route on the same path (the `GET`
    // beside a `PUT`) adds a "method not allowed" to the same rejection.
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if rejection.find::<warp::body::BodyDeserializeError>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid request body")
    } else if rejection.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid query string")
    } else {
        // A missing or malformed header or cookie: the client's mistake,
        // which anyone can repeat at will, so not worth more than debug.
        tracing::debug!(rejection = ?rejection, "request rejected");
        (StatusCode::BAD_REQUEST, "bad request")
    };
    Ok(WebError::api(status, message).into_response())
}
