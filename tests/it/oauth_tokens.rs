//! The token manager against the Twitch stand-in: hourly validation,
//! refresh ahead of expiry and on 401, rotation, a refused refresh →
//! `needs_reauth` and exactly one notice, and a wrong key.

use std::time::Duration;

use kinoyubot::twitch::auth::manager::{CycleReport, TokenManagerConfig};

use crate::fake_twitch::streamer;
use crate::helpers::{TestApp, wait_until, within};

const HOUR: Duration = Duration::from_secs(3600);

fn config(validate_every: Duration, refresh_ahead: Duration) -> TokenManagerConfig {
    TokenManagerConfig {
        check_every: Duration::from_millis(20),
        validate_every,
        refresh_ahead,
    }
}

/// An app with the Twitch stand-in whose own token manager stays out of the
/// way (one look at start-up, before anyone connects), so the tests run
/// the cycles.
async fn app() -> TestApp {
    TestApp::builder()
        .twitch(streamer())
        .token_manager(TokenManagerConfig {
            check_every: HOUR,
            ..TokenManagerConfig::default()
        })
        .start()
        .await
}

async fn notices(app: &TestApp) -> Vec<serde_json::Value> {
    app.database
        .client()
        .await
        .query(
            "SELECT payload FROM outbox WHERE raffle_id IS NULL AND payload->>'kind' = 'notice'",
            &[],
        )
        .await
        .expect("outbox")
        .iter()
        .map(|row| row.get(0))
        .collect()
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
async fn a_fresh_token_is_left_alone_until_an_hour_passed_then_validated() {
    let app = app().await;
    app.connect_streamer().await;
    let validations = app.twitch().requests("/validate").len();
    let report = app
        .token_manager(config(HOUR, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(
        report,
        CycleReport {
            untouched: 1,
            ..CycleReport::default()
        }
    );
    assert_eq!(
        app.twitch().requests("/validate").len(),
        validations,
        "validated at connect"
    );

    // An hour later (validate_every = 0 stands in for it).
    let report = app
        .token_manager(config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.validated, 1);
    assert_eq!(app.twitch().requests("/validate").len(), validations + 1);
    assert!(app.twitch().token_requests("refresh_token").is_empty());
}

#[tokio::test]
async fn a_token_close_to_expiry_is_refreshed_and_the_rotated_refresh_token_stored() {
    let app = app().await;
    app.twitch().set_access_expires_in(300); // 5 minutes left
    app.connect_streamer().await;
    let (old_access, old_refresh) = app.stored_tokens("twitchdev").await;
    app.twitch().set_access_expires_in(14_400);

    let report = app
        .token_manager(config(HOUR, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 1);
    let refreshes = app.twitch().token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].params["refresh_token"], old_refresh);
    let (new_access, new_refresh) = app.stored_tokens("twitchdev").await;
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh, "rotated refresh token stored");
    assert!(app.twitch().refresh_token_valid(&new_refresh));
    assert!(!app.twitch().refresh_token_valid(&old_refresh));

    // Now far from expiry: the next cycle leaves it alone.
    let report = app
        .token_manager(config(HOUR, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 0);
    assert_eq!(app.twitch().token_requests("refresh_token").len(), 1);
}

#[tokio::test]
async fn a_401_from_validate_triggers_a_refresh() {
    let app = app().await;
    app.connect_streamer().await;
    let (old_access, _) = app.stored_tokens("twitchdev").await;
    app.twitch().expire_access_token(&old_access);
    // Twitch's documented refresh answer has no expires_in: the manager must cope.
    app.twitch().set_refresh_sends_expiry(false);

    let report = app
        .token_manager(config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let (new_access, _) = app.stored_tokens("twitchdev").await;
    assert_ne!(new_access, old_access);
    assert!(app.twitch().access_token_valid(&new_access));
    assert!(!needs_reauth(&app).await);

    // The new token validates on the next check.
    let report = app
        .token_manager(config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.validated, 1, "{report:?}");
}

#[tokio::test]
async fn a_refused_refresh_flags_needs_reauth_and_queues_exactly_one_notice() {
    let app = app().await;
    app.connect_streamer().await;
    app.twitch().revoke_user(&streamer().id);
    let manager = app.token_manager(config(Duration::ZERO, Duration::from_secs(600)));

    let first = manager.run_cycle().await.expect("cycle");
    assert_eq!(first.newly_needs_reauth, 1, "{first:?}");
    for _ in 0..3 {
        let later = manager.run_cycle().await.expect("cycle");
        assert_eq!(later.newly_needs_reauth, 0);
        assert_eq!(later.untouched, 1);
    }
    assert!(needs_reauth(&app).await);
    let notices = notices(&app).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["channel_login"], "twitchdev");
    let message = notices[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("reconnect") && message.contains("/auth/twitch"),
        "{message}"
    );
    assert_eq!(
        app.twitch().token_requests("refresh_token").len(),
        1,
        "a refused token is not retried"
    );

    // Reconnecting clears the flag; a later lapse notices again (once).
    app.connect_streamer().await;
    assert!(!needs_reauth(&app).await);
    assert_eq!(manager.run_cycle().await.expect("cycle").validated, 1);
}

#[tokio::test]
async fn tokens_under_another_key_give_a_clear_error_and_one_notice() {
    let app = app().await;
    app.connect_streamer().await;
    let manager = app.token_manager_with_key(config(Duration::ZERO, Duration::from_secs(600)), [8; 32]);
    assert_eq!(manager.run_cycle().await.expect("cycle").newly_needs_reauth, 1);
    assert_eq!(manager.run_cycle().await.expect("cycle").newly_needs_reauth, 0);
    let notices = notices(&app).await;
    assert_eq!(notices.len(), 1);
    let message = notices[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("another TOKEN_KEY"), "{message}");
    assert!(
        app.twitch().requests("/validate").len() == 1 && app.twitch().token_requests("refresh_token").is_empty(),
        "garbage is never sent to Twitch"
    );
}

#[tokio::test]
async fn the_running_manager_refreshes_and_stops_on_shutdown() {
    let mut app = TestApp::builder()
        .twitch(streamer())
        .token_manager(config(HOUR, Duration::from_secs(600)))
        .start()
        .await;
    app.twitch().set_access_expires_in(60);
    app.connect_streamer().await;
    wait_until("the manager to refresh", || async {
        !app.twitch().token_requests("refresh_token").is_empty()
    })
    .await;
    // The whole app stops well before it would give up on a manager that
    // ignores shutdown (it waits 20 s, then aborts it).
    within(Duration::from_secs(10), "shutdown with the manager running", app.stop()).await;
}
