"""The endpoint table: every operation of the API (declared once in `model/api.py`) bound to its handler.

REST (`/v1/<name>`), the WebSocket loop and the simulator controls (`/sim/<name>`) all look operations up here. An
entry is an `Endpoint[Req, Res]`: `bind` has mypy check that its handler takes `Req` and returns `Res`. The `/v1`
operations' handlers are here; the socket-only operations' handlers live with the socket (server/), the simulator
controls' with the app, bound to their operations by key (each entry has exactly one, checked at start-up by
`check_bound`).
"""

import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Generic, Literal, TypeVar

import msgspec

from tradovate_sim.core.view import Caller
from tradovate_sim.model import api
from tradovate_sim.model import queries as qs
from tradovate_sim.model import requests as rq
from tradovate_sim.model import results as rs
from tradovate_sim.model.api import Operation, Served, Shape, Source
from tradovate_sim.model.kinds import Kind
from tradovate_sim.service import (
    accounts,
    admin,
    categories,
    contract_library,
    entities,
    funds,
    limits,
    margins,
    orders,
    resets,
    rules,
    strategies,
)
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.identity import Identity
from tradovate_sim.service.platform import Platform

Req = TypeVar("Req")
Res = TypeVar("Res")

__all__ = ["Endpoint", "Served", "Services", "Source", "Table", "build", "build_all", "check_bound", "served"]


class Services(msgspec.Struct, frozen=True):
    """What handlers work with; built once by the app's lifespan."""

    platform: Platform
    identity: Identity
    hashing: PasswordHashing
    autoliq: AutoLiquidation


Handler = Callable[[Services, Caller | None, Req], Awaitable[Res]]


class Endpoint(Generic[Req, Res]):
    """An operation and its handler (None for socket-only and simulator entries: bound where their context lives)."""

    __slots__ = ("handler", "method", "name", "operation", "public", "request", "result", "served", "source")

    def __init__(self, operation: Operation[Req, Res], handler: Handler[Req, Res] | None) -> None:
        self.operation = operation
        self.handler = handler
        # the operation's fields, copied: the request path reads them on every call
        self.name = operation.name
        self.request = operation.request
        self.result: Shape[Res] = operation.result
        self.source = operation.source
        self.served = operation.served
        self.method: Literal["GET", "POST"] = operation.method
        self.public = operation.public

    @property
    def key(self) -> str:
        return self.operation.key

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r}, {self.served.value}, {self.method})"


Table = dict[str, Endpoint[Any, Any]]  # by `Endpoint.key`; entries are typed where they are built


def _caller(caller: Caller | None) -> Caller:
    assert caller is not None, "authenticated endpoint called without a caller"
    return caller


def bind(operation: Operation[Req, Res], handler: Handler[Req, Res]) -> Endpoint[Req, Res]:
    return Endpoint(operation, handler)


def command(operation: Operation[Req, Res],
            run: Callable[[Services, Caller, Req], Awaitable[Res]]) -> Endpoint[Req, Res]:
    """A `/v1` operation with a JSON body that may change state: a breach it causes is carried out before the
    answer."""
    async def handler(services: Services, caller: Caller | None, body: Req) -> Res:
        result = await run(services, _caller(caller), body)
        await services.autoliq.drain()
        return result
    return Endpoint(operation, handler)


_ENTITY_RUNS: dict[str, Callable[[Platform, Caller, Kind, Any], Any]] = {
    "item": entities.item, "items": entities.items, "list": entities.listed, "find": entities.find,
    "suggest": entities.suggest, "deps": entities.deps, "ldeps": entities.ldeps,
}


def _entity_query(kind: Kind, operation: Operation[Any, Any]) -> Endpoint[Any, Any]:
    run = _ENTITY_RUNS[operation.name.rsplit("/", 1)[1]]

    async def handler(services: Services, caller: Caller | None, query: Any) -> Any:
        result = run(services.platform, _caller(caller), kind, query)
        return await result if inspect.isawaitable(result) else result  # (lists are made in slices: awaited)
    return Endpoint(operation, handler)


async def _login(services: Services, _c: Caller | None, body: rq.AccessTokenRequest) -> rs.AccessTokenResponse:
    return await services.identity.login(body)


async def _renew(services: Services, caller: Caller | None, _q: qs.NoParameters) -> rs.AccessTokenResponse:
    return await services.identity.renew(_caller(caller))


async def _me(services: Services, caller: Caller | None, _q: qs.NoParameters) -> rs.OAuthMeResponse:
    return services.identity.me(_caller(caller))


