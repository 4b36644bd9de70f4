"""Command handlers: load aggregates, call the domain, commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from fourflows.app.commands import CancelRefund, ConfirmRefund, FailRefund, RequestRefund
from fourflows.cash.refund import Refund
from fourflows.errors import InvalidInput
from fourflows.ports import Clock, IdSource, UnitOfWork

__all__ = [
    "Context",
    "cancel_refund",
    "confirm_refund",
    "fail_refund",
    "request_refund",
]


@attrs.frozen
class Context:
    """What a handler works with: a fresh unit of work, the clock and the id source."""

    uow: UnitOfWork
    clock: Clock
    ids: IdSource


def request_refund(command: RequestRefund, ctx: Context) -> str:
    """Open a refund and return its id.

    ``refund_id`` is the idempotency key: asking again with the same id and the
    same details returns the id and changes nothing; the same id with other
    details is refused.
    """
    refunds = ctx.uow.repository(Refund)
    if command.refund_id is not None:
        known = refunds.find(command.refund_id)
        if known is not None:
            if known.same_request(
                payment_id=command.payment_id, amount=command.amount, reason=command.reason
            ):
                return known.id
            raise InvalidInput(
                f"refund id {command.refund_id!r} was already used for a refund of "
                f"{known.amount} on {known.payment_id!r}; use a new id for a new refund"
            )
    refund = Refund.request(
        id=command.refund_id or ctx.ids.next_id("refund"),
        payment_id=command.payment_id,
        amount=command.amount,
        reason=command.reason,
        at=ctx.clock.now(),
    )
    refunds.add(refund)
    ctx.uow.commit()
    return refund.id


def _move_refund(ctx: Context, refund_id: str, move: Callable[[Refund, datetime], object]) -> str:
    refund = ctx.uow.repository(Refund).get(refund_id)
    move(refund, ctx.clock.now())
    ctx.uow.commit()
    return refund.state


def confirm_refund(command: ConfirmRefund, ctx: Context) -> str:
    """Mark a refund as carried out by the provider; returns its new state."""
    return _move_refund(
        ctx, command.refund_id, lambda r, at: r.succeed(provider_ref=command.provider_ref, at=at)
    )


def fail_refund(command: FailRefund, ctx: Context) -> str:
    """Mark a refund as failed at the provider; returns its new state."""
    return _move_refund(ctx, command.refund_id, lambda r, at: r.fail(reason=command.reason, at=at))


def cancel_refund(command: CancelRefund, ctx: Context) -> str:
    """Withdraw a refund; returns its new state."""
    return _move_refund(
        ctx, command.refund_id, lambda r, at: r.cancel(reason=command.reason, at=at)
    )
