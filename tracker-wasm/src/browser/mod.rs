//! The glue between the page and [`Tracker`]: start-up, the page's API, and what the page's
//! events mean. The DOM itself is handled by the hand-written `js/page.js` (listeners, reads,
//! requests, storage), so this side passes only numbers and strings.
//!
//! Rules for code in here, because it runs inside other people's pages:
//! - listeners are passive and cheap; nothing blocks the page's own work;
//! - a failed web API degrades the tracker quietly (a console warning at most), never the
//!   page (`page.js` catches everything);
//! - no panics: a trapped wasm instance would stop tracking for the rest of the visit;
//! - re-entrant calls (page code calling the API from inside our listener) are skipped rather
//!   than allowed to double-borrow the state.

mod page;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use wasm_bindgen::prelude::*;

use crate::batch::Header;
use crate::clicks::{self, ClickInput};
use crate::config::{self, Storage};
use crate::ids;
use crate::json::cat;
use crate::mirror;
use crate::props::Prop;
use crate::selector::{self, Step};
use crate::tracker::{Env, Target, Timer, Tracker};
use page::{num, texts, Page, LOCAL};

/// Key of the visitor's opt-out, in `localStorage` whatever the id storage (it is consent,
/// not tracking). `page.js` watches it for an opt-out in another tab.
const OPT_OUT_KEY: &str = "spoor.optout";

/// What `wake(what, a, …)` from `page.js` means (the same numbers there).
pub(crate) mod wake {
    pub const CLICK: u32 = 0;
    // (1 and 2, once inputs and scrolls: now told with every call, see `wake`)
    pub const VISIBILITY: u32 = 3;
    pub const FOCUS: u32 = 4;
    pub const LEAVE: u32 = 5;
    pub const THAWED: u32 = 6;
    pub const SHOWN: u32 = 7;
    pub const ONLINE: u32 = 8;
    pub const NAVIGATE: u32 = 9;
    pub const MUTATED: u32 = 10;
    pub const RESIZED: u32 = 11;
    pub const SENT: u32 = 12;
    pub const FLUSH: u32 = 13;
    pub const BEAT: u32 = 14;
    pub const DEAD: u32 = 15;
    pub const ERROR: u32 = 16;
    pub const CUSTOM: u32 = 17;
    pub const OPTED_OUT: u32 = 18;
}

/// The one tracker of this page. wasm32 has one thread, so a static cell is enough.
struct Global(RefCell<Option<Tracker<Page>>>);
// SAFETY: wasm32-unknown-unknown without atomics runs on one thread; nothing else can see it.
unsafe impl Sync for Global {}
static TRACKER: Global = Global(RefCell::new(None));

/// Runs `f` on the tracker if it is started, running, and not already borrowed.
fn with<R>(f: impl FnOnce(&mut Tracker<Page>) -> R) -> Option<R> {
    let mut guard = TRACKER.0.try_borrow_mut().ok()?;
    let t = guard.as_mut()?;
    if t.is_stopped() {
        return None;
    }
    Some(f(t))
}

/// Where ids live: `sessionStorage` (0), `localStorage` (1), or memory only.
fn id_storage(storage: Storage) -> Option<u32> {
    match storage {
        Storage::Session => Some(0),
        Storage::Local => Some(LOCAL),
        Storage::None => None,
    }
}

