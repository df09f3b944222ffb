//! Many channels, several instances (issue 19 items 1 and 2): the real
//! `kinoyubot run` binary serving `BENCH_CHANNELS` channels from the IRC
//! stand-in (which serves them all), timers at `BENCH_INTERVAL` seconds and
//! chat on `BENCH_CHAT_CHANNELS` of them; first one instance, then
//! `BENCH_INSTANCES` instances on one database in the same run.
//!
//! Prints, per run: time to join every channel, timer rounds per second,
//! slot lag (from each slot's start, phase included, to the round's
//! commit) p50/p99/max, chat messages sent and processed (the sum of
//! `presence.message_count` over all instances), and each instance's CPU
//! time and RSS; then the throughput and CPU ratios against one instance.
//!
//! Run with `scripts/bench-scale.sh` (release build). Settings:
//! `BENCH_CHANNELS` (10,000), `BENCH_CHAT_CHANNELS` (1,000),
//! `BENCH_INTERVAL` (60), `BENCH_DURATION` (seconds of measurement, default
//! two intervals), `BENCH_CHAT_RATE` (messages per second in total, 1,000),
//! `BENCH_INSTANCES` (3), `BENCH_JOIN_RATE` (`JOIN_RATE` of the instances,
//! 20,000 per 10 s), and `DATABASE_URL` (an admin URL; throwaway databases
//! are created and dropped) defaulting to the local
//! `postgresql://postgres@127.0.0.1:5432/postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/it/fake_irc.rs"]
mod fake_irc;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fake_irc::FakeIrc;
use rand::Rng as _;

const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";
/// Prize list of the runs: most rounds draw no prize, so announcements
/// (printed, no webhook) stay few.
const ITEMS: &str = "[[items]]\nname = \"Sticker\"\nprobability = 0.05\n";
/// Distinct chatters per chat channel.
const USERS_PER_CHANNEL: u64 = 50;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn login(n: u64) -> String {
    format!("c{n:05}")
}

/// `utime + stime` of a process, in seconds (clock ticks of 100 Hz).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(0)
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

struct Settings {
    channels: u64,
    chat_channels: u64,
    interval: u64,
    duration: u64,
    chat_rate: u64,
    instances: u64,
    join_rate: u64,
}

struct InstanceFigures {
    id: String,
    cpu_seconds: f64,
    rss_mib: f64,
    peak_rss_mib: f64,
    leased: i64,
}

struct RunFigures {
    instances: Vec<InstanceFigures>,
    join_time: Duration,
    rounds: usize,
    measured: Duration,
    lag_p50_ms: f64,
    lag_p99_ms: f64,
    lag_max_ms: f64,
    sent: u64,
    processed: i64,
    /// Channels without a timer round in the window, by holder.
    idle: Vec<(String, i64)>,
}

impl RunFigures {
    fn rounds_per_second(&self) -> f64 {
        self.rounds as f64 / self.measured.as_secs_f64()
    }
    fn cpu_per_instance(&self) -> f64 {
        let total: f64 = self.instances.iter().map(|i| i.cpu_seconds).sum();
        total / self.instances.len().max(1) as f64
    }
}

struct Instance {
    id: String,
    child: Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap_or(0)),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run_once(
    admin: &tokio_postgres::Client,
    admin_url: &str,
    settings: &Settings,
    instances: u64,
) -> anyhow::Result<RunFigures> {
    let name = format!("kb_scale_{:016x}", rand::rng().random::<u64>());
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{name}"));
    let result = run_on(url.as_str(), settings, instances).await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    result
}

