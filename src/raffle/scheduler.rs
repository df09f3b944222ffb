//! The raffle timers: one per served channel, aligned to slot boundaries,
//! started and stopped as channels join and leave the [`ChannelSet`]; and the
//! handler for `!raffle` chat commands.
//!
//! Slots and their retries are reckoned on the [`Clock`] the scheduler is
//! given (the system clock in production, a driven one in timer tests).
//!
//! Each channel follows its own `RAFFLE_INTERVAL` (SPEC §13): a timer reads
//! the channel's effective interval before planning each slot, and a change
//! made on this instance wakes it to plan again, so the new interval counts
//! from the next slot. (Another instance's change is seen at the next slot.)
//! Rounds are keyed by their slot's start, so no moment is drawn twice
//! across a change, and at most one slot of the old interval goes undrawn.
//!
//! Each timer runs under the [`Supervisor`] as its own task (`raffle timer
//! LOGIN`): a timer that panics is restarted with backoff. The timers of a
//! scheduler run are stopped when that run ends, so a restarted scheduler
//! starts them afresh rather than doubling them.
//!
//! Shutdown: timers stop waiting at once, but a round already running is
//! finished (it is one transaction, and cutting it short would only roll it
//! back).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::command::{ChatCommand, MANUAL_DRAW_INTERVAL, ManualDraws, REPLY_WINDOW, RaffleCommand, ReplyLimiter};
use super::record::{Outcome, Trigger};
use super::round::{RaffleEngine, RaffleError, RoundResult};
use super::slot::{SPREAD_ABOVE_CHANNELS, TimerSlot, next_phased_slot, phase_millis};
use crate::announce::chat_line::{Acknowledged, ChatMessage, PrizeLine, QueuedChatLine};
use crate::channel::{ChannelLogin, ChannelSet};
use crate::clock::{self, Clock};
use crate::retry::{self, RetryError, RetryPolicy};
use crate::supervisor::Supervisor;

/// A timer round that fails (the database is briefly away) is tried again
/// within its slot: after 250 ms, then 500 ms; three attempts at most, and
/// none that would start after the slot has ended.
pub const ROUND_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(250), Duration::from_secs(1)).with_max_attempts(3);

/// Recording a channel's row before its timer starts is retried every 5 s
/// until it succeeds or the timer is stopped.
pub const CHANNEL_ROW_RETRY: RetryPolicy = RetryPolicy::constant(Duration::from_secs(5));

/// Runs a timer per served channel.
#[derive(Debug, Clone)]
pub struct RaffleScheduler {
    engine: RaffleEngine,
    channels: ChannelSet,
    interval: Duration,
    clock: Clock,
    supervisor: Supervisor,
}

impl RaffleScheduler {
    /// A scheduler for `channels` firing at the slot boundaries of `clock`,
    /// every channel's own interval, or `interval` (`RAFFLE_INTERVAL`); its
    /// timers are run by `supervisor`.
    pub fn new(
        engine: RaffleEngine,
        channels: ChannelSet,
        interval: Duration,
        clock: Clock,
        supervisor: Supervisor,
    ) -> Self {
        Self {
            engine,
            channels,
            interval,
            clock,
            supervisor,
        }
    }

    /// Runs until `shutdown`. The timers it started are stopped when it
    /// returns (or panics); rounds in flight finish under the supervisor.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut changes = self.channels.subscribe();
        // Dropped when this run ends, however it ends: stops its timers.
        let this_run = shutdown.child_token();
        let _stop_timers = this_run.clone().drop_guard();
        let mut timers: HashMap<ChannelLogin, CancellationToken> = HashMap::new();
        let spread = Arc::new(AtomicBool::new(false));
        loop {
            let wanted = changes.borrow_and_update().clone();
            spread.store(wanted.len() > SPREAD_ABOVE_CHANNELS, Ordering::Relaxed);
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
                let token = this_run.child_token();
                timers.insert(login.clone(), token.clone());
                let timer = ChannelTimer {
                    engine: self.engine.clone(),
                    login: login.clone(),
                    interval: self.interval,
                    clock: self.clock.clone(),
                    spread: Arc::clone(&spread),
                };
                self.supervisor
                    .spawn(format!("raffle timer {login}"), token, move |stop| {
                        timer.clone().run(stop)
                    });
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = changes.changed() => if changed.is_err() {
                    // The set is gone: keep the timers until shutdown.
                    shutdown.cancelled().await;
                    break;
                },
            }
        }
    }
}

