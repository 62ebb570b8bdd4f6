//! The V2 OData feed (`/api/v2/`), replayed with the exact requests of the clients that use it:
//! PowerShellGet v2 (through PackageManagement's NuGet provider), Chocolatey, and the shapes nuget.exe
//! 2.x and NuGet.Protocol send. Each test names the source file its requests come from. The real
//! nuget.exe runs against this feed in `clients.rs`.

use std::collections::BTreeMap;

use nugate::config::ReadAccess;
use nugate::model::key::KeyAction::*;

use crate::helpers::{nupkg, simple, Pkg, TestApp};

const FEED: &str = "application/atom+xml;type=feed;charset=utf-8";
const ENTRY: &str = "application/atom+xml;type=entry;charset=utf-8";
const UNLISTED: &str = "1900-01-01T00:00:00";

/// An answer: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn get(app: &TestApp, path: &str) -> Answer {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
        body: r.text().await.unwrap(),
    }
}

/// A feed answer that must be a 200 Atom feed.
async fn feed(app: &TestApp, path: &str) -> Feed {
    let a = get(app, path).await;
    assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    assert_eq!(a.content_type, FEED, "GET {path}");
    parse_feed(&a.body)
}

/// One `<entry>`: its Atom parts and its `d:` properties (`None` for `m:null="true"`).
#[derive(Debug)]
struct Entry {
    atom_id: String,
    title: String,
    author: String,
    src: String,
    props: BTreeMap<String, Option<String>>,
}

impl Entry {
    fn prop(&self, name: &str) -> &str {
        match self.props.get(name) {
            Some(Some(v)) => v,
            Some(None) => "",
            None => panic!("no d:{name} in {self:?}"),
        }
    }
    fn id_version(&self) -> (String, String) {
        (
            self.prop("Id").to_string(),
            self.prop("Version").to_string(),
        )
    }
}

#[derive(Debug)]
struct Feed {
    entries: Vec<Entry>,
    next: Option<String>,
    count: Option<u64>,
}

impl Feed {
    fn ids(&self) -> Vec<(String, String)> {
        self.entries.iter().map(Entry::id_version).collect()
    }
    fn versions_of(&self, id: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.prop("Id") == id)
            .map(|e| e.prop("Version").to_string())
            .collect()
    }
    fn entry(&self, id: &str, version: &str) -> &Entry {
        self.entries
            .iter()
            .find(|e| e.prop("Id") == id && e.prop("Version") == version)
            .unwrap_or_else(|| panic!("no {id} {version} in {:?}", self.ids()))
    }
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Asserts that `xml` is well-formed as far as clients care: one root, every tag closed in order,
/// attribute values quoted, and every `&` starting an entity.
fn assert_well_formed(xml: &str) {
    assert!(xml.starts_with("<?xml"), "no XML declaration: {xml:.80}");
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..text.len().min(i + 8)];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "bare '&' in text: {text:.80}"
            );
        }
        rest = &rest[lt..];
        let gt = rest.find('>').expect("unclosed tag");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name.trim()), "mismatched </{name}>");
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap();
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if stack.is_empty() {
            roots += 1;
        }
        if !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1, "exactly one root element");
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    between(tag, &format!("{name}=\""), "\"").map(unescape)
}

fn parse_entry(xml: &str) -> Entry {
    let content = between(xml, "<content ", "/>").expect("no <content>");
    let properties = between(xml, "<m:properties>", "</m:properties>").expect("no m:properties");
    let mut props = BTreeMap::new();
    let mut rest = properties;
    while let Some(at) = rest.find("<d:") {
        rest = &rest[at + 3..];
        let gt = rest.find('>').unwrap();
        let tag = &rest[..gt];
        let name = tag.split([' ', '/']).next().unwrap().to_string();
        if tag.ends_with('/') {
            let value = (!tag.contains("m:null=\"true\"")).then(String::new);
            props.insert(name, value);
            rest = &rest[gt + 1..];
        } else {
            let close = format!("</d:{name}>");
            let end = rest.find(&close).unwrap();
            props.insert(name, Some(unescape(&rest[gt + 1..end])));
            rest = &rest[end + close.len()..];
        }
    }
    Entry {
        atom_id: unescape(between(xml, "<id>", "</id>").unwrap()),
        title: unescape(between(xml, "<title type=\"text\">", "</title>").unwrap()),
        author: unescape(between(xml, "<name>", "</name>").unwrap_or("")),
        src: attribute(content, "src").unwrap(),
        props,
    }
}

