//! Discord delivery (issue 5, SPEC §6): the worker against the stand-in.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kinoyubot::announce::Announcement;
use kinoyubot::announce::delivery::{DeliveryConfig, DeliveryNotifier, DeliveryWorker, Destination};
use kinoyubot::announce::discord::{DeliveryError, WebhookClient, WebhookUrl};
use kinoyubot::store::Store;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::fake_discord::discord_limits::{EMBED_TITLE_MAX_CHARS, FIELD_VALUE_MAX_CHARS};
use crate::fake_discord::{FakeDiscord, Reply, TOKEN};
use crate::helpers::{DEADLINE, SharedBuffer, TestApp, TestDatabase, repo_path, temp_data_dir, wait_for, within};
use crate::process::{TestProcess, kinoyubot};

fn fast_config() -> DeliveryConfig {
    DeliveryConfig {
        base_backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(400),
        poll_interval: Duration::from_millis(25),
        claim_lease: Duration::from_millis(500),
    }
}

/// A migrated database, a store and a client on it, and the Discord stand-in.
async fn outbox() -> (TestDatabase, Store, tokio_postgres::Client, FakeDiscord) {
    let database = TestDatabase::migrated().await;
    let (store, client) = (database.store(), database.client().await);
    (database, store, client, FakeDiscord::start().await)
}

struct RunningWorker {
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
    notifier: DeliveryNotifier,
}

impl RunningWorker {
    fn start(store: Store, destination: Destination, config: DeliveryConfig) -> Self {
        let worker = DeliveryWorker::new(store, destination, config);
        let notifier = worker.notifier();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(worker.run(shutdown.clone()));
        Self {
            shutdown,
            handle,
            notifier,
        }
    }

    fn webhook(store: Store, url: &Url, config: DeliveryConfig) -> Self {
        let client = WebhookClient::new(&WebhookUrl::new(url)).unwrap();
        Self::start(store, Destination::Webhook(client), config)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        within(DEADLINE, "the worker's shutdown", self.handle)
            .await
            .expect("worker did not panic");
    }
}

/// Inserts a channel (once) and a finished raffle; returns the raffle id.
async fn insert_raffle(client: &tokio_postgres::Client, channel: &str) -> i64 {
    let channel_id: i64 = client
        .query_one(
            "INSERT INTO channels (login, display_name) VALUES ($1, $1)
             ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id",
            &[&channel],
        )
        .await
        .unwrap()
        .get(0);
    client
        .query_one(
            "INSERT INTO raffles (channel_id, trigger, outcome, item_name, winner_user_id, winner_login,
                                  winner_display_name, seed, candidates, candidates_digest, candidate_count)
             VALUES ($1, 'manual', 'won', 'Steam key', '42', 'viewer', 'Viewer', $2, '[]'::jsonb, 'ab12', 1)
             RETURNING id",
            &[&channel_id, &vec![7u8; 32]],
        )
        .await
        .unwrap()
        .get(0)
}

fn won(raffle_id: i64, winner: &str, item: &str, channel_display: &str) -> Announcement {
    Announcement::Win {
        raffle_id,
        channel_login: "somestreamer".into(),
        channel_display_name: channel_display.into(),
        item_name: item.into(),
        winner_display_name: winner.into(),
        winner_login: "viewer".into(),
        candidate_count: 37,
        digest_hex: "9f2c1a3b4d5e6f708192a3b4c5d6e7f8".into(),
        created_at: "2026-11-24T20:00:00Z".parse().unwrap(),
    }
}

/// Queues an announcement as the raffle engine and the token manager do
/// (one outbox row; its payload is the announcement's JSON); returns its id.
async fn enqueue(client: &tokio_postgres::Client, raffle_id: Option<i64>, announcement: &Announcement) -> i64 {
    client
        .query_one(
            "INSERT INTO outbox (raffle_id, payload) VALUES ($1, $2) RETURNING id",
            &[&raffle_id, &serde_json::to_value(announcement).unwrap()],
        )
        .await
        .unwrap()
        .get(0)
}

