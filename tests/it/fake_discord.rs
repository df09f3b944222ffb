//! A Discord webhook stand-in on 127.0.0.1:0.
//!
//! It records every request (at arrival, before answering), checks every
//! body against Discord's limits with `check_limits` and records violations,
//! and answers from a programmable queue of [`Reply`]s; when the queue is
//! empty it answers 200 with a fresh message id. Tests wait for a number of
//! requests with a deadline ([`FakeDiscord::wait_for`]), never by sleeping.
//!
//! It also stands in for the REST API the Discord bot uses, under
//! `/api/v10` (Discord's "API Reference" and discord/discord-api-spec):
//! `GET /applications/@me`, `GET /users/@me`, `GET /gateway/bot`,
//! `PUT /applications/{id}/commands` and `…/guilds/{id}/commands` (bulk
//! overwrite), `POST /interactions/{id}/{token}/callback`, the follow-up
//! webhook `POST /webhooks/{application}/{token}` (and `PATCH
//! …/messages/@original`), and Create Message `POST
//! /channels/{id}/messages`. Every bot request needs `Authorization: Bot
//! <BOT_TOKEN>` (else 401 `{"message": "401: Unauthorized", "code": 0}`).
//! Create Message enforces nonces like Discord: with `enforce_nonce: true`,
//! a nonce seen within [`NONCE_WINDOW`] answers the message created the
//! first time instead of creating another one. The programmed replies
//! apply to Create Message too; [`Reply::Hold`] holds the answer *after*
//! the message was created (a lost answer).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use self::discord_limits::check_limits;
use crate::fake_discord_gateway::{APPLICATION_ID, BOT_TOKEN};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;
use warp::Filter as _;
use warp::http::Response;

#[path = "discord_limits.rs"]
pub mod discord_limits;

/// The token part of the stand-in's webhook URL; must never leak.
pub const TOKEN: &str = "s3cr3t-webhook-t0ken";
/// The webhook id part of the URL.
pub const WEBHOOK_ID: &str = "112233";

/// One programmed answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with a fresh message id.
    Ok,
    /// 200 with a fresh id, after a delay (to make requests overlap).
    OkAfter(Duration),
    /// 200, saying the bucket is empty for `reset_after` seconds.
    OkBucketEmpty {
        /// `X-RateLimit-Reset-After`, seconds.
        reset_after: f64,
    },
    /// 429 with `retry_after` in the JSON body and in `Retry-After`, plus
    /// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset-After`.
    RateLimited {
        /// Seconds.
        retry_after: f64,
    },
    /// Any status with a plain-text body (e.g. 500, 502).
    Status(u16),
    /// 404 `{"message": "Unknown Webhook", "code": 10015}`.
    UnknownWebhook,
    /// Never answer (until the stand-in is dropped).
    Hold,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
    /// Request path, e.g. `/api/webhooks/112233/<token>`.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// When it arrived.
    pub at: Instant,
    /// The raffle id from the embed's "Raffle" ("Sorteio") field, if any.
    pub raffle_id: Option<i64>,
    /// The message id answered, if the answer was a 200.
    pub answered_id: Option<String>,
}

/// How long Discord remembers an enforced nonce ("a few minutes").
pub const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);

/// One request to the bot API (`/api/v10/…`).
#[derive(Debug, Clone)]
pub struct BotRequest {
    /// `GET`, `PUT`, `POST`, `PATCH`.
    pub method: String,
    /// The path after `/api/v10`, e.g. `/channels/1/messages`.
    pub path: String,
    /// The JSON body (`Null` if none).
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// Whether it carried the right bot token.
    pub authorized: bool,
}

/// A message Create Message created (what the channel shows).
#[derive(Debug, Clone)]
pub struct ChannelMessage {
    /// Its id.
    pub id: String,
    /// The channel it is in.
    pub channel_id: String,
    /// The nonce it was created with, as text.
    pub nonce: Option<String>,
    /// The body.
    pub body: Value,
    /// The raffle id from the embed's "Raffle" field, if any.
    pub raffle_id: Option<i64>,
}

