//! Organisation membership: members with their roles, and pending requests to join.

use sqlx::{AnyConnection, AnyPool, Row};

use super::users::{from_row_prefixed, User};
use crate::model::account::{AccountKind, OrgRole};

/// A member's role in an organisation, if they are one.
pub async fn role_of(pool: &AnyPool, org_id: i64, user_id: i64) -> sqlx::Result<Option<OrgRole>> {
    sqlx::query("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(pool)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()
}

/// Adds a member or changes their role.
pub async fn set_member(
    conn: &mut AnyConnection,
    org_id: i64,
    user_id: i64,
    role: OrgRole,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes a member; false when they were not one.
pub async fn remove_member(
    conn: &mut AnyConnection,
    org_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// How many administrators an organisation has, counted inside the caller's transaction.
pub async fn administrators(conn: &mut AnyConnection, org_id: i64) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS admins FROM org_members WHERE org_id = $1 AND role = $2")
        .bind(org_id)
        .bind(OrgRole::Administrator)
        .fetch_one(&mut *conn)
        .await?
        .try_get("admins")
}

/// An organisation's members with their roles, by name.
pub async fn members(pool: &AnyPool, org_id: i64) -> sqlx::Result<Vec<(User, OrgRole)>> {
    sqlx::query(
        "SELECT u.*, m.role AS member_role FROM org_members m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY u.username_lower",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| Ok((from_row_prefixed(row, "")?, row.try_get("member_role")?)))
    .collect()
}

/// The organisations a user belongs to, with their role, by name.
pub async fn of_user(pool: &AnyPool, user_id: i64) -> sqlx::Result<Vec<(User, OrgRole)>> {
    sqlx::query(
        "SELECT o.*, m.role AS member_role FROM org_members m JOIN users o ON o.id = m.org_id \
         WHERE m.user_id = $1 AND o.account_kind = $2 ORDER BY o.username_lower",
    )
    .bind(user_id)
    .bind(AccountKind::Organization)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| Ok((from_row_prefixed(row, "")?, row.try_get("member_role")?)))
    .collect()
}

/// Every organisation, by name.
pub async fn all(pool: &AnyPool) -> sqlx::Result<Vec<User>> {
    sqlx::query("SELECT * FROM users WHERE account_kind = $1 ORDER BY username_lower")
        .bind(AccountKind::Organization)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| from_row_prefixed(row, ""))
        .collect()
}

/// Records a request for a user to join (asking again replaces the role).
pub async fn request(
    pool: &AnyPool,
    org_id: i64,
    user_id: i64,
    role: OrgRole,
    invited_by: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO org_member_requests (org_id, user_id, role, invited_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role, \
         invited_by = excluded.invited_by, created_at = excluded.created_at",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role)
    .bind(invited_by)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// A pending request: (role, created at).
pub async fn pending_request(
    pool: &AnyPool,
    org_id: i64,
    user_id: i64,
) -> sqlx::Result<Option<(OrgRole, i64)>> {
    sqlx::query(
        "SELECT role, created_at FROM org_member_requests WHERE org_id = $1 AND user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?
    .map(|r| Ok((r.try_get("role")?, r.try_get("created_at")?)))
    .transpose()
}

/// Usernames with a pending request to join, and their roles.
pub async fn pending_requests(pool: &AnyPool, org_id: i64) -> sqlx::Result<Vec<(String, OrgRole)>> {
    sqlx::query(
        "SELECT u.username, r.role FROM org_member_requests r JOIN users u ON u.id = r.user_id \
         WHERE r.org_id = $1 ORDER BY u.username_lower",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("username")?, r.try_get("role")?)))
    .collect()
}

/// Removes a pending request inside the caller's transaction; false when there was none.
pub async fn delete_request(
    conn: &mut AnyConnection,
    org_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM org_member_requests WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Sets an organisation's cap on key lifetimes.
pub async fn set_max_key_lifetime(
    pool: &AnyPool,
    org_id: i64,
    days: Option<i64>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET max_key_lifetime_days = $1 WHERE id = $2")
        .bind(days)
        .bind(org_id)
        .execute(pool)
        .await?;
    Ok(())
}
