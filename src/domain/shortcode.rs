use rand::Rng;
use serde::Serialize;

/// Short codes for `/r/{code}`: 7 base62 characters from the OS CSPRNG (62^7 ≈ 3.5e12), or a
/// user's custom alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ShortCode(String);

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const GENERATED_LEN: usize = 7;

/// Words an alias may not take: our own routes and names that invite phishing.
const RESERVED: &[&str] = &[
    "api",
    "r",
    "p",
    "docs",
    "admin",
    "login",
    "logout",
    "register",
    "signup",
    "signin",
    "auth",
    "healthz",
    "readyz",
    "metrics",
    "static",
    "assets",
    "uploads",
    "billing",
    "settings",
    "support",
    "help",
    "account",
    "dashboard",
    "www",
    "mail",
    "qrsaas",
    "official",
    "security",
    "verify",
];

impl ShortCode {
    pub fn generate() -> ShortCode {
        let mut rng = rand::rng();
        ShortCode(
            (0..GENERATED_LEN)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect(),
        )
    }

    /// A custom alias: 4–64 of `A–Z a–z 0–9 - _`, not starting or ending with a separator, not
    /// a reserved word (compared case-insensitively).
    pub fn alias(raw: &str) -> Result<ShortCode, String> {
        let t = raw.trim();
        if !(4..=64).contains(&t.len()) {
            return Err("must be 4 to 64 characters".into());
        }
        if !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("may only contain letters, digits, - and _".into());
        }
        if t.starts_with(['-', '_']) || t.ends_with(['-', '_']) {
            return Err("must start and end with a letter or digit".into());
        }
        if RESERVED.contains(&t.to_ascii_lowercase().as_str()) {
            return Err("is reserved".into());
        }
        Ok(ShortCode(t.to_owned()))
    }

    /// A code as it arrives in a URL path; anything that could not be a code is refused early.
    pub fn from_path(raw: &str) -> Option<ShortCode> {
        (1..=64).contains(&raw.len()).then_some(())?;
        raw.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then(|| ShortCode(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_base62_and_distinct() {
        let a = ShortCode::generate();
        assert_eq!(a.as_str().len(), GENERATED_LEN);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        let set: std::collections::HashSet<_> =
            (0..1000).map(|_| ShortCode::generate().0).collect();
        assert_eq!(set.len(), 1000);
    }

    #[test]
    fn aliases() {
        assert_eq!(
            ShortCode::alias("spring-sale").unwrap().as_str(),
            "spring-sale"
        );
        for bad in [
            "abc",
            "has space",
            "-lead",
            "trail_",
            "API",
            "Docs",
            "ünï",
            &"x".repeat(65),
        ] {
            assert!(ShortCode::alias(bad).is_err(), "{bad}");
        }
    }
}
