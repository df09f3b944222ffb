//! JSON API: raffle history and the admin actions (SPEC §8, §9).

use std::collections::HashMap;

use warp::http::StatusCode;
use warp::reply::Response;

use super::routes::{WebState, json_error};
use crate::channel::ChannelLogin;
use crate::raffle::{RaffleError, RaffleList, RoundResult, Trigger};

/// Default and largest `limit` of `/api/raffles`.
pub(crate) const DEFAULT_RAFFLE_LIMIT: i64 = 20;
/// Largest `limit` of `/api/raffles`.
pub(crate) const MAX_RAFFLE_LIMIT: i64 = 500;

fn internal(error: &dyn std::error::Error) -> Response {
    tracing::error!(error = %error, cause = ?error, "API request failed");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable; try again shortly",
    )
}

/// A client error: status and a message for the `{"error": …}` body.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn into_response(self) -> Response {
        json_error(self.0, &self.1)
    }
}

fn parse_login(raw: &str) -> Result<ChannelLogin, ApiError> {
    ChannelLogin::parse(raw).map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("channel: {e}")))
}

/// `GET /api/raffles?channel=&limit=`.
pub(crate) async fn list_raffles(state: WebState, query: HashMap<String, String>) -> Response {
    for key in query.keys() {
        if key != "channel" && key != "limit" {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("unknown query parameter {key:?}; use channel and limit"),
            );
        }
    }
    let channel = match query.get("channel").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => match parse_login(raw) {
            Ok(login) => Some(login),
            Err(error) => return error.into_response(),
        },
    };
    let limit = match query.get("limit") {
        None => DEFAULT_RAFFLE_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n @ 1..=MAX_RAFFLE_LIMIT) => n,
            _ => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("limit: {raw:?} is not a whole number from 1 to {MAX_RAFFLE_LIMIT}"),
                );
            }
        },
    };
    if let Some(login) = &channel {
        match state.store.find_channel(login).await {
            Ok(Some(_)) => {}
            Ok(None) => return json_error(StatusCode::NOT_FOUND, &format!("unknown channel {login}")),
            Err(e) => return internal(&e),
        }
    }
    match state.store.recent_raffles(channel.as_ref(), limit).await {
        Ok(records) => {
            let list = RaffleList {
                raffles: records.iter().map(|record| record.to_json()).collect(),
            };
            warp::reply::json(&list).into_response_ok()
        }
        Err(e) => internal(&e),
    }
}

/// `POST /api/channels/{login}/draw`.
pub(crate) async fn draw(state: WebState, raw_login: String) -> Response {
    let login = match parse_login(&raw_login) {
        Ok(login) => login,
        Err(error) => return error.into_response(),
    };
    match state.engine.run_round(&login, Trigger::Manual, None).await {
        Ok(RoundResult::Recorded(record)) => warp::reply::json(&record.to_json()).into_response_ok(),
        Ok(other) => {
            tracing::error!(result = ?other, "a manual draw was not recorded");
            json_error(StatusCode::CONFLICT, "the draw was not recorded")
        }
        Err(RaffleError::UnknownChannel(_)) => json_error(StatusCode::NOT_FOUND, &format!("unknown channel {login}")),
        Err(e) => internal(&e),
    }
}

/// `POST /api/channels/{login}/pause` and `/resume`.
pub(crate) async fn set_paused(state: WebState, raw_login: String, paused: bool) -> Response {
    let login = match parse_login(&raw_login) {
        Ok(login) => login,
        Err(error) => return error.into_response(),
    };
    match state.store.set_paused(&login, paused).await {
        Ok(Some(record)) => {
            tracing::info!(channel = %login, paused, "raffles paused/resumed by admin");
            warp::reply::json(&serde_json::json!({"channel": record.login, "paused": record.paused})).into_response_ok()
        }
        Ok(None) => json_error(StatusCode::NOT_FOUND, &format!("unknown channel {login}")),
        Err(e) => internal(&e),
    }
}

trait IntoResponseOk {
    fn into_response_ok(self) -> Response;
}

impl<T: warp::Reply> IntoResponseOk for T {
    fn into_response_ok(self) -> Response {
        self.into_response()
    }
}
