//! What the control room says (SPEC §13): the part of the dashboard a
//! signed-in streamer sees (`web::view::control`), including the words its
//! script (`static/control.js`) writes, which the page hands over in a JSON
//! block with `{id}` / `{error}` / `{n}` left for the script to fill in.
//!
//! Text between backticks is shown as code, as in `catalog::dashboard`.

use super::{Language, Message, Texts};
use crate::channel::settings::Setting;
use crate::raffle::viewers::ViewerReason;

/// A text of the control room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlText<'a> {
    /// The section's heading.
    Title {
        /// The channel's display name.
        name: &'a str,
    },
    /// Who is signed in.
    SignedInAs {
        /// Their login.
        login: &'a str,
    },
    /// The sign-out button.
    SignOut,
    /// Shown without JavaScript.
    NeedsScript,
    /// The channel's state: rounds run.
    StateRunning,
    /// The channel's state: paused.
    StatePaused,
    /// Button.
    DrawNow,
    /// Button.
    Pause,
    /// Button.
    Resume,
    /// After a draw; `{id}` and `{outcome}` are filled in by the script.
    Drawn,
    /// After pausing.
    PausedDone,
    /// After resuming.
    ResumedDone,
    /// While a request is on its way.
    Working,
    /// A refusal; `{error}` is the server's message, filled in by the script.
    Refused,
    /// The bot could not be reached.
    Unreachable,
    /// Signed out (the script's note before the page reloads).
    SignedOut,
    /// The session ended elsewhere: sign in again.
    SessionGone,
    /// Heading.
    SettingsTitle,
    /// Under the heading.
    SettingsIntro,
    /// A value's source: the bot's default.
    SourceDefault,
    /// A value's source: the channel's own.
    SourceChannel,
    /// The reset button's words.
    Reset,
    /// The reset button's accessible name.
    ResetField {
        /// The setting's label.
        label: &'a str,
    },
    /// Button.
    SaveSettings,
    /// After a save.
    Saved,
    /// Save with nothing changed.
    NothingChanged,
    /// A setting's label.
    SettingLabel(Setting),
    /// What a setting's value looks like.
    SettingHint(Setting),
    /// A choice of a yes/no setting.
    Yes,
    /// A choice of a yes/no setting.
    No,
    /// `chat_announce`: off.
    AnnounceOff,
    /// `chat_announce`: winners.
    AnnounceWinners,
    /// `chat_announce`: all.
    AnnounceAll,
    /// `presence_sources`: chat.
    SourcesChat,
    /// `presence_sources`: chat and the chatters list.
    SourcesChatters,
    /// A choice of `LANGUAGE`, named in the reader's language.
    LanguageChoice(Language),
    /// Heading.
    PrizesTitle,
    /// The channel has its own list.
    PrizesOwn,
    /// The channel uses the default list.
    PrizesDefault,
    /// Column heading of the editor.
    ColumnName,
    /// Column heading of the editor.
    ColumnProbability,
    /// Column heading of the editor.
    ColumnStock,
    /// What a probability looks like.
    ProbabilityHint,
    /// What a stock looks like.
    StockHint,
    /// Button.
    AddPrize,
    /// Button.
    RemovePrize,
    /// The remove button's accessible name; `{n}` is the row, filled in by the script.
    RemovePrizeRow,
    /// An editor input's accessible name; `{n}` is the row.
    PrizeNameRow,
    /// An editor input's accessible name; `{n}` is the row.
    PrizeProbabilityRow,
    /// An editor input's accessible name; `{n}` is the row.
    PrizeStockRow,
    /// Button.
    SavePrizes,
    /// The live table's caption.
    ChancesCaption,
    /// Heading.
    ViewersTitle,
    /// Under the heading.
    ViewersIntro,
    /// Column heading.
    ColumnViewer,
    /// Column heading.
    ColumnEligible,
    /// Column heading.
    ColumnWeight,
    /// Column heading.
    ColumnChance,
    /// Column heading.
    ColumnReason,
    /// Eligible.
    EligibleYes,
    /// Not eligible.
    EligibleNo,
    /// Button.
    LoadMore,
    /// Button.
    Refresh,
    /// Nobody is active.
    NoViewers,
    /// Why a viewer cannot win; the JSON word is the key.
    ViewerReason(ViewerReason),
    /// Heading.
    HistoryTitle,
    /// Column heading.
    ColumnWhen,
    /// Column heading.
    ColumnRound,
    /// Column heading.
    ColumnPrize,
    /// Column heading.
    ColumnWinner,
    /// Column heading.
    ColumnDelivery,
    /// Button.
    Resend,
    /// The resend button's accessible name.
    ResendRaffle {
        /// The raffle.
        id: i64,
    },
    /// After a resend; `{id}` is filled in by the script.
    Resent,
    /// The webhook is gone (Discord answered 401/404).
    CheckWebhook,
    /// No raffle yet.
    NoRafflesYet,
    /// A raffle's number in the history.
    RaffleNumber {
        /// Its id.
        id: i64,
    },
}

