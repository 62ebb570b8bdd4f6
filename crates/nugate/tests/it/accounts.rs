//! Account hardening from the outside review: the first administrator, sign-up that reveals nothing,
//! sign-in throttling by account with back-off, mail limits, redacted and expiring links, reset links
//! that die with a password change, one-time keys bound to their session, invitations that die with
//! their inviter, and imported legacy keys that must be hard to guess.

use futures_util::future::join_all;
use nugate::model::key::KeyAction::*;
use sqlx::Row;

use crate::helpers::{newest_mail, simple, TestApp};
use crate::web::Browser;

const PASSWORD: &str = "correct horse battery";

async fn register(b: &Browser, username: &str, email: impl AsRef<str>) -> (u16, String) {
    let email = email.as_ref();
    let r = b
        .post(
            "/register",
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", PASSWORD),
                ("confirm_password", PASSWORD),
            ],
        )
        .await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The path of the newest link in the newest email to `to` that starts with `prefix`.
async fn link(app: &TestApp, to: &str, prefix: &str) -> String {
    let (_, body) = newest_mail(app, to).await;
    let full = format!("{}{prefix}", app.base);
    let start = body
        .find(&full)
        .unwrap_or_else(|| panic!("no {prefix} link in: {body}"));
    body[start + app.base.len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

async fn is_admin(app: &TestApp, username: &str) -> bool {
    nugate::db::users::by_username(app.state.db.pool(), username)
        .await
        .unwrap()
        .is_some_and(|u| u.is_admin)
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

#[tokio::test]
async fn the_first_administrator_is_one_confirmed_account_however_many_sign_up_at_once() {
    let app = TestApp::start().await;
    let names = ["ann", "ben", "cid", "dot"];
    let browsers: Vec<Browser> = (0..names.len())
        .map(|i| Browser::from_address(&app, &format!("127.0.1.{}", i + 1)))
        .collect();
    let signed_up = join_all(
        names
            .iter()
            .zip(&browsers)
            .map(|(n, b)| register(b, n, format!("{n}@example.com"))),
    )
    .await;
    for (status, page) in &signed_up {
        assert_eq!(*status, 200, "{page}");
        assert!(page.contains("Check your email"), "{page}");
    }
    for n in names {
        assert!(!is_admin(&app, n).await, "{n} is not confirmed yet");
    }
    let mut links = Vec::new();
    for n in names {
        links.push(link(&app, &format!("{n}@example.com"), "/account/confirm?token=").await);
    }
    let confirmed = join_all(links.iter().zip(&browsers).map(|(l, b)| b.get(l))).await;
    for (status, page) in &confirmed {
        assert_eq!(*status, 200, "{page}");
    }
    let mut admins = 0;
    for n in names {
        admins += usize::from(is_admin(&app, n).await);
    }
    assert_eq!(
        admins, 1,
        "exactly one of the concurrent confirmations wins"
    );
    // Later sign-ups never become administrator.
    let late = Browser::from_address(&app, "127.0.1.9");
    assert_eq!(register(&late, "eve", "eve@example.com").await.0, 200);
    let l = link(&app, "eve@example.com", "/account/confirm?token=").await;
    assert_eq!(late.get(&l).await.0, 200);
    assert!(!is_admin(&app, "eve").await);
}

#[tokio::test]
async fn an_administrator_made_from_the_cli_means_no_sign_up_is_ever_promoted() {
    let app = TestApp::start().await;
    app.state
        .users
        .create("root", "root@example.com", PASSWORD, true, true)
        .await
        .unwrap();
    let b = Browser::new(&app);
    assert_eq!(register(&b, "first", "first@example.com").await.0, 200);
    let l = link(&app, "first@example.com", "/account/confirm?token=").await;
    assert_eq!(b.get(&l).await.0, 200);
    assert!(!is_admin(&app, "first").await);
}

#[tokio::test]
async fn sign_up_reveals_no_account_is_throttled_and_unconfirmed_sign_ups_expire() {
    let app = TestApp::start().await;
    app.user("alice").await;
    let b = Browser::from_address(&app, "127.0.2.1");
    let (new_status, new_page) = register(&b, "newbie", "newbie@example.com").await;
    let (taken_email, taken_email_page) = register(&b, "someone", "ALICE@example.com").await;
    let (taken_name, taken_name_page) = register(&b, "ALICE", "fresh@example.com").await;
    for (status, page) in [
        (new_status, &new_page),
        (taken_email, &taken_email_page),
        (taken_name, &taken_name_page),
    ] {
        assert_eq!(status, 200);
        assert!(page.contains("Check your email"), "{page}");
        assert!(
            !page.contains("in use") && !page.contains("taken"),
            "{page}"
        );
    }
    // Only the address's owner learns what happened.
    let (subject, body) = newest_mail(&app, "alice@example.com").await;
    assert!(subject.contains("tried to sign up"), "{subject}");
    assert!(body.contains("'alice'"), "{body}");
    let (subject, _) = newest_mail(&app, "fresh@example.com").await;
    assert!(subject.contains("another username"), "{subject}");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        2,
        "only newbie was created"
    );

    // Ten sign-ups from one address per window; the eleventh is refused.
    for i in 3..10 {
        let (status, page) = register(&b, &format!("user{i}"), &format!("u{i}@example.com")).await;
        assert_eq!(status, 200, "sign-up {}: {page}", i + 1);
    }
    let (status, page) = register(&b, "user11", "u11@example.com").await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many attempts"), "{page}");
    let other = Browser::from_address(&app, "127.0.2.2");
    assert_eq!(
        register(&other, "user12", "u12@example.com").await.0,
        200,
        "another address is not affected"
    );

    // A sign-up never confirmed expires, freeing its name and address; confirmed accounts stay.
    sqlx::query("UPDATE users SET created_at = created_at - 3 * 86400 WHERE username = 'newbie'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let removed = app.state.users.remove_expired_signups().await.unwrap();
    assert_eq!(removed, 1);
    assert!(app.state.users.find("newbie").await.unwrap().is_none());
    assert!(app.state.users.find("alice").await.unwrap().is_some());
    assert!(app.state.users.find("user12").await.unwrap().is_some());
}

#[tokio::test]
async fn sign_in_is_throttled_per_account_with_back_off_and_holds_under_parallel_guesses() {
    let app = TestApp::start().await;
    app.user("carol").await;
    // Five wrong passwords from five addresses, by name and by address: one budget, the account's.
    for i in 0..5 {
        let login = if i % 2 == 0 {
            "carol"
        } else {
            "CAROL@example.com"
        };
        let b = Browser::from_address(&app, &format!("127.0.3.{}", i + 1));
        assert_eq!(b.sign_in(login, "wrong password").await.status(), 401);
    }
    // The owner, from a sixth address, waits (a back-off, not a hard lock)…
    let owner = Browser::from_address(&app, "127.0.3.9");
    let r = owner.sign_in("carol", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Wait 30 seconds") || page.contains("Wait 29 seconds"),
        "{page}"
    );
    // …and once the delay has passed, signs in; the count starts again.
    sqlx::query("UPDATE throttle_counters SET last_failure_at = last_failure_at - 31")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(owner.sign_in("carol", PASSWORD).await.status(), 303);

    // Thirty parallel guesses from thirty addresses: exactly five are evaluated.
    let guessers: Vec<Browser> = (0..30)
        .map(|i| Browser::from_address(&app, &format!("127.0.4.{}", i + 1)))
        .collect();
    let answers = join_all(guessers.iter().map(|b| b.sign_in("carol", "guess"))).await;
    let evaluated = answers.iter().filter(|r| r.status() == 401).count();
    let throttled = answers.iter().filter(|r| r.status() == 429).count();
    assert_eq!((evaluated, throttled), (5, 25));
    // The next delay is longer: a minute after the sixth failure.
    sqlx::query("UPDATE throttle_counters SET last_failure_at = last_failure_at - 31")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(owner.sign_in("carol", "sixth guess").await.status(), 401);
    let r = owner.sign_in("carol", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Wait 1 minute") || page.contains("Wait 59 seconds"),
        "{page}"
    );
}

#[tokio::test]
async fn mail_is_limited_per_recipient_and_kind_and_links_do_not_outlive_their_use() {
    let app = TestApp::start().await;
    app.user("dana").await;
    let b = Browser::new(&app);
    for _ in 0..5 {
        let r = b
            .post(
                "/account/forgot-password",
                "/account/forgot-password",
                &[("email", "dana@example.com")],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    let resets = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE recipient = 'dana@example.com' AND kind = 'password-reset'",
    )
    .await;
    assert_eq!(resets, 3, "three reset emails an hour reach one address");

    // Once delivered, a message carrying a link keeps no body in the database.
    let mut redacted = false;
    for _ in 0..100 {
        let waiting = count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE kind = 'password-reset' AND (sent_at IS NULL OR body <> '')",
        )
        .await;
        if waiting == 0 {
            redacted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(redacted, "delivered reset emails must lose their bodies");
    let links: i64 = count(
        &app,
        "SELECT COUNT(*) FROM outbox WHERE body LIKE '%reset-password?token=%'",
    )
    .await;
    assert_eq!(links, 0);

    // A message whose link expired before delivery is dropped, not sent late.
    let late = nugate::mail::Email {
        to: "dana@example.com".into(),
        subject: "[nugate] late".into(),
        body: "https://example.invalid/account/reset-password?token=stale".into(),
        kind: nugate::mail::MailKind::Other,
        expires_at: Some(nugate::db::now() - 1),
    };
    assert!(nugate::mail::enqueue(&app.state.db, &late).await.unwrap());
    let mut dropped = false;
    for _ in 0..100 {
        let row = sqlx::query(
            "SELECT sent_at, body, last_error FROM outbox WHERE subject = '[nugate] late'",
        )
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
        let error: Option<String> = row.try_get("last_error").unwrap();
        if let Some(error) = error {
            let sent: Option<i64> = row.try_get("sent_at").unwrap();
            let body: String = row.try_get("body").unwrap();
            assert!(sent.is_none() && body.is_empty(), "{error}");
            assert!(error.contains("expired"), "{error}");
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        dropped,
        "the expired message was neither dropped nor reported"
    );
}

#[tokio::test]
async fn other_reset_links_die_when_the_password_changes() {
    let app = TestApp::start().await;
    app.user("erin").await;
    let b = Browser::new(&app);
    let ask = || {
        b.post(
            "/account/forgot-password",
            "/account/forgot-password",
            &[("email", "erin@example.com")],
        )
    };
    assert_eq!(ask().await.status(), 200);
    let first = link(&app, "erin@example.com", "/account/reset-password?token=").await;
    assert_eq!(ask().await.status(), 200);
    let second = link(&app, "erin@example.com", "/account/reset-password?token=").await;
    assert_ne!(first, second);
    let reset = |path: &str, password: &'static str| {
        let token = path.rsplit('=').next().unwrap().to_string();
        let b = &b;
        async move {
            let r = b
                .post(
                    "/account/forgot-password",
                    "/account/reset-password",
                    &[
                        ("token", &token),
                        ("password", password),
                        ("confirm_password", password),
                    ],
                )
                .await;
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, page) = reset(&second, "brand new password").await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = reset(&first, "another new password").await;
    assert_eq!(status, 400, "the other link died with the reset: {page}");
    assert!(page.contains("invalid, used or expired"), "{page}");

    // A password change from the account page ends outstanding reset links too.
    assert_eq!(ask().await.status(), 200);
    let pending = link(&app, "erin@example.com", "/account/reset-password?token=").await;
    assert_eq!(b.sign_in("erin", "brand new password").await.status(), 303);
    let r = b
        .post(
            "/account",
            "/account/password",
            &[
                ("current_password", "brand new password"),
                ("new_password", "third new password"),
                ("confirm_password", "third new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (status, _) = reset(&pending, "fourth new password").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_new_key_is_shown_only_in_the_session_that_made_it() {
    let app = TestApp::start().await;
    app.user("alice").await;
    app.user("bob").await;
    let b = Browser::new(&app);
    assert_eq!(b.sign_in("alice", PASSWORD).await.status(), 303);
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[
                ("name", "secret"),
                ("scopes", "push"),
                ("globs", "*"),
                ("expires_in", "90"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    // Alice signs out before looking; Bob signs in in the same browser within the two minutes.
    let csrf = b.csrf("/account").await;
    assert_eq!(
        b.post_with_token(&csrf, "/signout", &[]).await.status(),
        303
    );
    assert_eq!(b.sign_in("bob", PASSWORD).await.status(), 303);
    let (_, page) = b.get("/account/apikeys").await;
    assert!(!page.contains("id=\"new-key\""), "bob sees alice's new key");
    // And shown once in the session that made it.
    let csrf = b.csrf("/account").await;
    assert_eq!(
        b.post_with_token(&csrf, "/signout", &[]).await.status(),
        303
    );
    assert_eq!(b.sign_in("alice", PASSWORD).await.status(), 303);
    let r = b
        .post(
            "/account/apikeys",
            "/account/apikeys",
            &[("name", "second"), ("scopes", "push"), ("globs", "*")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, page) = b.get("/account/apikeys").await;
    assert!(page.contains("id=\"new-key\""), "{page}");
    let (_, page) = b.get("/account/apikeys").await;
    assert!(!page.contains("id=\"new-key\""), "shown once");
    let waiting = count(
        &app,
        "SELECT COUNT(*) FROM sessions WHERE new_key IS NOT NULL",
    )
    .await;
    assert_eq!(waiting, 0, "no key waits in any session once shown");
}

async fn invite(b: &Browser, who: &str) -> u16 {
    b.post(
        "/packages/Team.Lib",
        "/packages/Team.Lib/owners",
        &[("username", who)],
    )
    .await
    .status()
    .as_u16()
}

async fn accept(b: &Browser) -> u16 {
    b.get("/packages/Team.Lib/owners/accept").await.0.as_u16()
}

#[tokio::test]
async fn invitations_die_with_their_inviter_can_be_cancelled_and_lapse() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    for name in ["bob", "carl", "dave", "erin", "finn"] {
        app.user(name).await;
    }
    let key = app.key(&alice, "k", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Team.Lib", "1.0.0")).await.status(),
        201
    );
    let signed_in = |name: &'static str| {
        let app = &app;
        async move {
            let b = Browser::new(app);
            assert_eq!(b.sign_in(name, PASSWORD).await.status(), 303);
            b
        }
    };
    let a = signed_in("alice").await;
    assert_eq!(invite(&a, "bob").await, 303);
    app.state
        .packages
        .add_owner("Team.Lib", "carl")
        .await
        .unwrap();
    let bob = signed_in("bob").await;
    assert_eq!(accept(&bob).await, 200, "the invitation stands");
    // Alice stops being an owner: the invitation she left behind dies with her right to send it.
    app.state
        .packages
        .remove_owner("Team.Lib", "alice")
        .await
        .unwrap();
    assert_eq!(accept(&bob).await, 404);

    // Owners can withdraw an invitation.
    let carl = signed_in("carl").await;
    assert_eq!(invite(&carl, "dave").await, 303);
    let (_, page) = carl.get("/packages/Team.Lib").await;
    assert!(page.contains("Cancel invitation"), "{page}");
    let r = carl
        .post(
            "/packages/Team.Lib",
            "/packages/Team.Lib/owners/cancel",
            &[("username", "dave")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let dave = signed_in("dave").await;
    assert_eq!(accept(&dave).await, 404);

    // Invitations lapse after 30 days.
    assert_eq!(invite(&carl, "erin").await, 303);
    sqlx::query("UPDATE owner_invitations SET created_at = created_at - 31 * 86400")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let erin = signed_in("erin").await;
    assert_eq!(accept(&erin).await, 404);

    // A standing invitation from a current owner still works.
    assert_eq!(invite(&carl, "finn").await, 303);
    let finn = signed_in("finn").await;
    assert_eq!(accept(&finn).await, 200);
    let r = finn
        .post(
            "/packages/Team.Lib/owners/accept",
            "/packages/Team.Lib/owners/accept",
            &[],
        )
        .await;
    assert_eq!(r.status(), 303);
    let reg = nugate::db::packages::registration(app.state.db.pool(), "Team.Lib")
        .await
        .unwrap()
        .unwrap();
    let owners = nugate::db::packages::owner_names(app.state.db.pool(), reg.id)
        .await
        .unwrap();
    assert_eq!(owners, ["carl", "finn"]);
}

#[tokio::test]
async fn imported_legacy_keys_must_be_hard_to_guess() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    for weak in [
        "x",
        "aaaaaaaaaaaaaaaaaaaaaaaa",
        "abcabcabcabcabcabc",
        "short-key-123",
    ] {
        let refused = app
            .state
            .keys
            .import_legacy(&alice, "weak", weak)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("at least 16 characters"),
            "{weak}: {refused}"
        );
    }
    app.state
        .keys
        .import_legacy(&alice, "guid", "0f8fad5b-d9cb-469f-a165-70867728950e")
        .await
        .unwrap();
}
