"""Properties of customer notifications: exact amounts, one id per event, nothing leaked."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.cash.payment import PaymentFailed, PaymentRefunded
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import Order
from fourflows.commerce.pricing import price_cart
from fourflows.geo import Address
from fourflows.information.notifications import (
    LOCALES,
    NotificationKind,
    notification_id,
    payment_declined,
    refund_issued,
)
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
ORDER = Order.place(
    id="o-1",
    quote=price_cart(
        Cart("TWD").add(TEE, 2),
        context=PricingContext(at=AT, customer=Customer(id="c-1")),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        ship_to=Address(country="TW", city="Taipei", postal_code="106"),
        service="home",
    ),
    at=AT,
)
SHOWN = re.compile(r"\$([\d,]+(?:\.\d+)?)")
TOLD = {
    "declined",
    "insufficient_funds",
    "expired_card",
    "invalid_details",
    "authentication_failed",
}

cents = st.integers(min_value=1, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2))
locales = st.sampled_from(LOCALES)
ids = st.text(min_size=1, max_size=12)


def refund_of(amount: Decimal) -> PaymentRefunded:
    return PaymentRefunded(
        aggregate_id="pay-1",
        sequence=4,
        occurred_at=AT,
        order_id="o-1",
        refund_id="rf-1",
        amount=Money(amount, "TWD"),
        provider_ref=None,
        totals=None,  # type: ignore[arg-type]  # not read by the renderer
    )


@given(amount=cents, locale=locales)
def test_a_refund_is_shown_to_the_cent_it_was(amount: Decimal, locale: str) -> None:
    notice = refund_issued(refund_of(amount), ORDER, locale=locale)
    assert notice is not None
    assert notice.amount == Money(amount, "TWD")
    found = SHOWN.search(notice.body)
    assert found is not None
    # whole dollars are shown without cents, any cents are kept: the figure reads back exactly
    assert Decimal(found.group(1).replace(",", "")) == amount


@given(
    first=st.tuples(st.sampled_from(NotificationKind), ids, st.integers(1, 10**6)),
    second=st.tuples(st.sampled_from(NotificationKind), ids, st.integers(1, 10**6)),
)
def test_different_events_or_kinds_never_share_an_id(
    first: tuple[NotificationKind, str, int], second: tuple[NotificationKind, str, int]
) -> None:
    assume(first != second)

    def made(kind: NotificationKind, aggregate_id: str, sequence: int) -> str:
        event = PaymentFailed(
            aggregate_id=aggregate_id,
            sequence=sequence,
            occurred_at=AT,
            order_id="o-1",
            reason="declined",
        )
        return notification_id(event, kind)

    assert made(*first) != made(*second)
    assert made(*first) == made(*first)


@given(reason=st.text(min_size=1, max_size=60), sequence=st.integers(1, 100))
def test_a_decline_tells_the_same_id_in_every_locale_and_only_a_code_it_may_tell(
    reason: str, sequence: int
) -> None:
    event = PaymentFailed(
        aggregate_id="pay-1", sequence=sequence, occurred_at=AT, order_id="o-1", reason=reason
    )
    english = payment_declined(event, ORDER)
    chinese = payment_declined(event, ORDER, locale="zh_TW")
    assert english is not None
    assert chinese is not None
    assert english.id == chinese.id == f"payment_declined:pay-1:{sequence}"
    assert english.reason == chinese.reason
    assert english.reason in TOLD
    assert payment_declined(event, ORDER) == english  # pure: the same event, the same notice
