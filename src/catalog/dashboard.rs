//! What the dashboard and the pages around it say (`web::view`), including
//! the words its script writes (handed over in `data-` attributes, with
//! `{time}` / `{seconds}` left for the script to fill in).
//!
//! Text between backticks is shown as code (`web::view` splits on them), so
//! a setting name or a command stays one piece in every language.

use super::{Language, Message, Texts, count};
use crate::raffle::eligibility::ExclusionReason;

/// A text of the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DashboardText<'a> {
    /// Under the brand name.
    Tagline,
    /// Footer lead-in before the JSON links.
    FooterData,
    /// Footer link words.
    FooterStatus,
    /// Footer link words.
    FooterRaffles,
    /// Footer link words.
    FooterMetrics,
    /// The label of the language switch.
    LanguageLabel,
    /// The Connect button.
    ConnectWithTwitch,
    /// Refresh stamp, just refreshed.
    UpdatedJustNow,
    /// Refresh stamp; `{seconds}` is filled in by the script.
    UpdatedAgo,
    /// The notice while the script cannot reach the bot.
    Offline,
    /// The notice while the database is away.
    DatabaseAway,
    /// The title of the error page when the database is away.
    DatabaseUnavailableTitle,
    /// Its sentence.
    DatabaseUnavailable,
    /// Countdown; `{time}` is filled in by the script.
    CountdownIn,
    /// The countdown at zero.
    DrawingNow,
    /// A time today; `{time}` is filled in by the script.
    TodayAt,
    /// First-run help: heading.
    NoChannelsYet,
    /// First-run help: lead-in.
    RunningIntro,
    /// First-run help: connect (bold part).
    ConnectStepLead,
    /// First-run help: connect (rest).
    ConnectStepRest,
    /// First-run help: without Twitch credentials.
    ConnectStepUnconfigured,
    /// First-run help: channels by name.
    ChannelStep,
    /// First-run help: the prize list.
    ItemsStep,
    /// First-run help: Discord.
    DiscordStep,
    /// Card heading.
    LatestWinners,
    /// Badge.
    Paused,
    /// Badge.
    NeedsReauth,
    /// Link next to the badge.
    Reconnect,
    /// Badge.
    Connected,
    /// Live badge.
    Live,
    /// Live badge.
    OfflineBadge,
    /// Live badge.
    LiveUnknown,
    /// Stat label.
    ActiveViewers,
    /// Stat label.
    NextRaffle,
    /// The next raffle when no timer runs here.
    NotScheduledHere,
    /// Stat label.
    LastRound,
    /// The last round when there was none.
    NoneYet,
    /// `3 candidates`.
    Candidates {
        /// How many.
        n: i64,
    },
    /// Outcome word.
    OutcomeWon,
    /// Outcome word.
    OutcomeNoPrize,
    /// Outcome word.
    OutcomeNoCandidates,
    /// Outcome word.
    OutcomeSkippedOffline,
    /// The empty winners list.
    NoWinnersYet,
    /// Between the winner and the prize.
    WonVerb,
    /// Delivery: nothing was queued.
    NotAnnounced,
    /// Delivery: posted to Discord.
    Announced,
    /// Delivery: failed.
    DeliveryFailed {
        /// Why.
        error: &'a str,
    },
    /// Delivery failed without a reason.
    UnknownReason,
    /// Delivery: pending, retrying after an error.
    PendingRetrying {
        /// The last error.
        error: &'a str,
    },
    /// Delivery: pending.
    Pending,
    /// Message page: back link.
    BackToDashboard,
    /// Delivery: printed by the bot (no webhook set).
    Printed,
    /// What active viewers and candidates are.
    ViewersExplained {
        /// `ACTIVE_WINDOW`, e.g. `10m`.
        window: &'a str,
    },
    /// `ONLY_WHEN_LIVE` is off.
    NoWaitOff,
    /// `ONLY_WHEN_LIVE` is on but live status cannot be checked.
    NoWaitUnchecked,
    /// Chat is joined for every served channel.
    ChatConnected,
    /// The bot cannot speak in chat: no Twitch application.
    SpeakerNotConfigured,
    /// The bot is silent in chat (no bot account), before the link.
    SpeakerSilent,
    /// The link to `/auth/twitch/bot`.
    SpeakerConnect,
    /// After the link: who may be connected.
    SpeakerConnectWho,
    /// Twitch refused the bot account's token.
    SpeakerRefused {
        /// The bot account's login.
        login: &'a str,
    },
    /// The link to connect the bot account again.
    SpeakerConnectAgain,
    /// Before the bot account's name.
    SpeaksAs,
    /// Chat is not; followed by the time it was lost.
    ChatDisconnectedSince,
    /// Before the reasons of a round's exclusions: `4 not eligible: `.
    NotEligible {
        /// How many the gates excluded.
        n: u64,
    },
    /// One reason with its count: `1 account too new`.
    ExcludedFor {
        /// The reason.
        reason: ExclusionReason,
        /// How many.
        n: u64,
    },
    /// The channel's connection lacks scopes the gates need (issue 18).
    MissingScopes {
        /// The scopes, comma-separated.
        scopes: &'a str,
    },
    /// The prize list is missing: heading.
    NoPrizeListTitle,
    /// The prize list is missing: what to do.
    NoPrizeListSteps {
        /// `ITEMS_FILE`.
        path: &'a str,
    },
}

