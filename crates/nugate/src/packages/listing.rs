//! Unlisting and relisting, by key (the protocol) or by a signed-in owner or administrator (the web),
//! and the ownership proof behind verification keys.

use super::PackageService;
use crate::audit::Event;
use crate::auth::keys::AuthenticatedKey;
use crate::db::{self, packages::PackageVersion, users::User};
use crate::error::ApiError;
use crate::model::audit::AuditAction;
use crate::model::policy::Ownership;
use crate::model::scope::PackageAction;

impl PackageService {
    /// Unlists or relists `id` `version` with a key: 404 when the version does not exist (before any
    /// scope decision, as NuGet.org), NuGet.org's 403 when the key's scope or owner does not allow it.
    pub async fn set_listed_with_key(
        &self,
        key: &AuthenticatedKey,
        id: &str,
        version: &str,
        listed: bool,
    ) -> Result<PackageVersion, ApiError> {
        let target = self.find_version(id, version).await?;
        // Ownership is remembered like the key itself: a removed owner is refused at once on this node
        // and within `cache_ttl_ms` on the others.
        let owns = self
            .owns_remembered(target.registration_id, key.acting_account())
            .await?;
        let change =
            Event::new(listing_action(listed)).package(&target.package_id, Some(&target.version));
        self.authorize(
            key,
            PackageAction::Unlist,
            &target.package_id,
            Ownership::Existing(owns),
            change.clone(),
        )?;
        self.set_listed(&target, listed).await?;
        self.audit
            .record(change.with_key(&key.user, &key.key))
            .await;
        Ok(target)
    }

    /// Unlists or relists for a signed-in owner or administrator; to anyone else the version does not
    /// exist (404), as the gallery shows it.
    pub async fn set_listed_as(
        &self,
        user: &User,
        id: &str,
        version: &str,
        listed: bool,
    ) -> Result<PackageVersion, ApiError> {
        let target = self.find_version(id, version).await?;
        if !self.can_manage(Some(user), target.registration_id).await? {
            return Err(ApiError::NotFound(format!(
                "A package with ID '{id}' and version '{version}' does not exist."
            )));
        }
        self.set_listed(&target, listed).await?;
        self.audit
            .record(
                Event::new(listing_action(listed))
                    .by(user)
                    .package(&target.package_id, Some(&target.version)),
            )
            .await;
        Ok(target)
    }

    /// Whether `account` owns the registration, from this node's owner cache when it is fresh.
    async fn owns_remembered(&self, registration_id: i64, account: i64) -> Result<bool, ApiError> {
        if let Some(owns) = self
            .owner_cache
            .with(&registration_id, |owners| owners.contains(&account))
        {
            return Ok(owns);
        }
        let generation = self.owner_cache.generation();
        let mut conn = self.db.pool().acquire().await?;
        let owners = db::packages::owner_ids(&mut conn, registration_id).await?;
        let owns = owners.contains(&account);
        self.owner_cache.put(generation, registration_id, owners);
        Ok(owns)
    }

    async fn set_listed(&self, version: &PackageVersion, listed: bool) -> Result<(), ApiError> {
        let mut tx = self.db.begin_write().await?;
        db::packages::set_listed(&mut tx, version.id, listed).await?;
        db::packages::mark_changed(&mut tx, version.registration_id).await?;
        tx.commit().await?;
        self.feed.changed();
        let m = &self.metrics;
        if listed {
            m.relists.inc()
        } else {
            m.unlists.inc()
        };
        tracing::info!(id = %version.package_id, version = %version.version, listed, "listing changed");
        Ok(())
    }

    /// Whether `key` may mint a verification key for `id`: a push scope matching the ID is enough
    /// (ownership is what the verification key then proves).
    pub fn may_mint_verification_key(
        &self,
        key: &AuthenticatedKey,
        id: &str,
    ) -> Result<(), ApiError> {
        nuget_formats::validate_id(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let policy = |action| {
            crate::model::policy::authorize(
                &key.key.actions,
                &key.key.subjects,
                action,
                id,
                Ownership::NewId,
            )
        };
        if policy(PackageAction::PushNew).is_ok() || policy(PackageAction::PushVersion).is_ok() {
            return Ok(());
        }
        self.authorize(
            key,
            PackageAction::PushVersion,
            id,
            Ownership::NewId,
            Event::new(AuditAction::Push).package(id, None),
        )
    }

    /// Whether `account` (the verification key's user or organisation) owns `id` (at `version`, when
    /// given): 404 when there is no such package, NuGet.org's 403 when it does not own it.
    pub async fn verify_ownership(
        &self,
        account: i64,
        id: &str,
        version: Option<&str>,
    ) -> Result<(), ApiError> {
        let registration_id = match version {
            Some(version) => self.find_version(id, version).await?.registration_id,
            None => {
                db::packages::registration(self.db.pool(), id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::NotFound(format!("A package with ID '{id}' does not exist."))
                    })?
                    .id
            }
        };
        let mut conn = self.db.pool().acquire().await?;
        if db::packages::is_owner(&mut conn, registration_id, account).await? {
            Ok(())
        } else {
            Err(ApiError::invalid_key())
        }
    }
}

/// Unlisted or relisted, as the audit trail names it.
fn listing_action(listed: bool) -> AuditAction {
    if listed {
        AuditAction::Relist
    } else {
        AuditAction::Unlist
    }
}