fn setting_label(setting: Setting) -> (&'static str, &'static str) {
    match setting {
        Setting::RaffleInterval => ("Time between raffles", "Tempo entre sorteios"),
        Setting::ActiveWindow => ("Active window", "Janela de atividade"),
        Setting::WinnerCooldown => ("Winner cooldown", "Pausa do ganhador"),
        Setting::SubscriberLuck => ("Subscriber luck", "Sorte dos inscritos"),
        Setting::OnlyWhenLive => ("Only while live", "Só com a live no ar"),
        Setting::IgnoreUsers => ("Ignored accounts", "Contas ignoradas"),
        Setting::ChatAnnounce => ("Chat announcements", "Anúncios no chat"),
        Setting::ClaimWindow => ("Claim window", "Prazo para resgatar"),
        Setting::ClaimRedraws => ("Redraws", "Novos sorteios"),
        Setting::PresenceSources => ("Who counts as present", "Quem conta como presente"),
        Setting::MinFollowAge => ("Minimum follow age", "Tempo mínimo seguindo"),
        Setting::MinAccountAge => ("Minimum account age", "Idade mínima da conta"),
        Setting::SubscribersOnly => ("Subscribers only", "Só inscritos"),
        Setting::MinMessages => ("Minimum messages", "Mínimo de mensagens"),
        Setting::Language => ("Language", "Idioma"),
    }
}

