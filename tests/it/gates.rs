//! Issue 18: eligibility from Twitch's data. Lurkers from Get Chatters,
//! account and follow age, subscribers only, minimum messages, and failing
//! closed when Twitch cannot answer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::channel_settings::{get_settings, put_settings};
use crate::fake_twitch::{User, streamer};
use crate::helpers::{TestApp, Viewer, driven_clock, wait_until};

const STREAMER_ID: &str = "141981764";

/// An old account (2016), followed long ago.
const LONG_AGO: &str = "2016-12-14T20:32:28Z";

fn lurker(n: usize) -> User {
    User::new(
        &format!("{}", 500_000 + n),
        &format!("lurker{n}"),
        &format!("Lurker{n}"),
    )
}

async fn channel_id(app: &TestApp) -> i64 {
    app.database
        .count("SELECT id FROM channels WHERE login = 'twitchdev'")
        .await
}

/// An app for the stand-in's streamer, connected, with these settings.
async fn connected_app(settings: &[(&'static str, &str)]) -> TestApp {
    let mut builder = TestApp::builder().twitch(streamer()).setting("ONLY_WHEN_LIVE", "false");
    for &(name, value) in settings {
        builder = builder.setting(name, value);
    }
    let app = builder.start().await;
    app.connect_streamer().await;
    app
}

/// Waits until the app's chatters poller sleeps on the driven clock (its
/// wake-up is 60 s from now: the clock stands still).
async fn poller_asleep(clock: &kinoyubot::clock::DrivenClock) {
    let poll_at = clock.now() + Duration::from_secs(60);
    wait_until("the chatters poller to sleep 60 s", || async {
        clock.sleepers().contains(&poll_at)
    })
    .await;
}

/// Lists chatters once through the app's poller: waits for it to sleep on
/// the driven clock and moves the clock to its wake-up.
async fn run_chatters_poll(clock: &kinoyubot::clock::DrivenClock) {
    poller_asleep(clock).await;
    clock.advance(Duration::from_secs(60));
}

#[tokio::test]
async fn lurkers_from_get_chatters_over_three_pages_win_only_with_min_messages_zero() {
    let clock = driven_clock();
    let app = TestApp::builder()
        .twitch(streamer())
        .clock(&clock)
        .setting("PRESENCE_SOURCES", "chat,chatters")
        .setting("MIN_MESSAGES", "0")
        .start()
        .await;
    let (authorize, cookie) = app.start_connect().await;
    let scope = authorize
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    assert_eq!(scope, "moderator:read:chatters", "asked only for what the source uses");
    let callback = app.consent(&authorize).await;
    assert_eq!(app.callback(&callback, Some(&cookie)).await.status, 303);
    let status = app.channel_status("twitchdev").await;
    assert!(status.get("missing_scopes").is_none(), "{status}");

    let lurkers: Vec<User> = (0..2_500).map(lurker).collect();
    app.twitch().set_chatters(STREAMER_ID, lurkers);
    app.twitch().set_live(STREAMER_ID, true);
    run_chatters_poll(&clock).await;
    app.database
        .wait_count(
            "SELECT count(*) FROM presence WHERE source = 'chatters' AND message_count = 0",
            2_500,
            "lurkers marked present",
        )
        .await;
    let pages = app.twitch().requests("/helix/chat/chatters");
    assert_eq!(pages.len(), 3, "2,500 chatters in pages of 1,000");
    for (n, page) in pages.iter().enumerate() {
        assert_eq!(page.params["broadcaster_id"], STREAMER_ID);
        assert_eq!(page.params["moderator_id"], STREAMER_ID);
        assert_eq!(page.params["first"], "1000");
        assert_eq!(page.params.contains_key("after"), n > 0, "cursor followed on page {n}");
        assert!(
            page.authorization
                .as_deref()
                .is_some_and(|a| a.starts_with("Bearer acc")),
            "the broadcaster's token"
        );
    }

    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["outcome"], "won", "{raffle}");
    assert_eq!(raffle["candidates"], 2_500, "{raffle}");
    assert_eq!(raffle["excluded"], json!({}), "{raffle}");
    let winner = raffle["winner"]["login"].as_str().unwrap_or_default();
    assert!(winner.starts_with("lurker"), "{raffle}");
}

#[tokio::test]
async fn a_lurker_is_not_a_candidate_under_the_default_min_messages() {
    let clock = driven_clock();
    let app = TestApp::builder()
        .twitch(streamer())
        .clock(&clock)
        .setting("PRESENCE_SOURCES", "chat,chatters")
        .start()
        .await;
    app.connect_streamer().await;
    app.twitch().set_chatters(STREAMER_ID, vec![lurker(1)]);
    app.twitch().set_live(STREAMER_ID, true);
    run_chatters_poll(&clock).await;
    app.database
        .wait_count(
            "SELECT count(*) FROM presence WHERE source = 'chatters'",
            1,
            "the lurker",
        )
        .await;
    let id = channel_id(&app).await;
    app.database.add_viewer(id, &Viewer::new("600001", "chatty")).await;

    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["candidates"], 1, "{raffle}");
    assert_eq!(raffle["winner"]["login"], "chatty", "{raffle}");
    assert_eq!(raffle["excluded"], json!({"too_few_messages": 1}), "{raffle}");
}

