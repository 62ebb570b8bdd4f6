//! Account → API keys: the seed's workflow. Create (shown once, with the usage examples filled in), list,
//! edit the package scope, regenerate, revoke, delete. Every rule lives in the key engine; these
//! handlers only translate forms.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::usage::Usage;
use super::{
    not_found, render, with_status, Page, PageResult, SignedIn, VerifiedForm, Visitor, WebError,
};
use crate::audit::{describe, when};
use crate::auth::keys::{self, KeyError, KeyScope};
use crate::db::{self, keys::ApiKeyRow, users::User};
use crate::model::key::{days, status_label, KeyKind, KeyStatus};
use crate::state::AppState;

const HERE: &str = "/account/apikeys";
/// Audit records shown on each key's card.
const KEY_CARD_RECORDS: i64 = 5;
/// The lifetimes offered, as on NuGet.org.
const LIFETIMES: [u32; 5] = [1, 90, 180, 270, 365];

/// One key as the list shows it.
pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub legacy: bool,
    pub status: String,
    pub expired: bool,
    pub revoked: bool,
    pub scopes: Vec<&'static str>,
    pub packages: Vec<String>,
    pub more_packages: usize,
    pub globs: Vec<String>,
    /// The organisation the key acts for (`None`: its user).
    pub org: Option<String>,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    /// Issued by trusted publishing: lives an hour, is neither edited nor regenerated.
    pub trusted: bool,
    /// For a trusted-publishing key, the CI run it was issued to.
    pub provenance: Option<String>,
    /// The key's latest audit records, one line each (filled in by the pages that show them).
    pub activity: Vec<String>,
}

fn date(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "Never".into())
}

/// A key as the pages show it (never its secret).
pub fn view(key: &ApiKeyRow, now: i64) -> KeyView {
    let legacy = key.kind == KeyKind::Legacy;
    let status = key.status(now);
    let packages: Vec<String> = key.packages().map(str::to_string).collect();
    KeyView {
        id: key.id,
        name: key.name().to_string(),
        legacy,
        status: status_label(key.kind, status),
        expired: status == KeyStatus::Expired,
        revoked: status == KeyStatus::Revoked,
        scopes: key.actions.iter().map(|a| a.description()).collect(),
        more_packages: packages.len().saturating_sub(3),
        packages: packages.into_iter().take(3).collect(),
        globs: if legacy {
            Vec::new()
        } else {
            key.globs().map(str::to_string).collect()
        },
        org: key.owner_name.clone(),
        created: date(Some(key.created_at)),
        expires: date(key.expires_at),
        last_used: date(key.last_used_at),
        trusted: key.kind == KeyKind::Trusted,
        provenance: key.provenance.clone(),
        activity: Vec::new(),
    }
}

#[derive(Template)]
#[template(path = "apikeys.html")]
struct KeysPage {
    page: Page,
    username: String,
    keys: Vec<KeyView>,
    banner: Vec<String>,
    new_key: Option<(String, String)>,
    usage: Usage,
    /// The accounts a new key may act for: the user, then their organisations.
    owners: Vec<OwnerChoice>,
    /// The chosen owner's packages: the checkboxes.
    owned: Vec<String>,
    /// The chosen owner's name.
    owner: String,
    owner_is_org: bool,
    lifetimes: Vec<LifetimeChoice>,
    form: CreateForm,
    confirmed: bool,
}

/// One account of the "Package owner" list, with what the page needs to switch to it in place.
pub struct OwnerChoice {
    pub name: String,
    pub is_org: bool,
    pub packages: Vec<String>,
    /// The longest lifetime a key acting for it may have.
    pub max_days: u32,
    pub selected: bool,
}

impl OwnerChoice {
    /// The packages as one attribute value (IDs have no spaces).
    pub fn packages_attr(&self) -> String {
        self.packages.join(" ")
    }
}

/// One option of the "Expires in" list.
pub struct LifetimeChoice {
    pub days: u32,
    /// Longer than the chosen owner allows.
    pub disabled: bool,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "apikey_edit.html")]
struct EditPage {
    page: Page,
    key: KeyView,
    /// Every ID the form offers: the user's packages and every ID the key holds, owned or not.
    choices: Vec<PackageChoice>,
    /// Whether any choice is an ID the user no longer owns (the page then explains what that means).
    has_unowned: bool,
    globs: String,
}

impl EditPage {
    fn new(page: Page, key: KeyView, choices: Vec<PackageChoice>, globs: String) -> EditPage {
        EditPage {
            page,
            key,
            has_unowned: choices.iter().any(|c| c.not_owned),
            choices,
            globs,
        }
    }
}

