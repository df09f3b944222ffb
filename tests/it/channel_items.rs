//! Per-channel prize lists (issue 16 item 3, SPEC §10, §13, §17): a
//! channel with its own list draws from it and spends only its stock, the
//! others use the default list of `ITEMS_FILE`; the control room's
//! `GET`/`PUT /api/channels/{login}/items`; `kinoyubot items import` and
//! `export`; unclaimed prizes going back to the list they came from.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::chat::{bot_user, chat_app};
use crate::control_session::{send, sign_in};
use crate::fake_twitch::{User, streamer};
use crate::helpers::{ADMIN_TOKEN, Reply, TestApp, TestDatabase, Viewer, wait_for_within};
use crate::process::kinoyubot;

/// The default list: one prize that every round wins, five in stock.
const DEFAULT_KEY: &str = "[[items]]\nname = \"Key\"\nprobability = 1.0\nstock = 5\n";

/// `PUT /api/channels/{channel}/items{query}` with `body`, as the admin.
async fn put_items(app: &TestApp, channel: &str, query: &str, body: &Value) -> Reply {
    let request = reqwest::Client::new()
        .put(app.url(&format!("/api/channels/{channel}/items{query}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body);
    Reply::to(request).await
}

/// `GET /api/channels/{channel}/items` as the admin.
async fn get_items(app: &TestApp, channel: &str) -> Value {
    let authorization = format!("Bearer {ADMIN_TOKEN}");
    let reply = app
        .send(
            reqwest::Method::GET,
            &format!("/api/channels/{channel}/items"),
            Some(&authorization),
        )
        .await;
    assert_eq!(reply.status, 200, "GET items of #{channel}: {}", reply.body);
    reply.json()
}

/// Remaining stock of the active item `name` in the list of the channel
/// with this login (`None`: the default list).
async fn stock(database: &TestDatabase, channel: Option<&str>, name: &str) -> Option<i32> {
    let rows = database
        .client()
        .await
        .query(
            "SELECT i.stock FROM items i LEFT JOIN channels c ON c.id = i.channel_id
             WHERE i.active AND i.name = $1 AND c.login IS NOT DISTINCT FROM $2",
            &[&name, &channel],
        )
        .await
        .expect("items");
    assert_eq!(rows.len(), 1, "one active {name:?} in the list of {channel:?}");
    rows[0].get(0)
}

#[tokio::test]
async fn channels_with_their_own_lists_never_spend_each_others_stock() {
    let database = Arc::new(TestDatabase::migrated().await);
    for (login, user_id) in [("alpha", "1"), ("beta", "2"), ("gamma", "3")] {
        let id = database.insert_channel(login, Some(&format!("b-{login}"))).await;
        database
            .add_viewer(id, &Viewer::new(&format!("7{user_id}"), "viewer"))
            .await;
    }
    let app = TestApp::builder()
        .database(database.clone())
        .items(DEFAULT_KEY)
        .setting("ONLY_WHEN_LIVE", "false")
        .start()
        .await;

    // Both lists name the default list's prize: stock is per list, not per name.
    let alpha = put_items(
        &app,
        "alpha",
        "",
        &json!({"items": [{"name": "Key", "probability": 1.0, "stock": 2}]}),
    )
    .await;
    assert_eq!(alpha.status, 200, "{}", alpha.body);
    assert_eq!(alpha.json()["source"], "channel");
    let beta = put_items(
        &app,
        "beta",
        "",
        &json!({"items": [{"name": "Key", "probability": 1.0, "stock": 3}]}),
    )
    .await;
    assert_eq!(beta.status, 200, "{}", beta.body);

    for _ in 0..2 {
        let won = app.draw("alpha").await;
        assert_eq!(
            (won["outcome"].as_str(), won["item"].as_str()),
            (Some("won"), Some("Key"))
        );
    }
    assert_eq!(stock(&database, Some("alpha"), "Key").await, Some(0));
    let empty = app.draw("alpha").await;
    assert_eq!(
        empty["outcome"], "no_prize",
        "alpha's own stock ran out; it never takes beta's or the default's"
    );
    assert_eq!(stock(&database, Some("beta"), "Key").await, Some(3));
    assert_eq!(stock(&database, None, "Key").await, Some(5));

    assert_eq!(app.draw("beta").await["outcome"], "won");
    assert_eq!(stock(&database, Some("beta"), "Key").await, Some(2));
    assert_eq!(stock(&database, Some("alpha"), "Key").await, Some(0));
    assert_eq!(
        stock(&database, None, "Key").await,
        Some(5),
        "the default list is untouched"
    );

    // A channel without a list draws from the default one.
    assert_eq!(get_items(&app, "gamma").await["source"], "default");
    assert_eq!(app.draw("gamma").await["outcome"], "won");
    assert_eq!(stock(&database, None, "Key").await, Some(4));
    let gamma = get_items(&app, "gamma").await;
    assert_eq!(gamma["items"], json!([{"name": "Key", "probability": 1.0, "stock": 4}]));

    // Every win names the row of its own list.
    let misattributed = database
        .count(
            "SELECT count(*) FROM raffles r JOIN items i ON i.id = r.item_id
             WHERE r.outcome = 'won' AND i.channel_id IS DISTINCT FROM
                   (CASE WHEN (SELECT login FROM channels WHERE id = r.channel_id) = 'gamma' THEN NULL
                         ELSE r.channel_id END)",
        )
        .await;
    assert_eq!(misattributed, 0);
    assert_eq!(
        database
            .count("SELECT count(*) FROM raffles WHERE outcome = 'won' AND item_id IS NULL")
            .await,
        0
    );

    // Back to the default list: alpha's rows are kept (past raffles name
    // them) but no longer drawn.
    let reset = put_items(&app, "alpha", "", &json!({"items": null})).await;
    assert_eq!(reset.status, 200, "{}", reset.body);
    assert_eq!(reset.json()["source"], "default");
    assert_eq!(reset.json()["items"][0]["stock"], 4);
    assert_eq!(app.draw("alpha").await["outcome"], "won");
    assert_eq!(stock(&database, None, "Key").await, Some(3));
    assert_eq!(
        database
            .count("SELECT count(*) FROM items i JOIN channels c ON c.id = i.channel_id WHERE c.login = 'alpha' AND NOT i.active")
            .await,
        1
    );
}

#[tokio::test]
async fn the_prize_editor_round_trips_and_refuses_a_bad_list_naming_the_item() {
    let database = Arc::new(TestDatabase::migrated().await);
    database.insert_channel("tuned", Some("b-tuned")).await;
    let app = TestApp::builder()
        .database(database.clone())
        .items(DEFAULT_KEY)
        .start()
        .await;

    let before = get_items(&app, "tuned").await;
    assert_eq!(before["source"], "default");
    assert_eq!(
        before["items"],
        json!([{"name": "Key", "probability": 1.0, "stock": 5}])
    );
    assert_eq!(before["no_prize_probability"], 0.0);

    let list = json!([
        {"name": "Steam key", "probability": 0.05, "stock": 3},
        {"name": "Sticker", "probability": 0.35, "stock": null}
    ]);
    let put = put_items(&app, "tuned", "", &json!({"items": list})).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let after = get_items(&app, "tuned").await;
    assert_eq!(after["source"], "channel");
    assert_eq!(after["items"], list, "the GET answers what the PUT stored");
    let no_prize = after["no_prize_probability"].as_f64().expect("a number");
    assert!((no_prize - 0.6).abs() < 1e-9, "{no_prize}");
    // The check-items table of the list, for the dashboard.
    let table = &after["table"];
    assert_eq!(table["header"], json!(["item", "probability", "stock"]));
    assert_eq!(
        table["rows"],
        json!([
            ["Steam key", "5.00%", "3"],
            ["Sticker", "35.00%", "unlimited"],
            ["no prize", "60.00%", "-"]
        ])
    );
    assert!(
        table["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("item       probability  stock\n"),
        "{table}"
    );

    // Stock: the same configured value keeps what remains; a new value restocks.
    database
        .client()
        .await
        .batch_execute("UPDATE items SET stock = 1 WHERE name = 'Steam key'")
        .await
        .expect("two units won");
    assert_eq!(put_items(&app, "tuned", "", &json!({"items": list})).await.status, 200);
    assert_eq!(stock(&database, Some("tuned"), "Steam key").await, Some(1));
    let restocked = json!([{"name": "Steam key", "probability": 0.05, "stock": 10}]);
    let put = put_items(&app, "tuned", "", &json!({"items": restocked})).await;
    assert_eq!(put.json()["items"], restocked, "Sticker left the list");
    assert_eq!(
        database
            .count("SELECT count(*) FROM items WHERE name = 'Sticker' AND NOT active")
            .await,
        1,
        "a removed item is kept, deactivated"
    );

    // Bad lists: 400 naming the item, in the reader's language, and
    // nothing stored changes.
    let stored = get_items(&app, "tuned").await;
    let rows_before = database.count("SELECT count(*) FROM items").await;
    for (items, query, expected) in [
        (
            json!([{"name": "Key", "probability": 0.1}, {"name": "Steam key", "probability": 1.5}]),
            "",
            "items: item 2 \"Steam key\": probability 1.5 is not in (0, 1]; write 0.015 for 1.5 %",
        ),
        (
            json!([{"name": "Key", "probability": 0.1, "stock": -1}]),
            "",
            "items: item 1 \"Key\": stock must be a whole number from 0 to 2147483647, got -1",
        ),
        (
            json!([{"name": "Key", "probability": 0.1}, {"name": "key ", "probability": 0.1}]),
            "",
            "items: item 2 \"key \": duplicate name (same as item 1 \"Key\")",
        ),
        (
            json!([{"name": "A", "probability": 0.6}, {"name": "B", "probability": 0.6}]),
            "",
            "items: probabilities sum to 1.2, which is more than 1",
        ),
        (
            json!([{"name": "Steam\u{0}Key", "probability": 0.5}]),
            "",
            "items: item 1 \"Steam\\0Key\": name has the control character U+0000 at position 6",
        ),
        (
            json!([]),
            "",
            "items: no items defined (need at least one [[items]] entry)",
        ),
        (
            json!([{"name": "Steam key", "probability": 1.5}]),
            "?lang=pt-BR",
            "items: item 1 \"Steam key\": probabilidade 1.5 não está em (0, 1]; escreva 0.015 para 1.5 %",
        ),
    ] {
        let refused = put_items(&app, "tuned", query, &json!({"items": items})).await;
        assert_eq!(refused.status, 400, "{items}: {}", refused.body);
        assert_eq!(refused.json()["error"], expected, "{items}");
    }
    let extra = put_items(&app, "tuned", "", &json!({"items": null, "source": "default"})).await;
    assert_eq!(extra.status, 400, "{}", extra.body);
    assert_eq!(get_items(&app, "tuned").await, stored, "a refused PUT changes nothing");
    assert_eq!(database.count("SELECT count(*) FROM items").await, rows_before);

    assert_eq!(put_items(&app, "nobody", "", &json!({"items": null})).await.status, 404);
    let anonymous = app.send(reqwest::Method::GET, "/api/channels/tuned/items", None).await;
    assert_eq!(anonymous.status, 401, "prize lists are managed, not public");
    let too_large = put_items(
        &app,
        "tuned",
        "",
        &json!({"items": [{"name": "x".repeat(300 * 1024), "probability": 0.1}]}),
    )
    .await;
    assert_eq!(too_large.status, 413, "{}", too_large.body);
    let malformed = Reply::to(
        reqwest::Client::new()
            .put(app.url("/api/channels/tuned/items"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body("{\"items\": ["),
    )
    .await;
    assert_eq!(malformed.status, 400, "not a method problem: {}", malformed.body);
}

#[tokio::test]
async fn a_broadcaster_reads_and_writes_only_their_own_prize_list() {
    let app = TestApp::builder()
        .twitch(streamer())
        .served_public_url()
        .setting("CONNECT_POLICY", "anyone")
        .start()
        .await;
    let origin = app.address.clone();
    let own = "/api/channels/twitchdev/items";
    let list = json!({"items": [{"name": "Badge", "probability": 0.5, "stock": 1}]});

    let streamer_browser = sign_in(&app).await;
    let get = send(&app, reqwest::Method::GET, own, &streamer_browser, None, None, false).await;
    assert_eq!(get.status, 200, "{}", get.body);
    let no_csrf = send(
        &app,
        reqwest::Method::PUT,
        own,
        &streamer_browser,
        Some(list.clone()),
        Some(&origin),
        false,
    )
    .await;
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    let put = send(
        &app,
        reqwest::Method::PUT,
        own,
        &streamer_browser,
        Some(list.clone()),
        Some(&origin),
        true,
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json()["source"], "channel");

    app.twitch()
        .set_consenting(User::new("222", "otherstreamer", "OtherStreamer"));
    let other_browser = sign_in(&app).await;
    for (method, body) in [
        (reqwest::Method::GET, None),
        (reqwest::Method::PUT, Some(json!({"items": null}))),
    ] {
        let refused = send(&app, method.clone(), own, &other_browser, body, Some(&origin), true).await;
        assert_eq!(refused.status, 403, "{method}: {}", refused.body);
        assert!(
            refused.json()["error"]
                .as_str()
                .unwrap_or_default()
                .contains("otherstreamer")
        );
    }
    let theirs = send(
        &app,
        reqwest::Method::GET,
        "/api/channels/otherstreamer/items",
        &other_browser,
        None,
        None,
        false,
    )
    .await;
    assert_eq!(theirs.status, 200, "{}", theirs.body);
    assert_eq!(theirs.json()["source"], "default");
    let mine = send(&app, reqwest::Method::GET, own, &streamer_browser, None, None, false).await;
    assert_eq!(
        mine.json()["items"],
        list["items"],
        "the other streamer changed nothing"
    );
}

#[tokio::test]
async fn an_unclaimed_prize_goes_back_to_the_list_it_came_from() {
    let app = chat_app()
        .items(DEFAULT_KEY)
        .setting("CLAIM_WINDOW", "1s")
        .setting("CLAIM_REDRAWS", "0")
        .start()
        .await;
    app.connect_bot(&bot_user()).await;
    app.chat("twitchdev", "viewer", "hello");
    app.wait_for_presence("twitchdev", "the viewer", |rows| rows.len() == 1)
        .await;
    let own = put_items(
        &app,
        "twitchdev",
        "",
        &json!({"items": [{"name": "Key", "probability": 1.0, "stock": 2}]}),
    )
    .await;
    assert_eq!(own.status, 200, "{}", own.body);
    let won = app.draw("twitchdev").await;
    assert_eq!(won["claim"]["status"], "pending");
    assert_eq!(stock(&app.database, Some("twitchdev"), "Key").await, Some(1));
    wait_for_within(
        Duration::from_secs(20),
        "the unit back in the channel's list",
        || async { (stock(&app.database, Some("twitchdev"), "Key").await == Some(2)).then_some(()) },
    )
    .await;
    let id = won["id"].as_i64().expect("id");
    let expired = app
        .get_raffles_of("twitchdev")
        .await
        .into_iter()
        .find(|r| r["id"].as_i64() == Some(id))
        .expect("listed");
    assert_eq!(expired["claim"]["status"], "expired");
    assert_eq!(
        stock(&app.database, None, "Key").await,
        Some(5),
        "the default list's Key is another prize"
    );
}

#[tokio::test]
async fn items_import_and_export_round_trip_through_the_binary() {
    let database = TestDatabase::migrated().await;
    database.insert_channel("somestreamer", Some("b-1")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: Vec<String>| {
        kinoyubot(dir.path())
            .args(args)
            .env("DATABASE_URL", &database.url)
            .output()
    };
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();

    // Without a list of its own, the export is the default (none here).
    let empty = run(args(&["items", "export", "--channel", "somestreamer"])).await;
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert!(empty.stderr.contains("source: default"), "{}", empty.stderr);
    assert!(empty.stdout.contains("# source: default\n"), "{}", empty.stdout);

    let file = dir.path().join("prizes.toml");
    std::fs::write(
        &file,
        "[[items]]\nname = \"Steam \\\"key\\\"\"\nprobability = 0.05\nstock = 3\n\n[[items]]\nname = \"Sticker\"\nprobability = 0.2\n",
    )
    .expect("write");
    let file_arg = file.display().to_string();
    let imported = run(args(&["items", "import", "--channel", "somestreamer", &file_arg])).await;
    assert_eq!(imported.code, Some(0), "{}{}", imported.stdout, imported.stderr);
    assert!(
        imported.stdout.contains("now draws from its own prize list"),
        "{}",
        imported.stdout
    );
    assert!(
        imported
            .stdout
            .lines()
            .any(|line| line.starts_with("no prize") && line.ends_with("75.00%  -")),
        "the check-items table of the list: {}",
        imported.stdout
    );
    database
        .client()
        .await
        .batch_execute("UPDATE items SET stock = 2 WHERE name = 'Steam \"key\"'")
        .await
        .expect("one unit won");

    let exported = run(args(&["items", "export", "--channel", "somestreamer"])).await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    assert!(exported.stderr.contains("source: channel"), "{}", exported.stderr);
    assert!(exported.stdout.contains("# source: channel\n"), "{}", exported.stdout);
    assert!(exported.stdout.contains("stock = 3  # 2 left\n"), "{}", exported.stdout);
    let export_file = dir.path().join("export.toml");
    std::fs::write(&export_file, &exported.stdout).expect("write");
    let again = run(args(&[
        "items",
        "import",
        "--channel",
        "somestreamer",
        &export_file.display().to_string(),
    ]))
    .await;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    let reexported = run(args(&["items", "export", "--channel", "somestreamer"])).await;
    assert_eq!(
        reexported.stdout, exported.stdout,
        "re-importing the export gives the same list"
    );
    assert_eq!(
        database
            .count("SELECT count(*) FROM items WHERE active AND channel_id IS NOT NULL")
            .await,
        2
    );

    // A bad file: exit 2 naming the item, nothing written.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[items]]\nname = \"Steam key\"\nprobability = 1.5\n").expect("write");
    let refused = run(args(&[
        "items",
        "import",
        "--channel",
        "somestreamer",
        &bad.display().to_string(),
    ]))
    .await;
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("item 1 \"Steam key\" (line 1): probability 1.5 is not in (0, 1]"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        run(args(&["items", "export", "--channel", "somestreamer"]))
            .await
            .stdout,
        exported.stdout
    );

    // An unknown channel is a clear input error.
    let unknown = run(args(&["items", "import", "--channel", "nobody", &file_arg])).await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("unknown channel nobody"), "{}", unknown.stderr);
}
