//! The page as the tracker sees it ([`Env`]), through the hand-written `js/page.js`: every
//! reading and effect is one call with numbers or a string, and nothing there throws.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;

use super::wake;
use crate::tracker::{Env, Timer};

#[wasm_bindgen(module = "/js/page.js")]
extern "C" {
    /// A string of the page: `what` is its reading's place in `page.js`'s `strings` (the
    /// functions below, in the same order), `a` and `key` the reading's arguments. One
    /// import, so one glue function, for every string read.
    fn read(what: u32, a: u32, key: &str) -> Option<String>;
    /// Numbers of the page: `what` is the reading's place in `page.js`'s `numbers`.
    #[wasm_bindgen(js_name = readNumbers)]
    fn read_numbers(what: u32) -> Vec<f64>;

    fn now() -> f64;
    fn wall() -> f64;
    fn fill(bytes: &mut [u8]);
    fn random() -> f64;
    fn visible() -> bool;
    fn focused() -> bool;
    fn online() -> bool;
    pub fn warn(msg: &str);

    /// Writes (`None`: removes) an entry of storage `kind` (0 `sessionStorage`, 1
    /// `localStorage`); false if the storage is unavailable.
    pub fn put(kind: u32, key: &str, value: Option<&str>) -> bool;

    /// Calls `wake(what, seq)` after `ms`.
    #[wasm_bindgen(js_name = setTimer)]
    fn set_timer(what: u32, seq: u32, ms: i32) -> bool;
    fn watch(on: bool);
    fn post(endpoint: &str, body: &str) -> bool;
    fn beacon(endpoint: &str, body: &str) -> bool;

    /// The session id, which `sessionId()` answers with until [`stop`].
    pub fn session(id: &str);
    /// Removes the listeners and observers (the visitor opted out).
    pub fn stop();

    /// Installs the listeners; the page calls the `wake` of the wasm's `exports`.
    pub fn listen(
        exports: JsValue,
        spa: bool,
        prerendering: bool,
        masked: &str,
        interactive: &str,
        max_elements: u32,
        max_steps: usize,
    );
}

/// The strings of the event being handed over, joined by NUL (see `page.js`'s `hand`).
pub fn texts() -> String {
    read(0, 0, "").unwrap_or_default()
}

/// Path and query of the current URL.
fn url() -> String {
    read(1, 0, "").unwrap_or_default()
}

fn origin() -> String {
    read(2, 0, "").unwrap_or_default()
}

fn title() -> String {
    read(3, 0, "").unwrap_or_default()
}

fn referrer() -> String {
    read(4, 0, "").unwrap_or_default()
}

pub fn language() -> String {
    read(5, 0, "").unwrap_or_default()
}

/// `navigator.doNotTrack`.
pub fn dnt() -> Option<String> {
    read(6, 0, "")
}

/// A `data-*` attribute of the tracker's script tag.
pub fn attr(name: &str) -> Option<String> {
    read(7, 0, name)
}

/// An entry of storage `kind` (0 `sessionStorage`, 1 `localStorage`).
pub fn get(kind: u32, key: &str) -> Option<String> {
    read(8, kind, key)
}

/// Reads and removes one entry of storage `kind` whose key starts with `prefix`.
pub fn take(kind: u32, prefix: &str) -> Option<String> {
    read(9, kind, prefix)
}

/// The numbers of the event being handed over.
pub fn num() -> Vec<f64> {
    read_numbers(0)
}

/// Viewport width and height, device pixel ratio, and as 1/0: prerendering, Global Privacy
/// Control, `navigator.webdriver`, `localStorage` usable.
pub fn context() -> Vec<f64> {
    read_numbers(1)
}

/// Scroll offset and viewport height.
fn scroll() -> Vec<f64> {
    read_numbers(2)
}

/// The document's height.
fn height() -> Vec<f64> {
    read_numbers(3)
}

/// `localStorage`, in [`get`]/[`put`]/[`take`].
pub const LOCAL: u32 = 1;

/// The page, with where batches go and where ids are kept (a storage kind, or memory only).
pub struct Page {
    pub endpoint: String,
    pub ids: Option<u32>,
}

/// Key of the session entry in the id storage.
pub const SESSION_KEY: &str = "spoor.sid";

impl Env for Page {
    fn now(&self) -> f64 {
        now()
    }

    fn wall(&self) -> i64 {
        wall() as i64
    }

    fn random_bytes(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        fill(&mut bytes);
        bytes
    }

    fn random(&mut self) -> f64 {
        random()
    }

    fn url(&self) -> String {
        url()
    }

    fn origin(&self) -> String {
        origin()
    }

    fn title(&self) -> String {
        title()
    }

    fn referrer(&self) -> String {
        referrer()
    }

    fn visible(&self) -> bool {
        visible()
    }

    fn focused(&self) -> bool {
        focused()
    }

    fn scroll(&self) -> (f64, f64) {
        match scroll()[..] {
            [top, viewport] => (top, viewport),
            _ => (0.0, 0.0),
        }
    }

    fn height(&self) -> f64 {
        height().first().copied().unwrap_or(0.0)
    }

    fn online(&self) -> bool {
        online()
    }

    fn set_timer(&mut self, timer: Timer, ms: i32) -> bool {
        let (what, seq) = match timer {
            Timer::Flush => (wake::FLUSH, 0),
            Timer::Beat => (wake::BEAT, 0),
            Timer::Dead(seq) => (wake::DEAD, seq),
        };
        set_timer(what, seq, ms)
    }

    fn watch(&mut self, on: bool) {
        watch(on);
    }

    fn post(&mut self, body: &str) -> bool {
        post(&self.endpoint, body)
    }

    fn beacon(&mut self, body: &str) -> bool {
        beacon(&self.endpoint, body)
    }

    fn save(&mut self, key: &str, value: Option<&str>) -> bool {
        put(LOCAL, key, value)
    }

    fn kept_session(&self) -> Option<String> {
        get(self.ids?, SESSION_KEY)
    }

    fn keep_session(&mut self, sid: &str, entry: &str) {
        session(sid);
        if let Some(kind) = self.ids {
            put(kind, SESSION_KEY, Some(entry)); // full or blocked: the id lives in memory
        }
    }

    fn warn(&mut self, msg: &str) {
        warn(msg);
    }
}
