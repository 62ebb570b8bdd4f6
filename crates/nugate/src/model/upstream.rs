//! Which IDs may come from an upstream feed: the rule that closes the door to dependency confusion.
//!
//! A client asked for one feed takes the highest version it is offered. If an upstream's version of an
//! internal ID were merged in, anyone able to publish that ID upstream would win every restore. So an
//! ID the feed has itself (any version, listed or not), or one under a reserved prefix, is never looked
//! up upstream; administrators can block more IDs, and an allow-list upstream passes only approved ones.

use super::scope::subject_matches;

/// An administrator's rule about IDs from upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamRule {
    /// Never taken from any upstream.
    Block,
    /// Taken from an allow-list upstream (open upstreams pass it anyway).
    Approve,
}

impl UpstreamRule {
    /// The stored (and CLI) name.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamRule::Block => "block",
            UpstreamRule::Approve => "approve",
        }
    }

    /// Reads a stored name.
    pub fn from_stored(text: &str) -> Option<UpstreamRule> {
        [UpstreamRule::Block, UpstreamRule::Approve]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// Why an ID is not taken from upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withheld {
    /// The feed has the ID itself.
    Local,
    /// The ID falls under a reserved prefix.
    Reserved,
    /// An administrator blocked it.
    Blocked,
    /// The upstream is an allow-list one and the ID is not approved.
    NotApproved,
}

impl Withheld {
    /// What a refused read or a CLI check says.
    pub fn reason(self) -> &'static str {
        match self {
            Withheld::Local => "the ID is this feed's own",
            Withheld::Reserved => "the ID falls under a reserved prefix",
            Withheld::Blocked => "an administrator blocked the ID from upstream feeds",
            Withheld::NotApproved => "the upstream only passes approved IDs and this one is not",
        }
    }
}

/// What is known about an ID when deciding whether an upstream may supply it.
pub struct UpstreamCheck<'a> {
    pub id: &'a str,
    /// The feed has a registration of its own for the ID (not one cached from upstream).
    pub local: bool,
    /// Reserved prefixes (globs such as `Contoso.*`).
    pub reserved: &'a [String],
    /// Administrators' rules.
    pub rules: &'a [(UpstreamRule, String)],
}

impl UpstreamCheck<'_> {
    /// Whether an upstream in `allow_list` mode (or not) may supply the ID.
    pub fn decide(&self, allow_list: bool) -> Result<(), Withheld> {
        if self.local {
            return Err(Withheld::Local);
        }
        if self.reserved.iter().any(|p| subject_matches(p, self.id)) {
            return Err(Withheld::Reserved);
        }
        let matches = |rule: UpstreamRule| {
            self.rules
                .iter()
                .any(|(r, pattern)| *r == rule && subject_matches(pattern, self.id))
        };
        if matches(UpstreamRule::Block) {
            return Err(Withheld::Blocked);
        }
        if allow_list && !matches(UpstreamRule::Approve) {
            return Err(Withheld::NotApproved);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<'a>(
        id: &'a str,
        local: bool,
        reserved: &'a [String],
        rules: &'a [(UpstreamRule, String)],
    ) -> UpstreamCheck<'a> {
        UpstreamCheck {
            id,
            local,
            reserved,
            rules,
        }
    }

    #[test]
    fn local_reserved_and_blocked_ids_never_come_from_upstream() {
        let reserved = vec!["Contoso.*".to_string()];
        let rules = vec![
            (UpstreamRule::Block, "Evil.*".to_string()),
            (UpstreamRule::Approve, "Newtonsoft.Json".to_string()),
        ];
        let open = |id, local| check(id, local, &reserved, &rules).decide(false);
        assert_eq!(open("Newtonsoft.Json", false), Ok(()));
        assert_eq!(open("Serilog", false), Ok(()));
        assert_eq!(open("Serilog", true), Err(Withheld::Local));
        assert_eq!(open("contoso.internal", false), Err(Withheld::Reserved));
        assert_eq!(open("EVIL.thing", false), Err(Withheld::Blocked));
        // A block wins over an approval, and the local rule over everything.
        let both = vec![
            (UpstreamRule::Approve, "Evil.*".to_string()),
            (UpstreamRule::Block, "Evil.Lib".to_string()),
        ];
        assert_eq!(
            check("Evil.Lib", false, &[], &both).decide(true),
            Err(Withheld::Blocked)
        );
        assert_eq!(check("Evil.Other", false, &[], &both).decide(true), Ok(()));
    }

    #[test]
    fn an_allow_list_upstream_passes_approved_ids_only() {
        let rules = vec![(UpstreamRule::Approve, "Newtonsoft.*".to_string())];
        let allow = |id| check(id, false, &[], &rules).decide(true);
        assert_eq!(allow("newtonsoft.json"), Ok(()));
        assert_eq!(allow("Serilog"), Err(Withheld::NotApproved));
    }

    #[test]
    fn stored_names_round_trip() {
        for rule in [UpstreamRule::Block, UpstreamRule::Approve] {
            assert_eq!(UpstreamRule::from_stored(rule.as_str()), Some(rule));
        }
        assert_eq!(UpstreamRule::from_stored("allow"), None);
    }
}
