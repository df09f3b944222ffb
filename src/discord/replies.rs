//! Every text the Discord bot sends in reply to a slash command, in each
//! language (SPEC §10 `LANGUAGE`, §12). Pure. Kept in this one module so
//! it moves into the language catalog (issue 14) as a whole.
//!
//! Names and items from chat and the prize list are escaped with
//! `escape_markdown` (no mention, no markdown), and every reply is sent
//! with `allowed_mentions: {"parse": []}` as well.

use std::time::Duration;

use crate::announce::render::{escape_markdown, truncate_with_ellipsis};
use crate::raffle::{Outcome, RaffleRecord, Verification};
use crate::twitch::auth::policy::ConnectPolicy;

/// Discord's limit on a message's content.
pub(crate) const MAX_CONTENT_CHARS: usize = 2000;

/// The language of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Language {
    /// English.
    #[default]
    En,
    /// Brazilian Portuguese.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "chosen by the per-channel LANGUAGE (issues 14 and 16), not on this branch yet"
        )
    )]
    PtBr,
}

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
    let id = record.id;
    let n = record.candidate_count;
    match (record.outcome, &record.winner, &record.item_name) {
        (Outcome::Won, Some(winner), Some(item)) => {
            let (who, what) = (escape_markdown(&winner.display_name), escape_markdown(item));
            match language {
                Language::En => format!("**{who}** won **{what}**! Raffle #{id} among {n} viewers."),
                Language::PtBr => format!("**{who}** ganhou **{what}**! Sorteio #{id} entre {n} espectadores."),
            }
        }
        (Outcome::Won, _, _) => match language {
            Language::En => format!("Raffle #{id}: won."),
            Language::PtBr => format!("Sorteio #{id}: houve um ganhador."),
        },
        (Outcome::NoPrize, _, _) => match language {
            Language::En => format!("No prize this time (raffle #{id}, {n} viewers)."),
            Language::PtBr => format!("Sem prêmio desta vez (sorteio #{id}, {n} espectadores)."),
        },
        (Outcome::NoCandidates, _, _) => match language {
            Language::En => format!("Nobody was eligible (raffle #{id})."),
            Language::PtBr => format!("Ninguém podia participar (sorteio #{id})."),
        },
        (Outcome::SkippedOffline, _, _) => match language {
            Language::En => format!("The stream is offline: nothing was drawn (raffle #{id})."),
            Language::PtBr => format!("A live está offline: nada foi sorteado (sorteio #{id})."),
        },
    }
}

