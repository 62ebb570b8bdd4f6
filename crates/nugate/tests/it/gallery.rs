//! The gallery's package facts, download counts, and search's sort, prerelease toggle and tags.

use nugate::model::key::KeyAction;

use crate::helpers::{nupkg, simple, Pkg, TestApp};
use crate::web::Browser;

/// Waits until `check` passes on the page at `path` (download counts arrive at the next flush).
async fn page_until(b: &Browser, path: &str, check: impl Fn(&str) -> bool) -> String {
    for _ in 0..50 {
        let (_, page) = b.get(path).await;
        if check(&page) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, page) = b.get(path).await;
    panic!("{path} never passed the check:\n{page}");
}

#[tokio::test]
async fn downloads_are_counted_in_batches_and_shown_on_pages_in_search_and_the_protocol() {
    let app = TestApp::start_with(|c| c.download_flush_secs = 1).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[KeyAction::Push], &["*"]).await;
    for (id, version) in [
        ("Fab.Lib", "1.0.0"),
        ("Fab.Lib", "1.1.0"),
        ("Fab.Other", "1.0.0"),
    ] {
        assert_eq!(app.push(&key, simple(id, version)).await.status(), 201);
    }
    let url = app.url("/v3-flatcontainer/fab.lib/1.0.0/fab.lib.1.0.0.nupkg");
    let mut etag = String::new();
    for _ in 0..3 {
        let r = app.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        etag = r.headers()["etag"].to_str().unwrap().to_string();
    }
    // A revalidation is no download.
    let r = app
        .client
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    let b = Browser::new(&app);
    let page = page_until(&b, "/packages/Fab.Lib/1.0.0", |p| p.contains("3 downloads")).await;
    assert!(page.contains("<td>3</td>"), "per version: {page}");
    let search = page_until(&b, "/packages?q=Fab", |p| p.contains("3 downloads")).await;
    assert!(search.contains("0 downloads"), "Fab.Other: {search}");
    let v3 = app.json("/v3/search?q=Fab.Lib").await;
    assert_eq!(v3["data"][0]["totalDownloads"], 3);
    let versions = v3["data"][0]["versions"].as_array().unwrap();
    let v100 = versions.iter().find(|v| v["version"] == "1.0.0").unwrap();
    assert_eq!(v100["downloads"], 3);
    // Sorted by downloads, the downloaded package comes first whatever its name.
    let (_, sorted) = b.get("/packages?q=Fab&sort=downloads").await;
    let lib = sorted.find("/packages/Fab.Lib\"").unwrap();
    let other = sorted.find("/packages/Fab.Other\"").unwrap();
    assert!(lib < other, "{sorted}");
    let (_, by_name) = b
        .get("/packages?q=Fab.Other&sort=downloads&filtered=1")
        .await;
    assert!(by_name.contains("/packages/Fab.Other\""), "{by_name}");
}

#[tokio::test]
async fn package_pages_show_facts_licenses_repositories_and_dependents() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[KeyAction::Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Base.Core", "1.2.0")).await.status(),
        201
    );
    let mut app_pkg = Pkg::new("Base.App", "2.0.0");
    app_pkg.deps = &[("Base.Core", "[1.1.0, 2.0.0)")];
    app_pkg.extra_metadata = r#"<tags>json http</tags><license type="expression">MIT OR Apache-2.0</license><repository type="git" url="https://example.com/base/app.git" />"#;
    app_pkg.files = &[("lib/net8.0/Base.App.dll", b"dll")];
    assert_eq!(app.push(&key, nupkg(&app_pkg)).await.status(), 201);
    let mut file_license = Pkg::new("Base.Licensed", "1.0.0");
    file_license.extra_metadata = r#"<license type="file">LICENSE.txt</license>"#;
    file_license.files = &[("LICENSE.txt", b"Licensed to the test suite only.")];
    assert_eq!(app.push(&key, nupkg(&file_license)).await.status(), 201);

    let b = Browser::new(&app);
    let (_, page) = b.get("/packages/Base.App").await;
    assert!(
        page.contains("(&#62;= 1.1.0 &#38;&#38; &#60; 2.0.0)"),
        "{page}"
    );
    assert!(
        page.contains("<code>net8.0</code>") && page.contains("<code>netstandard2.0</code>"),
        "{page}"
    );
    assert!(
        page.contains("href=\"https://licenses.nuget.org/MIT%20OR%20Apache-2.0\""),
        "{page}"
    );
    assert!(
        page.contains("href=\"https://example.com/base/app.git\""),
        "{page}"
    );
    assert!(
        page.contains("Last updated") && (page.contains(" B</dd>") || page.contains(" KB</dd>")),
        "{page}"
    );
    assert!(
        page.contains("No package on this feed depends on Base.App."),
        "{page}"
    );
    let (_, core) = b.get("/packages/Base.Core").await;
    assert!(
        core.contains("<a href=\"/packages/Base.App\">Base.App</a>"),
        "used by: {core}"
    );
    let (_, licensed) = b.get("/packages/Base.Licensed").await;
    assert!(
        licensed.contains("Licensed to the test suite only."),
        "{licensed}"
    );

    // Search shows tags; the prerelease toggle leaves out packages with only prereleases.
    assert_eq!(
        app.push(&key, simple("Base.Preview", "1.0.0-beta"))
            .await
            .status(),
        201
    );
    let (_, all) = b.get("/packages?q=Base").await;
    assert!(all.contains("/packages/Base.Preview\""), "{all}");
    assert!(all.contains("href=\"/packages?q=tags:json\""), "{all}");
    assert!(
        all.contains("name=\"prerelease\" value=\"true\" checked"),
        "{all}"
    );
    let (_, stable) = b.get("/packages?q=Base&filtered=1").await;
    assert!(!stable.contains("/packages/Base.Preview\""), "{stable}");
    assert!(!stable.contains("value=\"true\" checked"), "{stable}");
}
