/** What the benches click on the demo's `/product`: text, headings and buttons, in turn. */
export const TARGETS = ["#add", "#notify", "h1", ".price", ".long p", ".long blockquote", ".long h2", ".cart"];

/**
 * Waits until the tracker on `page` has started; resolves to its session id. One evaluation,
 * whose promise looks every 50 ms: Playwright's `waitForFunction` evaluates its predicate on
 * every animation frame, and that script time (0.4–1.3 ms over the 300 ms a tracker takes to
 * start, measured on a blank page) would be counted as the tracker's.
 */
export function trackerStarted(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const until = Date.now() + 30_000;
        const look = () => {
          if (window.spoor && window.spoor.ready) resolve(window.spoor.sessionId());
          else if (Date.now() > until) reject(new Error("the tracker did not start within 30 s"));
          else setTimeout(look, 50);
        };
        look();
      }),
  );
}
