//! What an API key is: its kind, the actions it grants, its status, and the one wording of each that
//! the CLI, the web pages and the emails all show.

use std::fmt;

use super::scope::PackageAction;

/// Seconds in a day: lifetimes are chosen and shown in whole days.
pub const DAY: i64 = 86_400;
/// Keys this close to expiry are warned about: `X-NuGet-Warning`, the key page's banner, the account
/// page, and one "about to expire" email per expiry.
pub const WARN_DAYS: i64 = 10;
/// Legacy keys die on their first use after this many idle days.
pub const LEGACY_IDLE_DAYS: i64 = 365;

/// What kind of key a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    /// Named key with actions, subjects and an expiry.
    Scoped,
    /// Imported full-access key from another server.
    Legacy,
    /// One-day, one-use key that proves ownership of one ID.
    Verify,
    /// One-hour key issued to a CI run by trusted publishing.
    Trusted,
}

impl KeyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Scoped => "scoped",
            KeyKind::Legacy => "legacy",
            KeyKind::Verify => "verify",
            KeyKind::Trusted => "trusted",
        }
    }

    /// Reads a stored name; anything else is not a kind.
    pub fn from_stored(text: &str) -> Option<KeyKind> {
        [
            KeyKind::Scoped,
            KeyKind::Legacy,
            KeyKind::Verify,
            KeyKind::Trusted,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// An action a key can be granted, as named on the command line and stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAction {
    /// Push new packages and new versions of existing ones.
    Push,
    /// Push only new versions of packages that already exist.
    PushVersion,
    /// Unlist and relist versions.
    Unlist,
    /// Read and restore packages from a private feed.
    Read,
    /// Verify package ownership (short-lived verification keys only).
    Verify,
    /// Everything: legacy keys.
    All,
}

impl KeyAction {
    const EVERY: [KeyAction; 6] = [
        KeyAction::Push,
        KeyAction::PushVersion,
        KeyAction::Unlist,
        KeyAction::Read,
        KeyAction::Verify,
        KeyAction::All,
    ];

    /// Stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAction::Push => "push",
            KeyAction::PushVersion => "push-version",
            KeyAction::Unlist => "unlist",
            KeyAction::Read => "read",
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
            KeyAction::Read => "Read and restore packages",
            KeyAction::Verify => "Verify package ownership",
            KeyAction::All => "Full access (legacy key)",
        }
    }

    /// Reads a stored name, exactly as [`KeyAction::as_str`] writes it.
    pub fn from_stored(text: &str) -> Option<KeyAction> {
        Self::EVERY.into_iter().find(|a| a.as_str() == text)
    }

    /// Parses a scope a person typed or ticked: only the three a new key may be given, in NuGet.org's
    /// spellings too (`package:pushversion`).
    pub fn parse_grantable(text: &str) -> Option<KeyAction> {
        match text.trim().to_ascii_lowercase().as_str() {
            "push" | "package:push" => Some(KeyAction::Push),
            "push-version" | "pushversion" | "package:pushversion" => Some(KeyAction::PushVersion),
            "unlist" | "package:unlist" => Some(KeyAction::Unlist),
            "read" | "package:read" => Some(KeyAction::Read),
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
                | (KeyAction::Read, PackageAction::Read)
                | (KeyAction::Verify, PackageAction::Verify)
        )
    }
}

impl fmt::Display for KeyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of a key as shown to its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum KeyStatus {
    Active { expires_in_days: Option<i64> },
    Expired,
    Revoked,
}

impl KeyStatus {
    /// A key's status at `now`.
    pub fn at(expires_at: Option<i64>, revoked_at: Option<i64>, now: i64) -> KeyStatus {
        if revoked_at.is_some() {
            return KeyStatus::Revoked;
        }
        match expires_at {
            Some(at) if at <= now => KeyStatus::Expired,
            Some(at) => KeyStatus::Active {
                expires_in_days: Some(days_left(at, now)),
            },
            None => KeyStatus::Active {
                expires_in_days: None,
            },
        }
    }

