"""Ports: everything outside the domain reaches it through these protocols.

Each port says what it promises and how it fails. fourflows ships an
in-memory or fake adapter for every port (`fourflows.adapters`) and a
contract suite (`fourflows.testing.contracts`) that any adapter, ours or an
integrator's, can run to prove it keeps the promises below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, TypeVar, runtime_checkable

import attrs

from fourflows.aggregates import Aggregate
from fourflows.events import DomainEvent

if TYPE_CHECKING:
    from fourflows.information.notifications import Notification

__all__ = [
    "Clock",
    "EventPublisher",
    "IdSource",
    "KeyedRecords",
    "Notifier",
    "Outbox",
    "OutboxRecord",
    "Repository",
    "UnitOfWork",
]

A = TypeVar("A", bound=Aggregate)


class Clock(Protocol):
    """Tells the time. The domain never reads a clock of its own."""

    def now(self) -> datetime:
        """The current time, timezone-aware. Never fails."""
        ...


class IdSource(Protocol):
    """Hands out new ids. Ids are never reused, even after a rollback."""

    def next_id(self, kind: str) -> str:
        """A new id for an aggregate of ``kind`` (e.g. ``'refund'``). Never fails."""
        ...


class EventPublisher(Protocol):
    """Carries committed domain events out of the process (a broker, a webhook, a log).

    ``publish`` may be called again with an event it already took after a
    crash or a retry; it must treat ``(aggregate_id, sequence)`` as the
    event's identity and ignore repeats. Raising any exception means "not
    delivered": the event stays in the outbox and is offered again later.
    """

    def publish(self, event: DomainEvent) -> None:
        """Deliver ``event``, or raise to have it offered again later."""
        ...


class Notifier(Protocol):
    """Tells a customer something: an email, an SMS, a LINE or push message.

    ``notification.id`` is the idempotency key. It is derived from the event
    the notification tells about (`fourflows.information.notifications.notification_id`),
    so an event delivered again yields the same id, and ``send`` must send a
    given id at most once: remember the ids sent, or hand the id to a provider
    that deduplicates by it. A repeated id returns quietly.

    Returning means "sent" (handed to the channel). Raising any exception
    means "not sent": the policy that called ``send`` fails, the event stays
    in the outbox, and the same notification is offered again at the next
    dispatch. On a timeout (the channel may or may not have taken it) raise
    too, so the message is not lost; where the provider accepts an
    idempotency key, pass it the id, so that the second try is not a second
    message. Telling a customer twice is better than never telling them.
    """

    def send(self, notification: Notification) -> None:
        """Send ``notification`` once, or raise to have it offered again later."""
        ...


class Repository(Protocol[A]):
    """The aggregates of one class inside a unit of work.

    What ``get`` returns belongs to the unit of work: changes to it are
    saved by ``commit`` and thrown away by ``rollback``.
    """

    def get(self, id: str) -> A:
        """The aggregate with ``id``; raises `NotFound` if there is none."""
        ...

    def find(self, id: str) -> A | None:
        """The aggregate with ``id``, or ``None``."""
        ...

    def add(self, aggregate: A) -> None:
        """Track a new aggregate; raises `InvalidInput` if its id is taken."""
        ...


@attrs.frozen
class OutboxRecord:
    """A committed event waiting to be handed to its consumers.

    ``position`` orders records in commit order; ``delivered_to`` names the
    consumers that already took it; ``failures`` keeps the last error of
    each consumer that raised.
    """

    position: int
    event: DomainEvent
    delivered_to: frozenset[str] = frozenset()
    failures: tuple[tuple[str, str], ...] = ()


class Outbox(Protocol):
    """Events saved in the same commit as the aggregates that recorded them.

    Because events and state are committed together, a crash after a commit
    can delay an event but never lose it: the bus delivers whatever is still
    unsettled when it next runs.
    """

    def unsettled(self) -> Sequence[OutboxRecord]:
        """Records not yet settled, in commit order."""
        ...

    def delivered(self, position: int, consumer: str) -> None:
        """Note that ``consumer`` took the record at ``position``."""
        ...

    def failed(self, position: int, consumer: str, error: str) -> None:
        """Note that ``consumer`` raised ``error`` on the record; it stays unsettled."""
        ...

    def settle(self, position: int) -> None:
        """Every consumer took the record; it will not be offered again."""
        ...


class UnitOfWork(Protocol):
    """One atomic change to the store: aggregates and their events together.

    Use it as a context manager. ``commit`` saves every aggregate the unit
    of work handed out or was given, and appends their pending events to the
    outbox, all or nothing. Leaving the block without committing (or with an
    exception) saves nothing and records no event. If another unit of work
    saved one of the same aggregates first, ``commit`` raises
    `ConcurrencyConflict` and saves nothing.
    """

    @property
    def outbox(self) -> Outbox:
        """The outbox this unit of work commits events into."""
        ...

    def __enter__(self) -> Self:
        """Begin the unit of work."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """End it, throwing away whatever was not committed."""
        ...

    def repository(self, kind: type[A]) -> Repository[A]:
        """The repository of the aggregate class ``kind``."""
        ...

    def commit(self) -> None:
        """Save everything at once, or raise and save nothing."""
        ...

    def rollback(self) -> None:
        """Throw away every change since the last commit."""
        ...


@runtime_checkable
class KeyedRecords(Protocol):
    """A unit of work that also keeps small keyed records beside the aggregates.

    The application stores idempotency keys with their first result, and the
    coupon-usage ledger, here. Records written in a unit of work are saved by
    the same ``commit`` as its aggregates and events (all or nothing) and
    thrown away by ``rollback``. If another unit of work saved a record this
    one read or wrote since it read it, ``commit`` raises `ConcurrencyConflict`
    and saves nothing. Values must be immutable (frozen attrs classes, tuples):
    they are stored as given, not copied.
    """

    def read_record(self, namespace: str, key: str) -> object | None:
        """The record ``key`` in ``namespace``, or ``None`` if there is none."""
        ...

    def write_record(self, namespace: str, key: str, value: object) -> None:
        """Stage ``value`` (not ``None``) as the record; ``commit`` saves it."""
        ...
