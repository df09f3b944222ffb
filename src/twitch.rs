//! Twitch: one submodule per Twitch service, each with one client type.
//!
//! - [`auth`]: the OAuth2 authorization-code flow, token validation, refresh
//!   and revocation (`TwitchAuth`), the token key, and the token manager task.
//! - [`helix`]: the Helix API (`HelixClient`): app access token and live status.

pub mod auth;
pub mod helix;
