//! Raffle rounds against a real database: eligibility, stock, slots,
//! verification, the admin API and the CLI.

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use serde_json::Value;

use crate::helpers::{
    ALWAYS_WON, DRIVEN_START_MILLIS, TestApp, TestAppBuilder, TestDatabase, Viewer, add_viewer, at_millis,
    driven_clock, fire_timers, sleeping_timers, wait_until, within,
};
use crate::process::kinoyubot;

/// The app with the eligibility rules these tests assume: a ten-minute
/// active window, no cooldown, no subscriber luck, only nightbot ignored.
fn app() -> TestAppBuilder {
    TestApp::builder()
        .setting("ACTIVE_WINDOW", "10m")
        .setting("WINNER_COOLDOWN", "0s")
        .setting("SUBSCRIBER_LUCK", "1")
        .setting("IGNORE_USERS", "nightbot")
}

/// A migrated database to seed before the app starts, shareable between instances.
async fn database() -> Arc<TestDatabase> {
    Arc::new(TestDatabase::migrated().await)
}

/// Creates a channel whose broadcaster has user id `b-<login>`; returns its id.
async fn channel(database: &TestDatabase, name: &str) -> i64 {
    database.insert_channel(name, Some(&format!("b-{name}"))).await
}

/// `kinoyubot verify ID`: the exit code and what it printed.
async fn verify(database: &TestDatabase, id: i64) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = kinoyubot(dir.path())
        .args(["verify", &id.to_string()])
        .env("DATABASE_URL", &database.url)
        .output()
        .await;
    (output.code, output.stdout)
}

/// Asserts `kinoyubot verify` replays `raffle` to what was recorded, and
/// that the history the API serves has it as the draw answered it.
async fn assert_verified(app: &TestApp, raffle: &Value) {
    let id = raffle["id"].as_i64().expect("raffle id");
    let (code, out) = verify(&app.database, id).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("verified\n"), "{out}");
    let channel = raffle["channel"].as_str().expect("channel");
    let stored = app
        .get_raffles_of(channel)
        .await
        .into_iter()
        .find(|r| r["id"] == id)
        .expect("the raffle is in the history");
    let without_delivery = |r: &Value| {
        let mut r = r.clone();
        r["delivery"] = Value::Null;
        for delivery in r["deliveries"].as_array_mut().into_iter().flatten() {
            delivery["status"] = Value::Null;
            delivery["error"] = Value::Null;
        }
        r
    };
    // The delivery may have moved on (pending → sent) since the draw answered.
    assert_eq!(without_delivery(&stored), without_delivery(raffle));
}

fn outcome(raffle: &Value) -> &str {
    raffle["outcome"].as_str().expect("outcome")
}

#[tokio::test]
async fn a_won_round_is_recorded_with_snapshot_and_queued_once_and_verifies() {
    let database = database().await;
    let id = channel(&database, "streamer").await;
    database.add_viewer(id, &Viewer::new("100", "viewer_a")).await;
    let app = app()
        .database(database)
        .items("[[items]]\nname = \"Key\"\nprobability = 1.0\nstock = 2\n")
        .start()
        .await;

    let raffle = app.draw("streamer").await;
    assert_eq!(raffle["outcome"], "won");
    assert_eq!(raffle["item"], "Key");
    assert_eq!(raffle["winner"]["user_id"], "100");
    assert_eq!(raffle["winner"]["login"], "viewer_a");
    assert_eq!(raffle["winner"]["display_name"], "VIEWER_A");
    assert_eq!(raffle["candidates"], 1);
    assert_eq!(raffle["trigger"], "manual");
    assert_eq!(raffle["delivery"]["status"], "pending");
    let raffle_id = raffle["id"].as_i64().expect("id");
    let client = app.database.client().await;
    let seed = client
        .query_one(
            "SELECT length(seed), seed <> decode(repeat('00', 32), 'hex') FROM raffles WHERE id = $1",
            &[&raffle_id],
        )
        .await
        .expect("raffle");
    assert_eq!(seed.get::<_, i32>(0), 32);
    assert!(seed.get::<_, bool>(1), "a real seed");
    assert_verified(&app, &raffle).await;

    let stock: Option<i32> = client
        .query_one("SELECT stock FROM items WHERE name = 'Key'", &[])
        .await
        .expect("item")
        .get(0);
    assert_eq!(stock, Some(1), "stock decremented in the same transaction");
    let queued: i64 = client
        .query_one("SELECT count(*) FROM outbox WHERE raffle_id = $1", &[&raffle_id])
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(queued, 1);
}

