"""An example bot: buys a breakout with a bracket, and flattens for the day at a loss limit.

On each quote: if the account's loss today (realized plus open) has reached `max_loss`, it liquidates the position
(`order/liquidateposition`, which also cancels the bracket) and stops trading; otherwise, when flat with nothing
working and the offer breaks above `level` (once per breakout: the offer must come back to the level before
the next entry), it buys `qty` at market with a bracket (`order/placeOSO`): a take-profit
limit `take_profit_ticks` above the offer and a protective stop `stop_loss_ticks` below it.

It speaks Tradovate's REST API with httpx only, so it runs unchanged against real Tradovate (`api_url`
`https://demo.tradovateapi.com/v1`) or tradovate-sim; `examples/test_breakout_bot.py` tests it with the pytest
plugin. Where the quotes come from (a `md/subscribeQuote` socket, in production) is left to the caller.
"""

from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx


class Action(Enum):
    WAITING = "waiting"  # nothing to do on this quote
    ENTERED = "entered"  # bought, with its bracket working
    IN_TRADE = "in trade"  # a position or its orders are working
    REJECTED = "rejected"  # the entry was refused (e.g. SessionClosed); `last_rejection` says why
    FLATTENED = "flattened"  # the loss limit was reached: position liquidated, trading stopped
    HALTED = "halted"  # stopped for the day


@dataclass(frozen=True)
class Plan:
    symbol: str
    level: float  # buy when the offer is above this price
    qty: int = 1
    tick_size: float = 0.25
    take_profit_ticks: int = 8
    stop_loss_ticks: int = 4
    max_loss: float = 500.0  # dollars, realized plus open, for the day


class BreakoutBot:
    def __init__(self, api_url: str, token: str, account_id: int, plan: Plan) -> None:
        self.http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)
        self.account_id = account_id
        self.plan = plan
        self.halted = False
        self.armed = True
        self.last_rejection: str | None = None
        self._contract_id: int | None = None

    def close(self) -> None:
        self.http.close()

    def on_quote(self, bid: float, ask: float) -> Action:
        if self.halted:
            return Action.HALTED
        if self.loss_today() >= self.plan.max_loss:
            self.flatten()
            self.halted = True
            return Action.FLATTENED
        if self.net_position() != 0 or self.working_orders():
            return Action.IN_TRADE
        if ask <= self.plan.level:
            self.armed = True  # back under the level: the next breakout is a new one
            return Action.WAITING
        if not self.armed:
            return Action.WAITING  # one trade per breakout: no chasing after the trade closed
        return self.enter(ask)

    # --- decisions' effects ----------------------------------------------------------------------------------

    def enter(self, ask: float) -> Action:
        plan = self.plan
        answer = self._post("order/placeOSO", {
            "accountId": self.account_id, "action": "Buy", "symbol": plan.symbol, "orderQty": plan.qty,
            "orderType": "Market", "isAutomated": True,
            "bracket1": {"action": "Sell", "orderType": "Limit",
                         "price": ask + plan.take_profit_ticks * plan.tick_size},
            "bracket2": {"action": "Sell", "orderType": "Stop",
                         "stopPrice": ask - plan.stop_loss_ticks * plan.tick_size},
        })
        if answer.get("failureReason") or "orderId" not in answer:  # a refused order has an id too
            self.last_rejection = answer.get("failureReason") or answer.get("errorText") or str(answer)
            return Action.REJECTED
        self.armed = False
        return Action.ENTERED

    def flatten(self) -> None:
        answer = self._post("order/liquidateposition",
                            {"accountId": self.account_id, "contractId": self.contract_id(), "admin": False})
        if answer.get("failureReason") or answer.get("errorText"):
            raise RuntimeError(f"could not flatten: {answer}")

    # --- what the account holds ------------------------------------------------------------------------------

    def loss_today(self) -> float:
        snapshot = self._post("cashBalance/getcashbalancesnapshot", {"accountId": self.account_id})
        return -(snapshot.get("realizedPnL", 0.0) + snapshot.get("openPnL", 0.0))

    def net_position(self) -> int:
        positions = self._get("position/deps", masterid=self.account_id)
        return sum(p["netPos"] for p in positions if p["contractId"] == self.contract_id())

    def working_orders(self) -> list[dict[str, Any]]:
        orders = self._get("order/deps", masterid=self.account_id)
        return [o for o in orders if o["ordStatus"] == "Working" and o["contractId"] == self.contract_id()]

    def contract_id(self) -> int:
        if self._contract_id is None:
            self._contract_id = int(self._get("contract/find", name=self.plan.symbol)["id"])
        return self._contract_id

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _post(self, operation: str, body: dict[str, Any]) -> Any:
        response = self.http.post(f"/{operation}", json=body)
        response.raise_for_status()
        return response.json()

    def _get(self, operation: str, **params: object) -> Any:
        response = self.http.get(f"/{operation}", params={k: str(v) for k, v in params.items()})
        response.raise_for_status()
        return response.json()
