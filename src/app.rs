//! Builds every part of the running bot and runs it until shutdown.
//!
//! [`App::build`] opens the database (embedded or not), migrates it and binds
//! the HTTP listener, so `port()` is known before anything runs (tests bind
//! port 0). It is given the [`Clock`] every part reckons domain time on: the
//! system clock in production, a driven one in timer tests. [`App::run_until_stopped`] serves until the shutdown token fires,
//! then stops the server, closes the pool and stops the embedded PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::announce::chat_delivery::{ChatDeliveryConfig, ChatDeliveryWorker, ChatVoice};
use crate::announce::chat_text::Language;
use crate::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
use crate::channel::{ChannelLogin, ChannelSet};
use crate::clock::Clock;
use crate::config::Settings;
use crate::presence::tracker::PresenceTracker;
use crate::raffle::claims::{ClaimSweeper, ClaimSweeperConfig};
use crate::raffle::command::ChatCommand;
use crate::raffle::scheduler::{RaffleScheduler, handle_chat_commands};
use crate::raffle::{RaffleEngine, RaffleRules};
use crate::store::{Database, Store};
use crate::twitch::auth::connect::{Connections, TwitchClients};
use crate::twitch::auth::manager::{TokenManager, TokenManagerConfig};
use crate::twitch::auth::token_cipher::TokenCipher;
use crate::twitch::auth::{TwitchAuth, token_key};
use crate::twitch::chat_sender::BotSpeaker;
use crate::twitch::helix::HelixClient;
use crate::twitch::irc::ChatListener;
use crate::twitch::live_status::{CachedLiveStatus, DASHBOARD_LIVE_TTL, LiveStatus, UnknownLiveStatus};
use crate::web::WebState;
use crate::web::server::{self, HttpLimits};

/// Capacity of the chat-command queue from the chat listener to the raffle
/// engine; commands are rare, so a full queue means something is stuck and
/// the listener drops the command with a warning rather than waiting.
pub(crate) const CHAT_COMMAND_QUEUE: usize = 64;

/// How long in-flight HTTP requests get after shutdown begins.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the delivery worker gets to finish its in-flight send after
/// shutdown begins: one whole webhook request plus recording it.
const DELIVERY_DRAIN_TIMEOUT: Duration =
    Duration::from_secs(crate::announce::discord::DEFAULT_REQUEST_TIMEOUT.as_secs() + 5);

/// How long the token manager gets to finish a cycle after shutdown begins.
const TOKEN_MANAGER_DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The assembled application.
#[derive(Debug)]
pub struct App {
    settings: Settings,
    clock: Clock,
    database: Database,
    listener: tokio::net::TcpListener,
    port: u16,
    channels: ChannelSet,
    engine: RaffleEngine,
    chat_command_tx: mpsc::Sender<ChatCommand>,
    chat_command_rx: mpsc::Receiver<ChatCommand>,
    delivery: DeliveryWorker,
    /// Says queued chat lines; `None` without Twitch credentials (the bot
    /// cannot speak then).
    chat_delivery: Option<ChatDeliveryWorker>,
    twitch: Option<TwitchClients>,
    token_manager: TokenManagerConfig,
    http_limits: HttpLimits,
}

/// "Is this stream live?" for a one-off command (`kinoyubot draw`): Helix
/// when Twitch credentials are set, otherwise never configured.
pub(crate) fn live_status_from_settings(settings: &Settings) -> anyhow::Result<Arc<dyn LiveStatus>> {
    Ok(match TwitchAuth::from_settings(settings)? {
        Some(auth) => Arc::new(HelixClient::new(auth, settings.twitch_api_url.clone())),
        None => Arc::new(UnknownLiveStatus),
    })
}

/// Builds the Twitch clients and reads (or creates) the token key.
fn build_twitch(settings: &Settings) -> anyhow::Result<Option<TwitchClients>> {
    let Some(auth) = TwitchAuth::from_settings(settings)? else {
        return Ok(None);
    };
    let key = token_key::load_or_create(settings.token_key.as_ref(), &settings.data_dir)
        .context("could not get the key that encrypts Twitch tokens")?;
    let helix = Arc::new(HelixClient::new(auth.clone(), settings.twitch_api_url.clone()));
    Ok(Some(TwitchClients {
        auth,
        cipher: TokenCipher::new(&key),
        helix,
    }))
}

