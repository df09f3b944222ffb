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

use crate::announce::chat_delivery::{ChatDeliveryConfig, ChatDeliveryWorker, ChatVoice};
use crate::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
use crate::catalog::SetupText;
use crate::channel::{ChannelLanguages, ChannelLeaser, ChannelLogin, ChannelSet, channel_language_refresher};
use crate::clock::Clock;
use crate::config::Settings;
use crate::discord::bot::{BotError, DiscordBot};
use crate::discord::interactions::{BotContext, ClaimOutage};
use crate::presence::tracker::{PresenceInbox, PresenceTracker};
use crate::raffle::RaffleEngine;
use crate::raffle::claims::{ClaimSweeper, ClaimSweeperConfig};
use crate::raffle::command::{ChatCommand, DrawLimiter, MANUAL_DRAW_INTERVAL, ManualDraws};
use crate::raffle::items::{ItemTable, ItemsError};
use crate::raffle::scheduler::{RaffleScheduler, handle_chat_commands};
use crate::store::{Database, Store};
use crate::supervisor::Supervisor;
use crate::twitch::auth::connect::{Connections, TwitchClients};
use crate::twitch::auth::manager::{TokenManager, TokenManagerConfig};
use crate::twitch::auth::token_cipher::TokenCipher;
use crate::twitch::auth::{TwitchAuth, token_key};
use crate::twitch::chat_sender::BotSpeaker;
use crate::twitch::chatters::ChattersPoller;
use crate::twitch::facts::TwitchFacts;
use crate::twitch::helix::HelixClient;
use crate::twitch::irc::{ChatHealth, ChatListener};
use crate::twitch::join_pacer::JoinStatus;
use crate::twitch::live_status::{CachedLiveStatus, DASHBOARD_LIVE_TTL, LiveStatus, UnknownLiveStatus};
use crate::web::server::{self, HttpLimits};
use crate::web::{Health, WebSetup, WebState};

/// Capacity of the chat-command queue from the chat listener to the raffle
/// engine; commands are rare, so a full queue means something is stuck and
/// the listener drops the command with a warning rather than waiting.
pub(crate) const CHAT_COMMAND_QUEUE: usize = 64;

/// How long in-flight HTTP requests get after shutdown begins.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the background tasks get to finish after shutdown begins: the
/// delivery worker's in-flight send (one whole webhook request plus
/// recording it), the token manager's cycle, the presence tracker's last
/// flush.
const TASK_DRAIN_TIMEOUT: Duration =
    Duration::from_secs(crate::announce::discord::DEFAULT_REQUEST_TIMEOUT.as_secs() + 5);

/// How long the chat listener gets to stop before presence is flushed.
const CHAT_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// How long the lease task gets to hand the channels back (one statement).
const LEASE_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The supervised task that holds this instance's channel leases; it stops
/// last, after every task that serves those channels.
const LEASE_TASK: &str = "channel leases";

