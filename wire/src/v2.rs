//! Version 2 of the wire format: the same batch as v1 with its events as positional rows, which
//! is what the tracker sends. A click costs a third of its v1 bytes: no field names, no event
//! id (derived from the batch id and the row's place in it, which a resend keeps), times
//! relative to the batch, the page's URL once per batch, shares as integers.
//!
//! ```text
//! {"v":2, "site", "batch", "sent", "vid", "sid", "uid"?, "dropped"?, "ctx",
//!  "t0": ms since the epoch, "urls": ["/path?query", …],
//!  "events": [[dt, u, kind, fields…], …]}
//! ```
//! `dt`: ms since `t0` (may be negative: the client clock moved). `u`: index into `urls`.
//! `kind` and its fields, in order (a trailing field marked `?` may be left out):
//!
//! | kind | v1 kind | fields |
//! |---|---|---|
//! | `"p"` | pageview | title, ref |
//! | `"c"` | click | x‱, y px, yr‱, ex‱, ey‱, sel, txt, flags (1 out, 2 rage, 4 dead), tag?, href? |
//! | `"s"` | scroll | max‱, [marks] |
//! | `"d"` | dwell | engaged_ms, visible_ms, total_ms |
//! | `"t"` | custom | name, {props} |
//! | `"e"` | error | msg, src, line, col |
//!
//! ‱: a share of 0..=1 as an integer in ten-thousandths. A click's `tag` is left out or `""`
//! when it is the tag of the selector's last step (see [`implied_tag`]). Elements past the
//! last field are ignored, so a newer tracker may append fields. Event `i` of batch `B` has
//! the id `B-i`.

use serde::de::{self, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::{Click, Custom, Dwell, ErrorEvent, Event, EventData, Invalid, Pageview, Scroll};

/// The denominator of the shares on the wire.
pub const SHARE_SCALE: f64 = 10_000.0;

/// The tag a selector's last step names — its leading letters, digits and `-`
/// (`main>a:nth-of-type(2)` → `a`) — or `""` when it names none (`#cart`, an empty selector).
pub fn implied_tag(sel: &str) -> &str {
    let last = sel.rsplit('>').next().unwrap_or_default();
    let end = last
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(last.len());
    &last[..end]
}

/// The id of event `index` of batch `batch`. Written digit by digit: `format!`, once per
/// event, stood out in the Worker's profile.
pub fn event_id(batch: &str, index: usize) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = index;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut id = String::with_capacity(batch.len() + 1 + digits.len() - at);
    id.push_str(batch);
    id.push('-');
    id.extend(digits[at..].iter().map(|&d| char::from(d)));
    id
}

/// A row read in the same pass as its batch's head (see [`crate::parse`]): its fields typed,
/// waiting for the batch's id, `t0` and `urls` — which may come after the rows — to become an
/// [`Event`]. What it accepts is what [`events`] accepts (tested).
pub(crate) struct Row {
    dt: i64,
    url: u64,
    data: EventData,
}

