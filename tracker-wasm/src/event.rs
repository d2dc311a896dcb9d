//! The events the tracker records, and their encoding in the v1 wire format (see the `wire`
//! crate, which the tests use to parse what is written here).

use alloc::string::String;
use alloc::vec::Vec;

use crate::dwell::Report;
use crate::json::Json;

/// Decimal places for shares (0..1): 1/10,000 of a 4K-wide page is well under a pixel.
const SHARE_DECIMALS: u32 = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    /// Client clock, ms since the Unix epoch.
    pub ts: i64,
    /// Path and query of the page.
    pub url: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Pageview {
        title: String,
        referrer: String,
    },
    Click(Click),
    Scroll {
        max: f64,
        marks: Vec<u8>,
    },
    Dwell(Report),
    /// `props` is an encoded JSON object (see `props::encode`).
    Custom {
        name: String,
        props: String,
    },
    Error {
        msg: String,
        src: String,
        line: u32,
        col: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Click {
    /// Share of the document width.
    pub x: f64,
    /// Document y in CSS px.
    pub y: f64,
    /// Share of the document height.
    pub yr: f64,
    pub sel: String,
    /// Point inside the target's box, as shares of its width and height.
    pub ex: f64,
    pub ey: f64,
    pub tag: String,
    pub txt: String,
    pub href: Option<String>,
    pub out: bool,
    pub rage: bool,
    pub dead: bool,
}

/// Longest error message or source sent (the collector's bound is larger).
const MAX_ERROR_TEXT: usize = 1000;

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

impl Event {
    /// The event as one JSON object.
    pub fn encode(&self) -> String {
        let mut j = Json::new();
        j.begin_object()
            .key("id")
            .str(&self.id)
            .key("ts")
            .int(self.ts)
            .key("url")
            .str(&self.url)
            .key("k");
        match &self.kind {
            Kind::Pageview { title, referrer } => {
                j.str("pageview")
                    .key("title")
                    .str(title)
                    .key("ref")
                    .str(referrer);
            }
            Kind::Click(c) => {
                j.str("click")
                    .key("x")
                    .fixed(c.x, SHARE_DECIMALS)
                    .key("y")
                    .fixed(c.y, 0)
                    .key("yr")
                    .fixed(c.yr, SHARE_DECIMALS)
                    .key("sel")
                    .str(&c.sel)
                    .key("ex")
                    .fixed(c.ex, SHARE_DECIMALS)
                    .key("ey")
                    .fixed(c.ey, SHARE_DECIMALS)
                    .key("tag")
                    .str(&c.tag)
                    .key("txt")
                    .str(&c.txt);
                // Absent means null or false on the wire: most clicks are on no link, and
                // neither rage nor dead.
                if let Some(href) = &c.href {
                    j.key("href").str(href).key("out").bool(c.out);
                }
                if c.rage {
                    j.key("rage").bool(true);
                }
                if c.dead {
                    j.key("dead").bool(true);
                }
            }
            Kind::Scroll { max, marks } => {
                j.str("scroll")
                    .key("max")
                    .fixed(*max, SHARE_DECIMALS)
                    .key("marks")
                    .begin_array();
                for m in marks {
                    j.int(i64::from(*m));
                }
                j.end_array();
            }
            Kind::Dwell(r) => {
                j.str("dwell")
                    .key("engaged_ms")
                    .int(r.engaged_ms as i64)
                    .key("visible_ms")
                    .int(r.visible_ms as i64)
                    .key("total_ms")
                    .int(r.total_ms as i64);
            }
            Kind::Custom { name, props } => {
                j.str("custom")
                    .key("name")
                    .str(name)
                    .key("props")
                    .raw(props);
            }
            Kind::Error {
                msg,
                src,
                line,
                col,
            } => {
                j.str("error")
                    .key("msg")
                    .str(cut(msg, MAX_ERROR_TEXT))
                    .key("src")
                    .str(cut(src, MAX_ERROR_TEXT))
                    .key("line")
                    .int(i64::from(*line))
                    .key("col")
                    .int(i64::from(*col));
            }
        }
        j.end_object();
        j.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::EventData;

    fn parse(kind: Kind) -> wire::Event {
        let e = Event {
            id: "e1".into(),
            ts: 1_763_791_190_000,
            url: "/products/11?x=\"1\"".into(),
            kind,
        };
        let w: wire::Event = serde_json::from_str(&e.encode()).unwrap();
        assert_eq!(
            (w.id.as_str(), w.ts, w.url.as_str()),
            ("e1", e.ts, e.url.as_str())
        );
        w
    }

    #[test]
    fn a_pageview_parses_as_the_wire_format() {
        let w = parse(Kind::Pageview {
            title: "Mug — DE Shop".into(),
            referrer: "https://example.com/".into(),
        });
        assert_eq!(
            w.data,
            EventData::Pageview(wire::Pageview {
                title: "Mug — DE Shop".into(),
                referrer: "https://example.com/".into()
            })
        );
    }

    #[test]
    fn a_click_parses_as_the_wire_format() {
        let w = parse(Kind::Click(Click {
            x: 0.123456,
            y: 1350.4,
            yr: 0.61,
            sel: "main>button".into(),
            ex: 0.5,
            ey: 1.0,
            tag: "a".into(),
            txt: "Docs".into(),
            href: Some("https://docs.example/".into()),
            out: true,
            rage: true,
            dead: false,
        }));
        let EventData::Click(c) = w.data else {
            panic!("not a click")
        };
        assert_eq!(
            (c.x, c.y, c.yr, c.ex, c.ey),
            (0.1235, 1350.0, 0.61, 0.5, 1.0)
        );
        assert_eq!(
            (c.sel.as_str(), c.tag.as_str(), c.txt.as_str()),
            ("main>button", "a", "Docs")
        );
        assert_eq!(
            (c.href.as_deref(), c.out, c.rage, c.dead),
            (Some("https://docs.example/"), true, true, false)
        );
    }

    #[test]
    fn a_plain_click_leaves_out_what_is_null_or_false() {
        let e = Event {
            id: "e2".into(),
            ts: 1,
            url: "/".into(),
            kind: Kind::Click(Click {
                sel: "h1".into(),
                tag: "h1".into(),
                dead: true,
                ..Click::default()
            }),
        };
        let json = e.encode();
        for absent in ["href", "out", "rage"] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
        let w: wire::Event = serde_json::from_str(&json).unwrap();
        let EventData::Click(c) = w.data else {
            panic!("not a click")
        };
        assert_eq!((c.href, c.out, c.rage, c.dead), (None, false, false, true));
    }

    #[test]
    fn scroll_dwell_custom_and_error_parse_as_the_wire_format() {
        let w = parse(Kind::Scroll {
            max: 0.756,
            marks: vec![25, 50, 75],
        });
        assert_eq!(
            w.data,
            EventData::Scroll(wire::Scroll {
                max: 0.756,
                marks: vec![25, 50, 75]
            })
        );
        let w = parse(Kind::Dwell(Report {
            engaged_ms: 1,
            visible_ms: 2,
            total_ms: 3,
        }));
        assert_eq!(
            w.data,
            EventData::Dwell(wire::Dwell {
                engaged_ms: 1,
                visible_ms: 2,
                total_ms: 3
            })
        );
        let w = parse(Kind::Custom {
            name: "cart_add".into(),
            props: r#"{"product":"11"}"#.into(),
        });
        let EventData::Custom(c) = w.data else {
            panic!()
        };
        assert_eq!(
            (c.name.as_str(), c.props["product"].as_str()),
            ("cart_add", Some("11"))
        );
        let w = parse(Kind::Error {
            msg: "é".repeat(600),
            src: "app.js".into(),
            line: 3,
            col: 9,
        });
        let EventData::Error(e) = w.data else {
            panic!()
        };
        assert!(e.msg.len() <= MAX_ERROR_TEXT && e.msg.chars().all(|c| c == 'é'));
        assert_eq!((e.src.as_str(), e.line, e.col), ("app.js", 3, 9));
    }
}