/// The text of `reply` in `language`, within Discord's content limit.
pub(crate) fn render(language: Language, reply: &Reply) -> String {
    use Language::{En, PtBr};
    let text = match reply {
        Reply::Connect { url, policy } => {
            let note = match (language, policy) {
                (_, ConnectPolicy::Anyone) => "",
                (En, ConnectPolicy::First) => {
                    "\nThe first account to connect owns this bot; others need to be listed by the operator or approved by the owner."
                }
                (PtBr, ConnectPolicy::First) => {
                    "\nA primeira conta conectada é a dona deste bot; as outras precisam ser listadas pelo operador ou aprovadas pela dona."
                }
                (En, ConnectPolicy::Listed) => "\nOnly channels listed by the operator can connect.",
                (PtBr, ConnectPolicy::Listed) => "\nSó canais listados pelo operador podem se conectar.",
            };
            match language {
                En => format!("Connect your Twitch account: {url}{note}"),
                PtBr => format!("Conecte sua conta da Twitch: {url}{note}"),
            }
        }
        Reply::Status(state) => {
            let name = channel(&state.login);
            let n = state.active_viewers;
            let next = match (language, state.paused, state.next_raffle_unix) {
                (En, true, _) => "automatic raffles paused".to_owned(),
                (PtBr, true, _) => "sorteios automáticos pausados".to_owned(),
                (En, false, Some(at)) => format!("next raffle <t:{at}:R>"),
                (PtBr, false, Some(at)) => format!("próximo sorteio <t:{at}:R>"),
                (En, false, None) => "next raffle soon".to_owned(),
                (PtBr, false, None) => "próximo sorteio em breve".to_owned(),
            };
            match language {
                En => format!("{name}: {n} active viewers, {next}."),
                PtBr => format!("{name}: {n} espectadores ativos, {next}."),
            }
        }
        Reply::Drawn(record) => outcome_line(language, record),
        Reply::TooSoon { channel: login, wait } => {
            let secs = wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0));
            match language {
                En => format!("{} drew less than 10 s ago; try again in {secs} s.", channel(login)),
                PtBr => format!(
                    "{} sorteou há menos de 10 s; tente de novo em {secs} s.",
                    channel(login)
                ),
            }
        }
        Reply::Paused { channel: login, paused } => match (language, paused) {
            (En, true) => format!("Automatic raffles paused in {}.", channel(login)),
            (En, false) => format!("Automatic raffles resumed in {}.", channel(login)),
            (PtBr, true) => format!("Sorteios automáticos pausados em {}.", channel(login)),
            (PtBr, false) => format!("Sorteios automáticos retomados em {}.", channel(login)),
        },
        Reply::Verified { id, verification } => match (language, verification) {
            (En, Verification::Verified) => {
                format!("Raffle #{id} verified: the stored seed and candidates give the same result.")
            }
            (PtBr, Verification::Verified) => {
                format!("Sorteio #{id} verificado: a semente e os participantes guardados dão o mesmo resultado.")
            }
            (En, Verification::SkippedOffline) => {
                format!("Raffle #{id} verified (skipped while offline: nothing was drawn).")
            }
            (PtBr, Verification::SkippedOffline) => {
                format!("Sorteio #{id} verificado (pulado com a live offline: nada foi sorteado).")
            }
            (_, Verification::Mismatch(problems)) => {
                let head = match language {
                    En => format!("Raffle #{id} does NOT verify:"),
                    PtBr => format!("O sorteio #{id} NÃO confere:"),
                };
                let lines: Vec<String> = problems.iter().map(|p| format!("- {}", escape_markdown(p))).collect();
                format!("{head}\n{}", lines.join("\n"))
            }
        },
        Reply::NoSuchRaffle(id) => match language {
            En => format!("There is no raffle #{id}."),
            PtBr => format!("Não existe o sorteio #{id}."),
        },
        Reply::History {
            channel: login,
            raffles,
        } => {
            if raffles.is_empty() {
                match language {
                    En => format!("No raffles yet in {}.", channel(login)),
                    PtBr => format!("Nenhum sorteio ainda em {}.", channel(login)),
                }
            } else {
                let head = match language {
                    En => format!("Recent raffles in {}:", channel(login)),
                    PtBr => format!("Sorteios recentes em {}:", channel(login)),
                };
                let lines: Vec<String> = raffles
                    .iter()
                    .map(|r| format!("- <t:{}:f> {}", r.created_at.timestamp(), outcome_line(language, r)))
                    .collect();
                format!("{head}\n{}", lines.join("\n"))
            }
        }
        Reply::NotAllowed => match language {
            En => "Only members with Manage Server or the bot's admin role may do that.".to_owned(),
            PtBr => "Só membros com Gerenciar Servidor ou o cargo de administrador do bot podem fazer isso.".to_owned(),
        },
        Reply::ChooseChannel(logins) => {
            let list: Vec<String> = logins.iter().map(|l| channel(l)).collect();
            match language {
                En => format!(
                    "Several channels are served; choose one with `channel`: {}",
                    list.join(", ")
                ),
                PtBr => format!("Há vários canais; escolha um com `canal`: {}", list.join(", ")),
            }
        }
        Reply::NoChannels => match language {
            En => "No Twitch channel is served yet: connect one with /raffle connect.".to_owned(),
            PtBr => "Nenhum canal da Twitch ainda: conecte um com /sorteio conectar.".to_owned(),
        },
        Reply::UnknownChannel(login) => match language {
            En => format!("{} is not a channel this bot serves.", channel(login)),
            PtBr => format!("{} não é um canal atendido por este bot.", channel(login)),
        },
        Reply::Unavailable => match language {
            En => "Something went wrong on our side; try again in a moment.".to_owned(),
            PtBr => "Algo deu errado do nosso lado; tente de novo daqui a pouco.".to_owned(),
        },
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
    }

    #[test]
    fn names_cannot_mention_anyone() {
        let text = render(Language::En, &Reply::UnknownChannel("@everyone".into()));
        assert!(!text.contains("@everyone"), "{text}");
        let long = render(Language::En, &Reply::ChooseChannel(vec!["a".repeat(25); 200]));
        assert!(long.chars().count() <= MAX_CONTENT_CHARS);
    }
}
