//! The glue on a real DOM, in headless Chromium (wasm-bindgen-test). One tracker serves all
//! tests (a page has one); each test drains what it recorded.

use std::collections::BTreeMap;

use wasm_bindgen_test::*;
use web_sys::{MouseEvent, MouseEventInit};

use super::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Window};

wasm_bindgen_test_configure!(run_in_browser);

/// What `js/api.js` adds to the wasm's exports, from the same `page.js` the glue imports.
#[wasm_bindgen(module = "/js/page.js")]
extern "C" {
    fn script(el: &Element);
    fn track(name: &str, props: JsValue);
}

/// What `page.js` holds of inputs and scrolls, told to the tracker as with any event: here a
/// `focus` event, which changes nothing (the test page has the focus).
fn told() {
    window()
        .dispatch_event(&web_sys::Event::new("focus").unwrap())
        .unwrap();
}

fn window() -> Window {
    web_sys::window().unwrap()
}

fn document() -> Document {
    window().document().unwrap()
}

/// A fresh fixture in the page body.
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

/// Starts the tracker once for all tests, pointed at a closed port so nothing is delivered.
fn started() {
    if TRACKER.0.borrow().is_some() {
        return;
    }
    let _ = window().local_storage().unwrap().unwrap().clear();
    let script = document().create_element("script").unwrap();
    script.set_attribute("data-site", "test").unwrap();
    script
        .set_attribute("data-api", "http://127.0.0.1:9/v1/events")
        .unwrap();
    self::script(&script);
    start("http://127.0.0.1:9/");
    assert!(with(|_| ()).is_some(), "the tracker started");
}

/// Takes every event recorded so far (the pending click included), as the wire format
/// parses them, and empties the outbox.
fn drain() -> Vec<wire::Event> {
    told();
    let bodies: Vec<String> = with(|t| t.drain()).unwrap();
    bodies
        .iter()
        .flat_map(|b| wire::parse(b.as_bytes()).unwrap().events)
        .collect()
}

fn kinds(events: &[wire::Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.data.kind()).collect()
}

