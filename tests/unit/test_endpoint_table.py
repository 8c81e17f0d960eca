"""The endpoint table is the whole truth: every entry's types have a JSON schema (the OpenAPI document's input),
names are unique, and every Tradovate operation this server serves appears exactly once."""

from collections import Counter

import msgspec
import pytest

from tradovate_sim.model.api import Served, Source
from tradovate_sim.model.entities import PostTradeRisk
from tradovate_sim.model.kinds import KINDS, QUERY_OF_OPERATION
from tradovate_sim.model.requests import UpdateUserAutoLiq
from tradovate_sim.model.session import SyncSnapshot
from tradovate_sim.service.endpoints import build_all

# Tradovate's operations (besides the generic entity queries) this server serves, as its documentation spells them.
TRADOVATE_OPERATIONS = {
    Served.API: [
        "auth/accessTokenRequest", "auth/renewAccessToken", "auth/me",
        "order/placeOrder", "order/placeOCO", "order/placeOSO", "order/modifyOrder", "order/cancelOrder",
        "order/dryRun", "order/liquidatePosition", "order/liquidatePositions",
        "orderStrategy/startOrderStrategy", "orderStrategy/modifyOrderStrategy",
        "orderStrategy/interruptOrderStrategy",
        "user/createEvaluationUsers", "user/createEvaluationAccounts", "user/revokeTradingPermission",
        "cashBalance/changeDemoBalance", "cashBalance/getCashBalanceSnapshot",
        "accountRiskStatus/setAdminAutoLiqAction", "accountRiskStatus/resetAutoLiqStatus",
        "accountRiskStatus/updateMaxNetLiq", "accountRiskStatus/setAccountNotes",
        "accountRiskStatus/switchRiskCategory", "accountRiskStatus/setDemoHalt", "fundTransaction/adjustCash",
        "account/resetDemoAccountState",
        "userAccountAutoLiq/create", "userAccountAutoLiq/update", "userAccountAutoLiq/updateUserAutoLiq",
        "userAccountAutoLiq/updateUserAutoLiqs",
        "userAccountPositionLimit/create", "userAccountPositionLimit/update",
        "userAccountPositionLimit/deleteUserAccountPositionLimit",
        "userAccountPositionLimit/deleteUserAccountRiskParameter",
        "userAccountRiskParameter/create", "userAccountRiskParameter/update",
        "contract/rollContract", "contract/rollContracts", "contract/getProductFeeParams",
    ],
    Served.SOCKET: [
        "authorize", "user/syncRequest", "md/subscribeQuote", "md/unsubscribeQuote", "md/subscribeDOM",
        "md/unsubscribeDOM", "md/getChart", "md/cancelChart",
    ],
    Served.SIMULATOR: ["GET quote", "POST quote", "GET clock", "POST clock", "POST reset", "GET limits",
                       "POST limits"],
}


def test_every_entry_has_a_json_schema_when_its_types_are_walked() -> None:
    # Arrange
    table = build_all()
    types = [t for e in table.values() for t in (e.request, *e.result.alternatives)]
    # Act
    schemas, components = msgspec.json.schema_components(types)
    # Assert
    assert len(schemas) == len(types)
    assert "SyncSnapshot" in components and "PlaceOrderResult" in components and "ItemQuery" in components


def test_names_are_unique_case_insensitively_when_the_table_is_built() -> None:
    # Arrange
    table = build_all()
    # Act
    names = Counter(e.name.lower() for e in table.values() if e.served is not Served.SIMULATOR)
    controls = Counter((e.method, e.name.lower()) for e in table.values() if e.served is Served.SIMULATOR)
    # Assert
    assert [n for n, count in names.items() if count > 1] == []
    assert [n for n, count in controls.items() if count > 1] == []


@pytest.mark.parametrize("served", list(Served))
def test_every_operation_we_serve_appears_exactly_once_when_the_table_is_built(served: Served) -> None:
    # Arrange
    table = build_all()
    # Act
    found = sorted(f"{e.method} {e.name}" if served is Served.SIMULATOR else e.name
                   for e in table.values() if e.served is served and "/" + e.name.rsplit("/", 1)[-1]
                   not in [f"/{op}" for op in QUERY_OF_OPERATION])
    # Assert
    assert found == sorted(TRADOVATE_OPERATIONS[served])


def test_every_entity_query_of_a_kind_appears_once_typed_by_its_kind() -> None:
    # Arrange
    table = build_all()
    # Act / Assert
    for kind in KINDS:
        for operation, queries in QUERY_OF_OPERATION.items():
            endpoint = table.get(f"{kind.name}/{operation}".lower())
            assert (endpoint is not None) == (queries in kind.queries), f"{kind.name}/{operation}"
            if endpoint is not None:
                assert endpoint.method == "GET" and endpoint.source in (Source.QUERY, Source.NONE)
                expected = kind.struct if operation in ("item", "find") else list[kind.struct]  # type: ignore[name-defined]
                assert endpoint.result.type == expected


def test_every_api_entry_has_a_handler_and_the_others_none() -> None:
    for endpoint in build_all().values():
        assert (endpoint.handler is not None) == (endpoint.served is Served.API), endpoint


def test_update_user_auto_liq_carries_every_rule_of_post_trade_risk() -> None:
    # Arrange
    rules = {(f.name, f.encode_name) for f in msgspec.structs.fields(PostTradeRisk)}
    # Act
    fields = {(f.name, f.encode_name) for f in msgspec.structs.fields(UpdateUserAutoLiq)}
    # Assert
    assert fields - rules == {("account_id", "accountId"), ("as_owner", "asOwner")}
    assert rules <= fields


def test_update_user_auto_liq_tells_present_null_and_omitted_apart() -> None:
    # Act
    request = msgspec.json.decode(b'{"accountId": 1, "dailyLossAutoLiq": 500, "doNotUnlock": null}',
                                  type=UpdateUserAutoLiq)
    # Assert
    assert request.daily_loss_auto_liq == 500
    assert request.do_not_unlock is None
    assert request.weekly_loss_auto_liq is msgspec.UNSET


def test_sync_snapshot_has_a_collection_for_every_synced_kind() -> None:
    # Act
    names = {f.encode_name for f in msgspec.structs.fields(SyncSnapshot)}
    # Assert
    assert names == {kind.plural for kind in KINDS if kind.synced} | {"contractGroups"}
