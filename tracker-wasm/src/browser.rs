//! The glue between the page and the pure modules: listeners, timers, storage and the network.
//!
//! Rules for code in here, because it runs inside other people's pages:
//! - listeners are passive and cheap; nothing blocks the page's own work;
//! - every web API that can throw is called through its `catch` binding, and a failure degrades
//!   the tracker quietly (one console warning at most), never the page;
//! - no panics: a trapped wasm instance would stop tracking for the rest of the visit.

use std::cell::RefCell;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AddEventListenerOptions, Document, Element, MouseEvent, RequestInit, Window};

use crate::batch::{backoff_ms, Header, Limits, Outbox};
use crate::clicks::{self, ClickInput};
use crate::event::{Click, Event, Kind};
use crate::ids::uuid_v4;
use crate::selector::{self, Step};

/// Flush queued events at least this often while the page is open (ms).
const FLUSH_INTERVAL_MS: i32 = 10_000;

struct Tracker {
    window: Window,
    document: Document,
    endpoint: String,
    header: Header,
    outbox: Outbox,
    /// A batch request is in flight: send one at a time, in order.
    sending: bool,
    /// A flush timer is pending.
    timer: bool,
    /// Fires `on_timer`; created once and reused for every `setTimeout`.
    timer_fn: Option<js_sys::Function>,
}

#[wasm_bindgen]
extern "C" {
    /// `RequestInit` with the `keepalive` member web-sys lacks: a request that outlives the
    /// page, like a beacon.
    #[wasm_bindgen(extends = RequestInit)]
    type KeepaliveInit;
    #[wasm_bindgen(method, setter = keepalive)]
    fn set_keepalive(this: &KeepaliveInit, value: bool);

    /// `MouseEvent` with its coordinates as the doubles browsers report; web-sys rounds them
    /// to integers, which puts a click up to a pixel off.
    #[wasm_bindgen(extends = MouseEvent)]
    type Pointer;
    #[wasm_bindgen(method, getter = pageX)]
    fn page_x(this: &Pointer) -> f64;
    #[wasm_bindgen(method, getter = pageY)]
    fn page_y(this: &Pointer) -> f64;
    #[wasm_bindgen(method, getter = clientX)]
    fn client_x(this: &Pointer) -> f64;
    #[wasm_bindgen(method, getter = clientY)]
    fn client_y(this: &Pointer) -> f64;
}

thread_local! {
    static TRACKER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
}

