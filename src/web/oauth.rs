//! Connecting and disconnecting a streamer's Twitch account (SPEC §7, §8).
//!
//! - `GET /auth/twitch` issues a random single-use state: its SHA-256 goes
//!   to `oauth_states` (10-minute expiry), the state itself to an HttpOnly
//!   SameSite=Lax cookie, and the browser is sent to Twitch's `/authorize`.
//! - `GET /auth/callback` requires cookie == query state and a stored,
//!   unexpired state (deleted on use), exchanges the code, learns the user
//!   from `/validate`, stores the channel and its encrypted tokens, adds the
//!   login to the served [`ChannelSet`](crate::channel::ChannelSet) (the chat listener joins it at once)
//!   and redirects to the dashboard. Every failure is a small HTML page with
//!   the right status, and nothing is stored.
//! - `DELETE /api/channels/{login}/connection` (admin) revokes the tokens at
//!   Twitch, forgets them, and stops serving the channel unless it is in
//!   `TWITCH_CHANNELS`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use warp::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use warp::http::{HeaderValue, StatusCode};
use warp::{Reply as _, reply::Response};

use super::routes::{WebState, json_error};
use crate::channel::ChannelLogin;
use crate::store::{self, NewTokens, StateLookup, StoredTokens};
use crate::twitch::auth::token_cipher::{TokenCipher, TokenKind};
use crate::twitch::auth::{AuthError, TwitchAuth};
use crate::twitch::helix::HelixClient;

/// Name of the cookie carrying the OAuth state.
pub const STATE_COOKIE: &str = "kinoyubot_oauth_state";
/// How long a started sign-in stays valid.
pub(crate) const STATE_LIFETIME: Duration = Duration::from_secs(600);

/// What the OAuth routes need when Twitch is configured.
#[derive(Debug, Clone)]
pub struct TwitchConnect {
    /// Twitch's OAuth endpoints.
    pub auth: TwitchAuth,
    /// Encrypts tokens before they reach the database.
    pub cipher: TokenCipher,
    /// Helix, to learn the streamer's display name (`/validate` only gives the login).
    pub helix: Arc<HelixClient>,
    /// `PUBLIC_URL`: the state cookie is `Secure` when it is https, and its
    /// path (for a bot behind a reverse proxy under a prefix) scopes the
    /// cookie and the redirect to the dashboard.
    pub public_url: url::Url,
}

impl TwitchConnect {
    /// `PUBLIC_URL`'s path without a trailing slash (`""` at the root).
    fn base_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }

    fn state_cookie(&self, value: &str, max_age: u64) -> String {
        let secure = if self.public_url.scheme() == "https" {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{STATE_COOKIE}={value}; Max-Age={max_age}; Path={}/auth; HttpOnly; SameSite=Lax{secure}",
            self.base_path()
        )
    }
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A small HTML page; `title` and `message` are escaped.
pub(crate) fn html_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · KinoYuBot</title></head>\n<body><h1>{title}</h1>\n<p>{message}</p>\n\
         <p><a href=\"/\">Back to the dashboard</a> · <a href=\"/auth/twitch\">Connect with Twitch</a></p>\
         </body></html>\n",
        title = escape_html(title),
        message = escape_html(message),
    );
    let mut response = warp::reply::with_status(warp::reply::html(body), status).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn not_configured() -> Response {
    html_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Twitch is not configured",
        "This bot has no Twitch application: set TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET \
         (see the README, \"Creating a Twitch application\") and restart it.",
    )
}

fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

