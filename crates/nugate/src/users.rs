//! User accounts: creation with argon2id password hashes, look-ups, and the emailed-token flows
//! (confirm an address, reset a password, change the address). This service alone chooses token
//! lifetimes, builds the links (from the configured public URL) and queues the mail.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::db::{self, users::User, Db};
use crate::error::ApiError;
use crate::mail::{self, messages, MailContext};
use crate::tokens::{hash_token, random_token};

/// How long a sign-up confirmation link works.
const CONFIRM_TTL_SECS: i64 = 2 * 86_400;
/// How long a password-reset link works (the email says one hour).
const RESET_TTL_SECS: i64 = 3600;
/// How long a link confirming a new address works.
const CHANGE_EMAIL_TTL_SECS: i64 = 2 * 86_400;
/// Shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 8;

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("Usernames are 1-64 characters: letters, digits, '.', '-' and '_'.")]
    InvalidUsername,
    #[error("'{0}' is not a valid email address.")]
    InvalidEmail(String),
    #[error("Passwords must be at least 8 characters.")]
    WeakPassword,
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

/// The user service.
#[derive(Clone)]
pub struct UserService {
    db: Db,
    mail: MailContext,
}

impl UserService {
    /// Wraps the database; `mail` names the server and gives the public URL links point at.
    pub fn new(db: Db, mail: MailContext) -> UserService {
        UserService { db, mail }
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
        let username = username.trim();
        if username.is_empty()
            || username.len() > 64
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(UserError::InvalidUsername);
        }
        let email = email.trim();
        if !valid_email(email) {
            return Err(UserError::InvalidEmail(email.to_string()));
        }
        check_password_strength(password)?;
        let hash = hash_password(password.to_string()).await?;
        let insert = db::users::insert(
            self.db.pool(),
            &db::users::NewUser {
                username,
                email,
                password_hash: Some(&hash),
                is_admin,
                email_confirmed: confirmed,
            },
            db::now(),
        )
        .await;
        let id = match insert {
            Ok(id) => id,
            Err(e) if db::is_unique_violation(&e) => return Err(UserError::Taken),
            Err(e) => return Err(e.into()),
        };
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

    /// Self-service sign-up: unconfirmed until the emailed link is followed; the very first user of a
    /// fresh server becomes administrator. The confirmation email is queued.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<User, UserError> {
        let first = db::users::count(self.db.pool()).await? == 0;
        let user = self.create(username, email, password, first, false).await?;
        self.send_confirmation(&user).await?;
        Ok(user)
    }

    /// Sends a new sign-up confirmation link (nothing to do once the address is confirmed).
    pub async fn send_confirmation(&self, user: &User) -> Result<(), UserError> {
        if user.email_confirmed {
            return Ok(());
        }
        let token = self
            .issue_token(user, TokenPurpose::Confirm, None, CONFIRM_TTL_SECS)
            .await?;
        let link = self.link("/account/confirm", &token);
        let email = messages::confirm_account(&self.mail, user, &link);
        Ok(mail::enqueue(&self.db, &email).await?)
    }

    /// Follows a sign-up confirmation link; `None` when the link is invalid, used or expired.
    pub async fn confirm_account(&self, token: &str) -> Result<Option<User>, UserError> {
        let Some((user, _)) = self.consume_token(TokenPurpose::Confirm, token).await? else {
            return Ok(None);
        };
        self.confirm_email(&user, None).await?;
        Ok(Some(user))
    }

    /// Sends a reset link to the address if an unlocked account uses it; says nothing either way, so
    /// the answer does not reveal which addresses have accounts.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), UserError> {
        let Some(user) = db::users::by_email(self.db.pool(), email.trim()).await? else {
            return Ok(());
        };
        if user.locked {
            return Ok(());
        }
        let token = self
            .issue_token(&user, TokenPurpose::Reset, None, RESET_TTL_SECS)
            .await?;
        let link = self.link("/account/reset-password", &token);
        let email = messages::password_reset(&self.mail, &user, &link);
        Ok(mail::enqueue(&self.db, &email).await?)
    }

    /// Sets a new password through a reset link and ends every session of the account; `None` when
    /// the link is invalid, used or expired. A weak password is refused before the link is used up.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
    ) -> Result<Option<User>, UserError> {
        check_password_strength(password)?;
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
        let token = self
            .issue_token(
                user,
                TokenPurpose::ChangeEmail,
                Some(new_email),
                CHANGE_EMAIL_TTL_SECS,
            )
            .await?;
        let link = self.link("/account/confirm-email", &token);
        let email = messages::confirm_new_email(&self.mail, user, new_email, &link);
        Ok(mail::enqueue(&self.db, &email).await?)
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
        let login = login.trim();
        let user = if login.contains('@') {
            db::users::by_email(self.db.pool(), login).await?
        } else {
            db::users::by_username(self.db.pool(), login).await?
        };
        let Some(user) = user else {
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
    ) -> Result<String, UserError> {
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
        Ok(token)
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
        match db::users::set_confirmed_email(self.db.pool(), user.id, email).await {
            Err(e) if db::is_unique_violation(&e) => Err(UserError::Taken),
            other => Ok(other?),
        }
    }

    /// Sets a new password (argon2id).
    async fn set_password(&self, user: &User, password: &str) -> Result<(), UserError> {
        check_password_strength(password)?;
        let hash = hash_password(password.to_string()).await?;
        Ok(db::users::set_password_hash(self.db.pool(), user.id, &hash).await?)
    }

    /// Deletes an account (its keys and sessions die with it; packages stay).
    pub async fn delete(&self, user: &User) -> Result<(), UserError> {
        Ok(db::users::delete(&self.db, user.id).await?)
    }

    /// Administrator switches.
    pub async fn set_flags(
        &self,
        user: &User,
        locked: bool,
        is_admin: bool,
    ) -> Result<(), UserError> {
        Ok(db::users::set_flags(self.db.pool(), user.id, locked, is_admin).await?)
    }
}

fn check_password_strength(password: &str) -> Result<(), UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::WeakPassword);
    }
    Ok(())
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
