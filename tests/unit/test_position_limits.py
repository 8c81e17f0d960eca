"""Position-limit arithmetic (`core.risk.check_position_limits`) against an independent model: every working order
is listed on its own and the scope is decided by plain comparisons, then the worst cases are enumerated."""

from builders import CONTRACT_ID, EXCHANGE_ID, PRODUCT_ID, make_account_state, make_instrument, make_view
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core import risk
from tradovate_sim.core.blotter import Ticket
from tradovate_sim.core.view import Exposure
from tradovate_sim.model.entities import UserAccountPositionLimit
from tradovate_sim.model.enums import FailureReason, OrderAction, OrderType, ProductType, TotalBy
from tradovate_sim.model.ids import ContractId, ExchangeId, ProductId

# Contracts of the model: (contract, product, exchange, product type); the first is the order's contract.
CONTRACTS = [(CONTRACT_ID, PRODUCT_ID, EXCHANGE_ID, ProductType.Futures), (40, PRODUCT_ID, EXCHANGE_ID,
             ProductType.Futures), (41, 50, EXCHANGE_ID, ProductType.Futures), (42, 51, 60, ProductType.Options)]
SCOPES = [(TotalBy.Overall, {}), (TotalBy.Contract, {"contract_id": CONTRACT_ID}),
          (TotalBy.Contract, {"contract_id": 41}), (TotalBy.Product, {"product_id": PRODUCT_ID}),
          (TotalBy.Product, {"product_id": 51}), (TotalBy.Exchange, {"exchange_id": EXCHANGE_ID}),
          (TotalBy.ProductType, {"product_type": ProductType.Futures}),
          (TotalBy.ProductType, {"product_type": ProductType.Options})]

holdings = st.lists(st.tuples(st.integers(-6, 6), st.lists(st.integers(1, 4), max_size=2),
                              st.lists(st.integers(1, 4), max_size=2)), min_size=4, max_size=4)
limit_values = st.one_of(st.none(), st.integers(0, 12))


def in_scope(total_by: TotalBy, target: dict[str, object], contract: tuple[int, int, int, ProductType]) -> bool:
    contract_id, product_id, exchange_id, product_type = contract
    values = {"contract_id": contract_id, "product_id": product_id, "exchange_id": exchange_id,
              "product_type": product_type}
    return total_by is TotalBy.Overall or all(values[k] == v for k, v in target.items())


def model_refuses(held: list[tuple[int, list[int], list[int]]], total_by: TotalBy, target: dict[str, object], *,
                  limits: tuple[int | None, int | None, int | None], action: OrderAction, qty: int) -> bool:
    """Independent model: does the order raise a measure of the limit above it? A limit that does not cover the
    order's contract never refuses it, nor does any limit an order that only reduces the position."""
    if not in_scope(total_by, target, CONTRACTS[0]):
        return False
    here_net = held[0][0]
    if (here_net > 0 and action is OrderAction.Sell and qty <= here_net) or (
            here_net < 0 and action is OrderAction.Buy and qty <= -here_net):
        return False

    def worst(with_order: bool) -> tuple[int, int, int]:
        long = short = gross = 0
        for index, (net, working_buys, working_sells) in enumerate(held):
            if not in_scope(total_by, target, CONTRACTS[index]):
                continue
            ordered = with_order and index == 0
            buys = [*working_buys, qty] if ordered and action is OrderAction.Buy else working_buys
            sells = [*working_sells, qty] if ordered and action is OrderAction.Sell else working_sells
            all_buys_filled, all_sells_filled = net + sum(buys), net - sum(sells)
            long += all_buys_filled
            short -= all_sells_filled
            gross += max(all_buys_filled, -all_sells_filled, 0)
        return long, short, gross

    long_limit, short_limit, exposed_limit = limits
    _, _, gross_before = worst(False)
    long, short, gross = worst(True)
    if action is OrderAction.Buy and long_limit is not None and long > long_limit:
        return True
    if action is OrderAction.Sell and short_limit is not None and short > short_limit:
        return True
    return exposed_limit is not None and gross > exposed_limit and gross > gross_before


@settings(max_examples=400, deadline=None)
@given(held=holdings, scope=st.sampled_from(SCOPES), limits=st.tuples(limit_values, limit_values, limit_values),
       action=st.sampled_from([OrderAction.Buy, OrderAction.Sell]), qty=st.integers(1, 8))
def test_position_limit_refuses_exactly_when_the_model_does(held: list[tuple[int, list[int], list[int]]],
                                                            scope: tuple[TotalBy, dict[str, object]],
                                                            limits: tuple[int | None, int | None, int | None],
                                                            action: OrderAction, qty: int) -> None:
    # Arrange
    total_by, target = scope
    limit = UserAccountPositionLimit(id=1, account_id=1, active=True, total_by=total_by, long_limit=limits[0],
                                     short_limit=limits[1], exposed_limit=limits[2], **target)  # type: ignore[arg-type]
    exposures = tuple(Exposure(contract_id=ContractId(c), product_id=ProductId(p), exchange_id=ExchangeId(e),
                               product_type=t, net_pos=net, working_buys=sum(buys), working_sells=sum(sells))
                      for (c, p, e, t), (net, buys, sells) in zip(CONTRACTS, held, strict=True))
    view = make_view(account=make_account_state(position_limits=(limit,), exposures=exposures),
                     instrument=make_instrument())
    net, buys, sells = held[0]
    # Act
    refusal = risk.check_position_limits(view, Ticket(action=action, order_type=OrderType.Market, qty=qty),
                                         net_pos=net, working_buys=sum(buys), working_sells=sum(sells))
    # Assert
    assert (refusal is not None) == model_refuses(held, total_by, target, limits=limits, action=action, qty=qty)
    if refusal is not None:
        expected = FailureReason.MaxTotalPosLimitReached if total_by is TotalBy.Overall else \
            FailureReason.MaxPosLimitReached
        assert refusal.reason is expected
