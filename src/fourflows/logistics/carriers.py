"""Carriers: the port to a parcel carrier, delivery options, and tracking normalisation.

A carrier (the post office, a home-delivery courier, a convenience-store
network, a same-day rider service, a third-party fulfilment house) is reached
through the `Carrier` protocol: ``rates`` prices parcels, ``book`` buys a
label and a tracking number, ``cancel`` gives a booking back, and ``track``
reads the carrier's raw scan events. Every value that crosses the port is
defined here, so the shipment aggregate, the
`fourflows.adapters.fake_carrier.FakeCarrier` and an integrator's adapter
speak one language.

**Failure semantics of the port.**

* `fourflows.errors.CarrierUnavailable`: the carrier gave no answer (a
  timeout, a refused connection, a 5xx). The outcome is unknown: the carrier
  may have booked or cancelled. Repeat the call with the same idempotency key.
* `ParcelOverLimits` (a `fourflows.errors.NotEligible`): a parcel is heavier
  or larger than the service takes, or above its heaviest rate tier.
* `CodOverCap` (a `fourflows.errors.NotEligible`): the cash to collect on
  delivery is above the service's cap.
* `fourflows.errors.NotEligible` with another ``code``: the service does not
  go to the address (``"no_zone"``), does not collect cash (``"cod_unsupported"``),
  the goods are worth more than it insures (``"declared_value"``), or a
  booking can no longer be cancelled (``"too_late_to_cancel"``).
* `fourflows.errors.IdempotencyConflict`: a key came back with another request.
* `fourflows.errors.NotFound`: an unknown service or tracking number.
* `fourflows.errors.InvalidInput`: a malformed request.

A call that raises anything but `CarrierUnavailable` books, cancels and
charges nothing, and its idempotency key stays unused.

**Idempotency.** ``book`` and ``cancel`` change things at the carrier, so
their requests carry an idempotency key: the same key with the same request
returns the first answer and does nothing twice; the same key with another
request raises `IdempotencyConflict`. ``rates`` and ``track`` only read.

**Tracking.** Carriers speak in their own codes (``"TRN"``, ``"配達完了"``,
``"3001"``). A `CodeTable` maps one carrier's codes onto the canonical
`TrackingStatus`, and `normalise` turns raw events into a `TrackingHistory`:
exact repeats are dropped, the rest ordered by event time, unknown codes kept
and flagged, and events that would move the parcel backwards (an "in
transit" scan after "delivered") kept but not applied. The result depends
only on the set of distinct events, never on how or how often they arrived,
and normalising never raises for any well-formed event.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import attrs

from fourflows.errors import CurrencyMismatch, InvalidInput, NotEligible
from fourflows.events import aware
from fourflows.geo import Address
from fourflows.logistics.packing import Parcel
from fourflows.logistics.shipping import ShippingService, ShippingTable, WeightTiers
from fourflows.money import Money

__all__ = [
    "Booking",
    "BookingRequest",
    "CancelRequest",
    "Cancellation",
    "Carrier",
    "CodOverCap",
    "CodeTable",
    "DeliveryKind",
    "DeliveryOption",
    "Label",
    "ParcelOverLimits",
    "RateQuote",
    "RateRequest",
    "RawTrackingEvent",
    "TrackingEvent",
    "TrackingFlag",
    "TrackingHistory",
    "TrackingStatus",
    "check_booking",
    "normalise",
]


# --- errors -----------------------------------------------------------------------------------


class ParcelOverLimits(NotEligible):
    """A parcel is over what a service carries: its weight, a side, its girth, its box.

    ``parcel`` is the parcel's position in the request (from 0); ``code`` is
    the limit broken: ``"weight"``, ``"side"``, ``"length_plus_girth"``,
    ``"box"`` or ``"weight_tier"`` (above the heaviest rate tier).
    """

    def __init__(self, service: str, parcel: int, reason: str, *, code: str) -> None:
        super().__init__("shipping service", service, f"parcel {parcel} {reason}", code=code)
        self.parcel = parcel


class CodOverCap(NotEligible):
    """The cash to collect on delivery is above the most the service may collect."""

    def __init__(self, service: str, amount: Money, cap: Money) -> None:
        super().__init__(
            "shipping service",
            service,
            f"cash on delivery of {amount} is over its cash-on-delivery limit of {cap}",
            code="cod_cap",
        )
        self.amount = amount
        self.cap = cap


# --- validators -------------------------------------------------------------------------------


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {value!r}")


def _optional_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _text(_, attribute, value)


def _plain_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{attribute.name} must be a string, not {value!r}")


def _address(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Address):
        raise InvalidInput(f"{attribute.name} must be an Address, not {value!r}")


def _amount(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Money):
        raise InvalidInput(f"{attribute.name} must be Money, not {value!r}")
    if value.amount < 0:
        raise InvalidInput(f"{attribute.name} cannot be negative: {value}; use 0 or more")


def _cod_amount(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Money) or value.amount <= 0:
        raise InvalidInput(
            f"{attribute.name} must be None (no cash on delivery) or Money above 0, not {value!r}"
        )


def _parcels(value: object) -> tuple[Parcel, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"parcels must be a list of Parcel values, not {value!r}")
    parcels = tuple(value)
    if not parcels:
        raise InvalidInput("parcels is empty: a carrier needs at least one parcel")
    for parcel in parcels:
        if not isinstance(parcel, Parcel):
            raise InvalidInput(f"parcels must hold Parcel values only, not {parcel!r}")
    return parcels


def _transit(value: object) -> tuple[int, int]:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
        or value[0] > value[1]
    ):
        raise InvalidInput(
            f"transit_days must be (min, max) whole days with min <= max, not {value!r}"
        )
    return (value[0], value[1])


def _count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{attribute.name} must be a whole number above 0, not {value!r}")


def _index(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{attribute.name} must be a parcel position, 0 or more, not {value!r}")


def _same_currency(first: Money | None, second: Money | None, operation: str) -> None:
    if first is not None and second is not None and first.code != second.code:
        raise CurrencyMismatch(first.code, second.code, operation)


# --- delivery options -------------------------------------------------------------------------


class DeliveryKind(enum.Enum):
    """How an order reaches the customer."""

    POST_OFFICE = "post_office"
    """A post-office parcel (郵局), delivered to the address or held at the post office."""
    COURIER = "courier"
    """Home delivery by a courier (宅配)."""
    SAME_DAY_RIDER = "same_day_rider"
    """A rider brings it the same day, in the cities the rider service covers."""
    CVS_PICKUP = "cvs_pickup"
    """Collected, and possibly paid for in cash, at a convenience store (超商取貨付款)."""
    STORE_PICKUP = "store_pickup"
    """Bought online, picked up in one of the shop's own stores (門市自取); no carrier."""
    THIRD_PARTY = "third_party"
    """Packed and shipped by a third-party fulfilment house for the shop."""

    @property
    def is_pickup(self) -> bool:
        """Whether the customer collects the parcel at a pickup point."""
        return self in (DeliveryKind.CVS_PICKUP, DeliveryKind.STORE_PICKUP)

    @property
    def uses_carrier(self) -> bool:
        """Whether a carrier is booked; in-store pickup is handed over by the shop itself."""
        return self is not DeliveryKind.STORE_PICKUP

    @property
    def may_collect_cash(self) -> bool:
        """Whether this way of delivery can collect cash on delivery (or at pickup)."""
        return self in _CASH_KINDS


