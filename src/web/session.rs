//! Dashboard sign-in (SPEC §13): the `kyb_session` cookie, its CSRF token,
//! and who is asking for a control-room action.
//!
//! - Connecting through `GET /auth/twitch` signs the streamer in
//!   ([`sign_in`]): a random 32-byte token goes into the `kyb_session`
//!   cookie (HttpOnly, SameSite=Lax, Secure under https, scoped to
//!   `PUBLIC_URL`'s path, lasting `SESSION_TTL`); only its SHA-256 is
//!   stored. Signing in again goes through Twitch the same way: Twitch asks
//!   for consent only the first time (the bot never sends `force_verify`),
//!   so a streamer whose grant is still valid comes straight back.
//! - The CSRF token is derived from the session token (a SHA-256 under a
//!   fixed label), so nothing more is stored and it dies with the session.
//!   `GET /api/session` hands it to the page's script.
//! - [`caller`] decides who asks: `Authorization: Bearer ADMIN_TOKEN` is the
//!   admin (with the admin guard's slow-down); otherwise the session
//!   cookie, and for anything but `GET`/`HEAD` also `X-CSRF-Token` and an
//!   `Origin` equal to `PUBLIC_URL`'s. A signed-in broadcaster manages only
//!   their own channel ([`Caller::may_manage`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use cookie::{Cookie, SameSite};
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use warp::http::header::{COOKIE, SET_COOKIE};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::admin::{AdminRejection, guarded_check};
use super::client::{ClientKey, client_key};
use super::language::LanguageRequest;
use super::reply::{self, WebError};
use super::state::WebState;
use crate::catalog::{ApiText, Language};
use crate::channel::ChannelLogin;
use crate::store::{ChannelRecord, SessionRecord};
use crate::twitch::auth::manager::after;

/// Name of the session cookie.
pub(crate) const SESSION_COOKIE: &str = "kyb_session";
/// The header carrying the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// SHA-256 of a session token: what `sessions` stores.
fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The CSRF token of a session token.
fn csrf_token(token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"kinoyubot csrf token\0");
    hasher.update(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// Constant-time comparison of two short strings (through their hashes, so
/// the length is not told either).
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(b.as_bytes()).as_slice())
        .into()
}

/// The session cookie holding `value` for `max_age`, for a bot served at
/// `public_url`.
fn session_cookie(public_url: &url::Url, value: &str, max_age: Duration) -> Cookie<'static> {
    let path = match public_url.path().trim_end_matches('/') {
        "" => "/".to_owned(),
        path => path.to_owned(),
    };
    let max_age = cookie::time::Duration::try_from(max_age).unwrap_or(cookie::time::Duration::ZERO);
    Cookie::build((SESSION_COOKIE, value.to_owned()))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(public_url.scheme() == "https")
        .max_age(max_age)
        .build()
}

/// The `Set-Cookie` value that ends the session cookie.
pub(crate) fn cleared_cookie(public_url: &url::Url) -> String {
    let mut cookie = session_cookie(public_url, "", Duration::ZERO);
    cookie.make_removal();
    cookie.to_string()
}

/// The session token from the request's `Cookie` headers.
fn token_from_cookies(headers: &HeaderMap) -> Option<SecretString> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE && !cookie.value().is_empty())
        .map(|cookie| SecretString::from(cookie.value().to_owned()))
}

/// Signs the broadcaster of `channel` in: stores a new session and returns
/// the `Set-Cookie` value carrying it.
///
/// # Errors
///
/// Database errors.
pub(crate) async fn sign_in(state: &WebState, channel: &ChannelRecord) -> Result<String, crate::store::Error> {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let token = SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let expires_at = after(Utc::now(), state.session_ttl);
    state
        .store
        .insert_session(&token_hash(token.expose_secret()), channel.id, expires_at)
        .await?;
    tracing::info!(channel = %channel.login, "streamer signed in to the dashboard");
    Ok(session_cookie(&state.public_url, token.expose_secret(), state.session_ttl).to_string())
}

/// A signed-in broadcaster.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// Their channel.
    pub(crate) channel: ChannelRecord,
    /// The session token (to derive the CSRF token, and to sign out).
    token: SecretString,
}

/// Who asks for a control-room action.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// `Authorization: Bearer ADMIN_TOKEN`: every channel.
    Admin,
    /// A signed-in broadcaster: their own channel.
    Broadcaster(SignedIn),
}

impl Caller {
    /// Whether this caller may manage `login`.
    pub(crate) fn may_manage(&self, login: &ChannelLogin) -> bool {
        match self {
            Self::Admin => true,
            Self::Broadcaster(signed_in) => signed_in.channel.login == login.as_str(),
        }
    }

