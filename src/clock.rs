//! The one source of domain time: what time it is (wall time, as slots and
//! deadlines are reckoned) and waiting until a moment comes.
//!
//! A [`Clock`] is cheap to clone and passed down from [`crate::app::App::build`].
//! Production uses [`Clock::system`]: `now()` is `SystemTime::now()` and the
//! waits are tokio timers. Tests drive a [`DrivenClock`] instead: its time
//! moves only when the test calls [`DrivenClock::advance`] or
//! [`DrivenClock::set`], and the test can see which waits are pending and
//! until when ([`DrivenClock::wait_for_sleepers`]), so "the timer fires at
//! the slot boundary" or "the retry comes 250 ms after the failure" is
//! observed exactly, without waiting for it.
//!
//! # Why not `tokio::time::pause()`
//!
//! A paused tokio clock auto-advances whenever the runtime has nothing to
//! do, and a test of the app is idle most of the time *because it waits on
//! I/O*: a PostgreSQL query, a pool checkout, a socket to a stand-in. Time
//! then jumps to the next tokio timer, so connect, statement and pool
//! timeouts fire spuriously and the test fails (or passes) for reasons that
//! have nothing to do with the code under test. A driven clock has no such
//! jumps: it is separate from tokio's timers, which keep measuring real time
//! for I/O timeouts, and it moves only when the test says so. Only the code
//! that reasons about domain time reads it (the raffle timers and their
//! retries today; claim deadlines, channel leases and per-channel intervals
//! are meant to); I/O pacing (poll intervals, webhook timeouts, the presence
//! flush cadence) stays on tokio's clock.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// What time it is, and waiting for a time to come. Cheap to clone.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock.
    driven: Option<Arc<Driven>>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.driven {
            None => f.write_str("Clock::System"),
            Some(driven) => f.debug_tuple("Clock::Driven").field(&driven.now()).finish(),
        }
    }
}

impl Clock {
    /// The system clock: wall time from the OS, waits on tokio timers.
    pub fn system() -> Self {
        Self::default()
    }

    /// The current wall time.
    pub fn now(&self) -> SystemTime {
        match &self.driven {
            None => SystemTime::now(),
            Some(driven) => driven.now(),
        }
    }

    /// The current wall time in milliseconds since the Unix epoch (0 before
    /// it, saturating far after it).
    pub fn unix_millis(&self) -> u64 {
        unix_millis(self.now())
    }

    /// Waits until the clock reads `deadline` or later; returns at once if it
    /// already does. Cancel-safe: dropping the future just stops waiting.
    pub async fn sleep_until(&self, deadline: SystemTime) {
        match &self.driven {
            None => {
                // A wall-clock jump while waiting only moves the wake-up;
                // callers read `now()` again when they wake.
                let wait = deadline.duration_since(SystemTime::now()).unwrap_or_default();
                tokio::time::sleep(wait).await;
            }
            Some(driven) => driven.sleep_until(deadline).await,
        }
    }

    /// Waits for `duration` of this clock's time.
    pub async fn sleep(&self, duration: Duration) {
        match &self.driven {
            None => tokio::time::sleep(duration).await,
            Some(driven) => driven.sleep_until(after(driven.now(), duration)).await,
        }
    }
}

/// `duration` after `time`, or the far future if that cannot be represented.
pub(crate) fn after(time: SystemTime, duration: Duration) -> SystemTime {
    // 2^35 s is about a thousand years after the epoch.
    time.checked_add(duration)
        .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(1 << 35))
}

/// Milliseconds since the Unix epoch of `time`.
pub(crate) fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The moment `millis` milliseconds after the Unix epoch.
pub(crate) fn from_unix_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(millis))
        .unwrap_or(UNIX_EPOCH)
}

/// A clock that tests move by hand; [`DrivenClock::clock`] is the handle
/// the code under test reads. See the module doc.
#[derive(Clone)]
pub struct DrivenClock {
    driven: Arc<Driven>,
}

impl fmt::Debug for DrivenClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrivenClock")
            .field("now", &self.now())
            .field("sleepers", &self.sleepers())
            .finish()
    }
}

impl DrivenClock {
    /// A clock that reads `start` until it is moved.
    pub fn starting_at(start: SystemTime) -> Self {
        let (state, _) = watch::channel(DrivenState {
            now: start,
            sleepers: BTreeMap::new(),
            next_id: 0,
        });
        Self {
            driven: Arc::new(Driven { state }),
        }
    }

    /// The handle to give the code under test.
    pub fn clock(&self) -> Clock {
        Clock {
            driven: Some(Arc::clone(&self.driven)),
        }
    }

    /// What the clock reads.
    pub fn now(&self) -> SystemTime {
        self.driven.now()
    }

