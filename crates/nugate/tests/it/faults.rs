//! Faults from the issue: the S3 server stopping (or hanging) in the middle of a load, and the data folder's
//! disk filling up during a push. Either way requests get a clear answer in bounded time, nothing
//! half-written stays behind, and service resumes without restarting nugate.
//! (The PostgreSQL outage is `cluster::database_outage_gives_503_and_service_resumes_without_restart`.)

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nugate::model::key::KeyAction;
use nugate::storage::PackageStorage;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cluster::{create_bucket, s3_env, services};
use crate::helpers::{simple, TestApp};

/// The storage timeout the S3 test configures (the default is 30 s).
const STORAGE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long any request may take while S3 is away: a few storage timeouts, never object_store's minutes.
const BOUND: Duration = Duration::from_secs(15);

/// What the relay in front of the S3 server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Forwards every connection.
    Up,
    /// Port closed (connection refused) and every live connection cut: a stopped server.
    Down,
    /// Accepts connections and never answers: a hung server.
    Hung,
}

/// A TCP relay between nugate and the S3 server, which keeps its buckets in memory and so cannot be
/// stopped and started again itself.
struct Relay {
    port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, rx) = watch::channel(Mode::Up);
        let task = tokio::spawn(relay(listener, target, rx));
        Relay { port, mode, task }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(first: TcpListener, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let port = first.local_addr().unwrap().port();
    let mut listener = Some(first);
    loop {
        let current = *mode.borrow_and_update();
        if current == Mode::Down {
            drop(listener.take());
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        let open = match listener.take() {
            Some(open) => open,
            None => bind_again(port).await,
        };
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = open.accept() => {
                    let Ok((mut client, _)) = accepted else { continue };
                    connections.spawn(async move {
                        if current == Mode::Hung {
                            let _held = client;
                            std::future::pending::<()>().await;
                        } else if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
                changed = mode.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
        // Closing the port refuses new connections; aborting the tasks cuts every live one.
        drop(open);
        connections.abort_all();
    }
}

async fn bind_again(port: u16) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the relay cannot listen on port {port} again");
}

async fn socket_addr(endpoint: &str) -> SocketAddr {
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    tokio::net::lookup_host(host).await.unwrap().next().unwrap()
}

fn s3_storage(url: &str, endpoint: &str, timeout: Duration) -> PackageStorage {
    PackageStorage::from_url_with_timeout(
        url,
        timeout,
        s3_env(endpoint)
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v)),
    )
    .unwrap()
}

/// One request's answer: status (0 when the connection broke), body, and how long it took.
#[derive(Debug)]
struct Outcome {
    status: u16,
    body: Vec<u8>,
    took: Duration,
}

impl Outcome {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

async fn timed(request: reqwest::RequestBuilder) -> Outcome {
    let started = Instant::now();
    let (status, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => (status, body.to_vec()),
                Err(_) => (0, Vec::new()),
            }
        }
        Err(_) => (0, Vec::new()),
    };
    Outcome {
        status,
        body,
        took: started.elapsed(),
    }
}

fn push_request(app: &TestApp, key: &str, package: Vec<u8>) -> reqwest::RequestBuilder {
    app.client
        .put(app.url("/api/v2/package"))
        .header("X-NuGet-ApiKey", key)
        // The server may answer (507) before reading the whole body and then close the connection:
        // never pool it, or the next request could go out on a connection being closed.
        .header("Connection", "close")
        .body(package)
}

fn nupkg_url(id: &str, version: &str) -> String {
    let (id, version) = (id.to_lowercase(), version.to_lowercase());
    format!("/v3-flatcontainer/{id}/{version}/{id}.{version}.nupkg")
}

/// What one burst of concurrent requests got.
#[derive(Default)]
struct Burst {
    pushes: Vec<((String, String), Vec<u8>, Outcome)>,
    downloads: Vec<((String, String), Outcome)>,
    reads: Vec<(String, Outcome)>,
}

impl Burst {
    fn slowest(&self) -> Duration {
        self.pushes
            .iter()
            .map(|p| p.2.took)
            .chain(self.downloads.iter().map(|d| d.1.took))
            .chain(self.reads.iter().map(|r| r.1.took))
            .max()
            .unwrap_or_default()
    }

