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

impl PresenceEvent {
    /// The channel the event happened in.
    pub(crate) fn channel(&self) -> &ChannelLogin {
        match self {
            Self::Message(update) => &update.channel,
            Self::Ban(ban) => &ban.channel,
            Self::ChannelIdentity { channel, .. } => channel,
        }
    }
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

/// Key of a ban entry: channel and Twitch user id.
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

/// How much a batch may hold of new viewers (module doc of the tracker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limit {
    /// Distinct (channel, viewer) entries.
    pub(crate) entries: usize,
    /// Estimated bytes of memory ([`PresenceBatch::bytes`]).
    pub(crate) bytes: usize,
}

impl Limit {
    /// A limit on entries only.
    #[cfg(test)]
    pub(crate) fn entries(entries: usize) -> Self {
        Self {
            entries,
            bytes: usize::MAX,
        }
    }
}

/// Bookkeeping of a hash map entry beyond its key and value (control byte
/// and the free slots of the load factor), a rough figure.
const ENTRY_OVERHEAD: usize = 16;
/// What the allocator adds to each heap string (a rough figure).
const ALLOCATION_OVERHEAD: usize = 16;

/// A viewer's Twitch user id, stored without an allocation when it is the
/// canonical decimal number Twitch sends (the edge only lets numeric ids
/// through); anything else is kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum UserId {
    /// A decimal id without leading zeros.
    Number(u64),
    /// Any other id.
    Text(Box<str>),
}

