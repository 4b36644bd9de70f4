"""Random checkouts through the Shop, with gateway notifications delivered late, twice or reversed.

After every step: no payment has refunded (or is refunding) more than it captured; the
order's payment figures are the sums of its payments, a payment status never says unpaid
or authorized once money was captured, and a prepaid order awaiting fulfilment is covered
unless the shop gave money back; every move recorded exactly one event, numbered without
gaps; a refused command changes nothing; and repeating an earlier command returns its
first result and changes nothing.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fourflows import FourFlowsError, Money
from fourflows.adapters.fake_gateway import FakeGateway
from fourflows.adapters.fakes import FixedClock, SequentialIds
from fourflows.adapters.memory import RecordingPublisher
from fourflows.app.checkout import (
    AuthorizePayment,
    BalanceResult,
    CancelOrder,
    CapturePayment,
    ExpirePayments,
    IssueStoreCredit,
    LoadGiftCard,
    PlaceOrder,
    RefundOrder,
    RefundPayment,
)
from fourflows.app.commands import Command
from fourflows.app.shop import Shop
from fourflows.cash.balances import StoredValueAccount
from fourflows.commerce.catalog import Catalog, Product
from fourflows.commerce.order import PaymentStatus
from fourflows.logistics.shipping import ShippingTable
from fourflows.tax import TaxTable

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
TEE = Product(
    sku="TEE-M", name="T-shirt", price=Money("590", "TWD"), weight_g=200, size_cm=(30, 20, 3)
)
TOKENS = (
    "fake-card-approve",
    "fake-card-declined",
    "fake-card-3ds",
    "fake-card-timeout",
    "fake-card-late-success",
    "fake-card-async",
    "fake-wallet",
    "fake-card-duplicate-notifications",
    "fake-card-out-of-order",
    "fake-bank-transfer",
)
KEYS = st.sampled_from([f"k-{n}" for n in range(6)])


def _state(shop: Shop) -> tuple[Any, ...]:
    rows = {key: (row.state, row.version) for key, row in shop.store.rows.items()}
    records = {key: version for key, (version, _) in shop.store.records.items()}
    return rows, records


class ShopMachine(RuleBasedStateMachine):
    """Commands and notifications in any order against one shop."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(AT)
        self.gateway = FakeGateway(self.clock)
        self.log = RecordingPublisher()
        self.shop = Shop.in_memory(
            catalog=Catalog([TEE]),
            tax=TaxTable.preset("TW"),
            shipping=ShippingTable.example_taiwan(),
            gateway=self.gateway,
            clock=self.clock,
            ids=SequentialIds(),
            publishers={"log": self.log},
        )
        self.orders: list[str] = []
        self.payments: list[str] = []
        self.sent: list[tuple[Command, Any]] = []
        self.loads: dict[str, Money] = {}  # idempotency key -> amount loaded
        for command in (
            IssueStoreCredit(
                idempotency_key="init-credit",
                customer_id="c-1",
                amount=Money(900, "TWD"),
                reason="r",
            ),
            LoadGiftCard(idempotency_key="init-gift", code="GC", amount=Money(2, "TWD")),
        ):
            self._send(command)

    def _send(self, command: Command) -> None:
        before = _state(self.shop)
        try:
            result = self.shop.handle(command)
        except FourFlowsError:
            assert _state(self.shop) == before, f"{command!r} failed but changed the store"
            return
        if isinstance(result, BalanceResult):
            assert isinstance(command, IssueStoreCredit | LoadGiftCard)
            self.loads.setdefault(command.idempotency_key, command.amount)
            self.sent.append((command, result))
            return
        for payment_id in [p.id for p in self.shop.payments_of(result.order_id)]:
            if payment_id not in self.payments:  # every tender of a split order
                self.payments.append(payment_id)
        self.sent.append((command, result))
        if result.order_id not in self.orders:
            self.orders.append(result.order_id)
        if result.payment_id is not None and result.payment_id not in self.payments:
            self.payments.append(result.payment_id)

    @rule(
        key=KEYS,
        token=st.sampled_from(TOKENS),
        quantity=st.integers(1, 3),
        cod=st.booleans(),
    )
    def place(self, key: str, token: str, quantity: int, cod: bool) -> None:
        self._send(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": quantity},
                ship_to={"country": "TW", "city": "Taipei", "postal_code": "106"},
                payment_method=(
                    "cash_on_delivery"
                    if cod
                    else "bank_transfer"
                    if token == "fake-bank-transfer"
                    else "card"
                ),
                payment_token=token,
            )
        )

    @rule(
        key=KEYS,
        token=st.sampled_from(TOKENS[:-1]),
        second=st.sampled_from([None, *TOKENS[:-1]]),
        quantity=st.integers(1, 3),
        credit=st.integers(1, 589),
        gift=st.sampled_from([0, 1]),
        off=st.sampled_from([0, 0, 0, 1]),
    )
    def place_split(
        self,
        key: str,
        token: str,
        second: str | None,
        quantity: int,
        credit: int,
        gift: int,
        off: int,
    ) -> None:
        # the order is 590 per T-shirt (no shipping service); ``off`` makes the sum wrong;
        # ``second`` splits the card's part over two gateway tenders
        card = 590 * quantity - credit - gift + off
        parts = (
            [(token, card)] if second is None else [(token, card // 2), (second, card - card // 2)]
        )
        tenders: list[dict[str, Any]] = [
            {"method": "store_credit", "amount": Money(credit, "TWD")},
            *(
                {"method": "card", "amount": Money(amount, "TWD"), "token": each}
                for each, amount in parts
            ),
        ]
        if gift:
            tenders.append({"method": "gift_card", "amount": Money(gift, "TWD"), "account": "GC"})
        self._send(
            PlaceOrder(
                idempotency_key=key,
                items={"TEE-M": quantity},
                customer_id="c-1",
                ship_to={"country": "TW", "city": "Taipei", "postal_code": "106"},
                tenders=tenders,
            )
        )

    @rule(key=KEYS, amount=st.integers(1, 600), gift=st.booleans())
    def top_up(self, key: str, amount: int, gift: bool) -> None:
        money = Money(amount, "TWD")
        self._send(
            LoadGiftCard(idempotency_key=key, code="GC", amount=money)
            if gift
            else IssueStoreCredit(idempotency_key=key, customer_id="c-1", amount=money, reason="r")
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), key=KEYS, amount=st.integers(1, 2000))
    def refund_order(self, data: st.DataObject, key: str, amount: int) -> None:
        order = data.draw(st.sampled_from(self.orders))
        self._send(
            RefundOrder(
                idempotency_key=key, order_id=order, amount=Money(amount, "TWD"), reason="r"
            )
        )

    @rule(days=st.integers(1, 4))
    def transfers_expire(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        before = [self.shop.payment(p).state for p in self.payments]
        expired = self.shop.expire_payments(ExpirePayments(now=self.clock.now()))
        after = [self.shop.payment(p).state for p in self.payments]
        # exactly the reported payments moved, each to expired
        moved = [p for p, b, a in zip(self.payments, before, after, strict=True) if b != a]
        assert moved == [r.payment_id for r in expired]
        assert all(r.payment_state == "expired" for r in expired)

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), key=KEYS, amount=st.integers(1, 2000))
    def capture(self, data: st.DataObject, key: str, amount: int) -> None:
        payment = data.draw(st.sampled_from(self.payments))
        self._send(
            CapturePayment(idempotency_key=key, payment_id=payment, amount=Money(amount, "TWD"))
        )

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), cancel=st.booleans())
    def capture_half(self, data: st.DataObject, cancel: bool) -> None:
        # a partial capture that fits, under fresh keys; with fake-card-async it is confirmed
        # only later, so a cancel right after it races the capture
        payment = self.shop.payment(data.draw(st.sampled_from(self.payments)))
        half = Money(max(1, int(payment.amount.amount) // 2), "TWD")
        fresh = f"half-{len(self.sent)}"
        self._send(CapturePayment(idempotency_key=fresh, payment_id=payment.id, amount=half))
        if cancel:
            order = payment.order_id
            self._send(CancelOrder(idempotency_key=f"{fresh}-x", order_id=order, reason="r"))

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), key=KEYS, amount=st.integers(1, 2000))
    def refund(self, data: st.DataObject, key: str, amount: int) -> None:
        payment = data.draw(st.sampled_from(self.payments))
        self._send(
            RefundPayment(
                idempotency_key=key, payment_id=payment, amount=Money(amount, "TWD"), reason="r"
            )
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), key=KEYS)
    def cancel(self, data: st.DataObject, key: str) -> None:
        order = data.draw(st.sampled_from(self.orders))
        self._send(CancelOrder(idempotency_key=key, order_id=order, reason="changed mind"))

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), key=KEYS)
    def reconcile(self, data: st.DataObject, key: str) -> None:
        payment = data.draw(st.sampled_from(self.payments))
        self._send(AuthorizePayment(idempotency_key=key, payment_id=payment))

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), succeeded=st.booleans())
    def customer_acts(self, data: st.DataObject, succeeded: bool) -> None:
        action = self.shop.payment(data.draw(st.sampled_from(self.payments))).action
        if action is not None:
            with contextlib.suppress(FourFlowsError):  # the action may be over
                self.gateway.complete_action(action.reference, succeeded=succeeded)

    @rule(reverse=st.booleans(), twice=st.booleans())
    def notifications_arrive(self, reverse: bool, twice: bool) -> None:
        self.clock.advance(timedelta(minutes=1))
        notices = self.gateway.take_notifications()
        if reverse:
            notices.reverse()
        for notice in notices * (2 if twice else 1):
            self.shop.apply_notification(notice)

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def repeat(self, data: st.DataObject) -> None:
        command, result = data.draw(st.sampled_from(self.sent))
        before = _state(self.shop)
        assert self.shop.handle(command) == result
        assert _state(self.shop) == before

    @invariant()
    def one_event_per_move(self) -> None:
        sequences: dict[str, list[int]] = {}
        for event in self.log.events:
            sequences.setdefault(event.aggregate_id, []).append(event.sequence)
        for key, row in self.shop.store.rows.items():
            # versions 1..n, each recorded once, in order, and nothing else
            assert sequences.pop(key[1], []) == list(range(1, row.version + 1))
        assert sequences == {}

    @invariant()
    def refunded_never_above_captured(self) -> None:
        for payment_id in self.payments:
            totals = self.shop.payment(payment_id).totals
            assert totals.refunded + totals.refund_pending <= totals.captured

    @invariant()
    def a_canceled_or_failed_order_holds_no_money(self) -> None:
        for order_id in self.orders:
            order = self.shop.order(order_id)
            # canceled, or held before payment because one of its tenders failed
            if order.state != "canceled" and not (
                order.state == "on_hold" and order.awaiting_payment
            ):
                continue
            for payment in self.shop.payments_of(order_id):
                if payment.state in ("needs_reconciliation", "void_requested"):
                    continue  # the provider's answer is still awaited
                # nothing held, and all captured money refunded or being refunded
                assert payment.capturable.amount == 0, payment.id
                totals = payment.totals
                failed = any(r.status.value == "failed" for r in payment.refunds.values())
                assert failed or totals.refunded + totals.refund_pending == totals.captured

    @invariant()
    def balances_agree_with_their_payments(self) -> None:
        accounts: dict[str, StoredValueAccount] = {}
        for (namespace, key), (_, value) in self.shop.store.records.items():
            if namespace == "stored-value":
                assert isinstance(value, StoredValueAccount)
                accounts[key] = value
        drawn = {key: Money(0, "TWD") for key in accounts}
        for (namespace, payment_id), (_, account) in self.shop.store.records.items():
            if namespace == "tender-account":
                assert isinstance(account, str)
                totals = self.shop.payment(payment_id).totals
                drawn[account] = drawn[account] + totals.captured - totals.refunded
        # every load that succeeded is on an account, once
        loaded = sum((a.loaded.amount for a in accounts.values()), Decimal(0))
        assert loaded == sum((amount.amount for amount in self.loads.values()), Decimal(0))
        for key, account in accounts.items():
            # never below zero, and what left it is exactly what its payments still hold
            assert account.balance.amount >= 0
            assert account.spent - account.restored == drawn[key], key

    @invariant()
    def order_status_agrees_with_payments(self) -> None:
        for order_id in self.orders:
            order = self.shop.order(order_id)
            figures = self.shop.figures(order_id)
            status = order.payment_status(figures)
            captured = sum(p.totals.captured.amount for p in self.shop.payments_of(order_id))
            assert figures.captured.amount == captured
            if captured > 0:
                assert status not in (PaymentStatus.UNPAID, PaymentStatus.AUTHORIZED)
            unreturned = figures.returned.amount == 0
            if order.state == "awaiting_fulfilment" and order.payment_plan.value == "prepaid":
                # paid means covered, until the shop itself gives money back
                assert figures.secured >= order.totals.total or not unreturned


TestShopMachine = ShopMachine.TestCase
_PROFILE = settings()
TestShopMachine.settings = settings(
    _PROFILE, max_examples=min(_PROFILE.max_examples, 30), stateful_step_count=20
)
