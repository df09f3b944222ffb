//! Shared by the latency benchmarks: a throwaway, migrated database on the
//! server named by `BENCH_DATABASE_URL`, and percentile formatting.

use std::time::Duration;

use kinoyubot::store::{Store, pool};

/// Default admin URL: the local PostgreSQL.
const DEFAULT_ADMIN_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// Connects a plain client whose connection task runs in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL (set BENCH_DATABASE_URL)");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// A migrated database created for one benchmark run; [`BenchDatabase::drop_now`] removes it.
pub struct BenchDatabase {
    admin: tokio_postgres::Client,
    name: String,
    /// URL of the new database.
    pub url: String,
    /// A pool on it.
    pub store: Store,
}

impl BenchDatabase {
    /// Creates and migrates `kb_<prefix>_<pid>`.
    pub async fn create(prefix: &str) -> Self {
        let admin_url = std::env::var("BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let name = format!("kb_{prefix}_{}", std::process::id());
        let admin = connect(&admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create bench database");
        let mut url = url::Url::parse(&admin_url).expect("admin URL");
        url.set_path(&format!("/{name}"));
        let store = Store::new(pool::build(url.as_str(), 4).expect("pool"));
        store.migrate().await.expect("migrate");
        Self {
            admin,
            name,
            url: url.to_string(),
            store,
        }
    }

    /// Closes the pool and drops the database.
    pub async fn drop_now(self) {
        self.store.close();
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("drop bench database");
    }
}

/// The `p` quantile (0 to 1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Milliseconds with `decimals` digits.
pub fn ms(d: Duration, decimals: usize) -> String {
    format!("{:.*}", decimals, d.as_secs_f64() * 1000.0)
}
