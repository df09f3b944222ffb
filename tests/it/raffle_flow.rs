//! Raffles across modules: Helix live status deciding timer rounds, and a
//! won raffle travelling through the outbox to the Discord stand-in.

use std::sync::Arc;
use std::time::Duration;

use kinoyubot::announce::DeliveryStatus;
use kinoyubot::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
use kinoyubot::announce::discord::WebhookClient;
use kinoyubot::channel::ChannelLogin;
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::{Outcome, RaffleEngine, RaffleRules, RoundResult, Trigger};
use kinoyubot::secret::Secret;
use kinoyubot::store::Store;
use kinoyubot::twitch::helix::HelixClient;
use tokio_util::sync::CancellationToken;

use crate::fake_discord::FakeDiscord;
use crate::helpers::TestDatabase;
use crate::oauth::OAuthSetup;

fn login(s: &str) -> ChannelLogin {
    ChannelLogin::parse(s).expect("valid login")
}

async fn prepare(
    client: &tokio_postgres::Client,
    store: &Store,
    channel: &str,
    broadcaster_id: &str,
    viewer_name: &str,
) {
    let channel_id: i64 = client
        .query_one(
            "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, $1, $2) RETURNING id",
            &[&channel, &broadcaster_id],
        )
        .await
        .expect("channel")
        .get(0);
    client
        .execute(
            "INSERT INTO presence (channel_id, user_id, login, display_name, first_seen, last_seen, message_count)
             VALUES ($1, '900', 'viewer900', $2, now(), now(), 3)",
            &[&channel_id, &viewer_name],
        )
        .await
        .expect("viewer");
    let table = ItemsFile::parse(
        "t.toml",
        "[[items]]\nname = \"**Steam** key @everyone\"\nprobability = 1.0\n",
    )
    .expect("items");
    store.sync_items(&table).await.expect("items");
}

fn outcome(result: RoundResult) -> Outcome {
    match result {
        RoundResult::Recorded(record) => record.outcome,
        other => panic!("expected a recorded raffle, got {other:?}"),
    }
}

#[tokio::test]
async fn the_stream_going_live_and_offline_changes_timer_outcomes() {
    let setup = OAuthSetup::new().await;
    let client = setup.database.client().await;
    prepare(&client, &setup.store, "twitchdev", "141981764", "Viewer").await;
    let helix = Arc::new(HelixClient::new(setup.auth.clone(), setup.fake.api_url()));
    let engine = RaffleEngine::new(setup.store.clone(), RaffleRules::default(), helix);
    let channel = login("twitchdev");

    setup.fake.set_live("141981764", true);
    let live = engine
        .run_round(&channel, Trigger::Timer, Some(1))
        .await
        .expect("round");
    assert_eq!(outcome(live), Outcome::Won);

    setup.fake.set_live("141981764", false);
    let offline = engine
        .run_round(&channel, Trigger::Timer, Some(2))
        .await
        .expect("round");
    assert_eq!(outcome(offline), Outcome::SkippedOffline);

    setup.fake.set_live("141981764", true);
    let again = engine
        .run_round(&channel, Trigger::Timer, Some(3))
        .await
        .expect("round");
    assert_eq!(outcome(again), Outcome::Won);
}

#[tokio::test]
async fn a_won_raffle_reaches_discord_once_with_nothing_that_pings() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    prepare(&client, &store, "streamer", "1", "@everyone <@&123> Winner").await;
    let discord = FakeDiscord::start().await;
    let webhook = WebhookClient::new(&Secret::new(discord.webhook_url())).expect("client");
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
    let engine = RaffleEngine::new(
        store.clone(),
        RaffleRules::default(),
        Arc::new(kinoyubot::twitch::live_status::UnknownLiveStatus),
    )
    .with_delivery_notifier(worker.notifier());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    // Let the worker finish its first (empty) poll before the raffle.
    tokio::task::yield_now().await;

    let raffle_id = match engine
        .run_round(&login("streamer"), Trigger::Manual, None)
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let record = store.raffle(raffle_id).await.expect("query").expect("raffle");
        if record.delivery.map(|d| d.status) == Some(DeliveryStatus::Sent) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivery never recorded as sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.expect("worker stops");
    assert_eq!(discord.received().len(), 1, "sent exactly once");
}
