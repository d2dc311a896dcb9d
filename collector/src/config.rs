//! Configuration, read from the Worker's vars and secrets (wrangler.toml `[vars]`,
//! `wrangler secret put`) through a lookup function, so it is built and tested natively too.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::logs::{self, Rule};

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
    /// Most alerts one site or service publishes per window; past it, one notice.
    pub max_alerts: u64,
    /// API keys of the services allowed to send logs (`LOG_KEYS`, a secret): service → key.
    pub log_keys: BTreeMap<String, String>,
    /// Keys of the read API (`READ_KEYS`, a secret): site or service → key; the key named `*`
    /// reads everything. Without any, the read API answers only `/v1/count`.
    pub read_keys: BTreeMap<String, String>,
    /// Rules raising the severity of log records (`SEVERITY_RULES`).
    pub severity_rules: Vec<Rule>,
    /// Which of its own requests the collector logs.
    pub log_requests: LogRequests,
    /// Traffic windows (ms), and what makes a surge: at least `surge_min` events and
    /// `surge_factor` times the baseline.
    pub surge_window_ms: i64,
    pub surge_factor: f64,
    pub surge_min: u64,
}

/// `LOG_REQUESTS`: `all` (default), `errors` (4xx and 5xx only) or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRequests {
    All,
    Errors,
    Off,
}

#[derive(Clone, PartialEq)]
pub struct AwsConfig {
    pub region: String,
    /// Overrides the AWS endpoints (the local emulator); `None` means the real AWS.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Calls to AWS one invocation may make (`SUBREQUEST_LIMIT`: the plan's subrequest cap).
    pub subrequest_limit: u32,
}

// Hand-written so that a debug print never shows the secrets.
impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("subrequest_limit", &self.subrequest_limit)
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
            .field("max_alerts", &self.max_alerts)
            .field("log_services", &self.log_keys.keys().collect::<Vec<_>>())
            .field("readers", &self.read_keys.keys().collect::<Vec<_>>())
            .field("severity_rules", &self.severity_rules)
            .field("log_requests", &self.log_requests)
            .field("surge_window_ms", &self.surge_window_ms)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_RETENTION_DAYS: u32 = 30;
pub const DEFAULT_ALERT_WINDOW_MINUTES: u32 = 10;
pub const DEFAULT_RAGE_ALERT_THRESHOLD: u32 = 5;
pub const DEFAULT_SURGE_WINDOW_MINUTES: u32 = 5;
pub const DEFAULT_SURGE_FACTOR: f64 = 3.0;
pub const DEFAULT_SURGE_MIN_EVENTS: u32 = 50;
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
                subrequest_limit: positive("SUBREQUEST_LIMIT", crate::subrequests::DEFAULT_LIMIT)?,
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
            max_alerts: u64::from(positive(
                "MAX_ALERTS_PER_WINDOW",
                crate::alerts::DEFAULT_MAX_ALERTS_PER_WINDOW,
            )?),
            log_keys: keys(
                get("LOG_KEYS"),
                "LOG_KEYS must be a JSON object of service → key",
            )?,
            read_keys: keys(
                get("READ_KEYS"),
                "READ_KEYS must be a JSON object of site, service or * → key",
            )?,
            severity_rules: logs::rules(get("SEVERITY_RULES").as_deref())?,
            log_requests: match get("LOG_REQUESTS").as_deref() {
                None | Some("all") => LogRequests::All,
                Some("errors") => LogRequests::Errors,
                Some("off") => LogRequests::Off,
                Some(other) => {
                    return Err(Error::Config(format!(
                        "LOG_REQUESTS must be all, errors or off, not {other:?}"
                    )))
                }
            },
            surge_window_ms: i64::from(positive(
                "SURGE_WINDOW_MINUTES",
                DEFAULT_SURGE_WINDOW_MINUTES,
            )?) * 60_000,
            surge_factor: match get("SURGE_FACTOR") {
                None => DEFAULT_SURGE_FACTOR,
                Some(v) => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|f: &f64| *f > 1.0)
                    .ok_or_else(|| {
                        Error::Config(format!("SURGE_FACTOR must be a number above 1, not {v:?}"))
                    })?,
            },
            surge_min: u64::from(positive("SURGE_MIN_EVENTS", DEFAULT_SURGE_MIN_EVENTS)?),
        })
    }

    /// The service whose API key is `key`, if any. Every configured key is compared, each in
    /// constant time, so the answer's timing tells nothing about the keys.
    pub fn log_service(&self, key: &str) -> Option<&str> {
        let mut found = None;
        for (service, k) in &self.log_keys {
            if constant_time_eq(k.as_bytes(), key.as_bytes()) {
                found = Some(service.as_str());
            }
        }
        found
    }

    /// Whether `key` may read what belongs to `scope` (a site, or a service's incidents): the
    /// scope's own key or the `*` key. Every key is compared, each in constant time.
    pub fn may_read(&self, key: &str, scope: &str) -> Result<()> {
        if self.read_keys.is_empty() {
            return Err(Error::Forbidden(
                "reading is off: this deployment has no READ_KEYS".into(),
            ));
        }
        let mut known = false;
        let mut allowed = false;
        for (name, k) in &self.read_keys {
            if constant_time_eq(k.as_bytes(), key.as_bytes()) {
                known = true;
                allowed |= name == "*" || name == scope;
            }
        }
        match (known, allowed) {
            (_, true) => Ok(()),
            (true, false) => Err(Error::Forbidden(format!("this key may not read {scope:?}"))),
            (false, _) => Err(Error::Unauthorized),
        }
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

/// A secret JSON object of name → key; an error never echoes the value.
fn keys(value: Option<String>, error: &str) -> Result<BTreeMap<String, String>> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(json) => {
            let keys: BTreeMap<String, String> =
                serde_json::from_str(&json).map_err(|_| Error::Config(error.into()))?;
            // An empty key would let an empty Authorization header in.
            if keys.values().any(|k| k.trim().is_empty()) {
                return Err(Error::Config(error.into()));
            }
            Ok(keys)
        }
    }
}

