//! The key engine: every rule about creating, changing and authenticating API keys lives here, and the
//! CLI, the protocol endpoints and (later) the web pages all call it.

use std::collections::BTreeSet;

use crate::auth::api_key::{self, PresentedKey};
use crate::auth::scope::{validate_subject, KeyAction, SubjectError};
use crate::db::{self, keys::ApiKeyRow, users::User, Db};
use crate::mail::{messages, MailContext};

const DAY: i64 = 86_400;
/// Legacy keys die on their first use after this many idle days.
pub const LEGACY_IDLE_DAYS: i64 = 365;
/// Keys this close to expiry get an `X-NuGet-Warning` on every response.
pub const WARN_DAYS: i64 = 10;
/// `last_used` is written at most this often per key.
pub const LAST_USED_INTERVAL_SECS: i64 = 60;

/// Stored kinds of key.
pub mod kind {
    /// Named key with actions, subjects and an expiry.
    pub const SCOPED: &str = "scoped";
    /// Imported full-access key.
    pub const LEGACY: &str = "legacy";
    /// One-day, one-use key that proves ownership of one ID.
    pub const VERIFY: &str = "verify";
}

/// A key-management request that cannot be carried out; messages are shown to users as they are.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("A key name is required.")]
    NameRequired,
    #[error("The key name must be at most 256 characters.")]
    NameTooLong,
    #[error("You already have an API key named '{0}'.")]
    NameTaken(String),
    #[error("At least one scope must be selected.")]
    NoScope,
    #[error(
        "Either a glob pattern must be specified or at least one package ID must be selected."
    )]
    NoSubject,
    #[error("'{0}' is not a key scope; use push, push-version or unlist.")]
    UnknownScope(String),
    #[error("{0}")]
    InvalidSubject(#[from] SubjectError),
    #[error("The key lifetime must be between 1 and {max} days.")]
    InvalidLifetime { max: u32 },
    #[error("There is no API key named '{0}'.")]
    NotFound(String),
    #[error("Legacy API keys cannot be edited or regenerated; create a scoped key instead.")]
    LegacyImmutable,
    #[error("The API key '{0}' is already expired or revoked.")]
    NotActive(String),
    #[error("The key looks like a nugate key; only keys from other servers can be imported as legacy keys.")]
    NotLegacy,
    #[error("That key is already stored.")]
    AlreadyStored,
    #[error("You must confirm your email address before you can create API keys.")]
    Unconfirmed,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a new or edited key may act on.
#[derive(Clone, Debug, Default)]
pub struct KeyScope {
    /// Granted actions.
    pub actions: Vec<KeyAction>,
    /// Explicit package IDs.
    pub packages: Vec<String>,
    /// Glob patterns.
    pub globs: Vec<String>,
}

/// A key that passed authentication, with its owner loaded for permission checks.
#[derive(Clone, Debug)]
pub struct AuthenticatedKey {
    pub key: ApiKeyRow,
    pub user: User,
    /// Whole days left when the key expires within [`WARN_DAYS`].
    pub expires_in_days: Option<i64>,
}

impl AuthenticatedKey {
    /// The actions granted, parsed.
    pub fn actions(&self) -> impl Iterator<Item = KeyAction> + '_ {
        self.key.actions.iter().filter_map(|a| KeyAction::parse(a))
    }
}

/// Why authentication failed; each maps to a 403 with its own message.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("{}", crate::error::INVALID_KEY_MESSAGE)]
    Invalid,
    #[error("The specified API key is scoped to an owner that is unconfirmed. You must confirm the owner that this API key is scoped to before you can use it.")]
    Unconfirmed,
    #[error("The specified API key is scoped to an owner that is locked. Please contact the feed administrator.")]
    Locked,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Status of a key as shown to its user.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum KeyStatus {
    Active { expires_in_days: Option<i64> },
    Expired,
    Revoked,
}

