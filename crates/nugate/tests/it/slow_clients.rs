//! Clients that hold connections without finishing requests: slowloris header trickles, idle keep-alive
//! connections, too many connections from one address, and (allowed) slow request bodies; plus the
//! settings' environment names and a graceful shutdown with an upload in flight, on the real binary.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nugate::model::key::KeyAction::Push;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{simple, TestApp};

const LIVE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
const LIVE_AND_CLOSE: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Reads until the peer closes (end of stream or an error such as a reset) or `within` passes; returns
/// what arrived and, if it closed, when (from `started`).
async fn read_until_closed(
    reader: &mut (impl AsyncRead + Unpin),
    started: Instant,
    within: Duration,
) -> (Vec<u8>, Option<Duration>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = started + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, Some(started.elapsed())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, None),
        }
    }
}

/// Reads exactly one response (head plus its Content-Length body) from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                return String::from_utf8_lossy(&out).to_string();
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("no response within 10 s")
            .unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
}

/// One request on a fresh connection that asks to be closed; the whole answer, or what came before a
/// close or a reset.
async fn one_shot(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let (out, closed) =
        read_until_closed(&mut stream, Instant::now(), Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "the server kept a Connection: close request open"
    );
    String::from_utf8_lossy(&out).to_string()
}

/// A client that sends the request line and then one header line a second (never the blank line that
/// ends the head) is cut off once the header-read timeout passes, without an answer; so is a client
/// that sends nothing at all. Other clients are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_headers_are_cut_off_at_the_header_timeout() {
    let app = TestApp::start_with(|c| c.header_read_timeout_secs = 2).await;
    let started = Instant::now();
    let (mut reader, mut writer) = TcpStream::connect(app.addr).await.unwrap().into_split();
    let trickle = tokio::spawn(async move {
        let mut sent = 0;
        if writer
            .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            .await
            .is_err()
        {
            return sent;
        }
        // Ten seconds' worth of header lines, each well inside any per-read timeout.
        for i in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if writer
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            sent += 1;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        sent
    });
    let mut silent = TcpStream::connect(app.addr).await.unwrap();

    // While the slow client is connected, the server answers others.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);

    let (answer, closed) = read_until_closed(&mut reader, started, Duration::from_secs(8)).await;
    let closed = closed.expect("the slowloris client was still connected after 8 s");
    eprintln!(
        "slowloris cut off after {closed:?}; got {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(4),
        "cut off after {closed:?}, want about the 2 s header timeout"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a request whose head never finished was answered: {answer}"
    );
    trickle.abort();

    let (answer, closed) = read_until_closed(&mut silent, started, Duration::from_secs(8)).await;
    let closed = closed.expect("the silent client was still connected after 8 s");
    assert!(
        closed < Duration::from_secs(4),
        "silent client cut off after {closed:?}"
    );
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"));

    assert!(one_shot(app.addr, LIVE_AND_CLOSE)
        .await
        .starts_with("HTTP/1.1 200"));
}

