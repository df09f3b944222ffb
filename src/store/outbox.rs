//! The `outbox` table: announcements waiting for Discord (SPEC §6).
//!
//! Rows are written in the same transaction as what they announce, so an
//! announcement exists if and only if its raffle does. The delivery worker
//! (`crate::delivery`) claims due rows with [`claim_due`] inside a
//! transaction, sends them, and records the outcome with [`mark_sent`],
//! [`reschedule`] or [`mark_failed`] before committing. The dashboard reads
//! [`latest_for_raffles`] and [`list_failed`].

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::{FromSql, Type};

use super::{Error, Queryable};
use crate::announce::render::Announcement;

/// Queues an announcement; `raffle_id` is `None` for notices. A raffle is
/// announced at most once: a second enqueue for the same raffle returns the
/// existing row's id.
///
/// # Errors
///
/// Database errors, or an announcement that cannot be serialised.
pub async fn enqueue(db: &impl Queryable, raffle_id: Option<i64>, announcement: &Announcement) -> Result<i64, Error> {
    let payload = serde_json::to_value(announcement).map_err(|e| Error::Config(format!("announcement: {e}")))?;
    let rows = db
        .query_rows(
            "WITH inserted AS (
                 INSERT INTO outbox (raffle_id, payload) VALUES ($1, $2)
                 ON CONFLICT (raffle_id) DO NOTHING
                 RETURNING id)
             SELECT id FROM inserted
             UNION ALL
             SELECT id FROM outbox WHERE raffle_id = $1
             LIMIT 1",
            &[&raffle_id, &payload],
        )
        .await?;
    rows.first()
        .map(|row| row.get(0))
        .ok_or_else(|| Error::Config("outbox row vanished while being queued".into()))
}

/// Where an outbox row stands; serialises as in the JSON API (`"sent"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting to be sent (possibly retrying after an error).
    Pending,
    /// Delivered (to Discord, or printed when no webhook is configured).
    Sent,
    /// Given up: Discord rejected it (see `last_error`).
    Failed,
}

impl DeliveryStatus {
    /// The value stored in `outbox.status` and shown by the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// The inverse of [`DeliveryStatus::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl<'a> FromSql<'a> for DeliveryStatus {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let text = <&str as FromSql>::from_sql(ty, raw)?;
        Self::parse(text).ok_or_else(|| format!("unknown outbox status {text:?}").into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A row taken by [`claim_due`]; locked until the claiming transaction ends.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRow {
    /// `outbox.id`.
    pub id: i64,
    /// The raffle announced; `None` for notices.
    pub raffle_id: Option<i64>,
    /// The stored [`Announcement`], as JSON.
    pub payload: serde_json::Value,
    /// Failed attempts so far (429s are not counted).
    pub attempts: i32,
}

/// Delivery state of one raffle's announcement, for the dashboard and
/// `/api/raffles` (`"delivery": {"status": …, "error": …}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    /// Pending, sent or failed.
    pub status: DeliveryStatus,
    /// Why it failed, or the last error while it is still retrying; `None`
    /// once sent.
    pub error: Option<String>,
    /// Failed attempts so far (429s are not counted).
    pub attempts: i32,
    /// Discord's message id, once sent to a webhook.
    pub discord_message_id: Option<String>,
    /// When it was sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Claims the oldest due pending row for `lease`: sets `claimed_until` and
/// returns the row, in one statement that commits on its own. The inner
/// `FOR UPDATE SKIP LOCKED` makes concurrent claimers take different rows;
/// the committed lease keeps the row away from every other worker until the
/// outcome is recorded or the lease expires (a worker that died mid-send).
///
/// # Errors
///
/// Database errors.
pub async fn claim_due(db: &impl Queryable, lease: Duration) -> Result<Option<ClaimedRow>, Error> {
    let seconds = lease.as_secs_f64();
    let rows = db
        .query_rows(
            "UPDATE outbox SET claimed_until = clock_timestamp() + make_interval(secs => $1::float8)
             WHERE id = (
                 SELECT id FROM outbox
                 WHERE status = 'pending' AND next_attempt_at <= now()
                   AND (claimed_until IS NULL OR claimed_until < clock_timestamp())
                 ORDER BY next_attempt_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, raffle_id, payload, attempts",
            &[&seconds],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    Ok(Some(ClaimedRow {
        id: row.try_get("id")?,
        raffle_id: row.try_get("raffle_id")?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
    }))
}

/// How long until the earliest pending row is due (zero if one is due now);
/// `None` when nothing is pending.
///
/// # Errors
///
/// Database errors.
pub async fn next_due_in(db: &impl Queryable) -> Result<Option<Duration>, Error> {
    let rows = db
        .query_rows(
            "SELECT GREATEST(EXTRACT(EPOCH FROM
                        GREATEST(next_attempt_at, COALESCE(claimed_until, next_attempt_at)) - clock_timestamp()), 0)::float8
             FROM outbox WHERE status = 'pending'
             ORDER BY GREATEST(next_attempt_at, COALESCE(claimed_until, next_attempt_at)) LIMIT 1",
            &[],
        )
        .await?;
    let seconds: Option<f64> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    Ok(seconds.map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)))
}

