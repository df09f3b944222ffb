//! Test helpers: throwaway databases, the running app, seeding and waiting.
//!
//! - [`TestDatabase`]: a freshly created `kb_<random>` database, dropped when
//!   the last handle goes. The server is, in order: `TEST_DATABASE_URL` (an
//!   admin URL) if set; the local PostgreSQL on 127.0.0.1:5432 if it answers;
//!   otherwise one embedded server started for this test run
//!   (`TEST_DATABASE=embedded` forces that). Tests never skip for want of a
//!   database.
//! - [`spawn_app`] and [`TestApp::builder`]: the real [`App`], in process, on
//!   port 0, with its own database and the IRC, Twitch and Discord stand-ins;
//!   [`TestApp`] has one method per thing a test does to it.
//! - [`wait_for`], [`wait_until`], [`within`]: polling with a deadline.
//!   Deadlines are read on the wall clock, so a test that pauses tokio's
//!   clock does not end them early.
//!
//! This file is the one place where the harness uses the library's API
//! (settings, `App`, the store's migrations, the token cipher, logging);
//! tests talk to the app over HTTP, through the stand-ins and the methods
//! here. The compiled binary has its own wrapper in `process.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use kinoyubot::announce::chat_delivery::ChatDeliveryConfig;
use kinoyubot::app::App;
use kinoyubot::clock::{Clock, DrivenClock};
use kinoyubot::config::TokenKey;
use kinoyubot::config::{Settings, SettingsArgs};
use kinoyubot::store::embedded::EmbeddedPostgres;
use kinoyubot::store::{Store, pool};
use kinoyubot::twitch::auth::TwitchAuth;
use kinoyubot::twitch::auth::manager::{TokenManager, TokenManagerConfig};
use kinoyubot::twitch::auth::token_cipher::{TokenCipher, TokenKind};
use kinoyubot::web::server::HttpLimits;
use rand::Rng as _;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::fake_discord::FakeDiscord;
use crate::fake_irc::{FakeIrc, privmsg, twitch_id};
use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, User};

/// How long a test waits, by default, for something that should happen soon.
/// Generous: the machine is shared, and twitch-irc opens at most one new
/// connection every 2 s.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Time between two looks while polling.
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------
// Waiting
// ---------------------------------------------------------------------------

/// Polls `probe` until it returns `Some`; panics naming `what` after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for_within(DEADLINE, what, probe).await
}

/// [`wait_for`] with its own deadline.
pub async fn wait_for_within<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `condition` until it holds; panics naming `what` after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await;
}

