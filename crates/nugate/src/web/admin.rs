//! Administration: users (create, lock, unlock, make admin), packages (owners, unlist), reserved ID
//! prefixes, settings.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::{not_found, render, with_status, Admin, Page, PageResult, VerifiedForm, Visitor};
use crate::db::users::User;
use crate::error::ApiError;
use crate::packages::AdminPackage;
use crate::state::AppState;
use crate::users::AdminAction;

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: Page,
    users: Vec<User>,
    packages: Vec<AdminPackage>,
    prefixes: Vec<PrefixView>,
    settings: Vec<(&'static str, String)>,
}

/// One reserved prefix as the page lists it.
pub struct PrefixView {
    pub pattern: String,
    pub owner: String,
    pub reserved: String,
}

async fn page(state: &AppState, visitor: &Visitor, error: Option<String>) -> PageResult {
    let users = state.users.list().await?;
    let packages = state.packages.admin_overview().await?;
    let prefixes = state
        .packages
        .prefixes()
        .await?
        .into_iter()
        .map(|p| PrefixView {
            reserved: chrono::DateTime::from_timestamp(p.created_at, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            pattern: p.pattern,
            owner: p.owner_name,
        })
        .collect();
    let c = &state.config;
    let settings = vec![
        ("listen", c.listen.to_string()),
        ("public_url", c.base_url()),
        ("data_dir", c.data_dir.display().to_string()),
        ("database_url", crate::db::redact_url(&c.database_url())),
        ("max_package_size", c.max_package_size.to_string()),
        ("max_key_lifetime_days", c.max_key_lifetime_days.to_string()),
        ("signup", format!("{:?}", c.signup).to_lowercase()),
        (
            "org_creation",
            format!("{:?}", c.org_creation).to_lowercase(),
        ),
        (
            "smtp.host",
            c.smtp
                .host
                .clone()
                .unwrap_or_else(|| "(none: mail is written to data_dir/mail)".into()),
        ),
        ("smtp.from", c.smtp.from.clone()),
        ("trusted_proxies", format!("{:?}", c.trusted_proxies)),
        ("request_timeout_secs", c.request_timeout_secs.to_string()),
        (
            "header_read_timeout_secs",
            c.header_read_timeout_secs.to_string(),
        ),
        (
            "max_connections_per_ip",
            c.max_connections_per_ip.to_string(),
        ),
    ];
    let mut p = visitor.page();
    let failed = error.is_some();
    p.error = error;
    let response = render(AdminPage {
        page: p,
        users,
        packages,
        prefixes,
        settings,
    });
    Ok(if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    })
}

/// `GET /admin`.
pub async fn overview(State(state): State<AppState>, Admin { visitor, .. }: Admin) -> PageResult {
    page(&state, &visitor, None).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    admin: Option<String>,
}

/// `POST /admin/users`: users made by an administrator count as confirmed.
pub async fn create_user(
    State(state): State<AppState>,
    Admin { visitor, .. }: Admin,
    VerifiedForm(form): VerifiedForm<NewUserForm>,
) -> PageResult {
    match state
        .users
        .create(
            &form.username,
            &form.email,
            &form.password,
            form.admin.is_some(),
            true,
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => page(&state, &visitor, Some(e.to_string())).await,
    }
}

#[derive(Deserialize)]
pub struct UpdateUserForm {
    action: String,
}

/// `POST /admin/users/{username}`: lock, unlock, make or unmake admin.
pub async fn update_user(
    State(state): State<AppState>,
    Admin { visitor, user: me }: Admin,
    Path(username): Path<String>,
    VerifiedForm(form): VerifiedForm<UpdateUserForm>,
) -> PageResult {
    let Some(user) = state.users.find(&username).await? else {
        return Ok(not_found(&visitor));
    };
    let Some(action) = AdminAction::parse(&form.action) else {
        let error = format!("Unknown action '{}'.", form.action);
        return page(&state, &visitor, Some(error)).await;
    };
    match state.users.apply_admin_action(&me, &user, action).await {
        Ok(()) => Ok(Redirect::to("/admin").into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => page(&state, &visitor, Some(e.to_string())).await,
    }
}

#[derive(Deserialize)]
pub struct PrefixForm {
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    owner: String,
}

/// After a prefix change: back to the list, or the refusal on the administration page.
async fn after_prefix_change(
    state: &AppState,
    visitor: &Visitor,
    done: Result<(), ApiError>,
) -> PageResult {
    match done {
        Ok(()) => Ok(Redirect::to("/admin#prefixes").into_response()),
        Err(
            refused @ (ApiError::BadRequest(_) | ApiError::NotFound(_) | ApiError::Conflict(_)),
        ) => page(state, visitor, Some(refused.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /admin/prefixes`: reserves a prefix (such as `Contoso.*`) for a user or an organisation.
pub async fn reserve_prefix(
    State(state): State<AppState>,
    Admin { visitor, .. }: Admin,
    VerifiedForm(form): VerifiedForm<PrefixForm>,
) -> PageResult {
    let done = state
        .packages
        .reserve_prefix(&form.pattern, &form.owner)
        .await
        .map(|_| ());
    after_prefix_change(&state, &visitor, done).await
}

#[derive(Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    pattern: String,
}

/// `POST /admin/prefixes/release`.
pub async fn release_prefix(
    State(state): State<AppState>,
    Admin { visitor, .. }: Admin,
    VerifiedForm(form): VerifiedForm<ReleaseForm>,
) -> PageResult {
    let done = state.packages.release_prefix(&form.pattern).await;
    after_prefix_change(&state, &visitor, done).await
}
