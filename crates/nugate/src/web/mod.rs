//! The web gallery and account pages: server-rendered HTML (askama templates compiled into the binary),
//! working without JavaScript. Handlers call the same services as the CLI and the protocol.

mod account;
mod activity;
mod admin;
mod apikeys;
mod error;
mod gallery;
mod orgs;
mod owners;
mod password;
mod signin;
mod signup;
mod trust;
mod usage;

pub use error::WebError;
pub use gallery::render_readme;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::auth::sessions::Session;
use crate::db::users::User;
use crate::state::AppState;
use crate::tokens::random_token;

/// What a page handler returns: the page, or an error rendered as a page with its status.
pub type PageResult = Result<Response, WebError>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "nugate_session";
/// The cookie anonymous forms' CSRF token is double-submitted against.
pub const CSRF_COOKIE: &str = "nugate_csrf";

/// Every page route.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(gallery::home))
        .route("/packages", get(gallery::search))
        .route("/packages/{id}", get(gallery::package))
        .route("/packages/{id}/{version}", get(gallery::package_version))
        .route(
            "/packages/{id}/{version}/listing",
            post(owners::set_listing),
        )
        .route("/packages/{id}/{version}/unlist", get(owners::unlist_page))
        .route(
            "/packages/{id}/{version}/deprecation",
            post(owners::set_deprecation),
        )
        .route("/packages/{id}/owners", post(owners::add_owner))
        .route("/packages/{id}/owners/remove", post(owners::remove_owner))
        .route(
            "/packages/{id}/owners/cancel",
            post(owners::cancel_invitation),
        )
        .route(
            "/packages/{id}/owners/accept",
            get(owners::invitation).post(owners::accept_invitation),
        )
        .route("/profiles/{username}", get(gallery::profile))
        .route("/signin", get(signin::signin_page).post(signin::signin))
        .route("/signout", post(signin::signout))
        .route(
            "/register",
            get(signup::register_page).post(signup::register),
        )
        .route("/account", get(account::account_page))
        .route("/account/confirm", get(signup::confirm))
        .route(
            "/account/resend-confirmation",
            post(signup::resend_confirmation),
        )
        .route(
            "/account/forgot-password",
            get(password::forgot_page).post(password::forgot),
        )
        .route(
            "/account/reset-password",
            get(password::reset_page).post(password::reset),
        )
        .route("/account/password", post(password::change_password))
        .route("/account/email", post(account::change_email))
        .route("/account/confirm-email", get(account::confirm_new_email))
        .route("/account/delete", post(account::delete_account))
        .route("/account/activity", get(activity::mine))
        .route(
            "/account/trusted-publishing",
            get(trust::list).post(trust::add),
        )
        .route(
            "/account/trusted-publishing/{id}/remove",
            post(trust::remove),
        )
        .route("/organizations/{org}/activity", get(activity::organization))
        .route("/admin/activity", get(activity::server))
        .route("/account/apikeys", get(apikeys::list).post(apikeys::create))
        .route(
            "/account/apikeys/{key}/edit",
            get(apikeys::edit_page).post(apikeys::edit),
        )
        .route(
            "/account/apikeys/{key}/regenerate",
            get(apikeys::regenerate_page).post(apikeys::regenerate),
        )
        .route(
            "/account/apikeys/{key}/revoke",
            get(apikeys::revoke_page).post(apikeys::revoke),
        )
        .route(
            "/account/apikeys/{key}/delete",
            get(apikeys::delete_page).post(apikeys::delete),
        )
        .route("/organizations/new", get(orgs::new_page).post(orgs::create))
        .route(
            "/organizations/{org}/members",
            get(orgs::members).post(orgs::invite),
        )
        .route("/organizations/{org}/members/role", post(orgs::change_role))
        .route("/organizations/{org}/members/remove", post(orgs::remove))
        .route(
            "/organizations/{org}/join",
            get(orgs::join_page).post(orgs::join),
        )
        .route("/organizations/{org}/apikeys", get(orgs::keys))
        .route(
            "/organizations/{org}/apikeys/{key}/revoke",
            post(orgs::revoke_key),
        )
        .route("/organizations/{org}/settings", post(orgs::settings))
        .route("/admin", get(admin::overview))
        .route("/admin/prefixes", post(admin::reserve_prefix))
        .route("/admin/prefixes/release", post(admin::release_prefix))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/{username}", post(admin::update_user))
        .route("/static/site.css", get(stylesheet))
        .route("/static/site.js", get(script))
        .layer(from_fn_with_state(state, ensure_csrf_cookie))
}

