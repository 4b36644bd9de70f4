"""The contract of `fourflows.tax.TaxProvider`, as a pytest class any provider can run.

Subclass `TaxProviderContract` in your own test file, name the subclass
``Test...`` and supply ``make_provider``; adjust the class attributes when
your provider needs another currency, knows other categories or expects a
ship-to address::

    from fourflows.testing.tax_contract import TaxProviderContract

    class TestMyTaxService(TaxProviderContract):
        currency = "TWD"

        def make_provider(self):
            return MyTaxService(api=FakeApi())

fourflows runs the same class against its own `TaxTable` presets. The rates
themselves are not checked (the suite cannot know them); what is checked is
that the provider keeps the promises every caller relies on: every line
comes back once, net plus tax is gross, totals and breakdown add up, the
amount given is kept, zero-rated and exempt lines carry no tax, the order of
the lines changes nothing, and unknown categories are refused by name.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fourflows.errors import InvalidInput
from fourflows.geo import Address
from fourflows.money import Money, Precision, sum_money
from fourflows.tax import (
    EXEMPT,
    REVERSE_CHARGE_NOTE,
    STANDARD,
    ZERO,
    LineTax,
    PriceMode,
    TaxLine,
    TaxProvider,
    TaxRequest,
    TaxResult,
)

__all__ = ["TaxProviderContract"]


def _exact_tax(amount: Money, rate: Decimal, mode: PriceMode) -> Decimal:
    base = 100 + rate if mode is PriceMode.INCLUSIVE else Decimal(100)
    return amount.amount * rate / base


def _assert_adds_up(result: TaxResult) -> None:
    every = result.all_lines
    for line in every:
        assert line.net + line.tax == line.gross, line
        assert line.net.code == result.currency, line
    code = result.currency
    assert result.net == sum_money((line.net for line in every), currency=code)
    assert result.tax == sum_money((line.tax for line in every), currency=code)
    assert result.gross == sum_money((line.gross for line in every), currency=code)
    rows = result.breakdown
    assert sum_money((row.net for row in rows), currency=code) == result.net
    assert sum_money((row.tax for row in rows), currency=code) == result.tax
    assert sum_money((row.gross for row in rows), currency=code) == result.gross
    assert len({(row.category, row.rate) for row in rows}) == len(rows)


def _kept(line: LineTax, mode: PriceMode) -> Money:
    return line.gross if mode is PriceMode.INCLUSIVE else line.net


class TaxProviderContract(abc.ABC):
    """Promises of `fourflows.tax.TaxProvider`, for tables and tax services alike."""

    currency: ClassVar[str] = "EUR"
    """The currency the requests are in."""

    taxable_categories: ClassVar[tuple[str, ...]] = (STANDARD,)
    """Categories besides ``"zero"`` and ``"exempt"`` the provider knows."""

    ship_to: ClassVar[Address | None] = None
    """The address of a domestic consumer, or ``None`` to send requests without one."""

    @abc.abstractmethod
    def make_provider(self) -> TaxProvider:
        """Return the provider to check; override in your subclass."""

    def reverse_charge_ship_to(self) -> Address | None:
        """An EU business buyer the provider must reverse-charge, or ``None`` to skip that test."""
        return None

    def money(self, amount: str) -> Money:
        """``amount`` in the contract's currency."""
        return Money(amount, self.currency)

    def request(
        self,
        lines: Sequence[tuple[str, str, str]],
        *,
        shipping: str | None = None,
        ship_to: Address | None = None,
    ) -> TaxRequest:
        """A request of ``(key, amount, category)`` lines, to ``ship_to`` or the class default."""
        return TaxRequest(
            [TaxLine(key, self.money(amount), category) for key, amount, category in lines],
            shipping=None if shipping is None else self.money(shipping),
            ship_to=self.ship_to if ship_to is None else ship_to,
            currency=self.currency,
        )

    def cart(self) -> TaxRequest:
        """A request with every category, an empty line and shipping."""
        lines = [
            (f"{category}-{n}", amount, category)
            for category in (*self.taxable_categories, ZERO, EXEMPT)
            for n, amount in enumerate(("1234", "99", "0"))
        ]
        return self.request(lines, shipping="120")

    def test_every_line_comes_back_once_in_request_order(self) -> None:
        """Each line of the request, in order, with its key and category; shipping apart."""
        provider = self.make_provider()
        request = self.cart()
        result = provider.compute(request)
        assert [(line.key, line.category) for line in result.lines] == [
            (line.key, line.category) for line in request.lines
        ]
        assert result.shipping is not None
        assert result.currency == self.currency
        assert result.mode is provider.mode

    def test_without_shipping_there_is_no_shipping_line(self) -> None:
        """``shipping`` is ``None`` exactly when the request has none."""
        result = self.make_provider().compute(self.request([("a", "100", STANDARD)]))
        assert result.shipping is None
        assert [line.key for line in result.lines] == ["a"]

    def test_the_amount_given_is_kept_as_gross_or_net(self) -> None:
        """Tax-inclusive amounts come back as the gross, tax-exclusive ones as the net."""
        provider = self.make_provider()
        request = self.cart()
        result = provider.compute(request)
        for given_line, line in zip(request.lines, result.lines, strict=True):
            assert _kept(line, provider.mode) == given_line.amount, line
        assert request.shipping is not None
        assert result.shipping is not None
        assert _kept(result.shipping, provider.mode) == request.shipping

    def test_net_plus_tax_is_gross_and_every_total_adds_up(self) -> None:
        """Per line, per breakdown row and in total."""
        _assert_adds_up(self.make_provider().compute(self.cart()))

    def test_zero_rated_and_exempt_lines_carry_no_tax_and_are_listed_apart(self) -> None:
        """Both are 0%, and the breakdown keeps them in rows of their own."""
        result = self.make_provider().compute(self.cart())
        for line in result.lines:
            if line.category in (ZERO, EXEMPT):
                assert line.tax.amount == 0, line
                assert line.rate == 0, line
                assert line.net == line.gross, line
        categories = [row.category for row in result.breakdown]
        assert ZERO in categories
        assert EXEMPT in categories

    def test_each_line_is_taxed_at_the_rate_it_reports(self) -> None:
        """A line's tax is its amount at its rate, give or take the rounding."""
        provider = self.make_provider()
        request = self.request(
            [(f"{category}-big", "10000", category) for category in self.taxable_categories]
            + [(f"{category}-small", "37", category) for category in self.taxable_categories]
        )
        result = provider.compute(request)
        for given_line, line in zip(request.lines, result.lines, strict=True):
            assert line.tax.amount >= 0, line
            exact = _exact_tax(given_line.amount, line.rate, provider.mode)
            # Rounding to the tax precision and allocating a document's tax over
            # its lines moves a line's tax by less than two steps; no currency
            # has a tax step above one major unit.
            assert abs(line.tax.amount - exact) < 2, (line, exact)

    def test_the_order_of_the_lines_changes_nothing(self) -> None:
        """Reversing the lines gives the same tax per key, the same totals and breakdown."""
        provider = self.make_provider()
        request = self.cart()
        backwards = TaxRequest(
            tuple(reversed(request.lines)),
            shipping=request.shipping,
            ship_to=request.ship_to,
            currency=request.currency,
        )
        first, second = provider.compute(request), provider.compute(backwards)
        assert {line.key: line for line in first.lines} == {line.key: line for line in second.lines}
        assert first.shipping == second.shipping
        assert first.breakdown == second.breakdown
        assert (first.net, first.tax, first.gross) == (second.net, second.tax, second.gross)

    def test_the_same_request_gives_the_same_result(self) -> None:
        """Computing is a question, not a change: asking twice gives one answer."""
        provider = self.make_provider()
        assert provider.compute(self.cart()) == provider.compute(self.cart())

    def test_an_empty_request_has_no_tax(self) -> None:
        """No lines and no shipping: all totals are zero."""
        result = self.make_provider().compute(
            TaxRequest((), ship_to=self.ship_to, currency=self.currency)
        )
        assert result.lines == ()
        assert result.shipping is None
        assert result.net.amount == result.tax.amount == result.gross.amount == 0
        assert result.breakdown == ()

    def test_an_unknown_category_is_refused_by_name(self) -> None:
        """`InvalidInput` naming the category; nothing is returned for a partial request."""
        provider = self.make_provider()
        request = self.request([("a", "100", STANDARD), ("b", "100", "no-such-category")])
        with pytest.raises(InvalidInput, match="no-such-category"):
            provider.compute(request)

    def test_reverse_charge_zeroes_the_tax_and_says_so(self) -> None:
        """An EU business buyer in another member state pays no VAT; the result notes it."""
        buyer = self.reverse_charge_ship_to()
        if buyer is None:
            pytest.skip("this provider has no reverse-charge case (reverse_charge_ship_to)")
        provider = self.make_provider()
        request = self.request(
            [(category, "1000", category) for category in self.taxable_categories],
            shipping="50",
            ship_to=buyer,
        )
        result = provider.compute(request)
        assert result.reverse_charge
        assert REVERSE_CHARGE_NOTE in result.notes
        assert result.tax.amount == 0
        for given_line, line in zip(request.lines, result.lines, strict=True):
            assert line.gross == line.net, line
            assert line.net <= given_line.amount, line
            if provider.mode is PriceMode.EXCLUSIVE:
                assert line.net == given_line.amount, line
        _assert_adds_up(result)

    def test_a_consumer_in_the_same_place_is_not_reverse_charged(self) -> None:
        """The reverse-charge buyer's address without a VAT id is an ordinary sale."""
        buyer = self.reverse_charge_ship_to()
        if buyer is None:
            pytest.skip("this provider has no reverse-charge case (reverse_charge_ship_to)")
        consumer = attrs.evolve(buyer, vat_id=None)
        request = self.request([("a", "1000", STANDARD)], ship_to=consumer)
        result = self.make_provider().compute(request)
        assert not result.reverse_charge
        assert REVERSE_CHARGE_NOTE not in result.notes

    def test_a_domestic_sale_is_not_reverse_charged(self) -> None:
        """Without a buyer VAT id abroad, tax is charged and no reverse-charge note appears."""
        result = self.make_provider().compute(self.cart())
        assert not result.reverse_charge
        assert REVERSE_CHARGE_NOTE not in result.notes

    def test_any_cart_adds_up(self) -> None:
        """For any amounts and categories: lines kept, totals add up, order changes nothing."""
        provider = self.make_provider()
        categories = (*self.taxable_categories, ZERO, EXEMPT)
        minor = Precision.minor_unit(self.currency).exponent

        # The property is defined inside the test so that each subclass runs
        # its own hypothesis function (one per provider, not one shared method).
        @settings(deadline=None)
        @given(
            st.lists(
                st.tuples(
                    st.integers(0, 10**7) | st.sampled_from([1, 99, 1001]),
                    st.sampled_from(categories),
                ),
                min_size=1,
                max_size=8,
            ),
            st.none() | st.integers(0, 10**5),
        )
        def any_cart(drawn: list[tuple[int, str]], shipping: int | None) -> None:
            request = self.request(
                [
                    (f"line-{n}", str(Decimal(units).scaleb(-minor)), category)
                    for n, (units, category) in enumerate(drawn)
                ],
                shipping=None if shipping is None else str(Decimal(shipping).scaleb(-minor)),
            )
            result = provider.compute(request)
            assert [line.key for line in result.lines] == [line.key for line in request.lines]
            for given_line, line in zip(request.lines, result.lines, strict=True):
                assert _kept(line, provider.mode) == given_line.amount
                assert line.tax.amount >= 0
            _assert_adds_up(result)
            backwards = TaxRequest(
                tuple(reversed(request.lines)),
                shipping=request.shipping,
                ship_to=request.ship_to,
                currency=request.currency,
            )
            again = provider.compute(backwards)
            assert {line.key: line for line in again.lines} == {
                line.key: line for line in result.lines
            }
            assert again.shipping == result.shipping

        any_cart()
