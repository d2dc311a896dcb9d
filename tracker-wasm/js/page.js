// The tracker's hands in the page: listeners, DOM reads, timers, requests and storage,
// written by hand so the wasm keeps only the logic (src/tracker.rs) and the boundary passes
// numbers and short strings. wasm-bindgen imports this file (src/browser/mod.rs) and bundles
// it into the glue. Nothing here may throw into the page: every listener runs inside `safe`.
//
// The page reaches the tracker through one function, the wasm's export `wake` (codes below,
// the same in src/browser/mod.rs), called by `wake` here. What an event carries beyond a
// number (a click's target, an error's message) waits in `nums`/`texts` for the wasm to read
// back, in one call for the numbers and one for the strings: a call across the boundary costs
// more than the data it carries (a click's dozen strings read one by one cost it 10–15 % more,
// measured cold). Inputs and scrolls, many a second, call nothing: what they leave is told
// with the next call, whatever it is.

// (Read through globalThis: the package may be imported where there is no page, as in
// server-side rendering; only `listen` and what it starts touch the page.)
const w = globalThis;
const d = w.document;
let tracker;
/** Since the last call into the wasm: when the latest input was (-1: none), and the deepest
 * scroll position (`top` -1: none). */
let input = -1,
  top = -1,
  viewport = 0;
/** Tells the wasm of an event (`what`, and a number), and of the inputs and scrolling since
 * the last call. */
function wake(what, a) {
  const i = input,
    t = top;
  input = top = -1;
  tracker(what, a, i, t, viewport);
}
/** The event being handed over: its numbers, and its strings joined by NUL. */
let nums = [];
let texts = "";
let mutations;

const CLICK = 0,
  VISIBILITY = 3,
  FOCUS = 4,
  LEAVE = 5,
  THAWED = 6,
  SHOWN = 7,
  ONLINE = 8,
  NAVIGATE = 9,
  MUTATED = 10,
  RESIZED = 11,
  SENT = 12, // (13–15 are timers, set by the wasm: flush, beat, dead click)
  ERROR = 16,
  CUSTOM = 17,
  OPTED_OUT = 18;

function safe(f) {
  return function (e) {
    try {
      f(e);
    } catch (_) {
      // a tracker failure stays in the tracker
    }
  };
}

/** Converts what the event carries before the wasm is called: a page value whose `toString`
 * throws (a property of `track`) throws here, never into the wasm, where it would leave the
 * tracker's state borrowed. A NUL, the separator, becomes U+FFFD in each string, as the HTML
 * parser makes it; none and "" are the same to the wasm. */
function hand(what, n, t) {
  // (Every number is one already: DOM readings, and `track`'s codes and values, NaN too,
  // which the wasm refuses as not finite.)
  nums = n;
  texts = t.map((s) => (s == null ? "" : ("" + s).replaceAll("\0", "\ufffd"))).join("\0");
  wake(what, 0);
}
const num = () => nums;
const text = () => texts;

