//! Hard deletion of a package version by an administrator (`nugate package delete`): for versions that
//! must not exist at all, such as one NuGet clients cannot read, which unlisting would leave in place.

use nuget_formats::NuGetVersion;

use super::{version_not_found, PackageService};
use crate::db;
use crate::error::ApiError;

/// What [`PackageService::delete_version`] removed.
#[derive(Debug)]
pub struct DeletedVersion {
    /// The ID as registered.
    pub id: String,
    /// The version as stored (normalised).
    pub version: String,
    /// How many versions of the ID are left; at zero the ID and its owners are kept.
    pub remaining_versions: usize,
}

impl PackageService {
    /// Deletes `id` `version` for good: its database row and its stored .nupkg and .nuspec (and its
    /// symbols, when it has any). The feed's
    /// change counter moves in the same transaction, so every node's feed drops the version. The
    /// registration and its owners stay, even when this was its last version.
    ///
    /// `version` may be any equivalent form (`1.0` for `1.0.0`); a stored version this parser no longer
    /// accepts (one pushed before a rule was added) is found by its stored form as typed. The files are
    /// removed before the commit, as a push writes them: a push of the same version waiting on the write
    /// lock cannot have its new files removed, and if the commit fails the row stays and the command can be
    /// run again. A file the storage fails to remove is left to the orphan sweep.
    pub async fn delete_version(
        &self,
        id: &str,
        version: &str,
    ) -> Result<DeletedVersion, ApiError> {
        let typed = version.trim();
        let stored = NuGetVersion::parse(typed)
            .map(|v| v.normalized())
            .unwrap_or_else(|_| typed.to_string());
        let target = db::packages::version(self.db.pool(), id.trim(), &stored)
            .await?
            .ok_or_else(|| version_not_found(id, version))?;
        // Its symbols go with it (their rows by the foreign key's cascade, their files here).
        let symbols = db::symbols::exists_for(self.db.pool(), target.id).await?;
        let pdbs: Vec<(String, String)> = db::symbols::pdbs_of(self.db.pool(), target.id)
            .await?
            .into_iter()
            .map(|p| (p.ssqp_key, p.file_name_lower))
            .collect();
        let mut tx = self.db.begin_write().await?;
        if !db::packages::delete_version(&mut tx, target.id).await? {
            // Deleted meanwhile by someone else.
            return Err(version_not_found(id, version));
        }
        db::packages::mark_changed(&mut tx, target.registration_id).await?;
        self.storage
            .delete_package(
                &target.package_id.to_lowercase(),
                &target.version.to_lowercase(),
            )
            .await;
        if symbols {
            self.storage
                .delete_symbols(
                    &target.package_id.to_lowercase(),
                    &target.version.to_lowercase(),
                    &pdbs,
                )
                .await;
        }
        tx.commit().await?;
        self.audit
            .record(
                crate::audit::Event::new(crate::model::audit::AuditAction::DeleteVersion)
                    .package(&target.package_id, Some(&target.version))
                    .detail("deleted by an administrator"),
            )
            .await;
        self.feed.changed();
        tracing::info!(
            id = %target.package_id,
            version = %target.version,
            "package version deleted by an administrator"
        );
        let remaining_versions = db::packages::versions_of(self.db.pool(), &target.package_id)
            .await?
            .len();
        Ok(DeletedVersion {
            id: target.package_id.to_string(),
            version: target.version.into(),
            remaining_versions,
        })
    }
}
