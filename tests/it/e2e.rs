//! End to end: the compiled `kinoyubot run` against the local Twitch IRC,
//! Twitch auth/Helix and Discord stand-ins, under faults.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::fake_discord::FakeDiscord;
use crate::fake_irc::{FakeIrc, default_room_id, privmsg};
use crate::fake_twitch::{CLIENT_ID, CLIENT_SECRET, FakeTwitch, User};
use crate::helpers::{
    ALWAYS_WON, DEADLINE, TestDatabase, free_port, temp_data_dir, terminate_other_connections, walk_connect,
};
use crate::process::{Binary, TestProcess, kinoyubot};

/// A viewer's line in `channel`.
fn viewer_says(channel: &str, user_id: &str, login: &str, text: &str) -> String {
    privmsg(channel, &default_room_id(channel), user_id, login, text)
}

/// `kinoyubot` in `dir` with what every bot here shares: one-second timer
/// rounds whether or not the stream is live, and an always-won items file.
fn bot(database: &TestDatabase, dir: &Path) -> Binary {
    let items = dir.join("items.toml");
    std::fs::write(&items, ALWAYS_WON).expect("items");
    kinoyubot(dir)
        .env("DATABASE_URL", &database.url)
        .env("DATA_DIR", dir)
        .env("ITEMS_FILE", items)
        .env("RAFFLE_INTERVAL", "1s")
        .env("ONLY_WHEN_LIVE", "false")
        .env("RUST_LOG", "info")
}

/// A bot that reads `channel` from the IRC stand-in and posts to `webhook`.
async fn chat_bot(database: &TestDatabase, dir: &Path, irc: &FakeIrc, channel: &str, webhook: &str) -> TestProcess {
    bot(database, dir)
        .env("TWITCH_IRC_SERVER", irc.url())
        .env("TWITCH_CHANNELS", channel)
        .env("DISCORD_WEBHOOK_URL", webhook)
        .spawn_run()
        .await
}