impl Message for DashboardText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::Tagline => Texts::fixed(
                "Live giveaways from your Twitch chat",
                "Sorteios ao vivo no seu chat da Twitch",
            ),
            Self::FooterData => Texts::fixed("Data as JSON: ", "Dados em JSON: "),
            Self::FooterStatus => Texts::fixed("status", "estado"),
            Self::FooterRaffles => Texts::fixed("raffles", "sorteios"),
            Self::FooterMetrics => Texts::fixed("metrics", "métricas"),
            Self::LanguageLabel => Texts::fixed("Language", "Idioma"),
            Self::ConnectWithTwitch => Texts::fixed("Connect with Twitch", "Conectar com a Twitch"),
            Self::UpdatedJustNow => Texts::fixed("Updated just now", "Atualizado agora"),
            Self::UpdatedAgo => Texts::fixed("Updated {seconds} s ago", "Atualizado há {seconds} s"),
            Self::Offline => Texts::fixed(
                "Cannot reach the bot right now; retrying\u{2026}",
                "Sem contato com o bot agora; tentando de novo\u{2026}",
            ),
            Self::DatabaseAway => Texts::fixed(
                "The bot cannot reach its database right now; this page retries by itself.",
                "O bot não alcança o banco de dados agora; esta página tenta de novo sozinha.",
            ),
            Self::DatabaseUnavailableTitle => Texts::fixed("Database unavailable", "Banco de dados indisponível"),
            Self::DatabaseUnavailable => Texts::fixed(
                "The bot cannot reach its database right now.",
                "O bot não alcança o banco de dados agora.",
            ),
            Self::CountdownIn => Texts::fixed("in {time}", "em {time}"),
            Self::DrawingNow => Texts::fixed("drawing now\u{2026}", "sorteando agora\u{2026}"),
            Self::TodayAt => Texts::fixed("today {time}", "hoje {time}"),
            Self::NoChannelsYet => Texts::fixed("No channels yet", "Nenhum canal ainda"),
            Self::RunningIntro => Texts::fixed(
                "KinoYuBot is running. To start giving prizes away:",
                "O KinoYuBot está rodando. Para começar a sortear prêmios:",
            ),
            Self::ConnectStepLead => Texts::fixed("Connect your Twitch account", "Conecte sua conta da Twitch"),
            Self::ConnectStepRest => Texts::fixed(
                " with the button above: the bot joins your chat at once.",
                " com o botão acima: o bot entra no seu chat na hora.",
            ),
            Self::ConnectStepUnconfigured => Texts::fixed(
                "To connect a Twitch account, create a Twitch application and set `TWITCH_CLIENT_ID` and \
                 `TWITCH_CLIENT_SECRET` (see the README), then restart.",
                "Para conectar uma conta da Twitch, crie um aplicativo na Twitch e defina `TWITCH_CLIENT_ID` e \
                 `TWITCH_CLIENT_SECRET` (veja o README.pt-BR.md), depois reinicie.",
            ),
            Self::ChannelStep => Texts::fixed(
                "Or add a channel by name: set `TWITCH_CHANNELS=yourchannel` (or run \
                 `kinoyubot run --channel yourchannel`) and restart.",
                "Ou adicione um canal pelo nome: defina `TWITCH_CHANNELS=seucanal` (ou rode \
                 `kinoyubot run --channel seucanal`) e reinicie.",
            ),
            Self::ItemsStep => Texts::fixed(
                "List the prizes in `items.toml`; check it with `kinoyubot check-items`.",
                "Liste os prêmios em `items.toml` (exemplo em português: `items.pt-BR.toml`); confira com \
                 `kinoyubot check-items`.",
            ),
            Self::DiscordStep => Texts::fixed(
                "Set `DISCORD_WEBHOOK_URL` to announce winners on Discord; without it they are printed by the bot.",
                "Defina `DISCORD_WEBHOOK_URL` para anunciar os ganhadores no Discord; sem ele, o bot os imprime no \
                 terminal.",
            ),
            Self::LatestWinners => Texts::fixed("Latest winners", "Últimos ganhadores"),
            Self::Paused => Texts::fixed("Paused", "Pausado"),
            Self::NeedsReauth => Texts::fixed("Needs re-auth", "Precisa reconectar"),
            Self::Reconnect => Texts::fixed("Reconnect", "Reconectar"),
            Self::Connected => Texts::fixed("Connected", "Conectado"),
            Self::Live => Texts::fixed("Live", "Ao vivo"),
            Self::OfflineBadge => Texts::fixed("Offline", "Offline"),
            Self::LiveUnknown => Texts::fixed("Live status unknown", "Estado da live desconhecido"),
            Self::ActiveViewers => Texts::fixed("Active viewers", "Espectadores ativos"),
            Self::NextRaffle => Texts::fixed("Next raffle", "Próximo sorteio"),
            Self::NotScheduledHere => Texts::fixed("Not scheduled here", "Não agendado aqui"),
            Self::LastRound => Texts::fixed("Last round", "Última rodada"),
            Self::NoneYet => Texts::fixed("None yet", "Nenhuma ainda"),
            Self::Candidates { n } => Texts {
                en: count(Language::En, n, "candidate", "candidates").into(),
                pt_br: count(Language::PtBr, n, "candidato", "candidatos").into(),
            },
            Self::OutcomeWon => Texts::fixed("Won", "Ganho"),
            Self::OutcomeNoPrize => Texts::fixed("No prize", "Sem prêmio"),
            Self::OutcomeNoCandidates => Texts::fixed("No candidates", "Sem candidatos"),
            Self::OutcomeSkippedOffline => Texts::fixed("Skipped (offline)", "Pulado (offline)"),
            Self::NoWinnersYet => Texts::fixed("No winners yet.", "Nenhum ganhador ainda."),
            Self::ChatConnected => Texts::fixed("Chat connected", "Chat conectado"),
            Self::SpeakerNotConfigured => Texts::fixed(
                "The bot is silent in chat: it needs a Twitch application (`TWITCH_CLIENT_ID`, `TWITCH_CLIENT_SECRET`) to speak.",
                "O bot fica calado no chat: ele precisa de um aplicativo da Twitch (`TWITCH_CLIENT_ID`, `TWITCH_CLIENT_SECRET`) para falar.",
            ),
            Self::SpeakerSilent => Texts::fixed("The bot is silent in chat.", "O bot fica calado no chat."),
            Self::SpeakerConnect => {
                Texts::fixed("Connect the account it speaks as", "Conecte a conta com que ele fala")
            }
            Self::SpeakerConnectWho => Texts::fixed(
                " (a bot account, or your own).",
                " (uma conta de bot, ou a sua própria).",
            ),
            Self::SpeakerRefused { login } => Texts {
                en: format!("The bot is silent in chat: Twitch no longer accepts the account @{login}.").into(),
                pt_br: format!("O bot fica calado no chat: a Twitch não aceita mais a conta @{login}.").into(),
            },
            Self::SpeakerConnectAgain => Texts::fixed("Connect it again", "Conecte-a de novo"),
            Self::SpeaksAs => Texts::fixed("Speaks in chat as", "Fala no chat como"),
            Self::ChatDisconnectedSince => Texts::fixed("Chat disconnected since", "Chat desconectado desde"),
            Self::WonVerb => Texts::fixed("won", "ganhou"),
            Self::NotAnnounced => Texts::fixed("Not announced", "Não anunciado"),
            Self::Announced => Texts::fixed("Announced", "Anunciado"),
            Self::DeliveryFailed { error } => Texts {
                en: format!("Failed: {error}").into(),
                pt_br: format!("Falhou: {error}").into(),
            },
            Self::UnknownReason => Texts::fixed("unknown reason", "motivo desconhecido"),
            Self::PendingRetrying { error } => Texts {
                en: format!("Pending (retrying: {error})").into(),
                pt_br: format!("Pendente (tentando de novo: {error})").into(),
            },
            Self::Pending => Texts::fixed("Pending", "Pendente"),
            Self::BackToDashboard => Texts::fixed("Back to the dashboard", "Voltar ao painel"),
            Self::Printed => Texts::fixed("Printed", "Impresso"),
            Self::ViewersExplained { window } => Texts {
                en: format!(
                    "Active viewers: everyone who chatted in the last {window}. Candidates: those of them who \
                     could win the round: not the broadcaster, ignored bots, banned or timed-out viewers, or \
                     recent winners."
                )
                .into(),
                pt_br: format!(
                    "Espectadores ativos: todos que falaram no chat nos últimos {window}. Candidatos: quem deles \
                     podia ganhar a rodada: não entram o dono do canal, bots ignorados, quem está banido ou \
                     suspenso, nem quem ganhou há pouco."
                )
                .into(),
            },
            Self::NoWaitOff => Texts::fixed(
                "Raffles don't wait for the stream: they run while it is offline too (`ONLY_WHEN_LIVE=false`).",
                "Os sorteios não esperam a live: rodam com ela offline também (`ONLY_WHEN_LIVE=false`).",
            ),
            Self::NoWaitUnchecked => Texts::fixed(
                "Raffles don't wait for the stream: without `TWITCH_CLIENT_ID` and `TWITCH_CLIENT_SECRET` the bot \
                 cannot tell whether it is live, so it raffles while offline too.",
                "Os sorteios não esperam a live: sem `TWITCH_CLIENT_ID` e `TWITCH_CLIENT_SECRET` o bot não sabe se \
                 ela está no ar, então sorteia com ela offline também.",
            ),
            Self::NotEligible { n } => Texts {
                en: format!("{n} not eligible: ").into(),
                pt_br: format!("{n} não elegíveis: ").into(),
            },
            Self::ExcludedFor { reason, n } => {
                let (en, pt_br) = reason_words(reason);
                Texts {
                    en: format!("{n} {en}").into(),
                    pt_br: format!("{n} {pt_br}").into(),
                }
            }
            Self::MissingScopes { scopes } => Texts {
                en: format!(
                    "The Twitch connection lacks {scopes}: the viewers it would judge are not eligible; reconnect"
                )
                .into(),
                pt_br: format!(
                    "A conexão com a Twitch não tem {scopes}: os espectadores que ela avaliaria não são elegíveis; \
                     reconecte"
                )
                .into(),
            },
            Self::NoPrizeListTitle => Texts::fixed("No prize list yet", "Ainda sem lista de prêmios"),
            Self::NoPrizeListSteps { path } => Texts {
                en: format!(
                    "KinoYuBot is running but draws nothing until it has prizes: there is no `{path}`. Create it \
                     (copy the example `items.toml`), check it with `kinoyubot check-items`, then restart the bot."
                )
                .into(),
                pt_br: format!(
                    "O KinoYuBot está rodando, mas não sorteia nada até ter prêmios: não existe `{path}`. Crie o \
                     arquivo (copie o exemplo `items.pt-BR.toml`), confira com `kinoyubot check-items` e reinicie \
                     o bot."
                )
                .into(),
            },
        }
    }
}

