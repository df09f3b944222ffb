//! `!raffle` chat commands (SPEC §4): parsed here, acted on by the raffle
//! engine. Only the broadcaster and moderators may use them; the chat
//! listener checks that before handing a [`ChatCommand`] over.

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
}

impl RaffleCommand {
    /// Parses a chat message; `None` when it is not a `!raffle` command we
    /// know. Case-insensitive, surrounding whitespace ignored, extra words
    /// after the sub-command rejected (so `!raffle now please` does nothing).
    pub fn parse(message: &str) -> Option<Self> {
        let mut words = message.split_whitespace();
        if !words.next()?.eq_ignore_ascii_case("!raffle") {
            return None;
        }
        let sub = words.next()?.to_ascii_lowercase();
        if words.next().is_some() {
            return None;
        }
        match sub.as_str() {
            "now" => Some(Self::Now),
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "status" => Some(Self::Status),
            _ => None,
        }
    }
}

/// A permitted command from a channel's chat, on its way to the raffle engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCommand {
    /// Channel the command was typed in.
    pub channel: ChannelLogin,
    /// The command.
    pub command: RaffleCommand,
    /// Login of the broadcaster or moderator who typed it.
    pub requested_by: String,
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
