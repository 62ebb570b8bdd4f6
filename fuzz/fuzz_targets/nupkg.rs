//! Fuzzes `.nupkg` reading: no panics, limits honoured on success.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use nuget_formats::{read_nupkg, NupkgLimits, Nuspec};

fuzz_target!(|data: &[u8]| {
    let limits = NupkgLimits::default();
    if let Ok(package) = read_nupkg(Cursor::new(data), &limits) {
        assert!(package.nuspec_bytes.len() as u64 <= limits.max_nuspec_bytes);
        assert!(package.entries.len() <= limits.max_entries);
        let reparsed = Nuspec::parse(&package.nuspec_bytes).expect("nuspec must re-parse");
        assert_eq!(reparsed, package.nuspec);
        if let Some(readme) = &package.readme {
            assert!(readme.len() as u64 <= limits.max_readme_bytes);
        }
    }
});
