//! The `bot_account` table: the one Twitch account the bot speaks as in
//! chat (SPEC §11), with its tokens encrypted like `twitch_tokens`' (only
//! ciphertexts reach these functions).

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Error, Queryable, Store, get};

/// The stored bot account.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BotAccountRow {
    /// Twitch user id of the account (the `sender_id` of its messages).
    pub(crate) twitch_user_id: String,
    /// Its login.
    pub(crate) login: String,
    /// Its display name.
    pub(crate) display_name: String,
    /// Encrypted access token (nonce || ciphertext || tag).
    pub(crate) access_token: Vec<u8>,
    /// Encrypted refresh token.
    pub(crate) refresh_token: Vec<u8>,
    /// Scopes Twitch granted.
    pub(crate) scopes: Vec<String>,
    /// When the access token expires.
    pub(crate) expires_at: DateTime<Utc>,
    /// Last successful `/validate`.
    pub(crate) last_validated_at: Option<DateTime<Utc>>,
    /// Twitch refused the refresh token: the bot is silent until connected again.
    pub(crate) needs_reauth: bool,
    /// When it was connected.
    pub(crate) connected_at: DateTime<Utc>,
}

impl std::fmt::Debug for BotAccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotAccountRow")
            .field("twitch_user_id", &self.twitch_user_id)
            .field("login", &self.login)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("needs_reauth", &self.needs_reauth)
            .finish_non_exhaustive()
    }
}

/// A bot account to store (replacing any other).
#[derive(Clone, Copy)]
pub(crate) struct NewBotAccount<'a> {
    /// Twitch user id.
    pub(crate) twitch_user_id: &'a str,
    /// Login.
    pub(crate) login: &'a str,
    /// Display name.
    pub(crate) display_name: &'a str,
    /// Encrypted access token.
    pub(crate) access_token: &'a [u8],
    /// Encrypted refresh token.
    pub(crate) refresh_token: &'a [u8],
    /// Scopes granted.
    pub(crate) scopes: &'a [String],
    /// Expiry of the access token.
    pub(crate) expires_at: DateTime<Utc>,
    /// When it was last validated.
    pub(crate) validated_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "twitch_user_id, login, display_name, access_token, refresh_token, scopes, expires_at,
     last_validated_at, needs_reauth, connected_at";

fn from_row(row: &Row) -> Result<BotAccountRow, Error> {
    Ok(BotAccountRow {
        twitch_user_id: get(row, "twitch_user_id")?,
        login: get(row, "login")?,
        display_name: get(row, "display_name")?,
        access_token: get(row, "access_token")?,
        refresh_token: get(row, "refresh_token")?,
        scopes: get(row, "scopes")?,
        expires_at: get(row, "expires_at")?,
        last_validated_at: get(row, "last_validated_at")?,
        needs_reauth: get(row, "needs_reauth")?,
        connected_at: get(row, "connected_at")?,
    })
}

async fn select(db: &impl Queryable) -> Result<Option<BotAccountRow>, Error> {
    let rows = db
        .query_rows(&format!("SELECT {COLUMNS} FROM bot_account"), &[])
        .await?;
    rows.first().map(from_row).transpose()
}

impl Store {
    /// The connected bot account, if any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn bot_account(&self) -> Result<Option<BotAccountRow>, Error> {
        select(&self.pool.get().await?).await
    }

    /// Stores the bot account. With `replace` false, only when none is
    /// connected: returns false (and stores nothing) when one is, so two
    /// browsers finishing at once cannot both become the bot.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn save_bot_account(&self, account: NewBotAccount<'_>, replace: bool) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "INSERT INTO bot_account (twitch_user_id, login, display_name, access_token, refresh_token, scopes,
                                          expires_at, last_validated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (singleton) DO UPDATE
                 SET twitch_user_id = EXCLUDED.twitch_user_id, login = EXCLUDED.login,
                     display_name = EXCLUDED.display_name, access_token = EXCLUDED.access_token,
                     refresh_token = EXCLUDED.refresh_token, scopes = EXCLUDED.scopes,
                     expires_at = EXCLUDED.expires_at, last_validated_at = EXCLUDED.last_validated_at,
                     needs_reauth = false, connected_at = now(), updated_at = now()
                 WHERE $9 OR bot_account.needs_reauth
                    OR bot_account.twitch_user_id = EXCLUDED.twitch_user_id
                 RETURNING singleton",
                &[
                    &account.twitch_user_id,
                    &account.login,
                    &account.display_name,
                    &account.access_token,
                    &account.refresh_token,
                    &account.scopes,
                    &account.expires_at,
                    &account.validated_at,
                    &replace,
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Replaces the bot's tokens after a refresh (only if the account is
    /// still `twitch_user_id`: it may have been replaced meanwhile).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn update_bot_tokens(
        &self,
        twitch_user_id: &str,
        access_token: &[u8],
        refresh_token: &[u8],
        expires_at: DateTime<Utc>,
        validated_at: Option<DateTime<Utc>>,
    ) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE bot_account
                 SET access_token = $2, refresh_token = $3, expires_at = $4,
                     last_validated_at = COALESCE($5, last_validated_at), updated_at = now()
                 WHERE twitch_user_id = $1",
                &[
                    &twitch_user_id,
                    &access_token,
                    &refresh_token,
                    &expires_at,
                    &validated_at,
                ],
            )
            .await?;
        Ok(())
    }

    /// Records a successful `/validate` of the bot's token.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_bot_validated(&self, twitch_user_id: &str, at: DateTime<Utc>) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client
            .query_rows(
                "UPDATE bot_account SET last_validated_at = $2, updated_at = now() WHERE twitch_user_id = $1",
                &[&twitch_user_id, &at],
            )
            .await?;
        Ok(())
    }

    /// Marks the bot account as needing a new connection (Twitch refused
    /// its refresh token); returns whether it was not marked already.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn flag_bot_needs_reauth(&self, twitch_user_id: &str) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "UPDATE bot_account SET needs_reauth = true, updated_at = now()
                 WHERE twitch_user_id = $1 AND NOT needs_reauth RETURNING singleton",
                &[&twitch_user_id],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Forgets the bot account; returns it (to revoke its tokens), or
    /// `None` when none was connected.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn forget_bot_account(&self) -> Result<Option<BotAccountRow>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(&format!("DELETE FROM bot_account RETURNING {COLUMNS}"), &[])
            .await?;
        rows.first().map(from_row).transpose()
    }

    /// Whether the bot account is a moderator of this channel as far as
    /// chat told us (its `moderator` badge on its latest message there).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn bot_moderates(&self, channel_login: &str, bot_user_id: &str) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "SELECT EXISTS (
                     SELECT 1 FROM presence p JOIN channels c ON c.id = p.channel_id
                     WHERE c.login = $1 AND p.user_id = $2 AND (p.is_moderator OR p.is_broadcaster)) AS moderates",
                &[&channel_login, &bot_user_id],
            )
            .await?;
        match rows.first() {
            Some(row) => get(row, "moderates"),
            None => Ok(false),
        }
    }
}
