//! Read-only queries for the dashboard and `/api/status` (SPEC §8, §9):
//! every channel with its connection state and active viewer count, in one
//! statement so a page refresh costs one round trip.

use std::time::Duration;

use super::channels::ChannelRecord;
use super::{Error, Queryable};

/// A channel as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOverview {
    /// The `channels` row.
    pub channel: ChannelRecord,
    /// Tokens are stored for it (the streamer connected their account).
    pub has_tokens: bool,
    /// Presence rows seen within the active window and not banned or timed out now.
    pub active_viewers: i64,
}

/// Every channel in the database, by login, with its connection state and
/// active viewers (seen within `active_window`, not banned or timed out).
///
/// # Errors
///
/// Database errors.
pub async fn channel_overview(db: &impl Queryable, active_window: Duration) -> Result<Vec<ChannelOverview>, Error> {
    let window = active_window.as_secs_f64();
    let rows = db
        .query_rows(
            "SELECT c.id, c.twitch_user_id, c.login, c.display_name, c.paused, c.needs_reauth,
                    EXISTS (SELECT 1 FROM twitch_tokens t WHERE t.channel_id = c.id),
                    (SELECT count(*) FROM presence p
                     WHERE p.channel_id = c.id
                       AND p.last_seen > now() - make_interval(secs => $1::float8)
                       AND (p.banned_until IS NULL OR p.banned_until <= now()))
             FROM channels c ORDER BY c.login",
            &[&window],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(ChannelOverview {
                channel: ChannelRecord {
                    id: row.try_get(0)?,
                    twitch_user_id: row.try_get(1)?,
                    login: row.try_get(2)?,
                    display_name: row.try_get(3)?,
                    paused: row.try_get(4)?,
                    needs_reauth: row.try_get(5)?,
                },
                has_tokens: row.try_get(6)?,
                active_viewers: row.try_get(7)?,
            })
        })
        .collect()
}

/// Active viewers of one channel (seen within `active_window`, not banned
/// or timed out now), counted as in [`channel_overview`].
///
/// # Errors
///
/// Database errors.
pub async fn active_viewers(db: &impl Queryable, channel_login: &str, active_window: Duration) -> Result<i64, Error> {
    let rows = db
        .query_rows(
            "SELECT count(*) FROM presence p JOIN channels c ON c.id = p.channel_id
             WHERE c.login = $1
               AND p.last_seen > now() - make_interval(secs => $2::float8)
               AND (p.banned_until IS NULL OR p.banned_until <= now())",
            &[&channel_login, &active_window.as_secs_f64()],
        )
        .await?;
    Ok(rows.first().map_or(Ok(0), |row| row.try_get(0))?)
}