/// With `max_connections_per_ip = 5`, five connections that have not finished a request keep a sixth
/// from the same address out: it is closed at once without an answer, even to a complete request. The
/// five are still served, and once they close the address is let in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped() {
    let app = TestApp::start_with(|c| c.max_connections_per_ip = 5).await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream
            .write_all(b"GET /health/live HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(stream);
    }

    let started = Instant::now();
    let mut sixth = TcpStream::connect(app.addr).await.unwrap();
    let _ = sixth.write_all(LIVE_AND_CLOSE).await;
    let (answer, closed) = read_until_closed(&mut sixth, started, Duration::from_secs(5)).await;
    let closed = closed.expect("the sixth connection was left open");
    eprintln!("sixth connection closed after {closed:?}");
    assert!(
        closed < Duration::from_secs(2),
        "closed only after {closed:?}"
    );
    assert!(
        answer.is_empty(),
        "the sixth connection got an answer: {:?}",
        String::from_utf8_lossy(&answer)
    );
    // Other clients from this address are turned away too (reqwest sees a closed connection).
    assert!(app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .is_err());

    // The admitted connections are served normally.
    let mut first = held.remove(0);
    first
        .write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) =
        read_until_closed(&mut first, Instant::now(), Duration::from_secs(5)).await;
    assert!(closed.is_some());
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // Once the rest close, new connections get in again (the server notices the closes promptly).
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let answer = one_shot(app.addr, LIVE_AND_CLOSE).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the held connections closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Behind a reverse proxy every client arrives from the proxy's address, so addresses listed in
/// `trusted_proxies` are not capped; other addresses still are (127.0.0.2 reaches the server over the
/// loopback interface as a second client address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxies_are_not_capped() {
    let app = TestApp::start_with(|c| {
        c.max_connections_per_ip = 5;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let connect_from = |source: [u8; 4]| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        socket.connect(app.addr).await.unwrap()
    };
    let mut held = Vec::new();
    for source in [[127, 0, 0, 1], [127, 0, 0, 2]] {
        for _ in 0..if source[3] == 1 { 20 } else { 5 } {
            let mut stream = connect_from(source).await;
            stream
                .write_all(b"GET /health/live HTTP/1.1\r\n")
                .await
                .unwrap();
            held.push(stream);
        }
    }
    // The proxy's address, with 20 open, is still served.
    let mut proxied = connect_from([127, 0, 0, 1]).await;
    proxied.write_all(LIVE_AND_CLOSE).await.unwrap();
    let (answer, _) =
        read_until_closed(&mut proxied, Instant::now(), Duration::from_secs(10)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // Another address, with 5 open, is not.
    let mut direct = connect_from([127, 0, 0, 2]).await;
    let _ = direct.write_all(LIVE_AND_CLOSE).await;
    let (answer, closed) =
        read_until_closed(&mut direct, Instant::now(), Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|c| c < Duration::from_secs(2)),
        "{closed:?}"
    );
    assert!(
        answer.is_empty(),
        "a sixth connection from 127.0.0.2 was answered"
    );
    drop(held);
}

/// The header timeout covers only the head: a push whose headers arrive at once and whose body then
/// arrives in five pieces a second apart (well past the 2 s header timeout) is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_not_cut_by_the_header_timeout() {
    let app = TestApp::start_with(|c| c.header_read_timeout_secs = 2).await;
    let user = app.user("slowbody").await;
    let key = app.key(&user, "slow", &[Push], &["*"]).await;
    let package = simple("Slow.Body", "1.0.0");
    let head = format!(
        "PUT /api/v2/package HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        package.len()
    );
    let started = Instant::now();
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in package.chunks(package.len().div_ceil(5)) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stream.write_all(piece).await.unwrap();
    }
    let (answer, closed) = read_until_closed(&mut stream, started, Duration::from_secs(20)).await;
    let answer = String::from_utf8_lossy(&answer);
    eprintln!("slow body answered after {closed:?}: {answer:?}");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    let versions = app.json("/v3-flatcontainer/slow.body/index.json").await;
    assert_eq!(versions["versions"], serde_json::json!(["1.0.0"]));
}

/// A kept-alive connection is reused while requests keep coming (the timer restarts after each
/// response), and closed by the server once it sits idle for the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let app = TestApp::start_with(|c| c.header_read_timeout_secs = 2).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    for i in 0..3 {
        if i > 0 {
            // 1.5 s idle each time: 3 s in all since the first response, past one timeout.
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        stream.write_all(LIVE).await.unwrap();
        let response = read_response(&mut stream).await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "request {i}: {response}"
        );
    }
    let idle_since = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream, idle_since, Duration::from_secs(8)).await;
    let closed = closed.expect("the idle connection was still open after 8 s");
    eprintln!("idle keep-alive connection closed after {closed:?}");
    assert!(
        closed >= Duration::from_millis(1500) && closed < Duration::from_secs(4),
        "closed after {closed:?}, want about the 2 s timeout"
    );
    assert!(
        answer.is_empty(),
        "unexpected bytes: {:?}",
        String::from_utf8_lossy(&answer)
    );
}

