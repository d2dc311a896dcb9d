//! Batching and delivery bookkeeping: events wait in a bounded queue, are sealed into batches
//! that fit one request, and a sealed batch is kept (same id, same events) until the collector
//! has acknowledged it. Resending the very same batch is what lets the collector store each
//! event exactly once. No clocks or browser calls here: the glue decides when.

use std::collections::VecDeque;

use crate::json::Json;

/// Wire format version written in every batch.
const VERSION: i64 = 1;

/// When to flush and how much to hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Flush as soon as this many events wait.
    pub max_events: usize,
    /// Largest body of one request. Browsers cap keepalive/beacon bodies at 64 KiB in flight.
    pub max_body: usize,
    /// Most events held in memory; past it the oldest are dropped (and counted).
    pub max_queued: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 50,
            max_body: 60 * 1024,
            max_queued: 1000,
        }
    }
}

/// The per-page fields of every batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub site: String,
    pub vid: String,
    pub sid: String,
    pub vw: u32,
    pub vh: u32,
    pub dpr: f64,
    pub lang: String,
}

/// A batch ready to send: its id and its events, encoded once and resent unchanged.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub id: String,
    /// The events as a JSON array.
    events: String,
    pub count: usize,
    /// Events dropped for lack of room before this batch, reported once with it.
    dropped: u32,
    /// Failed sends so far, for the backoff.
    pub attempts: u32,
}

/// Room the batch envelope needs besides the events (ids, header, ctx); generous on purpose.
const ENVELOPE_ROOM: usize = 1024;

impl Sealed {
    /// The request body, stamped with the client clock at send time for skew correction.
    pub fn body(&self, header: &Header, sent: i64) -> String {
        let mut j = Json::new();
        j.begin_object()
            .key("v")
            .int(VERSION)
            .key("site")
            .str(&header.site)
            .key("batch")
            .str(&self.id)
            .key("sent")
            .int(sent)
            .key("vid")
            .str(&header.vid)
            .key("sid")
            .str(&header.sid);
        if self.dropped > 0 {
            j.key("dropped").int(i64::from(self.dropped));
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
            .str(&header.lang)
            .end_object()
            .key("events")
            .raw(&self.events)
            .end_object();
        j.finish()
    }
}

#[derive(Debug, Default)]
pub struct Outbox {
    limits: Limits,
    /// Encoded events not yet in a batch.
    queued: VecDeque<String>,
    /// Batches waiting for an acknowledgement, oldest first.
    sealed: VecDeque<Sealed>,
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

    /// Queues one encoded event; returns whether enough is waiting to flush now. An event too
    /// big to ever fit a request is dropped (and counted) rather than blocking the rest.
    pub fn push(&mut self, event: String) -> bool {
        if event.len() + ENVELOPE_ROOM > self.limits.max_body {
            self.dropped += 1;
            return false;
        }
        self.queued.push_back(event);
        while self.held() > self.limits.max_queued {
            self.drop_oldest();
        }
        self.queued.len() >= self.limits.max_events
    }

    /// Events held in all, queued and sealed.
    pub fn held(&self) -> usize {
        self.queued.len() + self.sealed.iter().map(|s| s.count).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && self.sealed.is_empty()
    }

    /// Moves the queued events into batches that each fit one request and hold at most
    /// `max_events`. `new_id` names each new batch.
    pub fn seal(&mut self, mut new_id: impl FnMut() -> String) {
        while !self.queued.is_empty() {
            let mut events = String::from("[");
            let mut count = 0;
            while let Some(next) = self.queued.front() {
                let fits = events.len() + next.len() + 2 + ENVELOPE_ROOM <= self.limits.max_body;
                if count == self.limits.max_events || (count > 0 && !fits) {
                    break;
                }
                if count > 0 {
                    events.push(',');
                }
                events.push_str(next);
                self.queued.pop_front();
                count += 1;
            }
            events.push(']');
            self.sealed.push_back(Sealed {
                id: new_id(),
                events,
                count,
                dropped: std::mem::take(&mut self.dropped),
                attempts: 0,
            });
        }
    }

    /// The oldest batch waiting to be sent.
    pub fn next(&self) -> Option<&Sealed> {
        self.sealed.front()
    }

    /// All batches waiting, oldest first (to beacon them all on unload).
    pub fn sealed(&self) -> impl Iterator<Item = &Sealed> {
        self.sealed.iter()
    }

    /// The collector has the batch: forget it.
    pub fn ack(&mut self, id: &str) {
        self.sealed.retain(|s| s.id != id);
    }

