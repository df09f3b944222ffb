//! Announcements.

pub mod delivery;
pub mod discord;
pub mod render;
