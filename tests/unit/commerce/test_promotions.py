from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fourflows import CurrencyMismatch, FloatNotAllowed, InvalidInput, Money
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
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
    PromotionKind,
    PromotionResult,
    SpendThreshold,
    SpendTier,
    Stage,
    apply_promotions,
)
from fourflows.geo import Address

TAIPEI = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 11, 12, 0, tzinfo=TAIPEI)
WEB = PricingContext(at=AT, customer=Customer(id="c-1"))


def twd(amount: str | int) -> Money:
    return Money(amount, "TWD")


def usd(amount: str) -> Money:
    return Money(amount, "USD")


def product(sku: str, price: Money, *categories: str) -> Product:
    return Product(sku=sku, name=sku.title(), price=price, categories=categories)


TEE = product("TEE", twd(590), "tops")
CAP = product("CAP", twd(350), "accessories")
JACKET = product("JACKET", twd(1290), "tops")


def taiwan_cart() -> Cart:
    # 590 × 2 + 350 + 1290 = 1180 + 350 + 1290 = 2820 TWD
    return Cart("TWD").add(TEE, 2).add(CAP, 1).add(JACKET, 1)


def apply(cart: Cart, *promotions: Promotion, **kwargs: object) -> PromotionResult:
    return apply_promotions(cart, WEB, promotions, **kwargs)  # type: ignore[arg-type]


def nets(result: PromotionResult) -> list[list[Money]]:
    return [list(line.unit_nets) for line in result.lines]


class TestSpendThreshold:
    def test_spend_1000_get_100_is_allocated_to_lines_then_units(self) -> None:
        result = apply(taiwan_cart(), SpendThreshold(id="s1000", tiers=[(twd(1000), twd(100))]))
        assert result.subtotal == twd(2820)
        assert result.discount_total == twd(100)
        assert result.net_total == twd(2720)
        (adjustment,) = result.adjustments
        assert adjustment.reason == "Spend 1000 TWD, get 100 TWD off"
        assert adjustment.kind is PromotionKind.SPEND_THRESHOLD
        assert adjustment.stage is Stage.CART
        # In cents: 10000 × 1180/2820 = 4184.397, × 350/2820 = 1241.134,
        # × 1290/2820 = 4574.468; floors 4184 + 1241 + 4574 = 9999, the cent
        # left goes to the largest remainder (.468, the jacket).
        assert [(row.index, row.sku, row.amount) for row in adjustment.lines] == [
            (0, "TEE", twd("41.84")),
            (1, "CAP", twd("12.41")),
            (2, "JACKET", twd("45.75")),
        ]
        # The tee line's 41.84 splits evenly over its two units: 20.92 each.
        assert nets(result) == [
            [twd("569.08"), twd("569.08")],
            [twd("337.59")],
            [twd("1244.25")],
        ]

    def test_the_highest_tier_reached_applies(self) -> None:
        tiered = SpendThreshold(
            id="tiers", tiers=[(twd(1000), twd(100)), SpendTier(spend=twd(2000), off=twd(250))]
        )
        result = apply(taiwan_cart(), tiered)
        # 2820 ≥ 2000, so 250 off (not 100, not 350).
        assert result.discount_total == twd(250)
        assert result.adjustments[0].reason == "Spend 2000 TWD, get 250 TWD off"
        # 250 in cents over 1180/350/1290: 10460.99, 3102.83, 11436.17 → floors
        # leave 2 cents, for the two largest remainders (.99 tee, .83 cap).
        amounts = [row.amount for row in result.adjustments[0].lines]
        assert amounts == [twd("104.61"), twd("31.03"), twd("114.36")]

    def test_below_the_lowest_tier_nothing_happens(self) -> None:
        tiered = SpendThreshold(id="tiers", tiers=[(twd(1000), twd(100)), (twd(2000), twd(250))])
        result = apply(Cart("TWD").add(TEE, 1), tiered)  # 590 < 1000
        assert result.adjustments == ()
        assert result.net_total == twd(590)

    def test_every_300_off_30_repeats(self) -> None:
        result = apply(taiwan_cart(), SpendThreshold(id="r", every=twd(300), off=twd(30)))
        # 2820 // 300 = 9 times; 9 × 30 = 270.
        assert result.discount_total == twd(270)
        assert result.net_total == twd(2550)
        assert result.adjustments[0].reason == "Every 300 TWD spent, get 30 TWD off (9 times)"

    def test_max_times_caps_the_repeats(self) -> None:
        capped = SpendThreshold(id="r", every=twd(300), off=twd(30), max_times=5)
        assert apply(taiwan_cart(), capped).discount_total == twd(150)  # 5 × 30

    def test_a_percentage_tier(self) -> None:
        tier = SpendTier(spend=twd(2000), percent=5)
        result = apply(taiwan_cart(), SpendThreshold(id="pct", tiers=[tier]))
        # 5% of 2820 = 141.
        assert result.discount_total == twd(141)
        assert result.adjustments[0].reason == "Spend 2000 TWD, get 5% off"

    def test_it_is_measured_after_item_discounts(self) -> None:
        tops = PercentageOff(id="tops10", percent=10, categories={"tops"})
        every = SpendThreshold(id="r", every=twd(300), off=twd(30))
        result = apply(taiwan_cart(), every, tops)
        # Item stage first: 10% of the tops (1180 + 1290 = 2470) = 247.
        # Then 2820 - 247 = 2573; 2573 // 300 = 8; 8 × 30 = 240.
        assert [a.amount for a in result.adjustments] == [twd(247), twd(240)]
        assert result.net_total == twd(2820 - 247 - 240)

    def test_a_targeted_threshold_counts_only_its_lines(self) -> None:
        tops = SpendThreshold(id="tops", tiers=[(twd(2500), twd(200))], categories={"tops"})
        # Tops: 1180 + 1290 = 2470 < 2500, although the cart is 2820.
        assert apply(taiwan_cart(), tops).adjustments == ()


