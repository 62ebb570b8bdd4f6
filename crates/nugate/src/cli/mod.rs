//! The `nugate` command line: every subcommand reads the same layered configuration and calls the same
//! services as the HTTP server.

use std::io::Read;
use std::path::PathBuf;

mod advisories;
mod audit;
mod orgs;
pub mod tls;
mod trust;
mod upstream;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::app::{self, AppState};
use crate::auth::keys::{self, KeyScope};
use crate::config::{Config, ConfigFlags};
use crate::db::{self, keys::ApiKeyRow, Db};
use crate::model::key::status_label;
use crate::storage::{migrate, PackageStorage};
use orgs::{OrgCommand, PrefixCommand};
use tls::TlsCommand;

/// `nugate --version`: the release and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("NUGATE_COMMIT"), ")");

/// A NuGet feed server with scoped, hashed, expiring API keys.
#[derive(Debug, Parser)]
#[command(name = "nugate", version = VERSION, about)]
pub struct Cli {
    /// Configuration file [default: ./nugate.toml when present]
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub flags: ConfigFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the data folder and migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage packages and their owners.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Manage organisations, their members and keys.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Reserve package ID prefixes for an owner.
    #[command(subcommand)]
    Prefix(PrefixCommand),
    /// Take a consistent backup while the server runs (incremental: unchanged files are not copied).
    Backup {
        /// The backup folder (created if missing; an earlier backup there is updated).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new, empty installation (the configured data folder, database, storage).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Check a live installation: every version's files present with their recorded size and hash, and
    /// no stray files (reported; deleted only with --fix). Exits non-zero when anything is wrong.
    Check {
        #[arg(long)]
        fix: bool,
    },
    /// Move package files between storages.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Move the database between backends.
    #[command(subcommand)]
    Db(DbCommand),
    /// Certificates for nugate's own https.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// The audit trail: who did what, with which key, from where.
    Audit(audit::AuditArgs),
    /// Trusted publishing: CI workflows that may obtain one-hour keys without a stored secret.
    #[command(subcommand)]
    Trust(trust::TrustCommand),
    /// Upstream feeds: block or approve IDs, check one, remove cached packages.
    #[command(subcommand)]
    Upstream(upstream::UpstreamCommand),
}

/// `nugate user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a confirmed user; the password is read from standard input.
    Create {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// `nugate key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a scoped key and print it (only the key, on standard output).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// push, push-version or unlist (repeatable)
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// A package ID the key may act on (repeatable)
        #[arg(long = "package")]
        packages: Vec<String>,
        /// A glob such as Contoso.* (repeatable)
        #[arg(long = "glob")]
        globs: Vec<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// The organisation the key acts for (default: the user's own packages)
        #[arg(long)]
        owner: Option<String>,
    },
    /// List a user's keys (never their secrets).
    List {
        #[arg(long)]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Replace a key's package scope (its actions and expiry cannot change).
    Edit {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long = "package")]
        packages: Vec<String>,
        #[arg(long = "glob")]
        globs: Vec<String>,
    },
    /// Issue a new secret for a key and print it; the old one stops working at once.
    Regenerate {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
    /// Expire a key now; it stays listed as revoked.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
    /// Revoke keys reported as leaked, read from standard input one per line, and email their users.
    /// Lines that are not live keys of this server are ignored without a word.
    RevokeLeaked,
    /// Delete a key for good (legacy keys too).
    Delete {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
    /// Store an existing key from another server (read from standard input) as a full-access legacy key.
    ImportLegacy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
    },
}