impl App {
    /// Reads the items file, opens and migrates the database, synchronises
    /// the items into it and binds `HTTP_ADDR`. The raffle timers run on
    /// `clock` ([`Clock::system`] outside tests).
    ///
    /// # Errors
    ///
    /// When the items file is invalid (an [`crate::raffle::items::ItemsError`]
    /// in the chain), the database cannot be opened or migrated, or the
    /// address cannot be bound. The embedded server, if started, is stopped
    /// before returning.
    pub async fn build(settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        // Installed before anything runs so no count is lost; later builds
        // in the same process (tests) share it.
        crate::metrics::handle();
        // Read the prize list first: a bad file should fail before anything starts.
        let item_table = crate::config::load_items(&settings.items_file)?;
        let database = Database::open(settings.database_url.as_ref(), &settings.data_dir)
            .await
            .context("could not open the database")?;
        let prepared = async {
            database
                .store()
                .migrate()
                .await
                .context("could not migrate the database")?;
            let listener = tokio::net::TcpListener::bind(settings.http_addr)
                .await
                .with_context(|| format!("HTTP_ADDR: could not listen on {}", settings.http_addr))?;
            let port = listener.local_addr().context("HTTP listener has no address")?.port();
            database
                .store()
                .sync_items(&item_table)
                .await
                .context("could not store the items")?;
            // Served channels: configured ones plus every connected streamer.
            let connected = database
                .store()
                .connected_channels()
                .await
                .context("could not list connected channels")?;
            let mut initial = settings.twitch_channels.clone();
            for record in connected {
                match ChannelLogin::parse(&record.login) {
                    Ok(login) => initial.push(login),
                    Err(e) => tracing::warn!(login = %record.login, error = %e, "skipping stored channel"),
                }
            }
            // Built here so a webhook client that cannot be set up stops the start.
            let destination =
                Destination::from_settings(&settings).context("DISCORD_WEBHOOK_URL: could not set up delivery")?;
            let delivery = DeliveryWorker::new(database.store().clone(), destination, DeliveryConfig::default());
            let twitch = build_twitch(&settings)?;
            anyhow::Ok((listener, port, ChannelSet::new(initial), delivery, twitch))
        }
        .await;
        match prepared {
            Ok((listener, port, channels, delivery, twitch)) => {
                let live: Arc<dyn LiveStatus> = match &twitch {
                    Some(twitch) => twitch.helix.clone(),
                    None => Arc::new(UnknownLiveStatus),
                };
                let chat_delivery = twitch.as_ref().map(|twitch| {
                    let speaker = BotSpeaker::new(
                        database.store().clone(),
                        twitch.auth.clone(),
                        twitch.cipher.clone(),
                        settings.twitch_api_url.clone(),
                    );
                    let voice = ChatVoice {
                        public_url: settings.public_url.as_str().trim_end_matches('/').to_owned(),
                        languages: std::collections::HashMap::new(),
                        default_language: Language::default(),
                    };
                    ChatDeliveryWorker::new(
                        database.store().clone(),
                        Arc::new(speaker),
                        voice,
                        ChatDeliveryConfig::default(),
                    )
                    .with_clock(clock.clone())
                });
                let mut engine =
                    RaffleEngine::new(database.store().clone(), RaffleRules::from_settings(&settings), live)
                        .with_delivery_notifier(delivery.notifier());
                if let Some(chat) = &chat_delivery {
                    engine = engine.with_chat_notifier(chat.notifier());
                }
                let (chat_command_tx, chat_command_rx) = mpsc::channel(CHAT_COMMAND_QUEUE);
                Ok(Self {
                    settings,
                    clock,
                    database,
                    listener,
                    port,
                    channels,
                    engine,
                    chat_command_tx,
                    chat_command_rx,
                    delivery,
                    chat_delivery,
                    twitch,
                    token_manager: TokenManagerConfig::default(),
                    http_limits: HttpLimits::default(),
                })
            }
            Err(e) => {
                if let Err(close_error) = database.close().await {
                    tracing::error!(error = %close_error, "could not stop the embedded database");
                }
                Err(e)
            }
        }
    }

    /// Replaces the token manager's timings (tests use short ones).
    #[must_use]
    pub fn with_token_manager_config(mut self, config: TokenManagerConfig) -> Self {
        self.token_manager = config;
        self
    }

    /// Replaces the chat worker's timings and rate limits (tests shorten
    /// Twitch's window).
    #[must_use]
    pub fn with_chat_delivery_config(mut self, config: ChatDeliveryConfig) -> Self {
        self.chat_delivery = self.chat_delivery.map(|worker| worker.with_config(config));
        self
    }

    /// Replaces the HTTP server's limits (tests use small ones).
    #[must_use]
    pub fn with_http_limits(mut self, limits: HttpLimits) -> Self {
        self.http_limits = limits;
        self
    }

