//! Migrations: idempotent, serialised across concurrent runs.

use kinoyubot::store::migrate::MIGRATIONS;

use crate::helpers::TestDatabase;

async fn recorded_versions(database: &TestDatabase) -> Vec<i32> {
    let client = database.client().await;
    client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .expect("schema_migrations exists")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn all_versions() -> Vec<i32> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

#[tokio::test]
async fn migrations_run_twice_apply_once() {
    let database = TestDatabase::create().await;
    let store = database.store();
    let first = store.migrate().await.expect("first run");
    assert_eq!(first.applied, all_versions());
    let second = store.migrate().await.expect("second run");
    assert!(second.applied.is_empty());
    assert_eq!(second.current, first.current);
    assert_eq!(recorded_versions(&database).await, all_versions());
}

#[tokio::test]
async fn concurrent_migrations_apply_each_file_exactly_once() {
    let database = TestDatabase::create().await;
    // Separate pools, like separate processes starting at once.
    let stores: Vec<_> = (0..4).map(|_| database.store()).collect();
    let runs = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
    let mut applied_total = Vec::new();
    for run in runs {
        applied_total.extend(run.expect("every concurrent run succeeds").applied);
    }
    applied_total.sort_unstable();
    assert_eq!(
        applied_total,
        all_versions(),
        "each migration applied by exactly one run"
    );
    assert_eq!(recorded_versions(&database).await, all_versions());
}

#[tokio::test]
async fn schema_has_the_tables_of_the_spec() {
    let database = TestDatabase::migrated().await;
    let client = database.client().await;
    for (table, columns) in [
        (
            "channels",
            &[
                "id",
                "twitch_user_id",
                "login",
                "display_name",
                "paused",
                "needs_reauth",
            ][..],
        ),
        (
            "presence",
            &[
                "channel_id",
                "user_id",
                "login",
                "display_name",
                "is_subscriber",
                "is_vip",
                "is_moderator",
                "is_broadcaster",
                "first_seen",
                "last_seen",
                "message_count",
                "banned_until",
                "source",
            ][..],
        ),
        ("items", &["id", "channel_id", "name", "probability", "stock"][..]),
        (
            "raffles",
            &[
                "id",
                "channel_id",
                "slot",
                "trigger",
                "outcome",
                "item_name",
                "winner_user_id",
                "winner_login",
                "winner_display_name",
                "seed",
                "candidates",
                "candidates_digest",
                "candidate_count",
                "created_at",
            ][..],
        ),
        (
            "outbox",
            &[
                "id",
                "raffle_id",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "discord_message_id",
                "sent_at",
            ][..],
        ),
        (
            "twitch_tokens",
            &["channel_id", "access_token", "refresh_token", "expires_at"][..],
        ),
        ("oauth_states", &["state_hash", "expires_at"][..]),
    ] {
        let rows = client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1",
                &[&table],
            )
            .await
            .expect("information_schema");
        let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        for column in columns {
            assert!(found.iter().any(|c| c == column), "{table}.{column} missing");
        }
    }
}

#[tokio::test]
async fn a_slot_cannot_be_drawn_twice_per_channel() {
    let database = TestDatabase::migrated().await;
    let client = database.client().await;
    client
        .batch_execute("INSERT INTO channels (login, display_name) VALUES ('chan', 'Chan')")
        .await
        .expect("channel");
    // The key is the slot's start: slot 7 of 60 s slots and slot 14 of
    // 30 s slots are the same moment (a channel changed its interval).
    let insert = |slot: i64| {
        format!(
            "INSERT INTO raffles (channel_id, slot, slot_start, trigger, outcome, seed, candidates, candidates_digest, candidate_count)
             SELECT id, {slot}, to_timestamp(420), 'timer', 'no_candidates', decode(repeat('00', 32), 'hex'), '[]', 'x', 0
             FROM channels"
        )
    };
    client.batch_execute(&insert(7)).await.expect("first claim");
    for second in [insert(7), insert(14)] {
        let error = client
            .batch_execute(&second)
            .await
            .expect_err("second claim of the same slot must fail");
        assert_eq!(error.code(), Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION));
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let database = TestDatabase::migrated().await;
    let store = database.store();
    database
        .client()
        .await
        .batch_execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'future.sql')")
        .await
        .expect("insert");
    let error = store.migrate().await.expect_err("must refuse");
    assert!(error.to_string().contains("9999"), "{error}");
}

/// Applies the migration files numbered below `first_missing` by hand, as
/// an older build would have; returns how many.
async fn apply_migrations_before(client: &tokio_postgres::Client, first_missing: &str) -> usize {
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                             applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .expect("schema_migrations");
    let mut files: Vec<String> = std::fs::read_dir(crate::helpers::repo_path("sql"))
        .expect("sql/")
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|name| name.ends_with(".sql") && name.as_str() < first_missing)
        .collect();
    files.sort();
    for name in &files {
        let sql = std::fs::read_to_string(crate::helpers::repo_path(&format!("sql/{name}"))).expect("file");
        client.batch_execute(&sql).await.expect("older migration");
        let version: i32 = name[..4].parse().expect("numbered");
        client
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, name],
            )
            .await
            .expect("recorded");
    }
    files.len()
}

