//! `GET /`: the dashboard page (with the control room when a streamer is
//! signed in); `GET /partials/channels`: its board alone, which the script
//! fetches every few seconds and swaps in; `GET /partials/history/{login}`:
//! the control room's history alone; and the scripts and stylesheet it
//! loads.
//!
//! The markup is built once, server-side, by `view` (maud, escaped by
//! default), so the page works without JavaScript. `static/dashboard.js`
//! only swaps in fresh boards, runs the countdowns and local times, and says
//! when it last refreshed. No inline script or style: the
//! Content-Security-Policy (see `routes`) allows only our own files.
//! Both are written in the language `super::language` picks.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::reply::Response;

use super::api::parse_login;
use super::language::{LanguageRequest, page_language, remember};
use super::reply::{self, WebError};
use super::session::{self, Caller};
use super::state::WebState;
use super::status::{self, ChannelStatus};
use super::view::{self, ControlRoom, Dashboard, Managed, Setup, Speaker, StreamWait, Visitor};
use crate::catalog::{DashboardText, Language};
use crate::channel::ChannelLogin;
use crate::raffle::RaffleRecord;
use crate::store::ChannelRecord;
use crate::twitch::irc::ChatState;

/// The dashboard script.
pub(crate) const SCRIPT: &str = include_str!("static/dashboard.js");
/// The control room's script (a signed-in streamer's dashboard).
pub(crate) const CONTROL_SCRIPT: &str = include_str!("static/control.js");
/// The dashboard stylesheet.
pub(crate) const STYLESHEET: &str = include_str!("static/dashboard.css");

/// How many recent raffles the page reads (shared by every channel).
const RECENT_RAFFLES: i64 = 200;

/// What the dashboard shows, read from the database.
struct Gathered {
    channels: Vec<ChannelStatus>,
    recent: Vec<RaffleRecord>,
    speaker: Speaker,
    facts: Facts,
    chat: ChatState,
}

/// What the page explains about the settings, owned.
struct Facts {
    announces_on_discord: bool,
    stream_wait: StreamWait,
    active_window: String,
    missing_prize_list: Option<String>,
}

impl Facts {
    fn of(state: &WebState) -> Self {
        let rules = state.engine.rules();
        let stream_wait = if !rules.only_when_live {
            StreamWait::Off
        } else if state.connections.can_connect() {
            StreamWait::Waits
        } else {
            StreamWait::Unchecked
        };
        Self {
            announces_on_discord: state.setup.announces_on_discord,
            stream_wait,
            active_window: humantime::format_duration(rules.active_window).to_string(),
            missing_prize_list: state.setup.missing_prize_list.clone(),
        }
    }

    fn setup(&self) -> Setup<'_> {
        Setup {
            announces_on_discord: self.announces_on_discord,
            stream_wait: self.stream_wait,
            active_window: &self.active_window,
            missing_prize_list: self.missing_prize_list.as_deref(),
        }
    }
}

impl Gathered {
    fn dashboard(&self) -> Dashboard<'_> {
        Dashboard {
            channels: &self.channels,
            recent: &self.recent,
            speaker: &self.speaker,
            setup: self.facts.setup(),
            chat: self.chat,
        }
    }
}

async fn gather(state: &WebState) -> Result<Gathered, crate::store::Error> {
    let report = status::collect(state).await?;
    let recent = state.store.recent_raffles(None, RECENT_RAFFLES).await?;
    let speaker = if !state.connections.can_connect() {
        Speaker::NotConfigured
    } else {
        match state.store.bot_account().await? {
            None => Speaker::NotConnected,
            Some(bot) if bot.needs_reauth => Speaker::NeedsReauth { login: bot.login },
            Some(bot) => Speaker::Speaks {
                login: bot.login,
                display_name: bot.display_name,
            },
        }
    };
    Ok(Gathered {
        channels: report.channels,
        recent,
        speaker,
        facts: Facts::of(state),
        chat: state.health.chat.state(),
    })
}

fn visitor(state: &WebState, language: Language) -> Visitor {
    Visitor {
        can_connect: state.connections.can_connect(),
        language,
    }
}

/// How many raffles the control room's history shows.
const HISTORY_RAFFLES: i64 = 20;

/// A signed-in streamer's control room, read from the database.
struct Control {
    login: String,
    channel: ChannelRecord,
    history: Vec<RaffleRecord>,
}

