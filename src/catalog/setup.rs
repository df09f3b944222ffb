//! What the bot tells the streamer while setting up: the start-up log's
//! hints and the round's reason when there is no prize list.

use super::{Message, Texts};

/// A setup text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetupText<'a> {
    /// Logged at start: the dashboard's address.
    DashboardAt {
        /// `PUBLIC_URL/`.
        url: &'a str,
    },
    /// Logged at start without channels.
    NoChannelsYet,
    /// Logged at start without a prize list.
    NoPrizeList {
        /// `ITEMS_FILE`.
        path: &'a str,
    },
    /// Why a round drew nothing: there is no prize list.
    NoPrizeListReason,
}

impl Message for SetupText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::DashboardAt { url } => Texts {
                en: format!("kinoyubot running; dashboard: {url}").into(),
                pt_br: format!("kinoyubot rodando; painel: {url}").into(),
            },
            Self::NoChannelsYet => Texts::fixed(
                "no channels yet: set TWITCH_CHANNELS (or --channel), or connect a Twitch account on the dashboard",
                "nenhum canal ainda: defina TWITCH_CHANNELS (ou --channel), ou conecte uma conta da Twitch no painel",
            ),
            Self::NoPrizeList { path } => Texts {
                en: format!(
                    "no prize list: {path} does not exist, so raffles draw nothing. Copy the example items.toml \
                     there (or set ITEMS_FILE), check it with `kinoyubot check-items`, and restart"
                )
                .into(),
                pt_br: format!(
                    "sem lista de prêmios: {path} não existe, então os sorteios não dão nada. Copie o exemplo \
                     items.pt-BR.toml para lá (ou defina ITEMS_FILE), confira com `kinoyubot check-items` e reinicie"
                )
                .into(),
            },
            Self::NoPrizeListReason => Texts::fixed("no prize list", "sem lista de prêmios"),
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<SetupText<'static>> {
    use SetupText::*;
    vec![
        DashboardAt { url: "http://x/" },
        NoChannelsYet,
        NoPrizeList { path: "items.toml" },
        NoPrizeListReason,
    ]
}
