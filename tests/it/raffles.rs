//! Raffle rounds against a real database: eligibility, stock, slots,
//! verification, the admin API and the CLI.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kinoyubot::announce::DeliveryStatus;
use kinoyubot::channel::ChannelLogin;
use kinoyubot::channel::ChannelSet;
use kinoyubot::raffle::items::ItemsFile;
use kinoyubot::raffle::scheduler::RaffleScheduler;
use kinoyubot::raffle::{
    Outcome, RaffleEngine, RaffleRecord, RaffleRules, RoundResult, Trigger, Verification, Winner, verify,
};
use kinoyubot::secret::SecretString;
use kinoyubot::store::Store;
use kinoyubot::twitch::live_status::{LiveStatus, UnknownLiveStatus};
use kinoyubot::web::routes::{WebState, routes};
use rand::{Rng as _, SeedableRng as _};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestDatabase, kinoyubot};

fn login(s: &str) -> ChannelLogin {
    ChannelLogin::parse(s).expect("valid login")
}

fn rules() -> RaffleRules {
    RaffleRules {
        active_window: Duration::from_secs(600),
        winner_cooldown: Duration::ZERO,
        subscriber_luck: 1,
        ignore_users: vec![login("nightbot")],
        only_when_live: true,
    }
}

fn engine(store: &Store, rules: RaffleRules) -> RaffleEngine {
    RaffleEngine::new(store.clone(), rules, Arc::new(UnknownLiveStatus))
}

async fn set_items(store: &Store, toml: &str) {
    let table = ItemsFile::parse("test-items.toml", toml).expect("valid items");
    store.sync_items(&table).await.expect("sync items");
}

const ALWAYS_KEY: &str = "[[items]]\nname = \"Key\"\nprobability = 1.0\n";

/// Creates a channel whose broadcaster has user id `b-<login>`; returns its id.
async fn channel(client: &tokio_postgres::Client, name: &str) -> i64 {
    client
        .query_one(
            "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, $1, 'b-' || $1) RETURNING id",
            &[&name],
        )
        .await
        .expect("channel")
        .get(0)
}

#[derive(Clone, Debug)]
struct Viewer {
    user_id: String,
    login: String,
    subscriber: bool,
    broadcaster: bool,
    seen_secs_ago: i64,
    /// None: not banned; Some(None): banned for good; Some(Some(s)): timed out until now + s.
    banned: Option<Option<i64>>,
}

impl Viewer {
    fn new(user_id: &str, login: &str) -> Self {
        Self {
            user_id: user_id.into(),
            login: login.into(),
            subscriber: false,
            broadcaster: false,
            seen_secs_ago: 5,
            banned: None,
        }
    }
}

async fn add_viewer(client: &tokio_postgres::Client, channel_id: i64, v: &Viewer) {
    let banned_until: Option<String> = match v.banned {
        None => None,
        Some(None) => Some("infinity".into()),
        Some(Some(secs)) => Some(format!("{secs} seconds")),
    };
    client
        .execute(
            "INSERT INTO presence (channel_id, user_id, login, display_name, is_subscriber, is_broadcaster,
                                   first_seen, last_seen, message_count, banned_until)
             VALUES ($1, $2, $3, upper($3), $4, $5, now() - make_interval(secs => $6::float8),
                     now() - make_interval(secs => $6::float8), 1,
                     CASE WHEN $7::text IS NULL THEN NULL
                          WHEN $7 = 'infinity' THEN 'infinity'::timestamptz
                          ELSE now() + $7::interval END)",
            &[
                &channel_id,
                &v.user_id,
                &v.login,
                &v.subscriber,
                &v.broadcaster,
                &(v.seen_secs_ago as f64),
                &banned_until,
            ],
        )
        .await
        .expect("viewer");
}

async fn verification(store: &Store, record: &RaffleRecord) -> Verification {
    let (stored, audit) = store
        .raffle_audit(record.id)
        .await
        .expect("query")
        .expect("raffle exists");
    assert_eq!(&stored, record);
    verify(&stored, &audit)
}

fn recorded(result: RoundResult) -> RaffleRecord {
    match result {
        RoundResult::Recorded(record) => *record,
        other => panic!("expected a recorded raffle, got {other:?}"),
    }
}

