//! A Discord Gateway stand-in on 127.0.0.1:0 (WebSocket, JSON encoding),
//! shaped after Discord's "Gateway" and "Gateway Events" documentation:
//!
//! - on connect: HELLO (`op` 10, `heartbeat_interval`);
//! - IDENTIFY (`op` 2): a wrong token is closed with 4004 (Authentication
//!   failed); otherwise READY (`op` 0, `t` "READY", `s` 1) with `v`,
//!   `user`, `guilds`, `session_id`, `resume_gateway_url` (this server),
//!   `shard` and `application`;
//! - HEARTBEAT (`op` 1) → HEARTBEAT ACK (`op` 11);
//! - RESUME (`op` 6) of a known session: the dispatches after `seq` are
//!   replayed, then RESUMED; of an unknown or invalidated one: INVALID
//!   SESSION (`op` 9, `d` false);
//! - on a test's request: a dispatch (INTERACTION_CREATE), RECONNECT
//!   (`op` 7), INVALID SESSION (`op` 9), a dropped TCP connection (no close
//!   frame) or a close frame with any code.
//!
//! Every step is recorded with the time it happened ([`GatewayLog`]), so
//! tests wait for steps by polling with a deadline, never by sleeping.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_websockets::{CloseCode, Message, ServerBuilder};

use crate::helpers::wait_for_within;

/// The bot token the stand-in accepts (REST and Gateway).
pub const BOT_TOKEN: &str = "fake-bot-t0ken.s3cr3t";
/// The application (and bot user) id.
pub const APPLICATION_ID: &str = "900000000000000001";
/// The guild interactions come from.
pub const GUILD_ID: &str = "900000000000000002";
/// The channel interactions come from.
pub const CHANNEL_ID: &str = "900000000000000003";
/// `GUILDS`.
pub const INTENT_GUILDS: u64 = 1;
/// Permission bits: Manage Server.
pub const MANAGE_GUILD: &str = "32";
/// Permission bits: Send Messages and View Channel only.
pub const MEMBER_ONLY: &str = "3072";

/// One step on the Gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A WebSocket connection was accepted (HELLO sent).
    Connected,
    /// IDENTIFY with the right token; READY sent for this session.
    Identified { session_id: String, intents: u64 },
    /// IDENTIFY with a wrong token; closed with 4004.
    Refused,
    /// RESUME of a live session; RESUMED sent after replaying.
    Resumed { session_id: String, seq: u64 },
    /// RESUME of an unknown or invalidated session; op 9 sent.
    ResumeRefused,
    /// A heartbeat, acknowledged.
    Heartbeat,
    /// A dispatch sent (`t`), with its sequence number.
    Dispatched { event: String, seq: u64 },
}

/// A recorded step and when it happened.
#[derive(Debug, Clone)]
pub struct Logged {
    pub step: Step,
    pub at: Instant,
}

/// What a test asks the live connection to do.
#[derive(Debug)]
enum Control {
    Dispatch { event: String, data: Value },
    Reconnect,
    InvalidSession { resumable: bool },
    Drop,
    Close(u16),
}

#[derive(Default)]
struct Session {
    /// Sequence number of the last dispatch.
    seq: u64,
    /// Every dispatch of the session, for replay on RESUME.
    dispatched: Vec<(u64, Value)>,
    /// Invalidated sessions cannot be resumed.
    valid: bool,
}

#[derive(Default)]
struct State {
    log: Mutex<Vec<Logged>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// The connection that has identified or resumed, if any.
    live: Mutex<Option<(String, mpsc::UnboundedSender<Control>)>>,
    next_session: AtomicU64,
    /// Refuse every IDENTIFY (close 4004), as if the token had been reset.
    refuse_identify: std::sync::atomic::AtomicBool,
    next_interaction: AtomicU64,
    /// Payloads from the bot that break Discord's documented shapes.
    violations: Mutex<Vec<String>>,
}

impl State {
    fn record(&self, step: Step) {
        self.log.lock().unwrap().push(Logged {
            step,
            at: Instant::now(),
        });
    }
}

