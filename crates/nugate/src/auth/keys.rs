//! The key engine: every rule about creating, changing and checking API keys lives here, and the CLI,
//! the protocol endpoints and the web pages all call it.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::api_key::{self, PresentedKey};
use super::key_cache::{CachedKey, KeyCache};
use super::throttle::Throttle;
use crate::audit::{AuditLog, Event};
use crate::db::{self, keys::ApiKeyRow, users::User, Db};
use crate::error::ApiError;
use crate::mail::{messages, MailContext};
use crate::metrics::{KeyOutcome, Metrics};
use crate::model::account::OrgRole;
use crate::model::audit::AuditAction;
use crate::model::key::{KeyAction, KeyKind, DAY, LEGACY_IDLE_DAYS};
use crate::model::scope::{
    subject_matches, validate_glob, validate_subject, PackageAction, SubjectError,
};

/// Shortest key accepted for import: legacy keys are stored as an unsalted SHA-256 (they are looked up
/// by it), which is only safe for keys too long and varied to guess.
pub const LEGACY_MIN_CHARS: usize = 16;
/// Fewest different characters an imported key must have.
pub const LEGACY_MIN_DISTINCT: usize = 8;
/// `last_used` is written at most this often per key.
pub const LAST_USED_INTERVAL_SECS: i64 = 60;
/// Wrong keys presented from one address, or for one key identifier, within the throttle window before
/// further attempts are refused outright (whether or not the next key would be right).
pub const MAX_KEY_FAILURES: i64 = 30;
/// How long a refused subject waits for its 429. A flood of guesses from one address then costs this
/// node a timer per request, and each of its connections (capped per address) carries at most one guess
/// a second, so it cannot crowd out other clients' requests.
pub const THROTTLED_ANSWER_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// What became of a key reported as leaked.
#[derive(Debug)]
pub enum LeakOutcome {
    /// A live key of ours, now revoked; its user was emailed.
    Revoked(User, Box<ApiKeyRow>),
    /// One of ours, but already revoked or expired: nothing to do.
    AlreadyInactive,
    /// Not a key of this server.
    NotOurs,
}

