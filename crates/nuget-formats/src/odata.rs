//! The OData query options of NuGet's V2 feed: the `$filter`, `$orderby` and `$select` subset that NuGet
//! clients send (nuget.exe 2.x, NuGet.Protocol's V2 feed parser in nuget.exe 3–6 and Chocolatey,
//! PowerShellGet's NuGet provider), the string literals of the feed's function parameters, and the
//! properties of its one entity type, `V2FeedPackage`.
//!
//! Anything outside the subset is refused with a message that says where and what was expected, never
//! evaluated loosely: an unknown construct would otherwise match everything or nothing without a word.
//! Inputs are bounded in length, nesting and number of terms, so refusing a hostile query costs little.
//!
//! The grammar (keywords, functions and property names match in any case; spaces separate tokens):
//!
//! ```text
//! filter  := or
//! or      := and ("or" and)*
//! and     := primary ("and" primary)*
//! primary := "(" or ")" | "IsLatestVersion" | "IsAbsoluteLatestVersion" | field "eq" literal
//! field   := "Id" | "tolower" "(" "Id" ")" | "Version"
//! literal := "'" (any character, "''" for a quote)* "'"
//! orderby := key ("," key)*          key := property ("asc" | "desc")?
//! select  := "*" | property ("," property)*
//! ```
//!
//! ```
//! use nuget_formats::odata::{parse_filter, parse_orderby, Property};
//!
//! let filter = parse_filter("(tolower(Id) eq 'contoso.lib') and IsLatestVersion").unwrap();
//! assert_eq!(filter.pinned_id(), Some("contoso.lib"));
//! let order = parse_orderby("DownloadCount desc,Id").unwrap();
//! assert_eq!(order[0].property, Property::DownloadCount);
//! assert!(order[0].descending);
//! assert!(parse_filter("substringof('x', Id)").is_err());
//! ```

use crate::version::NuGetVersion;

/// Longest `$filter`, `$orderby` or `$select` accepted, in characters. nuget.exe 2.x sends a query as a
/// batch once its URL reaches 2048 characters, so no client's expression comes near it.
pub const MAX_EXPRESSION_CHARS: usize = 2048;
/// Deepest parenthesis nesting accepted in `$filter`.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons and flags one `$filter` may hold.
pub const MAX_TERMS: usize = 64;
/// Most keys one `$orderby` may hold.
pub const MAX_ORDER_KEYS: usize = 8;
/// Longest piece of the input quoted back in an error message.
const MAX_QUOTED_CHARS: usize = 40;

/// What the `$filter` subset allows, for error messages.
pub const FILTER_SUBSET: &str =
    "IsLatestVersion, IsAbsoluteLatestVersion, Id eq '…', tolower(Id) eq '…' \
     and Version eq '…', combined with and, or and parentheses";

