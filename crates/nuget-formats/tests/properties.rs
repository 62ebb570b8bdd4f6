//! Property tests: round trips and "never panics" over generated input.

#![allow(clippy::unwrap_used)]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{Cursor, Write};

use nuget_formats::{read_nupkg, NuGetVersion, NupkgLimits, Nuspec, VersionRange};
use proptest::prelude::*;

/// The largest numeric version part NuGet clients can read (a signed 32-bit integer).
const MAX_PART: u64 = i32::MAX as u64;

/// A numeric part NuGet accepts, sometimes written with leading zeros.
fn number() -> impl Strategy<Value = String> {
    (
        prop_oneof![0u64..20, 0u64..=MAX_PART, Just(MAX_PART)],
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(n, zeros, pad)| {
            if pad {
                format!("{}{n}", "0".repeat(zeros))
            } else {
                n.to_string()
            }
        })
}

/// A prerelease label: numeric without leading zeros, or alphanumeric.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..1000).prop_map(|n| n.to_string()),
        "[A-Za-z-][0-9A-Za-z-]{0,7}",
        "[0-9][0-9A-Za-z-]{0,5}[A-Za-z-]",
        prop_oneof![
            Just("alpha"),
            Just("Alpha"),
            Just("BETA"),
            Just("beta"),
            Just("rc")
        ]
        .prop_map(str::to_string),
    ]
}

fn version_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(number(), 1..=4),
        prop::collection::vec(label(), 0..4),
        prop::option::of("[0-9A-Za-z-]{1,6}(\\.[0-9A-Za-z-]{1,6}){0,2}"),
    )
        .prop_map(|(parts, labels, metadata)| {
            let mut text = parts.join(".");
            if !labels.is_empty() {
                text.push('-');
                text.push_str(&labels.join("."));
            }
            if let Some(meta) = metadata {
                text.push('+');
                text.push_str(&meta);
            }
            text
        })
}

fn version() -> impl Strategy<Value = NuGetVersion> {
    version_text().prop_map(|t| NuGetVersion::parse(&t).unwrap())
}

/// Versions drawn from a small pool so that equal pairs occur often.
fn small_version() -> impl Strategy<Value = NuGetVersion> {
    (
        prop::collection::vec(0u64..3, 1..=4),
        prop::collection::vec(
            prop_oneof![Just("a"), Just("A"), Just("b"), Just("1"), Just("2")],
            0..3,
        ),
        prop::option::of(Just("m")),
    )
        .prop_map(|(parts, labels, meta)| {
            let mut text = parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".");
            if !labels.is_empty() {
                text.push('-');
                text.push_str(&labels.join("."));
            }
            if let Some(m) = meta {
                text.push('+');
                text.push_str(m);
            }
            NuGetVersion::parse(&text).unwrap()
        })
}

fn hash_of(v: &NuGetVersion) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

fn float_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        Just("*-*".to_string()),
        (prop::collection::vec(0u64..50, 1..=3), any::<bool>()).prop_map(|(parts, pre)| {
            let mut t: Vec<String> = parts.iter().map(u64::to_string).collect();
            t.push("*".into());
            let mut t = t.join(".");
            if pre {
                t.push_str("-*");
            }
            t
        }),
        (
            prop::collection::vec(0u64..50, 1..=4),
            prop_oneof![Just(""), Just("beta"), Just("beta."), Just("rc.1.")]
        )
            .prop_map(|(parts, prefix)| {
                let core: Vec<String> = parts.iter().map(u64::to_string).collect();
                format!("{}-{prefix}*", core.join("."))
            }),
    ]
}