/// Awaits `future`; panics naming `what` if it takes longer than `deadline`.
pub async fn within<T>(deadline: Duration, what: &str, future: impl Future<Output = T>) -> T {
    let start = std::time::Instant::now();
    tokio::pin!(future);
    loop {
        tokio::select! {
            output = &mut future => return output,
            () = tokio::time::sleep(POLL) => assert!(
                start.elapsed() < deadline,
                "{what} took longer than {deadline:?}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Driven time
// ---------------------------------------------------------------------------

/// Where [`driven_clock`] starts: 2026-01-01T00:00:00.500Z, half a second
/// into a slot of any whole-second interval.
pub const DRIVEN_START_MILLIS: u64 = 1_767_225_600_500;

/// A clock that stands still until the test moves it (see
/// `kinoyubot::clock`), starting at [`DRIVEN_START_MILLIS`]. Give it to the
/// app with [`TestAppBuilder::clock`].
pub fn driven_clock() -> DrivenClock {
    DrivenClock::starting_at(at_millis(DRIVEN_START_MILLIS))
}

/// The moment `millis` after the Unix epoch.
pub fn at_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

/// Waits until `count` waits are pending on `clock` (the app's timers have
/// gone to sleep); returns when they end, earliest first. Panics after
/// [`DEADLINE`] of real time.
pub async fn sleeping_timers(clock: &DrivenClock, count: usize) -> Vec<SystemTime> {
    within(
        DEADLINE,
        &format!("{count} timer(s) to wait on the driven clock"),
        clock.wait_for_sleepers(count),
    )
    .await
}

/// Waits until `count` timers sleep on `clock`, asserts they all wait for
/// the same moment, and sets the clock to it; returns that moment.
pub async fn fire_timers(clock: &DrivenClock, count: usize) -> SystemTime {
    let deadlines = sleeping_timers(clock, count).await;
    let next = deadlines[0];
    assert!(
        deadlines.iter().all(|d| *d == next),
        "the timers wait for different moments: {deadlines:?}"
    );
    clock.set(next);
    next
}

// ---------------------------------------------------------------------------
// Throwaway databases
// ---------------------------------------------------------------------------

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
    let url = server.url("postgres").expose_secret().to_owned();
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

/// Kills every other connection to the database `client` is connected to.
pub async fn terminate_other_connections(client: &tokio_postgres::Client) {
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminate connections");
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
    pub async fn migrated() -> Self {
        let database = Self::create().await;
        database.store().migrate().await.expect("migrations apply");
        database
    }

    /// A store (its own pool) for this database.
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

    /// A plain client for seeding and assertions.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await.expect("test database connection")
    }

    /// The single `bigint` a query returns (a count, an id).
    pub async fn count(&self, sql: &str) -> i64 {
        self.client()
            .await
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// Polls `sql` (a count) until it is at least `at_least`; returns it.
    /// Errors count as "not yet": some tests kill connections on purpose.
    pub async fn wait_count(&self, sql: &str, at_least: i64, what: &str) -> i64 {
        self.wait_count_within(DEADLINE, sql, at_least, what).await
    }

    /// [`TestDatabase::wait_count`] with its own deadline.
    pub async fn wait_count_within(&self, deadline: Duration, sql: &str, at_least: i64, what: &str) -> i64 {
        wait_for_within(deadline, what, || async {
            let client = tokio::time::timeout(Duration::from_secs(5), connect(&self.url))
                .await
                .ok()?
                .ok()?;
            let count: i64 = client.query_one(sql, &[]).await.ok()?.get(0);
            (count >= at_least).then_some(count)
        })
        .await
    }

    /// Refuses new connections (as if the server went away); existing ones
    /// stay until killed.
    pub async fn refuse_connections(&self) {
        self.set_allow_connections(false).await;
    }

    /// Accepts connections again after [`TestDatabase::refuse_connections`].
    pub async fn allow_connections(&self) {
        self.set_allow_connections(true).await;
    }

    async fn set_allow_connections(&self, allow: bool) {
        self.admin_client()
            .await
            .batch_execute(&format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}", self.name))
            .await
            .expect("ALLOW_CONNECTIONS");
    }

    /// Kills every connection to this database (from the admin database).
    pub async fn terminate_connections(&self) {
        self.admin_client()
            .await
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&self.name],
            )
            .await
            .expect("terminate connections");
    }

    /// Inserts a channel row; returns its id.
    pub async fn insert_channel(&self, login: &str, twitch_user_id: Option<&str>) -> i64 {
        self.client()
            .await
            .query_one(
                "INSERT INTO channels (login, display_name, twitch_user_id) VALUES ($1, $1, $2) RETURNING id",
                &[&login, &twitch_user_id],
            )
            .await
            .expect("channel")
            .get(0)
    }

    /// Inserts a presence row, as the chat listener would have left it.
    pub async fn add_viewer(&self, channel_id: i64, viewer: &Viewer) {
        add_viewer(&self.client().await, channel_id, viewer).await;
    }

    /// The presence rows of `channel`, by user id; `None` when the database
    /// cannot be read (some tests make it unreachable on purpose).
    pub async fn presence(&self, channel: &str) -> Option<Vec<Presence>> {
        let client = tokio::time::timeout(Duration::from_secs(5), connect(&self.url))
            .await
            .ok()?
            .ok()?;
        let rows = client
            .query(
                "SELECT p.user_id, p.login, p.display_name, p.is_subscriber, p.is_vip, p.is_moderator,
                        p.is_broadcaster, p.message_count, p.first_seen, p.last_seen,
                        p.banned_until IS NOT NULL,
                        CASE WHEN p.banned_until = 'infinity' THEN NULL ELSE p.banned_until END
                 FROM presence p JOIN channels c ON c.id = p.channel_id
                 WHERE c.login = $1 ORDER BY p.user_id",
                &[&channel],
            )
            .await
            .ok()?;
        Some(
            rows.iter()
                .map(|row| Presence {
                    user_id: row.get(0),
                    login: row.get(1),
                    display_name: row.get(2),
                    is_subscriber: row.get(3),
                    is_vip: row.get(4),
                    is_moderator: row.get(5),
                    is_broadcaster: row.get(6),
                    message_count: row.get(7),
                    first_seen: row.get(8),
                    last_seen: row.get(9),
                    banned_until: row.get::<_, bool>(10).then(|| row.get(11)),
                })
                .collect(),
        )
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

/// One row of the `presence` table (SPEC §4), as tests read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user_id: String,
    pub login: String,
    pub display_name: String,
    pub is_subscriber: bool,
    pub is_vip: bool,
    pub is_moderator: bool,
    pub is_broadcaster: bool,
    pub message_count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// `None`: not banned; `Some(None)`: banned for good; `Some(Some(t))`: timed out until `t`.
    pub banned_until: Option<Option<DateTime<Utc>>>,
}

/// Whether `rows` has the user with this id.
pub fn has_user(rows: &[Presence], user_id: &str) -> bool {
    rows.iter().any(|r| r.user_id == user_id)
}

/// A viewer to seed into `presence`.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: String,
    pub login: String,
    /// Shown name; the login in capitals unless set.
    pub display_name: Option<String>,
    pub subscriber: bool,
    pub broadcaster: bool,
    pub seen_secs_ago: i64,
    /// None: not banned; Some(None): banned for good; Some(Some(s)): timed out until now + s.
    pub banned: Option<Option<i64>>,
}

impl Viewer {
    /// A plain viewer seen five seconds ago.
    pub fn new(user_id: &str, login: &str) -> Self {
        Self {
            user_id: user_id.into(),
            login: login.into(),
            display_name: None,
            subscriber: false,
            broadcaster: false,
            seen_secs_ago: 5,
            banned: None,
        }
    }

    /// The same viewer under another shown name.
    pub fn named(mut self, display_name: &str) -> Self {
        self.display_name = Some(display_name.into());
        self
    }
}

/// Inserts a presence row through `client`.
pub async fn add_viewer(client: &tokio_postgres::Client, channel_id: i64, v: &Viewer) {
    let banned_until: Option<String> = match v.banned {
        None => None,
        Some(None) => Some("infinity".into()),
        Some(Some(secs)) => Some(format!("{secs} seconds")),
    };
    client
        .execute(
            "INSERT INTO presence (channel_id, user_id, login, display_name, is_subscriber, is_broadcaster,
                                   first_seen, last_seen, message_count, banned_until)
             VALUES ($1, $2, $3, coalesce($8, upper($3)), $4, $5, now() - make_interval(secs => $6::float8),
                     now() - make_interval(secs => $6::float8), 1,
                     CASE WHEN $7::text IS NULL THEN NULL
                          WHEN $7 = 'infinity' THEN 'infinity'::timestamptz
                          ELSE now() + $7::interval END)",
            &[
                &channel_id,
                &v.user_id,
                &v.login,
                &v.subscriber,
                &v.broadcaster,
                &(v.seen_secs_ago as f64),
                &banned_until,
                &v.display_name,
            ],
        )
        .await
        .expect("viewer");
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

/// Bytes written by several owners, read back as text: log output, or
/// announcements printed without a webhook.
#[derive(Clone, Default)]
pub struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer")).into_owned()
    }

    /// How often `needle` was written.
    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the log lines (INFO and up) of this thread until the guard is
/// dropped. On the default single-threaded test runtime the app's tasks run
/// on this thread too, so their lines are captured, and only this test's;
/// the chat listener's are not (it runs a runtime of its own).
pub fn capture_logs() -> (SharedBuffer, tracing::subscriber::DefaultGuard) {
    let logs = SharedBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// With `TEST_LOG` set (to a filter such as `debug`, or to `1`), the apps
/// of this run log to standard error.
fn init_test_logging() {
    if let Some(value) = std::env::var_os("TEST_LOG") {
        let value = value.to_string_lossy();
        let filter = if matches!(value.as_ref(), "" | "1" | "true") {
            "info"
        } else {
            value.as_ref()
        };
        kinoyubot::telemetry::init(filter, kinoyubot::config::LogFormat::Pretty, std::io::stderr);
    }
}

// ---------------------------------------------------------------------------
// The running app
// ---------------------------------------------------------------------------

/// The admin token of a spawned app unless the builder says otherwise.
pub const ADMIN_TOKEN: &str = "test-admin-token-4f1c-0123456789abcdef";

/// The items file of a spawned app unless the builder says otherwise: one
/// prize, always won.
pub const ALWAYS_WON: &str = "[[items]]\nname = \"Key\"\nprobability = 1.0\n";

/// The `TOKEN_KEY` bytes of a spawned app, so tests can read stored tokens.
const TOKEN_KEY_BYTES: [u8; 32] = [7; 32];

/// The `TOKEN_KEY` of every spawned app, for a compiled bot that must read
/// what such an app stored.
pub fn test_token_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(TOKEN_KEY_BYTES)
}

/// `PUBLIC_URL` of an app served on port 0, where the real address is not
/// known beforehand; OAuth tests follow its redirects by path.
const PLACEHOLDER_PUBLIC_URL: &str = "http://kinoyubot.test";

/// A running app with every option at its default.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().start().await
}

