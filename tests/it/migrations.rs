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
        ("items", &["id", "name", "probability", "stock"][..]),
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
