//! Private feeds: every protocol read needs an API key with the `read` scope (as the Basic password or
//! in `X-NuGet-ApiKey`), narrowed by the key's package scope; the gallery needs a signed-in user.

use nugate::config::ReadAccess;
use nugate::model::key::KeyAction::*;
use reqwest::StatusCode;

use crate::helpers::{simple, TestApp};
use crate::web::Browser;

async fn private() -> TestApp {
    TestApp::start_with(|c| c.read_access = ReadAccess::Private).await
}

async fn get(app: &TestApp, path: &str, password: Option<&str>) -> (StatusCode, String) {
    let mut request = app.client.get(app.url(path));
    if let Some(password) = password {
        request = request.basic_auth("anyone", Some(password));
    }
    let r = request.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The status of a read that sends its key in `X-NuGet-ApiKey`, as restores do after a push.
async fn get_with_api_key(app: &TestApp, path: &str, key: &str) -> StatusCode {
    let request = app.client.get(app.url(path)).header("X-NuGet-ApiKey", key);
    request.send().await.unwrap().status()
}

fn total_hits(body: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["totalHits"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn a_private_feed_needs_a_read_key_narrowed_by_its_scope() {
    let app = private().await;
    let alice = app.user("alice").await;
    let push = app.key(&alice, "push", &[Push], &["*"]).await;
    for id in ["Contoso.A", "Contoso.B", "Fabrikam.Lib"] {
        assert_eq!(app.push(&push, simple(id, "1.0.0")).await.status(), 201);
    }
    let read_all = app.key(&alice, "read-all", &[Read], &["*"]).await;
    let read_contoso = app
        .key(&alice, "read-contoso", &[Read], &["Contoso.*"])
        .await;

    // No credentials: the Basic challenge, with a message.
    let r = app
        .client
        .get(app.url("/v3/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    assert!(r.text().await.unwrap().contains("'read' scope"));
    // A push key does not read; a wrong key is refused the same way.
    for refused in [push.as_str(), "not-a-key-at-all"] {
        let (status, body) = get(&app, "/v3/index.json", Some(refused)).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("do not include the 'read' scope"), "{body}");
    }
    // A read key works as the Basic password and in X-NuGet-ApiKey.
    assert_eq!(get(&app, "/v3/index.json", Some(&read_all)).await.0, 200);
    let flat = "/v3-flatcontainer/fabrikam.lib/index.json";
    assert_eq!(get_with_api_key(&app, flat, &read_all).await, 200);

    // Narrowed by the key's package scope: other IDs do not exist for it.
    let k = Some(read_contoso.as_str());
    for path in [
        "/v3-flatcontainer/contoso.a/index.json",
        "/v3-flatcontainer/contoso.a/1.0.0/contoso.a.1.0.0.nupkg",
        "/v3/registration-semver2/contoso.a/index.json",
        "/api/v2/package/Contoso.A/1.0.0",
    ] {
        assert_eq!(get(&app, path, k).await.0, 200, "{path}");
    }
    for path in [
        "/v3-flatcontainer/fabrikam.lib/index.json",
        "/v3-flatcontainer/fabrikam.lib/1.0.0/fabrikam.lib.1.0.0.nupkg",
        "/v3/registration-semver2/fabrikam.lib/index.json",
        "/v3/registration-semver2/fabrikam.lib/1.0.0.json",
        "/api/v2/package/Fabrikam.Lib/1.0.0",
    ] {
        assert_eq!(get(&app, path, k).await.0, 404, "{path}");
    }
    let (_, body) = get(&app, "/v3/search?q=&take=1", k).await;
    assert_eq!(
        total_hits(&body),
        2,
        "counts leave out what the key cannot see: {body}"
    );
    assert!(!body.contains("Fabrikam"), "{body}");
    let (_, body) = get(&app, "/v3/search?q=&skip=1&take=5", k).await;
    assert!(
        body.contains("Contoso.B") && !body.contains("Contoso.A"),
        "pages: {body}"
    );
    let (_, body) = get(&app, "/v3/autocomplete?q=", k).await;
    assert_eq!(total_hits(&body), 2, "{body}");
    let (_, body) = get(&app, "/v3/autocomplete?id=fabrikam.lib", k).await;
    assert_eq!(total_hits(&body), 0, "{body}");
    let (_, body) = get(&app, "/v3/search?q=", Some(&read_all)).await;
    assert_eq!(total_hits(&body), 3, "{body}");

    // Revoked: refused at once on this node, even though it was just used.
    assert_eq!(get(&app, "/v3/index.json", k).await.0, 200);
    app.state.keys.revoke(&alice, "read-contoso").await.unwrap();
    assert_eq!(get(&app, "/v3/index.json", k).await.0, 401);
    // Writes still need their own keys, as before.
    assert_eq!(
        app.push(&push, simple("Contoso.C", "1.0.0")).await.status(),
        201
    );
}

#[tokio::test]
async fn a_public_feed_reads_without_credentials() {
    let app = TestApp::start().await;
    let (status, _) = get(&app, "/v3/index.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(Browser::new(&app).get("/").await.0, 200);
}

#[tokio::test]
async fn a_private_gallery_asks_for_sign_in_and_a_confirmed_address() {
    let app = private().await;
    app.user("reader").await;
    let b = Browser::new(&app);
    let r = b.http.get(app.url("/packages?q=x")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "/signin?returnUrl=/packages%3Fq%3Dx"
    );
    assert_eq!(
        b.sign_in("reader", "correct horse battery").await.status(),
        303
    );
    assert_eq!(b.get("/").await.0, 200);
    assert_eq!(b.get("/packages?q=x").await.0, 200);
    // The sign-in page itself stays reachable.
    assert_eq!(Browser::new(&app).get("/signin").await.0, 200);
    // An unconfirmed account reads nothing.
    app.state
        .users
        .create(
            "newcomer",
            "newcomer@example.com",
            "correct horse battery",
            false,
            false,
        )
        .await
        .unwrap();
    let n = Browser::new(&app);
    assert_eq!(
        n.sign_in("newcomer", "correct horse battery")
            .await
            .status(),
        303
    );
    let (status, page) = n.get("/").await;
    assert_eq!(status, 403);
    assert!(page.contains("confirm your email address"), "{page}");
}

/// Two servers on one database: a read key revoked on one is refused by the other within
/// `cache_ttl_ms` (250 ms here), though the other had just checked and remembered it.
/// `key` with its secret changed and a valid checksum: the same lookup id, a wrong secret.
fn with_wrong_secret(key: &str) -> String {
    use nugate::auth::api_key::{mint_with, KEY_PREFIX, RANDOM_LEN};
    let body = key.strip_prefix(KEY_PREFIX).unwrap().to_ascii_uppercase();
    let payload = data_encoding::BASE32_NOPAD.decode(body.as_bytes()).unwrap();
    let mut random = [0u8; RANDOM_LEN];
    random.copy_from_slice(&payload[..RANDOM_LEN]);
    random[RANDOM_LEN - 1] ^= 1;
    mint_with(random).plaintext
}

/// A key this node remembers is answered from memory on a node that has seen no wrong key; every rule
/// still holds there: the read scope, the secret, expiry, and revocation.
#[tokio::test]
async fn a_remembered_read_key_is_still_checked_on_every_read() {
    let app = private().await;
    let alice = app.user("alice").await;
    let read = app.key(&alice, "read", &[Read], &["*"]).await;
    let push = app.key(&alice, "push", &[Push], &["*"]).await;
    // Twice each: the second check finds the key remembered.
    for _ in 0..2 {
        assert_eq!(get(&app, "/v3/index.json", Some(&read)).await.0, 200);
        let (status, body) = get(&app, "/v3/index.json", Some(&push)).await;
        assert_eq!(status, 401, "a remembered push key does not read: {body}");
    }
    assert_eq!(get_with_api_key(&app, "/v3/index.json", &read).await, 200);
    // The remembered key's identifier with a wrong secret: refused, and counted as a guess.
    let forged = with_wrong_secret(&read);
    assert_ne!(forged, read);
    assert_eq!(
        nugate::auth::api_key::parse(&forged).lookup_id(),
        nugate::auth::api_key::parse(&read).lookup_id()
    );
    let (status, body) = get(&app, "/v3/index.json", Some(&forged)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(get(&app, "/v3/index.json", Some(&read)).await.0, 200);
    // Revoked: refused at once.
    app.state.keys.revoke(&alice, "read").await.unwrap();
    assert_eq!(get(&app, "/v3/index.json", Some(&read)).await.0, 401);

    // On a node that has seen no wrong key, a remembered key that expires is refused.
    let calm = private().await;
    let bob = calm.user("bob").await;
    let expiring = calm.key(&bob, "expiring", &[Read], &["*"]).await;
    for _ in 0..2 {
        assert_eq!(get(&calm, "/v3/index.json", Some(&expiring)).await.0, 200);
    }
    calm.state.db.clock().advance(400 * 24 * 3600);
    let (status, body) = get(&calm, "/v3/index.json", Some(&expiring)).await;
    assert_eq!(status, 401, "an expired remembered key: {body}");
}

#[tokio::test]
async fn a_revoked_read_key_is_refused_by_another_node_within_the_cache_ttl() {
    let a = private().await;
    let alice = a.user("alice").await;
    let key = a.key(&alice, "read", &[Read], &["*"]).await;
    let database_url = a.state.config.database_url.clone();
    let data_dir = a.data_dir();
    let b = TestApp::start_with(|c| {
        c.read_access = ReadAccess::Private;
        c.database_url = database_url;
        c.data_dir = data_dir;
    })
    .await;
    assert_eq!(get(&b, "/v3/index.json", Some(&key)).await.0, 200);
    a.state.keys.revoke(&alice, "read").await.unwrap();
    assert_eq!(get(&a, "/v3/index.json", Some(&key)).await.0, 401);
    let started = std::time::Instant::now();
    loop {
        let (status, _) = get(&b, "/v3/index.json", Some(&key)).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "node B still accepted the revoked key after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Real nuget.exe against a private feed: credentials stored with `nuget sources add -UserName any
/// -Password KEY`, then an install with a dependency; without them the client shows the 401; a key
/// scoped to `Contoso.*` cannot install `Fabrikam.Lib`, and `list` shows only Contoso packages.
async fn private_restore(client: crate::clients::Client) {
    use crate::clients::{deps, Session};
    use crate::helpers::{nupkg, Pkg};
    let Some(deps) = deps() else { return };
    let app = private().await;
    let alice = app.user("alice").await;
    let push = app.key(&alice, "push", &[Push], &["*"]).await;
    for package in [
        nupkg(&Pkg::new("Contoso.Dep", "1.0.0")),
        nupkg(&Pkg {
            deps: &[("Contoso.Dep", "1.0.0")],
            ..Pkg::new("Contoso.App", "1.0.0")
        }),
        nupkg(&Pkg::new("Fabrikam.Lib", "1.0.0")),
        nupkg(&Pkg::new("Contoso.Other", "1.0.0")),
    ] {
        assert_eq!(app.push(&push, package).await.status(), 201);
    }
    let key = app.key(&alice, "restore", &[Read], &["Contoso.*"]).await;
    let feed = app.url("/v3/index.json");
    let s = Session::new(client, &deps);
    let empty = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n</configuration>\n";
    let config = s.dir("cfg").join("nuget.config");
    std::fs::write(&config, empty).unwrap();
    let config = s.rel(&config);
    let added = s
        .run(&[
            "sources",
            "add",
            "-Name",
            "corp",
            "-Source",
            &feed,
            "-UserName",
            "any",
            "-Password",
            &key,
            "-StorePasswordInClearText",
            "-ConfigFile",
            &config,
        ])
        .await;
    assert!(added.ok, "{client:?}: sources add\n{}", added.output);
    let out = s.rel(&s.dir("out"));
    let installed = s
        .run(&[
            "install",
            "Contoso.App",
            "-Source",
            "corp",
            "-ConfigFile",
            &config,
            "-OutputDirectory",
            &out,
        ])
        .await;
    assert!(installed.ok, "{client:?}: install\n{}", installed.output);
    let out_dir = s.dir("out");
    for dir in ["Contoso.App.1.0.0", "Contoso.Dep.1.0.0"] {
        assert!(
            out_dir.join(dir).exists(),
            "{client:?}: {dir} not installed"
        );
    }
    // Without credentials the client reports the 401 (for a package it has not fetched before: a cached
    // one needs no server).
    let anonymous = s.dir("anon").join("nuget.config");
    std::fs::write(&anonymous, empty).unwrap();
    let refused = s
        .run(&[
            "install",
            "Contoso.Other",
            "-Source",
            &feed,
            "-ConfigFile",
            &s.rel(&anonymous),
            "-OutputDirectory",
            &s.rel(&s.dir("out-anon")),
        ])
        .await;
    assert!(!refused.ok, "{client:?}: installed without credentials");
    assert!(
        refused.output.contains("401"),
        "{client:?}: no 401 in the output\n{}",
        refused.output
    );
    // Outside the key's scope the package does not exist.
    let outside = s
        .run(&[
            "install",
            "Fabrikam.Lib",
            "-Source",
            "corp",
            "-ConfigFile",
            &config,
            "-OutputDirectory",
            &s.rel(&s.dir("out-outside")),
        ])
        .await;
    assert!(!outside.ok, "{client:?}: installed outside the key's scope");
    let listed = s
        .run(&["list", "-Source", "corp", "-ConfigFile", &config])
        .await;
    assert!(listed.ok, "{client:?}: list\n{}", listed.output);
    assert!(
        listed.output.contains("Contoso.App") && !listed.output.contains("Fabrikam.Lib"),
        "{client:?}: list shows only the key's packages\n{}",
        listed.output
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nuget_5_8_0_restores_from_a_private_feed() {
    private_restore(crate::clients::Client::V580).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nuget_4_9_2_restores_from_a_private_feed() {
    private_restore(crate::clients::Client::V492).await;
}
