//! Settings: every variable of SPEC §3, read from flags, the environment and
//! a `.env` file, in that order of precedence.
//!
//! clap collects raw strings ([`SettingsArgs`]); [`Settings::from_args`] turns
//! them into typed values and fails with a [`ConfigError`] naming the setting
//! and the problem. Defaults live in this file only. Values that are secrets
//! are `secrecy` secrets (zeroed on drop, `Debug` redacted, no `==`) and are
//! never echoed in an error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use secrecy::zeroize::Zeroize as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use url::Url;

use crate::announce::discord::WebhookUrl;
use crate::catalog::Language;
use crate::channel::settings::{ChannelSettings, Setting};
use crate::channel::{ChannelLanguages, ChannelLogin};
use crate::raffle::items::{ItemTable, ItemsError, ItemsFile};
use crate::twitch::auth::policy::ConnectPolicy;

/// Default for `DATA_DIR`.
pub(crate) const DEFAULT_DATA_DIR: &str = "./data";
/// Default for `HTTP_ADDR`.
pub(crate) const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default for `PUBLIC_URL`.
pub(crate) const DEFAULT_PUBLIC_URL: &str = "http://localhost:8080";
/// Default for `TWITCH_IRC_SERVER` (TLS).
pub(crate) const DEFAULT_TWITCH_IRC_SERVER: &str = "irc.chat.twitch.tv:6697";
/// Default for `TWITCH_AUTH_URL`.
pub(crate) const DEFAULT_TWITCH_AUTH_URL: &str = "https://id.twitch.tv/oauth2";
/// Default for `TWITCH_API_URL`.
pub(crate) const DEFAULT_TWITCH_API_URL: &str = "https://api.twitch.tv/helix";
/// Default for `DISCORD_API_URL`: Discord's REST API (twilight-http adds `/api/v10`).
pub(crate) const DEFAULT_DISCORD_API_URL: &str = "https://discord.com";
/// Default for `DISCORD_GATEWAY_URL`: Discord's Gateway.
pub(crate) const DEFAULT_DISCORD_GATEWAY_URL: &str = "wss://gateway.discord.gg";
/// Default for `SESSION_TTL`.
pub(crate) const DEFAULT_SESSION_TTL: &str = "7d";
/// Default for `ITEMS_FILE`.
pub(crate) const DEFAULT_ITEMS_FILE: &str = "items.toml";
/// Default for `RUST_LOG`.
pub(crate) const DEFAULT_RUST_LOG: &str = "info";
/// Shortest accepted `ADMIN_TOKEN`, in characters (SPEC §2).
pub(crate) const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// A setting that could not be used: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The variable name of SPEC §3 (also the flag's `env`).
    pub(crate) setting: &'static str,
    /// What is wrong, without echoing secret values.
    pub(crate) reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }
}

/// Raw settings as clap reads them from flags and the environment.
///
/// Every field is optional text; an empty value counts as unset so that a
/// `.env` copied from `.env.example` with blanks behaves like the defaults.
#[derive(Default, Clone, clap::Args)]
pub struct SettingsArgs {
    /// PostgreSQL connection URL; unset starts an embedded server under DATA_DIR
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory for the embedded database and the generated token key [default: ./data]
    #[arg(long, env = "DATA_DIR", global = true)]
    pub data_dir: Option<String>,
    /// Web server bind address [default: 127.0.0.1:8080]
    #[arg(long, env = "HTTP_ADDR", global = true)]
    pub http_addr: Option<String>,
    /// External base URL; the OAuth redirect is PUBLIC_URL/auth/callback [default: http://localhost:8080]
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Comma-separated channel logins to join
    #[arg(long, env = "TWITCH_CHANNELS", global = true)]
    pub twitch_channels: Option<String>,
    /// Twitch application client id
    #[arg(long, env = "TWITCH_CLIENT_ID", global = true)]
    pub twitch_client_id: Option<String>,
    /// `TWITCH_CLIENT_SECRET`: environment, `.env` or `TWITCH_CLIENT_SECRET_FILE` only.
    #[arg(skip)]
    pub twitch_client_secret: Option<String>,
    /// Twitch IRC server; tcp://HOST:PORT for plain TCP [default: irc.chat.twitch.tv:6697]
    #[arg(long, env = "TWITCH_IRC_SERVER", global = true)]
    pub twitch_irc_server: Option<String>,
    /// Twitch OAuth base URL [default: https://id.twitch.tv/oauth2]
    #[arg(long, env = "TWITCH_AUTH_URL", global = true)]
    pub twitch_auth_url: Option<String>,
    /// Twitch Helix base URL [default: https://api.twitch.tv/helix]
    #[arg(long, env = "TWITCH_API_URL", global = true)]
    pub twitch_api_url: Option<String>,
    /// `DISCORD_WEBHOOK_URL`: environment, `.env` or `DISCORD_WEBHOOK_URL_FILE` only.
    #[arg(skip)]
    pub discord_webhook_url: Option<String>,
    /// Time between automatic raffles per channel [default: 60s]
    #[arg(long, env = "RAFFLE_INTERVAL", global = true)]
    pub raffle_interval: Option<String>,
    /// A viewer is active if seen in chat within this window [default: 10m]
    #[arg(long, env = "ACTIVE_WINDOW", global = true)]
    pub active_window: Option<String>,
    /// A winner is not eligible again for this long [default: 0s]
    #[arg(long, env = "WINNER_COOLDOWN", global = true)]
    pub winner_cooldown: Option<String>,
    /// Weight of subscribers relative to others, 1 to 10 [default: 1]
    #[arg(long, env = "SUBSCRIBER_LUCK", global = true)]
    pub subscriber_luck: Option<String>,
    /// Comma-separated logins never eligible [default: common chat bots]
    #[arg(long, env = "IGNORE_USERS", global = true)]
    pub ignore_users: Option<String>,
    /// Raffle only while the stream is live [default: true]
    #[arg(long, env = "ONLY_WHEN_LIVE", global = true)]
    pub only_when_live: Option<String>,
    /// Prize list file [default: items.toml]
    #[arg(long, env = "ITEMS_FILE", global = true)]
    pub items_file: Option<String>,
    /// `ADMIN_TOKEN`: environment, `.env` or `ADMIN_TOKEN_FILE` only.
    #[arg(skip)]
    pub admin_token: Option<String>,
    /// `TOKEN_KEY`: environment, `.env` or `TOKEN_KEY_FILE` only.
    #[arg(skip)]
    pub token_key: Option<String>,
    /// Log filter [default: info]
    #[arg(long, env = "RUST_LOG", global = true)]
    pub rust_log: Option<String>,
    /// Log format: pretty or json [default: pretty]
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Who may connect a Twitch account: first, listed or anyone [default: first]
    #[arg(long, env = "CONNECT_POLICY", global = true)]
    pub connect_policy: Option<String>,
    /// What the bot says in chat: off, winners or all [default: winners]
    #[arg(long, env = "CHAT_ANNOUNCE", global = true)]
    pub chat_announce: Option<String>,
    /// A winner must chat within this time or the prize is redrawn; 0s = off [default: 0s]
    #[arg(long, env = "CLAIM_WINDOW", global = true)]
    pub claim_window: Option<String>,
    /// Redraws after unclaimed wins before the prize goes back to stock, 0 to 10 [default: 2]
    #[arg(long, env = "CLAIM_REDRAWS", global = true)]
    pub claim_redraws: Option<String>,
    /// How long a dashboard sign-in lasts [default: 7d]
    #[arg(long, env = "SESSION_TTL", global = true)]
    pub session_ttl: Option<String>,
    /// This instance's name in channel leases, logs and metrics [default: host name and process id]
    #[arg(long, env = "INSTANCE_ID", global = true)]
    pub instance_id: Option<String>,
    /// How long this instance holds a channel without renewing [default: 30s]
    #[arg(long, env = "CHANNEL_LEASE", global = true)]
    pub channel_lease: Option<String>,
    /// Most channels this instance serves [default: unlimited]
    #[arg(long, env = "MAX_CHANNELS", global = true)]
    pub max_channels: Option<String>,
    /// Chat joins sent per 10 seconds [default: 20, Twitch's limit for unverified accounts]
    #[arg(long, env = "JOIN_RATE", global = true)]
    pub join_rate: Option<String>,
    /// What makes a viewer present: chat, or chat,chatters (lurkers from Helix Get Chatters) [default: chat]
    #[arg(long, env = "PRESENCE_SOURCES", global = true)]
    pub presence_sources: Option<String>,
    /// Only viewers following for at least this long are eligible (0s = any follower) [default: unset]
    #[arg(long, env = "MIN_FOLLOW_AGE", global = true)]
    pub min_follow_age: Option<String>,
    /// Twitch accounts younger than this are never eligible [default: 0s]
    #[arg(long, env = "MIN_ACCOUNT_AGE", global = true)]
    pub min_account_age: Option<String>,
    /// Only subscribers are eligible [default: false]
    #[arg(long, env = "SUBSCRIBERS_ONLY", global = true)]
    pub subscribers_only: Option<String>,
    /// Messages a viewer must have sent to be eligible [default: 1]
    #[arg(long, env = "MIN_MESSAGES", global = true)]
    pub min_messages: Option<String>,
    /// Language of what viewers and streamers read: en or pt-BR [default: en]
    #[arg(long, env = "LANGUAGE", global = true)]
    pub language: Option<String>,
    /// `DISCORD_BOT_TOKEN`: environment, `.env` or `DISCORD_BOT_TOKEN_FILE` only.
    #[arg(skip)]
    pub discord_bot_token: Option<String>,
    /// Discord server (guild) id: register slash commands there only [default: global]
    #[arg(long, env = "DISCORD_GUILD_ID", global = true)]
    pub discord_guild_id: Option<String>,
    /// Discord channel id: post announcements through the bot there instead of the webhook
    #[arg(long, env = "DISCORD_CHANNEL_ID", global = true)]
    pub discord_channel_id: Option<String>,
    /// Discord role id whose members may use control commands, besides Manage Server
    #[arg(long, env = "DISCORD_ADMIN_ROLE", global = true)]
    pub discord_admin_role: Option<String>,
    /// Discord REST API base URL [default: https://discord.com]
    #[arg(long, env = "DISCORD_API_URL", global = true)]
    pub discord_api_url: Option<String>,
    /// Discord Gateway URL [default: wss://gateway.discord.gg]
    #[arg(long, env = "DISCORD_GATEWAY_URL", global = true)]
    pub discord_gateway_url: Option<String>,
    /// Secrets given as flags, kept only to refuse them with a clear error
    /// (a flag shows in `ps` and shell history). Never read otherwise.
    #[command(flatten)]
    pub secret_flags: SecretFlags,
}

