from datetime import datetime, timedelta, timezone

import pytest

from fourflows import CurrencyMismatch, InvalidInput, Money
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.coupons import (
    Coupon,
    CouponRejection,
    CouponRejectReason,
    CouponUsage,
)
from fourflows.commerce.promotions import (
    FixedAmountOff,
    PercentageOff,
    Promotion,
    PromotionResult,
    SpendThreshold,
    apply_promotions,
)

TAIPEI = timezone(timedelta(hours=8))
AT = datetime(2026, 4, 1, 10, 0, tzinfo=TAIPEI)
MEMBER = Customer(id="c-1")
WEB = PricingContext(at=AT, customer=MEMBER)


def twd(amount: str | int) -> Money:
    return Money(amount, "TWD")


TEE = Product(sku="TEE", name="Tee", price=twd(590), categories={"tops"})
CAP = Product(sku="CAP", name="Cap", price=twd(350))
JACKET = Product(sku="JACKET", name="Jacket", price=twd(1290), categories={"tops"})
CART = Cart("TWD").add(TEE, 2).add(CAP, 1).add(JACKET, 1)  # 2820 TWD

SPRING = PercentageOff(id="spring", percent=10, requires_coupon=True)
EVERY = SpendThreshold(id="every", every=twd(1000), off=twd(50))


def quote(
    *codes: str,
    coupons: tuple[Coupon, ...],
    promotions: tuple[Promotion, ...] = (SPRING, EVERY),
    usage: CouponUsage | None = None,
    context: PricingContext = WEB,
    cart: Cart = CART,
) -> PromotionResult:
    return apply_promotions(
        cart, context, promotions, coupon_codes=codes, coupons=coupons, usage=usage
    )


def rejection(result: PromotionResult) -> tuple[str, CouponRejectReason]:
    (only,) = result.rejected_coupons
    return only.code, only.reason_code


def test_a_valid_coupon_unlocks_its_promotion() -> None:
    result = quote(" spring10 ", coupons=(Coupon(code="SPRING10", promotion_id="spring"),))
    # Cart stage, by id: 'every' first: 2820 // 1000 = 2 → 100 off; then 10% of 2720 = 272.
    assert [(a.promotion_id, a.amount, a.coupon_code) for a in result.adjustments] == [
        ("every", twd(100), None),
        ("spring", twd(272), "SPRING10"),
    ]
    assert result.applied_coupons == ("SPRING10",)
    assert result.rejected_coupons == ()


def test_without_its_code_a_coupon_promotion_does_not_apply() -> None:
    result = quote(coupons=(Coupon(code="SPRING10", promotion_id="spring"),))
    assert [a.promotion_id for a in result.adjustments] == ["every"]


def test_an_unknown_code_is_rejected_and_the_rest_is_priced() -> None:
    result = quote("NOPE", coupons=())
    assert result.rejected_coupons == (
        CouponRejection(
            code="NOPE",
            reason_code=CouponRejectReason.UNKNOWN_CODE,
            message="Coupon code NOPE is not recognised",
        ),
    )
    assert result.discount_total == twd(100)  # 'every' still applies


def test_a_coupon_at_its_usage_limit_is_rejected_and_the_rest_is_priced() -> None:
    coupon = Coupon(code="FIRST100", promotion_id="spring", usage_limit=100)
    full = CouponUsage(uses={"first100": 100})
    result = quote("FIRST100", coupons=(coupon,), usage=full)
    assert rejection(result) == ("FIRST100", CouponRejectReason.USAGE_LIMIT_REACHED)
    assert (
        result.rejected_coupons[0].message == "Coupon FIRST100 has reached its usage limit of 100"
    )
    assert result.discount_total == twd(100)
    assert result.net_total == twd(2720)
    # One use fewer and it works.
    assert quote(
        "FIRST100", coupons=(coupon,), usage=CouponUsage(uses={"FIRST100": 99})
    ).applied_coupons == ("FIRST100",)


