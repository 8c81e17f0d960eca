"""Tradovate's WebSocket API on `/v1/websocket` (issue 4), seen by a real WebSocket client against the running server:
framing and session (`o`, authorize, `h`, `[]`, timeouts, `c`, shutdown), every REST operation over the socket,
`user/syncrequest` snapshots followed by `props` events (including the order of a liquidation and the
snapshot-then-events guarantee under concurrent activity), market data, connection limits, slow clients, and bad
input. The shared session server serves most tests; timeouts and SIGTERM need servers of their own.
"""

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Api,
    Desk,
    ServerProcess,
    evaluation_account,
    limit,
    order,
    running,
    stop,
)
from ws_client import JSON, RawSocket, WsClient, rebuild

SHORT_TIMEOUT = 2.0  # TRADOVATE_SIM_WS_TIMEOUT of the servers started here
CLOSE_FLUSH = 2.0  # documented: a closing socket's queued frames get this long before the close is forced
RELEASE = 5.0  # documented: after its close frame, a connection the client has not drained is reset
SHUTDOWN_BOUND = 3.0  # documented: SIGTERM ends the server within about this long, whatever the clients do
HEARTBEAT = 2.5  # documented: `h` after this much server silence
ORDER_TYPES = {"order": "orders", "orderVersion": "orderVersions", "command": "commands",
               "commandReport": "commandReports", "executionReport": "executionReports", "fill": "fills",
               "position": "positions", "cashBalance": "cashBalances"}

Opener = Callable[..., Awaitable[WsClient]]


class ShortTimeoutServer(ServerProcess):
    """The harness's server with `TRADOVATE_SIM_WS_TIMEOUT` set (the harness drops inherited TRADOVATE_SIM_*)."""

    def command(self) -> list[str]:
        return ["env", f"TRADOVATE_SIM_WS_TIMEOUT={SHORT_TIMEOUT:g}", *super().command()]


def start_short_server(directory: Path) -> ServerProcess:
    process = ShortTimeoutServer(directory / "ws.db", directory / "server.log")
    process.start()
    return process


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("ws-short")
    with running(ShortTimeoutServer(directory / "ws.db", directory / "server.log")) as process:
        yield process


@pytest.fixture
async def ws(server: ServerProcess) -> AsyncIterator[Opener]:
    """Opens sockets (to the session server unless `base_url` is given), authorized when a token is given; closes
    them all after the test."""
    opened: list[WsClient] = []

    async def open_socket(token: str | None = None, *, base_url: str | None = None, **options: Any) -> WsClient:
        client = await WsClient.open(base_url or server.base_url, **options)
        opened.append(client)
        if token is not None:
            answer = await client.authorize(token)
            assert answer == {"s": 200, "i": 0}, answer
        return client

    yield open_socket
    await asyncio.gather(*(client.close() for client in opened))


def admin_token(base_url: str) -> str:
    with Api(base_url) as api:
        return api.token(ADMIN, ADMIN_PASSWORD)


def props_of(client: WsClient, entity_type: str, start: int = 0) -> list[JSON]:
    return [p for p in client.props(start) if p["entityType"] == entity_type]


def quotes_of(client: WsClient) -> list[JSON]:
    return [q for m in client.md() for q in m.get("quotes", [])]


def doms_of(client: WsClient) -> list[JSON]:
    return [d for m in client.md() for d in m.get("doms", [])]


def has_position(client: WsClient, account_id: int, net_pos: int, start: int = 0) -> Callable[[], bool]:
    return lambda: any(p["entity"]["accountId"] == account_id and p["entity"]["netPos"] == net_pos
                       for p in props_of(client, "position", start))


# --- 1. framing and session ----------------------------------------------------------------------------------------


async def test_server_says_o_on_connect_and_authorize_answers_200_without_payload(desk: Desk, ws: Opener) -> None:
    client = await ws()
    await client.wait_until(lambda: bool(client.frames), what="the open frame")
    assert client.frames[0].raw == "o"
    answer = await client.authorize(desk.demo)
    assert answer == {"s": 200, "i": 0}
    assert client.frames[1].raw == 'a[{"s":200,"i":0}]'
    me = await client.call("auth/me")
    assert me["userId"] == desk.demo_user


async def test_bad_token_answers_401_invalid_access_token_then_closes(desk: Desk, ws: Opener) -> None:
    client = await ws()
    answer = await client.authorize(desk.demo[:-4] + "AAAA")
    assert answer == {"s": 401, "i": 0, "d": "Invalid access token"}
    close = await client.closed()
    assert close is not None and close[1] == "Invalid access token"
    assert client.kinds() == ["o", "a", "c"]


async def test_md_access_token_authorizes_the_socket(desk: Desk, ws: Opener) -> None:
    login = desk.api.login(DEMO, DEMO_PASSWORD)
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(login["mdAccessToken"])
    assert await client.request("md/subscribeQuote", {"symbol": FRONT}) == {"s": 200, "i": 1}
    await client.wait_until(lambda: bool(quotes_of(client)), what="the current quote")


