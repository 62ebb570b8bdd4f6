//! The API key wire format.
//!
//! `nugate_` + 55 lower-case base32 characters encoding a 10-byte lookup identifier, a 20-byte (160-bit)
//! secret and a CRC-32 of both. Secret scanners match `nugate_[a-z2-7]{55}`; a mistyped key fails the
//! checksum and is refused without touching the database. Only SHA-256 of the secret is stored: the secret
//! is random, so a fast hash is as strong as a slow one here and keeps the API path cheap.
//!
//! This is its own crate, free of I/O and of the server's dependencies, so the fuzz targets in `fuzz/` can
//! exercise it without building (and instrumenting) the whole server.

pub mod leak_report;
pub mod oidc_claims;

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

impl PresentedKey {
    /// The identifier to look the key up by; `None` for a malformed key.
    pub fn lookup_id(&self) -> Option<&str> {
        self.parts().map(|(lookup_id, _)| lookup_id)
    }

    /// (lookup id, secret hash), borrowed; `None` for a malformed key.
    pub fn parts(&self) -> Option<(&str, &str)> {
        match self {
            PresentedKey::Scoped {
                lookup_id,
                secret_hash,
            }
            | PresentedKey::Legacy {
                lookup_id,
                secret_hash,
            } => Some((lookup_id, secret_hash)),
            PresentedKey::Malformed => None,
        }
    }

    /// (lookup id, secret hash); `None` for a malformed key.
    pub fn into_parts(self) -> Option<(String, String)> {
        self.parts()
            .map(|(lookup_id, secret_hash)| (lookup_id.to_owned(), secret_hash.to_owned()))
    }
}

/// A freshly minted key: the plaintext is shown once, the rest is stored.
pub struct MintedKey {
    /// The key as the user sees it, exactly once.
    pub plaintext: String,
    /// Lower-case hex of the identifier bytes: the database row is found by this.
    pub lookup_id: String,
    /// Lower-case hex SHA-256 of the secret bytes: the only form of the secret that is stored.
    pub secret_hash: String,
}

/// How many random bytes a key carries: a 10-byte lookup identifier followed by a 20-byte secret.
pub const RANDOM_LEN: usize = PAYLOAD_LEN;

/// Creates a new random key.
pub fn mint() -> MintedKey {
    let mut random = [0u8; RANDOM_LEN];
    rand::rngs::OsRng.fill_bytes(&mut random);
    mint_with(random)
}