/// The running stand-in; stops when dropped.
pub struct FakeGateway {
    addr: SocketAddr,
    state: Arc<State>,
    stop: CancellationToken,
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The Gateway's heartbeat interval: short, so heartbeats happen in tests.
const HEARTBEAT_INTERVAL_MS: u64 = 1_000;

impl FakeGateway {
    /// Starts on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Gateway");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        let (accept_state, accept_stop) = (Arc::clone(&state), stop.clone());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    () = accept_stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let (state, stop) = (Arc::clone(&accept_state), accept_stop.clone());
                tokio::spawn(async move {
                    if let Ok((_request, ws)) = ServerBuilder::new().accept(stream).await {
                        serve(state, ws, addr, stop).await;
                    }
                });
            }
        });
        Self { addr, state, stop }
    }

    /// `DISCORD_GATEWAY_URL` for the bot.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Every step so far.
    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// Payloads from the bot that break Discord's documented shapes
    /// (`discord_shapes::check_gateway_payload`).
    pub fn violations(&self) -> Vec<String> {
        self.state.violations.lock().unwrap().clone()
    }

    /// How many recorded steps match.
    pub fn count(&self, matches: impl Fn(&Step) -> bool) -> usize {
        self.log().iter().filter(|l| matches(&l.step)).count()
    }

    /// Waits until at least `n` recorded steps match.
    pub async fn wait_steps(&self, n: usize, what: &str, matches: impl Fn(&Step) -> bool) {
        wait_for_within(Duration::from_secs(30), what, || {
            let found = self.count(&matches);
            async move { (found >= n).then_some(()) }
        })
        .await;
    }

    /// Waits until a connection has identified or resumed and is live.
    pub async fn wait_live(&self) {
        wait_for_within(Duration::from_secs(30), "a live Gateway session", || {
            let live = self.state.live.lock().unwrap().is_some();
            async move { live.then_some(()) }
        })
        .await;
    }

    fn send(&self, control: Control) -> bool {
        match &*self.state.live.lock().unwrap() {
            Some((_, tx)) => tx.send(control).is_ok(),
            None => false,
        }
    }

    /// From now on, every IDENTIFY is refused with close code 4004.
    pub fn refuse_identify(&self) {
        self.state.refuse_identify.store(true, Ordering::SeqCst);
    }

    /// Dispatches INTERACTION_CREATE on the live connection; returns the
    /// interaction's id. Panics if no connection is live.
    pub fn dispatch_interaction(&self, interaction: Value) -> String {
        let id = interaction["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            self.send(Control::Dispatch {
                event: "INTERACTION_CREATE".into(),
                data: interaction
            }),
            "no live Gateway connection"
        );
        id
    }

    /// Sends RECONNECT (op 7).
    pub fn ask_reconnect(&self) {
        assert!(self.send(Control::Reconnect), "no live Gateway connection");
    }

    /// Sends INVALID SESSION (op 9); `resumable` false also forgets the session.
    pub fn invalidate_session(&self, resumable: bool) {
        assert!(
            self.send(Control::InvalidSession { resumable }),
            "no live Gateway connection"
        );
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_connection(&self) {
        assert!(self.send(Control::Drop), "no live Gateway connection");
    }

    /// Closes the live connection with `code`.
    pub fn close_with(&self, code: u16) {
        assert!(self.send(Control::Close(code)), "no live Gateway connection");
    }

    /// A `/raffle <subcommand>` interaction as Discord sends it (type 2,
    /// APPLICATION_COMMAND), from a member with `permissions` and `roles`.
    pub fn slash_command(&self, subcommand: &str, options: Value, permissions: &str, roles: &[&str]) -> Value {
        let n = self.state.next_interaction.fetch_add(1, Ordering::SeqCst);
        interaction_payload(2, n, subcommand, options, permissions, roles)
    }

    /// An autocomplete interaction (type 4) for the `channel` option.
    pub fn autocomplete(&self, subcommand: &str, typed: &str) -> Value {
        let n = self.state.next_interaction.fetch_add(1, Ordering::SeqCst);
        let options = json!([{"name": "channel", "type": 3, "value": typed, "focused": true}]);
        interaction_payload(4, n, subcommand, options, MANAGE_GUILD, &[])
    }
}

/// The first interaction id and its token's number: interaction `n` has
/// id `FIRST_INTERACTION + n` and token `interaction-token-{n}`.
const FIRST_INTERACTION: u64 = 800_000_000_000_000_000;

