//! A Twitch IRC stand-in: plain TCP on 127.0.0.1, port 0.
//!
//! It speaks what twitch-irc needs: `CAP REQ` → `CAP ACK`, `PASS`/`NICK`
//! (anonymous `justinfan` logins too) → the welcome lines (001–004, 375,
//! 372, 376), `JOIN` → JOIN echo, NAMES and a `ROOMSTATE` carrying
//! `room-id`, `PART` echo, and `PING`/`PONG` both ways. Tests inject raw
//! lines (with Twitch's real tag sets) into channels, send `RECONNECT`, drop
//! connections, and wait for "a client joined #x" with a deadline. Every
//! line a client sends is recorded. Also used by the ingest benchmark
//! (`benches/ingest.rs` includes this file with `#[path]`).

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What a connection's writer task is told to do.
enum Outgoing {
    Line(String),
    Bytes(Arc<Vec<u8>>),
    Close,
}

struct Connection {
    sender: mpsc::UnboundedSender<Outgoing>,
    nick: Option<String>,
    channels: BTreeSet<String>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    connections: HashMap<u64, Connection>,
    /// Every line received from clients, with the connection id.
    received: Vec<(u64, String)>,
    /// JOINs received per channel (counts rejoins).
    joins: HashMap<String, usize>,
    /// Connections accepted so far.
    accepted: usize,
    room_ids: HashMap<String, String>,
    /// PARTs are recorded but not honoured (a server that kept a channel
    /// joined, as after a JOIN that landed after the PART).
    ignore_parts: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every state change so waiters can re-check.
    version: watch::Sender<u64>,
    /// Bytes of [`FakeIrc::send_bytes_to_channel`] written to sockets.
    bulk_written: AtomicU64,
}

impl Shared {
    fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let result = change(&mut self.state.lock().unwrap());
        self.version.send_modify(|v| *v += 1);
        result
    }
}

/// The running stand-in; stops when dropped.
pub struct FakeIrc {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIrc {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.drop_connections();
    }
}

/// A deterministic Twitch user id for a login: a viewer's `user-id`, and
/// for a channel its broadcaster's, which is also the channel's room id.
pub fn twitch_id(login: &str) -> String {
    let mut hash: u32 = 2_166_136_261;
    for byte in login.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(16_777_619);
    }
    (100_000 + hash % 900_000_000).to_string()
}

/// Deterministic room id for a channel name (tests may override it).
pub fn default_room_id(channel: &str) -> String {
    twitch_id(channel)
}

/// A PRIVMSG from a plain viewer with Twitch's full tag set, each with its
/// own message id.
pub fn privmsg(channel: &str, room_id: &str, user_id: &str, login: &str, text: &str) -> String {
    static MESSAGES: AtomicU64 = AtomicU64::new(0);
    let n = MESSAGES.fetch_add(1, Ordering::Relaxed);
    format!(
        "@badge-info=;badges=;client-nonce={n:032x};color=#1E90FF;display-name={login};emotes=;first-msg=0;flags=;id=0b1c2d3e-4f5a-6b7c-8d9e-{n:012x};mod=0;returning-chatter=0;room-id={room_id};subscriber=0;tmi-sent-ts=1764000000000;turbo=0;user-id={user_id};user-type= :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"
    )
}

