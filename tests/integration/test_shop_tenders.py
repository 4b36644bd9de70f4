"""Split tender and bank transfer through the Shop.

Split tender: shop-held balances and a card on one order.

Figures: two T-shirts at 590 make 1180 (prices include 5% TW tax); home delivery in
Taipei costs 100, so the order is 1180 + 100 = 1280, paid 300 by store credit,
200 by gift card and 1280 - 300 - 200 = 780 by card. Bank transfer: the SPRING10 coupon
takes 10% off the goods, 1180 x 10% = 118, so 1062 + 100 = 1162 is awaited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock
from fourflows.app.checkout import (
    CancelOrder,
    CapturePayment,
    ExpirePayments,
    PlaceOrder,
    RefundOrder,
)
from fourflows.app.shop import Shop
from fourflows.cash.gateway import NotificationKind
from fourflows.commerce.order import Order, PaymentStatus
from fourflows.errors import IdempotencyConflict, InvalidInput
from shop_fixtures import AT, TAIPEI, fund, make_shop, twd


def tender(method: str, amount: str | int, token: str = "fake-card-approve") -> dict[str, Any]:
    if method == "gift_card":
        return {"method": method, "amount": twd(amount), "account": "GC-1"}
    return {"method": method, "amount": twd(amount), "token": token}


SPLIT = (tender("store_credit", 300), tender("gift_card", 200), tender("card", 780))


def funded(**kwargs: Any) -> tuple[Shop, FakeGateway, FixedClock]:
    """The shop, with 2000 of store credit for c-1 and 1000 on gift card GC-1."""
    shop, gateway, clock = make_shop(**kwargs)
    fund(shop, credit=2000, gift=1000)
    return shop, gateway, clock


def place(key: str = "k-1", tenders: Any = SPLIT) -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=key,
        items={"TEE-M": 2},
        customer_id="c-1",
        ship_to=TAIPEI,
        service="home",
        tenders=tenders,
    )


def test_split_tender_takes_the_shop_balances_and_authorises_the_card() -> None:
    shop, gateway, _ = funded()
    placed = shop.place_order(place())
    assert (placed.outcome, placed.order_state) == ("authorized", "awaiting_fulfilment")
    credit, gift, card = shop.payments_of(placed.order_id)
    assert [(p.method.value, p.amount, p.state) for p in (credit, gift, card)] == [
        ("store_credit", twd(300), "captured"),
        ("gift_card", twd(200), "captured"),
        ("card", twd(780), "authorized"),
    ]
    assert placed.payment_id == card.id
    assert gateway.balance(card.id).capturable == twd(780)  # only the card is at the provider
    figures = shop.figures(placed.order_id)
    # captured 300 + 200 = 500; held 500 + 780 = 1280 = the total
    assert figures.captured == twd(500)
    assert figures.secured == twd(1280)
    assert shop.payment_status(placed.order_id) is PaymentStatus.PARTIALLY_PAID
    shop.capture_payment(CapturePayment(idempotency_key="c", payment_id=card.id, amount=twd(780)))
    assert shop.figures(placed.order_id).captured == twd(1280)
    assert shop.payment_status(placed.order_id) is PaymentStatus.PAID


def test_tenders_that_do_not_sum_to_the_total_are_refused_and_change_nothing() -> None:
    shop, _, _ = funded()
    short = (tender("store_credit", 300), tender("card", 900))
    with pytest.raises(
        InvalidInput, match=r"sum to 1200 TWD \(300 TWD \+ 900 TWD\).*total is 1280"
    ):
        shop.place_order(place(tenders=short))
    assert shop.store.rows == {}


def test_only_shop_held_tenders_pay_the_order_without_the_gateway() -> None:
    shop, gateway, _ = funded()
    placed = shop.place_order(
        place(tenders=(tender("gift_card", 1000), tender("store_credit", 280)))
    )
    assert (placed.outcome, placed.order_state) == ("captured", "awaiting_fulfilment")
    assert shop.payment_status(placed.order_id) is PaymentStatus.PAID
    assert gateway.take_notifications() == []


def test_a_refund_goes_to_the_card_first_then_to_the_shop_held_tenders() -> None:
    shop, gateway, _ = funded()
    placed = shop.place_order(place())
    credit, gift, card = shop.payments_of(placed.order_id)
    shop.capture_payment(CapturePayment(idempotency_key="c", payment_id=card.id, amount=twd(780)))
    first = shop.refund_order(
        RefundOrder(idempotency_key="r-1", order_id=placed.order_id, amount=twd(500), reason="a")
    )
    # 500 fits in the card's 780: the card alone gives it back
    assert first.outcome == "refunded"
    assert gateway.balance(card.id).refundable == twd(280)
    assert shop.payment(credit.id).totals.refunded == twd(0)
    second = shop.refund_order(
        RefundOrder(idempotency_key="r-2", order_id=placed.order_id, amount=twd(400), reason="b")
    )
    # the card's last 780 - 500 = 280, then 400 - 280 = 120 from the store credit (older first)
    assert second.outcome == "refunded"
    assert shop.payment(card.id).state == "refunded"
    assert shop.payment(credit.id).totals.refunded == twd(120)
    assert shop.payment(gift.id).totals.refunded == twd(0)
    # refunded 500 + 400 = 900 of 1280
    assert shop.figures(placed.order_id).refunded == twd(900)
    assert shop.payment_status(placed.order_id) is PaymentStatus.PARTIALLY_REFUNDED
    # a repeat changes nothing; the same key for another amount is refused
    rows = dict(shop.store.rows)
    again = RefundOrder(
        idempotency_key="r-2", order_id=placed.order_id, amount=twd(400), reason="b"
    )
    assert shop.refund_order(again) == second
    assert shop.store.rows == rows
    with pytest.raises(IdempotencyConflict):
        shop.refund_order(
            RefundOrder(idempotency_key="r-2", order_id=placed.order_id, amount=twd(1), reason="b")
        )
    # more than is left (1280 - 900 = 380) is refused before anything moves
    with pytest.raises(InvalidInput, match=r"cannot refund 381 TWD .* only 380 TWD left"):
        shop.refund_order(
            RefundOrder(
                idempotency_key="r-3", order_id=placed.order_id, amount=twd(381), reason="c"
            )
        )
    assert shop.store.rows == rows


def test_cancel_gives_back_every_tender() -> None:
    shop, gateway, _ = funded()
    placed = shop.place_order(place())
    canceled = shop.cancel_order(
        CancelOrder(idempotency_key="x", order_id=placed.order_id, reason="changed mind")
    )
    assert canceled.order_state == "canceled"
    states = [p.state for p in shop.payments_of(placed.order_id)]
    assert states == ["refunded", "refunded", "voided"]
    assert gateway.balance(placed.payment_id or "").capturable == twd(0)
    assert shop.figures(placed.order_id).secured == twd(0)


def test_saga_gives_back_every_tender_when_the_order_cannot_be_completed() -> None:
    def out_of_stock(order: Order) -> None:
        raise InvalidInput(f"no stock for {order.id}")

    shop, _, _ = funded(confirm=out_of_stock)
    placed = shop.place_order(place())
    assert (placed.outcome, placed.order_state) == ("compensated", "canceled")
    states = [p.state for p in shop.payments_of(placed.order_id)]
    assert states == ["refunded", "refunded", "voided"]
    assert shop.figures(placed.order_id).secured == twd(0)


@given(credit=st.integers(0, 1280), refund=st.integers(1, 1280))
def test_a_refund_is_spread_card_first_and_sums_exactly(credit: int, refund: int) -> None:
    shop, _, _ = funded()
    tenders = [tender("store_credit", credit)] if credit else []
    if credit < 1280:
        tenders.append(tender("card", 1280 - credit))
    placed = shop.place_order(place(tenders=tuple(tenders)))
    for p in shop.payments_of(placed.order_id):
        if p.method.value == "card":
            shop.capture_payment(
                CapturePayment(idempotency_key="c", payment_id=p.id, amount=p.amount)
            )
    shop.refund_order(
        RefundOrder(idempotency_key="r", order_id=placed.order_id, amount=twd(refund), reason="r")
    )
    refunded = {p.method.value: p.totals.refunded for p in shop.payments_of(placed.order_id)}
    assert shop.figures(placed.order_id).refunded == twd(refund)
    card_part = min(refund, 1280 - credit)  # the card gives back all it can first
    assert refunded.get("card", twd(0)) == twd(card_part)
    assert refunded.get("store_credit", twd(0)) == twd(refund - card_part)


# --- bank transfer (ATM virtual account) -------------------------------------------------------


def by_transfer(key: str = "t-1") -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=key,
        items={"TEE-M": 2},
        customer_id="c-1",
        ship_to=TAIPEI,
        service="home",
        coupon_codes=("SPRING10",),
        payment_method="bank_transfer",
        payment_token="fake-bank-transfer",
    )


def test_a_bank_transfer_gives_a_virtual_account_and_is_paid_by_the_funds_notification() -> None:
    shop, gateway, _ = make_shop()
    placed = shop.place_order(by_transfer())
    assert (placed.outcome, placed.payment_state, placed.order_state) == (
        "requires_action",
        "requires_action",
        "pending_payment",
    )
    # the fake keeps the account open 3 days from placement
    assert placed.deadline == AT + timedelta(days=3)
    assert placed.virtual_account is not None
    assert placed.payment_id is not None
    action = shop.payment(placed.payment_id).action
    assert action is not None
    assert (action.reference, action.deadline) == (placed.virtual_account, placed.deadline)
    assert shop.coupon_usage().uses_of("SPRING10") == 1  # reserved
    gateway.complete_action(placed.virtual_account)  # the customer pays at an ATM
    outcomes = [shop.apply_notification(n).outcome for n in gateway.take_notifications()]
    assert "applied" in outcomes
    assert shop.order(placed.order_id).state == "awaiting_fulfilment"
    # (1180 - 118) + 100 = 1162 arrived
    assert shop.figures(placed.order_id).secured == twd(1162)
    # paid before the deadline: expiry finds nothing to do
    assert shop.expire_payments(ExpirePayments(now=AT + timedelta(days=4))) == ()
    assert shop.coupon_usage().uses_of("SPRING10") == 1  # now a use


def test_an_unpaid_bank_transfer_expires_cancels_the_order_and_frees_the_coupon() -> None:
    shop, _, _ = make_shop()
    placed = shop.place_order(by_transfer())
    assert placed.payment_id is not None
    # not yet overdue: nothing happens
    assert shop.expire_payments(ExpirePayments(now=AT + timedelta(days=3))) == ()
    assert shop.payment(placed.payment_id).state == "requires_action"
    (expired,) = shop.expire_payments(ExpirePayments(now=AT + timedelta(days=3, seconds=1)))
    assert (expired.outcome, expired.payment_state, expired.order_state) == (
        "expired",
        "expired",
        "canceled",
    )
    assert shop.coupon_usage().uses_of("SPRING10") == 0
    rows = dict(shop.store.rows)
    assert shop.expire_payments(ExpirePayments(now=AT + timedelta(days=5))) == ()
    assert shop.store.rows == rows
    with pytest.raises(InvalidInput, match="now"):
        ExpirePayments(now=datetime(2026, 11, 25))  # naive: refused


def test_funds_arriving_after_the_shop_expired_the_transfer_are_given_back() -> None:
    shop, gateway, clock = make_shop()
    placed = shop.place_order(by_transfer())
    assert placed.payment_id is not None
    assert placed.virtual_account is not None
    shop.expire_payments(ExpirePayments(now=AT + timedelta(days=3, seconds=1)))
    # the provider still took the transfer (its own clock had not yet passed the deadline)
    gateway.complete_action(placed.virtual_account)
    notices = [n for n in gateway.take_notifications() if n.kind is NotificationKind.AUTHORIZED]
    assert gateway.balance(placed.payment_id).capturable == twd(1162)
    assert shop.apply_notification(notices[0]).outcome == "compensated"
    assert gateway.balance(placed.payment_id).capturable == twd(0)
    assert clock.now() == AT
