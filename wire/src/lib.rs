//! The tracker → collector wire format.
//!
//! `POST /v1/events` carries one batch as JSON in a `text/plain` body (a CORS-simple request,
//! so `sendBeacon` works during unload without a preflight). Version 1 spells every event out
//! as an object ([`Batch`], the types below); version 2 ([`v2`]) is the same batch with its
//! events as positional rows, which is what the tracker sends. [`parse`] reads either into a
//! [`Batch`], so the collector and everything after it sees one shape. The tracker writes
//! with its own tiny encoder (serde costs kilobytes in the page), and its tests parse what it
//! writes with [`parse`], so the format is defined here once.
//!
//! Unknown fields are ignored so that a newer tracker can talk to an older collector.

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub mod v2;

/// The version of [`Batch`]: what [`parse`] returns whatever version came in.
pub const VERSION: u8 = 1;

/// One request from a browser: a batch of events of one visitor's session on one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Wire format version; always [`VERSION`].
    pub v: u8,
    /// Site id, from the script tag's `data-site`.
    pub site: String,
    /// Random id of this batch; a resend carries the same id.
    pub batch: String,
    /// Client clock (ms since the Unix epoch) when the batch was sent, for clock-skew correction.
    pub sent: i64,
    /// Visitor id (random, kept in the storage the site owner chose).
    pub vid: String,
    /// Session id (random, per tab session).
    pub sid: String,
    /// The site's own id of the signed-in user, from `spoor.identify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Events dropped on the client because its offline queue overflowed, sent along once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u32,
    #[serde(default)]
    pub ctx: Ctx,
    pub events: Vec<Event>,
}

/// What the page looked like when the batch was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ctx {
    /// Viewport width and height in CSS px.
    #[serde(default)]
    pub vw: u32,
    #[serde(default)]
    pub vh: u32,
    /// Device pixel ratio.
    #[serde(default)]
    pub dpr: f64,
    /// `navigator.language`.
    #[serde(default)]
    pub lang: String,
    /// `navigator.webdriver`: the browser says it is automated (a bot hint).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wd: bool,
}

/// One event: the fields every event has, and the kind-specific ones (tagged by `k`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Random id; a resend carries the same id, which makes storage idempotent.
    pub id: String,
    /// Client clock (ms since the Unix epoch) when it happened.
    pub ts: i64,
    /// Path (and query) of the page it happened on.
    pub url: String,
    #[serde(flatten)]
    pub data: EventData,
}

/// The kind-specific part of an [`Event`], tagged by `k` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum EventData {
    Pageview(Pageview),
    Click(Click),
    Scroll(Scroll),
    Dwell(Dwell),
    Custom(Custom),
    Error(ErrorEvent),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pageview {
    #[serde(default)]
    pub title: String,
    /// Referrer.
    #[serde(default, rename = "ref")]
    pub referrer: String,
}

/// How far down the page the visitor got. A page view may send several (as the visitor
/// scrolls, and when the page is hidden): each carries the maximum so far and only the marks
/// *newly* reached since the previous one, so counting marks across events counts each view
/// once per mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scroll {
    /// Maximum share of the document seen so far, 0..=1.
    pub max: f64,
    /// Marks (percent of [`SCROLL_MARKS`]) newly reached.
    #[serde(default)]
    pub marks: Vec<u8>,
}

/// The scroll-depth marks, in percent.
pub const SCROLL_MARKS: [u8; 5] = [25, 50, 75, 90, 100];

/// Time spent on one page view, three ways (ms of a monotonic clock). A view sends several
/// (heartbeats, on hide, on leaving): each carries the time *since the previous one*, so sums
/// are totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dwell {
    /// Visible, focused and with recent input.
    pub engaged_ms: u64,
    /// Page visible.
    pub visible_ms: u64,
    /// Wall clock.
    pub total_ms: u64,
}

/// An event named by the site's own code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Custom {
    pub name: String,
    #[serde(default)]
    pub props: Map<String, Value>,
}

/// An uncaught error or unhandled rejection in the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub msg: String,
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub line: u32,
    #[serde(default)]
    pub col: u32,
}

/// A click, placed so that a heatmap stays right when a responsive layout reflows: by document
/// share and px, and by the target element plus the point inside its box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Click {
    /// Share of the document width, 0..=1.
    pub x: f64,
    /// Document y in CSS px.
    pub y: f64,
    /// Share of the document height, 0..=1.
    pub yr: f64,
    /// Short CSS selector of the target element.
    #[serde(default)]
    pub sel: String,
    /// Point inside the target's box, each 0..=1.
    #[serde(default)]
    pub ex: f64,
    #[serde(default)]
    pub ey: f64,
    /// Lower-case tag name of the target.
    #[serde(default)]
    pub tag: String,
    /// Up to 64 characters of the target's visible text (never of inputs).
    #[serde(default)]
    pub txt: String,
    #[serde(default)]
    pub href: Option<String>,
    /// The link leaves the site.
    #[serde(default)]
    pub out: bool,
    #[serde(default)]
    pub rage: bool,
    #[serde(default)]
    pub dead: bool,
}

