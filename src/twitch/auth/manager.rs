//! The token manager: keeps every connected streamer's tokens usable.
//!
//! Twitch requires apps to validate user tokens hourly, and access tokens
//! expire after a few hours. Each cycle, per stored token row:
//!
//! - expiring within `refresh_ahead` → refresh (and store the rotated
//!   refresh token Twitch returns);
//! - not validated within `validate_every` → `/validate`; a 401 → refresh;
//! - a refresh Twitch refuses → `needs_reauth` is set and one Discord
//!   notice is queued, in one transaction with the flag's false→true
//!   transition, so later cycles (and other instances) never notice twice.
//!   Rows flagged `needs_reauth` are left alone until the streamer reconnects.
//!
//! Each row is handled inside a transaction that holds its lock
//! (`FOR UPDATE SKIP LOCKED`), so two instances sharing a database never
//! refresh the same token at once (a rotated refresh token would be lost).

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::token_cipher::{CipherError, TokenCipher, TokenKind};
use super::{AuthError, TwitchAuth};
use crate::announce::Announcement;
use crate::catalog::DiscordText;
use crate::channel::ChannelLanguages;
use crate::metrics::TokenRefreshResult;
use crate::store::{self, NewTokens, Store, StoredTokens, TokenTransaction};

/// Timings of the manager. Production uses [`TokenManagerConfig::default`];
/// tests pass small values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenManagerConfig {
    /// Time between cycles.
    pub check_every: Duration,
    /// A token is validated when its last validation is older than this
    /// (Twitch requires at least hourly).
    pub validate_every: Duration,
    /// A token is refreshed when it expires within this.
    pub refresh_ahead: Duration,
}

impl Default for TokenManagerConfig {
    fn default() -> Self {
        Self {
            check_every: Duration::from_secs(60),
            validate_every: Duration::from_secs(3600),
            refresh_ahead: Duration::from_secs(600),
        }
    }
}

/// Assumed lifetime of a refreshed token when Twitch does not say; the next
/// cycle validates it (its `last_validated_at` is left empty) and learns the truth.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(3600);

/// What one cycle did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CycleReport {
    /// Tokens validated successfully.
    pub validated: usize,
    /// Tokens refreshed.
    pub refreshed: usize,
    /// Channels newly flagged `needs_reauth` (one notice each).
    pub newly_needs_reauth: usize,
    /// Rows left alone (fresh, already flagged, or locked by another instance).
    pub untouched: usize,
    /// Rows whose handling failed in a way that may pass; retried next cycle.
    pub failed: usize,
}

/// Why handling a row failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Twitch failed in a way that may pass.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A token could not be encrypted.
    #[error(transparent)]
    Cipher(#[from] CipherError),
}

enum Outcome {
    Validated,
    Refreshed,
    NewlyNeedsReauth,
    Untouched,
}

/// The token manager task.
#[derive(Debug)]
pub struct TokenManager {
    store: Store,
    auth: TwitchAuth,
    cipher: TokenCipher,
    config: TokenManagerConfig,
    reconnect_url: String,
    /// Only these channels' tokens are looked after, when set: the ones
    /// this instance leases (SPEC §15). `None`: every stored token.
    served: Option<crate::channel::ChannelSet>,
    /// The language of each channel's notice.
    languages: ChannelLanguages,
}

impl TokenManager {
    /// A manager over `store`'s tokens; `reconnect_url` (`PUBLIC_URL/auth/twitch`)
    /// goes into the re-authorisation notice.
    pub fn new(
        store: Store,
        auth: TwitchAuth,
        cipher: TokenCipher,
        config: TokenManagerConfig,
        reconnect_url: String,
    ) -> Self {
        Self {
            store,
            auth,
            cipher,
            config,
            reconnect_url,
            served: None,
            languages: ChannelLanguages::default(),
        }
    }

    /// Looks after only the tokens of the channels in `served` (those this
    /// instance holds a lease on); other instances look after theirs.
    #[must_use]
    pub(crate) fn serving_only(mut self, served: crate::channel::ChannelSet) -> Self {
        self.served = Some(served);
        self
    }

    /// Writes each notice in its channel's language (English without this).
    #[must_use]
    pub fn with_languages(mut self, languages: ChannelLanguages) -> Self {
        self.languages = languages;
        self
    }

