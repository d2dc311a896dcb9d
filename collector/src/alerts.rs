//! Alerts: which incidents a batch raises, and the fingerprints and windows that make one alert
//! per incident per window instead of an alert storm. Pure; the store guards each alert with a
//! conditional marker item before publishing it.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use wire::EventData;

use crate::aggregates::{self, Aggregates};
use crate::ingest::Envelope;
use crate::logs::{self, LogBatch, LogRecord, Rule, Severity};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// `browser_error`, `rage_clicks`, `server_error`, `traffic_surge`, `traffic_drop`, or
    /// `alert_limit` (a site's or service's alerts in one window reached the limit).
    pub kind: &'static str,
    /// `LOW`, `MEDIUM` or `CRITICAL`.
    pub severity: &'static str,
    /// The site it concerns (browser incidents, traffic)…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// …or the backend service (server logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub path: String,
    pub message: String,
    /// Occurrences counted in this batch (errors) or so far in the window (rage clicks).
    pub count: u64,
    /// Start of the window (ms since the epoch) the alert stands for.
    pub window_start: i64,
    /// Same incident, same fingerprint: what de-duplicates alerts.
    pub fingerprint: String,
}

impl Alert {
    /// The site or service: where its incident is listed (`I#<source>`).
    pub fn source(&self) -> &str {
        self.site
            .as_deref()
            .or(self.service.as_deref())
            .unwrap_or_default()
    }

    /// The SNS message attributes subscribers filter on.
    pub fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut a = vec![("kind", self.kind), ("severity", self.severity)];
        if let Some(site) = &self.site {
            a.push(("site", site));
        }
        if let Some(service) = &self.service {
            a.push(("service", service));
        }
        a
    }
}

/// Default most alerts one site or service publishes per window (`MAX_ALERTS_PER_WINDOW`).
pub const DEFAULT_MAX_ALERTS_PER_WINDOW: u32 = 20;

/// The notice to publish in place of a new incident's alert, if the alert is the `n`-th of
/// its site or service in its window and `max` are allowed. This caps alerts so that a page
/// throwing hundreds of distinct errors (or a sender making them up) is a burst of `max`
/// alerts and one notice, not a storm; the incidents are all recorded either way.
pub fn over_budget(alert: &Alert, n: u64, max: u64) -> Option<Alert> {
    if n <= max {
        return None;
    }
    let source = alert.source().to_string();
    Some(Alert {
        kind: "alert_limit",
        severity: "MEDIUM",
        site: alert.site.clone(),
        service: alert.service.clone(),
        path: String::new(),
        message: format!(
            "more than {max} alerts for {source} in this window: the rest are recorded as \
             incidents, not sent"
        ),
        count: n,
        window_start: alert.window_start,
        // One notice per source and window: its marker is what makes it once.
        fingerprint: fingerprint(&["alert_limit", &source]),
    })
}

/// Normalises an error message so that one bug is one incident: numbers, quoted strings and
/// hex ids vary between occurrences of the same error.
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|c| c.is_ascii_hexdigit() || matches!(c, '.' | 'x' | 'X'))
            {
                chars.next();
            }
            out.push('#');
        } else if c == '"' || c == '\'' {
            for q in chars.by_ref() {
                if q == c {
                    break;
                }
            }
            out.push_str("\"…\"");
        } else {
            out.push(c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A short stable hash of the parts.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    crate::hex(&h.finalize()[..8])
}

/// One alert per distinct browser error (by site, normalised message and source) per window.
pub fn browser_errors(env: &Envelope, window_ms: i64) -> Vec<Alert> {
    let mut found: BTreeMap<(String, i64), Alert> = BTreeMap::new();
    for e in &env.batch.events {
        let EventData::Error(err) = &e.data else {
            continue;
        };
        let at = e.ts.saturating_add(env.skew());
        let window_start = at - at.rem_euclid(window_ms);
        let normalised = normalise(&err.msg);
        let fp = fingerprint(&["browser_error", &env.batch.site, &normalised, &err.src]);
        found
            .entry((fp.clone(), window_start))
            .and_modify(|a| a.count += 1)
            .or_insert_with(|| Alert {
                kind: "browser_error",
                severity: "MEDIUM",
                site: Some(env.batch.site.clone()),
                service: None,
                path: aggregates::page_path(&e.url).into_owned(),
                message: err.msg.chars().take(500).collect(),
                count: 1,
                window_start,
                fingerprint: fp,
            });
    }
    found.into_values().collect()
}

/// Server-side incidents of a log batch: its error records grouped by fingerprint (service +
/// normalised message) and window, each with its count, highest severity and first record.
pub fn server_errors<'a>(
    batch: &'a LogBatch,
    rules: &[Rule],
    window_ms: i64,
) -> Vec<(Alert, &'a LogRecord)> {
    let mut found: BTreeMap<(String, i64), (Alert, &LogRecord)> = BTreeMap::new();
    for r in batch.records.iter().filter(|r| logs::is_incident(r)) {
        let severity = logs::classify(r, rules).unwrap_or(Severity::Medium);
        let window_start = r.ts - r.ts.rem_euclid(window_ms);
        let fp = fingerprint(&["server_error", &batch.service, &normalise(&r.message)]);
        found
            .entry((fp.clone(), window_start))
            .and_modify(|(a, _)| {
                a.count += 1;
                if severity.as_str() == "CRITICAL"
                    || (severity.as_str() == "MEDIUM" && a.severity == "LOW")
                {
                    a.severity = severity.as_str();
                }
            })
            .or_insert_with(|| {
                let alert = Alert {
                    kind: "server_error",
                    severity: severity.as_str(),
                    site: None,
                    service: Some(batch.service.clone()),
                    path: r.http.as_ref().map(|h| h.path.clone()).unwrap_or_default(),
                    message: r.message.chars().take(500).collect(),
                    count: 1,
                    window_start,
                    fingerprint: fp,
                };
                (alert, r)
            });
    }
    found.into_values().collect()
}

