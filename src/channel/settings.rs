//! Per-channel settings (SPEC §10, §13): the settings a channel may set for
//! itself from the control room, over the environment's defaults.
//!
//! Pure: no I/O. The environment ([`crate::config`]), the store
//! (`store::channel_settings`) and the JSON API all parse through
//! [`Setting::parse_text`] / [`Setting::parse_json`], so a value is valid
//! for a channel exactly when it is valid in the environment, and the
//! error names the same problem.
//!
//! - [`Setting`]: which settings are per channel, with their JSON/column
//!   name (`raffle_interval`) and environment name (`RAFFLE_INTERVAL`).
//! - [`SettingValue`]: one typed value, its canonical text (the
//!   environment's syntax, also what `channel_settings` stores) and JSON.
//! - [`ChannelSettings`]: the effective values a round or timer uses.
//! - [`OwnSettings`]: the values a channel set itself (a row of
//!   `channel_settings`); [`ChannelSettings::with_own`] lays them over the
//!   defaults. `IGNORE_USERS` is the exception: a channel's list is added to
//!   the global one, never replaces it.
//! - [`ChannelOverrides`]: a `PUT` body, a partial object where `null`
//!   resets a setting to its default.
//! - [`SettingsView`]: `{"settings": {name: {"value", "source"}}}`.
//!
//! # Adding a per-channel setting
//!
//! 1. A variant of [`Setting`] and of [`SettingValue`], and the variant in
//!    [`Setting::ALL`]; the compiler then lists every `match` to extend:
//!    its names, its parser (reuse `parse_duration`, `parse_bool`, … and
//!    keep the environment's messages), its canonical text and JSON.
//! 2. A field of [`ChannelSettings`] with its default in `Default`, and its
//!    arms in [`ChannelSettings::value`] and `ChannelSettings::set`.
//! 3. In `config.rs`, add the raw `SettingsArgs` field (`env = "X"`) and
//!    its pair in the list `Settings::from_args` feeds to
//!    `ChannelSettings::replace`; `Settings::channel_defaults` then holds it.
//! 4. One nullable `text` column named [`Setting::name`] in
//!    `channel_settings` (a new migration). The store and the API need no
//!    change: they iterate over [`Setting::ALL`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::{ChannelLogin, ChannelLoginError};
use crate::catalog::Language;
use crate::raffle::eligibility::{Gates, PresenceSources, PresenceSourcesError};

/// Shortest `RAFFLE_INTERVAL`; slots are whole seconds.
pub(crate) const MIN_RAFFLE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest duration any of these settings accepts (a year): beyond, slot
/// and database time arithmetic would only overflow.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// Default `RAFFLE_INTERVAL`.
pub(crate) const DEFAULT_RAFFLE_INTERVAL: Duration = Duration::from_secs(60);
/// Default `ACTIVE_WINDOW`.
pub(crate) const DEFAULT_ACTIVE_WINDOW: Duration = Duration::from_secs(600);
/// Default `WINNER_COOLDOWN`.
pub(crate) const DEFAULT_WINNER_COOLDOWN: Duration = Duration::ZERO;
/// Default `SUBSCRIBER_LUCK`.
pub(crate) const DEFAULT_SUBSCRIBER_LUCK: u8 = 1;
/// Default `ONLY_WHEN_LIVE`.
pub(crate) const DEFAULT_ONLY_WHEN_LIVE: bool = true;
/// Default `CLAIM_WINDOW`: off.
pub(crate) const DEFAULT_CLAIM_WINDOW: Duration = Duration::ZERO;
/// Default `CLAIM_REDRAWS`.
pub(crate) const DEFAULT_CLAIM_REDRAWS: u32 = 2;
/// Most redraws `CLAIM_REDRAWS` allows.
pub(crate) const MAX_CLAIM_REDRAWS: u32 = 10;

/// `CHAT_ANNOUNCE`: which rounds the bot tells in chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatAnnounce {
    /// Nothing is announced (replies to commands still are).
    Off,
    /// Wins, claims and redraws.
    #[default]
    Winners,
    /// Also rounds without a prize.
    All,
}

impl ChatAnnounce {
    /// Parses `off`, `winners` or `all` (case-insensitive).
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "winners" => Some(Self::Winners),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Winners => "winners",
            Self::All => "all",
        }
    }
}

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

/// A setting a channel may set for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    /// `RAFFLE_INTERVAL`: time between automatic raffles.
    RaffleInterval,
    /// `ACTIVE_WINDOW`: a viewer is active if seen within it.
    ActiveWindow,
    /// `WINNER_COOLDOWN`: a winner is not eligible again for this long.
    WinnerCooldown,
    /// `SUBSCRIBER_LUCK`: subscribers' weight, 1 to 10.
    SubscriberLuck,
    /// `ONLY_WHEN_LIVE`: raffle only while live.
    OnlyWhenLive,
    /// `IGNORE_USERS`: logins never eligible (added to the global list).
    IgnoreUsers,
    /// `CHAT_ANNOUNCE`: what the bot says in chat.
    ChatAnnounce,
    /// `CLAIM_WINDOW`: how long a winner has to claim (0 = no claims).
    ClaimWindow,
    /// `CLAIM_REDRAWS`: redraws before the prize goes back to stock.
    ClaimRedraws,
    /// `PRESENCE_SOURCES`: `chat`, or `chat,chatters` (lurkers count).
    PresenceSources,
    /// `MIN_FOLLOW_AGE`: `off` (following not required) or a duration.
    MinFollowAge,
    /// `MIN_ACCOUNT_AGE`: accounts younger than this never win.
    MinAccountAge,
    /// `SUBSCRIBERS_ONLY`.
    SubscribersOnly,
    /// `MIN_MESSAGES`: messages sent in the channel to be eligible.
    MinMessages,
    /// `LANGUAGE`: what the bot speaks in the channel's chat, on Discord
    /// and on its dashboard.
    Language,
}

