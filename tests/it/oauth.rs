//! Connecting a streamer (SPEC §7): the OAuth flow walked without a browser
//! through the running app against the Twitch stand-in, each way it can
//! fail, tokens at rest, and the admin disconnect.

use std::time::Duration;

use kinoyubot::twitch::auth::manager::TokenManagerConfig;

use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, streamer};
use crate::helpers::{ADMIN_TOKEN, DEADLINE, TestApp, spawn_app, wait_for, wait_until, walk_connect};

/// An app with the Twitch stand-in, serving the configured channel `configured`.
async fn app_with_twitch() -> TestApp {
    TestApp::builder()
        .twitch(streamer())
        .channels(&["configured"])
        .start()
        .await
}

/// Asserts nothing about the streamer was stored or served.
async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(
        app.database.count("SELECT count(*) FROM twitch_tokens").await,
        0,
        "no tokens"
    );
    assert_eq!(
        app.database
            .count("SELECT count(*) FROM channels WHERE login = 'twitchdev'")
            .await,
        0,
        "no channel"
    );
    assert!(!app.serves("twitchdev").await, "not joined");
}

#[tokio::test]
async fn connecting_through_the_running_app_stores_the_channel_and_joins_it() {
    let mut app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .unset("TOKEN_KEY")
        .start()
        .await;
    let base = &app.address;
    let walk = walk_connect(base).await;
    let cookie = walk.start.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let query: std::collections::HashMap<_, _> = walk.authorize.query_pairs().into_owned().collect();
    assert_eq!(walk.authorize.path(), "/authorize");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], format!("{base}/auth/callback"));
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["scope"], "", "no scope: no enabled feature needs one");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["code_challenge"].len() >= 43, "PKCE challenge");
    assert!(
        !cookie.contains(&query["code_challenge"]),
        "the verifier, not the challenge, stays in the browser"
    );
    assert!(query["state"].len() >= 32, "random state");
    assert!(
        walk.callback.starts_with(&format!("{base}/auth/callback?code=")),
        "{}",
        walk.callback
    );
    assert_eq!(walk.done.status, 303);
    assert_eq!(walk.done.header("location"), "/");

    // The app's live status is Helix (asked before anything cached it).
    app.twitch().set_live("141981764", true);
    // Served without a restart: the lease task takes the new channel at once.
    let status = wait_for("twitchdev served without a restart", || async {
        let status = app.channel_status("twitchdev").await;
        status["next_raffle_at"].is_string().then_some(status)
    })
    .await;
    assert_eq!(status["live"], true, "{status}");
    app.irc.wait_joined("twitchdev", 1, DEADLINE).await;
    let row = app
        .database
        .client()
        .await
        .query_one(
            "SELECT c.twitch_user_id, c.needs_reauth, t.scopes, c.display_name FROM channels c
             JOIN twitch_tokens t ON t.channel_id = c.id WHERE c.login = 'twitchdev'",
            &[],
        )
        .await
        .expect("channel and tokens stored");
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("141981764"));
    assert!(!row.get::<_, bool>(1));
    assert!(row.get::<_, Vec<String>>(2).is_empty(), "no scope granted");
    let exchange = &app.twitch().token_requests("authorization_code")[0];
    assert!(
        exchange.params.get("code_verifier").is_some_and(|v| v.len() >= 43),
        "the exchange proves the PKCE verifier (the stand-in checks it against the challenge)"
    );
    assert_eq!(row.get::<_, String>(3), "TwitchDev", "display name from Helix");
    assert!(
        app.data_dir.path().join("token.key").exists(),
        "key generated without TOKEN_KEY"
    );
    app.stop().await;
}

#[tokio::test]
async fn connecting_again_updates_the_tokens_of_the_same_channel() {
    let app = app_with_twitch().await;
    app.connect_streamer().await;
    let first = app.stored_tokens("twitchdev").await;
    app.connect_streamer().await;
    let second = app.stored_tokens("twitchdev").await;
    assert_ne!(first, second);
    assert_eq!(
        app.database
            .count("SELECT count(*) FROM channels WHERE login = 'twitchdev'")
            .await,
        1
    );
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 1);
    assert!(app.twitch().access_token_valid(&second.0));
}

