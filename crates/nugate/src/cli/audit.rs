//! `nugate audit`: the audit trail for the server's operator, filtered, as a table or JSON.

use crate::audit::{describe, when, AuditSearch};
use crate::state::AppState;

/// `nugate audit` filters.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Actions of this user.
    #[arg(long)]
    user: Option<String>,
    /// Actions for this owner (an organisation, or a user's own packages).
    #[arg(long)]
    owner: Option<String>,
    /// Uses of keys with this name.
    #[arg(long)]
    key: Option<String>,
    /// Actions on this package ID.
    #[arg(long)]
    package: Option<String>,
    /// From this date (YYYY-MM-DD, UTC) or time (RFC 3339) on.
    #[arg(long)]
    since: Option<String>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 1000)]
    limit: i64,
    /// One JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the records the filters select.
pub async fn audit_command(state: AppState, args: AuditArgs) -> anyhow::Result<()> {
    let records = state
        .audit
        .search(&AuditSearch {
            user: args.user,
            owner: args.owner,
            key: args.key,
            package: args.package,
            since: args.since,
            limit: args.limit.max(1),
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
        return Ok(());
    }
    if records.is_empty() {
        println!("No audit records match.");
        return Ok(());
    }
    for record in &records {
        println!("{}  {}", when(record.at), describe(record));
    }
    Ok(())
}
