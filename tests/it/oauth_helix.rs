//! The Helix client against the Twitch stand-in: live status, the cached
//! app token, a fresh token after 401, rate limits, users.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kinoyubot::twitch::helix::{HelixClient, HelixUser};
use kinoyubot::twitch::live_status::LiveStatus;

use crate::fake_twitch::{CLIENT_ID, FakeTwitch, streamer};
use crate::helpers::twitch_auth;

/// The stand-in and a Helix client on it.
async fn helix() -> (FakeTwitch, HelixClient) {
    let fake = FakeTwitch::start(streamer()).await;
    let helix = HelixClient::new(twitch_auth(&fake), fake.api_url());
    (fake, helix)
}

#[tokio::test]
async fn live_status_follows_the_stream_and_reuses_one_app_token() {
    let (fake, helix) = helix().await;
    assert_eq!(helix.is_live(Some("141981764")).await.known(), Some(false));
    fake.set_live("141981764", true);
    assert_eq!(helix.is_live(Some("141981764")).await.known(), Some(true));
    assert_eq!(helix.is_live(Some("999")).await.known(), Some(false));
    fake.set_live("141981764", false);
    assert_eq!(helix.is_live(Some("141981764")).await.known(), Some(false));
    assert_eq!(helix.is_live(None).await.known(), None, "no broadcaster id: unknown");

    assert_eq!(fake.token_requests("client_credentials").len(), 1, "token cached");
    let streams = fake.requests("/helix/streams");
    assert_eq!(streams.len(), 4);
    for request in &streams {
        assert_eq!(request.client_id_header.as_deref(), Some(CLIENT_ID));
        assert!(
            request
                .authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer app"))
        );
    }
    assert_eq!(streams[1].params["user_id"], "141981764");
}

#[tokio::test]
async fn a_401_gets_a_fresh_app_token_and_one_retry() {
    let (fake, helix) = helix().await;
    fake.set_live("141981764", true);
    assert_eq!(helix.is_live(Some("141981764")).await.known(), Some(true));
    fake.revoke_app_tokens();
    assert_eq!(helix.is_live(Some("141981764")).await.known(), Some(true));
    assert_eq!(fake.token_requests("client_credentials").len(), 2);
    assert_eq!(fake.requests("/helix/streams").len(), 3, "one failed try, one retry");
}

#[tokio::test]
async fn errors_make_live_status_unknown() {
    let fake = FakeTwitch::start(streamer()).await;
    // Nothing listens on this path of the stand-in: Helix answers 404.
    let wrong_base = url::Url::parse(&format!("http://{}/nothing", fake.addr)).expect("url");
    let helix = HelixClient::new(twitch_auth(&fake), wrong_base);
    assert_eq!(helix.is_live(Some("141981764")).await.known(), None);
    let error = helix.stream_is_live("141981764").await.expect_err("404");
    assert!(error.to_string().contains("404"), "{error}");
}

#[tokio::test]
async fn an_empty_rate_limit_bucket_waits_for_the_reset() {
    let (fake, helix) = helix().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    // Two seconds ahead: without the wait, both requests would go out well before it.
    let reset = now + 2;
    fake.set_rate_limit(0, reset);
    assert_eq!(helix.is_live(Some("1")).await.known(), Some(false));
    fake.set_rate_limit(799, 0);
    assert_eq!(helix.is_live(Some("1")).await.known(), Some(false));
    let after = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    assert!(
        after >= Duration::from_secs(reset),
        "the second request went out at {after:?}, before the reset at {reset}"
    );
}

#[tokio::test]
async fn users_are_looked_up_by_login() {
    let (_fake, helix) = helix().await;
    assert_eq!(
        helix.user_by_login("twitchdev").await.expect("users"),
        Some(HelixUser {
            id: "141981764".into(),
            login: "twitchdev".into(),
            display_name: "TwitchDev".into(),
        })
    );
    assert_eq!(helix.user_by_login("nobody").await.expect("users"), None);
}
