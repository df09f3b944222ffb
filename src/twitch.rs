//! Twitch: one submodule per Twitch service, each with one client type.
//!
//! - [`auth`]: the OAuth2 authorization-code flow, token validation, refresh
//!   and revocation (`TwitchAuth`), connecting and disconnecting a
//!   streamer's account (`connect`), the token key, the cipher that encrypts
//!   tokens at rest, and the token manager task.
//! - [`helix`]: the Helix API (`HelixClient`): app access token and live status.
//! - [`facts`]: account ages and follow state for the eligibility gates,
//!   fetched from Helix and cached in the database.
//! - [`chatters`]: the poller that marks lurkers from Get Chatters present.
//! - [`live_status`]: "is the stream live?" behind a trait (Helix implements
//!   it), and the dashboard's cache of the answers.
//! - [`irc`]: the chat listener (twitch-irc), reading chat anonymously and
//!   turning it into presence events and `!raffle` commands. It is the only
//!   module that imports `twitch_irc`.
//! - `join_pacer` (pure): chat joins paced to `JOIN_RATE`, confirmed and
//!   retried, for the chat listener.
//! - [`chat_sender`]: speaking in chat as the bot account (Helix
//!   `POST /chat/messages`), with its token kept fresh.

pub mod auth;
pub mod chat_sender;
pub mod chatters;
pub mod facts;
pub mod helix;
pub mod irc;
pub(crate) mod join_pacer;
pub mod live_status;
