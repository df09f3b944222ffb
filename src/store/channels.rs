//! The `channels` table: one row per Twitch channel the bot has seen or
//! serves.

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Error, Queryable, Store, get};
use crate::channel::ChannelLogin;

/// A row of `channels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// Primary key.
    pub id: i64,
    /// Broadcaster's Twitch user id, once known.
    pub twitch_user_id: Option<String>,
    /// Lowercase login.
    pub(crate) login: String,
    /// Display name (the login until Twitch tells us better).
    pub(crate) display_name: String,
    /// Automatic raffles paused.
    pub(crate) paused: bool,
    /// The stored Twitch tokens were refused; the streamer must reconnect.
    pub(crate) needs_reauth: bool,
}

const COLUMNS: &str = "id, twitch_user_id, login, display_name, paused, needs_reauth";

/// Decodes the [`COLUMNS`] of a row (other columns may follow).
pub(super) fn from_row(row: &Row) -> Result<ChannelRecord, Error> {
    Ok(ChannelRecord {
        id: get(row, "id")?,
        twitch_user_id: get(row, "twitch_user_id")?,
        login: get(row, "login")?,
        display_name: get(row, "display_name")?,
        paused: get(row, "paused")?,
        needs_reauth: get(row, "needs_reauth")?,
    })
}

async fn one(db: &impl Queryable, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<ChannelRecord>, Error> {
    db.query_rows(sql, params).await?.first().map(from_row).transpose()
}

/// Inserts the channel if it is new and returns its row. An existing row is
/// returned unchanged.
///
/// # Errors
///
/// Database errors.
pub(super) async fn ensure(db: &impl Queryable, login: &ChannelLogin) -> Result<ChannelRecord, Error> {
    let sql = format!(
        "WITH inserted AS (
             INSERT INTO channels (login, display_name) VALUES ($1, $1)
             ON CONFLICT (login) DO NOTHING
             RETURNING {COLUMNS})
         SELECT {COLUMNS} FROM inserted
         UNION ALL
         SELECT {COLUMNS} FROM channels WHERE login = $1
         LIMIT 1"
    );
    if let Some(record) = one(db, &sql, &[&login.as_str()]).await? {
        return Ok(record);
    }
    // A concurrent insert of the same login committed after this
    // statement's snapshot was taken: our INSERT did nothing and our SELECT
    // could not see it yet. A new statement sees it.
    find_by_login(db, login).await?.ok_or_else(|| Error::Vanished {
        what: format!("channel {login}"),
    })
}

/// Records what Twitch told us about a channel (ROOMSTATE room-id, OAuth
/// validate, Helix): its user id and display name. A login that moved to
/// another user id (renamed accounts) takes the id over.
///
/// # Errors
///
/// Database errors.
pub(super) async fn record_identity(
    db: &impl Queryable,
    login: &ChannelLogin,
    twitch_user_id: &str,
    display_name: Option<&str>,
) -> Result<ChannelRecord, Error> {
    // Free the user id if another (stale) login row holds it.
    db.query_rows(
        "UPDATE channels SET twitch_user_id = NULL, updated_at = now()
         WHERE twitch_user_id = $1 AND login <> $2",
        &[&twitch_user_id, &login.as_str()],
    )
    .await?;
    let sql = format!(
        "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, COALESCE($3, $1), $2)
         ON CONFLICT (login) DO UPDATE
             SET twitch_user_id = EXCLUDED.twitch_user_id,
                 display_name = COALESCE($3, channels.display_name),
                 updated_at = now()
         RETURNING {COLUMNS}"
    );
    one(db, &sql, &[&login.as_str(), &twitch_user_id, &display_name])
        .await?
        .ok_or_else(|| Error::Vanished {
            what: format!("channel {login}"),
        })
}

/// The channel with this login, if any.
///
/// # Errors
///
/// Database errors.
pub(super) async fn find_by_login(db: &impl Queryable, login: &ChannelLogin) -> Result<Option<ChannelRecord>, Error> {
    one(
        db,
        &format!("SELECT {COLUMNS} FROM channels WHERE login = $1"),
        &[&login.as_str()],
    )
    .await
}

/// Channels whose streamer connected their Twitch account (tokens stored).
///
/// # Errors
///
/// Database errors.
async fn list_connected(db: &impl Queryable) -> Result<Vec<ChannelRecord>, Error> {
    let rows = db
        .query_rows(
            &format!(
                "SELECT {} FROM channels c JOIN twitch_tokens t ON t.channel_id = c.id ORDER BY c.login",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("c.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// Pauses or resumes automatic raffles; returns the updated row.
///
/// # Errors
///
/// Database errors.
async fn set_paused(db: &impl Queryable, login: &ChannelLogin, paused: bool) -> Result<Option<ChannelRecord>, Error> {
    one(
        db,
        &format!("UPDATE channels SET paused = $2, updated_at = now() WHERE login = $1 RETURNING {COLUMNS}"),
        &[&login.as_str(), &paused],
    )
    .await
}

/// Sets or clears `needs_reauth`; returns the updated row (`None`: no such
/// channel).
///
/// # Errors
///
/// Database errors.
pub(super) async fn set_needs_reauth(
    db: &impl Queryable,
    login: &ChannelLogin,
    needs_reauth: bool,
) -> Result<Option<ChannelRecord>, Error> {
    one(
        db,
        &format!("UPDATE channels SET needs_reauth = $2, updated_at = now() WHERE login = $1 RETURNING {COLUMNS}"),
        &[&login.as_str(), &needs_reauth],
    )
    .await
}

impl Store {
    /// Makes sure the channel has a row (an existing one is returned
    /// unchanged).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn ensure_channel(&self, login: &ChannelLogin) -> Result<ChannelRecord, Error> {
        ensure(&self.pool.get().await?, login).await
    }

    /// The channel with this login, if any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn find_channel(&self, login: &ChannelLogin) -> Result<Option<ChannelRecord>, Error> {
        find_by_login(&self.pool.get().await?, login).await
    }

    /// Channels whose streamer connected their Twitch account, by login.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn connected_channels(&self) -> Result<Vec<ChannelRecord>, Error> {
        list_connected(&self.pool.get().await?).await
    }

    /// Pauses or resumes automatic raffles; returns the updated row (`None`:
    /// no such channel).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn set_paused(&self, login: &ChannelLogin, paused: bool) -> Result<Option<ChannelRecord>, Error> {
        set_paused(&self.pool.get().await?, login, paused).await
    }
}
