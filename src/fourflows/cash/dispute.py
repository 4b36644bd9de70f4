"""Disputes (chargebacks): a customer's bank contests money a payment captured.

A dispute is opened against a payment for an amount of what it captured and
did not refund. The shop then has until ``respond_by`` to answer:

* ``submit_evidence``: ``needs_response`` → ``under_review``; the bank decides,
  and the dispute is ``won`` (the shop keeps the money) or ``lost`` (the
  disputed amount is taken back);
* ``accept``: the shop does not contest it: ``needs_response`` → ``lost``;
* ``miss_deadline``: ``respond_by`` passed with no answer: ``needs_response``
  → ``lost``.

Every event carries the payment, the order and the disputed ``amount``, and
the two outcomes say what they do to the money: `DisputeWon` has ``kept``,
`DisputeLost` has ``taken_back`` (the disputed amount), so the order and the
ledger react without a lookup.

Like the payment, the dispute is pure domain: the provider's notifications
are applied by the application; a repeated one changes nothing and returns
``None``. The moves judged by the deadline are judged by their ``at``, which
the kernel hands to the guards. Bad values raise `InvalidInput` (a dispute
above what the payment can have disputed, too), a move the state does not
allow `InvalidTransition`, and a deadline rule `GuardRejected`, naming
``respond_by`` and the time of the move.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from fourflows.aggregates import Aggregate
from fourflows.cash.payment import Payment
from fourflows.errors import CurrencyMismatch, InvalidInput
from fourflows.events import DomainEvent, Flow, domain_event, require_aware
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money

__all__ = [
    "DISPUTE_MACHINE",
    "Dispute",
    "DisputeEvent",
    "DisputeEvidenceSubmitted",
    "DisputeLost",
    "DisputeOpened",
    "DisputeWon",
]


@attrs.frozen(kw_only=True)
class DisputeEvent(DomainEvent):
    """The base of a dispute's events: the payment, its order and the disputed amount."""

    payment_id: str
    order_id: str
    amount: Money


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class DisputeOpened(DisputeEvent):
    """The customer's bank disputes ``amount``; the shop must answer by ``respond_by``."""

    reason: str
    respond_by: datetime


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class DisputeEvidenceSubmitted(DisputeEvent):
    """The shop answered the dispute with ``evidence``; the bank is reviewing it."""

    evidence: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class DisputeWon(DisputeEvent):
    """The bank ruled for the shop: it keeps ``kept`` (the disputed amount)."""

    kept: Money


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class DisputeLost(DisputeEvent):
    """The dispute was lost: ``taken_back`` (the disputed amount) goes back to the customer.

    Recorded by all three ways of losing: the bank's ruling, the shop's
    acceptance, and a missed deadline (its ``occurred_at`` is when that was noticed).
    """

    taken_back: Money
    reason: str


def _before_deadline(dispute: Dispute, _: Mapping[str, Any], at: datetime) -> bool | str:
    if isinstance(at, datetime) and at < dispute.respond_by:
        return True
    return f"respond_by was {dispute.respond_by.isoformat()}, evidence came at {_when(at)}"


def _deadline_passed(dispute: Dispute, _: Mapping[str, Any], at: datetime) -> bool | str:
    if isinstance(at, datetime) and at >= dispute.respond_by:
        return True
    return f"respond_by is {dispute.respond_by.isoformat()}, it is {_when(at)}"


def _when(at: object) -> str:
    return at.isoformat() if isinstance(at, datetime) else "not given"


_IN_TIME = Guard("before_deadline", _before_deadline, "the answer comes before respond_by")
_TOO_LATE = Guard("deadline_passed", _deadline_passed, "respond_by has passed")

DISPUTE_MACHINE: StateMachine[Dispute] = register_machine(
    StateMachine(
        MachineSpec(
            name="dispute",
            description="A chargeback: answered with evidence and won or lost, or accepted.",
            states=("needs_response", "under_review", "won", "lost"),
            initial="needs_response",
            final=("won", "lost"),
            created=DisputeOpened,
            transitions=(
                Transition(
                    "submit_evidence",
                    "needs_response",
                    "under_review",
                    DisputeEvidenceSubmitted,
                    (_IN_TIME,),
                ),
                Transition("win", "under_review", "won", DisputeWon),
                Transition("lose", "under_review", "lost", DisputeLost),
                Transition("accept", "needs_response", "lost", DisputeLost),
                Transition("miss_deadline", "needs_response", "lost", DisputeLost, (_TOO_LATE,)),
            ),
        )
    )
)


