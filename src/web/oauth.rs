//! The Connect pages (SPEC §7, §8): HTTP around `twitch::auth::connect`,
//! which does the work. Here: parse the request, call it, render the answer.
//!
//! - `GET /auth/twitch` starts a connection: the state goes into an
//!   HttpOnly, SameSite=Lax cookie scoped to `PUBLIC_URL`'s path + `/auth`
//!   (Secure under https), the browser to Twitch's authorize URL (302).
//! - `GET /auth/callback` hands Twitch's answer and the cookie's state to
//!   `finish_connect`, then redirects to the dashboard (303) or shows a page
//!   saying what went wrong, with the right status. The cookie is cleared
//!   either way: a state is single use.
//! - `DELETE /api/channels/{login}/connection` (admin) disconnects; JSON.
//! - `GET /auth/twitch/bot` starts connecting the account the bot speaks as
//!   (SPEC §11), through the same callback; open while none is connected.
//!   `DELETE /api/bot` (admin) disconnects it, so another can connect.
//!
//! `Set-Cookie` and `Cookie` are built and parsed with the `cookie` crate.

use std::convert::Infallible;

use cookie::{Cookie, SameSite};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use warp::Filter;
use warp::Reply as _;
use warp::http::header::{COOKIE, SET_COOKIE};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::api::parse_login;
use super::client::ClientKey;
use super::reply::{self, WebError};
use super::state::WebState;
use crate::twitch::auth::connect::{Callback, ConnectError, ConnectStart, Connected, STATE_LIFETIME};

/// Name of the cookie carrying the OAuth state.
pub const STATE_COOKIE: &str = "kinoyubot_oauth_state";

/// These pages sit one level below the site root (`/auth/…`).
const ROOT: &str = "../";

/// The answer to a disconnect.
#[derive(Serialize)]
struct DisconnectReply<'a> {
    channel: &'a str,
    connected: bool,
    revoked_at_twitch: bool,
}

/// The state cookie holding `value`, for a bot served at `public_url`.
fn state_cookie(public_url: &url::Url, value: &str) -> Cookie<'static> {
    // 600 s always fits; were it ever not to, the cookie expires at once and
    // the connection fails closed.
    let max_age = cookie::time::Duration::try_from(STATE_LIFETIME).unwrap_or(cookie::time::Duration::ZERO);
    Cookie::build((STATE_COOKIE, value.to_owned()))
        .path(format!("{}/auth", public_url.path().trim_end_matches('/')))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public_url.scheme() == "https")
        .max_age(max_age)
        .build()
}

/// The state cookie's value, from every `Cookie` header of a request.
fn state_from_cookies(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == STATE_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

/// Extracts the state the browser kept (`None` without the cookie).
pub(crate) fn browser_state() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::headers_cloned().map(|headers: HeaderMap| state_from_cookies(&headers))
}

fn not_configured() -> WebError {
    WebError::page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Twitch is not configured",
        "This bot has no Twitch application: set TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET \
         (see the README, \"Creating a Twitch application\") and restart it.",
        ROOT,
    )
}

/// `GET /auth/twitch`.
///
/// # Errors
///
/// 503 pages: Twitch not configured, or the database unavailable.
pub(crate) async fn start(state: WebState, client: ClientKey) -> Result<Response, WebError> {
    let started = state.connections.start_connect(&client.to_string()).await;
    redirect_to_twitch(&state, started)
}

/// `GET /auth/twitch/bot`: connect the account the bot speaks as.
///
/// # Errors
///
/// As [`start`]; 409 when a bot account is connected already.
pub(crate) async fn start_bot(state: WebState, client: ClientKey) -> Result<Response, WebError> {
    let started = state.connections.start_bot_connect(&client.to_string()).await;
    redirect_to_twitch(&state, started)
}

/// The redirect to Twitch for a started connection, with the state cookie.
fn redirect_to_twitch(state: &WebState, started: Result<ConnectStart, ConnectError>) -> Result<Response, WebError> {
    let started = started.map_err(|e| match e {
        ConnectError::NotConfigured => not_configured(),
        ConnectError::BotAlreadyConnected => bot_already_connected(),
        ConnectError::TooManyPending => WebError::page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins in progress",
            "Too many Twitch sign-ins are in progress right now. Try again in a few minutes.",
            ROOT,
        )
        .with_retry_after(RETRY_AFTER_SECONDS),
        other => WebError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Database unavailable",
            "The bot cannot reach its database right now. Try again in a moment.",
            ROOT,
        )
        .caused_by(other),
    })?;
    let response = reply::redirect(StatusCode::FOUND, started.authorize_url.as_str(), ROOT)?;
    let cookie = state_cookie(&state.public_url, started.browser_keeps.expose_secret());
    reply::with_header(response, SET_COOKIE, &cookie.to_string(), ROOT)
}

/// When to try again after too many pending sign-ins (seconds).
const RETRY_AFTER_SECONDS: u64 = 60;

