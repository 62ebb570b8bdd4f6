//! The audit trail: what every authenticated action did, by whom, with which key, for which owner, from
//! where, and whether it was allowed. The services record; handlers only say where a request came from
//! ([`with_origin`]), so no service signature carries HTTP details.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::db::audit::{AuditQuery, AuditRecord};
use crate::db::keys::ApiKeyRow;
use crate::db::users::User;
use crate::db::{self, Db};
use crate::model::audit::{AuditAction, AuditOutcome};

/// Where a request came from, as its audit records show it.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `work` with `origin` as the origin of everything it records.
pub async fn with_origin<F: Future>(origin: Origin, work: F) -> F::Output {
    ORIGIN.scope(origin, work).await
}

/// The origin of the running request; outside one (the CLI, background work) the user agent says so.
fn current_origin() -> Origin {
    ORIGIN.try_with(Origin::clone).unwrap_or_else(|_| Origin {
        address: None,
        user_agent: Some("nugate (command line or server task)".to_string()),
    })
}

/// Whether records are written: always, except in the build `bench/run.sh` compares against to
/// measure what recording costs.
const RECORDING: bool = !cfg!(feature = "bench-without-audit");

/// Longest user agent kept.
const MAX_USER_AGENT: usize = 256;

/// A record being put together.
#[derive(Clone, Debug)]
pub struct Event(AuditRecord);

impl Event {
    /// An action done now.
    pub fn new(action: AuditAction) -> Event {
        Event(AuditRecord::new(action, db::now()))
    }

    /// Done by `user`, for themselves unless a key or [`Event::for_owner`] says otherwise.
    pub fn by(mut self, user: &User) -> Event {
        self.0.actor_id = Some(user.id);
        self.0.user = Some(user.username.clone());
        if self.0.owner_id.is_none() {
            self.0.owner_id = Some(user.id);
            self.0.owner = Some(user.username.clone());
        }
        self
    }

    /// Done with `key` of `user`, for the account the key acts for.
    pub fn with_key(mut self, user: &User, key: &ApiKeyRow) -> Event {
        self.0.key_id = Some(key.id);
        self.0.key_name = key.name.clone();
        self.0.key_lookup_id = Some(key.lookup_id.clone());
        self.0.owner_id = Some(key.acting_account());
        self.0.owner = Some(
            key.owner_name
                .clone()
                .unwrap_or_else(|| user.username.clone()),
        );
        self.by(user)
    }

    /// Done for the account `owner` (an organisation, or a package's owner).
    pub fn for_owner(mut self, owner: &User) -> Event {
        self.0.owner_id = Some(owner.id);
        self.0.owner = Some(owner.username.clone());
        self
    }

    /// On this package (and version).
    pub fn package(mut self, id: &str, version: Option<&str>) -> Event {
        self.0.package_id = Some(id.to_string());
        self.0.package_version = version.map(str::to_string);
        self
    }

    /// What else the record should say (a key's new scope, the reason for a refusal, a CI run).
    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.0.detail = Some(detail.into());
        self
    }

    /// The action was refused.
    pub fn refused(mut self) -> Event {
        self.0.outcome = AuditOutcome::Refused;
        self
    }

    /// The finished record, with the request's origin.
    fn into_record(self) -> AuditRecord {
        let mut record = self.0;
        let origin = current_origin();
        record.address = origin.address.map(|a| a.to_string());
        record.user_agent = origin.user_agent.map(|mut agent| {
            if agent.len() > MAX_USER_AGENT {
                let mut end = MAX_USER_AGENT;
                while !agent.is_char_boundary(end) {
                    end -= 1;
                }
                agent.truncate(end);
            }
            agent
        });
        record
    }
}

/// How long a record may wait for the server's writer.
const BATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);
/// A batch this large is written at once.
const BATCH_SIZE: usize = 256;
/// Records kept while the database cannot take them; beyond this the oldest go to the log only.
const MAX_PENDING: usize = 100_000;

