//! User accounts: creation with argon2id password hashes, look-ups, and the emailed-token flows
//! (confirm an address, reset a password, change the address). This service alone chooses token
//! lifetimes, builds the links (from the configured public URL) and queues the mail.

use crate::audit::Event;
use crate::model::audit::AuditAction;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use std::net::IpAddr;
use std::sync::Arc;

use crate::auth::key_cache::KeyCache;
use crate::auth::throttle::{Budget, Claim, Throttle};
use crate::db::{self, users::User, Db};
use crate::error::ApiError;
use crate::mail::{self, messages, MailContext};
use crate::model::account::AccountKind;
use crate::tokens::{hash_token, random_token};

/// How long a sign-up confirmation link works.
const CONFIRM_TTL_SECS: i64 = 2 * 86_400;
/// How long a password-reset link works (the email says one hour).
const RESET_TTL_SECS: i64 = 3600;
/// How long a link confirming a new address works.
const CHANGE_EMAIL_TTL_SECS: i64 = 2 * 86_400;
/// Shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 8;
/// Sign-in attempts per account: five free, then 30 s, 1 min, 2 min, … up to 15 minutes between tries.
const ACCOUNT_SIGNIN_BUDGET: Budget = Budget::Backoff {
    free: 5,
    first_delay_secs: 30,
    max_delay_secs: 15 * 60,
};
/// Failed sign-ins per address within the throttle window.
const ADDRESS_SIGNIN_BUDGET: Budget = Budget::Hard { max: 20 };
/// Sign-ups per address within the throttle window.
const ADDRESS_SIGNUP_BUDGET: Budget = Budget::Hard { max: 10 };

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("Usernames are 1-64 characters: letters, digits, '.', '-' and '_'.")]
    InvalidUsername,
    #[error("'{0}' is not a valid email address.")]
    InvalidEmail(String),
    #[error("Passwords must be at least 8 characters.")]
    WeakPassword,
    #[error(
        "That password is one of the most common ones, which are tried first; choose another."
    )]
    CommonPassword,
    #[error("The password must not be your username or email address.")]
    PasswordIsName,
    #[error("The username or email address is already in use.")]
    Taken,
    #[error("There is no user named '{0}'.")]
    NotFound(String),
    #[error("The password is incorrect.")]
    WrongPassword,
    #[error("Type your username to confirm the deletion.")]
    DeletionNotConfirmed,
    #[error("You cannot lock yourself or remove your own administrator role.")]
    SelfLockout,
    #[error("Too many attempts. Wait {} and try again.", wait_words(*.secs))]
    TooManyAttempts { secs: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl UserError {
    /// Whether this is the server failing rather than a request the user can correct.
    pub fn is_outage(&self) -> bool {
        matches!(self, UserError::Database(_) | UserError::Hashing(_))
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> ApiError {
        match error {
            UserError::Database(e) => e.into(),
            UserError::Hashing(e) => ApiError::Internal(anyhow::anyhow!("password hashing: {e}")),
            UserError::NotFound(_) => ApiError::NotFound(error.to_string()),
            UserError::TooManyAttempts { .. } => ApiError::TooManyRequests(error.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// What an emailed token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Confirms the address given at sign-up.
    Confirm,
    /// Resets a forgotten password.
    Reset,
    /// Confirms a new address before it replaces the old one.
    ChangeEmail,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Confirm => "confirm",
            TokenPurpose::Reset => "reset",
            TokenPurpose::ChangeEmail => "change-email",
        }
    }
}

/// A switch an administrator flips on another account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    Lock,
    Unlock,
    MakeAdmin,
    RemoveAdmin,
}

impl AdminAction {
    /// Parses the form value (`lock`, `unlock`, `make-admin`, `remove-admin`).
    pub fn parse(text: &str) -> Option<AdminAction> {
        match text {
            "lock" => Some(AdminAction::Lock),
            "unlock" => Some(AdminAction::Unlock),
            "make-admin" => Some(AdminAction::MakeAdmin),
            "remove-admin" => Some(AdminAction::RemoveAdmin),
            _ => None,
        }
    }
}

/// How a sign-in went.
#[derive(Debug)]
pub enum SignIn {
    /// The password is right and the account may sign in.
    Welcome(User),
    /// Wrong name or password (one answer for both).
    Refused,
    /// The account is locked by an administrator.
    Locked,
    /// Too many failed attempts for the account or from the address: wait this long.
    Throttled { secs: i64 },
}

/// The user service.
#[derive(Clone)]
pub struct UserService {
    db: Db,
    mail: MailContext,
    throttle: Throttle,
    /// Told of every change that can end a user's keys (locking, deletion).
    keys: Arc<KeyCache>,
    audit: crate::audit::AuditLog,
}

impl UserService {
    /// Wraps the database; `mail` names the server and gives the public URL links point at; `throttle`
    /// counts sign-in and sign-up attempts.
    pub fn new(
        db: Db,
        mail: MailContext,
        throttle: Throttle,
        keys: Arc<KeyCache>,
        audit: crate::audit::AuditLog,
    ) -> UserService {
        UserService {
            db,
            mail,
            throttle,
            keys,
            audit,
        }
    }

    /// Signs in with a username or email and a password, from `peer`. Attempts are counted per
    /// account (whichever name or address was typed) with growing delays, and per address with a hard
    /// limit; each attempt claims its place before the password is checked, so parallel guesses cannot
    /// overrun the budget. A success resets the account's count.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<SignIn, UserError> {
        let login = login.trim();
        let user = self.by_login(login).await?;
        let account = match &user {
            Some(user) => format!("account:{}", user.id),
            None => format!("login:{}", login.to_lowercase()),
        };
        let mut subjects = vec![(account, ACCOUNT_SIGNIN_BUDGET)];
        if let Some(ip) = peer {
            subjects.push((format!("signin-ip:{ip}"), ADDRESS_SIGNIN_BUDGET));
        }
        for (subject, budget) in &subjects {
            if let Claim::Wait { secs } = self.throttle.claim(subject, *budget).await? {
                self.record_sign_in(user.as_ref(), Some("too many attempts: asked to wait"))
                    .await;
                return Ok(SignIn::Throttled { secs });
            }
        }
        // Organisations never sign in: they have no password, and answer like an unknown name.
        let Some(user) = user.filter(|u| !u.is_organization()) else {
            // Spend the same time as a real check so timing does not reveal which names exist.
            hash_password(password.to_string()).await?;
            return Ok(SignIn::Refused);
        };
        let matches = match user.password_hash.clone() {
            Some(hash) => verify_password(password.to_string(), hash).await,
            None => false,
        };
        if !matches {
            self.record_sign_in(Some(&user), Some("wrong password"))
                .await;
            return Ok(SignIn::Refused);
        }
        self.throttle.succeeded(&subjects[0].0).await?;
        if user.locked {
            self.record_sign_in(Some(&user), Some("account locked"))
                .await;
            return Ok(SignIn::Locked);
        }
        self.record_sign_in(Some(&user), None).await;
        Ok(SignIn::Welcome(user))
    }

    /// Records a sign-in to an existing account, or a refused one with its reason. Attempts on names
    /// that do not exist are not recorded: what was typed may be someone's password.
    async fn record_sign_in(&self, user: Option<&User>, refusal: Option<&str>) {
        let Some(user) = user.filter(|u| !u.is_organization()) else {
            return;
        };
        let event = Event::new(AuditAction::SignIn).by(user);
        let event = match refusal {
            Some(reason) => event.refused().detail(reason),
            None => event,
        };
        self.audit.record(event).await;
    }

    async fn by_login(&self, login: &str) -> Result<Option<User>, UserError> {
        Ok(if login.contains('@') {
            db::users::by_email(self.db.pool(), login).await?
        } else {
            db::users::by_username(self.db.pool(), login).await?
        })
    }

    /// Creates a user; `confirmed` is true for users made by an administrator or the CLI.
    pub async fn create(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
        confirmed: bool,
    ) -> Result<User, UserError> {
        let (username, email) = check_new_account(username, email, password)?;
        let hash = hash_password(password.to_string()).await?;
        self.insert(username, email, &hash, is_admin, confirmed)
            .await
    }

    async fn insert(
        &self,
        username: &str,
        email: &str,
        password_hash: &str,
        is_admin: bool,
        confirmed: bool,
    ) -> Result<User, UserError> {
        let now = db::now();
        let mut tx = self.db.begin_write().await?;
        let insert = db::users::insert(
            &mut tx,
            &db::users::NewUser {
                username,
                email,
                password_hash: Some(password_hash),
                is_admin,
                email_confirmed: confirmed,
                kind: AccountKind::User,
            },
            now,
        )
        .await;
        let id = match insert {
            Ok(id) => id,
            Err(e) if db::is_unique_violation(&e) => return Err(UserError::Taken),
            Err(e) => return Err(e.into()),
        };
        if is_admin {
            // An administrator exists: no sign-up will ever be made one.
            db::users::record_admin_exists(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        db::users::by_id(self.db.pool(), id)
            .await?
            .ok_or_else(|| UserError::NotFound(username.to_string()))
    }

    /// Finds a user by name.
    pub async fn get(&self, username: &str) -> Result<User, UserError> {
        db::users::by_username(self.db.pool(), username)
            .await?
            .ok_or_else(|| UserError::NotFound(username.to_string()))
    }

    /// Finds a user by name, if there is one.
    pub async fn find(&self, username: &str) -> Result<Option<User>, UserError> {
        Ok(db::users::by_username(self.db.pool(), username).await?)
    }

    /// All users.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        Ok(db::users::list(self.db.pool()).await?)
    }

    /// Self-service sign-up. What it tells the caller does not depend on whether the name or address is
    /// taken (only malformed input is refused), and it takes as long either way: the sign-up page must
    /// not reveal accounts. A new account gets its confirmation link; an address already in use gets an
    /// email telling its owner; a taken name with a new address gets an email asking for another name.
    /// Accounts are unconfirmed until the link is followed, and unconfirmed ones expire.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        peer: Option<IpAddr>,
    ) -> Result<(), UserError> {
        let (username, email) = check_new_account(username, email, password)?;
        if let Some(ip) = peer {
            let subject = format!("signup-ip:{ip}");
            if let Claim::Wait { secs } =
                self.throttle.claim(&subject, ADDRESS_SIGNUP_BUDGET).await?
            {
                return Err(UserError::TooManyAttempts { secs });
            }
        }
        let hash = hash_password(password.to_string()).await?;
        let pool = self.db.pool();
        if let Some(existing) = db::users::by_email(pool, email).await? {
            self.send(&messages::signup_address_in_use(&self.mail, &existing))
                .await?;
            return Ok(());
        }
        if db::users::by_username(pool, username).await?.is_some() {
            self.send(&messages::signup_username_taken(
                &self.mail, email, username,
            ))
            .await?;
            return Ok(());
        }
        match self.insert(username, email, &hash, false, false).await {
            Ok(user) => self.send_confirmation(&user).await,
            // Another sign-up took the name or address a moment ago: the same quiet answer.
            Err(UserError::Taken) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends a new sign-up confirmation link (nothing to do once the address is confirmed).
    pub async fn send_confirmation(&self, user: &User) -> Result<(), UserError> {
        if user.email_confirmed {
            return Ok(());
        }
        let (token, expires_at) = self
            .issue_token(user, TokenPurpose::Confirm, None, CONFIRM_TTL_SECS)
            .await?;
        let link = self.link("/account/confirm", &token);
        let mut email = messages::confirm_account(&self.mail, user, &link);
        email.expires_at = Some(expires_at);
        self.send(&email).await
    }

    /// Follows a sign-up confirmation link; `None` when the link is invalid, used or expired. On a
    /// server with no administrator yet, the first account to confirm becomes administrator: exactly
    /// one, however many confirm at once, and never one whose address is unproven.
    pub async fn confirm_account(&self, token: &str) -> Result<Option<User>, UserError> {
        let Some((user, _)) = self.consume_token(TokenPurpose::Confirm, token).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        db::users::set_confirmed_email(&mut tx, user.id, &user.email).await?;
        let promoted = db::users::claim_first_admin(&mut tx, user.id, db::now()).await?;
        tx.commit().await?;
        if promoted {
            tracing::info!(user = %user.username, "the first confirmed account became administrator");
        }
        Ok(db::users::by_id(self.db.pool(), user.id).await?)
    }

    /// Removes sign-ups whose address was never confirmed within the link's lifetime (and that own no
    /// package), so an unconfirmed sign-up cannot hold someone else's address or name for good.
    pub async fn remove_expired_signups(&self) -> Result<u64, UserError> {
        Ok(db::users::delete_unconfirmed_before(&self.db, db::now() - CONFIRM_TTL_SECS).await?)
    }

    /// Queues an email (subject to the per-recipient limits).
    async fn send(&self, email: &mail::Email) -> Result<(), UserError> {
        mail::enqueue(&self.db, email).await?;
        Ok(())
    }

    /// Sends a reset link to the address if an unlocked account uses it; says nothing either way, so
    /// the answer does not reveal which addresses have accounts.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), UserError> {
        let Some(user) = db::users::by_email(self.db.pool(), email.trim()).await? else {
            return Ok(());
        };
        if user.locked || user.is_organization() {
            return Ok(());
        }
        let (token, expires_at) = self
            .issue_token(&user, TokenPurpose::Reset, None, RESET_TTL_SECS)
            .await?;
        let link = self.link("/account/reset-password", &token);
        let mut email = messages::password_reset(&self.mail, &user, &link);
        email.expires_at = Some(expires_at);
        self.send(&email).await
    }

    /// Sets a new password through a reset link and ends every session of the account; `None` when
    /// the link is invalid, used or expired. A weak password is refused before the link is used up.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
    ) -> Result<Option<User>, UserError> {
        // The account is known only once the link is used; its name is checked then.
        check_password_strength(password, "", "")?;
        let Some((user, _)) = self.consume_token(TokenPurpose::Reset, token).await? else {
            return Ok(None);
        };
        self.set_password(&user, password).await?;
        db::sessions::delete_others(self.db.pool(), user.id, None).await?;
        Ok(Some(user))
    }

    /// Changes the password of a signed-in user who proved the current one; every other session ends.
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), UserError> {
        self.require_password(user, current).await?;
        self.set_password(user, new).await?;
        Ok(db::sessions::delete_others(self.db.pool(), user.id, keep_session).await?)
    }

    /// Starts an address change: the new address takes effect once the link sent to it is followed.
    pub async fn request_email_change(
        &self,
        user: &User,
        password: &str,
        new_email: &str,
    ) -> Result<(), UserError> {
        let new_email = new_email.trim();
        if !valid_email(new_email) {
            return Err(UserError::InvalidEmail(new_email.to_string()));
        }
        self.require_password(user, password).await?;
        let (token, expires_at) = self
            .issue_token(
                user,
                TokenPurpose::ChangeEmail,
                Some(new_email),
                CHANGE_EMAIL_TTL_SECS,
            )
            .await?;
        let link = self.link("/account/confirm-email", &token);
        let mut email = messages::confirm_new_email(&self.mail, user, new_email, &link);
        email.expires_at = Some(expires_at);
        self.send(&email).await
    }

    /// Follows an address-change link and returns the new address; `None` when the link is invalid,
    /// used or expired; [`UserError::Taken`] when another account took the address meanwhile.
    pub async fn confirm_email_change(&self, token: &str) -> Result<Option<String>, UserError> {
        let Some((user, Some(new_email))) =
            self.consume_token(TokenPurpose::ChangeEmail, token).await?
        else {
            return Ok(None);
        };
        self.confirm_email(&user, Some(&new_email)).await?;
        Ok(Some(new_email))
    }

    /// Deletes an account whose owner typed its name and password (keys and sessions die with it;
    /// packages stay).
    pub async fn delete_account(
        &self,
        user: &User,
        password: &str,
        typed_username: &str,
    ) -> Result<(), UserError> {
        if typed_username.trim() != user.username {
            return Err(UserError::DeletionNotConfirmed);
        }
        self.require_password(user, password).await?;
        self.delete(user).await
    }

    /// An administrator's switch on `target`; nobody locks themselves out. Locking ends the target's
    /// sessions at once.
    pub async fn apply_admin_action(
        &self,
        actor: &User,
        target: &User,
        action: AdminAction,
    ) -> Result<(), UserError> {
        let (locked, is_admin) = match action {
            AdminAction::Lock => (true, target.is_admin),
            AdminAction::Unlock => (false, target.is_admin),
            AdminAction::MakeAdmin => (target.locked, true),
            AdminAction::RemoveAdmin => (target.locked, false),
        };
        if target.id == actor.id && (locked || !is_admin) {
            return Err(UserError::SelfLockout);
        }
        self.set_flags(target, locked, is_admin).await?;
        if locked {
            db::sessions::delete_others(self.db.pool(), target.id, None).await?;
        }
        Ok(())
    }

    /// Finds a user by email address.
    pub async fn by_email(&self, email: &str) -> Result<Option<User>, UserError> {
        Ok(db::users::by_email(self.db.pool(), email.trim()).await?)
    }

    async fn require_password(&self, user: &User, password: &str) -> Result<(), UserError> {
        match self.authenticate(&user.username, password).await? {
            Some(_) => Ok(()),
            None => Err(UserError::WrongPassword),
        }
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.mail.base_url)
    }

    /// Checks credentials given as username or email; `None` for any mismatch (same answer either way).
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<User>, UserError> {
        let Some(user) = self.by_login(login.trim()).await? else {
            // Spend the same time as a real check so timing does not reveal which names exist.
            hash_password(password.to_string()).await?;
            return Ok(None);
        };
        let Some(hash) = user.password_hash.clone() else {
            return Ok(None);
        };
        Ok(verify_password(password.to_string(), hash)
            .await
            .then_some(user))
    }

    /// Creates a single-use emailed token (stored hashed) for `purpose`.
    async fn issue_token(
        &self,
        user: &User,
        purpose: TokenPurpose,
        new_email: Option<&str>,
        ttl_secs: i64,
    ) -> Result<(String, i64), UserError> {
        let token = random_token();
        let now = db::now();
        db::email_tokens::insert(
            self.db.pool(),
            &hash_token(&token),
            user.id,
            purpose.as_str(),
            new_email,
            now,
            now + ttl_secs,
        )
        .await?;
        Ok((token, now + ttl_secs))
    }

    /// Redeems a token once; returns its user and, for email changes, the new address.
    async fn consume_token(
        &self,
        purpose: TokenPurpose,
        token: &str,
    ) -> Result<Option<(User, Option<String>)>, UserError> {
        let hash = hash_token(token.trim());
        let Some(row) = db::email_tokens::take(&self.db, &hash, purpose.as_str()).await? else {
            return Ok(None);
        };
        if row.expires_at < db::now() {
            return Ok(None);
        }
        Ok(db::users::by_id(self.db.pool(), row.user_id)
            .await?
            .map(|u| (u, row.new_email)))
    }

    /// Marks the current address confirmed.
    async fn confirm_email(&self, user: &User, new_email: Option<&str>) -> Result<(), UserError> {
        let email = new_email.unwrap_or(&user.email);
        let mut conn = self.db.pool().acquire().await?;
        match db::users::set_confirmed_email(&mut conn, user.id, email).await {
            Err(e) if db::is_unique_violation(&e) => Err(UserError::Taken),
            other => Ok(other?),
        }
    }

    /// Sets a new password (argon2id); every reset link still out for the account stops working.
    async fn set_password(&self, user: &User, password: &str) -> Result<(), UserError> {
        check_password_strength(password, &user.username, &user.email)?;
        let hash = hash_password(password.to_string()).await?;
        let mut tx = self.db.begin_write().await?;
        db::users::set_password_hash(&mut tx, user.id, &hash).await?;
        db::email_tokens::delete_for_user(&mut tx, user.id, TokenPurpose::Reset.as_str()).await?;
        Ok(tx.commit().await?)
    }

    /// Deletes an account (its keys and sessions die with it; packages stay).
    pub async fn delete(&self, user: &User) -> Result<(), UserError> {
        db::users::delete(&self.db, user.id).await?;
        self.keys.invalidate();
        Ok(())
    }

    /// Administrator switches.
    pub async fn set_flags(
        &self,
        user: &User,
        locked: bool,
        is_admin: bool,
    ) -> Result<(), UserError> {
        let mut tx = self.db.begin_write().await?;
        db::users::set_flags(&mut tx, user.id, locked, is_admin).await?;
        if is_admin {
            db::users::record_admin_exists(&mut tx, user.id, db::now()).await?;
        }
        tx.commit().await?;
        self.keys.invalidate();
        Ok(())
    }
}