impl Setting {
    /// Every per-channel setting, in the order they are shown.
    pub const ALL: [Setting; 15] = [
        Setting::Language,
        Setting::RaffleInterval,
        Setting::ActiveWindow,
        Setting::WinnerCooldown,
        Setting::SubscriberLuck,
        Setting::OnlyWhenLive,
        Setting::IgnoreUsers,
        Setting::ChatAnnounce,
        Setting::ClaimWindow,
        Setting::ClaimRedraws,
        Setting::PresenceSources,
        Setting::MinFollowAge,
        Setting::MinAccountAge,
        Setting::SubscribersOnly,
        Setting::MinMessages,
    ];

    /// The lower-case name: the JSON key of the API and the column of
    /// `channel_settings`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RaffleInterval => "raffle_interval",
            Self::ActiveWindow => "active_window",
            Self::WinnerCooldown => "winner_cooldown",
            Self::SubscriberLuck => "subscriber_luck",
            Self::OnlyWhenLive => "only_when_live",
            Self::IgnoreUsers => "ignore_users",
            Self::ChatAnnounce => "chat_announce",
            Self::ClaimWindow => "claim_window",
            Self::ClaimRedraws => "claim_redraws",
            Self::PresenceSources => "presence_sources",
            Self::MinFollowAge => "min_follow_age",
            Self::MinAccountAge => "min_account_age",
            Self::SubscribersOnly => "subscribers_only",
            Self::MinMessages => "min_messages",
            Self::Language => "language",
        }
    }

    /// The environment variable giving its default.
    pub fn env_name(self) -> &'static str {
        match self {
            Self::RaffleInterval => "RAFFLE_INTERVAL",
            Self::ActiveWindow => "ACTIVE_WINDOW",
            Self::WinnerCooldown => "WINNER_COOLDOWN",
            Self::SubscriberLuck => "SUBSCRIBER_LUCK",
            Self::OnlyWhenLive => "ONLY_WHEN_LIVE",
            Self::IgnoreUsers => "IGNORE_USERS",
            Self::ChatAnnounce => "CHAT_ANNOUNCE",
            Self::ClaimWindow => "CLAIM_WINDOW",
            Self::ClaimRedraws => "CLAIM_REDRAWS",
            Self::PresenceSources => "PRESENCE_SOURCES",
            Self::MinFollowAge => "MIN_FOLLOW_AGE",
            Self::MinAccountAge => "MIN_ACCOUNT_AGE",
            Self::SubscribersOnly => "SUBSCRIBERS_ONLY",
            Self::MinMessages => "MIN_MESSAGES",
            Self::Language => "LANGUAGE",
        }
    }

    /// The setting with this lower-case name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|setting| setting.name() == name)
    }

    /// Parses the environment's syntax (`30s`, `2`, `true`, `a,b`).
    ///
    /// # Errors
    ///
    /// Why the text is not a valid value (its `Display` is the
    /// environment's words).
    pub fn parse_text(self, text: &str) -> Result<SettingValue, SettingProblem> {
        let text = text.trim();
        Ok(match self {
            Self::RaffleInterval => {
                let interval = parse_duration(text)?;
                if interval < MIN_RAFFLE_INTERVAL {
                    return Err(SettingProblem::IntervalTooShort);
                }
                if interval.subsec_nanos() != 0 {
                    return Err(SettingProblem::IntervalNotWholeSeconds);
                }
                SettingValue::RaffleInterval(interval)
            }
            Self::ActiveWindow => {
                let window = parse_duration(text)?;
                if window.is_zero() {
                    return Err(SettingProblem::WindowZero);
                }
                SettingValue::ActiveWindow(window)
            }
            Self::WinnerCooldown => SettingValue::WinnerCooldown(parse_duration(text)?),
            Self::SubscriberLuck => SettingValue::SubscriberLuck(parse_luck(text)?),
            Self::OnlyWhenLive => SettingValue::OnlyWhenLive(parse_bool(text)?),
            Self::IgnoreUsers => SettingValue::IgnoreUsers(parse_logins(text)?),
            Self::ChatAnnounce => SettingValue::ChatAnnounce(
                ChatAnnounce::parse(text).ok_or_else(|| SettingProblem::NotAnAnnounceMode(text.to_owned()))?,
            ),
            Self::ClaimWindow => SettingValue::ClaimWindow(parse_duration(text)?),
            Self::ClaimRedraws => SettingValue::ClaimRedraws(parse_redraws(text)?),
            Self::PresenceSources => SettingValue::PresenceSources(text.parse()?),
            Self::MinFollowAge => SettingValue::MinFollowAge(match text.to_ascii_lowercase().as_str() {
                "off" | "unset" | "none" => None,
                _ => Some(parse_duration(text).map_err(|problem| SettingProblem::OrOff(Box::new(problem)))?),
            }),
            Self::MinAccountAge => SettingValue::MinAccountAge(parse_duration(text)?),
            Self::SubscribersOnly => SettingValue::SubscribersOnly(parse_bool(text)?),
            Self::MinMessages => SettingValue::MinMessages(parse_min_messages(text)?),
            Self::Language => SettingValue::Language(
                text.parse::<Language>()
                    .map_err(|_| SettingProblem::NotALanguage(text.to_owned()))?,
            ),
        })
    }

    /// Parses a JSON value of a `PUT` body: the environment's text, or the
    /// natural JSON type (a number for `subscriber_luck`, a boolean for
    /// `only_when_live`, an array of logins for `ignore_users`).
    ///
    /// # Errors
    ///
    /// Why the value is not valid for this setting.
    pub fn parse_json(self, value: &Value) -> Result<SettingValue, SettingProblem> {
        match (self, value) {
            (_, Value::String(text)) => self.parse_text(text),
            (Self::SubscriberLuck | Self::ClaimRedraws, Value::Number(number)) => self.parse_text(&number.to_string()),
            (Self::OnlyWhenLive, Value::Bool(flag)) => Ok(SettingValue::OnlyWhenLive(*flag)),
            (Self::SubscribersOnly, Value::Bool(flag)) => Ok(SettingValue::SubscribersOnly(*flag)),
            (Self::MinFollowAge, Value::Bool(false)) => Ok(SettingValue::MinFollowAge(None)),
            (Self::MinMessages, Value::Number(number)) => self.parse_text(&number.to_string()),
            (Self::IgnoreUsers, Value::Array(entries)) => {
                let mut logins = Vec::with_capacity(entries.len());
                for entry in entries {
                    let Value::String(text) = entry else {
                        return Err(SettingProblem::LoginListNotStrings);
                    };
                    logins.push(text.as_str());
                }
                self.parse_text(&logins.join(","))
            }
            _ => Err(SettingProblem::WrongType(self)),
        }
    }

    /// What a JSON value for this setting looks like, for errors.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Self::RaffleInterval
            | Self::ActiveWindow
            | Self::WinnerCooldown
            | Self::MinAccountAge
            | Self::ClaimWindow => "a duration such as \"30s\" or \"10m\"",
            Self::MinFollowAge => "a duration such as \"1d\", or \"off\"",
            Self::SubscriberLuck => "a whole number from 1 to 10",
            Self::MinMessages => "a whole number, 0 or more",
            Self::OnlyWhenLive | Self::SubscribersOnly => "true or false",
            Self::IgnoreUsers => "a comma-separated string or a list of logins",
            Self::ChatAnnounce => "off, winners or all",
            Self::ClaimRedraws => "a whole number from 0 to 10",
            Self::PresenceSources => "\"chat\" or \"chat,chatters\"",
            Self::Language => "\"en\" or \"pt-BR\"",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One typed value of a [`Setting`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    /// `RAFFLE_INTERVAL`: whole seconds, at least one.
    RaffleInterval(Duration),
    /// `ACTIVE_WINDOW`: greater than zero.
    ActiveWindow(Duration),
    /// `WINNER_COOLDOWN`.
    WinnerCooldown(Duration),
    /// `SUBSCRIBER_LUCK`: 1 to 10.
    SubscriberLuck(u8),
    /// `ONLY_WHEN_LIVE`.
    OnlyWhenLive(bool),
    /// `IGNORE_USERS`: distinct logins, in the order given.
    IgnoreUsers(Vec<ChannelLogin>),
    /// `CHAT_ANNOUNCE`.
    ChatAnnounce(ChatAnnounce),
    /// `CLAIM_WINDOW`: zero is off.
    ClaimWindow(Duration),
    /// `CLAIM_REDRAWS`: 0 to [`MAX_CLAIM_REDRAWS`].
    ClaimRedraws(u32),
    /// `PRESENCE_SOURCES`.
    PresenceSources(PresenceSources),
    /// `MIN_FOLLOW_AGE`: `None` = following not required, `Some(0s)` = any follower.
    MinFollowAge(Option<Duration>),
    /// `MIN_ACCOUNT_AGE`: zero turns the gate off.
    MinAccountAge(Duration),
    /// `SUBSCRIBERS_ONLY`.
    SubscribersOnly(bool),
    /// `MIN_MESSAGES`.
    MinMessages(u32),
    /// `LANGUAGE`.
    Language(Language),
}