/// Runs `f` on the tracker if it is started and not already borrowed (a re-entrant call from a
/// listener is skipped rather than allowed to panic).
fn with<R>(f: impl FnOnce(&mut Tracker) -> R) -> Option<R> {
    TRACKER.with(|cell| cell.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Starts tracking the page. `base` is the URL the loader came from (ending in `/`) and
/// `script` its `<script>` element, whose `data-*` attributes configure the tracker.
#[wasm_bindgen]
pub fn start(base: &str, script: &Element) {
    if with(|_| ()).is_some() {
        return; // a second tag on the page
    }
    match init(base, script) {
        Some(t) => {
            TRACKER.with(|cell| *cell.borrow_mut() = Some(t));
            listen();
            pageview();
        }
        None => warn("spoor: tracking disabled, this page lacks a required browser API"),
    }
}

/// This tab's session id, for page code to forward to its backend (joins browser events with
/// server logs).
#[wasm_bindgen(js_name = sessionId)]
pub fn session_id() -> Option<String> {
    with(|t| t.header.sid.clone())
}

fn init(base: &str, script: &Element) -> Option<Tracker> {
    let window = web_sys::window()?;
    let document = window.document()?;
    let site = script.get_attribute("data-site")?;
    let endpoint = script
        .get_attribute("data-api")
        .unwrap_or_else(|| [base, "v1/events"].concat());
    let storage = window.session_storage().ok().flatten();
    let stored_id = |key: &str| -> String {
        let saved = storage
            .as_ref()
            .and_then(|s| s.get_item(key).ok().flatten());
        saved.unwrap_or_else(|| {
            let id = random_id(&window);
            if let Some(s) = &storage {
                let _ = s.set_item(key, &id); // quota full or blocked: the id lives in memory
            }
            id
        })
    };
    let header = Header {
        site,
        vid: stored_id("spoor.vid"),
        sid: stored_id("spoor.sid"),
        vw: window.inner_width().ok()?.as_f64()? as u32,
        vh: window.inner_height().ok()?.as_f64()? as u32,
        dpr: window.device_pixel_ratio(),
        lang: window.navigator().language().unwrap_or_default(),
    };
    Some(Tracker {
        window,
        document,
        endpoint,
        header,
        outbox: Outbox::new(Limits::default()),
        sending: false,
        timer: false,
        timer_fn: None,
    })
}

fn listen() {
    let Some((window, document)) = with(|t| (t.window.clone(), t.document.clone())) else {
        return;
    };
    let timer = Closure::<dyn Fn()>::new(|| {
        with(|t| t.timer = false);
        flush(false);
    });
    with(|t| t.timer_fn = Some(timer.as_ref().unchecked_ref::<js_sys::Function>().clone()));
    timer.forget(); // lives as long as the page

    let opts = AddEventListenerOptions::new();
    opts.set_passive(true);
    opts.set_capture(true);
    on(&document, "click", &opts, |e: web_sys::Event| {
        if e.is_instance_of::<MouseEvent>() {
            click(e.unchecked_ref());
        }
    });
    on(&document, "visibilitychange", &opts, |_| {
        if with(|t| t.document.hidden()) == Some(true) {
            flush(true);
        }
    });
    on(&window, "pagehide", &opts, |_| flush(true));
}

fn on(
    target: &web_sys::EventTarget,
    kind: &str,
    opts: &AddEventListenerOptions,
    f: impl Fn(web_sys::Event) + 'static,
) {
    let f = Closure::<dyn Fn(web_sys::Event)>::new(f);
    let _ = target.add_event_listener_with_callback_and_add_event_listener_options(
        kind,
        f.as_ref().unchecked_ref(),
        opts,
    );
    f.forget(); // listeners live as long as the page
}

fn pageview() {
    record(|t| {
        let referrer = t.document.referrer();
        Kind::Pageview {
            title: t.document.title(),
            referrer,
        }
    });
}

fn click(e: &Pointer) {
    let Some(el) = e.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    record(|t| {
        let root = t.document.document_element();
        let rect = el.get_bounding_client_rect();
        let pos = clicks::position(&ClickInput {
            page_x: e.page_x(),
            page_y: e.page_y(),
            client_x: e.client_x(),
            client_y: e.client_y(),
            doc_width: root.as_ref().map_or(0.0, |r| f64::from(r.scroll_width())),
            doc_height: root.as_ref().map_or(0.0, |r| f64::from(r.scroll_height())),
            rect_left: rect.left(),
            rect_top: rect.top(),
            rect_width: rect.width(),
            rect_height: rect.height(),
        });
        let masked = el.closest(clicks::MASKED).ok().flatten().is_some();
        let txt = if masked || el.child_element_count() > clicks::MAX_LABEL_CHILDREN {
            String::new()
        } else {
            clicks::label(&el.text_content().unwrap_or_default())
        };
        let href = el
            .closest("a[href]")
            .ok()
            .flatten()
            .and_then(|a| js_sys::Reflect::get(&a, &JsValue::from_str("href")).ok())
            .and_then(|h| h.as_string());
        Kind::Click(Click {
            x: pos.x,
            y: pos.y,
            yr: pos.yr,
            sel: selector::build(&path(&el)),
            ex: pos.ex,
            ey: pos.ey,
            tag: el.local_name(),
            txt,
            href,
            rage: false,
            dead: false,
        })
    });
}

/// The target and its ancestors, as far as a selector needs them.
fn path(el: &Element) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut cur = Some(el.clone());
    while let Some(e) = cur {
        let tag = e.local_name();
        let mut nth = 1;
        let mut prev = e.previous_element_sibling();
        while let Some(p) = prev {
            if p.local_name() == tag {
                nth += 1;
            }
            prev = p.previous_element_sibling();
        }
        let mut later_twin = false;
        let mut next = e.next_element_sibling();
        while let (false, Some(n)) = (later_twin, next) {
            later_twin = n.local_name() == tag;
            next = n.next_element_sibling();
        }
        let id = Some(e.id()).filter(|id| !id.is_empty());
        let stop = id.is_some() || steps.len() > selector::MAX_DEPTH;
        steps.push(Step {
            tag,
            id,
            nth_of_type: nth,
            has_same_tag_siblings: nth > 1 || later_twin,
        });
        if stop {
            break;
        }
        cur = e.parent_element();
    }
    steps
}

/// Records one event of the current page and arranges for it to be sent.
fn record(kind: impl FnOnce(&Tracker) -> Kind) {
    let due = with(|t| {
        let location = t.window.location();
        let url = [
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default(),
        ]
        .concat();
        let event = Event {
            id: random_id(&t.window),
            ts: js_sys::Date::now() as i64,
            url,
            kind: kind(t),
        };
        let due = t.outbox.push(event.encode());
        if !due {
            schedule(t, FLUSH_INTERVAL_MS);
        }
        due
    });
    if due == Some(true) {
        flush(false);
    }
}

fn schedule(t: &mut Tracker, ms: i32) {
    if t.timer {
        return;
    }
    if let Some(f) = &t.timer_fn {
        t.timer = t
            .window
            .set_timeout_with_callback_and_timeout_and_arguments_0(f, ms)
            .is_ok();
    }
}

/// Sends what is queued. While the page is open, one `fetch` at a time whose answer decides
/// between done, retry later, or drop; when the page is going away, every batch is handed to
/// `sendBeacon` (or a keepalive `fetch`), which the browser delivers after the page is gone.
fn flush(unloading: bool) {
    let next = with(|t| {
        let window = t.window.clone();
        t.outbox.seal(|| random_id(&window));
        if unloading {
            let sent = js_sys::Date::now() as i64;
            let handed: Vec<String> = t
                .outbox
                .sealed()
                .filter(|b| beacon(t, &b.body(&t.header, sent)))
                .map(|b| b.id.clone())
                .collect();
            for id in handed {
                t.outbox.ack(&id);
            }
            return None;
        }
        if t.sending {
            return None;
        }
        let batch = t.outbox.next()?;
        let body = batch.body(&t.header, js_sys::Date::now() as i64);
        let init = RequestInit::new();
        init.set_method("POST");
        init.set_body_opt_str(Some(&body));
        init.set_credentials(web_sys::RequestCredentials::Omit);
        t.sending = true;
        Some((
            batch.id.clone(),
            t.window.fetch_with_str_and_init(&t.endpoint, &init),
        ))
    })
    .flatten();
    if let Some((id, request)) = next {
        wasm_bindgen_futures::spawn_local(async move {
            let status = match JsFuture::from(request).await {
                Ok(r) => r.dyn_into::<web_sys::Response>().map_or(0, |r| r.status()),
                Err(_) => 0, // offline, DNS, CORS: all "try again later"
            };
            settle(&id, status);
        });
    }
}

/// Applies the collector's answer to a batch and continues with the next one.
fn settle(id: &str, status: u16) {
    let more = with(|t| {
        t.sending = false;
        match status {
            200..=299 => t.outbox.ack(id),
            // The collector will never take this batch (malformed or not allowed): resending is
            // pointless, and holding it would block everything behind it.
            400..=499 if status != 408 && status != 429 => {
                warn("spoor: the collector rejected a batch");
                t.outbox.ack(id);
            }
            _ => {
                let attempt = t.outbox.failed(id);
                schedule(t, backoff_ms(attempt, js_sys::Math::random()) as i32);
                return false;
            }
        }
        t.outbox.next().is_some()
    });
    if more == Some(true) {
        flush(false);
    }
}

/// Hands a body to the browser for delivery after unload; false if it would not take it.
fn beacon(t: &Tracker, body: &str) -> bool {
    let nav = t.window.navigator();
    if nav.send_beacon_with_opt_str(&t.endpoint, Some(body)) == Ok(true) {
        return true;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body_opt_str(Some(body));
    init.unchecked_ref::<KeepaliveInit>().set_keepalive(true);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    let request = t.window.fetch_with_str_and_init(&t.endpoint, &init);
    // The answer arrives after the page is gone, if at all; awaiting it only keeps a rejection
    // from surfacing as an unhandled one in the page's console.
    wasm_bindgen_futures::spawn_local(async move {
        let _ = JsFuture::from(request).await;
    });
    true
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
    uuid_v4(bytes)
}

fn warn(msg: &str) {
    web_sys::console::warn_1(&JsValue::from_str(msg));
}

#[cfg(test)]
mod tests {
    //! The glue on a real DOM, in headless Chromium (wasm-bindgen-test).
    use super::*;
    use wasm_bindgen_test::*;
    use web_sys::MouseEventInit;

    wasm_bindgen_test_configure!(run_in_browser);

    fn document() -> Document {
        web_sys::window().unwrap().document().unwrap()
    }

    /// A fresh fixture in the page body; returns it.
    fn fixture(html: &str) -> Element {
        let doc = document();
        if let Some(old) = doc.get_element_by_id("fixture") {
            old.remove();
        }
        let div = doc.create_element("div").unwrap();
        div.set_id("fixture");
        div.set_inner_html(html);
        doc.body().unwrap().append_child(&div).unwrap();
        div
    }

    fn find(selector: &str) -> Element {
        document().query_selector(selector).unwrap().unwrap()
    }

    /// Starts the tracker once for all tests, pointed at a closed port so nothing is sent.
    fn started() {
        if with(|_| ()).is_some() {
            return;
        }
        let script = document().create_element("script").unwrap();
        script.set_attribute("data-site", "test").unwrap();
        script
            .set_attribute("data-api", "http://127.0.0.1:9/v1/events")
            .unwrap();
        start("http://127.0.0.1:9/", &script);
        assert!(with(|_| ()).is_some(), "the tracker started");
    }

    /// Takes every event recorded so far, as the wire format parses them.
    fn drain() -> Vec<wire::Event> {
        let bodies: Vec<String> = with(|t| {
            let window = t.window.clone();
            t.outbox.seal(|| random_id(&window));
            let bodies = t.outbox.sealed().map(|b| b.body(&t.header, 1)).collect();
            let ids: Vec<String> = t.outbox.sealed().map(|b| b.id.clone()).collect();
            for id in ids {
                t.outbox.ack(&id);
            }
            bodies
        })
        .unwrap();
        bodies
            .iter()
            .flat_map(|b| serde_json::from_str::<wire::Batch>(b).unwrap().events)
            .collect()
    }

    fn click_at(target: &Element, client_x: f64, client_y: f64) {
        let init = MouseEventInit::new();
        init.set_bubbles(true);
        init.set_client_x(client_x as i32);
        init.set_client_y(client_y as i32);
        let event = MouseEvent::new_with_mouse_event_init_dict("click", &init).unwrap();
        target.dispatch_event(&event).unwrap();
    }

    fn only_click(events: &[wire::Event]) -> wire::Click {
        match events {
            [wire::Event {
                data: wire::EventData::Click(c),
                ..
            }] => c.clone(),
            other => panic!("expected one click, got {other:?}"),
        }
    }

    #[wasm_bindgen_test]
    fn selectors_walk_up_to_an_id() {
        fixture(
            "<main><article></article><article></article>\
             <article><div><button>Buy</button></div></article></main>",
        );
        let sel = selector::build(&path(&find("#fixture article:nth-of-type(3) button")));
        assert_eq!(sel, "#fixture>main>article:nth-of-type(3)>div>button");
    }

    #[wasm_bindgen_test]
    fn start_keeps_the_session_id_in_session_storage() {
        started();
        let sid = session_id().unwrap();
        assert_eq!(sid.len(), 36);
        let stored = web_sys::window()
            .unwrap()
            .session_storage()
            .unwrap()
            .unwrap()
            .get_item("spoor.sid")
            .unwrap();
        assert_eq!(stored.as_deref(), Some(sid.as_str()));
    }

    #[wasm_bindgen_test]
    fn a_click_is_placed_in_the_document_and_in_its_target() {
        started();
        fixture(
            "<button id=\"buy\" style=\"position:fixed;left:100px;top:50px;width:80px;\
             height:40px;border:0;padding:0\">Add   to\n cart</button>",
        );
        drain();
        click_at(&find("#buy"), 120.0, 60.0);
        let c = only_click(&drain());
        assert_eq!((c.ex, c.ey), (0.25, 0.25));
        assert_eq!(c.y, 60.0 + web_sys::window().unwrap().scroll_y().unwrap());
        assert!(c.x > 0.0 && c.x < 1.0 && c.yr > 0.0 && c.yr < 1.0, "{c:?}");
        assert_eq!((c.sel.as_str(), c.tag.as_str()), ("#buy", "button"));
        assert_eq!(c.txt, "Add to cart");
    }

    #[wasm_bindgen_test]
    fn typed_and_marked_text_is_never_captured() {
        started();
        fixture(
            "<input id=\"card\" value=\"4111 1111 1111 1111\">\
             <div contenteditable=\"true\" id=\"note\">my secret note</div>\
             <p data-spoor-mask><span id=\"masked\">private words</span></p>\
             <a id=\"link\" href=\"#next\"><b id=\"bold\">Next page</b></a>",
        );
        drain();
        for id in ["#card", "#note", "#masked"] {
            click_at(&find(id), 1.0, 1.0);
            let c = only_click(&drain());
            assert_eq!(c.txt, "", "text of {id} was captured");
        }
        click_at(&find("#bold"), 1.0, 1.0);
        let c = only_click(&drain());
        assert_eq!(c.txt, "Next page");
        // A fragment link, so the synthetic click does not navigate the test page away.
        assert!(
            c.href.unwrap().ends_with("#next"),
            "the enclosing link's href is kept"
        );
    }
}
