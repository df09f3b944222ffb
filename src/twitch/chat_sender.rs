//! Speaking in chat (SPEC §11): Helix `POST /chat/messages` as the bot
//! account connected at `GET /auth/twitch/bot`.
//!
//! [`BotSpeaker`] holds the bot's decrypted access token in memory, loads
//! it from `bot_account` on first use, refreshes it shortly before it
//! expires or when Helix answers 401 (storing the rotated refresh token),
//! and validates it at least hourly as Twitch requires. A refused refresh
//! marks the account `needs_reauth`: the bot is silent until connected again.
//!
//! Twitch's answers become a typed [`SpeakError`] the chat worker branches
//! on: 429 (wait until `Ratelimit-Reset`), 5xx and network errors (back
//! off), other 4xx (set the line aside with Twitch's reason), and
//! `is_sent: false` (set aside with its `drop_reason`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use url::Url;

use super::auth::manager::after;
use super::auth::token_cipher::{BOT_TOKEN_OWNER, TokenCipher, TokenKind};
use super::auth::{AuthError, TwitchAuth, TwitchErrorResponse};
use crate::store::{self, Store};

/// The access token is refreshed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Twitch asks apps to validate user tokens hourly.
const VALIDATE_EVERY: Duration = Duration::from_secs(3600);
/// Longest wait Twitch's `Ratelimit-Reset` may ask for.
const MAX_RESET_WAIT: Duration = Duration::from_secs(60);
/// Timeout of one Send Chat Message request.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a line was not said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeakError {
    /// No bot account is connected (or it needs re-authorisation).
    #[error("no bot account can speak (connect one at /auth/twitch/bot)")]
    NoBot,
    /// Twitch's chat rate limit: wait this long.
    #[error("Twitch's chat rate limit; retry in {retry_in:?}")]
    RateLimited {
        /// Until `Ratelimit-Reset`.
        retry_in: Duration,
    },
    /// 5xx, a network error or a token refresh that may pass.
    #[error("sending failed for now: {0}")]
    Transient(String),
    /// Twitch refused the request (4xx other than 429): retrying cannot help.
    #[error("Twitch refused the message: HTTP {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Twitch's message.
        message: String,
    },
    /// Twitch accepted the request but did not show the message.
    #[error("Twitch dropped the message: {code}: {message}")]
    Dropped {
        /// `drop_reason.code`.
        code: String,
        /// `drop_reason.message`.
        message: String,
    },
}

#[derive(Serialize)]
struct SendBody<'a> {
    broadcaster_id: &'a str,
    sender_id: &'a str,
    message: &'a str,
}

#[derive(Deserialize)]
struct SendAnswer {
    data: Vec<SentData>,
}

#[derive(Deserialize)]
struct DropReason {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct SentData {
    #[serde(default)]
    message_id: String,
    is_sent: bool,
    #[serde(default)]
    drop_reason: Option<DropReason>,
}

/// The bot's identity and token as used for sending.
#[derive(Clone)]
struct Session {
    user_id: String,
    login: String,
    access_token: SecretString,
    expires_at: DateTime<Utc>,
    validated_at: Option<DateTime<Utc>>,
}

/// Who the bot speaks as, for the worker's rate decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    /// The bot account's Twitch user id.
    pub user_id: String,
    /// Its login.
    pub login: String,
}

/// Sends chat lines as the bot account. Cheap to share behind an `Arc`.
pub struct BotSpeaker {
    store: Store,
    auth: TwitchAuth,
    cipher: TokenCipher,
    api_base: Url,
    /// A tokio mutex: one refresh at a time; held across the refresh call.
    session: Mutex<Option<Session>>,
}

impl fmt::Debug for BotSpeaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotSpeaker")
            .field("api_base", &self.api_base.as_str())
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How long until `Ratelimit-Reset` (a Unix time), at least a second, at
/// most [`MAX_RESET_WAIT`].
fn reset_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let reset = headers
        .get("Ratelimit-Reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let seconds = reset.map_or(1, |reset| reset.saturating_sub(unix_now()).max(1));
    Duration::from_secs(seconds).min(MAX_RESET_WAIT)
}

impl BotSpeaker {
    /// A speaker over the stored bot account, calling Helix at `api_base`.
    pub fn new(store: Store, auth: TwitchAuth, cipher: TokenCipher, api_base: Url) -> Self {
        Self {
            store,
            auth,
            cipher,
            api_base,
            session: Mutex::new(None),
        }
    }

