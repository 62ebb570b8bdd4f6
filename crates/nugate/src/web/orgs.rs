//! Organisations: creating one, its members page (invite, change role, remove, leave), joining by
//! invitation, and its keys page for administrators. Every rule is the organisation service's; to
//! anyone who is not a member an organisation's pages do not exist.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::apikeys::{view, KeyView};
use super::signin::Empty;
use super::{
    not_found, render, urlencode, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor,
};
use crate::db::{self, users::User};
use crate::model::account::OrgRole;
use crate::orgs::{Member, OrgError};
use crate::state::AppState;

/// The roles a member may be given, as the forms offer them.
const ROLES: [OrgRole; 2] = [OrgRole::Administrator, OrgRole::Collaborator];

#[derive(Template)]
#[template(path = "org_new.html")]
struct NewOrgPage {
    page: Page,
    form: NewOrgForm,
    /// Why this user may not create one, said before they try.
    refusal: Option<String>,
}

/// One member, or one pending invitation, as the members page lists it.
pub struct MemberView {
    pub username: String,
    pub role: OrgRole,
    /// The signed-in user.
    pub is_me: bool,
}

impl MemberView {
    fn of(member: Member, me: &User) -> MemberView {
        MemberView {
            is_me: member.username.eq_ignore_ascii_case(&me.username),
            username: member.username,
            role: member.role,
        }
    }
}

#[derive(Template)]
#[template(path = "org_members.html")]
struct MembersPage {
    page: Page,
    org: String,
    /// The signed-in user's role (`None`: a server administrator who is no member).
    role: Option<OrgRole>,
    manages: bool,
    members: Vec<MemberView>,
    pending: Vec<MemberView>,
    packages: Vec<String>,
    roles: [OrgRole; 2],
}

#[derive(Template)]
#[template(path = "org_join.html")]
struct JoinPage {
    page: Page,
    org: String,
    role: OrgRole,
}

/// One key acting for the organisation, with who made it.
pub struct OrgKeyView {
    pub key: KeyView,
    pub maker: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "org_keys.html")]
struct KeysPage {
    page: Page,
    org: String,
    keys: Vec<OrgKeyView>,
    /// The organisation's own cap on key lifetimes, as the settings field shows it ('' for none).
    max_days: String,
    server_max_days: u32,
}

fn members_url(org: &str) -> String {
    format!("/organizations/{}/members", urlencode(org))
}

fn keys_url(org: &str) -> String {
    format!("/organizations/{}/apikeys", urlencode(org))
}

/// Sets the page's error, and the status 400 when there is one.
fn with_error(page: &mut Page, error: Option<String>) -> Option<StatusCode> {
    let failed = error.is_some();
    page.error = error;
    failed.then_some(StatusCode::BAD_REQUEST)
}

fn respond(response: Response, status: Option<StatusCode>) -> Response {
    match status {
        Some(status) => with_status(response, status),
        None => response,
    }
}

// ---------------------------------------------------------------------------------------------------
// Create

#[derive(Clone, Debug, Default, Deserialize)]
pub struct NewOrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

fn new_org_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    form: NewOrgForm,
    error: Option<String>,
) -> Response {
    let mut page = visitor.page();
    // Said up front, so nobody fills in a form that is bound to be refused.
    let refusal = state.orgs.may_create(user).err().map(|e| e.to_string());
    let status = with_error(&mut page, error);
    respond(
        render(NewOrgPage {
            page,
            form,
            refusal,
        }),
        status,
    )
}

/// `GET /organizations/new`.
pub async fn new_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
) -> PageResult {
    Ok(new_org_page(
        &state,
        &visitor,
        &user,
        NewOrgForm::default(),
        None,
    ))
}

/// `POST /organizations/new`: the creator becomes its first administrator.
pub async fn create(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<NewOrgForm>,
) -> PageResult {
    let email = Some(form.email.as_str()).filter(|e| !e.trim().is_empty());
    match state.orgs.create(&user, &form.name, email, false).await {
        Ok(org) => Ok(Redirect::to(&members_url(&org.username)).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => Ok(new_org_page(
            &state,
            &visitor,
            &user,
            form,
            Some(e.to_string()),
        )),
    }
}

// ---------------------------------------------------------------------------------------------------
// Members

/// The members page, with a refusal (status 400) when there is one; the 404 page for anyone who is
/// not a member.
async fn members_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    org: &str,
    error: Option<String>,
) -> PageResult {
    let membership = match state.orgs.membership(user, org).await {
        Ok(m) => m,
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(_) => return Ok(not_found(visitor)),
    };
    let (members, pending) = state.orgs.members(&membership.org).await?;
    let packages = state.packages.owned_ids(&membership.org).await?;
    let mut page = visitor.page();
    let status = with_error(&mut page, error);
    Ok(respond(
        render(MembersPage {
            page,
            org: membership.org.username,
            role: membership.role,
            manages: membership.manages,
            members: members
                .into_iter()
                .map(|m| MemberView::of(m, user))
                .collect(),
            pending: pending
                .into_iter()
                .map(|m| MemberView::of(m, user))
                .collect(),
            packages,
            roles: ROLES,
        }),
        status,
    ))
}

