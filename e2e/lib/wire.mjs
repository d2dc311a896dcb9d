// Batches as the tracker sends them (wire v2: events as positional rows, see wire/src/v2.rs)
// read back as v1 objects, the shape the collector stores, so tests compare like with like.

const KINDS = { p: "pageview", c: "click", s: "scroll", d: "dwell", t: "custom", e: "error" };
const share = (n) => n / 10_000;
/** The tag a selector's last step names (`main>a:nth-of-type(2)` → `a`). */
const impliedTag = (sel) => /^[A-Za-z0-9-]*/.exec(sel.split(">").pop())[0];

function fields(kind, f) {
  switch (kind) {
    case "p":
      return { title: f[0], ref: f[1] };
    case "c": {
      const [x, y, yr, ex, ey, sel, txt, flags, tag, href] = f;
      return {
        x: share(x), y, yr: share(yr), sel, ex: share(ex), ey: share(ey), tag: tag || impliedTag(sel), txt,
        href: href ?? null, out: !!(flags & 1), rage: !!(flags & 2), dead: !!(flags & 4),
      };
    }
    case "s":
      return { max: share(f[0]), marks: f[1] };
    case "d":
      return { engaged_ms: f[0], visible_ms: f[1], total_ms: f[2] };
    case "t":
      return { name: f[0], props: f[1] };
    case "e":
      return { msg: f[0], src: f[1], line: f[2], col: f[3] };
    default:
      throw new Error(`unknown event kind ${kind}`);
  }
}

/** A batch as v1 (a v1 batch as it is). */
export function toV1(batch) {
  if (batch.v !== 2) return batch;
  const { t0, urls, events, ...rest } = batch;
  return {
    ...rest,
    v: 1,
    events: events.map(([dt, u, kind, ...f], i) => ({
      id: `${batch.batch}-${i}`, k: KINDS[kind], ts: t0 + dt, url: urls[u], ...fields(kind, f),
    })),
  };
}