/// Five subscribers-or-not viewers, each failing one gate but `old`.
async fn gated_viewers(app: &TestApp) {
    let twitch = app.twitch();
    let id = channel_id(app).await;
    let viewer = |user_id: &str, login: &str, subscriber: bool| Viewer {
        subscriber,
        ..Viewer::new(user_id, login)
    };
    for v in [
        viewer("700001", "old", true),
        viewer("700002", "young", true),
        viewer("700003", "recent", true),
        viewer("700004", "stranger", true),
        viewer("700005", "nonsub", false),
    ] {
        app.database.add_viewer(id, &v).await;
    }
    let young_created = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    let recent_follow = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    for (user_id, login, created) in [
        ("700001", "old", LONG_AGO),
        ("700002", "young", young_created.as_str()),
        ("700003", "recent", LONG_AGO),
        ("700004", "stranger", LONG_AGO),
        ("700005", "nonsub", LONG_AGO),
    ] {
        twitch.set_account(User::new(user_id, login, login), created);
    }
    twitch.set_followers(
        STREAMER_ID,
        vec![
            (User::new("700003", "recent", "recent"), recent_follow),
            (User::new("700002", "young", "young"), LONG_AGO.to_owned()),
            (User::new("700001", "old", "old"), LONG_AGO.to_owned()),
        ],
    );
}

#[tokio::test]
async fn each_gate_excludes_its_viewers_with_the_reason_shown() {
    let app = connected_app(&[
        ("MIN_ACCOUNT_AGE", "7d"),
        ("MIN_FOLLOW_AGE", "1d"),
        ("SUBSCRIBERS_ONLY", "true"),
    ])
    .await;
    gated_viewers(&app).await;

    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["outcome"], "won", "{raffle}");
    assert_eq!(raffle["candidates"], 1, "{raffle}");
    assert_eq!(raffle["winner"]["login"], "old", "{raffle}");
    assert_eq!(
        raffle["excluded"],
        json!({"not_subscriber": 1, "young_account": 1, "not_following": 1, "recent_follower": 1}),
        "{raffle}"
    );
    // The snapshot holds exactly the eligible set, so verify still works.
    let id = raffle["id"].as_i64().expect("id");
    let listed: Vec<Value> = app.get_raffles().await;
    assert_eq!(listed[0]["excluded"], raffle["excluded"], "stored and listed");
    let audit = app
        .database
        .count(&format!(
            "SELECT count(*) FROM raffles WHERE id = {id} AND candidates::text LIKE '%700001%'
               AND candidates::text NOT LIKE '%700002%'"
        ))
        .await;
    assert_eq!(audit, 1, "only the eligible viewer is in the snapshot");
    let page = app.get("/").await.body;
    assert!(page.contains("4 not eligible"), "the dashboard says it: {page}");
    assert!(page.contains("account too new"), "{page}");

    // Helix was asked only about viewers the presence gates let through,
    // in one Get Users call; the account cache then answers for ever.
    let users: Vec<_> = app
        .twitch()
        .requests("/helix/users")
        .into_iter()
        .filter(|r| r.query_pairs.iter().any(|(k, _)| k == "id"))
        .collect();
    assert_eq!(users.len(), 1, "one call for four ids");
    let ids: Vec<&str> = users[0].query_pairs.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(!ids.contains(&"700005"), "the non-subscriber is not asked about");
    let follow_calls = app.twitch().requests("/helix/channels/followers").len();
    assert!(follow_calls >= 1);
    let again = app.draw("twitchdev").await;
    assert_eq!(again["excluded"], raffle["excluded"], "{again}");
    assert_eq!(
        app.twitch()
            .requests("/helix/users")
            .iter()
            .filter(|r| r.query_pairs.iter().any(|(k, _)| k == "id"))
            .count(),
        1,
        "cached account ages are not asked again"
    );
    assert_eq!(
        app.twitch().requests("/helix/channels/followers").len(),
        follow_calls,
        "fresh follow answers are not asked again"
    );
}