#[tokio::test]
async fn a_won_round_is_recorded_with_snapshot_and_queued_once_and_verifies() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "streamer").await;
    add_viewer(&client, id, &Viewer::new("100", "viewer_a")).await;
    set_items(&store, "[[items]]\nname = \"Key\"\nprobability = 1.0\nstock = 2\n").await;

    let record = recorded(
        engine(&store, rules())
            .run_round(&login("streamer"), Trigger::Manual, None)
            .await
            .expect("round"),
    );
    assert_eq!(record.outcome, Outcome::Won);
    assert_eq!(record.item_name.as_deref(), Some("Key"));
    assert_eq!(
        record.winner,
        Some(Winner {
            user_id: "100".into(),
            login: "viewer_a".into(),
            display_name: "VIEWER_A".into(),
        })
    );
    assert_eq!(record.candidate_count, 1);
    let (_, audit) = store.raffle_audit(record.id).await.expect("query").expect("raffle");
    assert_eq!(audit.seed.len(), 32);
    assert!(audit.seed.iter().any(|b| *b != 0), "a real seed");
    assert_eq!(record.trigger, Trigger::Manual);
    assert_eq!(
        record.delivery.as_ref().map(|d| d.status),
        Some(DeliveryStatus::Pending)
    );
    assert_eq!(verification(&store, &record).await, Verification::Verified);

    let stock: Option<i32> = client
        .query_one("SELECT stock FROM items WHERE name = 'Key'", &[])
        .await
        .expect("item")
        .get(0);
    assert_eq!(stock, Some(1), "stock decremented in the same transaction");
    let queued: i64 = client
        .query_one("SELECT count(*) FROM outbox WHERE raffle_id = $1", &[&record.id])
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(queued, 1);
}

#[tokio::test]
async fn nobody_eligible_is_no_candidates_and_not_announced() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    channel(&client, "quiet").await;
    set_items(&store, ALWAYS_KEY).await;
    let record = recorded(
        engine(&store, rules())
            .run_round(&login("quiet"), Trigger::Manual, None)
            .await
            .expect("round"),
    );
    assert_eq!(record.outcome, Outcome::NoCandidates);
    assert_eq!(record.winner, None);
    assert_eq!(record.delivery, None, "only winners are announced");
    assert_eq!(verification(&store, &record).await, Verification::Verified);
}

#[tokio::test]
async fn unknown_channel_is_an_error_and_records_nothing() {
    let (database, store) = TestDatabase::migrated().await;
    let result = engine(&store, rules())
        .run_round(&login("nobody_here"), Trigger::Manual, None)
        .await;
    assert!(matches!(result, Err(kinoyubot::raffle::RaffleError::UnknownChannel(_))));
    let count: i64 = database
        .client()
        .await
        .query_one("SELECT count(*) FROM raffles", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn with_stock_one_two_concurrent_draws_award_exactly_once() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "race").await;
    for n in 0..5 {
        add_viewer(&client, id, &Viewer::new(&format!("u{n}"), &format!("viewer{n}"))).await;
    }
    set_items(&store, "[[items]]\nname = \"Last key\"\nprobability = 1.0\nstock = 1\n").await;
    // Separate pools: like two instances.
    let first = engine(&database.store(), rules());
    let second = engine(&database.store(), rules());
    let channel_login = login("race");
    let (a, b) = tokio::join!(
        first.run_round(&channel_login, Trigger::Manual, None),
        second.run_round(&channel_login, Trigger::Manual, None)
    );
    let mut outcomes = vec![
        recorded(a.expect("a")).outcome.as_str(),
        recorded(b.expect("b")).outcome.as_str(),
    ];
    outcomes.sort();
    assert_eq!(outcomes, ["no_prize", "won"]);
    let stock: Option<i32> = client
        .query_one("SELECT stock FROM items WHERE name = 'Last key'", &[])
        .await
        .expect("item")
        .get(0);
    assert_eq!(stock, Some(0));
}

