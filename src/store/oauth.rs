//! The `oauth_states` and `twitch_tokens` tables (SPEC §7).
//!
//! Only hashes of OAuth states and only ciphertexts of tokens reach these
//! functions: encryption happens before (see `twitch::auth::token_cipher`),
//! so nothing here ever sees a plaintext secret.
//!
//! [`TokenTransaction`] is the unit of work on one channel's tokens:
//! connecting a channel records its identity and tokens together, and the
//! token manager flags a lapsed connection with its notice.
//!
//! A refresh never runs inside a transaction (issue 12 item 5): the token
//! manager claims it ([`Store::claim_token_refresh`], a statement of its own
//! that sets a short lease), calls Twitch with no connection held, and writes
//! the rotated tokens at once ([`Store::store_refreshed_tokens`], another
//! statement of its own). A lost connection then costs a retry of that write,
//! never the refresh token Twitch just rotated; the old one stays stored
//! until the new one is.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::channels::{self, ChannelRecord};
use super::{Connection, Error, Queryable, Store, get, outbox};
use crate::announce::Announcement;
use crate::channel::ChannelLogin;

/// Which Connect flow issued a state (`oauth_states.flow`): the callback
/// URL is shared, so the state says what the consent was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFlow {
    /// `GET /auth/twitch`: a streamer connects their channel.
    Channel,
    /// `GET /auth/twitch/bot`: the account the bot speaks as.
    Bot,
}

impl ConnectFlow {
    fn as_str(self) -> &'static str {
        match self {
            Self::Channel => "channel",
            Self::Bot => "bot",
        }
    }

    fn parse(word: &str) -> Result<Self, Error> {
        match word {
            "channel" => Ok(Self::Channel),
            "bot" => Ok(Self::Bot),
            other => Err(Error::UnknownWord {
                column: "oauth_states.flow",
                value: other.to_owned(),
            }),
        }
    }
}

/// What [`take_state`] found for a state hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateLookup {
    /// Issued by this flow, not yet used, not expired; it is now deleted
    /// (single use).
    Valid(ConnectFlow),
    /// Issued but expired; it is now deleted.
    Expired,
    /// Never issued, or already used.
    Unknown,
}

/// How many OAuth states may be pending at once. Every anonymous
/// `GET /auth/twitch` issues one, so without bounds one client fills the
/// table (issue 13: 500 rows in 2.2 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StateLimits {
    /// Per client (network address): a client's oldest pending state gives
    /// way to its newest, so someone who clicked Connect in a few tabs can
    /// still finish in the last one.
    pub(crate) per_client: u32,
    /// In all: beyond this, new connections are refused until states are
    /// used or expire.
    pub(crate) total: u32,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self {
            per_client: 5,
            total: 500,
        }
    }
}

/// What [`insert_state`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateAdmission {
    /// The state is stored (perhaps replacing the client's oldest).
    Stored,
    /// [`StateLimits::total`] states are pending: nothing was stored.
    TooMany,
}

/// Advisory lock key serialising state inserts ("kyboauth" in ASCII), so
/// the counts below cannot be overtaken by a concurrent insert.
const STATE_LOCK_KEY: i64 = 0x6b79_626f_6175_7468;

/// Records a freshly issued state (its SHA-256) for `client`, valid until
/// `expires_at`, within `limits`: expired states are forgotten first, then
/// the client's oldest states beyond its share, and when the total is
/// still full nothing is stored.
///
/// # Errors
///
/// Database errors.
async fn insert_state(
    db: &impl Queryable,
    state_hash: &[u8; 32],
    client: &str,
    expires_at: DateTime<Utc>,
    limits: StateLimits,
    flow: ConnectFlow,
) -> Result<StateAdmission, Error> {
    db.query_rows("SELECT pg_advisory_xact_lock($1)", &[&STATE_LOCK_KEY])
        .await?;
    db.query_rows("DELETE FROM oauth_states WHERE expires_at <= now()", &[])
        .await?;
    let keep = i64::from(limits.per_client.saturating_sub(1));
    db.query_rows(
        "DELETE FROM oauth_states WHERE state_hash IN (
             SELECT state_hash FROM oauth_states WHERE client = $1
             ORDER BY created_at DESC, state_hash OFFSET $2)",
        &[&client, &keep],
    )
    .await?;
    let rows = db
        .query_rows("SELECT count(*) AS pending FROM oauth_states", &[])
        .await?;
    let pending: i64 = rows.first().map(|row| get(row, "pending")).transpose()?.unwrap_or(0);
    if pending >= i64::from(limits.total) || limits.per_client == 0 {
        return Ok(StateAdmission::TooMany);
    }
    db.query_rows(
        "INSERT INTO oauth_states (state_hash, client, expires_at, flow) VALUES ($1, $2, $3, $4)",
        &[&state_hash.as_slice(), &client, &expires_at, &flow.as_str()],
    )
    .await?;
    Ok(StateAdmission::Stored)
}

