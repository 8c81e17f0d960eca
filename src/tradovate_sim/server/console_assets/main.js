// The console's start: log in (the token stays in memory), open the WebSocket, follow every visible account with
// one `user/syncrequest`, subscribe to the quotes of the contracts held, and route between the pages.

import { AccountPage } from "./account.js";
import { AccountsTable } from "./accounts.js";
import { Actions, confirmAction, DESCRIPTIONS, runBulk } from "./actions.js";
import { Book, ENTITY_TYPES } from "./book.js";
import { login, Session } from "./connection.js";
import { $ } from "./dom.js";
import { renderSimulator } from "./simulator.js";

const VIEWS = ["login-view", "accounts-view", "account-view", "simulator-view"];
const app = { session: null, book: null, table: null, page: null, actions: null, admin: false, quoted: new Set() };
// For the benchmark: counters, and the table's frame times (`reset`: start a new maximum).
window.consoleStats = (reset) => ({
  _: reset && app.table ? Object.assign(app.table.stats, { maxFrameMs: 0, maxReorderMs: 0 }) : null,
  accounts: app.book ? app.book.table("account").size : 0, props: app.book ? app.book.counts.props : 0,
  quotes: app.book ? app.book.counts.quotes : 0, table: app.table ? { ...app.table.stats } : null,
  loadedMs: app.loadedMs ?? null,
});

function showView(id) {
  for (const view of VIEWS) $(view).hidden = view !== id;
  $("top").hidden = id === "login-view";
}

async function start(name, password) {
  const started = performance.now();
  const answer = await login(name, password);
  const session = new Session(answer.accessToken, answer.userId, answer.name || name);
  app.session = session;
  // Simulator controls need an organization admin token; their clock is harmless to read: it tells us who we are.
  app.admin = await session.sim("clock").then(() => true, () => false);
  session.onState = (live) => { const badge = $("live"); badge.textContent = live ? "live" : "disconnected"; badge.classList.toggle("on", live); };
  await session.connect();
  await follow();
  $("whoami").textContent = `${session.name}${app.admin ? " (admin)" : ""}`;
  $("nav-simulator").hidden = !app.admin;
  $("bulk").hidden = !app.admin;
  app.loadedMs = performance.now() - started;
  route();
}

// A fresh book from one snapshot; `props` and `md` events keep it current.
async function follow() {
  const book = new Book();
  app.book = book;
  app.quoted = new Set();
  app.session.onEvent = (kind, data) => {
    if (kind === "props") { book.apply(data); if (data.entityType === "position") subscribeQuotes(); }
    else if (kind === "md") for (const packet of data.quotes || []) book.quote(packet);
  };
  const snapshot = await app.session.send("user/syncrequest", { entityTypes: ENTITY_TYPES });
  book.load(snapshot);
  subscribeQuotes();
  app.actions = new Actions(app.session, book, app.admin);
  if (!app.table) {
    app.table = new AccountsTable(book, { onOpen: (id) => { location.hash = `#/account/${id}`; }, onSelection: (n) => { $("selected-count").textContent = `${n} selected`; } });
    app.page = new AccountPage($("account-view"), book, app.actions, app.admin);
  } else {
    app.table.book = book;
    app.table.selected.clear();
    book.subscribe(() => app.table.changed());
    app.page.book = book;
    app.page.actions = app.actions;
    book.subscribe(() => app.page.schedule());
  }
}

function subscribeQuotes() {
  for (const contractId of app.book.contractsHeld()) {
    if (app.quoted.has(contractId)) continue;
    app.quoted.add(contractId);
    app.session.send("md/subscribeQuote", { symbol: contractId }).catch(() => app.quoted.delete(contractId));
  }
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
    renderSimulator($("simulator-view"), app.session, app.book, () => follow().then(route));
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
$("logout").addEventListener("click", () => {
  if (app.session) app.session.close();
  location.hash = "";
  location.reload();
});
for (const button of document.querySelectorAll("[data-bulk]")) button.addEventListener("click", () => bulk(button.dataset.bulk));
window.addEventListener("hashchange", route);
route();
