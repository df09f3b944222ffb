//! Start-up and the Gateway connection of the Discord bot (SPEC §12).
//!
//! [`DiscordBot::connect`] runs while the app is built: it asks Discord who
//! the bot is (`GET /applications/@me`), so a refused token stops the start
//! with a [`ConfigError`] naming `DISCORD_BOT_TOKEN` (exit code 2) before
//! anything else runs. [`DiscordBot::run`] then registers `/raffle` (bulk
//! overwrite: in `DISCORD_GUILD_ID`, else globally), retrying with backoff
//! while Discord is unreachable, and reads the Gateway until shutdown.
//!
//! The Gateway is twilight-gateway's `Shard`, intents `GUILDS` only: it
//! sends heartbeats at Discord's interval and reconnects when one is not
//! acknowledged, resumes after a dropped connection or opcode 7
//! (Reconnect), identifies afresh after opcode 9 (Invalid Session), waits
//! for Discord's identify and command rate limits, and ends on a close code
//! that forbids reconnecting. A close with 4004 (Authentication failed)
//! ends the bot with [`BotError::InvalidToken`]; other fatal closes with
//! [`BotError::Closed`]. REST calls go through twilight-http, whose
//! rate limiter waits for the buckets Discord announces.
//!
//! Each interaction is answered on its own task (`interactions`), so a
//! slow draw never delays reading the Gateway, whose heartbeats must keep
//! flowing.
//!
//! The token is a [`BotToken`]: handed to twilight only, never logged.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use twilight_gateway::{CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _};
use twilight_http::Client;
use twilight_http::error::ErrorType;
use twilight_model::gateway::CloseCode;
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

use super::commands;
use super::interactions::{self, BotContext};
use crate::config::{ConfigError, DiscordBotSettings};
use crate::retry::RetryPolicy;

/// How long a REST call to Discord may take.
const REST_TIMEOUT: Duration = Duration::from_secs(10);
/// Retrying the command registration while Discord is unreachable.
const REGISTER_RETRY: RetryPolicy = RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60));
/// Gateway close code: the token was refused.
const AUTHENTICATION_FAILED: u16 = 4004;
/// How long answers in flight get after shutdown begins.
const INTERACTION_DRAIN: Duration = Duration::from_secs(5);

/// Why the bot stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// Discord refused the token (401, or Gateway close code 4004).
    #[error(transparent)]
    InvalidToken(#[from] ConfigError),
    /// Discord could not be reached or answered with an error at start-up.
    #[error("could not ask Discord who the bot is: {0}")]
    Start(String),
    /// The Gateway closed with a code that forbids reconnecting.
    #[error("Discord closed the Gateway connection for good: {0}")]
    Closed(String),
}

fn invalid_token(how: &str) -> ConfigError {
    ConfigError::new(
        "DISCORD_BOT_TOKEN",
        format!("Discord refused the bot token ({how}); copy it again from the Developer Portal (Bot → Reset Token)"),
    )
}

/// Whether a twilight-http error is Discord refusing the token.
fn is_unauthorized(error: &twilight_http::Error) -> bool {
    match error.kind() {
        ErrorType::Unauthorized => true,
        ErrorType::Response { status, .. } => status.get() == 401,
        _ => false,
    }
}

