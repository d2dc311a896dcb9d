// Headless Chromium from Debian, driven by playwright-core (which never downloads a browser).
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * Records what a page reports that a tracker must never cause: uncaught errors, and console
 * errors or warnings. Returns the list, filled as the page runs.
 */
export function watchProblems(page) {
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  return problems;
}

/**
 * Switches the page's visibility as a tab switch would. Headless Chromium has no tabs to
 * switch, so the test overrides `document.hidden` / `visibilityState` and fires the event the
 * browser would fire.
 */
export async function setVisible(page, visible) {
  await page.evaluate((v) => {
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (v ? "visible" : "hidden"),
    });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => !v });
    document.dispatchEvent(new Event("visibilitychange"));
  }, visible);
}

/** Waits until the tracker is loaded and started on `page`, and the page is in its final
 * layout: the demo's product page grows 200 ms after load (its photo arrives) and marks it,
 * and a click aimed before that lands where the button used to be. */
export async function trackerReady(page) {
  await page.waitForFunction(
    () =>
      window.spoor &&
      window.spoor.ready &&
      (!document.getElementById("photo") || document.documentElement.dataset.grown === "yes"),
  );
  return page.evaluate(() => window.spoor.sessionId());
}

/** Resolves after the page has rendered two more frames (scroll work runs once per frame). */
export function frames(page) {
  return page.evaluate(
    () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))),
  );
}
