// The playground's end-to-end test, in a real browser: Debian's Chromium,
// headless, driven by playwright-core (which downloads no browser).
//
// It serves playground/dist on 127.0.0.1, blocks every other address (the
// page must work offline), and walks a session with the keyboard where a
// user would: load the page, pick an example, make a typo and see the
// diagnostic at its line, fix it, decide an allowed and a denied request,
// run the policy's tests, read the Istio bundle (compared byte for byte with
// `egressc istio`), read the table summary (compared with `egressc compile`),
// export the table, a pluginConfig and the Cedar files (compared with the CLI's),
// format, and reopen the shared link. Screenshots go to
// target/playground-screenshots/ (EGRESS_SCREENSHOTS_DIR); the page's first-render time and module size to
// target/playground-e2e.json (figures only: no timing is asserted here; the
// 1 s goal is measured by `make bench-playground`).
//
// Environment: CHROMIUM (default /usr/bin/chromium), EGRESSC (the egressc
// binary to compare with; default target/debug/egressc).

import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, statSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "../serve.mjs";
import { LAUNCH_ARGS } from "./launch.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = resolve(here, "../..");
const dist = join(root, "playground/dist");
// Screenshots go to target/ unless asked for elsewhere: `make
// playground-screenshots` refreshes the committed ones in
// playground/screenshots/ (a run's pixels differ a little from the last).
const shots = resolve(process.env.EGRESS_SCREENSHOTS_DIR || join(root, "target/playground-screenshots"));
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// Relative to where the test was started (make: the repository).
const egressc = process.env.EGRESSC ? resolve(process.env.EGRESSC) : join(root, "target/debug/egressc");


let step = 0;
function ok(cond, what, detail = "") {
  step++;
  if (!cond) throw new Error(`step ${step}: ${what}${detail ? `\n  ${detail}` : ""}`);
  console.log(`  ok ${step} ${what}`);
}

