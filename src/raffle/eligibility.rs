//! Who may win, from Twitch's data (SPEC §10, §14; issue 18): the gates
//! `MIN_MESSAGES`, `SUBSCRIBERS_ONLY`, `MIN_ACCOUNT_AGE` and `MIN_FOLLOW_AGE`
//! judged over a viewer's presence and the cached Twitch facts about them.
//!
//! Pure: no tokio, no SQL, no clock (the caller passes `now`). The round,
//! `!odds` and the viewers API share [`judge`], so a reason shown anywhere is
//! the reason the round used.
//!
//! The gates fail closed: a viewer whose account age or follow state is not
//! known (Helix down, the broadcaster's token lacks the scope, the cached
//! answer is too old) is excluded with `unknown_account_age` or
//! `unknown_follow`, never included.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `PRESENCE_SOURCES`: what makes a viewer present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PresenceSources {
    /// `chat`: a chat message only.
    #[default]
    Chat,
    /// `chat,chatters`: also being listed by Helix Get Chatters (lurkers).
    ChatAndChatters,
}

impl PresenceSources {
    /// Whether lurkers from Get Chatters count.
    pub fn includes_chatters(self) -> bool {
        matches!(self, Self::ChatAndChatters)
    }

    /// The setting's value in the environment's form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::ChatAndChatters => "chat,chatters",
        }
    }
}

/// Why a `PRESENCE_SOURCES` value is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresenceSourcesError {
    /// A part that is neither `chat` nor `chatters`.
    #[error("unknown source {0:?}; use chat or chat,chatters")]
    UnknownSource(String),
    /// Known parts, but not a combination that exists (`chat` is required).
    #[error("invalid value {0:?}; use chat or chat,chatters")]
    Invalid(String),
}

impl FromStr for PresenceSources {
    type Err = PresenceSourcesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut chat = false;
        let mut chatters = false;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.to_ascii_lowercase().as_str() {
                "chat" => chat = true,
                "chatters" => chatters = true,
                other => return Err(PresenceSourcesError::UnknownSource(other.to_owned())),
            }
        }
        match (chat, chatters) {
            (true, false) => Ok(Self::Chat),
            (true, true) => Ok(Self::ChatAndChatters),
            _ => Err(PresenceSourcesError::Invalid(text.to_owned())),
        }
    }
}

/// How a presence row came to be (`presence.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceSource {
    /// A chat message.
    Chat,
    /// Listed by Helix Get Chatters.
    Chatters,
}

impl PresenceSource {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Chatters => "chatters",
        }
    }
}

impl FromStr for PresenceSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "chat" => Ok(Self::Chat),
            "chatters" => Ok(Self::Chatters),
            other => Err(format!("unknown presence source {other:?}")),
        }
    }
}

/// A channel's gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gates {
    /// `PRESENCE_SOURCES`.
    pub presence_sources: PresenceSources,
    /// `MIN_MESSAGES`.
    pub min_messages: u32,
    /// `SUBSCRIBERS_ONLY`.
    pub subscribers_only: bool,
    /// `MIN_ACCOUNT_AGE`; zero turns the gate off.
    pub min_account_age: Duration,
    /// `MIN_FOLLOW_AGE`; `None` = following not required, `Some(0s)` = any follower.
    pub min_follow_age: Option<Duration>,
}

impl Default for Gates {
    /// The defaults of SPEC §10: no Twitch gate, one message.
    fn default() -> Self {
        Self {
            presence_sources: PresenceSources::Chat,
            min_messages: 1,
            subscribers_only: false,
            min_account_age: Duration::ZERO,
            min_follow_age: None,
        }
    }
}

impl Gates {
    /// Whether account creation dates are needed.
    pub fn needs_account_age(&self) -> bool {
        !self.min_account_age.is_zero()
    }

    /// Whether follow state is needed.
    pub fn needs_follow(&self) -> bool {
        self.min_follow_age.is_some()
    }
}

/// How long cached follow answers are trusted (account creation dates never
/// change and are kept for ever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowCache {
    /// A follower is asked again after this long (they can unfollow).
    pub refresh_follower: Duration,
    /// A non-follower is asked again after this long (they may follow now).
    pub refresh_non_follower: Duration,
    /// An answer older than this is not used at all: the viewer cannot be
    /// judged (fails closed) until Helix answers again.
    pub max_age: Duration,
}

impl Default for FollowCache {
    fn default() -> Self {
        Self {
            refresh_follower: Duration::from_secs(3600),
            refresh_non_follower: Duration::from_secs(600),
            max_age: Duration::from_secs(6 * 3600),
        }
    }
}

