"""Shipments: every path from planning to the door, the pickup point or back to the sender."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fourflows import InvalidInput, InvalidTransition, Money
from fourflows.errors import GuardRejected
from fourflows.logistics.carriers import CodOverCap, ParcelOverLimits
from fourflows.logistics.packing import Parcel
from fourflows.logistics.promise import DeliveryWindow
from fourflows.logistics.shipment import (
    Shipment,
    ShipmentDelivered,
    ShipmentReturned,
    ShippedUnits,
    delivery_performance,
)
from fourflows.logistics.shipping import ShippingTable

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Taipei
TABLE = ShippingTable.example_taiwan()
ITEMS = (ShippedUnits(line=0, sku="TEE-M", quantity=2), ShippedUnits(line=1, sku="MUG", quantity=1))


def parcel(weight_g: int, size: tuple[int, int, int] | None = None, **units: int) -> Parcel:
    contents = tuple((sku.replace("_", "-"), n) for sku, n in units.items())
    return Parcel(
        contents=contents,
        weight_g=weight_g,
        volume_cm3=Decimal(0),
        size_cm=None if size is None else (Decimal(size[0]), Decimal(size[1]), Decimal(size[2])),
        volumetric_weight_g=0,
        chargeable_weight_g=weight_g,
    )


PARCEL = parcel(800, (30, 20, 10), TEE_M=2, MUG=1)


def hours(n: int) -> datetime:
    return T0 + timedelta(hours=n)


def service_of(kind: str) -> str:
    return next(s.id for s in TABLE.services if s.kind.value == kind)


def planned(kind: str = "home", cod: Money | None = None, **extra: object) -> Shipment:
    return Shipment.plan(
        id="sh-1",
        order_id="order-1",
        location_id="taipei-wh",
        service=TABLE.service(service_of(kind)),
        items=ITEMS,
        at=T0,
        cod_amount=cod,
        **extra,  # type: ignore[arg-type]
    )


def shipped(kind: str = "home", cod: Money | None = None, **extra: object) -> Shipment:
    shipment = planned(kind, cod, **extra)
    shipment.mark_ready(payment_cleared=True, at=hours(1))
    shipment.pack([PARCEL], at=hours(2))
    shipment.hand_over(carrier="tw-post", tracking_number="TW123", at=hours(3))
    return shipment


def test_a_home_delivery_goes_through_every_step_with_one_event_each() -> None:
    shipment = shipped()
    shipment.track("in_transit", at=hours(10))
    shipment.track("out_for_delivery", at=hours(20))
    event = shipment.track("delivered", at=hours(22))
    assert shipment.state == "delivered"
    assert isinstance(event, ShipmentDelivered)
    assert event.items == ITEMS
    assert event.cod_collected is None
    names = [type(e).__name__ for e in shipment.collect_events()]
    assert names == [
        "ShipmentCreated",
        "ShipmentReady",
        "ShipmentPacked",
        "ShipmentHandedOver",
        "ShipmentInTransit",
        "ShipmentOutForDelivery",
        "ShipmentDelivered",
    ]
    assert shipment.version == 7
    assert shipment.arrived_at == hours(22)


def test_it_is_not_ready_until_the_order_is_paid_or_approved() -> None:
    shipment = planned()
    with pytest.raises(GuardRejected, match="paid, or approved for cash on delivery"):
        shipment.mark_ready(payment_cleared=False, at=hours(1))
    assert shipment.state == "pending"
    assert shipment.version == 1


def test_parcels_must_hold_exactly_the_shipments_units() -> None:
    shipment = planned()
    shipment.mark_ready(payment_cleared=True, at=hours(1))
    short = parcel(600, TEE_M=1, MUG=1)
    with pytest.raises(InvalidInput, match="pack every unit"):
        shipment.pack([short], at=hours(2))
    assert shipment.state == "ready"
    assert shipment.parcels == ()


def test_a_parcel_over_the_services_limits_is_refused_and_nothing_changes() -> None:
    shipment = planned("pickup_cvs")  # a convenience store takes at most 5 kg, 45 x 30 x 30 cm
    shipment.mark_ready(payment_cleared=True, at=hours(1))
    heavy = parcel(5200, TEE_M=2, MUG=1)
    with pytest.raises(ParcelOverLimits, match="over the 5 kg limit") as refused:
        shipment.pack([heavy], at=hours(2))
    assert refused.value.code == "weight"
    big = parcel(900, (50, 20, 10), TEE_M=2, MUG=1)
    with pytest.raises(ParcelOverLimits) as refused:
        shipment.pack([big], at=hours(2))
    assert refused.value.code == "box"
    assert shipment.state == "ready"


def test_cash_on_delivery_is_capped_by_the_service() -> None:
    # the example home service collects at most NT$20,000 on delivery
    with pytest.raises(CodOverCap, match="over its cash-on-delivery limit") as refused:
        planned(cod=Money("20001", "TWD"))
    assert refused.value.code == "cod_cap"
    assert planned(cod=Money("20000", "TWD")).cod_amount == Money("20000", "TWD")


def test_a_cod_parcel_is_delivered_only_with_the_cash_due() -> None:
    shipment = shipped(cod=Money("1560", "TWD"))
    with pytest.raises(GuardRejected, match="1500 TWD was collected, 1560 TWD is due"):
        shipment.track("delivered", at=hours(20), cod_collected=Money("1500", "TWD"))
    assert shipment.state == "shipped"
    assert shipment.cod_collected is None
    shipment.track("delivered", at=hours(21), cod_collected=Money("1560", "TWD"))
    assert shipment.cod_collected == Money("1560", "TWD")


def test_a_cod_parcel_refused_at_the_door_goes_back_with_no_cash_taken() -> None:
    shipment = shipped(cod=Money("1560", "TWD"))
    shipment.track("out_for_delivery", at=hours(20))
    shipment.track("delivery_failed", at=hours(21), reason="refused by the customer")
    event = shipment.track("returned_to_sender", at=hours(48))
    assert isinstance(event, ShipmentReturned)
    assert event.reason == "refused by the customer"
    assert event.items == ITEMS
    assert shipment.state == "returned_to_sender"
    assert shipment.cod_collected is None


def test_failed_attempts_are_counted_and_retried() -> None:
    shipment = shipped()
    shipment.track("out_for_delivery", at=hours(20))
    shipment.track("delivery_failed", at=hours(21), reason="nobody home")
    shipment.track("delivery_failed", at=hours(45), reason="nobody home again")
    assert shipment.attempts == 2
    shipment.track("out_for_delivery", at=hours(68))
    shipment.track("delivered", at=hours(70))
    assert shipment.state == "delivered"


def test_convenience_store_pickup_with_cash_on_delivery() -> None:
    shipment = shipped("pickup_cvs", cod=Money("1000", "TWD"))
    shipment.track("in_transit", at=hours(10))
    hold = hours(24 * 7)
    shipment.track("ready_for_pickup", at=hours(30), pickup_point="7-11 Xinyi", hold_until=hold)
    assert (shipment.pickup_point, shipment.hold_until) == ("7-11 Xinyi", hold)
    shipment.track("picked_up", at=hours(50), cod_collected=Money("1000", "TWD"))
    assert shipment.state == "picked_up"
    assert shipment.cod_collected == Money("1000", "TWD")


def test_an_uncollected_pickup_expires_only_after_its_hold_and_goes_back() -> None:
    shipment = shipped("pickup_cvs")
    hold = hours(100)
    shipment.track("ready_for_pickup", at=hours(30), pickup_point="FamilyMart", hold_until=hold)
    with pytest.raises(GuardRejected, match="held until"):
        shipment.track("pickup_expired", at=hours(99))
    assert shipment.state == "ready_for_pickup"
    shipment.track("pickup_expired", at=hours(100))
    shipment.track("returned_to_sender", at=hours(130), reason="not collected")
    assert shipment.state == "returned_to_sender"


def test_home_statuses_do_not_apply_to_a_pickup_service_and_back() -> None:
    shipment = shipped("pickup_cvs")
    with pytest.raises(GuardRejected, match="the service is pickup_cvs"):
        shipment.track("out_for_delivery", at=hours(10))
    home = shipped()
    with pytest.raises(GuardRejected):
        home.track("ready_for_pickup", at=hours(10), pickup_point="x", hold_until=hours(50))


def test_in_store_pickup_needs_no_carrier() -> None:
    shipment = planned("pickup_store")
    shipment.mark_ready(payment_cleared=True, at=hours(1))
    shipment.pack([PARCEL], at=hours(2))
    shipment.track(
        "ready_for_pickup", at=hours(3), pickup_point="Xinyi store", hold_until=hours(75)
    )
    shipment.track("picked_up", at=hours(5))
    assert shipment.state == "picked_up"
    assert shipment.carrier is None


def test_late_and_repeated_tracking_updates_change_nothing() -> None:
    shipment = shipped()
    shipment.track("in_transit", at=hours(10))
    shipment.track("delivered", at=hours(30))
    version = shipment.version
    assert shipment.track("delivered", at=hours(30)) is None  # a duplicate
    assert shipment.track("in_transit", at=hours(12)) is None  # arrived late
    assert shipment.track("out_for_delivery", at=hours(29)) is None
    assert (shipment.state, shipment.version) == ("delivered", version)


def test_a_move_the_state_does_not_allow_raises_and_names_what_is_allowed() -> None:
    shipment = shipped()
    shipment.track("delivered", at=hours(20))
    with pytest.raises(InvalidTransition, match="delivered"):
        shipment.track("lost", at=hours(40), reason="gone")
    with pytest.raises(InvalidTransition, match="none, it is a final state"):
        shipment.cancel(reason="too late", at=hours(41))


def test_cancel_before_the_carrier_has_it() -> None:
    shipment = planned()
    shipment.mark_ready(payment_cleared=True, at=hours(1))
    event = shipment.cancel(reason="order canceled", at=hours(2))
    assert event is not None
    assert shipment.state == "canceled"
    assert shipment.cancel(reason="order canceled", at=hours(3)) is None
    with pytest.raises(InvalidTransition):
        shipped().cancel(reason="too late", at=hours(4))


def test_bad_input_names_the_value() -> None:
    with pytest.raises(InvalidInput, match="each order line once"):
        Shipment.plan(
            id="sh-1",
            order_id="o",
            location_id="wh",
            service=TABLE.service(service_of("home")),
            items=[ITEMS[0], ITEMS[0]],
            at=T0,
        )
    with pytest.raises(InvalidInput, match="at least 1"):
        ShippedUnits(line=0, sku="TEE-M", quantity=0)
    with pytest.raises(InvalidInput, match="tracking status 'teleported'"):
        shipped().track("teleported", at=hours(9))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        shipped().track("in_transit", at=datetime(2026, 11, 21, 9, 0))
    with pytest.raises(InvalidInput, match="reason"):
        shipped().track("lost", at=hours(9))


def window(latest: date) -> DeliveryWindow:
    return DeliveryWindow(
        ordered_at=T0,
        ships_on=date(2026, 11, 20),
        earliest=date(2026, 11, 21),
        latest_before_buffer=latest,
        latest=latest,
        timezone=ZoneInfo("Asia/Taipei"),
    )


def test_on_time_is_judged_against_the_promise_in_its_timezone() -> None:
    promise = window(date(2026, 11, 23))
    on_time = shipped(promise=promise)
    # 2026-11-23 15:59 UTC is 23:59 on the 23rd in Taipei: still on time
    event = on_time.track("delivered", at=datetime(2026, 11, 23, 15, 59, tzinfo=UTC))
    assert isinstance(event, ShipmentDelivered)
    assert event.on_time is True
    late = shipped(promise=promise)
    late.track("delivered", at=datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # the 24th in Taipei
    unpromised = shipped()
    unpromised.track("delivered", at=hours(20))
    waiting = shipped(promise=promise)
    assert (on_time.on_time, late.on_time, unpromised.on_time, waiting.on_time) == (
        True,
        False,
        None,
        None,
    )
    record = delivery_performance([on_time, late, unpromised, waiting])
    assert (record.measured, record.on_time, record.late) == (2, 1, 1)
    assert record.rate == Decimal("0.5")
    assert delivery_performance([]).rate is None
