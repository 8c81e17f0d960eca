"""The post-trade risk engine's costs (issue 10, "Speed"), in process, against a SQLite store (synchronous=FULL).

(a) Marking cost: N accounts (10,000 and 100,000), each with a daily-loss and a RealTime trailing-drawdown rule, of
    which 10,000 hold one ESZ6 lot (bought through the normal order path). One quote change of ESZ6 that breaches
    nothing: the time of `quotes_changed` + `drain()` (what /sim/quote and the market loop add per quote), median and
    worst of `--quotes` quotes, and how many accounts were evaluated. The same 10,000 positions with 0 or 90,000
    other accounts: the cost must not grow with the others.
(b) Mass breach: 1,000 of the 10,000 holders have a tighter daily-loss rule; one quote breaches exactly them. The
    time from the quote to `drain()` returning: every one of them locked, flat (one closing order each, none
    twice) and durable (drain returns after the store confirmed every commit).

Accounts are put into memory directly (as a start-up load would); their orders and everything the engine does go
through the store. Run: `.venv/bin/python bench/autoliq.py [--quotes 50] [--results bench/RESULTS.md]`
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from harness import machine, replace_block

from tradovate_sim.core.decision import created
from tradovate_sim.core.view import Caller, Quote
from tradovate_sim.model.entities import AccountRiskStatus, Contract, Order, Position, User, UserAccountAutoLiq
from tradovate_sim.model.enums import AdminAction, OrderAction, OrderType, TrailingMaxDrawdownMode
from tradovate_sim.model.ids import AccountId, ContractId
from tradovate_sim.model.requests import PlaceOrder
from tradovate_sim.service import accounts, orders, seed
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.clock import Clock
from tradovate_sim.service.platform import Platform
from tradovate_sim.storage.sqlite import SqliteStore
from tradovate_sim.venue.calendar import CmeCalendar
from tradovate_sim.venue.catalogue import load_catalogue
from tradovate_sim.venue.market import Market

NOW = datetime(2026, 11, 24, 15, tzinfo=UTC)
HOLDERS = 10_000
BREACHED = 1_000
MARK = "<!-- bench/autoliq.py: {} -->"


async def build(directory: Path, total: int) -> tuple[Platform, AutoLiquidation, ContractId]:
    store = SqliteStore(str(directory / f"bench-{total}.db"), synchronous="FULL")
    await store.open()
    clock = Clock()
    clock.set(NOW)
    platform = Platform(store, clock, load_catalogue(None), CmeCalendar(), Market(seed=0))
    hashing = PasswordHashing()
    await platform.commit(seed.reference_changes(platform) + seed.organization_changes(
        platform, hashing, admin_name="admin", admin_password="bench-admin", demo_password=None, now=NOW))
    await platform.commit(seed.contract_changes(platform, NOW))
    seed.quote_contracts(platform, NOW)
    user = next(u for u in platform.state.table(User).values() if u.name == "admin")
    contract_id = ContractId(platform.state.find(Contract, "ESZ6") or 0)
    for i in range(total):
        _account, changes = accounts.new_account(platform, user=user, name=f"B{i}", balance=50_000.0, now=NOW)
        account_id = changes[0].entity.id
        tight = i < BREACHED
        changes.append(created(UserAccountAutoLiq(
            id=account_id, daily_loss_auto_liq=100.0 if tight else 5_000.0, trailing_max_drawdown=3_000.0,
            trailing_max_drawdown_mode=TrailingMaxDrawdownMode.RealTime)))
        platform.state.load(changes)
    platform.market.set(Quote(contract_id=contract_id, timestamp=NOW, bid=6800 * 4, ask=6800 * 4 + 1,
                              bid_size=1_000_000, ask_size=1_000_000, last=6800 * 4 + 1, depth_size=1_000_000,
                              depth_levels=10))
    engine = AutoLiquidation(platform)
    engine.attach()
    await engine.drain()  # every account's first evaluation (its bases)
    caller = Caller(user_id=user.id, organization_id=user.organization_id or 0, organization_admin=True)  # type: ignore[arg-type]
    ids = [AccountId(a) for a in sorted(platform.state.table(UserAccountAutoLiq))][:HOLDERS]
    for start in range(0, len(ids), 500):
        results = await asyncio.gather(*(orders.place_order(platform, caller, PlaceOrder(
            account_id=a, action=OrderAction.Buy, symbol="ESZ6", order_qty=1, order_type=OrderType.Market,
            is_automated=True)) for a in ids[start:start + 500]))
        refused = [r for r in results if getattr(r, "order_id", None) is None]
        assert not refused, refused[0]
        await engine.drain()
    return platform, engine, contract_id


def move(platform: Platform, contract_id: ContractId, last_ticks: int) -> None:
    platform.market.set(Quote(contract_id=contract_id, timestamp=NOW, bid=last_ticks - 1, ask=last_ticks,
                              bid_size=1_000_000, ask_size=1_000_000, last=last_ticks, depth_size=1_000_000,
                              depth_levels=10))


async def marking(platform: Platform, engine: AutoLiquidation, contract_id: ContractId,
                  quotes: int) -> dict[str, float]:
    entry = 6800 * 4 + 1
    times, evaluated = [], []
    move(platform, contract_id, entry - 3)  # the low water of the run (every holder evaluated once)
    engine.quotes_changed([contract_id])
    await engine.drain()
    for i in range(quotes):
        move(platform, contract_id, entry - 1 - (i % 2))  # inside the marks seen: no breach, no new water mark
        before = engine.evaluations
        started = time.perf_counter()
        engine.quotes_changed([contract_id])
        await engine.drain()
        times.append(time.perf_counter() - started)
        evaluated.append(engine.evaluations - before)
    return {"median_ms": statistics.median(times) * 1000, "max_ms": max(times) * 1000,
            "evaluated_last": evaluated[-1]}


async def mass_breach(platform: Platform, engine: AutoLiquidation, contract_id: ContractId) -> dict[str, float]:
    started = time.perf_counter()
    move(platform, contract_id, 6800 * 4 - 12)  # 3 points down: -$150 and fees breaches the $100 rule only
    platform.quotes_changed([contract_id])
    await engine.drain()
    elapsed = time.perf_counter() - started
    state = platform.state
    breached = [AccountId(a) for a in sorted(state.table(UserAccountAutoLiq))][:BREACHED]
    locked = sum(state.table(AccountRiskStatus)[a].admin_action is AdminAction.LockTradingImmediately
                 for a in breached)
    flat = sum(state.table(Position)[state.positions[(a, contract_id)]].net_pos == 0 for a in breached)
    closing = [o for o in state.table(Order).values() if o.admin]
    others_open = sum(state.table(Position)[p].net_pos != 0 for (a, c), p in state.positions.items()
                      if c == contract_id and a not in set(breached))
    return {"seconds": elapsed, "locked": locked, "flat": flat, "closing_orders": len(closing),
            "others_still_open": others_open}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quotes", type=int, default=50)
    parser.add_argument("--results", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[HOLDERS, 100_000])
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as directory:
        for total in args.sizes:
            built = time.perf_counter()
            platform, engine, contract_id = await build(Path(directory), total)
            setup = time.perf_counter() - built
            a = await marking(platform, engine, contract_id, args.quotes)
            line = (f"| {total:,} accounts, {HOLDERS:,} holding ESZ6 | {a['median_ms']:.2f} ms | {a['max_ms']:.2f} ms"
                    f" | {a['evaluated_last']:.0f} | (setup {setup:.0f} s) |")
            print(line, flush=True)
            lines.append(line)
            if total == max(args.sizes):
                b = await mass_breach(platform, engine, contract_id)
                summary = (f"Mass breach, 1 quote -> {BREACHED:,} accounts: **{b['seconds']:.2f} s** to the last one "
                           f"liquidated, locked and durable; locked {b['locked']:.0f}, flat {b['flat']:.0f}, closing "
                           f"orders {b['closing_orders']:.0f}, the other holders still open: "
                           f"{b['others_still_open']:.0f}")
                print(summary, flush=True)
                lines.append("")
                lines.append(summary)
            await platform.store.close()
    if args.results:
        header = "| accounts | per quote, median | worst | accounts evaluated by the last quote | |"
        body = "\n".join([MARK.format("begin"), "## Post-trade risk engine (`bench/autoliq.py`)", "", header,
                          "|---|---|---|---|---|", *lines, "", f"Machine: {machine()}", MARK.format("end")])
        replace_block(args.results, MARK.format("begin"), MARK.format("end"), body)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
