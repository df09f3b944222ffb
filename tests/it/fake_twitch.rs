//! A Twitch stand-in: OAuth (`/authorize`, `/token`, `/validate`,
//! `/revoke`) and Helix (`/helix/streams`, `/helix/users`, `POST /helix/chat/messages`
//! (Send Chat Message), and for the eligibility gates `/helix/chat/chatters`,
//! `/helix/users?id=…` and `/helix/channels/followers`) on 127.0.0.1:0,
//! answering with Twitch's real shapes (`scope` as a JSON array, errors as
//! `{"status":400,"message":"..."}`). It records every request, and tests
//! program it: who consents, whether consent is denied, token lifetimes,
//! which tokens are revoked, who is live.
//!
//! Send Chat Message follows <https://dev.twitch.tv/docs/api/reference/#send-chat-message>:
//! a JSON body `{"broadcaster_id", "sender_id", "message"}`, a user token
//! with `user:write:chat` whose user is `sender_id` (401 otherwise), 400 for
//! a missing field or an empty message, 422 for a message over 500
//! characters, 403 for a sender Twitch does not let speak there, and the
//! chat rate limit (20 messages per window per channel for a plain sender,
//! 100 for the broadcaster or a moderator) as 429 with `Ratelimit-Limit`,
//! `Ratelimit-Remaining` and `Ratelimit-Reset`. A message that passes is
//! answered `{"data": [{"message_id", "is_sent": true, "drop_reason": null}]}`
//! and recorded ([`FakeTwitch::chat_lines`]); a test can make Twitch drop
//! messages instead (`is_sent: false` with a `drop_reason`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::sync::watch;
use warp::Filter as _;
use warp::http::StatusCode;
use warp::reply::Reply as _;

pub const CLIENT_ID: &str = "fakeclientid0123456789";
pub const CLIENT_SECRET: &str = "fakeclientsecret9876543210";

/// A Twitch user known to the stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub login: String,
    pub display_name: String,
}

impl User {
    pub fn new(id: &str, login: &str, display_name: &str) -> Self {
        Self {
            id: id.into(),
            login: login.into(),
            display_name: display_name.into(),
        }
    }
}

/// The streamer who signs in unless a test says otherwise (Twitch's own
/// example user).
pub fn streamer() -> User {
    User::new("141981764", "twitchdev", "TwitchDev")
}

/// One request the stand-in received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Query and form parameters together.
    pub params: HashMap<String, String>,
    pub authorization: Option<String>,
    pub client_id_header: Option<String>,
    /// The raw body (JSON for Send Chat Message).
    pub body: String,
    /// Every query pair in order, repeated names kept (`id=1&id=2`).
    pub query_pairs: Vec<(String, String)>,
}

/// A chat message Twitch accepted and showed in the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub broadcaster_id: String,
    pub sender_id: String,
    pub message: String,
    pub message_id: String,
    /// When the stand-in accepted it.
    pub at: Instant,
}

/// The chat rate limit the stand-in enforces, per channel.
#[derive(Debug, Clone, Copy)]
pub struct ChatLimit {
    /// Messages per window from a sender that is neither broadcaster nor moderator.
    pub plain: u32,
    /// Messages per window from the broadcaster or a moderator.
    pub moderator: u32,
    /// Twitch's window is 30 s; tests shorten it.
    pub window: Duration,
}

impl Default for ChatLimit {
    fn default() -> Self {
        Self {
            plain: 20,
            moderator: 100,
            window: Duration::from_secs(30),
        }
    }
}

struct AccessToken {
    user: Option<User>,
    expires_in: u64,
    scopes: Vec<String>,
}

/// A viewer's Twitch facts for the gates' endpoints.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    /// `created_at`, RFC 3339.
    pub created_at: String,
}

/// What an authorization code stands for: who consented to which scopes,
/// and the PKCE challenge the authorize request carried (RFC 7636).
struct Grant {
    user: User,
    scopes: Vec<String>,
    code_challenge: Option<(String, String)>,
}

/// `BASE64URL(SHA256(verifier))`, the `S256` transform of RFC 7636 §4.2.
fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