fn click_at(target: &Element, client_x: f64, client_y: f64) {
    let init = MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true); // as real clicks are, so a page can cancel a link
    init.set_client_x(client_x as i32);
    init.set_client_y(client_y as i32);
    let event = MouseEvent::new_with_mouse_event_init_dict("click", &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

fn clicks(events: &[wire::Event]) -> Vec<wire::Click> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            wire::EventData::Click(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

fn only_click(events: &[wire::Event]) -> wire::Click {
    match clicks(events).as_slice() {
        [c] => c.clone(),
        other => panic!("expected one click, got {other:?}"),
    }
}

#[wasm_bindgen_test]
fn selectors_walk_up_to_an_id() {
    started();
    fixture(
        "<main><article></article><article></article>\
         <article><div><button>Buy</button></div></article></main>",
    );
    drain();
    click_at(&find("#fixture article:nth-of-type(3) button"), 1.0, 1.0);
    let sel = only_click(&drain()).sel;
    assert_eq!(sel, "#fixture>main>article:nth-of-type(3)>div>button");
}

#[wasm_bindgen_test]
fn selectors_walk_past_ids_they_cannot_use() {
    started();
    fixture("<section id=\":r1:\"><div id=\"123\"><button>Buy</button></div></section>");
    drain();
    click_at(&find("#fixture button"), 1.0, 1.0);
    assert_eq!(only_click(&drain()).sel, "#fixture>section>div>button");
}

#[wasm_bindgen_test]
fn a_click_without_a_pointer_is_placed_at_its_target_and_containers_give_no_label() {
    started();
    fixture(
        "<button id=\"go\" style=\"position:fixed;left:100px;top:50px;width:80px;\
         height:40px;border:0;padding:0\">Go</button>\
         <div id=\"app\"><ul><li>One</li><li>Two</li><li>Three</li><li>Four</li>\
         <li>Five</li><li>Six</li><li>Seven</li><li>Eight</li></ul></div>",
    );
    drain();
    // Enter on a button, or a script's click(): no pointer, detail 0, at (0, 0).
    find("#go").unchecked_ref::<web_sys::HtmlElement>().click();
    let c = only_click(&drain());
    assert_eq!((c.ex, c.ey), (0.5, 0.5));
    assert_eq!(c.y, 70.0 + window().scroll_y().unwrap());
    // A wrapper holding many elements: its text is the page's, not a label.
    for target in ["#app", "html", "body"] {
        click_at(&find(target), 1.0, 1.0);
        assert_eq!(only_click(&drain()).txt, "", "{target} was labelled");
    }
}

#[wasm_bindgen_test]
fn start_keeps_the_session_id_in_session_storage() {
    started();
    let sid = with(|t| t.session_id().to_string()).unwrap();
    assert_eq!(sid.len(), 22);
    let stored = window()
        .session_storage()
        .unwrap()
        .unwrap()
        .get_item("spoor.sid")
        .unwrap()
        .unwrap();
    // With the time of the last activity, which ends it after 30 idle minutes.
    let now = js_sys::Date::now() as i64;
    assert_eq!(crate::session::alive(&stored, now), Some(sid.as_str()));
    assert_eq!(crate::session::alive(&stored, now + 31 * 60_000), None);
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
    assert_eq!(c.y, 60.0 + window().scroll_y().unwrap());
    assert!(c.x > 0.0 && c.x < 1.0 && c.yr > 0.0 && c.yr < 1.0, "{c:?}");
    assert_eq!((c.sel.as_str(), c.tag.as_str()), ("#buy", "button"));
    assert_eq!(c.txt, "Add to cart");
    assert!(!c.rage);
}

#[wasm_bindgen_test]
fn typed_and_marked_text_is_never_captured() {
    started();
    // The last three hold masked text inside the target (marked, options, typed), which
    // its own text would carry along; an empty field inside hides nothing (#email).
    fixture(
        "<input id=\"card\" value=\"4111 1111 1111 1111\">\
         <div contenteditable=\"true\" id=\"note\">my secret note</div>\
         <p data-spoor-mask><span id=\"masked\">private words</span></p>\
         <p id=\"holds-marked\">Card <span data-spoor-mask>4111 1111</span></p>\
         <div id=\"holds-select\">Country <select><option>Germany</option></select></div>\
         <div id=\"holds-editable\"><div contenteditable=\"true\">my other note</div></div>\
         <p id=\"email\">Email <input value=\"me@example.com\"></p>\
         <a id=\"link\" href=\"#next\"><b id=\"bold\">Next page</b></a>\
         <a id=\"away\" href=\"https://elsewhere.example/\" onclick=\"return false\">Away</a>",
    );
    drain();
    for id in [
        "#card",
        "#note",
        "#masked",
        "#holds-marked",
        "#holds-select",
        "#holds-editable",
    ] {
        click_at(&find(id), 1.0, 1.0);
        let c = only_click(&drain());
        assert_eq!(c.txt, "", "text of {id} was captured");
    }
    click_at(&find("#email"), 1.0, 1.0);
    assert_eq!(only_click(&drain()).txt, "Email");
    // A fragment link, so the synthetic click does not navigate the test page away.
    click_at(&find("#bold"), 1.0, 1.0);
    let c = only_click(&drain());
    assert_eq!(c.txt, "Next page");
    assert!(
        c.href.unwrap().ends_with("#next"),
        "the enclosing link's href"
    );
    assert!(!c.out);
    // An outbound link (its navigation cancelled by the page).
    click_at(&find("#away"), 1.0, 1.0);
    assert!(only_click(&drain()).out);
}

#[wasm_bindgen_test]
fn three_quick_clicks_in_one_place_are_rage_clicks() {
    started();
    fixture("<button id=\"stuck\" style=\"position:fixed;left:10px;top:10px\">Pay</button>");
    drain();
    with(|t| t.rage = crate::clicks::Rage::default()); // other tests' clicks are recent too
    let b = find("#stuck");
    for _ in 0..4 {
        click_at(&b, 15.0, 15.0);
    }
    let rage: Vec<bool> = clicks(&drain()).iter().map(|c| c.rage).collect();
    assert_eq!(rage, [false, false, true, true]);
}

#[wasm_bindgen_test]
async fn a_click_nothing_answers_is_dead_and_one_that_changes_the_page_is_not() {
    started();
    fixture("<button id=\"noop\">Nothing</button><button id=\"works\">Open</button>");
    let works = find("#works");
    let open = Closure::<dyn FnMut()>::new(|| {
        if let Some(f) = document().get_element_by_id("fixture") {
            f.append_with_str_1("opened").unwrap();
        }
    });
    works
        .add_event_listener_with_callback("click", open.as_ref().unchecked_ref())
        .unwrap();
    open.forget();
    drain();
    click_at(&find("#noop"), 1.0, 1.0);
    sleep(crate::clicks::DEAD_WINDOW_MS + 200).await;
    click_at(&works, 1.0, 1.0);
    sleep(crate::clicks::DEAD_WINDOW_MS + 200).await;
    let dead: Vec<bool> = clicks(&drain()).iter().map(|c| c.dead).collect();
    assert_eq!(dead, [true, false]);
}

/// The next event of `kind` at the window (listened for from now on).
fn next_event(kind: &str) -> wasm_bindgen_futures::JsFuture {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let once = web_sys::AddEventListenerOptions::new();
        once.set_once(true);
        window()
            .add_event_listener_with_callback_and_add_event_listener_options(kind, &resolve, &once)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise)
}

/// Two animation frames: whatever observers had to report has been reported.
async fn frames() {
    for _ in 0..2 {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            window().request_animation_frame(&resolve).unwrap();
        });
        wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
    }
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn history_navigations_are_pageviews_once_per_url_with_their_new_title() {
    started();
    drain();
    let history = window().history().unwrap();
    let original = window().location().pathname().unwrap();
    let title = document().title();
    // A router changes the URL, then the title.
    history
        .push_state_with_url(&JsValue::NULL, "", Some("/spa/one?x=1"))
        .unwrap();
    history
        .replace_state_with_url(&JsValue::NULL, "", Some("/spa/one?x=1"))
        .unwrap(); // a router replacing the same URL
    document().set_title("One");
    sleep(0).await; // the tracker takes the navigation in the next task
    history
        .push_state_with_url(&JsValue::NULL, "", Some("/spa/two"))
        .unwrap();
    document().set_title("Two");
    sleep(0).await;
    document().set_title(&title);
    let events = drain();
    let views: Vec<(&str, &str)> = events
        .iter()
        .filter_map(|e| match &e.data {
            wire::EventData::Pageview(p) => Some((e.url.as_str(), p.title.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(views, [("/spa/one?x=1", "One"), ("/spa/two", "Two")]);
    // Leaving a view reports its dwell time (and scroll depth) first.
    assert!(kinds(&events).contains(&"dwell"), "{:?}", kinds(&events));
    history
        .replace_state_with_url(&JsValue::NULL, "", Some(&original))
        .unwrap();
    sleep(0).await;
    drain();
}

#[wasm_bindgen_test]
async fn hash_routes_are_pageviews_and_anchors_are_not() {
    started();
    drain();
    let location = window().location();
    let page = cat(&[&location.pathname().unwrap(), &location.search().unwrap()]);
    for hash in ["#section", "#/cart", "#!/cart/2"] {
        let changed = next_event("hashchange");
        location.set_hash(hash).unwrap();
        changed.await.unwrap();
    }
    sleep(0).await; // the tracker takes a navigation in the next task
    let views: Vec<String> = drain()
        .into_iter()
        .filter(|e| e.data.kind() == "pageview")
        .map(|e| e.url)
        .collect();
    assert_eq!(
        views,
        [cat(&[&page, "#/cart"]), cat(&[&page, "#!/cart/2"])],
        "an anchor is no page"
    );
    window()
        .history()
        .unwrap()
        .replace_state_with_url(&JsValue::NULL, "", Some(&page))
        .unwrap();
    sleep(0).await;
    drain();
}

#[wasm_bindgen_test]
fn custom_events_from_code_and_from_attributes() {
    started();
    fixture(
        "<button id=\"add\" data-spoor-event=\"cart_add\" data-spoor-prop-product=\"11\">Add</button>\
         <form id=\"search\" data-spoor-event=\"search\" onsubmit=\"return false\">\
         <input name=\"q\" value=\"secret words\"><button id=\"go\">Go</button></form>",
    );
    drain();
    let props = js_sys::Object::new();
    js_sys::Reflect::set(&props, &"plan".into(), &"pro".into()).unwrap();
    js_sys::Reflect::set(&props, &"seats".into(), &3.into()).unwrap();
    track("upgrade", props.into());
    track("bad", js_sys::Array::new().into()); // warned about, not recorded
    let nan = js_sys::Object::new();
    js_sys::Reflect::set(&nan, &"price".into(), &f64::NAN.into()).unwrap();
    track("nan", nan.into()); // not finite: warned about, not recorded as 0
    track("", JsValue::UNDEFINED);
    click_at(&find("#add"), 1.0, 1.0);
    find("#search")
        .dyn_into::<web_sys::HtmlFormElement>()
        .unwrap()
        .request_submit()
        .unwrap();
    let custom: BTreeMap<String, serde_json::Value> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Custom(c) => Some((c.name, serde_json::Value::Object(c.props))),
            _ => None,
        })
        .collect();
    assert_eq!(custom.len(), 3, "{custom:?}");
    assert_eq!(
        custom["upgrade"],
        serde_json::json!({"plan": "pro", "seats": 3})
    );
    assert_eq!(custom["cart_add"], serde_json::json!({"product": "11"}));
    assert_eq!(
        custom["search"],
        serde_json::json!({}),
        "typed text is never sent"
    );
}

#[wasm_bindgen_test]
fn identify_applies_to_later_batches_only() {
    started();
    drain();
    track("before", JsValue::UNDEFINED);
    identify(Some("user-42".into()));
    track("after", JsValue::UNDEFINED);
    let bodies: Vec<wire::Batch> = with(|t| t.drain())
        .unwrap()
        .iter()
        .map(|b| wire::parse(b.as_bytes()).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0].uid, None);
    assert_eq!(bodies[1].uid.as_deref(), Some("user-42"));
    identify(None);
}

#[wasm_bindgen_test]
fn page_errors_are_recorded_a_few_per_view() {
    started();
    drain();
    let init = web_sys::ErrorEventInit::new();
    init.set_message("Boom at 17");
    init.set_filename("https://shop.example/app.js");
    init.set_lineno(3);
    init.set_colno(5);
    for _ in 0..3 {
        let e = web_sys::ErrorEvent::new_with_event_init_dict("error", &init).unwrap();
        window().dispatch_event(&e).unwrap();
    }
    let errors: Vec<wire::ErrorEvent> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Error(err) => Some(err),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "the same error once per view");
    assert_eq!(errors[0].msg, "Boom at 17");
    assert_eq!((errors[0].line, errors[0].col), (3, 5));
}

