// One account's page: positions with live open P&L, working orders, recent fills, its rules (editable by an admin),
// its risk and liquidation history, and its net liquidation value against its drawdown level.

import { confirmAction, DESCRIPTIONS } from "./actions.js";
import { drawChart } from "./chart.js";
import { clear, el, formatMoney, formatTime, signClass, toast } from "./dom.js";

const RULES = [
  ["dailyLossAlert", "Daily loss alert ($)"], ["dailyLossLiqOnly", "Daily loss liq-only ($)"],
  ["dailyLossAutoLiq", "Daily loss auto-liq ($)"], ["weeklyLossAutoLiq", "Weekly loss auto-liq ($)"],
  ["dailyProfitAutoLiq", "Daily profit auto-liq ($)"], ["weeklyProfitAutoLiq", "Weekly profit auto-liq ($)"],
  ["trailingMaxDrawdown", "Trailing max drawdown ($)"], ["trailingMaxDrawdownLimit", "Trailing drawdown limit ($)"],
  ["dailyLossPercentageAlert", "Daily loss alert (%)"], ["dailyLossPercentageLiqOnly", "Daily loss liq-only (%)"],
  ["dailyLossPercentageAutoLiq", "Daily loss auto-liq (%)"], ["marginPercentageAlert", "Margin alert (%)"],
  ["marginPercentageLiqOnly", "Margin liq-only (%)"], ["marginPercentageAutoLiq", "Margin auto-liq (%)"],
];

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h, class: h.endsWith("P&L") || h === "Price" ? "num" : "" })))),
            el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headers.length, text: "None" }))]));
}

export class AccountPage {
  constructor(section, book, actions, admin) {
    this.section = section;
    this.book = book;
    this.actions = actions;
    this.admin = admin;
    this.accountId = null;
    this.scheduled = false;
    book.subscribe(() => this.schedule());
  }

  open(accountId) {
    this.accountId = accountId;
    const account = this.book.get("account", accountId);
    clear(this.section);
    if (!account) {
      this.section.append(el("p", { class: "error", text: `No account ${accountId} you can see.` }));
      return;
    }
    this.header = el("div", { id: "account-header" });
    this.result = el("div", { id: "account-result" });
    this.positions = el("div", { id: "positions" });
    this.orders = el("div", { id: "orders" });
    this.fills = el("div", { id: "fills" });
    this.history = el("div", { id: "history" });
    this.chart = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    this.chart.setAttribute("class", "chart");
    this.chart.id = "netliq-chart";
    const buttons = el("div", { class: "actions" },
      el("button", { type: "button", class: "danger", id: "liquidate-account", text: "Liquidate account", onclick: () => this.act("liquidate") }),
      this.admin && el("button", { type: "button", id: "lock-account", text: "Lock", onclick: () => this.act("lock") }),
      this.admin && el("button", { type: "button", id: "unlock-account", text: "Unlock", onclick: () => this.act("unlock") }),
      this.admin && el("button", { type: "button", id: "liqonly-account", text: "Liquidation-only", onclick: () => this.act("liqonly") }));
    this.section.append(el("p", {}, el("a", { href: "#/accounts", text: "← Accounts" })), this.header, buttons, this.result,
      el("div", { class: "panels" },
        el("div", {}, el("h2", { text: "Positions" }), this.positions, el("h2", { text: "Working orders" }), this.orders,
           el("h2", { text: "Recent fills" }), this.fills),
        el("div", {}, el("h2", { text: "Net liquidation value and drawdown level" }), this.chart,
           el("h2", { text: "Rules" }), this.rulesForm(accountId))),
      el("h2", { text: "Risk and liquidation history" }), this.history);
    this.draw();
  }

  show(outcome) {
    clear(this.result).append(el("div", { class: outcome.ok ? "result" : "result failed", text: outcome.text }));
    toast(outcome.text, !outcome.ok);
  }

  async act(kind) {
    const account = this.book.get("account", this.accountId);
    const [label, describe] = DESCRIPTIONS[kind];
    if (!await confirmAction(`${label} ${account.name}`, describe(`account ${account.name}`), label)) return;
    const run = { liquidate: (id) => this.actions.liquidateAccount(id), lock: (id) => this.actions.lock(id),
                  unlock: (id) => this.actions.unlock(id), liqonly: (id) => this.actions.liquidationOnly(id) }[kind];
    this.show(await run(this.accountId));
  }

  async liquidate(position) {
    const account = this.book.get("account", this.accountId);
    const name = this.book.contractName(position.contractId);
    const working = this.book.workingOrders(this.accountId).filter((o) => o.contractId === position.contractId).length;
    const text = `Cancel ${working} working order(s) of ${account.name} in ${name} and close its position of ${position.netPos} with a market order.`;
    if (!await confirmAction(`Liquidate ${name}`, text, "Liquidate")) return;
    this.show(await this.actions.liquidatePosition(this.accountId, position.contractId));
  }

