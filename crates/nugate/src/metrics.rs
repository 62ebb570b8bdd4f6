//! What `/metrics` reports, in the Prometheus text format: one set of counters, gauges and histograms per
//! server (held by its state and handed to the services that count into it). Labels are small closed
//! sets (route templates, outcome names, status classes): never a key, a user name or a package ID.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

/// A response's status class.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Redirect,
    ClientError,
    ServerError,
}

impl StatusClass {
    /// The class of an HTTP status code.
    pub fn of(status: u16) -> StatusClass {
        match status {
            500.. => StatusClass::ServerError,
            400.. => StatusClass::ClientError,
            300.. => StatusClass::Redirect,
            _ => StatusClass::Success,
        }
    }
}

/// Label values in snake case, as Prometheus labels are written.
macro_rules! label_values {
    ($($ty:ty { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                use std::fmt::Write;
                encoder.write_str(match self { $(Self::$variant => $name),* })
            }
        }
    )*};
}

label_values! {
    StatusClass { Success => "2xx", Redirect => "3xx", ClientError => "4xx", ServerError => "5xx" }
    KeyOutcome {
        Ok => "ok",
        Wrong => "wrong",
        Expired => "expired",
        OutOfScope => "out_of_scope",
        Throttled => "throttled",
        Refused => "refused",
    }
    CacheKind { Document => "document", File => "file" }
    CacheResult { Hit => "hit", Miss => "miss" }
    PoolState { InUse => "in_use", Idle => "idle" }
}

/// Labels of a served request: the route template (`/v3-flatcontainer/{id}/index.json`, or
/// `unmatched`) and the status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: StatusClass,
}

/// The route template alone, for the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

/// How a key check ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Accepted.
    Ok,
    /// No such key, or the secret is wrong.
    Wrong,
    /// Expired or revoked.
    Expired,
    /// A valid key asked for a package or action outside its scope or owner.
    OutOfScope,
    /// Refused unchecked: too many wrong keys from the address or for the key.
    Throttled,
    /// The key's user is locked or unconfirmed.
    Refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    pub outcome: KeyOutcome,
}

/// Which in-memory cache.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum CacheKind {
    /// Rendered documents (registrations, version lists, search results).
    Document,
    /// Small package files.
    File,
}

/// A cache look-up's result.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum CacheResult {
    Hit,
    Miss,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    pub cache: CacheKind,
    pub result: CacheResult,
}

/// A database pool's connections by state.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum PoolState {
    InUse,
    Idle,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub state: PoolState,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// Every metric nugate exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram>,
    pub key_checks: Family<KeyLabels, Counter>,
    /// The series every request of a private feed adds to, and every cached read: looked up once here
    /// rather than in the family's lock on each request.
    key_checks_ok: Counter,
    cache_hits: [Counter; 2],
    pub pushes: Counter,
    pub unlists: Counter,
    pub relists: Counter,
    pub bytes_stored: Counter,
    pub cache: Family<CacheLabels, Counter>,
    pub feed_packages: Gauge,
    pub feed_versions: Gauge,
    pub outbox_backlog: Gauge,
    pub mail_failures: Counter,
    pub db_connections: Family<PoolLabels, Gauge>,
    pub storage_errors: Counter,
    /// Requests to upstream feeds (version lists and package downloads).
    pub upstream_requests: Counter,
    /// Packages an upstream sent that were not what was asked for.
    pub upstream_refused: Counter,
    /// Each route's counters, found in the families once ([`Metrics::route`]).
    routes: RwLock<HashMap<Arc<str>, Arc<RouteMetrics>>>,
}

/// One route's request counters, looked up once: counting a request then costs no label strings and
/// no look-ups in the families.
pub struct RouteMetrics {
    /// The route template, shared with whoever logs it.
    pub route: Arc<str>,
    seconds: Histogram,
    /// By [`StatusClass`], created on first use so only the classes seen are exported.
    requests: [OnceLock<Counter>; 4],
    families: Family<RequestLabels, Counter>,
}

impl RouteMetrics {
    /// Counts one request that ended with `status` after `seconds`.
    pub fn observe(&self, status: u16, seconds: f64) {
        self.seconds.observe(seconds);
        let status = StatusClass::of(status);
        self.requests[status as usize]
            .get_or_init(|| {
                self.families
                    .get_or_create(&RequestLabels {
                        route: self.route.to_string(),
                        status,
                    })
                    .clone()
            })
            .inc();
    }
}