// Readings.
export const now = () => performance.now();
export const wall = () => Date.now();
// (Every browser with WebAssembly has crypto.getRandomValues, in secure contexts or not.)
export const fill = (bytes) => crypto.getRandomValues(bytes);
export const random = () => Math.random();
// A hash route (`#/cart`, `#!/cart`) is part of the page in a single-page app; an anchor is not.
const url = () => location.pathname + location.search + (routes && /^#!?\//.test(location.hash) ? location.hash : "");
const origin = () => location.origin;
const title = () => d.title;
const referrer = () => d.referrer;
export const visible = () => !d.hidden;
export const focused = () => d.hasFocus();
const scroll = () => [w.scrollY, w.innerHeight];
const height = () => [d.documentElement.scrollHeight];
export const online = () => navigator.onLine;
let tag;
/** The tracker's script tag, whose `data-*` attributes configure it. */
export const script = (el) => (tag = el);
const attr = (_, name) => tag?.getAttribute("data-" + name) ?? undefined;
/** Viewport width and height, device pixel ratio, and as 1/0: prerendering, Global Privacy
 * Control, the browser saying it is automated, localStorage usable (blocked: memory only). */
const context = () => [
  w.innerWidth,
  w.innerHeight,
  w.devicePixelRatio,
  d.prerendering ? 1 : 0,
  navigator.globalPrivacyControl ? 1 : 0,
  navigator.webdriver ? 1 : 0,
  area(1) ? 1 : 0,
];
const language = () => navigator.language || "";
/** Do Not Track: "1", "yes", …, or none. */
const dnt = () => navigator.doNotTrack ?? undefined;
export function warn(m) {
  try {
    console.warn(m);
  } catch (_) {
    // a page's own console that throws
  }
}

// Storage: 0 sessionStorage, 1 localStorage. Blocked or full storage is memory only.
const area = (kind) => {
  try {
    return kind ? w.localStorage : w.sessionStorage;
  } catch (_) {
    return null;
  }
};
function get(kind, key) {
  try {
    return area(kind)?.getItem(key) ?? undefined;
  } catch (_) {
    return undefined;
  }
}
export function put(kind, key, value) {
  try {
    const s = area(kind);
    if (value === undefined) s?.removeItem(key);
    else s?.setItem(key, value);
    return !!s;
  } catch (_) {
    return false;
  }
}
/** Takes (reads and removes) one entry whose key starts with `prefix`. */
function take(kind, prefix) {
  try {
    const s = area(kind);
    for (let i = 0; s && i < s.length; i++) {
      const key = s.key(i);
      if (key && key.startsWith(prefix)) {
        const value = s.getItem(key);
        s.removeItem(key);
        return value ?? "";
      }
    }
  } catch (_) {
    // blocked: nothing to take
  }
  return undefined;
}

// What the wasm reads goes through two imports, by code (the same in src/browser/page.rs):
// one glue function each instead of one per reading.
const strings = [text, url, origin, title, referrer, language, dnt, attr, get, take];
export const read = (what, a, key) => strings[what](a, key);
const numbers = [num, context, scroll, height];
export const readNumbers = (what) => new Float64Array(numbers[what]());

// Effects.
export function setTimer(what, seq, ms) {
  try {
    setTimeout(safe(() => wake(what, seq)), ms);
    return true;
  } catch (_) {
    return false;
  }
}
export function watch(on) {
  try {
    if (!on) mutations?.disconnect();
    else mutations?.observe(d.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });
  } catch (_) {
    // no observer: clicks just cannot be called dead
  }
}
const init = (body, keepalive) => ({ method: "POST", body, credentials: "omit", keepalive, headers: { "content-type": "text/plain" } });
/** Sends a batch while the page is open; its answer comes back as `wake(SENT, status)`. The
 * body goes compressed where the browser can (`CompressionStream`, zlib's deflate: JSON
 * batches shrink about 3×), said in the URL (`z=deflate`), as a `Content-Encoding` header
 * would cost a CORS preflight. (Beacons on unload go as they are: compressing is async.) */
export function post(endpoint, body) {
  try {
    const send = (data, url, deflated) =>
      fetch(url, init(data, false)).then(
        safe((r) => {
          // An endpoint that cannot read a compressed batch (a proxy that drops the query, an
          // older collector) refuses it: send it, and the rest of the page's, as they are.
          if (deflated && (r.status == 400 || r.status == 415)) return (deflate = false), send(body, endpoint);
          wake(SENT, r.status);
        }),
        safe(() => wake(SENT, 0)), // offline, DNS, CORS: all "try again later"
      );
    if (!deflate || !w.CompressionStream) return send(body, endpoint), true;
    // Written to the stream directly: a Blob's stream piped through it cost the page ~0.6 ms
    // more of script per batch (measured in Chromium).
    const stream = new CompressionStream("deflate");
    const input = stream.writable.getWriter();
    input.write(new TextEncoder().encode(body)).catch(noop);
    input.close().catch(noop);
    new Response(stream.readable)
      .arrayBuffer()
      .then(
        (z) => send(z, endpoint + (endpoint.includes("?") ? "&" : "?") + "z=deflate", true),
        () => send(body, endpoint),
      )
      .catch(safe(() => wake(SENT, 0)));
    return true;
  } catch (_) {
    return false;
  }
}
let deflate = true;
const noop = () => {};
/** Hands a body to the browser for delivery after the page is gone; without `sendBeacon`, a
 * keepalive fetch does the same (its answer, if any, comes too late to matter). A plain
 * string body is `text/plain`: a CORS-simple request, with no preflight to lose on unload. */