/// Which Twitch stand-in a [`TestApp`] talks to.
enum TwitchStandIn {
    New(User),
    Running(FakeTwitch),
}

/// The options of a [`TestApp`]; [`TestAppBuilder::start`] runs it.
///
/// Settings go by their SPEC §3 names ([`TestAppBuilder::setting`]); the
/// builder fills in the database, the data directory, the address and the
/// stand-ins' URLs, and by default sets `RAFFLE_INTERVAL=24h` (no timer
/// round during a test), `ADMIN_TOKEN` to [`ADMIN_TOKEN`] and a fixed
/// `TOKEN_KEY`. The app runs on the system clock unless given another
/// ([`TestAppBuilder::clock`]).
#[must_use]
pub struct TestAppBuilder {
    database: Option<Arc<TestDatabase>>,
    room_ids: Vec<(String, String)>,
    twitch: Option<TwitchStandIn>,
    channels: Vec<String>,
    items: String,
    served_public_url: bool,
    token_manager: TokenManagerConfig,
    http_limits: HttpLimits,
    chat_delivery: Option<ChatDeliveryConfig>,
    clock: Clock,
    settings: BTreeMap<&'static str, Option<String>>,
}

/// The raw setting of `args` named `name` in SPEC §3.
fn setting_field<'a>(args: &'a mut SettingsArgs, name: &str) -> &'a mut Option<String> {
    match name {
        "DATABASE_URL" => &mut args.database_url,
        "DATA_DIR" => &mut args.data_dir,
        "HTTP_ADDR" => &mut args.http_addr,
        "PUBLIC_URL" => &mut args.public_url,
        "TWITCH_CHANNELS" => &mut args.twitch_channels,
        "TWITCH_CLIENT_ID" => &mut args.twitch_client_id,
        "TWITCH_CLIENT_SECRET" => &mut args.twitch_client_secret,
        "TWITCH_IRC_SERVER" => &mut args.twitch_irc_server,
        "TWITCH_AUTH_URL" => &mut args.twitch_auth_url,
        "TWITCH_API_URL" => &mut args.twitch_api_url,
        "DISCORD_WEBHOOK_URL" => &mut args.discord_webhook_url,
        "RAFFLE_INTERVAL" => &mut args.raffle_interval,
        "ACTIVE_WINDOW" => &mut args.active_window,
        "WINNER_COOLDOWN" => &mut args.winner_cooldown,
        "SUBSCRIBER_LUCK" => &mut args.subscriber_luck,
        "IGNORE_USERS" => &mut args.ignore_users,
        "ONLY_WHEN_LIVE" => &mut args.only_when_live,
        "ITEMS_FILE" => &mut args.items_file,
        "ADMIN_TOKEN" => &mut args.admin_token,
        "TOKEN_KEY" => &mut args.token_key,
        "RUST_LOG" => &mut args.rust_log,
        "LOG_FORMAT" => &mut args.log_format,
        "CONNECT_POLICY" => &mut args.connect_policy,
        "CHAT_ANNOUNCE" => &mut args.chat_announce,
        "CLAIM_WINDOW" => &mut args.claim_window,
        "CLAIM_REDRAWS" => &mut args.claim_redraws,
        "PRESENCE_SOURCES" => &mut args.presence_sources,
        "MIN_FOLLOW_AGE" => &mut args.min_follow_age,
        "MIN_ACCOUNT_AGE" => &mut args.min_account_age,
        "SUBSCRIBERS_ONLY" => &mut args.subscribers_only,
        "MIN_MESSAGES" => &mut args.min_messages,
        "SESSION_TTL" => &mut args.session_ttl,
        "LANGUAGE" => &mut args.language,
        other => panic!("{other} is not a setting of SPEC §3"),
    }
}

