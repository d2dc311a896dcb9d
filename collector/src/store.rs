//! Writes accepted work to the stores: the queue consumer's job (or, without a queue, done
//! after the response), and natively the tests' and the replay command's. Every step is safe
//! to repeat, so a failure anywhere is handled by running the whole piece of work again.
//!
//! A tracker batch ([`Stores::write`]):
//! 1. raw events → DynamoDB (keyed by client ids: a rewrite overwrites);
//! 2. the batch as NDJSON → S3 (keyed by batch id: a rewrite overwrites);
//! 3. counters → DynamoDB transactions guarded by the batch marker (a rerun changes nothing);
//! 4. the visitor counter → a transaction guarded by the visitor marker;
//! 5. alerts → SNS, each guarded by its alert marker (one per incident and window).
//!
//! A log batch ([`Stores::write_logs`]): NDJSON → S3, records with a session id → DynamoDB,
//! incident counts guarded by the batch's marker, alerts as above. A tracker batch may carry
//! the access-log record of the request that brought it: written after the batch, as a log
//! batch.

use serde::{Deserialize, Serialize};

use crate::aggregates;
use crate::alerts::{self, Alert};
use crate::aws::dynamodb::{Attr, DynamoDb, Item, Outcome, Update};
use crate::aws::item_json::ItemJson;
use crate::aws::s3::S3;
use crate::aws::sns::Sns;
use crate::aws::sqs::Sqs;
use crate::aws::Aws;
use crate::clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::Envelope;
use crate::logs::{LogBatch, Rule};
use crate::records;
use crate::subrequests::Budget;
use crate::surge;

/// One queue message: a tracker batch or a part of a log batch, as JSON text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Work {
    Events(Box<Envelope>),
    Logs(LogBatch),
}

/// Calls one alert may make: its marker, the window's count, the publish, the incident's
/// mark, the notice's marker and publish, and the marker's removal if the publish fails. (An
/// incident that already alerted in its window costs one: the marker's put finds it.)
const ALERT_CALLS: u32 = 7;

/// A name for one attempt at an alert, which its markers carry: a put of the marker sent again
/// after its answer was lost is told apart from a marker put by another attempt (which alerted).
fn attempt() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", clock::now_ms())
}

#[derive(Clone, Debug)]
pub struct Stores {
    pub dynamodb: DynamoDb,
    pub s3: S3,
    /// The alerts topic, if one is configured.
    pub sns: Option<(Sns, String)>,
    /// What the clients above share: one invocation's calls to AWS.
    aws: Aws,
    retention_days: u32,
    alert_window_ms: i64,
    rage_alert_threshold: u64,
    severity_rules: Vec<Rule>,
    surge_window_ms: i64,
    surge_factor: f64,
    surge_min: u64,
    max_alerts: u64,
}

/// What writing did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    /// Events or log records written.
    pub events: usize,
    /// Whether the counters were applied now (false: a redelivery, applied before).
    pub counted: bool,
    /// Message ids of the alerts published now.
    pub alerts: Vec<String>,
}

impl Stores {
    pub fn new(config: &Config) -> Self {
        let aws = Aws::new(config.aws.clone());
        let sns = config.topic_arn.as_ref().map(|arn| {
            (
                Sns::new(&config.aws, aws.http(), aws.budget().clone()),
                arn.clone(),
            )
        });
        Stores {
            dynamodb: DynamoDb::new(aws.clone(), &config.table),
            s3: S3::new(aws.clone(), &config.bucket),
            sns,
            aws,
            retention_days: config.retention_days,
            alert_window_ms: config.alert_window_ms,
            rage_alert_threshold: config.rage_alert_threshold,
            severity_rules: config.severity_rules.clone(),
            surge_window_ms: config.surge_window_ms,
            surge_factor: config.surge_factor,
            surge_min: config.surge_min,
            max_alerts: config.max_alerts,
        }
    }

