"""Pre-trade rules of an account, written by organization admins only: position limits (`userAccountPositionLimit`)
and the risk parameters under them (`userAccountRiskParameter`): create, update and delete. The core enforces them on
every order and modify (`core.risk`).

A body that cannot be enforced (a `totalBy` without its target, an unknown contract, product or exchange, an
unsupported scope) is refused with an `errorText` and nothing is written; a malformed body is a 400 naming the field.
Deleting a position limit deletes its risk parameters in the same commit.
"""

from typing import Any

import msgspec

from tradovate_sim.core import risk
from tradovate_sim.core.decision import Change, created, deleted, updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import (
    Account,
    Contract,
    Exchange,
    Product,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import (
    DeleteUserAccountPositionLimit,
    DeleteUserAccountRiskParameter,
    UserAccountPositionLimitBody,
    UserAccountRiskParameterBody,
)
from tradovate_sim.model.results import DeleteResultResponse, SimpleResponse
from tradovate_sim.service.errors import bad_request, not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account, require_admin


def _require_admin(caller: Caller) -> None:
    require_admin(caller, "Access is denied: only an organization admin may change position limits and risk "
                          "parameters")


def _limit(platform: Platform, caller: Caller, limit_id: int) -> UserAccountPositionLimit | None:
    limit = platform.state.get(UserAccountPositionLimit, limit_id)
    if limit is None or not can_see_account(platform, caller, limit.account_id):
        return None
    return limit


def _unknown_target(platform: Platform, fields: dict[str, Any]) -> str | None:
    """Which target id of a scope names nothing."""
    state = platform.state
    for attribute, kind, wire_name in (("contract_id", Contract, "contractId"), ("product_id", Product, "productId"),
                                       ("exchange_id", Exchange, "exchangeId")):
        target = fields.get(attribute)
        if target is not None and state.get(kind, target) is None:
            return f"{wire_name}: unknown {kind.__name__[0].lower() + kind.__name__[1:]} {target}"
    return None


def _fields(body: msgspec.Struct) -> dict[str, Any]:
    fields = msgspec.structs.asdict(body)
    fields.pop("id", None)
    return fields


# --- position limits --------------------------------------------------------------------------------------------


async def _write_limit(platform: Platform, caller: Caller, body: UserAccountPositionLimitBody,
                       limit_id: int, existing: bool) -> UserAccountPositionLimit | SimpleResponse:
    fields = _fields(body)
    limit = UserAccountPositionLimit(id=limit_id, **fields)
    problem = risk.misconfiguration(risk.scope_of(limit)) or _unknown_target(platform, fields)
    if problem is not None:
        return SimpleResponse(ok=False, error_text=problem)
    async with platform.account(body.account_id):
        await platform.commit([updated(limit) if existing else created(limit)])
    return limit


async def create_position_limit(platform: Platform, caller: Caller,
                                body: UserAccountPositionLimitBody) -> UserAccountPositionLimit | SimpleResponse:
    _require_admin(caller)
    if platform.state.get(Account, body.account_id) is None or not can_see_account(platform, caller, body.account_id):
        raise not_found(f"account {body.account_id} not found")
    return await _write_limit(platform, caller, body, platform.ids.next("userAccountPositionLimit"), existing=False)


async def update_position_limit(platform: Platform, caller: Caller,
                                body: UserAccountPositionLimitBody) -> UserAccountPositionLimit | SimpleResponse:
    """Replace the whole limit: a field the body omits is unset."""
    _require_admin(caller)
    if body.id is None:
        raise bad_request("id: required to update a userAccountPositionLimit")
    current = _limit(platform, caller, body.id)
    if current is None:
        raise not_found(f"userAccountPositionLimit {body.id} not found")
    if current.account_id != body.account_id:
        return SimpleResponse(ok=False, error_text=f"accountId: position limit {body.id} belongs to account "
                                                   f"{current.account_id}; it cannot move to another account")
    return await _write_limit(platform, caller, body, current.id, existing=True)


async def delete_position_limit(platform: Platform, caller: Caller,
                                req: DeleteUserAccountPositionLimit) -> DeleteResultResponse:
    _require_admin(caller)
    limit = _limit(platform, caller, req.user_account_position_limit_id)
    if limit is None:
        return DeleteResultResponse(success=False, error_text=f"userAccountPositionLimitId: no position limit "
                                                              f"{req.user_account_position_limit_id}")
    params = platform.state.table(UserAccountRiskParameter)
    async with platform.account(limit.account_id):
        changes: list[Change] = [deleted(params[p]) for p in platform.state.params_of.get(limit.id, {})
                                 if p in params]
        await platform.commit([*changes, deleted(limit)])
    return DeleteResultResponse(success=True)


# --- risk parameters --------------------------------------------------------------------------------------------


async def _write_parameter(platform: Platform, caller: Caller, body: UserAccountRiskParameterBody,
                           param_id: int, existing: bool) -> UserAccountRiskParameter | SimpleResponse:
    limit = _limit(platform, caller, body.user_account_position_limit_id)
    if limit is None:
        raise not_found(f"userAccountPositionLimit {body.user_account_position_limit_id} not found")
    fields = _fields(body)
    param = UserAccountRiskParameter(id=param_id, **fields)
    problem = risk.misconfiguration(risk.scope_of(param)) or _unknown_target(platform, fields)
    if problem is not None:
        return SimpleResponse(ok=False, error_text=problem)
    async with platform.account(AccountId(limit.account_id)):
        await platform.commit([updated(param) if existing else created(param)])
    return param


async def create_risk_parameter(platform: Platform, caller: Caller,
                                body: UserAccountRiskParameterBody) -> UserAccountRiskParameter | SimpleResponse:
    _require_admin(caller)
    return await _write_parameter(platform, caller, body, platform.ids.next("userAccountRiskParameter"),
                                  existing=False)


async def update_risk_parameter(platform: Platform, caller: Caller,
                                body: UserAccountRiskParameterBody) -> UserAccountRiskParameter | SimpleResponse:
    """Replace the whole parameter: a field the body omits is unset."""
    _require_admin(caller)
    if body.id is None:
        raise bad_request("id: required to update a userAccountRiskParameter")
    current = platform.state.get(UserAccountRiskParameter, body.id)
    if current is None or _limit(platform, caller, current.user_account_position_limit_id) is None:
        raise not_found(f"userAccountRiskParameter {body.id} not found")
    if current.user_account_position_limit_id != body.user_account_position_limit_id:
        return SimpleResponse(ok=False, error_text=f"userAccountPositionLimitId: risk parameter {body.id} belongs to "
                                                   f"position limit {current.user_account_position_limit_id}")
    return await _write_parameter(platform, caller, body, current.id, existing=True)


async def delete_risk_parameter(platform: Platform, caller: Caller,
                                req: DeleteUserAccountRiskParameter) -> DeleteResultResponse:
    _require_admin(caller)
    param = platform.state.get(UserAccountRiskParameter, req.user_account_risk_parameter_id)
    limit = None if param is None else _limit(platform, caller, param.user_account_position_limit_id)
    if param is None or limit is None:
        return DeleteResultResponse(success=False, error_text=f"userAccountRiskParameterId: no risk parameter "
                                                              f"{req.user_account_risk_parameter_id}")
    async with platform.account(limit.account_id):
        await platform.commit([deleted(param)])
    return DeleteResultResponse(success=True)