impl UserId {
    fn new(id: String) -> Self {
        match id.parse::<u64>() {
            Ok(number) if number.to_string() == id => Self::Number(number),
            _ => Self::Text(id.into_boxed_str()),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Self::Number(_) => 0,
            Self::Text(text) => text.len().saturating_add(ALLOCATION_OVERHEAD),
        }
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// A row's key: the channel's index in the batch's channel table and the
/// viewer's id. 32 bytes, no allocation for numeric ids.
type RowKey = (u32, UserId);

const FLAG_SUBSCRIBER: u8 = 1;
const FLAG_VIP: u8 = 2;
const FLAG_MODERATOR: u8 = 4;
const FLAG_BROADCASTER: u8 = 8;

/// One viewer's merged presence as the batch keeps it: login and display
/// name share one allocation, flags share a byte (issue 19 item 3: at most
/// 400 bytes per buffered viewer).
#[derive(Debug, Clone, PartialEq, Eq)]
struct CompactRow {
    /// The login followed by the display name.
    names: Box<str>,
    /// Bytes of `names` that are the login.
    login_len: u32,
    flags: u8,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    message_count: i64,
}

impl CompactRow {
    fn from_update(update: &PresenceUpdate) -> Self {
        let mut names = String::with_capacity(update.login.len().saturating_add(update.display_name.len()));
        names.push_str(&update.login);
        names.push_str(&update.display_name);
        let mut flags = 0;
        for (set, flag) in [
            (update.is_subscriber, FLAG_SUBSCRIBER),
            (update.is_vip, FLAG_VIP),
            (update.is_moderator, FLAG_MODERATOR),
            (update.is_broadcaster, FLAG_BROADCASTER),
        ] {
            if set {
                flags |= flag;
            }
        }
        Self {
            names: names.into_boxed_str(),
            login_len: u32::try_from(update.login.len()).unwrap_or(u32::MAX),
            flags,
            first_seen: update.seen_at,
            last_seen: update.seen_at,
            message_count: 1,
        }
    }

    fn login(&self) -> &str {
        let split = usize::try_from(self.login_len)
            .unwrap_or(usize::MAX)
            .min(self.names.len());
        self.names.get(..split).unwrap_or_default()
    }

    fn display_name(&self) -> &str {
        let split = usize::try_from(self.login_len)
            .unwrap_or(usize::MAX)
            .min(self.names.len());
        self.names.get(split..).unwrap_or_default()
    }

    /// Merges another row for the same (channel, user). Order-independent
    /// except for ties on `last_seen`, where `other` wins.
    fn merge(&mut self, other: Self) {
        if other.last_seen >= self.last_seen {
            self.names = other.names;
            self.login_len = other.login_len;
            self.flags = other.flags;
            self.last_seen = other.last_seen;
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.message_count = self.message_count.saturating_add(other.message_count);
    }

    fn to_row(&self, channel: &ChannelLogin, user_id: &UserId) -> PresenceRow {
        PresenceRow {
            channel: channel.clone(),
            user_id: user_id.to_string(),
            login: self.login().to_owned(),
            display_name: self.display_name().to_owned(),
            is_subscriber: self.flags & FLAG_SUBSCRIBER != 0,
            is_vip: self.flags & FLAG_VIP != 0,
            is_moderator: self.flags & FLAG_MODERATOR != 0,
            is_broadcaster: self.flags & FLAG_BROADCASTER != 0,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            message_count: self.message_count,
        }
    }
}

fn row_bytes(user_id: &UserId, row: &CompactRow) -> usize {
    std::mem::size_of::<RowKey>()
        + std::mem::size_of::<CompactRow>()
        + ENTRY_OVERHEAD
        + user_id.heap_bytes()
        + row.names.len()
        + ALLOCATION_OVERHEAD
}

fn ban_bytes(ban: &BanUpdate) -> usize {
    std::mem::size_of::<PresenceKey>()
        + std::mem::size_of::<BanUpdate>()
        + ENTRY_OVERHEAD
        + 2 * (ban.channel.as_str().len() + ban.user_id.len())
        + ban.login.len()
}

fn identity_bytes(channel: &ChannelLogin, id: &str) -> usize {
    std::mem::size_of::<(ChannelLogin, String)>() + ENTRY_OVERHEAD + channel.as_str().len() + id.len()
}

/// The channels a batch's rows belong to, each stored once.
#[derive(Debug, Default, Clone)]
struct ChannelTable {
    logins: Vec<ChannelLogin>,
    index: HashMap<ChannelLogin, u32>,
}

impl ChannelTable {
    fn intern(&mut self, channel: &ChannelLogin) -> u32 {
        if let Some(index) = self.index.get(channel) {
            return *index;
        }
        let index = u32::try_from(self.logins.len()).unwrap_or(u32::MAX);
        self.logins.push(channel.clone());
        self.index.insert(channel.clone(), index);
        index
    }

    fn login(&self, index: u32) -> Option<&ChannelLogin> {
        self.logins.get(usize::try_from(index).ok()?)
    }
}

/// A borrowed row of a batch, turned into a [`PresenceRow`] only when it is
/// written (a chunk at a time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowRef<'a> {
    channel: &'a ChannelLogin,
    user_id: &'a UserId,
    row: &'a CompactRow,
}

impl RowRef<'_> {
    /// The channel.
    pub(crate) fn channel(&self) -> &ChannelLogin {
        self.channel
    }

    /// The viewer's id, for ordering writes.
    pub(crate) fn user_id(&self) -> &UserId {
        self.user_id
    }

    /// The row to write.
    pub(crate) fn to_row(self) -> PresenceRow {
        self.row.to_row(self.channel, self.user_id)
    }
}

/// Presence and bans waiting to be written, deduplicated per viewer.
#[derive(Debug, Default, Clone)]
pub(crate) struct PresenceBatch {
    channels: ChannelTable,
    rows: HashMap<RowKey, CompactRow>,
    bans: HashMap<PresenceKey, BanUpdate>,
    identities: HashMap<ChannelLogin, String>,
    /// Estimated heap and inline bytes of the above (strings by their
    /// length), kept up to date by every change.
    bytes: usize,
}

/// Equal when they would write the same rows, bans and identities (the
/// channel tables may number channels differently).
impl PartialEq for PresenceBatch {
    fn eq(&self, other: &Self) -> bool {
        let sorted = |batch: &Self| {
            let mut rows: Vec<PresenceRow> = batch.rows().collect();
            rows.sort_by(|a, b| (&a.channel, &a.user_id).cmp(&(&b.channel, &b.user_id)));
            rows
        };
        self.bytes == other.bytes
            && self.bans == other.bans
            && self.identities == other.identities
            && sorted(self) == sorted(other)
    }
}

impl Eq for PresenceBatch {}

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