/// After a change to the members: back to their page, or the refusal shown on it; an organisation the
/// user cannot see is the 404 page, an outage the error page.
async fn after_change(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    org: &str,
    done: Result<(), OrgError>,
) -> PageResult {
    match done {
        Ok(()) => Ok(Redirect::to(&members_url(org)).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(OrgError::NoSuchOrg(_)) => Ok(not_found(visitor)),
        Err(e) => members_page(state, visitor, user, org, Some(e.to_string())).await,
    }
}

/// `GET /organizations/{org}/members`.
pub async fn members(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
) -> PageResult {
    members_page(&state, &visitor, &user, &org, None).await
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

impl MemberForm {
    fn role(&self) -> Result<OrgRole, String> {
        OrgRole::parse(&self.role)
            .ok_or_else(|| "Choose a role: Administrator or Collaborator.".to_string())
    }
}

/// `POST /organizations/{org}/members`: invites a user, who is emailed and joins on accepting (a
/// member already just gets the role).
pub async fn invite(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
    VerifiedForm(form): VerifiedForm<MemberForm>,
) -> PageResult {
    let role = match form.role() {
        Ok(role) => role,
        Err(why) => return members_page(&state, &visitor, &user, &org, Some(why)).await,
    };
    let done = state
        .orgs
        .invite_member(&user, &org, &form.username, role)
        .await;
    after_change(&state, &visitor, &user, &org, done).await
}

/// `POST /organizations/{org}/members/role`.
pub async fn change_role(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
    VerifiedForm(form): VerifiedForm<MemberForm>,
) -> PageResult {
    let role = match form.role() {
        Ok(role) => role,
        Err(why) => return members_page(&state, &visitor, &user, &org, Some(why)).await,
    };
    let done = state
        .orgs
        .change_role(&user, &org, &form.username, role)
        .await;
    after_change(&state, &visitor, &user, &org, done).await
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    username: String,
}

/// `POST /organizations/{org}/members/remove`: an administrator removes a member or withdraws an
/// invitation; a member leaves by removing themself (then their account page is next).
pub async fn remove(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
    VerifiedForm(form): VerifiedForm<RemoveForm>,
) -> PageResult {
    let done = state.orgs.remove_member(&user, &org, &form.username).await;
    let left = form.username.trim().eq_ignore_ascii_case(&user.username);
    match done {
        Ok(()) if left => Ok(Redirect::to("/account").into_response()),
        done => after_change(&state, &visitor, &user, &org, done).await,
    }
}

// ---------------------------------------------------------------------------------------------------
// Joining

/// `GET /organizations/{org}/join`: the invitation the email links to.
pub async fn join_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
) -> PageResult {
    let role = match state.orgs.invitation(&user, &org).await {
        Ok(role) => role,
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(_) => None,
    };
    Ok(match role {
        Some(role) => render(JoinPage {
            page: visitor.page(),
            org: state.orgs.org(&org).await?.username,
            role,
        }),
        None => not_found(&visitor),
    })
}

/// `POST /organizations/{org}/join`: accepts, then the members page.
pub async fn join(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    match state.orgs.accept(&user, &org).await {
        Ok(_) => Ok(Redirect::to(&members_url(&org)).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(_) => Ok(not_found(&visitor)),
    }
}

// ---------------------------------------------------------------------------------------------------
// Keys and settings

/// The keys page (administrators only; the 404 page for anyone else), with a refusal when there is one.
async fn keys_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    org: &str,
    error: Option<String>,
) -> PageResult {
    let keys = match state.orgs.keys(user, org).await {
        Ok(keys) => keys,
        Err(e) if e.is_outage() => return Err(e.into()),
        Err(_) => return Ok(not_found(visitor)),
    };
    let account = state.orgs.org(org).await?;
    let now = db::now();
    let mut page = visitor.page();
    let status = with_error(&mut page, error);
    Ok(respond(
        render(KeysPage {
            page,
            org: account.username,
            keys: keys
                .iter()
                .map(|(key, maker)| OrgKeyView {
                    key: view(key, now),
                    maker: maker.clone(),
                    active: key.status(now).is_active(),
                })
                .collect(),
            max_days: account
                .max_key_lifetime_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            server_max_days: state.keys.max_lifetime_days(),
        }),
        status,
    ))
}

/// `GET /organizations/{org}/apikeys`: every key acting for the organisation, never a secret.
pub async fn keys(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
) -> PageResult {
    keys_page(&state, &visitor, &user, &org, None).await
}

/// `POST /organizations/{org}/apikeys/{id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path((org, id)): Path<(String, String)>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(not_found(&visitor));
    };
    match state.orgs.revoke_key(&user, &org, id).await {
        Ok(_) => Ok(Redirect::to(&keys_url(&org)).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(_) => Ok(not_found(&visitor)),
    }
}

#[derive(Deserialize)]
pub struct SettingsForm {
    /// Days; empty for the server's cap.
    #[serde(default)]
    max_key_lifetime_days: String,
}

/// `POST /organizations/{org}/settings`: the organisation's cap on key lifetimes.
pub async fn settings(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
    VerifiedForm(form): VerifiedForm<SettingsForm>,
) -> PageResult {
    let text = form.max_key_lifetime_days.trim();
    let days = match text {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(days) => Some(days),
            Err(_) => {
                let why = OrgError::InvalidLifetime(state.keys.max_lifetime_days());
                return keys_page(&state, &visitor, &user, &org, Some(why.to_string())).await;
            }
        },
    };
    match state.orgs.set_max_key_lifetime(&user, &org, days).await {
        Ok(()) => Ok(Redirect::to(&keys_url(&org)).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e @ OrgError::InvalidLifetime(_)) => {
            keys_page(&state, &visitor, &user, &org, Some(e.to_string())).await
        }
        Err(_) => Ok(not_found(&visitor)),
    }
}
