//! Talking to one upstream feed over the V3 protocol: its service index, an ID's registration (every
//! version with its catalog entry), and .nupkg downloads.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nuget_formats::registration::{
    find_resource, parse_registration_index, parse_registration_page, service_resources,
    RegistrationPage,
};
use nuget_formats::NuGetVersion;
use tokio::io::AsyncWriteExt;

use crate::config::UpstreamConfig;

/// Largest registration document (index or page) read from an upstream.
const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;
/// Most registration pages fetched for one ID.
const MAX_PAGES: usize = 200;
/// How long the upstream's resource URLs are trusted before its service index is read again.
const SERVICE_INDEX_TTL: Duration = Duration::from_secs(3600);

/// One version an upstream lists for an ID, with the catalog entry its registration gives.
pub use nuget_formats::registration::RegistrationLeaf as UpstreamVersion;

/// Why an upstream could not answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent something that is not a NuGet V3 document: {reason}")]
    Malformed { url: String, reason: String },
    #[error("the package is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("cannot write the download: {0}")]
    Spool(#[from] std::io::Error),
}

/// The resources nugate uses from an upstream's service index.
#[derive(Clone)]
struct Resources {
    /// `PackageBaseAddress/3.0.0`, ending in `/`.
    flat: String,
    /// The registration hive with SemVer 2 versions when there is one, ending in `/`.
    registration: String,
}

/// A client for one configured upstream.
pub struct UpstreamClient {
    config: UpstreamConfig,
    label: String,
    http: reqwest::Client,
    resources: tokio::sync::Mutex<Option<(Resources, Instant)>>,
}

