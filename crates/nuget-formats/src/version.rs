//! NuGet package versions: parsing, normalisation and NuGet's sort order.
//!
//! NuGet versions are SemVer 2.0 with two extensions kept for compatibility
//! with older packages: one to four numeric parts (`1`, `1.0`, `1.0.0`,
//! `1.0.0.0`) and leading zeros in those parts. The registry stores and
//! compares versions by their normalised form, so `1.0` and `1.0.0.0` are the
//! same package version.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// The largest numeric version part: NuGet clients parse each part as a signed 32-bit integer
/// (`System.Version`), so a larger one makes the version unreadable to them.
const MAX_PART: u64 = i32::MAX as u64;

/// Why a version string was refused; the message names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The input was the empty string.
    #[error("The version string is empty.")]
    Empty,
    /// The input is not a NuGet version; `reason` says what is wrong.
    #[error("'{input}' is not a valid version string: {reason}.")]
    Invalid {
        /// The text that was parsed (shortened when very long).
        input: String,
        /// What is wrong with it, in plain words.
        reason: String,
    },
}

/// Shortens user input for error messages so a huge attribute cannot turn
/// into a huge HTTP response.
pub(crate) fn shorten(input: &str) -> String {
    const MAX_CHARS: usize = 100;
    if input.chars().count() <= MAX_CHARS {
        input.to_string()
    } else {
        let mut short: String = input.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    }
}

impl VersionError {
    pub(crate) fn invalid(input: &str, reason: impl Into<String>) -> Self {
        VersionError::Invalid {
            input: shorten(input),
            reason: reason.into(),
        }
    }
}

/// A parsed NuGet version.
///
/// Equality, ordering and hashing follow NuGet: numeric parts compare
/// numerically (`1.0 == 1.0.0.0`), prerelease labels compare
/// case-insensitively, and build metadata is ignored.
#[derive(Clone, Debug)]
pub struct NuGetVersion {
    major: u64,
    minor: u64,
    patch: u64,
    revision: u64,
    release_labels: Vec<String>,
    metadata: Option<String>,
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn is_numeric_label(label: &str) -> bool {
    !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit())
}

/// Validates dot-separated labels; `what` names them in error messages.
fn parse_labels(
    input: &str,
    text: &str,
    what: &str,
    allow_leading_zeros: bool,
) -> Result<Vec<String>, VersionError> {
    if text.is_empty() {
        return Err(VersionError::invalid(
            input,
            format!("the {what} after the separator is empty"),
        ));
    }
    let mut labels = Vec::new();
    for label in text.split('.') {
        if label.is_empty() {
            return Err(VersionError::invalid(
                input,
                format!("the {what} contains an empty label"),
            ));
        }
        if let Some(bad) = label.chars().find(|c| !is_label_char(*c)) {
            return Err(VersionError::invalid(
                input,
                format!(
                    "the {what} contains the character {bad:?}; only ASCII letters, digits, '-' and '.' are allowed"
                ),
            ));
        }
        if !allow_leading_zeros
            && label.len() > 1
            && is_numeric_label(label)
            && label.starts_with('0')
        {
            return Err(VersionError::invalid(
                input,
                format!(
                    "the numeric {what} label '{}' has a leading zero",
                    shorten(label)
                ),
            ));
        }
        labels.push(label.to_string());
    }
    Ok(labels)
}

