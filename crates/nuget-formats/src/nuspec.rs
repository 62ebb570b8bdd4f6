//! The `.nuspec` manifest inside every package: the registry reads the ID,
//! version, dependencies and display metadata from it.
//!
//! Parsing is deliberately defensive because the bytes come from whoever
//! pushes a package: no DTDs, no custom entities, bounded nesting and
//! bounded field sizes. Namespaces are ignored (only local names matter)
//! because real packages use half a dozen schema URIs, or none.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use crate::id::{validate_id, IdError};
use crate::range::{RangeError, VersionRange};
use crate::version::{shorten, NuGetVersion, VersionError};

/// Longest package version accepted (as written, build metadata included), the limit NuGet.org
/// enforces: the version becomes part of file names in storage, which cannot be arbitrarily long.
pub const MAX_VERSION_LENGTH: usize = 64;
/// Longest parser message passed on: quick-xml quotes element names, which may be huge.
const MAX_XML_MESSAGE_CHARS: usize = 300;
/// Deepest element nesting accepted; real manifests need about five levels.
pub const MAX_DEPTH: usize = 64;
/// Longest text accepted for ordinary fields such as `title` or `tags`.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Longest text accepted for the free-form `description` and `releaseNotes`.
pub const MAX_LONG_FIELD_BYTES: usize = 1024 * 1024;

/// Why a `.nuspec` was refused; every message is meant for the person pushing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NuspecError {
    /// The bytes are not UTF-8 (the only encoding the registry accepts).
    #[error("The .nuspec is not valid UTF-8 text (invalid data at byte {offset}).")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A character XML 1.0 forbids (NUL and most control characters): no database or client can be
    /// trusted to store or show it.
    #[error(
        "The .nuspec contains a character that XML does not allow (U+{code:04X}) at byte {offset}."
    )]
    IllegalCharacter {
        /// The character's code point.
        code: u32,
        /// Its byte offset.
        offset: usize,
    },
    /// The file starts with a UTF-16 byte order mark.
    #[error("The .nuspec is encoded as UTF-16; only UTF-8 is supported.")]
    Utf16,
    /// DTDs are refused outright: they enable entity-expansion attacks.
    #[error("The .nuspec must not contain a DOCTYPE declaration.")]
    DocType,
    /// An entity other than the five predefined ones or a character reference.
    #[error("The .nuspec uses the undefined entity '&{0};'. Only &lt; &gt; &amp; &apos; &quot; and character references such as &#169; are allowed.")]
    UndefinedEntity(String),
    /// The document is not well-formed XML.
    #[error("The .nuspec is not well-formed XML: {0}.")]
    Xml(String),
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("The .nuspec nests elements more than {MAX_DEPTH} levels deep.")]
    TooDeep,
    /// A field's text exceeds its size limit.
    #[error("The '{element}' element of the .nuspec is longer than {limit} bytes.")]
    FieldTooLong {
        /// Local name of the offending element.
        element: String,
        /// The limit that applies to it.
        limit: usize,
    },
    /// The document element is not `<package>`.
    #[error("The .nuspec's root element is '{0}', but it must be 'package'.")]
    WrongRoot(String),
    /// `<package>` has no `<metadata>` child.
    #[error("The .nuspec has no 'metadata' element inside 'package'.")]
    MissingMetadata,
    /// One of `id`, `version`, `authors`, `description` is missing or empty.
    #[error("The .nuspec is missing the required element '{0}'.")]
    MissingElement(&'static str),
    /// The package ID is not a valid NuGet ID.
    #[error(transparent)]
    InvalidId(IdError),
    /// The package version does not parse.
    #[error(transparent)]
    InvalidVersion(VersionError),
    /// `minClientVersion` does not parse as a version.
    #[error("The minClientVersion attribute is invalid: {0}")]
    InvalidMinClientVersion(VersionError),
    /// A boolean element holds something other than `true` or `false`.
    #[error("The '{element}' element must be 'true' or 'false', not '{value}'.")]
    InvalidBool {
        /// Local name of the element.
        element: &'static str,
        /// Its (trimmed) text.
        value: String,
    },
    /// An element lacks an attribute it cannot do without.
    #[error(
        "A '{element}' element in the .nuspec is missing the required attribute '{attribute}'."
    )]
    MissingAttribute {
        /// Local name of the element.
        element: &'static str,
        /// Name of the missing attribute.
        attribute: &'static str,
    },
    /// `<license type="...">` is neither `expression` nor `file`.
    #[error("The license type '{0}' is not supported; use 'expression' or 'file'.")]
    InvalidLicenseType(String),
    /// A `<license>` element with no text.
    #[error("The 'license' element of the .nuspec is empty.")]
    EmptyLicense,
    /// A dependency's ID is invalid.
    #[error("The dependency ID '{id}' is invalid: {source}")]
    InvalidDependencyId {
        /// The ID as written.
        id: String,
        /// Why it is invalid.
        source: IdError,
    },
    /// A dependency's `version` attribute is not a valid range.
    #[error("The dependency '{id}' has an invalid version range: {source}")]
    InvalidDependencyRange {
        /// The dependency's ID.
        id: String,
        /// Why the range is invalid.
        source: RangeError,
    },
}

