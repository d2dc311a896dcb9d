//! The glue between the page and the pure modules: state, start-up, the page's API.
//!
//! Rules for code in here, because it runs inside other people's pages:
//! - listeners are passive and cheap; nothing blocks the page's own work;
//! - every web API that can throw is called through its `catch` binding, and a failure degrades
//!   the tracker quietly (a console warning at most), never the page;
//! - no panics: a trapped wasm instance would stop tracking for the rest of the visit;
//! - re-entrant calls (page code calling the API from inside our listener) are skipped rather
//!   than allowed to double-borrow the state.

mod capture;
mod delivery;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Window};

use crate::batch::{Header, Limits, Outbox};
use crate::clicks::Rage;
use crate::config::{self, Config, Storage};
use crate::dwell::Dwell;
use crate::errors::Errors;
use crate::event::{Event, Kind};
use crate::ids;
use crate::json::cat;
use crate::props::{self, Prop};
use crate::scroll::Scroll;

#[wasm_bindgen]
extern "C" {
    /// `Navigator` with what web-sys lacks: Global Privacy Control.
    #[wasm_bindgen(extends = web_sys::Navigator)]
    type Nav;
    #[wasm_bindgen(method, getter = globalPrivacyControl)]
    fn gpc(this: &Nav) -> Option<bool>;
    #[wasm_bindgen(method, getter)]
    fn webdriver(this: &Nav) -> Option<bool>;
    /// `null` when unset (web-sys expects a string and would throw).
    #[wasm_bindgen(method, getter = doNotTrack)]
    fn dnt(this: &Nav) -> Option<String>;

    /// `Document.prerendering` (a page rendered before the visitor opened it).
    #[wasm_bindgen(extends = Document)]
    type Doc;
    #[wasm_bindgen(method, getter)]
    fn prerendering(this: &Doc) -> Option<bool>;
}

/// Most time between dwell/scroll reports while a page stays visible (ms).
const HEARTBEAT_MS: i32 = 60_000;
/// Key of the visitor's opt-out, in `localStorage` whatever the id storage (it is consent,
/// not tracking).
const OPT_OUT_KEY: &str = "spoor.optout";

type Callback = Closure<dyn FnMut(JsValue)>;

/// Callbacks created once and reused, so nothing is allocated per timer or request.
struct Callbacks {
    flush: Callback,
    beat: Callback,
    /// Ends a click's wait for an answer (called with its sequence number).
    dead: Callback,
    frame: Callback,
    /// The collector answered / could not be reached.
    sent: Callback,
    failed: Callback,
    /// Swallows a rejection nobody waits for.
    failed_quietly: Callback,
    /// The DOM changed while a click waited.
    mutated: Callback,
}

/// A callback as the function web APIs take.
fn func(c: &Callback) -> &js_sys::Function {
    c.as_ref().unchecked_ref()
}

struct Tracker {
    window: Window,
    document: Document,
    config: Config,
    header: Header,
    /// Where ids live (`None`: memory only).
    ids: Option<web_sys::Storage>,
    /// Where undelivered batches wait for a later page (`None`: memory only).
    offline: Option<web_sys::Storage>,
    outbox: Outbox,
    /// The batch being sent by `fetch`, one at a time, in order.
    sending: Option<String>,
    /// Sends failed in a row: the backoff, and whether beacons can be trusted.
    failures: u32,
    /// `performance.now()` before which no send is tried.
    retry_at: f64,
    flush_timer: bool,
    beat_timer: bool,
    callbacks: Option<Callbacks>,
    /// The current page view: its URL (path and query), dwell and scroll.
    page: String,
    dwell: Dwell,
    scroll: Scroll,
    /// The document's height, kept by a ResizeObserver (no layout reads on scroll).
    height: f64,
    frame_pending: bool,
    rage: Rage,
    errors: Errors,
    /// A click waiting to learn whether anything answered it, and whether it could be dead.
    pending_click: Option<(Event, bool)>,
    /// Numbers clicks, so a click's timer cannot end a later click's wait.
    click_seq: u32,
    /// A DOM change, scroll or navigation happened since the pending click.
    answered: bool,
    mutations: Option<web_sys::MutationObserver>,
    /// The page is being unloaded (pagehide came): later events of its teardown report
    /// nothing more, unless the back/forward cache brings it back (a new view).
    gone: bool,
    /// The visitor opted out: record nothing more.
    stopped: bool,
}

/// The one tracker of this page. wasm32 has one thread, so a static cell is enough.
struct Global(RefCell<Option<Tracker>>);
// SAFETY: wasm32-unknown-unknown without atomics runs on one thread; nothing else can see it.
unsafe impl Sync for Global {}
static TRACKER: Global = Global(RefCell::new(None));

/// Runs `f` on the tracker if it is started, running, and not already borrowed.
fn with<R>(f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
    let mut guard = TRACKER.0.try_borrow_mut().ok()?;
    let t = guard.as_mut()?;
    if t.stopped {
        return None;
    }
    Some(f(t))
}

