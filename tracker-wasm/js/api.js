// The package's entry (bundled into pkg/tracker.js by scripts/build-tracker.sh): the wasm's
// exports, with the calls that take arbitrary page values checked here, so that only numbers
// and strings cross into the wasm. "spoor-glue" and "spoor-page" are esbuild aliases for
// wasm-bindgen's output and its copy of js/page.js (one module, which the glue imports too).
import init, { initSync, optOut, optIn, start as boot, identify as setUser } from "spoor-glue";
import { script, track, sessionId } from "spoor-page";

export { init as default, initSync, sessionId, optOut, optIn, track };

/** Starts tracking: `base` is where the loader came from, `el` its script tag. */
export function start(base, el) {
  script(el);
  boot(base);
}

/** The site's own id of the signed-in user (a string of 1–128 characters), or null. Anything
 * else goes over as "", which the wasm refuses with a warning. */
export function identify(id) {
  setUser(id == null ? undefined : typeof id == "string" ? id : "");
}
