"""The application layer end to end: commands, unit of work, outbox, policies, publishers."""

from datetime import UTC, datetime
from typing import Any

import pytest

from fourflows import (
    CancelRefund,
    ConfirmRefund,
    FailRefund,
    FixedClock,
    InvalidInput,
    InvalidTransition,
    MemoryStore,
    Money,
    NotFound,
    RecordingPublisher,
    Refund,
    RequestRefund,
    SequentialIds,
    in_memory_bus,
)
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import MessageBus
from fourflows.cash.refund import RefundRequested, RefundSucceeded

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def make_bus(**kwargs: Any) -> tuple[MessageBus, MemoryStore]:
    store = MemoryStore()
    bus = in_memory_bus(store=store, clock=FixedClock(AT), ids=SequentialIds(), **kwargs)
    return bus, store


def request(bus: MessageBus, amount: str = "350") -> str:
    refund_id = bus.handle(
        RequestRefund(payment_id="pay-1", amount=Money(amount, "TWD"), reason="torn")
    )
    assert isinstance(refund_id, str)
    return refund_id


def states(store: MemoryStore) -> dict[str, str]:
    with store.unit_of_work() as uow:
        return {key[1]: uow.repository(Refund).get(key[1]).state for key in store.rows}


def test_commands_run_and_their_events_are_published_in_order() -> None:
    log = RecordingPublisher()
    bus, store = make_bus(publishers={"log": log})
    first, second, third = request(bus), request(bus, "10"), request(bus, "20")
    assert bus.handle(ConfirmRefund(refund_id=first, provider_ref="gw-1")) == "succeeded"
    assert bus.handle(FailRefund(refund_id=second, reason="card closed")) == "failed"
    assert bus.handle(CancelRefund(refund_id=third, reason="kept it")) == "canceled"
    assert states(store) == {first: "succeeded", second: "failed", third: "canceled"}
    assert [(e.aggregate_id, e.name()) for e in log.events] == [
        (first, "RefundRequested"),
        (second, "RefundRequested"),
        (third, "RefundRequested"),
        (first, "RefundSucceeded"),
        (second, "RefundFailed"),
        (third, "RefundCanceled"),
    ]
    assert store.outbox.unsettled() == ()


def test_a_refused_command_saves_nothing_and_publishes_nothing() -> None:
    log = RecordingPublisher()
    bus, store = make_bus(publishers={"log": log})
    refund_id = request(bus)
    bus.handle(CancelRefund(refund_id=refund_id, reason="kept it"))
    with pytest.raises(InvalidTransition, match="canceled"):
        bus.handle(ConfirmRefund(refund_id=refund_id, provider_ref="gw-1"))
    assert states(store) == {refund_id: "canceled"}
    assert len(log.events) == 2
    with pytest.raises(NotFound, match="refund-9999"):
        bus.handle(ConfirmRefund(refund_id="refund-9999", provider_ref="gw-1"))


def test_a_repeated_request_with_the_same_id_changes_nothing() -> None:
    log = RecordingPublisher()
    bus, store = make_bus(publishers={"log": log})
    ask = RequestRefund(payment_id="p", amount=Money("1", "TWD"), reason="x", refund_id="rf-1")
    assert bus.handle(ask) == "rf-1"
    assert bus.handle(ask) == "rf-1"
    assert len(log.events) == 1
    other = RequestRefund(payment_id="p", amount=Money("2", "TWD"), reason="x", refund_id="rf-1")
    with pytest.raises(InvalidInput, match="already used for a refund of 1 TWD on 'p'"):
        bus.handle(other)
    assert list(states(store)) == ["rf-1"]


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        (ConfirmRefund(refund_id="refund-0001", provider_ref="gw-1"), "succeeded"),
        (FailRefund(refund_id="refund-0001", reason="card closed"), "failed"),
        (CancelRefund(refund_id="refund-0001", reason="kept it"), "canceled"),
    ],
)
def test_a_repeated_outcome_is_answered_once(outcome: Command, state: str) -> None:
    log = RecordingPublisher()
    bus, _ = make_bus(publishers={"log": log})
    request(bus)
    assert bus.handle(outcome) == state
    assert bus.handle(outcome) == state
    assert len(log.events) == 2
    with pytest.raises(InvalidTransition):
        bus.handle(ConfirmRefund(refund_id="refund-0001", provider_ref="gw-other"))


