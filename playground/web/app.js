// The playground page: wires the compiler (WebAssembly, built from the
// `egress-playground` crate with wasm-bindgen) to the editor and the views.
// Every answer on the page comes from the Rust code the command line runs;
// this file only renders JSON.

import init, * as core from "./pkg/egress_playground.js";
import { Editor } from "./editor.js";

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const TABS = ["request", "tests", "istio", "table", "export"];
const DEFAULT_EXAMPLE = "httpbin.egress";

const state = {
  analyseMs: 0,
  name: "policy.egress",
  example: "",
  tab: "request",
  analysis: null,
  decided: false,
  examples: [],
};

// One call into the compiler: its JSON answer, or null after saying what
// went wrong (a panic in Rust arrives here as an exception).
function call(fn, ...args) {
  try {
    return JSON.parse(fn(...args));
  } catch (e) {
    status(`internal error in the compiler: ${e.message || e}`, true);
    console.error(e);
    return null;
  }
}

function status(text, bad = false) {
  const s = $("status");
  // A live region: written only when it says something new.
  if (s.textContent !== text) s.textContent = text;
  s.style.color = bad ? "var(--deny)" : "";
}

// ---------------------------------------------------------------- editor

let editor;
let analyseTimer = 0;

let paintFrame = 0;

// Above this many characters the text is painted without colours: a
// repaint of tens of thousands of coloured spans at every key would make
// typing lag (5,000 destinations, 230 KB: 0.7 s a key; plain, 0.07 s).
// Diagnostics are still shown.
const COLOUR_LIMIT = 30000;

function colours(text) {
  return text.length > COLOUR_LIMIT ? [] : call(core.highlight, text) || [];
}

function onInput(text) {
  // Colours at the next frame (keys typed within one frame paint once);
  // diagnostics once typing pauses, for longer the longer a compile takes
  // (a policy of thousands of destinations compiles in about a second).
  cancelAnimationFrame(paintFrame);
  paintFrame = requestAnimationFrame(() => {
    const now = editor.value;
    const tokens = colours(now);
    // Until the compile, no diagnostics: their positions are of the old text.
    editor.paint(now, tokens, []);
  });
  // The file keeps its name while it is edited (an edited example is still
  // that file); the example selector says whether it is the example as is.
  const same = state.examples.find((e) => e.name === state.name)?.text === text;
  state.example = same ? state.name : "";
  $("example").value = state.example;
  clearTimeout(analyseTimer);
  analyseTimer = setTimeout(() => analyse(), Math.max(90, 2 * state.analyseMs));
  saveSoon();
}

function analyse() {
  clearTimeout(analyseTimer);
  cancelAnimationFrame(paintFrame);
  const text = editor.value;
  const started = performance.now();
  const a = call(core.analyse, state.name, text);
  state.analyseMs = performance.now() - started;
  if (!a) return;
  // A failing test case is a problem at its line, like a diagnostic.
  const failing = (a.tests?.cases || []).filter((c) => !c.passed).map((c) => ({
    severity: "error",
    code: "test",
    message: `fails: expected ${c.expected}, got ${c.got} ${c.decided_by}`,
    help: `test "${c.test}": change the policy or the expectation`,
    location: lineLocation(text, c.line),
  }));
  a.diagnostics = [...a.diagnostics, ...failing].sort((x, y) => (x.location?.from ?? 0) - (y.location?.from ?? 0));
  a.failing = failing.length;
  state.analysis = a;
  const tokens = colours(text);
  editor.paint(text, tokens, a.diagnostics);
  renderProblems(a);
  renderHere(editor.caret());
  renderTests(a);
  renderTable(a);
  $("source").setAttribute("aria-invalid", a.errors > 0 ? "true" : "false");
  if (a.ok) {
    const parts = ["compiles"];
    if (a.warnings) parts.push(`${a.warnings} warning${a.warnings === 1 ? "" : "s"}`);
    if (a.failing) parts.push(`${a.failing} test${a.failing === 1 ? "" : "s"} failing`);
    status(parts.join(", "), a.failing > 0);
  } else {
    status(`${a.errors} error${a.errors === 1 ? "" : "s"}${a.warnings ? `, ${a.warnings} warning${a.warnings === 1 ? "" : "s"}` : ""}`, true);
  }
  if (state.decided) decide({ quiet: true });
  if (state.tab === "istio") renderIstio();
  if (state.tab === "export") renderExport();
}

