//! Batching and delivery bookkeeping: events wait in a bounded queue, are sealed into batches
//! that fit one request, and a sealed batch is kept (same id, same events, same header) until
//! it is delivered. Resending the very same batch is what lets the collector store each event
//! exactly once. No clocks or browser calls here: the glue decides when.

use alloc::string::String;
use alloc::vec::Vec;

use crate::event::Event;
use crate::json::{push_int, push_uint, Json};

/// When to flush and how much to hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Flush as soon as this many events wait.
    pub max_events: usize,
    /// Largest body of one request. Browsers cap keepalive/beacon bodies at 64 KiB in flight.
    pub max_body: usize,
    /// Most events held (queued and sealed); past it the oldest are dropped, and counted.
    pub max_held: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 50,
            max_body: 60 * 1024,
            max_held: 1000,
        }
    }
}

/// The fields every batch of this page carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub site: String,
    pub vid: String,
    pub sid: String,
    /// The site's own user id, from `spoor.identify`.
    pub uid: Option<String>,
    pub vw: u32,
    pub vh: u32,
    pub dpr: f64,
    pub lang: String,
    /// `navigator.webdriver`.
    pub wd: bool,
}

/// A batch ready to send: encoded once when sealed, resent unchanged. It carries its own
/// header, so a batch resumed in another page (after a reload, from the offline store) still
/// says whose it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub id: String,
    /// The batch's fields but `sent` and `events`, as JSON object members.
    pub head: String,
    /// The events as a JSON array of v2 rows.
    pub events: String,
    pub count: usize,
}

/// Room the batch envelope needs besides the events and their URLs (header, ctx, ids);
/// generous on purpose.
const ENVELOPE_ROOM: usize = 1024;

impl Sealed {
    /// The request body, stamped with the client clock at send time (for skew correction).
    pub fn body(&self, sent: i64) -> String {
        let mut out = String::with_capacity(self.head.len() + self.events.len() + 40);
        out.push('{');
        out.push_str(&self.head);
        out.push_str(",\"sent\":");
        push_int(&mut out, sent);
        out.push_str(",\"events\":");
        out.push_str(&self.events);
        out.push('}');
        out
    }
}

/// The batch's members but `sent` and `events`: version, header, and what the rows refer to.
fn head(header: &Header, id: &str, dropped: u32, t0: i64, urls: &[&str]) -> String {
    let mut j = Json::new();
    j.begin_object()
        .key("v")
        .int(2)
        .key("site")
        .str(&header.site)
        .key("batch")
        .str(id)
        .key("vid")
        .str(&header.vid)
        .key("sid")
        .str(&header.sid);
    if let Some(uid) = &header.uid {
        j.key("uid").str(uid);
    }
    if dropped > 0 {
        j.key("dropped").int(i64::from(dropped));
    }
    j.key("ctx")
        .begin_object()
        .key("vw")
        .int(i64::from(header.vw))
        .key("vh")
        .int(i64::from(header.vh))
        .key("dpr")
        .fixed(header.dpr, 2)
        .key("lang")
        .str(&header.lang);
    if header.wd {
        j.key("wd").bool(true);
    }
    j.end_object().key("t0").int(t0).key("urls").begin_array();
    for url in urls {
        j.str(url);
    }
    j.end_array().end_object();
    let out = j.finish();
    // The members only: `{…}` without its braces. (`get`, where `remove` or indexing would
    // bring panic paths, and their messages, into the page's download.)
    out.get(1..out.len().saturating_sub(1))
        .map(String::from)
        .unwrap_or_default()
}

/// An event waiting for a batch: its row is finished when sealed, relative to the batch's
/// first time and URL table.
#[derive(Debug)]
struct Queued {
    ts: i64,
    url: String,
    fields: String,
}

impl Queued {
    /// At most the bytes it adds to a body: its row, and its URL in the table (counted for
    /// every event, though a batch lists each URL once, which errs on the safe side).
    fn room(&self) -> usize {
        self.fields.len() + 2 * self.url.len() + 32
    }
}

