//! The HTTP server (warp, SPEC §8). Layout, with dependencies pointing one
//! way — handlers use `state` and `reply`, `routes` uses the handlers,
//! nothing uses `routes` but the app:
//!
//! - `state`: `WebState`, what every handler may read.
//! - `reply`: `WebError`, the one error type (JSON for the API, an HTML
//!   page for the pages; logs the cause, shows a plain message), and the
//!   JSON, HTML and redirect builders.
//! - `view`: every page and fragment, as maud components (escaped by default).
//! - `language`: which language a page is written in (`?lang=`, a cookie,
//!   the channels' language).
//! - handlers: `dashboard` (`/`, `/partials/channels`, static files),
//!   `status` (`/api/status`), `api` (raffle history and admin actions),
//!   `control` (the control room: a channel's settings), `items` (its
//!   prize list), `room` (its viewer list, resending deliveries, a
//!   raffle's public snapshot), `raffle_page` (`/raffles/{id}`, the public
//!   page of one raffle, and the favicon),
//!   [`oauth`] (the Connect pages and disconnect, over
//!   `twitch::auth::connect`), `probes` (`/healthz`, `/readyz`, `/metrics`),
//!   `admin` (the admin check).
//! - `client`: who is asking (the peer address), for per-client limits.
//! - `session`: dashboard sign-in (`kyb_session`, CSRF, `/api/session`,
//!   `/auth/logout`) and [`session`]'s `caller`, who asks for a control-room
//!   action (the admin or the channel's broadcaster).
//! - `routes`: the route table, rejections, security headers.
//! - [`server`]: serves the routes through hyper with a header-read
//!   timeout, an idle timeout and a connection cap ([`server::HttpLimits`]).
//!
//! Handlers never panic: every failure becomes a `WebError` with the right
//! status, and internal errors are logged with their cause but shown to the
//! client as a plain message.

mod admin;
mod api;
mod client;
mod control;
mod dashboard;
mod items;
mod language;
pub mod oauth;
mod probes;
mod raffle_page;
mod reply;
mod room;
mod routes;
pub mod server;
mod session;
mod state;
mod status;
mod view;

pub(crate) use state::{Health, WebSetup, WebState};
