//! Fuzzes the deprecation API's field reader: any query and body, as a form or as JSON, never panics,
//! refusals stay short, and no more versions than the limit are ever returned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::deprecation::{parse_deprecation_request, MAX_VERSIONS};

fuzz_target!(|data: &[u8]| {
    // The first line is the query, the rest the body.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let query = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("application/json"),
        None,
    ] {
        match parse_deprecation_request(&query, content_type, body) {
            Ok(fields) => assert!(fields.versions.len() <= MAX_VERSIONS),
            Err(e) => assert!(e.to_string().len() <= 400, "{e}"),
        }
    }
});