#[tokio::test]
async fn denied_consent_gives_a_clear_403_page_and_stores_nothing() {
    let app = app_with_twitch().await;
    app.twitch().deny_consent();
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let reply = app.callback(&callback, Some(&cookie)).await;
    assert_eq!(reply.status, 403);
    let body = &reply.body;
    assert!(
        body.contains("Connection cancelled") && body.contains("declined"),
        "{body}"
    );
    // Twitch's description is never shown (anyone can write a callback link).
    assert!(
        !body.contains("script") && !body.contains("denied you access"),
        "{body}"
    );
    assert_nothing_stored(&app).await;
    assert_eq!(
        app.database.count("SELECT count(*) FROM oauth_states").await,
        0,
        "the state is spent"
    );
    assert!(app.twitch().token_requests("authorization_code").is_empty());
}

#[tokio::test]
async fn missing_forged_mismatched_reused_and_expired_states_are_refused() {
    let app = app_with_twitch().await;
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    let url = url::Url::parse(&format!("http://x{callback}")).expect("url");
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");

    // Missing state.
    let missing = app
        .callback(&format!("/auth/callback?code={code}"), Some(&cookie))
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("has no state"));

    // Forged: a state this bot never issued, with a matching cookie.
    let forged = app
        .callback(
            &format!("/auth/callback?code={code}&state=forged123"),
            Some("forged123"),
        )
        .await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("already used or was not issued"));

    // The right state, but not this browser's cookie (or no cookie): CSRF.
    let mismatched = app.callback(&callback, Some("someone-elses-state")).await;
    assert_eq!(mismatched.status, 403);
    let no_cookie = app.callback(&callback, None).await;
    assert_eq!(no_cookie.status, 403);
    assert!(no_cookie.body.contains("not started in this browser"));
    assert_nothing_stored(&app).await;

    // Used once: fine; used again: refused.
    let first = app.callback(&callback, Some(&cookie)).await;
    assert_eq!(first.status, 303);
    let reused = app.callback(&callback, Some(&cookie)).await;
    assert_eq!(reused.status, 400);
    assert!(reused.body.contains("already used"));
    assert_eq!(
        app.twitch().token_requests("authorization_code").len(),
        1,
        "code exchanged once"
    );

    // Expired.
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    app.database
        .client()
        .await
        .execute("UPDATE oauth_states SET expires_at = now() - interval '1 minute'", &[])
        .await
        .expect("expire");
    let expired = app.callback(&callback, Some(&cookie)).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("expired"));
    assert_eq!(
        app.twitch().token_requests("authorization_code").len(),
        1,
        "no exchange"
    );
}

#[tokio::test]
async fn a_failed_code_exchange_gives_502_and_stores_nothing() {
    let app = app_with_twitch().await;
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    let bogus = callback.replace("code=code", "code=bogus");
    assert_ne!(bogus, callback);
    let reply = app.callback(&bogus, Some(&cookie)).await;
    assert_eq!(reply.status, 502);
    assert!(reply.body.contains("Invalid authorization code"), "{}", reply.body);
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn without_twitch_credentials_the_connect_link_explains_what_is_missing() {
    let app = spawn_app().await;
    for path in ["/auth/twitch", "/auth/callback?code=a&state=b"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 503, "{path}");
        assert!(reply.body.contains("TWITCH_CLIENT_ID"), "{}", reply.body);
    }
}

/// Every text and byte of the tables that could hold a token.
async fn database_dump(app: &TestApp) -> (String, Vec<Vec<u8>>) {
    let client = app.database.client().await;
    let mut text = String::new();
    for table in ["twitch_tokens", "channels", "oauth_states", "outbox"] {
        for row in client
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .expect("dump")
        {
            text.push_str(row.get::<_, &str>(0));
            text.push('\n');
        }
    }
    let mut bytes = Vec::new();
    for row in client
        .query("SELECT access_token, refresh_token FROM twitch_tokens", &[])
        .await
        .expect("bytes")
    {
        bytes.push(row.get::<_, Vec<u8>>(0));
        bytes.push(row.get::<_, Vec<u8>>(1));
    }
    (text, bytes)
}

