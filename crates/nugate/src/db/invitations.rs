//! Pending ownership invitations: an owner invited a user, who becomes an owner on accepting.

use sqlx::{AnyConnection, AnyPool, Row};

/// Records an invitation (inviting twice keeps the first).
pub async fn insert(
    pool: &AnyPool,
    registration_id: i64,
    user_id: i64,
    invited_by: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO owner_invitations (registration_id, user_id, invited_by, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (registration_id, user_id) DO NOTHING",
    )
    .bind(registration_id)
    .bind(user_id)
    .bind(invited_by)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Usernames invited to own a registration, sorted.
pub async fn pending_names(pool: &AnyPool, registration_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT u.username FROM owner_invitations i JOIN users u ON u.id = i.user_id \
         WHERE i.registration_id = $1 ORDER BY u.username_lower",
    )
    .bind(registration_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get("username"))
    .collect()
}

/// Who invited `user_id` to own the registration ('' when the inviter's account is gone), if invited.
pub async fn inviter(
    pool: &AnyPool,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query(
        "SELECT COALESCE(u.username, '') AS inviter FROM owner_invitations i \
         LEFT JOIN users u ON u.id = i.invited_by WHERE i.registration_id = $1 AND i.user_id = $2",
    )
    .bind(registration_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?
    .map(|r| r.try_get("inviter"))
    .transpose()
}

/// Removes an invitation inside the caller's transaction; reports whether there was one.
pub async fn delete(
    conn: &mut AnyConnection,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM owner_invitations WHERE registration_id = $1 AND user_id = $2")
            .bind(registration_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}
