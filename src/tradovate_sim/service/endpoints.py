"""The one endpoint table: every `/v1` operation, its request type and its handler. REST (and the WebSocket
loop) dispatch from here; nothing else names an operation."""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from tradovate_sim.core.view import Caller
from tradovate_sim.model import requests as rq
from tradovate_sim.model.entities import UserAccountAutoLiq
from tradovate_sim.model.kinds import KINDS, QUERY_OF_OPERATION, Kind
from tradovate_sim.service import accounts, admin, entities, funds, limits, margins, orders, resets, rules
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.identity import Identity
from tradovate_sim.service.platform import Platform


class Services(msgspec.Struct, frozen=True):
    """What handlers work with; built once by the app's lifespan."""

    platform: Platform
    identity: Identity
    hashing: PasswordHashing
    autoliq: AutoLiquidation


Handler = Callable[[Services, Caller | None, Any, Mapping[str, str]], Awaitable[object]]


class Endpoint(msgspec.Struct, frozen=True):
    name: str  # Tradovate's path below /v1, as documented (matching is case-insensitive)
    handler: Handler
    request: type | None = None  # the JSON body type; None for query-only operations
    public: bool = False  # no token needed


def _caller(caller: Caller | None) -> Caller:
    assert caller is not None, "authenticated endpoint called without a caller"
    return caller


def _command(name: str, request: type, run: Callable[[Services, Caller, Any], Awaitable[object]]) -> Endpoint:
    async def handler(services: Services, caller: Caller | None, body: Any, _q: Mapping[str, str]) -> object:
        result = await run(services, _caller(caller), body)
        await services.autoliq.drain()  # a breach this command caused is carried out before the answer
        return result
    return Endpoint(name=name, handler=handler, request=request)


def _entity_query(kind: Kind, operation: str) -> Endpoint:
    async def handler(services: Services, caller: Caller | None, _b: Any, query: Mapping[str, str]) -> object:
        return entities.query(services.platform, _caller(caller), kind, operation, query)
    return Endpoint(name=f"{kind.name}/{operation}", handler=handler)


async def _login(services: Services, _c: Caller | None, body: Any, _q: Mapping[str, str]) -> object:
    return await services.identity.login(body)


async def _renew(services: Services, caller: Caller | None, _b: Any, _q: Mapping[str, str]) -> object:
    return await services.identity.renew(_caller(caller))


async def _me(services: Services, caller: Caller | None, _b: Any, _q: Mapping[str, str]) -> object:
    return services.identity.me(_caller(caller))


