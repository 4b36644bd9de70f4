"""In-memory adapters: a store, its unit of work and its outbox.

They keep the same promises as a database would: a unit of work works on
copies, so nothing it does is visible until ``commit``, and ``commit`` checks
every version before it writes anything. Good for tests, demos, teaching and
single-process tools.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from types import TracebackType
from typing import Generic, Self, TypeVar, cast

import attrs

from fourflows.aggregates import Aggregate
from fourflows.errors import ConcurrencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.ports import OutboxRecord

__all__ = [
    "MemoryOutbox",
    "MemoryRepository",
    "MemoryStore",
    "MemoryUnitOfWork",
    "RecordingPublisher",
]

A = TypeVar("A", bound=Aggregate)


class MemoryOutbox:
    """An outbox kept in memory, in commit order."""

    def __init__(self) -> None:
        self._records: dict[int, OutboxRecord] = {}
        self._next = 1

    def append(self, events: Sequence[DomainEvent]) -> None:
        """Add committed events (the unit of work calls this inside its commit)."""
        for event in events:
            self._records[self._next] = OutboxRecord(position=self._next, event=event)
            self._next += 1

    def unsettled(self) -> Sequence[OutboxRecord]:
        """Records not yet settled, in commit order."""
        return tuple(self._records.values())

    def _record(self, position: int) -> OutboxRecord:
        try:
            return self._records[position]
        except KeyError:
            raise NotFound("unsettled outbox record", str(position)) from None

    def delivered(self, position: int, consumer: str) -> None:
        """Note that ``consumer`` took the record at ``position``."""
        record = self._record(position)
        self._records[position] = attrs.evolve(
            record, delivered_to=record.delivered_to | {consumer}
        )

    def failed(self, position: int, consumer: str, error: str) -> None:
        """Keep ``consumer``'s last error on the record; it stays unsettled."""
        record = self._record(position)
        others = tuple(f for f in record.failures if f[0] != consumer)
        self._records[position] = attrs.evolve(record, failures=(*others, (consumer, error)))

    def settle(self, position: int) -> None:
        """Drop the record: every consumer took it."""
        self._record(position)
        del self._records[position]


class MemoryStore:
    """Committed aggregates by class and id, with their versions, the outbox and keyed records.

    ``records`` holds small application records (idempotency keys, coupon
    usage) by ``(namespace, key)`` with a version each; a unit of work writes
    them in the same commit as the aggregates (see `fourflows.ports.KeyedRecords`).
    """

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Aggregate] = {}
        self.outbox = MemoryOutbox()
        self.records: dict[tuple[str, str], tuple[int, object]] = {}

    def unit_of_work(self) -> MemoryUnitOfWork:
        """A new unit of work over this store."""
        return MemoryUnitOfWork(self)


def _key(kind: type[Aggregate], id: str) -> tuple[str, str]:
    return (f"{kind.__module__}.{kind.__qualname__}", id)


class MemoryRepository(Generic[A]):
    """The aggregates of one class, as seen by one unit of work."""

    def __init__(self, uow: MemoryUnitOfWork, kind: type[A]) -> None:
        self._uow = uow
        self._kind = kind

    def find(self, id: str) -> A | None:
        """The aggregate with ``id`` (a private copy), or ``None``."""
        key = _key(self._kind, id)
        seen = self._uow.seen.get(key)
        if seen is None:
            stored = self._uow.store.rows.get(key)
            if stored is None:
                return None
            seen = copy.deepcopy(stored)
            self._uow.seen[key] = seen
            self._uow.loaded[key] = stored.version
        return cast(A, seen)

    def get(self, id: str) -> A:
        """The aggregate with ``id``; `NotFound` if there is none."""
        found = self.find(id)
        if found is None:
            raise NotFound(self._kind.__name__, id)
        return found

    def add(self, aggregate: A) -> None:
        """Track a new aggregate; `InvalidInput` if the id is taken."""
        if not isinstance(aggregate, self._kind):
            raise InvalidInput(
                f"this repository holds {self._kind.__name__}, not {type(aggregate).__name__}"
            )
        key = _key(self._kind, aggregate.id)
        if key in self._uow.seen or key in self._uow.store.rows:
            raise InvalidInput(f"{self._kind.__name__} {aggregate.id!r} already exists")
        self._uow.seen[key] = aggregate
        self._uow.loaded[key] = None


class MemoryUnitOfWork:
    """A unit of work over a `MemoryStore`; see `fourflows.ports.UnitOfWork`."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.outbox = store.outbox
        self.seen: dict[tuple[str, str], Aggregate] = {}
        self.loaded: dict[tuple[str, str], int | None] = {}
        self.read: dict[tuple[str, str], int] = {}
        self.written: dict[tuple[str, str], object] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def repository(self, kind: type[A]) -> MemoryRepository[A]:
        """The repository of ``kind`` inside this unit of work."""
        return MemoryRepository(self, kind)

    def read_record(self, namespace: str, key: str) -> object | None:
        """The record ``key`` of ``namespace`` as this unit of work sees it, or ``None``."""
        where = (namespace, key)
        if where in self.written:
            return self.written[where]
        version, value = self.store.records.get(where, (0, None))
        self.read.setdefault(where, version)
        return value

    def write_record(self, namespace: str, key: str, value: object) -> None:
        """Stage ``value`` as the record ``key`` of ``namespace``; ``commit`` saves it."""
        if value is None:
            raise InvalidInput(f"record {namespace}/{key} cannot be None")
        where = (namespace, key)
        if where not in self.read:
            self.read[where] = self.store.records.get(where, (0, None))[0]
        self.written[where] = value

    def commit(self) -> None:
        """Check every version, then save every changed aggregate, its events and records."""
        for where in self.written:
            now = self.store.records.get(where, (0, None))[0]
            if now != self.read[where]:
                raise ConcurrencyConflict(f"record {where[0]}", where[1], self.read[where], now)
        changed = []
        for key, aggregate in self.seen.items():
            if not aggregate.pending_events:
                continue
            expected = self.loaded[key]
            stored = self.store.rows.get(key)
            found = None if stored is None else stored.version
            if found != expected:
                raise ConcurrencyConflict(
                    type(aggregate).__name__, aggregate.id, expected or 0, found or 0
                )
            snapshot = copy.deepcopy(aggregate)
            changed.append((key, aggregate, snapshot, snapshot.collect_events()))
        # Every check passed and every copy is made: nothing below can fail.
        for key, aggregate, snapshot, events in changed:
            self.store.rows[key] = snapshot
            self.store.outbox.append(events)
            aggregate.collect_events()
            self.loaded[key] = aggregate.version
        for where, value in self.written.items():
            version = self.store.records.get(where, (0, None))[0] + 1
            self.store.records[where] = (version, value)
            self.read[where] = version
        self.written.clear()

    def rollback(self) -> None:
        """Forget every aggregate and record handed out, added or written since the last commit."""
        self.seen.clear()
        self.loaded.clear()
        self.read.clear()
        self.written.clear()


class RecordingPublisher:
    """An `EventPublisher` that keeps what it was given, once per event, in order."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._seen: set[tuple[str, int]] = set()

    def publish(self, event: DomainEvent) -> None:
        """Keep ``event`` unless it was already taken (same aggregate id and sequence)."""
        identity = (event.aggregate_id, event.sequence)
        if identity not in self._seen:
            self._seen.add(identity)
            self.events.append(event)
