//! NuGet version ranges as written in `.nuspec` dependency `version`
//! attributes: `1.0` (at least 1.0), interval notation such as `[1.0,2.0)`,
//! exact `[1.0]`, and floating versions such as `1.*` or `1.0.0-beta.*`.
//!
//! The registry needs them to validate pushes and to emit the normalised
//! form in registration metadata, which clients parse again.

use std::fmt;
use std::str::FromStr;

use crate::version::{shorten, NuGetVersion, VersionError};

/// Why a version range was refused; the message names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The text is not a version range; `reason` says what is wrong.
    #[error("'{input}' is not a valid version range: {reason}.")]
    Invalid {
        /// The text that was parsed (shortened when very long).
        input: String,
        /// What is wrong with it, in plain words.
        reason: String,
    },
    /// One of the versions inside the range is invalid.
    #[error("'{input}' is not a valid version range: {source}")]
    Version {
        /// The text that was parsed (shortened when very long).
        input: String,
        /// The version error for the offending bound.
        source: VersionError,
    },
}

impl RangeError {
    fn invalid(input: &str, reason: impl Into<String>) -> Self {
        RangeError::Invalid {
            input: shorten(input),
            reason: reason.into(),
        }
    }
}

/// A floating lower bound such as `1.*` or `1.0.0-beta.*`: restore picks the
/// highest matching version, and the lower bound is its smallest match.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Float {
    /// The canonical float text, e.g. `1.0.*` or `1.0.0-beta*`.
    text: String,
}

/// A NuGet version range: optional lower and upper bounds, each inclusive or
/// exclusive, possibly with a floating lower bound.
///
/// An absent bound is always stored as exclusive so that equal ranges
/// compare equal however they were written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRange {
    min: Option<NuGetVersion>,
    min_inclusive: bool,
    max: Option<NuGetVersion>,
    max_inclusive: bool,
    float: Option<Float>,
}

/// Parses a numeric-only version prefix like `1.0` (no labels).
fn parse_numeric_parts(input: &str, text: &str) -> Result<Vec<u64>, RangeError> {
    let mut parts = Vec::new();
    for part in text.split('.') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RangeError::invalid(
                input,
                format!("'{}' is not a valid floating version", shorten(text)),
            ));
        }
        // The same limit as in versions: NuGet clients read each part as a signed 32-bit number.
        let n = part
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= i32::MAX as u64)
            .ok_or_else(|| {
                RangeError::invalid(
                    input,
                    format!(
                        "version part '{}' is larger than {}, the largest NuGet allows",
                        shorten(part),
                        i32::MAX
                    ),
                )
            })?;
        parts.push(n);
    }
    Ok(parts)
}

fn parse_version(input: &str, text: &str) -> Result<NuGetVersion, RangeError> {
    NuGetVersion::parse(text).map_err(|source| RangeError::Version {
        input: shorten(input),
        source,
    })
}