impl Row {
    pub(crate) fn read<'de, A: SeqAccess<'de>>(seq: A) -> Result<Row, A::Error> {
        let mut f = Fields { seq, ended: false };
        let (dt, url) = (f.need()?, f.need()?);
        let data = match f.need()? {
            Kind::Pageview => EventData::Pageview(Pageview {
                title: f.need()?,
                referrer: f.need()?,
            }),
            Kind::Click => {
                let (x, y, yr, ex, ey): (f64, f64, f64, f64, f64) =
                    (f.need()?, f.need()?, f.need()?, f.need()?, f.need()?);
                let (sel, txt, flags): (String, String, u64) = (f.need()?, f.need()?, f.need()?);
                if flags > 7 {
                    return Err(de::Error::custom("flags out of range"));
                }
                let tag = match f.optional()? {
                    Some(tag) if !tag.is_empty() => tag,
                    _ => implied_tag(&sel).to_owned(),
                };
                EventData::Click(Click {
                    x: x / SHARE_SCALE,
                    y,
                    yr: yr / SHARE_SCALE,
                    ex: ex / SHARE_SCALE,
                    ey: ey / SHARE_SCALE,
                    href: f.optional()?,
                    out: flags & 1 != 0,
                    rage: flags & 2 != 0,
                    dead: flags & 4 != 0,
                    sel,
                    tag,
                    txt,
                })
            }
            Kind::Scroll => EventData::Scroll(Scroll {
                max: f.need::<f64>()? / SHARE_SCALE,
                marks: f.need()?,
            }),
            Kind::Dwell => EventData::Dwell(Dwell {
                engaged_ms: f.need()?,
                visible_ms: f.need()?,
                total_ms: f.need()?,
            }),
            Kind::Custom => EventData::Custom(Custom {
                name: f.need()?,
                props: f.need()?,
            }),
            Kind::Error => EventData::Error(ErrorEvent {
                msg: f.need()?,
                src: f.need()?,
                line: f.need()?,
                col: f.need()?,
            }),
        };
        // Elements past the last field are a newer tracker's: skipped, but read as values, so
        // that what is refused there (a number out of range, a lone surrogate, too deep a
        // nesting) is refused as by `events`.
        while f.maybe::<Value>()?.is_some() {}
        Ok(Row { dt, url, data })
    }

    pub(crate) fn event(
        self,
        batch: &str,
        t0: i64,
        urls: &[String],
        index: usize,
    ) -> Option<Event> {
        Some(Event {
            id: event_id(batch, index),
            ts: t0.checked_add(self.dt)?,
            url: urls.get(usize::try_from(self.url).ok()?)?.clone(),
            data: self.data,
        })
    }
}

/// A row's elements in order; a trailing one may be missing.
struct Fields<A> {
    seq: A,
    ended: bool,
}

impl<'de, A: SeqAccess<'de>> Fields<A> {
    fn maybe<T: Deserialize<'de>>(&mut self) -> Result<Option<T>, A::Error> {
        if self.ended {
            return Ok(None);
        }
        let next = self.seq.next_element()?;
        self.ended = next.is_none();
        Ok(next)
    }

    fn need<T: Deserialize<'de>>(&mut self) -> Result<T, A::Error> {
        self.maybe()?
            .ok_or_else(|| de::Error::custom("a field is missing"))
    }

    /// A trailing text field: missing or `null` are both `None`.
    fn optional(&mut self) -> Result<Option<String>, A::Error> {
        Ok(self.maybe::<Option<String>>()?.flatten())
    }
}

/// A row's kind, from its one-letter code (escaped or not).
enum Kind {
    Pageview,
    Click,
    Scroll,
    Dwell,
    Custom,
    Error,
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Code;
        impl Visitor<'_> for Code {
            type Value = Kind;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event kind (p, c, s, d, t or e)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Kind, E> {
                Ok(match s {
                    "p" => Kind::Pageview,
                    "c" => Kind::Click,
                    "s" => Kind::Scroll,
                    "d" => Kind::Dwell,
                    "t" => Kind::Custom,
                    "e" => Kind::Error,
                    _ => return Err(E::custom("unknown event kind")),
                })
            }
        }
        d.deserialize_str(Code)
    }
}

/// Reads the rows of a v2 batch as v1 events.
pub(crate) fn events(
    batch: &str,
    t0: i64,
    urls: &[String],
    rows: &str,
) -> Result<Vec<Event>, Invalid> {
    let mut rows: Vec<Value> = serde_json::from_str(rows)
        .map_err(|_| Invalid::new("events", "must be an array of event rows"))?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter_mut().enumerate() {
        let Value::Array(fields) = row else {
            return Err(Invalid::new(
                format!("events[{i}]"),
                "must be an array (an event row)",
            ));
        };
        out.push(event(batch, t0, urls, i, fields)?);
    }
    Ok(out)
}

/// One row's fields, read by position and named in errors by their v1 names. Strings are
/// moved out, not copied: each field is read once.
struct ValueRow<'a> {
    index: usize,
    fields: &'a mut [Value],
}

