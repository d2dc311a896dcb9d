// Batches in the v1 wire format, as the tracker sends them, for tests that talk to the
// collector directly.
import { randomUUID } from "node:crypto";

/** A valid batch of `events` (each gets an id, a time and a url unless it has them). */
export function batch(events, { site = "demo", sid = randomUUID(), vid = randomUUID(), vw = 1280 } = {}) {
  const now = Date.now();
  return {
    v: 1,
    site,
    batch: randomUUID(),
    sent: now,
    vid,
    sid,
    ctx: { vw, vh: 720, dpr: 1, lang: "en-US" },
    events: events.map((e, i) => ({ id: randomUUID(), ts: now - 1000 + i, url: "/", ...e })),
  };
}

/** A valid batch in wire v2 (what the tracker sends): `rows` are `[dt, u, kind, …]` against
 * `t0` a second ago and the URL table `["/"]`. */
export function batchV2(rows, options) {
  const { events, ...head } = batch([], options);
  return { ...head, v: 2, t0: head.sent - 1000, urls: ["/"], events: rows };
}

export const pageview = (extra = {}) => ({ k: "pageview", title: "Home", ref: "", ...extra });
export const click = (extra = {}) => ({
  k: "click", x: 0.25, y: 300, yr: 0.1, sel: "main>button", ex: 0.5, ey: 0.5,
  tag: "button", txt: "Buy", href: null, rage: false, dead: false, ...extra,
});

/** POSTs a body (an object is sent as JSON text) as the tracker does; returns status and JSON. */
export async function post(url, body, { contentType = "text/plain;charset=UTF-8", headers = {}, query = "" } = {}) {
  const resp = await fetch(`${url}/v1/events${query}`, {
    method: "POST",
    headers: { "content-type": contentType, ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await resp.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: resp.status, json, headers: resp.headers };
}
