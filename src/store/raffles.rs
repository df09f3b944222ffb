//! The `raffles` table, the candidate query over `presence` (SPEC §5), and
//! [`RoundTransaction`], the unit of work of one raffle round.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::{Connection, Error, Queryable, Store, get, get_optional_word, get_word, items, outbox, parse_word};
use crate::announce::Announcement;
use crate::announce::chat_line::QueuedChatLine;
use crate::channel::ChannelLogin;
use crate::raffle::draw::{DrawItem, Seed};
use crate::raffle::eligibility::{ExclusionCounts, ExclusionReason, FollowCache, FollowFact, Gates};
use crate::raffle::items::{ListedItem, PrizeList};
use crate::raffle::slot::TimerSlot;
use crate::raffle::{
    Claim, ClaimStatus, Delivery, OutboxDelivery, Outcome, RaffleAudit, RaffleRecord, Trigger, Winner,
};

/// Who may win, as decided in SQL (SPEC §5 step 2); the eligibility gates
/// of issue 18 are judged afterwards by `crate::raffle::eligibility`.
#[derive(Debug, Clone)]
pub struct EligibilityRules {
    /// Seen in chat within this window.
    pub active_window: Duration,
    /// Not a winner in this channel within this long.
    pub winner_cooldown: Duration,
    /// Logins never eligible (ignore list; the channel itself is added by the caller).
    pub excluded_logins: Vec<String>,
    /// Whether lurkers listed by Get Chatters (`presence.source =
    /// 'chatters'`) are present (`PRESENCE_SOURCES=chat,chatters`).
    pub include_chatters: bool,
    /// Whether to read cached account creation dates (`MIN_ACCOUNT_AGE` set).
    pub with_account_ages: bool,
    /// Whether to read cached follow answers (`MIN_FOLLOW_AGE` set).
    pub with_follows: bool,
}

/// A present viewer as read for the snapshot, with what the gates need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleViewer {
    /// Twitch user id.
    pub user_id: String,
    /// Subscriber badge seen on their latest message.
    pub is_subscriber: bool,
    /// Messages sent in the channel.
    pub message_count: i64,
    /// Cached account creation time (`twitch_accounts`).
    pub account_created_at: Option<DateTime<Utc>>,
    /// Cached follow state (`twitch_follows`).
    pub follow: FollowFact,
}

/// The viewers of a round and the database's time when they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentViewers {
    /// The viewers.
    pub viewers: Vec<EligibleViewer>,
    /// `now()` of the query: the gates judge ages against the same clock
    /// that decided the active window.
    pub now: DateTime<Utc>,
}

/// Who is present, shared by the candidate query and the query for missing
/// Twitch facts. Parameters: $1 channel id, $2 active window (s), $3
/// broadcaster user id, $4 excluded logins, $5 winner cooldown (s), $6 the
/// `won` outcome, $7 whether lurkers count.
const PRESENT: &str = "p.channel_id = $1
       AND p.last_seen > now() - make_interval(secs => $2::float8)
       AND (p.banned_until IS NULL OR p.banned_until <= now())
       AND NOT p.is_broadcaster
       AND p.user_id IS DISTINCT FROM $3::text
       AND NOT (p.login = ANY($4::text[]))
       AND p.login NOT LIKE 'justinfan%'
       -- The account the bot speaks as (SPEC §11) chats too; it never wins.
       AND NOT EXISTS (SELECT 1 FROM bot_account b WHERE b.twitch_user_id = p.user_id)
       AND ($7::bool OR p.source = 'chat')
       AND p.user_id NOT IN (
           -- Few rows (recent winners), so PostgreSQL hashes them
           -- once instead of probing per viewer.
           SELECT r.winner_user_id FROM raffles r
           WHERE $5::float8 > 0 AND r.channel_id = $1 AND r.outcome = $6
             AND r.winner_user_id IS NOT NULL
             AND r.created_at > now() - make_interval(secs => $5::float8))";

