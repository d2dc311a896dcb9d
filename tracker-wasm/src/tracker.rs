//! The tracker of one page, without the browser: what to record when, and how batches get
//! delivered. Everything it needs from the page (clocks, randomness, the URL, the scroll
//! position) and everything it does to it (timers, requests, storage) goes through [`Env`],
//! which the browser glue implements with web APIs and the tests with a fake page whose clock
//! they move by hand.

use alloc::string::String;
use alloc::vec::Vec;

use crate::batch::{backoff_ms, Header, Limits, Outbox};
use crate::clicks::{self, ClickInput, Rage};
use crate::config::Config;
use crate::dwell::Dwell;
use crate::errors::Errors;
use crate::event::{Click, Event, Kind};
use crate::ids;
use crate::json::cat;
use crate::mirror;
use crate::props::{self, Prop};
use crate::scroll::Scroll;
use crate::session;

/// Most time between dwell/scroll reports while a page stays visible (ms).
pub const HEARTBEAT_MS: i32 = 60_000;
/// Longest user id accepted by `identify` (the collector's bound).
pub const MAX_USER_ID: usize = 128;

/// The timers the tracker sets; the glue calls [`Tracker::timer`] when one fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Send what is waiting.
    Flush,
    /// Report dwell and scroll on a long visible view.
    Beat,
    /// A click's wait for an answer is over (its sequence number).
    Dead(u32),
}

/// The page as the tracker sees it.
pub trait Env {
    /// Monotonic clock (ms), for durations.
    fn now(&self) -> f64;
    /// Wall clock (ms since the Unix epoch), for timestamps.
    fn wall(&self) -> i64;
    /// 16 random bytes, for ids.
    fn random_bytes(&mut self) -> [u8; 16];
    /// A random number in 0..1, for jitter.
    fn random(&mut self) -> f64;
    /// Path and query of the current URL.
    fn url(&self) -> String;
    /// The page's origin (`https://shop.example`), to tell outbound links.
    fn origin(&self) -> String;
    fn title(&self) -> String;
    fn referrer(&self) -> String;
    fn visible(&self) -> bool;
    fn focused(&self) -> bool;
    /// Scroll offset and viewport height (CSS px).
    fn scroll(&self) -> (f64, f64);
    /// The document's height (CSS px), measured now.
    fn height(&self) -> f64;
    fn online(&self) -> bool;
    /// Sets a timer; false if it could not be set.
    fn set_timer(&mut self, timer: Timer, ms: i32) -> bool;
    /// Starts or stops watching the DOM for changes (a click waiting for an answer); the glue
    /// calls [`Tracker::mutated`] on a change.
    fn watch(&mut self, on: bool);
    /// Starts a request; its answer comes back through [`Tracker::sent`]. False if it could
    /// not be started.
    fn post(&mut self, body: &str) -> bool;
    /// Hands a body to the browser for delivery after the page is gone; false if refused.
    fn beacon(&mut self, body: &str) -> bool;
    /// Writes (or with `None` removes) an entry of the offline store; false if it could not
    /// (storage blocked or full).
    fn save(&mut self, key: &str, value: Option<&str>) -> bool;
    /// The session entry in the id storage (see [`session`]), as this or another tab kept it.
    fn kept_session(&self) -> Option<String>;
    /// Keeps the session entry in the id storage, and hands the session id to page code
    /// (`sessionId()`).
    fn keep_session(&mut self, sid: &str, entry: &str);
    fn warn(&mut self, msg: &str);
}

/// What the glue reads of a click's target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target<'a> {
    /// Short CSS selector (see `selector::build`).
    pub sel: String,
    /// Lower-case tag name.
    pub tag: &'a str,
    /// Its text, `None` when it must not be captured (typed, picked or masked) or is a
    /// container rather than a label.
    pub text: Option<&'a str>,
    /// `href` of the link it is in, if any.
    pub href: Option<&'a str>,
    /// It promises a response (a link, a button…): only then can a click be dead.
    pub interactive: bool,
}

