"""The instrument catalogue: built-in specs, user overrides, validation, and listed maturities."""

from collections.abc import Callable
from datetime import date, time
from pathlib import Path

import msgspec
import pytest

from tradovate_sim.venue.calendar import CmeCalendar
from tradovate_sim.venue.catalogue import (
    CatalogueError,
    CmeExchange,
    ExpirationRule,
    Maturity,
    ProductSpec,
    contract_name,
    last_trade_date,
    listed_maturities,
    load_catalogue,
    parse_catalogue,
)


@pytest.fixture(scope="module")
def calendar() -> CmeCalendar:
    return CmeCalendar()


@pytest.fixture(scope="module")
def catalogue() -> dict[str, ProductSpec]:
    return load_catalogue()


Listing = Callable[..., list[Maturity]]


@pytest.fixture(scope="module")
def listed(catalogue: dict[str, ProductSpec], calendar: CmeCalendar) -> Listing:
    """`listed(root, today, count=2)`: the product's listed maturities per the CME calendar."""

    def listed(root: str, today: date, count: int = 2) -> list[Maturity]:
        return listed_maturities(catalogue[root], today, count, is_business_day=calendar.is_business_day)

    return listed


def names(maturities: list[Maturity]) -> list[str]:
    return [m.contract_name for m in maturities]


def make_product_toml(product: str = "XX", **overrides: object) -> str:
    """A complete product table, valid unless `overrides` break it."""
    fields: dict[str, object] = {
        "description": '"Test future"',
        "exchange": '"CME"',
        "tick_size": "0.25",
        "value_per_point": "50.0",
        "price_decimals": "2",
        "months": '"HMUZ"',
        "expiration_rule": '"equity_quarterly"',
        "reference_price": "100.0",
        "display_size": "10",
        "exchange_fee": "1.0",
        "clearing_fee": "0.1",
        "nfa_fee": "0.02",
        "commission": "0.5",
        "initial_margin": "1100.0",
        "maintenance_margin": "1000.0",
    } | overrides
    body = "\n".join(f"{key} = {value}" for key, value in fields.items() if value is not None)
    return f"[products.{product}]\n{body}\n"


# --- the built-in catalogue ---------------------------------------------------------------------------


def test_builtin_catalogue_has_every_product_when_loaded(catalogue: dict[str, ProductSpec]) -> None:
    expected = {"ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K", "CL", "MCL", "GC", "MGC"}
    assert expected <= set(catalogue)
    assert all(spec.name == name for name, spec in catalogue.items())


@pytest.mark.parametrize(
    ("name", "terms"),
    [
        ("ES", (CmeExchange.CME, 0.25, 50.0, "HMUZ", False)),
        ("MES", (CmeExchange.CME, 0.25, 5.0, "HMUZ", True)),
        ("NQ", (CmeExchange.CME, 0.25, 20.0, "HMUZ", False)),
        ("MNQ", (CmeExchange.CME, 0.25, 2.0, "HMUZ", True)),
        ("YM", (CmeExchange.CBOT, 1.0, 5.0, "HMUZ", False)),
        ("MYM", (CmeExchange.CBOT, 1.0, 0.5, "HMUZ", True)),
        ("RTY", (CmeExchange.CME, 0.1, 50.0, "HMUZ", False)),
        ("M2K", (CmeExchange.CME, 0.1, 5.0, "HMUZ", True)),
        ("CL", (CmeExchange.NYMEX, 0.01, 1000.0, "FGHJKMNQUVXZ", False)),
        ("MCL", (CmeExchange.NYMEX, 0.01, 100.0, "FGHJKMNQUVXZ", True)),
        ("GC", (CmeExchange.COMEX, 0.1, 100.0, "GJMQVZ", False)),
        ("MGC", (CmeExchange.COMEX, 0.1, 10.0, "GJMQVZ", True)),
    ],
)
def test_builtin_spec_has_cme_terms_when_loaded(
    catalogue: dict[str, ProductSpec], name: str, terms: tuple[CmeExchange, float, float, str, bool]
) -> None:
    spec = catalogue[name]
    assert (spec.exchange, spec.tick_size, spec.value_per_point, spec.months, spec.is_micro) == terms
    assert spec.currency == "USD"


def test_every_builtin_session_runs_17_00_to_16_00_ct_when_loaded(catalogue: dict[str, ProductSpec]) -> None:
    for spec in catalogue.values():
        assert (spec.session_open, spec.session_close) == (time(17, 0), time(16, 0)), spec.name
        assert spec.time_zone == "America/Chicago"