/// Present viewers of a channel now: seen within the active window, not
/// banned or timed out, not the broadcaster, not ignored, not an anonymous
/// reader (`justinfan…`, which the bot itself is), not the account the bot
/// speaks as, and not a winner within
/// the cooldown, with their cached Twitch facts. Order is unspecified; the
/// snapshot sorts.
///
/// # Errors
///
/// Database errors.
pub(super) async fn select_candidates(
    db: &impl Queryable,
    channel_id: i64,
    broadcaster_user_id: Option<&str>,
    rules: &EligibilityRules,
) -> Result<PresentViewers, Error> {
    let window = rules.active_window.as_secs_f64();
    let cooldown = rules.winner_cooldown.as_secs_f64();
    // One row of arrays instead of one row per viewer: decoding 100,000
    // rows costs more than the query itself.
    let rows = db
        .query_rows(
            &format!(
                "SELECT now() AS now,
                        coalesce(array_agg(p.user_id), '{{}}') AS user_ids,
                        coalesce(array_agg(p.is_subscriber), '{{}}') AS subscribers,
                        coalesce(array_agg(p.message_count), '{{}}') AS message_counts,
                        coalesce(array_agg(a.created_at), '{{}}') AS created_ats,
                        coalesce(array_agg(f.followed_at), '{{}}') AS followed_ats,
                        coalesce(array_agg(f.fetched_at), '{{}}') AS follow_fetched_ats
                 FROM presence p
                 -- Without the gate its cache is not read at all.
                 LEFT JOIN twitch_accounts a ON $8::bool AND a.user_id = p.user_id
                 LEFT JOIN twitch_follows f ON $9::bool AND f.channel_id = p.channel_id AND f.user_id = p.user_id
                 WHERE {PRESENT}"
            ),
            &[
                &channel_id,
                &window,
                &broadcaster_user_id,
                &rules.excluded_logins,
                &cooldown,
                &Outcome::Won.as_str(),
                &rules.include_chatters,
                &rules.with_account_ages,
                &rules.with_follows,
            ],
        )
        .await?;
    let row = rows.first().ok_or(Error::NoRow {
        statement: "the candidate query",
    })?;
    let now: DateTime<Utc> = get(row, "now")?;
    let user_ids: Vec<String> = get(row, "user_ids")?;
    let subscribers: Vec<bool> = get(row, "subscribers")?;
    let message_counts: Vec<i64> = get(row, "message_counts")?;
    let created_ats: Vec<Option<DateTime<Utc>>> = get(row, "created_ats")?;
    let followed_ats: Vec<Option<DateTime<Utc>>> = get(row, "followed_ats")?;
    let fetched_ats: Vec<Option<DateTime<Utc>>> = get(row, "follow_fetched_ats")?;
    let viewers = user_ids
        .into_iter()
        .zip(subscribers)
        .zip(message_counts)
        .zip(created_ats)
        .zip(followed_ats.into_iter().zip(fetched_ats))
        .map(
            |((((user_id, is_subscriber), message_count), account_created_at), (followed_at, fetched_at))| {
                EligibleViewer {
                    user_id,
                    is_subscriber,
                    message_count,
                    account_created_at,
                    follow: FollowFact::from_cache(followed_at, fetched_at),
                }
            },
        )
        .collect();
    Ok(PresentViewers { viewers, now })
}

/// Present viewers who pass the presence gates but whose Twitch facts the
/// gates need and the cache lacks: no account creation date, or a follow
/// answer due for refresh under `cache` (a missing one always is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingFacts {
    /// User ids whose account creation date is not known.
    pub accounts: Vec<String>,
    /// User ids whose follow state is unknown or due for refresh.
    pub follows: Vec<String>,
}

impl MissingFacts {
    /// Whether nothing needs asking.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.follows.is_empty()
    }
}

