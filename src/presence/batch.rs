//! Presence (SPEC §4): who chatted where, merged in memory before it is
//! written.
//!
//! A [`PresenceUpdate`] is what one PRIVMSG says about its sender; a
//! [`BanUpdate`] is what one CLEARCHAT says about its target. A
//! `PresenceBatch` deduplicates them per (channel, user) so that a flush
//! writes one row per viewer however many messages they sent: `last_seen` is
//! the latest, `first_seen` the earliest, `message_count` the sum, and login,
//! display name and flags come from the latest message. Its size grows with
//! distinct viewers, never with messages. No I/O and no clock here: the chat
//! listener stamps updates with the time it received them.
//!
//! # Bans and unbans
//!
//! Twitch tells readers about bans and timeouts (CLEARCHAT) but sends nothing
//! when a moderator lifts one. What we can observe is that a banned or timed
//! out user cannot chat: a message received *after* a ban proves the ban was
//! lifted. So the rule, applied in SQL by `store::presence` (and held to in
//! memory by this module's tests), is: a user is banned while their latest ban is later
//! than their latest message. Timeouts also end by themselves at
//! `banned_until`. Both halves of the rule compare times, so the result does
//! not depend on the order in which a batch's messages and bans are written.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};

use crate::channel::ChannelLogin;

/// Something the chat said that presence cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceEvent {
    /// A PRIVMSG: the sender is active.
    Message(PresenceUpdate),
    /// A CLEARCHAT for a user: ban or timeout.
    Ban(BanUpdate),
    /// A ROOMSTATE: the channel's Twitch user id.
    ChannelIdentity {
        /// Channel login.
        channel: ChannelLogin,
        /// Broadcaster's Twitch user id (ROOMSTATE `room-id`).
        twitch_user_id: String,
    },
}

/// What one chat message tells us about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceUpdate {
    /// Channel the message was sent in.
    pub channel: ChannelLogin,
    /// Sender's Twitch user id.
    pub user_id: String,
    /// Sender's login (lowercase).
    pub login: String,
    /// Sender's display name (may be non-ASCII).
    pub display_name: String,
    /// Subscriber (or founder) badge or tag.
    pub is_subscriber: bool,
    /// VIP badge or tag.
    pub is_vip: bool,
    /// Moderator (or lead moderator) badge or tag.
    pub is_moderator: bool,
    /// The channel's owner.
    pub is_broadcaster: bool,
    /// When the listener received the message.
    pub seen_at: DateTime<Utc>,
}

impl PresenceUpdate {
    /// Whether this sender may use `!raffle` commands (SPEC §4).
    pub(crate) fn may_command(&self) -> bool {
        self.is_broadcaster || self.is_moderator
    }
}

/// How long a CLEARCHAT keeps a user out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BanLength {
    /// Banned until unbanned (stored as `banned_until = 'infinity'`).
    Permanent,
    /// Timed out until this instant.
    Until(DateTime<Utc>),
}

/// What one CLEARCHAT for a user tells us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanUpdate {
    /// Channel the user was banned in.
    pub(crate) channel: ChannelLogin,
    /// Banned user's Twitch id.
    pub(crate) user_id: String,
    /// Banned user's login.
    pub(crate) login: String,
    /// When the listener received the CLEARCHAT.
    pub(crate) at: DateTime<Utc>,
    /// For how long.
    pub(crate) length: BanLength,
}

/// One viewer's merged presence, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresenceRow {
    /// Channel.
    pub(crate) channel: ChannelLogin,
    /// Twitch user id.
    pub(crate) user_id: String,
    /// Login from the latest message.
    pub(crate) login: String,
    /// Display name from the latest message.
    pub(crate) display_name: String,
    /// Flags from the latest message.
    pub(crate) is_subscriber: bool,
    /// See [`PresenceUpdate::is_vip`].
    pub(crate) is_vip: bool,
    /// See [`PresenceUpdate::is_moderator`].
    pub(crate) is_moderator: bool,
    /// See [`PresenceUpdate::is_broadcaster`].
    pub(crate) is_broadcaster: bool,
    /// Earliest message merged in.
    pub(crate) first_seen: DateTime<Utc>,
    /// Latest message merged in.
    pub(crate) last_seen: DateTime<Utc>,
    /// Number of messages merged in (at least 1).
    pub(crate) message_count: i64,
}

impl PresenceRow {
    fn from_update(update: PresenceUpdate) -> Self {
        Self {
            channel: update.channel,
            user_id: update.user_id,
            login: update.login,
            display_name: update.display_name,
            is_subscriber: update.is_subscriber,
            is_vip: update.is_vip,
            is_moderator: update.is_moderator,
            is_broadcaster: update.is_broadcaster,
            first_seen: update.seen_at,
            last_seen: update.seen_at,
            message_count: 1,
        }
    }

