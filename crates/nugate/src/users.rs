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