fn setting_hint(setting: Setting) -> (&'static str, &'static str) {
    match setting {
        Setting::RaffleInterval => (
            "A duration such as 60s, 10m or 1h (`RAFFLE_INTERVAL`).",
            "Uma duração como 60s, 10m ou 1h (`RAFFLE_INTERVAL`).",
        ),
        Setting::ActiveWindow => (
            "Viewers seen in chat within this long take part, e.g. 10m (`ACTIVE_WINDOW`).",
            "Participa quem apareceu no chat dentro deste tempo, por exemplo 10m (`ACTIVE_WINDOW`).",
        ),
        Setting::WinnerCooldown => (
            "A winner cannot win again for this long; 0s for no pause (`WINNER_COOLDOWN`).",
            "Quem ganhou não ganha de novo por este tempo; 0s para nenhuma pausa (`WINNER_COOLDOWN`).",
        ),
        Setting::SubscriberLuck => (
            "How many tickets a subscriber gets, 1 to 10 (`SUBSCRIBER_LUCK`).",
            "Quantos bilhetes um inscrito recebe, de 1 a 10 (`SUBSCRIBER_LUCK`).",
        ),
        Setting::OnlyWhenLive => (
            "Skip rounds while the stream is offline (`ONLY_WHEN_LIVE`).",
            "Pular rodadas com a live offline (`ONLY_WHEN_LIVE`).",
        ),
        Setting::IgnoreUsers => (
            "Logins that never win, separated by commas, added to the bot's list (`IGNORE_USERS`).",
            "Logins que nunca ganham, separados por vírgulas, somados à lista do bot (`IGNORE_USERS`).",
        ),
        Setting::ChatAnnounce => (
            "What the bot says in chat (`CHAT_ANNOUNCE`).",
            "O que o bot diz no chat (`CHAT_ANNOUNCE`).",
        ),
        Setting::ClaimWindow => (
            "How long a winner has to claim in chat; 0s for no claims (`CLAIM_WINDOW`).",
            "Quanto tempo quem ganhou tem para resgatar no chat; 0s para não pedir resgate (`CLAIM_WINDOW`).",
        ),
        Setting::ClaimRedraws => (
            "Redraws before an unclaimed prize goes back to stock, 0 to 10 (`CLAIM_REDRAWS`).",
            "Novos sorteios antes de um prêmio não resgatado voltar ao estoque, de 0 a 10 (`CLAIM_REDRAWS`).",
        ),
        Setting::PresenceSources => (
            "Chat only, or also the viewers Twitch lists as in chat (`PRESENCE_SOURCES`).",
            "Só o chat, ou também quem a Twitch lista como presente no chat (`PRESENCE_SOURCES`).",
        ),
        Setting::MinFollowAge => (
            "Only followers of at least this long win, e.g. 1d; off to allow everyone (`MIN_FOLLOW_AGE`).",
            "Só ganha quem segue há pelo menos este tempo, por exemplo 1d; off para todos (`MIN_FOLLOW_AGE`).",
        ),
        Setting::MinAccountAge => (
            "Accounts younger than this never win; 0s for any age (`MIN_ACCOUNT_AGE`).",
            "Contas mais novas que isto nunca ganham; 0s para qualquer idade (`MIN_ACCOUNT_AGE`).",
        ),
        Setting::SubscribersOnly => (
            "Only subscribers can win (`SUBSCRIBERS_ONLY`).",
            "Só inscritos podem ganhar (`SUBSCRIBERS_ONLY`).",
        ),
        Setting::MinMessages => (
            "Messages a viewer must have sent in the channel, 0 or more (`MIN_MESSAGES`).",
            "Mensagens que o espectador precisa ter enviado no canal, 0 ou mais (`MIN_MESSAGES`).",
        ),
        Setting::Language => (
            "What the bot speaks in your chat, on Discord and on this page (`LANGUAGE`).",
            "O idioma do bot no seu chat, no Discord e nesta página (`LANGUAGE`).",
        ),
    }
}

fn viewer_reason(reason: ViewerReason) -> (&'static str, &'static str) {
    use crate::raffle::eligibility::ExclusionReason as Gate;
    match reason {
        ViewerReason::Broadcaster => ("the broadcaster", "dono do canal"),
        ViewerReason::Bot => ("the bot's own account", "a conta do próprio bot"),
        ViewerReason::NotActive => ("no longer active", "não está mais ativo"),
        ViewerReason::Ignored => ("ignored account", "conta ignorada"),
        ViewerReason::Banned => ("banned or timed out", "banido ou suspenso"),
        ViewerReason::Cooldown => ("won recently", "ganhou há pouco"),
        ViewerReason::Gate(Gate::TooFewMessages) => ("sent too few messages", "poucas mensagens"),
        ViewerReason::Gate(Gate::NotSubscriber) => ("not a subscriber", "não é inscrito"),
        ViewerReason::Gate(Gate::YoungAccount) => ("account too new", "conta nova demais"),
        ViewerReason::Gate(Gate::UnknownAccountAge) => (
            "account age unknown (Twitch did not answer)",
            "idade da conta desconhecida (a Twitch não respondeu)",
        ),
        ViewerReason::Gate(Gate::NotFollowing) => ("not following", "não segue o canal"),
        ViewerReason::Gate(Gate::RecentFollower) => ("followed too recently", "segue há pouco tempo"),
        ViewerReason::Gate(Gate::UnknownFollow) => (
            "follow unknown (Twitch did not answer or the connection lacks the scope)",
            "follow desconhecido (a Twitch não respondeu ou a conexão não tem a permissão)",
        ),
    }
}