/// `nugate serve` started with its own environment, stopped (killed) on drop.
#[allow(clippy::zombie_processes)] // `Server`'s `Drop` kills and reaps it
fn spawn_serve(data: &std::path::Path, env: &[(&str, &str)]) -> (crate::cli::Server, SocketAddr) {
    let port = crate::cli::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nugate"));
    cmd.env_remove("NUGATE_LISTEN")
        .env("NUGATE_DATA_DIR", data)
        .env("NUGATE_LOG", "warn")
        .envs(env.iter().copied())
        .current_dir(data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    (
        crate::cli::Server {
            child,
            base: format!("http://{addr}"),
        },
        addr,
    )
}

/// Waits until the server answers /health/live (on connections that close, so none is left idle).
async fn wait_until_live(addr: SocketAddr) {
    for _ in 0..400 {
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let _ = stream.write_all(LIVE_AND_CLOSE).await;
            let (answer, _) =
                read_until_closed(&mut stream, Instant::now(), Duration::from_secs(5)).await;
            if answer.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nugate serve did not start");
}

/// The settings are read from `NUGATE_HEADER_READ_TIMEOUT_SECS` and `NUGATE_MAX_CONNECTIONS_PER_IP`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // On PostgreSQL runs this writes the data folder's nugate.toml pointing at a fresh database.
    crate::cli::cli_user_and_key(dir.path(), &["push"], &["*"]);
    let (_server, addr) = spawn_serve(
        dir.path(),
        &[
            ("NUGATE_HEADER_READ_TIMEOUT_SECS", "2"),
            ("NUGATE_MAX_CONNECTIONS_PER_IP", "3"),
        ],
    );
    wait_until_live(addr).await;
    // Let the server finish closing the probe's connection, so it no longer counts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let _ = fourth.write_all(LIVE_AND_CLOSE).await;
    let (answer, closed) =
        read_until_closed(&mut fourth, Instant::now(), Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|c| c < Duration::from_secs(2)),
        "{closed:?}"
    );
    assert!(answer.is_empty(), "the fourth connection was answered");
    for stream in &mut held {
        let (_, closed) = read_until_closed(stream, started, Duration::from_secs(8)).await;
        let closed = closed.expect("a silent connection outlived the 2 s header timeout by far");
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
    }
}

/// SIGTERM while an upload is trickling in: the server stops accepting, lets the upload finish (201),
/// closes the idle connections, and exits with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_upload_finish() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::cli::cli_user_and_key(dir.path(), &["push"], &["*"]);
    let (mut server, addr) = spawn_serve(dir.path(), &[("NUGATE_HEADER_READ_TIMEOUT_SECS", "2")]);
    wait_until_live(addr).await;
    // An idle kept-alive connection, which shutdown must not wait for.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(LIVE).await.unwrap();
    assert!(read_response(&mut idle).await.starts_with("HTTP/1.1 200"));

    let package = simple("Shutdown.Upload", "1.0.0");
    let head = format!(
        "PUT /api/v2/package HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        package.len()
    );
    let mut upload = TcpStream::connect(addr).await.unwrap();
    upload.write_all(head.as_bytes()).await.unwrap();
    let pieces: Vec<&[u8]> = package.chunks(package.len().div_ceil(4)).collect();
    upload.write_all(pieces[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let signalled = Instant::now();
    // The idle connection is closed at once, without waiting for the upload.
    let (_, closed) = read_until_closed(&mut idle, signalled, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|c| c < Duration::from_millis(1500)),
        "idle connection closed after {closed:?}"
    );
    for piece in &pieces[1..] {
        tokio::time::sleep(Duration::from_millis(500)).await;
        upload.write_all(piece).await.unwrap();
    }
    let response = read_response(&mut upload).await;
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = exited.expect("the server did not exit after the upload finished");
    assert!(status.success(), "{status}");
}
