//! Moving between backends: `nugate storage migrate` (folder ⇄ S3, resumable and verified) and
//! `nugate db copy` (SQLite ⇄ PostgreSQL, after which a server on the copy behaves exactly like the original).
//!
//! The S3 and PostgreSQL halves need `NUGATE_TEST_S3_ENDPOINT` and `NUGATE_TEST_POSTGRES_URL`
//! (`scripts/services.sh start`); without them the tests fall back to folders and SQLite and say so loudly,
//! except under CI, where a missing service is a failure.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use nugate::app::{self, AppState};
use nugate::auth::keys::KeyScope;
use nugate::config::Config;
use nugate::db::copy::copy_database;
use nugate::db::Db;
use nugate::model::key::KeyAction::{Push, Unlist};
use nugate::storage::migrate::{migrate_storage, plan_storage_migration, MigrateReport};
use nugate::storage::PackageStorage;
use nugate::users::UserService;
use object_store::ObjectStoreExt;
use sqlx::Row;

use crate::helpers::{simple, TestApp};

/// Reads a service's address from the environment: missing is fatal under CI, a loud skip elsewhere.
fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: CI must run the {what} half of the migration tests")
        }
        _ => {
            eprintln!(
                "\n*** NOT RUN: {var} is unset, so the {what} half of this test was skipped \
                 (start the services with scripts/services.sh) ***\n"
            );
            None
        }
    }
}

/// A fresh, empty S3 bucket on the test server, as a storage plus its URL.
async fn fresh_bucket(endpoint: &str) -> (PackageStorage, String) {
    let bucket = format!(
        "mig-{}",
        &nugate::tokens::random_token()[..16].to_ascii_lowercase()
    );
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", endpoint.trim_end_matches('/')))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "create bucket: {created:?}");
    let url = format!("s3://{bucket}/feed");
    let options = [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    (
        PackageStorage::from_url_with_options(&url, options).unwrap(),
        url,
    )
}

/// Every file's bytes, by path.
async fn contents(storage: &PackageStorage) -> BTreeMap<String, Vec<u8>> {
    let store = storage.store();
    let mut files = BTreeMap::new();
    for (name, size) in storage.list_files().await.unwrap() {
        let path = object_store::path::Path::parse(&name).unwrap();
        let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, size, "{name}");
        files.insert(name, bytes.to_vec());
    }
    files
}

async fn overwrite(storage: &PackageStorage, name: &str, bytes: Vec<u8>) {
    let path = object_store::path::Path::parse(name).unwrap();
    storage.store().put(&path, bytes.into()).await.unwrap();
}

/// A TestApp with three packages in its folder storage, and that folder as a storage.
async fn app_with_packages() -> (TestApp, PackageStorage) {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    for (id, version) in [
        ("Mig.One", "1.0.0"),
        ("Mig.Two", "2.0.0"),
        ("Mig.Three", "3.0.0-beta"),
    ] {
        assert_eq!(app.push(&key, simple(id, version)).await.status(), 201);
    }
    let folder = app.data_dir().join("packages").display().to_string();
    let storage = PackageStorage::from_url(&folder).unwrap();
    (app, storage)
}

