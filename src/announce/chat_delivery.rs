//! The chat worker: says queued chat lines (`outbox.kind = 'twitch_chat'`)
//! in Twitch chat as the bot account (SPEC §11).
//!
//! It claims rows with the same committed lease as the Discord worker
//! (`super::delivery`; see that module for the at-least-once reasoning): a
//! row is claimed in one committed statement, said without holding a lock
//! or a connection, and its outcome recorded, retrying that write through a
//! database hiccup. So a line is said once per row as far as Twitch allows:
//! only a worker killed between Twitch accepting and the outcome being
//! recorded leaves its lease to expire and the line to be said again (Send
//! Chat Message has no idempotency key).
//!
//! # Rate limits
//!
//! Before each send the worker takes a place in the channel's window
//! (`super::chat_rate`): 20 lines per 30 s, or 100 when the bot account
//! is the broadcaster or a moderator there (learned from its badges in
//! chat, i.e. its presence row). A line without a free place is rescheduled
//! for when one frees, not counted as a failure, so a burst of wins is
//! spread out and every line is still said, later. A 429 from Twitch fills
//! the window until `Ratelimit-Reset` and reschedules the line.
//!
//! # Outcomes
//!
//! * Shown: `sent`, with Twitch's message id.
//! * 429: rescheduled after `Ratelimit-Reset`, not counted.
//! * 5xx, network errors: rescheduled with the Discord worker's backoff,
//!   counted in `attempts`.
//! * Other 4xx, and `is_sent: false`: `failed` with Twitch's reason (its
//!   `drop_reason` code and message).
//! * No bot account (never connected, disconnected, or its refresh token
//!   refused): the bot is silent; this is logged once, and a line already
//!   queued is set aside as failed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::announcement::DeliveryFailure;
use super::chat_line::{QueuedChatLine, render_chat_line};
use super::chat_rate::{self, ChatRateLimiter};
use super::delivery::{DeliveryConfig, DeliveryNotifier, RECORD_RETRY};
use crate::channel::{ChannelLanguages, ChannelLogin, ChannelSet};
use crate::clock::{self, Clock};
use crate::retry;
use crate::store::{self, ClaimedChatLine, Store};
use crate::twitch::chat_sender::{BotSpeaker, SpeakError, Speaker};

/// How long a learned moderator status is trusted before asking again.
const MODERATOR_TTL: Duration = Duration::from_secs(60);

/// Timing of the chat worker. Production uses [`ChatDeliveryConfig::default`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatDeliveryConfig {
    /// Backoff, poll interval and lease, as for Discord.
    pub delivery: DeliveryConfig,
    /// Twitch's rate-limit window (30 s; tests shorten it).
    pub rate_window: Duration,
    /// Lines per window for a plain sender (20).
    pub plain_limit: u32,
    /// Lines per window for the broadcaster or a moderator (100).
    pub moderator_limit: u32,
}

impl Default for ChatDeliveryConfig {
    fn default() -> Self {
        Self {
            delivery: DeliveryConfig {
                claim_lease: CHAT_CLAIM_LEASE,
                ..DeliveryConfig::default()
            },
            rate_window: chat_rate::WINDOW,
            plain_limit: chat_rate::PLAIN_LIMIT,
            moderator_limit: chat_rate::MODERATOR_LIMIT,
        }
    }
}

/// The lease of a claimed line: one send (with a token refresh) plus
/// recording its outcome.
const CHAT_CLAIM_LEASE: Duration = Duration::from_secs(60);

/// What a line is said in: the language of its channel and the public URL.
#[derive(Debug, Clone)]
pub struct ChatVoice {
    /// `PUBLIC_URL`, for links to raffle pages.
    pub public_url: String,
    /// The language of each channel (`LANGUAGE`, or the channel's own).
    pub languages: ChannelLanguages,
}

/// Says due chat lines until shutdown. Cheap to clone (the supervisor
/// builds a new run from a clone after a failure).
#[derive(Debug, Clone)]
pub struct ChatDeliveryWorker {
    store: Store,
    speaker: Arc<BotSpeaker>,
    voice: ChatVoice,
    config: ChatDeliveryConfig,
    wake: Arc<Notify>,
    clock: Clock,
    /// Only lines of these channels are said here (the instance holding a
    /// channel's lease keeps its rate window); `None`: every channel.
    served: Option<ChannelSet>,
}

/// What to record for one claimed line.
#[derive(Debug, Clone)]
enum Outcome {
    Sent {
        id: i64,
        message_id: String,
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

/// What happened to one claimed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Sent,
    /// Waiting for a place in the channel's window (ours or Twitch's).
    RateLimited,
    Retrying(Duration),
    Failed,
}

/// The rate state the worker keeps between lines.
#[derive(Debug)]
struct RateState {
    limiter: ChatRateLimiter,
    /// Per channel: whether the bot moderates there, and when that was learned.
    moderates: HashMap<String, (bool, std::time::SystemTime)>,
}

impl ChatDeliveryWorker {
    /// A worker saying the lines of `store` through `speaker`.
    pub fn new(store: Store, speaker: Arc<BotSpeaker>, voice: ChatVoice, config: ChatDeliveryConfig) -> Self {
        Self {
            store,
            speaker,
            voice,
            config,
            wake: Arc::new(Notify::new()),
            clock: Clock::system(),
            served: None,
        }
    }

