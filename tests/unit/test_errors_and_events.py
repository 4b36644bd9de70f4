from datetime import UTC, datetime

import attrs
import pytest

import fourflows.errors as errors
from fourflows import (
    ConcurrencyConflict,
    DomainEvent,
    Flow,
    FourFlowsError,
    InvalidInput,
    Money,
    NotFound,
    domain_event,
    event_type,
    event_types,
)
from fourflows.cash.refund import RefundRequested
from fourflows.events import require_aware

AT = datetime(2026, 11, 22, tzinfo=UTC)


def test_every_error_is_a_fourflows_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), FourFlowsError)


def test_errors_are_also_the_builtin_they_really_are() -> None:
    assert issubclass(errors.InvalidInput, ValueError)
    assert issubclass(errors.CurrencyMismatch, TypeError)
    assert issubclass(errors.NotFound, LookupError)


def test_not_found_lists_what_is_known() -> None:
    error = NotFound("machine", "x", iter(["b", "a"]))
    assert str(error) == "no machine 'x'; known: 'a', 'b'"
    assert str(NotFound("machine", "x", [])) == "no machine 'x'; known: none"


def test_concurrency_conflict_says_what_to_do() -> None:
    error = ConcurrencyConflict("Refund", "r-1", expected=2, found=3)
    assert "version 2" in str(error)
    assert "version 3" in str(error)
    assert "reload" in str(error)


class TestEvents:
    def test_events_are_immutable_and_tagged_with_their_flow(self) -> None:
        event = RefundRequested(
            aggregate_id="r-1",
            sequence=1,
            occurred_at=AT,
            payment_id="p-1",
            amount=Money("1", "TWD"),
            reason="x",
        )
        assert event.flow is Flow.CASH
        assert event.name() == "RefundRequested"
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            event.sequence = 2  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"aggregate_id": "", "sequence": 1, "occurred_at": AT}, "aggregate_id"),
            ({"aggregate_id": "a", "sequence": 0, "occurred_at": AT}, "sequence"),
            ({"aggregate_id": "a", "sequence": True, "occurred_at": AT}, "sequence"),
            ({"aggregate_id": "a", "sequence": 1, "occurred_at": datetime(2026, 1, 1)}, "naive"),
            ({"aggregate_id": "a", "sequence": 1, "occurred_at": "2026-01-01"}, "datetime"),
        ],
    )
    def test_bad_fields_are_refused(self, fields: dict[str, object], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            RefundRequested(payment_id="p", amount=None, reason="r", **fields)  # type: ignore[arg-type]

    def test_the_registry_lists_every_event_by_flow(self) -> None:
        names = [kind.name() for kind in event_types()]
        assert {"RefundRequested", "RefundSucceeded", "RefundFailed", "RefundCanceled"} <= set(
            names
        )
        flows = [list(Flow).index(kind.flow) for kind in event_types()]
        assert flows == sorted(flows)
        with pytest.raises(NotFound, match="NoSuchThing"):
            event_type("NoSuchThing")

    def test_event_names_are_unique(self) -> None:
        with pytest.raises(InvalidInput, match="already registered"):

            @domain_event(Flow.CASH)
            @attrs.frozen(kw_only=True)
            class RefundSucceeded(DomainEvent):
                """A clash."""

    def test_an_event_type_must_be_a_frozen_attrs_event(self) -> None:
        with pytest.raises(InvalidInput, match=r"attrs\.frozen"):

            @domain_event(Flow.CASH)
            class TipReceived(DomainEvent):
                """Forgot @attrs.frozen."""

    def test_the_flow_must_be_a_flow(self) -> None:
        with pytest.raises(InvalidInput, match="commerce"):
            domain_event("cash")  # type: ignore[arg-type]

    def test_flows_have_chinese_names(self) -> None:
        assert [f.chinese for f in Flow] == ["商流", "金流", "物流", "資訊流", "服務流"]

    def test_require_aware(self) -> None:
        assert require_aware(AT, "t") is AT


def test_errors_copy_and_pickle_with_their_attributes() -> None:
    import copy
    import pickle

    made = [
        errors.NotEligible("shipping service", "cvs", "too heavy", code="weight"),
        errors.NotFound("order", "o-1", known=["o-2"]),
        errors.InsufficientStock("MUG", requested=3, available=1, location="wh"),
        errors.GatewayUnavailable("fake", "authorize", "timeout", idempotency_key="k"),
        errors.IdempotencyConflict("k", recorded="a" * 64, given="b" * 64),
    ]
    for error in made:
        for twin in (copy.deepcopy(error), pickle.loads(pickle.dumps(error))):
            assert type(twin) is type(error)
            assert str(twin) == str(error)
            assert twin.__dict__ == error.__dict__
