//! `POST /v1/events`: from request bytes to a validated [`Envelope`], or an error naming the
//! field. The whole batch is checked before anything is written, so a bad batch writes nothing.

use std::collections::HashSet;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use wire::{Batch, EventData};

use crate::aws::dynamodb::storable_number;
use crate::enrich::Client;
use crate::error::{Error, Result};
use crate::logs::LogBatch;

/// Largest accepted body: what a browser may send in one keepalive request.
pub const MAX_BODY: usize = 64 * 1024;
/// Most events in one batch.
pub const MAX_EVENTS: usize = 500;
/// Longest id (batch, event, visitor, session, site).
pub const MAX_ID: usize = 64;
/// Longest URL, title, referrer, selector or message.
pub const MAX_TEXT: usize = 2048;
/// Custom events: most properties, longest property name, longest string value.
pub const MAX_PROPS: usize = 25;
pub const MAX_PROP_NAME: usize = 64;
pub const MAX_PROP_VALUE: usize = 256;
/// Longest time one dwell report may cover (ms): a day.
pub const MAX_DWELL_MS: u64 = 86_400_000;
/// Oldest event accepted (a visitor's offline queue resumed days later), and how far in the
/// future an event may be after clock-skew correction.
pub const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
pub const MAX_AHEAD_MS: i64 = 60 * 1000;

/// A validated batch with what the collector knows about its arrival: the unit handed to the
/// queue and written by the consumer.
///
/// It is queued with the batch as the client sent it (`body`, v1 or v2), not re-encoded: the
/// edge spends nothing on encoding, and the message stays within the queue's 128 KB limit,
/// which a full v2 body read out as v1 can pass. The consumer reads the body again with the
/// same [`wire::parse`].
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Queued<Box<RawValue>, Client, LogBatch>")]
pub struct Envelope {
    /// Server clock (ms since the Unix epoch) when the batch arrived.
    pub received: i64,
    /// Who sent it, as far as the collector keeps it (never the raw IP).
    pub client: Client,
    pub batch: Batch,
    /// `batch` as received (inflated), for the queue.
    pub body: Box<RawValue>,
    /// The access-log record of the request that brought the batch (`LOG_REQUESTS`), written
    /// with it: one queue message per accepted batch, not two.
    pub access: Option<LogBatch>,
}

/// An envelope as queued: `batch` holds the body (earlier messages: a v1 batch, still read).
/// Owned when read, borrowed when written.
#[derive(Serialize, Deserialize)]
struct Queued<B, C, A> {
    received: i64,
    #[serde(default)]
    client: C,
    batch: B,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    access: Option<A>,
}

impl TryFrom<Queued<Box<RawValue>, Client, LogBatch>> for Envelope {
    type Error = String;

    fn try_from(q: Queued<Box<RawValue>, Client, LogBatch>) -> std::result::Result<Self, String> {
        let batch = wire::parse(q.batch.get().as_bytes())
            .map_err(|e| format!("batch: {}: {}", e.field, e.reason))?;
        Ok(Envelope {
            received: q.received,
            client: q.client,
            batch,
            body: q.batch,
            access: q.access,
        })
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Queued {
            received: self.received,
            client: &self.client,
            batch: &*self.body,
            access: self.access.as_ref(),
        }
        .serialize(s)
    }
}

impl Envelope {
    /// How far the client clock is behind the server's (negative: ahead), estimated from the
    /// batch's send stamp; network delay is small against the skews this corrects.
    pub fn skew(&self) -> i64 {
        self.received - self.batch.sent
    }
}

/// Checks the content type: the tracker sends `text/plain` (a CORS-simple request, so beacons
/// need no preflight); server-side senders may say `application/json`.
pub fn check_content_type(content_type: Option<&str>) -> Result<()> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/plain" | "application/json") => Ok(()),
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// The `z` query parameter of a request URL (`/v1/events?z=deflate`), read from the URL's
/// text: parsing the whole URL cost more than this check on every batch.
pub fn encoding_param(url: &str) -> Option<&str> {
    let url = url.split('#').next().unwrap_or_default();
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| pair.strip_prefix("z="))
}