    /// Whole days left when the key is active and expires within [`WARN_DAYS`].
    pub fn expiring_soon(self) -> Option<i64> {
        match self {
            KeyStatus::Active {
                expires_in_days: Some(days),
            } if days <= WARN_DAYS => Some(days),
            _ => None,
        }
    }

    /// Whether the key can still be used.
    pub fn is_active(self) -> bool {
        matches!(self, KeyStatus::Active { .. })
    }
}

/// Whole days until `expires_at`, counting a started day as a day (so "expires in 1 day" until the end).
pub fn days_left(expires_at: i64, now: i64) -> i64 {
    (expires_at - now + DAY - 1).div_euclid(DAY)
}

/// "1 day", "3 days".
pub fn days(count: i64) -> String {
    format!("{count} day{}", if count == 1 { "" } else { "s" })
}

/// The status line of a key, in the words the CLI, the key page and the emails share.
pub fn status_label(kind: KeyKind, status: KeyStatus) -> String {
    match (status, kind) {
        (KeyStatus::Revoked, _) => "Revoked".to_string(),
        (KeyStatus::Expired, _) => "Expired".to_string(),
        // Lives an hour: "1 day" would be wrong, and no warning is due.
        (KeyStatus::Active { .. }, KeyKind::Trusted) => "Expires within the hour".to_string(),
        (
            KeyStatus::Active {
                expires_in_days: None,
            },
            KeyKind::Legacy,
        ) => format!("Never expires (if used every {LEGACY_IDLE_DAYS} days)"),
        (
            KeyStatus::Active {
                expires_in_days: None,
            },
            _,
        ) => "Never expires".to_string(),
        (
            KeyStatus::Active {
                expires_in_days: Some(d),
            },
            _,
        ) => format!("Expires in {}", days(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for a in KeyAction::EVERY {
            assert_eq!(KeyAction::from_stored(a.as_str()), Some(a));
        }
        assert_eq!(KeyAction::from_stored("Push"), None);
        assert_eq!(
            KeyAction::parse_grantable("package:pushversion"),
            Some(KeyAction::PushVersion)
        );
        assert_eq!(KeyAction::parse_grantable("all"), None);
        assert_eq!(KeyAction::parse_grantable("read"), Some(KeyAction::Read));
        assert!(KeyAction::Read.allows(Read) && !KeyAction::Push.allows(Read));
        assert!(!KeyAction::Read.allows(PushVersion) && KeyAction::All.allows(Read));
        assert_eq!(KeyAction::parse_grantable("verify"), None);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            KeyKind::Scoped,
            KeyKind::Legacy,
            KeyKind::Verify,
            KeyKind::Trusted,
        ] {
            assert_eq!(KeyKind::from_stored(k.as_str()), Some(k));
        }
        assert_eq!(KeyKind::from_stored("SCOPED"), None);
    }

    #[test]
    fn one_status_label_for_every_caller() {
        let now = 1_000_000;
        let active = |at| KeyStatus::at(at, None, now);
        assert_eq!(
            status_label(KeyKind::Scoped, active(Some(now + DAY))),
            "Expires in 1 day"
        );
        assert_eq!(
            status_label(KeyKind::Scoped, active(Some(now + 1))),
            "Expires in 1 day"
        );
        assert_eq!(
            status_label(KeyKind::Scoped, active(Some(now + 3 * DAY))),
            "Expires in 3 days"
        );
        assert_eq!(status_label(KeyKind::Scoped, active(None)), "Never expires");
        assert_eq!(
            status_label(KeyKind::Legacy, active(None)),
            "Never expires (if used every 365 days)"
        );
        assert_eq!(status_label(KeyKind::Scoped, active(Some(now))), "Expired");
        assert_eq!(
            status_label(
                KeyKind::Scoped,
                KeyStatus::at(Some(now + DAY), Some(now), now)
            ),
            "Revoked"
        );
        assert_eq!(active(Some(now + 10 * DAY)).expiring_soon(), Some(10));
        assert_eq!(active(Some(now + 10 * DAY + 1)).expiring_soon(), None);
        assert_eq!(active(None).expiring_soon(), None);
    }
}
