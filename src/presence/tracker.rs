//! The presence tracker: owns the in-memory `PresenceBatch` and writes it
//! to PostgreSQL (SPEC §4).
//!
//! The chat listener sends [`PresenceEvent`]s through a cheap-clone
//! [`PresenceHandle`] over a **bounded** channel. The tracker merges them
//! into a batch and flushes at least every `FLUSH_EVERY`. A flush runs as
//! a future polled *inside* the tracker's `select!` loop, next to receiving:
//! events keep being merged into a fresh batch while a flush waits on the
//! database, so a slow or dead database never backs up into the chat task.
//!
//! While the database is down the failed batch is merged back and retried
//! with exponential backoff (`OUTAGE_RETRY`); memory stays bounded by
//! distinct viewers (`MAX_BUFFERED_VIEWERS`), one warning is logged when
//! the outage starts and one info line when it ends. On shutdown the tracker
//! drains its queue, then flushes one last time (retrying by the same policy
//! for up to `FINAL_FLUSH_TIMEOUT`).

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::batch::{PresenceBatch, PresenceEvent, Recorded};
use crate::retry::{Delays, RetryPolicy};
use crate::store::{self, ChannelIds, PresenceWrite, Store};

/// The tracker writes what it has at least this often.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Capacity of the event queue, in chunks of events (the listener sends
/// what it drained from one wakeup as one chunk).
pub const PRESENCE_QUEUE: usize = 256;
/// Distinct (channel, viewer) entries kept while the database is away;
/// messages from viewers beyond this are dropped (with a warning) until a
/// flush succeeds. The ingest benchmark measures about 1.5 KiB of peak RSS
/// per distinct viewer (the batch, a batch in flight, statement
/// parameters), so this caps the buffer near 400 MB.
pub(crate) const MAX_BUFFERED_VIEWERS: usize = 250_000;
/// Flushes while the database is down: 250 ms after the first failure,
/// doubling up to 10 s, until one succeeds (nothing is given up: the batch
/// stays bounded by [`MAX_BUFFERED_VIEWERS`]).
pub(crate) const OUTAGE_RETRY: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(250), Duration::from_secs(10));
/// How long shutdown waits for the listener's last events.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown keeps retrying the last flush.
const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracker is gone (it stopped after shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the presence tracker has stopped")]
pub struct TrackerStopped;

/// Cheap-clone handle that feeds the tracker.
#[derive(Debug, Clone)]
pub struct PresenceHandle {
    sender: mpsc::Sender<Vec<PresenceEvent>>,
}

impl PresenceHandle {
    /// A handle feeding another consumer than [`PresenceTracker`] (the
    /// ingest benchmark's naive writer uses it).
    pub fn from_sender(sender: mpsc::Sender<Vec<PresenceEvent>>) -> Self {
        Self { sender }
    }

    /// Sends a chunk of events, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`TrackerStopped`] once the tracker has ended.
    pub async fn send(&self, events: Vec<PresenceEvent>) -> Result<(), TrackerStopped> {
        if events.is_empty() {
            return Ok(());
        }
        self.sender.send(events).await.map_err(|_| TrackerStopped)
    }
}

/// What a flush owns while it runs: the store and the login → id cache.
/// Moved into the flush future and handed back with its result, so the
/// tracker needs no lock around the cache.
struct Flusher {
    store: Store,
    channel_ids: ChannelIds,
}

type FlushResult = (Flusher, PresenceBatch, Result<PresenceWrite, store::Error>);
type FlushFuture = Pin<Box<dyn Future<Output = FlushResult> + Send>>;

impl Flusher {
    async fn flush(mut self, batch: PresenceBatch) -> FlushResult {
        let result = self.store.write_presence(&batch, &mut self.channel_ids).await;
        (self, batch, result)
    }
}

/// The task that owns presence; see the module doc.
pub struct PresenceTracker {
    receiver: mpsc::Receiver<Vec<PresenceEvent>>,
    flusher: Option<Flusher>,
    pending: PresenceBatch,
    /// Viewers dropped because the buffer was full, since the last report.
    dropped: u64,
    /// When the current outage began, if the database is failing.
    outage_since: Option<Instant>,
    /// The waits before the next retries of this outage ([`OUTAGE_RETRY`]).
    retry_delays: Delays,
    next_flush: Instant,
}

impl std::fmt::Debug for PresenceTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceTracker")
            .field("pending", &self.pending.len())
            .field("outage", &self.outage_since.is_some())
            .finish_non_exhaustive()
    }
}

impl PresenceTracker {
    /// A tracker writing to `store`, and the handle that feeds it.
    pub fn new(store: Store) -> (Self, PresenceHandle) {
        let (sender, receiver) = mpsc::channel(PRESENCE_QUEUE);
        let tracker = Self {
            receiver,
            flusher: Some(Flusher {
                store,
                channel_ids: ChannelIds::new(),
            }),
            pending: PresenceBatch::new(),
            dropped: 0,
            outage_since: None,
            retry_delays: OUTAGE_RETRY.delays(),
            next_flush: Instant::now() + FLUSH_EVERY,
        };
        (tracker, PresenceHandle { sender })
    }

