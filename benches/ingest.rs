//! Chat ingest benchmark: N messages from M users, replayed by the Twitch
//! IRC stand-in over loopback into the real chat listener, presence tracker
//! and store; then the same kind of load through a naive writer doing one
//! upsert per message. Prints messages per second, time from the last
//! message to durable presence, peak RSS, and the batched/naive ratio.
//!
//! Run with `scripts/bench-ingest.sh` (release build). Settings:
//! `BENCH_MESSAGES` (default 1,000,000), `BENCH_USERS` (10,000),
//! `BENCH_NAIVE_MESSAGES` (20,000), and `DATABASE_URL` (an admin URL; a
//! throwaway database is created and dropped) defaulting to the local
//! `postgresql://postgres@127.0.0.1:5432/postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/it/fake_irc.rs"]
mod fake_irc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_irc::FakeIrc;
use kinoyubot::channel::ChannelLogin;
use kinoyubot::channel::ChannelSet;
use kinoyubot::presence::batch::PresenceEvent;
use kinoyubot::presence::tracker::{PresenceHandle, PresenceTracker};
use kinoyubot::store::{Store, pool};
use kinoyubot::twitch::irc::ChatListener;
use rand::Rng as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
const DEADLINE: Duration = Duration::from_secs(300);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Peak resident set size of this process, from /proc/self/status.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// One realistic PRIVMSG per user, with Twitch's full tag set.
fn chunk(channel: &str, users: u64) -> Arc<Vec<u8>> {
    let room = fake_irc::default_room_id(channel);
    let mut bytes = Vec::new();
    for i in 0..users {
        let id = 100_000_000 + i;
        let (badge_info, badges, subscriber) = match i % 10 {
            0 => ("subscriber/14", "subscriber/12,premium/1", 1),
            1 => ("", "vip/1", 0),
            2 => ("founder/3", "founder/0", 1),
            _ => ("", "", 0),
        };
        let line = format!(
            "@badge-info={badge_info};badges={badges};client-nonce={i:032x};color=#1E90FF;display-name=Viewer{i};emotes=25:0-4;first-msg=0;flags=;id=0b1c2d3e-4f5a-6b7c-8d9e-{i:012x};mod=0;returning-chatter=0;room-id={room};subscriber={subscriber};tmi-sent-ts=1764000000000;turbo=0;user-id={id};user-type= :viewer{i}!viewer{i}@viewer{i}.tmi.twitch.tv PRIVMSG #{channel} :Kappa message number {i} from chat\r\n"
        );
        bytes.extend_from_slice(line.as_bytes());
    }
    Arc::new(bytes)
}

/// Connects a plain client to `url`; its connection task runs in the background.
async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn total_messages(db: &tokio_postgres::Client, channel: &str) -> i64 {
    db.query_one(
        "SELECT COALESCE(sum(p.message_count), 0)::bigint FROM presence p
             JOIN channels c ON c.id = p.channel_id WHERE c.login = $1",
        &[&channel],
    )
    .await
    .map(|row| row.get(0))
    .unwrap_or(0)
}

struct Figures {
    messages: u64,
    /// From the first byte sent until the stand-in wrote the last one.
    send_time: Duration,
    /// From the first byte sent until every message was in the table.
    durable_time: Duration,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.durable_time.as_secs_f64()
    }
    fn lag(&self) -> Duration {
        self.durable_time.saturating_sub(self.send_time)
    }
}

