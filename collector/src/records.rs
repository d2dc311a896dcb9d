//! The storage layout: from a validated [`Envelope`] to the DynamoDB items, the S3 object and
//! the guarded transactions it becomes. Pure: no I/O, no clock.
//!
//! Every key is derived from what the client chose and resends unchanged (site, session, batch
//! and event ids, its own timestamps), so a redelivered envelope writes the same raw items and
//! the same object again, and its counter transaction finds its guard already there.

use serde_json::{Map, Value};

use crate::aggregates::Aggregates;
use crate::alerts::Alert;
use crate::aws::dynamodb::{key, Attr, Item, Update, Write, TRANSACT_MAX};
use crate::aws::item_json::{self, ItemJson};
use crate::clock;
use crate::ingest::Envelope;
use crate::logs::{LogBatch, LogRecord};
use crate::surge;

const DAY_MS: i64 = 86_400_000;

/// When items written for `env` expire (DynamoDB TTL, seconds since the epoch).
pub fn expires_at(env: &Envelope, retention_days: u32) -> i64 {
    (env.received + i64::from(retention_days) * DAY_MS) / 1000
}

/// The flat record of one event, as stored in DynamoDB and S3, is the event's own fields
/// and `at` (event time corrected for the client's clock skew), then these, which every event
/// of the batch shares: `rt` (server receive time), the batch's context, and what the
/// collector adds — browser, OS, device class, bot flag, country and the keyed IP hash.
/// (None of them is the name of an event field.)
fn shared_fields(env: &Envelope) -> Map<String, Value> {
    let b = &env.batch;
    let mut m = match serde_json::to_value(&env.client) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    m.insert("rt".into(), env.received.into());
    m.insert("site".into(), b.site.as_str().into());
    m.insert("batch".into(), b.batch.as_str().into());
    m.insert("vid".into(), b.vid.as_str().into());
    m.insert("sid".into(), b.sid.as_str().into());
    if let Some(uid) = &b.uid {
        m.insert("uid".into(), uid.as_str().into());
    }
    m.insert("vw".into(), b.ctx.vw.into());
    m.insert("vh".into(), b.ctx.vh.into());
    m.insert("dpr".into(), b.ctx.dpr.into());
    m.insert("lang".into(), b.ctx.lang.as_str().into());
    m
}

/// What a batch's events become: one DynamoDB item each, and the S3 object.
pub struct EventRecords {
    /// Each item as DynamoDB's JSON spells it (`{"pk":{"S":…},…}`), written straight from the
    /// event: built as maps of values, per event, the items were most of the consumer's CPU.
    pub items: Vec<ItemJson>,
    /// The batch as newline-delimited JSON, one flat record per event.
    pub ndjson: Vec<u8>,
}

