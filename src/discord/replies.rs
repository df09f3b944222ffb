//! Every reply the Discord bot sends to a slash command (SPEC §12), built
//! from the language catalog's `DiscordBotText` in the channel's
//! `LANGUAGE`. Pure.
//!
//! Names and items from chat and the prize list are escaped here with
//! `escape_markdown` (no mention, no markdown) before they go into a
//! catalog text, and every reply is sent with `allowed_mentions:
//! {"parse": []}` as well.

use std::time::Duration;

use crate::announce::render::{escape_markdown, truncate_with_ellipsis};
use crate::catalog::{DiscordBotText, Language};
use crate::raffle::{Outcome, RaffleRecord, Verification};
use crate::twitch::auth::policy::ConnectPolicy;

/// Discord's limit on a message's content.
pub(crate) const MAX_CONTENT_CHARS: usize = 2000;

/// What the bot knows about a channel for `/raffle status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelState {
    /// Login.
    pub(crate) login: String,
    /// Automatic raffles paused.
    pub(crate) paused: bool,
    /// Active viewers now.
    pub(crate) active_viewers: i64,
    /// Unix seconds of the next timer slot, `None` when paused.
    pub(crate) next_raffle_unix: Option<i64>,
}

/// A reply the bot sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    /// The Connect-with-Twitch link.
    Connect { url: String, policy: ConnectPolicy },
    /// A channel's state.
    Status(ChannelState),
    /// A draw was recorded.
    Drawn(Box<RaffleRecord>),
    /// A draw asked for too soon after the last one in that channel.
    TooSoon { channel: String, wait: Duration },
    /// Automatic raffles paused or resumed.
    Paused { channel: String, paused: bool },
    /// The result of verifying a raffle.
    Verified { id: i64, verification: Verification },
    /// No raffle with that id.
    NoSuchRaffle(i64),
    /// Recent raffles of a channel.
    History {
        channel: String,
        raffles: Vec<RaffleRecord>,
    },
    /// The member may not use control subcommands.
    NotAllowed,
    /// Several channels are served and none was named.
    ChooseChannel(Vec<String>),
    /// No channel is served yet.
    NoChannels,
    /// The named channel is not served here.
    UnknownChannel(String),
    /// Something failed on our side (database down).
    Unavailable,
}

/// A channel's login as shown: escaped.
fn channel(login: &str) -> String {
    format!("#{}", escape_markdown(login))
}

fn outcome_line(language: Language, record: &RaffleRecord) -> String {
    let raffle_id = record.id;
    let candidates = i64::from(record.candidate_count);
    match (record.outcome, &record.winner, &record.item_name) {
        (Outcome::Won, Some(winner), Some(item)) => language.say(&DiscordBotText::Won {
            winner: &escape_markdown(&winner.display_name),
            item: &escape_markdown(item),
            raffle_id,
            candidates,
        }),
        (Outcome::Won, _, _) => language.say(&DiscordBotText::WonBare { raffle_id }),
        (Outcome::NoPrize, _, _) => language.say(&DiscordBotText::NoPrize { raffle_id, candidates }),
        (Outcome::NoCandidates, _, _) => language.say(&DiscordBotText::NoCandidates { raffle_id }),
        (Outcome::SkippedOffline, _, _) => language.say(&DiscordBotText::SkippedOffline { raffle_id }),
    }
}

