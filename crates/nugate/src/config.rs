//! Layered configuration: built-in defaults < `nugate.toml` < `NUGATE_*` environment < command-line flags.
//!
//! Every setting has one name used in all three places (`listen`, `NUGATE_LISTEN`, `--listen`), and every
//! subcommand reads the same configuration, so `nugate key create` works on the data `nugate serve` uses.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The server's settings after all layers are merged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Socket address the HTTP server binds to.
    pub listen: SocketAddr,
    /// Base URL used for every absolute URL the server emits; derived from `listen` when unset.
    pub public_url: Option<String>,
    /// Folder for the SQLite database, package files, temporary uploads and mail.
    pub data_dir: PathBuf,
    /// Database URL; defaults to an SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    /// Where package files live: a folder (default `data_dir/packages`) or `s3://BUCKET[/prefix]`.
    pub storage_url: Option<String>,
    /// Largest accepted .nupkg, in bytes.
    pub max_package_size: u64,
    /// Upper bound for the lifetime of a new API key, in days.
    pub max_key_lifetime_days: u32,
    /// Peers whose `X-Forwarded-Proto` / `X-Forwarded-Host` headers are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Longest a single request (for example a slow upload) may take, in seconds.
    pub request_timeout_secs: u64,
    /// Longest a client may take to send a request's line and headers, in seconds, counted from the
    /// connection opening or, on a kept-alive connection, from the end of the previous response; so it is
    /// also how long an idle keep-alive connection stays open. Request bodies are not under it.
    pub header_read_timeout_secs: u64,
    /// Threads serving connections, each with its own runtime (0: one per core the process may use, as
    /// nginx's `worker_processes auto`). Fewer leave cores to other work on a shared machine.
    pub connection_threads: usize,
    /// Most connections open at once from one IP address (0: no limit). Peers in `trusted_proxies` are
    /// exempt, since behind a reverse proxy every client arrives from the proxy's address.
    pub max_connections_per_ip: u32,
    /// How stale, in milliseconds, this node's in-memory view of the feed may get before it asks the
    /// database whether another node (or the CLI) changed something. This node's own changes show at once.
    pub cache_ttl_ms: u64,
    /// Memory for rendered registration and version-list documents, in MiB (0 turns the cache off).
    pub document_cache_mb: u64,
    /// How long an S3 storage operation may retry or wait for data before the push or download fails with
    /// a 503, in seconds; well below `request_timeout_secs` so an outage gets a clear answer, not a hang.
    pub storage_timeout_secs: u64,
    /// Whether anyone may register (`open`) or only administrators create users (`closed`).
    pub signup: SignupMode,
    /// Who may read the feed: anyone (`public`), or only with a key granting `read` (`private`).
    pub read_access: ReadAccess,
    /// When set, `/metrics` answers only requests carrying `Authorization: Bearer` with this token.
    pub metrics_token: Option<String>,
    /// How log lines are written: `text` for people, `json` (one object a line) for log pipelines.
    pub log_format: LogFormat,
    /// Who may create organisations: any confirmed user (`open`) or only administrators (`admin`).
    pub org_creation: OrgCreation,
    /// Outgoing mail; without a host, mail is written as `.eml` files under `data_dir/mail/`.
    pub smtp: SmtpConfig,
    /// The server's certificate chain (PEM, leaf first). With `tls_key`, `listen` serves https itself; a
    /// renewed file at the same path is picked up by the next connection, without a restart.
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// A second, plain-http listener that answers every request with a 308 to the same path on the https
    /// URL (needs `tls_cert` and `tls_key`).
    pub redirect_http_listen: Option<SocketAddr>,
    /// Public keys that may sign reports of leaked keys to `POST /api/secret-scanning/leaks` (GitHub's
    /// secret-scanning partner program publishes its own at api.github.com/meta/public_keys/secret_scanning).
    /// None: the endpoint answers 404.
    pub secret_scanning_keys: Vec<ScanningKey>,
    /// How often each node writes the downloads it counted, in seconds.
    pub download_flush_secs: u64,
    /// Days audit records are kept; the daily sweep deletes older ones and nothing else does.
    pub audit_retention_days: u32,
    /// OIDC issuers whose identity tokens may be traded for one-hour trusted-publishing keys: https URLs
    /// (http only on a loopback address). `NUGATE_TRUSTED_ISSUERS` takes them comma-separated.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_issuers: Vec<String>,
    /// The audience trusted-publishing tokens must be issued for; default the public URL.
    pub oidc_audience: Option<String>,
    /// Feeds whose packages this feed serves too, asked in order, for IDs this feed does not have.
    pub upstreams: Vec<UpstreamConfig>,
    /// One upstream by its service index URL alone (`NUGATE_UPSTREAM_URL`), added after `upstreams`.
    pub upstream_url: Option<String>,
    /// How long what an upstream said about an ID is served before it is asked again, in seconds; the
    /// asking happens in the background, and an unreachable upstream leaves the last answer in place.
    pub upstream_cache_ttl_secs: u64,
}