/// Whether `token` is the token of interaction `id` (the REST stand-in
/// checks callbacks with it, as Discord does).
pub fn is_interaction_token(id: &str, token: &str) -> bool {
    id.parse::<u64>()
        .ok()
        .and_then(|id| id.checked_sub(FIRST_INTERACTION))
        .is_some_and(|n| token == format!("interaction-token-{n}"))
}

/// The interaction object of Discord's "Interaction Object" documentation.
fn interaction_payload(kind: u8, n: u64, subcommand: &str, options: Value, permissions: &str, roles: &[&str]) -> Value {
    json!({
        "id": (FIRST_INTERACTION + n).to_string(),
        "application_id": APPLICATION_ID,
        "type": kind,
        "data": {
            "id": "900000000000000010",
            "name": "raffle",
            "type": 1,
            "guild_id": GUILD_ID,
            "options": [{"name": subcommand, "type": 1, "options": options}]
        },
        "guild": {"id": GUILD_ID, "locale": "pt-BR", "features": []},
        "guild_id": GUILD_ID,
        "channel": {"id": CHANNEL_ID, "type": 0, "guild_id": GUILD_ID, "name": "general", "position": 0, "permission_overwrites": [], "nsfw": false},
        "channel_id": CHANNEL_ID,
        "member": {
            "user": {"id": (700_000_000_000_000_000u64 + n).to_string(), "username": format!("member{n}"), "discriminator": "0", "global_name": null, "avatar": null, "public_flags": 0},
            "roles": roles,
            "permissions": permissions,
            "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "pending": false,
            "flags": 0,
            "nick": null,
            "avatar": null,
            "communication_disabled_until": null
        },
        "token": format!("interaction-token-{n}"),
        "version": 1,
        "app_permissions": "2248473465835073",
        "locale": "pt-BR",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
        "attachment_size_limit": 10_485_760
    })
}

type Ws = tokio_websockets::WebSocketStream<tokio::net::TcpStream>;

async fn send_json(ws: &mut Ws, value: Value) -> bool {
    ws.send(Message::text(value.to_string())).await.is_ok()
}