def test_tick_value_and_fees_add_up_when_es(catalogue: dict[str, ProductSpec]) -> None:
    es = catalogue["ES"]
    assert es.tick_value == 12.5
    assert es.fee_per_side == pytest.approx(es.exchange_fee + es.clearing_fee + es.nfa_fee + es.commission)


# --- user files -----------------------------------------------------------------------------------------


def test_user_file_overrides_only_es_tick_size_when_given(tmp_path: Path) -> None:
    user_file = tmp_path / "products.toml"
    user_file.write_text("[products.ES]\ntick_size = 0.5\n")
    builtin = load_catalogue()["ES"]

    es = load_catalogue(user_file)["ES"]

    assert es.tick_size == 0.5
    assert es == msgspec.structs.replace(builtin, tick_size=0.5)


def test_user_file_adds_product_when_name_is_new(tmp_path: Path) -> None:
    user_file = tmp_path / "products.toml"
    user_file.write_text(make_product_toml("XX"))

    products = load_catalogue(user_file)

    assert products["XX"].expiration_rule is ExpirationRule.equity_quarterly
    assert products["XX"].session_open == time(17, 0)  # defaulted
    assert "ES" in products


def test_user_file_rejected_naming_product_and_field_when_value_malformed(tmp_path: Path) -> None:
    user_file = tmp_path / "products.toml"
    user_file.write_text('[products.ES]\ntick_size = "a quarter"\n')

    with pytest.raises(CatalogueError) as caught:
        load_catalogue(user_file)

    assert (caught.value.product, caught.value.field) == ("ES", "tick_size")
    assert "'ES'" in str(caught.value)
    assert "'tick_size'" in str(caught.value)
    assert str(user_file) in str(caught.value)


def test_user_file_rejected_when_missing(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "absent.toml")


def test_catalogue_error_is_a_value_error_when_raised() -> None:
    with pytest.raises(ValueError, match="not valid TOML"):
        parse_catalogue("[products.ES\n")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tick_size": None}, "tick_size"),
        ({"tick_sise": "0.25"}, "tick_sise"),
        ({"tick_size": "-0.25"}, "tick_size"),
        ({"exchange": '"LSE"'}, "exchange"),
        ({"expiration_rule": '"whenever"'}, "expiration_rule"),
        ({"months": '"HMUA"'}, "months"),
        ({"months": '"ZH"'}, "months"),
        ({"reference_price": "100.1"}, "reference_price"),
        ({"price_decimals": "1"}, "price_decimals"),
        ({"initial_margin": "900.0"}, "initial_margin"),
        ({"display_size": "0"}, "display_size"),
        ({"commission": "-1.0"}, "commission"),
        ({"time_zone": '"Mars/Olympus"'}, "time_zone"),
        ({"session_close": "17:00:00"}, "session_close"),
        ({"is_micro": "1"}, "is_micro"),
        ({"name": '"YY"'}, "name"),
    ],
)
def test_product_rejected_naming_field_when_malformed(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(make_product_toml("XX", **overrides), source="user.toml")

    assert (caught.value.product, caught.value.field) == ("XX", field)
    assert str(caught.value).startswith(f"user.toml, product 'XX', field '{field}': ")


def test_product_name_rejected_when_lower_case() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(make_product_toml("xx"))
    assert caught.value.field == "name"


def test_file_rejected_when_top_level_key_unknown() -> None:
    with pytest.raises(CatalogueError, match="unknown top-level key 'product'"):
        parse_catalogue("[product.ES]\ntick_size = 0.25\n")


# --- business days --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 24), True),  # an ordinary Tuesday
        (date(2026, 11, 21), False),  # Saturday
        (date(2026, 11, 26), False),  # Thanksgiving: abbreviated trading, no settlement
        (date(2026, 11, 27), True),  # Black Friday: early close, still a business day
        (date(2026, 12, 24), True),  # Christmas Eve: early close, still a business day
        (date(2026, 12, 25), False),  # Christmas
        (date(2026, 4, 3), False),  # Good Friday
        (date(2026, 1, 19), False),  # Martin Luther King Jr. Day
    ],
)
def test_business_day_matches_cme_when_holiday_season(
    calendar: CmeCalendar, day: date, expected: bool
) -> None:
    assert calendar.is_business_day(day) is expected


def test_holidays_are_weekdays_only_when_listed(calendar: CmeCalendar) -> None:
    holidays = {day for day in calendar.holidays() if day.year == 2026}
    assert holidays == {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 4, 3),
        date(2026, 5, 25),
        date(2026, 7, 3),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }
    assert all(calendar.is_holiday(day) for day in holidays)


