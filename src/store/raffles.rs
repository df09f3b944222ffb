//! The `raffles` table and the candidate query over `presence` (SPEC §5).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use super::{Error, Queryable};

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
pub async fn select_candidates(
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
            "SELECT coalesce(array_agg(p.user_id), '{}'), coalesce(array_agg(p.is_subscriber), '{}')
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
                   WHERE $5::float8 > 0 AND r.channel_id = $1 AND r.outcome = 'won'
                     AND r.winner_user_id IS NOT NULL
                     AND r.created_at > now() - make_interval(secs => $5::float8))",
            &[
                &channel_id,
                &window,
                &broadcaster_user_id,
                &rules.excluded_logins,
                &cooldown,
            ],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Vec::new());
    };
    let user_ids: Vec<String> = row.get(0);
    let subscribers: Vec<bool> = row.get(1);
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
pub async fn lock_slot(db: &impl Queryable, channel_id: i64, slot: i64) -> Result<bool, Error> {
    let rows = db
        .query_rows(
            "SELECT pg_advisory_xact_lock(hashtextextended('kinoyubot.slot:' || $1::bigint::text || ':' || $2::bigint::text, 0)),
                    EXISTS (SELECT 1 FROM raffles WHERE channel_id = $1::bigint AND slot = $2::bigint)",
            &[&channel_id, &slot],
        )
        .await?;
    Ok(rows.first().is_some_and(|row| row.get::<_, bool>(1)))
}

/// A raffle row to write.
#[derive(Debug, Clone)]
pub struct NewRaffle<'a> {
    /// Channel.
    pub channel_id: i64,
    /// Timer slot; `None` for manual and chat draws.
    pub slot: Option<i64>,
    /// `timer`, `manual` or `chat`.
    pub trigger: &'a str,
    /// `won`, `no_prize`, `no_candidates` or `skipped_offline`.
    pub outcome: &'a str,
    /// Item won.
    pub item_name: Option<&'a str>,
    /// Winner's user id, login and display name.
    pub winner: Option<(&'a str, &'a str, &'a str)>,
    /// The 32-byte seed.
    pub seed: &'a [u8],
    /// Candidate snapshot JSON (sorted by user id).
    pub candidates_json: &'a str,
    /// SHA-256 of the snapshot, hex.
    pub candidates_digest: &'a str,
    /// Number of candidates.
    pub candidate_count: i32,
    /// The items as the draw saw them (JSON array of `DrawItem`).
    pub items_json: &'a str,
}

/// Inserts a raffle row; returns its id and creation time.
///
/// # Errors
///
/// Database errors (a unique violation means the slot was drawn elsewhere).
pub async fn insert(db: &impl Queryable, raffle: &NewRaffle<'_>) -> Result<(i64, DateTime<Utc>), Error> {
    let (winner_user_id, winner_login, winner_display_name) = match raffle.winner {
        Some((id, login, name)) => (Some(id), Some(login), Some(name)),
        None => (None, None, None),
    };
    let rows = db
        .query_rows(
            "INSERT INTO raffles (channel_id, slot, trigger, outcome, item_name, winner_user_id, winner_login,
                                  winner_display_name, seed, candidates, candidates_digest, candidate_count, items)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text, $11, $12, $13::text::jsonb)
             RETURNING id, created_at",
            &[
                &raffle.channel_id,
                &raffle.slot,
                &raffle.trigger,
                &raffle.outcome,
                &raffle.item_name,
                &winner_user_id,
                &winner_login,
                &winner_display_name,
                &raffle.seed,
                &raffle.candidates_json,
                &raffle.candidates_digest,
                &raffle.candidate_count,
                &raffle.items_json,
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::Config("INSERT … RETURNING gave no row".into()))?;
    Ok((row.get(0), row.get(1)))
}

/// Login and display name of a viewer in a channel.
///
/// # Errors
///
/// Database errors.
pub async fn viewer_names(
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
    Ok(rows.first().map(|row| (row.get(0), row.get(1))))
}

