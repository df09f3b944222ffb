//! What the Connect with Twitch pages say when a sign-in cannot go on
//! (`web::oauth`): a title and one sentence per case.

use super::{Message, Texts};

/// Why a Connect page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectPage<'a> {
    /// No Twitch application configured.
    NotConfigured,
    /// Too many sign-ins pending.
    TooManyPending,
    /// The database is away.
    DatabaseUnavailable,
    /// Twitch's answer repeats a parameter.
    Malformed,
    /// The streamer declined on Twitch.
    ConsentDenied,
    /// Twitch failed.
    TwitchUnavailable,
    /// Twitch refused the request (the application's settings).
    AuthorizeRejected,
    /// No state in the answer.
    MissingState,
    /// The state is not this browser's.
    StateMismatch,
    /// The state was used or never issued.
    UnknownState,
    /// The state expired.
    ExpiredState,
    /// No code in the answer.
    MissingCode,
    /// Twitch failed while completing the connection.
    TwitchFailed {
        /// What Twitch said.
        detail: &'a str,
    },
    /// The install is private.
    NotAllowed {
        /// The refused account.
        login: &'a str,
    },
    /// The connection could not be saved.
    SaveFailed,
    /// The answer could not be built.
    SomethingWentWrong,
    /// `/auth/twitch/bot` while a bot account is connected already.
    BotAlreadyConnected,
}

