//! The public gallery: home, search, package pages, profiles; and owners' package management.
//! Everything from a package is untrusted: templates escape it, and only the sanitised readme is raw HTML.

use askama::Template;
use axum::extract::{Path, Query, State};
use nuget_formats::{NuGetVersion, Nuspec};
use serde::Deserialize;

use super::usage::Usage;
use super::{not_found, render, Page, PageResult, Reader, Visitor};
use crate::api::search::{find, SearchOrder, SearchRequest};
use crate::db::packages::PackageVersion;
use crate::error::ApiError;
use crate::feed::IndexedPackage;
use crate::packages::PackageMetadata;
use crate::state::{AppState, BaseUrl};

/// A search hit or list entry.
pub struct PackageSummary {
    pub id: String,
    pub version: String,
    pub description: String,
    pub authors: String,
    /// Under a prefix reserved for one of its owners.
    pub verified: bool,
    /// The version shown is a prerelease (there is no listed stable one).
    pub prerelease: bool,
    /// Downloads of every version.
    pub downloads: String,
    pub tags: Vec<String>,
    /// The upstream feed it was cached from (not this feed's own package).
    pub upstream: Option<String>,
}

/// "1 download", "1,234 downloads": one wording for every page.
pub fn downloads_label(count: i64) -> String {
    format!(
        "{} download{}",
        grouped(count),
        if count == 1 { "" } else { "s" }
    )
}

/// Digits in groups of three: "1,234,567".
fn grouped(count: i64) -> String {
    let digits = count.max(0).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    grouped
}

