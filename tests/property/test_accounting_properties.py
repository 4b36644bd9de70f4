"""Whatever the shop does to orders and payments, its ledger balances and agrees with them."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.adapters.fakes import FixedClock
from fourflows.app.accounting import (
    RecordCodRemittance,
    RecordGatewayFee,
    authorization_id,
    reconcile_shop,
)
from fourflows.app.checkout import CancelOrder, CapturePayment, PlaceOrder, RefundPayment
from fourflows.app.shop import Shop
from fourflows.cash.ledger import Side
from fourflows.errors import FourFlowsError
from ledger import TAIPEI, ledger, shop_with_ledger

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)

_place = st.tuples(
    st.just("place"), st.integers(1, 3), st.sampled_from(["card", "cash_on_delivery"])
)
_act = st.tuples(
    st.sampled_from(["capture", "refund", "cancel", "remit", "fee"]),
    st.integers(0, 2),  # which order (modulo the orders placed)
    st.integers(1, 100),  # percent of what is left to capture or refund
)
OPERATIONS = st.lists(st.one_of(_place, _act, _act), min_size=1, max_size=16)  # acts twice as often


def _part(left: Money, percent: int) -> Money:
    """``percent`` of ``left`` in whole dollars, at least 1."""
    whole = (left.amount * percent / 100).quantize(Decimal(1))
    return Money(max(whole, Decimal(1)), left.currency)


def _run(shop: Shop, step: int, operation: tuple[str, int, object]) -> None:
    kind, first, second = operation
    key = f"op-{step}"
    if kind == "place":
        shop.place_order(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": first},
                ship_to=TAIPEI,
                service="home",
                payment_method=second,
            )
        )
        return
    orders = _orders(shop)
    if not orders:
        return
    order_id = orders[first % len(orders)]
    (payment,) = shop.payments_of(order_id)
    assert isinstance(second, int)
    if kind == "capture":
        shop.capture_payment(
            CapturePayment(
                idempotency_key=key,
                payment_id=payment.id,
                amount=_part(payment.capturable, second),
            )
        )
    elif kind == "refund":
        shop.refund_payment(
            RefundPayment(
                idempotency_key=key,
                payment_id=payment.id,
                amount=_part(payment.refundable, second),
                reason="returned",
            )
        )
    elif kind == "cancel":
        shop.cancel_order(CancelOrder(idempotency_key=key, order_id=order_id, reason="canceled"))
    elif kind == "remit":
        for capture_id in payment.captures:
            shop.handle(
                RecordCodRemittance(
                    payment_id=payment.id,
                    capture_id=capture_id,
                    remittance_ref=key,
                    collection_fee=Money(second % 10, "TWD"),
                )
            )
    else:
        shop.handle(
            RecordGatewayFee(
                idempotency_key=key, payment_id=payment.id, amount=Money(second, "TWD")
            )
        )


def _orders(shop: Shop) -> list[str]:
    found = []
    for number in range(1, 20):
        order_id = f"order-{number:04d}"
        try:
            shop.order(order_id)
        except FourFlowsError:
            break
        found.append(order_id)
    return found


@given(OPERATIONS)
def test_the_ledger_balances_and_reconciles_after_any_operations(
    operations: list[tuple[str, int, object]],
) -> None:
    shop = shop_with_ledger(FixedClock(AT))
    for step, operation in enumerate(operations):
        with suppress(FourFlowsError):  # refused (nothing left, already canceled): no change
            _run(shop, step, operation)
    book = ledger(shop)
    assert shop.store.outbox.unsettled() == ()  # no posting policy failed
    for entry in book.entries:
        for code in entry.currencies:
            debits = sum(
                (line.amount.amount for line in entry.lines if line.side is Side.DEBIT),
                Decimal(0),
            )
            credits = sum(
                (line.amount.amount for line in entry.lines if line.side is Side.CREDIT),
                Decimal(0),
            )
            assert debits == credits, (entry.id, code)
    assert book.trial_balance().is_balanced
    with shop.store.unit_of_work() as uow:
        assert reconcile_shop(uow) == ()
    for order_id in _orders(shop):
        order = shop.order(order_id)
        captured = sum((p.totals.captured.amount for p in shop.payments_of(order_id)), Decimal(0))
        owed = book.balance("customer_receivable", "TWD", order_id=order_id)
        if order.state == "canceled":
            assert owed.amount == 0  # the sale undone, or all of it captured and refunded
        else:
            # the sale, less what was captured (an order never paid has no sale and no capture)
            assert owed.amount == order.totals.total.amount - captured
        (payment,) = shop.payments_of(order_id)
        if payment.method.value == "card":  # held while something can still be captured
            open_ = (payment.capturable + payment.totals.capture_pending).amount > 0
            assert (book.settlement(authorization_id(payment.id)) is None) == open_
        remitted = payment.totals.remitted
        assert book.balance("cod_in_transit", "TWD", order_id=order_id).amount == (
            captured - remitted.amount if order.payment_plan.value == "cash_on_delivery" else 0
        )
