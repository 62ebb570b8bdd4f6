//! `/account/trusted-publishing`: the signed-in user's policies and those of the organisations they
//! administer, with the form that adds one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::{render, with_status, PageResult, SignedIn, VerifiedForm, Visitor};
use crate::auth::trusted::{PolicySpec, TrustError};
use crate::db::trust::TrustPolicy;
use crate::db::users::User;
use crate::state::AppState;

const HERE: &str = "/account/trusted-publishing";

#[derive(Template)]
#[template(path = "trust.html")]
struct TrustPage {
    page: super::Page,
    policies: Vec<TrustPolicy>,
    owners: Vec<String>,
    issuers: Vec<String>,
    token_url: String,
    audience: String,
    form: PolicyForm,
}

/// The add form, kept as typed when it is refused.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    packages: String,
    #[serde(default)]
    issuer: Option<String>,
}

/// What the list page reports after a change.
#[derive(Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn trust_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    form: PolicyForm,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let policies = state.trust.policies(user).await?;
    let mut owners = vec![user.username.clone()];
    for (org, role) in state.orgs.of_user(user).await? {
        if role.manages() {
            owners.push(org.username);
        }
    }
    let failed = error.is_some();
    let mut page = visitor.page();
    page.notice = notice;
    page.error = error;
    let response = render(TrustPage {
        page,
        policies,
        owners,
        issuers: state.config.trusted_issuers.clone(),
        token_url: format!("{}/api/v2/token", state.base_url),
        audience: state.trust.audience().to_string(),
        form,
    });
    Ok(if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    })
}

/// `GET /account/trusted-publishing`.
pub async fn list(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Query(done): Query<Done>,
) -> PageResult {
    let notice = match done.done.as_deref() {
        Some("added") => Some("Trusted publishing policy added.".to_string()),
        Some("removed") => Some("Trusted publishing policy removed.".to_string()),
        _ => None,
    };
    trust_page(&state, &visitor, &user, PolicyForm::default(), notice, None).await
}

/// `POST /account/trusted-publishing`.
pub async fn add(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<PolicyForm>,
) -> PageResult {
    let spec = PolicySpec {
        owner: form.owner.clone(),
        issuer: form.issuer.clone(),
        repository: form.repository.clone(),
        workflow: form.workflow.clone(),
        environment: Some(form.environment.clone()),
        packages: form.packages.split(',').map(str::to_string).collect(),
    };
    match state.trust.add_policy(&user, &spec).await {
        Ok(_) => Ok(Redirect::to(&format!("{HERE}?done=added")).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => trust_page(&state, &visitor, &user, form, None, Some(e.to_string())).await,
    }
}

/// `POST /account/trusted-publishing/{id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<i64>,
    _form: VerifiedForm<super::apikeys::Empty>,
) -> PageResult {
    match state.trust.remove_policy(Some(&user), id).await {
        Ok(_) => Ok(Redirect::to(&format!("{HERE}?done=removed")).into_response()),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e @ TrustError::NoSuchPolicy(_)) => {
            trust_page(
                &state,
                &visitor,
                &user,
                PolicyForm::default(),
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
