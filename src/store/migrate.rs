//! Schema migrations: the numbered files of `sql/`, embedded in the binary.
//!
//! Each pending file runs in its own transaction and is recorded in
//! `schema_migrations`. A session-level advisory lock serialises concurrent
//! runs, so several instances starting at once against one database apply
//! each file exactly once; the others wait, then find nothing to do.
//! Migrations run at start (`run`) and in `kinoyubot migrate`, before any
//! other query, so the rest of the program can assume the latest schema.

use super::{Error, Pool, get};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Number from the file name; applied in increasing order.
    pub version: i32,
    /// File name, for messages.
    pub(crate) name: &'static str,
    /// The SQL.
    pub(crate) sql: &'static str,
}

/// Every migration, in order. Append-only, like the files themselves.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial.sql",
        sql: include_str!("../../sql/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_item_configured_stock.sql",
        sql: include_str!("../../sql/0002_item_configured_stock.sql"),
    },
    Migration {
        version: 3,
        name: "0003_candidates_as_text.sql",
        sql: include_str!("../../sql/0003_candidates_as_text.sql"),
    },
    Migration {
        version: 4,
        name: "0004_presence_bans.sql",
        sql: include_str!("../../sql/0004_presence_bans.sql"),
    },
    Migration {
        version: 5,
        name: "0005_outbox_claims.sql",
        sql: include_str!("../../sql/0005_outbox_claims.sql"),
    },
    Migration {
        version: 6,
        name: "0006_raffle_skip_reason.sql",
        sql: include_str!("../../sql/0006_raffle_skip_reason.sql"),
    },
    Migration {
        version: 7,
        name: "0007_connect_policy.sql",
        sql: include_str!("../../sql/0007_connect_policy.sql"),
    },
    Migration {
        version: 8,
        name: "0008_channel_leases.sql",
        sql: include_str!("../../sql/0008_channel_leases.sql"),
    },
    Migration {
        version: 9,
        name: "0009_eligibility_gates.sql",
        sql: include_str!("../../sql/0009_eligibility_gates.sql"),
    },
    Migration {
        version: 10,
        name: "0010_control_room.sql",
        sql: include_str!("../../sql/0010_control_room.sql"),
    },
    Migration {
        version: 11,
        name: "0011_token_refresh_claims.sql",
        sql: include_str!("../../sql/0011_token_refresh_claims.sql"),
    },
    Migration {
        version: 12,
        name: "0012_channel_gates.sql",
        sql: include_str!("../../sql/0012_channel_gates.sql"),
    },
    Migration {
        version: 13,
        name: "0013_discord_interactions.sql",
        sql: include_str!("../../sql/0013_discord_interactions.sql"),
    },
    Migration {
        version: 14,
        name: "0014_chat.sql",
        sql: include_str!("../../sql/0014_chat.sql"),
    },
    Migration {
        version: 15,
        name: "0015_channel_items.sql",
        sql: include_str!("../../sql/0015_channel_items.sql"),
    },
    Migration {
        version: 16,
        name: "0016_outbox_failure.sql",
        sql: include_str!("../../sql/0016_outbox_failure.sql"),
    },
    Migration {
        version: 17,
        name: "0017_channel_language.sql",
        sql: include_str!("../../sql/0017_channel_language.sql"),
    },
];

/// Advisory lock key ("kinoyubt" in ASCII) shared by every instance.
const LOCK_KEY: i64 = 0x6b69_6e6f_7975_6274;

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Versions applied by this run.
    pub applied: Vec<i32>,
    /// Schema version afterwards.
    pub current: i32,
}

/// Applies pending migrations.
///
/// # Errors
///
/// [`Error::Migration`] naming the file that failed (its transaction is
/// rolled back), [`Error::SchemaTooNew`] when a newer kinoyubot migrated the
/// database, or a connection error.
pub(crate) async fn run(pool: &Pool) -> Result<Report, Error> {
    let mut client = pool.get().await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await?;
    let result = apply_pending(&mut client).await;
    if client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await
        .is_err()
    {
        // The lock is tied to this session: closing the connection frees it.
        drop(deadpool_postgres::Object::take(client));
    }
    result
}

async fn apply_pending(client: &mut deadpool_postgres::Object) -> Result<Report, Error> {
    // Checked first so a routine start does not log PostgreSQL's
    // "already exists, skipping" notice.
    let exists: bool = get(
        &client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL AS present", &[])
            .await?,
        "present",
    )?;
    if !exists {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
            )
            .await?;
    }
    let rows = client.query("SELECT version FROM schema_migrations", &[]).await?;
    let done = rows
        .iter()
        .map(|row| get::<i32>(row, "version"))
        .collect::<Result<Vec<_>, _>>()?;
    let known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = done.iter().copied().max().filter(|found| *found > known) {
        return Err(Error::SchemaTooNew { found, known });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let failed = |source| Error::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        let transaction = client.transaction().await.map_err(failed)?;
        transaction.batch_execute(migration.sql).await.map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&migration.version, &migration.name],
            )
            .await
            .map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        tracing::info!(version = migration.version, name = migration.name, "migration applied");
        applied.push(migration.version);
    }
    Ok(Report {
        applied,
        current: known.max(done.iter().copied().max().unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_listed_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("sql/ exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        // Increasing, not necessarily consecutive: parallel branches take
        // their numbers ahead of merging.
        let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|pair| pair[0] < pair[1]), "{versions:?}");
        for migration in MIGRATIONS {
            assert!(migration.name.starts_with(&format!("{:04}_", migration.version)));
        }
    }
}
