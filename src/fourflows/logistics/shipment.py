"""Shipments: the goods of an order leaving one stock location, until they arrive or come back.

A shipment carries some units of an order's lines from one location by one
shipping service. Its life, declared in `SHIPMENT_MACHINE`:

* ``pending`` → ``ready`` when its units are allocated and the order is paid
  or approved for cash on delivery (`Shipment.mark_ready`);
* ``ready`` → ``packed`` with its parcels, each within the service's limits
  (`Shipment.pack`);
* ``packed`` → ``shipped`` when the carrier takes it, with the tracking number
  (`Shipment.hand_over`); then the carrier's tracking moves it through
  ``in_transit`` and ``out_for_delivery`` to ``delivered``, or to
  ``delivery_failed`` (an attempt; the carrier retries or sends it back),
  ``returned_to_sender`` or ``lost``;
* the pickup path: a convenience-store parcel arrives at the store
  (``ready_for_pickup``) and is ``picked_up``, or its hold period ends
  (``pickup_expired``) and it goes back (``returned_to_sender``); a parcel for
  pickup at the shop's own store (buy online, pick up in store) goes from
  ``packed`` straight to ``ready_for_pickup``;
* ``canceled`` before the carrier has it.

Cash on delivery: a shipment may carry ``cod_amount``, capped by the
service (`CodOverCap`, a `NotEligible` with code ``"cod_cap"``). It is delivered or picked up
only with exactly that amount collected; a parcel refused at the door
fails its attempt with the reason and goes back with no cash taken.

Tracking is applied with `Shipment.track`, which takes the canonical status
names a carrier adapter reports (``in_transit``, ``out_for_delivery``,
``delivered``, ``delivery_failed``, ``ready_for_pickup``, ``picked_up``,
``pickup_expired``, ``returned_to_sender``, ``lost``). It is idempotent and
tolerant of late arrivals: an update older than the last one applied, or
repeating the current status, changes nothing and returns ``None``.

Each shipment keeps the promised delivery window from pricing and the
actual times, so `Shipment.on_time` and `delivery_performance` tell
whether promises were kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from fourflows.aggregates import Aggregate
from fourflows.errors import InvalidInput, NotEligible
from fourflows.events import DomainEvent, Flow, domain_event, require_aware
from fourflows.logistics.carriers import CodOverCap, ParcelOverLimits
from fourflows.logistics.packing import Parcel, ParcelLimits, total_units
from fourflows.logistics.promise import DeliveryWindow
from fourflows.logistics.shipping import ServiceKind, ShippingService
from fourflows.machines import Guard, MachineSpec, StateMachine, Transition, register_machine
from fourflows.money import Money

__all__ = [
    "SHIPMENT_MACHINE",
    "TRACKING_STATUSES",
    "DeliveryPerformance",
    "Shipment",
    "ShipmentCanceled",
    "ShipmentCreated",
    "ShipmentDelivered",
    "ShipmentDeliveryFailed",
    "ShipmentEvent",
    "ShipmentHandedOver",
    "ShipmentInTransit",
    "ShipmentLost",
    "ShipmentOutForDelivery",
    "ShipmentPacked",
    "ShipmentPickedUp",
    "ShipmentPickupExpired",
    "ShipmentReady",
    "ShipmentReadyForPickup",
    "ShipmentReturned",
    "ShippedUnits",
    "delivery_performance",
]


# --- values ------------------------------------------------------------------------------


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{what} must be an int of at least 1, not {value!r}")
    return value


@attrs.frozen(kw_only=True)
class ShippedUnits:
    """``quantity`` units of order line ``line`` (sku ``sku``) in a shipment."""

    line: int
    sku: str
    quantity: int

    def __attrs_post_init__(self) -> None:
        if isinstance(self.line, bool) or not isinstance(self.line, int) or self.line < 0:
            raise InvalidInput(f"a line index must be an int of at least 0, not {self.line!r}")
        _text(self.sku, "a sku")
        _count(self.quantity, f"the quantity of line {self.line}")


# --- events ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ShipmentEvent(DomainEvent):
    """The base of a shipment's events: the order it serves."""

    order_id: str


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentCreated(ShipmentEvent):
    """A shipment of ``items`` from ``location_id`` by ``service_id`` was planned."""

    location_id: str
    service_id: str
    items: tuple[ShippedUnits, ...]
    cod_amount: Money | None


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentReady(ShipmentEvent):
    """Its units are allocated and its order is paid or approved: it may be packed."""

    payment_cleared: bool


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentPacked(ShipmentEvent):
    """The units were packed into ``parcels``."""

    parcels: tuple[Parcel, ...]


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentHandedOver(ShipmentEvent):
    """The carrier took the parcels under ``tracking_number``: the goods have shipped."""

    carrier: str
    tracking_number: str
    items: tuple[ShippedUnits, ...]


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentInTransit(ShipmentEvent):
    """The carrier reports the parcels on their way."""


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentOutForDelivery(ShipmentEvent):
    """The parcels are on the last leg to the customer."""


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentDelivered(ShipmentEvent):
    """The customer received ``items``; ``cod_collected`` is the cash taken, if any."""

    items: tuple[ShippedUnits, ...]
    cod_collected: Money | None
    on_time: bool | None


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentDeliveryFailed(ShipmentEvent):
    """Delivery attempt number ``attempt`` failed for ``reason`` (refused, nobody home...)."""

    reason: str
    attempt: int


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentReadyForPickup(ShipmentEvent):
    """The parcels wait at ``pickup_point`` until ``hold_until``."""

    pickup_point: str
    hold_until: datetime


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentPickedUp(ShipmentEvent):
    """The customer collected ``items``; ``cod_collected`` is the cash taken, if any."""

    items: tuple[ShippedUnits, ...]
    cod_collected: Money | None
    on_time: bool | None


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentPickupExpired(ShipmentEvent):
    """Nobody collected the parcels by the end of their hold: they go back."""


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentReturned(ShipmentEvent):
    """The parcels came back to the sender with ``items``, for ``reason``; no cash was taken."""

    items: tuple[ShippedUnits, ...]
    reason: str


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentLost(ShipmentEvent):
    """The carrier lost the parcels with ``items``."""

    items: tuple[ShippedUnits, ...]
    reason: str


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class ShipmentCanceled(ShipmentEvent):
    """The shipment was called off before the carrier took it, releasing ``items``."""

    items: tuple[ShippedUnits, ...]
    reason: str


