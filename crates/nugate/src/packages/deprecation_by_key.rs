//! `PUT /api/v2/package/{id}/deprecations`: deprecating versions with an unlist key, as NuGet.org's API
//! does it (its checks, their order and their messages), so that tools written for NuGet.org work here.

use nuget_formats::NuGetVersion;

use super::advisories::checked_message;
use super::PackageService;
use crate::audit::Event;
use crate::auth::keys::AuthenticatedKey;
use crate::db::{self, advisories::Deprecation};
use crate::error::ApiError;
use crate::model::advisory::DeprecationReasons;
use crate::model::audit::AuditAction;
use crate::model::policy::Ownership;
use crate::model::scope::PackageAction;

/// What the request asks, in NuGet.org's terms.
#[derive(Debug, Default)]
pub struct KeyedDeprecation {
    /// Exact versions, each of which must exist.
    pub versions: Vec<String>,
    /// `None`: every reason flag was false, which lifts the deprecation.
    pub reasons: Option<DeprecationReasons>,
    pub message: Option<String>,
    pub alternate_id: Option<String>,
    pub alternate_version: Option<String>,
    /// `Some(false)` unlists, `Some(true)` relists, `None` leaves the listing alone.
    pub listing: Option<bool>,
}

fn unknown_version(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "At least one version of package '{id}' specified could not be found."
    ))
}

impl PackageService {
    /// Deprecates (or, with no reason, undeprecates) exact versions of `id` with a key that may unlist
    /// them. Nothing changes unless every check passes; returns the versions changed.
    pub async fn deprecate_with_key(
        &self,
        key: &AuthenticatedKey,
        id: &str,
        request: KeyedDeprecation,
    ) -> Result<Vec<String>, ApiError> {
        let pool = self.db.pool();
        let registration = db::packages::registration(pool, id.trim())
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("There are no packages with ID '{id}'.")))?;
        let package_id = registration.package_id;
        let mut conn = pool.acquire().await?;
        let owns = db::packages::is_owner(&mut conn, registration.id, key.acting_account()).await?;
        drop(conn);
        let change = Event::new(AuditAction::Deprecate).package(&package_id, None);
        self.authorize(
            key,
            PackageAction::Unlist,
            &package_id,
            Ownership::Existing(owns),
            change.clone(),
        )?;
        let message = match request.reasons {
            Some(reasons) => checked_message(reasons, request.message.as_deref())?,
            None => None,
        };
        if request.versions.is_empty() {
            return Err(ApiError::BadRequest(
                "You must select at least one version to deprecate!".into(),
            ));
        }
        let alternate = self
            .existing_alternate(
                request.alternate_id.as_deref(),
                request.alternate_version.as_deref(),
            )
            .await?;
        let stored = db::packages::versions_of(pool, &package_id).await?;
        let mut rows = Vec::new();
        let mut versions = Vec::new();
        for asked in &request.versions {
            let wanted =
                NuGetVersion::parse(asked.trim()).map_err(|_| unknown_version(&package_id))?;
            let found = stored
                .iter()
                .find(|v| NuGetVersion::parse(&v.version).is_ok_and(|have| have == wanted))
                .ok_or_else(|| unknown_version(&package_id))?;
            if !rows.contains(&found.id) {
                rows.push(found.id);
                versions.push(found.version.to_string());
            }
        }
        if let Some((alt_id, alt_version)) = &alternate {
            let deprecating_itself = alt_id.eq_ignore_ascii_case(&package_id)
                && alt_version.as_ref().is_none_or(|v| {
                    versions
                        .iter()
                        .any(|own| NuGetVersion::parse(own).is_ok_and(|own| &own == v))
                });
            if deprecating_itself {
                return Err(ApiError::BadRequest(
                    "A package cannot be the alternate package of itself.".into(),
                ));
            }
        }
        let deprecation = request.reasons.map(|reasons| Deprecation {
            reasons,
            message,
            alternate_range: alternate
                .as_ref()
                .and_then(|(_, v)| v.as_ref())
                .map(|v| format!("[{}, )", v.normalized())),
            alternate_id: alternate.map(|(id, _)| id),
        });
        self.apply_deprecation(
            registration.id,
            &rows,
            deprecation.as_ref(),
            request.listing,
        )
        .await?;
        let what = match &deprecation {
            Some(d) => format!(
                "deprecated {} ({})",
                versions.join(", "),
                d.reasons.to_stored()
            ),
            None => format!("lifted the deprecation of {}", versions.join(", ")),
        };
        self.audit
            .record(change.with_key(&key.user, &key.key).detail(what))
            .await;
        Ok(versions)
    }

    /// The alternate package as NuGet.org requires it: an ID (and version) stored on this feed.
    async fn existing_alternate(
        &self,
        id: Option<&str>,
        version: Option<&str>,
    ) -> Result<Option<(String, Option<NuGetVersion>)>, ApiError> {
        let Some(id) = id.map(str::trim).filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let version = version.map(str::trim).filter(|v| !v.is_empty());
        let pool = self.db.pool();
        let Some(version) = version else {
            return match db::packages::registration(pool, id).await? {
                Some(found) => Ok(Some((found.package_id, None))),
                None => Err(ApiError::BadRequest(format!(
                    "Alternate package '{id}' does not exist."
                ))),
            };
        };
        let missing = || {
            ApiError::BadRequest(format!(
                "Alternate package '{id} {version}' does not exist."
            ))
        };
        let wanted = NuGetVersion::parse(version).map_err(|_| missing())?;
        let found = db::packages::version(pool, id, &wanted.normalized())
            .await?
            .ok_or_else(missing)?;
        Ok(Some((found.package_id.to_string(), Some(wanted))))
    }
}