/// Twitch's answer from the query, or `None` when `state`, `code` or
/// `error` is repeated: with two of them, which one counts would be the
/// parser's whim (and the check and the use could pick different ones).
fn parse_callback(query: Vec<(String, String)>) -> Option<Callback> {
    let mut callback = Callback::default();
    for (name, value) in query {
        let slot = match name.as_str() {
            "state" => &mut callback.state,
            "code" => &mut callback.code,
            "error" => &mut callback.error,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    Some(callback)
}

/// `GET /auth/callback`.
pub(crate) async fn callback(state: WebState, query: Vec<(String, String)>, browser_state: Option<String>) -> Response {
    let answer = match parse_callback(query) {
        None => Err(WebError::page(
            StatusCode::BAD_REQUEST,
            "Sign-in response malformed",
            "Twitch's answer carries a parameter twice, so it was refused. Start again from the Connect button.",
            ROOT,
        )),
        Some(callback) => finish(&state, &callback, browser_state.as_deref()).await,
    };
    // The state is single use whatever happened: drop the cookie.
    let mut spent = state_cookie(&state.public_url, "");
    spent.make_removal();
    reply::with_header(answer.into_response(), SET_COOKIE, &spent.to_string(), ROOT).into_response()
}

/// Finishes the connection and picks the answer.
async fn finish(state: &WebState, callback: &Callback, browser_state: Option<&str>) -> Result<Response, WebError> {
    match state.connections.finish_connect(callback, browser_state).await {
        Ok(Connected::Channel(connected)) => {
            tracing::info!(
                channel = %connected.login,
                twitch_user_id = %connected.twitch_user_id,
                "streamer connected their Twitch account"
            );
            reply::redirect(StatusCode::SEE_OTHER, &format!("{}/", state.base_path()), ROOT)
        }
        Ok(Connected::Bot(bot)) => {
            tracing::info!(bot = %bot.login, twitch_user_id = %bot.twitch_user_id, "the bot now speaks as this account");
            reply::redirect(StatusCode::SEE_OTHER, &format!("{}/", state.base_path()), ROOT)
        }
        Err(e) => Err(refusal(e)),
    }
}

fn bot_already_connected() -> WebError {
    WebError::page(
        StatusCode::CONFLICT,
        "A bot account is connected already",
        "The bot already speaks as a connected Twitch account. To use another one, the bot's operator \
         disconnects it first (DELETE /api/bot with the admin token), then connects the new one here.",
        ROOT,
    )
}

/// The answer to a bot disconnect.
#[derive(Serialize)]
struct BotDisconnectReply<'a> {
    bot: &'a str,
    connected: bool,
    revoked_at_twitch: bool,
}

/// `DELETE /api/bot` (admin): the bot stops speaking until an account is
/// connected again.
///
/// # Errors
///
/// 404 when no bot account is connected, 500 without the database.
pub(crate) async fn disconnect_bot(state: WebState) -> Result<Response, WebError> {
    let (bot, disconnected) = state
        .connections
        .disconnect_bot()
        .await
        .map_err(|e| WebError::api(StatusCode::INTERNAL_SERVER_ERROR, "database unavailable").caused_by(e))?
        .ok_or_else(|| WebError::api(StatusCode::NOT_FOUND, "no bot account is connected"))?;
    Ok(reply::json(
        StatusCode::OK,
        &BotDisconnectReply {
            bot: &bot.login,
            connected: false,
            revoked_at_twitch: disconnected.revoked_at_twitch,
        },
    ))
}

/// The page for a callback that did not connect.
fn refusal(error: ConnectError) -> WebError {
    let (status, title, message) = match &error {
        ConnectError::NotConfigured => return not_configured(),
        ConnectError::BotAlreadyConnected => return bot_already_connected(),
        ConnectError::ConsentDenied => (
            StatusCode::FORBIDDEN,
            "Connection cancelled",
            "The Twitch account was not connected because access was declined on Twitch.".into(),
        ),
        ConnectError::TwitchUnavailable => (
            StatusCode::BAD_GATEWAY,
            "Twitch had a problem",
            "Twitch could not complete the sign-in just now. Nothing was saved; try again in a moment.".into(),
        ),
        ConnectError::AuthorizeRejected(_) => (
            StatusCode::BAD_GATEWAY,
            "Twitch refused the sign-in",
            "Twitch refused this bot's sign-in request. Nothing was saved; the bot's operator should check its \
             Twitch application settings."
                .into(),
        ),
        ConnectError::TooManyPending => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins in progress",
            "Too many Twitch sign-ins are in progress right now. Try again in a few minutes.".into(),
        ),
        ConnectError::MissingState => (
            StatusCode::BAD_REQUEST,
            "Sign-in response incomplete",
            "Twitch's answer has no state. Start again from the Connect button.".into(),
        ),
        ConnectError::StateMismatch => (
            StatusCode::FORBIDDEN,
            "Sign-in not started here",
            "This sign-in was not started in this browser (or its cookie was blocked), so it was refused. \
             Start again from the Connect button."
                .into(),
        ),
        ConnectError::UnknownState => (
            StatusCode::BAD_REQUEST,
            "Sign-in link already used",
            "This sign-in link was already used or was not issued by this bot. Start again from the Connect button."
                .into(),
        ),
        ConnectError::ExpiredState => (
            StatusCode::BAD_REQUEST,
            "Sign-in link expired",
            "This sign-in took longer than 10 minutes. Start again from the Connect button.".into(),
        ),
        ConnectError::MissingCode => (
            StatusCode::BAD_REQUEST,
            "Sign-in response incomplete",
            "Twitch's answer has no authorization code. Start again from the Connect button.".into(),
        ),
        ConnectError::Twitch(e) => (
            StatusCode::BAD_GATEWAY,
            "Twitch did not complete the connection",
            format!("Nothing was saved: {e}. Try again in a moment."),
        ),
        ConnectError::NotAllowed { login, .. } => (
            StatusCode::FORBIDDEN,
            "This install is private",
            format!(
                "This KinoYuBot install is private: only its owner and the channels they allow can connect. \
                 The Twitch account {login} was not connected, and the bot kept none of its tokens (they were \
                 handed back to Twitch). If this channel should have access, ask the bot's operator to approve {login}."
            ),
        ),
        ConnectError::Database(_) | ConnectError::Cipher(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The connection could not be saved. Nothing was stored; try again in a moment.".into(),
        ),
    };
    WebError::page(status, title, message, ROOT).caused_by(error)
}