async fn stylesheet() -> Response {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../static/site.css"),
    )
}

async fn script() -> Response {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../static/site.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Reads one cookie from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value with the attributes every nugate cookie shares.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
    path: &str,
) -> String {
    let secure = if state.config.public_url_is_https() {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax{secure}{age}")
}

/// Adds a site-wide cookie to `response`.
pub fn with_cookie(
    state: &AppState,
    response: Response,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) -> Response {
    let mut response = response;
    match HeaderValue::from_str(&set_cookie(state, name, value, max_age, "/")) {
        Ok(v) => {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        Err(e) => tracing::error!(error = %e, cookie = name, "cookie value is not a valid header"),
    }
    response
}

/// A page with one message.
pub fn message(visitor: &Visitor, title: &str, text: &str) -> Response {
    render(templates::Message {
        page: visitor.page(),
        title: title.into(),
        message: text.into(),
    })
}

/// Sets a response's status.
pub fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// Marks every cookie of a response served over https `Secure` (behind a trusted https proxy the
/// configured public URL may still say http, and [`set_cookie`] only knows the configuration).
fn secure_cookies(headers: &mut axum::http::HeaderMap) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(axum::http::header::SET_COOKIE);
    for cookie in cookies {
        let secured = cookie
            .to_str()
            .ok()
            .filter(|c| {
                !c.split(';')
                    .any(|a| a.trim().eq_ignore_ascii_case("secure"))
            })
            .and_then(|c| HeaderValue::from_str(&format!("{c}; Secure")).ok())
            .unwrap_or(cookie);
        headers.append(axum::http::header::SET_COOKIE, secured);
    }
}

/// The anonymous CSRF token, set by [`ensure_csrf_cookie`].
#[derive(Clone)]
struct AnonCsrf(String);

/// Gives every visitor a CSRF cookie, so forms shown before sign-in are protected too.
async fn ensure_csrf_cookie(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = cookie(request.headers(), CSRF_COOKIE).filter(|v| v.len() >= 32);
    let token = existing.clone().unwrap_or_else(random_token);
    request.extensions_mut().insert(AnonCsrf(token.clone()));
    let origin = crate::api::guard::origin_of(&request);
    let response = crate::audit::with_origin(origin, next.run(request)).await;
    if existing.is_none() {
        return with_cookie(&state, response, CSRF_COOKIE, &token, None);
    }
    response
}

/// Who is asking: the signed-in session if any, and the CSRF token forms must carry.
#[derive(Clone)]
pub struct Visitor {
    pub session: Option<Session>,
    pub csrf: String,
}

impl Visitor {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&User> {
        self.session.as_ref().map(|s| &s.user)
    }

    /// Page chrome for templates.
    pub fn page(&self) -> Page {
        Page {
            user: self.user().cloned(),
            csrf: self.csrf.clone(),
            notice: None,
            error: None,
            search: String::new(),
        }
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back to `here`.
    pub fn require(&self, here: &str) -> Result<&User, Response> {
        self.user().ok_or_else(|| {
            let target = format!("/signin?returnUrl={}", urlencode(here));
            Redirect::to(&target).into_response()
        })
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let anon = parts
            .extensions
            .get::<AnonCsrf>()
            .map(|a| a.0.clone())
            .unwrap_or_default();
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(value) => state.sessions.load(&value).await?,
            None => None,
        };
        let csrf = session
            .as_ref()
            .map(|s| s.csrf_token.clone())
            .unwrap_or(anon);
        Ok(Visitor { session, csrf })
    }
}

/// A visitor of a gallery page. On a private feed only signed-in users with a confirmed address read
/// it: anyone else is sent to sign in (and brought back), or told to confirm.
pub struct Reader(pub Visitor);

impl FromRequestParts<AppState> for Reader {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.read_access == crate::config::ReadAccess::Public {
            return Visitor::from_request_parts(parts, state)
                .await
                .map(Reader)
                .map_err(IntoResponse::into_response);
        }
        let SignedIn { visitor, user } = SignedIn::from_request_parts(parts, state).await?;
        if !user.email_confirmed {
            return Err(with_status(
                message(
                    &visitor,
                    "Confirm your address",
                    "This feed is private: confirm your email address (see your account page) to read it.",
                ),
                StatusCode::FORBIDDEN,
            ));
        }
        Ok(Reader(visitor))
    }
}