/// Parses a floating version (text containing `*`) into its lowest matching
/// version and canonical text.
fn parse_float(input: &str, text: &str) -> Result<(NuGetVersion, Float), RangeError> {
    let bad = || {
        RangeError::invalid(
            input,
            format!("'{}' is not a valid floating version", shorten(text)),
        )
    };
    if !text.ends_with('*') || text.contains('+') {
        return Err(bad());
    }
    let (core, pre) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    if core.contains('*') {
        // Numeric float: `*`, `1.*`, `1.0.*`, `1.0.0.*`, optionally `-*`.
        if let Some(pre) = pre {
            if pre != "*" {
                return Err(bad());
            }
        }
        let fixed = if core == "*" {
            Vec::new()
        } else {
            let head = core.strip_suffix(".*").ok_or_else(bad)?;
            let parts = parse_numeric_parts(input, head)?;
            if parts.len() > 3 {
                return Err(bad());
            }
            parts
        };
        let mut numbers = [0u64; 4];
        numbers[..fixed.len()].copy_from_slice(&fixed);
        let mut canonical: Vec<String> = fixed.iter().map(u64::to_string).collect();
        canonical.push("*".to_string());
        let mut canonical = canonical.join(".");
        let mut min_text = format!(
            "{}.{}.{}.{}",
            numbers[0], numbers[1], numbers[2], numbers[3]
        );
        if pre.is_some() {
            canonical.push_str("-*");
            min_text.push_str("-0");
        }
        let min = parse_version(input, &min_text)?;
        return Ok((min, Float { text: canonical }));
    }
    // Prerelease float: `1.0.0-*`, `1.0.0-beta*`, `1.0.0-beta.*`.
    let pre = pre.ok_or_else(bad)?;
    let prefix = pre.strip_suffix('*').ok_or_else(bad)?;
    if prefix.contains('*') {
        return Err(bad());
    }
    let core_version = parse_version(input, core)?;
    let mut min_text = format!("{}-{}", core_version.normalized(), prefix);
    if prefix.is_empty() || prefix.ends_with('.') {
        // An empty label is invalid; `0` is the lowest possible label.
        min_text.push('0');
    }
    let min = parse_version(input, &min_text)?;
    let canonical = format!("{}-{}*", core_version.normalized(), prefix);
    Ok((min, Float { text: canonical }))
}

/// Parses one bound, which may float only when `allow_float`.
fn parse_bound(
    input: &str,
    text: &str,
    allow_float: bool,
) -> Result<(Option<NuGetVersion>, Option<Float>), RangeError> {
    if text.is_empty() {
        return Ok((None, None));
    }
    if text.contains('*') {
        if !allow_float {
            return Err(RangeError::invalid(
                input,
                "only the lower bound of a range may be a floating version",
            ));
        }
        let (min, float) = parse_float(input, text)?;
        return Ok((Some(min), Some(float)));
    }
    Ok((Some(parse_version(input, text)?), None))
}

impl VersionRange {
    /// The range that accepts every version, used for dependencies without a
    /// `version` attribute.
    pub fn all() -> VersionRange {
        VersionRange {
            min: None,
            min_inclusive: false,
            max: None,
            max_inclusive: false,
            float: None,
        }
    }

