"""Price a Taiwanese cart: a spend threshold, free shipping, tax inside the price, delivery dates.

Run it: ``python examples/pricing.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fourflows import (
    BusinessCalendar,
    Cart,
    Coupon,
    CouponUsage,
    Customer,
    FreeShippingPromotion,
    Money,
    Origin,
    PercentageOff,
    PricingContext,
    Product,
    ShippingTable,
    SpendThreshold,
    TaxTable,
    price_cart,
)
from fourflows.geo import Address


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def main() -> None:
    tee = Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3))
    socks = Product(sku="SOCK", name="Socks", price=twd("350"), weight_g=80, size_cm=(20, 10, 2))
    jacket = Product(sku="JKT", name="Jacket", price=twd("1290"), weight_g=900, size_cm=(40, 30, 8))
    cart = Cart("TWD").add(tee, 2).add(socks, 1).add(jacket, 1)

    promotions = [
        SpendThreshold(
            id="spend-1000",
            tiers=[(twd("1000"), twd("100")), (twd("3000"), twd("350"))],
            label="滿千折百",
        ),
        PercentageOff(id="vip-5", percent=5, requires_coupon=True, label="VIP 5% off"),
        FreeShippingPromotion(id="free-home", min_spend=twd("2000"), services={"home"}),
    ]
    coupons = [Coupon(code="VIP5", promotion_id="vip-5", usage_limit=500)]
    quote = price_cart(
        cart,
        context=PricingContext(
            at=datetime(2026, 11, 20, 4, 0, tzinfo=UTC), customer=Customer(id="c-1")
        ),
        tax=TaxTable.preset("TW"),
        promotions=promotions,
        coupons=coupons,
        coupon_codes=["VIP5"],
        usage=CouponUsage(uses={"VIP5": 500}),  # the coupon ran out: reported, not raised
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Magong", postal_code="880"),  # Penghu
        origin=Origin(
            id="taipei-dc", timezone="Asia/Taipei", cutoff="14:00", calendar=BusinessCalendar("TW")
        ),
    )
    print(quote.explain())
    print()
    print(quote.explain("zh_TW"))


if __name__ == "__main__":
    main()
