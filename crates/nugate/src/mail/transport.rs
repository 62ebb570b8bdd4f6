//! Where messages go: an SMTP relay, or `.eml` files when no relay is configured (development, tests,
//! and small installs that only want to read mail on disk).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Email;
use crate::config::{Config, SmtpSecurity};

/// Longest an SMTP conversation may stall before the send counts as failed and is retried.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
enum Target {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// Sends built messages. Both targets receive the same lettre-built RFC 5322 message, so an `.eml` file is
/// byte for byte what SMTP would have carried (apart from the generated Date and Message-ID).
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    target: Target,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Smtp(_) => "smtp".to_string(),
            Target::Files(dir) => dir.display().to_string(),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("target", &target)
            .finish()
    }
}

impl Mailer {
    /// Builds the mailer described by `config.smtp`: SMTP when a host is set (port defaulting by security
    /// to 25, 587 or 465), otherwise `.eml` files under `data_dir/mail/`. Fails on an invalid From address
    /// or TLS set-up, so misconfiguration shows at start-up rather than at the first send.
    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let smtp = &config.smtp;
        let from: Mailbox = smtp
            .from
            .parse()
            .with_context(|| format!("invalid smtp.from address '{}'", smtp.from))?;
        let Some(host) = smtp.host.as_deref().filter(|h| !h.trim().is_empty()) else {
            return Ok(Mailer::files(from, config.data_dir.join("mail")));
        };
        let host = host.trim();
        let (builder, default_port) = match smtp.security {
            SmtpSecurity::None => (
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                25,
            ),
            SmtpSecurity::Starttls => (
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                    .with_context(|| format!("cannot set up STARTTLS for '{host}'"))?,
                587,
            ),
            SmtpSecurity::Tls => (
                AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                    .with_context(|| format!("cannot set up TLS for '{host}'"))?,
                465,
            ),
        };
        let mut builder = builder
            .port(smtp.port.unwrap_or(default_port))
            .timeout(Some(SMTP_TIMEOUT));
        match (&smtp.username, &smtp.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
            }
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("smtp.username and smtp.password must be set together")
            }
            (None, None) => {}
        }
        Ok(Mailer {
            from,
            target: Target::Smtp(builder.build()),
        })
    }

    /// A mailer that writes `.eml` files into `dir` (created on first send).
    pub fn files(from: Mailbox, dir: PathBuf) -> Mailer {
        Mailer {
            from,
            target: Target::Files(dir),
        }
    }

    /// Builds the MIME message for `email`; fails on an unparsable recipient, which no retry will fix.
    pub fn build_message(&self, email: &Email) -> anyhow::Result<Message> {
        let to: Mailbox = email
            .to
            .parse()
            .with_context(|| format!("invalid recipient address '{}'", email.to))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.as_str())
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .context("cannot build the email message")
    }

    /// Delivers one message; `id` (the outbox row) makes `.eml` file names unique and shows up in logs.
    pub async fn send(&self, email: &Email, id: i64) -> anyhow::Result<()> {
        let message = self.build_message(email)?;
        match &self.target {
            Target::Smtp(transport) => {
                transport
                    .send(message)
                    .await
                    .context("SMTP delivery failed")?;
                tracing::debug!(outbox_id = id, "email sent over SMTP");
            }
            Target::Files(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("cannot create mail folder {}", dir.display()))?;
                let millis = chrono::Utc::now().timestamp_millis();
                let path = dir.join(format!("{millis}-{id}.eml"));
                // Written under a temporary name and renamed, so a reader never sees half a message.
                let partial = dir.join(format!(".{millis}-{id}.eml.part"));
                tokio::fs::write(&partial, message.formatted())
                    .await
                    .with_context(|| format!("cannot write {}", partial.display()))?;
                tokio::fs::rename(&partial, &path)
                    .await
                    .with_context(|| format!("cannot write {}", path.display()))?;
                tracing::info!(
                    outbox_id = id,
                    to = %email.to,
                    subject = %email.subject,
                    path = %path.display(),
                    "no SMTP host configured: email written to file"
                );
            }
        }
        Ok(())
    }
}
