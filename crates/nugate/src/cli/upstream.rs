//! `nugate upstream …`: which IDs upstream feeds may supply, and the packages cached from them.

use clap::Subcommand;

use crate::model::upstream::UpstreamRule;
use crate::state::AppState;

/// `nugate upstream …`
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Show the configured upstreams and every rule.
    List,
    /// Never take an ID (or glob such as Evil.*) from any upstream.
    Block { pattern: String },
    /// Remove a block.
    Unblock { pattern: String },
    /// Let an allow-list upstream supply an ID (or glob).
    Approve { pattern: String },
    /// Withdraw an approval.
    Unapprove { pattern: String },
    /// Say whether each upstream may supply ID, and if not, why.
    Check { id: String },
    /// Remove every cached version of ID (fetched again on the next request unless blocked).
    Forget { id: String },
}

/// Runs a `nugate upstream` command.
pub async fn upstream_command(state: AppState, cmd: UpstreamCommand) -> anyhow::Result<()> {
    let packages = &state.packages;
    match cmd {
        UpstreamCommand::List => {
            let labels: Vec<&str> = packages.upstreams().labels().collect();
            if labels.is_empty() {
                println!("No upstream feeds are configured (see `upstreams` in the README).");
            }
            for (config, label) in state.config.upstreams.iter().zip(labels) {
                println!(
                    "upstream {label}  {}  ({})",
                    config.url,
                    config.mode.as_str()
                );
            }
            for (rule, pattern) in packages.upstream_rules().await? {
                println!("{}  {pattern}", rule.as_str());
            }
        }
        UpstreamCommand::Block { pattern } => {
            packages
                .add_upstream_rule(UpstreamRule::Block, &pattern)
                .await?;
            eprintln!("'{}' is never taken from an upstream feed.", pattern.trim());
        }
        UpstreamCommand::Unblock { pattern } => {
            packages
                .remove_upstream_rule(UpstreamRule::Block, &pattern)
                .await?;
            eprintln!("'{}' is no longer blocked.", pattern.trim());
        }
        UpstreamCommand::Approve { pattern } => {
            packages
                .add_upstream_rule(UpstreamRule::Approve, &pattern)
                .await?;
            eprintln!(
                "'{}' may come from allow-list upstream feeds.",
                pattern.trim()
            );
        }
        UpstreamCommand::Unapprove { pattern } => {
            packages
                .remove_upstream_rule(UpstreamRule::Approve, &pattern)
                .await?;
            eprintln!("'{}' is no longer approved.", pattern.trim());
        }
        UpstreamCommand::Check { id } => {
            let verdicts = packages.upstream_verdicts(id.trim()).await?;
            if verdicts.is_empty() {
                println!("No upstream feeds are configured.");
            }
            for v in verdicts {
                match v.withheld {
                    None => println!("{}: may supply {}", v.upstream, id.trim()),
                    Some(why) => println!("{}: withheld: {why}", v.upstream),
                }
            }
        }
        UpstreamCommand::Forget { id } => {
            let removed = packages.forget_cached(&id).await?;
            eprintln!(
                "Removed {} cached version(s) of {}: {}",
                removed.len(),
                id.trim(),
                removed.join(", ")
            );
        }
    }
    Ok(())
}
