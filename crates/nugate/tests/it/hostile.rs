//! Hostile input: well over a thousand generated requests that try to break the push endpoint and the
//! read API with broken archives, zip bombs, poisoned XML, identifiers and versions at and past every
//! limit, malformed multipart bodies, oversized and slow uploads, and extreme headers and queries.
//!
//! Every input is generated here at test time (nothing binary is committed), so the suite documents the
//! attack as code. Each case must get the precise 4xx with a short, human-readable message; after every
//! batch the server must still accept a valid push and serve it back, and must not have left a spooled
//! upload behind in `data_dir/tmp`. The zip-bomb batch also bounds memory: the server runs inside the
//! test process, so the process's resident size is the server's.

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nugate::model::key::KeyAction::{Push, Unlist};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zip::write::SimpleFileOptions;

use crate::helpers::{simple, TestApp};

/// The longest message an error may carry: enough for a sentence naming the input (shortened), short
/// enough that hostile input cannot make the server echo megabytes back.
const MAX_MESSAGE_BYTES: usize = 2048;

/// What a case must get back.
#[derive(Clone, Debug)]
enum Expect {
    /// Exactly this status, with a message containing the text (case-insensitively) when one is given.
    Status(u16, Option<&'static str>),
    /// One of these statuses: used where the outcome honestly depends on which byte a mutation hit.
    AnyOf(&'static [u16]),
    /// Any non-5xx answer, empty body allowed: for limits enforced by hyper itself before the app runs.
    NotServerError,
    /// One of these statuses from hyper itself, which answers malformed requests with an empty body
    /// before the application sees them (so no message can be required).
    Hyper(&'static [u16]),
}

fn refused(status: u16, needle: &'static str) -> Expect {
    Expect::Status(status, Some(needle))
}

fn bad(needle: &'static str) -> Expect {
    refused(400, needle)
}

/// One request the server must survive.
struct Case {
    category: &'static str,
    label: String,
    method: reqwest::Method,
    path: String,
    /// `None` sends no `X-NuGet-ApiKey` header.
    key: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Sends the body with chunked encoding (no Content-Length), in 16 KiB pieces.
    chunked: bool,
    expect: Expect,
}

impl Case {
    fn new(category: &'static str, label: impl Into<String>, path: &str, expect: Expect) -> Case {
        Case {
            category,
            label: label.into(),
            method: reqwest::Method::GET,
            path: path.to_string(),
            key: None,
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
            expect,
        }
    }

    /// A raw-body push with the suite's key.
    fn push(
        ctx: &Ctx,
        category: &'static str,
        label: impl Into<String>,
        body: Vec<u8>,
        expect: Expect,
    ) -> Case {
        let mut case = Case::new(category, label, "/api/v2/package/", expect);
        case.method = reqwest::Method::PUT;
        case.key = Some(ctx.key.clone());
        case.body = body;
        case
    }

    /// A multipart push with the given content type.
    fn push_as(
        ctx: &Ctx,
        category: &'static str,
        label: impl Into<String>,
        content_type: &str,
        body: Vec<u8>,
        expect: Expect,
    ) -> Case {
        let mut case = Case::push(ctx, category, label, body, expect);
        case.headers
            .push(("Content-Type".into(), content_type.into()));
        case
    }
}

/// The server under test and the key that may push anything.
struct Ctx {
    key: String,
}

/// Case counts per category, and the failures found so far.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn total(&self) -> usize {
        self.counts.values().sum()
    }

    fn fail(&mut self, category: &str, label: &str, why: String) {
        let short = |text: &str, n: usize| text.chars().take(n).collect::<String>();
        self.failures.push(format!(
            "[{category}] {}: {}",
            short(label, 120),
            short(&why, 300)
        ));
    }
}

/// Sends every case and checks the answer; failures are collected so one run shows all of them.
async fn run(app: &TestApp, cases: Vec<Case>, tally: &mut Tally) {
    for case in cases {
        *tally.counts.entry(case.category).or_default() += 1;
        let mut request = app.client.request(case.method.clone(), app.url(&case.path));
        if let Some(key) = &case.key {
            request = request.header("X-NuGet-ApiKey", key);
        }
        for (name, value) in &case.headers {
            request = request.header(name, value);
        }
        if case.chunked {
            let pieces: Vec<Result<Vec<u8>, std::io::Error>> = case
                .body
                .chunks(16 * 1024)
                .map(|c| Ok(c.to_vec()))
                .collect();
            request = request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                pieces,
            )));
        } else if !case.body.is_empty() {
            request = request.body(case.body.clone());
        }
        let response = match tokio::time::timeout(Duration::from_secs(30), request.send()).await {
            Ok(Ok(response)) => response,
            // An oversized streamed body is cut off once it passes the limit: the server answers 413
            // and closes while the client may still be writing, which the client sees as a broken
            // connection instead. Either way nothing was stored (checked after the batch).
            Ok(Err(_)) if case.chunked && matches!(case.expect, Expect::Status(413, _)) => continue,
            Ok(Err(e)) => {
                tally.fail(case.category, &case.label, format!("no answer: {e:#}"));
                continue;
            }
            Err(_) => {
                tally.fail(case.category, &case.label, "no answer within 30 s".into());
                continue;
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.bytes().await.unwrap_or_default();
        let message = String::from_utf8_lossy(&body).to_string();
        if let Some(why) = judge(&case.expect, status, &content_type, &message) {
            tally.fail(case.category, &case.label, why);
        }
    }
}

/// Why an answer is wrong, if it is.
fn judge(expect: &Expect, status: u16, content_type: &str, message: &str) -> Option<String> {
    let shown: String = message.chars().take(200).collect();
    if status >= 500 {
        return Some(format!("server error {status}: {shown}"));
    }
    let needle = match expect {
        Expect::Status(want, needle) => {
            if status != *want {
                return Some(format!("expected {want}, got {status}: {shown}"));
            }
            *needle
        }
        Expect::AnyOf(allowed) => {
            if !allowed.contains(&status) {
                return Some(format!(
                    "expected one of {allowed:?}, got {status}: {shown}"
                ));
            }
            None
        }
        Expect::NotServerError => return None,
        Expect::Hyper(allowed) => {
            return (!allowed.contains(&status))
                .then(|| format!("expected one of {allowed:?} from hyper, got {status}: {shown}"));
        }
    };
    if status >= 400 {
        if message.trim().is_empty() {
            return Some(format!("{status} with an empty message"));
        }
        if !content_type.starts_with("text/plain") {
            return Some(format!(
                "{status} message is '{content_type}', not text/plain"
            ));
        }
        if message.len() > MAX_MESSAGE_BYTES {
            return Some(format!(
                "{status} message is {} bytes long: {shown}…",
                message.len()
            ));
        }
    }
    if let Some(needle) = needle {
        if !message.to_lowercase().contains(&needle.to_lowercase()) {
            return Some(format!("{status} message lacks '{needle}': {shown}"));
        }
    }
    None
}

/// The uploads still in flight (or left behind) in the server's spool folder.
fn spooled_files(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.data_dir().join("tmp"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// After a batch: the spool folder is empty (give a just-finished request a moment to drop its file),
/// a valid package can still be pushed, and it is served back byte for byte.
async fn assert_still_serving(app: &TestApp, key: &str, batch: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !spooled_files(app).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        spooled_files(app),
        Vec::<String>::new(),
        "{batch}: temporary files left in data_dir/tmp"
    );
    let version = format!("1.0.{}", next_serial());
    let package = simple("Hostile.Alive", &version);
    let pushed = app.push(key, package.clone()).await;
    assert_eq!(
        pushed.status(),
        201,
        "{batch}: a valid push after the batch failed"
    );
    let url = app.url(&format!(
        "/v3-flatcontainer/hostile.alive/{version}/hostile.alive.{version}.nupkg"
    ));
    let served = app.client.get(url).send().await.unwrap();
    assert_eq!(
        served.status(),
        200,
        "{batch}: the pushed package is not served"
    );
    assert_eq!(
        served.bytes().await.unwrap().as_ref(),
        package.as_slice(),
        "{batch}"
    );
    assert_eq!(
        spooled_files(app),
        Vec::<String>::new(),
        "{batch}: a valid push left a temporary file"
    );
}

/// A process-wide counter for unique IDs and versions, so accepted cases never collide with each other.
fn next_serial() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(1);
    SERIAL.fetch_add(1, Ordering::Relaxed)
}

/// The resident memory of this process (and so of the in-process server), in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// A small deterministic generator (xorshift), so "random" corruption is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------------------------------
// Building packages

/// Escapes text for an XML element or attribute, so ID and version cases test the validators, not XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A complete manifest; `id` and `version` are inserted verbatim (escape them first if needed).
fn manifest(id: &str, version: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{id}</id>
    <version>{version}</version>
    <authors>Hostile Tests</authors>
    <description>A package built to be refused.</description>
    {extra}
  </metadata>
</package>"#
    )
}

/// A zip of the given entries, deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(*name, SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A package holding just this manifest text.
fn with_manifest(nuspec: &[u8]) -> Vec<u8> {
    zip_of(&[("Hostile.nuspec", nuspec), ("lib/netstandard2.0/_._", b"")])
}

