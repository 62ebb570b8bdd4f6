//! The request log: one line per request, formatted once when the request ends and appended to the
//! log's buffer by the request itself.
//!
//! A tracing span per request cost about a fifth of a cached read: the subscriber formatted the span's
//! fields into a string when it opened and again for each field recorded later, tracked it on every
//! poll, and walked it to format the line. Here the fields sit in a task-local while the request runs
//! ([`in_request`]); the line is written from them ([`served`]); and any other line logged meanwhile (a
//! warning, an error) carries them too ([`WithRequest`]), so every line of a request can be found by its
//! id. Both formats keep the shape the span gave them: `request{id=… method=… path=…}` in text, and a
//! `span` object in JSON.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::future::Future;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::MatchedPath;
use axum::http::{Method, Uri};
use serde::Serialize;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::BatchedStderr;
use crate::config::LogFormat;

/// The target request lines are logged under (what `NUGATE_LOG` filters them by).
const TARGET: &str = "nugate::app";

tokio::task_local! {
    static REQUEST: RefCell<RequestFields>;
}

/// Where request lines go: set by [`super::init`]; without it (tests, the CLI) they go nowhere.
static SINK: OnceLock<(BatchedStderr, LogFormat)> = OnceLock::new();

pub(super) fn set_sink(sink: BatchedStderr, format: LogFormat) {
    if SINK.set((sink, format)).is_err() {
        // A second `init`: the first logger stays, as tracing keeps its first global subscriber.
    }
}

/// What the log says about a request. The key and the route are filled in once known.
pub struct RequestFields {
    id: String,
    method: Method,
    /// The whole URI is kept (a cheap clone), but only its path is ever written: queries and headers,
    /// where keys travel, never reach the log.
    uri: Uri,
    client: Option<IpAddr>,
    route: Option<MatchedPath>,
    /// The key's name and lookup id, never its secret.
    key: Option<(String, String)>,
}

impl RequestFields {
    pub fn new(id: String, method: Method, uri: Uri, client: Option<IpAddr>) -> RequestFields {
        RequestFields {
            id,
            method,
            uri,
            client,
            route: None,
            key: None,
        }
    }
}

/// Runs `request` with `fields` as the request every line it logs is about.
pub async fn in_request<F: Future>(fields: RequestFields, request: F) -> F::Output {
    REQUEST.scope(RefCell::new(fields), request).await
}

/// Records the route template the request matched.
pub fn record_route(route: &MatchedPath) {
    with_fields(|fields| fields.route = Some(route.clone()));
}

/// The route template the running request matched, once recorded.
pub fn route() -> Option<MatchedPath> {
    REQUEST
        .try_with(|fields| fields.try_borrow().ok()?.route.clone())
        .ok()
        .flatten()
}

/// Records the API key the request was made with.
pub fn record_key(name: &str, lookup_id: &str) {
    with_fields(|fields| fields.key = Some((name.to_owned(), lookup_id.to_owned())));
}

fn with_fields(change: impl FnOnce(&mut RequestFields)) {
    let recorded = REQUEST.try_with(|fields| {
        if let Ok(mut fields) = fields.try_borrow_mut() {
            change(&mut fields);
        }
    });
    if recorded.is_err() {
        // Outside a request (a unit test calling a guard directly): nothing to record it on.
    }
}

/// Writes the request's line: its status and how long it took.
pub fn served(status: u16, took: Duration) {
    let Some((sink, format)) = SINK.get() else {
        return;
    };
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    let written = REQUEST.try_with(|fields| {
        let Ok(fields) = fields.try_borrow() else {
            return;
        };
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        let mut line = String::with_capacity(256);
        match format {
            LogFormat::Text => {
                timestamp(&mut line);
                line.push_str("  INFO ");
                text_fields(&fields, &mut line);
                let _ = writeln!(line, ": {TARGET}: served status={status} ms={ms}");
            }
            LogFormat::Json => {
                let entry = JsonLine {
                    timestamp: &timestamp_string(),
                    level: "INFO",
                    message: "served",
                    status,
                    ms,
                    target: TARGET,
                    span: JsonFields::of(&fields),
                };
                match serde_json::to_string(&entry) {
                    Ok(json) => line.push_str(&json),
                    Err(_) => return,
                }
                line.push('\n');
            }
        }
        sink.append(line.as_bytes());
    });
    if written.is_err() {
        // Not inside `in_request`: there is no request to describe.
    }
}

/// `request{id=… method=… path=… client=… route=… key=… key_id=…}`, as the text format writes a span.
fn text_fields(fields: &RequestFields, out: &mut String) {
    // Pieces pushed, not formatted: this runs for every request.
    out.push_str("request{id=");
    out.push_str(&fields.id);
    out.push_str(" method=");
    out.push_str(fields.method.as_str());
    out.push_str(" path=");
    out.push_str(fields.uri.path());
    if let Some(client) = fields.client {
        // Writing to a String cannot fail.
        let _ = write!(out, " client={client}");
    }
    if let Some(route) = &fields.route {
        out.push_str(" route=");
        out.push_str(route.as_str());
    }
    if let Some((name, lookup_id)) = &fields.key {
        out.push_str(" key=");
        push_quoted(name, out);
        out.push_str(" key_id=");
        push_quoted(lookup_id, out);
    }
    out.push('}');
}

