//! The tracker on a fake page: the tests move its clocks, change its URL and answer its
//! requests by hand, and read what it sent through the wire format's own parser.

use std::collections::BTreeMap;

use super::*;
use crate::config::{self, Storage};

/// A page whose every reading the test sets, and which records every effect.
#[derive(Default)]
struct Page {
    now: f64,
    wall: i64,
    counter: u8,
    url: String,
    title: String,
    visible: bool,
    focused: bool,
    scroll: (f64, f64),
    /// The document's height, as measured now.
    height: f64,
    offline: bool,
    /// Timers set and not yet fired, in order.
    timers: Vec<(Timer, i32)>,
    watching: bool,
    posts: Vec<String>,
    refuse_posts: bool,
    beacons: Vec<String>,
    refuse_beacons: bool,
    /// Beacons asked for, taken or refused.
    beacon_tries: usize,
    store: BTreeMap<String, String>,
    /// Storage full: every write fails.
    full_store: bool,
    /// The session entry in the id storage, and the ids handed to page code.
    session: Option<String>,
    handed: Vec<String>,
    warnings: Vec<String>,
}

impl Env for Page {
    fn now(&self) -> f64 {
        self.now
    }
    fn wall(&self) -> i64 {
        self.wall
    }
    fn random_bytes(&mut self) -> [u8; 16] {
        self.counter = self.counter.wrapping_add(1);
        [self.counter; 16]
    }
    fn random(&mut self) -> f64 {
        0.5
    }
    fn url(&self) -> String {
        self.url.clone()
    }
    fn origin(&self) -> String {
        "https://shop.example".into()
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn referrer(&self) -> String {
        String::new()
    }
    fn visible(&self) -> bool {
        self.visible
    }
    fn focused(&self) -> bool {
        self.focused
    }
    fn scroll(&self) -> (f64, f64) {
        self.scroll
    }
    fn height(&self) -> f64 {
        self.height
    }
    fn online(&self) -> bool {
        !self.offline
    }
    fn set_timer(&mut self, timer: Timer, ms: i32) -> bool {
        self.timers.push((timer, ms));
        true
    }
    fn watch(&mut self, on: bool) {
        self.watching = on;
    }
    fn post(&mut self, body: &str) -> bool {
        if self.refuse_posts {
            return false;
        }
        self.posts.push(body.into());
        true
    }
    fn beacon(&mut self, body: &str) -> bool {
        self.beacon_tries += 1;
        if self.refuse_beacons {
            return false;
        }
        self.beacons.push(body.into());
        true
    }
    fn save(&mut self, key: &str, value: Option<&str>) -> bool {
        if self.full_store && value.is_some() {
            return false;
        }
        match value {
            Some(v) => self.store.insert(key.into(), v.into()),
            None => self.store.remove(key),
        };
        true
    }
    fn kept_session(&self) -> Option<String> {
        self.session.clone()
    }
    fn keep_session(&mut self, sid: &str, entry: &str) {
        self.handed.push(sid.into());
        self.session = Some(entry.into());
    }
    fn warn(&mut self, msg: &str) {
        self.warnings.push(msg.into());
    }
}

fn started() -> Tracker<Page> {
    let config = config::parse(
        |name| (name == "site").then(|| "shop".to_string()),
        "https://c.example/",
    )
    .unwrap();
    assert_eq!(config.storage, Storage::Session);
    let header = Header {
        site: "shop".into(),
        vid: "v".into(),
        sid: "s".into(),
        vw: 1280,
        vh: 720,
        dpr: 1.0,
        lang: "en".into(),
        ..Header::default()
    };
    let page = Page {
        url: "/".into(),
        title: "Home".into(),
        visible: true,
        focused: true,
        scroll: (0.0, 720.0),
        wall: 1_763_791_200_000,
        // The session "s", active a minute ago (an earlier page of the visit).
        session: Some("1763791140000s".into()),
        ..Page::default()
    };
    let mut t = Tracker::new(page, config, header, true);
    t.resized(3000.0);
    t.navigate(false);
    t
}

/// Fires the oldest pending timer of this kind.
fn fire(t: &mut Tracker<Page>, kind: fn(&Timer) -> bool) {
    let i = t
        .env
        .timers
        .iter()
        .position(|(k, _)| kind(k))
        .expect("timer set");
    let (timer, _) = t.env.timers.remove(i);
    t.timer(timer);
}

fn flush(t: &mut Tracker<Page>) {
    fire(t, |k| *k == Timer::Flush);
}

fn parse(body: &str) -> wire::Batch {
    wire::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {body}"))
}

fn kinds(body: &str) -> Vec<&'static str> {
    parse(body).events.iter().map(|e| e.data.kind()).collect()
}

