import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, ClassVar

import attrs
import pytest
from transitions import MachineError

from coupon_machine import COUPON, Coupon, CouponActivated, CouponDrafted, CouponPaused
from fourflows import (
    Aggregate,
    GuardRejected,
    InvalidInput,
    InvalidTransition,
    NotFound,
    StateMachine,
    machine_named,
    register_machine,
    registered_machines,
)
from fourflows.machines import Guard, MachineSpec, Transition

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def active_coupon(uses: int = 2) -> Coupon:
    coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
    coupon.activate(uses=uses, at=AT)
    return coupon


def spec(**changes: Any) -> MachineSpec[Any]:
    fields: dict[str, Any] = {
        "name": "door",
        "states": ("closed", "open", "gone"),
        "initial": "closed",
        "final": ("gone",),
        "created": CouponDrafted,
        "transitions": (
            Transition("open", "closed", "open", CouponPaused),
            Transition("close", "open", "closed", CouponPaused),
            Transition("remove", ("closed", "open"), "gone", CouponPaused),
        ),
    }
    fields.update(changes)
    return MachineSpec(**fields)


class TestSpecValidation:
    def test_a_good_spec(self) -> None:
        assert spec().events == ("open", "close", "remove")

    @pytest.mark.parametrize(
        ("changes", "complaint"),
        [
            ({"states": ("closed", "closed", "open", "gone")}, "unique"),
            ({"initial": "ajar"}, "initial state 'ajar'"),
            ({"final": ("gone", "lost")}, "final state 'lost'"),
            ({"name": "Door"}, "snake_case"),
            (
                {"transitions": (Transition("open", "closed", "ajar", CouponPaused),)},
                "unknown state 'ajar'",
            ),
            (
                {
                    "transitions": (
                        Transition("open", "closed", "open", CouponPaused),
                        Transition("remove", "open", "gone", CouponPaused),
                        Transition("revive", "gone", "open", CouponPaused),
                    )
                },
                "leaves the final state 'gone'",
            ),
            (
                {
                    "states": ("closed", "open", "gone", "limbo"),
                    "transitions": (
                        Transition("open", "closed", "open", CouponPaused),
                        Transition("remove", ("closed", "open"), "gone", CouponPaused),
                        Transition("close", "limbo", "closed", CouponPaused),
                    ),
                },
                "cannot be reached",
            ),
            (
                {"transitions": (Transition("remove", "closed", "gone", CouponPaused),)},
                "cannot be reached",
            ),
            (
                {
                    "transitions": (
                        Transition("open", "closed", "open", CouponPaused),
                        Transition("remove", "closed", "gone", CouponPaused),
                    )
                },
                "no way out",
            ),
            (
                {
                    "transitions": (
                        Transition("open", "closed", "open", CouponPaused),
                        Transition("open", "closed", "gone", CouponPaused),
                        Transition("close", "open", "closed", CouponPaused),
                    )
                },
                "can never happen",
            ),
        ],
    )
    def test_mistakes_are_refused_when_declared(
        self, changes: dict[str, Any], complaint: str
    ) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            spec(**changes)

    def test_names_must_be_snake_case(self) -> None:
        with pytest.raises(InvalidInput, match="snake_case"):
            Transition("Open", "closed", "open", CouponPaused)
        with pytest.raises(InvalidInput, match="snake_case"):
            Guard("Has Key", lambda a, d, at: True, "a key")