# --- the machine -------------------------------------------------------------------------


def _cleared(_: Shipment, data: Mapping[str, Any], at: datetime) -> bool:
    return data.get("payment_cleared") is True


def _collects_due(shipment: Shipment, data: Mapping[str, Any], at: datetime) -> bool | str:
    collected, due = data.get("cod_collected"), shipment.cod_amount
    if collected == due:
        return True
    return f"{collected or 'nothing'} was collected, {due or 'nothing'} is due"


def _hold_over(shipment: Shipment, data: Mapping[str, Any], at: datetime) -> bool | str:
    until = shipment.hold_until
    if until is None or at >= until:
        return True
    return f"the parcel is held until {until.isoformat()}, not over at {at.isoformat()}"


def _kind_is(*kinds: ServiceKind) -> Guard[Shipment]:
    def check(shipment: Shipment, data: Mapping[str, Any], at: datetime) -> bool | str:
        return shipment.kind in kinds or f"the service is {shipment.kind.value}"

    names = [kind.value for kind in kinds]
    return Guard(f"service_is_{'_or_'.join(names)}", check, f"the service is {' or '.join(names)}")


_CLEARED = Guard("payment_cleared", _cleared, "the order is paid, or approved for cash on delivery")
_COLLECTED = Guard(
    "cod_collected_in_full", _collects_due, "exactly the cash-on-delivery amount is collected"
)
_AT_DOOR = _kind_is(ServiceKind.HOME, ServiceKind.SAME_DAY)
_AT_CVS = _kind_is(ServiceKind.PICKUP_CVS)
_AT_STORE = _kind_is(ServiceKind.PICKUP_STORE)
_HOLD_OVER = Guard("hold_over", _hold_over, "the pickup hold period has ended")