/// See [`MissingFacts`]. Only the facts `gates` use are looked for.
///
/// # Errors
///
/// Database errors.
async fn select_missing_facts(
    db: &impl Queryable,
    channel_id: i64,
    broadcaster_user_id: Option<&str>,
    rules: &EligibilityRules,
    gates: &Gates,
    cache: &FollowCache,
) -> Result<MissingFacts, Error> {
    let window = rules.active_window.as_secs_f64();
    let cooldown = rules.winner_cooldown.as_secs_f64();
    let min_messages = i64::from(gates.min_messages);
    // Same rule as `FollowFact::needs_refresh`, in SQL so that a warm cache
    // costs one aggregate row, not the whole channel decoded twice.
    let rows = db
        .query_rows(
            &format!(
                "SELECT coalesce(array_agg(p.user_id) FILTER (WHERE $8::bool AND p.account_created_at IS NULL), '{{}}')
                            AS accounts,
                        coalesce(array_agg(p.user_id) FILTER (
                            WHERE $9::bool AND (p.follow_fetched_at IS NULL OR p.follow_fetched_at <= CASE
                                WHEN p.followed_at IS NULL THEN t.non_follower_due ELSE t.follower_due END)),
                            '{{}}') AS follows
                 -- The facts copied into presence (see `sync_presence_facts`): no join.
                 FROM presence p,
                      (SELECT now() - make_interval(secs => $10::float8) AS non_follower_due,
                              now() - make_interval(secs => $11::float8) AS follower_due) t
                 WHERE {PRESENT}
                   AND p.message_count >= $12::bigint
                   AND (NOT $13::bool OR p.is_subscriber)"
            ),
            &[
                &channel_id,
                &window,
                &broadcaster_user_id,
                &rules.excluded_logins,
                &cooldown,
                &Outcome::Won.as_str(),
                &rules.include_chatters,
                &gates.needs_account_age(),
                &gates.needs_follow(),
                &cache.refresh_non_follower.as_secs_f64(),
                &cache.refresh_follower.as_secs_f64(),
                &min_messages,
                &gates.subscribers_only,
            ],
        )
        .await?;
    let row = rows.first().ok_or(Error::NoRow {
        statement: "the missing facts query",
    })?;
    Ok(MissingFacts {
        accounts: get(row, "accounts")?,
        follows: get(row, "follows")?,
    })
}