/// Starts tracking the page. `base` is the URL the loader came from (ending in `/`); the
/// `data-*` attributes of its `<script>` element (handed to `page.js` by `js/api.js`)
/// configure the tracker.
#[wasm_bindgen]
pub fn start(base: &str) {
    if TRACKER.0.try_borrow().map_or(true, |t| t.is_some()) {
        return; // a second tag on the page
    }
    let config = match config::parse(page::attr, base) {
        Ok(c) => c,
        Err(e) => return page::warn(e),
    };
    let [vw, vh, dpr, prerendering, gpc, webdriver, local] = page::context()[..] else {
        return;
    };
    let opted_out = page::get(LOCAL, OPT_OUT_KEY).is_some();
    let dnt = page::dnt();
    if !config::allowed(&config, dnt.as_deref(), gpc != 0.0, opted_out) {
        return;
    }
    let ids = id_storage(config.storage);
    let mut env = Page {
        endpoint: config.endpoint.clone(),
        ids,
    };
    let offline = config.storage != Storage::None && local != 0.0;
    let saved = ids.and_then(|kind| page::get(kind, "spoor.vid"));
    let vid = saved.unwrap_or_else(|| {
        let id = ids::random_id(env.random_bytes());
        if let Some(kind) = ids {
            page::put(kind, "spoor.vid", Some(&id)); // full or blocked: the id lives in memory
        }
        id
    });
    let header = Header {
        site: config.site.clone(),
        vid,
        // Continued or begun by the tracker (see `session`), which also hands it to page code.
        sid: String::new(),
        uid: None,
        vw: vw as u32,
        vh: vh as u32,
        dpr,
        lang: page::language(),
        wd: webdriver != 0.0,
    };
    let spa = config.spa;
    let Ok(mut cell) = TRACKER.0.try_borrow_mut() else {
        return;
    };
    *cell = Some(Tracker::new(env, config, header, offline));
    drop(cell);
    let prerendering = prerendering != 0.0;
    // The page calls the wasm's own `wake` export: no closure, nothing to keep alive.
    page::listen(
        wasm_bindgen::exports(),
        spa,
        prerendering,
        clicks::MASKED,
        clicks::INTERACTIVE,
        clicks::MAX_LABEL_ELEMENTS,
        // Steps up to the root a selector may need: its parts, and `html`/`body` above them.
        selector::MAX_DEPTH + 2,
    );
    resume();
    if !prerendering {
        with(|t| t.navigate(false));
    }
}

/// At start: takes over what earlier pages of this site left in the offline store (this tab
/// before a reload, or tabs since closed).
fn resume() {
    with(|t| {
        if !t.keeps_offline() {
            return;
        }
        let prefix = cat(&[mirror::KEY_PREFIX, &t.config().site, "."]);
        // One entry per tab of the site; bounded even if a storage shim's removeItem does
        // nothing (the same batch twice is resumed once).
        let mut entries = Vec::new();
        while entries.len() < 64 {
            let Some(text) = page::take(LOCAL, &prefix) else {
                break;
            };
            entries.push(text);
        }
        t.resume(&entries);
    });
}

/// What the page's events mean to the tracker: `page.js` calls this for each, with the
/// event's code and a number. Inputs and scrolling, which come many times a second,
/// call nothing: each call tells what `page.js` holds of them since the previous one — the
/// time of the latest input (`input`, -1 if none) and the deepest scroll position (`top`
/// -1 if none). Between two calls the tracker's state is constant, so telling them late
/// changes no figure. (Exported for `page.js` alone; `js/api.js` does not re-export it.)
#[wasm_bindgen(skip_typescript)]
pub fn wake(what: u32, a: f64, input: f64, top: f64, viewport: f64) {
    with(|t| {
        t.told(input, top, viewport);
        match what {
            wake::CLICK => click(t),
            wake::VISIBILITY => t.visibility(a != 0.0),
            wake::FOCUS => t.focus(a != 0.0),
            wake::LEAVE => t.leave(),
            wake::THAWED => t.thawed(),
            wake::SHOWN => t.navigate(true),
            wake::ONLINE => t.online(),
            wake::NAVIGATE => t.navigate(false),
            wake::MUTATED => t.mutated(),
            wake::RESIZED => t.resized(a),
            wake::SENT => t.sent(a as u16),
            wake::FLUSH => t.timer(Timer::Flush),
            wake::BEAT => t.timer(Timer::Beat),
            wake::DEAD => t.timer(Timer::Dead(a as u32)),
            wake::ERROR => {
                let (n, s) = (num(), texts());
                let mut s = Parts(&s);
                let (line, col) = (n.first().copied(), n.get(1).copied());
                t.error(
                    s.next().into(),
                    s.next().into(),
                    line.unwrap_or(0.0) as u32,
                    col.unwrap_or(0.0) as u32,
                );
            }
            wake::OPTED_OUT => forget(t),
            wake::CUSTOM => {
                let s = texts();
                let mut s = Parts(&s);
                let name = s.next();
                t.custom(name, &props(&num(), s));
            }
            _ => {}
        }
    });
}

