use serde::Serialize;

/// A BCP 47 language tag in its common shape (`en`, `en-IN`, `pt-BR`, `zh-Hant-TW`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Locale, String> {
        let t = raw.trim();
        let mut parts = t.split('-');
        let lang_ok = parts.next().is_some_and(|l| {
            (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic())
        });
        let rest_ok = parts
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if lang_ok && rest_ok && t.len() <= 35 {
            Ok(Locale(t.to_owned()))
        } else {
            Err("must be a language tag like en or en-IN".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time-zone name known to the tz database (`Asia/Kolkata`, `UTC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn parse(raw: &str) -> Result<TimeZoneName, String> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| TimeZoneName(tz.name().to_owned()))
            .map_err(|_| "must be an IANA time zone like Asia/Kolkata".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_and_zones() {
        assert!(Locale::parse("en-IN").is_ok());
        assert!(Locale::parse("zh-Hant-TW").is_ok());
        assert!(Locale::parse("english").is_err());
        assert!(Locale::parse("").is_err());
        assert_eq!(
            TimeZoneName::parse("Asia/Kolkata").unwrap().as_str(),
            "Asia/Kolkata"
        );
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
    }
}
