// The risk desk's actions, each behind a confirmation that says what will happen, each through the public API:
// order/liquidatePosition, order/liquidatePositions, accountRiskStatus/setAdminAutoLiqAction.

import { $, toast } from "./dom.js";

const REASON = { adminActionReasonCode: "Other", adminActionReason: "Risk desk console" };

let unsettled = null; // the last opening of the dialog, until its `close` event has come

// Resolves true when the user confirms. The texts are set with textContent. A modal dialog: the page behind is
// inert, Tab and Shift+Tab cycle through its buttons, Escape cancels; the focus starts on Cancel (the safe answer)
// and goes back where it was when the dialog closes. The browser fires `close` in a task of its own, after the
// dialog has closed: a keyboard user who opens it again at once (Escape, then Enter) can do so before that event,
// which then belongs to the earlier opening. So that opening is settled as the dialog opens again, and a `close`
// that comes while the dialog is open is not the current opening's.
export function confirmAction(title, text, label = "Confirm") {
  const dialog = $("confirm");
  unsettled?.(false); // (with the earlier answer, still in returnValue)
  const opener = document.activeElement;
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = label;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  const trap = (event) => {
    if (event.key !== "Tab") return;
    const buttons = [...dialog.querySelectorAll("button:not([disabled])")];
    const at = buttons.indexOf(document.activeElement);
    const next = (at + (event.shiftKey ? -1 : 1) + buttons.length) % buttons.length;
    buttons[at === -1 ? 0 : next].focus();
    event.preventDefault();
  };
  dialog.addEventListener("keydown", trap);
  return new Promise((resolve) => {
    const settle = (refocus) => {
      dialog.removeEventListener("keydown", trap);
      dialog.removeEventListener("close", closed);
      if (unsettled === settle) unsettled = null;
      if (refocus && opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(dialog.returnValue === "ok");
    };
    const closed = () => { if (!dialog.open) settle(true); };
    unsettled = settle;
    dialog.addEventListener("close", closed);
  });
}

// An outcome: { ok, text }.
function failure(text) { return { ok: false, text }; }

export class Actions {
  constructor(session, book, admin) {
    this.session = session;
    this.book = book;
    this.admin = admin;
  }

  async liquidatePosition(accountId, contractId) {
    try {
      const result = await this.session.call("order/liquidatePosition", { accountId, contractId, admin: this.admin });
      if (result && result.failureReason) return failure(`${result.failureReason}: ${result.failureText || ""}`);
      return { ok: true, text: result && result.orderId ? `Closing order ${result.orderId} placed` : "Nothing to close; orders cancelled" };
    } catch (error) {
      return failure(error.message);
    }
  }

  // Every position of the account that is open or has working orders on its contract.
  async liquidateAccount(accountId) {
    const working = new Set(this.book.workingOrders(accountId).map((o) => o.contractId));
    const ids = this.book.positions(accountId).filter((p) => p.netPos !== 0 || working.has(p.contractId)).map((p) => p.id);
    if (ids.length === 0 && working.size === 0) return { ok: true, text: "No open position" };
    try {
      let done = { ok: true };
      if (ids.length) done = await this.session.call("order/liquidatePositions", { positions: ids, admin: this.admin });
      const covered = new Set(ids.map((id) => this.book.get("position", id).contractId));
      for (const contractId of working) {
        if (covered.has(contractId)) continue;
        const result = await this.liquidatePosition(accountId, contractId);
        if (!result.ok) return result;
      }
      return done.ok ? { ok: true, text: `Liquidated ${ids.length} position(s)` } : failure(done.errorText || "Refused");
    } catch (error) {
      return failure(error.message);
    }
  }

  async setRiskAction(accountId, adminAction) {
    try {
      const result = await this.session.call("accountRiskStatus/setAdminAutoLiqAction",
                                             { accountId, adminAction, ...REASON });
      if (result && result.errorText) return failure(result.errorText);
      return { ok: true, text: `${adminAction} applied` };
    } catch (error) {
      return failure(error.message);
    }
  }

  lock(accountId) { return this.setRiskAction(accountId, "LockTradingImmediately"); }
  unlock(accountId) { return this.setRiskAction(accountId, "Normal"); }
  liquidationOnly(accountId) { return this.setRiskAction(accountId, "LiquidateOnlyModeImmediately"); }
}

export const DESCRIPTIONS = {
  lock: ["Lock", (what) => `Lock trading on ${what}: every new order and modification is refused until an admin unlocks it. Positions and working orders stay as they are.`],
  unlock: ["Unlock", (what) => `Set ${what} back to Normal: lifts the lock or liquidation-only mode and re-arms every auto-liquidation rule (a rule still breached fires again at once).`],
  liqonly: ["Liquidation-only", (what) => `Put ${what} in liquidation-only mode: only orders that reduce a position are accepted.`],
  liquidate: ["Liquidate", (what) => `Liquidate ${what}: cancel every working order and close every open position with a market order. This cannot be undone.`],
};

// Runs one action over many accounts, a few at a time, with a progress bar; reports the failures.
export async function runBulk(kind, ids, run) {
  const bar = $("bulk-bar");
  const text = $("bulk-text");
  $("bulk-progress").hidden = false;
  bar.max = ids.length;
  bar.value = 0;
  const failures = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      const outcome = await run(id);
      if (!outcome.ok) failures.push(`${id}: ${outcome.text}`);
      bar.value += 1;
      text.textContent = `${DESCRIPTIONS[kind][0]}: ${bar.value} / ${ids.length}` + (failures.length ? `, ${failures.length} failed` : "");
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const summary = `${DESCRIPTIONS[kind][0]}: ${ids.length - failures.length} of ${ids.length} done`;
  text.textContent = failures.length ? `${summary}; failed: ${failures.slice(0, 5).join("; ")}` : summary;
  toast(summary + (failures.length ? ` (${failures.length} failed)` : ""), failures.length > 0);
}
