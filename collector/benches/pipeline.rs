//! The collector's own work per batch, natively on one core: what the Worker does before it
//! answers (content type, parse and validate, enrich, the queue message; for the same batch
//! in wire v1 and in v2, which the tracker sends) and what the
//! consumer does before its AWS calls (read the message, raw items and their DynamoDB JSON,
//! the S3 object, aggregates, guarded transactions, alerts). AWS and the network are left out:
//! they are measured in workerd by `make bench`.
//!
//! A plain harness (no criterion: nothing else needs its dependencies): samples of ~200 ms,
//! the median of 15, printed as one JSON line for bench/run.mjs.
//! `cargo bench -p collector --bench pipeline`
use std::hint::black_box;
use std::time::{Duration, Instant};

use collector::aws::dynamodb;
use collector::enrich::{self, RequestFacts};
use collector::store::Work;
use collector::{aggregates, alerts, clock, ingest, records};
use serde_json::{json, Value};

const EVENTS: usize = 50;
const SAMPLES: usize = 15;
const RETENTION_DAYS: u32 = 30;
const WINDOW_MS: i64 = 600_000;
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A 50-event batch in wire v1: a pageview, 44 clicks, scroll marks, dwell, a custom event and
/// an error.
fn batch(now: i64) -> Value {
    let mut events: Vec<Value> = vec![json!({"id": "e0", "k": "pageview", "ts": now - 60_000,
        "url": "/product?id=11", "title": "Enamel pin", "ref": "https://search.example/?q=pin"})];
    for i in 1..45 {
        events.push(
            json!({"id": format!("e{i}"), "k": "click", "ts": now - 60_000 + i * 900,
            "url": "/product?id=11", "x": 0.31, "y": 1200 + i, "yr": 0.42,
            "sel": "main>section.buy>button#add", "ex": 0.5, "ey": 0.25, "tag": "button",
            "txt": "Add to cart", "href": null, "rage": false, "dead": i % 7 == 0}),
        );
    }
    events.push(
        json!({"id": "e45", "k": "scroll", "ts": now - 5_000, "url": "/product?id=11",
        "max": 0.8, "marks": [25, 50, 75]}),
    );
    events.push(
        json!({"id": "e46", "k": "scroll", "ts": now - 4_000, "url": "/product?id=11",
        "max": 1.0, "marks": [90, 100]}),
    );
    events.push(
        json!({"id": "e47", "k": "dwell", "ts": now - 3_000, "url": "/product?id=11",
        "engaged_ms": 41_000, "visible_ms": 55_000, "total_ms": 60_000}),
    );
    events.push(
        json!({"id": "e48", "k": "custom", "ts": now - 2_000, "url": "/product?id=11",
        "name": "cart_add", "props": {"product": "11", "qty": 1}}),
    );
    events.push(
        json!({"id": "e49", "k": "error", "ts": now - 1_000, "url": "/product?id=11",
        "msg": "TypeError: x is undefined", "src": "/app.js", "line": 7, "col": 3}),
    );
    assert_eq!(events.len(), EVENTS);
    json!({
        "v": 1, "site": "demo", "batch": "0b9f2a4c-bench", "sent": now,
        "vid": "5f0c7c1e-4f51-4d4b-9a8e-0e7d1c1f2a3b", "sid": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
        "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en-GB"}, "events": events
    })
}

/// The same batch in wire v2, as the tracker sends it (rows; see wire/src/v2.rs).
fn batch_v2(v1: &Value) -> Value {
    let events = v1["events"].as_array().unwrap();
    let t0 = events[0]["ts"].as_i64().unwrap();
    let share = |v: &Value| (v.as_f64().unwrap() * 10_000.0).round() as i64;
    let rows: Vec<Value> = events
        .iter()
        .map(|e| {
            let dt = e["ts"].as_i64().unwrap() - t0;
            match e["k"].as_str().unwrap() {
                "pageview" => json!([dt, 0, "p", e["title"], e["ref"]]),
                "click" => json!([
                    dt,
                    0,
                    "c",
                    share(&e["x"]),
                    e["y"],
                    share(&e["yr"]),
                    share(&e["ex"]),
                    share(&e["ey"]),
                    e["sel"],
                    e["txt"],
                    if e["dead"] == true { 4 } else { 0 }
                ]),
                "scroll" => json!([dt, 0, "s", share(&e["max"]), e["marks"]]),
                "dwell" => json!([dt, 0, "d", e["engaged_ms"], e["visible_ms"], e["total_ms"]]),
                "custom" => json!([dt, 0, "t", e["name"], e["props"]]),
                _ => json!([dt, 0, "e", e["msg"], e["src"], e["line"], e["col"]]),
            }
        })
        .collect();
    let mut v2 = v1.clone();
    v2["v"] = json!(2);
    v2["t0"] = json!(t0);
    v2["urls"] = json!(["/product?id=11"]);
    v2["events"] = Value::Array(rows);
    v2
}