/// Why a query option was refused; the message is meant for the person who typed or wrote the query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ODataError {
    /// The option is longer than [`MAX_EXPRESSION_CHARS`].
    #[error("The {option} query option is longer than {limit} characters.")]
    TooLong {
        /// The option's name, such as `$filter`.
        option: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The option is present but holds nothing.
    #[error("The {option} query option is empty.")]
    Empty {
        /// The option's name.
        option: &'static str,
    },
    /// Parentheses nest deeper than [`MAX_DEPTH`].
    #[error("The $filter query option nests parentheses more than {MAX_DEPTH} levels deep.")]
    TooDeep,
    /// More than [`MAX_TERMS`] comparisons, or more than [`MAX_ORDER_KEYS`] sort keys.
    #[error("The {option} query option has more than {limit} terms.")]
    TooManyTerms {
        /// The option's name.
        option: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A string literal is not closed.
    #[error("The {option} query option has a string that is never closed (it starts at character {at}).")]
    UnterminatedString {
        /// The option's name.
        option: &'static str,
        /// 1-based character position of the opening quote.
        at: usize,
    },
    /// Something outside the supported subset.
    #[error("The {option} query option is not supported at character {at}: expected {expected}, found {found}. Supported: {supported}.")]
    Unsupported {
        /// The option's name.
        option: &'static str,
        /// 1-based character position of what was found.
        at: usize,
        /// What the grammar allows there.
        expected: &'static str,
        /// What was there instead, quoted and shortened.
        found: String,
        /// The whole subset, in words.
        supported: &'static str,
    },
    /// A function parameter that must be an OData string is not one.
    #[error("The value {found} is not a quoted OData string such as 'Contoso.Lib' (a quote inside is written twice).")]
    NotAString {
        /// The value, quoted and shortened.
        found: String,
    },
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `IsLatestVersion`: the highest listed stable version of its ID.
    IsLatestVersion,
    /// `IsAbsoluteLatestVersion`: the highest listed version of its ID, prerelease included.
    IsAbsoluteLatestVersion,
    /// `Id eq '…'`: the ID, compared in any case (as NuGet.org's database collation does).
    IdEquals(String),
    /// `tolower(Id) eq '…'`: the lower-cased ID equals the literal exactly.
    LowerIdEquals(String),
    /// `Version eq '…'`: the version, compared as NuGet versions when the literal is one (`1.0` equals
    /// `1.0.0`), else as text in any case.
    VersionEquals {
        /// The literal as written.
        written: String,
        /// Its normalised form, when it parses as a version.
        normalized: Option<String>,
    },
    /// Every part holds.
    And(Vec<Filter>),
    /// Some part holds.
    Or(Vec<Filter>),
}

/// What a [`Filter`] looks at in one package version.
pub trait FilterSubject {
    /// The package ID.
    fn id(&self) -> &str;
    /// The version's normalised text (`1.0.0`, `1.0.0-beta.1`).
    fn normalized_version(&self) -> &str;
    /// Whether it is the latest listed stable version the client sees.
    fn is_latest_version(&self) -> bool;
    /// Whether it is the latest listed version the client sees, prerelease included.
    fn is_absolute_latest_version(&self) -> bool;
}

impl Filter {
    /// Whether `subject` satisfies the filter.
    pub fn matches(&self, subject: &impl FilterSubject) -> bool {
        match self {
            Filter::IsLatestVersion => subject.is_latest_version(),
            Filter::IsAbsoluteLatestVersion => subject.is_absolute_latest_version(),
            Filter::IdEquals(id) => {
                let subject = subject.id();
                if subject.is_ascii() && id.is_ascii() {
                    subject.eq_ignore_ascii_case(id)
                } else {
                    subject.to_lowercase() == id.to_lowercase()
                }
            }
            Filter::LowerIdEquals(id) => {
                let subject = subject.id();
                if subject.is_ascii() {
                    !id.bytes().any(|b| b.is_ascii_uppercase()) && subject.eq_ignore_ascii_case(id)
                } else {
                    subject.to_lowercase() == *id
                }
            }
            Filter::VersionEquals {
                written,
                normalized,
            } => match normalized {
                Some(n) => subject.normalized_version().eq_ignore_ascii_case(n),
                None => subject.normalized_version().eq_ignore_ascii_case(written),
            },
            Filter::And(parts) => parts.iter().all(|p| p.matches(subject)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(subject)),
        }
    }

    /// The ID every match must have, when the filter pins one (so a server can look that ID up instead of
    /// scanning every package). Compare in any case: `tolower(Id) eq 'X'` pins `X` and matches nothing.
    pub fn pinned_id(&self) -> Option<&str> {
        match self {
            Filter::IdEquals(id) | Filter::LowerIdEquals(id) => Some(id),
            Filter::And(parts) => parts.iter().find_map(Filter::pinned_id),
            Filter::Or(parts) => {
                let first = parts.first()?.pinned_id()?;
                parts
                    .iter()
                    .all(|p| {
                        p.pinned_id()
                            .is_some_and(|id| id.eq_ignore_ascii_case(first))
                    })
                    .then_some(first)
            }
            _ => None,
        }
    }

    /// Whether every match must have one particular version (`… and Version eq '1.0'`): such a query asks
    /// for an exact version, which a server resolves even when it is unlisted.
    pub fn pins_version(&self) -> bool {
        match self {
            Filter::VersionEquals { .. } => true,
            Filter::And(parts) => parts.iter().any(Filter::pins_version),
            Filter::Or(parts) => !parts.is_empty() && parts.iter().all(Filter::pins_version),
            _ => false,
        }
    }
}

/// One property of NuGet's `V2FeedPackage` entity, in the order NuGet.org lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Property {
    Id,
    Version,
    NormalizedVersion,
    Authors,
    Copyright,
    Created,
    Dependencies,
    Description,
    DownloadCount,
    GalleryDetailsUrl,
    IconUrl,
    IsLatestVersion,
    IsAbsoluteLatestVersion,
    IsPrerelease,
    Language,
    LastUpdated,
    Published,
    PackageHash,
    PackageHashAlgorithm,
    PackageSize,
    ProjectUrl,
    ReportAbuseUrl,
    ReleaseNotes,
    RequireLicenseAcceptance,
    Summary,
    Tags,
    Title,
    VersionDownloadCount,
    MinClientVersion,
    LastEdited,
    LicenseUrl,
    LicenseNames,
    LicenseReportUrl,
}

