//! Whether a channel is live, for `ONLY_WHEN_LIVE` (SPEC §3, §7).
//!
//! The raffle engine asks a [`LiveStatus`]; the Helix client implements
//! it when Twitch credentials are configured. [`UnknownLiveStatus`] is used
//! otherwise: it always answers [`LiveAnswer::NotConfigured`], and rounds
//! then draw (warning once, SPEC §3). With credentials, an answer that
//! cannot be had ([`LiveAnswer::Unknown`]: Helix errors, a bad app token)
//! fails closed: the round is `skipped_offline` with the reason (SPEC §16).
//! The dashboard asks through a [`CachedLiveStatus`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

/// The answer to "is this broadcaster live?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveAnswer {
    /// The stream is live.
    Live,
    /// The stream is offline.
    Offline,
    /// Nobody can be asked: no Twitch credentials (SPEC §3: raffles run).
    NotConfigured,
    /// Credentials are set but no answer could be had; the reason is
    /// recorded with the skipped round.
    Unknown(String),
}

impl LiveAnswer {
    /// `Some(true)` live, `Some(false)` offline, `None` otherwise (the
    /// dashboard's `live`, null when unknown).
    pub fn known(&self) -> Option<bool> {
        match self {
            Self::Live => Some(true),
            Self::Offline => Some(false),
            Self::NotConfigured | Self::Unknown(_) => None,
        }
    }
}

/// Answers "is this broadcaster live?".
pub trait LiveStatus: Send + Sync + std::fmt::Debug {
    /// Live, offline, not configured, or unknown with the reason (Twitch
    /// unreachable or refusing, broadcaster id not known yet).
    fn is_live<'a>(&'a self, broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, LiveAnswer>;
}

/// A [`LiveStatus`] without Twitch credentials: never configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownLiveStatus;

impl LiveStatus for UnknownLiveStatus {
    fn is_live<'a>(&'a self, _broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, LiveAnswer> {
        Box::pin(async { LiveAnswer::NotConfigured })
    }
}

/// A [`LiveStatus`] that remembers each answer for a while, so dashboard
/// refreshes (every few seconds, from every open browser) cost at most one
/// Helix call per channel per `ttl`. Unknown answers are remembered too:
/// when Twitch is failing, asking harder does not help. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CachedLiveStatus {
    inner: Arc<dyn LiveStatus>,
    ttl: Duration,
    // A std mutex: it is never held across an await (the lookup happens
    // with it released), and contention is a handful of page loads.
    answers: Arc<Mutex<HashMap<String, CachedAnswer>>>,
}

/// When an answer was had, and the answer.
type CachedAnswer = (Instant, Option<bool>);

/// How long the dashboard trusts a live status answer.
pub(crate) const DASHBOARD_LIVE_TTL: Duration = Duration::from_secs(30);

impl CachedLiveStatus {
    /// Caches `inner`'s answers for `ttl`.
    pub(crate) fn new(inner: Arc<dyn LiveStatus>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            answers: Arc::default(),
        }
    }

    /// The live status of a broadcaster, from the cache when fresh. A
    /// broadcaster whose user id is not known yet is unknown, without asking.
    pub(crate) async fn is_live(&self, broadcaster_user_id: Option<&str>) -> Option<bool> {
        let user_id = broadcaster_user_id?;
        let now = Instant::now();
        if let Ok(answers) = self.answers.lock()
            && let Some((at, answer)) = answers.get(user_id)
            && now.duration_since(*at) < self.ttl
        {
            return *answer;
        }
        let answer = self.inner.is_live(Some(user_id)).await.known();
        if let Ok(mut answers) = self.answers.lock() {
            // Forget stale entries so channels that went away do not pile up.
            answers.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            answers.insert(user_id.to_owned(), (now, answer));
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl LiveStatus for Counting {
        fn is_live<'a>(&'a self, _broadcaster_user_id: Option<&'a str>) -> BoxFuture<'a, LiveAnswer> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { LiveAnswer::Live })
        }
    }

    #[tokio::test]
    async fn answers_are_cached_per_broadcaster_until_the_ttl_passes() {
        let inner = Arc::new(Counting::default());
        let cached = CachedLiveStatus::new(inner.clone(), Duration::from_secs(60));
        assert_eq!(cached.is_live(Some("1")).await, Some(true));
        assert_eq!(cached.is_live(Some("1")).await, Some(true));
        assert_eq!(inner.0.load(Ordering::SeqCst), 1, "second answer from the cache");
        assert_eq!(cached.is_live(Some("2")).await, Some(true));
        assert_eq!(inner.0.load(Ordering::SeqCst), 2, "another broadcaster is asked");
        assert_eq!(cached.is_live(None).await, None, "no id: unknown without asking");
        assert_eq!(inner.0.load(Ordering::SeqCst), 2);

        let expiring = CachedLiveStatus::new(inner.clone(), Duration::ZERO);
        expiring.is_live(Some("1")).await;
        expiring.is_live(Some("1")).await;
        assert_eq!(inner.0.load(Ordering::SeqCst), 4, "a zero ttl never caches");
    }
}