struct State {
    consenting: User,
    deny_consent: bool,
    access_expires_in: u64,
    refresh_sends_expiry: bool,
    codes: HashMap<String, Grant>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, User>,
    app_tokens: HashSet<String>,
    live: HashSet<String>,
    users: Vec<User>,
    issued: Vec<String>,
    requests: Vec<Recorded>,
    rate_limit_remaining: u64,
    rate_limit_reset: u64,
    /// Helix answers every request with this status instead.
    helix_failure: Option<u16>,
    /// Helix refuses every app token (a garbage token).
    reject_app_tokens: bool,
    counter: u64,
    /// The `message` of a refused refresh.
    refresh_refusal: String,
    /// A scope added to every user token issued.
    extra_scope: Option<String>,
    /// `expires_in` of app tokens.
    app_expires_in: u64,
    /// Chat messages accepted.
    chat_lines: Vec<ChatLine>,
    /// Recent sends per broadcaster id (for the rate limit).
    chat_sends: HashMap<String, VecDeque<Instant>>,
    chat_limit: ChatLimit,
    /// `(broadcaster_id, user_id)` pairs where the user is a moderator.
    moderators: HashSet<(String, String)>,
    /// Statuses answered to the next chat sends, in order (then normal again).
    chat_failures: VecDeque<u16>,
    /// When set, Twitch drops every message with this `(code, message)`.
    chat_drop: Option<(String, String)>,
    /// `(broadcaster_id, sender_id)` pairs Twitch refuses with 403 (banned sender).
    chat_forbidden: HashSet<(String, String)>,
    /// While set, refresh requests wait until it reads `true` before they
    /// are answered (and the refresh token rotated), as a slow Twitch would.
    refresh_gate: Option<watch::Receiver<bool>>,
    /// Refresh requests that have waited at a gate so far.
    refreshes_held: usize,
    /// Woken whenever another refresh request starts waiting at the gate.
    refresh_held_changed: Arc<tokio::sync::Notify>,
    /// Scopes each user access token and refresh token carries.
    token_scopes: HashMap<String, Vec<String>>,
    /// Accounts `GET /users?id=` knows, by id.
    accounts: HashMap<String, Account>,
    /// Chatters of each broadcaster (by id), in chat order.
    chatters: HashMap<String, Vec<User>>,
    /// Followers of each broadcaster (by id): user and `followed_at`, most
    /// recent first as Twitch lists them.
    followers: HashMap<String, Vec<(User, String)>>,
}

impl State {
    fn token(&mut self, kind: &str) -> String {
        self.counter += 1;
        let suffix: u64 = rand::random();
        let token = format!("{kind}{}x{suffix:016x}", self.counter);
        self.issued.push(token.clone());
        token
    }

    fn issue_user_tokens(&mut self, user: &User, scopes: &[String], with_expiry: bool) -> serde_json::Value {
        let access = self.token("acc");
        let refresh = self.token("ref");
        self.access.insert(
            access.clone(),
            AccessToken {
                user: Some(user.clone()),
                expires_in: self.access_expires_in,
                scopes: scopes.to_vec(),
            },
        );
        self.refresh.insert(refresh.clone(), user.clone());
        self.token_scopes.insert(access.clone(), scopes.to_vec());
        self.token_scopes.insert(refresh.clone(), scopes.to_vec());
        let mut body = json!({
            "access_token": access,
            "refresh_token": refresh,
            "scope": scopes,
            "token_type": "bearer",
        });
        if let Some(extra) = &self.extra_scope {
            body["scope"] = json!(["chat:edit", "chat:read", extra]);
        }
        if with_expiry {
            body["expires_in"] = json!(self.access_expires_in);
        }
        body
    }
}

/// The running stand-in.
#[derive(Clone)]
pub struct FakeTwitch {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn twitch_error(status: StatusCode, message: &str) -> warp::reply::Response {
    warp::reply::with_status(
        warp::reply::json(&json!({"status": status.as_u16(), "message": message})),
        status,
    )
    .into_response()
}

fn redirect(location: &str) -> warp::reply::Response {
    warp::reply::with_header(
        warp::reply::with_status(warp::reply(), StatusCode::FOUND),
        "location",
        location,
    )
    .into_response()
}

impl FakeTwitch {
    /// Starts the stand-in; `consenting` is who signs in on `/authorize`.
    pub async fn start(consenting: User) -> Self {
        let state = Arc::new(Mutex::new(State {
            users: vec![consenting.clone()],
            consenting,
            deny_consent: false,
            access_expires_in: 14_400,
            refresh_sends_expiry: true,
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            app_tokens: HashSet::new(),
            live: HashSet::new(),
            issued: Vec::new(),
            requests: Vec::new(),
            rate_limit_remaining: 799,
            rate_limit_reset: 0,
            helix_failure: None,
            reject_app_tokens: false,
            counter: 0,
            refresh_refusal: "Invalid refresh token".into(),
            extra_scope: None,
            app_expires_in: 5_011_271,
            chat_lines: Vec::new(),
            chat_sends: HashMap::new(),
            chat_limit: ChatLimit::default(),
            moderators: HashSet::new(),
            chat_failures: VecDeque::new(),
            chat_drop: None,
            chat_forbidden: HashSet::new(),
            refresh_gate: None,
            refreshes_held: 0,
            refresh_held_changed: Arc::new(tokio::sync::Notify::new()),
            token_scopes: HashMap::new(),
            accounts: HashMap::new(),
            chatters: HashMap::new(),
            followers: HashMap::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = state.clone();
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("client-id"))
            .and(warp::body::bytes())
            .then(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: HashMap<String, String>,
                      raw_query: String,
                      authorization: Option<String>,
                      client_id_header: Option<String>,
                      body: warp::hyper::body::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let mut params = query;
                        if body.first() != Some(&b'{') {
                            params.extend(url::form_urlencoded::parse(&body).into_owned());
                        }
                        let recorded = Recorded {
                            method: method.to_string(),
                            path: path.as_str().to_owned(),
                            params,
                            authorization,
                            client_id_header,
                            query_pairs: url::form_urlencoded::parse(raw_query.as_bytes()).into_owned().collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        let is_refresh = recorded.path == "/token"
                            && recorded.params.get("grant_type").map(String::as_str) == Some("refresh_token");
                        let gate = {
                            let mut state = shared.lock().expect("fake state");
                            match state.refresh_gate.clone() {
                                Some(gate) if is_refresh => {
                                    state.refreshes_held += 1;
                                    state.refresh_held_changed.notify_waiters();
                                    Some(gate)
                                }
                                _ => None,
                            }
                        };
                        if let Some(mut gate) = gate {
                            let _ = gate.wait_for(|open| *open).await;
                        }
                        let mut state = shared.lock().expect("fake state");
                        state.requests.push(recorded.clone());
                        handle(&mut state, &recorded)
                    }
                },
            );
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        Self { addr, state }
    }

    /// `TWITCH_AUTH_URL` for this stand-in.
    pub fn auth_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).expect("url")
    }