/// A recorded raffle with its channel and delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct RaffleRecord {
    /// Raffle id.
    pub id: i64,
    /// Channel login.
    pub channel_login: String,
    /// Channel display name.
    pub channel_display_name: String,
    /// Timer slot, if any.
    pub slot: Option<i64>,
    /// `timer`, `manual` or `chat`.
    pub trigger: String,
    /// Outcome string.
    pub outcome: String,
    /// Item won.
    pub item_name: Option<String>,
    /// Winner user id.
    pub winner_user_id: Option<String>,
    /// Winner login.
    pub winner_login: Option<String>,
    /// Winner display name.
    pub winner_display_name: Option<String>,
    /// Snapshot digest (hex).
    pub candidates_digest: String,
    /// Number of candidates.
    pub candidate_count: i32,
    /// When it was drawn.
    pub created_at: DateTime<Utc>,
    /// Outbox status (`pending`, `sent`, `failed`), if announced.
    pub delivery_status: Option<String>,
    /// Last delivery error, if any.
    pub delivery_error: Option<String>,
}

// The snapshot and item list can be megabytes: they are read only for
// verification (`find_audit`), never for listings.
const RECORD_COLUMNS: &str = "r.id, c.login, c.display_name, r.slot, r.trigger, r.outcome, r.item_name,
        r.winner_user_id, r.winner_login, r.winner_display_name,
        r.candidates_digest, r.candidate_count, r.created_at, o.status, o.last_error";
const RECORD_FROM: &str = "FROM raffles r
     JOIN channels c ON c.id = r.channel_id
     LEFT JOIN outbox o ON o.raffle_id = r.id";

fn record(row: &Row) -> RaffleRecord {
    RaffleRecord {
        id: row.get(0),
        channel_login: row.get(1),
        channel_display_name: row.get(2),
        slot: row.get(3),
        trigger: row.get(4),
        outcome: row.get(5),
        item_name: row.get(6),
        winner_user_id: row.get(7),
        winner_login: row.get(8),
        winner_display_name: row.get(9),
        candidates_digest: row.get(10),
        candidate_count: row.get(11),
        created_at: row.get(12),
        delivery_status: row.get(13),
        delivery_error: row.get(14),
    }
}

/// What `verify` replays: the stored inputs of a draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaffleAudit {
    /// The seed bytes.
    pub seed: Vec<u8>,
    /// Snapshot JSON.
    pub candidates_json: String,
    /// Items as drawn (JSON).
    pub items_json: String,
}

/// A raffle with its stored draw inputs.
///
/// # Errors
///
/// Database errors.
pub async fn find_audit(db: &impl Queryable, id: i64) -> Result<Option<(RaffleRecord, RaffleAudit)>, Error> {
    // The record's columns come first, so `record` reads them unchanged.
    let rows = db
        .query_rows(
            &format!("SELECT {RECORD_COLUMNS}, r.seed, r.candidates, r.items::text {RECORD_FROM} WHERE r.id = $1"),
            &[&id],
        )
        .await?;
    Ok(rows.first().map(|row| {
        (
            record(row),
            RaffleAudit {
                seed: row.get(15),
                candidates_json: row.get(16),
                items_json: row.get(17),
            },
        )
    }))
}

/// One raffle by id.
///
/// # Errors
///
/// Database errors.
pub async fn find(db: &impl Queryable, id: i64) -> Result<Option<RaffleRecord>, Error> {
    let rows = db
        .query_rows(
            &format!("SELECT {RECORD_COLUMNS} {RECORD_FROM} WHERE r.id = $1"),
            &[&id],
        )
        .await?;
    Ok(rows.first().map(record))
}

/// The latest raffles, newest first, optionally for one channel.
///
/// # Errors
///
/// Database errors.
pub async fn recent(db: &impl Queryable, channel_login: Option<&str>, limit: i64) -> Result<Vec<RaffleRecord>, Error> {
    let rows = db
        .query_rows(
            &format!("SELECT {RECORD_COLUMNS} {RECORD_FROM} WHERE ($1::text IS NULL OR c.login = $1) ORDER BY r.created_at DESC, r.id DESC LIMIT $2"),
            &[&channel_login, &limit],
        )
        .await?;
    Ok(rows.iter().map(record).collect())
}
