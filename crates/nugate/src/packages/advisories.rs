//! Deprecations and vulnerabilities: what owners and administrators record about versions, and what the
//! registration leaves, search and the `VulnerabilityInfo` resource show of it.

use std::collections::HashMap;

use nuget_formats::{validate_id, NuGetVersion, VersionRange};

use super::PackageService;
use crate::db::{self, advisories::Deprecation, advisories::Vulnerability};
use crate::db::{packages::PackageVersion, users::User};
use crate::error::ApiError;
use crate::model::advisory::{DeprecationReason, DeprecationReasons, Severity};

/// Longest deprecation message kept (NuGet.org's limit).
const MAX_MESSAGE: usize = 1000;

/// The message of a deprecation, trimmed, checked as NuGet.org checks it: "Other" needs one, and it has
/// at most [`MAX_MESSAGE`] characters.
pub(super) fn checked_message(
    reasons: DeprecationReasons,
    message: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    if reasons.contains(DeprecationReason::Other) && message.is_none() {
        return Err(ApiError::BadRequest(
            "You must add a custom message if you are deprecating a package due to another reason!"
                .into(),
        ));
    }
    if message.is_some_and(|m| m.chars().count() > MAX_MESSAGE) {
        return Err(ApiError::BadRequest(format!(
            "Your custom message is too long. It must be under {MAX_MESSAGE} characters."
        )));
    }
    Ok(message.map(str::to_string))
}

/// A deprecation as asked for: the alternate is `ID` or `ID@RANGE`.
pub struct DeprecationRequest<'a> {
    pub reasons: DeprecationReasons,
    pub message: Option<&'a str>,
    pub alternate: Option<&'a str>,
}

fn parse_range(text: &str) -> Result<VersionRange, ApiError> {
    VersionRange::parse(text.trim())
        .map_err(|e| ApiError::BadRequest(format!("'{text}' is not a version range: {e}")))
}

fn unknown_id(id: &str) -> ApiError {
    ApiError::NotFound(format!("A package with ID '{id}' does not exist."))
}

impl PackageService {
    /// The stored versions of `id` inside `range`, with their registration; none is an error.
    async fn versions_in(
        &self,
        id: &str,
        range: &VersionRange,
    ) -> Result<(i64, Vec<(i64, String)>), ApiError> {
        let registration = db::packages::registration(self.db.pool(), id.trim())
            .await?
            .ok_or_else(|| unknown_id(id))?;
        let matching: Vec<(i64, String)> =
            db::packages::versions_of(self.db.pool(), &registration.package_id)
                .await?
                .into_iter()
                .filter(|v| {
                    NuGetVersion::parse(&v.version).is_ok_and(|parsed| range.satisfies(&parsed))
                })
                .map(|v| (v.id, v.version.into()))
                .collect();
        if matching.is_empty() {
            return Err(ApiError::NotFound(format!(
                "No version of '{}' is in the range {}.",
                registration.package_id,
                range.normalized()
            )));
        }
        Ok((registration.id, matching))
    }

    /// Deprecates every stored version of `id` in `versions` (a NuGet range); returns those versions.
    /// The feed's change counter moves in the same transaction.
    pub async fn deprecate(
        &self,
        id: &str,
        versions: &str,
        request: DeprecationRequest<'_>,
    ) -> Result<Vec<String>, ApiError> {
        let range = parse_range(versions)?;
        let message = checked_message(request.reasons, request.message)?;
        let (alternate_id, alternate_range) = match request.alternate.map(str::trim) {
            None | Some("") => (None, None),
            Some(alternate) => {
                let (alt_id, alt_range) = match alternate.split_once('@') {
                    Some((alt_id, alt_range)) => {
                        (alt_id, Some(parse_range(alt_range)?.normalized()))
                    }
                    None => (alternate, None),
                };
                validate_id(alt_id).map_err(|e| {
                    ApiError::BadRequest(format!("'{alt_id}' is not a package ID: {e}"))
                })?;
                (Some(alt_id.to_string()), alt_range)
            }
        };
        let deprecation = Deprecation {
            reasons: request.reasons,
            message,
            alternate_id,
            alternate_range,
        };
        let (registration_id, matching) = self.versions_in(id, &range).await?;
        if deprecation.alternate_id.as_deref().is_some_and(|alt| {
            alt.eq_ignore_ascii_case(id.trim()) && deprecation.alternate_range.is_none()
        }) {
            return Err(ApiError::BadRequest(
                "A package cannot be the alternate package of itself.".into(),
            ));
        }
        let rows: Vec<i64> = matching.iter().map(|(key, _)| *key).collect();
        self.apply_deprecation(registration_id, &rows, Some(&deprecation), None)
            .await?;
        Ok(matching.into_iter().map(|(_, v)| v).collect())
    }

    /// Lifts the deprecation of every stored version of `id` in `versions`; returns the versions that
    /// were deprecated.
    pub async fn undeprecate(&self, id: &str, versions: &str) -> Result<Vec<String>, ApiError> {
        let range = parse_range(versions)?;
        let (registration_id, matching) = self.versions_in(id, &range).await?;
        let rows: Vec<i64> = matching.iter().map(|(key, _)| *key).collect();
        let had = self
            .apply_deprecation(registration_id, &rows, None, None)
            .await?;
        Ok(matching
            .into_iter()
            .zip(had)
            .filter_map(|((_, version), had)| had.then_some(version))
            .collect())
    }

