//! The web gallery and account pages over HTTP: forms, CSRF, sessions, throttling, isolation between users.

use nugate::model::key::KeyAction::*;
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::helpers::{nupkg, simple, Pkg, TestApp};

/// A browser-like client: cookies kept, redirects not followed (so they can be asserted).
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::at(&app.base)
    }

    /// A browser whose connections come from `ip` (any 127.x.y.z address reaches the server), so tests
    /// can sign in "from different addresses".
    pub fn from_address(app: &TestApp, ip: &str) -> Browser {
        Browser {
            http: crate::helpers::client_builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    /// A browser for any server base URL.
    pub fn at(base: &str) -> Browser {
        Browser {
            http: crate::helpers::client_builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Reads the CSRF token from a page's form.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, html) = self.get(path).await;
        let marker = "name=\"csrf\" value=\"";
        let start = html
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field on {path}"))
            + marker.len();
        html[start..].split('"').next().unwrap().to_string()
    }

    /// Posts a form (pairs may repeat names) with the token from `from`.
    pub async fn post(&self, from: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf(from).await;
        self.post_with_token(&token, path, fields).await
    }

    /// Posts a form with a CSRF token read earlier (when the page cannot be loaded now).
    pub async fn post_with_token(
        &self,
        token: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", token)];
        all.extend_from_slice(fields);
        let body = serde_html_form::to_string(&all).unwrap();
        self.http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", &self.base)
            .header("Sec-Fetch-Site", "same-origin")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> reqwest::Response {
        self.post(
            "/signin",
            "/signin",
            &[
                ("login", login),
                ("password", password),
                ("return_url", "/account/apikeys"),
            ],
        )
        .await
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn last_mail(app: &TestApp, to: &str) -> (String, String) {
    crate::helpers::newest_mail(app, to).await
}

fn link_in(body: &str, path: &str) -> String {
    let start = body
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {body}"));
    body[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['.', ')', '>'])
        .to_string()
}

#[tokio::test]
async fn register_confirm_sign_in_and_create_a_key_shown_once() {
    let app = TestApp::start().await;
    let b = Browser::new(&app);
    let r = b
        .post(
            "/register",
            "/register",
            &[
                ("username", "carol"),
                ("email", "carol@example.com"),
                ("password", "long password 1"),
                ("confirm_password", "long password 1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your email"));
    // Nobody is signed in by a sign-up, and an unconfirmed account is no administrator, even the first.
    assert_eq!(b.get("/account").await.0, 303);
    let carol = nugate::db::users::by_username(app.state.db.pool(), "carol")
        .await
        .unwrap()
        .unwrap();
    assert!(!carol.is_admin && !carol.email_confirmed);
    // An unconfirmed account may sign in, but creates no keys.
    assert_eq!(b.sign_in("carol", "long password 1").await.status(), 303);
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "early"), ("scopes", "push"), ("globs", "*")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("confirm your email"));
    let (subject, body) = last_mail(&app, "carol@example.com").await;
    assert!(
        subject.contains("verify") || subject.contains("onfirm"),
        "{subject}"
    );
    let link = link_in(&body, &format!("{}/account/confirm?token=", app.base));
    let (status, html) = b.get(link.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("confirmed"));
    let (status, _) = b.get(link.strip_prefix(&app.base).unwrap()).await;
    assert_eq!(status, 400, "a confirmation link works once");

    // The first account to confirm on a server without an administrator becomes administrator.
    let carol = nugate::db::users::by_username(app.state.db.pool(), "carol")
        .await
        .unwrap()
        .unwrap();
    assert!(carol.is_admin && carol.email_confirmed);

    // A package to scope to.
    let k = app.key(&carol, "bootstrap", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&k, simple("Carol.Lib", "1.0.0")).await.status(),
        201
    );

    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[
                ("name", "ci key"),
                ("expires_in", "90"),
                ("scopes", "push-version"),
                ("packages", "Carol.Lib"),
                ("globs", "Carol.*  Other.*"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account/apikeys");
    let (_, html) = b.get("/account/apikeys").await;
    assert!(html.contains("You will not be able to do so again."));
    let start = html.find("value=\"nugate_").unwrap() + 7;
    let key = html[start..].split('"').next().unwrap().to_string();
    assert_eq!(key.len(), 62);
    assert!(html.contains("Expires in 90 days"));
    assert!(html.contains("Push only new package versions"));
    // Shown once: a reload no longer has it.
    let (_, again) = b.get("/account/apikeys").await;
    assert!(!again.contains(&key));
    assert!(!again.contains("You will not be able to do so again."));
    // It works as scoped, and the email names everything but the key.
    assert_eq!(
        app.push(&key, simple("Carol.Lib", "1.1.0")).await.status(),
        201
    );
    assert_eq!(
        app.push(&key, simple("Carol.New", "1.0.0")).await.status(),
        403
    );
    let (subject, body) = last_mail(&app, "carol@example.com").await;
    assert!(subject.contains("API key added"), "{subject}");
    for expected in [
        "ci key",
        "Push only new package versions",
        "Carol.Lib",
        "Carol.*",
        "Other.*",
        "carol",
    ] {
        assert!(body.contains(expected), "{expected} missing from {body}");
    }
    assert!(!body.contains(&key));
    // Duplicate names and empty forms are refused with NuGet.org's messages.
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "ci key"), ("scopes", "push"), ("globs", "*")],
        )
        .await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("already have an API key named"));
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "x"), ("globs", "*")],
        )
        .await;
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("At least one scope must be selected."));
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "x"), ("scopes", "push")],
        )
        .await;
    assert!(r.text().await.unwrap().contains(
        "Either a glob pattern must be specified or at least one package ID must be selected."
    ));
}

