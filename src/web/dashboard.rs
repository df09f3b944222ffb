//! `GET /`: the dashboard page; `GET /partials/channels`: its board alone,
//! which the script fetches every few seconds and swaps in; and the script
//! and stylesheet it loads.
//!
//! The markup is built once, server-side, by `view` (maud, escaped by
//! default), so the page works without JavaScript. `static/dashboard.js`
//! only swaps in fresh boards, runs the countdowns and local times, and says
//! when it last refreshed. No inline script or style: the
//! Content-Security-Policy (see `routes`) allows only our own files.
//! Both are written in the language `super::language` picks.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::language::{LanguageRequest, page_language, remember};
use super::reply::{self, WebError};
use super::state::WebState;
use super::status::{self, ChannelStatus};
use super::view::{self, Dashboard, Setup, Speaker, StreamWait, Visitor};
use crate::catalog::{DashboardText, Language};
use crate::raffle::RaffleRecord;
use crate::twitch::irc::ChatState;

/// The dashboard script.
pub(crate) const SCRIPT: &str = include_str!("static/dashboard.js");
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

/// `GET /`. Without the database the page still renders (503) with a
/// notice, and its script keeps retrying.
pub(crate) async fn page(state: WebState, request: LanguageRequest) -> Response {
    let response = match gather(&state).await {
        Ok(gathered) => {
            let visitor = visitor(&state, page_language(&state, request, &gathered.channels));
            reply::html(
                StatusCode::OK,
                view::dashboard_page(&visitor, &gathered.dashboard(), None),
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
                view::dashboard_page(&visitor, &nothing, Some(&notice)),
            )
        }
    };
    remember(response, &state, request)
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
    let language = page_language(&state, request, &gathered.channels);
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
