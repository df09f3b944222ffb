//! The Twitch Helix API: live status for `ONLY_WHEN_LIVE` (SPEC §7), and
//! the data the eligibility gates use (SPEC §14): Get Chatters, Get Users by
//! id and Get Channel Followers.
//!
//! Live status and Get Users use an app token; Get Chatters and Get Channel
//! Followers need the broadcaster's user token with `moderator:read:chatters`
//! or `moderator:read:followers`, passed in by the caller.
//!
//! Calls use an app access token (client-credentials grant), fetched on first
//! use and cached until shortly before it expires. A 401 means Twitch no
//! longer accepts it: the token is dropped and the request retried once with
//! a fresh one. Helix's rate-limit headers are honoured: when
//! `Ratelimit-Remaining` reaches 0, the next request waits until
//! `Ratelimit-Reset` (a Unix time), so the bucket refills instead of every
//! call failing with 429.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::auth::{AuthError, TwitchAuth, TwitchErrorResponse};
use crate::twitch::live_status::{LiveAnswer, LiveStatus};

/// An app token is renewed this long before Twitch says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Assumed lifetime of an app token when Twitch does not say.
const DEFAULT_APP_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest an app token is used before a new one is fetched, whatever
/// Twitch says its lifetime is: a huge `expires_in` must neither overflow
/// `Instant` (a panic) nor keep a token forever.
const MAX_APP_TOKEN_REUSE: Duration = Duration::from_secs(24 * 3600);
/// Longest wait for a rate-limit reset; Helix buckets refill within a minute.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Why a Helix call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelixError {
    /// No app access token could be had.
    #[error(transparent)]
    Token(#[from] AuthError),
    /// Twitch could not be reached.
    #[error("Helix request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// Twitch answered an error.
    #[error("Helix answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Twitch's message.
        message: String,
    },
    /// `TWITCH_API_URL` cannot be used for this path.
    #[error("TWITCH_API_URL: cannot build a Helix URL: {0}")]
    Url(#[from] url::ParseError),
}

/// A Twitch user, from `GET /users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HelixUser {
    /// User id.
    pub id: String,
    /// Login (lowercase).
    pub login: String,
    /// Display name.
    pub display_name: String,
}

#[derive(Deserialize)]
struct DataList<T> {
    data: Vec<T>,
}

/// Helix's `pagination` object: a cursor for the next page, absent or
/// empty on the last one.
#[derive(Debug, Default, Deserialize)]
struct Pagination {
    #[serde(default)]
    cursor: Option<String>,
}

/// A page of a paginated Helix list.
#[derive(Deserialize)]
struct Page<T> {
    data: Vec<T>,
    #[serde(default)]
    pagination: Pagination,
    #[serde(default)]
    total: Option<u64>,
}

impl<T> Page<T> {
    fn next_cursor(&self) -> Option<&str> {
        self.pagination.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// Helix's most ids in one `GET /users`.
pub(crate) const USERS_PER_CALL: usize = 100;
/// Helix's largest page of `GET /chat/chatters`.
pub(crate) const CHATTERS_PER_PAGE: usize = 1000;
/// Helix's largest page of `GET /channels/followers`.
pub(crate) const FOLLOWERS_PER_PAGE: usize = 100;
/// Most pages read in one listing, so that a cursor that never ends (a
/// broken server) cannot loop for ever: 200,000 chatters or followers.
const MAX_PAGES: usize = 2000;

/// A logged-in viewer in a chat, from `GET /chat/chatters`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chatter {
    /// User id.
    pub user_id: String,
    /// Login.
    pub user_login: String,
    /// Display name.
    pub user_name: String,
}

/// A Twitch account's id and creation time, from `GET /users?id=`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountCreated {
    /// User id.
    pub id: String,
    /// When the account was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A follower, from `GET /channels/followers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Follower {
    /// User id.
    pub user_id: String,
    /// When they followed.
    pub followed_at: chrono::DateTime<chrono::Utc>,
}

