//! `POST /v1/logs`: structured log records from any backend (a JSON array or NDJSON), checked
//! like tracker batches (a JSON 4xx naming the field, nothing written from a bad batch), and
//! their severity. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::aws::dynamodb::{storable_number, unstorable};
use crate::clock;
use crate::error::{Error, Result};

/// Largest body, most records, and field bounds.
pub const MAX_BODY: usize = 1024 * 1024;
pub const MAX_RECORDS: usize = 1000;
pub const MAX_MESSAGE: usize = 8 * 1024;
pub const MAX_ID: usize = 128;
pub const MAX_ATTRS: usize = 32;
pub const MAX_ATTRS_BYTES: usize = 4 * 1024;
/// Oldest record accepted, and how far ahead of the server clock one may be.
pub const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
pub const MAX_AHEAD_MS: i64 = 5 * 60 * 1000;
/// Largest share of a batch in one queue message (the queue takes 128 KB per message).
pub const CHUNK_BYTES: usize = 96 * 1024;
/// Most records in one queue message: each that joins a session is an item of its own (25 per
/// call), and one message must be written by one invocation within the Workers Free plan's 50
/// calls to AWS, its alerts included (10 calls for the items at most).
pub const CHUNK_RECORDS: usize = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    /// Reads the usual spellings, any case: `warning` is WARN, `critical` and `panic` FATAL.
    pub fn parse(text: &str) -> Option<Level> {
        Some(match text.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" | "information" | "notice" => Level::Info,
            "warn" | "warning" => Level::Warn,
            "error" | "err" => Level::Error,
            "fatal" | "critical" | "crit" | "panic" | "emergency" | "alert" => Level::Fatal,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Http {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: f64,
}

/// One validated record, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Milliseconds since the epoch (records may say it as a number or an RFC 3339 string).
    pub ts: i64,
    pub level: Level,
    pub service: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The tracker's session id, forwarded by the page to its backend: joins the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attrs: Map<String, Value>,
}

/// A record as sent, before its fields are checked one by one.
#[derive(Deserialize)]
struct Raw {
    ts: Value,
    level: String,
    service: String,
    message: String,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    http: Option<Http>,
    #[serde(default)]
    attrs: Option<Map<String, Value>>,
}

/// Part of a log batch, as queued and written: its records share a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    /// Derived from the request's content: a resend is the same batch (same S3 object, same
    /// counter marker).
    pub id: String,
    pub received: i64,
    pub service: String,
    pub records: Vec<LogRecord>,
}

/// Parses and checks a body (a JSON array of records, or one record per line) received at
/// `received`. Every record's service must be `service`, the one the API key belongs to.
pub fn parse(body: &[u8], service: &str, received: i64) -> Result<Vec<LogBatch>> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge { limit: MAX_BODY });
    }
    let text = std::str::from_utf8(body).map_err(|_| Error::invalid("body", "must be UTF-8"))?;
    let values: Vec<Value> = if text.trim_start().starts_with('[') {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, Vec<Value>>(de)
            .map_err(|e| Error::invalid("body", e.into_inner().to_string()))?
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map_err(|e| Error::invalid(format!("records[{i}]"), e.to_string()))
            })
            .collect::<Result<_>>()?
    };
    if values.is_empty() {
        return Err(Error::invalid("records", "must hold at least one record"));
    }
    if values.len() > MAX_RECORDS {
        return Err(Error::invalid(
            "records",
            format!("at most {MAX_RECORDS} records per request"),
        ));
    }
    let records = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i, v, service, received))
        .collect::<Result<Vec<_>>>()?;
    Ok(chunks(body, service, received, records))
}

