"""The Shop facade end to end: orders taken through payment by the fake gateway.

Figures: two T-shirts at 590 make 1180 (prices include 5% TW tax); home delivery in
Taipei costs 100, so an order is 1180 + 100 = 1280. The SPRING10 coupon takes 10% off
the goods: 1180 × 10% = 118, so 1062 + 100 = 1162.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from fourflows.adapters.fake_gateway import FakeGateway, Scenario, Step
from fourflows.adapters.fakes import FixedClock
from fourflows.app.checkout import (
    AuthorizePayment,
    CancelOrder,
    CapturePayment,
    CouponLedger,
    PlaceOrder,
    RefundPayment,
    ShopResult,
)
from fourflows.app.shop import Shop
from fourflows.cash.gateway import (
    AuthorizeRequest,
    GatewayNotification,
    GatewayOperation,
    GatewayResult,
    NotificationKind,
)
from fourflows.commerce.order import Order, PaymentStatus
from fourflows.errors import (
    ConcurrencyConflict,
    GuardRejected,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
)
from shop_fixtures import AT, TAIPEI, make_shop, twd


def place(key: str = "k-1", token: str = "fake-card-approve", **changes: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "items": {"TEE-M": 2},
        "customer_id": "c-1",
        "ship_to": TAIPEI,
        "service": "home",
        "payment_token": token,
    }
    fields.update(changes)
    return PlaceOrder(**fields)


def deliver_notifications(shop: Shop, gateway: FakeGateway) -> list[ShopResult]:
    return [shop.apply_notification(n) for n in gateway.take_notifications()]


def test_card_approved_then_captured_then_partly_refunded() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place())
    assert (placed.outcome, placed.order_state, placed.payment_state) == (
        "authorized",
        "awaiting_fulfilment",
        "authorized",
    )
    assert shop.order(placed.order_id).totals.total == twd("1280")
    assert shop.payment_status(placed.order_id) is PaymentStatus.AUTHORIZED
    assert placed.payment_id is not None
    pay = placed.payment_id
    captured = shop.capture_payment(
        CapturePayment(idempotency_key="cap-1", payment_id=pay, amount=twd("1280"))
    )
    assert captured.payment_state == "captured"
    assert shop.payment_status(placed.order_id) is PaymentStatus.PAID
    refunded = shop.refund_payment(
        RefundPayment(idempotency_key="rf-1", payment_id=pay, amount=twd("280"), reason="torn")
    )
    assert refunded.payment_state == "partially_refunded"
    # kept 1280 - 280 = 1000 of 1280: partially refunded, at the provider too
    assert shop.payment_status(placed.order_id) is PaymentStatus.PARTIALLY_REFUNDED
    assert gateway.balance(pay).refundable == twd("1000")
    # the provider's notifications repeat what is known: nothing changes
    version = shop.payment(pay).version
    assert all(r.outcome == "applied" for r in deliver_notifications(shop, gateway))
    assert shop.payment(pay).version == version


def test_declined_card_holds_the_order_with_the_reason() -> None:
    shop, _, _ = make_shop()
    result = shop.place_order(place(token="fake-card-insufficient-funds"))
    assert (result.outcome, result.payment_state, result.order_state) == (
        "declined",
        "failed",
        "on_hold",
    )
    order = shop.order(result.order_id)
    assert order.hold_reason is not None
    assert "insufficient_funds" in order.hold_reason
    assert shop.payment_status(result.order_id) is PaymentStatus.UNPAID


def test_3ds_then_completed_by_notification_pays_the_order_once() -> None:
    shop, gateway, _ = make_shop()
    result = shop.place_order(place(token="fake-card-3ds"))
    assert (result.outcome, result.payment_state) == ("requires_action", "requires_action")
    assert result.action_url is not None
    assert result.payment_id is not None
    action = shop.payment(result.payment_id).action
    assert action is not None
    gateway.complete_action(action.reference)
    notices = gateway.take_notifications()
    for notice in [*notices, *notices]:  # every notification delivered twice
        shop.apply_notification(notice)
    assert shop.payment(result.payment_id).state == "authorized"
    assert shop.order(result.order_id).state == "awaiting_fulfilment"
    assert shop.payment_status(result.order_id) is PaymentStatus.AUTHORIZED


@pytest.mark.parametrize("token", ["fake-card-timeout", "fake-card-late-success"])
def test_a_timeout_needs_reconciliation_then_the_lookup_settles_it(token: str) -> None:
    shop, gateway, _ = make_shop()
    result = shop.place_order(place(token=token))
    assert (result.outcome, result.payment_state) == (
        "needs_reconciliation",
        "needs_reconciliation",
    )
    assert result.payment_id is not None
    settled = shop.authorize_payment(
        AuthorizePayment(idempotency_key="rec-1", payment_id=result.payment_id)
    )
    assert (settled.payment_state, settled.order_state) == ("authorized", "awaiting_fulfilment")
    # the provider holds the money exactly once
    assert gateway.balance(result.payment_id).capturable == twd("1280")


def test_cash_on_delivery_is_approved_without_the_gateway_then_collected() -> None:
    shop, gateway, _ = make_shop()
    result = shop.place_order(place(payment_method="cash_on_delivery"))
    assert (result.outcome, result.order_state) == ("approved", "awaiting_fulfilment")
    assert result.payment_id is not None
    with pytest.raises(NotFound):
        gateway.balance(result.payment_id)
    total = shop.order(result.order_id).totals.total  # the COD option's own fee
    assert shop.payment_status(result.order_id) is PaymentStatus.AUTHORIZED
    shop.capture_payment(
        CapturePayment(idempotency_key="parcel-1", payment_id=result.payment_id, amount=total)
    )
    assert shop.payment_status(result.order_id) is PaymentStatus.PAID


def test_cancel_before_capture_voids_the_authorisation() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x-1", order_id=placed.order_id, reason="changed mind")
    )
    assert (canceled.order_state, canceled.payment_state) == ("canceled", "voided")
    assert gateway.balance(placed.payment_id).capturable == twd("0")
    assert shop.figures(placed.order_id).secured == twd("0")


def test_cancel_after_capture_refunds_what_was_taken() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place())
    assert placed.payment_id is not None
    shop.capture_payment(
        CapturePayment(idempotency_key="c", payment_id=placed.payment_id, amount=twd("1000"))
    )
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x-1", order_id=placed.order_id, reason="out of stock")
    )
    # 1000 captured goes back, the other 280 is released
    assert canceled.payment_state == "refunded"
    assert gateway.balance(placed.payment_id).refundable == twd("0")
    assert shop.payment_status(placed.order_id) is PaymentStatus.REFUNDED


def test_a_repeated_command_returns_the_first_result_and_does_nothing() -> None:
    shop, _, _ = make_shop()
    first = shop.place_order(place())
    rows = dict(shop.store.rows)
    assert shop.place_order(place()) == first
    assert shop.store.rows == rows
    assert first.payment_id is not None
    capture = CapturePayment(idempotency_key="c", payment_id=first.payment_id, amount=twd("100"))
    assert shop.capture_payment(capture) == shop.capture_payment(capture)
    assert shop.payment(first.payment_id).totals.captured == twd("100")


def test_the_same_key_for_another_command_is_refused_and_changes_nothing() -> None:
    shop, _, _ = make_shop()
    shop.place_order(place())
    versions = {key: row.version for key, row in shop.store.rows.items()}
    with pytest.raises(IdempotencyConflict, match="'k-1'"):
        shop.place_order(place(items={"TEE-M": 3}))
    assert {key: row.version for key, row in shop.store.rows.items()} == versions


def test_refused_commands_change_nothing_and_call_no_gateway() -> None:
    shop, gateway, _ = make_shop()
    with pytest.raises(InvalidInput, match="unknown sku 'HAT'"):
        shop.place_order(place(items={"HAT": 1}))
    assert shop.store.rows == {}
    with pytest.raises(InvalidInput, match="items"):
        place(items={"TEE-M": 0})
    placed = shop.place_order(place(key="k-2"))
    assert placed.payment_id is not None
    with pytest.raises(GuardRejected, match="capturable"):
        shop.capture_payment(
            CapturePayment(idempotency_key="c", payment_id=placed.payment_id, amount=twd("2000"))
        )
    assert gateway.balance(placed.payment_id).captured == twd("0")
    with pytest.raises(NotFound):
        shop.capture_payment(
            CapturePayment(idempotency_key="c", payment_id="nope", amount=twd("1"))
        )


def test_saga_voids_the_payment_when_the_order_cannot_be_completed() -> None:
    def out_of_stock(order: Order) -> None:
        raise InvalidInput(f"no stock for {order.id}")

    shop, gateway, _ = make_shop(confirm=out_of_stock)
    result = shop.place_order(place(coupon_codes=("SPRING10",)))
    assert result.outcome == "compensated"
    assert (result.order_state, result.payment_state) == ("canceled", "voided")
    assert result.payment_id is not None
    assert gateway.balance(result.payment_id).capturable == twd("0")
    assert shop.coupon_usage().uses_of("SPRING10") == 0


def test_a_limited_coupon_is_reserved_committed_and_released() -> None:
    shop, gateway, _ = make_shop()
    # the first checkout waits for 3-D Secure: its coupon use is reserved
    first = shop.place_order(place(key="a", token="fake-card-3ds", coupon_codes=("SPRING10",)))
    assert shop.order(first.order_id).totals.total == twd("1162")
    second = shop.place_order(place(key="b", coupon_codes=("SPRING10",)))
    assert shop.order(second.order_id).totals.total == twd("1280")  # the only use is taken
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=first.order_id, reason="left"))
    assert shop.coupon_usage().uses_of("SPRING10") == 0
    third = shop.place_order(place(key="c", coupon_codes=("SPRING10",)))
    assert shop.order(third.order_id).totals.total == twd("1162")
    assert third.order_state == "awaiting_fulfilment"  # paid: the use is committed
    assert shop.coupon_usage().uses_of("SPRING10") == 1
    assert gateway.take_notifications()


def test_a_notification_for_an_unknown_payment_is_not_found() -> None:
    shop, _, _ = make_shop()
    notice = GatewayNotification(
        notification_id="evt-1",
        kind=NotificationKind.CAPTURED,
        operation=GatewayOperation.CAPTURE,
        payment_id="payment-9999",
        provider_ref="ref",
        amount=twd("10"),
        occurred_at=AT,
    )
    with pytest.raises(NotFound, match="payment-9999"):
        shop.apply_notification(notice)


def test_async_capture_is_confirmed_by_notification_even_out_of_order() -> None:
    shop, gateway, clock = make_shop(
        lambda clock: FakeGateway(
            clock, scenarios={"payment-0001": Scenario(capture=Step.PENDING_THEN_APPROVE)}
        )
    )
    placed = shop.place_order(place())
    assert placed.payment_id == "payment-0001"
    asked = shop.capture_payment(
        CapturePayment(idempotency_key="c", payment_id="payment-0001", amount=twd("1280"))
    )
    assert asked.outcome == "capture_requested"
    assert shop.payment_status(placed.order_id) is PaymentStatus.AUTHORIZED
    clock.advance(timedelta(minutes=1))
    for notice in reversed(gateway.take_notifications()):
        shop.apply_notification(notice)
    assert shop.payment("payment-0001").state == "captured"
    assert shop.payment_status(placed.order_id) is PaymentStatus.PAID


def test_two_concurrent_checkouts_cannot_both_take_the_last_coupon_use() -> None:
    shop, _, _ = make_shop()
    first, second = shop.store.unit_of_work(), shop.store.unit_of_work()
    for uow, order_id in ((first, "o-1"), (second, "o-2")):
        ledger = uow.read_record("coupons", "ledger") or CouponLedger()
        assert isinstance(ledger, CouponLedger)
        assert ledger.snapshot().uses_of("SPRING10") == 0  # both saw the use free
        uow.write_record("coupons", "ledger", ledger.reserve(order_id, ["SPRING10"], "c-1"))
    first.commit()
    with pytest.raises(ConcurrencyConflict, match="record coupons"):
        second.commit()
    assert shop.coupon_usage().uses_of("SPRING10") == 1  # only the first reservation


def test_an_order_canceled_while_its_authorisation_was_unknown_gets_its_money_back() -> None:
    shop, gateway, _ = make_shop()
    result = shop.place_order(place(token="fake-card-late-success"))
    assert result.payment_id is not None
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x", order_id=result.order_id, reason="too slow")
    )
    assert (canceled.order_state, canceled.payment_state) == ("canceled", "needs_reconciliation")
    # the provider did hold the money; reconciling finds it and voids it
    settled = shop.authorize_payment(
        AuthorizePayment(idempotency_key="rec", payment_id=result.payment_id)
    )
    assert (settled.outcome, settled.payment_state) == ("compensated", "voided")
    assert gateway.balance(result.payment_id).capturable == twd("0")


@pytest.mark.parametrize(
    ("token", "succeeded", "order_state", "payment_state"),
    [
        ("fake-card-3ds", False, "on_hold", "failed"),  # the customer failed 3-D Secure
        ("fake-wallet", True, "awaiting_fulfilment", "authorized"),  # pending, then confirmed
    ],
)
def test_policies_follow_the_payment_when_a_notification_decides_it(
    token: str, succeeded: bool, order_state: str, payment_state: str
) -> None:
    shop, gateway, _ = make_shop()
    result = shop.place_order(place(token=token))
    assert result.payment_id is not None
    action = shop.payment(result.payment_id).action
    if action is not None:
        gateway.complete_action(action.reference, succeeded=succeeded)
    outcomes = [r.outcome for r in deliver_notifications(shop, gateway)]
    assert "applied" in outcomes
    assert shop.payment(result.payment_id).state == payment_state
    assert shop.order(result.order_id).state == order_state
    assert shop.store.outbox.unsettled() == ()  # every policy ran without error


class ProcessDied(Exception):
    """Stands for the process dying: raised around the gateway's authorise call."""


