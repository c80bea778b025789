// The policy editor: a transparent <textarea> over a <pre> that holds the
// same text, coloured by the compiler's own lexer, with the diagnostics
// underlined at their positions, a message at the end of their line and a
// marker in the line-number gutter. The textarea keeps everything native:
// caret, selection, undo, input methods, screen readers.

const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

// A diagnostic's range in the text, at least one character wide.
function range(text, d) {
  const loc = d.location;
  if (!loc) return null;
  let from = Math.max(0, Math.min(loc.from, text.length));
  let to = Math.max(from, Math.min(loc.to, text.length));
  if (to === from) {
    if (from < text.length && text[from] !== "\n") to = from + 1;
    else if (from > 0 && text[from - 1] !== "\n") from -= 1;
    else return { from, to, sev: d.severity, empty: true };
  }
  // An underline stops at the end of the first line: a span over several
  // lines would underline every one of them.
  const nl = text.indexOf("\n", from);
  if (nl !== -1 && nl < to) to = Math.max(nl, from + 1);
  return { from, to, sev: d.severity };
}

const rank = { error: 2, warning: 1 };

export class Editor {
  constructor({ textarea, pre, gutter, scroller, onInput, onCaret }) {
    this.ta = textarea;
    this.pre = pre;
    this.gutter = gutter;
    this.scroller = scroller;
    this.onInput = onInput;
    this.onCaret = onCaret;
    this.tokens = [];
    this.diags = [];
    this.escArmed = false;
    this.lineCount = 0;
    textarea.addEventListener("input", () => this.onInput(this.ta.value));
    textarea.addEventListener("keydown", (e) => this.keydown(e));
    for (const ev of ["keyup", "click", "focus", "select"]) {
      textarea.addEventListener(ev, () => this.caretMoved());
    }
  }

  get value() { return this.ta.value; }

  // Replaces the whole text (an example, a formatted policy, a shared link).
  // Through insertText when the editor has focus, so Ctrl+Z undoes it.
  // Only the part that differs is replaced (a common prefix and suffix
  // are kept): inserting a whole large text through insertText is slow.
  setValue(text, { keepUndo = false } = {}) {
    const old = this.ta.value;
    if (old === text) return;
    if (keepUndo) {
      let start = 0;
      const max = Math.min(old.length, text.length);
      while (start < max && old.charCodeAt(start) === text.charCodeAt(start)) start++;
      let end = 0;
      while (end < max - start && old.charCodeAt(old.length - 1 - end) === text.charCodeAt(text.length - 1 - end)) end++;
      const before = document.activeElement;
      this.ta.focus({ preventScroll: true });
      this.ta.setSelectionRange(start, old.length - end);
      const done = document.execCommand("insertText", false, text.slice(start, text.length - end));
      if (before && before !== this.ta && before.focus) before.focus({ preventScroll: true });
      if (done && this.ta.value === text) return;
    }
    this.ta.value = text;
    this.onInput(text);
  }

  // Paints the text with `tokens` ([from, to, class]) and `diags` (the
  // compiler's diagnostics, UTF-16 positions).
  paint(text, tokens, diags) {
    this.tokens = tokens;
    this.diags = diags;
    const ranges = diags.map((d) => range(text, d)).filter(Boolean);
    const lens = new Map(); // line (0-based) -> worst diagnostic
    for (const d of diags) {
      if (!d.location) continue;
      const line = d.location.line - 1;
      const prev = lens.get(line);
      if (!prev || rank[d.severity] > rank[prev.severity]) lens.set(line, d);
    }
    const cuts = new Set([0, text.length]);
    for (const [a, b] of tokens) { cuts.add(a); cuts.add(b); }
    for (const r of ranges) { cuts.add(r.from); cuts.add(r.to); }
    const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
    const out = [];
    let ti = 0;
    let line = 0;
    const lensHtml = (l) => {
      const d = lens.get(l);
      if (!d) return "";
      return `<span class="lens lens-${d.severity}">${esc(d.code)}: ${esc(d.message)}</span>`;
    };
    // One sweep: the ranges in order of start, the ones covering the
    // current segment in `active`.
    const sorted = ranges.filter((r) => !r.empty).sort((x, y) => x.from - y.from);
    let ri = 0;
    let active = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const a = points[i];
      const b = points[i + 1];
      if (a >= b) continue;
      while (ti < tokens.length && tokens[ti][1] <= a) ti++;
      const tok = ti < tokens.length && tokens[ti][0] <= a && b <= tokens[ti][1] ? tokens[ti][2] : null;
      while (ri < sorted.length && sorted[ri].from <= a) active.push(sorted[ri++]);
      if (active.length) active = active.filter((r) => r.to > a);
      let sev = null;
      for (const r of active) {
        if (b <= r.to && (!sev || rank[r.sev] > rank[sev])) sev = r.sev;
      }
      const cls = [tok ? `t-${tok}` : "", sev ? `d-${sev}` : ""].filter(Boolean).join(" ");
      const parts = text.slice(a, b).split("\n");
      parts.forEach((part, j) => {
        if (part) out.push(cls ? `<span class="${cls}">${esc(part)}</span>` : esc(part));
        if (j < parts.length - 1) {
          out.push(lensHtml(line), "\n");
          line++;
        }
      });
    }
    out.push(lensHtml(line), " ");
    this.pre.innerHTML = out.join("");

