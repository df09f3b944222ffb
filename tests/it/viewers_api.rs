//! The control room's viewer list and resending (issue 16 items 4 and 6,
//! SPEC §13): `!odds`'s numbers for every active viewer, each reason a
//! viewer cannot win, paging without loss or repeats, who may ask; a failed
//! delivery resent once, a sent one never.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::chat::{bot_user, chat_app, said};
use crate::control_session::{send, sign_in};
use crate::fake_discord::Reply as DiscordReply;
use crate::fake_irc::twitch_id;
use crate::fake_twitch::streamer;
use crate::helpers::{ADMIN_TOKEN, Reply, TestApp, TestDatabase, Viewer, wait_for, wait_until};

/// `GET /api/channels/{channel}/viewers{query}` as the admin.
async fn viewers(app: &TestApp, channel: &str, query: &str) -> Reply {
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    app.send(
        reqwest::Method::GET,
        &format!("/api/channels/{channel}/viewers{query}"),
        Some(&authorization),
    )
    .await
}

/// Every viewer of the channel, walking the pages `limit` at a time.
async fn all_pages(app: &TestApp, channel: &str, limit: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let query = match &cursor {
            Some(cursor) => format!("?limit={limit}&cursor={cursor}"),
            None => format!("?limit={limit}"),
        };
        let page = viewers(app, channel, &query).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let body = page.json();
        let shown = body["viewers"].as_array().expect("viewers").clone();
        assert!(shown.len() <= limit, "{body}");
        seen.extend(shown);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("more than 100 pages");
}

/// The viewer `login` of a list.
fn entry<'a>(list: &'a [Value], login: &str) -> &'a Value {
    list.iter()
        .find(|v| v["login"] == login)
        .unwrap_or_else(|| panic!("{login} not listed: {list:#?}"))
}

#[tokio::test]
async fn the_viewer_list_gives_the_same_chances_as_odds_in_chat() {
    let items = "[[items]]\nname = \"Key\"\nprobability = 0.5\n";
    let app = chat_app()
        .items(items)
        .setting("SUBSCRIBER_LUCK", "3")
        .setting("IGNORE_USERS", "nightbot")
        .start()
        .await;
    app.connect_bot(&bot_user()).await;
    let subscriber = crate::fake_irc::privmsg(
        "twitchdev",
        &app.irc.room_id("twitchdev"),
        &twitch_id("alice"),
        "alice",
        "hello",
    )
    .replace("badges=;", "badges=subscriber/1;")
    .replace("subscriber=0", "subscriber=1");
    app.say("twitchdev", &subscriber);
    for viewer in ["bob", "nightbot"] {
        app.chat("twitchdev", viewer, "hello");
    }
    let bot = bot_user();
    app.say(
        "twitchdev",
        &crate::fake_irc::privmsg("twitchdev", &app.irc.room_id("twitchdev"), &bot.id, &bot.login, "hi"),
    );
    app.wait_for_presence("twitchdev", "four chatters", |rows| rows.len() == 4)
        .await;

    let list = all_pages(&app, "twitchdev", 100).await;
    let alice = entry(&list, "alice");
    assert_eq!(
        (
            alice["eligible"].clone(),
            alice["weight"].clone(),
            alice["reason"].clone()
        ),
        (json!(true), json!(3), Value::Null)
    );
    let bob = entry(&list, "bob");
    assert_eq!(bob["weight"], 1);
    // 3 of 4 tickets × the prize chance 0.5, and 1 of 4 × 0.5.
    assert_eq!(alice["chance"].as_f64(), Some(0.375));
    assert_eq!(bob["chance"].as_f64(), Some(0.125));
    assert_eq!(alice["user_id"], twitch_id("alice").as_str());
    assert_eq!(entry(&list, "nightbot")["reason"], "ignored");
    let bot_entry = entry(&list, &bot.login);
    assert_eq!(
        (bot_entry["eligible"].clone(), bot_entry["reason"].clone()),
        (json!(false), json!("bot"))
    );
    assert_eq!(bot_entry["chance"].as_f64(), Some(0.0));

    // What `!odds` says in chat for the same viewers.
    app.chat("twitchdev", "bob", "!odds");
    let lines = said(&app, 1).await;
    let percent = |chance: &Value| format!("{:.1}%", chance.as_f64().expect("chance") * 100.0);
    assert_eq!(
        lines[0],
        format!(
            "@bob your chance in the next raffle: {} (among 2 eligible viewers)",
            percent(&bob["chance"])
        )
    );
    let again = crate::fake_irc::privmsg(
        "twitchdev",
        &app.irc.room_id("twitchdev"),
        &twitch_id("alice"),
        "alice",
        "!odds",
    )
    .replace("badges=;", "badges=subscriber/1;")
    .replace("subscriber=0", "subscriber=1");
    app.say("twitchdev", &again);
    let lines = said(&app, 2).await;
    assert_eq!(
        lines[1],
        format!(
            "@alice your chance in the next raffle: {} (among 2 eligible viewers)",
            percent(&alice["chance"])
        )
    );
}

