//! Download counts: each node counts in memory and adds its counts to the database in one transaction
//! every `download_flush_secs`, so a download costs a map update, never a write. Nodes add, so counts
//! from several nodes sum up.

use std::collections::HashMap;
use std::sync::Mutex;

use super::PackageService;
use crate::db::{self, packages::PackageVersion};
use crate::error::ApiError;

/// Downloads not yet written, per version row: (registration, count).
#[derive(Default)]
pub struct DownloadCounter {
    pending: Mutex<HashMap<i64, (i64, i64)>>,
}

impl DownloadCounter {
    /// Counts one download of `version`.
    pub fn count(&self, version: &PackageVersion) {
        if let Ok(mut pending) = self.pending.lock() {
            pending
                .entry(version.id)
                .or_insert((version.registration_id, 0))
                .1 += 1;
        }
    }

    fn take(&self) -> HashMap<i64, (i64, i64)> {
        self.pending
            .lock()
            .map(|mut pending| std::mem::take(&mut *pending))
            .unwrap_or_default()
    }

    /// Puts counts back after a failed write, so none are lost.
    fn restore(&self, counts: HashMap<i64, (i64, i64)>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (version, (registration, count)) in counts {
                pending.entry(version).or_insert((registration, 0)).1 += count;
            }
        }
    }
}

impl PackageService {
    /// Counts a download of `version` (written at the next flush).
    pub fn count_download(&self, version: &PackageVersion) {
        self.downloads.count(version);
    }

    /// Writes the downloads counted since the last flush; the packages whose counts changed are marked
    /// changed, so search and the gallery show the new counts. Returns how many downloads were written.
    pub async fn flush_downloads(&self) -> Result<i64, ApiError> {
        let counts = self.downloads.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match self.write_downloads(&counts).await {
            Ok(written) => {
                self.feed.changed();
                Ok(written)
            }
            Err(e) => {
                self.downloads.restore(counts);
                Err(e)
            }
        }
    }

    async fn write_downloads(&self, counts: &HashMap<i64, (i64, i64)>) -> Result<i64, ApiError> {
        let mut tx = self.db.begin_write().await?;
        let mut registrations: Vec<i64> = Vec::new();
        let mut written = 0;
        for (version, (registration, count)) in counts {
            db::packages::add_downloads(&mut tx, *version, *count).await?;
            registrations.push(*registration);
            written += count;
        }
        registrations.sort_unstable();
        registrations.dedup();
        for registration in registrations {
            db::packages::mark_changed(&mut tx, registration).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
}

impl PackageService {
    /// Fills `dependency_ids` of versions stored before it existed, from their stored .nuspec JSON, a
    /// batch at a time; returns how many were filled.
    pub async fn backfill_dependency_ids(&self) -> Result<usize, ApiError> {
        let mut filled = 0;
        loop {
            let batch = db::packages::without_dependency_ids(self.db.pool(), 500).await?;
            if batch.is_empty() {
                return Ok(filled);
            }
            for (id, json) in batch {
                let ids = serde_json::from_str::<super::PackageMetadata>(&json)
                    .map(|m| {
                        db::packages::dependency_ids_text(
                            m.nuspec
                                .dependency_groups
                                .iter()
                                .flat_map(|g| g.dependencies.iter().map(|d| d.id.as_str())),
                        )
                    })
                    .unwrap_or_else(|_| "  ".to_string());
                db::packages::set_dependency_ids(self.db.pool(), id, &ids).await?;
                filled += 1;
            }
        }
    }

    /// Packages on this feed with a listed version that depends on `id`.
    pub async fn used_by(&self, id: &str) -> Result<Vec<String>, ApiError> {
        Ok(db::packages::dependents(self.db.pool(), id, 20).await?)
    }
}