#[derive(Default)]
struct State {
    bot_requests: Mutex<Vec<BotRequest>>,
    messages: Mutex<Vec<ChannelMessage>>,
    /// Enforced nonce → (message index, when it was first used).
    nonces: Mutex<HashMap<String, (usize, Instant)>>,
    /// Interaction tokens whose interaction got its initial response.
    acknowledged: Mutex<std::collections::HashSet<String>>,
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running stand-in; stops when dropped.
pub struct FakeDiscord {
    addr: SocketAddr,
    state: Arc<State>,
    count: watch::Receiver<usize>,
    stop: CancellationToken,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl FakeDiscord {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let state = Arc::new(State::default());
        let (count_tx, count) = watch::channel(0usize);
        let count_tx = Arc::new(count_tx);
        let stop = CancellationToken::new();

        let handler_state = Arc::clone(&state);
        let handler_stop = stop.clone();
        let route = warp::method()
            .and(warp::path::full())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::body::bytes())
            .then(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      authorization: Option<String>,
                      query: String,
                      bytes: warp::hyper::body::Bytes| {
                    let state = Arc::clone(&handler_state);
                    let count_tx = Arc::clone(&count_tx);
                    let stop = handler_stop.clone();
                    async move {
                        let path = path.as_str().to_owned();
                        match path.strip_prefix("/api/v10") {
                            Some(rest) => {
                                let rest = rest.to_owned();
                                handle_bot(state, stop, method.as_str(), &rest, authorization.as_deref(), &bytes).await
                            }
                            None => handle(state, count_tx, stop, path, query, &bytes).await,
                        }
                    }
                },
            );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Discord");
        let addr = listener.local_addr().expect("address");
        let server_stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = warp::serve(route).incoming(listener).run() => {}
                () = server_stop.cancelled() => {}
            }
        });
        Self {
            addr,
            state,
            count,
            stop,
        }
    }

    /// The webhook URL, with a `thread_id` query that must be kept.
    pub fn webhook_url(&self) -> Url {
        Url::parse(&format!(
            "http://{}/api/webhooks/{WEBHOOK_ID}/{TOKEN}?thread_id=777",
            self.addr
        ))
        .expect("valid URL")
    }

    /// `DISCORD_API_URL` for the bot.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request to the bot API so far.
    pub fn bot_requests(&self) -> Vec<BotRequest> {
        self.state.bot_requests.lock().unwrap().clone()
    }

    /// Bot API requests with this method whose path starts with `prefix`.
    pub fn bot_requests_to(&self, method: &str, prefix: &str) -> Vec<BotRequest> {
        self.bot_requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(prefix))
            .collect()
    }

    /// Waits until at least `n` bot requests match `method` and `prefix`.
    pub async fn wait_bot_requests(&self, n: usize, method: &str, prefix: &str) -> Vec<BotRequest> {
        let start = std::time::Instant::now();
        loop {
            let found = self.bot_requests_to(method, prefix);
            if found.len() >= n {
                return found;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "fake Discord: expected {n} {method} {prefix}… within 30 s, got {}: {:?}",
                found.len(),
                self.bot_requests()
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The messages Create Message created (what the channel shows).
    pub fn channel_messages(&self) -> Vec<ChannelMessage> {
        self.state.messages.lock().unwrap().clone()
    }

    /// Queues answers, used in order before falling back to 200.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.replies.lock().unwrap().extend(replies);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Limit violations found in received bodies.
    pub fn violations(&self) -> Vec<String> {
        self.state.violations.lock().unwrap().clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived; panics after `deadline`
    /// (on the wall clock, so that a paused tokio clock does not end it early).
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Received> {
        let mut count = self.count.clone();
        let start = std::time::Instant::now();
        while *count.borrow_and_update() < n {
            assert!(
                start.elapsed() < deadline,
                "fake Discord: expected {n} requests within {deadline:?}, got {}",
                self.received().len()
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), count.changed()).await;
        }
        self.received()
    }
}

async fn handle(
    state: Arc<State>,
    count_tx: Arc<watch::Sender<usize>>,
    stop: CancellationToken,
    path: String,
    query: String,
    bytes: &[u8],
) -> Response<String> {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    if let Err(violation) = check_limits(&body) {
        state.violations.lock().unwrap().push(violation.to_string());
    }
    let reply = state.replies.lock().unwrap().pop_front().unwrap_or(Reply::Ok);
    let answered_id = matches!(reply, Reply::Ok | Reply::OkAfter(_) | Reply::OkBucketEmpty { .. })
        .then(|| (1_000_000 + state.next_id.fetch_add(1, Ordering::SeqCst)).to_string());
    let index = {
        let mut received = state.received.lock().unwrap();
        received.push(Received {
            raffle_id: raffle_id(&body),
            body,
            path,
            query,
            at: Instant::now(),
            answered_id: answered_id.clone(),
        });
        received.len()
    };
    count_tx.send_replace(index);

    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = respond(reply, answered_id, &stop).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

async fn respond(reply: Reply, answered_id: Option<String>, stop: &CancellationToken) -> Response<String> {
    let ok = |id: Option<String>| json!({"id": id, "type": 0, "content": "", "webhook_id": WEBHOOK_ID}).to_string();
    let builder = Response::builder().header("content-type", "application/json");
    match reply {
        Reply::Ok => builder.status(200).body(ok(answered_id)),
        Reply::OkAfter(delay) => {
            tokio::time::sleep(delay).await;
            builder.status(200).body(ok(answered_id))
        }
        Reply::OkBucketEmpty { reset_after } => builder
            .status(200)
            .header("x-ratelimit-limit", "5")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset_at(reset_after))
            .header("x-ratelimit-reset-after", reset_after.to_string())
            .header("x-ratelimit-bucket", "41f9cd0fe1b03c1f")
            .body(ok(answered_id)),
        Reply::RateLimited { retry_after } => builder
            .status(429)
            .header("retry-after", retry_after.ceil().to_string())
            .header("x-ratelimit-limit", "5")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", reset_at(retry_after))
            .header("x-ratelimit-reset-after", retry_after.to_string())
            .header("x-ratelimit-scope", "user")
            .header("x-ratelimit-bucket", "41f9cd0fe1b03c1f")
            .body(
                json!({"message": "You are being rate limited.", "code": 0, "retry_after": retry_after, "global": false})
                    .to_string(),
            ),
        Reply::Status(status) => Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(format!("upstream trouble {status}")),
        Reply::UnknownWebhook => builder
            .status(404)
            .body(json!({"message": "Unknown Webhook", "code": 10015}).to_string()),
        Reply::Hold => {
            stop.cancelled().await;
            builder.status(503).body(String::new())
        }
    }
    .expect("valid response")
}

/// `X-RateLimit-Reset`: the Unix time, in seconds with a fraction, `after`
/// seconds from now.
fn reset_at(after: f64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!("{:.3}", now + after)
}

fn json_response(status: u16, body: Value) -> Response<String> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("valid response")
}

/// A message object as Discord returns it.
fn message_json(id: &str, channel_id: &str, body: &Value) -> Value {
    json!({
        "id": id, "channel_id": channel_id, "type": 0,
        "content": body["content"].as_str().unwrap_or(""),
        "embeds": body["embeds"].clone(), "attachments": [], "mentions": [], "mention_roles": [],
        "mention_everyone": false, "pinned": false, "tts": false,
        "timestamp": "2026-12-01T15:00:00.000000+00:00", "edited_timestamp": null, "flags": body["flags"].as_u64().unwrap_or(0),
        "nonce": body["nonce"].clone(),
        "author": {"id": APPLICATION_ID, "username": "KinoYuBot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true}
    })
}

/// A nonce as Discord accepts it: an integer, or a string of at most 25 characters.
fn nonce_text(nonce: &Value) -> Result<Option<String>, ()> {
    match nonce {
        Value::Null => Ok(None),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Value::String(s) if s.chars().count() <= 25 => Ok(Some(s.clone())),
        _ => Err(()),
    }
}

async fn handle_bot(
    state: Arc<State>,
    stop: CancellationToken,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    bytes: &[u8],
) -> Response<String> {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let route = path.split('?').next().unwrap_or_default().to_owned();
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    // Interaction callbacks and follow-ups are authenticated by the
    // interaction's token in the path (their `security` in Discord's
    // OpenAPI is `[{}, {"BotToken": []}]`); every other route needs the
    // bot token.
    let by_interaction_token = matches!(
        (method, parts.as_slice()),
        ("POST", ["interactions", _, _, "callback"]) | (_, ["webhooks", _, _, ..])
    );
    let has_bot_token = authorization == Some(format!("Bot {BOT_TOKEN}").as_str());
    let authorized = has_bot_token || (by_interaction_token && authorization.is_none());
    state.bot_requests.lock().unwrap().push(BotRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.clone(),
        at: Instant::now(),
        authorized,
    });
    if !authorized {
        return json_response(401, json!({"message": "401: Unauthorized", "code": 0}));
    }
    let invalid_form = |state: &State, problems: Vec<String>| {
        state.violations.lock().unwrap().extend(problems.iter().cloned());
        json_response(
            400,
            json!({"message": "Invalid Form Body", "code": 50035, "errors": problems}),
        )
    };
    match (method, parts.as_slice()) {
        ("GET", ["applications", "@me"]) => json_response(
            200,
            json!({
                "id": APPLICATION_ID, "name": "KinoYuBot", "icon": null, "description": "",
                "bot_public": true, "bot_require_code_grant": false, "verify_key": "0123abcd",
                "flags": 0, "team": null, "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": null},
                "bot": {"id": APPLICATION_ID, "username": "KinoYuBot", "discriminator": "0", "avatar": null, "bot": true}
            }),
        ),
        ("GET", ["users", "@me"]) => json_response(
            200,
            json!({"id": APPLICATION_ID, "username": "KinoYuBot", "discriminator": "0", "global_name": null,
                   "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0}),
        ),
        ("GET", ["gateway", "bot"]) => json_response(
            200,
            json!({"url": "wss://gateway.discord.gg", "shards": 1,
                   "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}),
        ),
        ("PUT", ["applications", app, "commands"]) | ("PUT", ["applications", app, "guilds", _, "commands"]) => {
            if *app != APPLICATION_ID {
                return json_response(403, json!({"message": "Missing Access", "code": 50001}));
            }
            let problems = crate::discord_shapes::check_commands(&body);
            if !problems.is_empty() {
                return invalid_form(&state, problems);
            }
            let commands = body.as_array().cloned().unwrap_or_default();
            let answered: Vec<Value> = commands
                .iter()
                .enumerate()
                .map(|(n, c)| {
                    let mut c = c.clone();
                    c["id"] = json!((910_000_000_000_000_000u64 + n as u64).to_string());
                    c["application_id"] = json!(APPLICATION_ID);
                    c["version"] = json!("910000000000000100");
                    c
                })
                .collect();
            json_response(200, Value::Array(answered))
        }
        ("POST", ["interactions", id, token, "callback"]) => {
            if !crate::fake_discord_gateway::is_interaction_token(id, token) {
                return json_response(404, json!({"message": "Unknown interaction", "code": 10062}));
            }
            let problems = crate::discord_shapes::check_callback(&body);
            if !problems.is_empty() {
                return invalid_form(&state, problems);
            }
            // One initial response per interaction.
            if !state.acknowledged.lock().unwrap().insert((*token).to_owned()) {
                state
                    .violations
                    .lock()
                    .unwrap()
                    .push(format!("interaction {id} answered twice"));
                return json_response(
                    400,
                    json!({"message": "Interaction has already been acknowledged.", "code": 40060}),
                );
            }
            Response::builder()
                .status(204)
                .body(String::new())
                .expect("valid response")
        }
        ("POST" | "PATCH", ["webhooks", app, token, ..])
            if *app != APPLICATION_ID || !state.acknowledged.lock().unwrap().contains(*token) =>
        {
            // A follow-up before the initial response, or for another app.
            json_response(404, json!({"message": "Unknown Webhook", "code": 10015}))
        }
        ("POST", ["webhooks", _app, _token]) => {
            let problems: Vec<String> = check_limits(&body)
                .err()
                .map(|v| v.to_string())
                .into_iter()
                .chain(crate::discord_shapes::check_create_message(&body))
                .collect();
            if !problems.is_empty() {
                return invalid_form(&state, problems);
            }
            let id = (1_000_000 + state.next_id.fetch_add(1, Ordering::SeqCst)).to_string();
            json_response(200, message_json(&id, crate::fake_discord_gateway::CHANNEL_ID, &body))
        }
        ("PATCH", ["webhooks", _app, _token, "messages", "@original"]) => {
            json_response(200, message_json("1", crate::fake_discord_gateway::CHANNEL_ID, &body))
        }
        ("POST", ["channels", channel_id, "messages"]) => {
            if let Err(violation) = check_limits(&body) {
                state.violations.lock().unwrap().push(violation.to_string());
            }
            let problems = crate::discord_shapes::check_create_message(&body);
            let nonce = match nonce_text(&body["nonce"]) {
                Ok(nonce) if problems.is_empty() => nonce,
                _ => return invalid_form(&state, problems),
            };
            let reply = state.replies.lock().unwrap().pop_front().unwrap_or(Reply::Ok);
            if !matches!(
                reply,
                Reply::Ok | Reply::OkAfter(_) | Reply::OkBucketEmpty { .. } | Reply::Hold
            ) {
                // 429 and errors create nothing.
                return respond(reply, None, &stop).await;
            }
            let enforced = body["enforce_nonce"].as_bool() == Some(true);
            // One critical section (nonces, then messages), so two posts
            // with one nonce cannot both create a message.
            let message = {
                let mut nonces = state.nonces.lock().unwrap();
                let mut messages = state.messages.lock().unwrap();
                let seen = nonce
                    .as_ref()
                    .filter(|_| enforced)
                    .and_then(|n| nonces.get(n))
                    .filter(|(_, at)| at.elapsed() < NONCE_WINDOW)
                    .map(|(index, _)| messages[*index].clone());
                match seen {
                    Some(message) => message,
                    None => {
                        let id = (1_000_000 + state.next_id.fetch_add(1, Ordering::SeqCst)).to_string();
                        let message = ChannelMessage {
                            id,
                            channel_id: (*channel_id).to_owned(),
                            nonce: nonce.clone(),
                            raffle_id: raffle_id(&body),
                            body: body.clone(),
                        };
                        messages.push(message.clone());
                        if let (Some(n), true) = (nonce, enforced) {
                            nonces.insert(n, (messages.len() - 1, Instant::now()));
                        }
                        message
                    }
                }
            };
            let answer = message_json(&message.id, &message.channel_id, &message.body);
            match reply {
                Reply::Hold => {
                    stop.cancelled().await;
                    json_response(503, json!({}))
                }
                Reply::OkAfter(delay) => {
                    tokio::time::sleep(delay).await;
                    json_response(200, answer)
                }
                _ => json_response(200, answer),
            }
        }
        _ => json_response(404, json!({"message": "404: Not Found", "code": 0})),
    }
}

/// The raffle id from the "Raffle" field (`#42`; "Sorteio" in pt-BR).
fn raffle_id(body: &Value) -> Option<i64> {
    body["embeds"][0]["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == "Raffle" || f["name"] == "Sorteio")?["value"]
        .as_str()?
        .trim_start_matches('#')
        .parse()
        .ok()
}

/// The limit checker itself: each limit of the documentation is enforced.
mod limit_checker {
    use serde_json::{Value, json};

    use super::discord_limits::*;

    #[test]
    fn check_limits_rejects_an_over_long_title() {
        let body = json!({
            "allowed_mentions": { "parse": [] },
            "embeds": [{ "title": "t".repeat(257) }]
        });
        assert_eq!(
            check_limits(&body),
            Err(LimitViolation::TooLong {
                field: "embeds[0].title".into(),
                len: 257,
                max: EMBED_TITLE_MAX_CHARS
            })
        );
    }

    #[test]
    fn check_limits_rejects_missing_or_non_empty_allowed_mentions() {
        let missing = json!({ "content": "hi" });
        assert!(matches!(
            check_limits(&missing),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
        let no_parse = json!({ "content": "hi", "allowed_mentions": {} });
        assert!(matches!(
            check_limits(&no_parse),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
        let everyone = json!({ "content": "hi", "allowed_mentions": { "parse": ["everyone"] } });
        assert!(matches!(
            check_limits(&everyone),
            Err(LimitViolation::MentionsNotDisabled { .. })
        ));
    }

    #[test]
    fn check_limits_rejects_each_other_limit() {
        let base = |extra: Value| {
            let mut b = json!({ "allowed_mentions": { "parse": [] }, "content": "x" });
            if let (Some(b), Some(extra)) = (b.as_object_mut(), extra.as_object()) {
                b.extend(extra.clone());
            }
            b
        };
        let field = |n: usize, v: usize| json!({ "name": "n".repeat(n), "value": "v".repeat(v) });
        let cases = [
            (json!({ "content": "c".repeat(2001) }), "content"),
            (json!({ "username": "u".repeat(81) }), "username"),
            (json!({ "embeds": vec![json!({"title": "t"}); 11] }), "embeds"),
            (
                json!({ "embeds": [{ "description": "d".repeat(4097) }] }),
                "embeds[0].description",
            ),
            (
                json!({ "embeds": [{ "fields": vec![field(1, 1); 26] }] }),
                "embeds[0].fields",
            ),
            (
                json!({ "embeds": [{ "fields": [field(257, 1)] }] }),
                "embeds[0].fields[0].name",
            ),
            (
                json!({ "embeds": [{ "fields": [field(1, 1025)] }] }),
                "embeds[0].fields[0].value",
            ),
            (
                json!({ "embeds": [{ "fields": [field(1, 0)] }] }),
                "embeds[0].fields[0].value",
            ),
            (
                json!({ "embeds": [{ "footer": { "text": "f".repeat(2049) } }] }),
                "embeds[0].footer.text",
            ),
            (
                json!({ "embeds": [{ "author": { "name": "a".repeat(257) } }] }),
                "embeds[0].author.name",
            ),
            (json!({ "embeds": [{ "title": 5 }] }), "embeds[0].title"),
        ];
        for (extra, path) in cases {
            let err = check_limits(&base(extra));
            let named = match &err {
                Err(
                    LimitViolation::TooLong { field, .. }
                    | LimitViolation::TooMany { field, .. }
                    | LimitViolation::WrongType { field, .. }
                    | LimitViolation::Empty { field },
                ) => field.clone(),
                other => format!("{other:?}"),
            };
            assert_eq!(named, path);
        }
        let over_total = base(json!({ "embeds": [
            { "description": "d".repeat(4000) },
            { "description": "d".repeat(2001) }
        ] }));
        assert_eq!(
            check_limits(&over_total),
            Err(LimitViolation::TotalTooLong { total: 6001, max: 6000 })
        );
        let empty = json!({ "allowed_mentions": { "parse": [] } });
        assert_eq!(check_limits(&empty), Err(LimitViolation::NothingToSend));
    }

    #[test]
    fn limit_violation_message_names_field_and_length() {
        let v = LimitViolation::TooLong {
            field: "embeds[0].title".into(),
            len: 300,
            max: 256,
        };
        assert_eq!(v.to_string(), "embeds[0].title is 300 characters long, limit is 256");
    }
}
