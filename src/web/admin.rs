//! Admin authentication: `Authorization: Bearer ADMIN_TOKEN` (SPEC §8).
//!
//! Unset `ADMIN_TOKEN` → 403 for every admin route. A missing or wrong token
//! → 401. The comparison hashes both sides and compares the digests in
//! constant time, so timing reveals neither the token nor its length.

use sha2::{Digest, Sha256};
use warp::{Filter, Rejection};

use crate::secret::SecretString;

/// Rejection: admin endpoints are disabled (no `ADMIN_TOKEN`).
#[derive(Debug)]
pub struct AdminDisabled;
impl warp::reject::Reject for AdminDisabled {}

/// Rejection: missing or wrong bearer token.
#[derive(Debug)]
pub struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

/// Whether `presented` equals `expected`, in time independent of both.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A filter that passes only requests carrying the admin bearer token.
pub fn admin_only(token: Option<SecretString>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |header: Option<String>| {
            let token = token.clone();
            async move {
                let Some(expected) = token else {
                    return Err(warp::reject::custom(AdminDisabled));
                };
                let presented = header
                    .as_deref()
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim)
                    .unwrap_or_default();
                if !presented.is_empty() && tokens_match(presented, expected.expose()) {
                    Ok(())
                } else {
                    Err(warp::reject::custom(Unauthorized))
                }
            }
        })
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("s3cret-token", "s3cret-token"));
        assert!(!tokens_match("s3cret-tokem", "s3cret-token"));
        assert!(!tokens_match("", "s3cret-token"));
        assert!(!tokens_match("s3cret-token-longer", "s3cret-token"));
    }
}
