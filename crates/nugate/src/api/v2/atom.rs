//! The V2 feed's documents as NuGet.org writes them: the AtomPub service document, the EDMX `$metadata`,
//! and Atom feeds and entries whose `m:properties` hold the `d:` properties of `V2FeedPackage`.

use std::fmt::Write;

use nuget_formats::odata::{string_literal, Property, Select};
use nuget_formats::{Nuspec, VersionRange};

use super::query::Selected;
use crate::packages::PackageMetadata;

const ATOM: &str = "http://www.w3.org/2005/Atom";
const DATA: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices";
const METADATA: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata";
/// The entity type's name in `$metadata` and every entry's category, as on NuGet.org.
const ENTITY_TYPE: &str = "NuGetGallery.OData.V2FeedPackage";
/// What NuGet.org (and so every client) takes as "unlisted" in `Published`.
const UNLISTED_PUBLISHED: &str = "1900-01-01T00:00:00";

/// Escapes text for XML content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Characters XML 1.0 cannot carry at all (pushes refuse them; this is a last guard).
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `GET /api/v2/`: the AtomPub service document. It starts with `<?xml`, which is how PowerShellGet's
/// NuGet provider recognises a V2 feed.
pub fn service_document(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><service xml:base="{}/api/v2/" xmlns="http://www.w3.org/2007/app" xmlns:atom="{ATOM}"><workspace><atom:title type="text">Default</atom:title><collection href="Packages"><atom:title type="text">Packages</atom:title></collection></workspace></service>"#,
        escape(base)
    )
}

/// `GET /api/v2/$metadata`: the entity type and the service operations; nuget.exe reads which
/// operations and properties exist from it, and Chocolatey whether `IsAbsoluteLatestVersion` does.
pub fn metadata() -> String {
    let mut properties = String::new();
    for p in Property::ALL {
        let nullable = if p.nullable() {
            ""
        } else {
            r#" Nullable="false""#
        };
        let _ = write!(
            properties,
            r#"<Property Name="{}" Type="{}"{nullable}/>"#,
            p.name(),
            p.edm_type()
        );
    }
    let string_param = |name: &str| {
        format!(
            r#"<Parameter Name="{name}" Type="Edm.String" FixedLength="false" Unicode="false"/>"#
        )
    };
    let bool_param =
        |name: &str| format!(r#"<Parameter Name="{name}" Type="Edm.Boolean" Nullable="false"/>"#);
    let function = |name: &str, params: String| {
        format!(
            r#"<FunctionImport Name="{name}" ReturnType="Collection({ENTITY_TYPE})" EntitySet="Packages">{params}</FunctionImport>"#
        )
    };
    let search = function(
        "Search",
        [
            string_param("searchTerm"),
            string_param("targetFramework"),
            bool_param("includePrerelease"),
        ]
        .concat(),
    );
    let find = function("FindPackagesById", string_param("id"));
    let updates = function(
        "GetUpdates",
        [
            string_param("packageIds"),
            string_param("versions"),
            bool_param("includePrerelease"),
            bool_param("includeAllVersions"),
            string_param("targetFrameworks"),
            string_param("versionConstraints"),
        ]
        .concat(),
    );
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices m:DataServiceVersion="2.0" m:MaxDataServiceVersion="2.0" xmlns:m="{METADATA}"><Schema Namespace="NuGetGallery.OData" xmlns="http://schemas.microsoft.com/ado/2006/04/edm"><EntityType Name="V2FeedPackage" m:HasStream="true"><Key><PropertyRef Name="Id"/><PropertyRef Name="Version"/></Key>{properties}</EntityType></Schema><Schema Namespace="NuGetGallery" xmlns="http://schemas.microsoft.com/ado/2006/04/edm"><EntityContainer Name="V2FeedContext" m:IsDefaultEntityContainer="true"><EntitySet Name="Packages" EntityType="{ENTITY_TYPE}"/>{search}{find}{updates}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"#
    )
}

/// What an entry is rendered from and for.
pub struct EntryContext<'a> {
    /// The public base URL, without `/api/v2`.
    pub base: &'a str,
    /// The client sent `semVerLevel=2.0.0`: `Version` carries build metadata.
    pub semver2: bool,
    pub select: &'a Select,
}