impl SettingValue {
    /// The setting this is a value of.
    pub fn setting(&self) -> Setting {
        match self {
            Self::RaffleInterval(_) => Setting::RaffleInterval,
            Self::ActiveWindow(_) => Setting::ActiveWindow,
            Self::WinnerCooldown(_) => Setting::WinnerCooldown,
            Self::SubscriberLuck(_) => Setting::SubscriberLuck,
            Self::OnlyWhenLive(_) => Setting::OnlyWhenLive,
            Self::IgnoreUsers(_) => Setting::IgnoreUsers,
            Self::ChatAnnounce(_) => Setting::ChatAnnounce,
            Self::ClaimWindow(_) => Setting::ClaimWindow,
            Self::ClaimRedraws(_) => Setting::ClaimRedraws,
            Self::PresenceSources(_) => Setting::PresenceSources,
            Self::MinFollowAge(_) => Setting::MinFollowAge,
            Self::MinAccountAge(_) => Setting::MinAccountAge,
            Self::SubscribersOnly(_) => Setting::SubscribersOnly,
            Self::MinMessages(_) => Setting::MinMessages,
            Self::Language(_) => Setting::Language,
        }
    }

    /// The canonical text in the environment's syntax; [`Setting::parse_text`]
    /// reads it back to the same value.
    pub fn to_text(&self) -> String {
        match self {
            Self::RaffleInterval(d)
            | Self::ActiveWindow(d)
            | Self::WinnerCooldown(d)
            | Self::MinAccountAge(d)
            | Self::ClaimWindow(d) => format_duration(*d),
            Self::ChatAnnounce(announce) => announce.as_str().to_owned(),
            Self::ClaimRedraws(redraws) => redraws.to_string(),
            Self::SubscriberLuck(luck) => luck.to_string(),
            Self::OnlyWhenLive(flag) | Self::SubscribersOnly(flag) => flag.to_string(),
            Self::IgnoreUsers(logins) => logins.iter().map(ChannelLogin::as_str).collect::<Vec<_>>().join(","),
            Self::PresenceSources(sources) => sources.as_str().to_owned(),
            Self::MinFollowAge(None) => "off".to_owned(),
            Self::MinFollowAge(Some(d)) => format_duration(*d),
            Self::MinMessages(n) => n.to_string(),
            Self::Language(language) => language.tag().to_owned(),
        }
    }

    /// The value in JSON: durations, sources and lists as their text
    /// (`min_follow_age` off as `"off"`), luck and `min_messages` numbers,
    /// `only_when_live` and `subscribers_only` booleans.
    pub fn to_json(&self) -> Value {
        match self {
            Self::SubscriberLuck(luck) => Value::from(*luck),
            Self::ClaimRedraws(redraws) => Value::from(*redraws),
            Self::MinMessages(n) => Value::from(*n),
            Self::OnlyWhenLive(flag) | Self::SubscribersOnly(flag) => Value::Bool(*flag),
            _ => Value::String(self.to_text()),
        }
    }
}

