"""The trader's commands: `login`, `logout`, `accounts`, `positions`, `orders`, `fills`, `place`, `cancel`,
`liquidate`."""

import argparse

from tradovate_sim.cli.failure import Exit, rejected, usage
from tradovate_sim.cli.invocation import Invocation, chunks
from tradovate_sim.model.entities import Account, Fill, Order, OrderVersion, Position
from tradovate_sim.model.enums import OrderAction, OrderType, OrdStatus, TimeInForce
from tradovate_sim.model.requests import CancelOrder, LiquidatePosition, PlaceOrder
from tradovate_sim.model.results import CommandResult, PlaceOrderResult, Violations

WORKING = frozenset({OrdStatus.Working, OrdStatus.Suspended, OrdStatus.PendingNew, OrdStatus.PendingReplace,
                     OrdStatus.PendingCancel})


def failure_of(result: PlaceOrderResult | CommandResult | Violations) -> str | None:
    """The line that says why the server refused, or None when it did not."""
    if isinstance(result, Violations):
        return "rejected: " + "; ".join(f"{v.constraint} {v.value}: {v.description}" for v in result.violations)
    if result.failure_reason is not None or result.failure_text:
        reason = result.failure_reason.value if result.failure_reason is not None else "rejected"
        return f"rejected: {reason}" + (f": {result.failure_text}" if result.failure_text else "")
    return None


def login(run: Invocation) -> Exit:
    connection = run.connection
    client = run.opened = connection.client(fresh=True)
    client.login()
    me = client.auth.me()
    if run.out.json:
        run.out.value(me)
    else:
        run.out.line(f"logged in to {connection.url} as {me.name} (user {me.user_id}"
                     + (f", {me.organization_name}" if me.organization_name else "") + ")")
        if connection.cache.path is not None:
            run.out.line(f"token kept in {connection.cache.path} until {client.session.expires:%Y-%m-%d %H:%M}Z")
    return Exit.OK


def logout(run: Invocation) -> Exit:
    connection = run.connection
    dropped = connection.cache.drop(connection.environment, connection.user)
    if run.out.json:
        run.out.value({"forgotten": dropped})
    else:
        run.out.line(f"forgot the token of {connection.user} at {connection.url}" if dropped
                     else f"no token of {connection.user} at {connection.url} was kept")
    return Exit.OK


def accounts(run: Invocation) -> Exit:
    found = run.names.accounts()
    if run.out.json:
        run.out.value(found)
        return Exit.OK
    run.out.table(None, ["id", "name", "user", "type", "active", "restricted"],
                  [(a.id, a.name, a.user_id, a.account_type, a.active, a.restricted) for a in found])
    return Exit.OK


def positions_of(run: Invocation, selected: list[Account], every: bool) -> list[Position]:
    client = run.client
    found = (client.position.list() if len(selected) > 1 or not selected
             else client.position.deps(selected[0].id))
    ids = {a.id for a in selected}
    return sorted((p for p in found if p.account_id in ids and (every or p.net_pos != 0)), key=lambda p: p.id)


def positions(run: Invocation) -> Exit:
    found = positions_of(run, run.names.selected(run.args.account), run.args.all)
    if run.out.json:
        run.out.value(found)
        return Exit.OK
    symbols = run.names.symbols(p.contract_id for p in found)
    run.out.table(None, ["id", "account", "symbol", "netPos", "netPrice", "bought", "sold", "tradeDate"],
                  [(p.id, run.names.account_name(p.account_id), symbols.get(p.contract_id), p.net_pos, p.net_price,
                    p.bought, p.sold, f"{p.trade_date.year}-{p.trade_date.month:02}-{p.trade_date.day:02}")
                   for p in found])
    return Exit.OK


def orders_of(run: Invocation, selected: list[Account], every: bool) -> list[Order]:
    client = run.client
    found = client.order.list() if len(selected) > 1 or not selected else client.order.deps(selected[0].id)
    ids = {a.id for a in selected}
    return sorted((o for o in found if o.account_id in ids and (every or o.ord_status in WORKING)),
                  key=lambda o: o.id)


def latest_versions(run: Invocation, orders: list[Order]) -> dict[int, OrderVersion]:
    latest: dict[int, OrderVersion] = {}
    for part in chunks([o.id for o in orders]):
        for version in run.client.order_version.ldeps(part):
            if version.order_id not in latest or latest[version.order_id].id < version.id:
                latest[version.order_id] = version
    return latest


def orders(run: Invocation) -> Exit:
    found = orders_of(run, run.names.selected(run.args.account), run.args.all)
    if run.out.json:
        run.out.value(found)
        return Exit.OK
    symbols = run.names.symbols(o.contract_id for o in found)
    versions = latest_versions(run, found)
    rows = []
    for o in found:
        version = versions.get(o.id)
        rows.append((o.id, run.names.account_name(o.account_id), symbols.get(o.contract_id), o.action,
                     version.order_type if version else None, version.order_qty if version else None,
                     version.price if version else None, version.stop_price if version else None, o.ord_status,
                     o.timestamp))
    run.out.table(None, ["id", "account", "symbol", "action", "type", "qty", "price", "stopPrice", "status",
                         "timestamp"], rows)
    return Exit.OK


