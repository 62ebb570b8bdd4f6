//! The real NuGet clients (nuget.exe 2.8.7, 3.4.4, 4.7.1, 4.9.2, 5.8.0 on Mono) against the real server.
//!
//! `scripts/install-test-deps.sh` installs them and `scripts/test-all.sh` points `NUGATE_TEST_CLIENTS` at
//! them. Without that variable these tests fail under CI and announce themselves as not run elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use nugate::model::key::KeyAction::*;

use crate::helpers::{simple, TestApp};

const REFUSED: &str = "The specified API key is invalid, has expired, or does not have permission";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    V287,
    V344,
    V471,
    V492,
    V580,
}

impl Client {
    fn command(self, deps: &Path) -> Command {
        let exe = match self {
            Client::V287 => return Command::new("/usr/bin/nuget"),
            Client::V344 => deps.join("node_modules/nuget/bin/nuget.exe"),
            Client::V471 => deps.join("nuget-471/nuget.exe"),
            Client::V492 => deps.join("node_modules/nuget-exe-492/nuget-4.9.2.exe"),
            Client::V580 => deps.join("node_modules/nuget-exe/nuget-5.8.0.exe"),
        };
        let mut cmd = Command::new("mono");
        cmd.arg(exe);
        cmd
    }

    /// 2.8.7 speaks V2 only: it pushes to the V2 URL and installs from the V2 OData feed.
    fn speaks_v3(self) -> bool {
        self != Client::V287
    }
}

/// Removes the escape sequences and carriage returns a terminal session adds.
fn strip_terminal_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while chars.next().is_some_and(|c| !c.is_ascii_alphabetic()) {}
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Where the clients are, or `None` (with a loud note) when they are not installed outside CI.
pub fn deps() -> Option<PathBuf> {
    match std::env::var_os("NUGATE_TEST_CLIENTS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None if std::env::var_os("CI").is_some() => {
            panic!("NUGATE_TEST_CLIENTS is not set: run scripts/test-all.sh, which installs the real clients")
        }
        None => {
            eprintln!("NOT RUN: real-client test (run scripts/test-all.sh to install nuget.exe and run it)");
            None
        }
    }
}

/// One client, with its own HOME so settings and caches never leak between tests.
pub struct Session {
    client: Client,
    deps: PathBuf,
    home: tempfile::TempDir,
}

pub struct Outcome {
    pub ok: bool,
    pub output: String,
}

impl Outcome {
    /// Whether the command did its work: it exited 0, or Mono aborted while shutting down after the
    /// client had printed `done` (Mono's runtime sometimes asserts at exit, after the work is finished;
    /// the test then checks the server's state anyway).
    pub fn succeeded(&self, done: &str) -> bool {
        self.ok || (self.output.contains("Native Crash Reporting") && self.output.contains(done))
    }
}

impl Session {
    pub fn new(client: Client, deps: &Path) -> Session {
        Session {
            client,
            deps: deps.to_path_buf(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = self.home.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub async fn run(&self, args: &[&str]) -> Outcome {
        self.run_with(args, false).await
    }

    /// Runs the client in a terminal 200 columns wide: NuGet 2.8.7 lays `list` out for the console and,
    /// without a terminal, prints blank lines forever. Terminal escapes are removed from the output.
    pub async fn run_in_terminal(&self, args: &[&str]) -> Outcome {
        let mut outcome = self.run_with(args, true).await;
        outcome.output = strip_terminal_escapes(&outcome.output);
        outcome
    }

    async fn run_with(&self, args: &[&str], terminal: bool) -> Outcome {
        let mut cmd = self.client.command(&self.deps);
        cmd.args(args)
            .arg("-NonInteractive")
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .current_dir(self.home.path());
        let client = self.client;
        let printable = args.join(" ");
        let out = tokio::task::spawn_blocking(move || {
            let mut wrapped = Command::new("timeout");
            wrapped.arg("180");
            if terminal {
                let quote = |s: &std::ffi::OsStr| {
                    format!("'{}'", s.to_str().unwrap().replace('\'', "'\\''"))
                };
                let line: Vec<String> = std::iter::once(cmd.get_program())
                    .chain(cmd.get_args())
                    .map(quote)
                    .collect();
                wrapped.args([
                    "script",
                    "-qec",
                    &format!("stty cols 200 rows 50; exec {}", line.join(" ")),
                    "/dev/null",
                ]);
            } else {
                wrapped.arg(cmd.get_program()).args(cmd.get_args());
            }
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    wrapped.env(k, v);
                }
            }
            if let Some(dir) = cmd.get_current_dir() {
                wrapped.current_dir(dir);
            }
            wrapped.output().unwrap()
        })
        .await
        .unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("[{client:?}] nuget {printable} -> {:?}", out.status.code());
        Outcome {
            ok: out.status.success(),
            output,
        }
    }

    /// A path relative to the session's home (its working directory): NuGet 2.8.7 on Mono mangles
    /// absolute paths.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(self.home.path())
            .unwrap_or(path)
            .to_str()
            .unwrap()
            .to_string()
    }

