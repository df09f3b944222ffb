//! Tick-to-webhook latency: from the start of a raffle round to the moment a
//! local webhook receiver gets the announcement, through the real engine,
//! outbox and delivery worker. Prints p50 / p99 over 200 won rounds and, in
//! the same run, the time until each round returned (after its commit), so the share of
//! delivery is visible.
//!
//! Needs PostgreSQL like `draw_latency` (`BENCH_DATABASE_URL` or the local
//! server). Run with `cargo bench --bench delivery_latency`.

// A benchmark program: a failed step should stop it with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BenchDatabase, connect, ms, percentile};

use kinoyubot::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
use kinoyubot::announce::discord::{WebhookClient, WebhookUrl};
use kinoyubot::channel::ChannelLogin;
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
use kinoyubot::twitch::live_status::UnknownLiveStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warp::Filter;

const ROUNDS: usize = 200;

#[tokio::main]
async fn main() {
    let database = BenchDatabase::create("bench_delivery").await;
    let store = database.store.clone();
    let client = connect(&database.url).await;
    let table = ItemsFile::parse("bench.toml", "[[items]]\nname = \"Key\"\nprobability = 1.0\n").expect("items");
    store.sync_items(&table).await.expect("items");
    client
        .batch_execute(
            "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ('bench', 'Bench', '1');
             INSERT INTO presence (channel_id, user_id, login, display_name, first_seen, last_seen, message_count)
             SELECT 1, (1000 + g)::text, 'viewer' || g, 'Viewer' || g, now(), now(), 1
             FROM generate_series(1, 1000) AS g;",
        )
        .await
        .expect("presence");

    // The webhook receiver: reports the arrival time of each message.
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<Instant>();
    let arrived_tx = Arc::new(Mutex::new(arrived_tx));
    let receiver = warp::post()
        .and(warp::path!("api" / "webhooks" / "1" / "benchtoken"))
        .and(warp::body::bytes())
        .map(move |_body: warp::hyper::body::Bytes| {
            let _ = arrived_tx.lock().expect("lock").send(Instant::now());
            warp::reply::json(&serde_json::json!({"id": "1"}))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(warp::serve(receiver).incoming(listener).run());
    let webhook = url::Url::parse(&format!("http://127.0.0.1:{port}/api/webhooks/1/benchtoken")).expect("url");

    let worker = DeliveryWorker::new(
        store.clone(),
        Destination::Webhook(WebhookClient::new(&WebhookUrl::new(&webhook)).expect("client")),
        DeliveryConfig::default(),
    );
    let rules = RaffleRules {
        only_when_live: false,
        ..RaffleRules::default()
    };
    let engine =
        RaffleEngine::new(store.clone(), rules, Arc::new(UnknownLiveStatus)).with_delivery_notifier(worker.notifier());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let login = ChannelLogin::parse("bench").expect("login");

    let mut to_commit = Vec::with_capacity(ROUNDS);
    let mut to_webhook = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let tick = Instant::now();
        let result = engine.run_round(&login, Trigger::Manual, None).await.expect("round");
        to_commit.push(tick.elapsed());
        assert!(matches!(result, RoundResult::Recorded(_)));
        let at = tokio::time::timeout(Duration::from_secs(30), arrived.recv())
            .await
            .expect("announcement delivered")
            .expect("receiver alive");
        to_webhook.push(at.duration_since(tick));
    }
    to_commit.sort();
    to_webhook.sort();
    println!("tick-to-webhook latency over {ROUNDS} won rounds (1,000 active viewers)");
    println!("{:>22} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    for (label, times) in [("tick -> round returned", &to_commit), ("tick -> webhook", &to_webhook)] {
        println!(
            "{:>22} {:>9} {:>9} {:>9}",
            label,
            ms(percentile(times, 0.5), 2),
            ms(percentile(times, 0.99), 2),
            ms(*times.last().expect("rounds ran"), 2)
        );
    }
    println!(
        "webhook receipt minus round return at p50: {} ms ({:.2}x); the worker is woken on commit and posts while the round is still returning",
        ms(
            percentile(&to_webhook, 0.5).saturating_sub(percentile(&to_commit, 0.5)),
            2
        ),
        percentile(&to_webhook, 0.5).as_secs_f64() / percentile(&to_commit, 0.5).as_secs_f64()
    );
    println!("RESULT webhook_p50_ms={}", ms(percentile(&to_webhook, 0.5), 2));
    println!("RESULT webhook_p99_ms={}", ms(percentile(&to_webhook, 0.99), 2));
    shutdown.cancel();
    let _ = running.await;
    drop(client);
    database.drop_now().await;
}