    /// Replaces the timings and rate limits.
    #[must_use]
    pub fn with_config(mut self, config: ChatDeliveryConfig) -> Self {
        self.config = config;
        self
    }

    /// Reckons rate windows on `clock` (tests drive it).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Says only the lines of the channels in `served`.
    #[must_use]
    pub fn serving_only(mut self, served: ChannelSet) -> Self {
        self.served = Some(served);
        self
    }

    /// A handle that wakes this worker after a line was queued.
    pub fn notifier(&self) -> DeliveryNotifier {
        DeliveryNotifier::from_notify(Arc::clone(&self.wake))
    }

    /// Says due lines until `shutdown` fires; a send in progress is
    /// finished and recorded first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!("chat worker started");
        let mut rates = RateState {
            // A tenth longer than Twitch's: our clock stamps a send before
            // its request leaves and Twitch stamps it when it arrives, and a
            // line delayed on the way must not make 21 in Twitch's window.
            limiter: ChatRateLimiter::new(self.config.rate_window.saturating_add(self.config.rate_window / 10)),
            moderates: HashMap::new(),
        };
        let mut silent_logged = false;
        let mut store_failures = 0u32;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let speaker = match self.speaker.speaker().await {
                Ok(Some(speaker)) => {
                    silent_logged = false;
                    Some(speaker)
                }
                Ok(None) => {
                    if !silent_logged {
                        silent_logged = true;
                        tracing::warn!(
                            connect = %format!("{}/auth/twitch/bot", self.voice.public_url.trim_end_matches('/')),
                            "no bot account can speak in chat: the bot stays silent until one is connected"
                        );
                    }
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not get the bot account's token; retrying");
                    None
                }
            };
            let pause = match self.deliver_next(speaker.as_ref(), &mut rates).await {
                Ok(Some(Step::Retrying(backoff))) => {
                    store_failures = 0;
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    continue;
                }
                Ok(Some(Step::Sent | Step::RateLimited | Step::Failed)) => {
                    store_failures = 0;
                    continue;
                }
                Ok(None) => {
                    store_failures = 0;
                    self.idle_pause().await
                }
                Err(e) => {
                    store_failures = store_failures.saturating_add(1);
                    let pause = self.config.delivery.backoff(store_failures);
                    tracing::warn!(error = %e, cause = ?e, retry_in = ?pause, "chat worker: database error");
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!("chat worker stopped");
    }

    async fn idle_pause(&self) -> Duration {
        let poll = self.config.delivery.poll_interval;
        match self.store.next_chat_line_due_in().await {
            Ok(Some(due_in)) if !due_in.is_zero() => due_in.min(poll),
            Ok(_) | Err(_) => poll,
        }
    }

    /// Claims, says and records one due line; `None` when nothing is due.
    async fn deliver_next(
        &self,
        speaker: Option<&Speaker>,
        rates: &mut RateState,
    ) -> Result<Option<Step>, store::Error> {
        let lease = self.config.delivery.claim_lease;
        let record_by = clock::after(self.clock.now(), lease.mul_f64(0.9));
        let logins: Option<Vec<String>> = self
            .served
            .as_ref()
            .map(|served| served.current().iter().map(|login| login.as_str().to_owned()).collect());
        let Some(row) = self.store.claim_due_chat_line(lease, logins.as_deref()).await? else {
            return Ok(None);
        };
        let span = tracing::info_span!(
            "chat_line",
            outbox_id = row.id,
            raffle_id = row.raffle_id,
            attempt = row.attempts.saturating_add(1),
        );
        let (step, outcome) = self.deliver(row, speaker, rates).instrument(span.clone()).await;
        let recorded = RECORD_RETRY
            .retry(&self.clock)
            .before(record_by)
            .run(
                || self.record(&outcome),
                retry::any_error,
                |e, next| {
                    tracing::warn!(error = %e, retry_in = ?next.delay, "could not record the chat line's outcome yet; retrying");
                },
            )
            .instrument(span.clone())
            .await;
        if let Err(e) = recorded {
            let e = e.into_error();
            let _entered = span.enter();
            tracing::error!(error = %e, ?step, "could not record the chat line's outcome; it is retried when its claim expires");
            return Err(e);
        }
        Ok(Some(step))
    }

    async fn record(&self, outcome: &Outcome) -> Result<(), store::Error> {
        match outcome {
            Outcome::Sent { id, message_id } => self.store.mark_chat_sent(*id, message_id).await,
            Outcome::Failed { id, failure, reason } => self.store.mark_failed(*id, *failure, reason).await,
            Outcome::Reschedule {
                id,
                delay,
                error,
                count_attempt,
            } => self.store.reschedule(*id, *delay, error, *count_attempt).await,
        }
    }

    /// Whether the bot may send 100 lines per window in `channel`.
    async fn privileged(&self, speaker: &Speaker, channel: &str, broadcaster_id: &str, rates: &mut RateState) -> bool {
        if speaker.user_id == broadcaster_id {
            return true;
        }
        let now = self.clock.now();
        if let Some((moderates, at)) = rates.moderates.get(channel)
            && now.duration_since(*at).unwrap_or(Duration::ZERO) < MODERATOR_TTL
        {
            return *moderates;
        }
        let moderates = self
            .store
            .bot_moderates(channel, &speaker.user_id)
            .await
            .unwrap_or(false);
        rates.moderates.insert(channel.to_owned(), (moderates, now));
        moderates
    }

    async fn deliver(&self, row: ClaimedChatLine, speaker: Option<&Speaker>, rates: &mut RateState) -> (Step, Outcome) {
        let failed = |reason: String| {
            tracing::error!(error = %reason, "chat line set aside");
            (
                Step::Failed,
                Outcome::Failed {
                    id: row.id,
                    failure: DeliveryFailure::Rejected,
                    reason,
                },
            )
        };
        let line: QueuedChatLine = match row.line {
            Ok(line) => line,
            Err(e) => return failed(format!("unreadable chat line: {e}")),
        };
        let Some(speaker) = speaker else {
            return failed("no bot account can speak in chat".to_owned());
        };
        let channel = match ChannelLogin::parse(&line.channel_login) {
            Ok(channel) => channel,
            Err(e) => return failed(format!("bad channel login: {e}")),
        };
        let broadcaster_id = match self.store.find_channel(&channel).await {
            Ok(Some(record)) => record.twitch_user_id,
            Ok(None) => None,
            Err(e) => {
                let delay = self.config.delivery.backoff(1);
                return (
                    Step::Retrying(delay),
                    Outcome::Reschedule {
                        id: row.id,
                        delay,
                        error: format!("database: {e}"),
                        count_attempt: true,
                    },
                );
            }
        };
        let Some(broadcaster_id) = broadcaster_id else {
            return failed(format!("the Twitch id of channel {channel} is not known yet"));
        };
        let limit = if self.privileged(speaker, channel.as_str(), &broadcaster_id, rates).await {
            self.config.moderator_limit
        } else {
            self.config.plain_limit
        };
        if let Err(wait) = rates
            .limiter
            .try_take(channel.as_str(), limit, self.clock.unix_millis())
        {
            tracing::debug!(?wait, limit, "chat rate limit: line waits for a free place");
            return (
                Step::RateLimited,
                Outcome::Reschedule {
                    id: row.id,
                    delay: wait,
                    error: format!("waiting for Twitch's chat rate limit ({limit} lines per window)"),
                    count_attempt: false,
                },
            );
        }
        let language = self.voice.languages.language_for(channel.as_str());
        let text = render_chat_line(
            &line.message,
            language,
            &self.voice.public_url,
            chrono::DateTime::<Utc>::from(self.clock.now()),
        );
        match self.speaker.say(&broadcaster_id, &text).await {
            Ok(message_id) => {
                tracing::info!(twitch_message_id = %message_id, channel = %channel, "chat line said");
                (Step::Sent, Outcome::Sent { id: row.id, message_id })
            }
            Err(SpeakError::RateLimited { retry_in }) => {
                let until = self
                    .clock
                    .unix_millis()
                    .saturating_add(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX));
                rates.limiter.full_until(channel.as_str(), limit, until);
                tracing::info!(?retry_in, "Twitch's chat rate limit; waiting");
                (
                    Step::RateLimited,
                    Outcome::Reschedule {
                        id: row.id,
                        delay: retry_in,
                        error: format!("rate limited by Twitch; retrying after {retry_in:?}"),
                        count_attempt: false,
                    },
                )
            }
            Err(SpeakError::Transient(reason)) => {
                rates.limiter.give_back(channel.as_str());
                let failures = u32::try_from(row.attempts).unwrap_or(0).saturating_add(1);
                let delay = self.config.delivery.backoff(failures);
                tracing::warn!(error = %reason, retry_in = ?delay, "chat line not said; will retry");
                (
                    Step::Retrying(delay),
                    Outcome::Reschedule {
                        id: row.id,
                        delay,
                        error: reason,
                        count_attempt: true,
                    },
                )
            }
            Err(e @ (SpeakError::Rejected { .. } | SpeakError::Dropped { .. } | SpeakError::NoBot)) => {
                failed(e.to_string())
            }
        }
    }
}
