//! KinoYuBot: live Twitch chat giveaways.
//!
//! # Layout
//!
//! The tree follows the features. Modules marked *pure* do no I/O (no
//! tokio, no SQL, no clock, no files) and import only other pure modules;
//! `scripts/module-graph.py` checks that, and that no two modules import
//! each other.
//!
//! - [`config`]: typed settings from flags, environment and `.env` (SPEC §3),
//!   and reading the items file.
//! - [`clock`]: the one source of domain time (wall time and waiting for
//!   it): the system clock, or one a test drives by hand.
//! - [`retry`]: retry policies (backoff, cap, jitter, attempt limit) and the
//!   one retry loop.
//! - [`telemetry`]: tracing setup, pretty or JSON.
//! - [`shutdown`]: the cancellation token fired by SIGINT/SIGTERM.
//! - [`app`]: builds every part and runs them until shutdown.
//! - [`catalog`]: every word viewers and streamers read, in every language
//!   of `LANGUAGE`, and the reader's number and date formats (pure).
//! - [`supervisor`]: runs every background task, restarts a failed one
//!   with backoff and stops the process when one keeps failing.
//! - [`cli`]: the commands of SPEC §2 and their exit codes.
//! - [`metrics`]: Prometheus metric names, recording helpers and the recorder.
//! - [`channel`]: Twitch logins (`login`, pure) and the set of channels this
//!   instance serves (`set`).
//! - [`presence`]: what chat says about viewers and its in-memory merge
//!   (`batch`, pure), and the tracker that writes it in batches (`tracker`).
//! - [`raffle`]: the prize table, the seeded draw, slots, recorded raffles and
//!   their JSON, `verify`, chat commands (all pure); the round engine
//!   (`round`) and the timers (`scheduler`).
//! - [`announce`]: what is announced and its rendering for Discord and stdout
//!   (pure); the webhook client (`discord`) and the delivery worker
//!   (`delivery`).
//! - [`discord`]: the Discord bot: slash commands over the Gateway
//!   (`commands` and `replies` pure; `interactions`, [`discord::bot`]).
//! - [`twitch`]: chat (`irc`, the only user of twitch-irc), account
//!   connection (`auth`: OAuth2, connecting and disconnecting an account,
//!   the token key, the token cipher, the token manager), the Helix API
//!   (`helix`) and live status (`live_status`).
//! - [`store`]: PostgreSQL, the only module with SQL or transactions: the
//!   operations the rest of the program needs, the units of work of a raffle
//!   round and of a channel's tokens, migrations, the embedded server.
//! - `text`: cleaning and bounding text and ids from servers we do not
//!   control before they are stored (pure).
//! - [`web`]: the warp server: shared state and replies, maud views, the
//!   handlers (dashboard, JSON API, Connect pages, probes) and the route
//!   table, with no import back from a handler to the routes.

pub mod announce;
pub mod app;
pub mod catalog;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod discord;
pub mod metrics;
pub mod presence;
mod private_file;
pub mod raffle;
pub mod retry;
pub mod shutdown;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub(crate) mod text;
pub mod twitch;
pub mod web;