/// Copies what the caches know into the presence rows of a channel that
/// lack it (new rows, or answers cached by another channel's round), so
/// that [`select_missing_facts`] and [`select_judged`] read presence alone.
/// Only rows without the fact are touched: warm, this finds none. Rows are
/// locked in user id order, as the presence writer sends them
/// (`store::presence`), so the two cannot deadlock.
///
/// # Errors
///
/// Database errors.
async fn sync_presence_facts(db: &impl Queryable, channel_id: i64, gates: &Gates) -> Result<(), Error> {
    if gates.needs_account_age() {
        db.query_rows(
            "UPDATE presence p SET account_created_at = s.created_at
             FROM (SELECT q.user_id, a.created_at
                   FROM presence q JOIN twitch_accounts a ON a.user_id = q.user_id
                   WHERE q.channel_id = $1 AND q.account_created_at IS NULL
                   ORDER BY q.user_id COLLATE \"C\" FOR UPDATE OF q) s
             WHERE p.channel_id = $1 AND p.user_id = s.user_id",
            &[&channel_id],
        )
        .await?;
    }
    if gates.needs_follow() {
        db.query_rows(
            "UPDATE presence p SET followed_at = s.followed_at, follow_fetched_at = s.fetched_at
             FROM (SELECT q.user_id, f.followed_at, f.fetched_at
                   FROM presence q JOIN twitch_follows f ON f.channel_id = q.channel_id AND f.user_id = q.user_id
                   WHERE q.channel_id = $1 AND q.follow_fetched_at IS NULL
                   ORDER BY q.user_id COLLATE \"C\" FOR UPDATE OF q) s
             WHERE p.channel_id = $1 AND p.user_id = s.user_id",
            &[&channel_id],
        )
        .await?;
    }
    Ok(())
}

/// A round's candidates as judged in SQL: the eligible viewers (the
/// snapshot's set) and how many the gates excluded, by reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedCandidates {
    /// Eligible viewers: user id and subscriber badge.
    pub eligible: Vec<(String, bool)>,
    /// Viewers the gates excluded, by reason.
    pub excluded: ExclusionCounts,
    /// Viewers passing the presence gates whose Twitch facts are missing
    /// or due for a refresh (what `Store::missing_facts` would list).
    pub facts_due: u64,
}

/// The gates' verdict as a SQL `CASE` over presence's columns and its
/// copies of the Twitch facts, giving the reason's word or null for an
/// eligible viewer. The same rules, in the same order, as
/// `crate::raffle::eligibility::judge` (which the viewers API and `!odds`
/// use; the gates tests hold both to the same answers). Parameters from
/// $8: min messages, subscribers only, min account age (s, 0 = off),
/// follow gate on, min follow age (s); `t` holds the moments of
/// [`select_judged`].
fn verdict_sql() -> String {
    use ExclusionReason as R;
    format!(
        "CASE
            WHEN p.message_count < $8::bigint THEN '{too_few}'
            WHEN $9::bool AND NOT p.is_subscriber THEN '{not_sub}'
            WHEN $10::float8 > 0 AND p.account_created_at IS NULL THEN '{unknown_age}'
            WHEN $10::float8 > 0 AND p.account_created_at > t.young_after THEN '{young}'
            WHEN $11::bool AND (p.follow_fetched_at IS NULL OR p.follow_fetched_at < t.follow_known_after)
                THEN '{unknown_follow}'
            WHEN $11::bool AND p.followed_at IS NULL THEN '{not_following}'
            WHEN $11::bool AND $12::float8 > 0 AND p.followed_at > t.recent_after THEN '{recent}'
         END",
        too_few = R::TooFewMessages.as_str(),
        not_sub = R::NotSubscriber.as_str(),
        unknown_age = R::UnknownAccountAge.as_str(),
        young = R::YoungAccount.as_str(),
        unknown_follow = R::UnknownFollow.as_str(),
        not_following = R::NotFollowing.as_str(),
        recent = R::RecentFollower.as_str(),
    )
}

/// The present viewers of a channel judged by `gates` in one aggregate
/// row: only the eligible ones come back, the excluded are counted by
/// reason in SQL. Facts are read from presence (fill it first with
/// [`sync_presence_facts`]); unknown or too old facts exclude (fail closed).
///
/// # Errors
///
/// Database errors.
async fn select_judged(
    db: &impl Queryable,
    channel_id: i64,
    broadcaster_user_id: Option<&str>,
    rules: &EligibilityRules,
    gates: &Gates,
    cache: &FollowCache,
) -> Result<JudgedCandidates, Error> {
    let window = rules.active_window.as_secs_f64();
    let cooldown = rules.winner_cooldown.as_secs_f64();
    let counts: Vec<String> = ExclusionReason::ALL
        .iter()
        .map(|reason| format!("count(*) FILTER (WHERE j.reason = '{0}') AS {0}", reason.as_str()))
        .collect();
    // The moments are computed once (`t`), not per row; `OFFSET 0` keeps
    // the subquery whole, so each viewer's verdict is computed once rather
    // than once per aggregate that reads it.
    let sql = format!(
        "SELECT coalesce(array_agg(j.user_id) FILTER (WHERE j.reason IS NULL), '{{}}') AS user_ids,
                coalesce(array_agg(j.is_subscriber) FILTER (WHERE j.reason IS NULL), '{{}}') AS subscribers,
                count(*) FILTER (WHERE j.due) AS facts_due,
                {counts}
         FROM (SELECT p.user_id, p.is_subscriber, {verdict} AS reason,
                      -- Facts to ask Twitch for, as in `select_missing_facts`.
                      (p.message_count >= $8::bigint AND (NOT $9::bool OR p.is_subscriber)
                       AND (($10::float8 > 0 AND p.account_created_at IS NULL)
                            OR ($11::bool AND (p.follow_fetched_at IS NULL OR p.follow_fetched_at <= CASE
                                WHEN p.followed_at IS NULL THEN t.non_follower_due ELSE t.follower_due END))))
                      AS due
               FROM presence p,
                    (SELECT now() - make_interval(secs => $10::float8) AS young_after,
                            now() - make_interval(secs => $12::float8) AS recent_after,
                            now() - make_interval(secs => $13::float8) AS follow_known_after,
                            now() - make_interval(secs => $14::float8) AS non_follower_due,
                            now() - make_interval(secs => $15::float8) AS follower_due) t
               WHERE {PRESENT}
               OFFSET 0) j",
        counts = counts.join(",\n                "),
        verdict = verdict_sql(),
    );
    let min_messages = i64::from(gates.min_messages);
    let min_account_age = gates.min_account_age.as_secs_f64();
    let min_follow_age = gates.min_follow_age.unwrap_or_default().as_secs_f64();
    let max_follow_age = cache.max_age.as_secs_f64();
    let rows = db
        .query_rows(
            &sql,
            &[
                &channel_id,
                &window,
                &broadcaster_user_id,
                &rules.excluded_logins,
                &cooldown,
                &Outcome::Won.as_str(),
                &rules.include_chatters,
                &min_messages,
                &gates.subscribers_only,
                &min_account_age,
                &gates.needs_follow(),
                &min_follow_age,
                &max_follow_age,
                &cache.refresh_non_follower.as_secs_f64(),
                &cache.refresh_follower.as_secs_f64(),
            ],
        )
        .await?;
    let row = rows.first().ok_or(Error::NoRow {
        statement: "the judged candidate query",
    })?;
    let user_ids: Vec<String> = get(row, "user_ids")?;
    let subscribers: Vec<bool> = get(row, "subscribers")?;
    let facts_due: i64 = get(row, "facts_due")?;
    let mut excluded = ExclusionCounts::default();
    for reason in ExclusionReason::ALL {
        let n: i64 = get(row, reason.as_str())?;
        excluded.add_many(reason, u64::try_from(n).unwrap_or(0));
    }
    Ok(JudgedCandidates {
        eligible: user_ids.into_iter().zip(subscribers).collect(),
        excluded,
        facts_due: u64::try_from(facts_due).unwrap_or(0),
    })
}

/// When a timer slot starts, as stored in `raffles.slot_start`.
fn slot_start(slot: TimerSlot) -> Result<DateTime<Utc>, Error> {
    i64::try_from(slot.start_millis())
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| Error::BadStoredValue {
            column: "slot_start",
            reason: format!(
                "slot {} of {:?} starts beyond the representable time",
                slot.number(),
                slot.interval()
            ),
        })
}

