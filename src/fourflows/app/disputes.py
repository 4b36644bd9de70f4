"""Disputes (chargebacks) through the shop: the provider's notices, the shop's answers.

A customer's bank can contest money a payment captured. The provider tells
the shop by notification (``dispute_opened``, then ``dispute_won`` or
``dispute_lost``); the shop answers with evidence (`SubmitDisputeEvidence`),
gives in (`AcceptDispute`), or lets ``respond_by`` pass
(`MissDisputeDeadlines`). Each dispute is a `fourflows.cash.dispute.Dispute`
aggregate whose id is the provider's dispute id.

**The effect on the order.**

* *opened*: an order that still has units to ship (``pending_payment``,
  ``awaiting_fulfilment``, ``partially_shipped``) is put **on hold**: paid
  goods must not leave while their money is contested. An order already
  shipped, held for another reason, or canceled is left as it is.
* *won*: the money stays. The hold a dispute put on the order is released
  once every dispute of the order is closed and none was lost.
* *lost* (the bank's ruling, the shop's acceptance or a missed deadline): the
  disputed amount went back to the customer. The order's payment figures
  (`fourflows.app.checkout.payment_figures`) count it as refunded, the
  shop cannot refund it again, and the order stays on hold, for the shop to cancel
  it or ask for the money again before anything ships.

**Notifications** are applied once per ``notification_id``
(`ApplyDisputeNotification`, recorded in the same namespace and under the
same fingerprint as `fourflows.app.checkout.ApplyGatewayNotification`, so
either route applies a notice once). What the dispute already reflects
(``dispute_opened`` again under a new id, ``dispute_won`` for a won dispute)
changes nothing and answers ``unchanged``. A ``dispute_won`` or
``dispute_lost`` that arrives **before** its ``dispute_opened`` is kept for
later (outcome ``deferred``) and applied right after the opening, so the
result does not depend on the order of arrival. A ruling that contradicts
the dispute's end (``dispute_won`` for a lost dispute) is ``ignored``, with
the reason in the message, for a person to look at.

A provider's ruling may come while the dispute still awaits the shop's
answer: ``dispute_lost`` is then recorded as a missed deadline once
``respond_by`` passed, else as accepted (the money is gone either way);
``dispute_won`` (the cardholder withdrew) is recorded as an answer noting
that the provider closed it, then won.

A notice for a payment the shop does not know raises `NotFound`, and one
disputing more than the payment holds (captured − refunded − its other
disputes not won) raises `InvalidInput`. Both record nothing: the provider
delivers it again, and it applies once the shop's books catch up (a
``captured`` notification that was late).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

from pydantic import AwareDatetime, Field

from fourflows.app.checkout import (
    _ORDER_DISPUTES,
    ApplyGatewayNotification,
    Checkout,
    ShopResult,
    _dispute_ids,
    _records,
    _result,
    contested_amount,
    disputes_of,
)
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.cash.dispute import Dispute
from fourflows.cash.gateway import (
    DisputeEvidenceRequest,
    DisputeGateway,
    GatewayNotification,
    NotificationKind,
    NotificationPayload,
    PaymentGateway,
)
from fourflows.cash.payment import Payment
from fourflows.commerce.order import Order
from fourflows.errors import InvalidInput, NotFound
from fourflows.money import sum_money
from fourflows.ports import UnitOfWork

__all__ = [
    "AcceptDispute",
    "ApplyDisputeNotification",
    "Disputes",
    "MissDisputeDeadlines",
    "SubmitDisputeEvidence",
    "apply_dispute_notice",
    "contested_amount",
    "disputes_of",
]

_NOTIFICATIONS = "notification"  # the namespace checkout records notification ids in
_COMMANDS = "dispute-command"  # idempotency keys of the dispute commands
_AWAITING_ANSWER = "disputes-awaiting-answer"  # "open" → disputes in needs_response
_EARLY = "dispute-early-notices"  # dispute id → rulings that came before the opening
_HOLDS = "dispute-hold"  # order id → the hold reason a dispute put on it ("" when none)

_Key = Field(min_length=1, max_length=200)
_UNSHIPPED = ("pending_payment", "awaiting_fulfilment", "partially_shipped")


class ApplyDisputeNotification(Command):
    """A provider's dispute webhook as received: its raw ``body`` and ``headers``.

    The notification's own id is its idempotency key (shared with
    `fourflows.app.checkout.ApplyGatewayNotification`).
    """

    body: str = Field(min_length=2)
    headers: dict[str, str] = Field(default_factory=dict)


class SubmitDisputeEvidence(Command):
    """Answer dispute ``dispute_id`` with ``evidence`` before its ``respond_by``.

    The evidence goes to the provider first (when it takes evidence through
    its API, `DisputeGateway`), under a key derived from ``idempotency_key``;
    the dispute is then ``under_review``.
    """

    idempotency_key: str = _Key
    dispute_id: str = _Key
    evidence: str = Field(min_length=1, max_length=20_000)


class AcceptDispute(Command):
    """Do not contest dispute ``dispute_id``: it is lost at once, for ``reason``."""

    idempotency_key: str = _Key
    dispute_id: str = _Key
    reason: str = Field(default="accepted by the shop", min_length=1, max_length=500)


class MissDisputeDeadlines(Command):
    """Lose every dispute still unanswered when its ``respond_by`` is at or before ``now``.

    Running it again finds nothing more to do.
    """

    now: AwareDatetime


# --- reading -------------------------------------------------------------------------------


# --- the notices -------------------------------------------------------------------------------


def _about(dispute: Dispute, what: str) -> str:
    return f"dispute {dispute.id} of {dispute.amount} on payment {dispute.payment_id}: {what}"


def _awaiting(uow: UnitOfWork) -> tuple[str, ...]:
    return cast(tuple[str, ...], _records(uow).read_record(_AWAITING_ANSWER, "open") or ())


def _answered(uow: UnitOfWork, dispute: Dispute) -> None:
    """Take ``dispute`` off the list of disputes awaiting the shop's answer."""
    waiting = _awaiting(uow)
    if dispute.id in waiting:
        rest = tuple(d for d in waiting if d != dispute.id)
        _records(uow).write_record(_AWAITING_ANSWER, "open", rest)