// The location of 1-based `line`, from its first non-blank character.
function lineLocation(text, line) {
  let from = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", from);
    if (nl === -1) break;
    from = nl + 1;
  }
  const end = text.indexOf("\n", from);
  const to = end === -1 ? text.length : end;
  const indent = text.slice(from, to).match(/^\s*/)[0].length;
  return { from: from + indent, to, line, column: indent + 1, end_line: line, end_column: to - from + 1 };
}

function where(d) {
  return d.location ? `${d.location.line}:${d.location.column}` : "";
}

function diagHtml(d) {
  const labels = (d.labels || []).map((l) => `<span class="label">line ${l.location.line}: ${esc(l.message)}</span>`).join("");
  return `<span class="where">${where(d)}</span><span class="code-id">${esc(d.code)}</span>${esc(d.message)}`
    + (d.label ? `<span class="label">${esc(d.label)}</span>` : "")
    + labels
    + (d.help ? `<span class="help">${esc(d.help)}</span>` : "")
    + (d.note ? `<span class="note">${esc(d.note)}</span>` : "");
}

function renderProblems(a) {
  const ul = $("problems");
  const ds = a.diagnostics;
  $("problem-count").textContent = ds.length ? `(${ds.length})` : "";
  if (!ds.length) {
    ul.innerHTML = `<li class="ok">No problems: the policy compiles${a.tests?.cases?.length ? " and its tests pass" : ""}.</li>`;
    return;
  }
  // The first 200 (a policy with thousands of warnings would make the
  // list a trap for the keyboard); F8 reaches every one.
  const shown = ds.slice(0, 200);
  ul.innerHTML = shown.map((d, i) => `<li class="diag ${d.severity}"><button type="button" class="diag-go" data-i="${i}" aria-label="${esc(`${d.severity} ${d.code} at line ${where(d)}: ${d.message}`)}">${diagHtml(d)}</button></li>`).join("")
    + (ds.length > shown.length ? `<li class="ok">… and ${ds.length - shown.length} more (F8 goes through all of them)</li>` : "");
}

// The diagnostics of the caret's line, below the editor.
function renderHere(caret) {
  const a = state.analysis;
  const here = $("here");
  if (!a) return;
  const ds = a.diagnostics.filter((d) => d.location && d.location.line === caret.line);
  const html = ds.map((d) => `<p class="diag ${d.severity}">${diagHtml(d)}</p>`).join("");
  // Rewritten only when it changes: it is a live region.
  if (html !== state.hereHtml) {
    here.innerHTML = html;
    state.hereHtml = html;
  }
}

function goToProblem(step) {
  const a = state.analysis;
  if (!a || !a.diagnostics.length) return;
  const pos = editor.caret().pos;
  const ds = a.diagnostics.filter((d) => d.location);
  let d;
  if (step > 0) d = ds.find((x) => x.location.from > pos) || ds[0];
  else d = [...ds].reverse().find((x) => x.location.from < pos) || ds[ds.length - 1];
  if (d) editor.goTo(d.location.from, Math.max(d.location.from, d.location.to));
}

// ---------------------------------------------------------------- request

// A form's named fields as an object, and back.
function fields(form) {
  const v = {};
  for (const el of form.elements) if (el.name) v[el.name] = el.value;
  return v;
}

function fill(form, v) {
  for (const el of form.elements) if (el.name && v[el.name] !== undefined) el.value = v[el.name];
}

function formValue() {
  return fields($("request-form"));
}

function setForm(v) {
  fill($("request-form"), v);
  $("request-form").dataset.kind = $("r-kind").value;
}

