//! The key engine through HTTP: authentication answers, the scope matrix, lifecycle and warnings.

use nugate::error::INVALID_KEY_MESSAGE;
use nugate::model::key::KeyAction::*;

use crate::helpers::{simple, TestApp};

async fn expect_refused(response: reqwest::Response) {
    assert_eq!(response.status(), 403);
    assert_eq!(response.text().await.unwrap(), INVALID_KEY_MESSAGE);
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys() {
    let app = TestApp::start().await;
    let response = app
        .client
        .put(app.url("/api/v2/package"))
        .body(simple("A.B", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        format!("ApiKey realm=\"{}\"", app.addr).as_str()
    );
    assert!(response.text().await.unwrap().contains("X-NuGet-ApiKey"));
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    // A typo fails the checksum; an unknown well-formed key and a random legacy-looking string fail lookup.
    let mut typo = key.clone().into_bytes();
    let i = typo.len() - 10;
    typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
    expect_refused(
        app.push(&String::from_utf8(typo).unwrap(), simple("A.B", "1.0.0"))
            .await,
    )
    .await;
    let other_app_key = nugate::auth::api_key::mint().plaintext;
    expect_refused(app.push(&other_app_key, simple("A.B", "1.0.0")).await).await;
    expect_refused(
        app.push(
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            simple("A.B", "1.0.0"),
        )
        .await,
    )
    .await;
    // The reason phrase carries the message too.
    let (status, _) = app
        .raw(format!("DELETE /api/v2/package/A.B/1.0.0 HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {other_app_key}\r\nConnection: close\r\n\r\n").as_bytes())
        .await;
    assert_eq!(status, format!("HTTP/1.1 403 {INVALID_KEY_MESSAGE}"));
    // Keys are case-insensitive, as on NuGet.org.
    assert_eq!(
        app.push(&key.to_uppercase(), simple("A.B", "1.0.0"))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn scope_matrix() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let full = app.key(&alice, "full", &[Push, Unlist], &["*"]).await;
    assert_eq!(
        app.push(&full, simple("Contoso.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.push(&full, simple("Fabrikam.Lib", "1.0.0"))
            .await
            .status(),
        201
    );

    // push-version cannot create a new ID but can add versions.
    let version_only = app
        .key(&alice, "version-only", &[PushVersion], &["*"])
        .await;
    expect_refused(
        app.push(&version_only, simple("Contoso.New", "1.0.0"))
            .await,
    )
    .await;
    assert_eq!(
        app.push(&version_only, simple("Contoso.Lib", "1.1.0"))
            .await
            .status(),
        201
    );

    // Contoso.* does not cover Fabrikam.Lib, nor the bare 'Contoso'.
    let contoso = app.key(&alice, "contoso", &[Push], &["Contoso.*"]).await;
    expect_refused(app.push(&contoso, simple("Fabrikam.Lib", "2.0.0")).await).await;
    expect_refused(app.push(&contoso, simple("Contoso", "1.0.0")).await).await;
    assert_eq!(
        app.push(&contoso, simple("Contoso.Lib", "1.2.0"))
            .await
            .status(),
        201
    );
    // A glob also covers IDs created later.
    assert_eq!(
        app.push(&contoso, simple("Contoso.Later", "1.0.0"))
            .await
            .status(),
        201
    );

    // Explicit package scope.
    let one = app
        .key(&alice, "one", &[Push, Unlist], &["Fabrikam.Lib"])
        .await;
    assert_eq!(
        app.push(&one, simple("Fabrikam.Lib", "2.0.0"))
            .await
            .status(),
        201
    );
    expect_refused(app.push(&one, simple("Contoso.Lib", "9.0.0")).await).await;

    // Unlist-only cannot push; push-only cannot unlist.
    let unlister = app.key(&alice, "unlister", &[Unlist], &["*"]).await;
    expect_refused(app.push(&unlister, simple("Contoso.Lib", "3.0.0")).await).await;
    assert_eq!(
        app.set_listed(&unlister, "Contoso.Lib", "1.0.0", false)
            .await
            .status(),
        204
    );
    expect_refused(app.set_listed(&contoso, "Contoso.Lib", "1.0.0", true).await).await;

    // Another user's key cannot touch alice's packages, whatever its scope.
    let bobs = app.key(&bob, "bob", &[Push, Unlist], &["*"]).await;
    expect_refused(app.push(&bobs, simple("Contoso.Lib", "4.0.0")).await).await;
    expect_refused(app.set_listed(&bobs, "Contoso.Lib", "1.1.0", false).await).await;

    // Ownership is re-checked on every request: co-owner gains the right, losing it removes it.
    app.state
        .packages
        .add_owner("Contoso.Lib", "bob")
        .await
        .unwrap();
    assert_eq!(
        app.push(&bobs, simple("Contoso.Lib", "4.0.0"))
            .await
            .status(),
        201
    );
    app.state
        .packages
        .remove_owner("Contoso.Lib", "alice")
        .await
        .unwrap();
    expect_refused(app.push(&full, simple("Contoso.Lib", "5.0.0")).await).await;
    expect_refused(app.set_listed(&full, "Contoso.Lib", "4.0.0", false).await).await;
    // The last owner cannot be removed.
    assert!(app
        .state
        .packages
        .remove_owner("Contoso.Lib", "bob")
        .await
        .is_err());
}

#[tokio::test]
async fn key_lifecycle_expired_revoked_regenerated_deleted() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let keys = &app.state.keys;

    let revoked = app.key(&alice, "revoked", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&revoked, simple("Life.A", "1.0.0")).await.status(),
        201
    );
    keys.revoke(&alice, "revoked").await.unwrap();
    expect_refused(app.push(&revoked, simple("Life.A", "1.0.1")).await).await;
    assert!(
        keys.revoke(&alice, "revoked").await.is_err(),
        "an inactive key cannot be revoked again"
    );

    let regenerated = app.key(&alice, "regen", &[Push], &["Life.*"]).await;
    let (row, fresh) = keys.regenerate(&alice, "regen").await.unwrap();
    assert_eq!(*row.subjects, ["Life.*"]);
    expect_refused(app.push(&regenerated, simple("Life.A", "1.0.2")).await).await;
    assert_eq!(
        app.push(&fresh, simple("Life.A", "1.0.2")).await.status(),
        201
    );
    // Regenerate also revives a revoked key with a new secret.
    let (_, revived) = keys.regenerate(&alice, "revoked").await.unwrap();
    assert_eq!(
        app.push(&revived, simple("Life.A", "1.0.3")).await.status(),
        201
    );

    let deleted = app.key(&alice, "deleted", &[Push], &["*"]).await;
    keys.delete(&alice, "deleted").await.unwrap();
    expect_refused(app.push(&deleted, simple("Life.A", "1.0.4")).await).await;
    assert!(keys
        .list(&alice)
        .await
        .unwrap()
        .iter()
        .all(|k| k.name.as_deref() != Some("deleted")));

    let expired = app.key(&alice, "expired", &[Push], &["*"]).await;
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE name = 'expired'")
        .bind(nugate::db::now() - 1)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    expect_refused(app.push(&expired, simple("Life.A", "1.0.5")).await).await;

    // Edit changes the package scope only.
    let edited = app.key(&alice, "edited", &[Push], &["Life.A"]).await;
    expect_refused(app.push(&edited, simple("Other.B", "1.0.0")).await).await;
    let row = keys
        .edit(&alice, "edited", &["Other.B".into()], &["Life.*".into()])
        .await
        .unwrap();
    assert_eq!(row.actions, vec![Push]);
    assert_eq!(
        app.push(&edited, simple("Other.B", "1.0.0")).await.status(),
        201
    );

    // Names are unique per user; validation messages are NuGet.org's.
    let err = keys
        .create(
            &alice,
            "edited",
            &nugate::auth::keys::KeyScope {
                owner: None,
                actions: vec![Push],
                packages: vec!["X".into()],
                globs: vec![],
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "You already have an API key named 'edited'."
    );
    let err = keys
        .create(
            &alice,
            "x",
            &nugate::auth::keys::KeyScope {
                owner: None,
                actions: vec![],
                packages: vec!["X".into()],
                globs: vec![],
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "At least one scope must be selected.");
    let err = keys
        .create(
            &alice,
            "x",
            &nugate::auth::keys::KeyScope {
                owner: None,
                actions: vec![Push],
                packages: vec![],
                globs: vec![],
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Either a glob pattern must be specified or at least one package ID must be selected."
    );
    let err = keys
        .create(
            &alice,
            "x",
            &nugate::auth::keys::KeyScope {
                owner: None,
                actions: vec![Push],
                packages: vec!["X".into()],
                globs: vec![],
            },
            Some(400),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The key lifetime must be between 1 and 365 days."
    );
}

#[tokio::test]
async fn expiry_warning_header_and_last_used() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let soon = app
        .key_with_days(&alice, "soon", &[Push], &["*"], Some(5))
        .await;
    let response = app.push(&soon, simple("Warn.Lib", "1.0.0")).await;
    assert_eq!(response.status(), 201);
    let warning = response.headers()["x-nuget-warning"].to_str().unwrap();
    assert!(
        warning.starts_with("Your API key expires in 5 days."),
        "{warning}"
    );
    // Refusals carry it too.
    let response = app.push(&soon, simple("Warn.Lib", "1.0.0")).await;
    assert_eq!(response.status(), 409);
    assert!(response.headers().contains_key("x-nuget-warning"));
    let later = app.key(&alice, "later", &[Push], &["*"]).await;
    let response = app.push(&later, simple("Warn.Lib", "1.0.1")).await;
    assert!(!response.headers().contains_key("x-nuget-warning"));
    // The last use is written in the background, after the answer: wait for it.
    let started = std::time::Instant::now();
    let first_use = loop {
        let listed = app.state.keys.get(&alice, "later").await.unwrap();
        if let Some(at) = listed.last_used_at {
            break at;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "last used is recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    // Within the minute it is not rewritten.
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE name = 'later'")
        .bind(first_use - 30)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.push(&later, simple("Warn.Lib", "1.0.2")).await;
    assert_eq!(
        app.state
            .keys
            .get(&alice, "later")
            .await
            .unwrap()
            .last_used_at,
        Some(first_use - 30)
    );
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE name = 'later'")
        .bind(first_use - 120)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    app.push(&later, simple("Warn.Lib", "1.0.3")).await;
    // A stale last use is rewritten in the background, soon after the request.
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = app
            .state
            .keys
            .get(&alice, "later")
            .await
            .unwrap()
            .last_used_at
            .unwrap();
        if recorded >= first_use {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(recorded >= first_use, "last use not recorded: {recorded}");
}

#[tokio::test]
async fn legacy_keys_have_full_access_and_die_after_a_year_idle() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let legacy = "b2d6a0c5-7f0e-4c61-9d2e-3a1f5e8c7d90";
    app.state
        .keys
        .import_legacy(&alice, "old-baget", legacy)
        .await
        .unwrap();
    assert_eq!(
        app.push(legacy, simple("Legacy.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.set_listed(legacy, "Legacy.Lib", "1.0.0", false)
            .await
            .status(),
        204
    );
    // Full access covers only its own user's packages.
    let kb = app.key(&bob, "b", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&kb, simple("Bobs.Lib", "1.0.0")).await.status(),
        201
    );
    expect_refused(app.push(legacy, simple("Bobs.Lib", "2.0.0")).await).await;
    // Cannot be edited or regenerated; stored only as a hash.
    assert!(app
        .state
        .keys
        .edit(&alice, "old-baget", &["X".into()], &[])
        .await
        .is_err());
    assert!(app
        .state
        .keys
        .regenerate(&alice, "old-baget")
        .await
        .is_err());
    let stored: String =
        sqlx::query_scalar("SELECT secret_hash FROM api_keys WHERE name = 'old-baget'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_ne!(stored, legacy);
    assert!(!stored.contains(legacy));
    // A nugate key cannot be imported as legacy; the same legacy key cannot be imported twice.
    let ours = nugate::auth::api_key::mint().plaintext;
    assert!(app
        .state
        .keys
        .import_legacy(&alice, "x", &ours)
        .await
        .is_err());
    assert!(app
        .state
        .keys
        .import_legacy(&bob, "dup", legacy)
        .await
        .is_err());
    // 366 days idle: refused on first use, and stays expired.
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE name = 'old-baget'")
        .bind(nugate::db::now() - 366 * 86_400)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    expect_refused(app.push(legacy, simple("Legacy.Lib", "1.0.1")).await).await;
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE name = 'old-baget'")
        .bind(nugate::db::now())
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    expect_refused(app.push(legacy, simple("Legacy.Lib", "1.0.1")).await).await;
    // It can be deleted.
    app.state.keys.delete(&alice, "old-baget").await.unwrap();
}

/// Mints a verification key for `target` (`ID` or `ID/VERSION`) with `key`: (key, expiry).
async fn mint_verification_key(app: &TestApp, key: &str, target: &str) -> (String, String) {
    let created: serde_json::Value = app
        .client
        .post(app.url(&format!("/api/v2/package/create-verification-key/{target}")))
        .header("X-NuGet-ApiKey", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        created["Key"].as_str().unwrap().to_string(),
        created["Expires"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn verification_keys_prove_ownership_once() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let key = app.key(&alice, "k", &[Push], &["Verify.*"]).await;
    assert_eq!(
        app.push(&key, simple("Verify.Lib", "1.0.0")).await.status(),
        201
    );
    let unlist_only = app.key(&alice, "u", &[Unlist], &["*"]).await;
    let refused = app
        .client
        .post(app.url("/api/v2/package/create-verification-key/Verify.Lib"))
        .header("X-NuGet-ApiKey", &unlist_only)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (vkey, expires) = mint_verification_key(&app, &key, "Verify.Lib/1.0.0").await;
    assert!(expires.ends_with('Z'));
    // A verification key cannot push.
    expect_refused(app.push(&vkey, simple("Verify.Lib", "2.0.0")).await).await;
    let check = |vkey: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v2/verifykey/Verify.Lib/1.0.0"))
                .header("X-NuGet-ApiKey", vkey)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(check(vkey.clone()).await, 200);
    assert_eq!(check(vkey).await, 403, "used up after the first check");
    // Bob's verification key for alice's package: 403.
    let kb = app.key(&bob, "b", &[Push], &["*"]).await;
    let (bobs, _) = mint_verification_key(&app, &kb, "Verify.Lib").await;
    assert_eq!(check(bobs).await, 403);
    // Unknown package: 404.
    let (unknown, _) = mint_verification_key(&app, &key, "Verify.None").await;
    let status = app
        .client
        .get(app.url("/api/v2/verifykey/Verify.None"))
        .header("X-NuGet-ApiKey", unknown)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn unconfirmed_and_locked_users_cannot_use_keys() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    sqlx::query("UPDATE users SET locked = 1 WHERE username = 'alice'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    let response = app.push(&key, simple("Locked.Lib", "1.0.0")).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("locked"));
    sqlx::query("UPDATE users SET locked = 0, email_confirmed = 0 WHERE username = 'alice'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    let response = app.push(&key, simple("Locked.Lib", "1.0.0")).await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("unconfirmed"));
    let alice = nugate::db::users::by_username(app.state.db.pool(), "alice")
        .await
        .unwrap()
        .unwrap();
    let err = app
        .state
        .keys
        .create(
            &alice,
            "new",
            &nugate::auth::keys::KeyScope {
                owner: None,
                actions: vec![Push],
                packages: vec!["X".into()],
                globs: vec![],
            },
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("confirm"));
}

#[tokio::test]
async fn key_guessing_is_throttled_per_address_with_one_answer_for_all_wrong_keys() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let good = app.key(&alice, "k", &[Push], &["*"]).await;
    // Known identifier with a wrong secret, unknown identifier, legacy-looking junk: one identical answer.
    let mut wrong_secret = good.clone().into_bytes();
    let i = 7 + 20;
    wrong_secret[i] = if wrong_secret[i] == b'a' { b'b' } else { b'a' };
    let wrong_secret = String::from_utf8(wrong_secret).unwrap();
    let mut bodies = Vec::new();
    for presented in [
        wrong_secret.as_str(),
        &nugate::auth::api_key::mint().plaintext,
        "not-a-key",
    ] {
        let r = app.push(presented, simple("Guess.Lib", "1.0.0")).await;
        bodies.push((r.status(), r.text().await.unwrap()));
    }
    assert!(bodies.iter().all(|b| b == &bodies[1]), "{bodies:?}");
    for n in 0..(nugate::auth::keys::MAX_KEY_FAILURES - 3) {
        let r = app
            .push(
                &nugate::auth::api_key::mint().plaintext,
                simple("Guess.Lib", "1.0.0"),
            )
            .await;
        assert_eq!(r.status(), 403, "attempt {n}");
    }
    // Now even the right key is refused from this address until the window passes.
    let r = app.push(&good, simple("Guess.Lib", "1.0.0")).await;
    assert_eq!(r.status(), 429);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many invalid API keys"));
    // The refusal is remembered by this node until the window ends: with the failures gone from the
    // database (as if the window had passed) this node still refuses without asking it, while a node
    // that never saw the refusal asks the database and lets the right key in.
    sqlx::query("DELETE FROM signin_failures")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        app.push(&good, simple("Guess.Lib", "1.0.0")).await.status(),
        429,
        "the node must answer a refused address from memory"
    );
    let (database, storage) = (
        app.state.config.database_url(),
        app.state.config.storage_url(),
    );
    let other = TestApp::start_with(|c| {
        c.database_url = Some(database);
        c.storage_url = Some(storage);
    })
    .await;
    assert_eq!(
        other
            .push(&good, simple("Guess.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
}

/// `GET /api/v2/verifykey` checks a key like every other keyed route, so it cannot be used to guess keys
/// past the per-address limit: its wrong keys count, and once the limit is reached, the answer there and on
/// every other keyed route is 429, even to a right key.
#[tokio::test]
async fn wrong_keys_sent_to_verifykey_are_throttled_like_any_other() {
    const MAX_KEY_FAILURES: i64 = nugate::auth::keys::MAX_KEY_FAILURES;
    const THROTTLED: &str =
        "Too many invalid API keys were presented. Wait 15 minutes before trying again.";
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Verify.Throttled", "1.0.0"))
            .await
            .status(),
        201
    );
    // A real verification key, made before the limit is reached (making one needs a keyed route too).
    let (verification_key, _) = mint_verification_key(&app, &key, "Verify.Throttled").await;
    let verify = |presented: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v2/verifykey/Verify.Throttled"))
                .header("X-NuGet-ApiKey", presented)
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..MAX_KEY_FAILURES {
        let response = verify(format!("wrong-{i}-xxxxxxxxxxxxxxxxxxxxxx")).await;
        assert_eq!(
            response.status(),
            403,
            "wrong key {} of {MAX_KEY_FAILURES} sent to verifykey",
            i + 1
        );
    }
    let response = verify(format!("wrong-{MAX_KEY_FAILURES}-xxxxxxxxxxxxxxxxxxxxxx")).await;
    assert_eq!(
        response.status(),
        429,
        "verifykey must refuse keys once {MAX_KEY_FAILURES} wrong ones came from this address"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(THROTTLED), "{body}");
    let response = verify(verification_key).await;
    assert_eq!(
        response.status(),
        429,
        "a right verification key is refused too while the address is throttled"
    );
    // The wrong keys sent to verifykey count for the one check every keyed route shares.
    let response = app.push(&key, simple("Verify.Throttled", "1.0.1")).await;
    assert_eq!(
        response.status(),
        429,
        "a push with a valid key from the throttled address must be refused"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(THROTTLED), "{body}");
}

/// The authorisation rules written out independently of the server: what NuGet.org's scoped keys allow.
fn oracle(
    scopes: &[nugate::model::key::KeyAction],
    subject_matches: bool,
    owns: bool,
    op: Op,
    active: bool,
) -> u16 {
    use nugate::model::key::KeyAction as A;
    let has = |a: A| scopes.contains(&a);
    let allowed = active
        && subject_matches
        && match op {
            Op::PushNew => has(A::Push),
            Op::PushVersion => (has(A::Push) || has(A::PushVersion)) && owns,
            Op::Unlist | Op::Relist => has(A::Unlist) && owns,
        };
    match (allowed, op) {
        (false, _) => 403,
        (true, Op::PushNew | Op::PushVersion) => 201,
        (true, Op::Unlist) => 204,
        (true, Op::Relist) => 200,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    PushNew,
    PushVersion,
    Unlist,
    Relist,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_matches_an_independent_oracle() {
    use nugate::model::key::KeyAction as A;
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let setup_a = app.key(&alice, "setup-a", &[Push, Unlist], &["*"]).await;
    let setup_b = app.key(&bob, "setup-b", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&setup_a, simple("Own.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.push(&setup_a, simple("Lost.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.push(&setup_b, simple("Bob.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    app.state
        .packages
        .add_owner("Lost.Lib", "bob")
        .await
        .unwrap();
    app.state
        .packages
        .remove_owner("Lost.Lib", "alice")
        .await
        .unwrap();

    let scope_sets: Vec<Vec<A>> = (1u8..8)
        .map(|bits| {
            [A::Push, A::PushVersion, A::Unlist]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, a)| a)
                .collect()
        })
        .collect();
    let mut cases = 0;
    let mut wrong = Vec::new();
    for (si, scopes) in scope_sets.iter().enumerate() {
        for subject_kind in ["exact", "glob", "other"] {
            for (package, owns) in [("Own.Lib", true), ("Lost.Lib", false), ("Bob.Lib", false)] {
                for op in [Op::PushNew, Op::PushVersion, Op::Unlist, Op::Relist] {
                    for state in ["active", "expired", "revoked"] {
                        cases += 1;
                        let target = if op == Op::PushNew {
                            format!("New{cases}.Lib")
                        } else {
                            package.to_string()
                        };
                        let prefix = target.split('.').next().unwrap();
                        let subject = match subject_kind {
                            "exact" => target.clone(),
                            "glob" => format!("{prefix}.*"),
                            _ => "Other.*".to_string(),
                        };
                        let name = format!("case-{cases}");
                        let key = app.key(&alice, &name, scopes, &[&subject]).await;
                        match state {
                            "expired" => {
                                sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE name = $2")
                                    .bind(nugate::db::now() - 1)
                                    .bind(&name)
                                    .execute(app.state.db.pool())
                                    .await
                                    .unwrap();
                            }
                            "revoked" => {
                                app.state.keys.revoke(&alice, &name).await.unwrap();
                            }
                            _ => {}
                        }
                        let response = match op {
                            Op::PushNew => app.push(&key, simple(&target, "1.0.0")).await,
                            Op::PushVersion => {
                                app.push(&key, simple(&target, &format!("2.0.{cases}")))
                                    .await
                            }
                            Op::Unlist => app.set_listed(&key, &target, "1.0.0", false).await,
                            Op::Relist => app.set_listed(&key, &target, "1.0.0", true).await,
                        };
                        let expected =
                            oracle(scopes, subject_kind != "other", owns, op, state == "active");
                        if response.status().as_u16() != expected {
                            wrong.push(format!("scopes#{si} {scopes:?} {subject_kind} {package} {op:?} {state}: got {} want {expected}", response.status()));
                        }
                        // Expired and revoked keys count as guesses; keep the guard's throttle out of the matrix.
                        sqlx::query("DELETE FROM signin_failures")
                            .execute(app.state.db.pool())
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }
    assert!(cases >= 200, "{cases} cases");
    assert!(
        wrong.is_empty(),
        "{} wrong answers of {cases}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("authorisation matrix: {cases} cases, 0 wrong");
}

/// Whose a package or a reserved prefix is, seen from the key under test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Party {
    /// The organisation the key's user belongs to (or belonged to).
    Org,
    /// The key's own user.
    KeyUser,
    /// An account unrelated to the key.
    Stranger,
}

/// The key's user's standing in the organisation when the key is used.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Standing {
    Admin,
    Collaborator,
    /// A member when the key was made, removed before it is used.
    Removed,
}

/// What a request acts on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    /// An existing ID owned by this party alone.
    Existing(Party),
    /// A new ID under a prefix reserved for this party, or under none.
    New(Option<Party>),
}

/// The organisation rules written out independently of the server, from NuGet.org's: a key acts for
/// one account, its owner (the organisation it was made for, or its user); an organisation's key works
/// only while its user is still a member, whatever their role (administrators and collaborators both
/// push and unlist); an existing ID needs the acting account among its owners (so a user's own key never
/// touches an organisation's packages, nor an organisation's key its members' own); a new ID under a
/// reserved prefix is refused with 409 unless the acting account holds the reservation — but only once
/// the key is otherwise allowed to push it (an unusable key or a scope refusal is a 403 first).
fn org_oracle(
    scopes: &[nugate::model::key::KeyAction],
    subject_matches: bool,
    key_for_org: bool,
    standing: Standing,
    target: Target,
    op: Op,
) -> u16 {
    use nugate::model::key::KeyAction as A;
    let has = |a: A| scopes.contains(&a);
    let acting = if key_for_org {
        Party::Org
    } else {
        Party::KeyUser
    };
    let usable = !(key_for_org && standing == Standing::Removed);
    let owns = match target {
        Target::Existing(owner) => owner == acting,
        Target::New(_) => true,
    };
    let granted = match op {
        Op::PushNew => has(A::Push),
        Op::PushVersion => has(A::Push) || has(A::PushVersion),
        Op::Unlist | Op::Relist => has(A::Unlist),
    };
    if !(usable && subject_matches && granted && owns) {
        return 403;
    }
    if let Target::New(Some(holder)) = target {
        if holder != acting {
            return 409;
        }
    }
    match op {
        Op::PushNew | Op::PushVersion => 201,
        Op::Unlist => 204,
        Op::Relist => 200,
    }
}

/// Keys acting for an organisation or for their user, held by an administrator, a collaborator and a
/// removed member, on the organisation's packages, the user's own, a stranger's and new IDs under the
/// organisation's, the user's, a stranger's or no reserved prefix: every answer as the oracle says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisation_authorisation_matrix_matches_an_independent_oracle() {
    use nugate::model::account::OrgRole;
    use nugate::model::key::KeyAction as A;
    let app = TestApp::start().await;
    let ada = app.user("ada").await;
    let cole = app.user("cole").await;
    let rex = app.user("rex").await;
    let zed = app.user("zed").await;
    let orgs = &app.state.orgs;
    orgs.create(&ada, "Acme", None, true).await.unwrap();
    orgs.set_member("Acme", "cole", OrgRole::Collaborator)
        .await
        .unwrap();

    // Packages first (each member's own under the organisation's prefix-to-be, the organisation's
    // under a stranger's): prefixes reserved later never change who may push an existing ID.
    let setup_org = app
        .org_key(&ada, "Acme", "setup-org", &[Push], &["*"])
        .await;
    assert_eq!(
        app.push(&setup_org, simple("ZedRes.AcmeLib", "1.0.0"))
            .await
            .status(),
        201
    );
    let registration = app
        .state
        .packages
        .registration("ZedRes.AcmeLib")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nugate::db::packages::owner_names(app.state.db.pool(), registration.id)
            .await
            .unwrap(),
        ["Acme"],
        "a new ID pushed with an organisation's key is the organisation's alone"
    );
    for user in [&ada, &cole, &rex, &zed] {
        let own = if user.username == "zed" {
            "Zed.Lib".to_string()
        } else {
            format!("AcmeRes.{}Lib", user.username)
        };
        let key = app.key(user, "setup", &[Push], &["*"]).await;
        assert_eq!(app.push(&key, simple(&own, "1.0.0")).await.status(), 201);
    }
    let packages = &app.state.packages;
    packages.reserve_prefix("AcmeRes.*", "Acme").await.unwrap();
    packages.reserve_prefix("ZedRes.*", "zed").await.unwrap();
    for user in ["ada", "cole", "rex"] {
        let first = user[..1].to_uppercase() + &user[1..];
        packages
            .reserve_prefix(&format!("{first}Res.*"), user)
            .await
            .unwrap();
    }

    let scope_sets: Vec<Vec<A>> = (1u8..8)
        .map(|bits| {
            [A::Push, A::PushVersion, A::Unlist]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, a)| a)
                .collect()
        })
        .collect();
    let mut requests: Vec<(Target, Op)> = Vec::new();
    for owner in [Party::Org, Party::KeyUser, Party::Stranger] {
        for op in [Op::PushVersion, Op::Unlist, Op::Relist] {
            requests.push((Target::Existing(owner), op));
        }
    }
    for reserved in [
        Some(Party::Org),
        Some(Party::KeyUser),
        Some(Party::Stranger),
        None,
    ] {
        requests.push((Target::New(reserved), Op::PushNew));
    }

    let mut cases = 0;
    let mut wrong = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for key_for_org in [true, false] {
        for (standing, user) in [
            (Standing::Admin, &ada),
            (Standing::Collaborator, &cole),
            (Standing::Removed, &rex),
        ] {
            let me = user.username[..1].to_uppercase() + &user.username[1..];
            for scopes in &scope_sets {
                for subject_kind in ["exact", "glob", "other"] {
                    for &(target, op) in &requests {
                        cases += 1;
                        let id = match target {
                            Target::Existing(Party::Org) => "ZedRes.AcmeLib".to_string(),
                            Target::Existing(Party::KeyUser) => {
                                format!("AcmeRes.{}Lib", user.username)
                            }
                            Target::Existing(Party::Stranger) => "Zed.Lib".to_string(),
                            Target::New(reserved) => {
                                let prefix = match reserved {
                                    Some(Party::Org) => "AcmeRes".to_string(),
                                    Some(Party::KeyUser) => format!("{me}Res"),
                                    Some(Party::Stranger) => "ZedRes".to_string(),
                                    None => "Free".to_string(),
                                };
                                // Reservations hold whatever the case of the ID.
                                let id = format!("{prefix}.N{cases}");
                                if cases % 3 == 0 {
                                    id.to_lowercase()
                                } else {
                                    id
                                }
                            }
                        };
                        let prefix = id.split('.').next().unwrap();
                        let subject = match subject_kind {
                            "exact" => id.clone(),
                            "glob" => format!("{prefix}.*"),
                            _ => "Other.*".to_string(),
                        };
                        let name = format!("case-{cases}");
                        if standing == Standing::Removed {
                            // Alternately a former administrator and a former collaborator.
                            let role = if cases % 2 == 0 {
                                OrgRole::Administrator
                            } else {
                                OrgRole::Collaborator
                            };
                            orgs.set_member("Acme", "rex", role).await.unwrap();
                        }
                        let key = if key_for_org {
                            app.org_key(user, "Acme", &name, scopes, &[&subject]).await
                        } else {
                            app.key(user, &name, scopes, &[&subject]).await
                        };
                        if standing == Standing::Removed {
                            orgs.remove_member_by_operator("Acme", "rex").await.unwrap();
                        }
                        let response = match op {
                            Op::PushNew => app.push(&key, simple(&id, "1.0.0")).await,
                            Op::PushVersion => {
                                app.push(&key, simple(&id, &format!("2.0.{cases}"))).await
                            }
                            Op::Unlist => app.set_listed(&key, &id, "1.0.0", false).await,
                            Op::Relist => app.set_listed(&key, &id, "1.0.0", true).await,
                        };
                        let got = response.status().as_u16();
                        let body = response.text().await.unwrap();
                        let expected = org_oracle(
                            scopes,
                            subject_kind != "other",
                            key_for_org,
                            standing,
                            target,
                            op,
                        );
                        let message_ok = match got {
                            403 => body == INVALID_KEY_MESSAGE,
                            409 => body == nugate::packages::RESERVED_MESSAGE,
                            _ => true,
                        };
                        *counts.entry(expected).or_insert(0) += 1;
                        if got != expected || !message_ok {
                            let owner = if key_for_org { "org key" } else { "user key" };
                            wrong.push(format!(
                                "{owner} {standing:?} {scopes:?} {subject_kind} {target:?} {op:?} ({id}): got {got} {body:?}, want {expected}"
                            ));
                        } else if op == Op::PushNew && got == 201 {
                            // A new ID belongs to the account the key acts for, and to it alone.
                            let registration = packages.registration(&id).await.unwrap().unwrap();
                            let owners = nugate::db::packages::owner_names(
                                app.state.db.pool(),
                                registration.id,
                            )
                            .await
                            .unwrap();
                            let want = if key_for_org {
                                "Acme"
                            } else {
                                user.username.as_str()
                            };
                            if owners != [want] {
                                wrong.push(format!("{id}: owned by {owners:?}, want [{want}]"));
                            }
                        }
                        // Refused keys count as guesses; keep the guard's throttle out of the matrix.
                        sqlx::query("DELETE FROM signin_failures")
                            .execute(app.state.db.pool())
                            .await
                            .unwrap();
                    }
                }
            }
        }
    }
    // Every kind of answer is exercised, not just refusals.
    for status in [201, 204, 200, 403, 409] {
        assert!(
            counts.get(&status).copied().unwrap_or(0) > 0,
            "no case expects {status}: {counts:?}"
        );
    }
    assert!(cases >= 1000, "{cases} cases");
    assert!(
        wrong.is_empty(),
        "{} wrong answers of {cases}:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!("organisation authorisation matrix: {cases} cases ({counts:?}), 0 wrong");
}

/// An organisation never holds a key itself (it would answer to no membership): creating or importing
/// one for it is refused with a clear message, and a key that somehow belongs to one is refused on use.
#[tokio::test]
async fn organisations_hold_no_keys_of_their_own() {
    let app = TestApp::start().await;
    let ada = app.user("ada").await;
    let acme = app
        .state
        .orgs
        .create(&ada, "Acme", None, true)
        .await
        .unwrap();
    let scope = nugate::auth::keys::KeyScope {
        owner: None,
        actions: vec![Push],
        packages: vec![],
        globs: vec!["*".into()],
    };
    let refusal = "'Acme' is an organisation: it holds no keys itself; its members create keys that act for it.";
    let err = app
        .state
        .keys
        .create(&acme, "own", &scope, None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), refusal);
    let err = app
        .state
        .keys
        .import_legacy(&acme, "old", "b2d6a0c5-7f0e-4c61-9d2e-3a1f5e8c7d90")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), refusal);
    // A member's key acts for the organisation; moved onto the organisation itself, it is refused.
    let key = app.org_key(&ada, "Acme", "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Acme.Lib", "1.0.0")).await.status(),
        201
    );
    sqlx::query("UPDATE api_keys SET user_id = $1, owner_id = NULL WHERE name = 'k'")
        .bind(acme.id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    app.after_direct_key_change().await;
    expect_refused(app.push(&key, simple("Acme.Lib", "1.0.1")).await).await;
}

/// Keyed unlists and relists read ownership from the in-memory feed: an owner removed on one node is
/// refused there on the very next request, and on another node (which had just accepted the same key)
/// within `cache_ttl_ms` (250 ms here), like a revoked key.
#[tokio::test]
async fn a_removed_owner_is_refused_at_once_here_and_within_the_cache_ttl_elsewhere() {
    let a = TestApp::start().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let pusher = a.key(&alice, "push", &[Push], &["*"]).await;
    assert_eq!(
        a.push(&pusher, simple("Shared.Lib", "1.0.0"))
            .await
            .status(),
        201
    );
    assert!(a
        .state
        .packages
        .add_owner("Shared.Lib", "bob")
        .await
        .unwrap());
    let bobs = a.key(&bob, "unlist", &[Unlist], &["*"]).await;
    let (database, storage) = (a.state.config.database_url(), a.state.config.storage_url());
    let b = TestApp::start_with(|c| {
        c.database_url = Some(database);
        c.storage_url = Some(storage);
    })
    .await;
    for node in [&a, &b] {
        let r = node.set_listed(&bobs, "Shared.Lib", "1.0.0", true).await;
        assert_eq!(r.status(), 200, "bob owns Shared.Lib");
    }
    a.state
        .packages
        .remove_owner("Shared.Lib", "bob")
        .await
        .unwrap();
    let r = a.set_listed(&bobs, "Shared.Lib", "1.0.0", false).await;
    assert_eq!(
        r.status(),
        403,
        "refused at once on the node that made the change"
    );
    let started = std::time::Instant::now();
    loop {
        let status = b
            .set_listed(&bobs, "Shared.Lib", "1.0.0", true)
            .await
            .status();
        if status == 403 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "node B still let the removed owner relist after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Alice, still an owner, is not affected.
    let alices = a.key(&alice, "unlist", &[Unlist], &["*"]).await;
    assert_eq!(
        b.set_listed(&alices, "Shared.Lib", "1.0.0", false)
            .await
            .status(),
        204
    );
}

/// `POST /api/secret-scanning/leaks`, as GitHub's secret-scanning partner program sends it: a report
/// signed by a configured key revokes the live keys of ours it names and emails their users, and the
/// answer labels each token; an unsigned report, a forged signature or an unknown signing key change
/// nothing; a server without configured keys has no such endpoint.
#[tokio::test]
async fn signed_leak_reports_revoke_our_keys_and_unsigned_ones_change_nothing() {
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let pem = signing
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    let app = TestApp::start_with(|c| {
        c.secret_scanning_keys = vec![nugate::config::ScanningKey {
            key_identifier: "gh-1".into(),
            key: pem,
        }]
    })
    .await;
    let keys = crate::helpers::LeakFixture::new(&app).await;
    let (leaked, bystander, old, foreign) =
        (&keys.leaked, &keys.bystander, &keys.old, &keys.foreign);
    let report = |tokens: &[&str]| {
        let items: Vec<serde_json::Value> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({"token": t, "type": "nugate_api_key",
                    "url": "https://github.com/octocat/hello/blob/main/ci.yml", "source": "content"})
            })
            .collect();
        serde_json::to_vec(&items).unwrap()
    };
    let sign = |body: &[u8]| {
        let signature: Signature = signing.sign(body);
        data_encoding::BASE64.encode(signature.to_der().as_bytes())
    };
    let send = |body: Vec<u8>, id: Option<&str>, signature: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/api/secret-scanning/leaks"))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(id) = id {
            request = request.header("Github-Public-Key-Identifier", id);
        }
        if let Some(signature) = signature {
            request = request.header("Github-Public-Key-Signature", signature);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Refused, and nothing changes: no signature, a forged one, an unknown signing key.
    let about_bystander = report(&[bystander]);
    let forged = sign(&report(&[foreign]));
    for (id, signature, message) in [
        (None, None, "not signed"),
        (Some("gh-1"), Some(forged), "does not verify"),
        (Some("gh-9"), Some(sign(&about_bystander)), "does not know"),
    ] {
        let (status, body) = send(about_bystander.clone(), id, signature).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains(message), "{body}");
    }
    assert!(!keys.revoked(&app, "laptop").await);
    // A signed report: ours are labelled true positives (the live one is revoked), the rest false.
    let body = report(&[leaked, old, foreign]);
    let (status, answer) = send(body.clone(), Some("gh-1"), Some(sign(&body))).await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let labels: Vec<&str> = answer
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["true_positive", "true_positive", "false_positive"]);
    assert_eq!(answer[0]["token_raw"], leaked.as_str());
    assert_eq!(answer[0]["token_type"], "nugate_api_key");
    keys.assert_only_the_leaked_key_died(&app).await;
    // Not configured: no endpoint.
    let plain = TestApp::start().await;
    let r = plain
        .client
        .post(plain.url("/api/secret-scanning/leaks"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
