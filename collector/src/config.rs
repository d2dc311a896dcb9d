//! Configuration, read from the Worker's vars and secrets (wrangler.toml `[vars]`,
//! `wrangler secret put`) through a lookup function, so it is built and tested natively too.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Sites accepted, each with the page origins allowed to send for it (`*` allows any).
    pub sites: BTreeMap<String, Vec<String>>,
    pub aws: AwsConfig,
    /// DynamoDB table holding events, aggregates and markers.
    pub table: String,
    /// Days an item lives before DynamoDB's TTL removes it.
    pub retention_days: u32,
}

#[derive(Clone, PartialEq)]
pub struct AwsConfig {
    pub region: String,
    /// Overrides the AWS endpoints (the local emulator); `None` means the real AWS.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

// Hand-written so that a debug print never shows the secret.
impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_RETENTION_DAYS: u32 = 30;

impl Config {
    /// Builds the configuration from named string values; `get` returns `None` for a name that
    /// is not set.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| Error::Config(format!("{name} is not set")))
        };
        let sites_json = required("SITES")?;
        let sites: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&sites_json).map_err(|e| {
                Error::Config(format!(
                    "SITES must be a JSON object of site → origins: {e}"
                ))
            })?;
        let retention_days = match get("RETENTION_DAYS") {
            None => DEFAULT_RETENTION_DAYS,
            Some(v) => v.trim().parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                Error::Config(format!(
                    "RETENTION_DAYS must be a positive integer, not {v:?}"
                ))
            })?,
        };
        Ok(Config {
            sites,
            aws: AwsConfig {
                region: required("AWS_REGION")?,
                endpoint: get("AWS_ENDPOINT_URL").filter(|v| !v.trim().is_empty()),
                access_key_id: required("AWS_ACCESS_KEY_ID")?,
                secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            },
            table: required("TABLE")?,
            retention_days,
        })
    }

    /// Whether `site` is configured, and a page at `origin` may send for it. Requests without an
    /// `Origin` (server-side senders) are judged by the site alone.
    pub fn allows(&self, site: &str, origin: Option<&str>) -> Result<()> {
        let origins = self
            .sites
            .get(site)
            .ok_or_else(|| Error::Forbidden(format!("unknown site {site:?}")))?;
        match origin {
            Some(o) if !origins.iter().any(|a| a == "*" || a == o) => Err(Error::Forbidden(
                format!("origin {o:?} may not send for site {site:?}"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let mut all = vec![
            (
                "SITES",
                r#"{"demo":["http://127.0.0.1:8787"],"open":["*"]}"#,
            ),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("TABLE", "spoor"),
        ];
        all.extend_from_slice(extra);
        let map: BTreeMap<String, String> = all
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_all_values_with_defaults() {
        let c = Config::from_lookup(vars(&[])).unwrap();
        assert_eq!(c.table, "spoor");
        assert_eq!(c.retention_days, DEFAULT_RETENTION_DAYS);
        assert_eq!(c.aws.endpoint, None);
        let c = Config::from_lookup(vars(&[
            ("RETENTION_DAYS", "7"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        let err = Config::from_lookup(|n| vars(&[])(n).filter(|_| n != "TABLE")).unwrap_err();
        assert_eq!(err.to_string(), "configuration: TABLE is not set");
        let err = Config::from_lookup(vars(&[("RETENTION_DAYS", "0")])).unwrap_err();
        assert!(err.to_string().contains("RETENTION_DAYS"), "{err}");
        let err = Config::from_lookup(vars(&[("SITES", "demo")])).unwrap_err();
        assert!(err.to_string().contains("SITES"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let c = Config::from_lookup(vars(&[])).unwrap();
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn allows_known_sites_from_their_origins() {
        let c = Config::from_lookup(vars(&[])).unwrap();
        assert!(c.allows("demo", Some("http://127.0.0.1:8787")).is_ok());
        assert!(c.allows("demo", None).is_ok());
        assert!(c.allows("open", Some("https://anywhere.example")).is_ok());
        assert_eq!(
            c.allows("demo", Some("https://evil.example"))
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(c.allows("nope", None).unwrap_err().status(), 403);
    }
}
