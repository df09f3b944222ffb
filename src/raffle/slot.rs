//! Raffle slots: `floor(unix_time / RAFFLE_INTERVAL)` (SPEC §5 step 1).
//!
//! Every instance computes the same slot for the same moment. A channel can
//! change its interval (SPEC §13), and then numbers stop naming moments: 30 s
//! slot 6 and 60 s slot 3 both start at 3 min. So what is drawn once is the
//! slot's *start*: [`TimerSlot`] carries the number and the interval it was
//! planned with, and the store keys timer rounds by (channel, start). The
//! number is kept for reading. Timers fire at slot boundaries.
//!
//! # Spreading many channels over the interval
//!
//! With more than [`SPREAD_ABOVE_CHANNELS`] channels on one instance, every
//! channel's slots start at its own *phase* within the interval (a hash of
//! its login, the same on every instance), so 10,000 channels at 60 s are
//! about 170 rounds a second instead of 10,000 at one boundary (issue 19
//! item 2). A slot's number is then `floor((unix_time - phase) /
//! RAFFLE_INTERVAL)`: still one per interval and channel, at most one off
//! the boundary's number. Switching between the two (the channel count
//! crosses the threshold) can skip a slot but never draws one twice: the
//! slot a phased timer reaches was either drawn at its boundary already
//! (then the unique key refuses it) or is a new one.

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
    /// The channel's phase within the interval (0 unless spread).
    phase_ms: u64,
}

impl TimerSlot {
    /// Slot `number` of slots of `interval` (whole seconds, at least one)
    /// starting at the boundaries.
    pub fn new(number: i64, interval: Duration) -> Self {
        Self {
            slot: RaffleSlot(number),
            interval,
            phase_ms: 0,
        }
    }

    /// The next slot to start after `unix_millis` for this interval and
    /// phase (see [`phase_millis`]; 0 at the boundaries).
    pub fn next_after(unix_millis: u64, interval: Duration, phase_ms: u64) -> Self {
        Self {
            slot: next_phased_slot(unix_millis, interval, phase_ms).0,
            interval,
            phase_ms,
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
        self.slot.start_millis(self.interval).saturating_add(self.phase_ms)
    }

    /// This moment as a slot of `interval` with `phase_ms`: itself when
    /// neither changed, the slot of `interval` starting at the same moment,
    /// or `None` when no such slot starts then.
    pub fn under(self, interval: Duration, phase_ms: u64) -> Option<Self> {
        if interval == self.interval && phase_ms == self.phase_ms {
            return Some(self);
        }
        let since_phase = self.start_millis().checked_sub(phase_ms)?;
        let interval_ms = interval_millis(interval);
        since_phase.is_multiple_of(interval_ms).then(|| Self {
            slot: RaffleSlot::containing(since_phase, interval),
            interval,
            phase_ms,
        })
    }

    /// When the slot ends (the next one of the same interval starts).
    pub fn end_millis(self) -> u64 {
        self.start_millis().saturating_add(interval_millis(self.interval))
    }
}

/// Above this many channels on one instance, their slots are spread over
/// the interval (module doc). At or below, every slot starts at the
/// boundary and the rounds of one boundary are drawn well within a second.
pub const SPREAD_ABOVE_CHANNELS: usize = 100;

/// A channel's phase within the interval, in milliseconds: FNV-1a of its
/// login modulo the interval (whole seconds only, so dashboards show whole
/// seconds).
pub fn phase_millis(login: &str, interval: Duration) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in login.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let seconds = interval_millis(interval) / 1000;
    (hash % seconds.max(1)).saturating_mul(1000)
}

/// The next slot of a channel with this phase to start after
/// `unix_millis`, and when it starts (unix milliseconds).
pub(crate) fn next_phased_slot(unix_millis: u64, interval: Duration, phase_ms: u64) -> (RaffleSlot, u64) {
    let (slot, _) = next_slot(unix_millis.saturating_sub(phase_ms), interval);
    (slot, slot.start_millis(interval).saturating_add(phase_ms))
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
        let next = TimerSlot::next_after(125_500, Duration::from_secs(30), 0);
        assert_eq!((next.number(), next.start_millis()), (5, 150_000));
        assert_eq!(whole.under(Duration::from_secs(30), 0), Some(half));
        assert_eq!(whole.under(MINUTE, 0), Some(whole));
        assert_eq!(
            whole.under(Duration::from_secs(40), 0),
            None,
            "no 40 s slot starts at 180 s"
        );
        let phased = TimerSlot::next_after(125_500, MINUTE, 17_000);
        assert_eq!((phased.number(), phased.start_millis()), (2, 137_000));
        assert_eq!(phased.under(MINUTE, 17_000), Some(phased));
        assert_eq!(phased.under(MINUTE, 0), None, "137 s is no boundary");
    }

    #[test]
    fn phased_slots_start_at_the_phase_and_spread_over_the_interval() {
        let phase = 17_000;
        let (slot, starts) = next_phased_slot(125_500, MINUTE, phase);
        assert_eq!((slot.get(), starts), (2, 137_000));
        let (slot, starts) = next_phased_slot(137_000, MINUTE, phase);
        assert_eq!((slot.get(), starts), (3, 197_000));
        // 10,000 logins spread over 60 phases, none empty or crowded.
        let mut per_second = [0u32; 60];
        for n in 0..10_000 {
            let phase = phase_millis(&format!("channel_{n}"), MINUTE);
            assert_eq!(phase % 1000, 0);
            per_second[usize::try_from(phase / 1000).unwrap()] += 1;
        }
        assert!(per_second.iter().all(|&n| (100..=250).contains(&n)), "{per_second:?}");
        assert_eq!(phase_millis("same", MINUTE), phase_millis("same", MINUTE));
    }

    #[test]
    fn instances_agree_on_the_slot_for_the_same_moment() {
        let interval = Duration::from_secs(30);
        let t = 1_764_000_012_345;
        assert_eq!(RaffleSlot::containing(t, interval), RaffleSlot::containing(t, interval));
        assert_eq!(RaffleSlot::containing(t, interval).start_millis(interval) % 30_000, 0);
    }
}
