//! What every request handler shares: the services ([`AppState`]) and what a request says about where
//! it came from ([`BaseUrl`], [`served_over_https`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use crate::audit::AuditLog;
use crate::auth::key_cache::KeyCache;
use crate::auth::keys::KeyService;
use crate::auth::sessions::SessionService;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::db::Db;
use crate::feed::FeedIndex;
use crate::mail::MailContext;
use crate::metrics::Metrics;
use crate::orgs::OrgService;
use crate::packages::PackageService;
use crate::storage::PackageStorage;
use crate::users::UserService;

/// Everything a handler may need, shared: a clone is one reference count, since every request clones
/// it several times (each layer and extractor that takes `State`).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services and settings behind [`AppState`].
pub struct Services {
    pub config: Arc<Config>,
    /// [`Config::base_url`], built once: requests that need it are many.
    pub base_url: String,
    /// What `/metrics` reports for this server.
    pub metrics: Arc<Metrics>,
    pub db: Db,
    pub keys: KeyService,
    pub packages: PackageService,
    pub users: UserService,
    pub orgs: OrgService,
    pub sessions: SessionService,
    /// Trusted publishing: policies and token exchanges.
    pub trust: crate::auth::trusted::TrustService,
    /// The audit trail every service records into.
    pub audit: AuditLog,
}

impl AppState {
    /// Opens (and migrates) the database and storage the configuration names, creating the data folder.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        Self::open_with_storage(config, None).await
    }

    /// Like [`AppState::open`], with an already configured package storage (tests, tools).
    pub async fn open_with_storage(
        config: Config,
        storage: Option<PackageStorage>,
    ) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data folder {}: {e}",
                config.data_dir.display()
            )
        })?;
        let tmp_dir = config.data_dir.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let db = Db::open(&config.database_url()).await?;
        let storage = match storage {
            Some(storage) => storage,
            None => PackageStorage::from_url_with_timeout(
                &config.storage_url(),
                Duration::from_secs(config.storage_timeout_secs),
                std::iter::empty(),
            )?,
        };
        let mail = MailContext::from_config(&config);
        let metrics = Arc::new(Metrics::new());
        let key_cache = Arc::new(KeyCache::new(Duration::from_millis(config.cache_ttl_ms)));
        let throttle = Throttle::new(db.clone());
        let audit = AuditLog::new(db.clone(), config.audit_retention_days);
        let keys = KeyService::new(
            db.clone(),
            config.max_key_lifetime_days,
            mail.clone(),
            throttle.clone(),
            metrics.clone(),
            key_cache.clone(),
            audit.clone(),
        );
        let verifier = crate::auth::oidc::OidcVerifier::new(
            config.trusted_issuers.clone(),
            config
                .oidc_audience
                .clone()
                .unwrap_or_else(|| config.base_url()),
        );
        let trust = crate::auth::trusted::TrustService::new(
            db.clone(),
            Arc::new(verifier),
            keys.clone(),
            mail.clone(),
            audit.clone(),
        );
        Ok(AppState(Arc::new(Services {
            keys,
            trust,
            packages: PackageService::new(
                db.clone(),
                storage,
                tmp_dir,
                Arc::new(FeedIndex::new(
                    db.clone(),
                    Duration::from_millis(config.cache_ttl_ms),
                    usize::try_from(config.document_cache_mb.saturating_mul(1024 * 1024))
                        .unwrap_or(usize::MAX),
                    metrics.clone(),
                )),
                mail.clone(),
                metrics.clone(),
                audit.clone(),
            )
            .with_upstreams(crate::packages::upstream::Upstreams::from_config(&config)),
            users: UserService::new(
                db.clone(),
                mail.clone(),
                throttle,
                key_cache.clone(),
                audit.clone(),
            ),
            orgs: OrgService::new(
                db.clone(),
                mail,
                config.org_creation,
                config.max_key_lifetime_days,
                key_cache,
                audit.clone(),
            ),
            sessions: SessionService::new(db.clone()),
            audit,
            base_url: config.base_url(),
            config: Arc::new(config),
            metrics,
            db,
        })))
    }
}

/// Put in the extensions of every request that arrived over nugate's own TLS (`tls_cert`, `tls_key`):
/// such a request was https whatever its headers say.
#[derive(Clone, Copy, Debug)]
pub struct TlsConnection;

/// The base URL for absolute links in this request: `X-Forwarded-Proto`/`-Host` from a trusted proxy,
/// otherwise the configured public URL. A request over https never gets an `http://` base, so an https
/// service index lists no http URL (NuGet 7.0 refuses the whole source otherwise).
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl::of(&parts.headers, &parts.extensions, state))
    }
}

impl BaseUrl {
    /// The base URL of the request with these headers and extensions (for middleware that needs it only
    /// sometimes, where the extractor would make it every time).
    pub fn of(headers: &HeaderMap, extensions: &Extensions, state: &AppState) -> BaseUrl {
        let over_tls = extensions.get::<TlsConnection>().is_some();
        if from_trusted_proxy(extensions, &state.config) {
            if let Some(host) = forwarded(headers, "x-forwarded-host") {
                let proto = forwarded(headers, "x-forwarded-proto")
                    .filter(|p| (p == "http" && !over_tls) || p == "https")
                    .unwrap_or_else(|| "https".to_string());
                return BaseUrl(format!("{proto}://{host}"));
            }
        }
        let base = &state.base_url;
        BaseUrl(match base.strip_prefix("http://") {
            Some(rest) if over_tls => format!("https://{rest}"),
            _ => base.clone(),
        })
    }
}

/// Whether the client reached nugate over https.
///
/// Three things say the client's connection was https: it came over nugate's own TLS ([`TlsConnection`]),
/// an `https://` `public_url` (the operator's word for every request: TLS ends in front of nugate), or
/// `X-Forwarded-Proto: https` from a peer listed in `trusted_proxies` (the proxy's word for this request).
/// The header from any other peer is ignored: any client can send it.
pub fn served_over_https(headers: &HeaderMap, extensions: &Extensions, config: &Config) -> bool {
    extensions.get::<TlsConnection>().is_some()
        || config.public_url_is_https()
        || (from_trusted_proxy(extensions, config)
            && forwarded(headers, "x-forwarded-proto").is_some_and(|p| p == "https"))
}

/// Whether the connection comes from one of `trusted_proxies`, whose `X-Forwarded-*` headers are believed.
fn from_trusted_proxy(extensions: &Extensions, config: &Config) -> bool {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| config.trusted_proxies.contains(&c.0.ip()))
}

/// The first (client-side) value of an `X-Forwarded-*` header, if it looks like a host or a scheme.
fn forwarded(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
        .filter(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
}