/// Serves one WebSocket connection until it closes.
async fn serve(state: Arc<State>, mut ws: Ws, addr: SocketAddr, stop: CancellationToken) {
    state.record(Step::Connected);
    if !send_json(
        &mut ws,
        json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": null, "t": null}),
    )
    .await
    {
        return;
    }
    let (tx, mut controls) = mpsc::unbounded_channel();
    let mut session: Option<String> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            control = controls.recv() => {
                let Some(control) = control else { return };
                let Some(id) = session.clone() else { continue };
                match control {
                    Control::Dispatch { event, data } => {
                        let seq = {
                            let mut sessions = state.sessions.lock().unwrap();
                            let Some(s) = sessions.get_mut(&id) else { continue };
                            s.seq += 1;
                            let frame = json!({"op": 0, "t": event, "s": s.seq, "d": data});
                            s.dispatched.push((s.seq, frame));
                            s.seq
                        };
                        let frame = state.sessions.lock().unwrap()[&id].dispatched.last().map(|(_, f)| f.clone());
                        state.record(Step::Dispatched { event, seq });
                        if let Some(frame) = frame && !send_json(&mut ws, frame).await {
                            return;
                        }
                    }
                    Control::Reconnect => {
                        let _ = send_json(&mut ws, json!({"op": 7, "d": null, "s": null, "t": null})).await;
                    }
                    Control::InvalidSession { resumable } => {
                        if !resumable
                            && let Some(s) = state.sessions.lock().unwrap().get_mut(&id)
                        {
                            s.valid = false;
                        }
                        clear_live(&state, &tx);
                        let _ = send_json(&mut ws, json!({"op": 9, "d": resumable, "s": null, "t": null})).await;
                    }
                    Control::Drop => {
                        clear_live(&state, &tx);
                        // Dropping the stream ends TCP without a close frame.
                        return;
                    }
                    Control::Close(code) => {
                        clear_live(&state, &tx);
                        let code = CloseCode::try_from(code).unwrap_or(CloseCode::NORMAL_CLOSURE);
                        let _ = ws.send(Message::close(Some(code), "closed by the test")).await;
                        let _ = ws.close().await;
                        return;
                    }
                }
            }
            message = ws.next() => {
                let Some(Ok(message)) = message else {
                    clear_live(&state, &tx);
                    return;
                };
                if message.is_close() {
                    clear_live(&state, &tx);
                    return;
                }
                let Some(text) = message.as_text() else { continue };
                let Ok(payload) = serde_json::from_str::<Value>(text) else {
                    // Discord closes with 4002 (Decode error).
                    state.violations.lock().unwrap().push(format!("not JSON: {text}"));
                    continue;
                };
                let problems = crate::discord_shapes::check_gateway_payload(&payload);
                state.violations.lock().unwrap().extend(problems);
                match payload["op"].as_u64() {
                    Some(1) => {
                        state.record(Step::Heartbeat);
                        if !send_json(&mut ws, json!({"op": 11, "d": null, "s": null, "t": null})).await {
                            return;
                        }
                    }
                    Some(2) => {
                        if !token_accepted(&payload["d"]["token"])
                            || state.refuse_identify.load(Ordering::SeqCst)
                        {
                            state.record(Step::Refused);
                            let _ = ws.send(Message::close(CloseCode::try_from(4004).ok(), "Authentication failed.")).await;
                            let _ = ws.close().await;
                            return;
                        }
                        let n = state.next_session.fetch_add(1, Ordering::SeqCst);
                        let id = format!("fake-session-{n}");
                        let ready = json!({
                            "op": 0, "t": "READY", "s": 1,
                            "d": {
                                "v": 10,
                                "user": {"id": APPLICATION_ID, "username": "KinoYuBot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0, "accent_color": null, "banner": null},
                                "guilds": [{"id": GUILD_ID, "unavailable": true}],
                                "session_id": id,
                                "resume_gateway_url": format!("ws://{addr}"),
                                "shard": [0, 1],
                                "application": {"id": APPLICATION_ID, "flags": 0}
                            }
                        });
                        state.sessions.lock().unwrap().insert(id.clone(), Session { seq: 1, dispatched: Vec::new(), valid: true });
                        state.record(Step::Identified { session_id: id.clone(), intents: payload["d"]["intents"].as_u64().unwrap_or(0) });
                        if !send_json(&mut ws, ready).await {
                            return;
                        }
                        *state.live.lock().unwrap() = Some((id.clone(), tx.clone()));
                        session = Some(id);
                    }
                    Some(6) => {
                        let id = payload["d"]["session_id"].as_str().unwrap_or_default().to_owned();
                        let seq = payload["d"]["seq"].as_u64().unwrap_or(0);
                        let replay = {
                            let sessions = state.sessions.lock().unwrap();
                            sessions
                                .get(&id)
                                .filter(|s| s.valid && token_accepted(&payload["d"]["token"]))
                                .map(|s| (s.seq, s.dispatched.iter().filter(|(n, _)| *n > seq).map(|(_, f)| f.clone()).collect::<Vec<_>>()))
                        };
                        match replay {
                            None => {
                                state.record(Step::ResumeRefused);
                                if !send_json(&mut ws, json!({"op": 9, "d": false, "s": null, "t": null})).await {
                                    return;
                                }
                            }
                            Some((last, frames)) => {
                                for frame in frames {
                                    if !send_json(&mut ws, frame).await {
                                        return;
                                    }
                                }
                                let next = {
                                    let mut sessions = state.sessions.lock().unwrap();
                                    let s = sessions.get_mut(&id).expect("session");
                                    s.seq = last + 1;
                                    s.seq
                                };
                                state.record(Step::Resumed { session_id: id.clone(), seq });
                                if !send_json(&mut ws, json!({"op": 0, "t": "RESUMED", "s": next, "d": {}})).await {
                                    return;
                                }
                                *state.live.lock().unwrap() = Some((id.clone(), tx.clone()));
                                session = Some(id);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Whether IDENTIFY's or RESUME's `token` is the bot's: Discord takes it
/// with or without the `Bot ` prefix of the HTTP header (twilight sends it).
fn token_accepted(token: &Value) -> bool {
    token
        .as_str()
        .map(|t| t.strip_prefix("Bot ").unwrap_or(t))
        .is_some_and(|t| t == BOT_TOKEN)
}

/// This connection is no longer the live one (a newer connection that
/// resumed the same session may be).
fn clear_live(state: &State, connection: &mpsc::UnboundedSender<Control>) {
    let mut live = state.live.lock().unwrap();
    if live.as_ref().is_some_and(|(_, tx)| tx.same_channel(connection)) {
        *live = None;
    }
}
