//! The admin check for admin endpoints (SPEC §8): `Authorization: Bearer
//! ADMIN_TOKEN`, compared in constant time. Unset `ADMIN_TOKEN` → every
//! admin request is refused with 403.
//!
//! Use [`admin_only`] after the path filters of a route, so unknown paths
//! still answer 404:
//!
//! ```ignore
//! warp::path!("api" / "channels" / String / "draw")
//!     .and(warp::post())
//!     .and(admin_only(state.admin_token.clone()))
//! ```
//!
//! Rejections become [`WebError`]s (JSON, with `WWW-Authenticate: Bearer`
//! on a 401) in the route table's rejection handler.
//!
//! Repeated failures slow a client down ([`AdminGuard`]): after
//! [`FREE_FAILURES`] wrong tokens from one client address, each further one
//! blocks that client for twice as long as the last (1 s, 2 s, … up to
//! [`MAX_BLOCK`]); while blocked, its requests answer 429 with
//! `Retry-After` *without the token being checked*, so guessing runs at
//! most one try per block. A right token clears the client's record. The
//! key is the peer address (see `web::client`): behind a reverse proxy a
//! guesser slows down everyone behind the same proxy, which is the price of
//! not trusting forwarded headers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::client::{ClientKey, client_key};
use super::reply::WebError;
use secrecy::{ExposeSecret as _, SecretString};

/// Wrong tokens a client may send before it is slowed down.
pub(crate) const FREE_FAILURES: u32 = 5;
/// The first block after the free failures; each further failure doubles it.
const FIRST_BLOCK: Duration = Duration::from_secs(1);
/// The longest block.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(60);
/// A client without failures for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most clients tracked at once; beyond, the stalest records are dropped.
const MAX_TRACKED: usize = 10_000;

/// One client's failures.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Failed admin-token attempts per client, shared by every admin route.
#[derive(Default)]
pub(crate) struct AdminGuard {
    // A std Mutex: held for a map lookup only, never across an await.
    clients: Mutex<HashMap<ClientKey, Strikes>>,
}

impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminGuard").finish_non_exhaustive()
    }
}

