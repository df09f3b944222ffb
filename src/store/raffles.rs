//! The `raffles` table, the candidate query over `presence` (SPEC §5), and
//! [`RoundTransaction`], the unit of work of one raffle round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Connection, Error, Queryable, Store, get, get_optional_word, get_word, items, outbox};
use crate::announce::Announcement;
use crate::announce::chat_line::QueuedChatLine;
use crate::channel::ChannelLogin;
use crate::raffle::draw::{DrawItem, Seed};
use crate::raffle::{Claim, ClaimStatus, Delivery, Outcome, RaffleAudit, RaffleRecord, Trigger, Winner};

/// Who may win, as decided in SQL (SPEC §5 step 2).
#[derive(Debug, Clone)]
pub struct EligibilityRules {
    /// Seen in chat within this window.
    pub active_window: Duration,
    /// Not a winner in this channel within this long.
    pub winner_cooldown: Duration,
    /// Logins never eligible (ignore list; the channel itself is added by the caller).
    pub excluded_logins: Vec<String>,
}

/// An eligible viewer as read for the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleViewer {
    /// Twitch user id.
    pub user_id: String,
    /// Subscriber badge seen on their latest message.
    pub is_subscriber: bool,
}

/// Eligible viewers of a channel now: seen within the active window, not
/// banned or timed out, not the broadcaster, not ignored, not an anonymous
/// reader (`justinfan…`, which the bot itself is), and not a winner within
/// the cooldown. Order is unspecified; the snapshot sorts.
///
/// # Errors
///
/// Database errors.
pub(super) async fn select_candidates(
    db: &impl Queryable,
    channel_id: i64,
    broadcaster_user_id: Option<&str>,
    rules: &EligibilityRules,
) -> Result<Vec<EligibleViewer>, Error> {
    let window = rules.active_window.as_secs_f64();
    let cooldown = rules.winner_cooldown.as_secs_f64();
    // One row of two arrays instead of one row per viewer: decoding 100,000
    // rows costs more than the query itself.
    let rows = db
        .query_rows(
            "SELECT coalesce(array_agg(p.user_id), '{}') AS user_ids,
                    coalesce(array_agg(p.is_subscriber), '{}') AS subscribers
             FROM presence p
             WHERE p.channel_id = $1
               AND p.last_seen > now() - make_interval(secs => $2::float8)
               AND (p.banned_until IS NULL OR p.banned_until <= now())
               AND NOT p.is_broadcaster
               AND p.user_id IS DISTINCT FROM $3::text
               AND NOT (p.login = ANY($4::text[]))
               AND p.login NOT LIKE 'justinfan%'
               AND p.user_id NOT IN (
                   -- Few rows (recent winners), so PostgreSQL hashes them
                   -- once instead of probing per viewer.
                   SELECT r.winner_user_id FROM raffles r
                   WHERE $5::float8 > 0 AND r.channel_id = $1 AND r.outcome = $6
                     AND r.winner_user_id IS NOT NULL
                     AND r.created_at > now() - make_interval(secs => $5::float8))",
            &[
                &channel_id,
                &window,
                &broadcaster_user_id,
                &rules.excluded_logins,
                &cooldown,
                &Outcome::Won.as_str(),
            ],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Vec::new());
    };
    let user_ids: Vec<String> = get(row, "user_ids")?;
    let subscribers: Vec<bool> = get(row, "subscribers")?;
    Ok(user_ids
        .into_iter()
        .zip(subscribers)
        .map(|(user_id, is_subscriber)| EligibleViewer { user_id, is_subscriber })
        .collect())
}

