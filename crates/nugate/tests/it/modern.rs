//! What the .NET 9 and 10 clients (NuGet 6.12 → 7.x) send and need, replayed request by request as
//! `/work/shared/reference/modern-clients.md` describes them: restore and push with their headers,
//! the anonymous-then-credentials sequence of a private feed, audit's `VulnerabilityInfo` files,
//! deprecation in registration leaves and search, the README template, and strict JSON types.

use nugate::config::ReadAccess;
use nugate::model::key::KeyAction::*;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use crate::cli::{nugate_for, run};
use crate::helpers::{nupkg, simple, Pkg, TestApp};

const USER_AGENT: &str = "NuGet .NET Core MSBuild Task/7.0.0 (Linux 6.8.0 #1 SMP x64)";
const SESSION: &str = "4b1f7c2e-9a0d-4e55-8c36-7a2f1d9b0c11";

/// The headers every request of a .NET 10 restore or push carries.
fn as_dotnet(request: RequestBuilder) -> RequestBuilder {
    request
        .header("User-Agent", USER_AGENT)
        .header("X-NuGet-Session-Id", SESSION)
        .header("X-NuGet-Client-Version", "7.0.0")
        .header("Accept-Encoding", "gzip, deflate")
}

async fn get(app: &TestApp, url: &str, password: Option<&str>) -> reqwest::Response {
    let mut request = as_dotnet(app.client.get(url));
    if let Some(password) = password {
        request = request.basic_auth("nugate", Some(password));
    }
    request.send().await.unwrap()
}

async fn get_json(app: &TestApp, url: &str, password: Option<&str>) -> Value {
    let r = get(app, url, password).await;
    assert_eq!(r.status(), 200, "{url}");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{url}: {content_type}"
    );
    let gzipped = r
        .headers()
        .get("content-encoding")
        .is_some_and(|e| e == "gzip");
    let body = r.bytes().await.unwrap();
    let text = if gzipped {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    serde_json::from_str(&text).unwrap()
}

/// The `@id` of a resource type in a service index.
fn resource(index: &Value, kind: &str) -> Option<String> {
    index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["@type"] == kind)
        .map(|r| r["@id"].as_str().unwrap().to_string())
}

/// A push as `dotnet nuget push` sends it: multipart PUT with the key header.
async fn push(app: &TestApp, url: &str, key: &str, package: &[u8]) -> reqwest::Response {
    let boundary = "a0e5b61c-7f0e-4f2b-bb2d-1c4f9e2d8a77";
    let mut body = format!(
        "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; \
         name=package; filename=package.nupkg; filename*=utf-8''package.nupkg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(package);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    as_dotnet(app.client.put(url))
        .header("X-NuGet-ApiKey", key)
        .header("X-NuGet-Protocol-Version", "4.1.0")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary=\"{boundary}\""),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Restore of `id` `version` as NuGet 7 does it: service index, flat-container version list, the
/// .nupkg, then audit's vulnerability index and page. Every answer is checked; the audit page returned.
async fn restore(app: &TestApp, id: &str, version: &str, password: Option<&str>) -> Value {
    let index = get_json(app, &app.url("/v3/index.json"), password).await;
    let flat = resource(&index, "PackageBaseAddress/3.0.0").unwrap();
    let lower = id.to_lowercase();
    let versions = get_json(app, &format!("{flat}{lower}/index.json"), password).await;
    assert!(versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == version));
    let r = get(
        app,
        &format!("{flat}{lower}/{version}/{lower}.{version}.nupkg"),
        password,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().starts_with(b"PK"));
    let audit = resource(&index, "VulnerabilityInfo/6.7.0").unwrap();
    let pages = get_json(app, &audit, password).await;
    check_vulnerability_index(&pages);
    let page_url = pages[0]["@id"].as_str().unwrap().to_string();
    let page = get_json(app, &page_url, password).await;
    check_vulnerability_page(&page);
    page
}

