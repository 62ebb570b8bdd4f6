//! Test helpers: spin up the app on a random port with its own data folder, make users, keys and packages.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use nugate::app::{self, AppState};
use nugate::auth::keys::KeyScope;
use nugate::config::Config;
use nugate::db::users::User;
use nugate::model::key::KeyAction;

/// The admin URL of the PostgreSQL server when the suite runs on PostgreSQL (`NUGATE_TEST_DB=postgres`).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("NUGATE_TEST_DB").as_deref() {
        Ok("postgres") => Some(std::env::var("NUGATE_TEST_POSTGRES_URL").expect(
            "NUGATE_TEST_DB=postgres needs NUGATE_TEST_POSTGRES_URL (scripts/services.sh start)",
        )),
        _ => None,
    }
}

/// A fresh, empty database for one test on PostgreSQL; `None` means the default SQLite file.
pub async fn fresh_database_url() -> Option<String> {
    use sqlx::Connection;
    let admin = postgres_admin_url()?;
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", &nugate::tokens::random_token()[..20]);
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    Some(format!("{base}/{name}"))
}

/// Drops a database made by [`fresh_database_url`], closing whatever still uses it. A full run makes
/// about two hundred of them (8 MB each, plus their WAL), and a CI machine's disk is not large: a
/// PostgreSQL out of space crashes into recovery and fails every test after it.
fn drop_database_blocking(url: String) {
    let (Some(admin), Some((_, name))) = (postgres_admin_url(), url.rsplit_once('/')) else {
        return;
    };
    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let dropped = std::thread::spawn(move || -> Result<(), String> {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime
            .block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::AnyConnection::connect(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut conn)
                    .await
                    .map(drop)
            })
            .map_err(|e| e.to_string())
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("could not drop the test database {url}: {dropped:?}");
    }
}

/// The blocking flavour of [`fresh_database_url`], for synchronous tests.
pub fn fresh_database_url_blocking() -> Option<String> {
    std::thread::spawn(|| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(fresh_database_url())
    })
    .join()
    .unwrap()
}

/// A running server and what it runs on.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub data: tempfile::TempDir,
    /// The PostgreSQL database made for this server, dropped with it.
    pub fresh_database: Option<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(url) = self.fresh_database.take() {
            drop_database_blocking(url);
        }
    }
}

impl TestApp {
    /// Starts a server with default settings.
    pub async fn start() -> TestApp {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `tweak` adjusts the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::start_with_storage(tweak, None).await
    }

    /// Starts a server on a given package storage (S3 in the storage tests).
    pub async fn start_with_storage(
        tweak: impl FnOnce(&mut Config),
        storage: Option<nugate::storage::PackageStorage>,
    ) -> TestApp {
        let data = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fresh_database = fresh_database_url().await;
        let mut config = Config {
            listen: addr,
            data_dir: data.path().to_path_buf(),
            database_url: fresh_database.clone(),
            ..Config::default()
        };
        tweak(&mut config);
        let state = AppState::open_with_storage(config, storage).await.unwrap();
        let serving = state.clone();
        tokio::spawn(async move { app::serve(serving, listener).await });
        TestApp {
            base: format!("http://{addr}"),
            addr,
            state,
            client: http(),
            data,
            fresh_database,
        }
    }

    /// Waits out this server's memory of checked keys (`cache_ttl_ms`), as a change made straight in
    /// the database, like one made by another node, is promised to show within that time.
    pub async fn after_direct_key_change(&self) {
        let ttl = self.state.config.cache_ttl_ms;
        tokio::time::sleep(std::time::Duration::from_millis(ttl + 50)).await;
    }

    /// Absolute URL for a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a confirmed user with password "correct horse battery".
    pub async fn user(&self, name: &str) -> User {
        self.state
            .users
            .create(
                name,
                &format!("{name}@example.com"),
                "correct horse battery",
                false,
                true,
            )
            .await
            .unwrap()
    }

    /// Creates a key and returns its plaintext.
    pub async fn key(
        &self,
        user: &User,
        name: &str,
        actions: &[KeyAction],
        subjects: &[&str],
    ) -> String {
        self.key_with_days(user, name, actions, subjects, None)
            .await
    }

    /// Creates a key with an explicit lifetime.
    pub async fn key_with_days(
        &self,
        user: &User,
        name: &str,
        actions: &[KeyAction],
        subjects: &[&str],
        days: Option<u32>,
    ) -> String {
        let (globs, packages): (Vec<String>, Vec<String>) = subjects
            .iter()
            .map(|s| s.to_string())
            .partition(|s| s.contains('*'));
        let scope = KeyScope {
            owner: None,
            actions: actions.to_vec(),
            packages,
            globs,
        };
        self.state
            .keys
            .create(user, name, &scope, days)
            .await
            .unwrap()
            .1
    }

