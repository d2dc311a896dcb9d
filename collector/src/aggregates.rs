//! Per-batch coalescing of the counters the dashboard reads: per page and day, a click grid per
//! page, day and viewport-width bucket, and site totals. Pure: the store turns the result into
//! one guarded DynamoDB transaction, so a batch counts once however often it is delivered.

use std::borrow::Cow;
use std::collections::BTreeMap;

use wire::{EventData, SCROLL_MARKS};

use crate::clock;
use crate::ingest::Envelope;

/// Columns of the click grid (shares of the document width).
pub const GRID_COLUMNS: u32 = 20;
/// Height of a grid row in document px, and the last row (clicks further down land in it).
pub const GRID_ROW_PX: f64 = 50.0;
pub const GRID_LAST_ROW: u32 = 399;
/// Lower bounds of the viewport-width buckets (CSS px): phone, large phone, tablet, laptop,
/// desktop. Layouts reflow between them, so each gets its own grid.
pub const WIDTH_BUCKETS: [u32; 5] = [0, 480, 768, 1024, 1440];

/// Counters of one page on one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageDay {
    pub pageviews: u64,
    pub bot_pageviews: u64,
    pub clicks: u64,
    pub rage_clicks: u64,
    pub dead_clicks: u64,
    pub errors: u64,
    pub custom_events: u64,
    pub engaged_ms: u64,
    pub visible_ms: u64,
    pub total_ms: u64,
    /// Views that reached each of [`SCROLL_MARKS`].
    pub scroll_marks: [u64; SCROLL_MARKS.len()],
}

impl PageDay {
    /// The counters by attribute name, zeros left out (an `ADD` of 0 is a wasted write).
    pub fn counters(&self) -> Vec<(String, u64)> {
        let mut out = vec![
            ("pageviews".to_string(), self.pageviews),
            ("bot_pageviews".into(), self.bot_pageviews),
            ("clicks".into(), self.clicks),
            ("rage_clicks".into(), self.rage_clicks),
            ("dead_clicks".into(), self.dead_clicks),
            ("errors".into(), self.errors),
            ("custom_events".into(), self.custom_events),
            ("engaged_ms".into(), self.engaged_ms),
            ("visible_ms".into(), self.visible_ms),
            ("total_ms".into(), self.total_ms),
        ];
        for (mark, n) in SCROLL_MARKS.iter().zip(self.scroll_marks) {
            out.push((format!("scroll_{mark}"), n));
        }
        out.retain(|(_, n)| *n > 0);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageKey {
    pub path: String,
    /// UTC `yyyy-mm-dd` of the event (clock-skew corrected).
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GridKey {
    pub page: PageKey,
    /// Lower bound of the viewport-width bucket.
    pub width: u32,
}

/// Everything one batch adds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregates {
    pub pages: BTreeMap<PageKey, PageDay>,
    /// Clicks per grid cell `(column, row)`.
    pub grids: BTreeMap<GridKey, BTreeMap<(u32, u32), u64>>,
    /// Rage clicks per page and alert window start (ms), for burst alerts.
    pub rage: BTreeMap<(String, i64), u64>,
    pub pageviews: u64,
}

/// Longest page path kept, in bytes. The path is part of storage keys (`P#<path>`,
/// `H#<site>#<path>#<date>`, …), and DynamoDB refuses a sort key over 1,024 bytes and a
/// partition key over 2,048, while a URL may have 2,048 (a hash route carrying its state).
pub const MAX_PAGE_PATH: usize = 512;

/// The page a URL belongs to: its path, without query or fragment, except a fragment that is
/// a route (`#/cart`, `#!/cart`: what hash-routed apps navigate by), without its own query;
/// cut to [`MAX_PAGE_PATH`] (see [`short_path`]).
pub fn page_path(url: &str) -> Cow<'_, str> {
    match route(url) {
        Cow::Borrowed(p) => short_path(p),
        Cow::Owned(p) => match short_path(&p) {
            Cow::Borrowed(_) => Cow::Owned(p),
            Cow::Owned(short) => Cow::Owned(short),
        },
    }
}

/// `path` if it fits [`MAX_PAGE_PATH`]; otherwise its first 480 bytes (on a character), `…`,
/// and a hash of the whole, so that long paths alike in their start stay different pages.
/// Applying it again changes nothing: the read side applies it to the path it is asked for.
pub fn short_path(path: &str) -> Cow<'_, str> {
    if path.len() <= MAX_PAGE_PATH {
        return Cow::Borrowed(path);
    }
    // Room for `…` (3 bytes) and 16 hex digits, and to spare.
    let mut end = MAX_PAGE_PATH - 32;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    // FNV-1a: stable on every target and release, which a key needs; not a secret.
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Cow::Owned(format!("{}…{hash:016x}", &path[..end]))
}

