//! nugate's own https (`tls_cert`, `tls_key`, `redirect_http_listen`) and `nugate tls self-signed`: the
//! service index over https lists only https URLs, a renewed certificate is served by the next
//! connection, the redirect listener sends 308s to https, and a stalled handshake is cut.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nugate::app::{self, AppState};
use nugate::cli::tls::{generate, TrialCertificates};
use nugate::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{client_builder, fresh_database_url, TestApp};

/// Certificate files in a folder of their own, replaceable in place.
struct CertFiles {
    dir: tempfile::TempDir,
}

impl CertFiles {
    fn new(made: &TrialCertificates) -> CertFiles {
        let files = CertFiles {
            dir: tempfile::tempdir().unwrap(),
        };
        files.replace(made);
        files
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Writes new files beside the old ones and renames them over, key first, as renewal tools do.
    fn replace(&self, made: &TrialCertificates) {
        let (key_tmp, cert_tmp) = (
            self.dir.path().join("key.tmp"),
            self.dir.path().join("cert.tmp"),
        );
        std::fs::write(&key_tmp, &made.key_pem).unwrap();
        std::fs::write(&cert_tmp, &made.cert_pem).unwrap();
        std::fs::rename(key_tmp, self.key()).unwrap();
        std::fs::rename(cert_tmp, self.cert()).unwrap();
    }
}

/// The DER of the first certificate in a PEM text.
fn der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Starts a server serving https with the files in `certs`, and a redirect listener when asked.
async fn start_tls(
    certs: &CertFiles,
    redirect: bool,
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, Option<std::net::SocketAddr>) {
    let data = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let redirect_listener = if redirect {
        Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    } else {
        None
    };
    let redirect_addr = redirect_listener.as_ref().map(|l| l.local_addr().unwrap());
    let fresh_database = fresh_database_url().await;
    let mut config = Config {
        listen: addr,
        data_dir: data.path().to_path_buf(),
        database_url: fresh_database.clone(),
        tls_cert: Some(certs.cert()),
        tls_key: Some(certs.key()),
        redirect_http_listen: redirect_addr,
        ..Config::default()
    };
    tweak(&mut config);
    config.check_tls().unwrap();
    let state = AppState::open(config).await.unwrap();
    let serving = state.clone();
    tokio::spawn(async move {
        app::serve_with_redirect(serving, listener, redirect_listener)
            .await
            .unwrap()
    });
    let app = TestApp {
        base: format!("https://127.0.0.1:{}", addr.port()),
        addr,
        state,
        client: client_builder().build().unwrap(),
        data,
        fresh_database,
    };
    (app, redirect_addr)
}

/// A client that trusts only the given CAs and keeps no connection between requests.
fn https_client(cas: &[&str]) -> reqwest::Client {
    let roots = cas
        .iter()
        .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    client_builder()
        .tls_certs_only(roots)
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The certificate the server presents on a new connection, as DER.
async fn presented(cas: &[&str], url: &str) -> Vec<u8> {
    let response = https_client(cas).get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the TLS connection's certificate")
        .to_vec()
}

/// Every `@id` of a service index.
fn resource_urls(index: &serde_json::Value) -> Vec<String> {
    index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tls_service_index_lists_only_https_urls() {
    let made = generate("localhost").unwrap();
    let certs = CertFiles::new(&made);
    let (app, _) = start_tls(&certs, false, |_| {}).await;
    let client = https_client(&[&made.ca_pem]);
    let index: serde_json::Value = client
        .get(app.url("/v3/index.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let urls = resource_urls(&index);
    assert!(urls.len() > 10);
    for url in &urls {
        assert!(
            url.starts_with(&format!("{}/", app.base)),
            "{url} is not under {}",
            app.base
        );
    }
    let types: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"SymbolPackagePublish/4.9.0"));

    // Pages served over nugate's own TLS count as https: HSTS, and Secure cookies.
    let page = client.get(app.url("/signin")).send().await.unwrap();
    assert!(
        page.headers().contains_key("strict-transport-security"),
        "{:?}",
        page.headers()
    );
    let cookies = page.headers().get_all("set-cookie");
    assert!(
        cookies.iter().next().is_some(),
        "the page sets its CSRF cookie"
    );
    for cookie in cookies {
        assert!(
            cookie.to_str().unwrap().contains("Secure"),
            "{cookie:?} is not Secure"
        );
    }

    // Plain http to the https port is not answered with a page.
    let plain = client_builder()
        .build()
        .unwrap()
        .get(format!("http://{}/v3/index.json", app.addr))
        .send()
        .await;
    assert!(
        plain.map(|r| r.status() != 200).unwrap_or(true),
        "plain http on the TLS port must not serve the index"
    );
}

#[tokio::test]
async fn tls_behind_a_trusted_proxy_the_index_is_https_too() {
    // TLS ends at a proxy that says so: the index reached through it lists only https URLs.
    let app = TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let index: serde_json::Value = app
        .client
        .get(app.url("/v3/index.json"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "nuget.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for url in resource_urls(&index) {
        assert!(url.starts_with("https://nuget.example.com/"), "{url}");
    }
}

#[tokio::test]
async fn tls_renewed_certificate_is_served_without_a_restart() {
    let first = generate("localhost").unwrap();
    let second = generate("localhost").unwrap();
    let certs = CertFiles::new(&first);
    let (app, _) = start_tls(&certs, false, |_| {}).await;
    let cas = [first.ca_pem.as_str(), second.ca_pem.as_str()];
    let url = app.url("/health/live");
    assert_eq!(presented(&cas, &url).await, der(&first.cert_pem));

    certs.replace(&second);
    assert_eq!(
        presented(&cas, &url).await,
        der(&second.cert_pem),
        "the next connection must see the renewed certificate"
    );

    // A broken renewal (a certificate without its key) keeps the last good pair in service.
    let third = generate("localhost").unwrap();
    std::fs::write(certs.cert(), &third.cert_pem).unwrap();
    assert_eq!(presented(&cas, &url).await, der(&second.cert_pem));
    std::fs::write(certs.cert(), "not a certificate").unwrap();
    assert_eq!(presented(&cas, &url).await, der(&second.cert_pem));
    // Once both files are right again, the new pair is used.
    certs.replace(&third);
    let all = [cas[0], cas[1], third.ca_pem.as_str()];
    assert_eq!(presented(&all, &url).await, der(&third.cert_pem));
}

#[tokio::test]
async fn tls_redirect_listener_answers_308_to_https() {
    let made = generate("localhost").unwrap();
    let certs = CertFiles::new(&made);
    let (app, redirect) = start_tls(&certs, true, |c| {
        c.public_url = Some(format!("https://localhost:{}", c.listen.port()));
    })
    .await;
    let redirect = redirect.unwrap();
    let plain = client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in [
        (reqwest::Method::GET, "/v3/index.json?semVerLevel=2.0.0"),
        (reqwest::Method::PUT, "/api/v2/package/"),
        (reqwest::Method::GET, "/"),
    ] {
        let response = plain
            .request(method.clone(), format!("http://{redirect}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 308, "{method} {path}");
        assert_eq!(
            response.headers()["location"],
            format!("https://localhost:{}{path}", app.addr.port()).as_str(),
            "{method} {path}"
        );
    }

    // Without a public_url the redirect keeps the host the client asked for, on the https port.
    let certs2 = CertFiles::new(&made);
    let (app2, redirect2) = start_tls(&certs2, true, |_| {}).await;
    let response = plain
        .get(format!("http://{}/v3/index.json", redirect2.unwrap()))
        .header("Host", "nuget.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        format!(
            "https://nuget.example.com:{}/v3/index.json",
            app2.addr.port()
        )
        .as_str()
    );
}

#[tokio::test]
async fn tls_slow_handshake_is_cut_and_frees_its_slot() {
    let made = generate("localhost").unwrap();
    let certs = CertFiles::new(&made);
    let (app, _) = start_tls(&certs, false, |c| {
        c.header_read_timeout_secs = 1;
        c.max_connections_per_ip = 1;
    })
    .await;

    // A client that sends half a ClientHello and stalls.
    let started = Instant::now();
    let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
        .await
        .unwrap();

    // Meanwhile it holds this address's only slot: another connection is closed unanswered.
    let mut second = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf))
        .await
        .expect("an over-the-limit connection is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // The stalled handshake is cut after the header-read timeout.
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut buf))
        .await
        .expect("the stalled handshake must be cut");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "cut after {took:?}"
    );

    // And the slot is free again: a real client gets its answer.
    let cas = [made.ca_pem.as_str()];
    let mut served = false;
    for _ in 0..50 {
        let response = https_client(&cas).get(app.url("/health/live")).send().await;
        if response.is_ok_and(|r| r.status() == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the slot of the cut connection was not freed");
}

/// Runs `nugate tls self-signed` and checks what it wrote serves https to a client that trusts the CA.
#[tokio::test]
async fn tls_self_signed_command_writes_a_working_certificate() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("tls");
    let mut cmd = crate::cli::nugate(out.path());
    cmd.args(["tls", "self-signed", "--host", "localhost", "--out"])
        .arg(&dir);
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || crate::cli::run(cmd, ""))
        .await
        .unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    for expected in [
        "update-ca-certificates",
        "add-trusted-cert",
        "certutil -addstore",
        "tls_cert = ",
        "localhost, 127.0.0.1",
    ] {
        assert!(stdout.contains(expected), "{expected} missing:\n{stdout}");
    }
    let ca = std::fs::read_to_string(dir.join("nugate-ca.crt")).unwrap();
    let files = CertFiles {
        dir: tempfile::tempdir().unwrap(),
    };
    copy(&dir.join("server.crt"), &files.cert());
    copy(&dir.join("server.key"), &files.key());
    let (app, _) = start_tls(&files, false, |_| {}).await;
    let index: serde_json::Value = https_client(&[&ca])
        .get(app.url("/v3/index.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(resource_urls(&index)
        .iter()
        .all(|u| u.starts_with("https://")));
    // The same name again refuses to overwrite what is there.
    let mut again = crate::cli::nugate(out.path());
    again
        .args(["tls", "self-signed", "--host", "localhost", "--out"])
        .arg(&dir);
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || crate::cli::run(again, ""))
        .await
        .unwrap();
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

/// nuget.exe 5.8 on Mono, trusting the trial CA (`cert-sync --user`), pushes a package,
/// searches and installs over nugate's own https (Mono ignores IP addresses in certificates, so the
/// feed is `https://localhost`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_nuget_5_8_0_pushes_and_installs_over_https() {
    use crate::clients::{deps, Client, Session};
    let Some(deps) = deps() else { return };
    let made = generate("localhost").unwrap();
    let certs = CertFiles::new(&made);
    let (app, _) = start_tls(&certs, false, |c| {
        c.public_url = Some(format!("https://localhost:{}", c.listen.port()));
    })
    .await;
    let s = Session::new(Client::V580, &deps);
    let home = s.dir("ca").parent().unwrap().to_path_buf();
    let ca = home.join("ca/nugate-ca.crt");
    std::fs::write(&ca, &made.ca_pem).unwrap();
    let synced = tokio::task::spawn_blocking({
        let home = home.clone();
        move || {
            std::process::Command::new("cert-sync")
                .arg("--user")
                .arg(&ca)
                .env("HOME", &home)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        synced.status.success(),
        "cert-sync: {}",
        String::from_utf8_lossy(&synced.stderr)
    );
    let alice = app.user("alice").await;
    let key = app
        .key(&alice, "ci", &[nugate::model::key::KeyAction::Push], &["*"])
        .await;
    let index = format!("https://localhost:{}/v3/index.json", app.addr.port());
    let package = s.generated("Tls.Lib", "1.0.0");
    let pushed = s.push(&package, &index, Some(&key)).await;
    assert!(pushed.ok, "push over https\n{}", pushed.output);
    assert!(
        pushed.output.contains("https://localhost") && !pushed.output.contains("http://"),
        "{}",
        pushed.output
    );
    let found = s.run(&["search", "Tls", "-Source", &index]).await;
    assert!(
        found.ok && found.output.contains("Tls.Lib"),
        "{}",
        found.output
    );
    let installed = s.dir("installed");
    let install = s
        .run(&[
            "install",
            "Tls.Lib",
            "-Source",
            &index,
            "-OutputDirectory",
            &s.rel(&installed),
        ])
        .await;
    assert!(install.ok, "install over https\n{}", install.output);
    assert!(installed.join("Tls.Lib.1.0.0").is_dir());
}