/// Deletes the state (whatever its expiry) and says whether it was valid.
/// The delete is the single-use guarantee: two callbacks racing with the
/// same state cannot both see [`StateLookup::Valid`].
///
/// # Errors
///
/// Database errors.
async fn take_state(db: &impl Queryable, state_hash: &[u8; 32]) -> Result<StateLookup, Error> {
    let rows = db
        .query_rows(
            "DELETE FROM oauth_states WHERE state_hash = $1 RETURNING expires_at > now() AS valid, flow",
            &[&state_hash.as_slice()],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(StateLookup::Unknown);
    };
    let valid: bool = get(row, "valid")?;
    let flow = ConnectFlow::parse(get(row, "flow")?)?;
    Ok(if valid {
        StateLookup::Valid(flow)
    } else {
        StateLookup::Expired
    })
}

/// A row of `twitch_tokens` with its channel's login and re-auth flag.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredTokens {
    /// `channels.id`.
    pub(crate) channel_id: i64,
    /// The channel's login.
    pub(crate) login: String,
    /// The channel's `needs_reauth`.
    pub(crate) needs_reauth: bool,
    /// Encrypted access token (nonce || ciphertext || tag).
    pub(crate) access_token: Vec<u8>,
    /// Encrypted refresh token (nonce || ciphertext || tag).
    pub(crate) refresh_token: Vec<u8>,
    /// Scopes Twitch granted.
    pub(crate) scopes: Vec<String>,
    /// When the access token expires.
    pub(crate) expires_at: DateTime<Utc>,
    /// Last successful `/validate`.
    pub(crate) last_validated_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertexts are not secret without the key, but there is no reason to print them.
        f.debug_struct("StoredTokens")
            .field("channel_id", &self.channel_id)
            .field("login", &self.login)
            .field("needs_reauth", &self.needs_reauth)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("last_validated_at", &self.last_validated_at)
            .finish_non_exhaustive()
    }
}

const TOKEN_COLUMNS: &str = "t.channel_id, c.login, c.needs_reauth, t.access_token, t.refresh_token, \
                             t.scopes, t.expires_at, t.last_validated_at";

fn tokens_from_row(row: &Row) -> Result<StoredTokens, Error> {
    Ok(StoredTokens {
        channel_id: get(row, "channel_id")?,
        login: get(row, "login")?,
        needs_reauth: get(row, "needs_reauth")?,
        access_token: get(row, "access_token")?,
        refresh_token: get(row, "refresh_token")?,
        scopes: get(row, "scopes")?,
        expires_at: get(row, "expires_at")?,
        last_validated_at: get(row, "last_validated_at")?,
    })
}

/// New encrypted tokens for a channel.
#[derive(Clone, Copy)]
pub(crate) struct NewTokens<'a> {
    /// Encrypted access token.
    pub(crate) access_token: &'a [u8],
    /// Encrypted refresh token.
    pub(crate) refresh_token: &'a [u8],
    /// Granted scopes.
    pub(crate) scopes: &'a [String],
    /// Access token expiry.
    pub(crate) expires_at: DateTime<Utc>,
    /// When the access token was last validated (now, if just validated).
    pub(crate) validated_at: Option<DateTime<Utc>>,
}