/// `DELETE /api/channels/{login}/connection` (admin).
///
/// # Errors
///
/// 400 for a bad login, 404 when the channel has no connection, 500
/// without the database.
pub(crate) async fn disconnect(state: WebState, raw_login: String) -> Result<Response, WebError> {
    let login = parse_login(&raw_login)?;
    let disconnected = state
        .connections
        .disconnect(&login)
        .await
        .map_err(|e| WebError::api(StatusCode::INTERNAL_SERVER_ERROR, "database unavailable").caused_by(e))?
        .ok_or_else(|| WebError::api(StatusCode::NOT_FOUND, "unknown channel or not connected"))?;
    Ok(reply::json(
        StatusCode::OK,
        &DisconnectReply {
            channel: login.as_str(),
            connected: false,
            revoked_at_twitch: disconnected.revoked_at_twitch,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("url")
    }

    #[test]
    fn state_cookie_is_http_only_lax_scoped_to_auth_and_secure_behind_https() {
        let plain = state_cookie(&url("http://localhost:8080"), "abc").to_string();
        let parsed = Cookie::parse(plain.as_str()).expect("parses");
        assert_eq!((parsed.name(), parsed.value()), (STATE_COOKIE, "abc"));
        assert_eq!(parsed.path(), Some("/auth"));
        assert_eq!(parsed.http_only(), Some(true));
        assert_eq!(parsed.same_site(), Some(SameSite::Lax));
        assert_eq!(parsed.secure(), None, "{plain}");
        assert_eq!(parsed.max_age(), Some(cookie::time::Duration::seconds(600)));
        assert_eq!(
            plain,
            "kinoyubot_oauth_state=abc; HttpOnly; SameSite=Lax; Path=/auth; Max-Age=600"
        );

        let behind_proxy = state_cookie(&url("https://bot.example.com/kb/"), "abc").to_string();
        let parsed = Cookie::parse(behind_proxy.as_str()).expect("parses");
        assert_eq!(parsed.path(), Some("/kb/auth"));
        assert_eq!(parsed.secure(), Some(true), "{behind_proxy}");
    }

    #[test]
    fn the_spent_cookie_expires_at_once_on_the_same_path() {
        let mut spent = state_cookie(&url("https://bot.example.com/kb/"), "abc");
        spent.make_removal();
        let text = spent.to_string();
        let parsed = Cookie::parse(text.as_str()).expect("parses");
        assert_eq!(parsed.value(), "");
        assert_eq!(parsed.max_age(), Some(cookie::time::Duration::ZERO), "{text}");
        assert_eq!(parsed.path(), Some("/kb/auth"));
        assert_eq!(parsed.http_only(), Some(true));
    }

    fn pairs(query: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    #[test]
    fn repeated_state_code_or_error_parameters_are_refused() {
        let ok = parse_callback(pairs("code=c&state=s&scope=&x=1&x=2")).expect("accepted");
        assert_eq!((ok.code.as_deref(), ok.state.as_deref()), (Some("c"), Some("s")));
        for query in [
            "code=c&state=s&state=t",
            "code=c&code=d&state=s",
            "error=a&error=b&state=s",
        ] {
            assert!(parse_callback(pairs(query)).is_none(), "{query}");
        }
    }

    #[test]
    fn the_state_is_found_among_other_cookies_and_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(state_from_cookies(&headers), None);
        headers.append(COOKIE, "theme=dark; other=1".parse().expect("header"));
        assert_eq!(state_from_cookies(&headers), None);
        headers.append(COOKIE, "a=b; kinoyubot_oauth_state=s7ate; c=d".parse().expect("header"));
        assert_eq!(state_from_cookies(&headers).as_deref(), Some("s7ate"));
    }
}