/// Rage-click burst candidates: pages with rage clicks in this batch, and their windows. The
/// store decides, from the window's running total, which crossed `threshold`.
pub fn rage_bursts(site: &str, agg: &Aggregates) -> Vec<Alert> {
    agg.rage
        .iter()
        .map(|((path, window_start), n)| Alert {
            kind: "rage_clicks",
            severity: "LOW",
            site: Some(site.to_string()),
            service: None,
            path: path.clone(),
            message: format!("rage clicks on {path}"),
            count: *n,
            window_start: *window_start,
            fingerprint: fingerprint(&["rage_clicks", site, path]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest;
    use serde_json::json;

    const NOW: i64 = 1_763_791_200_000;

    fn errors(msgs: &[(&str, i64)]) -> Envelope {
        let events: Vec<_> = msgs
            .iter()
            .enumerate()
            .map(|(i, (msg, ago))| {
                json!({"id": format!("e{i}"), "k": "error", "ts": NOW - ago, "url": "/p?q",
                       "msg": msg, "src": "https://x/app.js", "line": 1, "col": 2})
            })
            .collect();
        let body = json!({"v": 1, "site": "demo", "batch": "b", "sent": NOW, "vid": "v",
                          "sid": "s", "events": events});
        ingest::parse(&serde_json::to_vec(&body).unwrap(), NOW).unwrap()
    }

    #[test]
    fn the_same_error_with_other_details_is_one_incident() {
        assert_eq!(
            normalise("Cannot read properties of undefined (reading 'id') at 0x1f3a line 42"),
            "Cannot read properties of undefined (reading \"…\") at # line #"
        );
        let env = errors(&[
            ("Item 17 not found", 1000),
            ("Item 23 not found", 2000),
            ("Network down", 3000),
        ]);
        let alerts = browser_errors(&env, 600_000);
        assert_eq!(alerts.len(), 2);
        let item = alerts
            .iter()
            .find(|a| a.message.starts_with("Item"))
            .unwrap();
        assert_eq!(item.count, 2);
        assert_eq!(item.path, "/p");
        assert_eq!((item.kind, item.severity), ("browser_error", "MEDIUM"));
    }

    #[test]
    fn past_its_budget_a_source_gets_a_notice_instead() {
        let env = errors(&[("boom", 1000)]);
        let alert = &browser_errors(&env, 600_000)[0];
        assert_eq!(over_budget(alert, 1, 3), None);
        assert_eq!(over_budget(alert, 3, 3), None);
        let notice = over_budget(alert, 4, 3).expect("over the limit");
        assert_eq!((notice.kind, notice.source()), ("alert_limit", "demo"));
        assert_eq!(notice.window_start, alert.window_start);
        assert!(notice.message.contains("more than 3 alerts for demo"));
        assert_ne!(notice.fingerprint, alert.fingerprint);
        // Every alert past the limit names the same notice, so one marker makes it once.
        let later = over_budget(alert, 500, 3).unwrap();
        assert_eq!(later.fingerprint, notice.fingerprint);
    }

    #[test]
    fn windows_split_incidents_in_time() {
        let env = errors(&[("boom", 1000), ("boom", 1000 + 3_600_000)]);
        let alerts = browser_errors(&env, 600_000);
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].fingerprint, alerts[1].fingerprint);
        assert_ne!(alerts[0].window_start, alerts[1].window_start);
        assert_eq!(alerts[0].window_start % 600_000, 0);
    }

    #[test]
    fn repeated_server_errors_are_one_incident_per_window() {
        let body: Vec<serde_json::Value> = (0..5)
            .map(|i| json!({"ts": NOW - 1000, "level": "ERROR", "service": "api",
                            "message": format!("order {i} failed"), "trace_id": format!("t{i}")}))
            .chain([json!({"ts": NOW - 1000, "level": "INFO", "service": "api", "message": "ok"}),
                    json!({"ts": NOW - 900, "level": "FATAL", "service": "api", "message": "order 9 failed"})])
            .collect();
        let batches = logs::parse(&serde_json::to_vec(&body).unwrap(), "api", NOW).unwrap();
        let found = server_errors(&batches[0], &[], 600_000);
        assert_eq!(found.len(), 1);
        let (alert, first) = &found[0];
        assert_eq!(
            (alert.count, alert.severity, alert.kind),
            (6, "CRITICAL", "server_error")
        );
        assert_eq!(alert.service.as_deref(), Some("api"));
        assert_eq!(alert.source(), "api");
        assert_eq!(first.trace_id.as_deref(), Some("t0"));
        assert_eq!(
            alert.attributes(),
            vec![
                ("kind", "server_error"),
                ("severity", "CRITICAL"),
                ("service", "api")
            ]
        );
    }

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        assert_ne!(fingerprint(&["a", "b"]), fingerprint(&["ab", ""]));
        assert_eq!(fingerprint(&["x"]).len(), 16);
    }
}
