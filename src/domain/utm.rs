//! UTM parameters configured on a dynamic URL code and added to every redirect it answers.

use serde::{Deserialize, Serialize};

use crate::domain::FieldErrors;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Utm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl Utm {
    pub fn parse(v: &serde_json::Value) -> Result<Utm, FieldErrors> {
        let mut utm: Utm = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "utm".to_owned()
            } else {
                format!("utm.{path}")
            };
            FieldErrors::from([(field, e.inner().to_string())])
        })?;
        let mut errors = FieldErrors::new();
        for (name, value) in utm.fields_mut() {
            if let Some(v) = value {
                let t = v.trim().to_owned();
                if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
                    errors.insert(
                        format!("utm.{name}"),
                        "must be 1 to 100 characters on one line".into(),
                    );
                }
                *v = t;
            }
        }
        if errors.is_empty() {
            Ok(utm)
        } else {
            Err(errors)
        }
    }

    fn fields_mut(&mut self) -> [(&'static str, &mut Option<String>); 5] {
        [
            ("source", &mut self.source),
            ("medium", &mut self.medium),
            ("campaign", &mut self.campaign),
            ("term", &mut self.term),
            ("content", &mut self.content),
        ]
    }

    /// `target` with each configured `utm_*` added, unless the target sets it itself.
    pub fn apply(&self, target: &str) -> String {
        let Ok(mut url) = url::Url::parse(target) else {
            return target.to_owned();
        };
        let present: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let pairs = [
            ("utm_source", &self.source),
            ("utm_medium", &self.medium),
            ("utm_campaign", &self.campaign),
            ("utm_term", &self.term),
            ("utm_content", &self.content),
        ];
        let missing: Vec<(&str, &str)> = pairs
            .iter()
            .filter_map(|(k, v)| {
                v.as_deref()
                    .filter(|_| !present.iter().any(|p| p == k))
                    .map(|v| (*k, v))
            })
            .collect();
        if missing.is_empty() {
            return target.to_owned();
        }
        url.query_pairs_mut().extend_pairs(missing);
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn adds_what_the_target_lacks() {
        let utm =
            Utm::parse(&json!({"source": "poster", "medium": "qr", "campaign": "spring sale"}))
                .unwrap();
        assert_eq!(
            utm.apply("https://a.io/x"),
            "https://a.io/x?utm_source=poster&utm_medium=qr&utm_campaign=spring+sale"
        );
        assert_eq!(
            utm.apply("https://a.io/x?utm_source=own"),
            "https://a.io/x?utm_source=own&utm_medium=qr&utm_campaign=spring+sale"
        );
        assert_eq!(Utm::default().apply("https://a.io/x"), "https://a.io/x");
        assert!(
            Utm::parse(&json!({"source": ""}))
                .unwrap_err()
                .contains_key("utm.source")
        );
        assert!(Utm::parse(&json!({"bogus": "x"})).is_err());
    }
}
