//! Memory per buffered viewer (issue 19 item 3): what the presence tracker
//! keeps for each distinct viewer while the database is away, what a flush
//! of that buffer adds on top, and the same viewers kept the way the buffer
//! kept them before (one full row of owned strings per viewer, keyed by
//! channel and user id), measured in the same run.
//!
//! Each measurement runs in its own child process (this binary, re-run with
//! `BENCH_PHASE`), so one phase's freed memory cannot hide the next one's
//! growth. RSS is read from `/proc/self/status`; the flush peak is `VmHWM`
//! after `/proc/self/clear_refs` reset it.
//!
//! The database sits behind a gate (a TCP forwarder in this process): while
//! it is shut every connection is refused, as in an outage; opening it lets
//! the tracker write the whole buffer.
//!
//! Run with `cargo bench --bench presence_memory` (needs PostgreSQL).
//! Settings: `BENCH_VIEWERS` (200,000; the buffer holds at most 250,000),
//! `BENCH_BASE_VIEWERS` (50,000: the growth is measured from there), and
//! `DATABASE_URL` (an admin URL; a throwaway database is created and
//! dropped), defaulting to the local
//! `postgresql://postgres@127.0.0.1:5432/postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use kinoyubot::channel::ChannelLogin;
use kinoyubot::presence::batch::{PresenceEvent, PresenceUpdate};
use kinoyubot::presence::tracker::PresenceTracker;
use kinoyubot::store::{Store, pool};
use rand::Rng as _;
use tokio_util::sync::CancellationToken;