    fn summary(&self) -> String {
        let statuses = |v: Vec<u16>| {
            let mut counts = BTreeMap::new();
            for s in v {
                *counts.entry(s).or_insert(0) += 1;
            }
            format!("{counts:?}")
        };
        format!(
            "pushes {} downloads {} reads {}; slowest {:?}",
            statuses(self.pushes.iter().map(|p| p.2.status).collect()),
            statuses(self.downloads.iter().map(|d| d.1.status).collect()),
            statuses(self.reads.iter().map(|r| r.1.status).collect()),
            self.slowest()
        )
    }
}

/// Pushes of `new` packages, downloads of every `stored` one, and metadata reads, all at once.
async fn burst(
    app: &TestApp,
    key: &str,
    new: &[(String, String)],
    stored: &BTreeMap<(String, String), Vec<u8>>,
) -> Burst {
    let mut pushes = JoinSet::new();
    for (id, version) in new {
        let package = simple(id, version);
        let request = push_request(app, key, package.clone());
        let name = (id.clone(), version.clone());
        pushes.spawn(async move { (name, package, timed(request).await) });
    }
    let mut downloads = JoinSet::new();
    for (id, version) in stored.keys() {
        let request = app.client.get(app.url(&nupkg_url(id, version)));
        let name = (id.clone(), version.clone());
        downloads.spawn(async move { (name, timed(request).await) });
    }
    let mut reads = JoinSet::new();
    let (first, _) = stored.keys().next().unwrap();
    let lower = first.to_lowercase();
    for path in [
        "/v3/search?q=Before&prerelease=true".to_string(),
        format!("/v3/registration/{lower}/index.json"),
        format!("/v3-flatcontainer/{lower}/index.json"),
        "/v3/index.json".to_string(),
    ] {
        let request = app.client.get(app.url(&path));
        reads.spawn(async move { (path, timed(request).await) });
    }
    Burst {
        pushes: pushes.join_all().await,
        downloads: downloads.join_all().await,
        reads: reads.join_all().await,
    }
}

async fn status(app: &TestApp, path: &str) -> u16 {
    timed(app.client.get(app.url(path))).await.status
}

async fn wait_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if status(app, "/health/ready").await == 200 {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the node did not become ready again by itself");
}

/// Every stored version is listed and downloads byte-identical; nothing else is listed.
async fn assert_exactly_stored(app: &TestApp, stored: &BTreeMap<(String, String), Vec<u8>>) {
    let mut by_id: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((id, version), bytes) in stored {
        by_id
            .entry(id.to_lowercase())
            .or_default()
            .insert(version.to_lowercase());
        let got = timed(app.client.get(app.url(&nupkg_url(id, version)))).await;
        assert_eq!(got.status, 200, "{id} {version}: {}", got.text());
        assert!(got.body == *bytes, "{id} {version} came back different");
    }
    for (id, versions) in by_id {
        let index = app
            .json(&format!("/v3-flatcontainer/{id}/index.json"))
            .await;
        let listed: BTreeSet<String> = index["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, versions, "versions of {id}");
    }
}

/// The bucket holds exactly the .nupkg and .nuspec of every stored version under `prefix`: no staged
/// upload, no file of a push that failed.
async fn assert_bucket_holds_exactly(
    bucket: &PackageStorage,
    prefix: &str,
    stored: &BTreeMap<(String, String), Vec<u8>>,
) {
    let files: BTreeSet<String> = bucket
        .list_files()
        .await
        .unwrap()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.starts_with(&format!("{prefix}/")))
        .collect();
    let expected: BTreeSet<String> = stored
        .keys()
        .flat_map(|(id, version)| {
            let (id, version) = (id.to_lowercase(), version.to_lowercase());
            [
                format!("{prefix}/{id}/{version}/{id}.{version}.nupkg"),
                format!("{prefix}/{id}/{version}/{id}.nuspec"),
            ]
        })
        .collect();
    let extra: Vec<_> = files.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&files).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "extra {extra:?}, missing {missing:?}"
    );
}