    /// 403 unless this caller may manage `login`.
    ///
    /// # Errors
    ///
    /// A 403 naming the channel the caller may manage.
    pub(crate) fn check_manages(&self, login: &ChannelLogin) -> Result<(), WebError> {
        match self {
            Self::Broadcaster(signed_in) if !self.may_manage(login) => Err(WebError::refusal(
                StatusCode::FORBIDDEN,
                ApiText::OnlyOwnChannel {
                    login: signed_in.channel.login.clone(),
                },
            )),
            _ => Ok(()),
        }
    }

    /// Whether this is the admin.
    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Self::Admin)
    }
}

/// Why a control-room request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccessRejection {
    /// The admin check refused the bearer token.
    Admin(AdminRejection),
    /// No (live) session and no bearer token: 401.
    NotSignedIn,
    /// A state change whose `Origin` is missing or not `PUBLIC_URL`'s: 403.
    CrossOrigin,
    /// A state change without the session's `X-CSRF-Token`: 403.
    BadCsrfToken,
    /// The sessions could not be read: 503.
    Unavailable,
}

impl From<AccessRejection> for WebError {
    fn from(rejection: AccessRejection) -> Self {
        match rejection {
            AccessRejection::Admin(admin) => admin.into(),
            AccessRejection::NotSignedIn => {
                WebError::refusal(StatusCode::UNAUTHORIZED, ApiText::NotSignedIn).with_challenge("Bearer")
            }
            AccessRejection::CrossOrigin => WebError::refusal(StatusCode::FORBIDDEN, ApiText::CrossOrigin),
            AccessRejection::BadCsrfToken => WebError::refusal(StatusCode::FORBIDDEN, ApiText::BadCsrfToken),
            AccessRejection::Unavailable => {
                WebError::refusal(StatusCode::SERVICE_UNAVAILABLE, ApiText::DatabaseUnavailable)
            }
        }
    }
}

/// An [`AccessRejection`] on its way to the route table's rejection
/// handler, with the language to say it in (the request's own, else
/// `LANGUAGE`: the channel is not known yet).
#[derive(Debug, Clone)]
pub(crate) struct RefusedAccess {
    rejection: AccessRejection,
    language: Language,
}

impl warp::reject::Reject for RefusedAccess {}

impl From<&RefusedAccess> for WebError {
    fn from(refused: &RefusedAccess) -> Self {
        WebError::from(refused.rejection.clone()).spoken_in(refused.language)
    }
}

/// The live session of a request, if any.
async fn session_of(state: &WebState, headers: &HeaderMap) -> Result<Option<SignedIn>, AccessRejection> {
    let Some(token) = token_from_cookies(headers) else {
        return Ok(None);
    };
    let found: Option<SessionRecord> = state
        .store
        .find_session(&token_hash(token.expose_secret()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, cause = ?e, "cannot read the sessions");
            AccessRejection::Unavailable
        })?;
    Ok(found.map(|record| SignedIn {
        channel: record.channel,
        token,
    }))
}

/// The signed-in broadcaster of a page request, if any: the dashboard
/// renders their control room. A database failure counts as signed out
/// (the page says the database is away on its own).
pub(crate) async fn signed_in(state: &WebState, headers: &HeaderMap) -> Option<SignedIn> {
    session_of(state, headers).await.ok().flatten()
}

/// Whether a state change carries `PUBLIC_URL`'s origin and the session's
/// CSRF token.
fn check_browser_change(
    public_url: &url::Url,
    headers: &HeaderMap,
    signed_in: &SignedIn,
) -> Result<(), AccessRejection> {
    let expected_origin = public_url.origin().ascii_serialization();
    let origin = headers.get("origin").and_then(|value| value.to_str().ok());
    if origin != Some(expected_origin.as_str()) {
        return Err(AccessRejection::CrossOrigin);
    }
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !same(presented, &csrf_token(signed_in.token.expose_secret())) {
        return Err(AccessRejection::BadCsrfToken);
    }
    Ok(())
}

/// Who asks: the admin (bearer token), or a signed-in broadcaster whose
/// state changes carry the CSRF token and the right `Origin`.
async fn identify(
    state: WebState,
    method: Method,
    headers: HeaderMap,
    client: ClientKey,
) -> Result<Caller, AccessRejection> {
    if let Some(authorization) = headers.get("authorization") {
        let authorization = authorization.to_str().ok();
        return guarded_check(
            &state.admin_guard,
            client,
            state.admin_token.as_ref(),
            authorization,
            std::time::Instant::now(),
        )
        .map(|()| Caller::Admin)
        .map_err(AccessRejection::Admin);
    }
    let signed_in = session_of(&state, &headers)
        .await?
        .ok_or(AccessRejection::NotSignedIn)?;
    if !matches!(method, Method::GET | Method::HEAD) {
        check_browser_change(&state.public_url, &headers, &signed_in)?;
    }
    Ok(Caller::Broadcaster(signed_in))
}

