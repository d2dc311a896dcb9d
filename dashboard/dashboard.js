// Spoor's dashboard: reads the collector's read API (/v1/count, /v1/stats, /v1/incidents,
// /v1/live) and draws it. No framework: a few render functions over plain DOM and canvas.

const $ = (selector) => document.querySelector(selector);
const number = new Intl.NumberFormat();

/** Width each viewport bucket's heatmap is drawn at, and what to call it. */
const BUCKETS = {
  0: { width: 390, name: "phone" },
  480: { width: 600, name: "large phone" },
  768: { width: 900, name: "tablet" },
  1024: { width: 1280, name: "laptop" },
  1440: { width: 1600, name: "desktop" },
};
const bucketOf = (vw) =>
  Object.keys(BUCKETS)
    .map(Number)
    .filter((b) => vw >= b)
    .pop() ?? 0;

const state = { site: "demo", from: "", to: "", page: null, bucket: null };

/**
 * The read key (the collector's READ_KEYS): typed into the form, or handed over in the link's
 * fragment (`#key=…`, which never reaches a server), then kept in this browser only.
 */
const KEY_STORE = "spoor-read-key";
function readKey() {
  const handed = new URLSearchParams(location.hash.slice(1)).get("key");
  if (handed) {
    localStorage.setItem(KEY_STORE, handed);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(KEY_STORE) || "";
}

async function api(path, params) {
  const query = new URLSearchParams({ site: state.site, ...params });
  const key = $("#key").value;
  const resp = await fetch(`${path}?${query}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const body = await resp.json();
  if (resp.status === 401) {
    $("#key").focus();
    throw new Error(key ? "this read key is not valid" : "enter the read key (READ_KEYS)");
  }
  if (!resp.ok) throw new Error(body.field ? `${body.field}: ${body.message}` : body.message);
  return body;
}

function showError(e) {
  const el = $("#error");
  el.hidden = !e;
  el.textContent = e ? `Could not load: ${e.message}` : "";
}

const isoDay = (d) => d.toISOString().slice(0, 10);

function readControls() {
  const params = new URLSearchParams(location.search);
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86_400_000);
  state.site = params.get("site") || "demo";
  state.to = params.get("to") || isoDay(today);
  state.from = params.get("from") || isoDay(weekAgo);
  state.page = params.get("page");
  $("#site").value = state.site;
  $("#key").value = readKey();
  $("#from").value = state.from;
  $("#to").value = state.to;
}

async function load() {
  showError(null);
  try {
    const range = { from: state.from, to: state.to };
    const [count, stats, incidents, status] = await Promise.all([
      api("/v1/count"),
      api("/v1/stats", range),
      api("/v1/incidents", range),
      fetch("/status").then((r) => r.json()),
    ]);
    // The server side: each backend service's incidents (and the collector's own).
    const services = await Promise.all(
      (status.log_services || []).map((service) =>
        api("/v1/incidents", { ...range, service }).then((r) => r.incidents, () => []),
      ),
    );
    renderCounters(count, stats);
    renderDays(stats.days);
    renderPages(stats.pages);
    renderIncidents(
      [...incidents.incidents, ...services.flat()].sort((a, b) => b.window_start - a.window_start),
    );
    const page = state.page && stats.pages.some((p) => p.path === state.page)
      ? state.page
      : stats.pages[0]?.path;
    if (page) await selectPage(page);
    else {
      renderFunnel(null);
      renderDwell(null);
      renderHeatmap(null, null);
    }
  } catch (e) {
    showError(e);
  }
}

function renderCounters(count, stats) {
  $("#visitors").textContent = number.format(count.visitor_count);
  $("#pageviews-total").textContent = number.format(count.pageviews);
  $("#pageviews-range").textContent = number.format(stats.totals.pageviews || 0);
  $("#clicks-range").textContent = number.format(stats.totals.clicks || 0);
}

function renderDays(days) {
  const max = Math.max(1, ...days.map((d) => d.pageviews || 0));
  $("#days").innerHTML = days
    .map((d) => {
      const v = d.pageviews || 0;
      return `<div class="day" title="${d.date}: ${v} pageviews">
        <b>${v || ""}</b><i style="height:${(v / max) * 100}%"></i><span>${d.date.slice(5)}</span></div>`;
    })
    .join("");
}

function renderPages(pages) {
  const body = $("#pages tbody");
  body.innerHTML = "";
  $("#pages-empty").hidden = pages.length > 0;
  const max = Math.max(1, ...pages.map((p) => p.pageviews || 0));
  for (const p of pages) {
    const row = document.createElement("tr");
    row.dataset.path = p.path;
    row.tabIndex = 0;
    row.innerHTML = `<td class="path"></td><td class="pageviews">${number.format(p.pageviews || 0)}</td>
      <td class="clicks">${number.format(p.clicks || 0)}</td>
      <td class="bar"><i style="width:${((p.pageviews || 0) / max) * 100}%"></i></td>`;
    row.querySelector(".path").textContent = p.path;
    row.addEventListener("click", () => selectPage(p.path));
    row.addEventListener("keydown", (e) => e.key === "Enter" && selectPage(p.path));
    body.appendChild(row);
  }
}

async function selectPage(path) {
  state.page = path;
  for (const row of document.querySelectorAll("#pages tbody tr")) {
    row.classList.toggle("selected", row.dataset.path === path);
  }
  const url = new URL(location.href);
  url.searchParams.set("page", path);
  history.replaceState(null, "", url);
  try {
    const stats = await api("/v1/stats", { from: state.from, to: state.to, path });
    const page = stats.pages[0] || { path, pageviews: 0 };
    renderFunnel(page);
    renderDwell(page);
    renderHeatmap(path, stats.heatmap);
  } catch (e) {
    showError(e);
  }
}

function renderFunnel(page) {
  $("#funnel-page").textContent = page ? page.path : "";
  const views = page?.pageviews || 0;
  $("#funnel").innerHTML = [25, 50, 75, 90, 100]
    .map((m) => {
      const reached = page?.[`scroll_${m}`] || 0;
      const share = views ? Math.min(100, Math.round((reached / views) * 100)) : 0;
      return `<div class="bar-row" data-mark="${m}"><span>${m} %</span>
        <span class="track"><i style="width:${share}%"></i></span>
        <b class="share">${share} %</b></div>`;
    })
    .join("");
}

function renderDwell(page) {
  const views = page?.pageviews || 0;
  const avg = (ms) => (views ? ms / views / 1000 : 0);
  const rows = [
    ["engaged", avg(page?.engaged_ms || 0)],
    ["visible", avg(page?.visible_ms || 0)],
    ["total", avg(page?.total_ms || 0)],
  ];
  const max = Math.max(1, ...rows.map((r) => r[1]));
  $("#dwell").innerHTML = rows
    .map(
      ([name, s]) => `<div class="bar-row ${name}" data-dwell="${name}"><span>${name}</span>
        <span class="track"><i style="width:${(s / max) * 100}%"></i></span>
        <b>${s.toFixed(1)} s</b></div>`,
    )
    .join("");
}

function renderHeatmap(path, heatmap) {
  $("#heat-page").textContent = path || "";
  const frame = $("#heat-frame");
  frame.innerHTML = "";
  const clicks = heatmap?.clicks || [];
  // The collector reads individual clicks newest day first, within its calls per request.
  const since = heatmap?.clicks_since;
  $("#heat-since").hidden = !since || since <= state.from;
  $("#heat-since").textContent = `Individual clicks since ${since}, the newest the collector reads at once.`;
  const byBucket = new Map();
  for (const c of clicks) {
    const b = bucketOf(c.vw || 0);
    byBucket.set(b, (byBucket.get(b) || 0) + 1);
  }
  const select = $("#width");
  select.innerHTML = "";
  const buckets = [...byBucket.keys()].sort((a, b) => a - b);
  for (const b of buckets) {
    const option = new Option(`${BUCKETS[b].name} (${byBucket.get(b)} clicks)`, b);
    select.add(option);
  }
  if (!buckets.includes(state.bucket)) {
    state.bucket = buckets.sort((a, b) => byBucket.get(b) - byBucket.get(a))[0] ?? null;
  }
  select.value = state.bucket ?? "";
  select.onchange = () => {
    state.bucket = Number(select.value);
    renderHeatmap(path, heatmap);
  };
  const shown = clicks.filter((c) => bucketOf(c.vw || 0) === state.bucket);
  $("#heat-empty").hidden = shown.length > 0;
  renderTargets(shown);
  if (!path || shown.length === 0) return;

  // The page itself, at the bucket's width, tracker off; a canvas over it for the clicks.
  const width = BUCKETS[state.bucket].width;
  // The frame scrolls; inside it a box as tall as the scaled page holds the stage.
  const box = document.createElement("div");
  box.className = "box";
  const stage = document.createElement("div");
  stage.className = "stage";
  const iframe = document.createElement("iframe");
  iframe.title = `${path} as visitors saw it`;
  // A hash route (`/#/cart`) keeps its fragment after the query.
  const [file, route = ""] = path.split(/(?=#)/);
  iframe.src = `${file}?spoor=off${route}`;
  iframe.width = width;
  iframe.height = 800;
  iframe.setAttribute("scrolling", "no");
  const canvas = document.createElement("canvas");
  canvas.id = "heat-canvas";
  stage.append(iframe, canvas);
  box.appendChild(stage);
  frame.appendChild(box);
  const fit = () => {
    const scale = Math.min(1, frame.clientWidth / width);
    stage.style.transform = `scale(${scale})`;
    stage.style.height = `${iframe.height * scale}px`;
    frame.firstElementChild.style.height = `${iframe.height * scale}px`;
  };
  // Whether the viewer has scrolled the preview themselves (our own scrolling does not count).
  let looked = false;
  for (const kind of ["wheel", "touchstart", "keydown", "pointerdown"]) {
    frame.addEventListener(kind, () => (looked = true), { passive: true });
  }
  iframe.addEventListener("load", () => {
    const doc = iframe.contentDocument;
    if (!doc) return;
    const draw = () => {
      iframe.height = doc.documentElement.scrollHeight;
      fit();
      const points = drawClicks(doc, canvas, shown, width, iframe.height);
      if (!looked && points.length) {
        // Open where most clicks are (until the viewer scrolls for themselves).
        const ys = points.map((p) => p.y).sort((a, b) => a - b);
        const scale = Math.min(1, frame.clientWidth / width);
        frame.scrollTop = ys[Math.floor(ys.length / 2)] * scale - frame.clientHeight / 2;
      }
    };
    draw();
    // Pages grow after load (images, lazy content): place the clicks again when they do.
    new ResizeObserver(draw).observe(doc.documentElement);
  });
  window.addEventListener("resize", fit);
}

/** Where a click lands on the page as drawn now: on its element if it is there (so it lines
 * up whatever the layout), else by its share of the document. */
function place(doc, c) {
  let el = null;
  try {
    el = c.sel ? doc.querySelector(c.sel) : null;
  } catch {
    el = null; // a selector this page no longer understands
  }
  if (el && c.ex != null && c.ey != null) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) {
      return {
        x: r.left + c.ex * r.width + doc.defaultView.scrollX,
        y: r.top + c.ey * r.height + doc.defaultView.scrollY,
      };
    }
  }
  return { x: (c.x || 0) * doc.documentElement.scrollWidth, y: c.y || 0 };
}

function drawClicks(doc, canvas, clicks, width, height) {
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const points = clicks.map((c) => ({ ...place(doc, c), rage: c.rage, dead: c.dead }));
  g.globalCompositeOperation = "lighter";
  for (const p of points) {
    const grad = g.createRadialGradient(p.x, p.y, 0, p.x, p.y, 22);
    grad.addColorStop(0, "rgba(255, 96, 0, 0.55)");
    grad.addColorStop(1, "rgba(255, 96, 0, 0)");
    g.fillStyle = grad;
    g.beginPath();
    g.arc(p.x, p.y, 22, 0, Math.PI * 2);
    g.fill();
  }
  g.globalCompositeOperation = "source-over";
  g.lineWidth = 3;
  for (const p of points.filter((q) => q.rage || q.dead)) {
    g.strokeStyle = p.rage ? "#d11" : "#555";
    g.setLineDash(p.rage ? [] : [4, 3]);
    g.beginPath();
    g.arc(p.x, p.y, 12, 0, Math.PI * 2);
    g.stroke();
  }
  canvas.dataset.points = String(points.length);
  canvas.dataset.placed = JSON.stringify(points.map((p) => [Math.round(p.x), Math.round(p.y)]));
  return points;
}

function renderTargets(clicks) {
  const groups = new Map();
  for (const c of clicks) {
    const key = c.sel || "(page)";
    const g = groups.get(key) || { sel: key, txt: c.txt, clicks: 0, rage: 0, dead: 0 };
    g.clicks += 1;
    g.rage += c.rage ? 1 : 0;
    g.dead += c.dead ? 1 : 0;
    groups.set(key, g);
  }
  const body = $("#targets tbody");
  body.innerHTML = "";
  for (const g of [...groups.values()].sort((a, b) => b.clicks - a.clicks).slice(0, 10)) {
    const row = document.createElement("tr");
    row.innerHTML = `<td><code></code> <span class="muted"></span></td><td>${g.clicks}</td>
      <td>${g.rage || ""}</td><td>${g.dead || ""}</td>`;
    row.querySelector("code").textContent = g.sel;
    row.querySelector(".muted").textContent = g.txt ? `“${g.txt}”` : "";
    body.appendChild(row);
  }
}

function renderIncidents(incidents) {
  const list = $("#incidents");
  list.innerHTML = "";
  $("#incidents-empty").hidden = incidents.length > 0;
  for (const i of incidents) {
    const li = document.createElement("li");
    li.className = `incident ${String(i.severity).toLowerCase()}`;
    li.innerHTML = `<b class="badge"></b> <span class="message"></span>
      <small><span class="where"></span> · ×<span class="count"></span> · <time></time>
      <span class="alerted"></span></small>`;
    const badges = { rage_clicks: "rage", server_error: "server", traffic_surge: "surge", traffic_drop: "drop" };
    li.querySelector(".badge").textContent = badges[i.kind] || "error";
    li.querySelector(".message").textContent = i.message;
    li.querySelector(".where").textContent = [i.service, i.path].filter(Boolean).join(" ");
    if (i.session_id) {
      const link = document.createElement("button");
      link.className = "link";
      link.type = "button";
      link.textContent = "session";
      link.addEventListener("click", () => showSession(i.session_id));
      li.querySelector("small").append(" · ", link);
    }
    li.querySelector(".count").textContent = i.count ?? i.alert_count ?? 1;
    li.querySelector("time").textContent = new Date(i.window_start).toLocaleString();
    li.querySelector(".alerted").textContent =
      (i.trace_id ? ` · trace ${i.trace_id}` : "") +
      (i.message_id ? " · alert sent" : i.alert_withheld ? " · alert withheld (limit per window)" : "");
    list.appendChild(li);
  }
}

function describe(e) {
  switch (e.k) {
    case "click":
      return `${e.tag || ""} ${e.txt ? `“${e.txt}”` : e.sel || ""}${e.rage ? " · rage" : ""}${e.dead ? " · dead" : ""}`;
    case "scroll":
      return `${Math.round((e.max || 0) * 100)} % deep`;
    case "dwell":
      return `${((e.engaged_ms || 0) / 1000).toFixed(1)} s engaged`;
    case "custom":
      return `${e.name} ${e.props ? JSON.stringify(e.props) : ""}`;
    case "error":
      return e.msg;
    default:
      return e.title || "";
  }
}

async function live() {
  try {
    const { events } = await api("/v1/live", { limit: 30 });
    const list = $("#live");
    list.innerHTML = "";
    $("#live-empty").hidden = events.length > 0;
    for (const e of events) {
      const li = document.createElement("li");
      li.innerHTML = `<time></time> <b></b> <code></code> <span></span>`;
      li.querySelector("time").textContent = new Date(e.at).toLocaleTimeString();
      li.querySelector("b").textContent = e.k;
      li.querySelector("code").textContent = e.url;
      li.querySelector("span").textContent = describe(e);
      li.className = `${e.k} selectable`;
      li.tabIndex = 0;
      li.title = `session ${e.sid}`;
      li.addEventListener("click", () => showSession(e.sid));
      li.addEventListener("keydown", (k) => k.key === "Enter" && showSession(e.sid));
      list.appendChild(li);
    }
    $("#live-state").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("#live-state").textContent = `not updating: ${e.message}`;
  }
}

/** One session's page events and the server logs that carry its id, on one timeline. */
async function showSession(sid) {
  try {
    const { events, logs, events_truncated, logs_truncated } = await api("/v1/session", { sid });
    const items = [
      ...events.map((e) => ({ at: e.at, side: "page", what: e.k, text: `${e.url} ${describe(e)}` })),
      ...logs.map((l) => ({
        at: l.ts,
        side: l.service,
        what: l.level,
        text: `${l.http ? `${l.http.method} ${l.http.path} ${l.http.status} · ` : ""}${l.message}`,
      })),
    ].sort((a, b) => a.at - b.at);
    const list = $("#session");
    list.innerHTML = "";
    for (const i of items) {
      const li = document.createElement("li");
      li.className = i.side === "page" ? "page" : "server";
      li.innerHTML = `<time></time> <b></b> <span class="side"></span> <span class="text"></span>`;
      li.querySelector("time").textContent = new Date(i.at).toLocaleTimeString();
      li.querySelector("b").textContent = i.what;
      li.querySelector(".side").textContent = i.side;
      li.querySelector(".text").textContent = i.text;
      list.appendChild(li);
    }
    const cut = [
      events_truncated && `${events.length} events`,
      logs_truncated && `${logs.length} server log records`,
    ].filter(Boolean);
    $("#session-cut").hidden = cut.length === 0;
    $("#session-cut").textContent = `A long session: only its first ${cut.join(" and ")} are shown.`;
    $("#session-id").textContent = sid;
    $("#session-card").hidden = false;
    $("#session-card").scrollIntoView({ behavior: "smooth", block: "nearest" });
  } catch (e) {
    showError(e);
  }
}

$("#session-close").addEventListener("click", () => ($("#session-card").hidden = true));

$("#controls").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(KEY_STORE, $("#key").value);
  const url = new URL(location.href);
  for (const name of ["site", "from", "to"]) url.searchParams.set(name, $(`#${name}`).value);
  url.searchParams.delete("page");
  history.replaceState(null, "", url);
  readControls();
  load();
  live();
});

// A key handed over while the page is open (the link pasted again) arrives as a fragment change.
window.addEventListener("hashchange", () => {
  if (!location.hash.includes("key=")) return;
  $("#key").value = readKey();
  load();
  live();
});

readControls();
load();
live();
setInterval(live, 5000);
