//! Raffles.

pub mod command;
pub mod draw;
pub mod items;
pub mod round;
pub mod scheduler;
pub mod slot;

pub use round::*;
