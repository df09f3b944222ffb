//! `kinoyubot run` as a process: health endpoints, shutdown on signals,
//! exclusive use of DATA_DIR, and recovery after being killed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{TestDatabase, free_port, kinoyubot, postmaster_pid, process_alive, repo_path, temp_data_dir};

/// First start may run initdb; allow for a slow machine.
const READY_DEADLINE: Duration = Duration::from_secs(60);

struct Running {
    child: Child,
    port: u16,
}

impl Running {
    fn spawn(mut command: Command) -> Self {
        let port = free_port();
        let child = command
            .arg("run")
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("ITEMS_FILE", repo_path("items.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinoyubot starts");
        Self { child, port }
    }

    async fn get(&self, path: &str) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        reqwest::get(url).await.ok().map(|r| r.status().as_u16())
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        while self.get("/readyz").await != Some(200) {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("kinoyubot exited early with {status}: {stderr}");
            }
            assert!(start.elapsed() < READY_DEADLINE, "kinoyubot did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        kill(Pid::from_raw(pid), signal).expect("signal delivered");
    }

    /// Waits for exit with a deadline; returns the exit code and the time taken.
    async fn wait_exit(&mut self, deadline: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.code(), start.elapsed());
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!("kinoyubot did not exit within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_embedded_database_serves_health_and_stops_on_sigterm() {
    let dir = temp_data_dir();
    let mut app = Running::spawn({
        let mut command = kinoyubot(dir.path());
        command.env("DATA_DIR", dir.path());
        command
    });
    app.wait_ready().await;
    assert_eq!(app.get("/healthz").await, Some(200));
    let pgdata = dir.path().join("postgres");
    let postmaster = postmaster_pid(&pgdata).expect("embedded server running");

    // A second instance on the same DATA_DIR fails clearly and harms nothing.
    let second = kinoyubot(dir.path())
        .arg("run")
        .env("ITEMS_FILE", repo_path("items.toml"))
        .env("DATA_DIR", dir.path())
        .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .expect("second instance runs");
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("in use by another running kinoyubot"), "{stderr}");
    assert_eq!(app.get("/readyz").await, Some(200));

    app.signal(Signal::SIGTERM);
    let (code, took) = app.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(code, Some(0), "exit code after SIGTERM");
    assert!(took < Duration::from_secs(5));
    assert!(
        !process_alive(postmaster),
        "embedded PostgreSQL {postmaster} left behind"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_with_database_url_stops_on_sigint() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let mut app = Running::spawn({
        let mut command = kinoyubot(dir.path());
        command.env("DATABASE_URL", &database.url);
        command
    });
    app.wait_ready().await;
    // Migrated by `run` itself.
    let versions = database
        .client()
        .await
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .expect("migrated");
    assert!(!versions.is_empty());
    // No embedded server was started for it.
    assert!(!dir.path().join("postgres").exists());

    app.signal(Signal::SIGINT);
    let (code, _) = app.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_orphaned_by_kill_9_is_taken_over_by_the_next_start() {
    let dir = temp_data_dir();
    let mut app = Running::spawn({
        let mut command = kinoyubot(dir.path());
        command.env("DATA_DIR", dir.path());
        command
    });
    app.wait_ready().await;
    let pgdata = dir.path().join("postgres");
    let orphan = postmaster_pid(&pgdata).expect("embedded server running");
    app.signal(Signal::SIGKILL);
    let _ = app.wait_exit(Duration::from_secs(5)).await;
    assert!(process_alive(orphan), "kill -9 cannot stop PostgreSQL; it is orphaned");

    let output = kinoyubot(dir.path())
        .arg("migrate")
        .env("DATA_DIR", dir.path())
        .output()
        .expect("migrate runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));
    assert!(!process_alive(orphan), "the orphaned server was not stopped");
    assert!(postmaster_pid(&pgdata).is_none(), "migrate left a server running");
}