/// Inserts or replaces a channel's tokens (connecting again, or a refresh).
///
/// # Errors
///
/// Database errors.
async fn upsert_tokens(db: &impl Queryable, channel_id: i64, tokens: NewTokens<'_>) -> Result<(), Error> {
    db.query_rows(
        "INSERT INTO twitch_tokens
             (channel_id, access_token, refresh_token, scopes, expires_at, last_validated_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (channel_id) DO UPDATE
             SET access_token = EXCLUDED.access_token,
                 refresh_token = EXCLUDED.refresh_token,
                 scopes = EXCLUDED.scopes,
                 expires_at = EXCLUDED.expires_at,
                 last_validated_at = EXCLUDED.last_validated_at,
                 updated_at = now(),
                 refresh_claim = NULL,
                 refresh_claimed_until = NULL",
        &[
            &channel_id,
            &tokens.access_token,
            &tokens.refresh_token,
            &tokens.scopes,
            &tokens.expires_at,
            &tokens.validated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Every stored token row, by login.
///
/// # Errors
///
/// Database errors.
async fn list_tokens(db: &impl Queryable) -> Result<Vec<StoredTokens>, Error> {
    let rows = db
        .query_rows(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id ORDER BY c.login"
            ),
            &[],
        )
        .await?;
    rows.iter().map(tokens_from_row).collect()
}

/// One channel's tokens, locked for this transaction; `None` when there are
/// none or another instance holds the lock (it is handling them right now).
///
/// # Errors
///
/// Database errors.
async fn lock_tokens(db: &impl Queryable, channel_id: i64) -> Result<Option<StoredTokens>, Error> {
    let rows = db
        .query_rows(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
                 WHERE t.channel_id = $1 FOR UPDATE OF t SKIP LOCKED"
            ),
            &[&channel_id],
        )
        .await?;
    rows.first().map(tokens_from_row).transpose()
}

/// Forgets a channel's tokens; returns whether there were any.
///
/// # Errors
///
/// Database errors.
async fn delete_tokens(db: &impl Queryable, channel_id: i64) -> Result<bool, Error> {
    let rows = db
        .query_rows(
            "DELETE FROM twitch_tokens WHERE channel_id = $1 RETURNING channel_id",
            &[&channel_id],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Sets `needs_reauth` if it was not set; returns `true` only for the call
/// that changed it, so exactly one notice is queued per lapse.
///
/// # Errors
///
/// Database errors.
async fn flag_needs_reauth(db: &impl Queryable, channel_id: i64) -> Result<bool, Error> {
    let rows = db
        .query_rows(
            "UPDATE channels SET needs_reauth = true, updated_at = now()
             WHERE id = $1 AND NOT needs_reauth RETURNING id",
            &[&channel_id],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// Claims the refresh of a channel's tokens: sets a lease of `lease_secs`
/// seconds with the id `claim`, unless another claim is current or the
/// channel needs re-auth. Returns the row as claimed.
///
/// # Errors
///
/// Database errors.
async fn claim_refresh(
    db: &impl Queryable,
    channel_id: i64,
    claim: i64,
    lease_secs: f64,
) -> Result<Option<StoredTokens>, Error> {
    let rows = db
        .query_rows(
            &format!(
                "UPDATE twitch_tokens t
                 SET refresh_claim = $2, refresh_claimed_until = now() + make_interval(secs => $3)
                 FROM channels c
                 WHERE c.id = t.channel_id AND t.channel_id = $1 AND NOT c.needs_reauth
                   AND (t.refresh_claimed_until IS NULL OR t.refresh_claimed_until <= now())
                 RETURNING {TOKEN_COLUMNS}"
            ),
            &[&channel_id, &claim, &lease_secs],
        )
        .await?;
    rows.first().map(tokens_from_row).transpose()
}

impl Store {
    /// One channel's tokens (not locked), if it has any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn tokens_by_id(&self, channel_id: i64) -> Result<Option<StoredTokens>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
                     WHERE t.channel_id = $1"
                ),
                &[&channel_id],
            )
            .await?;
        rows.first().map(tokens_from_row).transpose()
    }

    /// Claims the refresh of a channel's tokens for `lease`, committed at
    /// once: while the lease lasts no other claim succeeds, so two
    /// instances never refresh the same token. `None` when the channel has
    /// no tokens, needs re-auth, or another claim is current.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn claim_token_refresh(
        &self,
        channel_id: i64,
        claim: i64,
        lease: std::time::Duration,
    ) -> Result<Option<StoredTokens>, Error> {
        claim_refresh(&self.pool.get().await?, channel_id, claim, lease.as_secs_f64()).await
    }

    /// Writes the tokens a refresh of the refresh token whose ciphertext is
    /// `used` returned, committed at once, and ends the claim `claim` if it
    /// is still the row's. Written only while the row still holds `used`
    /// (whoever holds the claim now: a lapsed claim must not lose the
    /// rotated token). Returns `false` when the row is gone (the streamer
    /// disconnected) or holds other tokens (the streamer connected again).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn store_refreshed_tokens(
        &self,
        channel_id: i64,
        claim: i64,
        used: &[u8],
        tokens: NewTokens<'_>,
    ) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                "UPDATE twitch_tokens
                 SET access_token = $3, refresh_token = $4, scopes = $5, expires_at = $6,
                     last_validated_at = $7, updated_at = now(),
                     refresh_claimed_until = CASE WHEN refresh_claim = $2 THEN NULL ELSE refresh_claimed_until END,
                     refresh_claim = CASE WHEN refresh_claim = $2 THEN NULL ELSE refresh_claim END
                 WHERE channel_id = $1 AND refresh_token = $8
                 RETURNING channel_id",
                &[
                    &channel_id,
                    &claim,
                    &tokens.access_token,
                    &tokens.refresh_token,
                    &tokens.scopes,
                    &tokens.expires_at,
                    &tokens.validated_at,
                    &used,
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    /// Ends the claim `claim` without new tokens (the refresh failed in a
    /// way that may pass; the next cycle claims again).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn release_token_refresh(&self, channel_id: i64, claim: i64) -> Result<(), Error> {
        self.pool
            .get()
            .await?
            .query_rows(
                "UPDATE twitch_tokens SET refresh_claim = NULL, refresh_claimed_until = NULL
                 WHERE channel_id = $1 AND refresh_claim = $2",
                &[&channel_id, &claim],
            )
            .await?;
        Ok(())
    }

    /// Records a successful `/validate` of the access token whose
    /// ciphertext is `access_token`, unless a refresh replaced it meanwhile.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_tokens_validated(
        &self,
        channel_id: i64,
        access_token: &[u8],
        validated_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        self.pool
            .get()
            .await?
            .query_rows(
                "UPDATE twitch_tokens SET last_validated_at = $3, expires_at = $4, updated_at = now()
                 WHERE channel_id = $1 AND access_token = $2",
                &[&channel_id, &access_token, &validated_at, &expires_at],
            )
            .await?;
        Ok(())
    }

    /// Records a freshly issued OAuth state (its SHA-256) for `client`,
    /// valid until `expires_at`, within `limits` (see [`StateLimits`]), in
    /// one transaction.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn insert_oauth_state(
        &self,
        state_hash: &[u8; 32],
        client: &str,
        expires_at: DateTime<Utc>,
        limits: StateLimits,
        flow: ConnectFlow,
    ) -> Result<StateAdmission, Error> {
        let mut connection = self.pool.get().await?;
        let transaction = connection.transaction().await?;
        let admission = insert_state(&transaction, state_hash, client, expires_at, limits, flow).await?;
        transaction.commit().await?;
        Ok(admission)
    }

    /// Deletes an OAuth state (single use) and says whether it was valid.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn take_oauth_state(&self, state_hash: &[u8; 32]) -> Result<StateLookup, Error> {
        take_state(&self.pool.get().await?, state_hash).await
    }

    /// Every stored token row, by login.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn list_tokens(&self) -> Result<Vec<StoredTokens>, Error> {
        list_tokens(&self.pool.get().await?).await
    }

    /// The tokens of the channel with this login, if it has any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn tokens_of(&self, login: &ChannelLogin) -> Result<Option<StoredTokens>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
                     WHERE c.login = $1"
                ),
                &[&login.as_str()],
            )
            .await?;
        rows.first().map(tokens_from_row).transpose()
    }

    /// Forgets a channel's tokens and clears its `needs_reauth`, together;
    /// returns whether there were tokens.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn forget_tokens(&self, channel_id: i64) -> Result<bool, Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let deleted = delete_tokens(&transaction, channel_id).await?;
        transaction
            .query_rows(
                "UPDATE channels SET needs_reauth = false, updated_at = now() WHERE id = $1",
                &[&channel_id],
            )
            .await?;
        transaction.commit().await?;
        Ok(deleted)
    }
}