/// The strings of the event handed over (joined by NUL, see `page.js`'s `hand`), taken in
/// order; `""` once they run out. (By bytes: `str::split` costs the download more.)
struct Parts<'a>(&'a str);

impl<'a> Parts<'a> {
    fn next(&mut self) -> &'a str {
        let s = self.0.as_bytes();
        let mut end = 0;
        while s.get(end).is_some_and(|&b| b != 0) {
            end += 1;
        }
        // SAFETY: `end` is the end or at a NUL, which is ASCII: a boundary of characters, as
        // is the byte after a NUL.
        unsafe {
            self.0 = core::str::from_utf8_unchecked(s.get_unchecked((end + 1).min(s.len())..));
            core::str::from_utf8_unchecked(s.get_unchecked(..end))
        }
    }
}

/// `s` as an option: the page hands "no text" over as `""`.
fn some(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A click as `page.js` hands it over: the numbers of [`ClickInput`], whether the target is
/// interactive, then position among same-tag siblings and whether it has any for each step up
/// the tree; the strings are the tag, the text (none if masked), the link, then each step's
/// tag and id.
fn click(t: &mut Tracker<Page>) {
    let (n, s) = (num(), texts());
    let [page_x, page_y, client_x, client_y, doc_width, doc_height, rect_left, rect_top, rect_width, rect_height, interactive, ..] =
        n[..]
    else {
        return;
    };
    let mut s = Parts(&s);
    let (tag, text, href) = (s.next(), s.next(), s.next());
    let mut steps = Vec::new();
    for pair in n[11..].chunks(2) {
        let (tag, id) = (s.next(), s.next());
        steps.push(Step {
            tag,
            id: some(id),
            nth_of_type: pair.first().copied().unwrap_or(0.0) as u32,
            has_same_tag_siblings: pair.get(1) == Some(&1.0),
        });
    }
    let input = ClickInput {
        page_x,
        page_y,
        client_x,
        client_y,
        doc_width,
        doc_height,
        rect_left,
        rect_top,
        rect_width,
        rect_height,
    };
    let target = Target {
        sel: selector::build(&steps),
        tag,
        text: some(text),
        href: some(href),
        interactive: interactive != 0.0,
    };
    t.click(&input, target);
}

/// Custom event properties as `page.js` hands them over: a key and a text each in `s`;
/// a type code and number for each in `n` (0 text, 1 number, 2 boolean, 3 null, 4 other).
fn props<'a>(n: &[f64], mut s: Parts<'a>) -> Vec<(&'a str, Prop<'a>)> {
    let mut props = Vec::new();
    for pair in n.chunks(2) {
        let (key, text) = (s.next(), s.next());
        let value = pair.get(1).copied().unwrap_or(0.0);
        let prop = match pair.first().copied().unwrap_or(0.0) as u32 {
            0 => Prop::Str(text),
            1 => Prop::Num(value),
            2 => Prop::Bool(value != 0.0),
            3 => Prop::Null,
            _ => Prop::Other,
        };
        props.push((key, prop));
    }
    props
}

/// Sets (or with `None`, clears) the site's own id of the signed-in user, sent with the
/// batches sealed from now on. (`js/api.js` warns about values that are not strings; custom
/// events, `track`, are read by `page.js` and handed over as `wake::CUSTOM`.)
#[wasm_bindgen]
pub fn identify(user_id: Option<String>) {
    with(|t| t.identify(user_id));
}

/// The visitor opts out: nothing more is recorded or sent, now or on later visits, and what
/// was waiting is discarded.
#[wasm_bindgen(js_name = optOut)]
pub fn opt_out() {
    page::put(LOCAL, OPT_OUT_KEY, Some("1"));
    with(forget);
}

/// Stops this page's tracker and forgets its ids and what waited (the visitor opted out,
/// here or in another tab).
fn forget(t: &mut Tracker<Page>) {
    t.opt_out();
    page::stop();
    if let Some(kind) = id_storage(t.config().storage) {
        page::put(kind, "spoor.vid", None);
        page::put(kind, page::SESSION_KEY, None);
    }
}

/// Withdraws an opt-out; tracking starts again with the next page load.
#[wasm_bindgen(js_name = optIn)]
pub fn opt_in() {
    page::put(LOCAL, OPT_OUT_KEY, None);
}
