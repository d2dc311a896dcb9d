//! From a validated [`Envelope`] to the DynamoDB items it becomes. Pure: no I/O, no clock.
//!
//! Every key is derived from ids the client chose and resends unchanged, so writing the same
//! envelope twice writes the same items twice: one fact, stored once.

use serde_json::Value;

use crate::aws::dynamodb::{Attr, Item};
use crate::ingest::Envelope;

const DAY_MS: i64 = 86_400_000;

/// One raw-event item per event: `pk = S#<site>#<sid>`, `sk = E#<ts>#<event id>`, the event's
/// own fields as typed attributes, and what the collector adds: `at` (event time corrected
/// for the client's clock skew), `rt` (server receive time) and the TTL `expires_at`.
pub fn raw_events(env: &Envelope, retention_days: u32) -> Vec<Item> {
    let b = &env.batch;
    let expires_at = (env.received + i64::from(retention_days) * DAY_MS) / 1000;
    let skew = env.skew();
    b.events
        .iter()
        .map(|e| {
            let mut item = match serde_json::to_value(&e.data) {
                Ok(Value::Object(fields)) => fields
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), Attr::from_json(v)?)))
                    .collect(),
                _ => Item::new(),
            };
            let mut put = |k: &str, v: Attr| {
                item.insert(k.to_string(), v);
            };
            put("pk", Attr::s(format!("S#{}#{}", b.site, b.sid)));
            put("sk", Attr::s(format!("E#{}#{}", e.ts, e.id)));
            put("id", Attr::s(&e.id));
            put("ts", Attr::n(e.ts));
            put("url", Attr::s(&e.url));
            put("at", Attr::n(e.ts.saturating_add(skew)));
            put("rt", Attr::n(env.received));
            put("site", Attr::s(&b.site));
            put("sid", Attr::s(&b.sid));
            put("vid", Attr::s(&b.vid));
            put("batch", Attr::s(&b.batch));
            put("vw", Attr::n(b.ctx.vw));
            put("expires_at", Attr::n(expires_at));
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest;
    use serde_json::json;

    const NOW: i64 = 1_763_791_200_000;

    fn envelope(sent: i64) -> Envelope {
        let body = json!({
            "v": 1, "site": "demo", "batch": "b1", "sent": sent, "vid": "v1", "sid": "s1",
            "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en"},
            "events": [
                {"id": "e1", "k": "pageview", "ts": sent - 3000, "url": "/p", "title": "P", "ref": ""},
                {"id": "e2", "k": "click", "ts": sent - 1000, "url": "/p", "x": 0.25, "y": 300,
                 "yr": 0.1, "sel": "main>a", "ex": 0.5, "ey": 0.5, "tag": "a", "txt": "Go",
                 "href": null, "rage": false, "dead": true}
            ]
        });
        ingest::parse(&serde_json::to_vec(&body).unwrap(), NOW).unwrap()
    }

    #[test]
    fn one_item_per_event_keyed_by_session_time_and_id() {
        let items = raw_events(&envelope(NOW), 30);
        assert_eq!(items.len(), 2);
        let click = &items[1];
        assert_eq!(click["pk"].as_s(), Some("S#demo#s1"));
        assert_eq!(
            click["sk"].as_s().map(String::from),
            Some(format!("E#{}#e2", NOW - 1000))
        );
        assert_eq!(click["k"].as_s(), Some("click"));
        assert_eq!(click["x"].as_f64(), Some(0.25));
        assert_eq!(click["dead"], Attr::Bool(true));
        assert!(!click.contains_key("href"), "null fields are left out");
        assert_eq!(
            click["expires_at"].as_f64(),
            Some(((NOW + 30 * DAY_MS) / 1000) as f64)
        );
        assert_eq!(items[0]["title"].as_s(), Some("P"));
    }

    #[test]
    fn keys_do_not_depend_on_when_a_batch_is_resent() {
        // A resend carries a later `sent` stamp (and arrives later); the keys stay the same.
        let first = envelope(NOW);
        let mut resent = first.clone();
        resent.batch.sent += 60_000;
        resent.received += 60_000;
        let keys = |e: &Envelope| -> Vec<(Attr, Attr)> {
            raw_events(e, 30)
                .into_iter()
                .map(|i| (i["pk"].clone(), i["sk"].clone()))
                .collect()
        };
        assert_eq!(keys(&first), keys(&resent));
    }

    #[test]
    fn event_time_is_corrected_for_clock_skew() {
        // The client clock runs 10 minutes slow.
        let mut env = envelope(NOW);
        env.batch.sent -= 600_000;
        let items = raw_events(&env, 30);
        assert_eq!(items[1]["at"].as_f64(), Some((NOW - 1000 + 600_000) as f64));
        assert_eq!(items[1]["ts"].as_f64(), Some((NOW - 1000) as f64));
    }
}