_CASH_KINDS = frozenset(
    {
        DeliveryKind.POST_OFFICE,
        DeliveryKind.COURIER,
        DeliveryKind.CVS_PICKUP,
        DeliveryKind.STORE_PICKUP,
        DeliveryKind.THIRD_PARTY,
    }
)


def _kind(value: object) -> DeliveryKind:
    try:
        return DeliveryKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in DeliveryKind)
        raise InvalidInput(f"unknown delivery kind {value!r}; allowed: {allowed}") from None


def _hold_days(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidInput(f"{attribute.name} must be None or whole days above 0, not {value!r}")


@attrs.frozen(kw_only=True)
class DeliveryOption:
    """One way the customer chose to receive an order, as the shipment will carry it out.

    ``carrier`` names the carrier to book (``None`` for in-store pickup, and
    required for every other kind); ``service_id`` the shipping service that
    priced it; ``pickup_point`` the store or convenience store to collect at
    (required for pickups, refused otherwise); ``cod`` whether cash is
    collected on delivery or at pickup; ``hold_days`` how long a pickup point
    keeps the parcel before it goes back (pickups only).

    >>> option = DeliveryOption(kind="cvs_pickup", carrier="tw-cvs", service_id="cvs",
    ...                         pickup_point="7-ELEVEN 123456", cod=True, hold_days=7)
    >>> option.kind.is_pickup, option.kind.uses_carrier
    (True, True)
    """

    kind: DeliveryKind = attrs.field(converter=_kind)
    service_id: str = attrs.field(validator=_text)
    carrier: str | None = attrs.field(default=None, validator=_optional_text)
    pickup_point: str | None = attrs.field(default=None, validator=_optional_text)
    cod: bool = attrs.field(default=False)
    hold_days: int | None = attrs.field(default=None, validator=_hold_days)

    def __attrs_post_init__(self) -> None:
        kind = self.kind.value
        if not isinstance(self.cod, bool):
            raise InvalidInput(f"cod must be True or False, not {self.cod!r}")
        if self.kind.uses_carrier and self.carrier is None:
            raise InvalidInput(f"a {kind} delivery needs the carrier to book")
        if not self.kind.uses_carrier and self.carrier is not None:
            raise InvalidInput(f"a {kind} delivery books no carrier; drop carrier={self.carrier!r}")
        if self.kind.is_pickup and self.pickup_point is None:
            raise InvalidInput(f"a {kind} delivery needs the pickup_point to collect it at")
        if not self.kind.is_pickup and self.pickup_point is not None:
            raise InvalidInput(
                f"a {kind} delivery goes to the address; pickup_point "
                f"{self.pickup_point!r} is only for cvs_pickup and store_pickup"
            )
        if not self.kind.is_pickup and self.hold_days is not None:
            raise InvalidInput(f"hold_days is only for pickups, not for a {kind} delivery")
        if self.cod and not self.kind.may_collect_cash:
            allowed = ", ".join(sorted(k.value for k in _CASH_KINDS))
            raise InvalidInput(
                f"a {kind} delivery cannot collect cash on delivery; cash is collected by: "
                f"{allowed}"
            )


# --- requests and answers ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RateRequest:
    """What to price: parcels from ``origin`` to ``destination``.

    ``service_id`` asks for one service only (its refusal is then raised);
    ``None`` prices every service that can carry the parcels.
    ``declared_value`` is what the goods are worth, ``cod_amount`` the cash to
    collect on delivery (``None`` for none).
    """

    origin: Address = attrs.field(validator=_address)
    destination: Address = attrs.field(validator=_address)
    parcels: tuple[Parcel, ...] = attrs.field(converter=_parcels)
    declared_value: Money = attrs.field(validator=_amount)
    cod_amount: Money | None = attrs.field(default=None, validator=_cod_amount)
    service_id: str | None = attrs.field(default=None, validator=_optional_text)

    def __attrs_post_init__(self) -> None:
        _same_currency(self.declared_value, self.cod_amount, "collect on delivery")


@attrs.frozen(kw_only=True)
class RateQuote:
    """The carrier's price for one service: ``fee`` for every parcel, taking ``transit_days``."""

    carrier: str = attrs.field(validator=_text)
    service_id: str = attrs.field(validator=_text)
    kind: DeliveryKind = attrs.field(converter=_kind)
    fee: Money = attrs.field(validator=_amount)
    transit_days: tuple[int, int] = attrs.field(converter=_transit)
    parcels: int = attrs.field(validator=_count)


@attrs.frozen(kw_only=True)
class BookingRequest:
    """Book ``service_id`` for ``parcels`` of shipment ``shipment_id``, once per idempotency key.

    ``pickup_point`` is the convenience store (or other pickup point) to
    deliver to, required by pickup services.
    """

    idempotency_key: str = attrs.field(validator=_text)
    shipment_id: str = attrs.field(validator=_text)
    service_id: str = attrs.field(validator=_text)
    origin: Address = attrs.field(validator=_address)
    destination: Address = attrs.field(validator=_address)
    parcels: tuple[Parcel, ...] = attrs.field(converter=_parcels)
    declared_value: Money = attrs.field(validator=_amount)
    cod_amount: Money | None = attrs.field(default=None, validator=_cod_amount)
    pickup_point: str | None = attrs.field(default=None, validator=_optional_text)

    def __attrs_post_init__(self) -> None:
        _same_currency(self.declared_value, self.cod_amount, "collect on delivery")

    def rate_request(self) -> RateRequest:
        """The same parcels and service, as a request for a price."""
        return RateRequest(
            origin=self.origin,
            destination=self.destination,
            parcels=self.parcels,
            declared_value=self.declared_value,
            cod_amount=self.cod_amount,
            service_id=self.service_id,
        )


@attrs.frozen(kw_only=True)
class Label:
    """The shipping label of one parcel: its barcode and where to fetch the printable document."""

    parcel: int = attrs.field(validator=_index)
    barcode: str = attrs.field(validator=_text)
    document: str = attrs.field(validator=_text)
    format: str = attrs.field(default="pdf", validator=_text)


def _labels(value: object) -> tuple[Label, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(f"labels must be a list of Label values, not {value!r}")
    labels = tuple(value)
    if not labels or not all(isinstance(label, Label) for label in labels):
        raise InvalidInput(f"labels must be one Label or more, not {value!r}")
    return labels


@attrs.frozen(kw_only=True)
class Booking:
    """A booked shipment: its tracking number, one label per parcel and the fee charged."""

    carrier: str = attrs.field(validator=_text)
    idempotency_key: str = attrs.field(validator=_text)
    shipment_id: str = attrs.field(validator=_text)
    service_id: str = attrs.field(validator=_text)
    tracking_number: str = attrs.field(validator=_text)
    labels: tuple[Label, ...] = attrs.field(converter=_labels)
    fee: Money = attrs.field(validator=_amount)
    booked_at: datetime = attrs.field(validator=aware)


@attrs.frozen(kw_only=True)
class CancelRequest:
    """Cancel the booking ``tracking_number``, once per idempotency key."""

    idempotency_key: str = attrs.field(validator=_text)
    tracking_number: str = attrs.field(validator=_text)
    reason: str = attrs.field(default="", validator=_plain_text)


@attrs.frozen(kw_only=True)
class Cancellation:
    """A booking given back to the carrier before it picked the parcels up."""

    carrier: str = attrs.field(validator=_text)
    idempotency_key: str = attrs.field(validator=_text)
    tracking_number: str = attrs.field(validator=_text)
    canceled_at: datetime = attrs.field(validator=aware)


# --- tracking ---------------------------------------------------------------------------------


class TrackingStatus(enum.Enum):
    """Where a parcel is, in words every carrier's codes are mapped onto."""

    LABEL_CREATED = "label_created"
    """Booked: the label exists, the carrier does not have the parcel yet."""
    PICKED_UP_BY_CARRIER = "picked_up_by_carrier"
    """The carrier has the parcel: it is shipped."""
    IN_TRANSIT = "in_transit"
    """Moving between the carrier's sites."""
    OUT_FOR_DELIVERY = "out_for_delivery"
    """On the vehicle for the last mile."""
    DELIVERY_FAILED = "delivery_failed"
    """A delivery attempt failed (nobody home, refused at the door); it may be tried again."""
    READY_FOR_PICKUP = "ready_for_pickup"
    """Waiting at the pickup point (a convenience store) for the customer."""
    PICKED_UP = "picked_up"
    """Collected by the customer at the pickup point."""
    PICKUP_EXPIRED = "pickup_expired"
    """Not collected within the hold period; it goes back to the sender."""
    DELIVERED = "delivered"
    """Delivered to the address."""
    RETURNED_TO_SENDER = "returned_to_sender"
    """Back at the sender."""
    LOST = "lost"
    """The carrier declared the parcel lost."""
    CANCELED = "canceled"
    """The booking was cancelled before the carrier took the parcel."""
    EXCEPTION = "exception"
    """A problem the carrier reports (damage, an address to check, a customs hold)."""
    UNKNOWN = "unknown"
    """A code the carrier's code table does not know; such events are flagged, never applied."""

    @property
    def is_final(self) -> bool:
        """Whether the parcel's journey is over; no later event moves it."""
        return self in _FINAL

    @property
    def shipment_state(self) -> str | None:
        """The shipment machine's state this status leads to, or ``None`` when it has none.

        ``picked_up_by_carrier`` is the shipment's ``shipped``; ``label_created``,
        ``exception`` and ``unknown`` move no shipment.
        """
        return _SHIPMENT_STATE.get(self)


_FINAL = frozenset(
    {
        TrackingStatus.DELIVERED,
        TrackingStatus.PICKED_UP,
        TrackingStatus.RETURNED_TO_SENDER,
        TrackingStatus.LOST,
        TrackingStatus.CANCELED,
    }
)
_NO_SHIPMENT_STATE = frozenset(
    {
        TrackingStatus.LABEL_CREATED,
        TrackingStatus.PICKED_UP_BY_CARRIER,
        TrackingStatus.EXCEPTION,
        TrackingStatus.UNKNOWN,
    }
)
_SHIPMENT_STATE: dict[TrackingStatus, str] = {
    status: status.value for status in TrackingStatus if status not in _NO_SHIPMENT_STATE
}
_SHIPMENT_STATE[TrackingStatus.PICKED_UP_BY_CARRIER] = "shipped"
# The order statuses take when they share an event time, from the start of a journey to its end.
_RANK = {status: rank for rank, status in enumerate(TrackingStatus)}


def _codes(value: object) -> dict[str, TrackingStatus]:
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"codes must be a mapping of carrier code to TrackingStatus, not {value!r}"
        )
    table: dict[str, TrackingStatus] = {}
    for code, status in value.items():
        if not isinstance(code, str) or not code.strip():
            raise InvalidInput(f"a carrier code must be a non-empty string, not {code!r}")
        try:
            canonical = TrackingStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in TrackingStatus if s is not TrackingStatus.UNKNOWN)
            raise InvalidInput(
                f"carrier code {code!r} maps to {status!r}, which is not a tracking status; "
                f"allowed: {allowed}"
            ) from None
        if canonical is TrackingStatus.UNKNOWN:
            raise InvalidInput(
                f"carrier code {code!r} cannot map to 'unknown': leave unknown codes out"
            )
        table[code.strip()] = canonical
    return table