#[tokio::test]
async fn storage_migrate_copies_resumes_repairs_and_comes_back() {
    let (_app, folder) = app_with_packages().await;
    let original = contents(&folder).await;
    assert_eq!(original.len(), 6, "{:?}", original.keys());
    let total: u64 = original.values().map(|b| b.len() as u64).sum();

    let scratch = tempfile::tempdir().unwrap();
    let destination = match service("NUGATE_TEST_S3_ENDPOINT", "S3") {
        Some(endpoint) => fresh_bucket(&endpoint).await.0,
        None => PackageStorage::local(&scratch.path().join("dest")).unwrap(),
    };

    let dry = plan_storage_migration(&folder, &destination).await.unwrap();
    assert_eq!(dry.len(), 6);
    assert!(dry.iter().all(|p| p.reason == "missing"), "{dry:?}");
    assert!(contents(&destination).await.is_empty(), "a dry run wrote");

    let first = migrate_storage(&folder, &destination).await.unwrap();
    assert_eq!(
        first,
        MigrateReport {
            copied: 6,
            skipped: 0,
            bytes: total
        }
    );
    assert_eq!(contents(&destination).await, original);

    let again = migrate_storage(&folder, &destination).await.unwrap();
    assert_eq!(
        again,
        MigrateReport {
            copied: 0,
            skipped: 6,
            bytes: 0
        }
    );
    assert!(plan_storage_migration(&folder, &destination)
        .await
        .unwrap()
        .is_empty());

    // An interrupted or damaged copy: same size but other bytes, a truncated file, a missing file.
    let names: Vec<&String> = original.keys().collect();
    let nupkg = names.iter().find(|n| n.ends_with(".nupkg")).unwrap();
    let nuspec = names.iter().find(|n| n.ends_with(".nuspec")).unwrap();
    let mut flipped = original[*nupkg].clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    overwrite(&destination, nupkg, flipped).await;
    overwrite(&destination, nuspec, b"<trunc".to_vec()).await;
    let gone = names
        .iter()
        .find(|n| **n != *nupkg && **n != *nuspec)
        .unwrap();
    destination
        .store()
        .delete(&object_store::path::Path::parse(gone.as_str()).unwrap())
        .await
        .unwrap();

    let mut plan: Vec<(String, &str)> = plan_storage_migration(&folder, &destination)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.path, p.reason))
        .collect();
    plan.sort();
    let mut expected = vec![
        (nupkg.to_string(), "different"),
        (nuspec.to_string(), "different"),
        (gone.to_string(), "missing"),
    ];
    expected.sort();
    assert_eq!(plan, expected);

    let repaired = migrate_storage(&folder, &destination).await.unwrap();
    assert_eq!((repaired.copied, repaired.skipped), (3, 3));
    assert_eq!(contents(&destination).await, original);

    // And back: the bucket into a fresh folder.
    let back_dir = tempfile::tempdir().unwrap();
    let back = PackageStorage::local(back_dir.path()).unwrap();
    let returned = migrate_storage(&destination, &back).await.unwrap();
    assert_eq!((returned.copied, returned.bytes), (6, total));
    assert_eq!(contents(&back).await, original);
}

/// Runs the real binary in an empty folder (so no stray nugate.toml is read).
fn nugate(cwd: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nugate"))
        .args(args)
        .current_dir(cwd)
        .env("NUGATE_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test]
async fn storage_migrate_and_db_copy_commands() {
    let (app, _) = app_with_packages().await;
    let work = tempfile::tempdir().unwrap();
    let from = app.data_dir().join("packages").display().to_string();
    let to = work.path().join("copy").display().to_string();
    let migrate = ["storage", "migrate", "--from", &from, "--to", &to];

    let mut dry_run = migrate.to_vec();
    dry_run.push("--dry-run");
    let (ok, out, err) = nugate(work.path(), &dry_run);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("would copy ")).count(),
        6
    );
    assert!(out.contains("dry run: would copy 6 files"), "{out}");
    assert!(!Path::new(&to).join("mig.one").exists());

    let (ok, out, err) = nugate(work.path(), &migrate);
    assert!(ok, "{err}");
    assert!(out.starts_with("copied 6 files ("), "{out}");
    assert!(out.contains("skipped 0 already present"), "{out}");
    let (ok, out, _) = nugate(work.path(), &migrate);
    assert!(ok);
    assert!(
        out.starts_with("copied 0 files (0 bytes), skipped 6"),
        "{out}"
    );

    let source = app.state.config.database_url();
    let target = format!(
        "sqlite://{}?mode=rwc",
        work.path().join("copy.db").display()
    );
    let copy = ["db", "copy", "--from", &source, "--to", &target];
    let (ok, out, err) = nugate(work.path(), &copy);
    assert!(ok, "{err}");
    assert!(out.contains("users: 1 row\n"), "{out}");
    assert!(out.contains("packages: 3 rows\n"), "{out}");
    assert!(
        out.contains("sessions, signin_failures, throttle_counters, leases"),
        "{out}"
    );
    let (ok, _, err) = nugate(work.path(), &copy);
    assert!(!ok);
    assert!(err.contains("destination database is not empty"), "{err}");
}

