//! The NuGet V3 protocol over HTTP: status codes, bodies and headers.

use nugate::model::key::KeyAction::{self, *};
use serde_json::Value;

use crate::helpers::{nupkg, simple, Pkg, TestApp};

const ALL: &[KeyAction] = &[Push, Unlist];

#[tokio::test]
async fn service_index_lists_every_resource_type_with_absolute_ids() {
    let app = TestApp::start().await;
    let index = app.json("/v3/index.json").await;
    assert_eq!(index["version"], "3.0.0");
    let resources = index["resources"].as_array().unwrap();
    let find = |t: &str| -> String {
        resources
            .iter()
            .find(|r| r["@type"] == t)
            .unwrap_or_else(|| panic!("missing {t}"))["@id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(find("PackagePublish/2.0.0"), app.url("/api/v2/package"));
    assert_eq!(
        find("PackageBaseAddress/3.0.0"),
        app.url("/v3-flatcontainer/")
    );
    for suffix in [
        "",
        "/Versioned",
        "/3.0.0-beta",
        "/3.0.0-rc",
        "/3.4.0",
        "/3.6.0",
    ] {
        assert!(find(&format!("RegistrationsBaseUrl{suffix}")).starts_with(&app.base));
    }
    assert_eq!(
        find("RegistrationsBaseUrl/3.6.0"),
        app.url("/v3/registration-semver2/")
    );
    assert_eq!(
        find("RegistrationsBaseUrl/3.4.0"),
        app.url("/v3/registration/")
    );
    for suffix in [
        "",
        "/Versioned",
        "/3.0.0-beta",
        "/3.0.0-rc",
        "/3.4.0",
        "/3.5.0",
    ] {
        assert_eq!(
            find(&format!("SearchQueryService{suffix}")),
            app.url("/v3/search")
        );
        assert_eq!(
            find(&format!("SearchAutocompleteService{suffix}")),
            app.url("/v3/autocomplete")
        );
    }
    // Clients ignore the details page unless it is https: an http feed does not list it.
    assert!(!resources
        .iter()
        .any(|r| r["@type"] == "PackageDetailsUriTemplate/5.1.0"));
    assert_eq!(
        find("VulnerabilityInfo/6.7.0"),
        app.url("/v3/vulnerabilities/index.json")
    );
    assert!(find("ReadmeUriTemplate/6.13.0").ends_with("/{lower_id}/{lower_version}/readme"));
    // HEAD works too.
    let head = app
        .client
        .head(app.url("/v3/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
}

#[tokio::test]
async fn push_then_every_read_endpoint_serves_it() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", ALL, &["Contoso.*"]).await;
    let dep = simple("Contoso.Base", "2.0.0");
    assert_eq!(app.push_multipart(&key, &dep).await.status(), 201);
    let package = nupkg(&Pkg {
        deps: &[("Contoso.Base", "2.0")],
        extra_metadata: "<title>The Lib</title><projectUrl>https://example.com/lib</projectUrl>",
        ..Pkg::new("Contoso.Lib", "1.0.0.0")
    });
    let response = app.push_multipart(&key, &package).await;
    assert_eq!(response.status(), 201);

    // Flat container: lower-case, normalised.
    let versions = app.json("/v3-flatcontainer/contoso.lib/index.json").await;
    assert_eq!(versions["versions"], serde_json::json!(["1.0.0"]));
    let download = app
        .client
        .get(app.url("/v3-flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-type"],
        "application/octet-stream"
    );
    assert!(download.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = download.headers()["etag"].to_str().unwrap().to_string();
    assert!(download.headers().contains_key("last-modified"));
    assert_eq!(download.bytes().await.unwrap().as_ref(), package.as_slice());
    let again = app
        .client
        .get(app.url("/v3-flatcontainer/Contoso.Lib/1.0.0/contoso.lib.1.0.0.nupkg"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let nuspec = app
        .client
        .get(app.url("/v3-flatcontainer/contoso.lib/1.0.0/contoso.lib.nuspec"))
        .send()
        .await
        .unwrap();
    assert_eq!(nuspec.status(), 200);
    assert!(nuspec
        .text()
        .await
        .unwrap()
        .contains("<id>Contoso.Lib</id>"));
    // V2 download URL, with the version as typed.
    let v2 = app
        .client
        .get(app.url("/api/v2/package/contoso.lib/1.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);

    // Registration: inline page, leaf with packageContent, dependencies with ranges.
    let reg = app.json("/v3/registration/contoso.lib/index.json").await;
    assert_eq!(reg["count"], 1);
    let page = &reg["items"][0];
    assert_eq!(page["lower"], "1.0.0");
    assert_eq!(page["upper"], "1.0.0");
    let leaf = &page["items"][0];
    assert_eq!(
        leaf["packageContent"],
        app.url("/v3-flatcontainer/contoso.lib/1.0.0/contoso.lib.1.0.0.nupkg")
    );
    let entry = &leaf["catalogEntry"];
    assert_eq!(entry["id"], "Contoso.Lib");
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["listed"], true);
    assert_eq!(entry["title"], "The Lib");
    assert_eq!(entry["projectUrl"], "https://example.com/lib");
    let group = &entry["dependencyGroups"][0];
    assert_eq!(group["targetFramework"], ".NETStandard2.0");
    assert_eq!(group["dependencies"][0]["id"], "Contoso.Base");
    assert_eq!(group["dependencies"][0]["range"], "[2.0.0, )");
    let leaf_doc = app.json("/v3/registration/contoso.lib/1.0.0.json").await;
    assert_eq!(leaf_doc["listed"], true);
    assert!(leaf_doc["packageContent"]
        .as_str()
        .unwrap()
        .ends_with(".nupkg"));

    // Search and autocomplete.
    let search = app
        .json("/v3/search?q=contoso&prerelease=false&semVerLevel=2.0.0")
        .await;
    assert_eq!(search["totalHits"], 2);
    let ids: Vec<&str> = search["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["Contoso.Base", "Contoso.Lib"]);
    let exact = app.json("/v3/search?q=Contoso.Lib").await;
    assert_eq!(
        exact["data"][0]["id"], "Contoso.Lib",
        "exact ID match ranks first"
    );
    assert_eq!(exact["data"][0]["version"], "1.0.0");
    assert_eq!(exact["data"][0]["owners"], serde_json::json!(["alice"]));
    assert_eq!(exact["data"][0]["versions"][0]["version"], "1.0.0");
    let auto = app.json("/v3/autocomplete?q=contoso.l").await;
    assert_eq!(auto["data"], serde_json::json!(["Contoso.Lib"]));
    let auto_versions = app.json("/v3/autocomplete?id=CONTOSO.LIB").await;
    assert_eq!(auto_versions["data"], serde_json::json!(["1.0.0"]));
}

#[tokio::test]
async fn search_fields_paging_and_filters() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let ka = app.key(&alice, "a", ALL, &["*"]).await;
    let kb = app.key(&bob, "b", ALL, &["*"]).await;
    for i in 0..5 {
        assert_eq!(
            app.push(&ka, simple(&format!("Alpha.P{i}"), "1.0.0"))
                .await
                .status(),
            201
        );
    }
    assert_eq!(
        app.push(
            &kb,
            nupkg(&Pkg {
                extra_metadata: "<tags>special web</tags>",
                ..Pkg::new("Beta.Web", "1.0.0")
            })
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.push(&kb, simple("Beta.Pre", "2.0.0-rc1"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.push(&kb, simple("Beta.Sem2", "1.0.0-rc.1"))
            .await
            .status(),
        201
    );

    let owner = app
        .json("/v3/search?q=owner:bob&prerelease=true&semVerLevel=2.0.0")
        .await;
    assert_eq!(owner["totalHits"], 3);
    let tag = app.json("/v3/search?q=tags:special").await;
    assert_eq!(tag["totalHits"], 1);
    assert_eq!(tag["data"][0]["id"], "Beta.Web");
    let packageid = app.json("/v3/search?q=packageid:alpha.p3").await;
    assert_eq!(packageid["totalHits"], 1);
    let paged = app.json("/v3/search?q=id:alpha&skip=1&take=2").await;
    assert_eq!(paged["totalHits"], 5);
    assert_eq!(paged["data"].as_array().unwrap().len(), 2);
    assert_eq!(paged["data"][0]["id"], "Alpha.P1");
    // Prerelease hidden by default; SemVer 2 hidden without semVerLevel=2.0.0.
    let all = app.json("/v3/search?q=beta").await;
    assert_eq!(all["totalHits"], 1);
    let pre = app.json("/v3/search?q=beta&prerelease=true").await;
    assert_eq!(pre["totalHits"], 2);
    let sem2 = app
        .json("/v3/search?q=beta&prerelease=true&semVerLevel=2.0.0")
        .await;
    assert_eq!(sem2["totalHits"], 3);
    // Bad paging is a 400 with a message.
    let bad = app
        .client
        .get(app.url("/v3/search?take=5000"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("at most 1000"));
    let bad = app
        .client
        .get(app.url("/v3/search?skip=-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let typed = app.json("/v3/search?packageType=Dependency&q=alpha").await;
    assert_eq!(typed["totalHits"], 5);
    let none = app.json("/v3/search?packageType=DotnetTool&q=alpha").await;
    assert_eq!(none["totalHits"], 0);
}

#[tokio::test]
async fn semver2_versions_only_in_the_semver2_hive() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Sem.Lib", "1.0.0")).await.status(),
        201
    );
    assert_eq!(
        app.push(&key, simple("Sem.Lib", "2.0.0-beta.1+build.5"))
            .await
            .status(),
        201
    );
    let old = app.json("/v3/registration/sem.lib/index.json").await;
    assert_eq!(old["items"][0]["upper"], "1.0.0");
    let new = app
        .json("/v3/registration-semver2/sem.lib/index.json")
        .await;
    assert_eq!(new["items"][0]["upper"], "2.0.0-beta.1");
    assert_eq!(
        new["items"][0]["items"][1]["catalogEntry"]["version"],
        "2.0.0-beta.1+build.5"
    );
    let flat = app.json("/v3-flatcontainer/sem.lib/index.json").await;
    assert_eq!(
        flat["versions"],
        serde_json::json!(["1.0.0", "2.0.0-beta.1"])
    );
    let leaf = app
        .client
        .get(app.url("/v3/registration/sem.lib/2.0.0-beta.1.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(leaf.status(), 404);
}

#[tokio::test]
async fn large_registrations_are_paged() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    for i in 0..130 {
        let response = app
            .push(&key, simple("Many.Versions", &format!("1.0.{i}")))
            .await;
        assert_eq!(response.status(), 201);
    }
    let index = app.json("/v3/registration/many.versions/index.json").await;
    assert_eq!(index["count"], 3);
    let pages = index["items"].as_array().unwrap();
    assert!(
        pages.iter().all(|p| p.get("items").is_none()),
        "large registrations reference pages"
    );
    assert_eq!(pages[0]["lower"], "1.0.0");
    assert_eq!(pages[0]["upper"], "1.0.63");
    assert_eq!(pages[2]["upper"], "1.0.129");
    let mut total = 0;
    for page in pages {
        let url = page["@id"]
            .as_str()
            .unwrap()
            .strip_prefix(&app.base)
            .unwrap()
            .to_string();
        let doc = app.json(&url).await;
        let items = doc["items"].as_array().unwrap();
        total += items.len();
        assert!(items.iter().all(|i| i["packageContent"].is_string()));
    }
    assert_eq!(total, 130);
}

#[tokio::test]
async fn duplicate_push_is_409_with_nuget_org_message_as_reason_phrase() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Dup.Lib", "1.0.0")).await.status(),
        201
    );
    // Same version in another spelling, even after unlisting: published versions are immutable.
    assert_eq!(
        app.set_listed(&key, "dup.lib", "1.0.0", false)
            .await
            .status(),
        204
    );
    let package = simple("Dup.Lib", "1.0");
    let request = [
        format!(
            "PUT /api/v2/package/ HTTP/1.1\r\nHost: {}\r\nX-NuGet-ApiKey: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.addr,
            package.len()
        )
        .into_bytes(),
        package,
    ]
    .concat();
    let (status, rest) = app.raw(&request).await;
    let message =
        "A package with ID 'Dup.Lib' and version '1.0.0' already exists and cannot be modified.";
    assert_eq!(status, format!("HTTP/1.1 409 {message}"));
    assert!(rest.ends_with(message));
}

#[tokio::test]
async fn concurrent_pushes_of_one_version_yield_exactly_one_201() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    let package = simple("Race.Lib", "1.0.0");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let client = app.client.clone();
        let url = app.url("/api/v2/package");
        let key = key.clone();
        let body = package.clone();
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
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    // Also a brand-new ID raced by two users: one wins, the other is refused, no second owner appears.
    let bob = app.user("bob").await;
    let kb = app.key(&bob, "k", ALL, &["*"]).await;
    let (a, b) = tokio::join!(
        app.push(&key, simple("Race.New", "1.0.0")),
        app.push(&kb, simple("Race.New", "1.0.0"))
    );
    let mut pair = [a.status().as_u16(), b.status().as_u16()];
    pair.sort();
    assert!(pair == [201, 403] || pair == [201, 409], "{pair:?}");
}

#[tokio::test]
async fn captured_client_bodies_of_every_nuget_version_are_accepted() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures");
    for version in ["287", "344", "471", "492", "580"] {
        let app = TestApp::start().await;
        let alice = app.user("alice").await;
        let key = app.key(&alice, "k", ALL, &["*"]).await;
        let body = std::fs::read(dir.join(format!("nuget-{version}-push.body"))).unwrap();
        let first_line = body.split(|b| *b == b'\r').next().unwrap();
        let boundary = String::from_utf8_lossy(&first_line[2..]).to_string();
        let content_type = if version == "287" {
            format!("multipart/form-data; boundary={boundary}")
        } else {
            format!("multipart/form-data; boundary=\"{boundary}\"")
        };
        let response = app
            .client
            .put(app.url("/api/v2/package/"))
            .header("X-NuGet-ApiKey", &key)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            201,
            "nuget {version}: {}",
            response.text().await.unwrap()
        );
        let versions = app.json("/v3-flatcontainer/contoso.lib/index.json").await;
        assert_eq!(
            versions["versions"],
            serde_json::json!(["1.0.0"]),
            "nuget {version}"
        );
    }
}

#[tokio::test]
async fn chunked_bodies_and_http_1_0_pushes_work() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    let package = simple("Chunky.Lib", "1.0.0");
    let mut request = format!(
        "PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in package.chunks(100) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = app.raw(&request).await;
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
    let package = simple("Old.Client", "1.0.0");
    let request = [
        format!(
            "PUT /api/v2/package/ HTTP/1.0\r\nX-NuGet-ApiKey: {key}\r\nContent-Length: {}\r\n\r\n",
            package.len()
        )
        .into_bytes(),
        package,
    ]
    .concat();
    let (status, _) = app.raw(&request).await;
    assert!(
        status.starts_with("HTTP/1.0 201") || status.starts_with("HTTP/1.1 201"),
        "{status}"
    );
}

#[tokio::test]
async fn invalid_and_oversized_packages_are_refused_with_messages() {
    let app = TestApp::start_with(|c| c.max_package_size = 64 * 1024).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    let not_zip = app.push(&key, b"this is not a zip".to_vec()).await;
    assert_eq!(not_zip.status(), 400);
    assert!(not_zip.text().await.unwrap().contains("zip"));
    let bad_id = app.push(&key, simple("Bad Id!", "1.0.0")).await;
    assert_eq!(bad_id.status(), 400);
    let bad_version = app.push(&key, simple("Good.Id", "1.0.0.0.0")).await;
    assert_eq!(bad_version.status(), 400);
    let empty = app.push(&key, Vec::new()).await;
    assert_eq!(empty.status(), 400);
    // Too large, with and without Content-Length.
    let big = vec![b'x'; 200 * 1024];
    let too_big = app.push(&key, big.clone()).await;
    assert_eq!(too_big.status(), 413);
    // The client's next request goes through.
    let after = app.push(&key, simple("After.Refusal", "1.0.0")).await;
    assert_eq!(after.status(), 201);
    let stream = futures_util::stream::iter(
        big.chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .client
        .put(app.url("/api/v2/package"))
        .header("X-NuGet-ApiKey", &key)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server may close the connection while the client is still sending; either way no package.
    if let Ok(response) = chunked {
        assert_eq!(response.status(), 413);
    }
    // Nothing is left behind in the upload folder.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let leftovers = std::fs::read_dir(app.data_dir().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn a_refusal_closes_the_connection_only_when_it_leaves_the_body_unread() {
    let app = TestApp::start_with(|c| c.max_package_size = 64 * 1024).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    // A push without a key is refused after its body is read: the same connection carries the next
    // request (sent right behind it), and the refusal does not say `Connection: close`.
    let package = simple("Keep.Alive", "1.0.0");
    let keyless_then_read = [
        format!(
            "PUT /api/v2/package/ HTTP/1.1\r\nHost: feed\r\nContent-Length: {}\r\n\r\n",
            package.len()
        )
        .into_bytes(),
        package,
        b"GET /v3/index.json HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n".to_vec(),
    ]
    .concat();
    let (status, rest) = app.raw(&keyless_then_read).await;
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    let (refusal, next) = rest
        .split_once("HTTP/1.1 ")
        .expect("a second answer on the same connection");
    assert!(next.starts_with("200"), "{next}");
    assert!(
        !refusal.to_ascii_lowercase().contains("connection: close"),
        "{refusal}"
    );
    // A package declared far over the limit whose upload stalls is refused without waiting for the
    // rest, which is left unread: the answer says `Connection: close`, and the connection ends.
    let stalled = [
        format!(
            "PUT /api/v2/package/ HTTP/1.1\r\nHost: feed\r\nX-NuGet-ApiKey: {key}\r\n\
             Content-Length: 1000000\r\n\r\n"
        )
        .into_bytes(),
        vec![b'x'; 1000],
    ]
    .concat();
    let answered = tokio::time::timeout(std::time::Duration::from_secs(20), app.raw(&stalled));
    let (status, rest) = answered.await.expect("the server ends the connection");
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(
        rest.to_ascii_lowercase().contains("connection: close"),
        "{rest}"
    );
}

#[tokio::test]
async fn unlist_hides_from_search_but_exact_restore_keeps_working() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Hide.Me", "1.0.0")).await.status(),
        201
    );
    assert_eq!(
        app.push(&key, simple("Hide.Me", "1.1.0-beta"))
            .await
            .status(),
        201
    );
    // As typed by a user: other case, short version.
    let unlisted = app.set_listed(&key, "hide.me", "1.0", false).await;
    assert_eq!(unlisted.status(), 204);
    let search = app.json("/v3/search?q=hide.me").await;
    assert_eq!(search["totalHits"], 0);
    let flat = app.json("/v3-flatcontainer/hide.me/index.json").await;
    assert_eq!(flat["versions"], serde_json::json!(["1.0.0", "1.1.0-beta"]));
    let reg = app.json("/v3/registration/hide.me/index.json").await;
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["listed"], false);
    let download = app
        .client
        .get(app.url("/v3-flatcontainer/hide.me/1.0.0/hide.me.1.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let relisted = app.set_listed(&key, "HIDE.ME", "1.0.0.0", true).await;
    assert_eq!(relisted.status(), 200);
    let search = app.json("/v3/search?q=hide.me").await;
    assert_eq!(search["totalHits"], 1);
    let missing = app.set_listed(&key, "Hide.Me", "9.9.9", false).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.text().await.unwrap(),
        "A package with ID 'Hide.Me' and version '9.9.9' does not exist."
    );
    let missing = app.set_listed(&key, "No.Such", "1.0.0", true).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn unknown_resources_are_404_with_messages_and_responses_are_gzipped_when_asked() {
    let app = TestApp::start().await;
    for path in [
        "/v3-flatcontainer/nope/index.json",
        "/v3/registration/nope/index.json",
        "/v3-flatcontainer/nope/1.0.0/nope.1.0.0.nupkg",
        "/nothing/here",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(!response.text().await.unwrap().is_empty());
    }
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    for i in 0..20 {
        app.push(&key, simple("Gz.Lib", &format!("1.0.{i}"))).await;
    }
    let (status, rest) = app
        .raw(format!("GET /v3/registration/gz.lib/index.json HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n", app.addr).as_bytes())
        .await;
    assert!(status.contains("200"), "{status}");
    assert!(
        rest.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{rest}"
    );
    assert!(rest
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    // The gzip copy is compressed once and kept: it decodes to exactly the plain document, every time.
    let plain = app.json("/v3/registration/gz.lib/index.json").await;
    for _ in 0..2 {
        let response = app
            .client
            .get(app.url("/v3/registration/gz.lib/index.json"))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], "gzip");
        let compressed = response.bytes().await.unwrap();
        let mut decoded = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(compressed.as_ref()),
            &mut decoded,
        )
        .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&decoded).unwrap(), plain);
    }
    // A client that refuses gzip gets the plain document.
    let refused = app
        .client
        .get(app.url("/v3/registration/gz.lib/index.json"))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(!refused.headers().contains_key("content-encoding"));
    // Caches must keep the two copies apart, so the plain copy says it varies too.
    assert_eq!(refused.headers()["vary"], "accept-encoding");
    assert_eq!(refused.json::<Value>().await.unwrap(), plain);
    // Routes that do not encode their own bodies (search, the V2 feed, pages) go through the compression
    // layer, which also names what the response varies with.
    for path in [
        "/v3/search?q=gz",
        "/api/v2/FindPackagesById()?id='Gz.Lib'",
        "/packages/Gz.Lib",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
        assert!(
            response.headers()["vary"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{path}"
        );
    }
    let live = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}

#[tokio::test]
async fn cached_documents_carry_tags_and_a_client_holding_one_gets_304() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    for i in 0..20 {
        app.push(&key, simple("Tag.Lib", &format!("1.0.{i}"))).await;
    }
    let get = |path: &'static str, gzip: bool, tag: Option<String>| {
        let mut request = app.client.get(app.url(path));
        if gzip {
            request = request.header("Accept-Encoding", "gzip");
        }
        if let Some(tag) = tag {
            request = request.header("If-None-Match", tag);
        }
        request.send()
    };
    for path in [
        "/v3/registration/tag.lib/index.json",
        "/v3-flatcontainer/tag.lib/index.json",
    ] {
        let first = get(path, false, None).await.unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let tag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{path}: {tag}");
        // The same copy again: 304, no body, the same tag; a weak or listed tag matches too.
        for held in [tag.clone(), format!("W/{tag}"), format!("\"other\", {tag}")] {
            let again = get(path, false, Some(held.clone())).await.unwrap();
            assert_eq!(again.status(), 304, "{path} with {held}");
            assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
            assert!(again.bytes().await.unwrap().is_empty());
        }
        // Another tag gets the document.
        let other = get(path, false, Some("\"stale\"".into())).await.unwrap();
        assert_eq!(other.status(), 200, "{path}");
        assert_eq!(other.headers()["etag"].to_str().unwrap(), tag);
    }
    // The gzip copy has a tag of its own, and a 304 answers a client holding it.
    let path = "/v3/registration/tag.lib/index.json";
    let zipped = get(path, true, None).await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped_tag = zipped.headers()["etag"].to_str().unwrap().to_string();
    let plain_tag = get(path, false, None).await.unwrap().headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(zipped_tag, plain_tag);
    let held = get(path, true, Some(zipped_tag.clone())).await.unwrap();
    assert_eq!(held.status(), 304);
    assert_eq!(held.headers()["etag"].to_str().unwrap(), zipped_tag);
    // A new version changes the document, so the tag held is stale.
    app.push(&key, simple("Tag.Lib", "2.0.0")).await;
    let changed = get(path, false, Some(plain_tag.clone())).await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), plain_tag);
    assert!(changed.text().await.unwrap().contains("2.0.0"));
}