/// Computes a key's status at `now`.
pub fn status(key: &ApiKeyRow, now: i64) -> KeyStatus {
    if key.revoked_at.is_some() {
        return KeyStatus::Revoked;
    }
    match key.expires_at {
        Some(at) if at <= now => KeyStatus::Expired,
        Some(at) => KeyStatus::Active {
            expires_in_days: Some((at - now + DAY - 1) / DAY),
        },
        None => KeyStatus::Active {
            expires_in_days: None,
        },
    }
}

/// The key service.
#[derive(Clone)]
pub struct KeyService {
    db: Db,
    max_lifetime_days: u32,
    mail: MailContext,
}

impl KeyService {
    /// Wraps the database; `max_lifetime_days` caps every new or regenerated key; `mail` names the server
    /// in the emails every change sends.
    pub fn new(db: Db, max_lifetime_days: u32, mail: MailContext) -> KeyService {
        KeyService {
            db,
            max_lifetime_days,
            mail,
        }
    }

    /// Queues a notification; a failure is logged, never turned into a failed key operation.
    async fn notify(&self, email: crate::mail::Email) {
        if let Err(e) = crate::mail::enqueue(&self.db, &email).await {
            tracing::warn!(error = %e, "could not queue a key notification email");
        }
    }

    /// The default lifetime offered for new keys: 365 days, or the server maximum if lower.
    pub fn default_lifetime_days(&self) -> u32 {
        self.max_lifetime_days.min(365)
    }