fn parse_feed(xml: &str) -> Feed {
    assert_well_formed(xml);
    let entries = xml
        .split("<entry>")
        .skip(1)
        .map(|chunk| parse_entry(chunk.split("</entry>").next().unwrap()))
        .collect();
    let next = xml
        .split("<link ")
        .filter(|l| l.starts_with("rel=\"next\""))
        .find_map(|l| attribute(l, "href"));
    let count = between(xml, "<m:count>", "</m:count>").map(|c| c.parse().unwrap());
    Feed {
        entries,
        next,
        count,
    }
}

/// A push-and-unlist key and this feed:
/// - Contoso.Dep 1.0.0;
/// - Contoso.Lib 1.0.0, 1.5.0 (unlisted), 2.0.0, 2.1.0-beta, 2.2.0+build.7 (SemVer 2, stable) and
///   3.0.0-rc.1 (SemVer 2, prerelease), each depending on Contoso.Dep 1.0.0 for .NETStandard2.0;
/// - Contoso.PSTools 1.0.0 and 1.1.0, a PowerShell module (tags PSModule, PSIncludes_Function);
/// - contoso-tool 1.0.0, a Chocolatey package that depends on Contoso.Dep.
async fn contoso_feed() -> (TestApp, String) {
    let (app, key, _) = contoso_feed_with(|_| {}).await;
    (app, key)
}

async fn contoso_feed_with(
    tweak: impl FnOnce(&mut nugate::config::Config),
) -> (TestApp, String, nugate::db::users::User) {
    let app = TestApp::start_with(tweak).await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "all", &[Push, Unlist], &["*"]).await;
    let dep: &[(&str, &str)] = &[("Contoso.Dep", "1.0.0")];
    let mut packages = vec![nupkg(&Pkg::new("Contoso.Dep", "1.0.0"))];
    for version in [
        "1.0.0",
        "1.5.0",
        "2.0.0",
        "2.1.0-beta",
        "2.2.0+build.7",
        "3.0.0-rc.1",
    ] {
        packages.push(nupkg(&Pkg {
            deps: dep,
            extra_metadata: "<tags>contoso library</tags><projectUrl>https://example.com/contoso</projectUrl><copyright>(c) Contoso &amp; co</copyright>",
            ..Pkg::new("Contoso.Lib", version)
        }));
    }
    for version in ["1.0.0", "1.1.0"] {
        packages.push(nupkg(&Pkg {
            extra_metadata: "<tags>PSModule PSIncludes_Function PSFunction_Get-Thing</tags>",
            ..Pkg::new("Contoso.PSTools", version)
        }));
    }
    packages.push(nupkg(&Pkg {
        deps: dep,
        extra_metadata: "<tags>admin cli</tags>",
        ..Pkg::new("contoso-tool", "1.0.0")
    }));
    for package in packages {
        assert_eq!(app.push(&key, package).await.status(), 201);
    }
    let unlisted = app.set_listed(&key, "Contoso.Lib", "1.5.0", false).await;
    assert!(unlisted.status().is_success());
    (app, key, alice)
}