function decide({ quiet = false } = {}) {
  const form = formValue();
  const out = $("verdict");
  const r = call(core.decide, state.name, editor.value, JSON.stringify(form));
  if (!r) return;
  $("request-error").textContent = "";
  if (r.error) {
    if (r.field) $("request-error").textContent = r.error;
    else out.innerHTML = `<p class="error-text">${esc(r.error)}</p>`;
    if (r.field) out.innerHTML = "";
    return;
  }
  state.decided = true;
  out.classList.remove("stale");
  const spoken = `${r.decision} ${r.decided_by}`;
  if (spoken !== state.spoken) {
    $("announce").textContent = spoken;
    state.spoken = spoken;
  }
  const line = r.enforced.line;
  const rows = r.considered.map((c) => `<tr><td class="rule">${esc(c.rule)}</td><td><button type="button" class="linklike" data-line="${c.line}">line ${c.line}</button></td><td class="rule">${esc(c.text)}</td><td class="${c.matched ? "matched" : "missed"}">${c.matched ? "matched" : esc(c.why_not)}</td></tr>`).join("");
  out.innerHTML = `
    <p class="by"><span class="badge ${r.decision}" id="decision">${r.decision.toUpperCase()}</span>
      <span id="decided-by">${esc(r.decided_by)}</span>
      ${line ? ` <button type="button" class="linklike" data-line="${line}">line ${line}</button>` : ""}</p>
    <dl>
      <dt>request</dt><dd>${esc(r.request)}</dd>
      <dt>record</dt><dd>${esc(JSON.stringify(r.enforced))}</dd>
      ${r.audit ? `<dt>audit</dt><dd>would ${esc(r.audit.decision)} ${r.audit.rule ? `by rule ${esc(r.audit.rule)}` : esc(r.audit.reason)}</dd>` : ""}
      ${r.skipped.map((s) => `<dt>skipped</dt><dd>${esc(s)} — host matches, but not the port or protocol</dd>`).join("")}
    </dl>
    ${r.case ? `<div class="caseline"><span>As a test case:</span><code id="case-line">${esc(r.case)}</code><button type="button" id="copy-case">Copy</button></div>` : `<p class="note">A test case names a TLS connection by its SNI or by its address, not both: no test line for this one.</p>`}
    <h3 class="pane-title">Rules considered</h3>
    ${rows ? `<table><thead><tr><th>rule</th><th>line</th><th>rule text</th><th>result</th></tr></thead><tbody>${rows}</tbody></table>` : `<p class="note">No destination matched, so no rule was considered.</p>`}`;
  if (!quiet) saveSoon();
}

// ---------------------------------------------------------------- tests

function renderTests(a) {
  const box = $("tests");
  const badge = $("tests-badge");
  const sum = $("tests-summary");
  if (!a.ok) {
    sum.textContent = "The policy does not compile: fix the problems to run its tests.";
    box.innerHTML = "";
    badge.textContent = "";
    return;
  }
  const t = a.tests;
  if (t.error) {
    sum.textContent = `internal error: ${t.error}`;
    return;
  }
  if (!t.cases.length) {
    sum.textContent = "No test blocks. Add one: test \"name\" { GET http://host/path => allow }";
    box.innerHTML = "";
    badge.textContent = "";
    return;
  }
  sum.innerHTML = `<span class="${t.failed ? "fail" : "pass"}">${t.passed} passed, ${t.failed} failed</span> <span class="note">— decided by the filter's decision code, natively; <code>egressc test</code> runs the same cases through the .wasm.</span>`;
  badge.textContent = t.failed ? `✗${t.failed}` : `✓${t.passed}`;
  badge.style.color = t.failed ? "var(--deny)" : "var(--allow)";
  const groups = new Map();
  t.cases.forEach((c, i) => {
    const k = `${c.policy}\u0000${c.test}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push([c, i]);
  });
  box.className = "tests";
  box.innerHTML = [...groups.values()].map((cases) => {
    const first = cases[0][0];
    const rows = cases.map(([c, i]) => `<tr class="${c.passed ? "" : "failed"}">
      <td class="${c.passed ? "pass" : "fail"}">${c.passed ? "ok" : "FAIL"}</td>
      <td><button type="button" class="linklike" data-line="${c.line}">${c.line}</button></td>
      <td class="req">${esc(c.request)}</td>
      <td>${esc(c.expected)}</td>
      <td>${esc(c.got)} <span class="note">${esc(c.decided_by)}</span></td>
      <td><button type="button" data-try="${i}" title="Load into the request tester">Try</button></td></tr>`).join("");
    return `<h4>test "${esc(first.test)}" <span class="note">(policy ${esc(first.policy)})</span></h4>
      <table><thead><tr><th></th><th>line</th><th>request</th><th>expected</th><th>got</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
  }).join("");
}

