//! Chat presence (SPEC §4): who chatted where, and when.
//!
//! - [`batch`] (pure): what chat tells us ([`batch::PresenceEvent`]) and the
//!   in-memory merge of it per viewer.
//! - [`tracker`]: the task that owns the merge and writes it to the store
//!   in batches, buffering through database outages.

pub mod batch;
pub mod tracker;