/// When `login`'s next timer slot starts, from the system clock now (the
/// dashboard's; the timers read their own [`Clock`]), on an instance serving `served`
/// channels (their slots are spread above [`SPREAD_ABOVE_CHANNELS`]).
pub(crate) fn upcoming_slot_of(login: &str, interval: Duration, served: usize) -> SystemTime {
    upcoming_slot_at(login, interval, served, &Clock::system())
}

/// [`upcoming_slot_of`] on `clock`.
fn upcoming_slot_at(login: &str, interval: Duration, served: usize, clock: &Clock) -> SystemTime {
    let phase = if served > SPREAD_ABOVE_CHANNELS {
        phase_millis(login, interval)
    } else {
        0
    };
    let (_, starts) = next_phased_slot(clock.unix_millis(), interval, phase);
    clock::from_unix_millis(starts)
}

/// One channel's timer.
#[derive(Clone)]
struct ChannelTimer {
    engine: RaffleEngine,
    login: ChannelLogin,
    interval: Duration,
    clock: Clock,
    /// Whether slots start at the channel's phase (`super::slot`).
    spread: Arc<AtomicBool>,
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
        // Err: stopped (the policy itself never gives up).
        let channel_id = match recorded {
            Ok(record) => record.id,
            Err(_) => return,
        };
        tracing::info!(default_interval = ?self.interval, "raffle timer started");
        let mut settings = self.engine.watch_settings();
        let mut interval = self.current_interval(channel_id, self.interval).await;
        loop {
            let planned = TimerSlot::next_after(self.clock.unix_millis(), interval, self.phase(interval));
            tokio::select! {
                _ = stop.cancelled() => return,
                // Changed on this instance: plan again with the new interval.
                Ok(()) = settings.changed() => {
                    settings.mark_unchanged();
                    interval = self.current_interval(channel_id, interval).await;
                    continue;
                }
                () = self.clock.sleep_until(clock::from_unix_millis(planned.start_millis())) => {}
            }
            // Another instance may have changed the interval meanwhile: draw
            // this moment only if it starts a slot of the interval now in
            // force, else skip it (one slot at most) and plan again.
            interval = self.current_interval(channel_id, interval).await;
            let Some(slot) = planned.under(interval, self.phase(interval)) else {
                tracing::info!(
                    slot = planned.number(),
                    interval = ?interval,
                    "RAFFLE_INTERVAL changed; this slot of the old interval is skipped"
                );
                continue;
            };
            // A failed round left nothing behind (one transaction): try again
            // while the slot lasts, so a database hiccup does not lose it. The
            // slot key makes a retry safe even if another instance drew it.
            let slot_ends = clock::from_unix_millis(slot.end_millis());
            let round = ROUND_RETRY
                .retry(&self.clock)
                .before(slot_ends)
                .stop_on(&stop)
                .run(
                    || self.engine.run_round(&self.login, Trigger::Timer, Some(slot)),
                    |e: &RaffleError| !e.rejects_data(),
                    |e, next| {
                        tracing::warn!(
                            slot = slot.number(),
                            attempt = next.failed,
                            error = %e,
                            retry_in = ?next.delay,
                            "raffle round failed; retrying"
                        );
                    },
                )
                .await;
            match round {
                Ok(RoundResult::Recorded(_)) => {
                    let lag = self.clock.unix_millis().saturating_sub(slot.start_millis());
                    crate::metrics::slot_drawn(Duration::from_millis(lag));
                }
                Ok(RoundResult::AlreadyDrawn) => {
                    tracing::debug!(slot = slot.number(), "slot already drawn by another instance");
                }
                Ok(RoundResult::Paused) => tracing::debug!(slot = slot.number(), "paused; no raffle"),
                Err(RetryError::GaveUp { error, attempts }) if error.rejects_data() => {
                    crate::metrics::write_set_aside(crate::metrics::SetAside::Raffle);
                    tracing::error!(slot = slot.number(), attempts, error = %error, "the database refused the raffle round; slot skipped");
                }
                Err(RetryError::GaveUp { error, attempts }) => {
                    tracing::error!(slot = slot.number(), attempts, error = %error, cause = ?error, "raffle round failed; slot skipped");
                }
                Err(RetryError::Stopped { .. }) => return,
            }
            // Two more queries per round: worth it for a few channels, not
            // for thousands (where the dashboard still updates the gauge).
            if !self.spread.load(Ordering::Relaxed) {
                update_active_viewers_gauge(&self.engine, &self.login, channel_id).await;
            }
        }
    }
}

