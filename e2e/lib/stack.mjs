// The whole local stack for one test file: the AWS emulator, the collector in wrangler dev
// wired to it, and (if asked) headless Chromium — started before the file's tests, stopped
// after them. Fields are filled in once `before` has run. With `awsProxy`, the collector
// reaches the emulator through a proxy the test can take down (an AWS outage).
import { after, before } from "node:test";
import { startCollector } from "../../scripts/lib/collector.mjs";
import { startEmulator } from "../../scripts/lib/emulator.mjs";
import { startProxy } from "../../scripts/lib/proxy.mjs";
import { launchChromium } from "./browser.mjs";

export function stack({ browser = false, awsProxy = false, ...collectorOptions } = {}) {
  const s = { emulator: null, collector: null, browser: null, proxy: null };
  before(async () => {
    s.emulator = await startEmulator();
    const options = { ...collectorOptions, vars: { ...collectorOptions.vars } };
    if (awsProxy) {
      s.proxy = await startProxy(s.emulator.endpoint);
      options.vars.AWS_ENDPOINT_URL = s.proxy.url;
    }
    s.collector = await startCollector(s.emulator, options);
    if (browser) s.browser = await launchChromium();
  });
  after(async () => {
    await s.browser?.close();
    await s.collector?.stop();
    await s.proxy?.stop();
    await s.emulator?.stop();
  });
  return s;
}