#[tokio::test]
async fn forwarded_headers_are_only_believed_from_trusted_proxies() {
    let untrusted = TestApp::start().await;
    let index: Value = untrusted
        .client
        .get(untrusted.url("/v3/index.json"))
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(index["resources"][0]["@id"]
        .as_str()
        .unwrap()
        .starts_with(&untrusted.base));
    let trusted =
        TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let index: Value = trusted
        .client
        .get(trusted.url("/v3/index.json"))
        .header("X-Forwarded-Host", "nuget.example.com")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        index["resources"][0]["@id"],
        "https://nuget.example.com/api/v2/package"
    );
    let configured =
        TestApp::start_with(|c| c.public_url = Some("https://feed.example.org".into())).await;
    let index = configured.json("/v3/index.json").await;
    assert_eq!(
        index["resources"][0]["@id"],
        "https://feed.example.org/api/v2/package"
    );
}

/// Reads are served from each node's memory; only a counted change (what every write path records in its
/// transaction) makes a node re-read, within `cache_ttl_ms` when another process made it, at once when
/// this node did. Editing rows behind nugate's back is invisible until such a change, which proves the
/// documents really come from memory rather than from a query per request.
#[tokio::test]
async fn reads_come_from_memory_and_follow_counted_changes_from_other_nodes() {
    let app = TestApp::start_with(|c| c.cache_ttl_ms = 300).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", ALL, &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Mem.Lib", "1.0.0")).await.status(),
        201
    );
    let original = "Test package Mem.Lib for nugate.".to_string();
    assert_eq!(
        descriptions(&app).await,
        (original.clone(), original.clone())
    );

    // A row edited without a counted change: nothing is re-read, however long we wait.
    let pool = app.state.db.pool();
    sqlx::query(
        "UPDATE packages SET description = 'edited', \
         metadata_json = REPLACE(metadata_json, 'Test package Mem.Lib for nugate.', 'edited')",
    )
    .execute(pool)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        descriptions(&app).await,
        (original.clone(), original.clone())
    );

    // The same change as another node records it: shown once this node's view is older than the TTL.
    sqlx::query("UPDATE feed_changes SET seq = seq + 1 WHERE id = 1")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE package_registrations SET changed_seq = (SELECT seq FROM feed_changes WHERE id = 1)",
    )
    .execute(pool)
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        descriptions(&app).await,
        ("edited".to_string(), "edited".to_string())
    );

    // Node A with a TTL of an hour, node B on the same database and storage. A version B pushes is not in
    // A's version list yet, but an exact download on A finds it at once: a "not found" is only answered
    // after re-reading, and that re-read brings the list up to date too.
    let a = TestApp::start_with(|c| c.cache_ttl_ms = 3_600_000).await;
    // Until its first load is done a node answers version lists from the database; this is about after.
    a.state.packages.feed().view().await.unwrap();
    let bob = a.user("bob").await;
    let key = a.key(&bob, "k", ALL, &["*"]).await;
    assert_eq!(
        a.push(&key, simple("Fresh.Lib", "1.0.0")).await.status(),
        201
    );
    assert_eq!(
        a.json("/v3-flatcontainer/fresh.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0"])
    );
    let (database, storage) = (a.state.config.database_url(), a.state.config.storage_url());
    let b = TestApp::start_with(|c| {
        c.database_url = Some(database);
        c.storage_url = Some(storage);
    })
    .await;
    let second = simple("Fresh.Lib", "2.0.0");
    assert_eq!(b.push(&key, second.clone()).await.status(), 201);
    assert_eq!(
        a.json("/v3-flatcontainer/fresh.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0"]),
        "A's view is an hour long"
    );
    let download = a
        .client
        .get(a.url("/v3-flatcontainer/fresh.lib/2.0.0/fresh.lib.2.0.0.nupkg"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), second.as_slice());
    assert_eq!(
        a.json("/v3-flatcontainer/fresh.lib/index.json").await["versions"],
        serde_json::json!(["1.0.0", "2.0.0"])
    );
}

/// The description search and the registration leaf show for Mem.Lib 1.0.0.
async fn descriptions(app: &TestApp) -> (String, String) {
    let search = app.json("/v3/search?q=Mem.Lib").await;
    let leaf = app.json("/v3/registration/mem.lib/1.0.0.json").await;
    let text = |v: &Value| v.as_str().unwrap().to_string();
    (
        text(&search["data"][0]["description"]),
        text(&leaf["catalogEntry"]["description"]),
    )
}