/// `text` in double quotes, escaped as `{:?}` escapes it. Key names and ids rarely need escaping, and
/// a private feed writes them on every read: those are copied as they are.
fn push_quoted(text: &str, out: &mut String) {
    if text
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        let _ = write!(out, "{text:?}");
    }
}

/// A request line in the JSON format.
#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: &'a str,
    level: &'a str,
    message: &'a str,
    status: u16,
    ms: u64,
    target: &'a str,
    span: JsonFields<'a>,
}

/// The request's fields as the JSON format's `span` object.
#[derive(Serialize)]
struct JsonFields<'a> {
    id: &'a str,
    method: &'a str,
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
    name: &'a str,
}

impl<'a> JsonFields<'a> {
    fn of(fields: &'a RequestFields) -> JsonFields<'a> {
        JsonFields {
            id: &fields.id,
            method: fields.method.as_str(),
            path: fields.uri.path(),
            client: fields.client.map(|ip| ip.to_string()),
            route: fields.route.as_ref().map(MatchedPath::as_str),
            key: fields.key.as_ref().map(|(name, _)| name.as_str()),
            key_id: fields.key.as_ref().map(|(_, id)| id.as_str()),
            name: "request",
        }
    }
}

thread_local! {
    /// The last second formatted, so a busy thread formats each second once.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Now in RFC 3339 with microseconds (`2026-12-06T12:00:00.123456Z`), as tracing writes it.
fn timestamp(out: &mut String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            text.clear();
            if let Some(time) = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            {
                let _ = write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S"));
            }
            *cached = secs;
        }
        out.push_str(text);
    });
    let _ = write!(out, ".{:06}Z", now.subsec_micros());
}

fn timestamp_string() -> String {
    let mut text = String::with_capacity(27);
    timestamp(&mut text);
    text
}

/// The event format: `inner`'s line, plus the fields of the request it was logged in, if any.
pub(super) struct WithRequest<F> {
    pub(super) inner: F,
    pub(super) format: LogFormat,
}

impl<S, N, F> FormatEvent<S, N> for WithRequest<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut request = String::new();
        let in_request = REQUEST.try_with(|fields| {
            let Ok(fields) = fields.try_borrow() else {
                return;
            };
            match self.format {
                LogFormat::Text => text_fields(&fields, &mut request),
                LogFormat::Json => {
                    if let Ok(json) = serde_json::to_string(&JsonFields::of(&fields)) {
                        request = json;
                    }
                }
            }
        });
        if in_request.is_err() || request.is_empty() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let body = line.trim_end_matches('\n');
        match self.format {
            // The request after the message: `… message fields request{id=…}`.
            LogFormat::Text => writeln!(writer, "{body} {request}"),
            // The request as the line's `span` member, first.
            LogFormat::Json => match body.strip_prefix('{') {
                Some(rest) if rest.starts_with('}') => writeln!(writer, "{{\"span\":{request}}}"),
                Some(rest) => writeln!(writer, "{{\"span\":{request},{rest}"),
                None => writeln!(writer, "{body}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_quoted_as_debug_quotes_them() {
        for name in [
            "CI push",
            "",
            "say \"hi\"",
            "back\\slash",
            "line\nbreak",
            "Größe",
            "tab\there",
            "\u{7f}",
        ] {
            let mut quoted = String::new();
            push_quoted(name, &mut quoted);
            assert_eq!(quoted, format!("{name:?}"));
        }
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let text = timestamp_string();
        assert_eq!(text.len(), 27, "{text}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&text).is_ok(),
            "{text}"
        );
        // The cached second is reused, and still right.
        let again = timestamp_string();
        assert!(again >= text, "{again} after {text}");
    }

    #[tokio::test]
    async fn fields_are_recorded_in_the_request_and_written_in_both_shapes() {
        let fields = RequestFields::new(
            "abcdefghijkl".into(),
            Method::GET,
            "/v3/index.json?apikey=secret".parse().unwrap(),
            Some("127.0.0.1".parse().unwrap()),
        );
        let (text, json) = in_request(fields, async {
            // A route template comes only from a router.
            let mut router = axum::Router::new().route(
                "/v3/{file}",
                axum::routing::get(|route: MatchedPath| async move {
                    record_route(&route);
                }),
            );
            let request = axum::http::Request::get("/v3/index.json")
                .body(axum::body::Body::empty())
                .unwrap();
            tower_service::Service::call(&mut router, request)
                .await
                .unwrap();
            assert_eq!(route().unwrap().as_str(), "/v3/{file}");
            record_key("ci \"nightly\"", "k123");
            REQUEST.with(|fields| {
                let fields = fields.borrow();
                let mut text = String::new();
                text_fields(&fields, &mut text);
                (text, serde_json::to_value(JsonFields::of(&fields)).unwrap())
            })
        })
        .await;
        assert_eq!(
            text,
            "request{id=abcdefghijkl method=GET path=/v3/index.json client=127.0.0.1 \
             route=/v3/{file} key=\"ci \\\"nightly\\\"\" key_id=\"k123\"}"
        );
        assert_eq!(json["path"], "/v3/index.json");
        assert_eq!(json["key"], "ci \"nightly\"");
        assert_eq!(json["client"], "127.0.0.1");
        assert!(!json.to_string().contains("secret"));
        // Outside a request, recording is a no-op, not a panic.
        record_key("k", "id");
    }
}