// ---------------------------------------------------------------- istio

function istioOptions() {
  return fields($("istio-form"));
}

function highlightYaml(y) {
  return y.split("\n").map((l) => {
    if (/^\s*#/.test(l)) return `<span class="y-comment">${esc(l)}</span>`;
    const m = l.match(/^(\s*-?\s*)([A-Za-z0-9_.\/-]+)(:)(.*)$/);
    if (m) return `${esc(m[1])}<span class="y-key">${esc(m[2])}</span>${m[3]}${esc(m[4])}`;
    return esc(l);
  }).join("\n");
}

const DEFAULT_NAMESPACE = { waypoint: "istio-egress", "egress-gateway": "istio-system", sidecar: "default" };
function namespacePlaceholder() {
  $("i-namespace").placeholder = DEFAULT_NAMESPACE[$("i-attach").value] || "";
}

function setYaml(yaml) {
  state.yaml = yaml;
  $("copy-yaml").disabled = !yaml;
  $("download-yaml").disabled = !yaml;
}

function renderIstio() {
  const a = state.analysis;
  const pre = $("istio-yaml");
  const note = $("istio-note");
  const diags = $("istio-diags");
  setYaml("");
  if (a && !a.ok) {
    pre.textContent = "";
    note.textContent = "The policy does not compile: fix the problems to see its Istio resources.";
    diags.innerHTML = "";
    return;
  }
  const b = call(core.istio, state.name, editor.value, JSON.stringify(istioOptions()));
  if (!b) return;
  if (b.error) {
    note.innerHTML = `<span class="error-text">${esc(b.error)}</span>`;
    pre.textContent = "";
    diags.innerHTML = "";
    return;
  }
  setYaml(b.yaml);
  const docs = (b.yaml.match(/^kind: /gm) || []).length;
  note.textContent = `${docs} resources, ${b.yaml.length.toLocaleString()} bytes — what \`egressc istio ${state.name}\` writes.`
    + (b.placeholder_url ? " The filter URL is a placeholder: push the image `egressc package` writes and put its oci:// URL above." : "");
  diags.innerHTML = b.diagnostics.map((d) => `<li class="diag ${d.severity}">${diagHtml(d)}</li>`).join("");
  pre.innerHTML = highlightYaml(b.yaml);
}

// ---------------------------------------------------------------- table

function renderTable(a) {
  const box = $("table-summary");
  const dump = $("table-dump");
  if (!a.ok || !a.summary) {
    box.innerHTML = `<p class="note">The policy does not compile: no table.</p>`;
    dump.textContent = "";
    return;
  }
  const s = a.summary;
  if (s.error) {
    box.innerHTML = `<p class="error-text">internal error: ${esc(s.error)}</p>`;
    return;
  }
  const card = (v, label, id) => `<div class="card"${id ? ` id="${id}"` : ""}><b>${esc(v)}</b><span>${esc(label)}</span></div>`;
  box.className = "sum";
  box.innerHTML = `<div class="cards">
      ${card(s.bytes.toLocaleString(), "table bytes", "table-bytes")}
      ${card(s.format, "format version")}
      ${card(s.checksum.replace("crc32c:", ""), "crc32c checksum")}
      ${card(s.destinations, `destinations (${s.by_protocol.http} http, ${s.by_protocol.tls} tls, ${s.by_protocol.tcp} tcp)`)}
      ${card(s.hosts, "host patterns")}
      ${card(s.cidrs, "address ranges")}
      ${card(s.rules, "rules")}
      ${card(s.path_conditions, "path conditions")}
      ${card(s.plugin_config_bytes.http.toLocaleString(), "pluginConfig bytes (HTTP filter)")}
    </div>
    <table><thead><tr><th>policy</th><th>mode</th><th>default</th><th>destinations</th><th>rules</th></tr></thead><tbody>
    ${s.policies.map((p) => `<tr><td>${esc(p.name)}</td><td>${esc(p.mode)}</td><td>${esc(p.default)}</td><td>${p.destinations}</td><td>${p.rules}</td></tr>`).join("")}
    </tbody></table>`;
  dump.textContent = s.dump;
}

// ---------------------------------------------------------------- export

function base() {
  return state.name.replace(/\.egress$/, "") || "policy";
}

function download(name, data, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([data], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function renderExport() {
  const err = $("export-error");
  const box = $("cedar-files");
  const x = call(core.exported, state.name, editor.value);
  state.exported = null;
  for (const id of ["dl-table", "dl-http", "dl-network"]) $(id).disabled = !x || !!x.error;
  if (!x) return;
  if (x.error) {
    err.textContent = x.error;
    box.innerHTML = "";
    return;
  }
  err.textContent = "";
  state.exported = x;
  if (x.cedar.diagnostics) {
    box.innerHTML = `<ul class="problems">${x.cedar.diagnostics.map((d) => `<li class="diag ${d.severity}">${diagHtml(d)}</li>`).join("")}</ul>`;
    return;
  }
  box.innerHTML = x.cedar.files.map((f, i) => `<details class="cedar-file"${i === 0 ? " open" : ""}>
      <summary>${esc(f.name)} <span class="note">${f.text.length.toLocaleString()} bytes</span><button type="button" data-cedar="${i}">Download</button></summary>
      <pre class="yaml" tabindex="0" id="cedar-${esc(f.name.replace(/\W/g, "-"))}">${esc(f.text)}</pre></details>`).join("");
}

// ---------------------------------------------------------------- tabs

function selectTab(name, { focus = false } = {}) {
  state.tab = name;
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (name === "istio") renderIstio();
  if (name === "export") renderExport();
  saveSoon();
}

// ---------------------------------------------------------------- state in the URL

const b64 = {
  encode(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  },
};

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

function snapshot() {
  const s = { v: 1, tab: state.tab, req: formValue(), istio: istioOptions() };
  if (state.example) s.example = state.example;
  else { s.text = editor.value; s.name = state.name; }
  return s;
}

async function encodeState() {
  const json = new TextEncoder().encode(JSON.stringify(snapshot()));
  return "s=" + b64.encode(await pipe(json, new CompressionStream("deflate-raw")));
}

const MAX_STATE = 4 * 1024 * 1024;

// The state a link carries, checked field by field: a link is input from
// anyone, and only strings of the known fields reach the compiler or the
// forms.
async function decodeState(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  if (params.get("example")) return { example: params.get("example") };
  const s = params.get("s");
  if (!s) return null;
  const stream = new Blob([b64.decode(s)]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const reader = stream.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_STATE) {
      reader.cancel();
      throw new Error(`the link's state is larger than ${MAX_STATE / 1024 / 1024} MiB`);
    }
    parts.push(value);
  }
  const raw = JSON.parse(new TextDecoder().decode(await new Blob(parts).arrayBuffer()));
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new Error("the link's state is not an object");
  const str = (v) => (typeof v === "string" ? v : undefined);
  const fields = (o, names) => {
    if (!o || typeof o !== "object") return undefined;
    const out = {};
    for (const n of names) if (typeof o[n] === "string") out[n] = o[n];
    return out;
  };
  return {
    example: str(raw.example),
    text: str(raw.text),
    name: str(raw.name),
    tab: str(raw.tab),
    req: fields(raw.req, ["kind", "method", "url", "principal", "headers", "sni", "address", "port"]),
    istio: fields(raw.istio, ["attach", "namespace", "api", "wasm_url"]),
  };
}

let saveTimer = 0;
function saveSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, 300);
}
async function save() {
  clearTimeout(saveTimer);
  try {
    const h = await encodeState();
    history.replaceState(null, "", `#${h}`);
  } catch (e) {
    console.error(e);
  }
}