/// One item per event: `pk = S#<site>#<sid>`, `sk = E#<client ts>#<event id>`. Every event
/// also carries `rpk`/`rsk`, the keys of the `recent` index (a site's events of a day, by
/// client time: the dashboard's live view); clicks also `cpk`/`csk`, the keys of the sparse
/// `clicks` index (clicks of a page and day), which the heatmap reads. And the same flat
/// records as the S3 object's lines. Null fields are left out of the items.
pub fn event_records(env: &Envelope, retention_days: u32) -> EventRecords {
    let b = &env.batch;
    let skew = env.skew();
    let shared = shared_fields(env);
    // The shared fields (never none: `rt` at least) are written once, and copied into each
    // line and item. (Serialising to a Vec cannot fail, nor can the event types' item form:
    // see `item_json`.)
    let shared_line = serde_json::to_vec(&shared).unwrap_or_default();
    let shared_line = shared_line.get(1..).unwrap_or_default();
    let mut shared_item = Vec::new();
    let _ = item_json::fields(&shared, &mut shared_item, &mut true);
    let pk = format!("S#{}#{}", b.site, b.sid);
    let expires = expires_at(env, retention_days);
    let mut ndjson = Vec::with_capacity(b.events.len() * (shared_line.len() + 256));
    let capacity = 2 * shared_item.len() + 512;
    let (mut day, mut date, mut rpk) = (i64::MIN, String::new(), String::new());
    let items = b
        .events
        .iter()
        .map(|e| {
            let at = e.ts.saturating_add(skew);
            // The event as it serialises, its closing brace replaced by `at` and the rest.
            let _ = serde_json::to_writer(&mut ndjson, e);
            ndjson.pop();
            ndjson.extend_from_slice(b",\"at\":");
            ndjson.extend_from_slice(itoa::Buffer::new().format(at).as_bytes());
            ndjson.push(b',');
            ndjson.extend_from_slice(shared_line);
            ndjson.push(b'\n');

            let tail = format!("{}#{}", e.ts, e.id);
            // Index keys from the client's own time, like every key: the same on each
            // delivery. (A batch's events are nearly always of one day: its keys made once.)
            if clock::day_of(e.ts) != day {
                day = clock::day_of(e.ts);
                date = clock::date_of_day(day);
                rpk = recent_partition(&b.site, &date);
            }
            let mut item = Vec::with_capacity(capacity);
            item.push(b'{');
            let first = &mut true;
            let _ = item_json::field("pk", &pk, &mut item, first);
            let _ = item_json::field("sk", &["E#", &tail].concat(), &mut item, first);
            let _ = item_json::field("expires_at", &expires, &mut item, first);
            let _ = item_json::field("rpk", &rpk, &mut item, first);
            let _ = item_json::field("rsk", &tail, &mut item, first);
            if e.data.kind() == "click" {
                let path = crate::aggregates::page_path(&e.url);
                let cpk = click_partition(&b.site, &path, &date);
                let _ = item_json::field("cpk", &cpk, &mut item, first);
                let _ = item_json::field("csk", &tail, &mut item, first);
            }
            let _ = item_json::field("at", &at, &mut item, first);
            let _ = item_json::fields(e, &mut item, first);
            item.push(b',');
            item.extend_from_slice(&shared_item);
            item.push(b'}');
            ItemJson::from_written(item)
        })
        .collect();
    EventRecords { items, ndjson }
}

/// Partition of the `recent` index: one site on one day.
pub fn recent_partition(site: &str, date: &str) -> String {
    format!("T#{site}#{date}")
}

/// Partition of the `clicks` index: one page on one day.
pub fn click_partition(site: &str, path: &str, date: &str) -> String {
    format!("K#{site}#{path}#{date}")
}

/// Where the batch is kept in S3:
/// `events/site=<site>/dt=<yyyy-mm-dd>/hour=<hh>/<sid>.<batch>.ndjson` (Hive-style partitions
/// for Athena/Glue). The partition is the client time of the batch's first event: unlike
/// receive time or the skew estimate, it is the same on every resend, so a resend overwrites
/// the same object. The session id is in the name because a batch id is only the sender's: a
/// server-side sender that reuses ids must not overwrite another session's batch.
pub fn s3_key(env: &Envelope) -> String {
    let first = env.batch.events.iter().map(|e| e.ts).min().unwrap_or(0);
    let (date, hour) = clock::utc_date_hour(first);
    format!(
        "events/site={}/dt={date}/hour={hour:02}/{}.{}.ndjson",
        env.batch.site, env.batch.sid, env.batch.batch
    )
}

