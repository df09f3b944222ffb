//! Integration tests: one binary, shared helpers (see `helpers.rs`).

mod cli;
mod embedded;
mod helpers;
mod migrations;
mod run;
mod web;