async function share() {
  await save();
  try {
    await navigator.clipboard.writeText(location.href);
    status("Link copied: it holds the policy, the request and the view.");
  } catch {
    status("The address bar now holds a link to this state.");
  }
}

// ---------------------------------------------------------------- start

function loadExample(name, { decideFirst = true } = {}) {
  const ex = state.examples.find((e) => e.name === name);
  if (!ex) return false;
  // The name first: the input handler then finds the text is the example's.
  state.name = name;
  state.example = name;
  $("example").value = name;
  editor.setValue(ex.text, { keepUndo: true });
  analyse();
  const first = state.analysis?.tests?.cases?.[0];
  if (decideFirst && first) {
    setForm(first.form);
    decide();
  }
  return true;
}

function wire() {
  $("example").addEventListener("change", (e) => {
    if (e.target.value) loadExample(e.target.value);
  });
  $("format").addEventListener("click", format);
  $("share").addEventListener("click", share);
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("request-form").addEventListener("submit", (e) => { e.preventDefault(); decide(); });
  $("request-form").addEventListener("input", () => {
    // The verdict below is for the request as it was decided.
    if (state.decided) $("verdict").classList.add("stale");
    saveSoon();
  });
  $("r-kind").addEventListener("change", () => { $("request-form").dataset.kind = $("r-kind").value; });
  let istioTimer = 0;
  $("istio-form").addEventListener("input", () => {
    clearTimeout(istioTimer);
    istioTimer = setTimeout(renderIstio, 150);
    saveSoon();
  });
  $("i-attach").addEventListener("change", namespacePlaceholder);
  $("istio-form").addEventListener("submit", (e) => e.preventDefault());
  $("copy-yaml").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(state.yaml || ""); status("YAML copied."); } catch { status("Copy failed: select the YAML and copy it.", true); }
  });
  $("download-yaml").addEventListener("click", () => download(`${base()}-istio.yaml`, state.yaml || "", "application/yaml"));
  $("dl-table").addEventListener("click", () => {
    const bytes = core.table(state.name, editor.value);
    if (bytes.length) download(`${base()}.table`, bytes, "application/octet-stream");
  });
  for (const layer of ["http", "network"]) {
    $(`dl-${layer}`).addEventListener("click", () => {
      if (state.exported) download(`${base()}-plugin-config-${layer}.json`, state.exported.plugin_config[layer], "application/json");
    });
  }
  $("problems").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-i]");
    if (b) goToDiag(+b.dataset.i);
  });
  document.addEventListener("click", (e) => {
    const l = e.target.closest("[data-line]");
    if (l) { editor.goToLine(+l.dataset.line); return; }
    const t = e.target.closest("[data-try]");
    if (t) {
      const c = state.analysis?.tests?.cases?.[+t.dataset.try];
      if (c) {
        setForm(c.form);
        selectTab("request");
        decide();
        const first = [...$("request-form").elements].find((el) => el.name && el.offsetParent !== null && el.id !== "r-kind");
        (first || $("decide")).focus();
      }
      return;
    }
    const c = e.target.closest("[data-cedar]");
    if (c && state.exported) {
      e.preventDefault();
      const f = state.exported.cedar.files[+c.dataset.cedar];
      if (f) download(f.name, f.text, "text/plain");
      return;
    }
    if (e.target.id === "copy-case") {
      navigator.clipboard.writeText($("case-line").textContent).then(() => status("Test case copied."), () => status("Copy failed.", true));
    }
  });
  const tablist = $("tabs");
  tablist.addEventListener("click", (e) => {
    const tab = e.target.closest("[role=tab]");
    if (tab) selectTab(tab.id.replace("tab-", ""));
  });
  tablist.addEventListener("keydown", (e) => {
    const i = TABS.indexOf(state.tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    selectTab(TABS[(next + TABS.length) % TABS.length], { focus: true });
  });
  document.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || "");
    // Alt shortcuts only with Alt alone (AltGr is Ctrl+Alt on some systems,
    // and Option on a Mac types characters): never take a typed character.
    const alt = e.altKey && !e.ctrlKey && !e.metaKey && !e.getModifierState?.("AltGraph");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      selectTab("request");
      decide();
    } else if (alt && /^Digit[1-5]$/.test(e.code)) {
      e.preventDefault();
      selectTab(TABS[+e.code.slice(5) - 1], { focus: true });
    } else if (alt && e.shiftKey && e.code === "KeyF") {
      e.preventDefault();
      format();
    } else if (alt && e.shiftKey && e.code === "KeyS") {
      e.preventDefault();
      share();
    } else if (alt && !e.shiftKey && e.code === "KeyE") {
      e.preventDefault();
      $("source").focus();
    } else if (e.key === "F8") {
      e.preventDefault();
      goToProblem(e.shiftKey ? -1 : 1);
    } else if (e.key === "?" && !typing) {
      e.preventDefault();
      $("help").showModal();
    }
  });
}

