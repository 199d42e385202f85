// imhi report: renders the page data embedded above (no network, no libraries).
"use strict";
const PAGE_SIZE = 50;
const data = JSON.parse(document.getElementById("imhi-data").textContent);

function el(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else if (k === "cls") node.className = v; else node.setAttribute(k, v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) node.append(kid);
  return node;
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Math.abs(v) >= 0.01 ? v.toFixed(3) : v.toExponential(2);
  if (Array.isArray(v)) return v.map(fmt).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function staticTable(block) {
  const marks = new Map((block.marks || []).map(m => [m[0] + ":" + m[1], m[2]]));
  const head = el("tr", {}, ...block.columns.map(c => el("th", {text: c})));
  const body = block.rows.map((row, r) => el("tr", {}, ...row.map((v, c) => {
    const cls = [typeof v === "number" ? "num" : "", marks.get(r + ":" + c) || ""].join(" ").trim();
    return el("td", {text: fmt(v), cls});
  })));
  return el("div", {cls: "scroll"}, el("table", {cls: "static"}, el("thead", {}, head), el("tbody", {}, ...body)));
}

function figure(block) {
  const fig = el("figure", {});
  const holder = el("div", {});
  holder.innerHTML = block.svg;  // written by matplotlib from the run's own numbers
  fig.append(holder);
  if (block.caption) fig.append(el("figcaption", {text: block.caption}));
  return fig;
}

class RowsTable {
  constructor(block) {
    this.b = block; this.n = block.n; this.cols = block.columns;
    this.query = ""; this.filters = this.cols.map(() => -1);
    this.sortCol = -1; this.sortDir = 1; this.page = 0; this.open = new Set();
    this.hay = null; this.view = null;
    this.root = el("div", {cls: "rows", "data-table": block.id});
    this.root.append(this.controls(), this.pager = el("div", {cls: "pager"}), this.table());
    this.apply();
    // the search index is built once the first page is on screen, so the first search is quick
    (window.requestIdleCallback || setTimeout)(() => this.haystack());
  }
  value(c, i) {
    const col = this.cols[c];
    return col.kind === "cat" ? col.values[col.data[i]] : col.data[i];
  }
  controls() {
    const box = el("div", {cls: "controls"});
    const search = el("input", {type: "search", placeholder: "search all text…", "aria-label": "search"});
    search.addEventListener("input", () => { this.query = search.value.trim().toLowerCase(); this.page = 0; this.apply(); });
    box.append(search);
    this.cols.forEach((col, c) => {
      if (col.kind !== "cat" || col.values.length < 2) return;
      const select = el("select", {"data-filter": col.name},
        el("option", {value: "-1", text: "all"}), ...col.values.map((v, k) => el("option", {value: String(k), text: v || "(none)"})));
      select.addEventListener("change", () => { this.filters[c] = Number(select.value); this.page = 0; this.apply(); });
      box.append(el("label", {text: col.name + " "}, select));
    });
    return box;
  }
  table() {
    this.heads = this.cols.map((col, c) => {
      const th = el("th", {text: col.name});
      th.addEventListener("click", () => this.sortBy(c));
      return th;
    });
    this.tbody = el("tbody", {});
    return el("div", {cls: "scroll"}, el("table", {}, el("thead", {}, el("tr", {}, ...this.heads)), this.tbody));
  }
  haystack() {
    if (this.hay) return this.hay;
    const parts = this.cols.filter(c => c.kind !== "num");  // cat, id and text columns are searched
    this.hay = new Array(this.n);
    for (let i = 0; i < this.n; i++) {
      let s = "";
      for (const col of parts) { const v = col.kind === "cat" ? col.values[col.data[i]] : col.data[i]; if (v) s += v + "\u0001"; }
      this.hay[i] = s.toLowerCase();
    }
    return this.hay;
  }
  apply() {
    const active = this.filters.map((f, c) => [c, f]).filter(p => p[1] >= 0);
    const q = this.query, hay = q ? this.haystack() : null;
    const out = [];
    for (let i = 0; i < this.n; i++) {
      let ok = true;
      for (const [c, f] of active) if (this.cols[c].data[i] !== f) { ok = false; break; }
      if (ok && q && hay[i].indexOf(q) < 0) ok = false;
      if (ok) out.push(i);
    }
    if (this.sortCol >= 0) {
      const c = this.sortCol, d = this.sortDir;
      out.sort((a, b) => {
        const x = this.value(c, a), y = this.value(c, b);
        if (x === y) return a - b;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * d;
      });
    }
    this.view = out; this.render();
  }
  sortBy(c) {
    this.sortDir = this.sortCol === c ? -this.sortDir : 1; this.sortCol = c;
    this.heads.forEach((th, k) => th.className = k === c ? (this.sortDir > 0 ? "asc" : "desc") : "");
    this.apply();
  }
  render() {
    const pages = Math.max(1, Math.ceil(this.view.length / PAGE_SIZE));
    this.page = Math.min(this.page, pages - 1);
    const start = this.page * PAGE_SIZE, rows = this.view.slice(start, start + PAGE_SIZE);
    this.tbody.replaceChildren(...rows.flatMap(i => this.rowNodes(i)));
    const prev = el("button", {text: "‹ prev"}), next = el("button", {text: "next ›"});
    prev.disabled = this.page === 0; next.disabled = this.page >= pages - 1;
    prev.addEventListener("click", () => { this.page--; this.render(); });
    next.addEventListener("click", () => { this.page++; this.render(); });
    const shown = this.view.length ? `${start + 1}–${start + rows.length}` : "0";
    this.pager.replaceChildren(prev, el("span", {cls: "count", text: `${shown} of ${this.view.length} rows` +
      (this.view.length < this.n ? ` (${this.n} in all)` : "") + ` · page ${this.page + 1}/${pages}`}), next);
  }
  rowNodes(i) {
    const tr = el("tr", {cls: "row", "data-row": String(i)}, ...this.cols.map((col, c) => this.cell(col, c, i)));
    tr.addEventListener("click", () => { this.open.has(i) ? this.open.delete(i) : this.open.add(i); this.render(); });
    return this.open.has(i) ? [tr, this.detail(i)] : [tr];
  }
  cell(col, c, i) {
    const v = this.value(c, i);
    if (col.kind === "cat") return el("td", {}, v ? el("span", {cls: "tag " + String(v).replace(/[^a-z]/gi, ""), text: v}) : "");
    if (col.kind === "num") return el("td", {cls: "num", text: fmt(v)});
    if (col.kind === "id") return el("td", {cls: "id", text: v === null || v === undefined ? "" : String(v)});
    return el("td", {}, el("div", {cls: "clamp", text: v === null || v === undefined ? "" : String(v)}));
  }
  detail(i) {
    const box = el("div", {cls: "detail"});
    this.cols.forEach((col, c) => { if (col.kind === "text") this.field(box, col.name, this.value(c, i), i); });
    const extra = this.b.details ? this.b.details[i] : null;
    for (const [k, v] of Object.entries(extra || {})) this.field(box, k, v, i);
    return el("tr", {cls: "detail"}, el("td", {colspan: String(this.cols.length)}, box));
  }
  field(box, name, v, i) {
    if (v === null || v === undefined || v === "") return;
    box.append(el("h4", {text: name}));
    if (Array.isArray(v) && v.length && typeof v[0] === "object") {
      const keys = [...new Set(v.flatMap(o => Object.keys(o)))];
      box.append(staticTable({columns: keys, rows: v.map(o => keys.map(k => o[k]))}));
    } else if (v && typeof v === "object" && Array.isArray(v.refs)) {
      const fill = this.cols.findIndex(c => c.name === this.b.fill);
      const post = fill >= 0 ? String(this.value(fill, i)) : "";
      box.append(el("pre", {text: v.refs.map(r => this.b.shared[r]).join("\n\n").split("{post}").join(post)}));
    } else {
      box.append(el("pre", {text: typeof v === "object" ? JSON.stringify(v, null, 1) : String(v)}));
    }
  }
}

function block(b) {
  if (b.type === "text") return el("p", {text: b.text});
  if (b.type === "table") return staticTable(b);
  if (b.type === "svg") return figure(b);
  if (b.type === "img") return el("figure", {}, el("img", {src: b.src, alt: b.caption || ""}),
                                  b.caption ? el("figcaption", {text: b.caption}) : null);
  if (b.type === "rows") return new RowsTable(b).root;
  return el("p", {text: "(unknown block " + b.type + ")"});
}

function main() {
  document.getElementById("title").textContent = data.title || "imhi report";
  document.getElementById("subtitle").textContent = data.subtitle || "";
  const toc = document.getElementById("toc"), mainEl = document.getElementById("main");
  mainEl.replaceChildren();
  (data.sections || []).forEach((sec, k) => {
    const id = "s" + k;
    toc.append(el("a", {href: "#" + id, text: sec.title}));
    mainEl.append(el("section", {id}, el("h2", {text: sec.title}), ...(sec.blocks || []).map(block)));
  });
  document.body.dataset.ready = "1";
}
main();
