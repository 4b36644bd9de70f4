"""Properties of the ledger over random histories of payments, refunds, COD and store credit.

`LedgerBook` keeps real `Payment` aggregates beside one ledger and posts what
each payment event says (`payment_event_entry`). After every step: each entry
balances per currency (recounted here, not trusted), the trial balance
balances, the ledger reconciles with the payments, refunded never exceeds
captured, and the store-credit liability is never below zero. A step that
must fail (an unbalanced entry, an unknown account, store credit spent
beyond what was issued, a conflicting repost) raises and changes nothing.
"""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from fourflows.cash.ledger import (
    CASH,
    COD_IN_TRANSIT,
    CUSTOMER_COMPENSATION,
    REFUNDS,
    SALES_REVENUE,
    STORE_CREDIT_LIABILITY,
    JournalEntry,
    JournalLine,
    Ledger,
    Side,
    UnbalancedEntry,
    UnknownAccount,
    authorization_hold,
    capture_entry,
    payment_event_entry,
    reconcile,
    sale_entry,
    store_credit_issued_entry,
)
from fourflows.cash.payment import Payment, PaymentMethod
from fourflows.errors import IdempotencyConflict, InsufficientBalance
from fourflows.events import DomainEvent
from fourflows.money import Money

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
METHODS = [
    PaymentMethod.CARD,
    PaymentMethod.CASH_ON_DELIVERY,
    PaymentMethod.STORE_CREDIT,
    PaymentMethod.BANK_TRANSFER,
]

cents = st.integers(min_value=1, max_value=500_000)


def twd_cents(value: int) -> Money:
    return Money.from_minor_units(value, "TWD")


def state_of(ledger: Ledger) -> tuple[object, ...]:
    """Everything a user can read of a ledger."""
    return (
        ledger.entries,
        ledger.pending_entries(),
        ledger.trial_balance(),
        ledger.balance(STORE_CREDIT_LIABILITY, "TWD"),
    )


