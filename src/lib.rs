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
//! - [`metrics`]: Prometheus metric names, recording helpers and the recorder.
//! - [`presence_tracker`]: merges chat presence in memory and writes it in batches.
//! - [`cli`]: the commands of SPEC §2 and their exit codes.
//! - [`domain`]: the pure core (logins, items, the draw, announcements).
//! - [`raffle`]: one raffle round (every trigger), and `verify`.
//! - [`scheduler`]: a slot-aligned timer per served channel; chat commands.
//! - [`discord`]: the Discord webhook client and its typed errors.
//! - [`delivery`]: the worker sending queued announcements from the outbox.
//! - [`store`]: PostgreSQL, the only module with SQL: pool, migrations,
//!   embedded server, one submodule per table group.
//! - [`twitch`]: Twitch chat (`twitch::irc::ChatListener`, the only user of
//!   twitch-irc), account connection (`twitch::auth`: OAuth2, token key,
//!   token manager) and the Helix API (`twitch::helix`: live status).
//! - [`web`]: the warp server.

pub mod app;
pub mod channel_set;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod discord;
pub mod domain;
pub mod live_status;
pub mod metrics;
pub mod presence_tracker;
pub mod raffle;
pub mod scheduler;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod twitch;
pub mod web;
