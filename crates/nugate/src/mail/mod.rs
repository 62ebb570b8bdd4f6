//! Outgoing email: message builders, a database outbox, SMTP or `.eml`-file delivery, and the background
//! task that sends due mail and queues API-key expiry notices.
//!
//! User actions only [`enqueue`] a row; delivery happens later in [`deliver_due`], so a slow or broken
//! mail server never slows a request down and a failed send is retried with backoff.

pub mod messages;
mod notices;
mod outbox;
mod transport;

pub use notices::queue_expiry_notices;
pub use outbox::{
    backoff_secs, deliver_due, enqueue, enqueue_with, Delivery, BATCH_SIZE, MAX_ATTEMPTS,
};
pub use transport::Mailer;

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::db::{self, Db};

/// One plain-text message, as stored in the outbox: enough to rebuild the exact MIME message later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Recipient address (a bare address or `Name <address>`).
    pub to: String,
    /// Subject line, already prefixed with `[brand]`.
    pub subject: String,
    /// Plain-text body with `\n` line endings (converted to CRLF on the wire).
    pub body: String,
    /// What the message is, for the per-recipient limits.
    pub kind: MailKind,
    /// When a message carrying a live link stops being worth sending (the link's own expiry): it is
    /// then dropped and redacted rather than delivered late.
    pub expires_at: Option<i64>,
}

/// The kinds of message nugate sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    ConfirmAccount,
    PasswordReset,
    ConfirmNewEmail,
    /// Someone tried to sign up with an address or name that already has an account.
    SignupAttempt,
    KeyChanged,
    KeyExpiry,
    OwnershipInvitation,
    /// Messages built by tests or tools.
    Other,
}

impl MailKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::ConfirmAccount => "confirm-account",
            MailKind::PasswordReset => "password-reset",
            MailKind::ConfirmNewEmail => "confirm-new-email",
            MailKind::SignupAttempt => "signup-attempt",
            MailKind::KeyChanged => "key-changed",
            MailKind::KeyExpiry => "key-expiry",
            MailKind::OwnershipInvitation => "ownership-invitation",
            MailKind::Other => "",
        }
    }

    /// How many messages of this kind one recipient may be sent per hour: anything anyone can trigger
    /// for someone else's address (sign-up, reset, invitations) is limited so nugate cannot be used to
    /// flood an inbox. Expiry notices are already once a day.
    pub fn hourly_limit(self) -> Option<i64> {
        match self {
            MailKind::ConfirmAccount
            | MailKind::PasswordReset
            | MailKind::ConfirmNewEmail
            | MailKind::SignupAttempt => Some(3),
            MailKind::OwnershipInvitation => Some(5),
            MailKind::KeyChanged => Some(30),
            MailKind::KeyExpiry | MailKind::Other => None,
        }
    }
}

/// What message builders need besides the recipient: the product name for subjects and signatures, and
/// the public base URL so links in mail point at the address users actually reach.
#[derive(Clone, Debug)]
pub struct MailContext {
    /// Product name shown in `[brand]` subject prefixes and signatures.
    pub brand: String,
    /// Public base URL without a trailing slash, e.g. `https://nuget.example.com`.
    pub base_url: String,
}

impl MailContext {
    /// The context the server uses: brand `nugate` and the configured public URL.
    pub fn from_config(config: &Config) -> MailContext {
        MailContext {
            brand: "nugate".to_string(),
            base_url: config.base_url().trim_end_matches('/').to_string(),
        }
    }
}

/// Emails not yet sent and not given up on.
pub async fn backlog(db: &Db) -> sqlx::Result<i64> {
    db::outbox::backlog(db.pool(), MAX_ATTEMPTS).await
}

/// How often the background task looks for due mail.
const DELIVERY_INTERVAL: Duration = Duration::from_secs(2);
/// How often the background task queues expiry notices (notices are deduplicated per day anyway).
const NOTICE_INTERVAL: Duration = Duration::from_secs(3600);

/// Starts the mail loop: delivers due outbox rows every ~2 s and queues key-expiry notices at start and
/// then hourly. Errors are logged, never fatal, so a database hiccup or a down relay only delays mail.
pub fn spawn_background(
    db: Db,
    mailer: Mailer,
    ctx: MailContext,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_notices: Option<Instant> = None;
        loop {
            let due = last_notices.is_none_or(|at| at.elapsed() >= NOTICE_INTERVAL);
            // One node of a cluster queues notices (the per-day records would dedupe anyway).
            let lease = crate::db::leases::try_acquire(
                &db,
                "expiry-notices",
                crate::db::leases::node_id(),
                crate::db::now(),
                NOTICE_INTERVAL.as_secs() as i64 * 2,
            );
            let leased = due
                && match lease.await {
                    Ok(leased) => leased,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the expiry-notice lease; retrying next pass");
                        false
                    }
                };
            if leased {
                last_notices = Some(Instant::now());
                match queue_expiry_notices(&db, &ctx, crate::db::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(emails = n, "queued API key expiry notices"),
                    Err(e) => tracing::warn!(error = %e, "queueing API key expiry notices failed"),
                }
            }
            match deliver_due(&db, &mailer).await {
                Ok(delivery) => {
                    metrics.mail_failures.inc_by(delivery.failed);
                }
                Err(e) => tracing::warn!(error = %e, "mail delivery pass failed"),
            }
            tokio::time::sleep(DELIVERY_INTERVAL).await;
        }
    })
}