#[tokio::test]
async fn two_instances_never_draw_a_slot_twice() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "shared").await;
    add_viewer(&client, id, &Viewer::new("1", "someone")).await;
    set_items(&store, ALWAYS_KEY).await;
    let instances = [engine(&database.store(), rules()), engine(&database.store(), rules())];
    let channel_login = login("shared");
    let mut drawn = 0;
    let mut skipped = 0;
    for slot in 1_000..1_040_i64 {
        let (a, b) = tokio::join!(
            instances[0].run_round(&channel_login, Trigger::Timer, Some(slot)),
            instances[1].run_round(&channel_login, Trigger::Timer, Some(slot))
        );
        for result in [a.expect("instance a"), b.expect("instance b")] {
            match result {
                RoundResult::Recorded(_) => drawn += 1,
                RoundResult::AlreadyDrawn => skipped += 1,
                RoundResult::Paused => panic!("not paused"),
            }
        }
    }
    assert_eq!((drawn, skipped), (40, 40));
    let duplicates: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT slot FROM raffles GROUP BY slot HAVING count(*) > 1) d",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(duplicates, 0);
    let announced: i64 = client
        .query_one("SELECT count(*) FROM outbox", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(announced, 40, "one announcement per drawn slot");
}

#[tokio::test]
async fn two_schedulers_on_one_database_draw_each_slot_once() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "timed").await;
    add_viewer(&client, id, &Viewer::new("1", "someone")).await;
    set_items(&store, ALWAYS_KEY).await;
    let channels = ChannelSet::new([login("timed")]);
    let shutdown = CancellationToken::new();
    let interval = Duration::from_secs(1);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(
                RaffleScheduler::new(engine(&database.store(), rules()), channels.clone(), interval)
                    .run(shutdown.clone()),
            )
        })
        .collect();
    // Wait (polling with a deadline) for four timer slots.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let count: i64 = client
            .query_one("SELECT count(*) FROM raffles WHERE trigger = 'timer'", &[])
            .await
            .expect("count")
            .get(0);
        if count >= 4 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "timers did not fire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    for run in runs {
        tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("scheduler stops")
            .expect("no panic");
    }
    let rows = client
        .query("SELECT slot FROM raffles WHERE trigger = 'timer' ORDER BY slot", &[])
        .await
        .expect("slots");
    let slots: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    let mut unique = slots.clone();
    unique.dedup();
    assert_eq!(slots, unique, "a slot was drawn twice");
    assert!(
        slots.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive slots, none skipped: {slots:?}"
    );
    let now_slot = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(
        slots.iter().all(|s| (now_slot - 20..=now_slot).contains(s)),
        "slots are unix seconds: {slots:?}"
    );
}

#[tokio::test]
async fn paused_channels_skip_timer_rounds_but_not_manual_draws() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    channel(&client, "paused").await;
    client
        .execute("UPDATE channels SET paused = true", &[])
        .await
        .expect("pause");
    set_items(&store, ALWAYS_KEY).await;
    let engine = engine(&store, rules());
    let timer = engine
        .run_round(&login("paused"), Trigger::Timer, Some(1))
        .await
        .expect("round");
    assert_eq!(timer, RoundResult::Paused);
    let manual = engine
        .run_round(&login("paused"), Trigger::Manual, None)
        .await
        .expect("round");
    assert_eq!(recorded(manual).trigger, Trigger::Manual);
}

#[derive(Debug)]
struct Offline;
impl LiveStatus for Offline {
    fn is_live<'a>(&'a self, _: Option<&'a str>) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async { Some(false) })
    }
}

#[tokio::test]
async fn offline_timer_rounds_are_recorded_as_skipped_offline() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "offline").await;
    add_viewer(&client, id, &Viewer::new("1", "someone")).await;
    set_items(&store, ALWAYS_KEY).await;
    let engine = RaffleEngine::new(store.clone(), rules(), Arc::new(Offline));
    let record = recorded(
        engine
            .run_round(&login("offline"), Trigger::Timer, Some(7))
            .await
            .expect("round"),
    );
    assert_eq!(record.outcome, Outcome::SkippedOffline);
    assert_eq!(record.winner, None);
    assert_eq!(verification(&store, &record).await, Verification::SkippedOffline);
    // An explicit draw still draws while offline.
    let manual = recorded(
        engine
            .run_round(&login("offline"), Trigger::Manual, None)
            .await
            .expect("round"),
    );
    assert_eq!(manual.outcome, Outcome::Won);
}

