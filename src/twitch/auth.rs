//! Twitch OAuth2 (SPEC §7): the authorization-code flow with the oauth2
//! crate, plus Twitch's own `/validate` and `/revoke` calls.
//!
//! Twitch answers `scope` as a JSON array (`"scope": ["chat:read"]`) where
//! RFC 6749 (and oauth2's `StandardTokenResponse`) expects a space-separated
//! string, and its errors look like `{"status":400,"message":"Invalid
//! refresh token"}` rather than `{"error": ...}`. `TwitchTokenResponse` and
//! `TwitchErrorResponse` accept Twitch's shapes, and the oauth2 client type
//! is built with them.
//!
//! Every endpoint lives under `TWITCH_AUTH_URL`, so tests point it at a
//! stand-in. Tokens only travel as [`SecretString`]s; error messages carry
//! Twitch's error text or a JSON path, never a response body (a body that
//! fails to parse may still hold a token).
//!
//! Submodules: `connect` connects and disconnects a streamer's account (the
//! business side of the Connect pages); [`token_key`] finds or creates the
//! key that encrypts tokens at rest; [`manager`] is the task that validates
//! and refreshes stored tokens; [`policy`] is `CONNECT_POLICY`, who may connect.

pub(crate) mod connect;
pub mod manager;
pub mod policy;
pub mod token_cipher;
pub mod token_key;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::{BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ErrorResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::config::Settings;

/// Scopes the bot asks a streamer for: only what an enabled feature uses,
/// and today none does. Chat is read anonymously, live status comes from
/// Helix `/streams` with an app token, and `/validate` needs no scope. Add a
/// scope here together with the feature that calls the API needing it
/// (`moderator:read:chatters` for `PRESENCE_SOURCES=chat,chatters`, say).
pub(crate) const SCOPES: &[&str] = &[];

/// Scopes asked of the account the bot speaks as (`GET /auth/twitch/bot`,
/// SPEC §11): sending chat messages with Helix, nothing more.
pub(crate) const BOT_SCOPES: &[&str] = &["user:write:chat"];
/// Lets the broadcaster's token list the logged-in viewers of their chat
/// (Helix Get Chatters), for `PRESENCE_SOURCES=chat,chatters`.
pub(crate) const CHATTERS_SCOPE: &str = "moderator:read:chatters";

/// Lets the broadcaster's token read who follows them (Helix Get Channel
/// Followers), for `MIN_FOLLOW_AGE`.
pub(crate) const FOLLOWERS_SCOPE: &str = "moderator:read:followers";

/// The scopes a streamer is asked for when these gates are in force: only
/// what they use (issue 18).
pub(crate) fn scopes_for(gates: &crate::raffle::eligibility::Gates) -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = SCOPES.to_vec();
    if gates.presence_sources.includes_chatters() {
        scopes.push(CHATTERS_SCOPE);
    }
    if gates.needs_follow() {
        scopes.push(FOLLOWERS_SCOPE);
    }
    scopes
}

/// The scopes a streamer is asked for when connecting: what the gates of
/// any channel use, with `defaults` (the environment's settings, which a
/// channel without its own values follows) laid under each channel's own
/// values (issue 18: the gates are per channel).
pub(crate) fn scopes_in_use<'a>(
    defaults: &crate::channel::settings::ChannelSettings,
    channels: impl IntoIterator<Item = &'a crate::channel::settings::OwnSettings>,
) -> Vec<&'static str> {
    let mut chatters = defaults.gates.presence_sources.includes_chatters();
    let mut followers = defaults.gates.needs_follow();
    for own in channels {
        let gates = defaults.with_own(own).gates;
        chatters |= gates.presence_sources.includes_chatters();
        followers |= gates.needs_follow();
    }
    let mut scopes: Vec<&'static str> = SCOPES.to_vec();
    if chatters {
        scopes.push(CHATTERS_SCOPE);
    }
    if followers {
        scopes.push(FOLLOWERS_SCOPE);
    }
    scopes
}