    /// `TWITCH_API_URL` for this stand-in.
    pub fn api_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/helix", self.addr)).expect("url")
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    /// Who signs in on `/authorize` from now on (a second account, say).
    pub fn set_consenting(&self, user: User) {
        self.with(|s| {
            if !s.users.contains(&user) {
                s.users.push(user.clone());
            }
            s.consenting = user;
        });
    }

    /// Whether any token ever issued to `user_id` is still valid.
    pub fn has_valid_tokens_of(&self, user_id: &str) -> bool {
        self.with(|s| {
            s.access
                .values()
                .any(|t| t.user.as_ref().is_some_and(|u| u.id == user_id))
                || s.refresh.values().any(|u| u.id == user_id)
        })
    }

    /// The next `/authorize` redirects with `error=access_denied`.
    pub fn deny_consent(&self) {
        self.with(|s| s.deny_consent = true);
    }

    /// Lifetime (seconds) of access tokens issued from now on.
    pub fn set_access_expires_in(&self, seconds: u64) {
        self.with(|s| s.access_expires_in = seconds);
    }

    /// The `message` of refused refreshes from now on (a hostile or broken
    /// Twitch may put anything there).
    pub fn set_refresh_refusal(&self, message: &str) {
        self.with(|s| s.refresh_refusal = message.to_owned());
    }

    /// A scope added to every user token issued from now on.
    pub fn set_extra_scope(&self, scope: &str) {
        self.with(|s| s.extra_scope = Some(scope.to_owned()));
    }

    /// `expires_in` of app tokens issued from now on.
    pub fn set_app_expires_in(&self, seconds: u64) {
        self.with(|s| s.app_expires_in = seconds);
    }

    /// Whether refresh answers carry `expires_in` (Twitch's docs omit it).
    pub fn set_refresh_sends_expiry(&self, sends: bool) {
        self.with(|s| s.refresh_sends_expiry = sends);
    }

    /// Makes an access token invalid (`/validate` → 401) without touching its refresh token.
    pub fn expire_access_token(&self, token: &str) {
        self.with(|s| s.access.remove(token));
    }

    /// Revokes every token of a user, as when they disconnect the app on Twitch.
    pub fn revoke_user(&self, user_id: &str) {
        self.with(|s| {
            s.access.retain(|_, t| t.user.as_ref().is_none_or(|u| u.id != user_id));
            s.refresh.retain(|_, u| u.id != user_id);
        });
    }

    /// Revokes every app token (Helix answers 401 until a new one is fetched).
    pub fn revoke_app_tokens(&self) {
        self.with(|s| {
            let tokens: Vec<String> = s.app_tokens.drain().collect();
            for token in tokens {
                s.access.remove(&token);
            }
        });
    }

    /// Puts a broadcaster live or offline.
    pub fn set_live(&self, user_id: &str, live: bool) {
        self.with(|s| {
            if live {
                s.live.insert(user_id.to_owned());
            } else {
                s.live.remove(user_id);
            }
        });
    }

    /// Helix answers with `Ratelimit-Remaining: remaining` and `Ratelimit-Reset: reset`.
    pub fn set_rate_limit(&self, remaining: u64, reset: u64) {
        self.with(|s| {
            s.rate_limit_remaining = remaining;
            s.rate_limit_reset = reset;
        });
    }

