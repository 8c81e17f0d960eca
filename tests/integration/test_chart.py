"""`md/getChart` over a real socket: the ids, the history up to `eoh`, realtime packets as trades print through
`/sim/quote`, time ranges, tick charts (base price/time plus offsets), daily bars across the trade-date roll,
`md/cancelChart`, and bad input answered with the field at fault."""

from typing import Any

from server import ADMIN, ADMIN_PASSWORD, FRONT, Desk
from ws_client import JSON, Opener, WsClient

TICK = 0.25
MINUTE = {"underlyingType": "MinuteBar", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits"}
TICKS = {"underlyingType": "Tick", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits"}



def packets(client: WsClient, start: int = 0) -> list[JSON]:
    return [p for e in client.events[start:] if e.kind == "chart" for p in e.data["charts"]]


def of(client: WsClient, packet_id: int, start: int = 0) -> list[JSON]:
    return [p for p in packets(client, start) if p["id"] == packet_id]


def trade(desk: Desk, bid: float, ask: float, last: float, size: int, *, advance: float = 0) -> None:
    """One print on ESZ6 at the simulator's clock (moved `advance` seconds first)."""
    if advance:
        desk.api.sim("clock", {"advanceSeconds": advance}, desk.admin)
    desk.quote(bid=bid, ask=ask, last=last, lastSize=size)


def three_trades(desk: Desk) -> None:
    """15:00:00 6800.00 x2 at the bid, 15:00:20 6800.50 x1 at the offer, 15:01:00 6799.75 x3 at the bid."""
    desk.quote(bid=6800.0, ask=6800.25)  # no trade: the quote the first trade is judged against
    trade(desk, 6800.0, 6800.25, 6800.0, 2)
    trade(desk, 6800.25, 6800.5, 6800.5, 1, advance=20)
    trade(desk, 6799.75, 6800.0, 6799.75, 3, advance=40)


def bar(timestamp: str, o: float, h: float, low: float, c: float, **volumes: int) -> JSON:
    fields = {"upVolume": 0, "downVolume": 0, "upTicks": 0, "downTicks": 0, "bidVolume": 0, "offerVolume": 0}
    return {"timestamp": timestamp, "open": o, "high": h, "low": low, "close": c, **fields, **volumes}


BAR_1500 = bar("2026-11-24T15:00:00.000Z", 6800.0, 6800.5, 6800.0, 6800.5, upVolume=3, upTicks=2, bidVolume=2,
               offerVolume=1)
BAR_1501 = bar("2026-11-24T15:01:00.000Z", 6799.75, 6799.75, 6799.75, 6799.75, downVolume=3, downTicks=1, bidVolume=3)


async def get_chart(client: WsClient, body: JSON) -> tuple[int, int, list[JSON]]:
    """Request a chart; its ids and its history packets (up to and including `eoh`)."""
    start = len(client.events)
    ids = await client.call("md/getChart", body)
    assert set(ids) == {"historicalId", "realtimeId"} and ids["historicalId"] != ids["realtimeId"], ids
    historical = ids["historicalId"]
    await client.wait_until(lambda: any(p.get("eoh") for p in of(client, historical, start)), what="eoh")
    history = of(client, historical, start)
    assert history[-1] == {"id": historical, "eoh": True}
    return historical, ids["realtimeId"], history[:-1]


async def test_minute_bars_history_then_realtime_then_cancel(desk: Desk, ws: Opener) -> None:
    three_trades(desk)
    client = await ws(desk.demo)
    historical, realtime, history = await get_chart(client, {
        "symbol": FRONT, "chartDescription": MINUTE, "timeRange": {"asMuchAsElements": 10}})
    assert history == [{"id": historical, "td": 20261124, "bars": [BAR_1500, BAR_1501]}]

    # A second chart on the same socket: a time window, and later the fence for the cancelled one.
    fence_id, fence_rt, window = await get_chart(client, {
        "symbol": desk.front, "chartDescription": MINUTE,
        "timeRange": {"closestTimestamp": "2026-11-24T15:00:30Z", "asFarAsTimestamp": "2026-11-24T14:00:00Z"}})
    assert window == [{"id": fence_id, "td": 20261124, "bars": [BAR_1500]}]

    start = len(client.events)
    trade(desk, 6800.0, 6800.25, 6800.25, 4)  # still 15:01: the current bar grows
    await client.wait_until(lambda: bool(of(client, realtime, start)), what="a realtime bar")
    grown = bar("2026-11-24T15:01:00.000Z", 6799.75, 6800.25, 6799.75, 6800.25, upVolume=4, downVolume=3, upTicks=1,
                downTicks=1, bidVolume=3, offerVolume=4)
    assert of(client, realtime, start) == [{"id": realtime, "td": 20261124, "bars": [grown]}]
    assert of(client, fence_rt, start) == [{"id": fence_rt, "td": 20261124, "bars": [grown]}]

    start = len(client.events)
    trade(desk, 6800.25, 6800.5, 6800.5, 1, advance=60)  # 15:02: a new bar
    await client.wait_until(lambda: bool(of(client, realtime, start)), what="a new realtime bar")
    new_bar = bar("2026-11-24T15:02:00.000Z", 6800.5, 6800.5, 6800.5, 6800.5, upVolume=1, upTicks=1, offerVolume=1)
    assert [p["bars"] for p in of(client, realtime, start)] == [[new_bar]]

    assert await client.request("md/cancelChart", {"subscriptionId": realtime}) == {"s": 200, "i": 3}
    start = len(client.events)
    trade(desk, 6800.5, 6800.75, 6800.75, 2)
    await client.wait_until(lambda: bool(of(client, fence_rt, start)), what="the other chart's update")
    assert of(client, realtime, start) == []  # same frame as the fence's packet, had there been one
    assert await client.request("md/cancelChart", {"subscriptionId": realtime}) == {
        "s": 404, "i": 4, "d": f"subscriptionId: no chart {realtime} on this socket"}


async def test_tick_chart_sends_base_price_and_time_with_offsets(desk: Desk, ws: Opener) -> None:
    three_trades(desk)
    client = await ws(desk.demo)
    historical, realtime, history = await get_chart(client, {
        "symbol": FRONT, "chartDescription": TICKS, "timeRange": {"asMuchAsElements": 2}})
    assert len(history) == 1
    packet = history[0]
    base_time = packet["bt"]
    assert {k: v for k, v in packet.items() if k not in ("tks", "bt")} == {
        "id": historical, "s": "db", "td": 20261124, "bp": 27202, "ts": TICK}
    assert packet["tks"] == [
        {"id": 2, "t": 0, "p": 0, "s": 1, "b": -1, "bs": 10, "a": 0, "as": 10},
        {"id": 3, "t": 40_000, "p": -3, "s": 3, "b": -3, "bs": 10, "a": -2, "as": 10},
    ]
    prices = [(packet["bp"] + t["p"]) * packet["ts"] for t in packet["tks"]]
    assert prices == [6800.5, 6799.75]
    assert base_time == 1_795_532_420_000  # 2026-11-24T15:00:20Z in epoch milliseconds

    older, _, by_id = await get_chart(client, {
        "symbol": FRONT, "chartDescription": TICKS, "timeRange": {"closestTickId": 2}})
    assert [t["id"] for p in by_id for t in p["tks"]] == [1, 2]
    assert by_id[0]["bp"] == 27200 and by_id[0]["id"] == older

    start = len(client.events)
    trade(desk, 6800.0, 6800.25, 6800.25, 4, advance=1.5)
    await client.wait_until(lambda: bool(of(client, realtime, start)), what="a realtime tick")
    live = of(client, realtime, start)
    assert live == [{"id": realtime, "s": "rt", "td": 20261124, "bp": 27201, "bt": base_time + 41_500, "ts": TICK,
                     "tks": [{"id": 4, "t": 0, "p": 0, "s": 4, "b": -1, "bs": 10, "a": 0, "as": 10}]}]


async def test_daily_bars_split_at_the_trade_date_roll(desk: Desk, ws: Opener) -> None:
    desk.api.set_clock("2026-11-24T22:50:00Z", desk.admin)  # 16:50 in Chicago: trade date 2026-11-24
    admin = desk.api.token(ADMIN, ADMIN_PASSWORD)  # a fresh session (tokens outlive clock moves)
    desk.api.set_quote(admin, bid=6800.0, ask=6800.25, last=6800.0, lastSize=1)
    desk.api.set_clock("2026-11-24T23:10:00Z", admin)  # 17:10 in Chicago: trade date 2026-11-25
    desk.api.set_quote(admin, bid=6801.0, ask=6801.25, last=6801.0, lastSize=2)
    desk.api.set_quote(admin, bid=6800.5, ask=6800.75, last=6800.5, lastSize=1)
    client = await ws(admin)
    historical, _, history = await get_chart(client, {
        "symbol": FRONT, "chartDescription": {**MINUTE, "underlyingType": "DailyBar"}})
    assert [(p["td"], [(b["timestamp"], b["open"], b["high"], b["low"], b["close"]) for b in p["bars"]])
            for p in history] == [
        (20261124, [("2026-11-24T00:00:00.000Z", 6800.0, 6800.0, 6800.0, 6800.0)]),
        (20261125, [("2026-11-25T00:00:00.000Z", 6801.0, 6801.0, 6800.5, 6800.5)]),
    ]
    assert all(p["id"] == historical for p in history)


async def test_a_contract_without_trades_has_an_empty_history(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    historical, _, history = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE,
                                                      "timeRange": {"asMuchAsElements": 5}})
    assert history == []
    assert historical > 0


BAD: list[tuple[str, Any, int, str]] = [
    ("unknown symbol", {"symbol": "NOPE9", "chartDescription": MINUTE}, 404, "symbol: "),
    ("unknown contract id", {"symbol": 987654, "chartDescription": MINUTE}, 404, "symbol: "),
    ("unsupported type", {"symbol": FRONT, "chartDescription": {**MINUTE, "underlyingType": "Renko"}}, 400,
     "chartDescription.underlyingType: "),
    ("unsupported unit", {"symbol": FRONT, "chartDescription": {**MINUTE, "elementSizeUnit": "Volume"}}, 400,
     "chartDescription.elementSizeUnit: "),
    ("zero size", {"symbol": FRONT, "chartDescription": {**MINUTE, "elementSize": 0}}, 400,
     "chartDescription.elementSize: "),
    ("negative size", {"symbol": FRONT, "chartDescription": {**TICKS, "elementSize": -5}}, 400,
     "chartDescription.elementSize: "),
    ("size as text", {"symbol": FRONT, "chartDescription": {**MINUTE, "elementSize": "1"}}, 400,
     "chartDescription.elementSize: "),
    ("no description", {"symbol": FRONT}, 400, "chartDescription"),
    ("no symbol", {"chartDescription": MINUTE}, 400, "symbol"),
    ("no unit", {"symbol": FRONT, "chartDescription": {"underlyingType": "Tick", "elementSize": 1}}, 400,
     "elementSizeUnit"),
    ("no elements", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": {"asMuchAsElements": 0}}, 400,
     "timeRange.asMuchAsElements: "),
    ("bad timestamp", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": {"closestTimestamp": "soon"}},
     400, "timeRange.closestTimestamp: "),
    ("negative tick id", {"symbol": FRONT, "chartDescription": TICKS, "timeRange": {"closestTickId": -1}}, 400,
     "timeRange.closestTickId: "),
    ("not an object", [1, 2], 400, "body: "),
    ("not json", "{symbol", 400, "body: "),
]


async def test_bad_chart_requests_answer_the_field_at_fault_and_the_socket_goes_on(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    for name, body, status, prefix in BAD:
        answer = await client.request("md/getChart", body)
        assert answer["s"] == status and isinstance(answer["d"], str), (name, answer)
        assert answer["d"].startswith(prefix) or (prefix in answer["d"] and not prefix.endswith(" ")), (name, answer)
    for body in ({"subscriptionId": 12345}, {}, {"subscriptionId": "x"}):
        answer = await client.request("md/cancelChart", body)
        assert answer["s"] in (400, 404) and "subscriptionId" in answer["d"], answer
    assert packets(client) == []  # nothing was subscribed
    assert (await client.request("auth/me"))["s"] == 200
    _, _, history = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    assert history == []