    /// The bound HTTP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.database.store()
    }

    /// The channels this instance serves.
    pub fn channels(&self) -> &ChannelSet {
        &self.channels
    }

    /// The raffle engine (every trigger goes through it).
    pub fn engine(&self) -> &RaffleEngine {
        &self.engine
    }

    /// "Is this stream live?": Helix when Twitch credentials are set,
    /// otherwise an answer that is always "unknown".
    pub fn live_status(&self) -> Arc<dyn LiveStatus> {
        match &self.twitch {
            Some(twitch) => twitch.helix.clone(),
            None => Arc::new(UnknownLiveStatus),
        }
    }

    /// The URL a streamer opens to connect (or reconnect) their account.
    fn connect_url(&self) -> String {
        format!(
            "{}/auth/twitch",
            self.settings.public_url.as_str().trim_end_matches('/')
        )
    }

    /// Serves until `shutdown` is cancelled, then stops everything in order.
    ///
    /// # Errors
    ///
    /// When the embedded database fails to stop.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let connect_url = self.connect_url();
        let live_status = self.live_status();
        let tasks = TaskTracker::new();
        tasks.spawn(
            RaffleScheduler::new(
                self.engine.clone(),
                self.channels.clone(),
                self.settings.raffle_interval,
                self.clock.clone(),
            )
            .run(shutdown.clone()),
        );
        tasks.spawn(ClaimSweeper::new(self.engine.clone(), ClaimSweeperConfig::default()).run(shutdown.clone()));
        tasks.spawn(handle_chat_commands(
            self.engine.clone(),
            self.chat_command_rx,
            self.clock.clone(),
            self.settings.raffle_interval,
            shutdown.clone(),
        ));
        tasks.close();
        let (presence_tracker, presence) = PresenceTracker::new(self.database.store().clone());
        let chat = ChatListener::new(
            self.settings.twitch_irc_server.clone(),
            self.channels.clone(),
            presence,
            self.chat_command_tx.clone(),
        );
        let presence_tracker = tokio::spawn(presence_tracker.run(shutdown.clone()));
        let chat = tokio::spawn(chat.run(shutdown.clone()));

        let state = WebState {
            store: self.database.store().clone(),
            engine: self.engine.clone(),
            channels: self.channels.clone(),
            connections: Connections::new(
                self.database.store().clone(),
                self.channels.clone(),
                Arc::from(self.settings.twitch_channels.clone()),
                self.settings.connect_policy,
                self.twitch.clone(),
            ),
            admin_token: self.settings.admin_token.clone(),
            admin_guard: Arc::default(),
            live: CachedLiveStatus::new(live_status, DASHBOARD_LIVE_TTL),
            raffle_interval: self.settings.raffle_interval,
            public_url: self.settings.public_url.clone(),
        };
        let token_manager = self.twitch.as_ref().map(|twitch| {
            let manager = TokenManager::new(
                self.database.store().clone(),
                twitch.auth.clone(),
                twitch.cipher.clone(),
                self.token_manager,
                connect_url.clone(),
            );
            tokio::spawn(manager.run(shutdown.clone()))
        });
        if token_manager.is_none() {
            tracing::info!("TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET unset: Connect with Twitch and live status are off");
        }
        let mut server = tokio::spawn(server::serve(self.listener, state, self.http_limits, shutdown.clone()));
        let mut delivery = tokio::spawn(self.delivery.run(shutdown.clone()));
        let chat_delivery = match self.chat_delivery {
            Some(worker) => Some(tokio::spawn(worker.run(shutdown.clone()))),
            None => {
                tracing::info!("TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET unset: the bot cannot speak in chat");
                None
            }
        };
        tracing::info!(port = self.port, "kinoyubot running");
        if self.channels.current().is_empty() {
            tracing::info!(
                dashboard = %self.settings.public_url,
                "no channels yet: set TWITCH_CHANNELS (or --channel), or connect a Twitch account on the dashboard"
            );
        }

        tokio::select! {
            _ = shutdown.cancelled() => {}
            result = &mut server => {
                // The server only ends by itself if its task failed.
                if let Err(e) = result {
                    tracing::error!(error = %e, "HTTP server stopped unexpectedly");
                }
                shutdown.cancel();
            }
        }
        // Rounds in flight finish (each is one short transaction).
        tasks.wait().await;
        if !server.is_finished() && tokio::time::timeout(HTTP_DRAIN_TIMEOUT, &mut server).await.is_err() {
            tracing::warn!("HTTP connections still open after {HTTP_DRAIN_TIMEOUT:?}; closing them");
            server.abort();
        }
        // The worker finishes its in-flight send and records it before the
        // database closes; an unfinished row stays pending for the next start.
        match tokio::time::timeout(DELIVERY_DRAIN_TIMEOUT, &mut delivery).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "delivery worker stopped unexpectedly"),
            Err(_) => {
                tracing::warn!("delivery still busy after {DELIVERY_DRAIN_TIMEOUT:?}; stopping it");
                delivery.abort();
            }
        }
        if let Some(mut chat_delivery) = chat_delivery
            && tokio::time::timeout(DELIVERY_DRAIN_TIMEOUT, &mut chat_delivery)
                .await
                .is_err()
        {
            tracing::warn!("chat worker still busy after {DELIVERY_DRAIN_TIMEOUT:?}; stopping it");
            chat_delivery.abort();
        }
        if let Some(mut manager) = token_manager
            && tokio::time::timeout(TOKEN_MANAGER_DRAIN_TIMEOUT, &mut manager)
                .await
                .is_err()
        {
            tracing::warn!("token manager still busy after {TOKEN_MANAGER_DRAIN_TIMEOUT:?}; stopping it");
            manager.abort();
        }
        // Chat first (it stops feeding presence), then the presence buffer
        // is flushed last, while the database is still up.
        match chat.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "chat listener failed"),
            Err(e) => tracing::error!(error = %e, "chat listener task failed"),
        }
        if let Err(e) = presence_tracker.await {
            tracing::error!(error = %e, "presence tracker task failed");
        }
        self.database.close().await.context("could not stop the database")?;
        tracing::info!("stopped");
        Ok(())
    }
}
