//! User rows.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::flag;
use crate::model::account::AccountKind;

/// A user account as stored.
#[derive(Clone, Debug, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub email_confirmed: bool,
    pub locked: bool,
    pub created_at: i64,
    /// A person, or an organisation (which never signs in).
    pub kind: AccountKind,
    /// An organisation's cap on key lifetimes, in days (`None`: the server's).
    pub max_key_lifetime_days: Option<i64>,
}

impl User {
    /// Whether this account is an organisation.
    pub fn is_organization(&self) -> bool {
        self.kind == AccountKind::Organization
    }
}

fn from_row(row: &AnyRow) -> sqlx::Result<User> {
    from_row_prefixed(row, "")
}

/// Reads a user whose columns carry `prefix` (`user_` in queries joined with another table).
pub(crate) fn from_row_prefixed(row: &AnyRow, prefix: &str) -> sqlx::Result<User> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(User {
        id: row.try_get(column("id").as_str())?,
        username: row.try_get(column("username").as_str())?,
        email: row.try_get(column("email").as_str())?,
        password_hash: row.try_get(column("password_hash").as_str())?,
        is_admin: flag(row.try_get(column("is_admin").as_str())?),
        email_confirmed: flag(row.try_get(column("email_confirmed").as_str())?),
        locked: flag(row.try_get(column("locked").as_str())?),
        created_at: row.try_get(column("created_at").as_str())?,
        kind: row.try_get(column("account_kind").as_str())?,
        max_key_lifetime_days: row.try_get(column("max_key_lifetime_days").as_str())?,
    })
}

/// Fields for a new user.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
    pub email_confirmed: bool,
    pub kind: AccountKind,
}

/// Inserts a user; a duplicate name or email surfaces as a unique violation.
pub async fn insert(conn: &mut AnyConnection, user: &NewUser<'_>, now: i64) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "INSERT INTO users (username, username_lower, email, email_lower, password_hash, is_admin, \
         email_confirmed, locked, created_at, account_kind) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9) \
         RETURNING id",
    )
    .bind(user.username)
    .bind(user.username.to_lowercase())
    .bind(user.email)
    .bind(user.email.to_lowercase())
    .bind(user.password_hash)
    .bind(i64::from(user.is_admin))
    .bind(i64::from(user.email_confirmed))
    .bind(now)
    .bind(user.kind)
    .fetch_one(&mut *conn)
    .await?;
    row.try_get("id")
}

/// Finds a user by name, case-insensitively.
pub async fn by_username(pool: &AnyPool, username: &str) -> sqlx::Result<Option<User>> {
    sqlx::query("SELECT * FROM users WHERE username_lower = $1")
        .bind(username.to_lowercase())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Finds a user by id.
pub async fn by_id(pool: &AnyPool, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// All users, by name.
pub async fn list(pool: &AnyPool) -> sqlx::Result<Vec<User>> {
    sqlx::query("SELECT * FROM users ORDER BY username_lower")
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Finds a user by email, case-insensitively.
pub async fn by_email(pool: &AnyPool, email: &str) -> sqlx::Result<Option<User>> {
    sqlx::query("SELECT * FROM users WHERE email_lower = $1")
        .bind(email.to_lowercase())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Number of users.
pub async fn count(pool: &AnyPool) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS users FROM users")
        .fetch_one(pool)
        .await?
        .try_get("users")
}

/// Makes `user_id` administrator if the server has none and none was ever bootstrapped: the single
/// `admin_bootstrap` row goes to whoever inserts it first, so exactly one caller wins. Reports whether
/// this call won.
pub async fn claim_first_admin(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> sqlx::Result<bool> {
    let claimed = sqlx::query(
        "INSERT INTO admin_bootstrap (id, user_id, at) SELECT 1, $1, $2 \
         WHERE NOT EXISTS (SELECT 1 FROM users WHERE is_admin = 1) ON CONFLICT (id) DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        sqlx::query("UPDATE users SET is_admin = 1 WHERE id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(claimed)
}

/// Records that an administrator exists (made by the CLI or another administrator), so no sign-up is
/// ever made one.
pub async fn record_admin_exists(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO admin_bootstrap (id, user_id, at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes accounts created before `before` whose address was never confirmed and that own nothing.
pub async fn delete_unconfirmed_before(db: &super::Db, before: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM users WHERE email_confirmed = 0 AND created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM package_owners o WHERE o.user_id = users.id)",
    )
    .bind(before)
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// Replaces the password hash.
pub async fn set_password_hash(conn: &mut AnyConnection, id: i64, hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets the address and marks it confirmed (it was proven by a link sent to it).
pub async fn set_confirmed_email(
    conn: &mut AnyConnection,
    id: i64,
    email: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET email = $1, email_lower = $2, email_confirmed = 1 WHERE id = $3")
        .bind(email)
        .bind(email.to_lowercase())
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Sets the locked and administrator flags.
pub async fn set_flags(
    conn: &mut AnyConnection,
    id: i64,
    locked: bool,
    is_admin: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET locked = $1, is_admin = $2 WHERE id = $3")
        .bind(i64::from(locked))
        .bind(i64::from(is_admin))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes a user; keys, sessions and ownerships go with it, packages stay (orphaned when it was the
/// only owner). Each package it owned counts as changed, so search stops listing it as an owner.
pub async fn delete(db: &super::Db, id: i64) -> sqlx::Result<()> {
    let mut tx = db.begin_write().await?;
    let owned: Vec<i64> =
        sqlx::query("SELECT registration_id FROM package_owners WHERE user_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("registration_id"))
            .collect::<sqlx::Result<_>>()?;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for registration_id in owned {
        super::packages::mark_changed(&mut tx, registration_id).await?;
    }
    tx.commit().await
}
