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
}