    /// Parses a range as NuGet writes it in `.nuspec` files.
    ///
    /// The empty string means "all versions", as a missing attribute does.
    /// Whitespace around the bounds is tolerated.
    pub fn parse(s: &str) -> Result<VersionRange, RangeError> {
        let text = s.trim();
        if text.is_empty() {
            return Ok(VersionRange::all());
        }
        let first = text.chars().next().unwrap_or(' ');
        if first != '[' && first != '(' {
            // A bare version (or float) means "this version or newer".
            let (min, float) = parse_bound(s, text, true)?;
            return Ok(VersionRange {
                min,
                min_inclusive: true,
                max: None,
                max_inclusive: false,
                float,
            });
        }
        let min_inclusive = first == '[';
        let max_inclusive = match text.chars().last() {
            Some(']') => true,
            Some(')') => false,
            _ => {
                return Err(RangeError::invalid(
                    s,
                    "a range that starts with '[' or '(' must end with ']' or ')'",
                ))
            }
        };
        if text.len() < 2 {
            return Err(RangeError::invalid(s, "the range is incomplete"));
        }
        let inner = &text[1..text.len() - 1];
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [single] => {
                if !(min_inclusive && max_inclusive) {
                    return Err(RangeError::invalid(
                        s,
                        "an exact version must be written with square brackets, like [1.0]",
                    ));
                }
                if single.is_empty() {
                    return Err(RangeError::invalid(s, "the brackets contain no version"));
                }
                if single.contains('*') {
                    return Err(RangeError::invalid(
                        s,
                        "an exact version cannot be a floating version",
                    ));
                }
                let version = parse_version(s, single)?;
                Ok(VersionRange {
                    min: Some(version.clone()),
                    min_inclusive: true,
                    max: Some(version),
                    max_inclusive: true,
                    float: None,
                })
            }
            [low, high] => {
                let (min, float) = parse_bound(s, low, true)?;
                let (max, _) = parse_bound(s, high, false)?;
                if let (Some(lo), Some(hi)) = (&min, &max) {
                    let empty = if min_inclusive && max_inclusive {
                        hi < lo
                    } else {
                        hi <= lo
                    };
                    if empty {
                        return Err(RangeError::invalid(
                            s,
                            "the upper bound is lower than the lower bound, so no version can match",
                        ));
                    }
                }
                Ok(VersionRange {
                    min_inclusive: min_inclusive && min.is_some(),
                    max_inclusive: max_inclusive && max.is_some(),
                    min,
                    max,
                    float,
                })
            }
            _ => Err(RangeError::invalid(
                s,
                "a range has at most two versions separated by a comma",
            )),
        }
    }

    /// The lower bound, if any (for a float, its lowest matching version).
    pub fn min(&self) -> Option<&NuGetVersion> {
        self.min.as_ref()
    }

    /// Whether the lower bound itself is accepted.
    pub fn is_min_inclusive(&self) -> bool {
        self.min_inclusive
    }

    /// The upper bound, if any.
    pub fn max(&self) -> Option<&NuGetVersion> {
        self.max.as_ref()
    }

    /// Whether the upper bound itself is accepted.
    pub fn is_max_inclusive(&self) -> bool {
        self.max_inclusive
    }

    /// True when the lower bound floats (`1.*`, `1.0.0-*`, ...).
    pub fn is_floating(&self) -> bool {
        self.float.is_some()
    }

    /// The one version an exact range (`[1.0.0]`) accepts.
    fn exact(&self) -> Option<&NuGetVersion> {
        match (&self.min, &self.max, &self.float) {
            (Some(lo), Some(hi), None) if self.min_inclusive && self.max_inclusive && lo == hi => {
                Some(lo)
            }
            _ => None,
        }
    }

    /// NuGet's normalised text, as emitted in registration metadata:
    /// `[1.0.0, )`, `[1.0.0, 2.0.0)`, `(, 1.0.0]`, `[1.0.0]`, `(, )`,
    /// `[1.0.*, )`.
    pub fn normalized(&self) -> String {
        if let Some(exact) = self.exact() {
            return format!("[{}]", exact.normalized());
        }
        let low = match (&self.float, &self.min) {
            (Some(float), _) => float.text.clone(),
            (None, Some(min)) => min.normalized(),
            (None, None) => String::new(),
        };
        let high = self
            .max
            .as_ref()
            .map(NuGetVersion::normalized)
            .unwrap_or_default();
        format!(
            "{}{}, {}{}",
            if self.min_inclusive { '[' } else { '(' },
            low,
            high,
            if self.max_inclusive { ']' } else { ')' }
        )
    }

    /// The range as the gallery writes it, as NuGet.org does: `(>= 1.1.0 && < 2.0.0)`, `(>= 1.0.0)`,
    /// `(= 1.0.0)`, `(> 1.0.0)`, `(<= 2.0.0)`; a range with no bounds is `(any version)`.
    pub fn pretty(&self) -> String {
        if let Some(exact) = self.exact() {
            return format!("(= {})", exact.normalized());
        }
        let low = match (&self.float, &self.min) {
            (Some(float), _) => Some(format!(">= {}", float.text)),
            (None, Some(min)) => Some(format!(
                "{} {}",
                if self.min_inclusive { ">=" } else { ">" },
                min.normalized()
            )),
            (None, None) => None,
        };
        let high = self.max.as_ref().map(|max| {
            format!(
                "{} {}",
                if self.max_inclusive { "<=" } else { "<" },
                max.normalized()
            )
        });
        match (low, high) {
            (Some(low), Some(high)) => format!("({low} && {high})"),
            (Some(bound), None) | (None, Some(bound)) => format!("({bound})"),
            (None, None) => "(any version)".to_string(),
        }
    }

    /// Whether `v` lies within the bounds. As in NuGet, a floating bound is
    /// treated as its lowest matching version here.
    pub fn satisfies(&self, v: &NuGetVersion) -> bool {
        let above_min = match &self.min {
            None => true,
            Some(min) if self.min_inclusive => v >= min,
            Some(min) => v > min,
        };
        let below_max = match &self.max {
            None => true,
            Some(max) if self.max_inclusive => v <= max,
            Some(max) => v < max,
        };
        above_min && below_max
    }
}

