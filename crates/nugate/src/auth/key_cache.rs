//! This node's memory of recently checked keys, so that a restore's hundreds of key checks cost a hash
//! and a map look-up instead of a query each.
//!
//! The promise (README, "Private feeds"): a key that is revoked, deleted, regenerated or expired, or whose
//! user is locked or removed from the owning organisation, is refused at once on the node that made the
//! change (every such change clears this cache) and within `cache_ttl_ms` on every other node (an entry
//! is trusted only that long). Expiry needs no refresh at all: it is checked against the clock on every
//! use. Wrong keys are never remembered, so guessing always reaches the database and its throttle, until
//! the throttle refuses a subject: that refusal is remembered until it ends, so a flood of wrong keys
//! from a refused address costs this node a map look-up each, not a query.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::keys::{ApiKeyRow, KeyHolder};
use crate::remembered::{Flights, Remembered};

/// Most keys remembered; past this the memory starts again (a feed has far fewer live keys).
const MAX_ENTRIES: usize = 10_000;
/// How long this node remembers that a subject (an address, a key identifier) presented a wrong key:
/// the throttle's window. While it does, even remembered keys from that subject go to the database's
/// throttle first.
const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);
/// Most refused subjects remembered; a flood from more addresses than this reaches the database again.
const MAX_BLOCKED: usize = 100_000;

/// A remembered key with its holder, shared: a check copies the pointer, not the rows, while it holds
/// the lock that every connection thread's checks take.
pub type CachedKey = Arc<(ApiKeyRow, KeyHolder)>;

/// Recently checked keys by lookup id, and what this node knows of wrong keys.
pub struct KeyCache {
    keys: Remembered<String, CachedKey>,
    /// Reads of keys not remembered, one per key at a time.
    reads: Flights<String>,
    failures: Mutex<HashMap<String, Instant>>,
    /// Subjects the throttle refuses, with the unix second their refusal ends.
    blocked: Mutex<HashMap<String, i64>>,
    /// Set by the first wrong key or refusal this node meets (see [`KeyCache::calm`]).
    troubled: AtomicBool,
}

impl KeyCache {
    /// A cache trusting keys for `ttl` (0: never, every check reads the database).
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            keys: Remembered::new(ttl, MAX_ENTRIES),
            reads: Flights::default(),
            failures: Mutex::new(HashMap::new()),
            blocked: Mutex::new(HashMap::new()),
            troubled: AtomicBool::new(false),
        }
    }

    /// The generation to pass to [`KeyCache::put`] for a look-up starting now.
    pub fn generation(&self) -> u64 {
        self.keys.generation()
    }

    /// A key read from the database less than `ttl` ago.
    pub fn get(&self, lookup_id: &str) -> Option<CachedKey> {
        self.keys.with(lookup_id, Arc::clone)
    }

    /// The turn to hold while reading the key `lookup_id` from the database.
    pub fn turn(&self, lookup_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.reads.of(lookup_id.to_owned())
    }

    /// Remembers a key read from the database, unless credentials changed since `generation`.
    pub fn put(&self, generation: u64, found: &CachedKey) {
        self.keys
            .put(generation, found.0.lookup_id.clone(), Arc::clone(found));
    }

    /// Records that a remembered key's last use was written at `at`.
    pub fn touched(&self, lookup_id: &str, at: i64) {
        self.keys.update(lookup_id, |found| {
            Arc::make_mut(found).0.last_used_at = Some(at);
        });
    }

    /// Credentials changed on this node (a key, a user, a membership): forget every key.
    pub fn invalidate(&self) {
        self.keys.invalidate();
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers that these subjects presented a wrong key.
    pub fn note_failure(&self, subjects: &[String]) {
        self.troubled.store(true, Ordering::Relaxed);
        let mut failures = self.failures();
        failures.retain(|_, at| at.elapsed() < FAILURE_MEMORY);
        for subject in subjects {
            failures.insert(subject.clone(), Instant::now());
        }
    }

    /// Whether this node has met no wrong key and no refused subject since it started: then no subject
    /// can be refused or have failed lately, and a check need not name its subjects to ask. A flag, not
    /// the two maps: every key check asks, on every connection thread.
    pub fn calm(&self) -> bool {
        !self.troubled.load(Ordering::Relaxed)
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

    fn blocked(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.blocked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers that the throttle refuses `subject` until the unix second `until`.
    pub fn note_blocked(&self, subject: &str, until: i64, now: i64) {
        self.troubled.store(true, Ordering::Relaxed);
        let mut blocked = self.blocked();
        if blocked.len() >= MAX_BLOCKED {
            blocked.retain(|_, end| *end > now);
            if blocked.len() >= MAX_BLOCKED {
                blocked.clear();
            }
        }
        blocked.insert(subject.to_owned(), until);
    }

    /// Whether the throttle is known to refuse any of these subjects at the unix second `now`.
    pub fn is_blocked(&self, subjects: &[String], now: i64) -> bool {
        let blocked = self.blocked();
        subjects
            .iter()
            .any(|s| blocked.get(s).is_some_and(|end| *end > now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_subject_is_remembered_until_its_refusal_ends() {
        let cache = KeyCache::new(Duration::from_millis(250));
        let subjects = ["key-ip:10.0.0.1".to_owned(), "key-id:abc".to_owned()];
        assert!(!cache.is_blocked(&subjects, 1_000));
        cache.note_blocked("key-ip:10.0.0.1", 1_900, 1_000);
        assert!(cache.is_blocked(&subjects, 1_000));
        assert!(cache.is_blocked(&subjects, 1_899));
        assert!(
            !cache.is_blocked(&subjects, 1_900),
            "the refusal ends with its window"
        );
        assert!(!cache.is_blocked(&["key-ip:10.0.0.2".to_owned()], 1_000));
    }

    #[test]
    fn the_memory_of_refused_subjects_stays_bounded() {
        let cache = KeyCache::new(Duration::from_millis(250));
        for n in 0..MAX_BLOCKED + 10 {
            cache.note_blocked(&format!("key-ip:{n}"), 2_000, 1_000);
        }
        assert!(cache.blocked().len() <= MAX_BLOCKED);
        let newest = format!("key-ip:{}", MAX_BLOCKED + 9);
        assert!(cache.is_blocked(&[newest], 1_000));
    }
}
