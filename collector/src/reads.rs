//! The read side, for the dashboard: `GET /v1/count`, `/v1/stats`, `/v1/incidents`,
//! `/v1/live`, `/v1/session`. Query parameters are validated like batches (a JSON 400 naming
//! the parameter); the answers are shaped from the items `records` writes. Every answer is
//! bounded: no request reads a partition whole, however large it has grown.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::aggregates::WIDTH_BUCKETS;
use crate::aws::dynamodb::{key, Attr, DynamoDb, Item};
use crate::clock;
use crate::error::{Error, Result};
use crate::records;

/// Longest date range one request may ask for.
pub const MAX_DAYS: i64 = 92;
/// Most individual clicks returned for a heatmap (the newest).
pub const MAX_CLICKS: usize = 5000;
/// Most page-days (one page's counters on one day) one `/v1/stats` request sums: beyond, the
/// caller is asked for a shorter range rather than given a partial sum.
pub const MAX_PAGE_DAYS: usize = 20_000;
/// Most events, and most log records, `/v1/session` returns (the first, in time order).
pub const MAX_SESSION_ITEMS: usize = 1000;
/// Most incidents `/v1/incidents` returns (the newest).
pub const MAX_INCIDENTS: usize = 500;

/// What `/v1/stats` and `/v1/incidents` are asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub site: String,
    /// Day numbers (days since 1970-01-01), inclusive.
    pub from: i64,
    pub to: i64,
    pub path: Option<String>,
}

/// Reads `site`, `from`, `to` (`yyyy-mm-dd`, default: the last 7 days to today) and `path`.
pub fn range(query: &BTreeMap<String, String>, now_ms: i64) -> Result<Range> {
    let site = query
        .get("site")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid("site", "required"))?
        .clone();
    let date = |name: &str| -> Result<Option<i64>> {
        query
            .get(name)
            .map(|v| {
                clock::parse_date(v)
                    .ok_or_else(|| Error::invalid(name, "must be a date yyyy-mm-dd"))
            })
            .transpose()
    };
    let to = date("to")?.unwrap_or_else(|| clock::day_of(now_ms));
    let from = date("from")?.unwrap_or(to - 6);
    if from > to {
        return Err(Error::invalid("from", "must not be after to"));
    }
    if to - from >= MAX_DAYS {
        return Err(Error::invalid(
            "from",
            format!("at most {MAX_DAYS} days per request"),
        ));
    }
    let path = query.get("path").filter(|p| !p.is_empty());
    if path.is_some_and(|p| !p.starts_with('/')) {
        return Err(Error::invalid("path", "must start with /"));
    }
    // Asked for by its whole path or by the one it is listed under: the same page.
    let path = path.map(|p| crate::aggregates::short_path(p).into_owned());
    Ok(Range {
        site,
        from,
        to,
        path,
    })
}

/// The numeric attributes of an aggregate item (its counters), TTL left out.
fn counters(item: &Item) -> Map<String, Value> {
    item.iter()
        .filter(|(k, _)| *k != "expires_at" && *k != "window_start")
        .filter_map(|(k, v)| Some((k.clone(), json!(v.as_f64()? as u64))))
        .collect()
}