def _hold(ctx: Context, order: Order, dispute: Dispute) -> str:
    """Hold an order that has units to ship; say what became of it."""
    if order.state in _UNSHIPPED:
        reason = (
            f"payment {dispute.payment_id} is disputed ({dispute.reason}, dispute "
            f"{dispute.id}): ship nothing until it is resolved"
        )
        order.hold(reason=reason, at=ctx.clock.now())
        _records(ctx.uow).write_record(_HOLDS, order.id, reason)
        return "the order is on hold"
    if order.state == "on_hold":
        return f"the order was already on hold ({order.hold_reason})"
    return f"the order is {order.state}: nothing to hold"


def _after_close(ctx: Context, order: Order) -> str:
    """Release the dispute hold once every dispute is closed and none was lost."""
    disputes = disputes_of(ctx.uow, order.id)
    ours = _records(ctx.uow).read_record(_HOLDS, order.id)
    if not ours or order.state != "on_hold" or order.hold_reason != ours:
        return f"the order is {order.state}"
    if any(not d.is_final for d in disputes):
        return "the order stays on hold: another dispute is open"
    lost = [d for d in disputes if d.state == "lost"]
    if lost:
        taken = sum_money([d.taken_back for d in lost])
        return (
            f"the order stays on hold: the bank took back {taken}; cancel it or ask the "
            "customer to pay again before shipping"
        )
    order.release(at=ctx.clock.now())
    _records(ctx.uow).write_record(_HOLDS, order.id, "")
    return "the order's hold is released"


def _open(
    ctx: Context, notice: GatewayNotification, payment: Payment, order: Order
) -> tuple[Dispute, str]:
    assert notice.dispute_id is not None
    assert notice.dispute_reason is not None
    assert notice.respond_by is not None
    others = contested_amount(ctx.uow, payment)
    totals = payment.totals
    disputable = totals.captured - totals.refunded - others
    if notice.amount.code == disputable.code and notice.amount > disputable:
        raise InvalidInput(
            f"dispute {notice.dispute_id} of {notice.amount} is more than the {disputable} "
            f"payment {payment.id!r} can have disputed (captured {totals.captured}, refunded "
            f"{totals.refunded}, in other disputes {others})"
        )
    dispute = Dispute.open(
        id=notice.dispute_id,
        payment=payment,
        amount=notice.amount,
        reason=notice.dispute_reason.value,
        respond_by=notice.respond_by,
        at=notice.occurred_at,
    )
    ctx.uow.repository(Dispute).add(dispute)
    records = _records(ctx.uow)
    records.write_record(_ORDER_DISPUTES, order.id, (*_dispute_ids(ctx.uow, order.id), dispute.id))
    records.write_record(_AWAITING_ANSWER, "open", (*_awaiting(ctx.uow), dispute.id))
    return dispute, _hold(ctx, order, dispute)


_PROVIDER_CLOSED = "(none: the provider closed the dispute before the shop answered)"


