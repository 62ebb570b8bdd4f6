//! Database encoding of the model's enums: each is stored as its text name and decoding an unknown name
//! is an error (a row the code does not understand is never silently read as something else).

use sqlx::any::AnyTypeInfo;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, Decode, Encode, Type};

use crate::model::account::{AccountKind, OrgRole};
use crate::model::advisory::{DeprecationReasons, Severity};
use crate::model::audit::{AuditAction, AuditOutcome};
use crate::model::key::{KeyAction, KeyKind};
use crate::model::upstream::UpstreamRule;

/// Implements `Type`, `Encode` and `Decode` for an enum with `as_str` and `from_stored`.
macro_rules! stored_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <str as Type<Any>>::type_info()
            }
        }

        impl<'q> Encode<'q, Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let text = <&str as Decode<'r, Any>>::decode(value)?;
                <$ty>::from_stored(text).ok_or_else(|| {
                    format!("unknown {} '{text}' in the database", stringify!($ty)).into()
                })
            }
        }
    )*};
}

stored_as_text!(
    KeyKind,
    KeyAction,
    AccountKind,
    OrgRole,
    Severity,
    AuditAction,
    AuditOutcome,
    UpstreamRule
);

impl Type<Any> for DeprecationReasons {
    fn type_info() -> AnyTypeInfo {
        <str as Type<Any>>::type_info()
    }
}

impl<'q> Encode<'q, Any> for DeprecationReasons {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Any>>::encode(self.to_stored(), buf)
    }
}

impl<'r> Decode<'r, Any> for DeprecationReasons {
    fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Any>>::decode(value)?;
        DeprecationReasons::from_stored(text)
            .ok_or_else(|| format!("unknown deprecation reasons '{text}' in the database").into())
    }
}

/// Reads a stored list of package IDs or globs (one per line, as keys and trust policies keep them).
pub fn decode_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The stored form of a list of package IDs or globs.
pub fn encode_lines(lines: &[String]) -> String {
    lines.join("\n")
}

/// Reads a newline-separated list of stored actions; an unknown one fails the whole row.
pub fn decode_actions(text: &str) -> sqlx::Result<Vec<KeyAction>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            KeyAction::from_stored(l).ok_or_else(|| {
                sqlx::Error::Decode(format!("unknown key action '{l}' in the database").into())
            })
        })
        .collect()
}

/// The stored form of an action list.
pub fn encode_actions(actions: &[KeyAction]) -> String {
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_actions_are_errors_not_dropped() {
        assert_eq!(
            decode_actions("push\nunlist").unwrap_or_default(),
            [KeyAction::Push, KeyAction::Unlist]
        );
        assert!(decode_actions("push\ndelete-everything").is_err());
        assert_eq!(
            encode_actions(&[KeyAction::Push, KeyAction::PushVersion]),
            "push\npush-version"
        );
    }
}
