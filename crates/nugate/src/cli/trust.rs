//! `nugate trust …`: trusted-publishing policies, for the server's operator.

use clap::Subcommand;

use crate::auth::trusted::{describe, PolicySpec};
use crate::state::AppState;

/// `nugate trust …`
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Let a CI workflow obtain one-hour keys acting for OWNER.
    Add {
        /// The user or organisation whose packages the keys act on.
        #[arg(long)]
        owner: String,
        /// The OIDC issuer (one of trusted_issuers; default the first, GitHub Actions).
        #[arg(long)]
        issuer: Option<String>,
        /// OWNER/REPO.
        #[arg(long)]
        repository: String,
        /// The workflow file, e.g. release.yml.
        #[arg(long)]
        workflow: String,
        /// Only runs in this deployment environment.
        #[arg(long)]
        environment: Option<String>,
        /// Package IDs or globs the keys may push to (default every package of the owner).
        #[arg(long = "package")]
        packages: Vec<String>,
    },
    /// List every policy.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a policy by id; keys it issued live out their hour.
    Remove { id: i64 },
}

/// Runs a `nugate trust` command.
pub async fn trust_command(state: AppState, cmd: TrustCommand) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::Add {
            owner,
            issuer,
            repository,
            workflow,
            environment,
            packages,
        } => {
            let policy = state
                .trust
                .add_policy_as_operator(&PolicySpec {
                    owner: Some(owner),
                    issuer,
                    repository,
                    workflow,
                    environment,
                    packages,
                })
                .await?;
            eprintln!(
                "Added trusted publishing policy {}: {} (tokens for the audience {})",
                policy.id,
                describe(&policy),
                state.trust.audience()
            );
        }
        TrustCommand::List { json } => {
            let policies = state.trust.all_policies().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&policies)?);
            } else if policies.is_empty() {
                println!("No trusted publishing policies.");
            } else {
                for p in &policies {
                    let locked = if p.repository_id.is_some() {
                        "bound to its repository"
                    } else {
                        "not used yet"
                    };
                    println!("{}  {}  (issuer {}, {locked})", p.id, describe(p), p.issuer);
                }
            }
        }
        TrustCommand::Remove { id } => {
            let policy = state.trust.remove_policy(None, id).await?;
            eprintln!(
                "Removed trusted publishing policy {id}: {}",
                describe(&policy)
            );
        }
    }
    Ok(())
}