impl LeakOutcome {
    /// Whether the reported token is one of this server's keys (live or not).
    pub fn is_ours(&self) -> bool {
        !matches!(self, LeakOutcome::NotOurs)
    }
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
    #[error("'{0}' is not a key scope; use push, push-version, unlist or read.")]
    UnknownScope(String),
    #[error("{0}")]
    InvalidSubject(#[from] SubjectError),
    #[error("The key lifetime must be between 1 and {max} days.")]
    InvalidLifetime { max: u32 },
    #[error("There is no API key named '{0}'.")]
    NotFound(String),
    #[error("Legacy API keys cannot be edited or regenerated; create a scoped key instead.")]
    LegacyImmutable,
    #[error("Trusted publishing keys cannot be edited or regenerated: each lives one hour; change the policy instead.")]
    TrustedImmutable,
    #[error("The API key '{0}' is already expired or revoked.")]
    NotActive(String),
    #[error("The key looks like a nugate key; only keys from other servers can be imported as legacy keys.")]
    NotLegacy,
    #[error("That key is already stored.")]
    AlreadyStored,
    #[error("An imported key must be at least {LEGACY_MIN_CHARS} characters long with at least {LEGACY_MIN_DISTINCT} different characters; this one is too easy to guess. Create a scoped key instead.")]
    WeakLegacyKey,
    #[error("You must confirm your email address before you can create API keys.")]
    Unconfirmed,
    #[error("You are not a member of an organisation named '{0}'.")]
    NotAMember(String),
    #[error("'{0}' is an organisation: it holds no keys itself; its members create keys that act for it.")]
    OrganizationHolder(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a new or edited key may act on.
#[derive(Clone, Debug, Default)]
pub struct KeyScope {
    /// The organisation the key acts for, by name (`None`, or the user's own name: the user).
    pub owner: Option<String>,
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
    /// For an organisation's key, the user's role in it now.
    pub org_role: Option<OrgRole>,
    /// Whole days left when the key expires within [`crate::model::key::WARN_DAYS`].
    pub expires_in_days: Option<i64>,
}

/// A key that passed [`KeyService::check_read`]: its rows as this node remembers them, shared.
pub struct VerifiedKey {
    found: CachedKey,
    expires_in_days: Option<i64>,
}

impl VerifiedKey {
    /// The key's row.
    pub fn key(&self) -> &ApiKeyRow {
        &self.found.0
    }

    /// Whether the key may be used for `purpose`: a verification key only to verify, the others for
    /// the API, and for reads only with the `read` scope.
    fn serves(&self, purpose: KeyUse) -> bool {
        let key = self.key();
        match purpose {
            KeyUse::Verification => key.kind == KeyKind::Verify,
            KeyUse::Api => key.kind != KeyKind::Verify,
            KeyUse::Read => {
                key.kind != KeyKind::Verify
                    && key.actions.iter().any(|a| a.allows(PackageAction::Read))
            }
        }
    }

    /// The owned form the write routes keep with the request.
    fn into_authenticated(self) -> AuthenticatedKey {
        let (key, holder) = &*self.found;
        AuthenticatedKey {
            key: key.clone(),
            user: holder.user.clone(),
            org_role: holder.member_role,
            expires_in_days: self.expires_in_days,
        }
    }
}

/// What [`KeyService::judge`] made of a found key.
enum Verdict {
    Accepted(VerifiedKey),
    Refused(AuthFailure),
    /// A legacy key unused for [`LEGACY_IDLE_DAYS`]: refused, and to be expired (this key id).
    IdleLegacy(i64),
}

impl AuthenticatedKey {
    /// The account whose packages the key acts on: its organisation, or its user.
    pub fn acting_account(&self) -> i64 {
        self.key.acting_account()
    }
}

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("{}", crate::error::INVALID_KEY_MESSAGE)]
    Invalid,
    /// Expired or revoked: the same answer as a wrong key, counted apart in the metrics.
    #[error("{}", crate::error::INVALID_KEY_MESSAGE)]
    Expired,
    #[error("The specified API key is scoped to an owner that is unconfirmed. You must confirm the owner that this API key is scoped to before you can use it.")]
    Unconfirmed,
    #[error("The specified API key is scoped to an owner that is locked. Please contact the feed administrator.")]
    Locked,
    #[error("Too many invalid API keys were presented. Wait 15 minutes before trying again.")]
    TooManyAttempts,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> ApiError {
        match failure {
            AuthFailure::Invalid | AuthFailure::Expired => ApiError::invalid_key(),
            AuthFailure::TooManyAttempts => ApiError::TooManyAttempts,
            AuthFailure::Database(e) => e.into(),
            refused @ (AuthFailure::Unconfirmed | AuthFailure::Locked) => {
                ApiError::Forbidden(refused.to_string())
            }
        }
    }
}

/// What a presented key is being checked for: verification keys prove ownership and nothing else, and
/// no other key can stand in for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Push, unlist, relist, minting a verification key.
    Api,
    /// `GET /api/v2/verifykey`.
    Verification,
    /// Reading a private feed: the key must grant `read`.
    Read,
}

