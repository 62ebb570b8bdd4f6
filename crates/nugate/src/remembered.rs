//! A node's short memory of database reads that every request would otherwise repeat (keys, package
//! owners): an entry is trusted for a TTL (`cache_ttl_ms`), which bounds how late other nodes' changes
//! show, and this node's own changes forget everything at once through [`Remembered::invalidate`].
//! A read that began before such a change is not stored ([`Remembered::generation`]), so a stale row
//! read concurrently with a change cannot outlive it. [`Flights`] keeps the requests that all find an
//! entry missing at once from all making the read.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Values by key, each trusted for `ttl` after it was read.
pub struct Remembered<K, V> {
    ttl: Duration,
    /// Most entries; past this the memory starts again.
    max_entries: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
}

impl<K: Eq + Hash, V> Remembered<K, V> {
    /// A memory trusting entries for `ttl` (0: never, every look-up misses), of at most `max_entries`.
    pub fn new(ttl: Duration, max_entries: usize) -> Remembered<K, V> {
        Remembered {
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation to pass to [`Remembered::put`] for a read starting now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// `f` of the value read less than `ttl` ago, if there is one (no copy made).
    pub fn with<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries();
        let (value, read_at) = entries.get(key)?;
        (read_at.elapsed() < self.ttl).then(|| f(value))
    }

    /// Remembers a value read from the database, unless this node changed things since `generation`.
    pub fn put(&self, generation: u64, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Changes a remembered value in place (keeping its age).
    pub fn update<Q>(&self, key: &Q, f: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some((value, _)) = self.entries().get_mut(key) {
            f(value);
        }
    }

    /// This node changed what the values were read from: forget them all.
    pub fn invalidate(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

/// One fetch at a time per key: a request holds its key's turn while it reads what is missing, and
/// the requests waiting for the turn then find it remembered. Without it, every request that finds a
/// busy entry expired (a restore's key, an upstream's answer) would make the same read at once.
pub struct Flights<K> {
    turns: Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>,
}

impl<K> Default for Flights<K> {
    fn default() -> Flights<K> {
        Flights {
            turns: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> Flights<K> {
    /// The turn of `key`, to lock around the fetch.
    pub fn of(&self, key: K) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self
            .turns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Turns no one holds any more are dropped as new ones come, so the map stays small.
        if turns.len() > 1024 {
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        Arc::clone(turns.entry(key).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_trusted_for_the_ttl_and_forgotten_on_a_change() {
        let memory: Remembered<i64, Vec<i64>> = Remembered::new(Duration::from_secs(60), 10);
        assert_eq!(memory.with(&1, |v| v.contains(&7)), None);
        memory.put(memory.generation(), 1, vec![7, 8]);
        assert_eq!(memory.with(&1, |v| v.contains(&7)), Some(true));
        assert_eq!(memory.with(&1, |v| v.contains(&9)), Some(false));
        memory.update(&1, |v| v.push(9));
        assert_eq!(memory.with(&1, |v| v.contains(&9)), Some(true));
        let before = memory.generation();
        memory.invalidate();
        assert_eq!(memory.with(&1, |v| v.len()), None);
        memory.put(before, 1, vec![7]);
        assert_eq!(
            memory.with(&1, |v| v.len()),
            None,
            "a read from before a change is not kept"
        );
        let never: Remembered<i64, i64> = Remembered::new(Duration::ZERO, 10);
        never.put(never.generation(), 1, 1);
        assert_eq!(never.with(&1, |v| *v), None);
    }

    #[tokio::test]
    async fn a_fetch_waits_for_the_one_under_way_and_finds_its_result() {
        let memory: Arc<Remembered<&str, i64>> =
            Arc::new(Remembered::new(Duration::from_secs(60), 10));
        let flights: Arc<Flights<&str>> = Arc::default();
        let fetches = Arc::new(AtomicU64::new(0));
        let first = flights.of("key").lock_owned().await;
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let (memory, flights, fetches) = (
                    Arc::clone(&memory),
                    Arc::clone(&flights),
                    Arc::clone(&fetches),
                );
                tokio::spawn(async move {
                    let turn = flights.of("key");
                    let _held = turn.lock().await;
                    if let Some(found) = memory.with("key", |v| *v) {
                        return found;
                    }
                    fetches.fetch_add(1, Ordering::SeqCst);
                    memory.put(memory.generation(), "key", 7);
                    7
                })
            })
            .collect();
        tokio::task::yield_now().await;
        // The first fetch finishes: everyone waiting finds its result.
        memory.put(memory.generation(), "key", 7);
        drop(first);
        for waiter in waiters {
            assert_eq!(waiter.await.ok(), Some(7));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 0, "no waiter fetched again");
        assert!(
            !Arc::ptr_eq(&flights.of("key"), &flights.of("other")),
            "keys have turns of their own"
        );
    }

    #[test]
    fn the_memory_stays_bounded() {
        let memory: Remembered<usize, ()> = Remembered::new(Duration::from_secs(60), 3);
        for n in 0..10 {
            memory.put(memory.generation(), n, ());
        }
        assert!(memory.entries().len() <= 3);
        assert_eq!(memory.with(&9, |_| ()), Some(()));
    }
}
