//! Running nugate as a service: `/metrics`.

use std::collections::BTreeMap;

use nugate::model::key::KeyAction::*;

use crate::helpers::{simple, TestApp};

/// Parses the exposition text strictly enough to catch a malformed line: comments are `# HELP`,
/// `# TYPE`, `# UNIT` or the final `# EOF`; every sample is `name{labels} number`. Returns the samples.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text must end with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                ["HELP ", "TYPE ", "UNIT "]
                    .iter()
                    .any(|p| comment.starts_with(p)),
                "bad comment line: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value on: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in: {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unclosed labels in: {line}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in: {line}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn scrape(app: &TestApp, token: &str) -> BTreeMap<String, f64> {
    let r = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"));
    parse(&r.text().await.unwrap())
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_pushes_reads_and_every_key_outcome() {
    let app = TestApp::start_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    // The token is required once configured.
    let refused = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let before = scrape(&app, "scrape-secret").await;
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("nugate_build_info{") && k.contains("version=\"")),
        "{before:?}"
    );

    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["Metrics.*"]).await;
    let a = simple("Metrics.A", "1.0.0");
    let b = simple("Metrics.B", "1.0.0");
    let stored = (a.len() + b.len()) as f64;
    assert_eq!(app.push(&key, a).await.status(), 201);
    assert_eq!(app.push(&key, b).await.status(), 201);
    // Out of scope: a valid key, another ID.
    assert_eq!(
        app.push(&key, simple("Other.C", "1.0.0")).await.status(),
        403
    );
    for _ in 0..2 {
        let r = app
            .client
            .get(app.url("/v3-flatcontainer/metrics.a/index.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .get(app.url("/v3-flatcontainer/metrics.a/1.0.0/metrics.a.1.0.0.nupkg"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Thirty wrong keys, then a throttled one.
    let max = nugate::auth::keys::MAX_KEY_FAILURES;
    for i in 0..max {
        let wrong = format!("wrong-key-{i}-xxxxxxxxxxxxxxxxxxxx");
        assert_eq!(
            app.push(&wrong, simple("Metrics.D", "1.0.0"))
                .await
                .status(),
            403
        );
    }
    assert_eq!(
        app.push(&key, simple("Metrics.D", "1.0.0")).await.status(),
        429
    );

    let after = scrape(&app, "scrape-secret").await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(moved("nugate_pushes_total"), 2.0);
    assert_eq!(moved("nugate_stored_bytes_total"), stored);
    assert_eq!(moved("nugate_key_checks_total{outcome=\"ok\"}"), 3.0);
    assert_eq!(
        moved("nugate_key_checks_total{outcome=\"out_of_scope\"}"),
        1.0
    );
    assert_eq!(
        moved("nugate_key_checks_total{outcome=\"wrong\"}"),
        max as f64
    );
    assert_eq!(moved("nugate_key_checks_total{outcome=\"throttled\"}"), 1.0);
    assert_eq!(
        moved("nugate_http_requests_total{route=\"/v3-flatcontainer/{id}/index.json\",status=\"2xx\"}"),
        2.0
    );
    assert_eq!(
        moved("nugate_http_requests_total{route=\"/api/v2/package/\",status=\"2xx\"}"),
        2.0
    );
    assert_eq!(
        moved("nugate_http_requests_total{route=\"/api/v2/package/\",status=\"4xx\"}"),
        (max + 2) as f64
    );
    assert_eq!(
        moved("nugate_cache_lookups_total{cache=\"file\",result=\"miss\"}"),
        1.0
    );
    assert_eq!(
        moved("nugate_cache_lookups_total{cache=\"file\",result=\"hit\"}"),
        1.0
    );
    assert_eq!(value(&after, "nugate_feed_packages"), 2.0);
    assert_eq!(value(&after, "nugate_feed_versions"), 2.0);
    assert!(
        after
            .contains_key("nugate_http_request_duration_seconds_count{route=\"/api/v2/package/\"}"),
        "{after:?}"
    );
    assert!(after.contains_key("nugate_outbox_backlog"));
    assert!(after.contains_key("nugate_db_connections{state=\"idle\"}"));
}

/// Acknowledged pushes: ("ID/VERSION", the .nupkg's bytes).
type Acknowledged = Vec<(String, Vec<u8>)>;

/// "backed up V versions: copied C files (B bytes), U already there" → (V, C, U).
fn backup_counts(stderr: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("backed up "))
        .unwrap_or_else(|| panic!("no summary in: {stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_to_a_feed_that_serves_every_package() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let pushed: Arc<Mutex<Acknowledged>> = Arc::default();
    let mut pushers = Vec::new();
    for client in 0..8 {
        let (app_url, key, stop, pushed) = (
            app.url("/api/v2/package"),
            key.clone(),
            stop.clone(),
            pushed.clone(),
        );
        pushers.push(tokio::spawn(async move {
            let http = crate::helpers::http();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("Load{client}.Lib");
                let version = format!("1.0.{n}");
                let body = simple(&id, &version);
                let r = http
                    .put(&app_url)
                    .header("X-NuGet-ApiKey", &key)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                assert_eq!(status, 201, "{}", r.text().await.unwrap());
                pushed
                    .lock()
                    .unwrap()
                    .push((format!("{id}/{version}"), body));
                n += 1;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let backup = tempfile::tempdir().unwrap();
    let out = backup.path().to_str().unwrap().to_string();
    let mut cmd = crate::cli::nugate_for(&app);
    cmd.args(["backup", "--out", &out]);
    let (ok, _, err) = tokio::task::spawn_blocking(move || crate::cli::run(cmd, ""))
        .await
        .unwrap();
    assert!(ok, "{err}");
    let (first_versions, first_copied, _) = backup_counts(&err);
    assert!(first_versions > 0);
    assert_eq!(first_copied, 2 * first_versions, ".nupkg and .nuspec each");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for p in pushers {
        p.await.unwrap();
    }
    // A second backup copies only what is new.
    let mut cmd = crate::cli::nugate_for(&app);
    cmd.args(["backup", "--out", &out]);
    let (ok, _, err) = crate::cli::run(cmd, "");
    assert!(ok, "{err}");
    let (versions, copied, unchanged) = backup_counts(&err);
    let acknowledged = pushed.lock().unwrap().clone();
    assert_eq!(
        versions,
        acknowledged.len(),
        "every acknowledged push is in it"
    );
    assert_eq!(unchanged, 2 * first_versions);
    assert_eq!(copied, 2 * (versions - first_versions));

    // Restore into a new installation and serve it: every package downloads byte-identical.
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nugate"));
    cmd.env_remove("NUGATE_LISTEN")
        .env_remove("NUGATE_DATABASE_URL")
        .env("NUGATE_DATA_DIR", &target)
        .env("NUGATE_LOG", "warn")
        .current_dir(restored.path())
        .args(["restore", "--from", &out]);
    let (ok, _, err) = crate::cli::run(cmd, "");
    assert!(ok, "{err}");
    let mut again = std::process::Command::new(env!("CARGO_BIN_EXE_nugate"));
    again
        .env("NUGATE_DATA_DIR", &target)
        .current_dir(restored.path())
        .args(["restore", "--from", &out]);
    let (ok, _, err) = crate::cli::run(again, "");
    assert!(!ok && err.contains("not empty"), "{err}");
    let copy = TestApp::start_with(|c| {
        c.data_dir = target.clone();
        c.database_url = None;
    })
    .await;
    for (id_version, body) in &acknowledged {
        let (id, version) = id_version.split_once('/').unwrap();
        let (lower, v) = (id.to_lowercase(), version.to_lowercase());
        let r = copy
            .client
            .get(copy.url(&format!("/v3-flatcontainer/{lower}/{v}/{lower}.{v}.nupkg")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id_version}");
        assert_eq!(&r.bytes().await.unwrap()[..], &body[..], "{id_version}");
    }
}

#[tokio::test]
async fn check_finds_missing_and_stray_files() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    for id in ["Check.A", "Check.B"] {
        assert_eq!(app.push(&key, simple(id, "1.0.0")).await.status(), 201);
    }
    let mut cmd = crate::cli::nugate_for(&app);
    cmd.arg("check");
    let (ok, _, err) = crate::cli::run(cmd, "");
    assert!(ok, "a healthy installation: {err}");
    let packages = app.data_dir().join("packages");
    std::fs::remove_file(packages.join("check.a/1.0.0/check.a.1.0.0.nupkg")).unwrap();
    std::fs::create_dir_all(packages.join("stray/1.0.0")).unwrap();
    std::fs::write(packages.join("stray/1.0.0/stray.1.0.0.nupkg"), b"planted").unwrap();
    let mut cmd = crate::cli::nugate_for(&app);
    cmd.arg("check");
    let (ok, out, err) = crate::cli::run(cmd, "");
    assert!(!ok, "{err}");
    assert!(
        out.contains("missing\tcheck.a/1.0.0/check.a.1.0.0.nupkg"),
        "{out}"
    );
    assert!(
        out.contains("orphan\tstray/1.0.0/stray.1.0.0.nupkg"),
        "{out}"
    );
    assert!(err.contains("1 missing, 0 corrupt, 1 orphaned"), "{err}");
    let mut cmd = crate::cli::nugate_for(&app);
    cmd.args(["check", "--fix"]);
    let (_, _, err) = crate::cli::run(cmd, "");
    assert!(err.contains("(1 removed)"), "{err}");
    assert!(!packages.join("stray/1.0.0/stray.1.0.0.nupkg").exists());
}

#[tokio::test]
async fn json_logs_carry_the_request_route_client_and_key_but_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = crate::cli::cli_user_and_key(data, &["push"], &["*"]);
    let port = crate::cli::free_port();
    let log = data.join("server.log");
    let mut cmd = crate::cli::nugate(data);
    cmd.env("NUGATE_LOG_FORMAT", "json")
        .env("NUGATE_LOG", "info")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    let mut server = crate::cli::Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = crate::helpers::http();
    for _ in 0..200 {
        if client
            .get(format!("{}/health/live", server.base))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let r = client
        .put(format!("{}/api/v2/package", server.base))
        .header("X-NuGet-ApiKey", &key)
        .body(simple("Json.Lib", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let pid = server.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let _ = server.child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(&key[7..]), "a key's secret reached the log");
    let push = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .find(|v| v["message"] == "served" && v["span"]["route"] == "/api/v2/package")
        .unwrap_or_else(|| panic!("no served line for the push in:\n{text}"));
    assert_eq!(push["status"], 201, "{push}");
    assert_eq!(push["level"], "INFO");
    assert!(push["timestamp"].is_string(), "{push}");
    assert!(push["ms"].is_number(), "{push}");
    let span = &push["span"];
    assert_eq!(span["method"], "PUT", "{push}");
    assert_eq!(span["client"], "127.0.0.1", "{push}");
    assert!(
        span["id"].as_str().is_some_and(|id| id.len() == 12),
        "{push}"
    );
    assert!(
        span["key"].as_str().is_some_and(|k| k.starts_with("key-")),
        "{push}"
    );
    assert!(span["key_id"].is_string(), "{push}");
}
