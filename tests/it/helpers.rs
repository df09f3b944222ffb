//! Test helpers: throwaway databases, the compiled binary, polling.
//!
//! Each database test gets its own freshly created `kb_<random>` database,
//! dropped when the [`TestDatabase`] is dropped. The server is, in order:
//! `TEST_DATABASE_URL` (an admin URL) if set; the local PostgreSQL on
//! 127.0.0.1:5432 if it answers; otherwise one embedded server started for
//! this test run (`TEST_DATABASE=embedded` forces that). Tests never skip
//! for want of a database.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use kinoyubot::store::embedded::EmbeddedPostgres;
use kinoyubot::store::{Store, pool};
use rand::Rng as _;

/// The admin URL of the test server, resolved once per test binary.
static ADMIN_URL: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
/// The embedded fallback server, kept alive for the whole run.
static EMBEDDED: OnceLock<EmbeddedPostgres> = OnceLock::new();

const LOCAL_CANDIDATES: &[&str] = &[
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
];

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), connect(url)).await,
        Ok(Ok(_))
    )
}

async fn admin_url() -> String {
    ADMIN_URL
        .get_or_init(|| async {
            let force_embedded = std::env::var("TEST_DATABASE").is_ok_and(|v| v == "embedded");
            if let Ok(url) = std::env::var("TEST_DATABASE_URL")
                && !force_embedded
            {
                return url;
            }
            if !force_embedded {
                for url in LOCAL_CANDIDATES {
                    if answers(url).await {
                        return (*url).to_owned();
                    }
                }
            }
            start_embedded_for_run().await
        })
        .await
        .clone()
}

/// Starts one embedded server for this test process, plus a watchdog shell
/// that stops it (and removes its directory) once this process is gone:
/// statics are never dropped, so nothing else would.
async fn start_embedded_for_run() -> String {
    let dir = std::env::temp_dir().join(format!("kinoyubot-test-pg-{}", std::process::id()));
    make_traversable(&dir);
    let server = EmbeddedPostgres::start(&dir).await.expect("embedded PostgreSQL starts");
    let pid_file = server.pgdata().join("postmaster.pid");
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; \
         kill -INT $(head -n1 '{pid}') 2>/dev/null; \
         while [ -e '{pid}' ]; do sleep 0.2; done; rm -rf '{dir}'",
        me = std::process::id(),
        pid = pid_file.display(),
        dir = dir.display(),
    );
    // The watchdog outlives this process on purpose; its handle is dropped.
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .spawn()
        .expect("watchdog starts");
    std::mem::forget(watchdog);
    let url = server.url("postgres").expose().clone();
    let _ = EMBEDDED.set(server);
    url
}

/// Creates `dir` readable by other users: when tests run as root the
/// embedded server runs as `postgres` and must reach its directory.
pub fn make_traversable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("create dir");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A temporary directory that the embedded server (possibly another user) can use.
pub fn temp_data_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kinoyubot-test-")
        .tempdir()
        .expect("tempdir");
    make_traversable(dir.path());
    dir
}

fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("admin URL parses");
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// A freshly created database, dropped (with FORCE) on drop.
pub struct TestDatabase {
    /// Database name.
    pub name: String,
    /// URL of this database.
    pub url: String,
    admin_url: String,
    /// A login role made the owner by [`TestDatabase::owner_with_password`];
    /// dropped after the database.
    owner_role: Option<String>,
}

impl TestDatabase {
    /// Creates an empty database.
    pub async fn create() -> Self {
        let admin_url = admin_url().await;
        let suffix: u64 = rand::rng().random();
        let name = format!("kb_{suffix:016x}");
        let admin = connect(&admin_url).await.expect("admin connection");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
            owner_role: None,
        }
    }

    /// Creates a database and runs the migrations on it.
    pub async fn migrated() -> (Self, Store) {
        let database = Self::create().await;
        let store = database.store();
        store.migrate().await.expect("migrations apply");
        (database, store)
    }

    /// A store (pool) for this database.
    pub fn store(&self) -> Store {
        Store::new(pool::build(&self.url, 8).expect("pool"))
    }

    /// A client on the server's admin database (to alter or sabotage this one).
    pub async fn admin_client(&self) -> tokio_postgres::Client {
        connect(&self.admin_url).await.expect("admin connection")
    }

    /// Creates a login role with this password, makes it the owner of the
    /// database and its `public` schema, and returns a URL that logs in as
    /// it (password included). The role is dropped with the database.
    pub async fn owner_with_password(&mut self, password: &str) -> String {
        let role = format!("{}_owner", self.name);
        let admin = connect(&self.admin_url).await.expect("admin connection");
        admin
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD '{password}'; ALTER DATABASE {} OWNER TO {role};",
                self.name
            ))
            .await
            .expect("create owner role");
        self.owner_role = Some(role.clone());
        self.client()
            .await
            .batch_execute(&format!("ALTER SCHEMA public OWNER TO {role}"))
            .await
            .expect("schema owner");
        let mut url = url::Url::parse(&self.url).expect("database URL parses");
        url.set_username(&role).expect("username");
        url.set_password(Some(password)).expect("password");
        url.to_string()
    }

    /// A plain client for assertions.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await.expect("test database connection")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await and may run inside a runtime: use a thread with
        // its own small runtime.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Two statements, sent separately: DROP DATABASE refuses to run in
        // the implicit transaction of a multi-statement query.
        let drop_role = self
            .owner_role
            .as_ref()
            .map(|role| format!("DROP ROLE IF EXISTS {role}"));
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = connect(&admin_url).await.map_err(std::io::Error::other)?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map_err(std::io::Error::other)?;
                if let Some(drop_role) = drop_role {
                    admin.batch_execute(&drop_role).await.map_err(std::io::Error::other)?;
                }
                Ok::<(), std::io::Error>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// The compiled `kinoyubot` binary, with a clean environment: no inherited
/// settings, so the test decides every value.
pub fn kinoyubot(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kinoyubot"));
    command.current_dir(dir).env_clear();
    for keep in ["PATH", "HOME", "TMPDIR"] {
        if let Ok(value) = std::env::var(keep) {
            command.env(keep, value);
        }
    }
    command
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Whether a process with this pid exists and has not exited (a zombie
/// waiting to be reaped counts as gone).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The postmaster pid of a cluster directory, if it is running.
pub fn postmaster_pid(pgdata: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Path of a file in the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