/// Replays `reps` copies of `lines` (each `users` messages) into a
/// listener feeding `handle`, and waits until the table counts them all.
async fn replay(
    db: &tokio_postgres::Client,
    channel: &str,
    handle: PresenceHandle,
    lines: &Arc<Vec<u8>>,
    users: u64,
    reps: u64,
) -> anyhow::Result<Figures> {
    let irc = FakeIrc::start().await;
    let channels = ChannelSet::new([ChannelLogin::parse(channel)?]);
    let (command_tx, _commands) = mpsc::channel(64);
    let shutdown = CancellationToken::new();
    let listener = ChatListener::new(irc.server(), channels, handle, command_tx);
    let listener = tokio::spawn(listener.run(shutdown.clone()));
    irc.wait_joined(channel, 1, Duration::from_secs(30)).await;
    let start = Instant::now();
    for _ in 0..reps {
        irc.send_bytes_to_channel(channel, Arc::clone(lines));
    }
    let total_bytes = lines.len() as u64 * reps;
    let messages = users * reps;
    let mut send_time = None;
    loop {
        if send_time.is_none() && irc.bulk_written() >= total_bytes {
            send_time = Some(start.elapsed());
        }
        if send_time.is_some() && total_messages(db, channel).await >= i64::try_from(messages)? {
            break;
        }
        anyhow::ensure!(start.elapsed() < DEADLINE, "{channel}: not all messages arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let durable_time = start.elapsed();
    shutdown.cancel();
    listener.await??;
    Ok(Figures {
        messages,
        send_time: send_time.unwrap_or(durable_time),
        durable_time,
    })
}

/// The baseline: one prepared upsert per message, awaited in turn.
async fn naive_writer(
    store: Store,
    url: String,
    channel: &str,
    mut events: mpsc::Receiver<Vec<PresenceEvent>>,
) -> anyhow::Result<()> {
    let channel_id = store.ensure_channel(&ChannelLogin::parse(channel)?).await?.id;
    let client = connect(&url).await?;
    let statement = client
        .prepare(
            "INSERT INTO presence AS p (channel_id, user_id, login, display_name, is_subscriber, is_vip,
                                        is_moderator, is_broadcaster, first_seen, last_seen, message_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 1)
             ON CONFLICT (channel_id, user_id) DO UPDATE SET
                 login = EXCLUDED.login, display_name = EXCLUDED.display_name,
                 is_subscriber = EXCLUDED.is_subscriber, is_vip = EXCLUDED.is_vip,
                 is_moderator = EXCLUDED.is_moderator, is_broadcaster = EXCLUDED.is_broadcaster,
                 last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen),
                 message_count = p.message_count + 1",
        )
        .await?;
    while let Some(chunk) = events.recv().await {
        for event in chunk {
            if let PresenceEvent::Message(u) = event {
                client
                    .execute(
                        &statement,
                        &[
                            &channel_id,
                            &u.user_id,
                            &u.login,
                            &u.display_name,
                            &u.is_subscriber,
                            &u.is_vip,
                            &u.is_moderator,
                            &u.is_broadcaster,
                            &u.seen_at,
                        ],
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let messages = env_number("BENCH_MESSAGES", 1_000_000);
    let users = env_number("BENCH_USERS", 10_000).max(1);
    let naive_messages = env_number("BENCH_NAIVE_MESSAGES", 20_000);
    let reps = (messages / users).max(1);
    let naive_reps = (naive_messages / users).max(1);

    let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let (admin, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .context("connect to DATABASE_URL (an admin URL)")?;
    tokio::spawn(connection);
    let name = format!("kb_bench_{:016x}", rand::rng().random::<u64>());
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&format!("/{name}"));
    let result = async {
        let store = Store::new(pool::build(url.as_str(), 8)?);
        store.migrate().await?;
        let db = connect(url.as_str()).await?;
        let lines = chunk("bench", users);
        let rss_before = peak_rss_kib();

        let shutdown = CancellationToken::new();
        let (tracker, handle) = PresenceTracker::new(store.clone());
        let tracker = tokio::spawn(tracker.run(shutdown.clone()));
        let batched = replay(&db, "bench", handle, &lines, users, reps).await?;
        shutdown.cancel();
        tracker.await?;
        let rss_batched = peak_rss_kib();

        let naive_lines = chunk("naive", users);
        let (naive_tx, naive_rx) = mpsc::channel(kinoyubot::presence::tracker::PRESENCE_QUEUE);
        let writer = tokio::spawn({
            let store = store.clone();
            let url = url.to_string();
            async move { naive_writer(store, url, "naive", naive_rx).await }
        });
        let naive = replay(
            &db,
            "naive",
            PresenceHandle::from_sender(naive_tx),
            &naive_lines,
            users,
            naive_reps,
        )
        .await?;
        writer.await??;

        println!(
            "chat ingest benchmark ({} CPUs)",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!(
            "  load: {} messages from {} users over loopback TCP",
            batched.messages, users
        );
        println!(
            "  batched: {:>10.0} msg/s end to end (durable), {:.0} msg/s read; {:.2} s total",
            batched.rate(),
            batched.messages as f64 / batched.send_time.as_secs_f64(),
            batched.durable_time.as_secs_f64()
        );
        println!("  last message -> durable presence: {} ms", batched.lag().as_millis());
        println!(
            "  peak RSS: {} MiB (before the batched run: {} MiB; includes the stand-in and its send buffer)",
            rss_batched / 1024,
            rss_before / 1024
        );
        println!(
            "  naive one-upsert-per-message: {:>10.0} msg/s ({} messages, {:.2} s)",
            naive.rate(),
            naive.messages,
            naive.durable_time.as_secs_f64()
        );
        println!("  ratio batched / naive: {:.1}x", batched.rate() / naive.rate());
        // Machine-readable lines for scripts/bench.sh.
        println!("RESULT ingest_users={users}");
        println!("RESULT ingest_msgs_per_sec={:.0}", batched.rate());
        println!("RESULT ingest_naive_msgs_per_sec={:.0}", naive.rate());
        println!("RESULT ingest_ratio={:.1}", batched.rate() / naive.rate());
        println!("RESULT presence_lag_ms={}", batched.lag().as_millis());
        println!("RESULT ingest_peak_rss_mib={}", rss_batched / 1024);
        println!(
            "RESULT rss_per_100k_viewers_mib={:.1}",
            rss_batched.saturating_sub(rss_before) as f64 / 1024.0 / users as f64 * 100_000.0
        );
        anyhow::Ok(())
    }
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

fn main() -> anyhow::Result<()> {
    // Quiet unless RUST_LOG is set.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}
