// The simulator's controls, for organization admins: the quote of a contract, the clock, a reset.

import { clear, el, toast } from "./dom.js";

export function renderSimulator(section, session, book, onReset) {
  clear(section);
  const out = el("pre", { id: "sim-output" });
  const show = (title, value) => { out.textContent = `${title}\n${JSON.stringify(value, null, 2)}`; };
  const guard = (title, run) => async (event) => {
    event.preventDefault();
    try { show(title, await run()); toast(`${title}: done`); } catch (error) { show(title, error.message); toast(`${title}: ${error.message}`, true); }
  };
  const symbol = el("input", { id: "sim-symbol", value: [...book.table("contract").values()].map((c) => c.name).sort()[0] || "", "aria-label": "Symbol" });
  const bid = el("input", { id: "sim-bid", type: "number", step: "any", "aria-label": "Bid" });
  const ask = el("input", { id: "sim-ask", type: "number", step: "any", "aria-label": "Ask" });
  const size = el("input", { id: "sim-size", type: "number", value: "10", "aria-label": "Size" });
  const quote = el("form", { class: "sim-form", id: "sim-quote" },
    el("label", {}, "Symbol", symbol), el("label", {}, "Bid", bid), el("label", {}, "Ask", ask), el("label", {}, "Size", size),
    el("button", { type: "submit", text: "Set quote" }),
    el("button", { type: "button", id: "sim-release", text: "Release to the random walk", onclick: guard("Release quote", () => session.sim("quote", { symbol: symbol.value, release: true })) }),
    el("button", { type: "button", id: "sim-read-quote", text: "Read", onclick: guard("Quote", () => session.request("GET", "/sim/quote", undefined, { symbol: symbol.value })) }));
  quote.addEventListener("submit", guard("Set quote", () => session.sim("quote", {
    symbol: symbol.value, bid: Number(bid.value), ask: Number(ask.value), bidSize: Number(size.value), askSize: Number(size.value),
  })));
  const now = el("input", { id: "sim-now", "aria-label": "Time", placeholder: "2026-11-24T15:00:00Z" });
  const advance = el("input", { id: "sim-advance", type: "number", "aria-label": "Seconds", placeholder: "60" });
  const clock = el("form", { class: "sim-form", id: "sim-clock" },
    el("label", {}, "Freeze at (UTC)", now), el("button", { type: "submit", text: "Set clock" }),
    el("label", {}, "Advance seconds", advance),
    el("button", { type: "button", text: "Advance", onclick: guard("Advance clock", () => session.sim("clock", { advanceSeconds: Number(advance.value) })) }),
    el("button", { type: "button", text: "Real time", onclick: guard("Real time", () => session.sim("clock", { mode: "real" })) }),
    el("button", { type: "button", text: "Read", onclick: guard("Clock", () => session.sim("clock")) }));
  clock.addEventListener("submit", guard("Set clock", () => session.sim("clock", { now: now.value })));
  const reset = el("button", { type: "button", class: "danger", id: "sim-reset", text: "Reset the simulator",
    onclick: async (event) => {
      const { confirmAction } = await import("./actions.js");
      if (!await confirmAction("Reset the simulator", "Every account, order, position and rule goes back to the freshly seeded state, for every user of this server. Tokens stay valid; the console reloads its data.", "Reset")) return;
      await guard("Reset", () => session.sim("reset", {}))(event);
      onReset();
    } });
  section.append(el("h2", { text: "Quote" }), quote, el("h2", { text: "Clock" }), clock,
                 el("h2", { text: "Reset" }), el("div", { class: "sim-form" }, reset), out);
  guard("Clock", () => session.sim("clock"))(new Event("x"));
}