/// Raw text may hold secrets: `Debug` shows none of it.
impl std::fmt::Debug for SettingsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsArgs").finish_non_exhaustive()
    }
}

/// Hidden flags named like the secret settings. They exist so that
/// `--admin-token …` is refused with a message naming the setting (and
/// without echoing the value) instead of a generic "unexpected argument".
#[derive(Default, Clone, clap::Args)]
pub struct SecretFlags {
    #[arg(long = "twitch-client-secret", global = true, hide = true, value_name = "SECRET")]
    twitch_client_secret: Option<String>,
    #[arg(long = "discord-webhook-url", global = true, hide = true, value_name = "SECRET")]
    discord_webhook_url: Option<String>,
    #[arg(long = "admin-token", global = true, hide = true, value_name = "SECRET")]
    admin_token: Option<String>,
    #[arg(long = "token-key", global = true, hide = true, value_name = "SECRET")]
    token_key: Option<String>,
    #[arg(long = "discord-bot-token", global = true, hide = true, value_name = "SECRET")]
    discord_bot_token: Option<String>,
}

impl std::fmt::Debug for SecretFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretFlags([redacted])")
    }
}

impl SecretFlags {
    /// The first secret setting given as a flag, if any.
    fn first_given(&self) -> Option<&'static str> {
        [
            ("TWITCH_CLIENT_SECRET", &self.twitch_client_secret),
            ("DISCORD_WEBHOOK_URL", &self.discord_webhook_url),
            ("ADMIN_TOKEN", &self.admin_token),
            ("TOKEN_KEY", &self.token_key),
            ("DISCORD_BOT_TOKEN", &self.discord_bot_token),
        ]
        .into_iter()
        .find_map(|(name, value)| value.is_some().then_some(name))
    }
}

/// The secret settings of SPEC §2: never flags; read from the environment
/// (which `.env` fills in) or from the file named by `NAME_FILE`.
const SECRET_SETTINGS: [&str; 5] = [
    "TWITCH_CLIENT_SECRET",
    "DISCORD_WEBHOOK_URL",
    "ADMIN_TOKEN",
    "TOKEN_KEY",
    "DISCORD_BOT_TOKEN",
];

impl SettingsArgs {
    /// Fills the secret settings from `lookup` (the process environment in
    /// the binary): `NAME`, or the contents of the file `NAME_FILE` names.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting when both `NAME` and
    /// `NAME_FILE` are set or the file cannot be read; never the value.
    pub fn read_secrets(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for name in SECRET_SETTINGS {
            let direct = non_empty(lookup(name));
            let file_setting = format!("{name}_FILE");
            let from_file =
                match non_empty(lookup(&file_setting)) {
                    None => None,
                    Some(_) if direct.is_some() => {
                        return Err(ConfigError::new(
                            name,
                            format!("both {name} and {file_setting} are set; keep one"),
                        ));
                    }
                    Some(path) => Some(std::fs::read_to_string(&path).map_err(|e| {
                        ConfigError::new(name, format!("cannot read {file_setting} file {path:?}: {e}"))
                    })?),
                };
            let value = direct.or(from_file);
            let field = match name {
                "TWITCH_CLIENT_SECRET" => &mut self.twitch_client_secret,
                "DISCORD_WEBHOOK_URL" => &mut self.discord_webhook_url,
                "ADMIN_TOKEN" => &mut self.admin_token,
                "DISCORD_BOT_TOKEN" => &mut self.discord_bot_token,
                _ => &mut self.token_key,
            };
            if value.is_some() {
                *field = value;
            }
        }
        Ok(())
    }
}