/// The counter updates of a batch as guarded transactions: each starts with a marker item
/// (`D#<site>#<sid>#<batch>`, put only if absent, named like the S3 object) and holds at most
/// [`TRANSACT_MAX`] actions. A redelivered batch finds its markers and changes nothing.
pub fn counter_transactions(
    env: &Envelope,
    agg: &Aggregates,
    incidents: &[Alert],
    retention_days: u32,
    traffic_window_ms: i64,
) -> Vec<Vec<Write>> {
    let site = &env.batch.site;
    let expires = Attr::n(expires_at(env, retention_days));
    let ttl = || ("expires_at".to_string(), expires.clone());
    let mut updates = Vec::new();
    for (page, counts) in &agg.pages {
        let add = counts.counters();
        if add.is_empty() {
            continue;
        }
        updates.push(Update {
            key: key(
                format!("A#{site}#{}", page.date),
                format!("P#{}", page.path),
            ),
            add,
            set: vec![
                ("site".into(), Attr::s(site)),
                ("path".into(), Attr::s(&page.path)),
                ("date".into(), Attr::s(&page.date)),
                ttl(),
            ],
        });
    }
    for (grid, cells) in &agg.grids {
        updates.push(Update {
            key: key(
                format!("H#{site}#{}#{}", grid.page.path, grid.page.date),
                format!("W#{}", grid.width),
            ),
            add: cells
                .iter()
                .map(|((col, row), n)| (format!("c{col}_{row}"), *n))
                .collect(),
            set: vec![ttl()],
        });
    }
    for ((path, window), n) in &agg.rage {
        updates.push(Update {
            key: rage_window_key(site, path, *window),
            add: vec![("rage_clicks".into(), *n)],
            set: vec![ttl()],
        });
    }
    for alert in incidents {
        updates.push(Update {
            key: incident_key(alert),
            add: vec![("count".into(), alert.count)],
            set: incident_fields(alert, &expires),
        });
    }
    if agg.pageviews > 0 {
        updates.push(Update {
            key: key(format!("C#{site}"), "visitors"),
            add: vec![("pageviews".into(), agg.pageviews)],
            set: vec![ttl()],
        });
    }
    // The site's traffic in the window the batch arrived in, for surge detection.
    updates.push(Update {
        key: traffic_key(site, surge::window_start(env.received, traffic_window_ms)),
        add: vec![("events".into(), env.batch.events.len() as u64)],
        set: vec![ttl()],
    });
    let marker = format!("D#{site}#{}#{}", env.batch.sid, env.batch.batch);
    guarded(&marker, &expires, updates)
}

/// Updates in transactions of at most [`TRANSACT_MAX`] actions, each led by its own marker
/// (`<marker>`/`-`, `-1`, `-2`…) that is put only if absent. Large updates are split
/// ([`Update::split`]), and each part of one item goes to a transaction of its own. The same
/// updates always give the same transactions, so a redelivery meets the same markers.
fn guarded(marker_pk: &str, expires: &Attr, updates: Vec<Update>) -> Vec<Vec<Write>> {
    let mut txs: Vec<Vec<Update>> = Vec::new();
    for update in updates.into_iter().flat_map(Update::split) {
        let fits = |tx: &&mut Vec<Update>| {
            tx.len() < TRANSACT_MAX - 1 && tx.iter().all(|u| u.key != update.key)
        };
        match txs.iter_mut().find(fits) {
            Some(tx) => tx.push(update),
            None => txs.push(vec![update]),
        }
    }
    txs.into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let sk = if i == 0 {
                "-".to_string()
            } else {
                format!("-{i}")
            };
            let mut marker = key(marker_pk, sk);
            marker.insert("expires_at".into(), expires.clone());
            std::iter::once(Write::PutNew(marker))
                .chain(chunk.into_iter().map(Write::Update))
                .collect()
        })
        .collect()
}

/// A site's event count in one traffic window.
pub fn traffic_key(site: &str, window_start: i64) -> Item {
    key(format!("W#{site}"), surge::window_sort_key(window_start))
}

/// When items written for a log batch expire.
pub fn log_expires_at(batch: &LogBatch, retention_days: u32) -> i64 {
    (batch.received + i64::from(retention_days) * DAY_MS) / 1000
}

