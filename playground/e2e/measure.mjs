// The playground's figures (`make bench-playground`): the page's first
// render, cold, in headless Chromium, and the time of one compile (what
// every pause in typing costs) for each example policy, in the page's
// WebAssembly. Writes bench/playground.json (a quick pass, EGRESS_BENCH_QUICK=1,
// which `make test` runs so this cannot rot: target/playground-bench-quick.json);
// docs/playground.md records the figures.
//
//   node playground/e2e/measure.mjs [LOADS]      (default 25; EGRESS_BENCH_QUICK=1: 3)
//
// First render: from navigation start to the moment the page has compiled
// the example, painted its diagnostics and decided its first test case
// (`data-ready` on <html>, set by app.js). Each load is a new browser
// context: nothing cached, the module fetched and compiled again.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../serve.mjs";
import { LAUNCH_ARGS } from "./launch.mjs";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const dist = join(root, "playground/dist");
const loads = Number(process.argv[2]) || (process.env.EGRESS_BENCH_QUICK ? 3 : 25);

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, min: s[0], median: q(0.5), p90: q(0.9), max: s[s.length - 1] };
};

const server = await serve(dist, 0);
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: LAUNCH_ARGS });
try {
  const first = [];
  const wasm = [];
  const marks = { script: [], wasm: [] };
  let compile = {};
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForSelector("html[data-ready]", { timeout: 30000 });
    first.push(Number(await page.getAttribute("html", "data-ready")));
    const m = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType("mark").map((e) => [e.name, Math.round(e.startTime)])));
    marks.script.push(m["playground:script"]);
    marks.wasm.push(m["playground:wasm"]);
    wasm.push(await page.evaluate(() => {
      const e = performance.getEntriesByType("resource").find((r) => r.name.endsWith(".wasm"));
      return e ? Math.round(e.responseEnd - e.startTime) : null;
    }));
    if (i === loads - 1) {
      // One compile per example, in the page's module (already instantiated).
      compile = await page.evaluate(async (runs) => {
        const m = await import("/pkg/egress_playground.js");
        const out = {};
        for (const { name, text } of JSON.parse(m.examples())) {
          const t = [];
          for (let r = 0; r < runs; r++) {
            const s = performance.now();
            // A different text each run: the page caches its last compile.
            m.analyse(name, text + " ".repeat(r + 1));
            t.push(performance.now() - s);
          }
          t.sort((a, b) => a - b);
          out[name] = { bytes: new TextEncoder().encode(text).length, median_ms: Number(t[Math.floor(t.length / 2)].toFixed(2)) };
        }
        return out;
      }, process.env.EGRESS_BENCH_QUICK ? 3 : 21);
    }
    await context.close();
  }
  const build = JSON.parse(readFileSync(join(dist, "build.json"), "utf8"));
  const result = {
    first_render_ms: stats(first),
    script_start_ms: stats(marks.script),
    wasm_ready_ms: stats(marks.wasm),
    wasm_fetch_ms: stats(wasm.filter((x) => x !== null)),
    analyse_per_example: compile,
    module: { bytes: build.wasm_bytes, gzip_bytes: build.wasm_gzip_bytes, js_bytes: build.js_bytes },
    chromium: browser.version(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    at: new Date().toISOString(),
  };
  // A quick pass (make test) must not replace the recorded figures.
  const out = process.env.EGRESS_BENCH_QUICK ? "target/playground-bench-quick.json" : "bench/playground.json";
  mkdirSync(join(root, out, ".."), { recursive: true });
  writeFileSync(join(root, out), JSON.stringify(result, null, 2) + "\n");
  const f = result.first_render_ms;
  console.log(`first render (${f.n} cold loads): median ${f.median} ms, p90 ${f.p90} ms, min ${f.min}, max ${f.max}`);
  console.log(`  app.js starts at median ${result.script_start_ms.median} ms; the module is instantiated at ${result.wasm_ready_ms.median} ms`);
  console.log(`module: ${build.wasm_bytes} bytes, ${build.wasm_gzip_bytes} gzipped`);
  for (const [n, c] of Object.entries(compile)) console.log(`analyse ${n}: ${c.median_ms} ms`);
  console.log(`results: ${out}`);
} finally {
  await browser.close();
  server.close();
}