/// An upstream feed: a NuGet V3 service index, optionally with credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamConfig {
    /// What pages and the CLI call it ("nuget.org"); default the URL's host.
    #[serde(default)]
    pub name: Option<String>,
    /// The V3 service index, e.g. `https://api.nuget.org/v3/index.json`.
    pub url: String,
    /// Basic credentials for an authenticated upstream (Azure Artifacts, another nugate's private feed).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// Sent as `X-NuGet-ApiKey` (another nugate's read key).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Longest one request to the upstream may take, in seconds.
    #[serde(default = "default_upstream_timeout")]
    pub timeout_secs: u64,
    /// `open`: any ID the rules do not withhold; `allow-list`: only IDs approved with
    /// `nugate upstream approve`.
    #[serde(default)]
    pub mode: UpstreamMode,
}

fn default_upstream_timeout() -> u64 {
    30
}

impl UpstreamConfig {
    /// An upstream with default settings.
    pub fn at(url: &str) -> UpstreamConfig {
        UpstreamConfig {
            name: None,
            url: url.to_string(),
            username: None,
            password: None,
            api_key: None,
            timeout_secs: default_upstream_timeout(),
            mode: UpstreamMode::Open,
        }
    }

    /// The name shown and stored with the packages cached from it: `name`, else the URL's host.
    pub fn label(&self) -> String {
        if let Some(name) = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            return name.to_string();
        }
        let rest = self
            .url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

impl UpstreamMode {
    /// The name the configuration and the CLI use.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamMode::Open => "open",
            UpstreamMode::AllowList => "allow-list",
        }
    }
}

/// Which IDs an upstream passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamMode {
    /// Every ID that is not local, reserved or blocked.
    #[default]
    Open,
    /// Only IDs an administrator approved (`nugate upstream approve ID`).
    AllowList,
}

/// GitHub Actions' issuer, trusted unless the administrator says otherwise.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// A list setting written as a list (TOML) or as one comma-separated string (the environment).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        List(Vec<String>),
        Commas(String),
    }
    let items = match Given::deserialize(d)? {
        Given::List(items) => items,
        Given::Commas(text) => text.split(',').map(str::to_string).collect(),
    };
    Ok(items
        .into_iter()
        .map(|i| i.trim().trim_end_matches('/').to_string())
        .filter(|i| !i.is_empty())
        .collect())
}