/// A license expression as a URL path: spaces and parentheses escaped, the rest as it is.
fn urlencode_path(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || "-._+".contains(c) => c.to_string(),
            c => {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    page: Page,
    recent: Vec<PackageSummary>,
    /// The feed's own packages.
    count: usize,
    /// Packages cached from upstream feeds, counted apart.
    cached: usize,
    usage: Usage,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    q: String,
    results: Vec<PackageSummary>,
    total: usize,
    next: Option<usize>,
    prev: Option<usize>,
    sort: Vec<SortChoice>,
    /// The chosen order, kept by the pager's links.
    sort_param: &'static str,
    prerelease: bool,
}

/// One row of the versions table.
pub struct VersionRow {
    pub version: String,
    pub prerelease: bool,
    pub listed: bool,
    pub published: String,
    pub current: bool,
    /// Downloads of this version, digits grouped.
    pub downloads: String,
}

/// Dependencies of one target framework.
pub struct DependencyView {
    pub framework: String,
    pub items: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    page: Page,
    id: String,
    version: String,
    prerelease: bool,
    listed: bool,
    spec: Nuspec,
    readme_html: Option<String>,
    versions: Vec<VersionRow>,
    dependencies: Vec<DependencyView>,
    owners: Vec<String>,
    /// May unlist and relist (owners, members of an owning organisation, administrators).
    is_owner: bool,
    /// May invite and remove owners (owners, administrators of an owning organisation, server
    /// administrators).
    manages_owners: bool,
    pending: Vec<String>,
    /// The owner a reserved prefix covering the ID belongs to: the package is verified.
    verified_by: Option<String>,
    /// The upstream feed this package was cached from.
    upstream: Option<String>,
    download: String,
    license: Option<String>,
    /// `projectUrl`, only when it is safe to link ([`web_link`]).
    project_url: Option<String>,
    /// `licenseUrl`, likewise.
    license_url: Option<String>,
    /// The symbol server URL, when symbols were pushed for this version.
    symbols: Option<String>,
    /// The version's deprecation, when its owners deprecated it.
    deprecation: Option<DeprecationView>,
    /// Recorded vulnerabilities of this version: (severity, advisory URL safe to link).
    vulnerabilities: Vec<(&'static str, String)>,
    /// Downloads of every version.
    total_downloads: String,
    /// The date of the newest listed version.
    last_updated: String,
    /// The .nupkg's size.
    size: String,
    frameworks: Vec<String>,
    /// An SPDX expression and the page that explains it.
    license_expression: Option<(String, String)>,
    /// The license file's text.
    license_text: Option<String>,
    /// The source repository's URL, when safe to link.
    repository_url: Option<String>,
    /// Packages on this feed that depend on this one.
    used_by: Vec<String>,
    /// A refused invitation: the name typed and why.
    owner_error: Option<(String, String)>,
}

/// "12.3 KB", "1.5 MB".
fn human_size(bytes: i64) -> String {
    let bytes = bytes.max(0) as f64;
    if bytes < 1024.0 {
        format!("{bytes} B")
    } else if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KB", bytes / 1024.0)
    } else {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    }
}

fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A deprecation in the words of the package page.
pub struct DeprecationView {
    reason: String,
    message: Option<String>,
    /// The alternate package's ID and, when given, its range.
    alternate: Option<(String, Option<String>)>,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Page,
    username: String,
    is_org: bool,
    packages: Vec<PackageSummary>,
}

impl PackageSummary {
    fn of(package: &IndexedPackage, v: &PackageVersion, verified: bool) -> PackageSummary {
        PackageSummary {
            downloads: downloads_label(package.total_downloads()),
            tags: v
                .texts
                .tags
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            id: v.package_id.to_string(),
            version: v.version.to_string(),
            description: v.texts.description.to_string(),
            authors: v.texts.authors.to_string(),
            verified,
            prerelease: v.is_prerelease,
            upstream: package.upstream.clone(),
        }
    }
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, Reader(visitor): Reader) -> PageResult {
    const RECENT: usize = 10;
    let verifier = state.packages.verifier().await?;
    let view = state.packages.feed().view().await?;
    let mut count = 0;
    let mut cached = 0;
    // Per package, its most recently published listed version; the ten newest of those.
    // Packages by their latest listed publication, each shown by its headline version.
    let mut recent: Vec<(i64, &PackageVersion, &IndexedPackage)> = Vec::with_capacity(RECENT + 1);
    for package in view.packages() {
        let Some(updated) = package
            .versions
            .iter()
            .filter(|v| v.row.listed)
            .map(|v| v.row.published_at)
            .max()
        else {
            continue;
        };
        let Some(shown) = package.headline() else {
            continue;
        };
        if package.upstream.is_some() {
            cached += 1;
        } else {
            count += 1;
        }
        if recent.len() < RECENT || recent.last().is_some_and(|(at, _, _)| *at < updated) {
            let at = recent.partition_point(|(at, _, _)| *at >= updated);
            recent.insert(at, (updated, shown, package));
            recent.truncate(RECENT);
        }
    }
    let recent = recent
        .into_iter()
        .map(|(_, v, package)| {
            let verified = verifier
                .reserved_by(&v.package_id, &package.owners)
                .is_some();
            PackageSummary::of(package, v, verified)
        })
        .collect();
    drop(view);
    Ok(render(Home {
        page: visitor.page(),
        recent,
        count,
        cached,
        usage: Usage::new(&state.config.base_url(), None),
    }))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    skip: usize,
    /// `relevance`, `downloads` or `updated`.
    #[serde(default)]
    sort: String,
    /// Present when the search form was sent: then prereleases show only when `prerelease` is too (an
    /// unticked box sends nothing). A plain link includes them, as NuGet.org does.
    #[serde(default)]
    filtered: Option<String>,
    #[serde(default)]
    prerelease: Option<String>,
}

/// One entry of the sort menu.
pub struct SortChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// `GET /packages?q=`.
pub async fn search(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    Query(query): Query<SearchQuery>,
) -> PageResult {
    const PAGE: usize = 20;
    let order = SearchOrder::from_param(&query.sort);
    let prerelease = query.filtered.is_none() || query.prerelease.is_some();
    let request = SearchRequest::gallery(&query.q, order, prerelease);
    let verifier = state.packages.verifier().await?;
    let (total, hits) = find(&state, &request, query.skip, PAGE).await?;
    let skip = query.skip.min(total);
    let mut page = visitor.page();
    page.search = query.q.clone();
    Ok(render(SearchPage {
        page,
        q: query.q,
        next: (skip + PAGE < total).then_some(skip + PAGE),
        prev: (skip > 0).then(|| skip.saturating_sub(PAGE)),
        results: hits
            .iter()
            .map(|h| {
                let verified = verifier
                    .reserved_by(&h.package.package_id, &h.package.owners)
                    .is_some();
                let shown = if prerelease {
                    h.package.headline().unwrap_or(h.latest())
                } else {
                    h.latest()
                };
                PackageSummary::of(&h.package, shown, verified)
            })
            .collect(),
        total,
        sort: SearchOrder::ALL
            .into_iter()
            .map(|o| {
                let (value, label) = o.param_and_label();
                SortChoice {
                    value,
                    label,
                    selected: o == order,
                }
            })
            .collect(),
        sort_param: order.param_and_label().0,
        prerelease,
    }))
}

/// What the package page's address says was just done (`?done=invited&who=bob`).
#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    who: Option<String>,
}

/// A notice, and a refused owner invitation (the name typed, the reason), for the package page.
#[derive(Default)]
pub struct PageNotes {
    pub notice: Option<String>,
    pub owner_error: Option<(String, String)>,
}