impl UpstreamClient {
    pub fn new(config: UpstreamConfig) -> UpstreamClient {
        crate::storage::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.timeout_secs.min(10)))
            .user_agent(concat!(
                "nugate/",
                env!("CARGO_PKG_VERSION"),
                " (upstream cache)"
            ))
            .build()
            .unwrap_or_default();
        UpstreamClient {
            label: config.label(),
            config,
            http,
            resources: tokio::sync::Mutex::new(None),
        }
    }

    /// The name packages cached from this upstream are marked with.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether only approved IDs pass.
    pub fn allow_list(&self) -> bool {
        self.config.mode == crate::config::UpstreamMode::AllowList
    }

    async fn get(&self, url: &str) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.http.get(url);
        if let Some(user) = &self.config.username {
            request = request.basic_auth(user, self.config.password.as_deref());
        }
        if let Some(key) = &self.config.api_key {
            request = request.header("X-NuGet-ApiKey", key);
        }
        request
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                url: url.to_string(),
                reason: without_url(&e),
            })
    }

    /// A document's body (gunzipped when the upstream compressed it), or `None` for a 404.
    async fn document(&self, url: &str) -> Result<Option<Vec<u8>>, UpstreamError> {
        let response = self.get(url).await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => {
                return Err(UpstreamError::Status {
                    url: url.to_string(),
                    status,
                })
            }
        }
        let gzipped = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let body = read_limited(response, url).await?;
        let malformed = |reason: String| UpstreamError::Malformed {
            url: url.to_string(),
            reason,
        };
        if gzipped {
            gunzip(&body)
                .map(Some)
                .map_err(|e| malformed(e.to_string()))
        } else {
            Ok(Some(body.to_vec()))
        }
    }

    async fn resources(&self) -> Result<Resources, UpstreamError> {
        let mut cached = self.resources.lock().await;
        if let Some((resources, at)) = cached.as_ref() {
            if at.elapsed() < SERVICE_INDEX_TTL {
                return Ok(resources.clone());
            }
        }
        let url = self.config.url.trim();
        let index = self
            .document(url)
            .await?
            .ok_or_else(|| UpstreamError::Status {
                url: url.to_string(),
                status: 404,
            })?;
        let listed = service_resources(&index).map_err(|e| UpstreamError::Malformed {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let resource = |types: &[&str]| find_resource(&listed, types).map(with_slash);
        let missing = |what: &str| UpstreamError::Malformed {
            url: url.to_string(),
            reason: format!("the service index lists no {what}"),
        };
        let resources = Resources {
            flat: resource(&["PackageBaseAddress/3.0.0"])
                .ok_or_else(|| missing("PackageBaseAddress/3.0.0"))?,
            registration: resource(&[
                "RegistrationsBaseUrl/3.6.0",
                "RegistrationsBaseUrl/3.4.0",
                "RegistrationsBaseUrl/3.0.0-rc",
                "RegistrationsBaseUrl",
            ])
            .ok_or_else(|| missing("RegistrationsBaseUrl"))?,
        };
        *cached = Some((resources.clone(), Instant::now()));
        Ok(resources)
    }

    /// Every version the upstream has of `lower_id`, lowest first; `None` when it has no such ID.
    pub async fn versions(
        &self,
        lower_id: &str,
    ) -> Result<Option<Vec<UpstreamVersion>>, UpstreamError> {
        let resources = self.resources().await?;
        let url = format!("{}{lower_id}/index.json", resources.registration);
        let Some(index) = self.document(&url).await? else {
            return Ok(None);
        };
        let malformed = |url: &str, reason: String| UpstreamError::Malformed {
            url: url.to_string(),
            reason,
        };
        let pages = parse_registration_index(&index).map_err(|e| malformed(&url, e.to_string()))?;
        if pages.len() > MAX_PAGES {
            return Err(malformed(
                &url,
                "the registration has too many pages".into(),
            ));
        }
        let mut versions = Vec::new();
        for page in pages {
            match page {
                RegistrationPage::Inline(leaves) => versions.extend(leaves),
                RegistrationPage::Remote(page_url) => {
                    let body = self.document(&page_url).await?.ok_or_else(|| {
                        malformed(&page_url, "the registration page is missing".into())
                    })?;
                    versions.extend(
                        parse_registration_page(&body)
                            .map_err(|e| malformed(&page_url, e.to_string()))?,
                    );
                }
            }
        }
        versions.sort_by_cached_key(|v| NuGetVersion::parse(&v.version).ok());
        versions.dedup_by(|a, b| a.version.eq_ignore_ascii_case(&b.version));
        Ok(Some(versions))
    }

    /// Downloads `lower_id` `lower_version`'s .nupkg into `into`, at most `limit` bytes.
    pub async fn download(
        &self,
        lower_id: &str,
        lower_version: &str,
        into: &Path,
        limit: u64,
    ) -> Result<bool, UpstreamError> {
        let resources = self.resources().await?;
        let url = format!(
            "{}{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg",
            resources.flat
        );
        let mut response = self.get(&url).await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(false),
            status => return Err(UpstreamError::Status { url, status }),
        }
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(UpstreamError::TooLarge { limit });
        }
        let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(into).await?);
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| UpstreamError::Unreachable {
                url: url.clone(),
                reason: without_url(&e),
            })?
        {
            written += chunk.len() as u64;
            if written > limit {
                return Err(UpstreamError::TooLarge { limit });
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(true)
    }
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// A reqwest error's text without the URL it repeats (the message names it once).
fn without_url(e: &reqwest::Error) -> String {
    let mut reason = e.to_string();
    if let Some(url) = e.url() {
        reason = reason.replace(&format!(" ({url})"), "");
    }
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        format!("connection failed ({reason})")
    } else {
        reason
    }
}

async fn read_limited(mut response: reqwest::Response, url: &str) -> Result<Bytes, UpstreamError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::Unreachable {
            url: url.to_string(),
            reason: without_url(&e),
        })?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(UpstreamError::Malformed {
                url: url.to_string(),
                reason: format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_DOCUMENT_BYTES as u64 * 8)
        .read_to_end(&mut out)?;
    Ok(out)
}
