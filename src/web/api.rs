//! JSON API: raffle history and the admin actions (SPEC §8, §9). Errors are
//! [`WebError`]s shown as `{"error": "…"}`.

use std::collections::HashMap;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::reply::{self, WebError};
use super::session::Caller;
use super::state::WebState;
use crate::catalog::ApiText;
use crate::channel::ChannelLogin;
use crate::raffle::{LivePolicy, RaffleError, RaffleList, RoundResult, Trigger};

/// Default `limit` of `/api/raffles`.
pub(crate) const DEFAULT_RAFFLE_LIMIT: i64 = 20;
/// Largest `limit` of `/api/raffles`.
pub(crate) const MAX_RAFFLE_LIMIT: i64 = 500;

/// The answer to pause and resume.
#[derive(Serialize)]
struct PauseState<'a> {
    channel: &'a str,
    paused: bool,
}

/// The answer to an approval.
#[derive(Serialize)]
struct Approval<'a> {
    channel: &'a str,
    approved: bool,
    /// `CONNECT_POLICY`: approvals only matter under `first`.
    connect_policy: &'static str,
}

/// A login from the path or query; 400 naming what is wrong.
pub(crate) fn parse_login(raw: &str) -> Result<ChannelLogin, WebError> {
    ChannelLogin::parse(raw).map_err(|e| WebError::refusal(StatusCode::BAD_REQUEST, ApiText::BadLogin(e)))
}

/// 404 for a channel the database does not know.
pub(crate) fn unknown_channel(login: &ChannelLogin) -> WebError {
    WebError::refusal(
        StatusCode::NOT_FOUND,
        ApiText::UnknownChannel {
            login: login.as_str().to_owned(),
        },
    )
}

/// `GET /api/raffles?channel=&limit=`.
///
/// # Errors
///
/// 400 for an unknown parameter, a bad login or limit; 404 for an unknown
/// channel; 503 without the database.
pub(crate) async fn list_raffles(state: WebState, query: HashMap<String, String>) -> Result<Response, WebError> {
    if let Some(key) = query.keys().find(|key| *key != "channel" && *key != "limit") {
        return Err(WebError::api(
            StatusCode::BAD_REQUEST,
            format!("unknown query parameter {key:?}; use channel and limit"),
        ));
    }
    let channel = match query.get("channel").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => Some(parse_login(raw)?),
    };
    let limit = match query.get("limit") {
        None => DEFAULT_RAFFLE_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n @ 1..=MAX_RAFFLE_LIMIT) => n,
            _ => {
                return Err(WebError::api(
                    StatusCode::BAD_REQUEST,
                    format!("limit: {raw:?} is not a whole number from 1 to {MAX_RAFFLE_LIMIT}"),
                ));
            }
        },
    };
    if let Some(login) = &channel {
        let found = state
            .store
            .find_channel(login)
            .await
            .map_err(WebError::database_unavailable)?;
        if found.is_none() {
            return Err(unknown_channel(login));
        }
    }
    let records = state
        .store
        .recent_raffles(channel.as_ref(), limit)
        .await
        .map_err(WebError::database_unavailable)?;
    let list = RaffleList {
        raffles: records.iter().map(|record| record.to_json()).collect(),
    };
    Ok(reply::json(StatusCode::OK, &list))
}

/// `POST /api/channels/{login}/draw[?force=true]`. Honours `ONLY_WHEN_LIVE`
/// (the round is recorded as `skipped_offline` with its reason) unless the
/// admin adds `force=true`. The admin is not rate limited (SPEC §16:
/// operators script it); a signed-in streamer draws at most once per
/// channel per 10 s.
///
/// # Errors
///
/// 400 for a bad login or query, 403 for another broadcaster's channel or
/// `force` from a session, 404 for an unknown channel, 409 when the round
/// was not recorded, 429 when a session draws too often, 503 without the
/// database.
pub(crate) async fn draw(
    state: WebState,
    caller: Caller,
    raw_login: String,
    query: HashMap<String, String>,
) -> Result<Response, WebError> {
    if let Some(key) = query.keys().find(|key| *key != "force") {
        return Err(WebError::api(
            StatusCode::BAD_REQUEST,
            format!("unknown query parameter {key:?}; use force"),
        ));
    }
    let live = match query.get("force").map(String::as_str) {
        None | Some("false") => LivePolicy::Honour,
        Some("true") => LivePolicy::Force,
        Some(other) => {
            return Err(WebError::api(
                StatusCode::BAD_REQUEST,
                format!("force: {other:?} is neither true nor false"),
            ));
        }
    };
    let login = parse_login(&raw_login)?;
    caller.check_manages(&login)?;
    if !caller.is_admin() {
        if live == LivePolicy::Force {
            return Err(WebError::refusal(StatusCode::FORBIDDEN, ApiText::ForceAdminOnly));
        }
        let now = crate::clock::Clock::system().unix_millis();
        let allowed = state
            .session_draws
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_draw(&login, now);
        if let Err(wait) = allowed {
            let seconds = wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0));
            return Err(
                WebError::refusal(StatusCode::TOO_MANY_REQUESTS, ApiText::DrawTooOften).with_retry_after(seconds)
            );
        }
    }
    match state.engine.run_round_with(&login, Trigger::Manual, None, live).await {
        Ok(RoundResult::Recorded(record)) => Ok(reply::json(StatusCode::OK, &record.to_json())),
        Ok(other) => {
            tracing::error!(result = ?other, "a manual draw was not recorded");
            Err(WebError::refusal(StatusCode::CONFLICT, ApiText::DrawNotRecorded))
        }
        Err(RaffleError::UnknownChannel(_)) => Err(unknown_channel(&login)),
        Err(e) => Err(WebError::database_unavailable(e)),
    }
}

/// `POST /api/channels/{login}/approve` (admin): lets the channel connect
/// under `CONNECT_POLICY=first`. The channel need not exist yet: approving
/// is what lets it be added.
///
/// # Errors
///
/// 400 for a bad login, 503 without the database.
pub(crate) async fn approve(state: WebState, raw_login: String) -> Result<Response, WebError> {
    let login = parse_login(&raw_login)?;
    let newly = state
        .store
        .approve_channel(&login, "admin")
        .await
        .map_err(WebError::database_unavailable)?;
    tracing::info!(channel = %login, newly, "channel approved to connect by the admin");
    Ok(reply::json(
        StatusCode::OK,
        &Approval {
            channel: login.as_str(),
            approved: true,
            connect_policy: state.connections.policy().as_str(),
        },
    ))
}

/// `POST /api/channels/{login}/pause` and `/resume`.
///
/// # Errors
///
/// 400 for a bad login, 403 for another broadcaster's channel, 404 for an
/// unknown channel, 503 without the database.
pub(crate) async fn set_paused(
    state: WebState,
    caller: Caller,
    raw_login: String,
    paused: bool,
) -> Result<Response, WebError> {
    let login = parse_login(&raw_login)?;
    caller.check_manages(&login)?;
    let record = state
        .store
        .set_paused(&login, paused)
        .await
        .map_err(WebError::database_unavailable)?
        .ok_or_else(|| unknown_channel(&login))?;
    tracing::info!(channel = %login, paused, admin = caller.is_admin(), "raffles paused/resumed");
    Ok(reply::json(
        StatusCode::OK,
        &PauseState {
            channel: &record.login,
            paused: record.paused,
        },
    ))
}