/// Compares without stopping at the first difference (only the length may show).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        assert_eq!(c.max_alerts, 20);
        assert_eq!(c.aws.subrequest_limit, 50, "the Workers Free plan's cap");
        let c = Config::from_lookup(vars(&[
            ("SUBREQUEST_LIMIT", "10000"),
            ("RETENTION_DAYS", "7"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]))
        .unwrap();
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.aws.subrequest_limit, 10_000);
        assert_eq!(c.aws.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn names_what_is_missing_or_wrong() {
        let err = Config::from_lookup(|n| vars(&[])(n).filter(|_| n != "TABLE")).unwrap_err();
        assert_eq!(err.to_string(), "configuration: TABLE is not set");
        let err = Config::from_lookup(vars(&[("RETENTION_DAYS", "0")])).unwrap_err();
        assert!(err.to_string().contains("RETENTION_DAYS"), "{err}");
        let err = Config::from_lookup(vars(&[("SUBREQUEST_LIMIT", "lots")])).unwrap_err();
        assert!(err.to_string().contains("SUBREQUEST_LIMIT"), "{err}");
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
    fn keys_identify_their_service() {
        let c =
            Config::from_lookup(vars(&[("LOG_KEYS", r#"{"a": "key-a", "b": "key-b"}"#)])).unwrap();
        assert_eq!(c.log_service("key-b"), Some("b"));
        assert_eq!(c.log_service("key-c"), None);
        assert_eq!(c.log_service(""), None);
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }

    #[test]
    fn read_keys_read_their_scope() {
        let c = Config::from_lookup(vars(&[(
            "READ_KEYS",
            r#"{"demo": "k-demo", "shop-api": "k-shop", "*": "k-all"}"#,
        )]))
        .unwrap();
        assert!(c.may_read("k-demo", "demo").is_ok());
        assert!(c.may_read("k-all", "demo").is_ok() && c.may_read("k-all", "other").is_ok());
        assert!(c.may_read("k-shop", "shop-api").is_ok());
        let status = |key: &str, scope: &str| c.may_read(key, scope).unwrap_err().status();
        assert_eq!(status("k-demo", "open"), 403, "another site's key");
        assert_eq!(status("k-demo", "shop-api"), 403);
        assert_eq!(status("k-dem", "demo"), 401, "a wrong key");
        assert_eq!(status("", "demo"), 401);
        assert!(!format!("{c:?}").contains("k-all"), "keys stay secret");
        let off = Config::from_lookup(vars(&[])).unwrap();
        assert!(off.read_keys.is_empty());
        assert_eq!(off.may_read("", "demo").unwrap_err().status(), 403);
        for bad in [r#"{"demo": ""}"#, r#"["k"]"#] {
            let err = Config::from_lookup(vars(&[("READ_KEYS", bad)])).unwrap_err();
            assert!(err.to_string().contains("READ_KEYS"), "{err}");
        }
    }

    #[test]
    fn log_keys_rules_and_surges() {
        let c = Config::from_lookup(vars(&[
            ("LOG_KEYS", r#"{"shop-api": "k-123"}"#),
            (
                "SEVERITY_RULES",
                r#"[{"contains": "payment", "severity": "CRITICAL"}]"#,
            ),
            ("LOG_REQUESTS", "errors"),
            ("SURGE_WINDOW_MINUTES", "60"),
            ("SURGE_FACTOR", "2.5"),
        ]))
        .unwrap();
        assert_eq!(c.log_keys["shop-api"], "k-123");
        assert_eq!(c.severity_rules.len(), 1);
        assert_eq!(c.log_requests, LogRequests::Errors);
        assert_eq!(
            (c.surge_window_ms, c.surge_factor, c.surge_min),
            (3_600_000, 2.5, 50)
        );
        assert!(!format!("{c:?}").contains("k-123"), "keys stay secret");
        let err = Config::from_lookup(vars(&[("LOG_KEYS", "k-123")])).unwrap_err();
        assert!(!err.to_string().contains("k-123"));
        assert!(Config::from_lookup(vars(&[("SURGE_FACTOR", "0.5")])).is_err());
        assert!(Config::from_lookup(vars(&[("LOG_REQUESTS", "some")])).is_err());
        let d = Config::from_lookup(vars(&[])).unwrap();
        assert!(d.log_keys.is_empty() && d.log_requests == LogRequests::All);
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
