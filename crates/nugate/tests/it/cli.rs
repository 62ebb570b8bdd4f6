//! The `nugate` binary: subcommands share the server's data, `serve` starts on a fresh folder and stops
//! cleanly on SIGTERM, configuration layers override each other in order.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::simple;

/// On PostgreSQL runs, points a data folder's `nugate.toml` at a fresh database, so every command and
/// server started in that folder shares it.
fn prepare(data: &Path) {
    let config = data.join("nugate.toml");
    if !config.exists() {
        if let Some(url) = crate::helpers::fresh_database_url_blocking() {
            std::fs::write(config, format!("database_url = \"{url}\"\n")).unwrap();
        }
    }
}

pub(crate) fn nugate(data: &Path) -> Command {
    prepare(data);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nugate"));
    cmd.env_remove("NUGATE_LISTEN")
        .env("NUGATE_DATA_DIR", data)
        .env("NUGATE_LOG", "warn")
        .current_dir(data);
    cmd
}

/// The binary against an in-process server's data folder (and, on PostgreSQL, its database), so a
/// command changes what that server sees.
pub(crate) fn nugate_for(app: &crate::helpers::TestApp) -> Command {
    let data = app.data_dir();
    if let Some(url) = &app.state.config.database_url {
        std::fs::write(
            data.join("nugate.toml"),
            format!("database_url = \"{url}\"\n"),
        )
        .unwrap();
    }
    nugate(&data)
}

