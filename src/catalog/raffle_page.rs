//! What the public page of one raffle says (`GET /raffles/{id}`,
//! `web::view::raffle`): the result, the claim, and how anyone can verify
//! the draw. Names and items are spliced in as given; maud escapes them.
//!
//! Text between backticks is shown as code, as on the dashboard.

use super::{Language, Message, Texts, count};

/// A text of the raffle page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RafflePageText<'a> {
    /// The page's title and heading.
    Title {
        /// Raffle id.
        id: i64,
    },
    /// Under the heading: whose channel, when.
    Lead {
        /// The channel's display name.
        channel: &'a str,
        /// When it was drawn, in the reader's format.
        at: &'a str,
    },
    /// Label of the result.
    ResultLabel,
    /// A prize was won.
    Won,
    /// The draw awarded nothing.
    NoPrize,
    /// Nobody was eligible.
    NoCandidates,
    /// The round was skipped while offline.
    SkippedOffline,
    /// Label of the prize.
    ItemLabel,
    /// No prize to show.
    NoItem,
    /// Label of the winner.
    WinnerLabel,
    /// No winner to show.
    NoWinner,
    /// Label of the candidate count.
    CandidatesLabel,
    /// The candidate count.
    Candidates {
        /// Candidates in the snapshot.
        n: i64,
    },
    /// Label of the digest.
    DigestLabel,
    /// Label of the seed.
    SeedLabel,
    /// No seed: nothing was drawn.
    NoSeed,
    /// Label of the claim.
    ClaimLabel,
    /// The claim is pending.
    ClaimPending {
        /// The deadline, in the reader's format.
        deadline: &'a str,
    },
    /// The winner claimed.
    ClaimClaimed,
    /// The claim expired.
    ClaimExpired,
    /// Before the link to the redraw.
    RedrawnAs,
    /// A link to another raffle.
    RaffleLink {
        /// Raffle id.
        id: i64,
    },
    /// Label of the link to the raffle this one redraws.
    RedrawLabel,
    /// Before the link to the raffle this one redraws.
    RedrawOf,
    /// The verification section's heading.
    VerifyHeading,
    /// What verifying means.
    VerifyIntro,
    /// With the bot's database.
    VerifyCommand {
        /// Raffle id.
        id: i64,
    },
    /// Without it: the snapshot (the link follows).
    VerifySnapshot,
    /// The snapshot link's words.
    SnapshotLink,
    /// How the digest is computed.
    VerifyDigest,
    /// The 404 page's title.
    NotFoundTitle,
    /// The 404 page's sentence.
    NotFound,
}

