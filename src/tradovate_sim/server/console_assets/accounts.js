// The accounts table: every visible account in one virtualised grid (only the rows in view exist in the page),
// sorted, filtered and searched in memory, redrawn at most once per animation frame as events and quotes arrive.

import { $, clear, el, formatMoney, signClass } from "./dom.js";

const ROW_HEIGHT = 28;
const OVERSCAN = 6;
const REORDER_MS = 250; // live updates re-sort and re-filter every account at most this often
const collator = new Intl.Collator("en", { numeric: true });
export const COLUMNS = [
  { key: "name", label: "Account" },
  { key: "owner", label: "Owner" },
  { key: "cash", label: "Cash", money: true },
  { key: "netLiq", label: "Net liq", money: true },
  { key: "dayPnl", label: "Day P&L", money: true, signed: true },
  { key: "openPnl", label: "Open P&L", money: true, signed: true },
  { key: "level", label: "Drawdown level", money: true },
  { key: "distance", label: "Distance", money: true, signed: true },
  { key: "status", label: "Risk status" },
  { key: "positions", label: "Open positions" },
];

export class AccountsTable {
  constructor(book, { onOpen, onSelection }) {
    this.book = book;
    this.onOpen = onOpen;
    this.onSelection = onSelection;
    this.sortKey = "name";
    this.descending = false;
    this.search = "";
    this.filter = "";
    this.order = []; // the account ids shown, in order
    this.selected = new Set();
    this.pool = [];
    this.scheduled = false;
    this.needsOrder = true;
    this.staleOrder = false; // data changed: re-sort soon (user input re-sorts at once)
    this.orderedAt = 0;
    this.stats = { frames: 0, lastFrameMs: 0, maxFrameMs: 0 };
    this.body = $("grid-body");
    this.spacer = $("grid-spacer");
    this.buildHead();
    this.body.addEventListener("scroll", () => this.schedule(false));
    $("search").addEventListener("input", (e) => { this.search = e.target.value.trim().toLowerCase(); this.schedule(true); });
    $("status-filter").addEventListener("change", (e) => { this.filter = e.target.value; this.schedule(true); });
    book.subscribe(() => this.changed());
  }

  // Live data re-sorts and re-filters only when the order can depend on it: a figure or status sort or filter, or
  // accounts that came or went (sorted by name with no status filter, a quote changes no row's place).
  changed() {
    const settled = (this.sortKey === "name" || this.sortKey === "owner") && this.filter === ""
      && this.book.table("account").size === this.known;
    if (!settled) this.staleOrder = true;
    this.schedule(false);
  }

  buildHead() {
    const head = clear($("grid-head"));
    const all = el("input", { type: "checkbox", "aria-label": "Select every shown account", id: "select-all" });
    all.addEventListener("change", () => {
      if (all.checked) for (const id of this.order) this.selected.add(id); else this.selected.clear();
      this.onSelection(this.selected.size);
      this.schedule(false);
    });
    head.append(el("span", {}, all));
    for (const column of COLUMNS) {
      const cell = el("span", { role: "columnheader", text: column.label, class: column.money ? "num" : "",
                                dataset: { key: column.key } });
      cell.addEventListener("click", () => {
        if (this.sortKey === column.key) this.descending = !this.descending;
        else { this.sortKey = column.key; this.descending = column.money === true; }
        this.schedule(true);
      });
      head.append(cell);
    }
  }