/// How the package is licensed: an SPDX expression or a file in the package.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct License {
    /// `"expression"` or `"file"` (lower-cased).
    pub kind: String,
    /// The SPDX expression or the path of the license file.
    pub value: String,
    /// The license expression syntax version, when given.
    pub version: Option<String>,
}

/// Source repository information, shown on the package page.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Repository {
    /// Repository kind, usually `git`.
    pub repo_type: Option<String>,
    /// Repository URL.
    pub url: Option<String>,
    /// Branch the package was built from.
    pub branch: Option<String>,
    /// Commit the package was built from.
    pub commit: Option<String>,
}

/// A package type such as `Dependency`, `DotnetTool` or `Template`; clients
/// filter searches by it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageType {
    /// The type name.
    pub name: String,
    /// The type's version, rarely given.
    pub version: Option<String>,
}

/// Dependencies that apply to one target framework (or to all, when `None`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DependencyGroup {
    /// The framework moniker, e.g. `net8.0`; `None` for framework-agnostic.
    pub target_framework: Option<String>,
    /// The dependencies in this group, in document order.
    pub dependencies: Vec<Dependency>,
}

/// One package dependency.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dependency {
    /// The dependency's package ID.
    pub id: String,
    /// Accepted versions; all versions when the attribute is missing.
    pub range: VersionRange,
    /// Asset types to include, as written.
    pub include: Option<String>,
    /// Asset types to exclude, as written.
    pub exclude: Option<String>,
}

/// A .NET Framework assembly reference, a legacy way of depending on the GAC.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrameworkAssembly {
    /// The assembly name.
    pub assembly_name: String,
    /// The framework(s) it applies to, as written.
    pub target_framework: Option<String>,
}

/// The parsed contents of a `.nuspec` `<metadata>` element.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nuspec {
    /// Package ID, validated with [`validate_id`].
    pub id: String,
    /// Package version.
    pub version: NuGetVersion,
    /// Comma-separated authors, as written.
    pub authors: String,
    /// Owners, a legacy field.
    pub owners: Option<String>,
    /// Display title.
    pub title: Option<String>,
    /// Long description (required).
    pub description: String,
    /// Short summary, a legacy field.
    pub summary: Option<String>,
    /// Release notes.
    pub release_notes: Option<String>,
    /// Tags, split on whitespace, commas and semicolons.
    pub tags: Vec<String>,
    /// Project home page.
    pub project_url: Option<String>,
    /// License URL, deprecated in favour of `license`.
    pub license_url: Option<String>,
    /// License expression or file.
    pub license: Option<License>,
    /// Icon URL, deprecated in favour of `icon`.
    pub icon_url: Option<String>,
    /// Path of the icon file inside the package.
    pub icon: Option<String>,
    /// Path of the readme file inside the package.
    pub readme: Option<String>,
    /// Copyright notice.
    pub copyright: Option<String>,
    /// Locale, e.g. `en-US`.
    pub language: Option<String>,
    /// Whether clients must prompt to accept the license.
    pub require_license_acceptance: bool,
    /// Whether the package is a development-only dependency.
    pub development_dependency: bool,
    /// Minimum NuGet client version needed (an attribute of `<metadata>`).
    pub min_client_version: Option<String>,
    /// Whether the package is serviceable, a legacy flag.
    pub serviceable: bool,
    /// Source repository information.
    pub repository: Option<Repository>,
    /// Package types; empty means the default `Dependency`.
    pub package_types: Vec<PackageType>,
    /// Dependency groups, flat legacy dependencies first as a `None` group.
    pub dependency_groups: Vec<DependencyGroup>,
    /// Framework assembly references.
    pub framework_assemblies: Vec<FrameworkAssembly>,
}

/// A minimal element tree: namespaces dropped, text concatenated.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// An attribute's trimmed value; empty counts as absent.
    fn attr(&self, name: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

fn xml_error(e: impl std::fmt::Display) -> NuspecError {
    let text = e.to_string();
    NuspecError::Xml(clip(text.trim_end_matches('.')))
}

/// Cuts a parser message so that hostile input quoted in it cannot make the error response huge.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_XML_MESSAGE_CHARS {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(MAX_XML_MESSAGE_CHARS).collect();
        short.push('…');
        short
    }
}

fn read_element(start: &BytesStart<'_>) -> Result<Element, NuspecError> {
    let mut element = Element {
        name: start.local_name().into_inner().to_string(),
        ..Element::default()
    };
    for attribute in start.attributes() {
        let attribute = attribute.map_err(xml_error)?;
        let key = attribute.key;
        if key.as_ref() == "xmlns" || key.prefix().is_some_and(|p| p.as_ref() == "xmlns") {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(
                    _,
                    name,
                )) => NuspecError::UndefinedEntity(shorten(&name)),
                other => xml_error(other),
            })?;
        element.attributes.push((
            key.local_name().into_inner().to_string(),
            value.into_owned(),
        ));
    }
    Ok(element)
}

