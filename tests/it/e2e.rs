//! End to end: the compiled `kinoyubot run` against the local Twitch IRC,
//! Twitch auth/Helix and Discord stand-ins, under faults.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fake_discord::FakeDiscord;
use crate::fake_irc::{FakeIrc, default_room_id};
use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, User};
use crate::helpers::{TestDatabase, free_port, kinoyubot, temp_data_dir};

const DEADLINE: Duration = Duration::from_secs(30);

fn privmsg(channel: &str, user_id: &str, login: &str, text: &str) -> String {
    let room = default_room_id(channel);
    format!(
        "@badge-info=;badges=;color=#1E90FF;display-name={login};emotes=;first-msg=0;flags=;id={user_id}-{text_len};mod=0;room-id={room};subscriber=0;tmi-sent-ts=1764000000000;turbo=0;user-id={user_id};user-type= :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}",
        text_len = text.len()
    )
}

/// One running `kinoyubot run`.
struct Bot {
    child: Child,
    port: u16,
}

impl Bot {
    fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let mut command = kinoyubot(dir);
        command
            .arg("run")
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("RAFFLE_INTERVAL", "1s")
            .env("ONLY_WHEN_LIVE", "false")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("kinoyubot starts");
        Self { child, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(response) = reqwest::get(self.url("/readyz")).await
                && response.status() == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("kinoyubot exited early with {status}");
            }
            assert!(start.elapsed() < DEADLINE, "kinoyubot did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), signal).expect("signal delivered");
    }

    /// SIGTERM, then the exit code, within `limit`.
    async fn stop(mut self, limit: Duration) -> Option<i32> {
        self.signal(Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("kinoyubot did not stop within {limit:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn items_file(dir: &Path) -> String {
    let path = dir.join("items.toml");
    std::fs::write(&path, "[[items]]\nname = \"Sticker\"\nprobability = 1.0\n").expect("items");
    path.display().to_string()
}

/// Settings for a bot on `database` that reads `channel` from the IRC
/// stand-in, draws from an always-winning items file and posts to `webhook`.
fn chat_env(
    database: &TestDatabase,
    dir: &Path,
    irc: &FakeIrc,
    channel: &str,
    webhook: String,
) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database.url.clone()),
        ("DATA_DIR", dir.display().to_string()),
        ("ITEMS_FILE", items_file(dir)),
        ("TWITCH_IRC_SERVER", irc.url()),
        ("TWITCH_CHANNELS", channel.to_owned()),
        ("DISCORD_WEBHOOK_URL", webhook),
    ]
}

async fn count(database: &TestDatabase, sql: &str) -> i64 {
    database.client().await.query_one(sql, &[]).await.expect("count").get(0)
}

async fn wait_count(database: &TestDatabase, sql: &str, at_least: i64, what: &str) {
    wait_count_within(database, sql, at_least, what, DEADLINE).await;
}

