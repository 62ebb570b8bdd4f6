//! `PUT /api/v2/package/{id}/deprecations`: NuGet.org's deprecation API, for tools that deprecate
//! versions with an unlist key.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use nuget_formats::deprecation::{parse_deprecation_request, ListedVerb};

use super::guard::ApiKey;
use crate::error::{message_response, ApiError};
use crate::model::advisory::DeprecationReasons;
use crate::packages::deprecation_by_key::KeyedDeprecation;
use crate::state::AppState;

/// Deprecates the versions the request names (or lifts their deprecation when no reason is set);
/// 200 with what changed.
pub async fn deprecate(
    State(state): State<AppState>,
    ApiKey(key): ApiKey,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let fields = parse_deprecation_request(query.as_deref().unwrap_or(""), content_type, &body)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let reasons =
        DeprecationReasons::from_flags(fields.is_legacy, fields.has_critical_bugs, fields.is_other);
    let request = KeyedDeprecation {
        versions: fields.versions,
        reasons,
        message: fields.message,
        alternate_id: fields.alternate_package_id,
        alternate_version: fields.alternate_package_version,
        listing: match fields.listed_verb {
            ListedVerb::Unchanged => None,
            ListedVerb::Unlist => Some(false),
            ListedVerb::Relist => Some(true),
        },
    };
    let changed = state
        .packages
        .deprecate_with_key(&key, &id, request)
        .await?;
    let verb = if reasons.is_some() {
        "deprecated"
    } else {
        "no longer deprecated"
    };
    Ok(message_response(
        StatusCode::OK,
        &format!("{id} {} {verb}.", changed.join(", ")),
    ))
}
