//! The `twitch_accounts` and `twitch_follows` caches (issue 18) and lurkers
//! from Helix Get Chatters in `presence` (`source = 'chatters'`).
//!
//! Account creation dates never change and are kept for ever; follow
//! answers carry `fetched_at` and are refreshed by the caller's rules
//! (`crate::raffle::eligibility::FollowCache`). Each answer is also copied
//! into the judged channel's presence rows (`account_created_at`,
//! `followed_at`, `follow_fetched_at`), which the rounds read instead of
//! joining the caches.

use chrono::{DateTime, Utc};

use super::{Error, Queryable, Store};

/// A lurker listed by Get Chatters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedChatter<'a> {
    /// Twitch user id.
    pub user_id: &'a str,
    /// Login.
    pub login: &'a str,
    /// Display name.
    pub display_name: &'a str,
}

/// Marks listed chatters present at the database's `now()` in one
/// statement: a new row has no messages and `source = 'chatters'`; an
/// existing row only has its `last_seen` moved forward (message count,
/// flags, source and bans untouched). Rows are sorted by user id so that
/// concurrent writers lock in the same order. Returns the rows written.
///
/// # Errors
///
/// Database errors.
async fn upsert_chatters(db: &impl Queryable, channel_id: i64, chatters: &[ListedChatter<'_>]) -> Result<usize, Error> {
    if chatters.is_empty() {
        return Ok(0);
    }
    let mut sorted: Vec<&ListedChatter<'_>> = chatters.iter().collect();
    sorted.sort_unstable_by(|a, b| a.user_id.cmp(b.user_id));
    sorted.dedup_by(|a, b| a.user_id == b.user_id);
    let user_ids: Vec<&str> = sorted.iter().map(|c| c.user_id).collect();
    let logins: Vec<&str> = sorted.iter().map(|c| c.login).collect();
    let names: Vec<&str> = sorted.iter().map(|c| c.display_name).collect();
    db.query_rows(
        "INSERT INTO presence AS p (channel_id, user_id, login, display_name, first_seen, last_seen,
                                    message_count, source)
         SELECT $1, u.user_id, u.login, u.display_name, now(), now(), 0, 'chatters'
         FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(user_id, login, display_name)
         ON CONFLICT (channel_id, user_id) DO UPDATE SET last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen)",
        &[&channel_id, &user_ids, &logins, &names],
    )
    .await?;
    Ok(sorted.len())
}

impl Store {
    /// Marks these chatters of a channel present now; see [`upsert_chatters`].
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn mark_chatters_present(
        &self,
        channel_id: i64,
        chatters: &[ListedChatter<'_>],
    ) -> Result<usize, Error> {
        let client = self.pool.get().await?;
        upsert_chatters(&client, channel_id, chatters).await
    }

    /// Caches account creation dates (kept for ever) and copies them into
    /// the presence rows of `channel_id`, the channel being judged (other
    /// channels' rows are filled from the cache before their next gated
    /// round).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn cache_accounts(
        &self,
        channel_id: i64,
        accounts: &[(&str, DateTime<Utc>)],
    ) -> Result<(), Error> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(&str, DateTime<Utc>)> = accounts.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let ids: Vec<&str> = sorted.iter().map(|(id, _)| *id).collect();
        let created: Vec<DateTime<Utc>> = sorted.iter().map(|(_, at)| *at).collect();
        let client = self.pool.get().await?;
        client
            .query_rows(
                "WITH cached AS (
                     INSERT INTO twitch_accounts (user_id, created_at)
                     SELECT * FROM UNNEST($1::text[], $2::timestamptz[])
                     ON CONFLICT (user_id) DO UPDATE SET created_at = EXCLUDED.created_at, fetched_at = now()
                     RETURNING user_id, created_at),
                 -- Locked in user id order, as the presence writer sends rows.
                 locked AS (
                     SELECT q.user_id, c.created_at FROM presence q JOIN cached c ON c.user_id = q.user_id
                     WHERE q.channel_id = $3
                     ORDER BY q.user_id COLLATE \"C\" FOR UPDATE OF q)
                 UPDATE presence p SET account_created_at = l.created_at
                 FROM locked l
                 WHERE p.channel_id = $3 AND p.user_id = l.user_id",
                &[&ids, &created, &channel_id],
            )
            .await?;
        Ok(())
    }

    /// Caches follow answers for a channel as of now: `Some(followed_at)`
    /// for followers, `None` for viewers who do not follow; the channel's
    /// presence rows get the same answers (their copy the rounds read).
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn cache_follows(
        &self,
        channel_id: i64,
        follows: &[(&str, Option<DateTime<Utc>>)],
    ) -> Result<(), Error> {
        if follows.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(&str, Option<DateTime<Utc>>)> = follows.iter().collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let ids: Vec<&str> = sorted.iter().map(|(id, _)| *id).collect();
        let since: Vec<Option<DateTime<Utc>>> = sorted.iter().map(|(_, at)| *at).collect();
        let client = self.pool.get().await?;
        client
            .query_rows(
                "WITH cached AS (
                     INSERT INTO twitch_follows (channel_id, user_id, followed_at, fetched_at)
                     SELECT $1, u.user_id, u.followed_at, now()
                     FROM UNNEST($2::text[], $3::timestamptz[]) AS u(user_id, followed_at)
                     ON CONFLICT (channel_id, user_id) DO UPDATE
                     SET followed_at = EXCLUDED.followed_at, fetched_at = EXCLUDED.fetched_at
                     RETURNING user_id, followed_at, fetched_at),
                 -- Locked in user id order, as the presence writer sends rows.
                 locked AS (
                     SELECT q.user_id, c.followed_at, c.fetched_at FROM presence q JOIN cached c ON c.user_id = q.user_id
                     WHERE q.channel_id = $1
                     ORDER BY q.user_id COLLATE \"C\" FOR UPDATE OF q)
                 UPDATE presence p SET followed_at = l.followed_at, follow_fetched_at = l.fetched_at
                 FROM locked l
                 WHERE p.channel_id = $1 AND p.user_id = l.user_id",
                &[&channel_id, &ids, &since],
            )
            .await?;
        Ok(())
    }
}