/// A fresh PostgreSQL database from the admin URL, or (outside CI, loudly) a fresh SQLite file.
async fn fresh_destination(dir: &Path, name: &str) -> String {
    let Some(admin) = service("NUGATE_TEST_POSTGRES_URL", "PostgreSQL") else {
        return format!("sqlite://{}?mode=rwc", dir.join(name).display());
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let db = format!("mig_{}", &nugate::tokens::random_token()[..20]);
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    format!("{base}/{db}")
}

/// Every row of every durable table, as text, in a stable order: equal dumps mean an exact copy.
async fn dump(db: &Db) -> BTreeMap<&'static str, Vec<Vec<String>>> {
    let mut tables = BTreeMap::new();
    for table in [
        "users",
        "package_registrations",
        "package_owners",
        "packages",
        "api_keys",
        "email_tokens",
        "owner_invitations",
        "outbox",
        "key_expiry_notices",
        "admin_bootstrap",
    ] {
        let sql = format!("SELECT * FROM {table} ORDER BY 1, 2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(db.pool())
            .await
            .unwrap();
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match row.try_get::<Option<i64>, _>(i) {
                        Ok(v) => format!("{v:?}"),
                        Err(_) => format!("{:?}", row.try_get::<Option<String>, _>(i).unwrap()),
                    })
                    .collect()
            })
            .collect();
        tables.insert(table, rows);
    }
    tables
}

