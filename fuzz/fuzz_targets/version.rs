//! Fuzzes version parsing: no panics, and parsed versions round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::NuGetVersion;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(version) = NuGetVersion::parse(text) {
        let normalized = version.normalized();
        let reparsed = NuGetVersion::parse(&normalized).expect("normalized form must parse");
        assert_eq!(reparsed, version);
        assert_eq!(reparsed.normalized(), normalized);
        let full = NuGetVersion::parse(&version.full_string()).expect("full string must parse");
        assert_eq!(full, version);
        assert_eq!(full.metadata(), version.metadata());
        assert_eq!(version.cmp(&reparsed), std::cmp::Ordering::Equal);
    }
});
