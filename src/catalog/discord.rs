//! What Discord embeds and notices say, and the line printed instead when no
//! webhook is set (`announce::render`). Values arrive already escaped for
//! Discord (or sanitised for stdout): nothing is escaped here.

use super::{Language, Message, Texts, count};

/// A text of an announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiscordText<'a> {
    /// Embed title of a win: `🎉 Viewer won Steam key!`.
    WinTitle {
        /// The winner's name.
        winner: &'a str,
        /// The prize.
        item: &'a str,
    },
    /// Embed description of a win.
    WinDescription {
        /// How many candidates took part.
        candidates: i64,
    },
    /// Field name: the channel.
    FieldChannel,
    /// Field name: the prize.
    FieldItem,
    /// Field name: the winner.
    FieldWinner,
    /// Field name: how many candidates.
    FieldCandidates,
    /// Field name: the raffle id.
    FieldRaffle,
    /// Footer with the digest and how to verify the raffle.
    FooterDigest {
        /// Short hex digest.
        digest: &'a str,
        /// Raffle id.
        raffle_id: i64,
    },
    /// Footer when there is no digest.
    FooterRaffle {
        /// Raffle id.
        raffle_id: i64,
    },
    /// A channel without a name.
    UnknownChannel,
    /// A winner without a name.
    Someone,
    /// A prize without a name.
    APrize,
    /// Embed title of an operational notice.
    NoticeTitle {
        /// The channel concerned.
        channel: &'a str,
    },
    /// A notice without a message.
    NoMessage,
    /// The notice queued when a channel's Twitch connection stops working.
    NeedsReconnect {
        /// The channel's login.
        channel: &'a str,
        /// Why (Twitch's words).
        reason: &'a str,
        /// Where the streamer reconnects.
        reconnect_url: &'a str,
    },
    /// The printed line of a win, when no webhook is set.
    PrintedWin {
        /// Raffle id.
        raffle_id: i64,
        /// The channel's login.
        channel: &'a str,
        /// The winner's name.
        winner: &'a str,
        /// The prize.
        item: &'a str,
        /// How many candidates took part.
        candidates: i64,
        /// Short hex digest, may be empty.
        digest: &'a str,
    },
    /// Embed title of a claimed win: `✅ Viewer claimed Steam key`.
    ClaimedTitle {
        /// The winner's name.
        winner: &'a str,
        /// The prize.
        item: &'a str,
    },
    /// Embed title of a win whose claim window closed.
    UnclaimedTitle {
        /// The winner's name.
        winner: &'a str,
        /// The prize.
        item: &'a str,
    },
    /// Embed description of a claimed win.
    ClaimedDescription,
    /// Embed description of an expired claim that was redrawn.
    RedrawnDescription {
        /// The redraw's raffle id.
        redraw_id: i64,
    },
    /// Embed description of an expired claim whose prize went back to stock.
    ReturnedDescription,
    /// The printed line of a claim result.
    PrintedClaim {
        /// Raffle id.
        raffle_id: i64,
        /// The channel's login.
        channel: &'a str,
        /// The winner's name.
        winner: &'a str,
        /// The prize.
        item: &'a str,
        /// `None`: claimed; `Some(None)`: back to stock; `Some(Some(id))`: redrawn as `id`.
        expired: Option<Option<i64>>,
    },
    /// The printed line of a notice.
    PrintedNotice {
        /// The channel's login.
        channel: &'a str,
        /// The notice.
        message: &'a str,
    },
}

