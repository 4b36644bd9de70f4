"""Properties of the marketplace: splits sum, entries balance, statements sum to the ledger."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.cash.ledger import (
    COMMISSION_REVENUE,
    SELLER_PAYABLE,
    Ledger,
    Side,
    capture_entry,
    refund_entry,
)
from fourflows.cash.marketplace import (
    Marketplace,
    PayoutExceedsPayable,
    Seller,
    marketplace_capture_entries,
    marketplace_refund_entries,
    seller_fee_entry,
    seller_payable,
    seller_payout_entry,
    seller_statement,
)
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import Order
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money, allocate, sum_money
from fourflows.tax import PriceMode, TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")


def twd(amount: str | int | Decimal) -> Money:
    return Money(amount, "TWD")


PRODUCTS = (
    Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3)),
    Product(sku="SOCK", name="Socks", price=twd("349"), weight_g=80, size_cm=(20, 10, 2)),
    Product(sku="CAP", name="Cap", price=twd("777"), weight_g=90, size_cm=(25, 20, 10)),
    Product(sku="MUG", name="Mug", price=twd("45"), weight_g=300, size_cm=(20, 10, 10)),
)


@functools.cache
def quote(quantities: tuple[int, ...], mode: PriceMode) -> Quote:
    cart = Cart("TWD")
    for product, quantity in zip(PRODUCTS, quantities, strict=True):
        if quantity:
            cart = cart.add(product, quantity)
    return price_cart(
        cart,
        context=PricingContext(at=AT, customer=Customer(id="c-1")),
        tax=TaxTable.preset("TW").with_mode(mode),
        shipping=ShippingTable.example_taiwan(),
        ship_to=TAIPEI,
        service="home",
    )


rates = st.decimals(min_value=0, max_value=40, places=1)


@st.composite
def markets(draw: st.DrawFn) -> Marketplace:
    """Two or three sellers, each product sold by one, with random rates and minimum."""
    count = draw(st.integers(2, 3))
    sellers = [
        Seller(f"s-{n}", f"Seller {n}", commission_rate=draw(st.none() | rates))
        for n in range(count)
    ]
    owners = draw(st.lists(st.integers(0, count - 1), min_size=4, max_size=4))
    minimum = draw(st.none() | st.integers(0, 120).map(twd))
    return Marketplace(
        sellers=sellers,
        sku_sellers={p.sku: f"s-{owner}" for p, owner in zip(PRODUCTS, owners, strict=True)},
        default_rate=draw(rates),
        category_rates={"sale": draw(rates)},
        sku_categories={"SOCK": "sale"} if draw(st.booleans()) else {},
        minimum=minimum,
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    quantities = draw(
        st.lists(st.integers(0, 3), min_size=4, max_size=4).filter(lambda qs: sum(qs) > 0)
    )
    return Order.place(
        id="o-1", quote=quote(tuple(quantities), draw(st.sampled_from(PriceMode))), at=AT
    )


steps = st.lists(
    st.tuples(
        st.sampled_from(["capture", "refund", "payout", "fee"]),
        st.integers(1, 100),  # percent of what is left to capture, refund or pay
        st.integers(0, 2),  # which seller, for payouts and fees
    ),
    max_size=10,
)


@given(market=markets(), order=orders(), amount=st.integers(1, 10_000_000))
def test_a_split_sums_to_the_amount_and_commission_never_exceeds_a_share(
    market: Marketplace, order: Order, amount: int
) -> None:
    taken = Money.from_minor_units(amount, "TWD")
    split = market.split(order, taken)
    assert sum_money(s.amount for s in split.sellers) == taken
    for share in split.sellers:
        assert sum_money(line.amount for line in share.lines) == share.amount
        for line in share.lines:
            assert Money.zero("TWD") <= line.commission <= line.amount
    assert split.commission + split.payable == taken


@given(market=markets(), order=orders(), plan=steps)
def test_captures_refunds_and_payouts_keep_the_books(
    market: Marketplace, order: Order, plan: list[tuple[str, int, int]]
) -> None:
    ledger = Ledger.open()
    total = order.totals.total
    captured = refunded = fees = paid = Money.zero("TWD")
    for n, (what, percent, who) in enumerate(plan):
        at = AT + n * HOUR
        seller = f"s-{who % len(market.sellers)}"
        if what == "capture" and captured < total:
            amount = allocate(total - captured, [percent, 100 - percent])[0]
            if not amount.amount:
                continue
            split = market.split(order, amount)
            ledger = ledger.post_all(
                [
                    capture_entry(
                        id=f"cap-{n}",
                        at=at,
                        order_id="o-1",
                        payment_id="p-1",
                        method="card",
                        amount=amount,
                    ),
                    *marketplace_capture_entries(split, id=f"split-{n}", at=at),
                ]
            )
            captured += amount
        elif what == "refund" and refunded < captured:
            amount = allocate(captured - refunded, [percent, 100 - percent])[0]
            if not amount.amount:
                continue
            split = market.split(order, amount)
            ledger = ledger.post_all(
                [
                    refund_entry(
                        id=f"ref-{n}",
                        at=at,
                        order_id="o-1",
                        payment_id="p-1",
                        method="card",
                        amount=amount,
                    ),
                    *marketplace_refund_entries(split, id=f"unsplit-{n}", at=at),
                ]
            )
            refunded += amount
        elif what == "payout":
            payable = seller_payable(ledger, seller, "TWD")
            if payable.amount <= 0:
                continue
            too_much = payable + twd("0.01")
            with pytest.raises(PayoutExceedsPayable):
                seller_payout_entry(ledger, market, seller, too_much, id=f"pay-{n}", at=at)
            amount = allocate(payable, [percent, 100 - percent])[0]
            if not amount.amount:
                continue
            ledger = ledger.post(
                seller_payout_entry(ledger, market, seller, amount, id=f"pay-{n}", at=at)
            )
            assert seller_payable(ledger, seller, "TWD") == payable - amount
            paid += amount
        elif what == "fee":
            fee = twd(percent)
            ledger = ledger.post(seller_fee_entry(market, seller, fee, id=f"fee-{n}", at=at))
            fees += fee

    # Every entry balances in every currency; so does the trial balance.
    for entry in ledger.entries:
        debits = sum(line.amount.amount for line in entry.lines if line.side is Side.DEBIT)
        credits = sum(line.amount.amount for line in entry.lines if line.side is Side.CREDIT)
        assert debits == credits
    assert ledger.trial_balance().is_balanced

    # What the sellers were credited, plus the commission, is the sales net of refunds.
    payable = ledger.balance(SELLER_PAYABLE, "TWD")
    commission = ledger.balance(COMMISSION_REVENUE, "TWD")
    assert payable + paid + fees + commission == captured - refunded

    # The sellers' statements sum to the ledger.
    statements = [seller_statement(ledger, s, "TWD") for s in market.sellers]
    assert sum_money((s.closing for s in statements), currency="TWD") == payable
    assert sum_money((s.commission for s in statements), currency="TWD") == commission
    assert sum_money((s.sales - s.refunds for s in statements), currency="TWD") == (
        captured - refunded
    )
    assert sum_money((s.paid_out for s in statements), currency="TWD") == paid
    assert sum_money((s.fees for s in statements), currency="TWD") == fees

    # Two periods make the whole: the second opens where the first closes.
    cut = AT + (len(plan) // 2) * HOUR
    for whole in statements:
        first = seller_statement(ledger, whole.seller_id, "TWD", end=cut)
        second = seller_statement(ledger, whole.seller_id, "TWD", start=cut)
        assert second.opening == first.closing
        assert second.closing == whole.closing
        assert first.net_payable + second.net_payable == whole.net_payable
