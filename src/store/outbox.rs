//! The `outbox` table: announcements waiting for Discord (SPEC §6) and
//! lines waiting for Twitch chat (SPEC §11), told apart by `kind`.
//!
//! Both destinations share the committed-lease design below; each worker
//! claims only its own kind. A raffle is told at most once per kind and
//! event (`win`, `claimed`, `unclaimed`), by a unique index.
//!
//! Rows are written in the same transaction as what they announce (by
//! [`super::RoundTransaction::enqueue`] and
//! [`super::TokenTransaction::flag_needs_reauth`]), so an announcement
//! exists if and only if its raffle or its cause does. The delivery worker
//! (`crate::announce::delivery`) claims due rows with
//! [`Store::claim_due_announcement`], sends them without holding a lock or
//! a connection, and records the outcome with [`Store::mark_sent`],
//! [`Store::reschedule`] or [`Store::mark_failed`]. The dashboard reads
//! each raffle's delivery state with its record.

use std::time::Duration;

use super::{Error, Queryable, Store, get, get_word};
use crate::announce::chat_line::QueuedChatLine;
use crate::announce::{Announcement, DeliveryFailure, DeliveryStatus, OutboxEvent, OutboxKind};

/// Queues an announcement; `raffle_id` is `None` for notices. A raffle is
/// announced at most once: a second enqueue for the same raffle returns the
/// existing row's id.
///
/// # Errors
///
/// Database errors, or an announcement that cannot be serialised.
pub(super) async fn enqueue(
    db: &impl Queryable,
    raffle_id: Option<i64>,
    announcement: &Announcement,
) -> Result<i64, Error> {
    let payload = serde_json::to_value(announcement).map_err(|source| Error::Encode {
        what: "an announcement",
        source,
    })?;
    let id = insert(db, raffle_id, OutboxKind::Discord, announcement.event(), payload, false).await?;
    id.ok_or_else(|| Error::Vanished {
        what: format!("the outbox row of raffle {raffle_id:?}"),
    })
}

/// Queues a chat line, only while a bot account can speak (otherwise the
/// bot stays silent and nothing is queued: a line said hours later, once
/// an account is connected, would be wrong). Returns the row's id, the
/// existing row's for an event already queued, or `None` when nothing was
/// queued.
///
/// # Errors
///
/// Database errors, or a line that cannot be serialised.
pub(super) async fn enqueue_chat(db: &impl Queryable, line: &QueuedChatLine) -> Result<Option<i64>, Error> {
    let payload = serde_json::to_value(line).map_err(|source| Error::Encode {
        what: "a chat line",
        source,
    })?;
    insert(
        db,
        line.message.raffle_id(),
        OutboxKind::TwitchChat,
        line.message.event(),
        payload,
        true,
    )
    .await
}

/// Inserts an outbox row; with `needs_bot`, only while a bot account can speak.
async fn insert(
    db: &impl Queryable,
    raffle_id: Option<i64>,
    kind: OutboxKind,
    event: OutboxEvent,
    mut payload: serde_json::Value,
    needs_bot: bool,
) -> Result<Option<i64>, Error> {
    // jsonb refuses `\u0000`; a NUL from a server (Twitch's refusal
    // message in a notice) must not make the row fail to store forever.
    crate::text::strip_nul_json(&mut payload);
    let rows = db
        .query_rows(
            "WITH inserted AS (
                 INSERT INTO outbox (raffle_id, payload, kind, event)
                 SELECT $1::bigint, $2::jsonb, $3::text, $4::text
                 WHERE NOT $5::boolean OR EXISTS (SELECT 1 FROM bot_account WHERE NOT needs_reauth)
                 ON CONFLICT (raffle_id, kind, event) WHERE raffle_id IS NOT NULL DO NOTHING
                 RETURNING id)
             SELECT id FROM inserted
             UNION ALL
             SELECT id FROM outbox WHERE raffle_id = $1::bigint AND kind = $3::text AND event = $4::text
             LIMIT 1",
            &[&raffle_id, &payload, &kind.as_str(), &event.as_str(), &needs_bot],
        )
        .await?;
    rows.first().map(|row| get(row, "id")).transpose()
}