async function main() {
  for (const [p, fix] of [[join(dist, "index.html"), "make playground"], [executablePath, "make setup (apt-get install chromium)"], [egressc, "cargo test --workspace --no-run"]]) {
    if (!existsSync(p)) throw new Error(`missing ${p}: run ${fix}`);
  }
  mkdirSync(shots, { recursive: true });
  const server = await serve(dist, 0);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath, args: LAUNCH_ARGS });
  const offsite = [];
  const problems = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(origin + "/") || url.startsWith("blob:") || url.startsWith("data:")) return route.continue();
      offsite.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

    console.log(`playground e2e: ${origin} in ${executablePath}`);
    await page.goto(`${origin}/`);
    await page.waitForSelector("html[data-ready]", { timeout: 30000 });
    const firstRender = Number(await page.getAttribute("html", "data-ready"));
    ok(firstRender > 0, `page ready (first render ${firstRender} ms after navigation)`);
    ok((await page.inputValue("#example")) === "httpbin.egress", "the default example is loaded");
    ok((await page.textContent("#decision")) === "ALLOW", "its first test case is decided on load");

    // Pick an example with the keyboard.
    await page.focus("#example");
    await page.selectOption("#example", "api.egress");
    const apiText = readFileSync(join(root, "policies/api.egress"), "utf8");
    ok((await page.inputValue("#source")) === apiText, "picking api.egress loads policies/api.egress");
    await page.selectOption("#example", "httpbin.egress");
    const httpbin = readFileSync(join(root, "policies/httpbin.egress"), "utf8");
    ok((await page.inputValue("#source")) === httpbin, "picking httpbin.egress loads it");
    ok((await page.textContent("#problems")).includes("No problems"), "no problems in the example");

    // A typo: `destination` loses its `i`, typed in the editor.
    const at = httpbin.indexOf("destination") + "destinat".length;
    const typoLine = httpbin.slice(0, at).split("\n").length;
    await page.focus("#source");
    await page.evaluate((p) => document.getElementById("source").setSelectionRange(p, p), at);
    await page.keyboard.press("Delete");
    await page.waitForSelector("#problems li.diag.error");
    const problem = await page.textContent("#problems li.diag.error");
    ok(problem.startsWith(`${typoLine}:`), `the diagnostic is at line ${typoLine}`, problem);
    ok(/E0\d{3}/.test(problem), "it has its code", problem);
    ok((await page.textContent("#problems li.diag.error .help")).includes("destination"), "it says how to fix it", problem);
    const marker = await page.$eval(`#gutter div:nth-child(${typoLine})`, (d) => d.className);
    ok(marker === "g-error", `the gutter marks line ${typoLine}`, marker);
    const underlined = await page.$$eval("#highlight .d-error", (s) => s.map((x) => x.textContent).join(""));
    ok(underlined.includes("destinaton"), "the typo is underlined in the text", underlined);
    ok((await page.textContent("#highlight .lens-error")).length > 0, "the message is shown at the end of the line");
    ok((await page.textContent("#here")).includes(problem.split("\n")[0].slice(0, 20)), "the caret's line shows its diagnostic below the editor");
    ok((await page.getAttribute("#source", "aria-invalid")) === "true", "the editor is marked invalid");
    ok((await page.textContent("#status")).includes("error"), "the status bar counts the error");
    await page.screenshot({ path: join(shots, "typo.png") });

    // Fix it by typing the letter back.
    await page.keyboard.type("i");
    await page.waitForFunction(() => document.querySelector("#problems li.ok"));
    ok((await page.inputValue("#source")) === httpbin, "typing the letter back restores the text");
    ok((await page.textContent("#status")).startsWith("compiles"), "it compiles again");

    // F8 goes to a problem: make one, jump to it from elsewhere.
    // (Covered by the typo above for display; here only the keyboard path.)

    // An allowed request, entered with the keyboard.
    await page.keyboard.press("Alt+1");
    ok((await page.getAttribute("#tab-request", "aria-selected")) === "true", "Alt+1 selects the Request tab");
    await page.fill("#r-method", "GET");
    await page.fill("#r-url", "http://httpbin.org/get?show_env=1");
    await page.fill("#r-principal", "");
    await page.focus("#r-url");
    await page.keyboard.press("Control+Enter");
    await page.waitForFunction(() => document.querySelector("#case-line")?.textContent.includes("show_env"));
    ok((await page.textContent("#decision")) === "ALLOW", "GET /get is allowed");
    ok((await page.textContent("#decided-by")) === "by rule httpbin/1", "by rule httpbin/1");
    ok((await page.textContent("#verdict")).includes("matched"), "the explain trace shows the matching rule");
    ok((await page.textContent("#case-line")) === "GET http://httpbin.org/get?show_env=1 => allow", "the request as a test case");
    await page.screenshot({ path: join(shots, "allowed.png") });

    // A denied one.
    await page.fill("#r-method", "POST");
    await page.fill("#r-url", "http://httpbin.org/post");
    await page.fill("#r-principal", "cluster.local/ns/default/sa/sleep");
    await page.focus("#r-principal");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#case-line")?.textContent.startsWith("POST"));
    ok((await page.textContent("#decision")) === "DENY", "POST /post from sleep is denied");
    ok((await page.textContent("#decided-by")) === "by the default of policy httpbin", "by the policy's default");
    const trace = await page.textContent("#verdict");
    ok(trace.includes("httpbin/2") && trace.includes("principal"), "the trace says why the admin rule did not match", trace.slice(0, 400));
    await page.screenshot({ path: join(shots, "playground.png") });

    // A bad URL is a message at the form, not a crash.
    await page.fill("#r-url", "httpbin.org/get");
    await page.click("#decide");
    ok((await page.textContent("#request-error")).includes("http://"), "a URL without a scheme says how to write it");
    await page.fill("#r-url", "http://httpbin.org/post");

    // The policy's own tests.
    await page.keyboard.press("Alt+2");
    const summary = await page.textContent("#tests-summary");
    const cases = (httpbin.match(/=>/g) || []).length;
    ok(summary.includes(`${cases} passed, 0 failed`), `the test block runs: ${cases} passed`, summary);
    // Break a case and see it fail, then undo.
    const wrong = httpbin.replace("POST http://httpbin.org/post => deny", "POST http://httpbin.org/post => allow");
    await page.fill("#source", wrong);
    await page.waitForFunction(() => document.querySelector("#tests-summary").textContent.includes("1 failed"));
    ok((await page.textContent("#tests .failed")).includes("POST http://httpbin.org/post"), "a wrong expectation fails, on its line");
    const failLine = wrong.slice(0, wrong.indexOf("POST http://httpbin.org/post => allow")).split("\n").length;
    ok((await page.$eval(`#gutter div:nth-child(${failLine})`, (d) => d.className)) === "g-error", `the failing case is marked at line ${failLine} in the editor`);
    ok((await page.textContent("#problems")).includes("fails: expected allow, got deny"), "and listed in Problems");
    await page.screenshot({ path: join(shots, "tests.png") });
    await page.fill("#source", httpbin);
    await page.waitForFunction(() => document.querySelector("#tests-summary").textContent.includes(" 0 failed"));

    // The Istio bundle: the same bytes as `egressc istio`.
    await page.keyboard.press("Alt+3");
    await page.waitForFunction(() => document.querySelector("#istio-yaml").textContent.length > 0);
    const yaml = await page.textContent("#istio-yaml");
    const cli = execFileSync(egressc, ["istio", "-q", "httpbin.egress"], { cwd: join(root, "policies"), encoding: "utf8" });
    ok(yaml.includes("kind: WasmPlugin") && yaml.includes("kind: ServiceEntry"), "the Istio tab shows a WasmPlugin and a ServiceEntry");
    ok(yaml === cli, "it is byte for byte what `egressc istio httpbin.egress` writes", firstDifference(yaml, cli));
    await page.selectOption("#i-attach", "sidecar");
    await page.fill("#i-namespace", "shop");
    await page.waitForFunction(() => document.querySelector("#istio-yaml").textContent.includes("namespace: shop"));
    const cliSidecar = execFileSync(egressc, ["istio", "-q", "--attach", "sidecar", "--namespace", "shop", "httpbin.egress"], { cwd: join(root, "policies"), encoding: "utf8" });
    ok((await page.textContent("#istio-yaml")) === cliSidecar, "with --attach sidecar --namespace shop too");
    await page.fill("#i-namespace", "Not_A_Label");
    await page.waitForFunction(() => document.querySelector("#istio-note").textContent.includes("not-a-label"));
    ok(true, "a bad namespace says what a namespace may be");
    await page.fill("#i-namespace", "");
    await page.selectOption("#i-attach", "waypoint");
    await page.waitForFunction(() => document.querySelector("#istio-yaml").textContent.includes("istio-egress"));
    await page.screenshot({ path: join(shots, "istio.png") });

    // The table summary: the size `egressc compile` writes.
    await page.keyboard.press("Alt+4");
    const tmp = mkdtempSync(join(tmpdir(), "egress-e2e-"));
    const inPolicies = { cwd: join(root, "policies") };
    execFileSync(egressc, ["compile", "-q", "httpbin.egress", "-o", join(tmp, "t.bin")], inPolicies);
    execFileSync(egressc, ["compile", "-q", "httpbin.egress", "--emit", "plugin-config", "--layer", "network", "-o", join(tmp, "network.json")], inPolicies);
    execFileSync(egressc, ["cedar", "-q", "httpbin.egress", "-o", join(tmp, "cedar")], inPolicies);
    const size = statSync(join(tmp, "t.bin")).size;
    const shown = (await page.textContent("#table-bytes b")).replace(/[^0-9]/g, "");
    ok(Number(shown) === size, `the table is ${size} bytes, as egressc compile writes it`, `shown ${shown}`);
    ok((await page.textContent("#table-dump")).startsWith("# egress table format"), "the dump is shown");
    await page.screenshot({ path: join(shots, "table.png") });

    // Export: the table, a pluginConfig and the Cedar files, as the command line writes them.
    await page.keyboard.press("Alt+5");
    await page.waitForSelector("#cedar-files details");
    const cedar = await page.textContent("#cedar-policies-cedar");
    ok(cedar === readFileSync(join(tmp, "cedar/policies.cedar"), "utf8"), "Export shows policies.cedar as `egressc cedar` writes it");
    ok((await page.textContent("#cedar-schema-cedarschema")) === readFileSync(join(tmp, "cedar/schema.cedarschema"), "utf8"), "and the schema");
    const [table] = await Promise.all([page.waitForEvent("download"), page.click("#dl-table")]);
    ok(table.suggestedFilename() === "httpbin.table", "the table downloads as httpbin.table");
    ok(readFileSync(await table.path()).equals(readFileSync(join(tmp, "t.bin"))), "byte for byte what `egressc compile` writes");
    const [net] = await Promise.all([page.waitForEvent("download"), page.click("#dl-network")]);
    ok(readFileSync(await net.path(), "utf8") === readFileSync(join(tmp, "network.json"), "utf8"), "the network filter's pluginConfig as `--emit plugin-config --layer network`");
    rmSync(tmp, { recursive: true, force: true });
    await page.screenshot({ path: join(shots, "export.png") });

    // Format with the keyboard: a badly indented policy comes back formatted.
    const messy = httpbin.replace(/\n {2}/g, "\n      ");
    await page.fill("#source", messy);
    await page.focus("#source");
    await page.keyboard.press("Alt+Shift+F");
    await page.waitForFunction((t) => document.getElementById("source").value === t, httpbin);
    ok(true, "Alt+Shift+F formats the policy (back to the committed, formatted file)");
    await page.keyboard.press("Control+Z");
    ok((await page.inputValue("#source")) === messy, "and Ctrl+Z undoes the formatting");
    await page.fill("#source", httpbin);

    // Keyboard only: Tab inserts indentation in the editor; Esc, Tab leaves it.
    await page.evaluate(() => { const s = document.getElementById("source"); s.setSelectionRange(0, 0); });
    await page.keyboard.press("Tab");
    ok((await page.inputValue("#source")).startsWith("  # The httpbin"), "Tab indents in the editor");
    await page.keyboard.press("Shift+Tab");
    ok((await page.inputValue("#source")) === httpbin, "Shift+Tab dedents");
    await page.keyboard.press("Escape");
    await page.keyboard.press("Tab");
    ok((await page.evaluate(() => document.activeElement.id)) !== "source", "Esc then Tab moves the focus out of the editor");
    // F8 jumps to a problem.
    await page.fill("#source", httpbin.replace("default deny", "default dney"));
    await page.waitForSelector("#problems li.diag.error");
    await page.focus("#r-url");
    await page.keyboard.press("F8");
    const sel = await page.evaluate(() => { const s = document.getElementById("source"); return [document.activeElement.id, s.value.slice(s.selectionStart, s.selectionEnd)]; });
    ok(sel[0] === "source" && sel[1].includes("dney"), "F8 puts the caret on the problem", JSON.stringify(sel));
    // The tab list follows the arrow keys.
    await page.keyboard.press("Alt+1");
    await page.keyboard.press("ArrowRight");
    ok((await page.getAttribute("#tab-tests", "aria-selected")) === "true", "ArrowRight in the tab list selects the next tab");
    await page.fill("#source", httpbin);
    await page.waitForFunction(() => document.querySelector("#problems li.ok"));

    // The state travels in the URL fragment: a new page restores it.
    await page.keyboard.press("Alt+1");
    const edited = httpbin.replace('allow GET path "/get"', 'allow GET path "/get", "/headers"');
    await page.fill("#source", edited);
    await page.fill("#r-method", "GET");
    await page.fill("#r-url", "http://httpbin.org/headers");
    await page.fill("#r-principal", "");
    await page.click("#decide");
    ok((await page.textContent("#decision")) === "ALLOW", "the edited policy allows /headers");
    await page.click("#share");
    await page.waitForFunction(() => document.getElementById("status").textContent.includes("Link"));
    const link = page.url();
    ok(/#s=[A-Za-z0-9_-]+$/.test(link), "Share puts the state in the fragment", link);
    ok((await page.evaluate(() => navigator.clipboard.readText())) === link, "and copies the link");
    const second = await context.newPage();
    second.on("pageerror", (e) => problems.push(`page error (shared link): ${e.message}`));
    await second.goto(link);
    await second.waitForSelector("html[data-ready]");
    ok((await second.inputValue("#source")) === edited, "the shared link restores the policy text");
    ok((await second.inputValue("#r-url")) === "http://httpbin.org/headers", "and the request");
    ok((await second.textContent("#decision")) === "ALLOW", "and decides it again");
    await second.close();

    // Switching examples keeps the edits one Ctrl+Z away.
    await page.selectOption("#example", "pypi.egress");
    ok((await page.inputValue("#source")) === readFileSync(join(root, "policies/pypi.egress"), "utf8"), "another example replaces the edited policy");
    await page.focus("#source");
    await page.keyboard.press("Control+Z");
    ok((await page.inputValue("#source")) === edited, "and Ctrl+Z in the editor brings the edits back");

    // Links that cannot be used say so, and a link pasted into the tab is followed.
    const third = await context.newPage();
    third.on("pageerror", (e) => problems.push(`page error (bad link): ${e.message}`));
    await third.goto(`${origin}/#s=garbage!`);
    await third.waitForSelector("html[data-ready]");
    ok((await third.textContent("#status")).includes("could not be read"), "a damaged link says it could not be read");
    ok((await third.inputValue("#example")) === "httpbin.egress", "and shows the default example");
    await third.evaluate(() => { location.hash = "#example=nope"; });
    await third.waitForFunction(() => document.getElementById("status").textContent.includes("No example"));
    ok(true, "a link to an unknown example names it");
    await third.evaluate(() => { location.hash = "#example=github.egress"; });
    await third.waitForFunction(() => document.getElementById("example").value === "github.egress");
    ok((await third.inputValue("#source")) === readFileSync(join(root, "policies/github.egress"), "utf8"), "a link pasted into an open tab is followed");
    // Try on a TLS case: the form switches kind and the focus stays on a visible field.
    await third.keyboard.press("Alt+2");
    await third.click("#tests [data-try]");
    ok((await third.inputValue("#r-kind")) === "tls", "Try loads a TLS case as a TLS connection");
    ok(await third.evaluate(() => document.activeElement.offsetParent !== null && document.activeElement !== document.body), "and the focus is on a visible field");
    await third.close();

    ok(offsite.length === 0, "no request left 127.0.0.1 (the page works offline)", offsite.join(", "));
    ok(problems.length === 0, "no console errors or warnings, no page errors", problems.join("\n  "));

    const build = JSON.parse(readFileSync(join(dist, "build.json"), "utf8"));
    const figures = { first_render_ms: firstRender, ...build, chromium: browser.version(), at: new Date().toISOString() };
    mkdirSync(join(root, "target"), { recursive: true });
    writeFileSync(join(root, "target/playground-e2e.json"), JSON.stringify(figures, null, 2) + "\n");
    console.log(`playground e2e: ${step} checks passed; first render ${firstRender} ms; module ${build.wasm_bytes} bytes (${build.wasm_gzip_bytes} gzipped); screenshots in ${shots}`);
  } finally {
    await browser.close();
    server.close();
  }
}

function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i === a.length && i === b.length ? "" : `first difference at ${i}: page ${JSON.stringify(a.slice(i, i + 60))} vs cli ${JSON.stringify(b.slice(i, i + 60))}`;
}

main().catch((e) => {
  console.error(`playground e2e: FAILED\n${e.stack || e}`);
  process.exit(1);
});
