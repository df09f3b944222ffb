//! The token manager against the Twitch stand-in: hourly validation,
//! refresh ahead of expiry and on 401, rotation, a refused refresh →
//! `needs_reauth` and exactly one notice, and a wrong key.

use std::time::{Duration, Instant};

use kinoyubot::twitch::auth::manager::{CycleReport, TokenManager, TokenManagerConfig};
use kinoyubot::twitch::auth::token_cipher::TokenCipher;
use tokio_util::sync::CancellationToken;

use crate::oauth::{OAuthSetup, key, streamer};

const HOUR: Duration = Duration::from_secs(3600);

fn manager(setup: &OAuthSetup, config: TokenManagerConfig) -> TokenManager {
    manager_with(setup, config, setup.cipher.clone())
}

fn manager_with(setup: &OAuthSetup, config: TokenManagerConfig, cipher: TokenCipher) -> TokenManager {
    TokenManager::new(
        setup.store.clone(),
        setup.auth.clone(),
        cipher,
        config,
        "http://localhost:8080/auth/twitch".into(),
    )
}

fn config(validate_every: Duration, refresh_ahead: Duration) -> TokenManagerConfig {
    TokenManagerConfig {
        check_every: Duration::from_millis(20),
        validate_every,
        refresh_ahead,
    }
}

async fn notices(setup: &OAuthSetup) -> Vec<serde_json::Value> {
    setup
        .database
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

#[tokio::test]
async fn a_fresh_token_is_left_alone_until_an_hour_passed_then_validated() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    let validations = setup.fake.requests("/validate").len();
    let report = manager(&setup, config(HOUR, Duration::from_secs(600)))
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
        setup.fake.requests("/validate").len(),
        validations,
        "validated at connect"
    );

    // An hour later (validate_every = 0 stands in for it).
    let report = manager(&setup, config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.validated, 1);
    assert_eq!(setup.fake.requests("/validate").len(), validations + 1);
    assert!(setup.fake.token_requests("refresh_token").is_empty());
}

#[tokio::test]
async fn a_token_close_to_expiry_is_refreshed_and_the_rotated_refresh_token_stored() {
    let setup = OAuthSetup::new().await;
    setup.fake.set_access_expires_in(300); // 5 minutes left
    setup.connect().await;
    let (old_access, old_refresh) = setup.stored_tokens().await;
    setup.fake.set_access_expires_in(14_400);

    let report = manager(&setup, config(HOUR, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 1);
    let refreshes = setup.fake.token_requests("refresh_token");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(refreshes[0].params["refresh_token"], old_refresh);
    let (new_access, new_refresh) = setup.stored_tokens().await;
    assert_ne!(new_access, old_access);
    assert_ne!(new_refresh, old_refresh, "rotated refresh token stored");
    assert!(setup.fake.refresh_token_valid(&new_refresh));
    assert!(!setup.fake.refresh_token_valid(&old_refresh));

    // Now far from expiry: the next cycle leaves it alone.
    let report = manager(&setup, config(HOUR, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 0);
    assert_eq!(setup.fake.token_requests("refresh_token").len(), 1);
}

#[tokio::test]
async fn a_401_from_validate_triggers_a_refresh() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    let (old_access, _) = setup.stored_tokens().await;
    setup.fake.expire_access_token(&old_access);
    // Twitch's documented refresh answer has no expires_in: the manager must cope.
    setup.fake.set_refresh_sends_expiry(false);

    let report = manager(&setup, config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let (new_access, _) = setup.stored_tokens().await;
    assert_ne!(new_access, old_access);
    assert!(setup.fake.access_token_valid(&new_access));
    assert!(!setup.needs_reauth().await);

    // The new token validates on the next check.
    let report = manager(&setup, config(Duration::ZERO, Duration::from_secs(600)))
        .run_cycle()
        .await
        .expect("cycle");
    assert_eq!(report.validated, 1, "{report:?}");
}

#[tokio::test]
async fn a_refused_refresh_flags_needs_reauth_and_queues_exactly_one_notice() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    setup.fake.revoke_user(&streamer().id);
    let manager = manager(&setup, config(Duration::ZERO, Duration::from_secs(600)));

    let first = manager.run_cycle().await.expect("cycle");
    assert_eq!(first.newly_needs_reauth, 1, "{first:?}");
    for _ in 0..3 {
        let later = manager.run_cycle().await.expect("cycle");
        assert_eq!(later.newly_needs_reauth, 0);
        assert_eq!(later.untouched, 1);
    }
    assert!(setup.needs_reauth().await);
    let notices = notices(&setup).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["channel_login"], "twitchdev");
    let message = notices[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("reconnect") && message.contains("/auth/twitch"),
        "{message}"
    );
    assert_eq!(
        setup.fake.token_requests("refresh_token").len(),
        1,
        "a refused token is not retried"
    );

    // Reconnecting clears the flag; a later lapse notices again (once).
    setup.connect().await;
    assert!(!setup.needs_reauth().await);
    assert_eq!(manager.run_cycle().await.expect("cycle").validated, 1);
}

#[tokio::test]
async fn tokens_under_another_key_give_a_clear_error_and_one_notice() {
    let setup = OAuthSetup::new().await;
    setup.connect().await;
    let other_key = TokenCipher::new(&key(8));
    let manager = manager_with(&setup, config(Duration::ZERO, Duration::from_secs(600)), other_key);
    assert_eq!(manager.run_cycle().await.expect("cycle").newly_needs_reauth, 1);
    assert_eq!(manager.run_cycle().await.expect("cycle").newly_needs_reauth, 0);
    let notices = notices(&setup).await;
    assert_eq!(notices.len(), 1);
    let message = notices[0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("another TOKEN_KEY"), "{message}");
    assert!(
        setup.fake.requests("/validate").len() == 1 && setup.fake.token_requests("refresh_token").is_empty(),
        "garbage is never sent to Twitch"
    );
}

#[tokio::test]
async fn the_running_manager_refreshes_and_stops_on_shutdown() {
    let setup = OAuthSetup::new().await;
    setup.fake.set_access_expires_in(60);
    setup.connect().await;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(manager(&setup, config(HOUR, Duration::from_secs(600))).run(shutdown.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while setup.fake.token_requests("refresh_token").is_empty() {
        assert!(Instant::now() < deadline, "the manager never refreshed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("stops on shutdown")
        .expect("no panic");
}
