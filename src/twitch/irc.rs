//! The chat listener: reads Twitch chat anonymously with twitch-irc and
//! turns it into presence events and `!raffle` commands (SPEC §4).
//!
//! This is the only module that imports `twitch_irc`. It owns the IRC
//! connections and must not touch the database: it forwards what it reads
//! to the presence tracker over a bounded channel, and permitted chat
//! commands to the raffle engine with `try_send`.
//!
//! # Why a runtime of its own
//!
//! twitch-irc's `Transport::new()` takes no arguments and hard-codes
//! Twitch's host in its own transport, but `TWITCH_IRC_SERVER` must choose
//! the server (tests run several fake servers in one process). Our
//! `ConfiguredTransport` therefore reads the address from a thread-local
//! that [`ChatListener::run`] sets on every thread of a small tokio runtime
//! dedicated to this listener (`on_thread_start`): every task twitch-irc
//! spawns runs on those threads, so each listener sees its own server. The
//! runtime also keeps IRC parsing (twitch-irc's unbounded queues, which we
//! drain immediately) off the main runtime.
//!
//! # The fast path
//!
//! twitch-irc passes every message through three unbounded queues and
//! clones it on the way; at Twitch's busiest chats that costs more than
//! everything else we do, and a backlog in those queues grows without
//! bound. So our transport's reader handles PRIVMSG and CLEARCHAT itself:
//! it converts them with twitch-irc's own `ServerMessage` parser, classifies
//! them with the same `classify` as the listener's loop, and hands the
//! events to the presence tracker in chunks over its bounded queue. When
//! that queue is full the reader stops reading the socket: TCP backpressure
//! instead of an unbounded backlog. Everything else (PING, RECONNECT, JOIN,
//! ROOMSTATE, NOTICE, ...) flows through twitch-irc as usual, so its
//! connection handling, keep-alive and rejoin logic are unchanged.
//!
//! # Robust reading
//!
//! twitch-irc closes a connection when its transport yields a line that
//! does not parse. Our transport instead skips such lines (logged at debug,
//! raw text only at trace) and discards lines longer than `MAX_LINE_BYTES`
//! without buffering them, so junk or a 1 MB line costs one log line, not a
//! reconnect.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use either::Either;
use futures::sink::Sink;
use futures::stream::{FusedStream, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use twitch_irc::login::StaticLoginCredentials;
use twitch_irc::message::{
    AsRawIRC as _, ClearChatAction, ClearChatMessage, IRCMessage, IRCParseError, IRCPrefix, PrivmsgMessage,
    ServerMessage,
};
use twitch_irc::transport::Transport;
use twitch_irc::{ClientConfig, TwitchIRCClient};

use crate::channel::ChannelLogin;
use crate::channel::ChannelSet;
use crate::config::IrcServer;
use crate::presence::batch::PresenceEvent;
use crate::presence::batch::{BanLength, BanUpdate, PresenceUpdate};
use crate::presence::tracker::PresenceHandle;
use crate::raffle::command::{ChatCommand, RaffleCommand};
use crate::text;
use crate::twitch::join_pacer::{JOIN_RATE_WINDOW, JoinPacer, JoinStatus};

/// Longest IRC line kept; longer lines are discarded. Twitch lines are at
/// most a few KiB (tags plus 500 characters of text).
pub(crate) const MAX_LINE_BYTES: usize = 64 * 1024;
/// How long a TLS handshake may take; a plain-TCP server given without
/// `tcp://` never answers one.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits before reconnecting after failed connection attempts: doubling
/// from the first up to the cap (twitch-irc itself retries at once).
const RECONNECT_BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// See [`RECONNECT_BACKOFF_FIRST`].
const RECONNECT_BACKOFF_CAP: Duration = Duration::from_secs(60);
/// Worker threads of the chat runtime. One is enough: the reading task does
/// nearly all the work, and the tracker runs on the main runtime.
const CHAT_THREADS: usize = 1;
/// Most messages taken from twitch-irc's queue per wakeup and forwarded to
/// the tracker as one chunk.
const FORWARD_CHUNK: usize = 1024;

thread_local! {
    /// What [`ConfiguredTransport`] needs, set on every thread of a
    /// listener's runtime by [`ChatListener::run`] (see the module doc).
    static CONTEXT: RefCell<Option<ChatContext>> = const { RefCell::new(None) };
}

/// The listener's settings and outlets, shared with its transports.
#[derive(Debug, Clone)]
struct ChatContext {
    server: IrcServer,
    /// The channels this instance serves: chat of any other channel (one
    /// handed over while still joined) is another instance's to count.
    served: ChannelSet,
    presence: PresenceHandle,
    commands: mpsc::Sender<ChatCommand>,
    /// Connections opened so far; every one after the first is a reconnect
    /// (twitch-irc reconnects after RECONNECT or a dropped connection).
    connections: Arc<std::sync::atomic::AtomicU64>,
    /// Connection attempts failed in a row (the current outage).
    failures: Arc<AtomicU32>,
}

/// Why the chat listener could not run.
#[derive(Debug, thiserror::Error)]
pub enum IrcError {
    /// The chat runtime could not be started.
    #[error("could not start the chat runtime: {0}")]
    Start(#[from] std::io::Error),
    /// The chat task ended without reporting (it panicked).
    #[error("the chat task stopped unexpectedly")]
    ThreadLost,
}

/// Why a connection to the IRC server could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Called outside a chat runtime: no server configured.
    #[error("no IRC server configured on this thread")]
    NoServer,
    /// TCP connect failed.
    #[error("could not connect to {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS host name is not a valid server name.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// The server did not complete the TLS handshake in time.
    #[error(
        "{address} did not complete a TLS handshake within {after:?}; if it is a plain-TCP IRC server, \
         set TWITCH_IRC_SERVER=tcp://{address}"
    )]
    TlsTimeout {
        /// `host:port`.
        address: String,
        /// How long we waited.
        after: Duration,
    },
    /// The TLS setup or handshake failed.
    #[error("TLS with {address} failed: {source}")]
    Tls {
        /// `host:port`.
        address: String,
        /// What failed.
        source: std::io::Error,
    },
}

type IncomingItem = Result<IRCMessage, Either<std::io::Error, IRCParseError>>;
type Incoming = Pin<Box<dyn FusedStream<Item = IncomingItem> + Send + Sync>>;
type Outgoing = Pin<Box<dyn Sink<IRCMessage, Error = std::io::Error> + Send + Sync>>;

/// A twitch-irc transport to the server of [`IrcServer`], plain TCP or TLS.
pub(crate) struct ConfiguredTransport {
    incoming: Incoming,
    outgoing: Outgoing,
}

impl fmt::Debug for ConfiguredTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfiguredTransport").finish_non_exhaustive()
    }
}

