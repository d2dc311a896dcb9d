//! Property-based fuzzing of what the collector accepts from the outside: the tracker batch
//! parser and validator, and the log parser. Whatever the input, they answer Ok or a 4xx
//! error naming a field; they never panic and never answer 5xx. Seeded by a corpus of hostile
//! payloads; random bytes, random JSON shapes, and mutations of valid batches (wire v1 and v2).
//!
//! `make test` runs a short pass (FUZZ_CASES, default 2,000 per property); `make fuzz` runs
//! 1,000,000 inputs or more in all.
#![cfg(not(target_arch = "wasm32"))]

use collector::error::Error;
use collector::{ingest, logs};
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW: i64 = 1_763_791_200_000;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// A result the collector could answer: success, or a client error that says what is wrong.
fn acceptable<T>(r: Result<T, Error>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        prop_assert!(
            matches!(e.status(), 400 | 401 | 403 | 413),
            "answered {} for bad input: {e}",
            e.status()
        );
        if let Error::Invalid { field, .. } = &e {
            prop_assert!(!field.is_empty(), "an invalid input names its field");
        }
    }
    Ok(())
}

fn valid_batch() -> Value {
    json!({
        "v": 1, "site": "demo", "batch": "b-1", "sent": NOW, "vid": "v1", "sid": "s1",
        "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en-US"},
        "events": [
            {"id": "e1", "k": "pageview", "ts": NOW - 5000, "url": "/", "title": "Home", "ref": ""},
            {"id": "e2", "k": "click", "ts": NOW - 1000, "url": "/", "x": 0.5, "y": 200, "yr": 0.1,
             "sel": "main>button", "ex": 0.5, "ey": 0.5, "tag": "button", "txt": "Buy",
             "href": null, "rage": false, "dead": false},
            {"id": "e3", "k": "scroll", "ts": NOW - 900, "url": "/", "max": 0.5, "marks": [25, 50]},
            {"id": "e4", "k": "dwell", "ts": NOW - 800, "url": "/", "engaged_ms": 1, "visible_ms": 2, "total_ms": 3},
            {"id": "e5", "k": "custom", "ts": NOW - 700, "url": "/", "name": "n", "props": {"a": "b"}},
            {"id": "e6", "k": "error", "ts": NOW - 600, "url": "/", "msg": "m", "src": "s", "line": 1, "col": 2}
        ]
    })
}

/// The same batch in wire v2, as the tracker sends it.
fn valid_batch_v2() -> Value {
    json!({
        "v": 2, "site": "demo", "batch": "b-1", "sent": NOW, "vid": "v1", "sid": "s1",
        "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en-US"},
        "t0": NOW - 5000, "urls": ["/", "/b"],
        "events": [
            [0, 0, "p", "Home", ""],
            [4000, 1, "c", 5000, 200, 1000, 5000, 5000, "#buy", "Buy", 7, "button", "/cart"],
            [4100, 0, "s", 5000, [25, 50]],
            [4200, 0, "d", 1, 2, 3],
            [4300, 0, "t", "n", {"a": "b"}],
            [4400, 0, "e", "m", "s", 1, 2]
        ]
    })
}

fn valid_logs() -> Value {
    json!([{"ts": NOW - 1000, "level": "ERROR", "service": "api", "message": "boom",
            "trace_id": "t", "session_id": "s",
            "http": {"method": "GET", "path": "/x", "status": 500, "duration_ms": 3.5},
            "attrs": {"k": "v"}}])
}

/// Values that break parsers: wrong types, extremes, hostile keys and strings.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!(-1)),
        Just(json!(0)),
        Just(json!(i64::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(-1e308)),
        Just(json!(1e308)),
        Just(json!(0.5)),
        Just(json!("")),
        Just(json!("x".repeat(70_000))),
        Just(json!("\u{0}\u{1f}\u{2028}é😀")),
        Just(json!("__proto__")),
        Just(json!({"__proto__": {"polluted": true}, "constructor": {"prototype": 1}})),
        Just(json!([])),
        Just(json!([1, "a", null])),
        Just(json!({})),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~]{0,40}".prop_map(Value::String),
    ]
}

/// Replaces the value at a random place in `v` (depth-first order) with `with`.
fn replace_nth(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Object(m) => m.values_mut().any(|c| replace_nth(c, n, with)),
        Value::Array(a) => a.iter_mut().any(|c| replace_nth(c, n, with)),
        _ => false,
    }
}

/// Removes a random field somewhere in `v`.
fn remove_nth(v: &mut Value, n: &mut usize) -> bool {
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if *n == 0 {
                    m.remove(&k);
                    return true;
                }
                *n -= 1;
                if let Some(child) = m.get_mut(&k) {
                    if remove_nth(child, n) {
                        return true;
                    }
                }
            }
            false
        }
        Value::Array(a) => a.iter_mut().any(|c| remove_nth(c, n)),
        _ => false,
    }
}

