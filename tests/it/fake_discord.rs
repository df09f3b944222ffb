//! A Discord webhook stand-in on 127.0.0.1:0.
//!
//! It records every request (at arrival, before answering), checks every
//! body against Discord's limits with `check_limits` and records violations,
//! and answers from a programmable queue of [`Reply`]s; when the queue is
//! empty it answers 200 with a fresh message id. Tests wait for a number of
//! requests with a deadline ([`FakeDiscord::wait_for`]), never by sleeping.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use self::discord_limits::check_limits;
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

#[derive(Default)]
struct State {
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
        let route = warp::post()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::body::bytes())
            .then(
                move |path: warp::path::FullPath, query: String, bytes: warp::hyper::body::Bytes| {
                    let state = Arc::clone(&handler_state);
                    let count_tx = Arc::clone(&count_tx);
                    let stop = handler_stop.clone();
                    async move { handle(state, count_tx, stop, path.as_str().to_owned(), query, &bytes).await }
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
            .header("x-ratelimit-reset-after", reset_after.to_string())
            .body(ok(answered_id)),
        Reply::RateLimited { retry_after } => builder
            .status(429)
            .header("retry-after", retry_after.ceil().to_string())
            .header("x-ratelimit-limit", "5")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset-after", retry_after.to_string())
            .header("x-ratelimit-scope", "user")
            .header("x-ratelimit-bucket", "41f9cd0fe1b03c1f")
            .body(
                json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false})
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
