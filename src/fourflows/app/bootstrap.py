"""Wiring: a message bus over chosen adapters, in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fourflows.adapters.fakes import SystemClock, UuidIds
from fourflows.adapters.memory import MemoryStore
from fourflows.app import handlers
from fourflows.app.commands import CancelRefund, Command, ConfirmRefund, FailRefund, RequestRefund
from fourflows.app.messagebus import CommandHandler, MessageBus, Policy
from fourflows.events import DomainEvent
from fourflows.ports import Clock, EventPublisher, IdSource

__all__ = ["COMMAND_HANDLERS", "in_memory_bus"]

COMMAND_HANDLERS: Mapping[type[Command], CommandHandler] = {
    RequestRefund: handlers.request_refund,
    ConfirmRefund: handlers.confirm_refund,
    FailRefund: handlers.fail_refund,
    CancelRefund: handlers.cancel_refund,
}
"""Every command fourflows knows, with its handler."""


def in_memory_bus(
    *,
    store: MemoryStore | None = None,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    policies: Mapping[type[DomainEvent], Sequence[Policy]] | None = None,
    publishers: Mapping[str, EventPublisher] | None = None,
) -> MessageBus:
    """A message bus over an in-memory store: the real clock and UUIDs unless given others."""
    store = MemoryStore() if store is None else store
    return MessageBus(
        unit_of_work=store.unit_of_work,
        clock=SystemClock() if clock is None else clock,
        ids=UuidIds() if ids is None else ids,
        commands=COMMAND_HANDLERS,
        policies=policies,
        publishers=publishers,
    )
