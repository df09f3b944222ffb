//! What the bot's chat replies read (SPEC §11): the inputs of a viewer's
//! odds (the same candidate query as the draw), the prize table, and
//! queueing a reply line.

use super::raffles::EligibilityRules;
use super::{Error, Queryable, Store, get, items, outbox};
use crate::announce::chat_line::QueuedChatLine;
use crate::raffle::Outcome;
use crate::raffle::draw::DrawItem;
use crate::raffle::odds::ViewerFacts;

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