/// Queues a plain "Viewer won Steam key" announcement for a new raffle.
async fn queue_raffle(client: &tokio_postgres::Client) -> (i64, i64) {
    let raffle_id = insert_raffle(client, "somestreamer").await;
    let outbox_id = enqueue(
        client,
        Some(raffle_id),
        &won(raffle_id, "Viewer", "Steam key", "SomeStreamer"),
    )
    .await;
    (raffle_id, outbox_id)
}

#[derive(Debug)]
struct Row {
    status: String,
    attempts: i32,
    last_error: Option<String>,
    discord_message_id: Option<String>,
    sent_at_set: bool,
}

async fn row(client: &tokio_postgres::Client, outbox_id: i64) -> Row {
    let r = client
        .query_one(
            "SELECT status, attempts, last_error, discord_message_id, sent_at IS NOT NULL FROM outbox WHERE id = $1",
            &[&outbox_id],
        )
        .await
        .unwrap();
    Row {
        status: r.get(0),
        attempts: r.get(1),
        last_error: r.get(2),
        discord_message_id: r.get(3),
        sent_at_set: r.get(4),
    }
}

/// Polls the row until `done` holds; panics naming `what` after the deadline.
async fn wait_for_row(client: &tokio_postgres::Client, outbox_id: i64, what: &str, done: impl Fn(&Row) -> bool) -> Row {
    wait_for(&format!("outbox row {outbox_id}: {what}"), || async {
        let current = row(client, outbox_id).await;
        done(&current).then_some(current)
    })
    .await
}

/// Polls until the row has `status`.
async fn wait_for_status(client: &tokio_postgres::Client, outbox_id: i64, status: &str) -> Row {
    wait_for_row(client, outbox_id, status, |row| row.status == status).await
}

#[tokio::test]
async fn hostile_text_reaches_discord_escaped_and_within_limits() {
    let (_database, store, client, fake) = outbox().await;

    let winner = format!(
        "@everyone @here <@&123> <@123> **bold** __under__ `code` [link](https://evil) {}",
        "W".repeat(300)
    );
    let item = format!("@everyone||spoiler|| # heading\n> quote {}", "I".repeat(5000));
    let raffle_id = insert_raffle(&client, "somestreamer").await;
    let outbox_id = enqueue(
        &client,
        Some(raffle_id),
        &won(raffle_id, &winner, &item, "<@123> *Chan*"),
    )
    .await;
    let notice_id = enqueue(
        &client,
        None,
        &Announcement::Notice {
            channel_login: "@here".into(),
            message: format!("<@&123> needs re-authorisation {}", "N".repeat(5000)),
        },
    )
    .await;

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    let received = fake.wait_for(2, DEADLINE).await;
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    wait_for_status(&client, notice_id, "sent").await;
    worker.stop().await;

    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "every body within Discord's limits"
    );
    assert_eq!(received.len(), 2);
    for request in &received {
        assert!(request.path.ends_with(&format!("/{TOKEN}")), "{}", request.path);
        assert!(request.query.contains("wait=true"), "{}", request.query);
        assert!(
            request.query.contains("thread_id=777"),
            "existing query kept: {}",
            request.query
        );
        assert_eq!(request.body["allowed_mentions"], serde_json::json!({"parse": []}));
        let text = request.body.to_string();
        for ping in ["@everyone", "@here", "<@&123>", "<@123>"] {
            assert!(!text.contains(ping), "{ping} survived in {text}");
        }
    }
    let raffle = received
        .iter()
        .find(|r| r.raffle_id == Some(raffle_id))
        .expect("raffle body");
    let embed = &raffle.body["embeds"][0];
    let title = embed["title"].as_str().unwrap();
    assert!(title.chars().count() <= EMBED_TITLE_MAX_CHARS);
    assert!(title.contains(r"\*\*bold\*\*"), "markdown escaped: {title}");
    let item_field = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Item")
        .unwrap()["value"]
        .as_str()
        .unwrap();
    assert!(item_field.chars().count() <= FIELD_VALUE_MAX_CHARS);
    assert!(item_field.ends_with('…'), "5,000-character item cut with an ellipsis");
    assert!(!item_field.contains('\n'));

    assert_eq!(sent.discord_message_id, raffle.answered_id, "Discord's id recorded");
    assert!(sent.sent_at_set);
    assert_eq!(sent.attempts, 0);
}

