//! The gallery in a real Chromium: axe-core (injected from npm's package) finds no WCAG 2.1 A/AA
//! violation on any page state, no page is wider than a 390 px phone screen, and the actions that
//! change things confirm first and then say what they did, where focus lands.

use std::time::Duration;

use fantoccini::Client;
use nugate::model::key::KeyAction;

use crate::browser::{click, fill, find, have_browser, sign_in, start_driver, wait_for_text};
use crate::helpers::{nupkg, simple, Pkg, TestApp};

/// axe-core's script, installed by `scripts/install-test-deps.sh`.
fn axe_source() -> Option<String> {
    let deps = crate::clients::deps()?;
    let path = deps.join("node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "{} is missing: run scripts/install-test-deps.sh",
                path.display()
            )
        }
        Err(_) => {
            eprintln!("NOT RUN: axe-core is not installed (scripts/install-test-deps.sh)");
            None
        }
    }
}

/// The A and AA violations axe finds on the current page, one line each.
async fn violations(c: &Client, axe: &str) -> Vec<String> {
    c.execute(axe, vec![]).await.unwrap();
    let found = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
                 .then(r => done(r.violations.map(v => v.id + ": " + v.help + " at " +
                       v.nodes.map(n => n.target.join(" ")).join(", "))))
                 .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// How much wider than its viewport the current page is (0 when it fits).
async fn overflow(c: &Client) -> i64 {
    c.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    )
    .await
    .unwrap()
    .as_i64()
    .unwrap()
}

/// Checks one page at desktop width with axe, then at 390 px for sideways scrolling.
async fn check_page(c: &Client, axe: &str, url: &str, failures: &mut Vec<String>) {
    c.set_window_size(1280, 1100).await.unwrap();
    c.goto(url).await.unwrap();
    for v in violations(c, axe).await {
        failures.push(format!("{url}: {v}"));
    }
    c.set_window_size(390, 844).await.unwrap();
    c.goto(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let viewport = c
        .execute("return window.innerWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(viewport <= 390, "the phone check ran at {viewport} px");
    let wider = overflow(c).await;
    if wider > 0 {
        let culprit = c
            .execute(
                r##"const w = document.documentElement.clientWidth;
                   const wide = [...document.querySelectorAll("body *")]
                     .filter(e => e.getBoundingClientRect().right > w + 1)
                     .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : ""));
                   return wide.slice(0, 5).join(", ");"##,
                vec![],
            )
            .await
            .unwrap();
        failures.push(format!(
            "{url}: {wider} px wider than a 390 px screen ({culprit})"
        ));
    }
    c.set_window_size(1280, 1100).await.unwrap();
}

