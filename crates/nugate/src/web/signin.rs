//! Signing in (throttled per account and per address, a fresh session id every time) and out.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    render, safe_return_url, with_cookie, with_status, Page, PageResult, VerifiedForm, Visitor,
    SESSION_COOKIE,
};
use crate::state::AppState;
use crate::users::{wait_words, SignIn as SignInOutcome};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    page: Page,
    return_url: String,
    login: String,
}

#[derive(Deserialize)]
pub struct ReturnQuery {
    #[serde(rename = "returnUrl")]
    return_url: Option<String>,
}

/// `GET /signin`.
pub async fn signin_page(visitor: Visitor, Query(q): Query<ReturnQuery>) -> Response {
    render(SignIn {
        page: visitor.page(),
        return_url: safe_return_url(q.return_url.as_deref()),
        login: String::new(),
    })
}

#[derive(Deserialize)]
pub struct SignInForm {
    login: String,
    password: String,
    #[serde(default)]
    return_url: String,
}

/// `POST /signin`: throttled per account and per IP; a fresh session id on success.
pub async fn signin(
    State(state): State<AppState>,
    visitor: Visitor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    VerifiedForm(form): VerifiedForm<SignInForm>,
) -> PageResult {
    let again = |error: &str, status: StatusCode| {
        let mut page = visitor.page();
        page.error = Some(error.to_string());
        Ok(with_status(
            render(SignIn {
                page,
                return_url: safe_return_url(Some(&form.return_url)),
                login: form.login.clone(),
            }),
            status,
        ))
    };
    let user = match state
        .users
        .sign_in(&form.login, &form.password, Some(peer.ip()))
        .await?
    {
        SignInOutcome::Welcome(user) => user,
        SignInOutcome::Refused => {
            return again(
                "The username or email address, or the password, is incorrect.",
                StatusCode::UNAUTHORIZED,
            )
        }
        SignInOutcome::Locked => {
            return again(
                "This account is locked. Contact the feed administrator.",
                StatusCode::FORBIDDEN,
            )
        }
        SignInOutcome::Throttled { secs } => {
            return again(
                &format!(
                    "Too many failed sign-in attempts. Wait {} and try again.",
                    wait_words(secs)
                ),
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
    };
    if let Some(old) = &visitor.session {
        state.sessions.delete_hash(&old.id_hash).await?;
    }
    let token = state.sessions.create(&user).await?;
    let response = Redirect::to(&safe_return_url(Some(&form.return_url))).into_response();
    Ok(with_cookie(&state, response, SESSION_COOKIE, &token, None))
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /signout`.
pub async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    if let Some(session) = &visitor.session {
        state.sessions.delete_hash(&session.id_hash).await?;
    }
    Ok(clear_session(&state, Redirect::to("/").into_response()))
}

/// Expires the session cookie on `response`.
pub fn clear_session(state: &AppState, response: Response) -> Response {
    with_cookie(state, response, SESSION_COOKIE, "", Some(0))
}
