//! Configuration, read from the Worker's vars and secrets (wrangler.toml `[vars]`,
//! `wrangler secret put`) through a lookup function, so it is built and tested natively too.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

#[derive(Clone, PartialEq)]
pub struct Config {
    /// Sites accepted, each with the page origins allowed to send for it (`*` allows any).
    pub sites: BTreeMap<String, Vec<String>>,
    pub aws: AwsConfig,
    /// DynamoDB table holding events, aggregates and markers.
    pub table: String,
    /// S3 bucket for the raw NDJSON batches.
    pub bucket: String,
    /// SNS topic for alerts; without one, incidents are recorded but not published.
    pub topic_arn: Option<String>,
    /// Days an item lives before DynamoDB's TTL removes it.
    pub retention_days: u32,
    /// Secret key of the IP hash (at least 16 bytes).
    pub ip_hash_key: Vec<u8>,
    /// An incident alerts at most once per window of this many ms.
    pub alert_window_ms: i64,
    /// Rage clicks on one page within one window that make an alert.
    pub rage_alert_threshold: u64,
}

#[derive(Clone, PartialEq)]
pub struct AwsConfig {
    pub region: String,
    /// Overrides the AWS endpoints (the local emulator); `None` means the real AWS.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

// Hand-written so that a debug print never shows the secrets.
impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("sites", &self.sites)
            .field("aws", &self.aws)
            .field("table", &self.table)
            .field("bucket", &self.bucket)
            .field("topic_arn", &self.topic_arn)
            .field("retention_days", &self.retention_days)
            .field("alert_window_ms", &self.alert_window_ms)
            .field("rage_alert_threshold", &self.rage_alert_threshold)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_ALERT_WINDOW_MINUTES: u32 = 10;
pub const DEFAULT_RAGE_ALERT_THRESHOLD: u32 = 5;
const MIN_IP_HASH_KEY: usize = 16;

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
        let positive = |name: &str, default: u32| -> Result<u32> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().ok().filter(|d| *d > 0).ok_or_else(|| {
                    Error::Config(format!("{name} must be a positive integer, not {v:?}"))
                }),
            }
        };
        let ip_hash_key = required("IP_HASH_KEY")?.into_bytes();
        if ip_hash_key.len() < MIN_IP_HASH_KEY {
            return Err(Error::Config(format!(
                "IP_HASH_KEY must be at least {MIN_IP_HASH_KEY} bytes"
            )));
        }
        Ok(Config {
            sites,
            aws: AwsConfig {
                region: required("AWS_REGION")?,
                endpoint: get("AWS_ENDPOINT_URL").filter(|v| !v.trim().is_empty()),
                access_key_id: required("AWS_ACCESS_KEY_ID")?,
                secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            },
            table: required("TABLE")?,
            bucket: required("BUCKET")?,
            topic_arn: get("TOPIC_ARN").filter(|v| !v.trim().is_empty()),
            retention_days: positive("RETENTION_DAYS", DEFAULT_RETENTION_DAYS)?,
            ip_hash_key,
            alert_window_ms: i64::from(positive(
                "ALERT_WINDOW_MINUTES",
                DEFAULT_ALERT_WINDOW_MINUTES,
            )?) * 60_000,
            rage_alert_threshold: u64::from(positive(
                "RAGE_ALERT_THRESHOLD",
                DEFAULT_RAGE_ALERT_THRESHOLD,
            )?),
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
            ("BUCKET", "spoor-raw"),
            ("IP_HASH_KEY", "0123456789abcdef-hash-key"),
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
        assert_eq!(c.topic_arn, None);
        assert_eq!(c.alert_window_ms, 600_000);
        assert_eq!(c.rage_alert_threshold, 5);
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
        let err = Config::from_lookup(vars(&[("IP_HASH_KEY", "short")])).unwrap_err();
        assert!(err.to_string().contains("IP_HASH_KEY"), "{err}");
    }

    #[test]
    fn debug_output_hides_the_secrets() {
        let c = Config::from_lookup(vars(&[])).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"));
        assert!(!shown.contains("hash-key"));
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
