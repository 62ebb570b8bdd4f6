//! What a V2 feed request asks for: the resource named in its path (`Packages(Id='…',Version='…')`,
//! `Search()`, …) and its query options, read into types; anything malformed is a 400 with a message.

use nuget_formats::odata::{
    parse_filter, parse_orderby, parse_select, parse_string_literal, Filter, OrderKey, Select,
};
use nuget_formats::NuGetVersion;

use crate::error::ApiError;

/// A resource of the feed, from the last segment of the path.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// `$metadata`: the EDMX schema.
    Metadata,
    /// `Packages(Id='…',Version='…')`: one entry.
    Entry { id: String, version: String },
    /// A collection of entries.
    Collection(Collection),
}

/// The feed's collections: the entity set and the three service operations clients call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Packages,
    Search,
    FindPackagesById,
    GetUpdates,
}

impl Collection {
    pub fn name(self) -> &'static str {
        match self {
            Collection::Packages => "Packages",
            Collection::Search => "Search",
            Collection::FindPackagesById => "FindPackagesById",
            Collection::GetUpdates => "GetUpdates",
        }
    }
}

impl Target {
    /// Reads the resource segment (already percent-decoded).
    pub fn parse(resource: &str) -> Result<Target, ApiError> {
        if resource == "$metadata" {
            return Ok(Target::Metadata);
        }
        let (name, args) = match resource.split_once('(') {
            Some((name, rest)) => (name, Some(rest)),
            None => (resource, None),
        };
        let collection = [
            Collection::Packages,
            Collection::Search,
            Collection::FindPackagesById,
            Collection::GetUpdates,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| unknown(resource))?;
        let args = match args {
            Some(rest) => Some(rest.strip_suffix(')').ok_or_else(|| {
                ApiError::BadRequest(format!("'{}' has no closing parenthesis.", clip(resource)))
            })?),
            None => None,
        };
        match args.map(str::trim) {
            None | Some("") => Ok(Target::Collection(collection)),
            Some(args) if collection == Collection::Packages => entry_key(args, resource),
            Some(_) => Err(ApiError::BadRequest(format!(
                "{}() takes its parameters in the query string, as in {}()?id='Contoso.Lib'.",
                collection.name(),
                collection.name()
            ))),
        }
    }
}

fn unknown(resource: &str) -> ApiError {
    ApiError::NotFound(format!(
        "'{}' is not a resource of this feed. It serves Packages, Packages(Id='…',Version='…'), Search(), \
         FindPackagesById(), GetUpdates() and $metadata.",
        clip(resource)
    ))
}

/// `Id='Contoso.Lib',Version='1.0.0'`, in either order.
fn entry_key(args: &str, resource: &str) -> Result<Target, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "'{}' is not a package key; write Packages(Id='Contoso.Lib',Version='1.0.0').",
            clip(resource)
        ))
    };
    let (mut id, mut version) = (None, None);
    for part in split_outside_quotes(args) {
        let (key, value) = part.split_once('=').ok_or_else(bad)?;
        let value = parse_string_literal(value.trim()).map_err(|_| bad())?;
        match key.trim() {
            k if k.eq_ignore_ascii_case("Id") && id.is_none() => id = Some(value),
            k if k.eq_ignore_ascii_case("Version") && version.is_none() => version = Some(value),
            _ => return Err(bad()),
        }
    }
    match (id, version) {
        (Some(id), Some(version)) => Ok(Target::Entry { id, version }),
        _ => Err(bad()),
    }
}

