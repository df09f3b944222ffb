//! More of the control room's JSON API (SPEC §13): a channel's viewers with
//! their chances, resending a raffle's failed deliveries, and the public
//! candidate snapshot of a raffle. Who asks is the route table's
//! `session::caller`, as in `control`.

use std::collections::HashMap;

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::api::{parse_login, unknown_channel};
use super::reply::{self, WebError};
use super::session::Caller;
use super::state::WebState;
use crate::announce::{OutboxEvent, OutboxKind};
use crate::catalog::ApiText;
use crate::channel::ChannelLogin;
use crate::raffle::draw::{CandidateSnapshot, DrawItem};
use crate::raffle::viewers::{self, Cursor, ViewerEntry};

/// Default `limit` of the viewer list.
pub(crate) const DEFAULT_VIEWER_LIMIT: usize = 100;
/// Largest `limit` of the viewer list.
pub(crate) const MAX_VIEWER_LIMIT: usize = 500;

/// The body of `GET /api/channels/{login}/viewers`.
#[derive(Debug, Serialize)]
struct ViewerPage<'a> {
    viewers: &'a [ViewerEntry],
    next_cursor: Option<String>,
}

/// `limit` and `cursor` of the viewer list; 400 naming the parameter at fault.
fn viewer_query(query: &HashMap<String, String>) -> Result<(usize, Option<Cursor>), WebError> {
    if let Some(key) = query.keys().find(|key| *key != "limit" && *key != "cursor") {
        return Err(WebError::api(
            StatusCode::BAD_REQUEST,
            format!("unknown query parameter {key:?}; use limit and cursor"),
        ));
    }
    let limit = match query.get("limit") {
        None => DEFAULT_VIEWER_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n @ 1..=MAX_VIEWER_LIMIT) => n,
            _ => {
                return Err(WebError::api(
                    StatusCode::BAD_REQUEST,
                    format!("limit: {raw:?} is not a whole number from 1 to {MAX_VIEWER_LIMIT}"),
                ));
            }
        },
    };
    let cursor = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => {
            Some(Cursor::decode(raw).map_err(|e| WebError::api(StatusCode::BAD_REQUEST, format!("cursor: {e}")))?)
        }
    };
    Ok((limit, cursor))
}

/// `GET /api/channels/{login}/viewers?limit=&cursor=`: the channel's active
/// viewers, eligible first, with weight and chance (`!odds`'s numbers), and
/// the ineligible ones with the reason.
///
/// # Errors
///
/// 400 for a bad login, `limit` or `cursor`; 403 for another broadcaster's
/// channel; 404 for an unknown channel; 503 without the database.
pub(crate) async fn list_viewers(
    state: WebState,
    caller: Caller,
    raw_login: String,
    query: HashMap<String, String>,
) -> Result<Response, WebError> {
    let login = parse_login(&raw_login)?;
    caller.check_manages(&login)?;
    let (limit, cursor) = viewer_query(&query)?;
    let channel = state
        .store
        .find_channel(&login)
        .await
        .map_err(WebError::database_unavailable)?
        .ok_or_else(|| unknown_channel(&login))?;
    let entries = state
        .engine
        .viewers(&channel)
        .await
        .map_err(WebError::database_unavailable)?;
    let (shown, next) = viewers::page(&entries, limit, cursor.as_ref());
    let mut response = reply::json(
        StatusCode::OK,
        &ViewerPage {
            viewers: shown,
            next_cursor: next.map(|cursor| cursor.encode()),
        },
    );
    response.headers_mut().insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// One row in the answer to a resend.
#[derive(Debug, Serialize)]
struct ResentJson {
    id: i64,
    kind: OutboxKind,
    event: OutboxEvent,
}

/// The body of `POST /api/raffles/{id}/resend`.
#[derive(Debug, Serialize)]
struct Resent {
    raffle_id: i64,
    resent: Vec<ResentJson>,
}

/// 404 for a raffle the database does not know.
fn unknown_raffle(id: i64) -> WebError {
    WebError::refusal(StatusCode::NOT_FOUND, ApiText::UnknownRaffle { id })
}

/// `POST /api/raffles/{id}/resend`: puts the raffle's failed deliveries
/// (Discord posts and chat lines) back to pending and wakes the workers.
/// A sent delivery is never reset.
///
/// # Errors
///
/// 403 for another broadcaster's raffle, 404 for an unknown raffle, 409
/// when it has no failed delivery, 503 without the database.
pub(crate) async fn resend(state: WebState, caller: Caller, id: i64) -> Result<Response, WebError> {
    let record = state
        .store
        .raffle(id)
        .await
        .map_err(WebError::database_unavailable)?
        .ok_or_else(|| unknown_raffle(id))?;
    // A stored login is always valid; a channel that somehow is not can be
    // managed by the admin only.
    match ChannelLogin::parse(&record.channel_login) {
        Ok(login) => caller.check_manages(&login)?,
        Err(_) if caller.is_admin() => {}
        Err(_) => return Err(WebError::refusal(StatusCode::FORBIDDEN, ApiText::ResendAdminOnly)),
    }
    let resent = state
        .store
        .resend_failed(id)
        .await
        .map_err(WebError::database_unavailable)?;
    if resent.is_empty() {
        return Err(WebError::refusal(StatusCode::CONFLICT, ApiText::NothingToResend { id }));
    }
    let kinds: Vec<&str> = resent.iter().map(|row| row.kind.as_str()).collect();
    tracing::info!(
        raffle_id = id,
        channel = %record.channel_login,
        rows = resent.len(),
        kinds = ?kinds,
        admin = caller.is_admin(),
        "failed deliveries put back to pending"
    );
    if resent.iter().any(|row| row.kind == OutboxKind::Discord) {
        state.engine.wake_delivery();
    }
    if resent.iter().any(|row| row.kind == OutboxKind::TwitchChat) {
        state.engine.wake_chat();
    }
    Ok(reply::json(
        StatusCode::OK,
        &Resent {
            raffle_id: id,
            resent: resent
                .iter()
                .map(|row| ResentJson {
                    id: row.id,
                    kind: row.kind,
                    event: row.event,
                })
                .collect(),
        },
    ))
}

/// One candidate of the public snapshot.
#[derive(Debug, Serialize)]
struct CandidateJson<'a> {
    user_id: &'a str,
    weight: u32,
}

