//! `POST /api/v2/token`: trusted publishing's exchange, as NuGet.org has it for the `NuGet/login`
//! action. The CI job's OIDC token comes as `Authorization: Bearer`, the owner in the JSON body; the
//! answer is a key that lives one hour.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// The body `NuGet/login` sends.
#[derive(Deserialize)]
struct TokenRequest {
    username: Option<String>,
    #[serde(rename = "tokenType")]
    token_type: Option<String>,
}

/// Trades the bearer token for a key.
pub async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::BearerRefused(
                "A CI identity token is required: send it as 'Authorization: Bearer <token>'."
                    .into(),
            )
        })?;
    let request: TokenRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "The body must be JSON such as {{\"username\": \"OWNER\", \"tokenType\": \"ApiKey\"}}: {e}"
        ))
    })?;
    if !request
        .token_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("ApiKey"))
    {
        return Err(ApiError::BadRequest("tokenType must be \"ApiKey\".".into()));
    }
    let username = request
        .username
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "username must name the user or organisation whose policy applies.".into(),
            )
        })?;
    let issued = state.trust.exchange(token, &username).await?;
    let expires = chrono::DateTime::from_timestamp(issued.expires_at, 0)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    Ok(super::json(&serde_json::json!({
        "apiKey": issued.plaintext,
        "expires": expires,
    })))
}
