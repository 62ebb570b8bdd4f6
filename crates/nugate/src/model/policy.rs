//! The one scope-and-ownership rule every keyed write obeys, as a pure function: the caller reads
//! ownership (inside its own transaction) and passes the answer in.

use super::key::KeyAction;
use super::scope::{subject_matches, PackageAction};

/// Ownership invitations not accepted within this many days lapse.
pub const INVITATION_DAYS: i64 = 30;

/// Whether the key's user owns the package, as far as the request needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The ID does not exist yet: nobody owns it, so only the key's scope decides.
    NewId,
    /// The ID exists; `true` when the key's user owns it *now* (re-read on every request).
    Existing(bool),
}

/// Which packages a read may see: on a public feed, or for a signed-in user, every one; through a key,
/// those its package scope names (IDs and globs), whoever owns them.
#[derive(Clone, Debug, Default)]
pub enum ReadScope {
    #[default]
    Everything,
    Subjects(std::sync::Arc<[String]>),
}

impl ReadScope {
    /// Whether a read may see `package_id`.
    pub fn allows(&self, package_id: &str) -> bool {
        match self {
            ReadScope::Everything => true,
            ReadScope::Subjects(subjects) => {
                subjects.iter().any(|s| subject_matches(s, package_id))
            }
        }
    }
}

/// The key may not do this. Every refusal reads the same (NuGet.org's message), so a refusal does not
/// reveal which part failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the key's scope or owner does not allow this")]
pub struct Refused;

/// Decides whether a key granting `actions` on `subjects` may perform `action` on `package_id`.
///
/// The key needs an action that covers the operation and a subject (ID or glob) matching the ID; when
/// the package exists its user must own it, so losing ownership silently removes the right.
pub fn authorize(
    actions: &[KeyAction],
    subjects: &[String],
    action: PackageAction,
    package_id: &str,
    ownership: Ownership,
) -> Result<(), Refused> {
    let action_granted = actions.iter().any(|granted| granted.allows(action));
    let subject_granted = subjects
        .iter()
        .any(|subject| subject_matches(subject, package_id));
    let owner_ok = ownership != Ownership::Existing(false);
    if action_granted && subject_granted && owner_ok {
        Ok(())
    } else {
        Err(Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_read_scope_narrows_to_its_subjects() {
        let scope = ReadScope::Subjects(subjects(&["Contoso.*", "Fabrikam.Lib"]).into());
        assert!(scope.allows("contoso.lib") && scope.allows("Fabrikam.Lib"));
        assert!(!scope.allows("Fabrikam.Other") && !scope.allows("Contoso"));
        assert!(ReadScope::Everything.allows("anything"));
    }

    #[test]
    fn scope_subject_and_ownership_must_all_agree() {
        let push = [KeyAction::Push];
        let contoso = subjects(&["Contoso.*"]);
        let new_id = Ownership::NewId;
        assert!(authorize(
            &push,
            &contoso,
            PackageAction::PushNew,
            "Contoso.Lib",
            new_id
        )
        .is_ok());
        assert_eq!(
            authorize(
                &push,
                &contoso,
                PackageAction::PushNew,
                "Fabrikam.Lib",
                new_id
            ),
            Err(Refused)
        );
        assert_eq!(
            authorize(
                &push,
                &contoso,
                PackageAction::Unlist,
                "Contoso.Lib",
                new_id
            ),
            Err(Refused)
        );
        let owned = Ownership::Existing(true);
        let lost = Ownership::Existing(false);
        assert!(authorize(
            &push,
            &contoso,
            PackageAction::PushVersion,
            "Contoso.Lib",
            owned
        )
        .is_ok());
        assert_eq!(
            authorize(
                &push,
                &contoso,
                PackageAction::PushVersion,
                "Contoso.Lib",
                lost
            ),
            Err(Refused)
        );
        let legacy = [KeyAction::All];
        assert_eq!(
            authorize(
                &legacy,
                &subjects(&["*"]),
                PackageAction::Unlist,
                "Any.Id",
                lost
            ),
            Err(Refused)
        );
    }
}
