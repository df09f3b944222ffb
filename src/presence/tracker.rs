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
//! A batch the database refuses as data (a NUL byte, an index row too
//! large: `store::Error::rejects_data`) is not an outage: the flush bisects
//! it, sets the refused entries aside (one warning and one
//! `kinoyubot_writes_set_aside_total` count each) and writes the rest.
//! Chat input is cleaned at the edge (`crate::text`), so this is the second
//! line of defence.
//!
//! While the database is down the failed batch is merged back and retried
//! with exponential backoff (`OUTAGE_RETRY`); memory stays bounded by
//! distinct viewers (`MAX_BUFFERED_VIEWERS`) and by their estimated size in
//! bytes (`MAX_BUFFERED_BYTES`), one warning is logged when
//! the outage starts and one info line when it ends. On shutdown the tracker
//! drains its queue, then flushes one last time (retrying by the same policy
//! for up to `FINAL_FLUSH_TIMEOUT`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::batch::{Limit, PresenceBatch, PresenceEvent, Recorded};
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
/// Estimated bytes the buffer may hold (`PresenceBatch::bytes`), so that
/// long names cannot blow up memory within the viewer cap: 64 MiB, about
/// 200 MB of RSS with a batch in flight and its statement. Names are capped
/// at the edge (`crate::text`), so ordinary chat reaches the viewer cap
/// first (a typical viewer is about 250 bytes).
pub(crate) const MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;
/// Both limits of the buffer.
const BUFFER_LIMIT: Limit = Limit {
    entries: MAX_BUFFERED_VIEWERS,
    bytes: MAX_BUFFERED_BYTES,
};
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

/// How long the oldest presence not yet written has waited, shared with
/// `/readyz` (SPEC §16: not ready once something waited over 30 s). Kept
/// across restarts of the tracker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PresenceHealth {
    /// When the oldest unwritten event arrived; `None`: nothing waits.
    oldest_unwritten: Arc<watch::Sender<Option<Instant>>>,
}