def fills(run: Invocation) -> Exit:
    client = run.client
    selected = run.names.selected(run.args.account)
    found: list[Fill]
    if len(selected) == 1:
        order_ids = [o.id for o in client.order.deps(selected[0].id)]
        found = [f for part in chunks(order_ids) for f in client.fill.ldeps(part)]
    else:
        found = client.fill.list()
    found.sort(key=lambda f: f.id)
    if run.out.json:
        run.out.value(found)
        return Exit.OK
    symbols = run.names.symbols(f.contract_id for f in found)
    run.out.table(None, ["id", "orderId", "symbol", "action", "qty", "price", "timestamp"],
                  [(f.id, f.order_id, symbols.get(f.contract_id), f.action, f.qty, f.price, f.timestamp)
                   for f in found])
    return Exit.OK


def order_type(args: argparse.Namespace) -> OrderType:
    if args.limit is not None and args.stop is not None:
        return OrderType.StopLimit
    if args.limit is not None:
        return OrderType.Limit
    if args.stop is not None:
        return OrderType.Stop
    return OrderType.Market


def place(run: Invocation) -> Exit:
    args = run.args
    if args.qty < 1:
        raise usage(f"argument QTY: must be 1 or more, not {args.qty}")
    account = run.names.account(args.account)
    contract = run.names.contract(args.symbol)
    kind = order_type(args)
    request = PlaceOrder(account_spec=account.name, account_id=account.id, action=OrderAction(args.action.title()),
                         symbol=contract.name, order_qty=args.qty, order_type=kind, price=args.limit,
                         stop_price=args.stop, time_in_force=TimeInForce(args.tif) if args.tif else None,
                         text=args.text)
    result = run.client.order.place_order(request)
    failure = failure_of(result)
    if run.out.json:
        run.out.value(result)
    elif failure is None and isinstance(result, PlaceOrderResult) and result.order_id is not None:
        status = run.client.order.item(result.order_id).ord_status
        run.out.line(f"order {result.order_id}: {request.action} {args.qty} {contract.name} {kind}"
                     + (f" @ {args.limit}" if args.limit is not None else "")
                     + (f" stop {args.stop}" if args.stop is not None else "") + f" in {account.name}: {status}")
    if failure is not None:
        raise rejected(failure)
    return Exit.OK


def cancel(run: Invocation) -> Exit:
    result = run.client.order.cancel_order(CancelOrder(order_id=run.args.order_id))
    failure = failure_of(result)
    if run.out.json:
        run.out.value(result)
    elif failure is None:
        run.out.line(f"order {run.args.order_id}: cancel accepted (command {result.command_id})")
    if failure is not None:
        raise rejected(failure)
    return Exit.OK


def liquidate(run: Invocation) -> Exit:
    args = run.args
    account = run.names.account(args.account)
    if args.all == (args.symbol is not None):
        raise usage("liquidate: give a SYMBOL, or --all for every position of the account")
    if args.symbol is not None:
        contract = run.names.contract(args.symbol)
        result = run.client.order.liquidate_position(
            LiquidatePosition(account_id=account.id, contract_id=contract.id, admin=args.admin))
        failure = failure_of(result)
        if run.out.json:
            run.out.value(result)
        elif failure is None and isinstance(result, PlaceOrderResult):
            run.out.line(f"{account.name} {contract.name}: liquidated"
                         + (f" (order {result.order_id})" if result.order_id is not None else " (nothing to close)"))
        if failure is not None:
            raise rejected(failure)
        return Exit.OK
    return liquidate_all(run, account)


def liquidate_all(run: Invocation, account: Account) -> Exit:
    """Every contract the account holds or has working orders in: one `liquidatePosition` each."""
    held = {p.contract_id: p.net_pos for p in positions_of(run, [account], every=False)}
    for o in orders_of(run, [account], every=False):
        held.setdefault(o.contract_id, 0)
    symbols = run.names.symbols(held)
    outcomes: list[dict[str, object]] = []
    failures = 0
    with run.out.progress(f"liquidating {account.name}", len(held)) as step:
        for contract_id, net_pos in sorted(held.items()):
            result = run.client.order.liquidate_position(
                LiquidatePosition(account_id=account.id, contract_id=contract_id, admin=run.args.admin))
            failure = failure_of(result)
            failures += failure is not None
            outcome: dict[str, object] = {"accountId": account.id, "contractId": contract_id,
                                          "symbol": symbols.get(contract_id), "netPos": net_pos}
            if isinstance(result, PlaceOrderResult):
                outcome.update({"orderId": result.order_id, "failureReason": result.failure_reason,
                                "failureText": result.failure_text})
            else:
                outcome["violations"] = result.violations
            outcomes.append({k: v for k, v in outcome.items() if v is not None})
            step.advance()
    if run.out.json:
        run.out.value(outcomes)
    else:
        run.out.table(f"{account.name}: {len(held)} contracts", ["symbol", "netPos", "orderId", "failure"],
                      [(o.get("symbol"), o["netPos"], o.get("orderId"), o.get("failureReason") or o.get("failureText"))
                       for o in outcomes])
    if failures:
        raise rejected(f"{failures} of {len(held)} liquidations were refused")
    return Exit.OK