impl Property {
    /// Every property, in NuGet.org's order.
    pub const ALL: [Property; 33] = [
        Property::Id,
        Property::Version,
        Property::NormalizedVersion,
        Property::Authors,
        Property::Copyright,
        Property::Created,
        Property::Dependencies,
        Property::Description,
        Property::DownloadCount,
        Property::GalleryDetailsUrl,
        Property::IconUrl,
        Property::IsLatestVersion,
        Property::IsAbsoluteLatestVersion,
        Property::IsPrerelease,
        Property::Language,
        Property::LastUpdated,
        Property::Published,
        Property::PackageHash,
        Property::PackageHashAlgorithm,
        Property::PackageSize,
        Property::ProjectUrl,
        Property::ReportAbuseUrl,
        Property::ReleaseNotes,
        Property::RequireLicenseAcceptance,
        Property::Summary,
        Property::Tags,
        Property::Title,
        Property::VersionDownloadCount,
        Property::MinClientVersion,
        Property::LastEdited,
        Property::LicenseUrl,
        Property::LicenseNames,
        Property::LicenseReportUrl,
    ];

    /// The property's name as the feed spells it.
    pub fn name(self) -> &'static str {
        match self {
            Property::Id => "Id",
            Property::Version => "Version",
            Property::NormalizedVersion => "NormalizedVersion",
            Property::Authors => "Authors",
            Property::Copyright => "Copyright",
            Property::Created => "Created",
            Property::Dependencies => "Dependencies",
            Property::Description => "Description",
            Property::DownloadCount => "DownloadCount",
            Property::GalleryDetailsUrl => "GalleryDetailsUrl",
            Property::IconUrl => "IconUrl",
            Property::IsLatestVersion => "IsLatestVersion",
            Property::IsAbsoluteLatestVersion => "IsAbsoluteLatestVersion",
            Property::IsPrerelease => "IsPrerelease",
            Property::Language => "Language",
            Property::LastUpdated => "LastUpdated",
            Property::Published => "Published",
            Property::PackageHash => "PackageHash",
            Property::PackageHashAlgorithm => "PackageHashAlgorithm",
            Property::PackageSize => "PackageSize",
            Property::ProjectUrl => "ProjectUrl",
            Property::ReportAbuseUrl => "ReportAbuseUrl",
            Property::ReleaseNotes => "ReleaseNotes",
            Property::RequireLicenseAcceptance => "RequireLicenseAcceptance",
            Property::Summary => "Summary",
            Property::Tags => "Tags",
            Property::Title => "Title",
            Property::VersionDownloadCount => "VersionDownloadCount",
            Property::MinClientVersion => "MinClientVersion",
            Property::LastEdited => "LastEdited",
            Property::LicenseUrl => "LicenseUrl",
            Property::LicenseNames => "LicenseNames",
            Property::LicenseReportUrl => "LicenseReportUrl",
        }
    }

    /// The property's EDM type: `Edm.String` unless said otherwise.
    pub fn edm_type(self) -> &'static str {
        match self {
            Property::Created
            | Property::LastUpdated
            | Property::Published
            | Property::LastEdited => "Edm.DateTime",
            Property::DownloadCount | Property::VersionDownloadCount => "Edm.Int32",
            Property::PackageSize => "Edm.Int64",
            Property::IsLatestVersion
            | Property::IsAbsoluteLatestVersion
            | Property::IsPrerelease
            | Property::RequireLicenseAcceptance => "Edm.Boolean",
            _ => "Edm.String",
        }
    }

    /// Whether the property may be null (`m:null="true"`); NuGet.org's non-nullable ones are the keys,
    /// the numbers, the flags and most dates.
    pub fn nullable(self) -> bool {
        match self {
            Property::Id | Property::Version => false,
            Property::LastEdited => true,
            _ => self.edm_type() == "Edm.String",
        }
    }

    /// A property by name, in any case.
    pub fn from_name(name: &str) -> Option<Property> {
        Property::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether results may be sorted by it.
    pub fn sortable(self) -> bool {
        matches!(
            self,
            Property::Id
                | Property::Version
                | Property::NormalizedVersion
                | Property::Title
                | Property::DownloadCount
                | Property::VersionDownloadCount
                | Property::Published
                | Property::Created
                | Property::LastUpdated
                | Property::LastEdited
        )
    }
}