/// Eligibility in Rust, to compare with the SQL (SPEC §5 step 2).
fn eligible(v: &Viewer, window_secs: i64, ignored: &[&str], cooled: &[String]) -> bool {
    v.seen_secs_ago < window_secs
        && match v.banned {
            None => true,
            Some(None) => false,
            Some(Some(secs)) => secs <= 0,
        }
        && !v.broadcaster
        && v.user_id != "b-prop"
        && !ignored.contains(&v.login.as_str())
        && v.login != "prop"
        && !v.login.starts_with("justinfan")
        && !cooled.contains(&v.user_id)
}

#[tokio::test]
async fn winners_are_always_eligible_over_random_presence_sets() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "prop").await;
    set_items(&store, ALWAYS_KEY).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261125);
    let mut rules = rules();
    rules.winner_cooldown = Duration::from_secs(3600);
    rules.subscriber_luck = 3;
    let engine = engine(&store, rules);
    for case in 0..25 {
        client
            .batch_execute("DELETE FROM presence; DELETE FROM outbox; DELETE FROM raffles;")
            .await
            .expect("reset");
        let mut viewers = Vec::new();
        for n in 0..rng.random_range(0..12) {
            let mut v = Viewer::new(&format!("{case}-{n}"), &format!("viewer_{case}_{n}"));
            v.seen_secs_ago = if rng.random_bool(0.7) {
                rng.random_range(0..590)
            } else {
                rng.random_range(610..5000)
            };
            v.subscriber = rng.random_bool(0.3);
            v.broadcaster = rng.random_bool(0.05);
            v.banned = match rng.random_range(0..10) {
                0 => Some(None),
                1 => Some(Some(rng.random_range(60..600))),
                2 => Some(Some(-rng.random_range(60..600))),
                _ => None,
            };
            if rng.random_bool(0.05) {
                v.login = "nightbot".into();
            }
            if rng.random_bool(0.05) {
                v.login = format!("justinfan{n}");
            }
            if rng.random_bool(0.03) {
                v.user_id = "b-prop".into();
                v.login = format!("broadcaster_alias_{n}");
            }
            if viewers
                .iter()
                .any(|o: &Viewer| o.user_id == v.user_id || o.login == v.login)
            {
                continue;
            }
            add_viewer(&client, id, &v).await;
            viewers.push(v);
        }
        // A previous winner within the cooldown.
        let cooled: Vec<String> = viewers
            .iter()
            .filter(|_| rng.random_bool(0.2))
            .map(|v| v.user_id.clone())
            .take(1)
            .collect();
        for user_id in &cooled {
            client
                .execute(
                    "INSERT INTO raffles (channel_id, trigger, outcome, item_name, winner_user_id, winner_login,
                                          winner_display_name, seed, candidates, candidates_digest, candidate_count)
                     VALUES ($1, 'manual', 'won', 'Key', $2, 'x', 'x', decode(repeat('00', 32), 'hex'), '[]', 'x', 0)",
                    &[&id, user_id],
                )
                .await
                .expect("past winner");
        }
        let expected: Vec<&Viewer> = viewers
            .iter()
            .filter(|v| eligible(v, 600, &["nightbot"], &cooled))
            .collect();
        let record = recorded(
            engine
                .run_round(&login("prop"), Trigger::Manual, None)
                .await
                .expect("round"),
        );
        let (_, audit) = store.raffle_audit(record.id).await.expect("query").expect("raffle");
        let snapshot: Vec<serde_json::Value> = serde_json::from_str(&audit.candidates_json).expect("json");
        let mut in_snapshot: Vec<(String, u64)> = snapshot
            .iter()
            .map(|c| (c[0].as_str().expect("id").to_owned(), c[1].as_u64().expect("weight")))
            .collect();
        in_snapshot.sort();
        let mut wanted: Vec<(String, u64)> = expected
            .iter()
            .map(|v| (v.user_id.clone(), if v.subscriber { 3 } else { 1 }))
            .collect();
        wanted.sort();
        assert_eq!(
            in_snapshot, wanted,
            "case {case}: snapshot differs from the eligible set"
        );
        match &record.winner {
            Some(winner) => assert!(
                expected.iter().any(|v| v.user_id == winner.user_id),
                "case {case}: ineligible winner"
            ),
            None => assert!(expected.is_empty(), "case {case}: eligible viewers but no winner"),
        }
        assert_eq!(verification(&store, &record).await, Verification::Verified);
    }
}