    /// Sending the batch failed; returns its attempt count so far, for the backoff.
    pub fn failed(&mut self, id: &str) -> u32 {
        match self.sealed.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.attempts += 1;
                s.attempts
            }
            None => 0,
        }
    }

    fn drop_oldest(&mut self) {
        // Prefer losing a whole old batch (already late) over fragmenting the newest events.
        if let Some(old) = self.sealed.pop_front() {
            self.dropped += old.count as u32 + old.dropped;
        } else if self.queued.pop_front().is_some() {
            self.dropped += 1;
        }
    }
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

    fn header() -> Header {
        Header {
            site: "demo".into(),
            vid: "v".into(),
            sid: "s".into(),
            vw: 1280,
            vh: 720,
            dpr: 1.5,
            lang: "en-US".into(),
        }
    }

    fn event(i: usize, pad: usize) -> String {
        let mut j = Json::new();
        j.begin_object()
            .key("id")
            .str(&i.to_string())
            .key("k")
            .str("pageview")
            .key("ts")
            .int(i as i64)
            .key("url")
            .str(&"/".repeat(pad.max(1)))
            .end_object();
        j.finish()
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("b{n}")
        }
    }

    #[test]
    fn asks_to_flush_at_max_events() {
        let mut o = Outbox::new(Limits {
            max_events: 3,
            ..Limits::default()
        });
        assert!(!o.push(event(1, 1)));
        assert!(!o.push(event(2, 1)));
        assert!(o.push(event(3, 1)));
    }

    #[test]
    fn a_sealed_batch_parses_as_the_wire_format() {
        let mut o = Outbox::new(Limits::default());
        for i in 0..3 {
            o.push(event(i, 1));
        }
        o.seal(ids());
        let body = o.next().unwrap().body(&header(), 1_763_791_200_000);
        let batch: wire::Batch = serde_json::from_str(&body).unwrap();
        assert_eq!(batch.batch, "b1");
        assert_eq!(batch.sent, 1_763_791_200_000);
        assert_eq!(batch.events.len(), 3);
        assert_eq!(batch.ctx.dpr, 1.5);
        assert_eq!(batch.dropped, 0);
    }

    #[test]
    fn seals_into_batches_that_fit_the_body_limit_and_event_cap() {
        let limits = Limits {
            max_events: 10,
            max_body: 8 * 1024,
            max_queued: 1000,
        };
        let mut o = Outbox::new(limits);
        for i in 0..45 {
            o.push(event(i, 500));
        }
        o.seal(ids());
        let batches: Vec<_> = o.sealed().cloned().collect();
        assert!(batches.len() > 4, "{} batches", batches.len());
        let mut seen = 0;
        for b in &batches {
            let body = b.body(&header(), 0);
            assert!(body.len() <= limits.max_body, "{} bytes", body.len());
            assert!(b.count <= limits.max_events);
            let parsed: wire::Batch = serde_json::from_str(&body).unwrap();
            for e in parsed.events {
                assert_eq!(e.id, seen.to_string(), "events stay in order");
                seen += 1;
            }
        }
        assert_eq!(seen, 45);
    }

    #[test]
    fn keeps_a_batch_unchanged_until_acknowledged() {
        let mut o = Outbox::new(Limits::default());
        let mut new_id = ids();
        o.push(event(1, 1));
        o.seal(&mut new_id);
        let first = o.next().unwrap().clone();
        assert_eq!(o.failed("b1"), 1);
        assert_eq!(o.failed("b1"), 2);
        o.push(event(2, 1));
        o.seal(&mut new_id);
        let again = o.next().unwrap();
        assert_eq!(
            (again.id.as_str(), &again.events),
            (first.id.as_str(), &first.events)
        );
        o.ack("b1");
        assert_eq!(o.next().unwrap().id, "b2");
        o.ack("b2");
        assert!(o.is_empty());
    }

    #[test]
    fn drops_the_oldest_past_the_bound_and_reports_the_count_once() {
        let mut o = Outbox::new(Limits {
            max_events: 1000,
            max_body: 60 * 1024,
            max_queued: 5,
        });
        for i in 0..8 {
            o.push(event(i, 1));
        }
        assert_eq!(o.held(), 5);
        o.seal(ids());
        let body = o.next().unwrap().body(&header(), 0);
        let batch: wire::Batch = serde_json::from_str(&body).unwrap();
        assert_eq!(batch.dropped, 3);
        assert_eq!(batch.events[0].id, "3", "the newest events are kept");
        o.ack("b1");
        o.push(event(9, 1));
        o.seal(ids());
        let body = o.next().unwrap().body(&header(), 0);
        assert!(!body.contains("dropped"), "{body}");
    }

    #[test]
    fn an_event_too_big_for_any_request_is_dropped_not_stuck() {
        let mut o = Outbox::new(Limits {
            max_body: 2048,
            ..Limits::default()
        });
        o.push(event(1, 4000));
        o.push(event(2, 1));
        o.seal(ids());
        assert_eq!(o.held(), 1);
        let body = o.next().unwrap().body(&header(), 0);
        assert!(body.contains(r#""dropped":1"#), "{body}");
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
