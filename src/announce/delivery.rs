//! The delivery worker: sends queued announcements from the outbox (SPEC §6).
//!
//! It owns no state of its own beyond the rate-limit pause of its
//! [`WebhookClient`]: everything is in the `outbox` table, so queued
//! announcements survive restarts and several instances can share one
//! database.
//!
//! # Claiming: a committed lease
//!
//! [`Store::claim_due_announcement`] takes the oldest due pending row in one statement
//! (`FOR UPDATE SKIP LOCKED` inside, so concurrent claimers take different
//! rows) and sets its `claimed_until` to now + [`DeliveryConfig::claim_lease`],
//! committing at once. The worker then posts without holding a lock or a
//! connection, and records the outcome, retrying that write with backoff
//! (`RECORD_RETRY`) if the database is briefly unreachable. Other workers
//! and instances skip the row until the outcome is recorded or the lease
//! expires.
//!
//! So a lost database connection after Discord accepted a message does not
//! make the row due again: the announcement is not sent twice. Only a worker
//! that dies between claiming and recording (crash, `kill -9`) leaves its
//! lease to expire, after which the row is due again; if Discord had already
//! accepted it, it is sent a second time: no webhook offers an idempotency
//! key to rule that out. The lease is longer than one POST plus the time
//! allowed for recording.

//! # Outcomes
//!
//! * 2xx: `sent`, with Discord's message id and the time.
//! * 429: rescheduled after `retry_after`; not counted as a failure.
//! * 5xx, network errors: rescheduled with exponential backoff and jitter
//!   ([`POST_BACKOFF`]: 1 s doubling up to 300 s, each wait jittered into
//!   its upper half), counted in `attempts`, `last_error` set; the worker
//!   itself pauses as long before trying any other row. The same backoff
//!   paces the worker while the database itself fails.
//! * Other 4xx: `failed` with the status and Discord's reason, logged.
//!
//! # Through the bot: posts that cannot repeat
//!
//! With `DISCORD_BOT_TOKEN` and `DISCORD_CHANNEL_ID` the rows are posted
//! with Create Message instead ([`Destination::BotChannel`]), with the same
//! embeds, claims, leases and answers, plus `nonce` = the outbox row id and
//! `enforce_nonce: true`. That closes the window above: a row posted by a
//! worker that died before recording it is posted again with the same
//! nonce, and Discord answers with the message it created the first time
//! (as long as the retry comes within Discord's nonce window, a few
//! minutes; the lease is shorter).
//!
//! Without `DISCORD_WEBHOOK_URL` each announcement is printed as one line
//! (`render_stdout_line`) and marked sent.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::announcement::{Announcement, DeliveryFailure, discord_rejection_error};
use super::discord::{DeliveryError, WebhookClient};
use super::render::{link_embed, render_channel_message_body, render_stdout_line, render_webhook_body};
use crate::channel::ChannelLanguages;
use crate::clock::{self, Clock};
use crate::config::Settings;
use crate::metrics::DeliveryResult;
use crate::retry::{self, Jitter, RetryPolicy};
use crate::store::{self, ClaimedAnnouncement, Store};

/// Backoff after a failed post (5xx, network) and while the database
/// fails: 1 s, doubling up to 300 s, each wait jittered into its upper half
/// so that instances retrying the same outage spread out. The production
/// values of [`DeliveryConfig::base_backoff`] and [`DeliveryConfig::max_backoff`].
pub const POST_BACKOFF: RetryPolicy =
    RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(300)).with_jitter(Jitter::UpperHalf);

/// Recording a delivery's outcome through a database hiccup: 200 ms,
/// doubling up to 3.2 s, for as long as the claim lease allows
/// ([`RECORD_WITHIN`] of it).
pub(crate) const RECORD_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(200), Duration::from_millis(3200));

/// The share of the claim lease within which an outcome must be recorded:
/// after that the row could become due again while we still write it.
const RECORD_WITHIN: f64 = 0.9;

