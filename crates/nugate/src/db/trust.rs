//! Trusted-publishing policies and the identity tokens already exchanged.

use super::encode::{decode_lines, encode_lines};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A policy: which CI workflow may obtain keys acting for `owner_id`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrustPolicy {
    pub id: i64,
    #[serde(skip)]
    pub owner_id: i64,
    /// The owner's name (a user or an organisation).
    pub owner: String,
    #[serde(skip)]
    pub created_by: i64,
    /// Who made it; the keys it issues are theirs, acting for `owner`.
    pub creator: String,
    pub issuer: String,
    /// `OWNER/REPO`.
    pub repository: String,
    /// The workflow file, `release.yml`.
    pub workflow: String,
    pub environment: Option<String>,
    /// Package IDs and globs the issued keys may push to.
    pub subjects: Vec<String>,
    /// Filled in on first use; later tokens must carry the same.
    pub repository_id: Option<String>,
    pub repository_owner_id: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> sqlx::Result<TrustPolicy> {
    let subjects: String = row.try_get("subjects")?;
    Ok(TrustPolicy {
        id: row.try_get("id")?,
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner_name")?,
        created_by: row.try_get("created_by")?,
        creator: row.try_get("creator_name")?,
        issuer: row.try_get("issuer")?,
        repository: row.try_get("repository")?,
        workflow: row.try_get("workflow")?,
        environment: row.try_get("environment")?,
        subjects: decode_lines(&subjects),
        repository_id: row.try_get("repository_id")?,
        repository_owner_id: row.try_get("repository_owner_id")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

const SELECT: &str = "SELECT p.*, o.username AS owner_name, c.username AS creator_name \
     FROM trust_policies p JOIN users o ON o.id = p.owner_id JOIN users c ON c.id = p.created_by";

/// Fields of a new policy.
pub struct NewTrustPolicy<'a> {
    pub owner_id: i64,
    pub created_by: i64,
    pub issuer: &'a str,
    pub repository: &'a str,
    pub workflow: &'a str,
    pub environment: Option<&'a str>,
    pub subjects: &'a [String],
    pub created_at: i64,
}

/// Stores a policy and returns its id.
pub async fn insert(pool: &AnyPool, policy: &NewTrustPolicy<'_>) -> sqlx::Result<i64> {
    let row = sqlx::query(
        "INSERT INTO trust_policies (owner_id, created_by, issuer, repository, workflow, environment, \
         subjects, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(policy.owner_id)
    .bind(policy.created_by)
    .bind(policy.issuer)
    .bind(policy.repository)
    .bind(policy.workflow)
    .bind(policy.environment)
    .bind(encode_lines(policy.subjects))
    .bind(policy.created_at)
    .fetch_one(pool)
    .await?;
    row.try_get("id")
}

/// One policy.
pub async fn by_id(pool: &AnyPool, id: i64) -> sqlx::Result<Option<TrustPolicy>> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE p.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The policies of the given owners, oldest first.
pub async fn for_owner(pool: &AnyPool, owner_id: i64) -> sqlx::Result<Vec<TrustPolicy>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.owner_id = $1 ORDER BY p.id"
    )))
    .bind(owner_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every policy (the operator's list), oldest first.
pub async fn all(pool: &AnyPool) -> sqlx::Result<Vec<TrustPolicy>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY p.id")))
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Removes a policy; false when it was gone.
pub async fn delete(pool: &AnyPool, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM trust_policies WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
        > 0)
}

/// Locks a policy to the repository's and its owner's IDs, unless it is locked already; true when this
/// call locked it (its first use).
pub async fn lock(
    pool: &AnyPool,
    id: i64,
    repository_id: &str,
    repository_owner_id: &str,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE trust_policies SET repository_id = $1, repository_owner_id = $2 \
         WHERE id = $3 AND repository_id IS NULL",
    )
    .bind(repository_id)
    .bind(repository_owner_id)
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected()
        > 0)
}

/// Records a use of a policy.
pub async fn touch(pool: &AnyPool, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE trust_policies SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Marks a token as exchanged; a unique violation means it was already.
pub async fn mark_token_used(
    pool: &AnyPool,
    token_hash: &str,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO trust_tokens_used (token_hash, expires_at) VALUES ($1, $2)")
        .bind(token_hash)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets tokens that expired before `before`: they cannot be presented again anyway.
pub async fn forget_tokens_before(pool: &AnyPool, before: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM trust_tokens_used WHERE expires_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
