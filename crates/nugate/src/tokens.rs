//! Random tokens (session ids, CSRF tokens, emailed links, temporary names) and the one hash they are
//! stored under, so a leaked database yields no live token.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Random URL-safe token of 256 bits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase()
}

/// SHA-256 hex of a token, the only form tokens are stored in.
pub fn hash_token(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}
