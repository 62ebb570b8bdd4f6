//! Passwords: forgotten (an emailed reset link) and changed from the account page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::account::account_with;
use super::signin::clear_session;
use super::signup::TokenQuery;
use super::{message, render, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor};
use crate::state::AppState;
use crate::users::UserError;

#[derive(Template)]
#[template(path = "forgot.html")]
struct Forgot {
    page: Page,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct Reset {
    page: Page,
    token: String,
}

/// `GET /account/forgot-password`.
pub async fn forgot_page(visitor: Visitor) -> PageResult {
    Ok(render(Forgot {
        page: visitor.page(),
    }))
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /account/forgot-password`: the same answer whether or not the address is known.
pub async fn forgot(
    State(state): State<AppState>,
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<ForgotForm>,
) -> PageResult {
    state.users.request_password_reset(&form.email).await?;
    Ok(message(
        &visitor,
        "Check your email",
        "If an account uses that address, we sent it a link to choose a new password. The link works for one hour.",
    ))
}

/// `GET /account/reset-password?token=…`.
pub async fn reset_page(visitor: Visitor, Query(q): Query<TokenQuery>) -> PageResult {
    Ok(render(Reset {
        page: visitor.page(),
        token: q.token,
    }))
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: String,
    confirm_password: String,
}

/// `POST /account/reset-password`: sets the password and ends every session of the account.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<ResetForm>,
) -> PageResult {
    let again = |error: &str| {
        let mut page = visitor.page();
        page.error = Some(error.to_string());
        Ok(with_status(
            render(Reset {
                page,
                token: form.token.clone(),
            }),
            StatusCode::BAD_REQUEST,
        ))
    };
    if form.password != form.confirm_password {
        return again("The passwords do not match.");
    }
    match state
        .users
        .reset_password(&form.token, &form.password)
        .await
    {
        Ok(Some(_)) => Ok(clear_session(
            &state,
            message(
                &visitor,
                "Password changed",
                "Your password was changed. Sign in with the new one.",
            ),
        )),
        Ok(None) => again("This reset link is invalid, used or expired. Ask for a new one."),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => again(&e.to_string()),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /account/password`: other sessions end.
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<PasswordForm>,
) -> PageResult {
    let refused = |text: String| account_with(&state, &visitor, &user, None, Some(text));
    if form.new_password != form.confirm_password {
        return refused("The new passwords do not match.".into()).await;
    }
    let keep = visitor.session.as_ref().map(|s| s.id_hash.as_str());
    match state
        .users
        .change_password(&user, &form.current_password, &form.new_password, keep)
        .await
    {
        Ok(()) => {
            account_with(
                &state,
                &visitor,
                &user,
                Some("Your password was changed; other sessions were signed out.".into()),
                None,
            )
            .await
        }
        Err(UserError::WrongPassword) => refused("The current password is incorrect.".into()).await,
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => refused(e.to_string()).await,
    }
}