/// Whether an OIDC issuer URL may be trusted: https, or plain http to a loopback address (tests, and an
/// issuer on the same machine).
pub fn issuer_url_allowed(url: &str) -> bool {
    if url.starts_with("https://") && url.len() > "https://".len() {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A public key that signs leak reports, as GitHub publishes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanningKey {
    pub key_identifier: String,
    /// ECDSA P-256 public key, PEM.
    pub key: String,
}

/// Who may create accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignupMode {
    /// Anyone may sign up (the first user becomes administrator).
    #[default]
    Open,
    /// Only administrators create users.
    Closed,
}

/// Who may read the feed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadAccess {
    /// Anyone, anonymously.
    #[default]
    Public,
    /// Protocol reads need an API key with the `read` scope (as the Basic password or in
    /// `X-NuGet-ApiKey`); the gallery needs a signed-in user.
    Private,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Who may create organisations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgCreation {
    /// Any confirmed user.
    #[default]
    Open,
    /// Only administrators (the CLI, or a signed-in administrator).
    Admin,
}

/// How to reach the SMTP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on localhost, or tests).
    None,
    /// Upgrade with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// SMTP settings (`[smtp]` in the file, `NUGATE_SMTP__HOST` and so on in the environment).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmtpConfig {
    /// Server host; `None` writes `.eml` files instead of sending.
    pub host: Option<String>,
    /// Server port; defaults by security: 25, 587 or 465.
    pub port: Option<u16>,
    /// Transport security.
    pub security: SmtpSecurity,
    /// Optional credentials.
    pub username: Option<String>,
    /// Optional credentials.
    pub password: Option<String>,
    /// The From address.
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            security: SmtpSecurity::default(),
            username: None,
            password: None,
            from: "nugate <nugate@localhost>".to_string(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            public_url: None,
            data_dir: PathBuf::from("./nugate-data"),
            database_url: None,
            storage_url: None,
            max_package_size: 250 * 1024 * 1024,
            max_key_lifetime_days: 365,
            trusted_proxies: Vec::new(),
            request_timeout_secs: 600,
            header_read_timeout_secs: 20,
            max_connections_per_ip: 256,
            connection_threads: 0,
            cache_ttl_ms: 250,
            document_cache_mb: 32,
            storage_timeout_secs: 30,
            signup: SignupMode::Open,
            read_access: ReadAccess::Public,
            metrics_token: None,
            log_format: LogFormat::Text,
            org_creation: OrgCreation::Open,
            smtp: SmtpConfig::default(),
            tls_cert: None,
            tls_key: None,
            redirect_http_listen: None,
            secret_scanning_keys: Vec::new(),
            audit_retention_days: 365,
            download_flush_secs: 60,
            trusted_issuers: vec![GITHUB_ACTIONS_ISSUER.to_string()],
            oidc_audience: None,
            upstreams: Vec::new(),
            upstream_url: None,
            upstream_cache_ttl_secs: 1800,
        }
    }
}

/// Settings given as command-line flags; only the ones present override lower layers.
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct ConfigFlags {
    /// Socket address to listen on [env: NUGATE_LISTEN] [default: 127.0.0.1:5000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// Base URL for absolute links, e.g. https://nuget.example.com [env: NUGATE_PUBLIC_URL]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Data folder [env: NUGATE_DATA_DIR] [default: ./nugate-data]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [env: NUGATE_DATABASE_URL] [default: sqlite file in the data folder]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Package storage: a folder or s3://BUCKET[/prefix] [env: NUGATE_STORAGE_URL] [default: data folder]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_url: Option<String>,
    /// Largest accepted package in bytes [env: NUGATE_MAX_PACKAGE_SIZE] [default: 262144000]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_package_size: Option<u64>,
    /// Longest lifetime of a new API key in days [env: NUGATE_MAX_KEY_LIFETIME_DAYS] [default: 365]
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_key_lifetime_days: Option<u32>,
}

/// Most connection threads a node may be told to start: far more than cores, which only adds switching.
const MAX_CONNECTION_THREADS: usize = 1024;