/// The status notice for `done` on the page of `version`.
fn package_notice(done: &Done, version: &str) -> Option<String> {
    let who = done.who.as_deref().unwrap_or("");
    Some(match done.done.as_deref()? {
        "unlisted" => format!(
            "Version {version} unlisted: it no longer appears in search; restores of this exact \
             version still work."
        ),
        "relisted" => format!("Version {version} relisted."),
        "deprecation" => format!("The deprecation of version {version} was saved."),
        "invited" if !who.is_empty() => {
            format!("Invitation sent to {who}: they become an owner when they accept.")
        }
        "removed" if !who.is_empty() => format!("{who} is no longer an owner."),
        "withdrawn" if !who.is_empty() => format!("The invitation of {who} was withdrawn."),
        _ => return None,
    })
}

/// `GET /packages/{id}`: the latest listed version (owners also reach unlisted ones).
pub async fn package(
    state: State<AppState>,
    base: BaseUrl,
    Reader(visitor): Reader,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> PageResult {
    let notes = PageNotes {
        notice: package_notice(&done, ""),
        owner_error: None,
    };
    package_page(state, base, visitor, id, None, notes).await
}

/// `GET /packages/{id}/{version}`.
pub async fn package_version(
    state: State<AppState>,
    base: BaseUrl,
    Reader(visitor): Reader,
    Path((id, version)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> PageResult {
    let notes = PageNotes {
        notice: package_notice(&done, &version),
        owner_error: None,
    };
    package_page(state, base, visitor, id, Some(version), notes).await
}

/// A package's page at `version` (the headline version when `None`).
pub async fn package_page(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    visitor: Visitor,
    id: String,
    version: Option<String>,
    notes: PageNotes,
) -> PageResult {
    let versions = state.packages.versions(&id).await?;
    let Some(first) = versions.first() else {
        return Ok(not_found(&visitor));
    };
    let manager = state
        .packages
        .can_manage(visitor.user(), first.registration_id)
        .await?;
    let mut ascending = versions.clone();
    ascending.sort_by_key(|v| NuGetVersion::parse(&v.version).ok());
    // As on NuGet.org, an unlisted version's page is shown to anyone who asks for it, with the unlisted
    // banner; without a version, the headline version, or the newest when every version is unlisted.
    let current = match &version {
        Some(v) => {
            let normalized = NuGetVersion::parse(v)
                .map(|v| v.normalized().to_lowercase())
                .unwrap_or_default();
            versions
                .iter()
                .find(|x| x.version.to_lowercase() == normalized)
        }
        None => crate::feed::headline(ascending.iter()).or_else(|| ascending.last()),
    };
    let Some(current) = current.cloned() else {
        return Ok(not_found(&visitor));
    };
    let stored = state.packages.feed().metadata_of(&[current.id]).await?;
    let metadata_json = stored.get(&current.id).map_or("", String::as_str);
    let meta: PackageMetadata = serde_json::from_str(metadata_json)
        .map_err(|e| ApiError::Internal(anyhow::Error::from(e).context("stored .nuspec JSON")))?;
    let rows = ascending
        .iter()
        .rev()
        .filter(|v| v.listed || manager || v.id == current.id)
        .map(|v| VersionRow {
            version: v.version.to_string(),
            prerelease: v.is_prerelease,
            listed: v.listed,
            published: date(v.published_at),
            current: v.id == current.id,
            downloads: grouped(v.downloads),
        })
        .collect();
    let dependencies = meta
        .nuspec
        .dependency_groups
        .iter()
        .map(|g| DependencyView {
            framework: g
                .target_framework
                .clone()
                .unwrap_or_else(|| "Any framework".into()),
            items: g
                .dependencies
                .iter()
                .map(|d| (d.id.clone(), d.range.pretty()))
                .collect(),
        })
        .collect();
    let owners = state.packages.owner_names(current.registration_id).await?;
    let upstream = state
        .packages
        .feed()
        .package(&id)
        .await?
        .and_then(|p| p.upstream.clone());
    let manages_owners = state
        .packages
        .can_manage_owners(visitor.user(), current.registration_id)
        .await?;
    let verified_by = state
        .packages
        .verifier()
        .await?
        .reserved_by(&current.package_id, &owners)
        .map(str::to_string);
    let pending = if manages_owners {
        state
            .packages
            .pending_invitations(current.registration_id)
            .await?
    } else {
        Vec::new()
    };
    let lower_id = current.package_id.to_lowercase();
    let lower_version = current.version.to_lowercase();
    let license = meta
        .nuspec
        .license
        .as_ref()
        .filter(|l| l.kind != "expression")
        .map(|l| l.value.clone());
    // NuGet.org's license pages explain any SPDX expression, compound ones included.
    let license_expression = meta
        .nuspec
        .license
        .as_ref()
        .filter(|l| l.kind == "expression")
        .map(|l| {
            let url = format!("https://licenses.nuget.org/{}", urlencode_path(&l.value));
            (l.value.clone(), url)
        });
    let total_downloads = downloads_label(versions.iter().map(|v| v.downloads).sum());
    let last_updated = date(
        versions
            .iter()
            .filter(|v| v.listed)
            .map(|v| v.published_at)
            .max()
            .unwrap_or(current.published_at),
    );
    let frameworks = if meta.frameworks.is_empty() {
        meta.nuspec
            .dependency_groups
            .iter()
            .filter_map(|g| g.target_framework.clone())
            .collect()
    } else {
        meta.frameworks.clone()
    };
    let repository_url = web_link(
        meta.nuspec
            .repository
            .as_ref()
            .and_then(|r| r.url.as_deref()),
    );
    let used_by = state.packages.used_by(&current.package_id).await?;
    let project_url = web_link(meta.nuspec.project_url.as_deref());
    let license_url = web_link(meta.nuspec.license_url.as_deref());
    let symbols = state
        .packages
        .has_symbols(current.id)
        .await?
        .then(|| format!("{base}/symbols"));
    let deprecation = state
        .packages
        .deprecations_of(&[current.id])
        .await?
        .remove(&current.id)
        .map(|d| DeprecationView {
            reason: d.reasons.label(),
            message: d.message,
            alternate: d.alternate_id.map(|id| (id, d.alternate_range)),
        });
    let parsed = NuGetVersion::parse(&current.version).ok();
    let vulnerabilities = state
        .packages
        .vulnerabilities(Some(current.registration_id))
        .await?
        .into_iter()
        .filter(|v| {
            let range = nuget_formats::VersionRange::parse(&v.versions).ok();
            matches!((&range, &parsed), (Some(r), Some(p)) if r.satisfies(p))
        })
        .filter_map(|v| web_link(Some(&v.advisory_url)).map(|url| (v.severity.as_str(), url)))
        .collect();
    let mut page = visitor.page();
    page.notice = notes.notice;
    Ok(render(PackagePage {
        page,
        owner_error: notes.owner_error,
        id: current.package_id.to_string(),
        version: current.version.to_string(),
        prerelease: current.is_prerelease,
        listed: current.listed,
        readme_html: meta.readme.as_deref().map(render_readme),
        license_text: meta.license_text.clone(),
        total_downloads,
        last_updated,
        size: human_size(current.package_size),
        frameworks,
        license_expression,
        repository_url,
        used_by,
        spec: meta.nuspec,
        versions: rows,
        dependencies,
        is_owner: manager,
        manages_owners,
        owners,
        pending,
        verified_by,
        upstream,
        download: format!(
            "{base}/v3-flatcontainer/{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg"
        ),
        license,
        project_url,
        license_url,
        symbols,
        deprecation,
        vulnerabilities,
    }))
}

/// A nuspec URL fit for an `href`: http(s) only. Escaping keeps a URL inside its attribute, but a
/// `javascript:` or `data:` URL would still run (or render) what the package author wrote when clicked.
fn web_link(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.to_string())
}

/// Markdown to HTML, then through ammonia: scripts, event handlers and `javascript:` links never survive.
pub fn render_readme(markdown: &str) -> String {
    use pulldown_cmark::{Event, HeadingLevel, Tag, TagEnd};
    // The README sits under the page's h1 (the package) and its h2 ("README"): its own headings start
    // at h3, so the page's outline stays whole.
    let demote = |level: HeadingLevel| match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    };
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES)
        .map(move |event| match event {
            Event::Start(Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => Event::Start(Tag::Heading {
                level: demote(level),
                id,
                classes,
                attrs,
            }),
            Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(demote(level))),
            other => other,
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

/// `GET /profiles/{username}`: the packages of a user or an organisation, from the in-memory feed
/// (which knows each package's owners): no query per package.
pub async fn profile(
    State(state): State<AppState>,
    Reader(visitor): Reader,
    Path(username): Path<String>,
) -> PageResult {
    let Some(user) = state.users.find(&username).await? else {
        return Ok(not_found(&visitor));
    };
    let verifier = state.packages.verifier().await?;
    let view = state.packages.feed().view().await?;
    let mut packages: Vec<PackageSummary> = view
        .packages()
        .filter(|p| {
            p.owners
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&user.username))
        })
        .filter_map(|p| {
            p.headline().map(|v| {
                let verified = verifier.reserved_by(&p.package_id, &p.owners).is_some();
                PackageSummary::of(p, v, verified)
            })
        })
        .collect();
    drop(view);
    packages.sort_by_key(|p| p.id.to_lowercase());
    Ok(render(ProfilePage {
        page: visitor.page(),
        is_org: user.is_organization(),
        username: user.username,
        packages,
    }))
}
