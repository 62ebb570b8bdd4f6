//! The V2 OData feed at `/api/v2/`, for the clients that predate V3 or never moved: nuget.exe 2.x
//! (install, list, update), `nuget list` on 3.4–5.8 (through `LegacyGallery/2.0.0`), PowerShellGet v2
//! and Chocolatey. Atom XML as NuGet.org writes it, served from the in-memory feed index.
//!
//! Routes: the service document (`/api/v2`, `/api/v2/`), then one resource segment
//! (`$metadata`, `Packages`, `Packages()`, `Packages(Id='…',Version='…')`, `Search()`,
//! `FindPackagesById()`, `GetUpdates()`) with an optional `/$count` (or `/$value` on an entry). The
//! request shape is read in `params`, the answer chosen in `query` and written in `atom`.

mod atom;
mod params;
mod query;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use nuget_formats::odata::{Property, Select};
use nuget_formats::NuGetVersion;

use super::guard::Readable;
use crate::error::ApiError;
use crate::model::policy::ReadScope;
use crate::packages::PackageMetadata;
use crate::state::{AppState, BaseUrl};
use atom::EntryContext;
use params::{encode_query, Options, Target};
use query::Selected;

const FEED_TYPE: &str = "application/atom+xml;type=feed;charset=utf-8";
const ENTRY_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";
const XML_TYPE: &str = "application/xml;charset=utf-8";
const COUNT_TYPE: &str = "text/plain;charset=utf-8";

/// The V2 feed's routes, all reads: a router of their own so a read layer can wrap them whole.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2", get(service_document))
        .route("/api/v2/", get(service_document))
        .route("/api/v2/{resource}", get(resource))
        .route("/api/v2/{resource}/{operation}", get(operation))
}

fn xml(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                HeaderName::from_static("dataserviceversion"),
                HeaderValue::from_static("2.0;"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /api/v2/`.
async fn service_document(BaseUrl(base): BaseUrl) -> Response {
    xml(XML_TYPE, atom::service_document(&base))
}

/// `GET /api/v2/{resource}`: `$metadata`, an entry, or a collection.
async fn resource(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Readable(readable): Readable,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let options = Options::parse(query.as_deref())?;
    match Target::parse(&resource)? {
        Target::Metadata => Ok(xml(XML_TYPE, atom::metadata())),
        Target::Entry { id, version } => {
            let selected = find_entry(&state, &readable, &id, &version, &options).await?;
            let metadata = metadata_of(&state, std::slice::from_ref(&selected), &options.select)
                .await?
                .pop()
                .flatten();
            let context = EntryContext {
                base: &base,
                semver2: options.semver2,
                select: &options.select,
            };
            Ok(xml(
                ENTRY_TYPE,
                atom::entry_document(&context, &selected, metadata.as_ref()),
            ))
        }
        Target::Collection(collection) => {
            let page = collection_page(&state, &readable, collection, &options).await?;
            let metadata = metadata_of(&state, &page.rows, &options.select).await?;
            let next = page.next.map(|(skip, top)| {
                let mut pairs = options.passed_on.clone();
                pairs.push(("$skip".into(), skip.to_string()));
                if let Some(top) = top {
                    pairs.push(("$top".into(), top.to_string()));
                }
                format!(
                    "{base}/api/v2/{}()?{}",
                    collection.name(),
                    encode_query(&pairs)
                )
            });
            let count = options.inline_count.then_some(page.total);
            let entries: Vec<(Selected, Option<PackageMetadata>)> =
                page.rows.into_iter().zip(metadata).collect();
            let context = EntryContext {
                base: &base,
                semver2: options.semver2,
                select: &options.select,
            };
            Ok(xml(
                FEED_TYPE,
                atom::feed(
                    &context,
                    collection.name(),
                    &entries,
                    count,
                    next.as_deref(),
                ),
            ))
        }
    }
}

/// `GET /api/v2/{resource}/$count` (a collection's size) and `/$value` (an entry's package file).
async fn operation(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Readable(readable): Readable,
    Path((resource, operation)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let options = Options::parse(query.as_deref())?;
    match (Target::parse(&resource)?, operation.as_str()) {
        (Target::Collection(collection), "$count") => {
            let page = collection_page(&state, &readable, collection, &options).await?;
            Ok((
                [(header::CONTENT_TYPE, COUNT_TYPE)],
                page.counted.to_string(),
            )
                .into_response())
        }
        (Target::Entry { id, version }, "$value") => {
            let selected = find_entry(&state, &readable, &id, &version, &options).await?;
            let row = selected.row();
            Ok(Redirect::to(&format!(
                "{base}/api/v2/package/{}/{}",
                row.package_id, row.version
            ))
            .into_response())
        }
        _ => Err(ApiError::NotFound(format!(
            "'{}/{}' is not a resource of this feed: $count follows a collection such as Search(), \
             $value an entry.",
            params::clip(&resource),
            params::clip(&operation)
        ))),
    }
}

/// One exact version, unlisted and SemVer 2 ones included; a package the reader may not see does not
/// exist.
async fn find_entry(
    state: &AppState,
    readable: &ReadScope,
    id: &str,
    version: &str,
    options: &Options,
) -> Result<Selected, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "A package with ID '{}' and version '{}' does not exist.",
            params::clip(id),
            params::clip(version)
        ))
    };
    if !readable.allows(id) {
        return Err(not_found());
    }
    let normalized = NuGetVersion::parse(version)
        .map_err(|_| not_found())?
        .normalized();
    let (package, _) = state
        .packages
        .feed()
        .version(id, &normalized)
        .await?
        .ok_or_else(not_found)?;
    query::entry(&package, &normalized, options.semver2).ok_or_else(not_found)
}

async fn collection_page(
    state: &AppState,
    readable: &ReadScope,
    collection: params::Collection,
    options: &Options,
) -> Result<query::Page, ApiError> {
    let feed = state.packages.feed();
    if let Some(id) = query::named_id(collection, options) {
        // Re-read once before answering "no such package", like the V3 lookups by ID, so a version
        // another node has just pushed shows at once.
        feed.package(id).await?;
    }
    let corpus = match collection {
        params::Collection::Search => Some(feed.search_corpus().await?),
        _ => None,
    };
    let view = feed.view().await?;
    query::page(&view, corpus.as_deref(), readable, collection, options)
}

/// The .nuspec-derived properties: only answers that show one of them read the stored metadata.
const NUSPEC_PROPERTIES: [Property; 10] = [
    Property::Copyright,
    Property::Dependencies,
    Property::IconUrl,
    Property::Language,
    Property::ProjectUrl,
    Property::ReleaseNotes,
    Property::RequireLicenseAcceptance,
    Property::MinClientVersion,
    Property::LicenseUrl,
    Property::LicenseNames,
];

/// The stored .nuspec of each row, in order, when the answer shows a property taken from it.
async fn metadata_of(
    state: &AppState,
    rows: &[Selected],
    select: &Select,
) -> Result<Vec<Option<PackageMetadata>>, ApiError> {
    if rows.is_empty() || !NUSPEC_PROPERTIES.iter().any(|p| select.includes(*p)) {
        return Ok(rows.iter().map(|_| None).collect());
    }
    let ids: Vec<i64> = rows.iter().map(|s| s.row().id).collect();
    let mut stored = state.packages.feed().metadata_of(&ids).await?;
    Ok(rows
        .iter()
        .map(|s| {
            stored
                .remove(&s.row().id)
                .and_then(|json| serde_json::from_str(&json).ok())
        })
        .collect())
}
