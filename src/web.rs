//! The HTTP server (warp): health probes, the Twitch connection
//! (`oauth`), the admin check (`admin`); the dashboard, JSON API and metrics
//! join as their features land (SPEC §8).
//!
//! Handlers never panic: every rejection becomes a JSON error with the right
//! status, and internal errors are logged with their cause but shown to the
//! client as a plain message.

pub mod admin;
pub mod api;
pub mod oauth;
pub mod routes;

pub use routes::routes;