/// Why a value is not valid for a [`Setting`]. `Display` is the English
/// text the environment's errors and logs use; the control room says it
/// in the reader's language through `catalog::ApiText`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingProblem {
    /// Not a humantime duration.
    #[error("invalid duration {0:?}; use e.g. 30s, 10m, 1h")]
    NotADuration(String),
    /// Longer than [`MAX_DURATION`].
    #[error("must be at most 366 days")]
    DurationTooLong,
    /// `RAFFLE_INTERVAL` under [`MIN_RAFFLE_INTERVAL`].
    #[error("must be at least 1s")]
    IntervalTooShort,
    /// `RAFFLE_INTERVAL` with a fraction of a second.
    #[error("must be a whole number of seconds")]
    IntervalNotWholeSeconds,
    /// `ACTIVE_WINDOW` of zero.
    #[error("must be greater than 0s")]
    WindowZero,
    /// A setting that may also be `off` (`MIN_FOLLOW_AGE`).
    #[error("{0}, or off")]
    OrOff(Box<SettingProblem>),
    /// A whole number outside `min..=max` (or not a number).
    #[error("invalid value {text:?}; must be a whole number from {min} to {max}")]
    NotInRange {
        /// What was written.
        text: String,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// Not a whole number of zero or more.
    #[error("invalid value {0:?}; must be a whole number, 0 or more")]
    NotACount(String),
    /// Not a boolean.
    #[error("invalid boolean {0:?}; use true or false")]
    NotABoolean(String),
    /// `LANGUAGE` that is not one we speak.
    #[error("invalid value {0:?}; use en or pt-BR")]
    NotALanguage(String),
    /// `CHAT_ANNOUNCE` that is not one of its modes.
    #[error("invalid value {0:?}; use off, winners or all")]
    NotAnAnnounceMode(String),
    /// A login of `IGNORE_USERS` that is not one.
    #[error(transparent)]
    Login(#[from] ChannelLoginError),
    /// `PRESENCE_SOURCES` that is not one.
    #[error(transparent)]
    Sources(#[from] PresenceSourcesError),
    /// A JSON list of logins with something else than strings in it.
    #[error("must be a list of logins (strings)")]
    LoginListNotStrings,
    /// A JSON value of the wrong type for the setting.
    #[error("expected {}", .0.expected())]
    WrongType(Setting),
    /// A JSON key that is no setting.
    #[error("unknown setting; the settings are {}", setting_names())]
    UnknownSetting,
    /// A `PUT` body that is not a JSON object.
    #[error("must be a JSON object of settings")]
    NotAnObject,
}

/// Every setting's JSON name, comma-separated.
pub(crate) fn setting_names() -> String {
    Setting::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// A per-channel setting that could not be used: `field` is the JSON key
/// (or the setting's name, or `body`), `problem` what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SettingError {
    /// The field at fault, as the client wrote it.
    pub field: String,
    /// What is wrong with it.
    pub problem: SettingProblem,
}

/// The effective per-channel settings: what a channel's rounds and timer
/// follow. `Default` gives SPEC §3's defaults; `config` gives the
/// environment's (`Settings::channel_defaults` in `config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSettings {
    /// `RAFFLE_INTERVAL`, whole seconds, at least one.
    pub raffle_interval: Duration,
    /// `ACTIVE_WINDOW`, greater than zero.
    pub active_window: Duration,
    /// `WINNER_COOLDOWN`.
    pub winner_cooldown: Duration,
    /// `SUBSCRIBER_LUCK`, 1 to 10.
    pub subscriber_luck: u8,
    /// `ONLY_WHEN_LIVE`: rounds of every trigger are recorded as
    /// `skipped_offline` while the stream is offline, or while its live
    /// status cannot be learned although Twitch credentials are set (SPEC
    /// §16); only a forced round (the admin API's `?force=true`) draws anyway.
    pub only_when_live: bool,
    /// `IGNORE_USERS`: the global list plus the channel's own.
    pub ignore_users: Vec<ChannelLogin>,
    /// `CHAT_ANNOUNCE`: what the bot says in chat.
    pub chat_announce: ChatAnnounce,
    /// `CLAIM_WINDOW`: zero is off (see [`ChannelSettings::claims`]).
    pub claim_window: Duration,
    /// `CLAIM_REDRAWS`.
    pub claim_redraws: u32,
    /// `PRESENCE_SOURCES`, `MIN_MESSAGES`, `SUBSCRIBERS_ONLY`,
    /// `MIN_ACCOUNT_AGE`, `MIN_FOLLOW_AGE` (SPEC §10, issue 18).
    pub gates: Gates,
    /// How long follow answers are trusted (not a setting).
    pub follow_cache: crate::raffle::eligibility::FollowCache,
    /// `LANGUAGE`; `crate::channel::ChannelLanguages` is what speakers ask.
    pub language: Language,
}

impl Default for ChannelSettings {
    /// The defaults of SPEC §3.
    fn default() -> Self {
        Self {
            raffle_interval: DEFAULT_RAFFLE_INTERVAL,
            active_window: DEFAULT_ACTIVE_WINDOW,
            winner_cooldown: DEFAULT_WINNER_COOLDOWN,
            subscriber_luck: DEFAULT_SUBSCRIBER_LUCK,
            only_when_live: DEFAULT_ONLY_WHEN_LIVE,
            ignore_users: DEFAULT_IGNORE_USERS
                .iter()
                .filter_map(|login| ChannelLogin::parse(login).ok())
                .collect(),
            chat_announce: ChatAnnounce::default(),
            claim_window: DEFAULT_CLAIM_WINDOW,
            claim_redraws: DEFAULT_CLAIM_REDRAWS,
            gates: Gates::default(),
            follow_cache: crate::raffle::eligibility::FollowCache::default(),
            language: Language::default(),
        }
    }
}

impl ChannelSettings {
    /// The value of one setting.
    pub fn value(&self, setting: Setting) -> SettingValue {
        match setting {
            Setting::RaffleInterval => SettingValue::RaffleInterval(self.raffle_interval),
            Setting::ActiveWindow => SettingValue::ActiveWindow(self.active_window),
            Setting::WinnerCooldown => SettingValue::WinnerCooldown(self.winner_cooldown),
            Setting::SubscriberLuck => SettingValue::SubscriberLuck(self.subscriber_luck),
            Setting::OnlyWhenLive => SettingValue::OnlyWhenLive(self.only_when_live),
            Setting::IgnoreUsers => SettingValue::IgnoreUsers(self.ignore_users.clone()),
            Setting::ChatAnnounce => SettingValue::ChatAnnounce(self.chat_announce),
            Setting::ClaimWindow => SettingValue::ClaimWindow(self.claim_window),
            Setting::ClaimRedraws => SettingValue::ClaimRedraws(self.claim_redraws),
            Setting::PresenceSources => SettingValue::PresenceSources(self.gates.presence_sources),
            Setting::MinFollowAge => SettingValue::MinFollowAge(self.gates.min_follow_age),
            Setting::MinAccountAge => SettingValue::MinAccountAge(self.gates.min_account_age),
            Setting::SubscribersOnly => SettingValue::SubscribersOnly(self.gates.subscribers_only),
            Setting::MinMessages => SettingValue::MinMessages(self.gates.min_messages),
            Setting::Language => SettingValue::Language(self.language),
        }
    }

    /// The claim window of wins (SPEC §11), `None` when claims are off.
    pub fn claims(&self) -> Option<Duration> {
        Some(self.claim_window).filter(|window| !window.is_zero())
    }

    /// Replaces one value (the environment's `IGNORE_USERS` replaces the
    /// built-in list).
    pub(crate) fn replace(&mut self, value: &SettingValue) {
        match value {
            SettingValue::IgnoreUsers(logins) => self.ignore_users.clone_from(logins),
            other => self.set(other),
        }
    }

    /// Sets one value (the ignore list is extended, not replaced).
    fn set(&mut self, value: &SettingValue) {
        match value {
            SettingValue::RaffleInterval(d) => self.raffle_interval = *d,
            SettingValue::ActiveWindow(d) => self.active_window = *d,
            SettingValue::WinnerCooldown(d) => self.winner_cooldown = *d,
            SettingValue::SubscriberLuck(luck) => self.subscriber_luck = *luck,
            SettingValue::OnlyWhenLive(flag) => self.only_when_live = *flag,
            SettingValue::ChatAnnounce(announce) => self.chat_announce = *announce,
            SettingValue::ClaimWindow(window) => self.claim_window = *window,
            SettingValue::ClaimRedraws(redraws) => self.claim_redraws = *redraws,
            SettingValue::PresenceSources(sources) => self.gates.presence_sources = *sources,
            SettingValue::MinFollowAge(age) => self.gates.min_follow_age = *age,
            SettingValue::MinAccountAge(age) => self.gates.min_account_age = *age,
            SettingValue::SubscribersOnly(flag) => self.gates.subscribers_only = *flag,
            SettingValue::MinMessages(n) => self.gates.min_messages = *n,
            SettingValue::Language(language) => self.language = *language,
            SettingValue::IgnoreUsers(logins) => {
                for login in logins {
                    if !self.ignore_users.contains(login) {
                        self.ignore_users.push(login.clone());
                    }
                }
            }
        }
    }

    /// These settings (the defaults) with a channel's own values laid over.
    #[must_use]
    pub fn with_own(&self, own: &OwnSettings) -> Self {
        let mut effective = self.clone();
        for value in own.values.values() {
            effective.set(value);
        }
        effective
    }
}

/// The values a channel set for itself: one row of `channel_settings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnSettings {
    values: BTreeMap<Setting, SettingValue>,
}