async fn run_on(url: &str, settings: &Settings, count: u64) -> anyhow::Result<RunFigures> {
    let irc = FakeIrc::start().await;
    let dir = tempfile::tempdir()?;
    let items = dir.path().join("items.toml");
    std::fs::write(&items, ITEMS)?;
    let logins: Vec<String> = (0..settings.channels).map(login).collect();
    let mut instances = Vec::new();
    let started = Instant::now();
    for n in 0..count {
        let id = format!("bench-{n}");
        let data = dir.path().join(&id);
        std::fs::create_dir_all(&data)?;
        let child = Command::new(env!("CARGO_BIN_EXE_kinoyubot"))
            .arg("run")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("DATA_DIR", &data)
            .env("ITEMS_FILE", &items)
            .env("HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("TWITCH_CHANNELS", logins.join(","))
            .env("TWITCH_IRC_SERVER", irc.url())
            .env("RAFFLE_INTERVAL", format!("{}s", settings.interval))
            .env("ONLY_WHEN_LIVE", "false")
            .env("JOIN_RATE", settings.join_rate.to_string())
            .env("INSTANCE_ID", &id)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start kinoyubot")?;
        instances.push(Instance { id, child });
    }
    let db = loop {
        if let Ok(db) = connect(url).await {
            break db;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Every channel joined by exactly one connection, and leased.
    loop {
        let joined = logins.iter().filter(|login| irc.joined_by(login) == 1).count();
        let leased: i64 = db
            .query_one("SELECT count(*) FROM channel_leases WHERE lease_until > now()", &[])
            .await
            .map(|row| row.get(0))
            .unwrap_or(0);
        // And the split settled: every instance holds its fair share
        // (a newcomer takes its share from the others within a few lease
        // rounds; channels in hand-over are not served, so measuring
        // before would count the hand-over, not the steady state).
        let holdings: Vec<i64> = db
            .query(
                "SELECT count(*) FROM channel_leases WHERE lease_until > now() GROUP BY instance_id",
                &[],
            )
            .await
            .map(|rows| rows.iter().map(|row| row.get(0)).collect())
            .unwrap_or_default();
        // Shares are ceil(channels / instances), so the last instance may
        // hold a few less (3,334 + 3,334 + 3,332 for 10,000).
        let spread = holdings
            .iter()
            .max()
            .zip(holdings.iter().min())
            .map_or(0, |(max, min)| max - min);
        let settled = holdings.len() == usize::try_from(count)? && spread <= i64::try_from(count)?;
        if joined == logins.len() && leased == i64::try_from(logins.len())? && settled {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "after 900 s: {joined} of {} channels joined by exactly one connection, {leased} leased, holdings {holdings:?}",
            logins.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let join_time = started.elapsed();
    // Let the first full interval of timers start before measuring.
    tokio::time::sleep(Duration::from_secs(settings.interval.min(10))).await;
    let cpu_start: Vec<f64> = instances.iter().map(|i| cpu_seconds(i.child.id())).collect();
    let t0: chrono::DateTime<chrono::Utc> = db.query_one("SELECT now()", &[]).await?.get(0);
    let measure_start = Instant::now();
    // Chat: BENCH_CHAT_RATE messages a second, spread over the chat channels.
    let mut sent = 0u64;
    let tick = Duration::from_millis(100);
    let per_tick = (settings.chat_rate / 10).max(1);
    let mut next = 0u64;
    while measure_start.elapsed() < Duration::from_secs(settings.duration) {
        let tick_start = Instant::now();
        for _ in 0..per_tick {
            let channel = login(next % settings.chat_channels.max(1));
            let user = 200_000_000 + next % (settings.chat_channels.max(1) * USERS_PER_CHANNEL);
            let line = fake_irc::privmsg(
                &channel,
                &fake_irc::default_room_id(&channel),
                &user.to_string(),
                &format!("viewer{user}"),
                "Kappa",
            );
            sent += u64::try_from(irc.send_to_channel(&channel, &line).min(1))?;
            next += 1;
        }
        tokio::time::sleep(tick.saturating_sub(tick_start.elapsed())).await;
    }
    let measured = measure_start.elapsed();
    let cpu: Vec<f64> = instances
        .iter()
        .zip(&cpu_start)
        .map(|(i, start)| cpu_seconds(i.child.id()) - start)
        .collect();
    let mut figures = Vec::new();
    for (instance, cpu) in instances.iter().zip(cpu) {
        let leased: i64 = db
            .query_one(
                "SELECT count(*) FROM channel_leases WHERE instance_id = $1 AND lease_until > now()",
                &[&instance.id],
            )
            .await?
            .get(0);
        figures.push(InstanceFigures {
            id: instance.id.clone(),
            cpu_seconds: cpu,
            rss_mib: status_kib(instance.child.id(), "VmRSS:") as f64 / 1024.0,
            peak_rss_mib: status_kib(instance.child.id(), "VmHWM:") as f64 / 1024.0,
            leased,
        });
    }
    // Presence is flushed every 500 ms; give the last messages time to land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let processed: i64 = db
        .query_one(
            "SELECT coalesce(sum(message_count), 0)::bigint FROM presence WHERE user_id::bigint >= 200000000",
            &[],
        )
        .await?
        .get(0);
    let interval = Duration::from_secs(settings.interval);
    let per_instance = settings.channels.div_ceil(count.max(1));
    let spread = usize::try_from(per_instance)? > kinoyubot::raffle::slot::SPREAD_ABOVE_CHANNELS;
    let t1 = t0 + chrono::Duration::from_std(measured)?;
    let rows = db
        .query(
            "SELECT c.login, r.slot, (extract(epoch FROM r.created_at) * 1000)::float8 AS created_ms
             FROM raffles r JOIN channels c ON c.id = r.channel_id
             WHERE r.trigger = 'timer' AND r.created_at >= $1 AND r.created_at < $2",
            &[&t0, &t1],
        )
        .await?;
    let mut lags: Vec<f64> = rows
        .iter()
        .map(|row| {
            let login: String = row.get(0);
            let slot: i64 = row.get(1);
            let created: f64 = row.get(2);
            let phase = if spread {
                kinoyubot::raffle::slot::phase_millis(&login, interval)
            } else {
                0
            };
            let start = slot as f64 * interval.as_millis() as f64 + phase as f64;
            created - start
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    // Channels that had no timer round in the window, by the instance
    // holding them (0 everywhere when every served channel is drawn).
    let idle = db
        .query(
            "SELECT l.instance_id, count(*) FROM channel_leases l
             WHERE NOT EXISTS (SELECT 1 FROM raffles r WHERE r.channel_id = l.channel_id
                               AND r.trigger = 'timer' AND r.created_at >= $1 AND r.created_at < $2)
             GROUP BY 1 ORDER BY 1",
            &[&t0, &t1],
        )
        .await?;
    let idle: Vec<(String, i64)> = idle.iter().map(|row| (row.get(0), row.get(1))).collect();
    drop(instances);
    Ok(RunFigures {
        instances: figures,
        join_time,
        rounds: lags.len(),
        measured,
        lag_p50_ms: percentile(&lags, 0.50),
        lag_p99_ms: percentile(&lags, 0.99),
        lag_max_ms: lags.last().copied().unwrap_or(0.0),
        sent,
        processed,
        idle,
    })
}

fn print_run(title: &str, run: &RunFigures) {
    println!("{title}");
    println!(
        "  all channels joined and leased, split settled, after {:.1} s",
        run.join_time.as_secs_f64()
    );
    println!(
        "  timer rounds: {} in {:.1} s = {:.1} rounds/s",
        run.rounds,
        run.measured.as_secs_f64(),
        run.rounds_per_second()
    );
    println!(
        "  slot lag: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        run.lag_p50_ms, run.lag_p99_ms, run.lag_max_ms
    );
    println!(
        "  chat: {} messages sent, {} processed in total ({:.2}x)",
        run.sent,
        run.processed,
        run.processed as f64 / run.sent.max(1) as f64
    );
    if !run.idle.is_empty() {
        println!("  channels without a timer round in the window: {:?}", run.idle);
    }
    for instance in &run.instances {
        println!(
            "  {}: {} channels, CPU {:.1} s ({:.0}% of one core), RSS {:.0} MiB (peak {:.0} MiB)",
            instance.id,
            instance.leased,
            instance.cpu_seconds,
            100.0 * instance.cpu_seconds / run.measured.as_secs_f64(),
            instance.rss_mib,
            instance.peak_rss_mib
        );
    }
}

async fn run() -> anyhow::Result<()> {
    let channels = env_number("BENCH_CHANNELS", 10_000).max(1);
    let interval = env_number("BENCH_INTERVAL", 60).max(1);
    let settings = Settings {
        channels,
        chat_channels: env_number("BENCH_CHAT_CHANNELS", 1_000).min(channels),
        interval,
        duration: env_number("BENCH_DURATION", 2 * interval).max(1),
        chat_rate: env_number("BENCH_CHAT_RATE", 1_000),
        instances: env_number("BENCH_INSTANCES", 3).max(1),
        join_rate: env_number("BENCH_JOIN_RATE", 20_000).max(1),
    };
    let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let admin = connect(&admin_url)
        .await
        .context("connect to DATABASE_URL (an admin URL)")?;
    println!(
        "scale benchmark ({} CPUs): {} channels at {} s, chat on {} at {} msg/s, JOIN_RATE {} per 10 s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.channels,
        settings.interval,
        settings.chat_channels,
        settings.chat_rate,
        settings.join_rate
    );
    let one = run_once(&admin, &admin_url, &settings, 1).await?;
    print_run("one instance", &one);
    let many = run_once(&admin, &admin_url, &settings, settings.instances).await?;
    print_run(&format!("{} instances", settings.instances), &many);
    println!(
        "  throughput ratio (rounds/s, {} vs 1): {:.2}; CPU per instance vs one: {:.2}",
        settings.instances,
        many.rounds_per_second() / one.rounds_per_second(),
        many.cpu_per_instance() / one.instances.first().map_or(1.0, |i| i.cpu_seconds.max(0.001))
    );
    println!("RESULT scale_channels={}", settings.channels);
    println!("RESULT scale_rounds_per_sec={:.1}", one.rounds_per_second());
    println!("RESULT scale_lag_p99_ms={:.0}", one.lag_p99_ms);
    println!(
        "RESULT scale_processed_ratio_many={:.3}",
        many.processed as f64 / many.sent.max(1) as f64
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run())
}
