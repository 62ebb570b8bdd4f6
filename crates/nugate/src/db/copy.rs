//! Copying a whole database to another backend (SQLite to PostgreSQL when an install grows to several
//! nodes, or back), keeping every id, hash and timestamp so keys, owners and sign-ins keep working.
//!
//! The copy is generic: columns come from the destination's schema (which must be at the same migration
//! version as the source) and every value is an `i64` or a `String`, the only types nugate stores. Tables
//! are listed here by name, in dependency order, so a table added by a future migration makes the copy fail
//! loudly instead of silently leaving data behind.

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::{Backend, Db};

/// Tables copied, parents before children so foreign keys hold at every insert.
const COPIED_TABLES: &[&str] = &[
    "users",
    "org_members",
    "org_member_requests",
    "package_registrations",
    "package_owners",
    "packages",
    "symbol_packages",
    "symbol_files",
    "package_deprecations",
    "package_vulnerabilities",
    "api_keys",
    "email_tokens",
    "owner_invitations",
    "outbox",
    "key_expiry_notices",
    "admin_bootstrap",
    "reserved_prefixes",
    "trust_policies",
    "trust_tokens_used",
    "audit_events",
    "upstream_rules",
    "upstream_metadata",
];

/// Tables deliberately left behind: their rows only matter to the running process that wrote them.
const EPHEMERAL_TABLES: &[&str] = &[
    "sessions",
    "signin_failures",
    "throttle_counters",
    "leases",
    "feed_changes",
];

/// Bookkeeping tables the engines or sqlx maintain themselves.
const INTERNAL_TABLES: &[&str] = &["_sqlx_migrations", "sqlite_sequence"];

/// What was copied, so the operator can compare counts with the source before switching over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Rows copied per table, in copy order.
    pub tables: Vec<(&'static str, u64)>,
    /// Tables not copied because their contents are ephemeral (browser sessions end: users sign in again).
    pub skipped: Vec<&'static str>,
}

impl CopyReport {
    /// Rows copied for `table` (0 when the table is unknown or was empty).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, rows)| *rows)
    }
}

impl std::fmt::Display for CopyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (table, rows) in &self.tables {
            writeln!(
                f,
                "{table}: {rows} row{}",
                if *rows == 1 { "" } else { "s" }
            )?;
        }
        write!(
            f,
            "not copied (ephemeral): {}; users sign in again on the new database",
            self.skipped.join(", ")
        )
    }
}

/// A column's storage class; nugate stores nothing else.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Text,
}

