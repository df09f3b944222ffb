//! Twitch channels: their logins, and the set this instance serves.
//!
//! - `login` (pure): [`ChannelLogin`], the one way a login enters the
//!   program.
//! - `set`: [`ChannelSet`], the channels this instance serves, watched by
//!   the chat listener (which joins them) and the scheduler (which runs a
//!   timer for each).
//! - `language`: [`ChannelLanguages`], which language a channel speaks.

mod language;
mod login;
mod set;

pub use language::ChannelLanguages;
pub use login::{ChannelLogin, ChannelLoginError};
pub use set::ChannelSet;
