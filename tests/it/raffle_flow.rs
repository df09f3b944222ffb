//! Raffles across modules: Helix live status deciding timer rounds, and a
//! won raffle travelling through the outbox to the Discord stand-in.

use std::sync::Arc;
use std::time::Duration;

use crate::fake_discord::FakeDiscord;
use crate::fake_twitch::streamer;
use crate::helpers::{TestApp, TestDatabase, Viewer, driven_clock, fire_timers, wait_for, wait_until};

/// An item whose name would format and ping if Discord were given it raw.
const PINGING_ITEM: &str = "[[items]]\nname = \"**Steam** key @everyone\"\nprobability = 1.0\n";

/// Waits for the timer raffle after `after`; returns its id and outcome.
async fn next_timer_raffle(app: &TestApp, after: i64) -> (i64, String) {
    wait_for(&format!("a timer raffle after #{after}"), || async {
        app.get_raffles_of("twitchdev")
            .await
            .into_iter()
            .find(|r| r["trigger"] == "timer" && r["id"].as_i64() > Some(after))
            .and_then(|r| Some((r["id"].as_i64()?, r["outcome"].as_str()?.to_owned())))
    })
    .await
}

#[tokio::test]
async fn the_stream_going_live_and_offline_changes_timer_outcomes() {
    let clock = driven_clock();
    let mut app = TestApp::builder()
        .twitch(streamer())
        .channels(&["twitchdev"])
        .items(PINGING_ITEM)
        .setting("RAFFLE_INTERVAL", "1s")
        .clock(&clock)
        .start()
        .await;
    app.chat("twitchdev", "viewer900", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;

    // One slot per state of the stream: each slot's round sees it.
    let mut last = 0;
    for (live, outcome) in [(true, "won"), (false, "skipped_offline"), (true, "won")] {
        app.twitch().set_live(&streamer().id, live);
        fire_timers(&clock, 1).await;
        let (id, recorded) = next_timer_raffle(&app, last).await;
        assert_eq!(recorded, outcome, "live = {live}");
        last = id;
    }
    app.stop().await;
}

/// The engine and the delivery worker on their own, with an hour-long poll:
/// the engine's wake-up must be what delivers the announcement.
#[tokio::test]
async fn a_won_raffle_reaches_discord_once_with_nothing_that_pings() {
    use kinoyubot::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
    use kinoyubot::announce::discord::{WebhookClient, WebhookUrl};
    use kinoyubot::channel::ChannelLogin;
    use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
    use kinoyubot::twitch::live_status::UnknownLiveStatus;
    use tokio_util::sync::CancellationToken;

    let database = TestDatabase::migrated().await;
    let channel_id = database.insert_channel("streamer", Some("1")).await;
    database
        .add_viewer(
            channel_id,
            &Viewer::new("900", "viewer900").named("@everyone <@&123> Winner"),
        )
        .await;
    database
        .client()
        .await
        .batch_execute("INSERT INTO items (name, probability) VALUES ('**Steam** key @everyone', 1.0)")
        .await
        .expect("items");
    let store = database.store();
    let discord = FakeDiscord::start().await;
    let webhook = WebhookClient::new(&WebhookUrl::new(&discord.webhook_url())).expect("client");
    let worker = DeliveryWorker::new(
        store.clone(),
        Destination::Webhook(webhook),
        DeliveryConfig {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            // Long poll: the raffle engine's wake-up must be what delivers it.
            poll_interval: Duration::from_secs(3600),
            ..DeliveryConfig::default()
        },
    );
    let engine = RaffleEngine::new(store, RaffleRules::default(), Arc::new(UnknownLiveStatus))
        .with_delivery_notifier(worker.notifier());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    // Let the worker finish its first (empty) poll before the raffle.
    tokio::task::yield_now().await;

    let raffle_id = match engine
        .run_round(&ChannelLogin::parse("streamer").expect("login"), Trigger::Manual, None)
        .await
        .expect("round")
    {
        RoundResult::Recorded(record) => record.id,
        other => panic!("{other:?}"),
    };
    let received = discord.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].raffle_id, Some(raffle_id));
    let body = received[0].body.to_string();
    assert!(!body.contains("@everyone"), "{body}");
    assert!(!body.contains("<@&"), "{body}");
    assert_eq!(received[0].body["allowed_mentions"]["parse"], serde_json::json!([]));
    assert!(discord.violations().is_empty(), "{:?}", discord.violations());

    // The dashboard's view of it: sent.
    let sent = format!("SELECT count(*) FROM outbox WHERE raffle_id = {raffle_id} AND status = 'sent'");
    wait_until("the delivery to be recorded as sent", || async {
        database.count(&sent).await == 1
    })
    .await;
    shutdown.cancel();
    running.await.expect("worker stops");
    assert_eq!(discord.received().len(), 1, "sent exactly once");
}