def test_the_per_customer_limit() -> None:
    coupon = Coupon(code="ONCE", promotion_id="spring", per_customer_limit=1)
    used = CouponUsage().record("ONCE", "c-1")
    result = quote("ONCE", coupons=(coupon,), usage=used)
    assert rejection(result) == ("ONCE", CouponRejectReason.PER_CUSTOMER_LIMIT_REACHED)
    # Another customer has not used it yet.
    other = PricingContext(at=AT, customer=Customer(id="c-2"))
    assert quote("ONCE", coupons=(coupon,), usage=used, context=other).applied_coupons == ("ONCE",)
    # A guest cannot be counted, so cannot use it.
    guest = PricingContext(at=AT)
    result = quote("ONCE", coupons=(coupon,), context=guest)
    assert rejection(result) == ("ONCE", CouponRejectReason.NOT_ELIGIBLE_CUSTOMER)


def test_below_the_minimum_spend() -> None:
    coupon = Coupon(code="BIG", promotion_id="spring", min_spend=twd(3000))
    result = quote("BIG", coupons=(coupon,))
    assert rejection(result) == ("BIG", CouponRejectReason.MIN_SPEND_NOT_MET)
    # Measured when the promotion runs, after 'every' took 100: 2720.
    assert result.rejected_coupons[0].message == (
        "Coupon BIG needs a minimum spend of 3000 TWD; the eligible amount is 2720 TWD"
    )
    assert result.discount_total == twd(100)


def test_the_minimum_spend_is_measured_after_earlier_discounts() -> None:
    coupon = Coupon(code="NEAR", promotion_id="spring", min_spend=twd(2800))
    # 2820 before, 2720 after 'every': not enough.
    assert rejection(quote("NEAR", coupons=(coupon,)))[1] is CouponRejectReason.MIN_SPEND_NOT_MET
    assert quote("NEAR", coupons=(coupon,), promotions=(SPRING,)).applied_coupons == ("NEAR",)


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        (datetime(2026, 2, 28, 23, 59, tzinfo=TAIPEI), CouponRejectReason.NOT_YET_VALID),
        (datetime(2026, 5, 1, tzinfo=TAIPEI), CouponRejectReason.EXPIRED),
    ],
)
def test_outside_its_window(at: datetime, reason: CouponRejectReason) -> None:
    coupon = Coupon(
        code="APRIL",
        promotion_id="spring",
        starts_at=datetime(2026, 3, 1, tzinfo=TAIPEI),
        ends_at=datetime(2026, 5, 1, tzinfo=TAIPEI),
    )
    result = quote("APRIL", coupons=(coupon,), context=PricingContext(at=at, customer=MEMBER))
    assert rejection(result) == ("APRIL", reason)


def test_when_the_promotion_behind_it_has_ended() -> None:
    ended = PercentageOff(id="spring", percent=10, requires_coupon=True, ends_at=AT)
    result = quote("S", coupons=(Coupon(code="S", promotion_id="spring"),), promotions=(ended,))
    assert rejection(result) == ("S", CouponRejectReason.EXPIRED)
    assert "expired at 2026-04-01T10:00:00+08:00" in result.rejected_coupons[0].message


def test_first_order_only() -> None:
    coupon = Coupon(code="WELCOME", promotion_id="spring", first_order_only=True)
    assert rejection(quote("WELCOME", coupons=(coupon,)))[1] is CouponRejectReason.FIRST_ORDER_ONLY
    newcomer = PricingContext(at=AT, customer=Customer(id="n", first_order=True))
    assert quote("WELCOME", coupons=(coupon,), context=newcomer).applied_coupons == ("WELCOME",)


def test_named_customers_and_channels() -> None:
    named = Coupon(code="FRIEND", promotion_id="spring", customer_ids={"c-7"})
    assert (
        rejection(quote("FRIEND", coupons=(named,)))[1] is CouponRejectReason.NOT_ELIGIBLE_CUSTOMER
    )
    in_app = Coupon(code="APP", promotion_id="spring", channels={"app"})
    assert rejection(quote("APP", coupons=(in_app,)))[1] is CouponRejectReason.NOT_ELIGIBLE_CHANNEL


