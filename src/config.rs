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

use crate::announce::chat_line::ChatAnnounce;
use crate::announce::discord::WebhookUrl;
use crate::channel::ChannelLogin;
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
/// Default for `RAFFLE_INTERVAL`.
pub(crate) const DEFAULT_RAFFLE_INTERVAL: &str = "60s";
/// Default for `ACTIVE_WINDOW`.
pub(crate) const DEFAULT_ACTIVE_WINDOW: &str = "10m";
/// Default for `WINNER_COOLDOWN`.
pub(crate) const DEFAULT_WINNER_COOLDOWN: &str = "0s";
/// Default for `CLAIM_WINDOW` (off).
pub(crate) const DEFAULT_CLAIM_WINDOW: &str = "0s";
/// Default for `CLAIM_REDRAWS`.
pub(crate) const DEFAULT_CLAIM_REDRAWS: u32 = 2;
/// Most redraws `CLAIM_REDRAWS` allows.
pub(crate) const MAX_CLAIM_REDRAWS: u32 = 10;
/// Default for `SUBSCRIBER_LUCK`.
pub(crate) const DEFAULT_SUBSCRIBER_LUCK: u8 = 1;
/// Default for `ITEMS_FILE`.
pub(crate) const DEFAULT_ITEMS_FILE: &str = "items.toml";
/// Default for `RUST_LOG`.
pub(crate) const DEFAULT_RUST_LOG: &str = "info";
/// Shortest accepted `ADMIN_TOKEN`, in characters (SPEC §2).
pub(crate) const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// Shortest accepted `RAFFLE_INTERVAL`; slots are whole seconds.
pub(crate) const MIN_RAFFLE_INTERVAL: Duration = Duration::from_secs(1);