    /// The calls to AWS this invocation has left.
    pub fn budget(&self) -> &Budget {
        self.aws.budget()
    }

    /// The dead-letter store's client, on the same calls.
    pub fn sqs(&self) -> Sqs {
        Sqs::new(self.aws.clone())
    }

    pub async fn run(&self, work: &Work) -> Result<Written> {
        match work {
            Work::Events(env) => {
                let written = self.write(env).await?;
                if let Some(access) = &env.access {
                    self.write_logs(access).await?;
                }
                Ok(written)
            }
            Work::Logs(batch) => self.write_logs(batch).await,
        }
    }

    pub async fn write(&self, env: &Envelope) -> Result<Written> {
        let retention = self.retention_days;
        let mut written = Written {
            events: env.batch.events.len(),
            ..Written::default()
        };
        let records = records::event_records(env, retention);
        self.dynamodb.put_all(records.items).await?;
        self.s3
            .put(
                &records::s3_key(env),
                records.ndjson,
                "application/x-ndjson",
            )
            .await?;

        let agg = aggregates::aggregate(env, self.alert_window_ms);
        let errors = alerts::browser_errors(env, self.alert_window_ms);
        let txs =
            records::counter_transactions(env, &agg, &errors, retention, self.surge_window_ms);
        for tx in txs {
            written.counted = self.dynamodb.transact(&tx).await? == Outcome::Applied;
        }
        if let Some(tx) = records::visitor_transaction(env, retention) {
            self.dynamodb.transact(&tx).await?;
        }

        if self.sns.is_none() {
            return Ok(written); // no alerts to send: no counts to read for them
        }
        let mut due = errors;
        for burst in alerts::rage_bursts(&env.batch.site, &agg) {
            let window = records::rage_window_key(burst.source(), &burst.path, burst.window_start);
            let total = self.count(&window, "rage_clicks").await?;
            if total >= self.rage_alert_threshold {
                due.push(Alert {
                    count: total,
                    ..burst
                });
            }
        }
        let expires = records::expires_at(env, retention);
        for alert in &due {
            if let Some(id) = self.alert(alert, expires).await? {
                written.alerts.push(id);
            }
        }
        Ok(written)
    }

    pub async fn write_logs(&self, batch: &LogBatch) -> Result<Written> {
        let retention = self.retention_days;
        let mut written = Written {
            events: batch.records.len(),
            ..Written::default()
        };
        self.s3
            .put(
                &records::log_s3_key(batch),
                records::log_ndjson(batch),
                "application/x-ndjson",
            )
            .await?;
        self.dynamodb
            .put_all(
                records::log_session_items(batch, retention)
                    .iter()
                    .map(ItemJson::from)
                    .collect(),
            )
            .await?;
        let incidents = alerts::server_errors(batch, &self.severity_rules, self.alert_window_ms);
        for tx in records::log_counter_transactions(batch, &incidents, retention) {
            written.counted = self.dynamodb.transact(&tx).await? == Outcome::Applied;
        }
        if self.sns.is_none() {
            return Ok(written); // no alerts to send: no counts to read for them
        }
        let expires = records::log_expires_at(batch, retention);
        for (incident, _) in &incidents {
            // The alert reports the incident's count so far in its window.
            let total = self
                .count(&records::incident_key(incident), "count")
                .await?;
            let alert = Alert {
                count: total.max(incident.count),
                ..incident.clone()
            };
            if let Some(id) = self.alert(&alert, expires).await? {
                written.alerts.push(id);
            }
        }
        Ok(written)
    }

