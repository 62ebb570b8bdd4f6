//! Reports of leaked keys in the format of GitHub's secret-scanning partner program: a JSON array of
//! `{"token", "type", "url", "source"}` objects, signed with ECDSA P-256 over SHA-256 of the raw body;
//! the signature (base64 of its DER form) and the signing key's identifier come in the
//! `Github-Public-Key-Signature` and `Github-Public-Key-Identifier` headers. The answer labels each
//! token `true_positive` (one of ours) or `false_positive`.

use data_encoding::BASE64;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};

/// Most tokens one report may carry.
pub const MAX_TOKENS: usize = 1000;

/// One reported token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LeakedToken {
    /// The token as found.
    pub token: String,
    /// The token type the reporter matched.
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: Option<String>,
    /// What kind of place that was (`content`, `commit`, …).
    #[serde(default)]
    pub source: Option<String>,
}

/// The answer for one token, in the program's feedback format.
#[derive(Debug, Serialize)]
pub struct Feedback<'a> {
    /// The token as reported.
    pub token_raw: &'a str,
    /// Its type as reported.
    pub token_type: &'a str,
    /// `true_positive` or `false_positive`.
    pub label: &'static str,
}

impl<'a> Feedback<'a> {
    /// The feedback for `token`: ours (`true`) or not.
    pub fn of(token: &'a LeakedToken, ours: bool) -> Feedback<'a> {
        Feedback {
            token_raw: &token.token,
            token_type: &token.token_type,
            label: if ours {
                "true_positive"
            } else {
                "false_positive"
            },
        }
    }
}

/// Why a report is refused; the text is the answer's body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// No identifier or signature header.
    #[error("The report is not signed: Github-Public-Key-Identifier and Github-Public-Key-Signature are required.")]
    Unsigned,
    /// The identifier names no configured key.
    #[error("The report is signed with a key this server does not know.")]
    UnknownKey,
    /// A configured key is not a P-256 public key in PEM.
    #[error("The configured public key '{0}' is not an ECDSA P-256 public key in PEM.")]
    BadPublicKey(String),
    /// The signature does not verify.
    #[error("The report's signature does not verify.")]
    BadSignature,
    /// The body is not the expected JSON.
    #[error("The report is not a JSON array of tokens: {0}")]
    Body(String),
    /// More tokens than [`MAX_TOKENS`].
    #[error("A report may carry at most {MAX_TOKENS} tokens.")]
    TooMany,
}

/// Checks `signature` (base64 of a DER ECDSA signature) over `body` with the key named `identifier`
/// among `public_keys` (identifier, PEM).
pub fn verify(
    public_keys: &[(String, String)],
    identifier: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), ReportError> {
    if identifier.trim().is_empty() || signature.trim().is_empty() {
        return Err(ReportError::Unsigned);
    }
    let (name, pem) = public_keys
        .iter()
        .find(|(id, _)| id == identifier.trim())
        .ok_or(ReportError::UnknownKey)?;
    let key = VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|_| ReportError::BadPublicKey(name.clone()))?;
    let der = BASE64
        .decode(signature.trim().as_bytes())
        .map_err(|_| ReportError::BadSignature)?;
    let signature = Signature::from_der(&der).map_err(|_| ReportError::BadSignature)?;
    key.verify(body, &signature)
        .map_err(|_| ReportError::BadSignature)
}

/// Reads a report's tokens.
pub fn parse(body: &[u8]) -> Result<Vec<LeakedToken>, ReportError> {
    let tokens: Vec<LeakedToken> = serde_json::from_slice(body)
        .map_err(|e| ReportError::Body(e.to_string().chars().take(200).collect()))?;
    if tokens.len() > MAX_TOKENS {
        return Err(ReportError::TooMany);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePublicKey;

    fn signed(body: &[u8]) -> (Vec<(String, String)>, String) {
        let signing = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .expect("a PEM");
        let signature: Signature = signing.sign(body);
        (
            vec![("k1".to_string(), pem)],
            BASE64.encode(signature.to_der().as_bytes()),
        )
    }

    #[test]
    fn a_signed_report_verifies_and_anything_else_is_refused() {
        let body = br#"[{"token":"ngt_x","type":"nugate_api_key","url":"https://example.com/a","source":"content"}]"#;
        let (keys, signature) = signed(body);
        assert_eq!(verify(&keys, "k1", &signature, body), Ok(()));
        assert_eq!(
            verify(&keys, "", &signature, body),
            Err(ReportError::Unsigned)
        );
        assert_eq!(
            verify(&keys, "k2", &signature, body),
            Err(ReportError::UnknownKey)
        );
        assert_eq!(
            verify(&keys, "k1", &signature, b"[]"),
            Err(ReportError::BadSignature)
        );
        assert_eq!(
            verify(&keys, "k1", "bm90IGEgc2ln", body),
            Err(ReportError::BadSignature)
        );
        let broken = vec![("k1".to_string(), "not a pem".to_string())];
        assert_eq!(
            verify(&broken, "k1", &signature, body),
            Err(ReportError::BadPublicKey("k1".into()))
        );
        let tokens = parse(body).unwrap();
        assert_eq!(tokens[0].token, "ngt_x");
        assert_eq!(tokens[0].token_type, "nugate_api_key");
        let answer = serde_json::to_string(&[Feedback::of(&tokens[0], true)]).unwrap();
        assert_eq!(
            answer,
            r#"[{"token_raw":"ngt_x","token_type":"nugate_api_key","label":"true_positive"}]"#
        );
        assert!(matches!(parse(b"{}"), Err(ReportError::Body(_))));
    }
}
