//! Verifying a CI job's OIDC identity token: the issuer must be one the administrator trusts, the
//! signature one of the keys the issuer publishes (discovery document, then JWKS; cached, fetched again
//! once when a token names a key not seen yet), the algorithm RS256 or ES256, the audience this server,
//! and the times current by the server's clock with a minute's grace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
pub use nugate_apikey::oidc_claims::Identity;
use nugate_apikey::oidc_claims::{identity, Claims};
use serde::Deserialize;

use crate::config::issuer_url_allowed;

/// Clock difference tolerated between the issuer and this server.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// How long an issuer's keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// A token naming an unknown key makes a fetch at most this often per issuer, so forged key ids cannot
/// turn this server into a flood of requests to the issuer.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Why a token was refused; every message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefused {
    #[error("The token is not a well-formed JWT: {0}.")]
    Malformed(String),
    #[error("The token's issuer '{0}' is not trusted by this server.")]
    UntrustedIssuer(String),
    #[error("The token is signed with {0}; only RS256 and ES256 are accepted.")]
    Algorithm(String),
    #[error("The token's signature does not match any key its issuer publishes.")]
    Signature,
    #[error("The token's audience is not this server: request a token for the audience '{0}'.")]
    Audience(String),
    #[error("The token has expired.")]
    Expired,
    #[error("The token is not valid yet (its nbf or iat is in the future).")]
    NotYetValid,
    #[error("The token lacks the '{0}' claim.")]
    MissingClaim(&'static str),
    /// The issuer's keys could not be fetched: an outage, not the caller's fault.
    #[error("Cannot fetch the signing keys of the issuer '{issuer}': {reason}.")]
    IssuerUnreachable { issuer: String, reason: String },
}

/// Just enough of a token to know whose keys verify it.
#[derive(Deserialize)]
struct IssuerOnly {
    iss: String,
}

struct CachedKeys {
    set: Arc<JwkSet>,
    fetched: Instant,
}

/// The verifier, shared by every request of a node.
pub struct OidcVerifier {
    http: reqwest::Client,
    issuers: Vec<String>,
    audience: String,
    keys: Mutex<HashMap<String, CachedKeys>>,
}

impl OidcVerifier {
    /// Trusts `issuers` (already checked to be https or loopback) for tokens issued to `audience`.
    pub fn new(issuers: Vec<String>, audience: String) -> OidcVerifier {
        crate::storage::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        OidcVerifier {
            http,
            issuers,
            audience,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The trusted issuers, as configured.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The audience tokens must be issued for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies `token` at `now` and reads the CI run's identity from it.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenRefused> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenRefused::Malformed(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(TokenRefused::Algorithm(format!("{:?}", header.alg)));
        }
        let issuer = self.trusted_issuer_of(token)?;
        let set = self.keys_for(&issuer, header.kid.as_deref()).await?;
        let jwk = match header.kid.as_deref() {
            Some(kid) => set.find(kid),
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        }
        .ok_or(TokenRefused::Signature)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| TokenRefused::Signature)?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Times are judged below, by the server's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidAudience => TokenRefused::Audience(self.audience.clone()),
                    ErrorKind::InvalidIssuer => TokenRefused::UntrustedIssuer(issuer.clone()),
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidRsaKey(_)
                    | ErrorKind::InvalidAlgorithm => TokenRefused::Signature,
                    ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                        TokenRefused::Audience(self.audience.clone())
                    }
                    _ => TokenRefused::Malformed(e.to_string()),
                }
            })?
            .claims;
        if claims.exp + CLOCK_SKEW_SECS <= now {
            return Err(TokenRefused::Expired);
        }
        if claims
            .nbf
            .into_iter()
            .chain(claims.iat)
            .any(|t| t - CLOCK_SKEW_SECS > now)
        {
            return Err(TokenRefused::NotYetValid);
        }
        identity(claims, token).map_err(TokenRefused::MissingClaim)
    }

    /// The token's issuer, when it is one the administrator trusts (read before the signature is
    /// checked, to know whose keys check it).
    fn trusted_issuer_of(&self, token: &str) -> Result<String, TokenRefused> {
        let mut peek = Validation::new(Algorithm::RS256);
        peek.insecure_disable_signature_validation();
        peek.validate_exp = false;
        peek.validate_aud = false;
        peek.required_spec_claims.clear();
        let iss = jsonwebtoken::decode::<IssuerOnly>(token, &DecodingKey::from_secret(&[]), &peek)
            .map_err(|e| TokenRefused::Malformed(e.to_string()))?
            .claims
            .iss;
        let normalized = iss.trim_end_matches('/');
        self.issuers
            .iter()
            .find(|trusted| trusted.as_str() == normalized)
            .map(|_| iss.clone())
            .ok_or(TokenRefused::UntrustedIssuer(iss))
    }

    /// The issuer's keys: cached, fetched when stale, or again (rate-limited) when `kid` is unknown.
    async fn keys_for(&self, issuer: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, TokenRefused> {
        let cached = self.cached(issuer);
        if let Some((set, fetched)) = &cached {
            let fresh = fetched.elapsed() < KEYS_TTL;
            let knows_kid = kid.is_none_or(|kid| set.find(kid).is_some());
            if fresh && (knows_kid || fetched.elapsed() < REFETCH_AT_MOST_EVERY) {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(self.fetch_keys(issuer).await?);
        if let Ok(mut keys) = self.keys.lock() {
            keys.insert(
                issuer.to_string(),
                CachedKeys {
                    set: set.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        Ok(set)
    }

    fn cached(&self, issuer: &str) -> Option<(Arc<JwkSet>, Instant)> {
        let keys = self.keys.lock().ok()?;
        keys.get(issuer).map(|c| (c.set.clone(), c.fetched))
    }

    /// Discovery document, then its `jwks_uri`.
    async fn fetch_keys(&self, issuer: &str) -> Result<JwkSet, TokenRefused> {
        let unreachable = |reason: String| TokenRefused::IssuerUnreachable {
            issuer: issuer.to_string(),
            reason,
        };
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&discovery_url).await.map_err(unreachable)?;
        if !issuer_url_allowed(&discovery.jwks_uri) {
            return Err(unreachable(format!(
                "its jwks_uri '{}' is not https",
                discovery.jwks_uri
            )));
        }
        self.get_json(&discovery.jwks_uri)
            .await
            .map_err(unreachable)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not what was expected: {e}"))
    }
}
