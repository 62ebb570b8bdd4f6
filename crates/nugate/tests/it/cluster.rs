//! Several stateless `nugate serve` processes on one PostgreSQL database and one S3 bucket behave as one
//! server. Needs the services `scripts/services.sh` starts (always there under CI).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use object_store::ObjectStoreExt;

use crate::helpers::{get_json, simple};
use crate::web::Browser;

/// The PostgreSQL admin URL and S3 endpoint, or `None` (loudly) outside CI when they are not running.
pub(crate) fn services() -> Option<(String, String)> {
    match (
        std::env::var("NUGATE_TEST_POSTGRES_URL"),
        std::env::var("NUGATE_TEST_S3_ENDPOINT"),
    ) {
        (Ok(pg), Ok(s3)) => Some((pg, s3)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("NUGATE_TEST_POSTGRES_URL / NUGATE_TEST_S3_ENDPOINT missing: run scripts/test-all.sh")
        }
        _ => {
            eprintln!(
                "NOT RUN: multi-node test (start PostgreSQL and S3 with scripts/services.sh)"
            );
            None
        }
    }
}

async fn create_database(admin: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("cluster_{}", &nugate::tokens::random_token()[..16]);
    let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

/// Creates an S3 bucket on the test server and returns its name.
pub async fn create_bucket(endpoint: &str) -> String {
    let bucket = format!("nugate-{}", &nugate::tokens::random_token()[..12]);
    let r = crate::helpers::http()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "bucket creation: {}", r.status());
    bucket
}

/// S3 settings for the test server, as `AWS_*` variables and as object_store options.
pub fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(data: &Path, database_url: &str, storage_url: &str, endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nugate"));
    cmd.env("NUGATE_DATA_DIR", data)
        .env("NUGATE_DATABASE_URL", database_url)
        .env("NUGATE_STORAGE_URL", storage_url)
        .env("NUGATE_LOG", "warn")
        .current_dir(data);
    for (k, v) in s3_env(endpoint) {
        cmd.env(k, v);
    }
    cmd
}