#[tokio::test]
async fn three_rate_limits_then_success_delivers_once_after_waiting() {
    let (_database, store, client, fake) = outbox().await;
    let waits = [0.05, 0.1, 0.15];
    fake.push(waits.map(|retry_after| Reply::RateLimited { retry_after }));
    let (raffle_id, outbox_id) = queue_raffle(&client).await;

    let started = Instant::now();
    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    let elapsed = started.elapsed();
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 4, "three 429s then one success, nothing more");
    assert!(received.iter().all(|r| r.raffle_id == Some(raffle_id)));
    let accepted: Vec<_> = received.iter().filter(|r| r.answered_id.is_some()).collect();
    assert_eq!(accepted.len(), 1, "delivered exactly once");
    for (i, wait) in waits.iter().enumerate() {
        let gap = received[i + 1].at - received[i].at;
        assert!(
            gap >= Duration::from_secs_f64(*wait),
            "request {} came {gap:?} after a {wait}s 429",
            i + 1
        );
    }
    assert!(elapsed >= Duration::from_secs_f64(waits.iter().sum()), "{elapsed:?}");
    assert_eq!(sent.attempts, 0, "429s are not failures");
    assert_eq!(sent.discord_message_id, accepted[0].answered_id);
}

#[tokio::test]
async fn an_empty_rate_limit_bucket_delays_the_next_send() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::OkBucketEmpty { reset_after: 0.3 }]);
    let (_, first) = queue_raffle(&client).await;
    let (_, second) = queue_raffle(&client).await;

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    wait_for_status(&client, first, "sent").await;
    wait_for_status(&client, second, "sent").await;
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_millis(300),
        "X-RateLimit-Reset-After honoured: {gap:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_growing_backoff_then_delivered() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::Status(500), Reply::Status(502), Reply::Status(503)]);
    let (raffle_id, outbox_id) = queue_raffle(&client).await;

    let config = fast_config();
    let worker = RunningWorker::webhook(store, &fake.webhook_url(), config);
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|r| r.raffle_id == Some(raffle_id)));
    // Backoff n is jittered within [full/2, full], full = base × 2^(n-1).
    for n in 1..=3u32 {
        let gap = received[n as usize].at - received[n as usize - 1].at;
        let least = config.base_backoff * 2u32.pow(n - 1) / 2;
        assert!(gap >= least, "retry {n} after {gap:?}, expected at least {least:?}");
    }
    assert_eq!(sent.attempts, 3, "each server error recorded");
    assert_eq!(sent.last_error, None, "cleared once sent");
    assert_eq!(sent.discord_message_id, received[3].answered_id);
}