#[tokio::test]
async fn nobody_eligible_is_no_candidates_and_not_announced() {
    let database = database().await;
    channel(&database, "quiet").await;
    let app = app().database(database).start().await;
    let raffle = app.draw("quiet").await;
    assert_eq!(raffle["outcome"], "no_candidates");
    assert_eq!(raffle["winner"], Value::Null);
    assert_eq!(raffle["delivery"], Value::Null, "only winners are announced");
    assert_verified(&app, &raffle).await;
}

#[tokio::test]
async fn unknown_channel_is_an_error_and_records_nothing() {
    let app = app().start().await;
    let reply = app.post_as_admin("/api/channels/nobody_here/draw").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(
        reply.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("nobody_here"))
    );
    assert_eq!(app.database.count("SELECT count(*) FROM raffles").await, 0);
}

#[tokio::test]
async fn with_stock_one_two_concurrent_draws_award_exactly_once() {
    let database = database().await;
    let id = channel(&database, "race").await;
    for n in 0..5 {
        database
            .add_viewer(id, &Viewer::new(&format!("u{n}"), &format!("viewer{n}")))
            .await;
    }
    let items = "[[items]]\nname = \"Last key\"\nprobability = 1.0\nstock = 1\n";
    // Two instances on one database.
    let first = app().database(database.clone()).items(items).start().await;
    let second = app().database(database.clone()).items(items).start().await;
    let (a, b) = tokio::join!(first.draw("race"), second.draw("race"));
    let mut outcomes = vec![outcome(&a).to_owned(), outcome(&b).to_owned()];
    outcomes.sort();
    assert_eq!(outcomes, ["no_prize", "won"]);
    assert_eq!(
        database
            .count("SELECT stock::bigint FROM items WHERE name = 'Last key'")
            .await,
        0
    );
}

