//! Durable token rotation (issue 12 item 5): a refresh is claimed, Twitch
//! is called outside any transaction, and the rotated tokens are written at
//! once, so a database connection that dies while Twitch answers does not
//! lose the only refresh token that still works, and two instances never
//! refresh the same token.

use std::time::Duration;

use kinoyubot::twitch::auth::manager::TokenManagerConfig;

use crate::fake_twitch::streamer;
use crate::helpers::{DEADLINE, TestApp, within};

const HOUR: Duration = Duration::from_secs(3600);

/// Refresh whenever a cycle runs (every token "expires soon").
const REFRESH_NOW: TokenManagerConfig = TokenManagerConfig {
    check_every: HOUR,
    validate_every: HOUR,
    refresh_ahead: Duration::from_secs(10 * 365 * 24 * 3600),
};

/// An app with the Twitch stand-in and a connected streamer; its own token
/// manager stays out of the way, so the tests run the cycles.
async fn connected_app() -> TestApp {
    let app = TestApp::builder()
        .twitch(streamer())
        .token_manager(TokenManagerConfig {
            check_every: HOUR,
            ..TokenManagerConfig::default()
        })
        .start()
        .await;
    app.connect_streamer().await;
    app
}

async fn needs_reauth(app: &TestApp) -> bool {
    app.database
        .client()
        .await
        .query_one("SELECT needs_reauth FROM channels WHERE login = 'twitchdev'", &[])
        .await
        .expect("channel")
        .get(0)
}

#[tokio::test]
async fn a_refresh_whose_database_connections_die_while_twitch_answers_leaves_a_working_token() {
    let app = connected_app().await;
    let (_, old_refresh) = app.stored_tokens("twitchdev").await;
    let hold = app.twitch().hold_refreshes();
    let manager = app.token_manager(REFRESH_NOW);
    let cycle = tokio::spawn(async move { manager.run_cycle().await });
    hold.wait_held(1).await;
    // Twitch has the request; every connection of the bot dies now.
    app.database.terminate_connections().await;
    hold.release();
    let report = within(DEADLINE, "the refresh cycle", cycle)
        .await
        .expect("no panic")
        .expect("the cycle lists the tokens");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let (_, rotated) = app.stored_tokens("twitchdev").await;
    assert_ne!(rotated, old_refresh, "the rotated refresh token is stored");
    assert!(app.twitch().refresh_token_valid(&rotated));
    assert!(
        !app.twitch().refresh_token_valid(&old_refresh),
        "Twitch rotated it away"
    );

    // A later refresh with the rotated token works.
    let report = app.token_manager(REFRESH_NOW).run_cycle().await.expect("cycle");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let refreshes = app.twitch().token_requests("refresh_token");
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[1].params["refresh_token"], rotated);
    let (_, newest) = app.stored_tokens("twitchdev").await;
    assert!(app.twitch().refresh_token_valid(&newest));
    assert!(!needs_reauth(&app).await);
}

#[tokio::test]
async fn while_one_instance_refreshes_another_leaves_the_token_alone() {
    let app = connected_app().await;
    let hold = app.twitch().hold_refreshes();
    let first = app.token_manager(REFRESH_NOW);
    let refreshing = tokio::spawn(async move { first.run_cycle().await });
    hold.wait_held(1).await;
    // The second instance sees the claim: no refresh of its own.
    let report = app.token_manager(REFRESH_NOW).run_cycle().await.expect("cycle");
    assert_eq!(report.refreshed, 0, "{report:?}");
    assert_eq!(report.untouched, 1, "{report:?}");
    hold.release();
    let report = within(DEADLINE, "the first refresh", refreshing)
        .await
        .expect("no panic")
        .expect("cycle");
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert_eq!(app.twitch().token_requests("refresh_token").len(), 1);
    let (_, stored) = app.stored_tokens("twitchdev").await;
    assert!(app.twitch().refresh_token_valid(&stored));
    // The claim ended with the write: the next cycle refreshes again.
    let report = app.token_manager(REFRESH_NOW).run_cycle().await.expect("cycle");
    assert_eq!(report.refreshed, 1, "{report:?}");
    assert!(!needs_reauth(&app).await);
}