#[tokio::test]
async fn unreachable_discord_keeps_the_row_pending_with_the_error_and_no_token() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let client = database.client().await;
    let (_, outbox_id) = queue_raffle(&client).await;
    // Nothing listens on port 1.
    let url = Url::parse(&format!("http://127.0.0.1:1/api/webhooks/1/{TOKEN}")).unwrap();

    let worker = RunningWorker::webhook(store, &url, fast_config());
    let current = wait_for_row(&client, outbox_id, "three failed attempts", |row| row.attempts >= 3).await;
    worker.stop().await;

    assert_eq!(current.status, "pending");
    let error = current.last_error.expect("error recorded");
    assert!(error.contains("could not reach Discord"), "{error}");
    assert!(!error.contains(TOKEN), "{error}");
    let due_later: bool = client
        .query_one(
            "SELECT next_attempt_at > created_at FROM outbox WHERE id = $1",
            &[&outbox_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(due_later, "rescheduled with backoff");
}

#[tokio::test]
async fn unknown_webhook_marks_the_row_failed_with_the_reason() {
    let database = Arc::new(TestDatabase::migrated().await);
    let store = database.store();
    let client = database.client().await;
    let fake = FakeDiscord::start().await;
    fake.push([Reply::UnknownWebhook]);
    let (failed_raffle, failed_id) = queue_raffle(&client).await;

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    let failed = wait_for_status(&client, failed_id, "failed").await;
    // A later row still goes out, and the failed one is not retried.
    let (sent_raffle, sent_id) = queue_raffle(&client).await;
    worker.notifier.wake();
    wait_for_status(&client, sent_id, "sent").await;
    worker.stop().await;

    let error = failed.last_error.expect("reason recorded");
    assert!(error.contains("404"), "{error}");
    assert!(error.contains("Unknown Webhook (code 10015)"), "{error}");
    let failed_posts = fake
        .received()
        .iter()
        .filter(|r| r.raffle_id == Some(failed_raffle))
        .count();
    assert_eq!(failed_posts, 1, "a rejected row is not retried");

    // What the dashboard reads, from an app on the same database.
    let app = TestApp::builder().database(database).start().await;
    let raffles = app.get_raffles().await;
    assert_eq!(raffles.len(), 2, "exactly the two raffles: {raffles:?}");
    let delivery_of = |id: i64| {
        raffles
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["delivery"].clone())
            .unwrap_or_else(|| panic!("raffle {id} not listed: {raffles:?}"))
    };
    assert_eq!(delivery_of(failed_raffle)["status"], "failed");
    assert_eq!(delivery_of(failed_raffle)["error"], error.as_str());
    assert_eq!(delivery_of(sent_raffle)["status"], "sent");
    assert_eq!(delivery_of(sent_raffle)["error"], serde_json::Value::Null);
    let failed_rows = app
        .database
        .count("SELECT count(*) FROM outbox WHERE status = 'failed'")
        .await;
    assert_eq!(failed_rows, 1);
    assert_eq!(
        app.database
            .count("SELECT raffle_id FROM outbox WHERE status = 'failed'")
            .await,
        failed_raffle
    );
}

#[tokio::test]
async fn worker_killed_mid_post_leaves_the_row_for_the_restarted_worker() {
    let (database, store, client, fake) = outbox().await;
    fake.push([Reply::Hold]);
    let (raffle_id, outbox_id) = queue_raffle(&client).await;

    let first = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    fake.wait_for(1, DEADLINE).await;
    // Killed while the POST is in flight: its transaction goes away.
    first.handle.abort();
    assert!(first.handle.await.unwrap_err().is_cancelled());
    assert_eq!(row(&client, outbox_id).await.status, "pending");

    // A restart: a new pool and a new worker.
    let restarted = RunningWorker::webhook(database.store(), &fake.webhook_url(), fast_config());
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    restarted.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.raffle_id == Some(raffle_id)));
    assert_eq!(sent.discord_message_id, received[1].answered_id);
}

#[tokio::test]
async fn a_claim_left_by_a_dead_worker_is_skipped_until_its_lease_expires() {
    let (database, store, client, fake) = outbox().await;
    let (raffle_id, outbox_id) = queue_raffle(&client).await;

    // A "process" claims the row and dies before posting or recording.
    let lease = Duration::from_millis(800);
    let doomed = database.store();
    let claimed = doomed.claim_due_announcement(lease).await.unwrap().expect("row is due");
    assert_eq!(claimed.raffle_id, Some(raffle_id));
    doomed.close();
    drop(doomed);
    let claimed_at = tokio::time::Instant::now();
    // While the lease runs, nobody else takes it, even with its connection gone.
    let other = database.store();
    assert!(other.claim_due_announcement(lease).await.unwrap().is_none());

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    wait_for_status(&client, outbox_id, "sent").await;
    worker.stop().await;
    assert_eq!(fake.received().len(), 1);
    assert!(
        fake.received()[0].at.duration_since(claimed_at) >= lease / 2,
        "sent before the dead worker's lease ran out"
    );
}

#[tokio::test]
async fn a_database_connection_lost_during_the_post_does_not_resend() {
    let (database, store, client, fake) = outbox().await;
    // Discord takes its time, and meanwhile every connection to the
    // database is killed: recording must still happen exactly once.
    fake.push([Reply::OkAfter(Duration::from_millis(600))]);
    let (raffle_id, outbox_id) = queue_raffle(&client).await;
    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    fake.wait_for(1, DEADLINE).await;
    database.terminate_connections().await;
    let client = database.client().await;
    wait_for_status(&client, outbox_id, "sent").await;
    // Long enough for a wrongly released row to be claimed and sent again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    worker.stop().await;
    let received = fake.received();
    assert_eq!(received.len(), 1, "sent more than once: {received:?}");
    assert_eq!(received[0].raffle_id, Some(raffle_id));
}

