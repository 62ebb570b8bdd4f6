//! This node's memory of recently checked keys, so that a restore's hundreds of key checks cost a hash
//! and a map look-up instead of a query each.
//!
//! The promise (README, "Private feeds"): a key that is revoked, deleted, regenerated or expired, or whose
//! user is locked or removed from the owning organisation, is refused at once on the node that made the
//! change (every such change clears this cache) and within `cache_ttl_ms` on every other node (an entry
//! is trusted only that long). Expiry needs no refresh at all: it is checked against the clock on every
//! use. Wrong keys are never remembered, so guessing always reaches the database and its throttle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::db::keys::{ApiKeyRow, KeyHolder};

/// Most keys remembered; past this the memory starts again (a feed has far fewer live keys).
const MAX_ENTRIES: usize = 10_000;
/// How long this node remembers that a subject (an address, a key identifier) presented a wrong key:
/// the throttle's window. While it does, even remembered keys from that subject go to the database's
/// throttle first.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

struct Entry {
    key: ApiKeyRow,
    holder: KeyHolder,
    fetched: Instant,
}

/// Recently checked keys by lookup id.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
    /// Bumped by every credential change on this node; a look-up that began before one does not store
    /// what it read.
    generation: AtomicU64,
    failures: Mutex<HashMap<String, Instant>>,
}

impl KeyCache {
    /// A cache trusting entries for `ttl` (0: never, every check reads the database).
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation to pass to [`KeyCache::put`] for a look-up starting now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A key read from the database less than `ttl` ago.
    pub fn get(&self, lookup_id: &str) -> Option<(ApiKeyRow, KeyHolder)> {
        let entries = self.entries();
        let entry = entries.get(lookup_id)?;
        (entry.fetched.elapsed() < self.ttl).then(|| (entry.key.clone(), entry.holder.clone()))
    }

    /// Remembers a key read from the database, unless credentials changed since `generation`.
    pub fn put(&self, generation: u64, key: &ApiKeyRow, holder: &KeyHolder) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key.lookup_id.clone(),
            Entry {
                key: key.clone(),
                holder: holder.clone(),
                fetched: Instant::now(),
            },
        );
    }

    /// Records that a remembered key's last use was written at `at`.
    pub fn touched(&self, lookup_id: &str, at: i64) {
        if let Some(entry) = self.entries().get_mut(lookup_id) {
            entry.key.last_used_at = Some(at);
        }
    }

    /// Credentials changed on this node (a key, a user, a membership): forget every key.
    pub fn invalidate(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers that these subjects presented a wrong key.
    pub fn note_failure(&self, subjects: &[String]) {
        let mut failures = self.failures();
        failures.retain(|_, at| at.elapsed() < FAILURE_MEMORY);
        for subject in subjects {
            failures.insert(subject.clone(), Instant::now());
        }
    }

    /// Whether any of these subjects presented a wrong key on this node within the throttle window.
    pub fn failed_recently(&self, subjects: &[String]) -> bool {
        let failures = self.failures();
        subjects.iter().any(|s| {
            failures
                .get(s)
                .is_some_and(|at| at.elapsed() < FAILURE_MEMORY)
        })
    }
}