impl NuGetVersion {
    /// Parses a NuGet version string such as `1.0`, `1.2.3.4`,
    /// `1.0.0-beta.2` or `2.0.0+sha.abc`.
    ///
    /// Whitespace is not trimmed: a version with surrounding spaces is an
    /// error, because `.nuspec` values are trimmed before they get here.
    pub fn parse(s: &str) -> Result<NuGetVersion, VersionError> {
        if s.is_empty() {
            return Err(VersionError::Empty);
        }
        let (rest, metadata) = match s.split_once('+') {
            Some((rest, meta)) => {
                parse_labels(s, meta, "build metadata", true)?;
                (rest, Some(meta.to_string()))
            }
            None => (s, None),
        };
        let (core, release_labels) = match rest.split_once('-') {
            Some((core, pre)) => (core, parse_labels(s, pre, "prerelease label", false)?),
            None => (rest, Vec::new()),
        };
        if core.is_empty() {
            return Err(VersionError::invalid(s, "the numeric part is missing"));
        }
        let mut numbers = [0u64; 4];
        for (index, part) in core.split('.').enumerate() {
            let Some(slot) = numbers.get_mut(index) else {
                return Err(VersionError::invalid(
                    s,
                    "a version has at most four numeric parts",
                ));
            };
            if part.is_empty() {
                return Err(VersionError::invalid(
                    s,
                    "it contains an empty numeric part",
                ));
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VersionError::invalid(
                    s,
                    format!("'{}' is not a non-negative whole number", shorten(part)),
                ));
            }
            // NuGet clients read each part as a signed 32-bit number and refuse anything larger, so
            // such a version could never be installed (nor any other version of its ID, once listed).
            *slot = part
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_PART)
                .ok_or_else(|| {
                    VersionError::invalid(
                        s,
                        format!(
                            "version part '{}' is larger than {MAX_PART}, the largest NuGet allows",
                            shorten(part)
                        ),
                    )
                })?;
        }
        Ok(NuGetVersion {
            major: numbers[0],
            minor: numbers[1],
            patch: numbers[2],
            revision: numbers[3],
            release_labels,
            metadata,
        })
    }

    /// Builds a stable version from its four numeric parts. Unlike [`NuGetVersion::parse`] it does not
    /// check them against NuGet's limit of 2147483647 per part.
    pub fn new(major: u64, minor: u64, patch: u64, revision: u64) -> NuGetVersion {
        NuGetVersion {
            major,
            minor,
            patch,
            revision,
            release_labels: Vec::new(),
            metadata: None,
        }
    }

    /// The first numeric part.
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The second numeric part (0 when omitted).
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The third numeric part (0 when omitted).
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The fourth numeric part, a NuGet legacy (0 when omitted).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The dot-separated prerelease labels, case preserved; empty for stable.
    pub fn release_labels(&self) -> &[String] {
        &self.release_labels
    }

    /// The build metadata after `+`, which never affects comparisons.
    pub fn metadata(&self) -> Option<&str> {
        self.metadata.as_deref()
    }

    /// True when the version has prerelease labels, so clients hide it unless
    /// prereleases are asked for.
    pub fn is_prerelease(&self) -> bool {
        !self.release_labels.is_empty()
    }

    /// True when only SemVer 2.0-aware clients understand the version
    /// (dotted prerelease or build metadata); feeds hide these from old clients.
    pub fn is_semver2(&self) -> bool {
        self.release_labels.len() > 1 || self.metadata.is_some()
    }

    /// NuGet's normalised form, used as the storage key and in URLs: at least
    /// three numeric parts, the fourth only when non-zero, no leading zeros,
    /// prerelease labels as given, metadata dropped.
    pub fn normalized(&self) -> String {
        let mut out = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if self.revision != 0 {
            out.push_str(&format!(".{}", self.revision));
        }
        if !self.release_labels.is_empty() {
            out.push('-');
            out.push_str(&self.release_labels.join("."));
        }
        out
    }

    /// The normalised form plus `+metadata` when present, for display in
    /// SemVer 2.0 feeds which show the full version.
    pub fn full_string(&self) -> String {
        match &self.metadata {
            Some(meta) => format!("{}+{}", self.normalized(), meta),
            None => self.normalized(),
        }
    }

    fn numbers(&self) -> [u64; 4] {
        [self.major, self.minor, self.patch, self.revision]
    }
}

