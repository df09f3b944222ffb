//! Twitch, one submodule per Twitch system.
//!
//! - [`irc`]: the chat listener (twitch-irc), reading chat anonymously and
//!   turning it into presence events and `!raffle` commands. It is the only
//!   module that imports `twitch_irc`.

pub mod irc;