fn record(i: usize, value: &Value, service: &str, received: i64) -> Result<LogRecord> {
    let at = |name: &str| format!("records[{i}].{name}");
    let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            format!("records[{i}]")
        } else {
            at(&path)
        };
        Error::invalid(field, e.into_inner().to_string())
    })?;
    if raw.service != service {
        return Err(Error::Forbidden(format!(
            "{}: this key may only send logs of service {service:?}",
            at("service")
        )));
    }
    let ts = match &raw.ts {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64),
        Value::String(s) => parse_rfc3339(s),
        _ => None,
    }
    .ok_or_else(|| Error::invalid(at("ts"), "must be epoch ms or an RFC 3339 time"))?;
    if ts < received - MAX_AGE_MS || ts > received + MAX_AHEAD_MS {
        return Err(Error::invalid(
            at("ts"),
            "outside the accepted window (7 days back, 5 minutes ahead)",
        ));
    }
    let level = Level::parse(&raw.level).ok_or_else(|| {
        Error::invalid(
            at("level"),
            "must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL",
        )
    })?;
    if raw.message.is_empty() || raw.message.len() > MAX_MESSAGE {
        return Err(Error::invalid(
            at("message"),
            format!("must be 1 to {MAX_MESSAGE} bytes"),
        ));
    }
    for (name, id) in [("trace_id", &raw.trace_id), ("session_id", &raw.session_id)] {
        if id
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > MAX_ID || v.chars().any(char::is_control))
        {
            return Err(Error::invalid(
                at(name),
                format!("must be 1 to {MAX_ID} printable characters"),
            ));
        }
    }
    if let Some(h) = &raw.http {
        if h.method.is_empty()
            || h.method.len() > 16
            || !h.method.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return Err(Error::invalid(at("http.method"), "must be an HTTP method"));
        }
        if !h.path.starts_with('/') || h.path.len() > 2048 {
            return Err(Error::invalid(
                at("http.path"),
                "must be a path starting with /, at most 2048 bytes",
            ));
        }
        if !(100..=599).contains(&h.status) {
            return Err(Error::invalid(
                at("http.status"),
                "must be an HTTP status, 100 to 599",
            ));
        }
        if !((0.0..=86_400_000.0).contains(&h.duration_ms) && storable_number(h.duration_ms)) {
            return Err(Error::invalid(
                at("http.duration_ms"),
                "must be 0 to 86,400,000 ms",
            ));
        }
    }
    let attrs = raw.attrs.unwrap_or_default();
    if attrs.len() > MAX_ATTRS
        || serde_json::to_vec(&attrs).map_or(0, |v| v.len()) > MAX_ATTRS_BYTES
    {
        return Err(Error::invalid(
            at("attrs"),
            format!("at most {MAX_ATTRS} attributes and {MAX_ATTRS_BYTES} bytes"),
        ));
    }
    for (name, value) in &attrs {
        let why = if name.is_empty() {
            Some("names must not be empty")
        } else {
            unstorable(value)
        };
        if let Some(why) = why {
            return Err(Error::invalid(at(&format!("attrs.{name}")), why));
        }
    }
    Ok(LogRecord {
        ts,
        level,
        service: raw.service,
        message: raw.message,
        trace_id: raw.trace_id,
        session_id: raw.session_id,
        http: raw.http.map(|h| Http {
            method: h.method.to_ascii_uppercase(),
            ..h
        }),
        attrs,
    })
}

