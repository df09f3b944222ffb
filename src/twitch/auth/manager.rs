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
//! # Durable rotation
//!
//! Twitch rotates the refresh token on every refresh, and the old one stops
//! working. So no refresh runs inside a database transaction: one whose
//! connection died after Twitch answered would lose the only working token.
//! Instead a refresh is *claimed* first, in a statement of its own that sets
//! a lease ([`REFRESH_LEASE`]) on the row, so two instances sharing a
//! database never refresh the same token; Twitch is called with no
//! connection held; the rotated tokens are written right away in another
//! statement of their own (which ends the claim), retried through lost
//! connections while the lease lasts and, if the database is still away,
//! kept in memory and written first next cycle. Until then the old refresh
//! token stays stored. A claim whose holder died lapses with its lease.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::token_cipher::{CipherError, TokenCipher, TokenKind};
use super::{AuthError, TwitchAuth};
use crate::announce::Announcement;
use crate::catalog::DiscordText;
use crate::channel::ChannelLanguages;
use crate::metrics::TokenRefreshResult;
use crate::retry::RetryPolicy;
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

/// How long a refresh claim lasts: well over the Twitch call's timeout and
/// the writes after it, so that no other instance refreshes the same token
/// while this one may still store what Twitch answered.
const REFRESH_LEASE: Duration = Duration::from_secs(60);
/// The rotated tokens' write is retried until this long before the claim
/// ends.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// Writing rotated tokens through a lost connection: 100 ms, doubling up to 5 s.
const ROTATION_WRITE_RETRY: RetryPolicy = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(5));

/// Refreshed tokens, encrypted, not yet stored.
struct Unsaved {
    claim: i64,
    /// The refresh token's ciphertext they were refreshed with.
    used: Vec<u8>,
    access_token: Vec<u8>,
    refresh_token: Vec<u8>,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
}