/// One package checkbox of the edit page.
pub struct PackageChoice {
    pub id: String,
    pub checked: bool,
    /// The key holds this ID but the user no longer owns it: it stays unless unticked.
    pub not_owned: bool,
}

/// The edit form's choices: owned IDs, then IDs the key (or the submitted form) holds that the user
/// does not own, so saving never drops what the user did not untick.
fn package_choices(owned: &[String], selected: &[String]) -> Vec<PackageChoice> {
    let is_selected = |id: &str| selected.iter().any(|s| s.eq_ignore_ascii_case(id));
    let mut choices: Vec<PackageChoice> = owned
        .iter()
        .map(|id| PackageChoice {
            id: id.clone(),
            checked: is_selected(id),
            not_owned: false,
        })
        .collect();
    for id in selected {
        if !owned.iter().any(|o| o.eq_ignore_ascii_case(id)) {
            choices.push(PackageChoice {
                id: id.clone(),
                checked: true,
                not_owned: true,
            });
        }
    }
    choices
}

#[derive(Template)]
#[template(path = "apikey_confirm.html")]
struct ConfirmPage {
    page: Page,
    key: KeyView,
    change: KeyChange,
}

/// The create form's fields (repeated fields come as lists).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    pub name: String,
    /// The account the key acts for: the user's name or an organisation's.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u32>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub globs: String,
    /// The owner whose packages the form showed when it was sent (a page without JavaScript shows the
    /// chosen owner's packages only after a reload).
    #[serde(default)]
    pub shown_owner: Option<String>,
    /// Set by the "Show packages" button: show the chosen owner's packages, create nothing.
    #[serde(default)]
    pub show: Option<String>,
}

impl CreateForm {
    fn has_scope(&self, s: &str) -> bool {
        self.scopes.iter().any(|x| x == s)
    }
    fn has_package(&self, p: &str) -> bool {
        self.packages.iter().any(|x| x == p)
    }
}

