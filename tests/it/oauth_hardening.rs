//! OAuth hardening (issue 13 item 6): bounded pending states, the error
//! branch of the callback, repeated parameters; through the running app.

use std::net::{IpAddr, Ipv4Addr};

use crate::fake_twitch::streamer;
use crate::helpers::{Reply, TestApp};

async fn app() -> TestApp {
    TestApp::builder().twitch(streamer()).start().await
}

/// The state inside an authorize URL.
fn state_of(authorize: &url::Url) -> String {
    authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state")
}

async fn pending(app: &TestApp) -> i64 {
    app.database.count("SELECT count(*) FROM oauth_states").await
}

#[tokio::test]
async fn state_rows_stay_bounded_under_1000_anonymous_starts_and_the_newest_still_works() {
    let app = app().await;
    let (first_authorize, first_cookie) = app.start_connect().await;
    let mut last = None;
    for _ in 0..999 {
        last = Some(app.start_connect().await);
    }
    let rows = pending(&app).await;
    assert!(rows <= 5, "{rows} pending states from one client after 1,000 starts");
    // The client's newest start still connects; its oldest gave way.
    let (authorize, cookie) = last.expect("started");
    let callback = app.consent(&authorize).await;
    assert_eq!(app.callback(&callback, Some(&cookie)).await.status, 303);
    let old = app.consent(&first_authorize).await;
    let refused = app.callback(&old, Some(&first_cookie)).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}

#[tokio::test]
async fn pending_states_are_bounded_in_total_across_clients() {
    let app = app().await;
    let mut too_many = None;
    // 110 clients (127.0.0.2, 127.0.0.3, …) starting 5 times each: 550 starts.
    'clients: for n in 2u8..112 {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
            .build()
            .expect("client");
        for _ in 0..5 {
            let reply = Reply::to(client.get(app.url("/auth/twitch"))).await;
            if reply.status == 429 {
                too_many = Some(reply);
                break 'clients;
            }
            assert_eq!(reply.status, 302, "{}", reply.body);
        }
    }
    let reply = too_many.expect("refused once the total is reached");
    assert_eq!(reply.header("retry-after"), "60");
    assert!(reply.body.contains("Too many sign-ins"), "{}", reply.body);
    assert_eq!(pending(&app).await, 500);
}

#[tokio::test]
async fn the_error_branch_checks_the_cookie_first_and_never_shows_the_description() {
    let app = app().await;
    let phish = "Your+account+is+locked.+Call+%2B1-555-0100+now";
    let (authorize, cookie) = app.start_connect().await;
    let state = state_of(&authorize);
    let path = format!("/auth/callback?error=access_denied&error_description={phish}&state={state}");

    // Without this browser's cookie: refused as CSRF, and the state is not spent.
    let forged = app.callback(&path, None).await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("not started in this browser"), "{}", forged.body);
    assert_eq!(pending(&app).await, 1, "a forged link cannot spend a state");

    let declined = app.callback(&path, Some(&cookie)).await;
    assert_eq!(declined.status, 403);
    assert!(declined.body.contains("declined"), "{}", declined.body);
    assert!(
        !declined.body.contains("locked") && !declined.body.contains("555"),
        "{}",
        declined.body
    );
    assert_eq!(pending(&app).await, 0, "spent");

    for (code, status, text) in [
        ("server_error", 502, "Twitch had a problem"),
        ("temporarily_unavailable", 502, "Twitch had a problem"),
        ("invalid_scope", 502, "Twitch refused the sign-in"),
        ("%3Cb%3Ephish%3C%2Fb%3E", 502, "Twitch refused the sign-in"),
    ] {
        let (authorize, cookie) = app.start_connect().await;
        let state = state_of(&authorize);
        let path = format!("/auth/callback?error={code}&error_description={phish}&state={state}");
        let reply = app.callback(&path, Some(&cookie)).await;
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert!(reply.body.contains(text), "{code}: {}", reply.body);
        assert!(
            !reply.body.contains("locked") && !reply.body.contains("phish"),
            "{}",
            reply.body
        );
    }
    assert!(app.twitch().token_requests("authorization_code").is_empty());
}

#[tokio::test]
async fn repeated_state_or_code_parameters_are_refused_with_400() {
    let app = app().await;
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    let state = state_of(&authorize);
    for path in [
        format!("{callback}&state={state}"),
        format!("{callback}&code=another"),
        format!("{callback}&state=other"),
    ] {
        let reply = app.callback(&path, Some(&cookie)).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(reply.body.contains("parameter twice"), "{}", reply.body);
    }
    assert!(app.twitch().token_requests("authorization_code").is_empty());
    // The untouched answer still works: nothing was spent by the refusals.
    assert_eq!(app.callback(&callback, Some(&cookie)).await.status, 303);
}
