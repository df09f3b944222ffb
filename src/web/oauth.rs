//! The Connect pages (SPEC §7, §8): HTTP around `twitch::auth::connect`,
//! which does the work. Here: parse the request, call it, render the answer.
//!
//! - `GET /auth/twitch` first sends a browser that came by another loopback
//!   name than `PUBLIC_URL`'s (`127.0.0.1` while it says `localhost`) to
//!   `PUBLIC_URL`'s host, same path and query: the state cookie is kept per
//!   host, and Twitch returns to `PUBLIC_URL`. Then it starts a connection:
//!   the state goes into an
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
use super::language::{LanguageRequest, page_language};
use super::reply::{self, WebError};
use super::state::WebState;
use crate::catalog::{ConnectPage, ConnectText, Language};
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

/// A Connect page about `page`, in `language`.
fn connect_page(status: StatusCode, page: ConnectPage<'_>, language: Language) -> WebError {
    WebError::page(
        status,
        language.say(&ConnectText::Title(page)),
        language.say(&ConnectText::Sentence(page)),
        ROOT,
    )
    .in_language(language)
}

fn not_configured(language: Language) -> WebError {
    connect_page(StatusCode::SERVICE_UNAVAILABLE, ConnectPage::NotConfigured, language)
}

/// Where a request says it was sent: its `Host` header and raw query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RequestTarget {
    host: Option<String>,
    query: Option<String>,
}

/// Extracts the [`RequestTarget`]; never rejects.
pub(crate) fn request_target() -> impl Filter<Extract = (RequestTarget,), Error = Infallible> + Clone {
    warp::header::optional::<String>("host")
        .or(warp::any().map(|| None))
        .unify()
        .and(warp::query::raw().map(Some).or(warp::any().map(|| None)).unify())
        .map(|host: Option<String>, query: Option<String>| RequestTarget { host, query })
}

/// Whether `host` names this machine (`localhost`, `127.x.x.x`, `::1`).
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Where to send a Connect started at `target` first, if anywhere:
/// `PUBLIC_URL/auth/twitch` with the same query, when the browser came by
/// another loopback name or port than `PUBLIC_URL`'s loopback host. Only
/// between loopback names: behind a reverse proxy the `Host` the bot sees
/// may never be `PUBLIC_URL`'s, and redirecting there would loop.
pub(crate) fn host_redirect(public_url: &url::Url, target: &RequestTarget) -> Option<String> {
    let public_host = public_url.host()?;
    if !is_loopback(&public_host) {
        return None;
    }
    let seen = url::Url::parse(&format!("{}://{}/", public_url.scheme(), target.host.as_deref()?)).ok()?;
    let seen_host = seen.host()?;
    let same_name = match (&seen_host, &public_host) {
        (url::Host::Domain(a), url::Host::Domain(b)) => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    };
    if !is_loopback(&seen_host) || (same_name && seen.port_or_known_default() == public_url.port_or_known_default()) {
        return None;
    }
    let mut to = public_url.clone();
    to.set_path(&format!("{}/auth/twitch", public_url.path().trim_end_matches('/')));
    to.set_query(target.query.as_deref().filter(|q| !q.is_empty()));
    Some(to.to_string())
}

/// `GET /auth/twitch`.
///
/// # Errors
///
/// 503 pages: Twitch not configured, or the database unavailable.
pub(crate) async fn start(
    state: WebState,
    client: ClientKey,
    request: LanguageRequest,
    target: RequestTarget,
) -> Result<Response, WebError> {
    if let Some(to) = host_redirect(&state.public_url, &target) {
        return reply::redirect(StatusCode::FOUND, &to, ROOT);
    }
    let language = page_language(&state, request, &[]);
    let started = state.connections.start_connect(&client.to_string()).await;
    redirect_to_twitch(&state, started, language)
}