impl TestAppBuilder {
    /// Sets a setting by its SPEC §3 name, over whatever the builder would set.
    pub fn setting(mut self, name: &'static str, value: &str) -> Self {
        self.settings.insert(name, Some(value.to_owned()));
        self
    }

    /// Leaves a setting unset (e.g. `ADMIN_TOKEN`: admin endpoints off;
    /// `TOKEN_KEY`: the app generates `DATA_DIR/token.key`).
    pub fn unset(mut self, name: &'static str) -> Self {
        self.settings.insert(name, None);
        self
    }

    /// Runs on this database (seeded beforehand, or shared with another
    /// instance) instead of a fresh one.
    pub fn database(mut self, database: Arc<TestDatabase>) -> Self {
        self.database = Some(database);
        self
    }

    /// The IRC stand-in gives `channel` this room id (its broadcaster's
    /// Twitch user id) instead of a made-up one.
    pub fn room_id(mut self, channel: &str, room_id: &str) -> Self {
        self.room_ids.push((channel.to_owned(), room_id.to_owned()));
        self
    }

    /// Sets the Twitch credentials and points them at a Twitch stand-in on
    /// which `consenting` signs in; the IRC stand-in gives their channel
    /// their user id as its room id, as Twitch does.
    pub fn twitch(mut self, consenting: User) -> Self {
        self.twitch = Some(TwitchStandIn::New(consenting));
        self
    }

    /// Like [`TestAppBuilder::twitch`], with a stand-in that is already
    /// running (for example another instance's).
    pub fn twitch_stand_in(mut self, fake: FakeTwitch) -> Self {
        self.twitch = Some(TwitchStandIn::Running(fake));
        self
    }