impl Control {
    fn managed(&self) -> Managed<'_> {
        Managed {
            login: &self.channel.login,
            display_name: &self.channel.display_name,
            paused: self.channel.paused,
            history: &self.history,
        }
    }
}

/// The control room of the request's session, if it has one.
async fn control(state: &WebState, headers: &HeaderMap) -> Result<Option<Control>, crate::store::Error> {
    let Some(signed_in) = session::signed_in(state, headers).await else {
        return Ok(None);
    };
    let channel = signed_in.channel;
    let Ok(login) = ChannelLogin::parse(&channel.login) else {
        return Ok(None);
    };
    let history = state.store.recent_raffles(Some(&login), HISTORY_RAFFLES).await?;
    Ok(Some(Control {
        login: channel.login.clone(),
        channel,
        history,
    }))
}

/// `GET /`. Without the database the page still renders (503) with a
/// notice, and its script keeps retrying. A signed-in streamer also gets
/// their control room.
pub(crate) async fn page(state: WebState, request: LanguageRequest, headers: HeaderMap) -> Response {
    let gathered = match gather(&state).await {
        Ok(gathered) => control(&state, &headers).await.map(|control| (gathered, control)),
        Err(e) => Err(e),
    };
    let response = match gathered {
        Ok((gathered, control)) => {
            // A signed-in streamer reads their own channel's language.
            let language = match (&control, request.choice()) {
                (Some(control), None) => state.languages.language_for(&control.login),
                _ => page_language(&state, request, &gathered.channels),
            };
            let visitor = visitor(&state, language);
            let managed: Vec<Managed<'_>> = control.iter().map(Control::managed).collect();
            let room = control.as_ref().map(|control| ControlRoom {
                login: &control.login,
                channels: &managed,
                announces_on_discord: state.setup.announces_on_discord,
            });
            reply::html(
                StatusCode::OK,
                view::dashboard_page(&visitor, &gathered.dashboard(), None, room.as_ref()),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, cause = ?e, "dashboard could not read the database");
            let visitor = visitor(&state, page_language(&state, request, &[]));
            let facts = Facts::of(&state);
            let nothing = Dashboard {
                channels: &[],
                recent: &[],
                speaker: &Speaker::NotConfigured,
                setup: facts.setup(),
                chat: state.health.chat.state(),
            };
            let notice = visitor.language.say(&DashboardText::DatabaseAway);
            reply::html(
                StatusCode::SERVICE_UNAVAILABLE,
                view::dashboard_page(&visitor, &nothing, Some(&notice), None),
            )
        }
    };
    remember(response, &state, request)
}

/// `GET /partials/history/{login}`: a managed channel's history, alone
/// (the control room's script swaps it in after a draw or a resend).
///
/// # Errors
///
/// 400 for a bad login, 403 for another broadcaster's channel, 503 without
/// the database.
pub(crate) async fn history(
    state: WebState,
    caller: Caller,
    raw_login: String,
    request: LanguageRequest,
) -> Result<Response, WebError> {
    let language = page_language(&state, request, &[]);
    let login = parse_login(&raw_login).map_err(|e| e.spoken_in(language))?;
    caller.check_manages(&login).map_err(|e| e.spoken_in(language))?;
    let raffles = state
        .store
        .recent_raffles(Some(&login), HISTORY_RAFFLES)
        .await
        .map_err(|e| WebError::database_unavailable(e).spoken_in(language))?;
    Ok(reply::html(
        StatusCode::OK,
        view::history(language, login.as_str(), &raffles, state.setup.announces_on_discord),
    ))
}

/// `GET /partials/channels`: the board of [`page`], alone.
///
/// # Errors
///
/// 503 when the database is unavailable (the script keeps the board it has).
pub(crate) async fn board(state: WebState, request: LanguageRequest) -> Result<Response, WebError> {
    let gathered = gather(&state).await.map_err(|e| {
        let language = page_language(&state, request, &[]);
        WebError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            language.say(&DashboardText::DatabaseUnavailableTitle),
            language.say(&DashboardText::DatabaseUnavailable),
            "../",
        )
        .in_language(language)
        .caused_by(e)
    })?;
    // The script asks in its page's language (Accept-Language).
    let language = request.reader(page_language(&state, request, &gathered.channels));
    Ok(reply::html(
        StatusCode::OK,
        view::board(&visitor(&state, language), &gathered.dashboard()),
    ))
}

/// `GET /static/dashboard.js` and `/static/dashboard.css`.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidate every time: a restarted bot may ship a newer script.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
