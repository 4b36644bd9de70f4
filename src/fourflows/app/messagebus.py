"""The message bus: runs a command in a unit of work, then delivers its events.

`MessageBus.handle` gives the command to its handler inside a fresh unit of
work; the handler commits, which saves the aggregates and appends their
events to the outbox in one step. Then `MessageBus.dispatch` hands every
unsettled outbox record to its consumers: the policies registered for its
event type (each in a unit of work of its own) and the publishers. A consumer
that raises does not undo the command or stop the others: the record stays in
the outbox with the error, and the next `dispatch` offers it again to the
consumers that have not taken it yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.errors import NotFound
from fourflows.events import DomainEvent
from fourflows.ports import Clock, EventPublisher, IdSource, OutboxRecord, UnitOfWork

__all__ = ["CommandHandler", "MessageBus", "Policy"]

CommandHandler = Callable[[Any, Context], Any]
"""``handler(command, context) -> result``; it must call ``context.uow.commit()``."""

Policy = Callable[[Any, Context], None]
"""``policy(event, context)``: reacts to a committed event; must be safe to run twice."""


def _consumer_name(consumer: object) -> str:
    module = getattr(consumer, "__module__", "")
    name = getattr(consumer, "__qualname__", type(consumer).__qualname__)
    return f"{module}.{name}"


class MessageBus:
    """Routes commands to handlers and committed events to policies and publishers."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Clock,
        ids: IdSource,
        commands: Mapping[type[Command], CommandHandler],
        policies: Mapping[type[DomainEvent], Sequence[Policy]] | None = None,
        publishers: Mapping[str, EventPublisher] | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self.clock = clock
        self.ids = ids
        self._commands = dict(commands)
        self._policies = {kind: tuple(found) for kind, found in (policies or {}).items()}
        self._publishers = dict(publishers or {})

    def _context(self, uow: UnitOfWork) -> Context:
        return Context(uow=uow, clock=self.clock, ids=self.ids)

    def handle(self, command: Command) -> Any:
        """Run ``command``'s handler, deliver the events it committed, return its result.

        If the handler raises, nothing it did is saved and the error propagates.
        """
        handler = self._commands.get(type(command))
        if handler is None:
            raise NotFound("handler for command", type(command).__name__, self._handled())
        with self._unit_of_work() as uow:
            result = handler(command, self._context(uow))
        self.dispatch()
        return result

    def _handled(self) -> list[str]:
        return [kind.__name__ for kind in self._commands]

    def _consumers(self, event: DomainEvent) -> list[tuple[str, Callable[[DomainEvent], None]]]:
        consumers: list[tuple[str, Callable[[DomainEvent], None]]] = []
        for policy in self._policies.get(type(event), ()):
            consumers.append((_consumer_name(policy), self._run_policy(policy)))
        for name, publisher in self._publishers.items():
            consumers.append((f"publisher:{name}", publisher.publish))
        return consumers

    def _run_policy(self, policy: Policy) -> Callable[[DomainEvent], None]:
        def run(event: DomainEvent) -> None:
            with self._unit_of_work() as uow:
                policy(event, self._context(uow))

        return run

    def dispatch(self) -> Sequence[OutboxRecord]:
        """Deliver unsettled events until none is left to try; return those still unsettled.

        Events recorded by policies are delivered in the same call. Each
        consumer is offered each record at most once per call.
        """
        outbox = self._unit_of_work().outbox
        tried: set[tuple[int, str]] = set()
        progressed = True
        while progressed:
            progressed = False
            for record in outbox.unsettled():
                consumers = self._consumers(record.event)
                delivered = set(record.delivered_to)
                for name, deliver in consumers:
                    if name in delivered or (record.position, name) in tried:
                        continue
                    tried.add((record.position, name))
                    progressed = True
                    try:
                        deliver(record.event)
                    except Exception as error:  # a failing consumer must not stop the others
                        outbox.failed(record.position, name, f"{type(error).__name__}: {error}")
                    else:
                        outbox.delivered(record.position, name)
                        delivered.add(name)
                if all(name in delivered for name, _ in consumers):
                    outbox.settle(record.position)
        return outbox.unsettled()
