//! Trusted publishing against a local OIDC issuer (discovery document and JWKS on loopback, tokens
//! signed with a test P-256 key): exchange, real nuget.exe 5.8 push with the key, each refusal with its
//! reason, and the key's end after its hour by the server's clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{json, Value};

use crate::cli::{nugate_for, run};
use crate::clients::{deps, Client, Session};
use crate::helpers::{newest_mail, simple, TestApp};

/// A signing key of the test issuer, with its key id.
struct TestKey {
    kid: &'static str,
    signing: SigningKey,
}

impl TestKey {
    fn new(kid: &'static str) -> TestKey {
        TestKey {
            kid,
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    fn jwk(&self) -> Value {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let b64 = |bytes: &[u8]| data_encoding::BASE64URL_NOPAD.encode(bytes);
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let der = self.signing.to_pkcs8_der().unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.to_string());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }
}

/// Serves the discovery document and a JWKS holding `published`; counts JWKS fetches.
async fn start_issuer(published: Value) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fetches = Arc::new(AtomicUsize::new(0));
    let discovery = json!({ "issuer": base, "jwks_uri": format!("{base}/jwks") });
    let counter = fetches.clone();
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            get(move || async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "keys": [published] }))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, fetches)
}

/// GitHub Actions' claims for a run of octo/app's release.yml.
fn claims(issuer: &str, audience: &str, now: i64) -> Value {
    json!({
        "iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + 300,
        "jti": nugate::tokens::random_token(),
        "sub": "repo:octo/app:ref:refs/heads/main",
        "repository": "octo/app", "repository_id": "101",
        "repository_owner": "octo", "repository_owner_id": "7",
        "workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main",
        "run_id": "42", "run_attempt": "1", "sha": "0123456789abcdef0123456789abcdef01234567",
    })
}