/// The commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("NUGATE_COMMIT");

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set, every counter at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nugate");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests served, by route template and status class",
            requests.clone(),
        );
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response's head, by route template",
            request_seconds.clone(),
        );
        let key_checks = Family::<KeyLabels, Counter>::default();
        registry.register(
            "key_checks",
            "API key checks by outcome",
            key_checks.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let pushes = counter(&mut registry, "pushes", "Package versions pushed");
        let unlists = counter(&mut registry, "unlists", "Versions unlisted");
        let relists = counter(&mut registry, "relists", "Versions relisted");
        let bytes_stored = counter(
            &mut registry,
            "stored_bytes",
            "Bytes of .nupkg stored by pushes",
        );
        let upstream_requests = counter(
            &mut registry,
            "upstream_requests",
            "Version lists and packages fetched from upstream feeds",
        );
        let upstream_refused = counter(
            &mut registry,
            "upstream_refused_packages",
            "Packages from upstream feeds refused for not being what was asked for",
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "In-memory cache look-ups, by cache and result",
            cache.clone(),
        );
        let feed_packages = gauge(
            &mut registry,
            "feed_packages",
            "Package IDs in this node's feed index",
        );
        let feed_versions = gauge(
            &mut registry,
            "feed_versions",
            "Versions in this node's feed index",
        );
        let outbox_backlog = gauge(&mut registry, "outbox_backlog", "Emails waiting to be sent");
        let mail_failures = counter(
            &mut registry,
            "mail_delivery_failures",
            "Failed email deliveries",
        );
        let db_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database pool connections by state",
            db_connections.clone(),
        );
        let storage_errors = counter(
            &mut registry,
            "storage_errors",
            "Package storage operations that failed (unreachable, full, …)",
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register("build_info", "The running build", build.clone());
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                commit: COMMIT.to_string(),
            })
            .set(1);
        let key_checks_ok = key_checks
            .get_or_create(&KeyLabels {
                outcome: KeyOutcome::Ok,
            })
            .clone();
        let cache_hit = |kind| {
            cache
                .get_or_create(&CacheLabels {
                    cache: kind,
                    result: CacheResult::Hit,
                })
                .clone()
        };
        let cache_hits = [cache_hit(CacheKind::Document), cache_hit(CacheKind::File)];
        Metrics {
            registry,
            requests,
            request_seconds,
            key_checks,
            key_checks_ok,
            cache_hits,
            pushes,
            unlists,
            relists,
            bytes_stored,
            cache,
            feed_packages,
            feed_versions,
            outbox_backlog,
            mail_failures,
            db_connections,
            storage_errors,
            upstream_requests,
            upstream_refused,
            routes: RwLock::default(),
        }
    }

    /// The counters of `route` (a route template, or `unmatched`).
    pub fn route(&self, route: &str) -> Arc<RouteMetrics> {
        if let Some(found) = self
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(route)
        {
            return Arc::clone(found);
        }
        let made = Arc::new(RouteMetrics {
            route: route.into(),
            seconds: self
                .request_seconds
                .get_or_create(&RouteLabels {
                    route: route.to_string(),
                })
                .clone(),
            requests: Default::default(),
            families: self.requests.clone(),
        });
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(routes.entry(Arc::clone(&made.route)).or_insert(made))
    }

    /// Counts a key check.
    pub fn key_check(&self, outcome: KeyOutcome) {
        match outcome {
            KeyOutcome::Ok => self.key_checks_ok.inc(),
            outcome => self.key_checks.get_or_create(&KeyLabels { outcome }).inc(),
        };
    }

    /// Counts a cache look-up.
    pub fn cache_lookup(&self, cache: CacheKind, hit: bool) {
        if hit {
            let [documents, files] = &self.cache_hits;
            match cache {
                CacheKind::Document => documents.inc(),
                CacheKind::File => files.inc(),
            };
        } else {
            self.cache
                .get_or_create(&CacheLabels {
                    cache,
                    result: CacheResult::Miss,
                })
                .inc();
        }
    }

    /// The exposition text.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
