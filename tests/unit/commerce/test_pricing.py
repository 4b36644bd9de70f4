"""price_cart end to end, with figures worked out by hand."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from fourflows import InvalidInput, Money, Precision
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.coupons import Coupon, CouponUsage
from fourflows.commerce.pricing import QuoteDocument, price_cart
from fourflows.commerce.promotions import (
    BuyXGetY,
    FlashSale,
    FreeShippingPromotion,
    PercentageOff,
    SpendThreshold,
)
from fourflows.errors import NotEligible
from fourflows.geo import Address
from fourflows.logistics import shipping
from fourflows.logistics.packing import pack
from fourflows.logistics.promise import BusinessCalendar, Origin
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import PriceMode, TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


TEE = Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3))
SOCKS = Product(sku="SOCK", name="Socks", price=twd("350"), weight_g=80, size_cm=(20, 10, 2))
JACKET = Product(sku="JKT", name="Jacket", price=twd("1290"), weight_g=900, size_cm=(40, 30, 8))
CART = Cart("TWD").add(TEE, 2).add(SOCKS, 1).add(JACKET, 1)  # 1180 + 350 + 1290 = 2820
FRIDAY_NOON_TAIPEI = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Taipei
CONTEXT = PricingContext(at=FRIDAY_NOON_TAIPEI, customer=Customer(id="c-1"))
TW = TaxTable.preset("TW")
TABLE = ShippingTable.example_taiwan()
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")
PENGHU = Address(country="TW", city="Magong", postal_code="880")
SPEND_1000 = SpendThreshold(id="spend-1000", tiers=[(twd("1000"), twd("100"))])
WAREHOUSE = Origin(
    id="tpe", timezone="Asia/Taipei", cutoff="14:00", calendar=BusinessCalendar("TW")
)


class TestTaiwan:
    def test_tax_inclusive_prices_with_a_spend_threshold(self) -> None:
        quote = price_cart(CART, context=CONTEXT, tax=TW, promotions=[SPEND_1000])
        # 2820 reaches 1000: 100 off, spread by line value (largest remainder):
        # 1180/2820 × 100 = 41.84, 350/2820 × 100 = 12.41, 1290/2820 × 100 = 45.74(5) → 45.75
        assert [line.discount for line in quote.lines] == [twd("41.84"), twd("12.41"), twd("45.75")]
        assert quote.goods_total == twd("2720")
        # Tax is inside the price: 2720 × 5/105 = 129.52 → 130 whole dollars; net 2590
        assert (quote.tax_total, quote.tax.net, quote.total) == (
            twd("130"),
            twd("2590"),
            twd("2720"),
        )
        assert quote.mode is PriceMode.INCLUSIVE
        assert quote.shipping is None
        assert sum((line.tax for line in quote.lines), twd("0")) == twd("130")

    def test_whole_dollar_pricing(self) -> None:
        quote = price_cart(
            CART, context=CONTEXT, tax=TW, promotions=[SPEND_1000], precision=Precision.of(0)
        )
        # 100 in whole dollars by line value: floors 41 + 12 + 45 = 98; the two dollars
        # left go to the largest remainders, .84 (T-shirts) and .74 (jacket)
        assert [line.discount for line in quote.lines] == [twd("42"), twd("12"), twd("46")]
        assert quote.lines[0].unit_amounts == (twd("569"), twd("569"))
        assert "NT$1,138" in quote.explain()
        assert "NT$1,138.00" not in quote.explain()

    def test_prices_finer_than_the_pricing_precision_are_refused(self) -> None:
        odd = Cart("TWD").add(TEE, 1, unit_price=twd("589.50"))
        with pytest.raises(InvalidInput, match=r"589\.50 TWD of 'TEE-M' is finer"):
            price_cart(odd, context=CONTEXT, tax=TW, precision=Precision.of(0))
        with pytest.raises(InvalidInput, match="no finer than TWD's minor unit"):
            price_cart(CART, context=CONTEXT, tax=TW, precision=Precision.of(3))

    def test_each_unit_knows_what_it_paid_and_its_tax(self) -> None:
        quote = price_cart(CART, context=CONTEXT, tax=TW, promotions=[SPEND_1000])
        tee = quote.lines[0]
        assert tee.unit_amounts == (twd("569.08"), twd("569.08"))  # 1138.16 / 2
        assert sum(tee.unit_taxes, twd("0")) == tee.tax
        for line in quote.lines:
            assert sum(line.unit_amounts, twd("0")) == line.amount
            assert line.net + line.tax == line.gross == line.amount

    def test_outlying_island_shipping_with_free_shipping_and_promises(self) -> None:
        free_home = FreeShippingPromotion(id="free-home", min_spend=twd("2000"), services={"home"})
        quote = price_cart(
            CART,
            context=CONTEXT,
            tax=TW,
            promotions=[SPEND_1000, free_home],
            shipping=TABLE,
            ship_to=PENGHU,
            origin=WAREHOUSE,
        )
        assert quote.shipping is not None
        home = quote.shipping.option
        # home delivery: base 150 + remote-area surcharge 100, all waived by the offer
        assert (home.service_id, home.fee) == ("home", twd("0"))
        assert home.amount("remote_area") == twd("100")
        assert home.amount("free_shipping") == twd("-250")
        assert [c.option.service_id for c in quote.shipping_options] == ["home", "cvs", "post"]
        assert {refusal.key for refusal in quote.ineligible_shipping} == {"store", "rider"}
        # Ordered Friday 12:00 before the 14:00 cut-off: ships Friday; 3-5 business days,
        # plus one day of buffer: Wednesday 25th to Monday 30th.
        promise = quote.shipping.promise
        assert promise is not None
        assert (promise.earliest.isoformat(), promise.latest.isoformat()) == (
            "2026-11-25",
            "2026-11-30",
        )
        assert quote.total == twd("2720")

    def test_each_service_gets_the_free_shipping_won_that_waives_the_most(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        free_home = FreeShippingPromotion(id="free-home", min_spend=twd("2000"), services={"home"})
        up_to_60 = FreeShippingPromotion(
            id="ship-60", label="NT$60 off shipping", max_fee=twd("60")
        )
        packed: list[str] = []

        def counting(items: object, limits: object = None, **options: object) -> object:
            packed.append(str(limits))
            return pack(items, limits, **options)  # type: ignore[arg-type]

        monkeypatch.setattr(shipping, "pack", counting)
        quote = price_cart(
            CART,
            context=CONTEXT,
            tax=TW,
            promotions=[up_to_60, free_home],
            shipping=TABLE,
            ship_to=PENGHU,
        )
        assert [won.promotion_id for won in quote.promotions.free_shipping] == [
            "free-home",
            "ship-60",
        ]
        options = {c.option.service_id: c.option for c in quote.shipping_options}
        # Home 150 + 100 remote = 250: free-home waives it all, ship-60 only 60.
        # Convenience store 60 - 60 = 0; post (1.38 kg → 2 kg tier) 120 - 60 = 60.
        assert {sid: o.fee for sid, o in options.items()} == {
            "cvs": twd("0"),
            "home": twd("0"),
            "post": twd("60"),
        }
        assert [(p.promotion_id, p.amount) for p in options["home"].breakdown[-1:]] == [
            ("free-home", twd("-250"))
        ]
        assert options["post"].breakdown[-1].label == "NT$60 off shipping"
        # Both free at 0: the convenience store takes at most 3 days to Penghu, home 5.
        assert [c.option.service_id for c in quote.shipping_options] == ["cvs", "home", "post"]
        # One packing per service that serves Penghu (home, post, cvs), not one per offer.
        assert len(packed) == 3

    def test_a_service_free_shipping_brings_under_the_cod_cap_is_offered_not_refused(
        self,
    ) -> None:
        tv = Product(sku="TV", name="Television", price=twd("19900"), weight_g=200)
        free_home = FreeShippingPromotion(id="free-home", services={"home"})
        cart = Cart("TWD").add(tv, 1)
        without = price_cart(
            cart, context=CONTEXT, tax=TW, shipping=TABLE, ship_to=TAIPEI, cod=True
        )
        # 19,900 + 100 home delivery + 30 COD fee = 20,030, over the 20,000 COD cap.
        assert "home" in {refusal.key for refusal in without.ineligible_shipping}
        quote = price_cart(
            cart,
            context=CONTEXT,
            tax=TW,
            promotions=[free_home],
            shipping=TABLE,
            ship_to=TAIPEI,
            cod=True,
        )
        home = next(c.option for c in quote.shipping_options if c.option.service_id == "home")
        assert (home.fee, home.cod_amount) == (twd("0"), twd("19900"))
        assert "home" not in {refusal.key for refusal in quote.ineligible_shipping}

    def test_a_shipping_fee_is_taxed_and_paid(self) -> None:
        quote = price_cart(
            Cart("TWD").add(SOCKS, 1), context=CONTEXT, tax=TW, shipping=TABLE, ship_to=TAIPEI
        )
        assert quote.shipping is not None
        fee = quote.shipping_fee
        assert quote.total == twd("350") + fee
        assert quote.tax.shipping is not None
        assert quote.tax.shipping.gross == fee

    def test_a_chosen_service_that_cannot_carry_the_cart_says_why(self) -> None:
        with pytest.raises(NotEligible, match="rider"):
            price_cart(
                CART, context=CONTEXT, tax=TW, shipping=TABLE, ship_to=PENGHU, service="rider"
            )
        with pytest.raises(InvalidInput, match="unknown shipping service 'drone'"):
            price_cart(
                CART, context=CONTEXT, tax=TW, shipping=TABLE, ship_to=PENGHU, service="drone"
            )
        chosen = price_cart(
            CART, context=CONTEXT, tax=TW, shipping=TABLE, ship_to=PENGHU, service="post"
        )
        assert chosen.shipping is not None
        assert chosen.shipping.option.service_id == "post"

    def test_explain_in_english_and_traditional_chinese(self) -> None:
        quote = price_cart(
            CART, context=CONTEXT, tax=TW, promotions=[SPEND_1000], shipping=TABLE, ship_to=TAIPEI
        )
        english = quote.explain()
        assert "Spend 1000 TWD, get 100 TWD off [spend-1000]" in english
        assert "Total to pay" in english
        chinese = quote.explain("zh_TW")
        assert "應付總額" in chinese
        assert "稅額" in chinese
        with pytest.raises(InvalidInput, match="'fr'"):
            quote.explain("fr")  # type: ignore[arg-type]


class TestEurope:
    def test_tax_exclusive_b2b_across_borders_is_reverse_charged(self) -> None:
        lamp = Product(sku="LAMP", name="Desk lamp", price=Money("80", "EUR"))
        book = Product(sku="BOOK", name="Book", price=Money("20", "EUR"), tax_category="reduced")
        cart = Cart("EUR").add(lamp, 2).add(book, 1)
        de = TaxTable.preset("DE").with_mode("exclusive")
        b2c = price_cart(
            cart, context=CONTEXT, tax=de, ship_to=Address(country="DE", postal_code="10115")
        )
        # 160 × 19% = 30.40, 20 × 7% = 1.40
        assert (b2c.tax_total, b2c.total) == (Money("31.80", "EUR"), Money("211.80", "EUR"))
        b2b = price_cart(
            cart, context=CONTEXT, tax=de, ship_to=Address(country="FR", vat_id="FR40303265045")
        )
        assert (b2b.tax_total, b2b.total) == (Money("0", "EUR"), Money("180", "EUR"))
        assert any("everse charge" in note for note in b2b.tax.notes)


class TestPromotionsInQuotes:
    def test_buy_two_get_one_with_mixed_prices(self) -> None:
        cheap = Product(sku="MUG-S", name="Small mug", price=twd("200"), categories={"mugs"})
        dear = Product(sku="MUG-L", name="Large mug", price=twd("300"), categories={"mugs"})
        cart = Cart("TWD").add(dear, 2).add(cheap, 1)
        offer = BuyXGetY(id="b2g1", buy=2, get=1, categories={"mugs"})
        quote = price_cart(cart, context=CONTEXT, tax=TW, promotions=[offer])
        # units 300, 300, 200 form one group; the cheapest (200) is free
        assert quote.discount_total == twd("200")
        assert quote.total == twd("600")

    def test_a_coupon_at_its_usage_limit_is_reported_and_the_rest_still_prices(self) -> None:
        tenoff = PercentageOff(id="ten-off", percent=10, requires_coupon=True)
        coupon = Coupon(code="HELLO10", promotion_id="ten-off", usage_limit=100)
        usage = CouponUsage(uses={"HELLO10": 100})
        quote = price_cart(
            CART,
            context=CONTEXT,
            tax=TW,
            promotions=[tenoff, SPEND_1000],
            coupons=[coupon],
            coupon_codes=["hello10"],
            usage=usage,
        )
        (rejection,) = quote.rejected_coupons
        assert rejection.code == "HELLO10"
        assert "limit" in rejection.message
        assert quote.discount_total == twd("100")  # only the spend threshold applied
        assert "HELLO10" in quote.explain()
        ok = price_cart(
            CART,
            context=CONTEXT,
            tax=TW,
            promotions=[tenoff],
            coupons=[coupon],
            coupon_codes=["HELLO10"],
            usage=CouponUsage(uses={"HELLO10": 99}),
        )
        assert ok.discount_total == twd("282")  # 10% of 2820

    @pytest.mark.parametrize(
        ("hours", "tee_price"),
        [(-1, "590"), (0, "490"), (2, "490"), (3, "590")],
        ids=["before", "at-start", "inside", "after"],
    )
    def test_a_flash_sale_only_inside_its_window(self, hours: int, tee_price: str) -> None:
        start = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
        sale = FlashSale(
            id="double-11",
            skus={"TEE-M"},
            price=twd("490"),
            starts_at=start,
            ends_at=start + timedelta(hours=3),
        )
        context = PricingContext(at=start + timedelta(hours=hours))
        quote = price_cart(Cart("TWD").add(TEE, 1), context=context, tax=TW, promotions=[sale])
        assert quote.total == twd(tee_price)


class TestJson:
    def test_the_quote_serialises_through_pydantic(self) -> None:
        quote = price_cart(
            CART,
            context=CONTEXT,
            tax=TW,
            promotions=[SPEND_1000],
            shipping=TABLE,
            ship_to=TAIPEI,
            origin=WAREHOUSE,
        )
        data = quote.to_json()
        text = json.dumps(data)
        assert data["total"] == {"amount": "2720.00", "currency": "TWD"}
        assert data["shipping"]["service_id"] == "store"  # in-store pickup is free: cheapest
        assert data["lines"][0]["discount"] == {"amount": "41.84", "currency": "TWD"}
        assert data["adjustments"][0]["lines"]["line-0001"]["amount"] == "41.84"
        assert data["shipping"]["earliest"] is not None
        again = QuoteDocument.model_validate_json(text)
        assert again.total == quote.total
        assert Decimal(data["tax_breakdown"][0]["rate"]) == Decimal(5)
        assert "properties" in QuoteDocument.model_json_schema()


class TestBadInput:
    def test_an_empty_cart(self) -> None:
        with pytest.raises(InvalidInput, match="empty cart"):
            price_cart(Cart("TWD"), context=CONTEXT, tax=TW)

    def test_not_a_cart(self) -> None:
        with pytest.raises(InvalidInput, match="Cart"):
            price_cart([TEE], context=CONTEXT, tax=TW)  # type: ignore[arg-type]

    def test_a_service_without_a_table(self) -> None:
        with pytest.raises(InvalidInput, match="shipping table and ship_to"):
            price_cart(CART, context=CONTEXT, tax=TW, service="home")
