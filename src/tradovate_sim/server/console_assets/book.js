// What the console knows: the entities of one `user/syncrequest` snapshot kept current by `props` events, the
// quotes of the contracts held, and the figures of each account derived from them (open P&L from the quotes and
// each product's valuePerPoint, net liquidation value, trailing-drawdown level, risk status).

export const ENTITY_TYPES = [
  "user", "account", "accountRiskStatus", "cashBalance", "cashBalanceLog", "product", "contractMaturity", "contract",
  "order", "orderVersion", "position", "fill", "userAccountAutoLiq", "autoLiqTransaction", "accountRiskStatusLog",
];

const KEYED = [...ENTITY_TYPES, "user"];
const WORKING = new Set(["Working", "Suspended", "PendingNew", "PendingReplace", "PendingCancel"]);
const HISTORY_LIMIT = 400; // net-liquidation samples kept per account for its chart

export class Book {
  constructor() {
    this.tables = new Map(KEYED.map((type) => [type, new Map()]));
    this.positionsOf = new Map(); // account id -> Set of position ids
    this.holders = new Map(); // contract id -> Set of account ids with a position in it
    this.cashOf = new Map(); // account id -> cash balance
    this.ordersOf = new Map(); // account id -> Set of order ids
    this.versionOf = new Map(); // order id -> its latest orderVersion
    this.lastLog = new Map(); // account id -> latest accountRiskStatusLog
    this.quotes = new Map(); // contract id -> { bid, ask, trade }
    this.rows = new Map(); // account id -> derived row
    this.dirty = new Set();
    this.history = new Map(); // account id -> [{ t, netLiq, level }]
    this.listeners = new Set();
    this.counts = { props: 0, quotes: 0 };
    this.now = () => Date.now();
  }

  table(type) { return this.tables.get(type); }
  get(type, id) { return this.tables.get(type).get(id); }

  load(snapshot) {
    const plural = { accountRiskStatus: "accountRiskStatuses", contractMaturity: "contractMaturities" };
    for (const type of KEYED) {
      const items = snapshot[plural[type] || `${type}s`] || [];
      for (const entity of items) this.put(type, entity);
    }
    for (const id of this.table("account").keys()) this.dirty.add(id);
    this.notify();
  }

  // One `props` event: Created / Updated / Deleted of one entity.
  apply(event) {
    const type = event.entityType;
    if (!this.tables.has(type)) return;
    this.counts.props += 1;
    if (event.eventType === "Deleted") this.remove(type, event.entity);
    else this.put(type, event.entity);
    this.notify();
  }

  quote(packet) {
    this.counts.quotes += 1;
    const entries = packet.entries || {};
    const previous = this.quotes.get(packet.contractId) || {};
    this.quotes.set(packet.contractId, {
      bid: entries.Bid ? entries.Bid.price : previous.bid,
      ask: entries.Offer ? entries.Offer.price : previous.ask,
      trade: entries.Trade ? entries.Trade.price : previous.trade,
    });
    for (const accountId of this.holders.get(packet.contractId) || []) this.dirty.add(accountId);
    this.notify();
  }

  put(type, entity) {
    this.tables.get(type).set(entity.id, entity);
    switch (type) {
      case "position": {
        index(this.positionsOf, entity.accountId, entity.id);
        const holders = this.holders.get(entity.contractId) || new Set();
        holders.add(entity.accountId);
        this.holders.set(entity.contractId, holders);
        this.dirty.add(entity.accountId);
        break;
      }
      case "cashBalance": this.cashOf.set(entity.accountId, entity); this.dirty.add(entity.accountId); break;
      case "order": index(this.ordersOf, entity.accountId, entity.id); this.dirty.add(entity.accountId); break;
      case "orderVersion": {
        const known = this.versionOf.get(entity.orderId);
        if (!known || known.id <= entity.id) this.versionOf.set(entity.orderId, entity);
        break;
      }
      case "accountRiskStatusLog": {
        const known = this.lastLog.get(entity.accountId);
        if (!known || known.id <= entity.id) this.lastLog.set(entity.accountId, entity);
        this.dirty.add(entity.accountId);
        break;
      }
      case "account": case "accountRiskStatus": case "userAccountAutoLiq": this.dirty.add(entity.id); break;
      case "autoLiqTransaction": this.dirty.add(entity.accountId); break;
      default: break;
    }
  }

  remove(type, entity) {
    const known = this.tables.get(type).get(entity.id);
    this.tables.get(type).delete(entity.id);
    if (type === "account") { this.rows.delete(entity.id); this.dirty.add(entity.id); }
    if (type === "position" && known) { this.positionsOf.get(known.accountId)?.delete(entity.id); this.dirty.add(known.accountId); }
    if (type === "userAccountAutoLiq") this.dirty.add(entity.id);
  }

  subscribe(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }
  notify() { for (const listener of this.listeners) listener(); }

  contractsHeld() {
    const held = new Set();
    for (const position of this.table("position").values()) if (position.netPos !== 0) held.add(position.contractId);
    return held;
  }

  productOf(contractId) {
    const contract = this.get("contract", contractId);
    const maturity = contract && this.get("contractMaturity", contract.contractMaturityId);
    return maturity ? this.get("product", maturity.productId) : undefined;
  }