/// Where a log batch is kept in S3: `logs/service=<service>/dt=<yyyy-mm-dd>/<batch id>.ndjson`,
/// dated by its first record (its own time: the same on a resend).
pub fn log_s3_key(batch: &LogBatch) -> String {
    let first = batch
        .records
        .iter()
        .map(|r| r.ts)
        .min()
        .unwrap_or(batch.received);
    let (date, _) = clock::utc_date_hour(first);
    format!(
        "logs/service={}/dt={date}/{}.ndjson",
        batch.service, batch.id
    )
}

/// The records as NDJSON, each with the collector's receive time.
pub fn log_ndjson(batch: &LogBatch) -> Vec<u8> {
    let mut out = Vec::new();
    for r in &batch.records {
        if let Ok(Value::Object(mut m)) = serde_json::to_value(r) {
            m.insert("rt".into(), batch.received.into());
            let _ = serde_json::to_writer(&mut out, &m);
            out.push(b'\n');
        }
    }
    out
}

/// Records that carry a session id, kept under it (`G#<session id>`) so a browser session
/// and its server logs can be read together.
pub fn log_session_items(batch: &LogBatch, retention_days: u32) -> Vec<Item> {
    let expires = log_expires_at(batch, retention_days);
    batch
        .records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let sid = r.session_id.as_ref()?;
            let Some(Attr::M(mut item)) = Attr::from_value(serde_json::to_value(r).ok()?) else {
                return None;
            };
            item.insert("pk".into(), Attr::s(format!("G#{sid}")));
            item.insert("sk".into(), Attr::s(format!("L#{}#{}#{i}", r.ts, batch.id)));
            item.insert("expires_at".into(), Attr::n(expires));
            Some(item)
        })
        .collect()
}

/// A log batch's incident counts, guarded by its marker (`D#log#<batch id>`): each incident
/// (one per fingerprint and window) with the first of its records' details.
pub fn log_counter_transactions(
    batch: &LogBatch,
    incidents: &[(Alert, &LogRecord)],
    retention_days: u32,
) -> Vec<Vec<Write>> {
    let expires = Attr::n(log_expires_at(batch, retention_days));
    let updates = incidents
        .iter()
        .map(|(alert, first)| {
            let mut set = incident_fields(alert, &expires);
            let level = serde_json::to_value(first.level).unwrap_or_default();
            set.push(("level".into(), Attr::s(level.as_str().unwrap_or_default())));
            set.push(("ts".into(), Attr::n(first.ts)));
            if let Some(t) = &first.trace_id {
                set.push(("trace_id".into(), Attr::s(t)));
            }
            if let Some(s) = &first.session_id {
                set.push(("session_id".into(), Attr::s(s)));
            }
            Update {
                key: incident_key(alert),
                add: vec![("count".into(), alert.count)],
                set,
            }
        })
        .collect();
    guarded(&format!("D#log#{}", batch.id), &expires, updates)
}

/// Counts a visitor the first time one of its batches with a pageview arrives: a marker per
/// visitor (`V#<site>#<vid>`) guards the increment, so it happens once per visitor id.
pub fn visitor_transaction(env: &Envelope, retention_days: u32) -> Option<Vec<Write>> {
    let has_pageview = env.batch.events.iter().any(|e| e.data.kind() == "pageview");
    if !has_pageview {
        return None;
    }
    let site = &env.batch.site;
    let expires = Attr::n(expires_at(env, retention_days));
    let mut marker = key(format!("V#{site}#{}", env.batch.vid), "-");
    marker.insert("expires_at".into(), expires.clone());
    Some(vec![
        Write::PutNew(marker),
        Write::Update(Update {
            key: key(format!("C#{site}"), "visitors"),
            add: vec![("visitor_count".into(), 1)],
            set: vec![("expires_at".into(), expires)],
        }),
    ])
}

pub fn rage_window_key(site: &str, path: &str, window_start: i64) -> Item {
    key(format!("R#{site}#{path}"), window_start.to_string())
}

