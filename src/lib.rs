//! KinoYuBot: live Twitch chat giveaways.

pub mod announce;
pub mod app;
pub mod channel;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod presence;
pub mod raffle;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod twitch;
pub mod web;