async fn wait_count_within(database: &TestDatabase, sql: &str, at_least: i64, what: &str, deadline: Duration) {
    let start = Instant::now();
    loop {
        // Errors count as "not yet": some tests kill connections on purpose.
        if let Ok(client) = tokio::time::timeout(Duration::from_secs(5), database.client()).await
            && let Ok(row) = client.query_one(sql, &[]).await
            && row.get::<_, i64>(0) >= at_least
        {
            return;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each raffle id Discord received, with how often.
fn posts_per_raffle(discord: &FakeDiscord) -> HashMap<i64, usize> {
    let mut posts = HashMap::new();
    for received in discord.received() {
        if let Some(id) = received.raffle_id {
            *posts.entry(id).or_insert(0) += 1;
        }
    }
    posts
}

async fn won_raffle_ids(database: &TestDatabase) -> HashSet<i64> {
    database
        .client()
        .await
        .query("SELECT id FROM raffles WHERE outcome = 'won'", &[])
        .await
        .expect("raffles")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_story_connect_chat_timed_raffles_and_discord() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    let twitch = FakeTwitch::start(User::new("141981764", "twitchdev", "TwitchDev")).await;
    let discord = FakeDiscord::start().await;
    let mut bot = Bot::start(
        dir.path(),
        &[
            ("DATABASE_URL", database.url.clone()),
            ("DATA_DIR", dir.path().display().to_string()),
            ("ITEMS_FILE", items_file(dir.path())),
            ("TWITCH_IRC_SERVER", irc.url()),
            ("TWITCH_CLIENT_ID", CLIENT_ID.to_owned()),
            ("TWITCH_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("TWITCH_AUTH_URL", twitch.auth_url().to_string()),
            ("TWITCH_API_URL", twitch.api_url().to_string()),
            ("ONLY_WHEN_LIVE", "true".to_owned()),
            ("DISCORD_WEBHOOK_URL", discord.webhook_url().to_string()),
        ],
    );
    bot.wait_ready().await;

    // The streamer connects, as a browser would (no redirects followed automatically).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let start = http.get(bot.url("/auth/twitch")).send().await.expect("start");
    assert_eq!(start.status(), 302);
    let cookie = start
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("state cookie")
        .to_owned();
    let authorize = start.headers()["location"].to_str().expect("location").to_owned();
    assert!(authorize.starts_with(twitch.auth_url().as_str()), "{authorize}");
    let consent = http.get(&authorize).send().await.expect("authorize");
    let callback = consent.headers()["location"].to_str().expect("callback").to_owned();
    let done = http
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .expect("callback");
    assert!(done.status().is_redirection(), "callback answered {}", done.status());

    // The bot joins the streamer's chat without a restart; viewers chat.
    irc.wait_joined("twitchdev", 1, DEADLINE).await;
    twitch.set_live(&default_room_id("twitchdev"), true);
    twitch.set_live("141981764", true);
    for n in 0..5 {
        irc.send_to_channel(
            "twitchdev",
            &privmsg("twitchdev", &format!("70{n}"), &format!("viewer{n}"), "hi!"),
        );
    }
    // Timed raffles run and their winners reach Discord.
    let received = discord.wait_for(2, DEADLINE).await;
    let viewers: HashSet<String> = (0..5).map(|n| format!("viewer{n}")).collect();
    for message in &received {
        let text = message.body.to_string();
        assert!(
            viewers.iter().any(|v| text.contains(v.as_str())),
            "winner is a viewer: {text}"
        );
        assert!(message.raffle_id.is_some());
    }
    let timer_wins = count(
        &database,
        "SELECT count(*) FROM raffles WHERE trigger = 'timer' AND outcome = 'won'",
    )
    .await;
    assert!(timer_wins >= 2);

    assert_eq!(bot.stop(Duration::from_secs(10)).await, Some(0));
    let posts = posts_per_raffle(&discord);
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
    assert!(discord.violations().is_empty(), "{:?}", discord.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_discord_is_down_then_restart_delivers_every_win_once() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    // Discord "down": nothing listens on this port.
    let down = format!("http://127.0.0.1:{}/api/webhooks/1/downtoken", free_port());
    let env = |webhook: String| chat_env(&database, dir.path(), &irc, "downchan", webhook);
    let mut bot = Bot::start(dir.path(), &env(down));
    bot.wait_ready().await;
    irc.wait_joined("downchan", 1, DEADLINE).await;
    irc.send_to_channel("downchan", &privmsg("downchan", "801", "fan801", "hello"));
    wait_count(
        &database,
        "SELECT count(*) FROM raffles WHERE outcome = 'won'",
        2,
        "wins while Discord is down",
    )
    .await;
    bot.kill_9();
    let pending = count(&database, "SELECT count(*) FROM outbox WHERE status = 'pending'").await;
    assert!(pending >= 2, "wins queued while Discord was down: {pending}");

    let discord = FakeDiscord::start().await;
    let mut bot = Bot::start(dir.path(), &env(discord.webhook_url().to_string()));
    bot.wait_ready().await;
    // A row the killed process had claimed waits for its lease (60 s) first.
    wait_count_within(
        &database,
        "SELECT count(*) FROM outbox WHERE status = 'sent'",
        pending,
        "queued wins delivered",
        Duration::from_secs(100),
    )
    .await;
    assert_eq!(bot.stop(Duration::from_secs(10)).await, Some(0));
    // Everything won by now has been posted (any win of the last second may
    // still be pending: it is posted by the next start, never twice).
    let posts = posts_per_raffle(&discord);
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
    let sent: HashSet<i64> = database
        .client()
        .await
        .query("SELECT raffle_id FROM outbox WHERE status = 'sent'", &[])
        .await
        .expect("sent")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let posted: HashSet<i64> = posts.keys().copied().collect();
    assert_eq!(sent, posted, "every row marked sent was posted, and only those");
    let won = won_raffle_ids(&database).await;
    assert!(sent.is_subset(&won));
    assert!(sent.len() as i64 >= pending);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_connections_killed_mid_run_lose_no_presence_and_no_crash() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    let discord = FakeDiscord::start().await;
    let mut bot = Bot::start(
        dir.path(),
        &chat_env(&database, dir.path(), &irc, "faulty", discord.webhook_url().to_string()),
    );
    bot.wait_ready().await;
    irc.wait_joined("faulty", 1, DEADLINE).await;
    let admin = database.client().await;
    for round in 0..5 {
        for n in 0..20 {
            let id = round * 100 + n;
            irc.send_to_channel(
                "faulty",
                &privmsg("faulty", &format!("9{id:04}"), &format!("user{id}"), "hey"),
            );
        }
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("terminate");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_count(
        &database,
        "SELECT count(*) FROM presence",
        100,
        "every viewer's presence",
    )
    .await;
    let raffles_before = count(&database, "SELECT count(*) FROM raffles").await;
    wait_count(
        &database,
        "SELECT count(*) FROM raffles",
        raffles_before + 1,
        "raffles to continue after the faults",
    )
    .await;
    assert!(matches!(bot.child.try_wait(), Ok(None)), "kinoyubot crashed");
    assert_eq!(bot.stop(Duration::from_secs(10)).await, Some(0));
    let posts = posts_per_raffle(&discord);
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_database_draw_each_slot_once_and_post_once() {
    let database = TestDatabase::create().await;
    let irc = FakeIrc::start().await;
    let discord = FakeDiscord::start().await;
    let dirs = [temp_data_dir(), temp_data_dir()];
    let mut bots = Vec::new();
    for dir in &dirs {
        let mut bot = Bot::start(
            dir.path(),
            &chat_env(&database, dir.path(), &irc, "shared", discord.webhook_url().to_string()),
        );
        bot.wait_ready().await;
        bots.push(bot);
    }
    irc.wait_joined("shared", 2, DEADLINE).await;
    irc.send_to_channel("shared", &privmsg("shared", "4242", "regular", "hello both"));
    wait_count(
        &database,
        "SELECT count(*) FROM raffles WHERE outcome = 'won'",
        4,
        "four won slots",
    )
    .await;
    for bot in bots {
        assert_eq!(bot.stop(Duration::from_secs(10)).await, Some(0));
    }
    let duplicates = count(
        &database,
        "SELECT count(*) FROM (SELECT slot FROM raffles WHERE slot IS NOT NULL GROUP BY channel_id, slot HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(duplicates, 0, "a slot was drawn twice");
    let posts = posts_per_raffle(&discord);
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
    assert!(posts.len() >= 3, "wins were posted: {posts:?}");
}
