//! Per-channel settings (issue 16 item 2, SPEC §13): the API, the rounds
//! following a channel's own values, and `RAFFLE_INTERVAL` changes that
//! never draw a moment twice.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_TOKEN, DRIVEN_START_MILLIS, Reply, TestApp, TestDatabase, Viewer, at_millis, driven_clock, fire_timers,
    wait_for, within,
};

/// `PUT /api/channels/{channel}/settings` with `body`, as the admin.
pub async fn put_settings(app: &TestApp, channel: &str, body: &Value) -> Reply {
    let request = reqwest::Client::new()
        .put(app.url(&format!("/api/channels/{channel}/settings")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body);
    Reply::to(request).await
}

/// `GET /api/channels/{channel}/settings` as the admin.
pub async fn get_settings(app: &TestApp, channel: &str) -> Reply {
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    app.send(
        reqwest::Method::GET,
        &format!("/api/channels/{channel}/settings"),
        Some(&authorization),
    )
    .await
}

#[tokio::test]
async fn settings_show_their_source_and_a_put_validates_like_the_environment() {
    let database = Arc::new(TestDatabase::migrated().await);
    database.insert_channel("tuned", Some("b-tuned")).await;
    database.insert_channel("other", Some("b-other")).await;
    let app = TestApp::builder()
        .database(database.clone())
        .setting("SUBSCRIBER_LUCK", "3")
        .start()
        .await;

    let before = get_settings(&app, "tuned").await;
    assert_eq!(before.status, 200, "{}", before.body);
    let settings = &before.json()["settings"];
    assert_eq!(settings["subscriber_luck"], json!({"value": 3, "source": "default"}));
    assert_eq!(settings["raffle_interval"], json!({"value": "1d", "source": "default"}));
    assert_eq!(settings["only_when_live"]["source"], "default");

    let changed = put_settings(&app, "tuned", &json!({"raffle_interval": "30s", "subscriber_luck": 2})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let settings = &changed.json()["settings"];
    assert_eq!(
        settings["raffle_interval"],
        json!({"value": "30s", "source": "channel"})
    );
    assert_eq!(settings["subscriber_luck"], json!({"value": 2, "source": "channel"}));
    assert_eq!(
        settings["active_window"]["source"], "default",
        "untouched settings stay default"
    );
    assert_eq!(
        get_settings(&app, "tuned").await.json()["settings"]["raffle_interval"]["source"],
        "channel",
        "stored"
    );
    assert_eq!(
        get_settings(&app, "other").await.json()["settings"]["raffle_interval"]["source"],
        "default",
        "another channel keeps the defaults"
    );

    // null resets to the environment's value.
    let reset = put_settings(&app, "tuned", &json!({"subscriber_luck": null})).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(
        reset.json()["settings"]["subscriber_luck"],
        json!({"value": 3, "source": "default"})
    );
    assert_eq!(reset.json()["settings"]["raffle_interval"]["source"], "channel");

    // Bad values: 400 naming the field, nothing stored.
    for (body, field) in [
        (
            json!({"raffle_interval": "500ms"}),
            "raffle_interval: must be at least 1s",
        ),
        (json!({"subscriber_luck": 11}), "subscriber_luck: invalid value"),
        (json!({"active_window": "0s"}), "active_window: must be greater than 0s"),
        (json!({"only_when_live": "maybe"}), "only_when_live: invalid boolean"),
        (json!({"ignore_users": "ok,not ok"}), "ignore_users: "),
        (json!({"raffle_intervall": "30s"}), "raffle_intervall: unknown setting"),
        (
            json!({"winner_cooldown": "1m", "subscriber_luck": 0}),
            "subscriber_luck: ",
        ),
    ] {
        let refused = put_settings(&app, "tuned", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        let message = refused.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let after = get_settings(&app, "tuned").await.json();
    assert_eq!(
        after["settings"]["winner_cooldown"]["source"], "default",
        "a refused PUT stores nothing"
    );
    assert_eq!(after["settings"]["raffle_interval"]["value"], "30s");

    let unknown = put_settings(&app, "nobody", &json!({"subscriber_luck": 2})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let anonymous = app
        .send(reqwest::Method::GET, "/api/channels/tuned/settings", None)
        .await;
    assert_eq!(anonymous.status, 401, "settings are not public");
    let stored = database
        .count("SELECT count(*) FROM channel_settings WHERE raffle_interval = '30s' AND subscriber_luck IS NULL")
        .await;
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn the_next_round_follows_the_channels_own_settings() {
    let database = Arc::new(TestDatabase::migrated().await);
    let id = database.insert_channel("tuned", Some("b-tuned")).await;
    database.add_viewer(id, &Viewer::new("7", "mybot")).await;
    let app = TestApp::builder()
        .database(database.clone())
        .setting("IGNORE_USERS", "nightbot")
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;
    assert_eq!(app.draw("tuned").await["outcome"], "won", "mybot may win by default");

    let ignored = put_settings(&app, "tuned", &json!({"ignore_users": ["MyBot"]})).await;
    assert_eq!(ignored.status, 200, "{}", ignored.body);
    assert_eq!(ignored.json()["settings"]["ignore_users"]["value"], "mybot");
    assert_eq!(
        app.draw("tuned").await["outcome"],
        "no_candidates",
        "the channel's ignore list is in force at once"
    );
    // The global list still applies next to the channel's own.
    database.add_viewer(id, &Viewer::new("8", "nightbot")).await;
    assert_eq!(app.draw("tuned").await["outcome"], "no_candidates");

    let reset = put_settings(&app, "tuned", &json!({"ignore_users": null})).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    let won = app.draw("tuned").await;
    assert_eq!(won["winner"]["login"], "mybot", "{won}");
}

/// Unix seconds of the timer rounds' slot starts, in order.
async fn drawn_starts(database: &TestDatabase) -> Vec<i64> {
    database
        .client()
        .await
        .query(
            "SELECT extract(epoch FROM slot_start)::bigint FROM raffles WHERE trigger = 'timer' ORDER BY slot_start",
            &[],
        )
        .await
        .expect("starts")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Two instances share a database and a driven clock; one of them takes
/// a channel's interval changes (and wakes its timer at once), the other
/// learns them only at its next slot, as an instance on another machine
/// would. The moments both plan for are drawn once, the new interval counts
/// from the next slot, and no more than one slot goes undrawn.
#[tokio::test]
async fn an_interval_change_draws_no_slot_twice_and_skips_at_most_one() {
    let database = Arc::new(TestDatabase::migrated().await);
    database.insert_channel("tuned", Some("b-tuned")).await;
    let clock = driven_clock();
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(
            TestApp::builder()
                .database(database.clone())
                .channels(&["tuned"])
                .setting("RAFFLE_INTERVAL", "60s")
                .setting("ONLY_WHEN_LIVE", "false")
                .clock(&clock)
                .start()
                .await,
        );
    }
    let minute = 60_000;
    let s1 = (DRIVEN_START_MILLIS / minute + 1) * minute;
    let secs = |millis: u64| i64::try_from(millis / 1000).expect("small");
    let timer_rounds = "SELECT count(*) FROM raffles WHERE trigger = 'timer'";

    assert_eq!(fire_timers(&clock, 2).await, at_millis(s1));
    database.wait_count(timer_rounds, 1, "the first slot drawn").await;

    // 60 s → 30 s on instance 0: its timer plans S1+30 s at once; instance 1
    // still sleeps until its 60 s slot.
    let changed = put_settings(&instances[0], "tuned", &json!({"raffle_interval": "30s"})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let sleepers = |expected: Vec<u64>| {
        let clock = clock.clone();
        async move {
            let expected: Vec<_> = expected.into_iter().map(at_millis).collect();
            wait_for(&format!("timers to wait for {expected:?}"), || {
                let mut sleeping = clock.sleepers();
                sleeping.sort();
                let done = sleeping == expected;
                async move { done.then_some(()) }
            })
            .await;
        }
    };
    sleepers(vec![s1 + 30_000, s1 + minute]).await;
    clock.set(at_millis(s1 + 30_000));
    database.wait_count(timer_rounds, 2, "the 30 s slot drawn").await;

    // S1+60 s: instance 0's 30 s slot and instance 1's 60 s slot start
    // together (numbered 2n and n): one moment, drawn once. Instance 1 reads
    // the new interval as it wakes; both go on at 30 s.
    sleepers(vec![s1 + minute, s1 + minute]).await;
    clock.set(at_millis(s1 + minute));
    database.wait_count(timer_rounds, 3, "the shared moment drawn").await;
    sleepers(vec![s1 + 90_000, s1 + 90_000]).await;

    // 30 s → 40 s on instance 0 at S1+60 s (unix 1767225720, itself a 40 s
    // boundary): it plans S1+100 s. Instance 1 wakes at S1+90 s, which
    // starts no 40 s slot: it skips it and plans S1+100 s too.
    let changed = put_settings(&instances[0], "tuned", &json!({"raffle_interval": "40s"})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    sleepers(vec![s1 + 90_000, s1 + 100_000]).await;
    clock.set(at_millis(s1 + 90_000));
    sleepers(vec![s1 + 100_000, s1 + 100_000]).await;
    assert_eq!(
        database.count(timer_rounds).await,
        3,
        "the old interval's slot is skipped"
    );
    clock.set(at_millis(s1 + 100_000));
    database.wait_count(timer_rounds, 4, "the first 40 s slot drawn").await;
    sleepers(vec![s1 + 140_000, s1 + 140_000]).await;

    for instance in &mut instances {
        within(Duration::from_secs(5), "an instance's shutdown", instance.stop()).await;
    }
    let expected: Vec<i64> = [0, 30_000, 60_000, 100_000]
        .iter()
        .map(|offset| secs(s1 + offset))
        .collect();
    assert_eq!(drawn_starts(&database).await, expected, "each moment drawn once");
    let duplicates = database
        .count("SELECT count(*) FROM (SELECT 1 FROM raffles GROUP BY channel_id, slot_start HAVING count(*) > 1) d")
        .await;
    assert_eq!(duplicates, 0);
    // The stored numbers are those of the interval each slot was planned with.
    let numbers = database
        .client()
        .await
        .query(
            "SELECT slot FROM raffles WHERE trigger = 'timer' ORDER BY slot_start",
            &[],
        )
        .await
        .expect("slots")
        .iter()
        .map(|row| row.get::<_, i64>(0))
        .collect::<Vec<_>>();
    assert_eq!(
        numbers,
        [
            secs(s1) / 60,
            secs(s1 + 30_000) / 30,
            secs(s1 + minute) / 30,
            secs(s1 + 100_000) / 40
        ]
    );
}