impl EventData {
    /// The wire name of this kind (the `k` field).
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::Pageview(_) => "pageview",
            EventData::Click(_) => "click",
            EventData::Scroll(_) => "scroll",
            EventData::Dwell(_) => "dwell",
            EventData::Custom(_) => "custom",
            EventData::Error(_) => "error",
        }
    }
}

/// Where and why `value` fails to parse as an [`Event`]: the field's path inside the event
/// and serde's reason. Needed because an event is a flattened, tagged type, and serde reports
/// errors in those without the field's name. `None` if the event is valid.
fn explain_event_error(value: &Value) -> Option<(String, String)> {
    fn check<'a, T: Deserialize<'a>>(v: &'a Value) -> Result<(), (String, String)> {
        serde_path_to_error::deserialize::<_, T>(v)
            .map(|_| ())
            .map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
    }
    #[derive(Deserialize)]
    #[allow(dead_code)] // read only to check the types
    struct Common {
        id: String,
        ts: i64,
        url: String,
        k: String,
    }
    let kind = || -> Result<(), (String, String)> {
        check::<Common>(value)?;
        match value["k"].as_str().unwrap_or_default() {
            "pageview" => check::<Pageview>(value),
            "click" => check::<Click>(value),
            "scroll" => check::<Scroll>(value),
            "dwell" => check::<Dwell>(value),
            "custom" => check::<Custom>(value),
            "error" => check::<ErrorEvent>(value),
            other => Err(("k".into(), format!("unknown event kind {other:?}"))),
        }
    };
    kind().err()
}

/// A field of a body that does not parse (its path, as `events[3].x`), and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A batch's fields in either version. Its events are `E`: read in the same pass
/// ([`Events`]), or left unparsed until the version says how to read them (`&RawValue`).
#[derive(Deserialize)]
struct Head<E> {
    v: u8,
    site: String,
    batch: String,
    sent: i64,
    vid: String,
    sid: String,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    dropped: u32,
    #[serde(default)]
    ctx: Ctx,
    /// v2: the time the rows count from, and the URLs they point into.
    #[serde(default)]
    t0: i64,
    #[serde(default)]
    urls: Vec<String>,
    events: E,
}

impl<E> Head<E> {
    fn into_batch(self, events: Vec<Event>) -> Batch {
        Batch {
            v: VERSION,
            site: self.site,
            batch: self.batch,
            sent: self.sent,
            vid: self.vid,
            sid: self.sid,
            uid: self.uid,
            dropped: self.dropped,
            ctx: self.ctx,
            events,
        }
    }
}

/// Reads a request body of either version as a (v1) [`Batch`], or names the field that is
/// wrong. Bounds (lengths, ranges, times) are the collector's to check.
///
/// A good body is read in one pass, its events typed as they come ([`read`]). Anything that
/// pass refuses is read again by [`explain`], which is slower (the events as a `Value` tree,
/// then the path to the field at fault) and is the reference. The two give the same answer
/// (tested), but for a body nested right at serde_json's depth limit, which `explain`, reading
/// the events on their own, takes one level less deep: that one it accepts.
pub fn parse(body: &[u8]) -> Result<Batch, Invalid> {
    read(body).map_or_else(|| explain(body), Ok)
}

/// The one-pass reader: a good body's batch, or `None`.
fn read(body: &[u8]) -> Option<Batch> {
    serde_json::from_slice::<Head<Events>>(body).ok()?.finish()
}

/// The events of a body, read with its head and told apart by their shape, since the version
/// field may come after them: objects (v1) or rows (v2).
enum Events {
    V1(Vec<Event>),
    V2(Vec<v2::Row>),
}

impl Default for Events {
    fn default() -> Self {
        Events::V1(Vec::new())
    }
}

impl Head<Events> {
    /// The batch, its rows given their ids, times and URLs; `None` for an unknown version,
    /// events whose shape is not the version's, or a row's time or URL out of range.
    fn finish(mut self) -> Option<Batch> {
        let events = match (self.v, std::mem::take(&mut self.events)) {
            (1, Events::V1(events)) => events,
            (2, Events::V1(events)) if events.is_empty() => events,
            (2, Events::V2(rows)) => rows
                .into_iter()
                .enumerate()
                .map(|(i, row)| row.event(&self.batch, self.t0, &self.urls, i))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(self.into_batch(events))
    }
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = Events;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Events, A::Error> {
                let (mut v1, mut v2) = (Vec::new(), Vec::new());
                while let Some(item) = seq.next_element()? {
                    match item {
                        Item::V1(event) => v1.push(event),
                        Item::V2(row) => v2.push(row),
                    }
                }
                match (v1.is_empty(), v2.is_empty()) {
                    (_, true) => Ok(Events::V1(v1)),
                    (true, false) => Ok(Events::V2(v2)),
                    _ => Err(de::Error::custom("objects and rows mixed")),
                }
            }
        }
        d.deserialize_seq(Items)
    }
}