class TestBuyXGetY:
    def test_mixed_prices_free_the_cheapest_unit_of_each_group_of_three(self) -> None:
        cart = (
            Cart("TWD")
            .add(product("P500", twd(500)), 1)
            .add(product("P100", twd(100)), 2)
            .add(product("P300", twd(300)), 1)
            .add(product("P400", twd(400)), 1)
            .add(product("P200", twd(200)), 1)
        )
        result = apply(cart, BuyXGetY(id="b2g1", buy=2, get=1))
        # Units by price: 500 400 300 | 200 100 100 → free: 300 and one 100.
        assert result.discount_total == twd(400)
        (adjustment,) = result.adjustments
        assert [(row.sku, row.amount) for row in adjustment.lines] == [
            ("P100", twd(100)),
            ("P300", twd(300)),
        ]
        assert adjustment.reason == "Buy 2, get 1 free (2 units discounted)"
        # Of the two 100 units, the later one in the line is the free one.
        assert result.lines[1].unit_nets == (twd(100), twd(0))

    def test_an_incomplete_group_gets_nothing(self) -> None:
        cart = Cart("TWD").add(TEE, 2)
        assert apply(cart, BuyXGetY(id="b2g1", buy=2, get=1)).adjustments == ()

    def test_a_percentage_off_the_get_units_is_rounded_half_up(self) -> None:
        cart = Cart("USD").add(product("SOCK", usd("9.99")), 3)
        result = apply(cart, BuyXGetY(id="b1g1", buy=1, get=1, percent=50))
        # One complete group of 2: the second unit at 50% off: 4.995 → 5.00.
        assert result.discount_total == usd("5.00")
        assert result.lines[0].unit_nets == (usd("9.99"), usd("4.99"), usd("9.99"))

    def test_only_targeted_units_count_and_max_times_caps_groups(self) -> None:
        cart = taiwan_cart().add(product("SCARF", twd(200), "accessories"), 3)
        promotion = BuyXGetY(id="acc", buy=1, get=1, categories={"accessories"}, max_times=1)
        result = apply(cart, promotion)
        # Accessories: 350, 200, 200, 200 → one group allowed: (350, 200) → 200 free.
        assert result.discount_total == twd(200)
        assert {row.sku for row in result.adjustments[0].lines} == {"SCARF"}


