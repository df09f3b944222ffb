//! The compiled `kinoyubot` binary as a child process.
//!
//! [`kinoyubot`] describes a command (a clean environment, a working
//! directory, arguments); [`Binary::output`] runs a one-shot command to its
//! end, and [`Binary::spawn_run`] starts `kinoyubot run` on a free port and
//! waits until it answers `/healthz`. The [`TestProcess`] it returns captures
//! stdout and stderr from the start, sends signals, reports how it exited,
//! and is stopped when dropped: SIGTERM first, so an embedded PostgreSQL is
//! stopped with it, then SIGKILL.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{DEADLINE, free_port, process_alive, wait_for_within};

/// The first start may run initdb for an embedded server; allow for a slow machine.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a stopped process gets to exit.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait for the pipes to close after the process exited (a
/// child of it, such as an orphaned postmaster, may still hold them).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// A `kinoyubot` command, not started yet.
#[must_use]
pub struct Binary {
    dir: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

/// The compiled `kinoyubot` binary run in `dir`, with a clean environment:
/// no inherited settings, so the test decides every value.
pub fn kinoyubot(dir: &Path) -> Binary {
    Binary {
        dir: dir.to_owned(),
        args: Vec::new(),
        envs: Vec::new(),
    }
}

impl Binary {
    /// Appends an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs.push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    fn has_env(&self, key: &str) -> bool {
        self.envs.iter().any(|(k, _)| k == key)
    }

    /// Starts the command as it is, output captured.
    pub fn spawn(self) -> TestProcess {
        self.spawn_serving(None)
    }

    fn spawn_serving(self, port: Option<u16>) -> TestProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kinoyubot"));
        command.current_dir(&self.dir).env_clear();
        for keep in ["PATH", "HOME", "TMPDIR"] {
            if let Some(value) = std::env::var_os(keep) {
                command.env(keep, value);
            }
        }
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("kinoyubot starts");
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());
        TestProcess {
            child,
            port,
            stdout,
            stderr,
        }
    }

    /// Runs the command to its end (within [`DEADLINE`]).
    pub async fn output(self) -> Exited {
        self.spawn().wait_exit(DEADLINE).await
    }

    /// Starts `kinoyubot run` serving HTTP on a free port (`HTTP_ADDR`, and
    /// `PUBLIC_URL` unless set), and waits until it answers `/healthz`.
    pub async fn spawn_run(self) -> TestProcess {
        let port = free_port();
        let mut binary = self.env("HTTP_ADDR", format!("127.0.0.1:{port}"));
        if !binary.has_env("PUBLIC_URL") {
            binary = binary.env("PUBLIC_URL", format!("http://127.0.0.1:{port}"));
        }
        binary.args.insert(0, "run".into());
        let process = binary.spawn_serving(Some(port));
        process.wait_ready().await;
        process
    }
}

/// Reads one pipe to its end on a thread, so that a chatty child never
/// blocks on a full pipe.
struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    closed: Arc<AtomicBool>,
}

impl Capture {
    fn start(pipe: Option<impl std::io::Read + Send + 'static>) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let (sink, done) = (Arc::clone(&bytes), Arc::clone(&closed));
        std::thread::spawn(move || {
            if let Some(mut pipe) = pipe {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    sink.lock().expect("capture").extend_from_slice(&chunk[..n]);
                }
            }
            done.store(true, Ordering::SeqCst);
        });
        Self { bytes, closed }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().expect("capture")).into_owned()
    }
}

/// How a process ended.
#[derive(Debug)]
pub struct Exited {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// From the signal (or the start of waiting) to the exit.
    pub took: Duration,
    pub stdout: String,
    pub stderr: String,
}

/// A running `kinoyubot`.
pub struct TestProcess {
    child: Child,
    port: Option<u16>,
    stdout: Capture,
    stderr: Capture,
}

impl TestProcess {
    /// The URL of `path` on the process's HTTP server.
    pub fn url(&self, path: &str) -> String {
        let port = self.port.expect("this process serves no HTTP (use spawn_run)");
        format!("http://127.0.0.1:{port}{path}")
    }

    /// The status code of `GET path`, or `None` when nothing answers.
    pub async fn status_of(&self, path: &str) -> Option<u16> {
        reqwest::get(self.url(path)).await.ok().map(|r| r.status().as_u16())
    }

    /// Standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `/healthz` answers 200; panics with its stderr if the
    /// process exits first.
    pub async fn wait_ready(&self) {
        let pid = self.pid();
        wait_for_within(READY_DEADLINE, "kinoyubot to answer /healthz", || async move {
            // A zombie counts as gone: it exited.
            assert!(process_alive(pid), "kinoyubot exited early: {}", self.stderr());
            (self.status_of("/healthz").await == Some(200)).then_some(())
        })
        .await;
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal delivered");
    }

    /// SIGTERM, then the exit within a few seconds.
    pub async fn stop(self) -> Exited {
        self.stop_with(Signal::SIGTERM, STOP_DEADLINE).await
    }

    /// `kill -9`: the process cannot clean anything up.
    pub async fn kill_9(self) -> Exited {
        self.stop_with(Signal::SIGKILL, STOP_DEADLINE).await
    }

    /// Sends `signal`; panics if the process has not exited within `deadline`.
    pub async fn stop_with(mut self, signal: Signal, deadline: Duration) -> Exited {
        self.signal(signal);
        self.finish(deadline).await
    }

    /// Waits for the process to exit by itself within `deadline`.
    pub async fn wait_exit(mut self, deadline: Duration) -> Exited {
        self.finish(deadline).await
    }

    async fn finish(&mut self, deadline: Duration) -> Exited {
        let start = Instant::now();
        let status = loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                break status;
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("kinoyubot did not exit within {deadline:?}: {}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let took = start.elapsed();
        let pipes = Instant::now();
        while !(self.stdout.closed.load(Ordering::SeqCst) && self.stderr.closed.load(Ordering::SeqCst))
            && pipes.elapsed() < PIPE_GRACE
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Exited {
            code: status.code(),
            took,
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
        }
    }
}

impl Drop for TestProcess {
    fn drop(&mut self) {
        if !self.is_running() {
            return;
        }
        // Drop cannot await: poll on this thread, briefly.
        self.signal(Signal::SIGTERM);
        let start = Instant::now();
        while self.is_running() && start.elapsed() < STOP_DEADLINE {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