    /// Merges another row for the same (channel, user). Order-independent
    /// except for ties on `last_seen`, where `other` wins.
    fn merge(&mut self, other: Self) {
        if other.last_seen >= self.last_seen {
            self.login = other.login;
            self.display_name = other.display_name;
            self.is_subscriber = other.is_subscriber;
            self.is_vip = other.is_vip;
            self.is_moderator = other.is_moderator;
            self.is_broadcaster = other.is_broadcaster;
            self.last_seen = other.last_seen;
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.message_count = self.message_count.saturating_add(other.message_count);
    }
}

/// Key of a batch entry: channel and Twitch user id.
pub(crate) type PresenceKey = (ChannelLogin, String);

/// What happened to an update offered to a full batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// Merged into an existing entry or added as a new one.
    Kept,
    /// Dropped: the batch already holds its limit of distinct viewers and
    /// this is a new one.
    Dropped,
}

/// Presence and bans waiting to be written, deduplicated per viewer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PresenceBatch {
    rows: HashMap<PresenceKey, PresenceRow>,
    bans: HashMap<PresenceKey, BanUpdate>,
    identities: HashMap<ChannelLogin, String>,
}

impl PresenceBatch {
    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Number of distinct (channel, viewer) entries, presence and bans.
    pub(crate) fn len(&self) -> usize {
        self.rows.len() + self.bans.len()
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.bans.is_empty() && self.identities.is_empty()
    }

    /// Merges a chat message. A viewer not yet in the batch is only added
    /// while the batch holds fewer than `limit` entries, which bounds memory
    /// by distinct viewers during a long database outage.
    pub(crate) fn record_message(&mut self, update: PresenceUpdate, limit: usize) -> Recorded {
        let full = self.len() >= limit;
        match self.rows.entry((update.channel.clone(), update.user_id.clone())) {
            Entry::Occupied(mut entry) => entry.get_mut().merge(PresenceRow::from_update(update)),
            Entry::Vacant(_) if full => return Recorded::Dropped,
            Entry::Vacant(entry) => {
                entry.insert(PresenceRow::from_update(update));
            }
        }
        Recorded::Kept
    }

    /// Merges a ban or timeout; the latest one per viewer wins. Bans are
    /// never dropped for space: they are rare and they matter.
    pub(crate) fn record_ban(&mut self, ban: BanUpdate) {
        match self.bans.entry((ban.channel.clone(), ban.user_id.clone())) {
            Entry::Occupied(mut entry) => {
                if ban.at >= entry.get().at {
                    entry.insert(ban);
                }
            }
            Entry::Vacant(entry) => {
                entry.insert(ban);
            }
        }
    }

    /// Remembers a channel's Twitch user id (from ROOMSTATE).
    pub(crate) fn record_identity(&mut self, channel: ChannelLogin, twitch_user_id: String) {
        self.identities.insert(channel, twitch_user_id);
    }

    /// Merges another batch into this one (a failed flush put back), without
    /// a limit: its entries were admitted already.
    pub(crate) fn merge(&mut self, other: Self) {
        for (key, row) in other.rows {
            match self.rows.entry(key) {
                Entry::Occupied(mut entry) => {
                    // `entry` holds the newer data; merging is symmetric
                    // except for ties, where the newer entry should win.
                    let newer = std::mem::replace(entry.get_mut(), row);
                    entry.get_mut().merge(newer);
                }
                Entry::Vacant(entry) => {
                    entry.insert(row);
                }
            }
        }
        for ban in other.bans.into_values() {
            self.record_ban(ban);
        }
        for (channel, id) in other.identities {
            // Newer knowledge (already in self) wins.
            self.identities.entry(channel).or_insert(id);
        }
    }

    /// The merged presence rows.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &PresenceRow> {
        self.rows.values()
    }

    /// The latest ban per viewer.
    pub(crate) fn bans(&self) -> impl Iterator<Item = &BanUpdate> {
        self.bans.values()
    }

    /// Channel identities learned from ROOMSTATE.
    pub(crate) fn identities(&self) -> impl Iterator<Item = (&ChannelLogin, &String)> {
        self.identities.iter()
    }

    /// Every channel mentioned by a row or a ban.
    pub(crate) fn channels(&self) -> impl Iterator<Item = &ChannelLogin> {
        self.rows.keys().chain(self.bans.keys()).map(|(channel, _)| channel)
    }
}

