//! The API key wire format.
//!
//! `nugate_` + 55 lower-case base32 characters encoding a 10-byte lookup identifier, a 20-byte (160-bit)
//! secret and a CRC-32 of both. Secret scanners match `nugate_[a-z2-7]{55}`; a mistyped key fails the
//! checksum and is refused without touching the database. Only SHA-256 of the secret is stored: the secret
//! is random, so a fast hash is as strong as a slow one here and keeps the API path cheap.

use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The fixed, recognisable prefix.
pub const KEY_PREFIX: &str = "nugate_";
/// The regular expression secret scanners can use.
pub const KEY_REGEX: &str = "nugate_[a-z2-7]{55}";

const ID_LEN: usize = 10;
const SECRET_LEN: usize = 20;
const PAYLOAD_LEN: usize = ID_LEN + SECRET_LEN;
const ENCODED_LEN: usize = 55;

/// What a presented key turned out to be, before any database access.
#[derive(Debug, PartialEq, Eq)]
pub enum PresentedKey {
    /// A well-formed nugate key: look it up by `lookup_id`, compare `secret_hash`.
    Scoped {
        lookup_id: String,
        secret_hash: String,
    },
    /// Anything without our prefix: maybe a legacy key imported from another server.
    Legacy {
        lookup_id: String,
        secret_hash: String,
    },
    /// Has our prefix but is damaged: refuse without a lookup.
    Malformed,
}

/// A freshly minted key: the plaintext is shown once, the rest is stored.
pub struct MintedKey {
    pub plaintext: String,
    pub lookup_id: String,
    pub secret_hash: String,
}

/// Creates a new random key.
pub fn mint() -> MintedKey {
    let mut payload = [0u8; PAYLOAD_LEN + 4];
    rand::rngs::OsRng.fill_bytes(&mut payload[..PAYLOAD_LEN]);
    let crc = crc32fast::hash(&payload[..PAYLOAD_LEN]);
    payload[PAYLOAD_LEN..].copy_from_slice(&crc.to_be_bytes());
    let plaintext = format!(
        "{KEY_PREFIX}{}",
        BASE32_NOPAD.encode(&payload).to_ascii_lowercase()
    );
    MintedKey {
        lookup_id: hex(&payload[..ID_LEN]),
        secret_hash: sha256_hex(&payload[ID_LEN..PAYLOAD_LEN]),
        plaintext,
    }
}

/// Classifies a presented key string.
pub fn parse(presented: &str) -> PresentedKey {
    let trimmed = presented.trim();
    let lower = trimmed.to_ascii_lowercase();
    let Some(body) = lower.strip_prefix(KEY_PREFIX) else {
        return legacy(trimmed);
    };
    if body.len() != ENCODED_LEN {
        return PresentedKey::Malformed;
    }
    let Ok(bytes) = BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()) else {
        return PresentedKey::Malformed;
    };
    if bytes.len() != PAYLOAD_LEN + 4 {
        return PresentedKey::Malformed;
    }
    let expected = crc32fast::hash(&bytes[..PAYLOAD_LEN]).to_be_bytes();
    if bytes[PAYLOAD_LEN..] != expected {
        return PresentedKey::Malformed;
    }
    PresentedKey::Scoped {
        lookup_id: hex(&bytes[..ID_LEN]),
        secret_hash: sha256_hex(&bytes[ID_LEN..PAYLOAD_LEN]),
    }
}

/// The public identifier a presented key would be looked up by, for rate limiting guesses per key.
pub fn lookup_id_of(presented: &str) -> Option<String> {
    match parse(presented) {
        PresentedKey::Scoped { lookup_id, .. } | PresentedKey::Legacy { lookup_id, .. } => {
            Some(lookup_id)
        }
        PresentedKey::Malformed => None,
    }
}

/// The identifiers under which a legacy plaintext key is stored.
pub fn legacy(plaintext: &str) -> PresentedKey {
    let digest = sha256_hex(plaintext.as_bytes());
    PresentedKey::Legacy {
        lookup_id: format!("legacy-{}", &digest[..24]),
        secret_hash: digest,
    }
}

/// Compares two stored-hash strings in constant time.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_back_and_match_the_documented_regex() {
        let key = mint();
        assert_eq!(key.plaintext.len(), KEY_PREFIX.len() + ENCODED_LEN);
        assert!(key.plaintext[KEY_PREFIX.len()..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || ('2'..='7').contains(&c)));
        assert_eq!(
            parse(&key.plaintext),
            PresentedKey::Scoped {
                lookup_id: key.lookup_id.clone(),
                secret_hash: key.secret_hash.clone()
            }
        );
        // Case-insensitive, as NuGet.org compares keys.
        assert!(matches!(
            parse(&key.plaintext.to_uppercase()),
            PresentedKey::Scoped { .. }
        ));
    }

    #[test]
    fn a_single_typo_is_caught_by_the_checksum() {
        let key = mint();
        let mut chars: Vec<char> = key.plaintext.chars().collect();
        let i = KEY_PREFIX.len() + 20;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(parse(&typo), PresentedKey::Malformed);
        assert_eq!(parse("nugate_short"), PresentedKey::Malformed);
        assert_eq!(
            parse(&format!("{}1", key.plaintext)),
            PresentedKey::Malformed
        );
    }

    #[test]
    fn other_strings_are_legacy_candidates() {
        let a = parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        let b = legacy("0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(a, b);
        assert!(matches!(a, PresentedKey::Legacy { .. }));
    }

    #[test]
    fn two_minted_keys_differ() {
        assert_ne!(mint().plaintext, mint().plaintext);
    }
}
