//! Deprecation reasons and vulnerability severities, as owners record them and the protocol shows them.

/// Why a version is deprecated (NuGet.org's reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeprecationReason {
    /// No longer maintained.
    Legacy,
    /// Has bugs that make it unsuitable for use.
    CriticalBugs,
    /// Any other reason, given in the message.
    Other,
}

impl DeprecationReason {
    const EVERY: [DeprecationReason; 3] = [
        DeprecationReason::Legacy,
        DeprecationReason::CriticalBugs,
        DeprecationReason::Other,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeprecationReason::Legacy => "legacy",
            DeprecationReason::CriticalBugs => "critical-bugs",
            DeprecationReason::Other => "other",
        }
    }

    /// Reads a stored name; anything else is not a reason.
    pub fn from_stored(text: &str) -> Option<DeprecationReason> {
        Self::EVERY.into_iter().find(|r| r.as_str() == text)
    }

    /// The name in the protocol's `deprecation.reasons`.
    pub fn protocol_name(self) -> &'static str {
        match self {
            DeprecationReason::Legacy => "Legacy",
            DeprecationReason::CriticalBugs => "CriticalBugs",
            DeprecationReason::Other => "Other",
        }
    }

    /// Words for the gallery.
    pub fn label(self) -> &'static str {
        match self {
            DeprecationReason::Legacy => "it is no longer maintained",
            DeprecationReason::CriticalBugs => "it has critical bugs",
            DeprecationReason::Other => "of another reason",
        }
    }
}

/// The reasons of one deprecation: at least one, each at most once, in a fixed order (NuGet.org lets
/// owners combine them). Stored as their names joined by commas, so a single stored name reads as a set
/// of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeprecationReasons {
    legacy: bool,
    critical_bugs: bool,
    other: bool,
}

impl DeprecationReasons {
    /// The set of the flagged reasons; `None` when no flag is set.
    pub fn from_flags(
        legacy: bool,
        critical_bugs: bool,
        other: bool,
    ) -> Option<DeprecationReasons> {
        (legacy || critical_bugs || other).then_some(DeprecationReasons {
            legacy,
            critical_bugs,
            other,
        })
    }

    /// A set of one reason.
    pub fn only(reason: DeprecationReason) -> DeprecationReasons {
        DeprecationReasons {
            legacy: reason == DeprecationReason::Legacy,
            critical_bugs: reason == DeprecationReason::CriticalBugs,
            other: reason == DeprecationReason::Other,
        }
    }

    /// The set of `reasons`; `None` when empty.
    pub fn of(reasons: &[DeprecationReason]) -> Option<DeprecationReasons> {
        Self::from_flags(
            reasons.contains(&DeprecationReason::Legacy),
            reasons.contains(&DeprecationReason::CriticalBugs),
            reasons.contains(&DeprecationReason::Other),
        )
    }

    /// The reasons, in NuGet.org's order.
    pub fn iter(self) -> impl Iterator<Item = DeprecationReason> {
        DeprecationReason::EVERY
            .into_iter()
            .filter(move |r| self.contains(*r))
    }

    /// Whether `reason` is one of them.
    pub fn contains(self, reason: DeprecationReason) -> bool {
        match reason {
            DeprecationReason::Legacy => self.legacy,
            DeprecationReason::CriticalBugs => self.critical_bugs,
            DeprecationReason::Other => self.other,
        }
    }

    /// The stored form: names joined by commas.
    pub fn to_stored(self) -> String {
        self.iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads the stored form; an unknown name or an empty list is not a set of reasons.
    pub fn from_stored(text: &str) -> Option<DeprecationReasons> {
        let reasons = text
            .split(',')
            .map(|name| DeprecationReason::from_stored(name.trim()))
            .collect::<Option<Vec<_>>>()?;
        Self::of(&reasons)
    }

    /// The names in the protocol's `deprecation.reasons`.
    pub fn protocol_names(self) -> Vec<&'static str> {
        self.iter().map(|r| r.protocol_name()).collect()
    }

    /// Words for the gallery: "it is no longer maintained and it has critical bugs".
    pub fn label(self) -> String {
        self.iter()
            .map(|r| r.label())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// How severe a vulnerability is; the protocol numbers them 0 (low) to 3 (critical).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Moderate,
    High,
    Critical,
}

impl Severity {
    const EVERY: [Severity; 4] = [
        Severity::Low,
        Severity::Moderate,
        Severity::High,
        Severity::Critical,
    ];

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Moderate => "moderate",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Reads a stored name; anything else is not a severity.
    pub fn from_stored(text: &str) -> Option<Severity> {
        Self::EVERY.into_iter().find(|s| s.as_str() == text)
    }

    /// The protocol's number: 0 low, 1 moderate, 2 high, 3 critical.
    pub fn number(self) -> u8 {
        match self {
            Severity::Low => 0,
            Severity::Moderate => 1,
            Severity::High => 2,
            Severity::Critical => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in DeprecationReason::EVERY {
            assert_eq!(DeprecationReason::from_stored(r.as_str()), Some(r));
        }
        for s in Severity::EVERY {
            assert_eq!(Severity::from_stored(s.as_str()), Some(s));
        }
        assert_eq!(Severity::Critical.number(), 3);
        assert_eq!(DeprecationReason::from_stored("Legacy"), None);
    }

    #[test]
    fn reason_sets_round_trip_through_their_stored_form() {
        for flags in 1..8u8 {
            let set =
                DeprecationReasons::from_flags(flags & 1 != 0, flags & 2 != 0, flags & 4 != 0)
                    .unwrap_or_else(|| panic!("flags {flags} make a set"));
            assert_eq!(DeprecationReasons::from_stored(&set.to_stored()), Some(set));
        }
        assert_eq!(DeprecationReasons::from_flags(false, false, false), None);
        assert_eq!(
            DeprecationReasons::from_stored("legacy"),
            Some(DeprecationReasons::only(DeprecationReason::Legacy)),
            "rows written before sets were one name"
        );
        assert_eq!(DeprecationReasons::from_stored(""), None);
        assert_eq!(DeprecationReasons::from_stored("legacy,bogus"), None);
        let both =
            DeprecationReasons::of(&[DeprecationReason::CriticalBugs, DeprecationReason::Legacy]);
        assert_eq!(
            both.map(|b| b.protocol_names()),
            Some(vec!["Legacy", "CriticalBugs"])
        );
        assert_eq!(
            both.map(|b| b.label()).as_deref(),
            Some("it is no longer maintained and it has critical bugs")
        );
    }
}
