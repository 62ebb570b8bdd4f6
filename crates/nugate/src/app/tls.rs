//! nugate's own https (`tls_cert`, `tls_key`): rustls with the ring provider, HTTP/1.1, and a
//! certificate that follows its files.
//!
//! Every handshake stats the two files (a few microseconds, far below the handshake's own cost). When
//! either changed (modification time, size or inode: certbot swaps symlinks, others rewrite in place),
//! both are read again, and the new pair is used once it parses and the key matches the certificate. A
//! pair caught half-written (a new certificate beside the old key) is not used: the old one stays until
//! the files change again, with one warning per attempt, so a renewal never takes the server down.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// What identifies one version of a file without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file `path` leads to (symlinks followed); `None` when it cannot be read.
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// The certificate and key in use, and the file versions last looked at.
struct Current {
    key: Arc<CertifiedKey>,
    /// The stamps of the files the last load attempt read (successful or not): a failed attempt is not
    /// repeated until a file changes again.
    seen: (Option<FileStamp>, Option<FileStamp>),
}

/// Serves the certificate in `tls_cert`, reloading it (and `tls_key`) when the files change.
pub(super) struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

impl std::fmt::Debug for ReloadingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCertificate")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCertificate {
    /// Loads the pair now; a missing, unreadable or mismatched pair is an error (the server does not start).
    pub(super) fn load(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> anyhow::Result<ReloadingCertificate> {
        let seen = (FileStamp::of(cert_path), FileStamp::of(key_path));
        let key = load_pair(cert_path, key_path, &provider)?;
        Ok(ReloadingCertificate {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: Mutex::new(Current {
                key: Arc::new(key),
                seen,
            }),
        })
    }

    /// The pair to present now, reloaded first if the files changed since last looked at.
    fn certificate(&self) -> Arc<CertifiedKey> {
        let stamps = (
            FileStamp::of(&self.cert_path),
            FileStamp::of(&self.key_path),
        );
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if stamps != current.seen {
            current.seen = stamps;
            match load_pair(&self.cert_path, &self.key_path, &self.provider) {
                Ok(key) => {
                    tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
                    current.key = Arc::new(key);
                }
                Err(e) => tracing::warn!(
                    error = %format!("{e:#}"),
                    "the TLS certificate files changed but cannot be used; still serving the previous certificate"
                ),
            }
        }
        current.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.certificate())
    }
}

/// Reads a PEM certificate chain (leaf first) and a PEM private key, and checks that they belong
/// together.
fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let cert_pem = std::fs::read(cert_path)
        .map_err(|e| anyhow::anyhow!("cannot read tls_cert {}: {e}", cert_path.display()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("tls_cert {} is not PEM: {e}", cert_path.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "tls_cert {} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            cert_path.display()
        );
    }
    let key_pem = std::fs::read(key_path)
        .map_err(|e| anyhow::anyhow!("cannot read tls_key {}: {e}", key_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        anyhow::anyhow!(
            "tls_key {} holds no usable private key (PEM PKCS#8, PKCS#1 or SEC1): {e}",
            key_path.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        anyhow::anyhow!(
            "tls_key {} does not fit tls_cert {}: {e}",
            key_path.display(),
            cert_path.display()
        )
    })
}

/// The TLS acceptor for `listen` when `tls_cert` and `tls_key` are set.
pub(super) fn acceptor(config: &Config) -> anyhow::Result<Option<TlsAcceptor>> {
    let (Some(cert), Some(key)) = (&config.tls_cert, &config.tls_key) else {
        return Ok(None);
    };
    crate::storage::install_tls_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = ReloadingCertificate::load(cert, key, provider.clone())?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("cannot configure TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}