/// `nugate package …`
#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Add an owner (a user or an organisation) to a package ID.
    AddOwner { id: String, user: String },
    /// Remove an owner (never the last one).
    RemoveOwner { id: String, user: String },
    /// List package IDs and their owners.
    List {
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a package version for good: its database row and its stored .nupkg and .nuspec (the ID and
    /// its owners stay). For versions that must not exist at all; unlisting is the usual way.
    Delete { id: String, version: String },
    /// Deprecate the versions of ID in a range (a NuGet range; a bare version means "and above").
    Deprecate {
        id: String,
        #[arg(long)]
        versions: String,
        /// legacy, critical-bugs or other; several separated by commas
        #[arg(long, value_parser = advisories::parse_reason, value_delimiter = ',', required = true)]
        reason: Vec<crate::model::advisory::DeprecationReason>,
        #[arg(long)]
        message: Option<String>,
        /// The package to use instead: ID or ID@RANGE
        #[arg(long)]
        alternate: Option<String>,
    },
    /// Lift the deprecation of the versions of ID in a range.
    Undeprecate {
        id: String,
        #[arg(long)]
        versions: String,
    },
    /// Record or remove known vulnerabilities.
    #[command(subcommand)]
    Vulnerability(advisories::VulnerabilityCommand),
}

/// `nugate storage …`
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy every package file to another storage; resumable (identical files are skipped) and verified.
    Migrate {
        /// Source: a folder or s3://BUCKET[/prefix] (S3 settings from the AWS_* variables)
        #[arg(long)]
        from: String,
        /// Destination: a folder or s3://BUCKET[/prefix]
        #[arg(long)]
        to: String,
        /// List the files that would be copied, and copy nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `nugate db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every durable table into a new, empty database (stop the server first).
    Copy {
        /// Source database URL, e.g. sqlite://nugate-data/nugate.db
        #[arg(long)]
        from: String,
        /// Destination database URL, e.g. postgres://user@host/nugate (created empty beforehand)
        #[arg(long)]
        to: String,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), &cli.flags)?;
    match cli.command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
            let redirect = match config.redirect_http_listen {
                Some(addr) => Some(app::bind_redirect(addr).await?),
                None => None,
            };
            let state = AppState::open(config).await?;
            tracing::info!(
                listen = %listener.local_addr()?,
                tls = state.config.serves_tls(),
                redirect_http_listen = ?state.config.redirect_http_listen,
                url = %state.config.base_url(),
                feed = %format!("{}/v3/index.json", state.config.base_url()),
                "nugate is serving"
            );
            app::serve_with_redirect(state, listener, redirect).await
        }
        Command::Tls(TlsCommand::SelfSigned { host, out }) => {
            let out = out.unwrap_or_else(|| config.data_dir.join("tls"));
            println!("{}", tls::write(&host, &out, config.listen.port())?);
            Ok(())
        }
        Command::Migrate => {
            AppState::open(config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::User(cmd) => user_command(AppState::open(config).await?, cmd).await,
        Command::Key(cmd) => key_command(AppState::open(config).await?, cmd).await,
        Command::Package(cmd) => package_command(AppState::open(config).await?, cmd).await,
        Command::Backup { out } => {
            let state = AppState::open(config).await?;
            let report = crate::backup::backup(&state.db, state.packages.storage(), &out).await?;
            eprintln!("{report} into {}", out.display());
            Ok(())
        }
        Command::Restore { from } => {
            let files = crate::backup::restore(&from, &config).await?;
            eprintln!(
                "restored the database and {files} files from {} into {}",
                from.display(),
                config.data_dir.display()
            );
            Ok(())
        }
        Command::Check { fix } => {
            let state = AppState::open(config).await?;
            let report = crate::backup::check(&state.db, state.packages.storage(), fix).await?;
            for path in &report.missing {
                println!("missing\t{path}");
            }
            for path in &report.corrupt {
                println!("corrupt\t{path}");
            }
            for path in &report.orphans {
                println!("orphan\t{path}");
            }
            eprintln!(
                "checked {} versions: {} missing, {} corrupt, {} orphaned files{}",
                report.versions,
                report.missing.len(),
                report.corrupt.len(),
                report.orphans.len(),
                if fix {
                    format!(" ({} removed)", report.removed)
                } else {
                    String::new()
                }
            );
            let fixed = fix && report.missing.is_empty() && report.corrupt.is_empty();
            if report.healthy() || fixed {
                Ok(())
            } else {
                anyhow::bail!("the installation is not consistent")
            }
        }
        Command::Org(cmd) => orgs::org_command(AppState::open(config).await?, cmd).await,
        Command::Audit(args) => audit::audit_command(AppState::open(config).await?, args).await,
        Command::Trust(cmd) => trust::trust_command(AppState::open(config).await?, cmd).await,
        Command::Upstream(cmd) => {
            upstream::upstream_command(AppState::open(config).await?, cmd).await
        }
        Command::Prefix(cmd) => orgs::prefix_command(AppState::open(config).await?, cmd).await,
        // These name both ends explicitly; the configuration is parsed (so a broken file still reports)
        // but never opened, so they cannot create a data folder by accident.
        Command::Storage(cmd) => storage_command(cmd).await,
        Command::Db(cmd) => db_command(cmd).await,
    }
}

