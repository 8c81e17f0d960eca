"""First start: the organization, its admin, the reference data from the catalogue, and the demo data.
On every start: list the contracts of the nearest maturities (relative to the clock) and give them quotes."""

from collections.abc import Mapping
from datetime import UTC, datetime, time

import msgspec

from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.ticks import nearest_ticks
from tradovate_sim.model.entities import (
    Contract,
    ContractMaturity,
    Currency,
    Exchange,
    OrderStrategyType,
    Organization,
    Product,
    ProductSession,
    RiskCategory,
    TradeTime,
    User,
)
from tradovate_sim.model.enums import PriceFormatType, ProductStatus, ProductType
from tradovate_sim.model.ids import ContractId, ContractMaturityId, ExchangeId, OrganizationId, ProductId
from tradovate_sim.service.accounts import new_account, new_user
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.platform import Platform
from tradovate_sim.venue.catalogue import listed_maturities

DEMO_BALANCE = 50_000.0


def _trade_time(moment: time) -> TradeTime:
    return TradeTime(hour=moment.hour, minute=moment.minute)


def reference_changes(platform: Platform) -> list[Change]:
    """Exchanges, products and product sessions of the catalogue not yet in the state."""
    state = platform.state
    changes: list[Change] = []
    if state.get(Currency, 1) is None:
        changes.append(created(Currency(id=1, name="USD", symbol="$")))
    exchanges = {e.name: e.id for e in platform.entities(Exchange)}
    for spec in platform.catalogue.values():
        if spec.exchange not in exchanges:
            exchange = Exchange(id=ExchangeId(platform.ids.next("exchange")), name=spec.exchange)
            exchanges[spec.exchange] = exchange.id
            changes.append(created(exchange))
        if state.find(Product, spec.name) is not None:
            continue
        product = Product(
            id=ProductId(platform.ids.next("product")), name=spec.name, currency_id=1, product_type=ProductType.Futures,
            description=spec.description, exchange_id=exchanges[spec.exchange], contract_group_id=1,
            status=ProductStatus.Verified, months=spec.months, value_per_point=spec.value_per_point,
            price_format_type=PriceFormatType.Decimal, price_format=-spec.price_decimals, tick_size=spec.tick_size,
            is_micro=spec.is_micro,
        )
        changes.append(created(product))
        changes.append(created(ProductSession(
            id=product.id, open_time=_trade_time(spec.session_open), start_time=_trade_time(spec.session_open),
            stop_time=_trade_time(spec.session_close), close_time=_trade_time(spec.session_close),
        )))
        platform.spec_of_product[product.id] = spec
    return changes


RISK_CATEGORIES = ("Default", "Evaluation", "Funded")  # ids 1, 2, 3; every new account starts in Default


def category_changes(platform: Platform) -> list[Change]:
    """The risk categories not yet in the state (every start: databases made before categories existed get them)."""
    return [created(RiskCategory(id=number, name=name)) for number, name in enumerate(RISK_CATEGORIES, start=1)
            if platform.state.get(RiskCategory, number) is None]


def strategy_type_changes(platform: Platform) -> list[Change]:
    """The order strategy types (id 2: multibracket, the only one), on every start."""
    if platform.state.get(OrderStrategyType, 2) is not None:
        return []
    return [created(OrderStrategyType(id=2, name="multibracket", enabled=True))]


def contract_changes(platform: Platform, now: datetime,
                     known: Mapping[str, tuple[int, int]] | None = None) -> list[Change]:
    """Contracts (and maturities) for the nearest two maturities of each product, front flags updated; a contract
    named in `known` gets the ids given there (contract, maturity): those it had before a reset."""
    state = platform.state
    changes: list[Change] = []
    today = platform.trade_date(now)
    for product in list(platform.entities(Product)):
        spec = platform.spec_of_product.get(product.id)
        if spec is None:
            continue
        listed = listed_maturities(spec, today, 2, is_business_day=platform.calendar.is_business_day)
        front = listed[0].contract_name if listed else None
        for maturity in listed:
            if state.find(Contract, maturity.contract_name) is not None:
                continue
            expires = datetime.combine(maturity.last_trade_date, time(0, 0), tzinfo=UTC)
            ids = (known or {}).get(maturity.contract_name)
            record = ContractMaturity(id=ContractMaturityId(ids[1] if ids else platform.ids.next("contractMaturity")),
                                      product_id=product.id, expiration_month=maturity.expiration_month,
                                      expiration_date=expires,
                                      is_front=maturity.contract_name == front)
            contract = Contract(id=ContractId(ids[0] if ids else platform.ids.next("contract")),
                                name=maturity.contract_name,
                                contract_maturity_id=record.id, timestamp=now)
            changes += [created(record), created(contract)]
        for old in list(platform.entities(ContractMaturity)):
            if old.product_id != product.id:
                continue
            current = next((c for c in platform.entities(Contract) if c.contract_maturity_id == old.id), None)
            is_front = current is not None and current.name == front
            if old.is_front != is_front:
                changes.append(updated(msgspec.structs.replace(old, is_front=is_front)))
    return changes


def quote_contracts(platform: Platform, now: datetime) -> None:
    """Give every listed contract without a quote one around its product's reference price."""
    for contract in platform.entities(Contract):
        instrument = platform.instrument(contract.id)
        spec = platform.spec_of_product.get(instrument.product.id) if instrument else None
        if instrument is None or spec is None:
            continue
        platform.market.seed_quote(contract.id, nearest_ticks(spec.reference_price, spec.tick_size),
                                   spec.display_size, now)


def organization_changes(platform: Platform, hashing: PasswordHashing, *, admin_name: str, admin_password: str,
                         demo_password: str | None, now: datetime) -> list[Change]:
    """The organization and its admin; with `demo_password`, the demo trader, two funded accounts and TEMPLATE."""
    organization = Organization(id=OrganizationId(platform.ids.next("organization")), name="tradovate-sim")
    changes: list[Change] = [created(organization)]
    admin, made = new_user(platform, hashing.hash(admin_password), name=admin_name, email=f"{admin_name}@localhost",
                           organization_id=organization.id, admin=True, now=now)
    changes += made
    platform.state.apply(changes[0])
    platform.state.apply(changes[1])  # the user, so that accounts can name it
    if demo_password is not None:
        _, made = new_account(platform, user=admin, name="TEMPLATE", balance=DEMO_BALANCE, now=now)
        changes += made
        trader, made = new_user(platform, hashing.hash(demo_password), name="demo", email="demo@localhost",
                                organization_id=organization.id, admin=False, now=now)
        changes += made
        for name in ("DEMO1", "DEMO2"):
            _, made = new_account(platform, user=trader, name=name, balance=DEMO_BALANCE, now=now)
            changes += made
    return changes


def is_empty(platform: Platform) -> bool:
    return not platform.state.table(User)