/// Takes the per-(channel, slot start) lock for the rest of the transaction
/// and says whether a slot starting then was already drawn, whatever the
/// interval it was planned with. Concurrent rounds for the same start queue
/// on the lock; the second then sees the first's row. The unique key
/// (channel_id, slot_start) remains the final guarantee.
///
/// # Errors
///
/// Database errors.
async fn lock_slot(db: &impl Queryable, channel_id: i64, slot: TimerSlot) -> Result<bool, Error> {
    let start = slot_start(slot)?;
    let start_millis = i64::try_from(slot.start_millis()).unwrap_or(i64::MAX);
    let rows = db
        .query_rows(
            "SELECT pg_advisory_xact_lock(hashtextextended('kinoyubot.slot:' || $1::bigint::text || ':' || $2::bigint::text, 0)),
                    EXISTS (SELECT 1 FROM raffles WHERE channel_id = $1::bigint AND slot_start = $3) AS drawn",
            &[&channel_id, &start_millis, &start],
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
    pub(crate) slot: Option<TimerSlot>,
    /// What started the round.
    pub(crate) trigger: Trigger,
    /// How it came out.
    pub(crate) outcome: Outcome,
    /// Item won.
    pub(crate) item_name: Option<&'a str>,
    /// The `items` row the win's unit came from (a redraw: its parent's).
    pub(crate) item_id: Option<i64>,
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
    /// Viewers the gates excluded, by reason.
    pub(crate) excluded: &'a ExclusionCounts,
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
/// the (channel, slot start) was drawn already (the unique key caught a second
/// round for the slot).
pub(super) async fn insert(db: &impl Queryable, raffle: &NewRaffle<'_>) -> Result<Option<Inserted>, Error> {
    let items_json = serde_json::to_string(raffle.items).map_err(|source| Error::Encode {
        what: "the draw's items",
        source,
    })?;
    let excluded_json = serde_json::to_string(raffle.excluded).map_err(|source| Error::Encode {
        what: "the excluded counts",
        source,
    })?;
    let winner = raffle.winner;
    let slot_start = raffle.slot.map(slot_start).transpose()?;
    let inserted = db
        .query_rows(
            "INSERT INTO raffles (channel_id, slot, trigger, outcome, item_name, winner_user_id, winner_login,
                                  winner_display_name, seed, candidates, candidates_digest, candidate_count, items,
                                  skip_reason, excluded, slot_start, claim_status, claim_deadline, redraw_of, item_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text, $11, $12, $13::text::jsonb, $14,
                     $15::text::jsonb, $16,
                     CASE WHEN $17::float8 IS NULL THEN NULL ELSE 'pending' END,
                     CASE WHEN $17::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $17::float8) END,
                     $18, $19)
             RETURNING id, created_at, claim_deadline",
            &[
                &raffle.channel_id,
                &raffle.slot.map(TimerSlot::number),
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
                &excluded_json,
                &slot_start,
                &raffle.claim_window.map(|w| w.as_secs_f64()),
                &raffle.redraw_of,
                &raffle.item_id,
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
        r.candidates_digest, r.candidate_count, r.created_at, r.skip_reason, r.excluded::text AS excluded,
        r.claim_status, r.claim_deadline, r.redraw_of, o.status AS delivery_status, o.last_error AS delivery_error,
        o.failure AS delivery_failure,
        (SELECT coalesce(json_agg(json_build_object('kind', d.kind, 'event', d.event, 'status', d.status,
                                                    'error', d.last_error, 'failure', d.failure)
                                  ORDER BY d.id), '[]')::text
         FROM outbox d WHERE d.raffle_id = r.id) AS deliveries";
const RECORD_FROM: &str = "FROM raffles r
     JOIN channels c ON c.id = r.channel_id
     LEFT JOIN outbox o ON o.raffle_id = r.id AND o.kind = 'discord' AND o.event = 'win'";

/// The stored excluded counts; an unknown reason is a store error, as for
/// other stored words.
fn decode_excluded(text: &str) -> Result<ExclusionCounts, Error> {
    serde_json::from_str(text).map_err(|_| Error::UnknownWord {
        column: "excluded",
        value: text.chars().take(200).collect(),
    })
}

/// The stored outbox rows of a raffle (`deliveries` of `RECORD_COLUMNS`);
/// an unknown word is a store error, as for other stored words.
fn decode_deliveries(text: &str) -> Result<Vec<OutboxDelivery>, Error> {
    #[derive(serde::Deserialize)]
    struct Stored {
        kind: String,
        event: String,
        status: String,
        error: Option<String>,
        failure: Option<String>,
    }
    let stored: Vec<Stored> = serde_json::from_str(text).map_err(|_| Error::UnknownWord {
        column: "deliveries",
        value: text.chars().take(200).collect(),
    })?;
    stored
        .into_iter()
        .map(|row| {
            Ok(OutboxDelivery {
                kind: parse_word("kind", &row.kind)?,
                event: parse_word("event", &row.event)?,
                status: parse_word("status", &row.status)?,
                error: row.error,
                failure: row.failure.map(|word| parse_word("failure", &word)).transpose()?,
            })
        })
        .collect()
}

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
                failure: get_optional_word(row, "delivery_failure")?,
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
        deliveries: decode_deliveries(&get::<String>(row, "deliveries")?)?,
        excluded: decode_excluded(&get::<String>(row, "excluded")?)?,
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
    /// Present viewers who pass the presence gates but lack Twitch facts
    /// the gates need; see [`MissingFacts`]. Read before a round's
    /// transaction, so that Helix is asked without holding its locks, after
    /// copying what the caches already know into presence
    /// ([`sync_presence_facts`]).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn missing_facts(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
        gates: &Gates,
        cache: &FollowCache,
    ) -> Result<MissingFacts, Error> {
        let client = self.pool.get().await?;
        sync_presence_facts(&client, channel_id, gates).await?;
        select_missing_facts(&client, channel_id, broadcaster_user_id, rules, gates, cache).await
    }

    /// Present viewers of a channel now with their cached Twitch facts, as
    /// a round would read them (for the viewers API and `!odds`).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn present_viewers(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
    ) -> Result<PresentViewers, Error> {
        let client = self.pool.get().await?;
        select_candidates(&client, channel_id, broadcaster_user_id, rules).await
    }

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

    /// The raffle that redrew `id`'s prize after its claim expired, if any.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn redrawn_as(&self, id: i64) -> Result<Option<i64>, Error> {
        let client = self.pool.get().await?;
        let rows = client
            .query_rows("SELECT id FROM raffles WHERE redraw_of = $1", &[&id])
            .await?;
        rows.first().map(|row| get(row, "id")).transpose()
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
    /// Takes the per-(channel, slot start) lock for the rest of the round
    /// and says whether a slot starting then was drawn already (under any
    /// interval). Concurrent rounds for one start queue on the lock, and the
    /// second then sees the first's row; the unique key (channel_id,
    /// slot_start) remains the final guarantee.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn slot_drawn(&self, channel_id: i64, slot: TimerSlot) -> Result<bool, Error> {
        lock_slot(&self.transaction, channel_id, slot).await
    }

    /// The prize list the channel draws from (its own, else the default),
    /// in order with its remaining stock as the round sees it. Not locked:
    /// the unit won is taken at the end ([`Self::take_one`]), which fails
    /// if a concurrent round took the last one first.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn items(&self, channel_id: i64) -> Result<PrizeList, Error> {
        items::for_draw(&self.transaction, channel_id).await
    }

    /// Present viewers of a channel now, with their cached Twitch facts;
    /// see [`EligibilityRules`].
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn eligible_viewers(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
    ) -> Result<PresentViewers, Error> {
        select_candidates(&self.transaction, channel_id, broadcaster_user_id, rules).await
    }

    /// The candidates of a round judged by the gates in SQL; see
    /// [`select_judged`]. The round filled presence's copies of the facts
    /// just before (`Store::missing_facts`); a viewer who appeared since
    /// has none yet and is excluded as unknown (fail closed).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn judged_candidates(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
        gates: &Gates,
        cache: &FollowCache,
    ) -> Result<JudgedCandidates, Error> {
        select_judged(&self.transaction, channel_id, broadcaster_user_id, rules, gates, cache).await
    }

    /// Takes one unit of a stocked item's stock; the item's row stays
    /// locked until the round ends (unlimited items need no call).
    ///
    /// # Errors
    ///
    /// Database errors; [`Error::OutOfStock`] when a concurrent round took
    /// the last unit first.
    pub(crate) async fn take_one(&self, item: &ListedItem) -> Result<(), Error> {
        items::take_one(&self.transaction, item).await
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