impl FakeIrc {
    /// Listens on 127.0.0.1, port 0.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake IRC");
        let address = listener.local_addr().expect("address");
        let (version, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            version,
            bulk_written: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(serve(socket, shared));
            }
        });
        Self {
            address,
            shared,
            accept_task,
        }
    }

    /// `tcp://127.0.0.1:PORT`, the `TWITCH_IRC_SERVER` value.
    pub fn url(&self) -> String {
        format!("tcp://{}", self.address)
    }

    /// The setting as a typed value.
    pub fn server(&self) -> kinoyubot::config::IrcServer {
        kinoyubot::config::IrcServer::Tcp {
            host: self.address.ip().to_string(),
            port: self.address.port(),
        }
    }

    /// The room id ROOMSTATE gives for `channel`.
    pub fn room_id(&self, channel: &str) -> String {
        let state = self.shared.state.lock().unwrap();
        state
            .room_ids
            .get(channel)
            .cloned()
            .unwrap_or_else(|| default_room_id(channel))
    }

    /// Uses this room id in ROOMSTATE for `channel`.
    pub fn set_room_id(&self, channel: &str, room_id: &str) {
        self.shared
            .update(|s| s.room_ids.insert(channel.to_owned(), room_id.to_owned()));
    }

    /// Sends a raw line to every connection that joined `#channel`; returns
    /// how many got it.
    pub fn send_to_channel(&self, channel: &str, line: &str) -> usize {
        let state = self.shared.state.lock().unwrap();
        let mut sent = 0;
        for connection in state.connections.values() {
            if connection.channels.contains(channel) && connection.sender.send(Outgoing::Line(line.to_owned())).is_ok()
            {
                sent += 1;
            }
        }
        sent
    }

    /// Sends raw bytes (many lines at once) to every connection that joined
    /// `#channel`; for the benchmark.
    pub fn send_bytes_to_channel(&self, channel: &str, bytes: Arc<Vec<u8>>) -> usize {
        let state = self.shared.state.lock().unwrap();
        let mut sent = 0;
        for connection in state.connections.values() {
            if connection.channels.contains(channel)
                && connection.sender.send(Outgoing::Bytes(Arc::clone(&bytes))).is_ok()
            {
                sent += 1;
            }
        }
        sent
    }

    /// Bytes of bulk sends written to client sockets so far.
    pub fn bulk_written(&self) -> u64 {
        self.shared.bulk_written.load(Ordering::Relaxed)
    }

    /// Sends a raw line to every connection.
    pub fn send_to_all(&self, line: &str) {
        let state = self.shared.state.lock().unwrap();
        for connection in state.connections.values() {
            let _ = connection.sender.send(Outgoing::Line(line.to_owned()));
        }
    }

    /// Asks every client to reconnect, as Twitch does before maintenance.
    pub fn send_reconnect(&self) {
        self.send_to_all(":tmi.twitch.tv RECONNECT");
    }

    /// Sends a PING to every client (they must answer PONG).
    pub fn send_ping(&self, token: &str) {
        self.send_to_all(&format!("PING :{token}"));
    }

    /// Closes every connection without a word.
    pub fn drop_connections(&self) {
        self.shared.update(|s| {
            for (_, connection) in s.connections.drain() {
                let _ = connection.sender.send(Outgoing::Close);
            }
        });
    }

    /// Lines clients sent, in order.
    pub fn received(&self) -> Vec<String> {
        self.shared
            .state
            .lock()
            .unwrap()
            .received
            .iter()
            .map(|(_, line)| line.clone())
            .collect()
    }

    /// JOINs received for `channel` so far (a rejoin counts again).
    pub fn joins(&self, channel: &str) -> usize {
        self.shared
            .state
            .lock()
            .unwrap()
            .joins
            .get(channel)
            .copied()
            .unwrap_or(0)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.state.lock().unwrap().accepted
    }

    /// Whether an open connection is in `#channel`.
    pub fn is_joined(&self, channel: &str) -> bool {
        self.shared
            .state
            .lock()
            .unwrap()
            .connections
            .values()
            .any(|c| c.channels.contains(channel))
    }

    /// How many open connections are in `#channel`.
    pub fn joined_by(&self, channel: &str) -> usize {
        self.shared
            .state
            .lock()
            .unwrap()
            .connections
            .values()
            .filter(|c| c.channels.contains(channel))
            .count()
    }

    /// Waits until `condition` holds, re-checking on every change; panics
    /// with `what` after `deadline` (on the wall clock, so that a paused
    /// tokio clock does not end it early).
    pub async fn wait_until(&self, what: &str, deadline: Duration, condition: impl Fn(&Self) -> bool) {
        let mut version = self.shared.version.subscribe();
        let start = std::time::Instant::now();
        loop {
            version.borrow_and_update();
            if condition(self) {
                return;
            }
            assert!(
                start.elapsed() < deadline,
                "fake IRC: timed out after {deadline:?} waiting for {what}"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), version.changed()).await;
        }
    }

    /// Waits until a client has joined `#channel` at least `count` times
    /// in total and is in it now.
    pub async fn wait_joined(&self, channel: &str, count: usize, deadline: Duration) {
        self.wait_until(&format!("join #{channel} (#{count})"), deadline, |irc| {
            irc.joins(channel) >= count && irc.is_joined(channel)
        })
        .await;
    }

    /// Waits until a client sent a line equal to `line`.
    /// From now on, PARTs are recorded but the channel stays joined.
    pub fn ignore_parts(&self) {
        self.shared.update(|s| s.ignore_parts = true);
    }

    pub async fn wait_received(&self, line: &str, deadline: Duration) {
        self.wait_until(&format!("client line {line:?}"), deadline, |irc| {
            irc.received().iter().any(|l| l == line)
        })
        .await;
    }
}