pub struct Tracker<E: Env> {
    pub env: E,
    config: Config,
    header: Header,
    /// Whether undelivered batches are kept in the offline store.
    offline: bool,
    /// Whether this page's entry in the offline store holds batches.
    stored: bool,
    /// This page's entry in the offline store: random, so tabs sharing a session id (kept
    /// in `localStorage`, or a duplicated tab) never overwrite each other's batches.
    key: String,
    outbox: Outbox,
    /// The batch being sent by `post`, one at a time, in order.
    sending: Option<String>,
    /// Sends failed in a row: the backoff, and whether beacons can be trusted.
    pub(crate) failures: u32,
    /// `now()` before which no send is tried.
    retry_at: f64,
    flush_timer: bool,
    beat_timer: bool,
    /// The current page view: its URL (path and query), dwell and scroll.
    page: String,
    dwell: Dwell,
    scroll: Scroll,
    /// The document's height, kept by the glue (a layout read on scroll only past its end).
    height: f64,
    pub(crate) rage: Rage,
    errors: Errors,
    /// A click on an interactive target, waiting to learn whether anything answered it.
    pending_click: Option<Event>,
    /// Numbers clicks, so a click's timer cannot end a later click's wait.
    click_seq: u32,
    /// A DOM change, scroll or navigation happened since the pending click.
    answered: bool,
    /// The page is being unloaded (pagehide came): later events of its teardown report
    /// nothing more, unless the back/forward cache brings it back (a new view).
    gone: bool,
    /// The visitor opted out: record nothing more.
    stopped: bool,
    /// Wall-clock time of the last activity, and of the last write of the session entry.
    active: i64,
    kept: i64,
}