    /// `TWITCH_CHANNELS`; [`TestAppBuilder::start`] waits until each is joined.
    pub fn channels(mut self, logins: &[&str]) -> Self {
        self.channels = logins.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    /// The items file's contents (default: [`ALWAYS_WON`]).
    pub fn items(mut self, toml: &str) -> Self {
        toml.clone_into(&mut self.items);
        self
    }

    /// Serves on a port chosen beforehand, so that `PUBLIC_URL` is the
    /// served address (a browser follows the OAuth redirect back to it).
    pub fn served_public_url(mut self) -> Self {
        self.served_public_url = true;
        self
    }

    /// Timings of the app's token manager (default: the app's own).
    pub fn token_manager(mut self, config: TokenManagerConfig) -> Self {
        self.token_manager = config;
        self
    }

    /// The HTTP server's limits (default: the app's own).
    pub fn http_limits(mut self, limits: HttpLimits) -> Self {
        self.http_limits = limits;
        self
    }

    /// The chat worker's timings and rate limits (default: Twitch's).
    pub fn chat_delivery(mut self, config: ChatDeliveryConfig) -> Self {
        self.chat_delivery = Some(config);
        self
    }

    /// The clock the app's raffle timers run on, e.g. a [`driven_clock`]
    /// (default: the system clock).
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// The settings for an app on `port` (0: any), given the stand-ins.
    fn settings_args(&self, port: u16, computed: BTreeMap<&'static str, String>) -> SettingsArgs {
        let mut args = SettingsArgs::default();
        let public_url = if port == 0 {
            PLACEHOLDER_PUBLIC_URL.to_owned()
        } else {
            format!("http://127.0.0.1:{port}")
        };
        let placed = [("HTTP_ADDR", format!("127.0.0.1:{port}")), ("PUBLIC_URL", public_url)];
        for (name, value) in computed.into_iter().chain(placed) {
            *setting_field(&mut args, name) = Some(value);
        }
        for (name, value) in &self.settings {
            setting_field(&mut args, name).clone_from(value);
        }
        args
    }

    /// Builds the app from these settings and runs it until the returned
    /// [`TestApp`] is stopped or dropped. Returns once it serves HTTP and has
    /// joined every configured channel.
    pub async fn start(self) -> TestApp {
        init_test_logging();
        let database = match &self.database {
            Some(database) => Arc::clone(database),
            None => Arc::new(TestDatabase::create().await),
        };
        let irc = FakeIrc::start().await;
        if let Some(TwitchStandIn::New(user)) = &self.twitch {
            irc.set_room_id(&user.login, &user.id);
        }
        for (channel, room_id) in &self.room_ids {
            irc.set_room_id(channel, room_id);
        }
        let discord = FakeDiscord::start().await;
        let twitch = match &self.twitch {
            Some(TwitchStandIn::New(user)) => Some(FakeTwitch::start(user.clone()).await),
            Some(TwitchStandIn::Running(fake)) => Some(fake.clone()),
            None => None,
        };
        let data_dir = temp_data_dir();
        let items_file = data_dir.path().join("items.toml");
        std::fs::write(&items_file, &self.items).expect("items file");
        let mut computed = BTreeMap::from([
            ("DATABASE_URL", database.url.clone()),
            ("DATA_DIR", data_dir.path().display().to_string()),
            ("TWITCH_CHANNELS", self.channels.join(",")),
            ("TWITCH_IRC_SERVER", irc.url()),
            ("DISCORD_WEBHOOK_URL", discord.webhook_url().to_string()),
            ("ITEMS_FILE", items_file.display().to_string()),
        ]);
        if let Some(twitch) = &twitch {
            computed.extend([
                ("TWITCH_CLIENT_ID", CLIENT_ID.to_owned()),
                ("TWITCH_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
                ("TWITCH_AUTH_URL", twitch.auth_url().to_string()),
                ("TWITCH_API_URL", twitch.api_url().to_string()),
            ]);
        }
        // A port chosen beforehand may be taken by the time the app binds it:
        // then try another.
        let mut attempts = 0;
        let (settings, app) = loop {
            attempts += 1;
            let port = if self.served_public_url { free_port() } else { 0 };
            let args = self.settings_args(port, computed.clone());
            let settings = Settings::from_args(args).expect("test settings are valid");
            match App::build(settings.clone(), self.clock.clone()).await {
                Ok(app) => {
                    let mut app = app
                        .with_token_manager_config(self.token_manager)
                        .with_http_limits(self.http_limits);
                    if let Some(config) = self.chat_delivery {
                        app = app.with_chat_delivery_config(config);
                    }
                    break (settings, app);
                }
                Err(e) if self.served_public_url && attempts < 3 && format!("{e:#}").contains("HTTP_ADDR") => {}
                Err(e) => panic!("the app did not build: {e:#}"),
            }
        };
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let app = TestApp {
            address,
            database,
            irc,
            discord,
            twitch,
            data_dir,
            settings,
            http: no_redirects(),
            shutdown,
            running: Some(running),
        };
        for channel in &self.channels {
            app.irc.wait_joined(channel, 1, DEADLINE).await;
        }
        app
    }
}

/// An HTTP client that shows redirects instead of following them, as the
/// OAuth tests need.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A whole HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// Reads the whole answer to `request`.
    pub async fn to(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.expect("request sent");
        Self {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .expect("ASCII header")
    }
}

/// A streamer clicking Connect on the dashboard at `base`: what a browser
/// does, each redirect followed by hand.
pub struct ConnectWalk {
    /// The answer to `GET /auth/twitch` (it sets the state cookie).
    pub start: Reply,
    /// Where that sent the browser: Twitch's authorize URL.
    pub authorize: url::Url,
    /// Where Twitch sent the browser back: the callback URL.
    pub callback: String,
    /// The answer to the callback, sent with the state cookie.
    pub done: Reply,
}

/// Walks Connect at `base` (the app's `PUBLIC_URL` must be `base`).
pub async fn walk_connect(base: &str) -> ConnectWalk {
    let http = no_redirects();
    let start = Reply::to(http.get(format!("{base}/auth/twitch"))).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let cookie = start
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie pair")
        .to_owned();
    let authorize = url::Url::parse(start.header("location")).expect("authorize URL");
    let consent = Reply::to(http.get(authorize.clone())).await;
    assert_eq!(consent.status, 302, "{}", consent.body);
    let callback = consent.header("location").to_owned();
    let done = Reply::to(http.get(&callback).header("cookie", cookie)).await;
    ConnectWalk {
        start,
        authorize,
        callback,
        done,
    }
}

/// The app, running in this process until stopped or dropped, with its
/// database and the stand-ins it talks to.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub database: Arc<TestDatabase>,
    pub irc: FakeIrc,
    pub discord: FakeDiscord,
    twitch: Option<FakeTwitch>,
    /// `DATA_DIR`.
    pub data_dir: tempfile::TempDir,
    settings: Settings,
    http: reqwest::Client,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Options for the app; see [`TestAppBuilder`].
    pub fn builder() -> TestAppBuilder {
        let token_key = base64::engine::general_purpose::STANDARD.encode(TOKEN_KEY_BYTES);
        TestAppBuilder {
            database: None,
            room_ids: Vec::new(),
            twitch: None,
            channels: Vec::new(),
            items: ALWAYS_WON.to_owned(),
            served_public_url: false,
            token_manager: TokenManagerConfig::default(),
            http_limits: HttpLimits::default(),
            chat_delivery: None,
            clock: Clock::system(),
            settings: BTreeMap::from([
                ("RAFFLE_INTERVAL", Some("24h".to_owned())),
                ("ADMIN_TOKEN", Some(ADMIN_TOKEN.to_owned())),
                ("TOKEN_KEY", Some(token_key)),
            ]),
        }
    }

    /// The Twitch stand-in; panics when the app was built without one.
    pub fn twitch(&self) -> &FakeTwitch {
        self.twitch
            .as_ref()
            .expect("this app was spawned without the Twitch stand-in (TestAppBuilder::twitch)")
    }

    /// The URL of `path` on the app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path`, read whole.
    pub async fn get(&self, path: &str) -> Reply {
        Reply::to(self.http.get(self.url(path))).await
    }

    /// `GET path`, which must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.body);
        reply.json()
    }

