//! Graceful shutdown: one [`CancellationToken`] cancelled on SIGINT, SIGTERM
//! or SIGHUP (the terminal was closed: stop cleanly, so that an embedded
//! PostgreSQL does not outlive the bot).
//!
//! Every long-running task takes a clone of the token and `select!`s on
//! `cancelled()` next to its unit of work, so work in flight finishes first.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled when the process receives SIGINT,
/// SIGTERM or SIGHUP. Signal handlers are installed before this returns, so a signal
/// that arrives right after cannot be missed.
///
/// # Errors
///
/// When the operating system refuses to install a handler.
pub(crate) fn on_signal() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let token = CancellationToken::new();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
        };
        tracing::info!(signal = name, "shutting down");
        cancel.cancel();
    });
    Ok(token)
}