/// Timing of the worker. Production uses [`DeliveryConfig::default`]; tests
/// pass small values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Backoff after the first failure; doubles with each further failure
    /// (jittered as [`POST_BACKOFF`] is).
    pub base_backoff: Duration,
    /// Cap on the backoff.
    pub max_backoff: Duration,
    /// How often to look for due rows when not woken: rows queued by other
    /// instances are only seen this way.
    pub poll_interval: Duration,
    /// How long a claimed row stays away from other workers: more than one
    /// webhook request plus the time spent recording its outcome.
    pub claim_lease: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            base_backoff: POST_BACKOFF.first(),
            max_backoff: POST_BACKOFF.cap(),
            poll_interval: Duration::from_secs(1),
            claim_lease: CLAIM_LEASE,
        }
    }
}

/// Default [`DeliveryConfig::claim_lease`]: the webhook request timeout plus
/// time to record the outcome through a database hiccup.
pub(crate) const CLAIM_LEASE: Duration = Duration::from_secs(super::discord::DEFAULT_REQUEST_TIMEOUT.as_secs() + 45);

impl DeliveryConfig {
    /// [`POST_BACKOFF`] with this config's base and cap.
    fn backoff_policy(&self) -> RetryPolicy {
        RetryPolicy::exponential(self.base_backoff, self.max_backoff).with_jitter(Jitter::UpperHalf)
    }

    /// The wait after the `failures`-th consecutive failure (1-based):
    /// `base_backoff × 2^(failures-1)`, capped at `max_backoff`, then
    /// jittered uniformly into its upper half.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        self.backoff_policy().delay_after(failures)
    }
}

/// Where announcements go.
pub enum Destination {
    /// A Discord webhook.
    Webhook(WebhookClient),
    /// A Discord channel, through the bot (Create Message with a nonce).
    BotChannel(WebhookClient),
    /// One plain line per announcement to a writer: standard output when no
    /// webhook is configured (see `Destination::stdout`).
    Lines(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook(client) => f.debug_tuple("Webhook").field(client).finish(),
            Self::BotChannel(client) => f.debug_tuple("BotChannel").field(client).finish(),
            Self::Lines(_) => f.write_str("Lines"),
        }
    }
}

impl Destination {
    /// Lines on standard output.
    pub(crate) fn stdout() -> Self {
        Self::Lines(Arc::new(Mutex::new(std::io::stdout())))
    }

    /// The bot's `DISCORD_CHANNEL_ID` when set, else the webhook of
    /// `DISCORD_WEBHOOK_URL`, else standard output.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self, DeliveryError> {
        if let Some(bot) = &settings.discord_bot
            && let Some(channel_id) = bot.channel_id
        {
            return Ok(Self::BotChannel(WebhookClient::bot_channel(
                &bot.api_url,
                channel_id,
                bot.token.clone(),
            )?));
        }
        match &settings.discord_webhook_url {
            Some(url) => Ok(Self::Webhook(WebhookClient::new(url)?)),
            None => Ok(Self::stdout()),
        }
    }

    /// The Discord client, if this destination is on Discord.
    fn discord(&self) -> Option<&WebhookClient> {
        match self {
            Self::Webhook(client) | Self::BotChannel(client) => Some(client),
            Self::Lines(_) => None,
        }
    }
}

/// Wakes the delivery worker when a row was queued. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryNotifier(Arc<Notify>);

impl DeliveryNotifier {
    /// A notifier waking whoever waits on `notify`.
    pub(crate) fn from_notify(notify: Arc<Notify>) -> Self {
        Self(notify)
    }

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
    /// What the outcome's recording deadline is read on.
    clock: Clock,
    /// The language each announcement is written in, by its channel.
    languages: ChannelLanguages,
    /// `PUBLIC_URL` without a trailing slash: a raffle's embed links to its
    /// public page there (`None`: no link).
    public_url: Option<String>,
}

