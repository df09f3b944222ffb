//! Raffle slots: `floor(unix_time / RAFFLE_INTERVAL)` (SPEC §5 step 1).
//!
//! Every instance computes the same slot for the same moment. A channel can
//! change its interval (SPEC §13), and then numbers stop naming moments: 30 s
//! slot 6 and 60 s slot 3 both start at 3 min. So what is drawn once is the
//! slot's *start*: [`TimerSlot`] carries the number and the interval it was
//! planned with, and the store keys timer rounds by (channel, start). The
//! number is kept for reading. Timers fire at slot boundaries.

use std::time::Duration;

/// A timer slot number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RaffleSlot(i64);

impl RaffleSlot {
    /// The slot containing `unix_millis` for slots of `interval` (whole
    /// seconds, at least one; shorter intervals are treated as one second).
    pub(crate) fn containing(unix_millis: u64, interval: Duration) -> Self {
        let interval_ms = interval_millis(interval);
        Self(i64::try_from(unix_millis / interval_ms).unwrap_or(i64::MAX))
    }

    /// The slot number as stored.
    pub fn get(self) -> i64 {
        self.0
    }

    /// When this slot starts, in unix milliseconds.
    pub fn start_millis(self, interval: Duration) -> u64 {
        u64::try_from(self.0)
            .unwrap_or(0)
            .saturating_mul(interval_millis(interval))
    }
}

fn interval_millis(interval: Duration) -> u64 {
    u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1000)
}

/// A timer slot as a timer planned it: its number under the interval then
/// in force, and that interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerSlot {
    slot: RaffleSlot,
    interval: Duration,
}

impl TimerSlot {
    /// Slot `number` of slots of `interval` (whole seconds, at least one).
    pub fn new(number: i64, interval: Duration) -> Self {
        Self {
            slot: RaffleSlot(number),
            interval,
        }
    }

    /// The next slot to start after `unix_millis` for this interval.
    pub fn next_after(unix_millis: u64, interval: Duration) -> Self {
        Self {
            slot: next_slot(unix_millis, interval).0,
            interval,
        }
    }

    /// The slot number as stored.
    pub fn number(self) -> i64 {
        self.slot.get()
    }

    /// The interval the slot was planned with.
    pub fn interval(self) -> Duration {
        self.interval
    }

    /// When the slot starts, in unix milliseconds: what is drawn once.
    pub fn start_millis(self) -> u64 {
        self.slot.start_millis(self.interval)
    }

    /// This moment as a slot of `interval`: itself when the interval is
    /// unchanged, the slot of `interval` starting at the same moment, or
    /// `None` when no slot of `interval` starts then.
    pub fn under(self, interval: Duration) -> Option<Self> {
        if interval == self.interval {
            return Some(self);
        }
        let start = self.start_millis();
        let interval_ms = interval_millis(interval);
        start.is_multiple_of(interval_ms).then(|| Self {
            slot: RaffleSlot::containing(start, interval),
            interval,
        })
    }

    /// When the slot ends (the next one of the same interval starts).
    pub fn end_millis(self) -> u64 {
        self.start_millis().saturating_add(interval_millis(self.interval))
    }
}

/// The next slot to start after `unix_millis`, and how long until it does.
pub fn next_slot(unix_millis: u64, interval: Duration) -> (RaffleSlot, Duration) {
    let current = RaffleSlot::containing(unix_millis, interval);
    let next = RaffleSlot(current.0.saturating_add(1));
    let wait = next.start_millis(interval).saturating_sub(unix_millis);
    (next, Duration::from_millis(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn slot_is_floor_of_time_over_interval() {
        assert_eq!(RaffleSlot::containing(0, MINUTE).get(), 0);
        assert_eq!(RaffleSlot::containing(59_999, MINUTE).get(), 0);
        assert_eq!(RaffleSlot::containing(60_000, MINUTE).get(), 1);
        assert_eq!(RaffleSlot::containing(1_764_000_000_000, MINUTE).get(), 29_400_000);
    }

    #[test]
    fn next_slot_waits_until_the_boundary() {
        let (slot, wait) = next_slot(125_500, MINUTE);
        assert_eq!(slot.get(), 3);
        assert_eq!(wait, Duration::from_millis(54_500));
        // Exactly on a boundary: that slot has started, the next is a full interval away.
        let (slot, wait) = next_slot(180_000, MINUTE);
        assert_eq!(slot.get(), 4);
        assert_eq!(wait, MINUTE);
    }

    #[test]
    fn slots_of_different_intervals_share_a_start_only_at_the_same_moment() {
        let half = TimerSlot::new(6, Duration::from_secs(30));
        let whole = TimerSlot::new(3, MINUTE);
        assert_eq!(half.start_millis(), whole.start_millis());
        assert_ne!(half.number(), whole.number());
        assert_ne!(
            TimerSlot::new(3, Duration::from_secs(30)).start_millis(),
            whole.start_millis()
        );
        assert_eq!(whole.end_millis(), 240_000);
        let next = TimerSlot::next_after(125_500, Duration::from_secs(30));
        assert_eq!((next.number(), next.start_millis()), (5, 150_000));
        assert_eq!(whole.under(Duration::from_secs(30)), Some(half));
        assert_eq!(whole.under(MINUTE), Some(whole));
        assert_eq!(
            whole.under(Duration::from_secs(40)),
            None,
            "no 40 s slot starts at 180 s"
        );
    }

    #[test]
    fn instances_agree_on_the_slot_for_the_same_moment() {
        let interval = Duration::from_secs(30);
        let t = 1_764_000_012_345;
        assert_eq!(RaffleSlot::containing(t, interval), RaffleSlot::containing(t, interval));
        assert_eq!(RaffleSlot::containing(t, interval).start_millis(interval) % 30_000, 0);
    }
}