/// A text of a Connect page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectText<'a> {
    /// The page's title.
    Title(ConnectPage<'a>),
    /// The page's sentence.
    Sentence(ConnectPage<'a>),
}

const START_AGAIN_EN: &str = "Start again from the Connect button.";
const START_AGAIN_PT: &str = "Comece de novo pelo botão Conectar.";

impl Message for ConnectText<'_> {
    fn texts(&self) -> Texts {
        let (title, sentence) = match *self {
            Self::Title(page) => (true, page),
            Self::Sentence(page) => (false, page),
        };
        let (title_texts, sentence_texts) = match sentence {
            ConnectPage::NotConfigured => (
                Texts::fixed("Twitch is not configured", "A Twitch não está configurada"),
                Texts::fixed(
                    "This bot has no Twitch application: set TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET \
                     (see the README, \"Connecting your Twitch account\") and restart it.",
                    "Este bot não tem um aplicativo da Twitch: defina TWITCH_CLIENT_ID e TWITCH_CLIENT_SECRET \
                     (veja o README.pt-BR.md, \"Conectando a sua conta da Twitch\") e reinicie-o.",
                ),
            ),
            ConnectPage::TooManyPending => (
                Texts::fixed("Too many sign-ins in progress", "Conexões demais em andamento"),
                Texts::fixed(
                    "Too many Twitch sign-ins are in progress right now. Try again in a few minutes.",
                    "Há conexões com a Twitch demais em andamento agora. Tente de novo em alguns minutos.",
                ),
            ),
            ConnectPage::DatabaseUnavailable => (
                Texts::fixed("Database unavailable", "Banco de dados indisponível"),
                Texts::fixed(
                    "The bot cannot reach its database right now. Try again in a moment.",
                    "O bot não alcança o banco de dados agora. Tente de novo daqui a pouco.",
                ),
            ),
            ConnectPage::Malformed => (
                Texts::fixed("Sign-in response malformed", "Resposta da conexão malformada"),
                Texts {
                    en: format!("Twitch's answer carries a parameter twice, so it was refused. {START_AGAIN_EN}")
                        .into(),
                    pt_br: format!(
                        "A resposta da Twitch traz um parâmetro duas vezes e foi recusada. {START_AGAIN_PT}"
                    )
                    .into(),
                },
            ),
            ConnectPage::ConsentDenied => (
                Texts::fixed("Connection cancelled", "Conexão cancelada"),
                Texts::fixed(
                    "The Twitch account was not connected because access was declined on Twitch.",
                    "A conta da Twitch não foi conectada porque o acesso foi recusado na Twitch.",
                ),
            ),
            ConnectPage::TwitchUnavailable => (
                Texts::fixed("Twitch had a problem", "A Twitch teve um problema"),
                Texts::fixed(
                    "Twitch could not complete the sign-in just now. Nothing was saved; try again in a moment.",
                    "A Twitch não conseguiu concluir a conexão agora. Nada foi salvo; tente de novo daqui a pouco.",
                ),
            ),
            ConnectPage::AuthorizeRejected => (
                Texts::fixed("Twitch refused the sign-in", "A Twitch recusou a conexão"),
                Texts::fixed(
                    "Twitch refused this bot's sign-in request. Nothing was saved; the bot's operator should check \
                     its Twitch application settings.",
                    "A Twitch recusou o pedido de conexão deste bot. Nada foi salvo; quem opera o bot deve conferir \
                     as configurações do aplicativo na Twitch.",
                ),
            ),
            ConnectPage::MissingState => (
                Texts::fixed("Sign-in response incomplete", "Resposta da conexão incompleta"),
                Texts {
                    en: format!("Twitch's answer has no state. {START_AGAIN_EN}").into(),
                    pt_br: format!("A resposta da Twitch não tem state. {START_AGAIN_PT}").into(),
                },
            ),
            ConnectPage::StateMismatch => (
                Texts::fixed("Sign-in not started here", "Conexão não iniciada aqui"),
                Texts {
                    en: format!(
                        "This sign-in was not started in this browser (or its cookie was blocked), so it was \
                         refused. {START_AGAIN_EN}"
                    )
                    .into(),
                    pt_br: format!(
                        "Esta conexão não foi iniciada neste navegador (ou o cookie dela foi bloqueado) e foi \
                         recusada. {START_AGAIN_PT}"
                    )
                    .into(),
                },
            ),
            ConnectPage::UnknownState => (
                Texts::fixed("Sign-in link already used", "Link de conexão já usado"),
                Texts {
                    en: format!("This sign-in link was already used or was not issued by this bot. {START_AGAIN_EN}")
                        .into(),
                    pt_br: format!(
                        "Este link de conexão já foi usado ou não foi emitido por este bot. {START_AGAIN_PT}"
                    )
                    .into(),
                },
            ),
            ConnectPage::ExpiredState => (
                Texts::fixed("Sign-in link expired", "Link de conexão expirado"),
                Texts {
                    en: format!("This sign-in took longer than 10 minutes. {START_AGAIN_EN}").into(),
                    pt_br: format!("Esta conexão levou mais de 10 minutos. {START_AGAIN_PT}").into(),
                },
            ),
            ConnectPage::MissingCode => (
                Texts::fixed("Sign-in response incomplete", "Resposta da conexão incompleta"),
                Texts {
                    en: format!("Twitch's answer has no authorization code. {START_AGAIN_EN}").into(),
                    pt_br: format!("A resposta da Twitch não tem código de autorização. {START_AGAIN_PT}").into(),
                },
            ),
            ConnectPage::TwitchFailed { detail } => (
                Texts::fixed(
                    "Twitch did not complete the connection",
                    "A Twitch não concluiu a conexão",
                ),
                Texts {
                    en: format!("Nothing was saved: {detail}. Try again in a moment.").into(),
                    pt_br: format!("Nada foi salvo: {detail}. Tente de novo daqui a pouco.").into(),
                },
            ),
            ConnectPage::NotAllowed { login } => (
                Texts::fixed("This install is private", "Esta instalação é privada"),
                Texts {
                    en: format!(
                        "This KinoYuBot install is private: only its owner and the channels they allow can \
                         connect. The Twitch account {login} was not connected, and the bot kept none of its \
                         tokens (they were handed back to Twitch). If this channel should have access, ask the \
                         bot's operator to approve {login}."
                    )
                    .into(),
                    pt_br: format!(
                        "Esta instalação do KinoYuBot é privada: só o dono e os canais que ele permitir podem se \
                         conectar. A conta da Twitch {login} não foi conectada, e o bot não guardou nenhum token \
                         dela (foram devolvidos à Twitch). Se este canal deve ter acesso, peça a quem opera o bot \
                         para aprovar {login}."
                    )
                    .into(),
                },
            ),
            ConnectPage::SaveFailed => (
                Texts::fixed("Something went wrong", "Algo deu errado"),
                Texts::fixed(
                    "The connection could not be saved. Nothing was stored; try again in a moment.",
                    "Não foi possível salvar a conexão. Nada foi guardado; tente de novo daqui a pouco.",
                ),
            ),
            ConnectPage::SomethingWentWrong => (
                Texts::fixed("Something went wrong", "Algo deu errado"),
                Texts::fixed(
                    "The bot could not build its answer. Try again.",
                    "O bot não conseguiu montar a resposta. Tente de novo.",
                ),
            ),
            ConnectPage::BotAlreadyConnected => (
                Texts::fixed("A bot account is connected already", "Já há uma conta de bot conectada"),
                Texts::fixed(
                    "The bot already speaks as a connected Twitch account. To use another one, the bot's operator \
                     disconnects it first (DELETE /api/bot with the admin token), then connects the new one here.",
                    "O bot já fala como uma conta da Twitch conectada. Para usar outra, quem opera o bot \
                     desconecta a atual primeiro (DELETE /api/bot com o token de admin) e depois conecta a nova aqui.",
                ),
            ),
        };
        if title { title_texts } else { sentence_texts }
    }
}

#[cfg(test)]
pub(super) fn samples() -> Vec<ConnectText<'static>> {
    use ConnectPage::*;
    [
        NotConfigured,
        TooManyPending,
        DatabaseUnavailable,
        Malformed,
        ConsentDenied,
        TwitchUnavailable,
        AuthorizeRejected,
        MissingState,
        StateMismatch,
        UnknownState,
        ExpiredState,
        MissingCode,
        TwitchFailed { detail: "d" },
        NotAllowed { login: "l" },
        SaveFailed,
        SomethingWentWrong,
        BotAlreadyConnected,
    ]
    .into_iter()
    .flat_map(|page| [ConnectText::Title(page), ConnectText::Sentence(page)])
    .collect()
}