    /// Runs a cycle now and then every `check_every` until `shutdown`. A cycle
    /// in progress is finished first: dropping it halfway could lose a
    /// refresh token Twitch already rotated.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.run_cycle().await {
                Ok(report) if report != CycleReport::default() => {
                    tracing::debug!(?report, "token manager cycle");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, cause = ?e, "token manager cycle failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.check_every) => {}
            }
        }
        tracing::debug!("token manager stopped");
    }

    /// One pass over every stored token.
    ///
    /// # Errors
    ///
    /// When the rows cannot be listed; failures of single rows are logged
    /// and counted in [`CycleReport::failed`].
    pub async fn run_cycle(&self) -> Result<CycleReport, ManagerError> {
        let rows = self.store.list_tokens().await?;
        let mut report = CycleReport::default();
        let served = self.served.as_ref().map(crate::channel::ChannelSet::current);
        for row in rows {
            if let Some(served) = &served
                && !served.iter().any(|login| login.as_str() == row.login)
            {
                continue;
            }
            if row.needs_reauth {
                report.untouched += 1;
                continue;
            }
            match self.check_channel(row.channel_id).await {
                Ok(Outcome::Validated) => report.validated += 1,
                Ok(Outcome::Refreshed) => report.refreshed += 1,
                Ok(Outcome::NewlyNeedsReauth) => report.newly_needs_reauth += 1,
                Ok(Outcome::Untouched) => report.untouched += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(channel = %row.login, error = %e, cause = ?e, "token check failed; will retry");
                }
            }
        }
        Ok(report)
    }

    #[tracing::instrument(skip_all, fields(channel_id))]
    async fn check_channel(&self, channel_id: i64) -> Result<Outcome, ManagerError> {
        let mut connection = self.store.connection().await?;
        let transaction = connection.begin_tokens().await?;
        let Some(row) = transaction.lock(channel_id).await? else {
            return Ok(Outcome::Untouched);
        };
        if row.needs_reauth {
            return Ok(Outcome::Untouched);
        }
        let decrypted = self
            .cipher
            .decrypt(channel_id, TokenKind::Access, &row.access_token)
            .and_then(|access| {
                self.cipher
                    .decrypt(channel_id, TokenKind::Refresh, &row.refresh_token)
                    .map(|refresh| (access, refresh))
            });
        let (access, refresh) = match decrypted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(channel = %row.login, error = %e, "stored tokens are unusable");
                let outcome = self.flag_needs_reauth(&transaction, &row, &e.to_string()).await?;
                transaction.commit().await?;
                return Ok(outcome);
            }
        };
        let now = Utc::now();
        let remaining = (row.expires_at - now).to_std().unwrap_or(Duration::ZERO);
        let outcome = if remaining < self.config.refresh_ahead {
            self.refresh(&transaction, &row, &refresh, now).await?
        } else if row
            .last_validated_at
            .is_none_or(|at| (now - at).to_std().unwrap_or(Duration::ZERO) >= self.config.validate_every)
        {
            match self.auth.validate(&access).await {
                Ok(validation) => {
                    let expires_at = after(now, Duration::from_secs(validation.expires_in));
                    transaction.mark_validated(channel_id, now, expires_at).await?;
                    // A token that is valid but about to expire is refreshed now, not next cycle.
                    if Duration::from_secs(validation.expires_in) < self.config.refresh_ahead {
                        self.refresh(&transaction, &row, &refresh, now).await?
                    } else {
                        Outcome::Validated
                    }
                }
                Err(AuthError::TokenInvalid) => {
                    tracing::info!(channel = %row.login, "access token no longer valid; refreshing");
                    self.refresh(&transaction, &row, &refresh, now).await?
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            Outcome::Untouched
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    async fn refresh(
        &self,
        db: &TokenTransaction<'_>,
        row: &StoredTokens,
        refresh_token: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<Outcome, ManagerError> {
        let tokens = match self.auth.refresh(refresh_token).await {
            Ok(tokens) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Ok);
                tokens
            }
            Err(AuthError::RefreshRefused(reason)) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Refused);
                tracing::warn!(channel = %row.login, %reason, "refresh refused; the streamer must reconnect");
                return self.flag_needs_reauth(db, row, &reason).await;
            }
            Err(e) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Error);
                return Err(e.into());
            }
        };
        // Twitch may rotate the refresh token; keep the old one only if it did not send one.
        let new_refresh = tokens.refresh_token.as_ref().unwrap_or(refresh_token);
        let access = self
            .cipher
            .encrypt(row.channel_id, TokenKind::Access, &tokens.access_token)?;
        let refresh = self.cipher.encrypt(row.channel_id, TokenKind::Refresh, new_refresh)?;
        let scopes = if tokens.scopes.is_empty() {
            row.scopes.clone()
        } else {
            tokens.scopes.clone()
        };
        let expires_at = after(now, tokens.expires_in.unwrap_or(FALLBACK_LIFETIME));
        db.store(
            row.channel_id,
            NewTokens {
                access_token: &access,
                refresh_token: &refresh,
                scopes: &scopes,
                expires_at,
                validated_at: None,
            },
        )
        .await?;
        tracing::info!(channel = %row.login, "token refreshed");
        Ok(Outcome::Refreshed)
    }

    async fn flag_needs_reauth(
        &self,
        db: &TokenTransaction<'_>,
        row: &StoredTokens,
        reason: &str,
    ) -> Result<Outcome, ManagerError> {
        let notice = Announcement::Notice {
            channel_login: row.login.clone(),
            message: self
                .languages
                .language_for(&row.login)
                .say(&DiscordText::NeedsReconnect {
                    channel: &row.login,
                    reason,
                    reconnect_url: &self.reconnect_url,
                }),
        };
        Ok(if db.flag_needs_reauth(row.channel_id, &notice).await? {
            Outcome::NewlyNeedsReauth
        } else {
            Outcome::Untouched
        })
    }
}

/// `now + duration`, without panicking on absurd lifetimes from the network
/// (capped at a year, which the next validation corrects anyway).
pub(crate) fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    let capped = duration.min(Duration::from_secs(365 * 24 * 3600));
    chrono::TimeDelta::from_std(capped)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .unwrap_or(now)
}