const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
/// Channels the viewers are spread over.
const CHANNELS: u64 = 10;
/// The target of the issue.
const TARGET_BYTES: f64 = 400.0;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A `/proc/self/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits until RSS stops growing (the tracker has taken every queued event).
async fn settled_rss_kib() -> u64 {
    let mut last = status_kib("VmRSS:");
    let mut stable = 0;
    while stable < 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = status_kib("VmRSS:");
        if now.abs_diff(last) * 200 < last.max(1) {
            stable += 1;
        } else {
            stable = 0;
        }
        last = now;
    }
    last
}

/// Viewer `n` as the chat listener would report them: a realistic login
/// and display name, a numeric id, one channel of [`CHANNELS`].
fn update(n: u64, seen_at: DateTime<Utc>) -> PresenceUpdate {
    let channel = ChannelLogin::parse(&format!("memchan{}", n % CHANNELS)).expect("login");
    PresenceUpdate {
        channel,
        user_id: (300_000_000 + n).to_string(),
        login: format!("viewer_{n:07}"),
        display_name: format!("Viewer_{n:07}"),
        is_subscriber: n.is_multiple_of(10),
        is_vip: n.is_multiple_of(25),
        is_moderator: false,
        is_broadcaster: false,
        seen_at,
    }
}

/// The pre-issue-19 buffer: a full row of owned strings per viewer.
#[allow(dead_code)]
struct NaiveRow {
    channel: String,
    user_id: String,
    login: String,
    display_name: String,
    is_subscriber: bool,
    is_vip: bool,
    is_moderator: bool,
    is_broadcaster: bool,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    message_count: i64,
}

/// A TCP forwarder to PostgreSQL that refuses connections while shut.
struct Gate {
    port: u16,
    open: Arc<AtomicBool>,
}

impl Gate {
    async fn start(target: String) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let open = Arc::new(AtomicBool::new(false));
        let gate = Arc::clone(&open);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !gate.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Ok(Self { port, open })
    }
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Phase `tracker` (child process): buffer `base` then `viewers` viewers
/// with the database away, then let the buffer be written. Prints
/// `base_kib buffered_kib flush_peak_kib flush_ms`.
async fn tracker_phase(url: &str, base: u64, viewers: u64) -> anyhow::Result<()> {
    let admin = connect(url).await?;
    let parsed = url::Url::parse(url)?;
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    let gate = Gate::start(target).await?;
    let mut gated = parsed.clone();
    gated.set_port(Some(gate.port)).ok();
    let store = Store::new(pool::build(gated.as_str(), 4)?);
    let (tracker, handle) = PresenceTracker::new(store);
    let shutdown = CancellationToken::new();
    let tracker = tokio::spawn(tracker.run(shutdown.clone()));
    let now = Utc::now();
    let send = |from: u64, to: u64| {
        let handle = handle.clone();
        async move {
            let mut n = from;
            while n < to {
                let end = (n + 500).min(to);
                let events = (n..end).map(|i| PresenceEvent::Message(update(i, now))).collect();
                handle.send(events).await.ok();
                n = end;
            }
        }
    };
    // Warm the allocator and the tracker with a few viewers first.
    send(viewers, viewers + 1_000).await;
    send(0, base).await;
    let base_kib = settled_rss_kib().await;
    send(base, viewers).await;
    let buffered_kib = settled_rss_kib().await;
    std::fs::write("/proc/self/clear_refs", "5").context("reset VmHWM")?;
    let started = Instant::now();
    gate.open.store(true, Ordering::SeqCst);
    let expected = i64::try_from(viewers + 1_000)?;
    loop {
        let written: i64 = admin
            .query_one("SELECT count(*) FROM presence", &[])
            .await
            .map(|row| row.get(0))
            .unwrap_or(0);
        if written >= expected {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(600), "buffer not written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let flush_ms = started.elapsed().as_millis();
    let flush_peak_kib = status_kib("VmHWM:");
    shutdown.cancel();
    tracker.await?;
    println!("{base_kib} {buffered_kib} {flush_peak_kib} {flush_ms}");
    Ok(())
}

/// Phase `naive` (child process): the same viewers in the old shape.
/// Prints `base_kib buffered_kib`.
async fn naive_phase(base: u64, viewers: u64) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut buffer: HashMap<(String, String), NaiveRow> = HashMap::new();
    let mut add = |from: u64, to: u64| {
        for n in from..to {
            let u = update(n, now);
            let key = (u.channel.as_str().to_owned(), u.user_id.clone());
            buffer.insert(
                key,
                NaiveRow {
                    channel: u.channel.as_str().to_owned(),
                    user_id: u.user_id,
                    login: u.login,
                    display_name: u.display_name,
                    is_subscriber: u.is_subscriber,
                    is_vip: u.is_vip,
                    is_moderator: u.is_moderator,
                    is_broadcaster: u.is_broadcaster,
                    first_seen: u.seen_at,
                    last_seen: u.seen_at,
                    message_count: 1,
                },
            );
        }
    };
    add(viewers, viewers + 1_000);
    add(0, base);
    let base_kib = settled_rss_kib().await;
    add(base, viewers);
    let buffered_kib = settled_rss_kib().await;
    println!("{base_kib} {buffered_kib}");
    std::hint::black_box(&buffer);
    Ok(())
}

/// Runs this binary again for one phase and reads the figures it printed.
fn child(phase: &str, url: &str) -> anyhow::Result<Vec<f64>> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .env("BENCH_PHASE", phase)
        .env("BENCH_PHASE_URL", url)
        .output()
        .context("run a phase")?;
    anyhow::ensure!(
        output.status.success(),
        "phase {phase} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout)?;
    let last = text.lines().last().unwrap_or_default();
    last.split_whitespace()
        .map(|v| v.parse::<f64>().context("a figure"))
        .collect()
}

async fn run() -> anyhow::Result<()> {
    let viewers = env_number("BENCH_VIEWERS", 200_000);
    let base = env_number("BENCH_BASE_VIEWERS", 50_000).min(viewers.saturating_sub(1));
    if let Ok(phase) = std::env::var("BENCH_PHASE") {
        return match phase.as_str() {
            "tracker" => tracker_phase(&std::env::var("BENCH_PHASE_URL")?, base, viewers).await,
            _ => naive_phase(base, viewers).await,
        };
    }
    let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let admin = connect(&admin_url)
        .await
        .context("connect to DATABASE_URL (an admin URL)")?;
    let name = format!("kb_mem_{:016x}", rand::rng().random::<u64>());
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    let mut url = url::Url::parse(&admin_url)?;
    url.set_path(&format!("/{name}"));
    let result = async {
        let store = Store::new(pool::build(url.as_str(), 2)?);
        store.migrate().await?;
        for n in 0..CHANNELS {
            store
                .ensure_channel(&ChannelLogin::parse(&format!("memchan{n}"))?)
                .await?;
        }
        let tracker = child("tracker", url.as_str())?;
        let naive = child("naive", url.as_str())?;
        Ok::<_, anyhow::Error>((tracker, naive))
    }
    .await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    let (tracker, naive) = result?;
    let grown = (viewers - base) as f64;
    let per_viewer = |from: f64, to: f64| (to - from) * 1024.0 / grown;
    let (t_base, t_buffered, t_peak, t_ms) = (tracker[0], tracker[1], tracker[2], tracker[3]);
    let compact = per_viewer(t_base, t_buffered);
    let old = per_viewer(naive[0], naive[1]);
    println!(
        "presence memory benchmark: {base} then {viewers} distinct viewers over {CHANNELS} channels, database away"
    );
    println!(
        "  tracker buffer: RSS {:.1} MiB at {base}, {:.1} MiB at {viewers}: {compact:.0} bytes per buffered viewer (target {TARGET_BYTES:.0})",
        t_base / 1024.0,
        t_buffered / 1024.0
    );
    println!(
        "  old shape (a full row of owned strings per viewer): {old:.0} bytes per viewer; ratio now/old {:.2}",
        compact / old
    );
    println!(
        "  flush of the whole buffer once the database is back: {t_ms:.0} ms, peak RSS {:.1} MiB = {:.1} MiB above the buffer ({:.0} bytes per viewer)",
        t_peak / 1024.0,
        (t_peak - t_buffered) / 1024.0,
        (t_peak - t_buffered) * 1024.0 / (viewers as f64)
    );
    println!("RESULT presence_bytes_per_buffered_viewer={compact:.0}");
    println!("RESULT presence_bytes_per_viewer_old_shape={old:.0}");
    println!(
        "RESULT presence_flush_peak_over_buffer_mib={:.1}",
        (t_peak - t_buffered) / 1024.0
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}
