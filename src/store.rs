//! PostgreSQL: the only module that contains SQL or opens transactions.
//!
//! [`Store`] wraps a deadpool-postgres pool and offers the operations the
//! rest of the program needs, each on a pooled connection of its own:
//! `store.recent_raffles(..)`, `store.claim_due_announcement(..)`, … Work
//! that must commit or roll back as a whole goes through a unit of work
//! borrowed from a [`Connection`]: [`RoundTransaction`] for one raffle round,
//! `TokenTransaction` for a channel's Twitch tokens. They expose typed
//! operations only; nothing outside this module sees a client, a row or SQL.
//!
//! Rows are decoded once, here, with `try_get`: the words stored for
//! triggers, outcomes and delivery states become their enums, and a word
//! this build does not know is an [`Error::UnknownWord`], never a panic.
//!
//! Submodules: `pool` builds the pool, `migrate` applies the numbered files
//! of `sql/`, `embedded` runs a private server when `DATABASE_URL` is unset,
//! `database` picks between the two; one file per table group (`approvals`, `bot`, `channels`, `claims`, `leases`,
//! `channel_settings`, `discord_interactions`, `replies`, `sessions`,
//! `presence`, `items`, `raffles`, `outbox`, `oauth`) and `status` for the
//! dashboard's read-only queries across them.

mod approvals;
mod bot;
mod channel_settings;
mod channels;
mod claims;
mod database;
mod discord_interactions;
pub mod embedded;
mod items;
mod leases;
pub mod migrate;
mod oauth;
mod outbox;
pub mod pool;
mod presence;
mod raffles;
mod replies;
mod sessions;
mod status;
mod twitch_facts;

pub(crate) use bot::{BotAccountRow, NewBotAccount};
pub(crate) use channels::ChannelRecord;
pub(crate) use claims::{ClaimTransaction, DueClaim, redraw_outcome};
pub(crate) use database::Database;
pub(crate) use oauth::{
    ConnectFlow, NewTokens, StateAdmission, StateLimits, StateLookup, StoredTokens, TokenTransaction,
};
pub use outbox::ResentDelivery;
pub(crate) use outbox::{ClaimedAnnouncement, ClaimedChatLine};
pub(crate) use presence::{ChannelIds, PresenceWrite};
pub(crate) use raffles::Inserted;
pub use raffles::{
    EligibilityRules, EligibleViewer, JudgedCandidates, MissingFacts, NewRaffle, PresentViewers, RoundTransaction,
};
pub(crate) use sessions::SessionRecord;
pub use twitch_facts::ListedChatter;

use deadpool_postgres::{Pool, PoolError};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};

use crate::announce::DeliveryStatus;
use crate::raffle::{ClaimStatus, Outcome, Trigger};

