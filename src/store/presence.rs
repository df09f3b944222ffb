//! The `presence` table (SPEC §4, §9): one row per (channel, viewer).
//!
//! Writes come in batches from the presence tracker: one statement per chunk
//! upserts every merged row (UNNEST arrays + `ON CONFLICT DO UPDATE`), and
//! one more applies the batch's bans when it has any. Rows are sent sorted by
//! key so that two instances flushing overlapping batches lock rows in the
//! same order and cannot deadlock.
//!
//! The ban rule of `crate::presence::batch` lives here in SQL: the upsert clears a
//! ban when the new `last_seen` is later than `banned_at`, and a ban is only
//! applied when it is later than the row's `last_seen` and its previous ban.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Error, Queryable, Store, channels};
use crate::channel::ChannelLogin;
use crate::presence::batch::{BanLength, BanUpdate, PresenceBatch, PresenceRow, RowRef};

/// Channel ids already known, by login: kept by the caller across batches
/// so that a flush does not look them up again.
pub(crate) type ChannelIds = HashMap<ChannelLogin, i64>;

/// What one [`Store::write_presence`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PresenceWrite {
    /// Presence rows upserted.
    pub(crate) rows: usize,
    /// Bans and timeouts applied.
    pub(crate) bans: usize,
}

/// Most presence rows sent in one statement. A flush of more viewers sends
/// several statements in one transaction, so the parameters in memory stay
/// bounded however many viewers a flush carries.
pub(crate) const PRESENCE_WRITE_CHUNK: usize = 2_000;

/// The rows of a chunk, built from the batch's compact form.
fn built(chunk: &[(i64, RowRef<'_>)]) -> Vec<(i64, PresenceRow)> {
    chunk.iter().map(|(id, row)| (*id, row.to_row())).collect()
}

impl Store {
    /// Writes a merged batch: the channel identities it learned, a row per
    /// viewer, and its bans. Rows and bans are written together or not at
    /// all, so a retry never sees half a batch. `channel_ids` caches the
    /// ids of channels across calls.
    ///
    /// # Errors
    ///
    /// Database errors; the batch can be retried whole.
    pub(crate) async fn write_presence(
        &self,
        batch: &PresenceBatch,
        channel_ids: &mut ChannelIds,
    ) -> Result<PresenceWrite, Error> {
        let mut client = self.pool.get().await?;
        for (channel, twitch_user_id) in batch.identities() {
            let record = channels::record_identity(&client, channel, twitch_user_id, None).await?;
            channel_ids.insert(channel.clone(), record.id);
        }
        for channel in batch.channels() {
            if !channel_ids.contains_key(channel) {
                let record = channels::ensure(&client, channel).await?;
                channel_ids.insert(channel.clone(), record.id);
            }
        }
        let id_of = |channel: &ChannelLogin| {
            channel_ids.get(channel).copied().ok_or_else(|| Error::Vanished {
                what: format!("channel {channel}"),
            })
        };
        // Sorted by key: two instances flushing overlapping batches lock
        // rows in the same order. Only references are held for the whole
        // batch; rows are built and sent a chunk at a time, so a flush's
        // memory beyond the batch is bounded by the chunk (issue 19 item 3).
        let mut rows = batch
            .row_refs()
            .map(|row| Ok((id_of(row.channel())?, row)))
            .collect::<Result<Vec<_>, Error>>()?;
        rows.sort_unstable_by(|a, b| (a.0, a.1.user_id()).cmp(&(b.0, b.1.user_id())));
        let bans = batch
            .bans()
            .map(|ban| Ok((id_of(&ban.channel)?, ban)))
            .collect::<Result<Vec<_>, Error>>()?;
        if bans.is_empty() && rows.len() <= PRESENCE_WRITE_CHUNK {
            upsert_batch(&client, &built(&rows)).await?;
        } else {
            // One transaction: a retry after a failure never counts a
            // chunk's messages twice.
            let transaction = client.transaction().await?;
            for chunk in rows.chunks(PRESENCE_WRITE_CHUNK) {
                upsert_batch(&transaction, &built(chunk)).await?;
            }
            apply_bans(&transaction, &bans).await?;
            transaction.commit().await?;
        }
        Ok(PresenceWrite {
            rows: rows.len(),
            bans: bans.len(),
        })
    }
}

/// Upserts merged rows in one statement; `channel_ids` gives each row's
/// `channels.id` in the same order as `rows`. Returns the number of rows
/// written.
///
/// `last_seen` only moves forward, `first_seen` only backward,
/// `message_count` adds up, and login, display name and flags follow the
/// latest message.
///
/// # Errors
///
/// Database errors; nothing is written then.
async fn upsert_batch(db: &impl Queryable, rows: &[(i64, PresenceRow)]) -> Result<usize, Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let sorted = rows;
    let channel_ids: Vec<i64> = sorted.iter().map(|(id, _)| *id).collect();
    let user_ids: Vec<&str> = sorted.iter().map(|(_, r)| r.user_id.as_str()).collect();
    let logins: Vec<&str> = sorted.iter().map(|(_, r)| r.login.as_str()).collect();
    let names: Vec<&str> = sorted.iter().map(|(_, r)| r.display_name.as_str()).collect();
    let subscriber: Vec<bool> = sorted.iter().map(|(_, r)| r.is_subscriber).collect();
    let vip: Vec<bool> = sorted.iter().map(|(_, r)| r.is_vip).collect();
    let moderator: Vec<bool> = sorted.iter().map(|(_, r)| r.is_moderator).collect();
    let broadcaster: Vec<bool> = sorted.iter().map(|(_, r)| r.is_broadcaster).collect();
    let first_seen: Vec<DateTime<Utc>> = sorted.iter().map(|(_, r)| r.first_seen).collect();
    let last_seen: Vec<DateTime<Utc>> = sorted.iter().map(|(_, r)| r.last_seen).collect();
    let counts: Vec<i64> = sorted.iter().map(|(_, r)| r.message_count).collect();
    db.query_rows(
        "INSERT INTO presence AS p (channel_id, user_id, login, display_name, is_subscriber, is_vip,
                                    is_moderator, is_broadcaster, first_seen, last_seen, message_count)
         SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
                              $7::bool[], $8::bool[], $9::timestamptz[], $10::timestamptz[], $11::bigint[])
         ON CONFLICT (channel_id, user_id) DO UPDATE SET
             login          = CASE WHEN EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.login ELSE p.login END,
             display_name   = CASE WHEN EXCLUDED.last_seen >= p.last_seen
                                   THEN EXCLUDED.display_name ELSE p.display_name END,
             is_subscriber  = CASE WHEN EXCLUDED.last_seen >= p.last_seen
                                   THEN EXCLUDED.is_subscriber ELSE p.is_subscriber END,
             is_vip         = CASE WHEN EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.is_vip ELSE p.is_vip END,
             is_moderator   = CASE WHEN EXCLUDED.last_seen >= p.last_seen
                                   THEN EXCLUDED.is_moderator ELSE p.is_moderator END,
             is_broadcaster = CASE WHEN EXCLUDED.last_seen >= p.last_seen
                                   THEN EXCLUDED.is_broadcaster ELSE p.is_broadcaster END,
             first_seen     = LEAST(p.first_seen, EXCLUDED.first_seen),
             last_seen      = GREATEST(p.last_seen, EXCLUDED.last_seen),
             message_count  = p.message_count + EXCLUDED.message_count,
             -- A message makes a lurker from Get Chatters a chatter (issue 18).
             source         = 'chat',
             -- A message after the latest ban proves it was lifted (module doc).
             banned_until   = CASE WHEN p.banned_at IS NOT NULL AND EXCLUDED.last_seen > p.banned_at
                                   THEN NULL ELSE p.banned_until END,
             banned_at      = CASE WHEN p.banned_at IS NOT NULL AND EXCLUDED.last_seen > p.banned_at
                                   THEN NULL ELSE p.banned_at END",
        &[
            &channel_ids,
            &user_ids,
            &logins,
            &names,
            &subscriber,
            &vip,
            &moderator,
            &broadcaster,
            &first_seen,
            &last_seen,
            &counts,
        ],
    )
    .await?;
    Ok(rows.len())
}

