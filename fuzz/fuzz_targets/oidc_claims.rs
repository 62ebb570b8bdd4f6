//! Fuzzes the reading of a CI identity token's claims: any payload is read without a panic, and what
//! is read is consistent (the workflow is a file name, the provenance names the repository).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nugate_apikey::oidc_claims::{identity_from_json, workflow_file};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let file = workflow_file(text);
        assert!(!file.contains('/') && !file.contains('@'));
    }
    if let Ok(identity) = identity_from_json(data, "token") {
        assert!(!identity.workflow.contains('/'));
        assert!(identity.provenance().starts_with(&identity.repository));
        assert_eq!(identity.token_hash.len(), 64);
    }
});
