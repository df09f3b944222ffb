//! The `sessions` table: dashboard sign-ins (SPEC §13). Only the SHA-256
//! of a session token is stored, so a copy of the database signs nobody in.

use chrono::{DateTime, Utc};

use super::channels::{self, ChannelRecord};
use super::{Error, Queryable, Store, get};

/// A live session: who is signed in, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    /// The broadcaster's channel.
    pub(crate) channel: ChannelRecord,
    /// When it ends.
    pub(crate) expires_at: DateTime<Utc>,
}

/// Most sessions kept per channel; signing in beyond drops the oldest.
pub(crate) const MAX_SESSIONS_PER_CHANNEL: i64 = 20;

async fn insert(
    db: &impl Queryable,
    token_hash: &[u8; 32],
    channel_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    db.query_rows("DELETE FROM sessions WHERE expires_at <= now()", &[])
        .await?;
    db.query_rows(
        "INSERT INTO sessions (token_hash, channel_id, expires_at) VALUES ($1, $2, $3)",
        &[&token_hash.as_slice(), &channel_id, &expires_at],
    )
    .await?;
    db.query_rows(
        "DELETE FROM sessions WHERE channel_id = $1 AND token_hash NOT IN (
             SELECT token_hash FROM sessions WHERE channel_id = $1
             ORDER BY created_at DESC, expires_at DESC LIMIT $2)",
        &[&channel_id, &MAX_SESSIONS_PER_CHANNEL],
    )
    .await?;
    Ok(())
}

async fn find(db: &impl Queryable, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, Error> {
    let rows = db
        .query_rows(
            "SELECT c.id, c.twitch_user_id, c.login, c.display_name, c.paused, c.needs_reauth, s.expires_at
             FROM sessions s JOIN channels c ON c.id = s.channel_id
             WHERE s.token_hash = $1 AND s.expires_at > now()",
            &[&token_hash.as_slice()],
        )
        .await?;
    rows.first()
        .map(|row| {
            Ok(SessionRecord {
                channel: channels::from_row(row)?,
                expires_at: get(row, "expires_at")?,
            })
        })
        .transpose()
}

impl Store {
    /// Records a new session for `channel_id` (its token's SHA-256),
    /// forgetting expired ones and the channel's oldest beyond
    /// [`MAX_SESSIONS_PER_CHANNEL`], in one transaction.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn insert_session(
        &self,
        token_hash: &[u8; 32],
        channel_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        insert(&transaction, token_hash, channel_id, expires_at).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The live session with this token hash, if any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn find_session(&self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>, Error> {
        find(&self.pool.get().await?, token_hash).await
    }

    /// Ends a session; returns whether it existed.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, Error> {
        let rows = self
            .pool
            .get()
            .await?
            .query_rows(
                "DELETE FROM sessions WHERE token_hash = $1 RETURNING channel_id",
                &[&token_hash.as_slice()],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Ends every session of a channel (its account was disconnected).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn delete_sessions_of(&self, channel_id: i64) -> Result<u64, Error> {
        let rows = self
            .pool
            .get()
            .await?
            .query_rows("DELETE FROM sessions WHERE channel_id = $1 RETURNING 1", &[&channel_id])
            .await?;
        Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
    }
}
