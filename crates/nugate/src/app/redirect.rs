//! `redirect_http_listen`: a plain-http listener that sends every request to the same path and query on
//! the https URL with a 308 (which, unlike a 301, makes clients repeat a PUT as a PUT).
//!
//! The target is `public_url` when set. Without it the host comes from the request's `Host` header (with
//! the https listener's port), since `listen` may be a wildcard address no client can use; a `Host`
//! that does not look like a host name falls back to the configured base URL.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::Config;
use crate::error::message_response;

/// Every path, every method: a 308 to https.
pub(super) fn router(config: &Config) -> Router {
    let public = config.public_url.clone();
    let fallback_base = config.base_url();
    let port = config.listen.port();
    Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let base = match &public {
            Some(url) => url.clone(),
            None => host_base(&headers, port).unwrap_or_else(|| fallback_base.clone()),
        };
        async move { redirect(&base, &uri) }
    })
}

/// `https://HOST[:port]` from the request's `Host` header, when it is a plain host name or address.
fn host_base(headers: &HeaderMap, port: u16) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    // Drop the port the client used for plain http; keep IPv6 brackets.
    let name = match host.rsplit_once(':') {
        Some((name, digits))
            if digits.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') =>
        {
            name
        }
        _ => host,
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
    if !valid {
        return None;
    }
    Some(if port == 443 {
        format!("https://{name}")
    } else {
        format!("https://{name}:{port}")
    })
}

fn redirect(base: &str, uri: &Uri) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let target = format!("{}{path}", base.trim_end_matches('/'));
    let mut response = message_response(
        StatusCode::PERMANENT_REDIRECT,
        &format!("This server speaks https: {target}"),
    );
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => message_response(StatusCode::BAD_REQUEST, "Bad request target.").into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn targets_the_https_port_of_the_host_asked_for() {
        assert_eq!(
            host_base(&host("nuget.example.com"), 443).as_deref(),
            Some("https://nuget.example.com")
        );
        assert_eq!(
            host_base(&host("nuget.example.com:80"), 5001).as_deref(),
            Some("https://nuget.example.com:5001")
        );
        assert_eq!(
            host_base(&host("[::1]:8080"), 5001).as_deref(),
            Some("https://[::1]:5001")
        );
        assert_eq!(host_base(&host("evil.com/x"), 443), None);
        assert_eq!(host_base(&HeaderMap::new(), 443), None);
        let response = redirect(
            "https://nuget.example.com/",
            &"/v3/index.json?x=1".parse().unwrap(),
        );
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://nuget.example.com/v3/index.json?x=1"
        );
    }
}