class CrashingGateway(FakeGateway):
    """A fake gateway around whose first authorise call the process dies.

    ``reached=False``: it dies before the request leaves; ``True``: after the
    provider handled it, with the answer lost.
    """

    def __init__(self, clock: FixedClock, *, reached: bool) -> None:
        super().__init__(clock)
        self.reached = reached
        self.crashes = 1
        self.authorize_calls = 0

    def authorize(self, request: AuthorizeRequest) -> GatewayResult:
        self.authorize_calls += 1
        if self.crashes:
            self.crashes -= 1
            if self.reached:
                super().authorize(request)
            raise ProcessDied(request.idempotency_key)
        return super().authorize(request)


def crashing_shop(*, reached: bool) -> tuple[Shop, CrashingGateway]:
    shop, gateway, _ = make_shop(lambda clock: CrashingGateway(clock, reached=reached))
    assert isinstance(gateway, CrashingGateway)
    return shop, gateway


@pytest.mark.parametrize("reached", [False, True], ids=["before-the-call", "answer-lost"])
def test_a_checkout_that_died_before_the_gateway_answered_is_resumed(reached: bool) -> None:
    shop, gateway = crashing_shop(reached=reached)
    with pytest.raises(ProcessDied):
        shop.place_order(place())
    # the first commit survived: the order waits for payment, the payment is pending
    order_id = "order-0001"  # SequentialIds: the first order and payment
    (payment,) = shop.payments_of(order_id)
    assert (shop.order(order_id).state, payment.state) == ("pending_payment", "pending")
    resumed = shop.place_order(place())
    # not the provisional "placed": the real authorisation, under the same gateway key
    assert (resumed.outcome, resumed.order_state, resumed.payment_state) == (
        "authorized",
        "awaiting_fulfilment",
        "authorized",
    )
    assert (resumed.order_id, resumed.payment_id) == (order_id, payment.id)
    # 1280 held once, whether or not the lost request had reached the provider
    assert gateway.balance(payment.id).capturable == twd("1280")
    assert gateway.balance(payment.id).authorized == twd("1280")
    # from now on the key answers the recorded result and changes nothing
    calls, rows = gateway.authorize_calls, dict(shop.store.rows)
    assert shop.place_order(place()) == resumed
    assert (gateway.authorize_calls, shop.store.rows) == (calls, rows)


