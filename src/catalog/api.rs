//! What the control room's JSON API answers when it refuses (SPEC §13):
//! the `{"error": "…"}` texts the dashboard's script shows the streamer,
//! and `curl` shows the operator. English is the same text as before this
//! area existed (and, for settings, the environment's own words, from
//! [`SettingProblem`]'s `Display`); Portuguese is written here from the
//! same typed values.
//!
//! The reader's language is the one the page asks in (`Accept-Language`,
//! which the script sets to the page's own language), else the visitor's
//! choice, else the channel's `LANGUAGE` (`web::language`).

use super::{Message, Texts};
use crate::channel::settings::{Setting, SettingError, SettingProblem, setting_names};
use crate::channel::{ChannelLoginError, MAX_LOGIN_LENGTH};
use crate::raffle::eligibility::PresenceSourcesError;

/// A refusal of the control room's API, with the values it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiText {
    /// 503: the database cannot be reached.
    DatabaseUnavailable,
    /// 401: no session and no bearer token.
    NotSignedIn,
    /// 401 of `GET /api/session`: nobody is signed in.
    NoSession,
    /// 403: a state change from another origin.
    CrossOrigin,
    /// 403: a state change without the session's CSRF token.
    BadCsrfToken,
    /// 403: a broadcaster asking about another channel.
    OnlyOwnChannel {
        /// The channel they may manage.
        login: String,
    },
    /// 400: the login in the path is not one.
    BadLogin(ChannelLoginError),
    /// 404: no such channel.
    UnknownChannel {
        /// The login asked for.
        login: String,
    },
    /// 400: a settings body naming a field that is wrong.
    Setting(SettingError),
    /// 403: `force=true` from a session.
    ForceAdminOnly,
    /// 429: a second draw within 10 s.
    DrawTooOften,
    /// 409: the round ran but recorded no raffle.
    DrawNotRecorded,
    /// 404: no such raffle.
    UnknownRaffle {
        /// The id asked for.
        id: i64,
    },
    /// 403: a raffle of a channel whose stored login is not valid.
    ResendAdminOnly,
    /// 409: nothing of the raffle failed.
    NothingToResend {
        /// The raffle.
        id: i64,
    },
    /// 400: `POST /auth/logout` with the admin token.
    NoSessionToEnd,
}

/// A login error in Portuguese.
fn login_pt(error: &ChannelLoginError) -> String {
    match error {
        ChannelLoginError::Empty => "o login está vazio".to_owned(),
        ChannelLoginError::TooLong { login, length } => {
            format!("o login {login:?} tem {length} caracteres, no máximo {MAX_LOGIN_LENGTH} são permitidos")
        }
        ChannelLoginError::InvalidCharacter {
            login,
            position,
            character,
        } => {
            format!("o login {login:?} tem {character:?} na posição {position}; só letras, dígitos e _ são permitidos")
        }
    }
}

/// What a JSON value of `setting` looks like, in Portuguese.
fn expected_pt(setting: Setting) -> &'static str {
    match setting {
        Setting::RaffleInterval
        | Setting::ActiveWindow
        | Setting::WinnerCooldown
        | Setting::MinAccountAge
        | Setting::ClaimWindow => "uma duração como \"30s\" ou \"10m\"",
        Setting::MinFollowAge => "uma duração como \"1d\", ou \"off\"",
        Setting::SubscriberLuck => "um número inteiro de 1 a 10",
        Setting::MinMessages => "um número inteiro, 0 ou mais",
        Setting::OnlyWhenLive | Setting::SubscribersOnly => "true ou false",
        Setting::IgnoreUsers => "um texto separado por vírgulas ou uma lista de logins",
        Setting::ChatAnnounce => "off, winners ou all",
        Setting::ClaimRedraws => "um número inteiro de 0 a 10",
        Setting::PresenceSources => "\"chat\" ou \"chat,chatters\"",
        Setting::Language => "\"en\" ou \"pt-BR\"",
    }
}

