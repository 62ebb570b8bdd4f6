//! `nugate package deprecate|undeprecate|vulnerability …`: what owners and administrators record about
//! versions, through the package service the server uses.

use clap::Subcommand;

use crate::app::AppState;
use crate::model::advisory::{DeprecationReason, DeprecationReasons, Severity};
use crate::packages::advisories::DeprecationRequest;

/// Parses `legacy`, `critical-bugs` or `other`.
pub fn parse_reason(text: &str) -> Result<DeprecationReason, String> {
    DeprecationReason::from_stored(&text.to_ascii_lowercase())
        .ok_or_else(|| format!("'{text}' is not a reason: use legacy, critical-bugs or other"))
}

/// Parses `low`, `moderate`, `high` or `critical`.
pub fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::from_stored(&text.to_ascii_lowercase())
        .ok_or_else(|| format!("'{text}' is not a severity: use low, moderate, high or critical"))
}

/// `nugate package vulnerability …`
#[derive(Debug, Subcommand)]
pub enum VulnerabilityCommand {
    /// Record that the versions of ID in a range have the vulnerability an advisory describes.
    Add {
        id: String,
        /// A NuGet version range, e.g. "[1.0.0, 1.2.3)" or "[1.0.0]" (a bare version means "and above")
        #[arg(long)]
        versions: String,
        /// low, moderate, high or critical
        #[arg(long, value_parser = parse_severity)]
        severity: Severity,
        /// The advisory's URL
        #[arg(long)]
        url: String,
    },
    /// Remove the record of an advisory for ID.
    Remove {
        id: String,
        #[arg(long)]
        url: String,
    },
}

/// `nugate package deprecate`.
pub async fn deprecate(
    state: AppState,
    id: String,
    versions: String,
    reasons: Vec<DeprecationReason>,
    message: Option<String>,
    alternate: Option<String>,
) -> anyhow::Result<()> {
    let reasons = DeprecationReasons::of(&reasons)
        .ok_or_else(|| anyhow::anyhow!("give at least one --reason"))?;
    let done = state
        .packages
        .deprecate(
            &id,
            &versions,
            DeprecationRequest {
                reasons,
                message: message.as_deref(),
                alternate: alternate.as_deref(),
            },
        )
        .await?;
    eprintln!("deprecated {id} {}", done.join(", "));
    Ok(())
}

/// `nugate package undeprecate`.
pub async fn undeprecate(state: AppState, id: String, versions: String) -> anyhow::Result<()> {
    let done = state.packages.undeprecate(&id, &versions).await?;
    if done.is_empty() {
        eprintln!("no version of {id} in {versions} was deprecated");
    } else {
        eprintln!("{id} {} no longer deprecated", done.join(", "));
    }
    Ok(())
}

/// `nugate package vulnerability …`.
pub async fn vulnerability(state: AppState, cmd: VulnerabilityCommand) -> anyhow::Result<()> {
    match cmd {
        VulnerabilityCommand::Add {
            id,
            versions,
            severity,
            url,
        } => {
            state
                .packages
                .add_vulnerability(&id, &versions, severity, &url)
                .await?;
            eprintln!("recorded {url} ({}) for {id} {versions}", severity.as_str());
        }
        VulnerabilityCommand::Remove { id, url } => {
            state.packages.remove_vulnerability(&id, &url).await?;
            eprintln!("removed {url} from {id}");
        }
    }
    Ok(())
}
