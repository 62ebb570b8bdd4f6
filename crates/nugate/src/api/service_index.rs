//! `GET /v3/index.json`: where clients discover every other resource.

use axum::response::Response;
use serde_json::json;

use super::{json, REGISTRATION_HIVE, REGISTRATION_SEMVER2_HIVE};
use crate::state::BaseUrl;

/// Lists every resource under all the `@type` names clients look for; nuget.exe 3.4–5.8 only pick up
/// `/Versioned`, `/3.0.0-beta` and `/3.4.0`, newer clients `/3.6.0` and `/3.5.0`.
pub async fn index(BaseUrl(base): BaseUrl) -> Response {
    let mut resources = vec![
        resource(
            &format!("{base}/api/v2/package"),
            "PackagePublish/2.0.0",
            "Push, unlist and relist packages",
        ),
        resource(
            &format!("{base}/api/v2/symbolpackage"),
            "SymbolPackagePublish/4.9.0",
            "Push symbol packages (.snupkg)",
        ),
        resource(
            &format!("{base}/v3-flatcontainer/"),
            "PackageBaseAddress/3.0.0",
            "Package contents and version lists",
        ),
        resource(
            &format!("{base}/v3-flatcontainer/{{lower_id}}/{{lower_version}}/readme"),
            "ReadmeUriTemplate/6.13.0",
            "Package README (text/markdown), 404 when it has none",
        ),
        resource(
            &super::vulnerabilities::index_url(&base),
            "VulnerabilityInfo/6.7.0",
            "Known vulnerabilities recorded by owners and administrators",
        ),
    ];
    // Clients ignore the details page unless it is https, so it is listed only then.
    if base.starts_with("https://") {
        resources.push(resource(
            &format!("{base}/packages/{{id}}/{{version}}"),
            "PackageDetailsUriTemplate/5.1.0",
            "Package details page",
        ));
    }
    // nuget.exe 3.4–5.8 `list` reads the V2 OData feed named here.
    for kind in ["LegacyGallery", "LegacyGallery/2.0.0"] {
        resources.push(resource(
            &format!("{base}/api/v2/"),
            kind,
            "The V2 OData feed (nuget list, older clients)",
        ));
    }
    let legacy_registration = format!("{base}/v3/{REGISTRATION_HIVE}/");
    let semver2_registration = format!("{base}/v3/{REGISTRATION_SEMVER2_HIVE}/");
    for (suffix, url) in [
        ("", &legacy_registration),
        ("/3.0.0-beta", &legacy_registration),
        ("/3.0.0-rc", &legacy_registration),
        ("/3.4.0", &legacy_registration),
        ("/3.6.0", &semver2_registration),
        ("/Versioned", &semver2_registration),
    ] {
        resources.push(resource(
            url,
            &format!("RegistrationsBaseUrl{suffix}"),
            "Package metadata",
        ));
    }
    for suffix in [
        "",
        "/3.0.0-beta",
        "/3.0.0-rc",
        "/3.4.0",
        "/3.5.0",
        "/Versioned",
    ] {
        resources.push(resource(
            &format!("{base}/v3/search"),
            &format!("SearchQueryService{suffix}"),
            "Search",
        ));
        resources.push(resource(
            &format!("{base}/v3/autocomplete"),
            &format!("SearchAutocompleteService{suffix}"),
            "Autocomplete package IDs and versions",
        ));
    }
    json(&json!({ "version": "3.0.0", "resources": resources }))
}

fn resource(id: &str, kind: &str, comment: &str) -> serde_json::Value {
    json!({ "@id": id, "@type": kind, "comment": comment })
}
