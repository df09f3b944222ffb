//! The raffle timers: one per served channel, aligned to slot boundaries,
//! started and stopped as channels join and leave the [`ChannelSet`]; and the
//! handler for `!raffle` chat commands.
//!
//! Shutdown: timers stop waiting at once, but a round already running is
//! finished (it is one transaction, and cutting it short would only roll it
//! back).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::command::{ChatCommand, RaffleCommand};
use super::record::Trigger;
use super::round::{RaffleEngine, RoundResult};
use super::slot::next_slot;
use crate::channel::{ChannelLogin, ChannelSet};

/// Attempts at one timer round when the database fails.
const ROUND_ATTEMPTS: u32 = 3;
/// Wait before the second attempt (doubled before the third).
const ROUND_RETRY: Duration = Duration::from_millis(250);

/// How long to wait before retrying when a channel's row cannot be created.
const CHANNEL_RETRY: Duration = Duration::from_secs(5);

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs a timer per served channel.
#[derive(Debug)]
pub struct RaffleScheduler {
    engine: RaffleEngine,
    channels: ChannelSet,
    interval: Duration,
}

impl RaffleScheduler {
    /// A scheduler for `channels` firing every `interval` (`RAFFLE_INTERVAL`).
    pub fn new(engine: RaffleEngine, channels: ChannelSet, interval: Duration) -> Self {
        Self {
            engine,
            channels,
            interval,
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
                tracker.spawn(channel_timer(self.engine.clone(), login, self.interval, token));
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

/// The next timer slot for this interval and when it starts, from the clock now.
pub(crate) fn upcoming_slot(interval: Duration) -> (i64, SystemTime) {
    let now = unix_millis();
    let (slot, wait) = next_slot(now, interval);
    (slot.get(), SystemTime::now() + wait)
}

#[tracing::instrument(skip_all, fields(channel = %login))]
async fn channel_timer(engine: RaffleEngine, login: ChannelLogin, interval: Duration, stop: CancellationToken) {
    // The channel row must exist before rounds can be recorded for it.
    loop {
        match engine.store().ensure_channel(&login).await {
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record the channel yet; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(CHANNEL_RETRY) => {}
                }
            }
        }
    }
    tracing::info!(interval = ?interval, "raffle timer started");
    loop {
        let (slot, wait) = next_slot(unix_millis(), interval);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        // A failed round left nothing behind (one transaction): try again
        // while the slot lasts, so a database hiccup does not lose it. The
        // slot key makes a retry safe even if another instance drew it.
        let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
        let slot_ends = slot.start_millis(interval).saturating_add(interval_ms);
        let mut attempt = 1u32;
        loop {
            match engine.run_round(&login, Trigger::Timer, Some(slot.get())).await {
                Ok(RoundResult::Recorded(_)) => {}
                Ok(RoundResult::AlreadyDrawn) => {
                    tracing::debug!(slot = slot.get(), "slot already drawn by another instance");
                }
                Ok(RoundResult::Paused) => tracing::debug!(slot = slot.get(), "paused; no raffle"),
                Err(e) => {
                    let retry_in = ROUND_RETRY.saturating_mul(attempt);
                    let retry_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX);
                    if attempt < ROUND_ATTEMPTS && unix_millis().saturating_add(retry_ms) < slot_ends {
                        tracing::warn!(slot = slot.get(), attempt, error = %e, ?retry_in, "raffle round failed; retrying");
                        attempt += 1;
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(retry_in) => continue,
                        }
                    }
                    tracing::error!(slot = slot.get(), error = %e, cause = ?e, "raffle round failed; slot skipped");
                }
            }
            break;
        }
        update_active_viewers_gauge(&engine, &login).await;
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

/// Acts on `!raffle` commands from chat until `shutdown`.
pub async fn handle_chat_commands(
    engine: RaffleEngine,
    mut commands: mpsc::Receiver<ChatCommand>,
    shutdown: CancellationToken,
) {
    loop {
        let command = tokio::select! {
            _ = shutdown.cancelled() => return,
            command = commands.recv() => match command {
                Some(command) => command,
                None => return,
            },
        };
        apply_chat_command(&engine, &command).await;
    }
}

#[tracing::instrument(skip_all, fields(channel = %command.channel, by = %command.requested_by))]
async fn apply_chat_command(engine: &RaffleEngine, command: &ChatCommand) {
    let login = &command.channel;
    // The command was typed in a channel the bot reads, which may be so new
    // that neither its timer nor the presence tracker has recorded it yet.
    if let Err(e) = engine.store().ensure_channel(login).await {
        tracing::error!(error = %e, "could not record the channel; command dropped");
        return;
    }
    match command.command {
        RaffleCommand::Now => match engine.run_round(login, Trigger::Chat, None).await {
            Ok(RoundResult::Recorded(record)) => {
                tracing::info!(raffle_id = record.id, outcome = %record.outcome, "!raffle now")
            }
            Ok(other) => tracing::info!(result = ?other, "!raffle now"),
            Err(e) => tracing::error!(error = %e, "!raffle now failed"),
        },
        RaffleCommand::Pause | RaffleCommand::Resume => {
            let paused = command.command == RaffleCommand::Pause;
            match engine.store().set_paused(login, paused).await {
                Ok(_) => tracing::info!(paused, "raffles paused/resumed from chat"),
                Err(e) => tracing::error!(error = %e, "could not pause/resume"),
            }
        }
        // Replying needs a chat identity that can send; anonymous readers
        // cannot, so the status goes to the log (and the dashboard).
        RaffleCommand::Status => tracing::info!("!raffle status requested"),
    }
}