/// Where the chat listener connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IrcServer {
    /// TLS connection (Twitch's own endpoint).
    Tls {
        /// Host name, also used for certificate verification.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// Plain TCP (`tcp://HOST:PORT`), for local servers and tests.
    Tcp {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
}

impl FromStr for IrcServer {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (plain, rest) = if let Some(rest) = value.strip_prefix("tcp://") {
            (true, rest)
        } else if let Some(rest) = value.strip_prefix("tls://") {
            (false, rest)
        } else if value.contains("://") {
            return Err(format!(
                "{value:?} has an unknown scheme; use HOST:PORT (TLS), tls://HOST:PORT or tcp://HOST:PORT"
            ));
        } else {
            (false, value)
        };
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{value:?} has no port; expected HOST:PORT"))?;
        if host.is_empty() {
            return Err(format!("{value:?} has no host; expected HOST:PORT"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{value:?} has an invalid port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        Ok(if plain {
            IrcServer::Tcp { host, port }
        } else {
            IrcServer::Tls { host, port }
        })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The 32-byte key that encrypts Twitch tokens at rest: zeroed on drop,
/// `Debug` prints `[redacted]`, read only through [`ExposeSecret`].
pub struct TokenKey(SecretBox<[u8; 32]>);

impl TokenKey {
    /// Wraps the key's bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }
}

impl ExposeSecret<[u8; 32]> for TokenKey {
    fn expose_secret(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

// By hand: secrecy clones only what it knows how to zeroize.
impl Clone for TokenKey {
    fn clone(&self) -> Self {
        Self::new(*self.expose_secret())
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

/// Typed settings; see SPEC §3 for each meaning.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`; `None` starts the embedded server.
    pub(crate) database_url: Option<SecretString>,
    /// `DATA_DIR`.
    pub(crate) data_dir: PathBuf,
    /// `HTTP_ADDR`.
    pub(crate) http_addr: SocketAddr,
    /// `PUBLIC_URL`, without a trailing slash.
    pub public_url: Url,
    /// `TWITCH_CHANNELS`.
    pub(crate) twitch_channels: Vec<ChannelLogin>,
    /// `TWITCH_CLIENT_ID`.
    pub(crate) twitch_client_id: Option<String>,
    /// `TWITCH_CLIENT_SECRET`.
    pub(crate) twitch_client_secret: Option<SecretString>,
    /// `TWITCH_IRC_SERVER`.
    pub(crate) twitch_irc_server: IrcServer,
    /// `TWITCH_AUTH_URL`.
    pub(crate) twitch_auth_url: Url,
    /// `TWITCH_API_URL`.
    pub(crate) twitch_api_url: Url,
    /// `DISCORD_WEBHOOK_URL` (its path embeds the webhook token).
    pub(crate) discord_webhook_url: Option<WebhookUrl>,
    /// The per-channel settings' defaults (`RAFFLE_INTERVAL`,
    /// `ACTIVE_WINDOW`, `WINNER_COOLDOWN`, `SUBSCRIBER_LUCK`, `ONLY_WHEN_LIVE`,
    /// `IGNORE_USERS`): what a channel without its own values follows.
    pub(crate) channel_defaults: ChannelSettings,
    /// `ITEMS_FILE`.
    pub(crate) items_file: PathBuf,
    /// `ADMIN_TOKEN`; `None` disables admin endpoints.
    pub admin_token: Option<SecretString>,
    /// `TOKEN_KEY`; `None` means generate or read `DATA_DIR/token.key`.
    pub token_key: Option<TokenKey>,
    /// `RUST_LOG`.
    pub rust_log: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `CONNECT_POLICY`.
    pub(crate) connect_policy: ConnectPolicy,
    /// `SESSION_TTL`: how long a dashboard sign-in lasts (more than 0s, at
    /// most 366 days).
    pub(crate) session_ttl: std::time::Duration,
    /// `LANGUAGE`: the language of channels without their own.
    pub(crate) language: Language,
    /// `INSTANCE_ID`, `CHANNEL_LEASE`, `MAX_CHANNELS` and `JOIN_RATE`.
    pub(crate) instances: InstanceSettings,
    /// `DISCORD_BOT_TOKEN` and the other Discord bot settings (SPEC §12);
    /// `None` without a bot token.
    pub(crate) discord_bot: Option<DiscordBotSettings>,
}

/// How this instance shares channels with others on the same database
/// (SPEC §15) and paces its chat joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceSettings {
    /// `INSTANCE_ID`: this instance's name in leases, logs and metrics.
    pub(crate) id: String,
    /// `CHANNEL_LEASE`: how long a channel stays held without renewal.
    pub(crate) channel_lease: Duration,
    /// `MAX_CHANNELS`: `None` is unlimited.
    pub(crate) max_channels: Option<u32>,
    /// `JOIN_RATE`: chat joins sent per [`JOIN_RATE_WINDOW`] per IRC connection.
    pub(crate) join_rate: u32,
}

/// The window `JOIN_RATE` counts joins in: Twitch documents 20 joins per
/// 10 seconds for an unverified account.
pub(crate) const JOIN_RATE_WINDOW: Duration = Duration::from_secs(10);
/// `JOIN_RATE`'s default: Twitch's documented limit for unverified accounts.
pub(crate) const DEFAULT_JOIN_RATE: u32 = 20;
/// `CHANNEL_LEASE`'s default.
pub(crate) const DEFAULT_CHANNEL_LEASE: &str = "30s";
/// The shortest `CHANNEL_LEASE`: renewals run every third of it, and each
/// is a round trip to the database.
pub(crate) const MIN_CHANNEL_LEASE: Duration = Duration::from_secs(3);
/// Longest `INSTANCE_ID`.
const MAX_INSTANCE_ID_CHARS: usize = 64;

/// The default `INSTANCE_ID`: the host name and the process id.
fn default_instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "kinoyubot".to_owned());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(MAX_INSTANCE_ID_CHARS.saturating_sub(12))
        .collect();
    format!("{host}-{}", std::process::id())
}

fn instance_settings(args: &mut SettingsArgs) -> Result<InstanceSettings, ConfigError> {
    let id = match non_empty(args.instance_id.take()) {
        None => default_instance_id(),
        Some(text) => {
            if text.chars().count() > MAX_INSTANCE_ID_CHARS
                || !text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'))
            {
                return Err(ConfigError::new(
                    "INSTANCE_ID",
                    format!("must be 1 to {MAX_INSTANCE_ID_CHARS} letters, digits, '-', '.', '_' or ':'"),
                ));
            }
            text
        }
    };
    let channel_lease = duration("CHANNEL_LEASE", args.channel_lease.take(), DEFAULT_CHANNEL_LEASE)?;
    if channel_lease < MIN_CHANNEL_LEASE {
        return Err(ConfigError::new("CHANNEL_LEASE", "must be at least 3s"));
    }
    let max_channels = match non_empty(args.max_channels.take()) {
        None => None,
        Some(text) if text.eq_ignore_ascii_case("unlimited") => None,
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            ConfigError::new(
                "MAX_CHANNELS",
                format!("invalid value {text:?}; must be a whole number or unlimited"),
            )
        })?),
    };
    let join_rate = match non_empty(args.join_rate.take()) {
        None => DEFAULT_JOIN_RATE,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(ConfigError::new(
                    "JOIN_RATE",
                    format!("invalid value {text:?}; must be a whole number of joins per 10 s, at least 1"),
                ));
            }
        },
    };
    Ok(InstanceSettings {
        id,
        channel_lease,
        max_channels,
        join_rate,
    })
}

