//! `nugate tls self-signed`: a certificate authority and a server certificate it signed, for trying
//! nugate's own https before a real certificate exists.
//!
//! The CA's private key is never written: it signs the one server certificate and is dropped, so
//! trusting the CA on a machine trusts that certificate and nothing anyone could sign later.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// `nugate tls …`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Write a CA certificate, and a server certificate and key signed by it, for trials; prints how to
    /// trust the CA on Linux, macOS and Windows.
    SelfSigned {
        /// The host name (or IP address) clients use; `localhost` and `127.0.0.1` get both.
        #[arg(long)]
        host: String,
        /// Where to write the files [default: <data_dir>/tls]
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// File names written into the output folder.
pub const CA_FILE: &str = "nugate-ca.crt";
pub const CERT_FILE: &str = "server.crt";
pub const KEY_FILE: &str = "server.key";

/// A trial CA and the server certificate it signed, PEM-encoded.
pub struct TrialCertificates {
    /// The CA certificate clients must trust.
    pub ca_pem: String,
    /// The server certificate (for `tls_cert`).
    pub cert_pem: String,
    /// The server's private key (for `tls_key`).
    pub key_pem: String,
}

/// The names the server certificate covers: `host`, and for a loopback name every loopback spelling.
pub fn subject_names(host: &str) -> Vec<String> {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let loopback = ["localhost", "127.0.0.1", "::1"];
    if loopback.iter().any(|l| l.eq_ignore_ascii_case(host)) {
        loopback.iter().map(|s| s.to_string()).collect()
    } else {
        vec![host.to_string()]
    }
}

/// Makes a CA (valid ten years) and a server certificate for `host` (valid 397 days, what browsers and
/// Apple platforms accept) signed by it; ECDSA P-256 keys.
pub fn generate(host: &str) -> anyhow::Result<TrialCertificates> {
    let names = subject_names(host);
    if names.iter().any(|n| n.is_empty()) {
        anyhow::bail!("--host needs a host name or an IP address");
    }
    let today = chrono::Utc::now().date_naive();
    let date = |days: i64| {
        use chrono::Datelike;
        let d = today + chrono::Duration::days(days);
        // Month and day always fit a u8.
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, format!("nugate trial CA for {host}"));
    ca.distinguished_name
        .push(DnType::OrganizationName, "nugate (trial)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = date(-1);
    ca.not_after = date(3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(names)
        .map_err(|e| anyhow::anyhow!("'{host}' is not a valid host name: {e}"))?;
    server.distinguished_name = rcgen::DistinguishedName::new();
    server.distinguished_name.push(DnType::CommonName, host);
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = date(-1);
    server.not_after = date(397);
    let server_cert = server.signed_by(&server_key, &issuer)?;
    Ok(TrialCertificates {
        ca_pem: ca_cert.pem(),
        cert_pem: server_cert.pem(),
        key_pem: server_key.serialize_pem(),
    })
}

/// Writes the files into `out` (refusing to overwrite any) and returns the instructions to print.
pub fn write(host: &str, out: &Path, https_port: u16) -> anyhow::Result<String> {
    let (ca, cert, key) = (out.join(CA_FILE), out.join(CERT_FILE), out.join(KEY_FILE));
    for path in [&ca, &cert, &key] {
        if path.exists() {
            anyhow::bail!(
                "{} exists already; remove it (and stop trusting its CA) or choose another --out",
                path.display()
            );
        }
    }
    let made = generate(host)?;
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    std::fs::write(&ca, &made.ca_pem)?;
    std::fs::write(&cert, &made.cert_pem)?;
    write_private(&key, made.key_pem.as_bytes())?;
    let absolute = |p: &Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let (ca, cert, key) = (absolute(&ca), absolute(&cert), absolute(&key));
    let host_in_url = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    Ok(format!(
        "Wrote a trial CA, and a certificate for {names} signed by it (valid 397 days):
  CA certificate (trust this): {ca}
  tls_cert:                    {cert}
  tls_key:                     {key}
The CA's own key was not kept: it can sign nothing else.

Serve https with them (nugate.toml, or the NUGATE_* variables):
  tls_cert = \"{cert}\"
  tls_key = \"{key}\"
  public_url = \"https://{host_in_url}{port}\"

Trust the CA on each client machine:
  Debian/Ubuntu: sudo cp {ca} /usr/local/share/ca-certificates/nugate-ca.crt && sudo update-ca-certificates
  Fedora/RHEL:   sudo cp {ca} /etc/pki/ca-trust/source/anchors/nugate-ca.crt && sudo update-ca-trust
  (Mono's nuget.exe reads its own store: cert-sync {ca}, or cert-sync --user {ca})
  macOS:         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}
  Windows:       certutil -addstore -f Root {ca}   (in an administrator prompt; or, in PowerShell,
                 Import-Certificate -FilePath {ca} -CertStoreLocation Cert:\\LocalMachine\\Root)
Then: dotnet nuget add source https://{host_in_url}{port}/v3/index.json --name nugate",
        names = subject_names(host).join(", "),
    ))
}

/// Writes a file only its owner can read (on Unix).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_cover_every_loopback_spelling() {
        assert_eq!(
            subject_names("localhost"),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(
            subject_names("127.0.0.1"),
            ["localhost", "127.0.0.1", "::1"]
        );
        assert_eq!(subject_names("nuget.example.com"), ["nuget.example.com"]);
    }

    #[test]
    fn writes_pem_files_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let text = write("nuget.example.com", dir.path(), 443).unwrap();
        assert!(text.contains("public_url = \"https://nuget.example.com\""));
        assert!(text.contains("update-ca-certificates"));
        assert!(text.contains("add-trusted-cert"));
        assert!(text.contains("certutil -addstore"));
        for name in [CA_FILE, CERT_FILE] {
            let pem = std::fs::read_to_string(dir.path().join(name)).unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
        }
        let key = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by others");
        }
        assert!(write("nuget.example.com", dir.path(), 443)
            .unwrap_err()
            .to_string()
            .contains("exists already"));
    }
}