/// Records waiting for the writer.
#[derive(Default)]
struct Pending {
    records: std::collections::VecDeque<AuditRecord>,
    /// A writer runs (the server): records queue. Otherwise (the CLI) each is written at once.
    batching: bool,
}

/// The audit service.
///
/// In the server, records are queued and written by one task in batches (every 200 ms, or at 256),
/// a few statements per batch: a push's own transaction then carries no audit insert, which cost it
/// about a seventh of its throughput on SQLite. Every record is made after its action committed, so
/// none claims what did not happen. Reads of the trail write what is queued first, and
/// the server writes the queue before it stops; a crash can lose the last 200 ms of records (each
/// request is also in the request log).
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    retention_days: u32,
    pending: Arc<Mutex<Pending>>,
    wake: Arc<tokio::sync::Notify>,
    /// One batch at a time, so records keep their order.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl AuditLog {
    /// Records into `db`, keeping `retention_days` of history; each record is written at once until
    /// [`AuditLog::start_batching`].
    pub fn new(db: Db, retention_days: u32) -> AuditLog {
        AuditLog {
            db,
            retention_days,
            pending: Arc::default(),
            wake: Arc::default(),
            writing: Arc::default(),
        }
    }

    /// Starts the writer task: from now on records are queued and written in batches.
    pub fn start_batching(&self) -> tokio::task::JoinHandle<()> {
        if let Ok(mut pending) = self.pending.lock() {
            pending.batching = true;
        }
        let log = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = log.wake.notified() => {}
                    _ = tokio::time::sleep(BATCH_EVERY) => {}
                }
                log.flush().await;
            }
        })
    }

    /// Appends a record. The action it records has happened already, so a database failure here is
    /// not turned into a failed action: the record is kept for the next try, and logged if it must go.
    pub async fn record(&self, event: Event) {
        if let Some(record) = self.queue(event) {
            if let Err(e) = db::audit::insert(self.db.pool(), &record).await {
                tracing::error!(error = %e, ?record, "could not store an audit record");
            }
        }
    }

    /// Appends a record without waiting: for refusals decided while the caller holds a write
    /// transaction (on SQLite an insert would wait for that transaction to end).
    pub fn record_detached(&self, event: Event) {
        if let Some(record) = self.queue(event) {
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = db::audit::insert(db.pool(), &record).await {
                    tracing::error!(error = %e, ?record, "could not store an audit record");
                }
            });
        }
    }

    /// Queues the record when a writer runs (`None`); otherwise hands it back to be written now.
    fn queue(&self, event: Event) -> Option<AuditRecord> {
        if !RECORDING {
            return None;
        }
        let record = event.into_record();
        let Ok(mut pending) = self.pending.lock() else {
            return Some(record);
        };
        if !pending.batching {
            return Some(record);
        }
        if pending.records.len() >= MAX_PENDING {
            if let Some(dropped) = pending.records.pop_front() {
                tracing::error!(record = ?dropped, "the audit queue is full: record dropped");
            }
        }
        pending.records.push_back(record);
        if pending.records.len() >= BATCH_SIZE {
            self.wake.notify_one();
        }
        None
    }

    /// Writes what is queued. A failure keeps the records for the next try.
    pub async fn flush(&self) {
        let _one_at_a_time = self.writing.lock().await;
        let batch: Vec<AuditRecord> = match self.pending.lock() {
            Ok(mut pending) => pending.records.drain(..).collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = db::audit::insert_many(self.db.pool(), &batch).await {
            tracing::warn!(error = %e, records = batch.len(), "could not write audit records; retrying");
            if let Ok(mut pending) = self.pending.lock() {
                for record in batch.into_iter().rev() {
                    pending.records.push_front(record);
                }
            }
        }
    }

    /// Records matching `query`, newest first (what this node queued included).
    pub async fn list(&self, query: &AuditQuery) -> sqlx::Result<Vec<AuditRecord>> {
        self.flush().await;
        db::audit::list(self.db.pool(), query).await
    }

    /// The latest `limit` records of one key.
    pub async fn recent_for_key(&self, key_id: i64, limit: i64) -> sqlx::Result<Vec<AuditRecord>> {
        let query = AuditQuery {
            key_id: Some(key_id),
            limit,
            ..AuditQuery::default()
        };
        self.list(&query).await
    }

    /// Deletes records past the retention period: the only way one ever goes.
    pub async fn sweep(&self) -> sqlx::Result<u64> {
        let cutoff = db::now() - i64::from(self.retention_days) * crate::model::key::DAY;
        db::audit::delete_older_than(self.db.pool(), cutoff).await
    }
}