fn pair((en, pt_br): (&'static str, &'static str)) -> Texts {
    Texts::fixed(en, pt_br)
}

impl Message for ControlText<'_> {
    fn texts(&self) -> Texts {
        match *self {
            Self::Title { name } => Texts {
                en: format!("Control room · {name}").into(),
                pt_br: format!("Sala de controle · {name}").into(),
            },
            Self::SignedInAs { login } => Texts {
                en: format!("Signed in as @{login}").into(),
                pt_br: format!("Conectado como @{login}").into(),
            },
            Self::SignOut => Texts::fixed("Sign out", "Sair"),
            Self::NeedsScript => Texts::fixed(
                "The controls need JavaScript; the API works without it.",
                "Os controles precisam de JavaScript; a API funciona sem ele.",
            ),
            Self::StateRunning => Texts::fixed("Raffles are running", "Os sorteios estão rodando"),
            Self::StatePaused => Texts::fixed("Raffles are paused", "Os sorteios estão pausados"),
            Self::DrawNow => Texts::fixed("Draw now", "Sortear agora"),
            Self::Pause => Texts::fixed("Pause raffles", "Pausar sorteios"),
            Self::Resume => Texts::fixed("Resume raffles", "Retomar sorteios"),
            Self::Drawn => Texts::fixed("Raffle #{id} drawn: {outcome}.", "Sorteio #{id} feito: {outcome}."),
            Self::PausedDone => Texts::fixed("Raffles paused.", "Sorteios pausados."),
            Self::ResumedDone => Texts::fixed("Raffles resumed.", "Sorteios retomados."),
            Self::Working => Texts::fixed("Working\u{2026}", "Processando\u{2026}"),
            Self::Refused => Texts::fixed("Refused: {error}", "Recusado: {error}"),
            Self::Unreachable => Texts::fixed(
                "Cannot reach the bot right now; try again.",
                "Sem contato com o bot agora; tente de novo.",
            ),
            Self::SignedOut => Texts::fixed("Signed out.", "Você saiu."),
            Self::SessionGone => Texts::fixed(
                "You are no longer signed in: sign in again with Connect with Twitch.",
                "Você não está mais conectado: entre de novo com Conectar com a Twitch.",
            ),
            Self::SettingsTitle => Texts::fixed("Settings", "Configurações"),
            Self::SettingsIntro => Texts::fixed(
                "Each value is the bot's default until you set this channel's own; Reset goes back to the default.",
                "Cada valor é o padrão do bot até você definir um próprio deste canal; Voltar ao padrão desfaz isso.",
            ),
            Self::SourceDefault => Texts::fixed("default", "padrão"),
            Self::SourceChannel => Texts::fixed("this channel's", "deste canal"),
            Self::Reset => Texts::fixed("Reset", "Voltar ao padrão"),
            Self::ResetField { label } => Texts {
                en: format!("Reset {label} to the default").into(),
                pt_br: format!("Voltar {label} ao padrão").into(),
            },
            Self::SaveSettings => Texts::fixed("Save settings", "Salvar configurações"),
            Self::Saved => Texts::fixed("Saved.", "Salvo."),
            Self::NothingChanged => Texts::fixed("Nothing to save.", "Nada para salvar."),
            Self::SettingLabel(setting) => pair(setting_label(setting)),
            Self::SettingHint(setting) => pair(setting_hint(setting)),
            Self::Yes => Texts::fixed("yes", "sim"),
            Self::No => Texts::fixed("no", "não"),
            Self::AnnounceOff => Texts::fixed("nothing", "nada"),
            Self::AnnounceWinners => Texts::fixed("winners", "ganhadores"),
            Self::AnnounceAll => Texts::fixed("every round", "toda rodada"),
            Self::SourcesChat => Texts::fixed("chat only", "só o chat"),
            Self::SourcesChatters => Texts::fixed("chat and the chatters list", "chat e a lista de presentes"),
            Self::LanguageChoice(Language::En) => Texts::fixed("English", "Inglês"),
            Self::LanguageChoice(Language::PtBr) => Texts::fixed("Portuguese (Brazil)", "Português (Brasil)"),
            Self::PrizesTitle => Texts::fixed("Prizes", "Prêmios"),
            Self::PrizesOwn => Texts::fixed(
                "This channel's own prize list.",
                "Lista de prêmios própria deste canal.",
            ),
            Self::PrizesDefault => Texts::fixed(
                "The bot's default prize list; saving makes it this channel's own.",
                "A lista de prêmios padrão do bot; ao salvar, ela passa a ser própria deste canal.",
            ),
            Self::ColumnName => Texts::fixed("Name", "Nome"),
            Self::ColumnProbability => Texts::fixed("Probability", "Probabilidade"),
            Self::ColumnStock => Texts::fixed("Stock", "Estoque"),
            Self::ProbabilityHint => Texts::fixed(
                "Probability as a fraction: 0.05 is a 5% chance each round.",
                "Probabilidade como fração: 0.05 é 5% de chance a cada rodada.",
            ),
            Self::StockHint => Texts::fixed("Stock: empty for unlimited.", "Estoque: vazio para ilimitado."),
            Self::AddPrize => Texts::fixed("Add a prize", "Adicionar prêmio"),
            Self::RemovePrize => Texts::fixed("Remove", "Remover"),
            Self::RemovePrizeRow => Texts::fixed("Remove prize {n}", "Remover prêmio {n}"),
            Self::PrizeNameRow => Texts::fixed("Name of prize {n}", "Nome do prêmio {n}"),
            Self::PrizeProbabilityRow => Texts::fixed("Probability of prize {n}", "Probabilidade do prêmio {n}"),
            Self::PrizeStockRow => Texts::fixed("Stock of prize {n}", "Estoque do prêmio {n}"),
            Self::SavePrizes => Texts::fixed("Save prizes", "Salvar prêmios"),
            Self::ChancesCaption => Texts::fixed(
                "Chances of each round (as `kinoyubot check-items` prints them)",
                "Chances de cada rodada (como `kinoyubot check-items` as mostra)",
            ),
            Self::ViewersTitle => Texts::fixed("Viewers and their chances", "Espectadores e suas chances"),
            Self::ViewersIntro => Texts::fixed(
                "Active viewers with their weight and chance in the next round; those who cannot win, with the reason.",
                "Espectadores ativos com peso e chance na próxima rodada; quem não pode ganhar, com o motivo.",
            ),
            Self::ColumnViewer => Texts::fixed("Viewer", "Espectador"),
            Self::ColumnEligible => Texts::fixed("Can win", "Pode ganhar"),
            Self::ColumnWeight => Texts::fixed("Weight", "Peso"),
            Self::ColumnChance => Texts::fixed("Chance", "Chance"),
            Self::ColumnReason => Texts::fixed("Reason", "Motivo"),
            Self::EligibleYes => Texts::fixed("yes", "sim"),
            Self::EligibleNo => Texts::fixed("no", "não"),
            Self::LoadMore => Texts::fixed("Show more viewers", "Mostrar mais espectadores"),
            Self::Refresh => Texts::fixed("Refresh", "Atualizar"),
            Self::NoViewers => Texts::fixed("No active viewers right now.", "Nenhum espectador ativo agora."),
            Self::ViewerReason(reason) => pair(viewer_reason(reason)),
            Self::HistoryTitle => Texts::fixed("History", "Histórico"),
            Self::ColumnWhen => Texts::fixed("When", "Quando"),
            Self::ColumnRound => Texts::fixed("Round", "Rodada"),
            Self::ColumnPrize => Texts::fixed("Prize", "Prêmio"),
            Self::ColumnWinner => Texts::fixed("Winner", "Ganhador"),
            Self::ColumnDelivery => Texts::fixed("Announcement", "Anúncio"),
            Self::Resend => Texts::fixed("Resend", "Reenviar"),
            Self::ResendRaffle { id } => Texts {
                en: format!("Resend raffle #{id}").into(),
                pt_br: format!("Reenviar sorteio #{id}").into(),
            },
            Self::Resent => Texts::fixed(
                "Raffle #{id} is queued to be announced again.",
                "O sorteio #{id} voltou para a fila de anúncio.",
            ),
            Self::CheckWebhook => Texts::fixed(
                "Discord says the webhook is gone: check `DISCORD_WEBHOOK_URL`, then resend.",
                "O Discord diz que o webhook não existe mais: confira `DISCORD_WEBHOOK_URL` e reenvie.",
            ),
            Self::NoRafflesYet => Texts::fixed("No raffles yet.", "Nenhum sorteio ainda."),
            Self::RaffleNumber { id } => Texts {
                en: format!("Raffle #{id}").into(),
                pt_br: format!("Sorteio #{id}").into(),
            },
        }
    }
}