impl ValueRow<'_> {
    fn invalid(&self, name: &str, reason: &str) -> Invalid {
        Invalid::new(format!("events[{}].{name}", self.index), reason)
    }

    fn get(&self, at: usize, name: &str) -> Result<&Value, Invalid> {
        self.fields
            .get(at)
            .ok_or_else(|| self.invalid(name, "missing"))
    }

    fn int(&self, at: usize, name: &str) -> Result<i64, Invalid> {
        self.get(at, name)?
            .as_i64()
            .ok_or_else(|| self.invalid(name, "must be an integer"))
    }

    fn uint(&self, at: usize, name: &str) -> Result<u64, Invalid> {
        self.get(at, name)?
            .as_u64()
            .ok_or_else(|| self.invalid(name, "must be an integer ≥ 0"))
    }

    fn small(&self, at: usize, name: &str) -> Result<u32, Invalid> {
        u32::try_from(self.uint(at, name)?).map_err(|_| self.invalid(name, "too large"))
    }

    fn number(&self, at: usize, name: &str) -> Result<f64, Invalid> {
        self.get(at, name)?
            .as_f64()
            .ok_or_else(|| self.invalid(name, "must be a number"))
    }

    /// A share sent in ten-thousandths; its range is the validator's to judge.
    fn share(&self, at: usize, name: &str) -> Result<f64, Invalid> {
        Ok(self.number(at, name)? / SHARE_SCALE)
    }

    fn str(&self, at: usize, name: &str) -> Result<&str, Invalid> {
        self.get(at, name)?
            .as_str()
            .ok_or_else(|| self.invalid(name, "must be a string"))
    }

    fn text(&mut self, at: usize, name: &str) -> Result<String, Invalid> {
        match self.fields.get_mut(at) {
            Some(Value::String(s)) => Ok(std::mem::take(s)),
            Some(_) => Err(self.invalid(name, "must be a string")),
            None => Err(self.invalid(name, "missing")),
        }
    }

    /// A trailing field that may be left out (or `null`).
    fn optional_text(&mut self, at: usize, name: &str) -> Result<Option<String>, Invalid> {
        match self.fields.get(at) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.text(at, name).map(Some),
        }
    }
}

