//! Upstream feeds: a second nugate (behind a relay the test can cut) serves as nugate's upstream, with
//! no internet. The real nuget.exe 5.8 installs through nugate; the dependency-confusion rule, refused
//! packages, outages and a second node sharing the cache are checked over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use nugate::config::{UpstreamConfig, UpstreamMode};
use nugate::model::audit::{AuditAction, AuditOutcome};
use nugate::model::key::KeyAction::*;
use nugate::model::upstream::UpstreamRule;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::clients::{deps, Client, Session};
use crate::helpers::{nupkg, simple, Pkg, TestApp};

/// A TCP relay in front of the upstream: cutting it closes every connection, as an outage does.
struct Relay {
    url: String,
    tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn bind() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        (listener, url)
    }

    fn start(listener: TcpListener, url: String, to: SocketAddr) -> Relay {
        let tasks = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let accepted = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                accepted.lock().await.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { url, tasks, accept }
    }

    /// The upstream goes away: no new connection is accepted and the open ones are cut.
    async fn cut(&self) {
        self.accept.abort();
        self.tasks.lock().await.abort_all();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An upstream nugate holding `packages`, reachable only through a relay, and its relay.
async fn upstream_with(packages: &[Vec<u8>]) -> (TestApp, Relay) {
    let (listener, url) = Relay::bind().await;
    let public = url.clone();
    let upstream = TestApp::start_with(|c| c.public_url = Some(public)).await;
    let owner = upstream.user("publisher").await;
    let key = upstream.key(&owner, "push", &[Push], &["*"]).await;
    for package in packages {
        let pushed = upstream.push(&key, package.clone()).await;
        assert_eq!(pushed.status(), 201, "{}", pushed.text().await.unwrap());
    }
    let relay = Relay::start(listener, url, upstream.addr);
    (upstream, relay)
}

fn upstream_config(relay: &Relay, name: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: Some(name.to_string()),
        timeout_secs: 5,
        ..UpstreamConfig::at(&format!("{}/v3/index.json", relay.url))
    }
}

async fn mirror_of(relay: &Relay) -> TestApp {
    let upstream = upstream_config(relay, "upstream-feed");
    TestApp::start_with(|c| c.upstreams = vec![upstream]).await
}