  schedule(reorder) {
    this.needsOrder ||= reorder;
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.draw(); });
  }

  matches(row) {
    if (this.search && !row.name.toLowerCase().includes(this.search) && !row.owner.toLowerCase().includes(this.search)) return false;
    switch (this.filter) {
      case "": return true;
      case "open": return row.openCount > 0;
      case "near": return row.level !== null && row.distance <= Math.abs(row.level) * 0.1;
      default: return row.status === this.filter;
    }
  }

  reorder() {
    const rows = [];
    for (const id of this.book.table("account").keys()) {
      const row = this.book.row(id);
      if (row && this.matches(row)) rows.push(row);
    }
    const key = this.sortKey;
    const sign = this.descending ? -1 : 1;
    rows.sort((a, b) => {
      const x = a[key], y = b[key];
      if (x === y) return a.id - b.id;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" ? x - y : collator.compare(x, y)) * sign;
    });
    this.order = rows.map((row) => row.id);
    this.known = this.book.table("account").size;
    for (const id of this.selected) if (!this.book.get("account", id)) this.selected.delete(id);
    $("count").textContent = `${this.order.length} of ${this.book.table("account").size} accounts`;
    for (const cell of $("grid-head").querySelectorAll("[data-key]")) {
      cell.classList.toggle("sorted", cell.dataset.key === key);
      cell.classList.toggle("desc", cell.dataset.key === key && this.descending);
    }
  }

  draw() {
    if (this.body.offsetParent === null) { this.needsOrder = true; return; } // hidden: draw when shown
    const started = performance.now();
    if (this.staleOrder && !this.needsOrder) {
      const wait = this.orderedAt + REORDER_MS - started;
      if (wait <= 0) this.needsOrder = true;
      else if (!this.later) this.later = setTimeout(() => { this.later = null; this.schedule(false); }, wait);
    }
    if (this.needsOrder) {
      const t = performance.now();
      this.reorder();
      this.stats.reorderMs = performance.now() - t;
      this.stats.maxReorderMs = Math.max(this.stats.maxReorderMs || 0, this.stats.reorderMs);
      this.needsOrder = false;
      this.staleOrder = false;
      this.orderedAt = started;
    }
    this.spacer.style.height = `${this.order.length * ROW_HEIGHT}px`;
    const first = Math.max(0, Math.floor(this.body.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const count = Math.ceil(this.body.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(this.order.length, first + count);
    while (this.pool.length < last - first) this.pool.push(this.makeRow());
    for (let i = 0; i < this.pool.length; i += 1) {
      const node = this.pool[i];
      const index = first + i;
      if (index >= last) { node.hidden = true; continue; }
      node.hidden = false;
      node.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
      this.fill(node, this.book.row(this.order[index]));
    }
    const took = performance.now() - started;
    this.stats.frames += 1;
    this.stats.lastFrameMs = took;
    this.stats.maxFrameMs = Math.max(this.stats.maxFrameMs, took);
  }

  makeRow() {
    const box = el("input", { type: "checkbox", "aria-label": "Select" });
    const node = el("div", { class: "grid-row", role: "row" }, el("span", {}, box),
                    ...COLUMNS.map((c) => el("span", { class: c.money ? "num" : "", dataset: { col: c.key } })));
    node.style.top = "0";
    box.addEventListener("click", (event) => event.stopPropagation());
    box.addEventListener("change", () => {
      const id = Number(node.dataset.id);
      if (box.checked) this.selected.add(id); else this.selected.delete(id);
      this.onSelection(this.selected.size);
    });
    node.addEventListener("click", () => this.onOpen(Number(node.dataset.id)));
    this.body.append(node);
    return node;
  }

  fill(node, row) {
    node.dataset.id = String(row.id);
    node.dataset.name = row.name;
    const cells = node.children;
    cells[0].firstChild.checked = this.selected.has(row.id);
    COLUMNS.forEach((column, i) => {
      const cell = cells[i + 1];
      const value = row[column.key];
      if (column.money) {
        cell.textContent = formatMoney(value);
        cell.className = column.signed ? signClass(value ?? 0) : "num";
      } else if (column.key === "status") {
        cell.textContent = row.reason ? `${value}: ${row.reason}` : value;
        cell.title = cell.textContent;
        cell.className = `status status-${value}`;
      } else {
        cell.textContent = value;
        cell.title = value;
      }
    });
  }

  selectedIds() { return [...this.selected]; }
}
