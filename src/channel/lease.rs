//! Who serves which channel when several instances share one database
//! (SPEC §15). Pure: given the `instances` and `channel_leases` tables as
//! read at one moment (on the database's clock), [`plan`] says which
//! channels this instance takes and which it hands back. The lease task
//! (`crate::channel::leaser`) runs it every third of `CHANNEL_LEASE`.
//!
//! # The rule
//!
//! - Live instances are those whose heartbeat is younger than the lease;
//!   this instance always counts as live.
//! - Channels to serve: the ones this instance wants (its configured and
//!   connected channels) plus every channel someone holds a valid lease on.
//! - Every live instance's share is the same level `s`, capped by its own
//!   `MAX_CHANNELS`: the smallest `s` with `Σ min(cap, s) ≥ channels`, i.e.
//!   `ceil(channels / live instances)` when nobody is capped. A capped
//!   instance's leftover raises everyone else's share, so the channels are
//!   still all served if the others can take them.
//! - An instance above its share hands back the excess (channels it no
//!   longer wants first, then its highest ids); one below it takes free
//!   channels (no lease, or one whose time ran out) that it wants, in an
//!   order of its own so that two instances taking at once mostly pick
//!   different channels (the database settles any collision: one take
//!   wins).
//!
//! Holding fewer than the share is stable: channels only move when someone
//! is above their share (a newcomer lowers everyone's share) or free.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

/// A row of `instances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceRow {
    /// `INSTANCE_ID`.
    pub(crate) id: String,
    /// Its `MAX_CHANNELS`; `None` is unlimited.
    pub(crate) max_channels: Option<u32>,
    /// Its last heartbeat.
    pub(crate) heartbeat: DateTime<Utc>,
}

/// A row of `channel_leases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseRow {
    /// `channels.id`.
    pub(crate) channel_id: i64,
    /// The holder.
    pub(crate) instance_id: String,
    /// Held until then (database clock).
    pub(crate) lease_until: DateTime<Utc>,
}

/// Both tables as read at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaseTable {
    /// The database's clock when the rows were read.
    pub(crate) now: DateTime<Utc>,
    /// Every row of `instances`.
    pub(crate) instances: Vec<InstanceRow>,
    /// Every row of `channel_leases`.
    pub(crate) leases: Vec<LeaseRow>,
}

/// What one instance should do now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeasePlan {
    /// Channels to try to take (free now).
    pub(crate) take: Vec<i64>,
    /// Channels to hand back.
    pub(crate) release: Vec<i64>,
    /// This instance's share of the channels.
    pub(crate) share: usize,
    /// Live instances counted (this one included).
    pub(crate) live_instances: usize,
}

/// This instance, as [`plan`] needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Me<'a> {
    /// `INSTANCE_ID`.
    pub(crate) id: &'a str,
    /// `MAX_CHANNELS`.
    pub(crate) max_channels: Option<u32>,
    /// `CHANNEL_LEASE`: a heartbeat older than this is a dead instance.
    pub(crate) lease: chrono::Duration,
}

/// Decides what `me` takes and hands back; see the module doc.
pub(crate) fn plan(me: Me<'_>, wanted: &BTreeSet<i64>, table: &LeaseTable) -> LeasePlan {
    let now = table.now;
    let live_since = now.checked_sub_signed(me.lease).unwrap_or(DateTime::<Utc>::MIN_UTC);
    // Caps of the live instances, this one included with its current cap.
    let mut caps: BTreeMap<&str, Option<u32>> = table
        .instances
        .iter()
        .filter(|instance| instance.heartbeat > live_since && instance.id != me.id)
        .map(|instance| (instance.id.as_str(), instance.max_channels))
        .collect();
    caps.insert(me.id, me.max_channels);
    let valid: Vec<&LeaseRow> = table.leases.iter().filter(|lease| lease.lease_until > now).collect();
    let held_by_others: BTreeSet<i64> = valid
        .iter()
        .filter(|lease| lease.instance_id != me.id)
        .map(|lease| lease.channel_id)
        .collect();
    let mine: BTreeSet<i64> = valid
        .iter()
        .filter(|lease| lease.instance_id == me.id)
        .map(|lease| lease.channel_id)
        .collect();
    let mut channels: BTreeSet<i64> = wanted.clone();
    channels.extend(valid.iter().map(|lease| lease.channel_id));
    let level = share_level(channels.len(), caps.values().copied());
    let share = me.max_channels.map_or(level, |cap| level.min(cap_usize(cap)));

    // Unwanted channels go back first, whatever the share.
    let mut release: Vec<i64> = mine.iter().copied().filter(|id| !wanted.contains(id)).collect();
    let kept: Vec<i64> = mine.iter().copied().filter(|id| wanted.contains(id)).collect();
    let mut take = Vec::new();
    if kept.len() > share {
        // Keep the lowest ids; hand back the rest.
        release.extend(kept.iter().skip(share).copied());
    } else {
        let room = share.saturating_sub(kept.len());
        let mut free: Vec<i64> = wanted
            .iter()
            .copied()
            .filter(|id| !held_by_others.contains(id) && !mine.contains(id))
            .collect();
        free.sort_by_key(|id| spread(*id, me.id));
        take = free.into_iter().take(room).collect();
        take.sort_unstable();
    }
    LeasePlan {
        take,
        release,
        share,
        live_instances: caps.len(),
    }
}