def test_policies_react_in_their_own_unit_of_work_and_their_events_follow() -> None:
    log = RecordingPublisher()

    def confirm_small_refunds(event: RefundRequested, ctx: Context) -> None:
        if event.amount <= Money("100", "TWD"):
            ctx.uow.repository(Refund).get(event.aggregate_id).succeed(
                provider_ref="auto", at=ctx.clock.now()
            )
            ctx.uow.commit()

    bus, store = make_bus(
        publishers={"log": log}, policies={RefundRequested: [confirm_small_refunds]}
    )
    small, large = request(bus, "80"), request(bus, "800")
    assert states(store) == {small: "succeeded", large: "pending"}
    assert [e.name() for e in log.events if e.aggregate_id == small] == [
        "RefundRequested",
        "RefundSucceeded",
    ]


def test_a_failing_consumer_keeps_the_event_for_later_without_undoing_the_command() -> None:
    log = RecordingPublisher()
    calls: list[str] = []

    def flaky(event: RefundSucceeded, ctx: Context) -> None:
        calls.append(event.aggregate_id)
        if len(calls) == 1:
            raise ConnectionError("mail server down")

    bus, store = make_bus(publishers={"log": log}, policies={RefundSucceeded: [flaky]})
    refund_id = request(bus)
    assert bus.handle(ConfirmRefund(refund_id=refund_id, provider_ref="gw-1")) == "succeeded"
    (kept,) = store.outbox.unsettled()
    assert kept.event.name() == "RefundSucceeded"
    assert kept.delivered_to == frozenset({"publisher:log"})
    assert kept.failures[0][1] == "ConnectionError: mail server down"
    assert bus.dispatch() == ()
    assert calls == [refund_id, refund_id]
    assert [e.name() for e in log.events].count("RefundSucceeded") == 1


def test_an_unknown_command_is_not_found() -> None:
    class Shout(Command):
        text: str

    bus, _ = make_bus()
    with pytest.raises(NotFound, match="Shout"):
        bus.handle(Shout(text="hi"))


class TestCommandParsing:
    def test_from_json(self) -> None:
        command = RequestRefund.parse(
            '{"payment_id": "p-1", "amount": {"amount": "12.50", "currency": "TWD"},'
            ' "reason": "torn"}'
        )
        assert command.amount == Money("12.50", "TWD")

    @pytest.mark.parametrize(
        ("data", "complaint"),
        [
            ('{"payment_id": "p"', "not valid JSON"),
            ("[1, 2]", "object of named fields"),
            ({"payment_id": "", "amount": {"amount": "1", "currency": "TWD"}}, "payment_id"),
            (
                {"payment_id": "p", "amount": {"amount": 1.5, "currency": "TWD"}, "reason": "r"},
                "float 1.5",
            ),
            (
                {
                    "payment_id": "p",
                    "amount": {"amount": "1", "currency": "TWD"},
                    "reason": "r",
                    "coupon": "X",
                },
                "coupon: Extra inputs are not permitted",
            ),
        ],
    )
    def test_bad_input_is_invalid_input_naming_the_field(self, data: Any, complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            RequestRefund.parse(data)

    def test_commands_are_frozen(self) -> None:
        command = ConfirmRefund(refund_id="r", provider_ref="gw")
        with pytest.raises(ValueError, match="frozen"):
            command.refund_id = "other"  # type: ignore[misc]
