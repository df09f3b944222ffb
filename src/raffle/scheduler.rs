//! The raffle timers: one per served channel, aligned to slot boundaries,
//! started and stopped as channels join and leave the [`ChannelSet`]; and the
//! handler for `!raffle` chat commands.
//!
//! Slots and their retries are reckoned on the [`Clock`] the scheduler is
//! given (the system clock in production, a driven one in timer tests).
//!
//! Shutdown: timers stop waiting at once, but a round already running is
//! finished (it is one transaction, and cutting it short would only roll it
//! back).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::command::{ChatCommand, DrawLimiter, MANUAL_DRAW_INTERVAL, REPLY_WINDOW, RaffleCommand, ReplyLimiter};
use super::record::{Outcome, Trigger};
use super::round::{RaffleEngine, RaffleError, RoundResult};
use super::slot::next_slot;
use crate::announce::chat_line::{Acknowledged, ChatMessage, PrizeLine, QueuedChatLine};
use crate::channel::{ChannelLogin, ChannelSet};
use crate::clock::{self, Clock};
use crate::retry::{self, RetryError, RetryPolicy};

/// A timer round that fails (the database is briefly away) is tried again
/// within its slot: after 250 ms, then 500 ms; three attempts at most, and
/// none that would start after the slot has ended.
pub const ROUND_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(250), Duration::from_secs(1)).with_max_attempts(3);

/// Recording a channel's row before its timer starts is retried every 5 s
/// until it succeeds or the timer is stopped.
pub const CHANNEL_ROW_RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_secs(5));

/// Runs a timer per served channel.
#[derive(Debug)]
pub struct RaffleScheduler {
    engine: RaffleEngine,
    channels: ChannelSet,
    interval: Duration,
    clock: Clock,
}

impl RaffleScheduler {
    /// A scheduler for `channels` firing every `interval` (`RAFFLE_INTERVAL`)
    /// at the slot boundaries of `clock`.
    pub fn new(engine: RaffleEngine, channels: ChannelSet, interval: Duration, clock: Clock) -> Self {
        Self {
            engine,
            channels,
            interval,
            clock,
        }
    }

    /// Runs until `shutdown`, then waits for rounds in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.channels.subscribe();
        let tracker = TaskTracker::new();
        let mut timers: HashMap<ChannelLogin, CancellationToken> = HashMap::new();
        loop {
            let wanted = changes.borrow_and_update().clone();
            timers.retain(|login, token| {
                let keep = wanted.contains(login);
                if !keep {
                    tracing::info!(channel = %login, "raffle timer stopped");
                    token.cancel();
                }
                keep
            });
            for login in wanted {
                if timers.contains_key(&login) {
                    continue;
                }
                let token = shutdown.child_token();
                timers.insert(login.clone(), token.clone());
                let timer = ChannelTimer {
                    engine: self.engine.clone(),
                    login,
                    interval: self.interval,
                    clock: self.clock.clone(),
                };
                tracker.spawn(timer.run(token));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = changes.changed() => if changed.is_err() { break },
            }
        }
        tracker.close();
        tracker.wait().await;
    }
}

/// The next timer slot for this interval and when it starts, from the
/// system clock now. (The dashboard's; the timers read their own [`Clock`].)
pub(crate) fn upcoming_slot(interval: Duration) -> (i64, SystemTime) {
    let (slot, _) = next_slot(Clock::system().unix_millis(), interval);
    (slot.get(), clock::from_unix_millis(slot.start_millis(interval)))
}

/// One channel's timer.
struct ChannelTimer {
    engine: RaffleEngine,
    login: ChannelLogin,
    interval: Duration,
    clock: Clock,
}