#[allow(clippy::zombie_processes)] // owned by `Node`, whose `Drop` kills and reaps it
async fn start_node(data: &Path, database_url: &str, storage_url: &str, endpoint: &str) -> Node {
    let port = crate::cli::free_port();
    let child = command(data, database_url, storage_url, endpoint)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if let Ok(r) = crate::helpers::http()
            .get(format!("{base}/health/ready"))
            .send()
            .await
        {
            if r.status() == 200 {
                return Node { child, base };
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node on port {port} did not become ready");
}

fn run(mut cmd: Command, stdin: &str) -> String {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn eml_count(dirs: &[&Path]) -> usize {
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d.join("mail")).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains("about to expire")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_and_s3_behave_as_one() {
    let Some((admin, endpoint)) = services() else {
        return;
    };
    let database_url = create_database(&admin).await;
    let bucket = create_bucket(&endpoint).await;
    let storage_url = format!("s3://{bucket}/feed");
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();

    // A user, a working key, and one that expires in 3 days (for the notice that must go out once).
    let mut user = command(dir_a.path(), &database_url, &storage_url, &endpoint);
    user.args([
        "user",
        "create",
        "ops",
        "--email",
        "ops@example.com",
        "--password-stdin",
    ]);
    run(user, "cluster password\n");
    let mut create = command(dir_a.path(), &database_url, &storage_url, &endpoint);
    create.args([
        "key", "create", "--user", "ops", "--name", "ci", "--scope", "push", "--scope", "unlist",
        "--glob", "*",
    ]);
    let key = run(create, "");
    let mut soon = command(dir_a.path(), &database_url, &storage_url, &endpoint);
    soon.args([
        "key",
        "create",
        "--user",
        "ops",
        "--name",
        "soon",
        "--scope",
        "push",
        "--glob",
        "*",
        "--expires-in-days",
        "3",
    ]);
    run(soon, "");

    let a = start_node(dir_a.path(), &database_url, &storage_url, &endpoint).await;
    let b = start_node(dir_b.path(), &database_url, &storage_url, &endpoint).await;
    let client = crate::helpers::http();

    // 32 concurrent pushes of one ID and version over both nodes: one 201, 31 409s.
    let package = simple("Cluster.Lib", "1.0.0");
    let mut tasks = Vec::new();
    for i in 0..32 {
        let url = format!(
            "{}/api/v2/package",
            if i % 2 == 0 { &a.base } else { &b.base }
        );
        let (client, key, body) = (client.clone(), key.clone(), package.clone());
        tasks.push(tokio::spawn(async move {
            client
                .put(url)
                .header("X-NuGet-ApiKey", key)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        31,
        "{statuses:?}"
    );
    let store = nugate::storage::PackageStorage::from_url_with_options(
        &format!("s3://{bucket}"),
        s3_env(&endpoint)
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v)),
    )
    .unwrap();
    let files = store.list_files().await.unwrap();
    let nupkgs: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.ends_with(".nupkg"))
        .collect();
    assert_eq!(nupkgs.len(), 1, "{files:?}");
    assert_eq!(
        nupkgs[0].0,
        "feed/cluster.lib/1.0.0/cluster.lib.1.0.0.nupkg"
    );
    // The bytes pushed through one node come back from the other, straight from the bucket.
    let raw = store
        .store()
        .get(&object_store::path::Path::from(nupkgs[0].0.as_str()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.as_ref(), package.as_slice());
    for node in [&a, &b] {
        let got = client
            .get(format!(
                "{}/v3-flatcontainer/cluster.lib/1.0.0/cluster.lib.1.0.0.nupkg",
                node.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().as_ref(), package.as_slice());
    }

    // Unlist on B: A serves search and registrations from memory, so it shows the change once its view is
    // older than `cache_ttl_ms` (250 ms by default): search and the cached leaf both change, well within 3 s.
    let leaf_listed = |node: &Node| {
        let (client, url) = (
            client.clone(),
            format!(
                "{}/v3/registration-semver2/cluster.lib/1.0.0.json",
                node.base
            ),
        );
        async move { get_json(&client, &url).await["listed"].as_bool().unwrap() }
    };
    assert!(leaf_listed(&a).await, "A has the leaf cached as listed");
    let r = client
        .delete(format!("{}/api/v2/package/Cluster.Lib/1.0.0", b.base))
        .header("X-NuGet-ApiKey", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let unlisted_at = std::time::Instant::now();
    loop {
        let search = get_json(&client, &format!("{}/v3/search?q=Cluster", a.base)).await;
        if search["totalHits"] == 0 && !leaf_listed(&a).await {
            break;
        }
        assert!(
            unlisted_at.elapsed() < Duration::from_secs(3),
            "node A still shows the version B unlisted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("node A showed B's unlist after {:?}", unlisted_at.elapsed());

    // Revoke through A's web UI: B refuses the key on the very next request (no cache anywhere).
    let browser = Browser::at(&a.base);
    assert_eq!(
        browser.sign_in("ops", "cluster password").await.status(),
        303
    );
    let ci_id: i64 = sqlx_id(&database_url, "ci").await;
    let (_, html) = browser.get("/account/apikeys").await;
    assert!(html.contains(&format!("/account/apikeys/{ci_id}/revoke")));
    let r = browser
        .post(
            "/account/apikeys",
            &format!("/account/apikeys/{ci_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = client
        .put(format!("{}/api/v2/package", b.base))
        .header("X-NuGet-ApiKey", &key)
        .body(simple("Cluster.Lib", "2.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Organisation membership is read with the key on every request: a member removed through node A's
    // command line is refused by node B on the very next push with their organisation's key.
    let cli = |args: &[&str], stdin: &str| {
        let mut cmd = command(dir_a.path(), &database_url, &storage_url, &endpoint);
        cmd.args(args);
        run(cmd, stdin)
    };
    cli(
        &[
            "user",
            "create",
            "dev",
            "--email",
            "dev@example.com",
            "--password-stdin",
        ],
        "cluster password\n",
    );
    cli(&["org", "create", "Platform", "--admin", "ops"], "");
    cli(
        &[
            "org",
            "add-member",
            "Platform",
            "dev",
            "--role",
            "collaborator",
        ],
        "",
    );
    let dev_key = cli(
        &[
            "key",
            "create",
            "--user",
            "dev",
            "--owner",
            "Platform",
            "--name",
            "platform-ci",
            "--scope",
            "push",
            "--glob",
            "Platform.*",
        ],
        "",
    );
    let push_via = |node: &Node, version: &str| {
        client
            .put(format!("{}/api/v2/package", node.base))
            .header("X-NuGet-ApiKey", &dev_key)
            .body(simple("Platform.Lib", version))
            .send()
    };
    assert_eq!(push_via(&b, "1.0.0").await.unwrap().status(), 201);
    let listed: serde_json::Value =
        serde_json::from_str(&cli(&["package", "list", "--json"], "")).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({ "id": "Platform.Lib", "owners": ["Platform"] })),
        "the organisation owns the ID its member's key created: {listed}"
    );
    cli(&["org", "remove-member", "Platform", "dev"], "");
    // The CLI is another node: both servers see the removal within their cache_ttl_ms.
    for node in [&b, &a] {
        let mut refused = None;
        for attempt in 0..50 {
            let r = push_via(node, &format!("1.1.{attempt}")).await.unwrap();
            if r.status() == 403 {
                refused = Some(r.text().await.unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            refused.as_deref(),
            Some(nugate::error::INVALID_KEY_MESSAGE),
            "{} still took the removed member's key after 1 s",
            node.base
        );
    }

    // The expiry notice goes out once across the cluster, not once per node.
    for _ in 0..100 {
        if eml_count(&[dir_a.path(), dir_b.path()]) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(eml_count(&[dir_a.path(), dir_b.path()]), 1);

    // Health endpoints for load balancers.
    for node in [&a, &b] {
        assert_eq!(
            client
                .get(format!("{}/health/live", node.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            client
                .get(format!("{}/health/ready", node.base))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

async fn sqlx_id(database_url: &str, name: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar("SELECT id FROM api_keys WHERE name = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_single_server_on_s3_storage_pushes_and_serves() {
    let Some((_, endpoint)) = services() else {
        return;
    };
    let bucket = create_bucket(&endpoint).await;
    let storage = nugate::storage::PackageStorage::from_url_with_options(
        &format!("s3://{bucket}/one"),
        s3_env(&endpoint)
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v)),
    )
    .unwrap();
    let app = crate::helpers::TestApp::start_with_storage(|_| {}, Some(storage)).await;
    let user = app.user("s3user").await;
    let key = app
        .key(&user, "k", &[nugate::model::key::KeyAction::Push], &["*"])
        .await;
    let package = simple("S3.Lib", "1.0.0");
    assert_eq!(app.push(&key, package.clone()).await.status(), 201);
    assert_eq!(app.push(&key, package.clone()).await.status(), 409);
    let got = app
        .client
        .get(app.url("/v3-flatcontainer/s3.lib/1.0.0/s3.lib.1.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), package.as_slice());
    let nuspec = app
        .client
        .get(app.url("/v3-flatcontainer/s3.lib/1.0.0/s3.lib.nuspec"))
        .send()
        .await
        .unwrap();
    assert!(nuspec.text().await.unwrap().contains("<id>S3.Lib</id>"));
    // Nothing is written to the local packages folder.
    assert!(!app.data_dir().join("packages").join("s3.lib").exists());
}

/// A PostgreSQL cluster of the test's own (stopping the shared one would break other tests).
struct OwnPostgres {
    dir: String,
    port: String,
    url: String,
}

impl OwnPostgres {
    fn start() -> OwnPostgres {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
        // An S3 endpoint given in the environment makes the script start PostgreSQL only.
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .env_remove("NUGATE_TEST_POSTGRES_URL")
            .env("NUGATE_TEST_S3_ENDPOINT", "http://unused")
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .to_string()
        };
        let url = value("NUGATE_TEST_POSTGRES_URL");
        let port = url
            .rsplit_once(':')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap()
            .to_string();
        OwnPostgres {
            dir: value("NUGATE_TEST_SERVICES_DIR"),
            port,
            url,
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .max()
            .unwrap()
            .join("bin/pg_ctl");
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args(["-D", &format!("{}/pg/data", self.dir), "-w"])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?}");
    }

    fn stop(&self) {
        // A fast shutdown: connections are cut at once (the test cluster runs with synchronous_commit=off,
        // so an immediate one could drop its last commits, which is not what is under test here).
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    fn restart(&self) {
        let options = format!(
            "-p {} -k {}/pg -h 127.0.0.1 -c fsync=off",
            self.port, self.dir
        );
        self.pg_ctl(&[
            "-l",
            &format!("{}/pg/log", self.dir),
            "-o",
            &options,
            "start",
        ]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services.sh");
        let _ = Command::new("bash")
            .arg(script)
            .args(["stop", &self.dir])
            .status();
    }
}

/// A server on a PostgreSQL cluster of its own (so the test may stop it), with a user `name` holding a
/// push key for every ID: (cluster, server, user, key).
async fn on_own_postgres(
    name: &str,
) -> (
    OwnPostgres,
    crate::helpers::TestApp,
    nugate::db::users::User,
    String,
) {
    let pg = OwnPostgres::start();
    let database_url = create_database(&pg.url).await;
    let app =
        crate::helpers::TestApp::start_with(|c| c.database_url = Some(database_url.clone())).await;
    let user = app.user(name).await;
    let key = app
        .key(&user, "k", &[nugate::model::key::KeyAction::Push], &["*"])
        .await;
    (pg, app, user, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_503_and_service_resumes_without_restart() {
    if services().is_none() {
        return;
    }
    let (pg, app, _user, key) = on_own_postgres("dba").await;
    let before = simple("Outage.Lib", "1.0.0");
    assert_eq!(app.push(&key, before.clone()).await.status(), 201);
    assert_eq!(
        app.json("/v3-flatcontainer/outage.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0"])
    );
    // Let the node's view age past `cache_ttl_ms`, so the next reads try the database.
    tokio::time::sleep(Duration::from_millis(400)).await;

    pg.stop();
    let started = std::time::Instant::now();
    let push = app.push(&key, simple("Outage.Lib", "2.0.0")).await;
    assert_eq!(push.status(), 503);
    assert!(push
        .text()
        .await
        .unwrap()
        .contains("temporarily unavailable"));
    // Restores go on from the node's last view of the feed...
    assert_eq!(
        app.json("/v3-flatcontainer/outage.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0"])
    );
    let got = app
        .client
        .get(app.url("/v3-flatcontainer/outage.lib/1.0.0/outage.lib.1.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), before.as_slice());
    // ...but "not found" needs the database, so it is a 503 with a message, never a false 404.
    let unknown = app
        .client
        .get(app.url("/v3-flatcontainer/never.pushed/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 503);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("temporarily unavailable"));
    assert_eq!(
        app.client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        app.client
            .get(app.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failures must be prompt"
    );

    pg.restart();
    let mut ready = false;
    for _ in 0..100 {
        if app
            .client
            .get(app.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "the node recovers by itself");
    assert_eq!(
        app.push(&key, simple("Outage.Lib", "2.0.0")).await.status(),
        201
    );
    let got = app
        .client
        .get(app.url("/v3-flatcontainer/outage.lib/1.0.0/outage.lib.1.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), before.as_slice());
}

/// Whether a response body says the service is unavailable, whatever the case of the words.
fn says_unavailable(body: &str) -> bool {
    body.to_lowercase().contains("unavailable")
}

/// With the database down, the account pages, pushes and key actions answer 503 with a message (an HTML
/// page for the pages), never a 500, a 404 or an empty body, and the pages come back once it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_gives_503_with_a_message_on_pages_pushes_and_key_actions() {
    if services().is_none() {
        return;
    }
    let (pg, app, user, key) = on_own_postgres("keyholder").await;
    assert_eq!(
        app.push(&key, simple("Down.Lib", "1.0.0")).await.status(),
        201
    );
    let id = app.state.keys.get(&user, "k").await.unwrap().id;
    // The session and the form token are taken while the database is up.
    let browser = Browser::new(&app);
    assert_eq!(
        browser
            .sign_in("keyholder", "correct horse battery")
            .await
            .status(),
        303
    );
    let (status, html) = browser.get("/account/apikeys").await;
    assert_eq!(status, 200);
    let revoke = format!("/account/apikeys/{id}/revoke");
    assert!(
        html.contains(&revoke),
        "no revoke form for the key:\n{html}"
    );
    let csrf = browser.csrf("/account/apikeys").await;

    pg.stop();
    let started = std::time::Instant::now();
    // (a) A page for a signed-in user: the session itself cannot be loaded.
    let page = browser
        .http
        .get(app.url("/account/apikeys"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        503,
        "the key page during the outage must be a 503"
    );
    let content_type = page
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "the key page during the outage must be an HTML page, not {content_type:?}"
    );
    let body = page.text().await.unwrap();
    assert!(says_unavailable(&body), "no message on the page: {body:?}");
    // (b) A push with a valid key.
    let push = app.push(&key, simple("Down.Lib", "2.0.0")).await;
    assert_eq!(push.status(), 503, "a push during the outage must be a 503");
    let body = push.text().await.unwrap();
    assert!(says_unavailable(&body), "no message for the push: {body:?}");
    // (c) A key action posted from the page loaded before the outage.
    let revoked = browser.post_with_token(&csrf, &revoke, &[]).await;
    assert_eq!(
        revoked.status(),
        503,
        "revoking during the outage must be a 503"
    );
    let body = revoked.text().await.unwrap();
    assert!(
        says_unavailable(&body),
        "no message for the revoke: {body:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failures must be prompt"
    );

    pg.restart();
    let started = std::time::Instant::now();
    loop {
        let status = browser
            .http
            .get(app.url("/account/apikeys"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the key page still answers {status} 20 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The session outlived the outage, and the refused revoke changed nothing: the key still pushes.
    let (_, html) = browser.get("/account/apikeys").await;
    assert!(html.contains(&revoke), "the key is still active:\n{html}");
    assert_eq!(
        app.push(&key, simple("Down.Lib", "2.0.0")).await.status(),
        201
    );
}