/// A cached follow answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowFact {
    /// Never asked (or the answer could not be had).
    Unknown,
    /// Following since `since`, as Helix said at `fetched_at`.
    Following {
        /// `followed_at`.
        since: DateTime<Utc>,
        /// When Helix said so.
        fetched_at: DateTime<Utc>,
    },
    /// Not following, as Helix said at `fetched_at`.
    NotFollowing {
        /// When Helix said so.
        fetched_at: DateTime<Utc>,
    },
}

impl FollowFact {
    /// From the cache's columns: no row → unknown; a row with no
    /// `followed_at` → not following.
    pub fn from_cache(followed_at: Option<DateTime<Utc>>, fetched_at: Option<DateTime<Utc>>) -> Self {
        match (followed_at, fetched_at) {
            (_, None) => Self::Unknown,
            (Some(since), Some(fetched_at)) => Self::Following { since, fetched_at },
            (None, Some(fetched_at)) => Self::NotFollowing { fetched_at },
        }
    }

    fn fetched_at(self) -> Option<DateTime<Utc>> {
        match self {
            Self::Unknown => None,
            Self::Following { fetched_at, .. } | Self::NotFollowing { fetched_at } => Some(fetched_at),
        }
    }

    /// Whether this answer should be asked again at `now`.
    pub fn needs_refresh(self, now: DateTime<Utc>, cache: &FollowCache) -> bool {
        let refresh_after = match self {
            Self::Unknown => return true,
            Self::Following { .. } => cache.refresh_follower,
            Self::NotFollowing { .. } => cache.refresh_non_follower,
        };
        self.fetched_at().is_none_or(|at| age(at, now) >= refresh_after)
    }
}

/// What is known about one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewerFacts {
    /// Messages sent in the channel (`presence.message_count`).
    pub message_count: i64,
    /// Subscriber badge on their latest message.
    pub is_subscriber: bool,
    /// Account creation date, if known.
    pub account_created_at: Option<DateTime<Utc>>,
    /// Follow state, if known.
    pub follow: FollowFact,
}

/// Why a present viewer is not eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// Fewer messages than `MIN_MESSAGES`.
    TooFewMessages,
    /// Not a subscriber under `SUBSCRIBERS_ONLY`.
    NotSubscriber,
    /// Account younger than `MIN_ACCOUNT_AGE`.
    YoungAccount,
    /// Account age could not be learned (fails closed).
    UnknownAccountAge,
    /// Not following under `MIN_FOLLOW_AGE`.
    NotFollowing,
    /// Following for less than `MIN_FOLLOW_AGE`.
    RecentFollower,
    /// Follow state could not be learned or is too old (fails closed).
    UnknownFollow,
}

impl ExclusionReason {
    /// Every reason, in the order gates are judged.
    pub const ALL: [Self; 7] = [
        Self::TooFewMessages,
        Self::NotSubscriber,
        Self::YoungAccount,
        Self::UnknownAccountAge,
        Self::NotFollowing,
        Self::RecentFollower,
        Self::UnknownFollow,
    ];

    /// The word used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooFewMessages => "too_few_messages",
            Self::NotSubscriber => "not_subscriber",
            Self::YoungAccount => "young_account",
            Self::UnknownAccountAge => "unknown_account_age",
            Self::NotFollowing => "not_following",
            Self::RecentFollower => "recent_follower",
            Self::UnknownFollow => "unknown_follow",
        }
    }

    /// Whether the reason is missing data rather than a failed gate.
    pub fn is_unknown_data(self) -> bool {
        matches!(self, Self::UnknownAccountAge | Self::UnknownFollow)
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The gates' verdict on one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// May win.
    Eligible,
    /// May not, for this reason (the first gate that failed).
    Excluded(ExclusionReason),
}

fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    // A date in the future (clock skew) is age zero, never a panic.
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

/// Judges one viewer at `now`: presence gates first, then account age, then
/// follow age. Missing or too old data excludes (fails closed).
pub fn judge(gates: &Gates, cache: &FollowCache, facts: &ViewerFacts, now: DateTime<Utc>) -> Verdict {
    use ExclusionReason as R;
    if facts.message_count < i64::from(gates.min_messages) {
        return Verdict::Excluded(R::TooFewMessages);
    }
    if gates.subscribers_only && !facts.is_subscriber {
        return Verdict::Excluded(R::NotSubscriber);
    }
    if gates.needs_account_age() {
        match facts.account_created_at {
            None => return Verdict::Excluded(R::UnknownAccountAge),
            Some(created) if age(created, now) < gates.min_account_age => return Verdict::Excluded(R::YoungAccount),
            Some(_) => {}
        }
    }
    if let Some(min_follow_age) = gates.min_follow_age {
        let too_old = facts.follow.fetched_at().is_none_or(|at| age(at, now) > cache.max_age);
        if too_old {
            return Verdict::Excluded(R::UnknownFollow);
        }
        match facts.follow {
            FollowFact::Unknown => return Verdict::Excluded(R::UnknownFollow),
            FollowFact::NotFollowing { .. } => return Verdict::Excluded(R::NotFollowing),
            FollowFact::Following { since, .. } if age(since, now) < min_follow_age => {
                return Verdict::Excluded(R::RecentFollower);
            }
            FollowFact::Following { .. } => {}
        }
    }
    Verdict::Eligible
}