/// A Discord bot token: `Debug` prints `[redacted]`, exposed only to the
/// Discord clients that send it.
#[derive(Clone)]
pub struct BotToken(SecretString);

impl BotToken {
    /// The token, for the Discord clients only.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken([redacted])")
    }
}

/// A bot token for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn test_bot_token(token: &str) -> BotToken {
    BotToken(SecretString::from(token.to_owned()))
}

/// A Discord id (snowflake): a positive 64-bit number.
pub(crate) type Snowflake = std::num::NonZeroU64;

/// The Discord bot's settings (SPEC §10, §12).
#[derive(Debug, Clone)]
pub(crate) struct DiscordBotSettings {
    /// `DISCORD_BOT_TOKEN`.
    pub(crate) token: BotToken,
    /// `DISCORD_GUILD_ID`: commands registered in this server only.
    pub(crate) guild_id: Option<Snowflake>,
    /// `DISCORD_CHANNEL_ID`: announcements posted here through the bot.
    pub(crate) channel_id: Option<Snowflake>,
    /// `DISCORD_ADMIN_ROLE`: members with this role may use control commands.
    pub(crate) admin_role: Option<Snowflake>,
    /// `DISCORD_API_URL`, without a trailing slash.
    pub(crate) api_url: Url,
    /// `DISCORD_GATEWAY_URL` (`ws://` or `wss://`), without a trailing slash.
    pub(crate) gateway_url: Url,
}

fn snowflake(setting: &'static str, value: Option<String>) -> Result<Option<Snowflake>, ConfigError> {
    match non_empty(value) {
        None => Ok(None),
        Some(text) => text.parse::<Snowflake>().map(Some).map_err(|_| {
            ConfigError::new(
                setting,
                format!(
                    "invalid Discord id {text:?}; copy it with Developer Mode on (a number such as 112233445566778899)"
                ),
            )
        }),
    }
}

/// The Discord settings: `None` without `DISCORD_BOT_TOKEN` (then the ids
/// it alone uses must be unset too, so a half-configured bot is noticed).
fn discord_bot(args: &SettingsArgs) -> Result<Option<DiscordBotSettings>, ConfigError> {
    let guild_id = snowflake("DISCORD_GUILD_ID", args.discord_guild_id.clone())?;
    let channel_id = snowflake("DISCORD_CHANNEL_ID", args.discord_channel_id.clone())?;
    let admin_role = snowflake("DISCORD_ADMIN_ROLE", args.discord_admin_role.clone())?;
    let api_url = url("DISCORD_API_URL", args.discord_api_url.clone(), DEFAULT_DISCORD_API_URL)?;
    let gateway_text =
        non_empty(args.discord_gateway_url.clone()).unwrap_or_else(|| DEFAULT_DISCORD_GATEWAY_URL.to_owned());
    let gateway_url = Url::parse(&gateway_text)
        .ok()
        .filter(|u| matches!(u.scheme(), "ws" | "wss") && u.host_str().is_some())
        .ok_or_else(|| {
            ConfigError::new(
                "DISCORD_GATEWAY_URL",
                format!("invalid URL {gateway_text:?}: must be a ws:// or wss:// URL with a host"),
            )
        })?;
    let Some(token) = non_empty(args.discord_bot_token.clone()) else {
        for (setting, given) in [
            ("DISCORD_CHANNEL_ID", channel_id.is_some()),
            ("DISCORD_GUILD_ID", guild_id.is_some()),
            ("DISCORD_ADMIN_ROLE", admin_role.is_some()),
        ] {
            if given {
                return Err(ConfigError::new(
                    setting,
                    "needs DISCORD_BOT_TOKEN (the Discord bot) to be set",
                ));
            }
        }
        return Ok(None);
    };
    // The clients add "Bot "; a pasted "Bot xyz" would be sent as "Bot Bot xyz".
    let token = token.strip_prefix("Bot ").map(str::to_owned).unwrap_or(token);
    if token.is_empty() || token.chars().any(char::is_whitespace) {
        return Err(ConfigError::new(
            "DISCORD_BOT_TOKEN",
            "must be the bot token from the Developer Portal, without spaces",
        ));
    }
    Ok(Some(DiscordBotSettings {
        token: BotToken(SecretString::from(token)),
        guild_id,
        channel_id,
        admin_role,
        api_url,
        gateway_url,
    }))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.and_then(|v| {
        let trimmed = v.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    })
}

fn duration(setting: &'static str, value: Option<String>, default: &str) -> Result<Duration, ConfigError> {
    let text = non_empty(value).unwrap_or_else(|| default.to_owned());
    humantime::parse_duration(&text)
        .map_err(|_| ConfigError::new(setting, format!("invalid duration {text:?}; use e.g. 30s, 10m, 1h")))
}

fn url(setting: &'static str, value: Option<String>, default: &str) -> Result<Url, ConfigError> {
    let text = non_empty(value).unwrap_or_else(|| default.to_owned());
    parse_http_url(setting, &text, true)
}

