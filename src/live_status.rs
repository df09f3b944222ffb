//! Whether a channel is live, for `ONLY_WHEN_LIVE` (SPEC §3, §7).
//!
//! The raffle scheduler asks a [`LiveStatus`]; the Helix client implements
//! it when Twitch credentials are configured. [`UnknownLiveStatus`] is used
//! otherwise: it always answers "unknown", and the scheduler then raffles
//! (warning once).

use futures::future::BoxFuture;

/// Answers "is this broadcaster live?".
pub trait LiveStatus: Send + Sync + std::fmt::Debug {
    /// `Some(true)` live, `Some(false)` offline, `None` unknown (no
    /// credentials, Twitch unreachable, broadcaster id not known yet).
    fn is_live<'a>(&'a self, broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, Option<bool>>;
}

/// A [`LiveStatus`] that never knows.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownLiveStatus;

impl LiveStatus for UnknownLiveStatus {
    fn is_live<'a>(&'a self, _broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async { None })
    }
}
