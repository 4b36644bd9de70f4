"""A deterministic, in-memory parcel carrier for tests, demos and docs.

`FakeCarrier` keeps the `fourflows.logistics.carriers.Carrier` contract. It
prices and accepts parcels with the services of a `ShippingTable` (by
default `ShippingTable.example_taiwan`, without in-store pickup, which needs
no carrier), numbers its bookings ``<NAME>00000001``, ``<NAME>00000002``, ...,
and plays a scripted `Timeline` for every booking, measured from the booking
time on the clock it was given: `track` reports the events whose time has
come. Nothing is random.

The timelines (hours after booking):

* ``normal``: label 0, picked up 4, hub 10, out for delivery 24, delivered 28;
* ``delayed``: as normal, but held at 20 by a weather code (``WX``) the code
  table does not know, then the hub again at 60, out for delivery at 72,
  delivered at 76;
* ``failed_attempt``: out for delivery 24, nobody home 28, out again 48,
  delivered 52;
* ``lost``: hub 10, declared lost at 120;
* ``cvs_pickup``: at the convenience store at 30, collected at 50;
* ``pickup_expired``: at the store at 30, not collected: expired at 198
  (seven days later), back at the sender at 246.

Pickup services play ``cvs_pickup`` and others ``normal``, unless
`set_timeline` chose another for the shipment before it was booked. With
``noisy=True``, `track` reports every event twice, newest first, as a badly
behaved carrier would. `fail_next` makes the next calls answer with
`CarrierUnavailable`, before or after doing the work.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from fourflows.cash.gateway import IdempotencyRecords, request_fingerprint
from fourflows.errors import CarrierUnavailable, InvalidInput, NotEligible, NotFound
from fourflows.logistics.carriers import (
    Booking,
    BookingRequest,
    Cancellation,
    CancelRequest,
    CodeTable,
    DeliveryKind,
    Label,
    RateQuote,
    RateRequest,
    RawTrackingEvent,
    TrackingStatus,
    check_booking,
    normalise,
)
from fourflows.logistics.shipping import (
    Flat,
    PerItem,
    ServiceKind,
    ShippingService,
    ShippingTable,
    ValueTiers,
    WeightTiers,
)
from fourflows.money import Money, round_money, sum_money
from fourflows.ports import Clock

__all__ = ["FAKE_CODES", "FakeCarrier", "Timeline"]


FAKE_CODES: Mapping[str, TrackingStatus] = {
    "LBL": TrackingStatus.LABEL_CREATED,
    "PUP": TrackingStatus.PICKED_UP_BY_CARRIER,
    "HUB": TrackingStatus.IN_TRANSIT,
    "OFD": TrackingStatus.OUT_FOR_DELIVERY,
    "ATT": TrackingStatus.DELIVERY_FAILED,
    "DLV": TrackingStatus.DELIVERED,
    "CVS": TrackingStatus.READY_FOR_PICKUP,
    "COL": TrackingStatus.PICKED_UP,
    "EXP": TrackingStatus.PICKUP_EXPIRED,
    "RTS": TrackingStatus.RETURNED_TO_SENDER,
    "LST": TrackingStatus.LOST,
    "CXL": TrackingStatus.CANCELED,
    "EXC": TrackingStatus.EXCEPTION,
}
"""The fake's tracking codes. ``WX`` (a weather hold) is deliberately left out."""


class Timeline(enum.Enum):
    """A scripted journey a `FakeCarrier` plays for a booking."""

    NORMAL = "normal"
    DELAYED = "delayed"
    FAILED_ATTEMPT = "failed_attempt"
    LOST = "lost"
    CVS_PICKUP = "cvs_pickup"
    PICKUP_EXPIRED = "pickup_expired"


_Step = tuple[str, int, str, str]  # code, hours after booking, location, description

