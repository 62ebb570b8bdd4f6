//! Administration: users (create, lock, unlock, make admin), packages (owners, unlist), settings.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{not_found, render, urlencode, Page, VerifiedForm, Visitor};
use crate::app::AppState;
use crate::db::{self, users::User};
use crate::users::UserError;

/// One package row on the admin page.
pub struct AdminPackage {
    pub id: String,
    pub owners: Vec<String>,
    pub versions: Vec<(String, bool)>,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    page: Page,
    users: Vec<User>,
    packages: Vec<AdminPackage>,
    settings: Vec<(&'static str, String)>,
}

fn admin(visitor: &Visitor) -> Result<User, Response> {
    let user = visitor.require("/admin")?;
    if user.is_admin {
        Ok(user.clone())
    } else {
        Err(not_found(visitor))
    }
}

async fn page(state: &AppState, visitor: &Visitor, error: Option<String>) -> Response {
    let pool = state.db.pool();
    let users = db::users::list(pool).await.unwrap_or_default();
    let mut packages = Vec::new();
    for reg in db::packages::list_registrations(pool)
        .await
        .unwrap_or_default()
    {
        let owners = db::packages::owner_names(pool, reg.id)
            .await
            .unwrap_or_default();
        let versions = db::packages::versions_of(pool, &reg.package_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.version, v.listed))
            .collect();
        packages.push(AdminPackage {
            id: reg.package_id,
            owners,
            versions,
        });
    }
    let c = &state.config;
    let settings = vec![
        ("listen", c.listen.to_string()),
        ("public_url", c.base_url()),
        ("data_dir", c.data_dir.display().to_string()),
        ("database_url", db::redact_url(&c.database_url())),
        ("max_package_size", c.max_package_size.to_string()),
        ("max_key_lifetime_days", c.max_key_lifetime_days.to_string()),
        ("signup", format!("{:?}", c.signup).to_lowercase()),
        (
            "smtp.host",
            c.smtp
                .host
                .clone()
                .unwrap_or_else(|| "(none: mail is written to data_dir/mail)".into()),
        ),
        ("smtp.from", c.smtp.from.clone()),
        ("trusted_proxies", format!("{:?}", c.trusted_proxies)),
    ];
    let mut p = visitor.page();
    p.error = error.clone();
    let mut response = render(AdminPage {
        page: p,
        users,
        packages,
        settings,
    });
    if error.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `GET /admin`.
pub async fn overview(State(state): State<AppState>, visitor: Visitor) -> Response {
    if let Err(r) = admin(&visitor) {
        return r;
    }
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
    visitor: Visitor,
    VerifiedForm(form): VerifiedForm<NewUserForm>,
) -> Response {
    if let Err(r) = admin(&visitor) {
        return r;
    }
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
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e @ (UserError::Database(_) | UserError::Hashing(_))) => {
            crate::error::ApiError::Internal(e.into()).into_response()
        }
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
    visitor: Visitor,
    Path(username): Path<String>,
    VerifiedForm(form): VerifiedForm<UpdateUserForm>,
) -> Response {
    let me = match admin(&visitor) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(Some(user)) = db::users::by_username(state.db.pool(), &username).await else {
        return not_found(&visitor);
    };
    let (locked, is_admin) = match form.action.as_str() {
        "lock" => (true, user.is_admin),
        "unlock" => (false, user.is_admin),
        "make-admin" => (user.locked, true),
        "remove-admin" => (user.locked, false),
        _ => {
            return page(
                &state,
                &visitor,
                Some(format!("Unknown action '{}'.", form.action)),
            )
            .await
        }
    };
    if user.id == me.id && (locked || !is_admin) {
        return page(
            &state,
            &visitor,
            Some("You cannot lock yourself or remove your own administrator role.".into()),
        )
        .await;
    }
    if let Err(e) = state.users.set_flags(&user, locked, is_admin).await {
        return crate::error::ApiError::Internal(e.into()).into_response();
    }
    if locked {
        let _ = state.sessions.delete_others(user.id, None).await;
    }
    Redirect::to("/admin").into_response()
}

#[derive(Deserialize)]
pub struct ListingForm {
    listed: String,
}

/// `POST /admin/packages/{id}/{version}/listing`.
pub async fn set_listing(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((id, version)): Path<(String, String)>,
    VerifiedForm(form): VerifiedForm<ListingForm>,
) -> Response {
    if let Err(r) = admin(&visitor) {
        return r;
    }
    let Ok(target) = state.packages.find_version(&id, &version).await else {
        return not_found(&visitor);
    };
    if let Err(e) = state
        .packages
        .set_listed(&target, form.listed == "true")
        .await
    {
        return e.into_response();
    }
    Redirect::to(&format!(
        "/admin#pkg-{}",
        urlencode(&target.package_id.to_lowercase())
    ))
    .into_response()
}
