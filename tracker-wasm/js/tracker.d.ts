// The API of spoor-tracker (pkg/tracker.js), as js/api.js exports it.

/** Where the wasm comes from: a URL, a response, its bytes or a compiled module. */
export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

/** Loads and instantiates the wasm (by default `tracker_bg.wasm` next to this module). */
export default function init(options?: { module_or_path: InitInput | Promise<InitInput> }): Promise<unknown>;
/** Instantiates the wasm from its bytes or a compiled module, synchronously. */
export function initSync(options: { module: BufferSource | WebAssembly.Module }): unknown;

/** Starts tracking the page: `base` is the URL the tracker was loaded from, the collector's
 * (ending in `/`), `script` the element whose `data-*` attributes configure the tracker
 * (`data-site` at least). */
export function start(base: string, script: Element): void;
/** Records a custom event with up to 25 properties of strings, numbers, booleans or null. */
export function track(name: string, props?: Record<string, string | number | boolean | null>): void;
/** Sets (or with `null`, clears) the site's own id of the signed-in user. */
export function identify(userId: string | null): void;
/** This tab's session id, to join browser events with server logs. */
export function sessionId(): string | undefined;
/** The visitor opts out: nothing more is recorded or sent, now or on later visits. */
export function optOut(): void;
/** Withdraws an opt-out; tracking starts again with the next page load. */
export function optIn(): void;