/// Splits on commas that are not inside a quoted string.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Shortens a client's text before it is quoted in a message.
pub fn clip(text: &str) -> String {
    const MAX: usize = 100;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// Largest `$skip` or `$top` accepted (a signed 32-bit integer, as NuGet.org's).
const MAX_NUMBER: usize = i32::MAX as usize;
/// Most IDs one `GetUpdates()` may ask about.
pub const MAX_UPDATE_IDS: usize = 1000;

/// The query options and service-operation parameters of a request.
#[derive(Debug)]
pub struct Options {
    pub filter: Option<Filter>,
    pub orderby: Vec<OrderKey>,
    pub select: Select,
    pub skip: usize,
    pub top: Option<usize>,
    /// `$inlinecount=allpages`.
    pub inline_count: bool,
    /// `semVerLevel=2.0.0` (or higher): SemVer 2 versions are shown.
    pub semver2: bool,
    /// `id` of `FindPackagesById()`.
    pub id: Option<String>,
    /// `searchTerm` of `Search()`.
    pub search_term: String,
    /// `includePrerelease` of `Search()` and `GetUpdates()`.
    pub include_prerelease: bool,
    /// `includeAllVersions` of `GetUpdates()`.
    pub include_all_versions: bool,
    /// `packageIds`, `versions` and `versionConstraints` of `GetUpdates()`, split on `|`.
    pub package_ids: Vec<String>,
    pub versions: Vec<String>,
    pub version_constraints: Vec<String>,
    /// Every parameter as received but `$skip` and `$top`, for the next page's link.
    pub passed_on: Vec<(String, String)>,
}

/// The system query options this feed answers; any other `$…` option is refused.
const SYSTEM_OPTIONS: [&str; 6] = [
    "$filter",
    "$orderby",
    "$select",
    "$skip",
    "$top",
    "$inlinecount",
];
/// The service operations' parameters; other names without `$` are ignored, as NuGet.org does.
const PARAMETERS: [&str; 10] = [
    "id",
    "searchTerm",
    "targetFramework",
    "includePrerelease",
    "packageIds",
    "versions",
    "includeAllVersions",
    "targetFrameworks",
    "versionConstraints",
    "semVerLevel",
];

impl Options {
    /// Reads the raw query string.
    pub fn parse(query: Option<&str>) -> Result<Options, ApiError> {
        let pairs: Vec<(String, String)> = match query {
            None | Some("") => Vec::new(),
            Some(q) => serde_html_form::from_str(q).map_err(|_| {
                ApiError::BadRequest("The query string is not valid URL encoding.".into())
            })?,
        };
        let mut options = Options {
            filter: None,
            orderby: Vec::new(),
            select: Select::All,
            skip: 0,
            top: None,
            inline_count: false,
            semver2: false,
            id: None,
            search_term: String::new(),
            include_prerelease: false,
            include_all_versions: false,
            package_ids: Vec::new(),
            versions: Vec::new(),
            version_constraints: Vec::new(),
            passed_on: Vec::new(),
        };
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in &pairs {
            let known = SYSTEM_OPTIONS
                .iter()
                .chain(PARAMETERS.iter())
                .find(|k| k.eq_ignore_ascii_case(name));
            let Some(&known) = known else {
                if name.starts_with('$') {
                    return Err(ApiError::BadRequest(format!(
                        "The query option '{}' is not supported; this feed answers $filter, $orderby, \
                         $select, $skip, $top and $inlinecount.",
                        clip(name)
                    )));
                }
                continue;
            };
            if seen.contains(&known) {
                return Err(ApiError::BadRequest(format!(
                    "The query option '{known}' is given more than once."
                )));
            }
            seen.push(known);
            if known != "$skip" && known != "$top" {
                options.passed_on.push((name.clone(), value.clone()));
            }
            options.read(known, value)?;
        }
        Ok(options)
    }

    fn read(&mut self, name: &'static str, value: &str) -> Result<(), ApiError> {
        let odata = |e: nuget_formats::ODataError| ApiError::BadRequest(e.to_string());
        match name {
            "$filter" => self.filter = Some(parse_filter(value).map_err(odata)?),
            "$orderby" => self.orderby = parse_orderby(value).map_err(odata)?,
            "$select" => self.select = parse_select(value).map_err(odata)?,
            "$skip" => self.skip = number(name, value)?,
            "$top" => self.top = Some(number(name, value)?),
            "$inlinecount" => {
                self.inline_count = match value {
                    "allpages" => true,
                    "none" => false,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "'$inlinecount' must be 'allpages' or 'none', not '{}'.",
                            clip(other)
                        )))
                    }
                }
            }
            "semVerLevel" => {
                self.semver2 = NuGetVersion::parse(value.trim()).is_ok_and(|v| v.major() >= 2)
            }
            "id" => self.id = Some(text(name, value)?),
            "searchTerm" => self.search_term = text(name, value)?,
            "includePrerelease" => self.include_prerelease = boolean(name, value)?,
            "includeAllVersions" => self.include_all_versions = boolean(name, value)?,
            "packageIds" => self.package_ids = list(name, value)?,
            "versions" => self.versions = list(name, value)?,
            "versionConstraints" => self.version_constraints = list(name, value)?,
            // Accepted and ignored: every package is offered whatever the framework, as on NuGet.org.
            _ => {
                text(name, value)?;
            }
        }
        Ok(())
    }
}