/// Appends text to the innermost open element, refusing runaway sizes early.
fn push_text(stack: &mut [Element], text: &str) -> Result<(), NuspecError> {
    match stack.last_mut() {
        Some(current) => {
            if current.text.len() + text.len() > MAX_LONG_FIELD_BYTES {
                return Err(NuspecError::FieldTooLong {
                    element: current.name.clone(),
                    limit: MAX_LONG_FIELD_BYTES,
                });
            }
            current.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(NuspecError::Xml(
            "there is text outside the root element".to_string(),
        )),
    }
}

fn build_tree(text: &str) -> Result<Element, NuspecError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| {
            NuspecError::Xml(format!(
                "{} (at byte {})",
                clip(e.to_string().trim_end_matches('.')),
                reader.error_position()
            ))
        })?;
        match event {
            Event::DocType(_) => return Err(NuspecError::DocType),
            Event::Start(start) => {
                open_element(&stack, &root)?;
                stack.push(read_element(&start)?);
            }
            Event::Empty(start) => {
                open_element(&stack, &root)?;
                let element = read_element(&start)?;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .ok_or_else(|| NuspecError::Xml("unexpected closing tag".to_string()))?;
                attach(&mut stack, &mut root, done);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::CData(t) => push_text(&mut stack, &t.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match r.as_ref() {
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "amp" => "&".to_string(),
                        "apos" => "'".to_string(),
                        "quot" => "\"".to_string(),
                        other => return Err(NuspecError::UndefinedEntity(shorten(other))),
                    },
                    Err(e) => return Err(xml_error(e)),
                };
                push_text(&mut stack, &resolved)?;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(NuspecError::Xml(format!(
            "the element '{}' is never closed",
            shorten(&open.name)
        )));
    }
    root.ok_or_else(|| NuspecError::Xml("the document has no root element".to_string()))
}

/// Checks that a new element may start here.
fn open_element(stack: &[Element], root: &Option<Element>) -> Result<(), NuspecError> {
    if root.is_some() {
        return Err(NuspecError::Xml(
            "there is more than one root element".to_string(),
        ));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(NuspecError::TooDeep);
    }
    Ok(())
}

/// Adds a finished element to its parent, or makes it the root.
fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Decodes the raw bytes, refusing anything but UTF-8 (with optional BOM).
fn decode(xml: &[u8]) -> Result<&str, NuspecError> {
    if xml.starts_with(&[0xFF, 0xFE]) || xml.starts_with(&[0xFE, 0xFF]) {
        return Err(NuspecError::Utf16);
    }
    let xml = xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml);
    let text = std::str::from_utf8(xml).map_err(|e| NuspecError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    let illegal = |c: char| matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}');
    if let Some((offset, c)) = text.char_indices().find(|(_, c)| illegal(*c)) {
        return Err(NuspecError::IllegalCharacter {
            code: u32::from(c),
            offset,
        });
    }
    Ok(text)
}

/// Trimmed text of an optional element, `None` when absent or empty.
fn text_of(
    metadata: &Element,
    name: &'static str,
    limit: usize,
) -> Result<Option<String>, NuspecError> {
    let Some(element) = metadata.child(name) else {
        return Ok(None);
    };
    let text = element.text.trim();
    if text.len() > limit {
        return Err(NuspecError::FieldTooLong {
            element: name.to_string(),
            limit,
        });
    }
    Ok(Some(text.to_string()).filter(|t| !t.is_empty()))
}

fn required(metadata: &Element, name: &'static str, limit: usize) -> Result<String, NuspecError> {
    text_of(metadata, name, limit)?.ok_or(NuspecError::MissingElement(name))
}

fn boolean(metadata: &Element, name: &'static str) -> Result<bool, NuspecError> {
    let Some(element) = metadata.child(name) else {
        return Ok(false);
    };
    let value = element.text.trim();
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(NuspecError::InvalidBool {
            element: name,
            value: value.chars().take(100).collect(),
        })
    }
}