async fn connect_tls(host: &str, port: u16) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    let roots = tokio_rustls::rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    connect_tls_with_roots(host, port, roots, TLS_HANDSHAKE_TIMEOUT).await
}

/// [`connect_tls`] with the certificate authorities to trust (the public
/// web roots in production; a test authority in the TLS test).
async fn connect_tls_with_roots(
    host: &str,
    port: u16,
    roots: tokio_rustls::rustls::RootCertStore,
    handshake_timeout: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnectError> {
    use tokio_rustls::rustls::{ClientConfig as TlsConfig, crypto, pki_types::ServerName};
    let address = format!("{host}:{port}");
    // An explicit provider: both rustls back-ends are compiled in (through
    // other dependencies), and `ClientConfig::builder()` refuses to guess.
    let config = TlsConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls {
            address: address.clone(),
            source: std::io::Error::other(e),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|_| ConnectError::ServerName(host.to_owned()))?;
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(|source| ConnectError::Connect {
            address: address.clone(),
            source,
        })?;
    let handshake = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream);
    match tokio::time::timeout(handshake_timeout, handshake).await {
        Ok(connected) => connected.map_err(|source| ConnectError::Tls { address, source }),
        // A plain-TCP server never answers the TLS hello: say what to do.
        Err(_) => Err(ConnectError::TlsTimeout {
            address,
            after: handshake_timeout,
        }),
    }
}

impl ConfiguredTransport {
    fn from_socket<S>(socket: S, context: &ChatContext) -> Self
    where
        S: AsyncRead + AsyncWrite + Send + Sync + 'static,
    {
        let (read_half, write_half) = tokio::io::split(socket);
        let reader = LineReader::new(read_half, Some(Tap::new(context)));
        let incoming = futures::stream::unfold(reader, LineReader::next_message).fuse();
        let outgoing = futures::sink::unfold(write_half, |mut writer, message: IRCMessage| async move {
            let mut line = message.as_raw_irc();
            tracing::trace!(line = %line, "> irc");
            line.push_str("\r\n");
            writer.write_all(line.as_bytes()).await?;
            writer.flush().await?;
            Ok::<_, std::io::Error>(writer)
        });
        Self {
            incoming: Box::pin(incoming),
            outgoing: Box::pin(outgoing),
        }
    }
}

#[async_trait]
impl Transport for ConfiguredTransport {
    type ConnectError = ConnectError;
    type IncomingError = std::io::Error;
    type OutgoingError = std::io::Error;
    type Incoming = Incoming;
    type Outgoing = Outgoing;

    async fn new() -> Result<Self, ConnectError> {
        let context = CONTEXT
            .with(|context| context.borrow().clone())
            .ok_or(ConnectError::NoServer)?;
        let failed_before = context.failures.load(Ordering::Relaxed);
        if failed_before > 0 {
            // twitch-irc reconnects at once; we space the attempts out.
            tokio::time::sleep(reconnect_delay(failed_before)).await;
        }
        match Self::open(&context).await {
            Ok(transport) => {
                let failed = context.failures.swap(0, Ordering::Relaxed);
                if failed > 0 {
                    tracing::info!(server = ?context.server, failed_attempts = failed, "IRC server reachable again");
                }
                if context.connections.fetch_add(1, Ordering::Relaxed) > 0 {
                    crate::metrics::irc_reconnected();
                }
                Ok(transport)
            }
            Err(e) => {
                let failed = context.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
                if failed == 1 {
                    // One line per outage (the library's own lines are
                    // dropped, see `telemetry`).
                    tracing::warn!(
                        error = %e,
                        first_retry_in = ?reconnect_delay(1),
                        max_retry_interval = ?RECONNECT_BACKOFF_CAP,
                        "cannot reach the IRC server; retrying with backoff until it answers"
                    );
                } else {
                    tracing::debug!(error = %e, attempt = failed, "IRC server still unreachable");
                }
                Err(e)
            }
        }
    }

    fn split(self) -> (Incoming, Outgoing) {
        (self.incoming, self.outgoing)
    }
}

/// The wait before the attempt after `failed` failed ones.
fn reconnect_delay(failed: u32) -> Duration {
    let doublings = failed.saturating_sub(1).min(16);
    RECONNECT_BACKOFF_FIRST
        .saturating_mul(1u32 << doublings)
        .min(RECONNECT_BACKOFF_CAP)
}

impl ConfiguredTransport {
    async fn open(context: &ChatContext) -> Result<Self, ConnectError> {
        let transport = match context.server.clone() {
            IrcServer::Tcp { host, port } => {
                let socket =
                    TcpStream::connect((host.as_str(), port))
                        .await
                        .map_err(|source| ConnectError::Connect {
                            address: format!("{host}:{port}"),
                            source,
                        })?;
                // Chat lines are small and latency matters more than packets.
                let _ = socket.set_nodelay(true);
                Self::from_socket(socket, context)
            }
            IrcServer::Tls { host, port } => Self::from_socket(connect_tls(&host, port).await?, context),
        };
        Ok(transport)
    }
}

/// Where the reader hands chat messages and bans (module doc, "The fast
/// path").
struct Tap {
    served: ChannelSet,
    presence: PresenceHandle,
    commands: mpsc::Sender<ChatCommand>,
    /// Events read but not yet handed over; sent as one chunk before the
    /// reader waits for the socket, or when [`FORWARD_CHUNK`] is reached.
    pending: Vec<PresenceEvent>,
    /// The tracker has stopped (shutdown): events are dropped.
    closed: bool,
}

impl Tap {
    fn new(context: &ChatContext) -> Self {
        Self {
            served: context.served.clone(),
            presence: context.presence.clone(),
            commands: context.commands.clone(),
            pending: Vec::new(),
            closed: false,
        }
    }

    async fn hand_over(&mut self) {
        let events = std::mem::take(&mut self.pending);
        if !self.closed && self.presence.send(events).await.is_err() {
            tracing::debug!("presence tracker stopped; chat events are dropped");
            self.closed = true;
        }
    }
}