async fn storage_command(cmd: StorageCommand) -> anyhow::Result<()> {
    match cmd {
        StorageCommand::Migrate { from, to, dry_run } => {
            let source = PackageStorage::from_url(&from)?;
            let destination = PackageStorage::from_url(&to)?;
            if dry_run {
                let plan = migrate::plan_storage_migration(&source, &destination).await?;
                let bytes: u64 = plan.iter().map(|p| p.size).sum();
                for item in &plan {
                    println!(
                        "would copy {} ({} bytes, {})",
                        item.path, item.size, item.reason
                    );
                }
                println!(
                    "dry run: would copy {} file{} ({bytes} bytes) from {from} to {to}",
                    plan.len(),
                    if plan.len() == 1 { "" } else { "s" }
                );
            } else {
                let report = migrate::migrate_storage(&source, &destination).await?;
                println!("{report} from {from} to {to}");
            }
        }
    }
    Ok(())
}

async fn db_command(cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Copy { from, to } => {
            let source = Db::open(&from).await?;
            let destination = Db::open(&to).await?;
            let report = db::copy::copy_database(&source, &destination).await?;
            println!("{report}");
            println!(
                "copied {} to {}",
                db::redact_url(&from),
                db::redact_url(&to)
            );
        }
    }
    Ok(())
}

fn read_stdin_line() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    Ok(input.lines().next().unwrap_or("").to_string())
}

async fn user_command(state: AppState, cmd: UserCommand) -> anyhow::Result<()> {
    let users = &state.users;
    match cmd {
        UserCommand::Create {
            name, email, admin, ..
        } => {
            let password = read_stdin_line()?;
            let user = users.create(&name, &email, &password, admin, true).await?;
            eprintln!("created user '{}'", user.username);
        }
        UserCommand::List { json } => {
            let list = users.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for u in list {
                    println!(
                        "{}\t{}{}",
                        u.username,
                        u.email,
                        if u.is_admin { "\tadmin" } else { "" }
                    );
                }
            }
        }
    }
    Ok(())
}

async fn key_command(state: AppState, cmd: KeyCommand) -> anyhow::Result<()> {
    let users = &state.users;
    let engine = &state.keys;
    match cmd {
        KeyCommand::Create {
            user,
            name,
            scopes,
            packages,
            globs,
            expires_in_days,
            owner,
        } => {
            let user = users.get(&user).await?;
            let scope = KeyScope {
                owner,
                actions: keys::parse_actions(&scopes)?,
                packages,
                globs,
            };
            let (_, plaintext) = engine.create(&user, &name, &scope, expires_in_days).await?;
            println!("{plaintext}");
            eprintln!("Copy this key now: it will not be shown again.");
        }
        KeyCommand::List { user, json } => {
            let user = users.get(&user).await?;
            let list = engine.list(&user).await?;
            let now = db::now();
            if json {
                let rows: Vec<_> = list.iter().map(|k| key_json(k, now)).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for k in &list {
                    println!("{}", key_line(k, now));
                }
            }
        }
        KeyCommand::Edit {
            user,
            name,
            packages,
            globs,
        } => {
            let user = users.get(&user).await?;
            let key = engine.edit(&user, &name, &packages, &globs).await?;
            eprintln!(
                "updated the package scope of '{name}': {}",
                key.subjects.join(", ")
            );
        }
        KeyCommand::Regenerate { user, name } => {
            let user = users.get(&user).await?;
            let (_, plaintext) = engine.regenerate(&user, &name).await?;
            println!("{plaintext}");
            eprintln!("The previous secret no longer works. Copy this key now: it will not be shown again.");
        }
        KeyCommand::Revoke { user, name } => {
            let user = users.get(&user).await?;
            engine.revoke(&user, &name).await?;
            eprintln!("revoked '{name}'");
        }
        KeyCommand::RevokeLeaked => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
            let mut revoked = 0;
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if let crate::auth::keys::LeakOutcome::Revoked(user, key) =
                    engine.revoke_leaked(line).await?
                {
                    revoked += 1;
                    let name = key.name.as_deref().unwrap_or("(legacy key)");
                    eprintln!("revoked '{name}' of {}", user.username);
                }
            }
            eprintln!("{revoked} key(s) revoked");
        }
        KeyCommand::Delete { user, name } => {
            let user = users.get(&user).await?;
            engine.delete(&user, &name).await?;
            eprintln!("deleted '{name}'");
        }
        KeyCommand::ImportLegacy { user, name } => {
            let user = users.get(&user).await?;
            let plaintext = read_stdin_line()?;
            engine.import_legacy(&user, &name, &plaintext).await?;
            eprintln!("imported legacy key '{name}' (only its hash is stored)");
        }
    }
    Ok(())
}

