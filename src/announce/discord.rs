//! The Discord webhook client (SPEC §6): one POST per announcement.
//!
//! The same client posts through the Discord bot (SPEC §12) when
//! `DISCORD_CHANNEL_ID` is set ([`WebhookClient::bot_channel`]): Create
//! Message on `DISCORD_API_URL/api/v10/channels/{id}/messages` with
//! `Authorization: Bot …`, the same answers, errors and rate-limit handling.
//!
//! [`WebhookClient`] owns the webhook URL and an HTTP client with explicit
//! timeouts. It knows Discord's HTTP answers and turns them into
//! [`DeliveryError`] variants the delivery worker branches on; it knows
//! nothing about the outbox or the database.
//!
//! The webhook URL embeds the webhook's token, so it is a [`WebhookUrl`]
//! (a `secrecy` secret, zeroed on drop): it is exposed only to build the
//! request, reqwest errors are stripped of their
//! URL (`without_url`), and `Debug` prints `[redacted]`.
//!
//! Rate limits are respected per bucket, as Discord's "Rate Limits" page
//! describes them: every answer may name its bucket (`X-RateLimit-Bucket`);
//! after an answer saying the bucket is empty (`X-RateLimit-Remaining: 0`)
//! the next [`WebhookClient::send`] to that bucket first waits
//! `X-RateLimit-Reset-After`. A 429 becomes [`DeliveryError::RateLimited`]
//! with Discord's `retry_after` (capped at an hour): the delivery worker
//! holds back *that row* for it, while the bucket itself (or every request,
//! for a global limit: `"global": true`, `X-RateLimit-Global` or
//! `X-RateLimit-Scope: global`) is paused for at most
//! [`DEFAULT_MAX_HOLD`], so one absurd `retry_after` cannot freeze other rows.
//!
//! The request timeout ([`DEFAULT_REQUEST_TIMEOUT`]) is far above Discord's
//! worst normal latency, so a slow 2xx is still read and recorded rather
//! than taken for a failure and posted again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::config::BotToken;
use std::num::NonZeroU64;

/// Default time allowed to open a connection to Discord.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time allowed for a whole request, answer included: far above
/// Discord's worst normal latency (seconds), so a slow 2xx is not mistaken
/// for a failure and posted twice.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest pause of a bucket (or of every request, for a global
/// limit) after a 429 or an empty bucket: Discord's buckets refill within
/// seconds to a minute; a longer `retry_after` holds back only its own row.
pub const DEFAULT_MAX_HOLD: Duration = Duration::from_secs(60);
/// The bucket of requests whose answers named none yet.
const UNNAMED_BUCKET: &str = "";
/// Longest bucket id kept (Discord's are short hashes).
const MAX_BUCKET_ID_CHARS: usize = 64;

/// Used when a 429 carries no usable `retry_after` at all.
const FALLBACK_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Upper bound on any wait Discord asks for, so a garbled header cannot park
/// the worker for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Longest rejection reason kept (it ends up in `outbox.last_error`).
const MAX_REASON_CHARS: usize = 300;

/// A message Discord accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Discord's message id (a snowflake, as a string). `None` when the 2xx
    /// answer carried no readable id; the message was posted all the same.
    pub id: Option<String>,
}