/// The token manager task.
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
    /// Refreshed tokens whose write failed, by channel id.
    unsaved: Mutex<HashMap<i64, Unsaved>>,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
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
            unsaved: Mutex::new(HashMap::new()),
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
        if let Err(e) = self.serve(&shutdown).await {
            tracing::error!(error = %e, cause = ?e, "token manager stopped by a database error");
        }
    }

    /// [`TokenManager::run`] for the supervisor: a cycle that fails in a way
    /// that may pass is tried again next cycle, but a database error that
    /// fails the same way every time ends the run with that error (the
    /// supervisor restarts it, and stops the process if it keeps failing).
    ///
    /// # Errors
    ///
    /// The permanent database error.
    pub(crate) async fn serve(&self, shutdown: &CancellationToken) -> Result<(), ManagerError> {
        loop {
            match self.run_cycle().await {
                Ok(report) if report != CycleReport::default() => {
                    tracing::debug!(?report, "token manager cycle");
                }
                Ok(_) => {}
                Err(ManagerError::Store(e)) if e.is_permanent() => return Err(ManagerError::Store(e)),
                Err(e) => tracing::warn!(error = %e, cause = ?e, "token manager cycle failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.check_every) => {}
            }
        }
        let unsaved = self.save_unsaved().await;
        if !unsaved.is_empty() {
            tracing::error!(
                channel_ids = ?unsaved,
                "stopping with refreshed tokens the database did not take; those streamers must connect again"
            );
        }
        tracing::debug!("token manager stopped");
        Ok(())
    }

    /// One pass over every stored token.
    ///
    /// # Errors
    ///
    /// When the rows cannot be listed; failures of single rows are logged
    /// and counted in [`CycleReport::failed`].
    pub async fn run_cycle(&self) -> Result<CycleReport, ManagerError> {
        let unsaved = self.save_unsaved().await;
        let rows = self.store.list_tokens().await?;
        let mut report = CycleReport::default();
        let served = self.served.as_ref().map(crate::channel::ChannelSet::current);
        for row in rows {
            if let Some(served) = &served
                && !served.iter().any(|login| login.as_str() == row.login)
            {
                continue;
            }
            if unsaved.contains(&row.channel_id) {
                // Its newest tokens are only in memory: refreshing with the
                // stored (rotated away) one would fail.
                report.failed += 1;
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
        let Some(row) = self.store.tokens_by_id(channel_id).await? else {
            return Ok(Outcome::Untouched);
        };
        if row.needs_reauth {
            return Ok(Outcome::Untouched);
        }
        let access = match self.cipher.decrypt(channel_id, TokenKind::Access, &row.access_token) {
            Ok(access) => access,
            Err(e) => return self.unusable(channel_id, &e).await,
        };
        let now = Utc::now();
        let remaining = (row.expires_at - now).to_std().unwrap_or(Duration::ZERO);
        if remaining < self.config.refresh_ahead {
            return self.refresh(&row).await;
        }
        let validation_due = row
            .last_validated_at
            .is_none_or(|at| (now - at).to_std().unwrap_or(Duration::ZERO) >= self.config.validate_every);
        if !validation_due {
            return Ok(Outcome::Untouched);
        }
        // `/validate` changes nothing at Twitch: no claim, no transaction.
        match self.auth.validate(&access).await {
            Ok(validation) => {
                let expires_at = after(now, Duration::from_secs(validation.expires_in));
                self.store
                    .mark_tokens_validated(channel_id, &row.access_token, now, expires_at)
                    .await?;
                // A token that is valid but about to expire is refreshed now, not next cycle.
                if Duration::from_secs(validation.expires_in) < self.config.refresh_ahead {
                    self.refresh(&row).await
                } else {
                    Ok(Outcome::Validated)
                }
            }
            Err(AuthError::TokenInvalid) => {
                tracing::info!(channel = %row.login, "access token no longer valid; refreshing");
                self.refresh(&row).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stored tokens that cannot be decrypted (another `TOKEN_KEY`): the
    /// streamer must connect again.
    async fn unusable(&self, channel_id: i64, error: &CipherError) -> Result<Outcome, ManagerError> {
        let mut connection = self.store.connection().await?;
        let transaction = connection.begin_tokens().await?;
        let Some(row) = transaction.lock(channel_id).await? else {
            return Ok(Outcome::Untouched);
        };
        tracing::error!(channel = %row.login, error = %error, "stored tokens are unusable");
        let outcome = self.flag_needs_reauth(&transaction, &row, &error.to_string()).await?;
        transaction.commit().await?;
        Ok(outcome)
    }

    /// Refreshes durably (module doc, "Durable rotation"): claim, call
    /// Twitch with no transaction open, write the rotated tokens at once.
    async fn refresh(&self, seen: &StoredTokens) -> Result<Outcome, ManagerError> {
        let channel_id = seen.channel_id;
        let claim: i64 = rand::random();
        let claimed_at = SystemTime::now();
        let Some(row) = self.store.claim_token_refresh(channel_id, claim, REFRESH_LEASE).await? else {
            // Another instance is refreshing it right now (or it lapsed meanwhile).
            return Ok(Outcome::Untouched);
        };
        let refresh_token = match self.cipher.decrypt(channel_id, TokenKind::Refresh, &row.refresh_token) {
            Ok(token) => token,
            Err(e) => {
                self.release(channel_id, claim).await;
                return self.unusable(channel_id, &e).await;
            }
        };
        let tokens = match self.auth.refresh(&refresh_token).await {
            Ok(tokens) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Ok);
                tokens
            }
            Err(AuthError::RefreshRefused(reason)) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Refused);
                return self.refused(&row, claim, &reason).await;
            }
            Err(e) => {
                crate::metrics::token_refreshed(TokenRefreshResult::Error);
                self.release(channel_id, claim).await;
                return Err(e.into());
            }
        };
        // Twitch may rotate the refresh token; keep the old one only if it did not send one.
        let new_refresh = tokens.refresh_token.as_ref().unwrap_or(&refresh_token);
        let scopes = if tokens.scopes.is_empty() {
            row.scopes.clone()
        } else {
            tokens.scopes.clone()
        };
        let unsaved = Unsaved {
            claim,
            used: row.refresh_token.clone(),
            access_token: self
                .cipher
                .encrypt(channel_id, TokenKind::Access, &tokens.access_token)?,
            refresh_token: self.cipher.encrypt(channel_id, TokenKind::Refresh, new_refresh)?,
            scopes,
            expires_at: after(Utc::now(), tokens.expires_in.unwrap_or(FALLBACK_LIFETIME)),
        };
        // Through lost connections and restarts of the database, while the
        // claim lasts; then kept in memory and written first next cycle.
        let write_by = crate::clock::after(claimed_at, REFRESH_LEASE.saturating_sub(LEASE_MARGIN));
        let clock = crate::clock::Clock::system();
        let written = ROTATION_WRITE_RETRY
            .retry(&clock)
            .before(write_by)
            .run(
                || self.save(channel_id, &unsaved),
                // Any failure to reach or use the database may pass meanwhile.
                |e: &store::Error| !e.rejects_data(),
                |e, next| {
                    tracing::warn!(channel = %row.login, error = %e, retry_in = ?next.delay, "could not store the refreshed token yet; retrying");
                },
            )
            .await;
        match written {
            Ok(()) => {
                tracing::info!(channel = %row.login, "token refreshed");
                Ok(Outcome::Refreshed)
            }
            Err(e) => {
                let e = e.into_error();
                tracing::error!(
                    channel = %row.login,
                    error = %e,
                    "could not store the refreshed token; kept in memory and written next cycle"
                );
                self.unsaved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(channel_id, unsaved);
                Err(e.into())
            }
        }
    }

    /// Writes refreshed tokens (and ends their claim).
    async fn save(&self, channel_id: i64, unsaved: &Unsaved) -> Result<(), store::Error> {
        let stored = self
            .store
            .store_refreshed_tokens(
                channel_id,
                unsaved.claim,
                &unsaved.used,
                NewTokens {
                    access_token: &unsaved.access_token,
                    refresh_token: &unsaved.refresh_token,
                    scopes: &unsaved.scopes,
                    expires_at: unsaved.expires_at,
                    validated_at: None,
                },
            )
            .await?;
        if !stored {
            tracing::info!(
                channel_id,
                "tokens were replaced or removed meanwhile; the refreshed ones are not needed"
            );
        }
        Ok(())
    }

    /// Writes the refreshed tokens an earlier cycle could not store; the
    /// channels still unsaved afterwards.
    async fn save_unsaved(&self) -> Vec<i64> {
        let pending: Vec<(i64, Unsaved)> = self
            .unsaved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        let mut still = Vec::new();
        for (channel_id, unsaved) in pending {
            match self.save(channel_id, &unsaved).await {
                Ok(()) => tracing::info!(channel_id, "refreshed token stored after all"),
                Err(e) => {
                    tracing::warn!(channel_id, error = %e, "still cannot store the refreshed token");
                    still.push(channel_id);
                    self.unsaved
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(channel_id, unsaved);
                }
            }
        }
        still
    }

    /// Twitch refused the refresh token of `row`: flag the channel, unless
    /// the claim lapsed and the tokens changed meanwhile.
    async fn refused(&self, row: &StoredTokens, claim: i64, reason: &str) -> Result<Outcome, ManagerError> {
        let mut connection = self.store.connection().await?;
        let transaction = connection.begin_tokens().await?;
        let outcome = match transaction.lock_claimed(row.channel_id, claim).await? {
            Some(current) if current.refresh_token == row.refresh_token => {
                tracing::warn!(channel = %row.login, %reason, "refresh refused; the streamer must reconnect");
                let outcome = self.flag_needs_reauth(&transaction, &current, reason).await?;
                transaction.release_claim(row.channel_id, claim).await?;
                outcome
            }
            _ => {
                tracing::info!(channel = %row.login, "refresh refused, but the tokens changed meanwhile");
                Outcome::Untouched
            }
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    /// Ends a claim after a failure that may pass; if even that fails, the
    /// lease lapses by itself.
    async fn release(&self, channel_id: i64, claim: i64) {
        if let Err(e) = self.store.release_token_refresh(channel_id, claim).await {
            tracing::debug!(channel_id, error = %e, "could not end the refresh claim; it lapses by itself");
        }
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
