//! Twitch channels: their logins, and the set this instance serves.
//!
//! - `login` (pure): [`ChannelLogin`], the one way a login enters the
//!   program.
//! - `set`: [`ChannelSet`], the channels this instance serves, watched by
//!   the chat listener (which joins them) and the scheduler (which runs a
//!   timer for each).
//! - [`settings`] (pure): the per-channel settings, their parsing (shared
//!   with the environment), defaults, overrides and JSON view.

mod login;
mod set;
pub mod settings;

pub use login::{ChannelLogin, ChannelLoginError};
pub use set::ChannelSet;
