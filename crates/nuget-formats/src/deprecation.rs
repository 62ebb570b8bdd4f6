//! The fields of NuGet.org's deprecation API (`PUT api/v2/package/{id}/deprecations`), read the way
//! its model binding reads them: from the query string and from a form or JSON body, names matched
//! without regard to case, the version list as `versions[0]`, `versions[1]`, … (or repeated
//! `versions`, or a JSON array).

use serde::Deserialize;

/// Most versions one request may name.
pub const MAX_VERSIONS: usize = 1000;

/// What to do with the listing of the versions at the same time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListedVerb {
    /// Leave it.
    #[default]
    Unchanged,
    /// Unlist the versions.
    Unlist,
    /// Relist the versions.
    Relist,
}

impl ListedVerb {
    fn parse(text: &str) -> Result<ListedVerb, DeprecationRequestError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "unchanged" | "0" => Ok(ListedVerb::Unchanged),
            "unlist" | "1" => Ok(ListedVerb::Unlist),
            "relist" | "2" => Ok(ListedVerb::Relist),
            _ => Err(DeprecationRequestError::Value {
                field: "listedVerb",
                expected: "Unchanged, Unlist or Relist",
            }),
        }
    }
}

/// The request's fields; absent ones keep their defaults (no flag, no version).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeprecationFields {
    /// The versions to change, as sent.
    pub versions: Vec<String>,
    /// "Legacy": no longer maintained.
    pub is_legacy: bool,
    /// "CriticalBugs".
    pub has_critical_bugs: bool,
    /// "Other": the message says why.
    pub is_other: bool,
    /// The package to use instead.
    pub alternate_package_id: Option<String>,
    /// Its version, if one is recommended.
    pub alternate_package_version: Option<String>,
    /// The owner's message.
    pub message: Option<String>,
    /// Unlist or relist at the same time.
    pub listed_verb: ListedVerb,
}

/// Why a request's fields cannot be read; the text is sent back in the 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeprecationRequestError {
    /// The JSON body is not an object of the expected fields.
    #[error("The request body is not valid JSON for a deprecation: {0}")]
    Json(String),
    /// The form body or query is not UTF-8.
    #[error("The request body is not UTF-8 text.")]
    NotText,
    /// A field holds a value of the wrong kind.
    #[error("'{field}' must be {expected}.")]
    Value {
        /// The field's name.
        field: &'static str,
        /// What it may hold.
        expected: &'static str,
    },
    /// Too many versions.
    #[error("At most {MAX_VERSIONS} versions may be changed in one request.")]
    TooManyVersions,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonFields {
    #[serde(default)]
    versions: Option<Vec<String>>,
    #[serde(default)]
    is_legacy: Option<bool>,
    #[serde(default)]
    has_critical_bugs: Option<bool>,
    #[serde(default)]
    is_other: Option<bool>,
    #[serde(default)]
    alternate_package_id: Option<String>,
    #[serde(default)]
    alternate_package_version: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    listed_verb: Option<serde_json::Value>,
}

/// Reads the fields from `query` (without the `?`) and `body`, whose `content_type` says whether it is
/// JSON or a form; a body of any other type is ignored, as model binding ignores it.
pub fn parse_deprecation_request(
    query: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DeprecationFields, DeprecationRequestError> {
    let mut fields = DeprecationFields::default();
    let mut indexed = Vec::new();
    apply_pairs(&mut fields, &mut indexed, query.as_bytes())?;
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media == "application/json" || media.ends_with("+json") {
        apply_json(&mut fields, body)?;
    } else if media == "application/x-www-form-urlencoded" {
        apply_pairs(&mut fields, &mut indexed, body)?;
    }
    indexed.sort_by_key(|(index, _)| *index);
    fields
        .versions
        .extend(indexed.into_iter().map(|(_, version)| version));
    if fields.versions.len() > MAX_VERSIONS {
        return Err(DeprecationRequestError::TooManyVersions);
    }
    Ok(fields)
}

fn apply_json(fields: &mut DeprecationFields, body: &[u8]) -> Result<(), DeprecationRequestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let json: JsonFields = serde_json::from_slice(body).map_err(|e| {
        // serde's text may quote the input: cut by characters, never inside one.
        DeprecationRequestError::Json(e.to_string().chars().take(200).collect())
    })?;
    if let Some(versions) = json.versions {
        if versions.len() > MAX_VERSIONS {
            return Err(DeprecationRequestError::TooManyVersions);
        }
        fields.versions.extend(versions);
    }
    let flags = [
        (json.is_legacy, &mut fields.is_legacy),
        (json.has_critical_bugs, &mut fields.has_critical_bugs),
        (json.is_other, &mut fields.is_other),
    ];
    for (value, slot) in flags {
        if let Some(value) = value {
            *slot = value;
        }
    }
    let texts = [
        (json.alternate_package_id, &mut fields.alternate_package_id),
        (
            json.alternate_package_version,
            &mut fields.alternate_package_version,
        ),
        (json.message, &mut fields.message),
    ];
    for (value, slot) in texts {
        if value.is_some() {
            *slot = value;
        }
    }
    match json.listed_verb {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(text)) => fields.listed_verb = ListedVerb::parse(&text)?,
        Some(serde_json::Value::Number(n)) => {
            fields.listed_verb = ListedVerb::parse(&n.to_string())?
        }
        Some(_) => {
            return Err(DeprecationRequestError::Value {
                field: "listedVerb",
                expected: "Unchanged, Unlist or Relist",
            })
        }
    }
    Ok(())
}

