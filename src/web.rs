//! The HTTP server (warp, SPEC §8): the dashboard page and its static files
//! (`dashboard`), `/api/status` (`status`), raffle history and admin actions
//! (`api`), the Twitch connection (`oauth`), the admin check (`admin`),
//! health probes and `/metrics` (`routes`, which also sets the security
//! headers).
//!
//! Handlers never panic: every rejection becomes a JSON error with the right
//! status, and internal errors are logged with their cause but shown to the
//! client as a plain message.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod dashboard;
pub mod oauth;
pub mod routes;
pub(crate) mod status;