#[tokio::test]
async fn two_workers_on_one_database_send_every_row_exactly_once() {
    let database = TestDatabase::migrated().await;
    let client = database.client().await;
    let fake = FakeDiscord::start().await;
    const ROWS: usize = 40;
    fake.push(std::iter::repeat_n(Reply::OkAfter(Duration::from_millis(15)), ROWS));
    let mut expected = BTreeSet::new();
    for _ in 0..ROWS {
        expected.insert(queue_raffle(&client).await.0);
    }

    // Separate pools, like two instances.
    let a = RunningWorker::webhook(database.store(), &fake.webhook_url(), fast_config());
    let b = RunningWorker::webhook(database.store(), &fake.webhook_url(), fast_config());
    database
        .wait_count(
            "SELECT count(*) FROM outbox WHERE status = 'sent'",
            ROWS as i64,
            "every row sent",
        )
        .await;
    // Both stopped: nothing can arrive later.
    a.stop().await;
    b.stop().await;

    let received = fake.received();
    let mut seen = BTreeSet::new();
    for request in &received {
        let id = request.raffle_id.expect("raffle id in body");
        assert!(seen.insert(id), "raffle {id} sent twice");
    }
    assert_eq!(seen, expected);
    assert_eq!(received.len(), ROWS);
    assert_eq!(fake.max_in_flight(), 2, "both workers were sending at the same time");
}

#[tokio::test]
async fn shutdown_finishes_the_send_in_flight_and_records_it() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::OkAfter(Duration::from_millis(300))]);
    let (_, outbox_id) = queue_raffle(&client).await;

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    fake.wait_for(1, DEADLINE).await;
    worker.stop().await;

    let after = row(&client, outbox_id).await;
    assert_eq!(after.status, "sent", "{after:?}");
    assert_eq!(after.discord_message_id, fake.received()[0].answered_id);
}

#[tokio::test]
async fn a_wake_up_delivers_without_waiting_for_the_poll() {
    let (_database, store, client, fake) = outbox().await;
    let config = DeliveryConfig {
        poll_interval: Duration::from_secs(3600),
        ..fast_config()
    };
    let (_, first) = queue_raffle(&client).await;
    let worker = RunningWorker::webhook(store, &fake.webhook_url(), config);
    wait_for_status(&client, first, "sent").await;
    // Having sent the first row, the worker finds nothing more and idles on
    // an hour-long poll: only a wake-up gets the next rows out in time. (If
    // the worker's follow-up look happened to run after an insert it would
    // find the row by itself; three rounds make that luck vanishingly rare.)
    for _ in 0..3 {
        let (_, next) = queue_raffle(&client).await;
        worker.notifier.wake();
        wait_for_status(&client, next, "sent").await;
    }
    worker.stop().await;
}

#[tokio::test]
async fn without_a_webhook_each_announcement_is_printed_as_one_line() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    let client = database.client().await;
    let raffle_id = insert_raffle(&client, "somestreamer").await;
    let outbox_id = enqueue(
        &client,
        Some(raffle_id),
        &won(raffle_id, "Two\nLines", "Steam key", "SomeStreamer"),
    )
    .await;

    let buffer = SharedBuffer::default();
    let worker = RunningWorker::start(
        store,
        Destination::Lines(Arc::new(Mutex::new(buffer.clone()))),
        fast_config(),
    );
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    worker.stop().await;

    let printed = buffer.text();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "{printed:?}");
    assert!(
        lines[0].starts_with(&format!("[raffle #{raffle_id}] #somestreamer: Two Lines won Steam key")),
        "{printed:?}"
    );
    assert!(sent.sent_at_set);
    assert_eq!(sent.discord_message_id, None);
}