def build() -> dict[str, Endpoint]:
    """The table, keyed by lower-cased name."""
    table = [
        Endpoint(name="auth/accessTokenRequest", handler=_login, request=rq.AccessTokenRequest, public=True),
        Endpoint(name="auth/renewAccessToken", handler=_renew),
        Endpoint(name="auth/me", handler=_me),
        _command("order/placeOrder", rq.PlaceOrder, lambda s, c, b: orders.place_order(s.platform, c, b)),
        _command("order/placeOCO", rq.PlaceOCO, lambda s, c, b: orders.place_oco(s.platform, c, b)),
        _command("order/placeOSO", rq.PlaceOSO, lambda s, c, b: orders.place_oso(s.platform, c, b)),
        _command("order/modifyOrder", rq.ModifyOrder, lambda s, c, b: orders.modify_order(s.platform, c, b)),
        _command("order/cancelOrder", rq.CancelOrder, lambda s, c, b: orders.cancel_order(s.platform, c, b)),
        _command("order/dryRun", rq.DryRun, lambda s, c, b: margins.dry_run(s.platform, c, b)),
        _command("order/liquidatePosition", rq.LiquidatePosition,
                 lambda s, c, b: orders.liquidate_position(s.platform, c, b)),
        _command("order/liquidatePositions", rq.LiquidatePositions,
                 lambda s, c, b: orders.liquidate_positions(s.platform, c, b)),
        _command("user/createEvaluationUsers", rq.CreateEvaluationUsers,
                 lambda s, c, b: accounts.create_evaluation_users(s.platform, c, s.hashing, b)),
        _command("user/createEvaluationAccounts", rq.CreateEvaluationAccounts,
                 lambda s, c, b: accounts.create_evaluation_accounts(s.platform, c, b)),
        _command("user/revokeTradingPermission", rq.RevokeTradingPermission,
                 lambda s, c, b: accounts.revoke_trading_permission(s.platform, c, b)),
        _command("cashBalance/changeDemoBalance", rq.ChangeDemoBalance,
                 lambda s, c, b: accounts.change_demo_balance(s.platform, c, b)),
        _command("cashBalance/getCashBalanceSnapshot", rq.GetCashBalanceSnapshot,
                 lambda s, c, b: accounts.get_cash_balance_snapshot(s.platform, c, b)),
        _command("accountRiskStatus/setAdminAutoLiqAction", rq.SetAdminAutoLiqAction,
                 lambda s, c, b: admin.set_admin_auto_liq_action(s.platform, c, b, s.autoliq)),
        _command("accountRiskStatus/resetAutoLiqStatus", rq.ResetAutoLiqStatus,
                 lambda s, c, b: admin.reset_auto_liq_status(s.platform, c, b, s.autoliq)),
        _command("accountRiskStatus/updateMaxNetLiq", rq.UpdateMaxNetLiq,
                 lambda s, c, b: admin.update_max_net_liq(s.platform, c, b, s.autoliq)),
        _command("accountRiskStatus/setAccountNotes", rq.SetAccountNotes,
                 lambda s, c, b: admin.set_account_notes(s.platform, c, b)),
        _command("fundTransaction/adjustCash", rq.AdjustCash, lambda s, c, b: funds.adjust_cash(s.platform, c, b)),
        _command("account/resetDemoAccountState", rq.ResetDemoAccountState,
                 lambda s, c, b: resets.reset_demo_account_state(s.platform, c, b, s.autoliq)),
        _command("userAccountAutoLiq/create", UserAccountAutoLiq, lambda s, c, b: rules.create(s.platform, c, b)),
        _command("userAccountAutoLiq/update", UserAccountAutoLiq, lambda s, c, b: rules.update(s.platform, c, b)),
        _command("userAccountAutoLiq/updateUserAutoLiq", dict,
                 lambda s, c, b: rules.update_user_auto_liq(s.platform, c, b)),
        _command("userAccountAutoLiq/updateUserAutoLiqs", rq.UpdateUserAutoLiqs,
                 lambda s, c, b: rules.update_user_auto_liqs(s.platform, c, b)),
        _command("userAccountPositionLimit/create", rq.UserAccountPositionLimitBody,
                 lambda s, c, b: limits.create_position_limit(s.platform, c, b)),
        _command("userAccountPositionLimit/update", rq.UserAccountPositionLimitBody,
                 lambda s, c, b: limits.update_position_limit(s.platform, c, b)),
        _command("userAccountPositionLimit/deleteUserAccountPositionLimit", rq.DeleteUserAccountPositionLimit,
                 lambda s, c, b: limits.delete_position_limit(s.platform, c, b)),
        _command("userAccountPositionLimit/deleteUserAccountRiskParameter", rq.DeleteUserAccountRiskParameter,
                 lambda s, c, b: limits.delete_risk_parameter(s.platform, c, b)),
        _command("userAccountRiskParameter/create", rq.UserAccountRiskParameterBody,
                 lambda s, c, b: limits.create_risk_parameter(s.platform, c, b)),
        _command("userAccountRiskParameter/update", rq.UserAccountRiskParameterBody,
                 lambda s, c, b: limits.update_risk_parameter(s.platform, c, b)),
    ]
    for kind in KINDS:
        for operation, queries in QUERY_OF_OPERATION.items():
            if queries in kind.queries:
                table.append(_entity_query(kind, operation))
    return {endpoint.name.lower(): endpoint for endpoint in table}
