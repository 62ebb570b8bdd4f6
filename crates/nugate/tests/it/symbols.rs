//! Symbol packages and the symbol server: `.snupkg` pushes to `/api/v2/symbolpackage` (as nuget.exe 4.9+
//! and dotnet send them), NuGet.org's validation, the key rules of a push, and PDBs served by their
//! SSQP key. The fixtures are a real portable PDB and the DLL built with it (`ClrLoader` from the
//! MIT-licensed clr_loader 0.3.1 wheel, fetched by `scripts/install-test-deps.sh`), and the real
//! nuget.exe 5.8 packs and pushes them.

use std::io::Write;
use std::path::{Path, PathBuf};

use nugate::model::key::KeyAction::*;

use crate::clients::{deps, Client, Session};
use crate::helpers::{nupkg, xml_escape, Pkg, TestApp};

/// The SSQP key of the amd64 `ClrLoader.pdb` of clr_loader 0.3.1: its `#Pdb` GUID and `FFFFFFFF`.
const KEY: &str = "95f8f6b2afbc45e4884cb4a5bf5addd2ffffffff";

/// The real DLL and portable PDB (and the x86 build's PDB, which matches no amd64 DLL).
struct Fixture {
    dll: Vec<u8>,
    pdb: Vec<u8>,
    other_pdb: Vec<u8>,
    dir: PathBuf,
}

/// The fixture, or `None` (said loudly) where the test dependencies are not installed outside CI.
fn fixture() -> Option<Fixture> {
    let deps = deps()?;
    let dir = deps.join("clr_loader/clr_loader/ffi/dlls");
    let read = |path: &str| {
        std::fs::read(dir.join(path)).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run scripts/install-test-deps.sh",
                dir.join(path).display()
            )
        })
    };
    Some(Fixture {
        dll: read("amd64/ClrLoader.dll"),
        pdb: read("amd64/ClrLoader.pdb"),
        other_pdb: read("x86/ClrLoader.pdb"),
        dir: dir.join("amd64"),
    })
}

