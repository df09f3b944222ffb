//! What the Discord bot says (SPEC §12): the descriptions of `/raffle` as
//! registered with Discord, and every reply to a slash command. Values
//! arrive already escaped for Discord (`discord::replies` escapes names and
//! items, and formats Discord timestamps): nothing is escaped here.

use super::{Language, Message, Texts, count};

/// A text of the Discord bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DiscordBotText<'a> {
    /// Description of `/raffle` itself.
    DescribeCommand,
    /// Description of `connect`.
    DescribeConnect,
    /// Description of `status`.
    DescribeStatus,
    /// Description of `now`.
    DescribeNow,
    /// Description of `pause`.
    DescribePause,
    /// Description of `resume`.
    DescribeResume,
    /// Description of `verify`.
    DescribeVerify,
    /// Description of `history`.
    DescribeHistory,
    /// Description of the `channel` option.
    DescribeChannelOption,
    /// Description of the `id` option.
    DescribeIdOption,
    /// `connect`: the Connect-with-Twitch link.
    ConnectLink {
        /// `PUBLIC_URL/auth/twitch`.
        url: &'a str,
    },
    /// `connect` under `CONNECT_POLICY=first`.
    ConnectFirstNote,
    /// `connect` under `CONNECT_POLICY=listed`.
    ConnectListedNote,
    /// `status`: one channel's state.
    Status {
        /// `#channel`, escaped.
        channel: &'a str,
        /// Active viewers now.
        active_viewers: i64,
        /// [`Self::NextRaffleAt`], [`Self::NextRaffleSoon`] or [`Self::AutoPaused`].
        next: &'a str,
    },
    /// When the next automatic raffle runs.
    NextRaffleAt {
        /// A Discord timestamp (`<t:1700000000:R>`), shown in the reader's own time.
        at: &'a str,
    },
    /// The next automatic raffle, when its time cannot be said.
    NextRaffleSoon,
    /// Automatic raffles are paused.
    AutoPaused,
    /// A raffle won.
    Won {
        /// The winner's name, escaped.
        winner: &'a str,
        /// The prize, escaped.
        item: &'a str,
        /// Raffle id.
        raffle_id: i64,
        /// Candidates in the snapshot.
        candidates: i64,
    },
    /// A raffle won, whose winner or prize has no name.
    WonBare {
        /// Raffle id.
        raffle_id: i64,
    },
    /// A round without a prize.
    NoPrize {
        /// Raffle id.
        raffle_id: i64,
        /// Candidates in the snapshot.
        candidates: i64,
    },
    /// Nobody was eligible.
    NoCandidates {
        /// Raffle id.
        raffle_id: i64,
    },
    /// The stream was offline (or its live status unknown): nothing drawn.
    SkippedOffline {
        /// Raffle id.
        raffle_id: i64,
    },
    /// `now` less than 10 s after the channel's last draw.
    TooSoon {
        /// `#channel`, escaped.
        channel: &'a str,
        /// Seconds until a draw is allowed again (rounded up).
        seconds: u64,
    },
    /// `pause` done.
    Paused {
        /// `#channel`, escaped.
        channel: &'a str,
    },
    /// `resume` done.
    Resumed {
        /// `#channel`, escaped.
        channel: &'a str,
    },
    /// `verify`: the replay matches.
    Verified {
        /// Raffle id.
        raffle_id: i64,
    },
    /// `verify`: an offline round, nothing to replay.
    VerifiedSkipped {
        /// Raffle id.
        raffle_id: i64,
    },
    /// `verify`: differences follow, one a line.
    Mismatch {
        /// Raffle id.
        raffle_id: i64,
    },
    /// `verify` with an id nobody drew.
    NoSuchRaffle {
        /// Raffle id.
        raffle_id: i64,
    },
    /// `history` of a channel without raffles.
    HistoryEmpty {
        /// `#channel`, escaped.
        channel: &'a str,
    },
    /// `history`: the recent raffles follow, one a line.
    HistoryHead {
        /// `#channel`, escaped.
        channel: &'a str,
    },
    /// A control subcommand from a member without the right.
    NotAllowed,
    /// Several channels are served and none was named.
    ChooseChannel {
        /// The served channels, escaped, comma-separated.
        channels: &'a str,
    },
    /// No channel is served by this instance.
    NoChannels,
    /// The named channel is not served here.
    UnknownChannel {
        /// `#channel`, escaped.
        channel: &'a str,
    },
    /// Something failed on our side (database down).
    Unavailable,
}

