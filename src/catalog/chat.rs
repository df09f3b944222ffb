//! What the bot says in Twitch chat (SPEC §11; `announce::chat_line`):
//! wins, claims, redraws and the replies to commands. Names and items
//! arrive already made harmless by `announce::chat_line` (no `@`, no
//! control characters), and the line is finished there (no leading `/` or
//! `.`, at most 500 characters): nothing is escaped here.

use super::{Language, Message, Texts, count};
use crate::raffle::eligibility::ExclusionReason;

/// Why a viewer is not in the next round, as `!odds` explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OddsReason {
    /// Not seen in chat within `ACTIVE_WINDOW`.
    NotActive,
    /// Banned or timed out.
    Banned,
    /// On the ignore list.
    Ignored,
    /// The broadcaster.
    Broadcaster,
    /// Won within `WINNER_COOLDOWN`.
    Cooldown,
    /// An eligibility gate (`MIN_MESSAGES`, `SUBSCRIBERS_ONLY`, …).
    Gate(ExclusionReason),
}

/// A text of a chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChatText<'a> {
    /// `@Viewer won Steam key! Raffle #42 among 37 viewers — URL`.
    Win {
        /// `@login` of the winner.
        mention: &'a str,
        /// The prize.
        item: &'a str,
        /// Raffle id.
        raffle_id: i64,
        /// Candidates in the draw.
        candidates: i64,
        /// The raffle's public page.
        url: &'a str,
    },
    /// Before a redraw's win.
    RedrawOf {
        /// The expired raffle.
        parent: i64,
    },
    /// After a win with a claim window.
    ClaimHint {
        /// Time left to claim, in words (`1 min 30 s`).
        left: &'a str,
    },
    /// A round without a prize (`CHAT_ANNOUNCE=all`).
    NoPrize {
        /// Raffle id.
        raffle_id: i64,
        /// Candidates in the draw.
        candidates: i64,
    },
    /// The winner claimed in time.
    Claimed {
        /// `@login` of the winner.
        mention: &'a str,
        /// The prize.
        item: &'a str,
        /// Raffle id.
        raffle_id: i64,
    },
    /// The winner did not claim in time.
    Unclaimed {
        /// The winner's name (not a mention).
        name: &'a str,
        /// The prize.
        item: &'a str,
        /// Raffle id.
        raffle_id: i64,
        /// No redraw follows: the prize went back to stock.
        returned: bool,
    },
    /// `!raffle status`.
    Status {
        /// When the next raffle is ([`ChatText::NextIn`], …).
        next: &'a str,
        /// Active viewers.
        viewers: i64,
        /// The prizes ([`ChatText::Prize`] joined).
        prizes: &'a str,
    },
    /// The next raffle's time.
    NextIn {
        /// In words (`1 min 30 s`).
        left: &'a str,
    },
    /// Instead of the next raffle's time while paused.
    Paused,
    /// Instead of the next raffle's time without a timer.
    NoTimer,
    /// One prize in `!raffle status`.
    Prize {
        /// The prize.
        name: &'a str,
        /// Its chance per round, formatted.
        chance: &'a str,
        /// Units left; `None` = unlimited.
        left: Option<i64>,
    },
    /// No prizes at all.
    NoPrizes,
    /// `!raffle now`: drawing.
    AckDrawNow {
        /// `@login` of who asked.
        mention: &'a str,
    },
    /// `!raffle now` too soon after the last one.
    AckTooSoon {
        /// `@login` of who asked.
        mention: &'a str,
    },
    /// `!raffle now` while offline.
    AckOffline {
        /// `@login` of who asked.
        mention: &'a str,
    },
    /// `!raffle pause`.
    AckPaused {
        /// `@login` of who asked.
        mention: &'a str,
    },
    /// `!raffle resume`.
    AckResumed {
        /// `@login` of who asked.
        mention: &'a str,
    },
    /// `!odds`: eligible.
    Odds {
        /// `@login` of who asked.
        mention: &'a str,
        /// The chance, formatted.
        chance: &'a str,
        /// Eligible viewers now.
        candidates: i64,
    },
    /// `!odds`: not eligible, and why.
    NotEligible {
        /// `@login` of who asked.
        mention: &'a str,
        /// Why.
        reason: OddsReason,
    },
}

