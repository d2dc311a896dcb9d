// Markdown tables and units for BENCHMARKS.md.

/** A Markdown table from a header row and rows of cells. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Bytes as B below 1 KiB, else KB with one decimal (1 KB = 1,024 B, as the budget counts). */
export function kb(n) {
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`;
}

/** The median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A number with thousands separators and at most `digits` decimals. */
export function num(n, digits = 0) {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits });
}