#[derive(Debug, Default)]
pub struct Outbox {
    limits: Limits,
    /// Events not yet in a batch.
    queued: Vec<Queued>,
    /// Batches waiting for delivery, oldest first.
    sealed: Vec<Sealed>,
    /// Events dropped since the last sealed batch.
    dropped: u32,
}

impl Outbox {
    pub fn new(limits: Limits) -> Self {
        Outbox {
            limits,
            ..Outbox::default()
        }
    }

    /// Queues one event; returns whether enough is waiting to flush now. An event too big to
    /// ever fit a request is dropped (and counted) rather than blocking the rest.
    pub fn push(&mut self, event: &Event) -> bool {
        let queued = Queued {
            ts: event.ts,
            url: event.url.clone(),
            fields: event.fields(),
        };
        if queued.room() + ENVELOPE_ROOM > self.limits.max_body {
            self.dropped += 1;
            return false;
        }
        self.queued.push(queued);
        self.trim();
        self.queued.len() >= self.limits.max_events
    }

    /// Adds batches sealed elsewhere (a previous page of this site, the offline store),
    /// before this page's own; a batch already held is not added twice.
    pub fn resume(&mut self, batches: impl IntoIterator<Item = Sealed>) {
        let mut older: Vec<Sealed> = Vec::new();
        for b in batches {
            let same = |s: &Sealed| s.id == b.id;
            if !self.sealed.iter().any(same) && !older.iter().any(same) {
                older.push(b);
            }
        }
        older.append(&mut self.sealed);
        self.sealed = older;
        self.trim();
    }

    /// Events held in all, queued and sealed.
    pub fn held(&self) -> usize {
        let mut held = self.queued.len();
        for s in &self.sealed {
            held += s.count;
        }
        held
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.sealed.is_empty()
    }

    /// Moves the queued events into batches that each fit one request and hold at most
    /// `max_events`, under `header`. `new_id` names each new batch.
    pub fn seal(&mut self, header: &Header, mut new_id: impl FnMut() -> String) {
        let queued = core::mem::take(&mut self.queued);
        // (Indices rather than a peekable iterator: they cost the page's download less.)
        let mut i = 0;
        while let Some(first) = queued.get(i) {
            let t0 = first.ts;
            let mut urls: Vec<&str> = Vec::new();
            let mut events = String::from("[");
            let mut room = 0;
            let mut count = 0;
            while let Some(event) = queued.get(i) {
                let fits = room + event.room() + ENVELOPE_ROOM <= self.limits.max_body;
                if count == self.limits.max_events || (count > 0 && !fits) {
                    break;
                }
                let u = match urls.iter().position(|url| *url == event.url) {
                    Some(u) => u,
                    None => {
                        urls.push(&event.url);
                        urls.len() - 1
                    }
                };
                if count > 0 {
                    events.push(',');
                }
                events.push('[');
                push_int(&mut events, event.ts - t0);
                events.push(',');
                push_uint(&mut events, u as u64);
                events.push(',');
                events.push_str(&event.fields);
                events.push(']');
                room += event.room();
                i += 1;
                count += 1;
            }
            events.push(']');
            let id = new_id();
            let head = head(header, &id, core::mem::take(&mut self.dropped), t0, &urls);
            self.sealed.push(Sealed {
                id,
                head,
                events,
                count,
            });
        }
    }

    /// The batches waiting, oldest first.
    pub fn sealed(&self) -> core::slice::Iter<'_, Sealed> {
        self.sealed.iter()
    }

    /// The batch is delivered: forget it.
    pub fn done(&mut self, id: &str) {
        self.sealed.retain(|s| s.id != id);
    }

    fn trim(&mut self) {
        while self.held() > self.limits.max_held {
            // Prefer losing a whole old batch (already late) over the newest events.
            // (At most a thousand events are held: shifting a Vec costs less code than a deque.)
            if let Some(oldest) = self.sealed.first() {
                self.dropped += oldest.count as u32;
                drop_first(&mut self.sealed);
            } else if !self.queued.is_empty() {
                drop_first(&mut self.queued);
                self.dropped += 1;
            }
        }
    }
}

