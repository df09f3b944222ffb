//! KinoYuBot: live Twitch chat giveaways.
//!
//! # Layout
//!
//! - [`config`]: typed settings from flags, environment and `.env` (SPEC §3).
//! - [`secret`]: a wrapper that keeps secrets out of logs and `Debug`.
//! - [`telemetry`]: tracing setup, pretty or JSON.
//! - [`shutdown`]: the cancellation token fired by SIGINT/SIGTERM.
//! - [`app`]: builds every part and runs them until shutdown.
//! - [`channel_set`]: the channels this instance serves (watched by chat and scheduler).
//! - [`live_status`]: "is the stream live?" behind a trait (Helix implements it).
//! - [`twitch`]: Twitch chat (`twitch::irc::ChatListener`, the only user of twitch-irc).
//! - [`presence_tracker`]: merges chat presence in memory and writes it in batches.
//! - [`cli`]: the commands of SPEC §2 and their exit codes.
//! - [`domain`]: the pure core (logins, items, the draw, announcements).
//! - [`store`]: PostgreSQL, the only module with SQL: pool, migrations,
//!   embedded server, one submodule per table group.
//! - [`web`]: the warp server.
//!
//! Still to come, each in its own module around the same core: the raffle scheduler,
//! Discord delivery (`discord`, `delivery`) and the Twitch account
//! connection (`twitch::auth`, `twitch::helix`).

pub mod app;
pub mod channel_set;
pub mod cli;
pub mod config;
pub mod domain;
pub mod live_status;
pub mod presence_tracker;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod twitch;
pub mod web;