#[tokio::test]
async fn service_document_metadata_and_the_legacy_gallery_resource() {
    let app = TestApp::start().await;
    for path in ["/api/v2", "/api/v2/"] {
        let a = get(&app, path).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.content_type, "application/xml;charset=utf-8");
        // PowerShellGet's NuGet provider takes a feed whose root starts with "<?xml" for a V2 feed
        // (OneGet/NuGetProvider NuGetResources/NuGetResourceCollectionFactory.cs, Sdk/Constants.cs).
        assert_well_formed(&a.body);
        assert!(a
            .body
            .contains(&format!("xml:base=\"{}/api/v2/\"", app.base)));
        assert!(a.body.contains("<collection href=\"Packages\">"));
    }
    // nuget.exe 2.x reads the service operations and properties from $metadata
    // (NuGet/NuGet2 src/Core/Repositories/DataServiceContextWrapper.cs), Chocolatey whether
    // IsAbsoluteLatestVersion exists (chocolatey/NuGet.Client LegacyFeedCapabilityResourceV2Feed.cs).
    let m = get(&app, "/api/v2/$metadata").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.content_type, "application/xml;charset=utf-8");
    assert_well_formed(&m.body);
    assert!(m
        .body
        .contains(r#"<EntitySet Name="Packages" EntityType="NuGetGallery.OData.V2FeedPackage"/>"#));
    for function in ["Search", "FindPackagesById", "GetUpdates"] {
        assert!(m
            .body
            .contains(&format!(r#"<FunctionImport Name="{function}""#)));
    }
    for property in [
        "Id",
        "Version",
        "NormalizedVersion",
        "IsLatestVersion",
        "IsAbsoluteLatestVersion",
        "Published",
        "Dependencies",
        "PackageHash",
    ] {
        assert!(
            m.body.contains(&format!(r#"<Property Name="{property}" "#)),
            "{property}"
        );
    }
    // nuget.exe 3.4–5.8 `list` needs LegacyGallery/2.0.0 in the V3 service index.
    let index = app.json("/v3/index.json").await;
    let legacy: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["@type"] == "LegacyGallery/2.0.0" || r["@type"] == "LegacyGallery")
        .map(|r| r["@id"].as_str().unwrap())
        .collect();
    assert_eq!(legacy, [app.url("/api/v2/"), app.url("/api/v2/")]);
}

/// PowerShellGet v2: `Register-PSRepository` pings the source (PowerShell/PowerShellGetv2
/// src/PowerShellGet/private/functions/Ping-Endpoint.ps1), the NuGet provider checks the feed with a
/// dummy ID (OneGet/NuGetProvider NuGetResources/NuGetPackageFeed2.cs `IsAvailable`, Sdk/Constants.cs
/// `DummyPackageId`), `Find-Module -Name`/`Install-Module`/`Publish-Module`'s existence checks call
/// `FindPackagesById()?id='…'&$skip=0&$top=40` (NugetLightConstant.cs `FindPackagesById`, `SkipAndTop`;
/// Utility/NuGetWebUtility.cs `SendRequest`, pages of 40), `Find-Module` without a name searches
/// (NugetLightConstant.cs `SearchFilter`, `SearchTerm`; NuGetResources/NuGetResourceCollection2.cs writes
/// tags as " tag:X"), `-AllVersions` orders by downloads (`SearchFilterAllVersions`), unlisted versions
/// are those published in 1900 (NugetLightRequest.cs `GetPackageById`), and `Install-Module` downloads
/// the entry's `content src` (Utility/PackageUtility.cs `ReadEntryChildNode`). `Publish-Module` pushes
/// with nuget.exe (src/PowerShellGet/private/functions/Publish-NugetPackage.ps1).
#[tokio::test]
async fn powershellget_find_install_and_publish_module() {
    let (app, key) = contoso_feed().await;
    // Register-PSRepository -SourceLocation http://host/api/v2 (no trailing slash).
    let ping = get(&app, "/api/v2").await;
    assert_eq!(ping.status, 200);
    assert!(ping.body.starts_with("<?xml"));
    let dummy = feed(
        &app,
        "/api/v2/FindPackagesById()?id='FoooBarr'&$skip=0&$top=40",
    )
    .await;
    assert!(dummy.entries.is_empty() && dummy.next.is_none());

    // Find-Module -Name Contoso.PSTools (and Install-Module's look-up).
    let found = feed(
        &app,
        "/api/v2/FindPackagesById()?id='Contoso.PSTools'&$skip=0&$top=40",
    )
    .await;
    assert_eq!(
        found.versions_of("Contoso.PSTools"),
        ["1.0.0", "1.1.0"],
        "{:?}",
        found.ids()
    );
    let latest = found.entry("Contoso.PSTools", "1.1.0");
    assert_eq!(latest.prop("IsLatestVersion"), "true");
    assert_eq!(latest.prop("IsAbsoluteLatestVersion"), "true");
    assert_eq!(
        found
            .entry("Contoso.PSTools", "1.0.0")
            .prop("IsLatestVersion"),
        "false"
    );
    assert!(latest.prop("Tags").split(' ').any(|t| t == "PSModule"));
    assert_ne!(&latest.prop("Published")[..4], "1900");
    assert_eq!(latest.prop("PackageHashAlgorithm"), "SHA512");
    assert!(latest
        .atom_id
        .ends_with("/api/v2/Packages(Id='Contoso.PSTools',Version='1.1.0')"));
    assert_eq!(latest.author, "Test Author");
    // The provider parses these as numbers, booleans and URIs.
    for number in ["DownloadCount", "VersionDownloadCount", "PackageSize"] {
        latest.prop(number).parse::<i64>().unwrap();
    }
    assert_eq!(
        latest.prop("GalleryDetailsUrl"),
        app.url("/packages/Contoso.PSTools/1.1.0")
    );

    // Install-Module downloads the content src.
    assert_eq!(latest.src, app.url("/api/v2/package/Contoso.PSTools/1.1.0"));
    let downloaded = app.client.get(&latest.src).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(
        downloaded.bytes().await.unwrap().len().to_string(),
        latest.prop("PackageSize")
    );

    // Find-Module (no name), then Find-Module -Tag PSModule, then Find-Module -AllVersions.
    let everything = feed(
        &app,
        "/api/v2/Search()?$filter=IsLatestVersion&searchTerm=''&targetFramework=''&includePrerelease=false&$skip=0&$top=40",
    )
    .await;
    assert_eq!(
        everything.ids(),
        [
            ("contoso-tool".into(), "1.0.0".into()),
            ("Contoso.Dep".into(), "1.0.0".into()),
            ("Contoso.Lib".into(), "2.0.0".into()),
            ("Contoso.PSTools".into(), "1.1.0".into()),
        ]
    );
    let tagged = feed(
        &app,
        "/api/v2/Search()?$filter=IsLatestVersion&searchTerm='%20tag:PSModule'&targetFramework=''&includePrerelease=false&$skip=0&$top=40",
    )
    .await;
    assert_eq!(
        tagged.ids(),
        [("Contoso.PSTools".to_string(), "1.1.0".to_string())]
    );
    let all_versions = feed(
        &app,
        "/api/v2/Search()?$orderby=DownloadCount%20desc,Id&searchTerm='contoso.pstools'&targetFramework=''&includePrerelease=false&$skip=0&$top=40",
    )
    .await;
    assert_eq!(
        all_versions.versions_of("Contoso.PSTools"),
        ["1.0.0", "1.1.0"]
    );

    // Publish-Module: Find-Script/Find-Module by name, then nuget.exe push to the publish location.
    let before = feed(
        &app,
        "/api/v2/FindPackagesById()?id='Contoso.NewModule'&$skip=0&$top=40",
    )
    .await;
    assert!(before.entries.is_empty());
    let module = nupkg(&Pkg {
        extra_metadata: "<tags>PSModule</tags>",
        ..Pkg::new("Contoso.NewModule", "0.1.0")
    });
    assert_eq!(app.push_multipart(&key, &module).await.status(), 201);
    let after = feed(
        &app,
        "/api/v2/FindPackagesById()?id='Contoso.NewModule'&$skip=0&$top=40",
    )
    .await;
    assert_eq!(after.versions_of("Contoso.NewModule"), ["0.1.0"]);
    assert_eq!(after.entries[0].prop("IsLatestVersion"), "true");
}

/// Chocolatey 2.x: `choco install` looks the package up with `Packages()` and a
/// `tolower(Id) eq '…'` filter (chocolatey/choco src/chocolatey/infrastructure.app/nuget/NugetList.cs
/// `FindPackage`; chocolatey/NuGet.Client src/NuGet.Core/NuGet.Protocol/LegacyFeed/V2FeedListResource.cs
/// `PackageAsync` and V2FeedQueryBuilder.cs `BuildGetPackagesUri`, `ExactFilterFormat`), after reading
/// `$metadata` (LegacyFeedCapabilityResourceV2Feed.cs); dependencies come from `FindPackagesById()` and
/// exact versions from `Packages(Id,Version)` (V2FeedQueryBuilder.cs `FindPackagesByIdFormat`,
/// `GetSpecificPackageFormat`); `choco search` pages `Search()` by 30 ordered by Id and counts with
/// `Search()/$count` (NugetList.cs `SearchPackagesAsync`, `GetCount`; V2FeedQueryBuilder.cs
/// `SearchEndpointFormat`, `CountEndpointFormat`).
#[tokio::test]
async fn chocolatey_install_and_search() {
    let (app, _) = contoso_feed().await;
    let metadata = get(&app, "/api/v2/$metadata").await;
    assert!(metadata.body.contains(
        r#"<Property Name="IsAbsoluteLatestVersion" Type="Edm.Boolean" Nullable="false"/>"#
    ));

    // choco install contoso-tool
    let install = feed(
        &app,
        "/api/v2/Packages()?$filter=(tolower(Id)%20eq%20'contoso-tool')%20and%20IsLatestVersion&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(
        install.ids(),
        [("contoso-tool".to_string(), "1.0.0".to_string())]
    );
    let tool = &install.entries[0];
    assert_eq!(
        tool.prop("Dependencies"),
        "Contoso.Dep:1.0.0:.NETStandard2.0"
    );
    assert_eq!(tool.title, "contoso-tool");
    let deps = feed(
        &app,
        "/api/v2/FindPackagesById()?id='contoso.dep'&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(deps.versions_of("Contoso.Dep"), ["1.0.0"]);
    let exact = get(&app, "/api/v2/Packages(Id='contoso-tool',Version='1.0.0')").await;
    assert_eq!(exact.status, 200, "{}", exact.body);
    assert_eq!(exact.content_type, ENTRY);
    assert_well_formed(&exact.body);
    let entry = parse_entry(&exact.body);
    assert_eq!(entry.id_version(), ("contoso-tool".into(), "1.0.0".into()));
    let download = app.client.get(&entry.src).send().await.unwrap();
    assert_eq!(download.status(), 200);

    // choco install contoso.lib --pre: the absolute latest, SemVer 2 included.
    let pre = feed(
        &app,
        "/api/v2/Packages()?$filter=(tolower(Id)%20eq%20'contoso.lib')%20and%20IsAbsoluteLatestVersion&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(pre.ids(), [("Contoso.Lib".into(), "3.0.0-rc.1".into())]);
    // A tolower() comparison with capitals matches nothing, as on NuGet.org.
    let capitals = feed(
        &app,
        "/api/v2/Packages()?$filter=(tolower(Id)%20eq%20'Contoso.Lib')%20and%20IsLatestVersion&semVerLevel=2.0.0",
    )
    .await;
    assert!(capitals.entries.is_empty());
    // choco install contoso.lib --version 1.5.0: an unlisted version resolves by key.
    let unlisted = get(&app, "/api/v2/Packages(Id='contoso.lib',Version='1.5.0')").await;
    assert_eq!(unlisted.status, 200);
    assert_eq!(parse_entry(&unlisted.body).prop("Published"), UNLISTED);

    // choco search contoso (30 a page, by Id), and its count.
    let query = "$filter=IsLatestVersion&$orderby=Id&searchTerm='contoso'&targetFramework=''&includePrerelease=false";
    let search = feed(
        &app,
        &format!("/api/v2/Search()?{query}&$skip=0&$top=30&semVerLevel=2.0.0"),
    )
    .await;
    assert_eq!(
        search.ids(),
        [
            ("contoso-tool".into(), "1.0.0".into()),
            ("Contoso.Dep".into(), "1.0.0".into()),
            ("Contoso.Lib".into(), "2.2.0+build.7".into()),
            ("Contoso.PSTools".into(), "1.1.0".into()),
        ]
    );
    assert!(search.next.is_none());
    let count = get(
        &app,
        &format!("/api/v2/Search()/$count?{query}&semVerLevel=2.0.0"),
    )
    .await;
    assert_eq!(count.status, 200);
    assert_eq!(count.content_type, "text/plain;charset=utf-8");
    assert_eq!(count.body, "4");
    // The second page is empty.
    let page2 = feed(
        &app,
        &format!("/api/v2/Search()?{query}&$skip=30&$top=30&semVerLevel=2.0.0"),
    )
    .await;
    assert!(page2.entries.is_empty());
}

/// What each kind of client sees: SemVer 2 versions only with `semVerLevel=2.0.0`; unlisted versions
/// out of `Packages()`, `Search()` and `GetUpdates()`, listed by `FindPackagesById()` with NuGet.org's
/// 1900 date, resolvable by key and by a filter that pins the version; the latest flags follow.
/// Request shapes: NuGet/NuGet2 src/Core/Repositories/DataServicePackageRepository.cs (`FindPackage`,
/// `Exists`, `TryFindLatestPackageById`, `GetUpdates`) as nuget.exe 2.8.7 sends them.
#[tokio::test]
async fn semver2_unlisted_and_latest_flags() {
    let (app, _) = contoso_feed().await;
    // A SemVer 1 client (nuget.exe 2.x) does not see 2.2.0+build.7 or 3.0.0-rc.1.
    let old = feed(&app, "/api/v2/FindPackagesById()?id='Contoso.Lib'").await;
    assert_eq!(
        old.versions_of("Contoso.Lib"),
        ["1.0.0", "1.5.0", "2.0.0", "2.1.0-beta"]
    );
    assert_eq!(
        old.entry("Contoso.Lib", "1.5.0").prop("Published"),
        UNLISTED
    );
    assert_eq!(
        old.entry("Contoso.Lib", "1.5.0").prop("IsLatestVersion"),
        "false"
    );
    let flags = |f: &Feed, v: &str| {
        let e = f.entry("Contoso.Lib", v);
        (
            e.prop("IsLatestVersion").to_string(),
            e.prop("IsAbsoluteLatestVersion").to_string(),
        )
    };
    assert_eq!(flags(&old, "2.0.0"), ("true".into(), "false".into()));
    assert_eq!(flags(&old, "2.1.0-beta"), ("false".into(), "true".into()));
    let e = old.entry("Contoso.Lib", "2.0.0");
    assert_eq!(e.prop("Dependencies"), "Contoso.Dep:1.0.0:.NETStandard2.0");
    assert_eq!(e.prop("ProjectUrl"), "https://example.com/contoso");
    assert_eq!(e.prop("Copyright"), "(c) Contoso & co");
    assert_eq!(e.prop("IsPrerelease"), "false");
    assert_eq!(e.props["IconUrl"], None);

    // A SemVer 2 client sees them; Version carries the build metadata.
    let new = feed(
        &app,
        "/api/v2/FindPackagesById()?id='Contoso.Lib'&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(
        new.versions_of("Contoso.Lib"),
        [
            "1.0.0",
            "1.5.0",
            "2.0.0",
            "2.1.0-beta",
            "2.2.0+build.7",
            "3.0.0-rc.1"
        ]
    );
    assert_eq!(
        flags(&new, "2.2.0+build.7"),
        ("true".into(), "false".into())
    );
    assert_eq!(flags(&new, "3.0.0-rc.1"), ("false".into(), "true".into()));
    assert_eq!(
        new.entry("Contoso.Lib", "2.2.0+build.7")
            .prop("NormalizedVersion"),
        "2.2.0"
    );

    // nuget.exe 2.8.7 `install` (latest): TryFindLatestPackageById.
    let latest = feed(
        &app,
        "/api/v2/FindPackagesById()?$filter=IsLatestVersion&$orderby=Version%20desc&$top=1&id='Contoso.Lib'",
    )
    .await;
    assert_eq!(latest.ids(), [("Contoso.Lib".into(), "2.0.0".into())]);
    // `install -Version`: FindPackage tries the typed form; Exists selects the ID only.
    let typed = get(&app, "/api/v2/Packages(Id='Contoso.Lib',Version='2.0')").await;
    assert_eq!(typed.status, 200);
    assert_eq!(parse_entry(&typed.body).prop("Version"), "2.0.0");
    let exists = get(
        &app,
        "/api/v2/Packages(Id='Contoso.Lib',Version='2.0.0')?$select=Id",
    )
    .await;
    let exists = parse_entry(&exists.body);
    assert_eq!(exists.props.keys().collect::<Vec<_>>(), ["Id"]);
    // An exact SemVer 2 version resolves by key whatever the client.
    assert_eq!(
        get(
            &app,
            "/api/v2/Packages(Id='Contoso.Lib',Version='3.0.0-rc.1')"
        )
        .await
        .status,
        200
    );
    let missing = get(&app, "/api/v2/Packages(Id='Contoso.Lib',Version='9.0.0')").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("does not exist"));

    // Packages(): listed versions only, unless the filter pins the version.
    let listed = feed(&app, "/api/v2/Packages()?$filter=Id%20eq%20'Contoso.Lib'").await;
    assert_eq!(
        listed.versions_of("Contoso.Lib"),
        ["1.0.0", "2.0.0", "2.1.0-beta"]
    );
    let pinned = feed(
        &app,
        "/api/v2/Packages()?$filter=Id%20eq%20'contoso.lib'%20and%20Version%20eq%20'1.5'",
    )
    .await;
    assert_eq!(pinned.ids(), [("Contoso.Lib".into(), "1.5.0".into())]);
    // Search() leaves unlisted and (without includePrerelease) prerelease versions out.
    let search = feed(
        &app,
        "/api/v2/Search()?searchTerm='contoso.lib'&targetFramework=''&includePrerelease=false",
    )
    .await;
    assert_eq!(search.versions_of("Contoso.Lib"), ["1.0.0", "2.0.0"]);
    let with_pre = feed(
        &app,
        "/api/v2/Search()?searchTerm='contoso.lib'&targetFramework=''&includePrerelease=true&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(
        with_pre.versions_of("Contoso.Lib"),
        [
            "1.0.0",
            "2.0.0",
            "2.1.0-beta",
            "2.2.0+build.7",
            "3.0.0-rc.1"
        ]
    );

    // GetUpdates (nuget.exe 2.x `update`, Visual Studio): the highest newer version, or all of them.
    let updates = feed(
        &app,
        "/api/v2/GetUpdates()?packageIds='Contoso.Lib|Contoso.Dep|No.Such'&versions='1.0.0|1.0.0|1.0'&includePrerelease=false&includeAllVersions=false&targetFrameworks=''&versionConstraints=''",
    )
    .await;
    assert_eq!(updates.ids(), [("Contoso.Lib".into(), "2.0.0".into())]);
    let all = feed(
        &app,
        "/api/v2/GetUpdates()?packageIds='Contoso.Lib'&versions='1.0.0'&includePrerelease=true&includeAllVersions=true&semVerLevel=2.0.0",
    )
    .await;
    assert_eq!(
        all.versions_of("Contoso.Lib"),
        ["2.0.0", "2.1.0-beta", "2.2.0+build.7", "3.0.0-rc.1"]
    );
    let constrained = feed(
        &app,
        "/api/v2/GetUpdates()?packageIds='Contoso.Lib'&versions='1.0.0'&includePrerelease=true&includeAllVersions=false&versionConstraints='[1.0,2.0]'",
    )
    .await;
    assert_eq!(constrained.versions_of("Contoso.Lib"), ["2.0.0"]);
    assert_eq!(
        get(&app, "/api/v2/GetUpdates()/$count?packageIds='Contoso.Lib'&versions='1.0.0'&includePrerelease=true&includeAllVersions=true")
            .await
            .body,
        "2"
    );
}

/// Server-driven paging: at most 100 entries a page and a next link (NuGet.org's), which nuget.exe 2.x
/// (NuGet/NuGet2 src/Core/Repositories/DataServiceQueryWrapper.cs `GetAll`) and NuGet.Protocol follow;
/// `$top` beyond a page carries over; `$inlinecount`, `/$count`, `$select`.
#[tokio::test]
async fn server_driven_paging() {
    let app = TestApp::start().await;
    let alice = app.user("alice").await;
    let key = app.key(&alice, "all", &[Push], &["*"]).await;
    for minor in 0..105 {
        let version = format!("1.{minor}.0");
        assert_eq!(
            app.push(&key, simple("Paged.Lib", &version)).await.status(),
            201
        );
    }
    let first = feed(&app, "/api/v2/FindPackagesById()?id='Paged.Lib'").await;
    assert_eq!(first.entries.len(), 100);
    let next = first.next.clone().expect("a next link");
    assert!(
        next.starts_with(&app.url("/api/v2/FindPackagesById()?")),
        "{next}"
    );
    assert!(
        next.contains("id='Paged.Lib'") && next.contains("$skip=100"),
        "{next}"
    );
    let second = app.client.get(&next).send().await.unwrap();
    assert_eq!(second.status(), 200);
    let second = parse_feed(&second.text().await.unwrap());
    assert_eq!(second.entries.len(), 5);
    assert!(second.next.is_none());
    let mut versions = first.versions_of("Paged.Lib");
    versions.extend(second.versions_of("Paged.Lib"));
    assert_eq!(versions.len(), 105);
    assert_eq!(versions[104], "1.104.0", "version order, not text order");

    // $top beyond one page: the next link asks for the rest.
    let top = feed(
        &app,
        "/api/v2/Packages()?$top=102&$select=Id,Version&$inlinecount=allpages",
    )
    .await;
    assert_eq!(top.entries.len(), 100);
    assert_eq!(top.count, Some(105));
    let next = top.next.expect("a next link");
    assert!(
        next.contains("$skip=100") && next.contains("$top=2"),
        "{next}"
    );
    assert!(next.contains("$select=Id,Version"), "{next}");
    let rest = parse_feed(
        &app.client
            .get(&next)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(rest.entries.len(), 2);
    assert!(rest.next.is_none());
    assert_eq!(
        rest.entries[0].props.keys().collect::<Vec<_>>(),
        ["Id", "Version"]
    );
    // $skip, $top and /$count.
    let window = feed(
        &app,
        "/api/v2/Packages()?$orderby=Version%20desc&$skip=1&$top=3",
    )
    .await;
    assert_eq!(
        window.versions_of("Paged.Lib"),
        ["1.103.0", "1.102.0", "1.101.0"]
    );
    assert!(window.next.is_none());
    assert_eq!(get(&app, "/api/v2/Packages()/$count").await.body, "105");
    assert_eq!(
        get(&app, "/api/v2/Packages/$count?$skip=100").await.body,
        "5"
    );
    assert_eq!(
        get(
            &app,
            "/api/v2/Packages()/$count?$filter=Version%20eq%20'1.7'"
        )
        .await
        .body,
        "1"
    );
}

/// Anything outside the OData subset is a 400 with a message (in the body and as the reason phrase),
/// never a 500, a panic or an answer that silently ignores part of the query; hostile sizes are bounded.
#[tokio::test]
async fn unsupported_or_hostile_queries_are_400_with_a_message() {
    let (app, _) = contoso_feed().await;
    let deep = format!("{}IsLatestVersion{}", "(".repeat(200), ")".repeat(200));
    let long = format!("Id%20eq%20'{}'", "x".repeat(5000));
    let many_ids = vec!["A"; 1001].join("|");
    let many_versions = vec!["1.0"; 1001].join("|");
    let cases: Vec<(String, &str)> = vec![
        (
            "Packages()?$filter=substringof('json',Tags)".into(),
            "not supported at character 1",
        ),
        (
            "Packages()?$filter=startswith(tolower(Id),'con')".into(),
            "'startswith'",
        ),
        ("Packages()?$filter=Id%20ne%20'x'".into(), "expected 'eq'"),
        (
            "Packages()?$filter=IsLatestVersion%20and".into(),
            "the end of the expression",
        ),
        (
            "Packages()?$filter=Id%20eq%20'unterminated".into(),
            "never closed",
        ),
        ("Packages()?$filter=IsPrerelease".into(), "'IsPrerelease'"),
        ("Packages()?$filter=".into(), "is empty"),
        (format!("Packages()?$filter={deep}"), "more than 16 levels"),
        (format!("Packages()?$filter={long}"), "longer than 2048"),
        ("Packages()?$orderby=Tags".into(), "'Tags'"),
        ("Packages()?$orderby=concat(Title,Id)".into(), "'concat'"),
        ("Packages()?$select=Id,Nope".into(), "'Nope'"),
        (
            "Packages()?$expand=Screenshots".into(),
            "'$expand' is not supported",
        ),
        (
            "Packages()?$format=json".into(),
            "'$format' is not supported",
        ),
        ("Packages()?$top=-1".into(), "whole number"),
        ("Packages()?$skip=ten".into(), "whole number"),
        (
            "Packages()?$top=99999999999999999999".into(),
            "whole number",
        ),
        (
            "Packages()?$inlinecount=some".into(),
            "'allpages' or 'none'",
        ),
        (
            "Packages()?$filter=IsLatestVersion&$filter=IsLatestVersion".into(),
            "more than once",
        ),
        ("Packages()?$filter=%FF".into(), "not supported"),
        (
            "Search()?searchTerm='it's'".into(),
            "'searchTerm' is invalid",
        ),
        ("Search()?includePrerelease=maybe".into(), "true or false"),
        (
            format!("Search()?searchTerm='{}'", "x".repeat(1001)),
            "longer than 1000",
        ),
        ("Search('x')".into(), "query string"),
        ("FindPackagesById()".into(), "needs the package ID"),
        (
            "GetUpdates()?packageIds='A|B'&versions='1.0'".into(),
            "one version per package ID",
        ),
        (
            "GetUpdates()?packageIds='A'&versions='one'".into(),
            "invalid version",
        ),
        (
            "GetUpdates()?packageIds='A'&versions='1.0'&versionConstraints='[1.0'".into(),
            "invalid range",
        ),
        (
            format!("GetUpdates()?packageIds='{many_ids}'&versions='{many_versions}'"),
            "more than 1000",
        ),
        ("Packages(Id='Contoso.Lib')".into(), "not a package key"),
        (
            "Packages(Id='A',Version='1.0'".into(),
            "closing parenthesis",
        ),
    ];
    for (query, expected) in &cases {
        let path = format!("/api/v2/{query}");
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, 400, "GET {path:.120}: {body}");
        assert!(body.contains(expected), "GET {path:.120}: {body}");
        assert!(
            body.len() < 1000,
            "GET {path:.120}: a {} byte message",
            body.len()
        );
    }
    // The message is the reason phrase too, which is what nuget.exe prints.
    let (status_line, _) = app
        .raw(b"GET /api/v2/Packages()?$filter=substringof('a',Id) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    assert!(
        status_line.starts_with("HTTP/1.1 400 The $filter query option is not supported"),
        "{status_line}"
    );
    // Unknown resources are 404s with a message; the feed still answers afterwards.
    for path in [
        "/api/v2/Nope()",
        "/api/v2/Packages()/$links",
        "/api/v2/$metadata/$count",
        "/api/v2/package/Contoso.Lib",
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert!(!a.body.is_empty());
    }
    assert_eq!(get(&app, "/api/v2/Packages()/$count").await.body, "7");
}

/// On a private feed the V2 feed is read with a `read` key (as the Basic password, as nuget.exe 2.x
/// sends configured credentials), and a key scoped to some packages sees only those.
#[tokio::test]
async fn private_feed_reads_need_a_read_key_and_see_only_its_packages() {
    let (app, _, alice) = contoso_feed_with(|c| c.read_access = ReadAccess::Private).await;
    let contoso_lib = app.key(&alice, "read-lib", &[Read], &["Contoso.Lib"]).await;
    let anonymous = get(&app, "/api/v2/Search()?searchTerm=''").await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let read = |path: &str| {
        app.client
            .get(app.url(path))
            .basic_auth("anyone", Some(&contoso_lib))
            .send()
    };
    let r = read("/api/v2/Search()?searchTerm=''&includePrerelease=false")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let visible = parse_feed(&r.text().await.unwrap());
    assert_eq!(
        visible.ids(),
        [
            ("Contoso.Lib".into(), "1.0.0".into()),
            ("Contoso.Lib".into(), "2.0.0".into())
        ]
    );
    let hidden = read("/api/v2/FindPackagesById()?id='Contoso.Dep'")
        .await
        .unwrap();
    assert_eq!(hidden.status(), 200);
    assert!(parse_feed(&hidden.text().await.unwrap()).entries.is_empty());
    let hidden = read("/api/v2/Packages(Id='Contoso.Dep',Version='1.0.0')")
        .await
        .unwrap();
    assert_eq!(hidden.status(), 404);
    let count = read("/api/v2/Packages()/$count").await.unwrap();
    assert_eq!(count.text().await.unwrap(), "3");
}