/// Compares two prerelease labels per NuGet: numbers numerically, numbers
/// before words, words case-insensitively.
fn compare_labels(a: &str, b: &str) -> Ordering {
    match (is_numeric_label(a), is_numeric_label(b)) {
        (true, true) => {
            // Arbitrary-length numbers: strip leading zeros, then longer is
            // bigger, equal lengths compare digit by digit.
            let a = a.trim_start_matches('0');
            let b = b.trim_start_matches('0');
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => {
            let a = a.bytes().map(|c| c.to_ascii_lowercase());
            let b = b.bytes().map(|c| c.to_ascii_lowercase());
            a.cmp(b)
        }
    }
}

impl Ord for NuGetVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers()
            .cmp(&other.numbers())
            .then_with(|| {
                // A stable release sorts after every prerelease of it.
                match (self.is_prerelease(), other.is_prerelease()) {
                    (false, false) => Ordering::Equal,
                    (false, true) => Ordering::Greater,
                    (true, false) => Ordering::Less,
                    (true, true) => Ordering::Equal,
                }
            })
            .then_with(|| {
                for (a, b) in self.release_labels.iter().zip(&other.release_labels) {
                    let ord = compare_labels(a, b);
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                self.release_labels.len().cmp(&other.release_labels.len())
            })
    }
}

impl PartialOrd for NuGetVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for NuGetVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for NuGetVersion {}

impl Hash for NuGetVersion {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.numbers().hash(state);
        self.release_labels.len().hash(state);
        for label in &self.release_labels {
            if is_numeric_label(label) {
                // Equal numbers may be spelled differently only by leading
                // zeros, which are stripped the same way as in comparisons.
                label.trim_start_matches('0').hash(state);
            } else {
                label.to_ascii_lowercase().hash(state);
            }
        }
    }
}

impl fmt::Display for NuGetVersion {
    /// Shows the normalised form, metadata dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

impl FromStr for NuGetVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NuGetVersion::parse(s)
    }
}

impl serde::Serialize for NuGetVersion {
    /// Serialises as [`NuGetVersion::full_string`] so metadata survives storage.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full_string())
    }
}

