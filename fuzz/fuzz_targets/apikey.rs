//! Fuzzes the API key wire format: classifying arbitrary input never panics and is self-consistent, an
//! accepted key has exactly one spelling (up to case and surrounding whitespace), minted keys parse back,
//! and no single-character typo or deletion in a key is accepted as a key at all; leak reports are read
//! and checked without a panic.
#![no_main]

use data_encoding::BASE32_NOPAD;
use libfuzzer_sys::fuzz_target;
use nugate_apikey::{
    hashes_match, leak_report, legacy, lookup_id_of, mint_with, parse, PresentedKey, KEY_PREFIX,
    RANDOM_LEN,
};

/// Replacement characters for the typo property: the key alphabet in both cases, characters base32
/// does not use, whitespace and a multi-byte character.
const TYPOS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', '2', '3', '4', '5', '6', '7', 'A', 'Q', 'Z', '0', '1', '8',
    '9', '_', '-', '=', ' ', '\t', '\n', 'é', '\u{3000}',
];

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Everything that must hold for one presented string, whatever it is.
fn check_classification(text: &str) {
    let parsed = parse(text);
    let trimmed = text.trim();
    let ours = trimmed.to_ascii_lowercase().starts_with(KEY_PREFIX);
    match &parsed {
        PresentedKey::Scoped {
            lookup_id,
            secret_hash,
        } => {
            assert!(ours);
            assert!(is_lower_hex(lookup_id, 20), "{lookup_id}");
            assert!(is_lower_hex(secret_hash, 64), "{secret_hash}");
            // Re-encoding what was decoded gives back the input: one spelling per key.
            let body = &trimmed[KEY_PREFIX.len()..];
            let bytes = BASE32_NOPAD
                .decode(body.to_ascii_uppercase().as_bytes())
                .expect("an accepted key's body is base32");
            let random: [u8; RANDOM_LEN] = bytes[..RANDOM_LEN]
                .try_into()
                .expect("an accepted key carries the random bytes");
            let again = mint_with(random);
            assert_eq!(again.plaintext, trimmed.to_ascii_lowercase());
            assert_eq!(&again.lookup_id, lookup_id);
            assert_eq!(&again.secret_hash, secret_hash);
        }
        PresentedKey::Legacy {
            lookup_id,
            secret_hash,
        } => {
            assert!(!ours);
            assert_eq!(parsed, legacy(trimmed));
            assert!(is_lower_hex(secret_hash, 64), "{secret_hash}");
            let short = lookup_id
                .strip_prefix("legacy-")
                .expect("legacy ids are marked");
            // Never a scoped id (20 hex digits), so the two kinds cannot collide in the table.
            assert_eq!(short.len(), 24);
            assert!(secret_hash.starts_with(short));
        }
        PresentedKey::Malformed => assert!(ours),
    }
    let expected_id = match &parsed {
        PresentedKey::Scoped { lookup_id, .. } | PresentedKey::Legacy { lookup_id, .. } => {
            Some(lookup_id.clone())
        }
        PresentedKey::Malformed => None,
    };
    assert_eq!(lookup_id_of(text), expected_id);
    if ours {
        // Our keys compare case-insensitively.
        assert_eq!(parse(&text.to_ascii_uppercase()), parsed);
        assert_eq!(parse(&text.to_ascii_lowercase()), parsed);
    }
}

/// A key minted from fuzzer bytes parses back, and one typo or deletion in it is never accepted.
fn check_minted(random: [u8; RANDOM_LEN], rest: &[u8]) {
    let key = mint_with(random);
    let expected = PresentedKey::Scoped {
        lookup_id: key.lookup_id.clone(),
        secret_hash: key.secret_hash.clone(),
    };
    assert_eq!(parse(&key.plaintext), expected);
    assert_eq!(parse(&key.plaintext.to_ascii_uppercase()), expected);
    assert_eq!(parse(&format!("\t{} \r\n", key.plaintext)), expected);
    check_classification(&key.plaintext);

    let [position, choice, tail @ ..] = rest else {
        return;
    };
    let chars: Vec<char> = key.plaintext.chars().collect();
    let i = usize::from(*position) % chars.len();
    let mut replacements = vec![TYPOS[usize::from(*choice) % TYPOS.len()]];
    replacements.extend(String::from_utf8_lossy(tail).chars().next());
    for c in replacements {
        if c.to_ascii_lowercase() == chars[i] {
            continue; // the same key, spelled differently
        }
        let mut typo = chars.clone();
        typo[i] = c;
        let typo: String = typo.into_iter().collect();
        check_refused(&typo, i, &expected);
    }
    let mut deleted = chars.clone();
    deleted.remove(i);
    let deleted: String = deleted.into_iter().collect();
    check_refused(&deleted, i, &expected);
}

/// A damaged key: damage in the prefix makes it a legacy candidate, damage in the body fails the checksum.
fn check_refused(damaged: &str, position: usize, original: &PresentedKey) {
    let parsed = parse(damaged);
    assert_ne!(&parsed, original, "{damaged}");
    if position < KEY_PREFIX.len() {
        assert!(
            matches!(parsed, PresentedKey::Legacy { .. }),
            "{damaged}: {parsed:?}"
        );
    } else {
        assert_eq!(parsed, PresentedKey::Malformed, "{damaged}");
    }
    check_classification(damaged);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_classification(&text);
    // Also as a candidate key body, so the checksum and decoder see well-prefixed input.
    check_classification(&format!("{KEY_PREFIX}{text}"));

    // As a leak report: read without a panic, never more tokens than allowed, short refusals; and a
    // signature check over it with a junk key and signature refuses without a panic.
    match leak_report::parse(data) {
        Ok(tokens) => assert!(tokens.len() <= leak_report::MAX_TOKENS),
        Err(e) => assert!(e.to_string().len() <= 300, "{e}"),
    }
    let junk_key = vec![("k".to_string(), text.to_string())];
    assert!(leak_report::verify(&junk_key, "k", &text, data).is_err());

    let (a, b) = data.split_at(data.len() / 2);
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    assert_eq!(hashes_match(&a, &b), a == b);
    assert!(hashes_match(&a, &a));

    if let Some((random, rest)) = data.split_first_chunk::<RANDOM_LEN>() {
        check_minted(*random, rest);
    }
});