impl<E: Env> Tracker<E> {
    /// A tracker for this page; nothing is recorded until [`Tracker::navigate`]. The session
    /// id in `header` is decided here, as by any activity after a long idle: the kept one if
    /// still alive, else a new one.
    pub fn new(mut env: E, config: Config, header: Header, offline: bool) -> Self {
        let dwell = Dwell::new(env.now(), env.visible(), env.focused(), config.idle_ms);
        let key = cat(&[
            mirror::KEY_PREFIX,
            &header.site,
            ".",
            &ids::random_id(env.random_bytes()),
        ]);
        let mut t = Tracker {
            env,
            config,
            header,
            offline,
            stored: false,
            key,
            outbox: Outbox::new(Limits::default()),
            sending: None,
            failures: 0,
            retry_at: 0.0,
            flush_timer: false,
            beat_timer: false,
            page: String::new(),
            dwell,
            scroll: Scroll::default(),
            height: 0.0,
            rage: Rage::default(),
            errors: Errors::default(),
            pending_click: None,
            click_seq: 0,
            answered: false,
            gone: false,
            stopped: false,
            // Idle since ever: the first activity decides the session.
            active: i64::MIN / 2,
            kept: 0,
        };
        t.activity();
        t
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn session_id(&self) -> &str {
        &self.header.sid
    }

    /// Whether undelivered batches are kept in the offline store.
    pub fn keeps_offline(&self) -> bool {
        self.offline
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// An event of the current page view, happening now.
    fn event(&mut self, kind: Kind) -> Event {
        Event {
            ts: self.env.wall(),
            url: self.page.clone(),
            kind,
        }
    }

    /// Activity: an input, a click, a custom event, a new view. After [`session::IDLE_MS`]
    /// without any, in this tab and in the id storage (where other tabs keep theirs), a new
    /// session begins; what was recorded before is sealed under the old id.
    fn activity(&mut self) {
        self.activity_at(self.env.wall());
    }

    /// [`activity`](Self::activity) at `now` on the wall clock.
    #[inline(never)] // called from six places; one copy
    fn activity_at(&mut self, now: i64) {
        let mut keep = now - self.kept >= session::KEEP_EVERY_MS;
        if now - self.active > session::IDLE_MS {
            let kept = self.env.kept_session();
            let sid = match kept.as_deref().and_then(|e| session::alive(e, now)) {
                Some(id) => id.into(),
                None => ids::random_id(self.env.random_bytes()),
            };
            if sid != self.header.sid {
                self.seal();
                self.header.sid = sid;
            }
            keep = true;
        }
        self.active = now;
        if keep {
            self.keep_session();
        }
    }

    fn keep_session(&mut self) {
        self.kept = self.env.wall();
        let entry = session::entry(&self.header.sid, self.active);
        self.env.keep_session(&self.header.sid, &entry);
    }

    /// Queues an event of the current page view, and arranges for it to be sent.
    fn record(&mut self, kind: Kind) {
        let event = self.event(kind);
        self.enqueue(&event);
    }

    fn enqueue(&mut self, event: &Event) {
        if self.outbox.push(event) {
            self.send(false);
        } else {
            self.schedule_flush(self.config.flush_ms);
        }
    }

    /// Starts a page view if the URL changed (or `force`, for a page restored from the
    /// back/forward cache): the previous view's report first, then the new pageview. A
    /// restored page's previous view was reported when it was left; the time it spent in the
    /// cache belongs to no view (Chromium thaws it, `resume`, before `pageshow`).
    pub fn navigate(&mut self, force: bool) {
        let url = self.env.url();
        if url == self.page && !force {
            return;
        }
        if !self.page.is_empty() && !force {
            self.answer(); // a navigation answers a pending click
            self.report();
        }
        self.activity();
        let (now, visible, focused) = (self.env.now(), self.env.visible(), self.env.focused());
        self.dwell = Dwell::new(now, visible, focused, self.config.idle_ms);
        self.scroll = Scroll::default();
        self.errors.reset();
        self.gone = false;
        self.page = url;
        let kind = Kind::Pageview {
            title: self.env.title(),
            referrer: self.env.referrer(),
        };
        self.record(kind);
        self.schedule_beat();
    }

    /// Records what the view accrued since its last report: dwell time and scroll depth.
    pub fn report(&mut self) {
        if self.gone {
            return;
        }
        let at = self.env.now();
        self.settle_click();
        let (top, viewport) = self.env.scroll();
        self.scroll
            .observe(top, viewport, self.height.max(viewport));
        if let Some((max, marks)) = self.scroll.take() {
            self.record(Kind::Scroll { max, marks });
        }
        // A sliver of hidden time (the page hidden, then unloaded) is not worth a request.
        if let Some(r) = self
            .dwell
            .take(at)
            .filter(|r| r.visible_ms > 0 || r.total_ms >= 1000)
        {
            self.record(Kind::Dwell(r));
        }
    }

    /// Emits the pending click, dead unless something answered it.
    pub fn settle_click(&mut self) {
        if let Some(mut event) = self.pending_click.take() {
            if let Kind::Click(c) = &mut event.kind {
                c.dead = !self.answered;
            }
            if !self.answered {
                self.env.watch(false);
            }
            self.enqueue(&event);
        }
    }

    /// A click. One on an interactive target is recorded once it is known whether anything
    /// answered it (see `settle_click`); any other cannot be dead, and is recorded at once:
    /// no timer, and no watching the page's DOM on its account.
    pub fn click(&mut self, input: &ClickInput, target: Target) {
        // The old view's report first, under the old session if it expired (as `navigate`).
        self.navigate(false); // an SPA that changed its URL without the history API
        self.activity();
        self.settle_click(); // a new click ends the previous one's wait
        let at = self.env.now();
        let pos = clicks::position(input);
        self.dwell.input(at);
        let out = match target.href {
            Some(h) => clicks::is_outbound(h, &self.env.origin()),
            None => false,
        };
        let click = Click {
            x: pos.x,
            y: pos.y,
            yr: pos.yr,
            sel: target.sel,
            ex: pos.ex,
            ey: pos.ey,
            tag: target.tag.into(),
            txt: target.text.map(clicks::label).unwrap_or_default(),
            href: target.href.map(Into::into),
            out,
            rage: self.rage.click(at, input.page_x, input.page_y),
            dead: false,
        };
        let event = self.event(Kind::Click(click));
        if !target.interactive {
            return self.enqueue(&event);
        }
        self.pending_click = Some(event);
        self.answered = false;
        self.click_seq = self.click_seq.wrapping_add(1);
        self.env.watch(true);
        self.env
            .set_timer(Timer::Dead(self.click_seq), clicks::DEAD_WINDOW_MS);
    }

    /// The DOM changed: an answer to a pending click.
    pub fn mutated(&mut self) {
        self.answer();
    }

    /// Something answered the pending click, if any: the rest of its wait needs no watching
    /// (the page's own DOM work then pays for no more mutation records).
    fn answer(&mut self) {
        if self.pending_click.is_some() && !self.answered {
            self.env.watch(false);
        }
        self.answered = true;
    }

    /// An input (pointer, key, touch, wheel, scroll) at `at` on the monotonic clock: the
    /// visitor is engaged. The page tells of inputs late, with its next call of any kind:
    /// nothing changes the tracker's state in between, so accruing up to `at` then is exact.
    pub fn input(&mut self, at: f64) {
        self.dwell.input(at);
        // (Both times from `performance.now()`, the input's first.)
        self.activity_at(self.env.wall() - (self.env.now() - at) as i64);
    }

    /// What the page holds of inputs and scrolls since it last called: the latest input's
    /// time (`input`, -1 if none), the deepest position scrolled to (`top`, -1 if none).
    pub fn told(&mut self, input: f64, top: f64, viewport: f64) {
        if top >= 0.0 {
            self.scrolled(top, viewport);
        }
        if input >= 0.0 {
            self.input(input);
        }
    }

    /// The page scrolled to `top` with a viewport `viewport` px high (its deepest position
    /// since the page last called): an answer to a pending click, and a depth. (The scroll
    /// is an input too, told as such.)
    pub fn scrolled(&mut self, top: f64, viewport: f64) {
        self.answer();
        // Seen past the document's end as last measured: it grew unobserved (a layout where
        // no observed box resizes). Measured again, rarely, rather than on every scroll.
        if top + viewport > self.height + 1.0 {
            // At least what was seen: a horizontal scrollbar makes the viewport taller than
            // the visible root, and the next scroll must not measure again.
            self.height = self.env.height().max(top + viewport);
        }
        self.scroll
            .observe(top, viewport, self.height.max(viewport));
    }

    /// The document's height changed.
    pub fn resized(&mut self, height: f64) {
        self.height = height;
    }

    /// Focus came or went. Losing it answers a pending click (a link that opened a window).
    pub fn focus(&mut self, focused: bool) {
        let now = self.env.now();
        self.dwell.focus(now, focused);
        if !focused {
            self.answer();
        }
    }

    /// The page was shown or hidden. Hidden may be the last thing a page sees (a tab closed
    /// on mobile): report and hand everything over. Hiding answers a pending click (a link
    /// that opened a tab).
    pub fn visibility(&mut self, visible: bool) {
        let now = self.env.now();
        self.dwell.visibility(now, visible);
        if visible {
            self.schedule_beat();
        } else {
            self.answer();
            self.navigate(false);
            self.report();
            self.send(true);
        }
    }

    /// The page is going away (or being frozen): report, and hand everything to the browser.
    pub fn leave(&mut self) {
        self.navigate(false); // an app's navigation not yet taken (the glue waits a task)
        self.answer();
        self.report();
        self.gone = true;
        self.send(true);
        self.keep_session(); // the last activity to the ms, for the next page
    }

    /// A frozen background tab thawed: the same view goes on.
    pub fn thawed(&mut self) {
        self.gone = false;
    }

    /// The browser is online again: send now, whatever the backoff said.
    pub fn online(&mut self) {
        self.retry_at = 0.0;
        self.send(false);
    }

    pub fn timer(&mut self, timer: Timer) {
        match timer {
            Timer::Flush => {
                self.flush_timer = false;
                self.send(false);
            }
            Timer::Beat => {
                self.beat_timer = false;
                if self.dwell.is_visible() {
                    self.navigate(false);
                    self.report();
                    self.schedule_beat();
                }
            }
            Timer::Dead(seq) => {
                if seq == self.click_seq {
                    self.settle_click();
                }
            }
        }
    }

    /// An uncaught error or unhandled rejection in the page.
    pub fn error(&mut self, msg: String, src: String, line: u32, col: u32) {
        if self.errors.admit(&msg, &src, line, col) {
            self.record(Kind::Error {
                msg,
                src,
                line,
                col,
            });
        }
    }

    /// A custom event; bad input is a console warning.
    pub fn custom(&mut self, name: &str, props: &[(&str, Prop)]) {
        match props::name(name).and_then(|()| props::encode(props)) {
            Ok(props) => {
                self.navigate(false); // an SPA that changed its URL without the history API
                self.activity();
                self.record(Kind::Custom {
                    name: name.into(),
                    props,
                });
            }
            Err(e) => self.env.warn(e),
        }
    }

    /// Sets (or with `None`, clears) the site's own id of the signed-in user, sent with the
    /// batches sealed from now on.
    pub fn identify(&mut self, uid: Option<String>) {
        // The collector's rule: a batch carrying any other id would be refused whole.
        if uid.as_deref().is_some_and(|u| {
            u.is_empty() || u.len() > MAX_USER_ID || u.chars().any(char::is_control)
        }) {
            return self
                .env
                .warn("spoor: identify() takes a string of 1–128 printable characters, or null");
        }
        // Events recorded before belong to the previous identity, a click waiting for an
        // answer too ("Sign in", "Log out": this is its answer).
        self.answer();
        self.settle_click();
        self.seal();
        self.header.uid = uid;
    }

    /// The visitor opted out: nothing more is recorded or sent, and what waited is discarded.
    pub fn opt_out(&mut self) {
        self.outbox = Outbox::new(Limits::default());
        if self.offline {
            self.env.save(&self.key, None);
        }
        self.stopped = true;
    }

    fn schedule_beat(&mut self) {
        if self.beat_timer || !self.dwell.is_visible() {
            return;
        }
        self.beat_timer = self.env.set_timer(Timer::Beat, HEARTBEAT_MS);
    }

    /// Sends within `ms` unless a send is already due sooner.
    fn schedule_flush(&mut self, ms: i32) {
        if !self.flush_timer {
            self.flush_timer = self.env.set_timer(Timer::Flush, ms);
        }
    }

    fn seal(&mut self) {
        let env = &mut self.env;
        self.outbox
            .seal(&self.header, || ids::random_id(env.random_bytes()));
    }

    /// Seals what is queued and sends, keeping in the offline store what is held back.
    /// `away`: the page is being hidden or unloaded, so every batch goes to a beacon now — if
    /// the collector has been answering and the browser is online. Otherwise the batches stay
    /// in the offline store for the next page, since a beacon's fate is never reported back;
    /// but what the store cannot keep (none chosen, blocked or full) gets its beacon all the
    /// same.
    pub fn send(&mut self, away: bool) {
        self.seal();
        let online = self.env.online();
        if away {
            let trusted = online && self.failures == 0;
            if trusted {
                self.beacons();
            }
            if !self.persist() && online && !trusted {
                self.beacons();
            }
            return;
        }
        // The offline store keeps batches at risk: held back (offline, backing off after a
        // failure: see `sent`), or left when the page goes (above). Not those on their way to a
        // send expected to succeed: a write costs the page more script than the send itself
        // (localStorage, ~0.8 ms measured in Chromium), and a crash while one is in flight
        // loses no more than one in the seconds before it was sealed would.
        if self.sending.is_some() {
            return;
        }
        let wait = self.retry_at - self.env.now();
        if !online || wait > 0.0 {
            self.persist();
            if online {
                self.schedule_flush(wait as i32);
            }
            return;
        }
        let Some(batch) = self.outbox.sealed().next() else {
            return;
        };
        let body = batch.body(self.env.wall());
        let id = batch.id.clone();
        self.sending = Some(id);
        if !self.env.post(&body) {
            self.sent(0); // could not even start: a failure like any other, retried later
        }
    }

    /// The collector answered the batch in flight with `status` (0: it could not be reached
    /// — offline, DNS, CORS — all "try again later"); then goes on with the next.
    pub fn sent(&mut self, status: u16) {
        let Some(id) = self.sending.take() else {
            return;
        };
        match status {
            200..=299 => {
                self.outbox.done(&id);
                self.failures = 0;
            }
            // The collector will never take this batch (malformed or not allowed): resending
            // is pointless, and holding it would block everything behind it.
            400..=499 if status != 408 && status != 429 => {
                self.env.warn("spoor: the collector rejected a batch");
                self.outbox.done(&id);
                self.failures = 0;
            }
            _ => {
                self.failures += 1;
                let delay = backoff_ms(self.failures, self.env.random());
                self.retry_at = self.env.now() + f64::from(delay);
                self.persist();
                return self.schedule_flush(delay as i32);
            }
        }
        if self.stored {
            self.persist(); // what was kept, less what just went
        }
        if self.outbox.sealed().next().is_some() {
            self.send(false);
        }
    }

    /// Hands every sealed batch to a beacon; those the browser takes are done.
    fn beacons(&mut self) {
        let sent = self.env.wall();
        let mut handed = Vec::new();
        for b in self.outbox.sealed() {
            if self.env.beacon(&b.body(sent)) {
                handed.push(b.id.clone());
            }
        }
        for id in handed {
            self.outbox.done(&id);
        }
    }

    /// When the view last had an input, as the tracker knows it.
    #[cfg(test)]
    pub fn last_input(&self) -> f64 {
        self.dwell.last_input()
    }

    /// This page's key in the offline store.
    #[cfg(test)]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Writes the undelivered batches to the offline store (or removes the entry when there
    /// are none); false if some are left that it does not keep.
    fn persist(&mut self) -> bool {
        let pending = self.outbox.sealed().next().is_some();
        if !self.offline || !(pending || self.stored) {
            return !pending; // nothing to keep, or no entry to remove
        }
        // (After a failed write the entry may hold less, or more: what it holds is resent at
        // worst, and stored once by the collector.)
        self.stored = pending;
        if pending {
            let text = mirror::encode(self.outbox.sealed());
            self.env.save(&self.key, Some(&text))
        } else {
            self.env.save(&self.key, None)
        }
    }

    /// Takes over what earlier pages of this site left in the offline store (entries the
    /// glue read and removed), and sends it. A batch also still held by a live tab may be
    /// sent twice; the collector stores it once.
    pub fn resume(&mut self, entries: &[String]) {
        for text in entries {
            self.outbox.resume(mirror::decode(text));
        }
        // (Out of the store now, like a batch just sealed: kept again if held back.)
        if self.outbox.sealed().next().is_some() {
            self.send(false);
        }
    }

    /// Seals everything, pending click included, and returns the request bodies without
    /// sending them, emptying the outbox (the browser tests read what was recorded so).
    #[cfg(test)]
    pub fn drain(&mut self) -> Vec<String> {
        self.settle_click();
        self.seal();
        let bodies = self.outbox.sealed().map(|b| b.body(1)).collect();
        self.outbox = Outbox::new(Limits::default());
        self.sending = None;
        bodies
    }
}

#[cfg(test)]
mod tests;