    pub async fn push(&self, package: &Path, source: &str, key: Option<&str>) -> Outcome {
        let package = self.rel(package);
        let mut args = vec!["push", package.as_str(), "-Source", source];
        if let Some(key) = key {
            args.extend(["-ApiKey", key]);
        }
        self.run(&args).await
    }

    /// Pushes and expects a refusal that shows the server's message.
    async fn push_refused(&self, package: &Path, source: &str, key: &str, why: &str) {
        let outcome = self.push(package, source, Some(key)).await;
        assert!(
            !outcome.ok,
            "{:?}: {why}: push should fail\n{}",
            self.client, outcome.output
        );
        assert!(
            outcome.output.contains(REFUSED),
            "{:?}: {why}: server message missing\n{}",
            self.client,
            outcome.output
        );
    }

    /// Packs a package from a .nuspec with the client itself.
    async fn pack(&self, id: &str, version: &str, deps: &[(&str, &str)]) -> PathBuf {
        let src = self.dir(&format!("src-{id}-{version}"));
        std::fs::write(src.join("readme.txt"), format!("{id} {version}")).unwrap();
        let dependencies: String = deps
            .iter()
            .map(|(d, r)| format!("<dependency id=\"{d}\" version=\"{r}\" />"))
            .collect();
        let nuspec = format!(
            r#"<?xml version="1.0"?>
<package>
  <metadata>
    <id>{id}</id>
    <version>{version}</version>
    <authors>nugate tests</authors>
    <description>{id} packed by the real client.</description>
    <dependencies>{dependencies}</dependencies>
  </metadata>
  <files><file src="readme.txt" target="content" /></files>
</package>"#
        );
        let spec = src.join(format!("{id}.nuspec"));
        std::fs::write(&spec, nuspec).unwrap();
        let out = self.dir("packed");
        let outcome = self
            .run(&[
                "pack",
                &self.rel(&spec),
                "-OutputDirectory",
                &self.rel(&out),
            ])
            .await;
        assert!(
            outcome.ok,
            "{:?}: pack failed\n{}",
            self.client, outcome.output
        );
        let file = out.join(format!("{id}.{version}.nupkg"));
        assert!(
            file.exists(),
            "{:?}: pack produced no {}\n{}",
            self.client,
            file.display(),
            outcome.output
        );
        file
    }

    /// Writes a generated package to disk.
    pub fn generated(&self, id: &str, version: &str) -> PathBuf {
        let path = self.dir("generated").join(format!("{id}.{version}.nupkg"));
        std::fs::write(&path, simple(id, version)).unwrap();
        path
    }
}