/// Whether a viewer passes the presence gates (messages, subscription), so
/// that Twitch is asked only about viewers who could still be eligible.
pub fn passes_presence_gates(gates: &Gates, message_count: i64, is_subscriber: bool) -> bool {
    message_count >= i64::from(gates.min_messages) && (!gates.subscribers_only || is_subscriber)
}

/// How many viewers a round excluded, by reason. In JSON an object such as
/// `{"young_account": 3}`; reasons with no viewer are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExclusionCounts(BTreeMap<ExclusionReason, u64>);

impl ExclusionCounts {
    /// Counts one more viewer excluded for `reason`.
    pub fn add(&mut self, reason: ExclusionReason) {
        let count = self.0.entry(reason).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Counts `n` more viewers excluded for `reason` (none: nothing noted).
    pub fn add_many(&mut self, reason: ExclusionReason, n: u64) {
        if n > 0 {
            let count = self.0.entry(reason).or_insert(0);
            *count = count.saturating_add(n);
        }
    }

    /// Viewers excluded for `reason`.
    pub fn get(&self, reason: ExclusionReason) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    /// Viewers excluded in all.
    pub fn total(&self) -> u64 {
        self.0.values().fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Whether nobody was excluded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each reason with its count, in judging order.
    pub fn iter(&self) -> impl Iterator<Item = (ExclusionReason, u64)> + '_ {
        self.0.iter().map(|(reason, n)| (*reason, *n))
    }

    /// Viewers excluded because their data could not be had.
    pub fn unknown_data(&self) -> u64 {
        self.iter()
            .filter(|(reason, _)| reason.is_unknown_data())
            .fold(0u64, |sum, (_, n)| sum.saturating_add(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).single().unwrap_or_default()
    }

    fn days(n: i64) -> chrono::TimeDelta {
        chrono::TimeDelta::days(n)
    }

    fn chatter() -> ViewerFacts {
        ViewerFacts {
            message_count: 3,
            is_subscriber: false,
            account_created_at: Some(now() - days(400)),
            follow: FollowFact::Following {
                since: now() - days(30),
                fetched_at: now(),
            },
        }
    }

    fn gated() -> Gates {
        Gates {
            presence_sources: PresenceSources::ChatAndChatters,
            min_messages: 1,
            subscribers_only: false,
            min_account_age: Duration::from_secs(7 * 86_400),
            min_follow_age: Some(Duration::from_secs(86_400)),
        }
    }

    fn verdict(gates: &Gates, facts: &ViewerFacts) -> Verdict {
        judge(gates, &FollowCache::default(), facts, now())
    }

    #[test]
    fn default_gates_need_one_message_and_nothing_from_twitch() {
        let gates = Gates::default();
        assert!(!gates.needs_account_age() && !gates.needs_follow());
        let unknown = ViewerFacts {
            account_created_at: None,
            follow: FollowFact::Unknown,
            ..chatter()
        };
        assert_eq!(verdict(&gates, &unknown), Verdict::Eligible);
        let lurker = ViewerFacts {
            message_count: 0,
            ..unknown
        };
        assert_eq!(
            verdict(&gates, &lurker),
            Verdict::Excluded(ExclusionReason::TooFewMessages)
        );
    }

    #[test]
    fn a_lurker_is_eligible_only_with_min_messages_zero() {
        let lurker = ViewerFacts {
            message_count: 0,
            ..chatter()
        };
        assert_eq!(
            verdict(&gated(), &lurker),
            Verdict::Excluded(ExclusionReason::TooFewMessages)
        );
        let open = Gates {
            min_messages: 0,
            ..gated()
        };
        assert_eq!(verdict(&open, &lurker), Verdict::Eligible);
    }

    #[test]
    fn each_gate_excludes_with_its_reason() {
        let gates = Gates {
            subscribers_only: true,
            ..gated()
        };
        let sub = ViewerFacts {
            is_subscriber: true,
            ..chatter()
        };
        assert_eq!(verdict(&gates, &sub), Verdict::Eligible);
        let cases = [
            (
                ViewerFacts {
                    is_subscriber: false,
                    ..sub
                },
                ExclusionReason::NotSubscriber,
            ),
            (
                ViewerFacts {
                    account_created_at: Some(now() - days(2)),
                    ..sub
                },
                ExclusionReason::YoungAccount,
            ),
            (
                ViewerFacts {
                    account_created_at: None,
                    ..sub
                },
                ExclusionReason::UnknownAccountAge,
            ),
            (
                ViewerFacts {
                    follow: FollowFact::NotFollowing { fetched_at: now() },
                    ..sub
                },
                ExclusionReason::NotFollowing,
            ),
            (
                ViewerFacts {
                    follow: FollowFact::Following {
                        since: now() - chrono::TimeDelta::hours(2),
                        fetched_at: now(),
                    },
                    ..sub
                },
                ExclusionReason::RecentFollower,
            ),
            (
                ViewerFacts {
                    follow: FollowFact::Unknown,
                    ..sub
                },
                ExclusionReason::UnknownFollow,
            ),
            (
                ViewerFacts {
                    message_count: 0,
                    ..sub
                },
                ExclusionReason::TooFewMessages,
            ),
        ];
        for (facts, reason) in cases {
            assert_eq!(verdict(&gates, &facts), Verdict::Excluded(reason), "{facts:?}");
        }
    }

    #[test]
    fn a_follow_answer_too_old_fails_closed_and_is_refreshed_first() {
        let cache = FollowCache::default();
        let stale = ViewerFacts {
            follow: FollowFact::Following {
                since: now() - days(300),
                fetched_at: now() - days(1),
            },
            ..chatter()
        };
        assert_eq!(
            judge(&gated(), &cache, &stale, now()),
            Verdict::Excluded(ExclusionReason::UnknownFollow)
        );
        assert!(stale.follow.needs_refresh(now(), &cache));
        let fresh_follower = FollowFact::Following {
            since: now() - days(300),
            fetched_at: now() - chrono::TimeDelta::minutes(30),
        };
        assert!(!fresh_follower.needs_refresh(now(), &cache));
        let non_follower = FollowFact::NotFollowing {
            fetched_at: now() - chrono::TimeDelta::minutes(30),
        };
        assert!(
            non_follower.needs_refresh(now(), &cache),
            "non-followers are asked more often"
        );
        assert!(FollowFact::Unknown.needs_refresh(now(), &cache));
    }

    #[test]
    fn any_follower_passes_min_follow_age_zero_and_future_dates_do_not_panic() {
        let gates = Gates {
            min_follow_age: Some(Duration::ZERO),
            min_account_age: Duration::from_secs(1),
            ..gated()
        };
        let just_now = ViewerFacts {
            follow: FollowFact::Following {
                since: now() + days(1),
                fetched_at: now(),
            },
            ..chatter()
        };
        assert_eq!(verdict(&gates, &just_now), Verdict::Eligible);
        let future_account = ViewerFacts {
            account_created_at: Some(now() + days(1)),
            ..chatter()
        };
        assert_eq!(
            verdict(&gates, &future_account),
            Verdict::Excluded(ExclusionReason::YoungAccount)
        );
    }

    #[test]
    fn counts_serialise_as_an_object_of_reasons() {
        let mut counts = ExclusionCounts::default();
        counts.add(ExclusionReason::YoungAccount);
        counts.add(ExclusionReason::YoungAccount);
        counts.add(ExclusionReason::UnknownFollow);
        assert_eq!(
            serde_json::to_value(&counts).ok(),
            Some(serde_json::json!({"young_account": 2, "unknown_follow": 1}))
        );
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.unknown_data(), 1);
        let back: ExclusionCounts =
            serde_json::from_str(r#"{"young_account":2,"unknown_follow":1}"#).unwrap_or_default();
        assert_eq!(back, counts);
        for reason in ExclusionReason::ALL {
            assert_eq!(
                serde_json::to_value(reason).ok(),
                Some(serde_json::json!(reason.as_str()))
            );
        }
    }

    #[test]
    fn presence_sources_parse_like_the_environment() {
        assert_eq!("chat".parse(), Ok(PresenceSources::Chat));
        assert_eq!("chat,chatters".parse(), Ok(PresenceSources::ChatAndChatters));
        assert_eq!(" chatters , chat ".parse(), Ok(PresenceSources::ChatAndChatters));
        assert!("chatters".parse::<PresenceSources>().is_err());
        assert!("chat,lurkers".parse::<PresenceSources>().is_err());
        assert!("".parse::<PresenceSources>().is_err());
    }
}
