"""Refunds: money going back to a customer through a payment provider.

A refund is requested for an amount of one payment, then the provider
confirms it (``succeed``), reports it failed (``fail``), or the shop cancels
it before it is sent (``cancel``). Each step records one cash-flow event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import attrs

from fourflows.aggregates import Aggregate
from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent, Flow, domain_event
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money

__all__ = [
    "REFUND_MACHINE",
    "Refund",
    "RefundCanceled",
    "RefundFailed",
    "RefundRequested",
    "RefundSucceeded",
]


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class RefundRequested(DomainEvent):
    """A refund of ``amount`` on payment ``payment_id`` was asked for."""

    payment_id: str
    amount: Money
    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class RefundSucceeded(DomainEvent):
    """The provider confirmed the refund under its reference ``provider_ref``."""

    provider_ref: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class RefundFailed(DomainEvent):
    """The provider could not refund; ``reason`` says why."""

    reason: str


@domain_event(Flow.CASH)
@attrs.frozen(kw_only=True)
class RefundCanceled(DomainEvent):
    """The shop withdrew the refund before the provider acted on it."""

    reason: str


def _has_reference(_: Refund, data: Mapping[str, Any], _at: datetime) -> bool:
    ref = data.get("provider_ref")
    return isinstance(ref, str) and bool(ref.strip())


def _has_reason(_: Refund, data: Mapping[str, Any], _at: datetime) -> bool:
    reason = data.get("reason")
    return isinstance(reason, str) and bool(reason.strip())


_REFERENCED = Guard("provider_reference_given", _has_reference, "the provider's reference is set")
_EXPLAINED = Guard("reason_given", _has_reason, "a reason is given")

REFUND_MACHINE: StateMachine[Refund] = register_machine(
    StateMachine(
        MachineSpec(
            name="refund",
            description="Money going back to a customer on one payment.",
            states=("pending", "succeeded", "failed", "canceled"),
            initial="pending",
            final=("succeeded", "failed", "canceled"),
            created=RefundRequested,
            transitions=(
                Transition("succeed", "pending", "succeeded", RefundSucceeded, (_REFERENCED,)),
                Transition("fail", "pending", "failed", RefundFailed, (_EXPLAINED,)),
                Transition("cancel", "pending", "canceled", RefundCanceled, (_EXPLAINED,)),
            ),
        )
    )
)


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a refund needs a non-empty {name}, not {value!r}")
    return value


@attrs.define(kw_only=True, eq=False)
class Refund(Aggregate):
    """A refund of ``amount`` on one payment, with its own small lifecycle.

    Providers repeat notifications: confirming, failing or cancelling again
    with the same data changes nothing and returns ``None``; a different
    outcome after the refund has ended raises `InvalidTransition`.
    """

    machine: ClassVar[StateMachine[Any]] = REFUND_MACHINE

    payment_id: str
    amount: Money
    reason: str
    provider_ref: str | None = None
    outcome: str | None = None

    @classmethod
    def request(
        cls, *, id: str, payment_id: str, amount: Money, reason: str, at: datetime
    ) -> Refund:
        """Ask for a refund; the amount must be positive."""
        if not isinstance(amount, Money) or amount.amount <= 0:
            raise InvalidInput(f"a refund amount must be positive Money, not {amount!r}")
        _text("payment id", payment_id)
        _text("reason, e.g. 'returned item',", reason)
        refund = cls(id=id, payment_id=payment_id, amount=amount, reason=reason)
        refund._start(at=at, payment_id=payment_id, amount=amount, reason=reason)
        return refund

    def same_request(self, *, payment_id: str, amount: Money, reason: str) -> bool:
        """Whether a request with these details is a repeat of the one that opened this refund."""
        return (self.payment_id, self.amount, self.reason) == (payment_id, amount, reason)

    def succeed(self, *, provider_ref: str, at: datetime) -> DomainEvent | None:
        """The provider confirmed the refund under ``provider_ref``."""
        if (self.state, self.provider_ref) == ("succeeded", provider_ref):
            return None
        event = self._fire("succeed", at=at, provider_ref=provider_ref)
        self.provider_ref = provider_ref
        return event

    def fail(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """The provider could not refund, for ``reason``."""
        return self._end("fail", "failed", reason, at)

    def cancel(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """Withdraw the refund before the provider acts on it."""
        return self._end("cancel", "canceled", reason, at)

    def _end(self, event: str, state: str, reason: str, at: datetime) -> DomainEvent | None:
        if (self.state, self.outcome) == (state, reason):
            return None
        recorded = self._fire(event, at=at, reason=reason)
        self.outcome = reason
        return recorded