fn namespaces(base: &str) -> String {
    format!(
        r#"xml:base="{}/api/v2" xmlns="{ATOM}" xmlns:d="{DATA}" xmlns:m="{METADATA}" xmlns:georss="http://www.georss.org/georss" xmlns:gml="http://www.opengis.net/gml""#,
        escape(base)
    )
}

/// A whole feed: the entries of one page, and a link to the next page when there is one.
pub fn feed(
    context: &EntryContext<'_>,
    collection: &str,
    entries: &[(Selected, Option<PackageMetadata>)],
    count: Option<usize>,
    next: Option<&str>,
) -> String {
    let mut out = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><feed {}>"#,
        namespaces(context.base)
    );
    if let Some(count) = count {
        let _ = write!(out, "<m:count>{count}</m:count>");
    }
    let _ = write!(
        out,
        r#"<id>http://schemas.datacontract.org/2004/07/</id><title type="text">{collection}</title><updated>{}</updated><link rel="self" title="{collection}" href="{}/api/v2/{collection}"/>"#,
        now(),
        escape(context.base)
    );
    for (selected, metadata) in entries {
        write_entry(&mut out, context, selected, metadata.as_ref(), false);
    }
    if let Some(next) = next {
        let _ = write!(out, r#"<link rel="next" href="{}"/>"#, escape(next));
    }
    out.push_str("</feed>");
    out
}

/// A single entry document (`Packages(Id='…',Version='…')`).
pub fn entry_document(
    context: &EntryContext<'_>,
    selected: &Selected,
    metadata: Option<&PackageMetadata>,
) -> String {
    let mut out = r#"<?xml version="1.0" encoding="utf-8"?>"#.to_string();
    write_entry(&mut out, context, selected, metadata, true);
    out
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `Edm.DateTime` as NuGet.org writes it: UTC, no zone designator.
fn edm_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_else(|| UNLISTED_PUBLISHED.to_string())
}

/// `Dependencies` in the V2 form, `Id:range:framework` joined by `|`; a framework without
/// dependencies is `::framework`. A plain minimum version is written alone (`1.0.0`), any version as
/// nothing, other ranges in NuGet's interval notation.
pub fn dependencies(spec: &Nuspec) -> String {
    let range = |r: &VersionRange| match (r.min(), r.max(), r.is_min_inclusive(), r.is_floating()) {
        (None, None, _, false) => String::new(),
        (Some(min), None, true, false) => min.normalized(),
        _ => r.normalized(),
    };
    let mut parts = Vec::new();
    for group in &spec.dependency_groups {
        let framework = group.target_framework.as_deref().unwrap_or("");
        if group.dependencies.is_empty() {
            if !framework.is_empty() {
                parts.push(format!("::{framework}"));
            }
            continue;
        }
        for d in &group.dependencies {
            parts.push(format!("{}:{}:{framework}", d.id, range(&d.range)));
        }
    }
    parts.join("|")
}

/// One property's value: text, or `None` for `m:null="true"`.
fn value(
    p: Property,
    context: &EntryContext<'_>,
    s: &Selected,
    spec: Option<&Nuspec>,
) -> Option<String> {
    let row = s.row();
    let text = |t: Option<&str>| t.filter(|t| !t.is_empty()).map(str::to_string);
    Some(match p {
        Property::Id => row.package_id.to_string(),
        Property::Version if context.semver2 => row.full_version().to_string(),
        Property::Version | Property::NormalizedVersion => row.version.to_string(),
        Property::Authors => row.texts.authors.to_string(),
        Property::Copyright => return text(spec?.copyright.as_deref()),
        Property::Created | Property::LastUpdated => edm_date(row.published_at),
        Property::Published if !row.listed => UNLISTED_PUBLISHED.to_string(),
        Property::Published => edm_date(row.published_at),
        Property::LastEdited | Property::ReportAbuseUrl | Property::LicenseReportUrl => {
            return None
        }
        Property::Dependencies => spec.map(dependencies).unwrap_or_default(),
        Property::Description => row.texts.description.to_string(),
        Property::DownloadCount => s.package.total_downloads().to_string(),
        Property::VersionDownloadCount => row.downloads.to_string(),
        Property::GalleryDetailsUrl => format!(
            "{}/packages/{}/{}",
            context.base, row.package_id, row.version
        ),
        Property::IconUrl => return text(spec?.icon_url.as_deref()),
        Property::IsLatestVersion => s.is_latest.to_string(),
        Property::IsAbsoluteLatestVersion => s.is_absolute_latest.to_string(),
        Property::IsPrerelease => row.is_prerelease.to_string(),
        Property::Language => return text(spec?.language.as_deref()),
        Property::PackageHash => row.package_hash.to_string(),
        Property::PackageHashAlgorithm => "SHA512".to_string(),
        Property::PackageSize => row.package_size.to_string(),
        Property::ProjectUrl => return text(spec?.project_url.as_deref()),
        Property::ReleaseNotes => return text(spec?.release_notes.as_deref()),
        Property::RequireLicenseAcceptance => spec
            .is_some_and(|s| s.require_license_acceptance)
            .to_string(),
        Property::Summary => return text(row.texts.summary.as_deref()),
        Property::Tags => row.texts.tags.to_string(),
        Property::Title => return text(row.texts.title.as_deref()),
        Property::MinClientVersion => return text(spec?.min_client_version.as_deref()),
        Property::LicenseUrl => return text(spec?.license_url.as_deref()),
        Property::LicenseNames => {
            return spec?
                .license
                .as_ref()
                .filter(|l| l.kind == "expression")
                .map(|l| l.value.clone())
        }
    })
}

