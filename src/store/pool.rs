//! Builds the deadpool-postgres pool.

use std::str::FromStr as _;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use super::Error;

/// Default number of pooled connections.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// How long a caller waits for a free connection.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds a pool for `url`. No connection is opened until first use.
///
/// # Errors
///
/// [`Error::InvalidUrl`] when the URL does not parse; the message never repeats
/// the URL, which may carry a password.
pub fn build(url: &str, max_connections: usize) -> Result<Pool, Error> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
    if config.get_application_name().is_none() {
        config.application_name("kinoyubot");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_connections)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| Error::InvalidUrl(e.to_string()))
}