    /// `GET /api/status`.
    pub async fn get_status(&self) -> Value {
        self.get_json("/api/status").await
    }

    /// One channel of `/api/status`; panics if it is not listed.
    pub async fn channel_status(&self, login: &str) -> Value {
        let status = self.get_status().await;
        status["channels"]
            .as_array()
            .and_then(|channels| channels.iter().find(|c| c["login"] == login))
            .cloned()
            .unwrap_or_else(|| panic!("#{login} not in {status}"))
    }

    /// Whether the app serves `login` now: `/api/status` gives a served,
    /// unpaused channel a next raffle time.
    pub async fn serves(&self, login: &str) -> bool {
        let status = self.get_status().await;
        status["channels"].as_array().is_some_and(|channels| {
            channels
                .iter()
                .any(|c| c["login"] == login && c["next_raffle_at"].is_string())
        })
    }

    /// `GET /api/raffles`: the latest raffles of every channel, newest first.
    pub async fn get_raffles(&self) -> Vec<Value> {
        self.raffles("/api/raffles").await
    }

    /// `GET /api/raffles?channel=...`.
    pub async fn get_raffles_of(&self, channel: &str) -> Vec<Value> {
        self.raffles(&format!("/api/raffles?channel={channel}")).await
    }

    async fn raffles(&self, path: &str) -> Vec<Value> {
        let page = self.get_json(path).await;
        page["raffles"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no raffles array: {page}"))
    }

    /// `method path` with `Authorization: <authorization>` when given.
    pub async fn send(&self, method: reqwest::Method, path: &str, authorization: Option<&str>) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        Reply::to(request).await
    }