impl Message for RafflePageText<'_> {
    fn texts(&self) -> Texts {
        match self {
            Self::Title { id } => Texts {
                en: format!("Raffle #{id}").into(),
                pt_br: format!("Sorteio #{id}").into(),
            },
            Self::Lead { channel, at } => Texts {
                en: format!("Drawn in {channel}'s channel on {at}.").into(),
                pt_br: format!("Sorteado no canal de {channel} em {at}.").into(),
            },
            Self::ResultLabel => Texts::fixed("Result", "Resultado"),
            Self::Won => Texts::fixed("A prize was won", "Um prêmio foi ganho"),
            Self::NoPrize => Texts::fixed("No prize this time", "Nenhum prêmio desta vez"),
            Self::NoCandidates => Texts::fixed("Nobody could win", "Ninguém podia ganhar"),
            Self::SkippedOffline => Texts::fixed(
                "Skipped: the stream was offline",
                "Pulado: a transmissão estava offline",
            ),
            Self::ItemLabel => Texts::fixed("Prize", "Prêmio"),
            Self::NoItem => Texts::fixed("No prize", "Nenhum prêmio"),
            Self::WinnerLabel => Texts::fixed("Winner", "Vencedor"),
            Self::NoWinner => Texts::fixed("Nobody", "Ninguém"),
            Self::CandidatesLabel => Texts::fixed("Candidates", "Candidatos"),
            Self::Candidates { n } => Texts {
                en: count(Language::En, *n, "viewer", "viewers").into(),
                pt_br: count(Language::PtBr, *n, "espectador", "espectadores").into(),
            },
            Self::DigestLabel => Texts::fixed("Snapshot digest (SHA-256)", "Resumo da lista (SHA-256)"),
            Self::SeedLabel => Texts::fixed("Seed", "Semente"),
            Self::NoSeed => Texts::fixed("None: nothing was drawn", "Nenhuma: nada foi sorteado"),
            Self::ClaimLabel => Texts::fixed("Claim", "Resgate"),
            Self::ClaimPending { deadline } => Texts {
                en: format!("Waiting for the winner to chat before {deadline}").into(),
                pt_br: format!("Esperando o vencedor falar no chat antes de {deadline}").into(),
            },
            Self::ClaimClaimed => Texts::fixed("Claimed by the winner", "Resgatado pelo vencedor"),
            Self::ClaimExpired => Texts::fixed(
                "Expired: the winner did not chat in time",
                "Expirado: o vencedor não falou no chat a tempo",
            ),
            Self::RedrawnAs => Texts::fixed("Redrawn as", "Sorteado de novo como"),
            Self::RaffleLink { id } => Texts {
                en: format!("raffle #{id}").into(),
                pt_br: format!("sorteio #{id}").into(),
            },
            Self::RedrawLabel => Texts::fixed("Redraw", "Novo sorteio"),
            Self::RedrawOf => Texts::fixed(
                "This raffle redraws the prize of",
                "Este sorteio sorteia de novo o prêmio do",
            ),
            Self::VerifyHeading => Texts::fixed("How to verify", "Como verificar"),
            Self::VerifyIntro => Texts::fixed(
                "The winner follows from the seed, the candidate list and the prize list alone: anyone can recompute it.",
                "O vencedor decorre só da semente, da lista de candidatos e da lista de prêmios: qualquer pessoa pode recalculá-lo.",
            ),
            Self::VerifyCommand { id } => Texts {
                en: format!("With access to the bot's database, run `kinoyubot verify {id}`.").into(),
                pt_br: format!("Com acesso ao banco de dados do bot, rode `kinoyubot verify {id}`.").into(),
            },
            Self::VerifySnapshot => Texts::fixed(
                "Without it, download the candidate snapshot (user ids with their weights, the seed and the prizes):",
                "Sem ele, baixe a lista de candidatos (ids de usuário com seus pesos, a semente e os prêmios):",
            ),
            Self::SnapshotLink => Texts::fixed("candidate snapshot (JSON)", "lista de candidatos (JSON)"),
            Self::VerifyDigest => Texts::fixed(
                "Its SHA-256 digest must match the one above, so the list was fixed before the draw.",
                "O resumo SHA-256 dela precisa ser igual ao de cima, então a lista foi fixada antes do sorteio.",
            ),
            Self::NotFoundTitle => Texts::fixed("Raffle not found", "Sorteio não encontrado"),
            Self::NotFound => Texts::fixed(
                "There is no raffle with this number.",
                "Não existe sorteio com este número.",
            ),
        }
    }
}

/// One of every message, for the catalog's completeness test.
#[cfg(test)]
pub(super) fn samples() -> Vec<RafflePageText<'static>> {
    use RafflePageText as T;
    vec![
        T::Title { id: 42 },
        T::Lead {
            channel: "SomeStreamer",
            at: "2026-11-24 20:00 UTC",
        },
        T::ResultLabel,
        T::Won,
        T::NoPrize,
        T::NoCandidates,
        T::SkippedOffline,
        T::ItemLabel,
        T::NoItem,
        T::WinnerLabel,
        T::NoWinner,
        T::CandidatesLabel,
        T::Candidates { n: 1500 },
        T::DigestLabel,
        T::SeedLabel,
        T::NoSeed,
        T::ClaimLabel,
        T::ClaimPending {
            deadline: "2026-11-24 20:01 UTC",
        },
        T::ClaimClaimed,
        T::ClaimExpired,
        T::RedrawnAs,
        T::RaffleLink { id: 43 },
        T::RedrawLabel,
        T::RedrawOf,
        T::VerifyHeading,
        T::VerifyIntro,
        T::VerifyCommand { id: 42 },
        T::VerifySnapshot,
        T::SnapshotLink,
        T::VerifyDigest,
        T::NotFoundTitle,
        T::NotFound,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ids_are_written_in_the_readers_language() {
        assert_eq!(
            Language::PtBr.say(&RafflePageText::Candidates { n: 1500 }),
            "1.500 espectadores"
        );
        assert_eq!(Language::En.say(&RafflePageText::Candidates { n: 1 }), "1 viewer");
        assert_eq!(Language::PtBr.say(&RafflePageText::Title { id: 7 }), "Sorteio #7");
        assert!(
            Language::En
                .say(&RafflePageText::VerifyCommand { id: 7 })
                .contains("`kinoyubot verify 7`")
        );
    }
}