/// Timeout of every call to Twitch's OAuth endpoints.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a call to Twitch's OAuth endpoints failed. Messages never contain
/// tokens or secrets. (Why a Connect callback was refused is
/// `connect::ConnectError`.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Exchanging the code for tokens failed.
    #[error("exchanging the authorization code failed: {0}")]
    Exchange(String),
    /// `/validate` failed for a reason other than an invalid token.
    #[error("validating the token failed: {0}")]
    Validate(String),
    /// `/validate` answered 401: the access token is no longer valid.
    #[error("the access token is no longer valid")]
    TokenInvalid,
    /// Twitch refused the refresh token (revoked, or the app was disconnected).
    #[error("Twitch refused the refresh token: {0}")]
    RefreshRefused(String),
    /// Refreshing failed for a reason that may pass (network, 5xx).
    #[error("refreshing the token failed: {0}")]
    Refresh(String),
    /// Revoking a token failed.
    #[error("revoking the token failed: {0}")]
    Revoke(String),
    /// Getting an app access token (client credentials) failed.
    #[error("getting an app access token failed: {0}")]
    ClientCredentials(String),
    /// A URL built from `TWITCH_AUTH_URL` or `PUBLIC_URL` is invalid.
    #[error("{setting}: {reason}")]
    Config {
        /// The setting at fault.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Twitch's error body, e.g. `{"status":400,"message":"Invalid refresh token"}`.
/// RFC 6749 fields are accepted too, in case Twitch ever answers with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TwitchErrorResponse {
    /// HTTP status Twitch repeats in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// RFC 6749 error code (or Helix's status text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// RFC 6749 description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_description: Option<String>,
}

/// Longest part of a Twitch error message kept.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;

impl fmt::Display for TwitchErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self
            .message
            .as_deref()
            .or(self.error_description.as_deref())
            .or(self.error.as_deref())
            .unwrap_or("no message");
        // Twitch's words end up in log lines and in the needs-reauth notice
        // (stored as jsonb, which refuses a NUL): one clean line.
        let text = crate::text::clean_line(text, MAX_ERROR_MESSAGE_CHARS);
        match self.status {
            Some(status) => write!(f, "{status} {text}"),
            None => f.write_str(&text),
        }
    }
}

impl ErrorResponse for TwitchErrorResponse {}

/// Twitch's token response: like RFC 6749's, but `scope` is a JSON array
/// (a space-separated string and absence are accepted too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TwitchTokenResponse {
    access_token: AccessToken,
    #[serde(deserialize_with = "token_type_any_case")]
    token_type: BasicTokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(
        rename = "scope",
        default,
        deserialize_with = "scope_array_or_string",
        skip_serializing_if = "Option::is_none"
    )]
    scopes: Option<Vec<Scope>>,
}

/// `"bearer"`, `"Bearer"`: token types are case-insensitive (RFC 6749 §5.1).
fn token_type_any_case<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BasicTokenType, D::Error> {
    let text = String::deserialize(deserializer)?.to_ascii_lowercase();
    Ok(match text.as_str() {
        "bearer" => BasicTokenType::Bearer,
        "mac" => BasicTokenType::Mac,
        _ => BasicTokenType::Extension(text),
    })
}

fn scope_array_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<Scope>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scopes {
        List(Vec<String>),
        Text(String),
    }
    Ok(Option::<Scopes>::deserialize(deserializer)?.map(|scopes| match scopes {
        Scopes::List(list) => list.into_iter().map(Scope::new).collect(),
        Scopes::Text(text) => text.split_whitespace().map(|s| Scope::new(s.to_owned())).collect(),
    }))
}

impl TokenResponse for TwitchTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

/// The oauth2 client specialised for Twitch's response shapes. Revocation is
/// not set here: oauth2 refuses non-HTTPS revocation URLs (the stand-in is
/// plain HTTP) and Twitch wants `client_id` + `token` only, so `/revoke` is
/// our own call, like `/validate`.
type OAuthClient = oauth2::Client<
    TwitchErrorResponse,
    TwitchTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    TwitchErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Tokens Twitch issued.
#[derive(Debug, Clone)]
pub(crate) struct TokenSet {
    /// The access token.
    pub(crate) access_token: SecretString,
    /// The refresh token (absent for app tokens).
    pub(crate) refresh_token: Option<SecretString>,
    /// Lifetime of the access token, when Twitch said.
    pub(crate) expires_in: Option<Duration>,
    /// Granted scopes.
    pub(crate) scopes: Vec<String>,
}

impl From<TwitchTokenResponse> for TokenSet {
    fn from(response: TwitchTokenResponse) -> Self {
        Self {
            access_token: SecretString::from(response.access_token.secret().clone()),
            refresh_token: response
                .refresh_token
                .as_ref()
                .map(|t| SecretString::from(t.secret().clone())),
            expires_in: response.expires_in(),
            // Only well-formed scopes: they are stored (`crate::text`).
            scopes: response
                .scopes
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.to_string())
                .filter(|s| crate::text::oauth_scope(s).is_some())
                .collect(),
        }
    }
}