    /// Creates a key acting for the organisation `owner` (its user must be a member) and returns its
    /// plaintext.
    pub async fn org_key(
        &self,
        user: &User,
        owner: &str,
        name: &str,
        actions: &[KeyAction],
        subjects: &[&str],
    ) -> String {
        let (globs, packages): (Vec<String>, Vec<String>) = subjects
            .iter()
            .map(|s| s.to_string())
            .partition(|s| s.contains('*'));
        let scope = KeyScope {
            owner: Some(owner.to_string()),
            actions: actions.to_vec(),
            packages,
            globs,
        };
        self.state
            .keys
            .create(user, name, &scope, None)
            .await
            .unwrap()
            .1
    }

    /// Pushes a package as a raw body.
    pub async fn push(&self, key: &str, package: Vec<u8>) -> reqwest::Response {
        self.client
            .put(self.url("/api/v2/package/"))
            .header("X-NuGet-ApiKey", key)
            .body(package)
            .send()
            .await
            .unwrap()
    }

    /// Pushes a package the way nuget.exe 5.8 does: multipart with a quoted boundary.
    pub async fn push_multipart(&self, key: &str, package: &[u8]) -> reqwest::Response {
        let boundary = "7d1f6a2e-0b7c-4a59-9a3c-2f1f0f3e9b11";
        let mut body = Vec::new();
        write!(
            body,
            "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=package; filename=package.nupkg\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(package);
        write!(body, "\r\n--{boundary}--\r\n").unwrap();
        self.client
            .put(self.url("/api/v2/package"))
            .header("X-NuGet-ApiKey", key)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary=\"{boundary}\""),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends DELETE (unlist) or POST (relist) for a version.
    pub async fn set_listed(
        &self,
        key: &str,
        id: &str,
        version: &str,
        listed: bool,
    ) -> reqwest::Response {
        let url = self.url(&format!("/api/v2/package/{id}/{version}"));
        let request = if listed {
            self.client.post(url)
        } else {
            self.client.delete(url)
        };
        request.header("X-NuGet-ApiKey", key).send().await.unwrap()
    }

    /// GETs a JSON document, asserting 200.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        get_json(&self.client, &self.url(path)).await
    }

    /// Sends a raw HTTP/1.1 request and returns the status line and the rest, to see reason phrases.
    pub async fn raw(&self, request: &[u8]) -> (String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let (status, rest) = text.split_once("\r\n").unwrap_or((&text, ""));
        (status.to_string(), rest.to_string())
    }

    /// The data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().to_path_buf()
    }
}

/// A package's contents for [`nupkg`].
#[derive(Clone)]
pub struct Pkg<'a> {
    pub id: &'a str,
    pub version: &'a str,
    pub deps: &'a [(&'a str, &'a str)],
    /// Raw XML appended to `<metadata>`.
    pub extra_metadata: &'a str,
    /// `<authors>` text (XML-escaped here).
    pub authors: &'a str,
    /// `<description>` text (XML-escaped here); `None` for a generated one.
    pub description: Option<&'a str>,
    /// More entries for the zip, e.g. a readme the manifest names.
    pub files: &'a [(&'a str, &'a [u8])],
}

impl<'a> Pkg<'a> {
    pub fn new(id: &'a str, version: &'a str) -> Pkg<'a> {
        Pkg {
            id,
            version,
            deps: &[],
            extra_metadata: "",
            authors: "Test Author",
            description: None,
            files: &[],
        }
    }
}