fn click_at(t: &mut Tracker<Page>, x: f64, y: f64, interactive: bool) {
    let input = ClickInput {
        page_x: x,
        page_y: y,
        client_x: x,
        client_y: y,
        doc_width: 1280.0,
        doc_height: 3000.0,
        rect_left: x - 10.0,
        rect_top: y - 10.0,
        rect_width: 20.0,
        rect_height: 20.0,
    };
    let target = Target {
        sel: "main>button".into(),
        tag: "button",
        text: Some("  Add \n to cart "),
        href: None,
        interactive,
    };
    t.click(&input, target);
}

fn clicks(body: &str) -> Vec<wire::Click> {
    parse(body)
        .events
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Click(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn scroll_report(body: &str) -> wire::Scroll {
    parse(body)
        .events
        .into_iter()
        .find_map(|e| match e.data {
            wire::EventData::Scroll(s) => Some(s),
            _ => None,
        })
        .expect("a scroll event")
}

fn the_click(body: &str) -> wire::Click {
    let all = clicks(body);
    assert_eq!(all.len(), 1, "{body}");
    all[0].clone()
}

#[test]
fn a_pageview_waits_for_the_flush_timer_and_is_forgotten_once_delivered() {
    let mut t = started();
    assert_eq!(
        t.env.timers,
        [(Timer::Flush, 10_000), (Timer::Beat, 60_000)]
    );
    assert!(t.env.posts.is_empty());
    flush(&mut t);
    assert_eq!(t.env.posts.len(), 1);
    let batch = parse(&t.env.posts[0]);
    assert_eq!((batch.site.as_str(), batch.sid.as_str()), ("shop", "s"));
    assert_eq!(kinds(&t.env.posts[0]), ["pageview"]);
    t.sent(202);
    assert!(t.env.store.is_empty(), "delivered: never written");
    t.env.timers.clear();
    t.send(false);
    assert_eq!(t.env.posts.len(), 1, "nothing left to send");
}

#[test]
fn the_same_url_is_one_pageview_and_a_new_one_reports_the_last_view_first() {
    let mut t = started();
    t.navigate(false); // a router replacing the same URL
    t.env.now = 5_000.0;
    t.env.url = "/products/11".into();
    t.navigate(false);
    t.drain_into_posts();
    let b = parse(&t.env.posts[0]);
    let views: Vec<_> = b.events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(views, ["pageview", "scroll", "dwell", "pageview"]);
    assert_eq!(
        b.events[2].url, "/",
        "the dwell belongs to the view it measured"
    );
    match &b.events[2].data {
        wire::EventData::Dwell(d) => assert_eq!((d.total_ms, d.visible_ms), (5_000, 5_000)),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.events[3].url, "/products/11");
    // Into the back/forward cache (left) and back hours later (thawed, then shown): the
    // same URL is a new view, and the time in the cache belongs to no view.
    t.env.now = 6_000.0;
    t.leave();
    assert_eq!(kinds(&t.env.beacons[0]), ["scroll", "dwell"]);
    t.env.now = 10_000_000.0;
    t.thawed();
    t.navigate(true);
    t.drain_into_posts();
    assert_eq!(kinds(&t.env.posts[1]), ["pageview"]);
}

#[test]
fn failed_sends_back_off_keep_their_batch_and_resend_it_unchanged() {
    let mut t = started();
    flush(&mut t);
    t.env.timers.clear();
    t.sent(503);
    // Equal jitter: attempt 1 waits 500..1000 ms (the fake's random is 0.5).
    assert_eq!(t.env.timers, [(Timer::Flush, 750)]);
    // Before the backoff ends, sending (an online event aside) waits for its timer.
    t.env.now += 100.0;
    t.send(false);
    assert_eq!(t.env.posts.len(), 1);
    assert_eq!(t.env.timers, [(Timer::Flush, 750)]);
    t.env.now = 750.0;
    flush(&mut t);
    assert_eq!(t.env.posts.len(), 2);
    assert_eq!(
        t.env.posts[0], t.env.posts[1],
        "the very same batch, id and all"
    );
    t.sent(0); // network error
    assert_eq!(
        t.env.timers,
        [(Timer::Flush, 1_500)],
        "attempt 2 waits longer"
    );
    t.online(); // the browser says it is back: no waiting
    assert_eq!(t.env.posts.len(), 3);
    t.sent(200);
    assert!(t.env.store.is_empty());
}

#[test]
fn a_request_that_cannot_even_start_is_retried_with_backoff() {
    let mut t = started();
    t.env.refuse_posts = true;
    flush(&mut t);
    assert_eq!(t.env.timers, [(Timer::Beat, 60_000), (Timer::Flush, 750)]);
    t.env.refuse_posts = false;
    t.env.now = 750.0;
    flush(&mut t);
    assert_eq!(t.env.posts.len(), 1);
}

#[test]
fn a_refused_batch_is_dropped_with_a_warning_but_throttling_is_retried() {
    let mut t = started();
    flush(&mut t);
    t.sent(429);
    assert!(t.env.store.contains_key(t.key()), "429 is retried");
    t.online();
    t.sent(400);
    assert_eq!(t.env.warnings, ["spoor: the collector rejected a batch"]);
    assert!(t.env.store.is_empty(), "400 is never resent");
}

#[test]
fn hiding_the_page_hands_batches_to_beacons_unless_the_collector_has_been_failing() {
    let mut t = started();
    t.env.now = 2_000.0;
    t.visibility(false);
    assert!(t.env.posts.is_empty());
    assert_eq!(t.env.beacons.len(), 1);
    assert_eq!(kinds(&t.env.beacons[0]), ["pageview", "scroll", "dwell"]);
    assert!(t.env.store.is_empty(), "handed over: nothing kept");

    let mut t = started();
    flush(&mut t);
    t.sent(503);
    t.env.now = 2_000.0;
    t.visibility(false);
    assert!(
        t.env.beacons.is_empty(),
        "a beacon's fate is unknown: keep it for later"
    );
    let kept = mirror::decode(&t.env.store[t.key()]);
    assert_eq!(kept.len(), 2, "the failed batch and the one sealed on hide");

    let mut t = started();
    t.env.refuse_beacons = true;
    t.leave();
    assert!(t.env.store.contains_key(t.key()), "refused: kept");
}

#[test]
fn what_the_offline_store_cannot_keep_gets_a_beacon_all_the_same() {
    for (full, offline) in [(true, true), (false, false)] {
        let mut t = started();
        t.offline = offline;
        t.env.full_store = full;
        flush(&mut t);
        t.sent(503);
        t.env.now = 2_000.0;
        t.visibility(false);
        assert_eq!(
            t.env.beacons.len(),
            2,
            "its last chance (full {full}, kept {offline})"
        );
        assert!(t.env.store.is_empty());
    }
    // A beacon the browser refused is not asked for again in the same breath.
    let mut t = started();
    t.offline = false;
    t.env.refuse_beacons = true;
    t.leave();
    assert_eq!(t.env.beacon_tries, 1);
}

#[test]
fn a_session_goes_on_while_alive_and_ends_after_thirty_idle_minutes() {
    let t = started();
    assert_eq!(t.header.sid, "s", "continued from the kept entry");
    assert_eq!(t.env.handed, ["s"], "handed to page code");
    assert_eq!(t.env.session.as_deref(), Some("1763791200000s"));
    // A page opened after the entry expired begins a new session.
    let page = Page {
        wall: 1_763_791_200_000 + session::IDLE_MS + 1,
        session: Some("1763791200000s".into()),
        ..Page::default()
    };
    let late = Tracker::new(page, t.config.clone(), t.header.clone(), true);
    assert_ne!(late.header.sid, "s");
    assert_eq!(late.header.sid.len(), 22);

    // In the page: input keeps it alive; after 30 idle minutes, the next input begins anew,
    // and what was recorded before goes under the old id.
    let mut t = started();
    flush(&mut t);
    t.sent(202);
    t.env.wall += 20 * 60_000;
    t.input(t.env.now);
    t.env.wall += 20 * 60_000;
    t.input(t.env.now);
    assert_eq!(t.header.sid, "s", "never 30 minutes without activity");
    t.error("before".into(), "a.js".into(), 1, 1);
    t.env.wall += session::IDLE_MS + 1;
    t.input(t.env.now);
    let sid = t.header.sid.clone();
    assert_ne!(sid, "s");
    assert_eq!(t.env.handed.last(), Some(&sid));
    assert!(t.env.session.as_deref().unwrap().ends_with(sid.as_str()));
    t.custom("after", &[]);
    t.env.timers.clear();
    t.send(false);
    let before = parse(&t.env.posts[1]);
    assert_eq!(
        (before.sid.as_str(), kinds(&t.env.posts[1])),
        ("s", vec!["error"])
    );
    t.sent(202);
    let after = parse(&t.env.posts[2]);
    assert_eq!(
        (after.sid.as_str(), kinds(&t.env.posts[2])),
        (sid.as_str(), vec!["custom"])
    );
}

#[test]
fn the_first_act_after_idle_on_an_unseen_url_reports_the_old_view_in_the_old_session() {
    let mut t = started();
    flush(&mut t);
    t.sent(202);
    // 30 idle minutes, and the URL changed without the history API: the next act (a custom
    // event here, a click alike) ends the old view under the old session, then starts anew.
    t.env.wall += session::IDLE_MS + 1;
    t.env.url = "/next".into();
    t.custom("after", &[]);
    let sid = t.header.sid.clone();
    assert_ne!(sid, "s");
    t.env.timers.clear();
    t.send(false);
    let old = parse(&t.env.posts[1]);
    assert_eq!(
        (old.sid.as_str(), kinds(&t.env.posts[1])),
        ("s", vec!["scroll"]) // the old view's report
    );
    t.sent(202);
    let new = parse(&t.env.posts[2]);
    assert_eq!(
        (new.sid.as_str(), kinds(&t.env.posts[2])),
        (sid.as_str(), vec!["pageview", "custom"])
    );
}

#[test]
fn another_tab_keeps_a_shared_session_alive_and_the_entry_is_kept_sparingly() {
    let mut t = started();
    let writes = t.env.handed.len();
    // Inputs many times a minute write the entry once a minute at most.
    for _ in 0..100 {
        t.env.wall += 100;
        t.input(t.env.now);
    }
    assert_eq!(t.env.handed.len(), writes);
    t.env.wall += session::KEEP_EVERY_MS;
    t.input(t.env.now);
    assert_eq!(t.env.handed.len(), writes + 1);
    // Idle here for an hour, but another tab was active a minute ago: the same session.
    t.env.wall += 60 * 60_000;
    t.env.session = Some(session::entry("s", t.env.wall - 60_000));
    t.input(t.env.now);
    assert_eq!(t.header.sid, "s");
    // Leaving keeps the last activity to the ms, for the next page.
    t.env.wall += 5_000;
    t.leave();
    assert_eq!(t.env.session, Some(session::entry("s", t.env.wall - 5_000)));
}

#[test]
fn tabs_sharing_a_session_keep_their_batches_apart() {
    let a = started();
    let other_tab = Page {
        counter: 100, // its own random numbers
        wall: a.env.wall,
        session: a.env.session.clone(), // localStorage, shared
        ..Page::default()
    };
    let b = Tracker::new(other_tab, a.config.clone(), a.header.clone(), true);
    assert_eq!(a.header.sid, b.header.sid);
    assert_ne!(a.key(), b.key());
}

#[test]
fn text_longer_than_the_collector_takes_is_cut_not_the_batch_lost() {
    let mut t = started();
    t.env.url = ["/search?q=", &"x".repeat(3_000)].concat();
    t.env.title = "é".repeat(2_000);
    t.navigate(false);
    let b = parse(&t.drain()[0]);
    let view = b.events.last().unwrap();
    assert_eq!(view.url.len(), crate::json::MAX_STR);
    match &view.data {
        wire::EventData::Pageview(p) => assert_eq!(p.title.len(), crate::json::MAX_STR),
        other => panic!("{other:?}"),
    }
}

#[test]
fn nothing_is_recorded_after_the_page_is_gone_until_it_comes_back() {
    let mut t = started();
    t.env.now = 3_000.0;
    t.leave();
    assert_eq!(kinds(&t.env.beacons[0]), ["pageview", "scroll", "dwell"]);
    t.env.now = 4_000.0;
    t.visibility(false); // part of the teardown
    assert_eq!(t.env.beacons.len(), 1);
    t.navigate(true); // restored from the back/forward cache: a new view
    t.leave();
    assert_eq!(kinds(&t.env.beacons[1]), ["pageview", "scroll"]);
}

#[test]
fn the_offline_store_is_written_for_batches_held_back_not_for_those_sent() {
    let mut t = started();
    flush(&mut t);
    t.sent(202);
    t.custom("a", &[]);
    t.env.timers.clear();
    t.send(false);
    assert!(t.env.store.is_empty(), "on their way: not written");
    // The send fails: kept, and what is sealed while backing off joins it.
    t.sent(503);
    assert_eq!(mirror::decode(&t.env.store[t.key()]).len(), 1);
    t.custom("b", &[]);
    t.send(false);
    assert_eq!(t.env.posts.len(), 2, "backing off");
    assert_eq!(mirror::decode(&t.env.store[t.key()]).len(), 2);
    // Delivered one by one: the entry shrinks, then goes.
    t.env.now += 60_000.0;
    t.send(false);
    t.sent(202);
    assert_eq!(mirror::decode(&t.env.store[t.key()]).len(), 1);
    t.sent(202);
    assert!(t.env.store.is_empty());
    // Offline: kept, not sent.
    t.env.offline = true;
    t.custom("c", &[]);
    t.send(false);
    assert_eq!(t.env.posts.len(), 4);
    assert_eq!(mirror::decode(&t.env.store[t.key()]).len(), 1);
}

#[test]
fn what_an_earlier_page_left_is_sent_first() {
    let mut earlier = started();
    earlier.env.offline = true;
    earlier.leave();
    let entry = earlier.env.store[earlier.key()].clone();
    let left = parse(&mirror::decode(&entry)[0].body(1));

    let mut t = started();
    t.resume(&[entry]);
    assert_eq!(t.env.posts.len(), 1, "sent at once");
    t.sent(503);
    let kept = mirror::decode(&t.env.store[t.key()]);
    assert_eq!(
        kept[0].id, left.batch,
        "held back: kept again, under this page's key"
    );
    let first = parse(&t.env.posts[0]);
    assert_eq!(first.batch, left.batch, "under its own batch id");
    assert_eq!(first.events, left.events);
}

#[test]
fn a_click_nothing_answers_is_dead_unless_it_could_not_be_expected_to_do_anything() {
    let mut t = started();
    click_at(&mut t, 100.0, 200.0, true);
    assert!(t.env.watching);
    assert!(t.env.timers.contains(&(Timer::Dead(1), 1000)));
    fire(&mut t, |k| *k == Timer::Dead(1));
    assert!(!t.env.watching);
    click_at(&mut t, 500.0, 900.0, true);
    t.mutated(); // the page answered
    assert!(!t.env.watching, "answered: no more watching");
    fire(&mut t, |k| *k == Timer::Dead(2));
    let timers = t.env.timers.len();
    click_at(&mut t, 900.0, 1500.0, false); // plain text: recorded at once, nothing watched
    assert_eq!(
        t.env.timers.len(),
        timers,
        "no timer for a click that cannot be dead"
    );
    assert!(!t.env.watching);
    let all = clicks(&t.drain()[0]);
    let dead: Vec<bool> = all.iter().map(|c| c.dead).collect();
    assert_eq!(dead, [true, false, false]);
    assert_eq!(all[0].txt, "Add to cart");
    assert_eq!((all[0].ex, all[0].ey), (0.5, 0.5));
}

#[test]
fn a_late_timer_of_an_earlier_click_does_not_end_a_later_clicks_wait() {
    let mut t = started();
    click_at(&mut t, 100.0, 200.0, true);
    click_at(&mut t, 600.0, 200.0, true); // settles the first (dead: nothing answered it)
    fire(&mut t, |k| *k == Timer::Dead(1));
    assert!(t.env.watching, "the second click still waits");
    t.mutated();
    fire(&mut t, |k| *k == Timer::Dead(2));
    let dead: Vec<bool> = clicks(&t.drain()[0]).iter().map(|c| c.dead).collect();
    assert_eq!(dead, [true, false]);
}

#[test]
fn leaving_for_another_tab_or_window_answers_a_click() {
    let mut t = started();
    click_at(&mut t, 100.0, 200.0, true); // a link with target=_blank
    t.visibility(false);
    assert!(!the_click(&t.env.beacons[0]).dead);
    let mut t = started();
    click_at(&mut t, 100.0, 200.0, true); // window.open: a popup takes the focus
    t.focus(false);
    fire(&mut t, |k| *k == Timer::Dead(1));
    assert!(!the_click(&t.drain()[0]).dead);
}

#[test]
fn a_scroll_or_navigation_answers_a_click() {
    let mut t = started();
    click_at(&mut t, 100.0, 200.0, true);
    t.scrolled(100.0, 720.0);
    fire(&mut t, |k| *k == Timer::Dead(1));
    assert!(!the_click(&t.drain()[0]).dead);
    click_at(&mut t, 100.0, 200.0, true);
    t.env.url = "/cart".into();
    t.navigate(false);
    assert!(!the_click(&t.drain()[0]).dead);
}

#[test]
fn three_quick_clicks_in_one_place_end_in_a_rage_click() {
    let mut t = started();
    for i in 0..3 {
        t.env.now = f64::from(i) * 200.0;
        click_at(&mut t, 100.0 + f64::from(i) * 5.0, 200.0, false);
    }
    let rage: Vec<bool> = clicks(&t.drain()[0]).iter().map(|c| c.rage).collect();
    assert_eq!(rage, [false, false, true]);
}

#[test]
fn scrolling_keeps_the_deepest_position_and_reports_it_with_dwell() {
    let mut t = started();
    let timers = t.env.timers.len();
    t.scrolled(780.0, 720.0); // half of 3000 px seen
    assert_eq!(t.env.timers.len(), timers, "no timer per scroll event");
    t.env.scroll = (0.0, 720.0); // back at the top: the maximum stays
    t.scrolled(0.0, 720.0);
    t.env.now = 60_000.0;
    fire(&mut t, |k| *k == Timer::Beat);
    assert!(
        t.env.timers.contains(&(Timer::Beat, 60_000)),
        "the next heartbeat"
    );
    let scroll = scroll_report(&t.drain()[0]);
    assert_eq!((scroll.max, scroll.marks.as_slice()), (0.5, &[25, 50][..]));
}

#[test]
fn a_document_that_grew_unobserved_is_measured_again() {
    let mut t = started(); // 3,000 px as last observed
    t.env.height = 6000.0; // grown, and no observer said so (`html { height: 100% }`)
    t.scrolled(1000.0, 720.0);
    assert_eq!(t.height, 3000.0, "within what was measured: no new measure");
    t.scrolled(2700.0, 720.0); // past the old end: it must have grown
    assert_eq!(t.height, 6000.0);
    t.report();
    let scroll = scroll_report(&t.drain()[0]);
    assert_eq!(scroll.marks, [25, 50], "not 100 % at half the page");
    // At the bottom with a horizontal scrollbar, the viewport reaches past the root's end:
    // measured once, then taken as seen, not measured on every scroll.
    t.scrolled(5300.0, 720.0);
    assert_eq!(t.height, 6020.0);
    t.env.height = 9000.0;
    t.scrolled(5300.0, 720.0);
    assert_eq!(t.height, 6020.0, "no second measure");
}

#[test]
fn leaving_right_after_an_app_navigation_still_counts_its_view() {
    let mut t = started();
    flush(&mut t);
    t.sent(202);
    // The URL changed, and the page goes before the glue's next task took the navigation.
    t.env.url = "/next".into();
    t.env.title = "Next".into();
    t.leave();
    let sent: Vec<wire::Event> = t.env.beacons.iter().flat_map(|b| parse(b).events).collect();
    let views: Vec<&str> = sent
        .iter()
        .filter(|e| e.data.kind() == "pageview")
        .map(|e| e.url.as_str())
        .collect();
    assert_eq!(views, ["/next"]);
}

#[test]
fn no_heartbeat_while_hidden() {
    let mut t = started();
    t.visibility(false);
    t.env.timers.clear();
    t.env.now = 60_000.0;
    t.timer(Timer::Beat);
    assert!(t.env.timers.iter().all(|(k, _)| *k != Timer::Beat));
    t.visibility(true);
    assert!(t.env.timers.contains(&(Timer::Beat, 60_000)));
}

#[test]
fn identify_applies_to_events_recorded_after_it() {
    let mut t = started();
    t.identify(Some("user-7".into()));
    t.custom("signed_in", &[]);
    t.identify(Some(String::new()));
    assert_eq!(t.env.warnings.len(), 1, "an empty id is refused");
    t.identify(Some("user-7\n".into()));
    assert_eq!(
        t.env.warnings.len(),
        2,
        "the collector refuses control characters"
    );
    let bodies = t.drain();
    let uids: Vec<_> = bodies.iter().map(|b| parse(b).uid).collect();
    assert_eq!(uids, [None, Some("user-7".into())]);
}

#[test]
fn a_click_that_signs_in_or_out_belongs_to_the_identity_before_it() {
    let mut t = started();
    t.identify(Some("user-7".into()));
    click_at(&mut t, 100.0, 200.0, true); // "Log out", whose handler calls identify(null)
    t.identify(None);
    let bodies = t.drain();
    let with_click: Vec<_> = bodies.iter().filter(|b| !clicks(b).is_empty()).collect();
    assert_eq!(with_click.len(), 1);
    assert_eq!(parse(with_click[0]).uid.as_deref(), Some("user-7"));
    assert!(
        !the_click(with_click[0]).dead,
        "signing out is the click's answer"
    );
}

#[test]
fn bad_custom_events_warn_and_record_nothing() {
    let mut t = started();
    t.custom("", &[]);
    t.custom("ok", &[("nested", Prop::Other)]);
    assert_eq!(t.env.warnings.len(), 2);
    assert_eq!(kinds(&t.drain()[0]), ["pageview"]);
}

#[test]
fn repeated_errors_are_sent_once_per_view() {
    let mut t = started();
    for _ in 0..3 {
        t.error("boom".into(), "app.js".into(), 1, 2);
    }
    assert_eq!(kinds(&t.drain()[0]), ["pageview", "error"]);
}

#[test]
fn opting_out_discards_what_waited_and_stops() {
    let mut t = started();
    t.env.offline = true;
    flush(&mut t);
    t.visibility(false); // offline: kept in the store
    assert!(!t.env.store.is_empty());
    t.opt_out();
    assert!(t.env.store.is_empty());
    assert!(t.is_stopped());
}

impl Tracker<Page> {
    /// Seals and "posts" whatever is waiting, answering 202 at once.
    fn drain_into_posts(&mut self) {
        let bodies = self.drain();
        self.env.posts.extend(bodies);
    }
}

#[test]
fn an_input_told_late_counts_as_if_told_when_it_happened() {
    // The page tells of inputs (and scrolls) with its next call, whatever it is: dwell time
    // and the session's last activity come out the same as if told at once.
    let visit = |late: bool| {
        let mut t = started();
        let step = |t: &mut Tracker<Page>, ms: i64| {
            t.env.now += ms as f64;
            t.env.wall += ms;
        };
        step(&mut t, 40_000); // idle past the 30 s an input keeps the view engaged
        let at = t.env.now;
        if !late {
            t.input(at);
        }
        step(&mut t, 10_000);
        if late {
            t.input(at);
        }
        step(&mut t, 25_000); // the input's 30 s of engagement ended 5 s ago
        t.leave();
        let dwell = t
            .env
            .beacons
            .iter()
            .flat_map(|b| parse(b).events)
            .find_map(|e| match e.data {
                wire::EventData::Dwell(d) => Some(d),
                _ => None,
            })
            .expect("a dwell report");
        (dwell, t.env.session.clone())
    };
    let (dwell, session) = visit(true);
    assert_eq!((dwell.engaged_ms, dwell.total_ms), (60_000, 75_000));
    assert_eq!(
        session,
        Some(session::entry("s", 1_763_791_200_000 + 40_000))
    );
    assert_eq!(visit(false), (dwell, session));
}
