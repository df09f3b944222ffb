//! What the bot says in Twitch chat (SPEC §11), and its rendering into one
//! chat line. Pure.
//!
//! A [`ChatMessage`] is queued in the outbox (`kind = 'twitch_chat'`) in the
//! same transaction as what it tells, and rendered only when it is sent
//! ([`render_chat_line`]), in the channel's language. Its JSON is therefore a
//! storage format: add fields with `#[serde(default)]`.
//!
//! # Safety of a line
//!
//! * Every line starts with fixed text or with `@login` of the person it
//!   answers (a login is `[a-z0-9_]`), never with a name or an item, and
//!   [`finish_line`] strips any leading `/` or `.` anyway: Twitch runs a
//!   line starting with one of them as a chat command.
//! * The only mention is the winner's (or the asker's, in a reply):
//!   [`neutral`] replaces every `@` in item names and display names with
//!   a full-width `＠` (U+FF20), which Twitch does not treat as a mention,
//!   and drops control, bidi and zero-width characters.
//! * A line is at most [`MAX_LINE_CHARS`] characters (Twitch's limit for
//!   Send Chat Message), cut at a character boundary.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{ChatText, Language, OddsReason, duration_words};
use crate::raffle::eligibility::ExclusionReason;

/// Twitch's limit for one chat message, in characters.
pub(crate) const MAX_LINE_CHARS: usize = 500;
/// Cap of an item name inside a line.
const ITEM_MAX_CHARS: usize = 100;

pub use crate::channel::settings::ChatAnnounce;

/// Why a viewer is not eligible for the next round (the draw's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    /// Not seen in chat within `ACTIVE_WINDOW`.
    NotActive,
    /// Banned or timed out.
    Banned,
    /// On the ignore list (or the bot itself).
    Ignored,
    /// The broadcaster.
    Broadcaster,
    /// Won within `WINNER_COOLDOWN`.
    Cooldown,
    /// An eligibility gate excludes them (the draw's own verdict).
    Gate(ExclusionReason),
}

impl Ineligible {
    /// The reason as the catalog words it.
    fn reason(self) -> OddsReason {
        match self {
            Self::NotActive => OddsReason::NotActive,
            Self::Banned => OddsReason::Banned,
            Self::Ignored => OddsReason::Ignored,
            Self::Broadcaster => OddsReason::Broadcaster,
            Self::Cooldown => OddsReason::Cooldown,
            Self::Gate(reason) => OddsReason::Gate(reason),
        }
    }
}

/// The answer to `!odds` / `!chance`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OddsAnswer {
    /// Eligible, with this chance (0 to 1) of winning the next round.
    Eligible {
        /// Weight ÷ total weight × chance that the round has a prize.
        chance: f64,
        /// Eligible viewers now.
        candidates: u64,
    },
    /// Not eligible, and why.
    NotEligible {
        /// The reason.
        reason: Ineligible,
    },
}

/// A prize as `!raffle status` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrizeLine {
    /// Item name.
    pub name: String,
    /// Its fixed chance per round (0 when out of stock).
    pub chance: f64,
    /// Units left; `None` = unlimited.
    pub stock: Option<i32>,
}

/// Which control command is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acknowledged {
    /// `!raffle now`: a round was drawn (its result is announced separately).
    DrawNow,
    /// `!raffle now` too soon after the last one.
    DrawTooSoon,
    /// `!raffle now` while offline under `ONLY_WHEN_LIVE`.
    DrawOffline,
    /// `!raffle pause`.
    Paused,
    /// `!raffle resume`.
    Resumed,
}