/// A `.snupkg` as nuget.exe packs one: a manifest declaring `SymbolsPackage`, the PDBs, the OPC parts.
fn snupkg(id: &str, version: &str, package_type: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let nuspec = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd">
  <metadata>
    <id>{}</id>
    <version>{}</version>
    <description>Symbols</description>
    <packageTypes><packageType name="{}" /></packageTypes>
  </metadata>
</package>"#,
        xml_escape(id),
        xml_escape(version),
        package_type
    );
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(format!("{id}.nuspec"), options).unwrap();
    zip.write_all(nuspec.as_bytes()).unwrap();
    for (name, data) in files {
        zip.start_file(*name, options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<Types/>").unwrap();
    zip.start_file("_rels/.rels", options).unwrap();
    zip.write_all(b"<Relationships/>").unwrap();
    zip.finish().unwrap().into_inner()
}

/// Pushes a `.snupkg` the way nuget.exe 5.8 does: multipart, to the `SymbolPackagePublish` URL plus `/`.
async fn push_symbols(app: &TestApp, key: Option<&str>, body: &[u8]) -> reqwest::Response {
    let boundary = "2b0b8f0e-45c3-4b52-9c1e-7c8f1bd1e1aa";
    let mut multipart = Vec::new();
    write!(
        multipart,
        "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=package; filename=package.nupkg; filename*=utf-8''package.nupkg\r\n\r\n"
    )
    .unwrap();
    multipart.extend_from_slice(body);
    write!(multipart, "\r\n--{boundary}--\r\n").unwrap();
    let mut request = app
        .client
        .put(app.url("/api/v2/symbolpackage/"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary=\"{boundary}\""),
        )
        .body(multipart);
    if let Some(key) = key {
        request = request.header("X-NuGet-ApiKey", key);
    }
    request.send().await.unwrap()
}

/// The package the fixture's DLL ships in.
fn package(id: &str, version: &str, fixture: &Fixture) -> Vec<u8> {
    nupkg(&Pkg {
        files: &[("lib/net45/ClrLoader.dll", &fixture.dll)],
        ..Pkg::new(id, version)
    })
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.unwrap()
}

/// Push, fetch by SSQP key in any case, 404s for anything else, the 409 on a second push, the package
/// page's note, and what `nugate check`, a backup and a database copy make of the new files.
#[tokio::test]
async fn symbols_push_and_serve_by_ssqp_key() {
    let Some(fx) = fixture() else { return };
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["Clr.*"]).await;
    let pushed = app.push(&key, package("Clr.Loader", "1.0.0", &fx)).await;
    assert_eq!(pushed.status(), 201);

    // The service index advertises the symbol push URL, beside the package push URL.
    let index = app.json("/v3/index.json").await;
    let symbol_publish: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["@type"] == "SymbolPackagePublish/4.9.0")
        .map(|r| r["@id"].as_str().unwrap())
        .collect();
    assert_eq!(symbol_publish, [app.url("/api/v2/symbolpackage").as_str()]);

    let symbols = snupkg(
        "Clr.Loader",
        "1.0.0",
        "SymbolsPackage",
        &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
    );
    let response = push_symbols(&app, Some(&key), &symbols).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());

    for path in [
        format!("/symbols/ClrLoader.pdb/{KEY}/ClrLoader.pdb"),
        format!(
            "/symbols/clrloader.pdb/{}/CLRLOADER.PDB",
            KEY.to_uppercase()
        ),
        format!(
            "/symbols/ClrLoader.pdb/{}FFFFFFFF/ClrLoader.pdb",
            &KEY[..32].to_uppercase()
        ),
    ] {
        let response = get(&app, &path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        assert_eq!(response.bytes().await.unwrap(), fx.pdb, "{path}");
    }
    let wrong_key = KEY.replace("95f8", "0000");
    for path in [
        format!("/symbols/ClrLoader.pdb/{wrong_key}/ClrLoader.pdb"),
        format!("/symbols/Other.pdb/{KEY}/Other.pdb"),
        format!("/symbols/ClrLoader.pdb/{KEY}/Other.pdb"),
        format!("/symbols/ClrLoader.pd_/{KEY}/ClrLoader.pd_"),
        "/symbols/ClrLoader.pdb/not-hex/ClrLoader.pdb".to_string(),
    ] {
        assert_eq!(get(&app, &path).await.status(), 404, "{path}");
    }

    // One symbol package per version: the same symbols again are a 409 with the message as reason.
    let again = push_symbols(&app, Some(&key), &symbols).await;
    assert_eq!(again.status(), 409);
    let text = again.text().await.unwrap();
    assert!(text.contains("already pushed"), "{text}");

    // The package page says symbols are there.
    let page = get(&app, "/packages/Clr.Loader/1.0.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"symbols\""),
        "no symbols note on the page"
    );
    assert!(page.contains(&app.url("/symbols")));
    app.push(&key, package("Clr.Loader", "2.0.0", &fx)).await;
    let page = get(&app, "/packages/Clr.Loader/2.0.0")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("id=\"symbols\""), "2.0.0 has no symbols");

    // `nugate check` knows the symbol files (no orphan, nothing missing); a backup carries them; a
    // database copy carries the rows.
    let report = nugate::backup::check(&app.state.db, app.state.packages.storage(), false)
        .await
        .unwrap();
    assert!(report.healthy(), "{report:?}");
    let backup = tempfile::tempdir().unwrap();
    nugate::backup::backup(&app.state.db, app.state.packages.storage(), backup.path())
        .await
        .unwrap();
    let manifest = std::fs::read_to_string(backup.path().join("manifest.json")).unwrap();
    assert!(manifest.contains("clr.loader.1.0.0.snupkg"), "{manifest}");
    assert!(
        manifest.contains(&format!("symbols-{KEY}-clrloader.pdb")),
        "{manifest}"
    );
    let copy = tempfile::tempdir().unwrap();
    let target = nugate::db::Db::open(&format!(
        "sqlite://{}?mode=rwc",
        copy.path().join("copy.db").display()
    ))
    .await
    .unwrap();
    let copied = nugate::db::copy::copy_database(&app.state.db, &target)
        .await
        .unwrap();
    assert_eq!(copied.rows("symbol_packages"), 1);
    assert_eq!(copied.rows("symbol_files"), 1);

    // Deleting the version for good takes its symbols along.
    app.state
        .packages
        .delete_version("Clr.Loader", "1.0.0")
        .await
        .unwrap();
    assert_eq!(
        get(&app, &format!("/symbols/ClrLoader.pdb/{KEY}/ClrLoader.pdb"))
            .await
            .status(),
        404
    );
    let left: Vec<String> = app
        .state
        .packages
        .storage()
        .list_files()
        .await
        .unwrap()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|p| p.starts_with("clr.loader/1.0.0/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let report = nugate::backup::check(&app.state.db, app.state.packages.storage(), false)
        .await
        .unwrap();
    assert!(report.healthy(), "{report:?}");
}