    /// Creates a scoped key and returns it with its plaintext, which is never retrievable again.
    pub async fn create(
        &self,
        user: &User,
        name: &str,
        scope: &KeyScope,
        expires_in_days: Option<u32>,
    ) -> Result<(ApiKeyRow, String), KeyError> {
        if !user.email_confirmed {
            return Err(KeyError::Unconfirmed);
        }
        let name = validate_name(name)?;
        let actions = normalize_actions(&scope.actions)?;
        let subjects = normalize_subjects(scope)?;
        let days = expires_in_days.unwrap_or(self.default_lifetime_days());
        if days == 0 || days > self.max_lifetime_days {
            return Err(KeyError::InvalidLifetime {
                max: self.max_lifetime_days,
            });
        }
        let lifetime = i64::from(days) * DAY;
        let now = db::now();
        let minted = api_key::mint();
        let insert = db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: Some(name),
                kind: kind::SCOPED,
                lookup_id: &minted.lookup_id,
                secret_hash: &minted.secret_hash,
                actions: &actions,
                subjects: &subjects,
                created_at: now,
                expires_at: Some(now + lifetime),
                lifetime_secs: Some(lifetime),
            },
        )
        .await;
        match insert {
            Ok(_) => {}
            Err(e) if db::is_unique_violation(&e) => {
                return Err(KeyError::NameTaken(name.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
        let row = self.get(user, name).await?;
        self.notify(messages::key_created(&self.mail, user, &row))
            .await;
        Ok((row, minted.plaintext))
    }

    /// Stores an existing plaintext key from another server, as a full-access legacy key.
    pub async fn import_legacy(
        &self,
        user: &User,
        name: &str,
        plaintext: &str,
    ) -> Result<ApiKeyRow, KeyError> {
        let name = validate_name(name)?;
        let plaintext = plaintext.trim();
        if plaintext.is_empty() {
            return Err(KeyError::NotFound("(empty key)".into()));
        }
        let PresentedKey::Legacy {
            lookup_id,
            secret_hash,
        } = api_key::parse(plaintext)
        else {
            return Err(KeyError::NotLegacy);
        };
        if db::keys::by_lookup_id(self.db.pool(), &lookup_id)
            .await?
            .is_some()
        {
            return Err(KeyError::AlreadyStored);
        }
        let insert = db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: Some(name),
                kind: kind::LEGACY,
                lookup_id: &lookup_id,
                secret_hash: &secret_hash,
                actions: &[KeyAction::All.as_str().to_string()],
                subjects: &["*".to_string()],
                created_at: db::now(),
                expires_at: None,
                lifetime_secs: None,
            },
        )
        .await;
        match insert {
            Ok(_) => {
                let row = self.get(user, name).await?;
                self.notify(messages::key_created(&self.mail, user, &row))
                    .await;
                Ok(row)
            }
            Err(e) if db::is_unique_violation(&e) => Err(KeyError::NameTaken(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// A user's keys, newest first.
    pub async fn list(&self, user: &User) -> Result<Vec<ApiKeyRow>, KeyError> {
        Ok(db::keys::list_for_user(self.db.pool(), user.id).await?)
    }

    /// One key by name.
    pub async fn get(&self, user: &User, name: &str) -> Result<ApiKeyRow, KeyError> {
        db::keys::by_name(self.db.pool(), user.id, name)
            .await?
            .filter(|k| k.kind != kind::VERIFY)
            .ok_or_else(|| KeyError::NotFound(name.to_string()))
    }

    /// Replaces the package scope; actions, expiry and secret stay as they are (as on NuGet.org).
    pub async fn edit(
        &self,
        user: &User,
        name: &str,
        packages: &[String],
        globs: &[String],
    ) -> Result<ApiKeyRow, KeyError> {
        let key = self.get(user, name).await?;
        if key.kind == kind::LEGACY {
            return Err(KeyError::LegacyImmutable);
        }
        let subjects = normalize_subjects(&KeyScope {
            actions: Vec::new(),
            packages: packages.to_vec(),
            globs: globs.to_vec(),
        })?;
        db::keys::set_subjects(self.db.pool(), key.id, &subjects).await?;
        self.get(user, name).await
    }

    /// Issues a new secret for the same name and scopes, valid for the key's original lifetime from now;
    /// the old secret stops working at once. Works on expired and revoked keys too.
    pub async fn regenerate(
        &self,
        user: &User,
        name: &str,
    ) -> Result<(ApiKeyRow, String), KeyError> {
        let key = self.get(user, name).await?;
        if key.kind == kind::LEGACY {
            return Err(KeyError::LegacyImmutable);
        }
        let max = i64::from(self.max_lifetime_days) * DAY;
        let lifetime = key.lifetime_secs.unwrap_or(max).clamp(DAY, max);
        let minted = api_key::mint();
        db::keys::replace_secret(
            self.db.pool(),
            key.id,
            &minted.lookup_id,
            &minted.secret_hash,
            Some(db::now() + lifetime),
        )
        .await?;
        let row = self.get(user, name).await?;
        self.notify(messages::key_regenerated(&self.mail, user, &row))
            .await;
        Ok((row, minted.plaintext))
    }

    /// Expires an active key now and keeps it listed as revoked.
    pub async fn revoke(&self, user: &User, name: &str) -> Result<ApiKeyRow, KeyError> {
        let key = self.get(user, name).await?;
        if !matches!(status(&key, db::now()), KeyStatus::Active { .. }) {
            return Err(KeyError::NotActive(name.to_string()));
        }
        db::keys::expire_now(self.db.pool(), key.id, db::now(), true).await?;
        let row = self.get(user, name).await?;
        self.notify(messages::key_revoked(&self.mail, user, &row))
            .await;
        Ok(row)
    }

    /// Removes a key for good, legacy keys included.
    pub async fn delete(&self, user: &User, name: &str) -> Result<ApiKeyRow, KeyError> {
        let key = self.get(user, name).await?;
        db::keys::delete(self.db.pool(), key.id).await?;
        self.notify(messages::key_deleted(&self.mail, user, &key))
            .await;
        Ok(key)
    }

    /// Authenticates a presented key: at most one indexed lookup and one hash, constant-time comparison.
    pub async fn authenticate(&self, presented: &str) -> Result<AuthenticatedKey, AuthFailure> {
        let (lookup_id, secret_hash) = match api_key::parse(presented) {
            PresentedKey::Malformed => return Err(AuthFailure::Invalid),
            PresentedKey::Scoped {
                lookup_id,
                secret_hash,
            }
            | PresentedKey::Legacy {
                lookup_id,
                secret_hash,
            } => (lookup_id, secret_hash),
        };
        let pool = self.db.pool();
        let Some((key, user)) = db::keys::with_owner_by_lookup_id(pool, &lookup_id).await? else {
            return Err(AuthFailure::Invalid);
        };
        if !api_key::hashes_match(&key.secret_hash, &secret_hash) {
            return Err(AuthFailure::Invalid);
        }
        let now = db::now();
        if key.kind == kind::LEGACY {
            let last = key.last_used_at.unwrap_or(key.created_at);
            if key.expires_at.is_none() && now - last > LEGACY_IDLE_DAYS * DAY {
                db::keys::expire_now(pool, key.id, now, false).await?;
                return Err(AuthFailure::Invalid);
            }
        }
        let expires_in_days = match status(&key, now) {
            KeyStatus::Active { expires_in_days } => expires_in_days.filter(|d| *d <= WARN_DAYS),
            KeyStatus::Expired | KeyStatus::Revoked => return Err(AuthFailure::Invalid),
        };
        if user.locked {
            return Err(AuthFailure::Locked);
        }
        if !user.email_confirmed {
            return Err(AuthFailure::Unconfirmed);
        }
        // Most checks of a busy key need no write at all: only touch a last-used time that is stale.
        if key
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_INTERVAL_SECS)
        {
            db::keys::touch_last_used(pool, key.id, now, LAST_USED_INTERVAL_SECS).await?;
        }
        Ok(AuthenticatedKey {
            key,
            user,
            expires_in_days,
        })
    }

    /// Mints a one-day, single-use key that only proves ownership of `package_id`.
    pub async fn create_verification_key(
        &self,
        user: &User,
        package_id: &str,
    ) -> Result<(String, i64), KeyError> {
        let now = db::now();
        let minted = api_key::mint();
        db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: None,
                kind: kind::VERIFY,
                lookup_id: &minted.lookup_id,
                secret_hash: &minted.secret_hash,
                actions: &[KeyAction::Verify.as_str().to_string()],
                subjects: &[package_id.to_string()],
                created_at: now,
                expires_at: Some(now + DAY),
                lifetime_secs: Some(DAY),
            },
        )
        .await?;
        Ok((minted.plaintext, now + DAY))
    }

    /// Deletes a verification key after its single use.
    pub async fn consume(&self, key: &ApiKeyRow) -> Result<(), KeyError> {
        db::keys::delete(self.db.pool(), key.id).await?;
        Ok(())
    }
}

fn validate_name(name: &str) -> Result<&str, KeyError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(KeyError::NameRequired);
    }
    if name.chars().count() > 256 {
        return Err(KeyError::NameTooLong);
    }
    Ok(name)
}