/// Takes the per-(channel, slot) lock for the rest of the transaction and
/// says whether the slot was already drawn. Concurrent rounds for the same
/// slot queue on the lock; the second then sees the first's row. The unique
/// key (channel_id, slot) remains the final guarantee.
///
/// # Errors
///
/// Database errors.
async fn lock_slot(db: &impl Queryable, channel_id: i64, slot: i64) -> Result<bool, Error> {
    let rows = db
        .query_rows(
            "SELECT pg_advisory_xact_lock(hashtextextended('kinoyubot.slot:' || $1::bigint::text || ':' || $2::bigint::text, 0)),
                    EXISTS (SELECT 1 FROM raffles WHERE channel_id = $1::bigint AND slot = $2::bigint) AS drawn",
            &[&channel_id, &slot],
        )
        .await?;
    match rows.first() {
        Some(row) => get(row, "drawn"),
        None => Err(Error::NoRow {
            statement: "the slot lock",
        }),
    }
}

/// A raffle row to write.
#[derive(Debug, Clone)]
pub struct NewRaffle<'a> {
    /// Channel.
    pub(crate) channel_id: i64,
    /// Timer slot; `None` for manual and chat draws.
    pub(crate) slot: Option<i64>,
    /// What started the round.
    pub(crate) trigger: Trigger,
    /// How it came out.
    pub(crate) outcome: Outcome,
    /// Item won.
    pub(crate) item_name: Option<&'a str>,
    /// The winner.
    pub(crate) winner: Option<&'a Winner>,
    /// The draw's seed.
    pub(crate) seed: &'a Seed,
    /// Candidate snapshot in its storage form (sorted by user id).
    pub(crate) candidates_json: &'a str,
    /// SHA-256 of the snapshot, hex.
    pub(crate) candidates_digest: &'a str,
    /// Number of candidates.
    pub(crate) candidate_count: i32,
    /// The items as the draw saw them.
    pub(crate) items: &'a [DrawItem],
    /// Why a `skipped_offline` round was skipped.
    pub(crate) skip_reason: Option<&'a str>,
    /// A win's claim window (`None`: no claim); the deadline is reckoned
    /// on the database's clock, like every deadline the sweeper reads.
    pub(crate) claim_window: Option<Duration>,
    /// The expired win this raffle redraws.
    pub(crate) redraw_of: Option<i64>,
}

/// What [`insert`] wrote: the raffle's id, its creation time and its claim
/// deadline (wins with a claim window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// `raffles.id`.
    pub(crate) id: i64,
    /// `raffles.created_at`.
    pub(crate) created_at: DateTime<Utc>,
    /// `raffles.claim_deadline`.
    pub(crate) claim_deadline: Option<DateTime<Utc>>,
}

/// Inserts a raffle row; returns its id and creation time, or `None` when
/// the (channel, slot) was drawn already (the unique key caught a second
/// round for the slot).
pub(super) async fn insert(db: &impl Queryable, raffle: &NewRaffle<'_>) -> Result<Option<Inserted>, Error> {
    let items_json = serde_json::to_string(raffle.items).map_err(|source| Error::Encode {
        what: "the draw's items",
        source,
    })?;
    let winner = raffle.winner;
    let inserted = db
        .query_rows(
            "INSERT INTO raffles (channel_id, slot, trigger, outcome, item_name, winner_user_id, winner_login,
                                  winner_display_name, seed, candidates, candidates_digest, candidate_count, items,
                                  skip_reason, claim_status, claim_deadline, redraw_of)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text, $11, $12, $13::text::jsonb, $14,
                     CASE WHEN $15::float8 IS NULL THEN NULL ELSE 'pending' END,
                     CASE WHEN $15::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $15::float8) END,
                     $16)
             RETURNING id, created_at, claim_deadline",
            &[
                &raffle.channel_id,
                &raffle.slot,
                &raffle.trigger.as_str(),
                &raffle.outcome.as_str(),
                &raffle.item_name,
                &winner.map(|w| w.user_id.as_str()),
                &winner.map(|w| w.login.as_str()),
                &winner.map(|w| w.display_name.as_str()),
                &raffle.seed.as_bytes().as_slice(),
                &raffle.candidates_json,
                &raffle.candidates_digest,
                &raffle.candidate_count,
                &items_json,
                &raffle.skip_reason,
                &raffle.claim_window.map(|w| w.as_secs_f64()),
                &raffle.redraw_of,
            ],
        )
        .await;
    let rows = match inserted {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let row = rows.first().ok_or(Error::NoRow {
        statement: "INSERT INTO raffles … RETURNING",
    })?;
    Ok(Some(Inserted {
        id: get(row, "id")?,
        created_at: get(row, "created_at")?,
        claim_deadline: get(row, "claim_deadline")?,
    }))
}