/// How a batch body is encoded, from the request's `z` query parameter: the tracker compresses
/// what it sends by `fetch` with the browser's `CompressionStream("deflate")` (zlib format)
/// and says so in the URL, since a `Content-Encoding` header would cost a CORS preflight.
/// Returns the JSON, decompressed if need be, never more than [`MAX_BODY`] bytes of it.
pub fn decode(body: Vec<u8>, encoding: Option<&str>) -> Result<Vec<u8>> {
    use miniz_oxide::inflate::{decompress_to_vec_zlib_with_limit, TINFLStatus};
    match encoding {
        None => Ok(body),
        Some("deflate") => decompress_to_vec_zlib_with_limit(&body, MAX_BODY).map_err(|e| {
            if e.status == TINFLStatus::HasMoreOutput {
                Error::TooLarge { limit: MAX_BODY }
            } else {
                Error::invalid("body", "not valid deflate (zlib) data")
            }
        }),
        Some(_) => Err(Error::invalid("z", "the only body encoding is deflate")),
    }
}

/// Parses (v1 or v2: see the `wire` crate) and validates a request body received at `received`
/// (server ms).
pub fn parse(body: &[u8], received: i64) -> Result<Envelope> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge { limit: MAX_BODY });
    }
    let batch = wire::parse(body).map_err(|e| Error::invalid(e.field, e.reason))?;
    // Valid JSON, as it just parsed; `from_string` checks it once more (a fast pass that
    // allocates nothing) and refuses surrounding whitespace, hence the trim.
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::invalid("body", "must be UTF-8"))?
        .trim_matches([' ', '\t', '\n', '\r']);
    let body = RawValue::from_string(text.to_owned())
        .map_err(|e| Error::invalid("body", e.to_string()))?;
    let envelope = Envelope {
        received,
        client: Client::default(),
        batch,
        body,
        access: None,
    };
    validate(&envelope)?;
    Ok(envelope)
}

fn validate(env: &Envelope) -> Result<()> {
    let b = &env.batch;
    id("site", &b.site)?;
    id("batch", &b.batch)?;
    id("vid", &b.vid)?;
    id("sid", &b.sid)?;
    if let Some(uid) = &b.uid {
        if uid.is_empty() || uid.len() > 128 || uid.chars().any(char::is_control) {
            return Err(Error::invalid(
                "uid",
                "must be 1 to 128 printable characters",
            ));
        }
    }
    if b.sent <= 0 {
        return Err(Error::invalid(
            "sent",
            "must be a positive epoch time in ms",
        ));
    }
    text("ctx.lang", &b.ctx.lang)?;
    if !((0.0..=16.0).contains(&b.ctx.dpr) && storable_number(b.ctx.dpr)) {
        return Err(Error::invalid("ctx.dpr", "must be between 0 and 16"));
    }
    if b.events.is_empty() {
        return Err(Error::invalid("events", "must hold at least one event"));
    }
    if b.events.len() > MAX_EVENTS {
        return Err(Error::invalid(
            "events",
            format!("at most {MAX_EVENTS} events per batch"),
        ));
    }
    let skew = env.skew();
    let mut seen = HashSet::with_capacity(b.events.len());
    for (i, e) in b.events.iter().enumerate() {
        let at = |name| At(i, name);
        id(at("id"), &e.id)?;
        if !seen.insert(e.id.as_str()) {
            return Err(Error::invalid(at("id"), "duplicate event id in batch"));
        }
        let corrected = e.ts.saturating_add(skew);
        if e.ts <= 0 || corrected < env.received - MAX_AGE_MS {
            return Err(Error::invalid(at("ts"), "too old"));
        }
        if corrected > env.received + MAX_AHEAD_MS {
            return Err(Error::invalid(at("ts"), "in the future"));
        }
        text(at("url"), &e.url)?;
        if !e.url.starts_with('/') {
            return Err(Error::invalid(at("url"), "must be a path starting with /"));
        }
        match &e.data {
            EventData::Pageview(p) => {
                text(at("title"), &p.title)?;
                text(at("ref"), &p.referrer)?;
            }
            EventData::Click(c) => {
                for (name, v) in [("x", c.x), ("yr", c.yr), ("ex", c.ex), ("ey", c.ey)] {
                    share(at(name), v)?;
                }
                if !((0.0..=10_000_000.0).contains(&c.y) && storable_number(c.y)) {
                    return Err(Error::invalid(at("y"), "must be a document offset in px"));
                }
                text(at("sel"), &c.sel)?;
                text(at("tag"), &c.tag)?;
                text(at("txt"), &c.txt)?;
                text(at("href"), c.href.as_deref().unwrap_or_default())?;
            }
            EventData::Scroll(s) => {
                share(at("max"), s.max)?;
                if let Some(m) = s.marks.iter().find(|m| !wire::SCROLL_MARKS.contains(m)) {
                    return Err(Error::invalid(
                        at("marks"),
                        format!("{m} is not one of 25, 50, 75, 90, 100"),
                    ));
                }
            }
            EventData::Dwell(d) => {
                if d.total_ms > MAX_DWELL_MS {
                    return Err(Error::invalid(at("total_ms"), "longer than a day"));
                }
                if d.engaged_ms > d.visible_ms || d.visible_ms > d.total_ms {
                    return Err(Error::invalid(
                        at("engaged_ms"),
                        "must hold engaged_ms ≤ visible_ms ≤ total_ms",
                    ));
                }
            }
            EventData::Custom(c) => {
                if c.name.is_empty() || c.name.len() > MAX_PROP_NAME {
                    return Err(Error::invalid(
                        at("name"),
                        format!("must be 1 to {MAX_PROP_NAME} bytes"),
                    ));
                }
                props(at("props"), &c.props)?;
            }
            EventData::Error(e) => {
                text(at("msg"), &e.msg)?;
                text(at("src"), &e.src)?;
            }
        }
    }
    Ok(())
}