/// One element of `events`: an object is a v1 event, an array a v2 row.
enum Item {
    V1(Event),
    V2(v2::Row),
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = Item;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event object or row")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item, A::Error> {
                v2::Row::read(seq).map(Item::V2)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
                Event::deserialize(de::value::MapAccessDeserializer::new(map)).map(Item::V1)
            }
        }
        d.deserialize_any(Shape)
    }
}

/// [`parse`]'s reference reader, which names the field at fault: the head with its events
/// unparsed, then the events by the version's rules.
fn explain(body: &[u8]) -> Result<Batch, Invalid> {
    // Tracking the path costs a third of the parse; it is only needed to explain an error.
    let head: Head<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        let de = &mut serde_json::Deserializer::from_slice(body);
        match serde_path_to_error::deserialize::<_, Head<&RawValue>>(de) {
            Err(e) => {
                // Syntax errors end in `?` (no key read yet) or are at the top (`.`).
                let path = e.path().to_string();
                let known = path.trim_end_matches('?').trim_end_matches('.');
                let field = if known.is_empty() { "body" } else { known };
                Invalid::new(field, e.into_inner().to_string())
            }
            // A whole batch followed by something else: trailing characters.
            Ok(_) => Invalid::new("body", e.to_string()),
        }
    })?;
    let events = match head.v {
        1 => v1_events(head.events.get())?,
        2 => v2::events(&head.batch, head.t0, &head.urls, head.events.get())?,
        _ => return Err(Invalid::new("v", "unsupported version, expected 1 or 2")),
    };
    Ok(head.into_batch(events))
}