#[tokio::test]
async fn every_reason_a_viewer_cannot_win_is_named_and_pages_lose_nobody() {
    let database = Arc::new(TestDatabase::migrated().await);
    let channel = database.insert_channel("chan", Some("b-chan")).await;
    database.add_viewer(channel, &Viewer::new("10", "lucky")).await;
    let app = TestApp::builder()
        .database(database.clone())
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("WINNER_COOLDOWN", "1h")
        .setting("IGNORE_USERS", "nightbot")
        .setting("MIN_MESSAGES", "2")
        .start()
        .await;
    database
        .client()
        .await
        .execute("UPDATE presence SET message_count = 5", &[])
        .await
        .expect("messages");
    let won = app.draw("chan").await;
    assert_eq!(won["winner"]["login"], "lucky", "{won}");

    let mut broadcaster = Viewer::new("b-chan", "chan");
    broadcaster.broadcaster = true;
    let mut banned = Viewer::new("11", "banned_one");
    banned.banned = Some(None);
    let mut timed_out = Viewer::new("12", "timed_out");
    timed_out.banned = Some(Some(600));
    for viewer in [
        broadcaster,
        banned,
        timed_out,
        Viewer::new("13", "nightbot"),
        Viewer::new("14", "thebot"),
        Viewer::new("15", "amy"),
        Viewer::new("16", "zoe"),
        Viewer::new("17", "quiet"),
    ] {
        database.add_viewer(channel, &viewer).await;
    }
    let mut idle = Viewer::new("18", "idle");
    idle.seen_secs_ago = 7200;
    database.add_viewer(channel, &idle).await;
    let client = database.client().await;
    client
        .execute("UPDATE presence SET message_count = 5 WHERE login <> 'quiet'", &[])
        .await
        .expect("messages");
    client
        .execute(
            "INSERT INTO bot_account (twitch_user_id, login, display_name, access_token, refresh_token, expires_at)
             VALUES ('14', 'thebot', 'TheBot', '\\x00', '\\x00', now() + interval '1 hour')",
            &[],
        )
        .await
        .expect("bot account");

    let list = all_pages(&app, "chan", 100).await;
    let summary: Vec<(String, bool, Value)> = list
        .iter()
        .map(|v| {
            (
                v["login"].as_str().unwrap_or_default().to_owned(),
                v["eligible"].as_bool().unwrap_or_default(),
                v["reason"].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, bool, Value)> = [
        ("amy", true, Value::Null),
        ("zoe", true, Value::Null),
        ("banned_one", false, json!("banned")),
        ("chan", false, json!("broadcaster")),
        ("lucky", false, json!("cooldown")),
        ("nightbot", false, json!("ignored")),
        ("quiet", false, json!("too_few_messages")),
        ("thebot", false, json!("bot")),
        ("timed_out", false, json!("banned")),
    ]
    .into_iter()
    .map(|(login, eligible, reason)| (login.to_owned(), eligible, reason))
    .collect();
    assert_eq!(
        summary, expected,
        "eligible first, then by login; the idle viewer is not active"
    );
    assert_eq!(entry(&list, "amy")["chance"].as_f64(), Some(0.5));
    assert_eq!(entry(&list, "quiet")["weight"], 0);
    assert_eq!(entry(&list, "amy")["display_name"], "AMY");

    // Pages of 2: everyone once, in the same order.
    let paged = all_pages(&app, "chan", 2).await;
    let ids: Vec<&str> = paged.iter().filter_map(|v| v["user_id"].as_str()).collect();
    let all_ids: Vec<&str> = list.iter().filter_map(|v| v["user_id"].as_str()).collect();
    assert_eq!(ids, all_ids);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no repeats");
    let last = viewers(&app, "chan", "?limit=9").await.json();
    assert_eq!(last["next_cursor"], Value::Null, "one page holds all nine");

    for (query, named) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=lots", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=WzIsImEiLCIxIl0", "cursor"),
        ("?page=2", "page"),
    ] {
        let refused = viewers(&app, "chan", query).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        let message = refused.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(named), "{query}: {message}");
    }
    assert_eq!(viewers(&app, "nobody", "").await.status, 404);
    assert_eq!(
        app.send(reqwest::Method::GET, "/api/channels/chan/viewers", None)
            .await
            .status,
        401,
        "the list is not public"
    );
}

