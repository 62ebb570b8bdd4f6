//! Sign-in, sign-up, email confirmation, password reset and account settings.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::templates::Message;
use super::{
    render, safe_return_url, set_cookie, Page, SignedIn, VerifiedForm, Visitor, SESSION_COOKIE,
};
use crate::app::{AppState, BaseUrl};
use crate::config::SignupMode;
use crate::mail;
use crate::users::{token_purpose, valid_email, UserError};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    page: Page,
    return_url: String,
    login: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct Register {
    page: Page,
    username: String,
    email: String,
    closed: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    page: Page,
}

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

fn message(visitor: &Visitor, title: &str, text: &str) -> Response {
    render(Message {
        page: visitor.page(),
        title: title.into(),
        message: text.into(),
    })
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

fn server_error(e: impl Into<anyhow::Error>) -> Response {
    crate::error::ApiError::Internal(e.into()).into_response()
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
) -> Response {
    let subjects = vec![
        format!("user:{}", form.login.trim().to_lowercase()),
        format!("ip:{}", peer.ip()),
    ];
    let again = |error: &str| {
        let mut page = visitor.page();
        page.error = Some(error.to_string());
        render(SignIn {
            page,
            return_url: safe_return_url(Some(&form.return_url)),
            login: form.login.clone(),
        })
    };
    match state.sessions.throttled(&subjects).await {
        Ok(true) => {
            return with_status(
                again("Too many failed sign-in attempts. Wait 15 minutes and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Ok(false) => {}
        Err(e) => return server_error(e),
    }
    let user = match state.users.authenticate(&form.login, &form.password).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            if let Err(e) = state.sessions.record_failure(&subjects).await {
                return server_error(e);
            }
            return with_status(
                again("The username or email address, or the password, is incorrect."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return server_error(e),
    };
    if user.locked {
        return with_status(
            again("This account is locked. Contact the feed administrator."),
            StatusCode::FORBIDDEN,
        );
    }
    let _ = state.sessions.clear_failures(&subjects[0]).await;
    if let Some(old) = &visitor.session {
        let _ = state.sessions.delete_hash(&old.id_hash).await;
    }
    let token = match state.sessions.create(&user).await {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let mut response = Redirect::to(&safe_return_url(Some(&form.return_url))).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state, SESSION_COOKIE, &token, None, "/")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /signout`.
pub async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    _form: VerifiedForm<Empty>,
) -> Response {
    if let Some(session) = &visitor.session {
        let _ = state.sessions.delete_hash(&session.id_hash).await;
    }
    clear_session(&state, Redirect::to("/").into_response())
}

fn clear_session(state: &AppState, mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&set_cookie(state, SESSION_COOKIE, "", Some(0), "/")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /register`.
pub async fn register_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    render(Register {
        page: visitor.page(),
        username: String::new(),
        email: String::new(),
        closed: state.config.signup == SignupMode::Closed,
    })
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
    BaseUrl(base): BaseUrl,
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<RegisterForm>,
) -> Response {
    let closed = state.config.signup == SignupMode::Closed;
    let again = |error: String| {
        let mut page = visitor.page();
        page.error = Some(error);
        with_status(
            render(Register {
                page,
                username: form.username.clone(),
                email: form.email.clone(),
                closed,
            }),
            StatusCode::BAD_REQUEST,
        )
    };
    if closed {
        return again(
            "Sign-up is closed on this server; ask an administrator for an account.".into(),
        );
    }
    if form.password != form.confirm_password {
        return again("The passwords do not match.".into());
    }
    let (user, token) = match state
        .users
        .register(&form.username, &form.email, &form.password)
        .await
    {
        Ok(created) => created,
        Err(e @ (UserError::Database(_) | UserError::Hashing(_))) => return server_error(e),
        Err(e) => return again(e.to_string()),
    };
    let link = format!("{base}/account/confirm?token={token}");
    let email = mail::messages::confirm_account(&state.mail_context(&base), &user, &link);
    if let Err(e) = mail::enqueue(&state.db, &email).await {
        return server_error(e);
    }
    let session = match state.sessions.create(&user).await {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let response = render(Message {
        page: Page {
            user: Some(user.clone()),
            csrf: String::new(),
            notice: None,
            error: None,
        },
        title: "Check your email".into(),
        message: format!(
            "Welcome, {}! We sent a confirmation link to {}. Follow it to start creating API keys.",
            user.username, user.email
        ),
    });
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state, SESSION_COOKIE, &session, None, "/")) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /account/confirm?token=…`.
pub async fn confirm(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> Response {
    match state.users.consume_token(token_purpose::CONFIRM, &q.token).await {
        Ok(Some((user, _))) => match state.users.confirm_email(&user, None).await {
            Ok(()) => message(
                &visitor,
                "Email confirmed",
                &format!("Thank you, {}: your email address is confirmed. You can now create API keys.", user.username),
            ),
            Err(e) => server_error(e),
        },
        Ok(None) => with_status(
            message(&visitor, "Link expired", "This confirmation link is invalid, used or expired. Sign in and ask for a new one on your account page."),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => server_error(e),
    }
}

/// `POST /account/resend-confirmation`.
pub async fn resend_confirmation(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    SignedIn { visitor, user }: SignedIn,
    _form: VerifiedForm<Empty>,
) -> Response {
    if user.email_confirmed {
        return Redirect::to("/account").into_response();
    }
    let token = match state
        .users
        .issue_token(&user, token_purpose::CONFIRM, None, 2 * 86_400)
        .await
    {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let link = format!("{base}/account/confirm?token={token}");
    if let Err(e) = mail::enqueue(
        &state.db,
        &mail::messages::confirm_account(&state.mail_context(&base), &user, &link),
    )
    .await
    {
        return server_error(e);
    }
    account_with(
        &visitor,
        Some(format!(
            "We sent a new confirmation link to {}.",
            user.email
        )),
        None,
    )
}

/// `GET /account/forgot-password`.
pub async fn forgot_page(visitor: Visitor) -> Response {
    render(Forgot {
        page: visitor.page(),
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// `POST /account/forgot-password`: the same answer whether or not the address is known.
pub async fn forgot(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<ForgotForm>,
) -> Response {
    if let Ok(Some(user)) = crate::db::users::by_email(state.db.pool(), form.email.trim()).await {
        if !user.locked {
            if let Ok(token) = state
                .users
                .issue_token(&user, token_purpose::RESET, None, 3600)
                .await
            {
                let link = format!("{base}/account/reset-password?token={token}");
                let email =
                    mail::messages::password_reset(&state.mail_context(&base), &user, &link);
                if let Err(e) = mail::enqueue(&state.db, &email).await {
                    return server_error(e);
                }
            }
        }
    }
    message(
        &visitor,
        "Check your email",
        "If an account uses that address, we sent it a link to choose a new password. The link works for one hour.",
    )
}

/// `GET /account/reset-password?token=…`.
pub async fn reset_page(visitor: Visitor, Query(q): Query<TokenQuery>) -> Response {
    render(Reset {
        page: visitor.page(),
        token: q.token,
    })
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
) -> Response {
    let again = |error: &str| {
        let mut page = visitor.page();
        page.error = Some(error.to_string());
        with_status(
            render(Reset {
                page,
                token: form.token.clone(),
            }),
            StatusCode::BAD_REQUEST,
        )
    };
    if form.password != form.confirm_password {
        return again("The passwords do not match.");
    }
    if form.password.chars().count() < 8 {
        return again("Passwords must be at least 8 characters.");
    }
    match state
        .users
        .consume_token(token_purpose::RESET, &form.token)
        .await
    {
        Ok(Some((user, _))) => {
            if let Err(e) = state.users.set_password(&user, &form.password).await {
                return server_error(e);
            }
            let _ = state.sessions.delete_others(user.id, None).await;
            clear_session(
                &state,
                message(
                    &visitor,
                    "Password changed",
                    "Your password was changed. Sign in with the new one.",
                ),
            )
        }
        Ok(None) => again("This reset link is invalid, used or expired. Ask for a new one."),
        Err(e) => server_error(e),
    }
}

fn account_with(visitor: &Visitor, notice: Option<String>, error: Option<String>) -> Response {
    let mut page = visitor.page();
    page.notice = notice;
    page.error = error.clone();
    let response = render(Account { page });
    if error.is_some() {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    }
}

/// `GET /account`.
pub async fn account_page(SignedIn { visitor, .. }: SignedIn) -> Response {
    account_with(&visitor, None, None)
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
) -> Response {
    if form.new_password != form.confirm_password {
        return account_with(
            &visitor,
            None,
            Some("The new passwords do not match.".into()),
        );
    }
    match state
        .users
        .authenticate(&user.username, &form.current_password)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => {
            return account_with(
                &visitor,
                None,
                Some("The current password is incorrect.".into()),
            )
        }
        Err(e) => return server_error(e),
    }
    if let Err(e) = state.users.set_password(&user, &form.new_password).await {
        return match e {
            UserError::WeakPassword => account_with(&visitor, None, Some(e.to_string())),
            other => server_error(other),
        };
    }
    let keep = visitor.session.as_ref().map(|s| s.id_hash.as_str());
    let _ = state.sessions.delete_others(user.id, keep).await;
    account_with(
        &visitor,
        Some("Your password was changed; other sessions were signed out.".into()),
        None,
    )
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
    password: String,
}

/// `POST /account/email`: the new address takes effect once the link sent to it is followed.
pub async fn change_email(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<EmailForm>,
) -> Response {
    let new_email = form.email.trim();
    if !valid_email(new_email) {
        return account_with(
            &visitor,
            None,
            Some(format!("'{new_email}' is not a valid email address.")),
        );
    }
    match state
        .users
        .authenticate(&user.username, &form.password)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return account_with(&visitor, None, Some("The password is incorrect.".into())),
        Err(e) => return server_error(e),
    }
    let token = match state
        .users
        .issue_token(
            &user,
            token_purpose::CHANGE_EMAIL,
            Some(new_email),
            2 * 86_400,
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let link = format!("{base}/account/confirm-email?token={token}");
    let email =
        mail::messages::confirm_new_email(&state.mail_context(&base), &user, new_email, &link);
    if let Err(e) = mail::enqueue(&state.db, &email).await {
        return server_error(e);
    }
    account_with(
        &visitor,
        Some(format!(
            "We sent a confirmation link to {new_email}. Your address changes when you follow it."
        )),
        None,
    )
}

/// `GET /account/confirm-email?token=…`.
pub async fn confirm_new_email(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> Response {
    match state
        .users
        .consume_token(token_purpose::CHANGE_EMAIL, &q.token)
        .await
    {
        Ok(Some((user, Some(new_email)))) => {
            match state.users.confirm_email(&user, Some(&new_email)).await {
                Ok(()) => message(
                    &visitor,
                    "Email changed",
                    &format!("Your email address is now {new_email}."),
                ),
                Err(UserError::Taken) => with_status(
                    message(
                        &visitor,
                        "Address in use",
                        "Another account uses that address now.",
                    ),
                    StatusCode::CONFLICT,
                ),
                Err(e) => server_error(e),
            }
        }
        Ok(_) => with_status(
            message(
                &visitor,
                "Link expired",
                "This link is invalid, used or expired.",
            ),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => server_error(e),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    password: String,
    confirm_username: String,
}

/// `POST /account/delete`: keys and sessions go; packages stay (orphaned when solely owned).
pub async fn delete_account(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<DeleteForm>,
) -> Response {
    if form.confirm_username.trim() != user.username {
        return account_with(
            &visitor,
            None,
            Some("Type your username to confirm the deletion.".into()),
        );
    }
    match state
        .users
        .authenticate(&user.username, &form.password)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return account_with(&visitor, None, Some("The password is incorrect.".into())),
        Err(e) => return server_error(e),
    }
    if let Err(e) = state.users.delete(&user).await {
        return server_error(e);
    }
    let anonymous = Visitor {
        session: None,
        csrf: String::new(),
    };
    clear_session(
        &state,
        message(
            &anonymous,
            "Account deleted",
            "Your account, its API keys and its sessions were deleted.",
        ),
    )
}
