//! Graceful shutdown: one [`CancellationToken`] cancelled on SIGINT, SIGTERM
//! or SIGHUP (the terminal was closed: stop cleanly, so that an embedded
//! PostgreSQL does not outlive the bot); Ctrl-C or closing the console on
//! Windows.
//!
//! Every long-running task takes a clone of the token and `select!`s on
//! `cancelled()` next to its unit of work, so work in flight finishes first.

use tokio_util::sync::CancellationToken;

/// Returns a token that is cancelled when the process is asked to stop:
/// SIGINT, SIGTERM or SIGHUP (the terminal was closed) on Unix; Ctrl-C,
/// Ctrl-Break, closing the console window, logoff or shutdown on Windows.
/// Handlers are installed before this returns, so a signal that arrives
/// right after cannot be missed.
///
/// # Errors
///
/// When the operating system refuses to install a handler.
pub(crate) fn on_signal() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let stop = stop_requested()?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = stop.await;
        tracing::info!(signal = name, "shutting down");
        cancel.cancel();
    });
    Ok(token)
}

#[cfg(unix)]
fn stop_requested() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
        }
    })
}

#[cfg(windows)]
fn stop_requested() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown};
    let mut interrupt = ctrl_c()?;
    let mut brk = ctrl_break()?;
    // Windows ends the process a few seconds after these three: enough for
    // the embedded server's fast shutdown.
    let mut close = ctrl_close()?;
    let mut logoff = ctrl_logoff()?;
    let mut shutdown = ctrl_shutdown()?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "Ctrl-C",
            _ = brk.recv() => "Ctrl-Break",
            _ = close.recv() => "console closed",
            _ = logoff.recv() => "logoff",
            _ = shutdown.recv() => "system shutdown",
        }
    })
}