fn add_into(total: &mut Map<String, Value>, more: &Map<String, Value>) {
    for (k, v) in more {
        let sum = total.get(k).and_then(Value::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
        total.insert(k.clone(), json!(sum));
    }
}

/// `/v1/count`: the site's visitor counter, as the Visitor Tracker answered it.
pub async fn count(db: &DynamoDb, site: &str) -> Result<Value> {
    let item = db.get(&key(format!("C#{site}"), "visitors")).await?;
    let n = |attr: &str| {
        item.as_ref()
            .and_then(|i| i.get(attr))
            .and_then(Attr::as_f64)
            .unwrap_or(0.0) as u64
    };
    Ok(json!({ "site": site, "visitor_count": n("visitor_count"), "pageviews": n("pageviews") }))
}

/// `/v1/stats`: per-page counters summed over the range, per-day totals, and for one page its
/// click grids per width bucket and its individual clicks (for the element-relative heatmap).
///
/// Its calls to AWS stay within the invocation's budget (`SUBREQUEST_LIMIT`): one page's
/// counters and grids are fetched by key, a hundred per call, whatever the range; the whole
/// site costs a query per day, so a range longer than the budget is refused before reading.
pub async fn stats(db: &DynamoDb, r: &Range) -> Result<Value> {
    let dates: Vec<String> = (r.from..=r.to).map(clock::date_of_day).collect();
    let partition = |date: &str| format!("A#{}#{date}", r.site);
    let per_day: Vec<Vec<Item>> = match &r.path {
        Some(path) => {
            let keys: Vec<Item> = dates
                .iter()
                .map(|d| key(partition(d), format!("P#{path}")))
                .collect();
            let mut by_day: BTreeMap<String, Item> = db
                .get_many(&keys)
                .await?
                .into_iter()
                .filter_map(|i| Some((i.get("pk")?.as_s()?.to_string(), i)))
                .collect();
            dates
                .iter()
                .map(|d| by_day.remove(&partition(d)).into_iter().collect())
                .collect()
        }
        None => {
            let left = db.budget().left() as usize;
            if dates.len() > left {
                return Err(Error::invalid(
                    "from",
                    format!(
                        "the whole site takes a read per day, and this deployment makes at most \
                         {left} per request (SUBREQUEST_LIMIT): ask for at most {left} days, or \
                         for one page"
                    ),
                ));
            }
            let mut per_day = Vec::with_capacity(dates.len());
            let mut read = 0;
            for date in &dates {
                let items = db
                    .query_partition(&partition(date), MAX_PAGE_DAYS - read + 1)
                    .await?;
                read += items.len();
                if read > MAX_PAGE_DAYS {
                    return Err(Error::invalid(
                        "from",
                        format!(
                            "the range holds more than {MAX_PAGE_DAYS} page-days: ask for fewer days"
                        ),
                    ));
                }
                per_day.push(items);
            }
            per_day
        }
    };

    let mut pages: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut days = Vec::new();
    let mut totals = Map::new();
    for (date, items) in dates.iter().zip(per_day) {
        let mut day_total = Map::new();
        for item in items {
            let Some(path) = item.get("path").and_then(Attr::as_s).map(str::to_string) else {
                continue;
            };
            let c = counters(&item);
            add_into(pages.entry(path).or_default(), &c);
            add_into(&mut day_total, &c);
        }
        add_into(&mut totals, &day_total);
        day_total.insert("date".into(), json!(date));
        days.push(Value::Object(day_total));
    }
    let mut pages: Vec<Value> = pages
        .into_iter()
        .map(|(path, mut c)| {
            c.insert("path".into(), json!(path));
            Value::Object(c)
        })
        .collect();
    let views = |p: &Value| p["pageviews"].as_u64().unwrap_or(0);
    pages.sort_by(|a, b| {
        views(b)
            .cmp(&views(a))
            .then(a["path"].as_str().cmp(&b["path"].as_str()))
    });

    let mut out = json!({
        "site": r.site,
        "from": clock::date_of_day(r.from),
        "to": clock::date_of_day(r.to),
        "path": r.path,
        "totals": totals,
        "pages": pages,
        "days": days,
    });
    if let Some(path) = &r.path {
        out["heatmap"] = heatmap(db, r, path, &dates).await?;
    }
    Ok(out)
}

/// One page's click grids over the range (by key: every day's width buckets), and its newest
/// individual clicks: a query per day, newest day first, until [`MAX_CLICKS`] or the budget
/// refuses a call (before sending it: nothing is lost trying). `clicks_since` is the oldest day read; a later one than `from` means the
/// budget ran out first (the grids still cover every day).
async fn heatmap(db: &DynamoDb, r: &Range, path: &str, dates: &[String]) -> Result<Value> {
    let keys: Vec<Item> = dates
        .iter()
        .flat_map(|date| {
            WIDTH_BUCKETS
                .iter()
                .map(move |w| key(format!("H#{}#{path}#{date}", r.site), format!("W#{w}")))
        })
        .collect();
    let mut grids: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for item in db.get_many(&keys).await? {
        let width = item["sk"]
            .as_s()
            .unwrap_or_default()
            .trim_start_matches("W#")
            .to_string();
        let grid = grids.entry(width).or_default();
        for (cell, n) in counters(&item) {
            *grid.entry(cell).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    let mut clicks = Vec::new();
    let mut since = None;
    for date in dates.iter().rev() {
        if clicks.len() >= MAX_CLICKS {
            break;
        }
        let partition = records::click_partition(&r.site, path, date);
        let limit = MAX_CLICKS - clicks.len();
        // Out of calls, at this day's first call or midway through its pages of results: this
        // day is left out, like the older ones.
        let items = match db.query_index("clicks", "cpk", &partition, limit).await {
            Err(Error::Subrequests { .. }) => break,
            items => items?,
        };
        clicks.extend(items.iter().map(click));
        since = Some(date);
    }
    Ok(json!({ "grids": grids, "clicks": clicks, "clicks_since": since }))
}

/// One click as the heatmap draws it.
fn click(item: &Item) -> Value {
    let n = |k: &str| item.get(k).and_then(Attr::as_f64);
    let s = |k: &str| item.get(k).and_then(Attr::as_s);
    let b = |k: &str| matches!(item.get(k), Some(Attr::Bool(true)));
    json!({
        "at": n("at").map(|v| v as i64), "x": n("x"), "y": n("y"), "yr": n("yr"),
        "sel": s("sel"), "ex": n("ex"), "ey": n("ey"), "tag": s("tag"), "txt": s("txt"),
        "vw": n("vw").map(|v| v as u32), "rage": b("rage"), "dead": b("dead"),
    })
}

/// Most events `/v1/live` returns.
pub const MAX_LIVE: usize = 200;

/// `/v1/live?site=&limit=`: the site's latest events (today's and yesterday's), newest first,
/// as the live view shows them.
pub async fn live(db: &DynamoDb, site: &str, limit: usize, now_ms: i64) -> Result<Value> {
    let limit = limit.clamp(1, MAX_LIVE);
    let today = clock::day_of(now_ms);
    let mut events = Vec::new();
    for day in [today, today - 1] {
        if events.len() >= limit {
            break;
        }
        let partition = records::recent_partition(site, &clock::date_of_day(day));
        for item in db
            .query_index("recent", "rpk", &partition, limit - events.len())
            .await?
        {
            events.push(live_event(&item));
        }
    }
    Ok(json!({ "site": site, "events": events }))
}

/// One event as the live view shows it: its own fields and the enrichment, no keys.
fn live_event(item: &Item) -> Value {
    let mut v = Map::new();
    for (k, a) in item {
        if matches!(
            k.as_str(),
            "pk" | "sk" | "rpk" | "rsk" | "cpk" | "csk" | "expires_at" | "ip_hash"
        ) {
            continue;
        }
        v.insert(k.clone(), attr_json(a));
    }
    Value::Object(v)
}

/// An attribute as plain JSON.
fn attr_json(a: &Attr) -> Value {
    match a {
        Attr::S(s) => json!(s),
        Attr::N(_) => {
            let n = a.as_f64().unwrap_or(0.0);
            if n.fract() == 0.0 && n.abs() < 9e15 {
                json!(n as i64)
            } else {
                json!(n)
            }
        }
        Attr::Bool(b) => json!(b),
        Attr::Null(_) => Value::Null,
        Attr::L(l) => Value::Array(l.iter().map(attr_json).collect()),
        Attr::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect()),
    }
}

/// `/v1/session?site=&sid=`: one browser session's events and the server logs that carry its
/// session id, each in time order: what happened in the page, and behind it. Logs are shown
/// only for a session this site has events for: a site's reader sees no other site's sessions.
pub async fn session(db: &DynamoDb, site: &str, sid: &str) -> Result<Value> {
    if sid.is_empty() || sid.len() > 128 {
        return Err(Error::invalid("sid", "required, at most 128 characters"));
    }
    let (events, events_truncated) = first(
        db.query_partition(&format!("S#{site}#{sid}"), MAX_SESSION_ITEMS + 1)
            .await?,
        MAX_SESSION_ITEMS,
    );
    let (logs, logs_truncated) = if events.is_empty() {
        (Vec::new(), false)
    } else {
        first(
            db.query_partition(&format!("G#{sid}"), MAX_SESSION_ITEMS + 1)
                .await?,
            MAX_SESSION_ITEMS,
        )
    };
    let shown = |items: Vec<Item>| items.iter().map(live_event).collect::<Vec<_>>();
    Ok(json!({
        "site": site, "sid": sid,
        "events": shown(events), "events_truncated": events_truncated,
        "logs": shown(logs), "logs_truncated": logs_truncated,
    }))
}

/// The first `n` items, and whether there were more.
fn first(mut items: Vec<Item>, n: usize) -> (Vec<Item>, bool) {
    let more = items.len() > n;
    items.truncate(n);
    (items, more)
}

/// The sort-key bounds of the incidents whose windows start in `r`'s days. Incident sort keys
/// start with the window's start in ms, unpadded, so the bounds are kept to 13 digits (years
/// 2001 to 2286), where text order is number order.
fn incident_bounds(r: &Range) -> Option<(String, String)> {
    const LOW: i64 = 1_000_000_000_000;
    const HIGH: i64 = 9_999_999_999_999;
    let start = (r.from * 86_400_000).max(LOW);
    // `<end>` sorts before every `<end>#fingerprint`, and after every earlier window.
    let end = ((r.to + 1) * 86_400_000).min(HIGH);
    (start < end).then(|| (start.to_string(), end.to_string()))
}

/// `/v1/incidents?site=` (or `?service=`): the incidents in the range, newest first.
pub async fn incidents(db: &DynamoDb, r: &Range) -> Result<Value> {
    let (items, truncated) = match incident_bounds(r) {
        None => (Vec::new(), false),
        Some((from, to)) => first(
            db.query_range(
                &format!("I#{}", r.site),
                (&from, &to),
                MAX_INCIDENTS + 1,
                true,
            )
            .await?,
            MAX_INCIDENTS,
        ),
    };
    let list: Vec<Value> = items
        .iter()
        .map(|i| {
            let fields = i
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "pk" | "sk" | "expires_at"))
                .map(|(k, a)| (k.clone(), attr_json(a)));
            Value::Object(fields.collect())
        })
        .collect();
    Ok(json!({ "site": r.site, "incidents": list, "truncated": truncated }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_791_200_000; // 2025-11-22

    fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ranges_default_to_the_last_week() {
        let r = range(&q(&[("site", "demo")]), NOW).unwrap();
        assert_eq!(clock::date_of_day(r.to), "2025-11-22");
        assert_eq!(clock::date_of_day(r.from), "2025-11-16");
        assert_eq!(r.path, None);
        let r = range(
            &q(&[
                ("site", "demo"),
                ("from", "2025-11-01"),
                ("to", "2025-11-02"),
                ("path", "/p"),
            ]),
            NOW,
        )
        .unwrap();
        assert_eq!((r.to - r.from, r.path.as_deref()), (1, Some("/p")));
    }

    #[test]
    fn bad_parameters_are_named() {
        let field = |pairs: &[(&str, &str)]| match range(&q(pairs), NOW) {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(&[]), "site");
        assert_eq!(field(&[("site", "d"), ("from", "yesterday")]), "from");
        assert_eq!(field(&[("site", "d"), ("to", "2025-02-30")]), "to");
        assert_eq!(
            field(&[("site", "d"), ("from", "2025-11-03"), ("to", "2025-11-02")]),
            "from"
        );
        assert_eq!(
            field(&[("site", "d"), ("from", "2024-01-01"), ("to", "2025-01-01")]),
            "from"
        );
        assert_eq!(field(&[("site", "d"), ("path", "p")]), "path");
    }

    #[test]
    fn incident_bounds_cover_the_days_in_text_order() {
        let day = |d: &str| clock::parse_date(d).unwrap();
        let r = |from: &str, to: &str| Range {
            site: "demo".into(),
            from: day(from),
            to: day(to),
            path: None,
        };
        let (from, to) = incident_bounds(&r("2025-11-22", "2025-11-22")).unwrap();
        assert_eq!(
            (from.as_str(), to.as_str()),
            ("1763769600000", "1763856000000")
        );
        // The last window of the day is in, the first of the next day out.
        assert!(format!("{}#fp", 1_763_856_000_000i64 - 1) < to);
        assert!(format!("{}#fp", 1_763_856_000_000i64) > to);
        // Ranges before 2001 are cut to where the keys have 13 digits, or empty.
        let (from, _) = incident_bounds(&r("1990-01-01", "2025-11-22")).unwrap();
        assert_eq!(from, "1000000000000");
        assert_eq!(incident_bounds(&r("1990-01-01", "1990-01-02")), None);
    }

    #[test]
    fn first_says_whether_there_was_more() {
        let items = |n: usize| vec![Item::new(); n];
        assert_eq!(first(items(3), 2).0.len(), 2);
        assert!(first(items(3), 2).1);
        assert!(!first(items(2), 2).1);
    }

    #[test]
    fn counters_are_the_numeric_attributes() {
        let item: Item = [
            ("pk".to_string(), Attr::s("A#x")),
            ("pageviews".to_string(), Attr::n(3)),
            ("expires_at".to_string(), Attr::n(99)),
            ("path".to_string(), Attr::s("/")),
        ]
        .into();
        let c = counters(&item);
        assert_eq!(Value::Object(c), json!({"pageviews": 3}));
        let mut total = Map::new();
        add_into(&mut total, &counters(&item));
        add_into(&mut total, &counters(&item));
        assert_eq!(total["pageviews"], 6);
    }
}
