//! Writes a validated envelope to the stores: the queue consumer's work (or, without a queue,
//! done after the response), and natively the tests'. Every step is safe to repeat, so a
//! failure anywhere is handled by running the whole envelope again:
//!
//! 1. raw events → DynamoDB (keyed by client ids: a rewrite overwrites);
//! 2. the batch as NDJSON → S3 (keyed by batch id: a rewrite overwrites);
//! 3. counters → DynamoDB transactions guarded by the batch marker (a rerun changes nothing);
//! 4. the visitor counter → a transaction guarded by the visitor marker;
//! 5. alerts → SNS, each guarded by its alert marker (one per incident and window).

use crate::aggregates;
use crate::alerts::{self, Alert};
use crate::aws::dynamodb::{Attr, DynamoDb, Outcome, Update};
use crate::aws::s3::S3;
use crate::aws::sns::Sns;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::ingest::Envelope;
use crate::records;

#[derive(Clone, Debug)]
pub struct Stores {
    pub dynamodb: DynamoDb,
    pub s3: S3,
    /// The alerts topic, if one is configured.
    pub sns: Option<(Sns, String)>,
    retention_days: u32,
    alert_window_ms: i64,
    rage_alert_threshold: u64,
}

/// What writing an envelope did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    pub events: usize,
    /// Whether the counters were applied now (false: a redelivery, applied before).
    pub counted: bool,
    /// Message ids of the alerts published now.
    pub alerts: Vec<String>,
}

impl Stores {
    pub fn new(config: &Config) -> Self {
        let aws = Aws::new(config.aws.clone());
        let sns = config
            .topic_arn
            .as_ref()
            .map(|arn| (Sns::new(&config.aws, aws.http()), arn.clone()));
        Stores {
            dynamodb: DynamoDb::new(aws.clone(), &config.table),
            s3: S3::new(aws, &config.bucket),
            sns,
            retention_days: config.retention_days,
            alert_window_ms: config.alert_window_ms,
            rage_alert_threshold: config.rage_alert_threshold,
        }
    }

    pub async fn write(&self, env: &Envelope) -> Result<Written> {
        let retention = self.retention_days;
        let mut written = Written {
            events: env.batch.events.len(),
            ..Written::default()
        };
        self.dynamodb
            .put_all(records::raw_events(env, retention))
            .await?;
        self.s3
            .put(
                &records::s3_key(env),
                records::ndjson(env),
                "application/x-ndjson",
            )
            .await?;

        let agg = aggregates::aggregate(env, self.alert_window_ms);
        let errors = alerts::browser_errors(env, self.alert_window_ms);
        for tx in records::counter_transactions(env, &agg, &errors, retention) {
            written.counted = self.dynamodb.transact(&tx).await? == Outcome::Applied;
        }
        if let Some(tx) = records::visitor_transaction(env, retention) {
            self.dynamodb.transact(&tx).await?;
        }

        let mut due = errors;
        for burst in alerts::rage_bursts(&env.batch.site, &agg) {
            let window = records::rage_window_key(&burst.site, &burst.path, burst.window_start);
            let total = self
                .dynamodb
                .get(&window)
                .await?
                .and_then(|item| item.get("rage_clicks").and_then(Attr::as_f64))
                .unwrap_or(0.0) as u64;
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

    /// Publishes `alert` unless its incident already alerted in this window; returns the
    /// message id if it published. The marker is put first; if publishing then fails, the
    /// marker is removed again so that the retry of this envelope alerts.
    async fn alert(&self, alert: &Alert, expires: i64) -> Result<Option<String>> {
        let Some((sns, topic)) = &self.sns else {
            return Ok(None);
        };
        let marker = records::alert_marker(alert, expires);
        if !self.dynamodb.put_new(&marker).await? {
            return Ok(None);
        }
        let message = serde_json::to_string(alert).unwrap_or_default();
        let subject = subject(alert);
        let published = sns
            .publish(
                topic,
                &subject,
                &message,
                &[
                    ("kind", alert.kind),
                    ("severity", alert.severity),
                    ("site", &alert.site),
                ],
            )
            .await;
        let id = match published {
            Ok(id) => id,
            Err(e) => {
                let _ = self.dynamodb.delete(&marker).await;
                return Err(e);
            }
        };
        // The incident records that it alerted; rage bursts get their incident here.
        let mut set = records::incident_fields(alert, &Attr::n(expires));
        set.push(("alert_count".into(), Attr::n(alert.count)));
        set.push(("message_id".into(), Attr::s(&id)));
        self.dynamodb
            .update(&Update {
                key: records::incident_key(alert),
                add: vec![],
                set,
            })
            .await?;
        Ok(Some(id))
    }
}

/// An SNS subject: printable ASCII, one line, at most 100 characters.
fn subject(alert: &Alert) -> String {
    let text = format!(
        "[spoor] {} on {}{}: {}",
        alert.kind, alert.site, alert.path, alert.message
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
            site: "demo".into(),
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
}
