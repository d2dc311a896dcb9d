//! What the tracker listens to: clicks, form submits, input, scrolling, visibility, focus,
//! navigation (history API, back/forward cache), connectivity and errors.

use alloc::string::String;
use alloc::vec::Vec;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AddEventListenerOptions, Element, EventTarget};

use super::page::func;
use super::{custom, with, Callback, Callbacks};
use crate::clicks::{self, ClickInput};
use crate::props::Prop;
use crate::selector::{self, Step};
use crate::tracker::{Env, Target, Timer};

#[wasm_bindgen]
extern "C" {
    /// `MouseEvent` with its coordinates as the doubles browsers report; web-sys rounds them
    /// to integers, which puts a click up to a pixel off.
    #[wasm_bindgen(extends = web_sys::MouseEvent)]
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

fn callback(f: impl FnMut(JsValue) + 'static) -> Callback {
    Closure::new(f)
}

/// A function that lives as long as the page.
fn forever(f: impl FnMut(JsValue) + 'static) -> js_sys::Function {
    callback(f).into_js_value().unchecked_into()
}

pub(super) fn listen(prerendering: bool) {
    let Some((window, document)) = with(|t| (t.env.window.clone(), t.env.document.clone())) else {
        return;
    };
    let callbacks = Callbacks {
        flush: callback(|_| timer(Timer::Flush)),
        beat: callback(|_| timer(Timer::Beat)),
        dead: callback(|seq| timer(Timer::Dead(seq.as_f64().unwrap_or(0.0) as u32))),
        frame: callback(|_| timer(Timer::Frame)),
        sent: callback(|response| {
            let status = response
                .dyn_ref::<web_sys::Response>()
                .map_or(0, |r| r.status());
            with(|t| t.sent(status));
        }),
        failed: callback(|_| {
            with(|t| t.sent(0)); // offline, DNS, CORS: all "try again later"
        }),
        failed_quietly: callback(|_| {}),
        mutated: callback(|_| {
            with(|t| t.mutated());
        }),
    };
    let observer = web_sys::MutationObserver::new(func(&callbacks.mutated)).ok();
    let resized = forever(|_| {
        with(|t| {
            if let Some(root) = t.env.document.document_element() {
                t.resized(f64::from(root.scroll_height()));
            }
        });
    });
    if let (Ok(ro), Some(root)) = (
        web_sys::ResizeObserver::new(&resized),
        document.document_element(),
    ) {
        ro.observe(&root);
    }
    with(|t| {
        t.env.callbacks = Some(callbacks);
        t.env.mutations = observer;
        let root = t.env.document.document_element();
        t.resized(root.map_or(0.0, |r| f64::from(r.scroll_height())));
    });

    // One function handles every event type: a closure per type would cost the page's
    // download about a hundred bytes each.
    let handler = forever(dispatch);
    let doc: &EventTarget = &document;
    let win: &EventTarget = &window;
    let listeners: [(&EventTarget, &str, bool); 17] = [
        (doc, "click", true),
        (doc, "submit", true),
        (win, "pointerdown", true),
        (win, "keydown", true),
        (win, "touchstart", true),
        (win, "wheel", true),
        (win, "scroll", true),
        (doc, "visibilitychange", false),
        (win, "focus", false),
        (win, "blur", false),
        (win, "pagehide", false),
        (doc, "freeze", false),
        (doc, "resume", false),
        (win, "pageshow", false),
        (win, "online", false),
        (win, "error", false),
        (win, "unhandledrejection", false),
    ];
    let passive = |capture: bool| {
        let opts = AddEventListenerOptions::new();
        opts.set_passive(true);
        opts.set_capture(capture);
        opts
    };
    let (capturing, bubbling) = (passive(true), passive(false));
    for (target, kind, capture) in listeners {
        let opts = if capture { &capturing } else { &bubbling };
        let _ = target
            .add_event_listener_with_callback_and_add_event_listener_options(kind, &handler, opts);
    }
    if prerendering {
        let _ = doc.add_event_listener_with_callback_and_add_event_listener_options(
            "prerenderingchange",
            &handler,
            &bubbling,
        );
    }
    if with(|t| t.config().spa) == Some(true) {
        let _ = win.add_event_listener_with_callback_and_add_event_listener_options(
            "popstate", &handler, &bubbling,
        );
        patch_history(&window);
    }
}

fn timer(timer: Timer) {
    with(|t| t.timer(timer));
}

fn dispatch(e: JsValue) {
    let kind = e.unchecked_ref::<web_sys::Event>().type_();
    match kind.as_str() {
        "click" => on_click(e),
        "submit" => on_submit(e),
        "scroll" => {
            with(|t| t.scrolled());
        }
        "visibilitychange" => {
            with(|t| t.visibility(t.env.visible()));
        }
        "focus" | "blur" => {
            with(|t| t.focus(kind == "focus"));
        }
        "pagehide" | "freeze" => {
            with(|t| t.leave());
        }
        "resume" => {
            with(|t| t.thawed());
        }
        // Back from the back/forward cache: a new view of the same page.
        "pageshow" => {
            if js_sys::Reflect::get(&e, &"persisted".into())
                .ok()
                .and_then(|p| p.as_bool())
                == Some(true)
            {
                with(|t| t.navigate(true));
            }
        }
        "online" => {
            with(|t| t.online());
        }
        "error" => on_error(e),
        "unhandledrejection" => on_rejection(e),
        "popstate" | "prerenderingchange" => pageview(),
        _ => {
            with(|t| t.input());
        }
    }
}

fn pageview() {
    with(|t| t.navigate(false));
}

/// Wraps `history.pushState` and `replaceState` so that a single-page app's navigations are
/// pageviews. The page's own call runs first and unchanged (its result and exceptions are
/// the page's); a replace with the same URL changes nothing (see `navigate`).
fn patch_history(window: &web_sys::Window) {
    let Ok(history) = window.history() else {
        return;
    };
    for name in ["pushState", "replaceState"] {
        let Ok(original) = js_sys::Reflect::get(&history, &name.into())
            .and_then(|f| f.dyn_into::<js_sys::Function>())
        else {
            continue;
        };
        let this = history.clone();
        let wrapped =
            Closure::<dyn FnMut(JsValue, JsValue, JsValue) -> Result<JsValue, JsValue>>::new(
                move |state, title, url| {
                    let result = original.call3(&this, &state, &title, &url);
                    pageview();
                    result
                },
            );
        let _ = js_sys::Reflect::set(&history, &name.into(), &wrapped.into_js_value());
    }
}

fn on_click(e: JsValue) {
    let Some(el) = js_sys::Reflect::get(&e, &"target".into())
        .ok()
        .and_then(|t| t.dyn_into::<Element>().ok())
    else {
        return;
    };
    let e: &Pointer = e.unchecked_ref();
    let marked = with(|t| {
        let root = t.env.document.document_element();
        let rect = el.get_bounding_client_rect();
        let input = ClickInput {
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
        };
        let closest = |selector: &str| el.closest(selector).ok().flatten();
        let masked = closest(clicks::MASKED).is_some();
        let text = if masked || el.child_element_count() > clicks::MAX_LABEL_CHILDREN {
            None
        } else {
            el.text_content()
        };
        let target = Target {
            sel: selector::build(&path(&el)),
            tag: el.local_name(),
            text,
            href: closest("a[href]")
                .and_then(|a| js_sys::Reflect::get(&a, &"href".into()).ok())
                .and_then(|h| h.as_string()),
            interactive: closest(clicks::INTERACTIVE).is_some(),
        };
        t.click(&input, target);
        // No-code events: a click inside an element marked data-spoor-event (forms report
        // theirs on submit).
        closest("[data-spoor-event]").filter(|m| m.local_name() != "form")
    })
    .flatten();
    if let Some(marked) = marked {
        marked_event(&marked);
    }
}

fn on_submit(e: JsValue) {
    let form = js_sys::Reflect::get(&e, &"target".into())
        .ok()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .filter(|f| f.has_attribute("data-spoor-event"));
    if let Some(form) = form {
        marked_event(&form);
    }
}

/// The custom event an element declares: `data-spoor-event="cart_add"` names it and each
/// `data-spoor-prop-<name>="<value>"` adds a property.
fn marked_event(el: &Element) {
    let name = el.get_attribute("data-spoor-event").unwrap_or_default();
    const PROP: &str = "data-spoor-prop-";
    let props: Vec<(String, Prop)> = el
        .get_attribute_names()
        .iter()
        .filter_map(|n| n.as_string())
        .filter_map(|n| {
            let value = el.get_attribute(&n).unwrap_or_default();
            Some((String::from(n.strip_prefix(PROP)?), Prop::Str(value)))
        })
        .collect();
    custom(&name, &props);
}

/// The target and its ancestors, as far as a selector needs them.
pub(super) fn path(el: &Element) -> Vec<Step> {
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

fn on_error(e: JsValue) {
    let get = |name: &str| js_sys::Reflect::get(&e, &name.into()).unwrap_or_default();
    let msg = get("message").as_string().unwrap_or_default();
    let src = get("filename").as_string().unwrap_or_default();
    let line = get("lineno").as_f64().unwrap_or(0.0) as u32;
    let col = get("colno").as_f64().unwrap_or(0.0) as u32;
    error(msg, src, line, col);
}

fn on_rejection(e: JsValue) {
    let reason = js_sys::Reflect::get(&e, &"reason".into()).unwrap_or_default();
    let msg = reason
        .dyn_ref::<js_sys::Error>()
        .map(|err| String::from(err.message()))
        .or_else(|| reason.as_string())
        .unwrap_or_else(|| String::from("unhandled promise rejection"));
    error(msg, String::new(), 0, 0);
}

fn error(msg: String, src: String, line: u32, col: u32) {
    with(|t| t.error(msg, src, line, col));
}
