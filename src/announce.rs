//! Announcing winners on Discord (SPEC §6) and in Twitch chat (SPEC §11).
//!
//! - `announcement` (pure): what is queued in the outbox, and where its
//!   delivery stands.
//! - `render` (pure): the Discord webhook body and the plain stdout line,
//!   escaped and within Discord's limits.
//! - [`discord`]: the webhook client and its typed errors.
//! - [`delivery`]: the worker that claims queued announcements, sends them
//!   and records the outcome.
//! - [`chat_line`] (pure): what the bot says in Twitch chat and its
//!   rendering into one safe line (its words are the catalog's,
//!   `crate::catalog::ChatText`); `chat_rate` (pure): Twitch's per-channel
//!   chat limit.
//! - [`chat_delivery`]: the worker that says queued chat lines.

pub(crate) mod announcement;
pub mod chat_delivery;
pub mod chat_line;
pub(crate) mod chat_rate;
pub mod delivery;
pub mod discord;
pub(crate) mod render;

pub use announcement::{Announcement, ClaimResult, DeliveryFailure, DeliveryStatus, OutboxEvent, OutboxKind};
