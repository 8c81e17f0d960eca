"""A bot developer's second read of issue 12 (order strategies, order types, expiry, trade-date rolls) where the new
features meet each other and the rest: each test here failed against the server before its fix."""

import json
from typing import Any

import pytest
from server import AFTER_ESZ6_EXPIRY, Desk, order, quote
from ws_client import Opener

JSON = dict[str, Any]


def versions(desk: Desk, order_id: int) -> list[JSON]:
    return sorted(desk.api.deps("orderVersion", order_id, desk.demo), key=lambda v: int(v["id"]))


def thin(bid: float) -> JSON:
    """A quote showing one contract a side and no depth: a larger order fills one lot per quote."""
    return quote(bid=bid, ask=bid + 0.25, bid_size=1, ask_size=1, depthLevels=0)


def test_a_trailing_stop_that_triggered_and_filled_in_part_goes_on_filling_as_a_market_order(desk: Desk) -> None:
    # Arrange: long 3, a sell trailing stop 1 point below the bid
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1, qty=3))
    stop_id = desk.place(order(desk.demo1, action="Sell", qty=3, order_type="TrailingStop",
                               pegDifference=-1.0))["orderId"]
    # Act: the bid falls to the stop with one lot shown (one fills), then recovers above it
    desk.api.set_quote(desk.admin, **thin(6799.0))
    desk.api.set_quote(desk.admin, **thin(6801.0))
    # Assert: the triggered stop is a market order: it does not trail again and takes the next bid
    assert [v["stopPrice"] for v in versions(desk, stop_id)] == [6799.0]
    assert [(f["qty"], f["price"]) for f in desk.fills(stop_id)] == [(1, 6799.0), (1, 6801.0)]
    assert desk.position(desk.demo1)["netPos"] == 1


def test_a_stop_that_triggered_and_filled_in_part_goes_on_filling_when_the_market_moves_back(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1, qty=3))
    stop_id = desk.place(order(desk.demo1, action="Sell", qty=3, order_type="Stop", stopPrice=6799.0))["orderId"]

    desk.api.set_quote(desk.admin, **thin(6799.0))
    desk.api.set_quote(desk.admin, **thin(6801.0))
    desk.api.set_quote(desk.admin, **thin(6802.0))

    assert [(f["qty"], f["price"]) for f in desk.fills(stop_id)] == [(1, 6799.0), (1, 6801.0), (1, 6802.0)]
    assert desk.status(stop_id) == "Filled"


def start_strategy(desk: Desk, entry: JSON, brackets: list[JSON]) -> JSON:
    body = {"accountId": desk.demo1, "symbol": "ESZ6", "orderStrategyTypeId": 2, "action": "Buy",
            "params": json.dumps({"entryVersion": entry, "brackets": brackets})}
    result: JSON = desk.api.call("orderStrategy/startorderstrategy", body, desk.demo)
    return result


@pytest.mark.parametrize(("entry", "brackets", "named"), [
    ({"orderQty": 1, "orderType": "Limit", "price": 1e300}, [{"qty": 1, "stopLoss": -1.0}], "entryVersion.price"),
    ({"orderQty": 1, "orderType": "Stop", "stopPrice": -1e13}, [{"qty": 1, "stopLoss": -1.0}],
     "entryVersion.stopPrice"),
    ({"orderQty": 10**15}, [{"qty": 10**15, "stopLoss": -1.0}], "entryVersion.orderQty"),
    ({"orderQty": 1, "text": "x" * 65}, [{"qty": 1, "stopLoss": -1.0}], "entryVersion.text"),
])
def test_a_strategy_entry_is_held_to_placeorders_bounds_and_nothing_is_created(desk: Desk, entry: JSON,
                                                                                brackets: list[JSON],
                                                                                named: str) -> None:
    # Arrange: placeorder answers these with a 400; inside params they are an errorText
    desk.quote(bid=6800.0, ask=6800.25)
    # Act
    result = start_strategy(desk, entry, brackets)
    # Assert
    assert named in result.get("errorText", "") and result["failureReason"] == "UnknownReason", result
    assert desk.api.entities("orderStrategy", desk.demo) == []
    assert desk.api.entities("order", desk.demo) == []


def test_what_is_open_on_a_contract_is_closed_when_the_clock_passes_its_last_trade_date(desk: Desk) -> None:
    # Arrange: a running strategy (position + brackets) and a resting GTC order on ESZ6
    desk.quote(bid=6800.0, ask=6800.25)
    strategy = start_strategy(desk, {"orderQty": 1}, [{"qty": 1, "profitTarget": 2.5, "stopLoss": -1.25}])
    resting = desk.place(order(desk.demo1, order_type="Limit", price=6700.0, timeInForce="GTC"))["orderId"]
    # Act: the clock passes ESZ6's last trade date (2026-12-18)
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    # Assert: a bot must not be left with a position it can neither trade nor liquidate
    assert desk.status(resting) != "Working"
    assert desk.api.item("orderStrategy", strategy["orderStrategy"]["id"], desk.demo)["status"] != "ActiveStrategy"
    assert desk.position(desk.demo1)["netPos"] == 0