/// Whose token a Helix call carries.
#[derive(Clone, Copy)]
enum Bearer<'a> {
    /// The app token (client credentials), fetched and renewed here.
    App,
    /// A user's token (the broadcaster's), as stored for their channel.
    User(&'a SecretString),
}

#[derive(Deserialize)]
struct Stream {}

struct AppToken {
    token: SecretString,
    renew_at: Instant,
}

#[derive(Default)]
struct RateLimit {
    /// Unix time (seconds) of the next refill, when the bucket is empty.
    empty_until: Option<u64>,
}

/// Helix client for one application. Share it behind an `Arc`.
pub struct HelixClient {
    auth: TwitchAuth,
    api_base: Url,
    app_token: Mutex<Option<AppToken>>,
    rate_limit: std::sync::Mutex<RateLimit>,
}

impl fmt::Debug for HelixClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelixClient")
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl HelixClient {
    /// A client calling `api_base` (`TWITCH_API_URL`) with app tokens from `auth`.
    pub fn new(auth: TwitchAuth, api_base: Url) -> Self {
        Self {
            auth,
            api_base,
            app_token: Mutex::new(None),
            rate_limit: std::sync::Mutex::new(RateLimit::default()),
        }
    }

    /// Whether the broadcaster with this user id is live now.
    ///
    /// # Errors
    ///
    /// [`HelixError`] when Twitch cannot be asked or answers an error.
    pub async fn stream_is_live(&self, broadcaster_user_id: &str) -> Result<bool, HelixError> {
        let streams: DataList<Stream> = self.get("streams", &[("user_id", broadcaster_user_id)]).await?;
        Ok(!streams.data.is_empty())
    }

    /// The user with this login, if Twitch knows one.
    ///
    /// # Errors
    ///
    /// [`HelixError`] when Twitch cannot be asked or answers an error.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<HelixUser>, HelixError> {
        let users: DataList<HelixUser> = self.get("users", &[("login", login)]).await?;
        Ok(users.data.into_iter().next())
    }

    /// The creation times of these accounts, asking Helix `GET /users` for
    /// up to [`USERS_PER_CALL`] ids a call (app token). Accounts Twitch no
    /// longer knows (deleted, banned) are missing from the answer. Returns
    /// the accounts found and the number of calls made.
    ///
    /// # Errors
    ///
    /// [`HelixError`] for the first call that fails; accounts of earlier
    /// calls are lost with it (the caller retries next round).
    pub async fn accounts_created(&self, user_ids: &[String]) -> Result<(Vec<AccountCreated>, usize), HelixError> {
        let mut found = Vec::with_capacity(user_ids.len());
        let mut calls = 0usize;
        for chunk in user_ids.chunks(USERS_PER_CALL) {
            let query: Vec<(&str, &str)> = chunk.iter().map(|id| ("id", id.as_str())).collect();
            let page: DataList<AccountCreated> = self.get_as("users", &query, Bearer::App).await?;
            calls = calls.saturating_add(1);
            found.extend(page.data);
        }
        Ok((found, calls))
    }

    /// Everyone logged in to the broadcaster's chat, from `GET /chat/chatters`
    /// in pages of [`CHATTERS_PER_PAGE`] following the cursor, with the
    /// broadcaster's own token (`moderator:read:chatters`; the broadcaster
    /// is their own moderator). Returns the chatters and the pages read.
    ///
    /// # Errors
    ///
    /// [`HelixError`]; a 401 means the token lacks the scope or expired.
    pub async fn chatters(
        &self,
        broadcaster_user_id: &str,
        token: &SecretString,
    ) -> Result<(Vec<Chatter>, usize), HelixError> {
        let first = CHATTERS_PER_PAGE.to_string();
        let mut chatters = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let mut query = vec![
                ("broadcaster_id", broadcaster_user_id),
                ("moderator_id", broadcaster_user_id),
                ("first", first.as_str()),
            ];
            if let Some(after) = cursor.as_deref() {
                query.push(("after", after));
            }
            let page: Page<Chatter> = self.get_as("chat/chatters", &query, Bearer::User(token)).await?;
            pages = pages.saturating_add(1);
            let next = page.next_cursor().map(str::to_owned);
            chatters.extend(page.data);
            match next {
                Some(next) if pages < MAX_PAGES && cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok((chatters, pages)),
            }
        }
    }

    /// When `user_id` followed the broadcaster, or `None` when they do not
    /// (`GET /channels/followers?user_id=`, broadcaster's token with
    /// `moderator:read:followers`).
    ///
    /// # Errors
    ///
    /// [`HelixError`]; a 401 means the token lacks the scope or expired.
    pub async fn follower(
        &self,
        broadcaster_user_id: &str,
        user_id: &str,
        token: &SecretString,
    ) -> Result<Option<Follower>, HelixError> {
        let query = [("broadcaster_id", broadcaster_user_id), ("user_id", user_id)];
        let page: Page<Follower> = self.get_as("channels/followers", &query, Bearer::User(token)).await?;
        Ok(page.data.into_iter().find(|f| f.user_id == user_id))
    }

    /// How many accounts follow the broadcaster (`total` of the first page).
    ///
    /// # Errors
    ///
    /// [`HelixError`]; a 401 means the token lacks the scope or expired.
    pub async fn follower_total(&self, broadcaster_user_id: &str, token: &SecretString) -> Result<u64, HelixError> {
        let query = [("broadcaster_id", broadcaster_user_id), ("first", "1")];
        let page: Page<Follower> = self.get_as("channels/followers", &query, Bearer::User(token)).await?;
        Ok(page.total.unwrap_or(0))
    }

    /// Every follower of the broadcaster, in pages of [`FOLLOWERS_PER_PAGE`];
    /// cheaper than one call per viewer when many viewers need checking.
    /// Returns the followers and the pages read.
    ///
    /// # Errors
    ///
    /// [`HelixError`]; a 401 means the token lacks the scope or expired.
    pub async fn all_followers(
        &self,
        broadcaster_user_id: &str,
        token: &SecretString,
    ) -> Result<(Vec<Follower>, usize), HelixError> {
        let first = FOLLOWERS_PER_PAGE.to_string();
        let mut followers = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let mut query = vec![("broadcaster_id", broadcaster_user_id), ("first", first.as_str())];
            if let Some(after) = cursor.as_deref() {
                query.push(("after", after));
            }
            let page: Page<Follower> = self.get_as("channels/followers", &query, Bearer::User(token)).await?;
            pages = pages.saturating_add(1);
            let next = page.next_cursor().map(str::to_owned);
            followers.extend(page.data);
            match next {
                Some(next) if pages < MAX_PAGES && cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok((followers, pages)),
            }
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, HelixError> {
        self.get_as(path, query, Bearer::App).await
    }

    async fn get_as<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        bearer: Bearer<'_>,
    ) -> Result<T, HelixError> {
        let url = Url::parse(&format!("{}/{path}", self.api_base.as_str().trim_end_matches('/')))?;
        let mut retried = false;
        loop {
            self.wait_for_rate_limit().await;
            let token = match bearer {
                Bearer::App => self.app_token().await?,
                Bearer::User(token) => token.clone(),
            };
            let response = self
                .auth
                .http()
                .get(url.clone())
                .query(query)
                .header("Client-Id", self.auth.client_id())
                .bearer_auth(token.expose_secret())
                .send()
                .await?;
            self.record_rate_limit(response.headers());
            let status = response.status();
            // 401: the app token was revoked or expired early; 429: the bucket
            // ran dry under us. Either way one more try, after a fresh token
            // or the reset, is worth it.
            // A user token is the token manager's to refresh: a 401 for it is
            // an answer (scope missing, token expired), not worth a retry.
            let app = matches!(bearer, Bearer::App);
            let retry_401 = app && status == reqwest::StatusCode::UNAUTHORIZED;
            if !retried && (retry_401 || status == reqwest::StatusCode::TOO_MANY_REQUESTS) {
                retried = true;
                if status == reqwest::StatusCode::UNAUTHORIZED {
                    tracing::debug!("Helix refused the app token; getting a fresh one");
                    self.forget_app_token(&token).await;
                }
                continue;
            }
            if !status.is_success() {
                let body: TwitchErrorResponse = response.json().await.unwrap_or_default();
                return Err(HelixError::Status {
                    status: status.as_u16(),
                    message: body.to_string(),
                });
            }
            return Ok(response.json::<T>().await?);
        }
    }

    async fn app_token(&self) -> Result<SecretString, HelixError> {
        // A tokio mutex: concurrent callers wait for one client-credentials
        // call instead of each making their own.
        let mut cached = self.app_token.lock().await;
        if let Some(app) = cached.as_ref()
            && Instant::now() < app.renew_at
        {
            return Ok(app.token.clone());
        }
        let issued = self.auth.client_credentials().await?;
        let lifetime = issued.expires_in.unwrap_or(DEFAULT_APP_TOKEN_LIFETIME);
        let token = issued.access_token;
        *cached = Some(AppToken {
            token: token.clone(),
            renew_at: renew_at(Instant::now(), lifetime),
        });
        Ok(token)
    }

    async fn forget_app_token(&self, rejected: &SecretString) {
        let mut cached = self.app_token.lock().await;
        // Only drop it if nobody replaced it meanwhile.
        if cached
            .as_ref()
            .is_some_and(|app| app.token.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    fn record_rate_limit(&self, headers: &reqwest::header::HeaderMap) {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let remaining = number("Ratelimit-Remaining");
        let reset = number("Ratelimit-Reset");
        if let Ok(mut limit) = self.rate_limit.lock() {
            limit.empty_until = match (remaining, reset) {
                (Some(0), Some(reset)) => Some(reset),
                _ => None,
            };
        }
    }

    async fn wait_for_rate_limit(&self) {
        // Read, not taken: every caller waits until the reset, and the next
        // response's headers say whether the bucket refilled.
        let until = self.rate_limit.lock().ok().and_then(|limit| limit.empty_until);
        if let Some(reset) = until {
            let now = unix_now();
            if reset > now {
                let wait = Duration::from_secs(reset - now).min(MAX_RATE_LIMIT_WAIT);
                tracing::info!(?wait, "Helix rate limit reached; waiting for the reset");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// When an app token issued at `now` for `lifetime` is renewed: a minute
/// early, after at most [`MAX_APP_TOKEN_REUSE`]; never panics.
fn renew_at(now: Instant, lifetime: Duration) -> Instant {
    let reuse = lifetime.saturating_sub(EXPIRY_MARGIN).min(MAX_APP_TOKEN_REUSE);
    now.checked_add(reuse).unwrap_or(now)
}

impl LiveStatus for HelixClient {
    fn is_live<'a>(&'a self, broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, LiveAnswer> {
        Box::pin(async move {
            let Some(id) = broadcaster_user_id else {
                return LiveAnswer::Unknown("the broadcaster's Twitch user id is not known yet".to_owned());
            };
            match self.stream_is_live(id).await {
                Ok(true) => LiveAnswer::Live,
                Ok(false) => LiveAnswer::Offline,
                Err(e) => {
                    tracing::warn!(broadcaster_user_id = id, error = %e, "could not ask Helix whether the stream is live");
                    LiveAnswer::Unknown(format!("live status unknown: {e}"))
                }
            }
        })
    }
}

#[cfg(test)]
mod arithmetic_tests {
    use super::*;

    #[test]
    fn a_huge_app_token_lifetime_neither_panics_nor_keeps_the_token_for_ever() {
        let now = Instant::now();
        for lifetime in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1 << 62),
        ] {
            assert_eq!(renew_at(now, lifetime), now + MAX_APP_TOKEN_REUSE);
        }
        assert_eq!(
            renew_at(now, Duration::from_secs(3600)),
            now + Duration::from_secs(3540)
        );
        assert_eq!(
            renew_at(now, Duration::from_secs(5)),
            now,
            "shorter than the margin: renew at once"
        );
    }
}
