//! The page as the tracker sees it ([`Env`]), with web APIs: clocks, the URL, timers,
//! `fetch` and `sendBeacon`, `localStorage`. Every call that can throw goes through its
//! `catch` binding; a failure means "could not", never an exception in the page.

use alloc::string::String;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, RequestCredentials, RequestInit, Window};

use super::{warn, Callback, Callbacks};
use crate::tracker::{Env, Timer};

#[wasm_bindgen]
extern "C" {
    /// `RequestInit` with the `keepalive` member web-sys lacks: a request that outlives the
    /// page, like a beacon.
    #[wasm_bindgen(extends = RequestInit)]
    type KeepaliveInit;
    #[wasm_bindgen(method, setter = keepalive)]
    fn set_keepalive(this: &KeepaliveInit, value: bool);
}

pub(super) struct Page {
    pub window: Window,
    pub document: Document,
    /// Where batches are posted.
    pub endpoint: String,
    /// Where undelivered batches wait for a later page (`None`: memory only).
    pub offline: Option<web_sys::Storage>,
    /// Set once the listeners exist (see `capture::listen`).
    pub callbacks: Option<Callbacks>,
    pub mutations: Option<web_sys::MutationObserver>,
}

/// A callback as the function web APIs take.
pub(super) fn func(c: &Callback) -> &js_sys::Function {
    c.as_ref().unchecked_ref()
}

impl Page {
    fn request(&self, body: &str) -> RequestInit {
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(body));
        init.set_credentials(RequestCredentials::Omit);
        init
    }
}

impl Env for Page {
    fn now(&self) -> f64 {
        self.window.performance().map_or(0.0, |p| p.now())
    }

    fn wall(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn random_bytes(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        let filled = self
            .window
            .crypto()
            .and_then(|c| c.get_random_values_with_u8_array(&mut bytes))
            .is_ok();
        if !filled {
            for b in &mut bytes {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
        bytes
    }

    fn random(&mut self) -> f64 {
        js_sys::Math::random()
    }

    fn url(&self) -> String {
        let l = self.window.location();
        let mut url = l.pathname().unwrap_or_default();
        url.push_str(&l.search().unwrap_or_default());
        url
    }

    fn origin(&self) -> String {
        self.window.location().origin().unwrap_or_default()
    }

    fn title(&self) -> String {
        self.document.title()
    }

    fn referrer(&self) -> String {
        self.document.referrer()
    }

    fn visible(&self) -> bool {
        !self.document.hidden()
    }

    fn focused(&self) -> bool {
        self.document.has_focus().unwrap_or_else(|_| self.visible())
    }

    fn scroll(&self) -> (f64, f64) {
        let w = &self.window;
        let viewport = w.inner_height().ok().and_then(|h| h.as_f64());
        (w.scroll_y().unwrap_or(0.0), viewport.unwrap_or(0.0))
    }

    fn online(&self) -> bool {
        self.window.navigator().on_line()
    }

    fn set_timer(&mut self, timer: Timer, ms: i32) -> bool {
        let Some(c) = &self.callbacks else {
            return false;
        };
        let w = &self.window;
        let set =
            |f: &Callback| w.set_timeout_with_callback_and_timeout_and_arguments_0(func(f), ms);
        match timer {
            Timer::Flush => set(&c.flush).is_ok(),
            Timer::Beat => set(&c.beat).is_ok(),
            Timer::Dead(seq) => w
                .set_timeout_with_callback_and_timeout_and_arguments_1(
                    func(&c.dead),
                    ms,
                    &JsValue::from(seq),
                )
                .is_ok(),
            Timer::Frame => w.request_animation_frame(func(&c.frame)).is_ok(),
        }
    }

    fn watch(&mut self, on: bool) {
        let Some(m) = &self.mutations else {
            return;
        };
        if !on {
            return m.disconnect();
        }
        let opts = web_sys::MutationObserverInit::new();
        opts.set_subtree(true);
        opts.set_child_list(true);
        opts.set_attributes(true);
        opts.set_character_data(true);
        if let Some(root) = self.document.document_element() {
            let _ = m.observe_with_options(&root, &opts);
        }
    }

    fn post(&mut self, body: &str) -> bool {
        let Some(c) = &self.callbacks else {
            return false;
        };
        let init = self.request(body);
        let _ = self
            .window
            .fetch_with_str_and_init(&self.endpoint, &init)
            .then2(&c.sent, &c.failed);
        true
    }

    /// Without `sendBeacon`, a keepalive `fetch` does the same.
    fn beacon(&mut self, body: &str) -> bool {
        let nav = self.window.navigator();
        match nav.send_beacon_with_opt_str(&self.endpoint, Some(body)) {
            Ok(taken) => taken,
            Err(_) => {
                let init = self.request(body);
                init.unchecked_ref::<KeepaliveInit>().set_keepalive(true);
                let request = self.window.fetch_with_str_and_init(&self.endpoint, &init);
                // The answer comes after the page is gone, if at all; handling a rejection
                // only keeps it from showing as unhandled in the page's console.
                if let Some(c) = &self.callbacks {
                    let _ = request.catch(&c.failed_quietly);
                }
                true
            }
        }
    }

    /// A full or blocked store only means the batches live in memory.
    fn save(&mut self, key: &str, value: Option<&str>) {
        if let Some(store) = &self.offline {
            let _ = match value {
                Some(v) => store.set_item(key, v),
                None => store.remove_item(key),
            };
        }
    }

    fn warn(&mut self, msg: &str) {
        warn(msg);
    }
}
