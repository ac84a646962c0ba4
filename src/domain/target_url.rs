use serde::Serialize;
use url::Url;

/// A redirect target: absolute http(s) with a host, normalised by the URL parser (lower-case
/// scheme and host, punycode, default port dropped). Anything else — `javascript:`, `data:`,
/// `file:`, credentials in the URL — is refused, as is our own domain (a loop or a laundering
/// vector).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetUrl(String);

impl TargetUrl {
    pub fn parse(raw: &str, own_host: Option<&str>) -> Result<TargetUrl, String> {
        let t = raw.trim();
        if t.len() > 2048 {
            return Err("must be at most 2048 characters".into());
        }
        let url = Url::parse(t).map_err(|_| "must be an absolute http or https URL".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must use http or https".into());
        }
        let Some(host) = url.host_str() else {
            return Err("must have a host".into());
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        if own_host.is_some_and(|own| own.eq_ignore_ascii_case(host)) {
            return Err("must not point at this service".into());
        }
        Ok(TargetUrl(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https() {
        assert_eq!(
            TargetUrl::parse(" HTTPS://Example.COM:443/a b ", None)
                .unwrap()
                .as_str(),
            "https://example.com/a%20b"
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x.com",
            "/relative",
            "https://u:p@x.com",
            "http://",
        ] {
            assert!(TargetUrl::parse(bad, None).is_err(), "{bad}");
        }
        assert!(TargetUrl::parse("https://qr.example.com/r/x", Some("qr.example.com")).is_err());
    }
}