/// NuGet.org's rules, each refused with a 400 (or 404) and a message, nothing stored.
#[tokio::test]
async fn symbols_refused_as_nuget_org_refuses_them() {
    let Some(fx) = fixture() else { return };
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, package("Clr.Loader", "1.0.0", &fx))
            .await
            .status(),
        201
    );
    let not_a_pdb = b"this is not a PDB at all".to_vec();
    let windows_pdb = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\0\0\0 and more".to_vec();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "no SymbolsPackage type",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "Dependency",
                &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
            ),
            400,
            "SymbolsPackage",
        ),
        (
            "a DLL in the symbols package",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[
                    ("lib/net45/ClrLoader.pdb", &fx.pdb),
                    ("lib/net45/ClrLoader.dll", &fx.dll),
                ],
            ),
            400,
            "only .pdb files",
        ),
        (
            "no PDB",
            snupkg("Clr.Loader", "1.0.0", "SymbolsPackage", &[]),
            400,
            "no .pdb",
        ),
        (
            "a PDB no DLL of the package is named after",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net45/Other.pdb", &fx.pdb)],
            ),
            400,
            "has no 'lib/net45/Other.dll' or 'lib/net45/Other.exe'",
        ),
        (
            "a PDB in another folder than its DLL",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net8.0/ClrLoader.pdb", &fx.pdb)],
            ),
            400,
            "has no 'lib/net8.0/ClrLoader.dll'",
        ),
        (
            "a PDB of another build than the DLL",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net45/ClrLoader.pdb", &fx.other_pdb)],
            ),
            400,
            "does not match 'lib/net45/ClrLoader.dll'",
        ),
        (
            "not a PDB",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net45/ClrLoader.pdb", &not_a_pdb)],
            ),
            400,
            "not a portable PDB",
        ),
        (
            "a Windows PDB",
            snupkg(
                "Clr.Loader",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net45/ClrLoader.pdb", &windows_pdb)],
            ),
            400,
            "Windows PDB",
        ),
        (
            "a version that does not exist",
            snupkg(
                "Clr.Loader",
                "9.0.0",
                "SymbolsPackage",
                &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
            ),
            404,
            "does not exist",
        ),
        (
            "an ID that does not exist",
            snupkg(
                "Nobody.Here",
                "1.0.0",
                "SymbolsPackage",
                &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
            ),
            404,
            "does not exist",
        ),
        ("not a zip", b"PK not really".to_vec(), 400, "zip"),
    ];
    for (why, body, status, message) in cases {
        let response = push_symbols(&app, Some(&key), &body).await;
        assert_eq!(response.status().as_u16(), status, "{why}");
        let text = response.text().await.unwrap();
        assert!(text.contains(message), "{why}: {text}");
    }
    let stored: Vec<String> = app
        .state
        .packages
        .storage()
        .list_files()
        .await
        .unwrap()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|p| p.contains("snupkg") || p.contains("symbols-") || p.starts_with(".uploads"))
        .collect();
    assert!(stored.is_empty(), "refused pushes left {stored:?}");
    assert!(!app.state.packages.has_symbols(1).await.unwrap());
    // The refusal reaches nuget.exe as the reason phrase.
    let body = snupkg(
        "Clr.Loader",
        "1.0.0",
        "SymbolsPackage",
        &[("lib/net45/Other.pdb", &fx.pdb)],
    );
    let mut request = format!(
        "PUT /api/v2/symbolpackage/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let (status_line, _) = app.raw(&request).await;
    assert!(
        status_line.starts_with("HTTP/1.1 400") && status_line.contains("lib/net45/Other.dll"),
        "{status_line}"
    );
}