class TestBundlePrice:
    A = product("A", twd(600))
    B = product("B", twd(500))

    def test_a_plus_b_for_999_once_per_complete_bundle(self) -> None:
        cart = Cart("TWD").add(self.A, 2).add(self.B, 1)
        result = apply(cart, BundlePrice(id="ab", items=["A", "B"], price=twd(999)))
        # One bundle: 600 + 500 = 1100 → 999, 101 off, split 600:500 in cents:
        # 5509.09 and 4590.91 → 5509 + 4590 = 10099, the last cent to B (.91).
        assert result.discount_total == twd(101)
        assert nets(result) == [[twd("544.91"), twd(600)], [twd("454.09")]]
        assert result.adjustments[0].reason == "Bundle A + B for 999 TWD (1 bundle)"

    def test_two_complete_bundles(self) -> None:
        cart = Cart("TWD").add(self.A, 2).add(self.B, 3)
        result = apply(cart, BundlePrice(id="ab", items={"A": 1, "B": 1}, price=twd(999)))
        assert result.discount_total == twd(202)  # 2 × (1100 - 999)

    def test_a_bundle_dearer_than_its_items_does_nothing(self) -> None:
        cart = Cart("TWD").add(self.A, 1).add(self.B, 1)
        assert (
            apply(cart, BundlePrice(id="ab", items=["A", "B"], price=twd(1200))).adjustments == ()
        )

    def test_a_multi_buy_of_one_sku(self) -> None:
        cart = Cart("TWD").add(TEE, 5)
        result = apply(cart, BundlePrice(id="3for1500", items={"TEE": 3}, price=twd(1500)))
        # 3 × 590 = 1770 → 1500: 270 off once; the other 2 units pay 590.
        assert result.discount_total == twd(270)
        assert result.adjustments[0].reason == "Bundle 3 × TEE for 1500 TWD (1 bundle)"


class TestFlashSale:
    SALE = FlashSale(
        id="1111",
        skus={"TEE"},
        price=twd(499),
        starts_at=datetime(2026, 11, 11, tzinfo=TAIPEI),
        ends_at=datetime(2026, 11, 12, tzinfo=TAIPEI),
        cap=100,
    )

    @pytest.mark.parametrize(
        "at",
        [datetime(2026, 11, 10, 23, 59, tzinfo=TAIPEI), datetime(2026, 11, 12, tzinfo=TAIPEI)],
        ids=["before", "at-the-end"],
    )
    def test_outside_its_window_the_normal_price_stands(self, at: datetime) -> None:
        result = apply_promotions(Cart("TWD").add(TEE, 1), PricingContext(at=at), [self.SALE])
        assert result.lines[0].unit_price == twd(590)
        assert result.adjustments == ()

    def test_inside_its_window_the_flash_price_is_the_unit_price(self) -> None:
        result = apply(Cart("TWD").add(TEE, 2), self.SALE)
        line = result.lines[0]
        assert (line.list_price, line.unit_price) == (twd(590), twd(499))
        # The markdown is an adjustment: 2 × (590 - 499) = 182.
        assert result.discount_total == twd(182)
        assert result.adjustments[0].stage is Stage.UNIT_PRICE
        assert result.adjustments[0].reason == "Flash sale: SKU TEE at 499 TWD (2 units)"

    def test_the_cap_splits_units_between_flash_and_normal_price(self) -> None:
        sold = FlashSaleSales(sold={"1111": 98})
        result = apply(Cart("TWD").add(TEE, 3), self.SALE, flash_sales=sold)
        # Cap 100, 98 sold: 2 units at 499, the third at 590.
        line = result.lines[0]
        assert line.unit_prices == (twd(499), twd(499), twd(590))
        assert line.net_total == twd(499 + 499 + 590)
        assert result.adjustments[0].reason.endswith("1 unit over the limit at full price")

    def test_a_sold_out_flash_sale_does_nothing(self) -> None:
        sold = FlashSaleSales(sold={"1111": 100})
        assert apply(Cart("TWD").add(TEE, 1), self.SALE, flash_sales=sold).adjustments == ()

    def test_per_order_limit(self) -> None:
        limited = FlashSale(
            id="one-each",
            skus="TEE",
            price=twd(499),
            starts_at=self.SALE.starts_at,
            ends_at=self.SALE.ends_at,
            per_order=1,
        )
        assert apply(Cart("TWD").add(TEE, 3), limited).discount_total == twd(91)

    def test_needs_a_window(self) -> None:
        with pytest.raises(InvalidInput, match="starts_at and ends_at"):
            FlashSale(id="f", skus={"TEE"}, price=twd(1))