    fn absorb(&mut self, events: Vec<PresenceEvent>) {
        for event in events {
            match event {
                PresenceEvent::Message(update) => {
                    if self.pending.record_message(update, MAX_BUFFERED_VIEWERS) == Recorded::Dropped {
                        if self.dropped == 0 {
                            tracing::warn!(
                                limit = MAX_BUFFERED_VIEWERS,
                                "presence buffer full; new viewers are dropped until the database catches up"
                            );
                        }
                        self.dropped += 1;
                    }
                }
                PresenceEvent::Ban(ban) => self.pending.record_ban(ban),
                PresenceEvent::ChannelIdentity {
                    channel,
                    twitch_user_id,
                } => self.pending.record_identity(channel, twitch_user_id),
            }
        }
    }

    /// Starts a flush of everything pending, if there is something and no
    /// flush is running.
    fn start_flush(&mut self) -> Option<FlushFuture> {
        if self.pending.is_empty() {
            return None;
        }
        let flusher = self.flusher.take()?;
        let batch = std::mem::take(&mut self.pending);
        Some(Box::pin(flusher.flush(batch)))
    }

    fn finish_flush(&mut self, (flusher, batch, result): FlushResult) {
        self.flusher = Some(flusher);
        match result {
            Ok(stats) => {
                tracing::trace!(rows = stats.rows, bans = stats.bans, "presence flushed");
                // Lag: how long the oldest update of this batch waited.
                if let Some(oldest) = batch.rows().map(|row| row.first_seen).min() {
                    let lag = (chrono::Utc::now() - oldest).to_std().unwrap_or_default();
                    crate::metrics::presence_flushed(lag);
                }
                if let Some(since) = self.outage_since.take() {
                    tracing::info!(
                        outage = ?since.elapsed(),
                        rows = stats.rows,
                        "database reachable again; buffered presence written"
                    );
                }
                if self.dropped > 0 {
                    tracing::warn!(
                        dropped = self.dropped,
                        "presence of some viewers was dropped while buffering"
                    );
                    self.dropped = 0;
                }
                self.retry_delays = OUTAGE_RETRY.delays();
                self.next_flush = Instant::now() + FLUSH_EVERY;
            }
            Err(e) => {
                if self.outage_since.is_none() {
                    tracing::warn!(error = %e, cause = ?e, "could not write presence; buffering and retrying");
                    self.outage_since = Some(Instant::now());
                }
                // `pending` holds what arrived meanwhile; merging is
                // commutative, so nothing is lost or double-counted here.
                self.pending.merge(batch);
                // The policy has no attempt limit; its cap is the fallback.
                let retry_in = self.retry_delays.next().unwrap_or(OUTAGE_RETRY.cap());
                self.next_flush = Instant::now() + retry_in;
            }
        }
    }

    /// Runs until `shutdown` fires, then drains the queue and flushes last.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut in_flight: Option<FlushFuture> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                received = self.receiver.recv() => match received {
                    Some(events) => self.absorb(events),
                    // Every handle is gone: nothing more will come.
                    None => break,
                },
                result = async {
                    match in_flight.as_mut() {
                        Some(flush) => flush.await,
                        None => std::future::pending().await,
                    }
                }, if in_flight.is_some() => {
                    in_flight = None;
                    self.finish_flush(result);
                }
                () = tokio::time::sleep_until(self.next_flush), if in_flight.is_none() => {
                    in_flight = self.start_flush();
                    if in_flight.is_none() {
                        self.next_flush = Instant::now() + FLUSH_EVERY;
                    }
                }
            }
        }
        self.stop(in_flight).await;
    }

    async fn stop(mut self, in_flight: Option<FlushFuture>) {
        // Take what the listener sent before it stopped: it drops its
        // handle when it ends, which closes the queue.
        let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
        while let Ok(Some(events)) = tokio::time::timeout_at(drain_deadline, self.receiver.recv()).await {
            self.absorb(events);
        }
        if let Some(flush) = in_flight {
            let result = flush.await;
            self.finish_flush(result);
        }
        let deadline = Instant::now() + FINAL_FLUSH_TIMEOUT;
        while let Some(flush) = self.start_flush() {
            let result = match tokio::time::timeout_at(deadline, flush).await {
                Ok(result) => result,
                Err(_) => break,
            };
            let failed = result.2.is_err();
            self.finish_flush(result);
            if failed {
                // `finish_flush` set the next retry by the outage policy.
                if self.next_flush > deadline {
                    break;
                }
                tokio::time::sleep_until(self.next_flush).await;
            }
        }
        if self.pending.is_empty() {
            tracing::debug!("presence tracker stopped; everything written");
        } else {
            tracing::error!(
                viewers = self.pending.len(),
                "presence tracker stopped with unwritten presence: the database was unreachable"
            );
        }
    }
}