@attrs.frozen(kw_only=True)
class CodeTable:
    """One carrier's tracking codes, each mapped to its canonical `TrackingStatus`.

    Codes are matched exactly after trimming spaces; a code not in the table
    is reported as `TrackingStatus.UNKNOWN` and flagged.

    >>> table = CodeTable(carrier="acme", codes={"10": "in_transit", "90": "delivered"})
    >>> table.status(" 90 "), table.status("77")
    (<TrackingStatus.DELIVERED: 'delivered'>, <TrackingStatus.UNKNOWN: 'unknown'>)
    """

    carrier: str = attrs.field(validator=_text)
    codes: Mapping[str, TrackingStatus] = attrs.field(converter=_codes)

    def status(self, code: str) -> TrackingStatus:
        """The canonical status of ``code``, or `TrackingStatus.UNKNOWN`."""
        return self.codes.get(code.strip(), TrackingStatus.UNKNOWN)


@attrs.frozen(kw_only=True)
class RawTrackingEvent:
    """One scan event as the carrier reported it, with the carrier's own ``code``.

    Two events are the same event exactly when every field is equal; a
    carrier's ``event_id`` (when it gives one) is part of that.
    """

    tracking_number: str = attrs.field(validator=_text)
    code: str = attrs.field(validator=_text)
    occurred_at: datetime = attrs.field(validator=aware)
    description: str = attrs.field(default="", validator=_plain_text)
    location: str = attrs.field(default="", validator=_plain_text)
    event_id: str = attrs.field(default="", validator=_plain_text)

    def _order(self) -> tuple[datetime, str, str, str, str]:
        return (
            self.occurred_at.astimezone(UTC),
            self.code,
            self.location,
            self.description,
            self.event_id,
        )