async fn one_won_raffle(database: &TestDatabase, store: &Store) -> i64 {
    let client = database.client().await;
    let id = channel(&client, "audited").await;
    for n in 0..6 {
        add_viewer(&client, id, &Viewer::new(&format!("{n}"), &format!("viewer{n}"))).await;
    }
    set_items(store, ALWAYS_KEY).await;
    recorded(
        engine(store, rules())
            .run_round(&login("audited"), Trigger::Manual, None)
            .await
            .expect("round"),
    )
    .id
}

fn run_verify(database: &TestDatabase, id: i64) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .args(["verify", &id.to_string()])
        .env("DATABASE_URL", &database.url)
        .output()
        .expect("verify runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_command_detects_a_tampered_snapshot_or_seed() {
    let (database, store) = TestDatabase::migrated().await;
    let id = one_won_raffle(&database, &store).await;
    let client = database.client().await;

    let (code, out) = run_verify(&database, id);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("verified\n"), "{out}");

    // Give another viewer more tickets: the digest no longer matches.
    client
        .execute(
            "UPDATE raffles SET candidates = jsonb_set(candidates::jsonb, '{0,1}', '50')::text WHERE id = $1",
            &[&id],
        )
        .await
        .expect("tamper");
    let (code, out) = run_verify(&database, id);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("candidates digest"), "{out}");

    // Restore the snapshot, change the seed: the replay differs.
    client
        .execute(
            "UPDATE raffles SET candidates = jsonb_set(candidates::jsonb, '{0,1}', '1')::text WHERE id = $1",
            &[&id],
        )
        .await
        .expect("restore");
    assert_eq!(run_verify(&database, id).0, Some(0));
    let mut differs = false;
    for byte in 1..=255u8 {
        client
            .execute(
                "UPDATE raffles SET seed = decode(repeat(lpad(to_hex($2::int), 2, '0'), 32), 'hex') WHERE id = $1",
                &[&id, &i32::from(byte)],
            )
            .await
            .expect("tamper seed");
        let (code, out) = run_verify(&database, id);
        if code == Some(1) {
            assert!(out.contains("winner: recorded"), "{out}");
            differs = true;
            break;
        }
    }
    assert!(differs, "no tampered seed changed the winner");

    let (code, _) = run_verify(&database, id + 1000);
    assert_eq!(code, Some(2), "unknown raffle id is bad input");
}

#[tokio::test(flavor = "multi_thread")]
async fn draw_command_prints_the_raffle_and_refuses_unknown_channels() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "cli_chan").await;
    add_viewer(&client, id, &Viewer::new("42", "lucky")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("items.toml"), ALWAYS_KEY).expect("items");
    let output = kinoyubot(dir.path())
        .args(["draw", "--channel", "cli_chan"])
        .env("DATABASE_URL", &database.url)
        .output()
        .expect("draw runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("LUCKY won Key"), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.lines().nth(1).expect("json line")).expect("raffle JSON");
    assert_eq!(json["trigger"], "manual");
    assert_eq!(json["winner"]["user_id"], "42");
    drop(store);

    let unknown = kinoyubot(dir.path())
        .args(["draw", "--channel", "not_joined"])
        .env("DATABASE_URL", &database.url)
        .output()
        .expect("draw runs");
    assert_eq!(unknown.status.code(), Some(2));
}

fn web_state(store: &Store, admin_token: Option<&str>) -> WebState {
    WebState {
        engine: engine(store, rules()),
        admin_token: admin_token.map(|t| SecretString::new(t.to_owned())),
        ..WebState::new(store.clone())
    }
}

async fn raffle_count(database: &TestDatabase) -> i64 {
    database
        .client()
        .await
        .query_one("SELECT count(*) FROM raffles", &[])
        .await
        .expect("count")
        .get(0)
}