impl Message for DiscordText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::WinTitle { winner, item } => Texts {
                en: format!("🎉 {winner} won {item}!").into(),
                pt_br: format!("🎉 {winner} ganhou {item}!").into(),
            },
            Self::WinDescription { candidates } => Texts {
                en: format!(
                    "Congratulations! Drawn at random from {}.",
                    count(Language::En, candidates, "candidate", "candidates")
                )
                .into(),
                pt_br: format!(
                    "Parabéns! Sorteado ao acaso entre {}.",
                    count(Language::PtBr, candidates, "candidato", "candidatos")
                )
                .into(),
            },
            Self::FieldChannel => Texts::fixed("Channel", "Canal"),
            Self::FieldItem => Texts::fixed("Item", "Prêmio"),
            Self::FieldWinner => Texts::fixed("Winner", "Ganhador"),
            Self::FieldCandidates => Texts::fixed("Candidates", "Candidatos"),
            Self::FieldRaffle => Texts::fixed("Raffle", "Sorteio"),
            Self::FooterDigest { digest, raffle_id } => Texts {
                en: format!("digest {digest} · verify with kinoyubot verify {raffle_id}").into(),
                pt_br: format!("resumo {digest} · confira com kinoyubot verify {raffle_id}").into(),
            },
            Self::FooterRaffle { raffle_id } => Texts {
                en: format!("raffle #{raffle_id}").into(),
                pt_br: format!("sorteio #{raffle_id}").into(),
            },
            Self::UnknownChannel => Texts::fixed("unknown channel", "canal desconhecido"),
            Self::Someone => Texts::fixed("Someone", "Alguém"),
            Self::APrize => Texts::fixed("a prize", "um prêmio"),
            Self::NoticeTitle { channel } => Texts {
                en: format!("⚠️ Notice for {channel}").into(),
                pt_br: format!("⚠️ Aviso para {channel}").into(),
            },
            Self::NoMessage => Texts::fixed("(no message)", "(sem mensagem)"),
            Self::NeedsReconnect {
                channel,
                reason,
                reconnect_url,
            } => Texts {
                en: format!(
                    "The Twitch connection of {channel} stopped working ({reason}). \
                     The streamer needs to reconnect at {reconnect_url}"
                )
                .into(),
                pt_br: format!(
                    "A conexão do canal {channel} com a Twitch parou de funcionar ({reason}). \
                     Quem faz a live precisa conectar de novo em {reconnect_url}"
                )
                .into(),
            },
            Self::PrintedWin {
                raffle_id,
                channel,
                winner,
                item,
                candidates,
                digest,
            } => {
                let (en_digest, pt_digest) = if digest.is_empty() {
                    (String::new(), String::new())
                } else {
                    (format!(", digest {digest}…"), format!(", resumo {digest}…"))
                };
                Texts {
                    en: format!(
                        "[raffle #{raffle_id}] #{channel}: {winner} won {item} ({}{en_digest})",
                        count(Language::En, candidates, "candidate", "candidates")
                    )
                    .into(),
                    pt_br: format!(
                        "[sorteio #{raffle_id}] #{channel}: {winner} ganhou {item} ({}{pt_digest})",
                        count(Language::PtBr, candidates, "candidato", "candidatos")
                    )
                    .into(),
                }
            }
            Self::ClaimedTitle { winner, item } => Texts {
                en: format!("✅ {winner} claimed {item}").into(),
                pt_br: format!("✅ {winner} resgatou {item}").into(),
            },
            Self::UnclaimedTitle { winner, item } => Texts {
                en: format!("⌛ {winner} did not claim {item}").into(),
                pt_br: format!("⌛ {winner} não resgatou {item}").into(),
            },
            Self::ClaimedDescription => Texts::fixed("Claimed in time. Enjoy!", "Resgatado a tempo. Aproveite!"),
            Self::RedrawnDescription { redraw_id } => Texts {
                en: format!("The claim window closed; the prize was redrawn as raffle #{redraw_id}.").into(),
                pt_br: format!("O prazo para resgatar acabou; o prêmio foi sorteado de novo no sorteio #{redraw_id}.")
                    .into(),
            },
            Self::ReturnedDescription => Texts::fixed(
                "The claim window closed; the prize went back to stock.",
                "O prazo para resgatar acabou; o prêmio voltou para o estoque.",
            ),
            Self::PrintedClaim {
                raffle_id,
                channel,
                winner,
                item,
                expired,
            } => {
                let (en, pt_br) = match expired {
                    None => ("claimed".to_owned(), "resgatou".to_owned()),
                    Some(Some(id)) => (
                        format!("did not claim (redrawn as #{id})"),
                        format!("não resgatou (sorteado de novo no #{id})"),
                    ),
                    Some(None) => (
                        "did not claim (back to stock)".to_owned(),
                        "não resgatou (de volta ao estoque)".to_owned(),
                    ),
                };
                Texts {
                    en: format!("[raffle #{raffle_id}] #{channel}: {winner} {en} {item}").into(),
                    pt_br: format!("[sorteio #{raffle_id}] #{channel}: {winner} {pt_br} {item}").into(),
                }
            }
            Self::PrintedNotice { channel, message } => Texts {
                en: format!("[notice] #{channel}: {message}").into(),
                pt_br: format!("[aviso] #{channel}: {message}").into(),
            },
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<DiscordText<'static>> {
    use DiscordText::*;
    vec![
        WinTitle { winner: "W", item: "I" },
        WinDescription { candidates: 2 },
        FieldChannel,
        FieldItem,
        FieldWinner,
        FieldCandidates,
        FieldRaffle,
        FooterDigest {
            digest: "ab",
            raffle_id: 1,
        },
        FooterRaffle { raffle_id: 1 },
        UnknownChannel,
        Someone,
        APrize,
        NoticeTitle { channel: "c" },
        NoMessage,
        NeedsReconnect {
            channel: "c",
            reason: "r",
            reconnect_url: "u",
        },
        PrintedWin {
            raffle_id: 1,
            channel: "c",
            winner: "w",
            item: "i",
            candidates: 1,
            digest: "ab",
        },
        ClaimedTitle { winner: "w", item: "i" },
        UnclaimedTitle { winner: "w", item: "i" },
        ClaimedDescription,
        RedrawnDescription { redraw_id: 2 },
        ReturnedDescription,
        PrintedClaim {
            raffle_id: 1,
            channel: "c",
            winner: "w",
            item: "i",
            expired: None,
        },
        PrintedClaim {
            raffle_id: 1,
            channel: "c",
            winner: "w",
            item: "i",
            expired: Some(Some(2)),
        },
        PrintedClaim {
            raffle_id: 1,
            channel: "c",
            winner: "w",
            item: "i",
            expired: Some(None),
        },
        PrintedNotice {
            channel: "c",
            message: "m",
        },
    ]
}
