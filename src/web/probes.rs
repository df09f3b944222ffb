//! What operators and monitors poll: `GET /healthz` (the process answers),
//! `GET /readyz` (every part works, SPEC §16) and `GET /metrics`
//! (Prometheus text).
//!
//! `/readyz` is 200 only when all four checks pass, otherwise 503; its body
//! names each: `{"ready": false, "checks": {"database": "ok", "chat":
//! "disconnected since 2026-12-01T15:00:00Z", "presence": "ok", "tasks":
//! "ok"}}`. The verdict is [`Readiness::judge`], pure, from what the
//! handler gathered.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::SecondsFormat;
use serde::Serialize;
use warp::http::header::CONTENT_TYPE;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;

use super::reply;
use super::state::WebState;
use crate::supervisor::TaskState;
use crate::twitch::irc::ChatState;

/// Presence that waited unwritten longer than this makes the bot unready.
pub(crate) const PRESENCE_UNWRITTEN_LIMIT: Duration = Duration::from_secs(30);
/// How long the database gets to answer the readiness ping.
const DATABASE_PING_TIMEOUT: Duration = Duration::from_secs(2);
/// What a passing check says.
const OK: &str = "ok";

/// The body of `/healthz`.
#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /healthz`.
pub(crate) fn healthz() -> Response {
    reply::json(StatusCode::OK, &Health { status: "ok" })
}

/// What `/readyz` gathered, before judging it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    /// `None`: the database answered; otherwise why not.
    pub(crate) database_error: Option<String>,
    pub(crate) chat: ChatState,
    /// How long the oldest unwritten presence has waited.
    pub(crate) presence_waiting: Option<Duration>,
    pub(crate) tasks: BTreeMap<String, TaskState>,
}

/// The body of `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Readiness {
    pub(crate) ready: bool,
    pub(crate) checks: Checks,
}

/// Each check: `"ok"` or what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Checks {
    pub(crate) database: String,
    pub(crate) chat: String,
    pub(crate) presence: String,
    pub(crate) tasks: String,
}

impl Readiness {
    /// The verdict on what was observed (SPEC §16). Pure.
    pub(crate) fn judge(observed: &Observed) -> Self {
        let database = match &observed.database_error {
            None => OK.to_owned(),
            Some(error) => format!("unreachable: {error}"),
        };
        let chat = match observed.chat {
            ChatState::Connected => OK.to_owned(),
            ChatState::Disconnected { since } => {
                format!(
                    "disconnected since {}",
                    since.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
        };
        let presence = match observed.presence_waiting {
            Some(waited) if waited > PRESENCE_UNWRITTEN_LIMIT => {
                format!(
                    "unwritten for {} s (limit {} s)",
                    waited.as_secs(),
                    PRESENCE_UNWRITTEN_LIMIT.as_secs()
                )
            }
            _ => OK.to_owned(),
        };
        let failing: Vec<String> = observed
            .tasks
            .iter()
            .filter_map(|(name, state)| match state {
                TaskState::Running => None,
                TaskState::Restarting { failure, failures, .. } => {
                    Some(format!("{name} {failure}; restarting (failure {failures})"))
                }
                TaskState::GaveUp { failure } => Some(format!("{name} {failure}; not restarted, the bot is stopping")),
            })
            .collect();
        let tasks = if failing.is_empty() {
            OK.to_owned()
        } else {
            failing.join("; ")
        };
        let checks = Checks {
            database,
            chat,
            presence,
            tasks,
        };
        let ready = [&checks.database, &checks.chat, &checks.presence, &checks.tasks]
            .iter()
            .all(|check| *check == OK);
        Self { ready, checks }
    }
}

/// `GET /readyz`: 200 when every check passes, 503 otherwise.
pub(crate) async fn readyz(state: WebState) -> Response {
    let database_error = match tokio::time::timeout(DATABASE_PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {DATABASE_PING_TIMEOUT:?}")),
    };
    let observed = Observed {
        database_error,
        chat: state.health.chat.state(),
        presence_waiting: state.health.presence.waiting(),
        tasks: state.health.supervisor.tasks(),
    };
    let readiness = Readiness::judge(&observed);
    if readiness.ready {
        reply::json(StatusCode::OK, &readiness)
    } else {
        tracing::debug!(checks = ?readiness.checks, "not ready");
        reply::json(StatusCode::SERVICE_UNAVAILABLE, &readiness)
    }
}

/// `GET /metrics`.
pub(crate) fn metrics() -> Response {
    let mut response = Response::new(crate::metrics::render().into());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use chrono::{TimeZone as _, Utc};

    use super::*;
    use crate::supervisor::Failure;

    fn all_well() -> Observed {
        Observed {
            database_error: None,
            chat: ChatState::Connected,
            presence_waiting: Some(Duration::from_secs(1)),
            tasks: BTreeMap::from([("delivery worker".to_owned(), TaskState::Running)]),
        }
    }

    #[test]
    fn ready_only_when_every_check_passes() {
        let readiness = Readiness::judge(&all_well());
        assert!(readiness.ready);
        assert_eq!(
            serde_json::to_value(&readiness).ok(),
            Some(serde_json::json!({
                "ready": true,
                "checks": {"database": "ok", "chat": "ok", "presence": "ok", "tasks": "ok"}
            }))
        );
    }

    #[test]
    fn each_failing_check_is_named() {
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).single().expect("a time");
        let observed = Observed {
            database_error: Some("could not get a database connection".to_owned()),
            chat: ChatState::Disconnected { since },
            presence_waiting: Some(Duration::from_secs(31)),
            tasks: BTreeMap::from([
                ("chat listener".to_owned(), TaskState::Running),
                (
                    "delivery worker".to_owned(),
                    TaskState::Restarting {
                        failure: Failure::Panic("boom".to_owned()),
                        failures: 2,
                        since: UNIX_EPOCH,
                    },
                ),
            ]),
        };
        let readiness = Readiness::judge(&observed);
        assert!(!readiness.ready);
        assert_eq!(
            readiness.checks.database,
            "unreachable: could not get a database connection"
        );
        assert_eq!(readiness.checks.chat, "disconnected since 2026-12-01T15:00:00Z");
        assert_eq!(readiness.checks.presence, "unwritten for 31 s (limit 30 s)");
        assert_eq!(
            readiness.checks.tasks,
            "delivery worker panicked: boom; restarting (failure 2)"
        );
        for one in [
            Observed {
                database_error: Some("x".to_owned()),
                ..all_well()
            },
            Observed {
                chat: ChatState::Disconnected { since },
                ..all_well()
            },
            Observed {
                presence_waiting: Some(Duration::from_secs(45)),
                ..all_well()
            },
            Observed {
                tasks: BTreeMap::from([(
                    "x".to_owned(),
                    TaskState::GaveUp {
                        failure: Failure::Ended,
                    },
                )]),
                ..all_well()
            },
        ] {
            assert!(!Readiness::judge(&one).ready, "{one:?}");
        }
    }
}
