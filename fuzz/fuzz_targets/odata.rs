//! Fuzzes the V2 feed's OData subset: `$filter`, `$orderby`, `$select` and string literals never panic,
//! refusals stay short, and what parses can be evaluated and written back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuget_formats::odata::{
    parse_filter, parse_orderby, parse_select, parse_string_literal, string_literal, FilterSubject,
};

struct Subject;

impl FilterSubject for Subject {
    fn id(&self) -> &str {
        "Contoso.Lib"
    }
    fn normalized_version(&self) -> &str {
        "1.0.0"
    }
    fn is_latest_version(&self) -> bool {
        true
    }
    fn is_absolute_latest_version(&self) -> bool {
        false
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_filter(text) {
        Ok(filter) => {
            let _ = filter.matches(&Subject);
            let _ = filter.pinned_id();
            let _ = filter.pins_version();
        }
        Err(e) => assert!(e.to_string().len() <= 700, "{e}"),
    }
    if let Err(e) = parse_orderby(text) {
        assert!(e.to_string().len() <= 700, "{e}");
    }
    if let Err(e) = parse_select(text) {
        assert!(e.to_string().len() <= 700, "{e}");
    }
    match parse_string_literal(text) {
        Ok(value) => assert_eq!(string_literal(&value), text),
        Err(e) => assert!(e.to_string().len() <= 700, "{e}"),
    }
});
