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

/// Writes a `postmaster.pid` naming `pid` for `pgdata`, as a crash leaves it.
fn write_postmaster_pid(pgdata: &std::path::Path, pid: u32) {
    std::fs::write(
        pgdata.join("postmaster.pid"),
        format!("{pid}\n{}\n1700000000\n5432\n\n127.0.0.1\n", pgdata.display()),
    )
    .expect("write postmaster.pid");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_postmaster_pid_left_by_a_crash_is_taken_over() {
    let dir = temp_data_dir();
    let server = EmbeddedPostgres::start(dir.path()).await.expect("first start");
    let pgdata = server.pgdata().to_owned();
    server.stop().await.expect("stop");
    // The crash killed postgres too: the file names a process that is gone.
    let mut gone = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = gone.id();
    gone.wait().expect("exited");
    write_postmaster_pid(&pgdata, dead_pid);

    let server = EmbeddedPostgres::start(dir.path())
        .await
        .expect("start over a stale postmaster.pid");
    connect(&server).await.simple_query("SELECT 1").await.expect("serving");
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postmaster_pid_reused_by_another_process_is_never_signalled() {
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::process::CommandExt as _;

    let dir = temp_data_dir();
    let server = EmbeddedPostgres::start(dir.path()).await.expect("first start");
    let pgdata = server.pgdata().to_owned();
    server.stop().await.expect("stop");
    // Another process of the server's own user now has the recorded PID
    // (as a system PostgreSQL's postmaster could).
    let owner = std::fs::metadata(&pgdata).expect("pgdata");
    let mut bystander = std::process::Command::new("sleep");
    bystander.arg("300");
    if nix::unistd::geteuid().is_root() {
        bystander.uid(owner.uid()).gid(owner.gid());
    }
    let mut bystander = bystander.spawn().expect("spawn bystander");
    let bystander_pid = i32::try_from(bystander.id()).expect("pid");
    write_postmaster_pid(&pgdata, bystander.id());

    let server = EmbeddedPostgres::start(dir.path())
        .await
        .expect("start beside the bystander");
    connect(&server).await.simple_query("SELECT 1").await.expect("serving");
    assert!(
        process_alive(bystander_pid),
        "the process that reused the PID was signalled"
    );
    assert!(
        matches!(bystander.try_wait(), Ok(None)),
        "the bystander exited: it was signalled"
    );
    server.stop().await.expect("stop");
    let _ = bystander.kill();
    let _ = bystander.wait();
}