/// Reads IRC lines, skipping what does not parse and discarding overlong
/// lines (module doc).
struct LineReader<R> {
    reader: BufReader<R>,
    /// Chat messages and bans go here instead of through twitch-irc.
    tap: Option<Tap>,
    /// The line being assembled (without its newline).
    line: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE_BYTES`]: drop bytes until `\n`.
    discarding: bool,
    /// An I/O error was reported; the stream ends.
    done: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(reader: R, tap: Option<Tap>) -> Self {
        Self {
            reader: BufReader::with_capacity(64 * 1024, reader),
            tap,
            line: Vec::new(),
            discarding: false,
            done: false,
        }
    }

    async fn hand_over_pending(&mut self) {
        if let Some(tap) = self.tap.as_mut()
            && !tap.pending.is_empty()
        {
            tap.hand_over().await;
        }
    }

    async fn next_message(mut self) -> Option<(IncomingItem, Self)> {
        if self.done {
            return None;
        }
        loop {
            if let Some(tap) = self.tap.as_mut()
                && !tap.pending.is_empty()
                && (self.reader.buffer().is_empty() || tap.pending.len() >= FORWARD_CHUNK)
            {
                // About to wait for the socket (or a chunk is full): hand
                // over what was read. Waiting here while the tracker's queue
                // is full is the backpressure that bounds memory.
                tap.hand_over().await;
            }
            let available = match self.reader.fill_buf().await {
                Ok(available) => available,
                Err(e) => {
                    self.done = true;
                    self.hand_over_pending().await;
                    return Some((Err(Either::Left(e)), self));
                }
            };
            if available.is_empty() {
                self.hand_over_pending().await;
                return None;
            }
            let newline = available.iter().position(|&byte| byte == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if !self.discarding {
                if self.line.len() + chunk.len() > MAX_LINE_BYTES {
                    self.discarding = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let consumed = newline.map_or(available.len(), |position| position + 1);
            self.reader.consume(consumed);
            if newline.is_none() {
                continue;
            }
            if std::mem::take(&mut self.discarding) {
                tracing::warn!(limit = MAX_LINE_BYTES, "discarded an IRC line longer than the limit");
                continue;
            }
            let line = String::from_utf8_lossy(&self.line);
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                self.line.clear();
                continue;
            }
            let parsed = IRCMessage::parse(line);
            match parsed {
                Ok(message) => {
                    self.line.clear();
                    if let Some(tap) = self.tap.as_mut()
                        && matches!(message.command.as_str(), "PRIVMSG" | "CLEARCHAT")
                    {
                        take_chat_line(tap, message);
                        continue;
                    }
                    if message.command == "USERNOTICE" {
                        // Subs, raids, ...: nothing presence uses, and new
                        // kinds make twitch-irc log an ERROR; never passed on.
                        continue;
                    }
                    // twitch-irc may close the connection on this message
                    // (RECONNECT) and drop this reader with it.
                    self.hand_over_pending().await;
                    return Some((Ok(message), self));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "skipped an IRC line that does not parse");
                    tracing::trace!(line = %line, "unparsable IRC line");
                    self.line.clear();
                }
            }
        }
    }
}

/// The fast path for PRIVMSG and CLEARCHAT (module doc).
fn take_chat_line(tap: &mut Tap, message: IRCMessage) {
    if message.command == "PRIVMSG" {
        crate::metrics::chat_message_received();
    }
    let Classified { event, command } = classify_raw(message, Utc::now());
    // A channel no longer served may still be joined (its JOIN landed after
    // the PART): its chat is counted by the instance that serves it now.
    tap.pending
        .extend(event.filter(|event| tap.served.contains(event.channel())));
    if let Some(command) = command.filter(|command| tap.served.contains(&command.channel)) {
        hand_over_command(&tap.commands, command);
    }
}

/// [`classify`] for a line as read: through twitch-irc's typed conversion,
/// or, for a PRIVMSG that conversion refuses, from the raw tags (SPEC §4).
fn classify_raw(message: IRCMessage, received_at: DateTime<Utc>) -> Classified {
    match ServerMessage::try_from(message) {
        Ok(message) => classify(message, received_at),
        Err(e) => {
            tracing::debug!(error = %e, "twitch-irc refused a chat line; reading it from the raw tags");
            let message = IRCMessage::from(e);
            match ChatLine::raw(&message) {
                Some(line) => classify_chat(&line, received_at),
                None => {
                    tracing::debug!(command = %message.command, "skipped a chat line without channel, room-id, user-id or sender");
                    Classified::default()
                }
            }
        }
    }
}

/// How often the listener asks twitch-irc whether every served channel is
/// joined, for [`ChatHealth`].
const JOINED_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether chat is read for every served channel right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    /// Every served channel is joined (or none is served).
    Connected,
    /// Some served channel has not been joined since this moment (the
    /// server is unreachable, the connection dropped, a join is pending).
    Disconnected {
        /// When chat stopped being (or was last seen not yet) joined.
        since: DateTime<Utc>,
    },
}

/// The chat listener's [`ChatState`], shared with `/readyz` and the
/// dashboard; kept across restarts of the listener. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChatHealth {
    state: Arc<tokio::sync::watch::Sender<ChatState>>,
}

impl Default for ChatHealth {
    fn default() -> Self {
        Self {
            state: Arc::new(tokio::sync::watch::Sender::new(ChatState::Disconnected {
                since: Utc::now(),
            })),
        }
    }
}

impl ChatHealth {
    /// The state before the listener has looked: connected when no channel
    /// is served (there is nothing to join), otherwise not yet joined.
    pub fn starting(serves_channels: bool) -> Self {
        let state = if serves_channels {
            ChatState::Disconnected { since: Utc::now() }
        } else {
            ChatState::Connected
        };
        Self {
            state: Arc::new(tokio::sync::watch::Sender::new(state)),
        }
    }

    /// The state now.
    pub fn state(&self) -> ChatState {
        *self.state.borrow()
    }

    /// The listener stopped (shutdown, or a failure it is restarted after).
    fn stopped(&self) {
        self.state.send_if_modified(|state| match *state {
            ChatState::Connected => {
                *state = ChatState::Disconnected { since: Utc::now() };
                true
            }
            ChatState::Disconnected { .. } => false,
        });
    }

    /// Records whether every served channel is joined; a disconnection
    /// keeps the moment it began.
    fn set_joined(&self, joined: bool) {
        self.state.send_if_modified(|state| match (joined, *state) {
            (true, ChatState::Connected) | (false, ChatState::Disconnected { .. }) => false,
            (true, ChatState::Disconnected { .. }) => {
                tracing::info!("chat connected for every served channel");
                *state = ChatState::Connected;
                true
            }
            (false, ChatState::Connected) => {
                tracing::warn!("chat disconnected: a served channel is not joined");
                *state = ChatState::Disconnected { since: Utc::now() };
                true
            }
        });
    }
}

/// Reads the served channels' chat; see the module doc.
#[derive(Debug, Clone)]
pub struct ChatListener {
    server: IrcServer,
    channels: ChannelSet,
    presence: PresenceHandle,
    commands: mpsc::Sender<ChatCommand>,
    /// `JOIN_RATE`: joins per [`JOIN_RATE_WINDOW`].
    join_rate: u32,
    joins: JoinStatus,
    health: ChatHealth,
}

impl ChatListener {
    /// A listener for `server` (`Settings::twitch_irc_server`) that joins
    /// the channels of `channels` (following its changes), feeds
    /// `presence`, and hands permitted `!raffle` commands to `commands`.
    pub fn new(
        server: IrcServer,
        channels: ChannelSet,
        presence: PresenceHandle,
        commands: mpsc::Sender<ChatCommand>,
    ) -> Self {
        Self {
            server,
            channels,
            presence,
            commands,
            join_rate: crate::config::DEFAULT_JOIN_RATE,
            joins: JoinStatus::default(),
            health: ChatHealth::default(),
        }
    }

    /// Reports whether chat is joined to `health` (default: a health of
    /// its own, read by nobody).
    #[must_use]
    pub fn with_health(mut self, health: ChatHealth) -> Self {
        self.health = health;
        self
    }

    /// Sends at most `join_rate` joins per [`JOIN_RATE_WINDOW`] (`JOIN_RATE`)
    /// and publishes the join counts in `joins`.
    #[must_use]
    pub(crate) fn with_joins(mut self, join_rate: u32, joins: JoinStatus) -> Self {
        self.join_rate = join_rate;
        self.joins = joins;
        self
    }

    /// Reads chat until `shutdown` fires (or the tracker stops), on a
    /// runtime of its own (module doc). twitch-irc reconnects and rejoins by
    /// itself after RECONNECT or a dropped connection.
    ///
    /// # Errors
    ///
    /// When the chat runtime cannot start or the chat task dies.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), IrcError> {
        let context = ChatContext {
            server: self.server.clone(),
            served: self.channels.clone(),
            presence: self.presence.clone(),
            commands: self.commands.clone(),
            connections: Arc::default(),
            failures: Arc::default(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(CHAT_THREADS)
            .thread_name("kinoyubot-chat")
            .enable_all()
            // Every thread of this runtime, and only those, know the context.
            .on_thread_start(move || CONTEXT.with(|slot| *slot.borrow_mut() = Some(context.clone())))
            .build()?;
        let handle = runtime.handle().clone();
        let runtime = RuntimeGuard(Some(runtime));
        let served = handle.spawn(self.serve(shutdown)).await;
        drop(runtime);
        served.map_err(|_| IrcError::ThreadLost)
    }

    async fn serve(self, shutdown: CancellationToken) {
        let mut config = ClientConfig::new_simple(StaticLoginCredentials::anonymous());
        // Connections still open one at a time (the library's semaphore),
        // but no slower than the joins can fill them.
        config.new_connection_every = connection_spacing(self.join_rate, config.max_channels_per_connection);
        let (mut incoming, client) = TwitchIRCClient::<ConfiguredTransport, StaticLoginCredentials>::new(config);
        let mut wanted = self.channels.subscribe();
        let mut watching = true;
        let mut pacer = JoinPacer::new(self.join_rate, JOIN_RATE_WINDOW);
        update_wanted(&client, &mut pacer, &self.joins, &wanted.borrow_and_update());
        tracing::info!(server = ?self.server, join_rate = self.join_rate, "chat listener started");
        let mut batch = Vec::with_capacity(FORWARD_CHUNK);
        let mut joined_check = tokio::time::interval(JOINED_CHECK_EVERY);
        joined_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            send_due_joins(&client, &mut pacer, &self.joins);
            let wake = pacer.next_wake();
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = sleep_until_some(wake) => {}
                _ = joined_check.tick() => {
                    let served = wanted.borrow().clone();
                    let mut joined = true;
                    for login in served {
                        if !client.get_channel_status(login.as_str().to_owned()).await.1 {
                            joined = false;
                            break;
                        }
                    }
                    self.health.set_joined(joined);
                }
                changed = wanted.changed(), if watching => {
                    if changed.is_ok() {
                        update_wanted(&client, &mut pacer, &self.joins, &wanted.borrow_and_update());
                    } else {
                        // The set was dropped: keep the channels we have.
                        watching = false;
                    }
                }
                received = incoming.recv_many(&mut batch, FORWARD_CHUNK) => {
                    if received == 0 {
                        tracing::warn!("the IRC client stopped");
                        break;
                    }
                    let received_at = Utc::now();
                    let mut events = Vec::with_capacity(batch.len());
                    {
                    // Held only while sorting the batch (no await inside).
                    let current = wanted.borrow();
                    for message in batch.drain(..) {
                        if let ServerMessage::Join(join) = &message
                            && let Ok(login) = ChannelLogin::parse(&join.channel_login)
                        {
                            if current.contains(&login) {
                                pacer.confirmed(&login);
                                self.joins.set(pacer.counts());
                            } else {
                                // Parted while its JOIN was on the way (the
                                // channel was handed to another instance):
                                // leave it again.
                                tracing::debug!(channel = %login, "joined a channel no longer served; parting");
                                client.part(login.as_str().to_owned());
                            }
                        }
                        let Classified { event, command } = classify(message, received_at);
                        // What a channel this instance no longer serves says
                        // is another instance's to count (SPEC §15: each
                        // message is processed once across instances).
                        events.extend(event.filter(|event| current.contains(event.channel())));
                        if let Some(command) = command.filter(|command| current.contains(&command.channel)) {
                            hand_over_command(&self.commands, command);
                        }
                    }
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        sent = self.presence.send(events) => if sent.is_err() {
                            tracing::warn!("presence tracker stopped; chat listener stops too");
                            break;
                        },
                    }
                }
            }
        }
        self.health.stopped();
        tracing::info!("chat listener stopped");
    }
}

/// Queues a permitted command for the raffle engine without waiting:
/// commands are rare, so a full queue means the engine is stuck.
fn hand_over_command(commands: &mpsc::Sender<ChatCommand>, command: ChatCommand) {
    tracing::info!(channel = %command.channel, command = ?command.command, by = %command.requested_by, "chat command");
    match commands.try_send(command) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(command)) => {
            tracing::warn!(channel = %command.channel, command = ?command.command, "chat command queue full; command dropped");
        }
        Err(mpsc::error::TrySendError::Closed(command)) => {
            tracing::warn!(channel = %command.channel, command = ?command.command, "no raffle engine takes chat commands; command dropped");
        }
    }
}

/// Owns the chat runtime and shuts it down without blocking when dropped,
/// also when [`ChatListener::run`] is cancelled half-way: dropping a runtime
/// inside async code would panic.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Ends twitch-irc's tasks on that runtime.
            runtime.shutdown_background();
        }
    }
}

type Client = TwitchIRCClient<ConfiguredTransport, StaticLoginCredentials>;

/// Follows a new wanted set: parts what left at once; the joins are paced.
fn update_wanted(client: &Client, pacer: &mut JoinPacer, joins: &JoinStatus, set: &BTreeSet<ChannelLogin>) {
    let parted = pacer.set_wanted(set);
    tracing::info!(channels = set.len(), parting = parted.len(), "chat channels wanted");
    for login in parted {
        client.part(login.as_str().to_owned());
    }
    joins.set(pacer.counts());
}

/// Sends the joins the pacer allows now and publishes the counts.
fn send_due_joins(client: &Client, pacer: &mut JoinPacer, joins: &JoinStatus) {
    let due = pacer.due(tokio::time::Instant::now());
    if due.is_empty() {
        return;
    }
    tracing::debug!(joins = due.len(), "joining chat channels");
    for login in due {
        // Logins were validated by ChannelLogin with twitch-irc's own rules.
        if let Err(e) = client.join(login.as_str().to_owned()) {
            tracing::error!(channel = %login, error = %e, "a channel login was refused by the IRC client");
        }
    }
    joins.set(pacer.counts());
}

/// The wait between opening two IRC connections: the time `JOIN_RATE` takes
/// to fill one (`per_connection` channels), at most twitch-irc's default of
/// 2 s and at least 50 ms.
fn connection_spacing(join_rate: u32, per_connection: usize) -> Duration {
    let per_connection = u32::try_from(per_connection).unwrap_or(u32::MAX);
    let fill = JOIN_RATE_WINDOW
        .saturating_mul(per_connection)
        .checked_div(join_rate.max(1))
        .unwrap_or(MAX_CONNECTION_SPACING);
    fill.clamp(MIN_CONNECTION_SPACING, MAX_CONNECTION_SPACING)
}

/// See [`connection_spacing`].
const MIN_CONNECTION_SPACING: Duration = Duration::from_millis(50);
/// See [`connection_spacing`]: twitch-irc's own default.
const MAX_CONNECTION_SPACING: Duration = Duration::from_secs(2);

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What one server message means for us.
#[derive(Debug, Default, PartialEq, Eq)]
struct Classified {
    event: Option<PresenceEvent>,
    command: Option<ChatCommand>,
}

/// Turns a server message into a presence event and/or a permitted chat
/// command. Pure: `received_at` stamps the event.
fn classify(message: ServerMessage, received_at: DateTime<Utc>) -> Classified {
    match message {
        ServerMessage::Privmsg(message) => classify_chat(&ChatLine::typed(&message), received_at),
        ServerMessage::ClearChat(message) => Classified {
            event: ban_update(&message, received_at).map(PresenceEvent::Ban),
            command: None,
        },
        ServerMessage::RoomState(message) => {
            let channel = ChannelLogin::parse(&message.channel_login).ok();
            let room_id = text::twitch_id(&message.channel_id);
            if channel.is_some() && room_id.is_none() {
                tracing::debug!(channel = %message.channel_login, "ignored a ROOMSTATE whose room-id is not a Twitch id");
            }
            let event = channel
                .zip(room_id)
                .map(|(channel, room_id)| PresenceEvent::ChannelIdentity {
                    channel,
                    twitch_user_id: room_id.to_owned(),
                });
            Classified { event, command: None }
        }
        ServerMessage::Reconnect(_) => {
            tracing::info!("IRC server asked to reconnect");
            Classified::default()
        }
        ServerMessage::Join(message) => {
            tracing::debug!(channel = %message.channel_login, "joined chat channel");
            Classified::default()
        }
        ServerMessage::Notice(message) => {
            tracing::info!(channel = ?message.channel_login, id = ?message.message_id, text = %message.message_text, "IRC notice");
            Classified::default()
        }
        _ => Classified::default(),
    }
}

/// A message relayed from another channel during a Twitch shared-chat
/// session carries that channel's id in `source-room-id`: its sender is not
/// this channel's viewer, and its bans are not this channel's bans.
fn from_other_room(source: &IRCMessage, room_id: &str) -> bool {
    source
        .tags
        .0
        .get("source-room-id")
        .is_some_and(|source_room| !source_room.is_empty() && source_room != room_id)
}

fn tag_is_one(source: &IRCMessage, tag: &str) -> bool {
    source.tags.0.get(tag).is_some_and(|value| value == "1")
}

/// What presence and `!raffle` commands need from a PRIVMSG, borrowed from
/// twitch-irc's typed message or, when its strict conversion refuses the
/// line (a missing `badge-info` or `badges` tag, a malformed `emotes` tag,
/// an empty `display-name`, ...), from the raw tags (SPEC §4).
#[derive(Debug)]
struct ChatLine<'m> {
    source: &'m IRCMessage,
    channel_login: &'m str,
    room_id: &'m str,
    sender_id: &'m str,
    sender_login: &'m str,
    display_name: &'m str,
    badges: Vec<&'m str>,
    text: &'m str,
    is_action: bool,
}

impl<'m> ChatLine<'m> {
    fn typed(message: &'m PrivmsgMessage) -> Self {
        Self {
            source: &message.source,
            channel_login: &message.channel_login,
            room_id: &message.channel_id,
            sender_id: &message.sender.id,
            sender_login: &message.sender.login,
            display_name: &message.sender.name,
            badges: message.badges.iter().map(|badge| badge.name.as_str()).collect(),
            text: &message.message_text,
            is_action: message.is_action,
        }
    }

    /// The fields read from the raw tags, as twitch-irc reads them but
    /// tolerating what it refuses: only the channel, `room-id`, `user-id`
    /// and the sender's nickname are required.
    fn raw(message: &'m IRCMessage) -> Option<Self> {
        if message.command != "PRIVMSG" {
            return None;
        }
        let tag = |name: &str| message.tags.0.get(name).map(String::as_str);
        let channel_login = message.params.first()?.strip_prefix('#')?;
        let full_text = message.params.get(1).map_or("", String::as_str);
        let (text, is_action) = match full_text
            .strip_prefix("\u{1}ACTION ")
            .and_then(|text| text.strip_suffix('\u{1}'))
        {
            Some(text) => (text, true),
            None => (full_text, false),
        };
        let sender_login = match message.prefix.as_ref()? {
            IRCPrefix::Full { nick, .. } => nick.as_str(),
            IRCPrefix::HostOnly { .. } => return None,
        };
        let badges = tag("badges")
            .unwrap_or("")
            .split(',')
            .filter_map(|badge| badge.split('/').next())
            .filter(|name| !name.is_empty())
            .collect();
        Some(Self {
            source: message,
            channel_login,
            room_id: tag("room-id")?,
            sender_id: tag("user-id")?,
            sender_login,
            display_name: tag("display-name").unwrap_or(""),
            badges,
            text,
            is_action,
        })
    }
}

/// A chat line as presence and a permitted command, or nothing.
fn classify_chat(line: &ChatLine<'_>, received_at: DateTime<Utc>) -> Classified {
    let Some(update) = presence_update(line, received_at) else {
        return Classified::default();
    };
    let command = chat_command(line, &update);
    Classified {
        event: Some(PresenceEvent::Message(update)),
        command,
    }
}

/// The sender's presence, with names and ids cleaned at the edge
/// (`crate::text`): a line whose ids are not Twitch ids or whose sender's
/// login is not a login is dropped (logged at debug), since ids are keys.
fn presence_update(line: &ChatLine<'_>, received_at: DateTime<Utc>) -> Option<PresenceUpdate> {
    if from_other_room(line.source, line.room_id) {
        return None;
    }
    let channel = ChannelLogin::parse(line.channel_login).ok()?;
    let (Some(room_id), Some(user_id), Ok(login)) = (
        text::twitch_id(line.room_id),
        text::twitch_id(line.sender_id),
        ChannelLogin::parse(line.sender_login),
    ) else {
        tracing::debug!(channel = %channel, "skipped a chat line whose sender or room is not a Twitch id or login");
        return None;
    };
    let has_badge = |names: &[&str]| line.badges.iter().any(|badge| names.contains(badge));
    let is_broadcaster = has_badge(&["broadcaster"]) || user_id == room_id;
    let mut display_name = text::clean_name(line.display_name);
    if display_name.is_empty() {
        display_name = login.as_str().to_owned();
    }
    Some(PresenceUpdate {
        channel,
        user_id: user_id.to_owned(),
        login: login.as_str().to_owned(),
        display_name,
        // Founders are subscribers too; the `subscriber` tag says so as well.
        is_subscriber: has_badge(&["subscriber", "founder"]) || tag_is_one(line.source, "subscriber"),
        is_vip: has_badge(&["vip"]) || tag_is_one(line.source, "vip"),
        is_moderator: has_badge(&["moderator", "lead_moderator"]) || tag_is_one(line.source, "mod"),
        is_broadcaster,
        seen_at: received_at,
    })
}

fn chat_command(line: &ChatLine<'_>, sender: &PresenceUpdate) -> Option<ChatCommand> {
    // `/me !raffle now` is an action, not a command.
    if line.is_action {
        return None;
    }
    let command = RaffleCommand::parse(line.text)?;
    if command.needs_moderator() && !sender.may_command() {
        tracing::debug!(channel = %sender.channel, user = %sender.login, "ignored !raffle from a viewer");
        return None;
    }
    Some(ChatCommand {
        channel: sender.channel.clone(),
        command,
        requested_by: sender.login.clone(),
        user_id: sender.user_id.clone(),
    })
}

fn ban_update(message: &ClearChatMessage, received_at: DateTime<Utc>) -> Option<BanUpdate> {
    if from_other_room(&message.source, &message.channel_id) {
        return None;
    }
    let channel = ChannelLogin::parse(&message.channel_login).ok()?;
    let (user_id, login, length) = match &message.action {
        ClearChatAction::ChatCleared => return None,
        ClearChatAction::UserBanned { user_login, user_id } => (user_id, user_login, BanLength::Permanent),
        ClearChatAction::UserTimedOut {
            user_login,
            user_id,
            timeout_length,
        } => {
            let until = chrono::Duration::from_std(*timeout_length)
                .ok()
                .and_then(|length| received_at.checked_add_signed(length))
                .map_or(BanLength::Permanent, BanLength::Until);
            (user_id, user_login, until)
        }
    };
    let (Some(user_id), Ok(login)) = (text::twitch_id(user_id), ChannelLogin::parse(login)) else {
        tracing::debug!(channel = %channel, "skipped a CLEARCHAT whose target is not a Twitch id or login");
        return None;
    };
    Some(BanUpdate {
        channel,
        user_id: user_id.to_owned(),
        login: login.as_str().to_owned(),
        at: received_at,
        length,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000, 0).single().expect("valid time")
    }

    fn classify_line(line: &str) -> Classified {
        let message = IRCMessage::parse(line).expect("line parses");
        let message = ServerMessage::try_from(message).expect("server message");
        classify(message, now())
    }

    /// A line twitch-irc's typed conversion refuses, as the reader sees it.
    fn classify_refused_line(line: &str) -> Classified {
        let message = IRCMessage::parse(line).expect("line parses");
        assert!(
            ServerMessage::try_from(message.clone()).is_err(),
            "twitch-irc accepts this line, so it does not test the fallback"
        );
        classify_raw(message, now())
    }

    fn login(name: &str) -> ChannelLogin {
        ChannelLogin::parse(name).expect("valid login")
    }

    fn viewer(channel: &str, id: &str, login_name: &str, name: &str) -> PresenceUpdate {
        PresenceUpdate {
            channel: login(channel),
            user_id: id.into(),
            login: login_name.into(),
            display_name: name.into(),
            is_subscriber: false,
            is_vip: false,
            is_moderator: false,
            is_broadcaster: false,
            seen_at: now(),
        }
    }

    #[test]
    fn plain_privmsg_makes_its_sender_present() {
        let line = "@badge-info=;badges=;color=#0000FF;display-name=JuN1oRRRR;emotes=;flags=;id=e9d998c3-36f1-430f-89ec-6b887c28af36;mod=0;room-id=11148817;subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=29803735;user-type= :jun1orrrr!jun1orrrr@jun1orrrr.tmi.twitch.tv PRIVMSG #pajlada :dank cam";
        assert_eq!(
            classify_line(line),
            Classified {
                event: Some(PresenceEvent::Message(viewer(
                    "pajlada",
                    "29803735",
                    "jun1orrrr",
                    "JuN1oRRRR"
                ))),
                command: None,
            }
        );
    }

    #[test]
    fn moderator_action_with_unicode_name_has_its_flags() {
        let line = "@badge-info=subscriber/35;badges=moderator/1,subscriber/3024;color=#FF0000;display-name=테스트계정420;emotes=;flags=;id=bdfa278e-11c4-484f-9491-0a61b16fab60;mod=1;room-id=11148817;subscriber=1;tmi-sent-ts=1593953876927;turbo=0;user-id=117166826;user-type=mod :testaccount_420!testaccount_420@testaccount_420.tmi.twitch.tv PRIVMSG #pajlada :\u{1}ACTION !raffle now\u{1}";
        let mut expected = viewer("pajlada", "117166826", "testaccount_420", "테스트계정420");
        expected.is_moderator = true;
        expected.is_subscriber = true;
        assert_eq!(
            classify_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                // A /me action is never a command.
                command: None,
            }
        );
    }

    #[test]
    fn broadcaster_command_is_handed_over_with_escaped_display_name() {
        let line = r"@badge-info=;badges=broadcaster/1,premium/1;color=;display-name=Riot\sGames;emotes=;first-msg=0;flags=;id=bdfa278e-11c4-484f-9491-0a61b16fab60;mod=0;room-id=36029255;subscriber=0;tmi-sent-ts=1593953876927;turbo=0;user-id=36029255;user-type= :riotgames!riotgames@riotgames.tmi.twitch.tv PRIVMSG #riotgames :!raffle pause";
        let mut expected = viewer("riotgames", "36029255", "riotgames", "Riot Games");
        expected.is_broadcaster = true;
        assert_eq!(
            classify_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                command: Some(ChatCommand {
                    channel: login("riotgames"),
                    command: RaffleCommand::Pause,
                    requested_by: "riotgames".into(),
                    user_id: "36029255".into(),
                }),
            }
        );
    }

    #[test]
    fn viewer_raffle_command_is_ignored_but_counts_as_presence() {
        let line = "@badge-info=;badges=vip/1;color=;display-name=LeftSwing;emotes=;first-msg=1;flags=;id=5b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;returning-chatter=0;room-id=37940952;subscriber=0;tmi-sent-ts=1673925983585;turbo=0;user-id=133651738;user-type=;vip=1 :leftswing!leftswing@leftswing.tmi.twitch.tv PRIVMSG #retoon :!raffle now";
        let mut expected = viewer("retoon", "133651738", "leftswing", "LeftSwing");
        expected.is_vip = true;
        assert_eq!(
            classify_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                command: None,
            }
        );
    }

    #[test]
    fn reply_with_escaped_tags_and_founder_badge_parses() {
        let line = r"@badge-info=founder/3;badges=founder/0;client-nonce=cd56193132f934ac71b4d5ac488d4bd6;color=;display-name=LeftSwing;emotes=;first-msg=0;flags=;id=5b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;reply-parent-display-name=Retoon;reply-parent-msg-body=hello\sthere\:\sfriend;reply-parent-msg-id=6b13e51b-7ecb-43b5-ba5b-2bb5288df696;reply-parent-user-id=37940952;reply-parent-user-login=retoon;returning-chatter=0;room-id=37940952;subscriber=1;tmi-sent-ts=1673925983585;turbo=0;user-id=133651738;user-type= :leftswing!leftswing@leftswing.tmi.twitch.tv PRIVMSG #retoon :@Retoon yes";
        let mut expected = viewer("retoon", "133651738", "leftswing", "LeftSwing");
        expected.is_subscriber = true;
        assert_eq!(classify_line(line).event, Some(PresenceEvent::Message(expected)));
    }

    #[test]
    fn a_line_without_badge_info_is_read_from_the_raw_tags() {
        // From tmi.js's test suite: no badge-info tag at all.
        let line = "@badges=subscriber/12,premium/1;color=#008000;display-name=Schmoopiie;emotes=;id=e3b1d1c1-1c60-4b66-9a4a-2dbb5c3e7b89;mod=0;room-id=7009554;subscriber=1;tmi-sent-ts=1507246572675;turbo=0;user-id=4020330;user-type= :schmoopiie!schmoopiie@schmoopiie.tmi.twitch.tv PRIVMSG #dallas :!raffle now";
        let mut expected = viewer("dallas", "4020330", "schmoopiie", "Schmoopiie");
        expected.is_subscriber = true;
        assert_eq!(
            classify_refused_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                // A subscriber is not a moderator: no command.
                command: None,
            }
        );
    }

    #[test]
    fn a_broadcaster_line_without_badges_still_commands() {
        // No `badges` tag; the broadcaster is known by user-id == room-id.
        let line = "@badge-info=;color=;display-name=Dallas;emotes=;id=1;mod=0;room-id=7009554;subscriber=0;tmi-sent-ts=1507246572675;turbo=0;user-id=7009554;user-type= :dallas!dallas@dallas.tmi.twitch.tv PRIVMSG #dallas :!raffle pause";
        let mut expected = viewer("dallas", "7009554", "dallas", "Dallas");
        expected.is_broadcaster = true;
        assert_eq!(
            classify_refused_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                command: Some(ChatCommand {
                    channel: login("dallas"),
                    command: RaffleCommand::Pause,
                    requested_by: "dallas".into(),
                    user_id: "7009554".into(),
                }),
            }
        );
    }

    #[test]
    fn a_line_with_the_malformed_emotes_tag_twitch_still_sends_is_read_from_the_raw_tags() {
        let line = "@badge-info=;badges=moderator/1;color=;display-name=Modder;emotes=80481_/3:7-14;flags=;id=2;mod=1;room-id=11148817;subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=555;user-type=mod :modder!modder@modder.tmi.twitch.tv PRIVMSG #pajlada :\u{1}ACTION !raffle now\u{1}";
        let mut expected = viewer("pajlada", "555", "modder", "Modder");
        expected.is_moderator = true;
        assert_eq!(
            classify_refused_line(line),
            Classified {
                event: Some(PresenceEvent::Message(expected)),
                // An action is never a command, from the raw tags too.
                command: None,
            }
        );
    }

    #[test]
    fn a_refused_line_without_display_name_or_tmi_sent_ts_falls_back_to_the_login() {
        let line =
            "@badges=vip/1;room-id=11148817;user-id=556;vip=1 :quiet!quiet@quiet.tmi.twitch.tv PRIVMSG #pajlada :hello";
        let mut expected = viewer("pajlada", "556", "quiet", "quiet");
        expected.is_vip = true;
        assert_eq!(
            classify_refused_line(line).event,
            Some(PresenceEvent::Message(expected))
        );
    }

    #[test]
    fn a_refused_line_is_still_held_to_the_edge_rules() {
        // Shared chat from another room, a non-numeric id, no user-id at all.
        for line in [
            "@badges=;room-id=11148817;source-room-id=22;user-id=557 :guest!guest@guest.tmi.twitch.tv PRIVMSG #pajlada :hi",
            "@badges=;room-id=11148817;user-id=55x7 :odd!odd@odd.tmi.twitch.tv PRIVMSG #pajlada :hi",
            "@badges=;room-id=11148817 :anon!anon@anon.tmi.twitch.tv PRIVMSG #pajlada :hi",
        ] {
            assert_eq!(classify_refused_line(line), Classified::default(), "{line}");
        }
    }

    #[test]
    fn shared_chat_messages_from_another_room_are_not_presence() {
        let line = "@badge-info=;badges=;color=;display-name=Guest;emotes=;flags=;id=1b4f63a9-776f-4fce-bf3c-d9707f52e32d;mod=0;room-id=11148817;source-badge-info=;source-badges=;source-id=2b4f63a9-776f-4fce-bf3c-d9707f52e32d;source-room-id=22484632;subscriber=0;tmi-sent-ts=1594545155039;turbo=0;user-id=42;user-type= :guest!guest@guest.tmi.twitch.tv PRIVMSG #pajlada :hello";
        assert_eq!(classify_line(line), Classified::default());
    }

    #[test]
    fn clearchat_ban_and_timeout_become_ban_updates() {
        let ban = "@room-id=11148817;target-user-id=70948394;tmi-sent-ts=1594561360331 :tmi.twitch.tv CLEARCHAT #pajlada :weeb123";
        assert_eq!(
            classify_line(ban).event,
            Some(PresenceEvent::Ban(BanUpdate {
                channel: login("pajlada"),
                user_id: "70948394".into(),
                login: "weeb123".into(),
                at: now(),
                length: BanLength::Permanent,
            }))
        );
        let timeout = "@ban-duration=600;room-id=11148817;target-user-id=148973258;tmi-sent-ts=1594553828245 :tmi.twitch.tv CLEARCHAT #pajlada :fabzeef";
        assert_eq!(
            classify_line(timeout).event,
            Some(PresenceEvent::Ban(BanUpdate {
                channel: login("pajlada"),
                user_id: "148973258".into(),
                login: "fabzeef".into(),
                at: now(),
                length: BanLength::Until(now() + chrono::Duration::seconds(600)),
            }))
        );
        let clear = "@room-id=40286300;tmi-sent-ts=1594561392337 :tmi.twitch.tv CLEARCHAT #randers";
        assert_eq!(classify_line(clear), Classified::default());
    }

    #[test]
    fn roomstate_tells_the_channel_identity() {
        let line = "@emote-only=0;followers-only=-1;r9k=0;rituals=0;room-id=40286300;slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #randers";
        assert_eq!(
            classify_line(line).event,
            Some(PresenceEvent::ChannelIdentity {
                channel: login("randers"),
                twitch_user_id: "40286300".into(),
            })
        );
    }

    #[test]
    fn usernotice_is_not_presence() {
        let line = "@badge-info=subscriber/0;badges=subscriber/0,premium/1;color=;display-name=fallenseraphhh;emotes=;flags=;id=2a9bea11-a80a-49a0-a498-1642d457f775;login=fallenseraphhh;mod=0;msg-id=sub;msg-param-cumulative-months=1;msg-param-months=0;msg-param-should-share-streak=0;msg-param-sub-plan-name=Channel\\sSubscription\\s(xqcow);msg-param-sub-plan=Prime;room-id=71092938;subscriber=1;system-msg=fallenseraphhh\\ssubscribed\\swith\\sTwitch\\sPrime.;tmi-sent-ts=1582685713242;user-id=224005980;user-type= :tmi.twitch.tv USERNOTICE #xqcow";
        assert_eq!(classify_line(line), Classified::default());
    }

    #[tokio::test]
    async fn line_reader_skips_junk_and_overlong_lines() {
        let mut input = Vec::new();
        input.extend_from_slice(b"\r\n@ :broken\r\n");
        input.extend_from_slice(b"!!! garbage\r\n");
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        input.extend_from_slice(b"\r\n\xff\xfe PING\r\n");
        input.extend_from_slice(b":tmi.twitch.tv PING :tmi.twitch.tv\r\n");
        let reader = LineReader::new(&input[..], None);
        let messages: Vec<String> = futures::stream::unfold(reader, LineReader::next_message)
            .map(|item| item.map(|m| m.as_raw_irc()).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("no errors");
        assert_eq!(messages, vec![":tmi.twitch.tv PING tmi.twitch.tv".to_owned()]);
    }

    /// A TLS server on 127.0.0.1 with a certificate for `localhost` signed
    /// by a fresh test authority; answers one IRC line. Returns the port and
    /// the authority's certificate.
    async fn tls_irc_server() -> (u16, tokio_rustls::rustls::pki_types::CertificateDer<'static>) {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
        use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let ca_issuer = rcgen::Issuer::new(ca_params, ca_key);
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server_cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca_issuer)
            .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.is_ok() && line.starts_with("PING") {
                        let reply = line.replacen("PING", "PONG", 1);
                        let _ = stream.get_mut().write_all(reply.as_bytes()).await;
                        let _ = stream.get_mut().flush().await;
                    }
                });
            }
        });
        (port, ca.der().clone())
    }

    #[tokio::test]
    async fn tls_connection_verifies_the_server_and_carries_irc_lines() {
        use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
        let (port, authority) = tls_irc_server().await;
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(authority).unwrap();
        let stream = connect_tls_with_roots("localhost", port, roots, TLS_HANDSHAKE_TIMEOUT)
            .await
            .unwrap();
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(b"PING :tmi.twitch.tv\r\n").await.unwrap();
        stream.get_mut().flush().await.unwrap();
        let mut reply = String::new();
        stream.read_line(&mut reply).await.unwrap();
        assert_eq!(reply, "PONG :tmi.twitch.tv\r\n");
    }

    #[tokio::test]
    async fn tls_to_a_plain_tcp_server_times_out_suggesting_tcp() {
        // A plain IRC server waits for a line; it never answers the hello.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            std::future::pending::<()>().await;
            drop(socket);
        });
        let roots = tokio_rustls::rustls::RootCertStore::empty();
        let error = connect_tls_with_roots("localhost", port, roots, Duration::from_millis(200))
            .await
            .map(|_| "a connection")
            .unwrap_err();
        assert!(matches!(error, ConnectError::TlsTimeout { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .contains(&format!("TWITCH_IRC_SERVER=tcp://localhost:{port}")),
            "{error}"
        );
        held.abort();
    }

    #[test]
    fn connections_open_no_faster_than_joins_fill_them() {
        // Twitch's pace: filling 90 channels takes 45 s; the library's 2 s stays.
        assert_eq!(connection_spacing(20, 90), Duration::from_secs(2));
        // A benchmark's 9,000 joins per 10 s fill one every 100 ms.
        assert_eq!(connection_spacing(9_000, 90), Duration::from_millis(100));
        assert_eq!(connection_spacing(u32::MAX, 90), Duration::from_millis(50));
    }

    #[test]
    fn reconnects_back_off_from_one_second_to_a_minute() {
        let delays: Vec<u64> = (1..=9).map(|failed| reconnect_delay(failed).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(reconnect_delay(u32::MAX), RECONNECT_BACKOFF_CAP);
    }

    #[tokio::test]
    async fn usernotice_lines_are_not_passed_to_twitch_irc() {
        let input = b"@badge-info=;msg-id=brandnewkind;room-id=1 :tmi.twitch.tv USERNOTICE #chan\r\n:tmi.twitch.tv PING :tmi.twitch.tv\r\n";
        let reader = LineReader::new(&input[..], None);
        let messages: Vec<String> = futures::stream::unfold(reader, LineReader::next_message)
            .map(|item| item.map(|m| m.command).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("no errors");
        assert_eq!(messages, ["PING"]);
    }

    #[tokio::test]
    async fn tls_to_a_server_not_signed_by_a_public_authority_is_refused() {
        let (port, _) = tls_irc_server().await;
        // The production path trusts only the public web roots.
        match connect_tls("localhost", port).await {
            Err(ConnectError::Tls { address, .. }) => assert_eq!(address, format!("localhost:{port}")),
            other => panic!("expected a TLS error, got {:?}", other.map(|_| "a connection")),
        }
    }
}
