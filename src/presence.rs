//! Presence.

pub mod batch;
pub mod tracker;