#[tokio::test]
async fn key_actions_edit_regenerate_revoke_delete_through_forms() {
    let app = TestApp::start().await;
    let dave = app.user("dave").await;
    let key = app
        .key(&dave, "release", &[Push, Unlist], &["Dave.A"])
        .await;
    assert_eq!(
        app.push(&key, simple("Dave.A", "1.0.0")).await.status(),
        201
    );
    let b = Browser::new(&app);
    assert_eq!(
        b.sign_in("dave", "correct horse battery").await.status(),
        303
    );
    let id = app.state.keys.get(&dave, "release").await.unwrap().id;

    let r = b
        .post(
            &format!("/account/apikeys/{id}/edit"),
            &format!("/account/apikeys/{id}/edit"),
            &[("packages", "Dave.A"), ("globs", "Dave.*")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        *app.state.keys.get(&dave, "release").await.unwrap().subjects,
        ["Dave.A", "Dave.*"]
    );

    let r = b
        .post(
            "/account/apikeys",
            &format!("/account/apikeys/{id}/regenerate"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = b.get("/account/apikeys").await;
    let start = html.find("value=\"nugate_").unwrap() + 7;
    let fresh = html[start..].split('"').next().unwrap().to_string();
    assert_eq!(
        app.push(&key, simple("Dave.B", "1.0.0")).await.status(),
        403,
        "old secret is dead"
    );
    assert_eq!(
        app.push(&fresh, simple("Dave.B", "1.0.0")).await.status(),
        201
    );

    let r = b
        .post(
            "/account/apikeys",
            &format!("/account/apikeys/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = b.get("/account/apikeys").await;
    assert!(html.contains("Revoked"));
    assert_eq!(
        app.push(&fresh, simple("Dave.B", "2.0.0")).await.status(),
        403
    );

    let (status, confirm) = b.get(&format!("/account/apikeys/{id}/delete")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Delete “release”?"));
    let r = b
        .post(
            &format!("/account/apikeys/{id}/delete"),
            &format!("/account/apikeys/{id}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = b.get("/account/apikeys").await;
    assert!(!html.contains("release"));
    let subjects: Vec<String> = sqlx::query_scalar(
        "SELECT subject FROM outbox WHERE recipient = 'dave@example.com' ORDER BY id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert!(
        subjects.iter().any(|s| s.contains("Revoked")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("removed")),
        "{subjects:?}"
    );
}

/// The opening tag of every `<input>` in `html`, as its attributes (names lowercased, values unescaped).
fn input_tags(html: &str) -> Vec<Vec<(String, String)>> {
    html.match_indices("<input")
        .filter_map(|(at, _)| {
            let rest = &html[at + "<input".len()..];
            let end = rest.find('>')?;
            Some(attributes(&rest[..end]))
        })
        .collect()
}

/// The attributes of an opening tag's text (after the tag name, before `>`).
fn attributes(mut tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        tag = tag.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if tag.is_empty() {
            return out;
        }
        let name_end = tag
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        tag = tag[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = tag.strip_prefix('=') {
            let after = after.trim_start();
            let (raw, rest) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let inner = &after[1..];
                    let close = inner.find(quote).unwrap_or(inner.len());
                    (&inner[..close], inner.get(close + 1..).unwrap_or(""))
                }
                _ => after.split_at(after.find(char::is_whitespace).unwrap_or(after.len())),
            };
            value = unescape(raw);
            tag = rest;
        }
        out.push((name, value));
    }
}

/// Undoes the HTML escaping templates apply to text and attribute values.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// The part of `html` from the form posting to `action` to its end.
fn form_with_action<'a>(html: &'a str, action: &str) -> &'a str {
    let marker = format!("action=\"{action}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no form posting to {action}:\n{html}"));
    let form = &html[start..];
    &form[..form.find("</form>").unwrap_or(form.len())]
}

/// The `name` fields a browser submits from `form`: checkboxes only when ticked, other inputs always,
/// and textareas with their text.
fn submitted(form: &str, name: &str) -> Vec<String> {
    let mut values: Vec<String> = input_tags(form)
        .into_iter()
        .filter(|attrs| attrs.iter().any(|(n, v)| n == "name" && v == name))
        .filter(|attrs| {
            let get = |key: &str| {
                attrs
                    .iter()
                    .find(|(n, _)| n == key)
                    .map(|(_, v)| v.as_str())
            };
            let tickable = matches!(get("type"), Some("checkbox" | "radio"));
            !tickable || get("checked").is_some()
        })
        .map(|attrs| {
            attrs
                .into_iter()
                .find(|(n, _)| n == "value")
                .map(|(_, v)| v)
                .unwrap_or_default()
        })
        .collect();
    for (at, _) in form.match_indices("<textarea") {
        let rest = &form[at + "<textarea".len()..];
        let Some(end) = rest.find('>') else { continue };
        if attributes(&rest[..end])
            .iter()
            .any(|(n, v)| n == "name" && v == name)
        {
            let text = &rest[end + 1..];
            let text = &text[..text.find("</textarea>").unwrap_or(text.len())];
            values.push(unescape(text.strip_prefix('\n').unwrap_or(text)));
        }
    }
    values
}

/// Whether `needle` appears within `radius` bytes of some occurrence of `anchor` (case-insensitively).
fn near(html: &str, anchor: &str, needle: &str, radius: usize) -> bool {
    let needle = needle.to_lowercase();
    html.match_indices(anchor).any(|(at, _)| {
        let mut start = at.saturating_sub(radius);
        while !html.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + anchor.len() + radius).min(html.len());
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        html[start..end].to_lowercase().contains(&needle)
    })
}

/// A key scoped to packages its user has since stopped owning keeps them when the user edits it: the edit
/// page shows them (marked) and ticked, so pressing Save without changes does not drop them. They can still
/// be removed by unticking them.
#[tokio::test]
async fn editing_a_key_keeps_ids_the_user_no_longer_owns() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let push = app.key(&alice, "push", &[Push], &["*"]).await;
    for id in ["Contoso.A", "Contoso.B"] {
        assert_eq!(
            app.push(&push, simple(id, "1.0.0")).await.status(),
            201,
            "{id}"
        );
    }
    app.key(
        &alice,
        "scoped",
        &[PushVersion],
        &["Contoso.A", "Contoso.B"],
    )
    .await;
    let before = app.state.keys.get(&alice, "scoped").await.unwrap().subjects;
    assert!(
        before.iter().any(|s| s == "Contoso.A") && before.iter().any(|s| s == "Contoso.B"),
        "{before:?}"
    );
    // Contoso.B changes hands: alice no longer owns it.
    app.state
        .packages
        .add_owner("Contoso.B", "bob")
        .await
        .unwrap();
    app.state
        .packages
        .remove_owner("Contoso.B", "alice")
        .await
        .unwrap();

    let b = Browser::new(&app);
    assert_eq!(
        b.sign_in("alice", "correct horse battery").await.status(),
        303
    );
    let id = app.state.keys.get(&alice, "scoped").await.unwrap().id;
    let edit = format!("/account/apikeys/{id}/edit");
    let (status, html) = b.get(&edit).await;
    assert_eq!(status, 200, "{html}");
    let form = form_with_action(&html, &edit);
    assert!(
        near(form, "Contoso.B", "no longer owned", 300),
        "the edit form must show Contoso.B marked \"no longer owned\":\n{form}"
    );

    // Save without changes: what a browser sends from the form as shown.
    let packages = submitted(form, "packages");
    assert!(
        packages.iter().any(|p| p == "Contoso.A") && packages.iter().any(|p| p == "Contoso.B"),
        "the form must submit both packages the key is scoped to, got {packages:?}:\n{form}"
    );
    let globs = submitted(form, "globs");
    assert_eq!(globs.len(), 1, "one glob field: {globs:?}\n{form}");
    let mut fields: Vec<(&str, &str)> = packages.iter().map(|p| ("packages", p.as_str())).collect();
    fields.push(("globs", globs[0].as_str()));
    let r = b.post(&edit, &edit, &fields).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let after = app.state.keys.get(&alice, "scoped").await.unwrap().subjects;
    assert!(
        after.iter().any(|s| s == "Contoso.A") && after.iter().any(|s| s == "Contoso.B"),
        "saving an unchanged form must keep the package alice no longer owns: {after:?}"
    );

    // Unticking it removes it, and then the page no longer offers it.
    let r = b
        .post(
            &edit,
            &edit,
            &[("packages", "Contoso.A"), ("globs", globs[0].as_str())],
        )
        .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let after = app.state.keys.get(&alice, "scoped").await.unwrap().subjects;
    assert_eq!(*after, ["Contoso.A"], "unticking Contoso.B must remove it");
    let (_, html) = b.get(&edit).await;
    assert!(
        !form_with_action(&html, &edit).contains("Contoso.B"),
        "a package neither owned nor selected is not offered:\n{html}"
    );
}

#[tokio::test]
async fn users_cannot_see_or_touch_each_others_keys_and_packages() {
    let app = TestApp::start().await;
    let erin = app.user("erin").await;
    let frank = app.user("frank").await;
    let ek = app.key(&erin, "erin-key", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&ek, simple("Erin.Lib", "1.0.0")).await.status(),
        201
    );
    let erin_key = app.state.keys.get(&erin, "erin-key").await.unwrap().id;
    let _ = frank;
    let b = Browser::new(&app);
    b.sign_in("frank", "correct horse battery").await;
    let (_, html) = b.get("/account/apikeys").await;
    assert!(!html.contains("erin-key"));
    for path in [
        format!("/account/apikeys/{erin_key}/edit"),
        format!("/account/apikeys/{erin_key}/delete"),
    ] {
        assert_eq!(b.get(&path).await.0, 404, "{path}");
    }
    for path in [
        format!("/account/apikeys/{erin_key}/revoke"),
        format!("/account/apikeys/{erin_key}/regenerate"),
        format!("/account/apikeys/{erin_key}/delete"),
    ] {
        assert_eq!(
            b.post("/account/apikeys", &path, &[]).await.status(),
            404,
            "{path}"
        );
    }
    let r = b
        .post(
            "/packages/Erin.Lib",
            "/packages/Erin.Lib/1.0.0/listing",
            &[("listed", "false")],
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = b
        .post(
            "/packages/Erin.Lib",
            "/packages/Erin.Lib/owners",
            &[("username", "frank")],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(b.get("/admin").await.0, 404, "non-admins see no admin page");
    assert_eq!(
        app.state
            .keys
            .get(&erin, "erin-key")
            .await
            .unwrap()
            .revoked_at,
        None
    );
}

#[tokio::test]
async fn csrf_sessions_throttling_and_redirects() {
    let app = TestApp::start().await;
    app.user("gina").await;
    let b = Browser::new(&app);
    // No token, wrong token, foreign origin, cross-site fetch: all 403.
    let raw = |body: &str, origin: &str, site: &str| {
        b.http
            .post(format!("{}/signin", app.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Origin", origin)
            .header("Sec-Fetch-Site", site)
            .body(body.to_string())
            .send()
    };
    let token = b.csrf("/signin").await;
    assert_eq!(
        raw(
            "login=gina&password=correct+horse+battery",
            &app.base,
            "same-origin"
        )
        .await
        .unwrap()
        .status(),
        403
    );
    assert_eq!(
        raw(
            "csrf=nope&login=gina&password=correct+horse+battery",
            &app.base,
            "same-origin"
        )
        .await
        .unwrap()
        .status(),
        403
    );
    let good = format!("csrf={token}&login=gina&password=correct+horse+battery");
    assert_eq!(
        raw(&good, "https://evil.example", "same-origin")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        raw(&good, &app.base, "cross-site").await.unwrap().status(),
        403
    );

    // Sign-in: a fresh session id every time (no fixation), cookie flags, safe returnUrl only.
    let r = b
        .post(
            "/signin",
            "/signin",
            &[
                ("login", "gina"),
                ("password", "correct horse battery"),
                ("return_url", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("nugate_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let first = cookie.split(';').next().unwrap().to_string();
    let r = b
        .post(
            "/signin",
            "/signin",
            &[
                ("login", "gina@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let second = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("nugate_session="))
        .unwrap();
    assert_ne!(first, second.split(';').next().unwrap());
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(sessions, 1, "the old session was dropped at sign-in");
    assert_eq!(b.get("/account").await.0, 200);

    // Idle sessions expire.
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 86400")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let r = b
        .http
        .get(format!("{}/account/apikeys", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/signin?returnUrl=/account/apikeys");

    // Throttling: five failures lock the account for a while, even with the right password after.
    let t = Browser::new(&app);
    for _ in 0..5 {
        assert_eq!(t.sign_in("gina", "wrong password").await.status(), 401);
    }
    let r = t.sign_in("gina", "correct horse battery").await;
    assert_eq!(r.status(), 429);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-in attempts"));
}

#[tokio::test]
async fn gallery_pages_escape_package_metadata_and_sanitise_readmes() {
    let app = TestApp::start().await;
    let hank = app.user("hank").await;
    let key = app.key(&hank, "k", &[Push], &["*"]).await;
    let package = nupkg(&Pkg {
        extra_metadata: "<title>&lt;script&gt;alert('title')&lt;/script&gt;</title><projectUrl>https://example.com/?a=&quot;&gt;&lt;x</projectUrl><tags>xss web</tags>",
        deps: &[("Dep.One", "[1.0,2.0)")],
        ..Pkg::new("Xss.Lib", "1.0.0")
    });
    assert_eq!(app.push(&key, package).await.status(), 201);
    let (status, html) = Browser::new(&app).get("/packages/Xss.Lib").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>alert"), "title must be escaped");
    assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"));
    assert!(html.contains("dotnet add package Xss.Lib --version 1.0.0"));
    assert!(html.contains("PackageReference"));
    assert!(html.contains("nuget install Xss.Lib -Version 1.0.0"));
    assert!(html.contains("Dep.One") && html.contains("(&#62;= 1.0.0 &#38;&#38; &#60; 2.0.0)"));
    assert!(html.contains("/v3-flatcontainer/xss.lib/1.0.0/xss.lib.1.0.0.nupkg"));
    // Only http(s) nuspec URLs become links: a `javascript:` one would run when clicked.
    let scripted = nupkg(&Pkg {
        extra_metadata:
            "<projectUrl> JavaScript:alert(1)</projectUrl><licenseUrl>data:text/html,x</licenseUrl>",
        ..Pkg::new("Xss.Links", "1.0.0")
    });
    assert_eq!(app.push(&key, scripted).await.status(), 201);
    let (_, links) = Browser::new(&app).get("/packages/Xss.Links").await;
    assert!(!links.to_lowercase().contains("alert(1)") && !links.contains("data:text"));
    let readme = nugate::web::render_readme(
        "# Hi\n<script>alert(1)</script>\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>",
    );
    // A README's own headings start below the page's h1 and h2.
    assert!(readme.contains("<h3>Hi</h3>"));
    assert!(
        !readme.contains("<script")
            && !readme.contains("javascript:")
            && !readme.contains("onerror")
    );
    // Search, home and profile list it; unknown things are 404 pages.
    let b = Browser::new(&app);
    assert!(b.get("/packages?q=xss").await.1.contains("Xss.Lib"));
    assert!(b.get("/").await.1.contains("Xss.Lib"));
    assert!(b.get("/profiles/hank").await.1.contains("Xss.Lib"));
    assert_eq!(b.get("/packages/Nope.Nothing").await.0, 404);
    assert_eq!(b.get("/profiles/nobody").await.0, 404);
    // Security headers on pages.
    let r = b.http.get(format!("{}/", app.base)).send().await.unwrap();
    let h = r.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("referrer-policy"));
}

/// The `max-age` of the HSTS header on `path`, sent with `X-Forwarded-Proto: proto` when given; `None`
/// without the header.
async fn hsts_max_age(app: &TestApp, path: &str, proto: Option<&str>) -> Option<u64> {
    let mut request = app.client.get(app.url(path));
    if let Some(proto) = proto {
        request = request
            .header("X-Forwarded-Proto", proto)
            .header("X-Forwarded-Host", "nuget.example.com");
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let value = response.headers().get("strict-transport-security")?;
    let max_age = value
        .to_str()
        .unwrap()
        .split(';')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .unwrap_or_else(|| panic!("HSTS without max-age: {value:?}"));
    Some(max_age.parse().unwrap())
}

/// HSTS is sent only when the client's connection was https. nugate has no TLS listener (it serves plain
/// HTTP and leaves TLS to a reverse proxy or load balancer), so https reaches it in exactly two ways, both
/// tested here over the plain-HTTP test server: an `https://` `public_url`, or `X-Forwarded-Proto: https`
/// from a peer in `trusted_proxies`. The same header from anyone else is a claim any client can make.
#[tokio::test]
async fn hsts_only_when_served_over_https() {
    const YEAR: u64 = 31_536_000;
    // Pages and protocol responses alike: the header is added to every response.
    let paths = ["/", "/packages", "/v3/index.json", "/health/live"];

    let plain = TestApp::start().await;
    for path in paths {
        assert_eq!(hsts_max_age(&plain, path, None).await, None, "{path}");
        // Not a trusted proxy (none are configured): a spoofed header changes nothing.
        assert_eq!(
            hsts_max_age(&plain, path, Some("https")).await,
            None,
            "{path}"
        );
    }

    let configured =
        TestApp::start_with(|c| c.public_url = Some("https://feed.example.org".into())).await;
    for path in paths {
        let max_age = hsts_max_age(&configured, path, None).await;
        assert!(max_age >= Some(YEAR), "{path}: {max_age:?}");
    }

    // Behind a trusted proxy (the test client connects from 127.0.0.1), the proxy's word decides.
    let proxied =
        TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    for path in paths {
        let max_age = hsts_max_age(&proxied, path, Some("https")).await;
        assert!(max_age >= Some(YEAR), "{path}: {max_age:?}");
        assert_eq!(hsts_max_age(&proxied, path, Some("http")).await, None);
        assert_eq!(hsts_max_age(&proxied, path, None).await, None);
    }
    // Only the client-facing (first) hop counts.
    let r = proxied
        .client
        .get(proxied.url("/"))
        .header("X-Forwarded-Proto", "http, https")
        .send()
        .await
        .unwrap();
    assert!(!r.headers().contains_key("strict-transport-security"));
    // Cookies set over https are Secure, behind the proxy too; over plain http they cannot be.
    let cookies = |proto: Option<&'static str>| {
        // A fresh client each time: no cookie yet, so the CSRF cookie is set.
        let (client, url) = (crate::helpers::http(), proxied.url("/signin"));
        async move {
            let mut request = client.get(url);
            if let Some(proto) = proto {
                request = request.header("X-Forwarded-Proto", proto);
            }
            let r = request.send().await.unwrap();
            let cookies: Vec<String> = r
                .headers()
                .get_all("set-cookie")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            assert!(!cookies.is_empty(), "a first visit sets the CSRF cookie");
            cookies
        }
    };
    for cookie in cookies(Some("https")).await {
        assert!(
            cookie.ends_with("; Secure") || cookie.contains("; Secure;"),
            "{cookie}"
        );
    }
    for cookie in cookies(None).await {
        assert!(!cookie.contains("Secure"), "{cookie}");
    }

    // Some other address is the trusted proxy: the header from 127.0.0.1 is a client's claim.
    let elsewhere =
        TestApp::start_with(|c| c.trusted_proxies = vec!["10.0.0.10".parse().unwrap()]).await;
    for path in paths {
        assert_eq!(
            hsts_max_age(&elsewhere, path, Some("https")).await,
            None,
            "{path}"
        );
    }
}

#[tokio::test]
async fn owners_unlist_and_invite_co_owners_who_must_accept() {
    let app = TestApp::start().await;
    let ivy = app.user("ivy").await;
    app.user("jack").await;
    let key = app.key(&ivy, "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Ivy.Lib", "1.0.0")).await.status(),
        201
    );
    assert_eq!(
        app.push(&key, simple("Ivy.Lib", "2.0.0")).await.status(),
        201
    );
    let owner = Browser::new(&app);
    owner.sign_in("ivy", "correct horse battery").await;
    let r = owner
        .post(
            "/packages/Ivy.Lib",
            "/packages/Ivy.Lib/2.0.0/listing",
            &[("listed", "false")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let search = app.json("/v3/search?q=Ivy.Lib").await;
    assert_eq!(search["data"][0]["version"], "1.0.0");
    // Others do not see the unlisted version; the owner does.
    assert!(!Browser::new(&app)
        .get("/packages/Ivy.Lib")
        .await
        .1
        .contains("2.0.0"));
    assert!(owner.get("/packages/Ivy.Lib").await.1.contains("Unlisted"));
    // Invite jack: an email, then acceptance makes him an owner.
    let r = owner
        .post(
            "/packages/Ivy.Lib",
            "/packages/Ivy.Lib/owners",
            &[("username", "jack")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (subject, body) = last_mail(&app, "jack@example.com").await;
    assert!(subject.to_lowercase().contains("owner"), "{subject}");
    assert!(body.contains("/packages/Ivy.Lib/owners/accept"));
    let jack = Browser::new(&app);
    jack.sign_in("jack", "correct horse battery").await;
    let r = jack
        .post(
            "/packages/Ivy.Lib/owners/accept",
            "/packages/Ivy.Lib/owners/accept",
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let owners = nugate::db::packages::owner_names(
        app.state.db.pool(),
        nugate::db::packages::registration(app.state.db.pool(), "Ivy.Lib")
            .await
            .unwrap()
            .unwrap()
            .id,
    )
    .await
    .unwrap();
    assert_eq!(owners, ["ivy", "jack"]);
    // Remove one owner; the last one cannot be removed.
    assert_eq!(
        owner
            .post(
                "/packages/Ivy.Lib",
                "/packages/Ivy.Lib/owners/remove",
                &[("username", "jack")]
            )
            .await
            .status(),
        303
    );
    let r = owner
        .post(
            "/packages/Ivy.Lib",
            "/packages/Ivy.Lib/owners/remove",
            &[("username", "ivy")],
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn password_reset_change_email_delete_account_and_admin() {
    let app = TestApp::start().await;
    let admin_user = app.user("root").await;
    app.state
        .users
        .set_flags(&admin_user, false, true)
        .await
        .unwrap();
    let kim = app.user("kim").await;
    let key = app.key(&kim, "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Kim.Lib", "1.0.0")).await.status(),
        201
    );

    // Forgotten password: same answer for unknown addresses; the link resets once.
    let anon = Browser::new(&app);
    let r = anon
        .post(
            "/account/forgot-password",
            "/account/forgot-password",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = anon
        .post(
            "/account/forgot-password",
            "/account/forgot-password",
            &[("email", "kim@example.com")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, body) = last_mail(&app, "kim@example.com").await;
    let link = link_in(
        &body,
        &format!("{}/account/reset-password?token=", app.base),
    );
    let token = link.split("token=").nth(1).unwrap().to_string();
    let r = anon
        .post(
            link.strip_prefix(&app.base).unwrap(),
            "/account/reset-password",
            &[
                ("token", &token),
                ("password", "a new password"),
                ("confirm_password", "a new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        anon.sign_in("kim", "correct horse battery").await.status(),
        401
    );
    let kim_browser = Browser::new(&app);
    assert_eq!(
        kim_browser.sign_in("kim", "a new password").await.status(),
        303
    );

    // Change email: effective only after the link sent to the new address.
    let r = kim_browser
        .post(
            "/account",
            "/account/email",
            &[("email", "kim@new.example"), ("password", "a new password")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, body) = last_mail(&app, "kim@new.example").await;
    let link = link_in(&body, &format!("{}/account/confirm-email?token=", app.base));
    assert_eq!(
        kim_browser
            .get(link.strip_prefix(&app.base).unwrap())
            .await
            .0,
        200
    );
    let kim = nugate::db::users::by_username(app.state.db.pool(), "kim")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kim.email, "kim@new.example");

    // Admin locks kim: her session and keys stop working; unlock restores sign-in.
    let admin = Browser::new(&app);
    assert_eq!(
        admin
            .sign_in("root", "correct horse battery")
            .await
            .status(),
        303
    );
    let (status, html) = admin.get("/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("Kim.Lib") && html.contains("max_key_lifetime_days"));
    assert_eq!(
        admin
            .post("/admin", "/admin/users/kim", &[("action", "lock")])
            .await
            .status(),
        303
    );
    assert_eq!(kim_browser.get("/account").await.0, 303);
    assert_eq!(
        app.push(&key, simple("Kim.Lib", "2.0.0")).await.status(),
        403
    );
    assert_eq!(
        admin
            .post("/admin", "/admin/users/kim", &[("action", "unlock")])
            .await
            .status(),
        303
    );
    assert_eq!(
        kim_browser.sign_in("kim", "a new password").await.status(),
        303
    );

    // Delete account: keys die, the package stays (orphaned, visible to admins).
    assert_eq!(app.json("/v3/search?q=owner:kim").await["totalHits"], 1);
    let r = kim_browser
        .post(
            "/account",
            "/account/delete",
            &[("confirm_username", "kim"), ("password", "a new password")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.push(&key, simple("Kim.Lib", "3.0.0")).await.status(),
        403
    );
    assert_eq!(
        app.json("/v3-flatcontainer/kim.lib/index.json").await["versions"][0],
        "1.0.0"
    );
    assert!(admin.get("/admin").await.1.contains("orphaned"));
    // Search stops naming the deleted owner (within `cache_ttl_ms`: the deletion is a counted change).
    let started = std::time::Instant::now();
    while app.json("/v3/search?q=owner:kim").await["totalHits"] != 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.json("/v3/search?q=Kim.Lib").await["data"][0]["owners"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn closed_signup_refuses_registration() {
    let app = TestApp::start_with(|c| c.signup = nugate::config::SignupMode::Closed).await;
    let b = Browser::new(&app);
    assert!(b.get("/register").await.1.contains("Sign-up is closed"));
    let r = b
        .http
        .post(format!("{}/register", app.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf={}&username=x&email=x%40example.com&password=12345678&confirm_password=12345678",
            b.csrf("/signin").await
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        nugate::db::users::count(app.state.db.pool()).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn home_page_shows_the_absolute_feed_url() {
    let app = TestApp::start().await;
    let (status, html) = Browser::new(&app).get("/").await;
    assert_eq!(status, 200);
    let feed = format!("{}/v3/index.json", app.base);
    assert!(
        html.contains(&feed),
        "the home page must show the feed URL {feed}:\n{html}"
    );
    assert!(
        html.contains("dotnet nuget add source"),
        "the home page must show how to add the feed:\n{html}"
    );
    // Behind a proxy, the configured public URL is the one clients must use.
    let public =
        TestApp::start_with(|c| c.public_url = Some("https://feed.example.org".into())).await;
    let (_, html) = Browser::new(&public).get("/").await;
    assert!(
        html.contains("https://feed.example.org/v3/index.json"),
        "the home page must show the public feed URL:\n{html}"
    );
}

/// The values of the `packages` checkboxes on a page (what the key form offers to scope to).
fn package_boxes(html: &str) -> Vec<String> {
    input_tags(html)
        .into_iter()
        .filter(|attrs| attrs.iter().any(|(n, v)| n == "name" && v == "packages"))
        .filter_map(|attrs| {
            attrs
                .into_iter()
                .find(|(n, _)| n == "value")
                .map(|(_, v)| v)
        })
        .collect()
}

/// Creates a key acting for `org` and returns its plaintext.
async fn org_key(app: &TestApp, user: &nugate::db::users::User, org: &str, name: &str) -> String {
    let scope = nugate::auth::keys::KeyScope {
        owner: Some(org.to_string()),
        actions: vec![Push, Unlist],
        packages: Vec::new(),
        globs: vec!["*".to_string()],
    };
    app.state
        .keys
        .create(user, name, &scope, None)
        .await
        .unwrap()
        .1
}

#[tokio::test]
async fn organisations_are_created_joined_and_managed_through_forms() {
    let app = TestApp::start().await;
    app.user("alice").await;
    app.user("bob").await;
    app.user("carol").await;
    let alice = Browser::new(&app);
    alice.sign_in("alice", "correct horse battery").await;

    // Create: refusals re-render the form with the message, success goes to the members page.
    let (status, html) = alice.get("/organizations/new").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Create an organization") && !html.contains("creation-refused"));
    let r = alice
        .post(
            "/organizations/new",
            "/organizations/new",
            &[("name", "Contoso"), ("email", "")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/organizations/Contoso/members");
    for (name, message) in [
        ("contoso", "is already taken"),
        ("bob", "is already taken"),
        ("not a name!", "Names are 1-64 characters"),
    ] {
        let r = alice
            .post(
                "/organizations/new",
                "/organizations/new",
                &[("name", name)],
            )
            .await;
        assert_eq!(r.status(), 400, "{name}");
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "{name}: {html}");
        assert!(html.contains("id=\"new-org\""), "the form is shown again");
    }
    let (status, html) = alice.get("/organizations/Contoso/members").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Administrator") && html.contains("id=\"add-member\""));

    // Invite bob as a collaborator: he is emailed and joins only by accepting.
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members",
            &[("username", "bob"), ("role", "collaborator")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (subject, body) = last_mail(&app, "bob@example.com").await;
    assert!(subject.contains("join the organization"), "{subject}");
    assert!(
        body.contains(&format!("{}/organizations/Contoso/join", app.base)),
        "{body}"
    );
    let (_, html) = alice.get("/organizations/Contoso/members").await;
    assert!(html.contains("id=\"pending-members\"") && html.contains("bob"));
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members",
            &[("username", "nobody"), ("role", "collaborator")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("There is no user named"));

    let bob = Browser::new(&app);
    bob.sign_in("bob", "correct horse battery").await;
    assert_eq!(bob.get("/organizations/Contoso/members").await.0, 404);
    let (status, html) = bob.get("/organizations/Contoso/join").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Collaborator"));
    let carol = Browser::new(&app);
    carol.sign_in("carol", "correct horse battery").await;
    assert_eq!(carol.get("/organizations/Contoso/join").await.0, 404);
    let r = bob
        .post(
            "/organizations/Contoso/join",
            "/organizations/Contoso/join",
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/organizations/Contoso/members");
    let (status, html) = bob.get("/organizations/Contoso/members").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Collaborator") && !html.contains("id=\"add-member\""));
    let (_, account) = bob.get("/account").await;
    assert!(account.contains("Contoso") && account.contains("Collaborator"));

    // Only administrators see the keys page; to others it does not exist.
    assert_eq!(bob.get("/organizations/Contoso/apikeys").await.0, 404);
    assert_eq!(carol.get("/organizations/Contoso/apikeys").await.0, 404);
    assert_eq!(carol.get("/organizations/Contoso/members").await.0, 404);
    assert_eq!(alice.get("/organizations/Contoso/apikeys").await.0, 200);
    // A collaborator manages nobody.
    let r = bob
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members",
            &[("username", "carol"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Only administrators"));

    // The last administrator can neither leave nor step down.
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members/remove",
            &[("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("must keep at least one administrator"));
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members/role",
            &[("username", "alice"), ("role", "collaborator")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("must keep at least one administrator"));

    // Packages the organisation owns: collaborators unlist them, only administrators manage owners.
    let alice_user = nugate::db::users::by_username(app.state.db.pool(), "alice")
        .await
        .unwrap()
        .unwrap();
    let key = org_key(&app, &alice_user, "Contoso", "org-push").await;
    assert_eq!(
        app.push(&key, simple("Contoso.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    let (_, page) = bob.get("/packages/Contoso.Lib").await;
    assert!(page.contains("Unlist"), "{page}");
    assert!(!page.contains("action=\"/packages/Contoso.Lib/owners\""));
    let (_, page) = alice.get("/packages/Contoso.Lib").await;
    assert!(page.contains("action=\"/packages/Contoso.Lib/owners\""));
    assert!(page.contains("user or organization name"));
    let (status, profile) = carol.get("/profiles/Contoso").await;
    assert_eq!(status, 200);
    assert!(profile.contains("Organization") && profile.contains("Contoso.Lib"));

    // Promote bob; then alice may leave, and the organisation is gone from her account page.
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members/role",
            &[("username", "bob"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(bob.get("/organizations/Contoso/apikeys").await.0, 200);
    let r = alice
        .post(
            "/organizations/Contoso/members",
            "/organizations/Contoso/members/remove",
            &[("username", "alice")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert_eq!(alice.get("/organizations/Contoso/members").await.0, 404);
    assert!(!alice.get("/account").await.1.contains("Contoso"));
    // Her key for the organisation stopped working with her membership.
    assert_eq!(
        app.push(&key, simple("Contoso.Lib", "1.1.0"))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn the_key_page_follows_the_chosen_owner_and_org_admins_see_and_revoke_org_keys() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.state
        .orgs
        .create(&alice, "Contoso", None, false)
        .await
        .unwrap();
    app.state
        .orgs
        .set_member(
            "Contoso",
            "bob",
            nugate::model::account::OrgRole::Collaborator,
        )
        .await
        .unwrap();
    let own = app.key(&alice, "own", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&own, simple("Alice.Lib", "1.0.0")).await.status(),
        201
    );
    let org = org_key(&app, &bob, "Contoso", "bob-org-key").await;
    assert_eq!(
        app.push(&org, simple("Contoso.Lib", "1.0.0"))
            .await
            .status(),
        201
    );

    let b = Browser::new(&app);
    b.sign_in("alice", "correct horse battery").await;
    let (_, html) = b.get("/account/apikeys").await;
    assert_eq!(package_boxes(&html), ["Alice.Lib"]);
    assert!(html.contains("<option value=\"Contoso\""), "{html}");
    let (status, html) = b.get("/account/apikeys?owner=Contoso").await;
    assert_eq!(status, 200);
    assert_eq!(package_boxes(&html), ["Contoso.Lib"]);
    assert!(html.contains("name=\"shown_owner\" id=\"shown-owner\" value=\"Contoso\""));
    // An account the user does not belong to is not offered: the page falls back to their own.
    let (_, html) = b.get("/account/apikeys?owner=bob").await;
    assert_eq!(package_boxes(&html), ["Alice.Lib"]);

    // Without JavaScript, a form sent with another owner than the one whose packages it showed (or
    // with "Show packages") shows that owner's packages and creates nothing, keeping what was typed.
    for fields in [
        vec![
            ("name", "org-key"),
            ("owner", "Contoso"),
            ("shown_owner", "alice"),
            ("scopes", "push-version"),
            ("packages", "Alice.Lib"),
        ],
        vec![
            ("name", "org-key"),
            ("owner", "Contoso"),
            ("shown_owner", "alice"),
            ("show", "packages"),
        ],
    ] {
        let r = b
            .post("/account/apikeys", "/account/apikeys", &fields)
            .await;
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        assert_eq!(package_boxes(&html), ["Contoso.Lib"]);
        assert!(html.contains("value=\"org-key\""), "the name is kept");
        assert!(html.contains("Showing the packages of the chosen owner"));
    }
    assert_eq!(app.state.keys.list(&alice).await.unwrap().len(), 1);
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[
                ("name", "org-key"),
                ("owner", "Contoso"),
                ("shown_owner", "Contoso"),
                ("scopes", "push-version"),
                ("packages", "Contoso.Lib"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let made = app.state.keys.get(&alice, "org-key").await.unwrap();
    assert_eq!(made.owner_name.as_deref(), Some("Contoso"));
    let (_, html) = b.get("/account/apikeys").await;
    assert!(
        html.contains("(organization)"),
        "the key list names its owner"
    );

    // The organisation's cap on lifetimes: longer choices are disabled, and refused if sent anyway.
    app.state
        .orgs
        .set_max_key_lifetime(&alice, "Contoso", Some(30))
        .await
        .unwrap();
    let (_, html) = b.get("/account/apikeys?owner=Contoso").await;
    assert!(html.contains("<option value=\"30\" selected>"), "{html}");
    assert!(html.contains("<option value=\"365\" disabled>"), "{html}");
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[
                ("name", "too-long"),
                ("owner", "Contoso"),
                ("expires_in", "365"),
                ("scopes", "push"),
                ("globs", "Contoso.*"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("between 1 and 30 days"));

    // The organisation's keys page: every key acting for it, with its maker, never a secret.
    let (status, html) = b.get("/organizations/Contoso/apikeys").await;
    assert_eq!(status, 200, "{html}");
    for expected in ["bob-org-key", "org-key", "Made by", "bob", "Contoso.Lib"] {
        assert!(html.contains(expected), "{expected} missing:\n{html}");
    }
    assert!(!html.contains("nugate_") && !html.contains(&org));
    let bob_key = app.state.keys.get(&bob, "bob-org-key").await.unwrap().id;
    let r = b
        .post(
            "/organizations/Contoso/apikeys",
            &format!("/organizations/Contoso/apikeys/{bob_key}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/organizations/Contoso/apikeys");
    assert_eq!(
        app.push(&org, simple("Contoso.Lib", "2.0.0"))
            .await
            .status(),
        403
    );
    let (_, html) = b.get("/organizations/Contoso/apikeys").await;
    assert!(html.contains("Revoked"));
    // A key of another account is no key of the organisation.
    let own_id = app.state.keys.get(&alice, "own").await.unwrap().id;
    let r = b
        .post(
            "/organizations/Contoso/apikeys",
            &format!("/organizations/Contoso/apikeys/{own_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), 404);

    // Settings: a number of days up to the server's, or empty for the server's.
    for bad in ["0", "abc", "100000"] {
        let r = b
            .post(
                "/organizations/Contoso/apikeys",
                "/organizations/Contoso/settings",
                &[("max_key_lifetime_days", bad)],
            )
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.text().await.unwrap().contains("key lifetime cap"));
    }
    let r = b
        .post(
            "/organizations/Contoso/apikeys",
            "/organizations/Contoso/settings",
            &[("max_key_lifetime_days", "")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let contoso = app.state.orgs.org("Contoso").await.unwrap();
    assert_eq!(contoso.max_key_lifetime_days, None);
    // A collaborator changes nothing.
    let bob_browser = Browser::new(&app);
    bob_browser.sign_in("bob", "correct horse battery").await;
    let r = bob_browser
        .post(
            "/account",
            "/organizations/Contoso/settings",
            &[("max_key_lifetime_days", "5")],
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn administrators_reserve_prefixes_and_packages_under_them_are_verified() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let root = app.user("root").await;
    app.state.users.set_flags(&root, false, true).await.unwrap();
    let ak = app.key(&alice, "a", &[Push], &["*"]).await;
    let bk = app.key(&bob, "b", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&ak, simple("Fabrikam.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    // An ID that exists before the reservation keeps its owner, and is not verified.
    assert_eq!(
        app.push(&bk, simple("Fabrikam.Other", "1.0.0"))
            .await
            .status(),
        201
    );
    let admin = Browser::new(&app);
    admin.sign_in("root", "correct horse battery").await;
    let r = admin
        .post(
            "/admin",
            "/admin/prefixes",
            &[("pattern", "Fabrikam.*"), ("owner", "alice")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = admin.get("/admin").await;
    assert!(html.contains("Fabrikam.*") && html.contains("Reserved prefixes"));
    for (pattern, owner, message) in [
        ("*", "alice", "would reserve every ID"),
        (
            "Other.*",
            "nobody",
            "There is no user or organisation named",
        ),
        ("fabrikam.*", "bob", "is reserved already"),
    ] {
        let r = admin
            .post(
                "/admin",
                "/admin/prefixes",
                &[("pattern", pattern), ("owner", owner)],
            )
            .await;
        assert_eq!(r.status(), 400, "{pattern}");
        let html = r.text().await.unwrap();
        assert!(html.contains(message), "{pattern}: {html}");
        assert!(html.contains("id=\"prefixes\""), "the admin page again");
    }
    // Nobody else may reserve.
    let other = Browser::new(&app);
    other.sign_in("bob", "correct horse battery").await;
    let r = other
        .post(
            "/account",
            "/admin/prefixes",
            &[("pattern", "Bob.*"), ("owner", "bob")],
        )
        .await;
    assert_eq!(r.status(), 404);

    let (_, page) = other.get("/packages/Fabrikam.Lib").await;
    assert!(page.contains("id=\"verified\""), "{page}");
    assert!(page.contains("reserved by alice"), "{page}");
    let (_, page) = other.get("/packages/Fabrikam.Other").await;
    assert!(!page.contains("id=\"verified\""), "{page}");
    let (_, results) = other.get("/packages?q=Fabrikam").await;
    assert_eq!(results.matches(">Verified</span>").count(), 1, "{results}");
    // New IDs under the prefix are alice's alone.
    assert_eq!(
        app.push(&bk, simple("Fabrikam.New", "1.0.0"))
            .await
            .status(),
        409
    );

    let r = admin
        .post(
            "/admin",
            "/admin/prefixes/release",
            &[("pattern", "Fabrikam.*")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = other.get("/packages/Fabrikam.Lib").await;
    assert!(!page.contains("id=\"verified\""));
    let r = admin
        .post(
            "/admin",
            "/admin/prefixes/release",
            &[("pattern", "Fabrikam.*")],
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn organisation_creation_can_be_left_to_administrators() {
    let app = TestApp::start_with(|c| c.org_creation = nugate::config::OrgCreation::Admin).await;
    app.user("dora").await;
    let root = app.user("root").await;
    app.state.users.set_flags(&root, false, true).await.unwrap();
    let dora = Browser::new(&app);
    dora.sign_in("dora", "correct horse battery").await;
    let (status, html) = dora.get("/organizations/new").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("id=\"creation-refused\""),
        "said up front: {html}"
    );
    let r = dora
        .post(
            "/organizations/new",
            "/organizations/new",
            &[("name", "Dora")],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Only server administrators can create organisations"));
    assert!(app.state.orgs.org("Dora").await.is_err());
    let admin = Browser::new(&app);
    admin.sign_in("root", "correct horse battery").await;
    let r = admin
        .post(
            "/organizations/new",
            "/organizations/new",
            &[("name", "Tailspin"), ("email", "team@tailspin.example")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.state.orgs.org("Tailspin").await.unwrap().email,
        "team@tailspin.example"
    );
    // Signed-out visitors are sent to sign in first.
    assert_eq!(Browser::new(&app).get("/organizations/new").await.0, 303);
}

/// The version a page shows for a package is its latest stable one (a prerelease only when there is no
/// stable version), labelled when it is a prerelease, everywhere: package page, install snippets, home,
/// search and profile. As on NuGet.org, an unlisted version's page is shown to anyone with the unlisted
/// banner, and the not-found page offers search.
#[tokio::test]
async fn pages_show_the_latest_stable_version_label_prereleases_and_show_unlisted_versions() {
    let app = TestApp::start().await;
    let kim = app.user("kim").await;
    let key = app.key(&kim, "k", &[Push, Unlist], &["*"]).await;
    for (id, v) in [
        ("Kim.Lib", "1.1.0"),
        ("Kim.Lib", "2.0.0-beta.1"),
        ("Kim.Preview", "0.1.0-alpha"),
        ("Kim.Gone", "1.0.0"),
    ] {
        assert_eq!(app.push(&key, simple(id, v)).await.status(), 201);
    }
    assert_eq!(
        app.set_listed(&key, "Kim.Gone", "1.0.0", false)
            .await
            .status(),
        204
    );
    let visitor = Browser::new(&app);
    let (status, page) = visitor.get("/packages/Kim.Lib").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<h1>Kim.Lib <span class="version">1.1.0</span></h1>"#),
        "{page}"
    );
    assert!(page.contains("dotnet add package Kim.Lib --version 1.1.0"));
    // The prerelease is in the versions table, labelled.
    assert!(near(&page, ">2.0.0-beta.1</a>", "Prerelease", 60), "{page}");
    // Asked for by version, the prerelease's own page says what it is.
    let (_, beta) = visitor.get("/packages/Kim.Lib/2.0.0-beta.1").await;
    assert!(beta.contains(r#"id="prerelease""#), "{beta}");
    // A package with only a prerelease shows it, labelled.
    let (_, preview) = visitor.get("/packages/Kim.Preview").await;
    assert!(
        preview.contains(
            r#"<span class="version">0.1.0-alpha</span> <span class="badge" id="prerelease">"#
        ),
        "{preview}"
    );
    for path in ["/", "/packages?q=kim", "/profiles/kim"] {
        let (status, html) = visitor.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            near(
                &html,
                ">Kim.Lib</a>",
                r#"<span class="version">1.1.0</span>"#,
                40
            ),
            "{path}: {html}"
        );
        assert!(!html.contains("2.0.0-beta.1"), "{path}");
        assert!(
            near(&html, ">Kim.Preview</a>", "Prerelease", 120),
            "{path}: {html}"
        );
    }
    // Unlisted: the page is there for everyone, with the banner; search does not list it.
    for path in ["/packages/Kim.Gone/1.0.0", "/packages/Kim.Gone"] {
        let (status, html) = visitor.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains("This version is unlisted"), "{path}: {html}");
    }
    assert!(!visitor
        .get("/packages?q=kim.gone")
        .await
        .1
        .contains(">Kim.Gone</a>"));
    let (status, missing) = visitor.get("/packages/Kim.Lib/9.9.9").await;
    assert_eq!(status, 404);
    assert!(missing.contains(r#"action="/packages""#), "{missing}");
}

/// Registration refuses the most common passwords and a password that is the account's own name or
/// address; every refusal marks the failing field (`aria-invalid`, the message beside it) and keeps what
/// was typed elsewhere, both passwords included when the error is not about the password itself.
#[tokio::test]
async fn registration_refuses_common_passwords_and_marks_the_failing_field() {
    let app = TestApp::start().await;
    let b = Browser::new(&app);
    let register = |password: &'static str, confirm: &'static str| {
        let b = &b;
        async move {
            let r = b
                .post(
                    "/register",
                    "/register",
                    &[
                        ("username", "dora.dev"),
                        ("email", "dora@example.com"),
                        ("password", password),
                        ("confirm_password", confirm),
                    ],
                )
                .await;
            (r.status(), r.text().await.unwrap())
        }
    };
    for (password, message) in [
        ("Password123", "one of the most common ones"),
        ("DORA.DEV", "must not be your username or email address"),
        (
            "dora@example.com",
            "must not be your username or email address",
        ),
    ] {
        let (status, html) = register(password, password).await;
        assert_eq!(status, 400, "{password}");
        assert!(html.contains(message), "{password}: {html}");
        let password_input = input_tags(&html)
            .into_iter()
            .find(|a| a.iter().any(|(n, v)| n == "id" && v == "password"))
            .unwrap();
        assert!(password_input.contains(&("aria-invalid".into(), "true".into())));
        assert!(password_input.contains(&("value".into(), String::new())));
        assert!(
            near(&html, r#"id="password-error""#, message, 200),
            "{html}"
        );
        assert!(
            html.contains(r#"value="dora.dev""#) && html.contains(r#"value="dora@example.com""#)
        );
    }
    // A mismatch marks the confirmation and keeps both passwords.
    let (status, html) = register("a fine long passphrase", "a fine long passphrase!").await;
    assert_eq!(status, 400);
    let confirm = input_tags(&html)
        .into_iter()
        .find(|a| a.iter().any(|(n, v)| n == "id" && v == "confirm_password"))
        .unwrap();
    assert!(
        confirm.contains(&("aria-invalid".into(), "true".into())),
        "{html}"
    );
    assert!(confirm.contains(&("value".into(), "a fine long passphrase!".into())));
    assert!(html.contains(r#"value="a fine long passphrase""#));
    assert!(html.contains(r#"id="confirm_password-error""#));
    // A good one goes through.
    let (status, html) = register("a fine long passphrase", "a fine long passphrase").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Check your email"));
}

/// What is typed as a glob is judged as one: a bad one says what a glob may contain, not that a package
/// ID has invalid characters.
#[tokio::test]
async fn a_bad_glob_says_what_a_glob_may_contain() {
    let app = TestApp::start().await;
    let eve = app.user("eve").await;
    let scope = nugate::auth::keys::KeyScope {
        owner: None,
        actions: vec![Push],
        packages: vec![],
        globs: vec!["Contoso.$".into()],
    };
    let err = app
        .state
        .keys
        .create(&eve, "bad", &scope, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The glob pattern 'Contoso.$' is invalid: use letters, digits, '.', '-', '_' and '*' only."
    );
}

/// The search page has its own heading, keeps the query in the header's search box, and says what to try
/// when nothing matches.
#[tokio::test]
async fn search_keeps_the_query_has_a_heading_and_helps_when_nothing_matches() {
    let app = TestApp::start().await;
    let lee = app.user("lee").await;
    let key = app.key(&lee, "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Lee.Lib", "1.0.0")).await.status(),
        201
    );
    let visitor = Browser::new(&app);
    let (_, found) = visitor.get("/packages?q=lee").await;
    assert!(
        found.contains("<h1>Packages matching “lee”</h1>"),
        "{found}"
    );
    let top = input_tags(&found)
        .into_iter()
        .find(|a| a.iter().any(|(n, v)| n == "id" && v == "top-q"))
        .unwrap();
    assert!(top.contains(&("value".into(), "lee".into())), "{top:?}");
    assert!(!found.contains(r#"id="no-results""#));
    let (_, none) = visitor.get("/packages?q=%3Cb%3Enothing").await;
    assert!(none.contains(r#"id="no-results""#), "{none}");
    assert!(
        none.contains("No package matches “&#60;b&#62;nothing”")
            || none.contains("No package matches “&lt;b&gt;nothing”"),
        "{none}"
    );
}
