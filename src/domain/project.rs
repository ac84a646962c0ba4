use serde::Serialize;

use super::bounded_text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(raw: &str) -> Result<ProjectName, String> {
        bounded_text(raw, 120).map(ProjectName)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `#rrggbb`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HexColor(String);

impl HexColor {
    pub fn parse(raw: &str) -> Result<HexColor, String> {
        let t = raw.trim();
        let ok =
            t.len() == 7 && t.starts_with('#') && t[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(HexColor(t.to_ascii_lowercase()))
        } else {
            Err("must be a colour like #1a2b3c".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours() {
        assert_eq!(HexColor::parse("#A0b1C2").unwrap().as_str(), "#a0b1c2");
        for bad in ["a0b1c2", "#a0b1c", "#a0b1cg", "red", ""] {
            assert!(HexColor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ProjectName::parse("  Launch ").unwrap().as_str(), "Launch");
        assert!(ProjectName::parse("   ").is_err());
        assert!(ProjectName::parse(&"x".repeat(121)).is_err());
        assert!(ProjectName::parse("a\u{0}b").is_err());
    }
}