class TestClearance:
    def test_a_percentage_markdown_flags_the_line(self) -> None:
        result = apply(taiwan_cart(), Clearance(id="clr", skus={"TEE"}, percent=30))
        tee = result.lines[0]
        # 30% of 590 = 177 → 413 a unit.
        assert tee.unit_price == twd(413)
        assert tee.clearance is True
        assert result.lines[1].clearance is False
        assert result.adjustments[0].reason == "Clearance: 30% off SKU TEE"

    def test_a_marked_down_price(self) -> None:
        result = apply(taiwan_cart(), Clearance(id="clr", categories="accessories", price=twd(299)))
        assert result.lines[1].unit_price == twd(299)
        assert result.discount_total == twd(51)

    def test_later_discounts_can_leave_clearance_out(self) -> None:
        clearance = Clearance(id="clr", skus={"TEE"}, price=twd(400))
        coupon = PercentageOff(id="all10", percent=10, exclude_clearance=True)
        result = apply(taiwan_cart(), clearance, coupon)
        # 10% of the cap and the jacket only: (350 + 1290) × 10% = 164.
        assert [a.amount for a in result.adjustments] == [twd(380), twd(164)]
        assert result.lines[0].unit_nets == (twd(400), twd(400))


class TestPercentageAndFixed:
    def test_a_cart_percentage_is_rounded_once_on_the_total(self) -> None:
        cart = (
            Cart("USD")
            .add(product("A", usd("3.33")), 1)
            .add(product("B", usd("3.33")), 1)
            .add(product("C", usd("3.33")), 1)
        )
        result = apply(cart, PercentageOff(id="ten", percent=10))
        # 10% of 9.99 = 0.999 → 1.00 (per line it would be 3 × 0.33 = 0.99),
        # allocated 0.34 + 0.33 + 0.33.
        assert result.discount_total == usd("1.00")
        assert [row.amount for row in result.adjustments[0].lines] == [
            usd("0.34"),
            usd("0.33"),
            usd("0.33"),
        ]
        assert result.adjustments[0].reason == "10% off the cart"
        assert result.adjustments[0].stage is Stage.CART

    def test_percentage_off_skus_is_an_item_discount(self) -> None:
        promotion = PercentageOff(id="caps", percent="12.5", skus={"CAP"})
        assert promotion.stage is Stage.ITEM
        result = apply(taiwan_cart(), promotion)
        assert result.discount_total == twd("43.75")  # 12.5% of 350
        assert result.adjustments[0].reason == "12.5% off SKU CAP"

    def test_fixed_per_unit_is_capped_at_the_unit_price(self) -> None:
        promotion = FixedAmountOff(id="600", amount=twd(600), per_unit=True, skus={"TEE", "CAP"})
        result = apply(taiwan_cart(), promotion)
        # Tee units 590 each and the cap 350: all free, 590 + 590 + 350 = 1530.
        assert result.discount_total == twd(1530)
        assert nets(result)[:2] == [[twd(0), twd(0)], [twd(0)]]

    def test_a_discount_never_takes_the_total_below_zero(self) -> None:
        big = FixedAmountOff(id="big", amount=twd(5000))
        result = apply(taiwan_cart(), big, PercentageOff(id="later", percent=10, priority=200))
        assert result.discount_total == twd(2820)
        assert result.net_total == twd(0)
        # Nothing was left for the later 10%, so it did not apply.
        assert [a.promotion_id for a in result.adjustments] == ["big"]