fn range_text() -> impl Strategy<Value = String> {
    let bounded = (
        prop::option::of(version_text()),
        prop::option::of(version_text()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map("empty interval", |(lo, hi, li, hi_inc)| {
            let (lo, hi) = match (lo, hi) {
                (Some(a), Some(b)) => {
                    let (va, vb) = (NuGetVersion::parse(&a).ok()?, NuGetVersion::parse(&b).ok()?);
                    match va.cmp(&vb) {
                        Ordering::Less => (Some(a), Some(b)),
                        Ordering::Greater => (Some(b), Some(a)),
                        Ordering::Equal if li && hi_inc => (Some(a), Some(b)),
                        Ordering::Equal => return None,
                    }
                }
                other => other,
            };
            Some(format!(
                "{}{} , {}{}",
                if li { '[' } else { '(' },
                lo.unwrap_or_default(),
                hi.unwrap_or_default(),
                if hi_inc { ']' } else { ')' }
            ))
        });
    prop_oneof![
        version_text(),
        version_text().prop_map(|v| format!("[{v}]")),
        bounded,
        float_text(),
        float_text().prop_map(|f| format!("[{f}, )")),
        Just(String::new()),
    ]
}

const NUSPEC: &str = r#"<?xml version="1.0"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Demo</id><version>1.0.0</version><authors>a</authors><description>d</description>
    <dependencies><group targetFramework="net8.0"><dependency id="X" version="[1.0,2.0)"/></group></dependencies>
  </metadata>
</package>"#;

fn valid_zip() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    writer.start_file("Demo.nuspec", options).unwrap();
    writer.write_all(NUSPEC.as_bytes()).unwrap();
    writer.start_file("lib/net8.0/Demo.dll", options).unwrap();
    writer.write_all(&[0u8; 300]).unwrap();
    writer.finish().unwrap().into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn normalized_round_trips(v in version()) {
        let normalized = v.normalized();
        let reparsed = NuGetVersion::parse(&normalized).unwrap();
        prop_assert_eq!(&reparsed, &v);
        prop_assert_eq!(reparsed.normalized(), normalized.clone());
        prop_assert_eq!(v.to_string(), normalized);
        prop_assert_eq!(hash_of(&reparsed), hash_of(&v));
    }

    #[test]
    fn full_string_round_trips(v in version()) {
        let full = v.full_string();
        let reparsed = NuGetVersion::parse(&full).unwrap();
        prop_assert_eq!(&reparsed, &v);
        prop_assert_eq!(reparsed.metadata(), v.metadata());
        prop_assert_eq!(reparsed.release_labels(), v.release_labels());
        prop_assert_eq!(reparsed.full_string(), full);
    }

    #[test]
    fn ordering_is_total_and_consistent(
        a in small_version(),
        b in small_version(),
        c in small_version(),
    ) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
        if a == b {
            prop_assert_eq!(hash_of(&a), hash_of(&b));
            prop_assert_eq!(a.normalized().to_lowercase(), b.normalized().to_lowercase());
        }
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
    }

    #[test]
    fn ordering_with_large_versions(a in version(), b in version()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
    }

    #[test]
    fn range_normalized_round_trips(text in range_text()) {
        let range = VersionRange::parse(&text).unwrap();
        let normalized = range.normalized();
        let reparsed = VersionRange::parse(&normalized).unwrap();
        prop_assert_eq!(&reparsed, &range);
        prop_assert_eq!(reparsed.normalized(), normalized);
    }

    #[test]
    fn range_satisfies_its_bounds(text in range_text(), v in version()) {
        let range = VersionRange::parse(&text).unwrap();
        if let Some(min) = range.min() {
            prop_assert_eq!(range.satisfies(min), range.is_min_inclusive());
        }
        if range.satisfies(&v) {
            if let Some(max) = range.max() {
                prop_assert!(&v <= max);
            }
        }
    }

    #[test]
    fn parts_above_the_32_bit_range_are_refused(
        parts in prop::collection::vec(0u64..=MAX_PART, 1..=4),
        at in any::<prop::sample::Index>(),
        big in prop_oneof![Just(MAX_PART + 1), (MAX_PART + 1)..=u64::MAX],
        suffix in prop_oneof![Just(""), Just("-beta.1"), Just("+meta")],
    ) {
        let at = at.index(parts.len());
        let text = |value: u64| {
            let mut parts: Vec<String> = parts.iter().map(u64::to_string).collect();
            parts[at] = value.to_string();
            format!("{}{suffix}", parts.join("."))
        };
        let refused = text(big);
        let message = NuGetVersion::parse(&refused).unwrap_err().to_string();
        let expected = format!("version part '{big}' is larger than 2147483647, the largest NuGet allows");
        prop_assert!(message.contains(&expected), "{}: {}", refused, message);
        prop_assert!(VersionRange::parse(&refused).is_err());
        let exact = format!("[{refused}]");
        prop_assert!(VersionRange::parse(&exact).is_err());
        let accepted = NuGetVersion::parse(&text(MAX_PART)).unwrap();
        let numbers = [accepted.major(), accepted.minor(), accepted.patch(), accepted.revision()];
        prop_assert_eq!(numbers[at], MAX_PART);
    }

    #[test]
    fn version_parse_never_panics(s in "\\PC*") {
        if let Ok(v) = NuGetVersion::parse(&s) {
            prop_assert_eq!(NuGetVersion::parse(&v.full_string()).unwrap(), v);
        }
    }

    #[test]
    fn version_parse_never_panics_on_versionish(s in "[0-9.+*a-z-]{0,20}") {
        let _ = NuGetVersion::parse(&s);
    }

    #[test]
    fn range_parse_never_panics(s in "[\\[\\]()0-9., *a-zA-Z+-]{0,24}") {
        if let Ok(r) = VersionRange::parse(&s) {
            prop_assert_eq!(VersionRange::parse(&r.normalized()).unwrap(), r);
        }
    }

    #[test]
    fn range_parse_never_panics_on_anything(s in "\\PC*") {
        let _ = VersionRange::parse(&s);
    }

    #[test]
    fn nuspec_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Nuspec::parse(&bytes);
    }

    #[test]
    fn nuspec_parse_never_panics_on_mutations(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = NUSPEC.as_bytes().to_vec();
        for (index, byte) in edits {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = Nuspec::parse(&bytes);
    }

    #[test]
    fn read_nupkg_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_nupkg(Cursor::new(bytes), &NupkgLimits::default());
    }

    #[test]
    fn read_nupkg_never_panics_on_corrupted_zip(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = valid_zip();
        for (index, byte) in edits {
            let i = index.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = read_nupkg(Cursor::new(bytes), &NupkgLimits::default());
    }
}

#[test]
fn valid_zip_is_accepted() {
    let pkg = read_nupkg(Cursor::new(valid_zip()), &NupkgLimits::default()).unwrap();
    assert_eq!(pkg.nuspec.id, "Demo");
}
