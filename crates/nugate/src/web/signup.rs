//! Sign-up and the address confirmation that must follow before keys can be created.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::account::account_with;
use super::signin::Empty;
use super::{
    message, render, with_cookie, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor,
    SESSION_COOKIE,
};
use crate::config::SignupMode;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "register.html")]
struct Register {
    page: Page,
    username: String,
    email: String,
    closed: bool,
}

/// `GET /register`.
pub async fn register_page(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    Ok(render(Register {
        page: visitor.page(),
        username: String::new(),
        email: String::new(),
        closed: state.config.signup == SignupMode::Closed,
    }))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    username: String,
    email: String,
    password: String,
    confirm_password: String,
}

/// `POST /register`: the user is signed in at once but must confirm the address before creating keys.
pub async fn register(
    State(state): State<AppState>,
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<RegisterForm>,
) -> PageResult {
    let closed = state.config.signup == SignupMode::Closed;
    let again = |error: String| {
        let mut page = visitor.page();
        page.error = Some(error);
        Ok(with_status(
            render(Register {
                page,
                username: form.username.clone(),
                email: form.email.clone(),
                closed,
            }),
            StatusCode::BAD_REQUEST,
        ))
    };
    if closed {
        return again(
            "Sign-up is closed on this server; ask an administrator for an account.".into(),
        );
    }
    if form.password != form.confirm_password {
        return again("The passwords do not match.".into());
    }
    let user = match state
        .users
        .register(&form.username, &form.email, &form.password)
        .await
    {
        Ok(user) => user,
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(e) => return again(e.to_string()),
    };
    let session = state.sessions.create(&user).await?;
    let response = render(super::templates::Message {
        page: Page {
            user: Some(user.clone()),
            ..Page::default()
        },
        title: "Check your email".into(),
        message: format!(
            "Welcome, {}! We sent a confirmation link to {}. Follow it to start creating API keys.",
            user.username, user.email
        ),
    });
    Ok(with_cookie(
        &state,
        response,
        SESSION_COOKIE,
        &session,
        None,
    ))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    pub token: String,
}

/// `GET /account/confirm?token=…`.
pub async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    Ok(match state.users.confirm_account(&q.token).await? {
        Some(user) => message(
            &visitor,
            "Email confirmed",
            &format!(
                "Thank you, {}: your email address is confirmed. You can now create API keys.",
                user.username
            ),
        ),
        None => with_status(
            message(
                &visitor,
                "Link expired",
                "This confirmation link is invalid, used or expired. Sign in and ask for a new one on your account page.",
            ),
            StatusCode::BAD_REQUEST,
        ),
    })
}

/// `POST /account/resend-confirmation`.
pub async fn resend_confirmation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    if user.email_confirmed {
        return Ok(Redirect::to("/account").into_response());
    }
    state.users.send_confirmation(&user).await?;
    account_with(
        &state,
        &visitor,
        &user,
        Some(format!(
            "We sent a new confirmation link to {}.",
            user.email
        )),
        None,
    )
    .await
}
