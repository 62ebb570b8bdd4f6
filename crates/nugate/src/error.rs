//! The protocol's error responses: every failure carries a human-readable message in the body **and** as
//! the HTTP reason phrase, because nuget.exe prints only the reason phrase.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// NuGet.org's exact wording for a key that cannot do what was asked.
pub const INVALID_KEY_MESSAGE: &str =
    "The specified API key is invalid, has expired, or does not have permission to access the specified package.";

/// A failed request, mapped to a status code and message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No `X-NuGet-ApiKey` header; `realm` is our host for `WWW-Authenticate`.
    #[error("An API key must be provided in the 'X-NuGet-ApiKey' header to use this service.")]
    MissingKey { realm: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("The package file exceeds the size limit of {limit} bytes. Please try again.")]
    PayloadTooLarge { limit: u64 },
    #[error("The request took too long and was cancelled.")]
    Timeout,
    #[error("Too many invalid API keys were presented. Wait 15 minutes before trying again.")]
    TooManyAttempts,
    #[error("The service is temporarily unavailable: {0}. Please try again.")]
    Unavailable(String),
    #[error("An internal error occurred. Please try again.")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// The key-refusal answer with NuGet.org's message.
    pub fn invalid_key() -> ApiError {
        ApiError::Forbidden(INVALID_KEY_MESSAGE.to_string())
    }

    /// The status code for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MissingKey { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable("the database cannot be reached".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError::Internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(err) = &self {
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let message = self.to_string();
        let mut response = message_response(self.status(), &message);
        if let ApiError::MissingKey { realm } = &self {
            if let Ok(value) = HeaderValue::from_str(&format!("ApiKey realm=\"{realm}\"")) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A plain-text response whose reason phrase is the message, for errors and for successes that clients print.
pub fn message_response(status: StatusCode, message: &str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_string(),
    )
        .into_response();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(reason_phrase(message).into_bytes()) {
        response.extensions_mut().insert(reason);
    }
    response
}

/// Reason phrases allow only visible ASCII, spaces and tabs: anything else becomes '?', and the phrase is
/// cut short so a huge message cannot blow up the status line.
fn reason_phrase(message: &str) -> String {
    message
        .chars()
        .take(400)
        .map(|c| {
            if c == ' ' || c == '\t' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_are_always_valid() {
        for msg in [
            "plain",
            "line\r\nbreak",
            "ünïcode",
            "\u{0}",
            &"x".repeat(5000),
        ] {
            let phrase = reason_phrase(msg);
            assert!(hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()).is_ok());
        }
    }
}
