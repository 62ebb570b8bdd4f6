//! API key rows. Scopes live in the row itself (actions and subjects as newline-separated text), so
//! authenticating a key is one indexed lookup by its public identifier.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::encode::{decode_actions, decode_lines, encode_actions, encode_lines};
use super::users::User;
use crate::model::account::OrgRole;
use crate::model::key::{KeyAction, KeyKind, KeyStatus};

/// A stored key; never holds the plaintext, only `secret_hash`.
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub name: Option<String>,
    pub kind: KeyKind,
    pub lookup_id: String,
    pub secret_hash: String,
    pub actions: Vec<KeyAction>,
    /// Shared, not copied: a private feed's read guard hands them to every request the key makes.
    pub subjects: std::sync::Arc<[String]>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub lifetime_secs: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    /// The organisation the key acts for (`None`: its user).
    pub owner_id: Option<i64>,
    /// That organisation's name.
    pub owner_name: Option<String>,
    /// For a trusted-publishing key, the CI run it was issued to.
    pub provenance: Option<String>,
}

impl ApiKeyRow {
    /// The account whose packages the key acts on: the organisation, or the user.
    pub fn acting_account(&self) -> i64 {
        self.owner_id.unwrap_or(self.user_id)
    }

    /// The key's status at `now`.
    pub fn status(&self, now: i64) -> KeyStatus {
        KeyStatus::at(self.expires_at, self.revoked_at, now)
    }

    /// The key's name ('' for unnamed verification keys).
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Explicit package IDs of the package scope.
    pub fn packages(&self) -> impl Iterator<Item = &str> {
        self.subjects
            .iter()
            .map(String::as_str)
            .filter(|s| !s.contains('*'))
    }

    /// Glob patterns of the package scope.
    pub fn globs(&self) -> impl Iterator<Item = &str> {
        self.subjects
            .iter()
            .map(String::as_str)
            .filter(|s| s.contains('*'))
    }
}

fn from_row(row: &AnyRow) -> sqlx::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        lookup_id: row.try_get("lookup_id")?,
        secret_hash: row.try_get("secret_hash")?,
        actions: decode_actions(row.try_get("actions")?)?,
        subjects: decode_lines(row.try_get("subjects")?).into(),
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        lifetime_secs: row.try_get("lifetime_secs")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        owner_id: row.try_get("owner_id")?,
        owner_name: row.try_get("owner_name")?,
        provenance: row.try_get("provenance")?,
    })
}

/// Fields of a key to insert.
pub struct NewApiKey<'a> {
    pub user_id: i64,
    pub name: Option<&'a str>,
    pub kind: KeyKind,
    pub lookup_id: &'a str,
    pub secret_hash: &'a str,
    pub actions: &'a [KeyAction],
    pub subjects: &'a [String],
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub lifetime_secs: Option<i64>,
    pub owner_id: Option<i64>,
}

/// Inserts a key; a duplicate name for the same user is a unique violation.
pub async fn insert(pool: &AnyPool, key: &NewApiKey<'_>) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "INSERT INTO api_keys (user_id, name, kind, lookup_id, secret_hash, actions, subjects, created_at, \
         expires_at, lifetime_secs, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(key.user_id)
    .bind(key.name)
    .bind(key.kind)
    .bind(key.lookup_id)
    .bind(key.secret_hash)
    .bind(encode_actions(key.actions))
    .bind(encode_lines(key.subjects))
    .bind(key.created_at)
    .bind(key.expires_at)
    .bind(key.lifetime_secs)
    .bind(key.owner_id)
    .fetch_one(pool)
    .await?;
    row.try_get("id")
}

