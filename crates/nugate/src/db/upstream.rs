//! What upstream feeds said about IDs (shared by every node), and administrators' upstream rules.

use sqlx::{AnyPool, Row};

use crate::model::upstream::UpstreamRule;

/// One upstream's last answer about an ID.
#[derive(Clone, Debug)]
pub struct StoredMetadata {
    pub fetched_at: i64,
    /// False when the upstream said it has no such ID.
    pub found: bool,
    /// The versions, as `packages::upstream` serialises them.
    pub versions_json: String,
}

/// The last answer of `upstream` about `lower_id`, if it was ever asked.
pub async fn metadata(
    pool: &AnyPool,
    upstream: &str,
    lower_id: &str,
) -> sqlx::Result<Option<StoredMetadata>> {
    sqlx::query(
        "SELECT fetched_at, found, versions_json FROM upstream_metadata \
         WHERE upstream = $1 AND package_id_lower = $2",
    )
    .bind(upstream)
    .bind(lower_id)
    .fetch_optional(pool)
    .await?
    .map(|row| {
        Ok(StoredMetadata {
            fetched_at: row.try_get("fetched_at")?,
            found: super::flag(row.try_get("found")?),
            versions_json: row.try_get("versions_json")?,
        })
    })
    .transpose()
}

/// Stores (or replaces) the answer of `upstream` about `lower_id`.
pub async fn put_metadata(
    pool: &AnyPool,
    upstream: &str,
    lower_id: &str,
    metadata: &StoredMetadata,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO upstream_metadata (upstream, package_id_lower, fetched_at, found, versions_json) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (upstream, package_id_lower) DO UPDATE SET \
         fetched_at = excluded.fetched_at, found = excluded.found, versions_json = excluded.versions_json",
    )
    .bind(upstream)
    .bind(lower_id)
    .bind(metadata.fetched_at)
    .bind(i64::from(metadata.found))
    .bind(&metadata.versions_json)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets every upstream's answers about `lower_id`.
pub async fn forget_metadata(pool: &AnyPool, lower_id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM upstream_metadata WHERE package_id_lower = $1")
        .bind(lower_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every rule, blocks first, by pattern.
pub async fn rules(pool: &AnyPool) -> sqlx::Result<Vec<(UpstreamRule, String)>> {
    sqlx::query("SELECT rule, pattern FROM upstream_rules ORDER BY rule DESC, pattern_lower")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("rule")?, row.try_get("pattern")?)))
        .collect()
}

/// Adds a rule; false when the same rule and pattern (any case) exists already.
pub async fn add_rule(
    pool: &AnyPool,
    rule: UpstreamRule,
    pattern: &str,
    now: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO upstream_rules (rule, pattern, pattern_lower, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (rule, pattern_lower) DO NOTHING",
    )
    .bind(rule)
    .bind(pattern)
    .bind(pattern.to_lowercase())
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Removes a rule; false when there was none.
pub async fn remove_rule(pool: &AnyPool, rule: UpstreamRule, pattern: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM upstream_rules WHERE rule = $1 AND pattern_lower = $2")
            .bind(rule)
            .bind(pattern.to_lowercase())
            .execute(pool)
            .await?
            .rows_affected()
            == 1,
    )
}