fn number(name: &str, value: &str) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_NUMBER)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{name}' must be a whole number from 0 to {MAX_NUMBER}, not '{}'.",
                clip(value)
            ))
        })
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ApiError::BadRequest(format!(
            "'{name}' must be true or false, not '{}'.",
            clip(other)
        ))),
    }
}

/// A string parameter: an OData literal (`'Contoso.Lib'`), or bare text as some clients send it.
fn text(name: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.starts_with('\'') {
        parse_string_literal(value)
            .map_err(|e| ApiError::BadRequest(format!("The parameter '{name}' is invalid: {e}")))
    } else {
        Ok(value.to_string())
    }
}

/// A `|`-separated list parameter (`'A|B'`); empty text is an empty list.
fn list(name: &str, value: &str) -> Result<Vec<String>, ApiError> {
    let value = text(name, value)?;
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<String> = value.split('|').map(|s| s.trim().to_string()).collect();
    if items.len() > MAX_UPDATE_IDS {
        return Err(ApiError::BadRequest(format!(
            "'{name}' lists more than {MAX_UPDATE_IDS} items."
        )));
    }
    Ok(items)
}

/// Percent-encodes a query string for a link, keeping OData's punctuation readable.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    fn encode(text: &str, out: &mut String) {
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~$'(),*:|".contains(&b) {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(name, &mut out);
        out.push('=');
        encode(value, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_read_as_clients_write_them() {
        assert_eq!(Target::parse("$metadata").ok(), Some(Target::Metadata));
        assert_eq!(
            Target::parse("Packages()").ok(),
            Some(Target::Collection(Collection::Packages))
        );
        assert_eq!(
            Target::parse("packages").ok(),
            Some(Target::Collection(Collection::Packages))
        );
        assert_eq!(
            Target::parse("Packages(Id='Contoso.Lib',Version='1.0.0')").ok(),
            Some(Target::Entry {
                id: "Contoso.Lib".into(),
                version: "1.0.0".into()
            })
        );
        assert_eq!(
            Target::parse("Packages(Version='1.0', Id='A')").ok(),
            Some(Target::Entry {
                id: "A".into(),
                version: "1.0".into()
            })
        );
        assert_eq!(
            Target::parse("FindPackagesById()").ok(),
            Some(Target::Collection(Collection::FindPackagesById))
        );
        for bad in [
            "Packages(Id='A')",
            "Packages(Id='A',Version='1',Id='B')",
            "Packages(Id=A,Version='1')",
            "Packages(Id='A',Version='1'",
            "Search('x')",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Target::parse("Nope()"),
            Err(ApiError::NotFound(_))
        ));
    }

    #[test]
    fn options_are_read_strictly() {
        let o = Options::parse(Some(
            "$filter=IsLatestVersion&$orderby=Id&searchTerm='json'&targetFramework=''\
             &includePrerelease=false&$skip=30&$top=30&semVerLevel=2.0.0&other=1",
        ))
        .unwrap();
        assert_eq!(o.search_term, "json");
        assert_eq!((o.skip, o.top), (30, Some(30)));
        assert!(o.semver2 && !o.include_prerelease);
        assert_eq!(o.passed_on.len(), 6);
        let refused = |q: &str| match Options::parse(Some(q)) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{q}: {other:?}"),
        };
        assert!(refused("$expand=Foo").contains("'$expand' is not supported"));
        assert!(refused("$top=-1").contains("whole number"));
        assert!(refused("$top=99999999999").contains("whole number"));
        assert!(
            refused("$filter=IsLatestVersion&$filter=IsLatestVersion").contains("more than once")
        );
        assert!(refused("includePrerelease=yes").contains("true or false"));
        assert!(refused("id='it's'").contains("'id' is invalid"));
        assert!(refused("$filter=substringof('a',Id)").contains("not supported at character 1"));
    }

    #[test]
    fn links_keep_odata_readable() {
        assert_eq!(
            encode_query(&[
                ("$filter".into(), "IsLatestVersion and Id eq 'a&b'".into()),
                ("searchTerm".into(), "'x y'".into())
            ]),
            "$filter=IsLatestVersion%20and%20Id%20eq%20'a%26b'&searchTerm='x%20y'"
        );
    }
}