/// A setting's problem in Portuguese.
fn problem_pt(problem: &SettingProblem) -> String {
    match problem {
        SettingProblem::NotADuration(text) => format!("duração inválida {text:?}; use por exemplo 30s, 10m, 1h"),
        SettingProblem::DurationTooLong => "deve ser no máximo 366 dias".to_owned(),
        SettingProblem::IntervalTooShort => "deve ser pelo menos 1s".to_owned(),
        SettingProblem::IntervalNotWholeSeconds => "deve ser um número inteiro de segundos".to_owned(),
        SettingProblem::WindowZero => "deve ser maior que 0s".to_owned(),
        SettingProblem::OrOff(inner) => format!("{}, ou off", problem_pt(inner)),
        SettingProblem::NotInRange { text, min, max } => {
            format!("valor inválido {text:?}; deve ser um número inteiro de {min} a {max}")
        }
        SettingProblem::NotACount(text) => format!("valor inválido {text:?}; deve ser um número inteiro, 0 ou mais"),
        SettingProblem::NotABoolean(text) => format!("valor booleano inválido {text:?}; use true ou false"),
        SettingProblem::NotAnAnnounceMode(text) => format!("valor inválido {text:?}; use off, winners ou all"),
        SettingProblem::NotALanguage(text) => format!("valor inválido {text:?}; use en ou pt-BR"),
        SettingProblem::Login(error) => login_pt(error),
        SettingProblem::Sources(PresenceSourcesError::UnknownSource(source)) => {
            format!("fonte desconhecida {source:?}; use chat ou chat,chatters")
        }
        SettingProblem::Sources(PresenceSourcesError::Invalid(text)) => {
            format!("valor inválido {text:?}; use chat ou chat,chatters")
        }
        SettingProblem::LoginListNotStrings => "deve ser uma lista de logins (textos)".to_owned(),
        SettingProblem::WrongType(setting) => format!("esperado {}", expected_pt(*setting)),
        SettingProblem::UnknownSetting => {
            format!("configuração desconhecida; as configurações são {}", setting_names())
        }
        SettingProblem::NotAnObject => "deve ser um objeto JSON de configurações".to_owned(),
    }
}

impl Message for ApiText {
    fn texts(&self) -> Texts {
        match self {
            Self::DatabaseUnavailable => Texts::fixed(
                "the database is unavailable; try again shortly",
                "o banco de dados está indisponível; tente de novo em instantes",
            ),
            Self::NotSignedIn => Texts::fixed(
                "sign in with Twitch on the dashboard, or use Authorization: Bearer ADMIN_TOKEN",
                "entre com a Twitch no painel, ou use Authorization: Bearer ADMIN_TOKEN",
            ),
            Self::NoSession => Texts::fixed("not signed in", "ninguém entrou no painel"),
            Self::CrossOrigin => Texts::fixed(
                "this request must come from the dashboard's own page (Origin does not match PUBLIC_URL)",
                "este pedido precisa vir da própria página do painel (Origin não corresponde a PUBLIC_URL)",
            ),
            Self::BadCsrfToken => Texts::fixed(
                "missing or wrong X-CSRF-Token; reload the dashboard and try again",
                "X-CSRF-Token ausente ou errado; recarregue o painel e tente de novo",
            ),
            Self::OnlyOwnChannel { login } => Texts {
                en: format!("signed in as {login}: you can manage only your own channel").into(),
                pt_br: format!("você entrou como {login}: só pode gerenciar o seu próprio canal").into(),
            },
            Self::BadLogin(error) => Texts {
                en: format!("channel: {error}").into(),
                pt_br: format!("canal: {}", login_pt(error)).into(),
            },
            Self::UnknownChannel { login } => Texts {
                en: format!("unknown channel {login}").into(),
                pt_br: format!("canal desconhecido {login}").into(),
            },
            // The field stays the JSON key in every language: the script
            // finds the field to mark by it.
            Self::Setting(error) => Texts {
                en: error.to_string().into(),
                pt_br: format!("{}: {}", error.field, problem_pt(&error.problem)).into(),
            },
            Self::ForceAdminOnly => Texts::fixed(
                "force: only the admin token may draw while the stream is offline",
                "force: só o token de admin pode sortear com a live offline",
            ),
            Self::DrawTooOften => Texts::fixed(
                "one draw per channel every 10 seconds; try again shortly",
                "um sorteio por canal a cada 10 segundos; tente de novo em instantes",
            ),
            Self::DrawNotRecorded => Texts::fixed("the draw was not recorded", "o sorteio não foi registrado"),
            Self::UnknownRaffle { id } => Texts {
                en: format!("unknown raffle {id}").into(),
                pt_br: format!("sorteio desconhecido {id}").into(),
            },
            Self::ResendAdminOnly => Texts::fixed("only the admin may resend this", "só o admin pode reenviar isto"),
            Self::NothingToResend { id } => Texts {
                en: format!("raffle {id} has no failed delivery to resend").into(),
                pt_br: format!("o sorteio {id} não tem entrega com falha para reenviar").into(),
            },
            Self::NoSessionToEnd => Texts::fixed(
                "the admin token has no session to end",
                "o token de admin não tem sessão para encerrar",
            ),
        }
    }
}