    /// `POST path` as the admin (with the app's token).
    pub async fn post_as_admin(&self, path: &str) -> Reply {
        let token = self.settings.admin_token.as_ref().map(|t| t.expose_secret().to_owned());
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.send(reqwest::Method::POST, path, authorization.as_deref()).await
    }

    /// A manual draw through the admin API; returns the raffle (SPEC §9).
    pub async fn draw(&self, channel: &str) -> Value {
        let reply = self.post_as_admin(&format!("/api/channels/{channel}/draw")).await;
        assert_eq!(reply.status, 200, "draw in #{channel}: {}", reply.body);
        reply.json()
    }

    /// Pauses the channel's timer through the admin API.
    pub async fn pause(&self, channel: &str) {
        let reply = self.post_as_admin(&format!("/api/channels/{channel}/pause")).await;
        assert_eq!(reply.status, 200, "pause #{channel}: {}", reply.body);
    }

    /// Polls `/api/raffles` until raffle `id`'s announcement has `status`.
    pub async fn wait_for_delivery(&self, id: i64, status: &str) -> Value {
        wait_for(&format!("raffle {id} delivery {status}"), || async {
            self.get_raffles()
                .await
                .into_iter()
                .find(|r| r["id"] == id && r["delivery"]["status"] == status)
        })
        .await
    }

    /// A viewer `login` says `text` in `channel` (`#` optional). Their user
    /// id is [`twitch_id`] of the login.
    pub fn chat(&self, channel: &str, login: &str, text: &str) {
        let channel = channel.trim_start_matches('#');
        let line = privmsg(channel, &self.irc.room_id(channel), &twitch_id(login), login, text);
        self.say(channel, &line);
    }

    /// Sends a raw IRC line to `channel`, which the app must have joined.
    pub fn say(&self, channel: &str, line: &str) {
        let channel = channel.trim_start_matches('#');
        assert_eq!(self.irc.send_to_channel(channel, line), 1, "the app is in #{channel}");
    }

    /// Polls the presence rows of `channel` until `condition` holds.
    pub async fn wait_for_presence(
        &self,
        channel: &str,
        what: &str,
        condition: impl Fn(&[Presence]) -> bool,
    ) -> Vec<Presence> {
        wait_for(&format!("presence in #{channel}: {what}"), || async {
            self.database.presence(channel).await.filter(|rows| condition(rows))
        })
        .await
    }

    /// `GET /auth/twitch`: the authorize URL and the state cookie's value.
    pub async fn start_connect(&self) -> (url::Url, String) {
        let reply = self.get("/auth/twitch").await;
        assert_eq!(reply.status, 302, "{}", reply.body);
        let cookie = reply.header("set-cookie");
        let value = cookie
            .strip_prefix(&format!("{}=", state_cookie_name()))
            .and_then(|rest| rest.split(';').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("not the state cookie: {cookie}"));
        (url::Url::parse(reply.header("location")).expect("authorize URL"), value)
    }

    /// Follows the authorize URL at the stand-in; returns the path and
    /// query of the callback it redirects to, for [`TestApp::callback`].
    pub async fn consent(&self, authorize: &url::Url) -> String {
        let reply = Reply::to(self.http.get(authorize.clone())).await;
        assert_eq!(reply.status, 302, "{}", reply.body);
        let url = url::Url::parse(reply.header("location")).expect("callback URL");
        let expected = format!(
            "{}/auth/callback",
            self.settings.public_url.as_str().trim_end_matches('/')
        );
        assert_eq!(url.as_str().split('?').next(), Some(expected.as_str()));
        format!("{}?{}", url.path(), url.query().unwrap_or_default())
    }

    /// `GET` a callback path, with the state cookie `kinoyubot_oauth_state`
    /// set to `cookie` when given.
    pub async fn callback(&self, path_and_query: &str, cookie: Option<&str>) -> Reply {
        let mut request = self.http.get(self.url(path_and_query));
        if let Some(value) = cookie {
            request = request.header("cookie", format!("{}={value}", state_cookie_name()));
        }
        Reply::to(request).await
    }

    /// The whole Connect flow for the stand-in's consenting user; asserts it
    /// ends on the dashboard.
    pub async fn connect_streamer(&self) {
        let (authorize, cookie) = self.start_connect().await;
        let callback = self.consent(&authorize).await;
        let reply = self.callback(&callback, Some(&cookie)).await;
        assert_eq!(reply.status, 303, "{}", reply.body);
        assert_eq!(reply.header("location"), "/");
    }