#[tokio::test]
async fn a_failed_discord_post_is_resent_once_and_a_sent_one_never() {
    let app = TestApp::builder().setting("ONLY_WHEN_LIVE", "false").start().await;
    let channel = app.database.insert_channel("chan", Some("b-chan")).await;
    app.database.add_viewer(channel, &Viewer::new("10", "viewer")).await;
    app.discord.push([DiscordReply::UnknownWebhook]);
    let won = app.draw("chan").await;
    let id = won["id"].as_i64().expect("raffle id");
    let failed = app.wait_for_delivery(id, "failed").await;
    assert_eq!(failed["delivery"]["failure"], "webhook_gone", "{failed}");
    assert_eq!(failed["deliveries"][0]["kind"], "discord", "{failed}");
    assert_eq!(failed["deliveries"][0]["failure"], "webhook_gone", "{failed}");
    let posts_for = |id: i64| {
        app.discord
            .received()
            .iter()
            .filter(|r| r.raffle_id == Some(id))
            .count()
    };
    assert_eq!(posts_for(id), 1);

    let resent = app.post_as_admin(&format!("/api/raffles/{id}/resend")).await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    let body = resent.json();
    assert_eq!(body["raffle_id"], id);
    assert_eq!(body["resent"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["resent"][0]["kind"], "discord");
    assert_eq!(body["resent"][0]["event"], "win");
    let sent = app.wait_for_delivery(id, "sent").await;
    assert_eq!(sent["delivery"]["failure"], Value::Null);
    assert_eq!(posts_for(id), 2, "posted once more");

    // Sent: nothing to resend, and nothing is posted again.
    let again = app.post_as_admin(&format!("/api/raffles/{id}/resend")).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(
        app.database
            .count(&format!(
                "SELECT count(*) FROM outbox WHERE raffle_id = {id} AND status = 'sent'"
            ))
            .await,
        1
    );
    wait_until("the worker stays idle", || async {
        app.database
            .count("SELECT count(*) FROM outbox WHERE status = 'pending'")
            .await
            == 0
    })
    .await;
    assert_eq!(posts_for(id), 2, "a sent row is never sent again");
    assert_eq!(app.post_as_admin("/api/raffles/999999/resend").await.status, 404);
}

#[tokio::test]
async fn another_broadcaster_cannot_see_viewers_or_resend_and_a_browser_needs_csrf_and_origin() {
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;
    let origin = app.address.clone();
    let browser = sign_in(&app).await;
    let other = app.database.insert_channel("other", Some("b-other")).await;
    app.database.add_viewer(other, &Viewer::new("10", "viewer")).await;
    app.discord.push([DiscordReply::Status(400)]);
    let won = app.draw("other").await;
    let id = won["id"].as_i64().expect("raffle id");
    app.wait_for_delivery(id, "failed").await;

    let theirs = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/other/viewers",
        &browser,
        None,
        None,
        false,
    )
    .await;
    assert_eq!(theirs.status, 403, "{}", theirs.body);
    let own = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/twitchdev/viewers",
        &browser,
        None,
        None,
        false,
    )
    .await;
    assert_eq!(own.status, 200, "a GET needs only the session: {}", own.body);
    let resend_path = format!("/api/raffles/{id}/resend");
    let refused = send(
        &app,
        reqwest::Method::POST,
        &resend_path,
        &browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(refused.status, 403, "another channel's raffle: {}", refused.body);
    for (what, origin_sent, csrf) in [
        ("cross-origin", Some("http://evil.example"), true),
        ("no origin", None, true),
        ("no CSRF token", Some(origin.as_str()), false),
    ] {
        let refused = send(
            &app,
            reqwest::Method::POST,
            &resend_path,
            &browser,
            None,
            origin_sent,
            csrf,
        )
        .await;
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
    }
    let failed = wait_for("the raffle listed", || async {
        app.get_raffles().await.into_iter().find(|r| r["id"] == id)
    })
    .await;
    assert_eq!(failed["delivery"]["status"], "failed", "nothing was resent");
    assert_eq!(failed["delivery"]["failure"], "rejected", "a 400 is not a gone webhook");

    // The streamer's own failed raffle: resent from the browser.
    let own_channel = app
        .database
        .count("SELECT id FROM channels WHERE login = 'twitchdev'")
        .await;
    app.database.add_viewer(own_channel, &Viewer::new("20", "fan")).await;
    app.discord.push([DiscordReply::UnknownWebhook]);
    let mine = app.draw("twitchdev").await;
    let mine_id = mine["id"].as_i64().expect("raffle id");
    app.wait_for_delivery(mine_id, "failed").await;
    let resent = send(
        &app,
        reqwest::Method::POST,
        &format!("/api/raffles/{mine_id}/resend"),
        &browser,
        None,
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    app.wait_for_delivery(mine_id, "sent").await;
}