/// One `$orderby` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    /// What to sort by.
    pub property: Property,
    /// `desc` was given.
    pub descending: bool,
}

/// A parsed `$select`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// `*`, or no `$select` at all.
    All,
    /// These properties only, in the order given, without repeats.
    Only(Vec<Property>),
}

impl Select {
    /// Whether `property` is part of the answer.
    pub fn includes(&self, property: Property) -> bool {
        match self {
            Select::All => true,
            Select::Only(properties) => properties.contains(&property),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
    Comma,
    Star,
}

/// A token and its 1-based character position.
struct Lexed {
    token: Token,
    at: usize,
}

fn quoted(text: &str) -> String {
    let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    if text.chars().count() > MAX_QUOTED_CHARS {
        short.push('…');
    }
    format!("'{short}'")
}

fn describe(token: Option<&Lexed>) -> String {
    match token.map(|t| &t.token) {
        None => "the end of the expression".to_string(),
        Some(Token::Word(w)) => quoted(w),
        Some(Token::Text(t)) => format!("the string {}", quoted(t)),
        Some(Token::Open) => "'('".to_string(),
        Some(Token::Close) => "')'".to_string(),
        Some(Token::Comma) => "','".to_string(),
        Some(Token::Star) => "'*'".to_string(),
    }
}

/// Checks the option's size, then splits it into tokens.
fn lex(
    option: &'static str,
    text: &str,
    supported: &'static str,
) -> Result<Vec<Lexed>, ODataError> {
    if text.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(ODataError::TooLong {
            option,
            limit: MAX_EXPRESSION_CHARS,
        });
    }
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let token = match c {
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '*' => Token::Star,
            '\'' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(ODataError::UnterminatedString { option, at }),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            value.push('\'');
                            i += 2;
                        }
                        Some('\'') => break,
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Lexed {
                    token: Token::Text(value),
                    at,
                });
                i += 1;
                continue;
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                tokens.push(Lexed {
                    token: Token::Word(chars[start..i].iter().collect()),
                    at,
                });
                continue;
            }
            other => {
                return Err(ODataError::Unsupported {
                    option,
                    at,
                    expected: "a name, a quoted string, a parenthesis or a comma",
                    found: quoted(&other.to_string()),
                    supported,
                })
            }
        };
        tokens.push(Lexed { token, at });
        i += 1;
    }
    if tokens.is_empty() {
        return Err(ODataError::Empty { option });
    }
    Ok(tokens)
}

/// Parses a `$filter` expression.
pub fn parse_filter(text: &str) -> Result<Filter, ODataError> {
    let tokens = lex("$filter", text, FILTER_SUBSET)?;
    let mut parser = FilterParser {
        tokens,
        next: 0,
        depth: 0,
        terms: 0,
    };
    let filter = parser.or()?;
    match parser.peek() {
        None => Ok(filter),
        found => Err(parser.unsupported_at(found, "'and', 'or' or the end of the expression")),
    }
}

