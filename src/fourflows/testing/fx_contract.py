"""The contract of `fourflows.cash.fx.FxRates`, as a pytest class any rate source can run.

Subclass `FxRatesContract` in your own test file, name the subclass
``Test...`` and supply ``make_rates``; set ``known_pair`` to a pair your
source quotes and ``unknown_pair`` to one it does not (or ``None`` if it
quotes every pair)::

    from fourflows.testing.fx_contract import FxRatesContract

    class TestMyRateFeed(FxRatesContract):
        known_pair = ("USD", "TWD")
        unknown_pair = ("USD", "XAF")

        def make_rates(self):
            return MyRateFeed(api=FakeApi())

What is checked is what every caller relies on: the rate answers the pair
asked for, in that direction, is positive and exact (a Decimal), carries an
aware ``as_of``; the same question twice gives the same answer; a currency
to itself is 1; an unknown pair raises `NotFound` naming the pair; a naive
time and an unknown currency code raise `InvalidInput`. A source that cannot
answer raises `FxRatesUnavailable`, which the suite cannot provoke: test it
with your own fake transport.
"""

from __future__ import annotations

import abc
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import pytest

from fourflows.cash.fx import FxRates
from fourflows.errors import InvalidInput, NotFound
from fourflows.money import Money

__all__ = ["FxRatesContract"]


class FxRatesContract(abc.ABC):
    """The promises of an `FxRates` source; subclass it and supply `make_rates`."""

    known_pair: ClassVar[tuple[str, str]] = ("USD", "TWD")
    """A pair the source quotes."""
    unknown_pair: ClassVar[tuple[str, str] | None] = ("USD", "XAF")
    """A pair the source does not quote, or ``None`` if it quotes every pair."""
    at: ClassVar[datetime] = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    """The time the questions are asked for."""

    @abc.abstractmethod
    def make_rates(self) -> FxRates:
        """A fresh rate source under test."""

    def test_answers_the_pair_asked_for(self) -> None:
        """The rate is for the pair asked, that way round, positive, exact and dated."""
        base, quote = self.known_pair
        rate = self.make_rates().rate(base, quote, self.at)
        assert (rate.base, rate.quote) == (base, quote)
        assert isinstance(rate.rate, Decimal)
        assert rate.rate > 0
        assert rate.as_of.utcoffset() is not None

    def test_converts_into_the_quote_currency(self) -> None:
        """The rate converts base money into quote money."""
        base, quote = self.known_pair
        rate = self.make_rates().rate(base, quote, self.at)
        converted = rate.convert(Money("100", base))
        assert converted.code == quote
        assert converted.amount > 0

    def test_answers_the_same_twice(self) -> None:
        """The same question gives the same rate."""
        rates = self.make_rates()
        base, quote = self.known_pair
        assert rates.rate(base, quote, self.at) == rates.rate(base, quote, self.at)

    def test_a_currency_to_itself_is_one(self) -> None:
        """A currency converts to itself at 1."""
        base, _ = self.known_pair
        rate = self.make_rates().rate(base, base, self.at)
        assert (rate.base, rate.quote, rate.rate) == (base, base, Decimal(1))

    def test_refuses_an_unknown_pair_by_name(self) -> None:
        """A pair not quoted raises NotFound naming it."""
        if self.unknown_pair is None:
            pytest.skip("the source quotes every pair")
        base, quote = self.unknown_pair
        with pytest.raises(NotFound, match=f"{base}/{quote}"):
            self.make_rates().rate(base, quote, self.at)

    def test_refuses_a_naive_time(self) -> None:
        """A naive time raises InvalidInput."""
        base, quote = self.known_pair
        with pytest.raises(InvalidInput, match="timezone-aware"):
            self.make_rates().rate(base, quote, datetime(2026, 11, 20, 4, 0))

    def test_refuses_an_unknown_currency(self) -> None:
        """An unknown currency code raises InvalidInput naming it."""
        base, _ = self.known_pair
        with pytest.raises(InvalidInput, match="XXQ"):
            self.make_rates().rate(base, "XXQ", self.at)
