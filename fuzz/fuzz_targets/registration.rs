//! Fuzzes the readers of another feed's documents (service index, registration index and page): no
//! panics, and every leaf read has a version that parses and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::registration::{
    find_resource, parse_registration_index, parse_registration_page, service_resources,
    RegistrationPage,
};
use nuget_formats::NuGetVersion;

fn check(leaves: &[nuget_formats::registration::RegistrationLeaf]) {
    for leaf in leaves {
        let parsed = NuGetVersion::parse(&leaf.version).expect("a leaf's version parses");
        assert_eq!(parsed.normalized(), leaf.version);
        assert!(leaf.entry.get("@id").is_none());
        assert!(leaf.entry.get("packageContent").is_none());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(resources) = service_resources(data) {
        let _ = find_resource(&resources, &["PackageBaseAddress/3.0.0", "RegistrationsBaseUrl"]);
    }
    if let Ok(pages) = parse_registration_index(data) {
        for page in &pages {
            if let RegistrationPage::Inline(leaves) = page {
                check(leaves);
            }
        }
    }
    if let Ok(leaves) = parse_registration_page(data) {
        check(&leaves);
    }
});
