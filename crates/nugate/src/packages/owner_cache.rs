//! This node's memory of who owns each package, so that a keyed unlist or relist costs its key no
//! query: the key comes from the key cache, the owners from here.
//!
//! The promise is the key cache's (README, "Private feeds"): an owner removed from a package is refused
//! at once on the node that made the change (every ownership change clears this memory) and within
//! `cache_ttl_ms` on every other node (an entry is trusted only that long). Pushes never use it: a push
//! reads ownership in its own transaction.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most packages remembered; past this the memory starts again.
const MAX_ENTRIES: usize = 100_000;

/// Owner account ids by registration id.
pub struct OwnerCache {
    ttl: Duration,
    entries: Mutex<HashMap<i64, (Vec<i64>, Instant)>>,
    /// Bumped by every ownership change on this node; a read that began before one is not stored.
    generation: AtomicU64,
}

impl OwnerCache {
    /// A memory trusting entries for `ttl` (0: never, every check reads the database).
    pub fn new(ttl: Duration) -> OwnerCache {
        OwnerCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Vec<i64>, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation to pass to [`OwnerCache::put`] for a read starting now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether `account` owns the registration, if this node read its owners less than `ttl` ago.
    pub fn owns(&self, registration_id: i64, account: i64) -> Option<bool> {
        let entries = self.entries();
        let (owners, fetched) = entries.get(&registration_id)?;
        (fetched.elapsed() < self.ttl).then(|| owners.contains(&account))
    }

    /// Remembers the owners read from the database, unless ownership changed since `generation`.
    pub fn put(&self, generation: u64, registration_id: i64, owners: Vec<i64>) {
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
        entries.insert(registration_id, (owners, Instant::now()));
    }

    /// Ownership changed on this node: forget every package.
    pub fn invalidate(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_trusted_for_the_ttl_and_forgotten_on_a_change() {
        let cache = OwnerCache::new(Duration::from_secs(60));
        assert_eq!(cache.owns(1, 7), None);
        cache.put(cache.generation(), 1, vec![7, 8]);
        assert_eq!(cache.owns(1, 7), Some(true));
        assert_eq!(cache.owns(1, 9), Some(false));
        let before = cache.generation();
        cache.invalidate();
        assert_eq!(cache.owns(1, 7), None);
        cache.put(before, 1, vec![7]);
        assert_eq!(
            cache.owns(1, 7),
            None,
            "a read from before the change is not kept"
        );
        let never = OwnerCache::new(Duration::ZERO);
        never.put(never.generation(), 1, vec![7]);
        assert_eq!(never.owns(1, 7), None);
    }
}