/// §3 of the reference: 1–16 entries, `@name` 1–32 of `[A-Za-z0-9_-]` and unique, `@id`, `@updated`.
fn check_vulnerability_index(index: &Value) {
    let pages = index.as_array().expect("the index is an array");
    assert!((1..=16).contains(&pages.len()), "{index}");
    let mut names = std::collections::HashSet::new();
    for page in pages {
        let name = page["@name"].as_str().unwrap();
        assert!((1..=32).contains(&name.len()));
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert!(names.insert(name.to_string()), "duplicate page {name}");
        assert!(page["@id"].as_str().unwrap().starts_with("http"));
        let updated = page["@updated"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(updated).is_ok(),
            "{updated}"
        );
    }
}

/// A page is an object keyed by lower-case ID, each value a list of `{url, severity 0–3, versions}`.
fn check_vulnerability_page(page: &Value) {
    let entries = page.as_object().expect("a page is an object, even empty");
    for (id, list) in entries {
        assert_eq!(id, &id.to_lowercase());
        for entry in list.as_array().unwrap() {
            assert!(entry["url"].as_str().unwrap().starts_with("http"));
            let severity = entry["severity"].as_u64().expect("severity is a number");
            assert!(severity <= 3);
            let range = entry["versions"].as_str().unwrap();
            assert!(nuget_formats::VersionRange::parse(range).is_ok(), "{range}");
        }
    }
}

#[tokio::test]
async fn restore_and_push_replayed_as_dotnet_10() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["Contoso.*"]).await;

    // Push: the service index, then the multipart PUT to PackagePublish.
    let index = get_json(&app, &app.url("/v3/index.json"), None).await;
    let publish = resource(&index, "PackagePublish/2.0.0").unwrap();
    let r = push(&app, &publish, &key, &simple("Contoso.Modern", "1.0.0")).await;
    assert_eq!(r.status(), 201);
    let r = push(&app, &publish, &key, &simple("Contoso.Modern", "1.0.0")).await;
    assert_eq!(r.status(), 409);

    // Restore, then audit: nothing recorded is an empty page `{}`.
    let page = restore(&app, "Contoso.Modern", "1.0.0", None).await;
    assert_eq!(page, serde_json::json!({}));
    // An http service index lists no https-only details page; nothing in it is another scheme.
    assert_eq!(resource(&index, "PackageDetailsUriTemplate/5.1.0"), None);
    for r in index["resources"].as_array().unwrap() {
        assert!(r["@id"].as_str().unwrap().starts_with(&app.base));
    }
}

#[tokio::test]
async fn a_private_feed_challenges_then_takes_the_read_key_on_every_url() {
    let app = TestApp::start_with(|c| c.read_access = ReadAccess::Private).await;
    let alice = app.user("alice").await;
    let pusher = app.key(&alice, "push", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&pusher, simple("Contoso.Secret", "2.0.0"))
            .await
            .status(),
        201
    );
    let reader = app.key(&alice, "restore", &[Read], &["*"]).await;
    let urls = [
        "/v3/index.json",
        "/v3-flatcontainer/contoso.secret/index.json",
        "/v3-flatcontainer/contoso.secret/2.0.0/contoso.secret.2.0.0.nupkg",
        "/v3/registration-semver2/contoso.secret/index.json",
        "/v3/vulnerabilities/index.json",
        "/v3/vulnerabilities/base.json",
    ];
    // Each URL: anonymous first, a 401 with the Basic challenge, then the same URL with credentials.
    for path in urls {
        let r = get(&app, &app.url(path), None).await;
        assert_eq!(r.status(), 401, "{path}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic realm="), "{challenge}");
        let r = get(&app, &app.url(path), Some(&reader)).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    // A whole restore with the credentials.
    let page = restore(&app, "Contoso.Secret", "2.0.0", Some(&reader)).await;
    assert_eq!(page, serde_json::json!({}));

    // The audit page shows a key only the IDs in its package scope.
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "vulnerability",
            "add",
            "Contoso.Secret",
            "--versions",
            "[2.0.0]",
            "--severity",
            "moderate",
            "--url",
            "https://example.com/advisory/secret",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let narrow = app.key(&alice, "narrow", &[Read], &["Fabrikam.*"]).await;
    let page_url = app.url("/v3/vulnerabilities/base.json");
    assert_eq!(
        get_json(&app, &page_url, Some(&narrow)).await,
        serde_json::json!({})
    );
    let page = get_json(&app, &page_url, Some(&reader)).await;
    check_vulnerability_page(&page);
    assert_eq!(page["contoso.secret"][0]["severity"], 1);
}