    /// Deprecates the version rows `rows` of one registration (`Some`) or lifts their deprecation
    /// (`None`), and lists or unlists them when `listing` says so, in one transaction that also moves
    /// the feed's change counter. Returns, per row, whether it was deprecated before.
    pub(super) async fn apply_deprecation(
        &self,
        registration_id: i64,
        rows: &[i64],
        deprecation: Option<&Deprecation>,
        listing: Option<bool>,
    ) -> Result<Vec<bool>, ApiError> {
        let now = db::now();
        let mut tx = self.db.begin_write().await?;
        let mut had = Vec::with_capacity(rows.len());
        for &row in rows {
            had.push(match deprecation {
                Some(deprecation) => {
                    db::advisories::set_deprecation(&mut tx, row, deprecation, now).await?
                }
                None => db::advisories::clear_deprecation(&mut tx, row).await?,
            });
            if let Some(listed) = listing {
                db::packages::set_listed(&mut tx, row, listed).await?;
            }
        }
        db::packages::mark_changed(&mut tx, registration_id).await?;
        tx.commit().await?;
        self.feed.changed();
        Ok(had)
    }

    /// Deprecates one version (`Some`) or lifts its deprecation (`None`) on behalf of a signed-in user:
    /// owners, members of an owning organisation and administrators; for anyone else the version does
    /// not exist. Returns the version row.
    pub async fn set_deprecation_as(
        &self,
        user: &User,
        id: &str,
        version: &str,
        request: Option<DeprecationRequest<'_>>,
    ) -> Result<PackageVersion, ApiError> {
        let target = self.find_version(id, version).await?;
        if !self.can_manage(Some(user), target.registration_id).await? {
            return Err(ApiError::NotFound(format!(
                "A package with ID '{id}' and version '{version}' does not exist."
            )));
        }
        let exact = format!("[{}]", target.version);
        let what = match request {
            Some(request) => {
                self.deprecate(&target.package_id, &exact, request).await?;
                "deprecated"
            }
            None => {
                self.undeprecate(&target.package_id, &exact).await?;
                "lifted the deprecation"
            }
        };
        self.audit
            .record(
                crate::audit::Event::new(crate::model::audit::AuditAction::Deprecate)
                    .by(user)
                    .package(&target.package_id, Some(&target.version))
                    .detail(what),
            )
            .await;
        Ok(target)
    }

    /// The deprecations of a few version rows, by row id.
    pub async fn deprecations_of(
        &self,
        row_ids: &[i64],
    ) -> Result<HashMap<i64, Deprecation>, ApiError> {
        Ok(db::advisories::deprecations_of(self.db.pool(), row_ids).await?)
    }

    /// Records that the versions of `id` in `versions` have the vulnerability described at `url`
    /// (replacing an earlier record of that advisory for the ID).
    pub async fn add_vulnerability(
        &self,
        id: &str,
        versions: &str,
        severity: Severity,
        url: &str,
    ) -> Result<(), ApiError> {
        let range = parse_range(versions)?;
        let url = url.trim();
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .unwrap_or_default();
        if host.is_empty() || host.starts_with('/') || url.chars().any(char::is_whitespace) {
            return Err(ApiError::BadRequest(format!(
                "'{url}' is not an http or https advisory URL."
            )));
        }
        let registration = db::packages::registration(self.db.pool(), id.trim())
            .await?
            .ok_or_else(|| unknown_id(id))?;
        let mut tx = self.db.begin_write().await?;
        db::advisories::add_vulnerability(
            &mut tx,
            registration.id,
            &range.normalized(),
            severity,
            url,
            db::now(),
        )
        .await?;
        db::packages::mark_changed(&mut tx, registration.id).await?;
        tx.commit().await?;
        self.feed.changed();
        Ok(())
    }

    /// Removes the record of the advisory at `url` for `id`.
    pub async fn remove_vulnerability(&self, id: &str, url: &str) -> Result<(), ApiError> {
        let registration = db::packages::registration(self.db.pool(), id.trim())
            .await?
            .ok_or_else(|| unknown_id(id))?;
        let mut tx = self.db.begin_write().await?;
        if !db::advisories::remove_vulnerability(&mut tx, registration.id, url.trim()).await? {
            return Err(ApiError::NotFound(format!(
                "No vulnerability with the advisory '{url}' is recorded for '{}'.",
                registration.package_id
            )));
        }
        db::packages::mark_changed(&mut tx, registration.id).await?;
        tx.commit().await?;
        self.feed.changed();
        Ok(())
    }

    /// The recorded vulnerabilities of one registration, or of every package.
    pub async fn vulnerabilities(
        &self,
        registration_id: Option<i64>,
    ) -> Result<Vec<Vulnerability>, ApiError> {
        Ok(db::advisories::vulnerabilities(self.db.pool(), registration_id).await?)
    }
}
