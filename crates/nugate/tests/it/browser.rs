//! The seed's workflow in real headless Chromium (driven through ChromeDriver with fantoccini), with the
//! confirmation email delivered by a real SMTP server and the key used by the real nuget.exe 5.8; and a
//! sweep of every page that shows package metadata or user-typed text, with script payloads in all of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use nugate::model::key::KeyAction::Push;

use crate::clients::{self, Session};
use crate::helpers::{nupkg, xml_escape, Pkg, TestApp};

const REFUSED: &str = "The specified API key is invalid, has expired, or does not have permission";

pub(crate) struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
    pub client: Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn have_browser() -> bool {
    let found = Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("chromedriver is not installed: run scripts/install-test-deps.sh");
        }
        eprintln!("NOT RUN: browser test (install chromium and chromium-driver, or run scripts/test-all.sh)");
    }
    found
}

pub(crate) async fn start_driver() -> Driver {
    let port = crate::cli::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1100", format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Driver {
                    child,
                    _profile: profile,
                    client,
                }
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not start ChromeDriver: {last:?}");
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// Waits until the page's source contains `text`, and returns the source.
pub(crate) async fn wait_for_text(c: &Client, text: &str) -> String {
    let mut source = String::new();
    for _ in 0..150 {
        source = c.source().await.unwrap_or_default();
        if source.contains(text) {
            return source;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("'{text}' never appeared:\n{source}");
}

/// Finds an element, waiting for a navigation in progress to land.
pub(crate) async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(_) => panic!(
            "no {css} on the page:\n{}",
            c.source().await.unwrap_or_default()
        ),
    }
}

pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    let e = find(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

pub(crate) async fn click(c: &Client, css: &str) {
    find(c, css).await.click().await.unwrap();
}

pub(crate) async fn value(c: &Client, css: &str) -> String {
    find(c, css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Signs in through the form and waits for the signed-in header.
pub(crate) async fn sign_in(c: &Client, app: &TestApp, login: &str, password: &str) {
    c.goto(&app.url("/signin")).await.unwrap();
    fill(c, "#login", login).await;
    fill(c, "#password", password).await;
    click(c, "form[action='/signin'] button[type=submit]").await;
    wait_for_text(c, "Sign out").await;
}

/// Signs out with the header's button and waits for the anonymous header.
async fn sign_out(c: &Client) {
    click(c, "form[action='/signout'] button").await;
    wait_for_text(c, "Register").await;
}

/// Waits for a message to `to` in the Maildir and returns its text.
async fn wait_for_mail(maildir: &Path, to: &str) -> String {
    for _ in 0..200 {
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
                for entry in entries.flatten() {
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    if text.contains(to) {
                        return text;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no mail to {to} arrived");
}

/// Undoes quoted-printable soft line breaks and `=3D` so links can be read from a raw message.
fn unfold(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_workflow_in_a_real_browser() {
    if !have_browser() {
        return;
    }
    let Some(deps) = clients::deps() else { return };
    let Some(smtp) = crate::mail::start_aiosmtpd().await else {
        return;
    };
    let app = TestApp::start_with(|c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = Some(smtp.port);
        c.smtp.security = nugate::config::SmtpSecurity::None;
        c.smtp.from = "nugate <feed@example.com>".into();
    })
    .await;
    let driver = start_driver().await;
    let c = &driver.client;

    // Register; the confirmation link arrives through real SMTP.
    c.goto(&app.url("/register")).await.unwrap();
    fill(c, "#username", "webuser").await;
    fill(c, "#email", "webuser@example.com").await;
    fill(c, "#password", "browser password").await;
    fill(c, "#confirm_password", "browser password").await;
    click(c, "form[action='/register'] button[type=submit]").await;
    wait_for_text(c, "Check your email").await;
    let mail =
        unfold(&wait_for_mail(&smtp.maildir.path().join("box"), "webuser@example.com").await);
    let start = mail
        .find(&format!("{}/account/confirm?token=", app.base))
        .expect("confirmation link in the mail");
    let link: String = mail[start..]
        .chars()
        .take_while(|ch| !ch.is_whitespace() && *ch != '<' && *ch != '>')
        .collect();
    c.goto(&link).await.unwrap();
    assert!(c
        .source()
        .await
        .unwrap()
        .contains("your email address is confirmed"));

    // A sign-up signs nobody in: sign in through the labelled form.
    c.goto(&app.url("/signin")).await.unwrap();
    let page = c.source().await.unwrap();
    for label in ["Username or email", "Password", "Sign in"] {
        assert!(page.contains(label), "missing label {label}");
    }
    sign_in(c, &app, "webuser", "browser password").await;

    // The user owns one package, pushed with nuget.exe.
    let nuget = Session::new(clients::Client::V580, &deps);
    let user = nugate::db::users::by_username(app.state.db.pool(), "webuser")
        .await
        .unwrap()
        .unwrap();
    let bootstrap = app.key(&user, "bootstrap", &[Push], &["*"]).await;
    let index = app.url("/v3/index.json");
    assert!(
        nuget
            .push(
                &nuget.generated("Browser.Lib", "1.0.0"),
                &index,
                Some(&bootstrap)
            )
            .await
            .ok
    );

    // Account → API keys → create: 90 days, the owned package plus a glob, push-version only.
    c.goto(&app.url("/account/apikeys")).await.unwrap();
    let form = c.source().await.unwrap();
    for label in [
        "Key name",
        "Expires in",
        "Package owner",
        "Push new packages and package versions",
        "Push only new package versions",
        "Unlist or relist package versions",
        "Glob pattern",
        "Create",
    ] {
        assert!(form.contains(label), "missing label {label}");
    }
    fill(c, "#key-name", "browser-test-key").await;
    click(c, "#expires-in option[value='90']").await;
    click(c, "#scope-push-version").await;
    click(c, "input[data-package='Browser.Lib']").await;
    fill(c, "#globs", "Browser.*").await;
    let preview = c
        .find(Locator::Css("#glob-preview"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        preview.contains("Browser.Lib"),
        "live glob preview: {preview}"
    );
    screenshot(c, "apikeys-create-form.png").await;
    click(c, "#create-key button[type=submit]").await;

    // Shown once, with Copy.
    let key = value(c, "#new-key-value").await;
    assert!(key.starts_with("nugate_") && key.len() == 62, "{key}");
    click(c, "button[data-copy='new-key-value']").await;
    // The copy finishes asynchronously (the clipboard API, or its fallback), then the label changes.
    let mut copied = String::new();
    for _ in 0..25 {
        copied = c
            .find(Locator::Css("button[data-copy='new-key-value']"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if copied == "Copied" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(copied, "Copied");
    screenshot(c, "apikeys-shown-once.png").await;
    c.refresh().await.unwrap();
    let list = wait_for_text(c, "<h2>Manage</h2>").await;
    assert!(!list.contains(&key), "the key must not be shown again");
    assert!(list.contains("browser-test-key") && list.contains("Expires in 90 days"));
    c.execute("document.getElementById('manage').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(c, "apikeys-list.png").await;

    // The real client: a new version works, a new ID is refused.
    let ok = nuget
        .push(&nuget.generated("Browser.Lib", "1.1.0"), &index, Some(&key))
        .await;
    assert!(ok.ok, "{}", ok.output);
    let refused = nuget
        .push(&nuget.generated("Browser.New", "1.0.0"), &index, Some(&key))
        .await;
    assert!(
        !refused.ok && refused.output.contains(REFUSED),
        "{}",
        refused.output
    );

    // Regenerate: the old key is refused, the new one works.
    let id = app
        .state
        .keys
        .get(&user, "browser-test-key")
        .await
        .unwrap()
        .id;
    // A confirmation step first; then the new key, with focus on it.
    click(c, &format!("a[href='/account/apikeys/{id}/regenerate']")).await;
    wait_for_text(c, "Regenerate “browser-test-key”?").await;
    click(c, "#confirm button[type=submit]").await;
    let fresh = value(c, "#new-key-value").await;
    let focused = c
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "new-key");
    assert_ne!(fresh, key);
    let old = nuget
        .push(&nuget.generated("Browser.Lib", "1.2.0"), &index, Some(&key))
        .await;
    assert!(!old.ok && old.output.contains(REFUSED), "{}", old.output);
    let new = nuget
        .push(
            &nuget.generated("Browser.Lib", "1.2.0"),
            &index,
            Some(&fresh),
        )
        .await;
    assert!(new.ok, "{}", new.output);

    // Delete, with its confirmation step.
    c.goto(&app.url("/account/apikeys")).await.unwrap();
    click(c, &format!("a[href='/account/apikeys/{id}/delete']")).await;
    wait_for_text(c, "cannot be undone").await;
    click(
        c,
        &format!("form[action='/account/apikeys/{id}/delete'] button"),
    )
    .await;
    let after = wait_for_text(c, "<h2>Manage</h2>").await;
    assert!(
        after.contains("Key 'browser-test-key' deleted."),
        "the notice"
    );
    assert!(!after.contains("<h3>browser-test-key"), "the key's card");
    let gone = nuget
        .push(
            &nuget.generated("Browser.Lib", "1.3.0"),
            &index,
            Some(&fresh),
        )
        .await;
    assert!(!gone.ok);
    driver.client.clone().close().await.unwrap();
}

/// The text of the element with `id`, hidden parts included, with runs of whitespace made one space.
async fn text_content(c: &Client, id: &str) -> String {
    let text = c
        .execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : '';",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap();
    text.as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The text of `command` in `text`: from each place it starts to where the next command starts.
fn commands<'a>(text: &'a str, command: &str) -> Vec<&'a str> {
    text.match_indices(command)
        .map(|(at, _)| {
            let rest = &text[at + command.len()..];
            let end = ["dotnet ", "nuget "]
                .iter()
                .filter_map(|next| rest.find(*next))
                .min()
                .unwrap_or(rest.len());
            &text[at..at + command.len() + end]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_page_leads_to_keys_and_usage_examples_show_the_new_key_once() {
    if !have_browser() {
        return;
    }
    let app = TestApp::start().await;
    let password = "correct horse battery";
    let user = app.user("usage-user").await;
    let bootstrap = app.key(&user, "bootstrap", &[Push], &["*"]).await;
    let pushed = app
        .push(&bootstrap, nupkg(&Pkg::new("Usage.Lib", "1.0.0")))
        .await;
    assert_eq!(pushed.status(), 201);
    let feed = format!("{}/v3/index.json", app.base);
    let driver = start_driver().await;
    let c = &driver.client;
    sign_in(c, &app, "usage-user", password).await;

    // Account → its API keys summary → the keys page.
    c.goto(&app.url("/account")).await.unwrap();
    let summary = find(c, "#api-keys-summary").await.text().await.unwrap();
    assert!(
        summary.contains("API keys"),
        "the account page's key summary: {summary}"
    );
    screenshot(c, "account-keys-summary.png").await;
    click(c, "#api-keys-summary #manage-keys").await;
    find(c, "#usage").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/account/apikeys", "{url}");

    // Before a key is made: how to add the feed, with its absolute URL.
    assert!(
        find(c, "#usage").await.is_displayed().await.unwrap(),
        "the usage section must be visible"
    );
    let usage = text_content(c, "usage").await;
    assert!(usage.contains("How to use your key"), "{usage}");
    assert!(usage.contains("dotnet nuget add source"), "{usage}");
    let shown = find(c, "#usage #feed-url").await;
    let mut feed_url = shown.text().await.unwrap().trim().to_string();
    if feed_url.is_empty() {
        feed_url = shown.prop("value").await.unwrap().unwrap_or_default();
    }
    assert_eq!(feed_url, feed, "the feed URL shown must be absolute");

    // Create a key: the examples now carry it, ready to copy.
    fill(c, "#key-name", "usage-key").await;
    click(c, "#scope-push").await;
    fill(c, "#globs", "Usage.*").await;
    click(c, "#create-key button[type=submit]").await;
    let key = value(c, "#new-key-value").await;
    assert!(key.starts_with("nugate_") && key.len() == 62, "{key}");
    let mut usage = String::new();
    for _ in 0..50 {
        usage = text_content(c, "usage").await;
        if usage.contains(&key) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        usage.contains(&feed),
        "the examples must name the feed: {usage}"
    );
    for command in ["dotnet nuget push", "nuget setapikey"] {
        let lines = commands(&usage, command);
        assert!(
            lines.iter().any(|line| line.contains(&key)),
            "no `{command}` example with the new key in: {usage}"
        );
    }
    c.execute("document.getElementById('usage').scrollIntoView()", vec![])
        .await
        .unwrap();
    screenshot(c, "apikeys-usage-with-new-key.png").await;

    // Shown once: after a reload the key is nowhere on the page, the examples included.
    c.refresh().await.unwrap();
    let page = wait_for_text(c, "id=\"usage\"").await;
    assert!(
        !page.contains(&key),
        "the key must not be shown again, not even in the examples"
    );
    assert!(
        text_content(c, "usage").await.contains(&feed),
        "the examples still name the feed after a reload"
    );
    driver.client.clone().close().await.unwrap();
}

// ---------------------------------------------------------------------------------------------------
// Stored (and reflected) XSS sweep

/// What a payload runs if it ever executes: it adds its label to `window.__xss`. No quotes, spaces,
/// commas or semicolons, so it survives any context a payload breaks into (and tag splitting).
fn ran(label: &str) -> String {
    format!("window.__xss=(window.__xss||[]).concat(/{label}/.source)")
}

/// Every hostile string the sweep plants, by label: package fields (shown or not) and the strings
/// users type. Injected tags carry a bare `xss` attribute so the probe can spot any that got through.
fn planted() -> BTreeMap<&'static str, String> {
    let script = |label: &str| format!("<script>{}</script>", ran(label));
    [
        ("title", format!("</title></textarea>{}", script("title"))),
        (
            "description",
            format!(
                "Probe {} \"><img xss src=x onerror={}>",
                script("description"),
                ran("description")
            ),
        ),
        (
            "authors",
            format!("Mallory'><svg xss onload={}>", ran("authors")),
        ),
        ("tag", format!("\"><svg/xss/onload={}>", ran("tag"))),
        ("tag-url", format!("javascript:{}", ran("tag-url"))),
        (
            "copyright",
            format!(
                "</p><iframe xss src=javascript:{}></iframe>",
                ran("copyright")
            ),
        ),
        (
            "license",
            format!("<img xss src=x onerror={}>", ran("license")),
        ),
        ("framework", format!("</h3>{}", script("framework"))),
        (
            "projectUrl-js",
            format!("JaVaScRiPt:{}", ran("projectUrl-js")),
        ),
        (
            "projectUrl-quote",
            format!(
                "https://example.com/p\" xss autofocus onfocus=\"{}",
                ran("projectUrl-quote")
            ),
        ),
        (
            "licenseUrl-js",
            format!("javascript:{}", ran("licenseUrl-js")),
        ),
        (
            "licenseUrl-quote",
            format!(
                "https://example.com/l' xss autofocus onfocus='{}",
                ran("licenseUrl-quote")
            ),
        ),
        ("iconUrl", format!("javascript:{}", ran("iconUrl"))),
        ("summary", script("summary")),
        (
            "releaseNotes",
            format!("</textarea>{}", script("releaseNotes")),
        ),
        (
            "owners",
            format!("</td><img xss src=x onerror={}>", ran("owners")),
        ),
        (
            "language",
            format!("\"><svg xss onload={}>", ran("language")),
        ),
        ("repository", format!("javascript:{}", ran("repository"))),
        (
            "packageType",
            format!("\"><img xss src=x onerror={}>", ran("packageType")),
        ),
        (
            "readme",
            format!(
                "# Readme probe\n\n{}\n\n<img src=x onerror=\"{r}\"> <svg onload=\"{r}\"></svg>\n\n\
                 [markdown link](javascript:{r}) <a href=\"javascript:{r}\">raw link</a>\n\n\
                 <iframe srcdoc=\"{}\"></iframe>\n",
                script("readme"),
                xml_escape(&script("readme")),
                r = ran("readme")
            ),
        ),
        // What users type: the account's email, key names, a glob, queries and rejected form input.
        (
            "email",
            format!("\"><svg/xss/onload={}>@example.com", ran("email")),
        ),
        (
            "key-a",
            format!(
                "</title></textarea>{}\"><img xss src=x onerror={}>",
                script("key-a"),
                ran("key-a")
            ),
        ),
        (
            "key-b",
            format!(
                "' xss autofocus onfocus={} x='\"><svg xss onload={}>",
                ran("key-b"),
                ran("key-b")
            ),
        ),
        ("glob", format!("\"><svg/xss/onload={}>", ran("glob"))),
        (
            "search",
            format!(
                "\"><svg xss onload={}>' xss autofocus onfocus={} x='",
                ran("search"),
                ran("search")
            ),
        ),
        (
            "login",
            format!("\"><img xss src=x onerror={}>", ran("login")),
        ),
        (
            "returnUrl",
            format!("/\"><svg/xss/onload={}>", ran("returnUrl")),
        ),
        (
            "register-username",
            format!("\"><svg xss onload={}>", ran("register-username")),
        ),
        (
            "register-email",
            format!(
                "'><img/xss/src=x/onerror={}>@example.com",
                ran("register-email")
            ),
        ),
        ("invitee", format!("</li>{}", script("invitee"))),
        (
            "admin-email",
            format!("<img xss src=x onerror={}> @x", ran("admin-email")),
        ),
    ]
    .into_iter()
    .collect()
}

/// A package whose every free-text nuspec field (and its readme) carries a payload from [`planted`].
fn planted_package(p: &BTreeMap<&str, String>, version: &str, urls: [&str; 2]) -> Vec<u8> {
    let e = |label: &str| xml_escape(&p[label]);
    let extra = format!(
        "<title>{}</title><tags>{} {}</tags><copyright>{}</copyright>\
         <license type=\"expression\">{}</license><projectUrl>{}</projectUrl><licenseUrl>{}</licenseUrl>\
         <iconUrl>{}</iconUrl><summary>{}</summary><releaseNotes>{}</releaseNotes><owners>{}</owners>\
         <language>{}</language><readme>README.md</readme><repository type=\"git\" url=\"{}\" />\
         <packageTypes><packageType name=\"{}\" /></packageTypes>\
         <dependencies><group targetFramework=\"{}\"><dependency id=\"Newtonsoft.Json\" version=\"13.0.1\" /></group></dependencies>",
        e("title"),
        e("tag"),
        e("tag-url"),
        e("copyright"),
        e("license"),
        xml_escape(urls[0]),
        xml_escape(urls[1]),
        e("iconUrl"),
        e("summary"),
        e("releaseNotes"),
        e("owners"),
        e("language"),
        e("repository"),
        e("packageType"),
        e("framework"),
    );
    nupkg(&Pkg {
        extra_metadata: &extra,
        authors: &p["authors"],
        description: Some(&p["description"]),
        files: &[("README.md", p["readme"].as_bytes())],
        ..Pkg::new("Xss.Probe", version)
    })
}

/// ChromeDriver's passthrough to a Chrome DevTools command (`POST /session/{id}/goog/cdp/execute`).
#[derive(Debug)]
struct Cdp(serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    // `<Url as FromStr>::Err` is the url crate's ParseError, named without depending on that crate.
    fn endpoint(
        &self,
        base: &reqwest::Url,
        session: Option<&str>,
    ) -> Result<reqwest::Url, <reqwest::Url as std::str::FromStr>::Err> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(self.0.to_string()))
    }
}

/// Runs in the loaded page: which payloads ran; which attributes and elements only a payload could
/// have made (event handlers, the payloads' `xss` attribute, script URLs, inline scripts, frames,
/// SVG); which of the expected strings (`arguments[0]`) are missing from the page's text, form values
/// and links; and whether an inline script added now runs. It must: CSP is bypassed for the sweep, so
/// what it proves is the escaping (with CSP on, an escaping bug would hide behind `script-src 'self'`).
const PROBE: &str = r#"
const shown = arguments[0];
const bad = [];
const urlAttrs = ['href', 'src', 'action', 'formaction', 'srcdoc', 'data', 'xlink:href'];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    const n = a.name.toLowerCase();
    if (n.startsWith('on') || n === 'xss') bad.push(`<${el.localName} ${n}>`);
    else if (urlAttrs.includes(n) && /^\s*(javascript|vbscript|data):/i.test(a.value)) bad.push(`<${el.localName} ${n}="${a.value}">`);
  }
}
for (const s of document.querySelectorAll('script')) {
  if (s.getAttribute('src') !== '/static/site.js') bad.push('script: ' + s.outerHTML.slice(0, 120));
}
for (const el of document.querySelectorAll('iframe, frame, object, embed, svg, math, base, meta[http-equiv]')) {
  bad.push('element: ' + el.outerHTML.slice(0, 120));
}
const hay = [document.title, document.body.innerText,
  ...Array.from(document.querySelectorAll('input, textarea'), e => e.value),
  ...Array.from(document.querySelectorAll('a[href]'), e => e.getAttribute('href'))].join('\n');
const ran = window.__xss || [];
const control = document.createElement('script');
control.textContent = 'window.__control = 1';
document.head.appendChild(control);
return { ran, bad, missing: shown.filter(s => !hay.includes(s)), control: window.__control === 1 };
"#;

/// The sweep's tally, and its findings, reported together at the end.
#[derive(Default)]
struct Sweep {
    pages: usize,
    shown: usize,
    findings: Vec<String>,
}

impl Sweep {
    /// Checks the page now loaded (screenshot `xss-{name}.png`): nothing ran or was injected, and
    /// each of `shown` is on it, so the page really displayed the hostile data.
    async fn check(&mut self, c: &Client, name: &str, shown: &[&str]) {
        // Handlers such as onerror (after the image fails) and onfocus fire just after the load.
        tokio::time::sleep(Duration::from_millis(300)).await;
        screenshot(c, &format!("xss-{name}.png")).await;
        let result = c
            .execute(PROBE, vec![serde_json::json!(shown)])
            .await
            .unwrap();
        let url = c
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        assert_eq!(
            result["control"], true,
            "an inline script did not run on {name}: CSP is not bypassed, so the sweep proves nothing"
        );
        for (key, what) in [
            ("ran", "payload ran"),
            ("bad", "payload markup"),
            ("missing", "not shown"),
        ] {
            for item in result[key].as_array().into_iter().flatten() {
                self.findings
                    .push(format!("{name} ({url}): {what}: {item}"));
            }
        }
        self.pages += 1;
        self.shown += shown.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_and_reflected_xss_never_runs_on_any_page() {
    if !have_browser() {
        return;
    }
    let p = planted();
    let app = TestApp::start().await;
    let password = "correct horse battery";
    let owner = app
        .state
        .users
        .create("xss-owner", &p["email"], password, false, true)
        .await
        .unwrap();
    let admin = app.user("xss-admin").await;
    app.state
        .users
        .set_flags(&admin, false, true)
        .await
        .unwrap();
    let push = app.key(&owner, "push", &[Push], &["*"]).await;
    app.key(&admin, &p["key-a"], &[Push], &["*"]).await;
    // 1.0.0 links a quote-breaking project URL and a script license URL; 2.0.0 the other way round.
    for (version, urls) in [
        ("1.0.0", [&p["projectUrl-quote"], &p["licenseUrl-js"]]),
        ("2.0.0", [&p["projectUrl-js"], &p["licenseUrl-quote"]]),
    ] {
        let package = planted_package(&p, version, urls.map(String::as_str));
        let response = app.push(&push, package).await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    }
    // Expiring within a day, so the banner names it too.
    app.key_with_days(&owner, &p["key-b"], &[Push], &["Xss.*"], Some(1))
        .await;

    let driver = start_driver().await;
    let c = &driver.client;
    c.issue_cmd(Cdp(serde_json::json!({
        "cmd": "Page.setBypassCSP",
        "params": { "enabled": true }
    })))
    .await
    .unwrap();
    let mut sweep = Sweep::default();
    let s = |label: &str| p[label].as_str();
    let listed = [s("description"), s("authors")];
    let package_fields = [
        s("title"),
        s("description"),
        s("authors"),
        s("tag"),
        s("tag-url"),
        s("copyright"),
        s("license"),
        s("framework"),
        "Readme probe",
    ];

    // Anonymous: the gallery, and what anonymous forms echo back.
    c.goto(&app.url("/")).await.unwrap();
    sweep.check(c, "home", &listed).await;
    c.goto(&app.url("/packages?q=xss.probe")).await.unwrap();
    sweep.check(c, "search", &listed).await;
    fill(c, "#q", s("search")).await;
    click(c, "form.big-search button[type=submit]").await;
    wait_for_text(c, "0 packages").await;
    sweep.check(c, "search-echo", &[s("search")]).await;
    c.goto(&app.url("/packages/Xss.Probe")).await.unwrap();
    let mut latest = package_fields.to_vec();
    latest.push(s("licenseUrl-quote"));
    sweep.check(c, "package", &latest).await;
    c.goto(&app.url("/packages/Xss.Probe/1.0.0")).await.unwrap();
    let mut first = package_fields.to_vec();
    first.push(s("projectUrl-quote"));
    sweep.check(c, "package-version", &first).await;
    c.goto(&app.url("/profiles/xss-owner")).await.unwrap();
    sweep
        .check(c, "profile", &[s("description"), "xss-owner"])
        .await;
    let signin =
        reqwest::Url::parse_with_params(&app.url("/signin"), [("returnUrl", s("returnUrl"))])
            .unwrap();
    c.goto(signin.as_str()).await.unwrap();
    fill(c, "#login", s("login")).await;
    fill(c, "#password", "not the password").await;
    click(c, "form[action='/signin'] button[type=submit]").await;
    wait_for_text(c, "is incorrect").await;
    sweep
        .check(c, "signin-echo", &[s("login"), s("returnUrl")])
        .await;
    c.goto(&app.url("/register")).await.unwrap();
    // The browser's own checks (pattern, type=email) would stop the form before the server sees it.
    c.execute(
        "document.querySelector(\"form[action='/register']\").noValidate = true",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "#username", s("register-username")).await;
    fill(c, "#email", s("register-email")).await;
    fill(c, "#password", "long enough password").await;
    fill(c, "#confirm_password", "long enough password").await;
    click(c, "form[action='/register'] button[type=submit]").await;
    wait_for_text(c, "class=\"error\"").await;
    sweep
        .check(
            c,
            "register-echo",
            &[s("register-username"), s("register-email")],
        )
        .await;

    // The owner: account, keys (created, shown once, listed, refused, edited, deleted), owners.
    sign_in(c, &app, "xss-owner", password).await;
    c.goto(&app.url("/account")).await.unwrap();
    sweep.check(c, "account", &[s("email")]).await;
    c.goto(&app.url("/account/apikeys")).await.unwrap();
    fill(c, "#key-name", s("key-a")).await;
    click(c, "#scope-push").await;
    fill(c, "#globs", "Xss.*").await;
    click(c, "#create-key button[type=submit]").await;
    wait_for_text(c, "Your new API key").await;
    sweep
        .check(c, "apikeys-created", &[s("key-a"), s("key-b")])
        .await;
    fill(c, "#key-name", s("key-a")).await;
    click(c, "#scope-push").await;
    fill(c, "#globs", s("glob")).await;
    click(c, "#create-key button[type=submit]").await;
    wait_for_text(c, "class=\"error\"").await;
    sweep
        .check(c, "apikeys-refused", &[s("key-a"), s("key-b"), s("glob")])
        .await;
    for (label, name) in [("a", s("key-a")), ("b", s("key-b"))] {
        let id = app.state.keys.get(&owner, name).await.unwrap().id;
        c.goto(&app.url(&format!("/account/apikeys/{id}/edit")))
            .await
            .unwrap();
        sweep
            .check(c, &format!("apikey-edit-{label}"), &[name])
            .await;
        c.goto(&app.url(&format!("/account/apikeys/{id}/delete")))
            .await
            .unwrap();
        sweep
            .check(c, &format!("apikey-delete-{label}"), &[name])
            .await;
    }
    c.goto(&app.url("/packages/Xss.Probe")).await.unwrap();
    sweep.check(c, "package-as-owner", &latest).await;
    fill(c, "#new-owner", s("invitee")).await;
    click(
        c,
        "form[action='/packages/Xss.Probe/owners'] button[type=submit]",
    )
    .await;
    wait_for_text(c, "There is no user named").await;
    sweep.check(c, "invite-echo", &[s("invitee")]).await;

    // The administrator: every user's email and every package, and the create-user form's echo.
    sign_out(c).await;
    sign_in(c, &app, "xss-admin", password).await;
    c.goto(&app.url("/admin")).await.unwrap();
    sweep.check(c, "admin", &[s("email"), "Xss.Probe"]).await;
    c.execute(
        "document.querySelector(\"form[action='/admin/users']\").noValidate = true",
        vec![],
    )
    .await
    .unwrap();
    fill(c, "#new-username", "someone").await;
    fill(c, "#new-email", s("admin-email")).await;
    fill(c, "#new-password", "long enough password").await;
    click(c, "form[action='/admin/users'] button[type=submit]").await;
    wait_for_text(c, "class=\"error\"").await;
    sweep.check(c, "admin-echo", &[s("admin-email")]).await;
    driver.client.clone().close().await.unwrap();

    eprintln!(
        "XSS sweep: {} planted payloads checked for execution and injected markup on {} pages \
         ({} checks); {} payload-on-page displays confirmed",
        p.len(),
        sweep.pages,
        p.len() * sweep.pages,
        sweep.shown
    );
    assert!(
        sweep.findings.is_empty(),
        "{} XSS findings:\n{}",
        sweep.findings.len(),
        sweep.findings.join("\n")
    );

    // Mail that quotes a key name is plain text, never HTML a mail client would render. (The owner's
    // hostile address is no address a mailer accepts, so the administrator holds the mailed key.)
    let dir = app.data_dir().join("mail");
    let mut mails = Vec::new();
    for _ in 0..150 {
        mails = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        if mails.iter().any(|m| unfold(m).contains(s("key-a"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        mails.iter().any(|m| unfold(m).contains(s("key-a"))),
        "no key-created mail naming key A: {mails:?}"
    );
    for mail in &mails {
        assert!(
            mail.contains("Content-Type: text/plain") && !mail.contains("text/html"),
            "{mail}"
        );
    }
}

/// The values of the package checkboxes the key form shows now.
async fn package_choices(c: &Client) -> Vec<String> {
    let mut values = Vec::new();
    for e in c
        .find_all(Locator::Css("#owner-packages input[name='packages']"))
        .await
        .unwrap()
    {
        values.push(e.prop("value").await.unwrap().unwrap_or_default());
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisation_members_join_and_administrators_revoke_its_keys_in_a_real_browser() {
    if !have_browser() {
        return;
    }
    let app = TestApp::start().await;
    let password = "correct horse battery";
    let admin = app.user("org-admin").await;
    app.user("org-member").await;
    let own = app.key(&admin, "own", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&own, nupkg(&Pkg::new("OrgAdmin.Lib", "1.0.0")))
            .await
            .status(),
        201
    );
    let driver = start_driver().await;
    let c = &driver.client;
    sign_in(c, &app, "org-admin", password).await;

    // Account → Create organization → its members page, where the administrator adds a member.
    c.goto(&app.url("/account")).await.unwrap();
    click(c, "#new-organization").await;
    fill(c, "#org-name", "Northwind").await;
    click(c, "#new-org button[type=submit]").await;
    wait_for_text(c, "id=\"add-member\"").await;
    assert_eq!(
        c.current_url().await.unwrap().path(),
        "/organizations/Northwind/members"
    );
    fill(c, "#member-username", "org-member").await;
    click(c, "#member-role option[value='collaborator']").await;
    click(c, "#add-member button[type=submit]").await;
    wait_for_text(c, "id=\"pending-members\"").await;
    screenshot(c, "org-members-invited.png").await;

    // The member follows the emailed link, signed in as themself, and accepts.
    let (_, mail) = crate::helpers::newest_mail(&app, "org-member@example.com").await;
    let link = app.url("/organizations/Northwind/join");
    assert!(mail.contains(&link), "{mail}");
    sign_out(c).await;
    sign_in(c, &app, "org-member", password).await;
    c.goto(&link).await.unwrap();
    wait_for_text(c, "Join Northwind?").await;
    assert_eq!(
        find(c, "#invited-role").await.text().await.unwrap(),
        "Collaborator"
    );
    screenshot(c, "org-join.png").await;
    click(c, "#accept-invitation").await;
    let members = wait_for_text(c, "(you)").await;
    assert!(members.contains("org-member") && members.contains("org-admin"));
    screenshot(c, "org-members-joined.png").await;
    sign_out(c).await;

    // The organisation owns a package (pushed with a key acting for it).
    let scope = nugate::auth::keys::KeyScope {
        owner: Some("Northwind".into()),
        actions: vec![Push],
        packages: Vec::new(),
        globs: vec!["Northwind.*".into()],
    };
    let (_, bootstrap) = app
        .state
        .keys
        .create(&admin, "bootstrap", &scope, None)
        .await
        .unwrap();
    assert_eq!(
        app.push(&bootstrap, nupkg(&Pkg::new("Northwind.Lib", "1.0.0")))
            .await
            .status(),
        201
    );

    // A key with "Package owner" = the organisation: the package list follows the owner in place.
    sign_in(c, &app, "org-admin", password).await;
    c.goto(&app.url("/account/apikeys")).await.unwrap();
    find(c, "#owner").await;
    assert_eq!(package_choices(c).await, ["OrgAdmin.Lib"]);
    assert!(
        c.find(Locator::Css("#show-packages")).await.is_err(),
        "with JavaScript the list updates in place: no 'Show packages' button"
    );
    fill(c, "#key-name", "northwind-ci").await;
    click(c, "#owner option[value='Northwind']").await;
    find(c, "input[data-package='Northwind.Lib']").await;
    assert_eq!(package_choices(c).await, ["Northwind.Lib"]);
    assert_eq!(value(c, "#shown-owner").await, "Northwind");
    click(c, "#scope-push-version").await;
    click(c, "input[data-package='Northwind.Lib']").await;
    screenshot(c, "org-key-create-form.png").await;
    click(c, "#create-key button[type=submit]").await;
    let key = value(c, "#new-key-value").await;
    assert!(key.starts_with("nugate_") && key.len() == 62, "{key}");
    let made = app.state.keys.get(&admin, "northwind-ci").await.unwrap();
    assert_eq!(made.owner_name.as_deref(), Some("Northwind"));
    assert_eq!(
        app.push(&key, nupkg(&Pkg::new("Northwind.Lib", "1.1.0")))
            .await
            .status(),
        201
    );

    // The organisation's keys page, as its administrator: the key is there and is revoked there.
    c.goto(&app.url("/account")).await.unwrap();
    click(
        c,
        "#organizations a[href='/organizations/Northwind/apikeys']",
    )
    .await;
    let card = format!("#org-key-{}", made.id);
    let text = find(c, &card).await.text().await.unwrap();
    for expected in [
        "northwind-ci",
        "org-admin",
        "Northwind.Lib",
        "Push only new package versions",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    assert!(!c.source().await.unwrap().contains(&key), "never a secret");
    screenshot(c, "org-keys.png").await;
    click(c, &format!("{card} button[type=submit]")).await;
    wait_for_text(c, "Revoked").await;
    let status = find(c, &format!("{card} .status"))
        .await
        .text()
        .await
        .unwrap();
    assert!(status.contains("Revoked"), "{status}");
    screenshot(c, "org-key-revoked.png").await;
    assert_eq!(
        app.push(&key, nupkg(&Pkg::new("Northwind.Lib", "1.2.0")))
            .await
            .status(),
        403
    );
    driver.client.clone().close().await.unwrap();
}

/// A private feed's gallery in a real browser: a visitor is sent to sign in and brought back to the
/// package page they asked for, which then works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_gallery_sends_visitors_to_sign_in_and_back() {
    if !have_browser() {
        return;
    }
    let app = TestApp::start_with(|c| c.read_access = nugate::config::ReadAccess::Private).await;
    let owner = app.user("private-reader").await;
    let key = app.key(&owner, "push", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, nupkg(&Pkg::new("Private.Lib", "1.0.0")))
            .await
            .status(),
        201
    );
    let driver = start_driver().await;
    let c = &driver.client;
    c.goto(&app.url("/packages/Private.Lib")).await.unwrap();
    find(c, "form[action='/signin']").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/signin", "{url}");
    assert!(
        !c.source().await.unwrap().contains("Private.Lib 1.0.0"),
        "nothing of the package shows before sign-in"
    );
    screenshot(c, "private-gallery-signin.png").await;
    fill(c, "#login", "private-reader").await;
    fill(c, "#password", "correct horse battery").await;
    click(c, "form[action='/signin'] button[type=submit]").await;
    wait_for_text(c, "Private.Lib").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/packages/Private.Lib", "{url}");
    screenshot(c, "private-gallery-package.png").await;
    c.goto(&app.url("/packages?q=private")).await.unwrap();
    wait_for_text(c, "Private.Lib").await;
}
