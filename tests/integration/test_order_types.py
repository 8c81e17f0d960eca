"""Trailing stops, MIT / LimitIfTouched and Day / GTD expiry against a running server: triggered with /sim/quote,
expired by moving /sim/clock across a session close (no waiting on wall time)."""

from server import Desk, leg, limit, order
from ws_client import Opener

# 2026-11-24 (a Tuesday) 15:00 UTC is 09:00 in Chicago; ES closes at 16:00 CT = 22:00 UTC and reopens at 23:00 UTC.
BEFORE_CLOSE = "2026-11-24T21:59:00Z"
AFTER_CLOSE = "2026-11-24T22:00:30Z"
NEXT_SESSION = "2026-11-25T15:00:00Z"


def versions(desk: Desk, order_id: int) -> list[dict[str, object]]:
    return sorted(desk.api.deps("orderVersion", order_id, desk.demo), key=lambda v: int(v["id"]))  # type: ignore


def reports(desk: Desk, order_id: int) -> list[tuple[object, object, object]]:
    # an execution report's master is its command (Tradovate's), not its order: the order's commands first
    commands = desk.api.deps("command", order_id, desk.demo)
    found = sorted((r for c in commands for r in desk.api.deps("executionReport", c["id"], desk.demo)),
                   key=lambda r: r["id"])
    assert found and all(r["orderId"] == order_id for r in found), found
    return [(r["execType"], r["ordStatus"], r.get("text")) for r in found]


def clock(desk: Desk, now: str) -> None:
    desk.api.set_clock(now, desk.admin)


# --- order types ----------------------------------------------------------------------------------


def test_a_sell_trailing_stop_trails_the_bid_up_and_fills_when_the_bid_falls_back_to_it(desk: Desk) -> None:
    # Arrange: long one, protected by a stop trailing 2 points below the bid
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1, action="Buy"))
    placed = desk.place(order(desk.demo1, action="Sell", order_type="TrailingStop", pegDifference=-2.0))
    stop_id = placed["orderId"]

    # Act: the market rises 3 points, slips 1 (the stop stays), then falls to the stop
    desk.quote(bid=6803.0, ask=6803.25)
    desk.quote(bid=6802.0, ask=6802.25)
    working = desk.status(stop_id)
    desk.quote(bid=6801.0, ask=6801.25)

    # Assert
    assert [(v["orderType"], v["stopPrice"], v["pegDifference"]) for v in versions(desk, stop_id)] == [
        ("TrailingStop", 6798.0, -2.0), ("TrailingStop", 6801.0, -2.0)]
    assert working == "Working"
    assert desk.status(stop_id) == "Filled"
    assert [(f["qty"], f["price"]) for f in desk.fills(stop_id)] == [(1, 6801.0)]
    assert desk.position(desk.demo1)["netPos"] == 0


