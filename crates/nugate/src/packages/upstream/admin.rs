//! What administrators do about upstreams: block IDs, approve them for allow-list upstreams, remove
//! cached packages, and ask why an ID is (not) served from upstream.

use super::PackageService;
use crate::audit::Event;
use crate::db;
use crate::error::ApiError;
use crate::model::audit::AuditAction;
use crate::model::scope::validate_subject;
use crate::model::upstream::{UpstreamCheck, UpstreamRule};

/// What `nugate upstream check ID` reports.
#[derive(Debug, serde::Serialize)]
pub struct UpstreamVerdict {
    pub upstream: String,
    /// `None`: the upstream may supply the ID.
    pub withheld: Option<&'static str>,
}

impl PackageService {
    /// Adds a rule for an ID or glob such as `Contoso.*`.
    pub async fn add_upstream_rule(
        &self,
        rule: UpstreamRule,
        pattern: &str,
    ) -> Result<(), ApiError> {
        let pattern = pattern.trim();
        validate_subject(pattern).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if !db::upstream::add_rule(self.db.pool(), rule, pattern, self.db.now()).await? {
            return Err(ApiError::Conflict(format!(
                "'{pattern}' has a {} rule already.",
                rule.as_str()
            )));
        }
        self.upstream_rules_changed();
        tracing::info!(rule = rule.as_str(), pattern, "upstream rule added");
        self.audit
            .record(
                Event::new(AuditAction::UpstreamRule)
                    .detail(format!("{} {pattern}", rule.as_str())),
            )
            .await;
        Ok(())
    }

    /// Removes a rule.
    pub async fn remove_upstream_rule(
        &self,
        rule: UpstreamRule,
        pattern: &str,
    ) -> Result<(), ApiError> {
        let pattern = pattern.trim();
        if !db::upstream::remove_rule(self.db.pool(), rule, pattern).await? {
            return Err(ApiError::NotFound(format!(
                "'{pattern}' has no {} rule.",
                rule.as_str()
            )));
        }
        self.upstream_rules_changed();
        tracing::info!(rule = rule.as_str(), pattern, "upstream rule removed");
        self.audit
            .record(
                Event::new(AuditAction::UpstreamRule)
                    .detail(format!("removed {} {pattern}", rule.as_str())),
            )
            .await;
        Ok(())
    }

    /// Every rule, blocks first.
    pub async fn upstream_rules(&self) -> Result<Vec<(UpstreamRule, String)>, ApiError> {
        Ok(db::upstream::rules(self.db.pool()).await?)
    }

    /// Forgets this node's memory of rules and prefixes (other nodes' within `cache_ttl_ms`).
    pub(crate) fn upstream_rules_changed(&self) {
        self.upstreams.rules.invalidate();
        self.upstreams.answers.invalidate();
    }

    /// Each upstream's verdict on `id`.
    pub async fn upstream_verdicts(&self, id: &str) -> Result<Vec<UpstreamVerdict>, ApiError> {
        let cached = self.feed.package(id).await?;
        let rules = self.rule_set().await?;
        let check = UpstreamCheck {
            id,
            local: cached.as_ref().is_some_and(|p| p.upstream.is_none()),
            reserved: &rules.reserved,
            rules: &rules.rules,
        };
        Ok(self
            .upstreams
            .clients
            .iter()
            .map(|c| UpstreamVerdict {
                upstream: c.label().to_string(),
                withheld: check.decide(c.allow_list()).err().map(|w| w.reason()),
            })
            .collect())
    }

    /// Removes every cached version of `id` (files and rows) and what the upstreams said about it; the
    /// next request fetches it again unless a rule now withholds it. The feed's own packages are not
    /// touched. Returns the versions removed.
    pub async fn forget_cached(&self, id: &str) -> Result<Vec<String>, ApiError> {
        let id = id.trim();
        let registration = db::packages::registration(self.db.pool(), id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("Nothing is cached for '{id}'.")))?;
        if registration.upstream.is_none() {
            return Err(ApiError::Conflict(format!(
                "'{}' is this feed's own package, not a cached one; use nugate package delete.",
                registration.package_id
            )));
        }
        let mut removed = Vec::new();
        for row in db::packages::versions_of(self.db.pool(), &registration.package_id).await? {
            let deleted = self.delete_version(&row.package_id, &row.version).await?;
            removed.push(deleted.version);
        }
        db::upstream::forget_metadata(self.db.pool(), &id.to_lowercase()).await?;
        self.upstream_rules_changed();
        Ok(removed)
    }
}