/// A unit of work on one channel's Twitch tokens: commits with
/// [`TokenTransaction::commit`], rolls back when dropped. Borrowed from a
/// [`Connection`] with [`Connection::begin_tokens`].
pub(crate) struct TokenTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
}

impl std::fmt::Debug for TokenTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenTransaction").finish_non_exhaustive()
    }
}

impl Connection {
    /// Begins a unit of work on tokens.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn begin_tokens(&mut self) -> Result<TokenTransaction<'_>, Error> {
        Ok(TokenTransaction {
            transaction: self.client.transaction().await?,
        })
    }
}

impl TokenTransaction<'_> {
    /// One channel's tokens, locked until the transaction ends; `None` when
    /// there are none or another instance holds the lock (it is handling
    /// them right now).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn lock(&self, channel_id: i64) -> Result<Option<StoredTokens>, Error> {
        lock_tokens(&self.transaction, channel_id).await
    }

    /// One channel's tokens, locked until the transaction ends, if the
    /// refresh claim `claim` is still theirs; `None` otherwise.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn lock_claimed(&self, channel_id: i64, claim: i64) -> Result<Option<StoredTokens>, Error> {
        let rows = self
            .transaction
            .query_rows(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id
                     WHERE t.channel_id = $1 AND t.refresh_claim = $2 FOR UPDATE OF t"
                ),
                &[&channel_id, &claim],
            )
            .await?;
        rows.first().map(tokens_from_row).transpose()
    }

    /// Ends the refresh claim `claim`, if it is still the row's.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn release_claim(&self, channel_id: i64, claim: i64) -> Result<(), Error> {
        self.transaction
            .query_rows(
                "UPDATE twitch_tokens SET refresh_claim = NULL, refresh_claimed_until = NULL
                 WHERE channel_id = $1 AND refresh_claim = $2",
                &[&channel_id, &claim],
            )
            .await?;
        Ok(())
    }

    /// Records what Twitch told us about a channel (its user id and display
    /// name); see [`Store::ensure_channel`] for the row itself.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn record_identity(
        &self,
        login: &ChannelLogin,
        twitch_user_id: &str,
        display_name: Option<&str>,
    ) -> Result<ChannelRecord, Error> {
        channels::record_identity(&self.transaction, login, twitch_user_id, display_name).await
    }

    /// Inserts or replaces a channel's tokens (connecting, or a refresh).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn store(&self, channel_id: i64, tokens: NewTokens<'_>) -> Result<(), Error> {
        upsert_tokens(&self.transaction, channel_id, tokens).await
    }

    /// Clears a channel's `needs_reauth` (the streamer connected again).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn clear_needs_reauth(&self, login: &ChannelLogin) -> Result<(), Error> {
        channels::set_needs_reauth(&self.transaction, login, false).await?;
        Ok(())
    }

    /// Sets `needs_reauth` and queues `notice`, but only if the flag was not
    /// set yet: exactly one notice is queued per lapse, however many cycles
    /// and instances see it. Returns whether this call set it.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn flag_needs_reauth(&self, channel_id: i64, notice: &Announcement) -> Result<bool, Error> {
        if !flag_needs_reauth(&self.transaction, channel_id).await? {
            return Ok(false);
        }
        outbox::enqueue(&self.transaction, None, notice).await?;
        Ok(true)
    }

    /// Commits.
    ///
    /// # Errors
    ///
    /// Database errors; nothing is kept then.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        Ok(self.transaction.commit().await?)
    }
}