#[wasm_bindgen]
extern "C" {
    /// Runs JavaScript in the page (events web-sys has no constructor bindings for here).
    #[wasm_bindgen(js_name = eval)]
    fn run(js: &str);
}

#[wasm_bindgen_test]
fn unhandled_rejections_are_errors_with_their_reason() {
    started();
    drain();
    run("const p = Promise.resolve(); \
         dispatchEvent(new PromiseRejectionEvent('unhandledrejection', \
           { promise: p, reason: new Error('no stock') })); \
         dispatchEvent(new PromiseRejectionEvent('unhandledrejection', \
           { promise: p, reason: 42 }));");
    let msgs: Vec<String> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Error(err) => Some(err.msg),
            _ => None,
        })
        .collect();
    assert_eq!(msgs, ["no stock", "unhandled promise rejection"]);
}

#[wasm_bindgen_test]
fn a_hostile_value_from_the_page_does_not_stop_the_tracker() {
    started();
    drain();
    // A rejection whose message cannot even be turned into a string.
    run("const e = new Error(); \
         Object.defineProperty(e, 'message', { get: () => ({ toString() { throw 1; } }) }); \
         dispatchEvent(new PromiseRejectionEvent('unhandledrejection', \
           { promise: Promise.resolve(), reason: e }));");
    // A page whose console throws: the tracker's warning must not take the tracker down.
    run("window.__warn = console.warn; console.warn = () => { throw new Error('no'); }");
    track("", JsValue::UNDEFINED); // a warning
    run("console.warn = window.__warn");
    track("still_tracking", JsValue::UNDEFINED);
    let kinds = kinds(&drain());
    assert!(kinds.contains(&"custom"), "{kinds:?}");
}

