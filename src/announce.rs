//! Announcing winners on Discord (SPEC §6).
//!
//! - `announcement` (pure): what is queued in the outbox, and where its
//!   delivery stands.
//! - `render` (pure): the Discord webhook body and the plain stdout line,
//!   escaped and within Discord's limits.
//! - [`discord`]: the webhook client and its typed errors.
//! - [`delivery`]: the worker that claims queued announcements, sends them
//!   and records the outcome.

pub(crate) mod announcement;
pub mod delivery;
pub mod discord;
pub(crate) mod render;

pub use announcement::{Announcement, DeliveryStatus};
