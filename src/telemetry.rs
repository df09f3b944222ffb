//! Logging through tracing: pretty lines or one JSON object per line.
//!
//! The writer is a parameter so tests can send logs to a sink; secrets never
//! reach this module because they are `secrecy` secrets everywhere, whose
//! `Debug` is redacted and which have no `Display`.

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call is ignored), which keeps tests that build several apps simple.
pub fn init<W>(filter: &str, format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}