/// "1 min 30 s", "45 s", "2 h 5 min" (the same in both languages).
pub(crate) fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m, sec) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, sec) => format!("{m} min {sec} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

fn reason_texts(reason: OddsReason) -> Texts {
    use ExclusionReason as R;
    match reason {
        OddsReason::NotActive => Texts::fixed(
            "you are not in the next raffle yet: chat a little and you will be.",
            "você ainda não está no próximo sorteio: converse um pouco no chat e estará.",
        ),
        OddsReason::Banned => Texts::fixed(
            "you cannot win while banned or timed out.",
            "você não pode ganhar enquanto estiver banido ou suspenso.",
        ),
        OddsReason::Ignored => Texts::fixed(
            "you are on this channel's ignore list, so you cannot win.",
            "você está na lista de ignorados deste canal, então não pode ganhar.",
        ),
        OddsReason::Broadcaster => Texts::fixed(
            "the broadcaster cannot win their own raffles.",
            "o streamer não pode ganhar os próprios sorteios.",
        ),
        OddsReason::Cooldown => Texts::fixed(
            "you won recently; you can win again after the cooldown.",
            "você ganhou há pouco; pode ganhar de novo depois do intervalo.",
        ),
        OddsReason::Gate(R::TooFewMessages) => Texts::fixed(
            "you need to chat a bit more to be in the raffle.",
            "você precisa conversar mais um pouco no chat para entrar no sorteio.",
        ),
        OddsReason::Gate(R::NotSubscriber) => {
            Texts::fixed("only subscribers can win here.", "só inscritos podem ganhar aqui.")
        }
        OddsReason::Gate(R::YoungAccount) => Texts::fixed(
            "your Twitch account is too new to win here.",
            "sua conta da Twitch é nova demais para ganhar aqui.",
        ),
        OddsReason::Gate(R::UnknownAccountAge) => Texts::fixed(
            "Twitch could not tell your account's age, so you cannot win right now.",
            "a Twitch não informou a idade da sua conta, então você não pode ganhar agora.",
        ),
        OddsReason::Gate(R::NotFollowing) => {
            Texts::fixed("only followers can win here.", "só seguidores podem ganhar aqui.")
        }
        OddsReason::Gate(R::RecentFollower) => Texts::fixed(
            "you have not followed for long enough to win yet.",
            "você ainda não segue o canal há tempo suficiente para ganhar.",
        ),
        OddsReason::Gate(R::UnknownFollow) => Texts::fixed(
            "Twitch could not tell whether you follow, so you cannot win right now.",
            "a Twitch não informou se você segue o canal, então você não pode ganhar agora.",
        ),
    }
}

/// `who` then the text, in both languages.
fn addressed(who: &str, texts: Texts) -> Texts {
    Texts {
        en: format!("{who} {}", texts.en).into(),
        pt_br: format!("{who} {}", texts.pt_br).into(),
    }
}

impl Message for ChatText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::Win {
                mention,
                item,
                raffle_id,
                candidates,
                url,
            } => Texts {
                en: format!(
                    "{mention} won {item}! Raffle #{raffle_id} among {} — {url}",
                    count(Language::En, candidates, "viewer", "viewers")
                )
                .into(),
                pt_br: format!(
                    "{mention} ganhou {item}! Sorteio #{raffle_id} entre {} — {url}",
                    count(Language::PtBr, candidates, "espectador", "espectadores")
                )
                .into(),
            },
            Self::RedrawOf { parent } => Texts {
                en: format!("Redraw of #{parent}:").into(),
                pt_br: format!("Novo sorteio do #{parent}:").into(),
            },
            Self::ClaimHint { left } => Texts {
                en: format!("Say anything in chat (or !claim) within {left} to claim it.").into(),
                pt_br: format!("Mande qualquer mensagem no chat (ou !resgatar) em até {left} para resgatar.").into(),
            },
            Self::NoPrize { raffle_id, candidates } => Texts {
                en: format!(
                    "Raffle #{raffle_id} among {}: no prize this time.",
                    count(Language::En, candidates, "viewer", "viewers")
                )
                .into(),
                pt_br: format!(
                    "Sorteio #{raffle_id} entre {}: sem prêmio desta vez.",
                    count(Language::PtBr, candidates, "espectador", "espectadores")
                )
                .into(),
            },
            Self::Claimed {
                mention,
                item,
                raffle_id,
            } => Texts {
                en: format!("{mention} claimed {item} (raffle #{raffle_id}). Enjoy!").into(),
                pt_br: format!("{mention} resgatou {item} (sorteio #{raffle_id}). Aproveite!").into(),
            },
            Self::Unclaimed {
                name,
                item,
                raffle_id,
                returned: true,
            } => Texts {
                en: format!(
                    "{name} did not claim {item} (raffle #{raffle_id}) in time; it goes back to the prize pool."
                )
                .into(),
                pt_br: format!(
                    "{name} não resgatou {item} (sorteio #{raffle_id}) a tempo; o prêmio volta para o estoque."
                )
                .into(),
            },
            Self::Unclaimed {
                name,
                item,
                raffle_id,
                returned: false,
            } => Texts {
                en: format!("{name} did not claim {item} (raffle #{raffle_id}) in time; drawing again.").into(),
                pt_br: format!("{name} não resgatou {item} (sorteio #{raffle_id}) a tempo; sorteando de novo.").into(),
            },
            Self::Status { next, viewers, prizes } => Texts {
                en: format!(
                    "{next} · {} · prizes: {prizes}",
                    count(Language::En, viewers, "active viewer", "active viewers")
                )
                .into(),
                pt_br: format!(
                    "{next} · {} · prêmios: {prizes}",
                    count(Language::PtBr, viewers, "espectador ativo", "espectadores ativos")
                )
                .into(),
            },
            Self::NextIn { left } => Texts {
                en: format!("Next raffle in {left}").into(),
                pt_br: format!("Próximo sorteio em {left}").into(),
            },
            Self::Paused => Texts::fixed("Raffles are paused", "Os sorteios estão pausados"),
            Self::NoTimer => Texts::fixed("No raffle scheduled", "Nenhum sorteio agendado"),
            Self::Prize { name, chance, left } => match left {
                Some(left) => Texts {
                    en: format!("{name} {chance} ({} left)", Language::En.integer(left)).into(),
                    pt_br: format!("{name} {chance} (restam {})", Language::PtBr.integer(left)).into(),
                },
                None => Texts {
                    en: format!("{name} {chance} (unlimited)").into(),
                    pt_br: format!("{name} {chance} (ilimitado)").into(),
                },
            },
            Self::NoPrizes => Texts::fixed("none", "nenhum"),
            Self::AckDrawNow { mention } => addressed(mention, Texts::fixed("Drawing now!", "Sorteando agora!")),
            Self::AckTooSoon { mention } => addressed(
                mention,
                Texts::fixed(
                    "One draw per 10 seconds; try again in a moment.",
                    "Um sorteio a cada 10 segundos; tente de novo em instantes.",
                ),
            ),
            Self::AckOffline { mention } => addressed(
                mention,
                Texts::fixed(
                    "The stream is offline, so no raffle was drawn.",
                    "A live está offline, então nenhum sorteio foi feito.",
                ),
            ),
            Self::AckPaused { mention } => addressed(mention, Texts::fixed("Raffles paused.", "Sorteios pausados.")),
            Self::AckResumed { mention } => addressed(mention, Texts::fixed("Raffles resumed.", "Sorteios retomados.")),
            Self::Odds {
                mention,
                chance,
                candidates,
            } => Texts {
                en: format!(
                    "{mention} your chance in the next raffle: {chance} (among {})",
                    count(Language::En, candidates, "eligible viewer", "eligible viewers")
                )
                .into(),
                pt_br: format!(
                    "{mention} sua chance no próximo sorteio: {chance} (entre {})",
                    count(
                        Language::PtBr,
                        candidates,
                        "espectador elegível",
                        "espectadores elegíveis"
                    )
                )
                .into(),
            },
            Self::NotEligible { mention, reason } => addressed(mention, reason_texts(reason)),
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<ChatText<'static>> {
    use ChatText::*;
    let mut samples = vec![
        Win {
            mention: "@v",
            item: "i",
            raffle_id: 1,
            candidates: 2,
            url: "u",
        },
        RedrawOf { parent: 1 },
        ClaimHint { left: "1 min" },
        NoPrize {
            raffle_id: 1,
            candidates: 1,
        },
        Claimed {
            mention: "@v",
            item: "i",
            raffle_id: 1,
        },
        Unclaimed {
            name: "v",
            item: "i",
            raffle_id: 1,
            returned: true,
        },
        Unclaimed {
            name: "v",
            item: "i",
            raffle_id: 1,
            returned: false,
        },
        Status {
            next: "n",
            viewers: 3,
            prizes: "p",
        },
        NextIn { left: "1 min" },
        Paused,
        NoTimer,
        Prize {
            name: "p",
            chance: "5%",
            left: Some(3),
        },
        Prize {
            name: "p",
            chance: "5%",
            left: None,
        },
        NoPrizes,
        AckDrawNow { mention: "@m" },
        AckTooSoon { mention: "@m" },
        AckOffline { mention: "@m" },
        AckPaused { mention: "@m" },
        AckResumed { mention: "@m" },
        Odds {
            mention: "@v",
            chance: "5%",
            candidates: 2,
        },
    ];
    let reasons = [
        OddsReason::NotActive,
        OddsReason::Banned,
        OddsReason::Ignored,
        OddsReason::Broadcaster,
        OddsReason::Cooldown,
    ]
    .into_iter()
    .chain(ExclusionReason::ALL.into_iter().map(OddsReason::Gate));
    samples.extend(reasons.map(|reason| NotEligible { mention: "@v", reason }));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration_words(45), "45 s");
        assert_eq!(duration_words(90), "1 min 30 s");
        assert_eq!(duration_words(120), "2 min");
        assert_eq!(duration_words(3600 + 300), "1 h 5 min");
        assert_eq!(duration_words(-5), "0 s");
    }

    #[test]
    fn no_text_starts_a_line_with_a_command_character() {
        for language in Language::ALL {
            for text in samples() {
                let line = language.say(&text);
                assert!(!line.starts_with('/') && !line.starts_with('.'), "{line}");
            }
        }
    }
}
