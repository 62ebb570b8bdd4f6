//! Deprecations of package versions (`package_deprecations`, one per version at most) and known
//! vulnerabilities of a package ID's versions (`package_vulnerabilities`).

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool, Row};

use crate::model::advisory::{DeprecationReasons, Severity};

/// A version's deprecation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deprecation {
    pub reasons: DeprecationReasons,
    pub message: Option<String>,
    /// The package to use instead, and an optional range of its versions.
    pub alternate_id: Option<String>,
    pub alternate_range: Option<String>,
}

/// A recorded vulnerability of the versions of one ID in a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vulnerability {
    /// The ID as registered.
    pub package_id: String,
    /// A NuGet version range, normalised.
    pub versions: String,
    pub severity: Severity,
    pub advisory_url: String,
}

/// Deprecates the version row `package_key`, replacing any earlier deprecation of it; whether it had
/// one.
pub async fn set_deprecation(
    conn: &mut AnyConnection,
    package_key: i64,
    deprecation: &Deprecation,
    now: i64,
) -> sqlx::Result<bool> {
    let had = clear_deprecation(conn, package_key).await?;
    sqlx::query(
        "INSERT INTO package_deprecations (package_key, reason, message, alternate_id, \
         alternate_range, deprecated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(package_key)
    .bind(deprecation.reasons)
    .bind(deprecation.message.as_deref())
    .bind(deprecation.alternate_id.as_deref())
    .bind(deprecation.alternate_range.as_deref())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(had)
}

/// Removes the deprecation of `package_key`; whether it had one.
pub async fn clear_deprecation(conn: &mut AnyConnection, package_key: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM package_deprecations WHERE package_key = $1")
        .bind(package_key)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The deprecations of a few version rows, by row id.
pub async fn deprecations_of(
    pool: &AnyPool,
    package_keys: &[i64],
) -> sqlx::Result<HashMap<i64, Deprecation>> {
    if package_keys.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=package_keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT package_key, reason, message, alternate_id, alternate_range \
         FROM package_deprecations WHERE package_key IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for key in package_keys {
        query = query.bind(*key);
    }
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("package_key")?,
                Deprecation {
                    reasons: r.try_get("reason")?,
                    message: r.try_get("message")?,
                    alternate_id: r.try_get("alternate_id")?,
                    alternate_range: r.try_get("alternate_range")?,
                },
            ))
        })
        .collect()
}

/// Records a vulnerability of `registration_id`, replacing an earlier record of the same advisory.
pub async fn add_vulnerability(
    conn: &mut AnyConnection,
    registration_id: i64,
    versions: &str,
    severity: Severity,
    advisory_url: &str,
    now: i64,
) -> sqlx::Result<()> {
    remove_vulnerability(conn, registration_id, advisory_url).await?;
    sqlx::query(
        "INSERT INTO package_vulnerabilities (registration_id, versions, severity, advisory_url, \
         recorded_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(registration_id)
    .bind(versions)
    .bind(severity)
    .bind(advisory_url)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Removes the record of an advisory for `registration_id`; whether there was one.
pub async fn remove_vulnerability(
    conn: &mut AnyConnection,
    registration_id: i64,
    advisory_url: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "DELETE FROM package_vulnerabilities WHERE registration_id = $1 AND advisory_url = $2",
    )
    .bind(registration_id)
    .bind(advisory_url)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Every recorded vulnerability, or those of one registration, by ID then advisory.
pub async fn vulnerabilities(
    pool: &AnyPool,
    registration_id: Option<i64>,
) -> sqlx::Result<Vec<Vulnerability>> {
    let select = "SELECT r.package_id, v.versions, v.severity, v.advisory_url \
         FROM package_vulnerabilities v JOIN package_registrations r ON r.id = v.registration_id";
    let order = "ORDER BY r.package_id_lower, v.advisory_url";
    let rows = match registration_id {
        Some(id) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{select} WHERE v.registration_id = $1 {order}"
            )))
            .bind(id)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!("{select} {order}")))
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(Vulnerability {
                package_id: r.try_get("package_id")?,
                versions: r.try_get("versions")?,
                severity: r.try_get("severity")?,
                advisory_url: r.try_get("advisory_url")?,
            })
        })
        .collect()
}