/// Records a successful delivery: status `sent`, `sent_at` now, the Discord
/// message id (if any), and clears `last_error`.
///
/// # Errors
///
/// Database errors.
pub async fn mark_sent(db: &impl Queryable, id: i64, discord_message_id: Option<&str>) -> Result<(), Error> {
    db.query_rows(
        "UPDATE outbox
         SET status = 'sent', sent_at = clock_timestamp(), discord_message_id = $2, last_error = NULL,
             claimed_until = NULL
         WHERE id = $1",
        &[&id, &discord_message_id],
    )
    .await?;
    Ok(())
}

/// Gives up on a row: status `failed`, one more attempt, and the reason.
///
/// # Errors
///
/// Database errors.
pub async fn mark_failed(db: &impl Queryable, id: i64, reason: &str) -> Result<(), Error> {
    db.query_rows(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2, claimed_until = NULL
         WHERE id = $1",
        &[&id, &reason],
    )
    .await?;
    Ok(())
}

/// Keeps a row pending and makes it due again after `delay`, recording
/// `error`. `count_attempt` is false for rate limits, which are not failures.
///
/// # Errors
///
/// Database errors.
pub async fn reschedule(
    db: &impl Queryable,
    id: i64,
    delay: Duration,
    error: &str,
    count_attempt: bool,
) -> Result<(), Error> {
    let seconds = delay.as_secs_f64();
    db.query_rows(
        "UPDATE outbox
         SET attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END,
             next_attempt_at = clock_timestamp() + make_interval(secs => $3),
             last_error = $2,
             claimed_until = NULL
         WHERE id = $1",
        &[&id, &error, &seconds, &count_attempt],
    )
    .await?;
    Ok(())
}

/// The delivery state of each given raffle's announcement (a raffle has at
/// most one outbox row); raffles without a row are absent from the map.
///
/// # Errors
///
/// Database errors.
pub async fn latest_for_raffles(db: &impl Queryable, raffle_ids: &[i64]) -> Result<HashMap<i64, DeliveryState>, Error> {
    let rows = db
        .query_rows(
            "SELECT raffle_id, status, last_error, attempts, discord_message_id, sent_at
             FROM outbox WHERE raffle_id = ANY($1)",
            &[&raffle_ids],
        )
        .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for row in rows {
        states.insert(
            row.try_get("raffle_id")?,
            DeliveryState {
                status: row.try_get("status")?,
                error: row.try_get("last_error")?,
                attempts: row.try_get("attempts")?,
                discord_message_id: row.try_get("discord_message_id")?,
                sent_at: row.try_get("sent_at")?,
            },
        );
    }
    Ok(states)
}

/// A row Discord rejected, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    /// `outbox.id`.
    pub id: i64,
    /// The raffle announced; `None` for notices.
    pub raffle_id: Option<i64>,
    /// Why it failed (status and Discord's reason).
    pub error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// The newest failed rows, newest first, at most `limit`.
///
/// # Errors
///
/// Database errors.
pub async fn list_failed(db: &impl Queryable, limit: i64) -> Result<Vec<FailedRow>, Error> {
    let rows = db
        .query_rows(
            "SELECT id, raffle_id, last_error, created_at FROM outbox
             WHERE status = 'failed' ORDER BY created_at DESC, id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(FailedRow {
                id: row.try_get("id")?,
                raffle_id: row.try_get("raffle_id")?,
                error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trips_and_matches_the_json_api() {
        for status in [DeliveryStatus::Pending, DeliveryStatus::Sent, DeliveryStatus::Failed] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).expect("serialises"),
                serde_json::json!(status.as_str())
            );
        }
        assert_eq!(DeliveryStatus::parse("delivered"), None);
    }
}