#[tokio::test]
async fn no_token_appears_in_plaintext_in_the_database() {
    let app = app_with_twitch().await;
    app.connect_streamer().await;
    // A refresh too, so rotated tokens are checked as well.
    let manager = app.token_manager(TokenManagerConfig {
        refresh_ahead: Duration::from_secs(365 * 24 * 3600),
        ..Default::default()
    });
    assert_eq!(manager.run_cycle().await.expect("cycle").refreshed, 1);
    let (text, bytes) = database_dump(&app).await;
    let issued = app.twitch().issued_tokens();
    assert!(
        issued.len() >= 5,
        "codes, access and refresh tokens were issued: {issued:?}"
    );
    assert!(text.contains("twitchdev"), "the dump has content");
    for token in &issued {
        assert!(!text.contains(token.as_str()), "{token} in plaintext");
        assert!(!text.contains(&hex::encode(token)), "{token} hex-encoded");
        for blob in &bytes {
            assert!(
                !blob.windows(token.len()).any(|w| w == token.as_bytes()),
                "{token} inside a bytea"
            );
        }
    }
    // The client secret is not stored either.
    assert!(!text.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn disconnect_is_admin_only_revokes_at_twitch_and_forgets_the_tokens() {
    let app = app_with_twitch().await;
    app.connect_streamer().await;
    app.irc.wait_joined("twitchdev", 1, DEADLINE).await;
    let (access, refresh) = app.stored_tokens("twitchdev").await;
    let unauthorized = app.disconnect("twitchdev", None).await;
    assert_eq!(unauthorized.status, 401);
    assert_eq!(unauthorized.header("www-authenticate"), "Bearer");
    let wrong = app.disconnect("twitchdev", Some("Bearer nope")).await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("admin token"))
    );
    // Another instance on the same database, without ADMIN_TOKEN.
    let mut disabled = TestApp::builder()
        .database(app.database.clone())
        .twitch_stand_in(app.twitch().clone())
        .unset("ADMIN_TOKEN")
        .start()
        .await;
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let forbidden = disabled.disconnect("twitchdev", Some(&admin)).await;
    assert_eq!(forbidden.status, 403);
    // While it ran the two instances split the channels; stopping it hands
    // its leases back, and the first instance takes them at its next round.
    disabled.stop().await;
    assert_eq!(
        app.database.count("SELECT count(*) FROM twitch_tokens").await,
        1,
        "still connected"
    );

    let unknown = app.disconnect("nobody", Some(&admin)).await;
    assert_eq!(unknown.status, 404);
    let bad = app.disconnect("no%20pe", Some(&admin)).await;
    assert_eq!(bad.status, 400);

    let done = app.disconnect("twitchdev", Some(&admin)).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let body = done.json();
    assert_eq!(body["connected"], false);
    assert_eq!(body["revoked_at_twitch"], true);
    let revoked: Vec<String> = app
        .twitch()
        .requests("/revoke")
        .iter()
        .map(|r| r.params["token"].clone())
        .collect();
    assert!(revoked.contains(&access) && revoked.contains(&refresh), "{revoked:?}");
    assert!(!app.twitch().access_token_valid(&access));
    assert!(!app.twitch().refresh_token_valid(&refresh));
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 0);
    // The lease task stops serving it within a round.
    wait_until("#twitchdev no longer served", || async {
        !app.serves("twitchdev").await
    })
    .await;
    wait_until("#configured served again", || async { app.serves("configured").await }).await;
    wait_until("the bot to leave #twitchdev", || async {
        !app.irc.is_joined("twitchdev")
    })
    .await;
    wait_until("the bot in #configured", || async { app.irc.is_joined("configured") }).await;
    let again = app.disconnect("twitchdev", Some(&admin)).await;
    assert_eq!(again.status, 404, "nothing left to disconnect");
}

#[tokio::test]
async fn disconnecting_a_configured_channel_keeps_serving_it() {
    let app = TestApp::builder()
        .twitch(streamer())
        .channels(&["twitchdev"])
        .start()
        .await;
    app.connect_streamer().await;
    let reply = app
        .disconnect("twitchdev", Some(&format!("Bearer {ADMIN_TOKEN}")))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 0);
    assert!(app.serves("twitchdev").await, "still in TWITCH_CHANNELS");
    assert!(app.irc.is_joined("twitchdev"));
}
