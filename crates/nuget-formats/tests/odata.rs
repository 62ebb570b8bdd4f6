//! Property tests of the V2 feed's OData subset: never a panic, generated queries round-trip, every
//! refusal is a short message.

#![allow(clippy::unwrap_used)]

use nuget_formats::odata::{
    parse_filter, parse_orderby, parse_select, parse_string_literal, string_literal, Filter,
    FilterSubject, OrderKey, Property, Select, MAX_DEPTH, MAX_EXPRESSION_CHARS,
};
use proptest::prelude::*;

/// Longest refusal message: the subset's description plus a short quote of the input.
const MAX_MESSAGE_BYTES: usize = 700;

fn literal_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._-]{0,12}",
        "[a-z' ]{0,8}",
        Just("1.0".to_string()),
        Just("1.0.0-beta.1".to_string()),
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::IsLatestVersion),
        Just(Filter::IsAbsoluteLatestVersion),
        literal_text().prop_map(Filter::IdEquals),
        literal_text().prop_map(Filter::LowerIdEquals),
        literal_text().prop_map(|written| {
            let normalized = nuget_formats::NuGetVersion::parse(&written)
                .ok()
                .map(|v| v.normalized());
            Filter::VersionEquals {
                written,
                normalized,
            }
        }),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner, 2..4).prop_map(Filter::Or),
        ]
    })
}

/// Writes a filter back as text, every compound part in parentheses.
fn render(filter: &Filter) -> String {
    let part = |f: &Filter| match f {
        Filter::And(_) | Filter::Or(_) => format!("({})", render(f)),
        _ => render(f),
    };
    match filter {
        Filter::IsLatestVersion => "IsLatestVersion".into(),
        Filter::IsAbsoluteLatestVersion => "isabsolutelatestversion".into(),
        Filter::IdEquals(id) => format!("Id eq {}", string_literal(id)),
        Filter::LowerIdEquals(id) => format!("tolower(Id)  eq {}", string_literal(id)),
        Filter::VersionEquals { written, .. } => format!("Version eq {}", string_literal(written)),
        Filter::And(parts) => parts.iter().map(part).collect::<Vec<_>>().join(" and "),
        Filter::Or(parts) => parts.iter().map(part).collect::<Vec<_>>().join(" or "),
    }
}

#[derive(Debug)]
struct Subject {
    id: String,
    version: String,
    latest: bool,
    absolute: bool,
}

impl FilterSubject for Subject {
    fn id(&self) -> &str {
        &self.id
    }
    fn normalized_version(&self) -> &str {
        &self.version
    }
    fn is_latest_version(&self) -> bool {
        self.latest
    }
    fn is_absolute_latest_version(&self) -> bool {
        self.absolute
    }
}

fn subject() -> impl Strategy<Value = Subject> {
    (
        "[A-Za-z.]{1,6}",
        prop_oneof![Just("1.0.0"), Just("2.0.0-beta"), Just("1.0.1")],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, version, latest, absolute)| Subject {
            id,
            version: version.to_string(),
            latest,
            absolute,
        })
}

/// Text made of the subset's own pieces, so the parser's deeper paths are reached.
fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("IsLatestVersion"),
            Just("IsAbsoluteLatestVersion"),
            Just("Id"),
            Just("Version"),
            Just("tolower"),
            Just("eq"),
            Just("and"),
            Just("or"),
            Just("("),
            Just(")"),
            Just("'x'"),
            Just("'"),
            Just("''"),
            Just(","),
            Just("desc"),
            Just("*"),
            Just(" "),
            Just("substringof"),
        ],
        0..40,
    )
    .prop_map(|parts| parts.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_filters_round_trip(f in filter()) {
        let text = render(&f);
        prop_assume!(text.chars().count() <= MAX_EXPRESSION_CHARS);
        prop_assert_eq!(parse_filter(&text).unwrap(), f);
    }

    #[test]
    fn parsed_filters_agree_with_their_parts(f in filter(), s in subject()) {
        let parsed = parse_filter(&render(&f)).unwrap();
        let expected = match &f {
            Filter::And(parts) => parts.iter().all(|p| p.matches(&s)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(&s)),
            other => other.matches(&s),
        };
        prop_assert_eq!(parsed.matches(&s), expected);
        if let Some(id) = parsed.pinned_id() {
            if parsed.matches(&s) {
                prop_assert!(s.id.eq_ignore_ascii_case(id) || s.id.to_lowercase() == id.to_lowercase());
            }
        }
    }

    #[test]
    fn nothing_panics_and_refusals_are_short(text in prop_oneof![any::<String>(), token_soup()]) {
        for result in [
            parse_filter(&text).err(),
            parse_orderby(&text).err(),
            parse_select(&text).err(),
            parse_string_literal(&text).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(result.to_string().len() <= MAX_MESSAGE_BYTES, "{}", result);
        }
    }

    #[test]
    fn literals_round_trip(value in any::<String>()) {
        prop_assume!(value.chars().count() < MAX_EXPRESSION_CHARS / 2);
        prop_assert_eq!(parse_string_literal(&string_literal(&value)).unwrap(), value);
    }

    #[test]
    fn orderby_round_trips(keys in prop::collection::vec(
        (prop::sample::select(Property::ALL.to_vec()).prop_filter("sortable", |p| p.sortable()), any::<bool>()),
        1..6,
    )) {
        let text = keys
            .iter()
            .map(|(p, desc)| if *desc { format!("{} desc", p.name()) } else { p.name().to_string() })
            .collect::<Vec<_>>()
            .join(",");
        let expected: Vec<OrderKey> = keys
            .iter()
            .map(|(property, descending)| OrderKey { property: *property, descending: *descending })
            .collect();
        prop_assert_eq!(parse_orderby(&text).unwrap(), expected);
    }

    #[test]
    fn select_round_trips(props in prop::collection::vec(prop::sample::select(Property::ALL.to_vec()), 1..8)) {
        let text = props.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ");
        let Select::Only(parsed) = parse_select(&text).unwrap() else {
            panic!("a list is not '*'");
        };
        for p in &props {
            prop_assert!(parsed.contains(p));
        }
        prop_assert!(parsed.len() <= props.len());
    }
}

#[test]
fn hostile_inputs_are_refused_quickly() {
    let started = std::time::Instant::now();
    let inputs = [
        "(".repeat(100_000),
        format!("{}IsLatestVersion", "(".repeat(MAX_DEPTH + 1)),
        "'".repeat(MAX_EXPRESSION_CHARS + 1),
        "IsLatestVersion or ".repeat(500),
        "\u{0}".repeat(64),
        format!("Id eq '{}", "x".repeat(MAX_EXPRESSION_CHARS - 10)),
    ];
    for input in &inputs {
        let error = parse_filter(input).unwrap_err();
        assert!(error.to_string().len() <= MAX_MESSAGE_BYTES, "{error}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