/// Records where a trusted-publishing key came from.
pub async fn set_provenance(pool: &AnyPool, id: i64, provenance: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET provenance = $1 WHERE id = $2")
        .bind(provenance)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes trusted-publishing keys that expired before `before`: they cannot be used again, and the
/// audit trail keeps what they did.
pub async fn delete_expired_trusted(pool: &AnyPool, before: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM api_keys WHERE kind = 'trusted' AND expires_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// Whether any key uses this public identifier (imports must not collide).
pub async fn lookup_id_exists(pool: &AnyPool, lookup_id: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 AS found FROM api_keys WHERE lookup_id = $1")
            .bind(lookup_id)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// What a key check needs besides the key: its user, and for an organisation's key the organisation's
/// name and the user's role in it *now* (`None` once they left or were removed).
#[derive(Clone, Debug)]
pub struct KeyHolder {
    pub user: User,
    pub org_name: Option<String>,
    pub member_role: Option<OrgRole>,
}

/// A key, its user and (for an organisation's key) the user's membership, in one query: the API path
/// checks a key on every write, so it costs one round trip.
pub async fn with_owner_by_lookup_id(
    pool: &AnyPool,
    lookup_id: &str,
) -> sqlx::Result<Option<(ApiKeyRow, KeyHolder)>> {
    sqlx::query(
        "SELECT k.id, k.user_id, k.name, k.kind, k.lookup_id, k.secret_hash, k.actions, k.subjects, \
         k.created_at, k.expires_at, k.lifetime_secs, k.revoked_at, k.last_used_at, k.provenance, \
         u.username AS user_username, u.email AS user_email, \
         u.password_hash AS user_password_hash, u.is_admin AS user_is_admin, \
         u.email_confirmed AS user_email_confirmed, u.locked AS user_locked, \
         u.created_at AS user_created_at, u.account_kind AS user_account_kind, \
         u.max_key_lifetime_days AS user_max_key_lifetime_days, k.owner_id, \
         o.username AS owner_name, m.role AS member_role \
         FROM api_keys k JOIN users u ON u.id = k.user_id \
         LEFT JOIN users o ON o.id = k.owner_id \
         LEFT JOIN org_members m ON m.org_id = k.owner_id AND m.user_id = k.user_id \
         WHERE k.lookup_id = $1",
    )
    .bind(lookup_id)
    .fetch_optional(pool)
    .await?
    .map(|row| {
        let holder = KeyHolder {
            user: super::users::from_row_prefixed(&row, "user_")?,
            org_name: row.try_get("owner_name")?,
            member_role: row.try_get("member_role")?,
        };
        Ok((from_row(&row)?, holder))
    })
    .transpose()
}

/// A user's key by name (names are unique per user).
pub async fn by_name(pool: &AnyPool, user_id: i64, name: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query(
        "SELECT k.*, o.username AS owner_name FROM api_keys k LEFT JOIN users o ON o.id = k.owner_id \
         WHERE k.user_id = $1 AND k.name = $2",
    )
        .bind(user_id)
        .bind(name)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A user's named keys (verification keys excluded), newest first.
pub async fn list_for_user(pool: &AnyPool, user_id: i64) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query(
        "SELECT k.*, o.username AS owner_name FROM api_keys k LEFT JOIN users o ON o.id = k.owner_id \
         WHERE k.user_id = $1 AND k.kind <> $2 ORDER BY k.created_at DESC, k.id DESC",
    )
    .bind(user_id)
    .bind(KeyKind::Verify)
        .fetch_all(pool)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Replaces the package scope (the only editable part of a key).
pub async fn set_subjects(pool: &AnyPool, id: i64, subjects: &[String]) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET subjects = $1 WHERE id = $2")
        .bind(encode_lines(subjects))
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Swaps in a new secret: the old one stops matching the moment this commits.
pub async fn replace_secret(
    pool: &AnyPool,
    id: i64,
    lookup_id: &str,
    secret_hash: &str,
    expires_at: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET lookup_id = $1, secret_hash = $2, expires_at = $3, revoked_at = NULL, \
         last_used_at = NULL, expiry_warned_at = NULL WHERE id = $4",
    )
    .bind(lookup_id)
    .bind(secret_hash)
    .bind(expires_at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Expires a key now; `revoked` marks it as revoked by its user rather than simply expired.
pub async fn expire_now(pool: &AnyPool, id: i64, now: i64, revoked: bool) -> sqlx::Result<()> {
    let sql = if revoked {
        "UPDATE api_keys SET expires_at = $1, revoked_at = $1 WHERE id = $2"
    } else {
        "UPDATE api_keys SET expires_at = $1 WHERE id = $2"
    };
    sqlx::query(sql).bind(now).bind(id).execute(pool).await?;
    Ok(())
}

/// Removes a key for good.
pub async fn delete(pool: &AnyPool, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
        == 1)
}

/// Records use, at most once per `min_interval` seconds so reads never become a write storm.
pub async fn touch_last_used(
    pool: &AnyPool,
    id: i64,
    now: i64,
    min_interval: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - min_interval)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every named key acting for an organisation, with the name of the member who made it, newest first.
pub async fn list_for_owner(
    pool: &AnyPool,
    owner_id: i64,
) -> sqlx::Result<Vec<(ApiKeyRow, String)>> {
    sqlx::query(
        "SELECT k.*, u.username AS creator, o.username AS owner_name FROM api_keys k \
         JOIN users u ON u.id = k.user_id JOIN users o ON o.id = k.owner_id \
         WHERE k.owner_id = $1 AND k.kind <> $2 ORDER BY k.created_at DESC, k.id DESC",
    )
    .bind(owner_id)
    .bind(KeyKind::Verify)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| Ok((from_row(row)?, row.try_get("creator")?)))
    .collect()
}

/// One key by id.
pub async fn by_id(pool: &AnyPool, id: i64) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query(
        "SELECT k.*, o.username AS owner_name FROM api_keys k LEFT JOIN users o ON o.id = k.owner_id \
         WHERE k.id = $1",
    )
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}