/// Parses an http(s) URL; `echo` says whether the value may appear in the error.
fn parse_http_url(setting: &'static str, text: &str, echo: bool) -> Result<Url, ConfigError> {
    let shown = if echo { format!(" {text:?}") } else { String::new() };
    let parsed = Url::parse(text).map_err(|e| ConfigError::new(setting, format!("invalid URL{shown}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ConfigError::new(
            setting,
            format!("invalid URL{shown}: must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(parsed)
}

fn logins(setting: &'static str, text: &str) -> Result<Vec<ChannelLogin>, ConfigError> {
    let mut out: Vec<ChannelLogin> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let login = ChannelLogin::parse(part).map_err(|e| ConfigError::new(setting, e.to_string()))?;
        if !out.contains(&login) {
            out.push(login);
        }
    }
    Ok(out)
}

/// Decodes a base64 `TOKEN_KEY` (standard or URL-safe alphabet).
///
/// # Errors
///
/// A [`ConfigError`] for `setting` that never contains the key.
pub(crate) fn parse_token_key(setting: &'static str, text: &str) -> Result<TokenKey, ConfigError> {
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text.trim()))
        .map_err(|_| {
            ConfigError::new(
                setting,
                "is not valid base64 (expected 32 random bytes, base64-encoded)",
            )
        })?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).map(TokenKey::new);
    let len = bytes.len();
    bytes.zeroize();
    key.map_err(|_| ConfigError::new(setting, format!("must decode to 32 bytes, got {len} bytes")))
}

impl Settings {
    /// Validates raw settings into typed ones.
    ///
    /// # Errors
    ///
    /// The first invalid setting, as a [`ConfigError`] naming it.
    pub fn from_args(mut args: SettingsArgs) -> Result<Self, ConfigError> {
        if let Some(name) = args.secret_flags.first_given() {
            return Err(ConfigError::new(
                name,
                format!(
                    "is a secret and is not accepted as a flag (flags show in `ps` and shell history); \
                     set {name} in the environment or .env, or put it in a file and set {name}_FILE to its path"
                ),
            ));
        }
        // Before the fields below are moved out of `args`.
        let discord_bot = discord_bot(&args)?;
        let instances = instance_settings(&mut args)?;
        let database_url = match non_empty(args.database_url) {
            None => None,
            Some(text) => {
                // The URL may carry a password: describe the problem, never the value.
                tokio_postgres::Config::from_str(&text)
                    .map_err(|e| ConfigError::new("DATABASE_URL", format!("not a valid PostgreSQL URL ({e})")))?;
                Some(SecretString::from(text))
            }
        };
        let data_dir = PathBuf::from(non_empty(args.data_dir).unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned()));
        let http_addr_text = non_empty(args.http_addr).unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned());
        let http_addr = http_addr_text.parse().map_err(|_| {
            ConfigError::new(
                "HTTP_ADDR",
                format!("invalid socket address {http_addr_text:?}; expected IP:PORT such as 127.0.0.1:8080"),
            )
        })?;
        let mut public_url = url("PUBLIC_URL", args.public_url, DEFAULT_PUBLIC_URL)?;
        if public_url.query().is_some() || public_url.fragment().is_some() {
            return Err(ConfigError::new("PUBLIC_URL", "must not have a query or fragment"));
        }
        let trimmed_path = public_url.path().trim_end_matches('/').to_owned();
        public_url.set_path(&trimmed_path);
        let twitch_channels = logins("TWITCH_CHANNELS", &non_empty(args.twitch_channels).unwrap_or_default())?;
        let twitch_client_id = non_empty(args.twitch_client_id);
        let twitch_client_secret = non_empty(args.twitch_client_secret).map(SecretString::from);
        let irc_text = non_empty(args.twitch_irc_server).unwrap_or_else(|| DEFAULT_TWITCH_IRC_SERVER.to_owned());
        let twitch_irc_server = irc_text
            .parse()
            .map_err(|reason: String| ConfigError::new("TWITCH_IRC_SERVER", reason))?;
        let twitch_auth_url = url("TWITCH_AUTH_URL", args.twitch_auth_url, DEFAULT_TWITCH_AUTH_URL)?;
        let twitch_api_url = url("TWITCH_API_URL", args.twitch_api_url, DEFAULT_TWITCH_API_URL)?;
        let discord_webhook_url = match non_empty(args.discord_webhook_url) {
            None => None,
            Some(text) => Some(WebhookUrl::new(&parse_http_url("DISCORD_WEBHOOK_URL", &text, false)?)),
        };
        let mut channel_defaults = ChannelSettings::default();
        for (setting, raw) in [
            (Setting::RaffleInterval, args.raffle_interval),
            (Setting::ActiveWindow, args.active_window),
            (Setting::WinnerCooldown, args.winner_cooldown),
            (Setting::SubscriberLuck, args.subscriber_luck),
            (Setting::IgnoreUsers, args.ignore_users),
            (Setting::OnlyWhenLive, args.only_when_live),
            (Setting::ChatAnnounce, args.chat_announce),
            (Setting::ClaimWindow, args.claim_window),
            (Setting::ClaimRedraws, args.claim_redraws),
            (Setting::PresenceSources, args.presence_sources),
            (Setting::MinFollowAge, args.min_follow_age),
            (Setting::MinAccountAge, args.min_account_age),
            (Setting::SubscribersOnly, args.subscribers_only),
            (Setting::MinMessages, args.min_messages),
            (Setting::Language, args.language),
        ] {
            if let Some(text) = non_empty(raw) {
                let value = setting
                    .parse_text(&text)
                    .map_err(|problem| ConfigError::new(setting.env_name(), problem.to_string()))?;
                channel_defaults.replace(&value);
            }
        }
        let items_file = PathBuf::from(non_empty(args.items_file).unwrap_or_else(|| DEFAULT_ITEMS_FILE.to_owned()));
        let admin_token = match non_empty(args.admin_token) {
            None => None,
            Some(text) if text.chars().any(char::is_whitespace) => {
                return Err(ConfigError::new("ADMIN_TOKEN", "must not contain whitespace"));
            }
            Some(text) if text.chars().count() < MIN_ADMIN_TOKEN_CHARS => {
                return Err(ConfigError::new(
                    "ADMIN_TOKEN",
                    format!(
                        "must be at least {MIN_ADMIN_TOKEN_CHARS} characters; generate one with `openssl rand -hex 32` \
                         (PowerShell: `[Convert]::ToHexString([Security.Cryptography.RandomNumberGenerator]::GetBytes(32))`)"
                    ),
                ));
            }
            Some(text) => Some(SecretString::from(text)),
        };
        let token_key = match non_empty(args.token_key) {
            None => None,
            Some(text) => Some(parse_token_key("TOKEN_KEY", &text)?),
        };
        let rust_log = non_empty(args.rust_log).unwrap_or_else(|| DEFAULT_RUST_LOG.to_owned());
        tracing_subscriber::EnvFilter::try_new(&rust_log)
            .map_err(|e| ConfigError::new("RUST_LOG", format!("invalid filter {rust_log:?}: {e}")))?;
        let log_format = match non_empty(args.log_format).map(|t| t.to_ascii_lowercase()).as_deref() {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(
                    "LOG_FORMAT",
                    format!("invalid value {other:?}; use pretty or json"),
                ));
            }
        };
        let connect_policy = match non_empty(args.connect_policy) {
            None => ConnectPolicy::default(),
            Some(text) => text
                .parse()
                .map_err(|reason: String| ConfigError::new("CONNECT_POLICY", reason))?,
        };
        let session_ttl_text = non_empty(args.session_ttl).unwrap_or_else(|| DEFAULT_SESSION_TTL.to_owned());
        let session_ttl = humantime::parse_duration(&session_ttl_text).map_err(|_| {
            ConfigError::new(
                "SESSION_TTL",
                format!("invalid duration {session_ttl_text:?}; use e.g. 12h, 7d"),
            )
        })?;
        if session_ttl.is_zero() || session_ttl > crate::channel::settings::MAX_DURATION {
            return Err(ConfigError::new(
                "SESSION_TTL",
                "must be more than 0s and at most 366 days",
            ));
        }
        let language = channel_defaults.language;
        Ok(Self {
            database_url,
            data_dir,
            http_addr,
            public_url,
            twitch_channels,
            twitch_client_id,
            twitch_client_secret,
            twitch_irc_server,
            twitch_auth_url,
            twitch_api_url,
            discord_webhook_url,
            channel_defaults,
            items_file,
            admin_token,
            token_key,
            rust_log,
            log_format,
            connect_policy,
            session_ttl,
            instances,
            language,
            discord_bot,
        })
    }

    /// Which language each channel speaks: `LANGUAGE`, until the
    /// channels' own are loaded into it (`ChannelLanguages::load`). Make
    /// one per process and share its clones.
    pub(crate) fn channel_languages(&self) -> ChannelLanguages {
        ChannelLanguages::new(self.language)
    }

    /// The OAuth redirect URL, `PUBLIC_URL/auth/callback`.
    pub(crate) fn oauth_redirect_url(&self) -> String {
        format!("{}/auth/callback", self.public_url.as_str().trim_end_matches('/'))
    }
}