/// The path of an event's field, `events[i].name`, written out only when an error names it:
/// a batch has hundreds of fields, and valid ones are the rule.
#[derive(Clone, Copy)]
struct At<'a>(usize, &'a str);

impl From<At<'_>> for String {
    fn from(At(i, name): At) -> String {
        format!("events[{i}].{name}")
    }
}

/// Custom-event properties: a flat object of short strings, finite numbers and booleans.
fn props(
    field: impl Into<String> + Copy,
    props: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    use serde_json::Value;
    if props.len() > MAX_PROPS {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_PROPS} properties"),
        ));
    }
    for (name, value) in props {
        let here = || format!("{}.{name}", field.into());
        if name.is_empty() || name.len() > MAX_PROP_NAME {
            return Err(Error::invalid(
                here(),
                format!("property names must be 1 to {MAX_PROP_NAME} bytes"),
            ));
        }
        match value {
            Value::String(s) if s.len() > MAX_PROP_VALUE => {
                return Err(Error::invalid(
                    here(),
                    format!("longer than {MAX_PROP_VALUE} bytes"),
                ))
            }
            Value::Number(n) if !n.as_f64().is_some_and(storable_number) => {
                return Err(Error::invalid(
                    here(),
                    "numbers must be 0 or of magnitude 1e-130 up to 1e126",
                ))
            }
            Value::String(_) | Value::Bool(_) | Value::Number(_) | Value::Null => {}
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::invalid(
                    here(),
                    "must be a string, number or boolean",
                ))
            }
        }
    }
    Ok(())
}

fn id(field: impl Into<String>, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_ID {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_ID} bytes"),
        ));
    }
    if !value
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(Error::invalid(
            field,
            "may hold only letters, digits, - and _",
        ));
    }
    Ok(())
}

fn text(field: impl Into<String>, value: &str) -> Result<()> {
    if value.len() > MAX_TEXT {
        return Err(Error::invalid(
            field,
            format!("longer than {MAX_TEXT} bytes"),
        ));
    }
    Ok(())
}

