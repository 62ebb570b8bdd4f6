//! What the audit trail records: the kinds of action and their outcomes, with the one wording the CLI
//! and the pages share.

/// An action worth recording: every authenticated change, sign-ins, and refused key uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(into = "&'static str")]
pub enum AuditAction {
    Push,
    SymbolsPush,
    Unlist,
    Relist,
    Deprecate,
    DeleteVersion,
    KeyCreate,
    KeyEdit,
    KeyRegenerate,
    KeyRevoke,
    KeyDelete,
    KeyRevokeLeaked,
    TrustExchange,
    TrustPolicyAdd,
    TrustPolicyRemove,
    OwnerInvite,
    OwnerAdd,
    OwnerRemove,
    MemberInvite,
    MemberJoin,
    MemberRole,
    MemberRemove,
    SignIn,
    UpstreamCache,
    UpstreamRule,
}

impl AuditAction {
    const EVERY: [AuditAction; 25] = [
        AuditAction::Push,
        AuditAction::SymbolsPush,
        AuditAction::Unlist,
        AuditAction::Relist,
        AuditAction::Deprecate,
        AuditAction::DeleteVersion,
        AuditAction::KeyCreate,
        AuditAction::KeyEdit,
        AuditAction::KeyRegenerate,
        AuditAction::KeyRevoke,
        AuditAction::KeyDelete,
        AuditAction::KeyRevokeLeaked,
        AuditAction::TrustExchange,
        AuditAction::TrustPolicyAdd,
        AuditAction::TrustPolicyRemove,
        AuditAction::OwnerInvite,
        AuditAction::OwnerAdd,
        AuditAction::OwnerRemove,
        AuditAction::MemberInvite,
        AuditAction::MemberJoin,
        AuditAction::MemberRole,
        AuditAction::MemberRemove,
        AuditAction::SignIn,
        AuditAction::UpstreamCache,
        AuditAction::UpstreamRule,
    ];

    /// The stored name, also what `nugate audit --json` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Push => "package.push",
            AuditAction::SymbolsPush => "symbols.push",
            AuditAction::Unlist => "package.unlist",
            AuditAction::Relist => "package.relist",
            AuditAction::Deprecate => "package.deprecate",
            AuditAction::DeleteVersion => "package.delete",
            AuditAction::KeyCreate => "key.create",
            AuditAction::KeyEdit => "key.edit",
            AuditAction::KeyRegenerate => "key.regenerate",
            AuditAction::KeyRevoke => "key.revoke",
            AuditAction::KeyDelete => "key.delete",
            AuditAction::KeyRevokeLeaked => "key.revoke-leaked",
            AuditAction::TrustExchange => "trust.exchange",
            AuditAction::TrustPolicyAdd => "trust.policy-add",
            AuditAction::TrustPolicyRemove => "trust.policy-remove",
            AuditAction::OwnerInvite => "owner.invite",
            AuditAction::OwnerAdd => "owner.add",
            AuditAction::OwnerRemove => "owner.remove",
            AuditAction::MemberInvite => "member.invite",
            AuditAction::MemberJoin => "member.join",
            AuditAction::MemberRole => "member.role",
            AuditAction::MemberRemove => "member.remove",
            AuditAction::SignIn => "sign-in",
            AuditAction::UpstreamCache => "upstream.cache",
            AuditAction::UpstreamRule => "upstream.rule",
        }
    }

    /// Reads a stored name.
    pub fn from_stored(text: &str) -> Option<AuditAction> {
        Self::EVERY.into_iter().find(|a| a.as_str() == text)
    }

    /// How the pages and the CLI's table name it.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::Push => "Pushed",
            AuditAction::SymbolsPush => "Pushed symbols",
            AuditAction::Unlist => "Unlisted",
            AuditAction::Relist => "Relisted",
            AuditAction::Deprecate => "Changed deprecation",
            AuditAction::DeleteVersion => "Deleted",
            AuditAction::KeyCreate => "Created key",
            AuditAction::KeyEdit => "Edited key",
            AuditAction::KeyRegenerate => "Regenerated key",
            AuditAction::KeyRevoke => "Revoked key",
            AuditAction::KeyDelete => "Deleted key",
            AuditAction::KeyRevokeLeaked => "Revoked leaked key",
            AuditAction::TrustExchange => "Trusted publishing key issued",
            AuditAction::TrustPolicyAdd => "Added trusted publishing policy",
            AuditAction::TrustPolicyRemove => "Removed trusted publishing policy",
            AuditAction::OwnerInvite => "Invited owner",
            AuditAction::OwnerAdd => "Became owner",
            AuditAction::OwnerRemove => "Removed owner",
            AuditAction::MemberInvite => "Invited member",
            AuditAction::MemberJoin => "Joined organisation",
            AuditAction::MemberRole => "Changed member role",
            AuditAction::MemberRemove => "Removed member",
            AuditAction::SignIn => "Signed in",
            AuditAction::UpstreamCache => "Cached from upstream",
            AuditAction::UpstreamRule => "Changed upstream rule",
        }
    }
}

impl From<AuditAction> for &'static str {
    fn from(action: AuditAction) -> &'static str {
        action.as_str()
    }
}

/// Whether the action happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditOutcome {
    Done,
    Refused,
}

impl AuditOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Done => "done",
            AuditOutcome::Refused => "refused",
        }
    }

    /// Reads a stored name.
    pub fn from_stored(text: &str) -> Option<AuditOutcome> {
        [AuditOutcome::Done, AuditOutcome::Refused]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for action in AuditAction::EVERY {
            assert_eq!(AuditAction::from_stored(action.as_str()), Some(action));
            assert!(seen.insert(action.as_str()), "{action:?}");
        }
        assert_eq!(AuditAction::from_stored("Package.Push"), None);
        for outcome in [AuditOutcome::Done, AuditOutcome::Refused] {
            assert_eq!(AuditOutcome::from_stored(outcome.as_str()), Some(outcome));
        }
    }
}
