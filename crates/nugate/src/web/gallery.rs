//! The public gallery: home, search, package pages, profiles; and owners' package management.
//! Everything from a package is untrusted: templates escape it, and only the sanitised readme is raw HTML.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use nuget_formats::{NuGetVersion, Nuspec};
use serde::Deserialize;
use sqlx::Row;

use super::templates::Message;
use super::{not_found, render, urlencode, Page, SignedIn, VerifiedForm, Visitor};
use crate::api::search::{find, SearchRequest};
use crate::app::{AppState, BaseUrl};
use crate::db::{self, packages::PackageVersion, users::User};
use crate::mail;
use crate::packages::PackageMetadata;

/// A search hit or list entry.
pub struct PackageSummary {
    pub id: String,
    pub version: String,
    pub description: String,
    pub authors: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    page: Page,
    recent: Vec<PackageSummary>,
    count: usize,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    page: Page,
    q: String,
    results: Vec<PackageSummary>,
    total: usize,
    next: Option<usize>,
    prev: Option<usize>,
}

/// One row of the versions table.
pub struct VersionRow {
    pub version: String,
    pub listed: bool,
    pub published: String,
    pub current: bool,
}

/// Dependencies of one target framework.
pub struct DependencyView {
    pub framework: String,
    pub items: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    page: Page,
    id: String,
    version: String,
    listed: bool,
    spec: Nuspec,
    readme_html: Option<String>,
    versions: Vec<VersionRow>,
    dependencies: Vec<DependencyView>,
    owners: Vec<String>,
    is_owner: bool,
    pending: Vec<String>,
    download: String,
    license: Option<String>,
    /// `projectUrl`, only when it is safe to link ([`web_link`]).
    project_url: Option<String>,
    /// `licenseUrl`, likewise.
    license_url: Option<String>,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Page,
    username: String,
    packages: Vec<PackageSummary>,
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    page: Page,
    id: String,
    inviter: String,
}

fn latest_listed(versions: &[PackageVersion]) -> Option<&PackageVersion> {
    versions
        .iter()
        .filter(|v| v.listed)
        .max_by_key(|v| NuGetVersion::parse(&v.version).ok())
}

impl PackageSummary {
    fn of(v: &PackageVersion) -> PackageSummary {
        PackageSummary {
            id: v.package_id.clone(),
            version: v.version.clone(),
            description: v.description.clone(),
            authors: v.authors.clone(),
        }
    }
}

fn internal(e: impl Into<anyhow::Error>) -> Response {
    crate::error::ApiError::Internal(e.into()).into_response()
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, visitor: Visitor) -> Response {
    const RECENT: usize = 10;
    let view = match state.packages.feed().view().await {
        Ok(view) => view,
        Err(e) => return internal(e),
    };
    let mut count = 0;
    // Per package, its most recently published listed version; the ten newest of those.
    let mut recent: Vec<&PackageVersion> = Vec::with_capacity(RECENT + 1);
    for package in view.packages() {
        let newest = package
            .versions
            .iter()
            .filter(|v| v.row.listed)
            .max_by_key(|v| v.row.published_at);
        let Some(newest) = newest else { continue };
        count += 1;
        if recent.len() < RECENT
            || recent
                .last()
                .is_some_and(|r| r.published_at < newest.row.published_at)
        {
            let at = recent.partition_point(|r| r.published_at >= newest.row.published_at);
            recent.insert(at, &newest.row);
            recent.truncate(RECENT);
        }
    }
    let recent = recent.into_iter().map(PackageSummary::of).collect();
    drop(view);
    render(Home {
        page: visitor.page(),
        recent,
        count,
    })
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    skip: usize,
}