def _text(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a dispute needs a non-empty {what}, not {value!r}")
    return value


@attrs.define(kw_only=True, eq=False)
class Dispute(Aggregate):
    """A chargeback of ``amount`` on one payment, with its own small lifecycle."""

    machine: ClassVar[StateMachine[Any]] = DISPUTE_MACHINE

    _payment_id: str = attrs.field(alias="payment_id")
    _order_id: str = attrs.field(alias="order_id")
    _amount: Money = attrs.field(alias="amount")
    _reason: str = attrs.field(alias="reason")
    _respond_by: datetime = attrs.field(alias="respond_by")
    _evidence: str | None = attrs.field(alias="evidence", default=None)
    _outcome: str | None = attrs.field(alias="outcome", default=None)

    @property
    def payment_id(self) -> str:
        """The disputed payment."""
        return self._payment_id

    @property
    def order_id(self) -> str:
        """The order the disputed payment is for."""
        return self._order_id

    @property
    def amount(self) -> Money:
        """The disputed amount."""
        return self._amount

    @property
    def reason(self) -> str:
        """The bank's reason, e.g. ``'fraudulent'`` or ``'product_not_received'``."""
        return self._reason

    @property
    def respond_by(self) -> datetime:
        """The last moment the shop can submit evidence."""
        return self._respond_by

    @property
    def evidence(self) -> str | None:
        """What the shop answered with, once it did."""
        return self._evidence

    @property
    def outcome(self) -> str | None:
        """Why the dispute ended as it did (the bank's ruling, or the shop's acceptance)."""
        return self._outcome

    @property
    def taken_back(self) -> Money:
        """What the dispute took back from the shop: the amount once lost, else zero."""
        return self._amount if self.state == "lost" else Money.zero(self._amount.currency)

    @classmethod
    def open(
        cls,
        *,
        id: str,
        payment: Payment,
        amount: Money,
        reason: str,
        respond_by: datetime,
        at: datetime,
    ) -> Dispute:
        """Open a dispute of ``amount`` on ``payment``: at most captured − refunded."""
        require_aware(at, "at")
        require_aware(respond_by, "respond_by")
        _text("id", id)
        _text("reason", reason)
        if not isinstance(payment, Payment):
            raise InvalidInput(f"a dispute is opened on a Payment, not {payment!r}")
        if not isinstance(amount, Money):
            raise InvalidInput(f"a dispute amount must be Money, not {amount!r}")
        if amount.currency != payment.amount.currency:
            raise CurrencyMismatch(payment.currency, amount.code, f"dispute {amount.amount}")
        if amount.amount <= 0:
            raise InvalidInput(f"a dispute amount must be positive, not {amount}")
        totals = payment.totals
        disputable = totals.captured - totals.refunded
        if amount > disputable:
            raise InvalidInput(
                f"a dispute of {amount} is more than the {disputable} payment {payment.id!r} "
                f"holds (captured {totals.captured}, refunded {totals.refunded})"
            )
        if respond_by <= at:
            raise InvalidInput(
                f"respond_by {respond_by.isoformat()} must be after at {at.isoformat()}"
            )
        dispute = cls(
            id=id,
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=amount,
            reason=reason,
            respond_by=respond_by,
        )
        dispute._start(at=at, **dispute._facts(), reason=reason, respond_by=respond_by)
        return dispute

    def submit_evidence(self, *, evidence: str, at: datetime) -> DomainEvent | None:
        """Answer the dispute before `respond_by`; the bank then reviews it."""
        require_aware(at, "at")
        _text("evidence", evidence)
        if self.state == "under_review" and self._evidence == evidence:
            return None
        event = self._fire("submit_evidence", at=at, **self._facts(), evidence=evidence)
        self._evidence = evidence
        return event

    def win(self, *, at: datetime) -> DomainEvent | None:
        """The bank ruled for the shop: the money stays."""
        require_aware(at, "at")
        if self.state == "won":
            return None
        event = self._fire("win", at=at, **self._facts(), kept=self._amount)
        self._outcome = "won"
        return event

    def lose(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The bank ruled for the customer: the disputed amount is taken back."""
        return self._end("lose", reason, at)

    def accept(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The shop does not contest the dispute: the disputed amount is taken back."""
        return self._end("accept", reason, at)

    def miss_deadline(self, *, at: datetime) -> DomainEvent | None:
        """`respond_by` passed without an answer: the dispute is lost."""
        require_aware(at, "at")
        return self._end("miss_deadline", "no response by the deadline", at)

    def _end(self, event: str, reason: str, at: datetime) -> DomainEvent | None:
        require_aware(at, "at")
        _text("reason", reason)
        if self.state == "lost" and self._outcome == reason:
            return None
        recorded = self._fire(event, at=at, **self._facts(), taken_back=self._amount, reason=reason)
        self._outcome = reason
        return recorded

    def _facts(self) -> dict[str, Any]:
        return {"payment_id": self._payment_id, "order_id": self._order_id, "amount": self._amount}