#[tokio::test]
async fn helix_down_excludes_and_counts_the_viewers_it_cannot_judge() {
    let app = connected_app(&[("MIN_ACCOUNT_AGE", "7d"), ("MIN_FOLLOW_AGE", "0s")]).await;
    gated_viewers(&app).await;
    app.twitch().set_helix_failure(Some(503));

    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["outcome"], "no_candidates", "never included: {raffle}");
    assert_eq!(raffle["candidates"], 0, "{raffle}");
    assert_eq!(raffle["excluded"], json!({"unknown_account_age": 5}), "{raffle}");
    let page = app.get("/").await.body;
    assert!(page.contains("5 not eligible"), "{page}");
    assert!(page.contains("account age unknown"), "{page}");

    // Twitch answers again: the same viewers are judged on their data.
    app.twitch().set_helix_failure(None);
    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["candidates"], 2, "old and recent follow: {raffle}");
    assert_eq!(
        raffle["excluded"],
        json!({"young_account": 1, "not_following": 2}),
        "{raffle}"
    );
}

#[tokio::test]
async fn a_connection_without_the_follower_scope_is_shown_and_fails_closed() {
    let app = connected_app(&[("MIN_FOLLOW_AGE", "0s")]).await;
    // Connected before MIN_FOLLOW_AGE was set: the token lacks the scope.
    app.database
        .client()
        .await
        .execute("UPDATE twitch_tokens SET scopes = '{}'", &[])
        .await
        .expect("scopes");
    gated_viewers(&app).await;

    let status = app.channel_status("twitchdev").await;
    assert_eq!(
        status["missing_scopes"],
        json!(["moderator:read:followers"]),
        "{status}"
    );
    let page = app.get("/").await.body;
    assert!(
        page.contains("The Twitch connection lacks moderator:read:followers"),
        "{page}"
    );

    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["candidates"], 0, "{raffle}");
    assert_eq!(raffle["excluded"], json!({"unknown_follow": 5}), "{raffle}");
    assert!(
        app.twitch().requests("/helix/channels/followers").is_empty(),
        "an answer without the scope lists nobody, so it is never asked"
    );
}

#[tokio::test]
async fn without_the_chatters_scope_lurkers_are_not_listed_and_the_dashboard_says_so() {
    let clock = driven_clock();
    let app = TestApp::builder()
        .twitch(streamer())
        .clock(&clock)
        .setting("PRESENCE_SOURCES", "chat,chatters")
        .start()
        .await;
    app.connect_streamer().await;
    app.database
        .client()
        .await
        .execute("UPDATE twitch_tokens SET scopes = '{}'", &[])
        .await
        .expect("scopes");
    app.twitch().set_chatters(STREAMER_ID, vec![lurker(1)]);
    app.twitch().set_live(STREAMER_ID, true);
    let status = app.channel_status("twitchdev").await;
    assert_eq!(status["missing_scopes"], json!(["moderator:read:chatters"]), "{status}");
    run_chatters_poll(&clock).await;
    // The poller asleep again means this poll finished.
    poller_asleep(&clock).await;
    assert!(
        app.twitch().requests("/helix/chat/chatters").is_empty(),
        "the stored scopes say it would be refused"
    );
    assert_eq!(app.database.count("SELECT count(*) FROM presence").await, 0);
}