/// `GET /packages?q=`.
pub async fn search(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<SearchQuery>,
) -> Response {
    const PAGE: usize = 20;
    let request = SearchRequest::everything(&query.q);
    let (total, hits) = match find(&state, &request, query.skip, PAGE).await {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let skip = query.skip.min(total);
    render(SearchPage {
        page: visitor.page(),
        q: query.q,
        next: (skip + PAGE < total).then_some(skip + PAGE),
        prev: (skip > 0).then(|| skip.saturating_sub(PAGE)),
        results: hits
            .iter()
            .map(|h| PackageSummary::of(h.latest()))
            .collect(),
        total,
    })
}

/// `GET /packages/{id}`: the latest listed version (owners also reach unlisted ones).
pub async fn package(
    state: State<AppState>,
    base: BaseUrl,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Response {
    package_page(state, base, visitor, id, None).await
}

/// `GET /packages/{id}/{version}`.
pub async fn package_version(
    state: State<AppState>,
    base: BaseUrl,
    visitor: Visitor,
    Path((id, version)): Path<(String, String)>,
) -> Response {
    package_page(state, base, visitor, id, Some(version)).await
}

async fn can_manage(state: &AppState, user: Option<&User>, registration_id: i64) -> bool {
    let Some(user) = user else { return false };
    if user.is_admin {
        return true;
    }
    let Ok(mut conn) = state.db.pool().acquire().await else {
        return false;
    };
    db::packages::is_owner(&mut conn, registration_id, user.id)
        .await
        .unwrap_or(false)
}

async fn package_page(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    visitor: Visitor,
    id: String,
    version: Option<String>,
) -> Response {
    let versions = match db::packages::versions_of(state.db.pool(), &id).await {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let Some(first) = versions.first() else {
        return not_found(&visitor);
    };
    let manager = can_manage(&state, visitor.user(), first.registration_id).await;
    let current = match &version {
        Some(v) => {
            let normalized = NuGetVersion::parse(v)
                .map(|v| v.normalized().to_lowercase())
                .unwrap_or_default();
            versions
                .iter()
                .find(|x| x.version.to_lowercase() == normalized)
        }
        None => latest_listed(&versions).or_else(|| if manager { versions.last() } else { None }),
    };
    let Some(current) = current.filter(|c| c.listed || manager).cloned() else {
        return not_found(&visitor);
    };
    let meta: PackageMetadata = match serde_json::from_str(&current.metadata_json) {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    let mut sorted = versions.clone();
    sorted.sort_by_key(|v| std::cmp::Reverse(NuGetVersion::parse(&v.version).ok()));
    let rows = sorted
        .iter()
        .filter(|v| v.listed || manager)
        .map(|v| VersionRow {
            version: v.version.clone(),
            listed: v.listed,
            published: chrono::DateTime::from_timestamp(v.published_at, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            current: v.id == current.id,
        })
        .collect();
    let dependencies = meta
        .nuspec
        .dependency_groups
        .iter()
        .map(|g| DependencyView {
            framework: g
                .target_framework
                .clone()
                .unwrap_or_else(|| "Any framework".into()),
            items: g
                .dependencies
                .iter()
                .map(|d| (d.id.clone(), d.range.normalized()))
                .collect(),
        })
        .collect();
    let owners = db::packages::owner_names(state.db.pool(), current.registration_id)
        .await
        .unwrap_or_default();
    let pending = if manager {
        pending_invitations(&state, current.registration_id)
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let lower_id = current.package_id.to_lowercase();
    let lower_version = current.version.to_lowercase();
    let license = meta.nuspec.license.as_ref().map(|l| l.value.clone());
    let project_url = web_link(meta.nuspec.project_url.as_deref());
    let license_url = web_link(meta.nuspec.license_url.as_deref());
    render(PackagePage {
        page: visitor.page(),
        id: current.package_id.clone(),
        version: current.version.clone(),
        listed: current.listed,
        readme_html: meta.readme.as_deref().map(render_readme),
        spec: meta.nuspec,
        versions: rows,
        dependencies,
        is_owner: manager,
        owners,
        pending,
        download: format!(
            "{base}/v3-flatcontainer/{lower_id}/{lower_version}/{lower_id}.{lower_version}.nupkg"
        ),
        license,
        project_url,
        license_url,
    })
}

/// A nuspec URL fit for an `href`: http(s) only. Escaping keeps a URL inside its attribute, but a
/// `javascript:` or `data:` URL would still run (or render) what the package author wrote when clicked.
fn web_link(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| url.to_string())
}

/// Markdown to HTML, then through ammonia: scripts, event handlers and `javascript:` links never survive.
pub fn render_readme(markdown: &str) -> String {
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    ammonia::clean(&html)
}

async fn pending_invitations(state: &AppState, registration_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT u.username FROM owner_invitations i JOIN users u ON u.id = i.user_id WHERE i.registration_id = $1 ORDER BY u.username_lower",
    )
    .bind(registration_id)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect()
}

#[derive(Deserialize)]
pub struct ListingForm {
    listed: String,
}

/// `POST /packages/{id}/{version}/listing`: owners unlist or relist.
pub async fn set_listing(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path((id, version)): Path<(String, String)>,
    VerifiedForm(form): VerifiedForm<ListingForm>,
) -> Response {
    let Ok(target) = state.packages.find_version(&id, &version).await else {
        return not_found(&visitor);
    };
    if !can_manage(&state, Some(&user), target.registration_id).await {
        return not_found(&visitor);
    }
    if let Err(e) = state
        .packages
        .set_listed(&target, form.listed == "true")
        .await
    {
        return e.into_response();
    }
    Redirect::to(&format!(
        "/packages/{}/{}",
        urlencode(&target.package_id),
        urlencode(&target.version)
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct OwnerForm {
    username: String,
}

/// `POST /packages/{id}/owners`: invites a co-owner, who must accept (as on NuGet.org).
pub async fn add_owner(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> Response {
    let Ok(Some(registration)) = db::packages::registration(state.db.pool(), &id).await else {
        return not_found(&visitor);
    };
    if !can_manage(&state, Some(&user), registration.id).await {
        return not_found(&visitor);
    }
    let back = |text: String, status: StatusCode| {
        let mut r = render(Message {
            page: visitor.page(),
            title: format!("Owners of {}", registration.package_id),
            message: text,
        });
        *r.status_mut() = status;
        r
    };
    let invitee = match db::users::by_username(state.db.pool(), form.username.trim()).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return back(
                format!("There is no user named '{}'.", form.username.trim()),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(e) => return internal(e),
    };
    let owners = db::packages::owner_names(state.db.pool(), registration.id)
        .await
        .unwrap_or_default();
    if owners
        .iter()
        .any(|o| o.eq_ignore_ascii_case(&invitee.username))
    {
        return back(
            format!(
                "'{}' already owns {}.",
                invitee.username, registration.package_id
            ),
            StatusCode::BAD_REQUEST,
        );
    }
    let inserted = sqlx::query(
        "INSERT INTO owner_invitations (registration_id, user_id, invited_by, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (registration_id, user_id) DO NOTHING",
    )
    .bind(registration.id)
    .bind(invitee.id)
    .bind(user.id)
    .bind(db::now())
    .execute(state.db.pool())
    .await;
    if let Err(e) = inserted {
        return internal(e);
    }
    let link = format!(
        "{base}/packages/{}/owners/accept",
        urlencode(&registration.package_id)
    );
    let email = mail::messages::ownership_invitation(
        &state.mail_context(&base),
        &invitee,
        &user.username,
        &registration.package_id,
        &link,
    );
    if let Err(e) = mail::enqueue(&state.db, &email).await {
        return internal(e);
    }
    Redirect::to(&format!(
        "/packages/{}",
        urlencode(&registration.package_id)
    ))
    .into_response()
}

/// `POST /packages/{id}/owners/remove`: never the last owner.
pub async fn remove_owner(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> Response {
    let Ok(Some(registration)) = db::packages::registration(state.db.pool(), &id).await else {
        return not_found(&visitor);
    };
    if !can_manage(&state, Some(&user), registration.id).await {
        return not_found(&visitor);
    }
    if let Err(e) = state
        .packages
        .remove_owner(&registration.package_id, form.username.trim())
        .await
    {
        let mut r = render(Message {
            page: visitor.page(),
            title: format!("Owners of {}", registration.package_id),
            message: e.to_string(),
        });
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    Redirect::to(&format!(
        "/packages/{}",
        urlencode(&registration.package_id)
    ))
    .into_response()
}

async fn invitation_for(
    state: &AppState,
    user: &User,
    id: &str,
) -> Option<(db::packages::Registration, String)> {
    let registration = db::packages::registration(state.db.pool(), id)
        .await
        .ok()??;
    let row = sqlx::query(
        "SELECT COALESCE(u.username, '') FROM owner_invitations i LEFT JOIN users u ON u.id = i.invited_by \
         WHERE i.registration_id = $1 AND i.user_id = $2",
    )
    .bind(registration.id)
    .bind(user.id)
    .fetch_optional(state.db.pool())
    .await
    .ok()??;
    let inviter: String = row.try_get(0).ok()?;
    Some((registration, inviter))
}

/// `GET /packages/{id}/owners/accept`.
pub async fn invitation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    match invitation_for(&state, &user, &id).await {
        Some((registration, inviter)) => render(InvitationPage {
            page: visitor.page(),
            id: registration.package_id,
            inviter,
        }),
        None => not_found(&visitor),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /packages/{id}/owners/accept`.
pub async fn accept_invitation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> Response {
    let Some((registration, _)) = invitation_for(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    if let Err(e) = state
        .packages
        .add_owner(&registration.package_id, &user.username)
        .await
    {
        return internal(e);
    }
    let _ =
        sqlx::query("DELETE FROM owner_invitations WHERE registration_id = $1 AND user_id = $2")
            .bind(registration.id)
            .bind(user.id)
            .execute(state.db.pool())
            .await;
    Redirect::to(&format!(
        "/packages/{}",
        urlencode(&registration.package_id)
    ))
    .into_response()
}

/// `GET /profiles/{username}`: a user's packages.
pub async fn profile(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(username): Path<String>,
) -> Response {
    let Ok(Some(user)) = db::users::by_username(state.db.pool(), &username).await else {
        return not_found(&visitor);
    };
    let ids = db::packages::owned_ids(state.db.pool(), user.id)
        .await
        .unwrap_or_default();
    let mut packages = Vec::new();
    for id in ids {
        if let Ok(versions) = db::packages::versions_of(state.db.pool(), &id).await {
            if let Some(v) = latest_listed(&versions) {
                packages.push(PackageSummary::of(v));
            }
        }
    }
    render(ProfilePage {
        page: visitor.page(),
        username: user.username,
        packages,
    })
}
