//! The events the tracker records, and their encoding in the v1 wire format (see the `wire`
//! crate, which the tests use to parse what is written here).

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
    Pageview { title: String, referrer: String },
    Click(Click),
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
    pub rage: bool,
    pub dead: bool,
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
            .str(&self.url);
        match &self.kind {
            Kind::Pageview { title, referrer } => {
                j.key("k")
                    .str("pageview")
                    .key("title")
                    .str(title)
                    .key("ref")
                    .str(referrer);
            }
            Kind::Click(c) => {
                j.key("k")
                    .str("click")
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
                    .str(&c.txt)
                    .key("href")
                    .opt_str(c.href.as_deref())
                    .key("rage")
                    .bool(c.rage)
                    .key("dead")
                    .bool(c.dead);
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

    fn parse(e: &Event) -> wire::Event {
        serde_json::from_str(&e.encode()).unwrap()
    }

    #[test]
    fn a_pageview_parses_as_the_wire_format() {
        let e = Event {
            id: "e1".into(),
            ts: 1_763_791_190_000,
            url: "/products/11?x=\"1\"".into(),
            kind: Kind::Pageview {
                title: "Mug — DE Shop".into(),
                referrer: "https://example.com/".into(),
            },
        };
        let w = parse(&e);
        assert_eq!(
            (w.id.as_str(), w.ts, w.url.as_str()),
            ("e1", e.ts, e.url.as_str())
        );
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
        let e = Event {
            id: "e2".into(),
            ts: 5,
            url: "/".into(),
            kind: Kind::Click(Click {
                x: 0.123456,
                y: 1350.4,
                yr: 0.61,
                sel: "main>button.buy".into(),
                ex: 0.5,
                ey: 1.0,
                tag: "button".into(),
                txt: "Add to cart".into(),
                href: None,
                rage: true,
                dead: false,
            }),
        };
        let EventData::Click(c) = parse(&e).data else {
            panic!("not a click")
        };
        assert_eq!(
            (c.x, c.y, c.yr, c.ex, c.ey),
            (0.1235, 1350.0, 0.61, 0.5, 1.0)
        );
        assert_eq!(
            (c.sel.as_str(), c.tag.as_str()),
            ("main>button.buy", "button")
        );
        assert_eq!(
            (c.txt.as_str(), c.href, c.rage, c.dead),
            ("Add to cart", None, true, false)
        );
    }
}