def _api() -> list[Endpoint[Any, Any]]:
    o, a, u = api.Order, api.AccountRiskStatus, api.UserAccountAutoLiq
    p, r = api.UserAccountPositionLimit, api.UserAccountRiskParameter
    return [
        bind(api.Auth.access_token_request, _login),
        bind(api.Auth.renew_access_token, _renew),
        bind(api.Auth.me, _me),
        command(o.place_order, lambda s, c, b: orders.place_order(s.platform, c, b)),
        command(o.place_oco, lambda s, c, b: orders.place_oco(s.platform, c, b)),
        command(o.place_oso, lambda s, c, b: orders.place_oso(s.platform, c, b)),
        command(o.modify_order, lambda s, c, b: orders.modify_order(s.platform, c, b)),
        command(o.cancel_order, lambda s, c, b: orders.cancel_order(s.platform, c, b)),
        command(o.dry_run, lambda s, c, b: margins.dry_run(s.platform, c, b)),
        command(o.liquidate_position, lambda s, c, b: orders.liquidate_position(s.platform, c, b)),
        command(o.liquidate_positions, lambda s, c, b: orders.liquidate_positions(s.platform, c, b)),
        command(api.OrderStrategy.start_order_strategy,
                lambda s, c, b: strategies.start_order_strategy(s.platform, c, b)),
        command(api.OrderStrategy.modify_order_strategy,
                lambda s, c, b: strategies.modify_order_strategy(s.platform, c, b)),
        command(api.OrderStrategy.interrupt_order_strategy,
                lambda s, c, b: strategies.interrupt_order_strategy(s.platform, c, b)),
        command(api.User.create_evaluation_users,
                lambda s, c, b: accounts.create_evaluation_users(s.platform, c, s.hashing, b)),
        command(api.User.create_evaluation_accounts,
                lambda s, c, b: accounts.create_evaluation_accounts(s.platform, c, b)),
        command(api.User.revoke_trading_permission,
                lambda s, c, b: accounts.revoke_trading_permission(s.platform, c, b)),
        command(api.CashBalance.change_demo_balance, lambda s, c, b: accounts.change_demo_balance(s.platform, c, b)),
        command(api.CashBalance.get_cash_balance_snapshot,
                lambda s, c, b: accounts.get_cash_balance_snapshot(s.platform, c, b)),
        command(a.set_admin_auto_liq_action,
                lambda s, c, b: admin.set_admin_auto_liq_action(s.platform, c, b, s.autoliq)),
        command(a.reset_auto_liq_status, lambda s, c, b: admin.reset_auto_liq_status(s.platform, c, b, s.autoliq)),
        command(a.update_max_net_liq, lambda s, c, b: admin.update_max_net_liq(s.platform, c, b, s.autoliq)),
        command(a.switch_risk_category, lambda s, c, b: categories.switch_risk_category(s.platform, c, b)),
        command(a.set_demo_halt, lambda s, c, b: categories.set_demo_halt(s.platform, c, b)),
        command(a.set_account_notes, lambda s, c, b: admin.set_account_notes(s.platform, c, b)),
        command(api.FundTransaction.adjust_cash, lambda s, c, b: funds.adjust_cash(s.platform, c, b)),
        command(api.Account.reset_demo_account_state,
                lambda s, c, b: resets.reset_demo_account_state(s.platform, c, b, s.autoliq)),
        command(u.create, lambda s, c, b: rules.create(s.platform, c, b)),
        command(u.update, lambda s, c, b: rules.update(s.platform, c, b)),
        command(u.update_user_auto_liq, lambda s, c, b: rules.update_user_auto_liq(s.platform, c, b)),
        command(u.update_user_auto_liqs, lambda s, c, b: rules.update_user_auto_liqs(s.platform, c, b)),
        command(p.create, lambda s, c, b: limits.create_position_limit(s.platform, c, b)),
        command(p.update, lambda s, c, b: limits.update_position_limit(s.platform, c, b)),
        command(p.delete_user_account_position_limit, lambda s, c, b: limits.delete_position_limit(s.platform, c, b)),
        command(p.delete_user_account_risk_parameter, lambda s, c, b: limits.delete_risk_parameter(s.platform, c, b)),
        command(r.create, lambda s, c, b: limits.create_risk_parameter(s.platform, c, b)),
        command(r.update, lambda s, c, b: limits.update_risk_parameter(s.platform, c, b)),
        command(api.Contract.roll_contract, lambda s, c, b: contract_library.roll_contract(s.platform, c, b)),
        command(api.Contract.roll_contracts, lambda s, c, b: contract_library.roll_contracts(s.platform, c, b)),
        command(api.Contract.get_product_fee_params,
                lambda s, c, b: contract_library.get_product_fee_params(s.platform, c, b)),
    ]


def build() -> Table:
    """The `/v1` operations (served over REST and over the WebSocket), keyed by lower-cased name."""
    table = _api()
    table.extend(_entity_query(kind, operation) for kind, operation in api.entity_queries())
    bound = {endpoint.key for endpoint in table}
    declared = {op.key for op in api.all_operations() if op.served is Served.API}
    if bound != declared:
        raise RuntimeError(f"/v1 handlers: missing {sorted(declared - bound)}, unknown {sorted(bound - declared)}")
    return _keyed(table)


def build_all() -> Table:
    """The whole table: the `/v1` operations, the socket-only ones and the simulator controls, keyed by
    `Endpoint.key` (the last two without a handler here)."""
    unbound = [Endpoint(op, None) for group in (api.Socket, api.Simulator) for op in api.operations_of(group)]
    return _keyed([*build().values(), *unbound])


def _keyed(table: list[Endpoint[Any, Any]]) -> Table:
    keyed = {endpoint.key: endpoint for endpoint in table}
    if len(keyed) != len(table):
        raise ValueError("two endpoints share a name")
    return keyed


def served(table: Table, where: Served) -> Iterable[Endpoint[Any, Any]]:
    return (endpoint for endpoint in table.values() if endpoint.served is where)


def check_bound(table: Table, where: Served, bound: Collection[str]) -> None:
    """Every entry served `where` has exactly one handler among `bound` (keys), and every key is such an entry."""
    keys = {endpoint.key for endpoint in served(table, where)}
    if keys != set(bound) or len(bound) != len(set(bound)):
        raise RuntimeError(f"{where.value} handlers: missing {sorted(keys - set(bound))}, "
                           f"unknown {sorted(set(bound) - keys)}")