/// What `/validate` says about a user access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Validation {
    /// The application the token belongs to.
    pub(crate) client_id: String,
    /// The user's login (absent for app tokens).
    #[serde(default)]
    pub(crate) login: Option<String>,
    /// The user's id (absent for app tokens).
    #[serde(default)]
    pub(crate) user_id: Option<String>,
    /// Granted scopes (`null` for app tokens).
    #[serde(default)]
    pub(crate) scopes: Option<Vec<String>>,
    /// Seconds until the token expires.
    pub(crate) expires_in: u64,
}

/// Twitch's OAuth endpoints for one application. Cheap to clone.
#[derive(Clone)]
pub struct TwitchAuth {
    inner: Arc<Inner>,
}

struct Inner {
    oauth: OAuthClient,
    http: reqwest::Client,
    client_id: String,
    validate_url: Url,
    revoke_url: Url,
}

impl fmt::Debug for TwitchAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwitchAuth")
            .field("client_id", &self.inner.client_id)
            .field("validate_url", &self.inner.validate_url.as_str())
            .finish_non_exhaustive()
    }
}

fn endpoint(base: &Url, name: &str) -> Result<Url, AuthError> {
    Url::parse(&format!("{}/{name}", base.as_str().trim_end_matches('/'))).map_err(|e| AuthError::Config {
        setting: "TWITCH_AUTH_URL",
        reason: format!("cannot build the /{name} URL: {e}"),
    })
}