# --- maturities -----------------------------------------------------------------------------------------


def test_esz6_and_esh7_listed_when_2026_11_24(listed: Listing) -> None:
    maturities = listed("ES", date(2026, 11, 24))

    assert maturities == [
        Maturity(
            month_code="Z",
            year=2026,
            expiration_month=202612,
            last_trade_date=date(2026, 12, 18),
            contract_name="ESZ6",
        ),
        Maturity(
            month_code="H",
            year=2027,
            expiration_month=202703,
            last_trade_date=date(2027, 3, 19),
            contract_name="ESH7",
        ),
    ]


def test_esz6_still_listed_when_its_last_trade_date(listed: Listing) -> None:
    maturities = listed("ES", date(2026, 12, 18))
    assert names(maturities) == ["ESZ6", "ESH7"]


def test_esz6_no_longer_listed_when_2026_12_19(listed: Listing) -> None:
    maturities = listed("ES", date(2026, 12, 19))
    assert names(maturities) == ["ESH7", "ESM7"]


def test_micro_contracts_named_like_tradovate_when_listed(listed: Listing) -> None:
    maturities = listed("MNQ", date(2026, 12, 19), 4)
    assert names(maturities) == ["MNQH7", "MNQM7", "MNQU7", "MNQZ7"]


def test_cl_maturities_when_2026_11_24(listed: Listing) -> None:
    maturities = listed("CL", date(2026, 11, 24), 3)

    # CLZ6 expired 2026-11-20. Dec 25 2026 is a holiday, so CLF7 ends 4 business days before it.
    assert [(m.contract_name, m.expiration_month, m.last_trade_date) for m in maturities] == [
        ("CLF7", 202701, date(2026, 12, 21)),
        ("CLG7", 202702, date(2027, 1, 20)),
        ("CLH7", 202703, date(2027, 2, 22)),
    ]


def test_mcl_expires_business_day_before_cl_when_same_month(listed: Listing) -> None:
    maturities = listed("MCL", date(2026, 11, 24), 2)
    assert [(m.contract_name, m.last_trade_date) for m in maturities] == [
        ("MCLF7", date(2026, 12, 18)),
        ("MCLG7", date(2027, 1, 19)),
    ]


def test_gc_cycle_names_when_2026_11_24(listed: Listing) -> None:
    maturities = listed("GC", date(2026, 11, 24), 4)
    assert [(m.contract_name, m.last_trade_date) for m in maturities] == [
        ("GCZ6", date(2026, 12, 29)),
        ("GCG7", date(2027, 2, 24)),
        ("GCJ7", date(2027, 4, 28)),
        ("GCM7", date(2027, 6, 28)),
    ]
    assert names(listed("MGC", date(2026, 12, 30), 2)) == [
        "MGCG7",
        "MGCJ7",
    ]


@pytest.mark.parametrize(
    ("rule", "year", "month", "expected"),
    [
        (ExpirationRule.cl, 2021, 12, date(2021, 11, 19)),  # the 25th was Thanksgiving
        (ExpirationRule.cl, 2022, 1, date(2021, 12, 20)),  # the 25th was a Saturday
        (ExpirationRule.cl, 2032, 1, date(2031, 12, 19)),  # the 25th is Christmas, a Thursday
        (ExpirationRule.gc, 2025, 12, date(2025, 12, 29)),
        (ExpirationRule.equity_quarterly, 2008, 3, date(2008, 3, 20)),  # third Friday was Good Friday
        (ExpirationRule.ng, 2027, 1, date(2026, 12, 29)),
        (ExpirationRule.fx_quarterly, 2025, 12, date(2025, 12, 15)),
        (ExpirationRule.treasury_note, 2025, 12, date(2025, 12, 19)),
    ],
)
def test_last_trade_date_matches_exchange_when_rule_applied(
    calendar: CmeCalendar, rule: ExpirationRule, year: int, month: int, expected: date
) -> None:
    assert last_trade_date(rule, year, month, calendar.is_business_day) == expected


def test_contract_name_uses_last_year_digit_when_named() -> None:
    assert contract_name("6E", "H", 2030) == "6EH0"


def test_no_maturities_when_count_zero(listed: Listing) -> None:
    assert listed("ES", date(2026, 11, 24), 0) == []


def test_listed_maturities_refused_when_count_negative(catalogue: dict[str, ProductSpec]) -> None:
    with pytest.raises(ValueError, match="count"):
        listed_maturities(catalogue["ES"], date(2026, 11, 24), -1, is_business_day=lambda day: True)
