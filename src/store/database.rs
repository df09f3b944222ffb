//! Chooses the database: `DATABASE_URL` when set, else the embedded server.

use std::path::Path;

use secrecy::{ExposeSecret as _, SecretString};

use super::embedded::EmbeddedPostgres;
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