/// Checks a new account's name, address and password; returns the trimmed name and address.
fn check_new_account<'a>(
    username: &'a str,
    email: &'a str,
    password: &str,
) -> Result<(&'a str, &'a str), UserError> {
    let username = username.trim();
    if !valid_account_name(username) {
        return Err(UserError::InvalidUsername);
    }
    let email = email.trim();
    if !valid_email(email) {
        return Err(UserError::InvalidEmail(email.to_string()));
    }
    check_password_strength(password, username, email)?;
    Ok((username, email))
}

/// "1 second", "15 minutes".
pub fn wait_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs < 60 {
        plural(secs.max(1), "second")
    } else {
        plural((secs + 59) / 60, "minute")
    }
}

/// Passwords refused as too common (`common-passwords.txt`, bundled).
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// A new password: long enough, not on the common list, and not the account's own name or address.
fn check_password_strength(password: &str, username: &str, email: &str) -> Result<(), UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::WeakPassword);
    }
    let lower = password.trim().to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .any(|common| common == lower)
    {
        return Err(UserError::CommonPassword);
    }
    if [username, email]
        .iter()
        .any(|name| !name.trim().is_empty() && name.trim().to_lowercase() == lower)
    {
        return Err(UserError::PasswordIsName);
    }
    Ok(())
}

/// Whether a name can name an account (a person or an organisation: they share one namespace).
pub fn valid_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Checks an email address's basic shape.
pub fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
}

/// Hashes with argon2id off the async runtime (it takes tens of milliseconds on purpose).
pub async fn hash_password(password: String) -> Result<String, UserError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| UserError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| UserError::Hashing(e.to_string()))?
}

/// Checks a password against a stored hash, off the async runtime.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}