class TrackingFlag(enum.Enum):
    """Why a tracking event was kept but not applied."""

    UNKNOWN_CODE = "unknown_code"
    """The carrier's code is not in its code table: look at it, then extend the table."""
    OUT_OF_SEQUENCE = "out_of_sequence"
    """It would move the parcel back (an "in transit" after "delivered"), so it is ignored."""


@attrs.frozen(kw_only=True)
class TrackingEvent:
    """A raw event read through a code table.

    ``status`` is its canonical status (``unknown`` for an unknown code);
    ``changed`` says whether it moved the parcel to a new status; ``flag``
    says why it was not applied, if it was not.
    """

    raw: RawTrackingEvent
    status: TrackingStatus
    changed: bool
    flag: TrackingFlag | None = None

    @property
    def occurred_at(self) -> datetime:
        """When the carrier says it happened."""
        return self.raw.occurred_at


@attrs.frozen(kw_only=True)
class TrackingHistory:
    """Everything known about one parcel's journey, in event-time order.

    ``events`` holds every distinct event; ``status`` is where the parcel is
    now (``None`` before any known event) and ``since`` when it got there.
    Two histories are equal when they hold the same events, however often
    and in whatever order those arrived.
    """

    tracking_number: str
    codes: CodeTable
    events: tuple[TrackingEvent, ...]
    status: TrackingStatus | None
    since: datetime | None
    repeats: int = attrs.field(eq=False)
    """How many exact repeats this normalisation dropped; not part of equality."""

    @property
    def changes(self) -> tuple[TrackingEvent, ...]:
        """The events that moved the parcel, in order: what a shipment machine follows."""
        return tuple(event for event in self.events if event.changed)

    @property
    def flagged(self) -> tuple[TrackingEvent, ...]:
        """The events kept but not applied (unknown codes, moves backwards)."""
        return tuple(event for event in self.events if event.flag is not None)

    @property
    def unknown_codes(self) -> tuple[str, ...]:
        """The distinct codes the code table did not know, sorted."""
        return tuple(
            sorted({e.raw.code for e in self.events if e.flag is TrackingFlag.UNKNOWN_CODE})
        )

    @property
    def is_final(self) -> bool:
        """Whether the journey is over (delivered, picked up, returned, lost or cancelled)."""
        return self.status is not None and self.status.is_final

    @property
    def raw_events(self) -> tuple[RawTrackingEvent, ...]:
        """The distinct raw events, in order; normalising them again gives this history."""
        return tuple(event.raw for event in self.events)

    def add(self, events: Iterable[RawTrackingEvent]) -> TrackingHistory:
        """The history with more raw events, normalised again; repeats change nothing."""
        return normalise(
            (*self.raw_events, *events), self.codes, tracking_number=self.tracking_number
        )

    def changes_after(self, previous: TrackingHistory | None) -> tuple[TrackingEvent, ...]:
        """The changes that come after the last change of ``previous``, in order.

        What a consumer that applied ``previous.changes`` still has to apply:
        an event that arrived late but happened before what was applied is
        never handed out again.
        """
        if previous is None or not previous.changes:
            return self.changes
        last = _sort_key(previous.changes[-1].raw, previous.changes[-1].status)
        return tuple(event for event in self.changes if _sort_key(event.raw, event.status) > last)