/// A fresh package ID no other case uses.
fn fresh_id(prefix: &str) -> String {
    format!("Hostile.{prefix}{}", next_serial())
}

/// A zip whose entry `name` inflates to `prefix`, then `filler_bytes` spaces, then `suffix`; the filler
/// is streamed into the writer in 1 MiB chunks, so building a gigabyte bomb never holds it in memory.
fn bomb(
    entries_before: &[(&str, &[u8])],
    name: &str,
    prefix: &[u8],
    filler_bytes: u64,
    suffix: &[u8],
) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (entry, data) in entries_before {
        zip.start_file(*entry, SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    // The fastest level: runs of one byte still compress about a thousandfold, and building is quicker.
    let options = SimpleFileOptions::default()
        .compression_level(Some(1))
        .large_file(filler_bytes >= u64::from(u32::MAX));
    zip.start_file(name, options).unwrap();
    zip.write_all(prefix).unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    let mut left = filler_bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        zip.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    zip.write_all(suffix).unwrap();
    zip.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------------------------------------------
// Case generators

/// A valid package cut short at many offsets: every cut must be refused as a broken zip.
fn truncated(ctx: &Ctx) -> Vec<Case> {
    let whole = simple("Hostile.Truncated", "1.0.0");
    let mut cases = vec![Case::push(
        ctx,
        "truncated zip",
        "cut at 0",
        Vec::new(),
        bad("empty"),
    )];
    // Every offset in the last 600 bytes (the central directory and end record, where parsers are most
    // fragile) and every third offset before that.
    let tail_start = whole.len().saturating_sub(600);
    for cut in (1..whole.len()).filter(|&c| c >= tail_start || c % 3 == 0) {
        cases.push(Case::push(
            ctx,
            "truncated zip",
            format!("cut at {cut} of {}", whole.len()),
            whole[..cut].to_vec(),
            bad("not a valid zip archive"),
        ));
    }
    cases
}

/// Bytes flipped inside the manifest's compressed data (which the server must read: the CRC or the
/// inflater catches it) and anywhere at all (where an untouched-by-the-server byte may legitimately
/// still give a valid package).
fn corrupted(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let whole = simple("Hostile.Corrupt", "1.0.0");
    // The manifest is the first entry: a 30-byte local header, the name, then its data.
    let name_len = u16::from_le_bytes([whole[26], whole[27]]) as usize;
    let extra_len = u16::from_le_bytes([whole[28], whole[29]]) as usize;
    let compressed = u32::from_le_bytes([whole[18], whole[19], whole[20], whole[21]]) as usize;
    let data_start = 30 + name_len + extra_len;
    for (n, offset) in (data_start..data_start + compressed).enumerate() {
        let mut bytes = whole.clone();
        bytes[offset] ^= if n % 2 == 0 { 0xFF } else { 0x01 };
        cases.push(Case::push(
            ctx,
            "corrupt manifest data",
            format!("flip at {offset}"),
            bytes,
            Expect::Status(400, None),
        ));
    }
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for n in 0..150 {
        let version = format!("2.0.{n}");
        let mut bytes = simple("Hostile.Flipped", &version);
        let offset = rng.below(bytes.len());
        bytes[offset] ^= (rng.next() as u8) | 1;
        cases.push(Case::push(
            ctx,
            "corrupt any byte",
            format!("{version}: flip at {offset}"),
            bytes,
            Expect::AnyOf(&[201, 400]),
        ));
    }
    cases
}

/// Bodies that are not zips at all.
fn not_zips(ctx: &Ctx) -> Vec<Case> {
    let mut rng = Rng(0x0dd_ba11);
    let mut bodies: Vec<(String, Vec<u8>)> = vec![
        ("text".into(), b"this is not a package".to_vec()),
        (
            "json".into(),
            br#"{"id":"Hostile","version":"1.0.0"}"#.to_vec(),
        ),
        (
            "nuspec xml".into(),
            manifest("Hostile.Xml", "1.0.0", "").into_bytes(),
        ),
        ("local header only".into(), b"PK\x03\x04".to_vec()),
        ("end record only".into(), {
            let mut v = b"PK\x05\x06".to_vec();
            v.extend_from_slice(&[0; 18]);
            v
        }),
        ("end record claiming 65535 entries".into(), {
            let mut v = b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff".to_vec();
            v.extend_from_slice(&[0xff; 8]);
            v.extend_from_slice(&[0, 0]);
            v
        }),
        (
            "gzip".into(),
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                .to_vec(),
        ),
        ("zeros".into(), vec![0; 4096]),
        ("PK then zeros".into(), {
            let mut v = b"PK".to_vec();
            v.extend_from_slice(&[0; 1000]);
            v
        }),
        (
            "multipart body without multipart type".into(),
            b"--b\r\n\r\nPK\x03\x04\r\n--b--\r\n".to_vec(),
        ),
    ];
    for size in [
        1usize, 2, 3, 21, 22, 23, 64, 100, 1000, 4096, 65_536, 300_000,
    ] {
        bodies.push((format!("{size} random bytes"), rng.bytes(size)));
    }
    for size in [22usize, 100, 5000] {
        // Random bytes that end in an end-of-central-directory signature, to tempt the parser further.
        let mut v = rng.bytes(size);
        let at = v.len() - 22;
        v[at..at + 4].copy_from_slice(b"PK\x05\x06");
        bodies.push((format!("{size} random bytes ending in an end record"), v));
    }
    bodies
        .into_iter()
        .map(|(label, body)| {
            let expect = Expect::Status(400, None);
            Case::push(ctx, "not a zip", label, body, expect)
        })
        .collect()
}

/// Archive structure: unsafe entry names, missing, doubled and misplaced manifests, nested packages,
/// lying size fields and too many entries.
fn structure(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let nuspec = manifest("Hostile.Structure", "1.0.0", "");
    let nuspec = nuspec.as_bytes();
    // Unsafe wherever they appear (a `..` segment or a NUL)…
    let anywhere = [
        "../x",
        "..\\x",
        "..",
        "x/..",
        "x/../../y",
        "x\\..\\y",
        "a/b/../../../etc/passwd",
        "x\0y",
    ];
    // …and unsafe only at the start (absolute paths and drive letters).
    let at_start = [
        "/x",
        "\\x",
        "/etc/passwd",
        "//server/share/x",
        "\\\\server\\share\\x",
        "C:x",
        "c:/x",
        "Z:\\x",
        "C:\\Windows\\evil.dll",
    ];
    let mut names: Vec<String> = Vec::new();
    for prefix in ["", "lib/", "lib\\", "content/a/b/"] {
        names.extend(anywhere.iter().map(|n| format!("{prefix}{n}")));
    }
    names.extend(at_start.iter().map(|n| n.to_string()));
    names.extend(["../Hostile.nuspec", "/Hostile2.nuspec", "C:Hostile2.nuspec"].map(String::from));
    for name in &names {
        cases.push(Case::push(
            ctx,
            "unsafe entry name",
            format!("{name:?}"),
            zip_of(&[("Hostile.nuspec", nuspec), (name, b"x")]),
            bad("unsafe name"),
        ));
    }
    // Look-alikes that are safe must still be accepted.
    for name in [
        "lib/..foo/x.dll",
        "lib/a..b/x.dll",
        "lib\\net45\\x.dll",
        "content/x..",
        "lib/C:/x",
    ] {
        let id = fresh_id("SafeName");
        let nuspec = manifest(&id, "1.0.0", "");
        cases.push(Case::push(
            ctx,
            "safe entry name",
            format!("{name:?}"),
            zip_of(&[(&format!("{id}.nuspec"), nuspec.as_bytes()), (name, b"x")]),
            Expect::Status(201, None),
        ));
    }
    let empty_zip = zip::ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .unwrap()
        .into_inner();
    let layouts: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "empty archive",
            empty_zip,
            bad("does not contain a .nuspec"),
        ),
        (
            "no nuspec",
            zip_of(&[("lib/x.dll", b"MZ")]),
            bad("does not contain a .nuspec"),
        ),
        (
            "nuspec only in a sub-folder",
            zip_of(&[("sub/Hostile.nuspec", nuspec)]),
            bad("does not contain a .nuspec"),
        ),
        (
            "nuspec only in a backslash sub-folder",
            zip_of(&[("sub\\Hostile.nuspec", nuspec)]),
            bad("does not contain a .nuspec"),
        ),
        (
            "two nuspecs",
            zip_of(&[("a.nuspec", nuspec), ("b.nuspec", nuspec)]),
            bad("more than one .nuspec"),
        ),
        (
            "two nuspecs differing in case",
            zip_of(&[("a.nuspec", nuspec), ("A.NUSPEC", nuspec)]),
            bad("two entries with the same name, 'a.nuspec' and 'A.NUSPEC'"),
        ),
        (
            "two entries differing in slash direction",
            zip_of(&[
                ("Hostile.nuspec", nuspec),
                ("lib/x.dll", b"1"),
                ("lib\\x.dll", b"2"),
            ]),
            bad("two entries with the same name"),
        ),
        (
            "the manifest twice under one name",
            duplicate_nuspec("Hostile.Duplicate"),
            bad("The package contains two entries named 'Hostile.Duplicate.nuspec'."),
        ),
        (
            "nuspec is a folder",
            zip_of(&[("Hostile.nuspec/", b""), ("lib/x.dll", b"MZ")]),
            Expect::Status(400, None),
        ),
        (
            "nuspec is empty",
            zip_of(&[("Hostile.nuspec", b"")]),
            Expect::Status(400, None),
        ),
        (
            "nuspec is a nupkg",
            zip_of(&[("Hostile.nuspec", &simple("Hostile.Inner", "1.0.0"))]),
            Expect::Status(400, None),
        ),
        (
            "only a nested nupkg",
            zip_of(&[("inner.nupkg", &simple("Hostile.Inner", "1.0.0"))]),
            bad("does not contain a .nuspec"),
        ),
    ];
    for (label, body, expect) in layouts {
        cases.push(Case::push(ctx, "archive layout", label, body, expect));
    }
    // Hundreds of root manifests: refused, and the message lists them without growing without bound.
    let many: Vec<(String, &[u8])> = (0..2000)
        .map(|i| (format!("m{i:04}.nuspec"), nuspec))
        .collect();
    let many_refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    cases.push(Case::push(
        ctx,
        "archive layout",
        "2000 root nuspecs",
        zip_of(&many_refs),
        bad("more than one .nuspec"),
    ));
    // A valid outer package carrying a nested package (even a bomb) is accepted: the server never opens it.
    let id = fresh_id("Nested");
    let outer_nuspec = manifest(&id, "1.0.0", "");
    let inner_bomb = bomb(&[], "Inner.nuspec", b"", 64 * 1024 * 1024, b"");
    cases.push(Case::push(
        ctx,
        "nested package",
        "a nupkg holding a nupkg that holds a 64 MiB entry",
        zip_of(&[
            (&format!("{id}.nuspec"), outer_nuspec.as_bytes()),
            ("content/inner.nupkg", &inner_bomb),
            ("content/inner2.nupkg", &simple("Hostile.Inner", "1.0.0")),
        ]),
        Expect::Status(201, None),
    ));
    // Too many entries.
    let names: Vec<String> = (0..20_001).map(|i| format!("f/{i}")).collect();
    let mut files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    files.push(("Hostile.nuspec", nuspec));
    cases.push(Case::push(
        ctx,
        "archive layout",
        "20 002 entries",
        zip_of(&files),
        bad("more than the limit"),
    ));
    // Size fields that lie: the manifest's declared sizes in the central directory are rewritten.
    let lie = |field: &str| {
        let honest = with_manifest(manifest(&fresh_id("Lying"), "1.0.0", "").as_bytes());
        let central = find_all(&honest, b"PK\x01\x02")[0];
        (honest, central, field.to_string())
    };
    for (field, value) in [
        ("uncompressed size 1", (24usize, 1u32)),
        ("uncompressed size 0", (24, 0)),
        ("uncompressed size 4 GiB - 2", (24, u32::MAX - 1)),
        ("uncompressed size zip64 marker", (24, u32::MAX)),
        ("compressed size 1", (20, 1)),
        ("compressed size huge", (20, u32::MAX - 1)),
        ("compressed size zip64 marker", (20, u32::MAX)),
        ("local header offset past the end", (42, 10_000_000)),
        ("crc zero", (16, 0)),
        ("compression method 99", (10, 99)),
        ("compression method 12 (bzip2)", (10, 12)),
        ("encrypted flag", (8, 1)),
    ] {
        let (offset, value) = value;
        let (honest, central, _) = lie(field);
        let mut bytes = honest.clone();
        let at = central + offset;
        if offset == 10 || offset == 8 {
            bytes[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
            if offset == 10 {
                // The local header must agree, or the parser refuses the mismatch before decoding.
                bytes[8..10].copy_from_slice(&(value as u16).to_le_bytes());
            } else {
                bytes[6..8].copy_from_slice(&(value as u16).to_le_bytes());
            }
        } else {
            bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        cases.push(Case::push(
            ctx,
            "lying zip headers",
            field,
            bytes,
            if offset == 20 || offset == 24 && value > 1 {
                // Declared sizes are never trusted (every read is capped), so an oversized claim over
                // intact data may be accepted; what matters is that it costs nothing.
                Expect::AnyOf(&[201, 400])
            } else {
                Expect::Status(400, None)
            },
        ));
    }
    cases
}

/// A package whose root manifest appears twice under one name, the first copy with an extra dependency:
/// the zip writer refuses duplicate names, so the second is written as `…nusped` and renamed in the bytes
/// (local header and central directory).
fn duplicate_nuspec(id: &str) -> Vec<u8> {
    let honest = manifest(id, "1.0.0", "");
    let poisoned = manifest(
        id,
        "1.0.0",
        r#"<dependencies><dependency id="Hostile.Evil" version="1.0.0" /></dependencies>"#,
    );
    let (real, decoy) = (format!("{id}.nuspec"), format!("{id}.nusped"));
    let mut bytes = zip_of(&[
        (&real, poisoned.as_bytes()),
        (&decoy, honest.as_bytes()),
        ("lib/netstandard2.0/_._", b""),
    ]);
    let at = find_all(&bytes, decoy.as_bytes());
    assert_eq!(
        at.len(),
        2,
        "the decoy name is in the local header and the central directory"
    );
    for i in at {
        bytes[i..i + real.len()].copy_from_slice(real.as_bytes());
    }
    bytes
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Poisoned manifests: DTDs and entities, bad encodings, oversized content, deep nesting, missing parts.
fn xml(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut push = |label: String, nuspec: Vec<u8>, expect: Expect| {
        cases.push(Case::push(
            ctx,
            "xml",
            label,
            with_manifest(&nuspec),
            expect,
        ));
    };
    let good = manifest("Hostile.Xml", "1.0.0", "");
    let body_at = good.find("<package").unwrap();
    let doctype = |dtd: &str| format!("{}{dtd}\n{}", &good[..body_at], &good[body_at..]);
    let laughs = {
        let mut dtd = String::from("<!DOCTYPE package [\n<!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            dtd.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">\n",
                format!("&{prev};").repeat(10)
            ));
        }
        dtd.push_str("]>");
        dtd
    };
    let dtds = [
        ("bare doctype", "<!DOCTYPE package>".to_string()),
        (
            "public doctype",
            r#"<!DOCTYPE package PUBLIC "-//X//DTD X//EN" "http://127.0.0.1:1/x.dtd">"#.to_string(),
        ),
        (
            "external entity",
            r#"<!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#.to_string(),
        ),
        (
            "external parameter entity",
            r#"<!DOCTYPE package [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]>"#
                .to_string(),
        ),
        ("billion laughs", laughs.clone()),
        (
            "quadratic blowup",
            format!(
                "<!DOCTYPE package [<!ENTITY a \"{}\">]>",
                "x".repeat(50_000)
            ),
        ),
        ("lowercase doctype", "<!doctype package>".to_string()),
    ];
    for (label, dtd) in &dtds {
        push(
            format!("{label} before the root"),
            doctype(dtd).into_bytes(),
            bad("DOCTYPE"),
        );
    }
    // The same declarations used from inside the document.
    for (label, dtd, reference) in [
        ("billion laughs used", laughs.as_str(), "&lol9;"),
        (
            "external entity used",
            r#"<!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
            "&xxe;",
        ),
    ] {
        let text = doctype(dtd).replace("A package built to be refused.", reference);
        push(label.to_string(), text.into_bytes(), bad("DOCTYPE"));
    }
    // Entities with no DTD at all, in text and in attributes.
    for entity in ["lol9", "xxe", "nbsp", "copy", "a", &"e".repeat(10_000)] {
        let in_text = good.replace("A package built to be refused.", &format!("&{entity};"));
        push(
            format!("undefined entity &{:.20}; in text", entity),
            in_text.into_bytes(),
            bad("undefined entity"),
        );
        let in_attr = manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!(
                "<dependencies><dependency id=\"A&{entity};\" version=\"1.0\" /></dependencies>"
            ),
        );
        push(
            format!("undefined entity &{:.20}; in an attribute", entity),
            in_attr.into_bytes(),
            bad("undefined entity"),
        );
    }
    for reference in [
        "&#0;",
        "&#xD800;",
        "&#x110000;",
        "&#99999999999999999999;",
        "&#;",
        "&#x;",
        "&#xZZ;",
        "&;",
        "& ;",
        "&",
    ] {
        let text = good.replace("A package built to be refused.", reference);
        push(
            format!("bad reference {reference}"),
            text.into_bytes(),
            Expect::Status(400, None),
        );
    }
    // Invalid UTF-8 at every interesting place.
    let invalid: [&[u8]; 8] = [
        &[0xFF],
        &[0xFE],
        &[0xC0, 0x80],
        &[0x80],
        &[0xE2, 0x82],
        &[0xED, 0xA0, 0x80],
        &[0xF4, 0x90, 0x80, 0x80],
        &[0xF8, 0x88, 0x80, 0x80, 0x80],
    ];
    for (where_, marker) in [
        ("in the id", "Hostile.Xml</id>"),
        ("in the description", "built to be"),
        ("in an attribute", "packaging/2013"),
        ("in the declaration", "utf-8"),
        ("at the start", "<?xml"),
        ("at the end", "</package>"),
    ] {
        for bytes in invalid {
            let at = good.find(marker).unwrap()
                + if where_ == "at the end" {
                    marker.len()
                } else {
                    0
                };
            let mut text = good.as_bytes()[..at].to_vec();
            text.extend_from_slice(bytes);
            text.extend_from_slice(&good.as_bytes()[at..]);
            push(
                format!("invalid UTF-8 {bytes:02X?} {where_}"),
                text,
                bad("UTF-8"),
            );
        }
    }
    let mut utf16: Vec<u8> = vec![0xFF, 0xFE];
    utf16.extend(good.encode_utf16().flat_map(u16::to_le_bytes));
    push("UTF-16 LE".into(), utf16, bad("UTF-16"));
    let mut utf16be: Vec<u8> = vec![0xFE, 0xFF];
    utf16be.extend(good.encode_utf16().flat_map(u16::to_be_bytes));
    push("UTF-16 BE".into(), utf16be, bad("UTF-16"));
    // Huge elements and attributes.
    let huge = |n: usize| "x".repeat(n);
    push(
        "title of 64 KiB + 1".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!("<title>{}</title>", huge(65_537)),
        )
        .into_bytes(),
        bad("longer than 65536 bytes"),
    );
    push(
        "tags of 900 KiB".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!("<tags>{}</tags>", huge(900 * 1024)),
        )
        .into_bytes(),
        bad("longer than"),
    );
    push(
        "description over 1 MiB".into(),
        good.replace("A package built to be refused.", &huge(1024 * 1024 + 1))
            .into_bytes(),
        bad("larger than 1 MiB"),
    );
    push(
        "nuspec just over 1 MiB of comment".into(),
        good.replace(
            "<metadata>",
            &format!("<!--{}--><metadata>", huge(1024 * 1024)),
        )
        .into_bytes(),
        bad("larger than 1 MiB"),
    );
    push(
        "attribute of 900 KiB".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!(
                "<dependencies><dependency id=\"{}\" version=\"1.0\" /></dependencies>",
                huge(900 * 1024)
            ),
        )
        .into_bytes(),
        bad("dependency ID"),
    );
    push(
        "license type of 500 KiB".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!("<license type=\"{}\">MIT</license>", huge(500 * 1024)),
        )
        .into_bytes(),
        bad("license type"),
    );
    push(
        "element name of 500 KiB never closed".into(),
        manifest("Hostile.Xml", "1.0.0", &format!("<{}>", huge(500 * 1024))).into_bytes(),
        Expect::Status(400, None),
    );
    push(
        "element name of 500 KiB mismatched".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!("<{}></y>", huge(500 * 1024)),
        )
        .into_bytes(),
        Expect::Status(400, None),
    );
    push(
        "100 000 attributes".into(),
        manifest(
            "Hostile.Xml",
            "1.0.0",
            &format!(
                "<tags {}>t</tags>",
                (0..100_000)
                    .map(|i| format!("a{i}=\"\""))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
        .into_bytes(),
        Expect::AnyOf(&[201, 400]),
    );
    push(
        "duplicate attributes".into(),
        manifest("Hostile.Xml", "1.0.0", "<tags a=\"1\" a=\"2\">t</tags>").into_bytes(),
        Expect::Status(400, None),
    );
    // Deep nesting, closed and unclosed.
    for depth in [65usize, 100, 1000, 100_000] {
        let nested = format!("{}{}", "<x>".repeat(depth), "</x>".repeat(depth));
        push(
            format!("{depth} nested elements"),
            manifest("Hostile.Xml", "1.0.0", &nested).into_bytes(),
            bad("levels deep"),
        );
        push(
            format!("{depth} unclosed elements"),
            manifest("Hostile.Xml", "1.0.0", &"<x>".repeat(depth)).into_bytes(),
            Expect::Status(400, None),
        );
    }
    // Missing and empty required parts, wrong roots.
    for element in ["id", "version", "authors", "description"] {
        let start = good.find(&format!("<{element}>")).unwrap();
        let end = good.find(&format!("</{element}>")).unwrap() + element.len() + 3;
        let missing = format!("{}{}", &good[..start], &good[end..]);
        push(
            format!("no {element}"),
            missing.into_bytes(),
            refused(400, "missing the required element"),
        );
        for empty in ["", "   ", "\n\t"] {
            let text = format!(
                "{}<{element}>{empty}</{element}>{}",
                &good[..start],
                &good[end..]
            );
            push(
                format!("empty {element} {empty:?}"),
                text.into_bytes(),
                refused(400, "missing the required element"),
            );
        }
    }
    let metadata_start = good.find("<metadata>").unwrap();
    let metadata_end = good.find("</metadata>").unwrap() + "</metadata>".len();
    push(
        "no metadata".into(),
        format!("{}{}", &good[..metadata_start], &good[metadata_end..]).into_bytes(),
        bad("no 'metadata' element"),
    );
    let inner = &good[metadata_start..metadata_end];
    for (label, text, expect) in [
        (
            "root nuspec",
            format!("<nuspec>{inner}</nuspec>"),
            bad("root element"),
        ),
        (
            "root Package",
            format!("<Package>{inner}</Package>"),
            bad("root element"),
        ),
        ("root metadata", inner.to_string(), bad("root element")),
        ("empty document", String::new(), Expect::Status(400, None)),
        (
            "declaration only",
            "<?xml version=\"1.0\"?>".to_string(),
            Expect::Status(400, None),
        ),
        (
            "comment only",
            "<!-- nothing -->".to_string(),
            Expect::Status(400, None),
        ),
        ("text only", "hello".to_string(), Expect::Status(400, None)),
        (
            "two roots",
            format!("<package>{inner}</package><package/>"),
            Expect::Status(400, None),
        ),
        (
            "text after root",
            format!("<package>{inner}</package>trailing"),
            Expect::Status(400, None),
        ),
        (
            "unclosed root",
            format!("<package>{inner}"),
            Expect::Status(400, None),
        ),
        (
            "mismatched end tag",
            format!("<package>{inner}</packages>"),
            Expect::Status(400, None),
        ),
        (
            "unquoted attribute",
            format!("<package a=b>{inner}</package>"),
            Expect::Status(400, None),
        ),
        (
            "lt in text",
            good.replace("built to be", "built < to be"),
            Expect::Status(400, None),
        ),
        (
            "unterminated comment",
            good.replace("<metadata>", "<!-- <metadata>"),
            Expect::Status(400, None),
        ),
        (
            "unterminated CDATA",
            good.replace("built to be", "<![CDATA[ built"),
            Expect::Status(400, None),
        ),
        (
            "unterminated PI",
            good.replace("<metadata>", "<?pi <metadata>"),
            Expect::Status(400, None),
        ),
        (
            "second declaration",
            good.replace("<metadata>", "<?xml version=\"1.0\"?><metadata>"),
            Expect::AnyOf(&[201, 400]),
        ),
        (
            "NUL character",
            good.replace("built to be", "built\0to be"),
            Expect::Status(400, Some("does not allow")),
        ),
    ] {
        let expect = match expect {
            // Whatever is accepted must not collide with the other accepted cases.
            Expect::AnyOf(_) => {
                let id = fresh_id("Xml");
                push(
                    label.to_string(),
                    text.replace("Hostile.Xml", &id).into_bytes(),
                    Expect::AnyOf(&[201, 400]),
                );
                continue;
            }
            other => other,
        };
        push(label.to_string(), text.into_bytes(), expect);
    }
    cases
}

/// Package IDs at and past every limit.
fn ids(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut push = |label: String, id: &str, expect: Expect| {
        let nuspec = manifest(&escape(id), "1.0.0", "");
        cases.push(Case::push(
            ctx,
            "package id",
            label,
            with_manifest(nuspec.as_bytes()),
            expect,
        ));
    };
    let serial = next_serial();
    let hundred = format!("H{serial}{}", "x".repeat(99 - serial.to_string().len()));
    assert_eq!(hundred.len(), 100);
    push("100 characters".into(), &hundred, Expect::Status(201, None));
    for len in [101usize, 102, 200, 1000, 65_536] {
        push(
            format!("{len} characters"),
            &"a".repeat(len),
            bad("longer than 100 characters"),
        );
    }
    push(
        "65 537 characters".into(),
        &"a".repeat(65_537),
        bad("longer than 65536 bytes"),
    );
    for (label, id) in [("empty", ""), ("spaces", "   "), ("newline", "\n")] {
        push(
            format!("{label} id"),
            id,
            bad("missing the required element 'id'"),
        );
    }
    let specials: Vec<char> = " !\"#$%&'()*+,/:;<=>?@[\\]^`{|}~\t".chars().collect();
    for c in specials {
        push(
            format!("{c:?} inside"),
            &format!("Hostile{c}Id"),
            bad("invalid characters"),
        );
    }
    for c in [
        'é', 'ß', 'Ж', '名', '😀', '\u{200B}', '\u{FF21}', '\u{0130}', '\u{212A}',
    ] {
        push(
            format!("{c:?} inside"),
            &format!("Hostile{c}Id"),
            bad("invalid characters"),
        );
        push(
            format!("only {c:?}"),
            &c.to_string(),
            bad("invalid characters"),
        );
    }
    for id in [
        ".Hostile",
        "Hostile.",
        "Hostile..Id",
        "-Hostile",
        "Hostile-",
        "Hostile.-Id",
        "Hostile-.Id",
        "Hostile--Id",
        ".",
        "-",
        "..",
        "a..",
        "Hostile Id",
        "Hostile\u{0}Id",
    ] {
        push(format!("{id:?}"), id, Expect::Status(400, None));
    }
    for shape in ["A", "_", "1", "a_b", "a.b-c_d", "A1.B2.C3", "x-y-z"] {
        let id = format!("{shape}.{}", fresh_id("Shape"));
        push(
            format!("valid shape {shape}"),
            &id,
            Expect::Status(201, None),
        );
    }
    cases
}

/// Versions at and past every limit, including SemVer 2 edge cases.
fn versions(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut push = |label: String, version: &str, expect: Expect| {
        let id = fresh_id("Version");
        let nuspec = manifest(&id, &escape(version), "");
        cases.push(Case::push(
            ctx,
            "version",
            label,
            with_manifest(nuspec.as_bytes()),
            expect,
        ));
    };
    let invalid: Vec<String> = [
        "1.2.3.4.5",
        "1.2.3.4.5.6",
        "1.0.0.0.0-beta",
        "v1.0.0",
        "V1",
        "1.0.0a",
        "1.0.0 x",
        "1..0",
        ".1",
        "1.",
        "1.0.",
        "-1.0",
        "1.-1",
        "+1",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-+",
        "1.0.0++",
        "1.0.0-+build",
        "1.0.0-01",
        "1.0.0-beta.01",
        "1.0.0-00",
        "1.0.0-beta..1",
        "1.0.0-beta.",
        "1.0.0-.beta",
        "1.0.0-beta_1",
        "1.0.0-βeta",
        "1.0.0-beta 1",
        "1.0.0+build..1",
        "1.0.0+build.",
        "1.0.0+.build",
        "1.0.0+bu_ild",
        "1.0.0-a+b+c",
        "1e3",
        "0x10",
        "1,0",
        "1.0,0",
        "１.０",
        "1.0.0-rc\u{0}",
        "1.0.0-rc/1",
        "*",
        "1.*",
        "[1.0]",
        "(,1.0)",
        "latest",
        "1.0.0\n-beta",
        "1/0",
        "1.0.0-\u{00e9}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for version in &invalid {
        // A NUL is refused before the version is even read: XML does not allow the character.
        let why = if version.contains('\u{0}') {
            "does not allow"
        } else {
            "not a valid version"
        };
        push(format!("{version:?}"), version, refused(400, why));
    }
    // Numbers past what NuGet clients read (a signed 32-bit integer), up to past u64, in each position.
    for position in 0..4 {
        for big in [
            "2147483648",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999",
            &"9".repeat(5000),
        ] {
            let mut parts = ["1"; 4];
            parts[position] = big;
            push(
                format!("part {position} = {:.30}", big),
                &parts.join("."),
                bad("is larger than 2147483647, the largest NuGet allows"),
            );
        }
        let mut parts = ["1"; 4];
        parts[position] = "2147483647";
        push(
            format!("part {position} = 2147483647"),
            &parts.join("."),
            Expect::Status(201, None),
        );
    }
    push(
        "prerelease label of 60 000 zeros".into(),
        &format!("1.0.0-0{}", "0".repeat(60_000)),
        bad("leading zero"),
    );
    push(
        "prerelease of 60 000 labels".into(),
        &format!("1.0.0-{}", vec!["a"; 30_000].join(".")),
        bad("at most 64 characters"),
    );
    // Versions name files in storage: 64 characters is the most NuGet.org accepts.
    let at_limit = format!("1.0.0-{}", "a".repeat(58));
    push("64 characters".into(), &at_limit, Expect::Status(201, None));
    push(
        "65 characters".into(),
        &format!("{at_limit}b"),
        bad("at most 64 characters"),
    );
    push(
        "64 characters plus metadata".into(),
        &format!("{at_limit}+b"),
        bad("at most 64 characters"),
    );
    push(
        "version of 64 KiB + 1".into(),
        &"1".repeat(65_537),
        bad("longer than 65536 bytes"),
    );
    push(
        "empty version".into(),
        "",
        bad("missing the required element 'version'"),
    );
    let valid = [
        "1",
        "1.0",
        "1.0.0.0",
        "01.02.03",
        "0.0.0",
        "1.0.0-0",
        "1.0.0-0.a",
        "1.0.0-alpha-beta",
        "1.0.0--",
        "1.0.0-a.b.c.d.e.f",
        "1.0.0+01",
        "1.0.0+-",
        "1.0.0-rc.1+build.5",
        "2147483647.0",
        "1.2147483647.2147483647.2147483647",
        "1.0.0-0.0.0",
        "  2.0.0  ",
    ];
    for version in valid {
        push(
            format!("valid {version:?}"),
            version,
            Expect::Status(201, None),
        );
    }
    cases
}

/// Multipart bodies: missing, extra, mis-bounded and unterminated parts.
fn multipart(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let ct = |b: &str| format!("multipart/form-data; boundary={b}");
    let file_part = |b: &str, data: &[u8]| {
        let mut part = format!(
            "--{b}\r\nContent-Disposition: form-data; name=package; filename=package.nupkg\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        part.extend_from_slice(data);
        part.extend_from_slice(b"\r\n");
        part
    };
    let field_part = |b: &str, data: &[u8]| {
        let mut part =
            format!("--{b}\r\nContent-Disposition: form-data; name=note\r\n\r\n").into_bytes();
        part.extend_from_slice(data);
        part.extend_from_slice(b"\r\n");
        part
    };
    let close = |b: &str| format!("--{b}--\r\n").into_bytes();
    let junk = b"not a package".to_vec();
    for b in [
        "simple",
        "----WebKitFormBoundary7MA4YWxkTrZu0gW",
        "a",
        "x-y_z.0",
        "\"quoted\"",
    ] {
        let bare = b.trim_matches('"');
        let content_type = ct(b);
        let mut add = |label: &str, body: Vec<u8>, expect: Expect| {
            cases.push(Case::push_as(
                ctx,
                "multipart",
                format!("{label} (boundary {b})"),
                &content_type,
                body,
                expect,
            ));
        };
        add(
            "no file part, junk field",
            [field_part(bare, &junk), close(bare)].concat(),
            Expect::Status(400, None),
        );
        add("no parts at all", close(bare), Expect::Status(400, None));
        add(
            "empty body part",
            [file_part(bare, b""), close(bare)].concat(),
            bad("empty"),
        );
        let id = fresh_id("Multi");
        add(
            "field part, then the valid file part, then a junk file part",
            [
                field_part(bare, b"x"),
                file_part(bare, &simple(&id, "1.0.0")),
                file_part(bare, &junk),
                close(bare),
            ]
            .concat(),
            Expect::Status(201, None),
        );
        add(
            "junk file part first, valid second",
            [
                file_part(bare, &junk),
                file_part(bare, &simple(&fresh_id("Multi"), "1.0.0")),
                close(bare),
            ]
            .concat(),
            bad("not a valid zip"),
        );
        add(
            "missing closing boundary",
            {
                let mut body = format!(
                    "--{bare}\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\n"
                )
                .into_bytes();
                body.extend_from_slice(&simple("Hostile.Unclosed", "1.0.0"));
                body
            },
            bad("closing boundary is missing"),
        );
        add(
            "wrong boundary",
            [
                file_part("other", &simple("Hostile.Wrong", "1.0.0")),
                close("other"),
            ]
            .concat(),
            bad("boundary does not occur"),
        );
        add(
            "no header terminator",
            format!("--{bare}\r\nContent-Disposition: form-data; filename=x").into_bytes(),
            bad("no header terminator"),
        );
        add(
            "part headers of 20 KiB",
            [
                format!(
                    "--{bare}\r\nX-Long: {}\r\n\r\nPK\r\n",
                    "x".repeat(20 * 1024)
                )
                .into_bytes(),
                close(bare),
            ]
            .concat(),
            bad("too long"),
        );
        add(
            "1000 empty field parts, then junk",
            [
                (0..1000)
                    .flat_map(|_| field_part(bare, b""))
                    .collect::<Vec<u8>>(),
                file_part(bare, &junk),
                close(bare),
            ]
            .concat(),
            bad("The multipart request body has more than 100 parts."),
        );
        add(
            "50 field parts, then the valid file part",
            [
                (0..50)
                    .flat_map(|i| field_part(bare, format!("value {i}").as_bytes()))
                    .collect::<Vec<u8>>(),
                file_part(bare, &simple(&fresh_id("Multi"), "1.0.0")),
                close(bare),
            ]
            .concat(),
            Expect::Status(201, None),
        );
    }
    for content_type in [
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data",
        "multipart/form-data; charset=utf-8",
        "multipart/form-data; boundary=zzz; boundary=simple",
    ] {
        // No usable boundary: the body is taken as the package, and a multipart body is not a zip.
        let body = [file_part("simple", &junk), close("simple")].concat();
        cases.push(Case::push_as(
            ctx,
            "multipart",
            format!("content type {content_type:?}"),
            content_type,
            body,
            Expect::Status(400, None),
        ));
    }
    cases
}

/// Keys and unknown things: 401 without a key, 403 with a bad one, 404 for what does not exist.
fn auth_and_missing(ctx: &Ctx) -> Vec<Case> {
    let mut cases = Vec::new();
    let body = simple("Hostile.Auth", "1.0.0");
    let mut no_key = Case::push(
        ctx,
        "no key",
        "push without a key",
        body.clone(),
        refused(401, "API key must be provided"),
    );
    no_key.key = None;
    cases.push(no_key);
    for (method, path) in [
        (
            reqwest::Method::DELETE,
            "/api/v2/package/Hostile.Auth/1.0.0",
        ),
        (reqwest::Method::POST, "/api/v2/package/Hostile.Auth/1.0.0"),
        (
            reqwest::Method::POST,
            "/api/v2/package/create-verification-key/Hostile.Auth",
        ),
    ] {
        let mut case = Case::new(
            "no key",
            format!("{method} {path} without a key"),
            path,
            refused(401, "API key"),
        );
        case.method = method;
        cases.push(case);
    }
    let bad_keys: Vec<String> = vec![
        "wrong".into(),
        "oy2".into(),
        format!("{}x", ctx.key),
        ctx.key.chars().rev().collect(),
        ctx.key[..ctx.key.len() - 1].to_string(),
        "a".repeat(10_000),
        "%00".into(),
        "key with spaces".into(),
    ];
    for key in &bad_keys {
        let mut case = Case::push(
            ctx,
            "bad key",
            format!("push with key {:.24}", key),
            body.clone(),
            refused(403, "API key is invalid"),
        );
        case.key = Some(key.clone());
        cases.push(case);
        let mut case = Case::new(
            "bad key",
            format!("unlist with key {:.24}", key),
            "/api/v2/package/Hostile.Auth/1.0.0",
            refused(403, "API key is invalid"),
        );
        case.method = reqwest::Method::DELETE;
        case.key = Some(key.clone());
        // Existence is checked before the key's scope, but a key that does not authenticate never gets there.
        cases.push(case);
    }
    for (label, path) in [
        (
            "unlist an unknown package",
            "/api/v2/package/Hostile.Nowhere/1.0.0",
        ),
        (
            "unlist an unknown version",
            "/api/v2/package/Hostile.Alive/99.0.0",
        ),
        (
            "unlist an invalid version",
            "/api/v2/package/Hostile.Alive/not-a-version",
        ),
        (
            "unlist an invalid id",
            "/api/v2/package/..%2F..%2Fetc/1.0.0",
        ),
    ] {
        let mut case = Case::new("unknown", label, path, Expect::AnyOf(&[400, 404]));
        case.method = reqwest::Method::DELETE;
        case.key = Some(ctx.key.clone());
        if label.contains("unknown") {
            case.expect = Expect::Status(404, None);
        }
        cases.push(case);
    }
    for path in [
        "/v3-flatcontainer/hostile.nowhere/index.json",
        "/v3-flatcontainer/hostile.nowhere/1.0.0/hostile.nowhere.1.0.0.nupkg",
        "/v3-flatcontainer/hostile.alive/99.0.0/hostile.alive.99.0.0.nupkg",
        "/v3-flatcontainer/hostile.alive/1.0.1/hostile.alive.1.0.1.nuspec.bak",
        "/v3-flatcontainer/..%2F..%2Fetc/passwd/x",
        "/v3/registration/hostile.nowhere/index.json",
        "/no/such/route",
        &format!("/{}", "a/".repeat(2000)),
    ] {
        cases.push(Case::new(
            "unknown",
            path.chars().take(60).collect::<String>(),
            path,
            Expect::AnyOf(&[400, 404]),
        ));
    }
    cases
}

/// Query strings at extremes: bad paging is 400, anything else may be 200, nothing is 5xx.
fn queries() -> Vec<Case> {
    let mut cases = Vec::new();
    for path in ["/v3/search", "/v3/autocomplete"] {
        for (param, expect) in [
            ("take=-1", bad("take")),
            ("take=abc", bad("take")),
            ("take=1001", bad("at most")),
            ("take=99999999999999999999999", bad("take")),
            ("take=1e3", bad("take")),
            ("take=0x10", bad("take")),
            ("take=%00", bad("take")),
            ("take=1.5", bad("take")),
            ("skip=-5", bad("skip")),
            ("skip=abc", bad("skip")),
            ("skip=18446744073709551616", bad("skip")),
            ("skip=18446744073709551615", Expect::Status(200, None)),
            ("take=1000&skip=0", Expect::Status(200, None)),
            ("take=0", Expect::Status(200, None)),
            ("take=", Expect::Status(200, None)),
            ("take=%20", Expect::Status(200, None)),
            ("take=1&take=2", Expect::Status(400, None)),
            ("q=%ZZ", Expect::NotServerError),
            ("q=%FF%FE", Expect::NotServerError),
            ("q=\u{1F600}", Expect::NotServerError),
            (
                "prerelease=maybe&semVerLevel=99999999999999999999999",
                Expect::Status(200, None),
            ),
            ("semVerLevel=-1&packageType=%00", Expect::Status(200, None)),
            ("id=", Expect::Status(200, None)),
        ] {
            cases.push(Case::new(
                "query",
                format!("{path}?{param}"),
                &format!("{path}?{param}"),
                expect,
            ));
        }
        // Longer URIs are refused by the client library itself (the raw-header batch sends one); a single
        // term past 50 000 characters is the ignored `search_term_longer_than_sqlite_like_limit` below.
        for len in [1_000usize, 10_000, 30_000, 49_000] {
            let q = "a".repeat(len);
            cases.push(Case::new(
                "query",
                format!("{path}?q= {len} chars"),
                &format!("{path}?q={q}"),
                Expect::NotServerError,
            ));
            let terms = "x%20".repeat(len / 4);
            cases.push(Case::new(
                "query",
                format!("{path}?q= {len} chars of terms"),
                &format!("{path}?q={terms}"),
                Expect::NotServerError,
            ));
            let pairs = "a=b&".repeat(len / 4);
            cases.push(Case::new(
                "query",
                format!("{path}? {len} chars of pairs"),
                &format!("{path}?{pairs}"),
                Expect::NotServerError,
            ));
        }
    }
    cases
}

/// Bodies over a 64 KiB limit, declared or not.
fn too_large(ctx: &Ctx, limit: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    // Incompressible, so the size is real whether or not it is a zip.
    let mut rng = Rng(0xb16_b0d1e5);
    for size in [
        limit + 1,
        limit + 64 * 1024 + 1,
        2 * limit + 100_000,
        4 * 1024 * 1024,
    ] {
        for chunked in [false, true] {
            let how = if chunked {
                "chunked"
            } else {
                "with Content-Length"
            };
            let body = rng.bytes(size);
            let mut case = Case::push(
                ctx,
                "too large",
                format!("raw {size} bytes {how}"),
                body.clone(),
                refused(413, "size limit"),
            );
            case.chunked = chunked;
            cases.push(case);
            let boundary = "big";
            let mut multi = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\n"
            )
            .into_bytes();
            multi.extend_from_slice(&body);
            multi.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            let mut case = Case::push_as(
                ctx,
                "too large",
                format!("multipart {size} bytes {how}"),
                &format!("multipart/form-data; boundary={boundary}"),
                multi,
                refused(413, "size limit"),
            );
            case.chunked = chunked;
            cases.push(case);
        }
    }
    // A valid package just under the limit still goes through.
    let filler = rng.bytes(limit - 4096);
    let id = fresh_id("AtLimit");
    let nuspec = manifest(&id, "1.0.0", "");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file(format!("{id}.nuspec"), SimpleFileOptions::default())
        .unwrap();
    zip.write_all(nuspec.as_bytes()).unwrap();
    zip.start_file(
        "lib/noise.bin",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    zip.write_all(&filler).unwrap();
    let near = zip.finish().unwrap().into_inner();
    assert!(near.len() <= limit, "{}", near.len());
    cases.push(Case::push(
        ctx,
        "too large",
        format!("valid package of {} bytes", near.len()),
        near,
        Expect::Status(201, None),
    ));
    cases
}

// ---------------------------------------------------------------------------------------------------
// Raw connections

/// A raw exchange: the head, then the body pieces with a pause between them; the writer ignores errors
/// (the server may stop listening early) while the reader collects whatever comes back.
async fn raw_exchange(
    addr: SocketAddr,
    head: Vec<u8>,
    pieces: Vec<Vec<u8>>,
    pause: Duration,
    wait: Duration,
) -> (Option<u16>, String, String, Duration) {
    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(&head).await.is_err() {
            return;
        }
        for piece in pieces {
            tokio::time::sleep(pause).await;
            if writer.write_all(&piece).await.is_err() {
                return;
            }
        }
        // Keep the connection open for the server to act; the reader decides when we are done.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(writer);
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = started + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                if response_complete(&out) {
                    break;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    writing.abort();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default().to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok());
    (status, status_line, body.to_string(), elapsed)
}

/// Whether a buffered response has all the body its Content-Length announces.
fn response_complete(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    length.is_some_and(|n| body.len() >= n)
}

/// Headers at extremes, sent over raw connections because hyper itself answers some of them.
async fn raw_header_cases(app: &TestApp, ctx: &Ctx, tally: &mut Tally) {
    let get = |extra: &str| {
        format!("GET /v3/index.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
            .into_bytes()
    };
    let mut cases: Vec<(String, Vec<u8>, Expect)> = vec![
        ("100 KB header".into(), get(&format!("X-Big: {}\r\n", "a".repeat(100_000))), Expect::Hyper(&[200, 400, 431])),
        ("1 MB header".into(), get(&format!("X-Big: {}\r\n", "a".repeat(1_000_000))), Expect::Hyper(&[400, 431])),
        ("500 headers".into(), get(&(0..500).map(|i| format!("X-H{i}: v\r\n")).collect::<String>()), Expect::Hyper(&[400, 431])),
        ("header without colon".into(), get("NoColonHere\r\n"), Expect::Hyper(&[400])),
        ("header with NUL".into(), get("X-A: a\0b\r\n"), Expect::Hyper(&[400])),
        ("URI of 70 KB".into(), format!("GET /v3/search?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(70_000)).into_bytes(), Expect::Hyper(&[200, 400, 414])),
        ("HTTP/9.9".into(), b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(), Expect::Hyper(&[400, 505])),
        ("garbage request line".into(), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(), Expect::Hyper(&[400])),
        ("content-length not a number".into(), b"PUT /api/v2/package HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(), Expect::Hyper(&[400])),
        ("two different content-lengths".into(), b"PUT /api/v2/package HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(), Expect::Hyper(&[400])),
    ];
    // A declared Content-Length over the limit (250 MB here) is refused before a byte of the body is read.
    for declared in ["300000000", "250000000000", "9223372036854775807"] {
        cases.push((
            format!("declared Content-Length {declared} without a body"),
            format!("PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {}\r\nContent-Length: {declared}\r\n\r\n", ctx.key).into_bytes(),
            refused(413, "size limit"),
        ));
    }
    // Past what hyper can count, hyper answers by itself.
    cases.push((
        "declared Content-Length u64::MAX".into(),
        format!("PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {}\r\nContent-Length: 18446744073709551615\r\n\r\n", ctx.key).into_bytes(),
        Expect::Hyper(&[400, 413, 431]),
    ));
    // Key refusals, checked here for the reason phrase too (nuget.exe prints only that).
    cases.push((
        "bad key".into(),
        b"PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: nope\r\nContent-Length: 2\r\n\r\nPK".to_vec(),
        refused(403, "API key is invalid"),
    ));
    cases.push((
        "no key".into(),
        b"PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nPK".to_vec(),
        refused(401, "API key must be provided"),
    ));
    cases.push((
        "not a zip".into(),
        format!("PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {}\r\nContent-Length: 2\r\n\r\nPK", ctx.key).into_bytes(),
        bad("not a valid zip archive"),
    ));
    cases.push((
        "URI of 200 KB".into(),
        format!(
            "GET /v3/search?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "a".repeat(200_000)
        )
        .into_bytes(),
        Expect::Hyper(&[400, 414, 431]),
    ));
    for (label, request, expect) in cases {
        *tally.counts.entry("headers").or_default() += 1;
        let (status, status_line, body, _) = raw_exchange(
            app.addr,
            request,
            Vec::new(),
            Duration::ZERO,
            Duration::from_secs(10),
        )
        .await;
        let Some(status) = status else {
            // hyper may drop a connection whose head it cannot parse at all; that is not a server failure.
            if !matches!(expect, Expect::Hyper(_)) {
                tally.fail(
                    "headers",
                    &label,
                    "connection closed without an answer".into(),
                );
            }
            continue;
        };
        let app_made = matches!(expect, Expect::Status(..));
        let content_type = if app_made { "text/plain" } else { "" };
        if let Some(why) = judge(&expect, status, content_type, &body) {
            tally.fail("headers", &label, why);
        }
        if app_made && status >= 400 {
            // nuget.exe prints only the reason phrase: it must carry the same message.
            let reason = status_line.splitn(3, ' ').nth(2).unwrap_or_default();
            let first: String = body.chars().take(40).collect();
            if !reason.starts_with(&first) {
                tally.fail(
                    "headers",
                    &label,
                    format!("reason phrase '{reason}' is not the message '{first}…'"),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Tests

/// The bulk of the suite, on one server (plus a second one with a small size limit), sequentially so
/// the memory measurement around the zip bombs is meaningful.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_get_precise_refusals_and_the_server_keeps_serving() {
    let started = Instant::now();
    let app = TestApp::start().await;
    let user = app.user("hostile").await;
    let ctx = Ctx {
        key: app.key(&user, "hostile", &[Push, Unlist], &["*"]).await,
    };
    let mut tally = Tally::default();
    assert_still_serving(&app, &ctx.key, "before").await;

    let batches: Vec<(&str, Vec<Case>)> = vec![
        ("truncated", truncated(&ctx)),
        ("corrupted", corrupted(&ctx)),
        ("not zips", not_zips(&ctx)),
        ("structure", structure(&ctx)),
        ("xml", xml(&ctx)),
        ("ids", ids(&ctx)),
        ("versions", versions(&ctx)),
        ("multipart", multipart(&ctx)),
        ("auth", auth_and_missing(&ctx)),
        ("queries", queries()),
    ];
    for (name, cases) in batches {
        let batch_started = Instant::now();
        run(&app, cases, &mut tally).await;
        assert_still_serving(&app, &ctx.key, name).await;
        eprintln!(
            "batch {name}: {:.1} s",
            batch_started.elapsed().as_secs_f64()
        );
    }
    raw_header_cases(&app, &ctx, &mut tally).await;
    assert_still_serving(&app, &ctx.key, "headers").await;

    // Zip bombs, with the memory they cost measured.
    let gib = 1024 * 1024 * 1024;
    let built = Instant::now();
    let readme_id = fresh_id("ReadmeBomb");
    let readme_nuspec = manifest(&readme_id, "1.0.0", "<readme>README.md</readme>");
    let content_id = fresh_id("ContentBomb");
    let content_nuspec = manifest(&content_id, "1.0.0", "");
    // Built on two threads: deflating gigabytes is the slowest part of the suite.
    let (nuspec_bomb, readme_bomb, content_bomb) = std::thread::scope(|scope| {
        let nuspec = scope.spawn(|| {
            bomb(
                &[],
                "Hostile.nuspec",
                manifest("Hostile.Bomb", "1.0.0", "")
                    .replace("</package>", "<!--")
                    .as_bytes(),
                gib,
                b"--></package>",
            )
        });
        let readme = bomb(
            &[(&format!("{readme_id}.nuspec"), readme_nuspec.as_bytes())],
            "README.md",
            b"# Hello\n",
            gib / 2,
            b"",
        );
        let content = bomb(
            &[(&format!("{content_id}.nuspec"), content_nuspec.as_bytes())],
            "lib/net8.0/huge.dll",
            b"MZ",
            gib / 2,
            b"",
        );
        (nuspec.join().unwrap(), readme, content)
    });
    eprintln!(
        "built bombs of {} / {} / {} bytes (inflating to 1 GiB, 512 MiB and 512 MiB) in {:.1} s",
        nuspec_bomb.len(),
        readme_bomb.len(),
        content_bomb.len(),
        built.elapsed().as_secs_f64()
    );
    let before = resident_bytes();
    let bomb_started = Instant::now();
    let bombs = vec![
        Case::push(
            &ctx,
            "zip bomb",
            "nuspec inflating to 1 GiB",
            nuspec_bomb.clone(),
            bad("larger than 1 MiB when decompressed"),
        ),
        Case::push_as(
            &ctx,
            "zip bomb",
            "nuspec bomb in multipart",
            "multipart/form-data; boundary=b",
            [
                b"--b\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\n".to_vec(),
                nuspec_bomb,
                b"\r\n--b--\r\n".to_vec(),
            ]
            .concat(),
            bad("larger than 1 MiB when decompressed"),
        ),
        Case::push(
            &ctx,
            "zip bomb",
            "readme inflating to 512 MiB",
            readme_bomb,
            bad("larger than 1 MiB"),
        ),
        // The server never inflates content entries, so a package whose DLL is a bomb is simply stored.
        Case::push(
            &ctx,
            "zip bomb",
            "content entry inflating to 512 MiB",
            content_bomb,
            Expect::Status(201, None),
        ),
    ];
    run(&app, bombs, &mut tally).await;
    let growth = resident_bytes().saturating_sub(before);
    eprintln!(
        "zip bombs answered in {:.1} s; resident memory grew by {} MiB",
        bomb_started.elapsed().as_secs_f64(),
        growth / (1024 * 1024)
    );
    assert!(
        growth < 200 * 1024 * 1024,
        "zip bombs grew memory by {growth} bytes"
    );
    assert_still_serving(&app, &ctx.key, "zip bombs").await;

    // Bodies over a small limit, on a server configured with one.
    let limit = 64 * 1024;
    let small = TestApp::start_with(|config| config.max_package_size = limit as u64).await;
    let small_user = small.user("hostile").await;
    let small_ctx = Ctx {
        key: small
            .key(&small_user, "hostile", &[Push, Unlist], &["*"])
            .await,
    };
    run(&small, too_large(&small_ctx, limit), &mut tally).await;
    let huge_declared = format!(
        "PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {}\r\nContent-Length: {}\r\n\r\n",
        small_ctx.key,
        limit + 64 * 1024 + 1
    );
    *tally.counts.entry("too large").or_default() += 1;
    let (status, _, body, _) = raw_exchange(
        small.addr,
        huge_declared.into_bytes(),
        Vec::new(),
        Duration::ZERO,
        Duration::from_secs(10),
    )
    .await;
    if let Some(why) = judge(
        &refused(413, "size limit"),
        status.unwrap_or(0),
        "text/plain",
        &body,
    ) {
        tally.fail(
            "too large",
            "declared just over limit + slack, no body sent",
            why,
        );
    }
    assert_still_serving(&small, &small_ctx.key, "too large").await;

    let mut report = String::new();
    for (category, count) in &tally.counts {
        report.push_str(&format!("  {category:<24} {count:>5}\n"));
    }
    eprintln!(
        "hostile cases per category:\n{report}  {:<24} {:>5}\nin {:.1} s",
        "total",
        tally.total(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} hostile cases were mishandled:\n{}",
        tally.failures.len(),
        tally.total(),
        tally
            .failures
            .iter()
            .take(60)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(tally.total() >= 1000, "only {} cases", tally.total());
}

/// A client that sends its headers and then trickles the body is cut off once the request timeout
/// passes, and its half-written upload is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_are_cut_off_without_leaving_files() {
    let app = TestApp::start_with(|config| config.request_timeout_secs = 2).await;
    let user = app.user("slow").await;
    let key = app.key(&user, "slow", &[Push], &["*"]).await;
    let mut outcomes = Vec::new();
    for (label, framing) in [
        (
            "with Content-Length",
            "Content-Length: 100000\r\n".to_string(),
        ),
        ("chunked", "Transfer-Encoding: chunked\r\n".to_string()),
        (
            "multipart",
            "Content-Length: 100000\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                .to_string(),
        ),
    ] {
        let head = format!(
            "PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\n{framing}\r\n"
        );
        // Five bytes a second, for far longer than the timeout.
        let piece: &[u8] = if label == "chunked" {
            b"5\r\nPK\x03\x04\x00\r\n"
        } else {
            b"PK\x03\x04\x00"
        };
        let pieces = vec![piece.to_vec(); 30];
        let app_addr = app.addr;
        outcomes.push(tokio::spawn(async move {
            let (status, _, body, elapsed) = raw_exchange(
                app_addr,
                head.into_bytes(),
                pieces,
                Duration::from_millis(200),
                Duration::from_secs(10),
            )
            .await;
            (label, status, body, elapsed)
        }));
    }
    // While they trickle, their uploads exist as spooled files.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !spooled_files(&app).is_empty(),
        "the slow uploads are not being spooled"
    );
    for outcome in outcomes {
        let (label, status, body, elapsed) = outcome.await.unwrap();
        assert!(
            elapsed < Duration::from_secs(5),
            "{label}: cut off only after {elapsed:?}"
        );
        if let Some(status) = status {
            assert_eq!(status, 408, "{label}: {body}");
        }
        eprintln!("slow upload {label}: {status:?} after {elapsed:?}, body {body:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !spooled_files(&app).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        spooled_files(&app),
        Vec::<String>::new(),
        "a cut-off upload left its file"
    );
    assert_still_serving(&app, &key, "slow uploads").await;
}

/// SQLite refuses LIKE patterns over 50 000 bytes ("LIKE or GLOB pattern too complex"): search refuses
/// absurdly long queries with a 400 before they reach the database (this was a 500 once).
#[tokio::test]
async fn search_term_longer_than_sqlite_like_limit() {
    let app = TestApp::start().await;
    // SQLite only evaluates (and refuses) the pattern against a row, so there must be one.
    let user = app.user("searcher").await;
    let key = app.key(&user, "search", &[Push], &["*"]).await;
    assert_eq!(
        app.push(&key, simple("Hostile.Searched", "1.0.0"))
            .await
            .status(),
        201
    );
    for path in ["/v3/search", "/v3/autocomplete"] {
        let response = app
            .client
            .get(app.url(&format!("{path}?q={}", "a".repeat(60_000))))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(status == 200 || status == 400, "{path}: {status}");
    }
}

/// Every failure carries a message, the request timeout's 408 included (it once came from a layer that
/// built an empty response outside `ApiError`).
#[tokio::test]
async fn slow_upload_timeout_carries_a_message() {
    let app = TestApp::start_with(|config| config.request_timeout_secs = 1).await;
    let user = app.user("slow").await;
    let key = app.key(&user, "slow", &[Push], &["*"]).await;
    let head = format!(
        "PUT /api/v2/package/ HTTP/1.1\r\nHost: x\r\nX-NuGet-ApiKey: {key}\r\nContent-Length: 1000\r\n\r\n"
    );
    let (status, status_line, body, _) = raw_exchange(
        app.addr,
        head.into_bytes(),
        vec![b"PK".to_vec(); 10],
        Duration::from_millis(300),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(status, Some(408), "{status_line}");
    assert!(body.contains("took too long"), "408 body: {body:?}");
    assert!(status_line.contains("took too long"), "{status_line}");
}

/// NuGet clients read each numeric version part as a signed 32-bit integer: a version past that is
/// refused at push (once accepted, nuget.exe could install no version of its ID), the largest is fine.
#[tokio::test]
async fn versions_above_the_32_bit_range_are_refused() {
    let app = TestApp::start().await;
    let user = app.user("versions").await;
    let key = app.key(&user, "push", &[Push], &["*"]).await;
    let response = app
        .push(&key, simple("Hostile.BigVersion", "2147483648.0.0"))
        .await;
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(
        message.contains(
            "'2147483648.0.0' is not a valid version string: version part '2147483648' is larger than \
             2147483647, the largest NuGet allows."
        ),
        "{message}"
    );
    let feed = app
        .client
        .get(app.url("/v3-flatcontainer/hostile.bigversion/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 404, "nothing of the refused push is visible");
    let response = app
        .push(&key, simple("Hostile.BigVersion", "2147483647.0.0"))
        .await;
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    // A dependency on such a version is refused too: clients could not read the range.
    let package = crate::helpers::nupkg(&crate::helpers::Pkg {
        deps: &[("Hostile.BigVersion", "[1.0.0, 2147483648.0.0)")],
        ..crate::helpers::Pkg::new("Hostile.BigDependency", "1.0.0")
    });
    let response = app.push(&key, package).await;
    assert_eq!(response.status(), 400);
    let message = response.text().await.unwrap();
    assert!(message.contains("larger than 2147483647"), "{message}");
}

/// A package with two entries under one name (here the manifest, the first copy with an extra
/// dependency) is refused: the feed would show one copy while clients refuse the package.
#[tokio::test]
async fn duplicate_entry_names_are_refused() {
    let app = TestApp::start().await;
    let user = app.user("duplicates").await;
    let key = app.key(&user, "push", &[Push], &["*"]).await;
    let response = app.push(&key, duplicate_nuspec("Hostile.Twice")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "The package contains two entries named 'Hostile.Twice.nuspec'."
    );
    let response = app
        .push_multipart(&key, &duplicate_nuspec("Hostile.Twice"))
        .await;
    assert_eq!(response.status(), 400);
    let feed = app
        .client
        .get(app.url("/v3-flatcontainer/hostile.twice/index.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 404);
}

/// Thousands of tiny parts ahead of a large file part once cost the server seconds of CPU (every part
/// searched the rest of the body); now it stops at 100 parts, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_with_thousands_of_parts_is_refused_quickly() {
    let app = TestApp::start().await;
    let user = app.user("parts").await;
    let key = app.key(&user, "push", &[Push], &["*"]).await;
    let mut body = Vec::new();
    for i in 0..5000 {
        write!(
            body,
            "--b\r\nContent-Disposition: form-data; name=f{i}\r\n\r\nx\r\n"
        )
        .unwrap();
    }
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=package; filename=p.nupkg\r\n\r\n",
    );
    body.extend_from_slice(&vec![b'z'; 5 * 1024 * 1024]);
    body.extend_from_slice(b"\r\n--b--\r\n");
    let started = Instant::now();
    let response = app
        .client
        .put(app.url("/api/v2/package"))
        .header("X-NuGet-ApiKey", &key)
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let message = response.text().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(status, 400, "{message}");
    assert_eq!(
        message,
        "The multipart request body has more than 100 parts."
    );
    eprintln!("5000-part body refused in {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(1),
        "a 5000-part body took {elapsed:?}"
    );
    assert_still_serving(&app, &key, "many parts").await;
}
