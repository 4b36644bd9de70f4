"""Stateful tests: random sequences of events, with the kernel's promises checked after each."""

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from coupon_machine import Coupon
from fourflows import Aggregate, DomainEvent, InvalidTransition, Money, Refund

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

texts = st.sampled_from(["", "  ", "gw-1", "kept it", "declined"])


class KernelPromises(RuleBasedStateMachine):
    """Fires random events (declared or not) with random data at one aggregate."""

    event_data: ClassVar[dict[str, st.SearchStrategy[dict[str, Any]]]]
    handled_by_methods: ClassVar[frozenset[str]] = frozenset()
    """Events whose aggregate method also updates fields: fired only through the method."""

    def __init__(self) -> None:
        super().__init__()
        self.aggregate = self.new_aggregate()
        self.events: list[DomainEvent] = list(self.aggregate.collect_events())
        self.now = START

    def new_aggregate(self) -> Aggregate:
        raise NotImplementedError

    @rule(data=st.data(), minutes=st.integers(0, 600))
    def fire(self, data: st.DataObject, minutes: int) -> None:
        machine = self.aggregate.machine
        raw = [e for e in machine.spec.events if e not in self.handled_by_methods]
        event = data.draw(st.sampled_from([*raw, "teleport"]))
        fields = data.draw(self.event_data.get(event, st.just({})))
        self.now += timedelta(minutes=minutes)
        before = (self.aggregate.state, self.aggregate.version)
        could = self.aggregate.can(event, **fields)
        recorded = None
        try:
            recorded = machine.fire(self.aggregate, event, at=self.now, **fields)
        except InvalidTransition as error:
            refused: InvalidTransition | None = error
        else:
            refused = None
        if refused is not None:
            assert not could
            assert (self.aggregate.state, self.aggregate.version) == before
            assert self.aggregate.pending_events == ()
            assert refused.allowed == tuple(sorted(machine.allowed_events(before[0])))
            return
        assert could
        assert recorded is not None
        candidates = machine.table[(before[0], event)]
        assert self.aggregate.state in {c.dest for c in candidates}
        assert type(recorded) in {c.records for c in candidates}
        assert self.aggregate.pending_events == (recorded,)
        assert recorded.sequence == before[1] + 1
        assert recorded.occurred_at == self.now
        self.events.extend(self.aggregate.collect_events())

    @invariant()
    def the_state_is_declared(self) -> None:
        assert self.aggregate.state in self.aggregate.machine.spec.states

    @invariant()
    def one_event_per_version(self) -> None:
        assert [e.sequence for e in self.events] == list(range(1, self.aggregate.version + 1))
        assert all(e.aggregate_id == self.aggregate.id for e in self.events)

    @invariant()
    def final_states_are_final(self) -> None:
        if self.aggregate.is_final:
            assert self.aggregate.allowed_events == ()


class CouponPromises(KernelPromises):
    event_data: ClassVar[dict[str, st.SearchStrategy[dict[str, Any]]]] = {}
    handled_by_methods: ClassVar[frozenset[str]] = frozenset({"activate", "redeem"})

    def new_aggregate(self) -> Aggregate:
        return Coupon.draft(id="c-1", code="HELLO", at=START)

    @rule(uses=st.integers(-1, 3))
    def activate_through_the_method(self, uses: int) -> None:
        coupon = self.aggregate
        assert isinstance(coupon, Coupon)
        try:
            coupon.activate(uses=uses, at=self.now)
        except InvalidTransition:
            return
        self.events.extend(coupon.collect_events())

    @precondition(lambda self: self.aggregate.state == "active")
    @rule()
    def redeem_through_the_method(self) -> None:
        coupon = self.aggregate
        assert isinstance(coupon, Coupon)
        left = coupon.uses_left
        coupon.redeem(order_id="o-9", at=self.now)
        assert coupon.uses_left == left - 1
        self.events.extend(coupon.collect_events())

    @invariant()
    def uses_are_never_negative_and_exhausted_means_none_left(self) -> None:
        coupon = self.aggregate
        assert isinstance(coupon, Coupon)
        assert coupon.uses_left >= 0
        if coupon.state == "exhausted":
            assert coupon.uses_left == 0


class RefundPromises(KernelPromises):
    event_data: ClassVar[dict[str, st.SearchStrategy[dict[str, Any]]]] = {
        "succeed": st.fixed_dictionaries({"provider_ref": texts}),
        "fail": st.fixed_dictionaries({"reason": texts}),
        "cancel": st.fixed_dictionaries({"reason": texts}),
    }

    def new_aggregate(self) -> Aggregate:
        return Refund.request(
            id="r-1", payment_id="p-1", amount=Money("100", "TWD"), reason="torn", at=START
        )


TestCouponPromises = CouponPromises.TestCase
TestRefundPromises = RefundPromises.TestCase