/// What to write for one claimed row.
#[derive(Debug, Clone)]
enum Outcome {
    Sent {
        id: i64,
        message_id: Option<String>,
    },
    Failed {
        id: i64,
        failure: DeliveryFailure,
        reason: String,
    },
    Reschedule {
        id: i64,
        delay: Duration,
        error: String,
        count_attempt: bool,
    },
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
            clock: Clock::system(),
            languages: ChannelLanguages::default(),
            public_url: None,
        }
    }

    /// Links each raffle's embed to its public page under `public_url`
    /// (`PUBLIC_URL/raffles/{id}`).
    #[must_use]
    pub fn with_public_url(mut self, public_url: &url::Url) -> Self {
        self.public_url = Some(public_url.as_str().trim_end_matches('/').to_owned());
        self
    }

    /// Writes each announcement in its channel's language (English for
    /// every channel without this).
    #[must_use]
    pub fn with_languages(mut self, languages: ChannelLanguages) -> Self {
        self.languages = languages;
        self
    }

    /// A handle the raffle engine uses to wake this worker after queueing.
    pub fn notifier(&self) -> DeliveryNotifier {
        DeliveryNotifier(Arc::clone(&self.wake))
    }

    /// Sends due rows until `shutdown` fires. A send in progress when it
    /// fires is finished and recorded first; rows still pending stay queued
    /// for the next start. A database error that cannot pass ends it,
    /// logged (see [`DeliveryWorker::serve`]).
    pub async fn run(self, shutdown: CancellationToken) {
        if let Err(e) = self.serve(&shutdown).await {
            tracing::error!(error = %e, cause = ?e, "delivery worker stopped by a database error");
        }
    }

    /// [`DeliveryWorker::run`] for the supervisor: transient database
    /// errors are waited out with backoff here, but one that fails the same
    /// way every time (a missing table, a refused privilege, a row this
    /// build cannot read) ends the run with that error, so the supervisor
    /// restarts the worker and, if it keeps failing, stops the process.
    ///
    /// # Errors
    ///
    /// The permanent database error.
    pub(crate) async fn serve(&self, shutdown: &CancellationToken) -> Result<(), store::Error> {
        tracing::info!(destination = ?self.destination, "delivery worker started");
        let mut store_failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            // While Discord asks us to wait, claim nothing: a claimed row
            // would hold its lock and a connection for the whole wait.
            if let Some(client) = self.destination.discord()
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
                Err(e) if e.is_permanent() => return Err(e),
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
        Ok(())
    }

    /// How long to wait when nothing could be claimed: until the next
    /// pending row is due, at most one poll interval.
    async fn idle_pause(&self) -> Duration {
        match self.store.next_announcement_due_in().await {
            Ok(Some(due_in)) if !due_in.is_zero() => due_in.min(self.config.poll_interval),
            // A row due now that could not be claimed is being sent by
            // another worker: polling it in a tight loop would only load the
            // database, so wait a poll interval (or a wake-up).
            Ok(_) | Err(_) => self.config.poll_interval,
        }
    }

    /// Claims, sends and records one due row; `None` when nothing is due.
    async fn deliver_next(&self) -> Result<Option<Step>, store::Error> {
        let record_by = clock::after(self.clock.now(), self.config.claim_lease.mul_f64(RECORD_WITHIN));
        // No connection is held while posting.
        let Some(row) = self.store.claim_due_announcement(self.config.claim_lease).await? else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "delivery",
            outbox_id = row.id,
            raffle_id = row.raffle_id,
            attempt = row.attempts.saturating_add(1),
        );
        let (step, outcome) = self.deliver(row).instrument(span.clone()).await;
        // Record before the lease runs out, retrying through database errors:
        // once Discord accepted the message, the row must not become due again.
        let recorded = RECORD_RETRY
            .retry(&self.clock)
            .before(record_by)
            .run(
                || self.record(&outcome),
                retry::any_error,
                |e, next| {
                    tracing::warn!(error = %e, retry_in = ?next.delay, "could not record the delivery outcome yet; retrying");
                },
            )
            .instrument(span.clone())
            .await;
        if let Err(e) = recorded {
            let e = e.into_error();
            let _entered = span.enter();
            tracing::error!(error = %e, ?step, "could not record the delivery outcome; the row is retried when its claim expires");
            return Err(e);
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

    /// Writes an outcome (each write takes a fresh pooled connection).
    async fn record(&self, outcome: &Outcome) -> Result<(), store::Error> {
        match outcome {
            Outcome::Sent { id, message_id } => self.store.mark_sent(*id, message_id.as_deref()).await,
            Outcome::Failed { id, failure, reason } => self.store.mark_failed(*id, *failure, reason).await,
            Outcome::Reschedule {
                id,
                delay,
                error,
                count_attempt,
            } => self.store.reschedule(*id, *delay, error, *count_attempt).await,
        }
    }

    /// Sends one claimed row; returns what happened and what to record.
    async fn deliver(&self, row: ClaimedAnnouncement) -> (Step, Outcome) {
        let announcement = match row.announcement {
            Ok(announcement) => announcement,
            Err(e) => {
                // Retrying cannot fix a payload this build cannot read.
                let reason = format!("unreadable announcement: {e}");
                tracing::error!(error = %reason, "announcement failed");
                return (
                    Step::Failed,
                    Outcome::Failed {
                        id: row.id,
                        failure: DeliveryFailure::Rejected,
                        reason,
                    },
                );
            }
        };
        match self.send(&announcement, row.id).await {
            Ok(message_id) => {
                tracing::info!(discord_message_id = message_id.as_deref(), "announcement sent");
                (Step::Sent, Outcome::Sent { id: row.id, message_id })
            }
            Err(SendError::Discord(DeliveryError::RateLimited { retry_after })) => {
                let error = format!("rate limited by Discord; retrying after {retry_after:?}");
                tracing::info!(?retry_after, "rate limited; waiting");
                (
                    Step::RateLimited,
                    Outcome::Reschedule {
                        id: row.id,
                        delay: retry_after,
                        error,
                        count_attempt: false,
                    },
                )
            }
            Err(SendError::Discord(DeliveryError::Rejected { status, reason })) => {
                let error = discord_rejection_error(status, &reason);
                tracing::error!(%status, %reason, "announcement failed; Discord rejected it");
                (
                    Step::Failed,
                    Outcome::Failed {
                        id: row.id,
                        failure: DeliveryFailure::of_discord_status(status.as_u16()),
                        reason: error,
                    },
                )
            }
            Err(e) => {
                // 5xx, network, printing: transient as far as we can tell.
                let failures = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
                let delay = self.config.backoff(failures);
                tracing::warn!(error = %e, cause = ?e, retry_in = ?delay, "announcement not sent; will retry");
                (
                    Step::Retrying(delay),
                    Outcome::Reschedule {
                        id: row.id,
                        delay,
                        error: e.to_string(),
                        count_attempt: true,
                    },
                )
            }
        }
    }

    /// Links the embed of a raffle's announcement to its public page.
    fn link(&self, announcement: &Announcement, body: &mut serde_json::Value) {
        if let (Some(public_url), Some(raffle_id)) = (&self.public_url, announcement.raffle_id()) {
            link_embed(body, &crate::announce::chat_line::raffle_url(public_url, raffle_id));
        }
    }

    /// Sends one announcement (outbox row `outbox_id`); returns Discord's
    /// message id, if any.
    async fn send(&self, announcement: &Announcement, outbox_id: i64) -> Result<Option<String>, SendError> {
        let language = self.languages.language_for(announcement.channel_login());
        match &self.destination {
            Destination::Webhook(client) => {
                let mut body = render_webhook_body(announcement, language);
                self.link(announcement, &mut body);
                Ok(client.send(&body).await?.id)
            }
            Destination::BotChannel(client) => {
                let mut body = render_channel_message_body(announcement, language, outbox_id);
                self.link(announcement, &mut body);
                Ok(client.send(&body).await?.id)
            }
            Destination::Lines(writer) => {
                let line = render_stdout_line(announcement, language);
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
            claim_lease: CLAIM_LEASE,
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
        assert_eq!(config.backoff_policy(), POST_BACKOFF);
    }

    #[test]
    fn recording_retries_double_from_200_ms_to_3_2_s() {
        let delays: Vec<u128> = RECORD_RETRY.delays().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 3200, 3200]);
    }
}
