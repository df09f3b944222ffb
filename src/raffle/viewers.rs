//! The control room's viewer list (SPEC §13,
//! `GET /api/channels/{login}/viewers`): every active viewer of a channel
//! with their weight and chance in the next round, or why they have none.
//! Pure.
//!
//! The numbers are `!odds`'s: the eligible set and the gates' verdicts are
//! [`super::RaffleEngine::judge_viewers`]'s (the draw's own query and
//! [`super::eligibility::judge`]), the chance is [`odds::chance`] over the
//! total weight of every eligible viewer, and a viewer the draw's query
//! leaves out is explained in `!odds`'s order (broadcaster, the bot's own
//! account, ignored, banned, cooldown).
//!
//! The list is sorted eligible first, then by login, then by user id, and
//! paged with an opaque [`Cursor`]: the sort key of the last viewer of a
//! page, so the next page starts right after it whatever joined or left in
//! between.

use std::collections::HashMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::draw::DrawItem;
use super::eligibility::{ExclusionReason, Verdict};
use super::odds;
use crate::store::EligibleViewer;

/// What the database says about one active viewer, beyond the gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewerStanding {
    /// Banned, or timed out now.
    pub banned: bool,
    /// The channel's broadcaster.
    pub broadcaster: bool,
    /// The account the bot speaks as.
    pub bot: bool,
    /// On the ignore list (or an anonymous reader).
    pub ignored: bool,
    /// Won in this channel within `WINNER_COOLDOWN`.
    pub recent_winner: bool,
}

/// One active viewer as the store lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveViewer {
    /// Twitch user id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Why the draw's query would leave them out, if it would.
    pub standing: ViewerStanding,
}

/// Why a viewer cannot win the next round; `snake_case` in JSON, a gate's
/// reason by its own word (`too_few_messages`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerReason {
    /// The channel's broadcaster.
    Broadcaster,
    /// The account the bot speaks as.
    Bot,
    /// On `IGNORE_USERS` (or an anonymous reader).
    Ignored,
    /// Banned or timed out.
    Banned,
    /// Won within `WINNER_COOLDOWN`.
    Cooldown,
    /// No longer active (left the window between two reads).
    NotActive,
    /// A gate of SPEC §14.
    #[serde(untagged)]
    Gate(ExclusionReason),
}

impl ViewerReason {
    /// Every reason (for the control room's table of words).
    pub(crate) fn all() -> Vec<Self> {
        let mut all = vec![
            Self::Broadcaster,
            Self::Bot,
            Self::Ignored,
            Self::Banned,
            Self::Cooldown,
            Self::NotActive,
        ];
        all.extend(ExclusionReason::ALL.map(Self::Gate));
        all
    }

    /// The word of the JSON (`reason`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Broadcaster => "broadcaster",
            Self::Bot => "bot",
            Self::Ignored => "ignored",
            Self::Banned => "banned",
            Self::Cooldown => "cooldown",
            Self::NotActive => "not_active",
            Self::Gate(reason) => reason.as_str(),
        }
    }

    /// The first reason the draw's query leaves this viewer out, in
    /// `!odds`'s order; `None` when it does not.
    fn of_standing(standing: &ViewerStanding) -> Option<Self> {
        [
            (standing.broadcaster, Self::Broadcaster),
            (standing.bot, Self::Bot),
            (standing.ignored, Self::Ignored),
            (standing.banned, Self::Banned),
            (standing.recent_winner, Self::Cooldown),
        ]
        .into_iter()
        .find_map(|(applies, reason)| applies.then_some(reason))
    }
}

/// One viewer of the list, as the API sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewerEntry {
    /// Twitch user id.
    pub user_id: String,
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Whether they may win the next round.
    pub eligible: bool,
    /// Their tickets (1, or `SUBSCRIBER_LUCK` for subscribers); 0 when not
    /// eligible.
    pub weight: u32,
    /// Their chance of winning the next round (0 to 1), as `!odds` says it.
    pub chance: f64,
    /// Why they are not eligible; `None` when they are.
    pub reason: Option<ViewerReason>,
}

impl ViewerEntry {
    /// Where this viewer sorts.
    fn key(&self) -> Cursor {
        Cursor {
            rank: u8::from(!self.eligible),
            login: self.login.clone(),
            user_id: self.user_id.clone(),
        }
    }
}

