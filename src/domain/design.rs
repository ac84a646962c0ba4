//! QR design: colours, error correction, margin, module/eye shapes, logo, frame — and the
//! scannability rules a design must pass.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::HexColor;
use crate::domain::FieldErrors;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Ec {
    L,
    M,
    Q,
    H,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModuleStyle {
    Square,
    Dots,
    Rounded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EyeStyle {
    Square,
    Rounded,
    Circle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// A frame from the templates library (category `frame`).
    pub template_id: Option<Uuid>,
    /// Caption under the code; defaults to the template's.
    pub text: Option<String>,
}

/// A validated design, as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Design {
    pub fg_color: String,
    pub bg_color: String,
    pub error_correction: Ec,
    /// Quiet zone in modules (the standard asks for 4).
    pub margin: u8,
    pub module_style: ModuleStyle,
    pub eye_style: EyeStyle,
    pub logo_upload_id: Option<Uuid>,
    /// Logo width as a fraction of the code's width (0.1–0.3).
    pub logo_size: f32,
    pub frame: Option<Frame>,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            fg_color: "#000000".into(),
            bg_color: "#ffffff".into(),
            error_correction: Ec::M,
            margin: 4,
            module_style: ModuleStyle::Square,
            eye_style: EyeStyle::Square,
            logo_upload_id: None,
            logo_size: 0.2,
            frame: None,
        }
    }
}

/// WCAG relative luminance of `#rrggbb`.
pub fn luminance(hex: &str) -> f64 {
    let c = |i: usize| {
        let v = u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0) as f64 / 255.0;
        if v <= 0.03928 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * c(1) + 0.7152 * c(3) + 0.0722 * c(5)
}

/// Below this contrast ratio phone cameras misread codes in ordinary light.
pub const MIN_CONTRAST: f64 = 4.0;

impl Design {
    /// Parses `design` (absent or null = defaults) and applies the scannability rules.
    pub fn parse(v: &serde_json::Value) -> Result<Design, FieldErrors> {
        if v.is_null() {
            return Ok(Design::default());
        }
        let mut d: Design = serde_path_to_error::deserialize(v).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "design".to_owned()
            } else {
                format!("design.{path}")
            };
            FieldErrors::from([(field, e.inner().to_string())])
        })?;
        let mut errors = FieldErrors::new();
        for (field, value) in [("fg_color", &mut d.fg_color), ("bg_color", &mut d.bg_color)] {
            match HexColor::parse(value) {
                Ok(c) => *value = c.as_str().to_owned(),
                Err(why) => {
                    errors.insert(format!("design.{field}"), why);
                }
            }
        }
        if d.margin > 16 {
            errors.insert(
                "design.margin".into(),
                "must be between 0 and 16 modules".into(),
            );
        }
        if !(0.1..=0.3).contains(&d.logo_size) {
            errors.insert(
                "design.logo_size".into(),
                "a logo wider than 0.3 of the code hides more than error correction H can restore; use 0.1 to 0.3".into(),
            );
        }
        if let Some(f) = &mut d.frame {
            f.text = f
                .text
                .take()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty());
            if f.text
                .as_deref()
                .is_some_and(|t| t.chars().count() > 40 || t.chars().any(char::is_control))
            {
                errors.insert(
                    "design.frame.text".into(),
                    "must be at most 40 characters on one line".into(),
                );
            }
        }
        if errors.is_empty() {
            let (fg, bg) = (luminance(&d.fg_color), luminance(&d.bg_color));
            if fg > bg {
                errors.insert(
                    "design.fg_color".into(),
                    "is lighter than bg_color: inverted codes are not read by many scanners".into(),
                );
            } else {
                let ratio = (bg + 0.05) / (fg + 0.05);
                if ratio < MIN_CONTRAST {
                    errors.insert(
                        "design.fg_color".into(),
                        format!("has too little contrast with bg_color ({ratio:.1}:1, needs {MIN_CONTRAST}:1)"),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(errors)
        }
    }

    /// The error correction actually used: a logo hides modules, so it forces H.
    pub fn effective_ec(&self) -> Ec {
        if self.logo_upload_id.is_some() {
            Ec::H
        } else {
            self.error_correction
        }
    }

    /// True when the design needs nothing but square modules in two colours.
    pub fn is_plain(&self) -> bool {
        self.module_style == ModuleStyle::Square
            && self.eye_style == EyeStyle::Square
            && self.logo_upload_id.is_none()
            && self.frame.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            Design::parse(&serde_json::Value::Null).unwrap(),
            Design::default()
        );
        let d = Design::parse(
            &json!({"fg_color": "#1A2B3C", "module_style": "dots", "logo_upload_id": Uuid::nil()}),
        )
        .unwrap();
        assert_eq!(d.fg_color, "#1a2b3c");
        assert_eq!(d.effective_ec(), Ec::H);
        assert!(!d.is_plain());
    }

    #[test]
    fn scannability_rules() {
        let e = Design::parse(&json!({"fg_color": "#ffffff", "bg_color": "#000000"})).unwrap_err();
        assert!(e["design.fg_color"].contains("inverted"));
        let e = Design::parse(&json!({"fg_color": "#777777", "bg_color": "#888888"})).unwrap_err();
        assert!(e["design.fg_color"].contains("contrast"));
        let e = Design::parse(&json!({"logo_size": 0.5})).unwrap_err();
        assert!(e.contains_key("design.logo_size"));
        let e = Design::parse(&json!({"module_style": "stars"})).unwrap_err();
        assert!(e.contains_key("design.module_style"));
        let e = Design::parse(&json!({"margin": 40})).unwrap_err();
        assert!(e.contains_key("design.margin"));
    }
}