def _sort_key(
    raw: RawTrackingEvent, status: TrackingStatus
) -> tuple[datetime, int, str, str, str, str]:
    at, code, location, description, event_id = raw._order()
    return (at, _RANK[status], code, location, description, event_id)


_BEFORE_SHIPPING = frozenset({TrackingStatus.LABEL_CREATED})
_HANDED_OVER = frozenset({TrackingStatus.LABEL_CREATED, TrackingStatus.PICKED_UP_BY_CARRIER})


def _may_follow(current: TrackingStatus | None, new: TrackingStatus) -> bool:
    """Whether a parcel in ``current`` may move to ``new``; the same status is no move."""
    if current is None:
        return True
    if current.is_final or new is current:
        return False
    if new.is_final:
        return True  # a carrier's last word (delivered, lost, returned) is always believed
    if current is TrackingStatus.PICKUP_EXPIRED:
        return False  # on its way back: only the return (or a loss) ends it
    if current is TrackingStatus.PICKED_UP_BY_CARRIER:
        return new not in _BEFORE_SHIPPING
    if current is TrackingStatus.LABEL_CREATED:
        return True
    return new not in _HANDED_OVER


def normalise(
    events: Iterable[RawTrackingEvent],
    codes: CodeTable,
    *,
    tracking_number: str | None = None,
) -> TrackingHistory:
    """Read a parcel's raw events through ``codes`` into a `TrackingHistory`.

    Exact repeats are dropped; the rest are ordered by event time (events at
    the same instant from the start of a journey to its end) and applied in
    that order. An unknown code is kept with status ``unknown`` and flag
    ``unknown_code``; an event that would move the parcel backwards, or past
    a final status, is kept with flag ``out_of_sequence``. A final status
    (delivered, picked up, returned, lost, cancelled) is always applied over
    a non-final one. The result depends only on the set of distinct events.
    ``tracking_number`` names the parcel when ``events`` may be empty.

    Raises `InvalidInput` for something that is not a `RawTrackingEvent`, or
    for events of more than one tracking number.

    >>> from datetime import datetime, timezone
    >>> codes = CodeTable(carrier="acme", codes={"PU": "picked_up_by_carrier",
    ...                                          "TR": "in_transit", "OK": "delivered"})
    >>> def at(hour, code):
    ...     return RawTrackingEvent(tracking_number="A1", code=code,
    ...                             occurred_at=datetime(2026, 11, 23, hour, tzinfo=timezone.utc))
    >>> history = normalise([at(15, "OK"), at(9, "PU"), at(16, "TR"), at(9, "PU"), at(12, "??")],
    ...                     codes)
    >>> history.status.value, [e.status.value for e in history.changes], history.repeats
    ('delivered', ['picked_up_by_carrier', 'delivered'], 1)
    >>> [(e.raw.code, e.flag.value) for e in history.flagged]
    [('??', 'unknown_code'), ('TR', 'out_of_sequence')]
    """
    if not isinstance(codes, CodeTable):
        raise InvalidInput(f"codes must be a CodeTable, not {codes!r}")
    if isinstance(events, str | bytes) or not isinstance(events, Iterable):
        raise InvalidInput(f"events must be a list of RawTrackingEvent values, not {events!r}")
    distinct: dict[RawTrackingEvent, None] = {}
    seen = 0
    numbers = set() if tracking_number is None else {tracking_number}
    for event in events:
        if not isinstance(event, RawTrackingEvent):
            raise InvalidInput(f"events must be RawTrackingEvent values, not {event!r}")
        numbers.add(event.tracking_number)
        distinct[event] = None
        seen += 1
    if len(numbers) > 1:
        raise InvalidInput(
            f"events of one parcel are normalised together, not of several: "
            f"{', '.join(sorted(numbers))}"
        )
    if not numbers:
        raise InvalidInput("no events and no tracking_number: name the parcel")
    ordered = sorted(
        ((raw, codes.status(raw.code)) for raw in distinct),
        key=lambda pair: _sort_key(*pair),
    )
    current: TrackingStatus | None = None
    since: datetime | None = None
    read: list[TrackingEvent] = []
    for raw, status in ordered:
        if status is TrackingStatus.UNKNOWN:
            read.append(
                TrackingEvent(raw=raw, status=status, changed=False, flag=TrackingFlag.UNKNOWN_CODE)
            )
        elif _may_follow(current, status):
            current, since = status, raw.occurred_at
            read.append(TrackingEvent(raw=raw, status=status, changed=True))
        elif status is current:
            read.append(TrackingEvent(raw=raw, status=status, changed=False))
        else:
            read.append(
                TrackingEvent(
                    raw=raw, status=status, changed=False, flag=TrackingFlag.OUT_OF_SEQUENCE
                )
            )
    return TrackingHistory(
        tracking_number=numbers.pop(),
        codes=codes,
        events=tuple(read),
        status=current,
        since=since,
        repeats=seen - len(distinct),
    )