fn share(field: impl Into<String>, value: f64) -> Result<()> {
    // Shares below DynamoDB's smallest number (1e-130) are refused too: no real one is.
    if !((0.0..=1.0).contains(&value) && storable_number(value)) {
        return Err(Error::invalid(field, "must be a share between 0 and 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const NOW: i64 = 1_763_791_200_000;

    fn batch() -> Value {
        json!({
            "v": 1, "site": "demo", "batch": "b-1", "sent": NOW, "vid": "v1", "sid": "s1",
            "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en-US"},
            "events": [
                {"id": "e1", "k": "pageview", "ts": NOW - 5000, "url": "/", "title": "Home", "ref": ""},
                {"id": "e2", "k": "click", "ts": NOW - 1000, "url": "/", "x": 0.5, "y": 200,
                 "yr": 0.1, "sel": "main>button", "ex": 0.5, "ey": 0.5, "tag": "button",
                 "txt": "Buy", "href": null, "rage": false, "dead": false}
            ]
        })
    }

    fn parse_value(v: &Value) -> Result<Envelope> {
        parse(&serde_json::to_vec(v).unwrap(), NOW)
    }

    fn rejects(mutate: impl FnOnce(&mut Value), field: &str) {
        let mut v = batch();
        mutate(&mut v);
        match parse_value(&v) {
            Err(Error::Invalid { field: f, reason }) => {
                assert_eq!(f, field, "reason: {reason}")
            }
            other => panic!("expected Invalid at {field}, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_good_batch() {
        let env = parse_value(&batch()).unwrap();
        assert_eq!(env.batch.events.len(), 2);
        assert_eq!(env.skew(), 0);
    }

    #[test]
    fn an_envelope_is_queued_with_the_body_as_sent() {
        let sent =
            "\n {\"v\":2,\"site\":\"demo\",\"batch\":\"b\",\"sent\":1763791200000,\"vid\":\"v\",\
                    \"sid\":\"s\",\"t0\":1763791199000,\"urls\":[\"/\"],\
                    \"events\":[[0,0,\"p\",\"Home\",\"\"]]}\r\n";
        let mut env = parse(sent.as_bytes(), NOW).unwrap();
        env.client.country = Some("DE".into());
        let queued = serde_json::to_string(&env).unwrap();
        assert_eq!(
            queued,
            format!(
                r#"{{"received":{NOW},"client":{},"batch":{}}}"#,
                serde_json::to_string(&env.client).unwrap(),
                sent.trim()
            )
        );
        let back: Envelope = serde_json::from_str(&queued).unwrap();
        assert_eq!((&back.batch, &back.client), (&env.batch, &env.client));
        assert_eq!(back.batch.events[0].id, "b-0");

        // A message queued before (its batch already read out as v1) is still read.
        let old = json!({"received": NOW, "batch": batch()}).to_string();
        let back: Envelope = serde_json::from_str(&old).unwrap();
        assert_eq!(back.batch, parse_value(&batch()).unwrap().batch);
        // A message whose batch does not read is an error, not a batch with less in it.
        let broken = json!({"received": NOW, "batch": {"v": 2, "site": "demo"}}).to_string();
        let err = serde_json::from_str::<Envelope>(&broken).unwrap_err();
        assert!(err.to_string().starts_with("batch: "), "{err}");
    }

    #[test]
    fn the_largest_batch_fits_one_queue_message() {
        // 500 clicks with text and a link, in a batch with a tracker's 22-character id: near
        // the 64 KB request limit. Read out as v1, each click gains its field names and id.
        let row = format!(
            r#"[900,0,"c",3100,1200,4200,5000,2500,"main>div.card:nth-of-type(3)>a","{}",1,"","https://shop.example/p"]"#,
            "t".repeat(24)
        );
        let body = format!(
            r#"{{"v":2,"site":"demo","batch":"{}","sent":{NOW},"vid":"v","sid":"s","t0":{NOW},"urls":["/"],"events":[{}]}}"#,
            "b".repeat(22),
            vec![row; MAX_EVENTS].join(",")
        );
        assert!(
            body.len() > 60 * 1024 && body.len() < MAX_BODY,
            "{}",
            body.len()
        );
        let env = parse(body.as_bytes(), NOW).unwrap();
        let as_v1 = serde_json::to_vec(&env.batch).unwrap().len();
        assert!(
            as_v1 > 128 * 1024,
            "read out as v1 it would not fit: {as_v1}"
        );
        let queued = serde_json::to_vec(&env).unwrap().len();
        assert!(queued < 128 * 1024, "{queued}");
    }

    #[test]
    fn names_the_field_of_a_type_error() {
        rejects(|v| v["events"][1]["x"] = json!("left"), "events[1].x");
        rejects(|v| v["sent"] = json!("yesterday"), "sent");
        rejects(|v| v["events"][0]["k"] = json!("teleport"), "events[0].k");
        rejects(|v| v["events"][0]["ts"] = json!(1.5), "events[0].ts");
        rejects(|v| v["ctx"]["vw"] = json!(-1), "ctx.vw");
        let field = |body: &[u8]| match parse(body, NOW) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(b"{not json"), "body");
        assert_eq!(field(b"[1]"), "body");
        assert_eq!(field(br#"{"v":1,"ctx":{oops}}"#), "ctx");
        // A whole batch and then something else is refused, saying so.
        let mut body = serde_json::to_vec(&batch()).unwrap();
        body.extend_from_slice(b" xyz");
        match parse(&body, NOW) {
            Err(Error::Invalid { field, reason }) => {
                assert_eq!(field, "body");
                assert!(reason.contains("trailing"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_v2_batch_is_read_as_v1_and_held_to_the_same_bounds() {
        let v2 = |click: Value| {
            json!({
                "v": 2, "site": "demo", "batch": "b-2", "sent": NOW, "vid": "v1", "sid": "s1",
                "ctx": {"vw": 1280, "vh": 720, "dpr": 1, "lang": "en-US"},
                "t0": NOW - 5000, "urls": ["/"],
                "events": [[0, 0, "p", "Home", ""], click]
            })
        };
        // A click row at `dt` ms after t0, at share `x` (in ten-thousandths), reading `txt`.
        let click = |dt: i64, x: i64, txt: &str| {
            let row = format!(r#"[{dt},0,"c",{x},200,1000,5000,5000,"main>button","{txt}",0]"#);
            v2(serde_json::from_str(&row).unwrap())
        };
        let env = parse_value(&click(4000, 5000, "Buy")).unwrap();
        let mut v1 = batch();
        v1["batch"] = json!("b-2");
        v1["events"][0]["id"] = json!("b-2-0");
        v1["events"][1]["id"] = json!("b-2-1");
        assert_eq!(
            env.batch,
            parse_value(&v1).unwrap().batch,
            "the same batch as v1"
        );
        let field = |v: Value| match parse_value(&v) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(click(4000, 12000, "Buy")), "events[1].x");
        assert_eq!(field(click(90_000, 5000, "Buy")), "events[1].ts");
        let text = click(0, 5000, &"t".repeat(3000));
        assert_eq!(field(text), "events[1].txt");
    }

    #[test]
    fn names_the_field_of_a_bound() {
        rejects(|v| v["v"] = json!(3), "v");
        rejects(|v| v["site"] = json!(""), "site");
        rejects(|v| v["batch"] = json!("a".repeat(65)), "batch");
        rejects(|v| v["sid"] = json!("<script>"), "sid");
        rejects(|v| v["events"] = json!([]), "events");
        rejects(|v| v["events"][1]["x"] = json!(1.5), "events[1].x");
        rejects(|v| v["events"][1]["y"] = json!(-1), "events[1].y");
        rejects(
            |v| v["events"][0]["url"] = json!("https://x/"),
            "events[0].url",
        );
        rejects(
            |v| v["events"][0]["title"] = json!("t".repeat(3000)),
            "events[0].title",
        );
        rejects(|v| v["events"][1]["id"] = json!("e1"), "events[1].id");
        rejects(|v| v["ctx"]["dpr"] = json!(100), "ctx.dpr");
        // Numbers DynamoDB cannot hold would fail every write of the batch: refused here.
        rejects(|v| v["ctx"]["dpr"] = json!(1e-200), "ctx.dpr");
        rejects(|v| v["events"][1]["y"] = json!(1e-131), "events[1].y");
        rejects(|v| v["events"][1]["ex"] = json!(1e-300), "events[1].ex");
        rejects(|v| v["uid"] = json!("a\nb"), "uid");
        rejects(|v| v["uid"] = json!("u".repeat(129)), "uid");
    }

    #[test]
    fn kind_specific_bounds() {
        let with = |event: Value| {
            move |v: &mut Value| {
                let mut e = event.clone();
                e["id"] = json!("e9");
                e["ts"] = json!(NOW - 10);
                e["url"] = json!("/");
                v["events"] = json!([e]);
            }
        };
        rejects(
            with(json!({"k": "scroll", "max": 0.5, "marks": [33]})),
            "events[0].marks",
        );
        rejects(
            with(json!({"k": "dwell", "engaged_ms": 5, "visible_ms": 1, "total_ms": 9})),
            "events[0].engaged_ms",
        );
        rejects(
            with(
                json!({"k": "dwell", "engaged_ms": 0, "visible_ms": 0, "total_ms": 90_000_000u64}),
            ),
            "events[0].total_ms",
        );
        rejects(with(json!({"k": "custom", "name": ""})), "events[0].name");
        rejects(
            with(json!({"k": "custom", "name": "n", "props": {"a": {"nested": 1}}})),
            "events[0].props.a",
        );
        rejects(
            with(json!({"k": "custom", "name": "n", "props": {"a": "x".repeat(300)}})),
            "events[0].props.a",
        );
        for n in [1e126, -1e200, 1e-131] {
            rejects(
                with(json!({"k": "custom", "name": "n", "props": {"n": n}})),
                "events[0].props.n",
            );
        }
        let many: serde_json::Map<String, Value> =
            (0..30).map(|i| (format!("p{i}"), json!(i))).collect();
        rejects(
            with(json!({"k": "custom", "name": "n", "props": many})),
            "events[0].props",
        );
        let mut ok = batch();
        with(
            json!({"k": "custom", "name": "cart_add", "props": {"product": "11", "qty": 2, "gift": false, "big": 9.9e125, "small": -1.5e-130, "zero": 0}}),
        )(&mut ok);
        assert!(parse_value(&ok).is_ok());
    }

    #[test]
    fn too_many_events_is_rejected() {
        rejects(
            |v| {
                let one = v["events"][0].clone();
                let many: Vec<Value> = (0..=MAX_EVENTS)
                    .map(|i| {
                        let mut e = one.clone();
                        e["id"] = json!(format!("e{i}"));
                        e
                    })
                    .collect();
                v["events"] = Value::Array(many);
            },
            "events",
        );
    }

    #[test]
    fn timestamps_are_judged_after_skew_correction() {
        // A client clock two hours slow: its stamps look old but are fine once corrected.
        let mut v = batch();
        let slow = 2 * 3600 * 1000;
        v["sent"] = json!(NOW - slow);
        v["events"][0]["ts"] = json!(NOW - slow - 5000);
        v["events"][1]["ts"] = json!(NOW - slow - 1000);
        assert_eq!(parse_value(&v).unwrap().skew(), slow);
        // An event stamped after its batch was sent is in the future.
        rejects(
            |v| v["events"][1]["ts"] = json!(NOW + 2 * MAX_AHEAD_MS),
            "events[1].ts",
        );
        rejects(
            |v| v["events"][0]["ts"] = json!(NOW - MAX_AGE_MS - 1),
            "events[0].ts",
        );
    }

    #[test]
    fn malformed_json_and_huge_numbers_are_400() {
        for body in [
            &b"{"[..],
            b"not json",
            b"",
            br#"{"v":1e999}"#,
            b"{\"v\":NaN}",
        ] {
            assert_eq!(parse(body, NOW).unwrap_err().status(), 400, "{body:?}");
        }
    }

    #[test]
    fn oversized_body_is_413() {
        let body = vec![b' '; MAX_BODY + 1];
        assert_eq!(parse(&body, NOW).unwrap_err().status(), 413);
    }

    #[test]
    fn the_encoding_is_read_from_the_query() {
        let z = encoding_param;
        assert_eq!(z("https://c.example/v1/events?z=deflate"), Some("deflate"));
        assert_eq!(z("https://c.example/v1/events?a=1&z=br&b"), Some("br"));
        assert_eq!(z("https://c.example/v1/events?z=#x"), Some(""));
        assert_eq!(z("https://c.example/v1/events"), None);
        assert_eq!(z("https://c.example/v1/events?zz=deflate&z"), None);
        assert_eq!(z("https://c.example/v1/events#?z=deflate"), None);
    }

    #[test]
    fn deflated_bodies_are_inflated_and_bounded() {
        use miniz_oxide::deflate::compress_to_vec_zlib;
        let json = serde_json::to_vec(&batch()).unwrap();
        let deflated = compress_to_vec_zlib(&json, 6);
        assert!(deflated.len() < json.len());
        let plain = decode(deflated, Some("deflate")).unwrap();
        assert_eq!(parse(&plain, NOW).unwrap().batch.batch, "b-1");
        assert_eq!(
            decode(json.clone(), None).unwrap(),
            json,
            "not encoded: as it came"
        );
        // A small body that inflates past the limit (a "zip bomb") stops at the limit.
        let bomb = compress_to_vec_zlib(&vec![b' '; 10 * MAX_BODY], 9);
        assert!(bomb.len() < 1024);
        assert_eq!(decode(bomb, Some("deflate")).unwrap_err().status(), 413);
        let garbage = decode(b"{\"not\": \"deflate\"}".to_vec(), Some("deflate")).unwrap_err();
        assert_eq!(
            (garbage.status(), garbage.to_string().starts_with("body:")),
            (400, true)
        );
        let unknown = decode(json, Some("br")).unwrap_err();
        assert_eq!(
            (unknown.status(), unknown.to_string().starts_with("z:")),
            (400, true)
        );
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(Some("text/plain;charset=UTF-8")).is_ok());
        assert!(check_content_type(Some("Application/JSON")).is_ok());
        for bad in [None, Some("application/x-www-form-urlencoded"), Some("")] {
            assert_eq!(check_content_type(bad).unwrap_err().status(), 415);
        }
    }
}
