"""Our own adapters run the same contract suites an integrator's would."""

from collections.abc import Sequence
from datetime import UTC, datetime

from fourflows import FixedClock, MemoryStore, RecordingPublisher, SequentialIds, SystemClock
from fourflows.adapters.fakes import UuidIds
from fourflows.events import DomainEvent
from fourflows.ports import EventPublisher
from fourflows.testing.contracts import (
    ClockContract,
    EventPublisherContract,
    IdSourceContract,
    UnitOfWorkContract,
)


class TestMemoryUnitOfWork(UnitOfWorkContract):
    def make_store(self) -> MemoryStore:
        return MemoryStore()


class TestRecordingPublisher(EventPublisherContract):
    def make_publisher(self) -> RecordingPublisher:
        return RecordingPublisher()

    def delivered(self, publisher: EventPublisher) -> Sequence[DomainEvent]:
        assert isinstance(publisher, RecordingPublisher)
        return publisher.events


class TestSystemClock(ClockContract):
    def make_clock(self) -> SystemClock:
        return SystemClock()


class TestFixedClock(ClockContract):
    def make_clock(self) -> FixedClock:
        return FixedClock(datetime(2026, 11, 22, tzinfo=UTC))


class TestSequentialIds(IdSourceContract):
    def make_ids(self) -> SequentialIds:
        return SequentialIds()


class TestUuidIds(IdSourceContract):
    def make_ids(self) -> UuidIds:
        return UuidIds()