/// Login and display name of a viewer in a channel.
///
/// # Errors
///
/// Database errors.
pub(super) async fn viewer_names(
    db: &impl Queryable,
    channel_id: i64,
    user_id: &str,
) -> Result<Option<(String, String)>, Error> {
    let rows = db
        .query_rows(
            "SELECT login, display_name FROM presence WHERE channel_id = $1 AND user_id = $2",
            &[&channel_id, &user_id],
        )
        .await?;
    rows.first()
        .map(|row| Ok((get(row, "login")?, get(row, "display_name")?)))
        .transpose()
}

// The snapshot and item list can be megabytes: they are read only for
// verification (`Store::raffle_audit`), never for listings.
const RECORD_COLUMNS: &str = "r.id, c.login AS channel_login, c.display_name AS channel_display_name, r.slot,
        r.trigger, r.outcome, r.item_name, r.winner_user_id, r.winner_login, r.winner_display_name,
        r.candidates_digest, r.candidate_count, r.created_at, r.skip_reason, r.claim_status, r.claim_deadline,
        r.redraw_of, o.status AS delivery_status, o.last_error AS delivery_error";
const RECORD_FROM: &str = "FROM raffles r
     JOIN channels c ON c.id = r.channel_id
     LEFT JOIN outbox o ON o.raffle_id = r.id AND o.kind = 'discord' AND o.event = 'win'";

fn record(row: &Row) -> Result<RaffleRecord, Error> {
    let winner = match (
        get(row, "winner_user_id")?,
        get(row, "winner_login")?,
        get(row, "winner_display_name")?,
    ) {
        (Some(user_id), Some(login), Some(display_name)) => Some(Winner {
            user_id,
            login,
            display_name,
        }),
        _ => None,
    };
    let delivery = get_optional_word(row, "delivery_status")?
        .map(|status| {
            Ok::<_, Error>(Delivery {
                status,
                error: get(row, "delivery_error")?,
            })
        })
        .transpose()?;
    Ok(RaffleRecord {
        id: get(row, "id")?,
        channel_login: get(row, "channel_login")?,
        channel_display_name: get(row, "channel_display_name")?,
        slot: get(row, "slot")?,
        trigger: get_word(row, "trigger")?,
        outcome: get_word(row, "outcome")?,
        item_name: get(row, "item_name")?,
        winner,
        candidates_digest: get(row, "candidates_digest")?,
        candidate_count: get(row, "candidate_count")?,
        created_at: get(row, "created_at")?,
        skip_reason: get(row, "skip_reason")?,
        delivery,
        claim: match (
            get_optional_word::<ClaimStatus>(row, "claim_status")?,
            get::<Option<DateTime<Utc>>>(row, "claim_deadline")?,
        ) {
            (Some(status), Some(deadline)) => Some(Claim { status, deadline }),
            _ => None,
        },
        redraw_of: get(row, "redraw_of")?,
    })
}

impl Store {
    /// One raffle by id.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn raffle(&self, id: i64) -> Result<Option<RaffleRecord>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                &format!("SELECT {RECORD_COLUMNS} {RECORD_FROM} WHERE r.id = $1"),
                &[&id],
            )
            .await?;
        rows.first().map(record).transpose()
    }

    /// A raffle with the stored inputs of its draw, for `kinoyubot verify`.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn raffle_audit(&self, id: i64) -> Result<Option<(RaffleRecord, RaffleAudit)>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                &format!(
                    "SELECT {RECORD_COLUMNS}, r.seed, r.candidates, r.items::text AS items {RECORD_FROM} WHERE r.id = $1"
                ),
                &[&id],
            )
            .await?;
        rows.first()
            .map(|row| {
                Ok((
                    record(row)?,
                    RaffleAudit {
                        seed: get(row, "seed")?,
                        candidates_json: get(row, "candidates")?,
                        items_json: get(row, "items")?,
                    },
                ))
            })
            .transpose()
    }

    /// The latest raffles, newest first, optionally for one channel.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn recent_raffles(&self, channel: Option<&ChannelLogin>, limit: i64) -> Result<Vec<RaffleRecord>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows(
                &format!(
                    "SELECT {RECORD_COLUMNS} {RECORD_FROM} WHERE ($1::text IS NULL OR c.login = $1)
                     ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
                ),
                &[&channel.map(ChannelLogin::as_str), &limit],
            )
            .await?;
        rows.iter().map(record).collect()
    }
}

