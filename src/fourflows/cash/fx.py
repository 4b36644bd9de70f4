"""Exchange rates: presentment currencies converted to the currency a shop settles in.

A shop may price and charge in several *presentment* currencies (what the
customer sees and pays: USD, JPY) and be paid out by its provider in one
*settlement* currency (TWD). Converting between them needs a rate:

* `FxRate` is one quoted rate: one unit of ``base`` buys ``rate`` units of
  ``quote``, as of an aware time. ``convert`` turns base money into quote
  money, rounded explicitly (half-up by default) to the quote currency's minor
  unit. Rates are exact Decimals; a float is refused.
* `FxRates` is the port a rate source implements: ``rate(from_currency,
  to_currency, at)``. Its failure semantics: a pair the source does not quote
  raises `NotFound` naming the pair and the pairs it knows; a source that
  cannot answer now (a rate service down, a stale feed) raises
  `FxRatesUnavailable`, and the caller retries later. A currency to itself is
  always the rate 1. A naive ``at`` raises `InvalidInput`.
* `FixedRates` is the adapter over a fixed table (rates agreed for a season,
  or a test). Each listed pair is quoted as given; its inverse is derived only
  when ``1 / rate`` is an exact (terminating) decimal, such as 1/32 = 0.03125,
  so that converting there and back never hides a rounding of the rate
  itself. An inverse that would not terminate (1/30) is refused with
  `NotFound`: list that direction in the table with the rate you mean.

The contract every source keeps is `fourflows.testing.fx_contract.FxRatesContract`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Context, Decimal, Inexact, InvalidOperation
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from fourflows.errors import (
    CurrencyMismatch,
    FloatNotAllowed,
    FourFlowsError,
    InvalidInput,
    NotFound,
)
from fourflows.events import require_aware
from fourflows.money import Money, Precision, Rounding, currency_code, round_money

__all__ = ["FixedRates", "FxRate", "FxRates", "FxRatesUnavailable", "pair_name"]

# Exact division: raises Inexact instead of rounding a quotient that does not terminate.
_EXACT = Context(prec=40, traps=[Inexact, InvalidOperation])


class FxRatesUnavailable(FourFlowsError):
    """A rate source cannot answer now (service down, feed stale); retry later.

    The outcome is unknown, not a refusal: nothing was converted.
    """

    def __init__(self, pair: str, reason: str) -> None:
        super().__init__(f"no rate for {pair} right now: {reason}; retry later")
        self.pair = pair
        self.reason = reason


def pair_name(from_currency: str, to_currency: str) -> str:
    """The pair written as ``"USD/TWD"`` (both codes checked and upper-cased)."""
    return f"{currency_code(from_currency)}/{currency_code(to_currency)}"


def _rate(value: object) -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, "an exchange rate")
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"an exchange rate must be str, int or Decimal, not {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation:
        raise InvalidInput(
            f"exchange rate {value!r} is not a number; write it like '32.15'"
        ) from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput(f"an exchange rate must be a finite number above zero, not {value!r}")
    return number


def _aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    require_aware(value, attribute.name.replace("_", " "))


@attrs.frozen
class FxRate:
    """One unit of ``base`` buys ``rate`` units of ``quote``, as of ``as_of``.

    >>> from datetime import UTC, datetime
    >>> usd_twd = FxRate("USD", "TWD", "32.15", as_of=datetime(2026, 11, 20, tzinfo=UTC))
    >>> usd_twd.convert(Money("19.99", "USD"))
    Money('642.68', 'TWD')
    """

    base: str = attrs.field(converter=currency_code)
    quote: str = attrs.field(converter=currency_code)
    rate: Decimal = attrs.field(converter=_rate)
    as_of: datetime = attrs.field(kw_only=True, validator=_aware)

    def __attrs_post_init__(self) -> None:
        if self.base == self.quote and self.rate != 1:
            raise InvalidInput(f"a currency converts to itself at 1, not {self.rate} ({self.pair})")

    @property
    def pair(self) -> str:
        """The pair, e.g. ``"USD/TWD"``."""
        return f"{self.base}/{self.quote}"

    def convert(self, value: Money, *, rounding: Rounding = Rounding.HALF_UP) -> Money:
        """``value`` (in ``base``) in ``quote``, rounded to the quote's minor unit.

        Rounds half-up unless told otherwise; money in another currency than
        ``base`` raises `CurrencyMismatch`.
        """
        if not isinstance(value, Money):
            raise InvalidInput(f"convert takes Money, not {value!r}")
        if value.code != self.base:
            raise CurrencyMismatch(self.base, value.code, f"convert at the {self.pair} rate")
        exact = Money(value.amount * self.rate, self.quote)
        return round_money(exact, Precision.minor_unit(self.quote), rounding)

    def inverse(self) -> FxRate:
        """The rate from ``quote`` back to ``base``, if ``1 / rate`` is an exact decimal.

        `InvalidInput` when it is not (1/30 never ends): a rounded inverse would
        be a different rate, so the caller must say which one it means.
        """
        try:
            inverted = _EXACT.divide(Decimal(1), self.rate)
        except Inexact:
            raise InvalidInput(
                f"the {self.pair} rate {self.rate} has no exact inverse (1/{self.rate} does not "
                f"terminate); quote {self.quote}/{self.base} explicitly"
            ) from None
        return FxRate(self.quote, self.base, inverted.normalize(), as_of=self.as_of)


class FxRates(Protocol):
    """A source of exchange rates (a port).

    ``rate(from_currency, to_currency, at)`` answers the rate that converts
    ``from_currency`` money into ``to_currency`` at the aware time ``at``.
    Failures: a pair the source does not quote raises `NotFound` naming the
    pair and the pairs known; a source that cannot answer now raises
    `FxRatesUnavailable` (retry later); a naive ``at`` or an unknown currency
    code raises `InvalidInput`. A currency to itself is always 1. Asking
    twice with the same arguments gives the same rate (sources that move with
    time answer by ``at``, never by the wall clock).
    """

    def rate(self, from_currency: str, to_currency: str, at: datetime) -> FxRate:
        """The rate from ``from_currency`` to ``to_currency`` at ``at``."""
        ...


def _table(value: object) -> Mapping[str, Decimal]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f'a rate table maps pairs such as "USD/TWD" to rates, not {value!r}')
    table: dict[str, Decimal] = {}
    for key, rate in value.items():
        parts = key.split("/") if isinstance(key, str) else []
        if len(parts) != 2:
            raise InvalidInput(f'a rate table key is a pair such as "USD/TWD", not {key!r}')
        name = pair_name(parts[0], parts[1])
        if name in table:
            raise InvalidInput(f"the rate table lists {name} twice")
        if parts[0].strip().upper() == parts[1].strip().upper():
            raise InvalidInput(f"the rate table lists {name}: a currency to itself is always 1")
        table[name] = _rate(rate)
    return MappingProxyType(table)


@attrs.frozen
class FixedRates:
    """An `FxRates` over a fixed table: ``{"USD/TWD": "32"}``, valid from ``as_of``.

    Every rate it gives carries ``as_of``, whatever time is asked. A pair not
    listed is answered by the inverse of its reverse when that inverse is an
    exact decimal (``"USD/TWD": "32"`` also gives TWD/USD 0.03125), and refused
    with `NotFound` otherwise.

    >>> from datetime import UTC, datetime
    >>> day = datetime(2026, 11, 20, tzinfo=UTC)
    >>> rates = FixedRates({"USD/TWD": "32"}, as_of=day)
    >>> rates.rate("TWD", "USD", day).rate
    Decimal('0.03125')
    """

    table: Mapping[str, Decimal] = attrs.field(converter=_table)
    as_of: datetime = attrs.field(kw_only=True, validator=_aware)

    def rate(self, from_currency: str, to_currency: str, at: datetime) -> FxRate:
        """The rate from ``from_currency`` to ``to_currency``; see the class docstring."""
        require_aware(at, "at")
        base, quote = currency_code(from_currency), currency_code(to_currency)
        if base == quote:
            return FxRate(base, quote, 1, as_of=self.as_of)
        listed = self.table.get(f"{base}/{quote}")
        if listed is not None:
            return FxRate(base, quote, listed, as_of=self.as_of)
        reverse = self.table.get(f"{quote}/{base}")
        if reverse is not None:
            try:
                return FxRate(quote, base, reverse, as_of=self.as_of).inverse()
            except InvalidInput:
                error = NotFound("exact rate for the pair", f"{base}/{quote}")
                known = ", ".join(repr(pair) for pair in sorted(self.table))
                error.args = (
                    f"{error}: 1/{reverse} from {quote}/{base} does not terminate, so list "
                    f"{base}/{quote} in the table; known: {known}",
                )
                raise error from None
        raise NotFound("rate for the pair", f"{base}/{quote}", self.table)

    def pairs(self) -> tuple[str, ...]:
        """The pairs listed in the table, sorted (inverses not included)."""
        return tuple(sorted(self.table))
