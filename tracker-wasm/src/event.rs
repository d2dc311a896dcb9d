//! The events the tracker records, and their encoding as rows of the v2 wire format (see the
//! `wire` crate's `v2` module, which the tests use to read what is written here).

use alloc::string::String;
use alloc::vec::Vec;

use crate::dwell::Report;
use crate::json::{cut, Json};
use crate::selector;

/// Shares (0..1) go on the wire as integers in ten-thousandths: 1/10,000 of a 4K-wide page is
/// well under a pixel.
const SHARE_SCALE: f64 = 10_000.0;

/// An event's place in its batch (its id, its time and URL) is written when it is sealed into
/// one; see [`Event::fields`].
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
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

/// A share as ten-thousandths, a px offset as whole px (clicks' numbers are finite and ≥ 0).
fn scaled(value: f64, scale: f64) -> i64 {
    (value * scale + 0.5) as i64
}

impl Event {
    /// The event's row without its time and URL: the kind and its fields, comma-separated.
    pub fn fields(&self) -> String {
        let mut j = Json::new();
        match &self.kind {
            Kind::Pageview { title, referrer } => {
                j.str("p").str(title).str(referrer);
            }
            Kind::Click(c) => {
                j.str("c")
                    .int(scaled(c.x, SHARE_SCALE))
                    .int(scaled(c.y, 1.0))
                    .int(scaled(c.yr, SHARE_SCALE))
                    .int(scaled(c.ex, SHARE_SCALE))
                    .int(scaled(c.ey, SHARE_SCALE))
                    .str(&c.sel)
                    .str(&c.txt)
                    .int(i64::from(c.out) | i64::from(c.rage) << 1 | i64::from(c.dead) << 2);
                // Trailing and optional: most tags are the selector's own, most clicks on no link.
                let tag = if c.tag == selector::last_tag(&c.sel) {
                    ""
                } else {
                    &c.tag
                };
                if let Some(href) = &c.href {
                    j.str(tag).str(href);
                } else if !tag.is_empty() {
                    j.str(tag);
                }
            }
            Kind::Scroll { max, marks } => {
                j.str("s").int(scaled(*max, SHARE_SCALE)).begin_array();
                for m in marks {
                    j.int(i64::from(*m));
                }
                j.end_array();
            }
            Kind::Dwell(r) => {
                j.str("d")
                    .int(r.engaged_ms as i64)
                    .int(r.visible_ms as i64)
                    .int(r.total_ms as i64);
            }
            Kind::Custom { name, props } => {
                j.str("t").str(name).raw(props);
            }
            Kind::Error {
                msg,
                src,
                line,
                col,
            } => {
                j.str("e")
                    .str(cut(msg, MAX_ERROR_TEXT))
                    .str(cut(src, MAX_ERROR_TEXT))
                    .int(i64::from(*line))
                    .int(i64::from(*col));
            }
        }
        j.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::EventData;

    /// The event as the collector reads it: its row in a batch of its own.
    fn read(kind: Kind) -> wire::Event {
        let e = Event {
            ts: 1_763_791_190_000,
            url: "/products/11?x=\"1\"".into(),
            kind,
        };
        let body = [
            r#"{"v":2,"site":"s","batch":"b","sent":1,"vid":"v","sid":"s","t0":1763791190000,"#,
            r#""urls":["/products/11?x=\"1\""],"events":[[0,0,"#,
            &e.fields(),
            "]]}",
        ]
        .concat();
        let mut b = wire::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {body}"));
        let w = b.events.remove(0);
        assert_eq!((w.ts, w.url.as_str()), (e.ts, e.url.as_str()));
        w
    }

    fn click(kind: Click) -> wire::Click {
        match read(Kind::Click(kind)).data {
            EventData::Click(c) => c,
            other => panic!("not a click: {other:?}"),
        }
    }

    #[test]
    fn a_pageview_reads_as_the_wire_format() {
        let w = read(Kind::Pageview {
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
    fn a_click_reads_as_the_wire_format() {
        let c = click(Click {
            x: 0.123456,
            y: 1350.4,
            yr: 0.61,
            sel: "#docs".into(),
            ex: 0.5,
            ey: 1.0,
            tag: "a".into(),
            txt: "Docs".into(),
            href: Some("https://docs.example/".into()),
            out: true,
            rage: true,
            dead: false,
        });
        assert_eq!(
            (c.x, c.y, c.yr, c.ex, c.ey),
            (0.1235, 1350.0, 0.61, 0.5, 1.0)
        );
        assert_eq!(
            (c.sel.as_str(), c.tag.as_str(), c.txt.as_str()),
            ("#docs", "a", "Docs")
        );
        assert_eq!(
            (c.href.as_deref(), c.out, c.rage, c.dead),
            (Some("https://docs.example/"), true, true, false)
        );
    }

    #[test]
    fn a_plain_click_leaves_out_its_tag_and_link() {
        let plain = Click {
            sel: "main>h1".into(),
            tag: "h1".into(),
            dead: true,
            ..Click::default()
        };
        let e = Event {
            ts: 1,
            url: "/".into(),
            kind: Kind::Click(plain.clone()),
        };
        assert_eq!(e.fields(), r#""c",0,0,0,0,0,"main>h1","",4"#);
        let c = click(plain);
        assert_eq!(
            (c.tag.as_str(), c.href, c.out, c.rage, c.dead),
            ("h1", None, false, false, true)
        );
        // A link whose tag is the selector's: the tag's place is kept empty.
        let link = click(Click {
            sel: "nav>a:nth-of-type(2)".into(),
            tag: "a".into(),
            href: Some("/cart".into()),
            ..Click::default()
        });
        assert_eq!(
            (link.tag.as_str(), link.href.as_deref()),
            ("a", Some("/cart"))
        );
    }

    #[test]
    fn scroll_dwell_custom_and_error_read_as_the_wire_format() {
        let w = read(Kind::Scroll {
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
        let w = read(Kind::Dwell(Report {
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
        let w = read(Kind::Custom {
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
        let w = read(Kind::Error {
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