/// A row taken by [`Store::claim_due_announcement`]: no other worker takes
/// it until its outcome is recorded or its lease runs out.
#[derive(Debug)]
pub struct ClaimedAnnouncement {
    /// `outbox.id`.
    pub(crate) id: i64,
    /// The raffle announced; `None` for notices.
    pub raffle_id: Option<i64>,
    /// Failed attempts so far (429s are not counted).
    pub(crate) attempts: i32,
    /// The stored announcement, or why this build cannot read it (such a
    /// row can only be set aside: retrying cannot make it readable).
    pub(crate) announcement: Result<Announcement, serde_json::Error>,
}

/// A chat line taken by [`Store::claim_due_chat_line`], leased as
/// [`ClaimedAnnouncement`] is.
#[derive(Debug)]
pub struct ClaimedChatLine {
    /// `outbox.id`.
    pub(crate) id: i64,
    /// The raffle told about; `None` for replies.
    pub raffle_id: Option<i64>,
    /// Failed attempts so far (rate limits are not counted).
    pub(crate) attempts: i32,
    /// The stored line, or why this build cannot read it.
    pub(crate) line: Result<QueuedChatLine, serde_json::Error>,
}

/// Claims the oldest due pending row of `kind` for `lease`, of the
/// channels with these `logins` (`None`: of every channel).
async fn claim_due(
    db: &impl Queryable,
    kind: OutboxKind,
    lease: Duration,
    logins: Option<&[String]>,
) -> Result<Option<tokio_postgres::Row>, Error> {
    let rows = db
        .query_rows(
            "UPDATE outbox SET claimed_until = clock_timestamp() + make_interval(secs => $1::float8)
             WHERE id = (
                 SELECT id FROM outbox
                 WHERE status = $2 AND kind = $3 AND next_attempt_at <= now()
                   AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                   AND ($4::text[] IS NULL OR payload->>'channel_login' = ANY($4::text[]))
                 ORDER BY next_attempt_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, raffle_id, payload, attempts",
            &[
                &lease.as_secs_f64(),
                &DeliveryStatus::Pending.as_str(),
                &kind.as_str(),
                &logins,
            ],
        )
        .await?;
    Ok(rows.into_iter().next())
}

/// How long until the earliest pending row of `kind` is due.
async fn next_due_in(db: &impl Queryable, kind: OutboxKind) -> Result<Option<Duration>, Error> {
    let rows = db
        .query_rows(
            "SELECT GREATEST(EXTRACT(EPOCH FROM
                        GREATEST(next_attempt_at, COALESCE(claimed_until, next_attempt_at))
                        - clock_timestamp()), 0)::float8 AS due_in
             FROM outbox WHERE status = $1 AND kind = $2
             ORDER BY GREATEST(next_attempt_at, COALESCE(claimed_until, next_attempt_at)) LIMIT 1",
            &[&DeliveryStatus::Pending.as_str(), &kind.as_str()],
        )
        .await?;
    let seconds: Option<f64> = match rows.first() {
        Some(row) => get(row, "due_in")?,
        None => None,
    };
    Ok(seconds.map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)))
}

/// An outbox row [`Store::resend_failed`] put back to pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResentDelivery {
    /// `outbox.id`.
    pub id: i64,
    /// Where it goes.
    pub kind: OutboxKind,
    /// What it tells.
    pub event: OutboxEvent,
}