/// Splits the "Glob pattern" field: several patterns separated by spaces, commas or new lines.
fn split_globs(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

/// Whether two owner fields name the same account (empty or missing: the user).
fn same_owner(user: &User, a: Option<&str>, b: Option<&str>) -> bool {
    let name = |o: Option<&str>| {
        o.map(str::trim)
            .filter(|o| !o.is_empty())
            .unwrap_or(&user.username)
            .to_lowercase()
    };
    name(a) == name(b)
}

/// The accounts a new key of `user` may act for, the one `wanted` names (or the user) selected.
async fn owner_choices(
    state: &AppState,
    user: &User,
    wanted: Option<&str>,
) -> Result<Vec<OwnerChoice>, WebError> {
    let mut choices = vec![OwnerChoice {
        name: user.username.clone(),
        is_org: false,
        packages: state.packages.owned_ids(user).await?,
        max_days: state.keys.max_lifetime_for(None),
        selected: false,
    }];
    for (org, _) in state.orgs.of_user(user).await? {
        choices.push(OwnerChoice {
            packages: state.packages.owned_ids(&org).await?,
            max_days: state.keys.max_lifetime_for(Some(&org)),
            name: org.username,
            is_org: true,
            selected: false,
        });
    }
    let at = choices
        .iter()
        .position(|c| same_owner(user, Some(&c.name), wanted))
        .unwrap_or(0);
    choices[at].selected = true;
    Ok(choices)
}

/// The lifetimes offered: NuGet.org's, capped by the server, and each owner's own cap; those longer
/// than the chosen owner allows are shown disabled (the page's script switches them with the owner).
fn lifetime_choices(
    server_max: u32,
    owners: &[OwnerChoice],
    chosen: &OwnerChoice,
    requested: Option<u32>,
) -> Vec<LifetimeChoice> {
    let mut days: BTreeSet<u32> = LIFETIMES
        .iter()
        .copied()
        .filter(|d| *d <= server_max)
        .collect();
    days.insert(server_max.min(365));
    days.extend(owners.iter().map(|o| o.max_days.min(365)));
    let selected = requested
        .filter(|d| (1..=chosen.max_days).contains(d) && days.contains(d))
        .unwrap_or(chosen.max_days.min(365));
    days.into_iter()
        .map(|d| LifetimeChoice {
            days: d,
            disabled: d > chosen.max_days,
            selected: d == selected,
        })
        .collect()
}

async fn keys_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    new_key: Option<(String, String)>,
    form: CreateForm,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let list = state.keys.list(user).await?;
    let now = db::now();
    let mut keys = Vec::with_capacity(list.len());
    for key in &list {
        let mut shown = view(key, now);
        shown.activity = state
            .audit
            .recent_for_key(key.id, KEY_CARD_RECORDS)
            .await?
            .iter()
            .map(|r| format!("{}: {}", when(r.at), describe(r)))
            .collect();
        keys.push(shown);
    }
    let owners = owner_choices(state, user, form.owner.as_deref()).await?;
    // The user is always a choice, and exactly one choice is selected.
    let chosen = &owners[owners.iter().position(|o| o.selected).unwrap_or(0)];
    let lifetimes = lifetime_choices(
        state.keys.max_lifetime_days(),
        &owners,
        chosen,
        form.expires_in,
    );
    let owned = chosen.packages.clone();
    let owner = chosen.name.clone();
    let owner_is_org = chosen.is_org;
    let banner = list
        .iter()
        .filter(|k| k.kind == KeyKind::Scoped)
        .filter_map(|k| match k.status(now) {
            KeyStatus::Expired => Some(format!("'{}' has expired", k.name())),
            status => status
                .expiring_soon()
                .map(|d| format!("'{}' expires in {}", k.name(), days(d))),
        })
        .collect();
    let mut page = visitor.page();
    let failed = error.is_some();
    page.notice = notice;
    page.error = error;
    let usage = Usage::new(
        &state.config.base_url(),
        new_key.as_ref().map(|(_, key)| key.as_str()),
    );
    let response = render(KeysPage {
        page,
        username: user.username.clone(),
        keys,
        banner,
        new_key,
        usage,
        owners,
        owned,
        owner,
        owner_is_org,
        lifetimes,
        form,
        confirmed: user.email_confirmed,
    });
    Ok(if failed {
        with_status(response, StatusCode::BAD_REQUEST)
    } else {
        response
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// The "Package owner" to show the create form for (the user when missing).
    #[serde(default)]
    owner: Option<String>,
    /// What was just done (`revoked`, `deleted`, `edited`) to the key `key`: the status notice.
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

/// `GET /account/apikeys[?owner=NAME]`: shows a just-created key once (waiting in this session), then
/// never again; the create form lists the packages of the chosen owner.
pub async fn list(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Query(query): Query<ListQuery>,
) -> PageResult {
    let new_key = match &visitor.session {
        Some(session) => state.sessions.take_new_key(session).await?,
        None => None,
    };
    let notice = key_notice(query.done.as_deref(), query.key.as_deref());
    let form = CreateForm {
        owner: query.owner,
        ..CreateForm::default()
    };
    keys_page(&state, &visitor, &user, new_key, form, notice, None).await
}

/// Leaves the new key in the session for the next view of the list, and goes there: a reload shows
/// it no more, signing out drops it, and it never travels in a cookie or reaches a log.
async fn show_once(state: &AppState, visitor: &Visitor, name: &str, plaintext: &str) -> PageResult {
    if let Some(session) = &visitor.session {
        state
            .sessions
            .stash_new_key(session, name, plaintext)
            .await?;
    }
    Ok(Redirect::to(HERE).into_response())
}

/// `POST /account/apikeys`.
pub async fn create(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<CreateForm>,
) -> PageResult {
    // Without JavaScript the package list follows a new owner only after a reload: the form shows
    // that owner's packages (everything typed kept) instead of creating a key from a stale list.
    let stale = form
        .shown_owner
        .as_deref()
        .is_some_and(|shown| !same_owner(&user, Some(shown), form.owner.as_deref()));
    if form.show.is_some() || stale {
        let notice = "Showing the packages of the chosen owner: choose them, then press Create.";
        let form = CreateForm { show: None, ..form };
        return keys_page(
            &state,
            &visitor,
            &user,
            None,
            form,
            Some(notice.into()),
            None,
        )
        .await;
    }
    let actions = match keys::parse_actions(&form.scopes) {
        Ok(a) => a,
        Err(e) => {
            return keys_page(
                &state,
                &visitor,
                &user,
                None,
                form,
                None,
                Some(e.to_string()),
            )
            .await
        }
    };
    let scope = KeyScope {
        owner: form.owner.clone(),
        actions,
        packages: form.packages.clone(),
        globs: split_globs(&form.globs),
    };
    let name = form.name.clone();
    match state
        .keys
        .create(&user, &name, &scope, form.expires_in)
        .await
    {
        Ok((row, plaintext)) => show_once(&state, &visitor, row.name(), &plaintext).await,
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => {
            keys_page(
                &state,
                &visitor,
                &user,
                None,
                form,
                None,
                Some(e.to_string()),
            )
            .await
        }
    }
}

/// The signed-in user's key with this id (anyone else's key does not exist).
async fn own_key(state: &AppState, user: &User, id: &str) -> Result<Option<ApiKeyRow>, KeyError> {
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    Ok(state
        .keys
        .list(user)
        .await?
        .into_iter()
        .find(|k| k.id == id))
}

/// The IDs the account a key acts for owns: its organisation's, or the user's.
async fn owned_by_key_owner(
    state: &AppState,
    user: &User,
    key: &ApiKeyRow,
) -> Result<Vec<String>, WebError> {
    let Some(org) = &key.owner_name else {
        return Ok(state.packages.owned_ids(user).await?);
    };
    match state.orgs.org(org).await {
        Ok(org) => Ok(state.packages.owned_ids(&org).await?),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(_) => Ok(Vec::new()),
    }
}

/// `GET /account/apikeys/{id}/edit`.
pub async fn edit_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    let Some(key) = own_key(&state, &user, &id)
        .await?
        .filter(|k| k.kind == KeyKind::Scoped)
    else {
        return Ok(not_found(&visitor));
    };
    let owned = owned_by_key_owner(&state, &user, &key).await?;
    let selected: Vec<String> = key.packages().map(str::to_string).collect();
    Ok(render(EditPage::new(
        visitor.page(),
        view(&key, db::now()),
        package_choices(&owned, &selected),
        key.globs().collect::<Vec<_>>().join(" "),
    )))
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    packages: Vec<String>,
    #[serde(default)]
    globs: String,
}

/// `POST /account/apikeys/{id}/edit`: package scope only.
pub async fn edit(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    VerifiedForm(form): VerifiedForm<EditForm>,
) -> PageResult {
    let Some(key) = own_key(&state, &user, &id).await? else {
        return Ok(not_found(&visitor));
    };
    match state
        .keys
        .edit(&user, key.name(), &form.packages, &split_globs(&form.globs))
        .await
    {
        Ok(_) => Ok(back_with_notice("edited", key.name())),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(e) => {
            let owned = owned_by_key_owner(&state, &user, &key).await?;
            let mut page = visitor.page();
            page.error = Some(e.to_string());
            let response = render(EditPage::new(
                page,
                view(&key, db::now()),
                package_choices(&owned, &form.packages),
                form.globs,
            ));
            Ok(with_status(response, StatusCode::BAD_REQUEST))
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

/// What a key-page button does to a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyChange {
    Regenerate,
    Revoke,
    Delete,
}

impl KeyChange {
    /// The last part of its path.
    pub fn path(self) -> &'static str {
        match self {
            KeyChange::Regenerate => "regenerate",
            KeyChange::Revoke => "revoke",
            KeyChange::Delete => "delete",
        }
    }

    /// The button that carries it out.
    pub fn verb(self) -> &'static str {
        match self {
            KeyChange::Regenerate => "Regenerate",
            KeyChange::Revoke => "Revoke",
            KeyChange::Delete => "Delete",
        }
    }

    /// What the confirmation step says will happen.
    pub fn consequence(self) -> &'static str {
        match self {
            KeyChange::Regenerate => "A new secret is issued for the same name and scopes, valid for the key's original lifetime from now. The current secret stops working at once: update anything that uses it.",
            KeyChange::Revoke => "The key stops working at once and stays listed as revoked. You can regenerate it later.",
            KeyChange::Delete => "Anything still using this key will be refused at once. This cannot be undone.",
        }
    }
}

/// The status notice after a change to the key `name`, by the `done` word in the list's address.
fn key_notice(done: Option<&str>, name: Option<&str>) -> Option<String> {
    let name = name?;
    let what = match done? {
        "revoked" => "revoked: it no longer works",
        "deleted" => "deleted",
        "edited" => "updated: its new package scope applies at once",
        _ => return None,
    };
    Some(format!("Key '{name}' {what}."))
}

/// The key list, with the notice of what was just done to `name`.
fn back_with_notice(done: &str, name: &str) -> Response {
    Redirect::to(&format!(
        "{HERE}?done={done}&key={}",
        super::urlencode(name)
    ))
    .into_response()
}

/// Carries out a regenerate, revoke or delete on the user's key `id`: a regenerated key is shown once;
/// an outage is an error page; any other refusal is shown above the key list.
async fn act_on_key(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    id: &str,
    action: KeyChange,
) -> PageResult {
    let Some(key) = own_key(state, user, id).await? else {
        return Ok(not_found(visitor));
    };
    let name = key.name();
    let done = match action {
        KeyChange::Regenerate => match state.keys.regenerate(user, name).await {
            Ok((_, plaintext)) => return show_once(state, visitor, name, &plaintext).await,
            Err(e) => Err(e),
        },
        KeyChange::Revoke => state
            .keys
            .revoke(user, name)
            .await
            .map(|_| back_with_notice("revoked", name)),
        KeyChange::Delete => state
            .keys
            .delete(user, name)
            .await
            .map(|_| back_with_notice("deleted", name)),
    };
    match done {
        Ok(response) => Ok(response),
        Err(e) if e.is_outage() => Err(e.into()),
        Err(refused) => {
            keys_page(
                state,
                visitor,
                user,
                None,
                CreateForm::default(),
                None,
                Some(refused.to_string()),
            )
            .await
        }
    }
}

/// `POST /account/apikeys/{id}/regenerate`: the new key is shown once, the old one is dead.
pub async fn regenerate(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    act_on_key(&state, &visitor, &user, &id, KeyChange::Regenerate).await
}

/// `POST /account/apikeys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    act_on_key(&state, &visitor, &user, &id, KeyChange::Revoke).await
}