/// The incident an alert stands for, one per fingerprint and window, listed per site.
pub fn incident_key(alert: &Alert) -> Item {
    key(
        format!("I#{}", alert.source()),
        format!("{}#{}", alert.window_start, alert.fingerprint),
    )
}

/// What an incident item says about its alert (besides its count).
pub fn incident_fields(alert: &Alert, expires_at: &Attr) -> Vec<(String, Attr)> {
    vec![
        ("kind".into(), Attr::s(alert.kind)),
        ("severity".into(), Attr::s(alert.severity)),
        (
            if alert.site.is_some() {
                "site"
            } else {
                "service"
            }
            .into(),
            Attr::s(alert.source()),
        ),
        ("path".into(), Attr::s(&alert.path)),
        ("message".into(), Attr::s(&alert.message)),
        ("fingerprint".into(), Attr::s(&alert.fingerprint)),
        ("window_start".into(), Attr::n(alert.window_start)),
        ("expires_at".into(), expires_at.clone()),
    ]
}

/// How many new incidents of a site or service alerted (or were withheld) in one window.
pub fn alert_budget(alert: &Alert, expires_at: i64) -> Update {
    Update {
        key: key(
            format!("N#{}", alert.source()),
            alert.window_start.to_string(),
        ),
        add: vec![("alerts".into(), 1)],
        set: vec![("expires_at".into(), Attr::n(expires_at))],
    }
}

