//! Reading another feed's V3 documents: the service index (which resources it offers) and registration
//! documents (every version of an ID with its catalog entry), as a server reads an upstream feed.
//!
//! The documents come from a server this one does not control, so nothing in them is trusted: fields
//! of the wrong type are errors or skipped leaves, never panics, and the leaves are capped.

use serde_json::Value;

use crate::version::NuGetVersion;

/// Most leaves read from one document.
pub const MAX_LEAVES: usize = 100_000;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// Not JSON at all.
    #[error("it is not JSON ({0})")]
    NotJson(String),
    /// JSON, but not the document expected.
    #[error("{0}")]
    Shape(&'static str),
}

/// The resources of a service index, as (`@type`, `@id`) pairs in document order.
pub fn service_resources(body: &[u8]) -> Result<Vec<(String, String)>, RegistrationError> {
    let index: Value =
        serde_json::from_slice(body).map_err(|e| RegistrationError::NotJson(e.to_string()))?;
    let resources = index["resources"]
        .as_array()
        .ok_or(RegistrationError::Shape(
            "the service index has no resources",
        ))?;
    Ok(resources
        .iter()
        .filter_map(|r| {
            let id = r["@id"].as_str()?;
            // `@type` is a string, or (on some servers) a list of strings.
            let types: Vec<&str> = match &r["@type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            Some(
                types
                    .into_iter()
                    .map(|t| (t.to_string(), id.to_string()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect())
}

/// The `@id` of the first resource of the first type in `preferred` that the index lists.
pub fn find_resource<'a>(resources: &'a [(String, String)], preferred: &[&str]) -> Option<&'a str> {
    preferred.iter().find_map(|wanted| {
        resources
            .iter()
            .find(|(t, _)| t == wanted)
            .map(|(_, id)| id.as_str())
    })
}

/// One version a registration lists.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegistrationLeaf {
    /// The normalised version.
    pub version: String,
    /// Whether the version is listed (true when the entry does not say).
    pub listed: bool,
    /// The leaf's `catalogEntry`, without its `@id` and `packageContent` (links into the other feed).
    pub entry: Value,
}

/// A page of a registration index: its leaves inline, or the URL of a page document to fetch.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistrationPage {
    /// The leaves, read.
    Inline(Vec<RegistrationLeaf>),
    /// The page document's URL.
    Remote(String),
}

/// Reads a registration index into its pages.
pub fn parse_registration_index(body: &[u8]) -> Result<Vec<RegistrationPage>, RegistrationError> {
    let index: Value =
        serde_json::from_slice(body).map_err(|e| RegistrationError::NotJson(e.to_string()))?;
    let pages = index["items"].as_array().ok_or(RegistrationError::Shape(
        "the registration index has no items",
    ))?;
    pages
        .iter()
        .map(|page| match page["items"].as_array() {
            Some(items) => Ok(RegistrationPage::Inline(leaves(items))),
            None => page["@id"]
                .as_str()
                .map(|url| RegistrationPage::Remote(url.to_string()))
                .ok_or(RegistrationError::Shape(
                    "a registration page has neither items nor @id",
                )),
        })
        .collect()
}

/// Reads the leaves of a registration page document.
pub fn parse_registration_page(body: &[u8]) -> Result<Vec<RegistrationLeaf>, RegistrationError> {
    let page: Value =
        serde_json::from_slice(body).map_err(|e| RegistrationError::NotJson(e.to_string()))?;
    page["items"]
        .as_array()
        .map(|items| leaves(items))
        .ok_or(RegistrationError::Shape("a registration page has no items"))
}

/// The readable leaves among `items`: an entry without a valid version is skipped.
fn leaves(items: &[Value]) -> Vec<RegistrationLeaf> {
    items.iter().take(MAX_LEAVES).filter_map(leaf).collect()
}

fn leaf(item: &Value) -> Option<RegistrationLeaf> {
    let mut entry = item.get("catalogEntry")?.clone();
    let version = NuGetVersion::parse(entry.get("version")?.as_str()?).ok()?;
    let listed = entry.get("listed").and_then(Value::as_bool).unwrap_or(true);
    let map = entry.as_object_mut()?;
    map.remove("@id");
    map.remove("packageContent");
    Some(RegistrationLeaf {
        version: version.normalized(),
        listed,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inline_and_remote_pages_and_skips_unreadable_leaves() {
        let index = br#"{"items": [
            {"@id": "https://x/p1", "items": [
                {"catalogEntry": {"@id": "https://x/e", "id": "A", "version": "1.0.0.0", "listed": false,
                                  "packageContent": "https://x/a.nupkg"}},
                {"catalogEntry": {"id": "A", "version": "not a version"}},
                {"catalogEntry": "https://x/catalog/a.2.0.0.json"},
                {"nothing": 1}
            ]},
            {"@id": "https://x/page/3.0.0/4.0.0"}
        ]}"#;
        let pages = parse_registration_index(index).unwrap();
        assert_eq!(pages.len(), 2);
        let RegistrationPage::Inline(leaves) = &pages[0] else {
            panic!("inline page expected")
        };
        assert_eq!(leaves.len(), 1);
        assert_eq!(leaves[0].version, "1.0.0");
        assert!(!leaves[0].listed);
        assert!(leaves[0].entry.get("@id").is_none());
        assert!(leaves[0].entry.get("packageContent").is_none());
        assert_eq!(
            pages[1],
            RegistrationPage::Remote("https://x/page/3.0.0/4.0.0".into())
        );
        let page = parse_registration_page(
            br#"{"items": [{"catalogEntry": {"id": "A", "version": "3.0.0-Beta+sha"}}]}"#,
        )
        .unwrap();
        assert_eq!(page[0].version, "3.0.0-Beta");
        assert!(page[0].listed);
    }

    #[test]
    fn refuses_what_is_not_a_registration() {
        assert!(matches!(
            parse_registration_index(b"<html>"),
            Err(RegistrationError::NotJson(_))
        ));
        assert!(parse_registration_index(br#"{"items": 3}"#).is_err());
        assert!(parse_registration_index(br#"{"items": [{"count": 1}]}"#).is_err());
        assert!(parse_registration_page(br#"[]"#).is_err());
    }

    #[test]
    fn finds_the_preferred_resource() {
        let resources = service_resources(
            br#"{"version": "3.0.0", "resources": [
                {"@id": "https://x/reg/", "@type": "RegistrationsBaseUrl"},
                {"@id": "https://x/reg-gz-semver2/", "@type": ["RegistrationsBaseUrl/3.6.0", "Other"]},
                {"@id": "https://x/flat/", "@type": "PackageBaseAddress/3.0.0"},
                {"@type": "NoId"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            find_resource(
                &resources,
                &["RegistrationsBaseUrl/3.6.0", "RegistrationsBaseUrl"]
            ),
            Some("https://x/reg-gz-semver2/")
        );
        assert_eq!(
            find_resource(&resources, &["PackageBaseAddress/3.0.0"]),
            Some("https://x/flat/")
        );
        assert_eq!(find_resource(&resources, &["SearchQueryService"]), None);
        assert!(service_resources(br#"{"resources": {}}"#).is_err());
    }
}