/// The assembled application.
#[derive(Debug)]
pub struct App {
    settings: Settings,
    clock: Clock,
    database: Database,
    listener: tokio::net::TcpListener,
    port: u16,
    channels: ChannelSet,
    served: ChannelSet,
    engine: RaffleEngine,
    chat_command_tx: mpsc::Sender<ChatCommand>,
    chat_command_rx: mpsc::Receiver<ChatCommand>,
    delivery: DeliveryWorker,
    /// Says queued chat lines; `None` without Twitch credentials (the bot
    /// cannot speak then).
    chat_delivery: Option<ChatDeliveryWorker>,
    /// The Discord bot, its token checked; `None` without `DISCORD_BOT_TOKEN`.
    discord: Option<DiscordBot>,
    /// The manual-draw limit shared by chat commands and Discord.
    draws: ManualDraws,
    twitch: Option<TwitchClients>,
    token_manager: TokenManagerConfig,
    http_limits: HttpLimits,
    /// `ITEMS_FILE` when it does not exist: the bot runs and draws nothing.
    missing_prize_list: Option<String>,
    /// The channels' languages, shared by everything that speaks.
    languages: ChannelLanguages,
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

/// Account ages and follow state for the gates, from these Twitch clients.
fn twitch_facts(store: &Store, twitch: &TwitchClients) -> TwitchFacts {
    TwitchFacts::new(twitch.helix.clone(), store.clone(), twitch.cipher.clone())
}

/// `PUBLIC_URL/auth/twitch`: where a streamer connects their account.
fn connect_url(settings: &Settings) -> String {
    format!("{}/auth/twitch", settings.public_url.as_str().trim_end_matches('/'))
}

/// The Discord bot's failure as the error the CLI maps to an exit code: a
/// refused token is the setting's fault (exit 2).
fn bot_failure(error: BotError) -> anyhow::Error {
    match error {
        BotError::InvalidToken(config) => anyhow::Error::new(config),
        other => anyhow::Error::new(other).context("the Discord bot stopped"),
    }
}

/// Waits for the bot's task, or forever without a bot.
async fn bot_stopped(
    bot: &mut Option<tokio::task::JoinHandle<Result<(), BotError>>>,
) -> Result<Result<(), BotError>, tokio::task::JoinError> {
    match bot {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
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
        crate::metrics::set_instance(&settings.instances.id);
        // Read the prize list first: a bad file should fail before anything
        // starts. A missing one is a first run: start, say how to add
        // prizes, and draw nothing until there is a list.
        let (item_table, missing_prize_list) = match crate::config::load_items(&settings.items_file) {
            Ok(table) => (table, None),
            Err(ItemsError::Read { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
                (ItemTable::empty(), Some(path))
            }
            Err(e) => return Err(e.into()),
        };
        let database = Database::open(settings.database_url.as_ref(), &settings.data_dir)
            .await
            .context("could not open the database")?;
        let languages = settings.channel_languages();
        let prepared = async {
            database
                .store()
                .migrate()
                .await
                .context("could not migrate the database")?;
            languages
                .load(database.store())
                .await
                .context("could not read the channels' languages")?;
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
            let delivery = DeliveryWorker::new(database.store().clone(), destination, DeliveryConfig::default())
                .with_languages(languages.clone())
                .with_public_url(&settings.public_url);
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
                        languages: languages.clone(),
                    };
                    ChatDeliveryWorker::new(
                        database.store().clone(),
                        Arc::new(speaker),
                        voice,
                        ChatDeliveryConfig::default(),
                    )
                    .with_clock(clock.clone())
                });
                let mut engine = RaffleEngine::new(database.store().clone(), settings.channel_defaults.clone(), live)
                    .with_delivery_notifier(delivery.notifier());
                if let Some(twitch) = &twitch {
                    engine = engine.with_twitch_facts(twitch_facts(database.store(), twitch));
                }
                if let Some(chat) = &chat_delivery {
                    engine = engine.with_chat_notifier(chat.notifier());
                }
                let (chat_command_tx, chat_command_rx) = mpsc::channel(CHAT_COMMAND_QUEUE);
                // The channels this instance holds a lease on (the leaser fills it).
                let served = ChannelSet::new([]);
                let draws = ManualDraws::default();
                let discord = match &settings.discord_bot {
                    None => None,
                    Some(bot) => {
                        let context = BotContext {
                            engine: engine.clone(),
                            channels: channels.clone(),
                            served: served.clone(),
                            instance_id: Arc::from(settings.instances.id.as_str()),
                            claims: ClaimOutage::default(),
                            draws: draws.clone(),
                            clock: clock.clone(),
                            connect_url: connect_url(&settings),
                            connect_policy: settings.connect_policy,
                            admin_role: bot.admin_role,
                            languages: languages.clone(),
                        };
                        match DiscordBot::connect(bot.clone(), context).await {
                            Ok(bot) => Some(bot),
                            Err(e) => {
                                if let Err(close_error) = database.close().await {
                                    tracing::error!(error = %close_error, "could not stop the embedded database");
                                }
                                return Err(bot_failure(e));
                            }
                        }
                    }
                };
                Ok(Self {
                    settings,
                    clock,
                    database,
                    listener,
                    port,
                    channels,
                    served,
                    engine,
                    chat_command_tx,
                    chat_command_rx,
                    delivery,
                    chat_delivery,
                    discord,
                    draws,
                    twitch,
                    token_manager: TokenManagerConfig::default(),
                    http_limits: HttpLimits::default(),
                    missing_prize_list,
                    languages,
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

    /// The channels this instance may serve (configured and connected);
    /// it serves those it holds a lease on ([`App::served_channels`]).
    pub fn channels(&self) -> &ChannelSet {
        &self.channels
    }

    /// The channels this instance holds a lease on and serves now.
    pub fn served_channels(&self) -> &ChannelSet {
        &self.served
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
        connect_url(&self.settings)
    }

    /// Serves until `shutdown` is cancelled, then stops everything in order.
    ///
    /// Every background task runs under one [`Supervisor`] (restarted with
    /// backoff when it fails; see `supervisor`); the HTTP server is watched
    /// here. When a task keeps failing or the server stops by itself, the
    /// process stops in order and this returns the error, so `kinoyubot run`
    /// exits with code 1.
    ///
    /// # Errors
    ///
    /// When a background task kept failing, the HTTP server or the Discord
    /// bot stopped by itself (a refused bot token is a
    /// [`crate::config::ConfigError`]), or the embedded database fails to
    /// stop.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let connect_url = self.connect_url();
        let live_status = self.live_status();
        let supervisor = Supervisor::new(self.clock.clone(), shutdown.clone());
        // Stopped one after the other at shutdown (see below); each is a
        // child of `shutdown`, so a task that gives up stops them all.
        let stop_work = shutdown.child_token();
        let stop_chat = shutdown.child_token();
        let stop_presence = shutdown.child_token();
        // Chat, timers and tokens follow the channels this instance leases.
        let leaser = ChannelLeaser::new(
            self.database.store().clone(),
            self.settings.instances.clone(),
            self.channels.clone(),
            self.served.clone(),
        );
        let lease_status = leaser.status();
        // Not a child of `shutdown`: the leases go back last (see below).
        let leases_stop = CancellationToken::new();
        supervisor.spawn(LEASE_TASK, leases_stop.clone(), move |stop| leaser.clone().run(stop));

        // LANGUAGE is per channel: a change on another instance is read
        // back within a refresh, one here at once.
        let (languages, store, changes) = (
            self.languages.clone(),
            self.database.store().clone(),
            self.engine.watch_settings(),
        );
        supervisor.spawn("channel languages", stop_work.clone(), move |stop| {
            channel_language_refresher(languages.clone(), store.clone(), changes.clone(), stop)
        });

        // PRESENCE_SOURCES is per channel: the poller lists only channels
        // that use chatters, and idles while none does.
        match &self.twitch {
            Some(twitch) => {
                let poller = ChattersPoller::new(
                    self.database.store().clone(),
                    self.channels.clone(),
                    live_status.clone(),
                    twitch_facts(self.database.store(), twitch),
                    self.clock.clone(),
                )
                .following(self.engine.rules().clone(), self.engine.watch_settings());
                supervisor.spawn("chatters poller", stop_work.clone(), move |stop| {
                    poller.clone().run(stop)
                });
            }
            None if self.engine.rules().gates.presence_sources.includes_chatters() => tracing::warn!(
                "PRESENCE_SOURCES=chat,chatters needs TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET and a connected channel; only chat counts"
            ),
            None => {}
        }
        let scheduler = RaffleScheduler::new(
            self.engine.clone(),
            self.served.clone(),
            self.settings.channel_defaults.raffle_interval,
            self.clock.clone(),
            supervisor.clone(),
        );
        supervisor.spawn("raffle scheduler", stop_work.clone(), move |stop| {
            scheduler.clone().run(stop)
        });
        // Claim deadlines live in the database; the sweeper settles those of
        // the channels this instance serves.
        let sweeper = ClaimSweeper::new(self.engine.clone(), ClaimSweeperConfig::default(), self.served.clone());
        supervisor.spawn("claim sweeper", stop_work.clone(), move |stop| {
            sweeper.clone().run(stop)
        });
        let commands = Arc::new(tokio::sync::Mutex::new(self.chat_command_rx));
        let (engine, draws, served, clock) = (
            self.engine.clone(),
            self.draws.clone(),
            self.served.clone(),
            self.clock.clone(),
        );
        supervisor.spawn("chat commands", stop_work.clone(), move |stop| {
            let (commands, engine, draws, served, clock) = (
                Arc::clone(&commands),
                engine.clone(),
                draws.clone(),
                served.clone(),
                clock.clone(),
            );
            async move {
                let mut commands = commands.lock().await;
                handle_chat_commands(engine, &mut commands, draws, served, clock, stop).await;
            }
        });

        let (inbox, presence) = PresenceInbox::new();
        let chat_health = ChatHealth::starting(!self.served.current().is_empty());
        let presence_health = inbox.health();
        let store = self.database.store().clone();
        supervisor.spawn("presence tracker", stop_presence.clone(), move |stop| {
            PresenceTracker::from_inbox(store.clone(), inbox.clone()).run(stop)
        });
        let joins = JoinStatus::default();
        let chat = ChatListener::new(
            self.settings.twitch_irc_server.clone(),
            self.served.clone(),
            presence,
            self.chat_command_tx.clone(),
        )
        .with_joins(self.settings.instances.join_rate, joins.clone())
        .with_health(chat_health.clone());
        // The factory holds the last presence handle: once the listener's
        // task ends, the tracker's queue closes and it flushes at once.
        supervisor.spawn("chat listener", stop_chat.clone(), move |stop| chat.clone().run(stop));
        drop(self.chat_command_tx);

        let state = WebState {
            store: self.database.store().clone(),
            engine: self.engine.clone(),
            channels: self.channels.clone(),
            served: self.served.clone(),
            leases: lease_status.clone(),
            joins,
            connections: Connections::new(
                self.database.store().clone(),
                self.channels.clone(),
                Arc::from(self.settings.twitch_channels.clone()),
                self.settings.connect_policy,
                self.twitch.clone(),
            )
            .with_settings_defaults(self.engine.rules().clone()),
            admin_token: self.settings.admin_token.clone(),
            admin_guard: Arc::default(),
            live: CachedLiveStatus::new(live_status, DASHBOARD_LIVE_TTL),
            raffle_interval: self.settings.channel_defaults.raffle_interval,
            public_url: self.settings.public_url.clone(),
            session_ttl: self.settings.session_ttl,
            session_draws: Arc::new(std::sync::Mutex::new(DrawLimiter::new(MANUAL_DRAW_INTERVAL))),
            languages: self.languages.clone(),
            setup: WebSetup {
                announces_on_discord: self.settings.discord_webhook_url.is_some()
                    || self
                        .settings
                        .discord_bot
                        .as_ref()
                        .is_some_and(|bot| bot.channel_id.is_some()),
                missing_prize_list: self.missing_prize_list.clone(),
            },
            health: Health {
                chat: chat_health,
                presence: presence_health,
                supervisor: supervisor.clone(),
            },
        };
        match self.twitch.as_ref() {
            Some(twitch) => {
                let manager = Arc::new(
                    TokenManager::new(
                        self.database.store().clone(),
                        twitch.auth.clone(),
                        twitch.cipher.clone(),
                        self.token_manager,
                        connect_url.clone(),
                    )
                    .serving_only(self.served.clone())
                    .with_languages(self.languages.clone()),
                );
                supervisor.spawn("token manager", stop_work.clone(), move |stop| {
                    let manager = Arc::clone(&manager);
                    async move { manager.serve(&stop).await }
                });
            }
            None => {
                tracing::info!(
                    "TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET unset: Connect with Twitch and live status are off"
                );
            }
        }
        let delivery = Arc::new(self.delivery);
        supervisor.spawn("delivery worker", stop_work.clone(), move |stop| {
            let delivery = Arc::clone(&delivery);
            async move { delivery.serve(&stop).await }
        });
        let mut server = tokio::spawn(server::serve(self.listener, state, self.http_limits, shutdown.clone()));
        match self.chat_delivery {
            Some(worker) => {
                let worker = worker.serving_only(self.served.clone());
                supervisor.spawn("chat delivery", stop_work.clone(), move |stop| worker.clone().run(stop));
            }
            None => tracing::info!("TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET unset: the bot cannot speak in chat"),
        }
        // The bot answers slash commands for the served channels; its task
        // ends only on a refused token or a close that forbids reconnecting.
        let mut discord = self.discord.map(|bot| tokio::spawn(bot.run(shutdown.clone())));
        if discord.is_none() {
            tracing::info!("DISCORD_BOT_TOKEN unset: no Discord slash commands");
        }
        let mut failure = None;
        // The start-up hints are for the streamer: in `LANGUAGE`.
        let language = self.settings.language;
        let dashboard = format!("{}/", self.settings.public_url.as_str().trim_end_matches('/'));
        tracing::info!(
            port = self.port,
            %dashboard,
            "{}",
            language.say(&SetupText::DashboardAt { url: &dashboard })
        );
        if self.channels.current().is_empty() {
            tracing::info!(%dashboard, "{}", language.say(&SetupText::NoChannelsYet));
        }
        if let Some(path) = &self.missing_prize_list {
            tracing::warn!(items_file = %path, "{}", language.say(&SetupText::NoPrizeList { path }));
        }

        let mut server_failure = None;
        tokio::select! {
            // A shutdown also ends the server: that is not a failure.
            biased;
            _ = shutdown.cancelled() => {}
            result = &mut server, if !shutdown.is_cancelled() => {
                // The server only ends by itself if its task failed.
                let failure = match result {
                    Ok(()) => anyhow::anyhow!("the HTTP server stopped unexpectedly"),
                    Err(e) => anyhow::anyhow!("the HTTP server stopped unexpectedly: {e}"),
                };
                tracing::error!(error = %failure, "stopping");
                server_failure = Some(failure);
                shutdown.cancel();
            }
            result = bot_stopped(&mut discord) => {
                // Its handle has answered: polling it again would panic.
                discord = None;
                let stopped = match result {
                    Ok(Ok(())) => anyhow::anyhow!("the Discord bot stopped unexpectedly"),
                    Ok(Err(e)) => bot_failure(e),
                    Err(e) => anyhow::anyhow!("the Discord bot's task failed: {e}"),
                };
                tracing::error!(error = %stopped, "the Discord bot stopped; shutting down");
                failure = Some(stopped);
                shutdown.cancel();
            }
        }
        if !server.is_finished() && tokio::time::timeout(HTTP_DRAIN_TIMEOUT, &mut server).await.is_err() {
            tracing::warn!("HTTP connections still open after {HTTP_DRAIN_TIMEOUT:?}; closing them");
            server.abort();
        }
        // Rounds in flight finish (each is one short transaction); the
        // delivery worker finishes and records its in-flight send (an
        // unfinished row stays pending for the next start); the token
        // manager finishes its cycle. Then chat stops feeding presence, and
        // the presence buffer is flushed last, while the database is up.
        stop_work.cancel();
        stop_chat.cancel();
        if let Err(running) = supervisor.wait_for(&["chat listener"], CHAT_DRAIN_TIMEOUT).await {
            tracing::warn!(tasks = ?running, "chat still stopping after {CHAT_DRAIN_TIMEOUT:?}");
        }
        stop_presence.cancel();
        let others: Vec<String> = supervisor
            .tasks()
            .into_keys()
            .filter(|name| name != LEASE_TASK)
            .collect();
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        if let Err(running) = supervisor.wait_for(&others, TASK_DRAIN_TIMEOUT).await {
            tracing::warn!(tasks = ?running, "background tasks still busy after {TASK_DRAIN_TIMEOUT:?}; stopping anyway");
        }
        // Answers to slash commands in flight finish too.
        if let Some(bot) = discord {
            match bot.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "the Discord bot failed while stopping"),
                Err(e) => tracing::error!(error = %e, "the Discord bot's task failed"),
            }
        }
        // Then the leases go back, so another instance takes the channels at once.
        leases_stop.cancel();
        if let Err(running) = supervisor.wait(LEASE_DRAIN_TIMEOUT).await {
            tracing::warn!(tasks = ?running, "still busy after {LEASE_DRAIN_TIMEOUT:?}; stopping anyway");
        }
        self.database.close().await.context("could not stop the database")?;
        if let Some(fatal) = supervisor.fatal() {
            return Err(anyhow::Error::new(fatal));
        }
        if let Some(failure) = server_failure {
            return Err(failure);
        }
        tracing::info!("stopped");
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