function goToDiag(i) {
  const d = state.analysis?.diagnostics?.[i];
  if (d?.location) editor.goTo(d.location.from, Math.max(d.location.from, d.location.to));
}

function format() {
  const r = call(core.format, editor.value);
  if (!r) return;
  if (r.diagnostics) {
    status("Cannot format: the policy does not parse (see Problems).", true);
    return;
  }
  if (r.changed) {
    const caret = editor.caret();
    editor.ta.focus();
    editor.setValue(r.text, { keepUndo: true });
    editor.goToLine(Math.min(caret.line, r.text.split("\n").length));
    status("Formatted.");
  } else {
    status("Already formatted.");
  }
}

// Loads the state a link carries (or the default example); says, and keeps
// saying until the next change, why a link could not be used.
async function restore(hash) {
  let saved = null;
  let problem = "";
  try {
    saved = hash.length > 1 ? await decodeState(hash) : null;
  } catch (e) {
    problem = `This link's state could not be read (${e.message || e}); showing an example instead.`;
  }
  if (saved && saved.example !== undefined && !state.examples.some((e) => e.name === saved.example)) {
    problem = `No example is named ${JSON.stringify(saved.example)}; the examples are in the Example menu.`;
    saved = { ...saved, example: undefined };
  }
  if (saved && saved.example) {
    loadExample(saved.example, { decideFirst: !saved.req });
  } else if (saved && saved.text !== undefined) {
    state.name = saved.name || "policy.egress";
    editor.setValue(saved.text);
    analyse();
  } else {
    loadExample(DEFAULT_EXAMPLE);
  }
  if (saved) {
    if (saved.istio) {
      fill($("istio-form"), saved.istio);
      namespacePlaceholder();
    }
    if (saved.req) { setForm(saved.req); decide(); }
    if (TABS.includes(saved.tab)) selectTab(saved.tab);
  }
  if (problem) status(problem, true);
}

async function main() {
  performance.mark("playground:script");
  editor = new Editor({
    textarea: $("source"),
    pre: $("highlight"),
    gutter: $("gutter"),
    scroller: $("scroller"),
    onInput,
    onCaret: renderHere,
  });
  wire();
  await init();
  performance.mark("playground:wasm");
  const v = call(core.version);
  if (v) $("version").textContent = `egressc ${v.egressc} · table format ${v.format} · filter sha256:${v.filter_sha256.slice(0, 12)}…`;
  state.examples = call(core.examples) || [];
  $("example").insertAdjacentHTML("beforeend", state.examples.map((e) => `<option value="${esc(e.name)}">${esc(e.name)}</option>`).join(""));

  await restore(location.hash);
  window.addEventListener("hashchange", () => {
    // A link pasted into this tab (not the page's own updates, which use
    // history.replaceState and fire no hashchange).
    restore(location.hash);
  });
  performance.mark("playground:ready");
  const ms = Math.round(performance.now());
  $("version").title = `ready ${ms} ms after navigation`;
  document.documentElement.dataset.ready = String(ms);
}

main().catch((e) => {
  status(`The playground could not start: ${e.message || e}`, true);
  console.error(e);
});
