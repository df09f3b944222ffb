//! The `outbox` table: announcements waiting for Discord (SPEC §6).
//!
//! Rows are written in the same transaction as what they announce, so an
//! announcement exists if and only if its raffle does.

use super::{Error, Queryable};
use crate::domain::announcement::Announcement;

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