    /// Moves the clock forward by `by`, waking every wait that is then due.
    pub fn advance(&self, by: Duration) {
        self.driven.state.send_modify(|state| state.now = after(state.now, by));
    }

    /// Sets the clock to `to` (forward or back), waking every wait then due.
    pub fn set(&self, to: SystemTime) {
        self.driven.state.send_modify(|state| state.now = to);
    }

    /// The deadlines of the waits pending now that are still in the future,
    /// earliest first. A wait whose deadline has come but that has not yet
    /// run is left out.
    pub fn sleepers(&self) -> Vec<SystemTime> {
        self.driven.state.borrow().future_deadlines()
    }

    /// Waits until at least `count` waits are pending with deadlines in the
    /// future (the code under test has gone to sleep), and returns their
    /// deadlines, earliest first. Put a deadline of your own around it.
    pub async fn wait_for_sleepers(&self, count: usize) -> Vec<SystemTime> {
        let mut changes = self.driven.state.subscribe();
        // The sender lives in `self.driven`, so this cannot fail.
        let _ = changes.wait_for(|state| state.future_deadlines().len() >= count).await;
        self.sleepers()
    }
}

impl From<&DrivenClock> for Clock {
    fn from(driven: &DrivenClock) -> Self {
        driven.clock()
    }
}

/// The state a driven clock shares with its handles.
struct Driven {
    state: watch::Sender<DrivenState>,
}

struct DrivenState {
    now: SystemTime,
    /// Pending waits by id: their deadlines.
    sleepers: BTreeMap<u64, SystemTime>,
    next_id: u64,
}

impl DrivenState {
    fn future_deadlines(&self) -> Vec<SystemTime> {
        let mut deadlines: Vec<SystemTime> = self.sleepers.values().copied().filter(|d| *d > self.now).collect();
        deadlines.sort();
        deadlines
    }
}

impl Driven {
    fn now(&self) -> SystemTime {
        self.state.borrow().now
    }

    async fn sleep_until(&self, deadline: SystemTime) {
        let mut id = 0;
        self.state.send_modify(|state| {
            id = state.next_id;
            state.next_id = state.next_id.wrapping_add(1);
            state.sleepers.insert(id, deadline);
        });
        // Unregisters when the wait ends or is dropped (cancelled).
        let _registered = Registered { driven: self, id };
        let mut changes = self.state.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = changes.wait_for(|state| state.now >= deadline).await;
    }
}

/// A pending wait's entry in [`DrivenState::sleepers`].
struct Registered<'a> {
    driven: &'a Driven,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.driven.state.send_modify(|state| {
            state.sleepers.remove(&self.id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[tokio::test]
    async fn a_driven_sleep_ends_only_when_the_clock_reaches_its_deadline() {
        let driven = DrivenClock::starting_at(at(100));
        let clock = driven.clock();
        let sleeping = tokio::spawn(async move { clock.sleep_until(at(105)).await });
        assert_eq!(driven.wait_for_sleepers(1).await, vec![at(105)]);
        driven.advance(Duration::from_secs(4));
        // Let the sleeper see the change (one thread: it runs while we yield).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // Still pending at 104 s: the deadline is 105 s.
        assert_eq!(driven.sleepers(), vec![at(105)]);
        assert!(!sleeping.is_finished());
        driven.advance(Duration::from_secs(1));
        sleeping.await.expect("the sleep ends");
        assert!(driven.sleepers().is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_sleep_is_no_longer_pending() {
        let driven = DrivenClock::starting_at(at(0));
        let clock = driven.clock();
        let sleeping = tokio::spawn(async move { clock.sleep(Duration::from_secs(60)).await });
        assert_eq!(driven.wait_for_sleepers(1).await, vec![at(60)]);
        sleeping.abort();
        let _ = sleeping.await;
        assert!(driven.sleepers().is_empty());
    }

    #[tokio::test]
    async fn a_deadline_already_past_returns_at_once() {
        let driven = DrivenClock::starting_at(at(10));
        driven.clock().sleep_until(at(9)).await;
        driven.clock().sleep_until(at(10)).await;
        assert_eq!(driven.clock().unix_millis(), 10_000);
    }

    #[tokio::test]
    async fn the_system_clock_reads_wall_time_and_sleeps_on_tokio_timers() {
        let clock = Clock::system();
        let before = SystemTime::now();
        let read = clock.now();
        assert!(read >= before && read <= SystemTime::now());
        let started = tokio::time::Instant::now();
        clock.sleep_until(SystemTime::now() + Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn unix_millis_round_trip_and_saturate_before_the_epoch() {
        assert_eq!(unix_millis(from_unix_millis(1_764_000_000_123)), 1_764_000_000_123);
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
