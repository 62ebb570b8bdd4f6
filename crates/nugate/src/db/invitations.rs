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

/// Usernames invited to own a registration since `since`, sorted.
pub async fn pending_names(
    pool: &AnyPool,
    registration_id: i64,
    since: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT u.username FROM owner_invitations i JOIN users u ON u.id = i.user_id \
         WHERE i.registration_id = $1 AND i.created_at >= $2 ORDER BY u.username_lower",
    )
    .bind(registration_id)
    .bind(since)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get("username"))
    .collect()
}

/// A pending invitation.
#[derive(Clone, Debug)]
pub struct Invitation {
    /// Who sent it; `None` once the inviter's account is gone.
    pub invited_by: Option<i64>,
    /// The inviter's name ('' once the account is gone).
    pub inviter: String,
    pub created_at: i64,
}

/// The invitation `user_id` holds for the registration, if any.
pub async fn find(
    pool: &AnyPool,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<Option<Invitation>> {
    sqlx::query(
        "SELECT i.invited_by, COALESCE(u.username, '') AS inviter, i.created_at FROM owner_invitations i \
         LEFT JOIN users u ON u.id = i.invited_by WHERE i.registration_id = $1 AND i.user_id = $2",
    )
    .bind(registration_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?
    .map(|r| {
        Ok(Invitation {
            invited_by: r.try_get("invited_by")?,
            inviter: r.try_get("inviter")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
}

/// Removes the invitations `inviter` sent for a registration (they stop being an owner).
pub async fn delete_sent_by(
    conn: &mut AnyConnection,
    registration_id: i64,
    inviter: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM owner_invitations WHERE registration_id = $1 AND invited_by = $2")
        .bind(registration_id)
        .bind(inviter)
        .execute(&mut *conn)
        .await?;
    Ok(())
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