fn write_entry(
    out: &mut String,
    context: &EntryContext<'_>,
    s: &Selected,
    metadata: Option<&PackageMetadata>,
    standalone: bool,
) {
    let row = s.row();
    let base = escape(context.base);
    let key = escape(&format!(
        "Packages(Id={},Version={})",
        string_literal(&row.package_id),
        string_literal(&row.version)
    ));
    if standalone {
        let _ = write!(out, "<entry {}>", namespaces(context.base));
    } else {
        out.push_str("<entry>");
    }
    let _ = write!(
        out,
        r#"<id>{base}/api/v2/{key}</id><category term="{ENTITY_TYPE}" scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"/><link rel="edit" title="V2FeedPackage" href="{base}/api/v2/{key}"/><link rel="self" title="V2FeedPackage" href="{base}/api/v2/{key}"/><title type="text">{}</title><summary type="text">{}</summary><updated>{}Z</updated><author><name>{}</name></author><content type="application/zip" src="{base}/api/v2/package/{}/{}"/><m:properties>"#,
        escape(&row.package_id),
        escape(row.texts.summary.as_deref().unwrap_or("")),
        edm_date(row.published_at),
        escape(&row.texts.authors),
        escape(&row.package_id),
        escape(&row.version),
    );
    let spec = metadata.map(|m| &m.nuspec);
    for p in Property::ALL {
        if !context.select.includes(p) {
            continue;
        }
        let name = p.name();
        let typed = match p.edm_type() {
            "Edm.String" => String::new(),
            edm => format!(r#" m:type="{edm}""#),
        };
        match value(p, context, s, spec) {
            Some(v) => {
                let _ = write!(out, "<d:{name}{typed}>{}</d:{name}>", escape(&v));
            }
            None => {
                let _ = write!(out, r#"<d:{name}{typed} m:null="true"/>"#);
            }
        }
    }
    out.push_str("</m:properties></entry>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;'&amp;'&lt;/a&gt;\u{FFFD}"
        );
    }

    #[test]
    fn dependencies_in_the_v2_form() {
        let nuspec = Nuspec::parse(
            br#"<package><metadata><id>A</id><version>1.0.0</version><authors>x</authors><description>d</description>
            <dependencies>
              <group targetFramework="net45"><dependency id="B" version="1.0"/><dependency id="C" version="[1.0,2.0)"/><dependency id="D"/></group>
              <group targetFramework="netstandard2.0"/>
            </dependencies></metadata></package>"#,
        );
        let Ok(spec) = nuspec else {
            panic!("test nuspec must parse: {nuspec:?}");
        };
        assert_eq!(
            dependencies(&spec),
            "B:1.0.0:net45|C:[1.0.0, 2.0.0):net45|D::net45|::netstandard2.0"
        );
    }

    #[test]
    fn the_metadata_lists_every_operation_and_property() {
        let m = metadata();
        assert!(m.starts_with("<?xml"));
        for name in [
            "Search",
            "FindPackagesById",
            "GetUpdates",
            "IsAbsoluteLatestVersion",
        ] {
            assert!(m.contains(&format!("Name=\"{name}\"")), "{name}");
        }
    }
}