    /// Helix answers every request with `status` (`None`: normally again).
    pub fn set_helix_failure(&self, status: Option<u16>) {
        self.with(|s| s.helix_failure = status);
    }

    /// Helix refuses every app token, as if client credentials gave garbage.
    pub fn reject_app_tokens(&self, reject: bool) {
        self.with(|s| s.reject_app_tokens = reject);
    }

    /// Every token string the stand-in ever issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.with(|s| s.issued.clone())
    }

    /// Whether a user access token is currently valid.
    pub fn access_token_valid(&self, token: &str) -> bool {
        self.with(|s| s.access.contains_key(token))
    }

    /// Whether a refresh token is currently valid.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        self.with(|s| s.refresh.contains_key(token))
    }

    /// An account `GET /users?id=` answers, created at `created_at` (RFC 3339).
    pub fn set_account(&self, user: User, created_at: &str) {
        self.with(|s| {
            s.accounts.insert(
                user.id.clone(),
                Account {
                    user,
                    created_at: created_at.into(),
                },
            );
        });
    }

    /// The logged-in viewers of `broadcaster_id`'s chat.
    pub fn set_chatters(&self, broadcaster_id: &str, chatters: Vec<User>) {
        self.with(|s| {
            s.chatters.insert(broadcaster_id.into(), chatters);
        });
    }

    /// `broadcaster_id`'s followers with `followed_at` (RFC 3339), most recent first.
    pub fn set_followers(&self, broadcaster_id: &str, followers: Vec<(User, String)>) {
        self.with(|s| {
            s.followers.insert(broadcaster_id.into(), followers);
        });
    }

    /// Requests received on `path`.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.with(|s| s.requests.iter().filter(|r| r.path == path).cloned().collect())
    }

    /// Chat messages Twitch accepted, in order.
    pub fn chat_lines(&self) -> Vec<ChatLine> {
        self.with(|s| s.chat_lines.clone())
    }

    /// The text of every accepted chat message, in order.
    pub fn chat_texts(&self) -> Vec<String> {
        self.with(|s| s.chat_lines.iter().map(|l| l.message.clone()).collect())
    }

    /// Every Send Chat Message request (accepted or not).
    pub fn chat_requests(&self) -> Vec<Recorded> {
        self.requests("/helix/chat/messages")
    }

    /// The chat rate limit from now on.
    pub fn set_chat_limit(&self, limit: ChatLimit) {
        self.with(|s| s.chat_limit = limit);
    }

    /// The next chat sends are answered with these statuses (429 with a
    /// 1 s reset, or any other), one each, before normal service resumes.
    pub fn fail_chat_sends(&self, statuses: &[u16]) {
        self.with(|s| s.chat_failures.extend(statuses.iter().copied()));
    }

    /// Chat sends are answered normally again (failures still queued by
    /// [`Self::fail_chat_sends`] are forgotten).
    pub fn heal_chat(&self) {
        self.with(|s| s.chat_failures.clear());
    }

    /// Twitch drops every message (`is_sent: false`) with this reason
    /// (`None`: messages are shown again).
    pub fn set_chat_drop(&self, reason: Option<(&str, &str)>) {
        self.with(|s| s.chat_drop = reason.map(|(c, m)| (c.to_owned(), m.to_owned())));
    }

    /// Twitch refuses (403) messages from `sender_id` in `broadcaster_id`'s chat.
    pub fn forbid_sender(&self, broadcaster_id: &str, sender_id: &str) {
        self.with(|s| {
            s.chat_forbidden
                .insert((broadcaster_id.to_owned(), sender_id.to_owned()))
        });
    }

    /// Holds every refresh request from now on until [`RefreshHold::release`]:
    /// Twitch has the request but has not answered (nor rotated) yet.
    pub fn hold_refreshes(&self) -> RefreshHold {
        let (open, gate) = watch::channel(false);
        self.with(|s| {
            s.refresh_gate = Some(gate);
            s.refreshes_held = 0;
        });
        RefreshHold {
            open,
            fake: self.clone(),
        }
    }

    /// `/token` requests with this `grant_type`.
    pub fn token_requests(&self, grant_type: &str) -> Vec<Recorded> {
        self.requests("/token")
            .into_iter()
            .filter(|r| r.params.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }
}

/// Refresh requests held by [`FakeTwitch::hold_refreshes`].
pub struct RefreshHold {
    open: watch::Sender<bool>,
    fake: FakeTwitch,
}