/// The percent sign as the page writes it after a number: `%` / ` %`.
pub(crate) fn percent_sign(language: Language) -> &'static str {
    match language {
        Language::En => "%",
        Language::PtBr => "\u{a0}%",
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<ControlText<'static>> {
    use ControlText::*;
    let mut samples = vec![
        Title { name: "Streamer" },
        SignedInAs { login: "streamer" },
        SignOut,
        NeedsScript,
        StateRunning,
        StatePaused,
        DrawNow,
        Pause,
        Resume,
        Drawn,
        PausedDone,
        ResumedDone,
        Working,
        Refused,
        Unreachable,
        SignedOut,
        SessionGone,
        SettingsTitle,
        SettingsIntro,
        SourceDefault,
        SourceChannel,
        Reset,
        ResetField { label: "x" },
        SaveSettings,
        Saved,
        NothingChanged,
        Yes,
        No,
        AnnounceOff,
        AnnounceWinners,
        AnnounceAll,
        SourcesChat,
        SourcesChatters,
        LanguageChoice(Language::En),
        LanguageChoice(Language::PtBr),
        PrizesTitle,
        PrizesOwn,
        PrizesDefault,
        ColumnName,
        ColumnProbability,
        ColumnStock,
        ProbabilityHint,
        StockHint,
        AddPrize,
        RemovePrize,
        RemovePrizeRow,
        PrizeNameRow,
        PrizeProbabilityRow,
        PrizeStockRow,
        SavePrizes,
        ChancesCaption,
        ViewersTitle,
        ViewersIntro,
        ColumnViewer,
        ColumnEligible,
        ColumnWeight,
        ColumnChance,
        ColumnReason,
        EligibleYes,
        EligibleNo,
        LoadMore,
        Refresh,
        NoViewers,
        HistoryTitle,
        ColumnWhen,
        ColumnRound,
        ColumnPrize,
        ColumnWinner,
        ColumnDelivery,
        Resend,
        ResendRaffle { id: 3 },
        Resent,
        CheckWebhook,
        NoRafflesYet,
        RaffleNumber { id: 3 },
    ];
    samples.extend(Setting::ALL.iter().map(|s| SettingLabel(*s)));
    samples.extend(Setting::ALL.iter().map(|s| SettingHint(*s)));
    samples.extend(self::ViewerReason::all().into_iter().map(ViewerReason));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_room_reads_in_portuguese_with_its_placeholders() {
        assert_eq!(
            Language::PtBr.say(&ControlText::Title { name: "Canal" }),
            "Sala de controle · Canal"
        );
        assert_eq!(Language::En.say(&ControlText::Drawn), "Raffle #{id} drawn: {outcome}.");
        assert_eq!(
            Language::PtBr.say(&ControlText::ViewerReason(ViewerReason::Gate(
                crate::raffle::eligibility::ExclusionReason::NotSubscriber
            ))),
            "não é inscrito"
        );
        assert_eq!(percent_sign(Language::PtBr), "\u{a0}%");
        let words: Vec<&str> = ViewerReason::all().into_iter().map(ViewerReason::as_str).collect();
        assert!(
            words.contains(&"young_account") && words.contains(&"broadcaster"),
            "{words:?}"
        );
    }
}
