//! The audit trail's pages: a user's own activity, an organisation's (for its administrators) and the
//! whole server's (for server administrators).

use askama::Template;
use axum::extract::{Path, State};

use super::{not_found, render, Admin, Page, PageResult, SignedIn};
use crate::audit::{describe, when};
use crate::db::audit::{AuditQuery, AuditRecord};
use crate::model::audit::AuditOutcome;
use crate::state::AppState;

/// Records one page shows.
const PAGE_RECORDS: i64 = 200;

/// One record as a table row.
pub struct ActivityRow {
    pub when: String,
    pub what: String,
    pub client: String,
    pub refused: bool,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage {
    page: Page,
    title: String,
    intro: String,
    rows: Vec<ActivityRow>,
}

fn rows(records: &[AuditRecord]) -> Vec<ActivityRow> {
    records
        .iter()
        .map(|r| ActivityRow {
            when: when(r.at),
            what: describe(r),
            client: r.user_agent.clone().unwrap_or_default(),
            refused: r.outcome == AuditOutcome::Refused,
        })
        .collect()
}

fn page(page: Page, title: String, intro: &str, records: &[AuditRecord]) -> PageResult {
    Ok(render(ActivityPage {
        page,
        title,
        intro: intro.to_string(),
        rows: rows(records),
    }))
}

/// `GET /account/activity`: what the signed-in user did, and what was refused to their keys.
pub async fn mine(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
) -> PageResult {
    let query = AuditQuery {
        actor_id: Some(user.id),
        limit: PAGE_RECORDS,
        ..AuditQuery::default()
    };
    let records = state.audit.list(&query).await?;
    page(
        visitor.page(),
        "Your activity".into(),
        "Sign-ins, key changes and what your keys did, newest first.",
        &records,
    )
}

/// `GET /organizations/{org}/activity`: for the organisation's administrators.
pub async fn organization(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(org): Path<String>,
) -> PageResult {
    match state.orgs.activity(&user, &org, PAGE_RECORDS).await {
        Ok((org, records)) => page(
            visitor.page(),
            format!("Activity of {}", org.username),
            "What members did for the organisation, newest first.",
            &records,
        ),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(_) => Ok(not_found(&visitor)),
    }
}

/// `GET /admin/activity`: everything, for server administrators.
pub async fn server(State(state): State<AppState>, Admin { visitor, .. }: Admin) -> PageResult {
    let query = AuditQuery {
        limit: PAGE_RECORDS,
        ..AuditQuery::default()
    };
    let records = state.audit.list(&query).await?;
    page(
        visitor.page(),
        "Server activity".into(),
        "Every recorded action on this server, newest first.",
        &records,
    )
}