/// Makes the presence row of `login` a lurker listed by Get Chatters.
async fn make_lurker(app: &TestApp, login: &str) {
    app.database
        .client()
        .await
        .execute(
            "UPDATE presence SET message_count = 0, source = 'chatters' WHERE login = $1",
            &[&login],
        )
        .await
        .expect("lurker");
}

#[tokio::test]
async fn each_channel_is_gated_by_its_own_values_over_the_environment() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::migrated().await);
    let quiet = database.insert_channel("quiet", Some("b-quiet")).await;
    let chatty = database.insert_channel("chatty", Some("b-chatty")).await;
    database.add_viewer(quiet, &Viewer::new("800001", "shy")).await;
    database.add_viewer(chatty, &Viewer::new("800002", "silent")).await;
    database.add_viewer(chatty, &Viewer::new("800003", "talker")).await;
    let app = TestApp::builder()
        .database(database.clone())
        .setting("PRESENCE_SOURCES", "chat,chatters")
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;
    make_lurker(&app, "shy").await;
    make_lurker(&app, "silent").await;

    let before = get_settings(&app, "quiet").await.json();
    assert_eq!(
        before["settings"]["min_messages"],
        json!({"value": 1, "source": "default"}),
        "{before}"
    );
    assert_eq!(
        before["settings"]["presence_sources"],
        json!({"value": "chat,chatters", "source": "default"}),
        "the environment's value is the default"
    );
    assert_eq!(
        before["settings"]["min_follow_age"],
        json!({"value": "off", "source": "default"})
    );
    assert_eq!(
        app.draw("quiet").await["excluded"],
        json!({"too_few_messages": 1}),
        "the environment's MIN_MESSAGES=1 until the channel sets its own"
    );

    let changed = put_settings(&app, "quiet", &json!({"min_messages": 0})).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(
        changed.json()["settings"]["min_messages"],
        json!({"value": 0, "source": "channel"})
    );
    let raffle = app.draw("quiet").await;
    assert_eq!(raffle["outcome"], "won", "{raffle}");
    assert_eq!(raffle["winner"]["login"], "shy", "the channel's lurker wins: {raffle}");
    assert_eq!(raffle["excluded"], json!({}), "{raffle}");

    let raffle = app.draw("chatty").await;
    assert_eq!(raffle["candidates"], 1, "{raffle}");
    assert_eq!(raffle["winner"]["login"], "talker", "{raffle}");
    assert_eq!(
        raffle["excluded"],
        json!({"too_few_messages": 1}),
        "another channel still excludes its lurker: {raffle}"
    );

    // A channel's own gate can also be stricter than the environment's.
    let strict = put_settings(
        &app,
        "chatty",
        &json!({"subscribers_only": true, "presence_sources": "chat"}),
    )
    .await;
    assert_eq!(strict.status, 200, "{}", strict.body);
    let raffle = app.draw("chatty").await;
    assert_eq!(raffle["outcome"], "no_candidates", "{raffle}");
    assert_eq!(
        raffle["excluded"],
        json!({"not_subscriber": 1}),
        "with its own PRESENCE_SOURCES=chat the lurker is not even present: {raffle}"
    );
    assert_eq!(
        database
            .count("SELECT count(*) FROM channel_settings WHERE min_messages = '0' AND presence_sources IS NULL")
            .await,
        1,
        "stored in the environment's syntax, one column each"
    );
}

