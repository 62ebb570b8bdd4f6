//! The seed's workflow in real headless Chromium (driven through ChromeDriver with fantoccini), with the
//! confirmation email delivered by a real SMTP server and the key used by the real nuget.exe 5.8.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use nugate::auth::scope::KeyAction::Push;

use crate::clients::{self, Session};
use crate::helpers::TestApp;

const REFUSED: &str = "The specified API key is invalid, has expired, or does not have permission";

struct Driver {
    child: Child,
    _profile: tempfile::TempDir,
    client: Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have_browser() -> bool {
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

async fn start_driver() -> Driver {
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

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// Waits until the page's source contains `text`, and returns the source.
async fn wait_for_text(c: &Client, text: &str) -> String {
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
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
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

async fn fill(c: &Client, css: &str, text: &str) {
    let e = find(c, css).await;
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    find(c, css).await.click().await.unwrap();
}

async fn value(c: &Client, css: &str) -> String {
    find(c, css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
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

    // Sign out, then sign in through the labelled form.
    click(c, "form[action='/signout'] button").await;
    wait_for_text(c, "Register").await;
    c.goto(&app.url("/signin")).await.unwrap();
    let page = c.source().await.unwrap();
    for label in ["Username or email", "Password", "Sign in"] {
        assert!(page.contains(label), "missing label {label}");
    }
    fill(c, "#login", "webuser").await;
    fill(c, "#password", "browser password").await;
    click(c, "form[action='/signin'] button[type=submit]").await;
    wait_for_text(c, "Sign out").await;

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
    let copied = c
        .find(Locator::Css("button[data-copy='new-key-value']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
    click(
        c,
        &format!("form[action='/account/apikeys/{id}/regenerate'] button"),
    )
    .await;
    let fresh = value(c, "#new-key-value").await;
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
    assert!(!after.contains("browser-test-key"));
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
