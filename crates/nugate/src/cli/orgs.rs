//! `nugate org …` and `nugate prefix …`: organisations, their members and keys, and reserved ID
//! prefixes, for the server's operator (no permission checks beyond the command line itself).

use clap::Subcommand;
use serde_json::json;

use crate::model::account::OrgRole;
use crate::model::key::status_label;
use crate::state::AppState;

/// `nugate org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation with USER as its first administrator.
    Create {
        name: String,
        /// Its first administrator.
        #[arg(long)]
        admin: String,
        /// Its contact address.
        #[arg(long)]
        email: Option<String>,
    },
    /// Add a member (or change their role) at once.
    AddMember {
        org: String,
        user: String,
        /// admin or collaborator
        #[arg(long)]
        role: String,
    },
    /// Remove a member: their keys for the organisation stop working at once.
    RemoveMember { org: String, user: String },
    /// List organisations and their members.
    List {
        #[arg(long)]
        json: bool,
    },
    /// List the keys acting for an organisation (never their secrets).
    Keys {
        org: String,
        #[arg(long)]
        json: bool,
    },
}

/// `nugate prefix …`
#[derive(Debug, Subcommand)]
pub enum PrefixCommand {
    /// Reserve an ID prefix (such as Contoso.*) for a user or an organisation.
    Reserve {
        pattern: String,
        #[arg(long)]
        owner: String,
    },
    /// List reserved prefixes.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Release a reserved prefix.
    Release { pattern: String },
}

pub async fn org_command(state: AppState, cmd: OrgCommand) -> anyhow::Result<()> {
    let orgs = &state.orgs;
    match cmd {
        OrgCommand::Create { name, admin, email } => {
            let admin = state.users.get(&admin).await?;
            let org = orgs.create(&admin, &name, email.as_deref(), true).await?;
            eprintln!(
                "created organisation '{}' with administrator '{}'",
                org.username, admin.username
            );
        }
        OrgCommand::AddMember { org, user, role } => {
            let role = OrgRole::parse(&role).ok_or_else(|| {
                anyhow::anyhow!("'{role}' is not a role; use admin or collaborator")
            })?;
            orgs.set_member(&org, &user, role).await?;
            eprintln!("'{user}' is now {} of '{org}'", role.as_str());
        }
        OrgCommand::RemoveMember { org, user } => {
            orgs.remove_member_by_operator(&org, &user).await?;
            eprintln!(
                "'{user}' is no longer a member of '{org}'; their keys for it stopped working"
            );
        }
        OrgCommand::List { json } => {
            let mut rows = Vec::new();
            for org in orgs.list().await? {
                let (members, _) = orgs.members(&org).await?;
                rows.push((org.username, members));
            }
            if json {
                let value: Vec<_> = rows
                    .iter()
                    .map(|(name, members)| {
                        let members: Vec<_> = members
                            .iter()
                            .map(|m| json!({ "user": m.username, "role": m.role.as_str() }))
                            .collect();
                        json!({ "name": name, "members": members })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for (name, members) in rows {
                    let members: Vec<String> = members
                        .iter()
                        .map(|m| format!("{} ({})", m.username, m.role.as_str()))
                        .collect();
                    println!("{name}\t{}", members.join(", "));
                }
            }
        }
        OrgCommand::Keys { org, json } => {
            let org = orgs.org(&org).await?;
            let now = crate::db::now();
            let keys = orgs.keys_of(&org).await?;
            if json {
                let value: Vec<_> = keys
                    .iter()
                    .map(|(k, maker)| {
                        json!({
                            "name": k.name(),
                            "created_by": maker,
                            "status": status_label(k.kind, k.status(now)),
                            "scopes": k.actions,
                            "packages": k.packages().collect::<Vec<_>>(),
                            "globs": k.globs().collect::<Vec<_>>(),
                            "created": super::timestamp(Some(k.created_at)),
                            "expires": super::timestamp(k.expires_at),
                            "last_used": super::timestamp(k.last_used_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for (k, maker) in keys {
                    println!(
                        "{}\t{maker}\t{}\t{}",
                        k.name(),
                        status_label(k.kind, k.status(now)),
                        k.subjects.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

pub async fn prefix_command(state: AppState, cmd: PrefixCommand) -> anyhow::Result<()> {
    match cmd {
        PrefixCommand::Reserve { pattern, owner } => {
            let reserved = state.packages.reserve_prefix(&pattern, &owner).await?;
            eprintln!(
                "reserved '{}' for '{}'",
                reserved.pattern, reserved.owner_name
            );
        }
        PrefixCommand::List { json } => {
            let prefixes = state.packages.prefixes().await?;
            if json {
                let value: Vec<_> = prefixes
                    .iter()
                    .map(|p| json!({ "pattern": p.pattern, "owner": p.owner_name }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for p in prefixes {
                    println!("{}\t{}", p.pattern, p.owner_name);
                }
            }
        }
        PrefixCommand::Release { pattern } => {
            state.packages.release_prefix(&pattern).await?;
            eprintln!("released '{pattern}'");
        }
    }
    Ok(())
}
