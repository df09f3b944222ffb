//! The domain core: pure types and rules, no I/O (beyond reading the items
//! file), no clock, no database. Everything here is tested without a database.
//!
//! - [`channel`]: Twitch logins.
//! - [`chat_command`]: `!raffle now|pause|resume|status`.
//! - [`presence`]: chat presence updates, bans, and their in-memory dedup.
//! - [`items`]: the prize table and its validation (SPEC §5).
//! - [`draw`]: the seeded, replayable draw that the timer, `draw` and
//!   `verify` share.
//! - [`announcement`]: what is sent to Discord, escaped and within limits.

pub mod announcement;
pub mod channel;
pub mod chat_command;
pub mod draw;
pub mod items;
pub mod presence;
