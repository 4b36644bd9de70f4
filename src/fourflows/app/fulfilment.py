"""Fulfilment: the logistics flow wired to orders and payments (物流 with 商流 and 金流).

`Fulfilment` holds the stock store, the carriers and the shop's stock
locations, and links the flows through commands and policies:

* **Order placed → reserve.** `Checkout` calls `Fulfilment.hold` while it
  places an order: every line is reserved (reservation id = order id) for a
  checkout hold, all or nothing, so an order the stock cannot serve is
  refused with `fourflows.errors.InsufficientStock` and nothing is saved.
* **Order paid or approved (cash on delivery) → allocate and plan.** The
  hold becomes firm, the held units are allocated to locations (the stock
  store's strategy: one location if it can, else split), the order's lines
  record the allocations, and one `Shipment` is planned per location, ready
  to pack. `AllocateOrder` runs the same again, for backordered units that
  have since arrived.
* **Order canceled or hold expired → release.** Whatever is held and not
  shipped goes back; shipments not yet handed over are canceled.
  `ExpireReservations` releases overdue holds and cancels their unpaid
  orders.
* **Order changed → follow.** A confirmed change gives back the stock of
  the units it took off (`StockStore.release_units`, keyed by the change).
  Before payment that is all: the hold shrinks. After payment the
  shipments that have not left are canceled and planned again from what is
  still allocated (so the next parcel carries the new quantities), also
  when the shipping service changed. A new address alone moves nothing:
  the carrier is booked with the order's address when the parcel ships.
* **Shipment shipped → capture.** `ShipShipment` books the carrier (or, for
  pickup at the shop's own store, puts the parcel on the counter), ships the
  units from stock and records them on the order; then a policy captures the
  shipment's share of the order's card money: its units' totals, the
  shipping fee with the first shipment, and whatever is left with the last.
  A capture the payment refuses (its authorisation lapsed) or the provider
  declines cannot be cured by a retry: it is noted under
  `CAPTURE_PROBLEMS` for a person (`capture_problems`) and the event is
  settled. A gateway that gives no answer, or a concurrent write, raises so
  the outbox offers the event again.
* **Tracking.** `TrackShipment` reads the carrier's events, normalises them
  (`fourflows.logistics.carriers.normalise`) and applies each new status to
  the shipment; unknown or out-of-sequence events are kept and flagged,
  never a crash. Repeats change nothing.
* **Delivered or picked up → settle.** The order records the delivery; for
  cash on delivery, the cash the carrier collected is recorded on the
  order's payment (it is remitted to the shop later).
* **Returned to sender → restock and settle.** The units go back to stock
  and come off the order; a cash-on-delivery order gives up its uncollected
  payment, a prepaid one is refunded what those units cost.

Stock lives in the `StockStore`, outside the unit of work: its calls are
idempotent (per reservation, shipment and reference), so a policy that fails
after touching it is simply run again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import attrs
from pydantic import AwareDatetime, Field

from fourflows.app.checkout import (
    CapturePayment,
    Checkout,
    RefundOrder,
    _payments,
    _records,
    payment_figures,
    pickup_point_of,
)
from fourflows.app.commands import Command
from fourflows.app.handlers import Context
from fourflows.app.messagebus import Policy
from fourflows.cash.payment import PaymentMethod
from fourflows.commerce.order import (
    Order,
    OrderApproved,
    OrderCanceled,
    OrderChanged,
    OrderPaid,
    PaymentPlan,
)
from fourflows.errors import (
    ConcurrencyConflict,
    FourFlowsError,
    GatewayUnavailable,
    InvalidInput,
    NotFound,
)
from fourflows.events import DomainEvent
from fourflows.geo import Address
from fourflows.logistics.carriers import BookingRequest, Carrier, RawTrackingEvent, normalise
from fourflows.logistics.inventory import (
    ReservationStatus,
    StockLocation,
    StockStore,
    allocate_in_order,
)
from fourflows.logistics.packing import pack
from fourflows.logistics.shipment import (
    TRACKING_STATUSES,
    Shipment,
    ShipmentDelivered,
    ShipmentHandedOver,
    ShipmentPickedUp,
    ShipmentReturned,
    ShippedUnits,
)
from fourflows.logistics.shipping import ServiceKind, ShipmentItem, ShippingTable
from fourflows.money import Money, sum_money
from fourflows.ports import UnitOfWork

__all__ = [
    "CAPTURE_PROBLEMS",
    "AllocateOrder",
    "ExpireReservations",
    "Fulfilment",
    "MarkPickedUp",
    "PackShipment",
    "ShipShipment",
    "ShipmentResult",
    "TrackShipment",
    "capture_problems",
]

_Key = Field(min_length=1, max_length=200)
_SHIPMENTS = "order-shipments"
_TRACKING = "tracking"
CAPTURE_PROBLEMS = "capture-problems"
"""The keyed-records namespace of captures that could not happen, by order id."""


class AllocateOrder(Command):
    """Allocate what is held for ``order_id`` and not yet allocated, and plan its shipments."""

    order_id: str = _Key


class PackShipment(Command):
    """Pack shipment ``shipment_id`` into parcels within its service's limits."""

    shipment_id: str = _Key


