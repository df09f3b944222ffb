//! Raffle slots: `floor(unix_time / RAFFLE_INTERVAL)` (SPEC §5 step 1).
//!
//! Every instance computes the same slot for the same moment, so the unique
//! key (channel, slot) lets several instances share a database without
//! drawing a slot twice. Timers fire at slot boundaries.

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
    fn instances_agree_on_the_slot_for_the_same_moment() {
        let interval = Duration::from_secs(30);
        let t = 1_764_000_012_345;
        assert_eq!(RaffleSlot::containing(t, interval), RaffleSlot::containing(t, interval));
        assert_eq!(RaffleSlot::containing(t, interval).start_millis(interval) % 30_000, 0);
    }
}