fn with_header(mut response: Response, name: warp::http::header::HeaderName, value: &str) -> Response {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            response.headers_mut().append(name, value);
            response
        }
        Err(_) => {
            tracing::error!(header = %name, "header value is not valid");
            html_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The bot could not build its answer. Try again.",
            )
        }
    }
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let response = warp::reply::with_status(warp::reply(), status).into_response();
    let mut response = with_header(response, LOCATION, location);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /auth/twitch`.
pub(crate) async fn start(state: WebState) -> Response {
    let Some(twitch) = state.twitch.as_ref() else {
        return not_configured();
    };
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    let oauth_state = SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let expires_at = crate::twitch::auth::manager::after(Utc::now(), STATE_LIFETIME);
    let stored = state
        .store
        .insert_oauth_state(&state_hash(oauth_state.expose_secret()), expires_at)
        .await;
    if let Err(e) = stored {
        tracing::error!(error = %e, cause = ?e, "could not store the OAuth state");
        return html_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Database unavailable",
            "The bot cannot reach its database right now. Try again in a moment.",
        );
    }
    let url = twitch.auth.authorize_url(&oauth_state);
    let response = redirect(StatusCode::FOUND, url.as_str());
    with_header(
        response,
        SET_COOKIE,
        &twitch.state_cookie(oauth_state.expose_secret(), STATE_LIFETIME.as_secs()),
    )
}

/// Why a callback failed.
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Cipher(#[from] crate::twitch::auth::token_cipher::CipherError),
}

fn error_page(error: &CallbackError) -> Response {
    let (status, title, message) = match error {
        CallbackError::Auth(AuthError::ConsentDenied { description }) => (
            StatusCode::FORBIDDEN,
            "Connection cancelled",
            format!("The Twitch account was not connected because access was declined ({description})."),
        ),
        CallbackError::Auth(AuthError::MissingState) => (
            StatusCode::BAD_REQUEST,
            "Sign-in response incomplete",
            "Twitch's answer has no state. Start again from the Connect button.".into(),
        ),
        CallbackError::Auth(AuthError::StateMismatch) => (
            StatusCode::FORBIDDEN,
            "Sign-in not started here",
            "This sign-in was not started in this browser (or its cookie was blocked), so it was refused. \
             Start again from the Connect button."
                .into(),
        ),
        CallbackError::Auth(AuthError::UnknownState) => (
            StatusCode::BAD_REQUEST,
            "Sign-in link already used",
            "This sign-in link was already used or was not issued by this bot. Start again from the Connect button."
                .into(),
        ),
        CallbackError::Auth(AuthError::ExpiredState) => (
            StatusCode::BAD_REQUEST,
            "Sign-in link expired",
            "This sign-in took longer than 10 minutes. Start again from the Connect button.".into(),
        ),
        CallbackError::Auth(AuthError::MissingCode) => (
            StatusCode::BAD_REQUEST,
            "Sign-in response incomplete",
            "Twitch's answer has no authorization code. Start again from the Connect button.".into(),
        ),
        CallbackError::Auth(e) => (
            StatusCode::BAD_GATEWAY,
            "Twitch did not complete the connection",
            format!("Nothing was saved: {e}. Try again in a moment."),
        ),
        CallbackError::Store(_) | CallbackError::Cipher(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The connection could not be saved. Nothing was stored; try again in a moment.".into(),
        ),
    };
    html_page(status, title, &message)
}

fn non_empty<'a>(query: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// `GET /auth/callback`.
#[tracing::instrument(skip_all, fields(channel))]
pub(crate) async fn callback(state: WebState, query: HashMap<String, String>, cookie: Option<String>) -> Response {
    let Some(twitch) = state.twitch.as_ref() else {
        return not_configured();
    };
    let response = match complete(&state, twitch, &query, cookie.as_deref()).await {
        Ok(login) => {
            tracing::Span::current().record("channel", login.as_str());
            tracing::info!(channel = %login, "streamer connected their Twitch account");
            redirect(StatusCode::SEE_OTHER, &format!("{}/", twitch.base_path()))
        }
        Err(e) => {
            match &e {
                CallbackError::Store(_) | CallbackError::Cipher(_) => {
                    tracing::error!(error = %e, cause = ?e, "OAuth callback failed");
                }
                _ => tracing::warn!(error = %e, "OAuth callback refused"),
            }
            error_page(&e)
        }
    };
    // The state is single use whatever happened: drop the cookie.
    with_header(response, SET_COOKIE, &twitch.state_cookie("", 0))
}

async fn complete(
    state: &WebState,
    twitch: &TwitchConnect,
    query: &HashMap<String, String>,
    cookie: Option<&str>,
) -> Result<ChannelLogin, CallbackError> {
    let query_state = non_empty(query, "state");
    if let Some(error) = non_empty(query, "error") {
        // Consume the state anyway: it must not be usable after this.
        if let Some(query_state) = query_state {
            state.store.take_oauth_state(&state_hash(query_state)).await?;
        }
        let description = non_empty(query, "error_description").unwrap_or(error);
        return Err(AuthError::ConsentDenied {
            description: description.to_owned(),
        }
        .into());
    }
    let query_state = query_state.ok_or(AuthError::MissingState)?;
    // The cookie binds the state to the browser that started the sign-in (CSRF).
    let cookie_state = cookie.map(str::trim).filter(|c| !c.is_empty());
    if cookie_state.is_none_or(|c| state_hash(c) != state_hash(query_state)) {
        return Err(AuthError::StateMismatch.into());
    }
    match state.store.take_oauth_state(&state_hash(query_state)).await? {
        StateLookup::Valid => {}
        StateLookup::Expired => return Err(AuthError::ExpiredState.into()),
        StateLookup::Unknown => return Err(AuthError::UnknownState.into()),
    }
    let code = non_empty(query, "code").ok_or(AuthError::MissingCode)?;
    let tokens = twitch.auth.exchange_code(code).await?;
    let refresh_token = tokens
        .refresh_token
        .clone()
        .ok_or_else(|| AuthError::Exchange("Twitch sent no refresh token".into()))?;
    let validation = twitch.auth.validate(&tokens.access_token).await.map_err(|e| match e {
        AuthError::TokenInvalid => AuthError::Validate("Twitch rejected the token it had just issued".into()),
        other => other,
    })?;
    if validation.client_id != twitch.auth.client_id() {
        return Err(AuthError::Validate("the token belongs to another application".into()).into());
    }
    let user_id = validation
        .user_id
        .clone()
        .ok_or_else(|| AuthError::Validate("no user id in the answer".into()))?;
    let login = validation
        .login
        .as_deref()
        .ok_or_else(|| AuthError::Validate("no login in the answer".into()))
        .and_then(|l| ChannelLogin::parse(l).map_err(|e| AuthError::Validate(e.to_string())))?;
    let now = Utc::now();
    let lifetime = tokens.expires_in.unwrap_or(Duration::from_secs(validation.expires_in));
    let scopes = if tokens.scopes.is_empty() {
        validation.scopes.clone().unwrap_or_default()
    } else {
        tokens.scopes.clone()
    };
    // Nice to have only: without it the login stands in for the display name.
    let display_name = match twitch.helix.user_by_login(login.as_str()).await {
        Ok(user) => user.filter(|u| u.id == user_id).map(|u| u.display_name),
        Err(e) => {
            tracing::warn!(error = %e, "could not fetch the display name");
            None
        }
    };
    let mut connection = state.store.connection().await?;
    let transaction = connection.begin_tokens().await?;
    let channel = transaction
        .record_identity(&login, &user_id, display_name.as_deref())
        .await?;
    let access = twitch
        .cipher
        .encrypt(channel.id, TokenKind::Access, &tokens.access_token)?;
    let refresh = twitch.cipher.encrypt(channel.id, TokenKind::Refresh, &refresh_token)?;
    transaction
        .store(
            channel.id,
            NewTokens {
                access_token: &access,
                refresh_token: &refresh,
                scopes: &scopes,
                expires_at: crate::twitch::auth::manager::after(now, lifetime),
                validated_at: Some(now),
            },
        )
        .await?;
    transaction.clear_needs_reauth(&login).await?;
    transaction.commit().await?;
    state.channels.add(login.clone());
    Ok(login)
}

/// `DELETE /api/channels/{login}/connection` (admin).
#[tracing::instrument(skip_all, fields(channel = %login))]
pub(crate) async fn disconnect(state: WebState, login: String) -> Response {
    let login = match ChannelLogin::parse(&login) {
        Ok(login) => login,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match forget(&state, &login).await {
        Ok(Some(revoked)) => {
            if !state.configured_channels.contains(&login) {
                state.channels.remove(&login);
            }
            tracing::info!(channel = %login, revoked, "Twitch connection removed");
            warp::reply::json(&serde_json::json!({
                "channel": login.as_str(),
                "connected": false,
                "revoked_at_twitch": revoked,
            }))
            .into_response()
        }
        Ok(None) => json_error(StatusCode::NOT_FOUND, "unknown channel or not connected"),
        Err(e) => {
            tracing::error!(error = %e, cause = ?e, "could not remove the Twitch connection");
            json_error(StatusCode::INTERNAL_SERVER_ERROR, "database unavailable")
        }
    }
}

/// Revokes and deletes a channel's tokens. `Ok(None)`: nothing to forget;
/// `Ok(Some(revoked))`: forgotten, and whether Twitch confirmed the revocation.
async fn forget(state: &WebState, login: &ChannelLogin) -> Result<Option<bool>, store::Error> {
    let Some(tokens) = state.store.tokens_of(login).await? else {
        return Ok(None);
    };
    let revoked = match state.twitch.as_ref() {
        Some(twitch) => revoke_all(twitch, &tokens).await,
        None => {
            tracing::warn!("Twitch is not configured: tokens are forgotten but not revoked at Twitch");
            false
        }
    };
    state.store.forget_tokens(tokens.channel_id).await?;
    Ok(Some(revoked))
}

/// Revokes both tokens; failures are logged and never stop the forgetting:
/// a streamer who disconnects must not stay connected because Twitch was down.
async fn revoke_all(twitch: &TwitchConnect, tokens: &StoredTokens) -> bool {
    let mut all = true;
    for (kind, stored) in [
        (TokenKind::Access, &tokens.access_token),
        (TokenKind::Refresh, &tokens.refresh_token),
    ] {
        let outcome = match twitch.cipher.decrypt(tokens.channel_id, kind, stored) {
            Ok(token) => twitch.auth.revoke(&token).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(reason) = outcome {
            tracing::warn!(?kind, %reason, "could not revoke a token at Twitch");
            all = false;
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenKey;

    fn connect(public_url: &str) -> TwitchConnect {
        let public_url = url::Url::parse(public_url).expect("url");
        let auth = TwitchAuth::new(
            "cid",
            &SecretString::from("secret"),
            &public_url,
            &format!("{}/auth/callback", public_url.as_str().trim_end_matches('/')),
        )
        .expect("client");
        TwitchConnect {
            helix: Arc::new(HelixClient::new(auth.clone(), public_url.clone())),
            auth,
            cipher: TokenCipher::new(&TokenKey::new([1; 32])),
            public_url,
        }
    }

    #[test]
    fn state_cookie_is_http_only_lax_and_secure_behind_https() {
        assert_eq!(
            connect("http://localhost:8080").state_cookie("abc", 600),
            "kinoyubot_oauth_state=abc; Max-Age=600; Path=/auth; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            connect("https://bot.example.com/kb/").state_cookie("abc", 0),
            "kinoyubot_oauth_state=abc; Max-Age=0; Path=/kb/auth; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