fn event(
    batch: &str,
    t0: i64,
    urls: &[String],
    index: usize,
    fields: &mut [Value],
) -> Result<Event, Invalid> {
    let mut row = ValueRow { index, fields };
    let ts = t0
        .checked_add(row.int(0, "ts")?)
        .ok_or_else(|| row.invalid("ts", "out of range"))?;
    let url = usize::try_from(row.uint(1, "url")?)
        .ok()
        .and_then(|u| urls.get(u))
        .ok_or_else(|| row.invalid("url", "must be an index into urls"))?
        .clone();
    let data = match row.str(2, "k")? {
        "p" => EventData::Pageview(Pageview {
            title: row.text(3, "title")?,
            referrer: row.text(4, "ref")?,
        }),
        "c" => {
            let sel = row.text(8, "sel")?;
            let flags = row.uint(10, "flags")?;
            if flags > 7 {
                return Err(row.invalid("flags", "must be a sum of 1 (out), 2 (rage), 4 (dead)"));
            }
            let tag = match row.optional_text(11, "tag")? {
                Some(tag) if !tag.is_empty() => tag,
                _ => implied_tag(&sel).to_owned(),
            };
            EventData::Click(Click {
                x: row.share(3, "x")?,
                y: row.number(4, "y")?,
                yr: row.share(5, "yr")?,
                ex: row.share(6, "ex")?,
                ey: row.share(7, "ey")?,
                txt: row.text(9, "txt")?,
                href: row.optional_text(12, "href")?,
                out: flags & 1 != 0,
                rage: flags & 2 != 0,
                dead: flags & 4 != 0,
                sel,
                tag,
            })
        }
        "s" => {
            let marks = match row.get(4, "marks")? {
                Value::Array(marks) => marks
                    .iter()
                    .map(|m| m.as_u64().and_then(|m| u8::try_from(m).ok()))
                    .collect::<Option<Vec<u8>>>(),
                _ => None,
            };
            EventData::Scroll(Scroll {
                max: row.share(3, "max")?,
                marks: marks
                    .ok_or_else(|| row.invalid("marks", "must be an array of percentages"))?,
            })
        }
        "d" => EventData::Dwell(Dwell {
            engaged_ms: row.uint(3, "engaged_ms")?,
            visible_ms: row.uint(4, "visible_ms")?,
            total_ms: row.uint(5, "total_ms")?,
        }),
        "t" => EventData::Custom(Custom {
            name: row.text(3, "name")?,
            props: match row.fields.get_mut(4).map(Value::take) {
                Some(Value::Object(props)) => props,
                Some(_) => return Err(row.invalid("props", "must be an object")),
                None => return Err(row.invalid("props", "missing")),
            },
        }),
        "e" => EventData::Error(ErrorEvent {
            msg: row.text(3, "msg")?,
            src: row.text(4, "src")?,
            line: row.small(5, "line")?,
            col: row.small(6, "col")?,
        }),
        _ => return Err(row.invalid("k", "unknown event kind (p, c, s, d, t or e)")),
    };
    Ok(Event {
        id: event_id(batch, index),
        ts,
        url,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse, Batch};

    #[test]
    fn event_ids_are_the_batch_id_and_the_row() {
        for i in [0, 7, 10, 499, 1_000_000, usize::MAX] {
            assert_eq!(event_id("b1", i), format!("b1-{i}"));
        }
    }

    const SAMPLE: &str = r##"{"v":2,"site":"demo","batch":"b1","sent":1763791200000,"vid":"v1","sid":"s1",
      "ctx":{"vw":1280,"vh":720,"dpr":1,"lang":"en-US"},"t0":1763791190000,"urls":["/products/11","/"],
      "events":[
       [0,0,"p","Mug",""],
       [1000,0,"c",4200,1350,6100,5000,3100,"main>button","Add to cart",0],
       [1500,0,"c",4200,1350,6100,5000,3100,"#buy","Buy",6,"button","/cart",[9]],
       [-2,1,"s",8300,[25,50,75]],
       [3,1,"d",12345,40000,45000],
       [4,1,"t","cart_add",{"product":"11"}],
       [5,1,"e","boom","app.js",1,2]
      ]}"##;

    fn parsed() -> Batch {
        parse(SAMPLE.as_bytes()).unwrap()
    }

    #[test]
    fn reads_every_kind_as_the_v1_event() {
        let b = parsed();
        assert_eq!(b.v, crate::VERSION);
        let kinds: Vec<_> = b.events.iter().map(|e| e.data.kind()).collect();
        assert_eq!(
            kinds,
            ["pageview", "click", "click", "scroll", "dwell", "custom", "error"]
        );
        let ids: Vec<_> = b.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            ["b1-0", "b1-1", "b1-2", "b1-3", "b1-4", "b1-5", "b1-6"]
        );
        let e = &b.events[1];
        assert_eq!((e.ts, e.url.as_str()), (1763791191000, "/products/11"));
        assert_eq!(
            e.data,
            EventData::Click(Click {
                x: 0.42,
                y: 1350.0,
                yr: 0.61,
                sel: "main>button".into(),
                ex: 0.5,
                ey: 0.31,
                tag: "button".into(),
                txt: "Add to cart".into(),
                href: None,
                out: false,
                rage: false,
                dead: false,
            })
        );
        let EventData::Click(c) = &b.events[2].data else {
            panic!()
        };
        assert_eq!(
            (c.tag.as_str(), c.href.as_deref(), c.out, c.rage, c.dead),
            ("button", Some("/cart"), false, true, true),
            "an explicit tag, a link, flags; a field past the last ignored"
        );
        assert_eq!(
            (b.events[3].ts, b.events[3].url.as_str()),
            (1763791189998, "/")
        );
        assert_eq!(
            b.events[3].data,
            EventData::Scroll(Scroll {
                max: 0.83,
                marks: vec![25, 50, 75]
            })
        );
        assert_eq!(
            b.events[4].data,
            EventData::Dwell(Dwell {
                engaged_ms: 12345,
                visible_ms: 40000,
                total_ms: 45000
            })
        );
        let EventData::Custom(c) = &b.events[5].data else {
            panic!()
        };
        assert_eq!(
            (c.name.as_str(), c.props["product"].as_str()),
            ("cart_add", Some("11"))
        );
        assert_eq!(
            b.events[6].data,
            EventData::Error(ErrorEvent {
                msg: "boom".into(),
                src: "app.js".into(),
                line: 1,
                col: 2
            })
        );
    }

    #[test]
    fn the_readers_agree_on_v2() {
        use crate::tests::{assert_readers_agree, same_answer};
        assert_readers_agree(SAMPLE);
        // A row with a link but no tag.
        assert_readers_agree(&SAMPLE.replacen("6,\"button\"", "6,null", 1));
        // A kind escaped: read in one pass all the same.
        let escaped = SAMPLE.replacen("\"c\"", "\"\\u0063\"", 1);
        assert!(same_answer(&escaped));
        assert_eq!(parse(escaped.as_bytes()), Ok(parsed()));
        // What a text variant of a `Value` cannot hold, past a row's last field, and a v1
        // event among rows: refused by both.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for extra in ["1e400", "-1e400", "\"\\ud800\"", &deep] {
            let body = SAMPLE.replacen("\"Mug\",\"\"]", &format!("\"Mug\",\"\",{extra}]"), 1);
            assert_ne!(body, SAMPLE);
            assert!(!same_answer(&body), "{extra}");
        }
        let mixed = SAMPLE.replacen("\"events\":[", "\"events\":[{\"id\":\"e\",\"k\":\"dwell\",\"ts\":1,\"url\":\"/\",\"engaged_ms\":1,\"visible_ms\":1,\"total_ms\":1},", 1);
        assert_ne!(mixed, SAMPLE);
        assert!(!same_answer(&mixed));
    }

    #[test]
    fn the_tag_is_implied_by_the_selectors_last_step() {
        assert_eq!(implied_tag("main>div:nth-of-type(2)>a"), "a");
        assert_eq!(implied_tag("main>a:nth-of-type(3)"), "a");
        assert_eq!(implied_tag("button"), "button");
        assert_eq!(implied_tag("#cart>button"), "button");
        assert_eq!(implied_tag("#cart"), "");
        assert_eq!(implied_tag("x-card.big"), "x-card");
        assert_eq!(implied_tag(""), "");
    }

    #[test]
    fn names_the_bad_field_by_its_v1_name() {
        let field = |from: &str, to: &str| {
            let body = SAMPLE.replacen(from, to, 1);
            assert_ne!(body, SAMPLE, "{from} not in the sample");
            parse(body.as_bytes()).unwrap_err().field
        };
        assert_eq!(field("4200,1350", "\"left\",1350"), "events[1].x");
        assert_eq!(field("[1000,0,", "[1000,7,"), "events[1].url");
        assert_eq!(field("[1000,0,", "[\"now\",0,"), "events[1].ts");
        assert_eq!(field("\"p\"", "\"q\""), "events[0].k");
        assert_eq!(
            field("[0,0,\"p\",\"Mug\",\"\"]", "[0,0,\"p\",\"Mug\"]"),
            "events[0].ref"
        );
        assert_eq!(field(",6,\"button\"", ",8,\"button\""), "events[2].flags");
        assert_eq!(field("[25,50,75]", "[25,\"x\"]"), "events[3].marks");
        assert_eq!(field("-2,1,", "-2,-1,"), "events[3].url");
        assert_eq!(field("{\"product\":\"11\"}", "[1]"), "events[5].props");
        assert_eq!(field("1,2]", "1,-2]"), "events[6].col");
        assert_eq!(
            field("[0,0,\"p\",\"Mug\",\"\"]", "{\"k\":\"pageview\"}"),
            "events[0]"
        );
        assert_eq!(field("\"events\":[", "\"events\":{\"a\":["), "body");
        assert_eq!(field("\"t0\":1763791190000", "\"t0\":\"soon\""), "t0");
        assert_eq!(field("\"v\":2", "\"v\":3"), "v");
    }
}