impl AdminGuard {
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Strikes>> {
        // A panic elsewhere cannot leave the map inconsistent: every
        // update is a single insert or remove.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long `client` must still wait at `now`, if it is blocked.
    fn blocked(&self, client: ClientKey, now: Instant) -> Option<Duration> {
        let until = self.clients().get(&client)?.blocked_until?;
        until.checked_duration_since(now).filter(|left| !left.is_zero())
    }

    /// Records a wrong token from `client` at `now`.
    fn record_failure(&self, client: ClientKey, now: Instant) {
        let mut clients = self.clients();
        if clients.len() >= MAX_TRACKED && !clients.contains_key(&client) {
            clients.retain(|_, s| now.saturating_duration_since(s.last_failure) < FORGET_AFTER);
            if clients.len() >= MAX_TRACKED
                && let Some(stalest) = clients.iter().min_by_key(|(_, s)| s.last_failure).map(|(k, _)| *k)
            {
                clients.remove(&stalest);
            }
        }
        let previous = clients
            .get(&client)
            .copied()
            .filter(|s| now.saturating_duration_since(s.last_failure) < FORGET_AFTER);
        let failures = previous.map_or(0, |s| s.failures).saturating_add(1);
        let blocked_until = block_after(failures).and_then(|block| now.checked_add(block));
        clients.insert(
            client,
            Strikes {
                failures,
                last_failure: now,
                blocked_until,
            },
        );
    }

    /// Forgets `client`'s failures (it presented the right token).
    fn record_success(&self, client: ClientKey) {
        self.clients().remove(&client);
    }
}

/// How long the `failures`-th failure blocks for (`None`: not yet).
fn block_after(failures: u32) -> Option<Duration> {
    let beyond = failures.checked_sub(FREE_FAILURES)?.checked_sub(1)?;
    let factor = 1u32.checked_shl(beyond).unwrap_or(u32::MAX);
    Some(FIRST_BLOCK.saturating_mul(factor).min(MAX_BLOCK))
}

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminRejection {
    /// `ADMIN_TOKEN` is not set: admin endpoints are off (403).
    Disabled,
    /// No bearer token, or the wrong one (401).
    Unauthorized,
    /// Too many wrong tokens from this client: try again after this many
    /// seconds (429); the token was not checked.
    SlowDown {
        /// Seconds until the client may try again.
        retry_after: u64,
    },
}

impl warp::reject::Reject for AdminRejection {}

impl From<AdminRejection> for WebError {
    fn from(rejection: AdminRejection) -> Self {
        match rejection {
            AdminRejection::Disabled => WebError::api(
                StatusCode::FORBIDDEN,
                "admin endpoints are disabled; set ADMIN_TOKEN to enable them",
            ),
            AdminRejection::Unauthorized => WebError::api(
                StatusCode::UNAUTHORIZED,
                "missing or wrong admin token (Authorization: Bearer ADMIN_TOKEN)",
            )
            .with_challenge("Bearer"),
            AdminRejection::SlowDown { retry_after } => WebError::api(
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong admin tokens from this address; try again later",
            )
            .with_retry_after(retry_after),
        }
    }
}

/// Passes admin requests, rejects the rest with an [`AdminRejection`];
/// `guard` slows down clients that keep sending wrong tokens.
pub(crate) fn admin_only(
    admin_token: Option<SecretString>,
    guard: Arc<AdminGuard>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let admin_token = Arc::new(admin_token);
    warp::header::optional::<String>("authorization")
        .and(client_key())
        .and_then(move |header: Option<String>, client: ClientKey| {
            let admin_token = Arc::clone(&admin_token);
            let guard = Arc::clone(&guard);
            async move {
                guarded_check(
                    &guard,
                    client,
                    (*admin_token).as_ref(),
                    header.as_deref(),
                    Instant::now(),
                )
                .map_err(warp::reject::custom)
            }
        })
        .untuple_one()
}

/// [`check`] behind `guard`: a blocked client is refused before its token
/// is looked at; the outcome updates its record.
pub(crate) fn guarded_check(
    guard: &AdminGuard,
    client: ClientKey,
    admin_token: Option<&SecretString>,
    authorization: Option<&str>,
    now: Instant,
) -> Result<(), AdminRejection> {
    if admin_token.is_none() {
        return Err(AdminRejection::Disabled);
    }
    if let Some(left) = guard.blocked(client, now) {
        // Round up: a client that waits what it is told is let in.
        let retry_after = left.as_secs().saturating_add(u64::from(left.subsec_nanos() > 0));
        return Err(AdminRejection::SlowDown { retry_after });
    }
    match check(admin_token, authorization) {
        Ok(()) => {
            guard.record_success(client);
            Ok(())
        }
        Err(rejection) => {
            if rejection == AdminRejection::Unauthorized {
                guard.record_failure(client, now);
                tracing::warn!(%client, "wrong or missing admin token");
            }
            Err(rejection)
        }
    }
}

/// The check itself, separate from warp for unit tests.
///
/// # Errors
///
/// [`AdminRejection::Disabled`] without a configured token,
/// [`AdminRejection::Unauthorized`] for a missing or wrong one.
pub(crate) fn check(admin_token: Option<&SecretString>, authorization: Option<&str>) -> Result<(), AdminRejection> {
    let expected = admin_token.ok_or(AdminRejection::Disabled)?;
    let presented = authorization
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(AdminRejection::Unauthorized)?;
    if constant_time_eq(expected.expose_secret().as_bytes(), presented.as_bytes()) {
        Ok(())
    } else {
        Err(AdminRejection::Unauthorized)
    }
}

/// Compares SHA-256 digests in constant time (`subtle`), so the time taken
/// says nothing about how much of the token was right; hashing first also
/// hides the token's length (`subtle` answers at once for slices of
/// different lengths).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    Sha256::digest(a).as_slice().ct_eq(Sha256::digest(b).as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> SecretString {
        SecretString::new("s3cret-admin".into())
    }

    #[test]
    fn the_right_bearer_token_passes() {
        assert_eq!(check(Some(&token()), Some("Bearer s3cret-admin")), Ok(()));
        assert_eq!(check(Some(&token()), Some("bearer  s3cret-admin ")), Ok(()));
    }

    #[test]
    fn wrong_missing_or_malformed_tokens_are_unauthorized() {
        for header in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer wrong"),
            Some("Bearer s3cret-admi"),
            Some("Basic s3cret-admin"),
            Some("s3cret-admin"),
        ] {
            assert_eq!(
                check(Some(&token()), header),
                Err(AdminRejection::Unauthorized),
                "{header:?}"
            );
        }
    }

    #[test]
    fn unset_admin_token_disables_admin_endpoints() {
        assert_eq!(check(None, Some("Bearer anything")), Err(AdminRejection::Disabled));
    }

    #[test]
    fn repeated_failures_block_for_doubling_times_up_to_a_minute() {
        assert_eq!(block_after(FREE_FAILURES), None);
        assert_eq!(block_after(FREE_FAILURES + 1), Some(Duration::from_secs(1)));
        assert_eq!(block_after(FREE_FAILURES + 2), Some(Duration::from_secs(2)));
        assert_eq!(block_after(FREE_FAILURES + 6), Some(Duration::from_secs(32)));
        assert_eq!(block_after(FREE_FAILURES + 7), Some(MAX_BLOCK));
        assert_eq!(block_after(u32::MAX), Some(MAX_BLOCK));
    }

    #[test]
    fn a_blocked_client_is_refused_without_its_token_being_checked() {
        let guard = AdminGuard::default();
        let me = ClientKey::of(Some("203.0.113.5:1".parse().expect("addr")));
        let other = ClientKey::of(Some("198.51.100.7:1".parse().expect("addr")));
        let t0 = Instant::now();
        let wrong = Some("Bearer wrong");
        for _ in 0..FREE_FAILURES {
            assert_eq!(
                guarded_check(&guard, me, Some(&token()), wrong, t0),
                Err(AdminRejection::Unauthorized)
            );
        }
        // The failure that starts the slow-down is still answered 401 ...
        assert_eq!(
            guarded_check(&guard, me, Some(&token()), wrong, t0),
            Err(AdminRejection::Unauthorized)
        );
        // ... then even the right token waits, and says how long.
        let right = Some("Bearer s3cret-admin");
        assert_eq!(
            guarded_check(&guard, me, Some(&token()), right, t0 + Duration::from_millis(200)),
            Err(AdminRejection::SlowDown { retry_after: 1 })
        );
        assert_eq!(
            guarded_check(&guard, other, Some(&token()), right, t0),
            Ok(()),
            "per client"
        );
        let later = t0 + Duration::from_secs(1);
        assert_eq!(guarded_check(&guard, me, Some(&token()), right, later), Ok(()));
        // The right token cleared the record.
        assert_eq!(
            guarded_check(&guard, me, Some(&token()), wrong, later),
            Err(AdminRejection::Unauthorized)
        );
        assert_eq!(guard.blocked(me, later), None);
    }

    #[tokio::test]
    async fn the_filter_rejects_with_the_reason() {
        let filter = admin_only(Some(token()), Arc::default()).map(|| "ok");
        let passed = warp::test::request()
            .header("authorization", "Bearer s3cret-admin")
            .filter(&filter)
            .await;
        assert_eq!(passed.ok(), Some("ok"));
        let refused = warp::test::request()
            .header("authorization", "Bearer nope")
            .filter(&filter)
            .await
            .expect_err("rejected");
        assert_eq!(refused.find::<AdminRejection>(), Some(&AdminRejection::Unauthorized));
    }
}