# --- what a service accepts -------------------------------------------------------------------


def check_booking(
    request: RateRequest | BookingRequest, service: ShippingService, table: ShippingTable
) -> None:
    """Raise if ``service`` of ``table`` cannot carry the request's parcels; else return ``None``.

    Checks, in order: the currency, that the service goes to the destination
    (``"no_zone"``, ``"no_zone_rate"``), the declared value
    (``"declared_value"``), cash on delivery (``"cod_unsupported"``,
    then `CodOverCap`), and each parcel against the service's limits and
    its heaviest weight tier (`ParcelOverLimits`). The cap applies to the
    amount collected, as given in ``cod_amount``. Changes nothing.
    """
    if request.declared_value.code != table.currency:
        raise CurrencyMismatch(table.currency, request.declared_value.code, "ship")
    zone = table.zone_for(request.destination)
    if zone is None:
        raise NotEligible(
            "shipping service",
            service.id,
            "no zone of its table covers the address",
            code="no_zone",
        )
    rate = service.rate_for(zone.id)
    if rate is None:
        raise NotEligible(
            "shipping service",
            service.id,
            f"it does not deliver to {zone.name} ({zone.id})",
            code="no_zone_rate",
        )
    most = service.max_declared_value
    if most is not None and request.declared_value > most:
        raise NotEligible(
            "shipping service",
            service.id,
            f"the goods are declared at {request.declared_value}, over its limit of {most}",
            code="declared_value",
        )
    if request.cod_amount is not None:
        if service.cod is None:
            raise NotEligible(
                "shipping service",
                service.id,
                "it does not collect cash on delivery",
                code="cod_unsupported",
            )
        cap = service.cod.max_value
        if cap is not None and request.cod_amount > cap:
            raise CodOverCap(service.id, request.cod_amount, cap)
    for index, parcel in enumerate(request.parcels):
        broken = service.limits.violation(parcel.weight_g, parcel.size_cm)
        if broken is not None:
            code, reason = broken
            raise ParcelOverLimits(service.id, index, reason, code=code)
        rule = rate.rule
        if isinstance(rule, WeightTiers) and rule.fee_for(parcel.chargeable_weight_g) is None:
            raise ParcelOverLimits(
                service.id,
                index,
                f"has a chargeable weight of {parcel.chargeable_weight_g} g, above its heaviest "
                f"rate tier of {rule.tiers[-1].up_to_g} g",
                code="weight_tier",
            )