    /// Connects `bot` as the account the bot speaks as
    /// (`GET /auth/twitch/bot`, consent, callback); asserts it ends on the
    /// dashboard. The stand-in's consenting user stays `bot` afterwards.
    pub async fn connect_bot(&self, bot: &User) {
        self.twitch().set_consenting(bot.clone());
        let reply = self.get("/auth/twitch/bot").await;
        assert_eq!(reply.status, 302, "{}", reply.body);
        let cookie = reply.header("set-cookie");
        let value = cookie
            .strip_prefix(&format!("{}=", state_cookie_name()))
            .and_then(|rest| rest.split(';').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("not the state cookie: {cookie}"));
        let authorize = url::Url::parse(reply.header("location")).expect("authorize URL");
        let callback = self.consent(&authorize).await;
        let reply = self.callback(&callback, Some(&value)).await;
        assert_eq!(reply.status, 303, "{}", reply.body);
    }

    /// `DELETE /api/channels/{login}/connection` with this `Authorization`.
    pub async fn disconnect(&self, login: &str, authorization: Option<&str>) -> Reply {
        let path = format!("/api/channels/{login}/connection");
        self.send(reqwest::Method::DELETE, &path, authorization).await
    }

    /// The access and refresh tokens stored for `login`, decrypted.
    pub async fn stored_tokens(&self, login: &str) -> (String, String) {
        let row = self
            .database
            .client()
            .await
            .query_one(
                "SELECT t.channel_id, t.access_token, t.refresh_token FROM twitch_tokens t
                 JOIN channels c ON c.id = t.channel_id WHERE c.login = $1",
                &[&login],
            )
            .await
            .expect("tokens stored");
        let id: i64 = row.get(0);
        let cipher = self.cipher();
        let access = cipher
            .decrypt(id, TokenKind::Access, row.get(1))
            .expect("access decrypts");
        let refresh = cipher
            .decrypt(id, TokenKind::Refresh, row.get(2))
            .expect("refresh decrypts");
        (access.expose_secret().to_owned(), refresh.expose_secret().to_owned())
    }

    fn cipher(&self) -> TokenCipher {
        let key = self
            .settings
            .token_key
            .as_ref()
            .expect("this app generated its own TOKEN_KEY; its tokens are not for tests to read");
        TokenCipher::new(key)
    }

    /// A token manager wired like the app's (same database, Twitch client
    /// and key) but with `config`, for tests that run its cycles themselves.
    pub fn token_manager(&self, config: TokenManagerConfig) -> TokenManager {
        self.token_manager_with_cipher(config, self.cipher())
    }

    /// [`TestApp::token_manager`] reading tokens with another `TOKEN_KEY`.
    pub fn token_manager_with_key(&self, config: TokenManagerConfig, key: [u8; 32]) -> TokenManager {
        self.token_manager_with_cipher(config, TokenCipher::new(&TokenKey::new(key)))
    }

    fn token_manager_with_cipher(&self, config: TokenManagerConfig, cipher: TokenCipher) -> TokenManager {
        let auth = TwitchAuth::from_settings(&self.settings)
            .expect("Twitch client")
            .expect("this app was spawned without the Twitch stand-in");
        let connect_url = format!(
            "{}/auth/twitch",
            self.settings.public_url.as_str().trim_end_matches('/')
        );
        TokenManager::new(self.database.store(), auth, cipher, config, connect_url)
    }

    /// Cancels the app's shutdown token and waits for a clean stop.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            within(DEADLINE, "the app's shutdown", running)
                .await
                .expect("the app's task did not panic")
                .expect("the app stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

/// The name of the OAuth state cookie.
fn state_cookie_name() -> &'static str {
    kinoyubot::web::oauth::STATE_COOKIE
}

/// A Twitch OAuth client for the stand-in, as the app builds it from its
/// settings (for tests of the Helix client on its own).
pub fn twitch_auth(fake: &FakeTwitch) -> TwitchAuth {
    let settings = Settings::from_args(SettingsArgs {
        twitch_client_id: Some(CLIENT_ID.to_owned()),
        twitch_client_secret: Some(CLIENT_SECRET.to_owned()),
        twitch_auth_url: Some(fake.auth_url().to_string()),
        twitch_api_url: Some(fake.api_url().to_string()),
        public_url: Some(PLACEHOLDER_PUBLIC_URL.to_owned()),
        ..SettingsArgs::default()
    })
    .expect("settings");
    TwitchAuth::from_settings(&settings)
        .expect("Twitch client")
        .expect("credentials set")
}

// ---------------------------------------------------------------------------
// Small things
// ---------------------------------------------------------------------------

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
