//! Cluster-wide leases: a named job runs on one node at a time, whichever holds the lease, and another
//! node takes over when the holder stops renewing (it crashed or was stopped).

use super::Db;

/// Tries to take or renew the lease `name` for `holder` until `now + ttl_secs`. True when held.
pub async fn try_acquire(
    db: &Db,
    name: &str,
    holder: &str,
    now: i64,
    ttl_secs: i64,
) -> sqlx::Result<bool> {
    let pool = db.pool();
    sqlx::query("INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(holder)
        .bind(now + ttl_secs)
        .execute(pool)
        .await?;
    let taken = sqlx::query(
        "UPDATE leases SET holder = $1, expires_at = $2 WHERE name = $3 AND (holder = $1 OR expires_at < $4)",
    )
    .bind(holder)
    .bind(now + ttl_secs)
    .bind(name)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// This process's lease-holder identity.
pub fn node_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
        format!(
            "{host}-{}-{}",
            std::process::id(),
            &crate::tokens::random_token()[..8]
        )
    })
}
