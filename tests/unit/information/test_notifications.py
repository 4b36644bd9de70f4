"""Rendering customer notifications from events, in English and Traditional Chinese.

Figures: two T-shirts at 590 make 1180 (prices include 5% TW tax); home delivery in
Taipei costs 100, so the order is 1180 + 100 = 1280. Cash on delivery adds a 30 fee to
the shipping: 1180 + 100 + 30 = 1310.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from fourflows import CurrencyMismatch, InvalidInput, Money
from fourflows.cash.payment import PaymentFailed, PaymentFundsAwaited, PaymentRefunded
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import (
    Order,
    OrderCanceled,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
    PaymentFigures,
    PaymentPlan,
)
from fourflows.commerce.pricing import price_cart
from fourflows.geo import Address
from fourflows.information.notifications import (
    TAIWAN_TIME,
    NotificationKind,
    notification_id,
    order_canceled,
    order_confirmed,
    order_delivered,
    order_shipped,
    payment_declined,
    refund_issued,
    transfer_instructions,
)
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Taipei
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def placed(customer: str | None = "c-1", *, cod: bool = False) -> Order:
    quote = price_cart(
        Cart("TWD").add(TEE, 2),
        context=PricingContext(at=AT, customer=Customer(id=customer)),
        tax=TaxTable.preset("TW"),
        shipping=ShippingTable.example_taiwan(),
        ship_to=TAIPEI,
        service="home",
        cod=cod,
    )
    plan = PaymentPlan.CASH_ON_DELIVERY if cod else PaymentPlan.PREPAID
    return Order.place(id="o-1", quote=quote, at=AT, payment_plan=plan)


def placed_event(order: Order) -> OrderPlaced:
    (event,) = order.collect_events()
    assert isinstance(event, OrderPlaced)
    return event


def failed(
    reason: str = "insufficient_funds: Not enough money", order_id: str = "o-1"
) -> PaymentFailed:
    return PaymentFailed(
        aggregate_id="pay-1", sequence=2, occurred_at=AT, order_id=order_id, reason=reason
    )


def awaited() -> PaymentFundsAwaited:
    return PaymentFundsAwaited(
        aggregate_id="pay-1",
        sequence=2,
        occurred_at=AT,
        order_id="o-1",
        virtual_account="9981234567890123",
        deadline=AT + timedelta(days=3),
    )


def refunded(amount: Money) -> PaymentRefunded:
    totals = None  # the renderer reads only the amount; totals are the payment's business
    return PaymentRefunded(
        aggregate_id="pay-1",
        sequence=5,
        occurred_at=AT,
        order_id="o-1",
        refund_id="rf-1",
        amount=amount,
        provider_ref="gw-rf-1",
        totals=totals,  # type: ignore[arg-type]
    )


def shipped_and_delivered(order: Order) -> tuple[OrderShipped, OrderDelivered]:
    order.mark_paid(PaymentFigures.of("TWD", authorized="1280"), at=AT)
    order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
    order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
    order.record_delivery("s-1", at=AT + timedelta(days=1))
    events = order.collect_events()
    shipped = [e for e in events if isinstance(e, OrderShipped)]
    delivered = [e for e in events if isinstance(e, OrderDelivered)]
    return shipped[0], delivered[0]


# --- order confirmed ---------------------------------------------------------------------------


def test_order_confirmed_lists_the_lines_and_the_total_in_english() -> None:
    order = placed()
    notice = order_confirmed(placed_event(order))
    assert notice is not None
    assert (notice.id, notice.kind, notice.customer_id, notice.order_id) == (
        "order_confirmed:o-1:1",
        NotificationKind.ORDER_CONFIRMED,
        "c-1",
        "o-1",
    )
    assert notice.subject == "We received your order o-1"
    # 2 × 590 = 1180 on the line; 1180 + 100 shipping = 1280 in all, in whole dollars
    assert "- 2 × T-shirt: NT$1,180\nTotal: NT$1,280" in notice.body
    assert "cash on delivery" not in notice.body
    assert notice.amount == twd("1280")
    assert notice.items == (("T-shirt", 2),)
    assert notice.occurred_at == AT


def test_order_confirmed_in_traditional_chinese() -> None:
    notice = order_confirmed(placed_event(placed()), locale="zh_TW")
    assert notice is not None
    assert notice.subject == "訂單成立通知：o-1"
    assert "・T-shirt × 2　$1,180\n訂單金額：$1,280" in notice.body
    assert notice.locale == "zh_TW"


def test_a_cash_on_delivery_order_asks_to_have_the_cash_ready() -> None:
    event = placed_event(placed(cod=True))
    # 1180 + 100 home delivery + 30 cash-on-delivery fee = 1310
    english = order_confirmed(event)
    chinese = order_confirmed(event, locale="zh_TW")
    assert english is not None
    assert chinese is not None
    assert "You pay NT$1,310 in cash on delivery." in english.body
    assert "本訂單為貨到付款，收貨時請準備 $1,310。" in chinese.body


# --- guests ------------------------------------------------------------------------------------


def test_a_guest_is_told_nothing() -> None:
    order = placed(customer=None)
    event = placed_event(order)
    assert event.customer_id is None
    assert order_confirmed(event) is None
    assert payment_declined(failed(), order) is None
    assert transfer_instructions(awaited(), order, locale="zh_TW") is None
    assert refund_issued(refunded(twd("250")), order) is None
    canceled = OrderCanceled(
        aggregate_id="o-1",
        sequence=2,
        occurred_at=AT,
        reason="customer asked",
        to_void=twd("0"),
        to_refund=twd("0"),
        release_stock=False,
        units_to_release=(),
        dropped_change=None,
    )
    assert order_canceled(canceled, order) is None
    shipped, delivered = shipped_and_delivered(order)
    assert order_shipped(shipped, order) is None
    assert order_delivered(delivered, order) is None


# --- payment declined --------------------------------------------------------------------------


def test_a_decline_names_a_reason_the_customer_can_act_on() -> None:
    order = placed()
    notice = payment_declined(failed(), order)
    assert notice is not None
    assert notice.id == "payment_declined:pay-1:2"
    assert notice.subject == "Payment for order o-1 was declined"
    assert "(NT$1,280): the card has not enough funds or credit left." in notice.body
    assert "another card or payment method" in notice.body
    assert notice.reason == "insufficient_funds"
    chinese = payment_declined(failed(), order, locale="zh_TW")
    assert chinese is not None
    assert "付款未成功：卡片餘額或信用額度不足。" in chinese.body
    assert "請改用其他信用卡或付款方式完成付款" in chinese.body


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("suspected_fraud: risk rules", "declined"),
        ("processing_error", "declined"),
        ("the issuer said no", "declined"),
        ("expired_card: card expired", "expired_card"),
    ],
)
def test_other_declines_read_as_declined_and_fraud_is_never_told(reason: str, code: str) -> None:
    notice = payment_declined(failed(reason), placed())
    assert notice is not None
    assert notice.reason == code
    assert "fraud" not in notice.body
    assert "risk" not in notice.body
    if code == "declined":
        assert "your bank or payment provider declined it" in notice.body


def test_a_decline_needs_the_order_it_is_about() -> None:
    with pytest.raises(InvalidInput, match="'o-2'"):
        payment_declined(failed(order_id="o-2"), placed())
    with pytest.raises(InvalidInput, match="Order"):
        payment_declined(failed(), "o-1")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="PaymentFailed"):
        payment_declined(awaited(), placed())  # type: ignore[arg-type]


# --- bank transfer -----------------------------------------------------------------------------


def test_transfer_instructions_give_the_account_the_amount_and_the_deadline_in_taiwan_time() -> (
    None
):
    order = placed()
    notice = transfer_instructions(awaited(), order, locale="zh_TW")
    assert notice is not None
    assert notice.id == "transfer_instructions:pay-1:2"
    # the deadline 2026-11-23 04:00 UTC is 12:00 in Taipei (UTC+8)
    assert "請於 2026/11/23 12:00（GMT+8）前，將 $1,280 轉入以下虛擬帳號" in notice.body
    assert "虛擬帳號：9981234567890123\n繳費金額：$1,280" in notice.body
    assert (notice.virtual_account, notice.deadline, notice.amount) == (
        "9981234567890123",
        AT + timedelta(days=3),
        twd("1280"),
    )


def test_english_transfer_deadlines_are_in_utc_unless_told_otherwise() -> None:
    order = placed()
    utc = transfer_instructions(awaited(), order)
    taipei = transfer_instructions(awaited(), order, tz=TAIWAN_TIME)
    assert utc is not None
    assert taipei is not None
    assert "Please transfer NT$1,280 to this virtual account by 2026-11-23 04:00 UTC" in utc.body
    assert "by 2026-11-23 12:00 GMT+8" in taipei.body
    japan = transfer_instructions(awaited(), order, tz=timezone(timedelta(hours=9), "JST"))
    assert japan is not None
    assert "by 2026-11-23 13:00 JST" in japan.body


def test_the_transfer_amount_can_be_given_and_is_checked() -> None:
    order = placed()
    notice = transfer_instructions(awaited(), order, amount=twd("1000"))
    assert notice is not None
    assert "Amount: NT$1,000" in notice.body
    with pytest.raises(CurrencyMismatch):
        transfer_instructions(awaited(), order, amount=Money("10", "USD"))
    with pytest.raises(InvalidInput, match="positive"):
        transfer_instructions(awaited(), order, amount=twd("0"))
    with pytest.raises(InvalidInput, match="tzinfo"):
        transfer_instructions(awaited(), order, tz="Asia/Taipei")  # type: ignore[arg-type]


# --- canceled, refunded, shipped, delivered ----------------------------------------------------


def test_a_cancellation_does_not_show_the_shops_own_reason() -> None:
    order = placed()
    order.collect_events()
    order.cancel(reason="InsufficientStock: TEE-M 0 left", figures=PaymentFigures.of("TWD"), at=AT)
    (event,) = order.collect_events()
    assert isinstance(event, OrderCanceled)
    notice = order_canceled(event, order, locale="zh_TW")
    assert notice is not None
    assert (notice.id, notice.subject) == ("order_canceled:o-1:2", "訂單 o-1 已取消")
    assert "InsufficientStock" not in notice.body
    assert "退款完成時會再通知您" in notice.body


def test_a_refund_notice_shows_the_exact_amount() -> None:
    order = placed()
    notice = refund_issued(refunded(twd("250")), order)
    assert notice is not None
    assert notice.subject == "Refund of NT$250 for order o-1"
    assert notice.amount == twd("250")
    # an amount with cents is shown with its cents, never rounded to the cash precision
    cents = refund_issued(refunded(twd("250.50")), order, locale="zh_TW")
    assert cents is not None
    assert "訂單 o-1 的退款 $250.50 已退回您的原付款方式" in cents.body


def test_shipped_and_delivered_notices_list_what_the_parcel_holds() -> None:
    order = placed()
    order.collect_events()
    shipped, delivered = shipped_and_delivered(order)
    sent = order_shipped(shipped, order)
    assert sent is not None
    assert sent.id == f"order_shipped:o-1:{shipped.sequence}"
    assert "Your order o-1 is on its way (shipment s-1):\n\n- 2 × T-shirt" in sent.body
    assert (sent.shipment_id, sent.items) == ("s-1", (("T-shirt", 2),))
    arrived = order_delivered(delivered, order, locale="zh_TW")
    assert arrived is not None
    assert arrived.subject == "訂單 o-1 已送達"
    assert "・T-shirt × 2" in arrived.body
    assert "七天鑑賞期" in arrived.body  # the 7-day right to return an online purchase


# --- ids and the value -------------------------------------------------------------------------


def test_the_id_comes_from_the_event_whatever_the_locale_or_wording() -> None:
    order = placed()
    english = payment_declined(failed(), order)
    chinese = payment_declined(failed(), order, locale="zh_TW")
    assert english is not None
    assert chinese is not None
    assert english.id == chinese.id == notification_id(failed(), NotificationKind.PAYMENT_DECLINED)
    later = attrs.evolve(failed(), sequence=3)
    assert notification_id(later, "payment_declined") == "payment_declined:pay-1:3"


def test_bad_values_are_refused() -> None:
    notice = order_confirmed(placed_event(placed()))
    assert notice is not None
    with pytest.raises(InvalidInput, match="zh_TW"):
        order_confirmed(placed_event(placed()), locale="fr")
    with pytest.raises(InvalidInput, match="order_shipped"):
        notification_id(failed(), "sms")
    with pytest.raises(InvalidInput, match="DomainEvent"):
        notification_id("payment-1", NotificationKind.PAYMENT_DECLINED)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="timezone-aware"):
        attrs.evolve(notice, occurred_at=datetime(2026, 11, 20))
    with pytest.raises(InvalidInput, match="subject"):
        attrs.evolve(notice, subject=" ")
    with pytest.raises(InvalidInput, match="amount"):
        attrs.evolve(notice, amount="1280")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="quantity"):
        attrs.evolve(notice, items=(("T-shirt", 0),))
    assert attrs.evolve(notice, kind="refund_issued").kind is NotificationKind.REFUND_ISSUED
