//! `GET /`: the dashboard page; `GET /partials/channels`: its board alone,
//! which the script fetches every few seconds and swaps in; and the script
//! and stylesheet it loads.
//!
//! The markup is built once, server-side, by `view` (maud, escaped by
//! default), so the page works without JavaScript. `static/dashboard.js`
//! only swaps in fresh boards, runs the countdowns and local times, and says
//! when it last refreshed. No inline script or style: the
//! Content-Security-Policy (see `routes`) allows only our own files.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::reply::{self, WebError};
use super::state::WebState;
use super::status::{self, ChannelStatus};
use super::view::{self, Dashboard, Speaker, Visitor};
use crate::raffle::RaffleRecord;

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
}

impl Gathered {
    fn dashboard(&self) -> Dashboard<'_> {
        Dashboard {
            channels: &self.channels,
            recent: &self.recent,
            speaker: &self.speaker,
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
    })
}

fn visitor(state: &WebState) -> Visitor {
    Visitor {
        can_connect: state.connections.can_connect(),
    }
}

/// `GET /`. Without the database the page still renders (503) with a
/// notice, and its script keeps retrying.
pub(crate) async fn page(state: WebState) -> Response {
    let visitor = visitor(&state);
    match gather(&state).await {
        Ok(gathered) => reply::html(
            StatusCode::OK,
            view::dashboard_page(&visitor, &gathered.dashboard(), None),
        ),
        Err(e) => {
            tracing::error!(error = %e, cause = ?e, "dashboard could not read the database");
            let nothing = Dashboard {
                channels: &[],
                recent: &[],
                speaker: &Speaker::NotConfigured,
            };
            reply::html(
                StatusCode::SERVICE_UNAVAILABLE,
                view::dashboard_page(
                    &visitor,
                    &nothing,
                    Some("The bot cannot reach its database right now; this page retries by itself."),
                ),
            )
        }
    }
}

/// `GET /partials/channels`: the board of [`page`], alone.
///
/// # Errors
///
/// 503 when the database is unavailable (the script keeps the board it has).
pub(crate) async fn board(state: WebState) -> Result<Response, WebError> {
    let gathered = gather(&state).await.map_err(|e| {
        WebError::page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Database unavailable",
            "The bot cannot reach its database right now.",
            "../",
        )
        .caused_by(e)
    })?;
    Ok(reply::html(
        StatusCode::OK,
        view::board(&visitor(&state), &gathered.dashboard()),
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
