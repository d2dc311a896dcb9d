// The whole local stack for one test file: the AWS emulator, the collector in wrangler dev
// wired to it, and (if asked) headless Chromium — started before the file's tests, stopped
// after them. Fields are filled in once `before` has run.
import { after, before } from "node:test";
import { startCollector } from "../../scripts/lib/collector.mjs";
import { startEmulator } from "../../scripts/lib/emulator.mjs";
import { launchChromium } from "./browser.mjs";

export function stack({ browser = false, ...collectorOptions } = {}) {
  const s = { emulator: null, collector: null, browser: null };
  before(async () => {
    s.emulator = await startEmulator();
    s.collector = await startCollector(s.emulator, collectorOptions);
    if (browser) s.browser = await launchChromium();
  });
  after(async () => {
    await s.browser?.close();
    await s.collector?.stop();
    await s.emulator?.stop();
  });
  return s;
}