fn route(url: &str) -> Cow<'_, str> {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..end];
    let Some(hash) = url.find('#') else {
        return Cow::Borrowed(path);
    };
    let fragment = &url[hash..];
    if !(fragment.starts_with("#/") || fragment.starts_with("#!/")) {
        return Cow::Borrowed(path);
    }
    let route = &fragment[..fragment.find('?').unwrap_or(fragment.len())];
    if hash == end {
        Cow::Borrowed(&url[..end + route.len()])
    } else {
        Cow::Owned([path, route].concat())
    }
}

pub fn width_bucket(viewport_width: u32) -> u32 {
    WIDTH_BUCKETS
        .iter()
        .rev()
        .find(|b| viewport_width >= **b)
        .copied()
        .unwrap_or(0)
}

/// The grid cell of a click at document share `x` and document offset `y` px.
pub fn grid_cell(x: f64, y: f64) -> (u32, u32) {
    let col = ((x * f64::from(GRID_COLUMNS)) as u32).min(GRID_COLUMNS - 1);
    let row = ((y / GRID_ROW_PX) as u32).min(GRID_LAST_ROW);
    (col, row)
}

/// Adds up one envelope. `window_ms` sizes the rage-click alert windows.
pub fn aggregate(env: &Envelope, window_ms: i64) -> Aggregates {
    let mut agg = Aggregates::default();
    let skew = env.skew();
    let width = width_bucket(env.batch.ctx.vw);
    let bot = env.client.agent.bot;
    for e in &env.batch.events {
        let at = e.ts.saturating_add(skew);
        let path = page_path(&e.url).into_owned();
        let key = PageKey {
            path: path.clone(),
            date: clock::utc_date_hour(at).0,
        };
        let page = agg.pages.entry(key.clone()).or_default();
        match &e.data {
            EventData::Pageview(_) => {
                page.pageviews += 1;
                page.bot_pageviews += u64::from(bot);
                agg.pageviews += 1;
            }
            EventData::Click(c) => {
                page.clicks += 1;
                page.rage_clicks += u64::from(c.rage);
                page.dead_clicks += u64::from(c.dead);
                let cells = agg.grids.entry(GridKey { page: key, width }).or_default();
                *cells.entry(grid_cell(c.x, c.y)).or_default() += 1;
                if c.rage {
                    let window = at - at.rem_euclid(window_ms);
                    *agg.rage.entry((path, window)).or_default() += 1;
                }
            }
            EventData::Scroll(s) => {
                for (i, mark) in SCROLL_MARKS.iter().enumerate() {
                    page.scroll_marks[i] += u64::from(s.marks.contains(mark));
                }
            }
            EventData::Dwell(d) => {
                page.engaged_ms += d.engaged_ms;
                page.visible_ms += d.visible_ms;
                page.total_ms += d.total_ms;
            }
            EventData::Custom(_) => page.custom_events += 1,
            EventData::Error(_) => page.errors += 1,
        }
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest;
    use serde_json::{json, Value};

    const NOW: i64 = 1_763_791_200_000; // 2025-11-22 06:00 UTC
    const HOUR: i64 = 3_600_000;

    fn envelope(events: Vec<Value>) -> Envelope {
        let events: Vec<Value> = events
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e["id"] = json!(format!("e{i}"));
                e["ts"] = e.get("ts").cloned().unwrap_or(json!(NOW - 1000));
                e["url"] = e.get("url").cloned().unwrap_or(json!("/p?x=1#top"));
                e
            })
            .collect();
        let body = json!({"v": 1, "site": "demo", "batch": "b", "sent": NOW, "vid": "v",
                          "sid": "s", "ctx": {"vw": 1280, "vh": 800}, "events": events});
        ingest::parse(&serde_json::to_vec(&body).unwrap(), NOW).unwrap()
    }

    fn click(x: f64, y: f64, rage: bool, dead: bool) -> Value {
        json!({"k": "click", "x": x, "y": y, "yr": 0.5, "rage": rage, "dead": dead})
    }

    #[test]
    fn counts_per_page_and_day() {
        let env = envelope(vec![
            json!({"k": "pageview"}),
            json!({"k": "pageview", "url": "/other"}),
            click(0.5, 120.0, false, false),
            click(0.51, 130.0, true, false),
            click(0.9, 5000.0, false, true),
            json!({"k": "scroll", "max": 0.8, "marks": [25, 50, 75]}),
            json!({"k": "scroll", "max": 1.0, "marks": [90, 100]}),
            json!({"k": "dwell", "engaged_ms": 1000, "visible_ms": 3000, "total_ms": 4000}),
            json!({"k": "dwell", "engaged_ms": 500, "visible_ms": 500, "total_ms": 2500}),
            json!({"k": "error", "msg": "boom"}),
            json!({"k": "custom", "name": "cart_add"}),
        ]);
        let agg = aggregate(&env, 600_000);
        assert_eq!(agg.pageviews, 2);
        let p = &agg.pages[&PageKey {
            path: "/p".into(),
            date: "2025-11-22".into(),
        }];
        assert_eq!(
            (
                p.pageviews,
                p.clicks,
                p.rage_clicks,
                p.dead_clicks,
                p.errors,
                p.custom_events
            ),
            (1, 3, 1, 1, 1, 1)
        );
        assert_eq!((p.engaged_ms, p.visible_ms, p.total_ms), (1500, 3500, 6500));
        assert_eq!(p.scroll_marks, [1, 1, 1, 1, 1]);
        assert_eq!(agg.pages.len(), 2);
    }

    #[test]
    fn clicks_land_in_a_grid_per_width_bucket() {
        let env = envelope(vec![
            click(0.5, 120.0, false, false),
            click(0.52, 140.0, false, false),
            click(1.0, 1e6, false, false),
        ]);
        let agg = aggregate(&env, 600_000);
        let (key, cells) = agg.grids.iter().next().unwrap();
        assert_eq!(key.width, 1024);
        assert_eq!(cells[&(10, 2)], 2);
        assert_eq!(cells[&(GRID_COLUMNS - 1, GRID_LAST_ROW)], 1);
    }

    #[test]
    fn events_count_on_their_skew_corrected_day() {
        // Sent just after midnight by a client whose clock runs 7 hours slow.
        let mut env = envelope(vec![json!({"k": "pageview", "ts": NOW - 7 * HOUR - 1000})]);
        env.batch.sent = NOW - 7 * HOUR;
        let agg = aggregate(&env, 600_000);
        let key = agg.pages.keys().next().unwrap();
        assert_eq!(key.date, "2025-11-22", "not the client's 2025-11-21");
    }

    #[test]
    fn rage_clicks_are_counted_per_page_and_window() {
        let env = envelope(vec![
            click(0.1, 1.0, true, false),
            click(0.1, 1.0, true, false),
            json!({"k": "click", "x": 0.1, "y": 1.0, "yr": 0.0, "rage": true, "url": "/q"}),
        ]);
        let agg = aggregate(&env, 600_000);
        let window = (NOW - 1000) - (NOW - 1000).rem_euclid(600_000);
        assert_eq!(agg.rage[&("/p".to_string(), window)], 2);
        assert_eq!(agg.rage[&("/q".to_string(), window)], 1);
    }

    #[test]
    fn helpers() {
        assert_eq!(page_path("/a/b?c=1#d"), "/a/b");
        assert_eq!(page_path("/"), "/");
        // Hash routes are pages; anchors are not.
        assert_eq!(page_path("/#/cart"), "/#/cart");
        assert_eq!(page_path("/app#!/cart/2?x=1"), "/app#!/cart/2");
        assert_eq!(page_path("/app?utm=1#/cart"), "/app#/cart");
        assert_eq!(page_path("/docs#install"), "/docs");
        assert_eq!(page_path("/docs?a#"), "/docs");
        // Too long for a storage key: its start and a hash of the whole.
        let long = format!("/r#/{}", "é".repeat(400));
        let short = page_path(&format!("{long}?q=1")).into_owned();
        assert!(
            short.len() <= MAX_PAGE_PATH && short.len() > 480,
            "{}",
            short.len()
        );
        assert!(long.starts_with(short.split('…').next().unwrap()));
        assert_eq!(
            short_path(&short),
            short,
            "applying it again changes nothing"
        );
        let other = format!("{long}x");
        assert_ne!(
            page_path(&other),
            short,
            "alike in their start, still two pages"
        );
        assert_eq!(
            page_path(&"/a".repeat(256)).len(),
            MAX_PAGE_PATH,
            "a fit is kept"
        );
        assert_eq!(width_bucket(0), 0);
        assert_eq!(width_bucket(479), 0);
        assert_eq!(width_bucket(480), 480);
        assert_eq!(width_bucket(1280), 1024);
        assert_eq!(width_bucket(3840), 1440);
        assert_eq!(grid_cell(0.0, 0.0), (0, 0));
        assert_eq!(grid_cell(0.999, 49.9), (19, 0));
        let empty = PageDay::default();
        assert!(empty.counters().is_empty());
    }
}