/// Chat bots that are never eligible unless `IGNORE_USERS` says otherwise.
pub(crate) const DEFAULT_IGNORE_USERS: &[&str] = &[
    "nightbot",
    "streamelements",
    "streamlabs",
    "moobot",
    "fossabot",
    "wizebot",
    "soundalerts",
    "sery_bot",
    "commanderroot",
    "kofistreambot",
    "botrixoficial",
    "pokemoncommunitygame",
    "streamstickers",
    "blerp",
];

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
    fn new(setting: &'static str, reason: impl Into<String>) -> Self {
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
const SECRET_SETTINGS: [&str; 4] = [
    "TWITCH_CLIENT_SECRET",
    "DISCORD_WEBHOOK_URL",
    "ADMIN_TOKEN",
    "TOKEN_KEY",
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
    /// `RAFFLE_INTERVAL`, at least [`MIN_RAFFLE_INTERVAL`], whole seconds.
    pub(crate) raffle_interval: Duration,
    /// `ACTIVE_WINDOW`, greater than zero.
    pub(crate) active_window: Duration,
    /// `WINNER_COOLDOWN`.
    pub(crate) winner_cooldown: Duration,
    /// `SUBSCRIBER_LUCK`, 1 to 10.
    pub(crate) subscriber_luck: u8,
    /// `IGNORE_USERS`.
    pub(crate) ignore_users: Vec<ChannelLogin>,
    /// `ONLY_WHEN_LIVE`.
    pub(crate) only_when_live: bool,
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
    /// `CHAT_ANNOUNCE`, the default of every channel (read a channel's
    /// with `RaffleRules::chat_announce`).
    pub(crate) chat_announce: ChatAnnounce,
    /// `CLAIM_WINDOW` (0 = off), the default of every channel
    /// (`RaffleRules::claim_window`).
    pub(crate) claim_window: Duration,
    /// `CLAIM_REDRAWS`, the default of every channel (`RaffleRules::claim_redraws`).
    pub(crate) claim_redraws: u32,
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

fn boolean(setting: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match non_empty(value) {
        None => Ok(default),
        Some(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(ConfigError::new(
                setting,
                format!("invalid boolean {text:?}; use true or false"),
            )),
        },
    }
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
    pub fn from_args(args: SettingsArgs) -> Result<Self, ConfigError> {
        if let Some(name) = args.secret_flags.first_given() {
            return Err(ConfigError::new(
                name,
                format!(
                    "is a secret and is not accepted as a flag (flags show in `ps` and shell history); \
                     set {name} in the environment or .env, or put it in a file and set {name}_FILE to its path"
                ),
            ));
        }
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
        let raffle_interval = duration("RAFFLE_INTERVAL", args.raffle_interval, DEFAULT_RAFFLE_INTERVAL)?;
        if raffle_interval < MIN_RAFFLE_INTERVAL {
            return Err(ConfigError::new("RAFFLE_INTERVAL", "must be at least 1s"));
        }
        if raffle_interval.subsec_nanos() != 0 {
            return Err(ConfigError::new("RAFFLE_INTERVAL", "must be a whole number of seconds"));
        }
        let active_window = duration("ACTIVE_WINDOW", args.active_window, DEFAULT_ACTIVE_WINDOW)?;
        if active_window.is_zero() {
            return Err(ConfigError::new("ACTIVE_WINDOW", "must be greater than 0s"));
        }
        let winner_cooldown = duration("WINNER_COOLDOWN", args.winner_cooldown, DEFAULT_WINNER_COOLDOWN)?;
        let subscriber_luck = match non_empty(args.subscriber_luck) {
            None => DEFAULT_SUBSCRIBER_LUCK,
            Some(text) => match text.parse::<u8>() {
                Ok(n @ 1..=10) => n,
                _ => {
                    return Err(ConfigError::new(
                        "SUBSCRIBER_LUCK",
                        format!("invalid value {text:?}; must be a whole number from 1 to 10"),
                    ));
                }
            },
        };
        let ignore_users = match non_empty(args.ignore_users) {
            None => logins("IGNORE_USERS", &DEFAULT_IGNORE_USERS.join(","))?,
            Some(text) => logins("IGNORE_USERS", &text)?,
        };
        let only_when_live = boolean("ONLY_WHEN_LIVE", args.only_when_live, true)?;
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
        let chat_announce = match non_empty(args.chat_announce) {
            None => ChatAnnounce::default(),
            Some(text) => ChatAnnounce::parse(&text).ok_or_else(|| {
                ConfigError::new(
                    "CHAT_ANNOUNCE",
                    format!("invalid value {text:?}; use off, winners or all"),
                )
            })?,
        };
        let claim_window = duration("CLAIM_WINDOW", args.claim_window, DEFAULT_CLAIM_WINDOW)?;
        let claim_redraws = match non_empty(args.claim_redraws) {
            None => DEFAULT_CLAIM_REDRAWS,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n <= MAX_CLAIM_REDRAWS => n,
                _ => {
                    return Err(ConfigError::new(
                        "CLAIM_REDRAWS",
                        format!("invalid value {text:?}; must be a whole number from 0 to {MAX_CLAIM_REDRAWS}"),
                    ));
                }
            },
        };
        Ok(Self {
            chat_announce,
            claim_window,
            claim_redraws,
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
            raffle_interval,
            active_window,
            winner_cooldown,
            subscriber_luck,
            ignore_users,
            only_when_live,
            items_file,
            admin_token,
            token_key,
            rust_log,
            log_format,
            connect_policy,
        })
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
    use super::*;

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
        assert_eq!(s.raffle_interval, Duration::from_secs(60));
        assert_eq!(s.active_window, Duration::from_secs(600));
        assert_eq!(s.winner_cooldown, Duration::ZERO);
        assert_eq!(s.subscriber_luck, 1);
        assert!(s.only_when_live);
        assert_eq!(s.items_file, PathBuf::from("items.toml"));
        assert!(s.admin_token.is_none() && s.token_key.is_none() && s.discord_webhook_url.is_none());
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.ignore_users.len(), DEFAULT_IGNORE_USERS.len());
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
        assert_eq!(s.raffle_interval, Duration::from_secs(30));
        assert_eq!(s.active_window, Duration::from_secs(3900));
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
            with(|a| a.subscriber_luck = Some("10".into())).map(|s| s.subscriber_luck),
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
        assert_eq!(s.raffle_interval, Duration::from_secs(60));
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
}
