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

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

use super::reply::WebError;
use secrecy::{ExposeSecret as _, SecretString};

/// Why an admin request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminRejection {
    /// `ADMIN_TOKEN` is not set: admin endpoints are off (403).
    Disabled,
    /// No bearer token, or the wrong one (401).
    Unauthorized,
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
        }
    }
}

/// Passes admin requests, rejects the rest with an [`AdminRejection`].
pub(crate) fn admin_only(admin_token: Option<SecretString>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let admin_token = Arc::new(admin_token);
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let admin_token = Arc::clone(&admin_token);
            async move { check((*admin_token).as_ref(), header.as_deref()).map_err(warp::reject::custom) }
        })
        .untuple_one()
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

    #[tokio::test]
    async fn the_filter_rejects_with_the_reason() {
        let filter = admin_only(Some(token())).map(|| "ok");
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
