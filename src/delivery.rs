//! The delivery worker: sends queued announcements from the outbox (SPEC §6).
//!
//! It owns no state of its own beyond the rate-limit pause of its
//! [`WebhookClient`]: everything is in the `outbox` table, so queued
//! announcements survive restarts and several instances can share one
//! database.
//!
//! # Claiming: the row lock is the claim
//!
//! Each row is handled in one transaction: [`outbox::claim_due`] locks the
//! oldest due pending row with `FOR UPDATE SKIP LOCKED`, the worker posts it,
//! records the outcome, and commits. Other workers skip the locked row, so no
//! two workers ever send it concurrently. If the worker dies between claiming
//! and committing (crash, `kill -9`, task aborted), its connection closes or
//! the transaction is rolled back, the lock goes with it, and the row is due
//! again at once: there is no lease to expire. The price is one pooled
//! connection held for the duration of one POST, which the HTTP timeouts
//! bound. (An `idle_in_transaction_session_timeout` shorter than the request
//! timeout would break this and must not be configured.)
//!
//! Delivery is at least once, as with any outbox: if Discord accepts a
//! message and the commit is then lost, the row is sent again. This window
//! is as short as one commit.
//!
//! # Outcomes
//!
//! * 2xx: `sent`, with Discord's message id and the time.
//! * 429: rescheduled after `retry_after`; not counted as a failure.
//! * 5xx, network errors: rescheduled with exponential backoff and jitter
//!   ([`DeliveryConfig::backoff`]), counted in `attempts`, `last_error` set;
//!   the worker itself pauses as long before trying any other row.
//! * Other 4xx: `failed` with the status and Discord's reason, logged.
//!
//! Without `DISCORD_WEBHOOK_URL` each announcement is printed as one line
//! ([`render_stdout_line`]) and marked sent.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::config::Settings;
use crate::discord::{DeliveryError, WebhookClient};
use crate::domain::announcement::{Announcement, render_stdout_line, render_webhook_body};
use crate::metrics::DeliveryResult;
use crate::store::{self, Store, outbox};

/// Timing of the worker. Production uses [`DeliveryConfig::default`]; tests
/// pass small values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Backoff after the first failure; doubles with each further failure.
    pub base_backoff: Duration,
    /// Cap on the backoff.
    pub max_backoff: Duration,
    /// How often to look for due rows when not woken: rows queued by other
    /// instances are only seen this way.
    pub poll_interval: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl DeliveryConfig {
    /// The wait after the `failures`-th consecutive failure (1-based):
    /// `base_backoff × 2^(failures-1)`, capped at `max_backoff`, then
    /// jittered uniformly into its upper half so that instances retrying
    /// the same outage spread out while the wait still grows.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let full = self
            .base_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        let half = full / 2;
        let jitter = rand::rng().random_range(0.0..=1.0);
        half + half.mul_f64(jitter)
    }
}

/// Where announcements go.
pub enum Destination {
    /// A Discord webhook.
    Webhook(WebhookClient),
    /// One plain line per announcement to a writer: standard output when no
    /// webhook is configured (see [`Destination::stdout`]).
    Lines(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook(client) => f.debug_tuple("Webhook").field(client).finish(),
            Self::Lines(_) => f.write_str("Lines"),
        }
    }
}

impl Destination {
    /// Lines on standard output.
    pub fn stdout() -> Self {
        Self::Lines(Arc::new(Mutex::new(std::io::stdout())))
    }

    /// The webhook of `DISCORD_WEBHOOK_URL`, or standard output when unset.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn from_settings(settings: &Settings) -> Result<Self, DeliveryError> {
        match &settings.discord_webhook_url {
            Some(url) => Ok(Self::Webhook(WebhookClient::new(url)?)),
            None => Ok(Self::stdout()),
        }
    }
}

/// Wakes the delivery worker when a row was queued. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryNotifier(Arc<Notify>);

impl DeliveryNotifier {
    /// Asks the worker to look for due rows now. Call it after the
    /// transaction that queued the row has committed. A wake-up sent while
    /// the worker is busy is kept, so it is never lost.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Sends due outbox rows until shutdown.
#[derive(Debug)]
pub struct DeliveryWorker {
    store: Store,
    destination: Destination,
    config: DeliveryConfig,
    wake: Arc<Notify>,
}

/// What happened to one claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Sent,
    /// Rate limited; the client holds back the next send by itself.
    RateLimited,
    /// A transient failure; the row is due again after this backoff.
    Retrying(Duration),
    Failed,
}

/// Why printing or posting failed.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Discord(#[from] DeliveryError),
    #[error("could not print the announcement: {0}")]
    Print(#[from] std::io::Error),
}