fn assert_unavailable(what: &str, outcome: &Outcome, message: &str) {
    assert_eq!(outcome.status, 503, "{what}: {}", outcome.text());
    assert!(
        outcome.text().contains(message),
        "{what}: unclear message {:?}",
        outcome.text()
    );
    assert!(outcome.took < BOUND, "{what} took {:?}", outcome.took);
}

const PUSH_UNAVAILABLE: &str =
    "The service is temporarily unavailable: the package storage cannot be reached. Please try again.";
const DOWNLOAD_UNAVAILABLE: &str = "cannot be read from storage right now";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_outage_gives_503_and_service_resumes_without_restart() {
    let Some((_, endpoint)) = services() else {
        return;
    };
    let bucket_name = create_bucket(&endpoint).await;
    // The bucket seen directly, to check what is stored whatever the relay does.
    let bucket = s3_storage(&format!("s3://{bucket_name}"), &endpoint, STORAGE_TIMEOUT);
    let relay = Relay::start(socket_addr(&endpoint).await).await;
    let storage = s3_storage(
        &format!("s3://{bucket_name}/feed"),
        &relay.endpoint(),
        STORAGE_TIMEOUT,
    );
    let app = TestApp::start_with_storage(|_| {}, Some(storage)).await;
    let user = app.user("s3ops").await;
    let key = app.key(&user, "k", &[KeyAction::Push], &["*"]).await;

    let mut stored = BTreeMap::new();
    for i in 0..3 {
        let name = (format!("Before.Lib{i}"), "1.0.0".to_string());
        let package = simple(&name.0, &name.1);
        assert_eq!(app.push(&key, package.clone()).await.status(), 201);
        stored.insert(name, package);
    }
    let new: Vec<(String, String)> = (0..6)
        .map(|i| (format!("During.Lib{i}"), "1.0.0".to_string()))
        .collect();

    // The S3 server stops: pushes and downloads get a clear 503 in bounded time, metadata reads work.
    relay.set(Mode::Down);
    let down = burst(&app, &key, &new, &stored).await;
    eprintln!("S3 down: {}", down.summary());
    for (name, _, outcome) in &down.pushes {
        assert_unavailable(&format!("push {name:?}"), outcome, PUSH_UNAVAILABLE);
    }
    for (name, outcome) in &down.downloads {
        assert_unavailable(&format!("download {name:?}"), outcome, DOWNLOAD_UNAVAILABLE);
    }
    for (path, outcome) in &down.reads {
        assert_eq!(outcome.status, 200, "{path} needs no storage");
        assert!(outcome.took < BOUND, "{path} took {:?}", outcome.took);
    }
    let ready = timed(app.client.get(app.url("/health/ready"))).await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.text().contains("storage unreachable"),
        "{}",
        ready.text()
    );
    assert_eq!(status(&app, "/health/live").await, 200);
    // No row for a push that failed.
    for (id, _) in &new {
        let lower = id.to_lowercase();
        assert_eq!(
            status(&app, &format!("/v3-flatcontainer/{lower}/index.json")).await,
            404
        );
        assert_eq!(
            status(&app, &format!("/v3/registration/{lower}/index.json")).await,
            404
        );
    }

    // A hung S3 server (connections accepted, never answered) fails requests just as promptly.
    relay.set(Mode::Hung);
    let hung = burst(&app, &key, &new[..2], &stored).await;
    eprintln!("S3 hung: {}", hung.summary());
    for (name, _, outcome) in &hung.pushes {
        assert_unavailable(&format!("push {name:?}"), outcome, PUSH_UNAVAILABLE);
    }
    for (name, outcome) in &hung.downloads {
        assert_unavailable(&format!("download {name:?}"), outcome, DOWNLOAD_UNAVAILABLE);
    }
    for (path, outcome) in &hung.reads {
        assert_eq!(outcome.status, 200, "{path} needs no storage");
    }

    // It returns: the same node serves again, without a restart, and the outage left nothing behind.
    relay.set(Mode::Up);
    eprintln!("ready again after {:?}", wait_ready(&app).await);
    assert_bucket_holds_exactly(&bucket, "feed", &stored).await;
    let up = burst(&app, &key, &new, &stored).await;
    eprintln!("S3 back: {}", up.summary());
    for (name, package, outcome) in up.pushes {
        assert_eq!(outcome.status, 201, "push {name:?}: {}", outcome.text());
        stored.insert(name, package);
    }
    assert_exactly_stored(&app, &stored).await;

    // Stopped in the middle of a load, then back: every answer is a success or a clear 503, every
    // acknowledged push is intact, and a failed one left no row.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut workers = JoinSet::new();
    for worker in 0..4 {
        let (client, url, key) = (app.client.clone(), app.url("/api/v2/package"), key.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let name = ("Midload.Lib".to_string(), format!("1.{worker}.{n}"));
                let package = simple(&name.0, &name.1);
                let request = client
                    .put(&url)
                    .header("X-NuGet-ApiKey", &key)
                    .body(package.clone());
                results.push((name, package, timed(request).await));
                n += 1;
            }
            results
        });
    }
    let mut readers = JoinSet::new();
    for (name, package) in stored.clone() {
        let url = app.url(&nupkg_url(&name.0, &name.1));
        let client = app.client.clone();
        readers.spawn(async move {
            let mut results = Vec::new();
            while Instant::now() < deadline {
                let outcome = timed(client.get(&url)).await;
                assert!(
                    outcome.status != 200 || outcome.body == package,
                    "{name:?} came back different"
                );
                results.push(outcome);
            }
            results
        });
    }
    // Down for twice the storage timeout, so requests caught in it fail rather than retry through it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    relay.set(Mode::Down);
    tokio::time::sleep(STORAGE_TIMEOUT * 2).await;
    relay.set(Mode::Up);
    let pushed: Vec<_> = workers.join_all().await.into_iter().flatten().collect();
    let downloaded: Vec<_> = readers.join_all().await.into_iter().flatten().collect();
    let count = |statuses: &mut dyn Iterator<Item = u16>| {
        let mut counts = BTreeMap::new();
        for s in statuses {
            *counts.entry(s).or_insert(0) += 1;
        }
        counts
    };
    eprintln!(
        "cut mid-load: pushes {:?} (slowest {:?}), downloads {:?} (slowest {:?})",
        count(&mut pushed.iter().map(|p| p.2.status)),
        pushed.iter().map(|p| p.2.took).max().unwrap_or_default(),
        count(&mut downloaded.iter().map(|d| d.status)),
        downloaded.iter().map(|d| d.took).max().unwrap_or_default(),
    );
    assert!(
        pushed.iter().any(|p| p.2.status == 503) && pushed.iter().any(|p| p.2.status == 201),
        "the cut should fail some pushes and not others"
    );
    for (name, package, outcome) in pushed {
        match outcome.status {
            201 => {
                stored.insert(name, package);
            }
            503 => assert_unavailable(&format!("push {name:?}"), &outcome, PUSH_UNAVAILABLE),
            other => panic!("push {name:?}: {other} {}", outcome.text()),
        }
    }
    for outcome in &downloaded {
        // 0: the connection carrying a download was cut with the relay (the client sees a broken body).
        assert!(
            [200, 503, 0].contains(&outcome.status),
            "download: {} {}",
            outcome.status,
            outcome.text()
        );
        if outcome.status == 503 {
            assert_unavailable("download", outcome, DOWNLOAD_UNAVAILABLE);
        }
    }
    wait_ready(&app).await;
    assert_exactly_stored(&app, &stored).await;
    // A push cut mid-upload may leave its staged file (an invisible orphan); the sweep removes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let swept = app.state.packages.remove_orphans(0).await.unwrap();
    eprintln!("orphans swept after the cut: {swept}");
    assert_bucket_holds_exactly(&bucket, "feed", &stored).await;
}

