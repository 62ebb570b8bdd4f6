//! What a CI job's OIDC identity token says about the run that holds it, read from the token's claims
//! (GitHub Actions' names, GitLab's as the fallback). The signature and times are checked by the server
//! before these claims are believed; this part is pure, so it can be fuzzed.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a verified token says about the CI run that holds it.
#[derive(Clone, Debug)]
pub struct Identity {
    pub issuer: String,
    /// `OWNER/REPO` (GitHub), the project path (GitLab).
    pub repository: String,
    pub repository_id: String,
    pub repository_owner_id: String,
    /// The workflow file, `release.yml`.
    pub workflow: String,
    pub environment: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub sha: Option<String>,
    /// The token's identity for replay protection: issuer and `jti` (or the whole token), hashed.
    pub token_hash: String,
    pub expires_at: i64,
}

impl Identity {
    /// "octo/app · release.yml · run 42 (attempt 1) · commit 0123456789ab", for key cards and emails.
    pub fn provenance(&self) -> String {
        let mut text = format!("{} · {}", self.repository, self.workflow);
        if let Some(run) = &self.run_id {
            text.push_str(&format!(" · run {run}"));
            if let Some(attempt) = &self.run_attempt {
                text.push_str(&format!(" (attempt {attempt})"));
            }
        }
        if let Some(sha) = &self.sha {
            let short: String = sha.chars().take(12).collect();
            text.push_str(&format!(" · commit {short}"));
        }
        if let Some(env) = &self.environment {
            text.push_str(&format!(" · environment {env}"));
        }
        text
    }
}

/// A claim GitHub sends as a string and other issuers as a number.
fn text_claim<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The claims read, GitHub's names first, GitLab's as the fallback.
#[derive(Deserialize)]
pub struct Claims {
    pub iss: String,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    pub repository: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub repository_id: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub repository_owner_id: Option<String>,
    pub workflow_ref: Option<String>,
    pub job_workflow_ref: Option<String>,
    pub environment: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub run_id: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub run_attempt: Option<String>,
    pub sha: Option<String>,
    pub project_path: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub namespace_id: Option<String>,
    pub ci_config_ref_uri: Option<String>,
    #[serde(default, deserialize_with = "text_claim")]
    pub pipeline_id: Option<String>,
}

/// The file name of a workflow reference: `octo/app/.github/workflows/release.yml@refs/heads/main` →
/// `release.yml`; GitLab's `gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main` → `.gitlab-ci.yml`.
pub fn workflow_file(reference: &str) -> &str {
    let path = reference.split('@').next().unwrap_or(reference);
    path.rsplit('/').next().unwrap_or(path)
}

/// Reads a token's payload (JSON) as [`identity`] does after verification; for tests and fuzzing.
pub fn identity_from_json(payload: &[u8], token: &str) -> Result<Identity, String> {
    let claims: Claims = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    identity(claims, token).map_err(|claim| format!("the token lacks the '{claim}' claim"))
}

/// The identity in verified claims, with GitLab's names where GitHub's are missing.
pub fn identity(claims: Claims, token: &str) -> Result<Identity, &'static str> {
    let repository = claims
        .repository
        .or(claims.project_path)
        .ok_or("repository")?;
    let repository_id = claims
        .repository_id
        .or(claims.project_id)
        .ok_or("repository_id")?;
    let repository_owner_id = claims
        .repository_owner_id
        .or(claims.namespace_id)
        .ok_or("repository_owner_id")?;
    let reference = claims
        .workflow_ref
        .or(claims.job_workflow_ref)
        .or(claims.ci_config_ref_uri)
        .ok_or("workflow_ref")?;
    let once = match &claims.jti {
        Some(jti) => format!("{}\n{jti}", claims.iss),
        None => token.to_string(),
    };
    Ok(Identity {
        issuer: claims.iss,
        repository,
        repository_id,
        repository_owner_id,
        workflow: workflow_file(&reference).to_string(),
        environment: claims.environment.filter(|e| !e.is_empty()),
        run_id: claims.run_id.or(claims.pipeline_id),
        run_attempt: claims.run_attempt,
        sha: claims.sha,
        token_hash: data_encoding::HEXLOWER.encode(&Sha256::digest(once.as_bytes())),
        expires_at: claims.exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_and_gitlab_claims_give_one_identity() {
        let github = br#"{"iss":"https://token.actions.githubusercontent.com","exp":1,"jti":"j",
            "repository":"octo/app","repository_id":"101","repository_owner_id":7,
            "workflow_ref":"octo/app/.github/workflows/release.yml@refs/heads/main","run_id":"42",
            "sha":"0123456789abcdef","environment":""}"#;
        let id = identity_from_json(github, "t").unwrap();
        assert_eq!(id.repository_owner_id, "7");
        assert_eq!(id.workflow, "release.yml");
        assert_eq!(id.environment, None);
        assert_eq!(
            id.provenance(),
            "octo/app · release.yml · run 42 · commit 0123456789ab"
        );
        let gitlab = br#"{"iss":"https://gitlab.com","exp":1,"project_path":"g/app","project_id":5,
            "namespace_id":"9","ci_config_ref_uri":"gitlab.com/g/app//.gitlab-ci.yml@refs/heads/main",
            "pipeline_id":77}"#;
        let id = identity_from_json(gitlab, "t").unwrap();
        assert_eq!(
            (id.repository.as_str(), id.workflow.as_str()),
            ("g/app", ".gitlab-ci.yml")
        );
        assert_eq!(id.run_id.as_deref(), Some("77"));
        assert!(identity_from_json(br#"{"iss":"x","exp":1}"#, "t")
            .unwrap_err()
            .contains("'repository'"));
        // The same jti from the same issuer is the same token, whatever else differs.
        let a = identity_from_json(github, "one").unwrap();
        let b = identity_from_json(github, "two").unwrap();
        assert_eq!(a.token_hash, b.token_hash);
    }

    #[test]
    fn workflow_files_are_read_from_github_and_gitlab_references() {
        assert_eq!(
            workflow_file("octo/app/.github/workflows/release.yml@refs/heads/main"),
            "release.yml"
        );
        assert_eq!(
            workflow_file("gitlab.com/group/app//.gitlab-ci.yml@refs/heads/main"),
            ".gitlab-ci.yml"
        );
        assert_eq!(workflow_file("ci.yml"), "ci.yml");
    }
}
