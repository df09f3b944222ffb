//! Chooses the database: `DATABASE_URL` when set, else the embedded server.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};

use super::embedded::{EmbeddedError, EmbeddedPostgres};
use super::{Error, Store, pool};

/// Name of the database kinoyubot uses inside the embedded server.
pub(crate) const EMBEDDED_DATABASE: &str = "kinoyubot";

/// An open database, and the embedded server behind it if there is one.
#[derive(Debug)]
pub(crate) struct Database {
    store: Store,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Opens `database_url`, or starts the embedded server under `data_dir`.
    ///
    /// # Errors
    ///
    /// When the URL is invalid or the embedded server cannot start.
    pub(crate) async fn open(database_url: Option<&SecretString>, data_dir: &Path) -> Result<Self, Error> {
        match database_url {
            Some(url) => Ok(Self {
                store: Store::new(pool::build(url.expose_secret(), pool::DEFAULT_MAX_CONNECTIONS)?),
                embedded: None,
            }),
            None => {
                let server = EmbeddedPostgres::start(data_dir).await?;
                // Create our database on first use; the bootstrap database
                // `postgres` is left alone.
                let admin = pool::build(server.url("postgres").expose_secret(), 1)?;
                let client = admin.get().await?;
                let exists = client
                    .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&EMBEDDED_DATABASE])
                    .await?
                    .is_some();
                if !exists {
                    client
                        .batch_execute(&format!("CREATE DATABASE {EMBEDDED_DATABASE}"))
                        .await?;
                }
                drop(client);
                admin.close();
                let store = Store::new(pool::build(
                    server.url(EMBEDDED_DATABASE).expose_secret(),
                    pool::DEFAULT_MAX_CONNECTIONS,
                )?);
                Ok(Self {
                    store,
                    embedded: Some(server),
                })
            }
        }
    }

    /// Like [`Database::open`], for one-shot commands (`draw`, `verify`):
    /// when a running `kinoyubot run` holds the embedded server of
    /// `data_dir`, its database is used instead of refusing, and left
    /// running afterwards.
    ///
    /// # Errors
    ///
    /// As [`Database::open`]; `DATA_DIR … is in use` only when the holder of
    /// the lock has no running server to share.
    pub(crate) async fn open_beside_run(database_url: Option<&SecretString>, data_dir: &Path) -> Result<Self, Error> {
        match Self::open(database_url, data_dir).await {
            Err(Error::Embedded(in_use @ EmbeddedError::AlreadyRunning { .. })) => {
                match EmbeddedPostgres::running_url(data_dir, EMBEDDED_DATABASE)? {
                    Some(url) => {
                        tracing::info!(
                            data_dir = %data_dir.display(),
                            "DATA_DIR is in use by a running kinoyubot: using its database"
                        );
                        Ok(Self {
                            store: Store::new(pool::build(url.expose_secret(), 2)?),
                            embedded: None,
                        })
                    }
                    None => Err(Error::Embedded(in_use)),
                }
            }
            other => other,
        }
    }

    /// The store handle.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the pool and stops the embedded server, if any.
    ///
    /// # Errors
    ///
    /// When the embedded server fails to stop.
    pub(crate) async fn close(self) -> Result<(), Error> {
        self.store.close();
        if let Some(server) = self.embedded {
            server.stop().await?;
        }
        Ok(())
    }
}
