//! The audit trail: every push, unlist, key change and sign-in is recorded with its key, package,
//! address and outcome; the CLI lists it, key cards and activity pages show it to those allowed.

use nugate::model::key::KeyAction;

use crate::cli::{nugate_for, run};
use crate::helpers::{simple, TestApp};
use crate::web::Browser;

#[tokio::test]
async fn pushes_unlists_and_key_changes_are_recorded_and_shown_only_to_their_user() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let ci = app
        .key(&alice, "ci", &[KeyAction::Push], &["Contoso.*"])
        .await;
    let lister = app
        .key(&alice, "lister", &[KeyAction::Unlist], &["Contoso.*"])
        .await;
    let bobs = app.key(&bob, "bobs", &[KeyAction::Push], &["*"]).await;

    let pushed = app
        .client
        .put(app.url("/api/v2/package/"))
        .header("X-NuGet-ApiKey", &ci)
        .header("User-Agent", "NuGet Command Line/5.8.0")
        .body(simple("Contoso.Lib", "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    // A push that fails (the version exists) is no push in the trail.
    assert_eq!(
        app.push(&ci, simple("Contoso.Lib", "1.0.0")).await.status(),
        409
    );
    let unlisted = app
        .client
        .delete(app.url("/api/v2/package/Contoso.Lib/1.0.0"))
        .header("X-NuGet-ApiKey", &lister)
        .send()
        .await
        .unwrap();
    assert_eq!(unlisted.status(), 204);
    // The unlist-only key tries to push a version of alice's own package: refused, and recorded.
    assert_eq!(
        app.push(&lister, simple("Contoso.Lib", "2.0.0"))
            .await
            .status(),
        403
    );
    assert_eq!(
        app.push(&bobs, simple("Bob.Lib", "1.0.0")).await.status(),
        201
    );
    app.state
        .keys
        .edit(&alice, "ci", &[], &["Contoso.Lib*".to_string()])
        .await
        .unwrap();
    app.state.keys.revoke(&alice, "lister").await.unwrap();
    // Refusals are written without holding up the answer.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut cmd = nugate_for(&app);
    cmd.args(["audit", "--user", "alice", "--json"]);
    let (ok, stdout, stderr) = run(cmd, "");
    assert!(ok, "{stderr}");
    let records: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let records = records.as_array().unwrap();
    let find = |action: &str, outcome: &str| {
        records
            .iter()
            .find(|r| r["action"] == action && r["outcome"] == outcome)
            .unwrap_or_else(|| panic!("no {action} {outcome} in {records:#?}"))
    };
    let pushes = records
        .iter()
        .filter(|r| r["action"] == "package.push" && r["outcome"] == "done")
        .count();
    assert_eq!(pushes, 1, "{records:#?}");
    let push = find("package.push", "done");
    assert_eq!(push["key_name"], "ci");
    assert_eq!(push["package_id"], "Contoso.Lib");
    assert_eq!(push["package_version"], "1.0.0");
    assert_eq!(push["address"], "127.0.0.1");
    assert_eq!(push["user_agent"], "NuGet Command Line/5.8.0");
    assert_eq!(push["owner"], "alice");
    assert!(push["key_lookup_id"].as_str().unwrap().len() > 8);
    assert!(
        !stdout.contains(&ci) && !stdout.contains(&lister),
        "a secret in the trail"
    );
    let unlist = find("package.unlist", "done");
    assert_eq!(unlist["key_name"], "lister");
    let refused = find("package.push", "refused");
    assert_eq!(refused["key_name"], "lister");
    assert_eq!(refused["package_version"], "2.0.0");
    assert_eq!(find("key.edit", "done")["detail"], "push on Contoso.Lib*");
    assert_eq!(find("key.revoke", "done")["key_name"], "lister");
    find("key.create", "done");
    assert!(records.iter().all(|r| r["user"] == "alice"), "{records:#?}");

    // The filters: by package, by key, by date; a name that does not exist is an error.
    let mut cmd = nugate_for(&app);
    cmd.args(["audit", "--package", "bob.lib", "--json"]);
    let (_, stdout, _) = run(cmd, "");
    let bob_records: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(bob_records.as_array().unwrap().len(), 1, "{bob_records:#}");
    assert_eq!(bob_records[0]["user"], "bob");
    let mut cmd = nugate_for(&app);
    cmd.args(["audit", "--key", "lister", "--since", "2000-01-01"]);
    let (ok, table, _) = run(cmd, "");
    assert!(ok);
    assert!(
        table.contains("Unlisted Contoso.Lib 1.0.0 by alice with key 'lister' from 127.0.0.1"),
        "{table}"
    );
    assert!(
        table.contains("Pushed Contoso.Lib 2.0.0 (refused)"),
        "{table}"
    );
    assert!(!table.contains("Bob.Lib"), "{table}");
    let mut cmd = nugate_for(&app);
    cmd.args(["audit", "--user", "nobody"]);
    let (ok, _, stderr) = run(cmd, "");
    assert!(
        !ok && stderr.contains("There is no user or organisation named 'nobody'."),
        "{stderr}"
    );
    let mut cmd = nugate_for(&app);
    cmd.args(["audit", "--since", "last week"]);
    let (ok, _, stderr) = run(cmd, "");
    assert!(!ok && stderr.contains("is not a date"), "{stderr}");

    // On the web: alice's key card and activity page show her records; bob sees only his own, and
    // the server's activity page is for administrators.
    let browser = Browser::new(&app);
    assert!(browser
        .sign_in("alice", "correct horse battery")
        .await
        .status()
        .is_redirection());
    let (_, keys) = browser.get("/account/apikeys").await;
    assert!(keys.contains("Recent activity"), "{keys}");
    assert!(
        keys.contains("Pushed Contoso.Lib 1.0.0 by alice with key &#39;ci&#39;")
            || keys.contains("Pushed Contoso.Lib 1.0.0 by alice with key &#x27;ci&#x27;"),
        "{keys}"
    );
    let (status, mine) = browser.get("/account/activity").await;
    assert_eq!(status, 200);
    assert!(mine.contains("Signed in by alice"), "{mine}");
    assert!(mine.contains("Unlisted Contoso.Lib 1.0.0"), "{mine}");
    assert!(!mine.contains("Bob.Lib"), "{mine}");
    let bob_browser = Browser::new(&app);
    bob_browser.sign_in("bob", "correct horse battery").await;
    let (_, his) = bob_browser.get("/account/activity").await;
    assert!(his.contains("Pushed Bob.Lib 1.0.0"), "{his}");
    assert!(!his.contains("Contoso"), "{his}");
    let (status, _) = bob_browser.get("/admin/activity").await;
    assert_ne!(status, 200);

    // A failed sign-in to an existing account is recorded as refused, with its reason.
    Browser::new(&app)
        .sign_in("bob", "wrong password here")
        .await;
    let records = app
        .state
        .audit
        .search(&nugate::audit::AuditSearch {
            user: Some("bob".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let failed = records
        .iter()
        .find(|r| r.detail.as_deref() == Some("wrong password"))
        .expect("the failed sign-in");
    assert_eq!(failed.outcome, nugate::model::audit::AuditOutcome::Refused);
}

#[tokio::test]
async fn organisation_administrators_see_the_organisations_trail_and_the_sweep_keeps_the_rest() {
    let app = TestApp::start_with(|c| c.audit_retention_days = 30).await;
    // A record from 31 days ago, written before everything below (records are written in time order).
    let old = nugate::db::audit::AuditRecord::new(
        nugate::model::audit::AuditAction::SignIn,
        nugate::db::now() - 31 * 86_400,
    );
    nugate::db::audit::insert(app.state.db.pool(), &old)
        .await
        .unwrap();
    let admin = app.user("ada").await;
    let member = app.user("max").await;
    app.state
        .orgs
        .create(&admin, "contoso", None, true)
        .await
        .unwrap();
    app.state
        .orgs
        .set_member(
            "contoso",
            "max",
            nugate::model::account::OrgRole::Collaborator,
        )
        .await
        .unwrap();
    let key = app
        .org_key(&member, "contoso", "team", &[KeyAction::Push], &["*"])
        .await;
    assert_eq!(
        app.push(&key, simple("Contoso.Team", "1.0.0"))
            .await
            .status(),
        201
    );

    let ada = Browser::new(&app);
    ada.sign_in("ada", "correct horse battery").await;
    let (status, page) = ada.get("/organizations/contoso/activity").await;
    assert_eq!(status, 200);
    assert!(page.contains("Pushed Contoso.Team 1.0.0 by max"), "{page}");
    assert!(page.contains("for contoso"), "{page}");
    let max = Browser::new(&app);
    max.sign_in("max", "correct horse battery").await;
    let (status, _) = max.get("/organizations/contoso/activity").await;
    assert_eq!(status, 404);

    // Records past the retention period go at the sweep; the others stay.
    let all = nugate::db::audit::AuditQuery {
        limit: 1000,
        ..Default::default()
    };
    // (The server's own sweep also runs at start-up, so either may be the one that deletes it.)
    app.state.audit.sweep().await.unwrap();
    let kept = app.state.audit.list(&all).await.unwrap();
    let cutoff = nugate::db::now() - 30 * 86_400;
    assert!(kept.iter().all(|r| r.at > cutoff), "{kept:#?}");
    assert!(kept.len() >= 4, "the young records stay: {kept:#?}");
    assert_eq!(app.state.audit.sweep().await.unwrap(), 0);
}
