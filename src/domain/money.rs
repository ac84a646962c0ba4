use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

/// A non-negative amount in INR with at most two decimal places, shown as `"500.00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(Decimal);

pub const MAX_AMOUNT: i64 = 10_000_000_000_000; // NUMERIC(15,2)

impl Money {
    /// From a JSON string or number.
    pub fn parse(v: &serde_json::Value) -> Result<Money, String> {
        let d = match v {
            serde_json::Value::String(s) => {
                Decimal::from_str(s.trim()).map_err(|_| "must be a decimal amount like 500.00")?
            }
            serde_json::Value::Number(n) => Decimal::from_str(&n.to_string())
                .map_err(|_| "must be a decimal amount like 500.00")?,
            _ => return Err("must be a decimal amount like \"500.00\"".into()),
        };
        if d.is_sign_negative() {
            return Err("must not be negative".into());
        }
        if d.normalize().scale() > 2 {
            return Err("must have at most two decimal places".into());
        }
        if d >= Decimal::from(MAX_AMOUNT) {
            return Err("is too large".into());
        }
        Ok(Money(d.round_dp(2)))
    }

    pub fn from_decimal(d: Decimal) -> Money {
        Money(d.round_dp(2))
    }

    pub fn decimal(&self) -> Decimal {
        self.0
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// `"500.00"`: always two places.
    pub fn to_string_2dp(&self) -> String {
        format!("{:.2}", self.0)
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string_2dp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts() {
        assert_eq!(
            Money::parse(&json!("500")).unwrap().to_string_2dp(),
            "500.00"
        );
        assert_eq!(Money::parse(&json!(12.5)).unwrap().to_string_2dp(), "12.50");
        assert_eq!(
            Money::parse(&json!("0.10")).unwrap().to_string_2dp(),
            "0.10"
        );
        for bad in [
            json!("-1"),
            json!("1.005"),
            json!("abc"),
            json!(true),
            json!("1e20"),
        ] {
            assert!(Money::parse(&bad).is_err(), "{bad}");
        }
    }
}
