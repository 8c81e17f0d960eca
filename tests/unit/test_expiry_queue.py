"""Order expiry (service/expiry.py) reads only what is due (issue 9, pauses): each Day/GTD order's deadline is
computed once per committed version and queued, so a sweep with nothing due does no work per working order (a
sweep that read every working Day order held the event loop for tens of milliseconds a second with 60k of them)."""

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Account, Order, OrderVersion, User
from tradovate_sim.model.enums import OrderAction, OrderType, OrdStatus, TimeInForce
from tradovate_sim.model.ids import OrderId, OrganizationId
from tradovate_sim.model.requests import ModifyOrder, PlaceOrder
from tradovate_sim.model.simulator import QuoteRequest
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service import expiry, orders, simulator

OPEN = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 09:00 in Chicago: the ES session is open


async def demo_at_open(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    """A runtime with the demo seed, its clock frozen at OPEN and ESZ6 quoted."""
    made = await make_runtime(seed="demo", demo_password="demo-pw")
    made.platform.clock.set(OPEN)
    await made.list_contracts()
    await simulator.set_quote(made.platform, QuoteRequest(symbol="ESZ6", bid=6800.0, ask=6800.25))
    return made


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await demo_at_open(make_runtime)


def demo(runtime: Runtime) -> tuple[Caller, Account]:
    state = runtime.platform.state
    user = next(u for u in state.table(User).values() if u.name == "demo")
    account = next(a for a in state.table(Account).values() if a.name == "DEMO1")
    return Caller(user_id=user.id, organization_id=user.organization_id or OrganizationId(0)), account


async def place(runtime: Runtime, tif: TimeInForce, price: float, expire: datetime | None = None) -> int:
    caller, account = demo(runtime)
    result = await orders.place_order(runtime.platform, caller, PlaceOrder(
        account_id=account.id, action=OrderAction.Buy, symbol="ESZ6", order_qty=1, order_type=OrderType.Limit,
        price=price, time_in_force=tif, expire_time=expire))
    assert getattr(result, "order_id", None), result
    return result.order_id  # type: ignore[union-attr,return-value]


class Walked(dict[OrderId, None]):
    """A dict that counts how often it is iterated."""

    walks = 0

    def __iter__(self) -> Iterator[OrderId]:
        self.walks += 1
        return super().__iter__()


def status(runtime: Runtime, order_id: int) -> OrdStatus:
    return runtime.platform.state.table(Order)[order_id].ord_status  # type: ignore[index]


async def test_a_sweep_computes_each_deadline_once_and_reads_only_what_is_due(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: 30 Day orders, one GTD order due in an hour, one GTC order; deadlines counted
    computed: list[int] = []
    real = expiry.deadline

    def counted(platform: object, order: Order, version: OrderVersion) -> datetime | None:
        computed.append(order.id)
        return real(runtime.platform, order, version)

    monkeypatch.setattr(expiry, "deadline", counted)
    days = [await place(runtime, TimeInForce.Day, 6790.0 - i * 0.25) for i in range(30)]
    gtd = await place(runtime, TimeInForce.GTD, 6780.0, OPEN + timedelta(hours=1))
    gtc = await place(runtime, TimeInForce.GTC, 6779.0)

    # Act / Assert: the first sweep queues each Day/GTD order once; later sweeps with nothing new compute nothing
    # and never walk the index of expiring orders
    assert await runtime.expiry.sweep() == 0
    assert sorted(computed) == sorted([*days, gtd])
    computed.clear()
    state = runtime.platform.state
    state.expiring = watched = Walked(state.expiring)
    for _ in range(3):
        assert await runtime.expiry.sweep() == 0
    assert computed == []
    assert watched.walks == 0
    assert len(runtime.expiry.queue) == 31

    # Act / Assert: a modify commits a new version, whose deadline alone is computed again
    caller, _ = demo(runtime)
    modified = await orders.modify_order(runtime.platform, caller, ModifyOrder(
        order_id=days[0], order_qty=1, order_type=OrderType.Limit, price=6770.0,  # type: ignore[arg-type]
        time_in_force=TimeInForce.Day))
    assert modified.failure_reason is None, modified
    assert await runtime.expiry.sweep() == 0
    assert computed == [days[0]]

    # Act / Assert: an hour later the GTD order alone expires; past the close every Day order does, GTC works on
    runtime.platform.clock.set(OPEN + timedelta(hours=1))
    assert await runtime.expiry.sweep() == 1
    assert status(runtime, gtd) is OrdStatus.Expired
    assert all(status(runtime, d) is OrdStatus.Working for d in days)
    runtime.platform.clock.set(datetime(2026, 11, 24, 22, 0, tzinfo=UTC))  # 16:00 Chicago: past the 15:15 close
    assert await runtime.expiry.sweep() == 30
    assert all(status(runtime, d) is OrdStatus.Expired for d in days)
    assert status(runtime, gtc) is OrdStatus.Working
    assert await runtime.expiry.sweep() == 0


async def test_a_reset_state_is_queued_again_from_what_is_loaded(runtime: Runtime) -> None:
    # Arrange: a GTD order queued, then the platform reloads its state from the store (as a restart would)
    order = await place(runtime, TimeInForce.GTD, 6780.0, OPEN + timedelta(minutes=5))
    assert await runtime.expiry.sweep() == 0
    runtime.platform.load()

    # Act: past its expire time
    runtime.platform.clock.set(OPEN + timedelta(minutes=6))
    due = await runtime.expiry.sweep()

    # Assert: found from the reloaded state
    assert due == 1
    assert status(runtime, order) is OrdStatus.Expired