impl OwnSettings {
    /// A channel's values, as read from the store.
    pub fn from_values(values: impl IntoIterator<Item = SettingValue>) -> Self {
        Self {
            values: values.into_iter().map(|value| (value.setting(), value)).collect(),
        }
    }

    /// The channel's own value of `setting`, if it set one.
    pub fn get(&self, setting: Setting) -> Option<&SettingValue> {
        self.values.get(&setting)
    }
}

/// A `PUT /api/channels/{login}/settings` body: for each setting named, a
/// new value, or `None` (JSON `null`) to go back to the default. Settings
/// not named keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelOverrides {
    changes: BTreeMap<Setting, Option<SettingValue>>,
}

impl ChannelOverrides {
    /// Parses a `PUT` body.
    ///
    /// # Errors
    ///
    /// A [`SettingError`] naming the first field that is unknown or
    /// invalid, or `body` when it is not a JSON object.
    pub fn parse_json(body: &Value) -> Result<Self, SettingError> {
        let Value::Object(fields) = body else {
            return Err(SettingError {
                field: "body".to_owned(),
                problem: SettingProblem::NotAnObject,
            });
        };
        let mut changes = BTreeMap::new();
        for (field, value) in fields {
            let error = |problem: SettingProblem| SettingError {
                field: field.clone(),
                problem,
            };
            let setting = Setting::from_name(field).ok_or_else(|| error(SettingProblem::UnknownSetting))?;
            let change = match value {
                Value::Null => None,
                value => Some(setting.parse_json(value).map_err(error)?),
            };
            changes.insert(setting, change);
        }
        Ok(Self { changes })
    }

    /// Overrides that set these values.
    pub fn setting(values: impl IntoIterator<Item = SettingValue>) -> Self {
        Self {
            changes: values.into_iter().map(|value| (value.setting(), Some(value))).collect(),
        }
    }

    /// Each setting named, with its new value or `None` to reset it.
    pub fn changes(&self) -> impl Iterator<Item = (Setting, Option<&SettingValue>)> {
        self.changes.iter().map(|(setting, value)| (*setting, value.as_ref()))
    }

    /// Whether nothing is changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether `RAFFLE_INTERVAL` is among the changes (timers re-plan).
    pub fn touches(&self, setting: Setting) -> bool {
        self.changes.contains_key(&setting)
    }
}

/// Where an effective value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The environment (or its built-in default).
    Default,
    /// The channel's own value.
    Channel,
}

/// One setting in [`SettingsView`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingView {
    /// The effective value in the JSON form of [`SettingValue::to_json`]
    /// (for `ignore_users` set by the channel: the channel's own list,
    /// which is added to the global one).
    pub value: Value,
    /// Where it comes from.
    pub source: Source,
}

