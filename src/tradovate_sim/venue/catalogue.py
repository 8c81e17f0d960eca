"""The instrument catalogue: product specifications from TOML, and the maturities they list.

The built-in catalogue ships as `tradovate_sim/data/products.toml`; a user file in the same format may
add products or override fields of built-in ones by product name. Maturity arithmetic is pure: the
caller passes the business-day predicate (see `tradovate_sim.venue.calendar.CmeCalendar`).
"""

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tradovate_sim.core.sessions import CME_TIME_ZONE
from tradovate_sim.core.ticks import decimals_of, to_ticks

__all__ = [
    "MONTH_CODES",
    "CatalogueError",
    "CmeExchange",
    "ExpirationRule",
    "Maturity",
    "ProductSpec",
    "contract_name",
    "last_trade_date",
    "listed_maturities",
    "load_catalogue",
    "parse_catalogue",
]

MONTH_CODES = "FGHJKMNQUVXZ"
"""CME month codes, January to December."""

_PRODUCT_NAME = re.compile(r"[A-Z0-9]{1,8}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MAX_DECIMALS = 10
_MAX_SCAN_DAYS = 60
"""A business-day rule needing a longer walk than this means the predicate is broken."""


class CatalogueError(ValueError):
    """A catalogue file that cannot be used; names the source, product and field when known."""

    def __init__(
        self, reason: str, *, source: str = "", product: str | None = None, field: str | None = None
    ) -> None:
        where = [part for part in (source, f"product {product!r}" if product else "") if part]
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)
        self.reason = reason
        self.source = source
        self.product = product
        self.field = field


class CmeExchange(StrEnum):
    """The CME Group designated contract markets a product can be listed on."""

    CME = "CME"
    CBOT = "CBOT"
    NYMEX = "NYMEX"
    COMEX = "COMEX"


class ExpirationRule(StrEnum):
    """How a contract month's last trade date is derived (see `last_trade_date`)."""

    equity_quarterly = "equity_quarterly"
    cl = "cl"
    mcl = "mcl"
    ng = "ng"
    gc = "gc"
    fx_quarterly = "fx_quarterly"
    treasury_note = "treasury_note"


class ProductSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One futures product (a contract root such as ES) and the terms all its contracts share.

    Session times are wall-clock times in `time_zone`; when `session_open` is later than
    `session_close` the session opens on the calendar day before the day it trades for.
    Fees are USD per contract per side; margins USD per contract: `initial_margin`/`maintenance_margin` are the
    exchange's (positions held while the session is closed), `day_margin` the day-trade margin while it is open.
    """

    name: str
    description: str
    exchange: CmeExchange
    currency: str = "USD"
    tick_size: float
    value_per_point: float
    price_decimals: int
    months: str
    expiration_rule: ExpirationRule
    time_zone: str = CME_TIME_ZONE
    session_open: time = time(17, 0)
    session_close: time = time(16, 0)
    is_micro: bool = False
    reference_price: float
    display_size: int
    exchange_fee: float
    clearing_fee: float
    nfa_fee: float
    commission: float
    initial_margin: float
    maintenance_margin: float
    day_margin: float | None = None  # day-trade margin while the session is open; None: the exchange's apply

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            reason, field = problems[0]
            raise CatalogueError(reason, product=self.name, field=field)

    @property
    def tick_value(self) -> float:
        """USD value of one tick for one contract."""
        return self.tick_size * self.value_per_point

    @property
    def fee_per_side(self) -> float:
        """All per-side charges together: exchange, clearing, NFA and commission."""
        return self.exchange_fee + self.clearing_fee + self.nfa_fee + self.commission


class Maturity(msgspec.Struct, frozen=True, kw_only=True):
    """One listed contract month of a product, named as Tradovate names contracts (ESZ6)."""

    month_code: str
    year: int
    expiration_month: int
    last_trade_date: date
    contract_name: str


def _problems(spec: ProductSpec) -> list[tuple[str, str]]:
    """Every rule the spec breaks, as (reason, field) pairs."""
    problems: list[tuple[str, str]] = []
    if not _PRODUCT_NAME.fullmatch(spec.name):
        problems.append(("must be 1-8 upper-case letters or digits", "name"))
    if not spec.description.strip():
        problems.append(("must not be empty", "description"))
    if not _CURRENCY.fullmatch(spec.currency):
        problems.append(("must be a three-letter currency code", "currency"))
    positive = (
        ("tick_size", spec.tick_size),
        ("value_per_point", spec.value_per_point),
        ("reference_price", spec.reference_price),
    )
    for field, value in positive:
        if not (math.isfinite(value) and value > 0):
            problems.append((f"must be a positive number, got {value}", field))
    has_tick = math.isfinite(spec.tick_size) and spec.tick_size > 0
    if not 0 <= spec.price_decimals <= _MAX_DECIMALS:
        problems.append((f"must be between 0 and {_MAX_DECIMALS}", "price_decimals"))
    elif has_tick and decimals_of(spec.tick_size) > spec.price_decimals:
        reason = f"{spec.price_decimals} decimals cannot show tick {spec.tick_size}"
        problems.append((reason, "price_decimals"))
    price = spec.reference_price
    if has_tick and math.isfinite(price) and to_ticks(price, spec.tick_size) is None:
        problems.append((f"{price} is not a whole number of ticks", "reference_price"))
    if not spec.months or any(code not in MONTH_CODES for code in spec.months):
        problems.append((f"must be month codes drawn from {MONTH_CODES!r}", "months"))
    elif "".join(sorted(set(spec.months), key=MONTH_CODES.index)) != spec.months:
        problems.append(("month codes must be unique and in calendar order", "months"))
    try:
        ZoneInfo(spec.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append((f"unknown time zone {spec.time_zone!r}", "time_zone"))
    if spec.session_open == spec.session_close:
        problems.append(("session must not open and close at the same time", "session_close"))
    if spec.display_size < 1:
        problems.append(("must be at least 1", "display_size"))
    non_negative = (
        ("exchange_fee", spec.exchange_fee),
        ("clearing_fee", spec.clearing_fee),
        ("nfa_fee", spec.nfa_fee),
        ("commission", spec.commission),
        ("maintenance_margin", spec.maintenance_margin),
    )
    for field, value in non_negative:
        if not (math.isfinite(value) and value >= 0):
            problems.append((f"must be a non-negative number, got {value}", field))
    if not spec.initial_margin >= spec.maintenance_margin:
        problems.append(("must be at least the maintenance margin", "initial_margin"))
    if spec.day_margin is not None and not (math.isfinite(spec.day_margin) and spec.day_margin >= 0):
        problems.append((f"must be a non-negative number, got {spec.day_margin}", "day_margin"))
    return problems


def load_catalogue(user_file: Path | None = None) -> dict[str, ProductSpec]:
    """The built-in catalogue, with `user_file`'s products added or merged over it by name."""
    builtin = resources.files("tradovate_sim").joinpath("data", "products.toml")
    products = parse_catalogue(builtin.read_text(encoding="utf-8"), source="built-in products.toml")
    if user_file is None:
        return products
    try:
        text = user_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"cannot read: {exc}", source=str(user_file)) from exc
    return parse_catalogue(text, source=str(user_file), base=products)