/// The body of `GET /api/raffles/{id}/snapshot`: everything `kinoyubot
/// verify` recomputes a draw from.
#[derive(Debug, Serialize)]
struct SnapshotJson<'a> {
    raffle_id: i64,
    trigger: crate::raffle::Trigger,
    outcome: crate::raffle::Outcome,
    /// The seed, 64 hex digits; `null` for a round skipped while offline
    /// (nothing was drawn).
    seed: Option<String>,
    /// SHA-256 of the snapshot's canonical encoding, as recorded.
    digest: &'a str,
    /// The candidates sorted by user id bytes, as the draw saw them.
    candidates: Vec<CandidateJson<'a>>,
    /// The prize list as the draw saw it (`remaining_stock` `null` =
    /// unlimited).
    items: &'a [DrawItem],
    item: Option<&'a str>,
    winner_user_id: Option<&'a str>,
    /// The expired round this one redraws: its winner is drawn from that
    /// round's snapshot minus the expired winners (see its own snapshot).
    redraw_of: Option<i64>,
}

/// `GET /api/raffles/{id}/snapshot` (public): the candidate snapshot of a
/// raffle with its seed and items, for anyone to verify.
///
/// # Errors
///
/// 404 for an unknown raffle, 500 for a stored snapshot that no longer
/// parses (then `kinoyubot verify` says what is wrong), 503 without the
/// database.
pub(crate) async fn snapshot(state: WebState, id: i64) -> Result<Response, WebError> {
    let (record, audit) = state
        .store
        .raffle_audit(id)
        .await
        .map_err(WebError::database_unavailable)?
        .ok_or_else(|| unknown_raffle(id))?;
    let broken = |what: &str, cause: String| {
        WebError::api(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the stored {what} of raffle {id} cannot be read; run kinoyubot verify {id}"),
        )
        .caused_by(cause)
    };
    let snapshot =
        CandidateSnapshot::from_json(&audit.candidates_json).map_err(|e| broken("snapshot", e.to_string()))?;
    let items: Vec<DrawItem> =
        serde_json::from_str(&audit.items_json).map_err(|e| broken("prize list", e.to_string()))?;
    let drawn = record.outcome != crate::raffle::Outcome::SkippedOffline;
    let mut response = reply::json(
        StatusCode::OK,
        &SnapshotJson {
            raffle_id: record.id,
            trigger: record.trigger,
            outcome: record.outcome,
            seed: drawn.then(|| hex::encode(&audit.seed)),
            digest: &record.candidates_digest,
            candidates: snapshot
                .candidates()
                .iter()
                .map(|c| CandidateJson {
                    user_id: &c.user_id,
                    weight: c.weight,
                })
                .collect(),
            items: &items,
            item: record.item_name.as_deref(),
            winner_user_id: record.winner.as_ref().map(|w| w.user_id.as_str()),
            redraw_of: record.redraw_of,
        },
    );
    // A recorded raffle never changes its inputs.
    response.headers_mut().insert(
        warp::http::header::CACHE_CONTROL,
        warp::http::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn message(result: Result<(usize, Option<Cursor>), WebError>) -> String {
        match result {
            Ok(_) => String::new(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn limit_and_cursor_are_checked_and_named() {
        assert!(matches!(viewer_query(&query(&[])), Ok((DEFAULT_VIEWER_LIMIT, None))));
        assert!(matches!(viewer_query(&query(&[("limit", "500")])), Ok((500, None))));
        for bad in ["0", "501", "-1", "ten", ""] {
            assert!(
                message(viewer_query(&query(&[("limit", bad)]))).contains("limit"),
                "{bad}"
            );
        }
        assert!(message(viewer_query(&query(&[("cursor", "nope!")]))).contains("cursor"));
        assert!(message(viewer_query(&query(&[("page", "2")]))).contains("page"));
    }
}
