"""Contract suites: the promises of each port, as pytest classes any adapter can run.

Subclass a contract in your own test file, name the subclass ``Test...`` and
supply the factory method it asks for; pytest then runs every promise
against your adapter::

    from fourflows.testing.contracts import UnitOfWorkContract

    class TestSqlUnitOfWork(UnitOfWorkContract):
        def make_store(self):
            return MySqlStore(url="sqlite://")   # has .unit_of_work()

fourflows runs the same suites against its own in-memory adapters.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import attrs
import pytest

from fourflows.cash.refund import Refund
from fourflows.errors import ConcurrencyConflict, InvalidInput, NotFound
from fourflows.events import DomainEvent
from fourflows.information.notifications import Notification, NotificationKind
from fourflows.money import Money
from fourflows.ports import Clock, EventPublisher, IdSource, Notifier, UnitOfWork

__all__ = [
    "ClockContract",
    "EventPublisherContract",
    "IdSourceContract",
    "NotifierContract",
    "Store",
    "UnitOfWorkContract",
]

_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


class Store(Protocol):
    """What `UnitOfWorkContract` needs: fresh units of work over one shared store."""

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work over the store."""
        ...


def _refund(id: str = "refund-1", amount: str = "250") -> Refund:
    return Refund.request(
        id=id, payment_id="pay-1", amount=Money(amount, "TWD"), reason="damaged", at=_AT
    )


def _events(store: Store) -> list[DomainEvent]:
    with store.unit_of_work() as uow:
        return [record.event for record in uow.outbox.unsettled()]