/// A signed-in administrator; to anyone else the page does not exist (signed-out visitors are sent to
/// sign in first).
pub struct Admin {
    pub visitor: Visitor,
    pub user: User,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let SignedIn { visitor, user } = SignedIn::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(Admin { visitor, user })
        } else {
            Err(not_found(&visitor))
        }
    }
}

/// A signed-in visitor; anyone else is sent to the sign-in page, which brings them back here.
pub struct SignedIn {
    pub visitor: Visitor,
    pub user: User,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // After sign-in, a GET page comes back to itself; a form post goes back to the page it came from.
        let here = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        } else {
            parts
                .headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
                .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
                .unwrap_or_else(|| "/".into())
        };
        let user = visitor.require(&here)?.clone();
        Ok(SignedIn { visitor, user })
    }
}

/// Chrome every page template gets.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub user: Option<User>,
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The search the page shows, kept in the header's search box.
    pub search: String,
}

/// A form body that passed the CSRF checks: same-origin request (`Sec-Fetch-Site`/`Origin`) and the
/// token of the session (or, before sign-in, of the CSRF cookie).
pub struct VerifiedForm<T>(pub T);

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for VerifiedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let forbidden = |why: &str| {
            crate::error::message_response(
                StatusCode::FORBIDDEN,
                &format!("The form was rejected ({why}). Reload the page and try again."),
            )
        };
        if let Some(site) = parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
        {
            if site != "same-origin" && site != "none" {
                return Err(forbidden("cross-site request"));
            }
        }
        let origin = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(origin) = origin {
            let Ok(crate::state::BaseUrl(base)) =
                crate::state::BaseUrl::from_request_parts(&mut parts, state).await;
            if origin != "null" && !base.eq_ignore_ascii_case(origin.trim_end_matches('/')) {
                return Err(forbidden("request from another origin"));
            }
        }
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let field: CsrfField =
            serde_html_form::from_bytes(&bytes).map_err(|_| forbidden("missing token"))?;
        let expected = visitor.csrf.as_bytes();
        let matches = !field.csrf.is_empty()
            && subtle::ConstantTimeEq::ct_eq(field.csrf.as_bytes(), expected).into();
        if !matches {
            return Err(forbidden("invalid or expired token"));
        }
        serde_html_form::from_bytes(&bytes)
            .map(VerifiedForm)
            .map_err(|e| {
                crate::error::message_response(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid form: {e}"),
                )
            })
    }
}

/// Renders a template; pages may show personal data, so nothing is cached.
pub fn render(template: impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => crate::error::ApiError::Internal(e.into()).into_response(),
    }
}

/// A 404 page: also what other users' keys and packages look like.
pub fn not_found(visitor: &Visitor) -> Response {
    let mut response = render(templates::Message {
        page: visitor.page(),
        title: "Not found".into(),
        message: "There is nothing here, or it is not yours to see.".into(),
    });
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

/// The answer to a path no route knows: the not-found page (with its search form) for a browser,
/// a short text for a client.
pub fn unmatched(headers: &axum::http::HeaderMap) -> Option<Response> {
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    wants_html.then(|| {
        not_found(&Visitor {
            session: None,
            csrf: String::new(),
        })
    })
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Only same-site paths are followed after sign-in (no open redirects).
pub fn safe_return_url(url: Option<&str>) -> String {
    match url {
        Some(u)
            if u.starts_with('/')
                && !u.starts_with("//")
                && !u.starts_with("/\\")
                && !u.contains("://")
                && !u.chars().any(|c| c.is_control() || c == '\\') =>
        {
            u.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Response headers that keep pages from being framed, sniffed or leaking referrers, and (only when the
/// client came over https, see [`crate::state::served_over_https`]) pin the browser to https.
/// Added to every response by the app's outermost layer, which finds `https` before the request runs.
pub fn add_security_headers(h: &mut axum::http::HeaderMap, https: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
        secure_cookies(h);
    }
}

/// Template structs.
pub mod templates {
    use askama::Template;

    use super::Page;

    /// A page with one message.
    #[derive(Template)]
    #[template(path = "message.html")]
    pub struct Message {
        pub page: Page,
        pub title: String,
        pub message: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_stay_on_site() {
        assert_eq!(
            safe_return_url(Some("/account/apikeys")),
            "/account/apikeys"
        );
        assert_eq!(safe_return_url(Some("//evil.example")), "/");
        assert_eq!(safe_return_url(Some("https://evil.example")), "/");
        assert_eq!(safe_return_url(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_url(Some("/x?next=https://evil")), "/");
        assert_eq!(safe_return_url(Some("javascript:alert(1)")), "/");
        assert_eq!(safe_return_url(None), "/");
    }
}