fn cap_usize(cap: u32) -> usize {
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// The smallest level `s` with `Σ min(cap, s) ≥ channels` (uncapped
/// instances count as unlimited). When the caps cannot cover every channel,
/// the level is `channels` (everyone takes what their cap allows).
fn share_level(channels: usize, caps: impl Iterator<Item = Option<u32>>) -> usize {
    let mut caps: Vec<Option<usize>> = caps.map(|cap| cap.map(cap_usize)).collect();
    // Capped instances first, smallest cap first; uncapped last.
    caps.sort_by_key(|cap| cap.unwrap_or(usize::MAX));
    let mut remaining = channels;
    let mut left = caps.len();
    for cap in caps {
        if left == 0 {
            break;
        }
        let even = remaining.div_ceil(left);
        match cap {
            Some(cap) if cap < even => {
                remaining = remaining.saturating_sub(cap);
                left = left.saturating_sub(1);
            }
            _ => return even,
        }
    }
    channels
}

/// An order of the channels that differs per instance (splitmix64 of the
/// channel id mixed with the instance id's FNV-1a hash), so that instances
/// taking at once mostly try different channels.
fn spread(channel_id: i64, instance: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in instance.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = (channel_id as u64) ^ hash;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn me(id: &str) -> Me<'_> {
        Me {
            id,
            max_channels: None,
            lease: chrono::Duration::seconds(30),
        }
    }

    fn instance(id: &str, heartbeat: i64) -> InstanceRow {
        InstanceRow {
            id: id.into(),
            max_channels: None,
            heartbeat: at(heartbeat),
        }
    }

    fn lease(channel_id: i64, instance_id: &str, until: i64) -> LeaseRow {
        LeaseRow {
            channel_id,
            instance_id: instance_id.into(),
            lease_until: at(until),
        }
    }

    fn ids(range: std::ops::RangeInclusive<i64>) -> BTreeSet<i64> {
        range.collect()
    }

    #[test]
    fn a_lone_instance_takes_every_channel() {
        let table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0)],
            leases: vec![],
        };
        let plan = plan(me("a"), &ids(1..=5), &table);
        assert_eq!(
            plan,
            LeasePlan {
                take: vec![1, 2, 3, 4, 5],
                release: vec![],
                share: 5,
                live_instances: 1,
            }
        );
    }

    #[test]
    fn a_newcomer_lowers_the_share_and_the_holder_hands_back_its_highest_ids() {
        let table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0), instance("b", 0)],
            leases: (1..=6).map(|id| lease(id, "a", 20)).collect(),
        };
        let holder = plan(me("a"), &ids(1..=6), &table);
        assert_eq!((holder.take, holder.release, holder.share), (vec![], vec![4, 5, 6], 3));
        // The newcomer sees nothing free until they are handed back.
        let newcomer = plan(me("b"), &ids(1..=6), &table);
        assert_eq!((newcomer.take, newcomer.release, newcomer.share), (vec![], vec![], 3));
        let after = LeaseTable {
            leases: (1..=3).map(|id| lease(id, "a", 20)).collect(),
            ..table
        };
        assert_eq!(plan(me("b"), &ids(1..=6), &after).take, vec![4, 5, 6]);
    }

    #[test]
    fn three_instances_share_ceil_of_channels_over_instances() {
        let table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0), instance("b", 0), instance("c", 0)],
            leases: vec![],
        };
        for id in ["a", "b", "c"] {
            let plan = plan(me(id), &ids(1..=10), &table);
            assert_eq!(plan.share, 4, "{id}");
            assert_eq!(plan.take.len(), 4, "{id}");
            assert_eq!(plan.live_instances, 3);
        }
        // Different instances start from different channels.
        assert_ne!(
            plan(me("a"), &ids(1..=10), &table).take,
            plan(me("b"), &ids(1..=10), &table).take
        );
    }

    #[test]
    fn a_dead_instances_expired_leases_are_free_and_it_no_longer_counts() {
        let table = LeaseTable {
            now: at(100),
            // b's heartbeat is 40 s old with a 30 s lease: dead.
            instances: vec![instance("a", 99), instance("b", 60)],
            leases: vec![
                lease(1, "a", 120),
                lease(2, "a", 120),
                lease(3, "b", 90),
                lease(4, "b", 90),
            ],
        };
        let plan = plan(me("a"), &ids(1..=4), &table);
        assert_eq!(
            (plan.take, plan.release, plan.share, plan.live_instances),
            (vec![3, 4], vec![], 4, 1)
        );
    }

    #[test]
    fn a_valid_lease_is_respected_even_from_a_silent_instance() {
        let table = LeaseTable {
            now: at(100),
            instances: vec![instance("a", 100)],
            leases: vec![lease(1, "b", 101)],
        };
        let plan = plan(me("a"), &ids(1..=2), &table);
        assert_eq!(plan.take, vec![2]);
    }

    #[test]
    fn max_channels_caps_the_share_and_others_take_the_rest() {
        let capped = Me {
            max_channels: Some(1),
            ..me("a")
        };
        let mut table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0), instance("b", 0)],
            leases: vec![],
        };
        table.instances[0].max_channels = Some(1);
        assert_eq!(plan(capped, &ids(1..=10), &table).take.len(), 1);
        let other = plan(me("b"), &ids(1..=10), &table);
        assert_eq!(other.share, 9);
        assert_eq!(other.take.len(), 9);
        // An instance over its cap hands back the excess.
        table.leases = vec![lease(1, "a", 20), lease(2, "a", 20)];
        assert_eq!(plan(capped, &ids(1..=10), &table).release, vec![2]);
    }

    #[test]
    fn max_channels_zero_serves_nothing() {
        let none = Me {
            max_channels: Some(0),
            ..me("a")
        };
        let table = LeaseTable {
            now: at(0),
            instances: vec![],
            leases: vec![lease(3, "a", 10)],
        };
        let plan = plan(none, &ids(1..=3), &table);
        assert_eq!((plan.take, plan.release, plan.share), (vec![], vec![3], 0));
    }

    #[test]
    fn channels_no_longer_wanted_are_handed_back_first() {
        let table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0)],
            leases: vec![lease(1, "a", 10), lease(9, "a", 10)],
        };
        let plan = plan(me("a"), &ids(1..=2), &table);
        assert_eq!((plan.take, plan.release), (vec![2], vec![9]));
    }

    #[test]
    fn holding_less_than_the_share_with_nothing_free_is_stable() {
        // 10 channels, 3 instances, held 4/4/2: nobody moves.
        let mut leases: Vec<LeaseRow> = (1..=4).map(|id| lease(id, "a", 20)).collect();
        leases.extend((5..=8).map(|id| lease(id, "b", 20)));
        leases.extend((9..=10).map(|id| lease(id, "c", 20)));
        let table = LeaseTable {
            now: at(0),
            instances: vec![instance("a", 0), instance("b", 0), instance("c", 0)],
            leases,
        };
        for id in ["a", "b", "c"] {
            assert_eq!(
                plan(me(id), &ids(1..=10), &table),
                LeasePlan {
                    share: 4,
                    live_instances: 3,
                    ..LeasePlan::default()
                },
                "{id}"
            );
        }
    }

    #[test]
    fn share_levels_water_fill_around_caps() {
        assert_eq!(share_level(10, [None, None, None].into_iter()), 4);
        assert_eq!(share_level(10, [Some(1), None].into_iter()), 9);
        assert_eq!(share_level(10, [Some(2), Some(2)].into_iter()), 10);
        assert_eq!(share_level(0, [None].into_iter()), 0);
        assert_eq!(share_level(10_000, [None, None, None].into_iter()), 3334);
    }
}