/// Something the bot says in a channel's chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatMessage {
    /// A raffle was won (the first win, or a redraw).
    Win {
        /// Raffle id.
        raffle_id: i64,
        /// The item.
        item_name: String,
        /// The winner's login (mentioned).
        winner_login: String,
        /// The winner's display name.
        winner_display_name: String,
        /// Candidates in the draw.
        candidate_count: i64,
        /// The expired win this one redraws.
        #[serde(default)]
        redraw_of: Option<i64>,
        /// Until when the winner may claim (with a claim window).
        #[serde(default)]
        claim_deadline: Option<DateTime<Utc>>,
    },
    /// A round without a prize (`CHAT_ANNOUNCE=all`).
    NoPrize {
        /// Raffle id.
        raffle_id: i64,
        /// Candidates in the draw.
        candidate_count: i64,
    },
    /// The winner claimed in time.
    Claimed {
        /// Raffle id.
        raffle_id: i64,
        /// The item.
        item_name: String,
        /// The winner's login.
        winner_login: String,
        /// The winner's display name.
        winner_display_name: String,
    },
    /// The winner did not claim in time.
    Unclaimed {
        /// Raffle id.
        raffle_id: i64,
        /// The item.
        item_name: String,
        /// The winner's display name (not mentioned).
        winner_display_name: String,
        /// True when no redraw follows and the item went back to stock.
        returned_to_stock: bool,
    },
    /// The answer to `!raffle status`.
    Status {
        /// Paused?
        paused: bool,
        /// When the next timer round is due.
        next_raffle_at: Option<DateTime<Utc>>,
        /// Active viewers now.
        active_viewers: i64,
        /// The prize table.
        prizes: Vec<PrizeLine>,
    },
    /// A control command's acknowledgement.
    Ack {
        /// The moderator or broadcaster who typed it.
        requested_by: String,
        /// What is acknowledged.
        command: Acknowledged,
    },
    /// The answer to `!odds` / `!chance`.
    Odds {
        /// Who asked (login, mentioned).
        viewer_login: String,
        /// The answer.
        answer: OddsAnswer,
    },
}

impl ChatMessage {
    /// The outbox event this message is (`outbox.event`): a raffle is told
    /// at most once per event.
    pub(crate) fn event(&self) -> super::OutboxEvent {
        use super::OutboxEvent;
        match self {
            Self::Win { .. } | Self::NoPrize { .. } => OutboxEvent::Win,
            Self::Claimed { .. } => OutboxEvent::Claimed,
            Self::Unclaimed { .. } => OutboxEvent::Unclaimed,
            Self::Status { .. } | Self::Ack { .. } | Self::Odds { .. } => OutboxEvent::Reply,
        }
    }

    /// The raffle it tells about, if any.
    pub(crate) fn raffle_id(&self) -> Option<i64> {
        match self {
            Self::Win { raffle_id, .. }
            | Self::NoPrize { raffle_id, .. }
            | Self::Claimed { raffle_id, .. }
            | Self::Unclaimed { raffle_id, .. } => Some(*raffle_id),
            Self::Status { .. } | Self::Ack { .. } | Self::Odds { .. } => None,
        }
    }
}

/// A chat line queued for one channel (the outbox payload of a
/// `twitch_chat` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedChatLine {
    /// The channel's login.
    pub channel_login: String,
    /// What to say.
    pub message: ChatMessage,
}

/// Text from a name or an item made harmless inside a line: no control,
/// bidi or zero-width characters (`crate::text::clean_line`), no `@`
/// (full-width `＠` instead), at most `max_chars`.
pub(crate) fn neutral(text: &str, max_chars: usize) -> String {
    crate::text::clean_line(text, max_chars).replace('@', "\u{FF20}")
}

/// How the winner (or an asker) is mentioned: `@` and their display name
/// when it is their login in other letter case (what chat shows), their
/// login otherwise (a localized or odd display name is never put after `@`).
pub(crate) fn mention(login: &str, display_name: &str) -> String {
    let login = if login.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') && !login.is_empty() {
        login
    } else {
        "viewer"
    };
    if display_name.eq_ignore_ascii_case(login) {
        format!("@{display_name}")
    } else {
        format!("@{login}")
    }
}

/// A chat line's final form: no leading `/`, `.` or whitespace (Twitch would
/// run a command), at most [`MAX_LINE_CHARS`] characters.
pub(crate) fn finish_line(line: &str) -> String {
    let trimmed = line.trim_start_matches(|c: char| c == '/' || c == '.' || c.is_whitespace());
    let mut out: String = trimmed.chars().take(MAX_LINE_CHARS).collect();
    if trimmed.chars().count() > MAX_LINE_CHARS {
        out.pop();
        out.push('…');
    }
    out
}

/// The raffle's public page.
pub(crate) fn raffle_url(public_url: &str, raffle_id: i64) -> String {
    format!("{}/raffles/{raffle_id}", public_url.trim_end_matches('/'))
}

