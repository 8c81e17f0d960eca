"""Long answers, made a slice at a time (`service/slices.py`): a risk desk's `user/syncrequest` snapshot of hundreds of
orders arrives whole (in WebSocket fragments, compressed) while orders keep being placed, every order once (in
the snapshot or as a later event); `order/list` of as many answers every one of them."""

import asyncio
import threading
from typing import Any

from server import Desk, ServerProcess, evaluation_account, order
from websockets.asyncio.client import connect
from ws_client import Opener, authorized, ws_url

ACCOUNTS = 40
ORDERS_EACH = 15  # 600 resting orders: every list of them is encoded in slices, and the snapshot is ~0.7 MB


def resting(account_id: int, n: int) -> dict[str, Any]:
    return order(account_id, order_type="Limit", price=6700.0 - 0.25 * n)


def provision(desk: Desk) -> list[int]:
    user_id = desk.create_user("slices")
    created = desk.api.call("user/createevaluationaccounts", {"accounts": [
        evaluation_account(user_id, desk.template, f"SLICES-{n}") for n in range(ACCOUNTS)]}, desk.admin)
    accounts = [r["accountId"] for r in created["results"]]
    for account_id in accounts:
        for n in range(ORDERS_EACH):
            desk.place(resting(account_id, n), token=desk.admin)
    return accounts


async def test_a_snapshot_of_hundreds_of_orders_holds_each_order_once_with_the_events_after_it(
        desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    accounts = provision(desk)
    admin = await ws(desk.admin)
    placed: list[int] = []
    stop = threading.Event()

    def keep_placing() -> None:  # from another thread: orders land while the snapshot is made
        n = 0
        while not stop.is_set() or n < 5:
            placed.append(desk.place(resting(accounts[n % ACCOUNTS], ORDERS_EACH + n), token=desk.admin)["orderId"])
            n += 1

    placing = asyncio.create_task(asyncio.to_thread(keep_placing))
    await asyncio.sleep(0.05)
    # Act
    snapshot = await admin.sync(within=30.0)
    stop.set()
    await placing
    await admin.wait_until(lambda: placed[-1] in created_orders(admin.props()), within=10.0,
                           what="the last order's event")
    # Assert: each order placed meanwhile is in the snapshot or arrives as created afterwards, never both
    in_snapshot = {o["id"] for o in snapshot["orders"]}
    as_events = created_orders(admin.props())
    assert len(in_snapshot) >= ACCOUNTS * ORDERS_EACH
    assert in_snapshot.isdisjoint(as_events)
    assert set(placed) <= in_snapshot | as_events
    assert sorted(in_snapshot) == [o["id"] for o in snapshot["orders"]]  # in id order, as every collection
    # ... and `order/list` answers all of them, in the same shape as the snapshot's
    listed = {o["id"]: o for o in desk.api.entities("order", desk.admin)}
    assert set(listed) >= in_snapshot | as_events
    assert all(listed[o["id"]]["timestamp"] == o["timestamp"] for o in snapshot["orders"])


def created_orders(props: list[dict[str, Any]]) -> set[int]:
    return {p["entity"]["id"] for p in props if p["entityType"] == "order" and p["eventType"] == "Created"}


async def test_a_client_that_leaves_while_its_snapshot_goes_out_in_fragments_costs_nothing_else(
        desk: Desk, server: ServerProcess) -> None:
    # Arrange: a snapshot of several fragments; the client reads its first frames, then goes away mid-message
    desk.quote(bid=6800.0, ask=6800.25)
    provision(desk)
    before = server.log()
    async with connect(ws_url(server.base_url), max_size=None, ping_interval=None, max_queue=1) as socket:
        assert await socket.recv() == "o"
        await socket.send(f"authorize\n0\n\n{desk.admin}")
        assert '"s":200' in str(await socket.recv())
        await socket.send('user/syncrequest\n1\n\n{"splitResponses": false}')
        await asyncio.sleep(0.05)
        # Act: gone without a closing handshake (as a killed client or a dropped network)
        socket.transport.abort()
    # Assert: the server logged no error and serves a new snapshot whole
    admin_again = await authorized(server.base_url, desk.admin)
    try:
        snapshot = await admin_again.sync(within=30.0)
    finally:
        await admin_again.close()
    assert len(snapshot["orders"]) >= ACCOUNTS * ORDERS_EACH
    added = server.log()[len(before):]
    assert "Traceback" not in added and "ERROR" not in added, added[-2000:]
