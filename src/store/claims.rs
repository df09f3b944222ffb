//! Claims and redraws (SPEC §11, §17): the `raffles.claim_*` and
//! `redraw_of` columns, and [`ClaimTransaction`], the unit of work that
//! settles one due claim.
//!
//! A win with a claim window is `pending` until its `claim_deadline`. It is
//! `claimed` when the winner's presence shows a message after the draw and
//! no later than the deadline (presence is written in batches, so the
//! sweeper settles a claim only a grace period after its deadline). Settling
//! takes the row with `FOR UPDATE SKIP LOCKED`, so two instances never
//! settle (or redraw) the same win, and `raffles.redraw_of` is unique as the
//! final guarantee. Everything a settlement does (the new status, the
//! redraw's row, the stock given back, the announcements) commits together.

use std::time::Duration;

use super::raffles::{Inserted, NewRaffle, insert};
use super::{Connection, Error, Queryable, Store, get, items, outbox};
use crate::announce::Announcement;
use crate::announce::chat_line::QueuedChatLine;
use crate::raffle::{ClaimStatus, Outcome, RedrawAudit};

/// A pending win whose deadline (plus grace) has passed, locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueClaim {
    /// `raffles.id`.
    pub(crate) raffle_id: i64,
    /// The channel.
    pub(crate) channel_id: i64,
    /// Its login.
    pub(crate) channel_login: String,
    /// Its display name.
    pub(crate) channel_display_name: String,
    /// The item won.
    pub(crate) item_name: String,
    /// The `items` row its unit came from (`None` for a row since deleted).
    pub(crate) item_id: Option<i64>,
    /// The winner's user id.
    pub(crate) winner_user_id: String,
    /// Login.
    pub(crate) winner_login: String,
    /// Display name.
    pub(crate) winner_display_name: String,
    /// The round's snapshot, in its storage form.
    pub(crate) candidates_json: String,
    /// Whether the winner chatted between the draw and the deadline.
    pub(crate) claimed: bool,
    /// Redraws before this one in its chain (0 for a first win).
    pub(crate) redraws_so_far: u32,
    /// User ids of the winners whose claims expired earlier in the chain.
    pub(crate) earlier_expired_winners: Vec<String>,
}

/// A pending win its winner has just claimed (before the deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClaimedWin {
    /// `raffles.id`.
    pub(crate) raffle_id: i64,
    /// The channel.
    pub(crate) channel_id: i64,
    /// Channel login.
    pub(crate) channel_login: String,
    /// Channel display name.
    pub(crate) channel_display_name: String,
    /// Item.
    pub(crate) item_name: String,
    /// Winner's login.
    pub(crate) winner_login: String,
    /// Winner's display name.
    pub(crate) winner_display_name: String,
}

/// One claim settlement as a unit of work; rolls back when dropped.
pub(crate) struct ClaimTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
}

impl std::fmt::Debug for ClaimTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimTransaction").finish_non_exhaustive()
    }
}

impl Connection {
    /// Begins settling claims.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn begin_claims(&mut self) -> Result<ClaimTransaction<'_>, Error> {
        Ok(ClaimTransaction {
            transaction: self.client.transaction().await?,
        })
    }
}

const PENDING: &str = "pending";

