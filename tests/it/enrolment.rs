//! `CONNECT_POLICY` (SPEC §10, issue 13 item 1): who may connect a Twitch
//! account, walked through the running app against the Twitch stand-in.

use crate::fake_twitch::{User, streamer};
use crate::helpers::{DEADLINE, Reply, TestApp, wait_until};

fn alt() -> User {
    User::new("555000111", "altaccount", "AltAccount")
}

/// Connects whoever the stand-in lets consent now; the callback's answer.
async fn try_connect(app: &TestApp) -> Reply {
    let (authorize, cookie) = app.start_connect().await;
    let callback = app.consent(&authorize).await;
    app.callback(&callback, Some(&cookie)).await
}

/// Asserts the refused account left nothing behind: no tokens kept (here or
/// at Twitch), no channel row, not served, not joined.
async fn assert_refused_and_forgotten(app: &TestApp, reply: &Reply, who: &User) {
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(
        reply.header("content-type").starts_with("text/html"),
        "an HTML page: {:?}",
        reply.headers
    );
    assert!(reply.body.contains("This install is private"), "{}", reply.body);
    assert!(reply.body.contains(&who.login), "{}", reply.body);
    assert_eq!(
        app.database
            .count(&format!(
                "SELECT count(*) FROM twitch_tokens t JOIN channels c ON c.id = t.channel_id WHERE c.login = '{}'",
                who.login
            ))
            .await,
        0,
        "no tokens stored"
    );
    assert_eq!(
        app.database
            .count(&format!("SELECT count(*) FROM channels WHERE login = '{}'", who.login))
            .await,
        0,
        "no channel row"
    );
    assert!(!app.serves(&who.login).await, "not served");
    assert!(!app.irc.is_joined(&who.login), "not joined");
    assert!(
        !app.twitch().has_valid_tokens_of(&who.id),
        "the tokens Twitch issued were revoked"
    );
}

#[tokio::test]
async fn a_second_account_is_refused_under_first_keeps_no_tokens_and_is_accepted_once_approved() {
    let app = TestApp::builder()
        .twitch(streamer())
        .channels(&["configured"])
        .start()
        .await;
    // The first account owns the install.
    app.connect_streamer().await;
    app.irc.wait_joined("twitchdev", 1, DEADLINE).await;

    let alt = alt();
    app.irc.set_room_id(&alt.login, &alt.id);
    app.twitch().set_consenting(alt.clone());
    let refused = try_connect(&app).await;
    assert_refused_and_forgotten(&app, &refused, &alt).await;
    let revoked = app.twitch().requests("/revoke");
    assert_eq!(revoked.len(), 2, "access and refresh token handed back");
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 1);

    // Approving is admin-only.
    let path = format!("/api/channels/{}/approve", alt.login);
    let anonymous = app.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(anonymous.status, 401);
    let wrong = app.send(reqwest::Method::POST, &path, Some("Bearer nope")).await;
    assert_eq!(wrong.status, 401);
    let still = try_connect(&app).await;
    assert_eq!(still.status, 403, "not approved by a failed request");
    let approved = app.post_as_admin(&path).await;
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(
        approved.json(),
        serde_json::json!({"channel": "altaccount", "approved": true, "connect_policy": "first"})
    );
    let bad = app.post_as_admin("/api/channels/no%20pe/approve").await;
    assert_eq!(bad.status, 400);

    let accepted = try_connect(&app).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    app.irc.wait_joined(&alt.login, 1, DEADLINE).await;
    wait_until("the approved channel served", || async { app.serves(&alt.login).await }).await;
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 2);

    // The owner can always come back.
    app.twitch().set_consenting(streamer());
    app.connect_streamer().await;
    assert_eq!(
        app.database
            .count("SELECT count(*) FROM install_owner WHERE login = 'twitchdev'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_listed_channel_may_connect_under_first_without_approval() {
    let app = TestApp::builder()
        .twitch(streamer())
        .channels(&["altaccount"])
        .start()
        .await;
    app.connect_streamer().await;
    let alt = alt();
    app.irc.set_room_id(&alt.login, &alt.id);
    app.twitch().set_consenting(alt.clone());
    let reply = try_connect(&app).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 2);
}

#[tokio::test]
async fn listed_admits_only_channels_in_twitch_channels_even_when_approved() {
    let app = TestApp::builder()
        .twitch(streamer())
        .channels(&["twitchdev"])
        .setting("CONNECT_POLICY", "listed")
        .start()
        .await;
    app.connect_streamer().await;
    let alt = alt();
    app.twitch().set_consenting(alt.clone());
    let approved = app.post_as_admin("/api/channels/altaccount/approve").await;
    assert_eq!(approved.json()["connect_policy"], "listed");
    let refused = try_connect(&app).await;
    assert_refused_and_forgotten(&app, &refused, &alt).await;
}

#[tokio::test]
async fn anyone_admits_a_second_account() {
    let app = TestApp::builder()
        .twitch(streamer())
        .setting("CONNECT_POLICY", "anyone")
        .start()
        .await;
    app.connect_streamer().await;
    app.twitch().set_consenting(alt());
    let reply = try_connect(&app).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(app.database.count("SELECT count(*) FROM twitch_tokens").await, 2);
    assert!(app.twitch().requests("/revoke").is_empty());
}

#[tokio::test]
async fn a_bad_connect_policy_is_a_configuration_error_naming_the_setting() {
    let args = kinoyubot::config::SettingsArgs {
        connect_policy: Some("everyone".into()),
        ..Default::default()
    };
    let error = kinoyubot::config::Settings::from_args(args).expect_err("refused");
    assert!(error.to_string().starts_with("CONNECT_POLICY:"), "{error}");
}