/// The list of every active viewer with their chance, sorted eligible
/// first, then by login and user id. `judged` is the draw's judgement of
/// the present viewers ([`super::RaffleEngine::judge_viewers`]), `luck`
/// the subscribers' weight, `items` the prize list the next round sees.
pub fn list(
    active: Vec<ActiveViewer>,
    judged: &[(EligibleViewer, Verdict)],
    luck: u32,
    items: &[DrawItem],
) -> Vec<ViewerEntry> {
    let luck = luck.max(1);
    let weight_of = |viewer: &EligibleViewer| if viewer.is_subscriber { luck } else { 1 };
    let total: u64 = judged
        .iter()
        .filter(|(_, verdict)| *verdict == Verdict::Eligible)
        .map(|(viewer, _)| u64::from(weight_of(viewer)))
        .sum();
    let by_id: HashMap<&str, (&EligibleViewer, Verdict)> = judged
        .iter()
        .map(|(viewer, verdict)| (viewer.user_id.as_str(), (viewer, *verdict)))
        .collect();
    let mut entries: Vec<ViewerEntry> = active
        .into_iter()
        .map(|viewer| {
            let (weight, reason) = match by_id.get(viewer.user_id.as_str()) {
                Some((judged, Verdict::Eligible)) => (weight_of(judged), None),
                Some((_, Verdict::Excluded(reason))) => (0, Some(ViewerReason::Gate(*reason))),
                // The draw's query has the last word: a viewer it leaves out
                // whose row looks fine changed between the two reads.
                None => (
                    0,
                    Some(ViewerReason::of_standing(&viewer.standing).unwrap_or(ViewerReason::NotActive)),
                ),
            };
            ViewerEntry {
                user_id: viewer.user_id,
                login: viewer.login,
                display_name: viewer.display_name,
                eligible: reason.is_none(),
                weight,
                chance: if reason.is_none() {
                    odds::chance(weight, total, items)
                } else {
                    0.0
                },
                reason,
            }
        })
        .collect();
    entries.sort_by_cached_key(ViewerEntry::key);
    entries
}

/// Where a page ends: the sort key of its last viewer. Opaque to clients
/// (URL-safe base64 of a small JSON array).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    /// 0 for eligible viewers, 1 for the others (they sort after).
    rank: u8,
    login: String,
    user_id: String,
}

/// A `cursor` that this API did not hand out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a previous page; pass next_cursor as it was given")]
pub struct BadCursor;

/// Longest cursor accepted, in characters (a login is at most 25, a user
/// id a few dozen).
const MAX_CURSOR_CHARS: usize = 512;

impl Cursor {
    /// The opaque text of this cursor.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&(self.rank, &self.login, &self.user_id)).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A cursor from its text.
    ///
    /// # Errors
    ///
    /// [`BadCursor`] for anything [`Self::encode`] did not write.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        if text.len() > MAX_CURSOR_CHARS {
            return Err(BadCursor);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| BadCursor)?;
        let (rank, login, user_id): (u8, String, String) = serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
        if rank > 1 || user_id.is_empty() {
            return Err(BadCursor);
        }
        Ok(Self { rank, login, user_id })
    }
}