impl ClaimTransaction<'_> {
    /// Marks every pending win of the channels with these logins (those
    /// this instance serves) whose winner chatted in time `claimed`, and
    /// returns them (to announce). Chatting counts when the winner's
    /// presence was seen after the draw and no later than the deadline.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn claim_chatted_wins(&self, logins: &[String]) -> Result<Vec<ClaimedWin>, Error> {
        let rows = self
            .transaction
            .query_rows(
                "WITH due AS (
                     SELECT r.id FROM raffles r
                     JOIN presence p ON p.channel_id = r.channel_id AND p.user_id = r.winner_user_id
                     WHERE r.claim_status = $1 AND p.last_seen > r.created_at AND p.last_seen <= r.claim_deadline
                       AND r.channel_id IN (SELECT id FROM channels WHERE login = ANY($3::text[]))
                     FOR UPDATE OF r SKIP LOCKED)
                 UPDATE raffles r SET claim_status = $2
                 FROM due, channels c
                 WHERE r.id = due.id AND c.id = r.channel_id
                 RETURNING r.id, r.channel_id, c.login AS channel_login, c.display_name AS channel_display_name,
                           r.item_name, r.winner_login, r.winner_display_name",
                &[&PENDING, &ClaimStatus::Claimed.as_str(), &logins],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedWin {
                    raffle_id: get(row, "id")?,
                    channel_id: get(row, "channel_id")?,
                    channel_login: get(row, "channel_login")?,
                    channel_display_name: get(row, "channel_display_name")?,
                    item_name: get::<Option<String>>(row, "item_name")?.unwrap_or_default(),
                    winner_login: get::<Option<String>>(row, "winner_login")?.unwrap_or_default(),
                    winner_display_name: get::<Option<String>>(row, "winner_display_name")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Takes the oldest pending win of the channels with these logins whose
    /// deadline passed more than `grace` ago, locked for this transaction
    /// (other instances skip it).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn lock_due_claim(&self, grace: Duration, logins: &[String]) -> Result<Option<DueClaim>, Error> {
        let rows = self
            .transaction
            .query_rows(
                "WITH RECURSIVE due AS (
                     SELECT r.id FROM raffles r
                     WHERE r.claim_status = $1 AND r.claim_deadline + make_interval(secs => $2::float8) <= now()
                       AND r.channel_id IN (SELECT id FROM channels WHERE login = ANY($4::text[]))
                     ORDER BY r.claim_deadline, r.id
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED),
                 chain AS (
                     SELECT r.id, r.redraw_of, r.winner_user_id, r.claim_status, 0 AS depth
                     FROM raffles r JOIN due ON r.id = due.id
                     UNION ALL
                     SELECT r.id, r.redraw_of, r.winner_user_id, r.claim_status, chain.depth + 1
                     FROM raffles r JOIN chain ON r.id = chain.redraw_of
                     WHERE chain.depth < 100)
                 SELECT r.id, r.channel_id, c.login AS channel_login, c.display_name AS channel_display_name,
                        r.item_name, r.item_id, r.winner_user_id, r.winner_login, r.winner_display_name,
                        r.candidates::text AS candidates,
                        EXISTS (SELECT 1 FROM presence p
                                WHERE p.channel_id = r.channel_id AND p.user_id = r.winner_user_id
                                  AND p.last_seen > r.created_at AND p.last_seen <= r.claim_deadline) AS claimed,
                        (SELECT count(*) FROM chain WHERE depth > 0)::bigint AS redraws_so_far,
                        (SELECT coalesce(array_agg(winner_user_id), '{}') FROM chain
                         WHERE depth > 0 AND claim_status = $3 AND winner_user_id IS NOT NULL) AS earlier_expired
                 FROM raffles r JOIN due ON r.id = due.id JOIN channels c ON c.id = r.channel_id",
                &[&PENDING, &grace.as_secs_f64(), &ClaimStatus::Expired.as_str(), &logins],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(DueClaim {
            raffle_id: get(row, "id")?,
            channel_id: get(row, "channel_id")?,
            channel_login: get(row, "channel_login")?,
            channel_display_name: get(row, "channel_display_name")?,
            item_name: get::<Option<String>>(row, "item_name")?.unwrap_or_default(),
            item_id: get(row, "item_id")?,
            winner_user_id: get::<Option<String>>(row, "winner_user_id")?.unwrap_or_default(),
            winner_login: get::<Option<String>>(row, "winner_login")?.unwrap_or_default(),
            winner_display_name: get::<Option<String>>(row, "winner_display_name")?.unwrap_or_default(),
            candidates_json: get(row, "candidates")?,
            claimed: get(row, "claimed")?,
            redraws_so_far: u32::try_from(get::<i64>(row, "redraws_so_far")?).unwrap_or(u32::MAX),
            earlier_expired_winners: get(row, "earlier_expired")?,
        }))
    }

    /// Sets a locked win's claim status.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn set_claim_status(&self, raffle_id: i64, status: ClaimStatus) -> Result<(), Error> {
        self.transaction
            .query_rows(
                "UPDATE raffles SET claim_status = $2 WHERE id = $1",
                &[&raffle_id, &status.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Writes the redraw's raffle row (`None`: the expired win was redrawn
    /// already, by the unique `redraw_of`).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn insert_redraw(&self, raffle: &NewRaffle<'_>) -> Result<Option<Inserted>, Error> {
        insert(&self.transaction, raffle).await
    }

    /// Login and display name of a viewer in a channel.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn viewer_names(&self, channel_id: i64, user_id: &str) -> Result<Option<(String, String)>, Error> {
        super::raffles::viewer_names(&self.transaction, channel_id, user_id).await
    }

    /// Gives one unit back to the stock of the item row a win took it
    /// from: the list it came from, whichever that is (nothing for
    /// unlimited items).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn return_one(&self, item_id: i64) -> Result<(), Error> {
        items::return_one(&self.transaction, item_id).await
    }

    /// Queues a Discord announcement about a raffle.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn enqueue(&self, raffle_id: i64, announcement: &Announcement) -> Result<i64, Error> {
        outbox::enqueue(&self.transaction, Some(raffle_id), announcement).await
    }

    /// Queues a chat line (only while a bot account can speak).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn enqueue_chat(&self, line: &QueuedChatLine) -> Result<Option<i64>, Error> {
        outbox::enqueue_chat(&self.transaction, line).await
    }

    /// Commits the settlement.
    ///
    /// # Errors
    ///
    /// Database errors; nothing of it is kept then.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        Ok(self.transaction.commit().await?)
    }
}

impl Store {
    /// What `kinoyubot verify` checks a redraw of `parent` against: the
    /// parent's snapshot and every winner whose claim expired in the chain
    /// up to and including the parent. `None` when there is no such raffle.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn redraw_audit(&self, parent: i64) -> Result<Option<RedrawAudit>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "WITH RECURSIVE chain AS (
                     SELECT id, redraw_of, winner_user_id, claim_status, 0 AS depth FROM raffles WHERE id = $1
                     UNION ALL
                     SELECT r.id, r.redraw_of, r.winner_user_id, r.claim_status, chain.depth + 1
                     FROM raffles r JOIN chain ON r.id = chain.redraw_of
                     WHERE chain.depth < 100)
                 SELECT (SELECT candidates::text FROM raffles WHERE id = $1) AS candidates,
                        (SELECT coalesce(array_agg(winner_user_id), '{}') FROM chain
                         WHERE claim_status = $2 AND winner_user_id IS NOT NULL) AS expired",
                &[&parent, &ClaimStatus::Expired.as_str()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let Some(parent_candidates_json) = get::<Option<String>>(row, "candidates")? else {
            return Ok(None);
        };
        Ok(Some(RedrawAudit {
            parent_candidates_json,
            expired_winners: get(row, "expired")?,
        }))
    }
}

/// The outcome a redraw records: a winner, or nobody left.
pub(crate) fn redraw_outcome(won: bool) -> Outcome {
    if won { Outcome::Won } else { Outcome::NoCandidates }
}