impl Message for DiscordBotText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::DescribeCommand => Texts::fixed("Live Twitch raffles", "Sorteios ao vivo da Twitch"),
            Self::DescribeConnect => Texts::fixed(
                "Get the link to connect your Twitch account (only you see it)",
                "Receba o link para conectar sua conta da Twitch (só você vê)",
            ),
            Self::DescribeStatus => Texts::fixed(
                "Show a channel's raffle status",
                "Mostra o estado dos sorteios de um canal",
            ),
            Self::DescribeNow => Texts::fixed("Draw a raffle now", "Sorteia agora"),
            Self::DescribePause => Texts::fixed("Pause automatic raffles", "Pausa os sorteios automáticos"),
            Self::DescribeResume => Texts::fixed("Resume automatic raffles", "Retoma os sorteios automáticos"),
            Self::DescribeVerify => Texts::fixed(
                "Recompute a recorded raffle from its seed",
                "Recalcula um sorteio registrado a partir da semente",
            ),
            Self::DescribeHistory => Texts::fixed("Show recent raffles", "Mostra os sorteios recentes"),
            Self::DescribeChannelOption => Texts::fixed(
                "Twitch channel (needed when several are served)",
                "Canal da Twitch (necessário quando há vários)",
            ),
            Self::DescribeIdOption => Texts::fixed("Raffle number", "Número do sorteio"),
            Self::ConnectLink { url } => Texts {
                en: format!("Connect your Twitch account: {url}").into(),
                pt_br: format!("Conecte sua conta da Twitch: {url}").into(),
            },
            Self::ConnectFirstNote => Texts::fixed(
                "The first account to connect owns this bot; others need to be listed by the operator or approved by the owner.",
                "A primeira conta conectada é a dona deste bot; as outras precisam ser listadas pelo operador ou aprovadas pela dona.",
            ),
            Self::ConnectListedNote => Texts::fixed(
                "Only channels listed by the operator can connect.",
                "Só canais listados pelo operador podem se conectar.",
            ),
            Self::Status {
                channel,
                active_viewers,
                next,
            } => Texts {
                en: format!(
                    "{channel}: {}, {next}.",
                    count(Language::En, active_viewers, "active viewer", "active viewers")
                )
                .into(),
                pt_br: format!(
                    "{channel}: {}, {next}.",
                    count(
                        Language::PtBr,
                        active_viewers,
                        "espectador ativo",
                        "espectadores ativos"
                    )
                )
                .into(),
            },
            Self::NextRaffleAt { at } => Texts {
                en: format!("next raffle {at}").into(),
                pt_br: format!("próximo sorteio {at}").into(),
            },
            Self::NextRaffleSoon => Texts::fixed("next raffle soon", "próximo sorteio em breve"),
            Self::AutoPaused => Texts::fixed("automatic raffles paused", "sorteios automáticos pausados"),
            Self::Won {
                winner,
                item,
                raffle_id,
                candidates,
            } => Texts {
                en: format!(
                    "**{winner}** won **{item}**! Raffle #{raffle_id} among {}.",
                    count(Language::En, candidates, "viewer", "viewers")
                )
                .into(),
                pt_br: format!(
                    "**{winner}** ganhou **{item}**! Sorteio #{raffle_id} entre {}.",
                    count(Language::PtBr, candidates, "espectador", "espectadores")
                )
                .into(),
            },
            Self::WonBare { raffle_id } => Texts {
                en: format!("Raffle #{raffle_id}: won.").into(),
                pt_br: format!("Sorteio #{raffle_id}: houve um ganhador.").into(),
            },
            Self::NoPrize { raffle_id, candidates } => Texts {
                en: format!(
                    "No prize this time (raffle #{raffle_id}, {}).",
                    count(Language::En, candidates, "viewer", "viewers")
                )
                .into(),
                pt_br: format!(
                    "Sem prêmio desta vez (sorteio #{raffle_id}, {}).",
                    count(Language::PtBr, candidates, "espectador", "espectadores")
                )
                .into(),
            },
            Self::NoCandidates { raffle_id } => Texts {
                en: format!("Nobody was eligible (raffle #{raffle_id}).").into(),
                pt_br: format!("Ninguém podia participar (sorteio #{raffle_id}).").into(),
            },
            Self::SkippedOffline { raffle_id } => Texts {
                en: format!("The stream is offline: nothing was drawn (raffle #{raffle_id}).").into(),
                pt_br: format!("A live está offline: nada foi sorteado (sorteio #{raffle_id}).").into(),
            },
            Self::TooSoon { channel, seconds } => Texts {
                en: format!("{channel} drew less than 10 s ago; try again in {seconds} s.").into(),
                pt_br: format!("{channel} sorteou há menos de 10 s; tente de novo em {seconds} s.").into(),
            },
            Self::Paused { channel } => Texts {
                en: format!("Automatic raffles paused in {channel}.").into(),
                pt_br: format!("Sorteios automáticos pausados em {channel}.").into(),
            },
            Self::Resumed { channel } => Texts {
                en: format!("Automatic raffles resumed in {channel}.").into(),
                pt_br: format!("Sorteios automáticos retomados em {channel}.").into(),
            },
            Self::Verified { raffle_id } => Texts {
                en: format!("Raffle #{raffle_id} verified: the stored seed and candidates give the same result.")
                    .into(),
                pt_br: format!(
                    "Sorteio #{raffle_id} verificado: a semente e os participantes guardados dão o mesmo resultado."
                )
                .into(),
            },
            Self::VerifiedSkipped { raffle_id } => Texts {
                en: format!("Raffle #{raffle_id} verified (skipped while offline: nothing was drawn).").into(),
                pt_br: format!("Sorteio #{raffle_id} verificado (pulado com a live offline: nada foi sorteado).")
                    .into(),
            },
            Self::Mismatch { raffle_id } => Texts {
                en: format!("Raffle #{raffle_id} does NOT verify:").into(),
                pt_br: format!("O sorteio #{raffle_id} NÃO confere:").into(),
            },
            Self::NoSuchRaffle { raffle_id } => Texts {
                en: format!("There is no raffle #{raffle_id}.").into(),
                pt_br: format!("Não existe o sorteio #{raffle_id}.").into(),
            },
            Self::HistoryEmpty { channel } => Texts {
                en: format!("No raffles yet in {channel}.").into(),
                pt_br: format!("Nenhum sorteio ainda em {channel}.").into(),
            },
            Self::HistoryHead { channel } => Texts {
                en: format!("Recent raffles in {channel}:").into(),
                pt_br: format!("Sorteios recentes em {channel}:").into(),
            },
            Self::NotAllowed => Texts::fixed(
                "Only members with Manage Server or the bot's admin role may do that.",
                "Só membros com Gerenciar Servidor ou o cargo de administrador do bot podem fazer isso.",
            ),
            Self::ChooseChannel { channels } => Texts {
                en: format!("Several channels are served; choose one with `channel`: {channels}").into(),
                pt_br: format!("Há vários canais; escolha um com `canal`: {channels}").into(),
            },
            Self::NoChannels => Texts::fixed(
                "No Twitch channel is served here yet: connect one with /raffle connect.",
                "Nenhum canal da Twitch atendido aqui ainda: conecte um com /sorteio conectar.",
            ),
            Self::UnknownChannel { channel } => Texts {
                en: format!("{channel} is not a channel this bot serves.").into(),
                pt_br: format!("{channel} não é um canal atendido por este bot.").into(),
            },
            Self::Unavailable => Texts::fixed(
                "Something went wrong on our side; try again in a moment.",
                "Algo deu errado do nosso lado; tente de novo daqui a pouco.",
            ),
        }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<DiscordBotText<'static>> {
    use DiscordBotText::*;
    vec![
        DescribeCommand,
        DescribeConnect,
        DescribeStatus,
        DescribeNow,
        DescribePause,
        DescribeResume,
        DescribeVerify,
        DescribeHistory,
        DescribeChannelOption,
        DescribeIdOption,
        ConnectLink {
            url: "http://x/auth/twitch",
        },
        ConnectFirstNote,
        ConnectListedNote,
        Status {
            channel: "#c",
            active_viewers: 3,
            next: "n",
        },
        NextRaffleAt { at: "<t:1:R>" },
        NextRaffleSoon,
        AutoPaused,
        Won {
            winner: "W",
            item: "I",
            raffle_id: 1,
            candidates: 2,
        },
        WonBare { raffle_id: 1 },
        NoPrize {
            raffle_id: 1,
            candidates: 1,
        },
        NoCandidates { raffle_id: 1 },
        SkippedOffline { raffle_id: 1 },
        TooSoon {
            channel: "#c",
            seconds: 3,
        },
        Paused { channel: "#c" },
        Resumed { channel: "#c" },
        Verified { raffle_id: 1 },
        VerifiedSkipped { raffle_id: 1 },
        Mismatch { raffle_id: 1 },
        NoSuchRaffle { raffle_id: 1 },
        HistoryEmpty { channel: "#c" },
        HistoryHead { channel: "#c" },
        NotAllowed,
        ChooseChannel { channels: "#a, #b" },
        NoChannels,
        UnknownChannel { channel: "#c" },
        Unavailable,
    ]
}
