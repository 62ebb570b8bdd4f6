//! The fixed batch of cached reads the instruction-count guard measures (`scripts/instruction-guard.sh`).
//!
//! `read_batch N` starts nugate in this process, pushes the benchmark's read-mix packages
//! (10 IDs × 3 versions), reads every path of the mix once to warm the caches, then sends `N` more reads
//! of the mix over one keep-alive connection and exits. The client runs on a current-thread runtime and
//! nugate serves it on its connection threads, with a feed TTL of an hour, so the same binary and `N`
//! execute nearly the same instructions run after run (within 2 %, as the threads take turns): the
//! guard runs it for two values of `N` under an instruction counter and divides the difference.
//!
//! `read_batch N private` does the same on a private feed, every read carrying a read key.

use std::io::Write;

use nugate::auth::keys::KeyScope;
use nugate::config::Config;
use nugate::model::key::KeyAction;
use nugate::state::AppState;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The allocator `nugate serve` runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const IDS: usize = 10;
const VERSIONS: usize = 3;

fn nupkg(id: &str, version: &str) -> Vec<u8> {
    let nuspec = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"><metadata>\
         <id>{id}</id><version>{version}</version><authors>bench</authors>\
         <description>Synthetic benchmark package</description></metadata></package>"
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let built = (|| -> zip::result::ZipResult<Vec<u8>> {
        zip.start_file(format!("{id}.nuspec"), options)?;
        zip.write_all(nuspec.as_bytes())?;
        zip.start_file("lib/netstandard2.0/_._", options)?;
        Ok(zip.finish()?.into_inner())
    })();
    built.expect("an in-memory zip")
}

/// One request over the kept-alive connection; the body's length is returned after checking the status.
async fn request(
    stream: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    key: &str,
    body: &[u8],
) -> usize {
    let key = if key.is_empty() {
        String::new()
    } else {
        format!("X-NuGet-ApiKey: {key}\r\n")
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: read-batch\r\n{key}\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let socket = stream.get_mut();
    socket.write_all(head.as_bytes()).await.expect("send");
    socket.write_all(body).await.expect("send body");
    let mut line = String::new();
    stream.read_line(&mut line).await.expect("status line");
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    assert!(status < 300, "{method} {path}: {line}");
    let mut length = 0;
    loop {
        line.clear();
        stream.read_line(&mut line).await.expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a length");
            }
        }
    }
    let mut content = vec![0; length];
    stream.read_exact(&mut content).await.expect("body");
    length
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: read_batch REQUESTS [private]");
    let private = std::env::args().nth(2).as_deref() == Some("private");
    // Logged as `nugate serve` logs (NUGATE_LOG, default info): a line per request is part of the cost.
    let _log = nugate::logging::init(nugate::config::LogFormat::Text);
    let data = tempfile::tempdir().expect("a temporary folder");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let config = Config {
        listen: addr,
        data_dir: data.path().to_path_buf(),
        cache_ttl_ms: 3_600_000,
        read_access: if private {
            nugate::config::ReadAccess::Private
        } else {
            nugate::config::ReadAccess::Public
        },
        ..Config::default()
    };
    let state = AppState::open(config).await.expect("nugate opens");
    let user = state
        .users
        .create(
            "bench",
            "bench@example.com",
            "long bench password",
            false,
            true,
        )
        .await
        .expect("a user");
    let scope = KeyScope {
        owner: None,
        actions: vec![KeyAction::Push],
        packages: vec![],
        globs: vec!["*".into()],
    };
    let (_, key) = state
        .keys
        .create(&user, "bench", &scope, None)
        .await
        .expect("a key");
    let read_key = if private {
        let scope = KeyScope {
            actions: vec![KeyAction::Read],
            ..scope
        };
        let (_, read_key) = state
            .keys
            .create(&user, "reader", &scope, None)
            .await
            .expect("a read key");
        read_key
    } else {
        String::new()
    };
    let serving = state.clone();
    tokio::spawn(async move { nugate::app::serve(serving, listener).await });
    let mut stream = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    let mut paths = Vec::new();
    for i in 0..IDS {
        let id = format!("Read.Pkg{i}");
        let lid = id.to_lowercase();
        for v in 0..VERSIONS {
            let version = format!("1.0.{v}");
            let package = nupkg(&id, &version);
            request(&mut stream, "PUT", "/api/v2/package/", &key, &package).await;
        }
        paths.push(format!("/v3-flatcontainer/{lid}/index.json"));
        paths.push(format!("/v3-flatcontainer/{lid}/1.0.1/{lid}.1.0.1.nupkg"));
        paths.push(format!("/v3/registration/{lid}/index.json"));
    }
    for path in &paths {
        request(&mut stream, "GET", path, &read_key, b"").await;
    }
    let mut bytes = 0;
    for path in paths.iter().cycle().take(n) {
        bytes += request(&mut stream, "GET", path, &read_key, b"").await;
    }
    println!("{n} reads, {bytes} bytes");
}