/// Every problem a setting can have, one value each (for the catalog test).
#[cfg(test)]
fn every_setting_problem() -> Vec<SettingProblem> {
    use crate::channel::ChannelLogin;
    let mut problems = vec![
        SettingProblem::NotADuration("soon".into()),
        SettingProblem::DurationTooLong,
        SettingProblem::IntervalTooShort,
        SettingProblem::IntervalNotWholeSeconds,
        SettingProblem::WindowZero,
        SettingProblem::OrOff(Box::new(SettingProblem::NotADuration("soon".into()))),
        SettingProblem::NotInRange {
            text: "11".into(),
            min: 1,
            max: 10,
        },
        SettingProblem::NotACount("-1".into()),
        SettingProblem::NotABoolean("maybe".into()),
        SettingProblem::NotAnAnnounceMode("loud".into()),
        SettingProblem::NotALanguage("fr".into()),
        SettingProblem::Sources(PresenceSourcesError::UnknownSource("lurkers".into())),
        SettingProblem::Sources(PresenceSourcesError::Invalid("chatters".into())),
        SettingProblem::LoginListNotStrings,
        SettingProblem::UnknownSetting,
        SettingProblem::NotAnObject,
    ];
    problems.extend(Setting::ALL.map(SettingProblem::WrongType));
    for bad in ["", "a".repeat(26).as_str(), "not ok"] {
        if let Err(error) = ChannelLogin::parse(bad) {
            problems.push(SettingProblem::Login(error));
        }
    }
    problems
}

#[cfg(test)]
pub(super) fn samples() -> Vec<ApiText> {
    use crate::channel::ChannelLogin;
    let mut samples = vec![
        ApiText::DatabaseUnavailable,
        ApiText::NotSignedIn,
        ApiText::NoSession,
        ApiText::CrossOrigin,
        ApiText::BadCsrfToken,
        ApiText::OnlyOwnChannel {
            login: "streamer".into(),
        },
        ApiText::UnknownChannel { login: "nobody".into() },
        ApiText::ForceAdminOnly,
        ApiText::DrawTooOften,
        ApiText::DrawNotRecorded,
        ApiText::UnknownRaffle { id: 7 },
        ApiText::ResendAdminOnly,
        ApiText::NothingToResend { id: 7 },
        ApiText::NoSessionToEnd,
    ];
    if let Err(error) = ChannelLogin::parse("no pe") {
        samples.push(ApiText::BadLogin(error));
    }
    samples.extend(every_setting_problem().into_iter().map(|problem| {
        ApiText::Setting(SettingError {
            field: "raffle_interval".into(),
            problem,
        })
    }));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Language;

    #[test]
    fn every_setting_problem_is_covered_and_keeps_its_field_first() {
        let problems = every_setting_problem();
        assert_eq!(
            problems
                .iter()
                .filter(|p| matches!(p, SettingProblem::Login(_)))
                .count(),
            3,
            "one of each login error"
        );
        for problem in problems {
            let text = ApiText::Setting(SettingError {
                field: "claim_window".into(),
                problem: problem.clone(),
            });
            for language in Language::ALL {
                let said = language.say(&text);
                assert!(said.starts_with("claim_window: "), "{language}: {said}");
            }
            assert_eq!(
                Language::En.say(&text),
                format!("claim_window: {problem}"),
                "English is the environment's words"
            );
        }
    }

    #[test]
    fn portuguese_names_the_value_and_the_rule() {
        let error = SettingError {
            field: "raffle_interval".into(),
            problem: SettingProblem::NotADuration("banana".into()),
        };
        assert_eq!(
            Language::PtBr.say(&ApiText::Setting(error)),
            "raffle_interval: duração inválida \"banana\"; use por exemplo 30s, 10m, 1h"
        );
        let off = SettingProblem::OrOff(Box::new(SettingProblem::DurationTooLong));
        assert_eq!(problem_pt(&off), "deve ser no máximo 366 dias, ou off");
        assert_eq!(
            Language::PtBr.say(&ApiText::OnlyOwnChannel { login: "ana".into() }),
            "você entrou como ana: só pode gerenciar o seu próprio canal"
        );
    }
}
