//! Chat commands (SPEC §4, §11): parsed here, acted on by the raffle
//! engine. `!raffle now|pause|resume|status` and their Portuguese aliases
//! `!sorteio agora|pausar|retomar|status` (both always accepted) are for the
//! broadcaster and moderators; `!odds` / `!chance` is for anyone. The chat
//! listener checks who may before handing a [`ChatCommand`] over
//! ([`RaffleCommand::needs_moderator`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channel::ChannelLogin;

/// Least time between two draws requested from one channel's chat (SPEC
/// §16): a burst of `!raffle now` draws once.
pub const MANUAL_DRAW_INTERVAL: Duration = Duration::from_secs(10);

/// What a `!raffle` command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaffleCommand {
    /// `!raffle now`: draw immediately.
    Now,
    /// `!raffle pause`: stop automatic raffles.
    Pause,
    /// `!raffle resume`: restart automatic raffles.
    Resume,
    /// `!raffle status`: reply with the channel's state.
    Status,
    /// `!odds` / `!chance`: reply with the sender's chance in the next round.
    Odds,
}

impl RaffleCommand {
    /// Parses a chat message; `None` when it is not a `!raffle` command we
    /// know. Case-insensitive, surrounding whitespace ignored, extra words
    /// after the sub-command rejected (so `!raffle now please` does nothing).
    pub fn parse(message: &str) -> Option<Self> {
        let mut words = message.split_whitespace();
        let first = words.next()?.to_ascii_lowercase();
        if matches!(first.as_str(), "!odds" | "!chance") {
            // Anything after it ("!odds please") is still a question.
            return Some(Self::Odds);
        }
        let portuguese = match first.as_str() {
            "!raffle" => false,
            "!sorteio" => true,
            _ => return None,
        };
        let sub = words.next()?.to_ascii_lowercase();
        if words.next().is_some() {
            return None;
        }
        match (portuguese, sub.as_str()) {
            (false, "now") | (true, "agora") => Some(Self::Now),
            (false, "pause") | (true, "pausar") => Some(Self::Pause),
            (false, "resume") | (true, "retomar") => Some(Self::Resume),
            (_, "status") => Some(Self::Status),
            _ => None,
        }
    }

    /// Whether only the broadcaster and moderators may use it.
    pub fn needs_moderator(self) -> bool {
        !matches!(self, Self::Odds)
    }
}

/// A permitted command from a channel's chat, on its way to the raffle engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCommand {
    /// Channel the command was typed in.
    pub channel: ChannelLogin,
    /// The command.
    pub command: RaffleCommand,
    /// Login of who typed it (the broadcaster or a moderator, except for `!odds`).
    pub requested_by: String,
    /// Their Twitch user id.
    pub user_id: String,
}

/// At most one draw per channel per interval, reckoned on the milliseconds
/// it is given (the injectable clock's). Pure; remembers only channels that
/// drew within the interval.
#[derive(Debug)]
pub(crate) struct DrawLimiter {
    interval_millis: u64,
    last_draw: HashMap<ChannelLogin, u64>,
}

impl DrawLimiter {
    /// A limiter allowing one draw per channel per `interval`.
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval_millis: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last_draw: HashMap::new(),
        }
    }

    /// Takes the channel's draw at `now_millis`, or says how long until the
    /// next one is allowed.
    pub(crate) fn try_draw(&mut self, channel: &ChannelLogin, now_millis: u64) -> Result<(), Duration> {
        let interval = self.interval_millis;
        self.last_draw
            .retain(|_, at| now_millis.saturating_sub(*at) < interval || *at > now_millis);
        if let Some(at) = self.last_draw.get(channel) {
            let next = at.saturating_add(interval);
            if now_millis < next {
                return Err(Duration::from_millis(next.saturating_sub(now_millis)));
            }
        }
        self.last_draw.insert(channel.clone(), now_millis);
        Ok(())
    }
}

/// Most `!odds` replies per viewer per [`REPLY_WINDOW`].
pub const REPLIES_PER_VIEWER: u32 = 1;
/// Most `!odds` replies per channel per [`REPLY_WINDOW`].
pub const REPLIES_PER_CHANNEL: u32 = 20;
/// The window of the reply limits: one minute.
pub const REPLY_WINDOW: Duration = Duration::from_secs(60);

/// At most [`REPLIES_PER_VIEWER`] reply per viewer and
/// [`REPLIES_PER_CHANNEL`] per channel in any [`REPLY_WINDOW`], reckoned on
/// the milliseconds it is given. Pure. A question over a limit gets no
/// reply (and takes no place).
#[derive(Debug)]
pub(crate) struct ReplyLimiter {
    window_millis: u64,
    per_viewer: HashMap<(ChannelLogin, String), u64>,
    per_channel: HashMap<ChannelLogin, std::collections::VecDeque<u64>>,
}

impl ReplyLimiter {
    /// A limiter over `window` ([`REPLY_WINDOW`] in production).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window_millis: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            per_viewer: HashMap::new(),
            per_channel: HashMap::new(),
        }
    }

    /// Whether `user_id` in `channel` may get a reply at `now_millis`; if so
    /// the reply is counted.
    pub(crate) fn allow(&mut self, channel: &ChannelLogin, user_id: &str, now_millis: u64) -> bool {
        let window = self.window_millis;
        self.per_viewer
            .retain(|_, at| now_millis.saturating_sub(*at) < window && *at <= now_millis);
        let key = (channel.clone(), user_id.to_owned());
        if self.per_viewer.contains_key(&key) {
            return false;
        }
        let sent = self.per_channel.entry(channel.clone()).or_default();
        while sent.front().is_some_and(|&at| now_millis.saturating_sub(at) >= window) {
            sent.pop_front();
        }
        if sent.len() >= usize::try_from(REPLIES_PER_CHANNEL).unwrap_or(usize::MAX) {
            return false;
        }
        sent.push_back(now_millis);
        self.per_viewer.insert(key, now_millis);
        true
    }
}