/// The engine on its own: two instances hammer the same 40 timer slots.
#[tokio::test]
async fn two_instances_never_draw_a_slot_twice() {
    use kinoyubot::channel::ChannelLogin;
    use kinoyubot::raffle::slot::TimerSlot;
    use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
    use kinoyubot::twitch::live_status::UnknownLiveStatus;

    let database = TestDatabase::migrated().await;
    let id = channel(&database, "shared").await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    database
        .client()
        .await
        .batch_execute("INSERT INTO items (name, probability) VALUES ('Key', 1.0)")
        .await
        .expect("items");
    // Separate pools: like two instances.
    let engine = || RaffleEngine::new(database.store(), RaffleRules::default(), Arc::new(UnknownLiveStatus));
    let instances = [engine(), engine()];
    let channel_login = ChannelLogin::parse("shared").expect("login");
    let mut drawn = 0;
    let mut skipped = 0;
    for number in 1_000..1_040_i64 {
        let slot = TimerSlot::new(number, Duration::from_secs(60));
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
    let duplicates = database
        .count("SELECT count(*) FROM (SELECT slot FROM raffles GROUP BY slot HAVING count(*) > 1) d")
        .await;
    assert_eq!(duplicates, 0);
    let announced = database.count("SELECT count(*) FROM outbox").await;
    assert_eq!(announced, 40, "one announcement per drawn slot");
}

/// The prize list is shared by every channel and its stock is not locked
/// while rounds run: 24 channels drawing at once from 3 keys award exactly
/// 3, the rounds that lost the race are drawn again from what is left
/// (another prize), and none fails.
#[tokio::test(flavor = "multi_thread")]
async fn rounds_of_many_channels_at_once_award_exactly_the_stock_and_none_fails() {
    use kinoyubot::channel::ChannelLogin;
    use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};
    use kinoyubot::twitch::live_status::UnknownLiveStatus;

    let database = TestDatabase::migrated().await;
    let mut logins = Vec::new();
    for n in 0..24 {
        let name = format!("race{n:02}");
        let id = channel(&database, &name).await;
        database
            .add_viewer(id, &Viewer::new(&format!("{}", 500 + n), &format!("viewer{n}")))
            .await;
        logins.push(ChannelLogin::parse(&name).expect("login"));
    }
    database
        .client()
        .await
        .batch_execute(
            "INSERT INTO items (name, probability, stock, configured_stock, position) VALUES ('Key', 0.9, 3, 3, 0);
             INSERT INTO items (name, probability, position) VALUES ('Sticker', 0.1, 1)",
        )
        .await
        .expect("items");
    // Four instances' worth of pools, six channels each, all at once.
    let engines: Vec<RaffleEngine> = (0..4)
        .map(|_| RaffleEngine::new(database.store(), RaffleRules::default(), Arc::new(UnknownLiveStatus)))
        .collect();
    let rounds = logins.iter().enumerate().map(|(n, login)| {
        let engine = engines[n % engines.len()].clone();
        let login = login.clone();
        tokio::spawn(async move { engine.run_round(&login, Trigger::Manual, None).await })
    });
    let mut keys = 0;
    for round in futures::future::join_all(rounds).await {
        match round.expect("task").expect("no round fails") {
            RoundResult::Recorded(record) => {
                if record.item_name.as_deref() == Some("Key") {
                    keys += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(keys, 3);
    assert_eq!(
        database
            .count("SELECT stock::bigint FROM items WHERE name = 'Key'")
            .await,
        0
    );
    assert_eq!(
        database
            .count("SELECT count(*) FROM raffles WHERE item_name = 'Key'")
            .await,
        3
    );
    assert_eq!(database.count("SELECT count(*) FROM raffles").await, 24);
}

/// The first slot a timer on [`driven_clock`] fires for, with 1 s slots.
const FIRST_DRIVEN_SLOT: u64 = DRIVEN_START_MILLIS / 1000 + 1;

/// When 1 s slot `slot` starts.
fn second_slot_starts(slot: u64) -> std::time::SystemTime {
    at_millis(slot * 1000)
}

/// The timer slots recorded, in order.
async fn timer_slots(database: &TestDatabase) -> Vec<i64> {
    let rows = database
        .client()
        .await
        .query("SELECT slot FROM raffles WHERE trigger = 'timer' ORDER BY slot", &[])
        .await
        .expect("slots");
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn two_schedulers_on_one_database_draw_each_slot_once() {
    let database = database().await;
    let id = channel(&database, "timed").await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    // One clock for both instances: they see the same slot boundaries.
    let clock = driven_clock();
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(
            app()
                .database(database.clone())
                .channels(&["timed"])
                .setting("RAFFLE_INTERVAL", "1s")
                .clock(&clock)
                .start()
                .await,
        );
    }
    for n in 0..4 {
        // Both timers wait for the start of the same slot; both run it.
        let fired = fire_timers(&clock, 2).await;
        assert_eq!(fired, second_slot_starts(FIRST_DRIVEN_SLOT + n));
        database
            .wait_count(
                "SELECT count(*) FROM raffles WHERE trigger = 'timer'",
                n as i64 + 1,
                &format!("slot {} drawn", FIRST_DRIVEN_SLOT + n),
            )
            .await;
    }
    // Both have finished the last slot and wait for the next.
    sleeping_timers(&clock, 2).await;
    for instance in &mut instances {
        within(Duration::from_secs(5), "an instance's shutdown", instance.stop()).await;
    }
    let expected: Vec<i64> = (0..4).map(|n| (FIRST_DRIVEN_SLOT + n) as i64).collect();
    assert_eq!(
        timer_slots(&database).await,
        expected,
        "each slot drawn once, consecutive, numbered in unix seconds"
    );
}

#[tokio::test]
async fn paused_channels_skip_timer_rounds_but_not_manual_draws() {
    let database = database().await;
    channel(&database, "paused").await;
    channel(&database, "running").await;
    database
        .client()
        .await
        .execute("UPDATE channels SET paused = true WHERE login = 'paused'", &[])
        .await
        .expect("pause");
    let clock = driven_clock();
    let app = app()
        .database(database)
        .channels(&["paused", "running"])
        .setting("RAFFLE_INTERVAL", "1s")
        .clock(&clock)
        .start()
        .await;
    // Two slots for both channels' timers; then both wait for a third, so
    // both rounds of each have run.
    for _ in 0..2 {
        fire_timers(&clock, 2).await;
    }
    sleeping_timers(&clock, 2).await;
    let running_rounds = "SELECT count(*) FROM raffles r JOIN channels c ON c.id = r.channel_id
         WHERE c.login = 'running' AND r.trigger = 'timer'";
    assert_eq!(app.database.count(running_rounds).await, 2, "a round per slot unpaused");
    let paused_rounds =
        "SELECT count(*) FROM raffles r JOIN channels c ON c.id = r.channel_id WHERE c.login = 'paused'";
    assert_eq!(
        app.database.count(paused_rounds).await,
        0,
        "no timer round while paused"
    );
    let manual = app.draw("paused").await;
    assert_eq!(manual["trigger"], "manual");
    assert_eq!(app.database.count(paused_rounds).await, 1);
}

#[tokio::test]
async fn offline_timer_rounds_are_recorded_as_skipped_offline() {
    let database = database().await;
    let id = channel(&database, "offline").await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    // The Twitch stand-in says every stream is offline.
    let clock = driven_clock();
    let app = app()
        .database(database)
        .twitch(crate::fake_twitch::streamer())
        .channels(&["offline"])
        .setting("RAFFLE_INTERVAL", "1s")
        .clock(&clock)
        .start()
        .await;
    fire_timers(&clock, 1).await;
    let skipped = crate::helpers::wait_for("a timer round while offline", || async {
        app.get_raffles_of("offline")
            .await
            .into_iter()
            .find(|r| r["trigger"] == "timer")
    })
    .await;
    assert_eq!(skipped["outcome"], "skipped_offline");
    assert_eq!(skipped["winner"], Value::Null);
    let (code, out) = verify(&app.database, skipped["id"].as_i64().expect("id")).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("verified (skipped while offline"), "{out}");
    assert_eq!(skipped["reason"], "the stream is offline");
    // A manual draw honours ONLY_WHEN_LIVE too (SPEC §16) ...
    let manual = app.draw("offline").await;
    assert_eq!(manual["outcome"], "skipped_offline");
    assert_eq!(manual["trigger"], "manual");
    // ... unless the admin forces it.
    let forced = app.post_as_admin("/api/channels/offline/draw?force=true").await;
    assert_eq!(forced.status, 200, "{}", forced.body);
    assert_eq!(forced.json()["outcome"], "won");
    assert_eq!(forced.json()["reason"], Value::Null);
    let bad = app.post_as_admin("/api/channels/offline/draw?force=maybe").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

/// `ONLY_WHEN_LIVE` fails closed (issue 12 item 7): with credentials set, a
/// Helix error or a garbage app token skips rounds of every trigger with the
/// reason recorded, shown in the JSON and on the dashboard; none is drawn.
#[tokio::test]
async fn unknown_live_status_skips_timer_chat_and_manual_rounds_with_the_reason() {
    let database = database().await;
    // A numeric room id: chat lines with anything else are dropped at the edge.
    let id = database.insert_channel("flaky", Some("90210")).await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    let clock = driven_clock();
    let app = app()
        .database(database)
        .twitch(crate::fake_twitch::streamer())
        .channels(&["flaky"])
        .room_id("flaky", "90210")
        .items(ALWAYS_WON)
        .setting("RAFFLE_INTERVAL", "1s")
        .clock(&clock)
        .start()
        .await;
    // The stream is live: only the failing answers keep rounds from drawing.
    app.twitch().set_live("90210", true);
    type Inject = fn(&crate::fake_twitch::FakeTwitch);
    let faults: [(&str, Inject); 3] = [
        ("HTTP 500", |t| t.set_helix_failure(Some(500))),
        ("HTTP 503", |t| t.set_helix_failure(Some(503))),
        ("HTTP 401", |t| {
            t.set_helix_failure(None);
            t.reject_app_tokens(true);
        }),
    ];
    for (done, (expected, inject)) in faults.into_iter().enumerate() {
        inject(app.twitch());
        fire_timers(&clock, 1).await;
        let seen = done + 1;
        let timer = crate::helpers::wait_for("the timer round", || async {
            let raffles = app.get_raffles_of("flaky").await;
            (raffles.iter().filter(|r| r["trigger"] == "timer").count() >= seen).then(|| raffles[0].clone())
        })
        .await;
        let manual = app.draw("flaky").await;
        for round in [&timer, &manual] {
            assert_eq!(round["outcome"], "skipped_offline", "{expected}: {round}");
            let reason = round["reason"].as_str().unwrap_or_default();
            assert!(reason.starts_with("live status unknown"), "{reason}");
            assert!(reason.contains(expected), "{expected}: {reason}");
            assert!(!reason.contains('\0'), "control characters are dropped: {reason:?}");
        }
    }
    // Chat draws honour it as well.
    app.say("flaky", &from_broadcaster(&app, "flaky", "!raffle now"));
    app.say("flaky", &from_broadcaster(&app, "flaky", "!raffle pause"));
    app.database
        .wait_count(
            "SELECT count(*) FROM channels WHERE login = 'flaky' AND paused",
            1,
            "pause",
        )
        .await;
    let raffles = app.get_raffles_of("flaky").await;
    let chat: Vec<&Value> = raffles.iter().filter(|r| r["trigger"] == "chat").collect();
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0]["outcome"], "skipped_offline");
    assert_eq!(
        raffles.iter().filter(|r| r["outcome"] == "won").count(),
        0,
        "nothing drawn while unknown"
    );
    let page = app.get("/").await;
    assert!(
        page.body.contains("live status unknown"),
        "the dashboard shows the reason"
    );
    // Once Helix answers again, the live stream draws.
    app.twitch().reject_app_tokens(false);
    let drawn = app.draw("flaky").await;
    assert_eq!(drawn["outcome"], "won", "{drawn}");
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
    let database = database().await;
    let id = channel(&database, "prop").await;
    let app = app()
        .database(database)
        .setting("WINNER_COOLDOWN", "1h")
        .setting("SUBSCRIBER_LUCK", "3")
        .start()
        .await;
    let client = app.database.client().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261125);
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
        let raffle = app.draw("prop").await;
        let raffle_id = raffle["id"].as_i64().expect("id");
        let candidates: String = client
            .query_one("SELECT candidates FROM raffles WHERE id = $1", &[&raffle_id])
            .await
            .expect("raffle")
            .get(0);
        let snapshot: Vec<Value> = serde_json::from_str(&candidates).expect("json");
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
        match raffle["winner"]["user_id"].as_str() {
            Some(winner) => assert!(
                expected.iter().any(|v| v.user_id == winner),
                "case {case}: ineligible winner"
            ),
            None => assert!(expected.is_empty(), "case {case}: eligible viewers but no winner"),
        }
        assert_verified(&app, &raffle).await;
    }
}