class ShipShipment(Command):
    """Hand shipment ``shipment_id`` to ``carrier`` (booked under the key), or to the counter.

    ``pickup_point`` is the convenience store the customer chose, for a
    convenience-store service. A shipment for pickup at the shop's own store
    needs no carrier: it is put out for pickup for the store's hold period.
    """

    idempotency_key: str = _Key
    shipment_id: str = _Key
    carrier: str | None = Field(default=None, min_length=1, max_length=100)
    pickup_point: str | None = Field(default=None, min_length=1, max_length=200)


class TrackShipment(Command):
    """Read the carrier's events for ``shipment_id`` and apply the new ones."""

    shipment_id: str = _Key


class MarkPickedUp(Command):
    """The customer collected shipment ``shipment_id`` at the shop's own store (paying COD)."""

    shipment_id: str = _Key


class ExpireReservations(Command):
    """Release the stock holds that expired by ``now``, and cancel their unpaid orders."""

    now: AwareDatetime


@attrs.frozen(kw_only=True)
class ShipmentResult:
    """What a fulfilment command did to a shipment.

    ``flagged`` lists the carrier events kept but not applied (an unknown
    code, or a move backwards), as ``code: reason``.
    """

    shipment_id: str
    order_id: str
    state: str
    outcome: str
    tracking_number: str | None = None
    flagged: tuple[str, ...] = ()


def _shipment_ids(uow: UnitOfWork, order_id: str) -> tuple[str, ...]:
    found = _records(uow).read_record(_SHIPMENTS, order_id)
    return cast(tuple[str, ...], found) if found is not None else ()


def _shipments(ctx: Context, order_id: str) -> list[Shipment]:
    return [ctx.uow.repository(Shipment).get(sid) for sid in _shipment_ids(ctx.uow, order_id)]


def _result(shipment: Shipment, outcome: str, flagged: Sequence[str] = ()) -> ShipmentResult:
    return ShipmentResult(
        shipment_id=shipment.id,
        order_id=shipment.order_id,
        state=shipment.state,
        outcome=outcome,
        tracking_number=shipment.tracking_number,
        flagged=tuple(flagged),
    )


def _line_items(order: Order, shipment: Shipment) -> dict[int, int]:
    return {item.line: item.quantity for item in shipment.items}


@attrs.frozen
class _OnlyAt:
    """An allocation strategy that takes units from one location only (a pickup store)."""

    location: str

    def plan(
        self,
        wanted: Mapping[str, int],
        free: Mapping[str, Mapping[str, int]],
        locations: Sequence[StockLocation],
    ) -> Mapping[str, Mapping[str, int]]:
        """Units per sku at the one location, as far as it has them."""
        return allocate_in_order(wanted, free, [self.location])


_NOT_LEFT = ("pending", "ready", "packed")


def _take_spare(order: Order, spare: Counter[int], waiting: Counter[str]) -> list[ShippedUnits]:
    """Put ``waiting`` stock (by sku) on order lines that are allocated but on no shipment."""
    items: list[ShippedUnits] = []
    for line in order.lines:
        take = min(waiting[line.sku], spare[line.index])
        if take <= 0:
            continue
        waiting[line.sku] -= take
        spare[line.index] -= take
        items.append(ShippedUnits(line=line.index, sku=line.sku, quantity=take))
    return items


def _merged(items: Sequence[ShippedUnits]) -> list[ShippedUnits]:
    """One entry per order line, in line order."""
    units: Counter[int] = Counter()
    skus: dict[int, str] = {}
    for item in items:
        units[item.line] += item.quantity
        skus[item.line] = item.sku
    return [ShippedUnits(line=i, sku=skus[i], quantity=units[i]) for i in sorted(units)]