def test_a_gtc_order_modified_to_day_expires_at_the_close_of_the_session_it_was_modified_in(desk: Desk) -> None:
    # Arrange: a GTC limit placed on Tuesday, still working on Wednesday
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(order(desk.demo1, order_type="Limit", price=6790.0, timeInForce="GTC"))["orderId"]
    desk.api.set_clock("2026-11-25T15:00:00Z", desk.admin)  # Wednesday 09:00 CT
    # Act: made a Day order on Wednesday
    result = desk.api.call("order/modifyorder", {"orderId": order_id, "orderQty": 1, "orderType": "Limit",
                                                 "price": 6790.0, "timeInForce": "Day"}, desk.demo)
    desk.api.set_clock("2026-11-25T15:01:00Z", desk.admin)
    working = desk.status(order_id)
    desk.api.set_clock("2026-11-25T22:00:30Z", desk.admin)  # just after Wednesday's close
    # Assert: Wednesday's session is its day, not Tuesday's (which had closed before it became a Day order)
    assert "failureReason" not in result, result
    assert working == "Working"
    assert desk.status(order_id) == "Expired"


# Order statuses a bot may see follow each other only along docs/behaviour.md's table (None: not yet seen)
LEGAL_MOVES = {None: {"Working", "Suspended", "Rejected"}, "Suspended": {"Working", "Canceled", "Expired"},
               "Working": {"Filled", "Canceled", "Expired"}}
ACCOUNT_KINDS = {"order": "orders", "orderStrategy": "orderStrategies", "orderStrategyLink": "orderStrategyLinks",
                 "position": "positions", "cashBalance": "cashBalances", "orderVersion": "orderVersions"}


def inconsistencies(snapshot: JSON, props: list[JSON]) -> list[str]:
    """What a bot that keeps its state from the snapshot and the props after it would trip over."""
    seen = {(kind, e["id"]): e for kind, name in ACCOUNT_KINDS.items() for e in snapshot.get(name) or []}
    found: list[str] = []
    for event in props:
        kind, entity = event["entityType"], event["entity"]
        if kind not in ACCOUNT_KINDS:
            continue
        before = seen.get((kind, entity["id"]))
        if event["eventType"] == "Updated" and before is None:
            found.append(f"{kind} {entity['id']} updated before it was seen")
        if kind == "order":
            status = None if before is None else before["ordStatus"]
            if entity["ordStatus"] not in LEGAL_MOVES.get(status, set()):
                found.append(f"order {entity['id']} {status} -> {entity['ordStatus']}")
        if kind == "orderStrategy" and before is not None and before["status"] != "ActiveStrategy":
            found.append(f"orderStrategy {entity['id']} changed after it ended ({before['status']})")
        seen[(kind, entity["id"])] = entity
    return found


async def test_a_bot_following_props_through_strategies_expiry_rolls_and_liquidation_sees_a_consistent_story(
        desk: Desk, ws: Opener) -> None:
    # Arrange
    client = await ws(desk.demo)
    snapshot = await client.sync()
    desk.quote(bid=6800.0, ask=6800.25)
    # Act: a trailing-stop strategy, a Day-entry strategy and a GTD order, the close, the roll, a liquidation
    start_strategy(desk, {"orderQty": 2}, [{"qty": 1, "profitTarget": 1.0, "stopLoss": -1.0, "trailingStop": True},
                                           {"qty": 1, "profitTarget": 3.0, "stopLoss": -2.0, "breakEven": 1.0}])
    start_strategy(desk, {"orderQty": 1, "orderType": "Limit", "price": 6790.0, "timeInForce": "Day"},
                   [{"qty": 1, "stopLoss": -1.0}])
    desk.place(order(desk.demo1, order_type="Limit", price=6780.0, timeInForce="GTD",
                     expireTime="2026-11-24T22:30:00Z"))
    desk.quote(bid=6801.25, ask=6801.5)
    desk.api.set_clock("2026-11-24T22:45:00Z", desk.admin)  # the close, and the GTD inside the break
    desk.api.set_clock("2026-11-25T15:00:00Z", desk.admin)  # the roll to Wednesday, and its session
    desk.quote(bid=6801.0, ask=6801.25)
    position = desk.position(desk.demo1)
    desk.api.call("order/liquidatepositions", {"positions": [position["id"]], "admin": False}, desk.demo)
    strategies = desk.api.entities("orderStrategy", desk.demo)
    await client.wait_until(lambda: sum(p["entityType"] == "orderStrategy" for p in client.props()) >= 4,
                            what="every strategy's props")
    # Assert
    assert [s["status"] for s in strategies] == ["ExecutionInterrupted", "ExecutionFailed"]
    assert desk.position(desk.demo1)["netPos"] == 0
    assert inconsistencies(snapshot, client.props()) == []