export function beacon(endpoint, body) {
  try {
    if (navigator.sendBeacon) return navigator.sendBeacon(endpoint, body);
    fetch(endpoint, init(body, true)).catch(() => {});
    return true;
  } catch (_) {
    return false;
  }
}

/** The target and its ancestors as far as a selector needs them: tag, id, position among
 * siblings of its tag and whether it has any (see src/selector.rs). */
function path(el, n, t) {
  for (let depth = 0; el && depth < maxSteps; depth++, el = el.parentElement) {
    const tag = el.localName;
    let nth = 1;
    let twin = false;
    for (let p = el.previousElementSibling; p; p = p.previousElementSibling) if (p.localName === tag) nth++;
    for (let s = el.nextElementSibling; s && !twin; s = s.nextElementSibling) twin = s.localName === tag;
    n.push(nth, nth > 1 || twin ? 1 : 0);
    t.push(tag, el.id);
    // The first id the selector can use ends it; others (`:r1:`, `123`) it skips (the rule
    // of src/selector.rs, is_plain_ident).
    if (/^[a-z_-][\w-]*$/i.test(el.id)) break;
  }
}

/** A no-code event: `data-spoor-event="cart_add"` names it, each
 * `data-spoor-prop-<name>="<value>"` adds a property. */
function marked(el) {
  const t = [el.getAttribute("data-spoor-event") || ""];
  const n = [];
  for (const name of el.getAttributeNames()) {
    if (name.startsWith("data-spoor-prop-")) t.push(name.slice(16), el.getAttribute(name)), n.push(0, 0);
  }
  hand(CUSTOM, n, t);
}

/** A custom event from page code: `spoor.track("cart_add", { product: "11" })`. Property
 * values travel as text with a type code (0 text, 1 number, 2 boolean, 3 null, 4 other). */
export function track(name, props) {
  safe(() => {
    if (props != null && (typeof props !== "object" || Array.isArray(props))) {
      return warn("spoor: track() takes an object of properties");
    }
    const t = [typeof name == "string" ? name : ""]; // (no name: the wasm warns about it)
    const n = [];
    for (const [k, v] of Object.entries(props || {})) {
      const type = typeof v === "string" ? 0 : typeof v === "number" ? 1 : typeof v === "boolean" ? 2 : v === null ? 3 : 4;
      t.push(k, type === 0 ? v : "");
      n.push(type, type === 1 ? v : type === 2 ? +v : 0);
    }
    hand(CUSTOM, n, t);
  })();
}

/** Whether the target holds masked text (a select's options, an editable region, a marked
 * secret): its own text would carry it along. (An empty field hides nothing.) */
function holdsMasked(el) {
  if (el.firstElementChild) for (const m of el.querySelectorAll(masked)) if (m.textContent) return true;
  return false;
}

function click(e) {
  const el = e.target;
  if (!(el instanceof Element)) return;
  const root = d.documentElement;
  const r = el.getBoundingClientRect();
  const closest = (s) => el.closest(s);
  // A click with no pointer (Enter on a link, a script's click()) is placed at the middle
  // of its target, not at the page's corner.
  const keyed = !e.detail && !e.clientX && !e.clientY;
  const x = keyed ? r.left + r.width / 2 : e.clientX;
  const y = keyed ? r.top + r.height / 2 : e.clientY;
  const n = [x + w.scrollX, y + w.scrollY, x, y, root.scrollWidth, root.scrollHeight, r.left, r.top, r.width, r.height];
  n.push(closest(interactive) ? 1 : 0);
  const link = closest("a[href]");
  // A container's text (the page's own, an app's root) is no label. (Indexing the live
  // collection walks only as far as that element, not the whole subtree.)
  // (Its start only: a label is 64 characters, and a long text need not cross whole.)
  const label =
    el.getElementsByTagName("*")[maxElements] || closest(masked) || holdsMasked(el)
      ? null
      : el.textContent.slice(0, 2048);
  const t = [el.localName, label, link && typeof link.href == "string" ? link.href : null]; // (an SVG link's href is no string)
  path(el, n, t);
  hand(CLICK, n, t);
  // No-code events: a click inside a marked element (forms report theirs on submit).
  const m = closest("[data-spoor-event]");
  if (m && m.localName !== "form") marked(m);
}

let masked, interactive, maxElements, maxSteps, off, routes;

let sid;
/** The session id, set by the wasm at start: page code forwards it to its backend, to join
 * browser events with server logs. None before the start or after an opt-out. */