#[wasm_bindgen_test]
fn a_nul_in_the_pages_text_shifts_nothing_handed_over() {
    // page.js joins an event's strings with NUL; one in a string becomes U+FFFD, as the HTML
    // parser makes it.
    started();
    let link = fixture("<p><a href=\"#nul\"></a></p>")
        .query_selector("a")
        .unwrap()
        .unwrap();
    link.set_text_content(Some("Cart\0 (2)"));
    link.set_id("c\0art");
    drain();
    click_at(&find("#fixture a"), 1.0, 1.0);
    let c = only_click(&drain());
    assert_eq!(
        (c.txt.as_str(), c.sel.as_str()),
        ("Cart\u{fffd} (2)", "#fixture>p>a")
    );
    assert!(
        c.href.as_deref().is_some_and(|h| h.ends_with("#nul")),
        "{c:?}"
    );
    let props = js_sys::Object::new();
    js_sys::Reflect::set(&props, &"k\0ey".into(), &"v\0alue".into()).unwrap();
    js_sys::Reflect::set(&props, &"n".into(), &1.into()).unwrap();
    track("nul", props.into());
    let custom: Vec<_> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Custom(c) => Some(serde_json::Value::Object(c.props)),
            _ => None,
        })
        .collect();
    assert_eq!(
        custom,
        [serde_json::json!({"k\u{fffd}ey": "v\u{fffd}alue", "n": 1})]
    );
}

