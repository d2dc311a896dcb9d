// Spoor's loader, served as /t.js: the one script tag a site adds. Tiny on purpose. It finds
// where it was loaded from, offers `window.spoor` at once (calls made before the tracker is
// ready are queued and replayed), and once the page has done its own work streams and
// instantiates the tracker's wasm. `?spoor=off` in the page URL disables it (the dashboard's
// heatmap previews pages that way). Nothing here may throw into the page.
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
    import(base + "tracker.js")
      .then(function (m) {
        return m.default({ module_or_path: base + "tracker_bg.wasm" }).then(function () {
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