impl DeliveryWorker {
    /// A worker sending the rows of `store` to `destination`.
    pub fn new(store: Store, destination: Destination, config: DeliveryConfig) -> Self {
        Self {
            store,
            destination,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// A handle the raffle engine uses to wake this worker after queueing.
    pub fn notifier(&self) -> DeliveryNotifier {
        DeliveryNotifier(Arc::clone(&self.wake))
    }

    /// Sends due rows until `shutdown` fires. A send in progress when it
    /// fires is finished and recorded first; rows still pending stay queued
    /// for the next start.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(destination = ?self.destination, "delivery worker started");
        let mut store_failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // While Discord asks us to wait, claim nothing: a claimed row
            // would hold its lock and a connection for the whole wait.
            if let Destination::Webhook(client) = &self.destination
                && let Some(wait) = client.ready_in()
            {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            let pause = match self.deliver_next().await {
                Ok(Some(Step::Retrying(backoff))) => {
                    // Discord (or stdout) is failing: back off as a whole
                    // rather than trying every other queued row against it
                    // at once. A wake-up does not cut this short.
                    store_failures = 0;
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    continue;
                }
                Ok(Some(Step::Sent | Step::RateLimited | Step::Failed)) => {
                    // More rows may be due: go straight on.
                    store_failures = 0;
                    continue;
                }
                Ok(None) => {
                    store_failures = 0;
                    self.idle_pause().await
                }
                Err(e) => {
                    store_failures = store_failures.saturating_add(1);
                    let pause = self.config.backoff(store_failures);
                    tracing::warn!(error = %e, cause = ?e, retry_in = ?pause, "delivery worker: database error");
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("delivery worker stopped");
    }

    /// How long to wait when nothing could be claimed: until the next
    /// pending row is due, at most one poll interval.
    async fn idle_pause(&self) -> Duration {
        let next = async {
            let client = self.store.pool().get().await?;
            outbox::next_due_in(&client).await
        };
        match next.await {
            Ok(Some(due_in)) if !due_in.is_zero() => due_in.min(self.config.poll_interval),
            // A row due now that could not be claimed is being sent by
            // another worker: polling it in a tight loop would only load the
            // database, so wait a poll interval (or a wake-up).
            Ok(_) | Err(_) => self.config.poll_interval,
        }
    }

    /// Claims, sends and records one due row; `None` when nothing is due.
    async fn deliver_next(&self) -> Result<Option<Step>, store::Error> {
        let mut client = self.store.pool().get().await?;
        let tx = client.transaction().await?;
        let Some(row) = outbox::claim_due(&tx).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let span = tracing::info_span!(
            "delivery",
            outbox_id = row.id,
            raffle_id = row.raffle_id,
            attempt = row.attempts.saturating_add(1),
        );
        let step = self.deliver(&tx, row).instrument(span.clone()).await?;
        if let Err(e) = tx.commit().await {
            // The row is pending again: if it was sent, it will be sent twice.
            let _entered = span.enter();
            tracing::error!(error = %e, ?step, "could not record the delivery outcome; the row will be retried");
            return Err(e.into());
        }
        // Counted once recorded, so the metric agrees with the outbox table.
        crate::metrics::delivery_attempted(match step {
            Step::Sent => DeliveryResult::Sent,
            Step::RateLimited => DeliveryResult::RateLimited,
            Step::Retrying(_) => DeliveryResult::Retry,
            Step::Failed => DeliveryResult::Failed,
        });
        Ok(Some(step))
    }

    async fn deliver(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        row: outbox::ClaimedRow,
    ) -> Result<Step, store::Error> {
        let announcement: Announcement = match serde_json::from_value(row.payload) {
            Ok(announcement) => announcement,
            Err(e) => {
                // Retrying cannot fix a payload this build cannot read.
                let reason = format!("unreadable announcement: {e}");
                tracing::error!(error = %reason, "announcement failed");
                outbox::mark_failed(tx, row.id, &reason).await?;
                return Ok(Step::Failed);
            }
        };
        match self.send(&announcement).await {
            Ok(message_id) => {
                outbox::mark_sent(tx, row.id, message_id.as_deref()).await?;
                tracing::info!(discord_message_id = message_id.as_deref(), "announcement sent");
                Ok(Step::Sent)
            }
            Err(SendError::Discord(DeliveryError::RateLimited { retry_after })) => {
                let error = format!("rate limited by Discord; retrying after {retry_after:?}");
                outbox::reschedule(tx, row.id, retry_after, &error, false).await?;
                tracing::info!(?retry_after, "rate limited; waiting");
                Ok(Step::RateLimited)
            }
            Err(SendError::Discord(DeliveryError::Rejected { status, reason })) => {
                let error = format!("Discord rejected the message: {status}: {reason}");
                outbox::mark_failed(tx, row.id, &error).await?;
                tracing::error!(%status, %reason, "announcement failed; Discord rejected it");
                Ok(Step::Failed)
            }
            Err(e) => {
                // 5xx, network, printing: transient as far as we can tell.
                let failures = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
                let delay = self.config.backoff(failures);
                let error = e.to_string();
                outbox::reschedule(tx, row.id, delay, &error, true).await?;
                tracing::warn!(error = %e, cause = ?e, retry_in = ?delay, "announcement not sent; will retry");
                Ok(Step::Retrying(delay))
            }
        }
    }

    /// Sends one announcement; returns Discord's message id, if any.
    async fn send(&self, announcement: &Announcement) -> Result<Option<String>, SendError> {
        match &self.destination {
            Destination::Webhook(client) => {
                let body = render_webhook_body(announcement);
                Ok(client.send(&body).await?.id)
            }
            Destination::Lines(writer) => {
                let line = render_stdout_line(announcement);
                // A std mutex: held only for one short write, never across an await.
                let mut out = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                writeln!(out, "{line}")?;
                out.flush()?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let config = DeliveryConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
        };
        for failures in 1..=40 {
            let full = Duration::from_secs(1u64 << (failures - 1).min(20)).min(config.max_backoff);
            for _ in 0..20 {
                let wait = config.backoff(failures);
                assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?} vs {full:?}");
            }
        }
        assert!(config.backoff(u32::MAX) <= config.max_backoff);
    }

    #[test]
    fn production_defaults_match_the_documented_policy() {
        let config = DeliveryConfig::default();
        assert_eq!(config.base_backoff, Duration::from_secs(1));
        assert_eq!(config.max_backoff, Duration::from_secs(300));
        assert_eq!(config.poll_interval, Duration::from_secs(1));
    }
}
