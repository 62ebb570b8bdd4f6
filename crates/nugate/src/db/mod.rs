//! The database: one sqlx `Any` pool, so the same SQL (with `$N` placeholders) runs on SQLite and PostgreSQL.
//!
//! Values cross the boundary as `i64`, `String` and `Option`s of them only (flags are 0/1, times are Unix
//! seconds), which both drivers map identically.

pub mod advisories;
pub mod audit;
pub mod copy;
pub mod email_tokens;
pub mod encode;
pub mod invitations;
pub mod keys;
pub mod leases;
pub mod notices;
pub mod orgs;
pub mod outbox;
pub mod packages;
pub mod prefixes;
pub mod sessions;
pub mod symbols;
pub mod throttle;
pub mod trust;
pub mod upstream;
pub mod users;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

/// Which engine sits behind the pool; only connection set-up and transaction start differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default.
    Sqlite,
    /// For several stateless nodes.
    Postgres,
}

/// A cheap-to-clone handle on the database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// The time key expiry and identity tokens are judged by ([`Db::now`]).
    clock: crate::clock::Clock,
}

/// Migrations embedded in the binary, one list per backend.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("migrations/sqlite/0002_accounts.sql"),
    ),
    (
        3,
        "leases",
        include_str!("migrations/sqlite/0003_leases.sql"),
    ),
    (
        4,
        "feed_changes",
        include_str!("migrations/sqlite/0004_feed_changes.sql"),
    ),
    (
        5,
        "key_expiry_warned",
        include_str!("migrations/sqlite/0005_key_expiry_warned.sql"),
    ),
    (
        6,
        "key_expired_notified",
        include_str!("migrations/sqlite/0006_key_expired_notified.sql"),
    ),
    (
        7,
        "hardening",
        include_str!("migrations/sqlite/0007_hardening.sql"),
    ),
    (
        8,
        "organizations",
        include_str!("migrations/sqlite/0008_organizations.sql"),
    ),
    (
        9,
        "symbols",
        include_str!("migrations/sqlite/0009_symbols.sql"),
    ),
    (
        10,
        "advisories",
        include_str!("migrations/sqlite/0010_advisories.sql"),
    ),
    (
        11,
        "audit_and_trust",
        include_str!("migrations/sqlite/0011_audit_and_trust.sql"),
    ),
    (
        12,
        "downloads_and_dependents",
        include_str!("migrations/sqlite/0012_downloads.sql"),
    ),
    (
        13,
        "upstreams",
        include_str!("migrations/sqlite/0013_upstreams.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "accounts",
        include_str!("migrations/postgres/0002_accounts.sql"),
    ),
    (
        3,
        "leases",
        include_str!("migrations/postgres/0003_leases.sql"),
    ),
    (
        4,
        "feed_changes",
        include_str!("migrations/postgres/0004_feed_changes.sql"),
    ),
    (
        5,
        "key_expiry_warned",
        include_str!("migrations/postgres/0005_key_expiry_warned.sql"),
    ),
    (
        6,
        "key_expired_notified",
        include_str!("migrations/postgres/0006_key_expired_notified.sql"),
    ),
    (
        7,
        "hardening",
        include_str!("migrations/postgres/0007_hardening.sql"),
    ),
    (
        8,
        "organizations",
        include_str!("migrations/postgres/0008_organizations.sql"),
    ),
    (
        9,
        "symbols",
        include_str!("migrations/postgres/0009_symbols.sql"),
    ),
    (
        10,
        "advisories",
        include_str!("migrations/postgres/0010_advisories.sql"),
    ),
    (
        11,
        "audit_and_trust",
        include_str!("migrations/postgres/0011_audit_and_trust.sql"),
    ),
    (
        12,
        "downloads_and_dependents",
        include_str!("migrations/postgres/0012_downloads.sql"),
    ),
    (
        13,
        "upstreams",
        include_str!("migrations/postgres/0013_upstreams.sql"),
    ),
];

impl Db {
    /// Unix seconds by this server's clock, which tests can move forward ([`Db::clock`]).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The clock behind [`Db::now`].
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.clock
    }

    /// Opens the pool described by `url` (creating an SQLite file if needed) without migrating.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                redact_url(url)
            );
        };
        let options = AnyConnectOptions::from_str(url)
            .map_err(|e| anyhow::anyhow!("invalid database URL '{}': {e}", redact_url(url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open database '{}': {e}", redact_url(url)))?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        Ok(Db {
            pool,
            backend,
            clock: crate::clock::Clock::default(),
        })
    }

    /// Opens and migrates: what every subcommand does first.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Applies pending embedded migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let list = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        let migrations = list
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
        Ok(())
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that holds the write lock from its first statement, so two concurrent
    /// writers queue instead of deadlocking on a lock upgrade (SQLite) .
    pub async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Writes a consistent copy of an SQLite database to the file `path` (which must not exist) while it
    /// is in use: SQLite's `VACUUM INTO` reads one snapshot.
    pub async fn snapshot_sqlite(&self, path: &str) -> sqlx::Result<()> {
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Cheap liveness probe for readiness checks.
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }
}

/// Current time as Unix seconds, the only time representation stored.
pub fn now() -> i64 {
    crate::clock::unix_now()
}

/// Converts a stored 0/1 flag.
pub fn flag(value: i64) -> bool {
    value != 0
}

/// True when a database error is a unique-constraint violation (a lost race, not a failure).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// Hides a password in a database URL before it reaches an error message or a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