  rulesForm(accountId) {
    const rules = this.book.get("userAccountAutoLiq", accountId) || {};
    const inputs = RULES.map(([key, label]) => {
      const input = el("input", { type: "number", step: "any", min: "0", name: key, id: `rule-${key}`,
                                  value: rules[key] ?? "", disabled: !this.admin });
      return el("label", {}, label, input);
    });
    const mode = el("select", { name: "trailingMaxDrawdownMode", id: "rule-trailingMaxDrawdownMode", disabled: !this.admin },
      el("option", { value: "", text: "—" }), el("option", { value: "RealTime", text: "RealTime" }), el("option", { value: "EOD", text: "EOD" }));
    mode.value = rules.trailingMaxDrawdownMode || "";
    const form = el("form", { id: "rules-form" }, el("div", { class: "rules" }, inputs, el("label", {}, "Trailing mode", mode)));
    if (this.admin) {
      form.append(el("div", { class: "actions" }, el("button", { type: "submit", id: "save-rules", text: "Save rules" })));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { accountId };
        for (const [key] of RULES) {
          const value = form.elements[key].value.trim();
          body[key] = value === "" ? null : Number(value);
        }
        body.trailingMaxDrawdownMode = mode.value || null;
        try {
          const result = await this.actions.session.call("userAccountAutoLiq/updateUserAutoLiq", body);
          this.show(result && result.errorText ? { ok: false, text: result.errorText } : { ok: true, text: "Rules saved" });
        } catch (error) {
          this.show({ ok: false, text: error.message });
        }
      });
    } else {
      form.append(el("p", { text: "Rules are set by the risk desk." }));
    }
    return form;
  }

  schedule() {
    if (this.scheduled || this.accountId === null || this.section.hidden) return;
    this.scheduled = true;
    requestAnimationFrame(() => { this.scheduled = false; this.draw(); });
  }

  draw() {
    const book = this.book;
    const id = this.accountId;
    const row = book.row(id);
    if (!row || !this.header) return;
    clear(this.header).append(
      el("h2", { id: "account-name", text: row.name }),
      el("p", {}, `Owner ${row.owner} · Cash `, el("b", { id: "account-cash", text: formatMoney(row.cash) }),
         " · Net liq ", el("b", { id: "account-netliq", text: formatMoney(row.netLiq) }),
         " · Open P&L ", el("b", { id: "account-openpnl", class: signClass(row.openPnl ?? 0), text: formatMoney(row.openPnl) }),
         " · Drawdown level ", el("b", { text: formatMoney(row.level) }), " · Status ",
         el("b", { id: "account-status", class: `status status-${row.status}`, text: row.reason ? `${row.status}: ${row.reason}` : row.status })));
    const positions = book.positions(id).filter((p) => p.netPos !== 0 || book.workingOrders(id).some((o) => o.contractId === p.contractId));
    clear(this.positions).append(table(["Contract", "Net pos", "Avg price", "Mark", "Open P&L", ""], positions.map((p) => {
      const pnl = book.openPnl(p);
      return el("tr", { dataset: { contract: book.contractName(p.contractId) }, class: "position-row" },
        el("td", { text: book.contractName(p.contractId) }), el("td", { class: "num net-pos", text: p.netPos }),
        el("td", { class: "num", text: p.netPrice ?? "" }), el("td", { class: "num", text: book.mark(p.contractId) ?? "—" }),
        el("td", { class: signClass(pnl ?? 0), text: formatMoney(pnl) }),
        el("td", {}, el("button", { type: "button", class: "danger liquidate-position", text: "Liquidate", onclick: () => this.liquidate(p) })));
    })));
    const orders = book.workingOrders(id);
    clear(this.orders).append(table(["Order", "Contract", "Side", "Type", "Qty", "Price", "Status"], orders.map((o) => {
      const version = book.versionOf.get(o.id) || {};
      return el("tr", { class: "order-row" }, el("td", { text: o.id }), el("td", { text: book.contractName(o.contractId) }),
        el("td", { text: o.action }), el("td", { text: version.orderType || "" }), el("td", { text: version.orderQty ?? "" }),
        el("td", { class: "num", text: version.price ?? version.stopPrice ?? "" }), el("td", { text: o.ordStatus }));
    })));
    const orderIds = book.ordersOf.get(id) || new Set();
    const fills = [...book.table("fill").values()].filter((f) => orderIds.has(f.orderId)).sort((a, b) => b.id - a.id).slice(0, 20);
    clear(this.fills).append(table(["Time", "Contract", "Side", "Qty", "Price"], fills.map((f) => el("tr", {},
      el("td", { text: formatTime(f.timestamp) }), el("td", { text: book.contractName(f.contractId) }), el("td", { text: f.action }),
      el("td", { text: f.qty }), el("td", { class: "num", text: f.price })))));
    const events = [
      ...[...book.table("accountRiskStatusLog").values()].filter((l) => l.accountId === id).map((l) => ({
        t: l.timestamp, id: l.id, kind: "Risk status", what: l.adminAction || (l.liquidateOnly ? "Liquidation-only" : "Normal"),
        why: l.adminActionReason || l.notes || "" })),
      ...[...book.table("autoLiqTransaction").values()].filter((x) => x.accountId === id).map((x) => ({
        t: x.timestamp, id: x.id, kind: "Liquidation", what: `${book.contractName(x.contractId)}: closed ${x.liquidatedNetPos}, ` +
          `cancelled ${x.cancelledBuyLimitQty + x.cancelledSellLimitQty + x.cancelledBuyStopQty + x.cancelledSellStopQty} order qty`,
        why: `${x.initiator}${x.userId ? ` (user ${x.userId})` : " (risk system)"}` })),
    ].sort((a, b) => String(b.t).localeCompare(String(a.t)) || b.id - a.id);
    clear(this.history).append(table(["Time", "Kind", "What", "Why"], events.map((e) => el("tr", { class: "history-row" },
      el("td", { text: formatTime(e.t) }), el("td", { text: e.kind }), el("td", { text: e.what }), el("td", { text: e.why })))));
    book.sample(id, row.netLiq, row.level);
    drawChart(this.chart, book.series(id));
  }
}