fn apply_pairs(
    fields: &mut DeprecationFields,
    indexed: &mut Vec<(usize, String)>,
    text: &[u8],
) -> Result<(), DeprecationRequestError> {
    std::str::from_utf8(text).map_err(|_| DeprecationRequestError::NotText)?;
    for (name, value) in form_urlencoded::parse(text) {
        let name = name.to_ascii_lowercase();
        let value = value.into_owned();
        if let Some(index) = name
            .strip_prefix("versions[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            let index = index.parse().map_err(|_| DeprecationRequestError::Value {
                field: "versions",
                expected: "indexed as versions[0], versions[1], …",
            })?;
            indexed.push((index, value));
            if indexed.len() > MAX_VERSIONS {
                return Err(DeprecationRequestError::TooManyVersions);
            }
            continue;
        }
        match name.as_str() {
            "versions" => {
                fields.versions.push(value);
                if fields.versions.len() > MAX_VERSIONS {
                    return Err(DeprecationRequestError::TooManyVersions);
                }
            }
            "islegacy" => fields.is_legacy = flag("isLegacy", &value)?,
            "hascriticalbugs" => fields.has_critical_bugs = flag("hasCriticalBugs", &value)?,
            "isother" => fields.is_other = flag("isOther", &value)?,
            "alternatepackageid" => fields.alternate_package_id = Some(value),
            "alternatepackageversion" => fields.alternate_package_version = Some(value),
            "message" => fields.message = Some(value),
            "listedverb" => fields.listed_verb = ListedVerb::parse(&value)?,
            _ => {}
        }
    }
    Ok(())
}

/// A form flag: `true` or `false` in any case; a checkbox's `true,false` counts as its first value.
fn flag(field: &'static str, value: &str) -> Result<bool, DeprecationRequestError> {
    let first = value.split(',').next().unwrap_or_default().trim();
    if first.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if first.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(DeprecationRequestError::Value {
            field,
            expected: "true or false",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn indexed_form_versions_are_read_in_index_order() {
        let fields = parse_deprecation_request(
            "",
            FORM,
            b"versions%5B1%5D=2.0.0&versions[0]=1.0.0&IsLegacy=True&message=old+stuff&listedVerb=Unlist",
        )
        .unwrap();
        assert_eq!(fields.versions, ["1.0.0", "2.0.0"]);
        assert!(fields.is_legacy && !fields.has_critical_bugs && !fields.is_other);
        assert_eq!(fields.message.as_deref(), Some("old stuff"));
        assert_eq!(fields.listed_verb, ListedVerb::Unlist);
    }

    #[test]
    fn json_bodies_and_query_strings_both_count() {
        let fields = parse_deprecation_request(
            "hasCriticalBugs=true",
            JSON,
            br#"{"versions":["1.0.0"],"isOther":true,"message":"m","alternatePackageId":"New.Lib","alternatePackageVersion":"2.0.0","listedVerb":"Relist"}"#,
        )
        .unwrap();
        assert_eq!(fields.versions, ["1.0.0"]);
        assert!(fields.has_critical_bugs && fields.is_other && !fields.is_legacy);
        assert_eq!(fields.alternate_package_id.as_deref(), Some("New.Lib"));
        assert_eq!(fields.alternate_package_version.as_deref(), Some("2.0.0"));
        assert_eq!(fields.listed_verb, ListedVerb::Relist);
    }

    #[test]
    fn bad_values_say_which_field_and_what_it_may_hold() {
        let err = parse_deprecation_request("isLegacy=yes", None, b"").unwrap_err();
        assert_eq!(err.to_string(), "'isLegacy' must be true or false.");
        let err = parse_deprecation_request("listedVerb=Hide", None, b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "'listedVerb' must be Unchanged, Unlist or Relist."
        );
        let err = parse_deprecation_request("", JSON, b"{\"versions\": 3}").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("The request body is not valid JSON"));
        let quoted = format!("{{\"isLegacy\": \"x{}\"}}", "é".repeat(300));
        let err = parse_deprecation_request("", JSON, quoted.as_bytes()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("The request body is not valid JSON"));
        let many: String = (0..=MAX_VERSIONS)
            .map(|i| format!("versions[{i}]=1.0.{i}&"))
            .collect();
        assert_eq!(
            parse_deprecation_request("", FORM, many.as_bytes()),
            Err(DeprecationRequestError::TooManyVersions)
        );
    }

    #[test]
    fn other_bodies_are_ignored_and_checkboxes_read_their_first_value() {
        let fields =
            parse_deprecation_request("isOther=true,false", Some("text/plain"), b"isLegacy=true")
                .unwrap();
        assert!(fields.is_other && !fields.is_legacy);
    }
}