/// `GET /api/channels/{login}/settings`:
/// `{"settings": {"raffle_interval": {"value": "60s", "source": "default"}, …}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsView {
    /// By lower-case setting name.
    pub settings: BTreeMap<&'static str, SettingView>,
}

impl SettingsView {
    /// The view of a channel's settings over these defaults.
    pub fn new(defaults: &ChannelSettings, own: &OwnSettings) -> Self {
        let settings = Setting::ALL
            .into_iter()
            .map(|setting| {
                let view = match own.get(setting) {
                    Some(value) => SettingView {
                        value: value.to_json(),
                        source: Source::Channel,
                    },
                    None => SettingView {
                        value: defaults.value(setting).to_json(),
                        source: Source::Default,
                    },
                };
                (setting.name(), view)
            })
            .collect();
        Self { settings }
    }
}

/// Parses a humantime duration, at most [`MAX_DURATION`].
fn parse_duration(text: &str) -> Result<Duration, SettingProblem> {
    let duration = humantime::parse_duration(text).map_err(|_| SettingProblem::NotADuration(text.to_owned()))?;
    if duration > MAX_DURATION {
        return Err(SettingProblem::DurationTooLong);
    }
    Ok(duration)
}

/// `MIN_MESSAGES`: a whole number, 0 or more.
fn parse_min_messages(text: &str) -> Result<u32, SettingProblem> {
    text.parse::<u32>()
        .map_err(|_| SettingProblem::NotACount(text.to_owned()))
}

/// A whole number in `min..=max`.
fn parse_in_range(text: &str, min: u32, max: u32) -> Result<u32, SettingProblem> {
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(SettingProblem::NotInRange {
            text: text.to_owned(),
            min,
            max,
        }),
    }
}

fn parse_luck(text: &str) -> Result<u8, SettingProblem> {
    let luck = parse_in_range(text, 1, 10)?;
    u8::try_from(luck).map_err(|_| SettingProblem::NotInRange {
        text: text.to_owned(),
        min: 1,
        max: 10,
    })
}

fn parse_redraws(text: &str) -> Result<u32, SettingProblem> {
    parse_in_range(text, 0, MAX_CLAIM_REDRAWS)
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case.
pub(crate) fn parse_bool(text: &str) -> Result<bool, SettingProblem> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(SettingProblem::NotABoolean(text.to_owned())),
    }
}

/// Comma-separated logins, normalised and without repeats.
pub(crate) fn parse_logins(text: &str) -> Result<Vec<ChannelLogin>, SettingProblem> {
    let mut logins: Vec<ChannelLogin> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|part| !part.is_empty()) {
        let login = ChannelLogin::parse(part)?;
        if !logins.contains(&login) {
            logins.push(login);
        }
    }
    Ok(logins)
}