#[tokio::test]
async fn admin_endpoints_refuse_missing_or_wrong_tokens_and_draw_nothing() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "adminchan").await;
    add_viewer(&client, id, &Viewer::new("7", "fan")).await;
    set_items(&store, ALWAYS_KEY).await;

    let disabled = routes(web_state(&store, None));
    let response = warp::test::request()
        .method("POST")
        .path("/api/channels/adminchan/draw")
        .header("authorization", "Bearer anything")
        .reply(&disabled)
        .await;
    assert_eq!(response.status(), 403);

    let filter = routes(web_state(&store, Some("correct-horse-battery")));
    for header in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic Y29ycmVjdA=="),
        Some("Bearer "),
    ] {
        let mut request = warp::test::request()
            .method("POST")
            .path("/api/channels/adminchan/draw");
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.reply(&filter).await;
        assert_eq!(response.status(), 401, "{header:?}");
        let body: serde_json::Value = serde_json::from_slice(response.body()).expect("json error");
        assert!(body["error"].is_string());
    }
    assert_eq!(raffle_count(&database).await, 0, "refused requests drew nothing");

    let response = warp::test::request()
        .method("POST")
        .path("/api/channels/adminchan/draw")
        .header("authorization", "Bearer correct-horse-battery")
        .reply(&filter)
        .await;
    assert_eq!(response.status(), 200);
    let raffle: serde_json::Value = serde_json::from_slice(response.body()).expect("raffle json");
    assert_eq!(raffle["channel"], "adminchan");
    assert_eq!(raffle["outcome"], "won");
    assert_eq!(raffle["item"], "Key");
    assert_eq!(raffle["winner"]["login"], "fan");
    assert_eq!(raffle["delivery"]["status"], "pending");
    assert_eq!(raffle_count(&database).await, 1);

    let unknown = warp::test::request()
        .method("POST")
        .path("/api/channels/nosuchchannel/draw")
        .header("authorization", "Bearer correct-horse-battery")
        .reply(&filter)
        .await;
    assert_eq!(unknown.status(), 404);
    let bad = warp::test::request()
        .method("POST")
        .path("/api/channels/bad%20login/pause")
        .header("authorization", "Bearer correct-horse-battery")
        .reply(&filter)
        .await;
    assert_eq!(bad.status(), 400);

    let paused = warp::test::request()
        .method("POST")
        .path("/api/channels/adminchan/pause")
        .header("authorization", "Bearer correct-horse-battery")
        .reply(&filter)
        .await;
    assert_eq!(paused.status(), 200);
    let is_paused: bool = client
        .query_one("SELECT paused FROM channels WHERE login = 'adminchan'", &[])
        .await
        .expect("channel")
        .get(0);
    assert!(is_paused);

    let history = warp::test::request()
        .path("/api/raffles?channel=adminchan&limit=5")
        .reply(&filter)
        .await;
    assert_eq!(history.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(history.body()).expect("json");
    assert_eq!(body["raffles"].as_array().map(Vec::len), Some(1));
    let bad_limit = warp::test::request().path("/api/raffles?limit=0").reply(&filter).await;
    assert_eq!(bad_limit.status(), 400);
}

async fn stock_of(client: &tokio_postgres::Client, name: &str) -> (Option<i32>, bool) {
    let row = client
        .query_one("SELECT stock, active FROM items WHERE name = $1", &[&name])
        .await
        .expect("item");
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn item_sync_keeps_remaining_stock_until_the_file_changes_it() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let v1 =
        "[[items]]\nname = \"Key\"\nprobability = 0.5\nstock = 3\n\n[[items]]\nname = \"Mug\"\nprobability = 0.1\n";
    set_items(&store, v1).await;
    assert_eq!(stock_of(&client, "Key").await, (Some(3), true));
    client
        .execute("UPDATE items SET stock = 1 WHERE name = 'Key'", &[])
        .await
        .expect("award two");
    // Same file again (a restart): the remaining stock is kept.
    set_items(&store, v1).await;
    assert_eq!(stock_of(&client, "Key").await, (Some(1), true));
    // The streamer restocks to 10 and drops the mug.
    set_items(&store, "[[items]]\nname = \"Key\"\nprobability = 0.5\nstock = 10\n").await;
    assert_eq!(stock_of(&client, "Key").await, (Some(10), true));
    assert_eq!(
        stock_of(&client, "Mug").await,
        (None, false),
        "removed items are deactivated"
    );
    // Removing `stock` makes the item unlimited; the mug comes back.
    set_items(
        &store,
        "[[items]]\nname = \"Key\"\nprobability = 0.5\n\n[[items]]\nname = \"Mug\"\nprobability = 0.1\n",
    )
    .await;
    assert_eq!(stock_of(&client, "Key").await, (None, true));
    assert_eq!(stock_of(&client, "Mug").await, (None, true));
}