    /// The cron's check of one site's traffic at `now` (ms): the last complete window
    /// against the ones before it; returns the id of the alert it published, if any.
    pub async fn check_traffic(&self, site: &str, now: i64) -> Result<Option<String>> {
        let w = self.surge_window_ms;
        let last = surge::window_start(now, w) - w;
        let first = last - surge::BASELINE_WINDOWS * w;
        let counted = self
            .dynamodb
            .query_range(
                &format!("W#{site}"),
                (
                    &surge::window_sort_key(first),
                    &surge::window_sort_key(last),
                ),
                // One item per window at most.
                surge::BASELINE_WINDOWS as usize + 1,
                false,
            )
            .await?;
        let events_in = |start: i64| {
            counted
                .iter()
                .find(|i| i["sk"].as_s() == Some(surge::window_sort_key(start).as_str()))
                .and_then(|i| i.get("events").and_then(Attr::as_f64))
                .unwrap_or(0.0) as u64
        };
        let baseline: Vec<u64> = (0..surge::BASELINE_WINDOWS)
            .map(|i| events_in(first + i * w))
            .collect();
        let Some(j) = surge::judge(
            events_in(last),
            &baseline,
            self.surge_factor,
            self.surge_min,
        ) else {
            return Ok(None);
        };
        let minutes = w / 60_000;
        let alert = Alert {
            kind: j.kind,
            severity: if j.kind == "traffic_drop" {
                "CRITICAL"
            } else {
                "MEDIUM"
            },
            site: Some(site.to_string()),
            service: None,
            path: String::new(),
            message: format!(
                "{} events in the {minutes} minutes from {}, against a usual {:.0}",
                j.last,
                clock::iso_minute(last),
                j.baseline
            ),
            count: j.last,
            window_start: last,
            fingerprint: alerts::fingerprint(&[j.kind, site]),
        };
        let expires = (now + i64::from(self.retention_days) * 86_400_000) / 1000;
        self.alert(&alert, expires).await
    }

    /// A counter of one item, 0 if there is none.
    async fn count(&self, key: &Item, attr: &str) -> Result<u64> {
        Ok(self
            .dynamodb
            .get(key)
            .await?
            .and_then(|item| item.get(attr).and_then(Attr::as_f64))
            .unwrap_or(0.0) as u64)
    }

    /// Publishes `alert` unless its incident already alerted in this window, or its site or
    /// service has used up its alerts for the window (then the incident is marked withheld and
    /// one notice says so); returns the message id if it published. The marker is put first.
    async fn alert(&self, alert: &Alert, expires: i64) -> Result<Option<String>> {
        let Some((sns, topic)) = &self.sns else {
            return Ok(None);
        };
        // The marker must not outlive a failed publish (the retry would skip the alert), and
        // removing it takes a call too: the put only with a call left after it, the rest of
        // the alert only with calls enough for the whole of it. (An incident that already
        // alerted costs its put alone: a redelivery, or a retry after running out, gets on.)
        let calls = self.budget();
        let out_of_calls = || Error::Subrequests {
            limit: calls.limit(),
        };
        if calls.left() < 2 {
            return Err(out_of_calls());
        }
        let owner = attempt();
        let marker = records::alert_marker(alert, expires);
        if !self.dynamodb.put_new(&marker, &owner).await? {
            return Ok(None);
        }
        if calls.left() < ALERT_CALLS - 1 {
            let _ = self.dynamodb.delete(&marker).await;
            return Err(out_of_calls());
        }
        let budget = records::alert_budget(alert, expires);
        let n = match self.dynamodb.add_and_read(&budget, "alerts").await {
            Ok(n) => n,
            Err(e) => {
                let _ = self.dynamodb.delete(&marker).await;
                return Err(e);
            }
        };
        let Some(notice) = alerts::over_budget(alert, n, self.max_alerts) else {
            return self
                .publish(sns, topic, alert, &marker, expires)
                .await
                .map(Some);
        };
        self.mark_incident(alert, expires, [("alert_withheld", Attr::Bool(true))])
            .await?;
        let notice_marker = records::alert_marker(&notice, expires);
        if !self.dynamodb.put_new(&notice_marker, &owner).await? {
            return Ok(None);
        }
        self.publish(sns, topic, &notice, &notice_marker, expires)
            .await
            .map(Some)
    }