impl Store {
    /// Puts the failed outbox rows of a raffle (both kinds, every event)
    /// back to pending and due now, with a fresh count of attempts, so the
    /// workers send them again; returns them, oldest first. Only `failed`
    /// rows change: a row that was sent is never reset, so nothing is sent
    /// twice through this.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn resend_failed(&self, raffle_id: i64) -> Result<Vec<ResentDelivery>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "UPDATE outbox
                 SET status = $2, failure = NULL, attempts = 0, next_attempt_at = clock_timestamp(),
                     claimed_until = NULL
                 WHERE raffle_id = $1 AND status = $3
                 RETURNING id, kind, event",
                &[
                    &raffle_id,
                    &DeliveryStatus::Pending.as_str(),
                    &DeliveryStatus::Failed.as_str(),
                ],
            )
            .await?;
        let mut resent = rows
            .iter()
            .map(|row| {
                Ok(ResentDelivery {
                    id: get(row, "id")?,
                    kind: get_word(row, "kind")?,
                    event: get_word(row, "event")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        resent.sort_by_key(|row| row.id);
        Ok(resent)
    }

    /// Claims the oldest due pending chat line of the channels with these
    /// logins (those this instance serves, so that one instance keeps each
    /// channel's rate window; `None`: every channel) for `lease` (see [`Store::claim_due_announcement`]).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn claim_due_chat_line(
        &self,
        lease: Duration,
        logins: Option<&[String]>,
    ) -> Result<Option<ClaimedChatLine>, Error> {
        let client = self.pool.get().await?;
        let Some(row) = claim_due(&client, OutboxKind::TwitchChat, lease, logins).await? else {
            return Ok(None);
        };
        Ok(Some(ClaimedChatLine {
            id: get(&row, "id")?,
            raffle_id: get(&row, "raffle_id")?,
            attempts: get(&row, "attempts")?,
            line: serde_json::from_value(get(&row, "payload")?),
        }))
    }

    /// How long until the earliest pending chat line is due.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn next_chat_line_due_in(&self) -> Result<Option<Duration>, Error> {
        next_due_in(&self.pool.get().await?, OutboxKind::TwitchChat).await
    }

    /// Records a chat line Twitch showed: `sent`, with Twitch's message id.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_chat_sent(&self, id: i64, twitch_message_id: &str) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE outbox
                 SET status = $3, sent_at = clock_timestamp(), twitch_message_id = $2, last_error = NULL,
                     claimed_until = NULL
                 WHERE id = $1",
                &[&id, &twitch_message_id, &DeliveryStatus::Sent.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Claims the oldest due pending row for `lease`: sets `claimed_until`
    /// and returns the row, in one statement that commits on its own. The
    /// inner `FOR UPDATE SKIP LOCKED` makes concurrent claimers take
    /// different rows; the committed lease keeps the row away from every
    /// other worker until the outcome is recorded or the lease expires (a
    /// worker that died mid-send).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn claim_due_announcement(&self, lease: Duration) -> Result<Option<ClaimedAnnouncement>, Error> {
        let client = self.pool.get().await?;
        let Some(row) = claim_due(&client, OutboxKind::Discord, lease, None).await? else {
            return Ok(None);
        };
        Ok(Some(ClaimedAnnouncement {
            id: get(&row, "id")?,
            raffle_id: get(&row, "raffle_id")?,
            attempts: get(&row, "attempts")?,
            announcement: serde_json::from_value(get(&row, "payload")?),
        }))
    }

    /// How long until the earliest pending row is due (zero if one is due
    /// now); `None` when nothing is pending.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn next_announcement_due_in(&self) -> Result<Option<Duration>, Error> {
        next_due_in(&self.pool.get().await?, OutboxKind::Discord).await
    }

    /// Records a successful delivery: status `sent`, `sent_at` now, the
    /// Discord message id (if any), and clears `last_error`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_sent(&self, id: i64, discord_message_id: Option<&str>) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE outbox
                 SET status = $3, sent_at = clock_timestamp(), discord_message_id = $2, last_error = NULL,
                     claimed_until = NULL
                 WHERE id = $1",
                &[&id, &discord_message_id, &DeliveryStatus::Sent.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Gives up on a row: status `failed` with its `failure`, one more
    /// attempt, and the reason.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_failed(&self, id: i64, failure: DeliveryFailure, reason: &str) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE outbox SET status = $3, failure = $4, attempts = attempts + 1, last_error = $2,
                        claimed_until = NULL
                 WHERE id = $1",
                &[&id, &reason, &DeliveryStatus::Failed.as_str(), &failure.as_str()],
            )
            .await?;
        Ok(())
    }

    /// Keeps a row pending and makes it due again after `delay`, recording
    /// `error`. `count_attempt` is false for rate limits, which are not
    /// failures.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn reschedule(
        &self,
        id: i64,
        delay: Duration,
        error: &str,
        count_attempt: bool,
    ) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE outbox
                 SET attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END,
                     next_attempt_at = clock_timestamp() + make_interval(secs => $3),
                     last_error = $2,
                     claimed_until = NULL
                 WHERE id = $1",
                &[&id, &error, &delay.as_secs_f64(), &count_attempt],
            )
            .await?;
        Ok(())
    }
}
