"""Properties of apply_promotions that hold for every cart and every set of promotions."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money, sum_money
from fourflows.commerce.cart import Cart, CartLine, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.coupons import Coupon
from fourflows.commerce.promotions import (
    BundlePrice,
    BuyXGetY,
    Clearance,
    FixedAmountOff,
    FlashSale,
    FlashSaleSales,
    FreeShippingPromotion,
    PercentageOff,
    Promotion,
    PromotionResult,
    SpendThreshold,
    SpendTier,
    apply_promotions,
)
from fourflows.testing.strategies import money

AT = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)
CONTEXT = PricingContext(at=AT, customer=Customer(id="c-1", tier="gold"), channel=Channel.WEB)
SKUS = ("A", "B", "C", "D")
CATEGORIES = ("x", "y")


@st.composite
def carts(draw: st.DrawFn, currency: str) -> Cart:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        sku = draw(st.sampled_from(SKUS))
        # A few shared prices make ties (equal lines, equal remainders) common.
        price = draw(
            money(currency=currency, min_units=0, max_units=200_000)
            | st.sampled_from([Money(amount, currency) for amount in (1, 5, 100)])
        )
        categories = draw(st.frozensets(st.sampled_from(CATEGORIES)))
        item = Product(sku=sku, name=sku, price=price, categories=categories)
        lines.append(CartLine(product=item, quantity=draw(st.integers(1, 4))))
    return Cart(currency, lines=tuple(lines))


def positive(currency: str, top: int = 200_000) -> st.SearchStrategy[Money]:
    return money(currency=currency, min_units=1, max_units=top)


def percents() -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal("0.5"), max_value=100, places=1)


@st.composite
def promotions_of(draw: st.DrawFn, currency: str, pid: str) -> Promotion:
    common: dict[str, Any] = {
        "id": pid,
        "priority": draw(st.integers(0, 3)),
        "exclusive": draw(st.booleans().filter(lambda _: True)) and draw(st.booleans()),
        "group": draw(st.sampled_from([None, None, "g1", "g2"])),
    }
    target: dict[str, Any] = {
        "skus": draw(st.frozensets(st.sampled_from(SKUS), max_size=2)),
        "categories": draw(st.frozensets(st.sampled_from(CATEGORIES), max_size=1)),
        "exclude_clearance": draw(st.booleans()),
    }
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return PercentageOff(**common, **target, percent=draw(percents()))
    if kind == 1:
        amount = draw(positive(currency, 100_000))
        return FixedAmountOff(**common, **target, amount=amount, per_unit=draw(st.booleans()))
    if kind == 2:
        if draw(st.booleans()):
            spends = draw(st.lists(positive(currency), min_size=1, max_size=3, unique=True))
            tiers = [SpendTier(spend=spend, off=draw(positive(currency))) for spend in spends]
            return SpendThreshold(**common, **target, tiers=tiers)
        every, off = draw(positive(currency)), draw(positive(currency))
        return SpendThreshold(**common, **target, every=every, off=off)
    if kind == 3:
        return BuyXGetY(
            **common,
            **target,
            buy=draw(st.integers(1, 3)),
            get=draw(st.integers(1, 2)),
            percent=draw(percents()),
        )
    if kind == 4:
        items = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 2), min_size=1))
        if sum(items.values()) < 2:
            items = {**items, "A": items.get("A", 0) + 1}
        price = draw(money(currency=currency, min_units=0, max_units=300_000))
        return BundlePrice(**common, items=items, price=price)
    if kind == 5:
        return FlashSale(
            **common,
            skus=draw(st.frozensets(st.sampled_from(SKUS), min_size=1, max_size=2)),
            price=draw(money(currency=currency, min_units=0, max_units=100_000)),
            starts_at=AT - timedelta(hours=1),
            ends_at=AT + timedelta(hours=1),
            cap=draw(st.none() | st.integers(0, 6)),
            per_order=draw(st.none() | st.integers(0, 3)),
        )
    if kind == 6:
        price_or_percent: dict[str, Any] = (
            {"price": draw(money(currency=currency, min_units=0, max_units=100_000))}
            if draw(st.booleans())
            else {"percent": draw(percents())}
        )
        return Clearance(
            **common,
            skus=draw(st.frozensets(st.sampled_from(SKUS), min_size=1, max_size=2)),
            **price_or_percent,
        )
    return FreeShippingPromotion(
        **common, **target, min_spend=draw(st.none() | positive(currency, 500_000))
    )


@attrs.frozen
class Scenario:
    cart: Cart
    promotions: tuple[Promotion, ...]
    coupons: tuple[Coupon, ...]
    codes: tuple[str, ...]
    sold: FlashSaleSales

    def run(self, cart: Cart | None = None, extra: tuple[Promotion, ...] = ()) -> PromotionResult:
        return apply_promotions(
            cart if cart is not None else self.cart,
            CONTEXT,
            (*self.promotions, *extra),
            coupon_codes=self.codes,
            coupons=self.coupons,
            flash_sales=self.sold,
        )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    currency = draw(st.sampled_from(["TWD", "USD", "JPY"]))
    promotions: list[Promotion] = []
    coupons = []
    for number in range(draw(st.integers(0, 5))):
        promotion = draw(promotions_of(currency, f"p{number}"))
        if draw(st.integers(0, 4)) == 0:
            promotion = attrs.evolve(promotion, requires_coupon=True)
            minimum = draw(st.none() | positive(currency, 300_000))
            coupons.append(Coupon(code=f"C{number}", promotion_id=promotion.id, min_spend=minimum))
        promotions.append(promotion)
    codes = draw(st.lists(st.sampled_from([c.code for c in coupons] + ["BOGUS"]), max_size=3))
    sold = FlashSaleSales(
        sold={p.id: draw(st.integers(0, 5)) for p in promotions if isinstance(p, FlashSale)}
    )
    return Scenario(draw(carts(currency)), tuple(promotions), tuple(coupons), tuple(codes), sold)


@given(scenarios())
def test_discounts_never_exceed_the_subtotal_and_totals_add_up(scenario: Scenario) -> None:
    result = scenario.run()
    zero = Money(0, scenario.cart.currency)
    assert result.subtotal == scenario.cart.subtotal()
    assert zero <= result.discount_total <= result.subtotal
    assert result.net_total == result.subtotal - result.discount_total
    assert sum_money((a.amount for a in result.adjustments), currency=result.currency) == (
        result.discount_total
    )
    for line in result.lines:
        assert len(line.unit_nets) == len(line.unit_prices) == line.quantity
        for price, net in zip(line.unit_prices, line.unit_nets, strict=True):
            assert zero <= net <= price <= line.list_price
        assert sum_money(line.unit_nets, currency=result.currency) == line.net_total
        assert line.net_total == line.subtotal - line.discount_total
    assert sum_money((line.net_total for line in result.lines), currency=result.currency) == (
        result.net_total
    )
    assert sum_money((line.subtotal for line in result.lines), currency=result.currency) == (
        result.subtotal
    )


@given(scenarios())
def test_allocations_are_exact_down_to_each_unit(scenario: Scenario) -> None:
    result = scenario.run()
    taken: Counter[tuple[int, int]] = Counter()
    for adjustment in result.adjustments:
        assert adjustment.amount.amount > 0
        assert sum_money(row.amount for row in adjustment.lines) == adjustment.amount
        for row in adjustment.lines:
            line = result.lines[row.index]
            assert row.sku == line.sku
            assert len(row.unit_amounts) == line.quantity
            assert sum_money(row.unit_amounts) == row.amount
            for position, amount in enumerate(row.unit_amounts):
                taken[(row.index, position)] += amount.get_amount_in_sub_unit()
    for line in result.lines:
        for position, net in enumerate(line.unit_nets):
            given_off = (line.list_price - net).get_amount_in_sub_unit()
            assert taken[(line.index, position)] == given_off


@given(scenarios(), st.randoms(use_true_random=False))
def test_line_order_does_not_change_the_totals(scenario: Scenario, random: Any) -> None:
    lines = list(scenario.cart.lines)
    random.shuffle(lines)
    shuffled_cart = Cart(scenario.cart.currency, lines=tuple(lines))
    shuffled = scenario.run(shuffled_cart)
    result = scenario.run()
    assert (shuffled.subtotal, shuffled.discount_total, shuffled.net_total) == (
        result.subtotal,
        result.discount_total,
        result.net_total,
    )
    assert [(a.promotion_id, a.amount) for a in shuffled.adjustments] == [
        (a.promotion_id, a.amount) for a in result.adjustments
    ]
    assert shuffled.free_shipping == result.free_shipping
    assert shuffled.rejected_coupons == result.rejected_coupons
    # Each line ends up with the same unit nets wherever it sits in the cart.
    assert Counter(_outcome(shuffled_cart, shuffled)) == Counter(_outcome(scenario.cart, result))


def _outcome(cart: Cart, result: PromotionResult) -> list[tuple[object, ...]]:
    return [
        (
            line.sku,
            line.list_price,
            line.quantity,
            cart.lines[line.index].product.categories,
            *line.unit_nets,
        )
        for line in result.lines
    ]


@given(scenarios())
def test_applying_twice_gives_the_same_result(scenario: Scenario) -> None:
    assert scenario.run() == scenario.run()


INELIGIBLE = [
    {"starts_at": AT + timedelta(days=1), "ends_at": AT + timedelta(days=2)},
    {"starts_at": AT - timedelta(days=2), "ends_at": AT},
    {"channels": {Channel.APP, Channel.STORE}},
    {"member_tiers": {"platinum"}},
    {"customer_groups": {"staff"}},
    {"first_order_only": True},
    {"requires_coupon": True},
]


@given(scenarios(), st.data())
def test_adding_an_ineligible_promotion_changes_nothing(scenario: Scenario, data: Any) -> None:
    currency = scenario.cart.currency
    extra = data.draw(promotions_of(currency, "zz-extra"))
    extra = attrs.evolve(extra, **data.draw(st.sampled_from(INELIGIBLE)))
    assert scenario.run(extra=(extra,)) == scenario.run()
