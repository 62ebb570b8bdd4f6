//! Account → API keys: the seed's workflow. Create (shown once), list, edit the package scope,
//! regenerate, revoke, delete. Every rule lives in the key engine; these handlers only translate forms.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    cookie, not_found, render, set_cookie, Page, SignedIn, VerifiedForm, Visitor, NEW_KEY_COOKIE,
};
use crate::app::AppState;
use crate::auth::keys::{self, status, KeyError, KeyScope, KeyStatus, WARN_DAYS};
use crate::auth::scope::KeyAction;
use crate::db::{self, keys::ApiKeyRow, users::User};

const HERE: &str = "/account/apikeys";
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
    pub created: String,
    pub last_used: String,
}

fn date(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "Never".into())
}

fn view(key: &ApiKeyRow, now: i64) -> KeyView {
    let legacy = key.kind == keys::kind::LEGACY;
    let st = status(key, now);
    let status_text = match (&st, legacy) {
        (KeyStatus::Revoked, _) => "Revoked".to_string(),
        (KeyStatus::Expired, _) => "Expired".to_string(),
        (KeyStatus::Active { .. }, true) => "Never expires (if used every 365 days)".to_string(),
        (
            KeyStatus::Active {
                expires_in_days: Some(d),
            },
            false,
        ) => {
            format!("Expires in {d} day{}", if *d == 1 { "" } else { "s" })
        }
        (
            KeyStatus::Active {
                expires_in_days: None,
            },
            false,
        ) => "Never expires".to_string(),
    };
    let packages: Vec<String> = key
        .subjects
        .iter()
        .filter(|s| !s.contains('*'))
        .cloned()
        .collect();
    KeyView {
        id: key.id,
        name: if legacy {
            format!(
                "{} (Full access API key)",
                key.name.as_deref().unwrap_or("")
            )
        } else {
            key.name.clone().unwrap_or_default()
        },
        legacy,
        status: status_text,
        expired: st == KeyStatus::Expired,
        revoked: st == KeyStatus::Revoked,
        scopes: key
            .actions
            .iter()
            .filter_map(|a| KeyAction::parse(a))
            .map(KeyAction::description)
            .collect(),
        more_packages: packages.len().saturating_sub(3),
        packages: packages.into_iter().take(3).collect(),
        globs: key
            .subjects
            .iter()
            .filter(|s| s.contains('*'))
            .cloned()
            .collect(),
        created: date(Some(key.created_at)),
        last_used: date(key.last_used_at),
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
    owned: Vec<String>,
    lifetimes: Vec<u32>,
    default_lifetime: u32,
    form: CreateForm,
    confirmed: bool,
}

#[derive(Template)]
#[template(path = "apikey_edit.html")]
struct EditPage {
    page: Page,
    key: KeyView,
    owned: Vec<String>,
    selected: Vec<String>,
    globs: String,
}

#[derive(Template)]
#[template(path = "apikey_delete.html")]
struct DeletePage {
    page: Page,
    key: KeyView,
}

/// The create form's fields (repeated fields come as lists).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub expires_in: Option<u32>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub globs: String,
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

async fn keys_page(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    new_key: Option<(String, String)>,
    form: CreateForm,
    error: Option<String>,
) -> Response {
    let (list, owned) = match (
        state.keys.list(user).await,
        db::packages::owned_ids(state.db.pool(), user.id).await,
    ) {
        (Ok(l), Ok(o)) => (l, o),
        (Err(e), _) => return crate::error::ApiError::Internal(e.into()).into_response(),
        (_, Err(e)) => return crate::error::ApiError::from(e).into_response(),
    };
    let now = db::now();
    let banner = list
        .iter()
        .filter(|k| k.kind == keys::kind::SCOPED)
        .filter_map(|k| match status(k, now) {
            KeyStatus::Expired => {
                Some(format!("'{}' has expired", k.name.as_deref().unwrap_or("")))
            }
            KeyStatus::Active {
                expires_in_days: Some(d),
            } if d <= WARN_DAYS => Some(format!(
                "'{}' expires in {d} day{}",
                k.name.as_deref().unwrap_or(""),
                if d == 1 { "" } else { "s" }
            )),
            _ => None,
        })
        .collect();
    let max = state.config.max_key_lifetime_days;
    let mut lifetimes: Vec<u32> = LIFETIMES.iter().copied().filter(|d| *d <= max).collect();
    if !lifetimes.contains(&max.min(365)) {
        lifetimes.push(max.min(365));
    }
    let mut page = visitor.page();
    page.error = error.clone();
    let mut response = render(KeysPage {
        page,
        username: user.username.clone(),
        keys: list.iter().map(|k| view(k, now)).collect(),
        banner,
        new_key,
        owned,
        lifetimes,
        default_lifetime: state.keys.default_lifetime_days(),
        form,
        confirmed: user.email_confirmed,
    });
    if error.is_some() {
        *response.status_mut() = StatusCode::BAD_REQUEST;
    }
    response
}

/// `GET /account/apikeys`: shows a just-created key once (from a one-shot cookie), then never again.
pub async fn list(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    headers: HeaderMap,
) -> Response {
    let new_key = cookie(&headers, NEW_KEY_COOKIE).and_then(|v| {
        let (name, key) = v.split_once('.')?;
        let name =
            String::from_utf8(data_encoding::BASE32_NOPAD.decode(name.as_bytes()).ok()?).ok()?;
        Some((name, key.to_string()))
    });
    let mut response = keys_page(
        &state,
        &visitor,
        &user,
        new_key.clone(),
        CreateForm::default(),
        None,
    )
    .await;
    if new_key.is_some() {
        if let Ok(v) = HeaderValue::from_str(&set_cookie(&state, NEW_KEY_COOKIE, "", Some(0), HERE))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// Redirects to the list with the plaintext in a one-shot cookie scoped to that page: the key never
/// touches the database or a log, and a reload shows it no more.
fn show_once(state: &AppState, name: &str, plaintext: &str) -> Response {
    let mut response = Redirect::to(HERE).into_response();
    let encoded_name = data_encoding::BASE32_NOPAD.encode(name.as_bytes());
    let value = format!("{encoded_name}.{plaintext}");
    if let Ok(v) =
        HeaderValue::from_str(&set_cookie(state, NEW_KEY_COOKIE, &value, Some(120), HERE))
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /account/apikeys`.
pub async fn create(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    VerifiedForm(form): VerifiedForm<CreateForm>,
) -> Response {
    let actions = match keys::parse_actions(&form.scopes) {
        Ok(a) => a,
        Err(e) => return keys_page(&state, &visitor, &user, None, form, Some(e.to_string())).await,
    };
    let scope = KeyScope {
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
        Ok((row, plaintext)) => show_once(&state, row.name.as_deref().unwrap_or(&name), &plaintext),
        Err(KeyError::Database(e)) => crate::error::ApiError::from(e).into_response(),
        Err(e) => keys_page(&state, &visitor, &user, None, form, Some(e.to_string())).await,
    }
}

async fn own_key(state: &AppState, user: &User, id: &str) -> Option<ApiKeyRow> {
    let id: i64 = id.parse().ok()?;
    state
        .keys
        .list(user)
        .await
        .ok()?
        .into_iter()
        .find(|k| k.id == id)
}

/// `GET /account/apikeys/{id}/edit`.
pub async fn edit_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Some(key) = own_key(&state, &user, &id)
        .await
        .filter(|k| k.kind == keys::kind::SCOPED)
    else {
        return not_found(&visitor);
    };
    let owned = db::packages::owned_ids(state.db.pool(), user.id)
        .await
        .unwrap_or_default();
    render(EditPage {
        page: visitor.page(),
        selected: key
            .subjects
            .iter()
            .filter(|s| !s.contains('*'))
            .cloned()
            .collect(),
        globs: key
            .subjects
            .iter()
            .filter(|s| s.contains('*'))
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        key: view(&key, db::now()),
        owned,
    })
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
) -> Response {
    let Some(key) = own_key(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    let name = key.name.clone().unwrap_or_default();
    match state
        .keys
        .edit(&user, &name, &form.packages, &split_globs(&form.globs))
        .await
    {
        Ok(_) => Redirect::to(HERE).into_response(),
        Err(KeyError::Database(e)) => crate::error::ApiError::from(e).into_response(),
        Err(e) => {
            let owned = db::packages::owned_ids(state.db.pool(), user.id)
                .await
                .unwrap_or_default();
            let mut page = visitor.page();
            page.error = Some(e.to_string());
            let mut response = render(EditPage {
                page,
                key: view(&key, db::now()),
                owned,
                selected: form.packages,
                globs: form.globs,
            });
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /account/apikeys/{id}/regenerate`: the new key is shown once, the old one is dead.
pub async fn regenerate(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> Response {
    let Some(key) = own_key(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    let name = key.name.clone().unwrap_or_default();
    match state.keys.regenerate(&user, &name).await {
        Ok((_, plaintext)) => show_once(&state, &name, &plaintext),
        Err(e) => key_action_failed(&state, &visitor, &user, e).await,
    }
}

/// `POST /account/apikeys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> Response {
    let Some(key) = own_key(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    match state
        .keys
        .revoke(&user, key.name.as_deref().unwrap_or(""))
        .await
    {
        Ok(_) => Redirect::to(HERE).into_response(),
        Err(e) => key_action_failed(&state, &visitor, &user, e).await,
    }
}

/// `GET /account/apikeys/{id}/delete`: the confirmation step.
pub async fn delete_page(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let Some(key) = own_key(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    render(DeletePage {
        page: visitor.page(),
        key: view(&key, db::now()),
    })
}

/// `POST /account/apikeys/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    SignedIn { visitor, user }: SignedIn,
    Path(id): Path<String>,
    _form: VerifiedForm<Empty>,
) -> Response {
    let Some(key) = own_key(&state, &user, &id).await else {
        return not_found(&visitor);
    };
    match state
        .keys
        .delete(&user, key.name.as_deref().unwrap_or(""))
        .await
    {
        Ok(_) => Redirect::to(HERE).into_response(),
        Err(e) => key_action_failed(&state, &visitor, &user, e).await,
    }
}

/// A regenerate, revoke or delete that failed: database trouble is answered as such (503 or 500), any
/// other refusal is shown above the key list.
async fn key_action_failed(
    state: &AppState,
    visitor: &Visitor,
    user: &User,
    error: KeyError,
) -> Response {
    match error {
        KeyError::Database(e) => crate::error::ApiError::from(e).into_response(),
        refused => {
            keys_page(
                state,
                visitor,
                user,
                None,
                CreateForm::default(),
                Some(refused.to_string()),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_globs;

    #[test]
    fn several_globs_in_one_field() {
        assert_eq!(
            split_globs(" Contoso.*, Fabrikam.*\nNorthwind.*;"),
            ["Contoso.*", "Fabrikam.*", "Northwind.*"]
        );
        assert!(split_globs("  ").is_empty());
    }
}