impl<'de> serde::Deserialize<'de> for NuGetVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        NuGetVersion::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn v(s: &str) -> NuGetVersion {
        NuGetVersion::parse(s).unwrap()
    }

    fn hash_of(v: &NuGetVersion) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn parses_and_normalises() {
        let table = [
            ("1", "1.0.0"),
            ("1.0", "1.0.0"),
            ("1.0.0", "1.0.0"),
            ("1.0.0.0", "1.0.0"),
            ("1.0.0.1", "1.0.0.1"),
            ("01.002.3", "1.2.3"),
            ("1.2.3-beta", "1.2.3-beta"),
            ("1.2.3-Beta.2", "1.2.3-Beta.2"),
            ("1.2.3.4-rc-1", "1.2.3.4-rc-1"),
            ("1.0.0+sha.abc", "1.0.0"),
            ("1.0.0-alpha+001", "1.0.0-alpha"),
            ("1.0-0", "1.0.0-0"),
            ("2147483647.0", "2147483647.0.0"),
            (
                "02147483647.2147483647.2147483647.2147483647",
                "2147483647.2147483647.2147483647.2147483647",
            ),
        ];
        for (input, normalized) in table {
            assert_eq!(v(input).normalized(), normalized, "{input}");
            assert_eq!(v(input).to_string(), normalized, "{input}");
        }
        assert_eq!(v("1.0.0+sha.abc").full_string(), "1.0.0+sha.abc");
        assert_eq!(v("01.0-a+007").full_string(), "1.0.0-a+007");
    }

    #[test]
    fn getters() {
        let x = v("1.2.3.4-beta.5+meta");
        assert_eq!(
            (x.major(), x.minor(), x.patch(), x.revision()),
            (1, 2, 3, 4)
        );
        assert_eq!(x.release_labels(), ["beta", "5"]);
        assert_eq!(x.metadata(), Some("meta"));
        assert!(x.is_prerelease());
        assert!(x.is_semver2());
        assert!(!v("1.0.0-beta").is_semver2());
        assert!(v("1.0.0+m").is_semver2());
        assert!(!v("1.0.0").is_prerelease());
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "v1.0",
            "1.0.0.0.0",
            "1..0",
            "1.0-",
            "1.0+",
            " 1.0",
            "1.0 ",
            "1.0-beta..1",
            "1.0-beta_1",
            "1.0+a..b",
            "1.0-01",
            ".1",
            "1.",
            "-1",
            "1.-1",
            "a.b",
            "1.0.0-é",
            "99999999999999999999999",
            "2147483648",
            "1.2147483648",
            "1.0.2147483648",
            "1.0.0.2147483648",
            "4294967296.0.0",
            "18446744073709551615.0",
            "+meta",
            "1.0+a+b",
        ] {
            assert!(NuGetVersion::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn error_messages_name_the_input() {
        assert_eq!(
            NuGetVersion::parse("").unwrap_err().to_string(),
            "The version string is empty."
        );
        let msg = NuGetVersion::parse("v1.0").unwrap_err().to_string();
        assert!(
            msg.starts_with("'v1.0' is not a valid version string"),
            "{msg}"
        );
        let msg = NuGetVersion::parse("1.0.0.0.0").unwrap_err().to_string();
        assert!(msg.contains("at most four"), "{msg}");
    }

    #[test]
    fn parts_above_the_32_bit_range_are_refused() {
        // NuGet clients parse each part as a signed 32-bit integer: 2147483647 is the largest they read.
        let max = v("2147483647.2147483647.2147483647.2147483647");
        assert_eq!(
            (max.major(), max.minor(), max.patch(), max.revision()),
            (2147483647, 2147483647, 2147483647, 2147483647)
        );
        assert_eq!(
            v("0002147483647.0.0-beta").normalized(),
            "2147483647.0.0-beta"
        );
        assert_eq!(
            NuGetVersion::parse("2147483648.0.0")
                .unwrap_err()
                .to_string(),
            "'2147483648.0.0' is not a valid version string: version part '2147483648' is larger \
             than 2147483647, the largest NuGet allows."
        );
        for (input, part) in [
            ("1.2147483648", "2147483648"),
            ("1.0.00002147483648", "00002147483648"),
            ("1.0.0.9223372036854775808-beta", "9223372036854775808"),
            ("99999999999999999999999.0", "99999999999999999999999"),
        ] {
            let msg = NuGetVersion::parse(input).unwrap_err().to_string();
            assert!(
                msg.contains(&format!(
                    "version part '{part}' is larger than 2147483647, the largest NuGet allows"
                )),
                "{input}: {msg}"
            );
        }
        // Prerelease labels are not numeric parts: NuGet compares them as text of any length.
        assert!(NuGetVersion::parse("1.0.0-2147483648").is_ok());
    }

    #[test]
    fn ordering_table() {
        let ordered = [
            "0.9",
            "1.0.0-0",
            "1.0.0-2",
            "1.0.0-10",
            "1.0.0-alpha",
            "1.0.0-Alpha.1",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-beta.x",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0.1-a",
            "1.0.0.1",
            "1.0.1",
            "1.1",
            "2",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(v(a).cmp(&v(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn equality_ignores_metadata_case_and_trailing_zeros() {
        let same = [
            ("1.0", "1.0.0"),
            ("1.0.0", "1.0.0.0"),
            ("1", "01.00.000.0000"),
            ("1.0.0+a", "1.0.0+b"),
            ("1.0.0-BETA", "1.0.0-beta"),
            ("1.0.0-Beta.X+1", "1.0.0-bEtA.x"),
        ];
        for (a, b) in same {
            assert_eq!(v(a), v(b), "{a} == {b}");
            assert_eq!(hash_of(&v(a)), hash_of(&v(b)), "hash {a} == {b}");
        }
        assert_ne!(v("1.0.0-beta"), v("1.0.0-beta.0"));
        assert_ne!(v("1.0.0.1"), v("1.0.0"));
    }

    #[test]
    fn numeric_labels_beyond_u64_compare_numerically() {
        assert!(v("1.0.0-99999999999999999999999") > v("1.0.0-9999999999999999999999"));
        assert!(v("1.0.0-99999999999999999999999") < v("1.0.0-a"));
    }

    #[test]
    fn long_input_is_shortened_in_messages() {
        let long = format!("x{}", "1".repeat(5000));
        let msg = NuGetVersion::parse(&long).unwrap_err().to_string();
        assert!(msg.len() < 400, "{msg}");
        assert!(msg.contains('…'));
    }

    #[test]
    fn from_str_and_serde_shape() {
        let x: NuGetVersion = "1.0.0-beta+m".parse().unwrap();
        assert_eq!(x.full_string(), "1.0.0-beta+m");
    }
}
