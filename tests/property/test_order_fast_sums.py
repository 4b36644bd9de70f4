"""The order's and the payment figures' sums, added as decimals, equal the Money arithmetic."""

from datetime import UTC, datetime

from hypothesis import assume, given
from hypothesis import strategies as st

from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import Order, PaymentFigures, _moved, _recounted
from fourflows.commerce.pricing import price_cart
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money, sum_money
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PRODUCTS = (
    Product(
        sku="TEE", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
    ),
    Product(sku="MUG", name="Mug", price=Money("350", "TWD"), weight_g=400, size_cm=(12, 12, 10)),
    Product(sku="PEN", name="Pen", price=Money("45", "TWD"), weight_g=20, size_cm=(15, 2, 2)),
)


def placed(quantities: list[int]) -> Order:
    cart = Cart("TWD")
    for product, quantity in zip(PRODUCTS, quantities, strict=True):
        cart = cart.add(product, quantity)
    quote = price_cart(
        cart,
        context=PricingContext(at=AT, customer=Customer(id="c-1"), channel=Channel.WEB),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Taipei", postal_code="106"),
        service="home",
    )
    return Order.place(id="o-1", quote=quote, at=AT)


@given(
    st.lists(st.integers(min_value=1, max_value=4), min_size=3, max_size=3),
    st.lists(st.integers(min_value=0, max_value=4), min_size=3, max_size=3),
)
def test_totals_are_the_sums_of_the_open_units(quantities: list[int], cancels: list[int]) -> None:
    order = placed(quantities)
    order.lines = tuple(
        _recounted(line, _moved(line.counts, canceled=min(cancel, line.counts.ordered)))
        for line, cancel in zip(order.lines, cancels, strict=True)
    )
    totals = order.totals
    # The reference: each line's open units added up as Money, the way a reader would.
    goods = sum_money((line.open_amount for line in order.lines), currency="TWD")
    tax = sum_money((line.open_tax for line in order.lines), currency="TWD")
    total = sum_money((line.open_total for line in order.lines), currency="TWD")
    subtotal = sum_money(
        (line.list_price * line.counts.open for line in order.lines), currency="TWD"
    )
    shipping = order.shipping
    assert shipping is not None
    if any(line.counts.open for line in order.lines):
        tax, total = tax + shipping.tax, total + shipping.gross
        assert totals.shipping == shipping.fee
    else:
        assert totals.shipping == Money(0, "TWD")
    assert (totals.subtotal, totals.goods, totals.tax, totals.total) == (
        subtotal,
        goods,
        tax,
        total,
    )
    assert totals.discount == subtotal - goods


amounts = st.decimals(min_value=0, max_value=10_000, places=2)


@given(amounts, amounts, amounts, amounts)
def test_payment_figures_add_up_like_money(
    authorized: object, captured: object, refunded: object, credit: object
) -> None:
    a, c, r, k = (Money(str(value), "TWD") for value in (authorized, captured, refunded, credit))
    assume(r + k <= c)  # more going back than was captured is refused when the figures are built
    figures = PaymentFigures(authorized=a, captured=c, refunded=r, credit_issued=k)
    assert figures.returned == r + k
    assert figures.kept == c - (r + k)
    assert figures.secured == c - (r + k) + a
