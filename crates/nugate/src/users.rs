//! User accounts: creation with argon2id password hashes, look-ups.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::db::{self, users::User, Db};

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
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// The user service.
#[derive(Clone)]
pub struct UserService {
    db: Db,
}

impl UserService {
    /// Wraps the database.
    pub fn new(db: Db) -> UserService {
        UserService { db }
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
        let valid_email = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            })
            && !email.chars().any(char::is_whitespace);
        if !valid_email {
            return Err(UserError::InvalidEmail(email.to_string()));
        }
        if password.chars().count() < 8 {
            return Err(UserError::WeakPassword);
        }
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

    /// All users.
    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        Ok(db::users::list(self.db.pool()).await?)
    }

    /// Self-service sign-up: unconfirmed until the emailed link is followed; the very first user of a
    /// fresh server becomes administrator. Returns the user and the confirmation token.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<(User, String), UserError> {
        let first = db::users::count(self.db.pool()).await? == 0;
        let user = self.create(username, email, password, first, false).await?;
        let token = self
            .issue_token(&user, token_purpose::CONFIRM, None, 2 * 86_400)
            .await?;
        Ok((user, token))
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
            let _ = hash_password(password.to_string()).await;
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
    pub async fn issue_token(
        &self,
        user: &User,
        purpose: &str,
        new_email: Option<&str>,
        ttl_secs: i64,
    ) -> Result<String, UserError> {
        let token = crate::auth::sessions::random_token();
        let now = db::now();
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crate::auth::sessions::hash_token(&token))
        .bind(user.id)
        .bind(purpose)
        .bind(new_email)
        .bind(now)
        .bind(now + ttl_secs)
        .execute(self.db.pool())
        .await?;
        Ok(token)
    }

    /// Redeems a token once; returns its user and, for email changes, the new address.
    pub async fn consume_token(
        &self,
        purpose: &str,
        token: &str,
    ) -> Result<Option<(User, Option<String>)>, UserError> {
        let hash = crate::auth::sessions::hash_token(token.trim());
        let row: Option<(i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT user_id, new_email, expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2",
        )
        .bind(&hash)
        .bind(purpose)
        .fetch_optional(self.db.pool())
        .await?;
        sqlx::query("DELETE FROM email_tokens WHERE token_hash = $1")
            .bind(&hash)
            .execute(self.db.pool())
            .await?;
        let Some((user_id, new_email, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at < db::now() {
            return Ok(None);
        }
        Ok(db::users::by_id(self.db.pool(), user_id)
            .await?
            .map(|u| (u, new_email)))
    }

    /// Marks the current address confirmed.
    pub async fn confirm_email(
        &self,
        user: &User,
        new_email: Option<&str>,
    ) -> Result<(), UserError> {
        let email = new_email.unwrap_or(&user.email);
        match db::users::set_confirmed_email(self.db.pool(), user.id, email).await {
            Err(e) if db::is_unique_violation(&e) => Err(UserError::Taken),
            other => Ok(other?),
        }
    }

    /// Sets a new password (argon2id).
    pub async fn set_password(&self, user: &User, password: &str) -> Result<(), UserError> {
        if password.chars().count() < 8 {
            return Err(UserError::WeakPassword);
        }
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

/// Purposes of emailed tokens.
pub mod token_purpose {
    /// Confirms the address given at sign-up.
    pub const CONFIRM: &str = "confirm";
    /// Resets a forgotten password.
    pub const RESET: &str = "reset";
    /// Confirms a new address before it replaces the old one.
    pub const CHANGE_EMAIL: &str = "change-email";
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