    /// Estimated memory held, in bytes: strings by their length plus the
    /// fixed size of each entry (the ingest benchmark measures the RSS).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Merges a chat message. A viewer not yet in the batch is only added
    /// while the batch holds fewer than `limit.entries` entries and would
    /// stay within `limit.bytes`, which bounds memory by distinct viewers
    /// and by their size during a long database outage.
    pub(crate) fn record_message(&mut self, update: PresenceUpdate, limit: Limit) -> Recorded {
        let full = self.len() >= limit.entries;
        let row = CompactRow::from_update(&update);
        let channel = self.channels.intern(&update.channel);
        let user_id = UserId::new(update.user_id);
        let size = row_bytes(&user_id, &row);
        match self.rows.entry((channel, user_id)) {
            Entry::Occupied(mut entry) => {
                let before = row_bytes(&entry.key().1, entry.get());
                entry.get_mut().merge(row);
                let after = row_bytes(&entry.key().1, entry.get());
                self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
            }
            Entry::Vacant(_) if full => return Recorded::Dropped,
            Entry::Vacant(entry) => {
                if self.bytes.saturating_add(size) > limit.bytes {
                    return Recorded::Dropped;
                }
                entry.insert(row);
                self.bytes = self.bytes.saturating_add(size);
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
                    let before = ban_bytes(entry.get());
                    let after = ban_bytes(&ban);
                    entry.insert(ban);
                    self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
                }
            }
            Entry::Vacant(entry) => {
                self.bytes = self.bytes.saturating_add(ban_bytes(&ban));
                entry.insert(ban);
            }
        }
    }

    /// Remembers a channel's Twitch user id (from ROOMSTATE).
    pub(crate) fn record_identity(&mut self, channel: ChannelLogin, twitch_user_id: String) {
        let size = identity_bytes(&channel, &twitch_user_id);
        if let Some(old) = self.identities.insert(channel.clone(), twitch_user_id) {
            self.bytes = self.bytes.saturating_sub(identity_bytes(&channel, &old));
        }
        self.bytes = self.bytes.saturating_add(size);
    }

    /// Sets [`bytes`](Self::bytes) from the contents (after bulk changes).
    fn recount(&mut self) {
        let rows = self.rows.iter().map(|((_, user_id), row)| row_bytes(user_id, row));
        let bans = self.bans.values().map(ban_bytes);
        let identities = self.identities.iter().map(|(channel, id)| identity_bytes(channel, id));
        self.bytes = rows.chain(bans).chain(identities).fold(0, usize::saturating_add);
    }

    /// Adds a row of another batch, merging with an existing one (where
    /// the existing one is newer and wins ties).
    fn absorb_row(&mut self, channel: &ChannelLogin, user_id: UserId, row: CompactRow) {
        let index = self.channels.intern(channel);
        match self.rows.entry((index, user_id)) {
            Entry::Occupied(mut entry) => {
                let newer = std::mem::replace(entry.get_mut(), row);
                entry.get_mut().merge(newer);
            }
            Entry::Vacant(entry) => {
                entry.insert(row);
            }
        }
    }

    /// Merges another batch into this one (a failed flush put back), without
    /// a limit: its entries were admitted already.
    pub(crate) fn merge(&mut self, other: Self) {
        let Self {
            channels,
            rows,
            bans,
            identities,
            ..
        } = other;
        for ((index, user_id), row) in rows {
            if let Some(channel) = channels.login(index) {
                self.absorb_row(channel, user_id, row);
            }
        }
        for ban in bans.into_values() {
            self.record_ban(ban);
        }
        for (channel, id) in identities {
            // Newer knowledge (already in self) wins.
            self.identities.entry(channel).or_insert(id);
        }
        self.recount();
    }

    /// Number of things to write: rows, bans and channel identities.
    pub(crate) fn entries(&self) -> usize {
        self.rows.len() + self.bans.len() + self.identities.len()
    }

    /// Splits the batch into two of about half its [`entries`](Self::entries)
    /// each (the second may be empty), to find the rows a database refuses
    /// by bisection.
    pub(crate) fn split(self) -> (Self, Self) {
        let half = self.entries() / 2;
        let mut first = Self::new();
        let mut second = Self::new();
        let mut taken = 0usize;
        let Self {
            channels,
            rows,
            bans,
            identities,
            ..
        } = self;
        for ((index, user_id), row) in rows {
            let target = if taken < half { &mut first } else { &mut second };
            if let Some(channel) = channels.login(index) {
                target.absorb_row(channel, user_id, row);
            }
            taken += 1;
        }
        for (key, ban) in bans {
            let target = if taken < half { &mut first } else { &mut second };
            target.bans.insert(key, ban);
            taken += 1;
        }
        for (channel, id) in identities {
            let target = if taken < half { &mut first } else { &mut second };
            target.identities.insert(channel, id);
            taken += 1;
        }
        first.recount();
        second.recount();
        (first, second)
    }

    /// What a batch of one entry holds, for the log line when the database
    /// refuses it: channel and the viewer's id, or the identity's room id,
    /// each shortened to `max_chars`.
    pub(crate) fn describe(&self, max_chars: usize) -> String {
        let short = |text: &str| text.chars().take(max_chars).collect::<String>();
        let mut parts = Vec::new();
        for row in self.row_refs() {
            parts.push(format!(
                "presence of {:?} in {}",
                short(&row.user_id.to_string()),
                row.channel
            ));
        }
        for (channel, user_id) in self.bans.keys() {
            parts.push(format!("ban of {:?} in {channel}", short(user_id)));
        }
        for (channel, id) in &self.identities {
            parts.push(format!("room id {:?} of {channel}", short(id)));
        }
        parts.join(", ")
    }

    /// The merged presence rows, borrowed (see [`RowRef::to_row`]).
    pub(crate) fn row_refs(&self) -> impl Iterator<Item = RowRef<'_>> {
        self.rows.iter().filter_map(|((index, user_id), row)| {
            Some(RowRef {
                channel: self.channels.login(*index)?,
                user_id,
                row,
            })
        })
    }

    /// The merged presence rows, each built on the way.
    pub(crate) fn rows(&self) -> impl Iterator<Item = PresenceRow> + '_ {
        self.row_refs().map(|row| row.to_row())
    }

    /// When the oldest row was first seen.
    pub(crate) fn oldest_seen(&self) -> Option<DateTime<Utc>> {
        self.rows.values().map(|row| row.first_seen).min()
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
        self.channels
            .logins
            .iter()
            .chain(self.bans.keys().map(|(channel, _)| channel))
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
        let chatted_after = self
            .rows()
            .any(|row| &row.channel == channel && row.user_id == user_id && row.last_seen > ban.at);
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
        batch.record_message(update("1", "Old", 5), Limit::entries(10));
        let mut subscribed = update("1", "New", 9);
        subscribed.is_subscriber = true;
        batch.record_message(subscribed, Limit::entries(10));
        // Arrives late but is older: counts, yet does not overwrite name or flags.
        batch.record_message(update("1", "Older", 1), Limit::entries(10));
        assert_eq!(
            batch.rows().collect::<Vec<_>>(),
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
        assert_eq!(
            batch.record_message(update("1", "a", 1), Limit::entries(2)),
            Recorded::Kept
        );
        assert_eq!(
            batch.record_message(update("2", "b", 1), Limit::entries(2)),
            Recorded::Kept
        );
        assert_eq!(
            batch.record_message(update("3", "c", 1), Limit::entries(2)),
            Recorded::Dropped
        );
        assert_eq!(
            batch.record_message(update("1", "a", 2), Limit::entries(2)),
            Recorded::Kept
        );
        assert_eq!(batch.len(), 2);
        let counts: i64 = batch.rows().map(|r| r.message_count).sum();
        assert_eq!(counts, 3);
    }

    #[test]
    fn merging_a_failed_batch_back_keeps_every_message() {
        let mut failed = PresenceBatch::new();
        failed.record_message(update("1", "Before", 1), Limit::entries(10));
        failed.record_message(update("2", "Two", 2), Limit::entries(10));
        let mut pending = PresenceBatch::new();
        pending.record_message(update("1", "After", 3), Limit::entries(10));
        pending.merge(failed);
        let mut rows: Vec<_> = pending.rows().collect();
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
        batch.record_message(update("1", "a", 1), Limit::entries(10));
        batch.record_ban(BanUpdate {
            channel: channel(),
            user_id: "1".into(),
            login: "a".into(),
            at: at(2),
            length: BanLength::Permanent,
        });
        assert!(batch.is_banned(&channel(), "1", at(100)));
        batch.record_message(update("1", "a", 3), Limit::entries(10));
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

    fn joined_pair(batch: &PresenceBatch) -> PresenceBatch {
        let mut pair = PresenceBatch::new();
        for row in batch.row_refs().take(2) {
            pair.absorb_row(row.channel, row.user_id.clone(), row.row.clone());
        }
        pair
    }

    #[test]
    fn splitting_keeps_every_entry_once_and_halves_the_batch() {
        let mut batch = PresenceBatch::new();
        for user in 0..5 {
            batch.record_message(update(&user.to_string(), "v", 1), Limit::entries(100));
        }
        batch.record_ban(BanUpdate {
            channel: channel(),
            user_id: "9".into(),
            login: "nine".into(),
            at: at(2),
            length: BanLength::Permanent,
        });
        batch.record_identity(channel(), "123".into());
        assert_eq!(batch.entries(), 7);
        let (first, second) = batch.clone().split();
        assert_eq!((first.entries(), second.entries()), (3, 4));
        let mut joined = first;
        joined.merge(second);
        assert_eq!(joined, batch);
        // Two entries split into one each: bisection always makes progress.
        let (pair, _) = joined.split().0.split();
        assert_eq!(pair.entries(), 1);
        let (a, b) = joined_pair(&batch).split();
        assert_eq!((a.entries(), b.entries()), (1, 1));
    }

    #[test]
    fn a_batch_is_bounded_by_bytes_as_well_as_by_viewers() {
        let limit = Limit {
            entries: 1_000,
            bytes: 100_000,
        };
        let mut batch = PresenceBatch::new();
        let big = "N".repeat(10_000);
        let kept = (0..50)
            .filter(|user| batch.record_message(update(&user.to_string(), &big, 1), limit) == Recorded::Kept)
            .count();
        // Each row holds a 10 kB display name and a 10 kB login.
        assert_eq!(kept, 4, "five rows of 20 kB exceed 100 kB");
        assert!(batch.bytes() <= limit.bytes, "{}", batch.bytes());
        // Known viewers still merge; a small new viewer still fits.
        assert_eq!(batch.record_message(update("0", &big, 2), limit), Recorded::Kept);
        assert_eq!(batch.record_message(update("small", "s", 2), limit), Recorded::Kept);
        let counted = batch.bytes();
        batch.recount();
        assert_eq!(batch.bytes(), counted, "incremental count matches a recount");
    }

    #[test]
    fn byte_counts_follow_merges_bans_identities_and_splits() {
        let mut batch = PresenceBatch::new();
        batch.record_message(update("1", "short", 1), Limit::entries(10));
        batch.record_message(update("1", &"long".repeat(100), 2), Limit::entries(10));
        batch.record_message(update("2", "two", 1), Limit::entries(10));
        let ban = |second| BanUpdate {
            channel: channel(),
            user_id: "3".into(),
            login: "three".into(),
            at: at(second),
            length: BanLength::Permanent,
        };
        batch.record_ban(ban(1));
        batch.record_ban(ban(2));
        batch.record_identity(channel(), "12".into());
        batch.record_identity(channel(), "123456".into());
        let counted = batch.bytes();
        let mut recounted = batch.clone();
        recounted.recount();
        assert_eq!(counted, recounted.bytes());
        let (first, second) = batch.clone().split();
        assert_eq!(first.bytes() + second.bytes(), counted);
        let mut pending = PresenceBatch::new();
        pending.record_message(update("9", "nine", 3), Limit::entries(10));
        let nine = pending.bytes();
        pending.merge(batch);
        assert_eq!(pending.bytes(), counted + nine);
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