def _close(ctx: Context, dispute: Dispute, notice: GatewayNotification) -> tuple[str, str]:
    """Apply a ruling to ``dispute``; return the outcome and what it did."""
    won = notice.kind is NotificationKind.DISPUTE_WON
    at = notice.occurred_at
    if dispute.is_final:
        if dispute.state == ("won" if won else "lost"):
            return "unchanged", _about(dispute, f"already {dispute.state}")
        return "ignored", _about(
            dispute, f"already {dispute.state}; the provider now says {notice.kind.value}"
        )
    if won:
        if dispute.state == "needs_response":  # the cardholder withdrew it
            if at >= dispute.respond_by:
                return "ignored", _about(
                    dispute,
                    f"won at {at.isoformat()}, after respond_by {dispute.respond_by.isoformat()} "
                    "passed with no answer; check it with the provider",
                )
            dispute.submit_evidence(evidence=_PROVIDER_CLOSED, at=at)
        dispute.win(at=at)
    elif dispute.state == "under_review":
        dispute.lose(reason="the bank ruled for the cardholder", at=at)
    elif at >= dispute.respond_by:
        dispute.miss_deadline(at=at)
    else:
        dispute.accept(reason="closed as lost by the provider before the shop answered", at=at)
    _answered(ctx.uow, dispute)
    return f"dispute_{dispute.state}", _about(dispute, dispute.state)


def _kept(uow: UnitOfWork, dispute_id: str) -> tuple[GatewayNotification, ...]:
    return cast(
        tuple[GatewayNotification, ...], _records(uow).read_record(_EARLY, dispute_id) or ()
    )


def apply_dispute_notice(notice: GatewayNotification, ctx: Context) -> ShopResult:
    """Apply one dispute notification to the dispute, its payment's order and the records.

    It neither records the notification id nor commits: run it inside
    `Checkout._once` under the notification id (as `Disputes.apply_notification`
    does), so that it is applied once. See the module docs for the outcomes
    (``dispute_opened``, ``dispute_won``, ``dispute_lost``, ``deferred``,
    ``unchanged``, ``ignored``). Raises `NotFound` for an unknown payment and
    `InvalidInput` for a notice that is not about a dispute or disputes more
    than the payment holds.
    """
    if not isinstance(notice, GatewayNotification) or not notice.is_dispute:
        raise InvalidInput(f"expected a dispute notification, not {notice!r}")
    assert notice.dispute_id is not None
    payment = ctx.uow.repository(Payment).find(notice.payment_id)
    if payment is None:
        raise NotFound("payment", notice.payment_id)
    order = ctx.uow.repository(Order).get(payment.order_id)
    dispute = ctx.uow.repository(Dispute).find(notice.dispute_id)
    if dispute is not None and dispute.payment_id != payment.id:
        raise InvalidInput(
            f"dispute {dispute.id} is on payment {dispute.payment_id}, but the notice names "
            f"payment {payment.id}"
        )
    if notice.kind is NotificationKind.DISPUTE_OPENED:
        if dispute is not None:
            return _result(order, payment, "unchanged", _about(dispute, f"already {dispute.state}"))
        dispute, held = _open(ctx, notice, payment, order)
        outcome, messages = "dispute_opened", [_about(dispute, "needs a response"), held]
        kept = _kept(ctx.uow, dispute.id)
        for early in kept:  # rulings that came first
            outcome, what = _close(ctx, dispute, early)
            messages += [f"then {early.kind.value} (kept from earlier): {what}"]
        if kept:
            _records(ctx.uow).write_record(_EARLY, dispute.id, ())
        if dispute.is_final:
            messages.append(_after_close(ctx, order))
        return _result(order, payment, outcome, "; ".join(messages))
    if dispute is None:
        kept = _kept(ctx.uow, notice.dispute_id)
        _records(ctx.uow).write_record(_EARLY, notice.dispute_id, (*kept, notice))
        what = f"{notice.kind.value} for dispute {notice.dispute_id} came before it was opened"
        return _result(order, payment, "deferred", f"{what}: kept until the opening arrives")
    outcome, what = _close(ctx, dispute, notice)
    if outcome in ("unchanged", "ignored"):
        return _result(order, payment, outcome, what)
    return _result(order, payment, outcome, f"{what}; {_after_close(ctx, order)}")


# --- the handlers ------------------------------------------------------------------------------