# --- the port ---------------------------------------------------------------------------------


class Carrier(Protocol):
    """A parcel carrier, as fourflows uses it. See the module docstring for failure semantics.

    A carrier adapter is used by one thread at a time, like an aggregate.
    """

    @property
    def name(self) -> str:
        """The carrier's name, as `DeliveryOption.carrier` refers to it."""
        ...

    @property
    def codes(self) -> CodeTable:
        """The carrier's tracking codes, for `normalise`."""
        ...

    def rates(self, request: RateRequest) -> tuple[RateQuote, ...]:
        """The price of every service that can carry the parcels, cheapest first.

        With ``request.service_id`` only that service is priced, and its
        refusal is raised (`ParcelOverLimits`, `CodOverCap`, `NotEligible`,
        `NotFound` for an unknown service); without it, services that cannot
        carry the parcels are left out. Reads only; raises
        `CarrierUnavailable` when the carrier gives no answer.
        """
        ...

    def book(self, request: BookingRequest) -> Booking:
        """Book the parcels: a tracking number and a label per parcel, at most once per key.

        Raises what ``rates`` raises for the service, `InvalidInput` for a
        pickup service without ``pickup_point``, `IdempotencyConflict` for a
        key used with another request, and `CarrierUnavailable` when the
        carrier gives no answer (then repeat with the same key).
        """
        ...

    def cancel(self, request: CancelRequest) -> Cancellation:
        """Give a booking back before the carrier has the parcels, at most once per key.

        Cancelling a cancelled booking returns its cancellation. Raises
        `NotFound` for an unknown tracking number, `NotEligible` (code
        ``"too_late_to_cancel"``) once the carrier has the parcels,
        `IdempotencyConflict` and `CarrierUnavailable` as ``book`` does.
        """
        ...

    def track(self, tracking_number: str) -> tuple[RawTrackingEvent, ...]:
        """Every raw event the carrier reports for the booking, in the carrier's order.

        The events may repeat and come in any order: read them with
        `normalise` and ``codes``. Raises `NotFound` for an unknown tracking
        number and `CarrierUnavailable` when the carrier gives no answer.
        """
        ...
