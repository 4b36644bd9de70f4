"""Properties of price_cart over random carts, promotions and destinations."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money, sum_money
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import (
    BuyXGetY,
    FixedAmountOff,
    FreeShippingPromotion,
    PercentageOff,
    Promotion,
    SpendThreshold,
)
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


PRODUCTS = [
    Product(
        sku="TEE",
        name="T-shirt",
        price=twd("590"),
        weight_g=200,
        size_cm=(30, 20, 3),
        categories={"apparel"},
    ),
    Product(
        sku="SOCK",
        name="Socks",
        price=twd("99"),
        weight_g=80,
        size_cm=(20, 10, 2),
        categories={"apparel"},
    ),
    Product(sku="MUG", name="Mug", price=twd("350"), weight_g=400, size_cm=(12, 12, 10)),
    Product(
        sku="BOOK",
        name="Book",
        price=twd("480"),
        weight_g=600,
        size_cm=(21, 15, 3),
        tax_category="zero",
    ),
    Product(sku="FREE", name="Sticker", price=twd("0"), weight_g=5, size_cm=(5, 5, 1)),
]
PROMOTIONS: list[Promotion] = [
    SpendThreshold(id="tiers", tiers=[(twd("1000"), twd("100")), (twd("2000"), twd("250"))]),
    SpendThreshold(id="every-300", every=twd("300"), off=twd("30"), group="spend"),
    PercentageOff(id="apparel-15", percent=15, categories={"apparel"}),
    BuyXGetY(id="b2g1", buy=2, get=1, skus={"MUG", "TEE"}),
    FixedAmountOff(id="fifty", amount=twd("50")),
    FreeShippingPromotion(id="free-ship", min_spend=twd("1500")),
]
TABLE = ShippingTable.example_taiwan()
TW = TaxTable.preset("TW")
CONTEXT = PricingContext(at=datetime(2026, 11, 20, 4, 0, tzinfo=UTC), customer=Customer(id="c"))
PLACES = [
    Address(country="TW", postal_code="106", city="Taipei"),
    Address(country="TW", postal_code="880"),
    Address(country="TW", postal_code="800"),
]

lines = st.lists(st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 5)), min_size=1, max_size=6)
promotion_sets = st.lists(st.sampled_from(PROMOTIONS), unique_by=lambda p: p.id, max_size=4)


def build(picked: list[tuple[Product, int]]) -> Cart:
    cart = Cart("TWD")
    for product, qty in picked:
        cart = cart.add(product, qty)
    return cart


def quote(cart: Cart, promotions: list[Promotion], ship_to: Address) -> Quote:
    return price_cart(
        cart, context=CONTEXT, tax=TW, promotions=promotions, shipping=TABLE, ship_to=ship_to
    )


@given(lines, promotion_sets, st.sampled_from(PLACES))
def test_totals_add_up(
    picked: list[tuple[Product, int]], promos: list[Promotion], to: Address
) -> None:
    q = quote(build(picked), promos, to)
    zero = twd("0")
    assert sum_money([line.amount for line in q.lines], currency="TWD") == q.goods_total
    assert q.goods_total == q.subtotal - q.discount_total
    assert zero <= q.discount_total <= q.subtotal
    assert q.total == q.goods_total + q.shipping_fee  # prices include tax in Taiwan
    line_taxes = sum_money([line.tax for line in q.lines], currency="TWD")
    shipping_tax = q.tax.shipping.tax if q.tax.shipping is not None else zero
    assert line_taxes + shipping_tax == q.tax_total
    for line in q.lines:
        assert sum_money(line.unit_amounts, currency="TWD") == line.amount
        assert sum_money(line.unit_taxes, currency="TWD") == line.tax
        assert all(unit >= zero for unit in line.unit_amounts)
    assert all(choice.option.fee >= zero for choice in q.shipping_options)


@given(lines, promotion_sets, st.sampled_from(PLACES), st.randoms(use_true_random=False))
def test_line_order_does_not_change_the_totals(
    picked: list[tuple[Product, int]], promos: list[Promotion], to: Address, rnd: object
) -> None:
    shuffled = list(picked)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = quote(build(picked), promos, to), quote(build(shuffled), promos, to)
    assert (first.total, first.discount_total, first.tax_total, first.shipping_fee) == (
        second.total,
        second.discount_total,
        second.tax_total,
        second.shipping_fee,
    )


@given(lines, promotion_sets, st.sampled_from(PLACES))
def test_pricing_twice_gives_the_same_quote(
    picked: list[tuple[Product, int]], promos: list[Promotion], to: Address
) -> None:
    cart = build(picked)
    assert quote(cart, promos, to).to_json() == quote(cart, promos, to).to_json()