#[wasm_bindgen_test]
fn an_svg_link_is_no_href() {
    started();
    fixture("<svg width=\"50\" height=\"50\"><a href=\"#svg\"><rect id=\"shape\" width=\"50\" height=\"50\"/></a></svg>");
    drain();
    click_at(&find("#shape"), 5.0, 5.0);
    assert_eq!(only_click(&drain()).href, None);
}

#[wasm_bindgen_test]
fn a_page_back_from_the_back_forward_cache_is_a_new_view() {
    started();
    drain();
    run("dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false }))");
    assert!(drain().is_empty(), "a first show is no new view");
    run("dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))");
    let url = window().location().pathname().unwrap();
    let views: Vec<String> = drain()
        .into_iter()
        .filter(|e| e.data.kind() == "pageview")
        .map(|e| e.url)
        .collect();
    assert!(views.len() == 1 && views[0].starts_with(&url), "{views:?}");
}

#[wasm_bindgen_test]
fn a_frozen_page_hands_everything_over_and_goes_on_when_thawed() {
    started();
    drain();
    track("before_freeze", JsValue::UNDEFINED);
    with(|t| t.failures = 0); // beacons are trusted only while sends succeed
    run("document.dispatchEvent(new Event('freeze'))");
    assert!(drain().is_empty(), "handed to beacons on freeze");
    run("document.dispatchEvent(new Event('resume'))");
    track("after_resume", JsValue::UNDEFINED);
    let names: Vec<String> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Custom(c) => Some(c.name),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["after_resume"]);
}