_MOVING = ("shipped", "in_transit")
_ON_THE_ROAD = ("shipped", "in_transit", "out_for_delivery", "delivery_failed")

SHIPMENT_MACHINE: StateMachine[Shipment] = register_machine(
    StateMachine(
        MachineSpec(
            name="shipment",
            description=(
                "Goods of one order leaving one location: packed, handed to a carrier, "
                "tracked to the door or a pickup point, or back to the sender."
            ),
            states=(
                "pending",
                "ready",
                "packed",
                "shipped",
                "in_transit",
                "out_for_delivery",
                "delivery_failed",
                "ready_for_pickup",
                "pickup_expired",
                "delivered",
                "picked_up",
                "returned_to_sender",
                "lost",
                "canceled",
            ),
            initial="pending",
            final=("delivered", "picked_up", "returned_to_sender", "lost", "canceled"),
            created=ShipmentCreated,
            transitions=(
                Transition("mark_ready", "pending", "ready", ShipmentReady, (_CLEARED,)),
                Transition("pack", "ready", "packed", ShipmentPacked),
                Transition("hand_over", "packed", "shipped", ShipmentHandedOver),
                Transition(
                    "in_transit", ("shipped", "delivery_failed"), "in_transit", ShipmentInTransit
                ),
                Transition(
                    "out_for_delivery",
                    ("shipped", "in_transit", "delivery_failed"),
                    "out_for_delivery",
                    ShipmentOutForDelivery,
                    (_AT_DOOR,),
                ),
                Transition(
                    "deliver",
                    ("shipped", "in_transit", "out_for_delivery", "delivery_failed"),
                    "delivered",
                    ShipmentDelivered,
                    (_AT_DOOR, _COLLECTED),
                ),
                Transition(
                    "fail_attempt",
                    ("shipped", "in_transit", "out_for_delivery", "delivery_failed"),
                    "delivery_failed",
                    ShipmentDeliveryFailed,
                    (_AT_DOOR,),
                ),
                Transition(
                    "arrive_for_pickup",
                    _MOVING,
                    "ready_for_pickup",
                    ShipmentReadyForPickup,
                    (_AT_CVS,),
                ),
                Transition(
                    "arrive_for_pickup",
                    "packed",
                    "ready_for_pickup",
                    ShipmentReadyForPickup,
                    (_AT_STORE,),
                ),
                Transition(
                    "pick_up", "ready_for_pickup", "picked_up", ShipmentPickedUp, (_COLLECTED,)
                ),
                Transition(
                    "expire_pickup",
                    "ready_for_pickup",
                    "pickup_expired",
                    ShipmentPickupExpired,
                    (_HOLD_OVER,),
                ),
                Transition(
                    "return_to_sender",
                    (*_ON_THE_ROAD, "pickup_expired"),
                    "returned_to_sender",
                    ShipmentReturned,
                ),
                Transition("lose", _ON_THE_ROAD, "lost", ShipmentLost),
                Transition("cancel", ("pending", "ready", "packed"), "canceled", ShipmentCanceled),
            ),
        )
    )
)

TRACKING_STATUSES: tuple[str, ...] = (
    "in_transit",
    "out_for_delivery",
    "delivered",
    "delivery_failed",
    "ready_for_pickup",
    "picked_up",
    "pickup_expired",
    "returned_to_sender",
    "lost",
)
"""The canonical carrier statuses `Shipment.track` applies."""


# --- the aggregate -----------------------------------------------------------------------