/// Builds a minimal valid .nupkg in memory.
pub fn nupkg(pkg: &Pkg) -> Vec<u8> {
    let deps = if pkg.deps.is_empty() {
        String::new()
    } else {
        let items: String = pkg
            .deps
            .iter()
            .map(|(id, range)| format!("<dependency id=\"{id}\" version=\"{range}\" />"))
            .collect();
        format!("<dependencies><group targetFramework=\".NETStandard2.0\">{items}</group></dependencies>")
    };
    let nuspec = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{}</id>
    <version>{}</version>
    <authors>{}</authors>
    <description>{}</description>
    {}
    {}
  </metadata>
</package>"#,
        pkg.id,
        pkg.version,
        xml_escape(pkg.authors),
        xml_escape(
            &pkg.description
                .map(str::to_string)
                .unwrap_or_else(|| format!("Test package {} for nugate.", pkg.id))
        ),
        if pkg.extra_metadata.contains("<tags>") {
            pkg.extra_metadata.to_string()
        } else {
            format!("<tags>test nugate</tags>{}", pkg.extra_metadata)
        },
        deps
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(format!("{}.nuspec", pkg.id), options)
        .unwrap();
    zip.write_all(nuspec.as_bytes()).unwrap();
    zip.start_file("lib/netstandard2.0/_._", options).unwrap();
    for (name, data) in pkg.files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    // The OPC parts NuGet 2.8.7 (System.IO.Packaging) needs to find the manifest.
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" /><Default Extension="nuspec" ContentType="application/octet" /><Default Extension="_" ContentType="application/octet" /></Types>"#).unwrap();
    zip.start_file("_rels/.rels", options).unwrap();
    write!(
        zip,
        r#"<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/{}.nuspec" Id="R1" /></Relationships>"#,
        pkg.id
    )
    .unwrap();
    zip.finish().unwrap().into_inner()
}

/// Escapes text for an XML element or attribute value.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Shorthand for a package with no dependencies.
pub fn simple(id: &str, version: &str) -> Vec<u8> {
    nupkg(&Pkg::new(id, version))
}

/// A reqwest builder; the build enables rustls without a default provider, so the ring one is
/// installed first (the server does the same before it talks to S3).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A plain HTTP client for tests.
pub fn http() -> reqwest::Client {
    client_builder().build().unwrap()
}

/// GETs a JSON document from any server (a `TestApp` or a spawned `nugate serve`), asserting 200.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response.json().await.unwrap()
}

/// The newest email to `to` as (subject, body), wherever it is: in the outbox, or, once delivered (a
/// delivered message carrying a link loses its body there), in the `.eml` file the test server wrote.
pub async fn newest_mail(app: &TestApp, to: &str) -> (String, String) {
    use sqlx::Row;
    for _ in 0..100 {
        let row = sqlx::query(
            "SELECT id, subject, body FROM outbox WHERE recipient = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(to)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
        let (id, subject, body): (i64, String, String) = (
            row.try_get("id").unwrap(),
            row.try_get("subject").unwrap(),
            row.try_get("body").unwrap(),
        );
        if !body.is_empty() {
            return (subject, body);
        }
        let suffix = format!("-{id}.eml");
        let file = std::fs::read_dir(app.data_dir().join("mail"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(&suffix));
        if let Some(file) = file {
            let raw = std::fs::read_to_string(file.path()).unwrap();
            let body = raw
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
                .replace("\r\n", "\n");
            return (subject, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} in the outbox or the mail folder");
}

/// The keys of the leaked-key tests: alice's live "ci" (the one reported) and "laptop" (a bystander),
/// bob's revoked "old", and a well-formed key of no server.
pub struct LeakFixture {
    pub alice: User,
    pub leaked: String,
    pub bystander: String,
    pub old: String,
    pub foreign: String,
}

impl LeakFixture {
    pub async fn new(app: &TestApp) -> LeakFixture {
        use nugate::model::key::KeyAction::Push;
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let leaked = app.key(&alice, "ci", &[Push], &["*"]).await;
        let bystander = app.key(&alice, "laptop", &[Push], &["*"]).await;
        let old = app.key(&bob, "old", &[Push], &["*"]).await;
        app.state.keys.revoke(&bob, "old").await.unwrap();
        LeakFixture {
            alice,
            leaked,
            bystander,
            old,
            foreign: nugate::auth::api_key::mint().plaintext,
        }
    }

    /// Whether one of alice's keys is revoked.
    pub async fn revoked(&self, app: &TestApp, name: &str) -> bool {
        let key = app.state.keys.get(&self.alice, name).await.unwrap();
        key.revoked_at.is_some()
    }

    /// After a report: the leaked key is revoked and refused, the bystander still works, and alice was
    /// told why.
    pub async fn assert_only_the_leaked_key_died(&self, app: &TestApp) {
        app.after_direct_key_change().await;
        assert!(self.revoked(app, "ci").await);
        assert!(!self.revoked(app, "laptop").await);
        let refused = app.push(&self.leaked, simple("Leak.Lib", "1.0.0")).await;
        assert_eq!(refused.status(), 403);
        let pushed = app.push(&self.bystander, simple("Leak.Lib", "1.0.0")).await;
        assert_eq!(pushed.status(), 201);
        let (subject, body) = newest_mail(app, "alice@example.com").await;
        assert!(
            subject.contains("'ci'") && subject.contains("exposed"),
            "{subject}"
        );
        assert!(body.contains("reported as leaked"), "{body}");
    }
}