class UnitOfWorkContract(abc.ABC):
    """Promises of `fourflows.ports.UnitOfWork` and its outbox."""

    @abc.abstractmethod
    def make_store(self) -> Store:
        """Return a new, empty store; override in your subclass."""

    def test_commit_saves_the_aggregate_and_its_events(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
            uow.commit()
        with store.unit_of_work() as uow:
            saved = uow.repository(Refund).get("refund-1")
            assert (saved.state, saved.version, saved.amount) == ("pending", 1, Money("250", "TWD"))
            assert saved.pending_events == ()
        assert [(e.name(), e.sequence) for e in _events(store)] == [("RefundRequested", 1)]

    def test_leaving_without_commit_saves_nothing(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
        with store.unit_of_work() as uow:
            assert uow.repository(Refund).find("refund-1") is None
        assert _events(store) == []

    def test_an_exception_saves_nothing_and_records_no_event(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
            uow.commit()

        def crash_before_commit() -> None:
            with store.unit_of_work() as uow:
                uow.repository(Refund).get("refund-1").succeed(provider_ref="gw-1", at=_AT)
                raise RuntimeError("the process failed before commit")

        with pytest.raises(RuntimeError):
            crash_before_commit()
        with store.unit_of_work() as uow:
            assert uow.repository(Refund).get("refund-1").state == "pending"
        assert len(_events(store)) == 1

    def test_rollback_throws_away_uncommitted_changes(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
            uow.rollback()
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.repository(Refund).find("refund-1") is None

    def test_changes_are_invisible_to_others_until_commit(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
            uow.commit()
        with store.unit_of_work() as writer:
            writer.repository(Refund).get("refund-1").succeed(provider_ref="gw-1", at=_AT)
            with store.unit_of_work() as reader:
                assert reader.repository(Refund).get("refund-1").state == "pending"
            writer.commit()
        with store.unit_of_work() as reader:
            assert reader.repository(Refund).get("refund-1").state == "succeeded"

    def test_a_concurrent_change_is_refused_and_saves_nothing(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund("refund-1"))
            uow.repository(Refund).add(_refund("refund-2"))
            uow.commit()
        with store.unit_of_work() as first, store.unit_of_work() as second:
            first.repository(Refund).get("refund-1").succeed(provider_ref="gw-1", at=_AT)
            second.repository(Refund).get("refund-2").cancel(reason="kept it", at=_AT)
            second.repository(Refund).get("refund-1").fail(reason="declined", at=_AT)
            first.commit()
            with pytest.raises(ConcurrencyConflict, match="refund-1"):
                second.commit()
        with store.unit_of_work() as uow:
            assert uow.repository(Refund).get("refund-1").state == "succeeded"
            assert uow.repository(Refund).get("refund-2").state == "pending"
        assert [e.name() for e in _events(store)][-1] == "RefundSucceeded"
        assert len(_events(store)) == 3

    def test_a_second_commit_in_one_unit_of_work_saves_the_later_changes(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            refunds = uow.repository(Refund)
            refunds.add(_refund())
            uow.commit()
            refunds.get("refund-1").succeed(provider_ref="gw-1", at=_AT)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.repository(Refund).get("refund-1").version == 2
        assert [e.sequence for e in _events(store)] == [1, 2]

    def test_an_unknown_id_is_not_found(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow, pytest.raises(NotFound, match="refund-9"):
            uow.repository(Refund).get("refund-9")

    def test_an_id_cannot_be_added_twice(self) -> None:
        store = self.make_store()
        with store.unit_of_work() as uow:
            uow.repository(Refund).add(_refund())
            uow.commit()
        with store.unit_of_work() as uow, pytest.raises(InvalidInput, match="refund-1"):
            uow.repository(Refund).add(_refund())

    def test_the_outbox_keeps_commit_order_until_settled(self) -> None:
        store = self.make_store()
        for n in (1, 2, 3):
            with store.unit_of_work() as uow:
                uow.repository(Refund).add(_refund(f"refund-{n}"))
                uow.commit()
        with store.unit_of_work() as uow:
            records = uow.outbox.unsettled()
            assert [r.event.aggregate_id for r in records] == ["refund-1", "refund-2", "refund-3"]
            positions = [r.position for r in records]
            assert positions == sorted(positions)
            uow.outbox.failed(positions[0], "mailer", "SMTP down")
            uow.outbox.delivered(positions[0], "ledger")
            uow.outbox.settle(positions[1])
            kept = uow.outbox.unsettled()
            assert [r.position for r in kept] == [positions[0], positions[2]]
            assert kept[0].delivered_to == frozenset({"ledger"})
            assert kept[0].failures == (("mailer", "SMTP down"),)
            with pytest.raises(NotFound):
                uow.outbox.settle(positions[1])


class EventPublisherContract(abc.ABC):
    """Promises of `fourflows.ports.EventPublisher`: in order, and repeats ignored."""

    @abc.abstractmethod
    def make_publisher(self) -> EventPublisher:
        """Return a new publisher; override in your subclass."""

    @abc.abstractmethod
    def delivered(self, publisher: EventPublisher) -> Sequence[DomainEvent]:
        """Return what reached the destination, in order; override in your subclass."""

    def test_events_arrive_in_order(self) -> None:
        publisher = self.make_publisher()
        refund = _refund()
        refund.succeed(provider_ref="gw-1", at=_AT)
        events = refund.collect_events()
        for event in events:
            publisher.publish(event)
        assert list(self.delivered(publisher)) == events

    def test_a_repeated_event_is_delivered_once(self) -> None:
        publisher = self.make_publisher()
        (event,) = _refund().collect_events()
        publisher.publish(event)
        publisher.publish(event)
        assert list(self.delivered(publisher)) == [event]


class ClockContract(abc.ABC):
    """Promises of `fourflows.ports.Clock`: aware times that never go back."""

    @abc.abstractmethod
    def make_clock(self) -> Clock:
        """Return a clock; override in your subclass."""

    def test_the_time_is_timezone_aware_and_never_goes_back(self) -> None:
        clock = self.make_clock()
        times = [clock.now() for _ in range(100)]
        assert all(t.utcoffset() is not None for t in times)
        assert all(b - a >= timedelta(0) for a, b in itertools.pairwise(times))


class IdSourceContract(abc.ABC):
    """Promises of `fourflows.ports.IdSource`: non-empty ids, never reused."""

    @abc.abstractmethod
    def make_ids(self) -> IdSource:
        """Return an id source; override in your subclass."""

    def test_ids_are_never_reused(self) -> None:
        ids = self.make_ids()
        made = [ids.next_id(kind) for kind in ("refund", "order") for _ in range(500)]
        assert all(isinstance(i, str) and i for i in made)
        assert len(set(made)) == len(made)


def _notification(n: int, customer_id: str = "c-1") -> Notification:
    return Notification(
        id=f"refund_issued:payment-{n}:3",
        kind=NotificationKind.REFUND_ISSUED,
        customer_id=customer_id,
        order_id=f"order-{n}",
        locale="en",
        subject=f"Refund of NT$250 for order order-{n}",
        body=f"We refunded NT$250 for your order order-{n} to the way you paid.",
        occurred_at=_AT,
        amount=Money("250", "TWD"),
    )


class NotifierContract(abc.ABC):
    """Promises of `fourflows.ports.Notifier`: each id sent once, in order; a failure retries.

    Supply `make_notifier` and `sent` (what reached the customer's channel,
    in order: for an email adapter, the messages your test mail server
    received). Override `break_next_send` to make the next send fail the way
    your channel fails (a refused connection, a 503); without it the failure
    promise is skipped.
    """

    @abc.abstractmethod
    def make_notifier(self) -> Notifier:
        """Return a new notifier; override in your subclass."""

    @abc.abstractmethod
    def sent(self, notifier: Notifier) -> Sequence[Notification]:
        """Return the notifications that reached the channel, in order; override it."""

    def break_next_send(self, notifier: Notifier) -> None:
        """Make the next send fail; override to run the failure promise."""
        pytest.skip("override break_next_send to check that a failed send is retried")

    def test_notifications_arrive_in_order(self) -> None:
        notifier = self.make_notifier()
        given = [_notification(1), _notification(2, "c-2"), _notification(3)]
        for notification in given:
            notifier.send(notification)
        assert list(self.sent(notifier)) == given

    def test_a_repeated_id_is_sent_once(self) -> None:
        notifier = self.make_notifier()
        first = _notification(1)
        notifier.send(first)
        notifier.send(first)
        # the same event rendered again (another wording, another locale) keeps its id
        notifier.send(attrs.evolve(first, locale="zh_TW", subject="訂單 order-1 退款通知"))
        notifier.send(_notification(2))
        assert list(self.sent(notifier)) == [first, _notification(2)]

    def test_a_failed_send_raises_and_the_same_id_can_be_sent_later(self) -> None:
        notifier = self.make_notifier()
        self.break_next_send(notifier)
        with pytest.raises(Exception):  # noqa: B017, PT011 - any exception means "not sent"
            notifier.send(_notification(1))
        assert list(self.sent(notifier)) == []
        notifier.send(_notification(1))
        notifier.send(_notification(1))
        assert list(self.sent(notifier)) == [_notification(1)]
