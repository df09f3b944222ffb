//! The Discord bot (SPEC §12): slash commands over Discord's Gateway.
//!
//! - `commands` (pure): the `/raffle` definition with its pt-BR names, and
//!   the typed request an interaction carries.
//! - `replies` (pure): every reply text, per language.
//! - `interactions`: answers one interaction within Discord's 3 s, through
//!   the same raffle engine, rules and limits as chat and the API.
//! - [`bot`]: start-up (token check, command registration) and the Gateway
//!   connection (twilight-gateway: heartbeats, resume, reconnect, invalid
//!   session), the only user of twilight-gateway and twilight-http.
//!
//! Posting announcements through the bot is the delivery worker's
//! (`announce::delivery`, `Destination::BotChannel`), not this module's.

pub mod bot;
pub(crate) mod commands;
pub(crate) mod interactions;
pub(crate) mod replies;