impl Config {
    /// Merges the layers. `config_file` is `--config`; without it `./nugate.toml` is read when present.
    pub fn load(config_file: Option<&Path>, flags: &ConfigFlags) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match config_file {
            Some(path) => {
                if !path.exists() {
                    anyhow::bail!("configuration file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("nugate.toml")),
        }
        figment = figment
            .merge(Env::prefixed("NUGATE_").split("__"))
            .merge(Serialized::defaults(flags));
        let mut config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        if let Some(url) = &config.public_url {
            let trimmed = url.trim_end_matches('/').to_string();
            if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
                anyhow::bail!("public_url must start with http:// or https://, got '{url}'");
            }
            config.public_url = Some(trimmed);
        }
        if config.connection_threads > MAX_CONNECTION_THREADS {
            anyhow::bail!(
                "connection_threads must be at most {MAX_CONNECTION_THREADS} (0: one per core), got {}",
                config.connection_threads
            );
        }
        if config.header_read_timeout_secs == 0 {
            anyhow::bail!("header_read_timeout_secs must be at least 1");
        }
        if config.storage_timeout_secs == 0 {
            anyhow::bail!("storage_timeout_secs must be at least 1");
        }
        if config.max_key_lifetime_days == 0 {
            anyhow::bail!("max_key_lifetime_days must be at least 1");
        }
        if config.download_flush_secs == 0 {
            anyhow::bail!("download_flush_secs must be at least 1");
        }
        if config.audit_retention_days == 0 {
            anyhow::bail!("audit_retention_days must be at least 1");
        }
        if let Some(bad) = config
            .trusted_issuers
            .iter()
            .find(|i| !issuer_url_allowed(i))
        {
            anyhow::bail!(
                "trusted issuer '{bad}' must be an https:// URL (http:// only on a loopback address)"
            );
        }
        config.check_tls()?;
        config.check_upstreams()?;
        Ok(config)
    }

    /// Folds `upstream_url` into `upstreams` and checks them: http(s) URLs, a timeout, distinct names.
    pub fn check_upstreams(&mut self) -> anyhow::Result<()> {
        if let Some(url) = self.upstream_url.take().filter(|u| !u.trim().is_empty()) {
            self.upstreams.push(UpstreamConfig::at(url.trim()));
        }
        let mut names = std::collections::HashSet::new();
        for upstream in &self.upstreams {
            let url = upstream.url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                anyhow::bail!(
                    "upstream URL '{url}' must be the http:// or https:// address of a V3 service index"
                );
            }
            if upstream.timeout_secs == 0 {
                anyhow::bail!(
                    "upstream '{}': timeout_secs must be at least 1",
                    upstream.label()
                );
            }
            if upstream.password.is_some() && upstream.username.is_none() {
                anyhow::bail!(
                    "upstream '{}': a password needs a username",
                    upstream.label()
                );
            }
            if !names.insert(upstream.label().to_lowercase()) {
                anyhow::bail!(
                    "two upstreams are called '{}': give each a distinct name",
                    upstream.label()
                );
            }
        }
        if self.upstream_cache_ttl_secs == 0 {
            anyhow::bail!("upstream_cache_ttl_secs must be at least 1");
        }
        Ok(())
    }

