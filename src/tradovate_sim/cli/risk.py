"""`risk`: an account's risk state and rules (`show`), and the risk desk's actions on it (`lock`, `unlock`,
`liquidation-only`) through `accountRiskStatus/setAdminAutoLiqAction`."""

import msgspec

from tradovate_sim.cli.failure import Exit, rejected
from tradovate_sim.cli.invocation import Invocation
from tradovate_sim.model.enums import AdminAction
from tradovate_sim.model.requests import SetAdminAutoLiqAction

ACTIONS = {
    "lock": AdminAction.LockTradingImmediately,
    "unlock": AdminAction.Normal,
    "liquidation-only": AdminAction.LiquidateOnlyModeImmediately,
}


def show(run: Invocation) -> Exit:
    client = run.client
    account = run.names.account(run.args.account)
    status = client.account_risk_status.item(account.id)
    rules = client.user_account_auto_liq.deps(account.id)
    limits = client.user_account_position_limit.deps(account.id)
    if run.out.json:
        run.out.value({"account": account, "accountRiskStatus": status,
                       "userAccountAutoLiq": rules[0] if rules else None, "userAccountPositionLimits": limits})
        return Exit.OK
    out = run.out
    out.fields(f"{account.name} (account {account.id})", [
        ("adminAction", status.admin_action or AdminAction.Normal), ("adminTimestamp", status.admin_timestamp),
        ("liquidateOnly", status.liquidate_only), ("maxNetLiq", status.max_net_liq), ("minNetLiq", status.min_net_liq),
        ("restricted", account.restricted)])
    if rules:
        out.fields("auto-liquidation rules (userAccountAutoLiq)",
                   [(name, value) for name, value in msgspec.to_builtins(rules[0]).items() if name != "id"])
    else:
        out.line("auto-liquidation rules: none")
    symbols = run.names.symbols(limit.contract_id for limit in limits if limit.contract_id is not None)
    out.table("position limits (userAccountPositionLimit)",
              ["id", "active", "totalBy", "scope", "longLimit", "shortLimit", "exposedLimit", "description"],
              [(limit.id, limit.active, limit.total_by,
                symbols.get(limit.contract_id) if limit.contract_id is not None
                else limit.product_id or limit.exchange_id or limit.product_type or limit.contract_group_id,
                limit.long_limit, limit.short_limit, limit.exposed_limit, limit.description) for limit in limits])
    return Exit.OK


def act(run: Invocation) -> Exit:
    account = run.names.account(run.args.account)
    action = ACTIONS[run.args.risk_command]
    result = run.client.account_risk_status.set_admin_auto_liq_action(SetAdminAutoLiqAction(
        account_id=account.id, admin_action=action, admin_action_reason=run.args.reason))
    if run.out.json:
        run.out.value(result)
    if result.error_text:
        raise rejected(f"refused: {result.error_text}")
    if not run.out.json:
        run.out.line(f"{account.name}: adminAction {action}")
    return Exit.OK