impl RefreshHold {
    /// Waits until `count` refresh requests are being held.
    pub async fn wait_held(&self, count: usize) {
        let changed = self.fake.with(|s| Arc::clone(&s.refresh_held_changed));
        loop {
            let next = changed.notified();
            if self.fake.with(|s| s.refreshes_held >= count) {
                return;
            }
            if tokio::time::timeout(std::time::Duration::from_secs(30), next)
                .await
                .is_err()
            {
                panic!("{count} refresh requests were not held at the Twitch stand-in within 30 s");
            }
        }
    }

    /// Answers the held requests (rotating their refresh tokens) and stops holding.
    pub fn release(self) {
        self.fake.with(|s| s.refresh_gate = None);
        let _ = self.open.send(true);
    }
}

/// Twitch's `Ratelimit-*` headers on a Helix answer.
fn with_rate_limit(state: &State, mut response: warp::reply::Response) -> warp::reply::Response {
    let headers = response.headers_mut();
    headers.insert("Ratelimit-Limit", 800.into());
    headers.insert("Ratelimit-Remaining", state.rate_limit_remaining.into());
    headers.insert("Ratelimit-Reset", state.rate_limit_reset.into());
    response
}

/// An opaque cursor for the page starting at `offset` (Twitch's are base64 too).
fn cursor_for(offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{{\"o\":{offset}}}"))
}

fn offset_of(cursor: &str) -> Option<usize> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("{\"o\":")?.strip_suffix('}')?.parse().ok()
}

/// One page of `items` from the `after` cursor, `first` long (default
/// `default_first`, at most `max_first`), with the next page's cursor.
fn page<T: Clone>(
    items: &[T],
    request: &Recorded,
    default_first: usize,
    max_first: usize,
) -> Result<(Vec<T>, Option<String>), Box<warp::reply::Response>> {
    let first = match request.params.get("first") {
        None => default_first,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max_first).contains(&n) => n,
            _ => {
                return Err(Box::new(twitch_error(
                    StatusCode::BAD_REQUEST,
                    &format!("The parameter \"first\" was malformed: the value must be between 1 and {max_first}"),
                )));
            }
        },
    };
    let start = match request.params.get("after") {
        None => 0,
        Some(cursor) => match offset_of(cursor) {
            Some(offset) => offset,
            None => {
                return Err(Box::new(twitch_error(
                    StatusCode::BAD_REQUEST,
                    "The parameter \"after\" was malformed",
                )));
            }
        },
    };
    let end = start.saturating_add(first).min(items.len());
    let data = items.get(start.min(items.len())..end).unwrap_or_default().to_vec();
    let next = (end < items.len()).then(|| cursor_for(end));
    Ok((data, next))
}