/// A duration in humantime syntax that reads back the same: seconds (and
/// milliseconds) below ten minutes, as SPEC §13 shows `"60s"`; days,
/// hours, minutes and seconds above.
fn format_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let millis = duration.subsec_millis();
    let mut parts: Vec<String> = Vec::new();
    if total < 600 {
        if total > 0 || millis == 0 {
            parts.push(format!("{total}s"));
        }
    } else {
        let days = total / 86_400;
        let hours = (total % 86_400) / 3_600;
        let minutes = (total % 3_600) / 60;
        let seconds = total % 60;
        for (amount, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
            if amount > 0 {
                parts.push(format!("{amount}{unit}"));
            }
        }
    }
    if millis > 0 {
        parts.push(format!("{millis}ms"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn names_are_unique_and_match_the_environment() {
        for setting in Setting::ALL {
            assert_eq!(setting.env_name().to_ascii_lowercase(), setting.name());
            assert_eq!(Setting::from_name(setting.name()), Some(setting));
        }
        assert_eq!(Setting::from_name("RAFFLE_INTERVAL"), None, "JSON keys are lower case");
    }

    #[test]
    fn canonical_text_reads_back_to_the_same_value() {
        let values = [
            SettingValue::RaffleInterval(secs(60)),
            SettingValue::RaffleInterval(secs(3_600 * 25 + 61)),
            SettingValue::ActiveWindow(secs(600)),
            SettingValue::ActiveWindow(Duration::from_millis(1_500)),
            SettingValue::WinnerCooldown(Duration::ZERO),
            SettingValue::WinnerCooldown(Duration::from_millis(250)),
            SettingValue::WinnerCooldown(secs(7 * 86_400)),
            SettingValue::SubscriberLuck(10),
            SettingValue::OnlyWhenLive(false),
            SettingValue::IgnoreUsers(vec![ChannelLogin::parse("a_bot").expect("login")]),
            SettingValue::IgnoreUsers(vec![]),
            SettingValue::ChatAnnounce(ChatAnnounce::Off),
            SettingValue::ChatAnnounce(ChatAnnounce::All),
            SettingValue::ClaimWindow(Duration::ZERO),
            SettingValue::ClaimWindow(secs(90)),
            SettingValue::ClaimRedraws(0),
            SettingValue::Language(Language::PtBr),
            SettingValue::Language(Language::En),
            SettingValue::ClaimRedraws(10),
        ];
        for value in values {
            let text = value.to_text();
            assert_eq!(value.setting().parse_text(&text), Ok(value.clone()), "{text}");
        }
        assert_eq!(SettingValue::RaffleInterval(secs(60)).to_text(), "60s");
        assert_eq!(SettingValue::ActiveWindow(secs(600)).to_text(), "10m");
        assert_eq!(SettingValue::ActiveWindow(secs(3_900)).to_text(), "1h 5m");
    }

    #[test]
    fn values_are_validated_like_the_environment() {
        let reason = |setting: Setting, text: &str| setting.parse_text(text).expect_err(text).to_string();
        assert_eq!(
            reason(Setting::RaffleInterval, "banana"),
            "invalid duration \"banana\"; use e.g. 30s, 10m, 1h"
        );
        assert_eq!(reason(Setting::RaffleInterval, "500ms"), "must be at least 1s");
        assert_eq!(
            reason(Setting::RaffleInterval, "1s 500ms"),
            "must be a whole number of seconds"
        );
        assert_eq!(reason(Setting::RaffleInterval, "400days"), "must be at most 366 days");
        assert_eq!(reason(Setting::ActiveWindow, "0s"), "must be greater than 0s");
        assert!(reason(Setting::WinnerCooldown, "-1s").starts_with("invalid duration"));
        for bad in ["0", "11", "2.5", "lots"] {
            assert!(
                reason(Setting::SubscriberLuck, bad).starts_with("invalid value"),
                "{bad}"
            );
        }
        assert_eq!(
            reason(Setting::OnlyWhenLive, "maybe"),
            "invalid boolean \"maybe\"; use true or false"
        );
        assert!(reason(Setting::IgnoreUsers, "ok,not ok").contains("not ok"));
        assert_eq!(
            reason(Setting::ChatAnnounce, "loud"),
            "invalid value \"loud\"; use off, winners or all"
        );
        assert!(reason(Setting::ClaimWindow, "soon").starts_with("invalid duration"));
        assert_eq!(
            Setting::Language.parse_text("pt_br"),
            Ok(SettingValue::Language(Language::PtBr)),
            "the environment's spellings"
        );
        assert_eq!(reason(Setting::Language, "fr"), "invalid value \"fr\"; use en or pt-BR");
        for bad in ["11", "-1", "two"] {
            assert!(reason(Setting::ClaimRedraws, bad).contains("from 0 to 10"), "{bad}");
        }
        assert_eq!(
            Setting::ChatAnnounce.parse_text("ALL"),
            Ok(SettingValue::ChatAnnounce(ChatAnnounce::All))
        );
    }

    #[test]
    fn a_put_body_names_the_field_at_fault() {
        let error = |body: Value| ChannelOverrides::parse_json(&body).expect_err("refused");
        assert_eq!(
            error(json!({"raffle_interval": "0s"})),
            SettingError {
                field: "raffle_interval".into(),
                problem: SettingProblem::IntervalTooShort,
            }
        );
        assert_eq!(error(json!({"subscriber_luck": 11})).field, "subscriber_luck");
        assert_eq!(error(json!({"subscriber_luck": 2.5})).field, "subscriber_luck");
        assert_eq!(
            error(json!({"only_when_live": 1})).to_string(),
            "only_when_live: expected true or false"
        );
        assert_eq!(error(json!({"ignore_users": [1]})).field, "ignore_users");
        assert_eq!(error(json!({"claim_redraws": 11})).field, "claim_redraws");
        assert_eq!(error(json!({"chat_announce": true})).field, "chat_announce");
        assert!(ChannelOverrides::parse_json(&json!({"claim_redraws": 3, "claim_window": "2m"})).is_ok());
        let unknown = error(json!({"raffle_intervall": "30s"}));
        assert_eq!(unknown.field, "raffle_intervall");
        assert_eq!(unknown.problem, SettingProblem::UnknownSetting);
        assert!(
            unknown.to_string().contains("raffle_interval, active_window"),
            "{unknown}"
        );
        assert_eq!(error(json!(["raffle_interval"])).field, "body");
    }

    #[test]
    fn a_put_body_sets_and_resets() {
        let overrides = ChannelOverrides::parse_json(&json!({
            "raffle_interval": "30s",
            "subscriber_luck": 2,
            "only_when_live": false,
            "ignore_users": ["Some_Bot", "#other"],
            "active_window": null,
        }))
        .expect("valid");
        let changes: Vec<(Setting, Option<SettingValue>)> = overrides.changes().map(|(s, v)| (s, v.cloned())).collect();
        assert_eq!(
            changes,
            vec![
                (Setting::RaffleInterval, Some(SettingValue::RaffleInterval(secs(30)))),
                (Setting::ActiveWindow, None),
                (Setting::SubscriberLuck, Some(SettingValue::SubscriberLuck(2))),
                (Setting::OnlyWhenLive, Some(SettingValue::OnlyWhenLive(false))),
                (
                    Setting::IgnoreUsers,
                    Some(SettingValue::IgnoreUsers(vec![
                        ChannelLogin::parse("some_bot").expect("login"),
                        ChannelLogin::parse("other").expect("login"),
                    ]))
                ),
            ]
        );
        assert!(overrides.touches(Setting::RaffleInterval));
        assert!(!overrides.touches(Setting::WinnerCooldown));
        // Text works for every setting, as in the environment.
        let text = ChannelOverrides::parse_json(&json!({"subscriber_luck": "3", "only_when_live": "off"}));
        assert!(text.is_ok());
    }

    #[test]
    fn own_values_override_the_defaults_and_extend_the_ignore_list() {
        let defaults = ChannelSettings::default();
        let own = OwnSettings::from_values([
            SettingValue::RaffleInterval(secs(30)),
            SettingValue::IgnoreUsers(vec![
                ChannelLogin::parse("nightbot").expect("login"),
                ChannelLogin::parse("mybot").expect("login"),
            ]),
        ]);
        let effective = defaults.with_own(&own);
        assert_eq!(effective.raffle_interval, secs(30));
        assert_eq!(effective.active_window, defaults.active_window);
        assert_eq!(effective.ignore_users.len(), DEFAULT_IGNORE_USERS.len() + 1);
        assert!(
            effective
                .ignore_users
                .contains(&ChannelLogin::parse("mybot").expect("login"))
        );
        assert_eq!(defaults.with_own(&OwnSettings::default()), defaults);
    }

    #[test]
    fn the_view_gives_each_value_with_its_source() {
        let own = OwnSettings::from_values([SettingValue::SubscriberLuck(2)]);
        let view = serde_json::to_value(SettingsView::new(&ChannelSettings::default(), &own)).expect("json");
        assert_eq!(
            view["settings"]["raffle_interval"],
            json!({"value": "60s", "source": "default"})
        );
        assert_eq!(
            view["settings"]["subscriber_luck"],
            json!({"value": 2, "source": "channel"})
        );
        assert_eq!(
            view["settings"]["only_when_live"],
            json!({"value": true, "source": "default"})
        );
        assert_eq!(
            view["settings"].as_object().map(|o| o.len()),
            Some(Setting::ALL.len()),
            "every setting is listed"
        );
    }

    #[test]
    fn the_gates_parse_like_the_environment_and_read_back() {
        let parse = |setting: Setting, text: &str| setting.parse_text(text);
        assert_eq!(
            parse(Setting::PresenceSources, "chat, chatters"),
            Ok(SettingValue::PresenceSources(PresenceSources::ChatAndChatters))
        );
        assert_eq!(
            parse(Setting::MinFollowAge, "off"),
            Ok(SettingValue::MinFollowAge(None))
        );
        assert_eq!(
            parse(Setting::MinFollowAge, "0s"),
            Ok(SettingValue::MinFollowAge(Some(Duration::ZERO))),
            "0s = any follower, not off"
        );
        assert_eq!(
            parse(Setting::MinAccountAge, "7d"),
            Ok(SettingValue::MinAccountAge(secs(7 * 86_400)))
        );
        assert_eq!(
            parse(Setting::SubscribersOnly, "yes"),
            Ok(SettingValue::SubscribersOnly(true))
        );
        assert_eq!(parse(Setting::MinMessages, "0"), Ok(SettingValue::MinMessages(0)));
        let reason = |setting: Setting, text: &str| parse(setting, text).expect_err(text).to_string();
        assert!(reason(Setting::PresenceSources, "chatters").starts_with("invalid value"));
        assert!(reason(Setting::PresenceSources, "chat,lurkers").starts_with("unknown source"));
        assert!(reason(Setting::MinFollowAge, "soon").ends_with(", or off"));
        assert!(reason(Setting::MinAccountAge, "-1d").starts_with("invalid duration"));
        assert_eq!(reason(Setting::MinAccountAge, "400d"), "must be at most 366 days");
        assert!(reason(Setting::SubscribersOnly, "maybe").starts_with("invalid boolean"));
        for bad in ["-1", "1.5", "many", "4294967296"] {
            assert_eq!(
                reason(Setting::MinMessages, bad),
                format!("invalid value {bad:?}; must be a whole number, 0 or more")
            );
        }
        for value in [
            SettingValue::PresenceSources(PresenceSources::Chat),
            SettingValue::PresenceSources(PresenceSources::ChatAndChatters),
            SettingValue::MinFollowAge(None),
            SettingValue::MinFollowAge(Some(Duration::ZERO)),
            SettingValue::MinFollowAge(Some(secs(86_400))),
            SettingValue::MinAccountAge(Duration::ZERO),
            SettingValue::SubscribersOnly(true),
            SettingValue::MinMessages(0),
            SettingValue::MinMessages(u32::MAX),
        ] {
            let text = value.to_text();
            assert_eq!(value.setting().parse_text(&text), Ok(value.clone()), "{text}");
            let json = value.to_json();
            assert_eq!(value.setting().parse_json(&json), Ok(value.clone()), "{json}");
        }
        assert_eq!(SettingValue::MinFollowAge(None).to_json(), json!("off"));
        assert_eq!(SettingValue::MinMessages(3).to_json(), json!(3));
    }

    #[test]
    fn a_put_body_of_gates_takes_natural_json_and_names_the_field() {
        let overrides = ChannelOverrides::parse_json(&json!({
            "min_messages": 0,
            "subscribers_only": true,
            "min_follow_age": false,
            "presence_sources": "chat,chatters",
            "min_account_age": "2d",
        }))
        .expect("valid");
        let effective = ChannelSettings::default().with_own(&OwnSettings::from_values(
            overrides.changes().filter_map(|(_, value)| value.cloned()),
        ));
        assert_eq!(
            effective.gates,
            Gates {
                presence_sources: PresenceSources::ChatAndChatters,
                min_messages: 0,
                subscribers_only: true,
                min_account_age: secs(2 * 86_400),
                min_follow_age: None,
            }
        );
        let error = |body: Value| ChannelOverrides::parse_json(&body).expect_err("refused");
        assert_eq!(
            error(json!({"min_messages": -1})),
            SettingError {
                field: "min_messages".into(),
                problem: SettingProblem::NotACount("-1".into()),
            }
        );
        assert_eq!(error(json!({"min_messages": true})).field, "min_messages");
        assert_eq!(
            error(json!({"subscribers_only": 1})).to_string(),
            "subscribers_only: expected true or false"
        );
        assert_eq!(error(json!({"min_follow_age": true})).field, "min_follow_age");
        assert_eq!(error(json!({"presence_sources": ["chat"]})).field, "presence_sources");
        assert_eq!(error(json!({"min_account_age": "young"})).field, "min_account_age");
    }

    #[test]
    fn a_channel_gate_overrides_the_environment_default() {
        let mut defaults = ChannelSettings::default();
        defaults.replace(&SettingValue::MinFollowAge(Some(secs(86_400))));
        defaults.replace(&SettingValue::MinMessages(2));
        let own = OwnSettings::from_values([SettingValue::MinFollowAge(None), SettingValue::MinMessages(0)]);
        let effective = defaults.with_own(&own);
        assert_eq!(effective.gates.min_follow_age, None, "a channel can turn a gate off");
        assert_eq!(effective.gates.min_messages, 0);
        let view = serde_json::to_value(SettingsView::new(&defaults, &OwnSettings::default())).expect("json");
        assert_eq!(
            view["settings"]["min_follow_age"],
            json!({"value": "1d", "source": "default"})
        );
        assert_eq!(
            view["settings"]["min_messages"],
            json!({"value": 2, "source": "default"})
        );
        let view = serde_json::to_value(SettingsView::new(&defaults, &own)).expect("json");
        assert_eq!(
            view["settings"]["min_follow_age"],
            json!({"value": "off", "source": "channel"})
        );
    }

    #[test]
    fn default_ignore_list_is_made_of_valid_logins() {
        assert_eq!(
            ChannelSettings::default().ignore_users.len(),
            DEFAULT_IGNORE_USERS.len()
        );
    }
}