impl ChannelTimer {
    /// Where in `interval` this channel's slots start: its phase when this
    /// instance spreads its channels (`super::slot`), else 0.
    fn phase(&self, interval: Duration) -> u64 {
        if self.spread.load(Ordering::Relaxed) {
            phase_millis(self.login.as_str(), interval)
        } else {
            0
        }
    }

    /// The channel's effective `RAFFLE_INTERVAL`, or `fallback` (the last
    /// one known) when its settings cannot be read.
    async fn current_interval(&self, channel_id: i64, fallback: Duration) -> Duration {
        match self.engine.channel_settings(channel_id).await {
            Ok(effective) => effective.raffle_interval,
            Err(e) => {
                tracing::warn!(error = %e, interval = ?fallback, "cannot read the channel's settings; keeping the interval");
                fallback
            }
        }
    }
}

/// Keeps `kinoyubot_active_viewers` current for scrapes even when nobody
/// opens the dashboard (which updates it too).
async fn update_active_viewers_gauge(engine: &RaffleEngine, login: &ChannelLogin, channel_id: i64) {
    let window = match engine.channel_settings(channel_id).await {
        Ok(settings) => settings.active_window,
        Err(_) => engine.rules().active_window,
    };
    match engine.store().active_viewers(login, window).await {
        Ok(count) => crate::metrics::set_active_viewers(login.as_str(), u64::try_from(count).unwrap_or(0)),
        Err(e) => tracing::debug!(error = %e, "could not count active viewers for the metrics"),
    }
}

/// Acts on chat commands until `shutdown`. Draws honour `ONLY_WHEN_LIVE`
/// and are limited to one per channel per [`MANUAL_DRAW_INTERVAL`] of
/// `clock`. Each command is answered in chat through the outbox (when a bot
/// account can speak): control commands are acknowledged, `!raffle status`
/// gets the next raffle (the channel's own `RAFFLE_INTERVAL`, phased as on
/// an instance serving `served`), the active viewers and the
/// prizes, and `!odds` the asker's chance, at most one reply per viewer and
/// [`super::command::REPLIES_PER_CHANNEL`] per channel a minute.
/// Draws are shared with Discord through `draws`.
pub async fn handle_chat_commands(
    engine: RaffleEngine,
    commands: &mut mpsc::Receiver<ChatCommand>,
    draws: ManualDraws,
    served: ChannelSet,
    clock: Clock,
    shutdown: CancellationToken,
) {
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
            && let Err(wait) = draws.try_draw(&command.channel, clock.unix_millis())
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
        apply_chat_command(&engine, &command, &served, &clock).await;
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
async fn apply_chat_command(engine: &RaffleEngine, command: &ChatCommand, served: &ChannelSet, clock: &Clock) {
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
            tracing::info!("!raffle status requested");
            let rules = match engine.channel_settings(channel.id).await {
                Ok(rules) => rules,
                Err(e) => {
                    tracing::warn!(error = %e, "!raffle status: could not read the channel's settings");
                    return;
                }
            };
            let (active, items) = match (
                engine.store().active_viewers(login, rules.active_window).await,
                engine.store().prize_table(channel.id).await,
            ) {
                (Ok(active), Ok(items)) => (active, items),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "!raffle status: could not read the channel's state");
                    return;
                }
            };
            let next_at = upcoming_slot_at(login.as_str(), rules.raffle_interval, served.current().len(), clock);
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
