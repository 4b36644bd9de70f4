"""Customers told through the message bus: the checkout's events reach the notifier once.

Figures: two T-shirts at 590 make 1180 (prices include 5% TW tax); home delivery in
Taipei costs 100, so an order is 1180 + 100 = 1280.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fourflows import Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, RecordingNotifier, SequentialIds
from fourflows.adapters.memory import MemoryStore, RecordingPublisher
from fourflows.app.bootstrap import COMMAND_HANDLERS
from fourflows.app.checkout import POLICIES, CancelOrder, CapturePayment, Checkout, PlaceOrder
from fourflows.app.handlers import Context
from fourflows.app.messagebus import MessageBus
from fourflows.app.notify import merge_policies, notification_policies
from fourflows.app.shop import Shop
from fourflows.cash.payment import PaymentFundsAwaited
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import Order, OrderPlaced, PaymentFigures
from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent
from fourflows.information.notifications import NotificationKind
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Taipei
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
TAIPEI = {"country": "TW", "city": "Taipei", "postal_code": "106"}


def make_shop(
    notifier: RecordingNotifier, *, locale: str = "en"
) -> tuple[Shop, FakeGateway, RecordingPublisher]:
    """A Shop whose bus runs the checkout policies and the notification policies."""
    clock = FixedClock(AT)
    gateway = FakeGateway(clock)
    checkout = Checkout(
        catalog=Catalog([TEE]),
        tax=TaxTable.preset("TW"),
        gateway=gateway,
        shipping=ShippingTable.example_taiwan(),
    )
    store = MemoryStore()
    log = RecordingPublisher()
    bus = MessageBus(
        unit_of_work=store.unit_of_work,
        clock=clock,
        ids=SequentialIds(),
        commands={**COMMAND_HANDLERS, **checkout.handlers()},
        policies=merge_policies(POLICIES, notification_policies(notifier, locale=locale)),
        publishers={"log": log},
    )
    return Shop(bus=bus, store=store, checkout=checkout), gateway, log


def place(token: str = "fake-card-approve", **changes: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "idempotency_key": "k-1",
        "items": {"TEE-M": 2},
        "customer_id": "c-1",
        "ship_to": TAIPEI,
        "service": "home",
        "payment_token": token,
    }
    fields.update(changes)
    return PlaceOrder(**fields)


def kinds(notifier: RecordingNotifier) -> list[str]:
    return [n.kind.value for n in notifier.sent]


def unsettled(shop: Shop) -> int:
    with shop.store.unit_of_work() as uow:
        return len(uow.outbox.unsettled())


def test_a_declined_card_puts_the_order_on_hold_and_tells_the_customer_in_zh_tw() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier, locale="zh_TW")
    result = shop.place_order(place("fake-card-insufficient-funds"))
    assert (result.outcome, result.order_state) == ("declined", "on_hold")
    assert kinds(notifier) == ["order_confirmed", "payment_declined"]
    declined = notifier.sent[1]
    assert result.payment_id is not None
    assert declined.id == f"payment_declined:{result.payment_id}:2"
    assert (declined.customer_id, declined.order_id) == ("c-1", result.order_id)
    assert declined.subject == f"訂單 {result.order_id} 付款未成功"
    # the order total: 1180 + 100 = 1280, in whole dollars
    assert f"訂單 {result.order_id}（金額 $1,280）付款未成功：卡片餘額或信用額度不足。" in (
        declined.body
    )
    assert unsettled(shop) == 0


def test_a_notifier_that_is_down_is_retried_by_the_next_dispatch_and_tells_once() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    notifier.fail_next(2)  # both the confirmation and the decline fail
    result = shop.place_order(place("fake-card-declined"))
    assert result.order_state == "on_hold"  # the checkout itself is not undone
    assert notifier.sent == []
    still = shop.bus.dispatch()  # the notifier is back
    assert still == ()
    assert kinds(notifier) == ["order_confirmed", "payment_declined"]
    shop.bus.dispatch()
    assert len(notifier.sent) == 2


def test_failures_stay_on_the_outbox_record_until_the_send_succeeds() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    notifier.fail_next(3)  # two in the first dispatch; the third hits the first retry
    shop.place_order(place("fake-card-declined"))
    (left,) = shop.bus.dispatch()  # retried in commit order: the confirmation fails again
    assert isinstance(left.event, OrderPlaced)
    ((consumer, error),) = left.failures
    assert consumer.endswith("tell_order_confirmed")
    assert error.startswith("ConnectionError")
    assert kinds(notifier) == ["payment_declined"]
    assert shop.bus.dispatch() == ()
    assert kinds(notifier) == ["payment_declined", "order_confirmed"]


def test_an_event_delivered_again_does_not_tell_the_customer_twice() -> None:
    notifier = RecordingNotifier()
    shop, _, log = make_shop(notifier)
    shop.place_order(place("fake-card-declined"))
    assert len(notifier.sent) == 2
    policies = notification_policies(notifier)
    # as after a crash between sending and marking the record delivered: every event again
    for event in log.events:
        for policy in policies.get(type(event), ()):
            with shop.store.unit_of_work() as uow:
                policy(event, Context(uow=uow, clock=FixedClock(AT), ids=SequentialIds()))
    assert len(notifier.sent) == 2


def test_a_guest_checkout_tells_nobody() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    result = shop.place_order(place("fake-card-declined", customer_id=None))
    assert result.outcome == "declined"
    assert notifier.sent == []
    assert unsettled(shop) == 0


def test_a_bank_transfer_sends_the_virtual_account_and_deadline() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier, locale="zh_TW")
    placed = shop.place_order(place("fake-bank-transfer", payment_method="bank_transfer"))
    assert kinds(notifier) == ["order_confirmed", "transfer_instructions"]
    told = notifier.sent[1]
    assert placed.virtual_account is not None
    # the fake keeps the account open 3 days: 2026-11-23 04:00 UTC, 12:00 in Taipei
    assert (told.virtual_account, told.deadline) == (placed.virtual_account, AT + timedelta(days=3))
    assert f"虛擬帳號：{placed.virtual_account}\n繳費金額：$1,280" in told.body
    assert "請於 2026/11/23 12:00（GMT+8）前" in told.body


def test_transfer_instructions_are_not_sent_once_the_funds_arrived() -> None:
    notifier = RecordingNotifier()
    shop, gateway, log = make_shop(notifier)
    placed = shop.place_order(place("fake-bank-transfer", payment_method="bank_transfer"))
    assert placed.virtual_account is not None
    gateway.complete_action(placed.virtual_account)  # the customer pays at an ATM
    for notice in gateway.take_notifications():
        shop.apply_notification(notice)
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"
    # the instructions, told late (a notifier that was down all along), say nothing now
    late = RecordingNotifier()
    (awaited,) = [e for e in log.events if isinstance(e, PaymentFundsAwaited)]
    (policy,) = notification_policies(late)[PaymentFundsAwaited]
    with shop.store.unit_of_work() as uow:
        policy(awaited, Context(uow=uow, clock=FixedClock(AT), ids=SequentialIds()))
    assert late.sent == []


def test_a_late_decline_notice_is_dropped_once_the_order_is_canceled() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    notifier.fail_next(2)
    result = shop.place_order(place("fake-card-declined"))
    shop.cancel_order(
        CancelOrder(idempotency_key="c-1", order_id=result.order_id, reason="customer gave up")
    )
    # the retried confirmation goes out; "pay another way" would be wrong now
    assert kinds(notifier) == ["order_confirmed", "order_canceled"]
    assert "customer gave up" not in notifier.sent[1].body


def test_canceling_a_paid_order_tells_of_the_refund_and_the_cancellation() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    result = shop.place_order(place())
    assert result.payment_id is not None
    shop.capture_payment(
        CapturePayment(
            idempotency_key="cap-1", payment_id=result.payment_id, amount=Money("1280", "TWD")
        )
    )
    shop.cancel_order(CancelOrder(idempotency_key="c-1", order_id=result.order_id, reason="oops"))
    assert sorted(kinds(notifier)) == ["order_canceled", "order_confirmed", "refund_issued"]
    (refund,) = [n for n in notifier.sent if n.kind is NotificationKind.REFUND_ISSUED]
    # everything captured goes back: 1280
    assert refund.amount == Money("1280", "TWD")
    assert f"We refunded NT$1,280 for your order {result.order_id}" in refund.body


def test_shipping_and_delivery_reach_the_customer_through_the_outbox() -> None:
    notifier = RecordingNotifier()
    shop, _, _ = make_shop(notifier)
    result = shop.place_order(place())
    with shop.store.unit_of_work() as uow:  # the warehouse ships and the carrier delivers
        order = uow.repository(Order).get(result.order_id)
        order.allocate("TEE-M", 2, allocation_id="a-1", at=AT)
        order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
        order.record_delivery("s-1", at=AT + timedelta(days=1))
        uow.commit()
    shop.bus.dispatch()
    assert kinds(notifier) == ["order_confirmed", "order_shipped", "order_delivered"]
    assert notifier.sent[1].items == (("T-shirt", 2),)
    assert notifier.sent_to("c-1") == notifier.sent
    assert shop.figures(result.order_id) == PaymentFigures.of("TWD", authorized="1280")


def test_the_policies_check_their_options() -> None:
    with pytest.raises(InvalidInput, match="send"):
        notification_policies(object())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="zh_TW"):
        notification_policies(RecordingNotifier(), locale="ja")
    with pytest.raises(InvalidInput, match="tzinfo"):
        notification_policies(RecordingNotifier(), tz="+08:00")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="policy table"):
        merge_policies([])  # type: ignore[arg-type]
    english = notification_policies(RecordingNotifier())
    chinese = notification_policies(RecordingNotifier(), locale="zh_TW")
    with pytest.raises(InvalidInput, match="OrderPlaced would have two policies named"):
        merge_policies(POLICIES, english, chinese)  # the bus would run only one of them
    events: set[type[DomainEvent]] = set(notification_policies(RecordingNotifier()))
    assert {e.__name__ for e in events} == {
        "OrderPlaced",
        "PaymentFailed",
        "PaymentFundsAwaited",
        "OrderCanceled",
        "PaymentRefunded",
        "OrderShipped",
        "OrderDelivered",
    }