_START: tuple[_Step, ...] = (
    ("LBL", 0, "online", "label created"),
    ("PUP", 4, "sender", "picked up from the sender"),
    ("HUB", 10, "sorting hub", "arrived at the sorting hub"),
)
_SCRIPTS: dict[Timeline, tuple[_Step, ...]] = {
    Timeline.NORMAL: (
        *_START,
        ("OFD", 24, "local depot", "out for delivery"),
        ("DLV", 28, "destination", "delivered"),
    ),
    Timeline.DELAYED: (
        *_START,
        ("WX", 20, "sorting hub", "held: typhoon warning"),
        ("HUB", 60, "sorting hub", "left the sorting hub"),
        ("OFD", 72, "local depot", "out for delivery"),
        ("DLV", 76, "destination", "delivered"),
    ),
    Timeline.FAILED_ATTEMPT: (
        *_START,
        ("OFD", 24, "local depot", "out for delivery"),
        ("ATT", 28, "destination", "nobody home: attempt failed"),
        ("OFD", 48, "local depot", "out for delivery again"),
        ("DLV", 52, "destination", "delivered"),
    ),
    Timeline.LOST: (*_START, ("LST", 120, "sorting hub", "declared lost")),
    Timeline.CVS_PICKUP: (
        *_START,
        ("CVS", 30, "convenience store", "ready for pickup"),
        ("COL", 50, "convenience store", "collected by the customer"),
    ),
    Timeline.PICKUP_EXPIRED: (
        *_START,
        ("CVS", 30, "convenience store", "ready for pickup"),
        ("EXP", 198, "convenience store", "not collected: pickup period over"),
        ("RTS", 246, "sender", "returned to the sender"),
    ),
}
_OPERATIONS = ("rates", "book", "cancel", "track")


@attrs.define
class _Booked:
    booking: Booking
    request: BookingRequest
    events: list[RawTrackingEvent]
    cancellation: Cancellation | None = None


def _kinds(table: ShippingTable) -> dict[str, DeliveryKind]:
    by_kind = {
        ServiceKind.HOME: DeliveryKind.COURIER,
        ServiceKind.PICKUP_CVS: DeliveryKind.CVS_PICKUP,
        ServiceKind.SAME_DAY: DeliveryKind.SAME_DAY_RIDER,
    }
    return {
        service.id: (DeliveryKind.POST_OFFICE if service.id == "post" else by_kind[service.kind])
        for service in table.services
        if service.kind in by_kind
    }