/// The line for `message` in `language` (the channel's: see
/// `crate::channel::ChannelLanguages`); `public_url` links the raffle page
/// and `now` reckons "in 3 min". Every word comes from the catalog
/// (`crate::catalog::ChatText`).
pub(crate) fn render_chat_line(
    message: &ChatMessage,
    language: Language,
    public_url: &str,
    now: DateTime<Utc>,
) -> String {
    let say = |text: ChatText<'_>| language.say(&text);
    let line = match message {
        ChatMessage::Win {
            raffle_id,
            item_name,
            winner_login,
            winner_display_name,
            candidate_count,
            redraw_of,
            claim_deadline,
        } => {
            let mut line = say(ChatText::Win {
                mention: &mention(winner_login, winner_display_name),
                item: &neutral(item_name, ITEM_MAX_CHARS),
                raffle_id: *raffle_id,
                candidates: *candidate_count,
                url: &raffle_url(public_url, *raffle_id),
            });
            if let Some(parent) = redraw_of {
                line = format!("{} {line}", say(ChatText::RedrawOf { parent: *parent }));
            }
            if let Some(deadline) = claim_deadline {
                // Whole seconds rounded up: a line said a moment after the
                // draw still reads "within 30 s" for a 30 s window.
                let millis = (*deadline - now).num_milliseconds().max(0);
                let left = duration_words(millis.saturating_add(999) / 1000);
                line = format!("{line} {}", say(ChatText::ClaimHint { left: &left }));
            }
            line
        }
        ChatMessage::NoPrize {
            raffle_id,
            candidate_count,
        } => say(ChatText::NoPrize {
            raffle_id: *raffle_id,
            candidates: *candidate_count,
        }),
        ChatMessage::Claimed {
            raffle_id,
            item_name,
            winner_login,
            winner_display_name,
        } => say(ChatText::Claimed {
            mention: &mention(winner_login, winner_display_name),
            item: &neutral(item_name, ITEM_MAX_CHARS),
            raffle_id: *raffle_id,
        }),
        ChatMessage::Unclaimed {
            raffle_id,
            item_name,
            winner_display_name,
            returned_to_stock,
        } => say(ChatText::Unclaimed {
            name: &neutral(winner_display_name, crate::text::MAX_NAME_CHARS),
            item: &neutral(item_name, ITEM_MAX_CHARS),
            raffle_id: *raffle_id,
            returned: *returned_to_stock,
        }),
        ChatMessage::Status {
            paused,
            next_raffle_at,
            active_viewers,
            prizes,
        } => {
            let next = match (paused, next_raffle_at) {
                (true, _) => say(ChatText::Paused),
                (false, Some(at)) => say(ChatText::NextIn {
                    left: &duration_words((*at - now).num_seconds().max(0)),
                }),
                (false, None) => say(ChatText::NoTimer),
            };
            let prizes: Vec<String> = prizes
                .iter()
                .map(|p| {
                    say(ChatText::Prize {
                        name: &neutral(&p.name, 60),
                        chance: &language.percent(p.chance.clamp(0.0, 1.0)),
                        left: p.stock.map(i64::from),
                    })
                })
                .collect();
            let prizes = if prizes.is_empty() {
                say(ChatText::NoPrizes)
            } else {
                prizes.join(", ")
            };
            say(ChatText::Status {
                next: &next,
                viewers: *active_viewers,
                prizes: &prizes,
            })
        }
        ChatMessage::Ack { requested_by, command } => {
            let who = mention(requested_by, requested_by);
            let mention = who.as_str();
            say(match command {
                Acknowledged::DrawNow => ChatText::AckDrawNow { mention },
                Acknowledged::DrawTooSoon => ChatText::AckTooSoon { mention },
                Acknowledged::DrawOffline => ChatText::AckOffline { mention },
                Acknowledged::Paused => ChatText::AckPaused { mention },
                Acknowledged::Resumed => ChatText::AckResumed { mention },
            })
        }
        ChatMessage::Odds { viewer_login, answer } => {
            let who = mention(viewer_login, viewer_login);
            match answer {
                OddsAnswer::Eligible { chance, candidates } => say(ChatText::Odds {
                    mention: &who,
                    chance: &language.percent(chance.clamp(0.0, 1.0)),
                    candidates: i64::try_from(*candidates).unwrap_or(i64::MAX),
                }),
                OddsAnswer::NotEligible { reason } => say(ChatText::NotEligible {
                    mention: &who,
                    reason: reason.reason(),
                }),
            }
        }
    };
    finish_line(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T20:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn win(item: &str, login: &str, display: &str) -> ChatMessage {
        ChatMessage::Win {
            raffle_id: 42,
            item_name: item.into(),
            winner_login: login.into(),
            winner_display_name: display.into(),
            candidate_count: 37,
            redraw_of: None,
            claim_deadline: None,
        }
    }

    #[test]
    fn an_ordinary_win_reads_as_the_spec_says_in_both_languages() {
        let en = render_chat_line(
            &win("Steam key", "viewer", "Viewer"),
            Language::En,
            "http://localhost:8080/",
            now(),
        );
        assert_eq!(
            en,
            "@Viewer won Steam key! Raffle #42 among 37 viewers — http://localhost:8080/raffles/42"
        );
        let pt = render_chat_line(
            &win("Steam key", "viewer", "Viewer"),
            Language::PtBr,
            "http://localhost:8080",
            now(),
        );
        assert_eq!(
            pt,
            "@Viewer ganhou Steam key! Sorteio #42 entre 37 espectadores — http://localhost:8080/raffles/42"
        );
    }

    #[test]
    fn hostile_items_and_names_cannot_make_a_command_or_a_mention() {
        for (item, display) in [
            ("/ban streamer", "Viewer"),
            (".timeout streamer 600", "Viewer"),
            ("@everyone free @streamer", "Viewer"),
            ("key\n/ban x", "@mod"),
            ("\u{202E}key", "Viewer\u{200B}@x"),
        ] {
            let line = render_chat_line(&win(item, "viewer", display), Language::En, "http://h", now());
            assert!(!line.starts_with('/') && !line.starts_with('.'), "{line}");
            assert_eq!(line.matches('@').count(), 1, "only the winner is mentioned: {line}");
            assert!(line.starts_with("@viewer") || line.starts_with("@Viewer"), "{line}");
            assert!(!line.contains('\n') && !line.contains('\u{202E}'), "{line}");
        }
        // A display name that is not the login in other case is never put after '@'.
        let line = render_chat_line(&win("key", "viewer", "Someone_Else"), Language::En, "http://h", now());
        assert!(line.starts_with("@viewer won"), "{line}");
    }

    #[test]
    fn lines_never_exceed_500_characters() {
        let long = "x".repeat(5_000);
        let line = render_chat_line(&win(&long, "viewer", "Viewer"), Language::En, "http://h", now());
        assert!(line.chars().count() <= MAX_LINE_CHARS);
        let prizes = (0..200)
            .map(|i| PrizeLine {
                name: format!("prize number {i} with a long name"),
                chance: 0.001,
                stock: Some(3),
            })
            .collect();
        let status = ChatMessage::Status {
            paused: false,
            next_raffle_at: Some(now()),
            active_viewers: 3,
            prizes,
        };
        let line = render_chat_line(&status, Language::PtBr, "http://h", now());
        assert_eq!(line.chars().count(), MAX_LINE_CHARS);
        assert!(line.ends_with('…'));
        assert_eq!(finish_line("/me hi"), "me hi");
        assert_eq!(finish_line(" ./ban"), "ban");
    }

    #[test]
    fn status_odds_and_acks_read_naturally() {
        let status = ChatMessage::Status {
            paused: false,
            next_raffle_at: Some(now() + chrono::Duration::seconds(90)),
            active_viewers: 37,
            prizes: vec![
                PrizeLine {
                    name: "Steam key".into(),
                    chance: 0.05,
                    stock: Some(3),
                },
                PrizeLine {
                    name: "Mug".into(),
                    chance: 0.5,
                    stock: None,
                },
            ],
        };
        assert_eq!(
            render_chat_line(&status, Language::En, "http://h", now()),
            "Next raffle in 1 min 30 s · 37 active viewers · prizes: Steam key 5.0% (3 left), Mug 50.0% (unlimited)"
        );
        let odds = ChatMessage::Odds {
            viewer_login: "viewer".into(),
            answer: OddsAnswer::Eligible {
                chance: 0.027,
                candidates: 37,
            },
        };
        assert_eq!(
            render_chat_line(&odds, Language::En, "http://h", now()),
            "@viewer your chance in the next raffle: 2.7% (among 37 eligible viewers)"
        );
        let banned = ChatMessage::Odds {
            viewer_login: "viewer".into(),
            answer: OddsAnswer::NotEligible {
                reason: Ineligible::Banned,
            },
        };
        assert!(render_chat_line(&banned, Language::PtBr, "http://h", now()).starts_with("@viewer "));
        let ack = ChatMessage::Ack {
            requested_by: "moddy".into(),
            command: Acknowledged::Paused,
        };
        assert_eq!(
            render_chat_line(&ack, Language::En, "http://h", now()),
            "@moddy Raffles paused."
        );
    }

    #[test]
    fn queued_lines_round_trip_through_json() {
        let line = QueuedChatLine {
            channel_login: "chan".into(),
            message: win("Mug", "viewer", "Viewer"),
        };
        let value = serde_json::to_value(&line).unwrap_or_default();
        assert_eq!(value["message"]["kind"], "win");
        assert_eq!(serde_json::from_value::<QueuedChatLine>(value).ok(), Some(line));
    }
}