/// The Worker's part: what happens between the request body and the queue message.
fn edge(body: &[u8], now: i64, key: &[u8]) -> String {
    ingest::check_content_type(Some("text/plain;charset=UTF-8")).unwrap();
    let mut envelope = ingest::parse(body, now).unwrap();
    envelope.client = enrich::client(RequestFacts {
        user_agent: UA,
        ip_hash: Some(enrich::ip_hash("203.0.113.9", key, now)),
        country: Some("GB"),
        webdriver: false,
    });
    serde_json::to_string(&Work::Events(Box::new(envelope))).unwrap()
}

/// The consumer's part: from the queue message to the request bodies of its AWS calls.
fn consume(message: &str) -> usize {
    let Work::Events(env) = serde_json::from_str::<Work>(message).unwrap() else {
        unreachable!()
    };
    let records = records::event_records(&env, RETENTION_DAYS);
    let dynamodb: usize = records
        .items
        .chunks(dynamodb::BATCH_WRITE_MAX)
        .map(|chunk| dynamodb::batch_write_body("events", chunk).len())
        .sum();
    let s3 = (records::s3_key(&env), records.ndjson);
    let agg = aggregates::aggregate(&env, WINDOW_MS);
    let errors = alerts::browser_errors(&env, WINDOW_MS);
    let tx = records::counter_transactions(&env, &agg, &errors, RETENTION_DAYS, WINDOW_MS);
    let visitor = records::visitor_transaction(&env, RETENTION_DAYS);
    let bursts = alerts::rage_bursts(&env.batch.site, &agg);
    dynamodb + s3.1.len() + tx.len() + visitor.map_or(0, |v| v.len()) + bursts.len()
}

/// Median time of one call of `f`, over SAMPLES samples of about 200 ms each.
fn median(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut calls = 0u32;
    while start.elapsed() < Duration::from_millis(200) {
        f();
        calls += 1;
    }
    let mut samples: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed() / calls
        })
        .collect();
    samples.sort();
    samples[SAMPLES / 2]
}

fn main() {
    let now = clock::now_ms();
    let v1 = batch(now);
    let body = serde_json::to_vec(&v1).unwrap();
    let body_v2 = serde_json::to_vec(&batch_v2(&v1)).unwrap();
    let key = [7u8; 32];
    // The queue message holds the body as sent; read back, both stand for the same batch
    // (event ids aside: v2 derives them from the batch id).
    let message = edge(&body_v2, now, &key);
    let read = |message: &str| {
        let Work::Events(env) = serde_json::from_str::<Work>(message).unwrap() else {
            unreachable!()
        };
        let mut batch = serde_json::to_value(&env.batch).unwrap();
        for e in batch["events"].as_array_mut().unwrap() {
            e["id"] = Value::Null;
        }
        (batch, env.client)
    };
    assert_eq!(
        read(&message),
        read(&edge(&body, now, &key)),
        "the v2 body stands for the same batch"
    );
    let edge_time = median(|| {
        black_box(edge(black_box(&body), now, &key));
    });
    let edge_v2_time = median(|| {
        black_box(edge(black_box(&body_v2), now, &key));
    });
    let consume_time = median(|| {
        black_box(consume(black_box(&message)));
    });
    let total = edge_v2_time + consume_time;
    let per_s = |d: Duration| (EVENTS as f64 / d.as_secs_f64()).round();
    println!(
        "{}",
        json!({
            "events_per_batch": EVENTS,
            "batch_bytes": body.len(),
            "queue_message_bytes": message.len(),
            "batch_v2_bytes": body_v2.len(),
            "edge_us_per_batch": edge_time.as_secs_f64() * 1e6,
            "edge_v2_us_per_batch": edge_v2_time.as_secs_f64() * 1e6,
            "edge_v2_events_per_s": per_s(edge_v2_time),
            "consumer_us_per_batch": consume_time.as_secs_f64() * 1e6,
            "edge_events_per_s": per_s(edge_time),
            "consumer_events_per_s": per_s(consume_time),
            "events_per_s_per_core": per_s(total),
        })
    );
}
