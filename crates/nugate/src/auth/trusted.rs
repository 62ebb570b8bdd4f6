//! Trusted publishing: policies that let a CI workflow trade its OIDC identity token for a one-hour key
//! acting for the policy's owner, so no long-lived key has to sit in CI secrets.

use std::sync::Arc;

use super::keys::{KeyError, KeyService};
use super::oidc::{Identity, OidcVerifier, TokenRefused};
use crate::audit::{AuditLog, Event};
use crate::db::trust::{NewTrustPolicy, TrustPolicy};
use crate::db::users::User;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::mail::{self, messages, MailContext};
use crate::model::audit::AuditAction;
use crate::model::scope::{validate_glob, validate_subject, SubjectError};

/// How long an issued key lives.
pub const TRUSTED_KEY_SECS: i64 = 3600;

/// What a policy names, as typed on the web or the command line.
#[derive(Clone, Debug, Default)]
pub struct PolicySpec {
    /// The user or organisation whose packages the keys act on (`None`: the person adding it).
    pub owner: Option<String>,
    /// `None`: the first trusted issuer (GitHub Actions by default).
    pub issuer: Option<String>,
    pub repository: String,
    pub workflow: String,
    pub environment: Option<String>,
    /// IDs and globs the keys may push to (`*` when empty).
    pub packages: Vec<String>,
}

/// A policy change or an exchange that cannot be done; the message is shown as it is.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{0}")]
    Token(#[from] TokenRefused),
    #[error("This token was already exchanged for a key; each token is accepted once. Request a new one.")]
    Replayed,
    #[error("No trusted publishing policy of '{0}' matches this token's issuer, repository, workflow and environment.")]
    NoPolicy(String),
    #[error("The user who created this policy can no longer publish for '{0}'; an administrator of it must add the policy again.")]
    CreatorGone(String),
    #[error("The repository must be written OWNER/REPO.")]
    BadRepository,
    #[error("The workflow must be a file name such as release.yml.")]
    BadWorkflow,
    #[error(
        "'{0}' is not a trusted issuer on this server; the administrator sets trusted_issuers."
    )]
    UntrustedIssuer(String),
    #[error("You can add policies only for yourself or an organisation you administer; '{0}' is neither.")]
    NotYours(String),
    #[error("There is no trusted publishing policy with id {0}.")]
    NoSuchPolicy(i64),
    #[error("{0}")]
    Subject(#[from] SubjectError),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl TrustError {
    /// Whether this is an outage rather than a request to correct.
    pub fn is_outage(&self) -> bool {
        match self {
            TrustError::Database(_) => true,
            TrustError::Key(e) => e.is_outage(),
            TrustError::Token(TokenRefused::IssuerUnreachable { .. }) => true,
            _ => false,
        }
    }
}

