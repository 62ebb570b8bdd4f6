//! Sign-up and the address confirmation that must follow before keys can be created.

use askama::Template;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::account::account_with;
use super::signin::Empty;
use super::{message, render, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor};
use crate::config::SignupMode;
use crate::state::AppState;
use crate::users::UserError;

#[derive(Template)]
#[template(path = "register.html")]
struct Register {
    page: Page,
    username: String,
    email: String,
    /// Typed passwords, kept when the form comes back for another reason than the password.
    password: String,
    confirm_password: String,
    closed: bool,
    /// The field the error is about (`username`, `email`, `password`, `confirm_password`), marked
    /// `aria-invalid` with the message next to it.
    invalid_field: &'static str,
}

impl Register {
    /// The message next to `field`, when the error is about it.
    fn field_error(&self, field: &str) -> Option<&str> {
        (self.invalid_field == field)
            .then_some(self.page.error.as_deref())
            .flatten()
    }
}

/// The register form's field an account error is about ("" when none).
fn field_of(error: &UserError) -> &'static str {
    match error {
        UserError::InvalidUsername => "username",
        UserError::InvalidEmail(_) => "email",
        UserError::WeakPassword | UserError::CommonPassword | UserError::PasswordIsName => {
            "password"
        }
        _ => "",
    }
}

/// `GET /register`.
pub async fn register_page(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    Ok(render(Register {
        page: visitor.page(),
        username: String::new(),
        email: String::new(),
        password: String::new(),
        confirm_password: String::new(),
        closed: state.config.signup == SignupMode::Closed,
        invalid_field: "",
    }))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    username: String,
    email: String,
    password: String,
    confirm_password: String,
}

/// `POST /register`: one answer whether or not the name or address is taken ("check your email"), and
/// nobody is signed in: the account exists once its address is confirmed, and then its owner signs in.
pub async fn register(
    State(state): State<AppState>,
    visitor: Visitor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    VerifiedForm(form): VerifiedForm<RegisterForm>,
) -> PageResult {
    let closed = state.config.signup == SignupMode::Closed;
    let again = |error: String, field: &'static str, status: StatusCode| {
        let mut page = visitor.page();
        page.error = Some(error);
        // A password the error is about is typed again; any other field keeps what was typed.
        let keep_passwords = field != "password";
        Ok(with_status(
            render(Register {
                page,
                username: form.username.clone(),
                email: form.email.clone(),
                password: if keep_passwords {
                    form.password.clone()
                } else {
                    String::new()
                },
                confirm_password: if keep_passwords {
                    form.confirm_password.clone()
                } else {
                    String::new()
                },
                closed,
                invalid_field: field,
            }),
            status,
        ))
    };
    if closed {
        return again(
            "Sign-up is closed on this server; ask an administrator for an account.".into(),
            "",
            StatusCode::BAD_REQUEST,
        );
    }
    if form.password != form.confirm_password {
        return again(
            "The passwords do not match.".into(),
            "confirm_password",
            StatusCode::BAD_REQUEST,
        );
    }
    match state
        .users
        .register(&form.username, &form.email, &form.password, Some(peer.ip()))
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(e @ UserError::TooManyAttempts { .. }) => {
            return again(e.to_string(), "", StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => return again(e.to_string(), field_of(&e), StatusCode::BAD_REQUEST),
    }
    Ok(message(
        &visitor,
        "Check your email",
        &format!(
            "We sent a message to {}. Follow the link in it to confirm your address, then sign in. \
             The link works for two days.",
            form.email.trim()
        ),
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
                "Thank you, {}: your email address is confirmed. Sign in to create API keys.",
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
