//! Search terms over the in-memory feed, shared by V3 search and the V2 feed's `Search()`: how a query is
//! split into terms, which package versions a term matches, and how an ID ranks.

use super::{IndexedPackage, Lowered};

/// One parsed, lower-cased search term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// Matched anywhere: ID, title, tags, description, authors.
    Text(String),
    /// `id:` — part of the ID.
    Id(String),
    /// `packageid:` — the whole ID.
    PackageId(String),
    /// `tag:`/`tags:` — one whole tag.
    Tag(String),
    /// `author:`/`authors:` — part of the authors.
    Author(String),
    /// `owner:`/`owners:` — one owner's name.
    Owner(String),
}

/// Splits `q` into terms: quoted phrases, `field:value` for the fields above (any other field is free
/// text); `*` is dropped when `drop_stars` (NuGet's V2 search has no wildcards, PowerShellGet sends them).
pub fn parse(q: &str, drop_stars: bool) -> Vec<Term> {
    let mut terms = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            '*' if drop_stars => {}
            c if c.is_whitespace() && !quoted => push_term(&mut terms, &mut token),
            c => token.push(c),
        }
    }
    // An unterminated quote runs to the end of the query: its text is still a term.
    push_term(&mut terms, &mut token);
    terms
}

/// Ends the token being read: a `field:value` for the known fields, any other text as free text.
fn push_term(terms: &mut Vec<Term>, token: &mut String) {
    let lower = std::mem::take(token).trim().to_lowercase();
    if lower.is_empty() {
        return;
    }
    terms.push(match lower.split_once(':') {
        Some((field, value)) if !value.is_empty() => match field {
            "id" => Term::Id(value.to_string()),
            "packageid" => Term::PackageId(value.to_string()),
            "tag" | "tags" => Term::Tag(value.to_string()),
            "author" | "authors" => Term::Author(value.to_string()),
            "owner" | "owners" => Term::Owner(value.to_string()),
            _ => Term::Text(lower),
        },
        _ => Term::Text(lower),
    });
}

/// How many of a query's texts the corpus scans for; the other terms are checked on what they leave.
const PREFILTER_TEXTS: usize = 3;

/// A query's terms with their substring searchers built once: search tries them on every package of
/// the feed, and building a searcher per package and term cost more than the searching.
pub struct Matcher<'t> {
    terms: &'t [Term],
    finders: Vec<memchr::memmem::Finder<'t>>,
}

impl<'t> Matcher<'t> {
    pub fn new(terms: &'t [Term]) -> Matcher<'t> {
        Matcher {
            terms,
            finders: terms
                .iter()
                .map(|term| memchr::memmem::Finder::new(term.text().as_bytes()))
                .collect(),
        }
    }

    /// Whether a version of a package, with its lower-cased texts, matches every term.
    pub fn matches(&self, package: &IndexedPackage, lowered: &Lowered<'_>) -> bool {
        self.terms
            .iter()
            .zip(&self.finders)
            .all(|(term, finder)| matches(package, lowered, term, finder))
    }

    /// Texts that every matching version's texts contain: each term's but an owner's (the longest few,
    /// which are the rarest). The corpus finds the packages that hold them all by scanning its arena once
    /// per text, instead of trying every term on every package.
    pub fn must_contain(&self) -> Vec<&'t str> {
        let mut texts: Vec<&str> = self
            .terms
            .iter()
            .filter(|term| !matches!(term, Term::Owner(_)))
            .map(Term::text)
            .collect();
        texts.sort_by_key(|text| std::cmp::Reverse(text.len()));
        texts.dedup();
        texts.truncate(PREFILTER_TEXTS);
        texts
    }
}

impl Term {
    /// The term's text, without its field.
    fn text(&self) -> &str {
        match self {
            Term::Text(t)
            | Term::Id(t)
            | Term::PackageId(t)
            | Term::Tag(t)
            | Term::Author(t)
            | Term::Owner(t) => t,
        }
    }
}

/// Whether a version of a package matches one term; `finder` searches for the term's text.
fn matches(
    package: &IndexedPackage,
    lowered: &Lowered<'_>,
    term: &Term,
    finder: &memchr::memmem::Finder<'_>,
) -> bool {
    let contains = |haystack: &str| finder.find(haystack.as_bytes()).is_some();
    let id = package.lower_id.as_str();
    match term {
        Term::Text(_) => contains(lowered.free_text()),
        Term::Id(_) => contains(id),
        Term::PackageId(t) => id == t,
        Term::Tag(t) => lowered.tags().split_whitespace().any(|tag| tag == t),
        Term::Author(_) => contains(lowered.authors()),
        Term::Owner(t) => package.owners.iter().any(|name| name.to_lowercase() == *t),
    }
}

/// How many ranks [`rank`] gives.
pub const RANKS: usize = 4;

/// Ranks an exact ID match first (3), then IDs that start with (2) or contain (1) the text, then the rest.
pub fn rank(id: &str, terms: &[Term]) -> usize {
    terms
        .iter()
        .filter_map(|term| match term {
            Term::Text(t) | Term::Id(t) | Term::PackageId(t) => Some(t.as_str()),
            _ => None,
        })
        .map(|t| {
            if id == t {
                3
            } else if id.starts_with(t) {
                2
            } else if id.contains(t) {
                1
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_split_into_fields() {
        assert_eq!(
            parse(
                "json  id:Contoso tags:web owner:alice packageid:A.B \"two words\" other:x author:Ann",
                false
            ),
            vec![
                Term::Text("json".into()),
                Term::Id("contoso".into()),
                Term::Tag("web".into()),
                Term::Owner("alice".into()),
                Term::PackageId("a.b".into()),
                Term::Text("two words".into()),
                Term::Text("other:x".into()),
                Term::Author("ann".into()),
            ]
        );
        assert!(parse("   ", false).is_empty());
        assert_eq!(parse("Contoso*", true), vec![Term::Text("contoso".into())]);
        assert_eq!(
            parse("Contoso*", false),
            vec![Term::Text("contoso*".into())]
        );
    }

    #[test]
    fn exact_ids_rank_first() {
        assert_eq!(rank("contoso.lib", &parse("contoso.lib", false)), 3);
        assert_eq!(rank("contoso.lib", &parse("contoso", false)), 2);
        assert_eq!(rank("contoso.lib", &parse("lib", false)), 1);
        assert_eq!(rank("contoso.lib", &parse("tag:x", false)), 0);
    }
}