struct FilterParser {
    tokens: Vec<Lexed>,
    next: usize,
    depth: usize,
    terms: usize,
}

impl FilterParser {
    fn peek(&self) -> Option<&Lexed> {
        self.tokens.get(self.next)
    }

    fn end_position(&self) -> usize {
        self.tokens.last().map(|t| t.at + 1).unwrap_or(1)
    }

    fn unsupported_at(&self, found: Option<&Lexed>, expected: &'static str) -> ODataError {
        ODataError::Unsupported {
            option: "$filter",
            at: found.map(|t| t.at).unwrap_or_else(|| self.end_position()),
            expected,
            found: describe(found),
            supported: FILTER_SUBSET,
        }
    }

    fn unexpected(&self, expected: &'static str) -> ODataError {
        self.unsupported_at(self.peek(), expected)
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Lexed { token: Token::Word(w), .. }) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, token: Token, expected: &'static str) -> Result<(), ODataError> {
        match self.peek() {
            Some(t) if t.token == token => {
                self.next += 1;
                Ok(())
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn or(&mut self) -> Result<Filter, ODataError> {
        let mut parts = vec![self.and()?];
        while self.at_word("or") {
            self.next += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Filter, ODataError> {
        let mut parts = vec![self.primary()?];
        while self.at_word("and") {
            self.next += 1;
            parts.push(self.primary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn count_term(&mut self) -> Result<(), ODataError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(ODataError::TooManyTerms {
                option: "$filter",
                limit: MAX_TERMS,
            });
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<Filter, ODataError> {
        const EXPECTED: &str =
            "'(', IsLatestVersion, IsAbsoluteLatestVersion, Id, tolower(Id) or Version";
        let Some(lexed) = self.peek() else {
            return Err(self.unexpected(EXPECTED));
        };
        match &lexed.token {
            Token::Open => {
                if self.depth >= MAX_DEPTH {
                    return Err(ODataError::TooDeep);
                }
                self.depth += 1;
                self.next += 1;
                let inner = self.or()?;
                self.expect(Token::Close, "')', 'and' or 'or'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Token::Word(word) => {
                let word = word.to_ascii_lowercase();
                let filter = match word.as_str() {
                    "islatestversion" => {
                        self.next += 1;
                        Filter::IsLatestVersion
                    }
                    "isabsolutelatestversion" => {
                        self.next += 1;
                        Filter::IsAbsoluteLatestVersion
                    }
                    "id" => {
                        self.next += 1;
                        Filter::IdEquals(self.equals_literal()?)
                    }
                    "version" => {
                        self.next += 1;
                        let written = self.equals_literal()?;
                        let normalized = NuGetVersion::parse(&written).ok().map(|v| v.normalized());
                        Filter::VersionEquals {
                            written,
                            normalized,
                        }
                    }
                    "tolower" => {
                        self.next += 1;
                        self.expect(Token::Open, "'(' after tolower")?;
                        if !self.at_word("id") {
                            return Err(self.unexpected("Id inside tolower( )"));
                        }
                        self.next += 1;
                        self.expect(Token::Close, "')' after tolower(Id")?;
                        Filter::LowerIdEquals(self.equals_literal()?)
                    }
                    _ => return Err(self.unexpected(EXPECTED)),
                };
                self.count_term()?;
                Ok(filter)
            }
            _ => Err(self.unexpected(EXPECTED)),
        }
    }

    /// `eq '…'` after a field.
    fn equals_literal(&mut self) -> Result<String, ODataError> {
        if !self.at_word("eq") {
            return Err(self.unexpected("'eq'"));
        }
        self.next += 1;
        match self.peek() {
            Some(Lexed {
                token: Token::Text(value),
                ..
            }) => {
                let value = value.clone();
                self.next += 1;
                Ok(value)
            }
            _ => Err(self.unexpected("a quoted string such as 'Contoso.Lib'")),
        }
    }
}

/// What `$orderby` allows, for error messages.
const ORDERBY_SUBSET: &str = "a comma-separated list of Id, Version, NormalizedVersion, Title, \
     DownloadCount, VersionDownloadCount, Published, Created, LastUpdated or LastEdited, each optionally \
     followed by asc or desc";

/// Parses an `$orderby` list.
pub fn parse_orderby(text: &str) -> Result<Vec<OrderKey>, ODataError> {
    let tokens = lex("$orderby", text, ORDERBY_SUBSET)?;
    let unsupported = |found: Option<&Lexed>, expected: &'static str| ODataError::Unsupported {
        option: "$orderby",
        at: found
            .map(|t| t.at)
            .unwrap_or_else(|| tokens.last().map(|t| t.at + 1).unwrap_or(1)),
        expected,
        found: describe(found),
        supported: ORDERBY_SUBSET,
    };
    let mut keys = Vec::new();
    let mut i = 0;
    loop {
        let property = match tokens.get(i) {
            Some(Lexed {
                token: Token::Word(w),
                ..
            }) => Property::from_name(w).filter(|p| p.sortable()),
            _ => None,
        }
        .ok_or_else(|| unsupported(tokens.get(i), "a property to sort by"))?;
        i += 1;
        let mut descending = false;
        if let Some(Lexed {
            token: Token::Word(w),
            ..
        }) = tokens.get(i)
        {
            if w.eq_ignore_ascii_case("desc") || w.eq_ignore_ascii_case("asc") {
                descending = w.eq_ignore_ascii_case("desc");
                i += 1;
            }
        }
        keys.push(OrderKey {
            property,
            descending,
        });
        if keys.len() > MAX_ORDER_KEYS {
            return Err(ODataError::TooManyTerms {
                option: "$orderby",
                limit: MAX_ORDER_KEYS,
            });
        }
        match tokens.get(i) {
            None => return Ok(keys),
            Some(Lexed {
                token: Token::Comma,
                ..
            }) => i += 1,
            found => return Err(unsupported(found, "',', asc, desc or the end of the list")),
        }
    }
}

/// What `$select` allows, for error messages.
const SELECT_SUBSET: &str =
    "'*' or a comma-separated list of V2FeedPackage properties such as Id, Version";

/// Parses a `$select` list of property names.
pub fn parse_select(text: &str) -> Result<Select, ODataError> {
    let tokens = lex("$select", text, SELECT_SUBSET)?;
    let unsupported = |found: Option<&Lexed>, expected: &'static str| ODataError::Unsupported {
        option: "$select",
        at: found
            .map(|t| t.at)
            .unwrap_or_else(|| tokens.last().map(|t| t.at + 1).unwrap_or(1)),
        expected,
        found: describe(found),
        supported: SELECT_SUBSET,
    };
    if tokens.len() == 1 && tokens[0].token == Token::Star {
        return Ok(Select::All);
    }
    let mut properties = Vec::new();
    let mut i = 0;
    loop {
        let property = match tokens.get(i) {
            Some(Lexed {
                token: Token::Word(w),
                ..
            }) => Property::from_name(w),
            _ => None,
        }
        .ok_or_else(|| unsupported(tokens.get(i), "a property name"))?;
        if !properties.contains(&property) {
            properties.push(property);
        }
        i += 1;
        match tokens.get(i) {
            None => return Ok(Select::Only(properties)),
            Some(Lexed {
                token: Token::Comma,
                ..
            }) => i += 1,
            found => return Err(unsupported(found, "',' or the end of the list")),
        }
    }
}

/// Reads a function parameter written as an OData string literal (`'Contoso.Lib'`, `'it''s'`).
pub fn parse_string_literal(text: &str) -> Result<String, ODataError> {
    let not_a_string = || ODataError::NotAString {
        found: quoted(text),
    };
    if text.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(ODataError::TooLong {
            option: "parameter",
            limit: MAX_EXPRESSION_CHARS,
        });
    }
    let inner = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .ok_or_else(not_a_string)?;
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return Err(not_a_string());
        }
        value.push(c);
    }
    Ok(value)
}

/// Writes `value` as an OData string literal, the inverse of [`parse_string_literal`].
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct V {
        id: &'static str,
        version: &'static str,
        latest: bool,
        absolute: bool,
    }

    impl FilterSubject for V {
        fn id(&self) -> &str {
            self.id
        }
        fn normalized_version(&self) -> &str {
            self.version
        }
        fn is_latest_version(&self) -> bool {
            self.latest
        }
        fn is_absolute_latest_version(&self) -> bool {
            self.absolute
        }
    }

    const LIB: V = V {
        id: "Contoso.Lib",
        version: "1.0.0",
        latest: true,
        absolute: false,
    };

    #[test]
    fn the_filters_clients_send_parse() {
        // nuget.exe 2.x (LINQ over DataServiceContext), NuGet.Protocol, Chocolatey, PowerShellGet.
        assert_eq!(
            parse_filter("IsLatestVersion").unwrap(),
            Filter::IsLatestVersion
        );
        assert_eq!(
            parse_filter("IsAbsoluteLatestVersion").unwrap(),
            Filter::IsAbsoluteLatestVersion
        );
        assert_eq!(
            parse_filter("(tolower(Id) eq 'contoso.lib') and IsLatestVersion").unwrap(),
            Filter::And(vec![
                Filter::LowerIdEquals("contoso.lib".into()),
                Filter::IsLatestVersion
            ])
        );
        assert_eq!(
            parse_filter("Id eq 'Contoso.Lib' and Version eq '1.0'").unwrap(),
            Filter::And(vec![
                Filter::IdEquals("Contoso.Lib".into()),
                Filter::VersionEquals {
                    written: "1.0".into(),
                    normalized: Some("1.0.0".into())
                }
            ])
        );
        assert!(matches!(
            parse_filter("(Id eq 'A') or (Id eq 'B') and IsLatestVersion").unwrap(),
            Filter::Or(parts) if parts.len() == 2
        ));
        assert_eq!(
            parse_filter("  ID  EQ 'it''s' ").unwrap(),
            Filter::IdEquals("it's".into())
        );
        assert_eq!(
            parse_filter("((((IsLatestVersion))))").unwrap(),
            Filter::IsLatestVersion
        );
    }

    #[test]
    fn filters_match_as_nuget_org_does() {
        let f = |text| parse_filter(text).unwrap();
        assert!(f("Id eq 'contoso.lib'").matches(&LIB));
        assert!(f("tolower(Id) eq 'contoso.lib'").matches(&LIB));
        assert!(!f("tolower(Id) eq 'Contoso.Lib'").matches(&LIB));
        assert!(f("Version eq '1.0'").matches(&LIB));
        assert!(f("Version eq '1.0.0.0'").matches(&LIB));
        assert!(!f("Version eq '1.0.1'").matches(&LIB));
        assert!(f("IsLatestVersion and Id eq 'Contoso.Lib'").matches(&LIB));
        assert!(!f("IsAbsoluteLatestVersion").matches(&LIB));
        assert!(f("IsAbsoluteLatestVersion or IsLatestVersion").matches(&LIB));
        assert_eq!(f("Id eq 'X' and IsLatestVersion").pinned_id(), Some("X"));
        assert_eq!(f("Id eq 'X' or Id eq 'x'").pinned_id(), Some("X"));
        assert_eq!(f("Id eq 'X' or Id eq 'Y'").pinned_id(), None);
        assert_eq!(f("IsLatestVersion").pinned_id(), None);
        assert!(f("Id eq 'X' and Version eq '1.0'").pins_version());
        assert!(!f("Id eq 'X' or Version eq '1.0'").pins_version());
        assert!(f("Version eq '1.0' or Version eq '2.0'").pins_version());
    }

    fn refused(text: &str) -> String {
        parse_filter(text).unwrap_err().to_string()
    }

    #[test]
    fn everything_else_is_refused_with_where_and_why() {
        let m = refused("substringof('json', Tags)");
        assert!(m.contains("not supported at character 1"), "{m}");
        assert!(m.contains("'substringof'"), "{m}");
        assert!(m.contains("Supported: IsLatestVersion"), "{m}");
        assert!(refused("Id ne 'x'").contains("expected 'eq'"));
        assert!(refused("Id eq 5").contains("expected a quoted string"));
        assert!(refused("IsLatestVersion and").contains("found the end of the expression"));
        assert!(refused("IsLatestVersion IsPrerelease").contains("'IsPrerelease'"));
        assert!(refused("(IsLatestVersion").contains("expected ')'"));
        assert!(refused("IsLatestVersion)").contains("character 16"));
        assert!(refused("Id eq 'x").contains("never closed"));
        assert!(refused("tolower(Version) eq '1'").contains("Id inside tolower"));
        assert!(refused("Id eq 'x' & IsLatestVersion").contains("'&'"));
        assert!(refused("not IsLatestVersion").contains("'not'"));
        assert_eq!(
            parse_filter("   ").unwrap_err(),
            ODataError::Empty { option: "$filter" }
        );
    }

    #[test]
    fn hostile_filters_are_bounded() {
        let deep = format!("{}IsLatestVersion{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(parse_filter(&deep).unwrap_err(), ODataError::TooDeep);
        let nested_ok = format!(
            "{}IsLatestVersion{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(parse_filter(&nested_ok).is_ok());
        let many = ["IsLatestVersion"; MAX_TERMS + 1].join(" or ");
        assert!(matches!(
            parse_filter(&many).unwrap_err(),
            ODataError::TooManyTerms { .. }
        ));
        let long = format!("Id eq '{}'", "x".repeat(MAX_EXPRESSION_CHARS));
        assert!(matches!(
            parse_filter(&long).unwrap_err(),
            ODataError::TooLong { .. }
        ));
        // Messages quote at most a short piece of the input.
        let huge_word = "a".repeat(MAX_EXPRESSION_CHARS - 10);
        assert!(refused(&huge_word).len() < 600);
    }

    #[test]
    fn orderby_and_select() {
        assert_eq!(
            parse_orderby("DownloadCount desc,Id,Version desc").unwrap(),
            vec![
                OrderKey {
                    property: Property::DownloadCount,
                    descending: true
                },
                OrderKey {
                    property: Property::Id,
                    descending: false
                },
                OrderKey {
                    property: Property::Version,
                    descending: true
                },
            ]
        );
        assert_eq!(parse_orderby("id asc").unwrap().len(), 1);
        assert!(parse_orderby("concat(Title,Id)")
            .unwrap_err()
            .to_string()
            .contains("'concat'"));
        assert!(parse_orderby("Tags")
            .unwrap_err()
            .to_string()
            .contains("'Tags'"));
        assert!(parse_orderby("Id,").is_err());
        assert!(parse_orderby(&["Id"; MAX_ORDER_KEYS + 1].join(",")).is_err());
        assert_eq!(parse_select("*").unwrap(), Select::All);
        assert_eq!(
            parse_select("Id,version,Id").unwrap(),
            Select::Only(vec![Property::Id, Property::Version])
        );
        assert!(parse_select("Id,Nope")
            .unwrap_err()
            .to_string()
            .contains("'Nope'"));
        assert!(parse_select("Id Version").is_err());
    }

    #[test]
    fn string_literals() {
        assert_eq!(
            parse_string_literal("'Contoso.Lib'").unwrap(),
            "Contoso.Lib"
        );
        assert_eq!(parse_string_literal("''").unwrap(), "");
        assert_eq!(parse_string_literal("'it''s'").unwrap(), "it's");
        assert!(parse_string_literal("'it's'").is_err());
        assert!(parse_string_literal("Contoso").is_err());
        assert!(parse_string_literal("'").is_err());
        assert_eq!(
            parse_string_literal(&string_literal("a'b''c")).unwrap(),
            "a'b''c"
        );
    }

    #[test]
    fn properties_are_described_once() {
        for p in Property::ALL {
            assert_eq!(Property::from_name(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(Property::Published.edm_type(), "Edm.DateTime");
        assert!(!Property::Id.nullable());
        assert!(Property::Title.nullable());
        assert!(!Property::IsLatestVersion.nullable());
    }
}