/// v1 events, or the first bad one's field. Inside an event serde loses the field's name
/// (events are flattened, tagged types), so a failing event is re-examined on its own.
fn v1_events(text: &str) -> Result<Vec<Event>, Invalid> {
    serde_json::from_str(text).map_err(|e| {
        if let Ok(Value::Array(events)) = serde_json::from_str(text) {
            for (i, event) in events.iter().enumerate() {
                if let Some((field, reason)) = explain_event_error(event) {
                    return Invalid::new(format!("events[{i}].{field}"), reason);
                }
            }
        }
        Invalid::new("events", e.to_string())
    })
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"v":1,"site":"demo","batch":"b1","sent":1763791200000,"vid":"v1","sid":"s1",
      "ctx":{"vw":1280,"vh":720,"dpr":1,"lang":"en-US"},
      "events":[
       {"id":"e1","k":"pageview","ts":1763791190000,"url":"/products/11","title":"Mug","ref":""},
       {"id":"e2","k":"click","ts":1763791191000,"url":"/products/11","x":0.42,"y":1350,"yr":0.61,
        "sel":"main>button","ex":0.5,"ey":0.31,"tag":"button","txt":"Add to cart","href":null,
        "rage":false,"dead":false,"future_field":[1,2]},
       {"id":"e3","k":"scroll","ts":1,"url":"/","max":0.83,"marks":[25,50,75]},
       {"id":"e4","k":"dwell","ts":1,"url":"/","engaged_ms":12345,"visible_ms":40000,"total_ms":45000},
       {"id":"e5","k":"custom","ts":1,"url":"/","name":"cart_add","props":{"product":"11"}},
       {"id":"e6","k":"error","ts":1,"url":"/","msg":"boom","src":"app.js","line":1,"col":2}
      ]}"#;

    /// Both readers on `body`: the same answer; whether they read it.
    pub(crate) fn same_answer(body: &str) -> bool {
        let fast = read(body.as_bytes());
        assert_eq!(fast, explain(body.as_bytes()).ok(), "{body}");
        fast.is_some()
    }

    /// Both readers on `body` and on every variant of it that replaces one value with an odd
    /// one, removes one, or deletes one character: the one-pass reader accepts exactly what
    /// the explaining reader accepts, and reads it the same.
    pub(crate) fn assert_readers_agree(body: &str) {
        /// The `n`th value inside `v`, objects' values in key order (`v` itself is the 0th).
        fn nth<'a>(v: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
            if *n == 0 {
                return Some(v);
            }
            *n -= 1;
            match v {
                Value::Array(a) => a.iter_mut().find_map(|v| nth(v, n)),
                Value::Object(o) => o.values_mut().find_map(|v| nth(v, n)),
                _ => None,
            }
        }
        let variant = |n: usize, change: &dyn Fn(&mut Value)| {
            let mut v: Value = serde_json::from_str(body).unwrap();
            change(nth(&mut v, &mut { n }).unwrap());
            same_answer(&v.to_string());
        };
        let odd: Vec<Value> = serde_json::from_str(
            r#"[null, true, 0, 1, 2, -1, 7, 8, 1.5, 1e300, 18446744073709551615,
                -9223372036854775808, "", "c", "p", "x", [], [1], {}, {"a": 1}]"#,
        )
        .unwrap();
        assert!(
            same_answer(body),
            "the one-pass reader reads the body itself"
        );
        let mut value: Value = serde_json::from_str(body).unwrap();
        for n in 0.. {
            let Some(node) = nth(&mut value, &mut { n }) else {
                break;
            };
            for with in &odd {
                variant(n, &|v| *v = with.clone());
            }
            let keys: Vec<String> = node
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                variant(n, &|v| drop(v.as_object_mut().unwrap().remove(&key)));
            }
            for i in 0..node.as_array().map_or(0, Vec::len) {
                variant(n, &|v| drop(v.as_array_mut().unwrap().remove(i)));
            }
        }
        for at in 0..body.len() {
            if body.is_char_boundary(at) && body.is_char_boundary(at + 1) {
                same_answer(&[&body[..at], &body[at + 1..]].concat());
            }
        }
    }

    #[test]
    fn at_the_depth_limit_the_reference_reader_has_the_last_word() {
        // A custom event's props nested ever deeper: the one-pass reader gives up one level
        // before `explain` (which reads the events on their own), and `parse` falls back.
        let body = |depth: usize| {
            format!(
                r#"{{"v":2,"site":"s","batch":"b","sent":1,"vid":"v","sid":"s","urls":["/"],
                "events":[[0,0,"t","n",{{"a":{}{}}}]]}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let split: Vec<usize> = (100..140)
            .filter(|&d| read(body(d).as_bytes()).is_none() && explain(body(d).as_bytes()).is_ok())
            .collect();
        assert_eq!(split.len(), 1, "{split:?}");
        assert!(parse(body(split[0]).as_bytes()).is_ok());
        assert!(parse(body(split[0] - 1).as_bytes()).is_ok());
        assert!(parse(body(split[0] + 1).as_bytes()).is_err());
    }

    #[test]
    fn the_readers_agree_on_v1() {
        assert_readers_agree(SAMPLE);
        // A row among v1 events is refused by both.
        let mixed = SAMPLE.replacen("\"events\":[", "\"events\":[[0,0,\"p\",\"Mug\",\"\"],", 1);
        assert!(!same_answer(&mixed));
    }

    #[test]
    fn parses_every_kind_and_ignores_unknown_fields() {
        let batch: Batch = serde_json::from_str(SAMPLE).unwrap();
        let kinds: Vec<_> = batch.events.iter().map(|e| e.data.kind()).collect();
        assert_eq!(
            kinds,
            ["pageview", "click", "scroll", "dwell", "custom", "error"]
        );
        match &batch.events[1].data {
            EventData::Click(c) => {
                assert_eq!((c.x, c.y, c.yr), (0.42, 1350.0, 0.61));
                assert_eq!(c.sel, "main>button");
                assert_eq!(c.href, None);
            }
            other => panic!("expected a click, got {other:?}"),
        }
        assert_eq!(batch.ctx.vw, 1280);
    }

    #[test]
    fn explains_which_field_of_an_event_is_wrong() {
        let explain = |v: Value| explain_event_error(&v).map(|(path, _)| path);
        let click =
            serde_json::json!({"id":"e","k":"click","ts":1,"url":"/","x":0.1,"y":2,"yr":0.3});
        assert_eq!(explain(click.clone()), None);
        let mut bad = click.clone();
        bad["x"] = "left".into();
        assert_eq!(explain(bad), Some("x".into()));
        let mut bad = click.clone();
        bad["ts"] = "now".into();
        assert_eq!(explain(bad), Some("ts".into()));
        let mut bad = click;
        bad["k"] = "teleport".into();
        assert_eq!(explain(bad), Some("k".into()));
        let custom =
            serde_json::json!({"id":"e","k":"custom","ts":1,"url":"/","name":"n","props":[1]});
        assert_eq!(explain(custom), Some("props".into()));
    }

    #[test]
    fn round_trips_through_json() {
        let batch: Batch = serde_json::from_str(SAMPLE).unwrap();
        let again: Batch = serde_json::from_str(&serde_json::to_string(&batch).unwrap()).unwrap();
        assert_eq!(batch, again);
    }

    #[test]
    fn rejects_an_unknown_kind() {
        let err = serde_json::from_str::<Event>(r#"{"id":"e","k":"teleport","ts":1,"url":"/"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("teleport"), "{err}");
    }
}