impl ChannelTimer {
    #[tracing::instrument(skip_all, fields(channel = %self.login))]
    async fn run(self, stop: CancellationToken) {
        // The channel row must exist before rounds can be recorded for it.
        let recorded = CHANNEL_ROW_RETRY
            .retry(&self.clock)
            .stop_on(&stop)
            .run(
                || self.engine.store().ensure_channel(&self.login),
                retry::any_error,
                |e, _| tracing::warn!(error = %e, "cannot record the channel yet; retrying"),
            )
            .await;
        if recorded.is_err() {
            // Stopped (the policy itself never gives up).
            return;
        }
        tracing::info!(interval = ?self.interval, "raffle timer started");
        loop {
            let (slot, _) = next_slot(self.clock.unix_millis(), self.interval);
            let starts = slot.start_millis(self.interval);
            tokio::select! {
                _ = stop.cancelled() => return,
                () = self.clock.sleep_until(clock::from_unix_millis(starts)) => {}
            }
            // A failed round left nothing behind (one transaction): try again
            // while the slot lasts, so a database hiccup does not lose it. The
            // slot key makes a retry safe even if another instance drew it.
            let interval_ms = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
            let slot_ends = clock::from_unix_millis(starts.saturating_add(interval_ms));
            let round = ROUND_RETRY
                .retry(&self.clock)
                .before(slot_ends)
                .stop_on(&stop)
                .run(
                    || self.engine.run_round(&self.login, Trigger::Timer, Some(slot.get())),
                    |e: &RaffleError| !e.rejects_data(),
                    |e, next| {
                        tracing::warn!(
                            slot = slot.get(),
                            attempt = next.failed,
                            error = %e,
                            retry_in = ?next.delay,
                            "raffle round failed; retrying"
                        );
                    },
                )
                .await;
            match round {
                Ok(RoundResult::Recorded(_)) => {}
                Ok(RoundResult::AlreadyDrawn) => {
                    tracing::debug!(slot = slot.get(), "slot already drawn by another instance");
                }
                Ok(RoundResult::Paused) => tracing::debug!(slot = slot.get(), "paused; no raffle"),
                Err(RetryError::GaveUp { error, attempts }) if error.rejects_data() => {
                    crate::metrics::write_set_aside(crate::metrics::SetAside::Raffle);
                    tracing::error!(slot = slot.get(), attempts, error = %error, "the database refused the raffle round; slot skipped");
                }
                Err(RetryError::GaveUp { error, attempts }) => {
                    tracing::error!(slot = slot.get(), attempts, error = %error, cause = ?error, "raffle round failed; slot skipped");
                }
                Err(RetryError::Stopped { .. }) => return,
            }
            update_active_viewers_gauge(&self.engine, &self.login).await;
        }
    }
}

/// Keeps `kinoyubot_active_viewers` current for scrapes even when nobody
/// opens the dashboard (which updates it too).
async fn update_active_viewers_gauge(engine: &RaffleEngine, login: &ChannelLogin) {
    match engine.store().active_viewers(login, engine.rules().active_window).await {
        Ok(count) => crate::metrics::set_active_viewers(login.as_str(), u64::try_from(count).unwrap_or(0)),
        Err(e) => tracing::debug!(error = %e, "could not count active viewers for the metrics"),
    }
}

/// Acts on chat commands until `shutdown`. Draws honour `ONLY_WHEN_LIVE`
/// and are limited to one per channel per [`MANUAL_DRAW_INTERVAL`] of
/// `clock`. Each command is answered in chat through the outbox (when a bot
/// account can speak): control commands are acknowledged, `!raffle status`
/// gets the next raffle (timer `interval`), the active viewers and the
/// prizes, and `!odds` the asker's chance, at most one reply per viewer and
/// [`super::command::REPLIES_PER_CHANNEL`] per channel a minute.
pub async fn handle_chat_commands(
    engine: RaffleEngine,
    mut commands: mpsc::Receiver<ChatCommand>,
    clock: Clock,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut limiter = DrawLimiter::new(MANUAL_DRAW_INTERVAL);
    let mut replies = ReplyLimiter::new(REPLY_WINDOW);
    loop {
        let command = tokio::select! {
            _ = shutdown.cancelled() => return,
            command = commands.recv() => match command {
                Some(command) => command,
                None => return,
            },
        };
        if command.command == RaffleCommand::Now
            && let Err(wait) = limiter.try_draw(&command.channel, clock.unix_millis())
        {
            tracing::info!(
                channel = %command.channel,
                by = %command.requested_by,
                retry_in = ?wait,
                "!raffle now ignored: one draw per channel per {MANUAL_DRAW_INTERVAL:?}"
            );
            reply(
                &engine,
                &command.channel,
                ChatMessage::Ack {
                    requested_by: command.requested_by.clone(),
                    command: Acknowledged::DrawTooSoon,
                },
            )
            .await;
            continue;
        }
        if command.command == RaffleCommand::Odds
            && !replies.allow(&command.channel, &command.user_id, clock.unix_millis())
        {
            tracing::debug!(channel = %command.channel, by = %command.requested_by, "!odds not answered: reply limit");
            continue;
        }
        apply_chat_command(&engine, &command, &clock, interval).await;
    }
}