async def test_server_sends_h_after_two_and_a_half_seconds_of_silence(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    last = client.frames[-1].at
    await client.wait_until(lambda: "h" in client.kinds(), within=HEARTBEAT + 5, what="a heartbeat")
    beat = next(f for f in client.frames if f.kind == "h")
    # the server looks every HEARTBEAT / 2 from the socket's opening: the `h` comes 2.5 to 3.75 s after the last frame
    assert HEARTBEAT - 0.1 <= beat.at - last <= HEARTBEAT * 1.5 + 2.0
    assert (await client.request("auth/me"))["s"] == 200  # the socket is still in use after it


async def test_client_heartbeats_are_accepted_without_an_answer(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    for _ in range(3):
        await client.send("[]")
    assert (await client.request("auth/me"))["i"] == 1
    assert list(client.replies) == [0, 1]  # nothing answered the heartbeats


async def test_silent_socket_is_closed_after_the_timeout_while_one_sending_heartbeats_stays(
        short_server: ServerProcess, ws: Opener) -> None:
    token = admin_token(short_server.base_url)
    silent = await ws(token, base_url=short_server.base_url)
    sent_last = time.monotonic()  # the silent socket's last frame (its authorize) reached the server before this
    beating = await ws(token, base_url=short_server.base_url)
    beating.start_heartbeat(0.5)
    close = await silent.closed(within=SHORT_TIMEOUT + 4)
    waited = time.monotonic() - sent_last
    assert close is not None and close[0] == 4002, close
    # closed at the first look (every 1.25 s from the opening) past the timeout: 2 to 3.25 s after its last frame
    assert SHORT_TIMEOUT - 0.5 <= waited <= SHORT_TIMEOUT + 2.5
    assert silent.kinds()[-1] == "c"
    await asyncio.sleep(1.0)
    assert not beating.ended
    assert (await beating.request("auth/me"))["s"] == 200


async def test_socket_that_never_authorizes_is_closed_after_the_timeout_even_with_heartbeats(
        short_server: ServerProcess, ws: Opener) -> None:
    client = await ws(base_url=short_server.base_url)
    client.start_heartbeat(0.5)
    opened = time.monotonic()
    close = await client.closed(within=SHORT_TIMEOUT + 4)
    assert close is not None and close[0] == 4001, close
    assert SHORT_TIMEOUT - 0.2 <= time.monotonic() - opened <= SHORT_TIMEOUT + 2.5


async def test_server_shutdown_sends_maintenance_event_then_close(tmp_path: Path, ws: Opener) -> None:
    process = start_short_server(tmp_path)
    try:
        token = admin_token(process.base_url)
        client = await ws(token, base_url=process.base_url)
        await client.sync({"entityTypes": ["account"]})
        assert process.process is not None
        process.process.send_signal(signal.SIGTERM)
        await client.closed(within=10)
    finally:
        process.kill()
    shutdown = [e.data for e in client.events if e.kind == "shutdown"]
    assert [s["reasonCode"] for s in shutdown] == ["Maintenance"]
    assert client.close_frame == (1001, "Maintenance")
    assert client.kinds()[-2:] == ["a", "c"]


async def test_server_shutdown_is_not_held_up_by_a_client_that_does_not_read(tmp_path: Path) -> None:
    process = start_short_server(tmp_path)
    stuck: RawSocket | None = None
    try:
        with Api(process.base_url) as api:
            token = api.token(ADMIN, ADMIN_PASSWORD)
            api.set_clock(OPEN_TIME, token)
            stuck = RawSocket(process.base_url)
            await asyncio.to_thread(flood_dom, api, token, stuck, 120)
        assert process.process is not None
        assert process.process.poll() is None
        started = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        # Documented: about SHUTDOWN_BOUND; the generous wait only absorbs a loaded machine (the bug hung forever).
        code = await asyncio.to_thread(process.process.wait, SHUTDOWN_BOUND + 12)
        waited = time.monotonic() - started
    finally:
        if stuck is not None:
            stuck.close()
        process.kill()
    assert code in (0, -signal.SIGTERM), process.log()
    # Released by the server's own bound, not by uvicorn's backstop cancelling the tasks after 5 s.
    assert "timeout graceful shutdown exceeded" not in process.log(), process.log()
    assert waited < SHUTDOWN_BOUND + 12


# --- 2. every REST operation over the socket -----------------------------------------------------------------------


async def test_rest_operations_over_the_socket_answer_as_rest_does(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(desk.demo)

    placed = await client.call("order/placeorder", order(desk.demo1, action="Buy", qty=2))
    assert set(placed) == {"orderId"}
    order_id = placed["orderId"]
    assert await client.call("order/item", query=f"id={order_id}") == desk.order(order_id)
    assert await client.call("order/list") == desk.api.entities("order", desk.demo)
    assert await client.call("position/list") == desk.api.entities("position", desk.demo)
    assert await client.call("contract/find", query=f"name={FRONT}") == desk.api.find("contract", FRONT, desk.demo)
    assert await client.call("account/item", query=f"id={desk.demo1}") == desk.api.item("account", desk.demo1,
                                                                                         desk.demo)
    assert await client.call("fill/deps", query=f"masterid={order_id}") == desk.fills(order_id)
    assert desk.position(desk.demo1)["netPos"] == 2

    closing = await client.call("order/liquidateposition",
                                {"accountId": desk.demo1, "contractId": desk.front, "admin": False})
    assert set(closing) == {"orderId"}
    assert desk.status(closing["orderId"]) == "Filled"
    assert desk.position(desk.demo1)["netPos"] == 0

    # A business refusal is a 200 with failureReason, as over REST.
    refused = {"accountId": desk.demo1, "action": "Buy", "symbol": "ZZZ9", "orderQty": 1, "orderType": "Market"}
    over_socket = await client.call("order/placeorder", refused)
    assert over_socket == desk.api.call("order/placeorder", refused, desk.demo)
    assert over_socket["failureReason"] == "InvalidContract"


async def test_errors_over_the_socket_carry_the_rest_status_as_s_and_a_text_as_d(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    cases = [
        ("account/item", "id=999999", None),  # unknown entity: 404
        ("account/item", f"id={desk.template}", None),  # another user's account looks the same
        ("accountRiskStatus/setadminautoliqaction", "", {"accountId": desk.demo1, "adminAction": "Normal"}),  # 401
        ("order/placeorder", "", {"accountId": desk.demo1}),  # missing fields: 400
    ]
    for endpoint, query, body in cases:
        answer = await client.request(endpoint, body, query)
        if body is None:
            params = dict(p.split("=", 1) for p in query.split("&"))
            rest = desk.api.get(f"/v1/{endpoint}", desk.demo, **params)
        else:
            rest = desk.api.post(f"/v1/{endpoint}", body, desk.demo)
        assert answer["s"] == rest.status_code != 200, (endpoint, answer, rest.text)
        assert answer["d"] == rest.json()["errorText"]
        assert isinstance(answer["d"], str)
    statuses = [r[0]["s"] for i, r in client.replies.items() if i]
    assert statuses == [404, 404, 401, 400]


# --- 3. user/syncrequest: snapshot ---------------------------------------------------------------------------------


async def test_trader_snapshot_holds_only_the_traders_own_entities_keyed_by_plural_names(desk: Desk,
                                                                                         ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    mine = desk.place(limit(desk.demo1, 6790.0))["orderId"]
    desk.place(order(desk.demo2, action="Sell"))
    theirs = desk.place(limit(desk.template, 6790.0), token=desk.admin)["orderId"]
    client = await ws(desk.demo)

    snapshot = await client.sync()

    assert {"users", "accounts", "orders", "positions", "fills", "cashBalances", "accountRiskStatuses",
            "contractGroups", "contracts"} <= set(snapshot)
    assert all(isinstance(rows, list) for rows in snapshot.values())
    assert snapshot["accounts"] == desk.api.entities("account", desk.demo)
    assert {a["name"] for a in snapshot["accounts"]} == {"DEMO1", "DEMO2"}
    assert [u["id"] for u in snapshot["users"]] == [desk.demo_user]
    assert snapshot["orders"] == desk.api.entities("order", desk.demo)
    assert mine in {o["id"] for o in snapshot["orders"]} and theirs not in {o["id"] for o in snapshot["orders"]}
    assert snapshot["positions"] == desk.api.entities("position", desk.demo)
    assert {c["accountId"] for c in snapshot["cashBalances"]} == {desk.demo1, desk.demo2}
    assert [c["name"] for c in snapshot["contracts"]] == [FRONT]


async def test_snapshot_names_contract_maturities_as_tradovate_does(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(limit(desk.demo1, 6790.0))
    client = await ws(desk.demo)
    snapshot = await client.sync()
    assert "contractMaturities" in snapshot
    assert [m["id"] for m in snapshot["contractMaturities"]] == [snapshot["contracts"][0]["contractMaturityId"]]


async def test_entity_types_and_accounts_narrow_the_snapshot_and_the_events(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1))
    desk.place(order(desk.demo2))
    client = await ws(desk.demo)

    snapshot = await client.sync({"accounts": [desk.demo2], "entityTypes": ["order", "position"]})

    assert set(snapshot) == {"orders", "positions", "users", "contractGroups"}
    assert {o["accountId"] for o in snapshot["orders"]} == {desk.demo2}
    assert [p["accountId"] for p in snapshot["positions"]] == [desk.demo2]
    desk.place(order(desk.demo1))
    desk.place(order(desk.demo2))
    await client.wait_until(has_position(client, desk.demo2, 2), what="DEMO2's position")
    assert {p["entityType"] for p in client.props()} == {"order", "position"}
    assert {p["entity"]["accountId"] for p in client.props()} == {desk.demo2}


async def test_admin_shards_the_organization_by_account_id_and_by_user_id(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    organization = {a["id"]: a for a in desk.api.entities("account", desk.admin)}
    assert len(organization) >= 3
    for expression, key in (("modAccountId", lambda a: a["id"]), ("modUserId", lambda a: a["userId"])):
        shards = [await ws(desk.admin) for _ in range(2)]
        snapshots = [await shard.sync({"splitResponses": True, "entityTypes": ["account", "order", "user"],
                                       "shardingExpression": {"expressionType": expression, "divisor": 2,
                                                              "remainder": remainder}})
                     for remainder, shard in enumerate(shards)]
        followed = [{a["id"] for a in s["accounts"]} for s in snapshots]
        assert followed == [{i for i, a in organization.items() if key(a) % 2 == r} for r in (0, 1)], expression
        assert followed[0].isdisjoint(followed[1]) and followed[0] | followed[1] == set(organization)
        for snapshot, accounts in zip(snapshots, followed, strict=True):
            assert {u["id"] for u in snapshot["users"]} >= {organization[a]["userId"] for a in accounts}

        placed = {account: desk.place(order(account), token=desk.admin)["orderId"]
                  for account in (desk.demo1, desk.demo2, desk.template)}
        for shard, accounts in zip(shards, followed, strict=True):
            expected = {placed[a] for a in placed if a in accounts}
            await shard.wait_until(lambda s=shard, e=expected: {p["entity"]["id"] for p in props_of(s, "order")} >= e,
                                   what=f"{expression} shard's orders")
        await asyncio.sleep(0.2)
        for shard, accounts in zip(shards, followed, strict=True):
            assert {p["entity"]["accountId"] for p in props_of(shard, "order")} <= accounts
            assert {p["entity"]["id"] for p in props_of(shard, "order")} == {placed[a] for a in placed
                                                                             if a in accounts}


async def test_second_syncrequest_on_a_socket_is_refused_with_its_id(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    await client.sync()
    answer = await client.request("user/syncrequest", {"splitResponses": False})
    assert answer["s"] == 400 and answer["i"] == 2 and "one" in answer["d"]
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1))
    await client.wait_until(has_position(client, desk.demo1, 1), what="events after the refused second sync")
    await asyncio.sleep(0.2)
    # The first subscription keeps working, once: one Created per order, not one per syncrequest.
    assert len([p for p in props_of(client, "order") if p["eventType"] == "Created"]) == 1


# --- 3. user/syncrequest: events -----------------------------------------------------------------------------------


async def test_placeorder_is_followed_by_props_for_every_entity_of_its_trail(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(desk.demo)
    await client.sync()

    order_id = (await client.call("order/placeorder", order(desk.demo1, qty=1)))["orderId"]
    await client.wait_until(lambda: bool(props_of(client, "cashBalance")), what="the cash balance update")

    events = client.props()
    assert {e["entityType"] for e in events} >= set(ORDER_TYPES)
    assert all(set(e) == {"entityType", "eventType", "entity"} for e in events)
    assert all(e["eventType"] in ("Created", "Updated", "Deleted") for e in events)
    orders = props_of(client, "order")
    assert orders[0]["eventType"] == "Created" and orders[-1]["entity"]["ordStatus"] == "Filled"
    assert {o["entity"]["id"] for o in orders} == {order_id}
    assert {e["entity"]["orderId"] for e in events if e["entityType"] in ("orderVersion", "command",
                                                                          "executionReport", "fill")} == {order_id}
    command_ids = {e["entity"]["id"] for e in props_of(client, "command")}
    assert {e["entity"]["commandId"] for e in props_of(client, "commandReport")} == command_ids
    [position] = props_of(client, "position")
    assert (position["entity"]["accountId"], position["entity"]["netPos"]) == (desk.demo1, 1)
    assert props_of(client, "cashBalance")[-1]["entity"] == desk.cash(desk.demo1)
    assert props_of(client, "fill")[0]["entity"] == desk.fills(order_id)[0]

    # Closing the lot pairs the fills; an admin's lock updates the account's risk status.
    await client.call("order/placeorder", order(desk.demo1, action="Sell"))
    await client.wait_until(lambda: bool(props_of(client, "fillPair")), what="the fill pair")
    desk.api.call("accountRiskStatus/setadminautoliqaction",
                  {"accountId": desk.demo1, "adminAction": "LockTradingImmediately"}, desk.admin)
    status = await client.event(lambda e: e.kind == "props" and e.data["entityType"] == "accountRiskStatus")
    assert status.data["entity"]["id"] == desk.demo1


async def test_accounts_created_later_join_the_admins_subscription_and_not_another_traders(
        desk: Desk, ws: Opener) -> None:
    admin = await ws(desk.admin)
    trader = await ws(desk.demo)
    await admin.sync()
    await trader.sync()
    user_id = desk.create_user("wsnewcomer")
    created = desk.api.call("user/createevaluationaccounts",
                            {"accounts": [evaluation_account(user_id, desk.template, "WSNEW1")]}, desk.admin)
    account_id = created["results"][0]["accountId"]
    desk.quote(bid=6800.0, ask=6800.25)
    theirs = desk.place(order(account_id), token=desk.admin)["orderId"]
    desk.place(order(desk.demo1))  # commit order: the trader's own event comes after any of the newcomer's

    await admin.wait_until(has_position(admin, account_id, 1), what="the new account's position")
    assert any(p["entity"]["id"] == account_id for p in props_of(admin, "account"))
    assert any(p["entity"]["id"] == theirs for p in props_of(admin, "order"))
    await trader.wait_until(has_position(trader, desk.demo1, 1), what="the trader's own position")
    leaked = [p for p in trader.props() if p["entity"].get("accountId") == account_id
              or p["entity"].get("orderId") == theirs
              or (p["entityType"], p["entity"]["id"]) in {("account", account_id), ("order", theirs)}]
    assert leaked == []


async def test_liquidation_is_seen_as_cancels_then_closing_order_then_its_fill_then_the_position(
        desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    desk.place(order(desk.demo1, qty=2))
    working = [desk.place(limit(desk.demo1, 6790.0))["orderId"],
               desk.place(limit(desk.demo1, 6810.0, action="Sell"))["orderId"],
               desk.place(stop(desk.demo1, 6780.0, action="Sell"))["orderId"]]
    desk.place(limit(desk.demo2, 6790.0))  # another account: untouched, not part of the sequence
    desk_socket = await ws(desk.admin)
    trader = await ws(desk.demo)
    await desk_socket.sync()
    await trader.sync()

    result = await trader.call("order/liquidateposition",
                               {"accountId": desk.demo1, "contractId": desk.front, "admin": False})
    closing = result["orderId"]

    for client in (trader, desk_socket):
        await client.wait_until(has_position(client, desk.demo1, 0), what="the flat position")
        events = client.props()

        def index(match: Callable[[JSON], bool], events: list[JSON] = events) -> int:
            found = [i for i, e in enumerate(events) if match(e)]
            assert len(found) == 1, found
            return found[0]

        cancels = [index(lambda e, o=o: e["entityType"] == "order" and e["entity"]["id"] == o
                         and e["entity"]["ordStatus"] == "Canceled") for o in working]
        created = index(lambda e: e["entityType"] == "order" and e["eventType"] == "Created"
                        and e["entity"]["id"] == closing)
        fill = index(lambda e: e["entityType"] == "fill" and e["entity"]["orderId"] == closing)
        position = index(lambda e: e["entityType"] == "position" and e["entity"]["netPos"] == 0)
        assert max(cancels) < created < fill < position, (cancels, created, fill, position)
        assert [e["entity"]["netPos"] for e in events if e["entityType"] == "position"] == [0]
        assert {e["entity"]["accountId"] for e in events if e["entityType"] == "order"} == {desk.demo1}


async def wait_for_count(count: Callable[[], int], target: int, within: float = 60.0) -> None:
    """Wait until `count()` reaches `target` (a generous bound only against a hung server, not a speed check)."""
    deadline = time.monotonic() + within
    while count() < target:
        assert time.monotonic() < deadline, f"only {count()} of {target} operations done in {within} s"
        await asyncio.sleep(0.02)


async def test_snapshot_then_events_rebuild_the_state_under_concurrent_orders(desk: Desk, ws: Opener,
                                                                              server: ServerProcess) -> None:
    desk.quote(bid=6800.0, ask=6800.25, bid_size=1000, ask_size=1000)
    stop_churning = threading.Event()
    done: list[int] = []
    progress = [0]

    def churn() -> None:
        """Orders, fills and cancels on both demo accounts as fast as REST answers."""
        with Api(server.base_url) as api:
            resting: list[int] = []
            k = 0
            while not stop_churning.is_set():
                account = (desk.demo1, desk.demo2)[k % 2]
                step = k % 5
                if step == 0:
                    resting.append(api.call("order/placeorder", limit(account, 6700.0 + k % 40), desk.demo)["orderId"])
                elif step in (1, 3):
                    api.call("order/placeorder", order(account, action="Buy"), desk.demo)
                elif step == 2:
                    api.call("order/placeorder", order(account, action="Sell", qty=2), desk.demo)
                elif resting:
                    api.call("order/cancelorder", {"orderId": resting.pop(0)}, desk.demo)
                k += 1
                progress[0] = k
            done.append(k)

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        await wait_for_count(lambda: progress[0], 20)  # orders in flight before the snapshot...
        client = await ws(desk.demo)
        snapshot = await client.sync()
        seen = progress[0]
        await wait_for_count(lambda: progress[0], seen + 40)  # ...and after it, however slow the machine
    finally:
        stop_churning.set()
        await asyncio.to_thread(worker.join, 10)
    assert done and done[0] >= 60, done

    def rest_state() -> dict[str, dict[int, JSON]]:
        return {kind: {e["id"]: e for e in desk.api.entities(kind, desk.demo)} for kind in ORDER_TYPES}

    expected = rest_state()
    try:
        await client.wait_until(lambda: rebuild(snapshot, client.props(), ORDER_TYPES) == expected, within=5,
                                what="snapshot + events to equal REST")
    finally:
        rebuilt = rebuild(snapshot, client.props(), ORDER_TYPES)
        for kind in ORDER_TYPES:
            missing = set(expected[kind]) - set(rebuilt[kind])
            extra = set(rebuilt[kind]) - set(expected[kind])
            differ = [i for i in expected[kind] if i in rebuilt[kind] and rebuilt[kind][i] != expected[kind][i]]
            assert not (missing or extra or differ), (kind, sorted(missing)[:5], sorted(extra)[:5], differ[:5])
    # No event repeats what the snapshot held, and nothing is created twice.
    seen = {(kind, e["id"]) for kind, name in ORDER_TYPES.items() for e in snapshot[name]}
    for event in client.props():
        if event["entityType"] in ORDER_TYPES and event["eventType"] == "Created":
            key = (event["entityType"], event["entity"]["id"])
            assert key not in seen, f"duplicate Created {key}"
            seen.add(key)
    # The socket really joined in the middle: orders before it in the snapshot, orders after it as events.
    assert snapshot["orders"] and any(e["eventType"] == "Created" for e in props_of(client, "order"))


# --- 4. market data ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["symbol", "contract id"])
async def test_subscribe_quote_sends_the_current_quote_then_every_move(desk: Desk, ws: Opener, by: str) -> None:
    desk.quote(bid=6800.0, ask=6800.25, bid_size=4, ask_size=6)
    client = await ws(desk.demo)
    symbol: str | int = FRONT if by == "symbol" else desk.front

    assert await client.request("md/subscribeQuote", {"symbol": symbol}) == {"s": 200, "i": 1}
    await client.wait_until(lambda: len(quotes_of(client)) == 1, what="the current quote")
    desk.quote(bid=6801.0, ask=6801.25, bid_size=7, ask_size=9)
    await client.wait_until(lambda: len(quotes_of(client)) == 2, what="the moved quote")

    first, moved = quotes_of(client)
    assert set(moved) == {"contractId", "timestamp", "entries"}
    assert moved["contractId"] == desk.front and isinstance(moved["timestamp"], str)
    assert moved["timestamp"].startswith(OPEN_TIME[:10])
    assert first["entries"]["Bid"] == {"price": 6800.0, "size": 4}
    assert first["entries"]["Offer"] == {"price": 6800.25, "size": 6}
    assert moved["entries"]["Bid"] == {"price": 6801.0, "size": 7}
    assert moved["entries"]["Offer"] == {"price": 6801.25, "size": 9}
    assert all(e.kind == "md" and set(e.data) == {"quotes"} for e in client.events)


async def test_subscribe_dom_sends_bids_descending_and_offers_ascending(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25, bid_size=3, ask_size=4, depthLevels=3, depthSize=25)
    client = await ws(desk.demo)

    assert (await client.request("md/subscribeDOM", {"symbol": FRONT}))["s"] == 200
    await client.wait_until(lambda: len(doms_of(client)) == 1, what="the current DOM")

    [dom] = doms_of(client)
    assert dom["contractId"] == desk.front and isinstance(dom["timestamp"], str)
    assert dom["bids"] == [{"price": 6800.0, "size": 3}, {"price": 6799.75, "size": 25},
                           {"price": 6799.5, "size": 25}, {"price": 6799.25, "size": 25}]
    assert dom["offers"] == [{"price": 6800.25, "size": 4}, {"price": 6800.5, "size": 25},
                             {"price": 6800.75, "size": 25}, {"price": 6801.0, "size": 25}]
    desk.quote(bid=6805.0, ask=6805.5, depthLevels=5, depthSize=1)
    await client.wait_until(lambda: len(doms_of(client)) == 2, what="the moved DOM")
    moved = doms_of(client)[-1]
    bids, offers = [b["price"] for b in moved["bids"]], [o["price"] for o in moved["offers"]]
    assert bids == sorted(bids, reverse=True) and offers == sorted(offers) and bids[0] < offers[0]
    assert (len(bids), bids[0], offers[0]) == (6, 6805.0, 6805.5)


async def test_unsubscribe_stops_quotes_and_doms(desk: Desk, ws: Opener) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    leaving = await ws(desk.demo)
    staying = await ws(desk.admin)
    for client in (leaving, staying):
        await client.call("md/subscribeQuote", {"symbol": FRONT})
        await client.call("md/subscribeDOM", {"symbol": desk.front})
    await leaving.wait_until(lambda: quotes_of(leaving) and doms_of(leaving), what="the first quote and DOM")

    assert await leaving.request("md/unsubscribeQuote", {"symbol": FRONT}) == {"s": 200, "i": 3}
    desk.quote(bid=6801.0, ask=6801.25)
    await staying.wait_until(lambda: any(q["entries"]["Bid"]["price"] == 6801.0 for q in quotes_of(staying)))
    await leaving.wait_until(lambda: any(d["bids"][0]["price"] == 6801.0 for d in doms_of(leaving)),
                             what="the DOM still coming")
    assert all(q["entries"]["Bid"]["price"] == 6800.0 for q in quotes_of(leaving))

    assert (await leaving.request("md/unsubscribeDOM", {"symbol": desk.front}))["s"] == 200
    seen = len(leaving.md())
    desk.quote(bid=6802.0, ask=6802.25)
    await staying.wait_until(lambda: any(d["bids"][0]["price"] == 6802.0 for d in doms_of(staying)))
    await asyncio.sleep(0.3)
    assert leaving.md()[seen:] == []


async def test_unknown_symbol_is_404_with_the_request_id(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    for symbol in ("NOPE9", 987654):
        answer = await client.request("md/subscribeQuote", {"symbol": symbol})
        assert answer["s"] == 404 and isinstance(answer["d"], str), answer
    assert [client.replies[i][0]["i"] for i in (1, 2)] == [1, 2]


# --- 5. limits -----------------------------------------------------------------------------------------------------


async def test_slow_reader_gets_coalesced_quotes_and_other_sockets_are_unaffected(desk: Desk, ws: Opener,
                                                                                  server: ServerProcess) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    slow = RawSocket(server.base_url)  # never reads until the end; a 4 KiB receive buffer
    try:
        slow.send_text(f"authorize\n0\n\n{desk.admin}")
        slow.send_text(f'md/subscribeDOM\n1\n\n{{"symbol":"{FRONT}"}}')
        slow.send_text(f'md/subscribeQuote\n2\n\n{{"symbol":"{FRONT}"}}')
        fast = await ws(desk.demo)
        await fast.call("md/subscribeQuote", {"symbol": FRONT})
        moves = 300
        last_bid = 6800.0 + (moves - 1) * 0.25
        for k in range(moves):  # a 1,000-level DOM is about 50 kB a frame: megabytes for the slow reader
            await asyncio.to_thread(desk.quote, bid=6800.0 + k * 0.25, ask=6800.25 + k * 0.25, depthLevels=1000,
                                    depthSize=7)
        # every move was answered (a server held by the slow reader's writes would not answer), and the fast reader
        # has the last one
        await fast.wait_until(lambda: quotes_of(fast)[-1]["entries"]["Bid"]["price"] == last_bid, within=10,
                              what="the fast reader's last quote")
        assert desk.api.get("/v1/auth/me", desk.demo).status_code == 200

        messages = await asyncio.to_thread(slow.read_frames, 3.0)
    finally:
        slow.close()
    md = [item["d"] for m in messages if m.startswith("a") for item in json.loads(m[1:])
          if item.get("e") == "md"]
    bids = [q["entries"]["Bid"]["price"] for d in md for q in d.get("quotes", [])]
    assert bids[-1] == last_bid  # the latest quote arrives in the end
    assert bids == sorted(bids)  # never an older quote after a newer one
    assert len(md) < moves / 2, len(md)  # coalesced, not a backlog of every move
    assert not any(m.startswith("c") for m in messages)


def server_side_state(server_port: int, client_port: int) -> str | None:
    """The TCP state (hex, `01` = ESTABLISHED) of the server's end of a loopback connection, None when gone."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port:
            return fields[3]
    return None


async def wait_for_state(server_port: int, client_port: int, state: str | None, within: float) -> float:
    """Seconds until the server's end of the connection is in `state` (None: gone); fails after `within`."""
    started = time.monotonic()
    while (now := server_side_state(server_port, client_port)) != state:
        assert time.monotonic() - started < within, f"server side still {now!r} after {within} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def flood_dom(api: Api, admin: str, slow: RawSocket, moves: int = 150) -> None:
    """Authorize `slow` and stream it megabytes of a 1,000-level DOM (about 50 kB a frame) it does not read."""
    slow.send_text(f"authorize\n0\n\n{admin}")
    slow.send_text(f'md/subscribeDOM\n1\n\n{{"symbol":"{FRONT}"}}')
    for k in range(moves):
        api.set_quote(admin, bid=6800.0 + k * 0.25, ask=6800.25 + k * 0.25, depthLevels=1000, depthSize=7)


async def overflowed_reader(desk: Desk, server: ServerProcess) -> RawSocket:
    """A socket that stopped reading and overflowed: a DOM stream fills the TCP buffers, then requests pile up
    answers, the 10,000th of them placing an order, then a few hundred more (the overflow). Returns once the order
    exists: the overflow follows within a few requests, long before the client could read the megabytes ahead of
    the queued answers."""
    slow = RawSocket(server.base_url)
    try:
        await asyncio.to_thread(flood_dom, desk.api, desk.admin, slow)
        for request_id in range(2, 10_001):
            slow.send_text(f"auth/me\n{request_id}\n\n")
        slow.send_text(f"order/placeorder\n10001\n\n{json.dumps(limit(desk.demo1, 6000.0))}")
        for request_id in range(10_002, 10_302):
            slow.send_text(f"auth/me\n{request_id}\n\n")
        deadline = time.monotonic() + 30
        while not desk.api.entities("order", desk.admin):
            assert time.monotonic() < deadline, "the 10,000th request was never handled"
            await asyncio.sleep(0.05)
    except BaseException:
        slow.close()
        raise
    return slow


async def test_reader_that_lets_10000_frames_pile_up_is_closed_and_others_are_unaffected(
        desk: Desk, ws: Opener, server: ServerProcess) -> None:
    slow = await overflowed_reader(desk, server)
    try:
        other = await ws(desk.admin)
        assert (await other.request("auth/me", within=10))["s"] == 200
        messages = await asyncio.to_thread(slow.read_frames, 3.0)  # ends at EOF; 3 s absorbs a stalled server
    finally:
        slow.close()
    assert slow.end == "eof", "the connection is still open"
    replies = [m for m in messages if m.startswith('a[{"s"')]
    assert len(replies) < 10_000
    assert (await other.request("auth/me"))["s"] == 200
    assert desk.api.get("/v1/auth/me", desk.demo).status_code == 200


async def test_reader_that_resumes_after_the_overflow_is_told_why_with_1008(desk: Desk, server: ServerProcess) -> None:
    slow = await overflowed_reader(desk, server)
    try:
        messages = await asyncio.to_thread(slow.read_frames, 3.0)
    finally:
        slow.close()
    # What was already in the buffers (whole frames), then the goodbye, the close frame and the end of the stream;
    # the answers still queued are dropped.
    assert messages[-2:] == ['c[1008,"Client too slow: outbound buffer full"]', "CLOSE 1008"], messages[-3:]
    assert slow.end == "eof"
    assert not any(m.startswith("c[") for m in messages[:-2])
    replies = [json.loads(m[1:])[0]["i"] for m in messages if m.startswith('a[{"s"')]
    assert replies == sorted(replies) and len(replies) < 10_000


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the TCP state from /proc/net/tcp")
async def test_reader_that_lets_10000_frames_pile_up_is_disconnected_without_reading(
        desk: Desk, server: ServerProcess) -> None:
    slow = await overflowed_reader(desk, server)
    try:
        client_port = slow.sock.getsockname()[1]
        # Documented: reset RELEASE (5 s) after the overflow when the client has not read it all by then.
        await wait_for_state(server.port, client_port, None, within=RELEASE + 15)
        await asyncio.to_thread(slow.read_frames, 0.5)
        assert slow.end == "reset"
    finally:
        slow.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the TCP state from /proc/net/tcp")
async def test_silent_client_that_does_not_read_is_closed_and_released(short_server: ServerProcess) -> None:
    """A dead peer: the heartbeat timeout closes it, its close cannot be flushed, so it is forced after
    CLOSE_FLUSH and the connection reset RELEASE later."""
    with Api(short_server.base_url) as api:
        token = api.token(ADMIN, ADMIN_PASSWORD)
        api.set_clock(OPEN_TIME, token)
        slow = RawSocket(short_server.base_url)
        try:
            client_port = slow.sock.getsockname()[1]
            await asyncio.to_thread(flood_dom, api, token, slow, 120)
            await wait_for_state(short_server.port, client_port, None,
                                 within=SHORT_TIMEOUT + CLOSE_FLUSH + RELEASE + 15)
        finally:
            slow.close()


async def test_a_users_51st_socket_closes_the_oldest_with_connection_quota_reached(desk: Desk, ws: Opener) -> None:
    user_id = desk.create_user("wsquota")
    assert user_id
    token = desk.api.token("wsquota", "wsquota-pw")
    sockets = [await ws(token) for _ in range(50)]
    await asyncio.sleep(0.2)
    assert not any(s.ended for s in sockets)

    newest = await ws(token)

    oldest = sockets[0]
    close = await oldest.closed()
    assert close == (4008, "ConnectionQuotaReached")
    assert [e.data["reasonCode"] for e in oldest.events if e.kind == "shutdown"] == ["ConnectionQuotaReached"]
    assert not any(s.ended for s in sockets[1:])
    assert (await newest.request("auth/me"))["s"] == 200
    assert (await sockets[1].request("auth/me"))["s"] == 200


# --- bad input -----------------------------------------------------------------------------------------------------


async def test_bad_frames_get_errors_with_the_id_when_readable_and_nothing_breaks(desk: Desk, ws: Opener) -> None:
    bystander = await ws(desk.demo)
    client = await ws()

    await client.send("auth/me\n100\n\n")  # before authorize
    assert await client.reply(100) == {"s": 401, "i": 100, "d": "Not authorized: send authorize first"}
    assert (await client.authorize(desk.demo))["s"] == 200
    garbage: list[str | bytes] = [
        "no newline at all",
        "\x00\x01\x02",
        b"\xff\xfe\xfd binary",
        "auth/me\nabc\n\n",  # non-numeric id
        "auth/me\n-1\n\n",
        "auth/me\n\n\n",
        "x" * 200_000,
        "{\"json\": \"instead of a request\"}",
    ]
    for frame in garbage:
        await client.send(frame)
    await client.wait_until(lambda: len(client.replies.get(None, [])) == len(garbage), what="400s without id")
    assert all(r["s"] == 400 and isinstance(r["d"], str) for r in client.replies[None])

    assert await client.request("no/suchOperation") == {"s": 404, "i": 1, "d": "Unknown operation no/suchOperation"}
    malformed = await client.request("order/placeorder", "{not json")
    assert malformed["s"] == 400 and malformed["i"] == 2 and "JSON" in malformed["d"]
    wrong_type = await client.request("order/placeorder", {"accountId": "DEMO1", "action": "Buy"})
    assert wrong_type["s"] == 400 and wrong_type["i"] == 3, wrong_type
    empty = await client.request("md/subscribeQuote", "")
    assert empty["s"] == 400 and empty["i"] == 4

    # The same socket, another socket and REST all still work.
    assert (await client.request("auth/me"))["s"] == 200
    assert (await bystander.request("auth/me"))["s"] == 200
    assert desk.api.get("/v1/auth/me", desk.demo).status_code == 200
    assert not client.ended and not bystander.ended


async def test_non_ascii_digit_id_is_a_400_and_the_socket_stays_open(desk: Desk, ws: Opener) -> None:
    client = await ws(desk.demo)
    await client.send("auth/me\n\u00b2\n\n")
    await client.send("auth/me\n7\n\n")
    await client.wait_until(lambda: 7 in client.replies or client.ended, what="the next reply")
    assert not client.ended
    assert client.replies[None][0]["s"] == 400