/// `GET /helix/chat/chatters` and `GET /helix/channels/followers`, which
/// need the broadcaster's user token
/// (https://dev.twitch.tv/docs/api/reference/#get-chatters,
/// https://dev.twitch.tv/docs/api/reference/#get-channel-followers).
fn user_token_helix(state: &mut State, request: &Recorded) -> warp::reply::Response {
    let param = |name: &str| request.params.get(name).cloned().unwrap_or_default();
    if request.client_id_header.as_deref() != Some(CLIENT_ID) {
        return twitch_error(StatusCode::UNAUTHORIZED, "Client ID and OAuth token do not match");
    }
    if let Some(status) = state.helix_failure {
        let status = StatusCode::from_u16(status).expect("status");
        return twitch_error(status, "Helix stand-in failure injected");
    }
    let bearer = request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(AccessToken { user: Some(user), .. }) = state.access.get(bearer) else {
        return twitch_error(StatusCode::UNAUTHORIZED, "Invalid OAuth token");
    };
    let user = user.clone();
    let scopes = state.token_scopes.get(bearer).cloned().unwrap_or_default();
    let broadcaster = param("broadcaster_id");
    if broadcaster.is_empty() {
        return twitch_error(StatusCode::BAD_REQUEST, "Missing required parameter \"broadcaster_id\"");
    }
    let reply = if request.path == "/helix/chat/chatters" {
        if !scopes.iter().any(|s| s == "moderator:read:chatters") {
            return twitch_error(StatusCode::UNAUTHORIZED, "Missing scope: moderator:read:chatters");
        }
        if param("moderator_id") != user.id {
            return twitch_error(
                StatusCode::UNAUTHORIZED,
                "The ID in moderator_id must match the user ID found in the request's OAuth token.",
            );
        }
        let all: &[User] = state.chatters.get(&broadcaster).map_or(&[], Vec::as_slice);
        let (data, next) = match page(all, request, 100, 1000) {
            Ok(page) => page,
            Err(response) => return *response,
        };
        let data: Vec<serde_json::Value> = data
            .iter()
            .map(|u| json!({"user_id": u.id, "user_login": u.login, "user_name": u.display_name}))
            .collect();
        let pagination = match next {
            Some(cursor) => json!({"cursor": cursor}),
            None => json!({}),
        };
        json!({"data": data, "pagination": pagination, "total": all.len()})
    } else {
        let all: &[(User, String)] = state.followers.get(&broadcaster).map_or(&[], Vec::as_slice);
        // Without the scope (or as someone else), Twitch answers 200 with
        // only the total: the list is empty, which is not "not following".
        if !scopes.iter().any(|s| s == "moderator:read:followers") || user.id != broadcaster {
            json!({"data": [], "pagination": {}, "total": all.len()})
        } else {
            let one: Vec<(User, String)>;
            let selected: &[(User, String)] = match request.params.get("user_id") {
                Some(id) => {
                    one = all.iter().filter(|(u, _)| &u.id == id).cloned().collect();
                    &one
                }
                None => all,
            };
            let (data, next) = match page(selected, request, 20, 100) {
                Ok(page) => page,
                Err(response) => return *response,
            };
            let data: Vec<serde_json::Value> = data
                .iter()
                .map(|(u, at)| {
                    json!({"user_id": u.id, "user_login": u.login, "user_name": u.display_name, "followed_at": at})
                })
                .collect();
            let pagination = match next {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            json!({"data": data, "pagination": pagination, "total": all.len()})
        }
    };
    with_rate_limit(state, warp::reply::json(&reply).into_response())
}

fn handle(state: &mut State, request: &Recorded) -> warp::reply::Response {
    let param = |name: &str| request.params.get(name).cloned().unwrap_or_default();
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/authorize") => {
            let mut target = match url::Url::parse(&param("redirect_uri")) {
                Ok(url) => url,
                Err(_) => return twitch_error(StatusCode::BAD_REQUEST, "Parameter redirect_uri does not match"),
            };
            if param("client_id") != CLIENT_ID {
                return twitch_error(StatusCode::BAD_REQUEST, "invalid client");
            }
            if param("response_type") != "code" {
                return twitch_error(StatusCode::BAD_REQUEST, "unsupported response_type");
            }
            if std::mem::take(&mut state.deny_consent) {
                target
                    .query_pairs_mut()
                    .append_pair("error", "access_denied")
                    .append_pair("error_description", "The user denied you access <script>x</script>")
                    .append_pair("state", &param("state"));
            } else {
                let code = state.token("code");
                let code_challenge = match (param("code_challenge"), param("code_challenge_method")) {
                    (challenge, _) if challenge.is_empty() => None,
                    (challenge, method) if method == "S256" => Some((challenge, method)),
                    _ => return twitch_error(StatusCode::BAD_REQUEST, "unsupported code_challenge_method"),
                };
                let grant = Grant {
                    user: state.consenting.clone(),
                    scopes: param("scope").split_whitespace().map(str::to_owned).collect(),
                    code_challenge,
                };
                state.codes.insert(code.clone(), grant);
                target
                    .query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("scope", &param("scope"))
                    .append_pair("state", &param("state"));
            }
            redirect(target.as_str())
        }
        ("POST", "/token") => {
            if param("client_id") != CLIENT_ID || param("client_secret") != CLIENT_SECRET {
                return twitch_error(StatusCode::FORBIDDEN, "invalid client secret");
            }
            match param("grant_type").as_str() {
                "authorization_code" => match state.codes.remove(&param("code")) {
                    Some(grant)
                        if grant
                            .code_challenge
                            .as_ref()
                            .is_some_and(|(challenge, _)| *challenge != s256(&param("code_verifier"))) =>
                    {
                        twitch_error(StatusCode::BAD_REQUEST, "Invalid code verifier")
                    }
                    Some(grant) if !param("redirect_uri").is_empty() => {
                        let body = state.issue_user_tokens(&grant.user, &grant.scopes, true);
                        warp::reply::json(&body).into_response()
                    }
                    _ => twitch_error(StatusCode::BAD_REQUEST, "Invalid authorization code"),
                },
                "refresh_token" => match state.refresh.remove(&param("refresh_token")) {
                    Some(user) => {
                        let with_expiry = state.refresh_sends_expiry;
                        let body = state.issue_user_tokens(&user, &[], with_expiry);
                        // A refreshed token keeps the scopes granted (the
                        // answer's `scope` stays empty, as before).
                        let scopes = state
                            .token_scopes
                            .get(&param("refresh_token"))
                            .cloned()
                            .unwrap_or_default();
                        for key in ["access_token", "refresh_token"] {
                            if let Some(token) = body[key].as_str() {
                                state.token_scopes.insert(token.to_owned(), scopes.clone());
                            }
                        }
                        warp::reply::json(&body).into_response()
                    }
                    None => twitch_error(StatusCode::BAD_REQUEST, &state.refresh_refusal.clone()),
                },
                "client_credentials" => {
                    let token = state.token("app");
                    state.app_tokens.insert(token.clone());
                    state.access.insert(
                        token.clone(),
                        AccessToken {
                            user: None,
                            expires_in: state.app_expires_in,
                            scopes: Vec::new(),
                        },
                    );
                    warp::reply::json(&json!({
                        "access_token": token, "expires_in": state.app_expires_in, "token_type": "bearer"
                    }))
                    .into_response()
                }
                _ => twitch_error(StatusCode::BAD_REQUEST, "Invalid grant_type"),
            }
        }
        ("GET", "/validate") => {
            let token = request
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("OAuth "))
                .unwrap_or_default();
            match state.access.get(token) {
                Some(AccessToken {
                    user: Some(user),
                    expires_in,
                    scopes,
                }) => warp::reply::json(&json!({
                    "client_id": CLIENT_ID,
                    "login": user.login,
                    "scopes": scopes,
                    "user_id": user.id,
                    "expires_in": expires_in,
                }))
                .into_response(),
                Some(AccessToken {
                    user: None, expires_in, ..
                }) => warp::reply::json(&json!({
                    "client_id": CLIENT_ID, "scopes": null, "expires_in": expires_in
                }))
                .into_response(),
                None => twitch_error(StatusCode::UNAUTHORIZED, "invalid access token"),
            }
        }
        ("POST", "/revoke") => {
            // https://dev.twitch.tv/docs/authentication/revoke-tokens/: 200 when
            // revoked, 400 "Invalid token" for a token it does not know, 404
            // "client does not exist" for a client id that is not the token's.
            if param("client_id") != CLIENT_ID {
                return twitch_error(StatusCode::NOT_FOUND, "client does not exist");
            }
            let token = param("token");
            let known = state.access.remove(&token).is_some() | state.refresh.remove(&token).is_some();
            if known {
                warp::reply::with_status(warp::reply(), StatusCode::OK).into_response()
            } else {
                twitch_error(StatusCode::BAD_REQUEST, "Invalid token")
            }
        }
        ("GET", "/helix/streams" | "/helix/users") => {
            let bearer = request
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or_default();
            if request.client_id_header.as_deref() != Some(CLIENT_ID) {
                return twitch_error(StatusCode::UNAUTHORIZED, "Client ID and OAuth token do not match");
            }
            if let Some(status) = state.helix_failure {
                let status = StatusCode::from_u16(status).expect("status");
                return twitch_error(status, "Helix stand-in failure \u{0} injected");
            }
            if state.reject_app_tokens || !state.app_tokens.contains(bearer) {
                return warp::reply::with_status(
                    warp::reply::json(
                        &json!({"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}),
                    ),
                    StatusCode::UNAUTHORIZED,
                )
                .into_response();
            }
            let data: Vec<serde_json::Value> = if request.path == "/helix/streams" {
                let id = param("user_id");
                if state.live.contains(&id) {
                    vec![json!({
                        "id": "40952121085", "user_id": id, "user_login": "x", "user_name": "X",
                        "game_id": "1", "game_name": "Just Chatting", "type": "live", "title": "hi",
                        "tags": [], "viewer_count": 78365, "started_at": "2026-11-24T19:00:00Z",
                        "language": "en", "thumbnail_url": "", "tag_ids": [], "is_mature": false
                    })]
                } else {
                    vec![]
                }
            } else if request.query_pairs.iter().any(|(k, _)| k == "id") {
                // https://dev.twitch.tv/docs/api/reference/#get-users: up to
                // 100 `id` parameters; unknown ids are left out.
                let ids: Vec<&str> = request
                    .query_pairs
                    .iter()
                    .filter(|(k, _)| k == "id")
                    .map(|(_, v)| v.as_str())
                    .collect();
                if ids.len() > 100 {
                    return twitch_error(
                        StatusCode::BAD_REQUEST,
                        "The maximum number of 'id' and 'login' parameters is 100",
                    );
                }
                ids.iter()
                    .filter_map(|id| state.accounts.get(*id))
                    .map(|a| {
                        json!({
                            "id": a.user.id, "login": a.user.login, "display_name": a.user.display_name,
                            "type": "", "broadcaster_type": "", "description": "",
                            "profile_image_url": "", "offline_image_url": "", "view_count": 0,
                            "created_at": a.created_at
                        })
                    })
                    .collect()
            } else {
                let login = param("login");
                state
                    .users
                    .iter()
                    .filter(|u| u.login == login)
                    .map(|u| {
                        json!({
                            "id": u.id, "login": u.login, "display_name": u.display_name,
                            "type": "", "broadcaster_type": "partner", "description": "",
                            "profile_image_url": "", "offline_image_url": "", "view_count": 0,
                            "created_at": "2016-12-14T20:32:28Z"
                        })
                    })
                    .collect()
            };
            with_rate_limit(
                state,
                warp::reply::json(&json!({"data": data, "pagination": {}})).into_response(),
            )
        }
        ("POST", "/helix/chat/messages") => send_chat_message(state, request),
        ("GET", "/helix/chat/chatters" | "/helix/channels/followers") => user_token_helix(state, request),
        _ => twitch_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `POST /helix/chat/messages` (Send Chat Message).
fn send_chat_message(state: &mut State, request: &Recorded) -> warp::reply::Response {
    if request.client_id_header.as_deref() != Some(CLIENT_ID) {
        return twitch_error(StatusCode::UNAUTHORIZED, "Client ID and OAuth token do not match");
    }
    let bearer = request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(token) = state.access.get(bearer) else {
        return twitch_error(StatusCode::UNAUTHORIZED, "Invalid OAuth token");
    };
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&request.body) else {
        return twitch_error(StatusCode::BAD_REQUEST, "Request body is not valid JSON");
    };
    let field = |name: &str| body.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
    let (Some(broadcaster_id), Some(sender_id), Some(message)) =
        (field("broadcaster_id"), field("sender_id"), field("message"))
    else {
        return twitch_error(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: broadcaster_id, sender_id and message are required",
        );
    };
    let Some(user) = token.user.clone() else {
        return twitch_error(
            StatusCode::UNAUTHORIZED,
            "An app access token needs user:bot and channel:bot; this one has neither",
        );
    };
    if !token.scopes.iter().any(|s| s == "user:write:chat") {
        return twitch_error(StatusCode::UNAUTHORIZED, "Missing scope: user:write:chat");
    }
    if user.id != sender_id {
        return twitch_error(
            StatusCode::UNAUTHORIZED,
            "The ID in sender_id must match the user ID in the access token",
        );
    }
    if message.trim().is_empty() {
        return twitch_error(
            StatusCode::BAD_REQUEST,
            "The message field may not contain an empty string",
        );
    }
    if message.chars().count() > 500 {
        return twitch_error(StatusCode::UNPROCESSABLE_ENTITY, "The message is too large");
    }
    if state
        .chat_forbidden
        .contains(&(broadcaster_id.clone(), sender_id.clone()))
    {
        return twitch_error(
            StatusCode::FORBIDDEN,
            "The sender is not permitted to send chat messages to the broadcaster's chat room",
        );
    }
    if let Some(status) = state.chat_failures.pop_front() {
        let status = StatusCode::from_u16(status).expect("status");
        let mut response = twitch_error(status, "Chat stand-in failure injected");
        if status == StatusCode::TOO_MANY_REQUESTS {
            let headers = response.headers_mut();
            headers.insert("Ratelimit-Limit", 20.into());
            headers.insert("Ratelimit-Remaining", 0.into());
            headers.insert("Ratelimit-Reset", (unix_now() + 1).into());
        }
        return response;
    }
    let now = Instant::now();
    let limit = state.chat_limit;
    let privileged =
        broadcaster_id == sender_id || state.moderators.contains(&(broadcaster_id.clone(), sender_id.clone()));
    let allowed = if privileged { limit.moderator } else { limit.plain };
    let sends = state.chat_sends.entry(broadcaster_id.clone()).or_default();
    while sends.front().is_some_and(|t| now.duration_since(*t) >= limit.window) {
        sends.pop_front();
    }
    let used = u32::try_from(sends.len()).unwrap_or(u32::MAX);
    if used >= allowed {
        let frees_in = sends
            .front()
            .map_or(Duration::ZERO, |t| limit.window.saturating_sub(now.duration_since(*t)));
        let reset = unix_now() + frees_in.as_secs() + 1;
        let mut response = twitch_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        let headers = response.headers_mut();
        headers.insert("Ratelimit-Limit", allowed.into());
        headers.insert("Ratelimit-Remaining", 0.into());
        headers.insert("Ratelimit-Reset", reset.into());
        return response;
    }
    sends.push_back(now);
    let remaining = allowed - used - 1;
    let message_id = format!("{:08x}-fake-{}", rand::random::<u32>(), state.chat_lines.len());
    let data = match &state.chat_drop {
        Some((code, text)) => json!({
            "message_id": "", "is_sent": false, "drop_reason": {"code": code, "message": text}
        }),
        None => {
            state.chat_lines.push(ChatLine {
                broadcaster_id,
                sender_id,
                message,
                message_id: message_id.clone(),
                at: now,
            });
            json!({"message_id": message_id, "is_sent": true, "drop_reason": null})
        }
    };
    let mut response = warp::reply::json(&json!({"data": [data]})).into_response();
    let headers = response.headers_mut();
    headers.insert("Ratelimit-Limit", allowed.into());
    headers.insert("Ratelimit-Remaining", remaining.into());
    headers.insert("Ratelimit-Reset", (unix_now() + limit.window.as_secs()).into());
    response
}