impl KeyError {
    /// Whether this is the database failing rather than a request the user can correct.
    pub fn is_outage(&self) -> bool {
        matches!(self, KeyError::Database(_))
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> ApiError {
        match error {
            KeyError::Database(e) => e.into(),
            KeyError::NotFound(_) => ApiError::NotFound(error.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// The key service.
#[derive(Clone)]
pub struct KeyService {
    db: Db,
    max_lifetime_days: u32,
    mail: MailContext,
    throttle: Throttle,
    metrics: Arc<Metrics>,
    cache: Arc<KeyCache>,
    audit: AuditLog,
}

impl KeyService {
    /// Wraps the database; `max_lifetime_days` caps every new or regenerated key; `mail` names the server
    /// in the emails every change sends.
    pub fn new(
        db: Db,
        max_lifetime_days: u32,
        mail: MailContext,
        throttle: Throttle,
        metrics: Arc<Metrics>,
        cache: Arc<KeyCache>,
        audit: AuditLog,
    ) -> KeyService {
        KeyService {
            db,
            max_lifetime_days,
            mail,
            throttle,
            metrics,
            cache,
            audit,
        }
    }

    /// The largest lifetime a new key may have, in days.
    pub fn max_lifetime_days(&self) -> u32 {
        self.max_lifetime_days
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
        refuse_organization(user)?;
        let name = validate_name(name)?;
        let actions = normalize_actions(&scope.actions)?;
        let subjects = normalize_subjects(scope)?;
        let org = self.acting_for(user, scope.owner.as_deref()).await?;
        let max = self.max_lifetime_for(org.as_ref());
        let days = expires_in_days.unwrap_or(max.min(365));
        if days == 0 || days > max {
            return Err(KeyError::InvalidLifetime { max });
        }
        let lifetime = i64::from(days) * DAY;
        let now = db::now();
        let minted = api_key::mint();
        let insert = db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: Some(name),
                kind: KeyKind::Scoped,
                lookup_id: &minted.lookup_id,
                secret_hash: &minted.secret_hash,
                actions: &actions,
                subjects: &subjects,
                created_at: now,
                expires_at: Some(now + lifetime),
                lifetime_secs: Some(lifetime),
                owner_id: org.as_ref().map(|o| o.id),
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
        self.audit
            .record(
                Event::new(AuditAction::KeyCreate)
                    .with_key(user, &row)
                    .detail(scope_summary(&row)),
            )
            .await;
        self.notify(messages::key_created(&self.mail, user, &row))
            .await;
        if let Some(org) = &org {
            // The organisation's administrators hear of every key made to act for it.
            for (admin, role) in db::orgs::members(self.db.pool(), org.id).await? {
                if role.manages() && admin.id != user.id {
                    self.notify(messages::key_created(&self.mail, &admin, &row))
                        .await;
                }
            }
        }
        Ok((row, minted.plaintext))
    }

    /// The organisation a new key of `user` acts for: `None` for the user's own packages; an
    /// organisation only when the user is a member of it.
    async fn acting_for(&self, user: &User, owner: Option<&str>) -> Result<Option<User>, KeyError> {
        let Some(owner) = owner.map(str::trim).filter(|o| !o.is_empty()) else {
            return Ok(None);
        };
        if owner.eq_ignore_ascii_case(&user.username) {
            return Ok(None);
        }
        let pool = self.db.pool();
        let org = db::users::by_username(pool, owner)
            .await?
            .filter(User::is_organization)
            .ok_or_else(|| KeyError::NotAMember(owner.to_string()))?;
        if db::orgs::role_of(pool, org.id, user.id).await?.is_none() {
            return Err(KeyError::NotAMember(org.username));
        }
        Ok(Some(org))
    }

    /// The longest lifetime, in days, of a key acting for `org` (or for its user): the server's cap,
    /// lowered by the organisation's own.
    pub fn max_lifetime_for(&self, org: Option<&User>) -> u32 {
        let org_cap = org
            .and_then(|o| o.max_key_lifetime_days)
            .and_then(|d| u32::try_from(d).ok());
        org_cap.map_or(self.max_lifetime_days, |cap| {
            cap.min(self.max_lifetime_days)
        })
    }

    /// Stores an existing plaintext key from another server, as a full-access legacy key.
    pub async fn import_legacy(
        &self,
        user: &User,
        name: &str,
        plaintext: &str,
    ) -> Result<ApiKeyRow, KeyError> {
        refuse_organization(user)?;
        let name = validate_name(name)?;
        let plaintext = plaintext.trim();
        let distinct: BTreeSet<char> = plaintext.chars().collect();
        if plaintext.chars().count() < LEGACY_MIN_CHARS || distinct.len() < LEGACY_MIN_DISTINCT {
            return Err(KeyError::WeakLegacyKey);
        }
        let PresentedKey::Legacy {
            lookup_id,
            secret_hash,
        } = api_key::parse(plaintext)
        else {
            return Err(KeyError::NotLegacy);
        };
        if db::keys::lookup_id_exists(self.db.pool(), &lookup_id).await? {
            return Err(KeyError::AlreadyStored);
        }
        let insert = db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: Some(name),
                kind: KeyKind::Legacy,
                lookup_id: &lookup_id,
                secret_hash: &secret_hash,
                actions: &[KeyAction::All],
                subjects: &["*".to_string()],
                created_at: db::now(),
                expires_at: None,
                lifetime_secs: None,
                owner_id: None,
            },
        )
        .await;
        match insert {
            Ok(_) => {
                let row = self.get(user, name).await?;
                self.audit
                    .record(
                        Event::new(AuditAction::KeyCreate)
                            .with_key(user, &row)
                            .detail("imported legacy key (full access)"),
                    )
                    .await;
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
            .filter(|k| k.kind != KeyKind::Verify)
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
        refuse_fixed_kinds(&key)?;
        let subjects = normalize_subjects(&KeyScope {
            owner: None,
            actions: Vec::new(),
            packages: packages.to_vec(),
            globs: globs.to_vec(),
        })?;
        db::keys::set_subjects(self.db.pool(), key.id, &subjects).await?;
        self.cache.invalidate();
        let row = self.get(user, name).await?;
        self.audit
            .record(
                Event::new(AuditAction::KeyEdit)
                    .with_key(user, &row)
                    .detail(scope_summary(&row)),
            )
            .await;
        Ok(row)
    }

    /// Issues a new secret for the same name and scopes, valid for the key's original lifetime from now;
    /// the old secret stops working at once. Works on expired and revoked keys too.
    pub async fn regenerate(
        &self,
        user: &User,
        name: &str,
    ) -> Result<(ApiKeyRow, String), KeyError> {
        let key = self.get(user, name).await?;
        refuse_fixed_kinds(&key)?;
        let org = match key.owner_id {
            Some(id) => db::users::by_id(self.db.pool(), id).await?,
            None => None,
        };
        let max = i64::from(self.max_lifetime_for(org.as_ref())) * DAY;
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
        self.cache.invalidate();
        let row = self.get(user, name).await?;
        self.audit
            .record(Event::new(AuditAction::KeyRegenerate).with_key(user, &row))
            .await;
        self.notify(messages::key_regenerated(&self.mail, user, &row))
            .await;
        Ok((row, minted.plaintext))
    }

    /// Expires an active key now and keeps it listed as revoked.
    pub async fn revoke(&self, user: &User, name: &str) -> Result<ApiKeyRow, KeyError> {
        let key = self.get(user, name).await?;
        if !key.status(db::now()).is_active() {
            return Err(KeyError::NotActive(name.to_string()));
        }
        db::keys::expire_now(self.db.pool(), key.id, db::now(), true).await?;
        self.cache.invalidate();
        let row = self.get(user, name).await?;
        self.audit
            .record(Event::new(AuditAction::KeyRevoke).with_key(user, &row))
            .await;
        self.notify(messages::key_revoked(&self.mail, user, &row))
            .await;
        Ok(row)
    }

    /// Revokes a key reported as leaked (its plaintext, as found) and emails its user. Anything that is
    /// not one of this server's live keys is left alone.
    pub async fn revoke_leaked(&self, presented: &str) -> Result<LeakOutcome, KeyError> {
        let Some((lookup_id, secret_hash)) = api_key::parse(presented).into_parts() else {
            return Ok(LeakOutcome::NotOurs);
        };
        let Some((key, holder)) =
            db::keys::with_owner_by_lookup_id(self.db.pool(), &lookup_id).await?
        else {
            return Ok(LeakOutcome::NotOurs);
        };
        if !api_key::hashes_match(&key.secret_hash, &secret_hash) {
            return Ok(LeakOutcome::NotOurs);
        }
        let now = db::now();
        if !key.status(now).is_active() {
            return Ok(LeakOutcome::AlreadyInactive);
        }
        db::keys::expire_now(self.db.pool(), key.id, now, true).await?;
        self.cache.invalidate();
        let user = holder.user;
        self.audit
            .record(
                Event::new(AuditAction::KeyRevokeLeaked)
                    .with_key(&user, &key)
                    .detail("reported as leaked"),
            )
            .await;
        self.notify(messages::key_leaked(&self.mail, &user, &key))
            .await;
        Ok(LeakOutcome::Revoked(user, Box::new(key)))
    }

    /// Removes a key for good, legacy keys included.
    pub async fn delete(&self, user: &User, name: &str) -> Result<ApiKeyRow, KeyError> {
        let key = self.get(user, name).await?;
        db::keys::delete(self.db.pool(), key.id).await?;
        self.cache.invalidate();
        self.audit
            .record(Event::new(AuditAction::KeyDelete).with_key(user, &key))
            .await;
        self.notify(messages::key_deleted(&self.mail, user, &key))
            .await;
        Ok(key)
    }

    /// Checks a presented key for `purpose`, with guessing protection: failures are counted per client
    /// address and per key identifier (every node sees them), and a wrong key gets the same answer whether
    /// its identifier exists or not. Every place that accepts a key goes through here or through
    /// [`KeyService::check_read`].
    pub async fn check(
        &self,
        presented: &str,
        peer: Option<IpAddr>,
        purpose: KeyUse,
    ) -> Result<AuthenticatedKey, AuthFailure> {
        self.verify(presented, peer, purpose)
            .await
            .map(VerifiedKey::into_authenticated)
    }

    /// [`KeyService::check`] for a read: the key comes back as remembered, not copied, since a restore
    /// checks it on every request and needs only its name and package scope.
    pub async fn check_read(
        &self,
        presented: &str,
        peer: Option<IpAddr>,
    ) -> Result<VerifiedKey, AuthFailure> {
        self.verify(presented, peer, KeyUse::Read).await
    }

    /// [`KeyService::check_read`] answered from this node's memory alone, for the common case of a
    /// restore: a key it remembers, right and granting `read`, on a node that has met no wrong key (so
    /// no subject of this attempt can be throttled). `None` for anything else; then `check_read` decides,
    /// with the database and the throttle. It never refuses, so every refusal is counted in one place.
    pub fn check_read_remembered(&self, presented: &str) -> Option<VerifiedKey> {
        if !self.cache.calm() {
            return None;
        }
        let parsed = api_key::parse(presented);
        let (lookup_id, secret_hash) = parsed.parts()?;
        let found = self.cache.get(lookup_id)?;
        match self.judge(found, secret_hash, self.db.now()) {
            Verdict::Accepted(key) if key.serves(KeyUse::Read) => {
                self.metrics.key_check(KeyOutcome::Ok);
                Some(key)
            }
            _ => None,
        }
    }

    async fn verify(
        &self,
        presented: &str,
        peer: Option<IpAddr>,
        purpose: KeyUse,
    ) -> Result<VerifiedKey, AuthFailure> {
        // Parsed once: parsing hashes the secret, and a restore checks a key on every request.
        let parsed = api_key::parse(presented);
        let lookup_id = parsed.lookup_id();
        // The throttle's names for this attempt: named only when needed, which a remembered key
        // presented to a node that has seen no wrong key never is, and then once.
        let named = std::sync::OnceLock::new();
        let subjects = || {
            named.get_or_init(|| {
                let mut subjects = Vec::with_capacity(2);
                if let Some(ip) = peer {
                    subjects.push(format!("key-ip:{ip}"));
                }
                if let Some(id) = lookup_id {
                    subjects.push(format!("key-id:{id}"));
                }
                subjects
            })
        };
        let m = &self.metrics;
        // A key this node checked a moment ago is no guess: the database's throttle is asked only for
        // the others, and for anything from a subject this node saw failing lately.
        // A subject the throttle refused stays refused until its window ends (failures are only
        // added), so this node answers those from memory.
        let now = db::now();
        let calm = self.cache.calm();
        if !calm && self.cache.is_blocked(subjects(), now) {
            m.key_check(KeyOutcome::Throttled);
            tokio::time::sleep(THROTTLED_ANSWER_DELAY).await;
            return Err(AuthFailure::TooManyAttempts);
        }
        let mut remembered = lookup_id.and_then(|id| self.cache.get(id));
        // A key this node does not remember (any more) is read once at a time: when a busy key's memory
        // expires, the requests that find it so wait for the first one's read and find it remembered.
        let turn = lookup_id
            .filter(|_| remembered.is_none())
            .map(|id| self.cache.turn(id));
        let _turn = match &turn {
            Some(turn) => {
                let held = turn.lock().await;
                remembered = lookup_id.and_then(|id| self.cache.get(id));
                Some(held)
            }
            None => None,
        };
        if remembered.is_none() || (!calm && self.cache.failed_recently(subjects())) {
            if let Some((subject, until)) = self
                .throttle
                .blocked_until(subjects(), MAX_KEY_FAILURES)
                .await?
            {
                self.cache.note_blocked(&subject, until, now);
                m.key_check(KeyOutcome::Throttled);
                tokio::time::sleep(THROTTLED_ANSWER_DELAY).await;
                return Err(AuthFailure::TooManyAttempts);
            }
        }
        match self.authenticate(&parsed, remembered).await {
            Ok(key) if key.serves(purpose) => {
                m.key_check(KeyOutcome::Ok);
                Ok(key)
            }
            // Expired and wrong keys get one answer; only the metrics tell them apart.
            // A right key without the needed scope is refused without counting as a guess.
            Ok(_) => {
                m.key_check(KeyOutcome::OutOfScope);
                Err(AuthFailure::Invalid)
            }
            Err(failure @ (AuthFailure::Invalid | AuthFailure::Expired)) => {
                m.key_check(if matches!(failure, AuthFailure::Expired) {
                    KeyOutcome::Expired
                } else {
                    KeyOutcome::Wrong
                });
                let subjects = subjects();
                self.cache.note_failure(subjects);
                self.throttle.record_failure(subjects).await?;
                Err(AuthFailure::Invalid)
            }
            Err(AuthFailure::Database(e)) => Err(AuthFailure::Database(e)),
            Err(other) => {
                m.key_check(KeyOutcome::Refused);
                Err(other)
            }
        }
    }

    /// Authenticates a presented key: at most one indexed lookup and one hash, constant-time comparison.
    /// `remembered` is the key as this node remembers it, if it does.
    async fn authenticate(
        &self,
        parsed: &PresentedKey,
        remembered: Option<CachedKey>,
    ) -> Result<VerifiedKey, AuthFailure> {
        let Some((lookup_id, secret_hash)) = parsed.parts() else {
            return Err(AuthFailure::Invalid);
        };
        let pool = self.db.pool();
        let found = match remembered {
            Some(found) => found,
            None => {
                let generation = self.cache.generation();
                let Some(found) = db::keys::with_owner_by_lookup_id(pool, lookup_id).await? else {
                    return Err(AuthFailure::Invalid);
                };
                let found = Arc::new(found);
                self.cache.put(generation, &found);
                found
            }
        };
        let now = self.db.now();
        match self.judge(found, secret_hash, now) {
            Verdict::Accepted(key) => Ok(key),
            Verdict::Refused(failure) => Err(failure),
            Verdict::IdleLegacy(id) => {
                db::keys::expire_now(pool, id, now, false).await?;
                self.cache.invalidate();
                Err(AuthFailure::Expired)
            }
        }
    }

    /// The rules a found key must pass for the secret hashed to `secret_hash`, all from the key's rows
    /// (as read or remembered). Only a legacy key that idled out needs the database: to expire it.
    fn judge(&self, found: CachedKey, secret_hash: &str, now: i64) -> Verdict {
        let (key, holder) = &*found;
        // An organisation's key works only while its user is a member: leaving or being removed ends
        // it at once, on every node, because membership is read with the key every time.
        if key.owner_id.is_some() && holder.member_role.is_none() {
            return Verdict::Refused(AuthFailure::Invalid);
        }
        let user = &holder.user;
        // An organisation acts only through its members' keys: a key held by one itself (which
        // `create` refuses) would answer to no membership, so it never works.
        if user.is_organization() {
            return Verdict::Refused(AuthFailure::Invalid);
        }
        if !api_key::hashes_match(&key.secret_hash, secret_hash) {
            return Verdict::Refused(AuthFailure::Invalid);
        }
        if key.kind == KeyKind::Legacy {
            let last = key.last_used_at.unwrap_or(key.created_at);
            if key.expires_at.is_none() && now - last > LEGACY_IDLE_DAYS * DAY {
                return Verdict::IdleLegacy(key.id);
            }
        }
        let status = key.status(now);
        if !status.is_active() {
            return Verdict::Refused(AuthFailure::Expired);
        }
        // A trusted-publishing key lives an hour: no "expires in 1 day" warning on each push.
        let expires_in_days = status
            .expiring_soon()
            .filter(|_| key.kind != KeyKind::Trusted);
        if user.locked {
            return Verdict::Refused(AuthFailure::Locked);
        }
        if !user.email_confirmed {
            return Verdict::Refused(AuthFailure::Unconfirmed);
        }
        // Most checks of a busy key need no write at all: only a stale last-used time is written, at
        // most once a minute per key, and the request does not wait for it.
        if key
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USED_INTERVAL_SECS)
        {
            self.cache.touched(&key.lookup_id, now);
            let (db, id) = (self.db.clone(), key.id);
            tokio::spawn(async move {
                if let Err(e) =
                    db::keys::touch_last_used(db.pool(), id, now, LAST_USED_INTERVAL_SECS).await
                {
                    tracing::warn!(error = %e, "could not record a key's last use");
                }
            });
        }
        Verdict::Accepted(VerifiedKey {
            found,
            expires_in_days,
        })
    }

    /// Issues a trusted-publishing key: push and unlist on `subjects`, for `org` (or the user's own
    /// packages), living `lifetime_secs` by the server's clock. No email: the policy's creation and first
    /// use were emailed, and a CI pipeline may ask for many.
    pub async fn issue_trusted(
        &self,
        user: &User,
        org: Option<&User>,
        subjects: &[String],
        provenance: &str,
        lifetime_secs: i64,
    ) -> Result<(ApiKeyRow, String), KeyError> {
        let now = self.db.now();
        let minted = api_key::mint();
        let name = format!(
            "Trusted publishing {} ({})",
            crate::audit::when(now),
            &minted.lookup_id[..minted.lookup_id.len().min(8)]
        );
        let id = db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: Some(&name),
                kind: KeyKind::Trusted,
                lookup_id: &minted.lookup_id,
                secret_hash: &minted.secret_hash,
                actions: &[KeyAction::Push, KeyAction::Unlist],
                subjects,
                created_at: now,
                expires_at: Some(now + lifetime_secs),
                lifetime_secs: Some(lifetime_secs),
                owner_id: org.map(|o| o.id),
            },
        )
        .await?;
        db::keys::set_provenance(self.db.pool(), id, provenance).await?;
        let row = self.get(user, &name).await?;
        Ok((row, minted.plaintext))
    }

    /// Mints a one-day, single-use key that only proves ownership of `package_id`, by the account
    /// `key` acts for.
    pub async fn create_verification_key(
        &self,
        key: &AuthenticatedKey,
        package_id: &str,
    ) -> Result<(String, i64), KeyError> {
        let user = &key.user;
        let owner_id = key.key.owner_id;
        let now = db::now();
        let minted = api_key::mint();
        db::keys::insert(
            self.db.pool(),
            &db::keys::NewApiKey {
                user_id: user.id,
                name: None,
                kind: KeyKind::Verify,
                lookup_id: &minted.lookup_id,
                secret_hash: &minted.secret_hash,
                actions: &[KeyAction::Verify],
                subjects: &[package_id.to_string()],
                created_at: now,
                expires_at: Some(now + DAY),
                lifetime_secs: Some(DAY),
                owner_id,
            },
        )
        .await?;
        Ok((minted.plaintext, now + DAY))
    }

    /// Uses up a verification key and reports whether it names `package_id`; whether its user owns
    /// the package is the package service's question.
    pub async fn consume_verification(
        &self,
        key: &AuthenticatedKey,
        package_id: &str,
    ) -> Result<bool, KeyError> {
        db::keys::delete(self.db.pool(), key.key.id).await?;
        self.cache.invalidate();
        Ok(key
            .key
            .subjects
            .iter()
            .any(|s| subject_matches(s, package_id)))
    }
}

/// What a key may do, for its audit records: "push, unlist on Contoso.*, Fabrikam.Lib".
pub fn scope_summary(key: &ApiKeyRow) -> String {
    let actions: Vec<&str> = key.actions.iter().map(|a| a.as_str()).collect();
    format!("{} on {}", actions.join(", "), key.subjects.join(", "))
}

/// Legacy and trusted-publishing keys keep the scope and secret they were made with.
fn refuse_fixed_kinds(key: &ApiKeyRow) -> Result<(), KeyError> {
    match key.kind {
        KeyKind::Legacy => Err(KeyError::LegacyImmutable),
        KeyKind::Trusted => Err(KeyError::TrustedImmutable),
        KeyKind::Scoped | KeyKind::Verify => Ok(()),
    }
}

/// Organisations never hold keys: their members make keys that act for them (and stop with their
/// membership).
fn refuse_organization(user: &User) -> Result<(), KeyError> {
    if user.is_organization() {
        return Err(KeyError::OrganizationHolder(user.username.clone()));
    }
    Ok(())
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

fn normalize_actions(actions: &[KeyAction]) -> Result<Vec<KeyAction>, KeyError> {
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
    Ok(set.into_iter().collect())
}

fn normalize_subjects(scope: &KeyScope) -> Result<Vec<String>, KeyError> {
    let mut seen = BTreeSet::new();
    let mut subjects = Vec::new();
    let packages = scope.packages.iter().map(|s| (s, false));
    for (subject, from_glob_field) in packages.chain(scope.globs.iter().map(|s| (s, true))) {
        let subject = subject.trim();
        if subject.is_empty() {
            continue;
        }
        // What was typed as a glob is judged as one, '*' or not, so its error says what a glob may hold.
        if from_glob_field {
            validate_glob(subject)?;
        } else {
            validate_subject(subject)?;
        }
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
        .map(|v| KeyAction::parse_grantable(v).ok_or_else(|| KeyError::UnknownScope(v.clone())))
        .collect()
}