async fn status(app: &TestApp, path: &str) -> (u16, String) {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn with_dep(id: &str, version: &str, dep: &str) -> Vec<u8> {
    let deps = [(dep, "1.0.0")];
    nupkg(&Pkg {
        deps: &deps,
        ..Pkg::new(id, version)
    })
}

/// A fresh nuget.exe 5.8 (its own empty caches) installs Up.Lib 2.0.0 and its dependency from `source`.
async fn installs_lib_and_dep(deps: &std::path::Path, source: &str) {
    let session = Session::new(Client::V580, deps);
    let installed = session.dir("installed");
    let run = session
        .run(&[
            "install",
            "Up.Lib",
            "-Source",
            source,
            "-OutputDirectory",
            &session.rel(&installed),
        ])
        .await;
    assert!(run.succeeded("Successfully installed"), "{}", run.output);
    assert!(installed.join("Up.Lib.2.0.0").is_dir(), "{}", run.output);
    assert!(
        installed.join("Up.Dep.1.0.0").is_dir(),
        "dependency\n{}",
        run.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nuget_5_8_installs_through_nugate_what_only_the_upstream_has_and_again_once_it_is_gone() {
    let Some(deps) = deps() else { return };
    let (_upstream, relay) = upstream_with(&[
        simple("Up.Dep", "1.0.0"),
        with_dep("Up.Lib", "1.0.0", "Up.Dep"),
        with_dep("Up.Lib", "2.0.0", "Up.Dep"),
    ])
    .await;
    let app = mirror_of(&relay).await;
    let source = app.url("/v3/index.json");

    installs_lib_and_dep(&deps, &source).await;

    // Both are cached, marked with their upstream, and listed with the upstream's other versions.
    let lib = app
        .state
        .packages
        .registration("Up.Lib")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lib.upstream.as_deref(), Some("upstream-feed"));
    assert_eq!(
        app.json("/v3-flatcontainer/up.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0", "2.0.0"])
    );
    let search = app.json("/v3/search?q=Up.Lib").await;
    assert_eq!(search["data"][0]["id"], "Up.Lib", "{search}");

    relay.cut().await;

    // A fresh client (empty caches) installs the same package again, from nugate alone.
    installs_lib_and_dep(&deps, &source).await;

    // What was never fetched gets a 502 that names the upstream; nothing that worked fails.
    let (code, body) = status(&app, "/v3-flatcontainer/up.lib/1.0.0/up.lib.1.0.0.nupkg").await;
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("upstream-feed"), "{body}");
    let (code, body) = status(&app, "/v3-flatcontainer/up.never/index.json").await;
    assert_eq!(code, 502, "{body}");
    assert!(body.contains("'upstream-feed'"), "{body}");
    let (code, _) = status(&app, "/v3/registration/up.lib/index.json").await;
    assert_eq!(code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_and_reserved_ids_never_take_upstream_versions() {
    let (_upstream, relay) = upstream_with(&[
        simple("Contoso.Internal", "9.0.0"),
        simple("Contoso.Secret.Lib", "2.0.0"),
        simple("Evil.Lib", "1.0.0"),
        simple("Open.Lib", "1.0.0"),
    ])
    .await;
    let app = mirror_of(&relay).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "push", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Contoso.Internal", "1.0.0"))
            .await
            .status(),
        201
    );
    app.state
        .packages
        .reserve_prefix("Contoso.Secret.*", "alice")
        .await
        .unwrap();

    // The local ID: only its own version, in every document, and the upstream's is never served.
    assert_eq!(
        app.json("/v3-flatcontainer/contoso.internal/index.json")
            .await["versions"],
        serde_json::json!(["1.0.0"])
    );
    let registration = app
        .json("/v3/registration/contoso.internal/index.json")
        .await;
    assert_eq!(registration["items"][0]["count"], 1, "{registration}");
    assert_eq!(registration["items"][0]["upper"], "1.0.0");
    for path in [
        "/v3-flatcontainer/contoso.internal/9.0.0/contoso.internal.9.0.0.nupkg",
        "/v3/registration/contoso.internal/9.0.0.json",
        "/v3-flatcontainer/contoso.secret.lib/index.json",
        "/v3-flatcontainer/contoso.secret.lib/2.0.0/contoso.secret.lib.2.0.0.nupkg",
        "/v3/registration/contoso.secret.lib/index.json",
    ] {
        assert_eq!(status(&app, path).await.0, 404, "{path}");
    }

    // The real client agrees: `install Contoso.Internal` gets the internal 1.0.0.
    if let Some(deps) = deps() {
        let s = Session::new(Client::V580, &deps);
        let out = s.dir("out");
        let run = s
            .run(&[
                "install",
                "Contoso.Internal",
                "-Source",
                &app.url("/v3/index.json"),
                "-OutputDirectory",
                &s.rel(&out),
            ])
            .await;
        assert!(run.succeeded("Successfully installed"), "{}", run.output);
        assert!(
            out.join("Contoso.Internal.1.0.0").is_dir(),
            "{}",
            run.output
        );
        assert!(!out.join("Contoso.Internal.9.0.0").exists());
    }

    // An administrator's block; the verdicts say why each ID is withheld.
    assert_eq!(
        status(&app, "/v3-flatcontainer/evil.lib/index.json")
            .await
            .0,
        200
    );
    app.state
        .packages
        .add_upstream_rule(UpstreamRule::Block, "Evil.*")
        .await
        .unwrap();
    assert_eq!(
        status(&app, "/v3-flatcontainer/evil.lib/index.json")
            .await
            .0,
        404
    );
    assert_eq!(
        status(
            &app,
            "/v3-flatcontainer/evil.lib/1.0.0/evil.lib.1.0.0.nupkg"
        )
        .await
        .0,
        404
    );
    let verdict = |id: &'static str| {
        let packages = app.state.packages.clone();
        async move { packages.upstream_verdicts(id).await.unwrap()[0].withheld }
    };
    assert_eq!(
        verdict("Contoso.Internal").await,
        Some("the ID is this feed's own")
    );
    assert_eq!(
        verdict("contoso.secret.other").await,
        Some("the ID falls under a reserved prefix")
    );
    assert!(verdict("Evil.Lib").await.unwrap().contains("blocked"));
    assert_eq!(verdict("Open.Lib").await, None);
    let bad = app
        .state
        .packages
        .add_upstream_rule(UpstreamRule::Block, "no spaces allowed")
        .await;
    assert!(bad.is_err());

    // A cached ID cannot be pushed over until an administrator removes the cached copies.
    let cached = "/v3-flatcontainer/open.lib/1.0.0/open.lib.1.0.0.nupkg";
    assert_eq!(status(&app, cached).await.0, 200);
    // The audit trail says what entered the feed and from where, and who changed the rules.
    let records = audit(&app, Some("Open.Lib")).await;
    assert_eq!(records[0].action, AuditAction::UpstreamCache);
    assert_eq!(records[0].outcome, AuditOutcome::Done);
    assert_eq!(records[0].package_version.as_deref(), Some("1.0.0"));
    assert_eq!(records[0].detail.as_deref(), Some("from upstream-feed"));
    assert!(audit(&app, None)
        .await
        .iter()
        .any(|r| r.action == AuditAction::UpstreamRule
            && r.detail.as_deref() == Some("block Evil.*")));

    // Marked apart in the gallery: a badge, and counted apart from the feed's own packages.
    let page = status(&app, "/packages/Open.Lib").await.1;
    assert!(
        page.contains("Cached from the upstream feed upstream-feed"),
        "{page}"
    );
    let found = status(&app, "/packages?q=Open.Lib").await.1;
    assert!(found.contains("from upstream-feed"), "{found}");
    let home = status(&app, "/").await.1;
    assert!(
        home.contains("Search 1 package and 1 cached from upstream feeds"),
        "{home}"
    );
    let refused = app.push(&key, simple("Open.Lib", "5.0.0")).await;
    assert_eq!(refused.status(), 409);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("nugate upstream forget Open.Lib"));
    let removed = app.state.packages.forget_cached("Open.Lib").await.unwrap();
    assert_eq!(removed, vec!["1.0.0".to_string()]);
    assert_eq!(
        app.push(&key, simple("Open.Lib", "5.0.0")).await.status(),
        201
    );
    assert_eq!(
        app.json("/v3-flatcontainer/open.lib/index.json").await["versions"],
        serde_json::json!(["5.0.0"])
    );
    assert!(app.state.packages.forget_cached("Open.Lib").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_list_upstream_passes_approved_ids_only() {
    let (_upstream, relay) = upstream_with(&[simple("Vetted.Lib", "1.0.0")]).await;
    let upstream = UpstreamConfig {
        mode: UpstreamMode::AllowList,
        ..upstream_config(&relay, "vetted")
    };
    let app = TestApp::start_with(|c| c.upstreams = vec![upstream]).await;
    let path = "/v3-flatcontainer/vetted.lib/index.json";
    assert_eq!(status(&app, path).await.0, 404);
    app.state
        .packages
        .add_upstream_rule(UpstreamRule::Approve, "Vetted.*")
        .await
        .unwrap();
    assert_eq!(
        app.json(path).await["versions"],
        serde_json::json!(["1.0.0"])
    );

    // A private feed's read rule covers what comes from upstream too.
    let upstream = upstream_config(&relay, "vetted");
    let private = TestApp::start_with(|c| {
        c.upstreams = vec![upstream];
        c.read_access = nugate::config::ReadAccess::Private;
    })
    .await;
    assert_eq!(status(&private, path).await.0, 401);
    assert_eq!(
        status(
            &private,
            "/v3-flatcontainer/vetted.lib/1.0.0/vetted.lib.1.0.0.nupkg"
        )
        .await
        .0,
        401
    );
    assert!(private
        .state
        .packages
        .registration("Vetted.Lib")
        .await
        .unwrap()
        .is_none());
}

/// A fake upstream whose package for `fake.lib` 1.0.0 is really `body`.
async fn lying_upstream(body: Vec<u8>) -> String {
    use axum::routing::get;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let index = serde_json::json!({"version": "3.0.0", "resources": [
        {"@id": format!("{base}/flat/"), "@type": "PackageBaseAddress/3.0.0"},
        {"@id": format!("{base}/reg/"), "@type": "RegistrationsBaseUrl/3.6.0"},
    ]});
    let registration = serde_json::json!({"count": 1, "items": [{"count": 1, "items": [
        {"catalogEntry": {"id": "Fake.Lib", "version": "1.0.0", "listed": true, "description": "d"}}
    ]}]});
    let router = axum::Router::new()
        .route(
            "/v3/index.json",
            get(move || async move { axum::Json(index) }),
        )
        .route(
            "/reg/fake.lib/index.json",
            get(move || async move { axum::Json(registration) }),
        )
        .route(
            "/flat/fake.lib/1.0.0/fake.lib.1.0.0.nupkg",
            get(move || async move { body }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("{base}/v3/index.json")
}

#[tokio::test]
async fn a_package_that_is_not_what_was_asked_for_is_refused_and_nothing_is_stored() {
    for (lie, says) in [
        (simple("Other.Lib", "1.0.0"), "Other.Lib 1.0.0"),
        (simple("Fake.Lib", "2.0.0"), "Fake.Lib 2.0.0"),
        (b"not a zip".to_vec(), "not valid"),
    ] {
        let url = lying_upstream(lie).await;
        let app = TestApp::start_with(|c| c.upstreams = vec![UpstreamConfig::at(&url)]).await;
        assert_eq!(
            app.json("/v3-flatcontainer/fake.lib/index.json").await["versions"],
            serde_json::json!(["1.0.0"])
        );
        let (code, body) = status(
            &app,
            "/v3-flatcontainer/fake.lib/1.0.0/fake.lib.1.0.0.nupkg",
        )
        .await;
        assert_eq!(code, 502, "{body}");
        assert!(body.contains(says), "{says}: {body}");
        assert!(body.contains("nothing was stored"), "{body}");
        for id in ["Fake.Lib", "Other.Lib"] {
            assert!(app.state.packages.registration(id).await.unwrap().is_none());
        }
        let stored: Vec<_> = walk(&app.data_dir().join("packages"));
        assert!(stored.is_empty(), "{stored:?}");
        assert_eq!(app.state.metrics.upstream_refused.get(), 1);
        let refused = audit(&app, Some("Fake.Lib")).await;
        assert_eq!(refused[0].action, AuditAction::UpstreamCache);
        assert_eq!(refused[0].outcome, AuditOutcome::Refused);
        assert!(
            refused[0].detail.as_deref().unwrap_or("").contains(says),
            "{:?}",
            refused[0]
        );
    }
}

async fn audit(app: &TestApp, package: Option<&str>) -> Vec<nugate::db::audit::AuditRecord> {
    let query = nugate::db::audit::AuditQuery {
        package_id: package.map(str::to_string),
        limit: 100,
        ..Default::default()
    };
    app.state.audit.list(&query).await.unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                walk(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_cache_and_concurrent_first_requests_fetch_once() {
    let (_upstream, relay) = upstream_with(&[simple("Shared.Lib", "1.0.0")]).await;
    let a = mirror_of(&relay).await;
    let database = a.state.config.database_url();
    let storage = a.state.config.storage_url();
    let upstream = upstream_config(&relay, "upstream-feed");
    let b = TestApp::start_with(|c| {
        c.upstreams = vec![upstream];
        c.database_url = Some(database);
        c.storage_url = Some(storage);
    })
    .await;

    let path = "/v3-flatcontainer/shared.lib/1.0.0/shared.lib.1.0.0.nupkg";
    let before = a.state.metrics.upstream_requests.get();
    let mut requests = JoinSet::new();
    for _ in 0..6 {
        let (client, url) = (a.client.clone(), a.url(path));
        requests.spawn(async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        });
    }
    let mut bodies = Vec::new();
    while let Some(done) = requests.join_next().await {
        let (code, body) = done.unwrap();
        assert_eq!(code, 200);
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    // One version list and one package: six concurrent first requests fetched the package once.
    assert_eq!(a.state.metrics.upstream_requests.get() - before, 2);

    relay.cut().await;
    let r = b.client.get(b.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), bodies[0]);
    assert_eq!(
        b.json("/v3-flatcontainer/shared.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0"])
    );
    assert_eq!(b.state.metrics.upstream_requests.get(), 0);
}