    const lines = text.split("\n").length;
    const marks = new Map();
    for (const d of diags) {
      if (!d.location) continue;
      const l = d.location.line;
      const m = marks.get(l) || { sev: d.severity, titles: [] };
      if (rank[d.severity] > rank[m.sev]) m.sev = d.severity;
      m.titles.push(`${d.code}: ${d.message}`);
      marks.set(l, m);
    }
    // The gutter only when its lines or marks change (not at every key).
    const key = `${lines}|${[...marks].map(([l, m]) => `${l}:${m.sev}:${m.titles.join("\u0001")}`).join("|")}`;
    if (key !== this.gutterKey) {
      const g = [];
      for (let l = 1; l <= lines; l++) {
        const m = marks.get(l);
        g.push(m ? `<div class="g-${m.sev}" title="${esc(m.titles.join("\n"))}">${l}</div>` : `<div>${l}</div>`);
      }
      this.gutter.innerHTML = g.join("");
      this.gutterKey = key;
    }
    this.lineCount = lines;
  }

  // 1-based line and column of the caret.
  caret() {
    const pos = this.ta.selectionStart;
    const before = this.ta.value.slice(0, pos);
    const line = before.split("\n").length;
    return { pos, line, column: pos - before.lastIndexOf("\n") };
  }

  caretMoved() {
    this.reveal();
    this.onCaret(this.caret());
  }

  // Keeps the caret inside the scrolled view (the textarea itself never
  // scrolls: it is as large as its text).
  reveal() {
    const { line, column } = this.caret();
    const cs = getComputedStyle(this.pre);
    const lh = parseFloat(cs.lineHeight) || 20;
    const top = (line - 1) * lh + parseFloat(cs.paddingTop);
    const sc = this.scroller;
    if (top < sc.scrollTop) sc.scrollTop = top - lh;
    else if (top + 2 * lh > sc.scrollTop + sc.clientHeight) sc.scrollTop = top + 2 * lh - sc.clientHeight;
    const cw = this.charWidth || (this.charWidth = this.measureChar());
    const left = (column - 1) * cw;
    const gutterWidth = this.gutter.offsetWidth;
    if (left + 40 > sc.scrollLeft + sc.clientWidth - gutterWidth) sc.scrollLeft = left + 40 - sc.clientWidth + gutterWidth;
    else if (left < sc.scrollLeft) sc.scrollLeft = Math.max(0, left - 40);
  }

  measureChar() {
    const probe = document.createElement("span");
    probe.textContent = "0".repeat(100);
    this.pre.appendChild(probe);
    const w = probe.getBoundingClientRect().width / 100;
    probe.remove();
    return w || 8;
  }

  // Moves the caret to a UTF-16 offset (a diagnostic, a test case) and
  // focuses the editor.
  goTo(from, to = from) {
    this.ta.focus();
    this.ta.setSelectionRange(from, to);
    this.caretMoved();
  }

  goToLine(line) {
    const lines = this.ta.value.split("\n");
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    const indent = (lines[line - 1] || "").match(/^\s*/)[0].length;
    this.goTo(pos + indent);
  }

  insert(text) {
    if (!document.execCommand("insertText", false, text)) {
      const { selectionStart: s, selectionEnd: e } = this.ta;
      this.ta.setRangeText(text, s, e, "end");
      this.onInput(this.ta.value);
    }
  }

  keydown(e) {
    const ta = this.ta;
    // An input method composing text owns Enter and Tab.
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === "Escape") {
      this.escArmed = true;
      return;
    }
    if (e.key === "Tab" && !e.ctrlKey && !e.altKey && !e.metaKey) {
      if (this.escArmed) {
        this.escArmed = false;
        return; // leave the editor: the browser moves the focus
      }
      e.preventDefault();
      const v = ta.value;
      const s = ta.selectionStart;
      const end = ta.selectionEnd;
      const lineStart = v.lastIndexOf("\n", s - 1) + 1;
      if (!e.shiftKey && s === end) {
        this.insert("  ");
        return;
      }
      // Indent or dedent the selected lines.
      const blockEnd = v.indexOf("\n", end - (end > s && v[end - 1] === "\n" ? 1 : 0));
      const stop = blockEnd === -1 ? v.length : blockEnd;
      const block = v.slice(lineStart, stop);
      const changed = e.shiftKey
        ? block.replace(/^( {1,2}|\t)/gm, "")
        : block.replace(/^/gm, "  ");
      ta.setSelectionRange(lineStart, stop);
      this.insert(changed);
      ta.setSelectionRange(lineStart, lineStart + changed.length);
      return;
    }
    // A modifier pressed on its own (Shift before Shift+Tab) keeps Esc armed.
    if (!["Shift", "Control", "Alt", "Meta", "AltGraph"].includes(e.key)) this.escArmed = false;
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey && !e.altKey && !e.shiftKey) {
      const v = ta.value;
      const s = ta.selectionStart;
      const lineStart = v.lastIndexOf("\n", s - 1) + 1;
      const line = v.slice(lineStart, s);
      let indent = line.match(/^\s*/)[0];
      if (/\{\s*$/.test(line)) indent += "  ";
      e.preventDefault();
      this.insert("\n" + indent);
    }
  }
}
