//! The collector's store, natively, against the emulator with signature checks on: the same
//! code the Worker runs (DynamoDB, S3, SNS), on reqwest over tokio instead of the runtime's
//! fetch. Each test uses its own site or session, so they share one emulator.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use std::time::Duration;

use collector::aws::dynamodb::{key, Attr, Item};
use collector::aws::item_json::ItemJson;
use collector::aws::sqs::Sqs;
use collector::aws::Aws;
use collector::clock;
use collector::ingest::{self, Envelope};
use collector::records;
use collector::store::Stores;
use collector::Error;
use serde_json::{json, Value};

/// A valid envelope for `site`/`sid` holding `events` (ids, times and url filled in).
fn envelope(site: &str, sid: &str, events: Vec<Value>) -> Envelope {
    let now = clock::now_ms();
    let events: Vec<Value> = events
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e["id"] = json!(format!("{sid}-e{i}"));
            e["ts"] = json!(now - 1000 + i as i64);
            if e.get("url").is_none() {
                e["url"] = json!("/");
            }
            e
        })
        .collect();
    let body = json!({"v": 1, "site": site, "batch": format!("{sid}-b"), "sent": now,
                      "vid": format!("{sid}-v"), "sid": sid, "ctx": {"vw": 1280, "vh": 720},
                      "events": events});
    ingest::parse(&serde_json::to_vec(&body).unwrap(), now).unwrap()
}

fn pageview() -> Value {
    json!({"k": "pageview", "title": "Home"})
}

fn click(rage: bool) -> Value {
    json!({"k": "click", "x": 0.5, "y": 120, "yr": 0.25, "sel": "main>button", "ex": 0.1,
           "ey": 0.9, "tag": "button", "txt": "Buy", "rage": rage})
}

fn stores() -> Stores {
    Stores::new(&support::emulator().config())
}

async fn item(stores: &Stores, pk: &str, sk: &str) -> Option<Item> {
    stores.dynamodb.get(&key(pk, sk)).await.unwrap()
}

fn n(item: &Option<Item>, attr: &str) -> f64 {
    item.as_ref()
        .and_then(|i| i.get(attr))
        .and_then(Attr::as_f64)
        .unwrap_or(0.0)
}

/// A read's query string, as the Worker hands it over.
fn query(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn events_are_stored_once_however_often_they_arrive() {
    let _turn = support::exclusive().await;
    let stores = stores();
    let env = envelope(
        "once",
        "s-once",
        vec![pageview(), click(false), click(false)],
    );
    let first = stores.write(&env).await.unwrap();
    let again = stores.write(&env).await.unwrap(); // a resend, or a queue redelivery
    assert!(first.counted && !again.counted);

    let items = stores
        .dynamodb
        .query_partition("S#once#s-once", 10_000)
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["k"].as_s(), Some("pageview"));
    assert_eq!(items[2]["y"].as_f64(), Some(120.0));
    assert!(items[2]["expires_at"].as_f64().unwrap() > (clock::now_ms() / 1000) as f64);

    let (date, _) = clock::utc_date_hour(env.received);
    let page = item(&stores, &format!("A#once#{date}"), "P#/").await;
    assert_eq!((n(&page, "pageviews"), n(&page, "clicks")), (1.0, 2.0));
    let grid = item(&stores, &format!("H#once#/#{date}"), "W#1024").await;
    assert_eq!(n(&grid, "c10_2"), 2.0);
    let counter = item(&stores, "C#once", "visitors").await;
    assert_eq!(
        (n(&counter, "pageviews"), n(&counter, "visitor_count")),
        (1.0, 1.0)
    );

    let object = stores
        .s3
        .get(&records::s3_key(&env))
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(object)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["k"], "click");
}