impl Default for PresenceHealth {
    fn default() -> Self {
        Self {
            oldest_unwritten: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl PresenceHealth {
    /// How long the oldest unwritten presence has waited; `None` when
    /// everything received has been written (or set aside).
    pub fn waiting(&self) -> Option<Duration> {
        let oldest = *self.oldest_unwritten.borrow();
        oldest.map(|since| since.elapsed())
    }

    fn publish(&self, oldest: Option<Instant>) {
        self.oldest_unwritten.send_if_modified(|current| {
            let changed = *current != oldest;
            *current = oldest;
            changed
        });
    }
}

/// The receiving end of the tracker's queue and its health: what survives
/// a restart of the tracker (a panic loses only the batch it held).
#[derive(Debug, Clone)]
pub struct PresenceInbox {
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<PresenceEvent>>>>,
    health: PresenceHealth,
}

impl PresenceInbox {
    /// A new queue: its receiving end, and the handle that feeds it.
    pub fn new() -> (Self, PresenceHandle) {
        let (sender, receiver) = mpsc::channel(PRESENCE_QUEUE);
        let inbox = Self {
            receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
            health: PresenceHealth::default(),
        };
        (inbox, PresenceHandle { sender })
    }

    /// What `/readyz` reads.
    pub fn health(&self) -> PresenceHealth {
        self.health.clone()
    }
}

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

/// What a flush came to, handed back to the tracker with the flusher.
struct Flushed {
    /// Rows and bans written.
    written: PresenceWrite,
    /// When the oldest written row was first seen (for the lag metric).
    oldest: Option<chrono::DateTime<chrono::Utc>>,
    /// What could not be written because the database is unreachable
    /// (merged back and retried), with that error.
    unwritten: Option<(PresenceBatch, store::Error)>,
}

type FlushResult = (Flusher, Flushed);
type FlushFuture = Pin<Box<dyn Future<Output = FlushResult> + Send>>;

/// Longest part of an id put in the log line of a refused entry.
const LOGGED_ID_CHARS: usize = 40;

impl Flusher {
    /// Writes `batch`. When the database refuses it as data (a NUL byte, an
    /// index row too large: [`store::Error::rejects_data`]), the batch is
    /// bisected until the refused entries are alone; those are set aside
    /// with one log line and a metric each, and everything else is written.
    /// Any other error stops the flush: what is left is handed back to be
    /// retried as an outage.
    async fn flush(mut self, batch: PresenceBatch) -> FlushResult {
        let mut written = PresenceWrite::default();
        let mut oldest = None;
        let mut parts = vec![batch];
        while let Some(part) = parts.pop() {
            if part.is_empty() {
                continue;
            }
            match self.store.write_presence(&part, &mut self.channel_ids).await {
                Ok(stats) => {
                    written.rows += stats.rows;
                    written.bans += stats.bans;
                    let part_oldest = part.oldest_seen();
                    oldest = oldest.into_iter().chain(part_oldest).min();
                }
                Err(e) if e.rejects_data() && part.entries() <= 1 => {
                    tracing::warn!(
                        entry = %part.describe(LOGGED_ID_CHARS),
                        error = %e,
                        "the database refused a presence entry; it is set aside and the rest is written"
                    );
                    crate::metrics::write_set_aside(crate::metrics::SetAside::Presence);
                }
                Err(e) if e.rejects_data() => {
                    let (first, second) = part.split();
                    parts.push(second);
                    parts.push(first);
                }
                Err(e) => {
                    let mut rest = part;
                    for other in parts.drain(..) {
                        rest.merge(other);
                    }
                    let flushed = Flushed {
                        written,
                        oldest,
                        unwritten: Some((rest, e)),
                    };
                    return (self, flushed);
                }
            }
        }
        let flushed = Flushed {
            written,
            oldest,
            unwritten: None,
        };
        (self, flushed)
    }
}

/// The task that owns presence; see the module doc.
pub struct PresenceTracker {
    inbox: PresenceInbox,
    flusher: Option<Flusher>,
    pending: PresenceBatch,
    /// When the oldest event in `pending` arrived.
    pending_since: Option<Instant>,
    /// When the oldest event of the batch being flushed arrived.
    in_flight_since: Option<Instant>,
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
        let (inbox, handle) = PresenceInbox::new();
        (Self::from_inbox(store, inbox), handle)
    }

    /// A tracker taking its events from `inbox`: a restart of the tracker
    /// after a failure goes on with the same queue.
    pub fn from_inbox(store: Store, inbox: PresenceInbox) -> Self {
        Self {
            inbox,
            pending_since: None,
            in_flight_since: None,
            flusher: Some(Flusher {
                store,
                channel_ids: ChannelIds::new(),
            }),
            pending: PresenceBatch::new(),
            dropped: 0,
            outage_since: None,
            retry_delays: OUTAGE_RETRY.delays(),
            next_flush: Instant::now() + FLUSH_EVERY,
        }
    }

    /// Tells `/readyz` how long the oldest unwritten event has waited.
    fn publish_health(&self) {
        let oldest = self.pending_since.into_iter().chain(self.in_flight_since).min();
        self.inbox.health.publish(oldest);
    }

    fn absorb(&mut self, events: Vec<PresenceEvent>) {
        if !events.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        for event in events {
            match event {
                PresenceEvent::Message(update) => {
                    if self.pending.record_message(update, BUFFER_LIMIT) == Recorded::Dropped {
                        if self.dropped == 0 {
                            tracing::warn!(
                                viewers = MAX_BUFFERED_VIEWERS,
                                bytes = MAX_BUFFERED_BYTES,
                                buffered_bytes = self.pending.bytes(),
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
        if self.pending.is_empty() {
            // Everything was dropped (buffer full): nothing waits for it.
            self.pending_since = None;
        }
        self.publish_health();
    }

    /// Starts a flush of everything pending, if there is something and no
    /// flush is running.
    fn start_flush(&mut self) -> Option<FlushFuture> {
        if self.pending.is_empty() {
            return None;
        }
        let flusher = self.flusher.take()?;
        let batch = std::mem::take(&mut self.pending);
        self.in_flight_since = self.pending_since.take();
        Some(Box::pin(flusher.flush(batch)))
    }

    fn finish_flush(&mut self, (flusher, flushed): FlushResult) {
        self.flusher = Some(flusher);
        // Lag: how long the oldest written update waited.
        if let Some(oldest) = flushed.oldest {
            let lag = (chrono::Utc::now() - oldest).to_std().unwrap_or_default();
            crate::metrics::presence_flushed(lag);
        }
        let in_flight_since = self.in_flight_since.take();
        match flushed.unwritten {
            None => {
                self.publish_health();
                let stats = flushed.written;
                tracing::trace!(rows = stats.rows, bans = stats.bans, "presence flushed");
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
            Some((batch, e)) => {
                if self.outage_since.is_none() {
                    tracing::warn!(error = %e, cause = ?e, "could not write presence; buffering and retrying");
                    self.outage_since = Some(Instant::now());
                }
                // `pending` holds what arrived meanwhile; merging is
                // commutative, so nothing is lost or double-counted here.
                self.pending.merge(batch);
                self.pending_since = self.pending_since.into_iter().chain(in_flight_since).min();
                self.publish_health();
                // The policy has no attempt limit; its cap is the fallback.
                let retry_in = self.retry_delays.next().unwrap_or(OUTAGE_RETRY.cap());
                self.next_flush = Instant::now() + retry_in;
            }
        }
    }

    /// Runs until `shutdown` fires, then drains the queue and flushes last.
    pub async fn run(mut self, shutdown: CancellationToken) {
        // Held for the whole run; a restarted tracker takes it over (a
        // panic releases it while unwinding).
        let inbox = Arc::clone(&self.inbox.receiver);
        let mut receiver = inbox.lock().await;
        // What an earlier run held died with it.
        self.publish_health();
        let mut in_flight: Option<FlushFuture> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                received = receiver.recv() => match received {
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
        self.stop(&mut receiver, in_flight).await;
    }

    async fn stop(mut self, receiver: &mut mpsc::Receiver<Vec<PresenceEvent>>, in_flight: Option<FlushFuture>) {
        // Take what the listener sent before it stopped: it drops its
        // handle when it ends, which closes the queue.
        let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
        while let Ok(Some(events)) = tokio::time::timeout_at(drain_deadline, receiver.recv()).await {
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
            let failed = result.1.unwritten.is_some();
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