    /// Who speaks now, or `None` without a usable bot account.
    ///
    /// # Errors
    ///
    /// As [`Self::say`] while loading or refreshing the token.
    pub async fn speaker(&self) -> Result<Option<Speaker>, SpeakError> {
        match self.session(false).await {
            Ok(session) => Ok(Some(Speaker {
                user_id: session.user_id,
                login: session.login,
            })),
            Err(SpeakError::NoBot) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Says `message` in the chat of the broadcaster `broadcaster_id`;
    /// returns Twitch's message id.
    ///
    /// # Errors
    ///
    /// [`SpeakError`]: what the worker does next depends on the variant.
    pub async fn say(&self, broadcaster_id: &str, message: &str) -> Result<String, SpeakError> {
        let mut refreshed = false;
        loop {
            let session = self.session(false).await?;
            let url = Url::parse(&format!(
                "{}/chat/messages",
                self.api_base.as_str().trim_end_matches('/')
            ))
            .map_err(|e| SpeakError::Rejected {
                status: 0,
                message: format!("TWITCH_API_URL: {e}"),
            })?;
            let response = self
                .auth
                .http()
                .post(url)
                .timeout(SEND_TIMEOUT)
                .header("Client-Id", self.auth.client_id())
                .bearer_auth(session.access_token.expose_secret())
                .json(&SendBody {
                    broadcaster_id,
                    sender_id: &session.user_id,
                    message,
                })
                .send()
                .await
                .map_err(|e| SpeakError::Transient(format!("Helix unreachable: {}", without_url(&e))))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !refreshed {
                // Revoked or expired early: one refresh, then once more.
                refreshed = true;
                self.session(true).await?;
                continue;
            }
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(SpeakError::RateLimited {
                    retry_in: reset_wait(response.headers()),
                });
            }
            if status.is_server_error() {
                return Err(SpeakError::Transient(format!("Helix answered HTTP {status}")));
            }
            if !status.is_success() {
                let body: TwitchErrorResponse = response.json().await.unwrap_or_default();
                return Err(SpeakError::Rejected {
                    status: status.as_u16(),
                    message: body.to_string(),
                });
            }
            let answer: SendAnswer = response
                .json()
                .await
                .map_err(|e| SpeakError::Transient(format!("unexpected answer: {}", without_url(&e))))?;
            let Some(sent) = answer.data.into_iter().next() else {
                return Err(SpeakError::Transient("Helix answered no data".into()));
            };
            if !sent.is_sent {
                let reason = sent.drop_reason.unwrap_or(DropReason {
                    code: "unknown".into(),
                    message: String::new(),
                });
                return Err(SpeakError::Dropped {
                    code: crate::text::clean_line(&reason.code, 100),
                    message: crate::text::clean_line(&reason.message, 300),
                });
            }
            return Ok(crate::text::clean_line(&sent.message_id, 100));
        }
    }

    /// The current session: loaded from the store when not cached,
    /// refreshed when `force` or close to expiry, validated hourly.
    async fn session(&self, force: bool) -> Result<Session, SpeakError> {
        let mut cached = self.session.lock().await;
        let now = Utc::now();
        let session = match cached.take() {
            Some(session) => session,
            None => self.load().await?,
        };
        let stale = after(session.expires_at, Duration::ZERO) <= after(now, REFRESH_MARGIN);
        let session = if force || stale {
            self.refresh(&session).await?
        } else if session.validated_at.is_none_or(|at| after(at, VALIDATE_EVERY) <= now) {
            match self.auth.validate(&session.access_token).await {
                Ok(_) => {
                    if let Err(e) = self.store.mark_bot_validated(&session.user_id, now).await {
                        tracing::debug!(error = %e, "could not record the bot token's validation");
                    }
                    Session {
                        validated_at: Some(now),
                        ..session
                    }
                }
                Err(AuthError::TokenInvalid) => self.refresh(&session).await?,
                Err(e) => {
                    tracing::debug!(error = %e, "could not validate the bot token; using it anyway");
                    session
                }
            }
        } else {
            session
        };
        *cached = Some(session.clone());
        Ok(session)
    }

    async fn load(&self) -> Result<Session, SpeakError> {
        let row = self.store.bot_account().await.map_err(store_failed)?;
        let Some(row) = row.filter(|row| !row.needs_reauth) else {
            return Err(SpeakError::NoBot);
        };
        let access_token = self
            .cipher
            .decrypt(BOT_TOKEN_OWNER, TokenKind::Access, &row.access_token)
            .map_err(|e| {
                tracing::error!(error = %e, "the bot's stored token cannot be decrypted; connect the bot again");
                SpeakError::NoBot
            })?;
        Ok(Session {
            user_id: row.twitch_user_id,
            login: row.login,
            access_token,
            expires_at: row.expires_at,
            validated_at: row.last_validated_at,
        })
    }

    async fn refresh(&self, session: &Session) -> Result<Session, SpeakError> {
        // The stored row is the truth: another instance may have rotated it.
        let row = self
            .store
            .bot_account()
            .await
            .map_err(store_failed)?
            .filter(|row| row.twitch_user_id == session.user_id && !row.needs_reauth)
            .ok_or(SpeakError::NoBot)?;
        let refresh_token = self
            .cipher
            .decrypt(BOT_TOKEN_OWNER, TokenKind::Refresh, &row.refresh_token)
            .map_err(|_| SpeakError::NoBot)?;
        match self.auth.refresh(&refresh_token).await {
            Ok(tokens) => {
                let now = Utc::now();
                let expires_at = after(now, tokens.expires_in.unwrap_or(Duration::from_secs(3600)));
                let rotated = tokens.refresh_token.unwrap_or(refresh_token);
                let access = self
                    .cipher
                    .encrypt(BOT_TOKEN_OWNER, TokenKind::Access, &tokens.access_token)
                    .map_err(|e| SpeakError::Transient(e.to_string()))?;
                let refresh = self
                    .cipher
                    .encrypt(BOT_TOKEN_OWNER, TokenKind::Refresh, &rotated)
                    .map_err(|e| SpeakError::Transient(e.to_string()))?;
                self.store
                    .update_bot_tokens(&session.user_id, &access, &refresh, expires_at, None)
                    .await
                    .map_err(store_failed)?;
                tracing::info!(bot = %session.login, "bot token refreshed");
                Ok(Session {
                    access_token: tokens.access_token,
                    expires_at,
                    ..session.clone()
                })
            }
            Err(AuthError::RefreshRefused(reason)) => {
                if self
                    .store
                    .flag_bot_needs_reauth(&session.user_id)
                    .await
                    .unwrap_or(false)
                {
                    tracing::error!(bot = %session.login, %reason, "Twitch refused the bot's refresh token: the bot is silent until it is connected again at /auth/twitch/bot");
                }
                Err(SpeakError::NoBot)
            }
            Err(e) => Err(SpeakError::Transient(e.to_string())),
        }
    }
}

fn store_failed(error: store::Error) -> SpeakError {
    SpeakError::Transient(format!("database: {error}"))
}

/// A reqwest error's message without its URL (the URL is ours, but keep
/// log lines short and free of anything query-like).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "Helix");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_header_gives_the_wait_within_bounds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(reset_wait(&headers), Duration::from_secs(1));
        headers.insert("Ratelimit-Reset", (unix_now() + 5).into());
        let wait = reset_wait(&headers);
        assert!(
            wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5),
            "{wait:?}"
        );
        headers.insert("Ratelimit-Reset", (unix_now() + 100_000).into());
        assert_eq!(reset_wait(&headers), MAX_RESET_WAIT);
        headers.insert("Ratelimit-Reset", 3.into());
        assert_eq!(reset_wait(&headers), Duration::from_secs(1));
    }

    #[test]
    fn a_dropped_answer_parses_with_its_reason() {
        let answer: SendAnswer = serde_json::from_str(
            r#"{"data":[{"message_id":"","is_sent":false,"drop_reason":{"code":"msg_duplicate","message":"dup"}}]}"#,
        )
        .unwrap_or(SendAnswer { data: Vec::new() });
        let sent = answer.data.first();
        assert_eq!(sent.map(|s| s.is_sent), Some(false));
        assert_eq!(
            sent.and_then(|s| s.drop_reason.as_ref()).map(|r| r.code.as_str()),
            Some("msg_duplicate")
        );
    }
}
