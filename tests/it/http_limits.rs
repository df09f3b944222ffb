//! The HTTP server's limits (issue 13 item 2): slow sockets beyond the
//! connection cap do not stop `/healthz` or the raffle timer, slow and idle
//! connections are closed.

use std::time::{Duration, Instant};

use kinoyubot::web::server::HttpLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{DEADLINE, TestApp, TestDatabase, Viewer, driven_clock, fire_timers, wait_for, within};

const CAP: usize = 8;

fn small_limits() -> HttpLimits {
    HttpLimits {
        max_connections: CAP,
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..HttpLimits::default()
    }
}

/// A client that opened a connection and sends a request head it never finishes.
async fn slow_socket(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        .await
        .expect("write");
    stream
}

/// Waits until the server closes `stream` (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 512];
    within(DEADLINE, "the server to close a slow connection", async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_sockets_beyond_the_cap_do_not_stop_healthz_or_a_timer_round() {
    let database = std::sync::Arc::new(TestDatabase::migrated().await);
    let channel_id = database.insert_channel("limits_channel", None).await;
    database
        .add_viewer(channel_id, &Viewer::new("1", "viewer1").named("Viewer"))
        .await;
    let clock = driven_clock();
    let app = TestApp::builder()
        .database(database)
        .channels(&["limits_channel"])
        .setting("RAFFLE_INTERVAL", "1s")
        .http_limits(small_limits())
        .clock(&clock)
        .start()
        .await;
    let port: u16 = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");

    // Four times the cap of connections that never finish their request.
    let mut slow = Vec::new();
    for _ in 0..CAP * 4 {
        slow.push(slow_socket(port).await);
    }
    let asked = Instant::now();
    let healthz = wait_for("/healthz to answer past the slow sockets", || async {
        let reply = reqwest::Client::new()
            .get(app.url("/healthz"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        Some(reply.status())
    })
    .await;
    assert_eq!(healthz, 200);
    eprintln!(
        "/healthz answered {:?} after {} slow sockets (cap {CAP})",
        asked.elapsed(),
        slow.len()
    );

    // A timer round still runs and is recorded.
    fire_timers(&clock, 1).await;
    let raffle = wait_for("a timer raffle", || async {
        app.get_raffles_of("limits_channel")
            .await
            .into_iter()
            .find(|r| r["trigger"] == "timer")
    })
    .await;
    assert_eq!(raffle["outcome"], "won", "{raffle}");

    // Every slow socket is closed by the server (header-read timeout).
    for stream in &mut slow {
        closed_by_server(stream).await;
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::builder().http_limits(small_limits()).start().await;
    let port: u16 = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let opened = Instant::now();
    // The answer, then nothing until the server closes the kept-alive connection.
    within(DEADLINE, "the idle connection to be closed", async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        opened.elapsed() >= Duration::from_millis(900),
        "kept alive until the timeout, not closed at once: {:?}",
        opened.elapsed()
    );
}

#[tokio::test]
async fn repeated_wrong_admin_tokens_slow_that_client_down() {
    use std::net::{IpAddr, Ipv4Addr};
    let app = crate::helpers::spawn_app().await;
    let path = "/api/channels/nobody/pause";
    let right = format!("Bearer {}", crate::helpers::ADMIN_TOKEN);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = app.send(reqwest::Method::POST, path, Some("Bearer wrong")).await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(
        statuses, [401; 6],
        "five free failures, and the sixth starts the slow-down"
    );
    // Now even the right token waits: guessing cannot go on at full speed.
    let blocked = app.send(reqwest::Method::POST, path, Some(&right)).await;
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    let retry_after: u64 = blocked.header("retry-after").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let guessing = app.send(reqwest::Method::POST, path, Some("Bearer guess")).await;
    assert_eq!(guessing.status, 429, "a blocked guess is not even checked");

    // Another address is not affected.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .expect("client");
    let other = crate::helpers::Reply::to(elsewhere.post(app.url(path)).header("authorization", &right)).await;
    assert_eq!(
        other.status, 404,
        "admitted, and the channel is unknown: {}",
        other.body
    );

    // Once the block ends, the right token gets in again.
    crate::helpers::wait_until("the block to end", || async {
        app.send(reqwest::Method::POST, path, Some(&right)).await.status == 404
    })
    .await;
}