/// Runs the `nugate` binary against the server's data, then waits for the server to notice.
async fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let mut cmd = nugate_for(app);
    cmd.args(args);
    let (ok, _, stderr) = run(cmd, "");
    app.after_direct_key_change().await;
    (ok, stderr)
}

#[tokio::test]
async fn deprecate_shows_in_the_registration_leaf_and_search() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;
    for v in ["1.0.0", "2.0.0"] {
        assert_eq!(app.push(&key, simple("Contoso.Old", v)).await.status(), 201);
    }
    // Cache the leaf first, so the change must invalidate it.
    let leaf_path = "/v3/registration-semver2/contoso.old/2.0.0.json";
    assert!(app.json(leaf_path).await["catalogEntry"]
        .get("deprecation")
        .is_none());

    let (ok, err) = cli(
        &app,
        &[
            "package",
            "deprecate",
            "Contoso.Old",
            "--versions",
            "[1.0.0, 2.0.0]",
            "--reason",
            "critical-bugs",
            "--message",
            "Use the new one",
            "--alternate",
            "Contoso.New@[3.0.0, )",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let leaf = app.json(leaf_path).await;
    let deprecation = &leaf["catalogEntry"]["deprecation"];
    assert_eq!(deprecation["reasons"], serde_json::json!(["CriticalBugs"]));
    assert_eq!(deprecation["message"], "Use the new one");
    assert_eq!(deprecation["alternatePackage"]["id"], "Contoso.New");
    assert_eq!(deprecation["alternatePackage"]["range"], "[3.0.0, )");
    // The index inlines the same leaves.
    let index = app
        .json("/v3/registration-semver2/contoso.old/index.json")
        .await;
    let items = index["items"][0]["items"].as_array().unwrap();
    assert!(items
        .iter()
        .all(|i| i["catalogEntry"]["deprecation"]["reasons"][0] == "CriticalBugs"));
    // The gallery page says so.
    let html = app
        .client
        .get(app.url("/packages/Contoso.Old/2.0.0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("deprecated because it has critical bugs"),
        "{html}"
    );
    assert!(html.contains("Use the new one"));
    assert!(html.contains("href=\"/packages/Contoso.New\""));
    // Search shows the latest version's deprecation.
    let search = app.json("/v3/search?q=contoso.old&semVerLevel=2.0.0").await;
    assert_eq!(
        search["data"][0]["deprecation"]["reasons"],
        serde_json::json!(["CriticalBugs"])
    );

    // Bad input is refused with a message.
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "deprecate",
            "Contoso.Old",
            "--versions",
            "[9.0.0]",
            "--reason",
            "legacy",
        ],
    )
    .await;
    assert!(!ok && err.contains("No version"), "{err}");
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "deprecate",
            "Contoso.Old",
            "--versions",
            "1.0",
            "--reason",
            "obsolete",
        ],
    )
    .await;
    assert!(!ok && err.contains("not a reason"), "{err}");

    let (ok, err) = cli(
        &app,
        &[
            "package",
            "undeprecate",
            "Contoso.Old",
            "--versions",
            "[2.0.0]",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(app.json(leaf_path).await["catalogEntry"]
        .get("deprecation")
        .is_none());
    assert!(app
        .json("/v3/registration-semver2/contoso.old/1.0.0.json")
        .await["catalogEntry"]["deprecation"]
        .is_object());
}

#[tokio::test]
async fn vulnerability_add_shows_in_the_audit_files_and_the_leaf() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;
    for v in ["1.0.0", "1.5.0", "2.0.0"] {
        assert_eq!(
            app.push(&key, simple("Contoso.Leaky", v)).await.status(),
            201
        );
    }
    let index_url = app.url("/v3/vulnerabilities/index.json");
    let page_url = app.url("/v3/vulnerabilities/base.json");
    let before = get(&app, &page_url, None).await;
    let etag = before.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(before.text().await.unwrap(), "{}");
    // The HTTP cache: the same content is a 304.
    let r = as_dotnet(app.client.get(&page_url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let advisory = "https://github.com/advisories/GHSA-xxxx-yyyy-zzzz";
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "vulnerability",
            "add",
            "Contoso.Leaky",
            "--versions",
            "[1.0.0, 2.0.0)",
            "--severity",
            "high",
            "--url",
            advisory,
        ],
    )
    .await;
    assert!(ok, "{err}");
    let pages = get_json(&app, &index_url, None).await;
    check_vulnerability_index(&pages);
    let page = get_json(&app, &page_url, None).await;
    check_vulnerability_page(&page);
    assert_eq!(
        page,
        serde_json::json!({ "contoso.leaky": [
            { "url": advisory, "severity": 2, "versions": "[1.0.0, 2.0.0)" }
        ]})
    );
    // The old ETag no longer matches.
    let r = as_dotnet(app.client.get(&page_url))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Leaves inside the range carry it, with the severity as a string; the one outside does not.
    let leaf = app
        .json("/v3/registration-semver2/contoso.leaky/1.5.0.json")
        .await;
    assert_eq!(
        leaf["catalogEntry"]["vulnerabilities"][0]["advisoryUrl"],
        advisory
    );
    assert_eq!(leaf["catalogEntry"]["vulnerabilities"][0]["severity"], "2");
    let html = app
        .client
        .get(app.url("/packages/Contoso.Leaky/1.5.0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("known vulnerabilities") && html.contains(advisory));
    let leaf = app
        .json("/v3/registration-semver2/contoso.leaky/2.0.0.json")
        .await;
    assert!(leaf["catalogEntry"].get("vulnerabilities").is_none());

    let (ok, err) = cli(
        &app,
        &[
            "package",
            "vulnerability",
            "add",
            "Contoso.Leaky",
            "--versions",
            "[1.0.0]",
            "--severity",
            "severe",
            "--url",
            advisory,
        ],
    )
    .await;
    assert!(!ok && err.contains("not a severity"), "{err}");
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "vulnerability",
            "remove",
            "Contoso.Leaky",
            "--url",
            advisory,
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(get_json(&app, &page_url, None).await, serde_json::json!({}));
}

#[tokio::test]
async fn readme_template_serves_the_readme_or_404_and_details_only_over_https() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;
    let with_readme = nupkg(&Pkg {
        extra_metadata: "<readme>README.md</readme>",
        files: &[("README.md", b"# Contoso\n\nHello.\n")],
        ..Pkg::new("Contoso.Readme", "1.0.0")
    });
    assert_eq!(app.push(&key, with_readme).await.status(), 201);
    assert_eq!(
        app.push(&key, simple("Contoso.Plain", "1.0.0"))
            .await
            .status(),
        201
    );
    let index = app.json("/v3/index.json").await;
    let template = resource(&index, "ReadmeUriTemplate/6.13.0").unwrap();
    let url = |id: &str| {
        template
            .replace("{lower_id}", id)
            .replace("{lower_version}", "1.0.0")
    };
    let r = get(&app, &url("contoso.readme"), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert_eq!(r.text().await.unwrap(), "# Contoso\n\nHello.\n");
    assert_eq!(get(&app, &url("contoso.plain"), None).await.status(), 404);
    assert_eq!(get(&app, &url("contoso.missing"), None).await.status(), 404);

    let https =
        TestApp::start_with(|c| c.public_url = Some("https://nuget.example.com".to_string())).await;
    let index = https.json("/v3/index.json").await;
    assert_eq!(
        resource(&index, "PackageDetailsUriTemplate/5.1.0").as_deref(),
        Some("https://nuget.example.com/packages/{id}/{version}")
    );
}

/// The protocol fields that must be JSON numbers or booleans wherever they appear (NuGet 7.8+ parses
/// strictly), checked by walking a document.
fn check_types(path: &str, value: &Value) {
    const NUMBERS: &[&str] = &[
        "count",
        "totalHits",
        "downloads",
        "totalDownloads",
        "packageSize",
    ];
    const BOOLEANS: &[&str] = &[
        "listed",
        "verified",
        "requireLicenseAcceptance",
        "serviceable",
    ];
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if NUMBERS.contains(&k.as_str()) {
                    assert!(v.is_number(), "{path}: {k} is {v}");
                }
                if BOOLEANS.contains(&k.as_str()) {
                    assert!(v.is_boolean(), "{path}: {k} is {v}");
                }
                if k == "severity" && path.contains("/v3/vulnerabilities/") {
                    assert!(v.is_number(), "{path}: {k} is {v}");
                }
                check_types(path, v);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| check_types(path, i)),
        _ => {}
    }
}