/// Copies every durable table of `from` into the empty database `to`, in one destination transaction,
/// then moves PostgreSQL id sequences past the copied ids.
pub async fn copy_database(from: &Db, to: &Db) -> anyhow::Result<CopyReport> {
    let (source_versions, destination_versions) = (
        migration_versions(from.pool()).await?,
        migration_versions(to.pool()).await?,
    );
    if source_versions != destination_versions {
        anyhow::bail!(
            "the source database is at migration {:?} but the destination at {:?}: open both with this \
             version of nugate (run `nugate migrate` against the source) and try again",
            source_versions.last(),
            destination_versions.last()
        );
    }
    for table in table_names(from).await? {
        let known = [COPIED_TABLES, EPHEMERAL_TABLES, INTERNAL_TABLES]
            .iter()
            .any(|list| list.contains(&table.as_str()));
        if !known {
            anyhow::bail!(
                "the source database has a table '{table}' that `nugate db copy` does not know; \
                 refusing to leave it behind"
            );
        }
    }
    for table in COPIED_TABLES {
        let rows = count(to.pool(), table).await?;
        if rows > 0 {
            anyhow::bail!(
                "the destination database is not empty (table {table} has {rows} row{}): \
                 `nugate db copy` only fills a freshly created database",
                if rows == 1 { "" } else { "s" }
            );
        }
    }

    let mut columns = Vec::with_capacity(COPIED_TABLES.len());
    for table in COPIED_TABLES {
        columns.push((*table, table_columns(to, table).await?));
    }

    // One snapshot of the source, so a server still writing cannot produce a copy that mixes two moments.
    let mut source = match from.backend() {
        Backend::Sqlite => from.pool().begin().await?,
        Backend::Postgres => {
            from.pool()
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        }
    };
    let mut destination = to.begin_write().await?;
    let mut report = CopyReport {
        tables: Vec::with_capacity(COPIED_TABLES.len()),
        skipped: EPHEMERAL_TABLES.to_vec(),
    };
    for (table, cols) in &columns {
        let names: Vec<String> = cols.iter().map(|(name, _)| quote(name)).collect();
        let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
        let select = format!(
            "SELECT {} FROM {} ORDER BY 1",
            names.join(", "),
            quote(table)
        );
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(table),
            names.join(", "),
            placeholders.join(", ")
        );
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *source);
        let mut copied = 0u64;
        while let Some(row) = rows.try_next().await? {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
            for (index, (name, kind)) in cols.iter().enumerate() {
                query = match kind {
                    Kind::Int => query.bind(value::<i64>(&row, index, table, name)?),
                    Kind::Text => query.bind(value::<String>(&row, index, table, name)?),
                };
            }
            query
                .execute(&mut *destination)
                .await
                .map_err(|e| anyhow::anyhow!("cannot insert into {table}: {e}"))?;
            copied += 1;
        }
        report.tables.push((*table, copied));
    }
    drop(source);

    if to.backend() == Backend::Postgres {
        for (table, cols) in &columns {
            if cols.iter().any(|(name, _)| name == "id") {
                // Without this the next insert would reuse id 1 and collide with a copied row.
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1), \
                     MAX(id) IS NOT NULL) FROM {}",
                    quote(table)
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *destination)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot reset the id sequence of {table}: {e}"))?;
            }
        }
    }
    // The change counter is not copied row by row (the destination's migration created its one row):
    // it restarts at the highest stamp a copied registration carries, so later changes count upwards.
    sqlx::query(
        "UPDATE feed_changes SET seq = (SELECT COALESCE(MAX(changed_seq), 0) FROM package_registrations)",
    )
    .execute(&mut *destination)
    .await
    .map_err(|e| anyhow::anyhow!("cannot set the change counter: {e}"))?;
    destination.commit().await?;
    Ok(report)
}

/// Reads one nullable value, naming the column when the type is not what the schema promised.
fn value<T>(row: &AnyRow, index: usize, table: &str, column: &str) -> anyhow::Result<Option<T>>
where
    for<'r> Option<T>: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(index)
        .map_err(|e| anyhow::anyhow!("cannot read {table}.{column}: {e}"))
}

/// Identifiers here come from constants and the database's own schema; quoting keeps them inert anyway.
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

async fn migration_versions(pool: &AnyPool) -> anyhow::Result<Vec<i64>> {
    let rows = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(pool)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the applied migrations: {e}"))?;
    rows.iter()
        .map(|row| row.try_get::<i64, _>(0).map_err(Into::into))
        .collect()
}

async fn count(pool: &AnyPool, table: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {}", quote(table));
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(pool)
        .await
        .map_err(|e| anyhow::anyhow!("cannot count rows of {table}: {e}"))?;
    Ok(row.try_get::<i64, _>(0)?)
}

async fn table_names(db: &Db) -> anyhow::Result<Vec<String>> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = sqlx::query(sql).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| row.try_get::<String, _>(0).map_err(Into::into))
        .collect()
}

/// A table's columns in declaration order, with the storage class their declared type implies.
async fn table_columns(db: &Db, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(db.pool()).await?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in &rows {
        let name: String = row.try_get(0)?;
        let declared: String = row.try_get(1)?;
        let upper = declared.to_ascii_uppercase();
        let kind = if upper.contains("INT") {
            Kind::Int
        } else if upper.contains("TEXT") || upper.contains("CHAR") {
            Kind::Text
        } else {
            anyhow::bail!(
                "column {table}.{name} has type {declared}, which `nugate db copy` cannot copy"
            );
        };
        columns.push((name, kind));
    }
    if columns.is_empty() {
        anyhow::bail!("the destination database has no table '{table}'");
    }
    Ok(columns)
}