def capture_problems(uow: UnitOfWork, order_id: str) -> tuple[str, ...]:
    """The captures that could not happen for ``order_id``, oldest first, each with its reason.

    A shipment that left captures its share of the card money; when the
    payment refuses (the authorisation lapsed, the provider declined) no
    retry can help, so the refusal is noted here for a person to settle
    (ask the customer to pay again, or write the amount off).
    """
    found = _records(uow).read_record(CAPTURE_PROBLEMS, order_id)
    return cast(tuple[str, ...], found) if found is not None else ()


def _note_capture_problem(
    ctx: Context, order_id: str, shipment_id: str, payment_id: str, amount: Money, reason: str
) -> None:
    note = f"shipment {shipment_id}: {amount} of payment {payment_id} not captured: {reason}"
    noted = capture_problems(ctx.uow, order_id)
    if note not in noted:
        _records(ctx.uow).write_record(CAPTURE_PROBLEMS, order_id, (*noted, note))


def _units_value(order: Order, items: Sequence[ShippedUnits], *, after_shipped: bool) -> Money:
    """What ``items`` cost with tax: the next unshipped units of each line (or the first ones)."""
    parts = [Money(0, order.currency)]
    for item in items:
        line = order.lines[item.line]
        start = line.counts.shipped if after_shipped else 0
        parts.extend(line.unit_totals[start : start + item.quantity])
    return sum_money(parts)