/// One page of a sorted list: at most `limit` viewers after `after`, and
/// the cursor of the next page (`None` on the last).
pub fn page<'a>(
    entries: &'a [ViewerEntry],
    limit: usize,
    after: Option<&Cursor>,
) -> (&'a [ViewerEntry], Option<Cursor>) {
    let start = after.map_or(0, |cursor| entries.partition_point(|entry| entry.key() <= *cursor));
    let rest = entries.get(start..).unwrap_or_default();
    let end = rest.len().min(limit);
    let shown = rest.get(..end).unwrap_or_default();
    let next = if end < rest.len() {
        shown.last().map(ViewerEntry::key)
    } else {
        None
    };
    (shown, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raffle::eligibility::FollowFact;

    fn active(user_id: &str, login: &str, standing: ViewerStanding) -> ActiveViewer {
        ActiveViewer {
            user_id: user_id.into(),
            login: login.into(),
            display_name: login.to_uppercase(),
            standing,
        }
    }

    fn judged(user_id: &str, subscriber: bool, verdict: Verdict) -> (EligibleViewer, Verdict) {
        (
            EligibleViewer {
                user_id: user_id.into(),
                is_subscriber: subscriber,
                message_count: 1,
                account_created_at: None,
                follow: FollowFact::Unknown,
            },
            verdict,
        )
    }

    fn item(probability: f64) -> DrawItem {
        DrawItem {
            name: "Mug".into(),
            probability,
            remaining_stock: None,
        }
    }

    #[test]
    fn chances_are_odds_chances_and_reasons_are_typed() {
        let banned = ViewerStanding {
            banned: true,
            ..ViewerStanding::default()
        };
        let bot_and_ignored = ViewerStanding {
            bot: true,
            ignored: true,
            ..ViewerStanding::default()
        };
        let list = list(
            vec![
                active("1", "zed", ViewerStanding::default()),
                active("2", "amy", ViewerStanding::default()),
                active("3", "bob", banned),
                active("4", "kinoyubot", bot_and_ignored),
                active("5", "cat", ViewerStanding::default()),
                active("6", "dan", ViewerStanding::default()),
            ],
            &[
                judged("1", false, Verdict::Eligible),
                judged("2", true, Verdict::Eligible),
                judged("5", false, Verdict::Excluded(ExclusionReason::TooFewMessages)),
            ],
            3,
            &[item(0.5)],
        );
        let summary: Vec<(&str, bool, u32, Option<ViewerReason>)> = list
            .iter()
            .map(|e| (e.login.as_str(), e.eligible, e.weight, e.reason))
            .collect();
        assert_eq!(
            summary,
            [
                ("amy", true, 3, None),
                ("zed", true, 1, None),
                ("bob", false, 0, Some(ViewerReason::Banned)),
                (
                    "cat",
                    false,
                    0,
                    Some(ViewerReason::Gate(ExclusionReason::TooFewMessages))
                ),
                ("dan", false, 0, Some(ViewerReason::NotActive)),
                ("kinoyubot", false, 0, Some(ViewerReason::Bot)),
            ]
        );
        let items = [item(0.5)];
        assert_eq!(list[0].chance, odds::chance(3, 4, &items));
        assert_eq!(list[1].chance, odds::chance(1, 4, &items));
        assert!(list[2..].iter().all(|e| e.chance == 0.0));
    }

    #[test]
    fn reasons_serialise_in_snake_case() {
        let words: Vec<serde_json::Value> = [
            ViewerReason::Banned,
            ViewerReason::Cooldown,
            ViewerReason::Ignored,
            ViewerReason::Broadcaster,
            ViewerReason::Bot,
            ViewerReason::NotActive,
        ]
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
        assert_eq!(
            words,
            ["banned", "cooldown", "ignored", "broadcaster", "bot", "not_active"]
        );
        for reason in ExclusionReason::ALL {
            assert_eq!(
                serde_json::to_value(ViewerReason::Gate(reason)).ok(),
                Some(reason.as_str().into()),
                "a gate's reason keeps its word"
            );
        }
        for reason in ViewerReason::all() {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(reason.as_str().into()),
                "as_str is the JSON word"
            );
        }
    }

    #[test]
    fn the_broadcaster_is_named_before_anything_else() {
        let everything = ViewerStanding {
            banned: true,
            broadcaster: true,
            bot: true,
            ignored: true,
            recent_winner: true,
        };
        assert_eq!(ViewerReason::of_standing(&everything), Some(ViewerReason::Broadcaster));
        let cooldown = ViewerStanding {
            recent_winner: true,
            ..ViewerStanding::default()
        };
        assert_eq!(ViewerReason::of_standing(&cooldown), Some(ViewerReason::Cooldown));
        assert_eq!(ViewerReason::of_standing(&ViewerStanding::default()), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            rank: 1,
            login: "viewer_1".into(),
            user_id: "123".into(),
        };
        let text = cursor.encode();
        assert!(
            text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{text}"
        );
        assert_eq!(Cursor::decode(&text), Ok(cursor));
        for bad in ["", "!!!", "bm9wZQ", "WzIsImEiLCIxIl0", &"A".repeat(600)] {
            assert_eq!(Cursor::decode(bad), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn pages_cover_the_list_once_in_order() {
        let active: Vec<ActiveViewer> = (0..7)
            .map(|n| active(&n.to_string(), &format!("v{n}"), ViewerStanding::default()))
            .collect();
        let judged: Vec<_> = (0..7)
            .filter(|n| n % 2 == 0)
            .map(|n| judged(&n.to_string(), false, Verdict::Eligible))
            .collect();
        let entries = list(active, &judged, 1, &[item(1.0)]);
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (shown, next) = page(&entries, 3, cursor.as_ref());
            assert!(shown.len() <= 3);
            seen.extend(shown.iter().map(|e| e.user_id.clone()));
            match next {
                Some(next) => cursor = Some(Cursor::decode(&next.encode()).expect("round trip")),
                None => break,
            }
        }
        assert_eq!(seen, ["0", "2", "4", "6", "1", "3", "5"]);
        let (all, next) = page(&entries, 7, None);
        assert_eq!((all.len(), next), (7, None));
        assert_eq!(page(&[], 3, None), (&[][..], None));
    }
}