def test_a_trailing_stop_limit_keeps_its_limit_offset_as_it_trails(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    placed = desk.place(order(desk.demo1, action="Buy", order_type="TrailingStopLimit", pegDifference=1.0,
                              stopPrice=6801.25, price=6801.75))

    desk.quote(bid=6798.0, ask=6798.25)  # the offer falls 2 points: the stop and its limit follow
    desk.quote(bid=6799.0, ask=6799.25)  # the offer reaches the stop: a buy limit at 6799.75 fills at the offer

    trail = [(v["orderType"], v.get("stopPrice"), v["price"]) for v in versions(desk, placed["orderId"])]
    assert trail == [("TrailingStopLimit", 6801.25, 6801.75), ("TrailingStopLimit", 6799.25, 6799.75),
                     ("Limit", None, 6799.75)]  # triggered: from then on a plain limit
    assert [(f["qty"], f["price"]) for f in desk.fills(placed["orderId"])] == [(1, 6799.25)]


def test_a_buy_mit_waits_above_the_market_and_buys_at_the_offer_when_touched(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    placed = desk.place(order(desk.demo1, action="Buy", order_type="MIT", limitIfTouchedPrice=6798.0))
    resting = desk.status(placed["orderId"])

    desk.quote(bid=6797.5, ask=6797.75)

    assert resting == "Working"
    assert [(f["qty"], f["price"]) for f in desk.fills(placed["orderId"])] == [(1, 6797.75)]


def test_a_sell_limit_if_touched_becomes_a_limit_when_the_bid_touches_its_trigger(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    placed = desk.place(order(desk.demo1, action="Sell", order_type="LimitIfTouched", limitIfTouchedPrice=6802.0,
                              price=6802.5))

    desk.quote(bid=6802.0, ask=6802.25)  # touched: now a sell limit at 6802.50, above the bid
    touched = desk.status(placed["orderId"]), desk.fills(placed["orderId"])
    desk.quote(bid=6802.5, ask=6802.75)

    assert touched == ("Working", [])
    assert [(v["orderType"], v["price"]) for v in versions(desk, placed["orderId"])] == [
        ("LimitIfTouched", 6802.5), ("Limit", 6802.5)]
    assert [(f["qty"], f["price"]) for f in desk.fills(placed["orderId"])] == [(1, 6802.5)]


def test_a_trailing_stop_bracket_trails_from_the_fill_and_closes_the_position(desk: Desk) -> None:
    # Arrange: a limit entry with a target and a trailing stop
    desk.quote(bid=6800.0, ask=6800.25)
    body = {**limit(desk.demo1, 6799.0), "bracket1": leg("Sell", "Limit", price=6810.0),
            "bracket2": leg("Sell", "TrailingStop", pegDifference=-1.0)}
    placed = desk.place(body, operation="order/placeoso")
    target, trailer = placed["oso1Id"], placed["oso2Id"]
    held = desk.status(trailer)

    # Act: the entry fills, the market rises 2 points, then drops back
    desk.quote(bid=6798.75, ask=6799.0)
    desk.quote(bid=6801.0, ask=6801.25)
    desk.quote(bid=6799.75, ask=6800.0)

    # Assert
    assert held == "Suspended"
    assert [v.get("stopPrice") for v in versions(desk, trailer)] == [None, 6797.75, 6800.0]
    assert (desk.status(trailer), desk.status(target)) == ("Filled", "Canceled")
    assert [(f["qty"], f["price"]) for f in desk.fills(trailer)] == [(1, 6799.75)]
    assert desk.position(desk.demo1)["netPos"] == 0


def test_bad_order_type_parameters_answer_failure_reasons_and_create_nothing(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    before = len(desk.api.entities("order", desk.demo))
    cases = [
        (order(desk.demo1, action="Sell", order_type="TrailingStop"), "InvalidPrice", "pegDifference"),
        (order(desk.demo1, action="Sell", order_type="TrailingStop", pegDifference=0), "InvalidPrice",
         "pegDifference"),
        (order(desk.demo1, action="Sell", order_type="TrailingStop", pegDifference=2.0), "InvalidPrice",
         "negative"),
        (order(desk.demo1, action="Buy", order_type="QTS", price=6800.0), "Unsupported", "QTS"),
        (limit(desk.demo1, 6790.0, timeInForce="GTD"), "UnknownReason", "expireTime"),
        (limit(desk.demo1, 6790.0, timeInForce="GTD", expireTime="2026-11-24T14:00:00Z"), "UnknownReason",
         "expireTime"),
    ]
    for body, reason, named in cases:
        result = desk.place(body)
        assert result["failureReason"] == reason, (body, result)
        assert named in result["failureText"], result
        assert "orderId" not in result
    assert len(desk.api.entities("order", desk.demo)) == before


def test_a_peg_difference_that_is_not_a_number_is_a_400_naming_the_field(desk: Desk) -> None:
    body = order(desk.demo1, action="Sell", order_type="TrailingStop", pegDifference="two")

    response = desk.api.post("/v1/order/placeorder", body, desk.demo)

    assert response.status_code == 400
    assert "pegDifference" in response.text


def test_only_the_quantity_of_a_trailing_stop_can_be_modified(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    placed = desk.place(order(desk.demo1, action="Sell", order_type="TrailingStop", pegDifference=-2.0))
    modify = {"orderId": placed["orderId"], "orderQty": 1, "orderType": "TrailingStop", "pegDifference": -1.0}

    refused = desk.api.call("order/modifyorder", modify, desk.demo)
    resized = desk.api.call("order/modifyorder", {**modify, "orderQty": 2, "pegDifference": -2.0}, desk.demo)

    assert refused["failureReason"] == "TrailingStopNonOrderQtyModify"
    assert "commandId" in resized and "failureReason" not in resized
    assert [(v["orderQty"], v["stopPrice"]) for v in versions(desk, placed["orderId"])][-1] == (2, 6798.0)


# --- time in force --------------------------------------------------------------------------------


async def test_a_day_order_expires_when_the_clock_jumps_across_the_session_close(desk: Desk, ws: Opener) -> None:
    # Arrange: a Day limit, a GTC limit, and a socket listening for props
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(desk.demo)
    await client.sync()
    day = desk.place(limit(desk.demo1, 6790.0, timeInForce="Day"))["orderId"]
    gtc = desk.place(limit(desk.demo1, 6790.0, timeInForce="GTC"))["orderId"]

    # Act
    clock(desk, BEFORE_CLOSE)
    before = desk.status(day)
    clock(desk, NEXT_SESSION)  # over the close, the break and the night session

    # Assert
    assert before == "Working"
    assert (desk.status(day), desk.status(gtc)) == ("Expired", "Working")
    assert reports(desk, day)[-1] == ("Expired", "Expired", "Day order expired at the session close")
    await client.wait_until(lambda: any(p["entityType"] == "order" and p["entity"]["id"] == day
                                        and p["entity"]["ordStatus"] == "Expired" for p in client.props()),
                            what="the order's Expired props event")
    await client.wait_until(lambda: any(p["entityType"] == "executionReport" and p["entity"]["orderId"] == day
                                        and p["entity"]["execType"] == "Expired" for p in client.props()),
                            what="the Expired execution report's props event")


def test_a_gtd_order_expires_at_its_expire_time_and_not_before(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    gtd = desk.place(limit(desk.demo1, 6790.0, timeInForce="GTD", expireTime="2026-11-24T16:00:00Z"))["orderId"]

    clock(desk, "2026-11-24T15:59:59Z")
    before = desk.status(gtd)
    clock(desk, "2026-11-24T16:00:00Z")

    assert (before, desk.status(gtd)) == ("Working", "Expired")
    assert reports(desk, gtd)[-1] == ("Expired", "Expired", "GTD order expired at its expireTime")


def test_the_held_brackets_of_an_expiring_day_entry_expire_with_it(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    body = {**limit(desk.demo1, 6790.0, timeInForce="Day"), "bracket1": leg("Sell", "Limit", price=6810.0),
            "bracket2": leg("Sell", "TrailingStop", pegDifference=-4.0)}
    placed = desk.place(body, operation="order/placeoso")

    clock(desk, AFTER_CLOSE)

    statuses = [desk.status(placed[k]) for k in ("orderId", "oso1Id", "oso2Id")]
    assert statuses == ["Expired", "Expired", "Expired"]
    assert reports(desk, placed["oso1Id"])[-1] == ("Expired", "Expired", "Parent order expired")


def test_a_day_bracket_leg_expires_at_the_close_and_its_oco_sibling_keeps_working(desk: Desk) -> None:
    # Arrange: long one with a GTC target and a Day stop, OCO-linked
    desk.quote(bid=6800.0, ask=6800.25)
    body = {**order(desk.demo1, action="Buy"), "bracket1": {**leg("Sell", "Limit", price=6810.0),
                                                             "timeInForce": "GTC"},
            "bracket2": {**leg("Sell", "Stop", stopPrice=6790.0), "timeInForce": "Day"}}
    placed = desk.place(body, operation="order/placeoso")

    clock(desk, AFTER_CLOSE)

    assert (desk.status(placed["oso1Id"]), desk.status(placed["oso2Id"])) == ("Working", "Expired")