async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let (read_half, mut write_half) = socket.into_split();
    let counters = Arc::clone(&shared);
    let (sender, mut outgoing) = mpsc::unbounded_channel::<Outgoing>();
    let id = shared.update(|s| {
        let id = s.next_id;
        s.next_id += 1;
        s.accepted += 1;
        s.connections.insert(
            id,
            Connection {
                sender: sender.clone(),
                nick: None,
                channels: BTreeSet::new(),
            },
        );
        id
    });
    let writer = tokio::spawn(async move {
        let mut buffer = Vec::with_capacity(64 * 1024);
        while let Some(first) = outgoing.recv().await {
            // Coalesce whatever is queued into one write.
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Outgoing::Line(line) => {
                        buffer.extend_from_slice(line.as_bytes());
                        buffer.extend_from_slice(b"\r\n");
                    }
                    Outgoing::Bytes(bytes) => {
                        if write_half.write_all(&buffer).await.is_err() || write_half.write_all(&bytes).await.is_err() {
                            return;
                        }
                        buffer.clear();
                        counters.bulk_written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    Outgoing::Close => {
                        let _ = write_half.write_all(&buffer).await;
                        let _ = write_half.shutdown().await;
                        return;
                    }
                }
                if buffer.len() < 256 * 1024 {
                    next = outgoing.try_recv().ok();
                }
            }
            if write_half.write_all(&buffer).await.is_err() {
                return;
            }
            buffer.clear();
        }
    });
    let reply = |line: String| {
        let _ = sender.send(Outgoing::Line(line));
    };
    let mut lines = BufReader::new(read_half).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim_end_matches('\r').to_owned();
        let nick = shared.update(|s| {
            s.received.push((id, line.clone()));
            s.connections.get(&id).and_then(|c| c.nick.clone())
        });
        let mut words = line.splitn(2, ' ');
        let command = words.next().unwrap_or_default().to_ascii_uppercase();
        let rest = words.next().unwrap_or_default();
        let nick_or_star = nick.clone().unwrap_or_else(|| "*".to_owned());
        match command.as_str() {
            "CAP" => {
                if let Some(caps) = rest.strip_prefix("REQ ") {
                    let caps = caps.trim_start_matches(':');
                    reply(format!(":tmi.twitch.tv CAP * ACK :{caps}"));
                }
            }
            "PASS" => {}
            "NICK" => {
                let name = rest.trim_start_matches(':').to_owned();
                shared.update(|s| {
                    if let Some(c) = s.connections.get_mut(&id) {
                        c.nick = Some(name.clone());
                    }
                });
                for (code, text) in [
                    ("001", "Welcome, GLHF!"),
                    ("002", "Your host is tmi.twitch.tv"),
                    ("003", "This server is rather new"),
                    ("004", "-"),
                    ("375", "-"),
                    ("372", "You are in a maze of twisty passages, all alike."),
                    ("376", ">"),
                ] {
                    reply(format!(":tmi.twitch.tv {code} {name} :{text}"));
                }
            }
            "JOIN" => {
                for channel in rest.split(',').map(|c| c.trim().trim_start_matches('#').to_owned()) {
                    let room_id = shared.update(|s| {
                        *s.joins.entry(channel.clone()).or_default() += 1;
                        if let Some(c) = s.connections.get_mut(&id) {
                            c.channels.insert(channel.clone());
                        }
                        s.room_ids
                            .get(&channel)
                            .cloned()
                            .unwrap_or_else(|| default_room_id(&channel))
                    });
                    let n = &nick_or_star;
                    reply(format!(":{n}!{n}@{n}.tmi.twitch.tv JOIN #{channel}"));
                    reply(format!(":{n}.tmi.twitch.tv 353 {n} = #{channel} :{n}"));
                    reply(format!(":{n}.tmi.twitch.tv 366 {n} #{channel} :End of /NAMES list"));
                    reply(format!(
                        "@emote-only=0;followers-only=-1;r9k=0;room-id={room_id};slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #{channel}"
                    ));
                }
            }
            "PART" if shared.state.lock().unwrap().ignore_parts => {}
            "PART" => {
                for channel in rest.split(',').map(|c| c.trim().trim_start_matches('#').to_owned()) {
                    shared.update(|s| {
                        if let Some(c) = s.connections.get_mut(&id) {
                            c.channels.remove(&channel);
                        }
                    });
                    let n = &nick_or_star;
                    reply(format!(":{n}!{n}@{n}.tmi.twitch.tv PART #{channel}"));
                }
            }
            "PING" => {
                let token = rest.trim_start_matches(':');
                reply(format!(":tmi.twitch.tv PONG tmi.twitch.tv :{token}"));
            }
            _ => {}
        }
    }
    shared.update(|s| s.connections.remove(&id));
    drop(sender);
    let _ = writer.await;
}
