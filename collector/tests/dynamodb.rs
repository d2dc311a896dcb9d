//! The collector's AWS layer, natively, against the emulator with signature checks on: the same
//! code the Worker runs, on reqwest over tokio instead of the runtime's fetch.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use collector::clock;
use collector::ingest::{self, Envelope};
use collector::store::Stores;
use collector::Error;
use serde_json::json;

/// A valid envelope of `n` events (a pageview and clicks) for session `sid`.
fn envelope(sid: &str, n: usize) -> Envelope {
    let now = clock::now_ms();
    let events: Vec<_> = (0..n)
        .map(|i| {
            if i == 0 {
                json!({"id": format!("{sid}-e0"), "k": "pageview", "ts": now - 1000,
                       "url": "/", "title": "Home", "ref": ""})
            } else {
                json!({"id": format!("{sid}-e{i}"), "k": "click", "ts": now - 1000 + i as i64,
                       "url": "/", "x": 0.5, "y": 100 + i, "yr": 0.25, "sel": "main>button",
                       "ex": 0.1, "ey": 0.9, "tag": "button", "txt": "Buy", "href": null,
                       "rage": false, "dead": false})
            }
        })
        .collect();
    let body = json!({"v": 1, "site": "demo", "batch": format!("{sid}-b"), "sent": now,
                      "vid": "v1", "sid": sid, "events": events});
    ingest::parse(&serde_json::to_vec(&body).unwrap(), now).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn events_are_written_once_however_often_they_arrive() {
    let stores = Stores::new(&support::emulator().config());
    let env = envelope("once", 3);
    stores.write(&env).await.unwrap();
    stores.write(&env).await.unwrap(); // a resend, or a queue redelivery

    let items = stores
        .dynamodb
        .query_partition("S#demo#once")
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["k"].as_s(), Some("pageview"));
    assert_eq!(items[0]["title"].as_s(), Some("Home"));
    let click = &items[2];
    assert_eq!(click["k"].as_s(), Some("click"));
    assert_eq!(click["y"].as_f64(), Some(102.0));
    assert_eq!(click["ey"].as_f64(), Some(0.9));
    assert!(click["expires_at"].as_f64().unwrap() > (clock::now_ms() / 1000) as f64);
}

#[tokio::test(flavor = "current_thread")]
async fn large_batches_are_written_25_items_per_call() {
    let stores = Stores::new(&support::emulator().config());
    stores.write(&envelope("large", 180)).await.unwrap();
    let items = stores
        .dynamodb
        .query_partition("S#demo#large")
        .await
        .unwrap();
    assert_eq!(items.len(), 180);
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_signature_is_refused_and_nothing_is_written() {
    let emulator = support::emulator();
    let mut config = emulator.config();
    config.aws.secret_access_key = "not-the-secret".into();
    let err = Stores::new(&config)
        .write(&envelope("forged", 2))
        .await
        .unwrap_err();
    match &err {
        Error::Aws { status, .. } => assert_eq!(*status, 403, "{err}"),
        other => panic!("expected an AWS error, got {other:?}"),
    }
    let items = Stores::new(&emulator.config())
        .dynamodb
        .query_partition("S#demo#forged")
        .await
        .unwrap();
    assert!(items.is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_endpoint_is_a_transient_error() {
    let mut config = support::emulator().config();
    config.aws.endpoint = Some("http://127.0.0.1:9".into());
    let err = Stores::new(&config)
        .write(&envelope("down", 1))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.status(), 503);
}