/// A won raffle among six viewers; returns its id.
async fn one_won_raffle(app: &TestApp) -> i64 {
    let id = channel(&app.database, "audited").await;
    for n in 0..6 {
        app.database
            .add_viewer(id, &Viewer::new(&format!("{n}"), &format!("viewer{n}")))
            .await;
    }
    let raffle = app.draw("audited").await;
    assert_eq!(raffle["outcome"], "won");
    raffle["id"].as_i64().expect("id")
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_command_detects_a_tampered_snapshot_or_seed() {
    let app = app().start().await;
    let id = one_won_raffle(&app).await;
    let database = &app.database;
    let client = database.client().await;

    let (code, out) = verify(database, id).await;
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
    let (code, out) = verify(database, id).await;
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
    assert_eq!(verify(database, id).await.0, Some(0));
    let mut differs = false;
    for byte in 1..=255u8 {
        client
            .execute(
                "UPDATE raffles SET seed = decode(repeat(lpad(to_hex($2::int), 2, '0'), 32), 'hex') WHERE id = $1",
                &[&id, &i32::from(byte)],
            )
            .await
            .expect("tamper seed");
        let (code, out) = verify(database, id).await;
        if code == Some(1) {
            assert!(out.contains("winner: recorded"), "{out}");
            differs = true;
            break;
        }
    }
    assert!(differs, "no tampered seed changed the winner");

    let (code, _) = verify(database, id + 1000).await;
    assert_eq!(code, Some(2), "unknown raffle id is bad input");
}

#[tokio::test(flavor = "multi_thread")]
async fn draw_command_prints_the_raffle_and_refuses_unknown_channels() {
    let database = TestDatabase::migrated().await;
    let id = channel(&database, "cli_chan").await;
    database.add_viewer(id, &Viewer::new("42", "lucky")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("items.toml"), ALWAYS_WON).expect("items");
    let output = kinoyubot(dir.path())
        .args(["draw", "--channel", "cli_chan"])
        .env("DATABASE_URL", &database.url)
        .output()
        .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(output.stdout.contains("LUCKY won Key"), "{}", output.stdout);
    let json: Value = serde_json::from_str(output.stdout.lines().nth(1).expect("json line")).expect("raffle JSON");
    assert_eq!(json["trigger"], "manual");
    assert_eq!(json["winner"]["user_id"], "42");

    let unknown = kinoyubot(dir.path())
        .args(["draw", "--channel", "not_joined"])
        .env("DATABASE_URL", &database.url)
        .output()
        .await;
    assert_eq!(unknown.code, Some(2));
}

#[tokio::test]
async fn admin_endpoints_refuse_missing_or_wrong_tokens_and_draw_nothing() {
    let database = database().await;
    let id = channel(&database, "adminchan").await;
    database.add_viewer(id, &Viewer::new("7", "fan")).await;
    let raffles = "SELECT count(*) FROM raffles";
    let post = reqwest::Method::POST;

    // An instance without ADMIN_TOKEN: admin endpoints are off.
    let disabled = app().database(database.clone()).unset("ADMIN_TOKEN").start().await;
    let reply = disabled
        .send(post.clone(), "/api/channels/adminchan/draw", Some("Bearer anything"))
        .await;
    assert_eq!(reply.status, 403);
    drop(disabled);

    let app = app()
        .database(database.clone())
        .setting("ADMIN_TOKEN", "correct-horse-battery-staple-0123456789")
        .start()
        .await;
    for header in [
        None,
        Some("Bearer wrong-token"),
        Some("Basic Y29ycmVjdA=="),
        Some("Bearer "),
    ] {
        let reply = app.send(post.clone(), "/api/channels/adminchan/draw", header).await;
        assert_eq!(reply.status, 401, "{header:?}");
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(database.count(raffles).await, 0, "refused requests drew nothing");

    let raffle = app.draw("adminchan").await;
    assert_eq!(raffle["channel"], "adminchan");
    assert_eq!(raffle["outcome"], "won");
    assert_eq!(raffle["item"], "Key");
    assert_eq!(raffle["winner"]["login"], "fan");
    assert_eq!(raffle["delivery"]["status"], "pending");
    assert_eq!(database.count(raffles).await, 1);

    let unknown = app.post_as_admin("/api/channels/nosuchchannel/draw").await;
    assert_eq!(unknown.status, 404);
    let bad = app.post_as_admin("/api/channels/bad%20login/pause").await;
    assert_eq!(bad.status, 400);

    app.pause("adminchan").await;
    assert_eq!(
        database
            .count("SELECT count(*) FROM channels WHERE login = 'adminchan' AND paused")
            .await,
        1
    );

    let history = app.get("/api/raffles?channel=adminchan&limit=5").await;
    assert_eq!(history.status, 200);
    assert_eq!(history.json()["raffles"].as_array().map(Vec::len), Some(1));
    let bad_limit = app.get("/api/raffles?limit=0").await;
    assert_eq!(bad_limit.status, 400);
}

async fn stock_of(database: &TestDatabase, name: &str) -> (Option<i32>, bool) {
    let row = database
        .client()
        .await
        .query_one("SELECT stock, active FROM items WHERE name = $1", &[&name])
        .await
        .expect("item");
    (row.get(0), row.get(1))
}

/// Starts the app on `database` with this items file (which it
/// synchronises at start-up), then stops it: a restart.
async fn restart_with_items(database: &Arc<TestDatabase>, items: &str) {
    let mut app = app().database(database.clone()).items(items).start().await;
    app.stop().await;
}

#[tokio::test]
async fn item_sync_keeps_remaining_stock_until_the_file_changes_it() {
    let database = database().await;
    let v1 =
        "[[items]]\nname = \"Key\"\nprobability = 0.5\nstock = 3\n\n[[items]]\nname = \"Mug\"\nprobability = 0.1\n";
    restart_with_items(&database, v1).await;
    assert_eq!(stock_of(&database, "Key").await, (Some(3), true));
    database
        .client()
        .await
        .execute("UPDATE items SET stock = 1 WHERE name = 'Key'", &[])
        .await
        .expect("award two");
    // Same file again (a restart): the remaining stock is kept.
    restart_with_items(&database, v1).await;
    assert_eq!(stock_of(&database, "Key").await, (Some(1), true));
    // The streamer restocks to 10 and drops the mug.
    restart_with_items(&database, "[[items]]\nname = \"Key\"\nprobability = 0.5\nstock = 10\n").await;
    assert_eq!(stock_of(&database, "Key").await, (Some(10), true));
    assert_eq!(
        stock_of(&database, "Mug").await,
        (None, false),
        "removed items are deactivated"
    );
    // Removing `stock` makes the item unlimited; the mug comes back.
    restart_with_items(
        &database,
        "[[items]]\nname = \"Key\"\nprobability = 0.5\n\n[[items]]\nname = \"Mug\"\nprobability = 0.1\n",
    )
    .await;
    assert_eq!(stock_of(&database, "Key").await, (None, true));
    assert_eq!(stock_of(&database, "Mug").await, (None, true));
}

#[tokio::test]
async fn deactivated_items_are_never_drawn() {
    let database = database().await;
    let id = channel(&database, "retired").await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    restart_with_items(&database, "[[items]]\nname = \"Old\"\nprobability = 1.0\n").await;
    let app = app()
        .database(database)
        .items("[[items]]\nname = \"New\"\nprobability = 0.000001\n")
        .start()
        .await;
    let raffle = app.draw("retired").await;
    assert_ne!(raffle["item"], "Old");
}

/// A line from `channel`'s broadcaster.
fn from_broadcaster(app: &TestApp, channel: &str, text: &str) -> String {
    let room = app.irc.room_id(channel);
    format!(
        "@badge-info=;badges=broadcaster/1;color=;display-name={channel};emotes=;flags=;id=b-cmd;mod=0;room-id={room};subscriber=0;tmi-sent-ts=1;turbo=0;user-id={room};user-type= :{channel}!{channel}@{channel}.tmi.twitch.tv PRIVMSG #{channel} :{text}"
    )
}

/// Issue 13 item 7: one moderator's burst of `!raffle now` draws once per
/// channel per 10 s of the (driven) clock.
#[tokio::test]
async fn a_burst_of_raffle_now_draws_once_per_ten_seconds() {
    let database = database().await;
    let id = channel(&database, "bursty").await;
    database.add_viewer(id, &Viewer::new("5", "viewer5")).await;
    let clock = driven_clock();
    let mut app = app()
        .database(database)
        .channels(&["bursty"])
        .items("[[items]]\nname = \"Key\"\nprobability = 1.0\nstock = 30\n")
        .clock(&clock)
        .start()
        .await;
    let paused = "SELECT count(*) FROM channels WHERE login = 'bursty' AND paused";
    let chat_raffles = async |app: &TestApp| {
        app.get_raffles_of("bursty")
            .await
            .iter()
            .filter(|r| r["trigger"] == "chat")
            .count()
    };
    for _ in 0..30 {
        app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle now"));
    }
    // Commands are applied in order: once paused, the burst is handled.
    app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle pause"));
    app.database.wait_count(paused, 1, "!raffle pause").await;
    assert_eq!(chat_raffles(&app).await, 1, "30 requests, one draw");

    clock.advance(Duration::from_millis(9_999));
    app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle now"));
    app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle resume"));
    wait_until("!raffle resume", || async { app.database.count(paused).await == 0 }).await;
    assert_eq!(chat_raffles(&app).await, 1, "still within 10 s");

    clock.advance(Duration::from_millis(1));
    for _ in 0..5 {
        app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle now"));
    }
    app.say("bursty", &from_broadcaster(&app, "bursty", "!raffle pause"));
    app.database.wait_count(paused, 1, "!raffle pause").await;
    assert_eq!(chat_raffles(&app).await, 2, "10 s later, one more");
    // The admin API is not rate limited (SPEC §16).
    for _ in 0..3 {
        assert_eq!(app.draw("bursty").await["outcome"], "won");
    }
    app.stop().await;
}

#[tokio::test]
async fn chat_commands_draw_pause_and_resume() {
    let database = database().await;
    let id = channel(&database, "chatty").await;
    database.add_viewer(id, &Viewer::new("5", "viewer5")).await;
    let mut app = app().database(database).channels(&["chatty"]).start().await;
    app.say("chatty", &from_broadcaster(&app, "chatty", "!raffle now"));
    app.say("chatty", &from_broadcaster(&app, "chatty", "!raffle pause"));
    // Commands are applied in order: once paused, the draw is done.
    let paused = "SELECT count(*) FROM channels WHERE login = 'chatty' AND paused";
    app.database
        .wait_count(paused, 1, "!raffle pause to pause the channel")
        .await;
    let chat_raffles = app
        .get_raffles_of("chatty")
        .await
        .iter()
        .filter(|r| r["trigger"] == "chat")
        .count();
    assert_eq!(chat_raffles, 1, "!raffle now drew once");
    app.say("chatty", &from_broadcaster(&app, "chatty", "!raffle resume"));
    wait_until("!raffle resume to resume the channel", || async {
        app.database.count(paused).await == 0
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_timer_round_that_fails_on_a_database_error_is_retried_within_its_slot() {
    use kinoyubot::raffle::scheduler::ROUND_RETRY;

    let database = database().await;
    let id = channel(&database, "retrying").await;
    database.add_viewer(id, &Viewer::new("1", "someone")).await;
    let clock = driven_clock();
    // The app's statements give up after 300 ms of (real) waiting. A
    // 60 s interval: the driven clock, not the interval, sets the pace.
    let mut app = app()
        .database(database.clone())
        .setting(
            "DATABASE_URL",
            &format!("{}?options=-c%20statement_timeout%3D300", database.url),
        )
        .channels(&["retrying"])
        .setting("RAFFLE_INTERVAL", "60s")
        .clock(&clock)
        .start()
        .await;
    let slot = DRIVEN_START_MILLIS / 60_000 + 1;
    let slot_start = at_millis(slot * 60_000);
    assert_eq!(
        sleeping_timers(&clock, 1).await,
        [slot_start],
        "the timer waits for the slot"
    );

    // Hold the items table locked as the slot starts: the first attempt
    // times out and records nothing.
    let mut blocker = database.client().await;
    let transaction = blocker.transaction().await.expect("begin");
    transaction
        .batch_execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    clock.set(slot_start);
    // The retry is due the policy's first delay after the failure, on the
    // clock (which has not moved while the attempt waited on the lock).
    let retry_at = slot_start + ROUND_RETRY.first();
    assert_eq!(sleeping_timers(&clock, 1).await, [retry_at], "a retry is scheduled");
    let drawn = format!("SELECT count(*) FROM raffles WHERE slot = {slot}");
    assert_eq!(database.count(&drawn).await, 0, "the failed attempt left nothing");
    transaction.commit().await.expect("release");

    clock.set(retry_at);
    database
        .wait_count(&drawn, 1, &format!("slot {slot} to be retried, not skipped"))
        .await;
    // The timer goes on to the next slot, and the slot was recorded once.
    assert_eq!(sleeping_timers(&clock, 1).await, [at_millis((slot + 1) * 60_000)]);
    assert_eq!(database.count(&drawn).await, 1);
    assert_eq!(timer_slots(&database).await, [slot as i64]);
    app.stop().await;
}