/// A short description of a twilight-http error: its kind and status,
/// never a header (the token is one) nor a URL (an interaction's token is
/// in its path).
pub(super) fn describe(error: &twilight_http::Error) -> String {
    match error.kind() {
        ErrorType::Response { status, error, .. } => format!("Discord answered {}: {error}", status.get()),
        ErrorType::RequestTimedOut => "the request timed out".to_owned(),
        ErrorType::RequestError => "the request failed (network)".to_owned(),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

/// A Gateway error without the event it could not read: that event may be
/// an interaction, whose token answers it for 15 minutes.
fn describe_gateway(error: &twilight_gateway::error::ReceiveMessageError) -> String {
    use std::error::Error as _;
    match error.kind() {
        twilight_gateway::error::ReceiveMessageErrorType::Deserializing { event } => format!(
            "a Gateway event of {} bytes could not be read: {}",
            event.len(),
            error.source().map(ToString::to_string).unwrap_or_default()
        ),
        _ => error.to_string(),
    }
}

/// The bot, its token checked, ready to run.
#[derive(Clone)]
pub struct DiscordBot {
    http: Arc<Client>,
    application_id: Id<ApplicationMarker>,
    settings: DiscordBotSettings,
    context: BotContext,
}

impl std::fmt::Debug for DiscordBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordBot")
            .field("application_id", &self.application_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The id the bot's application has (`GET /applications/@me`); only the id
/// is read, so fields Discord adds or drops do not matter.
#[derive(serde::Deserialize)]
struct ApplicationId {
    id: Id<ApplicationMarker>,
}

fn http_client(settings: &DiscordBotSettings) -> Client {
    let mut builder = Client::builder()
        .token(settings.token.expose().to_owned())
        .timeout(REST_TIMEOUT);
    let api = &settings.api_url;
    if api.host_str() != Some("discord.com") {
        // twilight's "proxy": the host (and port) that stands in for discord.com.
        let host = api.host_str().unwrap_or_default();
        let authority = match api.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        builder = builder.proxy(authority, api.scheme() == "http");
    }
    builder.build()
}

impl DiscordBot {
    /// Checks the token with Discord and learns the application id.
    ///
    /// # Errors
    ///
    /// [`BotError::InvalidToken`] (a [`ConfigError`] naming
    /// `DISCORD_BOT_TOKEN`) when Discord refuses the token;
    /// [`BotError::Start`] when Discord cannot be asked.
    pub(crate) async fn connect(settings: DiscordBotSettings, context: BotContext) -> Result<Self, BotError> {
        install_crypto_provider();
        let http = http_client(&settings);
        let response = http.current_user_application().await.map_err(|e| {
            if is_unauthorized(&e) {
                BotError::InvalidToken(invalid_token("401 Unauthorized on GET /applications/@me"))
            } else {
                BotError::Start(describe(&e))
            }
        })?;
        let bytes = response.bytes().await.map_err(|e| BotError::Start(e.to_string()))?;
        let application: ApplicationId = serde_json::from_slice(&bytes)
            .map_err(|e| BotError::Start(format!("GET /applications/@me gave no application id: {e}")))?;
        tracing::info!(application_id = %application.id, "Discord bot token accepted");
        Ok(Self {
            http: Arc::new(http),
            application_id: application.id,
            settings,
            context,
        })
    }

    /// Registers the commands, then answers interactions until `shutdown`.
    ///
    /// # Errors
    ///
    /// [`BotError::InvalidToken`] when the Gateway refuses the token (close
    /// code 4004) or a REST call is answered 401; [`BotError::Closed`] for
    /// any other close code that forbids reconnecting.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BotError> {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            registered = self.register_commands() => registered?,
        }
        let gateway = self.settings.gateway_url.as_str().trim_end_matches('/').to_owned();
        let config = ConfigBuilder::new(self.settings.token.expose().to_owned(), Intents::GUILDS)
            .proxy_url(gateway)
            .build();
        let mut shard = Shard::with_config(ShardId::ONE, config);
        // Close frames are always delivered (no flag needed).
        let wanted = EventTypeFlags::READY
            | EventTypeFlags::RESUMED
            | EventTypeFlags::INTERACTION_CREATE
            | EventTypeFlags::GATEWAY_RECONNECT
            | EventTypeFlags::GATEWAY_INVALIDATE_SESSION;
        let answers = TaskTracker::new();
        let outcome = loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                event = shard.next_event(wanted) => event,
            };
            match event {
                None => break Err(BotError::Closed("the Gateway connection ended".to_owned())),
                Some(Err(e)) => {
                    // twilight reconnects by itself; this is only reported.
                    tracing::warn!(error = %describe_gateway(&e), "Discord Gateway error; reconnecting");
                }
                Some(Ok(Event::Ready(ready))) => {
                    tracing::info!(guilds = ready.guilds.len(), "Discord Gateway ready (identified)");
                }
                Some(Ok(Event::Resumed)) => tracing::info!("Discord Gateway session resumed"),
                Some(Ok(Event::GatewayReconnect)) => tracing::info!("Discord asked to reconnect; resuming"),
                Some(Ok(Event::GatewayInvalidateSession(resumable))) => {
                    tracing::info!(resumable, "Discord invalidated the Gateway session; identifying again");
                }
                Some(Ok(Event::GatewayClose(frame))) => {
                    let code = frame.as_ref().map(|f| f.code);
                    if code == Some(AUTHENTICATION_FAILED) {
                        break Err(BotError::InvalidToken(invalid_token("Gateway close code 4004")));
                    }
                    let fatal = code
                        .and_then(|c| CloseCode::try_from(c).ok())
                        .is_some_and(|c| !c.can_reconnect());
                    if fatal {
                        break Err(BotError::Closed(format!("close code {}", code.unwrap_or_default())));
                    }
                    tracing::info!(code, "Discord Gateway connection closed; reconnecting");
                }
                Some(Ok(Event::InteractionCreate(interaction))) => {
                    let http = Arc::clone(&self.http);
                    let context = self.context.clone();
                    let application_id = self.application_id;
                    answers.spawn(async move {
                        interactions::answer(&context, &http, application_id, interaction.0).await;
                    });
                }
                Some(Ok(_)) => {}
            }
        };
        shard.close(CloseFrame::NORMAL);
        answers.close();
        if tokio::time::timeout(INTERACTION_DRAIN, answers.wait()).await.is_err() {
            tracing::warn!("Discord answers still in flight after {INTERACTION_DRAIN:?}; leaving them");
        }
        outcome
    }

    /// Bulk-overwrites `/raffle` in the guild, or globally; retried with
    /// backoff while Discord fails, except for a refused token.
    async fn register_commands(&self) -> Result<(), BotError> {
        let definitions = commands::definitions(self.application_id);
        let client = self.http.interaction(self.application_id);
        let mut failures = 0u32;
        loop {
            let result = match self.settings.guild_id {
                Some(guild) => client
                    .set_guild_commands(Id::new(guild.get()), &definitions)
                    .await
                    .map(drop),
                None => client.set_global_commands(&definitions).await.map(drop),
            };
            match result {
                Ok(()) => {
                    tracing::info!(guild_id = self.settings.guild_id, "Discord slash commands registered");
                    return Ok(());
                }
                Err(e) if is_unauthorized(&e) => {
                    return Err(BotError::InvalidToken(invalid_token(
                        "401 Unauthorized registering commands",
                    )));
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = REGISTER_RETRY.delay_after(failures);
                    tracing::warn!(error = %describe(&e), retry_in = ?wait, "could not register Discord slash commands");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// rustls needs one process-wide crypto provider when more than one is
/// compiled in (reqwest's ring and another crate's aws-lc); the Gateway's
/// TLS asks for the default. Installing twice is harmless.
fn install_crypto_provider() {
    let _already = rustls::crypto::ring::default_provider().install_default();
}
