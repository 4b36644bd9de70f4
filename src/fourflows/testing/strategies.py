"""Hypothesis strategies for fourflows values, shared by every property test.

>>> from hypothesis import given
>>> from fourflows.testing.strategies import money
>>> @given(money(currency="TWD"))
... def test_doubling(value): assert value + value == value * 2
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import strategies as st

from fourflows.money import Money, Precision

__all__ = ["CURRENCIES", "aware_datetimes", "currencies", "money", "weights"]

CURRENCIES = ("TWD", "USD", "EUR", "JPY", "CNY", "GBP", "CHF", "KWD", "HUF")
"""Currencies the strategies draw from: 0, 2 and 3 decimals, and cash rounding."""


def currencies() -> st.SearchStrategy[str]:
    """An ISO 4217 code from `CURRENCIES`."""
    return st.sampled_from(CURRENCIES)


@st.composite
def money(
    draw: st.DrawFn,
    *,
    currency: str | None = None,
    min_units: int = -(10**9),
    max_units: int = 10**9,
    extra_digits: int = 0,
) -> Money:
    """Money whose amount is a whole number of minor units in [min_units, max_units].

    ``extra_digits`` adds that many digits below the minor unit, for values
    that still need rounding.
    """
    code = currency if currency is not None else draw(currencies())
    exponent = Precision.minor_unit(code).exponent + extra_digits
    units = draw(st.integers(min_value=min_units, max_value=max_units))
    return Money(Decimal(units).scaleb(-exponent), code)


def weights(*, min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[list[int | Decimal]]:
    """Allocation weights: zero or more, ints or Decimals, not all zero."""
    one = st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    )
    return st.lists(one, min_size=min_size, max_size=max_size).filter(lambda ws: any(ws))


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes between 2000 and 2100, in UTC or a fixed offset."""
    zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones
    )
