//! The mail subsystem end to end: outbox, `.eml` fallback, a real SMTP server (aiosmtpd), retry backoff and
//! expiry-notice batching.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nugate::config::SmtpSecurity;
use nugate::db::users::User;
use nugate::mail::{self, messages, MailContext, Mailer};
use nugate::model::key::KeyAction::*;
use sqlx::Row;

use crate::helpers::TestApp;

fn ctx(app: &TestApp) -> MailContext {
    MailContext::from_config(&app.state.config)
}

/// Creates a key, makes sure its `key_created` email is queued (the key service queues it itself), and
/// returns the key's plaintext.
async fn queue_key_created(app: &TestApp, user: &User) -> String {
    let plaintext = app
        .key(
            user,
            "ci-push",
            &[Push, Unlist],
            &["Contoso.Lib", "Contoso.*"],
        )
        .await;
    let queued: i64 =
        sqlx::query("SELECT COUNT(*) FROM outbox WHERE subject LIKE '%API key added%'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    if queued == 0 {
        let key = app.state.keys.get(user, "ci-push").await.unwrap();
        let email = messages::key_created(&ctx(app), user, &key);
        mail::enqueue(&app.state.db, &email).await.unwrap();
    }
    plaintext
}

/// Runs delivery passes until no row is waiting for its first attempt. The server's own background loop
/// may deliver some rows first; the outbox claim guarantees each row goes out once either way.
async fn settle(app: &TestApp, mailer: &Mailer) {
    for _ in 0..200 {
        mail::deliver_due(&app.state.db, mailer).await.unwrap();
        let pending: i64 =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND attempts = 0")
                .fetch_one(app.state.db.pool())
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
        if pending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("outbox did not drain");
}

fn assert_key_mail(text: &str, plaintext: &str) {
    for needle in [
        "Subject: [nugate] API key added to your account",
        "To: alice@example.com",
        "ci-push",
        "Package owner: alice",
        "Push new packages and package versions",
        "Unlist or relist package versions",
        "Contoso.Lib",
        "Contoso.*",
        "Expires: ",
        " UTC",
        "If you did not request this change",
        "/account/apikeys",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(
        !text.contains(plaintext),
        "the plaintext key leaked:\n{text}"
    );
    // Nor any long part of it (in case of line folding).
    assert!(!text.contains(&plaintext[plaintext.len() - 20..]));
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn outbox_row(app: &TestApp) -> (i64, Option<i64>, Option<String>, i64) {
    let row = sqlx::query(
        "SELECT attempts, sent_at, last_error, next_attempt_at FROM outbox ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    (
        row.try_get(0).unwrap(),
        row.try_get(1).unwrap(),
        row.try_get(2).unwrap(),
        row.try_get(3).unwrap(),
    )
}

#[tokio::test]
async fn file_fallback_writes_one_eml_without_the_key() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let plaintext = queue_key_created(&app, &alice).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    settle(&app, &mailer).await;
    let files = eml_files(&app.data_dir().join("mail"));
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_key_mail(&text, &plaintext);
    assert!(text.contains("From: nugate <nugate@localhost>"));
    assert!(text.contains("Message-ID: <"));
    assert!(text.contains("\r\n"), "RFC 5322 line endings");
    // Delivered rows are not sent again.
    assert_eq!(
        mail::deliver_due(&app.state.db, &mailer)
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(eml_files(&app.data_dir().join("mail")).len(), 1);
    let (attempts, sent_at, last_error, _) = outbox_row(&app).await;
    assert_eq!((attempts, last_error), (0, None));
    assert!(sent_at.is_some());
}

/// A real SMTP server (aiosmtpd writing to a Maildir), killed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start_aiosmtpd() -> Option<SmtpServer> {
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        if std::env::var_os("CI").is_some() {
            panic!("aiosmtpd is not installed (run scripts/install-test-deps.sh)");
        }
        eprintln!(
            "\n!!!!!!!! NOT RUN: real SMTP test skipped: python3 module aiosmtpd is missing \
             (pip install aiosmtpd) !!!!!!!!\n"
        );
        return None;
    }
    let maildir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = SmtpServer {
        child,
        port,
        maildir,
    };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(server);
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("aiosmtpd exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("aiosmtpd did not start listening on port {port}");
}

#[tokio::test]
async fn real_smtp_delivery() {
    let Some(server) = start_aiosmtpd().await else {
        return;
    };
    let port = server.port;
    let app = TestApp::start_with(|config| {
        config.smtp.host = Some("127.0.0.1".into());
        config.smtp.port = Some(port);
        config.smtp.security = SmtpSecurity::None;
    })
    .await;
    let alice = app.user("alice").await;
    let plaintext = queue_key_created(&app, &alice).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    settle(&app, &mailer).await;
    let new = server.maildir.path().join("box").join("new");
    let mut files = Vec::new();
    for _ in 0..100 {
        files = std::fs::read_dir(&new)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_key_mail(&text, &plaintext);
    assert!(text.contains("X-RcptTo: alice@example.com") || text.contains("alice@example.com"));
    assert!(eml_files(&app.data_dir().join("mail")).is_empty());
    let (_, sent_at, _, _) = outbox_row(&app).await;
    assert!(sent_at.is_some());
    drop(server);
}

#[tokio::test]
async fn unreachable_smtp_backs_off() {
    let port = free_port(); // bound and released: nothing listens there
    let app = TestApp::start_with(|config| {
        config.smtp.host = Some("127.0.0.1".into());
        config.smtp.port = Some(port);
        config.smtp.security = SmtpSecurity::None;
    })
    .await;
    let alice = app.user("alice").await;
    queue_key_created(&app, &alice).await;
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    let before = nugate::db::now();
    // Either this pass or the server's own loop makes the first attempt; wait for it to be recorded.
    let mut row = outbox_row(&app).await;
    for _ in 0..200 {
        assert_eq!(
            mail::deliver_due(&app.state.db, &mailer)
                .await
                .unwrap()
                .sent,
            0
        );
        row = outbox_row(&app).await;
        if row.0 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (attempts, sent_at, last_error, next_attempt_at) = row;
    assert_eq!(attempts, 1);
    assert_eq!(sent_at, None);
    assert!(last_error.is_some_and(|e| !e.is_empty()));
    assert!(
        next_attempt_at >= before + mail::backoff_secs(1),
        "{next_attempt_at} vs {before}"
    );
    // Not due again yet: nothing is tried.
    assert_eq!(
        mail::deliver_due(&app.state.db, &mailer)
            .await
            .unwrap()
            .sent,
        0
    );
    let (attempts, ..) = outbox_row(&app).await;
    assert_eq!(attempts, 1);
}

async fn set_expiry(app: &TestApp, user: &User, name: &str, expires_at: i64) {
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE user_id = $2 AND name = $3")
        .bind(expires_at)
        .bind(user.id)
        .bind(name)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

/// Queued expiry emails (other mail, such as "key added", is left out).
async fn expiry_mail(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query(
        "SELECT recipient, subject, body FROM outbox \
         WHERE subject LIKE '%about to expire' OR subject LIKE '%has expired' ORDER BY id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.try_get(0).unwrap(),
            r.try_get(1).unwrap(),
            r.try_get(2).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn expiry_notices_are_batched_and_sent_once_a_day() {
    const DAY: i64 = 86_400;
    let app = TestApp::start().await;
    let ctx = ctx(&app);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    // Run the job as if it were tomorrow, so the server's own start-up run (today) cannot interfere.
    let t0 = nugate::db::now() + DAY;
    for (name, subject) in [
        ("three", "A.*"),
        ("five", "B"),
        ("far", "C"),
        ("revoked", "D"),
    ] {
        app.key(&alice, name, &[Push], &[subject]).await;
    }
    set_expiry(&app, &alice, "three", t0 + 3 * DAY - 100).await;
    set_expiry(&app, &alice, "five", t0 + 5 * DAY - 100).await;
    set_expiry(&app, &alice, "far", t0 + 30 * DAY).await;
    // A revoked key and a legacy key never get notices.
    app.state.keys.revoke(&alice, "revoked").await.unwrap();
    set_expiry(&app, &alice, "revoked", t0 + 2 * DAY).await;
    app.state
        .keys
        .import_legacy(&alice, "legacy", "0f8fad5b-d9cb-469f-a165-70867728950e")
        .await
        .unwrap();
    app.key(&bob, "bobs", &[Push], &["E"]).await;
    set_expiry(&app, &bob, "bobs", t0 + 9 * DAY - 100).await;

    let queued = mail::queue_expiry_notices(&app.state.db, &ctx, t0)
        .await
        .unwrap();
    assert_eq!(queued, 2, "{:#?}", expiry_mail(&app).await);
    let again = mail::queue_expiry_notices(&app.state.db, &ctx, t0 + 60)
        .await
        .unwrap();
    assert_eq!(again, 0);
    let queued = expiry_mail(&app).await;
    assert_eq!(queued.len(), 2, "{queued:#?}");
    let (to, subject, body) = &queued[0];
    assert_eq!(to, "alice@example.com");
    assert_eq!(subject, "[nugate] Your API key is about to expire");
    assert!(
        body.contains("three - expires in 3 day(s).\nfive - expires in 5 day(s).\n"),
        "{body}"
    );
    assert!(body.contains("/account/apikeys"));
    for absent in ["far", "revoked", "legacy"] {
        assert!(!body.contains(absent), "{absent} in {body}");
    }
    assert_eq!(queued[1].0, "bob@example.com");
    assert!(queued[1].2.contains("bobs - expires in 9 day(s)."));

    // "three" expires; the day after its expiry day brings one "expired" email, and no second warning for
    // "five" or "bobs": each key is listed as expiring once, as NuGet.org does.
    set_expiry(&app, &alice, "three", t0 + 60).await;
    let t1 = ((t0 + 60) / DAY + 1) * DAY + 3600;
    let queued = mail::queue_expiry_notices(&app.state.db, &ctx, t1)
        .await
        .unwrap();
    assert_eq!(queued, 1, "{:#?}", expiry_mail(&app).await);
    let expired = |mail: &[(String, String, String)]| -> Vec<String> {
        mail.iter()
            .filter(|(_, s, _)| s == "[nugate] Your API key has expired")
            .map(|(_, _, b)| b.clone())
            .collect()
    };
    let found = expired(&expiry_mail(&app).await);
    assert_eq!(found.len(), 1);
    assert!(found[0].contains("three - has expired.\n"), "{}", found[0]);
    assert!(!found[0].contains("five"));
    // Reported once: not again later that day, nor the next day.
    mail::queue_expiry_notices(&app.state.db, &ctx, t1 + 3600)
        .await
        .unwrap();
    mail::queue_expiry_notices(&app.state.db, &ctx, t1 + DAY)
        .await
        .unwrap();
    assert_eq!(expired(&expiry_mail(&app).await).len(), 1);
    let warnings_naming = |mail: &[(String, String, String)], key: &str| {
        mail.iter()
            .filter(|(_, s, b)| {
                s == "[nugate] Your API key is about to expire"
                    && b.contains(&format!("{key} - expires"))
            })
            .count()
    };
    let mail = expiry_mail(&app).await;
    assert_eq!(warnings_naming(&mail, "five"), 1, "{mail:#?}");
    assert_eq!(warnings_naming(&mail, "bobs"), 1, "{mail:#?}");

    // Regenerating gives the key a new expiry, so it is warned again when that one nears.
    app.state.keys.regenerate(&alice, "five").await.unwrap();
    set_expiry(&app, &alice, "five", t1 + 2 * DAY + 4 * DAY).await;
    mail::queue_expiry_notices(&app.state.db, &ctx, t1 + 2 * DAY)
        .await
        .unwrap();
    assert_eq!(warnings_naming(&expiry_mail(&app).await, "five"), 2);
}

#[tokio::test]
async fn server_loop_delivers_queued_mail_by_itself() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    queue_key_created(&app, &alice).await;
    let dir = app.data_dir().join("mail");
    let mut found = 0;
    for _ in 0..100 {
        found = eml_files(&dir).len();
        if found > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found, 1);
}

#[tokio::test]
async fn unbuildable_message_is_abandoned_at_once() {
    let app = TestApp::start().await;
    let email = mail::Email {
        to: "not an address".into(),
        subject: "[nugate] test".into(),
        body: "body".into(),
        kind: mail::MailKind::Other,
        expires_at: None,
    };
    mail::enqueue(&app.state.db, &email).await.unwrap();
    let mailer = Mailer::from_config(&app.state.config).unwrap();
    let mut row = outbox_row(&app).await;
    for _ in 0..200 {
        mail::deliver_due(&app.state.db, &mailer).await.unwrap();
        row = outbox_row(&app).await;
        if row.0 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row.0, mail::MAX_ATTEMPTS);
    assert_eq!(row.1, None);
    assert!(row.2.unwrap().contains("invalid recipient"));
    assert!(eml_files(&app.data_dir().join("mail")).is_empty());
}
