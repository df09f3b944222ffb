//! The domain core: pure types and rules, no I/O (beyond reading the items
//! file), no clock, no database. Everything here is tested without a database.
//!
//! - [`channel`]: Twitch logins.
//! - [`chat_command`]: `!raffle now|pause|resume|status`.
//! - [`presence`]: chat presence updates, bans, and their in-memory dedup.
//! - [`items`]: the prize table and its validation (SPEC §5).
//! - [`draw`]: the seeded, replayable draw that the timer, `draw` and
//!   `verify` share.
//! - [`slot`]: timer slots, `floor(now / RAFFLE_INTERVAL)`.
//! - [`announcement`]: what is sent to Discord, escaped and within limits.
//! - [`token_cipher`]: Twitch tokens encrypted at rest (ChaCha20-Poly1305).

pub mod announcement;
pub mod channel;
pub mod chat_command;
pub mod draw;
pub mod items;
pub mod presence;
pub mod slot;
pub mod token_cipher;
