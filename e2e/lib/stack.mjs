// The whole local stack for one test file: the AWS emulator, the collector in wrangler dev
// wired to it, and (if asked) headless Chromium — started before the file's tests, stopped
// after them. Fields are filled in once `before` has run. With `awsProxy`, the collector
// reaches the emulator through a proxy the test can take down (an AWS outage).
//
// A DevTools client stays attached to the collector's isolate with Network events off:
// without one, wrangler's inspector proxy keeps every runtime message (each subrequest, with
// its body) in memory, which over a long test with many AWS calls grows without bound in the
// process that also serves the test's pages.
import { after, before } from "node:test";
import { startCollector } from "../../scripts/lib/collector.mjs";
import { startEmulator } from "../../scripts/lib/emulator.mjs";
import { startProxy } from "../../scripts/lib/proxy.mjs";
import { launchChromium } from "./browser.mjs";
import { attachDevtools } from "./devtools.mjs";

export function stack({ browser = false, awsProxy = false, ...collectorOptions } = {}) {
  const s = { emulator: null, collector: null, browser: null, proxy: null, devtools: null };
  before(async () => {
    s.emulator = await startEmulator();
    const options = { ...collectorOptions, vars: { ...collectorOptions.vars } };
    if (awsProxy) {
      s.proxy = await startProxy(s.emulator.endpoint);
      options.vars.AWS_ENDPOINT_URL = s.proxy.url;
    }
    s.collector = await startCollector(s.emulator, options);
    s.devtools = await attachDevtools(s.collector.inspector);
    if (browser) s.browser = await launchChromium();
  });
  after(async () => {
    s.devtools?.close();
    await s.browser?.close();
    await s.collector?.stop();
    await s.proxy?.stop();
    await s.emulator?.stop();
  });
  return s;
}