#[tokio::test(flavor = "current_thread")]
async fn a_marker_put_again_after_its_answer_was_lost_is_still_its_own() {
    let _turn = support::exclusive().await;
    let db = &stores().dynamodb;
    let marker = key("L#owner-test#1", "-");
    assert!(db.put_new(&marker, "attempt-1").await.unwrap());
    // The same put sent again (its answer lost): still the one that put it, so it alerts.
    assert!(db.put_new(&marker, "attempt-1").await.unwrap());
    // Another attempt (a redelivery) finds it: the alert went out already.
    assert!(!db.put_new(&marker, "attempt-2").await.unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn a_visitor_counts_once_across_batches() {
    let _turn = support::exclusive().await;
    let stores = stores();
    let mut env = envelope("visits", "s-visits", vec![pageview()]);
    stores.write(&env).await.unwrap();
    env.batch.batch = "another-batch".into();
    env.batch.events[0].id = "another-event".into();
    stores.write(&env).await.unwrap();
    let counter = item(&stores, "C#visits", "visitors").await;
    assert_eq!(n(&counter, "pageviews"), 2.0);
    assert_eq!(n(&counter, "visitor_count"), 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn large_batches_are_written_25_items_per_call() {
    let _turn = support::exclusive().await;
    let stores = stores();
    let events = std::iter::once(pageview())
        .chain((1..180).map(|_| click(false)))
        .collect();
    stores
        .write(&envelope("large", "s-large", events))
        .await
        .unwrap();
    let items = stores
        .dynamodb
        .query_partition("S#large#s-large", 10_000)
        .await
        .unwrap();
    assert_eq!(items.len(), 180);
}

/// The alerts published for `site`, read back from the SQS queue subscribed to the topic
/// (without consuming them: other tests read the same queue).
async fn alerts_for(site: &str, expected: usize) -> Vec<Value> {
    alerts_where("site", site, expected).await
}

/// The alerts whose message has `field` = `value`.
async fn alerts_where(field: &str, value: &str, expected: usize) -> Vec<Value> {
    let emulator = support::emulator();
    let sqs = Sqs::new(Aws::new(emulator.config().aws));
    let mut found: Vec<Value> = Vec::new();
    for _ in 0..40 {
        // Each message read is deleted: the queue would otherwise hand out the same oldest ten
        // again and again. (Tests take turns, so what another test left is stale.)
        for m in sqs.receive(&emulator.alerts_queue_url, 0).await.unwrap() {
            sqs.delete(&emulator.alerts_queue_url, &m.receipt_handle)
                .await
                .unwrap();
            let envelope: Value = serde_json::from_str(&m.body).unwrap();
            let alert: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
            if alert[field] == value && !found.contains(&envelope) {
                found.push(envelope);
            }
        }
        if found.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    found
}

#[tokio::test(flavor = "current_thread")]
async fn a_browser_error_alerts_once_per_window() {
    let _turn = support::exclusive().await;
    let stores = stores();
    let error = json!({"k": "error", "msg": "Item 17 not found", "src": "app.js", "line": 3});
    let env = envelope("errs", "s-errs", vec![error.clone(), error.clone()]);
    let first = stores.write(&env).await.unwrap();
    assert_eq!(first.alerts.len(), 1);
    // The same error again, in another batch of the window: counted, not alerted.
    let mut more = envelope(
        "errs",
        "s-errs2",
        vec![json!({"k": "error", "msg": "Item 99 not found", "src": "app.js"})],
    );
    more.received = env.received;
    assert!(stores.write(&more).await.unwrap().alerts.is_empty());
    assert!(
        stores.write(&env).await.unwrap().alerts.is_empty(),
        "redelivery"
    );

    let alerts = alerts_for("errs", 1).await;
    assert_eq!(alerts.len(), 1);
    let message: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["kind"], "browser_error");
    assert_eq!(message["message"], "Item 17 not found");
    assert_eq!(message["count"], 2);
    let attrs = &alerts[0]["MessageAttributes"];
    assert_eq!(attrs["kind"]["Value"], "browser_error");
    assert_eq!(attrs["severity"]["Value"], "MEDIUM");
    assert_eq!(attrs["site"]["Value"], "errs");

    let incidents = stores
        .dynamodb
        .query_partition("I#errs", 10_000)
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["count"].as_f64(), Some(3.0));
    assert!(incidents[0].contains_key("message_id"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_storm_of_distinct_errors_is_capped_at_the_budget_and_one_notice() {
    let _turn = support::exclusive().await;
    let stores = stores(); // 20 alerts per window (see support)
    let errors = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|i| json!({"k": "error", "msg": "boom", "src": format!("https://x/{i}.js")}))
            .collect()
    };
    let env = envelope("storm", "s-storm1", errors(0, 30));
    assert_eq!(
        stores.write(&env).await.unwrap().alerts.len(),
        21,
        "20 and the notice"
    );
    let mut more = envelope("storm", "s-storm2", errors(30, 35));
    more.received = env.received;
    assert!(stores.write(&more).await.unwrap().alerts.is_empty());
    assert!(
        stores.write(&env).await.unwrap().alerts.is_empty(),
        "redelivery"
    );

    let notices = alerts_where("kind", "alert_limit", 1).await;
    assert_eq!(notices.len(), 1);
    let incidents = stores
        .dynamodb
        .query_partition("I#storm", 10_000)
        .await
        .unwrap();
    let kind = |i: &Item| i["kind"].as_s().unwrap().to_string();
    let errors: Vec<&Item> = incidents
        .iter()
        .filter(|i| kind(i) == "browser_error")
        .collect();
    assert_eq!(errors.len(), 35, "every incident is recorded");
    let sent = errors
        .iter()
        .filter(|i| i.contains_key("message_id"))
        .count();
    let withheld = errors
        .iter()
        .filter(|i| i.get("alert_withheld") == Some(&Attr::Bool(true)))
        .count();
    assert_eq!((sent, withheld), (20, 15));
    let notice = incidents.iter().find(|i| kind(i) == "alert_limit").unwrap();
    assert!(notice.contains_key("message_id"));
}

#[tokio::test(flavor = "current_thread")]
async fn rage_clicks_alert_when_a_window_crosses_the_threshold() {
    let _turn = support::exclusive().await;
    let stores = stores();
    // The threshold is 3 (see support): two rage clicks do not alert, the third does.
    let env = envelope("rage", "s-rage1", vec![click(true), click(true)]);
    assert!(stores.write(&env).await.unwrap().alerts.is_empty());
    let env = envelope("rage", "s-rage2", vec![click(true)]);
    assert_eq!(stores.write(&env).await.unwrap().alerts.len(), 1);
    let env = envelope("rage", "s-rage3", vec![click(true)]);
    assert!(
        stores.write(&env).await.unwrap().alerts.is_empty(),
        "one per window"
    );
    let alerts = alerts_for("rage", 1).await;
    assert_eq!(alerts.len(), 1);
    let message: Value = serde_json::from_str(alerts[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(
        (message["kind"].as_str(), message["count"].as_u64()),
        (Some("rage_clicks"), Some(3))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_signature_is_refused_and_nothing_is_written() {
    let _turn = support::exclusive().await;
    let emulator = support::emulator();
    let mut config = emulator.config();
    config.aws.secret_access_key = "not-the-secret".into();
    let err = Stores::new(&config)
        .write(&envelope("forged", "s-forged", vec![pageview()]))
        .await
        .unwrap_err();
    match &err {
        Error::Aws { status, .. } => assert_eq!(*status, 403, "{err}"),
        other => panic!("expected an AWS error, got {other:?}"),
    }
    let items = stores()
        .dynamodb
        .query_partition("S#forged#s-forged", 10_000)
        .await
        .unwrap();
    assert!(items.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_endpoint_is_a_transient_error() {
    let _turn = support::exclusive().await;
    let mut config = support::emulator().config();
    config.aws.endpoint = Some("http://127.0.0.1:9".into());
    let err = Stores::new(&config)
        .write(&envelope("down", "s-down", vec![pageview()]))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.status(), 503);
}

#[tokio::test(flavor = "current_thread")]
async fn the_read_side_answers_from_what_was_written() {
    let _turn = support::exclusive().await;
    use collector::reads;
    let stores = stores();
    let mut events = vec![pageview(), click(false), click(true)];
    events.push(json!({"k": "scroll", "max": 0.6, "marks": [25, 50]}));
    events.push(json!({"k": "dwell", "engaged_ms": 900, "visible_ms": 1000, "total_ms": 1500}));
    events.push(json!({"k": "error", "msg": "read side boom"}));
    for e in &mut events {
        e["url"] = json!("/shop?q=1");
    }
    let env = envelope("reads", "s-reads", events);
    stores.write(&env).await.unwrap();
    stores.write(&env).await.unwrap();

    let count = reads::count(&stores.dynamodb, "reads").await.unwrap();
    assert_eq!(count["visitor_count"], 1);

    let all = reads::range(&query(&[("site", "reads")]), clock::now_ms()).unwrap();
    let stats = reads::stats(&stores.dynamodb, &all).await.unwrap();
    assert_eq!(stats["totals"]["pageviews"], 1);
    assert_eq!(stats["pages"][0]["path"], "/shop");
    assert_eq!(stats["pages"][0]["clicks"], 2);
    assert_eq!(stats["pages"][0]["scroll_50"], 1);
    assert_eq!(stats["pages"][0]["engaged_ms"], 900);
    assert!(stats.get("heatmap").is_none());

    let page = reads::range(
        &query(&[("site", "reads"), ("path", "/shop")]),
        clock::now_ms(),
    )
    .unwrap();
    let stats = reads::stats(&stores.dynamodb, &page).await.unwrap();
    let clicks = stats["heatmap"]["clicks"].as_array().unwrap();
    assert_eq!(clicks.len(), 2, "each click once, from the clicks index");
    assert_eq!(clicks.iter().filter(|c| c["rage"] == true).count(), 1);
    assert_eq!(clicks[0]["sel"], "main>button");
    assert_eq!(stats["heatmap"]["grids"]["1024"]["c10_2"], 2);

    let live = reads::live(&stores.dynamodb, "reads", 3, clock::now_ms())
        .await
        .unwrap();
    let latest = live["events"].as_array().unwrap();
    assert_eq!(latest.len(), 3, "the limit");
    assert!(
        latest[0]["at"].as_i64() >= latest[1]["at"].as_i64(),
        "newest first"
    );
    assert!(latest
        .iter()
        .all(|e| e.get("ip_hash").is_none() && e.get("pk").is_none()));

    let incidents = reads::incidents(&stores.dynamodb, &all).await.unwrap();
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["message"], "read side boom");
    assert_eq!(list[0]["count"], 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_page_path_too_long_for_a_storage_key_is_counted_under_a_shorter_one() {
    // A hash route carrying its state: a URL the collector takes (≤ 2,048 bytes) whose page
    // path is longer than DynamoDB allows in a sort key (1,024 bytes) or a partition key
    // (2,048, with the site and the date around it).
    let _turn = support::exclusive().await;
    use collector::reads;
    let stores = stores();
    let long = format!("/report#/view/{}", "é".repeat(950));
    let mut events = vec![
        pageview(),
        click(false),
        json!({"k": "error", "msg": "long boom"}),
    ];
    for e in &mut events {
        e["url"] = json!(format!("{long}?tab=1"));
    }
    let env = envelope("longpath", "s-longpath", events);
    let written = stores.write(&env).await.unwrap();
    assert!(written.counted);
    let raw = stores
        .dynamodb
        .query_partition("S#longpath#s-longpath", 10)
        .await
        .unwrap();
    assert_eq!(raw.len(), 3, "the raw events keep their whole URL");
    assert_eq!(raw[0]["url"].as_s(), Some(format!("{long}?tab=1").as_str()));

    let all = reads::range(&query(&[("site", "longpath")]), clock::now_ms()).unwrap();
    let stats = reads::stats(&stores.dynamodb, &all).await.unwrap();
    let page = stats["pages"][0]["path"].as_str().unwrap().to_string();
    assert!(
        page.len() <= 512 && long.starts_with(page.split('…').next().unwrap()),
        "{page}"
    );
    assert_eq!(stats["pages"][0]["clicks"], 1);
    // The page is asked for by the path it was listed under, or by its whole path.
    for path in [page.as_str(), long.as_str()] {
        let one = reads::range(
            &query(&[("site", "longpath"), ("path", path)]),
            clock::now_ms(),
        )
        .unwrap();
        let stats = reads::stats(&stores.dynamodb, &one).await.unwrap();
        assert_eq!(stats["totals"]["pageviews"], 1);
        assert_eq!(stats["heatmap"]["clicks"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reads_stay_within_the_calls_a_request_may_make() {
    let _turn = support::exclusive().await;
    use collector::reads;
    // 30 days of one page: its counters, and its clicks in two width buckets.
    let today = clock::day_of(clock::now_ms());
    let mut items = Vec::new();
    for day in today - 29..=today {
        let date = clock::date_of_day(day);
        let mut page = key(format!("A#budget#{date}"), "P#/p");
        page.insert("path".into(), Attr::s("/p"));
        page.insert("pageviews".into(), Attr::n(1));
        items.push(page);
        for width in ["W#0", "W#1024"] {
            let mut grid = key(format!("H#budget#/p#{date}"), width);
            grid.insert("c1_1".into(), Attr::n(1));
            items.push(grid);
        }
    }
    let items = items.iter().map(ItemJson::from).collect();
    stores().dynamodb.put_all(items).await.unwrap();

    let mut config = support::emulator().config();
    config.aws.subrequest_limit = 12;
    let range = |days: i64, path: Option<&str>| reads::Range {
        site: "budget".into(),
        from: today - days + 1,
        to: today,
        path: path.map(str::to_string),
    };

    // The whole site: a query per day, so 30 days are refused before any call.
    let limited = Stores::new(&config);
    let refused = reads::stats(&limited.dynamodb, &range(30, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Invalid { field, reason } if field == "from"
            && reason.contains("at most 12 days")),
        "{refused}"
    );
    assert_eq!(limited.dynamodb.budget().used(), 0);
    let stats = reads::stats(&limited.dynamodb, &range(12, None))
        .await
        .unwrap();
    assert_eq!(stats["totals"]["pageviews"], 12);

    // One page: its 30 counters in one call, its grids (30 days × 5 width buckets: 150 keys)
    // in two; the newest days' clicks with the other nine calls, and a date saying from when.
    let limited = Stores::new(&config);
    let stats = reads::stats(&limited.dynamodb, &range(30, Some("/p")))
        .await
        .unwrap();
    assert_eq!(stats["totals"]["pageviews"], 30);
    assert_eq!(stats["days"].as_array().unwrap().len(), 30);
    assert!(stats["days"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["pageviews"] == 1));
    assert_eq!(stats["heatmap"]["grids"]["0"]["c1_1"], 30);
    assert_eq!(stats["heatmap"]["grids"]["1024"]["c1_1"], 30);
    assert_eq!(
        stats["heatmap"]["clicks_since"],
        clock::date_of_day(today - 8),
        "nine days of clicks"
    );
    assert_eq!(limited.dynamodb.budget().used(), 12);
    // Past the limit, a call is refused before it is sent, by SNS's client too.
    let past = limited
        .dynamodb
        .get(&key("A#budget", "x"))
        .await
        .unwrap_err();
    assert!(matches!(past, Error::Subrequests { limit: 12 }), "{past}");
    assert_eq!(past.status(), 503);
    let spent = collector::subrequests::Budget::new(0);
    let sns = collector::aws::sns::Sns::new(&config.aws, reqwest::Client::new(), spent);
    let topic = &support::emulator().topic_arn;
    let refused = sns.publish(topic, "s", "m", &[]).await.unwrap_err();
    assert!(
        matches!(refused, Error::Subrequests { limit: 0 }),
        "{refused}"
    );
}

/// A log body of `n` records of `service` (all the same error unless `vary`).
fn log_body(service: &str, n: usize, session: Option<&str>) -> Vec<u8> {
    let now = clock::now_ms();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = json!({"ts": now - 1000 + (i as i64 % 500), "level": "ERROR",
                               "service": service, "message": format!("Timeout calling payments after {i} ms"),
                               "trace_id": format!("trace-{i}"),
                               "http": {"method": "POST", "path": "/checkout", "status": 502, "duration_ms": 30000}});
            if let Some(s) = session {
                r["session_id"] = json!(s);
            }
            r
        })
        .collect();
    serde_json::to_vec(&records).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_largest_log_request_is_written_within_the_free_plans_calls() {
    // 1,000 records that all join a session, two of them distinct errors: each part the
    // request is queued as must be written by one invocation of the consumer, within the
    // Workers Free plan's 50 calls, alerts included, and again when redelivered.
    let _turn = support::exclusive().await;
    use collector::logs;
    let now = clock::now_ms();
    let records: Vec<Value> = (0..1000)
        .map(|i| {
            let (level, message) = match i {
                10 => ("ERROR", "payments are down"),
                900 => ("ERROR", "inventory is down"),
                _ => ("INFO", "served"),
            };
            json!({"ts": now - 1000, "level": level, "service": "calls-api", "message": message,
                   "session_id": "s-calls"})
        })
        .collect();
    let body = serde_json::to_vec(&records).unwrap();
    let batches = logs::parse(&body, "calls-api", now).unwrap();
    let mut config = support::emulator().config();
    config.aws.subrequest_limit = 50;
    let mut alerts = 0;
    for round in 0..2 {
        for b in &batches {
            let invocation = Stores::new(&config);
            let written = invocation.write_logs(b).await;
            let used = invocation.dynamodb.budget().used();
            let written =
                written.unwrap_or_else(|e| panic!("round {round}: {e} after {used} calls"));
            alerts += written.alerts.len();
        }
    }
    assert_eq!(
        alerts, 2,
        "each error alerts once, not again when redelivered"
    );
    let joined = stores()
        .dynamodb
        .query_partition("G#s-calls", 2000)
        .await
        .unwrap();
    assert_eq!(joined.len(), 1000);
}

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_identical_errors_make_one_incident_and_one_alert() {
    let _turn = support::exclusive().await;
    use collector::logs;
    let stores = stores();
    let body = log_body("shop-api", 1000, None);
    let batches = logs::parse(&body, "shop-api", clock::now_ms()).unwrap();
    assert!(batches.len() > 1, "split for the queue");
    let mut alerts = 0;
    for b in &batches {
        alerts += stores.write_logs(b).await.unwrap().alerts.len();
    }
    for b in &batches {
        let again = stores.write_logs(b).await.unwrap(); // redelivered
        assert!(!again.counted && again.alerts.is_empty());
    }
    assert_eq!(alerts, 1);
    let incidents = stores
        .dynamodb
        .query_partition("I#shop-api", 10_000)
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    let i = &incidents[0];
    assert_eq!(i["count"].as_f64(), Some(1000.0));
    assert_eq!(i["kind"].as_s(), Some("server_error"));
    assert_eq!(i["severity"].as_s(), Some("MEDIUM"));
    assert_eq!(i["level"].as_s(), Some("ERROR"));
    assert_eq!(i["service"].as_s(), Some("shop-api"));
    assert!(i.contains_key("message_id") && i.contains_key("trace_id"));
    let objects = batches.iter().map(records::log_s3_key).collect::<Vec<_>>();
    let lines: usize = {
        let mut n = 0;
        for k in &objects {
            let text = String::from_utf8(stores.s3.get(k).await.unwrap().unwrap()).unwrap();
            assert!(k.starts_with("logs/service=shop-api/dt="));
            n += text.lines().count();
        }
        n
    };
    assert_eq!(lines, 1000);
    let published = alerts_where("service", "shop-api", 1).await;
    assert_eq!(published.len(), 1);
    let message: Value = serde_json::from_str(published[0]["Message"].as_str().unwrap()).unwrap();
    // The alert tells the count when it fired: after the first part of the burst.
    assert_eq!(
        message["count"].as_u64(),
        Some(batches[0].records.len() as u64)
    );
    assert_eq!(
        published[0]["MessageAttributes"]["service"]["Value"],
        "shop-api"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn server_logs_join_the_browser_session_that_caused_them() {
    let _turn = support::exclusive().await;
    use collector::{logs, reads};
    let stores = stores();
    stores
        .write(&envelope(
            "joined",
            "s-joined",
            vec![pageview(), click(false)],
        ))
        .await
        .unwrap();
    let body = log_body("shop-api", 2, Some("s-joined"));
    for b in logs::parse(&body, "shop-api", clock::now_ms()).unwrap() {
        stores.write_logs(&b).await.unwrap();
    }
    let session = reads::session(&stores.dynamodb, "joined", "s-joined")
        .await
        .unwrap();
    assert_eq!(session["events"].as_array().unwrap().len(), 2);
    let logs = session["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["service"], "shop-api");
    assert_eq!(logs[0]["http"]["path"], "/checkout");
    assert_eq!(session["events_truncated"], false);
    // Another site's reader asking for this session id sees neither its events nor its logs.
    let elsewhere = reads::session(&stores.dynamodb, "other", "s-joined")
        .await
        .unwrap();
    assert_eq!(elsewhere["events"], serde_json::json!([]));
    assert_eq!(elsewhere["logs"], serde_json::json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn a_traffic_surge_alerts_once() {
    let _turn = support::exclusive().await;
    use collector::aws::dynamodb::Update;
    use collector::surge;
    let stores = stores();
    let w: i64 = 300_000;
    let now = surge::window_start(clock::now_ms(), w) + 1000;
    let last = surge::window_start(now, w) - w;
    let seed = |start: i64, n: u64| {
        let db = stores.dynamodb.clone();
        async move {
            db.update(&Update {
                key: records::traffic_key("surging", start),
                add: vec![("events".into(), n)],
                set: vec![],
            })
            .await
            .unwrap();
        }
    };
    for i in 1..=surge::BASELINE_WINDOWS {
        seed(last - i * w, 10).await;
    }
    assert_eq!(
        stores.check_traffic("surging", now).await.unwrap(),
        None,
        "a quiet last window"
    );
    seed(last, 400).await;
    assert!(stores
        .check_traffic("surging", now)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        stores.check_traffic("surging", now).await.unwrap(),
        None,
        "once per window"
    );
    let incidents = stores
        .dynamodb
        .query_partition("I#surging", 10_000)
        .await
        .unwrap();
    assert_eq!(incidents[0]["kind"].as_s(), Some("traffic_surge"));
}