#[tokio::test]
async fn the_webhook_token_never_appears_in_errors_or_debug() {
    let fake = FakeDiscord::start().await;
    let secret = WebhookUrl::new(&fake.webhook_url());
    let client = WebhookClient::with_timeouts(&secret, Duration::from_secs(2), Duration::from_millis(300)).unwrap();
    let body = serde_json::json!({"allowed_mentions": {"parse": []}, "content": "hi"});
    fake.push([Reply::UnknownWebhook, Reply::Status(500), Reply::Hold]);

    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(client.send(&body).await.expect_err("not accepted"));
    }
    let unreachable = WebhookUrl::new(&Url::parse(&format!("http://127.0.0.1:1/api/webhooks/1/{TOKEN}")).unwrap());
    errors.push(
        WebhookClient::new(&unreachable)
            .unwrap()
            .send(&body)
            .await
            .expect_err("nothing listens"),
    );

    assert!(
        matches!(&errors[0], DeliveryError::Rejected { status, reason } if status.as_u16() == 404 && reason == "Unknown Webhook (code 10015)")
    );
    assert!(matches!(&errors[1], DeliveryError::Server(status) if status.as_u16() == 500));
    assert!(
        matches!(&errors[2], DeliveryError::Network(e) if e.is_timeout()),
        "{:?}",
        errors[2]
    );
    assert!(matches!(&errors[3], DeliveryError::Network(_)), "{:?}", errors[3]);
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}"), chain(error)] {
            assert!(!text.contains(TOKEN), "token leaked: {text}");
        }
    }
    for text in [
        format!("{client:?}"),
        format!("{:?}", Destination::Webhook(WebhookClient::new(&secret).unwrap())),
    ] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}

/// The error and its whole source chain, as a log line with `{:#}` shows it.
fn chain(error: &DeliveryError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[tokio::test]
async fn a_rate_limit_answer_carries_retry_after_and_pauses_the_next_send() {
    let fake = FakeDiscord::start().await;
    let client = WebhookClient::new(&WebhookUrl::new(&fake.webhook_url())).unwrap();
    let body = serde_json::json!({"allowed_mentions": {"parse": []}, "content": "hi"});
    fake.push([Reply::RateLimited { retry_after: 0.25 }]);

    let error = client.send(&body).await.expect_err("429");
    assert!(
        matches!(error, DeliveryError::RateLimited { retry_after } if retry_after == Duration::from_millis(250)),
        "{error:?}"
    );
    let sent = client.send(&body).await.expect("200");
    let received = fake.received();
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_millis(250),
        "paused before sending again: {gap:?}"
    );
    assert_eq!(sent.id, received[1].answered_id);
}

/// `kinoyubot run` on `database`, with the webhook when given.
async fn run_bot(database: &TestDatabase, dir: &std::path::Path, webhook: Option<&Url>) -> TestProcess {
    let mut bot = kinoyubot(dir)
        .env("DATABASE_URL", &database.url)
        .env("ITEMS_FILE", repo_path("items.toml"));
    if let Some(webhook) = webhook {
        bot = bot.env("DISCORD_WEBHOOK_URL", webhook.as_str());
    }
    bot.spawn_run().await
}

#[tokio::test]
async fn kinoyubot_run_delivers_rows_queued_before_it_started() {
    let database = TestDatabase::migrated().await;
    let client = database.client().await;
    let fake = FakeDiscord::start().await;
    let (raffle_id, outbox_id) = queue_raffle(&client).await;
    let dir = temp_data_dir();

    let bot = run_bot(&database, dir.path(), Some(&fake.webhook_url())).await;
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    let exited = bot.stop().await;

    assert_eq!(exited.code, Some(0));
    let stdout = exited.stdout;
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].raffle_id, Some(raffle_id));
    assert_eq!(sent.discord_message_id, received[0].answered_id);
    assert!(stdout.is_empty(), "nothing printed when a webhook is set: {stdout:?}");
}

#[tokio::test]
async fn kinoyubot_run_without_a_webhook_prints_one_line_per_announcement() {
    let database = TestDatabase::migrated().await;
    let client = database.client().await;
    let (raffle_id, outbox_id) = queue_raffle(&client).await;
    let dir = temp_data_dir();

    let bot = run_bot(&database, dir.path(), None).await;
    wait_for_status(&client, outbox_id, "sent").await;
    let exited = bot.stop().await;

    assert_eq!(exited.code, Some(0));
    assert_eq!(
        exited.stdout,
        format!("[raffle #{raffle_id}] #somestreamer: Viewer won Steam key (37 candidates, digest 9f2c1a3b4d5e…)\n")
    );
}