/// Why a viewer was not eligible, in each language.
fn reason_words(reason: ExclusionReason) -> (&'static str, &'static str) {
    match reason {
        ExclusionReason::TooFewMessages => ("sent too few messages", "enviaram poucas mensagens"),
        ExclusionReason::NotSubscriber => ("not a subscriber", "não inscritos"),
        ExclusionReason::YoungAccount => ("account too new", "conta nova demais"),
        ExclusionReason::UnknownAccountAge => (
            "account age unknown (Twitch did not answer)",
            "idade da conta desconhecida (a Twitch não respondeu)",
        ),
        ExclusionReason::NotFollowing => ("not following", "não seguem o canal"),
        ExclusionReason::RecentFollower => ("followed too recently", "seguem há pouco tempo"),
        ExclusionReason::UnknownFollow => (
            "follow unknown (Twitch did not answer or the connection lacks the scope)",
            "follow desconhecido (a Twitch não respondeu ou a conexão não tem a permissão)",
        ),
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<DashboardText<'static>> {
    use DashboardText::*;
    vec![
        Tagline,
        FooterData,
        FooterStatus,
        FooterRaffles,
        FooterMetrics,
        LanguageLabel,
        ConnectWithTwitch,
        UpdatedJustNow,
        UpdatedAgo,
        Offline,
        DatabaseAway,
        DatabaseUnavailableTitle,
        DatabaseUnavailable,
        CountdownIn,
        DrawingNow,
        TodayAt,
        NoChannelsYet,
        RunningIntro,
        ConnectStepLead,
        ConnectStepRest,
        ConnectStepUnconfigured,
        ChannelStep,
        ItemsStep,
        DiscordStep,
        LatestWinners,
        Paused,
        NeedsReauth,
        Reconnect,
        Connected,
        Live,
        OfflineBadge,
        LiveUnknown,
        ActiveViewers,
        NextRaffle,
        NotScheduledHere,
        LastRound,
        NoneYet,
        Candidates { n: 2 },
        OutcomeWon,
        OutcomeNoPrize,
        OutcomeNoCandidates,
        OutcomeSkippedOffline,
        NoWinnersYet,
        WonVerb,
        NotAnnounced,
        Announced,
        DeliveryFailed { error: "e" },
        UnknownReason,
        PendingRetrying { error: "e" },
        Pending,
        BackToDashboard,
        NotEligible { n: 4 },
        ExcludedFor {
            reason: ExclusionReason::UnknownFollow,
            n: 1,
        },
        MissingScopes {
            scopes: "moderator:read:followers",
        },
        Printed,
        ViewersExplained { window: "10m" },
        NoWaitOff,
        NoWaitUnchecked,
        NoPrizeListTitle,
        NoPrizeListSteps { path: "items.toml" },
        ChatConnected,
        SpeakerNotConfigured,
        SpeakerSilent,
        SpeakerConnect,
        SpeakerConnectWho,
        SpeakerRefused { login: "b" },
        SpeakerConnectAgain,
        SpeaksAs,
        ChatDisconnectedSince,
    ]
}
