//! Twitch channels: their logins, and the set this instance serves.
//!
//! - `login` (pure): [`ChannelLogin`], the one way a login enters the
//!   program.
//! - `set`: [`ChannelSet`], the channels this instance serves, watched by
//!   the chat listener (which joins them) and the scheduler (which runs a
//!   timer for each).
//! - `lease` (pure): who takes and hands back which channel when several
//!   instances share a database (SPEC §15).
//! - `leaser`: [`ChannelLeaser`], the task that renews, takes and hands
//!   back leases and keeps the set of channels this instance serves.
//! - `language`: [`ChannelLanguages`], which language a channel speaks.
//! - [`settings`] (pure): the per-channel settings, their parsing (shared
//!   with the environment), defaults, overrides and JSON view.

mod language;
pub(crate) mod lease;
pub(crate) mod leaser;
mod login;
mod set;
pub mod settings;

pub use language::ChannelLanguages;
pub(crate) use language::channel_language_refresher;
pub(crate) use leaser::{ChannelLeaser, LeaseStatus};
pub(crate) use login::MAX_LOGIN_LENGTH;
pub use login::{ChannelLogin, ChannelLoginError};
pub use set::ChannelSet;
