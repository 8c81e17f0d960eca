"""Tradovate's contract library operations: `contract/rollcontract`, `contract/rollcontracts` (the best upcoming
maturity of a contract or a product) and `contract/getproductfeeparams` (a product's fees and margins, from our
catalogue).

Rolling: a product name (`ES`) answers its front month (the nearest maturity still trading on today's trade date),
whatever `forward` says. A contract name (`ESZ6`, listed or not, expired or not) answers, with `forward`, the nearest
maturity after it still trading today, and without, the nearest one before it still trading today (an `errorText`
when it is itself the front month). With `ifExpired`, a contract still trading answers itself. A maturity we had not
listed yet is listed by the answer (its contract and maturity entities, and a quote), so it can be traded at once.
"""

from datetime import UTC, date, datetime, time

from tradovate_sim.core.decision import Change, created
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Contract, ContractMaturity, Product, ProductMargin
from tradovate_sim.model.ids import AccountId, ContractId, ContractMaturityId, ProductId
from tradovate_sim.model.requests import GetProductFeeParams, RollContract, RollContracts
from tradovate_sim.model.results import (
    ProductFeeParams,
    ProductFeeParamsResponse,
    RollContractResponse,
    RollContractsResponse,
)
from tradovate_sim.service import seed
from tradovate_sim.service.platform import Platform
from tradovate_sim.venue.catalogue import MONTH_CODES, Maturity, ProductSpec, last_trade_date, listed_maturities

AHEAD = 12  # maturities looked at from today: a year of a monthly product, three of a quarterly one
REFERENCE_DATA = AccountId(0)  # no account has it: the turn that serializes listing new contracts


def _spec(platform: Platform, root: str) -> ProductSpec | None:
    spec = platform.catalogue.get(root.upper())
    if spec is None or platform.state.find(Product, spec.name) is None:
        return None
    return spec


def _named(platform: Platform, name: str, today: date) -> tuple[ProductSpec, Maturity | None] | None:
    """The product (and the maturity, None for a product name) that `name` names."""
    spec = _spec(platform, name)
    if spec is not None:
        return spec, None
    if len(name) < 3 or not name[-1].isdigit():
        return None
    spec = _spec(platform, name[:-2])
    code = name[-2].upper()
    if spec is None or code not in spec.months:
        return None
    digit = int(name[-1])
    year = next(y for y in range(today.year - 5, today.year + 5) if y % 10 == digit)
    month = MONTH_CODES.index(code) + 1
    last = last_trade_date(spec.expiration_rule, year, month, platform.calendar.is_business_day)
    return spec, Maturity(month_code=code, year=year, expiration_month=year * 100 + month, last_trade_date=last,
                          contract_name=f"{spec.name}{code}{digit}")


def _target(platform: Platform, req: RollContract, today: date) -> Maturity | str:
    """The maturity the request rolls to, or the reason there is none."""
    named = _named(platform, req.name, today)
    if named is None:
        return f"Unknown contract or product: {req.name}"
    spec, maturity = named
    listed = listed_maturities(spec, today, AHEAD, is_business_day=platform.calendar.is_business_day)
    if maturity is None:
        return listed[0]
    if req.if_expired and maturity.last_trade_date >= today:
        return maturity
    if req.forward:
        later = next((m for m in listed if m.expiration_month > maturity.expiration_month), None)
        return later or f"{maturity.contract_name}: no later maturity is listed"
    earlier = [m for m in listed if m.expiration_month < maturity.expiration_month]
    if not earlier:
        return f"{maturity.contract_name}: no earlier maturity is trading"
    return earlier[-1]


async def _listed(platform: Platform, maturity: Maturity, today: date) -> Contract:
    """The contract entity of `maturity`, listed now (with a quote) if it was not."""
    state = platform.state
    async with platform.account(REFERENCE_DATA):
        found = state.find(Contract, maturity.contract_name)
        if found is not None:
            return state.table(Contract)[found]
        spec = platform.catalogue[maturity.contract_name[:-2]]
        product_id = state.find(Product, spec.name)
        assert product_id is not None
        now = platform.now()
        front = listed_maturities(spec, today, 1, is_business_day=platform.calendar.is_business_day)
        record = ContractMaturity(
            id=ContractMaturityId(platform.ids.next("contractMaturity")), product_id=ProductId(product_id),
            expiration_month=maturity.expiration_month,
            expiration_date=datetime.combine(maturity.last_trade_date, time(0, 0), tzinfo=UTC),
            is_front=bool(front) and front[0].contract_name == maturity.contract_name)
        contract = Contract(id=ContractId(platform.ids.next("contract")), name=maturity.contract_name,
                            contract_maturity_id=record.id, timestamp=now)
        changes: list[Change] = [created(record), created(contract)]
        await platform.commit(changes)
        seed.quote_contracts(platform, now)
        return contract


async def roll_contract(platform: Platform, _caller: Caller, req: RollContract) -> RollContractResponse:
    today = platform.trade_date(platform.now())
    target = _target(platform, req, today)
    if isinstance(target, str):
        return RollContractResponse(error_text=target)
    return RollContractResponse(contract=await _listed(platform, target, today))


async def roll_contracts(platform: Platform, _caller: Caller, req: RollContracts) -> RollContractsResponse:
    today = platform.trade_date(platform.now())
    contracts: dict[str, Contract] = {}
    errors: list[str] = []
    for item in req.roll_contracts:
        target = _target(platform, item, today)
        if isinstance(target, str):
            errors.append(target)
        else:
            contracts[item.name] = await _listed(platform, target, today)
    return RollContractsResponse(contracts=contracts, error_text="; ".join(errors) or None)


async def get_product_fee_params(platform: Platform, _caller: Caller,
                                 req: GetProductFeeParams) -> ProductFeeParamsResponse:
    """Fees per contract per side and margins per contract of each known product asked, in the order asked
    (unknown ids are left out, as entity `items` queries leave them out)."""
    state = platform.state
    now = platform.now()
    params: list[ProductFeeParams] = []
    for product_id in dict.fromkeys(req.product_ids):
        product = state.get(Product, product_id)
        spec = platform.spec_of_product.get(product.id) if product is not None else None
        if product is None or spec is None:
            continue
        exchange = ProductMargin(id=product.id, initial_margin=spec.initial_margin,
                                 maintenance_margin=spec.maintenance_margin, timestamp=now)
        day = spec.initial_margin if spec.day_margin is None else spec.day_margin
        currency = product.currency_id
        params.append(ProductFeeParams(
            product_id=product.id, clearing_fee=spec.clearing_fee, clearing_currency_id=currency,
            exchange_fee=spec.exchange_fee, exchange_currency_id=currency, nfa_fee=spec.nfa_fee,
            nfa_currency_id=currency, commission=spec.commission, commission_currency_id=currency,
            brokerage_fee=0.0, brokerage_currency_id=currency, ip_fee=0.0, ip_currency_id=currency,
            order_routing_fee=0.0, order_routing_currency_id=currency,
            day_margin=day, night_margin=spec.initial_margin, full_margin=exchange,
        ))
    return ProductFeeParamsResponse(params=params)
