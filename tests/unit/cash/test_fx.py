"""Exchange rates: conversion and its rounding, inverse pairs, fixed tables, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

from fourflows.cash.fx import FixedRates, FxRate, FxRatesUnavailable, pair_name
from fourflows.errors import (
    CurrencyMismatch,
    FloatNotAllowed,
    FourFlowsError,
    InvalidInput,
    NotFound,
)
from fourflows.money import Money, Rounding

DAY = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def rate(base: str, quote: str, value: str) -> FxRate:
    return FxRate(base, quote, value, as_of=DAY)


# --- conversion --------------------------------------------------------------------------


def test_converts_into_the_quote_currency_rounded_half_up_to_its_minor_unit() -> None:
    # 19.99 x 32.15 = 642.6785 -> 642.68 TWD (two decimals, the third digit 8 rounds up)
    assert rate("USD", "TWD", "32.15").convert(usd("19.99")) == Money("642.68", "TWD")


def test_a_zero_decimal_currency_is_rounded_to_whole_units() -> None:
    # 19.99 x 151.37 = 3025.8863 -> 3026 JPY
    assert rate("USD", "JPY", "151.37").convert(usd("19.99")) == Money("3026", "JPY")


def test_a_three_decimal_currency_keeps_three() -> None:
    # 100 x 0.30745 = 30.745 KWD, already at the minor unit (3 decimals)
    assert rate("USD", "KWD", "0.30745").convert(usd("100")) == Money("30.745", "KWD")


def test_an_exact_half_rounds_up_unless_told_otherwise() -> None:
    eur = rate("USD", "EUR", "0.125")
    # 0.04 x 0.125 = 0.005: exactly half a cent
    assert eur.convert(usd("0.04")) == Money("0.01", "EUR")
    assert eur.convert(usd("0.04"), rounding=Rounding.HALF_EVEN) == Money("0.00", "EUR")
    assert eur.convert(usd("0.04"), rounding=Rounding.DOWN) == Money("0.00", "EUR")
    # -0.04 x 0.125 = -0.005: half-up rounds away from zero
    assert eur.convert(usd("-0.04")) == Money("-0.01", "EUR")


def test_converting_money_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch, match="EUR"):
        rate("USD", "TWD", "32").convert(Money("1", "EUR"))


def test_converting_a_number_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Money"):
        rate("USD", "TWD", "32").convert(Decimal(1))  # type: ignore[arg-type]


def test_a_rate_is_a_frozen_value_with_its_pair() -> None:
    found = rate("usd", " twd", "32.15")
    assert (found.base, found.quote, found.rate, found.pair) == (
        "USD",
        "TWD",
        Decimal("32.15"),
        "USD/TWD",
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        found.rate = Decimal(1)  # type: ignore[misc]
    assert pair_name("usd", "twd") == "USD/TWD"


# --- bad rates ---------------------------------------------------------------------------


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(FloatNotAllowed, match=r"32\.15"):
        FxRate("USD", "TWD", 32.15, as_of=DAY)


@pytest.mark.parametrize("value", ["0", "-1", "NaN", "Infinity", "abc", True, None])
def test_a_rate_must_be_a_number_above_zero(value: object) -> None:
    with pytest.raises(InvalidInput, match="exchange rate"):
        FxRate("USD", "TWD", value, as_of=DAY)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        FxRate("USD", "TWD", "32", as_of=datetime(2026, 11, 20))


def test_an_unknown_currency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="XXQ"):
        FxRate("USD", "XXQ", "32", as_of=DAY)


def test_a_currency_converts_to_itself_at_one_only() -> None:
    assert rate("TWD", "TWD", "1").convert(Money("5", "TWD")) == Money("5.00", "TWD")
    with pytest.raises(InvalidInput, match="itself at 1"):
        rate("TWD", "TWD", "2")


# --- inverse pairs -----------------------------------------------------------------------


def test_an_inverse_that_terminates_is_exact() -> None:
    # 1 / 32 = 0.03125 exactly; 1 / 1.6 = 0.625 exactly
    back = rate("USD", "TWD", "32").inverse()
    assert (back.base, back.quote, back.rate, back.as_of) == ("TWD", "USD", Decimal("0.03125"), DAY)
    assert rate("EUR", "USD", "1.6").inverse().rate == Decimal("0.625")


def test_an_inverse_that_never_ends_is_refused() -> None:
    # 1 / 30 = 0.0333...: rounding it would be a different rate
    with pytest.raises(InvalidInput, match="no exact inverse"):
        rate("USD", "TWD", "30").inverse()


# --- the fixed table ---------------------------------------------------------------------


def test_a_fixed_table_quotes_its_pairs_whatever_the_time() -> None:
    rates = FixedRates({"USD/TWD": "32.15", "JPY/TWD": "0.2125"}, as_of=DAY)
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert rates.rate("USD", "TWD", later) == rate("USD", "TWD", "32.15")
    assert rates.rate("jpy", "twd", DAY).rate == Decimal("0.2125")
    assert rates.pairs() == ("JPY/TWD", "USD/TWD")


def test_a_fixed_table_derives_an_exact_inverse() -> None:
    rates = FixedRates({"USD/TWD": "32"}, as_of=DAY)
    # 1 TWD = 1 / 32 USD = 0.03125 USD; 640 TWD = 20.00 USD
    found = rates.rate("TWD", "USD", DAY)
    assert found.rate == Decimal("0.03125")
    assert found.convert(Money("640", "TWD")) == usd("20.00")


def test_a_fixed_table_refuses_an_inverse_that_never_ends_naming_the_pair() -> None:
    rates = FixedRates({"USD/TWD": "32.15"}, as_of=DAY)
    with pytest.raises(
        NotFound,
        match=r"TWD/USD.*does not terminate, so list TWD/USD in the table; known: 'USD/TWD'",
    ):
        rates.rate("TWD", "USD", DAY)


def test_a_listed_inverse_is_used_as_given() -> None:
    rates = FixedRates({"USD/TWD": "32.15", "TWD/USD": "0.0311"}, as_of=DAY)
    assert rates.rate("TWD", "USD", DAY).rate == Decimal("0.0311")


def test_a_fixed_table_refuses_an_unknown_pair_naming_the_known_ones() -> None:
    rates = FixedRates({"USD/TWD": "32"}, as_of=DAY)
    with pytest.raises(NotFound, match=r"'EUR/TWD'; known: 'USD/TWD'"):
        rates.rate("EUR", "TWD", DAY)


def test_a_fixed_table_quotes_a_currency_to_itself_at_one() -> None:
    assert FixedRates({}, as_of=DAY).rate("TWD", "TWD", DAY).rate == Decimal(1)


def test_a_fixed_table_refuses_a_naive_time() -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        FixedRates({"USD/TWD": "32"}, as_of=DAY).rate("USD", "TWD", datetime(2026, 11, 20))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"USDTWD": "32"}, "pair such as"),
        ({("USD", "TWD"): "32"}, "pair such as"),
        ({"USD/TWD": "32", "usd/twd": "31"}, "twice"),
        ({"USD/USD": "1"}, "always 1"),
        ({"USD/XXQ": "1"}, "XXQ"),
        ({"USD/TWD": "-32"}, "above zero"),
        (["USD/TWD"], "maps pairs"),
    ],
)
def test_a_bad_table_is_refused(table: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        FixedRates(table, as_of=DAY)


def test_a_float_in_a_table_is_refused() -> None:
    with pytest.raises(FloatNotAllowed):
        FixedRates({"USD/TWD": 32.15}, as_of=DAY)


def test_an_unavailable_source_is_a_named_error_that_is_not_a_refusal() -> None:
    error = FxRatesUnavailable("USD/TWD", "the rate feed timed out")
    assert isinstance(error, FourFlowsError)
    assert not isinstance(error, InvalidInput | NotFound)
    assert str(error) == "no rate for USD/TWD right now: the rate feed timed out; retry later"
