//! Package ID validation, following the rule NuGet.org enforces on push.

use crate::version::shorten;

/// The longest package ID NuGet accepts; longer IDs are refused on push.
pub const MAX_ID_LENGTH: usize = 100;

/// Why a package ID was refused; the message is meant for the person pushing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The ID was the empty string (or missing altogether).
    #[error("The package ID is empty.")]
    Empty,
    /// The ID is longer than [`MAX_ID_LENGTH`] characters (shown shortened).
    #[error("The package ID '{0}' is longer than 100 characters.")]
    TooLong(String),
    /// The ID does not match `^\w+([.-]\w+)*$` (ASCII word characters).
    #[error(
        "The package ID '{0}' contains invalid characters. Examples of valid package IDs include 'MyPackage' and 'MyPackage.Sample'."
    )]
    InvalidCharacters(String),
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Checks a package ID against NuGet's rule: 1 to 100 characters matching
/// `^\w+([.-]\w+)*$`, where `\w` is an ASCII letter, digit or underscore.
///
/// IDs are compared case-insensitively elsewhere, so this only checks shape.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.chars().count() > MAX_ID_LENGTH {
        return Err(IdError::TooLong(shorten(id)));
    }
    // Every run of word characters must be non-empty, and runs are separated
    // by exactly one '.' or '-'.
    let mut previous_was_word = false;
    for c in id.chars() {
        if is_word(c) {
            previous_was_word = true;
        } else if (c == '.' || c == '-') && previous_was_word {
            previous_was_word = false;
        } else {
            return Err(IdError::InvalidCharacters(shorten(id)));
        }
    }
    if !previous_was_word {
        return Err(IdError::InvalidCharacters(shorten(id)));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids() {
        for id in [
            "A",
            "MyPackage",
            "MyPackage.Sample",
            "My-Package_2.x",
            "Newtonsoft.Json",
            "a.b-c.d",
            "_",
            "1",
        ] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
        assert_eq!(validate_id(&"a".repeat(100)), Ok(()));
    }

    #[test]
    fn invalid_ids() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert!(matches!(
            validate_id(&"a".repeat(101)),
            Err(IdError::TooLong(_))
        ));
        for id in [
            ".a", "a.", "a..b", "a.-b", "-a", "a-", "a b", "a/b", "é", "a+b", " a", "a\0",
        ] {
            assert!(
                matches!(validate_id(id), Err(IdError::InvalidCharacters(_))),
                "{id:?}"
            );
        }
    }

    #[test]
    fn messages_are_readable() {
        assert_eq!(IdError::Empty.to_string(), "The package ID is empty.");
        assert_eq!(
            validate_id("a b").unwrap_err().to_string(),
            "The package ID 'a b' contains invalid characters. Examples of valid package IDs include 'MyPackage' and 'MyPackage.Sample'."
        );
        assert!(validate_id(&"x".repeat(101))
            .unwrap_err()
            .to_string()
            .ends_with("is longer than 100 characters."));
    }
}