#[tokio::test]
async fn deactivated_items_are_never_drawn() {
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "retired").await;
    add_viewer(&client, id, &Viewer::new("1", "someone")).await;
    set_items(&store, "[[items]]\nname = \"Old\"\nprobability = 1.0\n").await;
    set_items(&store, "[[items]]\nname = \"New\"\nprobability = 0.000001\n").await;
    let record = recorded(
        engine(&store, rules())
            .run_round(&login("retired"), Trigger::Manual, None)
            .await
            .expect("round"),
    );
    assert_ne!(record.item_name.as_deref(), Some("Old"));
}

#[tokio::test]
async fn chat_commands_draw_pause_and_resume() {
    use kinoyubot::raffle::command::{ChatCommand, RaffleCommand};
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "chatty").await;
    add_viewer(&client, id, &Viewer::new("5", "viewer5")).await;
    set_items(&store, ALWAYS_KEY).await;
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    let shutdown = CancellationToken::new();
    let handler = tokio::spawn(kinoyubot::raffle::scheduler::handle_chat_commands(
        engine(&store, rules()),
        receiver,
        shutdown.clone(),
    ));
    for command in [RaffleCommand::Now, RaffleCommand::Pause] {
        sender
            .send(ChatCommand {
                channel: login("chatty"),
                command,
                requested_by: "chatty".into(),
            })
            .await
            .expect("send");
    }
    // Closing the queue ends the handler once every command is applied.
    drop(sender);
    tokio::time::timeout(Duration::from_secs(10), handler)
        .await
        .expect("handler finishes")
        .expect("no panic");
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM raffles WHERE trigger = 'chat'), paused FROM channels WHERE id = $1",
            &[&id],
        )
        .await
        .expect("state");
    assert_eq!(row.get::<_, i64>(0), 1, "!raffle now drew once");
    assert!(row.get::<_, bool>(1), "!raffle pause paused the channel");
}

#[tokio::test]
async fn a_timer_round_that_fails_on_a_database_error_is_retried_within_its_slot() {
    use kinoyubot::raffle::slot::next_slot;
    if std::env::var_os("TEST_LOG").is_some() {
        kinoyubot::telemetry::init("info", kinoyubot::config::LogFormat::Pretty, std::io::stderr);
    }
    let (database, store) = TestDatabase::migrated().await;
    let client = database.client().await;
    let id = channel(&client, "retrying").await;
    add_viewer(&client, id, &Viewer::new("1", "someone")).await;
    set_items(&store, ALWAYS_KEY).await;
    // The engine's statements give up after 300 ms of waiting.
    let url = format!("{}?options=-c%20statement_timeout%3D300", database.url);
    let impatient = Store::new(kinoyubot::store::pool::build(&url, 4).expect("pool"));
    let interval = Duration::from_secs(2);
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64
    };
    let (mut slot, mut wait) = next_slot(now_ms(), interval);
    if wait < Duration::from_millis(800) {
        (slot, _) = next_slot(slot.start_millis(interval) + 1, interval);
        wait = Duration::from_millis(slot.start_millis(interval).saturating_sub(now_ms()));
    }
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(
        RaffleScheduler::new(
            engine(&impatient, rules()),
            ChannelSet::new([login("retrying")]),
            interval,
        )
        .run(shutdown.clone()),
    );
    // Hold the items table locked from just before the slot starts until
    // 400 ms into it: the first attempt times out, the retry (250 ms after
    // the failure) finds the table free.
    tokio::time::sleep(wait.saturating_sub(Duration::from_millis(300))).await;
    let mut blocker = database.client().await;
    let transaction = blocker.transaction().await.expect("begin");
    transaction
        .batch_execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    let release_at = slot.start_millis(interval) + 400;
    tokio::time::sleep(Duration::from_millis(release_at.saturating_sub(now_ms()))).await;
    transaction.commit().await.expect("release");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let drawn: i64 = client
            .query_one("SELECT count(*) FROM raffles WHERE slot = $1", &[&slot.get()])
            .await
            .expect("count")
            .get(0);
        if drawn == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slot {} was skipped, not retried",
            slot.get()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.expect("scheduler stops");
}