export const session = (id) => (sid = id);
export const sessionId = () => sid;

/** The visitor opted out: the page's events stop reaching the tracker at all. */
export const stop = () => (off?.abort(), mutations?.disconnect(), (sid = undefined));

/** Installs the listeners. The rules come from the wasm: the masking and interactive
 * selectors and the most elements a label's target may hold (src/clicks.rs), the most steps
 * up the tree a selector needs (src/selector.rs). */
export function listen(exports, spa, prerendering, maskedRule, interactiveRule, elements, steps) {
  tracker = exports.wake;
  masked = maskedRule;
  interactive = interactiveRule;
  maxElements = elements;
  maxSteps = steps;
  try {
    mutations = new MutationObserver(safe(() => wake(MUTATED, 0)));
  } catch (_) {
    // no dead clicks without it
  }
  try {
    // The body too: a root of fixed height (`html { height: 100% }`) never resizes.
    const sizes = new ResizeObserver(safe(() => wake(RESIZED, d.documentElement.scrollHeight)));
    sizes.observe(d.documentElement);
    if (d.body) sizes.observe(d.body);
  } catch (_) {
    // the height read at start stays
  }
  wake(RESIZED, d.documentElement.scrollHeight);
  off = new AbortController();
  const on = (target, type, f, capture) =>
    target.addEventListener(type, safe(f), { passive: true, capture, signal: off.signal });
  on(d, "click", click, true);
  on(d, "submit", (e) => e.target instanceof Element && e.target.hasAttribute("data-spoor-event") && marked(e.target), true);
  for (const type of ["pointerdown", "keydown", "touchstart", "wheel"]) on(w, type, () => (input = now()), true);
  // Read where it happens (scroll events come at most once per frame, per scrolling box);
  // only the deepest position counts.
  on(
    w,
    "scroll",
    () => {
      const y = w.scrollY,
        h = w.innerHeight;
      input = now();
      if (top < 0 || y + h > top + viewport) (top = y), (viewport = h);
    },
    true,
  );
  on(d, "visibilitychange", () => wake(VISIBILITY, d.hidden ? 0 : 1));
  on(w, "focus", () => wake(FOCUS, 1));
  on(w, "blur", () => wake(FOCUS, 0));
  on(w, "pagehide", () => wake(LEAVE, 0));
  on(d, "freeze", () => wake(LEAVE, 0));
  on(d, "resume", () => wake(THAWED, 0));
  // Back from the back/forward cache: a new view of the same page.
  on(w, "pageshow", (e) => e.persisted && wake(SHOWN, 0));
  on(w, "online", () => wake(ONLINE, 0));
  // An opt-out in another tab of the site (the key is `OPT_OUT_KEY` of src/browser/mod.rs)
  // stops this one too.
  on(w, "storage", (e) => e.key === "spoor.optout" && e.newValue != null && wake(OPTED_OUT, 0));
  // A navigation starting (where the browser tells: the Navigation API) answers a click,
  // before a slow server's page replaces this one.
  if (w.navigation) on(w.navigation, "navigate", () => wake(MUTATED, 0));
  on(w, "error", (e) => hand(ERROR, [e.lineno || 0, e.colno || 0], [e.message || "", e.filename || ""]));
  on(w, "unhandledrejection", (e) => {
    const r = e.reason;
    const msg = r instanceof Error ? r.message : typeof r === "string" ? r : "unhandled promise rejection";
    hand(ERROR, [0, 0], [msg, ""]);
  });
  if (prerendering) on(d, "prerenderingchange", () => wake(NAVIGATE, 0));
  routes = spa;
  if (spa) {
    // An app's navigation is taken in the next task: routers set the new title after they
    // change the URL (leaving the page before then still counts it, see `leave`).
    const navigated = () => setTimeout(safe(() => wake(NAVIGATE, 0)));
    // A fragment navigation (a hash route) fires popstate too: no hashchange listener.
    on(w, "popstate", navigated);
    // The page's own pushState/replaceState runs first and unchanged (its result and
    // exceptions are the page's); a replace with the same URL changes nothing.
    for (const name of ["pushState", "replaceState"]) {
      const original = history[name];
      if (typeof original !== "function") continue;
      history[name] = function () {
        const result = original.apply(this, arguments);
        safe(navigated)();
        return result;
      };
    }
  }
}
