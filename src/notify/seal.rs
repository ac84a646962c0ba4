//! Secrets at rest that must stay usable (webhook signing secrets, TOTP secrets), so they cannot
//! be hashed like API keys: sealed with XChaCha20-Poly1305 under a key derived from the server
//! secret (`QRSAAS_SECRET_KEY`) per purpose, so a leaked database does not leak them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(server_secret: &str) -> Sealer {
        Sealer::for_purpose("webhook secrets", server_secret)
    }

    /// A sealer whose key is the server secret's for one purpose only (webhook secrets, TOTP
    /// secrets): a key for one never opens the other's.
    pub fn for_purpose(purpose: &str, server_secret: &str) -> Sealer {
        let key = Sha256::new()
            .chain_update(format!("qrsaas {purpose}\0").as_bytes())
            .chain_update(server_secret.as_bytes())
            .finalize();
        Sealer {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        // Encrypting into memory cannot fail for inputs of this size.
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let raw = STANDARD.decode(
            sealed
                .strip_prefix(PREFIX)
                .ok_or_else(|| anyhow::anyhow!("not a sealed secret"))?,
        )?;
        anyhow::ensure!(raw.len() > 24, "sealed secret too short");
        let (nonce, body) = raw.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| anyhow::anyhow!("the secret does not open with this server key"))?;
        Ok(String::from_utf8(plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let s = Sealer::new("server key");
        let sealed = s.seal("whsec_abc");
        assert!(!sealed.contains("whsec_abc"));
        assert_ne!(sealed, s.seal("whsec_abc"), "a fresh nonce each time");
        assert_eq!(s.open(&sealed).unwrap(), "whsec_abc");
        assert!(Sealer::new("another key").open(&sealed).is_err());
    }
}