fn split_tags(tags: &str) -> Vec<String> {
    tags.split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_license(element: &Element) -> Result<License, NuspecError> {
    let kind = element.attr("type").ok_or(NuspecError::MissingAttribute {
        element: "license",
        attribute: "type",
    })?;
    let kind = kind.to_ascii_lowercase();
    if kind != "expression" && kind != "file" {
        return Err(NuspecError::InvalidLicenseType(shorten(&kind)));
    }
    let value = element.text.trim();
    if value.is_empty() {
        return Err(NuspecError::EmptyLicense);
    }
    if value.len() > MAX_FIELD_BYTES {
        return Err(NuspecError::FieldTooLong {
            element: "license".to_string(),
            limit: MAX_FIELD_BYTES,
        });
    }
    Ok(License {
        kind,
        value: value.to_string(),
        version: element.attr("version"),
    })
}

fn parse_dependency(element: &Element) -> Result<Dependency, NuspecError> {
    let id = element.attr("id").ok_or(NuspecError::MissingAttribute {
        element: "dependency",
        attribute: "id",
    })?;
    validate_id(&id).map_err(|source| NuspecError::InvalidDependencyId {
        id: crate::version::shorten(&id),
        source,
    })?;
    let range = match element.attr("version") {
        Some(text) => {
            VersionRange::parse(&text).map_err(|source| NuspecError::InvalidDependencyRange {
                id: id.clone(),
                source,
            })?
        }
        None => VersionRange::all(),
    };
    Ok(Dependency {
        id,
        range,
        include: element.attr("include"),
        exclude: element.attr("exclude"),
    })
}

fn parse_dependencies(element: &Element) -> Result<Vec<DependencyGroup>, NuspecError> {
    let mut flat = Vec::new();
    let mut groups = Vec::new();
    for child in &element.children {
        match child.name.as_str() {
            "dependency" => flat.push(parse_dependency(child)?),
            "group" => groups.push(DependencyGroup {
                target_framework: child.attr("targetFramework"),
                dependencies: child
                    .children_named("dependency")
                    .map(parse_dependency)
                    .collect::<Result<_, _>>()?,
            }),
            _ => {}
        }
    }
    if !flat.is_empty() {
        groups.insert(
            0,
            DependencyGroup {
                target_framework: None,
                dependencies: flat,
            },
        );
    }
    Ok(groups)
}

/// The `<metadata>` element of a `<package>` document.
fn metadata_of(root: &Element) -> Result<&Element, NuspecError> {
    if root.name != "package" {
        return Err(NuspecError::WrongRoot(
            root.name.chars().take(100).collect(),
        ));
    }
    root.child("metadata").ok_or(NuspecError::MissingMetadata)
}

/// The validated `id` and `version`.
fn identity(metadata: &Element) -> Result<(String, NuGetVersion), NuspecError> {
    let id = required(metadata, "id", MAX_FIELD_BYTES)?;
    validate_id(&id).map_err(NuspecError::InvalidId)?;
    let version_text = required(metadata, "version", MAX_FIELD_BYTES)?;
    let version = NuGetVersion::parse(&version_text).map_err(NuspecError::InvalidVersion)?;
    if version_text.chars().count() > MAX_VERSION_LENGTH {
        return Err(NuspecError::InvalidVersion(VersionError::invalid(
            &version_text,
            format!("a package version may be at most {MAX_VERSION_LENGTH} characters long"),
        )));
    }
    Ok((id, version))
}

/// The `<packageTypes>` list (empty when absent).
fn package_types(metadata: &Element) -> Result<Vec<PackageType>, NuspecError> {
    match metadata.child("packageTypes") {
        Some(types) => types
            .children_named("packageType")
            .map(|t| {
                Ok(PackageType {
                    name: t.attr("name").ok_or(NuspecError::MissingAttribute {
                        element: "packageType",
                        attribute: "name",
                    })?,
                    version: t.attr("version"),
                })
            })
            .collect(),
        None => Ok(Vec::new()),
    }
}

/// What identifies a package in a `.nuspec`: all a symbols package's manifest must carry (NuGet leaves
/// `authors` and other required fields of a package out of a `.snupkg`'s manifest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NuspecIdentity {
    /// Package ID, validated with [`validate_id`].
    pub id: String,
    /// Package version.
    pub version: NuGetVersion,
    /// `<packageTypes>` entries.
    pub package_types: Vec<PackageType>,
}

impl NuspecIdentity {
    /// Parses a `.nuspec` with the same defences as [`Nuspec::parse`], requiring only a valid `id` and
    /// `version`.
    pub fn parse(xml: &[u8]) -> Result<NuspecIdentity, NuspecError> {
        let root = build_tree(decode(xml)?)?;
        let metadata = metadata_of(&root)?;
        let (id, version) = identity(metadata)?;
        Ok(NuspecIdentity {
            id,
            version,
            package_types: package_types(metadata)?,
        })
    }
}