/// Applies bans and timeouts in one statement; `bans` pairs each with its
/// `channels.id`. A ban older than the viewer's latest message or latest
/// ban is ignored (the viewer chatted since, so it was lifted). A viewer
/// with no presence row has nothing to be excluded from and is skipped.
///
/// # Errors
///
/// Database errors.
async fn apply_bans(db: &impl Queryable, bans: &[(i64, &BanUpdate)]) -> Result<(), Error> {
    if bans.is_empty() {
        return Ok(());
    }
    let channel_ids: Vec<i64> = bans.iter().map(|(id, _)| *id).collect();
    let user_ids: Vec<&str> = bans.iter().map(|(_, b)| b.user_id.as_str()).collect();
    let at: Vec<DateTime<Utc>> = bans.iter().map(|(_, b)| b.at).collect();
    // NULL in this array stands for a permanent ban ('infinity'), which
    // chrono cannot represent.
    let until: Vec<Option<DateTime<Utc>>> = bans
        .iter()
        .map(|(_, b)| match b.length {
            BanLength::Permanent => None,
            BanLength::Until(until) => Some(until),
        })
        .collect();
    db.query_rows(
        "UPDATE presence AS p
         SET banned_until = COALESCE(b.until, 'infinity'::timestamptz), banned_at = b.at
         FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[])
              AS b(channel_id, user_id, at, until)
         WHERE p.channel_id = b.channel_id AND p.user_id = b.user_id
           AND p.last_seen <= b.at
           AND (p.banned_at IS NULL OR p.banned_at <= b.at)",
        &[&channel_ids, &user_ids, &at, &until],
    )
    .await?;
    Ok(())
}
