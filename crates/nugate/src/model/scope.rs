//! Which package IDs a key acts on (subjects: explicit IDs or `*` globs), and the operations it is asked for.

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
    /// Read a package from a private feed.
    Read,
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
        validate_glob(subject)
    } else {
        nuget_formats::validate_id(subject).map_err(|e| SubjectError::InvalidId(e.to_string()))
    }
}

/// Checks a glob pattern: `[A-Za-z0-9_.-]` and `*`, at most 256 characters.
pub fn validate_glob(glob: &str) -> Result<(), SubjectError> {
    let ok = !glob.is_empty()
        && glob.len() <= 256
        && glob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*'));
    if ok {
        Ok(())
    } else {
        Err(SubjectError::InvalidGlob(glob.to_string()))
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
}
