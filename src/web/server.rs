//! Serving the routes over HTTP/1.1 with the limits `warp::serve` lacks
//! (issue 13 item 2): without them, 300 slow sockets under a 256
//! file-descriptor limit stopped the dashboard, `/healthz` and the OAuth
//! callback, and starved the bot's own database connections.
//!
//! - **Connection cap.** At most [`HttpLimits::max_connections`] connections
//!   are open at once, fewer when the file-descriptor limit is low: the
//!   server keeps [`HttpLimits::fd_reserve`] descriptors for the database
//!   pool, outbound HTTP clients, chat and the embedded PostgreSQL's pipes.
//!   Beyond the cap the server stops accepting, so further clients wait in
//!   the kernel's backlog (which costs the process no descriptor) until a
//!   connection closes.
//! - **Header-read timeout.** A client must send a whole request head within
//!   [`HttpLimits::header_read_timeout`]; hyper also arms it while a
//!   keep-alive connection waits for its next request, so it doubles as the
//!   keep-alive timeout.
//! - **Idle timeout.** A connection on which no byte moves either way for
//!   [`HttpLimits::idle_timeout`] (a stalled body upload, a client that
//!   stopped reading its answer) is closed.
//! - **Shutdown.** When the token fires the listener closes, open
//!   connections finish their in-flight request and close; one that does
//!   not within [`CLOSE_GRACE`] is dropped.
//!
//! Each request carries the peer address as a [`ClientAddr`] extension,
//! for per-client limits.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::client::ClientAddr;
use super::routes::routes;
use super::state::WebState;

/// How long a closing connection gets to finish its in-flight answer.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long to pause accepting after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The HTTP server's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most connections open at once (lowered to fit the descriptor limit).
    pub max_connections: usize,
    /// Time a client has to send a whole request head, and the longest a
    /// keep-alive connection waits for the next request.
    pub header_read_timeout: Duration,
    /// A connection with no byte moving either way for this long is closed.
    pub idle_timeout: Duration,
    /// File descriptors kept for everything but HTTP connections.
    pub fd_reserve: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            // The pool (16 by default), Helix/OAuth/Discord clients, chat,
            // the embedded PostgreSQL's pipes, log files, with room to spare.
            fd_reserve: 128,
        }
    }
}

impl HttpLimits {
    /// The connection cap given a soft descriptor limit of `nofile`
    /// (`None`: unknown): at most `max_connections`, leaving `fd_reserve`
    /// descriptors free, and at least one.
    pub(crate) fn connection_cap(&self, nofile: Option<u64>) -> usize {
        let fitting = nofile.map_or(usize::MAX, |soft| {
            usize::try_from(soft.saturating_sub(self.fd_reserve)).unwrap_or(usize::MAX)
        });
        self.max_connections.min(fitting).max(1)
    }
}

/// Raises the soft descriptor limit to the hard one (a common default soft
/// limit is 1024 under a hard limit far above it) and returns the soft limit
/// now in force, or `None` when it cannot be read.
#[cfg(unix)]
fn raise_nofile_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

/// Windows has no descriptor limit of this kind: the cap is `max_connections`.
#[cfg(not(unix))]
fn raise_nofile_limit() -> Option<u64> {
    None
}

/// Serves the routes of `state` on `listener` within `limits` until
/// `shutdown` fires, then closes the listener and waits for the open
/// connections to finish (each within [`CLOSE_GRACE`]).
pub(crate) async fn serve(listener: TcpListener, state: WebState, limits: HttpLimits, shutdown: CancellationToken) {
    let nofile = raise_nofile_limit();
    let cap = limits.connection_cap(nofile);
    tracing::info!(
        max_connections = cap,
        nofile = ?nofile,
        header_read_timeout = ?limits.header_read_timeout,
        idle_timeout = ?limits.idle_timeout,
        "HTTP server limits"
    );
    let service = warp::service(routes(state));
    let permits = Arc::new(Semaphore::new(cap));
    let connections = TaskTracker::new();
    loop {
        // A permit first: at the cap, nothing more is accepted.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit,
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection that
                // died in the backlog: pause briefly rather than spin.
                tracing::warn!(error = %e, "could not accept an HTTP connection");
                drop(permit);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let service = service.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, service, limits, shutdown).await;
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One connection, until the client closes it, a limit closes it, or shutdown.
async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    limits: HttpLimits,
    shutdown: CancellationToken,
) where
    S: tower_service::Service<
            hyper::Request<Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let activity = Activity::new();
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let per_request = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ClientAddr(peer));
        let mut service = service.clone();
        async move { service.call(request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(io, per_request);
    tokio::pin!(connection);
    let mut closing_since: Option<Instant> = None;
    loop {
        let idle_deadline = activity.last().checked_add(limits.idle_timeout);
        let close_deadline = closing_since.and_then(|since| since.checked_add(CLOSE_GRACE));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    // Timeouts and clients going away are routine here.
                    tracing::debug!(error = %e, client = %peer, "HTTP connection ended with an error");
                }
                return;
            }
            () = shutdown.cancelled(), if closing_since.is_none() => {
                connection.as_mut().graceful_shutdown();
                closing_since = Some(Instant::now());
            }
            () = sleep_until(idle_deadline), if closing_since.is_none() => {
                if activity.last().elapsed() >= limits.idle_timeout {
                    tracing::debug!(client = %peer, "closing an idle HTTP connection");
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
            }
            () = sleep_until(close_deadline) => {
                tracing::debug!(client = %peer, "dropping an HTTP connection that did not close in time");
                return;
            }
        }
    }
}

/// Sleeps until `deadline`; `None` (unrepresentable or no deadline) never ends.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// When bytes last moved on a connection.
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_millis: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let millis = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }
}

/// A TCP stream that records when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_the_descriptor_reserve_free() {
        let limits = HttpLimits::default();
        assert_eq!(limits.connection_cap(None), 512);
        assert_eq!(limits.connection_cap(Some(1_048_576)), 512);
        assert_eq!(
            limits.connection_cap(Some(256)),
            128,
            "the probe's 256-descriptor limit"
        );
        assert_eq!(limits.connection_cap(Some(100)), 1, "never zero");
    }
}