// The in-memory reading of the ban rule, which the tests below hold the
// batch to; the product applies the same rule in SQL (`store::presence`).
#[cfg(test)]
impl PresenceBatch {
    /// Whether this viewer is banned according to this batch alone (the
    /// rule in the module doc): their latest ban is later than their latest
    /// message and has not run out at `now`.
    fn is_banned(&self, channel: &ChannelLogin, user_id: &str, now: DateTime<Utc>) -> bool {
        let key = (channel.clone(), user_id.to_owned());
        let Some(ban) = self.bans.get(&key) else {
            return false;
        };
        let chatted_after = self.rows.get(&key).is_some_and(|row| row.last_seen > ban.at);
        let expired = matches!(ban.length, BanLength::Until(until) if until <= now);
        !chatted_after && !expired
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + second, 0)
            .single()
            .expect("valid time")
    }

    fn channel() -> ChannelLogin {
        ChannelLogin::parse("pajlada").expect("valid")
    }

    fn update(user: &str, name: &str, second: i64) -> PresenceUpdate {
        PresenceUpdate {
            channel: channel(),
            user_id: user.to_owned(),
            login: name.to_lowercase(),
            display_name: name.to_owned(),
            is_subscriber: false,
            is_vip: false,
            is_moderator: false,
            is_broadcaster: false,
            seen_at: at(second),
        }
    }

    #[test]
    fn messages_from_one_viewer_merge_into_one_row() {
        let mut batch = PresenceBatch::new();
        batch.record_message(update("1", "Old", 5), 10);
        let mut subscribed = update("1", "New", 9);
        subscribed.is_subscriber = true;
        batch.record_message(subscribed, 10);
        // Arrives late but is older: counts, yet does not overwrite name or flags.
        batch.record_message(update("1", "Older", 1), 10);
        assert_eq!(
            batch.rows().cloned().collect::<Vec<_>>(),
            vec![PresenceRow {
                channel: channel(),
                user_id: "1".into(),
                login: "new".into(),
                display_name: "New".into(),
                is_subscriber: true,
                is_vip: false,
                is_moderator: false,
                is_broadcaster: false,
                first_seen: at(1),
                last_seen: at(9),
                message_count: 3,
            }]
        );
    }

    #[test]
    fn a_full_batch_drops_new_viewers_but_keeps_merging_known_ones() {
        let mut batch = PresenceBatch::new();
        assert_eq!(batch.record_message(update("1", "a", 1), 2), Recorded::Kept);
        assert_eq!(batch.record_message(update("2", "b", 1), 2), Recorded::Kept);
        assert_eq!(batch.record_message(update("3", "c", 1), 2), Recorded::Dropped);
        assert_eq!(batch.record_message(update("1", "a", 2), 2), Recorded::Kept);
        assert_eq!(batch.len(), 2);
        let counts: i64 = batch.rows().map(|r| r.message_count).sum();
        assert_eq!(counts, 3);
    }

    #[test]
    fn merging_a_failed_batch_back_keeps_every_message() {
        let mut failed = PresenceBatch::new();
        failed.record_message(update("1", "Before", 1), 10);
        failed.record_message(update("2", "Two", 2), 10);
        let mut pending = PresenceBatch::new();
        pending.record_message(update("1", "After", 3), 10);
        pending.merge(failed);
        let mut rows: Vec<_> = pending.rows().cloned().collect();
        rows.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].display_name.as_str(),
                rows[0].message_count,
                rows[0].first_seen,
                rows[0].last_seen
            ),
            ("After", 2, at(1), at(3))
        );
        assert_eq!(rows[1].message_count, 1);
    }

    #[test]
    fn a_message_after_a_ban_lifts_it_and_timeouts_expire() {
        let mut batch = PresenceBatch::new();
        batch.record_message(update("1", "a", 1), 10);
        batch.record_ban(BanUpdate {
            channel: channel(),
            user_id: "1".into(),
            login: "a".into(),
            at: at(2),
            length: BanLength::Permanent,
        });
        assert!(batch.is_banned(&channel(), "1", at(100)));
        batch.record_message(update("1", "a", 3), 10);
        assert!(
            !batch.is_banned(&channel(), "1", at(100)),
            "chatting again proves an unban"
        );

        batch.record_ban(BanUpdate {
            channel: channel(),
            user_id: "2".into(),
            login: "b".into(),
            at: at(10),
            length: BanLength::Until(at(70)),
        });
        assert!(batch.is_banned(&channel(), "2", at(69)));
        assert!(!batch.is_banned(&channel(), "2", at(70)));
    }

    #[test]
    fn the_latest_ban_wins() {
        let mut batch = PresenceBatch::new();
        let ban = |second, length| BanUpdate {
            channel: channel(),
            user_id: "1".into(),
            login: "a".into(),
            at: at(second),
            length,
        };
        batch.record_ban(ban(5, BanLength::Permanent));
        batch.record_ban(ban(1, BanLength::Until(at(60))));
        assert_eq!(
            batch.bans().cloned().collect::<Vec<_>>(),
            vec![ban(5, BanLength::Permanent)]
        );
    }
}
