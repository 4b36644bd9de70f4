"""Declare your own state machine: a coupon with a limited number of uses.

Run it: ``python examples/coupon_machine.py``. The test suite also drives
this machine with a hypothesis stateful test.

A coupon is drafted, activated with a number of uses, paused and resumed,
redeemed until its uses run out, or expired. ``redeem`` shows two moves on
one event chosen by guards: back to ``active`` while uses remain, or on to
``exhausted`` with the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs

from fourflows import (
    Aggregate,
    DomainEvent,
    Flow,
    FourFlowsError,
    Guard,
    MachineSpec,
    StateMachine,
    Transition,
    domain_event,
)


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponDrafted(DomainEvent):
    """A coupon code was drafted."""

    code: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponActivated(DomainEvent):
    """The coupon can be used ``uses`` times."""

    uses: int


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponPaused(DomainEvent):
    """The coupon is paused."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponResumed(DomainEvent):
    """The coupon can be used again."""


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponRedeemed(DomainEvent):
    """An order used the coupon."""

    order_id: str


@domain_event(Flow.COMMERCE)
@attrs.frozen(kw_only=True)
class CouponExpired(DomainEvent):
    """The coupon's validity ended."""


def _positive_uses(_: Coupon, data: Mapping[str, Any], _at: datetime) -> bool:
    uses = data.get("uses")
    return isinstance(uses, int) and not isinstance(uses, bool) and uses > 0


def _uses_remain(coupon: Coupon, _: Mapping[str, Any], _at: datetime) -> bool:
    return coupon.uses_left > 1


def _last_use(coupon: Coupon, _: Mapping[str, Any], _at: datetime) -> bool:
    return coupon.uses_left == 1


COUPON: StateMachine[Coupon] = StateMachine(
    MachineSpec(
        name="coupon",
        description="A discount code with a limited number of uses.",
        states=("draft", "active", "paused", "exhausted", "expired"),
        initial="draft",
        final=("exhausted", "expired"),
        created=CouponDrafted,
        transitions=(
            Transition(
                "activate",
                "draft",
                "active",
                CouponActivated,
                (Guard("positive_uses", _positive_uses, "uses must be at least 1"),),
            ),
            Transition("pause", "active", "paused", CouponPaused),
            Transition("resume", "paused", "active", CouponResumed),
            Transition(
                "redeem",
                "active",
                "active",
                CouponRedeemed,
                (Guard("uses_remain", _uses_remain, "more than one use is left"),),
            ),
            Transition(
                "redeem",
                "active",
                "exhausted",
                CouponRedeemed,
                (Guard("last_use", _last_use, "exactly one use is left"),),
            ),
            Transition("expire", ("draft", "active", "paused"), "expired", CouponExpired),
        ),
    )
)


@attrs.define(kw_only=True, eq=False)
class Coupon(Aggregate):
    """A coupon code and the uses it has left."""

    machine: ClassVar[StateMachine[Any]] = COUPON

    code: str
    uses_left: int = 0

    @classmethod
    def draft(cls, *, id: str, code: str, at: datetime) -> Coupon:
        """Draft a new coupon."""
        coupon = cls(id=id, code=code)
        coupon._start(at=at, code=code)
        return coupon

    def activate(self, *, uses: int, at: datetime) -> None:
        """Open the coupon for ``uses`` redemptions."""
        self._fire("activate", at=at, uses=uses)
        self.uses_left = uses

    def pause(self, *, at: datetime) -> None:
        """Stop redemptions for a while."""
        self._fire("pause", at=at)

    def resume(self, *, at: datetime) -> None:
        """Allow redemptions again."""
        self._fire("resume", at=at)

    def redeem(self, *, order_id: str, at: datetime) -> None:
        """Use the coupon once, for ``order_id``."""
        left = self.uses_left - 1  # compute first,
        self._fire("redeem", at=at, order_id=order_id)  # fire (raises before any change),
        self.uses_left = left  # then assign.

    def expire(self, *, at: datetime) -> None:
        """End the coupon's validity."""
        self._fire("expire", at=at)


def main() -> None:
    at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    coupon = Coupon.draft(id="coupon-1", code="WELCOME100", at=at)
    coupon.activate(uses=2, at=at)
    coupon.redeem(order_id="order-1", at=at + timedelta(hours=1))
    coupon.redeem(order_id="order-2", at=at + timedelta(hours=2))
    print(f"{coupon.code}: {coupon.state}, {coupon.uses_left} uses left")
    try:
        coupon.redeem(order_id="order-3", at=at + timedelta(hours=3))
    except FourFlowsError as error:
        print(f"refused: {error}")
    for event in coupon.collect_events():
        print(f"  #{event.sequence} {event.name()} at {event.occurred_at:%H:%M}")
    print(COUPON.mermaid())


if __name__ == "__main__":
    main()
