//! Integration tests: one binary, shared helpers (see `helpers.rs`).

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cdp;
mod channel_items;
mod channel_settings;
mod chat;
mod chat_claims;
mod chat_replies;
mod cli;
mod control_room;
mod control_session;
mod dashboard;
mod delivery;
mod discord_bot;
mod discord_shapes;
mod e2e;
mod embedded;
mod enrolment;
mod fake_discord;
mod fake_discord_gateway;
mod fake_irc;
mod fake_twitch;
mod first_run;
mod fuzz;
mod gates;
mod helpers;
mod http_limits;
mod language;
mod leases;
mod logs;
mod migrations;
mod oauth;
mod oauth_hardening;
mod oauth_helix;
mod oauth_tokens;
mod poison;
mod presence;
mod process;
mod raffle_flow;
mod raffles;
mod run;
mod supervision;
mod token_rotation;
mod web;