    /// The TLS settings must come together: a certificate with its key, a redirect only to https, and
    /// no `http://` public URL for a server that only speaks https.
    pub fn check_tls(&self) -> anyhow::Result<()> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                anyhow::bail!("tls_cert is set but tls_key is not: set both, or neither")
            }
            (None, Some(_)) => {
                anyhow::bail!("tls_key is set but tls_cert is not: set both, or neither")
            }
            _ => {}
        }
        if self.redirect_http_listen.is_some() && !self.serves_tls() {
            anyhow::bail!(
                "redirect_http_listen redirects to https, so it needs tls_cert and tls_key"
            );
        }
        if self.serves_tls()
            && self
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("http://"))
        {
            anyhow::bail!(
                "public_url starts with http://, but with tls_cert and tls_key nugate serves https: \
                 use an https:// public_url"
            );
        }
        if self.redirect_http_listen == Some(self.listen) {
            anyhow::bail!("redirect_http_listen must differ from listen");
        }
        Ok(())
    }

    /// Whether nugate serves TLS itself (`tls_cert` and `tls_key` set).
    pub fn serves_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether [`Config::base_url`] is https, without building it (asked on every request).
    pub fn public_url_is_https(&self) -> bool {
        match &self.public_url {
            Some(url) => url.starts_with("https://"),
            None => self.serves_tls(),
        }
    }

    /// The base URL clients should use when no trusted proxy says otherwise.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let host = match self.listen.ip() {
                    ip if ip.is_unspecified() => "localhost".to_string(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                };
                let scheme = if self.serves_tls() { "https" } else { "http" };
                format!("{scheme}://{host}:{}", self.listen.port())
            }
        }
    }

    /// The storage URL, defaulting to `data_dir/packages`.
    pub fn storage_url(&self) -> String {
        match &self.storage_url {
            Some(url) => url.clone(),
            None => self.data_dir.join("packages").display().to_string(),
        }
    }

    /// The database URL, defaulting to `data_dir/nugate.db`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("nugate.db").display()
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_together() {
        let plain = Config::default();
        assert!(!plain.serves_tls());
        assert_eq!(plain.base_url(), "http://127.0.0.1:5000");
        let tls = Config {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..Config::default()
        };
        tls.check_tls().unwrap();
        assert_eq!(tls.base_url(), "https://127.0.0.1:5000");
        let half = Config {
            tls_key: None,
            ..tls.clone()
        };
        assert!(half
            .check_tls()
            .unwrap_err()
            .to_string()
            .contains("tls_key"));
        let redirect_without_tls = Config {
            redirect_http_listen: Some("127.0.0.1:5080".parse().unwrap()),
            ..Config::default()
        };
        assert!(redirect_without_tls.check_tls().is_err());
        let http_public_url = Config {
            public_url: Some("http://nuget.example.com".into()),
            ..tls.clone()
        };
        assert!(http_public_url.check_tls().is_err());
        let https_public_url = Config {
            public_url: Some("https://nuget.example.com".into()),
            redirect_http_listen: Some("127.0.0.1:5080".parse().unwrap()),
            ..tls
        };
        https_public_url.check_tls().unwrap();
        assert_eq!(https_public_url.base_url(), "https://nuget.example.com");
    }

    #[test]
    fn connection_threads_are_bounded() {
        let dir = std::env::temp_dir().join(format!("nugate-threads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nugate.toml");
        std::fs::write(&file, "connection_threads = 3\n").unwrap();
        let three = Config::load(Some(&file), &ConfigFlags::default()).unwrap();
        assert_eq!(three.connection_threads, 3);
        std::fs::write(&file, "connection_threads = 5000\n").unwrap();
        let error = Config::load(Some(&file), &ConfigFlags::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("connection_threads must be at most 1024"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn upstreams_are_checked_and_named() {
        let mut one = Config {
            upstream_url: Some(" https://api.nuget.org/v3/index.json ".into()),
            ..Config::default()
        };
        one.check_upstreams().unwrap();
        assert_eq!(one.upstreams.len(), 1);
        assert_eq!(one.upstreams[0].label(), "api.nuget.org");
        assert_eq!(one.upstreams[0].timeout_secs, 30);
        assert_eq!(one.upstreams[0].mode, UpstreamMode::Open);
        let named = UpstreamConfig {
            name: Some("nuget.org".into()),
            ..UpstreamConfig::at("https://api.nuget.org/v3/index.json")
        };
        assert_eq!(named.label(), "nuget.org");
        let refused = |upstreams: Vec<UpstreamConfig>| {
            Config {
                upstreams,
                ..Config::default()
            }
            .check_upstreams()
            .unwrap_err()
            .to_string()
        };
        assert!(refused(vec![UpstreamConfig::at("ftp://x/index.json")]).contains("http"));
        assert!(refused(vec![UpstreamConfig {
            timeout_secs: 0,
            ..named.clone()
        }])
        .contains("timeout_secs"));
        assert!(refused(vec![UpstreamConfig {
            password: Some("p".into()),
            ..named.clone()
        }])
        .contains("username"));
        assert!(refused(vec![
            named.clone(),
            UpstreamConfig::at("https://nuget.org/v3/index.json")
        ])
        .contains("distinct"));
        let zero_ttl = Config {
            upstream_cache_ttl_secs: 0,
            ..Config::default()
        };
        assert!(zero_ttl.clone().check_upstreams().is_err());
    }

    #[test]
    fn upstreams_come_from_toml_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nugate.toml");
        std::fs::write(
            &file,
            "[[upstreams]]\nname = \"vetted\"\nurl = \"https://feed.example/v3/index.json\"\n\
             mode = \"allow-list\"\nusername = \"u\"\npassword = \"p\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &ConfigFlags::default()).unwrap();
        assert_eq!(config.upstreams.len(), 1);
        assert_eq!(config.upstreams[0].mode, UpstreamMode::AllowList);
        assert_eq!(config.upstreams[0].label(), "vetted");
        std::fs::write(
            &file,
            "[[upstreams]]\nurl = \"https://feed.example/v3/index.json\"\nmode = \"closed\"\n",
        )
        .unwrap();
        let bad = Config::load(Some(&file), &ConfigFlags::default()).unwrap_err();
        assert!(bad.to_string().contains("invalid configuration"), "{bad}");
    }
}
