//! PostgreSQL: the only module that contains SQL.
//!
//! [`Store`] wraps a deadpool-postgres pool. Submodules: `pool` builds it,
//! `migrate` applies the numbered files of `sql/`, `embedded` runs a private
//! server when `DATABASE_URL` is unset, and `database` picks between the two.
//! Table-group modules (presence, raffles, outbox, channels, oauth) come with
//! the features that use them; `status` holds the dashboard's read-only
//! queries across them.

pub mod channels;
pub mod database;
pub mod embedded;
pub mod items;
pub mod migrate;
pub mod oauth;
pub mod outbox;
pub mod pool;
pub mod presence;
pub mod raffles;
pub mod status;

pub use database::Database;
pub use deadpool_postgres::Pool;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// Anything that runs queries: a pooled client, a transaction or a plain
/// client. Store functions take `&impl Queryable` so that one raffle round
/// can run several of them in a single transaction.
pub trait Queryable: Send + Sync {
    /// Runs a query returning rows.
    fn query_rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send;
}

impl Queryable for deadpool_postgres::Object {
    async fn query_rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.query(sql, params).await
    }
}

impl Queryable for deadpool_postgres::Transaction<'_> {
    async fn query_rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.query(sql, params).await
    }
}

impl Queryable for tokio_postgres::Client {
    async fn query_rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        self.query(sql, params).await
    }
}

/// tokio-postgres prints only "db error"; the server's message and code
/// (never parameter values) say what actually happened.
fn describe_postgres_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({}: {})", error, db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// A database failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DATABASE_URL` (or the embedded server's URL) cannot be used.
    #[error("invalid database URL: {0}")]
    Config(String),
    /// No connection could be had from the pool.
    #[error("could not get a database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database query failed: {}", describe_postgres_error(.0))]
    Query(#[from] tokio_postgres::Error),
    /// A migration failed; nothing of it was applied.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// Migration number.
        version: i32,
        /// File name.
        name: &'static str,
        /// The database's error.
        source: tokio_postgres::Error,
    },
    /// The database was migrated by a newer kinoyubot.
    #[error("the database schema is at version {found}, newer than this kinoyubot knows ({known}); upgrade kinoyubot")]
    SchemaTooNew {
        /// Highest version recorded in the database.
        found: i32,
        /// Highest version this build carries.
        known: i32,
    },
    /// The embedded server failed.
    #[error(transparent)]
    Embedded(#[from] embedded::EmbeddedError),
}

/// Handle to the database: cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pool_status", &self.pool.status())
            .finish()
    }
}

impl Store {
    /// Wraps a pool.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Checks the database answers (`SELECT 1`), for `/readyz`.
    ///
    /// # Errors
    ///
    /// When no connection can be had or the query fails.
    pub async fn ping(&self) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Writes the items file into the `items` table in one transaction, so
    /// other instances see the whole change or none; see [`items::sync`].
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn sync_items(&self, table: &crate::raffle::items::ItemTable) -> Result<(), Error> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        items::sync(&transaction, table).await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Makes sure the channel has a row (see [`channels::ensure`]), with a
    /// pooled connection.
    ///
    /// # Errors
    ///
    /// Database errors.
    pub async fn ensure_channel(&self, login: &crate::channel::ChannelLogin) -> Result<channels::ChannelRecord, Error> {
        let client = self.pool.get().await?;
        channels::ensure(&client, login).await
    }

    /// Applies pending migrations; see [`migrate::run`].
    ///
    /// # Errors
    ///
    /// See [`migrate::run`].
    pub async fn migrate(&self) -> Result<migrate::Report, Error> {
        migrate::run(&self.pool).await
    }
}