/// The one [`DrawLimiter`] shared by every way of asking for a draw from a
/// channel's community (chat commands, Discord's `/raffle now`), so a burst
/// from both draws once. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ManualDraws(Arc<Mutex<DrawLimiter>>);

impl Default for ManualDraws {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(DrawLimiter::new(MANUAL_DRAW_INTERVAL))))
    }
}

impl ManualDraws {
    /// Takes the channel's draw at `now_millis`, or says how long until the
    /// next one is allowed (see [`DrawLimiter::try_draw`]).
    pub(crate) fn try_draw(&self, channel: &ChannelLogin, now_millis: u64) -> Result<(), Duration> {
        // A std mutex: held for one map update, never across an await.
        let mut limiter = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        limiter.try_draw(channel, now_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_draw_per_channel_per_interval() {
        let a = ChannelLogin::parse("alpha").expect("login");
        let b = ChannelLogin::parse("beta").expect("login");
        let mut limiter = DrawLimiter::new(MANUAL_DRAW_INTERVAL);
        assert_eq!(limiter.try_draw(&a, 1_000), Ok(()));
        assert_eq!(limiter.try_draw(&a, 1_001), Err(Duration::from_millis(9_999)));
        assert_eq!(limiter.try_draw(&b, 1_001), Ok(()), "another channel is not held back");
        assert_eq!(limiter.try_draw(&a, 10_999), Err(Duration::from_millis(1)));
        assert_eq!(limiter.try_draw(&a, 11_000), Ok(()), "10 s later it may draw again");
        assert_eq!(limiter.try_draw(&a, 11_000), Err(MANUAL_DRAW_INTERVAL));
        // Only channels still within their interval are remembered.
        assert_eq!(limiter.try_draw(&b, 50_000), Ok(()));
        assert_eq!(limiter.last_draw.len(), 1);
    }

    #[test]
    fn one_reply_per_viewer_and_twenty_per_channel_per_minute() {
        let chan = ChannelLogin::parse("chan").expect("login");
        let other = ChannelLogin::parse("other").expect("login");
        let mut limiter = ReplyLimiter::new(REPLY_WINDOW);
        assert!(limiter.allow(&chan, "1", 0));
        assert!(!limiter.allow(&chan, "1", 59_999), "the same viewer within the minute");
        assert!(limiter.allow(&other, "1", 1), "another channel counts apart");
        assert!(limiter.allow(&chan, "1", 60_000), "a minute later");
        for viewer in 2..=19 {
            assert!(limiter.allow(&chan, &viewer.to_string(), 60_000 + viewer), "{viewer}");
        }
        // 1 (at 0, expired) + 1 (at 60 000) + 18 = 19 in the window so far.
        assert!(limiter.allow(&chan, "20", 60_100));
        assert!(!limiter.allow(&chan, "21", 60_200), "the channel's 20 are used");
        assert!(limiter.allow(&chan, "21", 120_000));
    }

    #[test]
    fn clones_of_manual_draws_share_one_limit() {
        let a = ChannelLogin::parse("alpha").expect("login");
        let chat = ManualDraws::default();
        let discord = chat.clone();
        assert_eq!(chat.try_draw(&a, 1_000), Ok(()));
        assert_eq!(discord.try_draw(&a, 2_000), Err(Duration::from_millis(9_000)));
    }

    #[test]
    fn known_commands_parse_case_insensitively() {
        assert_eq!(RaffleCommand::parse("!raffle now"), Some(RaffleCommand::Now));
        assert_eq!(RaffleCommand::parse("  !RAFFLE   Pause "), Some(RaffleCommand::Pause));
        assert_eq!(RaffleCommand::parse("!raffle resume"), Some(RaffleCommand::Resume));
        assert_eq!(RaffleCommand::parse("!raffle status"), Some(RaffleCommand::Status));
    }

    #[test]
    fn portuguese_aliases_and_odds_parse_and_only_odds_is_for_everyone() {
        assert_eq!(RaffleCommand::parse("!sorteio agora"), Some(RaffleCommand::Now));
        assert_eq!(RaffleCommand::parse("!SORTEIO pausar"), Some(RaffleCommand::Pause));
        assert_eq!(RaffleCommand::parse("!sorteio retomar"), Some(RaffleCommand::Resume));
        assert_eq!(RaffleCommand::parse("!sorteio status"), Some(RaffleCommand::Status));
        assert_eq!(RaffleCommand::parse("!odds"), Some(RaffleCommand::Odds));
        assert_eq!(RaffleCommand::parse("!Chance please"), Some(RaffleCommand::Odds));
        assert_eq!(RaffleCommand::parse("!sorteio now"), None, "languages are not mixed");
        assert_eq!(RaffleCommand::parse("!raffle agora"), None);
        assert!(!RaffleCommand::Odds.needs_moderator());
        for command in [
            RaffleCommand::Now,
            RaffleCommand::Pause,
            RaffleCommand::Resume,
            RaffleCommand::Status,
        ] {
            assert!(command.needs_moderator(), "{command:?}");
        }
    }

    #[test]
    fn other_messages_are_not_commands() {
        for text in [
            "",
            "!raffle",
            "!raffle now please",
            "!raffles now",
            "raffle now",
            "!raffle nuke",
            "hi !raffle now",
        ] {
            assert_eq!(RaffleCommand::parse(text), None, "{text:?}");
        }
    }
}