/// Unix seconds as RFC 3339 for JSON output.
fn timestamp(t: Option<i64>) -> Option<String> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn key_json(k: &ApiKeyRow, now: i64) -> serde_json::Value {
    let ts = timestamp;
    json!({
        "name": k.name,
        "kind": k.kind,
        "owner": k.owner_name,
        "status": status_label(k.kind, k.status(now)),
        "scopes": k.actions,
        "packages": k.packages().collect::<Vec<_>>(),
        "globs": k.globs().collect::<Vec<_>>(),
        "created": ts(Some(k.created_at)),
        "expires": ts(k.expires_at),
        "revoked": ts(k.revoked_at),
        "last_used": ts(k.last_used_at),
    })
}

fn key_line(k: &ApiKeyRow, now: i64) -> String {
    let scopes: Vec<&str> = k.actions.iter().map(|a| a.description()).collect();
    format!(
        "{}\t{}\t{}\t{}",
        k.name(),
        status_label(k.kind, k.status(now)),
        scopes.join("; "),
        k.subjects.join(", ")
    )
}

async fn package_command(state: AppState, cmd: PackageCommand) -> anyhow::Result<()> {
    match cmd {
        PackageCommand::AddOwner { id, user } => {
            if state.packages.add_owner(&id, &user).await? {
                eprintln!("'{user}' now owns '{id}'");
            } else {
                eprintln!("'{user}' already owns '{id}'");
            }
        }
        PackageCommand::Deprecate {
            id,
            versions,
            reason,
            message,
            alternate,
        } => advisories::deprecate(state, id, versions, reason, message, alternate).await?,
        PackageCommand::Undeprecate { id, versions } => {
            advisories::undeprecate(state, id, versions).await?
        }
        PackageCommand::Vulnerability(cmd) => advisories::vulnerability(state, cmd).await?,
        PackageCommand::RemoveOwner { id, user } => {
            state.packages.remove_owner(&id, &user).await?;
            eprintln!("'{user}' no longer owns '{id}'");
        }
        PackageCommand::List { owner, json } => {
            let rows = state.packages.list_with_owners(owner.as_deref()).await?;
            if json {
                let value: Vec<_> = rows
                    .iter()
                    .map(|(id, owners)| json!({ "id": id, "owners": owners }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                for (id, owners) in rows {
                    println!("{id}\t{}", owners.join(", "));
                }
            }
        }
        PackageCommand::Delete { id, version } => {
            let deleted = state.packages.delete_version(&id, &version).await?;
            eprintln!(
                "deleted {} {}: its database row, .nupkg and .nuspec",
                deleted.id, deleted.version
            );
            if deleted.remaining_versions == 0 {
                eprintln!(
                    "no versions of '{}' remain; the ID and its owners are kept",
                    deleted.id
                );
            }
        }
    }
    Ok(())
}