async fn exchange(app: &TestApp, token: &str, username: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/api/v2/token"))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(json!({ "username": username, "tokenType": "ApiKey" }).to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_ci_token_becomes_a_one_hour_key_once_and_every_refusal_says_why() {
    let signer = TestKey::new("test-1");
    let (issuer, fetches) = start_issuer(signer.jwk()).await;
    let trusted = issuer.clone();
    let app = TestApp::start_with(move |c| c.trusted_issuers = vec![trusted]).await;
    let audience = app.base.clone();
    let alice = app.user("alice").await;

    // The operator adds the policy; alice hears of it.
    // The command line reads the same setting from the environment (a comma-separated list).
    let mut cmd = nugate_for(&app);
    cmd.env(
        "NUGATE_TRUSTED_ISSUERS",
        format!("https://gitlab.example.com, {issuer}"),
    );
    cmd.args([
        "trust",
        "add",
        "--owner",
        "alice",
        "--issuer",
        &issuer,
        "--repository",
        "octo/app",
        "--workflow",
        "release.yml",
        "--package",
        "Octo.*",
    ]);
    let (ok, _, stderr) = run(cmd, "");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("octo/app, workflow release.yml"),
        "{stderr}"
    );
    let (subject, body) = newest_mail(&app, "alice@example.com").await;
    assert!(
        subject.contains("Trusted publishing policy added"),
        "{subject}"
    );
    assert!(body.contains("octo/app, workflow release.yml"), "{body}");
    let mut cmd = nugate_for(&app);
    cmd.env("NUGATE_TRUSTED_ISSUERS", &issuer);
    cmd.args([
        "trust",
        "add",
        "--owner",
        "alice",
        "--repository",
        "octo",
        "--workflow",
        "x.yml",
        "--issuer",
        &issuer,
    ]);
    let (ok, _, stderr) = run(cmd, "");
    assert!(!ok && stderr.contains("OWNER/REPO"), "{stderr}");

    // The exchange: a key that pushes with real nuget.exe 5.8.
    let now = app.state.db.now();
    let token = signer.sign(&claims(&issuer, &audience, now));
    let (status, body) = exchange(&app, &token, "alice").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let key = answer["apiKey"].as_str().unwrap().to_string();
    assert!(answer["expires"].as_str().is_some());
    match deps() {
        Some(deps) => {
            let session = Session::new(Client::V580, &deps);
            let file = session.dir("pkgs").join("Octo.App.1.0.0.nupkg");
            std::fs::write(&file, simple("Octo.App", "1.0.0")).unwrap();
            let outcome = session
                .push(&file, &app.url("/v3/index.json"), Some(&key))
                .await;
            assert!(
                outcome.succeeded("Your package was pushed."),
                "{}",
                outcome.output
            );
        }
        None => assert_eq!(
            app.push(&key, simple("Octo.App", "1.0.0")).await.status(),
            201
        ),
    }
    assert_eq!(
        app.json("/v3-flatcontainer/octo.app/index.json").await["versions"][0],
        "1.0.0"
    );
    // No "expires in 1 day" warning for a key that lives an hour; the policy's package scope holds.
    let pushed = app.push(&key, simple("Octo.App", "1.0.1")).await;
    assert_eq!(pushed.status(), 201);
    assert!(pushed.headers().get("X-NuGet-Warning").is_none());
    assert_eq!(
        app.push(&key, simple("Other.Lib", "1.0.0")).await.status(),
        403
    );
    let listed = app.state.keys.list(&alice).await.unwrap();
    let issued = listed
        .iter()
        .find(|k| k.kind == nugate::model::key::KeyKind::Trusted)
        .unwrap();
    assert_eq!(
        issued.provenance.as_deref(),
        Some("octo/app · release.yml · run 42 (attempt 1) · commit 0123456789ab")
    );
    assert_eq!(issued.expires_at, Some(issued.created_at + 3600));
    let (subject, body) = newest_mail(&app, "alice@example.com").await;
    assert!(subject.contains("used for the first time"), "{subject}");
    assert!(body.contains("run 42"), "{body}");

    // Each refusal says why.
    let (status, body) = exchange(&app, &token, "alice").await;
    assert_eq!(status, 401);
    assert!(body.contains("already exchanged"), "{body}");
    let refused = |mut tweak: Value, change: fn(&mut Value)| {
        change(&mut tweak);
        tweak
    };
    let base = claims(&issuer, &audience, now);
    let cases: Vec<(Value, &str)> = vec![
        (
            refused(base.clone(), |c| c["repository"] = json!("octo/other")),
            "No trusted publishing policy of 'alice' matches",
        ),
        (
            refused(base.clone(), |c| {
                c["workflow_ref"] = json!("octo/app/.github/workflows/other.yml@refs/heads/main")
            }),
            "No trusted publishing policy of 'alice' matches",
        ),
        // Deleted and recreated under the same name: the policy is bound to the first repository's IDs.
        (
            refused(base.clone(), |c| c["repository_id"] = json!("999")),
            "No trusted publishing policy of 'alice' matches",
        ),
        (
            refused(base.clone(), |c| c["aud"] = json!("https://www.nuget.org")),
            "audience is not this server",
        ),
        (
            refused(base.clone(), |c| {
                c["exp"] = json!(c["iat"].as_i64().unwrap() - 600);
            }),
            "The token has expired.",
        ),
    ];
    for (claims, why) in cases {
        let (status, body) = exchange(&app, &signer.sign(&claims), "alice").await;
        assert_eq!(status, 401, "{why}: {body}");
        assert!(body.contains(why), "{why}: {body}");
    }
    // Another owner's name reveals nothing either.
    let (status, body) = exchange(
        &app,
        &signer.sign(&claims(&issuer, &audience, now)),
        "mallory",
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body.contains("No trusted publishing policy of 'mallory' matches"),
        "{body}"
    );
    // A key the issuer never published: the JWKS is fetched once more, then the token is refused.
    // (Unknown key ids make a fetch at most once a second per issuer.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let before = fetches.load(Ordering::SeqCst);
    let rogue = TestKey::new("rogue");
    let (status, body) =
        exchange(&app, &rogue.sign(&claims(&issuer, &audience, now)), "alice").await;
    assert_eq!(status, 401);
    assert!(body.contains("signature does not match"), "{body}");
    assert_eq!(fetches.load(Ordering::SeqCst), before + 1);
    let (status, _) = exchange(&app, &rogue.sign(&claims(&issuer, &audience, now)), "alice").await;
    assert_eq!(status, 401);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        before + 1,
        "fetched again at once"
    );
    // An issuer nobody trusts, no token, the wrong token type.
    let mut foreign = claims(&issuer, &audience, now);
    foreign["iss"] = json!("https://token.actions.githubusercontent.com");
    let (status, body) = exchange(&app, &signer.sign(&foreign), "alice").await;
    assert_eq!(status, 401);
    assert!(body.contains("is not trusted by this server"), "{body}");
    let bare = app
        .client
        .post(app.url("/api/v2/token"))
        .body(r#"{"username":"alice","tokenType":"ApiKey"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert!(bare.headers().get("www-authenticate").is_some());
    let fresh = signer.sign(&claims(&issuer, &audience, now));
    let wrong_type = app
        .client
        .post(app.url("/api/v2/token"))
        .bearer_auth(&fresh)
        .body(r#"{"username":"alice","tokenType":"Password"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 400);

    // The exchange is in the audit trail with the run it was for.
    let trail = app
        .state
        .audit
        .search(&nugate::audit::AuditSearch {
            user: Some("alice".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(trail.iter().any(
        |r| r.action == nugate::model::audit::AuditAction::TrustExchange
            && r.detail.as_deref().is_some_and(|d| d.contains("run 42"))
    ));

    // After its hour, by the server's clock, the key is dead.
    app.state.db.clock().advance(3601);
    assert_eq!(
        app.push(&key, simple("Octo.App", "1.0.2")).await.status(),
        403
    );
}

#[tokio::test]
async fn policies_are_added_and_removed_on_the_web_for_yourself_or_an_organisation_you_administer()
{
    let app = TestApp::start().await;
    let ada = app.user("ada").await;
    app.user("max").await;
    app.state
        .orgs
        .create(&ada, "contoso", None, true)
        .await
        .unwrap();
    let browser = crate::web::Browser::new(&app);
    browser.sign_in("ada", "correct horse battery").await;
    let (status, page) = browser.get("/account/trusted-publishing").await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"no-policies\""), "{page}");
    assert!(
        page.contains(&format!("{}/api/v2/token", app.base)),
        "{page}"
    );
    assert!(page.contains("<option value=\"contoso\""), "{page}");

    // A bad repository is refused with the form kept.
    let refused = browser
        .post(
            "/account/trusted-publishing",
            "/account/trusted-publishing",
            &[
                ("owner", "contoso"),
                ("repository", "contoso"),
                ("workflow", "release.yml"),
                ("environment", ""),
                ("packages", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), 400);
    let body = refused.text().await.unwrap();
    assert!(
        body.contains("OWNER/REPO") && body.contains("value=\"release.yml\""),
        "{body}"
    );
    let added = browser
        .post(
            "/account/trusted-publishing",
            "/account/trusted-publishing",
            &[
                ("owner", "contoso"),
                ("repository", "contoso/app"),
                ("workflow", "release.yml"),
                ("environment", "prod"),
                ("packages", "Contoso.*"),
            ],
        )
        .await;
    assert!(added.status().is_redirection());
    let (_, page) = browser.get("/account/trusted-publishing?done=added").await;
    assert!(page.contains("Trusted publishing policy added."), "{page}");
    assert!(page.contains("contoso/app · release.yml"), "{page}");
    let policies = app.state.trust.all_policies().await.unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].owner, "contoso");
    assert_eq!(policies[0].environment.as_deref(), Some("prod"));
    assert_eq!(policies[0].subjects, vec!["Contoso.*".to_string()]);

    // Someone who administers nothing of contoso's cannot add for it, nor see or remove its policy.
    let max = crate::web::Browser::new(&app);
    max.sign_in("max", "correct horse battery").await;
    let refused = max
        .post(
            "/account/trusted-publishing",
            "/account/trusted-publishing",
            &[
                ("owner", "contoso"),
                ("repository", "contoso/app"),
                ("workflow", "x.yml"),
                ("environment", ""),
                ("packages", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), 400);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("an organisation you administer"));
    let (_, his) = max.get("/account/trusted-publishing").await;
    assert!(!his.contains("<h3>contoso/app"), "{his}");
    let path = format!("/account/trusted-publishing/{}/remove", policies[0].id);
    let denied = max.post("/account/trusted-publishing", &path, &[]).await;
    assert_eq!(denied.status(), 400);
    assert_eq!(app.state.trust.all_policies().await.unwrap().len(), 1);
    let removed = browser
        .post("/account/trusted-publishing", &path, &[])
        .await;
    assert!(removed.status().is_redirection());
    assert!(app.state.trust.all_policies().await.unwrap().is_empty());
}