fn now(window: &Window) -> f64 {
    window.performance().map_or(0.0, |p| p.now())
}

fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

fn random_id(window: &Window) -> String {
    let mut bytes = [0u8; 16];
    let filled = window
        .crypto()
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes))
        .is_ok();
    if !filled {
        for b in &mut bytes {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
    ids::random_id(bytes)
}

/// Starts tracking the page. `base` is the URL the loader came from (ending in `/`) and
/// `script` its `<script>` element, whose `data-*` attributes configure the tracker.
#[wasm_bindgen]
pub fn start(base: &str, script: &Element) {
    if TRACKER.0.try_borrow().map_or(true, |t| t.is_some()) {
        return; // a second tag on the page
    }
    let Some(window) = web_sys::window() else {
        return;
    };
    let config = match config::parse(|name| script.get_attribute(&cat(&["data-", name])), base) {
        Ok(c) => c,
        Err(e) => return warn(e),
    };
    let local = window.local_storage().ok().flatten();
    let opted_out = local
        .as_ref()
        .and_then(|s| s.get_item(OPT_OUT_KEY).ok().flatten())
        .is_some();
    let nav: Nav = window.navigator().unchecked_into();
    let (dnt, gpc) = (nav.dnt(), nav.gpc().unwrap_or(false));
    if !config::allowed(&config, dnt.as_deref(), gpc, opted_out) {
        return;
    }
    let Some(t) = init(window, config, local) else {
        return warn("spoor: tracking disabled, this page lacks a required browser API");
    };
    let prerendering = t
        .document
        .unchecked_ref::<Doc>()
        .prerendering()
        .unwrap_or(false);
    *TRACKER.0.borrow_mut() = Some(t);
    capture::listen(prerendering);
    delivery::resume();
    if !prerendering {
        pageview();
    }
}

fn init(window: Window, config: Config, local: Option<web_sys::Storage>) -> Option<Tracker> {
    let document = window.document()?;
    let ids = match config.storage {
        Storage::Session => window.session_storage().ok().flatten(),
        Storage::Local => local.clone(),
        Storage::None => None,
    };
    let stored_id = |key: &str| -> String {
        let saved = ids.as_ref().and_then(|s| s.get_item(key).ok().flatten());
        saved.unwrap_or_else(|| {
            let id = random_id(&window);
            if let Some(s) = &ids {
                let _ = s.set_item(key, &id); // quota full or blocked: the id lives in memory
            }
            id
        })
    };
    let nav = window.navigator();
    let header = Header {
        site: config.site.clone(),
        vid: stored_id("spoor.vid"),
        sid: stored_id("spoor.sid"),
        uid: None,
        vw: window.inner_width().ok()?.as_f64()? as u32,
        vh: window.inner_height().ok()?.as_f64()? as u32,
        dpr: window.device_pixel_ratio(),
        lang: nav.language().unwrap_or_default(),
        wd: nav.unchecked_ref::<Nav>().webdriver().unwrap_or(false),
    };
    let at = now(&window);
    let visible = !document.hidden();
    let focused = document.has_focus().unwrap_or(visible);
    Some(Tracker {
        dwell: Dwell::new(at, visible, focused, config.idle_ms),
        offline: if config.storage == Storage::None {
            None
        } else {
            local
        },
        window,
        document,
        header,
        ids,
        outbox: Outbox::new(Limits::default()),
        sending: None,
        failures: 0,
        retry_at: 0.0,
        flush_timer: false,
        beat_timer: false,
        callbacks: None,
        page: String::new(),
        scroll: Scroll::default(),
        height: 0.0,
        frame_pending: false,
        rage: Rage::default(),
        errors: Errors::default(),
        pending_click: None,
        click_seq: 0,
        answered: false,
        mutations: None,
        gone: false,
        stopped: false,
        config,
    })
}

impl Tracker {
    /// The current page's path and query.
    fn url(&self) -> String {
        let l = self.window.location();
        let mut url = l.pathname().unwrap_or_default();
        url.push_str(&l.search().unwrap_or_default());
        url
    }

    /// Queues an event of the current page view, and arranges for it to be sent.
    fn record(&mut self, kind: Kind) {
        let event = self.event(kind);
        self.enqueue(&event);
    }

    /// An event of the current page view, happening now.
    fn event(&self, kind: Kind) -> Event {
        Event {
            id: random_id(&self.window),
            ts: js_sys::Date::now() as i64,
            url: self.page.clone(),
            kind,
        }
    }

    fn enqueue(&mut self, event: &Event) {
        if self.outbox.push(event.encode()) {
            delivery::flush_now(self);
        } else {
            delivery::schedule_flush(self, self.config.flush_ms);
        }
    }

    /// Records what the view accrued since its last report: dwell time and scroll depth.
    fn report(&mut self) {
        if self.gone {
            return;
        }
        let at = now(&self.window);
        self.settle_click();
        let (top, viewport) = (
            self.window.scroll_y().unwrap_or(0.0),
            self.window
                .inner_height()
                .ok()
                .and_then(|h| h.as_f64())
                .unwrap_or(0.0),
        );
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
    fn settle_click(&mut self) {
        if let Some((mut event, candidate)) = self.pending_click.take() {
            if let Kind::Click(c) = &mut event.kind {
                c.dead = candidate && !self.answered;
            }
            if let Some(m) = &self.mutations {
                m.disconnect();
            }
            self.enqueue(&event);
        }
    }
}

/// Starts a page view if the URL changed (or `force`, for a page restored from the
/// back/forward cache): the previous view's report first, then the new pageview.
fn navigate(t: &mut Tracker, force: bool) {
    let url = t.url();
    if url == t.page && !force {
        return;
    }
    if !t.page.is_empty() {
        t.answered = true; // a navigation answers a pending click
        t.report();
    }
    let at = now(&t.window);
    let visible = !t.document.hidden();
    t.dwell = Dwell::new(
        at,
        visible,
        t.document.has_focus().unwrap_or(visible),
        t.config.idle_ms,
    );
    t.scroll = Scroll::default();
    t.errors.reset();
    t.gone = false;
    t.page = url;
    let referrer = t.document.referrer();
    let kind = Kind::Pageview {
        title: t.document.title(),
        referrer,
    };
    t.record(kind);
    capture::schedule_beat(t);
}

fn pageview() {
    with(|t| navigate(t, false));
}

/// Records a custom event: `spoor.track("cart_add", { product: "11" })`. Bad input is a
/// console warning, never an exception in the page.
#[wasm_bindgen]
pub fn track(name: &str, props: JsValue) {
    let props = match read_props(&props) {
        Ok(p) => p,
        Err(e) => return warn(e),
    };
    custom(name, &props);
}

fn custom(name: &str, props: &[(String, Prop)]) {
    let encoded = props::name(name).and_then(|()| props::encode(props));
    match encoded {
        Ok(props) => {
            with(|t| {
                navigate(t, false); // an SPA that changed its URL without the history API
                t.record(Kind::Custom {
                    name: name.into(),
                    props,
                })
            });
        }
        Err(e) => warn(e),
    }
}

fn read_props(value: &JsValue) -> Result<Vec<(String, Prop)>, &'static str> {
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() || js_sys::Array::is_array(value) {
        return Err("spoor: track() takes an object of properties");
    }
    let entries = js_sys::Object::entries(value.unchecked_ref());
    Ok(entries
        .iter()
        .map(|pair| {
            let pair: js_sys::Array = pair.unchecked_into();
            let key = pair.get(0).as_string().unwrap_or_default();
            let v = pair.get(1);
            let prop = if let Some(s) = v.as_string() {
                Prop::Str(s)
            } else if let Some(n) = v.as_f64() {
                Prop::Num(n)
            } else if let Some(b) = v.as_bool() {
                Prop::Bool(b)
            } else if v.is_null() {
                Prop::Null
            } else {
                Prop::Other
            };
            (key, prop)
        })
        .collect())
}

/// Sets (or with `null`, clears) the site's own id of the signed-in user, sent with the
/// batches sealed from now on.
#[wasm_bindgen]
pub fn identify(user_id: JsValue) {
    let uid = user_id.as_string();
    if !user_id.is_null()
        && !user_id.is_undefined()
        && uid.as_deref().is_none_or(|u| u.is_empty() || u.len() > 128)
    {
        return warn("spoor: identify() takes a string of 1–128 characters, or null");
    }
    with(|t| {
        // Events recorded before belong to the previous identity.
        let window = t.window.clone();
        t.outbox.seal(&t.header, || random_id(&window));
        t.header.uid = uid;
    });
}

/// This tab's session id, for page code to forward to its backend (joins browser events with
/// server logs).
#[wasm_bindgen(js_name = sessionId)]
pub fn session_id() -> Option<String> {
    with(|t| t.header.sid.clone())
}

/// The visitor opts out: nothing more is recorded or sent, now or on later visits, and what
/// was waiting is discarded.
#[wasm_bindgen(js_name = optOut)]
pub fn opt_out() {
    if let Some(local) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = local.set_item(OPT_OUT_KEY, "1");
    }
    with(|t| {
        t.outbox = Outbox::new(Limits::default());
        delivery::forget_offline(t);
        if let Some(ids) = &t.ids {
            let _ = ids.remove_item("spoor.vid");
            let _ = ids.remove_item("spoor.sid");
        }
        t.stopped = true;
    });
}

/// Withdraws an opt-out; tracking starts again with the next page load.
#[wasm_bindgen(js_name = optIn)]
pub fn opt_in() {
    if let Some(local) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = local.remove_item(OPT_OUT_KEY);
    }
}