/// Runs a command to its end with `stdin`: (success, stdout, stderr).
pub(crate) fn run(mut cmd: Command, stdin: &str) -> (bool, String, String) {
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
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Creates alice and a key through the CLI; returns the key.
pub fn cli_user_and_key(data: &Path, scopes: &[&str], subjects: &[&str]) -> String {
    let mut create = nugate(data);
    create.args([
        "user",
        "create",
        "alice",
        "--email",
        "alice@example.com",
        "--password-stdin",
    ]);
    let (ok, _, err) = run(create, "correct horse battery\n");
    assert!(ok || err.contains("already in use"), "{err}");
    let mut key = nugate(data);
    key.args([
        "key",
        "create",
        "--user",
        "alice",
        "--name",
        &format!("key-{}", rand_suffix()),
    ]);
    for s in scopes {
        key.args(["--scope", s]);
    }
    for s in subjects {
        key.args([
            if s.contains('*') {
                "--glob"
            } else {
                "--package"
            },
            s,
        ]);
    }
    let (ok, out, err) = run(key, "");
    assert!(ok, "{err}");
    out.trim().to_string()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A `nugate serve` child process, killed on drop.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nugate serve` on a free port and waits until it answers.
#[allow(clippy::zombie_processes)] // the child is owned by `Server`, whose `Drop` kills and reaps it
pub async fn serve(data: &Path) -> Server {
    let port = free_port();
    let mut cmd = nugate(data);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::http();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/health/live")).send().await {
            if r.status() == 200 {
                return Server { child, base };
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nugate serve did not start");
}

#[tokio::test]
async fn cli_and_server_share_data_and_serve_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh-data");
    std::fs::create_dir_all(&fresh).unwrap();
    let data = fresh.as_path();
    let key = cli_user_and_key(data, &["push", "unlist"], &["Cli.*"]);
    assert!(key.starts_with("nugate_"), "{key}");
    assert_eq!(key.len(), 62);

    let mut server = serve(data).await;
    let client = crate::helpers::http();
    let push = client
        .put(format!("{}/api/v2/package", server.base))
        .header("X-NuGet-ApiKey", &key)
        .body(simple("Cli.Lib", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(push.status(), 201);

    // A key revoked from the CLI is refused by the running server on the next request.
    let mut list = nugate(data);
    list.args(["key", "list", "--user", "alice", "--json"]);
    let (ok, out, _) = run(list, "");
    assert!(ok);
    assert!(!out.contains(&key), "key list never shows a secret");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let name = listed[0]["name"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["scopes"], serde_json::json!(["push", "unlist"]));
    assert_eq!(listed[0]["globs"], serde_json::json!(["Cli.*"]));
    assert!(listed[0]["last_used"].is_string());
    let mut revoke = nugate(data);
    revoke.args(["key", "revoke", "--user", "alice", "--name", &name]);
    assert!(run(revoke, "").0);
    // The server is another process: it sees the revocation within its cache_ttl_ms (250 ms).
    let mut status = 0;
    for attempt in 1..50 {
        let push = client
            .put(format!("{}/api/v2/package", server.base))
            .header("X-NuGet-ApiKey", &key)
            .body(simple("Cli.Lib", &format!("1.0.{attempt}")))
            .send()
            .await
            .unwrap();
        status = push.status().as_u16();
        if status == 403 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, 403, "the revoked key still pushed after 1 s");

    let mut packages = nugate(data);
    packages.args(["package", "list", "--owner", "alice"]);
    let (ok, out, _) = run(packages, "");
    assert!(ok);
    assert!(out.contains("Cli.Lib\talice"), "{out}");

    // SIGTERM: graceful exit with status 0.
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(exited.expect("server exits after SIGTERM").success());
}

#[test]
fn cli_errors_are_clear_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let mut key = nugate(dir.path());
    key.args([
        "key", "create", "--user", "ghost", "--name", "x", "--scope", "push", "--glob", "*",
    ]);
    let (ok, out, err) = run(key, "");
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.contains("no user named 'ghost'"), "{err}");
    let mut user = nugate(dir.path());
    user.args([
        "user",
        "create",
        "bob",
        "--email",
        "not-an-email",
        "--password-stdin",
    ]);
    let (ok, _, err) = run(user, "long enough password\n");
    assert!(!ok);
    assert!(err.contains("not a valid email"), "{err}");
    let _ = cli_user_and_key(dir.path(), &["push"], &["*"]);
    let mut bad_scope = nugate(dir.path());
    bad_scope.args([
        "key", "create", "--user", "alice", "--name", "y", "--scope", "delete", "--glob", "*",
    ]);
    let (ok, _, err) = run(bad_scope, "");
    assert!(!ok);
    assert!(err.contains("'delete' is not a key scope"), "{err}");
    let mut no_scope = nugate(dir.path());
    no_scope.args([
        "key", "create", "--user", "alice", "--name", "z", "--glob", "*",
    ]);
    let (ok, _, err) = run(no_scope, "");
    assert!(!ok);
    assert!(
        err.contains("At least one scope must be selected."),
        "{err}"
    );
}

#[test]
fn configuration_layers_override_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:7001\"\nmax_key_lifetime_days = 90\npublic_url = \"https://from-file.example/\"\n").unwrap();
    let flags = nugate::config::ConfigFlags::default();
    let config = nugate::config::Config::load(Some(&file), &flags).unwrap();
    assert_eq!(config.listen.port(), 7001);
    assert_eq!(config.max_key_lifetime_days, 90);
    assert_eq!(config.base_url(), "https://from-file.example");
    let flags = nugate::config::ConfigFlags {
        listen: Some("127.0.0.1:7003".parse().unwrap()),
        ..Default::default()
    };
    let config = nugate::config::Config::load(Some(&file), &flags).unwrap();
    assert_eq!(config.listen.port(), 7003, "flags beat the file");
    let defaults = nugate::config::Config::default();
    assert_eq!(defaults.listen.to_string(), "127.0.0.1:5000");
    assert_eq!(defaults.max_package_size, 250 * 1024 * 1024);
    assert_eq!(defaults.base_url(), "http://127.0.0.1:5000");
    assert!(nugate::config::Config::load(Some(&dir.path().join("missing.toml")), &flags).is_err());
    // The environment layer sits between the file and the flags: checked through the binary so this
    // test never mutates its own process environment.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nugate"));
    cmd.args([
        "--config",
        file.to_str().unwrap(),
        "key",
        "create",
        "--user",
        "u",
        "--name",
        "n",
        "--scope",
        "push",
        "--glob",
        "*",
        "--expires-in-days",
        "200",
    ])
    .env("NUGATE_DATA_DIR", dir.path())
    .env("NUGATE_MAX_KEY_LIFETIME_DAYS", "not-a-number");
    let (ok, _, err) = run(cmd, "");
    assert!(!ok);
    assert!(
        err.contains("invalid configuration"),
        "env overrides the file: {err}"
    );
}

#[tokio::test]
async fn no_secret_ever_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut keys = vec![cli_user_and_key(data, &["push", "unlist"], &["*"])];
    keys.push(cli_user_and_key(data, &["push-version"], &["Log.*"]));
    let port = free_port();
    let log = data.join("server.log");
    let mut cmd = nugate(data);
    cmd.env("NUGATE_LOG", "debug")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap();
    let mut server = Server {
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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Keys through the web page (shown once via a cookie), then every kind of keyed request.
    let browser = crate::web::Browser::at(&server.base);
    assert_eq!(
        browser
            .sign_in("alice", "correct horse battery")
            .await
            .status(),
        303
    );
    let r = browser
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "web"), ("scopes", "push"), ("globs", "*")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = browser.get("/account/apikeys").await;
    let start = html.find("value=\"nugate_").unwrap() + 7;
    keys.push(html[start..].split('"').next().unwrap().to_string());
    for (i, key) in keys.clone().iter().enumerate() {
        for (method, path) in [
            ("PUT", "/api/v2/package"),
            ("DELETE", "/api/v2/package/Log.Lib/1.0.0"),
            ("POST", "/api/v2/package/Log.Lib/1.0.0"),
        ] {
            let request = client
                .request(
                    method.parse().unwrap(),
                    format!("{}{path}?apikey={key}", server.base),
                )
                .header("X-NuGet-ApiKey", key);
            let request = if method == "PUT" {
                request.body(simple("Log.Lib", &format!("1.0.{i}")))
            } else {
                request
            };
            request.send().await.unwrap();
        }
        // A damaged key too: its text must not be logged either.
        let damaged = format!("{}x", &key[..key.len() - 1]);
        client
            .put(format!("{}/api/v2/package", server.base))
            .header("X-NuGet-ApiKey", &damaged)
            .body(simple("Log.Lib", "9.0.0"))
            .send()
            .await
            .unwrap();
        keys.push(damaged);
    }
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = server.child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("served"),
        "the log has request lines:\n{text}"
    );
    for key in &keys {
        assert!(!text.contains(key.as_str()), "a key leaked into the log");
        assert!(
            !text.contains(&key[7..]),
            "a key's secret part leaked into the log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_pushes_loses_nothing_that_was_acknowledged() {
    let iterations: usize = std::env::var("NUGATE_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = cli_user_and_key(data, &["push"], &["*"]);
    let client = crate::helpers::http();
    let mut acknowledged: Vec<(String, Vec<u8>)> = Vec::new();
    let mut attempted = 0usize;
    for round in 0..iterations {
        let server = serve(data).await;
        let mut pushers = Vec::new();
        for lane in 0..4 {
            let (client, key, base) = (client.clone(), key.clone(), server.base.clone());
            pushers.push(tokio::spawn(async move {
                let mut done = Vec::new();
                let mut tried = 0;
                for n in 0..1000 {
                    let id = format!("Kill.R{round}.L{lane}.N{n}");
                    let body = simple(&id, "1.0.0");
                    tried += 1;
                    match client
                        .put(format!("{base}/api/v2/package"))
                        .header("X-NuGet-ApiKey", &key)
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 201 => done.push((id, body)),
                        Ok(r) => panic!("unexpected {} for {id}", r.status()),
                        Err(_) => break,
                    }
                }
                (done, tried)
            }));
        }
        // Kill at a varying moment while the pushes are in flight.
        tokio::time::sleep(Duration::from_millis(30 + (round as u64 * 37) % 120)).await;
        drop(server); // SIGKILL
        for p in pushers {
            let (done, tried) = p.await.unwrap();
            acknowledged.extend(done);
            attempted += tried;
        }
    }
    let server = serve(data).await;
    for (id, body) in &acknowledged {
        let lower = id.to_lowercase();
        let got = client
            .get(format!(
                "{}/v3-flatcontainer/{lower}/1.0.0/{lower}.1.0.0.nupkg",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{id} was acknowledged but is missing");
        assert_eq!(
            got.bytes().await.unwrap().as_ref(),
            body.as_slice(),
            "{id} has other bytes"
        );
    }
    // Nothing half-visible: every version the feed lists can be downloaded.
    let search: serde_json::Value = client
        .get(format!("{}/v3/search?q=Kill&take=1000", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total = search["totalHits"].as_u64().unwrap();
    for item in search["data"].as_array().unwrap() {
        let lower = item["id"].as_str().unwrap().to_lowercase();
        let got = client
            .get(format!(
                "{}/v3-flatcontainer/{lower}/1.0.0/{lower}.1.0.0.nupkg",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.status(),
            200,
            "{lower} is listed but cannot be downloaded"
        );
    }
    assert!(total as usize >= acknowledged.len());
    eprintln!("{iterations} SIGKILLs, {attempted} pushes attempted, {} acknowledged and intact, {total} visible", acknowledged.len());
}

/// `nugate package delete ID VERSION` removes a version for good while a server runs: its row and files
/// go, the running server's feed drops it (through the change counter), the ID's other versions and
/// owners stay, the deletion is logged, and deleting it again is a clear error with a non-zero exit.
#[tokio::test]
async fn package_delete_removes_a_version_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = cli_user_and_key(data, &["push"], &["Del.*"]);
    let server = serve(data).await;
    let client = crate::helpers::http();
    for version in ["1.0.0", "2.0.0"] {
        let push = client
            .put(format!("{}/api/v2/package", server.base))
            .header("X-NuGet-ApiKey", &key)
            .body(simple("Del.Lib", version))
            .send()
            .await
            .unwrap();
        assert_eq!(push.status(), 201);
    }
    let nupkg = |version: &str| {
        format!(
            "{}/v3-flatcontainer/del.lib/{version}/del.lib.{version}.nupkg",
            server.base
        )
    };
    let versions_url = format!("{}/v3-flatcontainer/del.lib/index.json", server.base);
    assert_eq!(
        crate::helpers::get_json(&client, &versions_url).await["versions"],
        serde_json::json!(["1.0.0", "2.0.0"])
    );
    assert_eq!(
        client.get(nupkg("2.0.0")).send().await.unwrap().status(),
        200
    );
    let stored = data.join("packages").join("del.lib").join("2.0.0");
    assert!(stored.join("del.lib.2.0.0.nupkg").exists());
    assert!(stored.join("del.lib.nuspec").exists());

    // Any equivalent form of the version and any case of the ID name it.
    let mut delete = nugate(data);
    delete
        .env("NUGATE_LOG", "info")
        .args(["package", "delete", "DEL.lib", "2.0"]);
    let (ok, out, err) = run(delete, "");
    assert!(ok, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("deleted Del.Lib 2.0.0: its database row, .nupkg and .nuspec"),
        "{err}"
    );
    assert!(
        err.contains("package version deleted by an administrator"),
        "the deletion is logged: {err}"
    );
    assert!(!stored.join("del.lib.2.0.0.nupkg").exists());
    assert!(!stored.join("del.lib.nuspec").exists());

    // The running server sees the change within its cache TTL.
    let mut status = 0;
    for _ in 0..100 {
        status = client
            .get(nupkg("2.0.0"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "the deleted version is still served");
    assert_eq!(
        crate::helpers::get_json(&client, &versions_url).await["versions"],
        serde_json::json!(["1.0.0"])
    );
    let registration: serde_json::Value = crate::helpers::get_json(
        &client,
        &format!("{}/v3/registration/del.lib/index.json", server.base),
    )
    .await;
    assert!(
        !registration.to_string().contains("2.0.0"),
        "{registration}"
    );
    assert_eq!(
        client.get(nupkg("1.0.0")).send().await.unwrap().status(),
        200
    );

    // Again, or an unknown ID: a clear error and a non-zero exit.
    let mut again = nugate(data);
    again.args(["package", "delete", "Del.Lib", "2.0.0"]);
    let (ok, _, err) = run(again, "");
    assert!(!ok, "a second delete must fail");
    assert!(
        err.contains("A package with ID 'Del.Lib' and version '2.0.0' does not exist."),
        "{err}"
    );
    let mut unknown = nugate(data);
    unknown.args(["package", "delete", "No.Such.Package", "1.0.0"]);
    let (ok, _, err) = run(unknown, "");
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");

    // The ID's last version: the ID and its owners stay.
    let mut last = nugate(data);
    last.args(["package", "delete", "Del.Lib", "1.0.0"]);
    let (ok, _, err) = run(last, "");
    assert!(ok, "{err}");
    assert!(
        err.contains("no versions of 'Del.Lib' remain; the ID and its owners are kept"),
        "{err}"
    );
    let mut owners = nugate(data);
    owners.args(["package", "list"]);
    let (ok, out, _) = run(owners, "");
    assert!(ok);
    assert!(out.contains("Del.Lib\talice"), "{out}");
    // The running server drops the ID's last version too.
    let mut status = 0;
    for _ in 0..100 {
        status = client
            .get(nupkg("1.0.0"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "the deleted last version is still served");
    let versions = client.get(&versions_url).send().await.unwrap();
    assert_eq!(versions.status(), 404);
}

/// A version stored before the 32-bit rule (which the version parser now refuses) can still be named
/// and deleted: `nugate package delete` finds it by its stored form.
#[tokio::test]
async fn package_delete_removes_a_version_the_parser_now_refuses() {
    use nugate::db::packages::{self as rows, NewPackageVersion};
    let app = crate::helpers::TestApp::start().await;
    if let Some(url) = &app.state.config.database_url {
        // PostgreSQL runs: the command must use the server's database.
        std::fs::write(
            app.data_dir().join("nugate.toml"),
            format!("database_url = \"{url}\"\n"),
        )
        .unwrap();
    }
    let user = app.user("legacy").await;
    let key = app
        .key(
            &user,
            "push",
            &[nugate::model::key::KeyAction::Push],
            &["*"],
        )
        .await;
    assert_eq!(
        app.push(&key, simple("Legacy.Lib", "1.0.0")).await.status(),
        201
    );
    // What an old release accepted: a row and files for 2147483648.0.0.
    let mut tx = app.state.db.begin_write().await.unwrap();
    let (registration, _) = rows::ensure_registration(&mut tx, "Legacy.Lib", 0, None)
        .await
        .unwrap();
    rows::insert_version(
        &mut tx,
        &NewPackageVersion {
            registration_id: registration.id,
            version: "2147483648.0.0",
            full_version: "2147483648.0.0",
            is_prerelease: false,
            is_semver2: false,
            title: None,
            description: "d",
            summary: None,
            authors: "a",
            tags: "",
            package_types: "",
            metadata_json: "{}",
            package_hash: "x",
            package_size: 1,
            published_at: 0,
            pushed_by: Some(user.id),
            listed: true,
            dependency_ids: "  ",
        },
    )
    .await
    .unwrap();
    rows::mark_changed(&mut tx, registration.id).await.unwrap();
    tx.commit().await.unwrap();
    let stored = app
        .data_dir()
        .join("packages")
        .join("legacy.lib")
        .join("2147483648.0.0");
    std::fs::create_dir_all(&stored).unwrap();
    std::fs::write(stored.join("legacy.lib.2147483648.0.0.nupkg"), b"PK").unwrap();
    std::fs::write(stored.join("legacy.lib.nuspec"), b"<package/>").unwrap();
    let versions = app.json("/v3-flatcontainer/legacy.lib/index.json").await;
    assert_eq!(
        versions["versions"],
        serde_json::json!(["2147483648.0.0", "1.0.0"]),
        "the unreadable version sorts first in the feed"
    );

    let data = app.data_dir();
    let mut delete = nugate(&data);
    delete.args(["package", "delete", "legacy.lib", "2147483648.0.0"]);
    let (ok, _, err) = run(delete, "");
    assert!(ok, "{err}");
    assert!(
        err.contains("deleted Legacy.Lib 2147483648.0.0: its database row, .nupkg and .nuspec"),
        "{err}"
    );
    assert!(!stored.join("legacy.lib.2147483648.0.0.nupkg").exists());
    assert!(!stored.join("legacy.lib.nuspec").exists());
    let mut versions = serde_json::Value::Null;
    for _ in 0..100 {
        versions = app.json("/v3-flatcontainer/legacy.lib/index.json").await;
        if versions["versions"] == serde_json::json!(["1.0.0"]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(versions["versions"], serde_json::json!(["1.0.0"]));
}

/// The organisation and prefix commands against a running server: `org create`, `add-member`, `list
/// --json`, `keys --json` and `remove-member` (never the last administrator), `key create --owner`
/// (members only), `prefix reserve`/`list --json`/`release`, and `package add-owner ID ORG`; each refusal
/// is a clear message and a non-zero exit, and each change is what the server then enforces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisation_and_prefix_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let alice_key = cli_user_and_key(data, &["push"], &["*"]);
    let cli = |args: &[&str]| {
        let mut cmd = nugate(data);
        cmd.args(args);
        run(cmd, "")
    };
    let ok = |args: &[&str]| {
        let (ok, out, err) = cli(args);
        assert!(ok, "nugate {}: {err}", args.join(" "));
        (out, err)
    };
    let refused = |args: &[&str], message: &str| {
        let (ok, out, err) = cli(args);
        assert!(!ok, "nugate {} must fail", args.join(" "));
        assert!(out.is_empty(), "nugate {}: {out}", args.join(" "));
        assert!(err.contains(message), "nugate {}: {err}", args.join(" "));
    };
    for user in ["bob", "carol"] {
        let mut create = nugate(data);
        create.args([
            "user",
            "create",
            user,
            "--email",
            &format!("{user}@example.com"),
            "--password-stdin",
        ]);
        let (created, _, err) = run(create, "correct horse battery\n");
        assert!(created, "{err}");
    }

    // Organisations share the users' namespace; roles are admin or collaborator.
    let (_, err) = ok(&[
        "org",
        "create",
        "Acme",
        "--admin",
        "alice",
        "--email",
        "team@acme.example",
    ]);
    assert!(
        err.contains("created organisation 'Acme' with administrator 'alice'"),
        "{err}"
    );
    refused(
        &["org", "create", "acme", "--admin", "bob"],
        "The name 'acme' is already taken by a user or an organisation.",
    );
    refused(
        &["org", "create", "bob", "--admin", "carol"],
        "The name 'bob' is already taken by a user or an organisation.",
    );
    refused(
        &["org", "create", "Ghosts", "--admin", "ghost"],
        "no user named 'ghost'",
    );
    ok(&["org", "add-member", "Acme", "bob", "--role", "collaborator"]);
    refused(
        &["org", "add-member", "Acme", "carol", "--role", "owner"],
        "'owner' is not a role; use admin or collaborator",
    );
    refused(
        &["org", "add-member", "Acme", "Acme", "--role", "admin"],
        "'Acme' is an organisation; only users can be members.",
    );
    let (out, _) = ok(&["org", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        listed,
        serde_json::json!([{
            "name": "Acme",
            "members": [
                { "user": "alice", "role": "admin" },
                { "user": "bob", "role": "collaborator" },
            ],
        }])
    );

    // Keys act for an organisation only when made by one of its members.
    let (bob_key, _) = ok(&[
        "key", "create", "--user", "bob", "--owner", "Acme", "--name", "acme-ci", "--scope",
        "push", "--glob", "*",
    ]);
    let bob_key = bob_key.trim().to_string();
    assert!(bob_key.starts_with("nugate_"), "{bob_key}");
    refused(
        &[
            "key", "create", "--user", "carol", "--owner", "Acme", "--name", "x", "--scope",
            "push", "--glob", "*",
        ],
        "You are not a member of an organisation named 'Acme'.",
    );
    refused(
        &[
            "key", "create", "--user", "carol", "--owner", "bob", "--name", "x", "--scope", "push",
            "--glob", "*",
        ],
        "You are not a member of an organisation named 'bob'.",
    );
    // An organisation never holds keys itself: its members make keys that act for it.
    refused(
        &[
            "key", "create", "--user", "Acme", "--name", "x", "--scope", "push", "--glob", "*",
        ],
        "'Acme' is an organisation",
    );
    let (out, _) = ok(&["org", "keys", "Acme", "--json"]);
    assert!(!out.contains(&bob_key), "org keys never shows a secret");
    let keys: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["name"], "acme-ci");
    assert_eq!(keys[0]["created_by"], "bob");
    assert_eq!(keys[0]["scopes"], serde_json::json!(["push"]));
    assert_eq!(keys[0]["globs"], serde_json::json!(["*"]));
    assert!(keys[0]["expires"].is_string(), "{keys}");
    let (out, _) = ok(&["key", "list", "--user", "bob", "--json"]);
    let bobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bobs[0]["owner"], "Acme", "{bobs}");
    refused(
        &["org", "keys", "Nobody"],
        "There is no organisation named 'Nobody'.",
    );

    // Prefixes: reserved for one account, any case, never everything.
    let (_, err) = ok(&["prefix", "reserve", "Acme.*", "--owner", "Acme"]);
    assert!(err.contains("reserved 'Acme.*' for 'Acme'"), "{err}");
    refused(
        &["prefix", "reserve", "acme.*", "--owner", "bob"],
        "'acme.*' is reserved already.",
    );
    refused(
        &["prefix", "reserve", "*", "--owner", "Acme"],
        "would reserve every ID",
    );
    refused(
        &["prefix", "reserve", "Ghost.*", "--owner", "ghost"],
        "There is no user or organisation named 'ghost'.",
    );
    let (out, _) = ok(&["prefix", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([{ "pattern": "Acme.*", "owner": "Acme" }])
    );

    // What the server then enforces.
    let server = serve(data).await;
    let client = crate::helpers::http();
    let push = |key: &str, id: &str, version: &str| {
        client
            .put(format!("{}/api/v2/package", server.base))
            .header("X-NuGet-ApiKey", key)
            .body(simple(id, version))
            .send()
    };
    assert_eq!(
        push(&bob_key, "Acme.Lib", "1.0.0").await.unwrap().status(),
        201
    );
    // alice administers Acme, but her own key acts for her: the prefix is the organisation's.
    let r = push(&alice_key, "Acme.Mine", "1.0.0").await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.text().await.unwrap(), nugate::packages::RESERVED_MESSAGE);
    assert_eq!(
        push(&alice_key, "Alice.Lib", "1.0.0")
            .await
            .unwrap()
            .status(),
        201
    );
    // bob's organisation key may not touch alice's own package until the organisation co-owns it.
    assert_eq!(
        push(&bob_key, "Alice.Lib", "2.0.0").await.unwrap().status(),
        403
    );
    let (_, err) = ok(&["package", "add-owner", "Alice.Lib", "Acme"]);
    assert!(err.contains("'Acme' now owns 'Alice.Lib'"), "{err}");
    assert_eq!(
        push(&bob_key, "Alice.Lib", "2.0.0").await.unwrap().status(),
        201
    );
    let (out, _) = ok(&["package", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([
            { "id": "Acme.Lib", "owners": ["Acme"] },
            { "id": "Alice.Lib", "owners": ["Acme", "alice"] },
        ])
    );

    // The last administrator stays; a removed member's organisation key stops (within the server's
    // cache_ttl_ms: the command is another process).
    refused(
        &["org", "remove-member", "Acme", "alice"],
        "'Acme' must keep at least one administrator: make another member administrator first.",
    );
    let (_, err) = ok(&["org", "remove-member", "Acme", "bob"]);
    assert!(
        err.contains("'bob' is no longer a member of 'Acme'"),
        "{err}"
    );
    let mut refusal = None;
    for attempt in 0..50 {
        let version = format!("2.0.{attempt}");
        let r = push(&bob_key, "Acme.Lib", &version).await.unwrap();
        if r.status() == 403 {
            refusal = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        refusal.as_deref(),
        Some(nugate::error::INVALID_KEY_MESSAGE),
        "the removed member's key still pushed after 1 s"
    );
    refused(
        &["org", "remove-member", "Acme", "bob"],
        "'bob' is not a member of 'Acme'.",
    );
    let (out, _) = ok(&["org", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["members"],
        serde_json::json!([{ "user": "alice", "role": "admin" }])
    );

    // Released, the prefix is open to anyone's new IDs again.
    let (_, err) = ok(&["prefix", "release", "Acme.*"]);
    assert!(err.contains("released 'Acme.*'"), "{err}");
    let (out, _) = ok(&["prefix", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
    refused(
        &["prefix", "release", "Acme.*"],
        "'Acme.*' is not reserved.",
    );
    assert_eq!(
        push(&alice_key, "Acme.Mine", "1.0.0")
            .await
            .unwrap()
            .status(),
        201
    );
}

/// `nugate key revoke-leaked` revokes the live keys among the lines it reads and emails their users;
/// a key that is not ours, one already revoked and a line of junk are passed over without a word.
#[tokio::test]
async fn revoke_leaked_revokes_live_keys_from_stdin_and_tells_their_users() {
    let app = crate::helpers::TestApp::start().await;
    let keys = crate::helpers::LeakFixture::new(&app).await;
    let (leaked, old, foreign) = (&keys.leaked, &keys.old, &keys.foreign);
    let stdin = format!("{leaked}\n  \n{old}\n{foreign}\nnot a key at all\n");
    let mut cmd = nugate_for(&app);
    cmd.args(["key", "revoke-leaked"]);
    let (ok, stdout, stderr) = run(cmd, &stdin);
    assert!(ok, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("revoked 'ci' of alice"), "{stderr}");
    assert!(stderr.contains("1 key(s) revoked"), "{stderr}");
    assert!(
        !stderr.contains("old") && !stderr.contains(&foreign[..12]),
        "{stderr}"
    );
    keys.assert_only_the_leaked_key_died(&app).await;
}