/// One raffle round as a unit of work (SPEC §5): everything it does
/// commits together with `RoundTransaction::commit`, or not at all when
/// it is dropped (tokio-postgres rolls back). Borrowed from a
/// [`Connection`] with [`Connection::begin_round`].
pub struct RoundTransaction<'c> {
    transaction: deadpool_postgres::Transaction<'c>,
}

impl std::fmt::Debug for RoundTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundTransaction").finish_non_exhaustive()
    }
}

impl Connection {
    /// Begins a raffle round.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn begin_round(&mut self) -> Result<RoundTransaction<'_>, Error> {
        Ok(RoundTransaction {
            transaction: self.client.transaction().await?,
        })
    }
}

impl RoundTransaction<'_> {
    /// Takes the per-(channel, slot) lock for the rest of the round and
    /// says whether the slot was drawn already. Concurrent rounds for one
    /// slot queue on the lock, and the second then sees the first's row;
    /// the unique key (channel_id, slot) remains the final guarantee.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn slot_drawn(&self, channel_id: i64, slot: i64) -> Result<bool, Error> {
        lock_slot(&self.transaction, channel_id, slot).await
    }

    /// The active items in file order with their remaining stock, locked
    /// until the round ends, so that concurrent rounds cannot both award
    /// the last unit of an item.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn lock_items(&self) -> Result<Vec<DrawItem>, Error> {
        items::lock_for_draw(&self.transaction).await
    }

    /// Eligible viewers of a channel now; see [`EligibilityRules`].
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn eligible_viewers(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
    ) -> Result<Vec<EligibleViewer>, Error> {
        select_candidates(&self.transaction, channel_id, broadcaster_user_id, rules).await
    }

    /// Takes one unit of an item's stock (nothing for unlimited items).
    ///
    /// # Errors
    ///
    /// Database errors; [`Error::OutOfStock`] would mean the item lock was
    /// bypassed.
    pub(crate) async fn take_one(&self, item_name: &str) -> Result<(), Error> {
        items::take_one(&self.transaction, item_name).await
    }

    /// Login and display name of a viewer in a channel.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn viewer_names(&self, channel_id: i64, user_id: &str) -> Result<Option<(String, String)>, Error> {
        viewer_names(&self.transaction, channel_id, user_id).await
    }

    /// Writes the raffle row; returns its id and creation time, or `None`
    /// when its slot was drawn by another round meanwhile.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn insert_raffle(&self, raffle: &NewRaffle<'_>) -> Result<Option<Inserted>, Error> {
        insert(&self.transaction, raffle).await
    }

    /// Queues the raffle's announcement (at most once per raffle).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn enqueue(&self, raffle_id: i64, announcement: &Announcement) -> Result<i64, Error> {
        outbox::enqueue(&self.transaction, Some(raffle_id), announcement).await
    }

    /// Queues a chat line about the round (only while a bot account can
    /// speak; see `outbox::enqueue_chat`).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn enqueue_chat(&self, line: &QueuedChatLine) -> Result<Option<i64>, Error> {
        outbox::enqueue_chat(&self.transaction, line).await
    }

    /// Commits the round.
    ///
    /// # Errors
    ///
    /// Database errors; nothing of the round is kept then.
    pub(crate) async fn commit(self) -> Result<(), Error> {
        Ok(self.transaction.commit().await?)
    }
}