#[tokio::test]
async fn failed_deliveries_from_before_0016_are_classified_from_their_stored_error() {
    let database = TestDatabase::create().await;
    let client = database.client().await;
    assert_eq!(apply_migrations_before(&client, "0016").await, 15);
    client
        .batch_execute(
            "INSERT INTO channels (login, display_name) VALUES ('chan', 'Chan');
             INSERT INTO raffles (channel_id, trigger, outcome, seed, candidates, candidates_digest, candidate_count)
             SELECT id, 'manual', 'no_prize', decode(repeat('00', 32), 'hex'), '[]', 'x', 0 FROM channels;
             INSERT INTO outbox (raffle_id, kind, event, payload, status, last_error)
             SELECT r.id, v.kind, v.event, '{}', v.status, v.error
             FROM raffles r, (VALUES
                 ('discord', 'win', 'failed', 'Discord rejected the message: 404 Not Found: Unknown Webhook'),
                 ('discord', 'claimed', 'failed', 'Discord rejected the message: 401 Unauthorized: Invalid Webhook Token'),
                 ('discord', 'unclaimed', 'failed', 'Discord rejected the message: 400 Bad Request: Invalid Form Body'),
                 ('twitch_chat', 'win', 'failed', 'Discord rejected the message: 404 Not Found: looks alike'),
                 ('twitch_chat', 'claimed', 'sent', NULL)
             ) AS v(kind, event, status, error)",
        )
        .await
        .expect("rows before");
    let report = database.store().migrate().await.expect("0016 applies");
    assert!(report.applied.contains(&16), "{report:?}");
    let rows = client
        .query("SELECT kind, event, failure FROM outbox ORDER BY id", &[])
        .await
        .expect("outbox");
    let failures: Vec<(String, String, Option<String>)> =
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    let expected = [
        ("discord", "win", Some("webhook_gone")),
        ("discord", "claimed", Some("webhook_gone")),
        ("discord", "unclaimed", Some("rejected")),
        ("twitch_chat", "win", Some("rejected")),
        ("twitch_chat", "claimed", None),
    ];
    let expected: Vec<(String, String, Option<String>)> = expected
        .iter()
        .map(|(kind, event, failure)| ((*kind).to_owned(), (*event).to_owned(), failure.map(str::to_owned)))
        .collect();
    assert_eq!(failures, expected);
    let refused = client
        .batch_execute("UPDATE outbox SET failure = 'gone'")
        .await
        .expect_err("only known words");
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION));
}

#[tokio::test]
async fn per_channel_prize_lists_keep_the_existing_items_as_the_default_list() {
    let database = TestDatabase::create().await;
    let client = database.client().await;
    // The schema before 0015, with a prize list and a win from it.
    assert_eq!(apply_migrations_before(&client, "0015").await, 14);
    client
        .batch_execute(
            "INSERT INTO channels (login, display_name) VALUES ('chan', 'Chan');
             INSERT INTO items (name, probability, stock, configured_stock) VALUES ('Key', 0.5, 2, 3);
             INSERT INTO raffles (channel_id, trigger, outcome, item_name, winner_user_id, seed, candidates,
                                  candidates_digest, candidate_count)
             SELECT id, 'manual', 'won', 'Key', '7', decode(repeat('00', 32), 'hex'), '[]', 'x', 1 FROM channels",
        )
        .await
        .expect("rows before");
    let report = database.store().migrate().await.expect("0015 applies");
    assert!(report.applied.contains(&15), "{report:?}");

    let row = client
        .query_one(
            "SELECT i.channel_id, i.stock, i.configured_stock, r.item_id = i.id AS linked
             FROM items i, raffles r WHERE i.name = 'Key'",
            &[],
        )
        .await
        .expect("kept");
    assert_eq!(row.get::<_, Option<i64>>("channel_id"), None, "the default list");
    assert_eq!(row.get::<_, Option<i32>>("stock"), Some(2), "remaining stock kept");
    assert_eq!(row.get::<_, Option<i32>>("configured_stock"), Some(3));
    assert_eq!(
        row.get::<_, Option<bool>>("linked"),
        Some(true),
        "the win names its item row"
    );

    // Names are unique per list: a channel may name the default's prize,
    // but no list holds a name twice.
    client
        .batch_execute("INSERT INTO items (channel_id, name, probability) SELECT id, 'Key', 0.1 FROM channels")
        .await
        .expect("the same name in a channel's list");
    for duplicate in [
        "INSERT INTO items (name, probability) VALUES ('Key', 0.1)",
        "INSERT INTO items (channel_id, name, probability) SELECT id, 'Key', 0.1 FROM channels",
    ] {
        let error = client
            .batch_execute(duplicate)
            .await
            .expect_err("a name twice in one list");
        assert_eq!(error.code(), Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION));
    }
    // A channel's list goes with the channel.
    client
        .batch_execute("DELETE FROM channels")
        .await
        .expect("channel deleted");
    assert_eq!(
        database
            .count("SELECT count(*) FROM items WHERE channel_id IS NOT NULL")
            .await,
        0
    );
    assert_eq!(database.count("SELECT count(*) FROM items").await, 1);
}