/// The key rules of a push: a key that may push a version of the ID (push-version suffices, an
/// organisation's key for its packages too); no key, another scope, another owner's key, an unlist-only
/// key are refused before anything is read.
#[tokio::test]
async fn symbols_need_the_right_to_push_the_package() {
    use nugate::model::account::OrgRole;
    let Some(fx) = fixture() else { return };
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let full = app.key(&alice, "full", &[Push], &["*"]).await;
    for (id, version) in [("Clr.Loader", "1.0.0"), ("Clr.Loader", "2.0.0")] {
        assert_eq!(
            app.push(&full, package(id, version, &fx)).await.status(),
            201
        );
    }
    let symbols = |version: &str| {
        snupkg(
            "Clr.Loader",
            version,
            "SymbolsPackage",
            &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
        )
    };
    let no_key = push_symbols(&app, None, &symbols("1.0.0")).await;
    assert_eq!(no_key.status(), 401);
    let refused = [
        app.key(&alice, "other-ids", &[Push], &["Fabrikam.*"]).await,
        app.key(&alice, "unlist", &[Unlist], &["*"]).await,
        app.key(&bob, "bobs", &[Push], &["*"]).await,
    ];
    for key in &refused {
        let response = push_symbols(&app, Some(key), &symbols("1.0.0")).await;
        assert_eq!(response.status(), 403);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("does not have permission"));
    }
    assert!(!app
        .state
        .packages
        .storage()
        .list_files()
        .await
        .unwrap()
        .iter()
        .any(|(p, _)| p.ends_with(".snupkg")));
    let version_only = app
        .key(&alice, "version-only", &[PushVersion], &["Clr.Loader"])
        .await;
    assert_eq!(
        push_symbols(&app, Some(&version_only), &symbols("1.0.0"))
            .await
            .status(),
        201
    );

    // An organisation's package: a member's key acting for it pushes the symbols.
    app.state
        .orgs
        .create(&alice, "Acme", None, true)
        .await
        .unwrap();
    app.state
        .orgs
        .set_member("Acme", "bob", OrgRole::Collaborator)
        .await
        .unwrap();
    let acme = app
        .org_key(&alice, "Acme", "acme", &[Push], &["Acme.*"])
        .await;
    assert_eq!(
        app.push(&acme, package("Acme.Clr", "1.0.0", &fx))
            .await
            .status(),
        201
    );
    let bobs_acme = app
        .org_key(&bob, "Acme", "bob-acme", &[PushVersion], &["Acme.*"])
        .await;
    let acme_symbols = snupkg(
        "Acme.Clr",
        "1.0.0",
        "SymbolsPackage",
        &[("lib/net45/ClrLoader.pdb", &fx.pdb)],
    );
    let response = push_symbols(&app, Some(&bobs_acme), &acme_symbols).await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// nuget.exe 5.8 packs a package and its `.snupkg` from a .nuspec and pushes both with one `push`; the