/// Queues a reply line for `channel` and wakes the chat worker; failures
/// are logged (a reply is not worth more).
async fn reply(engine: &RaffleEngine, channel: &ChannelLogin, message: ChatMessage) {
    let line = QueuedChatLine {
        channel_login: channel.as_str().to_owned(),
        message,
    };
    match engine.store().enqueue_chat_line(&line).await {
        Ok(true) => engine.wake_chat(),
        Ok(false) => tracing::debug!("no bot account can speak: reply not queued"),
        Err(e) => tracing::warn!(error = %e, "could not queue a chat reply"),
    }
}

#[tracing::instrument(skip_all, fields(channel = %command.channel, by = %command.requested_by))]
async fn apply_chat_command(engine: &RaffleEngine, command: &ChatCommand, clock: &Clock, interval: Duration) {
    let login = &command.channel;
    // The command was typed in a channel the bot reads, which may be so new
    // that neither its timer nor the presence tracker has recorded it yet.
    let channel = match engine.store().ensure_channel(login).await {
        Ok(channel) => channel,
        Err(e) => {
            tracing::error!(error = %e, "could not record the channel; command dropped");
            return;
        }
    };
    let ack = |acknowledged| ChatMessage::Ack {
        requested_by: command.requested_by.clone(),
        command: acknowledged,
    };
    match command.command {
        RaffleCommand::Now => match engine.run_round(login, Trigger::Chat, None).await {
            Ok(RoundResult::Recorded(record)) => {
                tracing::info!(raffle_id = record.id, outcome = %record.outcome, "!raffle now");
                let acknowledged = if record.outcome == Outcome::SkippedOffline {
                    Acknowledged::DrawOffline
                } else {
                    Acknowledged::DrawNow
                };
                reply(engine, login, ack(acknowledged)).await;
            }
            Ok(other) => tracing::info!(result = ?other, "!raffle now"),
            Err(e) => tracing::error!(error = %e, "!raffle now failed"),
        },
        RaffleCommand::Pause | RaffleCommand::Resume => {
            let paused = command.command == RaffleCommand::Pause;
            match engine.store().set_paused(login, paused).await {
                Ok(_) => {
                    tracing::info!(paused, "raffles paused/resumed from chat");
                    let acknowledged = if paused {
                        Acknowledged::Paused
                    } else {
                        Acknowledged::Resumed
                    };
                    reply(engine, login, ack(acknowledged)).await;
                }
                Err(e) => tracing::error!(error = %e, "could not pause/resume"),
            }
        }
        RaffleCommand::Status => {
            let rules = engine.rules();
            let (active, items) = match (
                engine.store().active_viewers(login, rules.active_window).await,
                engine.store().prize_table().await,
            ) {
                (Ok(active), Ok(items)) => (active, items),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "!raffle status: could not read the channel's state");
                    return;
                }
            };
            let (slot, _) = next_slot(clock.unix_millis(), interval);
            let next_at = clock::from_unix_millis(slot.start_millis(interval));
            let prizes = items
                .iter()
                .map(|item| PrizeLine {
                    name: item.name.clone(),
                    chance: if item.remaining_stock == Some(0) {
                        0.0
                    } else {
                        item.probability
                    },
                    stock: item.remaining_stock.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
                })
                .collect();
            let message = ChatMessage::Status {
                paused: channel.paused,
                next_raffle_at: Some(chrono::DateTime::<chrono::Utc>::from(next_at)),
                active_viewers: active,
                prizes,
            };
            reply(engine, login, message).await;
        }
        RaffleCommand::Odds => {
            let answer = match engine.odds(&channel, &command.user_id).await {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(error = %e, "!odds: could not compute the chance");
                    return;
                }
            };
            let message = ChatMessage::Odds {
                viewer_login: command.requested_by.clone(),
                answer,
            };
            reply(engine, login, message).await;
        }
    }
}
