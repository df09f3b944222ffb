//! A friendly first run (issue 14 item 5): `run` without a prize list
//! starts, says how to add prizes in the log and on the dashboard, and draws
//! nothing, recording why; the start-up log names the dashboard; the
//! dashboard says "Printed" without a webhook, explains active viewers and
//! candidates, and says when raffles don't wait for the stream.

use crate::helpers::{ADMIN_TOKEN, TestApp, TestDatabase, Viewer, no_redirects, temp_data_dir, wait_until};
use crate::process::kinoyubot;

#[tokio::test(flavor = "multi_thread")]
async fn run_without_items_toml_starts_says_how_to_add_prizes_and_draws_nothing_saying_why() {
    let database = TestDatabase::migrated().await;
    let channel_id = database.insert_channel("first_streamer", Some("8001")).await;
    database.add_viewer(channel_id, &Viewer::new("9001", "viewer")).await;
    let dir = temp_data_dir();
    assert!(!dir.path().join("items.toml").exists());
    let app = kinoyubot(dir.path())
        .env("DATABASE_URL", &database.url)
        .env("ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ONLY_WHEN_LIVE", "false")
        .spawn_run()
        .await;

    // The log says where the dashboard is and how to add prizes.
    let dashboard = app.url("/");
    wait_until("the start-up hints in the log", || {
        let log = app.stderr();
        async move { log.contains("no prize list") }
    })
    .await;
    let log = app.stderr();
    assert!(log.contains(&format!("dashboard: {dashboard}")), "{log}");
    assert!(
        log.contains("items.toml does not exist") && log.contains("kinoyubot check-items"),
        "{log}"
    );

    // So does the dashboard.
    let page = reqwest::get(&dashboard)
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    assert!(page.contains("No prize list yet"), "{page}");
    assert!(page.contains("<code>items.toml</code>"), "{page}");

    // A draw records a round without a prize, and why.
    let raffle: serde_json::Value = no_redirects()
        .post(app.url("/api/channels/first_streamer/draw"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("draw")
        .json()
        .await
        .expect("json");
    assert_eq!(raffle["outcome"], "no_prize", "{raffle}");
    assert_eq!(raffle["reason"], "no prize list", "{raffle}");
    assert_eq!(raffle["candidates"], 1, "{raffle}");
    assert_eq!(
        database.count("SELECT count(*) FROM outbox").await,
        0,
        "nothing announced"
    );
    let board = reqwest::get(app.url("/partials/channels"))
        .await
        .expect("board")
        .text()
        .await
        .expect("body");
    assert!(
        board.contains("No prize: <span class=\"reason\">no prize list</span>"),
        "{board}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_webhook_wins_are_printed_and_the_board_explains_its_numbers() {
    let database = std::sync::Arc::new(TestDatabase::migrated().await);
    let channel_id = database.insert_channel("printer", Some("8002")).await;
    database.add_viewer(channel_id, &Viewer::new("9002", "viewer")).await;
    let app = TestApp::builder()
        .database(database)
        .unset("DISCORD_WEBHOOK_URL")
        .setting("ONLY_WHEN_LIVE", "false")
        .setting("ACTIVE_WINDOW", "15m")
        .start()
        .await;
    let raffle = app.draw("printer").await;
    let id = raffle["id"].as_i64().expect("id");
    app.wait_for_delivery(id, "sent").await;
    let board = app.get("/partials/channels").await.body;
    assert!(
        board.contains("<span class=\"delivery sent\">Printed</span>"),
        "{board}"
    );
    assert!(!board.contains(">Announced<"), "{board}");
    assert!(board.contains("chatted in the last 15m"), "{board}");
    assert!(board.contains("Raffles don't wait for the stream"), "{board}");
    assert!(board.contains("<code>ONLY_WHEN_LIVE=false</code>"), "{board}");
    assert!(app.discord.received().is_empty(), "nothing posted without a webhook");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_webhook_wins_are_announced_and_without_twitch_the_stream_is_not_waited_for() {
    let database = std::sync::Arc::new(TestDatabase::migrated().await);
    let channel_id = database.insert_channel("announcer", Some("8003")).await;
    database.add_viewer(channel_id, &Viewer::new("9003", "viewer")).await;
    // ONLY_WHEN_LIVE is on by default, but without Twitch credentials the
    // live status cannot be checked.
    let app = TestApp::builder().database(database).start().await;
    let raffle = app.draw("announcer").await;
    let id = raffle["id"].as_i64().expect("id");
    app.wait_for_delivery(id, "sent").await;
    let board = app.get("/partials/channels").await.body;
    assert!(
        board.contains("<span class=\"delivery sent\">Announced</span>"),
        "{board}"
    );
    assert!(board.contains("cannot tell whether it is live"), "{board}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_started_on_another_loopback_name_first_moves_to_public_urls_host() {
    let app = TestApp::builder()
        .twitch(crate::fake_twitch::streamer())
        .served_public_url()
        .start()
        .await;
    // PUBLIC_URL is http://127.0.0.1:PORT; the browser came by localhost.
    let port = app.address.rsplit(':').next().expect("port").to_owned();
    let moved = no_redirects()
        .get(app.url("/auth/twitch?lang=pt-BR"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .expect("start");
    assert_eq!(moved.status(), 302);
    assert_eq!(
        moved.headers()["location"],
        format!("http://127.0.0.1:{port}/auth/twitch?lang=pt-BR").as_str()
    );
    assert!(
        moved.headers().get("set-cookie").is_none(),
        "no state cookie on the wrong host"
    );
    // On PUBLIC_URL's own host the Connect starts: state cookie and Twitch.
    let started = no_redirects().get(app.url("/auth/twitch")).send().await.expect("start");
    assert_eq!(started.status(), 302);
    let cookie = started.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cookie.starts_with("kinoyubot_oauth_state="), "{cookie}");
    let location = started.headers()["location"].to_str().expect("ascii");
    assert!(location.starts_with(app.twitch().auth_url().as_str()), "{location}");
}
