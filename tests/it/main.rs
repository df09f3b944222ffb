//! Integration tests: one binary, shared helpers (see `helpers.rs`).

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod embedded;
mod fake_irc;
mod helpers;
mod migrations;
mod presence;
mod run;
mod web;