class TestStacking:
    def test_an_exclusive_promotion_blocks_every_later_one(self) -> None:
        exclusive = PercentageOff(id="vip", percent=10, skus={"TEE"}, exclusive=True)
        threshold = SpendThreshold(id="s", tiers=[(twd(1000), twd(100))])
        result = apply(taiwan_cart(), threshold, exclusive)
        assert [a.promotion_id for a in result.adjustments] == ["vip"]
        assert result.discount_total == twd(118)  # 10% of 1180
        (blocked,) = result.blocked
        assert (blocked.promotion_id, blocked.blocked_by) == ("s", "vip")

    def test_an_exclusive_promotion_is_blocked_if_one_applied_before(self) -> None:
        tee = PercentageOff(id="tee", percent=10, skus={"TEE"})
        exclusive = SpendThreshold(id="s", tiers=[(twd(1000), twd(100))], exclusive=True)
        result = apply(taiwan_cart(), exclusive, tee)
        assert [a.promotion_id for a in result.adjustments] == ["tee"]
        assert result.blocked[0].reason == "it is exclusive and 'tee' applied before it"

    def test_an_exclusive_promotion_that_is_not_eligible_blocks_nothing(self) -> None:
        app_only = PercentageOff(id="app", percent=50, exclusive=True, channels={Channel.APP})
        threshold = SpendThreshold(id="s", tiers=[(twd(1000), twd(100))])
        result = apply(taiwan_cart(), app_only, threshold)
        assert [a.promotion_id for a in result.adjustments] == ["s"]
        assert result.blocked == ()

    def test_a_group_keeps_only_its_first_applicable_promotion(self) -> None:
        first = PercentageOff(id="z-first", percent=10, group="sitewide", priority=1)
        second = FixedAmountOff(id="a-second", amount=twd(200), group="sitewide", priority=2)
        other = SpendThreshold(id="s", every=twd(1000), off=twd(10), group="other", priority=3)
        result = apply(taiwan_cart(), second, other, first)
        # 10% of 2820 = 282; then 2538 // 1000 = 2 → 20 off. The fixed 200 is blocked.
        assert [a.promotion_id for a in result.adjustments] == ["z-first", "s"]
        assert result.discount_total == twd(302)
        assert [(b.promotion_id, b.blocked_by) for b in result.blocked] == [("a-second", "z-first")]

    def test_equal_priorities_run_in_id_order(self) -> None:
        b = FixedAmountOff(id="b", amount=twd(100), group="g")
        a = FixedAmountOff(id="a", amount=twd(50), group="g")
        assert [x.promotion_id for x in apply(taiwan_cart(), b, a).adjustments] == ["a"]

    def test_stages_run_in_order_whatever_the_priority(self) -> None:
        cart_wide = PercentageOff(id="cart", percent=10, priority=1)
        flash = FlashSale(
            id="flash",
            skus={"JACKET"},
            price=twd(990),
            starts_at=AT - timedelta(hours=1),
            ends_at=AT + timedelta(hours=1),
            priority=99,
        )
        result = apply(taiwan_cart(), cart_wide, flash)
        # Flash first: 1290 → 990 (300 off); then 10% of 2520 = 252.
        assert [(a.promotion_id, a.amount) for a in result.adjustments] == [
            ("flash", twd(300)),
            ("cart", twd(252)),
        ]


class TestFreeShipping:
    def test_over_a_spend_after_discounts(self) -> None:
        free = FreeShippingPromotion(id="free1000", min_spend=twd(1000), services={"home"})
        result = apply(taiwan_cart(), free)
        (offer,) = result.free_shipping
        assert offer.reason == "Free shipping on orders of 1000 TWD or more"
        assert offer.offer().services == frozenset({"home"})
        assert offer.offer().max_fee is None
        assert (offer.promotion_id, offer.label) == ("free1000", "Free shipping")
        # 2820 - 1900 = 920 < 1000: no free shipping.
        cut = FixedAmountOff(id="cut", amount=twd(1900))
        assert apply(taiwan_cart(), free, cut).free_shipping == ()

    def test_by_destination(self) -> None:
        islands = FreeShippingPromotion(id="pen", countries={"tw"}, regions={"tw-pen"})
        penghu = Address(country="TW", region="TW-PEN")
        taipei = Address(country="TW", region="TW-TPE")
        assert apply(taiwan_cart(), islands, ship_to=penghu).free_shipping[0].promotion_id == "pen"
        assert apply(taiwan_cart(), islands, ship_to=taipei).free_shipping == ()
        assert apply(taiwan_cart(), islands).free_shipping == ()  # destination unknown

    def test_for_a_member_tier(self) -> None:
        gold = FreeShippingPromotion(
            id="gold", label="Gold perk", member_tiers={"gold"}, max_fee=twd(100)
        )
        member = PricingContext(at=AT, customer=Customer(id="c-9", tier="gold"))
        result = apply_promotions(taiwan_cart(), member, [gold])
        assert result.free_shipping[0].reason == "Free shipping for gold members (up to 100 TWD)"
        assert result.free_shipping[0].max_fee == twd(100)
        assert result.free_shipping[0].label == "Gold perk"
        assert apply(taiwan_cart(), gold).free_shipping == ()
        assert result.discount_total == twd(0)