/// Extracts the [`Caller`] of a control-room route, or rejects with an
/// [`AccessRejection`]. Use after the path filters, so unknown paths still
/// answer 404.
pub(crate) fn caller(state: WebState) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    let state = Arc::new(state);
    warp::method()
        .and(warp::header::headers_cloned())
        .and(client_key())
        .and_then(move |method: Method, headers: HeaderMap, client: ClientKey| {
            let state = WebState::clone(&state);
            async move {
                let language = LanguageRequest::from_headers(&headers).reader(state.languages.default_language());
                identify(state, method, headers, client)
                    .await
                    .map_err(|rejection| warp::reject::custom(RefusedAccess { rejection, language }))
            }
        })
}

/// The body of `GET /api/session`.
#[derive(Debug, Serialize)]
struct SessionView<'a> {
    login: &'a str,
    channels: Vec<&'a str>,
    csrf_token: String,
}

/// `GET /api/session`: who is signed in, with the CSRF token; 401 when
/// nobody is.
///
/// # Errors
///
/// 401 without a live session, 503 without the database.
pub(crate) async fn current(state: WebState, headers: HeaderMap) -> Result<Response, WebError> {
    let signed_in = session_of(&state, &headers)
        .await
        .map_err(WebError::from)?
        .ok_or_else(|| WebError::refusal(StatusCode::UNAUTHORIZED, ApiText::NoSession))?;
    let mut response = reply::json(
        StatusCode::OK,
        &SessionView {
            login: &signed_in.channel.login,
            channels: vec![signed_in.channel.login.as_str()],
            csrf_token: csrf_token(signed_in.token.expose_secret()),
        },
    );
    response.headers_mut().insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `POST /auth/logout`: ends the session (with the CSRF token and the right
/// `Origin`) and clears the cookie; 204.
///
/// # Errors
///
/// 401 without a session, 403 without the CSRF token or from another
/// origin, 503 without the database.
pub(crate) async fn logout(state: WebState, caller: Caller) -> Result<Response, WebError> {
    let Caller::Broadcaster(signed_in) = caller else {
        return Err(WebError::refusal(StatusCode::BAD_REQUEST, ApiText::NoSessionToEnd));
    };
    state
        .store
        .delete_session(&token_hash(signed_in.token.expose_secret()))
        .await
        .map_err(WebError::database_unavailable)?;
    tracing::info!(channel = %signed_in.channel.login, "streamer signed out of the dashboard");
    let response = warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT);
    let response = warp::Reply::into_response(response);
    reply::with_header(response, SET_COOKIE, &cleared_cookie(&state.public_url), "../")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).expect("url")
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_under_https() {
        let cookie = session_cookie(&url("https://bot.example.com/kb"), "t0k", Duration::from_secs(60)).to_string();
        for part in [
            "kyb_session=t0k",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/kb",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        let plain = session_cookie(&url("http://localhost:8080"), "t0k", Duration::from_secs(60)).to_string();
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(plain.contains("Path=/"), "{plain}");
        assert!(cleared_cookie(&url("http://localhost:8080")).contains("Max-Age=0"));
    }

    #[test]
    fn the_csrf_token_belongs_to_its_session_and_is_not_the_session_token() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), "a");
        assert_ne!(&token_hash("a")[..], csrf_token("a").as_bytes());
    }

    #[test]
    fn a_change_needs_the_origin_and_the_csrf_token() {
        let public = url("http://localhost:8080");
        let signed_in = SignedIn {
            channel: ChannelRecord {
                id: 1,
                twitch_user_id: None,
                login: "me".into(),
                display_name: "Me".into(),
                paused: false,
                needs_reauth: false,
            },
            token: SecretString::from("tok".to_owned()),
        };
        let headers = |origin: Option<&str>, csrf: Option<&str>| {
            let mut map = HeaderMap::new();
            if let Some(origin) = origin {
                map.insert("origin", origin.parse().expect("header"));
            }
            if let Some(csrf) = csrf {
                map.insert(CSRF_HEADER, csrf.parse().expect("header"));
            }
            map
        };
        let good = csrf_token("tok");
        assert_eq!(
            check_browser_change(
                &public,
                &headers(Some("http://localhost:8080"), Some(&good)),
                &signed_in
            ),
            Ok(())
        );
        assert_eq!(
            check_browser_change(&public, &headers(Some("http://evil.example"), Some(&good)), &signed_in),
            Err(AccessRejection::CrossOrigin)
        );
        assert_eq!(
            check_browser_change(&public, &headers(None, Some(&good)), &signed_in),
            Err(AccessRejection::CrossOrigin)
        );
        assert_eq!(
            check_browser_change(&public, &headers(Some("http://localhost:8080"), None), &signed_in),
            Err(AccessRejection::BadCsrfToken)
        );
        assert_eq!(
            check_browser_change(
                &public,
                &headers(Some("http://localhost:8080"), Some("nope")),
                &signed_in
            ),
            Err(AccessRejection::BadCsrfToken)
        );
    }
}