/// Turns an oauth2 request failure into a message safe to log: Twitch's own
/// error text, or the JSON path that failed to parse, never the body.
fn describe<RE: std::error::Error + 'static>(error: &RequestTokenError<RE, TwitchErrorResponse>) -> String {
    match error {
        RequestTokenError::ServerResponse(response) => response.to_string(),
        RequestTokenError::Request(e) => format!("request failed: {}", error_chain(e)),
        RequestTokenError::Parse(e, _body) => format!("unexpected response (at {})", e.path()),
        RequestTokenError::Other(text) => text.clone(),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl TwitchAuth {
    /// A client for the application `client_id`, with endpoints under
    /// `auth_base` (`TWITCH_AUTH_URL`) and the callback at `redirect_url`.
    ///
    /// # Errors
    ///
    /// [`AuthError::Config`] when a URL cannot be built.
    pub fn new(
        client_id: &str,
        client_secret: &SecretString,
        auth_base: &Url,
        redirect_url: &str,
    ) -> Result<Self, AuthError> {
        let redirect = RedirectUrl::new(redirect_url.to_owned()).map_err(|e| AuthError::Config {
            setting: "PUBLIC_URL",
            reason: format!("invalid OAuth redirect URL: {e}"),
        })?;
        let oauth = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoint(auth_base, "authorize")?))
            .set_token_uri(TokenUrl::from_url(endpoint(auth_base, "token")?))
            .set_redirect_uri(redirect)
            // Twitch expects client_id and client_secret in the form body.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            // No redirects from a token endpoint: a redirect could carry the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Config {
                setting: "TWITCH_AUTH_URL",
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                oauth,
                http,
                client_id: client_id.to_owned(),
                validate_url: endpoint(auth_base, "validate")?,
                revoke_url: endpoint(auth_base, "revoke")?,
            }),
        })
    }

    /// A client from the settings, or `None` without `TWITCH_CLIENT_ID` and
    /// `TWITCH_CLIENT_SECRET`.
    ///
    /// # Errors
    ///
    /// See [`TwitchAuth::new`].
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, AuthError> {
        match (&settings.twitch_client_id, &settings.twitch_client_secret) {
            (Some(id), Some(secret)) => {
                Self::new(id, secret, &settings.twitch_auth_url, &settings.oauth_redirect_url()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The application's client id.
    pub(crate) fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The HTTP client used for Twitch calls (no redirects, with a timeout).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The `/authorize` URL for a fresh `state`, asking for `scopes`
    /// ([`SCOPES`] for a streamer's channel), with a PKCE `S256` challenge
    /// (RFC 7636; RFC 9700 §2.1.1 recommends it for confidential clients
    /// too). Returns the URL and the PKCE verifier, which the exchange of
    /// the code must send ([`TwitchAuth::exchange_code`]).
    pub(crate) fn authorize_url(&self, state: &SecretString, scopes: &[&str]) -> (Url, SecretString) {
        let state = state.expose_secret().to_owned();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = self
            .inner
            .oauth
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        request = if scopes.is_empty() {
            // Twitch wants the parameter even when it is empty; oauth2 leaves
            // it out without scopes.
            request.add_extra_param("scope", "")
        } else {
            request.add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
        };
        let (url, _) = request.url();
        (url, SecretString::from(verifier.secret().clone()))
    }

    /// Exchanges an authorization code for user tokens, proving with the
    /// PKCE `verifier` that this client started the authorization.
    ///
    /// # Errors
    ///
    /// [`AuthError::Exchange`] with Twitch's message.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn exchange_code(&self, code: &str, verifier: &SecretString) -> Result<TokenSet, AuthError> {
        self.inner
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_owned()))
            .request_async(&self.inner.http)
            .await
            .map(TokenSet::from)
            .map_err(|e| AuthError::Exchange(describe(&e)))
    }

    /// Exchanges a refresh token for new tokens (Twitch may rotate the
    /// refresh token: store the one returned).
    ///
    /// # Errors
    ///
    /// [`AuthError::RefreshRefused`] when Twitch rejects the refresh token
    /// (it will not work again); [`AuthError::Refresh`] for failures that may pass.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet, AuthError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        match self
            .inner
            .oauth
            .exchange_refresh_token(&token)
            .request_async(&self.inner.http)
            .await
        {
            Ok(response) => Ok(response.into()),
            // Twitch answers 400 "Invalid refresh token" (or 401) for a revoked
            // or unknown refresh token; anything else may be transient.
            Err(RequestTokenError::ServerResponse(response)) if matches!(response.status, Some(400 | 401)) => {
                Err(AuthError::RefreshRefused(response.to_string()))
            }
            Err(e) => Err(AuthError::Refresh(describe(&e))),
        }
    }

    /// Gets an app access token (client-credentials grant), for Helix.
    ///
    /// # Errors
    ///
    /// [`AuthError::ClientCredentials`] with Twitch's message.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn client_credentials(&self) -> Result<TokenSet, AuthError> {
        self.inner
            .oauth
            .exchange_client_credentials()
            .request_async(&self.inner.http)
            .await
            .map(TokenSet::from)
            .map_err(|e| AuthError::ClientCredentials(describe(&e)))
    }

    /// Calls `/validate` (`Authorization: OAuth <token>`).
    ///
    /// # Errors
    ///
    /// [`AuthError::TokenInvalid`] on 401; [`AuthError::Validate`] otherwise.
    #[tracing::instrument(skip_all)]
    pub(crate) async fn validate(&self, access_token: &SecretString) -> Result<Validation, AuthError> {
        let response = self
            .inner
            .http
            .get(self.inner.validate_url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                format!("OAuth {}", access_token.expose_secret()),
            )
            .send()
            .await
            .map_err(|e| AuthError::Validate(error_chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AuthError::TokenInvalid);
        }
        if !status.is_success() {
            let body: TwitchErrorResponse = response.json().await.unwrap_or_default();
            return Err(AuthError::Validate(format!("HTTP {status}: {body}")));
        }
        response
            .json::<Validation>()
            .await
            .map_err(|e| AuthError::Validate(format!("unexpected response: {}", error_chain(&e))))
    }

    /// Revokes a token at Twitch (`POST /revoke` with `client_id` and `token`).
    /// A token Twitch no longer knows counts as revoked.
    ///
    /// # Errors
    ///
    /// [`AuthError::Revoke`] when Twitch is unreachable or answers an error
    /// other than "invalid token".
    #[tracing::instrument(skip_all)]
    pub(crate) async fn revoke(&self, token: &SecretString) -> Result<(), AuthError> {
        let response = self
            .inner
            .http
            .post(self.inner.revoke_url.clone())
            .form(&[
                ("client_id", self.inner.client_id.as_str()),
                ("token", token.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| AuthError::Revoke(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body: TwitchErrorResponse = response.json().await.unwrap_or_default();
        // Twitch answers 400 "Invalid token" for a token that is already gone.
        if status == reqwest::StatusCode::BAD_REQUEST
            && body
                .message
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("invalid token"))
        {
            return Ok(());
        }
        Err(AuthError::Revoke(format!("HTTP {status}: {body}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn twitch_token_response_with_a_scope_array_parses() {
        // Shape of https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#authorization-code-grant-flow
        let json = r#"{
            "access_token": "rfx2uswqe8l4g1mkagrvg5tv0ks3",
            "expires_in": 14124,
            "refresh_token": "5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01",
            "scope": ["channel:moderate", "chat:edit", "chat:read"],
            "token_type": "bearer"
        }"#;
        let parsed: TwitchTokenResponse = serde_json::from_str(json).expect("parses");
        assert_eq!(parsed.access_token().secret(), "rfx2uswqe8l4g1mkagrvg5tv0ks3");
        assert_eq!(parsed.token_type(), &BasicTokenType::Bearer);
        assert_eq!(parsed.expires_in(), Some(Duration::from_secs(14124)));
        assert_eq!(
            parsed.refresh_token().map(|t| t.secret().as_str()),
            Some("5b93chm6hdve3mycz05zfzatkfdenfspp1h1ar2xxdalen01")
        );
        let scopes: Vec<String> = parsed.scopes().into_iter().flatten().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["channel:moderate", "chat:edit", "chat:read"]);
        // The standard response type is what this type exists to replace.
        assert!(serde_json::from_str::<oauth2::basic::BasicTokenResponse>(json).is_err());
    }

    #[test]
    fn refresh_response_without_expiry_and_app_token_without_scope_parse() {
        let refresh = r#"{"access_token":"1ssjqsqfy6bads1ws7m03gras79zfr",
            "refresh_token":"eyJfMzUtNDU0OC4MWYwLTQ5MDY5ODY4NGNlMSJ9%asdfasdf=",
            "scope":["chat:read"],"token_type":"bearer"}"#;
        let parsed = TokenSet::from(serde_json::from_str::<TwitchTokenResponse>(refresh).expect("parses"));
        assert_eq!(parsed.expires_in, None);
        assert_eq!(parsed.scopes, ["chat:read"]);
        let app = r#"{"access_token":"jostpf5q0uzmxmkba9iyug38kjtgh","expires_in":5011271,"token_type":"bearer"}"#;
        let parsed = TokenSet::from(serde_json::from_str::<TwitchTokenResponse>(app).expect("parses"));
        assert!(parsed.refresh_token.is_none() && parsed.scopes.is_empty());
        assert_eq!(parsed.expires_in, Some(Duration::from_secs(5_011_271)));
        let spaced = r#"{"access_token":"a","token_type":"Bearer","scope":"chat:read chat:edit"}"#;
        let parsed = TokenSet::from(serde_json::from_str::<TwitchTokenResponse>(spaced).expect("parses"));
        assert_eq!(parsed.scopes, ["chat:read", "chat:edit"]);
    }

    #[test]
    fn twitch_error_shape_parses_and_displays_its_message() {
        let parsed: TwitchErrorResponse =
            serde_json::from_str(r#"{"status":400,"message":"Invalid refresh token"}"#).expect("parses");
        assert_eq!(parsed.status, Some(400));
        assert_eq!(parsed.to_string(), "400 Invalid refresh token");
    }

    #[test]
    fn token_set_debug_hides_tokens() {
        let set = TokenSet {
            access_token: SecretString::from("accesssecret"),
            refresh_token: Some(SecretString::from("refreshsecret")),
            expires_in: None,
            scopes: vec![],
        };
        let debug = format!("{set:?}");
        assert!(
            !debug.contains("accesssecret") && !debug.contains("refreshsecret"),
            "{debug}"
        );
    }

    #[test]
    fn authorize_url_carries_client_redirect_scopes_and_state() {
        let auth = TwitchAuth::new(
            "cid",
            &SecretString::from("csecret"),
            &Url::parse("https://id.twitch.tv/oauth2").expect("url"),
            "http://localhost:8080/auth/callback",
        )
        .expect("client");
        let (url, verifier) = auth.authorize_url(&SecretString::from("st4te"), &["chat:read", "chat:edit"]);
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://id.twitch.tv/oauth2/authorize")
        );
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["client_id"], "cid");
        assert_eq!(query["redirect_uri"], "http://localhost:8080/auth/callback");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["scope"], "chat:read chat:edit");
        assert_eq!(query["state"], "st4te");
        assert_eq!(query["code_challenge_method"], "S256");
        let expected = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sha2::Sha256::digest(verifier.expose_secret().as_bytes()),
        );
        assert_eq!(query["code_challenge"], expected);
        assert!(verifier.expose_secret().len() >= 43, "RFC 7636 §4.1");
        assert!(!url.as_str().contains(verifier.expose_secret()));
        assert!(!url.as_str().contains("csecret"));
        let (bare, _) = auth.authorize_url(&SecretString::from("st4te"), SCOPES);
        let query: std::collections::HashMap<_, _> = bare.query_pairs().into_owned().collect();
        assert_eq!(query.get("scope").map(String::as_str), Some(""), "no scope asked for");
        assert!(!format!("{auth:?}").contains("csecret"));
    }
}