class LedgerBook(RuleBasedStateMachine):
    """One ledger and the payments whose events it posts."""

    payments = Bundle("payments")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger.open()
        self.live: dict[str, Payment] = {}
        self.count = 0
        self.now = START
        self.last: JournalEntry | None = None

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def next_id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}-{self.count}"

    def post_events(self, payment: Payment, events: list[DomainEvent | None]) -> None:
        """Post the entries of ``events`` all or none; keep ``payment`` only if they posted."""
        entries = [
            entry
            for event in events
            if event is not None
            for entry in [payment_event_entry(event, method=payment.method)]
            if entry is not None
        ]
        before = state_of(self.ledger)
        try:
            after = self.ledger.post_all(entries)
        except InsufficientBalance:
            # Only spending store credit that was never issued may be refused.
            assert payment.method is PaymentMethod.STORE_CREDIT
            assert state_of(self.ledger) == before
            return
        self.ledger = after
        self.live[payment.id] = payment
        if entries:
            self.last = entries[-1]

    @rule(target=payments, method=st.sampled_from(METHODS), amount=cents)
    def sell(self, method: PaymentMethod, amount: int) -> str:
        order_id, payment_id = self.next_id("o"), self.next_id("p")
        at = self.tick()
        total = twd_cents(amount)
        self.ledger = self.ledger.post(
            sale_entry(id=f"{order_id}/sale", at=at, order_id=order_id, goods=total)
        )
        payment = Payment.create(
            id=payment_id, order_id=order_id, method=method, amount=total, at=at
        )
        if method in (PaymentMethod.CARD, PaymentMethod.CASH_ON_DELIVERY):
            payment.authorize(amount=total, at=at)
            self.ledger = self.ledger.hold(
                authorization_hold(
                    id=f"{payment_id}/auth",
                    at=at,
                    order_id=order_id,
                    payment_id=payment_id,
                    method=method,
                    amount=total,
                )
            )
        self.live[payment_id] = payment
        return payment_id

    @rule(payment_id=payments, share=st.integers(min_value=1, max_value=100))
    def capture(self, payment_id: str, share: int) -> None:
        payment = copy.deepcopy(self.live[payment_id])
        capturable = payment.totals.capturable
        if payment.state not in ("pending", "authorized", "partially_captured"):
            return
        if payment.state == "pending":
            capturable = payment.amount
        units = capturable.get_amount_in_sub_unit() * share // 100
        if units <= 0:
            return
        event = payment.capture_succeeded(
            capture_id=self.next_id("c"), amount=twd_cents(units), at=self.tick()
        )
        self.post_events(payment, [event])

    @rule(payment_id=payments, share=st.integers(min_value=1, max_value=100))
    def refund(self, payment_id: str, share: int) -> None:
        payment = copy.deepcopy(self.live[payment_id])
        units = payment.totals.refundable.get_amount_in_sub_unit() * share // 100
        if units <= 0 or payment.is_final:
            return
        refund_id, at = self.next_id("r"), self.tick()
        requested = payment.request_refund(refund_id=refund_id, amount=twd_cents(units), at=at)
        refunded = payment.refund_succeeded(refund_id=refund_id, at=at)
        self.post_events(payment, [requested, refunded])

    @rule(payment_id=payments)
    def remit(self, payment_id: str) -> None:
        payment = copy.deepcopy(self.live[payment_id])
        if payment.method is not PaymentMethod.CASH_ON_DELIVERY or payment.is_final:
            return
        waiting = [key for key, c in payment.captures.items() if c.remittance_ref is None]
        if not waiting:
            return
        event = payment.record_remittance(
            capture_id=waiting[0], remittance_ref=self.next_id("rem"), at=self.tick()
        )
        self.post_events(payment, [event])

    @rule(payment_id=payments)
    def close_authorisation(self, payment_id: str) -> None:
        # Captures post their own entries, so a hold is released when its authorisation closes.
        hold_id = f"{payment_id}/auth"
        if hold_id not in {entry.id for entry in self.ledger.pending_entries()}:
            return
        before = self.ledger.trial_balance()
        self.ledger = self.ledger.void_pending(hold_id, at=self.tick())
        assert self.ledger.trial_balance() == before
        assert hold_id not in {entry.id for entry in self.ledger.pending_entries()}
        assert self.ledger.void_pending(hold_id, at=self.tick()) is self.ledger

    @rule(amount=cents)
    def issue_store_credit(self, amount: int) -> None:
        self.ledger = self.ledger.post(
            store_credit_issued_entry(
                id=self.next_id("sc"),
                at=self.tick(),
                amount=twd_cents(amount),
                debit_account=CUSTOMER_COMPENSATION,
            )
        )

    @rule(payment_id=payments)
    def redeliver_last(self, payment_id: str) -> None:
        if self.last is not None:
            assert self.ledger.post(self.last) is self.ledger

    @rule(amount=cents, kind=st.sampled_from(["unbalanced", "unknown", "conflict", "overspend"]))
    def refused(self, amount: int, kind: str) -> None:
        before = state_of(self.ledger)
        money, at, ledger = twd_cents(amount), self.tick(), self.ledger
        if kind == "conflict" and not ledger.entries:
            kind = "overspend"

        def unbalanced() -> None:
            ledger.post(
                JournalEntry(
                    id=self.next_id("bad"),
                    at=at,
                    description="off by one cent",
                    lines=[
                        JournalLine.debit(CASH, money),
                        JournalLine.credit(SALES_REVENUE, money + twd_cents(1)),
                    ],
                )
            )

        def unknown() -> None:
            good = sale_entry(id=self.next_id("ok"), at=at, order_id="o-x", goods=money)
            bad = JournalEntry(
                id=self.next_id("bad"),
                at=at,
                description="to nowhere",
                lines=[JournalLine.debit("nowhere", money), JournalLine.credit(CASH, money)],
            )
            ledger.post_all([good, bad])

        def conflict() -> None:
            first = ledger.entries[0]
            ledger.post(sale_entry(id=first.id, at=at, order_id="o-x", goods=first.total() + money))

        def overspend() -> None:
            ledger.post(
                capture_entry(
                    id=self.next_id("spend"),
                    at=at,
                    order_id="o-x",
                    payment_id="p-x",
                    method=PaymentMethod.STORE_CREDIT,
                    amount=ledger.balance(STORE_CREDIT_LIABILITY, "TWD") + money,
                )
            )

        attempts = {
            "unbalanced": (unbalanced, UnbalancedEntry),
            "unknown": (unknown, UnknownAccount),
            "conflict": (conflict, IdempotencyConflict),
            "overspend": (overspend, InsufficientBalance),
        }
        attempt, expected = attempts[kind]
        with pytest.raises(expected):
            attempt()
        assert state_of(self.ledger) == before

    @invariant()
    def every_entry_balances_per_currency(self) -> None:
        for entry in self.ledger.entries:
            sums: dict[tuple[str, Side], Decimal] = {}
            for line in entry.lines:
                key = (line.amount.code, line.side)
                sums[key] = sums.get(key, Decimal(0)) + line.amount.amount
            for code in entry.currencies:
                assert sums.get((code, Side.DEBIT)) == sums.get((code, Side.CREDIT))

    @invariant()
    def the_trial_balance_balances(self) -> None:
        trial = self.ledger.trial_balance()
        assert trial.is_balanced
        # The running balances agree with a scan of the whole journal.
        assert trial == self.ledger.trial_balance(start=START)
        for code in trial.currencies:
            debits, credits = trial.totals(code)
            assert debits == credits

    @invariant()
    def the_ledger_reconciles_with_the_payments(self) -> None:
        totals = {payment_id: payment.totals for payment_id, payment in self.live.items()}
        assert reconcile(self.ledger, totals) == ()
        for payment in self.live.values():
            assert payment.totals.refunded <= payment.totals.captured

    @invariant()
    def owed_store_credit_is_never_negative(self) -> None:
        assert self.ledger.balance(STORE_CREDIT_LIABILITY, "TWD").amount >= 0

    @invariant()
    def cod_in_transit_is_what_carriers_still_hold(self) -> None:
        held = sum(
            (
                capture.amount
                for payment in self.live.values()
                if payment.method is PaymentMethod.CASH_ON_DELIVERY
                for capture in payment.captures.values()
                if capture.remittance_ref is None and capture.status.value == "succeeded"
            ),
            Money.zero("TWD"),
        )
        assert self.ledger.balance(COD_IN_TRANSIT, "TWD") == held

    @invariant()
    def refunds_equal_what_the_payments_refunded(self) -> None:
        refunded = sum(
            (payment.totals.refunded for payment in self.live.values()), Money.zero("TWD")
        )
        assert self.ledger.balance(REFUNDS, "TWD") == refunded


TestLedgerBook = LedgerBook.TestCase
_PROFILE = settings()
TestLedgerBook.settings = settings(_PROFILE, stateful_step_count=25)


@given(
    amounts=st.lists(cents, min_size=1, max_size=6),
    post=st.integers(min_value=1, max_value=100),
)
def test_a_partial_post_balances_and_releases_the_rest(amounts: list[int], post: int) -> None:
    total = sum(amounts)
    held = JournalEntry(
        id="h",
        at=START,
        description="split hold",
        lines=[
            JournalLine.debit(CASH, twd_cents(total)),
            *(JournalLine.credit(SALES_REVENUE, twd_cents(units)) for units in amounts),
        ],
    )
    units = max(1, total * post // 100)
    ledger = (
        Ledger.open()
        .hold(held)
        .post_pending("h", entry_id="h/1", at=START, amount=twd_cents(units))
    )
    posted = ledger.entry("h/1")
    assert posted.total() == twd_cents(units)
    settled = ledger.settlement("h")
    assert settled is not None
    released = settled.released[0] if settled.released else Money.zero("TWD")
    assert settled.posted[0] + released == twd_cents(total)
    assert ledger.trial_balance().is_balanced
