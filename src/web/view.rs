//! HTML, built with maud: templates are Rust, checked at compile time, and
//! every value spliced into them is escaped unless marked otherwise (nothing
//! here is). Each section of a page is a small function returning `Markup`,
//! so a new section is a new function, not an edit of a big template.
//!
//! - `layout`: the one page shell (head, brand header, footer).
//! - `dashboard`: the dashboard page and its parts: the board (also served
//!   alone at `/partials/channels` for the script), a channel card, its
//!   badges, stats and winners, the first-run help.
//! - `control`: the control room a signed-in streamer sees above the board,
//!   and its history (also served alone at `/partials/history/{login}`).
//! - `message`: the page of one sentence the OAuth flow answers with.
//! - `raffle`: the public page of one raffle (`/raffles/{id}`).
//!
//! The pages carry no inline script or style (see the Content-Security-Policy
//! in `routes`); the words the script writes come from `data-` attributes
//! rendered here.

mod control;
mod dashboard;
mod layout;
mod message;
mod raffle;

pub(crate) use control::{ControlRoom, Managed, history};
pub(crate) use dashboard::{Dashboard, Setup, Speaker, StreamWait, Visitor, board, page as dashboard_page};
pub(crate) use message::page as message_page;
pub(crate) use raffle::{RafflePage, not_found as raffle_not_found, page as raffle_page};
