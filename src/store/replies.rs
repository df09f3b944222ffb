//! What the bot's chat replies read (SPEC §11): the inputs of a viewer's
//! odds (the same candidate query as the draw), the prize table, and
//! queueing a reply line.

use super::raffles::EligibilityRules;
use super::{Error, Queryable, Store, get, items, outbox};
use crate::announce::chat_line::QueuedChatLine;
use crate::raffle::Outcome;
use crate::raffle::draw::DrawItem;
use crate::raffle::odds::ViewerFacts;
use crate::raffle::viewers::{ActiveViewer, ViewerStanding};

/// What `!odds` needs besides the draw's own judgement of the present
/// viewers (`RaffleEngine::judge_viewers`), read in one go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OddsInputs {
    /// The asking viewer's facts; `None` if they never chatted here.
    pub(crate) viewer: Option<ViewerFacts>,
    /// The channel's items as its next draw would see them.
    pub(crate) items: Vec<DrawItem>,
}

impl Store {
    /// The inputs of `user_id`'s odds in a channel under `rules`: why the
    /// draw's query would leave this viewer out, and the prize list.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn odds_inputs(
        &self,
        channel_id: i64,
        broadcaster_user_id: Option<&str>,
        user_id: &str,
        rules: &EligibilityRules,
    ) -> Result<OddsInputs, Error> {
        let client = self.pool.get().await?;
        let window = rules.active_window.as_secs_f64();
        let cooldown = rules.winner_cooldown.as_secs_f64();
        let rows = client
            .query_rows(
                "SELECT p.last_seen > now() - make_interval(secs => $3::float8) AS active,
                        (p.banned_until IS NOT NULL AND p.banned_until > now()) AS banned,
                        (p.is_broadcaster OR COALESCE(p.user_id = $4::text, false)) AS broadcaster,
                        (p.login = ANY($5::text[]) OR p.login LIKE 'justinfan%'
                         OR EXISTS (SELECT 1 FROM bot_account b WHERE b.twitch_user_id = p.user_id)) AS ignored,
                        EXISTS (SELECT 1 FROM raffles r
                                WHERE $6::float8 > 0 AND r.channel_id = $1 AND r.outcome = $7
                                  AND r.winner_user_id = p.user_id
                                  AND r.created_at > now() - make_interval(secs => $6::float8)) AS recent_winner,
                        p.is_subscriber AS subscriber
                 FROM presence p WHERE p.channel_id = $1 AND p.user_id = $2",
                &[
                    &channel_id,
                    &user_id,
                    &window,
                    &broadcaster_user_id,
                    &rules.excluded_logins,
                    &cooldown,
                    &Outcome::Won.as_str(),
                ],
            )
            .await?;
        let viewer = rows
            .first()
            .map(|row| {
                Ok::<_, Error>(ViewerFacts {
                    active: get(row, "active")?,
                    banned: get(row, "banned")?,
                    broadcaster: get(row, "broadcaster")?,
                    ignored: get(row, "ignored")?,
                    recent_winner: get(row, "recent_winner")?,
                    subscriber: get(row, "subscriber")?,
                })
            })
            .transpose()?;
        let items = items::for_draw(&client, channel_id).await?.draw_items();
        Ok(OddsInputs { viewer, items })
    }

    /// Every active viewer of a channel (seen within the active window,
    /// lurkers only when they count) with why the draw's query would leave
    /// them out, for the control room's viewer list. Order unspecified.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn viewer_standings(
        &self,
        channel_id: i64,
        channel_login: &str,
        broadcaster_user_id: Option<&str>,
        rules: &EligibilityRules,
    ) -> Result<Vec<ActiveViewer>, Error> {
        let client = self.pool.get().await?;
        let window = rules.active_window.as_secs_f64();
        let cooldown = rules.winner_cooldown.as_secs_f64();
        let rows = client
            .query_rows(
                "SELECT p.user_id, p.login, p.display_name,
                        (p.banned_until IS NOT NULL AND p.banned_until > now()) AS banned,
                        (p.is_broadcaster OR p.login = $3 OR COALESCE(p.user_id = $4::text, false)) AS broadcaster,
                        EXISTS (SELECT 1 FROM bot_account b WHERE b.twitch_user_id = p.user_id) AS bot,
                        (p.login = ANY($5::text[]) OR p.login LIKE 'justinfan%') AS ignored,
                        p.user_id IN (
                            SELECT r.winner_user_id FROM raffles r
                            WHERE $6::float8 > 0 AND r.channel_id = $1 AND r.outcome = $7
                              AND r.winner_user_id IS NOT NULL
                              AND r.created_at > now() - make_interval(secs => $6::float8)) AS recent_winner
                 FROM presence p
                 WHERE p.channel_id = $1
                   AND p.last_seen > now() - make_interval(secs => $2::float8)
                   AND ($8::bool OR p.source = 'chat')",
                &[
                    &channel_id,
                    &window,
                    &channel_login,
                    &broadcaster_user_id,
                    &rules.excluded_logins,
                    &cooldown,
                    &Outcome::Won.as_str(),
                    &rules.include_chatters,
                ],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ActiveViewer {
                    user_id: get(row, "user_id")?,
                    login: get(row, "login")?,
                    display_name: get(row, "display_name")?,
                    standing: ViewerStanding {
                        banned: get(row, "banned")?,
                        broadcaster: get(row, "broadcaster")?,
                        bot: get(row, "bot")?,
                        ignored: get(row, "ignored")?,
                        recent_winner: get(row, "recent_winner")?,
                    },
                })
            })
            .collect()
    }

    /// The channel's prize list as its next draw would see it.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn prize_table(&self, channel_id: i64) -> Result<Vec<DrawItem>, Error> {
        Ok(items::for_draw(&self.pool.get().await?, channel_id).await?.draw_items())
    }

    /// Queues a reply in chat (only while a bot account can speak); returns
    /// whether it was queued.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub(crate) async fn enqueue_chat_line(&self, line: &QueuedChatLine) -> Result<bool, Error> {
        Ok(outbox::enqueue_chat(&self.pool.get().await?, line).await?.is_some())
    }
}