class TestEligibility:
    def test_window_channel_tier_group_and_first_order(self) -> None:
        promotion = PercentageOff(
            id="p",
            percent=10,
            starts_at=AT - timedelta(days=1),
            ends_at=AT + timedelta(days=1),
            channels={"app", Channel.STORE},
            member_tiers={"gold"},
            customer_groups={"staff"},
            first_order_only=True,
        )
        ok = Customer(id="c", tier="gold", groups={"staff", "vip"}, first_order=True)
        assert promotion.is_eligible(PricingContext(at=AT, customer=ok, channel="app"))
        for customer, channel in [
            (ok, "web"),
            (Customer(id="c", tier="silver", groups={"staff"}, first_order=True), "app"),
            (Customer(id="c", tier="gold", groups={"vip"}, first_order=True), "app"),
            (Customer(id="c", tier="gold", groups={"staff"}), "app"),
        ]:
            context = PricingContext(at=AT, customer=customer, channel=channel)
            assert not promotion.is_eligible(context)
            assert apply_promotions(taiwan_cart(), context, [promotion]).adjustments == ()

    def test_the_window_is_compared_across_timezones(self) -> None:
        promotion = PercentageOff(id="p", percent=10, ends_at=datetime(2026, 11, 11, 4, tzinfo=UTC))
        # 12:00 in Taipei is 04:00 UTC: exactly the end, which is excluded.
        assert not promotion.is_eligible(WEB)


class TestBadInput:
    @pytest.mark.parametrize("percent", [-5, 0, 101, "abc", "NaN"])
    def test_percentages_outside_0_to_100_are_refused(self, percent: object) -> None:
        with pytest.raises(InvalidInput, match="percentage"):
            PercentageOff(id="p", percent=percent)

    def test_a_float_percentage_is_refused(self) -> None:
        with pytest.raises(FloatNotAllowed):
            PercentageOff(id="p", percent=10.0)

    @pytest.mark.parametrize("threshold", [twd(0), twd(-100)])
    def test_a_threshold_of_zero_or_less_is_refused(self, threshold: Money) -> None:
        with pytest.raises(InvalidInput, match="spend must be above 0"):
            SpendThreshold(id="s", tiers=[(threshold, twd(10))])
        with pytest.raises(InvalidInput, match="every must be above 0"):
            SpendThreshold(id="s", every=threshold, off=twd(10))

    def test_a_threshold_needs_tiers_or_every_and_off(self) -> None:
        with pytest.raises(InvalidInput, match="either tiers or every"):
            SpendThreshold(id="s")
        with pytest.raises(InvalidInput, match="both every and off"):
            SpendThreshold(id="s", every=twd(300))
        with pytest.raises(InvalidInput, match="two spend tiers start at 1000"):
            SpendThreshold(id="s", tiers=[(twd(1000), twd(10)), (twd(1000), twd(20))])

    def test_a_naive_datetime_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="timezone-aware"):
            PercentageOff(id="p", percent=10, starts_at=datetime(2026, 1, 1))

    def test_an_empty_window_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="must be after starts_at"):
            PercentageOff(id="p", percent=10, starts_at=AT, ends_at=AT)

    def test_a_promotion_in_another_currency_is_refused(self) -> None:
        with pytest.raises(CurrencyMismatch, match="USD"):
            apply(taiwan_cart(), FixedAmountOff(id="usd", amount=usd("5")))

    def test_mixed_currencies_within_a_promotion_are_refused(self) -> None:
        with pytest.raises(CurrencyMismatch):
            SpendThreshold(id="s", every=twd(300), off=usd("1"))

    def test_duplicate_promotion_ids_are_refused(self) -> None:
        with pytest.raises(InvalidInput, match="'p' appears twice"):
            apply(taiwan_cart(), PercentageOff(id="p", percent=5), PercentageOff(id="p", percent=9))

    @pytest.mark.parametrize(
        "make",
        [
            lambda: BuyXGetY(id="b", buy=0, get=1),
            lambda: BundlePrice(id="b", items=["A"], price=twd(1)),
            lambda: Clearance(id="c", skus={"A"}),
            lambda: Clearance(id="c", price=twd(1)),
            lambda: FixedAmountOff(id="f", amount=twd("0.001")),
            lambda: PercentageOff(id=" ", percent=1),
            lambda: SpendTier(spend=twd(1), off=twd(1), percent=1),
        ],
        ids=[
            "buy-0",
            "bundle-of-1",
            "clearance-no-price",
            "clearance-no-skus",
            "sub-cent",
            "id",
            "tier",
        ],
    )
    def test_other_malformed_promotions_are_refused(self, make) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(InvalidInput):
            make()

    def test_a_cart_price_below_the_minor_unit_is_refused(self) -> None:
        cart = Cart("TWD").add(TEE, 1, unit_price=twd("33.333"))
        with pytest.raises(InvalidInput, match=r"finer than the pricing precision 0\.01 TWD"):
            apply(cart)


