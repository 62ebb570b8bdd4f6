//! Fuzzes `.nuspec` parsing: no panics, and parsed fields are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::{validate_id, NuGetVersion, Nuspec, VersionRange};

fuzz_target!(|data: &[u8]| {
    if let Ok(nuspec) = Nuspec::parse(data) {
        assert!(validate_id(&nuspec.id).is_ok());
        assert!(!nuspec.authors.is_empty() && !nuspec.description.is_empty());
        let version = NuGetVersion::parse(&nuspec.version.full_string())
            .expect("package version must round-trip");
        assert_eq!(version, nuspec.version);
        for group in &nuspec.dependency_groups {
            for dependency in &group.dependencies {
                assert!(validate_id(&dependency.id).is_ok());
                let range = VersionRange::parse(&dependency.range.normalized())
                    .expect("dependency range must round-trip");
                assert_eq!(range, dependency.range);
            }
        }
        assert!(nuspec.tags.iter().all(|t| !t.is_empty()));
    }
});
