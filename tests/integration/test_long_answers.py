"""Long answers, made a slice at a time (`service/slices.py`): a risk desk's `user/syncrequest` snapshot of hundreds of
orders arrives whole (in WebSocket fragments, compressed) while orders keep being placed, every order once (in
the snapshot or as a later event); `order/list` of as many answers every one of them."""

import asyncio
import threading
from typing import Any

from server import Desk, evaluation_account, order
from ws_client import Opener

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