#[tokio::test]
async fn shutdown_during_a_long_rate_limit_is_prompt_and_keeps_the_row() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::RateLimited { retry_after: 60.0 }]);
    let (_, outbox_id) = queue_raffle(&client).await;

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), fast_config());
    fake.wait_for(1, DEADLINE).await;
    let waiting = wait_for_row(&client, outbox_id, "the 429 recorded", |row| row.last_error.is_some()).await;
    let stopping = Instant::now();
    worker.stop().await;

    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped without waiting out the 60 s"
    );
    assert_eq!(waiting.status, "pending");
    assert_eq!(waiting.attempts, 0);
    assert!(waiting.last_error.unwrap().contains("rate limited"));
    assert_eq!(fake.received().len(), 1, "nothing sent during the pause");
}

#[tokio::test]
async fn a_server_error_pauses_the_worker_before_any_other_row() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::Status(503)]);
    let (_, first) = queue_raffle(&client).await;
    let (_, second) = queue_raffle(&client).await;
    let config = DeliveryConfig {
        base_backoff: Duration::from_millis(300),
        ..fast_config()
    };

    let worker = RunningWorker::webhook(store, &fake.webhook_url(), config);
    wait_for_status(&client, first, "sent").await;
    wait_for_status(&client, second, "sent").await;
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 3);
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= config.base_backoff / 2,
        "the other due row waited for the backoff too: {gap:?}"
    );
}

/// Issue 12 item 6: one 429 with a huge `retry_after` holds back its own row
/// for that long, but the bucket is paused for at most the client's hold,
/// so the other rows are delivered; nothing is lost or sent twice.
#[tokio::test]
async fn one_huge_rate_limit_holds_its_row_but_not_the_others() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::RateLimited { retry_after: 3000.0 }]);
    let (_, held) = queue_raffle(&client).await;
    let (_, second) = queue_raffle(&client).await;
    let (_, third) = queue_raffle(&client).await;

    let webhook = WebhookClient::new(&WebhookUrl::new(&fake.webhook_url()))
        .unwrap()
        .with_max_hold(Duration::from_millis(300));
    let worker = RunningWorker::start(store, Destination::Webhook(webhook), fast_config());
    wait_for_status(&client, second, "sent").await;
    wait_for_status(&client, third, "sent").await;
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 3, "one 429, then each other row once");
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(300), "the bucket was paused: {gap:?}");
    assert!(gap < Duration::from_secs(60), "but not for the 3000 s: {gap:?}");
    let waiting = row(&client, held).await;
    assert_eq!(waiting.status, "pending");
    assert_eq!(waiting.attempts, 0, "a 429 is not a failure");
    let due_in = client
        .query_one(
            "SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM outbox WHERE id = $1",
            &[&held],
        )
        .await
        .unwrap()
        .get::<_, f64>(0);
    assert!(due_in > 2900.0, "the rate-limited row waits its retry_after: {due_in}");
}

/// Issue 12 item 6: a 2xx that takes 16 s (past the old 15 s timeout) is
/// read and recorded: posted once, not twice.
#[tokio::test]
async fn a_slow_success_is_recorded_once_and_not_posted_again() {
    let (_database, store, client, fake) = outbox().await;
    fake.push([Reply::OkAfter(Duration::from_secs(16))]);
    let (_, outbox_id) = queue_raffle(&client).await;
    let config = DeliveryConfig {
        claim_lease: DeliveryConfig::default().claim_lease,
        ..fast_config()
    };
    let worker = RunningWorker::webhook(store, &fake.webhook_url(), config);
    let sent = wait_for_status(&client, outbox_id, "sent").await;
    // Anything posted after the slow answer would have arrived by now: the
    // worker goes on polling every 25 ms.
    let again = queue_raffle(&client).await.1;
    wait_for_status(&client, again, "sent").await;
    worker.stop().await;

    let received = fake.received();
    assert_eq!(received.len(), 2, "the slow row once, the next row once: {received:?}");
    assert_eq!(sent.attempts, 0);
    assert_eq!(sent.discord_message_id, received[0].answered_id);
}
