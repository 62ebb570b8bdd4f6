//! Fuzzes version range parsing: no panics, and parsed ranges round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::VersionRange;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(range) = VersionRange::parse(text) {
        let normalized = range.normalized();
        let reparsed = VersionRange::parse(&normalized).expect("normalized form must parse");
        assert_eq!(reparsed, range);
        assert_eq!(reparsed.normalized(), normalized);
        if let Some(min) = range.min() {
            assert_eq!(range.satisfies(min), range.is_min_inclusive());
        }
        if let Some(max) = range.max() {
            assert_eq!(range.satisfies(max), range.is_max_inclusive());
        }
    }
});
