"""A shipment driven by random shop moves and carrier updates, its promises checked each step."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from fourflows import FourFlowsError, Money
from fourflows.logistics.packing import Parcel
from fourflows.logistics.shipment import (
    SHIPMENT_MACHINE,
    TRACKING_STATUSES,
    Shipment,
    ShippedUnits,
)
from fourflows.logistics.shipping import ShippingTable

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
TABLE = ShippingTable.example_taiwan()
ITEMS = (ShippedUnits(line=0, sku="TEE-M", quantity=2),)


def parcel(units: int) -> Parcel:
    grams = 200 * units
    return Parcel(
        contents=(("TEE-M", units),),
        weight_g=grams,
        volume_cm3=Decimal(0),
        size_cm=None,
        volumetric_weight_g=0,
        chargeable_weight_g=grams,
    )


GOOD, WRONG = parcel(2), parcel(1)
DUE = Money("1000", "TWD")


def snapshot(shipment: Shipment) -> dict[str, Any]:
    fields = {a.name: getattr(shipment, a.name) for a in attrs.fields(Shipment)}
    return {**fields, "state": shipment.state, "version": shipment.version}


class ShipmentPromises(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []
        self.now = T0
        self.shipment: Shipment

    @initialize(service=st.sampled_from([s.id for s in TABLE.services]), cod=st.booleans())
    def plan(self, service: str, cod: bool) -> None:
        offered = TABLE.service(service).cod is not None
        self.shipment = Shipment.plan(
            id="sh-1",
            order_id="o-1",
            location_id="wh",
            service=TABLE.service(service),
            items=ITEMS,
            at=T0,
            cod_amount=DUE if cod and offered else None,
        )
        self.events += self.shipment.collect_events()

    def attempt(self, move: Any) -> None:
        before = snapshot(self.shipment)
        final = self.shipment.is_final
        try:
            recorded = move()
        except FourFlowsError:
            assert snapshot(self.shipment) == before  # a refused move changes nothing
            return
        new = self.shipment.collect_events()
        if recorded is None:
            assert new == []
            assert snapshot(self.shipment) == before
        else:
            assert not final  # nothing leaves a final state
            assert new == [recorded]  # exactly one event per move
            assert recorded.sequence == before["version"] + 1
        self.events += new

    @rule(cleared=st.booleans())
    def mark_ready(self, cleared: bool) -> None:
        self.attempt(lambda: self.shipment.mark_ready(payment_cleared=cleared, at=self.now))

    @rule(right=st.booleans())
    def pack(self, right: bool) -> None:
        self.attempt(lambda: self.shipment.pack([GOOD if right else WRONG], at=self.now))

    @rule()
    def hand_over(self) -> None:
        self.attempt(
            lambda: self.shipment.hand_over(carrier="tw-post", tracking_number="T1", at=self.now)
        )

    @rule()
    def cancel(self) -> None:
        self.attempt(lambda: self.shipment.cancel(reason="order canceled", at=self.now))

    @rule(
        status=st.sampled_from(TRACKING_STATUSES),
        minutes=st.integers(-600, 3000),
        pay=st.sampled_from([None, DUE, Money("999", "TWD")]),
        reason=st.sampled_from(["", "refused"]),
    )
    def track(self, status: str, minutes: int, pay: Money | None, reason: str) -> None:
        at = self.now + timedelta(minutes=minutes)
        self.now = max(self.now, at)
        last = self.shipment.last_update_at
        before = snapshot(self.shipment)
        self.attempt(
            lambda: self.shipment.track(
                status,
                at=at,
                reason=reason,
                cod_collected=pay,
                pickup_point="store-1",
                hold_until=at + timedelta(days=3),
            )
        )
        if last is not None and at < last:  # a late update is ignored
            assert snapshot(self.shipment) == before

    @invariant()
    def only_declared_states_and_counted_events(self) -> None:
        assert self.shipment.state in SHIPMENT_MACHINE.spec.states
        assert [e.sequence for e in self.events] == list(range(1, self.shipment.version + 1))

    @invariant()
    def cash_is_collected_only_in_full_on_arrival(self) -> None:
        shipment = self.shipment
        if shipment.state in ("delivered", "picked_up"):
            assert shipment.cod_collected == shipment.cod_amount
        else:
            assert shipment.cod_collected is None


TestShipmentPromises = ShipmentPromises.TestCase
