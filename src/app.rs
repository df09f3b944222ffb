//! Builds every part of the running bot and runs it until shutdown.
//!
//! [`App::build`] opens the database (embedded or not), migrates it and binds
//! the HTTP listener, so `port()` is known before anything runs (tests bind
//! port 0). [`App::run_until_stopped`] serves until the shutdown token fires,
//! then stops the server, closes the pool and stops the embedded PostgreSQL.

use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::channel_set::ChannelSet;
use crate::config::Settings;
use crate::domain::chat_command::ChatCommand;
use crate::presence_tracker::PresenceTracker;
use crate::store::{Database, Store, channels};
use crate::twitch::irc::ChatListener;
use crate::web::routes::{WebState, routes};

/// Capacity of the chat-command queue from the chat listener to the raffle
/// engine; commands are rare, so a full queue means something is stuck and
/// the listener drops the command with a warning rather than waiting.
pub const CHAT_COMMAND_QUEUE: usize = 64;

/// How long in-flight HTTP requests get after shutdown begins.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// The assembled application.
#[derive(Debug)]
pub struct App {
    settings: Settings,
    database: Database,
    listener: tokio::net::TcpListener,
    port: u16,
    channels: ChannelSet,
    /// Where the chat listener sends permitted `!raffle` commands.
    chat_command_tx: mpsc::Sender<ChatCommand>,
    // taken by the raffle scheduler
    chat_command_rx: Option<mpsc::Receiver<ChatCommand>>,
}

impl App {
    /// Opens and migrates the database and binds `HTTP_ADDR`.
    ///
    /// # Errors
    ///
    /// When the database cannot be opened or migrated, or the address cannot
    /// be bound. The embedded server, if started, is stopped before returning.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
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
            // Served channels: configured ones plus every connected streamer.
            let client = database.store().pool().get().await.context("database connection")?;
            let connected = channels::list_connected(&client)
                .await
                .context("could not list connected channels")?;
            let mut initial = settings.twitch_channels.clone();
            for record in connected {
                match crate::domain::channel::ChannelLogin::parse(&record.login) {
                    Ok(login) => initial.push(login),
                    Err(e) => tracing::warn!(login = %record.login, error = %e, "skipping stored channel"),
                }
            }
            anyhow::Ok((listener, port, ChannelSet::new(initial)))
        }
        .await;
        match prepared {
            Ok((listener, port, channels)) => {
                let (chat_command_tx, chat_command_rx) = mpsc::channel(CHAT_COMMAND_QUEUE);
                Ok(Self {
                    settings,
                    database,
                    listener,
                    port,
                    channels,
                    chat_command_tx,
                    chat_command_rx: Some(chat_command_rx),
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

    /// The settings the app was built from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The `!raffle` commands from chat, for the raffle engine; `None` once
    /// taken. Untaken, the receiver is dropped when the app runs and the
    /// chat listener logs a warning for each command.
    pub fn take_chat_commands(&mut self) -> Option<mpsc::Receiver<ChatCommand>> {
        self.chat_command_rx.take()
    }

    /// Serves until `shutdown` is cancelled, then stops everything in order.
    ///
    /// # Errors
    ///
    /// When the embedded database fails to stop.
    pub async fn run_until_stopped(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Nobody took the chat commands: drop the receiver (see take_chat_commands).
        drop(self.chat_command_rx.take());
        let (tracker, presence) = PresenceTracker::new(self.database.store().clone());
        let chat = ChatListener::new(
            self.settings.twitch_irc_server.clone(),
            self.channels.clone(),
            presence,
            self.chat_command_tx.clone(),
        );
        let tracker = tokio::spawn(tracker.run(shutdown.clone()));
        let chat = tokio::spawn(chat.run(shutdown.clone()));

        let state = WebState {
            store: self.database.store().clone(),
        };
        let server_shutdown = shutdown.clone();
        let server = warp::serve(routes(state))
            .incoming(self.listener)
            .graceful(async move { server_shutdown.cancelled().await })
            .run();
        let mut server = tokio::spawn(server);
        tracing::info!(port = self.port, "kinoyubot running");

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
        if !server.is_finished() && tokio::time::timeout(HTTP_DRAIN_TIMEOUT, &mut server).await.is_err() {
            tracing::warn!("HTTP connections still open after {HTTP_DRAIN_TIMEOUT:?}; closing them");
            server.abort();
        }
        // Chat first (it stops feeding presence), then the presence buffer
        // is flushed last, while the database is still up.
        match chat.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "chat listener failed"),
            Err(e) => tracing::error!(error = %e, "chat listener task failed"),
        }
        if let Err(e) = tracker.await {
            tracing::error!(error = %e, "presence tracker task failed");
        }
        self.database.close().await.context("could not stop the database")?;
        tracing::info!("stopped");
        Ok(())
    }
}