impl fmt::Display for VersionRange {
    /// Shows [`VersionRange::normalized`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

impl FromStr for VersionRange {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionRange::parse(s)
    }
}

impl serde::Serialize for VersionRange {
    /// Serialises as the normalised text so stored metadata is canonical.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.normalized())
    }
}

impl<'de> serde::Deserialize<'de> for VersionRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        VersionRange::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn r(s: &str) -> VersionRange {
        VersionRange::parse(s).unwrap()
    }

    fn v(s: &str) -> NuGetVersion {
        NuGetVersion::parse(s).unwrap()
    }

    #[test]
    fn pretty_forms_read_as_nuget_org_writes_them() {
        let table = [
            ("1.1", "(>= 1.1.0)"),
            ("[1.1.0, 2.0.0)", "(>= 1.1.0 && < 2.0.0)"),
            ("(1.0,2.0]", "(> 1.0.0 && <= 2.0.0)"),
            ("(,1.0]", "(<= 1.0.0)"),
            ("[1.0]", "(= 1.0.0)"),
            ("1.0.*", "(>= 1.0.*)"),
        ];
        for (input, pretty) in table {
            assert_eq!(r(input).pretty(), pretty, "{input}");
        }
        assert_eq!(VersionRange::all().pretty(), "(any version)");
    }

    #[test]
    fn normalisation_table() {
        let table = [
            ("1.0", "[1.0.0, )"),
            ("1.0.0+meta", "[1.0.0, )"),
            ("[1.0,2.0)", "[1.0.0, 2.0.0)"),
            ("(1.0,2.0]", "(1.0.0, 2.0.0]"),
            ("(,1.0]", "(, 1.0.0]"),
            ("[,1.0]", "(, 1.0.0]"),
            ("[1.0,)", "[1.0.0, )"),
            ("[1.0]", "[1.0.0]"),
            ("[1.0,1.0]", "[1.0.0]"),
            ("(1.0,)", "(1.0.0, )"),
            ("[ 1.0 , 2.0 ]", "[1.0.0, 2.0.0]"),
            ("  [1.0, 2.0)  ", "[1.0.0, 2.0.0)"),
            ("", "(, )"),
            ("   ", "(, )"),
            ("(,)", "(, )"),
            ("(, )", "(, )"),
            ("[1.0.0-beta,2)", "[1.0.0-beta, 2.0.0)"),
            ("1.*", "[1.*, )"),
            ("1.0.*", "[1.0.*, )"),
            ("01.00.*", "[1.0.*, )"),
            ("1.0.0.*", "[1.0.0.*, )"),
            ("*", "[*, )"),
            ("*-*", "[*-*, )"),
            ("1.*-*", "[1.*-*, )"),
            ("1.0.0-*", "[1.0.0-*, )"),
            ("1.0-beta.*", "[1.0.0-beta.*, )"),
            ("1.0.0-beta*", "[1.0.0-beta*, )"),
            ("[1.0.*, 2.0)", "[1.0.*, 2.0.0)"),
        ];
        for (input, normalized) in table {
            let range = r(input);
            assert_eq!(range.normalized(), normalized, "{input:?}");
            assert_eq!(range.to_string(), normalized, "{input:?}");
            assert_eq!(r(normalized), range, "round trip of {input:?}");
        }
    }

    #[test]
    fn bounds() {
        let x = r("(1.0,2.0]");
        assert_eq!(x.min(), Some(&v("1.0")));
        assert!(!x.is_min_inclusive());
        assert_eq!(x.max(), Some(&v("2.0")));
        assert!(x.is_max_inclusive());
        let all = r("");
        assert_eq!(all, VersionRange::all());
        assert!(all.min().is_none() && all.max().is_none());
        assert_eq!(r("1.*").min(), Some(&v("1.0.0")));
        assert_eq!(r("1.0.0-*").min(), Some(&v("1.0.0-0")));
        assert_eq!(r("1.0.0-beta.*").min(), Some(&v("1.0.0-beta.0")));
        assert!(r("1.*").is_floating());
        assert!(!r("1.0").is_floating());
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "[1.0,0.5]",
            "(1.0,1.0]",
            "[1.0,1.0)",
            "(1.0)",
            "[1.0)",
            "(1.0]",
            "[1.0,2.0,3.0]",
            "[]",
            "[",
            "(",
            "[1.0",
            "1.0]",
            "garbage",
            "[a,b]",
            "[1.*]",
            "[1.0, 2.*]",
            "1.*.0",
            "1.0.0.0.*",
            "1.**",
            "**",
            "1.0.0-beta.*+m",
            "1*",
            "1.0.0-b*ta*",
            "1.0.0-*-*",
            "v1.0",
            "1.0 2.0",
        ] {
            assert!(VersionRange::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn error_messages() {
        let msg = VersionRange::parse("[1.0,0.5]").unwrap_err().to_string();
        assert!(
            msg.starts_with("'[1.0,0.5]' is not a valid version range"),
            "{msg}"
        );
        let msg = VersionRange::parse("[a,b]").unwrap_err().to_string();
        assert!(msg.contains("'a' is not a valid version string"), "{msg}");
    }

    #[test]
    fn version_parts_above_the_32_bit_range_are_refused() {
        for bad in [
            "2147483648",
            "[1.0, 2147483648.0)",
            "(, 1.2147483648]",
            "[2147483648.0.0]",
            "2147483648.*",
            "1.0.2147483648.*",
            "99999999999999999999999.*",
            "2147483648.0.0-*",
        ] {
            let msg = VersionRange::parse(bad).unwrap_err().to_string();
            assert!(
                msg.contains("is larger than 2147483647, the largest NuGet allows"),
                "{bad:?}: {msg}"
            );
        }
        assert_eq!(
            r("[2147483647.0, 2147483647.2147483647.2147483647.2147483647]").normalized(),
            "[2147483647.0.0, 2147483647.2147483647.2147483647.2147483647]"
        );
        assert_eq!(r("2147483647.*").normalized(), "[2147483647.*, )");
    }

    #[test]
    fn satisfies_table() {
        let table = [
            ("1.0", "1.0.0", true),
            ("1.0", "0.9", false),
            ("1.0", "99.0", true),
            ("1.0", "1.0.0-beta", false),
            ("[1.0,2.0)", "2.0", false),
            ("[1.0,2.0)", "1.9.9", true),
            ("[1.0,2.0)", "2.0.0-beta", true),
            ("(1.0,2.0]", "1.0", false),
            ("(1.0,2.0]", "2.0", true),
            ("(,1.0]", "0.0.1", true),
            ("(,1.0]", "1.0.1", false),
            ("[1.0]", "1.0.0.0", true),
            ("[1.0]", "1.0.1", false),
            ("", "0.0.0-a", true),
            ("1.*", "1.5.0", true),
            ("1.*", "0.9", false),
            ("1.0.0-*", "1.0.0-alpha", true),
            ("1.0.0-beta.*", "1.0.0-beta.3", true),
            ("1.0.0-beta.*", "1.0.0-alpha", false),
            ("[1.0.0-beta, 1.0.0]", "1.0.0-BETA+x", true),
        ];
        for (range, version, expected) in table {
            assert_eq!(
                r(range).satisfies(&v(version)),
                expected,
                "{version} in {range}"
            );
        }
    }
}