/// Splits the records into queue-sized batches, each named after the request's content.
fn chunks(body: &[u8], service: &str, received: i64, records: Vec<LogRecord>) -> Vec<LogBatch> {
    let digest = Sha256::new()
        .chain_update(service.as_bytes())
        .chain_update([0])
        .chain_update(body)
        .finalize();
    let id = crate::hex(&digest[..12]);
    let mut batches: Vec<LogBatch> = Vec::new();
    let mut size = 0;
    for r in records {
        let len = serde_json::to_vec(&r).map_or(0, |v| v.len()) + 1;
        let full = batches
            .last()
            .is_some_and(|b| b.records.len() == CHUNK_RECORDS);
        if batches.is_empty() || size + len > CHUNK_BYTES || full {
            batches.push(LogBatch {
                id: format!("{id}-{}", batches.len()),
                received,
                service: service.to_string(),
                records: Vec::new(),
            });
            size = 0;
        }
        size += len;
        if let Some(last) = batches.last_mut() {
            last.records.push(r);
        }
    }
    batches
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-11-22T08:00:00.123Z`, offsets too).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let day = clock::parse_date(text.get(..10)?)?;
    let rest = text.get(10..)?;
    let rest = rest
        .strip_prefix('T')
        .or_else(|| rest.strip_prefix('t'))
        .or_else(|| rest.strip_prefix(' '))?;
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (h, m, s) = (
        num(rest.get(0..2)?)?,
        num(rest.get(3..5)?)?,
        num(rest.get(6..8)?)?,
    );
    if rest.get(2..3)? != ":" || rest.get(5..6)? != ":" || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut rest = rest.get(8..)?;
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        ms = num(&padded)?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.get(3..4)? == ":" => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            sign * (num(rest.get(1..3)?)? * 60 + num(rest.get(4..6)?)?)
        }
        _ => return None,
    };
    Some(((day * 86_400 + h * 3600 + m * 60 + s - offset_min * 60) * 1000) + ms)
}

/// How bad a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// A configured rule: records whose message contains `contains` (any case) are at least
/// `severity` (`SEVERITY_RULES` = `[{"contains": "payment", "severity": "CRITICAL"}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub contains: String,
    pub severity: Severity,
}

/// The severity of a record, if it has one: WARN is LOW, ERROR MEDIUM, FATAL CRITICAL; a
/// response of 5xx is at least MEDIUM (503 and 504 CRITICAL: the service is down), 429 LOW;
/// then the rules may raise it.
pub fn classify(r: &LogRecord, rules: &[Rule]) -> Option<Severity> {
    let by_level = match r.level {
        Level::Trace | Level::Debug | Level::Info => None,
        Level::Warn => Some(Severity::Low),
        Level::Error => Some(Severity::Medium),
        Level::Fatal => Some(Severity::Critical),
    };
    let by_status = r.http.as_ref().and_then(|h| match h.status {
        503 | 504 => Some(Severity::Critical),
        500..=599 => Some(Severity::Medium),
        429 => Some(Severity::Low),
        _ => None,
    });
    let message = r.message.to_lowercase();
    let by_rule = rules
        .iter()
        .filter(|rule| message.contains(&rule.contains.to_lowercase()))
        .map(|rule| rule.severity)
        .max();
    [by_level, by_status, by_rule].into_iter().flatten().max()
}

/// ERROR and above (a 5xx response counts as an error) become incidents.
pub fn is_incident(r: &LogRecord) -> bool {
    r.level >= Level::Error || r.http.as_ref().is_some_and(|h| h.status >= 500)
}

/// Parses `SEVERITY_RULES`.
pub fn rules(json: Option<&str>) -> Result<Vec<Rule>> {
    match json {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(j).map_err(|e| {
            Error::Config(format!(
                "SEVERITY_RULES must be a JSON list of {{\"contains\", \"severity\"}}: {e}"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_763_791_200_000; // 2025-11-22T06:00:00Z

    fn good(extra: Value) -> Value {
        let mut r = json!({"ts": NOW - 1000, "level": "error", "service": "shop-api",
                           "message": "payment declined for order 17"});
        if let (Value::Object(r), Value::Object(e)) = (&mut r, extra) {
            r.extend(e);
        }
        r
    }

    fn body(records: &[Value]) -> Vec<u8> {
        serde_json::to_vec(records).unwrap()
    }

    fn field_of(records: &[Value]) -> String {
        match parse(&body(records), "shop-api", NOW) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_arrays_and_ndjson_alike() {
        let records = [
            good(json!({})),
            good(
                json!({"ts": "2025-11-22T05:59:58.5Z", "level": "INFO", "trace_id": "t1",
                        "session_id": "s1", "http": {"method": "get", "path": "/cart",
                        "status": 200, "duration_ms": 12.5}, "attrs": {"user": 7}}),
            ),
        ];
        let from_array = parse(&body(&records), "shop-api", NOW).unwrap();
        let ndjson: Vec<u8> = records
            .iter()
            .flat_map(|r| [serde_json::to_vec(r).unwrap(), b"\n".to_vec()].concat())
            .collect();
        let from_lines = parse(&ndjson, "shop-api", NOW).unwrap();
        assert_eq!(from_array[0].records, from_lines[0].records);
        let r = &from_array[0].records[1];
        assert_eq!(r.ts, NOW - 1500);
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.http.as_ref().unwrap().method, "GET");
        assert_eq!(r.attrs["user"], 7);
    }

    #[test]
    fn the_same_body_is_the_same_batch() {
        let b = body(&[good(json!({}))]);
        let first = parse(&b, "shop-api", NOW).unwrap();
        let again = parse(&b, "shop-api", NOW + 60_000).unwrap();
        assert_eq!(first[0].id, again[0].id);
        let other = parse(&body(&[good(json!({"message": "x"}))]), "shop-api", NOW).unwrap();
        assert_ne!(first[0].id, other[0].id);
    }

    #[test]
    fn big_batches_are_split_for_the_queue() {
        let long = "m".repeat(4000);
        let records: Vec<Value> = (0..100).map(|_| good(json!({"message": long}))).collect();
        let batches = parse(&body(&records), "shop-api", NOW).unwrap();
        assert!(batches.len() > 1);
        assert_eq!(batches.iter().map(|b| b.records.len()).sum::<usize>(), 100);
        for b in &batches {
            assert!(serde_json::to_vec(b).unwrap().len() < 128 * 1024);
        }
        let ids: std::collections::BTreeSet<_> = batches.iter().map(|b| &b.id).collect();
        assert_eq!(ids.len(), batches.len());
    }

    #[test]
    fn bad_records_are_named() {
        assert_eq!(
            field_of(&[good(json!({"level": "loud"}))]),
            "records[0].level"
        );
        assert_eq!(
            field_of(&[good(json!({})), good(json!({"ts": "yesterday"}))]),
            "records[1].ts"
        );
        assert_eq!(
            field_of(&[good(json!({"ts": NOW + 3_600_000}))]),
            "records[0].ts"
        );
        assert_eq!(
            field_of(&[good(json!({"message": ""}))]),
            "records[0].message"
        );
        assert_eq!(
            field_of(&[good(json!({"message": 5}))]),
            "records[0].message"
        );
        assert_eq!(
            field_of(&[good(
                json!({"http": {"method": "GET", "path": "x", "status": 200, "duration_ms": 1}})
            )]),
            "records[0].http.path"
        );
        assert_eq!(
            field_of(&[good(
                json!({"http": {"method": "GET", "path": "/", "status": 700, "duration_ms": 1}})
            )]),
            "records[0].http.status"
        );
        assert_eq!(
            field_of(&[good(json!({"session_id": "s".repeat(200)}))]),
            "records[0].session_id"
        );
        let attrs: Map<String, Value> = (0..40).map(|i| (format!("a{i}"), json!(i))).collect();
        assert_eq!(
            field_of(&[good(json!({"attrs": attrs}))]),
            "records[0].attrs"
        );
        // What DynamoDB would refuse on every try is refused here, naming the attribute.
        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!([deep]);
        }
        for (attrs, field) in [
            (json!({"big": 1e200}), "records[0].attrs.big"),
            (json!({"tiny": {"x": [1e-200]}}), "records[0].attrs.tiny"),
            (json!({"deep": deep}), "records[0].attrs.deep"),
            (json!({"": 1}), "records[0].attrs."),
            (json!({"m": {"": 1}}), "records[0].attrs.m"),
        ] {
            assert_eq!(field_of(&[good(json!({ "attrs": attrs }))]), field);
        }
        assert_eq!(
            field_of(&[good(
                json!({"http": {"method": "GET", "path": "/", "status": 200, "duration_ms": 1e-200}})
            )]),
            "records[0].http.duration_ms"
        );
        let ok = parse(
            &body(&[good(
                json!({"attrs": {"n": [0, -1.5, 1e125, 1.5e-130], "m": {"a": {"b": true}}}}),
            )]),
            "shop-api",
            NOW,
        );
        assert!(ok.is_ok(), "{ok:?}");
        assert_eq!(field_of(&[]), "records");
        assert_eq!(field_of(&vec![good(json!({})); MAX_RECORDS + 1]), "records");
        assert_eq!(field_of(&[json!("just a string")]), "records[0]");
        assert!(matches!(
            parse(b"[{", "shop-api", NOW),
            Err(Error::Invalid { .. })
        ));
        assert!(
            matches!(parse(b"{\"a\":1}\n{", "shop-api", NOW), Err(Error::Invalid { field, .. }) if field == "records[0]" || field == "records[1]")
        );
    }

    #[test]
    fn a_key_only_sends_its_own_service() {
        let err = parse(
            &body(&[good(json!({"service": "billing"}))]),
            "shop-api",
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.status(), 403);
        assert!(err.to_string().contains("records[0].service"));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("2025-11-22T06:00:00Z"), Some(NOW));
        assert_eq!(parse_rfc3339("2025-11-22T06:00:00.25Z"), Some(NOW + 250));
        assert_eq!(parse_rfc3339("2025-11-22T07:00:00+01:00"), Some(NOW));
        assert_eq!(
            parse_rfc3339("2025-11-22T05:30:00.123456-00:30"),
            Some(NOW + 123)
        );
        for bad in [
            "2025-11-22",
            "2025-11-22T25:00:00Z",
            "2025-11-22T06:00:00",
            "2025-11-22T06:00:00.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn severity_from_level_status_and_rules() {
        let rec = |level, status: Option<u16>, message: &str| LogRecord {
            ts: NOW,
            level,
            service: "s".into(),
            message: message.into(),
            trace_id: None,
            session_id: None,
            http: status.map(|status| Http {
                method: "GET".into(),
                path: "/".into(),
                status,
                duration_ms: 1.0,
            }),
            attrs: Map::new(),
        };
        let rules = rules(Some(r#"[{"contains": "PAYMENT", "severity": "CRITICAL"}]"#)).unwrap();
        assert_eq!(classify(&rec(Level::Info, None, "ok"), &rules), None);
        assert_eq!(
            classify(&rec(Level::Warn, None, "slow"), &rules),
            Some(Severity::Low)
        );
        assert_eq!(
            classify(&rec(Level::Error, None, "boom"), &rules),
            Some(Severity::Medium)
        );
        assert_eq!(
            classify(&rec(Level::Fatal, None, "boom"), &rules),
            Some(Severity::Critical)
        );
        assert_eq!(
            classify(&rec(Level::Info, Some(500), "GET /"), &rules),
            Some(Severity::Medium)
        );
        assert_eq!(
            classify(&rec(Level::Info, Some(503), "GET /"), &rules),
            Some(Severity::Critical)
        );
        assert_eq!(
            classify(&rec(Level::Info, Some(429), "GET /"), &rules),
            Some(Severity::Low)
        );
        assert_eq!(
            classify(&rec(Level::Error, None, "Payment failed"), &rules),
            Some(Severity::Critical)
        );
        assert!(is_incident(&rec(Level::Error, None, "x")));
        assert!(is_incident(&rec(Level::Info, Some(502), "x")));
        assert!(!is_incident(&rec(Level::Warn, Some(404), "x")));
        assert!(super::rules(Some("nope")).is_err());
    }
}