/// Anything that runs queries: a pooled client or a transaction. Table
/// functions take `&impl Queryable`, so the same statement serves a
/// one-off operation and a unit of work.
trait Queryable: Send + Sync {
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

/// tokio-postgres prints only "db error"; the server's message and code
/// (never parameter values) say what actually happened.
fn describe_postgres_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({}: {})", error, db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// A database failure. [`Error::is_transient`] says whether trying again
/// later can help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `DATABASE_URL` (or the embedded server's URL) cannot be used; the
    /// message never repeats the URL, which may carry a password.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// No connection could be had from the pool.
    #[error("could not get a database connection: {0}")]
    Pool(#[from] PoolError),
    /// A statement failed.
    #[error("database query failed: {}", describe_postgres_error(.0))]
    Query(#[from] tokio_postgres::Error),
    /// A column could not be read as the type this build expects.
    #[error("could not read column {column}: {}", describe_postgres_error(.source))]
    Decode {
        /// The column.
        column: &'static str,
        /// What tokio-postgres said.
        source: tokio_postgres::Error,
    },
    /// A column holds a word this build does not know (a trigger, outcome
    /// or delivery status written by a newer version, or by hand).
    #[error("column {column} holds {value:?}, which this kinoyubot does not know")]
    UnknownWord {
        /// The column.
        column: &'static str,
        /// The word found.
        value: String,
    },
    /// A value could not be encoded as JSON for storage.
    #[error("could not encode {what} for storage: {source}")]
    Encode {
        /// What was being stored.
        what: &'static str,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A statement that always returns a row returned none.
    #[error("{statement} returned no row")]
    NoRow {
        /// Which statement.
        statement: &'static str,
    },
    /// A row disappeared while being written (deleted concurrently).
    #[error("{what} vanished while being written")]
    Vanished {
        /// The row, e.g. `channel somestreamer`.
        what: String,
    },
    /// An item to award has no stock left: a concurrent round took the last
    /// unit after this round read the stock. The round is rolled back and
    /// drawn again (`raffle::round`).
    #[error("item {item:?} is out of stock")]
    OutOfStock {
        /// The item.
        item: String,
    },
    /// A stored value is not valid for its column (written by hand, or by
    /// a kinoyubot with other rules).
    #[error("column {column} holds a value this kinoyubot cannot use: {reason}")]
    BadStoredValue {
        /// The column.
        column: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// A migration failed; nothing of it was applied.
    #[error("migration {version} ({name}) failed: {}", describe_postgres_error(.source))]
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

impl Error {
    /// Whether the same operation may succeed later: the connection was lost
    /// or timed out, the server shed load or is restarting, a serialization
    /// failure or deadlock. Everything else (bad data, a broken invariant, a
    /// constraint, a newer schema) fails the same way every time, so a
    /// caller sets the work aside instead of retrying it forever.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Pool(error) => match error {
                PoolError::Timeout(_) => true,
                PoolError::Backend(error) => postgres_error_is_transient(error),
                PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => false,
            },
            Self::Query(error) | Self::Migration { source: error, .. } => postgres_error_is_transient(error),
            // Someone deleted the row meanwhile; reading again sees the truth.
            Self::Vanished { .. } => true,
            Self::InvalidUrl(_)
            | Self::Decode { .. }
            | Self::UnknownWord { .. }
            | Self::BadStoredValue { .. }
            | Self::Encode { .. }
            | Self::NoRow { .. }
            | Self::OutOfStock { .. }
            | Self::SchemaTooNew { .. }
            | Self::Embedded(_) => false,
        }
    }
}

impl Error {
    /// Whether a statement failed in a way that trying again cannot mend
    /// and that is not about reaching the database: a missing table or
    /// column, a refused privilege, a row this build cannot read. Getting a
    /// connection is never such a failure, whatever the server said (a
    /// database that refuses connections for maintenance is an outage), so a
    /// long-running task waits those out and gives up only on these.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient() && !matches!(self, Self::Pool(_) | Self::InvalidUrl(_) | Self::Embedded(_))
    }

    /// Whether the database refused the data itself: a data exception
    /// (SQLSTATE class 22: a NUL byte in text, an out-of-range value), an
    /// integrity constraint (23) or a program limit (54: an index row too
    /// large), or a value that cannot be encoded. Writing the same rows
    /// again fails the same way, so a writer of many rows sets the
    /// offending ones aside and writes the rest. Other permanent errors (a
    /// missing table, a newer schema) are not the rows' fault: a writer
    /// keeps its rows and retries rather than discarding everything.
    pub fn rejects_data(&self) -> bool {
        match self {
            Self::Query(error) => error.code().is_some_and(sqlstate_rejects_data),
            Self::Encode { .. } => true,
            _ => false,
        }
    }
}

/// Classes 22 (data exception), 23 (integrity constraint violation) and 54
/// (program limit exceeded): the rows, not the database, are at fault.
fn sqlstate_rejects_data(code: &SqlState) -> bool {
    matches!(code.code().get(..2), Some("22" | "23" | "54"))
}

/// A tokio-postgres error: by SQLSTATE when the server sent one, else by
/// what happened to the connection.
fn postgres_error_is_transient(error: &tokio_postgres::Error) -> bool {
    if let Some(code) = error.code() {
        return sqlstate_is_transient(code);
    }
    // No server error: the connection closed, the socket failed, or the
    // server did not answer in time (tokio-postgres exposes that kind only
    // through its message). Encoding or decoding errors and bad
    // configuration are not transient.
    error.is_closed()
        || std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
        || error.to_string() == "timeout waiting for server"
}

/// Classes 08 (connection exception), 40 (transaction rollback:
/// serialization failure, deadlock), 53 (insufficient resources) and 57
/// (operator intervention: statement timeout, server shutting down) are
/// transient. The rest, notably 22 (data exception), 23 (integrity
/// constraint), 42 (syntax or access rule) and 54 (program limit), fail the
/// same way on every try.
fn sqlstate_is_transient(code: &SqlState) -> bool {
    matches!(code.code().get(..2), Some("08" | "40" | "53" | "57"))
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

/// One pooled connection, held to run a unit of work on it
/// ([`Connection::begin_round`], `Connection::begin_tokens`); it goes back
/// to the pool when dropped.
pub struct Connection {
    client: deadpool_postgres::Object,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Store {
    /// Wraps a pool (see [`pool::build`]).
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Closes the pool: connections are closed as they come back, and no
    /// new ones are handed out.
    pub fn close(&self) {
        self.pool.close();
    }

    /// A pooled connection, to begin a unit of work on.
    ///
    /// # Errors
    ///
    /// [`Error::Pool`] when none can be had.
    pub async fn connection(&self) -> Result<Connection, Error> {
        Ok(Connection {
            client: self.pool.get().await?,
        })
    }

    /// Checks the database answers (`SELECT 1`), for `/readyz`.
    ///
    /// # Errors
    ///
    /// When no connection can be had or the query fails.
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Applies pending migrations; see `migrate::run`.
    ///
    /// # Errors
    ///
    /// See `migrate::run`.
    pub async fn migrate(&self) -> Result<migrate::Report, Error> {
        migrate::run(&self.pool).await
    }
}

/// Reads one column with `try_get`: a missing column or an unexpected type
/// is an [`Error::Decode`] naming it, never a panic.
fn get<'r, T: FromSql<'r>>(row: &'r Row, column: &'static str) -> Result<T, Error> {
    row.try_get(column).map_err(|source| Error::Decode { column, source })
}

/// An enum stored as one of a fixed set of words.
trait StoredWord: Copy + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// The stored word.
    fn word(self) -> &'static str;
}

impl StoredWord for Trigger {
    const ALL: &'static [Self] = &Trigger::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for Outcome {
    const ALL: &'static [Self] = &Outcome::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for ClaimStatus {
    const ALL: &'static [Self] = &ClaimStatus::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for crate::announce::OutboxKind {
    const ALL: &'static [Self] = &crate::announce::OutboxKind::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for crate::announce::OutboxEvent {
    const ALL: &'static [Self] = &crate::announce::OutboxEvent::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for crate::announce::DeliveryFailure {
    const ALL: &'static [Self] = &crate::announce::DeliveryFailure::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

impl StoredWord for DeliveryStatus {
    const ALL: &'static [Self] = &DeliveryStatus::ALL;
    fn word(self) -> &'static str {
        self.as_str()
    }
}

/// The value a stored word names.
fn parse_word<T: StoredWord>(column: &'static str, word: &str) -> Result<T, Error> {
    T::ALL
        .iter()
        .copied()
        .find(|value| value.word() == word)
        .ok_or_else(|| Error::UnknownWord {
            column,
            value: word.to_owned(),
        })
}

/// Reads a column holding a [`StoredWord`].
fn get_word<T: StoredWord>(row: &Row, column: &'static str) -> Result<T, Error> {
    parse_word(column, get::<&str>(row, column)?)
}

/// Reads a nullable column holding a [`StoredWord`].
fn get_optional_word<T: StoredWord>(row: &Row, column: &'static str) -> Result<Option<T>, Error> {
    get::<Option<&str>>(row, column)?
        .map(|word| parse_word(column, word))
        .transpose()
}

#[cfg(test)]
mod tests {
    use deadpool_postgres::TimeoutType;

    use super::*;

    #[test]
    fn connection_errors_are_transient() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
        ] {
            assert!(sqlstate_is_transient(&code), "{}", code.code());
        }
    }

