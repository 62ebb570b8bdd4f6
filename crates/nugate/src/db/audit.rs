//! Audit records: appended by the services, read back filtered, and deleted only by the retention sweep.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::model::audit::{AuditAction, AuditOutcome};

/// One recorded action, as stored. Names are copies, so the record outlives what it names.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditRecord {
    #[serde(skip)]
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    #[serde(skip)]
    pub actor_id: Option<i64>,
    /// The user who acted (or tried to).
    pub user: Option<String>,
    #[serde(skip)]
    pub key_id: Option<i64>,
    pub key_name: Option<String>,
    pub key_lookup_id: Option<String>,
    #[serde(skip)]
    pub owner_id: Option<i64>,
    /// The account acted for: an organisation, or the user.
    pub owner: Option<String>,
    pub package_id: Option<String>,
    pub package_version: Option<String>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl AuditRecord {
    /// A record of `action` done at `at`, naming nobody yet.
    pub fn new(action: AuditAction, at: i64) -> AuditRecord {
        AuditRecord {
            id: 0,
            at,
            action,
            outcome: AuditOutcome::Done,
            actor_id: None,
            user: None,
            key_id: None,
            key_name: None,
            key_lookup_id: None,
            owner_id: None,
            owner: None,
            package_id: None,
            package_version: None,
            address: None,
            user_agent: None,
            detail: None,
        }
    }
}

fn from_row(row: &AnyRow) -> sqlx::Result<AuditRecord> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        actor_id: row.try_get("actor_id")?,
        user: row.try_get("actor_name")?,
        key_id: row.try_get("key_id")?,
        key_name: row.try_get("key_name")?,
        key_lookup_id: row.try_get("key_lookup_id")?,
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner_name")?,
        package_id: row.try_get("package_id")?,
        package_version: row.try_get("package_version")?,
        address: row.try_get("address")?,
        user_agent: row.try_get("user_agent")?,
        detail: row.try_get("detail")?,
    })
}

/// Appends a record, on a pool or inside the transaction of the action it records.
pub async fn insert<'e, E>(executor: E, record: &AuditRecord) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
        placeholders(1)
    );
    bind(sqlx::query(sqlx::AssertSqlSafe(sql)), record)
        .execute(executor)
        .await?;
    Ok(())
}

/// `($1, …, $16), ($17, …)`: the value lists of `rows` records.
fn placeholders(rows: usize) -> String {
    let lists: Vec<String> = (0..rows)
        .map(|r| {
            let first = r * 16 + 1;
            let marks: Vec<String> = (first..first + 16).map(|n| format!("${n}")).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    lists.join(", ")
}

/// Binds a record's values in [`COLUMNS`] order.
fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    record: &AuditRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(record.at)
        .bind(record.action)
        .bind(record.outcome)
        .bind(record.actor_id)
        .bind(record.user.clone())
        .bind(record.key_id)
        .bind(record.key_name.clone())
        .bind(record.key_lookup_id.clone())
        .bind(record.owner_id)
        .bind(record.owner.clone())
        .bind(record.package_id.clone())
        .bind(record.package_id.as_deref().map(str::to_ascii_lowercase))
        .bind(record.package_version.clone())
        .bind(record.address.clone())
        .bind(record.user_agent.clone())
        .bind(record.detail.clone())
}

/// Columns of an insert, in the order [`insert_many`] binds them.
const COLUMNS: &str =
    "at, action, outcome, actor_id, actor_name, key_id, key_name, key_lookup_id, owner_id, \
     owner_name, package_id, package_id_lower, package_version, address, user_agent, detail";
/// Rows per statement: 16 parameters each stays far below SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 64;

/// Appends many records in one transaction, a few statements in all: the batching writer's path.
pub async fn insert_many(pool: &AnyPool, records: &[AuditRecord]) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) VALUES {}",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for record in chunk {
            query = bind(query, record);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Which records to read; every field narrows, `None` does not.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Actions of this user.
    pub actor_id: Option<i64>,
    /// Actions for this account (an organisation, or a user's own packages).
    pub owner_id: Option<i64>,
    /// Uses of this key.
    pub key_id: Option<i64>,
    /// Records of a key by name (keys deleted since are still found).
    pub key_name: Option<String>,
    /// Actions on this package ID (any case).
    pub package_id: Option<String>,
    /// At or after this time.
    pub since: Option<i64>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// Records matching `query`, newest first; each filter uses an index.
pub async fn list(pool: &AnyPool, query: &AuditQuery) -> sqlx::Result<Vec<AuditRecord>> {
    let rows = sqlx::query(
        "SELECT * FROM audit_events WHERE ($1 IS NULL OR actor_id = $1) AND ($2 IS NULL OR owner_id = $2) \
         AND ($3 IS NULL OR key_id = $3) AND ($4 IS NULL OR key_name = $4) \
         AND ($5 IS NULL OR package_id_lower = $5) AND at >= $6 ORDER BY id DESC LIMIT $7",
    )
    .bind(query.actor_id)
    .bind(query.owner_id)
    .bind(query.key_id)
    .bind(query.key_name.as_deref())
    .bind(query.package_id.as_deref().map(str::to_ascii_lowercase))
    .bind(query.since.unwrap_or(i64::MIN))
    .bind(query.limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes records older than `before`: the retention sweep, the trail's only deletion. Records are
/// written in time order, so the old ones are the lowest ids: each round deletes from the oldest on,
/// a bounded batch, and stops at the first record young enough to keep.
pub async fn delete_older_than(pool: &AnyPool, before: i64) -> sqlx::Result<u64> {
    const BATCH: i64 = 5000;
    let mut deleted = 0;
    loop {
        let oldest: Option<i64> = sqlx::query("SELECT at FROM audit_events ORDER BY id LIMIT 1")
            .fetch_optional(pool)
            .await?
            .map(|row| row.try_get("at"))
            .transpose()?;
        if oldest.is_none_or(|at| at >= before) {
            return Ok(deleted);
        }
        let round = sqlx::query(
            "DELETE FROM audit_events WHERE id IN \
             (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += round;
        if round == 0 {
            return Ok(deleted);
        }
    }
}
