//! The embedded PostgreSQL: started, reused across runs, stopped, exclusive.

use kinoyubot::store::embedded::{EmbeddedError, EmbeddedPostgres};
use secrecy::ExposeSecret as _;

use crate::helpers::{postmaster_pid, process_alive, temp_data_dir};

async fn connect(server: &EmbeddedPostgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(server.url("postgres").expose_secret(), tokio_postgres::NoTls)
        .await
        .expect("connect to embedded server");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_server_keeps_data_across_runs_and_stops() {
    let dir = temp_data_dir();

    let first = EmbeddedPostgres::start(dir.path()).await.expect("first start");
    let pgdata = first.pgdata().to_owned();
    let pid = postmaster_pid(&pgdata).expect("postmaster.pid written");
    assert!(process_alive(pid));
    connect(&first)
        .await
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        .await
        .expect("write");
    first.stop().await.expect("stop");
    assert!(!process_alive(pid), "postmaster {pid} still running after stop");
    assert!(postmaster_pid(&pgdata).is_none());

    let second = EmbeddedPostgres::start(dir.path()).await.expect("second start");
    let value: String = connect(&second)
        .await
        .query_one("SELECT v FROM kept", &[])
        .await
        .expect("data survived")
        .get(0);
    assert_eq!(value, "still here");
    let pid = postmaster_pid(&pgdata).expect("running");
    second.stop().await.expect("stop");
    assert!(!process_alive(pid));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = temp_data_dir();
    let first = EmbeddedPostgres::start(dir.path()).await.expect("first start");
    let second = EmbeddedPostgres::start(dir.path()).await;
    match second {
        Err(EmbeddedError::AlreadyRunning { .. }) => {}
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    // The refused start did not disturb the running server.
    connect(&first)
        .await
        .simple_query("SELECT 1")
        .await
        .expect("still serving");
    first.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_a_running_server_stops_it() {
    let dir = temp_data_dir();
    let server = EmbeddedPostgres::start(dir.path()).await.expect("start");
    let pid = postmaster_pid(server.pgdata()).expect("running");
    drop(server);
    assert!(!process_alive(pid), "postmaster {pid} outlived its handle");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_only_listens_with_a_password() {
    let dir = temp_data_dir();
    let server = EmbeddedPostgres::start(dir.path()).await.expect("start");
    let no_password = format!("postgresql://postgres@127.0.0.1:{}/postgres", server.port());
    let refused = tokio_postgres::connect(&no_password, tokio_postgres::NoTls).await;
    assert!(refused.is_err(), "connected without a password");
    server.stop().await.expect("stop");
}