/// Reads and validates the items file at `path` (`ITEMS_FILE`, or the file
/// given to `check-items`).
///
/// # Errors
///
/// [`ItemsError::Read`] naming the path when it cannot be read, or the
/// parser's error naming the item and line.
pub(crate) fn load_items(path: &Path) -> Result<ItemTable, ItemsError> {
    let text = std::fs::read_to_string(path).map_err(|source| ItemsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    ItemsFile::parse(&path.display().to_string(), &text)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::channel::settings::DEFAULT_IGNORE_USERS;

    fn with(f: impl FnOnce(&mut SettingsArgs)) -> Result<Settings, ConfigError> {
        let mut args = SettingsArgs::default();
        f(&mut args);
        Settings::from_args(args)
    }

    fn error(f: impl FnOnce(&mut SettingsArgs)) -> String {
        match with(f) {
            Ok(_) => panic!("expected a configuration error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let s = Settings::from_args(SettingsArgs::default()).expect("defaults parse");
        assert!(s.database_url.is_none());
        assert_eq!(s.data_dir, PathBuf::from("./data"));
        assert_eq!(s.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.oauth_redirect_url(), "http://localhost:8080/auth/callback");
        assert_eq!(
            s.twitch_irc_server,
            IrcServer::Tls {
                host: "irc.chat.twitch.tv".into(),
                port: 6697
            }
        );
        assert_eq!(s.twitch_auth_url.as_str(), "https://id.twitch.tv/oauth2");
        assert_eq!(s.twitch_api_url.as_str(), "https://api.twitch.tv/helix");
        assert_eq!(s.channel_defaults.raffle_interval, Duration::from_secs(60));
        assert_eq!(s.channel_defaults.active_window, Duration::from_secs(600));
        assert_eq!(s.channel_defaults.winner_cooldown, Duration::ZERO);
        assert_eq!(s.channel_defaults.subscriber_luck, 1);
        assert!(s.channel_defaults.only_when_live);
        assert_eq!(s.items_file, PathBuf::from("items.toml"));
        assert!(s.admin_token.is_none() && s.token_key.is_none() && s.discord_webhook_url.is_none());
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.session_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(s.channel_defaults.ignore_users.len(), DEFAULT_IGNORE_USERS.len());
        assert_eq!(s.channel_defaults.gates, crate::raffle::eligibility::Gates::default());
        assert_eq!(s.channel_defaults.gates.min_messages, 1);
        assert_eq!(s.channel_defaults.gates.min_follow_age, None);
        assert_eq!(s.language, Language::En);
    }

    #[test]
    fn eligibility_gates_parse_and_name_the_setting_when_wrong() {
        let s = with(|a| {
            a.presence_sources = Some("chat,chatters".into());
            a.min_follow_age = Some("0s".into());
            a.min_account_age = Some("7d".into());
            a.subscribers_only = Some("true".into());
            a.min_messages = Some("0".into());
        })
        .expect("valid");
        assert_eq!(
            s.channel_defaults.gates.presence_sources,
            crate::raffle::eligibility::PresenceSources::ChatAndChatters
        );
        assert_eq!(s.channel_defaults.gates.min_follow_age, Some(Duration::ZERO));
        assert_eq!(
            s.channel_defaults.gates.min_account_age,
            Duration::from_secs(7 * 86_400)
        );
        assert!(s.channel_defaults.gates.subscribers_only);
        assert_eq!(s.channel_defaults.gates.min_messages, 0);
        assert!(error(|a| a.presence_sources = Some("chatters".into())).starts_with("PRESENCE_SOURCES: "));
        assert!(error(|a| a.min_follow_age = Some("soon".into())).starts_with("MIN_FOLLOW_AGE: "));
        assert!(error(|a| a.min_account_age = Some("-1d".into())).starts_with("MIN_ACCOUNT_AGE: "));
        assert!(error(|a| a.subscribers_only = Some("maybe".into())).starts_with("SUBSCRIBERS_ONLY: "));
        assert!(error(|a| a.min_messages = Some("-1".into())).starts_with("MIN_MESSAGES: "));
    }

    #[test]
    fn language_is_read_in_either_spelling() {
        let s = with(|a| a.language = Some("pt-BR".into())).expect("valid");
        assert_eq!(s.language, Language::PtBr);
        assert_eq!(s.channel_languages().language_for("anyone"), Language::PtBr);
        let s = with(|a| a.language = Some("pt_br".into())).expect("valid");
        assert_eq!(s.language, Language::PtBr);
        assert_eq!(
            error(|a| a.language = Some("fr".into())),
            "LANGUAGE: invalid value \"fr\"; use en or pt-BR"
        );
    }

    #[test]
    fn default_ignore_list_is_made_of_valid_logins() {
        for login in DEFAULT_IGNORE_USERS {
            let parsed = ChannelLogin::parse(login).expect("valid login");
            assert_eq!(parsed.as_str(), *login);
        }
    }

    #[test]
    fn invalid_duration_names_the_setting_and_value() {
        assert_eq!(
            error(|a| a.raffle_interval = Some("banana".into())),
            "RAFFLE_INTERVAL: invalid duration \"banana\"; use e.g. 30s, 10m, 1h"
        );
        assert!(error(|a| a.active_window = Some("0s".into())).starts_with("ACTIVE_WINDOW: "));
        assert!(error(|a| a.winner_cooldown = Some("-1s".into())).starts_with("WINNER_COOLDOWN: "));
        assert_eq!(
            error(|a| a.raffle_interval = Some("500ms".into())),
            "RAFFLE_INTERVAL: must be at least 1s"
        );
        assert_eq!(
            error(|a| a.raffle_interval = Some("1s 500ms".into())),
            "RAFFLE_INTERVAL: must be a whole number of seconds"
        );
    }

    #[test]
    fn humantime_durations_are_accepted() {
        let s = with(|a| {
            a.raffle_interval = Some("30s".into());
            a.active_window = Some("1h 5m".into());
        })
        .expect("valid");
        assert_eq!(s.channel_defaults.raffle_interval, Duration::from_secs(30));
        assert_eq!(s.channel_defaults.active_window, Duration::from_secs(3900));
    }

    #[test]
    fn subscriber_luck_must_be_one_to_ten() {
        for bad in ["0", "11", "2.5", "lots", "-1"] {
            assert!(
                error(|a| a.subscriber_luck = Some(bad.into())).starts_with("SUBSCRIBER_LUCK: invalid value"),
                "{bad}"
            );
        }
        assert_eq!(
            with(|a| a.subscriber_luck = Some("10".into())).map(|s| s.channel_defaults.subscriber_luck),
            Ok(10)
        );
    }

    #[test]
    fn each_kind_of_bad_setting_is_named() {
        type Change = Box<dyn FnOnce(&mut SettingsArgs)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "DATABASE_URL: ",
                Box::new(|a| a.database_url = Some("postgres://u:pw@host:notaport/db".into())),
            ),
            ("HTTP_ADDR: ", Box::new(|a| a.http_addr = Some("localhost".into()))),
            (
                "PUBLIC_URL: ",
                Box::new(|a| a.public_url = Some("ftp://example.com".into())),
            ),
            (
                "TWITCH_CHANNELS: ",
                Box::new(|a| a.twitch_channels = Some("good,b@d".into())),
            ),
            (
                "TWITCH_IRC_SERVER: ",
                Box::new(|a| a.twitch_irc_server = Some("tcp://localhost".into())),
            ),
            (
                "TWITCH_IRC_SERVER: ",
                Box::new(|a| a.twitch_irc_server = Some("ws://x:1".into())),
            ),
            (
                "TWITCH_AUTH_URL: ",
                Box::new(|a| a.twitch_auth_url = Some("not a url".into())),
            ),
            (
                "TWITCH_API_URL: ",
                Box::new(|a| a.twitch_api_url = Some("/relative".into())),
            ),
            (
                "DISCORD_WEBHOOK_URL: ",
                Box::new(|a| a.discord_webhook_url = Some("nope".into())),
            ),
            (
                "IGNORE_USERS: ",
                Box::new(|a| a.ignore_users = Some("ok,not ok".into())),
            ),
            (
                "ONLY_WHEN_LIVE: ",
                Box::new(|a| a.only_when_live = Some("maybe".into())),
            ),
            ("ADMIN_TOKEN: ", Box::new(|a| a.admin_token = Some("two words".into()))),
            ("TOKEN_KEY: ", Box::new(|a| a.token_key = Some("c2hvcnQ=".into()))),
            ("TOKEN_KEY: ", Box::new(|a| a.token_key = Some("%%%".into()))),
            ("RUST_LOG: ", Box::new(|a| a.rust_log = Some("info,[bad".into()))),
            ("LOG_FORMAT: ", Box::new(|a| a.log_format = Some("xml".into()))),
            ("SESSION_TTL: ", Box::new(|a| a.session_ttl = Some("0s".into()))),
            ("SESSION_TTL: ", Box::new(|a| a.session_ttl = Some("forever".into()))),
            ("LANGUAGE: ", Box::new(|a| a.language = Some("fr".into()))),
        ];
        for (prefix, change) in cases {
            let message = error(change);
            assert!(message.starts_with(prefix), "{message:?} should start with {prefix:?}");
            assert!(!message.contains('\n'), "one line: {message:?}");
        }
    }

    #[test]
    fn secret_values_never_appear_in_errors_or_debug() {
        let message = error(|a| a.database_url = Some("postgres://u:hunter2@host:notaport/db".into()));
        assert!(!message.contains("hunter2"), "{message}");
        let message = error(|a| a.discord_webhook_url = Some("notaurl/hunter2".into()));
        assert!(!message.contains("hunter2"), "{message}");
        let message = error(|a| a.token_key = Some("aHVudGVyMg==".into()));
        assert!(!message.contains("aHVudGVyMg"), "{message}");

        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let s = with(|a| {
            a.database_url = Some("postgres://u:hunter2@localhost/db".into());
            a.twitch_client_secret = Some("clientsecret123".into());
            a.discord_webhook_url = Some("https://discord.com/api/webhooks/1/webhooktoken".into());
            a.admin_token = Some("admintoken123-long-enough-to-be-accepted".into());
            a.token_key = Some(key.clone());
        })
        .expect("valid");
        let debug = format!("{s:?}");
        for secret in [
            "hunter2",
            "clientsecret123",
            "webhooktoken",
            "admintoken123-long-enough-to-be-accepted",
            key.as_str(),
        ] {
            assert!(!debug.contains(secret), "{secret} leaked in {debug}");
        }
    }

    #[test]
    fn channel_lists_are_normalised_and_deduplicated() {
        let s = with(|a| a.twitch_channels = Some(" #Alpha, beta,,alpha ".into())).expect("valid");
        let names: Vec<&str> = s.twitch_channels.iter().map(ChannelLogin::as_str).collect();
        assert_eq!(names, ["alpha", "beta"]);
    }

    #[test]
    fn empty_values_mean_the_default() {
        let s = with(|a| {
            a.raffle_interval = Some("  ".into());
            a.database_url = Some(String::new());
        })
        .expect("valid");
        assert_eq!(s.channel_defaults.raffle_interval, Duration::from_secs(60));
        assert!(s.database_url.is_none());
    }

    #[test]
    fn plain_tcp_irc_server_and_public_url_trailing_slash() {
        let s = with(|a| {
            a.twitch_irc_server = Some("tcp://127.0.0.1:6667".into());
            a.public_url = Some("https://bot.example.com/kb/".into());
        })
        .expect("valid");
        assert_eq!(
            s.twitch_irc_server,
            IrcServer::Tcp {
                host: "127.0.0.1".into(),
                port: 6667
            }
        );
        assert_eq!(s.oauth_redirect_url(), "https://bot.example.com/kb/auth/callback");
    }

    #[test]
    fn token_key_accepts_32_bytes_of_base64() {
        let key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let s = with(|a| a.token_key = Some(key)).expect("valid");
        let token_key = s.token_key.expect("set");
        assert_eq!(format!("{token_key:?}"), "TokenKey([redacted])");
        assert_eq!(token_key.clone().expose_secret(), &[9u8; 32]);
    }

    #[test]
    fn load_reads_file_and_names_missing_path() {
        let dir = std::env::temp_dir().join(format!("kb-items-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("items.toml");
        std::fs::write(&good, "[[items]]\nname = \"A\"\nprobability = 0.5\n").unwrap();
        assert_eq!(load_items(&good).unwrap().items().len(), 1);
        let missing = dir.join("nope.toml");
        let e = load_items(&missing).unwrap_err();
        assert!(matches!(e, ItemsError::Read { .. }));
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read items file: ", missing.display()))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_admin_token_is_refused_with_a_way_to_make_one() {
        let message = error(|a| a.admin_token = Some("a".into()));
        assert!(
            message.starts_with("ADMIN_TOKEN: must be at least 32 characters"),
            "{message}"
        );
        assert!(message.contains("openssl rand -hex 32"), "{message}");
        let long = "x".repeat(MIN_ADMIN_TOKEN_CHARS);
        assert!(with(|a| a.admin_token = Some(long)).is_ok());
        let short = "x".repeat(MIN_ADMIN_TOKEN_CHARS - 1);
        assert!(with(|a| a.admin_token = Some(short)).is_err());
    }

    #[test]
    fn secrets_given_as_flags_are_refused_without_echoing_them() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Probe {
            #[command(flatten)]
            settings: SettingsArgs,
        }
        for (flag, name) in [
            ("--admin-token", "ADMIN_TOKEN"),
            ("--token-key", "TOKEN_KEY"),
            ("--twitch-client-secret", "TWITCH_CLIENT_SECRET"),
            ("--discord-webhook-url", "DISCORD_WEBHOOK_URL"),
            ("--discord-bot-token", "DISCORD_BOT_TOKEN"),
        ] {
            let probe =
                Probe::try_parse_from(["kinoyubot", flag, "hunter2-hunter2-hunter2-hunter2-x"]).expect("parses");
            let message = Settings::from_args(probe.settings)
                .map(|_| ())
                .expect_err("refused")
                .to_string();
            assert!(message.starts_with(&format!("{name}: is a secret")), "{message}");
            assert!(message.contains(&format!("{name}_FILE")), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("admin");
        let token = "t".repeat(40);
        std::fs::write(&path, format!("{token}\n")).expect("write");
        let env = |vars: Vec<(&'static str, String)>| {
            move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
        };

        let mut args = SettingsArgs::default();
        args.read_secrets(env(vec![("ADMIN_TOKEN_FILE", path.display().to_string())]))
            .expect("file read");
        let settings = Settings::from_args(args).expect("valid");
        assert_eq!(
            settings.admin_token.as_ref().map(|t| t.expose_secret().to_owned()),
            Some(token.clone()),
            "the file's contents, without the trailing newline"
        );

        let mut args = SettingsArgs::default();
        args.read_secrets(env(vec![("TWITCH_CLIENT_SECRET", "from-env".into())]))
            .expect("env read");
        assert_eq!(args.twitch_client_secret.as_deref(), Some("from-env"));

        let mut args = SettingsArgs::default();
        let both = args
            .read_secrets(env(vec![
                ("ADMIN_TOKEN", token.clone()),
                ("ADMIN_TOKEN_FILE", path.display().to_string()),
            ]))
            .expect_err("both refused")
            .to_string();
        assert!(
            both.starts_with("ADMIN_TOKEN: both ADMIN_TOKEN and ADMIN_TOKEN_FILE"),
            "{both}"
        );

        let mut args = SettingsArgs::default();
        let missing = args
            .read_secrets(env(vec![("TOKEN_KEY_FILE", "/nonexistent/kinoyubot-key".into())]))
            .expect_err("missing file")
            .to_string();
        assert!(
            missing.starts_with("TOKEN_KEY: cannot read TOKEN_KEY_FILE file \"/nonexistent/kinoyubot-key\""),
            "{missing}"
        );
    }

    #[test]
    fn discord_bot_settings_are_parsed_and_the_token_is_never_shown() {
        let none = with(|_| {}).expect("defaults");
        assert!(none.discord_bot.is_none());
        let s = with(|a| {
            a.discord_bot_token = Some("Bot abc.def-supersecret".into());
            a.discord_guild_id = Some("112233445566778899".into());
            a.discord_channel_id = Some(" 998877 ".into());
            a.discord_api_url = Some("http://127.0.0.1:9/".into());
            a.discord_gateway_url = Some("ws://127.0.0.1:10".into());
        })
        .expect("valid");
        let bot = s.discord_bot.expect("bot configured");
        assert_eq!(bot.token.expose(), "abc.def-supersecret");
        assert_eq!(
            bot.guild_id.map(std::num::NonZeroU64::get),
            Some(112_233_445_566_778_899)
        );
        assert_eq!(bot.channel_id.map(std::num::NonZeroU64::get), Some(998_877));
        assert_eq!(bot.admin_role, None);
        assert_eq!(bot.gateway_url.scheme(), "ws");
        let debug = format!("{bot:?}");
        assert!(!debug.contains("supersecret"), "{debug}");
        assert!(bot.api_url.as_str().starts_with("http://127.0.0.1:9"));
    }

    #[test]
    fn bad_discord_settings_name_the_setting() {
        type Case = (&'static str, fn(&mut SettingsArgs));
        let cases: [Case; 5] = [
            ("DISCORD_GUILD_ID", |a| {
                a.discord_bot_token = Some("t".into());
                a.discord_guild_id = Some("abc".into());
            }),
            ("DISCORD_CHANNEL_ID", |a| a.discord_channel_id = Some("12".into())),
            ("DISCORD_GATEWAY_URL", |a| {
                a.discord_bot_token = Some("t".into());
                a.discord_gateway_url = Some("http://example.com".into());
            }),
            ("DISCORD_ADMIN_ROLE", |a| {
                a.discord_bot_token = Some("t".into());
                a.discord_admin_role = Some("0".into());
            }),
            ("DISCORD_BOT_TOKEN", |a| a.discord_bot_token = Some("two words".into())),
        ];
        for (setting, f) in cases {
            let err = with(f).expect_err(setting);
            assert_eq!(err.setting, setting, "{err}");
            assert!(!err.reason.contains("words"), "{err}");
        }
    }

    #[test]
    fn the_bot_token_is_a_secret_setting() {
        let mut args = SettingsArgs::default();
        args.read_secrets(|name| (name == "DISCORD_BOT_TOKEN").then(|| "tok".to_owned()))
            .expect("read");
        assert_eq!(args.discord_bot_token.as_deref(), Some("tok"));
    }
}
