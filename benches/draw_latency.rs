//! Draw latency: time from a tick to the committed raffle row and outbox
//! row, for a channel with 10,000, 100,000 and 1,000,000 active viewers.
//!
//! Needs PostgreSQL: `BENCH_DATABASE_URL` (an admin URL), else the local
//! server at postgresql://postgres@127.0.0.1:5432/postgres. A throwaway
//! database is created and dropped. Run with `cargo bench --bench draw_latency`
//! (or `scripts/bench.sh`). Prints, per size: the round's p50 / p95 / max,
//! and, measured in the same run, the candidate query alone and the pure
//! draw alone, so the share of each part is visible.

// A benchmark program: a failed step should stop it with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BenchDatabase, connect, ms, percentile};

use kinoyubot::channel::ChannelLogin;
use kinoyubot::raffle::draw::{Candidate, CandidateSnapshot, DrawItem, Seed, draw};
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::slot::TimerSlot;
use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
use kinoyubot::store::EligibilityRules;
use kinoyubot::twitch::live_status::UnknownLiveStatus;

const SIZES: &[i64] = &[10_000, 100_000, 1_000_000];

#[tokio::main]
async fn main() {
    let database = BenchDatabase::create("bench").await;
    let store = database.store.clone();
    let table = ItemsFile::parse(
        "bench-items.toml",
        "[[items]]\nname = \"Key\"\nprobability = 0.5\n\n[[items]]\nname = \"Mug\"\nprobability = 0.3\n",
    )
    .expect("items");
    let client = connect(&database.url).await;
    store.sync_items(&table).await.expect("items");
    let rules = RaffleRules {
        raffle_interval: Duration::from_secs(60),
        active_window: Duration::from_secs(600),
        winner_cooldown: Duration::from_secs(600),
        subscriber_luck: 2,
        ignore_users: vec![],
        only_when_live: false,
        ..RaffleRules::default()
    };
    let engine = RaffleEngine::new(store.clone(), rules.clone(), Arc::new(UnknownLiveStatus));

    println!("draw latency: tick -> committed raffle + outbox row (RAFFLE rounds on this machine)");
    println!(
        "{:>10} {:>7} {:>9} {:>9} {:>9} {:>12} {:>10}",
        "viewers", "rounds", "p50 ms", "p95 ms", "max ms", "query ms", "draw ms"
    );
    for &size in SIZES {
        let login = ChannelLogin::parse(&format!("bench{size}")).expect("login");
        let channel_id: i64 = client
            .query_one(
                "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, $1, $1) RETURNING id",
                &[&login.as_str()],
            )
            .await
            .expect("channel")
            .get(0);
        client
            .execute(
                "INSERT INTO presence (channel_id, user_id, login, display_name, is_subscriber,
                                       first_seen, last_seen, message_count)
                 SELECT $1, (100000000 + g)::text, 'viewer' || g, 'Viewer' || g, g % 10 = 0,
                        now(), now() - (g % 300) * interval '1 second', 1
                 FROM generate_series(1, $2::bigint) AS g",
                &[&channel_id, &size],
            )
            .await
            .expect("presence");
        client.batch_execute("ANALYZE presence").await.expect("analyze");
        let rounds = if size >= 1_000_000 { 5 } else { 20 };
        // One warm-up round, not counted.
        let _ = engine
            .run_round(&login, Trigger::Timer, Some(TimerSlot::new(0, Duration::from_secs(60))))
            .await
            .expect("warm-up");
        let mut times = Vec::new();
        for slot in 1..=rounds {
            let tick = Instant::now();
            let result = engine
                .run_round(
                    &login,
                    Trigger::Timer,
                    Some(TimerSlot::new(slot, Duration::from_secs(60))),
                )
                .await
                .expect("round");
            times.push(tick.elapsed());
            assert!(matches!(result, RoundResult::Recorded(_)));
        }
        times.sort();
        // The parts, measured in the same run.
        let eligibility = EligibilityRules {
            active_window: rules.active_window,
            winner_cooldown: rules.winner_cooldown,
            excluded_logins: vec![login.as_str().to_owned()],
            include_chatters: false,
            with_account_ages: false,
            with_follows: false,
        };
        // The candidate query as the round runs it, in a round that is
        // then dropped (rolled back).
        let mut connection = store.connection().await.expect("connection");
        let round = connection.begin_round().await.expect("begin");
        let query_start = Instant::now();
        let viewers = round
            .eligible_viewers(channel_id, Some(login.as_str()), &eligibility)
            .await
            .expect("query");
        let query_time = query_start.elapsed();
        drop(round);
        let snapshot = CandidateSnapshot::new(
            viewers
                .viewers
                .into_iter()
                .map(|v| Candidate {
                    weight: if v.is_subscriber { 2 } else { 1 },
                    user_id: v.user_id,
                })
                .collect(),
        )
        .expect("snapshot");
        let draw_items = vec![DrawItem {
            name: "Key".into(),
            probability: 1.0,
            remaining_stock: None,
        }];
        let draw_start = Instant::now();
        let _ = draw(&Seed::new([7; 32]), &snapshot, &draw_items);
        let _ = snapshot.digest_hex();
        let _ = snapshot.to_json();
        let draw_time = draw_start.elapsed();
        println!(
            "{:>10} {:>7} {:>9} {:>9} {:>9} {:>12} {:>10}",
            size,
            rounds,
            ms(percentile(&times, 0.5), 1),
            ms(percentile(&times, 0.95), 1),
            ms(*times.last().expect("rounds ran"), 1),
            ms(query_time, 1),
            ms(draw_time, 1)
        );
        println!("RESULT draw_p50_ms_{size}={}", ms(percentile(&times, 0.5), 1));
    }
    drop(client);
    database.drop_now().await;
}
