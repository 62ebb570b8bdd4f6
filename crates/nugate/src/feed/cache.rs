//! Rendered protocol documents, so a restore storm serialises each registration page once per change.

use crate::metrics::{CacheKind, Metrics};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;

/// Identifies one rendered document: the package, its change stamp, and what was rendered (which includes
/// the base URL, since documents carry absolute links and proxies may present several host names).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct DocumentKey {
    pub lower_id: String,
    pub changed_seq: i64,
    pub what: String,
}

struct Entry {
    document: Document,
    last_used: u64,
}

/// A rendered document as it is served: the body, its gzip copy once one was made, and its entity tag.
#[derive(Clone, Debug)]
pub struct Document {
    pub body: Bytes,
    pub gzip: Option<Bytes>,
    /// A strong validator of `body` (a hash of it, quoted), sent as `ETag`: clients that keep a copy
    /// ask again with `If-None-Match` and get a 304 without the body. Made once, as a header value, so
    /// that serving a hit copies nothing.
    pub etag: HeaderValue,
    /// The gzip copy's tag: another representation, so another strong tag (`"…-gzip"`).
    pub gzip_etag: HeaderValue,
    /// For a package file, the headers it is always sent with, made once.
    pub file: Option<Arc<FileHeaders>>,
}

/// The headers of a package file (`.nupkg`, `.nuspec`): made when the file is first served, then sent
/// with every copy from the cache as they are.
#[derive(Debug)]
pub struct FileHeaders {
    /// `ETag`, `Last-Modified` and `Cache-Control`: a 304 carries these too.
    pub validators: [(HeaderName, HeaderValue); 3],
    /// `Content-Type` and `Content-Disposition`.
    pub content: [(HeaderName, HeaderValue); 2],
}

impl Document {
    /// A document with its tag computed from its bytes.
    pub fn new(body: Bytes) -> Document {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        body.hash(&mut hasher);
        let tag = format!("{:016x}-{}", hasher.finish(), body.len());
        // Hex digits, a dash and quotes are always a valid header value.
        let header = |text: String| {
            HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
        };
        Document {
            body,
            gzip: None,
            etag: header(format!("\"{tag}\"")),
            gzip_etag: header(format!("\"{tag}-gzip\"")),
            file: None,
        }
    }

    /// A package file, tagged by its `ETag` header (the package's hash), never sent gzipped.
    pub fn file(body: Bytes, headers: Arc<FileHeaders>) -> Document {
        let etag = headers.validators[0].1.clone();
        Document {
            body,
            gzip: None,
            gzip_etag: etag.clone(),
            etag,
            file: Some(headers),
        }
    }

    /// Bytes held: the body and its gzip copy.
    fn size(&self) -> usize {
        self.body.len() + self.gzip.as_ref().map_or(0, Bytes::len)
    }
}

#[derive(Default)]
struct Entries {
    map: HashMap<DocumentKey, Entry>,
    bytes: usize,
}

/// A byte-bounded map of rendered documents; the least recently used half goes when the budget is hit.
pub struct DocumentCache {
    budget: usize,
    metrics: Arc<Metrics>,
    clock: AtomicU64,
    entries: Mutex<Entries>,
}

impl DocumentCache {
    /// A cache holding at most `budget` bytes of documents (0 turns caching off).
    pub fn new(budget: usize, metrics: Arc<Metrics>) -> DocumentCache {
        DocumentCache {
            budget,
            metrics,
            clock: AtomicU64::new(0),
            entries: Mutex::new(Entries::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached body, if this exact document was rendered at this change stamp.
    pub fn get(&self, key: &DocumentKey) -> Option<Bytes> {
        self.document(key).map(|d| d.body)
    }

    /// The cached document with its gzip copy and tag, if this exact document was rendered at this
    /// change stamp.
    pub fn document(&self, key: &DocumentKey) -> Option<Document> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let found = {
            let mut entries = self.lock();
            entries.map.get_mut(key).map(|entry| {
                entry.last_used = tick;
                entry.document.clone()
            })
        };
        let kind = if key.what.starts_with("file ") {
            CacheKind::File
        } else {
            CacheKind::Document
        };
        self.metrics.cache_lookup(kind, found.is_some());
        found
    }

    /// Keeps a rendered body; documents larger than a quarter of the budget are not kept.
    pub fn put(&self, key: DocumentKey, body: Bytes) {
        self.put_document(key, Document::new(body));
    }

    /// Keeps a rendered document (with its gzip copy, if made); see [`DocumentCache::put`].
    pub fn put_document(&self, key: DocumentKey, document: Document) {
        if document.size() > self.budget / 4 {
            return;
        }
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        entries.bytes += document.size();
        if let Some(old) = entries.map.insert(
            key,
            Entry {
                document,
                last_used: tick,
            },
        ) {
            entries.bytes -= old.document.size();
        }
        if entries.bytes > self.budget {
            let mut ages: Vec<u64> = entries.map.values().map(|e| e.last_used).collect();
            ages.sort_unstable();
            let cutoff = ages.get(ages.len() / 2).copied().unwrap_or(u64::MAX);
            entries.map.retain(|_, e| e.last_used >= cutoff);
            entries.bytes = entries.map.values().map(|e| e.document.size()).sum();
        }
    }

    /// Drops every document of a package (called when its change stamp moves).
    pub fn forget_package(&self, lower_id: &str) {
        let mut entries = self.lock();
        let before = entries.map.len();
        entries.map.retain(|k, _| k.lower_id != lower_id);
        if entries.map.len() != before {
            entries.bytes = entries.map.values().map(|e| e.document.size()).sum();
        }
    }

    /// Bytes held, for tests and diagnostics.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, what: &str) -> DocumentKey {
        DocumentKey {
            lower_id: id.into(),
            changed_seq: 1,
            what: what.into(),
        }
    }

    #[test]
    fn stays_within_budget_and_keeps_recent_documents() {
        let cache = DocumentCache::new(1000, Default::default());
        for i in 0..50 {
            cache.put(key(&format!("p{i}"), "index"), Bytes::from(vec![b'x'; 100]));
            // p0 is read every time, so it is always among the recently used.
            assert!(cache.get(&key("p0", "index")).is_some(), "at {i}");
            assert!(cache.bytes() <= 1000);
        }
        assert!(cache.get(&key("p1", "index")).is_none());
        cache.forget_package("p0");
        assert!(cache.get(&key("p0", "index")).is_none());
    }

    #[test]
    fn oversized_documents_are_not_kept() {
        let cache = DocumentCache::new(1000, Default::default());
        cache.put(key("big", "index"), Bytes::from(vec![b'x'; 300]));
        assert!(cache.get(&key("big", "index")).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