#[tokio::test]
async fn a_bad_gate_value_is_refused_naming_the_field_and_stores_nothing() {
    let database = std::sync::Arc::new(crate::helpers::TestDatabase::migrated().await);
    database.insert_channel("tuned", Some("b-tuned")).await;
    let app = TestApp::builder().database(database.clone()).start().await;
    for (body, field) in [
        (json!({"min_messages": -1}), "min_messages: invalid value"),
        (json!({"min_messages": "lots"}), "min_messages: invalid value"),
        (
            json!({"presence_sources": "chatters"}),
            "presence_sources: invalid value",
        ),
        (
            json!({"presence_sources": "chat,lurkers"}),
            "presence_sources: unknown source",
        ),
        (json!({"min_follow_age": "soon"}), "min_follow_age: invalid duration"),
        (json!({"min_account_age": "-7d"}), "min_account_age: invalid duration"),
        (
            json!({"subscribers_only": "maybe"}),
            "subscribers_only: invalid boolean",
        ),
        (
            json!({"min_messages": 0, "subscribers_only": 2}),
            "subscribers_only: expected true or false",
        ),
    ] {
        let refused = put_settings(&app, "tuned", &body).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        let message = refused.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let after = get_settings(&app, "tuned").await.json();
    for name in [
        "presence_sources",
        "min_follow_age",
        "min_account_age",
        "subscribers_only",
        "min_messages",
    ] {
        assert_eq!(after["settings"][name]["source"], "default", "{name}: {after}");
    }
    assert_eq!(database.count("SELECT count(*) FROM channel_settings").await, 0);
}

#[tokio::test]
async fn a_channel_that_turns_on_chatters_is_asked_for_the_scope_and_listed() {
    let clock = driven_clock();
    let app = TestApp::builder()
        .twitch(streamer())
        .clock(&clock)
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;
    let scope_of = |authorize: &url::Url| {
        authorize
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (authorize, cookie) = app.start_connect().await;
    assert_eq!(scope_of(&authorize), "", "no channel uses a gate yet");
    let callback = app.consent(&authorize).await;
    assert_eq!(app.callback(&callback, Some(&cookie)).await.status, 303);
    app.twitch().set_chatters(STREAMER_ID, vec![lurker(1)]);
    app.twitch().set_live(STREAMER_ID, true);
    assert!(
        clock
            .sleepers()
            .iter()
            .all(|at| *at != clock.now() + Duration::from_secs(60)),
        "no channel lists chatters: the poller does not tick"
    );

    let changed = put_settings(
        &app,
        "twitchdev",
        &json!({"presence_sources": "chat,chatters", "min_messages": 0, "min_follow_age": "0s"}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    let status = app.channel_status("twitchdev").await;
    assert_eq!(
        status["missing_scopes"],
        json!(["moderator:read:chatters", "moderator:read:followers"]),
        "the channel's own gates need scopes its token lacks: {status}"
    );
    // The change wakes the poller; its token cannot list chatters yet.
    poller_asleep(&clock).await;
    assert!(app.twitch().requests("/helix/chat/chatters").is_empty());

    // Connecting again asks for what the channel's gates use.
    let (authorize, cookie) = app.start_connect().await;
    assert_eq!(
        scope_of(&authorize),
        "moderator:read:chatters moderator:read:followers",
        "{authorize}"
    );
    let callback = app.consent(&authorize).await;
    assert_eq!(app.callback(&callback, Some(&cookie)).await.status, 303);
    let status = app.channel_status("twitchdev").await;
    assert!(status.get("missing_scopes").is_none(), "{status}");
    app.twitch().set_followers(
        STREAMER_ID,
        vec![(User::new("500001", "lurker1", "Lurker1"), LONG_AGO.to_owned())],
    );
    run_chatters_poll(&clock).await;
    app.database
        .wait_count(
            "SELECT count(*) FROM presence WHERE source = 'chatters'",
            1,
            "the lurker listed",
        )
        .await;
    let raffle = app.draw("twitchdev").await;
    assert_eq!(raffle["winner"]["login"], "lurker1", "{raffle}");
    assert_eq!(raffle["excluded"], json!({}), "{raffle}");
}

/// The round judges the gates in SQL over presence's copies of the facts;
/// the viewers API and `!odds` judge them in Rust over the caches
/// (`eligibility::judge`). Both must give every viewer the same verdict.
#[tokio::test]
async fn the_rounds_sql_verdicts_match_the_pure_judge() {
    use kinoyubot::raffle::eligibility::{Gates, PresenceSources, Verdict};
    use kinoyubot::raffle::{RaffleEngine, RaffleRules, RoundResult, Trigger};

    let database = crate::helpers::TestDatabase::migrated().await;
    let id = database.insert_channel("judged", Some("b-judged")).await;
    let client = database.client().await;
    // (user id, messages, subscriber, account age in days, follow: None =
    // never asked, Some((followed days ago or None = not following,
    // answer's age in hours)))
    type Case = (&'static str, i64, bool, Option<i64>, Option<(Option<i64>, i64)>);
    let cases: [Case; 12] = [
        ("900001", 3, false, Some(400), Some((Some(300), 0))),
        ("900002", 1, false, Some(400), Some((Some(300), 0))),
        ("900003", 3, false, Some(2), Some((Some(300), 0))),
        ("900004", 3, false, None, Some((Some(300), 0))),
        ("900005", 3, false, Some(400), Some((None, 0))),
        ("900006", 3, false, Some(400), Some((Some(0), 0))),
        ("900007", 3, false, Some(400), None),
        ("900008", 3, false, Some(400), Some((Some(300), 7))),
        ("900009", 3, false, Some(-1), Some((Some(300), 0))),
        ("900010", 3, true, Some(400), Some((Some(2), 5))),
        ("900011", 0, true, None, None),
        ("900012", 5, true, Some(8), Some((Some(-1), 1))),
    ];
    for (user_id, messages, subscriber, account_days, follow) in cases {
        let viewer = Viewer {
            subscriber,
            ..Viewer::new(user_id, &format!("v{user_id}"))
        };
        database.add_viewer(id, &viewer).await;
        client
            .execute(
                "UPDATE presence SET message_count = $2 WHERE user_id = $1",
                &[&user_id, &messages],
            )
            .await
            .expect("messages");
        if let Some(days) = account_days {
            client
                .execute(
                    "INSERT INTO twitch_accounts (user_id, created_at)
                     VALUES ($1, now() - make_interval(days => $2::int))",
                    &[&user_id, &i32::try_from(days).expect("days")],
                )
                .await
                .expect("account");
        }
        if let Some((followed_days, answer_hours)) = follow {
            client
                .execute(
                    "INSERT INTO twitch_follows (channel_id, user_id, followed_at, fetched_at)
                     VALUES ($1, $2, now() - make_interval(days => $3::int), now() - make_interval(hours => $4::int))",
                    &[
                        &id,
                        &user_id,
                        &followed_days.map(|d| i32::try_from(d).expect("days")),
                        &i32::try_from(answer_hours).expect("hours"),
                    ],
                )
                .await
                .expect("follow");
        }
    }
    let store = database.store();
    let login = kinoyubot::channel::ChannelLogin::parse("judged").expect("login");
    let channel = store.find_channel(&login).await.expect("find").expect("channel");
    for gates in [
        Gates {
            presence_sources: PresenceSources::Chat,
            min_messages: 2,
            subscribers_only: false,
            min_account_age: Duration::from_secs(7 * 86_400),
            min_follow_age: Some(Duration::from_secs(86_400)),
        },
        Gates {
            presence_sources: PresenceSources::Chat,
            min_messages: 0,
            subscribers_only: true,
            min_account_age: Duration::ZERO,
            min_follow_age: Some(Duration::ZERO),
        },
        Gates::default(),
    ] {
        let rules = RaffleRules {
            only_when_live: false,
            gates,
            ..RaffleRules::default()
        };
        let engine = RaffleEngine::new(
            store.clone(),
            rules,
            std::sync::Arc::new(kinoyubot::twitch::live_status::UnknownLiveStatus),
        );
        let judged = engine.judge_viewers(&channel).await.expect("judge");
        let mut expected = kinoyubot::raffle::eligibility::ExclusionCounts::default();
        let mut eligible: Vec<String> = Vec::new();
        for (viewer, verdict) in &judged {
            match verdict {
                Verdict::Eligible => eligible.push(viewer.user_id.clone()),
                Verdict::Excluded(reason) => expected.add(*reason),
            }
        }
        eligible.sort();
        let RoundResult::Recorded(record) = engine.run_round(&login, Trigger::Manual, None).await.expect("round")
        else {
            panic!("not recorded")
        };
        assert_eq!(record.excluded, expected, "{gates:?}");
        let snapshot: String = client
            .query_one("SELECT candidates FROM raffles WHERE id = $1", &[&record.id])
            .await
            .expect("snapshot")
            .get(0);
        let mut drawn: Vec<String> = serde_json::from_str::<Vec<Value>>(&snapshot)
            .expect("snapshot json")
            .iter()
            .map(|c| c[0].as_str().unwrap_or_default().to_owned())
            .collect();
        drawn.sort();
        assert_eq!(drawn, eligible, "{gates:?}");
    }
}
