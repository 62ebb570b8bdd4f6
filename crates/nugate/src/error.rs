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
    /// A private feed's read without (usable) credentials: 401 with a Basic challenge, which is what
    /// makes NuGet clients send the credentials they have for the source.
    #[error("{message}")]
    ReadCredentials { realm: String, message: String },
    /// A bearer token (a CI identity token) that was refused; the message says why.
    #[error("{0}")]
    BearerRefused(String),
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
    #[error("{0}")]
    TooManyRequests(String),
    #[error("The service is temporarily unavailable: {0}. Please try again.")]
    Unavailable(String),
    /// An upstream feed failed to give what the client asked for through this feed: 502, naming it.
    #[error("{0}")]
    Upstream(String),
    /// The data folder (or the database's disk) is full: 507, so clients print why the push failed.
    #[error("The server is out of disk space, so the package was not stored. Please try again once an administrator has freed space.")]
    InsufficientStorage,
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
            ApiError::MissingKey { .. }
            | ApiError::ReadCredentials { .. }
            | ApiError::BearerRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyAttempts | ApiError::TooManyRequests(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A failed file or storage operation: 507 when the disk is full, otherwise an internal error.
    pub fn from_io(context: &str, err: impl Into<anyhow::Error>) -> ApiError {
        let err = err.into();
        if is_disk_full(err.as_ref()) {
            tracing::error!(error = format!("{err:#}"), "{context}: out of disk space");
            ApiError::InsufficientStorage
        } else {
            ApiError::Internal(err.context(context.to_string()))
        }
    }
}

/// Whether an error, or anything it wraps, says a disk is full: `ENOSPC`/`EDQUOT` from a file write
/// (however deep object_store or an `io::Error` wraps it), SQLite's "database or disk is full", or
/// PostgreSQL's `disk_full`.
pub fn is_disk_full(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
            // An `io::Error` wrapping another error reports that error's source, not the error itself.
            if io.get_ref().is_some_and(|inner| is_disk_full(inner)) {
                return true;
            }
        }
        if let Some(sqlx::Error::Database(db)) = err.downcast_ref::<sqlx::Error>() {
            if db.message().contains("database or disk is full")
                || db.code().as_deref() == Some("53100")
            {
                return true;
            }
        }
        next = err.source();
    }
    false
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable("the database cannot be reached".into())
            }
            // SQLite's busy timeout ran out behind a long writer: the database is there, just busy.
            sqlx::Error::Database(db) if db.message().contains("database is locked") => {
                ApiError::Unavailable("the database is busy".into())
            }
            other if is_disk_full(&other) => {
                tracing::error!(error = %other, "database write failed: out of disk space");
                ApiError::InsufficientStorage
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
        let challenge = match &self {
            ApiError::MissingKey { realm } => Some(format!("ApiKey realm=\"{realm}\"")),
            ApiError::ReadCredentials { realm, .. } => Some(format!("Basic realm=\"{realm}\"")),
            ApiError::BearerRefused(_) => Some("Bearer".to_string()),
            _ => None,
        };
        if let Some(Ok(value)) = challenge.map(|c| HeaderValue::from_str(&c)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
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
    fn disk_full_is_found_however_deeply_wrapped() {
        let enospc = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert!(is_disk_full(&enospc()));
        let wrapped = std::io::Error::other(anyhow::Error::from(enospc()).context("writing"));
        assert!(is_disk_full(&wrapped));
        let chained = anyhow::Error::from(enospc()).context("staging the package");
        assert!(is_disk_full(chained.as_ref()));
        assert!(!is_disk_full(&std::io::Error::from(
            std::io::ErrorKind::PermissionDenied
        )));
        assert!(matches!(
            ApiError::from_io("spooling", enospc()),
            ApiError::InsufficientStorage
        ));
        assert_eq!(
            ApiError::InsufficientStorage.status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
    }

    /// A database error with SQLite's wording, as the driver reports it.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct FakeDbError(&'static str);

    impl sqlx::error::DatabaseError for FakeDbError {
        fn message(&self) -> &str {
            self.0
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn a_full_or_busy_database_gets_a_clear_status() {
        let db = |m| ApiError::from(sqlx::Error::Database(Box::new(FakeDbError(m))));
        assert!(matches!(
            db("database or disk is full"),
            ApiError::InsufficientStorage
        ));
        assert_eq!(
            db("database is locked").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(matches!(db("no such table: x"), ApiError::Internal(_)));
    }

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