class Fulfilment:
    """The fulfilment handlers and policies, with the stock, carriers and locations they use.

    ``locations`` are the stock locations' addresses, by location id (where
    a carrier collects); ``carriers`` the carriers by name; ``hold`` how long a
    checkout holds stock before payment; ``pickup_hold`` how long a parcel
    waits at the shop's own store.
    """

    def __init__(
        self,
        *,
        checkout: Checkout,
        stock: StockStore,
        locations: Mapping[str, Address],
        carriers: Sequence[Carrier] = (),
        hold: timedelta = timedelta(minutes=30),
        pickup_hold: timedelta = timedelta(days=7),
    ) -> None:
        if checkout.shipping is None:
            raise InvalidInput("fulfilment needs a checkout with a shipping table")
        for duration, what in ((hold, "hold"), (pickup_hold, "pickup_hold")):
            if not isinstance(duration, timedelta) or duration <= timedelta(0):
                raise InvalidInput(f"{what} must be a positive timedelta, not {duration!r}")
        self.checkout = checkout
        self.stock = stock
        self.locations = dict(locations)
        self.carriers = {carrier.name: carrier for carrier in carriers}
        self.hold_for = hold
        self.pickup_hold = pickup_hold
        self.shipping: ShippingTable = checkout.shipping

    # --- the checkout's side -----------------------------------------------------------------

    def hold(self, order: Order, at: datetime) -> None:
        """Reserve the order's units for the checkout hold; if short, raise and hold nothing."""
        wanted: Counter[str] = Counter()
        for line in order.lines:
            wanted[line.sku] += line.counts.open
        self.stock.reserve(order.id, order.id, dict(wanted), at=at, expires_at=at + self.hold_for)

    def free(self, order_id: str, reason: str, at: datetime) -> None:
        """Release what is held for ``order_id`` and not shipped (nothing if nothing is held)."""
        try:
            held = self.stock.reservation(order_id)
        except NotFound:
            return
        if held.status is ReservationStatus.ACTIVE:
            self.stock.release(order_id, at=at, reason=reason)

    def handlers(self) -> dict[type[Command], Callable[[Any, Context], Any]]:
        """Every fulfilment command with its handler."""
        return {
            AllocateOrder: self.allocate_order,
            PackShipment: self.pack_shipment,
            ShipShipment: self.ship_shipment,
            TrackShipment: self.track_shipment,
            MarkPickedUp: self.mark_picked_up,
            ExpireReservations: self.expire_reservations,
        }

    def policies(self) -> Mapping[type[DomainEvent], Sequence[Policy]]:
        """The policies linking orders, stock, shipments and payments."""
        return {
            OrderPaid: [self.plan_when_cleared],
            OrderApproved: [self.plan_when_cleared],
            OrderCanceled: [self.release_when_canceled],
            OrderChanged: [self.follow_change],
            ShipmentHandedOver: [self.capture_when_shipped],
            ShipmentDelivered: [self.settle_when_arrived],
            ShipmentPickedUp: [self.settle_when_arrived],
            ShipmentReturned: [self.restock_when_returned],
        }

    # --- allocation and planning -------------------------------------------------------------

    def allocate_order(self, command: AllocateOrder, ctx: Context) -> tuple[ShipmentResult, ...]:
        """Allocate and plan what is held for the order; the new shipments' results."""
        order = ctx.uow.repository(Order).get(command.order_id)
        planned = self._plan(ctx, order, ctx.clock.now())
        ctx.uow.commit()
        return tuple(_result(shipment, "planned") for shipment in planned)

    def plan_when_cleared(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: a paid or approved order is allocated and its shipments planned."""
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        self._plan(ctx, order, event.occurred_at)
        ctx.uow.commit()

    def _plan(self, ctx: Context, order: Order, at: datetime) -> list[Shipment]:
        if order.state in ("pending_payment", "on_hold", "canceled"):
            raise InvalidInput(
                f"order {order.id} is {order.state}: only a paid or approved order is allocated"
            )
        held = self.stock.reservation(order.id)
        if held.status is not ReservationStatus.ACTIVE:
            return []
        self.stock.confirm(order.id)
        point = pickup_point_of(ctx.uow, order.id)
        at_store = order.shipping is not None and order.shipping.kind is ServiceKind.PICKUP_STORE
        only = _OnlyAt(point) if at_store and point is not None else None
        held = self.stock.allocate(order.id, at=at, strategy=only)
        existing = _shipments(ctx, order.id)
        live = [s for s in existing if s.state in _NOT_LEFT]
        # Units the order counts as allocated but no live shipment carries (their shipment
        # was canceled when the order changed): planned again before anything new is allocated.
        spare = Counter(
            {line.index: line.counts.allocated - line.counts.shipped for line in order.lines}
        )
        for shipment in live:
            spare.subtract({item.line: item.quantity for item in shipment.items})
        planned: list[Shipment] = []
        for allocation in held.allocations:
            waiting = Counter({line.sku: line.quantity for line in allocation.lines})
            for shipment in live:
                if shipment.location_id == allocation.location:
                    waiting.subtract(shipment.units)
            items = _take_spare(order, spare, waiting)
            items = _merged(
                [*items, *self._allocate_lines(order, allocation.location, +waiting, at)]
            )
            if items:
                number = len(existing) + len(planned) + 1
                first = not planned and all(s.state == "canceled" for s in existing)
                planned.append(
                    self._new_shipment(
                        ctx, order, allocation.location, items, number, at, first=first
                    )
                )
        if planned:
            ids = (*_shipment_ids(ctx.uow, order.id), *(s.id for s in planned))
            _records(ctx.uow).write_record(_SHIPMENTS, order.id, ids)
        return planned

    def _allocate_lines(
        self, order: Order, location: str, waiting: Counter[str], at: datetime
    ) -> list[ShippedUnits]:
        """Record ``waiting`` units (by sku) as allocated on the order's lines, first come first."""
        items: list[ShippedUnits] = []
        for line in order.lines:
            take = min(waiting[line.sku], line.counts.to_allocate)
            if take <= 0:
                continue
            waiting[line.sku] -= take
            number = len(order.allocations) + 1
            order.allocate(line.index, take, allocation_id=f"{order.id}:alloc-{number}", at=at)
            items.append(ShippedUnits(line=line.index, sku=line.sku, quantity=take))
        return items

    def _new_shipment(
        self,
        ctx: Context,
        order: Order,
        location: str,
        items: list[ShippedUnits],
        number: int,
        at: datetime,
        *,
        first: bool,
    ) -> Shipment:
        assert order.shipping is not None  # planned only for orders that ship
        service = self.shipping.service(order.shipping.service_id)
        cod = None
        if order.payment_plan is PaymentPlan.CASH_ON_DELIVERY:
            cod = _units_value(order, items, after_shipped=False)
            if first:  # the shipping fee is collected with the first parcel that goes
                cod = cod + order.shipping.gross
        point = pickup_point_of(ctx.uow, order.id)
        shipment = Shipment.plan(
            id=f"{order.id}-s{number}",
            order_id=order.id,
            location_id=location,
            service=service,
            items=items,
            at=at,
            cod_amount=cod,
            promise=order.shipping.promise,
            pickup_point=location if service.kind is ServiceKind.PICKUP_STORE else point,
        )
        shipment.mark_ready(payment_cleared=True, at=at)
        ctx.uow.repository(Shipment).add(shipment)
        return shipment

    # --- release -----------------------------------------------------------------------------

    def release_when_canceled(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: a canceled order's stock goes back and its unshipped shipments are canceled."""
        assert isinstance(event, OrderCanceled)
        self.free(event.aggregate_id, "order canceled", event.occurred_at)
        for shipment in _shipments(ctx, event.aggregate_id):
            if shipment.state in ("pending", "ready", "packed"):
                shipment.cancel(reason=f"order canceled: {event.reason}", at=event.occurred_at)
        ctx.uow.commit()

    def follow_change(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: a confirmed change gives back the stock of the units taken off.

        Before payment the hold just shrinks. After payment the shipments
        that have not left are canceled and planned again from what is
        still allocated (or, for a new shipping service, with it). A change
        of address alone moves nothing: the carrier is booked with the
        order's address when the parcel ships.
        """
        assert isinstance(event, OrderChanged)
        order = ctx.uow.repository(Order).get(event.aggregate_id)
        if event.units_to_release:
            try:
                self.stock.reservation(order.id)
            except NotFound:  # nothing was ever held for it (a store sale)
                pass
            else:
                self.stock.release_units(
                    order.id,
                    {item.sku: item.quantity for item in event.units_to_release},
                    reference=f"{order.id}:{event.change_id}:release",
                    at=event.occurred_at,
                    reason=f"order changed ({event.change_id})",
                )
        if order.state in ("pending_payment", "on_hold", "canceled"):
            return  # nothing is allocated or planned before payment
        live = [s for s in _shipments(ctx, order.id) if s.state in _NOT_LEFT]
        service = None if order.shipping is None else order.shipping.service_id
        if not event.units_to_release and all(s.service_id == service for s in live):
            return
        for shipment in live:
            shipment.cancel(
                reason=f"order changed ({event.change_id}): planned again",
                at=event.occurred_at,
            )
        self._plan(ctx, order, event.occurred_at)
        ctx.uow.commit()

    def expire_reservations(self, command: ExpireReservations, ctx: Context) -> tuple[str, ...]:
        """Release the holds overdue at ``now``; cancel their unpaid orders. Their order ids."""
        expired = self.stock.expire_due(command.now)
        canceled: list[str] = []
        for reservation in expired:
            order = ctx.uow.repository(Order).find(reservation.order_id)
            if order is None or not order.awaiting_payment:
                continue
            reason = f"its stock hold expired at {reservation.expires_at}"
            self.checkout._cancel_unpaid(
                ctx, order, f"{order.id}:hold-expired", reason, command.now
            )
            canceled.append(order.id)
        ctx.uow.commit()
        return tuple(canceled)

    # --- packing and shipping ----------------------------------------------------------------

    def pack_shipment(self, command: PackShipment, ctx: Context) -> ShipmentResult:
        """Pack the shipment's units (first fit, heaviest first) within its service's limits."""
        shipment = ctx.uow.repository(Shipment).get(command.shipment_id)
        if shipment.state not in ("pending", "ready", "packed"):
            return _result(shipment, "unchanged")  # it has left: packed long ago
        service = self.shipping.service(shipment.service_id)
        items = [
            ShipmentItem(self.checkout.catalog[sku], quantity)
            for sku, quantity in sorted(shipment.units.items())
        ]
        parcels = pack(
            items,
            service.limits,
            volumetric_divisor=service.volumetric_divisor,
            weight_step_g=service.weight_step_g,
        )
        recorded = shipment.pack(parcels, at=ctx.clock.now())
        ctx.uow.commit()
        return _result(shipment, "packed" if recorded is not None else "unchanged")

    def ship_shipment(self, command: ShipShipment, ctx: Context) -> ShipmentResult:
        """Book the carrier and hand the parcels over, or put them on the shop's counter."""
        at = ctx.clock.now()
        shipment = ctx.uow.repository(Shipment).get(command.shipment_id)
        order = ctx.uow.repository(Order).get(shipment.order_id)
        if shipment.state != "packed":
            if shipment.state in ("pending", "ready"):
                raise InvalidInput(
                    f"shipment {shipment.id} is {shipment.state}: pack it before it ships"
                )
            return _result(shipment, "unchanged")
        if shipment.kind is ServiceKind.PICKUP_STORE:
            shipment.track("ready_for_pickup", at=at, hold_until=at + self.pickup_hold)
        else:
            carrier = self._carrier(command.carrier)
            booking = carrier.book(self._booking(command, order, shipment))
            shipment.hand_over(carrier=carrier.name, tracking_number=booking.tracking_number, at=at)
        self.stock.ship(
            order.id,
            shipment.location_id,
            shipment.units,
            shipment_id=shipment.id,
            at=at,
        )
        order.record_shipment(shipment.id, _line_items(order, shipment), at=at)
        ctx.uow.commit()
        return _result(shipment, "shipped")

    def _carrier(self, name: str | None) -> Carrier:
        if name is None or name not in self.carriers:
            known = ", ".join(sorted(self.carriers)) or "none"
            raise InvalidInput(f"carrier {name!r} is not one of this shop's carriers: {known}")
        return self.carriers[name]

    def _booking(self, command: ShipShipment, order: Order, shipment: Shipment) -> BookingRequest:
        origin = self.locations.get(shipment.location_id)
        if origin is None:
            raise InvalidInput(
                f"stock location {shipment.location_id!r} has no address to collect from; "
                f"give Fulfilment its address in locations="
            )
        if order.shipping_address is None:
            raise InvalidInput(f"order {order.id} has no address to ship to")
        return BookingRequest(
            idempotency_key=f"{command.idempotency_key}:book",
            shipment_id=shipment.id,
            service_id=shipment.service_id,
            origin=origin,
            destination=order.shipping_address,
            parcels=shipment.parcels,
            declared_value=_units_value(order, shipment.items, after_shipped=True),
            cod_amount=shipment.cod_amount,
            pickup_point=command.pickup_point or shipment.pickup_point,
        )

    def capture_when_shipped(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: a shipment that left captures its share of the order's gateway payments."""
        shipment = ctx.uow.repository(Shipment).get(event.aggregate_id)
        order = ctx.uow.repository(Order).get(shipment.order_id)
        if order.payment_plan.pays_later:  # collected at the door, or invoiced on terms
            return
        cards = [
            p
            for p in _payments(ctx.uow, order.id)
            if not p.method.is_shop_held and p.capturable.amount > 0
        ]
        if not cards:
            return
        figures = payment_figures(ctx.uow, order)
        due = order.totals.total - figures.captured
        if any(line.counts.to_ship for line in order.lines):
            share = _units_value(order, shipment.items, after_shipped=False)
            if len(order.shipments) == 1 and order.shipping is not None:
                share = share + order.shipping.gross
            due = min(due, share)
        for payment in cards:
            if due.amount <= 0:
                break
            part = min(due, payment.capturable)
            try:
                result = self.checkout.capture_payment(
                    CapturePayment(
                        idempotency_key=f"{shipment.id}:{payment.id}:capture",
                        payment_id=payment.id,
                        amount=part,
                    ),
                    ctx,
                )
            except (GatewayUnavailable, ConcurrencyConflict):
                raise  # it may work later: the outbox offers the event again
            except FourFlowsError as error:  # retrying cannot cure it: a person must act
                ctx.uow.rollback()
                _note_capture_problem(ctx, order.id, shipment.id, payment.id, part, str(error))
                continue
            if result.outcome == "capture_declined":
                _note_capture_problem(
                    ctx, order.id, shipment.id, payment.id, part, result.message or "declined"
                )
                continue
            due = due - part
        ctx.uow.commit()

    # --- tracking and arrival ----------------------------------------------------------------

    def track_shipment(self, command: TrackShipment, ctx: Context) -> ShipmentResult:
        """Read the carrier's events and apply the new ones; flag what cannot be applied."""
        shipment = ctx.uow.repository(Shipment).get(command.shipment_id)
        if shipment.carrier is None or shipment.tracking_number is None:
            raise InvalidInput(f"shipment {shipment.id} was not handed to a carrier")
        carrier = self._carrier(shipment.carrier)
        records = _records(ctx.uow)
        seen = cast(tuple[RawTrackingEvent, ...], records.read_record(_TRACKING, shipment.id) or ())
        before = normalise(seen, carrier.codes, tracking_number=shipment.tracking_number)
        after = before.add(carrier.track(shipment.tracking_number))
        moved = 0
        refused: list[str] = []
        for change in after.changes_after(before):
            state = change.status.shipment_state
            if state not in TRACKING_STATUSES:
                continue
            cod = shipment.cod_amount if state in ("delivered", "picked_up") else None
            try:
                recorded = shipment.track(
                    state,
                    at=change.occurred_at,
                    reason=change.raw.description or change.status.value,
                    cod_collected=cod,
                    pickup_point=change.raw.location or None,
                    hold_until=change.occurred_at + self.pickup_hold,
                )
            except FourFlowsError as error:  # kept and flagged for a person, never a crash
                refused.append(f"{change.raw.code}: not applied: {error}")
                continue
            moved += recorded is not None
        records.write_record(_TRACKING, shipment.id, after.raw_events)
        ctx.uow.commit()
        flagged = [f"{e.raw.code}: {e.flag.value}" for e in after.flagged if e.flag is not None]
        return _result(shipment, "moved" if moved else "unchanged", [*flagged, *refused])

    def mark_picked_up(self, command: MarkPickedUp, ctx: Context) -> ShipmentResult:
        """The customer collected the parcel at the shop's own store."""
        shipment = ctx.uow.repository(Shipment).get(command.shipment_id)
        if shipment.kind is not ServiceKind.PICKUP_STORE:
            raise InvalidInput(
                f"shipment {shipment.id} is {shipment.kind.value}: only a parcel at the "
                "shop's own store is marked picked up here; carriers report the others"
            )
        recorded = shipment.track(
            "picked_up", at=ctx.clock.now(), cod_collected=shipment.cod_amount
        )
        ctx.uow.commit()
        return _result(shipment, "picked_up" if recorded is not None else "unchanged")

    def settle_when_arrived(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: the order records the delivery; cash collected on delivery is recorded."""
        assert isinstance(event, ShipmentDelivered | ShipmentPickedUp)
        shipment = ctx.uow.repository(Shipment).get(event.aggregate_id)
        order = ctx.uow.repository(Order).get(shipment.order_id)
        order.record_delivery(shipment.id, at=event.occurred_at)
        ctx.uow.commit()
        collected = event.cod_collected
        if collected is not None:
            (payment,) = [
                p
                for p in _payments(ctx.uow, order.id)
                if p.method is PaymentMethod.CASH_ON_DELIVERY
            ]
            self.checkout.capture_payment(
                CapturePayment(
                    idempotency_key=f"{shipment.id}:cod",
                    payment_id=payment.id,
                    amount=collected,
                ),
                ctx,
            )
            self._close_cash_on_delivery(ctx, order, event.occurred_at)
            ctx.uow.commit()

    def restock_when_returned(self, event: DomainEvent, ctx: Context) -> None:
        """Policy: returned units go back to stock and off the order; its money is settled."""
        assert isinstance(event, ShipmentReturned)
        shipment = ctx.uow.repository(Shipment).get(event.aggregate_id)
        order = ctx.uow.repository(Order).get(shipment.order_id)
        for sku, quantity in sorted(shipment.units.items()):
            self.stock.return_to_stock(
                sku,
                shipment.location_id,
                quantity,
                reference=f"{shipment.id}:returned:{sku}",
                at=event.occurred_at,
            )
        value = _units_value(order, shipment.items, after_shipped=False)
        order.record_return(shipment.id, reason=event.reason, at=event.occurred_at)
        reason = f"shipment {shipment.id} came back: {event.reason}"
        if order.state == "canceled":  # nothing left to sell: every payment goes back
            for payment in _payments(ctx.uow, order.id):
                key = f"{shipment.id}:returned:{payment.id}"
                self.checkout._give_back(ctx, payment, key, reason, event.occurred_at)
        elif order.payment_plan is PaymentPlan.PREPAID and value.amount > 0:
            self.checkout.refund_order(
                RefundOrder(
                    idempotency_key=f"{shipment.id}:returned",
                    order_id=order.id,
                    amount=min(value, payment_figures(ctx.uow, order).kept),
                    reason=reason,
                ),
                ctx,
            )
        else:
            self._close_cash_on_delivery(ctx, order, event.occurred_at)
        ctx.uow.commit()

    def _close_cash_on_delivery(self, ctx: Context, order: Order, at: datetime) -> None:
        """Once a cash-on-delivery order has nothing left on the road, drop what was not paid."""
        if order.state != "delivered":
            return
        for payment in _payments(ctx.uow, order.id):
            if payment.method is PaymentMethod.CASH_ON_DELIVERY and payment.capturable.amount > 0:
                payment.void_succeeded(at=at)