def _money(value: object, what: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidInput(f"{what} must be Money, not {value!r}")
    return value


def _items(value: object) -> tuple[ShippedUnits, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str):
        raise InvalidInput(f"a shipment's items must be ShippedUnits, not {value!r}")
    items = tuple(value)
    if not items or not all(isinstance(item, ShippedUnits) for item in items):
        raise InvalidInput(f"a shipment needs at least one ShippedUnits item, not {value!r}")
    lines = [item.line for item in items]
    if len(set(lines)) != len(lines):
        raise InvalidInput(f"a shipment lists each order line once, not {lines}")
    return items


def _by_sku(items: Iterable[ShippedUnits]) -> dict[str, int]:
    units: dict[str, int] = {}
    for item in items:
        units[item.sku] = units.get(item.sku, 0) + item.quantity
    return units


@attrs.define(kw_only=True, eq=False)
class Shipment(Aggregate):
    """Units of one order shipped from one location by one service; see the module docs.

    Create it with `Shipment.plan`. Carriers repeat and reorder their
    updates, so every method that records what a carrier reported changes
    nothing, and returns ``None``, when it repeats the current state; the
    moves a caller asks for (``pack``, ``hand_over``, ``cancel``) raise
    `InvalidTransition` from the wrong state.
    """

    machine: ClassVar[StateMachine[Any]] = SHIPMENT_MACHINE

    order_id: str
    location_id: str
    service_id: str
    kind: ServiceKind
    items: tuple[ShippedUnits, ...]
    cod_amount: Money | None = None
    limits: ParcelLimits | None = None
    promise: DeliveryWindow | None = None
    planned_at: datetime | None = None
    parcels: tuple[Parcel, ...] = ()
    carrier: str | None = None
    tracking_number: str | None = None
    shipped_at: datetime | None = None
    arrived_at: datetime | None = None
    """When the customer received the goods (delivered or picked up)."""
    pickup_point: str | None = None
    hold_until: datetime | None = None
    attempts: int = 0
    cod_collected: Money | None = None
    last_update_at: datetime | None = None
    """The time of the last carrier update applied: older ones are ignored."""
    outcome: str | None = None

    @classmethod
    def plan(
        cls,
        *,
        id: str,
        order_id: str,
        location_id: str,
        service: ShippingService,
        items: Iterable[ShippedUnits],
        at: datetime,
        cod_amount: Money | None = None,
        promise: DeliveryWindow | None = None,
        pickup_point: str | None = None,
    ) -> Shipment:
        """Plan a shipment of ``items`` from ``location_id`` by ``service``.

        ``pickup_point`` is where the customer collects, for a pickup
        service, when it is known (the carrier's scan may name it later).

        ``cod_amount`` is the cash to collect on delivery: the service must
        offer cash on delivery, and the amount must be positive and within its
        cap (`NotEligible` with code ``"cod_unsupported"``, or `CodOverCap`).
        """
        require_aware(at, "at")
        if not isinstance(service, ShippingService):
            raise InvalidInput(f"service must be a ShippingService, not {service!r}")
        units = _items(items)
        if cod_amount is not None:
            _check_cod(service, _money(cod_amount, "cod_amount"))
        if promise is not None and not isinstance(promise, DeliveryWindow):
            raise InvalidInput(f"promise must be a DeliveryWindow or None, not {promise!r}")
        shipment = cls(
            id=id,
            order_id=_text(order_id, "an order id"),
            location_id=_text(location_id, "a location id"),
            service_id=service.id,
            kind=service.kind,
            items=units,
            cod_amount=cod_amount,
            limits=service.limits,
            promise=promise,
            planned_at=at,
            pickup_point=None if pickup_point is None else _text(pickup_point, "a pickup point"),
        )
        shipment._start(
            at=at,
            order_id=order_id,
            location_id=location_id,
            service_id=service.id,
            items=units,
            cod_amount=cod_amount,
        )
        return shipment

    # --- what the shop does ----------------------------------------------------------------

    def mark_ready(self, *, payment_cleared: bool, at: datetime) -> DomainEvent | None:
        """The units are allocated; ``payment_cleared`` says the order is paid or COD-approved."""
        if self.state == "ready":
            return None
        return self._fire(
            "mark_ready", at=at, order_id=self.order_id, payment_cleared=payment_cleared
        )

    def pack(self, parcels: Iterable[Parcel], *, at: datetime) -> DomainEvent | None:
        """Pack the units into ``parcels`` (as `fourflows.logistics.packing.pack` makes them).

        The parcels must hold exactly the shipment's units, each within the
        service's limits (`ParcelOverLimits`, with the limit's code:
        ``"weight"``, ``"side"``, ``"length_plus_girth"``, ``"box"``).
        Packing the same parcels again changes nothing.
        """
        packed = tuple(parcels) if isinstance(parcels, Iterable) else parcels
        if not isinstance(packed, tuple) or not packed:
            raise InvalidInput(f"pack needs at least one Parcel, not {parcels!r}")
        for parcel in packed:
            if not isinstance(parcel, Parcel):
                raise InvalidInput(f"pack needs Parcel values, not {parcel!r}")
        if self.state == "packed" and packed == self.parcels:
            return None
        for index, parcel in enumerate(packed):
            self._check_limits(index, parcel)
        held = total_units(packed)
        due = _by_sku(self.items)
        if held != due:
            raise InvalidInput(
                f"the parcels hold {dict(sorted(held.items()))}, but shipment {self.id!r} "
                f"ships {dict(sorted(due.items()))}; pack every unit, and only those"
            )
        event = self._fire("pack", at=at, order_id=self.order_id, parcels=packed)
        self.parcels = packed
        return event

    def hand_over(self, *, carrier: str, tracking_number: str, at: datetime) -> DomainEvent | None:
        """The carrier took the parcels: the goods have shipped under ``tracking_number``."""
        _text(carrier, "a carrier")
        _text(tracking_number, "a tracking number")
        if (self.state, self.carrier, self.tracking_number) == (
            "shipped",
            carrier,
            tracking_number,
        ):
            return None
        event = self._fire(
            "hand_over",
            at=at,
            order_id=self.order_id,
            carrier=carrier,
            tracking_number=tracking_number,
            items=self.items,
        )
        self.carrier, self.tracking_number, self.shipped_at = carrier, tracking_number, at
        self.last_update_at = at
        return event

    def cancel(self, *, reason: str, at: datetime) -> DomainEvent | None:
        """Call the shipment off before the carrier has it; its units go back to stock."""
        _text(reason, "a reason")
        if self.state == "canceled":
            return None
        event = self._fire("cancel", at=at, order_id=self.order_id, items=self.items, reason=reason)
        self.outcome = reason
        return event

    # --- what the carrier reports ----------------------------------------------------------

    def track(
        self,
        status: str,
        *,
        at: datetime,
        reason: str = "",
        cod_collected: Money | None = None,
        pickup_point: str | None = None,
        hold_until: datetime | None = None,
    ) -> DomainEvent | None:
        """Apply a carrier's update ``status`` (one of `TRACKING_STATUSES`) that happened ``at``.

        An update older than the last one applied, or one the shipment
        already reflects, changes nothing and returns ``None``. ``reason``
        explains a failed attempt, a return or a loss; ``cod_collected`` is
        the cash taken at delivery or pickup; ``pickup_point`` and
        ``hold_until`` say where and until when a pickup parcel waits.
        """
        require_aware(at, "at")
        if status not in TRACKING_STATUSES:
            raise InvalidInput(
                f"tracking status {status!r} is not one of {', '.join(TRACKING_STATUSES)}"
            )
        if self.last_update_at is not None and at < self.last_update_at:
            return None
        if status == self.state and status != "delivery_failed":
            return None
        event = self._apply_status(status, at, reason, cod_collected, pickup_point, hold_until)
        self.last_update_at = at
        return event

    def _apply_status(
        self,
        status: str,
        at: datetime,
        reason: str,
        cod_collected: Money | None,
        pickup_point: str | None,
        hold_until: datetime | None,
    ) -> DomainEvent:
        order = self.order_id
        if status in ("in_transit", "out_for_delivery"):
            return self._fire(status, at=at, order_id=order)
        if status in ("delivered", "picked_up"):
            if cod_collected is not None:
                _money(cod_collected, "cod_collected")
            event = self._fire(
                "deliver" if status == "delivered" else "pick_up",
                at=at,
                order_id=order,
                items=self.items,
                cod_collected=cod_collected,
                on_time=None if self.promise is None else self.promise.is_on_time(at),
            )
            self.arrived_at, self.cod_collected = at, cod_collected
            return event
        if status == "delivery_failed":
            attempt = self.attempts + 1
            event = self._fire(
                "fail_attempt",
                at=at,
                order_id=order,
                reason=_text(reason, "the reason a delivery attempt failed"),
                attempt=attempt,
            )
            self.attempts, self.outcome = attempt, reason
            return event
        if status == "ready_for_pickup":
            point = _text(pickup_point or self.pickup_point, "a pickup point")
            until = require_aware(hold_until, "hold_until")
            if until <= at:
                raise InvalidInput(
                    f"a parcel's hold must end after it arrives ({at.isoformat()}), "
                    f"not at {until.isoformat()}"
                )
            event = self._fire(
                "arrive_for_pickup", at=at, order_id=order, pickup_point=point, hold_until=until
            )
            self.pickup_point, self.hold_until = point, until
            return event
        if status == "pickup_expired":
            return self._fire("expire_pickup", at=at, order_id=order)
        move = "return_to_sender" if status == "returned_to_sender" else "lose"
        why = _text(reason or self.outcome or "", f"the reason the shipment was {status}")
        event = self._fire(move, at=at, order_id=order, items=self.items, reason=why)
        self.outcome = why
        return event

    # --- reading ---------------------------------------------------------------------------

    @property
    def units(self) -> dict[str, int]:
        """The units the shipment carries, by sku."""
        return _by_sku(self.items)

    @property
    def on_time(self) -> bool | None:
        """Whether the goods arrived within the promise; ``None`` without a promise or arrival."""
        if self.promise is None or self.arrived_at is None:
            return None
        return self.promise.is_on_time(self.arrived_at)

    def _check_limits(self, index: int, parcel: Parcel) -> None:
        if self.limits is None:
            return
        broken = self.limits.violation(parcel.weight_g, parcel.size_cm)
        if broken is not None:
            code, reason = broken
            raise ParcelOverLimits(self.service_id, index, reason, code=code)


def _check_cod(service: ShippingService, amount: Money) -> None:
    if service.cod is None:
        raise NotEligible(
            "shipping service",
            service.id,
            "it does not collect cash on delivery",
            code="cod_unsupported",
        )
    if amount.amount <= 0:
        raise InvalidInput(f"a cash-on-delivery amount must be positive, not {amount}")
    cap = service.cod.max_value
    if cap is not None and amount > cap:
        raise CodOverCap(service.id, amount, cap)


@attrs.frozen(kw_only=True)
class DeliveryPerformance:
    """How many arrived shipments kept their promise: ``on_time`` of ``measured``."""

    measured: int
    on_time: int

    @property
    def late(self) -> int:
        """Arrived after the promised window."""
        return self.measured - self.on_time

    @property
    def rate(self) -> Decimal | None:
        """The share on time, 0 to 1; ``None`` when nothing could be measured."""
        return None if self.measured == 0 else Decimal(self.on_time) / Decimal(self.measured)


def delivery_performance(shipments: Iterable[Shipment]) -> DeliveryPerformance:
    """The on-time record of the ``shipments`` that arrived with a promise; others don't count."""
    kept = [shipment.on_time for shipment in shipments]
    measured = [flag for flag in kept if flag is not None]
    return DeliveryPerformance(measured=len(measured), on_time=sum(measured))