/// Raw JSON-ish text: fragments of real batches glued at random, unbalanced and all.
fn json_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"events\"".to_string()),
        Just("\"k\"".to_string()),
        Just("\"click\"".to_string()),
        Just("\"v\":1".to_string()),
        Just("NaN".to_string()),
        Just("Infinity".to_string()),
        Just("-Infinity".to_string()),
        Just("1e999".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\"\\udfff\\ud800\"".to_string()),
        Just("null".to_string()),
        "[0-9]{1,30}".prop_map(String::from),
        "\"[ -~]{0,12}\"".prop_map(String::from),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

#[test]
fn the_batches_mutated_are_valid_to_begin_with() {
    for v in [valid_batch(), valid_batch_v2()] {
        let env = ingest::parse(&serde_json::to_vec(&v).unwrap(), NOW).unwrap();
        assert_eq!(env.batch.events.len(), 6);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn batches_from_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        acceptable(ingest::parse(&bytes, NOW))?;
    }

    #[test]
    fn batches_from_random_json_text(text in json_text()) {
        acceptable(ingest::parse(text.as_bytes(), NOW))?;
    }

    #[test]
    fn batches_with_one_value_replaced(n in 0usize..80, with in hostile_value()) {
        let mut v = valid_batch();
        replace_nth(&mut v, &mut n.clone(), &with);
        acceptable(ingest::parse(&serde_json::to_vec(&v).unwrap(), NOW))?;
    }

    #[test]
    fn batches_with_a_field_removed(n in 0usize..80) {
        let mut v = valid_batch();
        remove_nth(&mut v, &mut n.clone());
        acceptable(ingest::parse(&serde_json::to_vec(&v).unwrap(), NOW))?;
    }

    #[test]
    fn v2_batches_with_one_value_replaced(n in 0usize..80, with in hostile_value()) {
        let mut v = valid_batch_v2();
        replace_nth(&mut v, &mut n.clone(), &with);
        acceptable(ingest::parse(&serde_json::to_vec(&v).unwrap(), NOW))?;
    }

    #[test]
    fn v2_batches_with_a_field_removed(n in 0usize..80) {
        let mut v = valid_batch_v2();
        remove_nth(&mut v, &mut n.clone());
        acceptable(ingest::parse(&serde_json::to_vec(&v).unwrap(), NOW))?;
    }

    #[test]
    fn logs_from_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        acceptable(logs::parse(&bytes, "api", NOW))?;
    }

    #[test]
    fn logs_from_random_json_text(text in json_text()) {
        acceptable(logs::parse(text.as_bytes(), "api", NOW))?;
    }

    #[test]
    fn logs_with_one_value_replaced(n in 0usize..30, with in hostile_value()) {
        let mut v = valid_logs();
        replace_nth(&mut v, &mut n.clone(), &with);
        acceptable(logs::parse(&serde_json::to_vec(&v).unwrap(), "api", NOW))?;
    }
}

/// The hostile corpus, each case answered with its 4xx (never a panic, never 5xx).
#[test]
fn hostile_corpus() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let mut many = valid_batch();
    let one = many["events"][0].clone();
    many["events"] = Value::Array(
        (0..10_000)
            .map(|i| {
                let mut e = one.clone();
                e["id"] = json!(format!("e{i}"));
                e
            })
            .collect(),
    );
    let mut dupes = valid_batch();
    dupes["events"][1]["id"] = json!("e1");
    let mut polluted = valid_batch();
    polluted["__proto__"] = json!({"admin": true});
    polluted["events"][4]["props"] = json!({"__proto__": "x", "constructor": "y"});
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("deep array nesting", deep.into_bytes(), 400),
        ("deep object nesting", deep_object.into_bytes(), 400),
        ("huge number", br#"{"v":1e999999}"#.to_vec(), 400),
        ("NaN spelled", br#"{"v":NaN}"#.to_vec(), 400),
        (
            "Infinity spelled",
            br#"{"v":1,"sent":Infinity}"#.to_vec(),
            400,
        ),
        (
            "lone surrogate",
            br#"{"v":1,"site":"\ud800"}"#.to_vec(),
            400,
        ),
        (
            "megabyte string",
            format!(r#"{{"v":1,"site":"{}"}}"#, "x".repeat(1 << 20)).into_bytes(),
            413,
        ),
        ("10,000 events", serde_json::to_vec(&many).unwrap(), 413),
        ("duplicate ids", serde_json::to_vec(&dupes).unwrap(), 400),
        ("not UTF-8", vec![0xff, 0xfe, 0x00], 400),
        ("empty", vec![], 400),
    ];
    for (name, body, status) in cases {
        match ingest::parse(&body, NOW) {
            Err(e) => assert_eq!(e.status(), status, "{name}: {e}"),
            Ok(_) => panic!("{name} was accepted"),
        }
    }
    // Prototype-pollution keys are only data to us: accepted, and stored as plain fields.
    assert!(ingest::parse(&serde_json::to_vec(&polluted).unwrap(), NOW).is_ok());
    // The same corpus against the log parser.
    for body in [
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        b"[{\"ts\":NaN}]".to_vec(),
        b"{\"ts\":1e999}\n".to_vec(),
        b"[\"\\ud800\"]".to_vec(),
        vec![b' '; logs::MAX_BODY + 1],
    ] {
        assert!(matches!(
            logs::parse(&body, "api", NOW).unwrap_err().status(),
            400 | 413
        ));
    }
}
