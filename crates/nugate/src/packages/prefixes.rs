//! Reserved ID prefixes: a server administrator reserves `Contoso.*` for an owner (a user or an
//! organisation); from then on only that owner may push a *new* ID matching it (existing IDs keep
//! their owners), and the gallery marks packages under it as verified.

use super::PackageService;
use crate::db::{self, prefixes::Reservation};
use crate::error::ApiError;
use crate::model::scope::{subject_matches, validate_subject};

impl PackageService {
    /// Reserves `pattern` (a glob such as `Contoso.*`, or one exact ID) for the account `owner`.
    pub async fn reserve_prefix(
        &self,
        pattern: &str,
        owner: &str,
    ) -> Result<Reservation, ApiError> {
        let pattern = pattern.trim();
        validate_subject(pattern).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if pattern.chars().all(|c| c == '*' || c == '.') {
            return Err(ApiError::BadRequest(format!(
                "'{pattern}' would reserve every ID; reserve a prefix such as Contoso.*"
            )));
        }
        let pool = self.db.pool();
        let account = db::users::by_username(pool, owner.trim())
            .await?
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "There is no user or organisation named '{}'.",
                    owner.trim()
                ))
            })?;
        match db::prefixes::insert(pool, pattern, account.id, db::now()).await {
            Ok(()) => {}
            Err(e) if db::is_unique_violation(&e) => {
                return Err(ApiError::Conflict(format!(
                    "'{pattern}' is reserved already."
                )))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(pattern, owner = %account.username, "prefix reserved");
        self.feed.changed();
        self.upstream_rules_changed();
        Ok(Reservation {
            pattern: pattern.to_string(),
            owner_id: account.id,
            owner_name: account.username,
            created_at: db::now(),
        })
    }

    /// Every reservation.
    pub async fn prefixes(&self) -> Result<Vec<Reservation>, ApiError> {
        Ok(db::prefixes::all(self.db.pool()).await?)
    }

    /// Releases a reservation.
    pub async fn release_prefix(&self, pattern: &str) -> Result<(), ApiError> {
        if !db::prefixes::delete(self.db.pool(), pattern.trim()).await? {
            return Err(ApiError::NotFound(format!(
                "'{}' is not reserved.",
                pattern.trim()
            )));
        }
        tracing::info!(pattern = pattern.trim(), "prefix released");
        self.upstream_rules_changed();
        Ok(())
    }

    /// Whether `id` is verified: it falls under a prefix reserved for one of `owners` (names).
    pub async fn is_verified(&self, id: &str, owners: &[String]) -> Result<bool, ApiError> {
        Ok(self.verifier().await?.reserved_by(id, owners).is_some())
    }

    /// The reservations as they stand, to tell whether many packages are verified with one query.
    pub async fn verifier(&self) -> Result<Verifier, ApiError> {
        Ok(Verifier(self.prefixes().await?))
    }
}

/// Tells which packages are verified, from the reservations read once.
pub struct Verifier(Vec<Reservation>);

impl Verifier {
    /// The owner (one of `owners`, by name) a prefix covering `id` is reserved for: the package is
    /// verified. `None`: it is not.
    pub fn reserved_by(&self, id: &str, owners: &[String]) -> Option<&str> {
        self.0
            .iter()
            .find(|p| {
                subject_matches(&p.pattern, id)
                    && owners.iter().any(|o| o.eq_ignore_ascii_case(&p.owner_name))
            })
            .map(|p| p.owner_name.as_str())
    }
}
