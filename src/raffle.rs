//! Raffles (SPEC §5): from the prize list to a recorded, verifiable round.
//!
//! Pure (no tokio, no SQL, no clock):
//! - [`items`]: the prize table and its validation;
//! - [`draw`]: the seeded, replayable draw;
//! - [`eligibility`]: the gates of issue 18 (messages, subscription,
//!   account and follow age), failing closed on missing data;
//! - [`slot`]: timer slots, `floor(now / RAFFLE_INTERVAL)`;
//! - `record`: a recorded raffle, its trigger and outcome, its JSON;
//! - [`mod@verify`]: replaying a recorded raffle (`kinoyubot verify`);
//! - [`command`]: `!raffle now|pause|resume|status`, `!sorteio …`, `!odds`;
//! - [`odds`]: a viewer's chance in the next round, or why they have none;
//! - [`viewers`]: the control room's list of active viewers with their
//!   chances, and its paging.
//!
//! With I/O:
//! - `round`: the engine that runs one round in one store transaction,
//!   for every trigger;
//! - [`scheduler`]: a slot-aligned timer per served channel, and the chat
//!   command handler (its replies go to chat through the outbox);
//! - [`claims`]: the claim sweeper: claims, expiries and redraws.

pub mod claims;
pub mod command;
pub mod draw;
pub mod eligibility;
pub mod items;
pub mod odds;
pub(crate) mod record;
pub(crate) mod round;
pub mod scheduler;
pub mod slot;
pub mod verify;
pub mod viewers;

pub use record::{
    Claim, ClaimStatus, Delivery, OutboxDelivery, Outcome, RaffleAudit, RaffleJson, RaffleList, RaffleRecord, Trigger,
    Winner,
};
pub use round::{LivePolicy, RaffleEngine, RaffleError, RaffleRules, RoundResult};
pub use verify::{RedrawAudit, Verification, verify, verify_redraw};