/// What `nugate audit` asks for, by name; [`AuditLog::search`] resolves the names.
#[derive(Clone, Debug, Default)]
pub struct AuditSearch {
    pub user: Option<String>,
    pub owner: Option<String>,
    pub key: Option<String>,
    pub package: Option<String>,
    /// `YYYY-MM-DD` (UTC midnight) or an RFC 3339 time.
    pub since: Option<String>,
    pub limit: i64,
}

/// A search that names something that does not exist, or a date that is not one.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("There is no user or organisation named '{0}'.")]
    NoSuchAccount(String),
    #[error(
        "'{0}' is not a date: use YYYY-MM-DD or an RFC 3339 time such as 2026-12-01T08:00:00Z."
    )]
    BadDate(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl AuditLog {
    /// The records a search names, newest first.
    pub async fn search(&self, search: &AuditSearch) -> Result<Vec<AuditRecord>, AuditError> {
        let account = |name: Option<String>| async {
            match name {
                None => Ok(None),
                Some(name) => db::users::by_username(self.db.pool(), name.trim())
                    .await?
                    .map(|u| Some(u.id))
                    .ok_or(AuditError::NoSuchAccount(name)),
            }
        };
        let query = AuditQuery {
            actor_id: account(search.user.clone()).await?,
            owner_id: account(search.owner.clone()).await?,
            key_id: None,
            key_name: search.key.clone(),
            package_id: search.package.clone(),
            since: search.since.as_deref().map(parse_since).transpose()?,
            limit: search.limit,
        };
        Ok(self.list(&query).await?)
    }
}

/// A `--since` value as Unix seconds.
fn parse_since(text: &str) -> Result<i64, AuditError> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .ok_or_else(|| AuditError::BadDate(text.to_string()))
}

/// A record's time as the CLI and the pages show it: `2026-12-02 08:13:22 UTC`.
pub fn when(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// A record in one line, as the CLI and the pages show it (its time apart): "Pushed Contoso.Lib 1.0.0
/// by alice with key 'ci' for contoso from 10.0.0.7 (…)".
pub fn describe(r: &AuditRecord) -> String {
    let package = match (&r.package_id, &r.package_version) {
        (Some(id), Some(version)) => format!(" {id} {version}"),
        (Some(id), None) => format!(" {id}"),
        _ => String::new(),
    };
    let outcome = match r.outcome {
        AuditOutcome::Done => "",
        AuditOutcome::Refused => " (refused)",
    };
    let key = r
        .key_name
        .as_deref()
        .map(|k| format!(" with key '{k}'"))
        .unwrap_or_default();
    let owner = r
        .owner
        .as_deref()
        .filter(|o| Some(*o) != r.user.as_deref())
        .map(|o| format!(" for {o}"))
        .unwrap_or_default();
    let detail = r
        .detail
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    format!(
        "{}{package}{outcome} by {}{key}{owner} from {}{detail}",
        r.action.label(),
        r.user.as_deref().unwrap_or("the operator"),
        r.address.as_deref().unwrap_or("the command line"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_date_or_a_time() {
        assert_eq!(parse_since("2026-12-01").unwrap(), 1_796_083_200);
        assert_eq!(
            parse_since("2026-12-01T01:00:00+01:00").unwrap(),
            1_796_083_200
        );
        assert!(matches!(
            parse_since("yesterday"),
            Err(AuditError::BadDate(_))
        ));
        assert_eq!(when(1_796_083_200), "2026-12-01 00:00:00 UTC");
    }
}
