//! Read-only queries for the dashboard and `/api/status` (SPEC §8, §9):
//! every channel with its connection state and active viewer count, in one
//! statement so a page refresh costs one round trip.

use std::time::Duration;

use super::channels::{self, ChannelRecord};
use super::{Error, Queryable, Store, get};
use crate::channel::ChannelLogin;

/// A channel as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelOverview {
    /// The `channels` row.
    pub(crate) channel: ChannelRecord,
    /// Tokens are stored for it (the streamer connected their account).
    pub(crate) has_tokens: bool,
    /// Presence rows seen within the active window and not banned or timed out now.
    pub(crate) active_viewers: i64,
    /// Scopes the stored tokens carry (empty without tokens).
    pub(crate) token_scopes: Vec<String>,
}

impl Store {
    /// Every channel in the database, by login, with its connection state
    /// and active viewers (seen within `active_window`, not banned or timed
    /// out).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn channel_overview(&self, active_window: Duration) -> Result<Vec<ChannelOverview>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "SELECT c.id, c.twitch_user_id, c.login, c.display_name, c.paused, c.needs_reauth,
                        EXISTS (SELECT 1 FROM twitch_tokens t WHERE t.channel_id = c.id) AS has_tokens,
                        coalesce((SELECT t.scopes FROM twitch_tokens t WHERE t.channel_id = c.id), '{}')
                            AS token_scopes,
                        (SELECT count(*) FROM presence p
                         WHERE p.channel_id = c.id
                           AND p.last_seen > now() - make_interval(secs => $1::float8)
                           AND (p.banned_until IS NULL OR p.banned_until <= now())) AS active_viewers
                 FROM channels c ORDER BY c.login",
                &[&active_window.as_secs_f64()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ChannelOverview {
                    channel: channels::from_row(row)?,
                    has_tokens: get(row, "has_tokens")?,
                    active_viewers: get(row, "active_viewers")?,
                    token_scopes: get(row, "token_scopes")?,
                })
            })
            .collect()
    }

    /// Active viewers of one channel (seen within `active_window`, not
    /// banned or timed out now), counted as in [`Store::channel_overview`].
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn active_viewers(&self, channel: &ChannelLogin, active_window: Duration) -> Result<i64, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "SELECT count(*) AS active_viewers FROM presence p JOIN channels c ON c.id = p.channel_id
                 WHERE c.login = $1
                   AND p.last_seen > now() - make_interval(secs => $2::float8)
                   AND (p.banned_until IS NULL OR p.banned_until <= now())",
                &[&channel.as_str(), &active_window.as_secs_f64()],
            )
            .await?;
        match rows.first() {
            Some(row) => get(row, "active_viewers"),
            None => Ok(0),
        }
    }
}