/// Once `instances` bots are in `channel`, one viewer chats; waits until
/// `wins` raffles are won.
async fn chat_until_won(database: &TestDatabase, irc: &FakeIrc, channel: &str, instances: usize, wins: i64) {
    irc.wait_joined(channel, instances, DEADLINE).await;
    irc.send_to_channel(channel, &viewer_says(channel, "801", "fan801", "hello"));
    database
        .wait_count(
            "SELECT count(*) FROM raffles WHERE outcome = 'won'",
            wins,
            &format!("{wins} won raffles"),
        )
        .await;
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

fn assert_posted_once_each(discord: &FakeDiscord) -> HashMap<i64, usize> {
    let posts = posts_per_raffle(discord);
    assert!(posts.values().all(|n| *n == 1), "a raffle was posted twice: {posts:?}");
    posts
}

async fn ids(database: &TestDatabase, sql: &str) -> HashSet<i64> {
    database
        .client()
        .await
        .query(sql, &[])
        .await
        .expect("ids")
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
    let bot = bot(&database, dir.path())
        .env("TWITCH_IRC_SERVER", irc.url())
        .env("TWITCH_CLIENT_ID", CLIENT_ID)
        .env("TWITCH_CLIENT_SECRET", CLIENT_SECRET)
        .env("TWITCH_AUTH_URL", twitch.auth_url().as_str())
        .env("TWITCH_API_URL", twitch.api_url().as_str())
        .env("ONLY_WHEN_LIVE", "true")
        .env("DISCORD_WEBHOOK_URL", discord.webhook_url().as_str())
        .spawn_run()
        .await;

    // The streamer connects, as a browser would.
    let walk = walk_connect(&bot.url("")).await;
    assert!(
        walk.authorize.as_str().starts_with(twitch.auth_url().as_str()),
        "{}",
        walk.authorize
    );
    assert!(
        walk.done.status.is_redirection(),
        "callback answered {}",
        walk.done.status
    );

    // The bot joins the streamer's chat without a restart; viewers chat.
    irc.wait_joined("twitchdev", 1, DEADLINE).await;
    twitch.set_live(&default_room_id("twitchdev"), true);
    twitch.set_live("141981764", true);
    for n in 0..5 {
        irc.send_to_channel(
            "twitchdev",
            &viewer_says("twitchdev", &format!("70{n}"), &format!("viewer{n}"), "hi!"),
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
    let timer_wins = database
        .count("SELECT count(*) FROM raffles WHERE trigger = 'timer' AND outcome = 'won'")
        .await;
    assert!(timer_wins >= 2);

    assert_eq!(bot.stop().await.code, Some(0));
    assert_posted_once_each(&discord);
    assert!(discord.violations().is_empty(), "{:?}", discord.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_discord_is_down_then_restart_delivers_every_win_once() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    // Discord "down": nothing listens on this port.
    let down = format!("http://127.0.0.1:{}/api/webhooks/1/downtoken", free_port());
    let bot = chat_bot(&database, dir.path(), &irc, "downchan", &down).await;
    chat_until_won(&database, &irc, "downchan", 1, 2).await;
    bot.kill_9().await;
    let pending = database
        .count("SELECT count(*) FROM outbox WHERE status = 'pending'")
        .await;
    assert!(pending >= 2, "wins queued while Discord was down: {pending}");

    let discord = FakeDiscord::start().await;
    let bot = chat_bot(&database, dir.path(), &irc, "downchan", discord.webhook_url().as_str()).await;
    // A row the killed process had claimed waits for its lease (60 s) first.
    database
        .wait_count_within(
            Duration::from_secs(100),
            "SELECT count(*) FROM outbox WHERE status = 'sent'",
            pending,
            "queued wins delivered",
        )
        .await;
    assert_eq!(bot.stop().await.code, Some(0));
    // Everything won by now has been posted (any win of the last second may
    // still be pending: it is posted by the next start, never twice).
    let posts = assert_posted_once_each(&discord);
    let sent = ids(&database, "SELECT raffle_id FROM outbox WHERE status = 'sent'").await;
    let posted: HashSet<i64> = posts.keys().copied().collect();
    assert_eq!(sent, posted, "every row marked sent was posted, and only those");
    let won = ids(&database, "SELECT id FROM raffles WHERE outcome = 'won'").await;
    assert!(sent.is_subset(&won));
    assert!(sent.len() as i64 >= pending);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_connections_killed_mid_run_lose_no_presence_and_no_crash() {
    let database = TestDatabase::create().await;
    let dir = temp_data_dir();
    let irc = FakeIrc::start().await;
    let discord = FakeDiscord::start().await;
    let mut bot = chat_bot(&database, dir.path(), &irc, "faulty", discord.webhook_url().as_str()).await;
    irc.wait_joined("faulty", 1, DEADLINE).await;
    let admin = database.client().await;
    for round in 0..5 {
        for n in 0..20 {
            let id = round * 100 + n;
            irc.send_to_channel(
                "faulty",
                &viewer_says("faulty", &format!("9{id:04}"), &format!("user{id}"), "hey"),
            );
        }
        terminate_other_connections(&admin).await;
        // Sabotage pacing, not synchronisation: chat keeps flowing between kills.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    database
        .wait_count("SELECT count(*) FROM presence", 100, "every viewer's presence")
        .await;
    let raffles_before = database.count("SELECT count(*) FROM raffles").await;
    database
        .wait_count(
            "SELECT count(*) FROM raffles",
            raffles_before + 1,
            "raffles to continue after the faults",
        )
        .await;
    assert!(bot.is_running(), "kinoyubot crashed");
    assert_eq!(bot.stop().await.code, Some(0));
    assert_posted_once_each(&discord);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_database_draw_each_slot_once_and_post_once() {
    let database = TestDatabase::create().await;
    let irc = FakeIrc::start().await;
    let discord = FakeDiscord::start().await;
    let dirs = [temp_data_dir(), temp_data_dir()];
    let mut bots = Vec::new();
    for dir in &dirs {
        bots.push(chat_bot(&database, dir.path(), &irc, "shared", discord.webhook_url().as_str()).await);
    }
    // One instance holds the channel's lease (SPEC §15) and joins it; the
    // unique slot still rules out a double draw while both run.
    chat_until_won(&database, &irc, "shared", 1, 4).await;
    for bot in bots {
        assert_eq!(bot.stop().await.code, Some(0));
    }
    let duplicates = database
        .count(
            "SELECT count(*) FROM (SELECT slot FROM raffles WHERE slot IS NOT NULL GROUP BY channel_id, slot HAVING count(*) > 1) d",
        )
        .await;
    assert_eq!(duplicates, 0, "a slot was drawn twice");
    let posts = assert_posted_once_each(&discord);
    assert!(posts.len() >= 3, "wins were posted: {posts:?}");
}