def test_a_resumed_checkout_reports_a_decline_and_refuses_another_request() -> None:
    shop, _ = crashing_shop(reached=False)
    with pytest.raises(ProcessDied):
        shop.place_order(place(token="fake-card-declined"))
    resumed = shop.place_order(place(token="fake-card-declined"))
    assert (resumed.outcome, resumed.order_state, resumed.payment_state) == (
        "declined",
        "on_hold",
        "failed",
    )
    with pytest.raises(IdempotencyConflict, match="'k-1'"):
        shop.place_order(place())  # same key, another card: refused, not resumed


def test_an_authorisation_notified_after_cancel_is_voided_at_the_provider() -> None:
    # the wallet's authorisation is pending; the order is canceled before it lands
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(token="fake-wallet"))
    assert (placed.outcome, placed.payment_id) == ("pending", "payment-0001")
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="too slow")
    )
    assert (canceled.order_state, canceled.payment_state) == ("canceled", "voided")
    notices = gateway.take_notifications()
    assert [n.kind for n in notices] == [NotificationKind.AUTHORIZED]
    assert gateway.balance("payment-0001").capturable == twd("1280")  # taken at the provider
    first = shop.apply_notification(notices[0])
    assert first.outcome == "compensated"
    assert gateway.balance("payment-0001").capturable == twd("0")  # given back
    # the same notification again changes nothing and asks nothing
    assert shop.apply_notification(notices[0]) == first
    assert shop.order(placed.order_id).state == "canceled"


def test_a_late_authorisation_for_a_canceled_order_is_recorded_then_voided() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(token="fake-card-late-success"))
    assert placed.payment_id is not None
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="slow"))
    notices = [n for n in gateway.take_notifications() if n.kind is NotificationKind.AUTHORIZED]
    assert notices
    assert gateway.balance(placed.payment_id).capturable == twd("1280")
    results = [shop.apply_notification(n) for n in [*notices, *notices]]
    assert results[0].outcome == "compensated"
    assert shop.payment(placed.payment_id).state == "voided"
    assert gateway.balance(placed.payment_id).capturable == twd("0")
    assert shop.payment_status(placed.order_id) is PaymentStatus.UNPAID
    assert shop.order(placed.order_id).state == "canceled"