def test_a_coupon_for_an_exclusive_promotion_cannot_be_combined() -> None:
    exclusive = PercentageOff(id="spring", percent=10, requires_coupon=True, exclusive=True)
    result = quote(
        "X", coupons=(Coupon(code="X", promotion_id="spring"),), promotions=(exclusive, EVERY)
    )
    assert rejection(result) == ("X", CouponRejectReason.NOT_COMBINABLE)
    assert (
        result.rejected_coupons[0].message == "Coupon X cannot be combined with promotion 'every'"
    )


def test_two_codes_for_one_promotion() -> None:
    coupons = (Coupon(code="A", promotion_id="spring"), Coupon(code="B", promotion_id="spring"))
    result = quote("a", "b", "A", "  ", coupons=coupons)
    assert result.applied_coupons == ("A",)
    assert rejection(result) == ("B", CouponRejectReason.NOT_COMBINABLE)


def test_a_coupon_that_finds_nothing_to_discount() -> None:
    jackets = FixedAmountOff(id="jk", amount=twd(100), skus={"JACKET"}, requires_coupon=True)
    coupon = Coupon(code="JK", promotion_id="jk")
    result = quote("JK", coupons=(coupon,), promotions=(jackets,), cart=Cart("TWD").add(TEE, 1))
    assert rejection(result) == ("JK", CouponRejectReason.NOT_APPLICABLE)


def test_coupon_configuration_errors_are_refused() -> None:
    with pytest.raises(InvalidInput, match="appears twice"):
        quote(
            coupons=(
                Coupon(code="A", promotion_id="spring"),
                Coupon(code="a", promotion_id="spring"),
            )
        )
    with pytest.raises(InvalidInput, match="not among the promotions"):
        quote(coupons=(Coupon(code="A", promotion_id="ghost"),))
    with pytest.raises(InvalidInput, match="requires_coupon=True"):
        quote(coupons=(Coupon(code="A", promotion_id="every"),))
    with pytest.raises(InvalidInput, match="sequence of codes"):
        apply_promotions(CART, WEB, [], coupon_codes="SPRING")
    with pytest.raises(InvalidInput, match="coupon code"):
        Coupon(code="", promotion_id="spring")
    with pytest.raises(InvalidInput, match="usage_limit"):
        Coupon(code="A", promotion_id="spring", usage_limit=-1)


def test_usage_snapshots() -> None:
    usage = CouponUsage(uses={"spring": 2}, customer_uses={("spring", "c-1"): 1})
    later = usage.record("Spring", "c-1").record("SPRING")
    assert (later.uses_of("spring"), later.uses_by("SPRING", "c-1")) == (4, 2)
    assert (usage.uses_of("SPRING"), usage.uses_by("SPRING", "c-2")) == (2, 0)
    with pytest.raises(InvalidInput, match="0 or more"):
        CouponUsage(uses={"A": -1})
    with pytest.raises(InvalidInput, match="pairs"):
        CouponUsage(customer_uses={"A": 1})  # type: ignore[dict-item]


def test_a_coupon_can_be_checked_before_pricing() -> None:
    coupon = Coupon(code="A", promotion_id="spring", usage_limit=1)
    assert coupon.rejection(WEB) is None
    found = coupon.rejection(WEB, CouponUsage(uses={"A": 1}))
    assert found is not None
    assert found.reason_code is CouponRejectReason.USAGE_LIMIT_REACHED


def test_a_coupon_minimum_in_another_currency_is_refused() -> None:
    coupon = Coupon(code="USD", promotion_id="spring", min_spend=Money("10", "USD"))
    with pytest.raises(CurrencyMismatch):
        quote("USD", coupons=(coupon,))
    with pytest.raises(InvalidInput, match="Coupon values"):
        quote(coupons=("SPRING",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="sequence of Coupon"):
        quote(coupons=Coupon(code="A", promotion_id="spring"))  # type: ignore[arg-type]