#[tokio::test]
async fn every_page_passes_axe_fits_a_phone_and_changes_confirm_and_report() {
    if !have_browser() {
        return;
    }
    let Some(axe) = axe_source() else { return };
    let app = TestApp::start_with(|c| c.download_flush_secs = 1).await;
    let ada = app.user("ada").await;
    app.user("bob").await;
    let admin = app
        .state
        .users
        .create(
            "root",
            "root@example.com",
            "correct horse battery",
            true,
            true,
        )
        .await
        .unwrap();
    app.state
        .orgs
        .create(&ada, "contoso", None, true)
        .await
        .unwrap();
    let key = app
        .key(&ada, "ci", &[KeyAction::Push, KeyAction::Unlist], &["*"])
        .await;
    app.key(
        &ada,
        "release-with-a-rather-long-name-for-narrow-screens",
        &[KeyAction::Push],
        &["Contoso.*"],
    )
    .await;
    let readme = b"# Contoso.Widgets\n\nA **widget** library.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    let mut widgets = Pkg::new("Contoso.Widgets.With.A.Long.Identifier", "1.1.0");
    widgets.deps = &[("Contoso.Core", "[1.0.0, 2.0.0)")];
    widgets.extra_metadata = r#"<readme>README.md</readme><tags>widgets ui</tags><license type="expression">MIT</license><repository type="git" url="https://example.com/contoso/widgets.git" />"#;
    let files: [(&str, &[u8]); 1] = [("README.md", readme)];
    widgets.files = &files;
    assert_eq!(app.push(&key, nupkg(&widgets)).await.status(), 201);
    let mut beta = widgets.clone();
    beta.version = "2.0.0-beta.1";
    assert_eq!(app.push(&key, nupkg(&beta)).await.status(), 201);
    assert_eq!(
        app.push(&key, simple("Contoso.Core", "1.0.0"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.push(&key, simple("Contoso.Core", "1.1.0"))
            .await
            .status(),
        201
    );
    app.set_listed(&key, "Contoso.Core", "1.0.0", false).await;
    let download = app.url("/v3-flatcontainer/contoso.core/1.1.0/contoso.core.1.1.0.nupkg");
    for _ in 0..3 {
        assert_eq!(
            app.client.get(&download).send().await.unwrap().status(),
            200
        );
    }
    let _ = admin;

    let driver = start_driver().await;
    let c = &driver.client;
    let mut failures = Vec::new();
    let long = "Contoso.Widgets.With.A.Long.Identifier";
    // Anonymous pages.
    for path in [
        "/".to_string(),
        "/packages".into(),
        "/packages?q=contoso&sort=downloads".into(),
        "/packages?q=nothing-matches-this".into(),
        format!("/packages/{long}"),
        format!("/packages/{long}/2.0.0-beta.1"),
        "/packages/Contoso.Core/1.0.0".into(),
        "/profiles/ada".into(),
        "/profiles/contoso".into(),
        "/signin".into(),
        "/register".into(),
        "/no/such/page".into(),
    ] {
        check_page(c, &axe, &app.url(&path), &mut failures).await;
    }
    // 1: the stable version is the headline; the prerelease is labelled in the versions table.
    c.goto(&app.url(&format!("/packages/{long}")))
        .await
        .unwrap();
    let page = c.source().await.unwrap();
    assert!(
        page.contains("<span class=\"version\">1.1.0</span>"),
        "headline"
    );
    assert!(
        page.contains("2.0.0-beta.1</a> <span class=\"badge\">Prerelease</span>"),
        "label"
    );
    // 7 and 9: facts, the license link, the README's heading below the page's own.
    assert!(page.contains("href=\"https://licenses.nuget.org/MIT\""));
    assert!(page.contains("href=\"https://example.com/contoso/widgets.git\""));
    assert!(
        page.contains("<h3>Contoso.Widgets</h3>"),
        "README heading demoted"
    );
    // 3: an unlisted version's page is shown, with its banner.
    c.goto(&app.url("/packages/Contoso.Core/1.0.0"))
        .await
        .unwrap();
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("This version is unlisted"));
    // 6 and 7: downloads arrive at the next flush; "Used by" lists the dependent.
    let mut counted = false;
    for _ in 0..40 {
        c.goto(&app.url("/packages/Contoso.Core")).await.unwrap();
        if c.source().await.unwrap().contains("3 downloads") {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted, "download count on the package page");
    let core = c.source().await.unwrap();
    assert!(
        core.contains(&format!("<a href=\"/packages/{long}\">{long}</a>")),
        "used by"
    );
    // 8: sort and the prerelease toggle keep their state; an empty search says what to try.
    c.goto(&app.url("/packages?q=contoso&sort=downloads&filtered=1"))
        .await
        .unwrap();
    let search = c.source().await.unwrap();
    assert!(
        search.contains("<option value=\"downloads\" selected"),
        "sort kept"
    );
    assert!(!search.contains("value=\"true\" checked"), "toggle kept");
    assert!(search.contains("3 downloads"));
    c.goto(&app.url("/packages?q=nothing-matches-this"))
        .await
        .unwrap();
    find(c, "#no-results").await;

    // A registration refused: the field is marked, the input kept.
    c.goto(&app.url("/register")).await.unwrap();
    fill(c, "#username", "newbie").await;
    fill(c, "#email", "newbie@example.com").await;
    fill(c, "#password", "password").await;
    fill(c, "#confirm_password", "password").await;
    click(c, "form[action='/register'] button[type=submit]").await;
    wait_for_text(c, "aria-invalid").await;
    for v in violations(c, &axe).await {
        failures.push(format!("refused registration: {v}"));
    }

    // The owner's pages.
    sign_in(c, &app, "ada", "correct horse battery").await;
    let keys = app.state.keys.list(&ada).await.unwrap();
    let ci = keys.iter().find(|k| k.name() == "ci").unwrap().id;
    for path in [
        "/account".to_string(),
        "/account/apikeys".into(),
        format!("/account/apikeys/{ci}/edit"),
        format!("/account/apikeys/{ci}/revoke"),
        format!("/account/apikeys/{ci}/regenerate"),
        format!("/account/apikeys/{ci}/delete"),
        "/account/activity".into(),
        "/account/trusted-publishing".into(),
        format!("/packages/{long}"),
        format!("/packages/{long}/1.1.0/unlist"),
        "/organizations/contoso/members".into(),
        "/organizations/contoso/apikeys".into(),
        "/organizations/contoso/activity".into(),
        "/organizations/new".into(),
    ] {
        check_page(c, &axe, &app.url(&path), &mut failures).await;
    }

    // Unlist: a confirmation, then the notice, with focus on it.
    c.goto(&app.url(&format!("/packages/{long}/1.1.0")))
        .await
        .unwrap();
    click(c, &format!("a[href='/packages/{long}/1.1.0/unlist']")).await;
    wait_for_text(c, "Unlist Contoso.Widgets").await;
    click(c, "#confirm button[type=submit]").await;
    let page = wait_for_text(c, "Version 1.1.0 unlisted").await;
    assert!(page.contains("This version is unlisted"), "the banner");
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "notice");
    for v in violations(c, &axe).await {
        failures.push(format!("after unlisting: {v}"));
    }

    // An invitation to a name nobody has: the page stays, the name is kept, the field says why.
    fill(c, "#new-owner", "nobody-by-this-name").await;
    click(c, "form[action$='/owners'] button[type=submit]").await;
    let page = wait_for_text(c, "new-owner-error").await;
    assert!(page.contains("value=\"nobody-by-this-name\""), "input kept");
    assert!(page.contains("aria-invalid=\"true\""));
    for v in violations(c, &axe).await {
        failures.push(format!("refused invitation: {v}"));
    }
    fill(c, "#new-owner", "bob").await;
    click(c, "form[action$='/owners'] button[type=submit]").await;
    wait_for_text(c, "Invitation sent to bob").await;

    // Revoke: a confirmation, then "Key 'ci' revoked" in the live region, focused. Each key's buttons
    // say which key they act on.
    c.goto(&app.url("/account/apikeys")).await.unwrap();
    let named = find(
        c,
        &format!("a[href='/account/apikeys/{ci}/revoke'] .sr-only"),
    )
    .await
    .html(true)
    .await
    .unwrap();
    assert_eq!(named.trim(), "key ci");
    click(c, &format!("a[href='/account/apikeys/{ci}/revoke']")).await;
    wait_for_text(c, "Revoke “ci”?").await;
    click(c, "#confirm button[type=submit]").await;
    wait_for_text(c, "Key 'ci' revoked").await;
    let notice = find(c, "#notice").await.text().await.unwrap();
    assert!(notice.starts_with("Key 'ci' revoked"), "{notice}");
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "notice");

    // Create: focus moves to the new key; Copy is announced.
    fill(c, "#key-name", "fresh").await;
    click(c, "input[name=scopes][value=push]").await;
    fill(c, "#globs", "Contoso.*").await;
    click(c, "#create-key button.primary").await;
    find(c, "#new-key-value").await;
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "new-key");
    click(c, "button[data-copy='new-key-value']").await;
    // The copy finishes asynchronously (the clipboard API, or its fallback); the live region says so.
    let mut announced = serde_json::Value::Null;
    for _ in 0..30 {
        announced = c
            .execute(
                "return document.getElementById('announce').textContent",
                vec![],
            )
            .await
            .unwrap();
        if announced == "Copied" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(announced, "Copied");
    check_page(c, &axe, &app.url("/account/apikeys"), &mut failures).await;
    c.goto(&app.url("/account/apikeys")).await.unwrap();

    // The administrator's pages.
    c.goto(&app.url("/signout")).await.unwrap();
    c.delete_all_cookies().await.unwrap();
    sign_in(c, &app, "root", "correct horse battery").await;
    for path in ["/admin", "/admin/activity"] {
        check_page(c, &axe, &app.url(path), &mut failures).await;
    }
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
