//! `!raffle` chat commands (SPEC §4): parsed here, acted on by the raffle
//! engine. Only the broadcaster and moderators may use them; the chat
//! listener checks that before handing a [`ChatCommand`] over.

use crate::channel::ChannelLogin;

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

#[cfg(test)]
mod tests {
    use super::*;

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
