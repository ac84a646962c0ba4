//! Passwords, session tokens and API keys.
//!
//! Passwords are low-entropy, so they get argon2id (memory-hard, run off the async threads).
//! Session tokens and API keys are 256-bit random strings: a single SHA-256 is enough to make a
//! leaked table useless, and it keeps authentication a cheap indexed lookup.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Prefix that tells an API key from a session token at a glance (and to secret scanners).
pub const API_KEY_PREFIX: &str = "qrk_";
pub const SESSION_PREFIX: &str = "qrs_";

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_sync(password: &[u8]) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    argon2()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_sync(password.as_bytes()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::Internal)
}

/// Verifies `password` against `hash`. With no hash (unknown user, Google-only account) a dummy
/// hash is checked, so the response time does not reveal whether the account exists.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| hash_sync(b"not a password").unwrap_or_default())
                .clone()
        });
        let ok = PasswordHash::new(&hash)
            .map(|parsed| {
                argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && ok
    })
    .await
    .map_err(ApiError::internal)
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// A new session token (returned to the client once) and its stored hash.
pub fn new_session_token() -> (String, Vec<u8>) {
    let token = format!("{SESSION_PREFIX}{}", random_b64(32));
    let hash = sha256(&token);
    (token, hash)
}

/// A new API key: `qrk_<prefix>_<secret>`. The prefix is stored in clear so users can recognise
/// their keys in listings; the whole key is stored only as a hash.
pub struct NewApiKey {
    pub key: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

pub fn new_api_key() -> NewApiKey {
    let prefix = format!("{API_KEY_PREFIX}{}", &random_b64(6)[..8]);
    let key = format!("{prefix}_{}", random_b64(32));
    let hash = sha256(&key);
    NewApiKey { key, prefix, hash }
}

/// A random URL-safe state/nonce value.
pub fn random_token() -> String {
    random_b64(24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip() {
        let h = hash_password("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse battery".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }

    #[test]
    fn keys_have_a_visible_prefix_and_hash() {
        let k = new_api_key();
        assert!(k.key.starts_with(&k.prefix));
        assert!(k.prefix.starts_with(API_KEY_PREFIX));
        assert_eq!(k.prefix.len(), API_KEY_PREFIX.len() + 8);
        assert_eq!(k.hash, sha256(&k.key));
        let (t, h) = new_session_token();
        assert!(t.starts_with(SESSION_PREFIX) && t.len() > 40);
        assert_eq!(h, sha256(&t));
    }
}
