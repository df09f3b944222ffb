//! Logging through tracing: pretty lines or one JSON object per line.
//!
//! The writer is a parameter so tests can send logs to a sink; secrets never
//! reach this module because they are `secrecy` secrets everywhere, whose
//! `Debug` is redacted and which have no `Display`.
//!
//! Colours (ANSI escapes) are used only when standard error is a terminal,
//! so journald and log files get plain text.
//!
//! # Library noise
//!
//! Two libraries log at ERROR what is not our error: warp logs every
//! malformed client connection as "server connection error" (anyone can
//! flood the log with them), and twitch-irc logs each failed connection
//! attempt and each line it cannot type (USERNOTICE variants) with one to
//! three ERROR lines, every time it retries. [`LibraryNoise`] drops exactly
//! those lines, unless `RUST_LOG` names the library (`warp` or
//! `twitch_irc`), which asks for them. What they mean is logged by us
//! instead, once: the chat listener logs one line per IRC outage with its
//! retry schedule (`twitch::irc`).

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call is ignored), which keeps tests that build several apps simple.
pub fn init<W>(filter: &str, format: LogFormat, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let noise = LibraryNoise::for_filter(filter);
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(noise).with(filter);
    let _ = match format {
        LogFormat::Pretty => registry
            .with(fmt::layer().with_writer(writer).with_ansi(ansi).with_target(false))
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_writer(writer),
            )
            .try_init(),
    };
}

/// Drops the library lines described in the module doc.
#[derive(Debug, Clone, Copy)]
pub struct LibraryNoise {
    keep_warp: bool,
    keep_twitch_irc: bool,
}

/// (target prefix, message prefix) of the dropped lines.
const NOISE: [(&str, &str); 6] = [
    ("warp::server", "server connection error"),
    ("twitch_irc", "Transport init task has finished with error"),
    ("twitch_irc", "Pool connection"),
    ("twitch_irc", "Error received from transport incoming stream"),
    ("twitch_irc", "Failed to parse incoming message as ServerMessage"),
    ("twitch_irc", "Received error from connection"),
];

impl LibraryNoise {
    /// The filter for `RUST_LOG` = `filter`: a library it names keeps its lines.
    pub fn for_filter(filter: &str) -> Self {
        Self {
            keep_warp: filter.contains("warp"),
            keep_twitch_irc: filter.contains("twitch_irc"),
        }
    }

    fn is_noise(&self, target: &str, level: Level, message: &str) -> bool {
        if level > Level::WARN {
            return false;
        }
        NOISE.iter().any(|(noisy_target, noisy_message)| {
            let kept = if noisy_target.starts_with("warp") {
                self.keep_warp
            } else {
                self.keep_twitch_irc
            };
            !kept && target.starts_with(noisy_target) && message.starts_with(noisy_message)
        })
    }
}

/// Collects an event's `message` field.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for LibraryNoise {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        let target = metadata.target();
        if !(target.starts_with("warp") || target.starts_with("twitch_irc")) {
            return true;
        }
        let mut message = Message::default();
        event.record(&mut message);
        !self.is_noise(target, *metadata.level(), &message.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_noise_is_dropped_unless_rust_log_names_the_library() {
        let quiet = LibraryNoise::for_filter("info");
        assert!(quiet.is_noise(
            "warp::server",
            Level::ERROR,
            "server connection error: hyper::Error(Parse)"
        ));
        assert!(quiet.is_noise(
            "twitch_irc::connection::event_loop",
            Level::ERROR,
            "Transport init task has finished with error, closing connection"
        ));
        assert!(quiet.is_noise(
            "twitch_irc::connection::event_loop",
            Level::ERROR,
            "Failed to parse incoming message as ServerMessage (emitting as generic instead): x"
        ));
        // Other lines of the same libraries, and our own, stay.
        assert!(!quiet.is_noise("warp::server", Level::ERROR, "accept error: Too many open files"));
        assert!(!quiet.is_noise("kinoyubot::app", Level::ERROR, "server connection error"));
        assert!(!quiet.is_noise("warp::server", Level::INFO, "server connection error"));

        let asked = LibraryNoise::for_filter("info,warp=debug,twitch_irc=debug");
        assert!(!asked.is_noise("warp::server", Level::ERROR, "server connection error: x"));
        assert!(!asked.is_noise("twitch_irc::client", Level::ERROR, "Pool connection 1 has failed"));
    }

    #[test]
    fn the_layer_filters_real_events() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .map_err(|_| std::io::Error::other("poisoned"))?
                    .extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::registry()
            .with(LibraryNoise::for_filter("info"))
            .with(fmt::layer().with_ansi(false).with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "warp::server", "server connection error: {:?}", "Parse(Method)");
            tracing::error!(target: "warp::server", "accept error: {}", "EMFILE");
            tracing::error!(target: "twitch_irc::connection::event_loop", "Transport init task has finished with error, closing connection");
        });
        let text = String::from_utf8_lossy(&sink.0.lock().map(|b| b.clone()).unwrap_or_default()).into_owned();
        assert!(!text.contains("server connection error"), "{text}");
        assert!(!text.contains("Transport init"), "{text}");
        assert!(text.contains("accept error: EMFILE"), "{text}");
    }
}