fn normalize_actions(actions: &[KeyAction]) -> Result<Vec<String>, KeyError> {
    let set: BTreeSet<KeyAction> = actions.iter().copied().collect();
    if set.is_empty() {
        return Err(KeyError::NoScope);
    }
    if let Some(bad) = set
        .iter()
        .find(|a| matches!(a, KeyAction::All | KeyAction::Verify))
    {
        return Err(KeyError::UnknownScope(bad.to_string()));
    }
    Ok(set.iter().map(|a| a.as_str().to_string()).collect())
}

fn normalize_subjects(scope: &KeyScope) -> Result<Vec<String>, KeyError> {
    let mut seen = BTreeSet::new();
    let mut subjects = Vec::new();
    for subject in scope.packages.iter().chain(scope.globs.iter()) {
        let subject = subject.trim();
        if subject.is_empty() {
            continue;
        }
        validate_subject(subject)?;
        if seen.insert(subject.to_ascii_lowercase()) {
            subjects.push(subject.to_string());
        }
    }
    if subjects.is_empty() {
        return Err(KeyError::NoSubject);
    }
    Ok(subjects)
}

/// Parses `--scope` values, reporting the first unknown one.
pub fn parse_actions(values: &[String]) -> Result<Vec<KeyAction>, KeyError> {
    values
        .iter()
        .map(|v| match KeyAction::parse(v) {
            Some(a @ (KeyAction::Push | KeyAction::PushVersion | KeyAction::Unlist)) => Ok(a),
            _ => Err(KeyError::UnknownScope(v.clone())),
        })
        .collect()
}
