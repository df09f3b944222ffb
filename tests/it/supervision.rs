//! Supervised background tasks and a truthful `/readyz` (issue 12 item 3,
//! SPEC §16): a task that fails is restarted and goes on working, one that
//! keeps failing ends the real binary with exit code 1, and `/readyz` is
//! 200 only when every check passes, naming the one that fails otherwise.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::fake_irc::FakeIrc;
use crate::helpers::{DEADLINE, TestApp, TestDatabase, Viewer, repo_path, temp_data_dir, wait_for};
use crate::process::kinoyubot;

/// `/readyz` once it answers with `status`: its body.
async fn readyz_when(app: &TestApp, status: u16, what: &str) -> Value {
    wait_for(what, || async {
        let reply = app.get("/readyz").await;
        (reply.status == status).then(|| reply.json())
    })
    .await
}

/// Makes the outbox table unreachable to the app (as a broken schema or a
/// revoked privilege would): every claim fails with a permanent error.
async fn break_the_outbox(database: &TestDatabase) {
    database
        .client()
        .await
        .batch_execute("ALTER TABLE outbox RENAME TO outbox_gone")
        .await
        .expect("rename the outbox");
}

async fn mend_the_outbox(database: &TestDatabase) {
    database
        .client()
        .await
        .batch_execute("ALTER TABLE outbox_gone RENAME TO outbox")
        .await
        .expect("rename the outbox back");
}

#[tokio::test]
async fn readyz_is_200_with_every_check_ok_once_chat_is_joined() {
    let app = TestApp::builder().channels(&["streamer"]).start().await;
    let body = readyz_when(&app, 200, "/readyz 200").await;
    assert_eq!(
        body,
        serde_json::json!({
            "ready": true,
            "checks": {"database": "ok", "chat": "ok", "presence": "ok", "tasks": "ok"}
        })
    );
    let page = app.get("/").await;
    assert!(page.body.contains("Chat connected"), "{}", page.body);
}

#[tokio::test]
async fn readyz_is_503_naming_the_database_when_it_is_unreachable() {
    let app = TestApp::builder().channels(&["streamer"]).start().await;
    readyz_when(&app, 200, "/readyz 200 first").await;
    app.database.refuse_connections().await;
    app.database.terminate_connections().await;
    let body = readyz_when(&app, 503, "/readyz 503 without the database").await;
    assert_eq!(body["ready"], false);
    let database = body["checks"]["database"].as_str().expect("a database check");
    assert!(database.starts_with("unreachable: "), "{body}");
    assert_eq!(body["checks"]["chat"], "ok", "{body}");
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn readyz_is_503_naming_chat_while_the_irc_server_is_gone_and_200_when_it_is_back() {
    let mut app = TestApp::builder().channels(&["streamer"]).start().await;
    readyz_when(&app, 200, "/readyz 200 first").await;
    // The server goes away: the bot's connection closes and every
    // reconnection is refused.
    drop(std::mem::replace(&mut app.irc, FakeIrc::start().await));
    let body = readyz_when(&app, 503, "/readyz 503 without chat").await;
    let chat = body["checks"]["chat"].as_str().expect("a chat check");
    assert!(chat.starts_with("disconnected since 20"), "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["tasks"], "ok", "{body}");
    let page = app.get("/").await;
    assert!(page.body.contains("Chat disconnected since"), "{}", page.body);
}

#[tokio::test]
async fn a_delivery_worker_that_fails_is_restarted_and_delivers_once_its_table_is_back() {
    let database = Arc::new(TestDatabase::migrated().await);
    let id = database.insert_channel("streamer", Some("4242")).await;
    database.add_viewer(id, &Viewer::new("100", "viewer_a")).await;
    let app = TestApp::builder().database(Arc::clone(&database)).start().await;
    readyz_when(&app, 200, "/readyz 200 first").await;

    break_the_outbox(&database).await;
    // The worker's next poll fails: /readyz names it, restarting.
    let body = readyz_when(&app, 503, "/readyz to name the failing worker").await;
    let tasks = body["checks"]["tasks"].as_str().expect("a tasks check");
    assert!(
        tasks.starts_with("delivery worker failed: ") && tasks.contains("restarting"),
        "{body}"
    );
    mend_the_outbox(&database).await;
    readyz_when(&app, 200, "/readyz 200 once the worker runs again").await;

    // The restarted worker delivers.
    let raffle = app.draw("streamer").await;
    assert_eq!(raffle["outcome"], "won");
    let posts = app.discord.wait_for(1, DEADLINE).await;
    assert_eq!(posts.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_background_task_that_keeps_failing_makes_the_binary_exit_1() {
    let database = TestDatabase::migrated().await;
    let dir = temp_data_dir();
    let bot = kinoyubot(dir.path())
        .env("DATABASE_URL", &database.url)
        .env("ITEMS_FILE", repo_path("items.toml"))
        .env("DATA_DIR", dir.path())
        .spawn_run()
        .await;
    assert_eq!(bot.status_of("/readyz").await, Some(200));
    break_the_outbox(&database).await;
    // 5 failures within 10 minutes: restarts after 0.5, 1, 2 and 4 s.
    let exited = bot.wait_exit(Duration::from_secs(40)).await;
    assert_eq!(exited.code, Some(1), "{}", exited.stderr);
    assert!(
        exited
            .stderr
            .contains("background task keeps failing; stopping the process"),
        "{}",
        exited.stderr
    );
    assert!(
        exited
            .stderr
            .contains("background task \"delivery worker\" failed 5 times"),
        "{}",
        exited.stderr
    );
    assert_eq!(
        exited.stderr.matches("background task failed; restarting it").count(),
        4,
        "{}",
        exited.stderr
    );
}