async fn max_id(db: &Db, table: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT MAX(id) FROM {table}")))
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

/// A second server on `database_url`, sharing the first one's data folder (so its package files).
struct Moved {
    base: String,
    state: AppState,
    client: reqwest::Client,
}

impl Moved {
    async fn start(original: &TestApp, database_url: &str) -> Moved {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config {
            listen: addr,
            data_dir: original.data_dir(),
            database_url: Some(database_url.to_string()),
            ..Config::default()
        };
        let state = AppState::open(config).await.unwrap();
        let serving = state.clone();
        tokio::spawn(async move { app::serve(serving, listener).await });
        Moved {
            base: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
        }
    }

    async fn push(&self, key: &str, id: &str, version: &str) -> u16 {
        self.client
            .put(format!("{}/api/v2/package/", self.base))
            .header("X-NuGet-ApiKey", key)
            .body(simple(id, version))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn db_copy_moves_a_live_install_and_the_copy_serves() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_key = app.key(&alice, "ci", &[Push, Unlist], &["*"]).await;
    let bob_key = app.key(&bob, "ci", &[Push], &["*"]).await;
    for version in ["1.0.0", "2.0.0"] {
        let pushed = app.push(&alice_key, simple("Owned.Pkg", version)).await;
        assert_eq!(pushed.status(), 201);
    }
    assert_eq!(
        app.set_listed(&alice_key, "Owned.Pkg", "1.0.0", false)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.push(&bob_key, simple("Bobs.Pkg", "1.0.0"))
            .await
            .status(),
        201
    );
    assert!(app
        .state
        .packages
        .add_owner("Bobs.Pkg", "alice")
        .await
        .unwrap());

    // Timestamps far from "now", so a copy that re-stamped rows could not pass by luck.
    let source_url = app.state.config.database_url();
    let source = Db::open(&source_url).await.unwrap();
    for sql in [
        "UPDATE users SET created_at = created_at - 86400000",
        "UPDATE package_registrations SET created_at = created_at - 86400001",
        "UPDATE packages SET published_at = published_at - 86400002",
        "UPDATE api_keys SET last_used_at = 1234567890",
    ] {
        sqlx::query(sql).execute(source.pool()).await.unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let copy_url = fresh_destination(dir.path(), "copy.db").await;
    let copy = Db::open(&copy_url).await.unwrap();
    let report = copy_database(&source, &copy).await.unwrap();
    assert_eq!(report.rows("users"), 2);
    assert_eq!(report.rows("package_registrations"), 2);
    assert_eq!(report.rows("package_owners"), 3);
    assert_eq!(report.rows("packages"), 3);
    assert_eq!(report.rows("api_keys"), 2);
    assert_eq!(
        report.skipped,
        [
            "sessions",
            "signin_failures",
            "throttle_counters",
            "leases",
            "feed_changes"
        ]
    );
    let before = dump(&source).await;
    assert_eq!(dump(&copy).await, before, "ids, hashes and times are kept");

    // Refused a second time: the destination is no longer empty.
    let refused = copy_database(&source, &copy).await.unwrap_err().to_string();
    assert!(
        refused.contains("destination database is not empty"),
        "{refused}"
    );
    assert_eq!(dump(&copy).await, before, "a refused copy changed nothing");

    let old_max_user = max_id(&source, "users").await;
    let old_max_key = max_id(&source, "api_keys").await;
    let old_max_package = max_id(&source, "packages").await;
    let old_max_registration = max_id(&source, "package_registrations").await;

    let moved = Moved::start(&app, &copy_url).await;
    // The old key still works (its hash came across), and ownership came with it.
    assert_eq!(moved.push(&alice_key, "Owned.Pkg", "3.0.0").await, 201);
    assert_eq!(
        moved.push(&alice_key, "Bobs.Pkg", "2.0.0").await,
        201,
        "a co-owner may push"
    );
    assert_eq!(
        moved.push(&bob_key, "Owned.Pkg", "4.0.0").await,
        403,
        "bob does not own Owned.Pkg"
    );
    let registration = moved.get("/v3/registration/owned.pkg/index.json").await;
    assert_eq!(registration.status(), 200);
    let registration: serde_json::Value = registration.json().await.unwrap();
    let listed: BTreeMap<String, bool> = registration["items"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leaf| {
            let entry = &leaf["catalogEntry"];
            (
                entry["version"].as_str().unwrap().to_string(),
                entry["listed"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([
            ("1.0.0".to_string(), false),
            ("2.0.0".to_string(), true),
            ("3.0.0".to_string(), true),
        ])
    );
    // The old package files are served from the shared folder.
    let download = moved
        .get("/v3-flatcontainer/owned.pkg/1.0.0/owned.pkg.1.0.0.nupkg")
        .await;
    assert_eq!(download.status(), 200);

    // New rows get fresh ids: sequences were moved past the copied ones.
    let carol = moved
        .state
        .users
        .create(
            "carol",
            "carol@example.com",
            "correct horse battery",
            false,
            true,
        )
        .await
        .unwrap();
    assert!(carol.id > old_max_user, "{} <= {old_max_user}", carol.id);
    let scope = KeyScope {
        owner: None,
        actions: vec![Push],
        packages: Vec::new(),
        globs: vec!["*".to_string()],
    };
    let (_, carol_key) = moved
        .state
        .keys
        .create(&carol, "ci", &scope, None)
        .await
        .unwrap();
    assert_eq!(moved.push(&carol_key, "Carol.Pkg", "1.0.0").await, 201);
    assert!(max_id(&copy, "api_keys").await > old_max_key);
    assert!(max_id(&copy, "packages").await > old_max_package + 1);
    assert!(max_id(&copy, "package_registrations").await > old_max_registration);

    // And back again (PostgreSQL to SQLite when the services run): still exact, still collision-free.
    let back_url = format!("sqlite://{}?mode=rwc", dir.path().join("back.db").display());
    let back = Db::open(&back_url).await.unwrap();
    copy_database(&copy, &back).await.unwrap();
    assert_eq!(dump(&back).await, dump(&copy).await);
    let dave = UserService::new(
        back.clone(),
        nugate::mail::MailContext::from_config(&Default::default()),
        nugate::auth::throttle::Throttle::new(back.clone()),
        std::sync::Arc::new(nugate::auth::key_cache::KeyCache::new(
            std::time::Duration::ZERO,
        )),
        nugate::audit::AuditLog::new(back.clone(), 365),
    )
    .create(
        "dave",
        "dave@example.com",
        "correct horse battery",
        false,
        true,
    )
    .await
    .unwrap();
    assert!(dave.id > carol.id);
}
