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
use crate::error::ApiError;
use crate::model::advisory::{DeprecationReason, DeprecationReasons};
use crate::packages::advisories::DeprecationRequest;
use crate::state::{AppState, BaseUrl};

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

/// The package page with the notice of what was just done (`done`, and who it was done to).
fn package_page_saying(id: &str, done: &str, who: &str) -> Response {
    Redirect::to(&format!(
        "/packages/{}?done={done}&who={}",
        urlencode(id),
        urlencode(who)
    ))
    .into_response()
}

/// A confirmation step: a question, what will happen, and the form that does it.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    page: Page,
    question: String,
    consequence: String,
    action: String,
    fields: Vec<(&'static str, String)>,
    button: &'static str,
    cancel: String,
}

/// `GET /packages/{id}/{version}/unlist`: the confirmation step before unlisting.
pub async fn unlist_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path((id, version)): Path<(String, String)>,
) -> PageResult {
    let target = match state.packages.find_version(&id, &version).await {
        Ok(target) => target,
        Err(ApiError::NotFound(_)) => return Ok(not_found(&visitor)),
        Err(e) => return Err(e.into()),
    };
    if !state
        .packages
        .can_manage(Some(&user), target.registration_id)
        .await?
    {
        return Ok(not_found(&visitor));
    }
    let path = format!(
        "/packages/{}/{}",
        urlencode(&target.package_id),
        urlencode(&target.version)
    );
    Ok(render(ConfirmPage {
        page: visitor.page(),
        question: format!("Unlist {} {}?", target.package_id, target.version),
        consequence: "It no longer appears in search or as the latest version; restores that name \
                      this exact version keep working. You can relist it at any time."
            .to_string(),
        action: format!("{path}/listing"),
        fields: vec![("listed", "false".to_string())],
        button: "Unlist",
        cancel: path,
    }))
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
            "/packages/{}/{}?done={}",
            urlencode(&target.package_id),
            urlencode(&target.version),
            if target.listed {
                "unlisted"
            } else {
                "relisted"
            },
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
            "/packages/{}/{}?done=deprecation",
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

/// `POST /packages/{id}/owners`: invites a co-owner, who must accept (as on NuGet.org). A refusal
/// shows the package page again, the name kept and the field marked with the reason.
pub async fn add_owner(
    state: State<AppState>,
    base: BaseUrl,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<OwnerForm>,
) -> PageResult {
    let invited = state
        .packages
        .invite_owner(&user, &id, &form.username)
        .await;
    match invited {
        Ok(registration) => Ok(package_page_saying(
            &registration.package_id,
            "invited",
            form.username.trim(),
        )),
        Err(ApiError::BadRequest(reason)) => {
            let notes = super::gallery::PageNotes {
                notice: None,
                owner_error: Some((form.username.clone(), reason)),
            };
            let page = super::gallery::package_page(state, base, visitor, id, None, notes).await?;
            Ok(with_status(page, StatusCode::BAD_REQUEST))
        }
        Err(e) => refused(&visitor, &id, e),
    }
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
    match removed {
        Ok(registration) => Ok(package_page_saying(
            &registration.package_id,
            "removed",
            form.username.trim(),
        )),
        Err(e) => refused(&visitor, &id, e),
    }
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
    match cancelled {
        Ok(registration) => Ok(package_page_saying(
            &registration.package_id,
            "withdrawn",
            form.username.trim(),
        )),
        Err(e) => refused(&visitor, &id, e),
    }
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