/// The confirmation step of a regenerate, revoke or delete.
async fn confirm_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    id: &str,
    change: KeyChange,
) -> PageResult {
    let Some(key) = own_key(state, user, id).await? else {
        return Ok(not_found(visitor));
    };
    Ok(render(ConfirmPage {
        page: visitor.page(),
        key: view(&key, db::now()),
        change,
    }))
}

/// `GET /account/apikeys/{id}/delete`: the confirmation step.
pub async fn delete_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    confirm_page(&state, &visitor, &user, &id, KeyChange::Delete).await
}

/// `GET /account/apikeys/{id}/revoke`: the confirmation step.
pub async fn revoke_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    confirm_page(&state, &visitor, &user, &id, KeyChange::Revoke).await
}

/// `GET /account/apikeys/{id}/regenerate`: the confirmation step.
pub async fn regenerate_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    confirm_page(&state, &visitor, &user, &id, KeyChange::Regenerate).await
}

/// `POST /account/apikeys/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> PageResult {
    act_on_key(&state, &visitor, &user, &id, KeyChange::Delete).await
}

#[cfg(test)]
mod tests {
    use super::{lifetime_choices, package_choices, split_globs, OwnerChoice};

    #[test]
    fn lifetimes_past_the_chosen_owners_cap_are_offered_disabled() {
        let owner = |name: &str, max_days: u32| OwnerChoice {
            name: name.into(),
            is_org: false,
            packages: Vec::new(),
            max_days,
            selected: false,
        };
        let owners = [owner("alice", 400), owner("Contoso", 30)];
        let summary = |chosen: &OwnerChoice, requested: Option<u32>| {
            lifetime_choices(400, &owners, chosen, requested)
                .iter()
                .map(|l| (l.days, l.disabled, l.selected))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            summary(&owners[1], None),
            [
                (1, false, false),
                (30, false, true),
                (90, true, false),
                (180, true, false),
                (270, true, false),
                (365, true, false)
            ]
        );
        let alice = summary(&owners[0], Some(90));
        assert!(alice.iter().all(|(_, disabled, _)| !disabled));
        assert_eq!(alice.iter().find(|l| l.2).map(|l| l.0), Some(90));
        // A requested lifetime the owner does not allow falls back to its longest.
        assert_eq!(
            summary(&owners[1], Some(365))
                .iter()
                .find(|l| l.2)
                .map(|l| l.0),
            Some(30)
        );
    }

    #[test]
    fn several_globs_in_one_field() {
        assert_eq!(
            split_globs(" Contoso.*, Fabrikam.*\nNorthwind.*;"),
            ["Contoso.*", "Fabrikam.*", "Northwind.*"]
        );
        assert!(split_globs("  ").is_empty());
    }

    #[test]
    fn ids_the_user_no_longer_owns_stay_offered_and_ticked() {
        let owned = vec!["Contoso.A".to_string(), "Contoso.C".to_string()];
        let selected = vec!["contoso.a".to_string(), "Contoso.B".to_string()];
        let choices = package_choices(&owned, &selected);
        let summary: Vec<(&str, bool, bool)> = choices
            .iter()
            .map(|c| (c.id.as_str(), c.checked, c.not_owned))
            .collect();
        assert_eq!(
            summary,
            [
                ("Contoso.A", true, false),
                ("Contoso.C", false, false),
                ("Contoso.B", true, true)
            ]
        );
    }
}
