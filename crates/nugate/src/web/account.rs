//! The account page (Account Details, with its API keys section as the seed describes, and the
//! organisations the user belongs to), changing the address, and deleting the account.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::signin::clear_session;
use super::signup::TokenQuery;
use super::{message, render, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor};
use crate::db::users::User;
use crate::model::account::OrgRole;
use crate::model::key::{days, KeyKind};
use crate::state::AppState;
use crate::users::UserError;

#[derive(Template)]
#[template(path = "account.html")]
struct Account {
    page: Page,
    keys: KeysSummary,
    /// The organisations the user belongs to, with their role, by name.
    orgs: Vec<(String, OrgRole)>,
}

/// The API keys section of the account page.
pub struct KeysSummary {
    /// How many keys the account has (legacy keys included).
    pub count: usize,
    /// Active keys that expire within the warning period: (name, "3 days").
    pub expiring: Vec<(String, String)>,
}

/// Renders the account page with a notice or an error (then with status 400).
pub async fn account_with(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let now = crate::db::now();
    let keys = state.keys.list(user).await?;
    let expiring = keys
        .iter()
        .filter(|k| k.kind == KeyKind::Scoped)
        .filter_map(|k| {
            let left = k.status(now).expiring_soon()?;
            Some((k.name().to_string(), days(left)))
        })
        .collect();
    let orgs = state
        .orgs
        .of_user(user)
        .await?
        .into_iter()
        .map(|(org, role)| (org.username, role))
        .collect();
    let mut page = visitor.page();
    page.notice = notice;
    let failed = error.is_some();
    page.error = error;
    let response = render(Account {
        page,
        keys: KeysSummary {
            count: keys.len(),
            expiring,
        },
        orgs,
    });
    Ok(if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    })
}

/// `GET /account`.
pub async fn account_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
) -> PageResult {
    account_with(&state, &visitor, &user, None, None).await
}

#[derive(Deserialize)]
pub struct EmailForm {
    email: String,
    password: String,
}

/// `POST /account/email`: the new address takes effect once the link sent to it is followed.
pub async fn change_email(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<EmailForm>,
) -> PageResult {
    let (notice, error) = match state
        .users
        .request_email_change(&user, &form.password, &form.email)
        .await
    {
        Ok(()) => (
            Some(format!(
                "We sent a confirmation link to {}. Your address changes when you follow it.",
                form.email.trim()
            )),
            None,
        ),
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(e) => (None, Some(e.to_string())),
    };
    account_with(&state, &visitor, &user, notice, error).await
}

/// `GET /account/confirm-email?token=…`.
pub async fn confirm_new_email(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> PageResult {
    Ok(match state.users.confirm_email_change(&q.token).await {
        Ok(Some(new_email)) => message(
            &visitor,
            "Email changed",
            &format!("Your email address is now {new_email}."),
        ),
        Ok(None) => with_status(
            message(
                &visitor,
                "Link expired",
                "This link is invalid, used or expired.",
            ),
            StatusCode::BAD_REQUEST,
        ),
        Err(UserError::Taken) => with_status(
            message(
                &visitor,
                "Address in use",
                "Another account uses that address now.",
            ),
            StatusCode::CONFLICT,
        ),
        Err(e) => return Err(e.into()),
    })
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
) -> PageResult {
    match state
        .users
        .delete_account(&user, &form.password, &form.confirm_username)
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(e) => return account_with(&state, &visitor, &user, None, Some(e.to_string())).await,
    }
    let anonymous = Visitor {
        session: None,
        csrf: String::new(),
    };
    Ok(clear_session(
        &state,
        message(
            &anonymous,
            "Account deleted",
            "Your account, its API keys and its sessions were deleted.",
        ),
    ))
}
