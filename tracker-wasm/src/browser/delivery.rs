//! Getting batches to the collector: `fetch` one at a time while the page is open (its answer
//! decides between done, drop and retry with backoff), `sendBeacon` when the page goes away,
//! and the offline store in `localStorage` for whatever could not be handed over.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{RequestCredentials, RequestInit};

use super::{func, now, random_id, warn, with, Tracker};
use crate::batch::backoff_ms;
use crate::json::cat;
use crate::mirror;

#[wasm_bindgen]
extern "C" {
    /// `RequestInit` with the `keepalive` member web-sys lacks: a request that outlives the
    /// page, like a beacon.
    #[wasm_bindgen(extends = RequestInit)]
    type KeepaliveInit;
    #[wasm_bindgen(method, setter = keepalive)]
    fn set_keepalive(this: &KeepaliveInit, value: bool);
}

/// Sends within `ms` unless a send is already due sooner.
pub(super) fn schedule_flush(t: &mut Tracker, ms: i32) {
    if t.flush_timer {
        return;
    }
    if let Some(c) = &t.callbacks {
        t.flush_timer = t
            .window
            .set_timeout_with_callback_and_timeout_and_arguments_0(func(&c.flush), ms)
            .is_ok();
    }
}

pub(super) fn on_timer() {
    with(|t| {
        t.flush_timer = false;
        send(t, false);
    });
}

pub(super) fn flush_now(t: &mut Tracker) {
    send(t, false);
}

/// Seals what is queued, keeps the offline store current, and sends. `away`: the page is
/// being hidden or unloaded, so every batch goes to `sendBeacon` now — if the collector has
/// been answering and the browser is online. Otherwise the batches stay in the offline store
/// for the next page, since a beacon's fate is never reported back.
pub(super) fn send(t: &mut Tracker, away: bool) {
    let window = t.window.clone();
    t.outbox.seal(&t.header, || random_id(&window));
    let online = window.navigator().on_line();
    if away {
        if online && t.failures == 0 {
            let handed: Vec<String> = t
                .outbox
                .sealed()
                .filter(|b| beacon(t, &b.body(js_sys::Date::now() as i64)))
                .map(|b| b.id.clone())
                .collect();
            for id in handed {
                t.outbox.done(&id);
            }
        }
        persist(t);
        return;
    }
    persist(t);
    let wait = t.retry_at - now(&window);
    if t.sending.is_some() || !online {
        return;
    }
    if wait > 0.0 {
        return schedule_flush(t, wait as i32);
    }
    let Some(batch) = t.outbox.sealed().next() else {
        return;
    };
    let body = batch.body(js_sys::Date::now() as i64);
    let id = batch.id.clone();
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    init.set_credentials(RequestCredentials::Omit);
    if let Some(c) = &t.callbacks {
        let _ = window
            .fetch_with_str_and_init(&t.config.endpoint, &init)
            .then2(&c.sent, &c.failed);
        t.sending = Some(id);
    }
}

/// Hands one body to the browser for delivery after the page is gone; false if it would not
/// take it (too much in flight). Without `sendBeacon`, a keepalive `fetch` does the same.
fn beacon(t: &Tracker, body: &str) -> bool {
    let nav = t.window.navigator();
    match nav.send_beacon_with_opt_str(&t.config.endpoint, Some(body)) {
        Ok(taken) => taken,
        Err(_) => {
            let init = RequestInit::new();
            init.set_method("POST");
            init.set_body(&JsValue::from_str(body));
            init.set_credentials(RequestCredentials::Omit);
            init.unchecked_ref::<KeepaliveInit>().set_keepalive(true);
            let request = t.window.fetch_with_str_and_init(&t.config.endpoint, &init);
            // The answer comes after the page is gone, if at all; handling a rejection only
            // keeps it from showing as unhandled in the page's console.
            if let Some(c) = &t.callbacks {
                let _ = request.catch(&c.failed_quietly);
            }
            true
        }
    }
}

pub(super) fn on_sent(response: JsValue) {
    let status = response
        .dyn_ref::<web_sys::Response>()
        .map_or(0, |r| r.status());
    with(|t| settle(t, status));
}

pub(super) fn on_failed() {
    with(|t| settle(t, 0)); // offline, DNS, CORS: all "try again later"
}

/// Applies the collector's answer to the batch in flight, then goes on with the next.
fn settle(t: &mut Tracker, status: u16) {
    let Some(id) = t.sending.take() else {
        return;
    };
    match status {
        200..=299 => {
            t.outbox.done(&id);
            t.failures = 0;
        }
        // The collector will never take this batch (malformed or not allowed): resending is
        // pointless, and holding it would block everything behind it.
        400..=499 if status != 408 && status != 429 => {
            warn("spoor: the collector rejected a batch");
            t.outbox.done(&id);
            t.failures = 0;
        }
        _ => {
            t.failures += 1;
            let delay = backoff_ms(t.failures, js_sys::Math::random());
            t.retry_at = now(&t.window) + f64::from(delay);
            persist(t);
            return schedule_flush(t, delay as i32);
        }
    }
    persist(t);
    if t.outbox.sealed().next().is_some() {
        send(t, false);
    }
}

/// This tab's key in the offline store.
fn key(t: &Tracker) -> String {
    cat(&[mirror::KEY_PREFIX, &t.header.site, ".", &t.header.sid])
}

/// Writes the undelivered batches to the offline store (or removes the entry when there are
/// none). A full or blocked store only means they live in memory.
fn persist(t: &Tracker) {
    let Some(store) = &t.offline else {
        return;
    };
    let key = key(t);
    if t.outbox.sealed().next().is_none() {
        let _ = store.remove_item(&key);
    } else {
        let _ = store.set_item(&key, &mirror::encode(t.outbox.sealed()));
    }
}

/// At start: takes over what earlier pages of this site left in the offline store (this tab
/// before a reload, or tabs since closed), and sends it. A batch also still held by a live
/// tab may be sent twice; the collector stores it once.
pub(super) fn resume() {
    with(|t| {
        let Some(store) = t.offline.clone() else {
            return;
        };
        let prefix = cat(&[mirror::KEY_PREFIX, &t.header.site, "."]);
        let keys: Vec<String> = (0..store.length().unwrap_or(0))
            .filter_map(|i| store.key(i).ok().flatten())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for k in keys {
            if let Ok(Some(text)) = store.get_item(&k) {
                t.outbox.resume(mirror::decode(&text));
            }
            let _ = store.remove_item(&k);
        }
        if t.outbox.sealed().next().is_some() {
            send(t, false);
        }
    });
}

/// The visitor opted out: what waited is discarded.
pub(super) fn forget_offline(t: &Tracker) {
    if let Some(store) = &t.offline {
        let _ = store.remove_item(&key(t));
    }
}
