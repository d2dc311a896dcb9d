// Spoor's loader, served as /t.js: the one script tag a site adds. Tiny on purpose. It finds
// where it was loaded from, waits until the page has done its own work, then streams and
// instantiates the tracker's wasm. Nothing here may throw into the page.
(function () {
  var script = document.currentScript;
  if (!script || !window.WebAssembly) return;
  var base = script.src.replace(/[^/]*$/, "");
  function load() {
    import(base + "tracker.js")
      .then(function (m) {
        return m.default({ module_or_path: base + "tracker_bg.wasm" }).then(function () {
          m.start(base, script);
          window.spoor = { sessionId: m.sessionId };
        });
      })
      .catch(function (e) {
        console.warn("spoor: tracker not loaded", e);
      });
  }
  if (window.requestIdleCallback) requestIdleCallback(load, { timeout: 2000 });
  else setTimeout(load, 1);
})();