#[tokio::test]
async fn every_document_has_json_numbers_and_booleans() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push, Unlist], &["*"]).await;
    for v in ["1.0.0", "1.1.0-beta", "2.0.0+build"] {
        assert_eq!(
            app.push(&key, simple("Contoso.Types", v)).await.status(),
            201
        );
    }
    assert_eq!(
        app.set_listed(&key, "Contoso.Types", "1.0.0", false)
            .await
            .status(),
        204
    );
    let (ok, err) = cli(
        &app,
        &[
            "package",
            "vulnerability",
            "add",
            "Contoso.Types",
            "--versions",
            "[1.0.0, )",
            "--severity",
            "critical",
            "--url",
            "https://example.com/advisory/1",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let mut checked = 0;
    for path in [
        "/v3/index.json",
        "/v3-flatcontainer/contoso.types/index.json",
        "/v3/registration/contoso.types/index.json",
        "/v3/registration-semver2/contoso.types/index.json",
        "/v3/registration-semver2/contoso.types/1.0.0.json",
        "/v3/registration-semver2/contoso.types/2.0.0.json",
        "/v3/search?q=contoso&prerelease=true&semVerLevel=2.0.0",
        "/v3/search?q=contoso",
        "/v3/autocomplete?q=contoso&prerelease=true&semVerLevel=2.0.0",
        "/v3/autocomplete?id=contoso.types&prerelease=true&semVerLevel=2.0.0",
        "/v3/vulnerabilities/index.json",
        "/v3/vulnerabilities/base.json",
    ] {
        let doc = get_json(&app, &app.url(path), None).await;
        check_types(path, &doc);
        checked += 1;
    }
    assert_eq!(checked, 12);
    let page = app.json("/v3/vulnerabilities/base.json").await;
    assert_eq!(page["contoso.types"][0]["severity"], 3);
    let search = app
        .json("/v3/search?q=contoso.types&prerelease=true&semVerLevel=2.0.0")
        .await;
    assert_eq!(search["totalHits"], 1);
    assert_eq!(search["data"][0]["vulnerabilities"][0]["severity"], "3");
}

#[tokio::test]
async fn owners_deprecate_from_the_package_page() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    app.user("mallory").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Contoso.Web", "1.0.0"))
            .await
            .status(),
        201
    );
    let owner = crate::web::Browser::new(&app);
    owner.sign_in("alice", "correct horse battery").await;
    let page = "/packages/Contoso.Web/1.0.0";
    assert!(owner.get(page).await.1.contains("Deprecate this version"));
    let r = owner
        .post(
            page,
            "/packages/Contoso.Web/1.0.0/deprecation",
            &[
                ("reason", "legacy"),
                ("message", "Moved"),
                ("alternate", "Contoso.Next"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let leaf = app
        .json("/v3/registration-semver2/contoso.web/1.0.0.json")
        .await;
    let deprecation = &leaf["catalogEntry"]["deprecation"];
    assert_eq!(deprecation["reasons"], serde_json::json!(["Legacy"]));
    assert_eq!(deprecation["alternatePackage"]["range"], "*");
    assert!(owner.get(page).await.1.contains("no longer maintained"));

    // Someone else: the version does not exist for them, and nothing changes.
    let other = crate::web::Browser::new(&app);
    other.sign_in("mallory", "correct horse battery").await;
    let r = other
        .post(
            "/packages/Contoso.Web",
            "/packages/Contoso.Web/1.0.0/deprecation",
            &[("reason", "none")],
        )
        .await;
    assert_eq!(r.status(), 404);
    // A bad alternate is refused with the reason.
    let r = owner
        .post(
            page,
            "/packages/Contoso.Web/1.0.0/deprecation",
            &[("reason", "legacy"), ("alternate", "not an id!")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("is not a package ID"));
    // "Other" needs a message, as on NuGet.org.
    let r = owner
        .post(
            page,
            "/packages/Contoso.Web/1.0.0/deprecation",
            &[("reason", "other"), ("message", "  ")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("You must add a custom message"));

    let r = owner
        .post(
            page,
            "/packages/Contoso.Web/1.0.0/deprecation",
            &[("reason", "none")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let leaf = app
        .json("/v3/registration-semver2/contoso.web/1.0.0.json")
        .await;
    assert!(leaf["catalogEntry"].get("deprecation").is_none());
}

/// NuGet.org's deprecation API, `PUT /api/v2/package/{id}/deprecations`, with an unlist key: reasons
/// combine, the alternate must exist, its checks answer with NuGet.org's statuses and messages, nothing
/// changes when one fails, and all flags false lifts the deprecation (here while unlisting, in one call).
#[tokio::test]
async fn deprecate_through_the_api_with_an_unlist_key_as_nuget_org_allows() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let pusher = app.key(&alice, "ci", &[Push], &["*"]).await;
    for (id, v) in [
        ("Contoso.Old", "1.0.0"),
        ("Contoso.Old", "2.0.0"),
        ("Contoso.New", "3.0.0"),
    ] {
        assert_eq!(app.push(&pusher, simple(id, v)).await.status(), 201);
    }
    let unlister = app.key(&alice, "unlist", &[Unlist], &["Contoso.Old"]).await;
    let url = app.url("/api/v2/package/Contoso.Old/deprecations");
    let form = |key: Option<&str>, body: String| {
        let mut request = app
            .client
            .put(&url)
            .header("User-Agent", USER_AGENT)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(key) = key {
            request = request.header("X-NuGet-ApiKey", key);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let leaf = |v: &'static str| {
        let app = &app;
        async move {
            app.json(&format!("/v3/registration-semver2/contoso.old/{v}.json"))
                .await
        }
    };
    let good = "versions%5B0%5D=1.0.0&versions%5B1%5D=2.0.0&isLegacy=true&hasCriticalBugs=true\
                &alternatePackageId=Contoso.New&alternatePackageVersion=3.0.0&message=Moved";
    assert_eq!(form(None, good.into()).await.0, 401);
    // A key that may push but not unlist, one for another ID and one of a user who owns nothing are
    // all refused with NuGet.org's 403.
    let bob = app.user("bob").await;
    for key in [
        pusher.clone(),
        app.key(&alice, "other", &[Unlist], &["Contoso.New"]).await,
        app.key(&bob, "bob", &[Unlist], &["*"]).await,
    ] {
        let (status, body) = form(Some(&key), good.into()).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("does not have permission"), "{body}");
    }
    // Each failing check, with nothing changed.
    let refusals: [(&str, u16, &str); 8] = [
        ("versions[0]=1.0.0&isOther=true", 400, "You must add a custom message if you are deprecating a package due to another reason!"),
        ("isLegacy=true", 400, "You must select at least one version to deprecate!"),
        ("versions[0]=1.0.0&versions[1]=9.9.9&isLegacy=true", 404, "At least one version of package 'Contoso.Old' specified could not be found."),
        ("versions[0]=1.0.0&isLegacy=true&alternatePackageId=Nope.Lib", 400, "Alternate package 'Nope.Lib' does not exist."),
        ("versions[0]=1.0.0&isLegacy=true&alternatePackageId=Contoso.New&alternatePackageVersion=9.0.0", 400, "Alternate package 'Contoso.New 9.0.0' does not exist."),
        ("versions[0]=1.0.0&isLegacy=true&alternatePackageId=contoso.old", 400, "A package cannot be the alternate package of itself."),
        ("versions[0]=1.0.0&isLegacy=maybe", 400, "'isLegacy' must be true or false."),
        ("versions[0]=1.0.0&listedVerb=Hide&isLegacy=true", 400, "'listedVerb' must be Unchanged, Unlist or Relist."),
    ];
    for (body, status, message) in refusals {
        let (got, text) = form(Some(&unlister), body.into()).await;
        assert_eq!((got, text.as_str()), (status, message), "{body}");
    }
    let long = format!(
        "versions[0]=1.0.0&isLegacy=true&message={}",
        "m".repeat(1001)
    );
    assert_eq!(
        form(Some(&unlister), long).await,
        (
            400,
            "Your custom message is too long. It must be under 1000 characters.".into()
        )
    );
    let unknown = app
        .client
        .put(app.url("/api/v2/package/Nope.Lib/deprecations"))
        .header("X-NuGet-ApiKey", &unlister)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.text().await.unwrap(),
        "There are no packages with ID 'Nope.Lib'."
    );
    assert!(leaf("1.0.0").await["catalogEntry"]
        .get("deprecation")
        .is_none());

    // The right key and fields: both versions, both reasons, the alternate as a range from its version.
    let (status, body) = form(Some(&unlister), good.into()).await;
    assert_eq!(status, 200, "{body}");
    for v in ["1.0.0", "2.0.0"] {
        let deprecation = leaf(v).await["catalogEntry"]["deprecation"].clone();
        assert_eq!(
            deprecation["reasons"],
            serde_json::json!(["Legacy", "CriticalBugs"])
        );
        assert_eq!(deprecation["message"], "Moved");
        assert_eq!(deprecation["alternatePackage"]["id"], "Contoso.New");
        assert_eq!(deprecation["alternatePackage"]["range"], "[3.0.0, )");
    }
    let search = app.json("/v3/search?q=contoso.old&semVerLevel=2.0.0").await;
    assert_eq!(
        search["data"][0]["deprecation"]["reasons"],
        serde_json::json!(["Legacy", "CriticalBugs"])
    );
    let html = app
        .client
        .get(app.url("/packages/Contoso.Old/2.0.0"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("deprecated because it is no longer maintained and it has critical bugs"),
        "{html}"
    );

    // JSON, as tools written for NuGet.org send it: no reason lifts the deprecation, and the listing
    // changes in the same call.
    let lifted = app
        .client
        .put(&url)
        .header("User-Agent", USER_AGENT)
        .header("X-NuGet-ApiKey", &unlister)
        .json(&serde_json::json!({
            "versions": ["2.0.0"],
            "isLegacy": false,
            "hasCriticalBugs": false,
            "isOther": false,
            "listedVerb": "Unlist"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 200);
    let entry = leaf("2.0.0").await["catalogEntry"].clone();
    assert!(entry.get("deprecation").is_none(), "{entry}");
    assert_eq!(entry["listed"], false);
    assert_eq!(
        leaf("1.0.0").await["catalogEntry"]["deprecation"]["message"],
        "Moved",
        "versions not named keep their deprecation"
    );
}