def parse_catalogue(
    text: str, *, source: str = "<string>", base: Mapping[str, ProductSpec] | None = None
) -> dict[str, ProductSpec]:
    """Products from TOML `text`: `[products.<NAME>]` tables.

    A table naming a product already in `base` overrides just the fields it sets; any other table
    must give every field without a default. The result holds `base`'s products then new ones.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"not valid TOML: {exc}", source=source) from exc
    unknown = sorted(set(document) - {"products"})
    if unknown:
        raise CatalogueError(f"unknown top-level key {unknown[0]!r}", source=source)
    tables = document.get("products", {})
    if not isinstance(tables, dict):
        raise CatalogueError("'products' must be a table of product tables", source=source)
    products = dict(base or {})
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise CatalogueError("must be a table", source=source, product=name)
        inherited = msgspec.structs.asdict(products[name]) if name in products else {}
        products[name] = _to_spec(name, inherited | table, source)
    return products


def _to_spec(name: str, raw: dict[str, Any], source: str) -> ProductSpec:
    """Convert one product's raw TOML values field by field, naming the first bad one."""
    if raw.setdefault("name", name) != name:
        raise CatalogueError(f"must match the table name {name!r}", source=source, product=name, field="name")
    fields = {field.name: field for field in msgspec.structs.fields(ProductSpec)}
    for key in raw:
        if key not in fields:
            raise CatalogueError("unknown field", source=source, product=name, field=key)
    values: dict[str, Any] = {}
    for field in fields.values():
        if field.name not in raw:
            if field.required:
                raise CatalogueError("missing", source=source, product=name, field=field.name)
            continue
        try:
            values[field.name] = msgspec.convert(raw[field.name], field.type)
        except msgspec.ValidationError as exc:
            raise CatalogueError(str(exc), source=source, product=name, field=field.name) from exc
    try:
        return ProductSpec(**values)
    except CatalogueError as exc:
        raise CatalogueError(exc.reason, source=source, product=name, field=exc.field) from exc


def contract_name(root: str, month_code: str, year: int) -> str:
    """Tradovate's contract symbol: root, month code, last digit of the year (ESZ6)."""
    return f"{root}{month_code}{year % 10}"


def listed_maturities(
    spec: ProductSpec, today: date, count: int = 2, *, is_business_day: Callable[[date], bool]
) -> list[Maturity]:
    """The nearest `count` maturities of the product's cycle still trading on `today`.

    A contract whose last trade date is `today` is still listed. Every rule puts the last trade
    date in or before the contract month, so the scan starts at `today`'s month.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    listed: list[Maturity] = []
    year, month = today.year, today.month
    while len(listed) < count:
        code = MONTH_CODES[month - 1]
        if code in spec.months:
            last = last_trade_date(spec.expiration_rule, year, month, is_business_day)
            if last >= today:
                listed.append(
                    Maturity(
                        month_code=code,
                        year=year,
                        expiration_month=year * 100 + month,
                        last_trade_date=last,
                        contract_name=contract_name(spec.name, code, year),
                    )
                )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return listed


def last_trade_date(
    rule: ExpirationRule, year: int, month: int, is_business_day: Callable[[date], bool]
) -> date:
    """The last trade date of the `year`/`month` contract under `rule`."""

    def back(day: date, business_days: int) -> date:
        """The business day `business_days` business days before `day`."""
        for _ in range(_MAX_SCAN_DAYS):
            if business_days == 0:
                return day
            day -= timedelta(days=1)
            if is_business_day(day):
                business_days -= 1
        raise ValueError(f"too few business days before {day} for {rule} {year}-{month:02d}")

    def last_business_day(year: int, month: int) -> date:
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        return back(first_of_next, 1)

    match rule:
        case ExpirationRule.equity_quarterly:
            third_friday = _nth_weekday(year, month, weekday=4, n=3)
            return third_friday if is_business_day(third_friday) else back(third_friday, 1)
        case ExpirationRule.cl:
            prior_year, prior_month = (year - 1, 12) if month == 1 else (year, month - 1)
            the_25th = date(prior_year, prior_month, 25)
            return back(the_25th, 3 if is_business_day(the_25th) else 4)
        case ExpirationRule.mcl:
            return back(last_trade_date(ExpirationRule.cl, year, month, is_business_day), 1)
        case ExpirationRule.ng:
            return back(date(year, month, 1), 3)
        case ExpirationRule.gc:
            return back(last_business_day(year, month), 2)
        case ExpirationRule.fx_quarterly:
            return back(_nth_weekday(year, month, weekday=2, n=3), 2)
        case ExpirationRule.treasury_note:
            return back(last_business_day(year, month), 7)


def _nth_weekday(year: int, month: int, *, weekday: int, n: int) -> date:
    """The `n`th `weekday` (Monday is 0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