def test_an_empty_cart_gives_zero_totals() -> None:
    result = apply(Cart("JPY"), PercentageOff(id="p", percent=10))
    assert (result.subtotal, result.discount_total, result.net_total) == (Money(0, "JPY"),) * 3
    assert result.lines == ()


def test_explain_lists_every_adjustment_and_the_totals() -> None:
    result = apply(taiwan_cart(), SpendThreshold(id="s1000", tiers=[(twd(1000), twd(100))]))
    assert result.explain() == (
        "Subtotal 2820 TWD\n"
        "  -100 TWD  Spend 1000 TWD, get 100 TWD off [s1000]\n"
        "Total 2720 TWD (saved 100 TWD)"
    )


def test_percent_is_kept_exact() -> None:
    assert PercentageOff(id="p", percent="7.5").percent == Decimal("7.5")


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"cart": "cart"}, "cart must be a Cart"),
        ({"context": AT}, "context must be a PricingContext"),
        ({"promotions": PercentageOff(id="p", percent=1)}, "sequence of Promotion"),
        ({"promotions": ["p"]}, "Promotion values"),
        ({"coupons": ["c"]}, "Coupon values"),
        ({"coupon_codes": [1]}, "coupon code must be a string"),
        ({"usage": {}}, "CouponUsage"),
        ({"flash_sales": {"f": 1}}, "FlashSaleSales"),
        ({"ship_to": "TW"}, "Address"),
    ],
)
def test_apply_promotions_checks_its_arguments(arguments: dict[str, object], match: str) -> None:
    call: dict[str, object] = {"cart": taiwan_cart(), "context": WEB, "promotions": (), **arguments}
    with pytest.raises(InvalidInput, match=match):
        apply_promotions(**call)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SpendThreshold(id="s", tiers=["1000"]), "SpendTier or a"),  # type: ignore[list-item]
        (lambda: SpendThreshold(id="s", tiers=[(twd(9), twd(1))], max_times=2), "max_times"),
        (lambda: FlashSaleSales(sold={"f": -1}), "units sold"),
        (lambda: FlashSaleSales(sold=[1]), "sold must map"),  # type: ignore[arg-type]
        (lambda: FreeShippingPromotion(id="f", countries={"XX"}), "unknown country"),
        (lambda: FreeShippingPromotion(id="f", min_spend=twd(1), max_fee=usd("1")), "cannot"),
        (lambda: BundlePrice(id="b", items={"A": 0, "B": 1}, price=twd(1)), "at least 1"),
    ],
)
def test_more_malformed_declarations(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=match):
        make()


def test_a_bundle_capped_by_max_times_and_a_flash_sale_for_other_skus() -> None:
    a, b = product("A", twd(600)), product("B", twd(500))
    cart = Cart("TWD").add(a, 3).add(b, 3)
    bundle = BundlePrice(id="ab", items=["A", "B"], price=twd(999), max_times=2)
    assert apply(cart, bundle).discount_total == twd(202)  # 2 bundles of 3
    window = {"starts_at": AT - timedelta(hours=1), "ends_at": AT + timedelta(hours=1)}
    other = FlashSale(id="f", skus={"Z"}, price=twd(1), **window)  # type: ignore[arg-type]
    assert apply(cart, other).adjustments == ()


def test_stage_ranks_follow_the_run_order() -> None:
    assert [stage.rank for stage in Stage] == [1, 2, 3, 4]
    assert [stage.value for stage in Stage] == ["unit_price", "item", "cart", "shipping"]