    /// Publishes `alert` and records on its incident that it alerted. If publishing fails,
    /// `marker` is removed again, so that the retry of this work alerts. (The window's alert
    /// count keeps the failed try: a long SNS outage can only make fewer alerts, never more.)
    async fn publish(
        &self,
        sns: &Sns,
        topic: &str,
        alert: &Alert,
        marker: &Item,
        expires: i64,
    ) -> Result<String> {
        let message = serde_json::to_string(alert).unwrap_or_default();
        let published = sns
            .publish(topic, &subject(alert), &message, &alert.attributes())
            .await;
        let id = match published {
            Ok(id) => id,
            Err(e) => {
                let _ = self.dynamodb.delete(marker).await;
                return Err(e);
            }
        };
        let alerted = [
            ("alert_count", Attr::n(alert.count)),
            ("message_id", Attr::s(&id)),
        ];
        self.mark_incident(alert, expires, alerted).await?;
        Ok(id)
    }

    /// Records on `alert`'s incident what became of its alert (rage bursts and traffic get
    /// their incident item here).
    async fn mark_incident<const N: usize>(
        &self,
        alert: &Alert,
        expires: i64,
        what: [(&str, Attr); N],
    ) -> Result<()> {
        let mut set = records::incident_fields(alert, &Attr::n(expires));
        set.extend(what.into_iter().map(|(k, v)| (k.to_string(), v)));
        self.dynamodb
            .update(&Update {
                key: records::incident_key(alert),
                add: vec![],
                set,
            })
            .await
    }
}

/// An SNS subject: printable ASCII, one line, at most 100 characters.
fn subject(alert: &Alert) -> String {
    let text = format!(
        "[spoor] {} on {}{}: {}",
        alert.kind,
        alert.source(),
        alert.path,
        alert.message
    );
    text.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .take(100)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit_sns_rules() {
        let alert = Alert {
            kind: "browser_error",
            severity: "MEDIUM",
            site: Some("demo".into()),
            service: None,
            path: "/p".into(),
            message: "Ünïcode\nnewline ".repeat(20),
            count: 1,
            window_start: 0,
            fingerprint: "f".into(),
        };
        let s = subject(&alert);
        assert!(s.len() <= 100);
        assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s}");
        assert!(s.starts_with("[spoor] browser_error on demo/p: "));
    }

    #[test]
    fn work_is_tagged_json() {
        let text = r#"{"logs":{"id":"x-0","received":1,"service":"s","records":[]}}"#;
        let work: Work = serde_json::from_str(text).unwrap();
        assert!(matches!(work, Work::Logs(ref b) if b.id == "x-0"));
        assert_eq!(serde_json::to_string(&work).unwrap(), text);
    }

    #[test]
    fn a_batch_carries_its_access_log_only_when_it_has_one() {
        let body =
            br#"{"v":2,"site":"s","batch":"b","sent":1,"t0":1,"urls":["/"],"vid":"v","sid":"x",
                      "events":[[0,0,"p","Home",""]]}"#;
        let mut env = crate::ingest::parse(body, 1).unwrap();
        let plain = serde_json::to_string(&Work::Events(Box::new(env.clone()))).unwrap();
        assert!(!plain.contains("access"), "{plain}");
        env.access = Some(LogBatch {
            id: "req-1-0".into(),
            received: 1,
            service: "collector".into(),
            records: vec![],
        });
        let text = serde_json::to_string(&Work::Events(Box::new(env.clone()))).unwrap();
        let Work::Events(back) = serde_json::from_str(&text).unwrap() else {
            panic!("{text}")
        };
        assert_eq!(back.access, env.access);
        let back: Work = serde_json::from_str(&plain).unwrap();
        assert!(matches!(back, Work::Events(e) if e.access.is_none()));
    }
}
