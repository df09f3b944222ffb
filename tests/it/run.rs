//! `kinoyubot run` as a process: health endpoints, shutdown on signals,
//! exclusive use of DATA_DIR, and recovery after being killed.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helpers::{TestDatabase, free_port, postmaster_pid, process_alive, repo_path, temp_data_dir};
use crate::process::{TestProcess, kinoyubot};

/// `kinoyubot run` with an embedded PostgreSQL under `dir`, ready.
async fn embedded_bot(dir: &std::path::Path) -> TestProcess {
    kinoyubot(dir)
        .env("DATA_DIR", dir)
        .env("ITEMS_FILE", repo_path("items.toml"))
        .spawn_run()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_embedded_database_serves_health_and_stops_on_sigterm() {
    let dir = temp_data_dir();
    let app = embedded_bot(dir.path()).await;
    assert_eq!(app.status_of("/healthz").await, Some(200));
    assert_eq!(app.status_of("/readyz").await, Some(200));
    let pgdata = dir.path().join("postgres");
    let postmaster = postmaster_pid(&pgdata).expect("embedded server running");

    // A second instance on the same DATA_DIR fails clearly and harms nothing.
    let second = kinoyubot(dir.path())
        .arg("run")
        .env("ITEMS_FILE", repo_path("items.toml"))
        .env("DATA_DIR", dir.path())
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .await;
    assert_eq!(second.code, Some(1));
    assert!(
        second.stderr.contains("in use by another running kinoyubot"),
        "{}",
        second.stderr
    );
    assert_eq!(app.status_of("/readyz").await, Some(200));

    let exited = app.stop_with(Signal::SIGTERM, Duration::from_secs(5)).await;
    assert_eq!(exited.code, Some(0), "exit code after SIGTERM: {}", exited.stderr);
    assert!(exited.took < Duration::from_secs(5));
    assert!(
        !process_alive(postmaster),
        "embedded PostgreSQL {postmaster} left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_database_url_stops_on_sigint() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let app = kinoyubot(dir.path())
        .env("DATABASE_URL", &database.url)
        .env("ITEMS_FILE", repo_path("items.toml"))
        .spawn_run()
        .await;
    assert_eq!(app.status_of("/readyz").await, Some(200));
    // Migrated by `run` itself.
    let versions = database.count("SELECT count(*) FROM schema_migrations").await;
    assert!(versions > 0);
    // No embedded server was started for it.
    assert!(!dir.path().join("postgres").exists());

    let exited = app.stop_with(Signal::SIGINT, Duration::from_secs(5)).await;
    assert_eq!(exited.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_stops_cleanly_on_sighup_as_on_sigterm() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let app = kinoyubot(dir.path())
        .env("DATABASE_URL", &database.url)
        .env("ITEMS_FILE", repo_path("items.toml"))
        .spawn_run()
        .await;
    assert_eq!(app.status_of("/readyz").await, Some(200));
    // A client speaking garbage: its mistake, not an error of ours.
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = app.url("").trim_start_matches("http://").to_owned();
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        socket.write_all(b"\x16\x03\x01 NOT HTTP AT ALL\r\n\r\n").await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    }
    let exited = app.stop_with(Signal::SIGHUP, Duration::from_secs(5)).await;
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert!(!exited.stderr.contains("ERROR"), "{}", exited.stderr);
    assert!(exited.stderr.contains("SIGHUP"), "{}", exited.stderr);
    assert!(!exited.stderr.contains("\u{1b}["), "no ANSI colours without a terminal");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_orphaned_by_kill_9_is_taken_over_by_the_next_start() {
    let dir = temp_data_dir();
    let app = embedded_bot(dir.path()).await;
    let pgdata = dir.path().join("postgres");
    let orphan = postmaster_pid(&pgdata).expect("embedded server running");
    app.kill_9().await;
    assert!(process_alive(orphan), "kill -9 cannot stop PostgreSQL; it is orphaned");

    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("DATA_DIR", dir.path())
        .output()
        .await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(output.stdout.contains("up to date"));
    assert!(!process_alive(orphan), "the orphaned server was not stopped");
    assert!(postmaster_pid(&pgdata).is_none(), "migrate left a server running");
}

/// The `Uid:` line of `/proc/<pid>/status`: the real user id.
fn process_uid(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("Uid line")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_server_inherits_no_secret() {
    let dir = temp_data_dir();
    let secrets = [
        ("ADMIN_TOKEN", "admin-secret-in-environ-0123456789abcdef".to_owned()),
        ("TOKEN_KEY", "c2VjcmV0LWtleS1zZWNyZXQta2V5LXNlY3JldC1rZXk=".to_owned()),
        ("TWITCH_CLIENT_SECRET", "client-secret-in-environ".to_owned()),
        (
            "DISCORD_WEBHOOK_URL",
            "http://127.0.0.1:9/api/webhooks/1/webhook-secret-in-environ".to_owned(),
        ),
    ];
    let mut binary = kinoyubot(dir.path())
        .env("DATA_DIR", dir.path())
        .env("ITEMS_FILE", repo_path("items.toml"));
    for (name, value) in &secrets {
        binary = binary.env(name, value);
    }
    let app = binary.spawn_run().await;
    let postmaster = postmaster_pid(&dir.path().join("postgres")).expect("embedded server running");
    let environ = std::fs::read(format!("/proc/{postmaster}/environ")).expect("environ readable");
    let environ = String::from_utf8_lossy(&environ);
    for (name, value) in &secrets {
        assert!(
            !environ.contains(value.as_str()),
            "{name} reached the postmaster's environment"
        );
        assert!(
            !environ.contains(&format!("{name}=")),
            "{name} reached the postmaster's environment"
        );
    }
    if nix::unistd::geteuid().is_root() {
        let uid = process_uid(postmaster);
        assert_ne!(uid, 0, "postgres runs as root");
        let shared = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        assert_ne!(
            Some(uid),
            shared,
            "the embedded server shares the system `postgres` account"
        );
    }
    assert_eq!(app.stop().await.code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn draw_and_verify_work_beside_a_running_bot_on_its_embedded_database() {
    use crate::fake_irc::{FakeIrc, default_room_id, privmsg};
    use crate::helpers::{ALWAYS_WON, DEADLINE, wait_for};

    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    let items = dir.path().join("items.toml");
    std::fs::write(&items, ALWAYS_WON).expect("items");
    let app = kinoyubot(dir.path())
        .env("DATA_DIR", dir.path())
        .env("ITEMS_FILE", &items)
        .env("TWITCH_IRC_SERVER", irc.url())
        .env("TWITCH_CHANNELS", "beside")
        .env("RAFFLE_INTERVAL", "1h")
        .env("ONLY_WHEN_LIVE", "false")
        .spawn_run()
        .await;
    irc.wait_joined("beside", 1, DEADLINE).await;
    irc.send_to_channel(
        "beside",
        &privmsg("beside", &default_room_id("beside"), "77", "fan77", "hi"),
    );
    let status_url = app.url("/api/status");
    wait_for("the viewer to be active", || {
        let url = status_url.clone();
        async move {
            let status: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            (status["channels"][0]["active_viewers"] == 1).then_some(())
        }
    })
    .await;

    // The CLI shares the running bot's embedded server instead of refusing.
    let draw = kinoyubot(dir.path())
        .args(["draw", "--channel", "beside"])
        .env("DATA_DIR", dir.path())
        .env("ITEMS_FILE", &items)
        .env("ONLY_WHEN_LIVE", "false")
        .output()
        .await;
    assert_eq!(draw.code, Some(0), "{}", draw.stderr);
    assert!(draw.stdout.contains("fan77 won Key"), "{}", draw.stdout);
    let json: serde_json::Value =
        serde_json::from_str(draw.stdout.lines().nth(1).expect("json line")).expect("raffle JSON");
    let id = json["id"].as_i64().expect("raffle id");

    // The bot sees the same raffle: it went through the same store.
    let raffles: serde_json::Value = reqwest::get(app.url("/api/raffles?channel=beside"))
        .await
        .expect("raffles")
        .json()
        .await
        .expect("json");
    assert_eq!(raffles["raffles"][0]["id"], id, "{raffles}");

    let verify = kinoyubot(dir.path())
        .args(["verify", &id.to_string()])
        .env("DATA_DIR", dir.path())
        .output()
        .await;
    assert_eq!(verify.code, Some(0), "{}", verify.stderr);
    assert!(verify.stdout.starts_with("verified"), "{}", verify.stdout);

    // The one-shot commands left the bot's server running.
    assert_eq!(app.status_of("/readyz").await, Some(200));
    assert_eq!(app.stop().await.code, Some(0));
}