/// The deterministic half of [`mint`]: encodes the given identifier and secret bytes as a key.
///
/// Public so tests and fuzz targets can build keys reproducibly; anything that hands a key to a user must
/// use [`mint`], whose bytes come from the operating system's CSPRNG.
pub fn mint_with(random: [u8; RANDOM_LEN]) -> MintedKey {
    let mut payload = [0u8; PAYLOAD_LEN + 4];
    payload[..PAYLOAD_LEN].copy_from_slice(&random);
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

/// Classifies a presented key string. Works on the stack up to the two hex strings it returns: a
/// private feed parses the key of every request.
pub fn parse(presented: &str) -> PresentedKey {
    let trimmed = presented.trim();
    let body = match trimmed.as_bytes().split_at_checked(KEY_PREFIX.len()) {
        Some((prefix, body)) if prefix.eq_ignore_ascii_case(KEY_PREFIX.as_bytes()) => body,
        _ => return legacy(trimmed),
    };
    // Keys are shown in lower case; base32 is upper case; either is accepted.
    let mut encoded = [0u8; ENCODED_LEN];
    if body.len() != ENCODED_LEN {
        return PresentedKey::Malformed;
    }
    encoded.copy_from_slice(body);
    encoded.make_ascii_uppercase();
    let mut bytes = [0u8; PAYLOAD_LEN + 4];
    if BASE32_NOPAD.decode_len(ENCODED_LEN) != Ok(bytes.len())
        || BASE32_NOPAD.decode_mut(&encoded, &mut bytes).is_err()
    {
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
    parse(presented)
        .into_parts()
        .map(|(lookup_id, _)| lookup_id)
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

    /// Every single-character substitution in the body of a key, tried exhaustively: the checksum must
    /// refuse all of them (CRC-32 detects every error of up to 5 bits in a payload this short, and one
    /// base32 character carries 5 bits), and one in the prefix turns the key into a legacy candidate.
    #[test]
    fn every_single_substitution_is_refused() {
        for seed in [0u8, 0x55, 0xff] {
            let key = mint_with([seed; RANDOM_LEN]);
            let original: Vec<char> = key.plaintext.chars().collect();
            for (i, &was) in original.iter().enumerate() {
                for c in ('a'..='z')
                    .chain('2'..='7')
                    .chain(['0', '1', '8', '9', '_', '-', '=', ' ', 'é'])
                {
                    if c == was {
                        continue;
                    }
                    let mut changed = original.clone();
                    changed[i] = c;
                    let changed: String = changed.into_iter().collect();
                    let parsed = parse(&changed);
                    if i < KEY_PREFIX.len() {
                        assert!(matches!(parsed, PresentedKey::Legacy { .. }), "{changed}");
                    } else {
                        assert_eq!(parsed, PresentedKey::Malformed, "{changed}");
                    }
                }
            }
        }
    }

    #[test]
    fn mint_with_is_deterministic() {
        let a = mint_with([7; RANDOM_LEN]);
        let b = mint_with([7; RANDOM_LEN]);
        assert_eq!(a.plaintext, b.plaintext);
        assert_eq!(a.lookup_id, "07".repeat(10));
        assert_eq!(a.secret_hash, sha256_hex(&[7; 20]));
    }

    #[test]
    fn hashes_match_is_equality() {
        let key = mint();
        assert!(hashes_match(&key.secret_hash, &key.secret_hash.clone()));
        assert!(!hashes_match(&key.secret_hash, &mint().secret_hash));
        assert!(!hashes_match(&key.secret_hash, &key.secret_hash[1..]));
        assert!(!hashes_match("", "a"));
        assert!(hashes_match("", ""));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn is_lower_hex(s: &str, len: usize) -> bool {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }

        proptest! {
            /// Any identifier and secret round-trip through the wire format, whatever the case and
            /// surrounding whitespace.
            #[test]
            fn minted_keys_round_trip(random in any::<[u8; RANDOM_LEN]>(), upper in any::<bool>()) {
                let key = mint_with(random);
                let shown = if upper { key.plaintext.to_ascii_uppercase() } else { key.plaintext.clone() };
                let expected = PresentedKey::Scoped {
                    lookup_id: key.lookup_id.clone(),
                    secret_hash: key.secret_hash.clone(),
                };
                prop_assert_eq!(parse(&shown), expected);
                prop_assert_eq!(lookup_id_of(&format!(" {shown}\n")), Some(key.lookup_id.clone()));
                prop_assert!(is_lower_hex(&key.lookup_id, 2 * ID_LEN));
                prop_assert!(is_lower_hex(&key.secret_hash, 64));
            }

            /// Arbitrary strings never panic; whatever is accepted as a key has the documented shape
            /// and cannot be confused with a legacy key.
            #[test]
            fn arbitrary_strings_are_classified(s in any::<String>()) {
                match parse(&s) {
                    PresentedKey::Scoped { lookup_id, secret_hash } => {
                        prop_assert!(is_lower_hex(&lookup_id, 2 * ID_LEN));
                        prop_assert!(is_lower_hex(&secret_hash, 64));
                    }
                    PresentedKey::Legacy { lookup_id, secret_hash } => {
                        prop_assert!(lookup_id.starts_with("legacy-"));
                        prop_assert!(secret_hash.starts_with(&lookup_id["legacy-".len()..]));
                        prop_assert!(!s.trim().to_ascii_lowercase().starts_with(KEY_PREFIX));
                    }
                    PresentedKey::Malformed => {
                        prop_assert!(s.trim().to_ascii_lowercase().starts_with(KEY_PREFIX));
                    }
                }
            }

            /// A key with our prefix and a random body is accepted only if its checksum holds, and then
            /// only in its one canonical spelling.
            #[test]
            fn random_bodies_are_refused_unless_canonical(body in "[a-z2-7]{55}") {
                let presented = format!("{KEY_PREFIX}{body}");
                if let PresentedKey::Scoped { lookup_id, secret_hash } = parse(&presented) {
                    let bytes = BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).expect("accepted body decodes");
                    let mut random = [0u8; RANDOM_LEN];
                    random.copy_from_slice(&bytes[..RANDOM_LEN]);
                    let again = mint_with(random);
                    prop_assert_eq!(again.plaintext, presented);
                    prop_assert_eq!(again.lookup_id, lookup_id);
                    prop_assert_eq!(again.secret_hash, secret_hash);
                }
            }

            /// The constant-time comparison agrees with ordinary string equality.
            #[test]
            fn hashes_match_agrees_with_eq(a in "[0-9a-f]{0,8}", b in "[0-9a-f]{0,8}") {
                prop_assert_eq!(hashes_match(&a, &b), a == b);
                prop_assert!(hashes_match(&a, &a));
            }
        }
    }

    #[test]
    fn two_minted_keys_differ() {
        assert_ne!(mint().plaintext, mint().plaintext);
    }
}