  contractName(contractId) {
    const contract = this.get("contract", contractId);
    return contract ? contract.name : `#${contractId}`;
  }

  // The mark of a contract: its last trade, else the mid of bid and ask, else the one side shown (the server's rule).
  mark(contractId) {
    const quote = this.quotes.get(contractId);
    if (!quote) return null;
    if (quote.trade != null) return quote.trade;
    if (quote.bid != null && quote.ask != null) return (quote.bid + quote.ask) / 2;
    return quote.bid ?? quote.ask ?? null;
  }

  openPnl(position) {
    if (!position.netPos || position.netPrice === undefined || position.netPrice === null) return 0;
    const mark = this.mark(position.contractId);
    const product = this.productOf(position.contractId);
    if (mark === null || !product) return null;
    return (mark - position.netPrice) * position.netPos * product.valuePerPoint;
  }

  positions(accountId) {
    return [...(this.positionsOf.get(accountId) || [])].map((id) => this.get("position", id)).filter(Boolean);
  }

  workingOrders(accountId) {
    return [...(this.ordersOf.get(accountId) || [])].map((id) => this.get("order", id))
      .filter((order) => order && WORKING.has(order.ordStatus));
  }

  // The account's derived row (recomputed only when something it depends on changed).
  row(accountId) {
    if (!this.dirty.has(accountId) && this.rows.has(accountId)) return this.rows.get(accountId);
    this.dirty.delete(accountId);
    const account = this.get("account", accountId);
    if (!account) return null;
    const owner = this.get("user", account.userId);
    const cashBalance = this.cashOf.get(accountId);
    const cash = cashBalance ? cashBalance.amount : 0;
    let openPnl = 0;
    let unpriced = false;
    const open = [];
    for (const position of this.positions(accountId)) {
      if (!position.netPos) continue;
      const pnl = this.openPnl(position);
      if (pnl === null) unpriced = true; else openPnl += pnl;
      const side = position.netPos > 0 ? `+${position.netPos}` : `${position.netPos}`;
      open.push(`${this.contractName(position.contractId)} ${side}`);
    }
    const netLiq = cash + openPnl;
    const dayPnl = (cashBalance && cashBalance.realizedPnL ? cashBalance.realizedPnL : 0) + openPnl;
    const rules = this.get("userAccountAutoLiq", accountId);
    const risk = this.get("accountRiskStatus", accountId) || {};
    let level = null;
    if (rules && rules.trailingMaxDrawdown) {
      const high = Math.max(risk.maxNetLiq ?? netLiq, rules.trailingMaxDrawdownMode === "RealTime" ? netLiq : -Infinity);
      level = high - rules.trailingMaxDrawdown;
      if (rules.trailingMaxDrawdownLimit) level = Math.min(level, rules.trailingMaxDrawdownLimit);
    }
    const status = statusOf(risk, this.lastLog.get(accountId));
    const row = {
      id: accountId, name: account.name, owner: owner ? owner.name : `user ${account.userId}`, cash, netLiq,
      dayPnl, openPnl: unpriced && openPnl === 0 ? null : openPnl, level,
      distance: level === null ? null : netLiq - level, status: status.status, reason: status.reason,
      positions: open.join(", "), openCount: open.length, working: this.workingOrders(accountId).length,
    };
    this.rows.set(accountId, row);
    return row;
  }

  // The chart's series: the cash after each cashBalanceLog entry, then the samples taken while the page is open.
  series(accountId) {
    const logged = [...this.table("cashBalanceLog").values()].filter((e) => e.accountId === accountId)
      .sort((a, b) => a.id - b.id).map((e) => ({ t: Date.parse(e.timestamp), netLiq: e.amount, level: null }));
    const live = this.history.get(accountId) || [];
    const since = live.length ? live[0].t : Infinity;
    return [...logged.filter((p) => p.t < since), ...live];
  }

  sample(accountId, netLiq, level) {
    const series = this.history.get(accountId) || [];
    const last = series[series.length - 1];
    if (last && last.netLiq === netLiq && last.level === level) return;
    series.push({ t: this.now(), netLiq, level });
    if (series.length > HISTORY_LIMIT) series.shift();
    this.history.set(accountId, series);
  }
}

function index(map, key, id) {
  const set = map.get(key) || new Set();
  set.add(id);
  map.set(key, set);
}

// normal, liquidation-only, locked or auto-liquidated (a lock the risk engine set: its log says "AutoLiq: ...").
export function statusOf(risk, lastLog) {
  const action = risk.adminAction;
  if (action === "LockTradingImmediately" || action === "LiquidateImmediately") {
    const reason = lastLog && lastLog.adminActionReason ? lastLog.adminActionReason : "";
    if (reason.startsWith("AutoLiq:")) return { status: "auto-liquidated", reason: reason.slice(8).trim() };
    return { status: "locked", reason };
  }
  if (risk.liquidateOnly || action === "LiquidateOnlyModeImmediately") {
    const reason = lastLog && lastLog.adminActionReason ? lastLog.adminActionReason : "";
    return { status: "liquidation-only", reason: reason.replace(/^AutoLiq:\s*/, "") };
  }
  return { status: "normal", reason: "" };
}
