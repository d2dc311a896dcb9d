// Spoor's loader, served as /t.js: the one script tag a site adds. Tiny on purpose. It finds
// where it was loaded from, offers `window.spoor` at once (calls made before the tracker is
// ready are queued and replayed), and once the page has done its own work streams and
// instantiates the tracker's wasm. `?spoor=off` in the page URL disables it (the dashboard's
// heatmap previews pages that way). The glue and the wasm are loaded only if they match the
// hashes the build wrote in here, so a site that pins this file with `<script integrity>`
// pins all three. Nothing here may throw into the page.
(function (w) {
  var script = document.currentScript;
  if (!script || !w.WebAssembly || w.spoor) return;
  var base = script.src.replace(/[^/]*$/, "");
  var off = /[?&]spoor=off(&|$)/.test(location.search);
  var queue = [];
  var api = { sessionId: function () {} };
  ["track", "identify", "optOut", "optIn"].forEach(function (name) {
    api[name] = function () {
      if (!off) queue.push([name, arguments]);
    };
  });
  w.spoor = api;
  if (off) return;
  function load() {
    // A module preload carries the glue's integrity; the import then uses the checked copy.
    // `?v=` names the release (set by the build): the glue and the wasm are cached for a year,
    // and a new loader never meets an old glue that would fail its integrity check.
    var glue = base + "tracker.js?v=__VERSION__";
    var link = document.createElement("link");
    link.rel = "modulepreload";
    link.href = glue;
    link.integrity = "__GLUE_SRI__";
    link.crossOrigin = "anonymous";
    document.head.appendChild(link);
    import(glue)
      .then(function (m) {
        var wasm = fetch(base + "tracker_bg.wasm?v=__VERSION__", { integrity: "__WASM_SRI__" });
        return m.default({ module_or_path: wasm }).then(function () {
          m.start(base, script);
          api.sessionId = m.sessionId;
          for (var name in api) if (m[name]) api[name] = m[name];
          queue.forEach(function (call) {
            api[call[0]].apply(null, call[1]);
          });
          api.ready = true;
        });
      })
      .catch(function (e) {
        console.warn("spoor: tracker not loaded", e);
      });
  }
  if (w.requestIdleCallback) requestIdleCallback(load, { timeout: 2000 });
  else setTimeout(load, 1);
})(window);