async fn full_flow(client: Client) {
    let Some(deps) = deps() else { return };
    let app = TestApp::start().await;
    let s = Session::new(client, &deps);
    let index = app.url("/v3/index.json");
    let v2 = app.url("/api/v2/package");
    let alice = app.user("alice").await;
    let key = app.key(&alice, "all", &[Push, Unlist], &["*"]).await;

    // pack with the client itself, then push to the V3 index and to the V2 URL.
    let dep = s.pack("Flow.Dep", "1.0.0", &[]).await;
    let lib1 = s.pack("Flow.Lib", "1.0.0", &[("Flow.Dep", "1.0.0")]).await;
    let lib2 = s.pack("Flow.Lib", "2.0.0", &[("Flow.Dep", "1.0.0")]).await;
    let first_source = if client.speaks_v3() { &index } else { &v2 };
    let pushed = s.push(&dep, first_source, Some(&key)).await;
    assert!(
        pushed.ok,
        "{client:?}: push to {first_source}\n{}",
        pushed.output
    );
    for lib in [&lib1, &lib2] {
        let pushed = s.push(lib, &v2, Some(&key)).await;
        assert!(pushed.ok, "{client:?}: push to {v2}\n{}", pushed.output);
    }
    let listed = app.json("/v3-flatcontainer/flow.lib/index.json").await;
    assert_eq!(listed["versions"], serde_json::json!(["1.0.0", "2.0.0"]));

    // A duplicate shows NuGet.org's 409 message (the reason phrase is what the clients print).
    let dup = s.push(&lib1, first_source, Some(&key)).await;
    assert!(!dup.ok, "{client:?}: duplicate push must fail");
    assert!(
        dup.output.contains("already exists and cannot be modified"),
        "{client:?}:\n{}",
        dup.output
    );

    // install: latest (with its dependency from the same feed) and an exact version; 2.8.7 speaks
    // only V2, so it installs from the V2 OData feed.
    let feed_v2 = app.url("/api/v2/");
    let install_source = if client.speaks_v3() { &index } else { &feed_v2 };
    let installed = s.dir("installed");
    let inst = &s.rel(&installed);
    let latest = s
        .run(&[
            "install",
            "Flow.Lib",
            "-Source",
            install_source,
            "-OutputDirectory",
            inst,
        ])
        .await;
    assert!(latest.ok, "{client:?}: install latest\n{}", latest.output);
    assert!(
        installed.join("Flow.Lib.2.0.0").is_dir(),
        "{client:?}:\n{}",
        latest.output
    );
    assert!(
        installed.join("Flow.Dep.1.0.0").is_dir(),
        "{client:?}: dependency\n{}",
        latest.output
    );
    let exact = s
        .run(&[
            "install",
            "Flow.Lib",
            "-Version",
            "1.0.0",
            "-Source",
            install_source,
            "-OutputDirectory",
            inst,
        ])
        .await;
    assert!(exact.ok, "{client:?}: install exact\n{}", exact.output);
    assert!(installed.join("Flow.Lib.1.0.0").is_dir());

    // The V2 OData feed: 2.8.7 lists and updates through it; 5.8 and 4.9.2 install, list and search
    // (`list TERM`) with it as the source.
    match client {
        Client::V287 => list_and_update_from_v2(&s, &feed_v2).await,
        Client::V580 | Client::V492 => install_list_and_search_from_v2(&s, &feed_v2).await,
        _ => {}
    }
    if client.speaks_v3() {
        // 3.4–5.8 `list` with the V3 index finds the V2 feed through LegacyGallery/2.0.0.
        let listed = s.run(&["list", "Flow", "-Source", &index]).await;
        assert!(
            listed.ok
                && listed.output.contains("Flow.Dep 1.0.0")
                && listed.output.contains("Flow.Lib 2.0.0"),
            "{client:?}: list through the service index\n{}",
            listed.output
        );
    }

    // delete = unlist (id and version as a user types them); search hides it, exact install still works.
    let deleted = s
        .run(&["delete", "flow.lib", "1.0", "-Source", &v2, "-ApiKey", &key])
        .await;
    assert!(deleted.ok, "{client:?}: delete\n{}", deleted.output);
    let search = app
        .json("/v3/search?q=Flow.Lib&prerelease=true&semVerLevel=2.0.0")
        .await;
    let versions: Vec<&str> = search["data"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0"]);
    let again = s.dir("installed-after-unlist");
    let exact = s
        .run(&[
            "install",
            "Flow.Lib",
            "-Version",
            "1.0.0",
            "-Source",
            install_source,
            "-OutputDirectory",
            &s.rel(&again),
        ])
        .await;
    assert!(
        exact.ok,
        "{client:?}: exact install of an unlisted version\n{}",
        exact.output
    );
    if client == Client::V287 {
        // The unlisted version is gone from the list, the other one stays.
        let listed = s
            .run_in_terminal(&["list", "Flow", "-AllVersions", "-Source", &feed_v2])
            .await;
        assert!(listed.ok, "{}", listed.output);
        assert!(
            listed.output.contains("Flow.Lib 2.0.0") && !listed.output.contains("Flow.Lib 1.0.0"),
            "2.8.7 list after unlisting\n{}",
            listed.output
        );
    }
    if client == Client::V580 {
        let found = s.run(&["search", "Flow", "-Source", &index]).await;
        assert!(
            found.ok && found.output.contains("Flow.Lib"),
            "{}",
            found.output
        );
    }

    // setapikey, then push without -ApiKey (3.4.4 looks the key up under the resolved V2 URL).
    let stored_source = if client.speaks_v3() && client != Client::V344 {
        &index
    } else {
        &v2
    };
    let set = s.run(&["setapikey", &key, "-Source", stored_source]).await;
    assert!(set.ok, "{client:?}: setapikey\n{}", set.output);
    let lib3 = s.generated("Flow.Lib", "3.0.0");
    let pushed = s.push(&lib3, stored_source, None).await;
    assert!(
        pushed.ok,
        "{client:?}: push with the stored key\n{}",
        pushed.output
    );
}

/// NuGet 2.8.7 on the V2 feed: `list` (everything, then a search term) and `update` of a
/// packages.config project from Flow.Lib 1.0.0 to 2.0.0.
async fn list_and_update_from_v2(s: &Session, feed: &str) {
    let listed = s.run_in_terminal(&["list", "-Source", feed]).await;
    assert!(listed.ok, "2.8.7 list\n{}", listed.output);
    let lines: Vec<&str> = listed
        .output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        ["Flow.Dep 1.0.0", "Flow.Lib 2.0.0"],
        "2.8.7 list\n{}",
        listed.output
    );
    let searched = s.run_in_terminal(&["list", "Dep", "-Source", feed]).await;
    assert!(searched.ok, "{}", searched.output);
    let lines: Vec<&str> = searched
        .output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        ["Flow.Dep 1.0.0"],
        "2.8.7 list Dep\n{}",
        searched.output
    );

    let project = s.dir("project");
    std::fs::write(
        project.join("packages.config"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<packages>
  <package id="Flow.Dep" version="1.0.0" targetFramework="net45" />
  <package id="Flow.Lib" version="1.0.0" targetFramework="net45" />
</packages>"#,
    )
    .unwrap();
    std::fs::write(
        project.join("App.csproj"),
        r#"<?xml version="1.0" encoding="utf-8"?>
<Project ToolsVersion="4.0" DefaultTargets="Build" xmlns="http://schemas.microsoft.com/developer/msbuild/2003">
  <PropertyGroup><OutputType>Library</OutputType><AssemblyName>App</AssemblyName><TargetFrameworkVersion>v4.5</TargetFrameworkVersion></PropertyGroup>
  <ItemGroup><None Include="packages.config" /></ItemGroup>
</Project>"#,
    )
    .unwrap();
    let config = s.rel(&project.join("packages.config"));
    let packages = s.rel(&project.join("packages"));
    let restored = s
        .run(&[
            "restore",
            &config,
            "-PackagesDirectory",
            &packages,
            "-Source",
            feed,
        ])
        .await;
    assert!(restored.ok, "2.8.7 restore\n{}", restored.output);
    let updated = s
        .run(&[
            "update",
            &config,
            "-RepositoryPath",
            &packages,
            "-Source",
            feed,
        ])
        .await;
    assert!(updated.ok, "2.8.7 update\n{}", updated.output);
    let config_text = std::fs::read_to_string(project.join("packages.config")).unwrap();
    assert!(
        config_text.contains(r#"id="Flow.Lib" version="2.0.0""#),
        "2.8.7 update\n{config_text}\n{}",
        updated.output
    );
    assert!(
        project.join("packages/Flow.Lib.2.0.0").is_dir(),
        "{}",
        updated.output
    );
}

/// nuget.exe 5.8 / 4.9.2 with the V2 feed as the source: install (latest and its dependency), `list`,
/// and a search (`list TERM`).
async fn install_list_and_search_from_v2(s: &Session, feed: &str) {
    let client = s.client;
    let installed = s.dir("installed-from-v2");
    let latest = s
        .run(&[
            "install",
            "Flow.Lib",
            "-Source",
            feed,
            "-OutputDirectory",
            &s.rel(&installed),
        ])
        .await;
    assert!(latest.ok, "{client:?}: install from V2\n{}", latest.output);
    assert!(
        installed.join("Flow.Lib.2.0.0").is_dir(),
        "{}",
        latest.output
    );
    assert!(
        installed.join("Flow.Dep.1.0.0").is_dir(),
        "{}",
        latest.output
    );
    let listed = s.run(&["list", "-Source", feed]).await;
    assert!(listed.ok, "{client:?}: list\n{}", listed.output);
    assert!(
        listed.output.contains("Flow.Dep 1.0.0") && listed.output.contains("Flow.Lib 2.0.0"),
        "{client:?}: list\n{}",
        listed.output
    );
    let searched = s.run(&["list", "Lib", "-Source", feed]).await;
    assert!(searched.ok, "{client:?}: list Lib\n{}", searched.output);
    assert!(
        searched.output.contains("Flow.Lib 2.0.0") && !searched.output.contains("Flow.Dep"),
        "{client:?}: list Lib\n{}",
        searched.output
    );
}

async fn scope_matrix(client: Client) {
    let Some(deps) = deps() else { return };
    let app = TestApp::start().await;
    let s = Session::new(client, &deps);
    let source = if client.speaks_v3() {
        app.url("/v3/index.json")
    } else {
        app.url("/api/v2/package")
    };
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let full = app.key(&alice, "full", &[Push], &["*"]).await;
    for (id, v) in [("Contoso.Lib", "1.0.0"), ("Fabrikam.Lib", "1.0.0")] {
        let pushed = s.push(&s.generated(id, v), &source, Some(&full)).await;
        assert!(pushed.ok, "{client:?}\n{}", pushed.output);
    }
    let version_only = app
        .key(&alice, "version-only", &[PushVersion], &["*"])
        .await;
    s.push_refused(
        &s.generated("Brand.New", "1.0.0"),
        &source,
        &version_only,
        "push-version key, new ID",
    )
    .await;
    let contoso = app.key(&alice, "contoso", &[Push], &["Contoso.*"]).await;
    s.push_refused(
        &s.generated("Fabrikam.Lib", "2.0.0"),
        &source,
        &contoso,
        "Contoso.* key, Fabrikam.Lib",
    )
    .await;
    let unlister = app.key(&alice, "unlister", &[Unlist], &["*"]).await;
    s.push_refused(
        &s.generated("Contoso.Lib", "2.0.0"),
        &source,
        &unlister,
        "unlist-only key",
    )
    .await;
    let bobs = app.key(&bob, "bobs", &[Push], &["*"]).await;
    app.state
        .packages
        .add_owner("Contoso.Lib", "bob")
        .await
        .unwrap();
    app.state
        .packages
        .remove_owner("Contoso.Lib", "bob")
        .await
        .unwrap();
    s.push_refused(
        &s.generated("Contoso.Lib", "3.0.0"),
        &source,
        &bobs,
        "user lost ownership",
    )
    .await;
    let expired = app.key(&alice, "expired", &[Push], &["*"]).await;
    sqlx::query("UPDATE api_keys SET expires_at = 1 WHERE name = 'expired'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    s.push_refused(
        &s.generated("Contoso.Lib", "4.0.0"),
        &source,
        &expired,
        "expired key",
    )
    .await;
    let revoked = app.key(&alice, "revoked", &[Push], &["*"]).await;
    app.state.keys.revoke(&alice, "revoked").await.unwrap();
    s.push_refused(
        &s.generated("Contoso.Lib", "5.0.0"),
        &source,
        &revoked,
        "revoked key",
    )
    .await;
    let regenerated_away = app.key(&alice, "regen", &[Push], &["*"]).await;
    let (_, fresh) = app.state.keys.regenerate(&alice, "regen").await.unwrap();
    s.push_refused(
        &s.generated("Contoso.Lib", "6.0.0"),
        &source,
        &regenerated_away,
        "regenerated-away key",
    )
    .await;
    let deleted = app.key(&alice, "deleted", &[Push], &["*"]).await;
    app.state.keys.delete(&alice, "deleted").await.unwrap();
    s.push_refused(
        &s.generated("Contoso.Lib", "7.0.0"),
        &source,
        &deleted,
        "deleted key",
    )
    .await;
    // ...and the right keys still work.
    let ok = s
        .push(&s.generated("Contoso.Lib", "8.0.0"), &source, Some(&fresh))
        .await;
    assert!(ok.ok, "{client:?}: regenerated key\n{}", ok.output);
    let ok = s
        .push(
            &s.generated("Contoso.Lib", "9.0.0"),
            &source,
            Some(&version_only),
        )
        .await;
    assert!(
        ok.ok,
        "{client:?}: push-version key, existing ID\n{}",
        ok.output
    );
}

/// Runs a `nugate` command against the server's data to its end, off the runtime's threads.
async fn operator(app: &TestApp, args: &[&str]) -> String {
    let mut cmd = crate::cli::nugate_for(app);
    cmd.args(args);
    let printable = args.join(" ");
    let (ok, _, err) = tokio::task::spawn_blocking(move || crate::cli::run(cmd, ""))
        .await
        .unwrap();
    assert!(ok, "nugate {printable}: {err}");
    err
}

/// Organisations through the real client: a member's organisation key pushes a new ID (under the
/// organisation's reserved prefix) that the organisation then owns, a collaborator's adds a version, a
/// member removed with `nugate org remove-member` sees their key refused with NuGet.org's message, and
/// another user's new ID under the reserved prefix gets the 409 message; nothing refused is kept.
async fn organisations(client: Client) {
    use nugate::model::account::OrgRole;
    let Some(deps) = deps() else { return };
    let app = TestApp::start().await;
    let s = Session::new(client, &deps);
    let source = if client.speaks_v3() {
        app.url("/v3/index.json")
    } else {
        app.url("/api/v2/package")
    };
    let ada = app.user("ada").await;
    let cole = app.user("cole").await;
    let zed = app.user("zed").await;
    app.state
        .orgs
        .create(&ada, "Acme", None, true)
        .await
        .unwrap();
    app.state
        .orgs
        .set_member("Acme", "cole", OrgRole::Collaborator)
        .await
        .unwrap();
    operator(&app, &["prefix", "reserve", "Acme.*", "--owner", "Acme"]).await;
    let admins = app
        .org_key(&ada, "Acme", "acme-ada", &[Push], &["Acme.*"])
        .await;
    let collaborators = app
        .org_key(&cole, "Acme", "acme-cole", &[Push], &["Acme.*"])
        .await;
    let outsiders = app.key(&zed, "zed", &[Push], &["*"]).await;

    let pushed = s
        .push(&s.generated("Acme.Tools", "1.0.0"), &source, Some(&admins))
        .await;
    assert!(
        pushed.ok,
        "{client:?}: administrator's organisation key, new ID\n{}",
        pushed.output
    );
    let registration = app
        .state
        .packages
        .registration("Acme.Tools")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nugate::db::packages::owner_names(app.state.db.pool(), registration.id)
            .await
            .unwrap(),
        ["Acme"],
        "{client:?}: the organisation owns the new ID"
    );
    let pushed = s
        .push(
            &s.generated("Acme.Tools", "1.1.0"),
            &source,
            Some(&collaborators),
        )
        .await;
    assert!(
        pushed.ok,
        "{client:?}: collaborator's organisation key, new version\n{}",
        pushed.output
    );

    operator(&app, &["org", "remove-member", "Acme", "cole"]).await;
    s.push_refused(
        &s.generated("Acme.Tools", "1.2.0"),
        &source,
        &collaborators,
        "organisation key of a removed member",
    )
    .await;

    let squatted = s
        .push(
            &s.generated("Acme.Squat", "1.0.0"),
            &source,
            Some(&outsiders),
        )
        .await;
    assert!(
        !squatted.ok,
        "{client:?}: another user's new ID under the reserved prefix must fail\n{}",
        squatted.output
    );
    assert!(
        squatted.output.contains(nugate::packages::RESERVED_MESSAGE),
        "{client:?}: reserved-prefix message missing\n{}",
        squatted.output
    );

    // The refused pushes left nothing behind.
    assert_eq!(
        app.json("/v3-flatcontainer/acme.tools/index.json").await["versions"],
        serde_json::json!(["1.0.0", "1.1.0"])
    );
    assert!(app
        .state
        .packages
        .registration("Acme.Squat")
        .await
        .unwrap()
        .is_none());
}

/// One test per client version and scenario, so each shows up (and fails) on its own.
macro_rules! client_tests {
    ($($name:ident: $scenario:ident($client:expr);)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $scenario($client).await;
        }
    )*};
}

client_tests! {
    nuget_5_8_0_full_flow: full_flow(Client::V580);
    nuget_4_9_2_full_flow: full_flow(Client::V492);
    nuget_4_7_1_full_flow: full_flow(Client::V471);
    nuget_3_4_4_full_flow: full_flow(Client::V344);
    nuget_2_8_7_full_flow: full_flow(Client::V287);
    nuget_5_8_0_scope_matrix: scope_matrix(Client::V580);
    nuget_4_9_2_scope_matrix: scope_matrix(Client::V492);
    nuget_4_7_1_scope_matrix: scope_matrix(Client::V471);
    nuget_3_4_4_scope_matrix: scope_matrix(Client::V344);
    nuget_2_8_7_scope_matrix: scope_matrix(Client::V287);
    nuget_5_8_0_organisations: organisations(Client::V580);
    nuget_4_9_2_organisations: organisations(Client::V492);
}