#[wasm_bindgen_test]
fn undelivered_batches_wait_in_the_offline_store() {
    started();
    drain();
    track("keep_me", JsValue::UNDEFINED);
    // Hiding the page while the collector is failing keeps the batch for the next page.
    with(|t| {
        t.failures = 1;
        t.send(true);
        t.failures = 0;
    });
    let store = window().local_storage().unwrap().unwrap();
    let key = with(|t| t.key().to_string()).unwrap();
    assert!(key.starts_with("spoor.out.test."), "{key}");
    let text = store.get_item(&key).unwrap().expect("an offline entry");
    let kept = crate::mirror::decode(&text);
    assert_eq!(kept.len(), 1);
    assert!(kept[0].events.contains("keep_me"));
    drain();
    with(|t| t.send(true)); // nothing left: the entry goes
    assert_eq!(store.get_item(&key).unwrap(), None);
}

#[wasm_bindgen_test]
async fn depth_is_right_on_a_page_whose_root_has_a_fixed_height() {
    started();
    with(|t| t.navigate(true));
    let root = document().document_element().unwrap();
    root.set_attribute("style", "height: 100%").unwrap();
    // Already scrolling (the scrollbar that the first overflow brings resizes the root once).
    let page = fixture("<div style=\"height: 3000px\"></div>");
    frames().await;
    drain();
    // The page grows; its root, 100 % of the viewport, never resizes again.
    page.set_inner_html("<div style=\"height: 8000px\"></div>");
    frames().await;
    let viewport = window().inner_height().unwrap().as_f64().unwrap();
    let scrolled = next_event("scroll");
    window().scroll_to_with_x_and_y(0.0, 2000.0);
    scrolled.await.unwrap();
    told();
    with(|t| t.report());
    let depth = drain()
        .into_iter()
        .find_map(|e| match e.data {
            wire::EventData::Scroll(s) => Some(s.max),
            _ => None,
        })
        .expect("a scroll report");
    // Back at the top before the next test (a late scroll event would answer its clicks).
    let back = next_event("scroll");
    window().scroll_to_with_x_and_y(0.0, 0.0);
    back.await.unwrap();
    fixture("");
    root.remove_attribute("style").unwrap();
    let height = 8000.0 + 8.0 * 2.0; // the fixture and the body's margins, about
    assert!(
        (depth - (2000.0 + viewport) / height).abs() < 0.02,
        "{depth} of {height} px seen"
    );
}

#[wasm_bindgen_test]
async fn the_deepest_scroll_position_is_kept_when_the_page_scrolls_back() {
    started();
    // A view of its own (its marks are reported once each), on a page 5,000 px high.
    with(|t| t.navigate(true));
    fixture("<div style=\"height: 5000px\"></div>");
    drain();
    // (The tracker's listener runs in the capture phase: before the test's own.)
    let scrolled = next_event("scroll");
    window().scroll_to_with_x_and_y(0.0, 5000.0);
    scrolled.await.unwrap();
    let scrolled = next_event("scroll");
    window().scroll_to_with_x_and_y(0.0, 0.0);
    scrolled.await.unwrap();
    // Reported back at the top: what counts is where the visitor got to.
    told();
    with(|t| t.report());
    let scrolls: Vec<wire::Scroll> = drain()
        .into_iter()
        .filter_map(|e| match e.data {
            wire::EventData::Scroll(s) => Some(s),
            _ => None,
        })
        .collect();
    fixture("");
    assert_eq!(scrolls.len(), 1, "{scrolls:?}");
    assert_eq!(
        (scrolls[0].max, scrolls[0].marks.as_slice()),
        (1.0, &[25, 50, 75, 90, 100][..])
    );
}

#[wasm_bindgen_test]
fn an_input_is_told_with_the_next_call_at_the_time_it_happened() {
    started();
    told();
    let before = with(|t| t.last_input()).unwrap();
    // A key pressed: the listener only notes when; the tracker learns of it with its next
    // call (here the test's), which tells the time of the input, not its own.
    let clock = window().performance().unwrap();
    let pressed = clock.now();
    window()
        .dispatch_event(&web_sys::Event::new("keydown").unwrap())
        .unwrap();
    let noted = clock.now();
    assert_eq!(with(|t| t.last_input()).unwrap(), before, "not told yet");
    told();
    let input = with(|t| t.last_input()).unwrap();
    assert!(
        pressed <= input && input <= noted,
        "{pressed} <= {input} <= {noted}"
    );
}