class TestFiring:
    def test_a_move_changes_state_bumps_version_and_records_one_event(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        event = COUPON.fire(coupon, "activate", at=AT, uses=3)
        assert (coupon.state, coupon.version) == ("active", 2)
        assert isinstance(event, CouponActivated)
        assert (event.aggregate_id, event.sequence, event.uses) == ("c-1", 2, 3)
        assert coupon.pending_events[-1] is event
        assert len(coupon.pending_events) == 2

    def test_guards_choose_between_moves_on_one_event(self) -> None:
        coupon = active_coupon(uses=2)
        coupon.redeem(order_id="o-1", at=AT)
        assert (coupon.state, coupon.uses_left) == ("active", 1)
        coupon.redeem(order_id="o-2", at=AT)
        assert (coupon.state, coupon.uses_left, coupon.is_final) == ("exhausted", 0, True)

    def test_an_undeclared_move_names_state_event_and_allowed_events(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        with pytest.raises(InvalidTransition) as caught:
            coupon.pause(at=AT)
        error = caught.value
        assert (error.state, error.event, error.allowed) == (
            "draft",
            "pause",
            ("activate", "expire"),
        )
        assert "'draft'" in str(error)
        assert "'activate', 'expire'" in str(error)
        assert not isinstance(error, GuardRejected)

    def test_an_unknown_event_says_so(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        with pytest.raises(InvalidTransition, match="coupon has no event 'fly'"):
            coupon._fire("fly", at=AT)

    def test_a_refusing_guard_names_its_rule(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        with pytest.raises(GuardRejected, match="uses must be at least 1"):
            coupon.activate(uses=0, at=AT)
        assert (coupon.state, coupon.version, len(coupon.pending_events)) == ("draft", 1, 1)

    def test_a_final_state_allows_nothing(self) -> None:
        coupon = active_coupon()
        coupon.expire(at=AT)
        assert coupon.allowed_events == ()
        with pytest.raises(InvalidTransition, match="final state"):
            coupon.resume(at=AT)

    def test_bad_event_data_changes_nothing(self) -> None:
        coupon = active_coupon()
        before = (coupon.state, coupon.version, coupon.pending_events, coupon.uses_left)
        with pytest.raises(InvalidInput, match="timezone-aware"):
            coupon.redeem(order_id="o-1", at=datetime(2026, 11, 22))
        with pytest.raises(
            InvalidInput, match=r"CouponPaused takes the data \[\], not \['unexpected'\]"
        ):
            COUPON.fire(coupon, "pause", at=AT, unexpected="field")
        assert (coupon.state, coupon.version, coupon.pending_events, coupon.uses_left) == before

    def test_a_guard_that_raises_changes_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def explode(_: Any, __: Mapping[str, Any], ___: datetime) -> bool:
            raise RuntimeError("guard failed")

        machine = StateMachine(
            spec(
                transitions=(
                    Transition(
                        "open", "closed", "open", CouponPaused, (Guard("boom", explode, "x"),)
                    ),
                    Transition("close", "open", "closed", CouponPaused),
                    Transition("remove", ("closed", "open"), "gone", CouponPaused),
                )
            )
        )
        monkeypatch.setattr(Door, "machine", machine)
        door = Door(id="d-1")
        with pytest.raises(RuntimeError):
            door._fire("open", at=AT)
        assert (door.state, door.version, door.pending_events) == ("closed", 0, ())

    def test_can_evaluates_guards_without_changing_anything(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        assert coupon.can("activate", uses=1)
        assert not coupon.can("activate", uses=0)
        assert not coupon.can("pause")
        assert (coupon.state, coupon.version) == ("draft", 1)

    def test_start_only_once(self) -> None:
        coupon = Coupon.draft(id="c-1", code="HELLO", at=AT)
        with pytest.raises(InvalidTransition, match="already begun"):
            coupon._start(at=AT, code="AGAIN")

    def test_collect_events_hands_over_once(self) -> None:
        coupon = active_coupon()
        assert [e.name() for e in coupon.collect_events()] == ["CouponDrafted", "CouponActivated"]
        assert coupon.collect_events() == []
        assert coupon.version == 2


@attrs.define(kw_only=True, eq=False)
class Door(Aggregate):
    machine: ClassVar[StateMachine[Any]] = StateMachine(spec())


class TestLoading:
    def test_an_aggregate_loads_in_any_state_without_events(self) -> None:
        coupon = Coupon(id="c-9", state="paused", version=7, code="X", uses_left=3)
        assert (coupon.state, coupon.version, coupon.pending_events) == ("paused", 7, ())
        coupon.resume(at=AT)
        assert coupon.pending_events[0].sequence == 8

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"id": "c-1", "state": "lost"}, "'lost' is not a state of the coupon machine"),
            ({"id": ""}, "id must be a non-empty string"),
            ({"id": "c-1", "version": -1}, "version must be an int of at least 0"),
        ],
    )
    def test_bad_stored_data_is_refused(self, fields: dict[str, Any], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            Coupon(code="X", **fields)


def every_machine() -> list[StateMachine[Any]]:
    return [*registered_machines(), COUPON, Door.machine]


class TestAgreementWithTransitions:
    """The compiled table and the `transitions` engine agree on every (state, event)."""

    @pytest.mark.parametrize("machine", every_machine(), ids=lambda m: m.name)
    def test_the_table_is_the_engine(self, machine: StateMachine[Any]) -> None:
        engine = machine.engine
        for state in machine.spec.states:
            assert set(machine.allowed_events(state)) == set(engine.get_triggers(state))
            for event in machine.spec.events:
                engine_moves = engine.events[event].transitions.get(state, [])
                compiled = machine.table.get((state, event), ())
                assert [c.dest for c in compiled] == [m.dest for m in engine_moves]
                assert [c.guards for c in compiled] == [
                    tuple(cond.func for cond in m.conditions) for m in engine_moves
                ]
                assert all(cond.target for m in engine_moves for cond in m.conditions)
                assert [c.records for c in compiled] == [m.records for m in engine_moves]

    @pytest.mark.parametrize("state", COUPON.spec.states)
    @pytest.mark.parametrize("event", COUPON.spec.events)
    @pytest.mark.parametrize("uses_left", [0, 1, 2])
    @pytest.mark.parametrize("uses", [0, 3])
    def test_both_engines_take_the_same_move(
        self, state: str, event: str, uses_left: int, uses: int
    ) -> None:
        per_event: dict[str, dict[str, Any]] = {
            "activate": {"uses": uses},
            "redeem": {"order_id": "o-1"},
        }
        data = per_event.get(event, {})
        ours = Coupon(id="c-1", state=state, version=1, code="X", uses_left=uses_left)
        theirs = SimpleNamespace(state=state, uses_left=uses_left)  # the engine sets .state
        with contextlib.suppress(InvalidTransition):
            COUPON.fire(ours, event, at=AT, **data)
        with contextlib.suppress(MachineError):
            COUPON.engine.events[event].trigger(theirs, **data)
        assert ours.state == theirs.state


class TestIntrospection:
    def test_mermaid_is_drawn_from_the_spec(self) -> None:
        diagram = COUPON.mermaid()
        assert "stateDiagram-v2" in diagram
        assert "[*] --> draft" in diagram
        assert "active --> exhausted: redeem [last_use]" in diagram
        assert "exhausted --> [*]" in diagram
        assert "expired --> [*]" in diagram

    def test_allowed_events_of_an_unknown_state(self) -> None:
        with pytest.raises(NotFound, match="'nowhere'"):
            COUPON.allowed_events("nowhere")

    def test_repr_and_name(self) -> None:
        assert COUPON.name == "coupon"
        assert repr(COUPON) == "<StateMachine 'coupon': 5 states>"
        assert not COUPON.is_final("active")

    def test_registry(self) -> None:
        assert machine_named("refund").name == "refund"
        with pytest.raises(NotFound, match=r"known: .*'refund'"):
            machine_named("coupon")
        assert register_machine(machine_named("refund")) is machine_named("refund")
        with pytest.raises(InvalidInput, match="already registered"):
            register_machine(StateMachine(spec(name="refund")))

    def test_the_machine_holds_no_aggregate(self) -> None:
        assert COUPON.engine.models == []
        active_coupon()
        assert COUPON.engine.models == []