/// Why a webhook POST did not post the message.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// 429: wait `retry_after`, then try again (not a failure).
    #[error("rate limited by Discord; retry after {retry_after:?}")]
    RateLimited {
        /// How long Discord asks us to wait.
        retry_after: Duration,
    },
    /// 5xx: Discord is having trouble; back off and retry.
    #[error("Discord answered {0}")]
    Server(StatusCode),
    /// Any other non-success answer: retrying will not help.
    #[error("Discord rejected the message: {status}: {reason}")]
    Rejected {
        /// The HTTP status.
        status: StatusCode,
        /// Discord's `message` (and `code`), or the start of the body.
        reason: String,
    },
    /// No answer: connection refused or reset, timeout, DNS. The URL is
    /// stripped from the error.
    #[error("could not reach Discord: {0}")]
    Network(#[source] reqwest::Error),
    /// The HTTP client could not be built (TLS setup).
    #[error("could not set up the HTTP client: {0}")]
    Setup(#[source] reqwest::Error),
    /// `DISCORD_API_URL` does not make a Create Message URL.
    #[error("DISCORD_API_URL: cannot form the Create Message URL: {0}")]
    ApiUrl(#[source] url::ParseError),
}

/// Where to post: a Discord webhook URL, with `wait=true` so Discord
/// answers with the created message. Its path embeds the webhook's token:
/// it is kept as a secret (zeroed on drop, `Debug` prints `[redacted]`).
#[derive(Clone)]
pub struct WebhookUrl(SecretString);

impl WebhookUrl {
    /// The webhook at `url` (`DISCORD_WEBHOOK_URL`). Any query already in
    /// the URL (e.g. `thread_id`) is kept; `wait=true` is set.
    pub fn new(url: &Url) -> Self {
        Self(SecretString::from(String::from(with_wait(url))))
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the rate limits of this client stand.
#[derive(Debug, Default)]
struct RateLimits {
    /// No request at all before this (a global 429).
    global_until: Option<Instant>,
    /// The bucket Discord last named for our webhook route.
    route_bucket: Option<String>,
    /// Per bucket id: no request to it before this.
    buckets: HashMap<String, Instant>,
}

impl RateLimits {
    fn route_key(&self) -> &str {
        self.route_bucket.as_deref().unwrap_or(UNNAMED_BUCKET)
    }

    /// When our route may be called again, if not now.
    fn ready_at(&self, now: Instant) -> Option<Instant> {
        let bucket = self.buckets.get(self.route_key()).copied();
        [self.global_until, bucket]
            .into_iter()
            .flatten()
            .filter(|at| *at > now)
            .max()
    }
}

/// Where a [`WebhookClient`] posts.
#[derive(Clone)]
enum Target {
    /// A webhook URL (its path holds the webhook's token).
    Webhook(WebhookUrl),
    /// Create Message in a channel, as the bot.
    Channel {
        /// `…/api/v10/channels/{id}/messages` (no secret in it).
        url: Url,
        /// Sent as `Authorization: Bot …`.
        token: BotToken,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook(url) => url.fmt(f),
            Self::Channel { url, .. } => write!(f, "bot: {url}"),
        }
    }
}

/// Posts messages to one Discord webhook, or to one channel as the bot.
pub struct WebhookClient {
    http: reqwest::Client,
    url: Target,
    /// Bucket and global pauses. A std mutex, held only to read or write.
    limits: Mutex<RateLimits>,
    /// Longest pause of a bucket or of everything ([`DEFAULT_MAX_HOLD`]).
    max_hold: Duration,
}

impl fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookClient")
            .field("target", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    /// A client for `url` with the default timeouts.
    ///
    /// # Errors
    ///
    /// [`DeliveryError::Setup`] when the HTTP client cannot be built.
    pub fn new(url: &WebhookUrl) -> Result<Self, DeliveryError> {
        Self::with_timeouts(url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client for `url` with explicit connect and whole-request timeouts.
    ///
    /// # Errors
    ///
    /// [`DeliveryError::Setup`] when the HTTP client cannot be built.
    pub fn with_timeouts(url: &WebhookUrl, connect: Duration, request: Duration) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            // A redirect would carry the body somewhere else; Discord does
            // not redirect webhook posts, so treat one as a rejection.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("KinoYuBot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeliveryError::Setup(e.without_url()))?;
        Ok(Self {
            http,
            url: Target::Webhook(url.clone()),
            limits: Mutex::new(RateLimits::default()),
            max_hold: DEFAULT_MAX_HOLD,
        })
    }

    /// A client that posts with Create Message to `channel_id` through the
    /// bot's `token`, on Discord's API at `api_url` (`DISCORD_API_URL`).
    ///
    /// # Errors
    ///
    /// [`DeliveryError::Setup`] when the HTTP client cannot be built or the
    /// URL cannot be formed.
    pub(crate) fn bot_channel(api_url: &Url, channel_id: NonZeroU64, token: BotToken) -> Result<Self, DeliveryError> {
        let url = api_url
            .join(&format!("api/v10/channels/{channel_id}/messages"))
            .map_err(DeliveryError::ApiUrl)?;
        let mut client = Self::new(&WebhookUrl(SecretString::from(String::new())))?;
        client.url = Target::Channel { url, token };
        Ok(client)
    }

    /// Caps the pause of a bucket (or of everything) at `max_hold` instead
    /// of [`DEFAULT_MAX_HOLD`] (tests use a short one).
    #[must_use]
    pub fn with_max_hold(mut self, max_hold: Duration) -> Self {
        self.max_hold = max_hold;
        self
    }

    /// Posts `body` and returns the created message.
    ///
    /// Waits first if an earlier answer said the rate-limit bucket is empty.
    ///
    /// # Errors
    ///
    /// See [`DeliveryError`]; none of them contains the webhook URL.
    pub async fn send(&self, body: &Value) -> Result<SentMessage, DeliveryError> {
        if let Some(at) = self.pause_until() {
            tokio::time::sleep_until(at).await;
        }
        let request = match &self.url {
            // Validated as a URL when the `WebhookUrl` was made.
            Target::Webhook(url) => self.http.post(url.0.expose_secret()),
            Target::Channel { url, token } => self
                .http
                .post(url.clone())
                .header(reqwest::header::AUTHORIZATION, format!("Bot {}", token.expose())),
        };
        let response = request
            .json(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Network(e.without_url()))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bucket = headers
            .get("x-ratelimit-bucket")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(MAX_BUCKET_ID_CHARS).collect::<String>())
            .filter(|v| !v.is_empty());
        self.learn_bucket(bucket);
        if header_f64(&headers, "x-ratelimit-remaining").is_some_and(|left| left <= 0.0)
            && let Some(reset) = header_duration(&headers, "x-ratelimit-reset-after")
        {
            self.pause_for(reset, false);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| DeliveryError::Network(e.without_url()))?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();

        if status.is_success() {
            let id = json.as_ref().and_then(|v| v.get("id")).and_then(|id| match id {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            return Ok(SentMessage { id });
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = json
                .as_ref()
                .and_then(|v| v.get("retry_after"))
                .and_then(Value::as_f64)
                .and_then(seconds)
                .or_else(|| header_duration(&headers, "retry-after"))
                .or_else(|| header_duration(&headers, "x-ratelimit-reset-after"))
                .unwrap_or(FALLBACK_RETRY_AFTER);
            let global = json
                .as_ref()
                .and_then(|v| v.get("global"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
                || headers
                    .get("x-ratelimit-global")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
                || headers
                    .get("x-ratelimit-scope")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("global"));
            if retry_after > self.max_hold {
                tracing::warn!(
                    ?retry_after,
                    max_hold = ?self.max_hold,
                    global,
                    "Discord asked for a very long wait; only this announcement is held that long"
                );
            }
            self.pause_for(retry_after, global);
            return Err(DeliveryError::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(DeliveryError::Server(status));
        }
        Err(DeliveryError::Rejected {
            status,
            reason: rejection_reason(status, json.as_ref(), &bytes),
        })
    }

    /// How long until this client may send again after Discord asked it to
    /// wait; `None` when it may send now.
    pub(crate) fn ready_in(&self) -> Option<Duration> {
        self.pause_until()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, RateLimits> {
        self.limits.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pause_until(&self) -> Option<Instant> {
        self.limits().ready_at(Instant::now())
    }

    /// Records the bucket Discord named for our route; a pause learnt
    /// before the name was known moves to it.
    fn learn_bucket(&self, bucket: Option<String>) {
        let Some(bucket) = bucket else { return };
        let mut limits = self.limits();
        if limits.route_bucket.as_deref() == Some(bucket.as_str()) {
            return;
        }
        if limits.route_bucket.is_none()
            && let Some(at) = limits.buckets.remove(UNNAMED_BUCKET)
        {
            limits.buckets.insert(bucket.clone(), at);
        }
        limits.route_bucket = Some(bucket);
    }

    /// Pauses our route's bucket (or everything, for a global limit) for
    /// `wait`, at most [`Self::with_max_hold`].
    fn pause_for(&self, wait: Duration, global: bool) {
        let now = Instant::now();
        let at = now + wait.min(self.max_hold);
        let mut limits = self.limits();
        // Forget pauses that are over, so the map stays small.
        limits.buckets.retain(|_, until| *until > now);
        if global {
            limits.global_until = Some(limits.global_until.map_or(at, |old| old.max(at)));
        } else {
            let key = limits.route_key().to_owned();
            let until = limits.buckets.entry(key).or_insert(at);
            *until = (*until).max(at);
        }
    }
}

/// `url` with `wait=true`, keeping every other query pair.
fn with_wait(url: &Url) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| key != "wait")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("wait", "true");
    url
}

/// A wait in seconds as Discord sends it; `None` for nonsense (negative, NaN).
fn seconds(value: f64) -> Option<Duration> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(value).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn header_duration(headers: &HeaderMap, name: &str) -> Option<Duration> {
    header_f64(headers, name).and_then(seconds)
}

/// Discord's `message` and `code` (`Unknown Webhook (code 10015)`), else the
/// start of the body, else the status's canonical reason.
fn rejection_reason(status: StatusCode, json: Option<&Value>, body: &[u8]) -> String {
    let message = json.and_then(|v| v.get("message")).and_then(Value::as_str);
    let code = json.and_then(|v| v.get("code")).and_then(Value::as_i64);
    let reason = match (message, code) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message.to_owned(),
        (None, Some(code)) => format!("code {code}"),
        (None, None) => {
            let text = String::from_utf8_lossy(body);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no reason given").to_owned()
            } else {
                text
            }
        }
    };
    crate::announce::render::truncate_with_ellipsis(&reason, MAX_REASON_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid URL")
    }

    #[test]
    fn wait_is_added_and_other_query_pairs_are_kept() {
        assert_eq!(
            with_wait(&url("https://discord.com/api/webhooks/1/tok")).as_str(),
            "https://discord.com/api/webhooks/1/tok?wait=true"
        );
        assert_eq!(
            with_wait(&url("https://discord.com/api/webhooks/1/tok?thread_id=9&wait=false")).as_str(),
            "https://discord.com/api/webhooks/1/tok?thread_id=9&wait=true"
        );
    }

    #[test]
    fn nonsense_waits_are_ignored_and_huge_ones_capped() {
        assert_eq!(seconds(0.25), Some(Duration::from_millis(250)));
        assert_eq!(seconds(-1.0), None);
        assert_eq!(seconds(f64::NAN), None);
        assert_eq!(seconds(1e30), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn rejection_reason_prefers_discord_message_and_code() {
        let json = serde_json::json!({"message": "Unknown Webhook", "code": 10015});
        assert_eq!(
            rejection_reason(StatusCode::NOT_FOUND, Some(&json), b""),
            "Unknown Webhook (code 10015)"
        );
        assert_eq!(
            rejection_reason(StatusCode::FORBIDDEN, None, b"<html>\n nope </html>"),
            "<html> nope </html>"
        );
        assert_eq!(rejection_reason(StatusCode::GONE, None, b""), "Gone");
    }

    #[test]
    fn the_request_timeout_is_far_above_discord_latency() {
        assert!(DEFAULT_REQUEST_TIMEOUT >= Duration::from_secs(60));
    }

    #[test]
    fn pauses_are_per_bucket_and_bounded() {
        let secret = WebhookUrl::new(&url("https://discord.com/api/webhooks/1/tok"));
        let client = WebhookClient::new(&secret)
            .expect("client builds")
            .with_max_hold(Duration::from_secs(5));
        client.pause_for(Duration::from_secs(3000), false);
        let wait = client.ready_in().expect("paused");
        assert!(wait <= Duration::from_secs(5), "bounded: {wait:?}");
        // The route turns out to be bucket "a": the pause follows it.
        client.learn_bucket(Some("a".into()));
        assert!(client.ready_in().is_some());
        // Discord moves the route to another bucket: that one is not paused.
        client.learn_bucket(Some("b".into()));
        assert_eq!(client.ready_in(), None);
        client.pause_for(Duration::from_secs(3000), true);
        let wait = client.ready_in().expect("globally paused");
        assert!(wait <= Duration::from_secs(5), "bounded: {wait:?}");
    }

    #[test]
    fn the_bot_posts_with_create_message_and_debug_hides_its_token() {
        let api = url("http://127.0.0.1:9/");
        let token = crate::config::test_bot_token("bot-supersecret");
        let client =
            WebhookClient::bot_channel(&api, NonZeroU64::MIN.saturating_add(41), token).expect("client builds");
        match &client.url {
            Target::Channel { url, .. } => {
                assert_eq!(url.as_str(), "http://127.0.0.1:9/api/v10/channels/42/messages");
            }
            Target::Webhook(_) => panic!("a channel target"),
        }
        let debug = format!("{client:?}");
        assert!(!debug.contains("supersecret"), "{debug}");
        assert!(debug.contains("/channels/42/messages"), "{debug}");
    }

    #[test]
    fn debug_hides_the_url() {
        let secret = WebhookUrl::new(&url("https://discord.com/api/webhooks/1/supersecrettoken"));
        let client = WebhookClient::new(&secret).expect("client builds");
        let debug = format!("{client:?}");
        assert!(!debug.contains("supersecrettoken"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
