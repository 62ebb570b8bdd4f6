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

/// A short id that ties a request's log lines together. Not a secret, so it comes from the thread's
/// generator rather than a system call per request.
pub fn request_id() -> String {
    let mut id = data_encoding::BASE32_NOPAD.encode(&rand::random::<u64>().to_le_bytes());
    id.truncate(12);
    id.make_ascii_lowercase();
    id
}

/// SHA-256 hex of a token, the only form tokens are stored in.
pub fn hash_token(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}
