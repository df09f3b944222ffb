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
    assert_eq!(exited.code, Some(0), "exit code after SIGTERM");
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
