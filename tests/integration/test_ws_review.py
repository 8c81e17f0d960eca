"""Review of the WebSocket charts (`md/getChart` / `md/cancelChart`) and of the socket close path, against the real
server: ordering of the reply, history and realtime packets under backpressure, `/sim/reset` with charts
subscribed, the clock moved backwards and across the trade-date roll, cancel edge cases, the 100-charts limit,
garbage bodies, many sockets with fast trades (coalescing keeps the newest bar state), and the close path (close
codes matching the `c` frame, client pings and closes, SIGTERM with charts streaming).

The bugs this review found are fixed; their tests now pass.
"""

import asyncio
import json
import os
import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server import ADMIN, ADMIN_PASSWORD, BACK, FRONT, OPEN_TIME, Api, Desk, ServerProcess, evaluation_account, limit
from ws_client import JSON, Opener, RawSocket, WsClient, authorized

MINUTE = {"underlyingType": "MinuteBar", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits"}
DAILY = {**MINUTE, "underlyingType": "DailyBar"}
TICKS = {"underlyingType": "Tick", "elementSize": 1, "elementSizeUnit": "UnderlyingUnits"}
TICK3 = {**TICKS, "elementSize": 3}
TICK = 0.25
MAX_CHARTS = 100  # documented: at most 100 charts per socket
SHUTDOWN_BOUND = 3.0  # documented: SIGTERM ends the server within about this long



def packets(client: WsClient, start: int = 0) -> list[JSON]:
    return [p for e in client.events[start:] if e.kind == "chart" for p in e.data["charts"]]


def of(client: WsClient, packet_id: int, start: int = 0) -> list[JSON]:
    return [p for p in packets(client, start) if p["id"] == packet_id]


async def get_chart(client: WsClient, body: JSON) -> tuple[int, int, list[JSON]]:
    """Request a chart; its ids and its history packets (without the `eoh` marker)."""
    start = len(client.events)
    ids = await client.call("md/getChart", body)
    historical = ids["historicalId"]
    await client.wait_until(lambda: any(p.get("eoh") for p in of(client, historical, start)), what="eoh")
    history = of(client, historical, start)
    assert history[-1] == {"id": historical, "eoh": True}
    return historical, ids["realtimeId"], history[:-1]


def trade(desk: Desk, price: float, size: int = 1, *, advance: float = 0, token: str | None = None) -> None:
    """One print on ESZ6 at `price` (a one-tick-wide quote around it), the clock moved `advance` seconds first."""
    admin = token or desk.admin
    if advance:
        desk.api.sim("clock", {"advanceSeconds": advance}, admin)
    desk.api.set_quote(admin, bid=price - TICK, ask=price + TICK, last=price, lastSize=size)


def latest_bars(chart_packets: list[JSON]) -> dict[str, JSON]:
    """The last state of each bar (by timestamp) in packet order."""
    state: dict[str, JSON] = {}
    for packet in chart_packets:
        for bar in packet.get("bars", []):
            state[bar["timestamp"]] = bar
    return state


def tick_ids(chart_packets: list[JSON]) -> list[int]:
    return [t["id"] for p in chart_packets for t in p.get("tks", [])]


def absolute_ticks(chart_packets: list[JSON]) -> list[tuple[int, int, float, int]]:
    """(id, epoch ms, price, size) of every tick."""
    return [(t["id"], p["bt"] + t["t"], (p["bp"] + t["p"]) * p["ts"], t["s"])
            for p in chart_packets for t in p.get("tks", [])]


def server_send_queue(server_port: int, client_port: int) -> int | None:
    """Bytes the kernel holds unsent on the server's end of a loopback connection (None when not visible)."""
    tcp = Path("/proc/net/tcp")
    if not tcp.exists():
        return None
    for line in tcp.read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port:
            return int(fields[4].split(":")[0], 16)
    return None


def block_on_dom(desk: Desk, server: ServerProcess, slow: RawSocket) -> None:
    """Subscribe `slow` (authorized, never reading) to a 1,000-level DOM (about 50 kB a frame) and move the quote
    until the server's sender is stuck on a DOM frame: the kernel's send buffer full and not moving, and more
    frames offered after that (then the transport's own buffer is past its high-water mark)."""
    slow.send_text(f'md/subscribeDOM\n1\n\n{{"symbol":"{FRONT}"}}')
    client_port = slow.sock.getsockname()[1]
    moves, last, still = 0, -1, 0
    while moves < 600 and (moves < 100 or still < 2):
        for _ in range(20):
            desk.quote(bid=6800.0 + moves * 0.25, ask=6800.25 + moves * 0.25, depthLevels=1000, depthSize=7)
            moves += 1
        queued = server_send_queue(server.port, client_port)
        if queued is None:
            still = 2 if moves >= 200 else 0  # no /proc: flood generously
        else:
            still = still + 1 if queued == last and queued > 0 else 0
            last = queued


# --- ordering of reply, history and realtime -----------------------------------------------------------------------


async def test_realtime_packets_never_precede_the_reply_and_the_history(desk: Desk, server: ServerProcess) -> None:
    """A reader behind on a DOM stream asks for a chart; a trade follows. Whatever it reads later must be the
    reply, then the history up to eoh, then realtime: a client learns the ids from the reply (Tradovate's own
    sample filters chart packets by them), so a packet before it is lost."""
    desk.quote(bid=6800.0, ask=6800.25)
    slow = RawSocket(server.base_url)  # a 4 KiB receive buffer, read only at the end
    try:
        slow.send_text(f"authorize\n0\n\n{desk.admin}")
        await asyncio.to_thread(block_on_dom, desk, server, slow)
        slow.send_text(f"md/getChart\n2\n\n{json.dumps({'symbol': FRONT, 'chartDescription': MINUTE})}")
        await asyncio.sleep(0.5)  # the request is read and answered into the queue
        await asyncio.to_thread(trade, desk, 6900.0, 4)
        await asyncio.sleep(0.3)
        messages = await asyncio.to_thread(slow.read_frames, 2.0)
    finally:
        slow.close()
    seen: list[str] = []
    for message in messages:
        if message.startswith("a"):
            for item in json.loads(message[1:]):
                if item.get("i") == 2:
                    seen.append("reply")
                elif item.get("e") == "chart":
                    seen += ["eoh" if p.get("eoh") else f"packet {p['id']}" for p in item["d"]["charts"]]
    assert "reply" in seen and "eoh" in seen, seen
    assert seen[:2] == ["reply", "eoh"], seen


# --- /sim/reset ----------------------------------------------------------------------------------------------------


async def test_a_chart_subscribed_before_a_reset_keeps_streaming_the_new_trades(desk: Desk, ws: Opener) -> None:
    trade(desk, 6800.0)
    client = await ws(desk.demo)
    _, realtime, history = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    assert len(history) == 1
    desk.api.reset(desk.admin)
    assert desk.api.find("contract", FRONT, desk.admin)["id"] == desk.front  # the same contract id
    start = len(client.events)
    trade(desk, 6801.0, 3)
    # A chart requested now sees the trade ...
    _, _, fresh = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    assert [(b["open"], b["upVolume"] + b["downVolume"]) for b in fresh[0]["bars"]] == [(6801.0, 3)]
    # ... and so should the chart subscribed before the reset.
    await client.wait_until(lambda: bool(of(client, realtime, start)), within=3, what="realtime after the reset")


async def test_reset_with_charts_subscribed_keeps_the_socket_and_empties_the_history(desk: Desk, ws: Opener) -> None:
    trade(desk, 6800.0)
    client = await ws(desk.demo)
    await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
    desk.api.reset(desk.admin)
    _, _, history = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
    assert history == []
    assert (await client.request("auth/me"))["s"] == 200 and not client.ended


# --- the simulator clock -------------------------------------------------------------------------------------------


async def test_clock_moved_back_rebuilds_the_older_bar_in_full_and_matches_a_fresh_history(desk: Desk,
                                                                                         ws: Opener) -> None:
    trade(desk, 6800.0, 2)  # 15:00:00
    trade(desk, 6801.0, 1, advance=120)  # 15:02:00
    client = await ws(desk.demo)
    _, realtime, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    start = len(client.events)
    desk.api.set_clock("2026-11-24T15:00:30Z", desk.admin)
    trade(desk, 6799.0, 5)  # back in the 15:00 bar
    await client.wait_until(lambda: bool(of(client, realtime, start)), what="the rebuilt bar")
    rebuilt = latest_bars(of(client, realtime, start))
    assert list(rebuilt) == ["2026-11-24T15:00:00.000Z"]
    _, _, fresh = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    truth = latest_bars(fresh)
    assert rebuilt["2026-11-24T15:00:00.000Z"] == truth["2026-11-24T15:00:00.000Z"]
    assert (truth["2026-11-24T15:00:00.000Z"]["open"], truth["2026-11-24T15:00:00.000Z"]["close"]) == (6800.0, 6799.0)
    start = len(client.events)
    desk.api.set_clock("2026-11-24T15:02:10Z", desk.admin)
    trade(desk, 6802.0, 1)  # forward again, into the 15:02 bar: rebuilt with its earlier trade
    await client.wait_until(lambda: bool(of(client, realtime, start)), what="the 15:02 bar")
    assert latest_bars(of(client, realtime, start))["2026-11-24T15:02:00.000Z"] == {
        "timestamp": "2026-11-24T15:02:00.000Z", "open": 6801.0, "high": 6802.0, "low": 6801.0, "close": 6802.0,
        "upVolume": 2, "downVolume": 0, "upTicks": 2, "downTicks": 0, "bidVolume": 0, "offerVolume": 2}


async def test_frozen_clock_trades_share_one_minute_bar_and_ticks_keep_their_ids(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    _, minute_rt, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    _, tick_rt, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
    prices = [6800.0, 6800.5, 6800.25, 6799.75, 6800.0]
    for price in prices:
        trade(desk, price, 2)
    await client.wait_until(lambda: len(tick_ids(of(client, tick_rt))) == len(prices), what="every tick")
    assert latest_bars(of(client, minute_rt)) == {"2026-11-24T15:00:00.000Z": {
        "timestamp": "2026-11-24T15:00:00.000Z", "open": 6800.0, "high": 6800.5, "low": 6799.75, "close": 6800.0,
        "upVolume": 6, "downVolume": 4, "upTicks": 3, "downTicks": 2, "bidVolume": 6, "offerVolume": 4}}
    ticks = absolute_ticks(of(client, tick_rt))
    assert [t[0] for t in ticks] == sorted({t[0] for t in ticks})  # increasing, no repeats
    assert [t[2] for t in ticks] == prices
    assert len({t[1] for t in ticks}) == 1  # one instant


async def get_chart_at(base_url: str, token: str, body: JSON) -> list[JSON]:
    client = await authorized(base_url, token)
    try:
        _, _, history = await get_chart(client, body)
        return history
    finally:
        await client.close()


async def test_realtime_ticks_and_minute_bars_split_at_the_trade_date_roll(desk: Desk, server: ServerProcess) -> None:
    desk.api.set_clock("2026-11-24T22:59:30Z", desk.admin)  # 16:59:30 in Chicago: trade date 2026-11-24
    admin = desk.api.token(ADMIN, ADMIN_PASSWORD)  # the old token expired with the clock move
    trade(desk, 6800.0, token=admin)
    client = await authorized(server.base_url, admin)
    try:
        _, tick_rt, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
        _, minute_rt, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
        trade(desk, 6800.25, token=admin)  # 22:59:30 again: still 2026-11-24
        desk.api.set_clock("2026-11-24T23:00:10Z", admin)  # 17:00:10 in Chicago: trade date 2026-11-25
        trade(desk, 6800.5, token=admin)
        await client.wait_until(lambda: len(tick_ids(of(client, tick_rt))) == 2, what="both realtime ticks")
        await client.wait_until(lambda: "2026-11-24T23:00:00.000Z" in latest_bars(of(client, minute_rt)),
                                what="the 23:00 bar")
        by_date = {p["td"]: [t["id"] for t in p["tks"]] for p in of(client, tick_rt)}
        assert sorted(by_date) == [20261124, 20261125] and all(len(ids) == 1 for ids in by_date.values()), by_date
        minute_dates = {b["timestamp"]: p["td"] for p in of(client, minute_rt) for b in p["bars"]}
        assert minute_dates == {"2026-11-24T22:59:00.000Z": 20261124, "2026-11-24T23:00:00.000Z": 20261125}
    finally:
        await client.close()


async def test_daily_bars_up_to_now_include_the_current_trade_date_after_the_roll(desk: Desk,
                                                                                  server: ServerProcess) -> None:
    desk.api.set_clock("2026-11-24T22:50:00Z", desk.admin)  # 16:50 in Chicago: trade date 2026-11-24
    admin = desk.api.token(ADMIN, ADMIN_PASSWORD)
    trade(desk, 6800.0, token=admin)
    desk.api.set_clock("2026-11-24T23:10:00Z", admin)  # 17:10 in Chicago: trade date 2026-11-25
    trade(desk, 6801.0, 2, token=admin)
    history = await get_chart_at(server.base_url, admin, {
        "symbol": FRONT, "chartDescription": DAILY, "timeRange": {"closestTimestamp": "2026-11-24T23:10:00Z"}})
    assert [p["td"] for p in history] == [20261124, 20261125]  # every trade so far is before `closestTimestamp`


# --- cancelChart and the limit -------------------------------------------------------------------------------------


async def test_cancel_chart_is_per_socket_and_once(desk: Desk, ws: Opener) -> None:
    owner = await ws(desk.demo)
    other = await ws(desk.demo)
    _, realtime, _ = await get_chart(owner, {"symbol": FRONT, "chartDescription": MINUTE})
    answer = await other.request("md/cancelChart", {"subscriptionId": realtime})
    assert answer["s"] == 404 and "subscriptionId" in answer["d"], answer
    trade(desk, 6800.0)
    await owner.wait_until(lambda: bool(of(owner, realtime)), what="the chart still streaming")
    assert await owner.call("md/cancelChart", {"subscriptionId": realtime}) is None
    second = await owner.request("md/cancelChart", {"subscriptionId": realtime})
    assert second["s"] == 404, second
    start = len(owner.events)
    _, fence, _ = await get_chart(owner, {"symbol": FRONT, "chartDescription": TICKS})
    trade(desk, 6800.25)
    await owner.wait_until(lambda: bool(of(owner, fence, start)), what="the fence chart's tick")
    assert of(owner, realtime, start) == []
    assert not owner.ended and not other.ended


async def test_cancel_by_the_historical_id_as_tradovates_tutorial_does_stops_the_chart(desk: Desk,
                                                                                       ws: Opener) -> None:
    client = await ws(desk.demo)
    historical, realtime, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    _, fence, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
    answer = await client.request("md/cancelChart", {"subscriptionId": historical})
    start = len(client.events)
    trade(desk, 6800.0)
    await client.wait_until(lambda: bool(of(client, fence, start)), what="the fence chart's tick")
    assert (answer["s"], of(client, realtime, start)) == (200, [])


async def test_at_most_100_charts_per_socket_and_a_cancel_frees_a_place(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    body = {"symbol": FRONT, "chartDescription": MINUTE}
    ids = [await client.call("md/getChart", body) for _ in range(MAX_CHARTS)]
    refused = await client.request("md/getChart", body)
    assert refused["s"] == 400 and "100" in refused["d"], refused
    assert await client.call("md/cancelChart", {"subscriptionId": ids[0]["realtimeId"]}) is None
    again = await client.call("md/getChart", {"symbol": BACK, "chartDescription": TICKS})
    assert again["realtimeId"] > ids[-1]["realtimeId"]
    # Another socket of the same user has its own 100.
    other = await ws(desk.demo)
    assert (await other.request("md/getChart", body))["s"] == 200
    # Every chart still gets the trades.
    start = len(client.events)
    trade(desk, 6800.0)
    live = {i["realtimeId"] for i in ids[1:]}
    await client.wait_until(lambda: live <= {p["id"] for p in packets(client, start)}, what="99 realtime packets")


GARBAGE: list[tuple[str, Any, int, str]] = [
    ("null body", "null", 400, "body"),
    ("empty body", "", 400, "symbol"),
    ("description null", {"symbol": FRONT, "chartDescription": None}, 400, "chartDescription"),
    ("description a list", {"symbol": FRONT, "chartDescription": [MINUTE]}, 400, "chartDescription"),
    ("type null", {"symbol": FRONT, "chartDescription": {**MINUTE, "underlyingType": None}}, 400,
     "chartDescription.underlyingType"),
    ("type lowercase", {"symbol": FRONT, "chartDescription": {**MINUTE, "underlyingType": "minutebar"}}, 400,
     "chartDescription.underlyingType"),
    ("type DOM", {"symbol": FRONT, "chartDescription": {**MINUTE, "underlyingType": "DOM"}}, 400,
     "chartDescription.underlyingType"),
    ("huge size", {"symbol": FRONT, "chartDescription": {**MINUTE, "elementSize": 10**30}}, 400,
     "chartDescription.elementSize"),
    ("size above the bound", {"symbol": FRONT, "chartDescription": {**DAILY, "elementSize": 1_000_001}}, 400,
     "chartDescription.elementSize"),
    ("size float", {"symbol": FRONT, "chartDescription": {**MINUTE, "elementSize": 1.5}}, 400,
     "chartDescription.elementSize"),
    ("histogram text", {"symbol": FRONT, "chartDescription": {**MINUTE, "withHistogram": "yes"}}, 400,
     "chartDescription.withHistogram"),
    ("symbol bool", {"symbol": True, "chartDescription": MINUTE}, 400, "symbol"),
    ("symbol float", {"symbol": 1.5, "chartDescription": MINUTE}, 400, "symbol"),
    ("symbol huge", {"symbol": 10**30, "chartDescription": MINUTE}, 404, "symbol"),
    ("symbol negative", {"symbol": -1, "chartDescription": MINUTE}, 404, "symbol"),
    ("symbol empty", {"symbol": "", "chartDescription": MINUTE}, 404, "symbol"),
    ("range null", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": None}, 400, "timeRange"),
    ("range a number", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": 5}, 400, "timeRange"),
    ("negative elements", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": {"asMuchAsElements": -3}}, 400,
     "timeRange.asMuchAsElements"),
    ("elements text", {"symbol": FRONT, "chartDescription": MINUTE, "timeRange": {"asMuchAsElements": "5"}}, 400,
     "timeRange.asMuchAsElements"),
    ("tick id text", {"symbol": FRONT, "chartDescription": TICKS, "timeRange": {"closestTickId": "7"}}, 400,
     "timeRange.closestTickId"),
    ("far timestamp number", {"symbol": FRONT, "chartDescription": MINUTE,
                              "timeRange": {"asFarAsTimestamp": 1_700_000_000}}, 400, "timeRange.asFarAsTimestamp"),
]


async def test_garbage_chart_bodies_answer_400_or_404_naming_the_field_and_nothing_breaks(
        desk: Desk, ws: Opener, server: ServerProcess) -> None:
    trade(desk, 6800.0)
    client = await ws(desk.demo)
    bystander = await ws(desk.demo)
    _, watching, _ = await get_chart(bystander, {"symbol": FRONT, "chartDescription": TICKS})
    for name, body, status, field in GARBAGE:
        answer = await client.request("md/getChart", body)
        assert answer["s"] == status and isinstance(answer["d"], str), (name, answer)
        assert field in answer["d"].split(":")[0] or f"`{field}`" in answer["d"], (name, answer)
    for body in ("null", {"subscriptionId": 10**30}, {"subscriptionId": -1}, {"subscriptionId": 1.5},
                 {"subscriptionId": None}, [1]):
        answer = await client.request("md/cancelChart", body)
        assert answer["s"] in (400, 404) and isinstance(answer["d"], str), (body, answer)
    assert packets(client) == []
    assert (await client.request("auth/me"))["s"] == 200 and not client.ended
    # Huge but valid numbers work: the whole tape.
    _, _, history = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS,
                                             "timeRange": {"asMuchAsElements": 10**30, "closestTickId": 10**30}})
    assert tick_ids(history) == [1]
    trade(desk, 6800.25)
    await bystander.wait_until(lambda: bool(of(bystander, watching)), what="the bystander's realtime tick")
    assert "Traceback" not in server.log() and "unhandled" not in server.log()


async def test_time_range_bounds_far_outside_the_tape_answer_empty_or_everything(desk: Desk, ws: Opener) -> None:
    trade(desk, 6800.0)  # 2026-11-24T15:00:00Z; its daily bar is stamped 2026-11-24T00:00:00Z
    client = await ws(desk.demo)
    descriptions = {"minute": MINUTE, "tick": TICKS, "daily": DAILY, "tick3": TICK3}
    cases: list[tuple[JSON, dict[str, int]]] = [
        ({"closestTimestamp": "0001-01-01T00:00:00+14:00"}, {"minute": 0, "tick": 0, "daily": 0, "tick3": 0}),
        ({"asFarAsTimestamp": "9999-12-31T23:59:59-14:00"}, {"minute": 0, "tick": 0, "daily": 0, "tick3": 0}),
        ({"closestTimestamp": "9999-12-31T23:59:59-14:00", "asFarAsTimestamp": "0001-01-01T00:00:00Z"},
         {"minute": 1, "tick": 1, "daily": 1, "tick3": 1}),
        ({"closestTimestamp": "2026-11-24T15:00:00"}, {"minute": 1, "tick": 1, "daily": 1, "tick3": 1}),  # UTC
        # before the only trade: no bar at all (a bar counts from its first trade, whatever its stamp)
        ({"closestTimestamp": "2026-11-24T08:59:59-06:00"}, {"minute": 0, "tick": 0, "daily": 0, "tick3": 0}),
    ]
    for time_range, counts in cases:
        for name, description in descriptions.items():
            _, _, history = await get_chart(client, {"symbol": FRONT, "chartDescription": description,
                                                     "timeRange": time_range})
            found = sum(len(p.get("bars", p.get("tks", []))) for p in history)
            assert found == counts[name], (time_range, name, history)


# --- many sockets, fast trades -------------------------------------------------------------------------------------


async def test_many_sockets_with_charts_end_on_the_newest_bar_state_and_every_tick_once(
        desk: Desk, ws: Opener, server: ServerProcess) -> None:
    trade(desk, 6800.0)
    clients = [await ws(desk.demo if k % 2 else desk.admin) for k in range(12)]
    charts: list[tuple[WsClient, int, JSON]] = []
    for client in clients:
        for description in (MINUTE, TICK3, TICKS):
            _, realtime, _ = await get_chart(client, {"symbol": FRONT, "chartDescription": description})
            charts.append((client, realtime, description))
    slow = RawSocket(server.base_url)  # subscribes, then reads only at the end
    try:
        slow.send_text(f"authorize\n0\n\n{desk.admin}")
        slow.send_text(f"md/getChart\n1\n\n{json.dumps({'symbol': FRONT, 'chartDescription': MINUTE})}")
        slow.send_text(f"md/getChart\n2\n\n{json.dumps({'symbol': FRONT, 'chartDescription': TICKS})}")
        await asyncio.sleep(0.3)

        def churn() -> None:
            with Api(server.base_url) as api:
                for k in range(240):
                    if k % 40 == 39:
                        api.sim("clock", {"advanceSeconds": 45}, desk.admin)
                    price = 6800.0 + ((k * 7) % 11 - 5) * TICK
                    api.set_quote(desk.admin, bid=price - TICK, ask=price + TICK, last=price, lastSize=1 + k % 5)

        await asyncio.to_thread(churn)
        final_id = 241
        for client, realtime, description in charts:
            if description is TICKS:
                await client.wait_until(lambda c=client, r=realtime: final_id in tick_ids(of(c, r)), within=10,
                                        what="the last tick")
        await asyncio.sleep(0.5)
        truth = {}
        for description in (MINUTE, TICK3, TICKS):
            _, _, history = await get_chart(clients[0], {"symbol": FRONT, "chartDescription": description})
            truth[description["underlyingType"] + str(description["elementSize"])] = history
        for client, realtime, description in charts:
            name = description["underlyingType"] + str(description["elementSize"])
            live = of(client, realtime)
            if description is TICKS:
                assert tick_ids(live) == list(range(2, final_id + 1)), name
                assert absolute_ticks(live) == absolute_ticks(truth[name])[1:]
            elif description is TICK3:
                streamed = [b for p in live for b in p["bars"]]
                whole = [b for p in truth[name] for b in p["bars"]]
                assert streamed[-1] == whole[-1]
            else:
                streamed_state = latest_bars(live)
                assert streamed_state == {k: v for k, v in latest_bars(truth[name]).items() if k in streamed_state}
                assert list(streamed_state)[-1] == list(latest_bars(truth[name]))[-1]
                volumes: dict[str, int] = {}
                for packet in live:  # a bar's state never goes back to an older one
                    for bar in packet["bars"]:
                        total = bar["upVolume"] + bar["downVolume"]
                        assert total >= volumes.get(bar["timestamp"], 0), bar
                        volumes[bar["timestamp"]] = total
        messages = await asyncio.to_thread(slow.read_frames, 2.0)
    finally:
        slow.close()
    items = [item for m in messages if m.startswith("a") for item in json.loads(m[1:])]
    slow_packets = [p for item in items if item.get("e") == "chart" for p in item["d"]["charts"]]
    realtime_ids = {p["id"] for p in slow_packets if "eoh" not in p} - {p["id"] for p in slow_packets if "eoh" in p}
    replies = {item["i"]: item.get("d") for item in items if "i" in item}
    # the tick chart's history, then its realtime: every tick once (a trade printed before a slow server opened the
    # chart is in its history)
    assert tick_ids([p for p in slow_packets if p["id"] == replies[2]["historicalId"]]) + tick_ids(
        [p for p in slow_packets if p["id"] == replies[2]["realtimeId"]]) == list(range(1, final_id + 1))
    slow_bars = latest_bars([p for p in slow_packets if p["id"] in realtime_ids and "bars" in p])
    assert slow_bars == {k: v for k, v in latest_bars(truth["MinuteBar1"]).items() if k in slow_bars}


async def test_a_socket_closing_with_chart_packets_pending_leaves_the_others_streaming(
        desk: Desk, ws: Opener, server: ServerProcess) -> None:
    watcher = await ws(desk.demo)
    _, watching, _ = await get_chart(watcher, {"symbol": FRONT, "chartDescription": TICKS})
    for _ in range(5):
        leaving = RawSocket(server.base_url)
        leaving.send_text(f"authorize\n0\n\n{desk.demo}")
        for k in range(20):
            leaving.send_text(f"md/getChart\n{k + 1}\n\n{json.dumps({'symbol': FRONT, 'chartDescription': TICKS})}")
        trade(desk, 6800.0)
        leaving.close()  # gone without a close handshake, packets pending
        trade(desk, 6800.25)
    await watcher.wait_until(lambda: len(tick_ids(of(watcher, watching))) == 10, what="every tick")
    assert (await watcher.request("auth/me"))["s"] == 200
    assert "Traceback" not in server.log() and "sender failed" not in server.log()


# --- the close path ------------------------------------------------------------------------------------------------


async def test_bad_token_close_frame_carries_the_code_of_the_c_frame(desk: Desk, server: ServerProcess) -> None:
    client = await WsClient.open(server.base_url)
    try:
        await client.authorize("not-a-token")
        close = await client.closed()
        assert close is not None
        assert (client.connection.close_code, client.connection.close_reason) == close
        assert client.kinds() == ["o", "a", "c"]
    finally:
        await client.close()


async def test_a_client_ping_is_answered_and_a_client_close_is_a_clean_handshake(desk: Desk, ws: Opener,
                                                                                 server: ServerProcess) -> None:
    client = await ws(desk.demo)
    await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
    latency = await asyncio.wait_for(await client.connection.ping(), 5)
    assert latency >= 0
    await asyncio.wait_for(client.connection.close(code=1000, reason="bye"), 5)
    assert client.connection.close_code == 1000  # the server echoed our close: a clean close, no reset
    assert client.connection.protocol.close_rcvd is not None
    assert client.connection.protocol.close_rcvd.code == 1000
    trade(desk, 6800.0)  # a trade for a chart of a socket that is gone
    other = await ws(desk.demo)
    assert (await other.request("auth/me"))["s"] == 200


async def test_quota_close_frame_carries_4008_after_the_shutdown_event(desk: Desk, server: ServerProcess) -> None:
    desk.create_user("wsreview")
    token = desk.api.token("wsreview", "wsreview-pw")
    sockets = [await authorized(server.base_url, token) for _ in range(51)]
    try:
        oldest = sockets[0]
        assert await oldest.closed() == (4008, "ConnectionQuotaReached")
        assert oldest.connection.close_code == 4008
        assert oldest.kinds()[-2:] == ["a", "c"]
        assert not any(s.ended for s in sockets[1:])
    finally:
        await asyncio.gather(*(s.close() for s in sockets))


class ReviewServer(ServerProcess):
    """A server of its own (SIGTERM ends it)."""


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ReviewServer(tmp_path / "review.db", tmp_path / "server.log")
    process.start()
    try:
        yield process
    finally:
        process.kill()


async def test_sigterm_with_charts_streaming_tells_every_reader_and_exits_promptly(own_server: ServerProcess) -> None:
    with Api(own_server.base_url) as api:
        admin = api.token(ADMIN, ADMIN_PASSWORD)
        api.set_clock(OPEN_TIME, admin)
        readers = [await authorized(own_server.base_url, admin) for _ in range(8)]
        stuck = RawSocket(own_server.base_url)
        stuck.send_text(f"authorize\n0\n\n{admin}")
        stuck.send_text(f'md/subscribeDOM\n1\n\n{{"symbol":"{FRONT}"}}')
        try:
            for reader in readers:
                await get_chart(reader, {"symbol": FRONT, "chartDescription": TICKS})
            stop = False

            def churn() -> None:
                with Api(own_server.base_url) as trades:
                    k = 0
                    while not stop:
                        price = 6800.0 + (k % 9) * TICK
                        try:
                            trades.set_quote(admin, bid=price - TICK, ask=price + TICK, last=price,
                                             depthLevels=1000, depthSize=3)
                        except Exception:  # the server is going away
                            return
                        k += 1

            worker = asyncio.create_task(asyncio.to_thread(churn))
            await asyncio.sleep(1.5)
            assert own_server.process is not None
            started = time.monotonic()
            own_server.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(own_server.process.wait, SHUTDOWN_BOUND + 12)
            waited = time.monotonic() - started
            stop = True
            await worker
            for reader in readers:
                assert await reader.closed(within=5) == (1001, "Maintenance")
                assert reader.connection.close_code == 1001
                assert [e.data["reasonCode"] for e in reader.events if e.kind == "shutdown"] == ["Maintenance"]
        finally:
            stuck.close()
            await asyncio.gather(*(r.close() for r in readers))
    assert code in (0, -signal.SIGTERM), own_server.log()
    assert "timeout graceful shutdown exceeded" not in own_server.log(), own_server.log()
    assert waited < SHUTDOWN_BOUND + 12


async def test_a_request_on_a_closing_socket_is_either_answered_or_not_executed(desk: Desk,
                                                                                 server: ServerProcess) -> None:
    user_id = desk.create_user("wsclosing")
    created = desk.api.call("user/createevaluationaccounts",
                            {"accounts": [evaluation_account(user_id, desk.template, "WSCLOSING1")]}, desk.admin)
    account_id = created["results"][0]["accountId"]
    token = desk.api.token("wsclosing", "wsclosing-pw")
    desk.quote(bid=6800.0, ask=6800.25)
    slow = RawSocket(server.base_url)  # the user's oldest socket, behind on a DOM stream
    others: list[WsClient] = []
    try:
        slow.send_text(f"authorize\n0\n\n{token}")
        await asyncio.to_thread(block_on_dom, desk, server, slow)
        others = [await authorized(server.base_url, token) for _ in range(50)]  # the 51st closes `slow` (4008)
        slow.send_text(f"order/placeorder\n2\n\n{json.dumps(limit(account_id, 6000.0))}")
        await asyncio.sleep(0.5)
        placed = [o for o in desk.api.entities("order", desk.admin) if o["accountId"] == account_id]
        messages = await asyncio.to_thread(slow.read_frames, 3.0)
    finally:
        slow.close()
        await asyncio.gather(*(o.close() for o in others))
    assert 'c[4008,"ConnectionQuotaReached"]' in messages, messages[-3:]
    answered = any(m.startswith("a") and any(item.get("i") == 2 for item in json.loads(m[1:])) for m in messages)
    assert answered or not placed, placed


async def test_charts_opened_during_a_stream_of_trades_miss_and_repeat_no_tick(desk: Desk, ws: Opener,
                                                                              server: ServerProcess) -> None:
    """History, then realtime from the next trade: for every chart opened while trades print, the history's ticks
    and the realtime ticks together are every trade from the first, each once."""
    trade(desk, 6800.0)
    client = await ws(desk.demo)
    stop = False
    printed: list[int] = []

    def churn() -> None:
        with Api(server.base_url) as api:
            k = 0
            while not stop:
                price = 6800.0 + (k % 7 - 3) * TICK
                api.set_quote(desk.admin, bid=price - TICK, ask=price + TICK, last=price, lastSize=1 + k % 3)
                k += 1
            printed.append(k)

    worker = asyncio.create_task(asyncio.to_thread(churn))
    charts: list[tuple[int, list[JSON]]] = []
    minute_charts: list[tuple[int, list[JSON]]] = []
    try:
        for _ in range(8):
            await asyncio.sleep(0.05)
            _, realtime, history = await get_chart(client, {"symbol": FRONT, "chartDescription": TICKS})
            charts.append((realtime, history))
            _, realtime, history = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
            minute_charts.append((realtime, history))
    finally:
        stop = True
        await worker
    last = 1 + printed[0]
    # (in a chart's history when the last trade printed before that chart opened: a slow machine's churn)
    await client.wait_until(lambda: all(last in tick_ids(h) + tick_ids(of(client, r)) for r, h in charts),
                            within=10, what="the last tick on every chart")
    await asyncio.sleep(0.3)
    assert printed[0] > 20, printed
    for realtime, history in charts:
        assert tick_ids(history) + tick_ids(of(client, realtime)) == list(range(1, last + 1)), realtime
    _, _, truth = await get_chart(client, {"symbol": FRONT, "chartDescription": MINUTE})
    for realtime, history in minute_charts:
        assert {**latest_bars(history), **latest_bars(of(client, realtime))} == latest_bars(truth), realtime


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the TCP state from /proc/net/tcp")
async def test_a_client_that_sends_its_close_but_does_not_read_is_released(desk: Desk, server: ServerProcess) -> None:
    """The client closes while megabytes wait for it and never reads them: the server's end is gone within the
    documented release bound (5 s), not held open by the unsent data."""
    slow = RawSocket(server.base_url)
    try:
        slow.send_text(f"authorize\n0\n\n{desk.admin}")
        await asyncio.to_thread(block_on_dom, desk, server, slow)
        client_port = slow.sock.getsockname()[1]
        mask = os.urandom(4)
        payload = struct.pack("!H", 1000)
        slow.sock.sendall(bytes([0x88, 0x80 | len(payload)]) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        started = time.monotonic()
        while server_send_queue(server.port, client_port) is not None:
            assert time.monotonic() - started < 5.0 + 15, "the server's end is still open"
            await asyncio.sleep(0.1)
    finally:
        slow.close()
    other = await authorized(server.base_url, desk.admin)
    try:
        assert (await other.request("auth/me"))["s"] == 200
    finally:
        await other.close()
