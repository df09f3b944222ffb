//! Tick-to-chat latency (issue 15): from the start of a raffle round to the
//! moment a local Send Chat Message stand-in accepts the win's chat line,
//! through the real engine, outbox and chat worker (token from the stored,
//! encrypted bot account), beside tick-to-webhook for the Discord post of
//! the same rounds. Prints p50 / p99 / max over 200 won rounds.
//!
//! Twitch's chat limit would space 200 lines over a minute; the worker's
//! window is raised here so the figure is the pipeline's latency, not the
//! rate limit's wait (the rate limit has its own integration test).
//!
//! Needs PostgreSQL like `delivery_latency` (`BENCH_DATABASE_URL` or the
//! local server). Run with `cargo bench --bench chat_latency`.

// A benchmark program: a failed step should stop it with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BenchDatabase, connect, ms, percentile};

use kinoyubot::announce::chat_delivery::{ChatDeliveryConfig, ChatDeliveryWorker, ChatVoice};
use kinoyubot::announce::delivery::{DeliveryConfig, DeliveryWorker, Destination};
use kinoyubot::announce::discord::{WebhookClient, WebhookUrl};
use kinoyubot::channel::{ChannelLanguages, ChannelLogin};
use kinoyubot::config::TokenKey;
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
use kinoyubot::twitch::auth::TwitchAuth;
use kinoyubot::twitch::auth::token_cipher::{BOT_TOKEN_OWNER, TokenCipher, TokenKind};
use kinoyubot::twitch::chat_sender::BotSpeaker;
use kinoyubot::twitch::live_status::UnknownLiveStatus;
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warp::Filter;

const ROUNDS: usize = 200;

