//! Several `kinoyubot run` processes on one database split the channels by
//! leases (SPEC §15, issue 19 item 1): each channel is held, joined and
//! drawn by exactly one instance; a killed instance's channels are served
//! again within `CHANNEL_LEASE` plus one interval, a stopped one's at once,
//! and a newcomer takes its share.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::fake_irc::{FakeIrc, default_room_id, privmsg};
use crate::helpers::{ALWAYS_WON, TestDatabase, temp_data_dir, wait_for_within};
use crate::process::{TestProcess, kinoyubot};

/// Short on purpose: renewals every 2 s.
const LEASE: Duration = Duration::from_secs(6);
const LEASE_SETTING: &str = "6s";
/// `RAFFLE_INTERVAL` in these tests.
const INTERVAL: Duration = Duration::from_secs(2);
const CHANNELS: [&str; 6] = ["lease_a", "lease_b", "lease_c", "lease_d", "lease_e", "lease_f"];
/// Room for a loaded machine on top of each promise.
const SLACK: Duration = Duration::from_secs(10);

struct Cluster {
    database: TestDatabase,
    irc: FakeIrc,
    dir: tempfile::TempDir,
    items: std::path::PathBuf,
}

impl Cluster {
    async fn start() -> Self {
        let dir = temp_data_dir();
        let items = dir.path().join("items.toml");
        std::fs::write(&items, ALWAYS_WON).unwrap();
        Self {
            database: TestDatabase::migrated().await,
            irc: FakeIrc::start().await,
            dir,
            items,
        }
    }

    /// Starts instance `id`, ready.
    async fn instance(&self, id: &str) -> TestProcess {
        let data = self.dir.path().join(id);
        std::fs::create_dir_all(&data).unwrap();
        kinoyubot(&data)
            .env("DATABASE_URL", &self.database.url)
            .env("DATA_DIR", &data)
            .env("ITEMS_FILE", &self.items)
            .env("TWITCH_CHANNELS", CHANNELS.join(","))
            .env("TWITCH_IRC_SERVER", self.irc.url())
            .env("RAFFLE_INTERVAL", "2s")
            .env("ONLY_WHEN_LIVE", "false")
            .env("CHANNEL_LEASE", LEASE_SETTING)
            .env("JOIN_RATE", "1000")
            .env("INSTANCE_ID", id)
            .spawn_run()
            .await
    }

