"""Several gateway tenders on one order, a cancel racing a capture, a transfer that lapses.

Figures: two T-shirts at 590 make 1180 (5% TW tax included); home delivery in Taipei
costs 100, so the order is 1180 + 100 = 1280, here paid 700 by one card and 580 by
another (or an e-wallet), sometimes with 200 of store credit: 500 + 580 + 200 = 1280.
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
    ExpirePayments,
    IssueStoreCredit,
    PlaceOrder,
    RefundOrder,
)
from fourflows.cash.balances import store_credit_account
from fourflows.cash.gateway import GatewayResult, NotificationKind
from fourflows.errors import GatewayUnavailable, InvalidInput
from shop_fixtures import AT, TAIPEI, make_shop, twd

CREDIT = store_credit_account("c-1")


def card(amount: int, token: str = "fake-card-approve", method: str = "card") -> dict[str, Any]:
    return {"method": method, "amount": twd(amount), "token": token}


def place(*tenders: dict[str, Any], key: str = "k-1") -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=key,
        items={"TEE-M": 2},
        customer_id="c-1",
        ship_to=TAIPEI,
        service="home",
        tenders=tenders,
    )


def deliver(shop: Any, gateway: FakeGateway) -> list[str]:
    return [shop.apply_notification(n).outcome for n in gateway.take_notifications()]


def test_two_cards_are_both_authorised_and_pay_the_order() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700), card(580)))
    assert (placed.outcome, placed.order_state) == ("authorized", "awaiting_fulfilment")
    first, second = shop.payments_of(placed.order_id)
    assert placed.payment_id == first.id
    assert (gateway.balance(first.id).capturable, gateway.balance(second.id).capturable) == (
        twd(700),
        twd(580),
    )
    assert shop.figures(placed.order_id).secured == twd(1280)  # 700 + 580


def test_a_card_and_a_pending_wallet_pay_the_order_when_the_wallet_confirms() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700), card(580, "fake-wallet", "e_wallet")))
    assert (placed.outcome, placed.order_state) == ("pending", "pending_payment")
    wallet = shop.payments_of(placed.order_id)[1]
    assert placed.payment_id == wallet.id  # the result names the tender still waited for
    assert shop.figures(placed.order_id).secured == twd(700)  # only the card so far
    deliver(shop, gateway)
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"
    assert shop.payment(wallet.id).state == "authorized"


def test_one_declined_tender_gives_back_the_others_and_holds_the_order() -> None:
    shop, gateway, _ = make_shop()
    shop.issue_store_credit(
        IssueStoreCredit(idempotency_key="i", customer_id="c-1", amount=twd(200), reason="r")
    )
    tenders = (
        {"method": "store_credit", "amount": twd(200)},
        card(500),
        card(580, "fake-card-insufficient-funds"),
    )
    placed = shop.place_order(place(*tenders))
    assert (placed.outcome, placed.order_state) == ("declined", "on_hold")
    credit, first, second = shop.payments_of(placed.order_id)
    assert placed.payment_id == second.id
    assert "insufficient_funds" in placed.message
    # the first card's 500 is voided at the provider, the credit's 200 restored
    assert [p.state for p in (credit, first, second)] == ["refunded", "voided", "failed"]
    assert gateway.balance(first.id).capturable == twd(0)
    assert shop.balance(CREDIT) == twd(200)
    order = shop.order(placed.order_id)
    assert f"payment {second.id} failed" in (order.hold_reason or "")


def test_a_decline_before_the_last_tender_leaves_that_tender_unasked() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700, "fake-card-declined"), card(580)))
    assert placed.outcome == "declined"
    first, second = shop.payments_of(placed.order_id)
    assert (first.state, second.state) == ("failed", "voided")
    with pytest.raises(LookupError):
        gateway.balance(second.id)  # never sent to the provider


def test_a_tender_needing_3ds_waits_while_the_other_is_held() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700), card(580, "fake-card-3ds")))
    assert (placed.outcome, placed.order_state) == ("requires_action", "pending_payment")
    assert placed.action_url is not None
    secure = shop.payments_of(placed.order_id)[1]
    action = shop.payment(secure.id).action
    assert action is not None
    gateway.complete_action(action.reference)
    deliver(shop, gateway)
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"
    assert shop.figures(placed.order_id).secured == twd(1280)


def test_a_tender_failing_by_notification_gives_the_others_back() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700), card(580, "fake-card-3ds")))
    held, secure = shop.payments_of(placed.order_id)
    action = shop.payment(secure.id).action
    assert action is not None
    gateway.complete_action(action.reference, succeeded=False)  # 3-D Secure failed
    deliver(shop, gateway)
    assert shop.order(placed.order_id).state == "on_hold"
    assert (shop.payment(held.id).state, shop.payment(secure.id).state) == ("voided", "failed")
    assert gateway.balance(held.id).capturable == twd(0)


def test_a_tender_whose_answer_was_lost_is_given_back_when_found_after_a_decline() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(
        place(card(700, "fake-card-timeout"), card(580, "fake-card-declined"))
    )
    lost, declined = shop.payments_of(placed.order_id)
    assert (placed.outcome, placed.order_state) == ("declined", "on_hold")
    assert (lost.state, declined.state) == ("needs_reconciliation", "failed")
    # asked again under its key, the provider now approves it: the order is held, so it is voided
    found = shop.authorize_payment(AuthorizePayment(idempotency_key="a", payment_id=lost.id))
    assert (found.outcome, found.payment_state) == ("compensated", "voided")
    assert gateway.balance(lost.id).capturable == twd(0)


def test_a_refund_of_an_order_paid_by_two_cards_takes_the_older_card_first() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(700), card(580)))
    first, second = shop.payments_of(placed.order_id)
    for payment in (first, second):
        shop.capture_payment(
            CapturePayment(
                idempotency_key=f"c-{payment.id}", payment_id=payment.id, amount=payment.amount
            )
        )
    shop.refund_order(
        RefundOrder(idempotency_key="r", order_id=placed.order_id, amount=twd(900), reason="r")
    )
    # 900: the first card's 700, then 900 - 700 = 200 of the second
    assert shop.payment(first.id).totals.refunded == twd(700)
    assert shop.payment(second.id).totals.refunded == twd(200)
    assert gateway.balance(second.id).refundable == twd(380)


class ResumingGateway(FakeGateway):
    """Dies (raises `RuntimeError`) on the second authorise call, once."""

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.calls = 0

    def authorize(self, request: Any) -> GatewayResult:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("the process died")
        return super().authorize(request)


def test_a_checkout_dying_between_two_tenders_resumes_the_second_only() -> None:
    shop, gateway, _ = make_shop(ResumingGateway)
    assert isinstance(gateway, ResumingGateway)
    with pytest.raises(RuntimeError):
        shop.place_order(place(card(700), card(580)))
    # the placement was committed before the first call; the first answer was not
    first, second = shop.payments_of("order-0001")
    assert (first.state, second.state) == ("pending", "pending")
    resumed = shop.place_order(place(card(700), card(580)))
    assert (resumed.outcome, resumed.order_state) == ("authorized", "awaiting_fulfilment")
    # the first card was found by lookup, not authorised twice: 2 calls, then 1 more
    assert gateway.calls == 3
    assert gateway.balance(first.id).authorized == twd(700)
    assert shop.place_order(place(card(700), card(580))) == resumed


# --- a cancel racing a capture -----------------------------------------------------------------


def test_a_cancel_settles_a_capture_in_flight_and_gives_everything_back() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(place(card(1280, "fake-card-async")))
    payment_id = placed.payment_id or ""
    pending = shop.capture_payment(
        CapturePayment(idempotency_key="c", payment_id=payment_id, amount=twd(500))
    )
    assert pending.outcome == "capture_requested"  # the provider confirms later
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="no"))
    payment = shop.payment(payment_id)
    # the provider had taken the 500: its refund and the void of 1280 - 500 = 780 are asked
    # for (and pending at this asynchronous provider)
    assert payment.totals.captured == twd(500)
    assert payment.totals.refunded + payment.totals.refund_pending == twd(500)
    assert payment.state == "void_requested"
    deliver(shop, gateway)
    payment = shop.payment(payment_id)
    assert (payment.state, payment.capturable, payment.totals.refunded) == (
        "refunded",
        twd(0),
        twd(500),
    )
    balance = gateway.balance(payment_id)
    assert (balance.capturable, balance.refundable) == (twd(0), twd(0))


class LostCapture(FakeGateway):
    """Every capture is lost on the way (never received), and lookups cannot answer."""

    def __init__(self, clock: FixedClock, *, lookups: bool) -> None:
        super().__init__(clock, scenarios={})
        self.lookups = lookups

    def lookup(self, idempotency_key: str) -> GatewayResult | None:
        if not self.lookups and idempotency_key.endswith(":capture"):
            raise GatewayUnavailable("fake", "lookup", "down")
        return super().lookup(idempotency_key)


def test_a_capture_the_provider_never_received_is_failed_and_the_hold_voided() -> None:
    shop, gateway, _ = make_shop(lambda clock: LostCapture(clock, lookups=True))
    placed = shop.place_order(place(card(1280)))
    payment_id = placed.payment_id or ""
    gateway.set_scenario(payment_id, Scenario(capture=Step.TIMEOUT))
    lost = shop.capture_payment(
        CapturePayment(idempotency_key="c", payment_id=payment_id, amount=twd(1280))
    )
    assert lost.outcome == "capture_requested"
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="no")
    )
    assert (canceled.order_state, shop.payment(payment_id).state) == ("canceled", "voided")
    assert gateway.balance(payment_id).capturable == twd(0)
    with pytest.raises(InvalidInput, match="was canceled"):
        shop.capture_payment(
            CapturePayment(idempotency_key="c2", payment_id=payment_id, amount=twd(1280))
        )


def test_a_capture_confirmed_after_the_cancel_is_refunded_and_the_rest_voided() -> None:
    shop, gateway, _ = make_shop(lambda clock: LostCapture(clock, lookups=False))
    placed = shop.place_order(place(card(1280)))
    payment_id = placed.payment_id or ""
    gateway.set_scenario(payment_id, Scenario(capture=Step.PENDING_THEN_APPROVE))
    shop.capture_payment(
        CapturePayment(idempotency_key="c", payment_id=payment_id, amount=twd(500))
    )
    shop.cancel_order(CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="no"))
    # the lookup failed: the capture stays in flight until its confirmation comes
    assert shop.payment(payment_id).totals.capture_pending == twd(500)
    outcomes = deliver(shop, gateway)
    assert "compensated" in outcomes
    payment = shop.payment(payment_id)
    assert (payment.state, payment.totals.refunded) == ("refunded", twd(500))
    balance = gateway.balance(payment_id)
    assert (balance.capturable, balance.refundable) == (twd(0), twd(0))  # 780 voided too


# --- a bank transfer whose funds never came ----------------------------------------------------


def test_a_transfer_expired_by_the_provider_cancels_the_order_and_frees_the_coupon() -> None:
    shop, gateway, clock = make_shop()
    placed = shop.place_order(
        PlaceOrder(
            idempotency_key="t",
            items={"TEE-M": 2},
            customer_id="c-1",
            ship_to=TAIPEI,
            service="home",
            coupon_codes=("SPRING10",),
            payment_method="bank_transfer",
            payment_token="fake-bank-transfer",
        )
    )
    assert shop.coupon_usage().uses_of("SPRING10") == 1  # reserved
    assert placed.virtual_account is not None
    clock.advance(timedelta(days=3, seconds=1))
    gateway.complete_action(placed.virtual_account)  # too late: the provider expires it
    notices = [n for n in gateway.take_notifications() if n.kind is NotificationKind.EXPIRED]
    assert len(notices) == 1
    expired = shop.apply_notification(notices[0])
    assert (expired.outcome, expired.payment_state, expired.order_state) == (
        "canceled",
        "expired",
        "canceled",
    )
    assert shop.coupon_usage().uses_of("SPRING10") == 0
    # the shop's own sweep then finds nothing; the notification again changes nothing
    assert shop.expire_payments(ExpirePayments(now=AT + timedelta(days=5))) == ()
    assert shop.apply_notification(notices[0]) == expired


def test_a_3ds_left_to_expire_gives_back_the_other_tenders_and_holds_the_order() -> None:
    shop, gateway, clock = make_shop()
    placed = shop.place_order(place(card(700), card(580, "fake-card-3ds")))
    held, secure = shop.payments_of(placed.order_id)
    action = shop.payment(secure.id).action
    assert action is not None
    clock.advance(timedelta(minutes=16))  # the fake gives 15 minutes to authenticate
    gateway.complete_action(action.reference)  # too late: the provider expires it
    outcomes = deliver(shop, gateway)
    assert "applied" in outcomes
    assert (shop.payment(secure.id).state, shop.payment(held.id).state) == ("expired", "voided")
    order = shop.order(placed.order_id)
    assert order.state == "on_hold"
    assert "did not act in time" in (order.hold_reason or "")
    assert gateway.balance(held.id).capturable == twd(0)
