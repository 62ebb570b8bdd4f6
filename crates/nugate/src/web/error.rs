//! The pages' one error path: every service error converts into [`WebError`] with `From`, and a
//! [`WebError`] renders as an HTML page with the status and a message: a database or storage outage is a
//! 503 that says so, never a 500, an empty page or a 404.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::templates::Message;
use super::{render, Page};
use crate::auth::keys::KeyError;
use crate::error::ApiError;
use crate::orgs::OrgError;
use crate::users::UserError;

/// A page request that failed.
#[derive(Debug)]
pub struct WebError(pub ApiError);

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> WebError {
        WebError(error)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(error: sqlx::Error) -> WebError {
        WebError(error.into())
    }
}

impl From<KeyError> for WebError {
    fn from(error: KeyError) -> WebError {
        WebError(error.into())
    }
}

impl From<UserError> for WebError {
    fn from(error: UserError) -> WebError {
        WebError(error.into())
    }
}

impl From<OrgError> for WebError {
    fn from(error: OrgError) -> WebError {
        WebError(error.into())
    }
}

impl From<crate::auth::trusted::TrustError> for WebError {
    fn from(error: crate::auth::trusted::TrustError) -> WebError {
        WebError(error.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(error: askama::Error) -> WebError {
        WebError(ApiError::Internal(error.into()))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let WebError(error) = self;
        if let ApiError::Internal(err) = &error {
            tracing::error!(error = format!("{err:#}"), "page request failed");
        }
        let status = error.status();
        let title = match status {
            StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            StatusCode::INSUFFICIENT_STORAGE => "Out of disk space",
            s if s.is_server_error() => "Something went wrong",
            _ => "Request refused",
        };
        let mut response = render(Message {
            page: Page::default(),
            title: title.into(),
            message: error.to_string(),
        });
        *response.status_mut() = status;
        response
    }
}