impl Nuspec {
    /// Parses and validates a `.nuspec` document.
    ///
    /// Accepts any (or no) XML namespace on `<package>`; refuses DTDs,
    /// custom entities, non-UTF-8 text, deep nesting and oversized fields.
    pub fn parse(xml: &[u8]) -> Result<Nuspec, NuspecError> {
        let root = build_tree(decode(xml)?)?;
        let metadata = metadata_of(&root)?;
        let (id, version) = identity(metadata)?;
        let authors = required(metadata, "authors", MAX_FIELD_BYTES)?;
        let description = required(metadata, "description", MAX_LONG_FIELD_BYTES)?;

        let min_client_version = match metadata.attr("minClientVersion") {
            Some(text) => {
                NuGetVersion::parse(&text).map_err(NuspecError::InvalidMinClientVersion)?;
                Some(text)
            }
            None => None,
        };

        let license = metadata.child("license").map(parse_license).transpose()?;
        let repository = metadata.child("repository").map(|r| Repository {
            repo_type: r.attr("type"),
            url: r.attr("url"),
            branch: r.attr("branch"),
            commit: r.attr("commit"),
        });
        let package_types = package_types(metadata)?;
        let dependency_groups = match metadata.child("dependencies") {
            Some(deps) => parse_dependencies(deps)?,
            None => Vec::new(),
        };
        let framework_assemblies = match metadata.child("frameworkAssemblies") {
            Some(assemblies) => assemblies
                .children_named("frameworkAssembly")
                .map(|a| {
                    Ok(FrameworkAssembly {
                        assembly_name: a.attr("assemblyName").ok_or(
                            NuspecError::MissingAttribute {
                                element: "frameworkAssembly",
                                attribute: "assemblyName",
                            },
                        )?,
                        target_framework: a.attr("targetFramework"),
                    })
                })
                .collect::<Result<_, NuspecError>>()?,
            None => Vec::new(),
        };

        Ok(Nuspec {
            id,
            version,
            authors,
            owners: text_of(metadata, "owners", MAX_FIELD_BYTES)?,
            title: text_of(metadata, "title", MAX_FIELD_BYTES)?,
            description,
            summary: text_of(metadata, "summary", MAX_FIELD_BYTES)?,
            release_notes: text_of(metadata, "releaseNotes", MAX_LONG_FIELD_BYTES)?,
            tags: text_of(metadata, "tags", MAX_FIELD_BYTES)?
                .map(|t| split_tags(&t))
                .unwrap_or_default(),
            project_url: text_of(metadata, "projectUrl", MAX_FIELD_BYTES)?,
            license_url: text_of(metadata, "licenseUrl", MAX_FIELD_BYTES)?,
            license,
            icon_url: text_of(metadata, "iconUrl", MAX_FIELD_BYTES)?,
            icon: text_of(metadata, "icon", MAX_FIELD_BYTES)?,
            readme: text_of(metadata, "readme", MAX_FIELD_BYTES)?,
            copyright: text_of(metadata, "copyright", MAX_FIELD_BYTES)?,
            language: text_of(metadata, "language", MAX_FIELD_BYTES)?,
            require_license_acceptance: boolean(metadata, "requireLicenseAcceptance")?,
            development_dependency: boolean(metadata, "developmentDependency")?,
            min_client_version,
            serviceable: boolean(metadata, "serviceable")?,
            repository,
            package_types,
            dependency_groups,
            framework_assemblies,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FULL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- a comment before the root -->
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata minClientVersion="3.3.0">
    <id>Contoso.Utility</id>
    <version>01.2.3-Beta.1+sha.abc</version>
    <title>Contoso &amp; Friends</title>
    <authors>Jane, John</authors>
    <owners>Contoso</owners>
    <requireLicenseAcceptance>TRUE</requireLicenseAcceptance>
    <developmentDependency>false</developmentDependency>
    <serviceable>True</serviceable>
    <license type="expression" version="1.0.0">MIT OR Apache-2.0</license>
    <licenseUrl>https://licenses.nuget.org/MIT</licenseUrl>
    <icon>images\icon.png</icon>
    <iconUrl>https://example.com/icon.png</iconUrl>
    <readme>docs/README.md</readme>
    <projectUrl>https://example.com/</projectUrl>
    <description>
      Utilities &lt;for&gt; &#169; &#x263A; things.
    </description>
    <summary>Short.</summary>
    <releaseNotes><![CDATA[Fixed <everything> & more.]]></releaseNotes>
    <copyright>Copyright 2024</copyright>
    <language>en-US</language>
    <tags>util  tools,helpers;;misc</tags>
    <repository type="git" url="https://github.com/contoso/utility" branch="main" commit="0123abcd" />
    <packageTypes>
      <packageType name="Dependency" />
      <packageType name="DotnetTool" version="1.0" />
    </packageTypes>
    <dependencies>
      <group targetFramework="net8.0">
        <dependency id="Newtonsoft.Json" version="13.0.1" exclude="Build,Analyzers" />
        <dependency id="Other" version="[1.0,2.0)" include="all" />
      </group>
      <group>
        <dependency id="Any.Version" />
      </group>
    </dependencies>
    <frameworkAssemblies>
      <frameworkAssembly assemblyName="System.Net" targetFramework="net40" />
      <frameworkAssembly assemblyName="System.Web" />
    </frameworkAssemblies>
    <unknownElement foo="bar">ignored</unknownElement>
  </metadata>
  <files>
    <file src="bin\*.dll" target="lib" />
  </files>
</package>"#;

    fn parse(s: &str) -> Result<Nuspec, NuspecError> {
        Nuspec::parse(s.as_bytes())
    }

    fn minimal(extra: &str) -> String {
        format!(
            "<package><metadata><id>A</id><version>1.0</version><authors>x</authors><description>d</description>{extra}</metadata></package>"
        )
    }

    #[test]
    fn control_characters_are_refused() {
        let xml = "<package><metadata><id>A</id><version>1.0.0</version><authors>x</authors><description>a\u{0}b</description></metadata></package>";
        assert!(matches!(
            Nuspec::parse(xml.as_bytes()),
            Err(NuspecError::IllegalCharacter { code: 0, .. })
        ));
        let tab = xml.replace('\u{0}', "\t");
        assert!(Nuspec::parse(tab.as_bytes()).is_ok());
    }

    #[test]
    fn full_nuspec_2013_05() {
        let n = parse(FULL).unwrap();
        assert_eq!(n.id, "Contoso.Utility");
        assert_eq!(n.version.full_string(), "1.2.3-Beta.1+sha.abc");
        assert_eq!(n.title.as_deref(), Some("Contoso & Friends"));
        assert_eq!(n.authors, "Jane, John");
        assert_eq!(n.owners.as_deref(), Some("Contoso"));
        assert!(n.require_license_acceptance);
        assert!(!n.development_dependency);
        assert!(n.serviceable);
        assert_eq!(
            n.license,
            Some(License {
                kind: "expression".into(),
                value: "MIT OR Apache-2.0".into(),
                version: Some("1.0.0".into())
            })
        );
        assert_eq!(
            n.license_url.as_deref(),
            Some("https://licenses.nuget.org/MIT")
        );
        assert_eq!(n.icon.as_deref(), Some("images\\icon.png"));
        assert_eq!(n.icon_url.as_deref(), Some("https://example.com/icon.png"));
        assert_eq!(n.readme.as_deref(), Some("docs/README.md"));
        assert_eq!(n.project_url.as_deref(), Some("https://example.com/"));
        assert_eq!(n.description, "Utilities <for> \u{a9} \u{263a} things.");
        assert_eq!(n.summary.as_deref(), Some("Short."));
        assert_eq!(
            n.release_notes.as_deref(),
            Some("Fixed <everything> & more.")
        );
        assert_eq!(n.copyright.as_deref(), Some("Copyright 2024"));
        assert_eq!(n.language.as_deref(), Some("en-US"));
        assert_eq!(n.tags, ["util", "tools", "helpers", "misc"]);
        assert_eq!(n.min_client_version.as_deref(), Some("3.3.0"));
        assert_eq!(
            n.repository,
            Some(Repository {
                repo_type: Some("git".into()),
                url: Some("https://github.com/contoso/utility".into()),
                branch: Some("main".into()),
                commit: Some("0123abcd".into()),
            })
        );
        assert_eq!(
            n.package_types,
            [
                PackageType {
                    name: "Dependency".into(),
                    version: None
                },
                PackageType {
                    name: "DotnetTool".into(),
                    version: Some("1.0".into())
                }
            ]
        );
        assert_eq!(n.dependency_groups.len(), 2);
        let net8 = &n.dependency_groups[0];
        assert_eq!(net8.target_framework.as_deref(), Some("net8.0"));
        assert_eq!(net8.dependencies[0].id, "Newtonsoft.Json");
        assert_eq!(net8.dependencies[0].range.normalized(), "[13.0.1, )");
        assert_eq!(
            net8.dependencies[0].exclude.as_deref(),
            Some("Build,Analyzers")
        );
        assert_eq!(net8.dependencies[1].range.normalized(), "[1.0.0, 2.0.0)");
        assert_eq!(net8.dependencies[1].include.as_deref(), Some("all"));
        let any = &n.dependency_groups[1];
        assert_eq!(any.target_framework, None);
        assert_eq!(any.dependencies[0].range, VersionRange::all());
        assert_eq!(
            n.framework_assemblies,
            [
                FrameworkAssembly {
                    assembly_name: "System.Net".into(),
                    target_framework: Some("net40".into())
                },
                FrameworkAssembly {
                    assembly_name: "System.Web".into(),
                    target_framework: None
                }
            ]
        );
    }

    #[test]
    fn any_namespace_or_none_gives_the_same_result() {
        let expected = parse(FULL).unwrap();
        for ns in [
            "",
            " xmlns=\"http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd\"",
            " xmlns=\"http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd\"",
            " xmlns=\"http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd\"",
            " xmlns=\"http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd\"",
            " xmlns=\"urn:something-else\"",
        ] {
            let doc = FULL.replace(
                " xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"",
                ns,
            );
            assert_eq!(parse(&doc).unwrap(), expected, "namespace {ns:?}");
        }
        // Prefixed elements are matched by local name too.
        let prefixed = "<n:package xmlns:n=\"urn:x\"><n:metadata><n:id>A</n:id><n:version>1.0</n:version><n:authors>x</n:authors><n:description>d</n:description></n:metadata></n:package>";
        assert_eq!(parse(prefixed).unwrap().id, "A");
    }

    #[test]
    fn minimal_defaults() {
        let n = parse(&minimal("")).unwrap();
        assert_eq!(n.version.normalized(), "1.0.0");
        assert!(n.tags.is_empty() && n.dependency_groups.is_empty());
        assert!(!n.require_license_acceptance && !n.serviceable);
        assert_eq!(n.title, None);
        assert_eq!(n.min_client_version, None);
        // BOM is accepted.
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(minimal("").as_bytes());
        assert!(Nuspec::parse(&bom).is_ok());
    }

    #[test]
    fn legacy_flat_dependencies() {
        let n = parse(&minimal(
            "<dependencies><dependency id=\"A.B\" version=\"1.0\"/><dependency id=\"C\" version=\"[2.0]\"/></dependencies>",
        ))
        .unwrap();
        assert_eq!(n.dependency_groups.len(), 1);
        assert_eq!(n.dependency_groups[0].target_framework, None);
        let deps = &n.dependency_groups[0].dependencies;
        assert_eq!(deps[0].id, "A.B");
        assert_eq!(deps[1].range.normalized(), "[2.0.0]");
    }

    #[test]
    fn bad_dependencies() {
        let err = parse(&minimal(
            "<dependencies><dependency id=\"Foo\" version=\"[2.0,1.0]\"/></dependencies>",
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("The dependency 'Foo' has an invalid version range: '[2.0,1.0]'"),
            "{err}"
        );
        let err = parse(&minimal(
            "<dependencies><dependency id=\"Bad Id\"/></dependencies>",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("'Bad Id'"), "{err}");
        let err = parse(&minimal(
            "<dependencies><dependency version=\"1.0\"/></dependencies>",
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "A 'dependency' element in the .nuspec is missing the required attribute 'id'."
        );
    }

    #[test]
    fn rejects_doctype_billion_laughs() {
        let doc = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<package><metadata><id>A</id><version>1.0</version><authors>&lol3;</authors><description>d</description></metadata></package>"#;
        let err = parse(doc).unwrap_err();
        assert_eq!(err, NuspecError::DocType);
        assert_eq!(
            err.to_string(),
            "The .nuspec must not contain a DOCTYPE declaration."
        );
    }

    #[test]
    fn rejects_unknown_entities() {
        let err = parse(&minimal("<title>&foo;</title>")).unwrap_err();
        assert_eq!(err, NuspecError::UndefinedEntity("foo".into()));
        let err = parse(&minimal("<repository url=\"&foo;\"/>")).unwrap_err();
        assert_eq!(err, NuspecError::UndefinedEntity("foo".into()));
    }

    #[test]
    fn missing_required_elements() {
        for (name, value) in [
            ("id", "A"),
            ("version", "1.0"),
            ("authors", "x"),
            ("description", "d"),
        ] {
            let element = format!("<{name}>{value}</{name}>");
            let expected = format!("The .nuspec is missing the required element '{name}'.");
            let absent = minimal("").replace(&element, "");
            assert_eq!(parse(&absent).unwrap_err().to_string(), expected);
            let blank = minimal("").replace(&element, &format!("<{name}> \n </{name}>"));
            assert_eq!(parse(&blank).unwrap_err().to_string(), expected);
        }
        assert_eq!(
            parse("<package/>").unwrap_err(),
            NuspecError::MissingMetadata
        );
        assert_eq!(
            parse("<metadata/>").unwrap_err(),
            NuspecError::WrongRoot("metadata".into())
        );
        assert_eq!(
            parse(&minimal("").replace("<description>d</description>", "<description/>"))
                .unwrap_err(),
            NuspecError::MissingElement("description")
        );
    }

    #[test]
    fn invalid_id_and_version_messages() {
        let doc = minimal("").replace("<id>A</id>", "<id>bad id</id>");
        assert!(parse(&doc)
            .unwrap_err()
            .to_string()
            .starts_with("The package ID 'bad id' contains invalid characters."));
        let doc = minimal("").replace("<version>1.0</version>", "<version>v1</version>");
        assert!(parse(&doc)
            .unwrap_err()
            .to_string()
            .starts_with("'v1' is not a valid version string"));
        let doc = minimal("").replace("<metadata>", "<metadata minClientVersion=\"x\">");
        assert!(matches!(
            parse(&doc),
            Err(NuspecError::InvalidMinClientVersion(_))
        ));
    }

    #[test]
    fn booleans() {
        let err = parse(&minimal("<serviceable>yes</serviceable>")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The 'serviceable' element must be 'true' or 'false', not 'yes'."
        );
        assert!(parse(&minimal(
            "<developmentDependency> FaLsE </developmentDependency>"
        ))
        .is_ok());
    }

    #[test]
    fn license_validation() {
        assert!(matches!(
            parse(&minimal("<license>MIT</license>")),
            Err(NuspecError::MissingAttribute { .. })
        ));
        assert_eq!(
            parse(&minimal("<license type=\"url\">x</license>")).unwrap_err(),
            NuspecError::InvalidLicenseType("url".into())
        );
        let n = parse(&minimal("<license type=\"File\">LICENSE.txt</license>")).unwrap();
        assert_eq!(n.license.unwrap().kind, "file");
    }

    #[test]
    fn malformed_xml() {
        for doc in [
            "",
            "not xml",
            "<package><metadata></package>",
            "<package>",
            "<package></package><package></package>",
            "<a><b></a></b>",
        ] {
            let err = parse(doc).unwrap_err();
            assert!(
                matches!(
                    err,
                    NuspecError::Xml(_) | NuspecError::WrongRoot(_) | NuspecError::MissingMetadata
                ),
                "{doc:?}: {err:?}"
            );
        }
        let err = parse("<package><metadata></package>")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("The .nuspec is not well-formed XML: "),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_encodings() {
        assert_eq!(
            Nuspec::parse(b"<package>\xff</package>").unwrap_err(),
            NuspecError::InvalidUtf8 { offset: 9 }
        );
        assert_eq!(
            Nuspec::parse(b"\xff\xfe<\0p\0").unwrap_err(),
            NuspecError::Utf16
        );
    }

    #[test]
    fn limits_depth_and_field_size() {
        let deep = format!(
            "<package>{}{}</package>",
            "<x>".repeat(100),
            "</x>".repeat(100)
        );
        assert_eq!(parse(&deep).unwrap_err(), NuspecError::TooDeep);
        let long_title = format!("<title>{}</title>", "t".repeat(MAX_FIELD_BYTES + 1));
        assert!(matches!(
            parse(&minimal(&long_title)).unwrap_err(),
            NuspecError::FieldTooLong { .. }
        ));
        let long_description = "d".repeat(MAX_FIELD_BYTES * 2);
        let doc = minimal("").replace(
            "<description>d</description>",
            &format!("<description>{long_description}</description>"),
        );
        assert_eq!(parse(&doc).unwrap().description.len(), MAX_FIELD_BYTES * 2);
    }

    /// Hostile input quoted in a message is shortened: the message goes back verbatim as the HTTP
    /// response (and reason phrase), so a huge name or number must not turn into a huge answer.
    #[test]
    fn messages_quoting_hostile_input_stay_short() {
        let huge = "x".repeat(200_000);
        let digits = "9".repeat(50_000);
        let zeros = "0".repeat(50_000);
        for doc in [
            minimal(&format!("<license type=\"{huge}\">MIT</license>")),
            minimal(&format!("<title>&{huge};</title>")),
            minimal(&format!(
                "<dependencies><dependency id=\"A&{huge};\" /></dependencies>"
            )),
            minimal(&format!("<{huge}>")),
            minimal(&format!("<{huge}></y>")),
            minimal("").replace(
                "<version>1.0</version>",
                &format!("<version>1.{digits}</version>"),
            ),
            minimal("").replace(
                "<version>1.0</version>",
                &format!("<version>1.0-0{zeros}</version>"),
            ),
            minimal(&format!(
                "<dependencies><dependency id=\"B\" version=\"[1.{digits}]\" /></dependencies>"
            )),
        ] {
            let message = parse(&doc).unwrap_err().to_string();
            assert!(
                message.len() < 1000,
                "{} bytes: {:.200}",
                message.len(),
                message
            );
        }
    }

    #[test]
    fn package_versions_longer_than_64_characters_are_refused() {
        let at_limit = format!("1.0.0-{}", "a".repeat(MAX_VERSION_LENGTH - 6));
        let doc = minimal("").replace(
            "<version>1.0</version>",
            &format!("<version>{at_limit}</version>"),
        );
        assert_eq!(
            parse(&doc).unwrap().version.to_string().len(),
            MAX_VERSION_LENGTH
        );
        let over = format!("{at_limit}b");
        let doc = minimal("").replace(
            "<version>1.0</version>",
            &format!("<version>{over}</version>"),
        );
        assert_eq!(
            parse(&doc).unwrap_err().to_string(),
            format!("'{over}' is not a valid version string: a package version may be at most 64 characters long.")
        );
        // Build metadata counts: the limit is on the version as written.
        let doc = minimal("").replace(
            "<version>1.0</version>",
            &format!("<version>1.0.0+{}</version>", "b".repeat(60)),
        );
        assert!(matches!(parse(&doc), Err(NuspecError::InvalidVersion(_))));
    }

    #[test]
    fn serde_round_trip_shape() {
        let n = parse(FULL).unwrap();
        // Versions and ranges serialise as strings, so any format works;
        // check the pieces through their own serde impls.
        let v: NuGetVersion =
            serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new("1.2.3-Beta.1+sha.abc"))
            .unwrap();
        assert_eq!(v, n.version);
        let r: VersionRange = serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
            serde::de::value::Error,
        >::new("[1.0.0, 2.0.0)"))
        .unwrap();
        assert_eq!(r, n.dependency_groups[0].dependencies[1].range);
    }
}