/// The marker that lets an alert be published once: `L#<fingerprint>#<window>`.
pub fn alert_marker(alert: &Alert, expires_at: i64) -> Item {
    let mut item = key(
        format!("L#{}#{}", alert.fingerprint, alert.window_start),
        "-",
    );
    item.insert("expires_at".into(), Attr::n(expires_at));
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregates;
    use crate::alerts;
    use crate::aws::dynamodb::UPDATE_MAX_ADDS;
    use crate::enrich::Client;
    use crate::ingest;
    use serde_json::json;
    use wire::EventData;

    const NOW: i64 = 1_763_791_200_000;

    fn envelope(sent: i64) -> Envelope {
        let body = json!({
            "v": 1, "site": "demo", "batch": "b1", "sent": sent, "vid": "v1", "sid": "s1",
            "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en"},
            "events": [
                {"id": "e1", "k": "pageview", "ts": sent - 3000, "url": "/p?q=1", "title": "P", "ref": ""},
                {"id": "e2", "k": "click", "ts": sent - 1000, "url": "/p", "x": 0.25, "y": 300,
                 "yr": 0.1, "sel": "main>a", "ex": 0.5, "ey": 0.5, "tag": "a", "txt": "Go",
                 "href": null, "rage": true, "dead": true},
                {"id": "e3", "k": "error", "ts": sent - 500, "url": "/p", "msg": "boom"}
            ]
        });
        enveloped(&body)
    }

    /// `body` as the consumer reads it, from a client in DE whose IP hashed to `abc`.
    fn enveloped(body: &Value) -> Envelope {
        let mut env = ingest::parse(&serde_json::to_vec(body).unwrap(), NOW).unwrap();
        env.client = Client {
            ip_hash: Some("abc".into()),
            country: Some("DE".into()),
            ..Client::default()
        };
        env
    }

    /// The items of `env`'s events, read back.
    fn items(env: &Envelope) -> Vec<Item> {
        event_records(env, 30)
            .items
            .iter()
            .map(|i| i.parse().unwrap())
            .collect()
    }

    #[test]
    fn one_item_per_event_keyed_by_session_time_and_id() {
        let items = items(&envelope(NOW));
        assert_eq!(items.len(), 3);
        let click = &items[1];
        assert_eq!(click["pk"].as_s(), Some("S#demo#s1"));
        assert_eq!(
            click["sk"].as_s().map(String::from),
            Some(format!("E#{}#e2", NOW - 1000))
        );
        assert_eq!(click["k"].as_s(), Some("click"));
        assert_eq!(click["x"].as_f64(), Some(0.25));
        assert_eq!(click["dead"], Attr::Bool(true));
        assert_eq!(click["country"].as_s(), Some("DE"));
        assert_eq!(click["ip_hash"].as_s(), Some("abc"));
        assert_eq!(click["cpk"].as_s(), Some("K#demo#/p#2025-11-22"));
        assert!(!click.contains_key("href"), "null fields are left out");
        assert!(
            !items[0].contains_key("cpk"),
            "only clicks are in the clicks index"
        );
        assert_eq!(
            items[0]["rpk"].as_s(),
            Some("T#demo#2025-11-22"),
            "all are recent"
        );
        assert_eq!(
            click["expires_at"].as_f64(),
            Some(((NOW + 30 * DAY_MS) / 1000) as f64)
        );
        assert_eq!(items[0]["title"].as_s(), Some("P"));
    }

    /// Every kind of event, with a signed-in user and nested, null-holding properties.
    fn every_kind() -> Envelope {
        let body = json!({
            "v": 1, "site": "demo", "batch": "b1", "sent": NOW, "vid": "v1", "sid": "s1", "uid": "u\"1",
            "ctx": {"vw": 1280, "vh": 720, "dpr": 1.5, "lang": "en"},
            "events": [
                // (The day before the rest: a batch across midnight.)
                {"id": "e1", "k": "pageview", "ts": NOW - DAY_MS, "url": "/p?q=1", "title": "P ✓", "ref": ""},
                {"id": "e2", "k": "click", "ts": NOW - 8000, "url": "/p#x", "x": 0.25, "y": 300,
                 "yr": 0.1, "sel": "main>a", "ex": 0.5, "ey": 0.5, "tag": "a", "txt": "Go\n",
                 "href": "https://example.com/", "out": true, "rage": false, "dead": true},
                {"id": "e3", "k": "scroll", "ts": NOW - 7000, "url": "/p", "max": 0.9, "marks": [25, 50]},
                {"id": "e4", "k": "dwell", "ts": NOW - 6000, "url": "/p", "engaged_ms": 1, "visible_ms": 2, "total_ms": 3},
                {"id": "e5", "k": "custom", "ts": NOW - 5000, "url": "/p", "name": "cart_add",
                 "props": {"sku": "11", "qty": 2, "gift": false, "note": null}},
                {"id": "e6", "k": "error", "ts": NOW - 4000, "url": "/p", "msg": "boom", "src": "/a.js", "line": 7, "col": 3}
            ]
        });
        enveloped(&body)
    }

    #[test]
    fn items_and_lines_are_the_flat_records_as_defined() {
        // The definition, spelled the plain way: the event's JSON, `at` and the shared
        // fields, merged; the item is that record as attributes (nulls left out) and its keys.
        let env = every_kind();
        let shared = shared_fields(&env);
        let lines: Vec<Value> = String::from_utf8(event_records(&env, 30).ndjson)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let items = items(&env);
        assert_eq!((lines.len(), items.len()), (6, 6));
        for ((e, line), item) in env.batch.events.iter().zip(&lines).zip(&items) {
            let Value::Object(mut flat) = serde_json::to_value(e).unwrap() else {
                panic!("an event is an object")
            };
            for name in shared.keys().chain([&"at".to_string()]) {
                assert!(!flat.contains_key(name), "{name} is an event field too");
            }
            flat.insert("at".into(), (e.ts + env.skew()).into());
            flat.extend(shared.clone());
            assert_eq!(line, &Value::Object(flat.clone()), "{}", e.id);

            let Some(Attr::M(mut expected)) = Attr::from_value(Value::Object(flat)) else {
                panic!("a record is a map")
            };
            let tail = format!("{}#{}", e.ts, e.id);
            expected.insert("pk".into(), Attr::s("S#demo#s1"));
            expected.insert("sk".into(), Attr::s(format!("E#{tail}")));
            expected.insert("expires_at".into(), Attr::n(expires_at(&env, 30)));
            let day = if e.id == "e1" {
                "2025-11-21"
            } else {
                "2025-11-22"
            };
            expected.insert("rpk".into(), Attr::s(format!("T#demo#{day}")));
            expected.insert("rsk".into(), Attr::s(&tail));
            if e.data.kind() == "click" {
                expected.insert("cpk".into(), Attr::s("K#demo#/p#2025-11-22"));
                expected.insert("csk".into(), Attr::s(&tail));
            }
            assert_eq!(item, &expected, "{}", e.id);
        }
        // No name twice in an item's JSON (a map read back would hide it).
        for item in event_records(&env, 30).items {
            let mut names = top_names(item.as_bytes());
            let all = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), all);
        }
    }

    /// The names at the top of a JSON object, repeats kept.
    fn top_names(json: &[u8]) -> Vec<String> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Vec<String>, A::Error> {
                let mut names = Vec::new();
                while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    names.push(name);
                }
                Ok(names)
            }
        }
        use serde::Deserializer;
        serde_json::Deserializer::from_slice(json)
            .deserialize_map(Names)
            .unwrap()
    }

    #[test]
    fn keys_do_not_depend_on_when_a_batch_is_resent() {
        // A resend carries a later `sent` stamp and arrives later; keys stay the same.
        let first = envelope(NOW);
        let mut resent = first.clone();
        resent.batch.sent += 60_000;
        resent.received += 60_000;
        let keys = |e: &Envelope| -> Vec<(Attr, Attr)> {
            items(e)
                .into_iter()
                .map(|i| (i["pk"].clone(), i["sk"].clone()))
                .collect()
        };
        assert_eq!(keys(&first), keys(&resent));
        assert_eq!(s3_key(&first), s3_key(&resent));
    }

    #[test]
    fn a_batch_id_reused_by_another_session_names_another_batch() {
        let first = envelope(NOW);
        let mut other = first.clone();
        other.batch.sid = "s2".into();
        assert_ne!(s3_key(&first), s3_key(&other));
        let marker = |e: &Envelope| {
            let agg = aggregates::aggregate(e, 600_000);
            match &counter_transactions(e, &agg, &[], 30, 300_000)[0][0] {
                Write::PutNew(m) => m["pk"].clone(),
                Write::Update(_) => panic!("the guard comes first"),
            }
        };
        assert_ne!(marker(&first), marker(&other));
    }

    #[test]
    fn event_time_is_corrected_for_clock_skew() {
        // The batch's send stamp is 10 minutes behind the server clock.
        let mut env = envelope(NOW);
        env.batch.sent -= 600_000;
        let items = items(&env);
        assert_eq!(items[1]["at"].as_f64(), Some((NOW - 1000 + 600_000) as f64));
        assert_eq!(items[1]["ts"].as_f64(), Some((NOW - 1000) as f64));
    }

    #[test]
    fn the_s3_object_is_partitioned_ndjson() {
        let env = envelope(NOW);
        assert_eq!(
            s3_key(&env),
            "events/site=demo/dt=2025-11-22/hour=05/s1.b1.ndjson"
        );
        let text = String::from_utf8(event_records(&env, 30).ndjson).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["k"], "click");
        assert_eq!(lines[1]["sid"], "s1");
        assert_eq!(lines[1]["vw"], 1280);
        assert_eq!(lines[0]["ip_hash"], "abc");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn counters_go_in_one_transaction_behind_the_batch_marker() {
        let env = envelope(NOW);
        let agg = aggregates::aggregate(&env, 600_000);
        let incidents = alerts::browser_errors(&env, 600_000);
        let txs = counter_transactions(&env, &agg, &incidents, 30, 300_000);
        assert_eq!(txs.len(), 1);
        let Write::PutNew(marker) = &txs[0][0] else {
            panic!("the guard comes first")
        };
        assert_eq!(marker["pk"].as_s(), Some("D#demo#s1#b1"));
        let keys: Vec<String> = txs[0][1..]
            .iter()
            .map(|w| match w {
                Write::Update(u) => u.key["pk"].as_s().unwrap().to_string(),
                Write::PutNew(_) => panic!("one guard only"),
            })
            .collect();
        assert!(keys.contains(&"A#demo#2025-11-22".to_string()));
        assert!(keys.contains(&"H#demo#/p#2025-11-22".to_string()));
        assert!(keys.contains(&"R#demo#/p".to_string()));
        assert!(keys.contains(&"I#demo".to_string()));
        assert!(keys.contains(&"C#demo".to_string()));
        assert!(keys.contains(&"W#demo".to_string()), "the traffic window");
    }

    #[test]
    fn many_counters_are_split_into_guarded_transactions() {
        let mut env = envelope(NOW);
        let click = env.batch.events[1].clone();
        env.batch.events = (0..250)
            .map(|i| {
                let mut e = click.clone();
                e.id = format!("c{i}");
                e.url = format!("/page/{i}");
                e
            })
            .collect();
        let agg = aggregates::aggregate(&env, 600_000);
        let txs = counter_transactions(&env, &agg, &[], 30, 300_000);
        assert!(txs.len() > 1);
        let mut markers = Vec::new();
        for tx in &txs {
            assert!(tx.len() <= TRANSACT_MAX);
            match &tx[0] {
                Write::PutNew(m) => markers.push(m["sk"].as_s().unwrap().to_string()),
                Write::Update(_) => panic!("each transaction starts with its guard"),
            }
        }
        markers.dedup();
        assert_eq!(markers.len(), txs.len(), "each chunk has its own marker");
    }

    #[test]
    fn a_grid_of_many_cells_is_split_across_transactions() {
        let mut env = envelope(NOW);
        let click = env.batch.events[1].clone();
        // 500 clicks in 500 different cells of one page's grid.
        env.batch.events = (0..500)
            .map(|i| {
                let mut e = click.clone();
                e.id = format!("c{i}");
                if let EventData::Click(c) = &mut e.data {
                    c.x = f64::from(i % 20) / 20.0 + 0.01;
                    c.y = f64::from(i / 20) * 50.0 + 1.0;
                }
                e
            })
            .collect();
        let agg = aggregates::aggregate(&env, 600_000);
        let txs = counter_transactions(&env, &agg, &[], 30, 300_000);
        let mut cells = 0;
        let mut parts = 0;
        for tx in &txs {
            let mut keys = Vec::new();
            for w in &tx[1..] {
                let Write::Update(u) = w else {
                    panic!("one guard only")
                };
                assert!(
                    u.add.len() <= UPDATE_MAX_ADDS,
                    "the expression stays under 4 KB"
                );
                assert!(!keys.contains(&&u.key), "an item once per transaction");
                keys.push(&u.key);
                if u.key["pk"].as_s().is_some_and(|pk| pk.starts_with("H#")) {
                    cells += u.add.len();
                    parts += 1;
                }
            }
        }
        assert_eq!(cells, 500);
        assert_eq!(parts, 3);
        assert_eq!(txs.len(), 3);
        assert_eq!(
            txs,
            counter_transactions(&env, &agg, &[], 30, 300_000),
            "the same every time"
        );
    }

    #[test]
    fn visitors_are_counted_behind_a_visitor_marker() {
        let env = envelope(NOW);
        let tx = visitor_transaction(&env, 30).unwrap();
        let Write::PutNew(marker) = &tx[0] else {
            panic!("guard first")
        };
        assert_eq!(marker["pk"].as_s(), Some("V#demo#v1"));
        let mut no_pageview = env.clone();
        no_pageview.batch.events.remove(0);
        assert!(visitor_transaction(&no_pageview, 30).is_none());
    }
}
