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
mod page;
#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element};

use crate::batch::Header;
use crate::config::{self, Storage};
use crate::ids;
use crate::json::cat;
use crate::mirror;
use crate::props::Prop;
use crate::tracker::{Env, Tracker};
use page::Page;

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

fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
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
    let Some(document) = window.document() else {
        return;
    };
    let (Some(vw), Some(vh)) = (
        window.inner_width().ok().and_then(|w| w.as_f64()),
        window.inner_height().ok().and_then(|h| h.as_f64()),
    ) else {
        return warn("spoor: tracking disabled, this page lacks a required browser API");
    };
    let mut page = Page {
        endpoint: config.endpoint.clone(),
        offline: if config.storage == Storage::None {
            None
        } else {
            local
        },
        callbacks: None,
        mutations: None,
        window,
        document,
    };
    let ids = id_storage(&page.window, config.storage);
    let mut stored_id = |key: &str| -> String {
        let saved = ids.as_ref().and_then(|s| s.get_item(key).ok().flatten());
        saved.unwrap_or_else(|| {
            let id = ids::random_id(page.random_bytes());
            if let Some(s) = &ids {
                let _ = s.set_item(key, &id); // quota full or blocked: the id lives in memory
            }
            id
        })
    };
    let (vid, sid) = (stored_id("spoor.vid"), stored_id("spoor.sid"));
    let nav = page.window.navigator();
    let header = Header {
        site: config.site.clone(),
        vid,
        sid,
        uid: None,
        vw: vw as u32,
        vh: vh as u32,
        dpr: page.window.device_pixel_ratio(),
        lang: nav.language().unwrap_or_default(),
        wd: nav.unchecked_ref::<Nav>().webdriver().unwrap_or(false),
    };
    let prerendering = page
        .document
        .unchecked_ref::<Doc>()
        .prerendering()
        .unwrap_or(false);
    let offline = page.offline.is_some();
    *TRACKER.0.borrow_mut() = Some(Tracker::new(page, config, header, offline));
    capture::listen(prerendering);
    resume();
    if !prerendering {
        with(|t| t.navigate(false));
    }
}

/// Where ids live (`None`: memory only).
fn id_storage(window: &web_sys::Window, storage: Storage) -> Option<web_sys::Storage> {
    match storage {
        Storage::Session => window.session_storage().ok().flatten(),
        Storage::Local => window.local_storage().ok().flatten(),
        Storage::None => None,
    }
}

/// At start: takes over what earlier pages of this site left in the offline store (this tab
/// before a reload, or tabs since closed).
fn resume() {
    with(|t| {
        let Some(store) = t.env.offline.clone() else {
            return;
        };
        let prefix = cat(&[mirror::KEY_PREFIX, &t.config().site, "."]);
        let keys: Vec<String> = (0..store.length().unwrap_or(0))
            .filter_map(|i| store.key(i).ok().flatten())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        let mut entries = Vec::new();
        for k in keys {
            if let Ok(Some(text)) = store.get_item(&k) {
                entries.push(text);
            }
            let _ = store.remove_item(&k);
        }
        t.resume(&entries);
    });
}

/// Records a custom event: `spoor.track("cart_add", { product: "11" })`. Bad input is a
/// console warning, never an exception in the page.
#[wasm_bindgen]
pub fn track(name: &str, props: JsValue) {
    match read_props(&props) {
        Ok(p) => custom(name, &p),
        Err(e) => warn(e),
    }
}

fn custom(name: &str, props: &[(String, Prop)]) {
    with(|t| t.custom(name, props));
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
    if uid.is_none() && !user_id.is_null() && !user_id.is_undefined() {
        return warn("spoor: identify() takes a string of 1–128 characters, or null");
    }
    with(|t| t.identify(uid));
}

/// This tab's session id, for page code to forward to its backend (joins browser events with
/// server logs).
#[wasm_bindgen(js_name = sessionId)]
pub fn session_id() -> Option<String> {
    with(|t| String::from(t.session_id()))
}

/// The visitor opts out: nothing more is recorded or sent, now or on later visits, and what
/// was waiting is discarded.
#[wasm_bindgen(js_name = optOut)]
pub fn opt_out() {
    if let Some(local) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = local.set_item(OPT_OUT_KEY, "1");
    }
    with(|t| {
        t.opt_out();
        if let Some(ids) = id_storage(&t.env.window, t.config().storage) {
            let _ = ids.remove_item("spoor.vid");
            let _ = ids.remove_item("spoor.sid");
        }
    });
}

/// Withdraws an opt-out; tracking starts again with the next page load.
#[wasm_bindgen(js_name = optIn)]
pub fn opt_in() {
    if let Some(local) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = local.remove_item(OPT_OUT_KEY);
    }
}