/// Removes the first item. (`retain` rather than `remove(0)`, which would bring a panic path
/// and its message into the page's download.)
fn drop_first<T>(items: &mut Vec<T>) {
    let mut first = true;
    items.retain(|_| !core::mem::take(&mut first));
}

/// Delay before retry number `attempt` (1-based): exponential from 1 s, capped at 5 minutes,
/// with jitter (`random` in 0..1) spreading the retries of many clients after an outage.
pub fn backoff_ms(attempt: u32, random: f64) -> u32 {
    const BASE_MS: u32 = 1_000;
    const CAP_MS: u32 = 300_000;
    let exp = BASE_MS.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    let ceiling = exp.min(CAP_MS);
    // "Equal jitter": at least half the delay, so retries never bunch up near zero.
    let half = ceiling / 2;
    half + (f64::from(half) * random.clamp(0.0, 1.0)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;

    fn header() -> Header {
        Header {
            site: "demo".into(),
            vid: "v".into(),
            sid: "s".into(),
            uid: None,
            vw: 1280,
            vh: 720,
            dpr: 1.5,
            lang: "en-US".into(),
            wd: false,
        }
    }

    /// Event `i`: a custom event named `i` (to follow it), its title padded to `pad` bytes.
    fn event(i: usize, pad: usize) -> Event {
        Event {
            ts: 1_763_791_100_000 + i as i64,
            url: ["/p", &(i % 3).to_string()].concat(),
            kind: Kind::Pageview {
                title: i.to_string(),
                referrer: "r".repeat(pad),
            },
        }
    }

    /// Which event a parsed one is (see [`event`]).
    fn which(e: &wire::Event) -> String {
        match &e.data {
            wire::EventData::Pageview(p) => p.title.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("b{n}")
        }
    }

    fn parse(b: &Sealed) -> wire::Batch {
        let body = b.body(1_763_791_200_000);
        wire::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {body}"))
    }

    #[test]
    fn asks_to_flush_at_max_events() {
        let mut o = Outbox::new(Limits {
            max_events: 3,
            ..Limits::default()
        });
        assert!(!o.push(&event(1, 1)));
        assert!(!o.push(&event(2, 1)));
        assert!(o.push(&event(3, 1)));
    }

    #[test]
    fn a_sealed_batch_parses_as_the_wire_format() {
        let mut o = Outbox::new(Limits::default());
        for i in 0..3 {
            o.push(&event(i, 1));
        }
        let mut h = header();
        h.uid = Some("user-7".into());
        h.wd = true;
        o.seal(&h, ids());
        let batch = parse(o.sealed().next().unwrap());
        assert_eq!(batch.batch, "b1");
        assert_eq!(batch.sent, 1_763_791_200_000);
        assert_eq!(batch.events.len(), 3);
        for (i, e) in batch.events.iter().enumerate() {
            assert_eq!(
                e.id,
                format!("b1-{i}"),
                "ids: the batch's and the row's place"
            );
            assert_eq!(e.ts, 1_763_791_100_000 + i as i64);
            assert_eq!(e.url, format!("/p{}", i % 3));
        }
        assert!(o
            .sealed()
            .next()
            .unwrap()
            .head
            .contains(r#""urls":["/p0","/p1","/p2"]"#));
        assert_eq!(
            (batch.ctx.dpr, batch.ctx.vw, batch.ctx.wd),
            (1.5, 1280, true)
        );
        assert_eq!(batch.uid.as_deref(), Some("user-7"));
        assert_eq!(batch.dropped, 0);
    }

    #[test]
    fn seals_into_batches_that_fit_the_body_limit_and_event_cap() {
        let limits = Limits {
            max_events: 10,
            max_body: 8 * 1024,
            max_held: 1000,
        };
        let mut o = Outbox::new(limits);
        for i in 0..45 {
            o.push(&event(i, 500));
        }
        o.seal(&header(), ids());
        let batches: Vec<_> = o.sealed().cloned().collect();
        assert!(batches.len() > 4, "{} batches", batches.len());
        let mut seen = 0;
        for b in &batches {
            assert!(b.body(0).len() <= limits.max_body);
            assert!(b.count <= limits.max_events);
            for e in parse(b).events {
                assert_eq!(which(&e), seen.to_string(), "events stay in order");
                seen += 1;
            }
        }
        assert_eq!(seen, 45);
    }

    #[test]
    fn keeps_a_batch_unchanged_until_delivered() {
        let mut o = Outbox::new(Limits::default());
        let mut new_id = ids();
        o.push(&event(1, 1));
        o.seal(&header(), &mut new_id);
        let first = o.sealed().next().unwrap().clone();
        // The page changes its header (identify) and seals more: the first batch is the same.
        let mut h = header();
        h.uid = Some("later".into());
        o.push(&event(2, 1));
        o.seal(&h, &mut new_id);
        assert_eq!(o.sealed().next().unwrap(), &first);
        assert_eq!(parse(&first).uid, None);
        o.done("b1");
        assert_eq!(o.sealed().next().unwrap().id, "b2");
        o.done("b2");
        assert!(o.is_empty());
    }

    #[test]
    fn drops_the_oldest_past_the_bound_and_reports_the_count_once() {
        let mut o = Outbox::new(Limits {
            max_events: 1000,
            max_body: 60 * 1024,
            max_held: 5,
        });
        let mut new_id = ids();
        for i in 0..8 {
            o.push(&event(i, 1));
        }
        assert_eq!(o.held(), 5);
        o.seal(&header(), &mut new_id);
        let batch = parse(o.sealed().next().unwrap());
        assert_eq!(batch.dropped, 3);
        assert_eq!(which(&batch.events[0]), "3", "the newest events are kept");
        o.done("b1");
        o.push(&event(9, 1));
        o.seal(&header(), &mut new_id);
        assert!(!o.sealed().next().unwrap().head.contains("dropped"));
    }

    #[test]
    fn an_event_too_big_for_any_request_is_dropped_not_stuck() {
        let mut o = Outbox::new(Limits {
            max_body: 2048,
            ..Limits::default()
        });
        o.push(&event(1, 4000));
        o.push(&event(2, 1));
        o.seal(&header(), ids());
        assert_eq!(o.held(), 1);
        assert_eq!(parse(o.sealed().next().unwrap()).dropped, 1);
    }

    #[test]
    fn resumed_batches_go_first_and_only_once() {
        let mut earlier = Outbox::new(Limits::default());
        earlier.push(&event(1, 1));
        earlier.seal(&header(), || "old".into());
        let old: Vec<Sealed> = earlier.sealed().cloned().collect();

        let mut o = Outbox::new(Limits::default());
        o.push(&event(2, 1));
        o.seal(&header(), || "new".into());
        o.resume(old.clone());
        o.resume(old);
        let order: Vec<&str> = o.sealed().map(|s| s.id.as_str()).collect();
        assert_eq!(order, ["old", "new"]);
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(1, 1.0), 1_000);
        assert_eq!(backoff_ms(2, 0.0), 1_000);
        assert_eq!(backoff_ms(4, 1.0), 8_000);
        assert_eq!(backoff_ms(40, 1.0), 300_000);
        assert_eq!(backoff_ms(40, 0.0), 150_000);
        for attempt in 1..30 {
            assert!(backoff_ms(attempt + 1, 0.0) >= backoff_ms(attempt, 0.0));
        }
    }
}