class Disputes:
    """The dispute handlers, with the gateway that reads notices and takes evidence.

    When the gateway is also a `DisputeGateway`, evidence is submitted to
    the provider before the dispute is marked answered; otherwise (evidence
    is uploaded in the provider's dashboard) the shop only records it.
    Accepting a dispute is recorded in the shop only: the provider closes an
    unanswered dispute as lost, and that notice then changes nothing.
    """

    def __init__(self, *, gateway: PaymentGateway) -> None:
        self.gateway = gateway
        self.evidence_port: DisputeGateway | None = (
            gateway if isinstance(gateway, DisputeGateway) else None
        )

    def handlers(self) -> dict[type[Command], Callable[[Any, Context], Any]]:
        """Every dispute command with its handler."""
        return {
            ApplyDisputeNotification: self.apply_notification,
            SubmitDisputeEvidence: self.submit_evidence,
            AcceptDispute: self.accept,
            MissDisputeDeadlines: self.miss_deadlines,
        }

    def apply_notification(self, command: ApplyDisputeNotification, ctx: Context) -> ShopResult:
        """Read a dispute webhook and apply it once per notification id."""
        notice = self.gateway.parse_notification(NotificationPayload(command.body, command.headers))
        as_received = ApplyGatewayNotification(body=command.body, headers=command.headers)
        return Checkout._once(
            ctx,
            _NOTIFICATIONS,
            notice.notification_id,
            as_received,
            lambda: apply_dispute_notice(notice, ctx),
        )

    def _loaded(self, ctx: Context, dispute_id: str) -> tuple[Dispute, Payment, Order]:
        dispute = ctx.uow.repository(Dispute).get(dispute_id)
        payment = ctx.uow.repository(Payment).get(dispute.payment_id)
        return dispute, payment, ctx.uow.repository(Order).get(dispute.order_id)

    def submit_evidence(self, command: SubmitDisputeEvidence, ctx: Context) -> ShopResult:
        """Send the evidence to the provider, then mark the dispute ``under_review``.

        Refused before any call when the dispute is closed or ``respond_by``
        has passed. If the provider does not answer (`GatewayUnavailable`),
        nothing is recorded: repeat the command with the same key, and the
        provider recognises the submission by its key.
        """

        def run() -> ShopResult:
            at = ctx.clock.now()
            dispute, payment, order = self._loaded(ctx, command.dispute_id)
            copy.deepcopy(dispute).submit_evidence(evidence=command.evidence, at=at)
            if self.evidence_port is not None:
                self.evidence_port.submit_dispute_evidence(
                    DisputeEvidenceRequest(
                        idempotency_key=f"{command.idempotency_key}:evidence",
                        dispute_id=dispute.id,
                        payment_id=payment.id,
                        evidence=command.evidence,
                    )
                )
            if dispute.submit_evidence(evidence=command.evidence, at=at) is None:
                return _result(order, payment, "unchanged", _about(dispute, "already answered"))
            _answered(ctx.uow, dispute)
            return _result(order, payment, "evidence_submitted", _about(dispute, "under review"))

        return Checkout._once(ctx, _COMMANDS, command.idempotency_key, command, run)

    def accept(self, command: AcceptDispute, ctx: Context) -> ShopResult:
        """Give in: the dispute is lost now and its amount counted as returned."""

        def run() -> ShopResult:
            dispute, payment, order = self._loaded(ctx, command.dispute_id)
            if dispute.accept(reason=command.reason, at=ctx.clock.now()) is None:
                return _result(order, payment, "unchanged", _about(dispute, "already accepted"))
            _answered(ctx.uow, dispute)
            what = f"{_about(dispute, 'accepted')}; {_after_close(ctx, order)}"
            return _result(order, payment, "dispute_lost", what)

        return Checkout._once(ctx, _COMMANDS, command.idempotency_key, command, run)

    def miss_deadlines(self, command: MissDisputeDeadlines, ctx: Context) -> tuple[ShopResult, ...]:
        """Lose the disputes still unanswered at their ``respond_by``; one result for each."""
        results: list[ShopResult] = []
        still: list[str] = []
        waiting = _awaiting(ctx.uow)
        for dispute_id in waiting:
            dispute, payment, order = self._loaded(ctx, dispute_id)
            if dispute.state != "needs_response":
                continue
            if command.now < dispute.respond_by:
                still.append(dispute_id)
                continue
            dispute.miss_deadline(at=command.now)
            what = f"{_about(dispute, 'no answer by respond_by')}; {_after_close(ctx, order)}"
            results.append(_result(order, payment, "dispute_lost", what))
        if tuple(still) != waiting:
            _records(ctx.uow).write_record(_AWAITING_ANSWER, "open", tuple(still))
        ctx.uow.commit()
        return tuple(results)