impl From<TrustError> for ApiError {
    fn from(error: TrustError) -> ApiError {
        match error {
            TrustError::Database(e) => e.into(),
            TrustError::Key(e) => e.into(),
            TrustError::Token(TokenRefused::IssuerUnreachable { issuer, reason }) => {
                ApiError::Unavailable(format!(
                    "the signing keys of the issuer '{issuer}' cannot be fetched ({reason})"
                ))
            }
            refused @ (TrustError::Token(_)
            | TrustError::Replayed
            | TrustError::NoPolicy(_)
            | TrustError::CreatorGone(_)) => ApiError::BearerRefused(refused.to_string()),
            TrustError::NoSuchPolicy(_) => ApiError::NotFound(error.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// A key issued by an exchange.
pub struct IssuedKey {
    pub plaintext: String,
    pub expires_at: i64,
}

/// The trusted-publishing service.
#[derive(Clone)]
pub struct TrustService {
    db: Db,
    verifier: Arc<OidcVerifier>,
    keys: KeyService,
    mail: MailContext,
    audit: AuditLog,
}

impl TrustService {
    /// `verifier` knows the trusted issuers and this server's audience.
    pub fn new(
        db: Db,
        verifier: Arc<OidcVerifier>,
        keys: KeyService,
        mail: MailContext,
        audit: AuditLog,
    ) -> TrustService {
        TrustService {
            db,
            verifier,
            keys,
            mail,
            audit,
        }
    }

    /// The audience CI tokens must be requested for.
    pub fn audience(&self) -> &str {
        self.verifier.audience()
    }

    /// Adds a policy for `spec.owner` (the actor, or an organisation the actor administers); the actor
    /// and the organisation's administrators are emailed.
    pub async fn add_policy(
        &self,
        actor: &User,
        spec: &PolicySpec,
    ) -> Result<TrustPolicy, TrustError> {
        let owner = match spec
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            None => actor.clone(),
            Some(name) if name.eq_ignore_ascii_case(&actor.username) => actor.clone(),
            Some(name) => {
                let org = db::users::by_username(self.db.pool(), name)
                    .await?
                    .filter(User::is_organization)
                    .ok_or_else(|| TrustError::NotYours(name.to_string()))?;
                let role = db::orgs::role_of(self.db.pool(), org.id, actor.id).await?;
                if !role.is_some_and(|r| r.manages()) {
                    return Err(TrustError::NotYours(org.username));
                }
                org
            }
        };
        self.store_policy(actor, &owner, spec).await
    }

    /// Adds a policy from the command line: for a user, made by them; for an organisation, by its
    /// first administrator (whose membership the keys then depend on).
    pub async fn add_policy_as_operator(
        &self,
        spec: &PolicySpec,
    ) -> Result<TrustPolicy, TrustError> {
        let name = spec.owner.clone().unwrap_or_default();
        let owner = db::users::by_username(self.db.pool(), name.trim())
            .await?
            .ok_or_else(|| TrustError::NotYours(name.clone()))?;
        let creator = if owner.is_organization() {
            db::orgs::members(self.db.pool(), owner.id)
                .await?
                .into_iter()
                .find(|(_, role)| role.manages())
                .map(|(admin, _)| admin)
                .ok_or_else(|| TrustError::CreatorGone(owner.username.clone()))?
        } else {
            owner.clone()
        };
        self.store_policy(&creator, &owner, spec).await
    }

    async fn store_policy(
        &self,
        creator: &User,
        owner: &User,
        spec: &PolicySpec,
    ) -> Result<TrustPolicy, TrustError> {
        let repository = spec.repository.trim();
        let parts: Vec<&str> = repository.split('/').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.trim().is_empty() || p.contains(' ')) {
            return Err(TrustError::BadRepository);
        }
        let workflow = spec.workflow.trim();
        if workflow.is_empty() || workflow.contains('/') || workflow.contains('@') {
            return Err(TrustError::BadWorkflow);
        }
        let issuer = match spec
            .issuer
            .as_deref()
            .map(|i| i.trim().trim_end_matches('/'))
        {
            None | Some("") => self
                .verifier
                .issuers()
                .first()
                .cloned()
                .ok_or_else(|| TrustError::UntrustedIssuer("(none configured)".into()))?,
            Some(issuer) if self.verifier.issuers().iter().any(|i| i == issuer) => {
                issuer.to_string()
            }
            Some(issuer) => return Err(TrustError::UntrustedIssuer(issuer.to_string())),
        };
        let mut subjects = Vec::new();
        for subject in spec
            .packages
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            if subject.contains('*') {
                validate_glob(subject)?;
            } else {
                validate_subject(subject)?;
            }
            subjects.push(subject.to_string());
        }
        if subjects.is_empty() {
            subjects.push("*".to_string());
        }
        let environment = spec
            .environment
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let id = db::trust::insert(
            self.db.pool(),
            &NewTrustPolicy {
                owner_id: owner.id,
                created_by: creator.id,
                issuer: &issuer,
                repository,
                workflow,
                environment,
                subjects: &subjects,
                created_at: db::now(),
            },
        )
        .await?;
        let policy = db::trust::by_id(self.db.pool(), id)
            .await?
            .ok_or(TrustError::NoSuchPolicy(id))?;
        self.audit
            .record(
                Event::new(AuditAction::TrustPolicyAdd)
                    .by(creator)
                    .for_owner(owner)
                    .detail(describe(&policy)),
            )
            .await;
        for recipient in self.people_of(owner, creator).await? {
            let email = messages::trust_policy_added(&self.mail, &recipient, &describe(&policy));
            mail::enqueue(&self.db, &email).await?;
        }
        Ok(policy)
    }

    /// Who hears of an owner's policies: the creator, and an organisation's administrators.
    async fn people_of(&self, owner: &User, creator: &User) -> Result<Vec<User>, TrustError> {
        let mut people = vec![creator.clone()];
        if owner.is_organization() {
            for (admin, role) in db::orgs::members(self.db.pool(), owner.id).await? {
                if role.manages() && admin.id != creator.id {
                    people.push(admin);
                }
            }
        }
        Ok(people)
    }

    /// The policies `actor` may see and remove: their own and those of organisations they administer.
    pub async fn policies(&self, actor: &User) -> Result<Vec<TrustPolicy>, TrustError> {
        let pool = self.db.pool();
        let mut policies = db::trust::for_owner(pool, actor.id).await?;
        for (org, role) in db::orgs::of_user(pool, actor.id).await? {
            if role.manages() {
                policies.extend(db::trust::for_owner(pool, org.id).await?);
            }
        }
        Ok(policies)
    }

    /// Every policy (the command line).
    pub async fn all_policies(&self) -> Result<Vec<TrustPolicy>, TrustError> {
        Ok(db::trust::all(self.db.pool()).await?)
    }

    /// Removes a policy `actor` may see (`None`: the operator, any policy). Keys it issued live out
    /// their hour.
    pub async fn remove_policy(
        &self,
        actor: Option<&User>,
        id: i64,
    ) -> Result<TrustPolicy, TrustError> {
        let policy = match actor {
            Some(actor) => self.policies(actor).await?.into_iter().find(|p| p.id == id),
            None => db::trust::by_id(self.db.pool(), id).await?,
        }
        .ok_or(TrustError::NoSuchPolicy(id))?;
        db::trust::delete(self.db.pool(), id).await?;
        let mut event = Event::new(AuditAction::TrustPolicyRemove);
        if let Some(actor) = actor {
            event = event.by(actor);
        }
        if let Some(owner) = db::users::by_id(self.db.pool(), policy.owner_id).await? {
            event = event.for_owner(&owner);
        }
        self.audit.record(event.detail(describe(&policy))).await;
        Ok(policy)
    }

    /// Trades a CI identity token for a one-hour key acting for `username`, when one of that owner's
    /// policies matches the token. Each token is taken once.
    pub async fn exchange(&self, token: &str, username: &str) -> Result<IssuedKey, TrustError> {
        let now = self.db.now();
        let identity = self.verifier.verify(token, now).await?;
        let username = username.trim();
        let pool = self.db.pool();
        let no_policy = || TrustError::NoPolicy(username.to_string());
        let owner = db::users::by_username(pool, username)
            .await?
            .ok_or_else(no_policy)?;
        let policy = db::trust::for_owner(pool, owner.id)
            .await?
            .into_iter()
            .find(|p| matches(p, &identity))
            .ok_or_else(no_policy)?;
        let creator = db::users::by_id(pool, policy.created_by)
            .await?
            .ok_or_else(|| TrustError::CreatorGone(owner.username.clone()))?;
        let org = if owner.is_organization() {
            if db::orgs::role_of(pool, owner.id, creator.id)
                .await?
                .is_none()
            {
                return Err(TrustError::CreatorGone(owner.username));
            }
            Some(&owner)
        } else {
            None
        };
        match db::trust::mark_token_used(pool, &identity.token_hash, identity.expires_at).await {
            Ok(()) => {}
            Err(e) if db::is_unique_violation(&e) => return Err(TrustError::Replayed),
            Err(e) => return Err(e.into()),
        }
        let provenance = identity.provenance();
        if db::trust::lock(
            pool,
            policy.id,
            &identity.repository_id,
            &identity.repository_owner_id,
        )
        .await?
        {
            for recipient in self.people_of(&owner, &creator).await? {
                let email = messages::trust_policy_first_use(
                    &self.mail,
                    &recipient,
                    &describe(&policy),
                    &provenance,
                );
                mail::enqueue(&self.db, &email).await?;
            }
        }
        db::trust::touch(pool, policy.id, now).await?;
        let (key, plaintext) = self
            .keys
            .issue_trusted(
                &creator,
                org,
                &policy.subjects,
                &provenance,
                TRUSTED_KEY_SECS,
            )
            .await?;
        self.audit
            .record(
                Event::new(AuditAction::TrustExchange)
                    .with_key(&creator, &key)
                    .detail(provenance),
            )
            .await;
        Ok(IssuedKey {
            plaintext,
            expires_at: now + TRUSTED_KEY_SECS,
        })
    }

    /// Forgets exchanged tokens past their expiry and deletes trusted keys expired a day ago.
    pub async fn sweep(&self) -> Result<u64, TrustError> {
        let now = self.db.now();
        let tokens =
            db::trust::forget_tokens_before(self.db.pool(), now - super::oidc::CLOCK_SKEW_SECS)
                .await?;
        let keys =
            db::keys::delete_expired_trusted(self.db.pool(), now - crate::model::key::DAY).await?;
        Ok(tokens + keys)
    }
}

/// Whether a policy covers the identity: issuer, repository, workflow and environment by name, and,
/// once locked, the repository's and its owner's IDs (a recreated repository of the same name differs).
fn matches(policy: &TrustPolicy, identity: &Identity) -> bool {
    policy.issuer.trim_end_matches('/') == identity.issuer.trim_end_matches('/')
        && policy.repository.eq_ignore_ascii_case(&identity.repository)
        && policy.workflow.eq_ignore_ascii_case(&identity.workflow)
        && policy.environment.as_deref().is_none_or(|wanted| {
            identity
                .environment
                .as_deref()
                .is_some_and(|env| env.eq_ignore_ascii_case(wanted))
        })
        && policy
            .repository_id
            .as_deref()
            .is_none_or(|id| id == identity.repository_id)
        && policy
            .repository_owner_id
            .as_deref()
            .is_none_or(|id| id == identity.repository_owner_id)
}

/// "octo/app, workflow release.yml, environment release, for packages Contoso.*", for emails and records.
pub fn describe(policy: &TrustPolicy) -> String {
    let mut text = format!("{}, workflow {}", policy.repository, policy.workflow);
    if let Some(env) = &policy.environment {
        text.push_str(&format!(", environment {env}"));
    }
    text.push_str(&format!(
        ", for {}'s packages {}",
        policy.owner,
        policy.subjects.join(", ")
    ));
    text
}
