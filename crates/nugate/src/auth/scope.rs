//! What a key may do (actions) and to which package IDs (subjects: explicit IDs or `*` globs).

use std::fmt;

/// An action a key can be granted, as named on the command line and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAction {
    /// Push new packages and new versions of existing ones.
    Push,
    /// Push only new versions of packages that already exist.
    PushVersion,
    /// Unlist and relist versions.
    Unlist,
    /// Verify package ownership (short-lived verification keys only).
    Verify,
    /// Everything: legacy keys.
    All,
}

impl KeyAction {
    /// Stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAction::Push => "push",
            KeyAction::PushVersion => "push-version",
            KeyAction::Unlist => "unlist",
            KeyAction::Verify => "verify",
            KeyAction::All => "all",
        }
    }

    /// The wording NuGet.org users know.
    pub fn description(self) -> &'static str {
        match self {
            KeyAction::Push => "Push new packages and package versions",
            KeyAction::PushVersion => "Push only new package versions",
            KeyAction::Unlist => "Unlist or relist package versions",
            KeyAction::Verify => "Verify package ownership",
            KeyAction::All => "All",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<KeyAction> {
        match s.trim().to_ascii_lowercase().as_str() {
            "push" | "package:push" => Some(KeyAction::Push),
            "push-version" | "pushversion" | "package:pushversion" => Some(KeyAction::PushVersion),
            "unlist" | "package:unlist" => Some(KeyAction::Unlist),
            "verify" | "package:verify" => Some(KeyAction::Verify),
            "all" => Some(KeyAction::All),
            _ => None,
        }
    }

    /// Whether this grant covers `action`.
    pub fn allows(self, action: PackageAction) -> bool {
        matches!(
            (self, action),
            (KeyAction::All, _)
                | (
                    KeyAction::Push,
                    PackageAction::PushNew | PackageAction::PushVersion
                )
                | (KeyAction::PushVersion, PackageAction::PushVersion)
                | (KeyAction::Unlist, PackageAction::Unlist)
                | (KeyAction::Verify, PackageAction::Verify)
        )
    }
}

impl fmt::Display for KeyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation on a package that a key must be allowed to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageAction {
    /// Push a version of an ID that does not exist yet.
    PushNew,
    /// Push a new version of an existing ID.
    PushVersion,
    /// Unlist or relist a version.
    Unlist,
    /// Create or use a verification key.
    Verify,
}

/// Why a subject (package ID or glob) was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubjectError {
    #[error("The glob pattern '{0}' is invalid: use letters, digits, '.', '-', '_' and '*' only.")]
    InvalidGlob(String),
    #[error("{0}")]
    InvalidId(String),
}

/// Checks a subject: globs may use `[A-Za-z0-9_.-]` and `*`; anything else must be a valid package ID.
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    if subject.contains('*') {
        let ok = !subject.is_empty()
            && subject.len() <= 256
            && subject
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*'));
        if ok {
            Ok(())
        } else {
            Err(SubjectError::InvalidGlob(subject.to_string()))
        }
    } else {
        nuget_formats::validate_id(subject).map_err(|e| SubjectError::InvalidId(e.to_string()))
    }
}

/// Anchored, case-insensitive match where `*` (the only wildcard) matches any run of characters, so
/// `Contoso.*` matches `contoso.lib` but not `Contoso`, and a glob also covers IDs created later.
pub fn subject_matches(subject: &str, package_id: &str) -> bool {
    let pattern = subject.to_ascii_lowercase();
    let id = package_id.to_ascii_lowercase();
    if !pattern.contains('*') {
        return pattern == id;
    }
    glob_match(pattern.as_bytes(), id.as_bytes())
}

/// Iterative wildcard matching with single-star backtracking: linear in practice, no regex needed.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_nuget_org_rules() {
        assert!(subject_matches("Contoso.*", "contoso.lib"));
        assert!(subject_matches("Contoso.*", "CONTOSO.Lib.Extra"));
        assert!(!subject_matches("Contoso.*", "Contoso"));
        assert!(!subject_matches("Contoso.*", "Fabrikam.Lib"));
        assert!(subject_matches("*", "Anything"));
        assert!(subject_matches("*.Lib", "Contoso.Lib"));
        assert!(subject_matches("Con*so.*b", "Contoso.Lib"));
        assert!(!subject_matches("Con*so.*b", "Contoso.Libs"));
        assert!(subject_matches("Contoso.Lib", "contoso.lib"));
        assert!(!subject_matches("Contoso.Lib", "Contoso.Lib2"));
        assert!(!subject_matches("Contoso?", "Contoso1"));
        assert!(subject_matches("a**b", "ab"));
    }

    #[test]
    fn subjects_are_validated() {
        assert!(validate_subject("Contoso.*").is_ok());
        assert!(validate_subject("*").is_ok());
        assert!(validate_subject("Contoso.Lib").is_ok());
        assert!(validate_subject("Con toso.*").is_err());
        assert!(validate_subject("Contoso/*").is_err());
        assert!(validate_subject("bad id").is_err());
    }

    #[test]
    fn actions_grant_what_nuget_org_grants() {
        use PackageAction::*;
        assert!(KeyAction::Push.allows(PushNew));
        assert!(KeyAction::Push.allows(PushVersion));
        assert!(!KeyAction::Push.allows(Unlist));
        assert!(!KeyAction::PushVersion.allows(PushNew));
        assert!(KeyAction::PushVersion.allows(PushVersion));
        assert!(KeyAction::Unlist.allows(Unlist));
        assert!(!KeyAction::Unlist.allows(PushVersion));
        assert!(KeyAction::All.allows(PushNew));
        assert!(!KeyAction::Verify.allows(PushVersion));
        for a in [
            KeyAction::Push,
            KeyAction::PushVersion,
            KeyAction::Unlist,
            KeyAction::Verify,
            KeyAction::All,
        ] {
            assert_eq!(KeyAction::parse(a.as_str()), Some(a));
        }
    }
}