    #[test]
    fn serialization_failures_and_deadlocks_are_transient() {
        assert!(sqlstate_is_transient(&SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(sqlstate_is_transient(&SqlState::T_R_DEADLOCK_DETECTED));
    }

    #[test]
    fn operator_intervention_is_transient() {
        // A statement timeout, and a server shutting down or terminating us.
        assert!(sqlstate_is_transient(&SqlState::QUERY_CANCELED));
        assert!(sqlstate_is_transient(&SqlState::ADMIN_SHUTDOWN));
    }

    #[test]
    fn insufficient_resources_are_transient() {
        assert!(sqlstate_is_transient(&SqlState::TOO_MANY_CONNECTIONS));
        assert!(sqlstate_is_transient(&SqlState::DISK_FULL));
    }

    #[test]
    fn data_exceptions_are_permanent() {
        assert!(!sqlstate_is_transient(&SqlState::DATA_EXCEPTION));
        assert!(!sqlstate_is_transient(&SqlState::INVALID_TEXT_REPRESENTATION));
    }

    #[test]
    fn integrity_violations_are_permanent() {
        assert!(!sqlstate_is_transient(&SqlState::UNIQUE_VIOLATION));
    }

    #[test]
    fn program_limits_are_permanent() {
        assert!(!sqlstate_is_transient(&SqlState::PROGRAM_LIMIT_EXCEEDED));
        assert!(!sqlstate_is_transient(&SqlState::STATEMENT_TOO_COMPLEX));
    }

    #[test]
    fn syntax_and_access_errors_are_permanent() {
        assert!(!sqlstate_is_transient(&SqlState::SYNTAX_ERROR));
        assert!(!sqlstate_is_transient(&SqlState::UNDEFINED_TABLE));
    }

    #[test]
    fn data_integrity_and_program_limit_errors_reject_the_data_and_others_do_not() {
        for code in [
            SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            SqlState::UNTRANSLATABLE_CHARACTER,
            SqlState::INVALID_TEXT_REPRESENTATION,
            SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
            SqlState::UNIQUE_VIOLATION,
            SqlState::CHECK_VIOLATION,
            SqlState::PROGRAM_LIMIT_EXCEEDED,
        ] {
            assert!(sqlstate_rejects_data(&code), "{}", code.code());
            assert!(!sqlstate_is_transient(&code), "{}", code.code());
        }
        for code in [
            SqlState::UNDEFINED_TABLE,
            SqlState::CONNECTION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::ADMIN_SHUTDOWN,
        ] {
            assert!(!sqlstate_rejects_data(&code), "{}", code.code());
        }
        assert!(!Error::Pool(PoolError::Closed).rejects_data());
        assert!(!Error::NoRow { statement: "INSERT" }.rejects_data());
    }

    #[test]
    fn pool_timeouts_are_transient_and_a_closed_pool_is_not() {
        assert!(Error::Pool(PoolError::Timeout(TimeoutType::Wait)).is_transient());
        assert!(Error::Pool(PoolError::Timeout(TimeoutType::Create)).is_transient());
        assert!(!Error::Pool(PoolError::Closed).is_transient());
    }

    #[test]
    fn bad_data_and_broken_invariants_are_permanent() {
        let unknown = Error::UnknownWord {
            column: "outcome",
            value: "jackpot".into(),
        };
        assert!(!unknown.is_transient());
        assert_eq!(
            unknown.to_string(),
            "column outcome holds \"jackpot\", which this kinoyubot does not know"
        );
        assert!(!Error::OutOfStock { item: "Key".into() }.is_transient());
        assert!(!Error::NoRow { statement: "INSERT" }.is_transient());
        assert!(!Error::InvalidUrl("nope".into()).is_transient());
        assert!(
            Error::Vanished {
                what: "channel x".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn stored_words_decode_to_their_values_and_unknown_ones_are_errors() {
        for outcome in Outcome::ALL {
            assert_eq!(parse_word::<Outcome>("outcome", outcome.as_str()).ok(), Some(outcome));
        }
        for trigger in Trigger::ALL {
            assert_eq!(parse_word::<Trigger>("trigger", trigger.as_str()).ok(), Some(trigger));
        }
        for status in DeliveryStatus::ALL {
            assert_eq!(
                parse_word::<DeliveryStatus>("status", status.as_str()).ok(),
                Some(status)
            );
        }
        assert!(matches!(
            parse_word::<DeliveryStatus>("status", "delivered"),
            Err(Error::UnknownWord { column: "status", value }) if value == "delivered"
        ));
        assert!(matches!(
            parse_word::<Outcome>("outcome", "Won"),
            Err(Error::UnknownWord { column: "outcome", .. })
        ));
    }
}
