//! `POST /api/secret-scanning/leaks`: reports of leaked keys in the format of GitHub's secret-scanning
//! partner program. A report signed by a configured key revokes every live key of ours it names (their
//! users are emailed) and is answered with the program's feedback: which tokens were ours.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nugate_apikey::leak_report::{self, Feedback, ReportError};

use crate::error::{message_response, ApiError};
use crate::state::AppState;

/// Verifies, then revokes; 200 with one feedback entry per reported token.
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let keys: Vec<(String, String)> = state
        .config
        .secret_scanning_keys
        .iter()
        .map(|k| (k.key_identifier.clone(), k.key.clone()))
        .collect();
    if keys.is_empty() {
        return Err(ApiError::NotFound(
            "Reports of leaked keys are not configured on this server (secret_scanning_keys)."
                .into(),
        ));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let verified = leak_report::verify(
        &keys,
        &header("github-public-key-identifier"),
        &header("github-public-key-signature"),
        &body,
    );
    if let Err(e) = verified {
        let status = match e {
            ReportError::BadPublicKey(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        };
        return Ok(message_response(status, &e.to_string()));
    }
    let tokens = leak_report::parse(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut ours = Vec::with_capacity(tokens.len());
    for token in &tokens {
        ours.push(state.keys.revoke_leaked(&token.token).await?.is_ours());
    }
    let feedback: Vec<Feedback> = tokens
        .iter()
        .zip(ours)
        .map(|(token, ours)| Feedback::of(token, ours))
        .collect();
    Ok(Json(feedback).into_response())
}