class FakeCarrier:
    """An in-memory carrier with scripted tracking timelines; see the module docstring.

    >>> from datetime import datetime, timedelta, timezone
    >>> from fourflows.adapters.fakes import FixedClock
    >>> clock = FixedClock(datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc))
    >>> carrier = FakeCarrier("tw-post", clock)
    >>> sorted(carrier.services)
    ['cvs', 'home', 'post', 'rider']
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        table: ShippingTable | None = None,
        kinds: Mapping[str, DeliveryKind | str] | None = None,
        noisy: bool = False,
    ) -> None:
        if not isinstance(name, str) or not re.search(r"[A-Za-z0-9]", name):
            raise InvalidInput(f"a carrier's name must contain a letter or digit, not {name!r}")
        chosen = ShippingTable.example_taiwan() if table is None else table
        if not isinstance(chosen, ShippingTable):
            raise InvalidInput(f"table must be a ShippingTable, not {table!r}")
        found = _kinds(chosen)
        if kinds is not None:
            unknown = sorted(set(kinds) - {service.id for service in chosen.services})
            if unknown:
                raise InvalidInput(f"kinds names services the table does not have: {unknown}")
            for service, kind in kinds.items():
                try:
                    found[service] = DeliveryKind(kind)
                except ValueError:
                    allowed = ", ".join(k.value for k in DeliveryKind)
                    raise InvalidInput(
                        f"unknown delivery kind {kind!r} for {service!r}; allowed: {allowed}"
                    ) from None
        self._name = name
        self._prefix = re.sub(r"[^A-Z0-9]", "", name.upper())
        self._clock = clock
        self._table = chosen
        self._kinds = {sid: kind for sid, kind in found.items() if kind.uses_carrier}
        self._codes = CodeTable(carrier=name, codes=FAKE_CODES)
        self._noisy = noisy
        self._records: IdempotencyRecords[Booking | Cancellation] = IdempotencyRecords()
        self._booked: dict[str, _Booked] = {}
        self._timelines: dict[str, Timeline] = {}
        self._failures: dict[str, list[bool]] = {operation: [] for operation in _OPERATIONS}
        self._count = 0

    # --- the port --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The carrier's name."""
        return self._name

    @property
    def codes(self) -> CodeTable:
        """The fake's code table (`FAKE_CODES`)."""
        return self._codes

    @property
    def services(self) -> tuple[str, ...]:
        """The ids of the services the fake carries."""
        return tuple(self._kinds)

    def rates(self, request: RateRequest) -> tuple[RateQuote, ...]:
        """Price the parcels with every service that can carry them, cheapest first."""
        if not isinstance(request, RateRequest):
            raise InvalidInput(f"expected a RateRequest, not {request!r}")
        self._answer_or_fail("rates", after=False)
        if request.service_id is not None:
            return (self._quote(request, self._service(request.service_id)),)
        quotes = []
        for service_id in self._kinds:
            try:
                quotes.append(self._quote(request, self._service(service_id)))
            except NotEligible:
                continue
        return tuple(sorted(quotes, key=lambda q: (q.fee.amount, q.transit_days, q.service_id)))

    def book(self, request: BookingRequest) -> Booking:
        """Book the parcels once per key; see `fourflows.logistics.carriers.Carrier.book`."""
        if not isinstance(request, BookingRequest):
            raise InvalidInput(f"expected a BookingRequest, not {request!r}")
        fingerprint = request_fingerprint(request)
        first = self._records.check(request.idempotency_key, fingerprint)
        if isinstance(first, Booking):
            return first
        self._answer_or_fail("book", after=False)
        service = self._service(request.service_id)
        kind = self._kinds[service.id]
        if kind.is_pickup and request.pickup_point is None:
            raise InvalidInput(
                f"service {service.id!r} delivers to a pickup point: give pickup_point"
            )
        quote = self._quote(request.rate_request(), service)
        self._count += 1
        number = f"{self._prefix}{self._count:08d}"
        now = self._clock.now()
        labels = tuple(
            Label(
                parcel=index,
                barcode=f"{number}-{index + 1:02d}",
                document=f"fake://{self._name}/labels/{number}-{index + 1:02d}.pdf",
            )
            for index in range(len(request.parcels))
        )
        booking = Booking(
            carrier=self._name,
            idempotency_key=request.idempotency_key,
            shipment_id=request.shipment_id,
            service_id=service.id,
            tracking_number=number,
            labels=labels,
            fee=quote.fee,
            booked_at=now,
        )
        default = Timeline.CVS_PICKUP if kind.is_pickup else Timeline.NORMAL
        script = _SCRIPTS[self._timelines.get(request.shipment_id, default)]
        events = [
            RawTrackingEvent(
                tracking_number=number,
                code=code,
                occurred_at=now + timedelta(hours=hours),
                location=location,
                description=description,
                event_id=f"{number}-{step:02d}",
            )
            for step, (code, hours, location, description) in enumerate(script, start=1)
        ]
        self._booked[number] = _Booked(booking=booking, request=request, events=events)
        self._records.record(request.idempotency_key, fingerprint, booking)
        self._answer_or_fail("book", after=True)
        return booking

    def cancel(self, request: CancelRequest) -> Cancellation:
        """Cancel a booking the carrier has not picked up yet, once per key."""
        if not isinstance(request, CancelRequest):
            raise InvalidInput(f"expected a CancelRequest, not {request!r}")
        fingerprint = request_fingerprint(request)
        first = self._records.check(request.idempotency_key, fingerprint)
        if isinstance(first, Cancellation):
            return first
        self._answer_or_fail("cancel", after=False)
        booked = self._find(request.tracking_number)
        if booked.cancellation is not None:
            self._records.record(request.idempotency_key, fingerprint, booked.cancellation)
            return booked.cancellation
        now = self._clock.now()
        status = normalise(self._reported(booked, now), self._codes).status
        if status is not TrackingStatus.LABEL_CREATED:
            where = "unknown" if status is None else status.value
            raise NotEligible(
                "booking",
                request.tracking_number,
                f"the carrier already has the parcels (status {where}); only a booking "
                "whose label is created and not yet picked up can be cancelled",
                code="too_late_to_cancel",
            )
        cancellation = Cancellation(
            carrier=self._name,
            idempotency_key=request.idempotency_key,
            tracking_number=request.tracking_number,
            canceled_at=now,
        )
        booked.events = [event for event in booked.events if event.occurred_at <= now]
        booked.events.append(
            RawTrackingEvent(
                tracking_number=request.tracking_number,
                code="CXL",
                occurred_at=now,
                location="online",
                description="booking cancelled",
                event_id=f"{request.tracking_number}-cancel",
            )
        )
        booked.cancellation = cancellation
        self._records.record(request.idempotency_key, fingerprint, cancellation)
        self._answer_or_fail("cancel", after=True)
        return cancellation

    def track(self, tracking_number: str) -> tuple[RawTrackingEvent, ...]:
        """The booking's events whose time has come (twice each, newest first, when noisy)."""
        self._answer_or_fail("track", after=False)
        events = self._reported(self._find(tracking_number), self._clock.now())
        if self._noisy:
            return tuple(event for event in reversed(events) for _ in range(2))
        return tuple(events)

    # --- the fake's controls ---------------------------------------------------------------

    def set_timeline(self, shipment_id: str, timeline: Timeline | str) -> None:
        """Play ``timeline`` for shipment ``shipment_id`` when it is booked."""
        if not isinstance(shipment_id, str) or not shipment_id.strip():
            raise InvalidInput(f"a shipment id must be a non-empty string, not {shipment_id!r}")
        try:
            self._timelines[shipment_id] = Timeline(timeline)
        except ValueError:
            allowed = ", ".join(t.value for t in Timeline)
            raise InvalidInput(f"unknown timeline {timeline!r}; allowed: {allowed}") from None

    def fail_next(self, operation: str, *, times: int = 1, after_success: bool = False) -> None:
        """Make the next ``times`` calls of ``operation`` raise `CarrierUnavailable`.

        With ``after_success`` (``book`` and ``cancel`` only) the work is done
        and recorded first, and only the answer is lost: a retry under the
        same key returns it.
        """
        if operation not in _OPERATIONS:
            raise InvalidInput(
                f"unknown operation {operation!r}; allowed: {', '.join(_OPERATIONS)}"
            )
        if after_success and operation not in ("book", "cancel"):
            raise InvalidInput("only book and cancel can lose their answer after success")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise InvalidInput(f"times must be a whole number above 0, not {times!r}")
        self._failures[operation].extend([after_success] * times)

    def booking(self, tracking_number: str) -> Booking:
        """The booking under ``tracking_number``; `NotFound` if there is none."""
        return self._find(tracking_number).booking

    @property
    def bookings(self) -> tuple[Booking, ...]:
        """Every booking made, in order."""
        return tuple(booked.booking for booked in self._booked.values())

    # --- inside ----------------------------------------------------------------------------

    def _answer_or_fail(self, operation: str, *, after: bool) -> None:
        queue = self._failures[operation]
        if queue and queue[0] is after:
            queue.pop(0)
            when = "after doing the work" if after else "before reaching the carrier"
            raise CarrierUnavailable(self._name, operation, f"timed out {when} (fail_next)")

    def _service(self, service_id: str) -> ShippingService:
        if service_id not in self._kinds:
            raise NotFound(f"service of carrier {self._name!r}", service_id, self._kinds)
        return self._table.service(service_id)

    def _find(self, tracking_number: str) -> _Booked:
        booked = self._booked.get(tracking_number)
        if booked is None:
            raise NotFound(f"tracking number at carrier {self._name!r}", tracking_number)
        return booked

    @staticmethod
    def _reported(booked: _Booked, now: datetime) -> list[RawTrackingEvent]:
        return [event for event in booked.events if event.occurred_at <= now]

    def _quote(self, request: RateRequest, service: ShippingService) -> RateQuote:
        table = self._table
        check_booking(request, service, table)
        zone = table.zone_for(request.destination)
        assert zone is not None  # check_booking refused an address in no zone
        rate = service.rate_for(zone.id)
        assert rate is not None  # and a zone the service does not serve
        precision = table.fee_precision
        rule = rate.rule
        parcels = request.parcels
        if isinstance(rule, Flat):
            base = rule.fee * len(parcels) if rule.per_parcel else rule.fee
        elif isinstance(rule, PerItem):
            base = rule.fee * sum(parcel.units for parcel in parcels)
        elif isinstance(rule, ValueTiers):
            base = rule.fee_for(request.declared_value)
        else:
            assert isinstance(rule, WeightTiers)
            fees = [rule.fee_for(parcel.chargeable_weight_g) for parcel in parcels]
            base = sum_money((fee for fee in fees if fee is not None), currency=table.currency)
        parts = [round_money(base, precision)]
        if rate.remote_surcharge is not None:
            parts.append(round_money(rate.remote_surcharge, precision))
        if service.fuel_surcharge_percent > 0:
            fuel = Money(base.amount * service.fuel_surcharge_percent / 100, table.currency)
            parts.append(round_money(fuel, precision))
        if request.cod_amount is not None and service.cod is not None:
            parts.append(round_money(service.cod.fee, precision))
        return RateQuote(
            carrier=self._name,
            service_id=service.id,
            kind=self._kinds[service.id],
            fee=sum_money(parts, currency=table.currency),
            transit_days=rate.transit_days,
            parcels=len(parcels),
        )
