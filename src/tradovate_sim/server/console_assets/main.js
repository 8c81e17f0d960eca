// The console's start: log in (the token stays in memory), open the WebSocket, follow every visible account with
// one `user/syncrequest`, subscribe to the quotes of the contracts held, and route between the pages. After a
// reconnection the same again, into a fresh book that replaces the one shown.

import { AccountPage } from "./account.js";
import { AccountsTable } from "./accounts.js";
import { Actions, confirmAction, DESCRIPTIONS, runBulk } from "./actions.js";
import { Book, ENTITY_TYPES } from "./book.js";
import { login, Session } from "./connection.js";
import { $ } from "./dom.js";
import { renderSimulator } from "./simulator.js";

const VIEWS = ["login-view", "accounts-view", "account-view", "simulator-view"];
const app = { session: null, book: null, table: null, page: null, actions: null, admin: null, quoted: new Set() };
// For the benchmark: counters, and the table's frame times (`reset`: start a new maximum).
window.consoleStats = (reset) => ({
  _: reset && app.table ? Object.assign(app.table.stats, { maxFrameMs: 0, maxReorderMs: 0 }) : null,
  accounts: app.book ? app.book.table("account").size : 0, props: app.book ? app.book.counts.props : 0,
  quotes: app.book ? app.book.counts.quotes : 0, table: app.table ? { ...app.table.stats } : null,
  loadedMs: app.loadedMs ?? null, follows: app.follows ?? 0, bookLoadMs: app.loadMs ?? null,
  socket: app.session ? { ...app.session.stats } : null,
});

function showView(id) {
  for (const view of VIEWS) $(view).hidden = view !== id;
  $("top").hidden = id === "login-view";
}

// The badge: live, or reconnecting / disconnected (then a button: reconnect now).
function showState(state, text) {
  const badge = $("live");
  badge.textContent = text;
  badge.classList.toggle("on", state === "live");
  badge.disabled = state === "live";
  badge.title = state === "live" ? "Connected: updates arrive live" : "Not connected: click to reconnect now";
}

async function start(name, password) {
  const started = performance.now();
  const answer = await login(name, password);
  const session = new Session(answer, name);
  app.session = session;
  app.admin = null;
  session.onState = showState;
  session.onReady = () => follow(session); // after every authorization, the first and each reconnection
  session.onEnded = ended;
  await session.connect();
  $("whoami").textContent = `${session.name}${app.admin ? " (admin)" : ""}`;
  $("nav-simulator").hidden = !app.admin;
  $("bulk").hidden = !app.admin;
  app.loadedMs = performance.now() - started;
  route();
}

// The token is no longer valid: back to the login form, saying why (the page keeps its place in the hash).
function ended(message) {
  if (app.book) app.book.listeners.clear();
  app.session = null;
  app.book = null;
  if (app.table) app.table.selected.clear();
  showState("disconnected", "disconnected");
  $("login-error").textContent = message;
  route();
  $("login-name").focus();
}

// Is the caller an organization admin? No Tradovate field says it, so ask over the socket (a refusal there is a
// reply, not a failed resource the browser logs): an admin-only operation that changes nothing, as an empty
// `switchRiskCategory` does. Its permission check comes first: a trader's answer is 401; an admin's is a
// refusal of the empty list (or a 404 when there is no such risk category). Any other failure is thrown.
function isAdmin(session) {
  return session.send("accountRiskStatus/switchRiskCategory", { accountIds: [], riskCategoryId: 1 }).then(() => true, (error) => {
    if (error.status === 401 || error.status === 404) return error.status === 404;
    throw error;
  });
}

// A fresh book from one snapshot, then the quotes of the contracts held; it replaces the one shown when ready, so a
// reconnection shows no duplicate and no stale row. `props` and `md` events keep it current.
async function follow(session) {
  const book = new Book();
  const quoted = new Set();
  if (app.book) book.history = app.book.history; // the chart's samples outlive a reconnection
  session.onEvent = (kind, data) => {
    if (kind === "props") { book.apply(data); if (data.entityType === "position") subscribeQuotes(session, book, quoted); }
    else if (kind === "md") for (const packet of data.quotes || []) book.quote(packet);
  };
  const [snapshot, admin] = await Promise.all([
    session.send("user/syncrequest", { entityTypes: ENTITY_TYPES }),
    app.admin === null ? isAdmin(session) : app.admin,
  ]);
  const loading = performance.now();
  book.load(snapshot);
  app.loadMs = performance.now() - loading;
  app.admin = admin;
  await subscribeQuotes(session, book, quoted);
  install(session, book, quoted);
}

function install(session, book, quoted) {
  if (app.book) app.book.listeners.clear();
  app.book = book;
  app.quoted = quoted;
  app.follows = (app.follows ?? 0) + 1;
  app.actions = new Actions(session, book, app.admin);
  if (!app.table) {
    app.table = new AccountsTable(book, { onOpen: (id) => { location.hash = `#/account/${id}`; }, onSelection: (n) => { $("selected-count").textContent = `${n} selected`; } });
    app.page = new AccountPage($("account-view"), book, app.actions, app.admin);
  } else {
    app.table.book = book;
    book.subscribe(() => app.table.changed());
    app.table.schedule(true);
    Object.assign(app.page, { book, actions: app.actions, admin: app.admin });
    book.subscribe(() => app.page.schedule());
    app.page.schedule();
  }
}

// Subscribes to the quotes of every contract held not yet subscribed; resolves when the server has answered.
function subscribeQuotes(session, book, quoted) {
  const asked = [];
  for (const contractId of book.contractsHeld()) {
    if (quoted.has(contractId)) continue;
    quoted.add(contractId);
    asked.push(session.send("md/subscribeQuote", { symbol: contractId }).catch(() => quoted.delete(contractId)));
  }
  return Promise.all(asked);
}

function route() {
  if (!app.session) { showView("login-view"); return; }
  const hash = location.hash || "#/accounts";
  const account = hash.match(/^#\/account\/(\d+)$/);
  if (account) {
    showView("account-view");
    app.page.open(Number(account[1]));
  } else if (hash === "#/simulator" && app.admin) {
    showView("simulator-view");
    renderSimulator($("simulator-view"), app.session, app.book, () => app.session.reconnectNow());
  } else {
    showView("accounts-view");
    app.table.schedule(true);
  }
}

async function bulk(kind) {
  const ids = app.table.selectedIds();
  if (ids.length === 0) return;
  const [label, describe] = DESCRIPTIONS[kind];
  if (!await confirmAction(`${label} ${ids.length} account(s)`, describe(`${ids.length} selected account(s)`), label)) return;
  const run = { lock: (id) => app.actions.lock(id), unlock: (id) => app.actions.unlock(id),
                liqonly: (id) => app.actions.liquidationOnly(id), liquidate: (id) => app.actions.liquidateAccount(id) }[kind];
  await runBulk(kind, ids, run);
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  $("login-submit").disabled = true;
  try {
    await start($("login-name").value, $("login-password").value);
    $("login-password").value = "";
  } catch (error) {
    if (app.session) app.session.close();
    app.session = null;
    $("login-error").textContent = error.message;
  } finally {
    $("login-submit").disabled = false;
  }
});
$("live").addEventListener("click", () => { if (app.session) app.session.reconnectNow(); });
$("logout").addEventListener("click", () => {
  if (app.session) app.session.close();
  location.hash = "";
  location.reload();
});
for (const button of document.querySelectorAll("[data-bulk]")) button.addEventListener("click", () => bulk(button.dataset.bulk));
window.addEventListener("hashchange", route);
route();