/// `GET /auth/twitch/bot`: connect the account the bot speaks as.
///
/// # Errors
///
/// As [`start`]; 409 when a bot account is connected already.
pub(crate) async fn start_bot(
    state: WebState,
    client: ClientKey,
    request: LanguageRequest,
) -> Result<Response, WebError> {
    let language = page_language(&state, request, &[]);
    let started = state.connections.start_bot_connect(&client.to_string()).await;
    redirect_to_twitch(&state, started, language)
}

/// The redirect to Twitch for a started connection, with the state cookie.
fn redirect_to_twitch(
    state: &WebState,
    started: Result<ConnectStart, ConnectError>,
    language: Language,
) -> Result<Response, WebError> {
    let started = started.map_err(|e| match e {
        ConnectError::NotConfigured => not_configured(language),
        ConnectError::BotAlreadyConnected => bot_already_connected(language),
        ConnectError::TooManyPending => {
            connect_page(StatusCode::TOO_MANY_REQUESTS, ConnectPage::TooManyPending, language)
                .with_retry_after(RETRY_AFTER_SECONDS)
        }
        other => connect_page(
            StatusCode::SERVICE_UNAVAILABLE,
            ConnectPage::DatabaseUnavailable,
            language,
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
pub(crate) async fn callback(
    state: WebState,
    query: Vec<(String, String)>,
    browser_state: Option<String>,
    request: LanguageRequest,
) -> Response {
    let language = page_language(&state, request, &[]);
    let answer = match parse_callback(query) {
        None => Err(connect_page(StatusCode::BAD_REQUEST, ConnectPage::Malformed, language)),
        Some(callback) => finish(&state, &callback, browser_state.as_deref(), language).await,
    };
    // The state is single use whatever happened: drop the cookie.
    let mut spent = state_cookie(&state.public_url, "");
    spent.make_removal();
    reply::with_header(answer.into_response(), SET_COOKIE, &spent.to_string(), ROOT).into_response()
}

/// Finishes the connection and picks the answer.
async fn finish(
    state: &WebState,
    callback: &Callback,
    browser_state: Option<&str>,
    language: Language,
) -> Result<Response, WebError> {
    match state.connections.finish_connect(callback, browser_state).await {
        Ok(Connected::Channel(connected)) => {
            tracing::info!(
                channel = %connected.login,
                twitch_user_id = %connected.twitch_user_id,
                "streamer connected their Twitch account"
            );
            let response = reply::redirect(StatusCode::SEE_OTHER, &format!("{}/", state.base_path()), ROOT)?;
            // Connecting also signs the streamer in to the dashboard (SPEC §13).
            match sign_in_connected(state, &connected.login).await {
                Ok(cookie) => reply::with_header(response, SET_COOKIE, &cookie, ROOT),
                Err(e) => Err(WebError::page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Connected, but not signed in",
                    "Your Twitch account is connected, but the bot could not sign you in just now. \
                     Sign in again from the dashboard in a moment.",
                    ROOT,
                )
                .caused_by(e)),
            }
        }
        Ok(Connected::Bot(bot)) => {
            tracing::info!(bot = %bot.login, twitch_user_id = %bot.twitch_user_id, "the bot now speaks as this account");
            reply::redirect(StatusCode::SEE_OTHER, &format!("{}/", state.base_path()), ROOT)
        }
        Err(e) => Err(refusal(e, language)),
    }
}

fn bot_already_connected(language: Language) -> WebError {
    connect_page(StatusCode::CONFLICT, ConnectPage::BotAlreadyConnected, language)
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

/// Signs in the broadcaster of the channel just connected; the `Set-Cookie`
/// value.
async fn sign_in_connected(
    state: &WebState,
    login: &crate::channel::ChannelLogin,
) -> Result<String, crate::store::Error> {
    let channel = state
        .store
        .find_channel(login)
        .await?
        .ok_or_else(|| crate::store::Error::Vanished {
            what: format!("channel {login}"),
        })?;
    super::session::sign_in(state, &channel).await
}

/// The page for a callback that did not connect.
fn refusal(error: ConnectError, language: Language) -> WebError {
    let detail;
    let (status, page) = match &error {
        ConnectError::NotConfigured => return not_configured(language),
        ConnectError::BotAlreadyConnected => return bot_already_connected(language),
        ConnectError::ConsentDenied => (StatusCode::FORBIDDEN, ConnectPage::ConsentDenied),
        ConnectError::TwitchUnavailable => (StatusCode::BAD_GATEWAY, ConnectPage::TwitchUnavailable),
        ConnectError::AuthorizeRejected(_) => (StatusCode::BAD_GATEWAY, ConnectPage::AuthorizeRejected),
        ConnectError::TooManyPending => (StatusCode::TOO_MANY_REQUESTS, ConnectPage::TooManyPending),
        ConnectError::MissingState => (StatusCode::BAD_REQUEST, ConnectPage::MissingState),
        ConnectError::StateMismatch => (StatusCode::FORBIDDEN, ConnectPage::StateMismatch),
        ConnectError::UnknownState => (StatusCode::BAD_REQUEST, ConnectPage::UnknownState),
        ConnectError::ExpiredState => (StatusCode::BAD_REQUEST, ConnectPage::ExpiredState),
        ConnectError::MissingCode => (StatusCode::BAD_REQUEST, ConnectPage::MissingCode),
        ConnectError::Twitch(e) => {
            detail = e.to_string();
            (StatusCode::BAD_GATEWAY, ConnectPage::TwitchFailed { detail: &detail })
        }
        ConnectError::NotAllowed { login, .. } => {
            (StatusCode::FORBIDDEN, ConnectPage::NotAllowed { login: login.as_str() })
        }
        ConnectError::Database(_) | ConnectError::Cipher(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, ConnectPage::SaveFailed)
        }
    };
    let page = connect_page(status, page, language);
    page.caused_by(error)
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
    // Without its account the channel has nobody to sign in as.
    if let Ok(Some(channel)) = state.store.find_channel(&login).await
        && let Err(e) = state.store.delete_sessions_of(channel.id).await
    {
        tracing::warn!(channel = %login, error = %e, "could not end the channel's dashboard sessions");
    }
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

    fn target(host: &str, query: Option<&str>) -> RequestTarget {
        RequestTarget {
            host: Some(host.into()),
            query: query.map(Into::into),
        }
    }

    #[test]
    fn connect_started_on_another_loopback_name_goes_to_public_urls_host_first() {
        let public = url("http://localhost:8080");
        assert_eq!(
            host_redirect(&public, &target("127.0.0.1:8080", Some("lang=pt-BR"))).as_deref(),
            Some("http://localhost:8080/auth/twitch?lang=pt-BR")
        );
        assert_eq!(
            host_redirect(&public, &target("127.0.0.1:8080", None)).as_deref(),
            Some("http://localhost:8080/auth/twitch")
        );
        assert_eq!(
            host_redirect(&url("http://127.0.0.1:8080/kb/"), &target("localhost:8080", None)).as_deref(),
            Some("http://127.0.0.1:8080/kb/auth/twitch")
        );
        assert_eq!(
            host_redirect(&public, &target("[::1]:8080", None)).as_deref(),
            Some("http://localhost:8080/auth/twitch")
        );
    }

    #[test]
    fn connect_on_public_urls_own_host_or_behind_a_proxy_is_not_redirected() {
        let public = url("http://localhost:8080");
        assert_eq!(host_redirect(&public, &target("localhost:8080", None)), None);
        assert_eq!(host_redirect(&public, &target("LOCALHOST:8080", None)), None);
        assert_eq!(host_redirect(&public, &RequestTarget::default()), None);
        // A proxy's Host never matches a public https URL: no loop.
        let behind = url("https://bot.example.com");
        assert_eq!(host_redirect(&behind, &target("127.0.0.1:8080", None)), None);
        // Not a loopback name: not ours to second-guess.
        assert_eq!(host_redirect(&public, &target("192.168.1.5:8080", None)), None);
        assert_eq!(host_redirect(&public, &target("evil.example/x", None)), None);
    }

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