    /// Valid leases per instance.
    async fn holdings(&self) -> BTreeMap<String, i64> {
        let client = self.database.client().await;
        client
            .query(
                "SELECT instance_id, count(*) FROM channel_leases WHERE lease_until > now() GROUP BY instance_id",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Waits until the valid leases per instance are exactly `expected`.
    async fn wait_holdings(&self, deadline: Duration, expected: &[(&str, i64)]) -> Duration {
        let expected: BTreeMap<String, i64> = expected.iter().map(|(id, n)| ((*id).to_owned(), *n)).collect();
        let started = Instant::now();
        wait_for_within(deadline, &format!("leases {expected:?}"), || async {
            (self.holdings().await == expected).then_some(())
        })
        .await;
        started.elapsed()
    }

    /// Waits until every channel is joined by exactly one IRC connection.
    async fn wait_each_joined_once(&self) {
        self.irc
            .wait_until("each channel joined by one connection", SLACK, |irc| {
                CHANNELS.iter().all(|channel| irc.joined_by(channel) == 1)
            })
            .await;
    }

    /// Timer slots drawn more than once (the unique slot rules it out).
    async fn slots_drawn_twice(&self) -> i64 {
        self.database
            .count(
                "SELECT count(*) FROM (SELECT channel_id, slot FROM raffles WHERE slot IS NOT NULL
                 GROUP BY channel_id, slot HAVING count(*) > 1) AS twice",
            )
            .await
    }

    /// Timer raffles of `channel` since `since` (database time).
    async fn timer_raffles_since(&self, channel: &str, since: chrono::DateTime<chrono::Utc>) -> i64 {
        let client = self.database.client().await;
        client
            .query_one(
                "SELECT count(*) FROM raffles r JOIN channels c ON c.id = r.channel_id
                 WHERE c.login = $1 AND r.trigger = 'timer' AND r.created_at > $2",
                &[&channel, &since],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn database_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.database
            .client()
            .await
            .query_one("SELECT now()", &[])
            .await
            .unwrap()
            .get(0)
    }

    /// Channels held by `instance` now.
    async fn channels_of(&self, instance: &str) -> Vec<String> {
        let client = self.database.client().await;
        client
            .query(
                "SELECT c.login FROM channel_leases l JOIN channels c ON c.id = l.channel_id
                 WHERE l.instance_id = $1 AND l.lease_until > now() ORDER BY c.login",
                &[&instance],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_split_the_channels_and_each_message_is_counted_once() {
    let cluster = Cluster::start().await;
    let a = cluster.instance("inst-a").await;
    let b = cluster.instance("inst-b").await;
    cluster
        .wait_holdings(SLACK + LEASE, &[("inst-a", 3), ("inst-b", 3)])
        .await;
    cluster.wait_each_joined_once().await;

    // One chat line per channel: read by exactly one instance, counted once.
    for channel in CHANNELS {
        let line = privmsg(channel, &default_room_id(channel), "777001", "onceviewer", "hello");
        assert_eq!(cluster.irc.send_to_channel(channel, &line), 1, "#{channel}");
    }
    cluster
        .database
        .wait_count(
            "SELECT count(*) FROM presence WHERE user_id = '777001'",
            6,
            "presence rows of the viewer",
        )
        .await;
    assert_eq!(
        cluster
            .database
            .count("SELECT coalesce(sum(message_count), 0)::bigint FROM presence WHERE user_id = '777001'")
            .await,
        6,
        "each message counted once in total"
    );

    // /api/status names the serving instance of every channel.
    let status: serde_json::Value = reqwest::get(a.url("/api/status")).await.unwrap().json().await.unwrap();
    assert_eq!(status["instance"]["id"], "inst-a", "{status}");
    assert_eq!(status["instance"]["leased_channels"], 3, "{status}");
    let a_channels = cluster.channels_of("inst-a").await;
    for channel in status["channels"].as_array().unwrap() {
        let login = channel["login"].as_str().unwrap();
        let expected = if a_channels.iter().any(|c| c == login) {
            "inst-a"
        } else {
            "inst-b"
        };
        assert_eq!(channel["served_by"], expected, "{status}");
        // Only the serving instance runs the channel's timer.
        assert_eq!(channel["next_raffle_at"].is_string(), expected == "inst-a", "{status}");
    }
    let metrics = reqwest::get(b.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("kinoyubot_leased_channels{instance=\"inst-b\"} 3"),
        "{metrics}"
    );

    // Some timer slots get drawn; none twice.
    cluster
        .database
        .wait_count(
            "SELECT count(*) FROM raffles WHERE trigger = 'timer'",
            12,
            "timer raffles",
        )
        .await;
    assert_eq!(cluster.slots_drawn_twice().await, 0);
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_instances_channels_are_served_again_within_a_lease_and_an_interval() {
    let cluster = Cluster::start().await;
    let a = cluster.instance("kill-a").await;
    let b = cluster.instance("kill-b").await;
    cluster
        .wait_holdings(SLACK + LEASE, &[("kill-a", 3), ("kill-b", 3)])
        .await;
    cluster.wait_each_joined_once().await;
    // A viewer in every channel, so rounds have someone to win.
    for channel in CHANNELS {
        let line = privmsg(channel, &default_room_id(channel), "777002", "killviewer", "hello");
        assert_eq!(cluster.irc.send_to_channel(channel, &line), 1, "#{channel}");
    }
    cluster
        .database
        .wait_count(
            "SELECT count(*) FROM presence WHERE user_id = '777002'",
            6,
            "presence rows of the viewer",
        )
        .await;
    let orphaned = cluster.channels_of("kill-b").await;
    // b draws (and queues announcements) before it dies.
    cluster
        .database
        .wait_count(
            "SELECT count(*) FROM raffles WHERE trigger = 'timer'",
            6,
            "timer raffles",
        )
        .await;

    b.kill_9().await;
    let killed_at = Instant::now();
    let since = cluster.database_now().await;
    cluster.wait_holdings(LEASE + SLACK, &[("kill-a", 6)]).await;
    // Served again: each orphaned channel gets a timer raffle within
    // CHANNEL_LEASE + one interval (plus slack for a loaded machine).
    let promise = LEASE + INTERVAL;
    wait_for_within(promise + SLACK, "orphaned channels drawn again", || async {
        for channel in &orphaned {
            if cluster.timer_raffles_since(channel, since).await == 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let took = killed_at.elapsed();
    assert!(took <= promise + SLACK, "took {took:?}");
    assert_eq!(cluster.slots_drawn_twice().await, 0);
    cluster.wait_each_joined_once().await;
    // No announcement lost: every won raffle's announcement is delivered,
    // those b queued included (a's delivery worker sends them).
    let won = cluster
        .database
        .count("SELECT count(*) FROM raffles WHERE outcome = 'won'")
        .await;
    assert_eq!(
        cluster
            .database
            .count("SELECT count(*) FROM raffles r WHERE r.outcome = 'won' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.raffle_id = r.id)")
            .await,
        0,
        "every won raffle has an announcement"
    );
    wait_for_within(SLACK + Duration::from_secs(20), "announcements delivered", || async {
        let left = cluster
            .database
            .count("SELECT count(*) FROM outbox o JOIN raffles r ON r.id = o.raffle_id WHERE o.status <> 'sent' AND r.created_at <= now() - interval '3 seconds'")
            .await;
        (left == 0).then_some(())
    })
    .await;
    assert!(won > 0);
    drop(a);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_stop_hands_the_channels_over_at_once() {
    let cluster = Cluster::start().await;
    let a = cluster.instance("stop-a").await;
    let b = cluster.instance("stop-b").await;
    cluster
        .wait_holdings(SLACK + LEASE, &[("stop-a", 3), ("stop-b", 3)])
        .await;
    let exited = b.stop_with(Signal::SIGTERM, Duration::from_secs(10)).await;
    assert_eq!(exited.code, Some(0), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("channel leases handed back"),
        "{}",
        exited.stderr
    );
    // At once: b's instance row and leases are gone at exit...
    assert_eq!(
        cluster
            .database
            .count("SELECT count(*) FROM channel_leases WHERE instance_id = 'stop-b'")
            .await,
        0
    );
    // ...and a takes them at its next renewal, long before they would have
    // run out (a renewal is every third of the lease).
    let took = cluster.wait_holdings(LEASE, &[("stop-a", 6)]).await;
    assert!(took < LEASE, "took {took:?}");
    cluster.wait_each_joined_once().await;
    drop(a);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_instance_takes_its_share_and_three_split_the_channels() {
    let cluster = Cluster::start().await;
    let a = cluster.instance("new-a").await;
    cluster.wait_holdings(SLACK, &[("new-a", 6)]).await;
    cluster.wait_each_joined_once().await;
    let b = cluster.instance("new-b").await;
    cluster
        .wait_holdings(SLACK + LEASE, &[("new-a", 3), ("new-b", 3)])
        .await;
    let c = cluster.instance("new-c").await;
    cluster
        .wait_holdings(SLACK + LEASE, &[("new-a", 2), ("new-b", 2), ("new-c", 2)])
        .await;
    cluster.wait_each_joined_once().await;
    // Each channel is held by exactly one instance (the key), and all are held.
    assert_eq!(
        cluster
            .database
            .count("SELECT count(DISTINCT channel_id) FROM channel_leases WHERE lease_until > now()")
            .await,
        6
    );
    let since = cluster.database_now().await;
    cluster
        .database
        .wait_count(
            &format!(
                "SELECT count(*) FROM raffles WHERE trigger = 'timer' AND created_at > '{}'",
                since.to_rfc3339()
            ),
            12,
            "timer raffles with three instances",
        )
        .await;
    assert_eq!(cluster.slots_drawn_twice().await, 0);
    drop((a, b, c));
}

/// A channel handed to another instance whose PART the server did not
/// honour (its JOIN landed after the PART) is still joined: what its chat
/// says is not this instance's to count, and the listener parts it again.
#[tokio::test(flavor = "multi_thread")]
async fn chat_of_a_channel_no_longer_served_is_not_counted_even_if_still_joined() {
    use kinoyubot::channel::{ChannelLogin, ChannelSet};
    use kinoyubot::presence::batch::PresenceEvent;
    use kinoyubot::presence::tracker::PresenceHandle;
    use kinoyubot::twitch::irc::ChatListener;
    use tokio_util::sync::CancellationToken;

    let irc = FakeIrc::start().await;
    let kept = ChannelLogin::parse("kept").expect("login");
    let handed = ChannelLogin::parse("handed").expect("login");
    let served = ChannelSet::new([kept.clone(), handed.clone()]);
    let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
    let (commands_tx, _commands) = tokio::sync::mpsc::channel(8);
    let stop = CancellationToken::new();
    let listener = ChatListener::new(
        irc.server(),
        served.clone(),
        PresenceHandle::from_sender(events_tx),
        commands_tx,
    );
    let listener = tokio::spawn(listener.run(stop.clone()));
    irc.wait_joined("kept", 1, Duration::from_secs(30)).await;
    irc.wait_joined("handed", 1, Duration::from_secs(30)).await;

    irc.ignore_parts();
    served.remove(&handed);
    irc.wait_received("PART #handed", Duration::from_secs(30)).await;
    assert!(irc.is_joined("handed"), "the stand-in kept the channel joined");
    // Both on the one connection, in this order: once the kept channel's
    // message has arrived, the handed channel's has been read before it.
    irc.send_to_channel(
        "handed",
        &privmsg(
            "handed",
            &default_room_id("handed"),
            "91000001",
            "elsewhere",
            "counted there",
        ),
    );
    irc.send_to_channel(
        "kept",
        &privmsg("kept", &default_room_id("kept"), "91000002", "here", "counted here"),
    );
    let mut senders = Vec::new();
    while !senders.iter().any(|s: &String| s == "91000002") {
        let batch = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("the kept channel's message")
            .expect("listener running");
        for event in batch {
            if let PresenceEvent::Message(update) = event {
                assert_eq!(update.channel, kept, "only the served channel counts: {update:?}");
                senders.push(update.user_id);
            }
        }
    }
    assert_eq!(senders, ["91000002"]);
    stop.cancel();
    listener.await.expect("listener task").expect("listener");
}