/// The text of `reply` in `language`, within Discord's content limit.
pub(crate) fn render(language: Language, reply: &Reply) -> String {
    let say = |text: DiscordBotText<'_>| language.say(&text);
    let text = match reply {
        Reply::Connect { url, policy } => {
            let link = say(DiscordBotText::ConnectLink { url });
            match policy {
                ConnectPolicy::Anyone => link,
                ConnectPolicy::First => format!("{link}\n{}", say(DiscordBotText::ConnectFirstNote)),
                ConnectPolicy::Listed => format!("{link}\n{}", say(DiscordBotText::ConnectListedNote)),
            }
        }
        Reply::Status(state) => {
            let next = match (state.paused, state.next_raffle_unix) {
                (true, _) => say(DiscordBotText::AutoPaused),
                (false, Some(at)) => say(DiscordBotText::NextRaffleAt {
                    at: &format!("<t:{at}:R>"),
                }),
                (false, None) => say(DiscordBotText::NextRaffleSoon),
            };
            say(DiscordBotText::Status {
                channel: &channel(&state.login),
                active_viewers: state.active_viewers,
                next: &next,
            })
        }
        Reply::Drawn(record) => outcome_line(language, record),
        Reply::TooSoon { channel: login, wait } => say(DiscordBotText::TooSoon {
            channel: &channel(login),
            seconds: wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0)),
        }),
        Reply::Paused { channel: login, paused } => {
            let channel = channel(login);
            if *paused {
                say(DiscordBotText::Paused { channel: &channel })
            } else {
                say(DiscordBotText::Resumed { channel: &channel })
            }
        }
        Reply::Verified { id, verification } => match verification {
            Verification::Verified => say(DiscordBotText::Verified { raffle_id: *id }),
            Verification::SkippedOffline => say(DiscordBotText::VerifiedSkipped { raffle_id: *id }),
            Verification::Mismatch(problems) => {
                let lines: Vec<String> = problems.iter().map(|p| format!("- {}", escape_markdown(p))).collect();
                format!(
                    "{}\n{}",
                    say(DiscordBotText::Mismatch { raffle_id: *id }),
                    lines.join("\n")
                )
            }
        },
        Reply::NoSuchRaffle(id) => say(DiscordBotText::NoSuchRaffle { raffle_id: *id }),
        Reply::History {
            channel: login,
            raffles,
        } => {
            let channel = channel(login);
            if raffles.is_empty() {
                say(DiscordBotText::HistoryEmpty { channel: &channel })
            } else {
                let lines: Vec<String> = raffles
                    .iter()
                    .map(|r| format!("- <t:{}:f> {}", r.created_at.timestamp(), outcome_line(language, r)))
                    .collect();
                format!(
                    "{}\n{}",
                    say(DiscordBotText::HistoryHead { channel: &channel }),
                    lines.join("\n")
                )
            }
        }
        Reply::NotAllowed => say(DiscordBotText::NotAllowed),
        Reply::ChooseChannel(logins) => {
            let list: Vec<String> = logins.iter().map(|l| channel(l)).collect();
            say(DiscordBotText::ChooseChannel {
                channels: &list.join(", "),
            })
        }
        Reply::NoChannels => say(DiscordBotText::NoChannels),
        Reply::UnknownChannel(login) => say(DiscordBotText::UnknownChannel {
            channel: &channel(login),
        }),
        Reply::Unavailable => say(DiscordBotText::Unavailable),
    };
    truncate_with_ellipsis(&text, MAX_CONTENT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_exists_in_both_languages_and_they_differ() {
        let replies = [
            Reply::Connect {
                url: "http://x/auth/twitch".into(),
                policy: ConnectPolicy::First,
            },
            Reply::Status(ChannelState {
                login: "chan".into(),
                paused: false,
                active_viewers: 3,
                next_raffle_unix: Some(1),
            }),
            Reply::TooSoon {
                channel: "chan".into(),
                wait: Duration::from_millis(2500),
            },
            Reply::Paused {
                channel: "chan".into(),
                paused: true,
            },
            Reply::NoSuchRaffle(3),
            Reply::NotAllowed,
            Reply::ChooseChannel(vec!["a".into(), "b".into()]),
            Reply::NoChannels,
            Reply::UnknownChannel("zzz".into()),
            Reply::Unavailable,
        ];
        for reply in &replies {
            let en = render(Language::En, reply);
            let pt = render(Language::PtBr, reply);
            assert!(!en.is_empty() && !pt.is_empty());
            assert_ne!(en, pt, "{reply:?}");
        }
        assert!(render(Language::En, &replies[2]).contains("3 s"), "rounded up");
        assert!(render(Language::PtBr, &replies[2]).contains("tente de novo em 3 s"));
    }

    #[test]
    fn names_cannot_mention_anyone() {
        let text = render(Language::En, &Reply::UnknownChannel("@everyone".into()));
        assert!(!text.contains("@everyone"), "{text}");
        let long = render(Language::En, &Reply::ChooseChannel(vec!["a".repeat(25); 200]));
        assert!(long.chars().count() <= MAX_CONTENT_CHARS);
    }
}