/// debugger's request for the PDB then gets the very bytes packed. A `.snupkg` whose PDB matches no DLL
/// fails the push with the server's message; pushing symbols a second time is a 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbols_nuget_5_8_0_packs_and_pushes_symbols() {
    let Some(fx) = fixture() else { return };
    let Some(deps) = deps() else { return };
    let app = TestApp::start().await;
    let s = Session::new(Client::V580, &deps);
    let index = app.url("/v3/index.json");
    let alice = app.user("alice").await;
    let key = app.key(&alice, "ci", &[Push], &["*"]).await;

    let (nupkg, snupkg) =
        pack_with_symbols(&s, "Clr.Loader", "1.0.0", &fx.dir, "ClrLoader.pdb").await;
    let pushed = s.push(&nupkg, &index, Some(&key)).await;
    assert!(
        pushed.succeeded("Your package was pushed."),
        "push\n{}",
        pushed.output
    );
    assert!(
        pushed.output.contains(".snupkg"),
        "the client did not push the symbols\n{}",
        pushed.output
    );
    let response = get(
        &app,
        &format!(
            "/symbols/ClrLoader.pdb/{}/ClrLoader.pdb",
            KEY.to_uppercase()
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.bytes().await.unwrap(),
        fx.pdb,
        "byte-identical PDB"
    );

    // The same symbols again: the client shows the 409's message.
    let again = s.push(&snupkg, &index, Some(&key)).await;
    assert!(
        !again.ok,
        "a second symbol push must fail\n{}",
        again.output
    );
    assert!(again.output.contains("409"), "{}", again.output);
    assert!(again.output.contains("already pushed"), "{}", again.output);

    // A PDB that belongs to no DLL of the package: the package goes in, the symbols are refused.
    let renamed = s.dir("renamed");
    std::fs::copy(fx.dir.join("ClrLoader.dll"), renamed.join("ClrLoader.dll")).unwrap();
    std::fs::copy(fx.dir.join("ClrLoader.pdb"), renamed.join("Other.pdb")).unwrap();
    let (nupkg, _) = pack_with_symbols(&s, "Clr.Other", "1.0.0", &renamed, "Other.pdb").await;
    let refused = s.push(&nupkg, &index, Some(&key)).await;
    assert!(!refused.ok, "{}", refused.output);
    assert!(
        refused.output.contains("has no 'lib/net45/Other.dll'"),
        "the server's message is not shown\n{}",
        refused.output
    );
    assert_eq!(
        app.json("/v3-flatcontainer/clr.other/index.json").await["versions"],
        serde_json::json!(["1.0.0"])
    );
    assert_eq!(
        get(&app, &format!("/symbols/Other.pdb/{KEY}/Other.pdb"))
            .await
            .status(),
        404
    );
}

/// Packs `{id}.{version}.nupkg` and `.snupkg` with the client from a .nuspec holding `ClrLoader.dll` and
/// the PDB `pdb` from `dir`.
async fn pack_with_symbols(
    s: &Session,
    id: &str,
    version: &str,
    dir: &Path,
    pdb: &str,
) -> (PathBuf, PathBuf) {
    let src = s.dir(&format!("src-{id}"));
    std::fs::copy(dir.join("ClrLoader.dll"), src.join("ClrLoader.dll")).unwrap();
    std::fs::copy(dir.join(pdb), src.join(pdb)).unwrap();
    let nuspec = format!(
        r#"<?xml version="1.0"?>
<package>
  <metadata>
    <id>{id}</id>
    <version>{version}</version>
    <authors>nugate tests</authors>
    <description>{id} with symbols, packed by the real client.</description>
  </metadata>
  <files>
    <file src="ClrLoader.dll" target="lib/net45" />
    <file src="{pdb}" target="lib/net45" />
  </files>
</package>"#
    );
    let spec = src.join(format!("{id}.nuspec"));
    std::fs::write(&spec, nuspec).unwrap();
    let out = s.dir("packed");
    let packed = s
        .run(&[
            "pack",
            &s.rel(&spec),
            "-Symbols",
            "-SymbolPackageFormat",
            "snupkg",
            "-OutputDirectory",
            &s.rel(&out),
        ])
        .await;
    assert!(packed.ok, "pack\n{}", packed.output);
    let nupkg = out.join(format!("{id}.{version}.nupkg"));
    let snupkg = out.join(format!("{id}.{version}.snupkg"));
    assert!(
        nupkg.exists() && snupkg.exists(),
        "pack made no .nupkg/.snupkg\n{}",
        packed.output
    );
    (nupkg, snupkg)
}