/// A tmpfs mounted on a fresh folder for the test's life: a disk that can fill up. Needs root.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Tmpfs { dir },
            Ok(out) => panic!(
                "this test needs root to mount a tmpfs (a disk it can fill up): `mount -t tmpfs` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("this test needs root and `mount` to mount a tmpfs: {e}"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a panic left the server's files open): detach it now, freed once closed.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Fills the file system holding `dir` up to its last `room` bytes, with one file.
fn fill(dir: &Path, room: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    file.set_len(written.saturating_sub(room)).unwrap();
    path
}

/// A valid package carrying `size` incompressible bytes.
fn big_package(id: &str, version: &str, size: usize) -> Vec<u8> {
    let mut payload = vec![0u8; size];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut payload);
    let mut zip = zip::ZipWriter::new_append(std::io::Cursor::new(simple(id, version))).unwrap();
    zip.start_file(
        "content/payload.bin",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(&payload).unwrap();
    zip.finish().unwrap().into_inner()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// No spooled upload, no staged or partial package file, no row: the failed push left nothing.
async fn assert_nothing_half_written(app: &TestApp, data: &Path, lower_id: &str) {
    let spooled = files_under(&data.join("tmp"));
    assert!(spooled.is_empty(), "upload files left: {spooled:?}");
    let stray: Vec<_> = files_under(&data.join("packages"))
        .into_iter()
        .filter(|p| {
            let text = p.to_string_lossy();
            text.contains(lower_id) || text.contains(".uploads") || text.contains('#')
        })
        .collect();
    assert!(stray.is_empty(), "package files left: {stray:?}");
    assert_eq!(
        status(app, &format!("/v3-flatcontainer/{lower_id}/index.json")).await,
        404
    );
}

const DISK_FULL: &str = "The server is out of disk space, so the package was not stored.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_during_push_gives_507_and_leaves_nothing_half_written() {
    let disk = Tmpfs::mount("16m");
    // The data folder holds the upload spool, the packages and (on SQLite) the database, as by default.
    let data = disk.path().join("data");
    let app = TestApp::start_with(|c| c.data_dir = data.clone()).await;
    let user = app.user("full").await;
    let key = app.key(&user, "k", &[KeyAction::Push], &["*"]).await;
    let before = simple("Full.Before", "1.0.0");
    assert_eq!(app.push(&key, before.clone()).await.status(), 201);
    let big = big_package("Full.Big", "1.0.0", 2 << 20);

    // Less room than the upload: spooling the body fails.
    let filler = fill(disk.path(), 512 << 10);
    let spool_full = timed(push_request(&app, &key, big.clone())).await;
    eprintln!(
        "disk full while spooling: {} in {:?}: {}",
        spool_full.status,
        spool_full.took,
        spool_full.text()
    );
    assert_eq!(spool_full.status, 507, "{}", spool_full.text());
    assert!(
        spool_full.text().contains(DISK_FULL),
        "{}",
        spool_full.text()
    );
    assert_nothing_half_written(&app, &data, "full.big").await;
    // Reads need no space.
    assert_eq!(status(&app, "/v3/search?q=Full").await, 200);
    let got = timed(app.client.get(app.url(&nupkg_url("Full.Before", "1.0.0")))).await;
    assert!(got.status == 200 && got.body == before);

    // Room for the spooled upload but not for the stored copy: storing the package fails.
    std::fs::remove_file(&filler).unwrap();
    let filler = fill(disk.path(), 3 << 20);
    let store_full = timed(push_request(&app, &key, big.clone())).await;
    eprintln!(
        "disk full while storing: {} in {:?}",
        store_full.status, store_full.took
    );
    assert_eq!(store_full.status, 507, "{}", store_full.text());
    assert!(
        store_full.text().contains(DISK_FULL),
        "{}",
        store_full.text()
    );
    assert_nothing_half_written(&app, &data, "full.big").await;

    // Space is freed: the same server takes the push, and nothing earlier was harmed.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(app.push(&key, big.clone()).await.status(), 201);
    let mut stored = BTreeMap::new();
    stored.insert(("Full.Before".to_string(), "1.0.0".to_string()), before);
    stored.insert(("Full.Big".to_string(), "1.0.0".to_string()), big);
    assert_exactly_stored(&app, &stored).await;
    assert!(files_under(&data.join("tmp")).is_empty());
    app.state.db.pool().close().await;
}
