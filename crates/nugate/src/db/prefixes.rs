//! Reserved package ID prefixes.

use sqlx::{AnyPool, Row};

/// A reservation: the pattern and the account that owns it.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub pattern: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub created_at: i64,
}

/// Reserves a pattern; a pattern reserved already (any case) is a unique violation.
pub async fn insert(pool: &AnyPool, pattern: &str, owner_id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO reserved_prefixes (pattern, pattern_lower, owner_id, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(pattern)
    .bind(pattern.to_lowercase())
    .bind(owner_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every reservation, by pattern (on any executor: a push reads them inside its transaction).
pub async fn all<'e, E>(executor: E) -> sqlx::Result<Vec<Reservation>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "SELECT p.pattern, p.owner_id, u.username AS owner_name, p.created_at FROM reserved_prefixes p \
         JOIN users u ON u.id = p.owner_id ORDER BY p.pattern_lower",
    )
    .fetch_all(executor)
    .await?
    .iter()
    .map(|r| {
        Ok(Reservation {
            pattern: r.try_get("pattern")?,
            owner_id: r.try_get("owner_id")?,
            owner_name: r.try_get("owner_name")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}

/// Releases a pattern (any case); false when it was not reserved.
pub async fn delete(pool: &AnyPool, pattern: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM reserved_prefixes WHERE pattern_lower = $1")
            .bind(pattern.to_lowercase())
            .execute(pool)
            .await?
            .rows_affected()
            == 1,
    )
}
