//! Accounts: people, and organisations (accounts that own packages but never sign in), with the roles
//! members hold in an organisation and what each role may do.

/// What an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountKind {
    User,
    Organization,
}

impl AccountKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Organization => "organization",
        }
    }

    /// Reads a stored name.
    pub fn from_stored(text: &str) -> Option<AccountKind> {
        [AccountKind::User, AccountKind::Organization]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A member's role in an organisation (NuGet.org's two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrgRole {
    /// Manages members, owners of the organisation's packages, prefix requests, settings and keys.
    Administrator,
    /// Pushes and unlists the organisation's packages.
    Collaborator,
}

impl OrgRole {
    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Administrator => "admin",
            OrgRole::Collaborator => "collaborator",
        }
    }

    /// Reads a stored name.
    pub fn from_stored(text: &str) -> Option<OrgRole> {
        [OrgRole::Administrator, OrgRole::Collaborator]
            .into_iter()
            .find(|r| r.as_str() == text)
    }

    /// Parses a typed role: `admin`/`administrator` or `collaborator`, any case.
    pub fn parse(text: &str) -> Option<OrgRole> {
        match text.trim().to_ascii_lowercase().as_str() {
            "admin" | "administrator" => Some(OrgRole::Administrator),
            "collaborator" => Some(OrgRole::Collaborator),
            _ => None,
        }
    }

    /// The role as pages show it.
    pub fn label(self) -> &'static str {
        match self {
            OrgRole::Administrator => "Administrator",
            OrgRole::Collaborator => "Collaborator",
        }
    }

    /// Whether the role may manage the organisation: members, package owners, keys, settings.
    pub fn manages(self) -> bool {
        self == OrgRole::Administrator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_administrators_manage() {
        for k in [AccountKind::User, AccountKind::Organization] {
            assert_eq!(AccountKind::from_stored(k.as_str()), Some(k));
        }
        for r in [OrgRole::Administrator, OrgRole::Collaborator] {
            assert_eq!(OrgRole::from_stored(r.as_str()), Some(r));
            assert_eq!(OrgRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(
            OrgRole::parse("Administrator"),
            Some(OrgRole::Administrator)
        );
        assert_eq!(OrgRole::parse("owner"), None);
        assert!(OrgRole::Administrator.manages() && !OrgRole::Collaborator.manages());
    }
}
