//! Owners manage a package from its page: unlist and relist, invite co-owners, remove owners; invitees
//! accept. Administrators may do all of it on any package. The rules are the package service's.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::signin::Empty;
use super::templates::Message;
use super::{
    not_found, render, safe_return_url, urlencode, with_status, Page, PageResult, SignedIn,
    VerifiedForm, Visitor,
};
use crate::db::packages::Registration;
use crate::error::ApiError;
use crate::model::advisory::{DeprecationReason, DeprecationReasons};
use crate::packages::advisories::DeprecationRequest;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "invitation.html")]
struct InvitationPage {
    page: Page,
    id: String,
    inviter: String,
    /// The organisation that becomes an owner, when the invitation is to one the user administers.
    for_org: Option<String>,
}

fn package_page(id: &str) -> Response {
    Redirect::to(&format!("/packages/{}", urlencode(id))).into_response()
}

/// A refusal the owner can act on, shown on a page about the package's owners; a missing package is
/// the 404 page, an outage the error page.
fn refused(visitor: &Visitor, id: &str, error: ApiError) -> PageResult {
    match error {
        ApiError::NotFound(_) => Ok(not_found(visitor)),
        ApiError::BadRequest(text) => Ok(with_status(
            render(Message {
                page: visitor.page(),
                title: format!("Owners of {id}"),
                message: text,
            }),
            StatusCode::BAD_REQUEST,
        )),
        other => Err(other.into()),
    }
}

/// After an owner change: back to the package page, or the refusal.
fn back_to_package(
    visitor: &Visitor,
    id: &str,
    changed: Result<Registration, ApiError>,
) -> PageResult {
    match changed {
        Ok(registration) => Ok(package_page(&registration.package_id)),
        Err(e) => refused(visitor, id, e),
    }
}

#[derive(Deserialize)]
pub struct ListingForm {
    listed: String,
    /// Where to go afterwards (the administration page sends its own address); same-site paths only.
    #[serde(default)]
    return_url: Option<String>,
}

/// `POST /packages/{id}/{version}/listing`: owners and administrators unlist or relist.
pub async fn set_listing(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path((id, version)): Path<(String, String)>,
    VerifiedForm(form): VerifiedForm<ListingForm>,
) -> PageResult {
    let target = match state
        .packages
        .set_listed_as(&user, &id, &version, form.listed == "true")
        .await
    {
        Ok(target) => target,
        Err(ApiError::NotFound(_)) => return Ok(not_found(&visitor)),
        Err(e) => return Err(e.into()),
    };
    let back = match form.return_url.as_deref() {
        Some(url) => safe_return_url(Some(url)),
        None => format!(
            "/packages/{}/{}",
            urlencode(&target.package_id),
            urlencode(&target.version)
        ),
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
pub struct DeprecationForm {
    /// `legacy`, `critical-bugs` or `other`; `none` lifts the deprecation.
    reason: String,
    #[serde(default)]
    message: Option<String>,
    /// `ID` or `ID@RANGE`.
    #[serde(default)]
    alternate: Option<String>,
}

/// `POST /packages/{id}/{version}/deprecation`: owners and administrators deprecate a version or lift
/// its deprecation.
pub async fn set_deprecation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path((id, version)): Path<(String, String)>,
    VerifiedForm(form): VerifiedForm<DeprecationForm>,
) -> PageResult {
    let request = if form.reason == "none" {
        None
    } else {
        let Some(reason) = DeprecationReason::from_stored(&form.reason) else {
            return refused(
                &visitor,
                &id,
                ApiError::BadRequest(format!("'{}' is not a deprecation reason.", form.reason)),
            );
        };
        Some(DeprecationRequest {
            reasons: DeprecationReasons::only(reason),
            message: form.message.as_deref(),
            alternate: form.alternate.as_deref(),
        })
    };
    match state
        .packages
        .set_deprecation_as(&user, &id, &version, request)
        .await
    {
        Ok(target) => Ok(Redirect::to(&format!(
            "/packages/{}/{}",
            urlencode(&target.package_id),
            urlencode(&target.version)
        ))
        .into_response()),
        Err(e) => refused(&visitor, &id, e),
    }
}

#[derive(Deserialize)]
pub struct OwnerForm {
    username: String,
}

/// `POST /packages/{id}/owners`: invites a co-owner, who must accept (as on NuGet.org).
pub async fn add_owner(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> PageResult {
    let invited = state
        .packages
        .invite_owner(&user, &id, &form.username)
        .await;
    back_to_package(&visitor, &id, invited)
}

/// `POST /packages/{id}/owners/remove`: never the last owner.
pub async fn remove_owner(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> PageResult {
    let removed = state
        .packages
        .remove_owner_as(&user, &id, &form.username)
        .await;
    back_to_package(&visitor, &id, removed)
}

/// `POST /packages/{id}/owners/cancel`: withdraws a pending invitation.
pub async fn cancel_invitation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> PageResult {
    let cancelled = state
        .packages
        .cancel_invitation(&user, &id, &form.username)
        .await;
    back_to_package(&visitor, &id, cancelled)
}

/// `GET /packages/{id}/owners/accept`.
pub async fn invitation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    Ok(match state.packages.invitation(&user, &id).await? {
        Some((registration, inviter, invitee)) => render(InvitationPage {
            page: visitor.page(),
            id: registration.package_id,
            inviter,
            for_org: invitee.is_organization().then_some(invitee.username),
        }),
        None => not_found(&visitor),
    })
}

/// `POST /packages/{id}/owners/accept`.
pub async fn accept_invitation(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    match state.packages.accept_invitation(&user, &id).await {
        Ok(registration) => Ok(package_page(&registration.package_id)),
        Err(ApiError::NotFound(_)) => Ok(not_found(&visitor)),
        Err(e) => Err(e.into()),
    }
}