#[tokio::main]
async fn main() {
    let database = BenchDatabase::create("bench_chat").await;
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
    // The bot account, its tokens encrypted as the Connect flow stores them.
    let cipher = TokenCipher::new(&TokenKey::new([9; 32]));
    let access = cipher
        .encrypt(
            BOT_TOKEN_OWNER,
            TokenKind::Access,
            &SecretString::from("benchaccesstoken"),
        )
        .expect("encrypt");
    let refresh = cipher
        .encrypt(
            BOT_TOKEN_OWNER,
            TokenKind::Refresh,
            &SecretString::from("benchrefreshtoken"),
        )
        .expect("encrypt");
    client
        .execute(
            "INSERT INTO bot_account (twitch_user_id, login, display_name, access_token, refresh_token, scopes,
                                      expires_at, last_validated_at)
             VALUES ('2', 'benchbot', 'BenchBot', $1, $2, '{user:write:chat}', now() + interval '4 hours', now())",
            &[&access, &refresh],
        )
        .await
        .expect("bot account");

    // One stand-in for both: Helix Send Chat Message and the webhook; each
    // reports the arrival time of what it accepts.
    let (chat_tx, mut chat_arrived) = mpsc::unbounded_channel::<Instant>();
    let (hook_tx, mut hook_arrived) = mpsc::unbounded_channel::<Instant>();
    let chat_tx = Arc::new(Mutex::new(chat_tx));
    let hook_tx = Arc::new(Mutex::new(hook_tx));
    let chat = warp::post()
        .and(warp::path!("helix" / "chat" / "messages"))
        .and(warp::body::json::<serde_json::Value>())
        .map(move |body: serde_json::Value| {
            assert_eq!(body["sender_id"], "2");
            let _ = chat_tx.lock().expect("lock").send(Instant::now());
            warp::reply::json(&serde_json::json!({
                "data": [{"message_id": "abc-123", "is_sent": true, "drop_reason": null}]
            }))
        });
    let hook = warp::post()
        .and(warp::path!("api" / "webhooks" / "1" / "benchtoken"))
        .and(warp::body::bytes())
        .map(move |_body: warp::hyper::body::Bytes| {
            let _ = hook_tx.lock().expect("lock").send(Instant::now());
            warp::reply::json(&serde_json::json!({"id": "1"}))
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(warp::serve(chat.or(hook)).incoming(listener).run());
    let base = format!("http://127.0.0.1:{port}");
    let webhook = url::Url::parse(&format!("{base}/api/webhooks/1/benchtoken")).expect("url");
    let auth = TwitchAuth::new(
        "benchclient",
        &SecretString::from("benchsecret"),
        &url::Url::parse(&base).expect("url"),
        &format!("{base}/auth/callback"),
    )
    .expect("auth");
    let speaker = BotSpeaker::new(
        store.clone(),
        auth,
        cipher,
        url::Url::parse(&format!("{base}/helix")).expect("url"),
    );

    let discord = DeliveryWorker::new(
        store.clone(),
        Destination::Webhook(WebhookClient::new(&WebhookUrl::new(&webhook)).expect("client")),
        DeliveryConfig::default(),
    );
    let chat = ChatDeliveryWorker::new(
        store.clone(),
        Arc::new(speaker),
        ChatVoice {
            public_url: "http://localhost:8080".into(),
            languages: ChannelLanguages::default(),
        },
        ChatDeliveryConfig {
            plain_limit: 100_000,
            moderator_limit: 100_000,
            ..ChatDeliveryConfig::default()
        },
    );
    let rules = RaffleRules {
        only_when_live: false,
        ..RaffleRules::default()
    };
    let engine = RaffleEngine::new(store.clone(), rules, Arc::new(UnknownLiveStatus))
        .with_delivery_notifier(discord.notifier())
        .with_chat_notifier(chat.notifier());
    let shutdown = CancellationToken::new();
    let discord_running = tokio::spawn(discord.run(shutdown.clone()));
    let chat_running = tokio::spawn(chat.run(shutdown.clone()));
    let login = ChannelLogin::parse("bench").expect("login");

    let mut to_commit = Vec::with_capacity(ROUNDS);
    let mut to_chat = Vec::with_capacity(ROUNDS);
    let mut to_webhook = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let tick = Instant::now();
        let result = engine.run_round(&login, Trigger::Manual, None).await.expect("round");
        to_commit.push(tick.elapsed());
        assert!(matches!(result, RoundResult::Recorded(_)));
        let chat_at = wait(&mut chat_arrived).await;
        let hook_at = wait(&mut hook_arrived).await;
        to_chat.push(chat_at.duration_since(tick));
        to_webhook.push(hook_at.duration_since(tick));
    }
    to_commit.sort();
    to_chat.sort();
    to_webhook.sort();
    println!("tick-to-chat and tick-to-webhook latency over {ROUNDS} won rounds (1,000 active viewers)");
    println!("{:>22} {:>9} {:>9} {:>9}", "", "p50 ms", "p99 ms", "max ms");
    for (label, times) in [
        ("tick -> round returned", &to_commit),
        ("tick -> chat line", &to_chat),
        ("tick -> webhook", &to_webhook),
    ] {
        println!(
            "{:>22} {:>9} {:>9} {:>9}",
            label,
            ms(percentile(times, 0.5), 2),
            ms(percentile(times, 0.99), 2),
            ms(*times.last().expect("rounds ran"), 2)
        );
    }
    println!(
        "chat vs webhook at p50: {:.2}x; at p99: {:.2}x (both workers are woken on commit)",
        percentile(&to_chat, 0.5).as_secs_f64() / percentile(&to_webhook, 0.5).as_secs_f64(),
        percentile(&to_chat, 0.99).as_secs_f64() / percentile(&to_webhook, 0.99).as_secs_f64()
    );
    println!("RESULT chat_p50_ms={}", ms(percentile(&to_chat, 0.5), 2));
    println!("RESULT chat_p99_ms={}", ms(percentile(&to_chat, 0.99), 2));
    println!("RESULT webhook_p50_ms={}", ms(percentile(&to_webhook, 0.5), 2));
    println!("RESULT webhook_p99_ms={}", ms(percentile(&to_webhook, 0.99), 2));
    shutdown.cancel();
    let _ = discord_running.await;
    let _ = chat_running.await;
    drop(client);
    database.drop_now().await;
}

/// The next arrival, within 30 s.
async fn wait(rx: &mut mpsc::UnboundedReceiver<Instant>) -> Instant {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("delivered")
        .expect("receiver alive")
}
