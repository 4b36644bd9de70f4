"""Stock per location, reservations, allocation and the movements journal.

One stock serves every channel (web, app and the stores: OMO). A shop keeps
goods at stock locations (warehouses and stores). For each sku and
location the stock has units **on hand**, units **allocated** to orders
there (the location's ``reserved``) and units **incoming** (announced, not
yet received). Over all locations a sku also has its **reserved** units: the
units promised to orders, allocated to a location or not yet.

The life of an order's units:

1. ``reserve`` — at order placement the order's lines are held against the
   whole network, all lines or none, usually with an expiry (a checkout
   hold). A sku whose `StockPolicy` allows backorders (or takes preorders)
   may be reserved beyond what is on hand; any other raises
   `InsufficientStock`.
2. ``allocate`` — the reserved units are assigned to locations by an
   `AllocationStrategy` (one location that can take everything first, then
   by priority or distance, split when needed).
3. ``ship`` — allocated units are picked and leave their location.
4. ``release`` (a cancel) or ``expire_due`` (an unpaid hold ran out) gives
   the units not yet shipped back.

Every change is written to the journal as movements; replaying the
journal with `replay` gives back the balances exactly. `Inventory` holds the
rules; it is pure, keeps no clock and is used by one thread at a time. The
`StockStore` port is what the application talks to: the in-memory adapter
(`fourflows.adapters.stock.MemoryStockStore`) wraps an `Inventory` in a lock.
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs

from fourflows.commerce.catalog import Product
from fourflows.errors import IdempotencyConflict, InsufficientStock, InvalidInput, NotFound
from fourflows.events import DomainEvent, Flow, aware, domain_event, require_aware

__all__ = [
    "Allocation",
    "AllocationStrategy",
    "ByDistance",
    "ByPriority",
    "Inventory",
    "LocationKind",
    "Movement",
    "MovementKind",
    "Reservation",
    "ReservationLine",
    "ReservationStatus",
    "StockBalances",
    "StockLevel",
    "StockLine",
    "StockLocation",
    "StockPolicy",
    "StockRanLow",
    "StockRanOut",
    "StockStore",
    "StockSummary",
    "allocate_in_order",
    "replay",
    "stock_lines",
]


# --------------------------------------------------------------------------- checks


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")
    return value.strip()


def _units(value: object, what: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{what} must be a whole number of at least {minimum}, not {value!r}")
    return value


def _id_field(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _name(value, attribute.name)


def _count_field(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _units(value, attribute.name, minimum=0)


def _positive_field(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _units(value, attribute.name)


def _optional_aware(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        require_aware(value, attribute.name)


# --------------------------------------------------------------------------- locations


class LocationKind(enum.Enum):
    """What a stock location is: a warehouse, or a store that also sells over the counter."""

    WAREHOUSE = "warehouse"
    STORE = "store"


def _coordinate(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidInput(f"a coordinate must be a number in degrees, not {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(f"a coordinate must be a number in degrees, not {value!r}") from None
    if not number.is_finite():
        raise InvalidInput(f"a coordinate must be a finite number of degrees, not {value!r}")
    return number


def _coordinates(value: object) -> tuple[Decimal, Decimal] | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"coordinates must be (latitude, longitude) in degrees, not {value!r}")
    latitude, longitude = _coordinate(value[0]), _coordinate(value[1])
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise InvalidInput(
            f"coordinates {value!r} are out of range: latitude is -90..90, longitude -180..180"
        )
    return (latitude, longitude)


def _priority(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"priority must be an int (lower ships first), not {value!r}")


@attrs.frozen(kw_only=True)
class StockLocation:
    """A place that holds stock: a warehouse, or a store (so web orders can use store stock).

    ``priority`` orders locations for allocation: lower comes first.
    ``coordinates`` (latitude, longitude) let `ByDistance.from_point` rank
    locations by how far they are from the customer.
    """

    id: str = attrs.field(validator=_id_field)
    kind: LocationKind = attrs.field(default=LocationKind.WAREHOUSE, converter=LocationKind)
    name: str = ""
    priority: int = attrs.field(default=0, validator=_priority)
    coordinates: tuple[Decimal, Decimal] | None = attrs.field(default=None, converter=_coordinates)


# --------------------------------------------------------------------------- policies


@attrs.frozen(kw_only=True)
class StockPolicy:
    """How a sku may be sold when stock runs short, and when to warn.

    ``backorderable`` lets orders reserve more than is on hand (they wait for
    the next receipt). ``preorder_ships_by`` takes preorders: reservations
    beyond stock are allowed and promise that date. ``clearance`` marks stock
    sold until gone: it is never backordered or preordered, and its
    out-of-stock event says it will not come back. ``low_stock_at`` is the
    available count at or below which a `StockRanLow` event is recorded.
    """

    sku: str = attrs.field(validator=_id_field)
    backorderable: bool = False
    preorder_ships_by: datetime | None = attrs.field(default=None, validator=_optional_aware)
    clearance: bool = False
    low_stock_at: int = attrs.field(default=0, validator=_count_field)

    def __attrs_post_init__(self) -> None:
        if self.clearance and (self.backorderable or self.preorder_ships_by is not None):
            raise InvalidInput(
                f"sku {self.sku!r} cannot be on clearance and also take backorders or preorders: "
                "clearance stock is sold until gone"
            )

    @classmethod
    def for_product(
        cls,
        product: Product,
        *,
        low_stock_at: int = 0,
        clearance: bool = False,
        preorder_ships_by: datetime | None = None,
    ) -> StockPolicy:
        """The policy of a catalog product: its sku, and backorders if the product allows them."""
        return cls(
            sku=product.sku,
            backorderable=product.backorderable,
            preorder_ships_by=preorder_ships_by,
            clearance=clearance,
            low_stock_at=low_stock_at,
        )

    @property
    def oversells(self) -> bool:
        """Whether reservations may go beyond the units on hand (backorder or preorder)."""
        return self.backorderable or self.preorder_ships_by is not None


# --------------------------------------------------------------------------- lines


@attrs.frozen
class StockLine:
    """A quantity of one sku."""

    sku: str = attrs.field(validator=_id_field)
    quantity: int = attrs.field(validator=_positive_field)


def stock_lines(
    lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
) -> tuple[StockLine, ...]:
    """``lines`` (a mapping or pairs of sku and quantity) merged per sku and sorted by sku.

    Raises `InvalidInput` for an empty request, a blank sku or a quantity below 1.
    """
    pairs: Iterable[Any] = lines.items() if isinstance(lines, Mapping) else lines
    merged: Counter[str] = Counter()
    for pair in pairs:
        line = pair if isinstance(pair, StockLine) else _as_line(pair)
        merged[line.sku] += line.quantity
    if not merged:
        raise InvalidInput("a request for stock needs at least one line")
    return tuple(StockLine(sku, merged[sku]) for sku in sorted(merged))


def _as_line(pair: object) -> StockLine:
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise InvalidInput(f"a stock line is (sku, quantity), not {pair!r}")
    return StockLine(_name(pair[0], "a sku"), _units(pair[1], f"the quantity of {pair[0]!r}"))


@attrs.frozen(kw_only=True)
class ReservationLine:
    """One sku of a reservation.

    ``backordered`` units were not available when reserved (the sku allows
    backorders or preorders); ``ships_by`` is the preorder's promised date.
    """

    sku: str = attrs.field(validator=_id_field)
    quantity: int = attrs.field(validator=_positive_field)
    backordered: int = attrs.field(default=0, validator=_count_field)
    ships_by: datetime | None = attrs.field(default=None, validator=_optional_aware)


@attrs.frozen
class Allocation:
    """Units held for one reservation at one location, sorted by sku."""

    location: str = attrs.field(validator=_id_field)
    lines: tuple[StockLine, ...]

    @property
    def units(self) -> int:
        """Units in the allocation, over every sku."""
        return sum(line.quantity for line in self.lines)


class ReservationStatus(enum.Enum):
    """Where a reservation stands: active until fully shipped, released or expired."""

    ACTIVE = "active"
    FULFILLED = "fulfilled"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class Reservation:
    """Stock held for one order.

    ``expires_at`` is the checkout hold (``None``: held until released).
    ``allocations`` are the units assigned to locations and not yet
    shipped; ``shipped`` are the units that left, per location.
    """

    id: str = attrs.field(validator=_id_field)
    order_id: str = attrs.field(validator=_id_field)
    lines: tuple[ReservationLine, ...]
    placed_at: datetime = attrs.field(validator=aware)
    expires_at: datetime | None = attrs.field(default=None, validator=_optional_aware)
    status: ReservationStatus = ReservationStatus.ACTIVE
    allocations: tuple[Allocation, ...] = ()
    shipped: tuple[Allocation, ...] = ()

    def quantity(self, sku: str) -> int:
        """Units of ``sku`` the reservation was made for (0 if it has none)."""
        return sum(line.quantity for line in self.lines if line.sku == sku)

    def allocated(self, sku: str, location: str | None = None) -> int:
        """Units of ``sku`` allocated and not yet shipped, at ``location`` or anywhere."""
        return _count(self.allocations, sku, location)

    def shipped_units(self, sku: str, location: str | None = None) -> int:
        """Units of ``sku`` shipped, from ``location`` or from anywhere."""
        return _count(self.shipped, sku, location)

    def outstanding(self, sku: str) -> int:
        """Units of ``sku`` still held: reserved and not shipped (0 once released or expired)."""
        if self.status is not ReservationStatus.ACTIVE:
            return 0
        return self.quantity(sku) - self.shipped_units(sku)

    def unallocated(self, sku: str) -> int:
        """Units of ``sku`` still held but not yet assigned to a location."""
        return self.outstanding(sku) - self.allocated(sku) if self.outstanding(sku) else 0


def _count(allocations: Iterable[Allocation], sku: str, location: str | None) -> int:
    return sum(
        line.quantity
        for allocation in allocations
        if location is None or allocation.location == location
        for line in allocation.lines
        if line.sku == sku
    )


# --------------------------------------------------------------------------- levels


@attrs.frozen(kw_only=True)
class StockLevel:
    """One sku at one location: on hand, reserved (allocated here), available, incoming."""

    sku: str
    location: str
    on_hand: int
    reserved: int
    incoming: int

    @property
    def available(self) -> int:
        """Units on hand not yet allocated to an order."""
        return self.on_hand - self.reserved


@attrs.frozen(kw_only=True)
class StockSummary:
    """One sku over every location: what a storefront shows and a reservation checks.

    ``reserved`` counts every held unit, allocated or not. ``available`` is
    what can still be promised without a backorder; ``backordered`` is how
    many held units no stock on hand covers.
    """

    sku: str
    on_hand: int
    reserved: int
    incoming: int

    @property
    def available(self) -> int:
        """Units on hand that no order holds (never below 0)."""
        return max(self.on_hand - self.reserved, 0)

    @property
    def backordered(self) -> int:
        """Held units beyond what is on hand."""
        return max(self.reserved - self.on_hand, 0)


# --------------------------------------------------------------------------- journal


class MovementKind(enum.Enum):
    """What a journal entry did to the balances.

    ``expect`` announces incoming units; ``receive`` puts units on hand (and
    takes them off incoming); ``reserve`` holds units of a sku over the
    network; ``allocate`` assigns held units to a location; ``release`` gives
    held units back (at a location if they were allocated there); ``pick``
    takes allocated units off the shelf, ending their hold; ``ship`` sends
    picked units out; ``return_to_stock`` puts returned units back on hand;
    ``adjust`` corrects on-hand by a signed count; ``write_off`` removes
    damaged or lost units.
    """

    EXPECT = "expect"
    RECEIVE = "receive"
    RESERVE = "reserve"
    ALLOCATE = "allocate"
    RELEASE = "release"
    PICK = "pick"
    SHIP = "ship"
    RETURN_TO_STOCK = "return_to_stock"
    ADJUST = "adjust"
    WRITE_OFF = "write_off"


_NETWORK_KINDS = frozenset({MovementKind.RESERVE})
_EITHER_KINDS = frozenset({MovementKind.RELEASE})


@attrs.frozen(kw_only=True)
class Movement:
    """One entry of the stock journal.

    ``quantity`` is positive, except for ``adjust`` where its sign is the
    direction. ``location`` is ``None`` for a network-wide ``reserve`` (and a
    ``release`` of units never allocated). ``reference`` is the document the
    movement belongs to: the reservation id for reserve, allocate, release,
    pick and ship; a delivery, return or count id for the others.
    ``document`` names a second document (the shipment), ``reason`` says why.
    """

    kind: MovementKind = attrs.field(converter=MovementKind)
    sku: str = attrs.field(validator=_id_field)
    location: str | None = attrs.field(validator=attrs.validators.optional(_id_field))
    quantity: int
    reference: str = attrs.field(validator=_id_field)
    at: datetime = attrs.field(validator=aware)
    document: str | None = None
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise InvalidInput(f"a movement's quantity must be an int, not {self.quantity!r}")
        if self.kind is MovementKind.ADJUST:
            if self.quantity == 0:
                raise InvalidInput("an adjustment must change on-hand by a non-zero count")
        elif self.quantity < 1:
            raise InvalidInput(
                f"a {self.kind.value} movement needs a positive quantity, not {self.quantity}"
            )
        if self.location is None and self.kind not in _NETWORK_KINDS | _EITHER_KINDS:
            raise InvalidInput(f"a {self.kind.value} movement needs a location")
        if self.location is not None and self.kind in _NETWORK_KINDS:
            raise InvalidInput("a reserve movement is network-wide: its location must be None")


@attrs.frozen(kw_only=True, eq=True)
class StockBalances:
    """Every balance at once, zero entries left out; `replay` rebuilds it from the journal.

    ``on_hand``, ``allocated`` and ``incoming`` are keyed by (sku, location);
    ``reserved`` by sku.
    """

    on_hand: Mapping[tuple[str, str], int]
    allocated: Mapping[tuple[str, str], int]
    incoming: Mapping[tuple[str, str], int]
    reserved: Mapping[str, int]


class _Tally:
    """The running balances; `apply` is the one place a movement changes them."""

    __slots__ = (
        "allocated",
        "incoming",
        "network_incoming",
        "network_on_hand",
        "on_hand",
        "reserved",
    )

    def __init__(self) -> None:
        self.on_hand: Counter[tuple[str, str]] = Counter()
        self.allocated: Counter[tuple[str, str]] = Counter()
        self.incoming: Counter[tuple[str, str]] = Counter()
        self.reserved: Counter[str] = Counter()
        # Sums over locations, kept as movements apply so a summary costs the same at any size.
        self.network_on_hand: Counter[str] = Counter()
        self.network_incoming: Counter[str] = Counter()

    def apply(self, movement: Movement) -> None:
        kind, sku, quantity = movement.kind, movement.sku, movement.quantity
        key = (sku, movement.location or "")
        if kind is MovementKind.EXPECT:
            self._incoming(key, quantity)
        elif kind is MovementKind.RECEIVE:
            self._on_hand(key, quantity)
            self._incoming(key, -min(quantity, self.incoming[key]))
        elif kind is MovementKind.RESERVE:
            self.reserved[sku] += quantity
        elif kind is MovementKind.ALLOCATE:
            self.allocated[key] += quantity
        elif kind in (MovementKind.RELEASE, MovementKind.PICK):
            self.reserved[sku] -= quantity
            if movement.location is not None:
                self.allocated[key] -= quantity
        elif kind in (MovementKind.SHIP, MovementKind.WRITE_OFF):
            self._on_hand(key, -quantity)
        else:  # RETURN_TO_STOCK, ADJUST
            self._on_hand(key, quantity)

    def _on_hand(self, key: tuple[str, str], change: int) -> None:
        self.on_hand[key] += change
        self.network_on_hand[key[0]] += change

    def _incoming(self, key: tuple[str, str], change: int) -> None:
        self.incoming[key] += change
        self.network_incoming[key[0]] += change

    def snapshot(self) -> StockBalances:
        def kept(counter: Mapping[Any, int]) -> dict[Any, int]:
            return {key: value for key, value in sorted(counter.items()) if value}

        return StockBalances(
            on_hand=kept(self.on_hand),
            allocated=kept(self.allocated),
            incoming=kept(self.incoming),
            reserved=kept(self.reserved),
        )


def replay(movements: Iterable[Movement]) -> StockBalances:
    """The balances that ``movements``, applied in order from nothing, leave."""
    tally = _Tally()
    for movement in movements:
        tally.apply(movement)
    return tally.snapshot()


# --------------------------------------------------------------------------- events


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class StockRanLow(DomainEvent):
    """A sku's available units fell to its low-stock threshold or below (time to reorder).

    ``aggregate_id`` is the sku.
    """

    sku: str
    available: int
    threshold: int


@domain_event(Flow.LOGISTICS)
@attrs.frozen(kw_only=True)
class StockRanOut(DomainEvent):
    """A sku has no available units left over the network.

    ``clearance`` says it will not be restocked; ``incoming`` is what is on the way.
    """

    sku: str
    incoming: int
    clearance: bool


# --------------------------------------------------------------------------- allocation


class AllocationStrategy(Protocol):
    """Chooses where the held units of one reservation are taken from.

    ``wanted`` is units per sku still to allocate; ``free`` is, per location
    id, the units per sku on hand there and not allocated; ``locations`` are
    every location. Return units per sku per location id. The plan may cover
    less than wanted (backordered units wait), never more, and never more
    than a location's free units: `Inventory` checks and refuses a plan that does.
    """

    def plan(
        self,
        wanted: Mapping[str, int],
        free: Mapping[str, Mapping[str, int]],
        locations: Sequence[StockLocation],
    ) -> Mapping[str, Mapping[str, int]]:
        """Units per sku per location id to allocate."""
        ...


def allocate_in_order(
    wanted: Mapping[str, int], free: Mapping[str, Mapping[str, int]], order: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Plan with locations ranked by ``order``: one location for everything if one can, else split.

    The first location in ``order`` that has every wanted unit free takes
    them all (one parcel, one shipment). Otherwise each location in turn
    takes as much as it can of what is still wanted.
    """
    for location in order:
        stock = free.get(location, {})
        if all(stock.get(sku, 0) >= units for sku, units in wanted.items()):
            return {location: {sku: units for sku, units in wanted.items() if units}}
    left = dict(wanted)
    plan: dict[str, dict[str, int]] = {}
    for location in order:
        stock = free.get(location, {})
        taken = {sku: min(units, stock.get(sku, 0)) for sku, units in left.items()}
        taken = {sku: units for sku, units in taken.items() if units > 0}
        if taken:
            plan[location] = taken
            for sku, units in taken.items():
                left[sku] -= units
    return plan


@attrs.frozen
class ByPriority:
    """One location for everything if possible, else split; locations by priority, then id."""

    def plan(
        self,
        wanted: Mapping[str, int],
        free: Mapping[str, Mapping[str, int]],
        locations: Sequence[StockLocation],
    ) -> Mapping[str, Mapping[str, int]]:
        """Units per sku per location id to allocate."""
        ranked = sorted(locations, key=lambda location: (location.priority, location.id))
        return allocate_in_order(wanted, free, [location.id for location in ranked])


def _distances(value: Mapping[str, int | Decimal | str]) -> Mapping[str, Decimal]:
    checked: dict[str, Decimal] = {}
    for location, distance in dict(value).items():
        if isinstance(distance, bool) or not isinstance(distance, int | Decimal | str):
            raise InvalidInput(
                f"the distance to {location!r} must be an int, Decimal or str, not {distance!r}"
            )
        try:
            number = Decimal(distance)
        except ArithmeticError:
            raise InvalidInput(
                f"the distance to {location!r} must be a number, not {distance!r}"
            ) from None
        if not number.is_finite() or number < 0:
            raise InvalidInput(f"the distance to {location!r} must be 0 or more, not {distance!r}")
        checked[_name(location, "a location id")] = number
    return checked


_EARTH_RADIUS_KM = 6371.0088


@attrs.frozen
class ByDistance:
    """One location for everything if possible, else split; nearest locations first.

    ``distances`` maps location ids to a distance in any unit (km from the
    customer, minutes of delivery). Locations without a distance come after
    those with one, by priority.
    """

    distances: Mapping[str, Decimal] = attrs.field(converter=_distances)

    @classmethod
    def from_point(
        cls, latitude: object, longitude: object, locations: Iterable[StockLocation]
    ) -> ByDistance:
        """Distances in km along the earth's surface from a point to each located location."""
        to_lat, to_lon = _coordinates((latitude, longitude)) or (Decimal(0), Decimal(0))
        distances: dict[str, int | Decimal | str] = {}
        for location in locations:
            if location.coordinates is None:
                continue
            lat, lon = location.coordinates
            phi1, phi2 = math.radians(lat), math.radians(to_lat)
            half_dphi, half_dlambda = (phi2 - phi1) / 2, math.radians(to_lon - lon) / 2
            h = (
                math.sin(half_dphi) ** 2
                + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
            )
            km = 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
            distances[location.id] = Decimal(f"{km:.3f}")
        return cls(distances)

    def plan(
        self,
        wanted: Mapping[str, int],
        free: Mapping[str, Mapping[str, int]],
        locations: Sequence[StockLocation],
    ) -> Mapping[str, Mapping[str, int]]:
        """Units per sku per location id to allocate."""
        ranked = sorted(
            locations,
            key=lambda loc: (
                loc.id not in self.distances,
                self.distances.get(loc.id, Decimal(0)),
                loc.priority,
                loc.id,
            ),
        )
        return allocate_in_order(wanted, free, [location.id for location in ranked])


# --------------------------------------------------------------------------- the rules


class _Held:
    """A reservation's mutable record inside `Inventory`."""

    __slots__ = ("allocated", "fingerprint", "shipments", "shipped", "value")

    def __init__(self, value: Reservation, fingerprint: tuple[object, ...]) -> None:
        self.value = value
        self.fingerprint = fingerprint
        self.allocated: Counter[tuple[str, str]] = Counter()  # (sku, location)
        self.shipped: Counter[tuple[str, str]] = Counter()
        self.shipments: dict[str, tuple[object, ...]] = {}


def _allocations(counts: Mapping[tuple[str, str], int]) -> tuple[Allocation, ...]:
    by_location: dict[str, list[StockLine]] = {}
    for (sku, location), units in sorted(counts.items(), key=lambda item: (item[0][1], item[0][0])):
        if units:
            by_location.setdefault(location, []).append(StockLine(sku, units))
    return tuple(Allocation(location, tuple(lines)) for location, lines in by_location.items())


class Inventory:
    """The stock rules over a set of locations and skus, with the journal and pending events.

    Every method checks everything before it changes anything, so a call that
    raises leaves the inventory as it was. Not thread-safe: use it from one
    thread at a time (`fourflows.adapters.stock.MemoryStockStore` adds a lock).
    Methods whose docstrings say so are idempotent under the key they name.
    """

    def __init__(
        self,
        locations: Iterable[StockLocation],
        policies: Iterable[StockPolicy],
        *,
        strategy: AllocationStrategy | None = None,
    ) -> None:
        self._locations: dict[str, StockLocation] = {}
        for location in locations:
            if not isinstance(location, StockLocation):
                raise InvalidInput(f"locations must be StockLocation values, not {location!r}")
            if location.id in self._locations:
                raise InvalidInput(f"location {location.id!r} appears twice")
            self._locations[location.id] = location
        if not self._locations:
            raise InvalidInput("an inventory needs at least one stock location")
        self._policies: dict[str, StockPolicy] = {}
        for policy in policies:
            self.define(policy)
        self._strategy: AllocationStrategy = strategy or ByPriority()
        self._tally = _Tally()
        self._journal: list[Movement] = []
        self._held: dict[str, _Held] = {}
        self._done: dict[tuple[str, str], tuple[object, ...]] = {}
        self._shipped: Counter[str] = Counter()
        self._returned: Counter[str] = Counter()
        self._events: list[DomainEvent] = []
        self._sequence: Counter[str] = Counter()

    # ------------------------------------------------------------------ setup and reads

    def define(self, policy: StockPolicy) -> None:
        """Add a sku with its policy, or replace the policy of a known sku."""
        if not isinstance(policy, StockPolicy):
            raise InvalidInput(f"a sku is defined by a StockPolicy, not {policy!r}")
        self._policies[policy.sku] = policy

    @property
    def locations(self) -> tuple[StockLocation, ...]:
        """Every location, in the order given."""
        return tuple(self._locations.values())

    def policy(self, sku: str) -> StockPolicy:
        """The policy of ``sku``; `NotFound` if the sku is unknown."""
        try:
            return self._policies[sku]
        except (KeyError, TypeError):
            raise NotFound("sku", str(sku), self._policies) from None

    def _location(self, location: str) -> StockLocation:
        try:
            return self._locations[location]
        except (KeyError, TypeError):
            raise NotFound("stock location", str(location), self._locations) from None

    def level(self, sku: str, location: str) -> StockLevel:
        """``sku`` at ``location``; `NotFound` for an unknown sku or location."""
        self.policy(sku)
        self._location(location)
        key = (sku, location)
        return StockLevel(
            sku=sku,
            location=location,
            on_hand=self._tally.on_hand[key],
            reserved=self._tally.allocated[key],
            incoming=self._tally.incoming[key],
        )

    def summary(self, sku: str) -> StockSummary:
        """``sku`` over every location; `NotFound` for an unknown sku."""
        self.policy(sku)
        return StockSummary(
            sku=sku,
            on_hand=self._tally.network_on_hand[sku],
            reserved=self._tally.reserved[sku],
            incoming=self._tally.network_incoming[sku],
        )

    def _available(self, sku: str) -> int:
        """Network units of a known ``sku`` that no order holds (never below 0)."""
        return max(self._tally.network_on_hand[sku] - self._tally.reserved[sku], 0)

    def _free(self, sku: str, location: str) -> int:
        """Units of a known ``sku`` on hand at a known ``location`` and not allocated there."""
        key = (sku, location)
        return self._tally.on_hand[key] - self._tally.allocated[key]

    def reservation(self, reservation_id: str) -> Reservation:
        """The reservation ``reservation_id``; `NotFound` if there is none."""
        return self._hold(reservation_id).value

    def _hold(self, reservation_id: str) -> _Held:
        try:
            return self._held[reservation_id]
        except (KeyError, TypeError):
            raise NotFound("reservation", str(reservation_id)) from None

    def reservations(self) -> tuple[Reservation, ...]:
        """Every reservation, in the order they were made."""
        return tuple(held.value for held in self._held.values())

    def journal(self) -> tuple[Movement, ...]:
        """Every movement so far, oldest first."""
        return tuple(self._journal)

    def balances(self) -> StockBalances:
        """Every balance now; equal to ``replay(self.journal())``."""
        return self._tally.snapshot()

    def take_events(self) -> tuple[DomainEvent, ...]:
        """The low- and out-of-stock events recorded since the last call, oldest first."""
        events, self._events = tuple(self._events), []
        return events

    # ------------------------------------------------------------------ writing

    def _record(self, movements: Sequence[Movement], at: datetime) -> None:
        """Apply movements (already checked) and record crossing events for the skus touched."""
        skus = sorted({movement.sku for movement in movements})
        before = {sku: self._available(sku) for sku in skus}
        for movement in movements:
            self._tally.apply(movement)
            self._journal.append(movement)
        for sku in skus:
            self._crossings(sku, before[sku], at)

    def _crossings(self, sku: str, before: int, at: datetime) -> None:
        policy = self._policies[sku]
        after = self._available(sku)
        if before > 0 and after == 0:
            self._emit(
                sku,
                lambda seq: StockRanOut(
                    aggregate_id=sku,
                    sequence=seq,
                    occurred_at=at,
                    sku=sku,
                    incoming=self._tally.network_incoming[sku],
                    clearance=policy.clearance,
                ),
            )
        elif before > policy.low_stock_at >= after > 0:
            self._emit(
                sku,
                lambda seq: StockRanLow(
                    aggregate_id=sku,
                    sequence=seq,
                    occurred_at=at,
                    sku=sku,
                    available=after,
                    threshold=policy.low_stock_at,
                ),
            )

    def _emit(self, sku: str, build: Any) -> None:
        self._sequence[sku] += 1
        self._events.append(build(self._sequence[sku]))

    def _once(self, kind: str, key: str, fingerprint: tuple[object, ...]) -> bool:
        """True if ``key`` was already done for ``kind`` with this fingerprint (so: do nothing)."""
        recorded = self._done.get((kind, key))
        if recorded is None:
            return False
        if recorded != fingerprint:
            raise IdempotencyConflict(key, recorded=repr(recorded), given=repr(fingerprint))
        return True

    def _stock_call(
        self, sku: str, location: str, reference: str, at: datetime
    ) -> tuple[str, str, str, datetime]:
        sku = _name(sku, "a sku")
        self.policy(sku)
        self._location(_name(location, "a location id"))
        return sku, location, _name(reference, "a reference"), require_aware(at, "at")

    def _single(
        self,
        kind: MovementKind,
        sku: str,
        location: str,
        quantity: int,
        reference: str,
        at: datetime,
        reason: str = "",
    ) -> Movement:
        return Movement(
            kind=kind,
            sku=sku,
            location=location,
            quantity=quantity,
            reference=reference,
            at=at,
            reason=reason,
        )

    def expect(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Announce ``quantity`` units of ``sku`` coming to ``location`` (a purchase order).

        Idempotent per ``reference``.
        """
        sku, location, reference, at = self._stock_call(sku, location, reference, at)
        quantity = _units(quantity, "quantity")
        if self._once("expect", reference, (sku, location, quantity)):
            return
        self._record(
            [self._single(MovementKind.EXPECT, sku, location, quantity, reference, at)], at
        )
        self._done[("expect", reference)] = (sku, location, quantity)

    def receive(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put received units on hand (they leave incoming). Idempotent per ``reference``."""
        sku, location, reference, at = self._stock_call(sku, location, reference, at)
        quantity = _units(quantity, "quantity")
        if self._once("receive", reference, (sku, location, quantity)):
            return
        self._record(
            [self._single(MovementKind.RECEIVE, sku, location, quantity, reference, at)], at
        )
        self._done[("receive", reference)] = (sku, location, quantity)

    def return_to_stock(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put returned, sellable units back on hand. Idempotent per ``reference`` (the return).

        Raises `InvalidInput` when more units of ``sku`` would be returned than
        ever shipped.
        """
        sku, location, reference, at = self._stock_call(sku, location, reference, at)
        quantity = _units(quantity, "quantity")
        if self._once("return", reference, (sku, location, quantity)):
            return
        returnable = self._shipped[sku] - self._returned[sku]
        if quantity > returnable:
            raise InvalidInput(
                f"cannot return {quantity} of {sku!r} to stock: only {returnable} shipped "
                "and not yet returned"
            )
        movement = self._single(
            MovementKind.RETURN_TO_STOCK, sku, location, quantity, reference, at
        )
        self._record([movement], at)
        self._returned[sku] += quantity
        self._done[("return", reference)] = (sku, location, quantity)

    def _check_removal(self, sku: str, location: str, units: int) -> None:
        """Refuse taking ``units`` off hand at ``location`` if held stock would lose its cover."""
        level = self.level(sku, location)
        if units > level.available:
            raise InsufficientStock(
                sku, requested=units, available=max(level.available, 0), location=location
            )
        summary = self.summary(sku)
        if not self._policies[sku].oversells and units > summary.available:
            raise InsufficientStock(sku, requested=units, available=summary.available)

    def adjust(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        reference: str,
        at: datetime,
        reason: str = "count",
    ) -> None:
        """Correct on-hand at ``location`` by ``delta`` (a count). Idempotent per ``reference``.

        A decrease that would leave fewer units than are held raises
        `InsufficientStock`: release or reallocate those orders first.
        """
        sku, location, reference, at = self._stock_call(sku, location, reference, at)
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidInput(f"delta must be a non-zero int, not {delta!r}")
        if self._once("adjust", reference, (sku, location, delta)):
            return
        if delta < 0:
            self._check_removal(sku, location, -delta)
        self._record(
            [self._single(MovementKind.ADJUST, sku, location, delta, reference, at, reason)], at
        )
        self._done[("adjust", reference)] = (sku, location, delta)

    def write_off(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        reference: str,
        at: datetime,
        reason: str = "damaged",
    ) -> None:
        """Remove damaged or lost units from on-hand. Idempotent per ``reference``.

        Raises `InsufficientStock` if fewer unheld units are there.
        """
        sku, location, reference, at = self._stock_call(sku, location, reference, at)
        quantity = _units(quantity, "quantity")
        if self._once("write_off", reference, (sku, location, quantity)):
            return
        self._check_removal(sku, location, quantity)
        movement = self._single(
            MovementKind.WRITE_OFF, sku, location, quantity, reference, at, reason
        )
        self._record([movement], at)
        self._done[("write_off", reference)] = (sku, location, quantity)

    # ------------------------------------------------------------------ reservations

    def reserve(
        self,
        reservation_id: str,
        order_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> Reservation:
        """Hold every line of an order over the network, or none of them.

        Raises `NotFound` for an unknown sku, and `InsufficientStock` (naming
        the sku, what was requested and what is available) when a sku that
        takes neither backorders nor preorders is short; nothing is held
        then. Idempotent per ``reservation_id``: the same request again
        returns the reservation as it now stands; a different request under
        the same id raises `IdempotencyConflict`.
        """
        reservation_id = _name(reservation_id, "reservation_id")
        order_id = _name(order_id, "order_id")
        wanted = stock_lines(lines)
        at = require_aware(at, "at")
        if expires_at is not None and require_aware(expires_at, "expires_at") <= at:
            raise InvalidInput(
                f"expires_at {expires_at.isoformat()} must be after at {at.isoformat()}"
            )
        fingerprint = (order_id, wanted, expires_at)
        held = self._held.get(reservation_id)
        if held is not None:
            if held.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    reservation_id, recorded=repr(held.fingerprint), given=repr(fingerprint)
                )
            return held.value
        reserved: list[ReservationLine] = []
        for line in wanted:
            policy = self.policy(line.sku)
            available = self._available(line.sku)
            if line.quantity > available and not policy.oversells:
                raise InsufficientStock(line.sku, requested=line.quantity, available=available)
            short = max(line.quantity - available, 0)
            reserved.append(
                ReservationLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    backordered=short,
                    ships_by=policy.preorder_ships_by if short else None,
                )
            )
        value = Reservation(
            id=reservation_id,
            order_id=order_id,
            lines=tuple(reserved),
            placed_at=at,
            expires_at=expires_at,
        )
        movements = [
            Movement(
                kind=MovementKind.RESERVE,
                sku=line.sku,
                location=None,
                quantity=line.quantity,
                reference=reservation_id,
                at=at,
                document=order_id,
            )
            for line in wanted
        ]
        self._held[reservation_id] = _Held(value, fingerprint)
        self._record(movements, at)
        return value

    def confirm(self, reservation_id: str) -> Reservation:
        """Lift the checkout hold's expiry (the order was paid): held until shipped or released."""
        held = self._hold(reservation_id)
        if held.value.status is ReservationStatus.ACTIVE:
            held.value = attrs.evolve(held.value, expires_at=None)
        return held.value

    def release(
        self, reservation_id: str, *, at: datetime, reason: str = "canceled"
    ) -> Reservation:
        """Give back every unit of the reservation not yet shipped. Idempotent.

        Releasing a reservation that is no longer active changes nothing.
        """
        held = self._hold(reservation_id)
        return self._end(held, require_aware(at, "at"), ReservationStatus.RELEASED, reason)

    def release_units(
        self,
        reservation_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        reference: str,
        at: datetime,
        reason: str = "order changed",
    ) -> Reservation:
        """Give back some of the units a reservation holds (an order changed). Idempotent.

        Per sku, units not yet allocated go back first, then allocated ones,
        from the last location in the store's order back to the first. The
        reservation is made for fewer units from then on, but never below
        what has shipped: at most the units held and not shipped go back (a
        sku the reservation does not hold gives back nothing), so asking for
        more is no error and the returned reservation says what is left. A
        reservation left with no unit to ship becomes released (fulfilled, if
        some shipped); one no longer active holds nothing and changes nothing.
        `NotFound` for an unknown reservation or sku. Idempotent per
        ``reference``: the same request again returns the reservation as it
        now stands; another request under the same reference raises
        `IdempotencyConflict`.
        """
        held = self._hold(reservation_id)
        wanted = stock_lines(lines)
        reference = _name(reference, "a reference")
        at = require_aware(at, "at")
        fingerprint: tuple[object, ...] = (held.value.id, wanted)
        if self._once("release_units", reference, fingerprint):
            return held.value
        value = held.value
        if value.status in (ReservationStatus.RELEASED, ReservationStatus.EXPIRED):
            self._done[("release_units", reference)] = fingerprint
            return value
        movements: list[Movement] = []
        taken: Counter[tuple[str, str]] = Counter()
        order = [location.id for location in reversed(self.locations)]
        for line in wanted:
            self.policy(line.sku)
        given: Counter[str] = Counter()

        def release(sku: str, location: str | None, units: int) -> None:
            movements.append(
                Movement(
                    kind=MovementKind.RELEASE,
                    sku=sku,
                    location=location,
                    quantity=units,
                    reference=value.id,
                    at=at,
                    document=reference,
                    reason=reason,
                )
            )

        for line in wanted:
            left = given[line.sku] = min(line.quantity, value.outstanding(line.sku))
            loose = min(left, value.unallocated(line.sku))
            if loose:
                release(line.sku, None, loose)
                left -= loose
            for location in order:
                if not left:
                    break
                units = min(left, held.allocated[(line.sku, location)])
                if units:
                    taken[(line.sku, location)] += units
                    release(line.sku, location, units)
                    left -= units
        kept: list[ReservationLine] = []
        for reserved in value.lines:
            given_back = given[reserved.sku]
            quantity = reserved.quantity - given_back
            if quantity <= 0:
                continue
            # the loose units go first, and the backordered ones are among them
            backordered = max(reserved.backordered - given_back, 0)
            kept.append(
                attrs.evolve(
                    reserved,
                    quantity=quantity,
                    backordered=backordered,
                    ships_by=reserved.ships_by if backordered else None,
                )
            )
        for key, units in taken.items():
            held.allocated[key] -= units
        status: ReservationStatus = value.status
        if all(value.shipped_units(line.sku) >= line.quantity for line in kept):
            shipped_any = any(held.shipped.values())
            status = ReservationStatus.FULFILLED if shipped_any else ReservationStatus.RELEASED
        held.value = attrs.evolve(
            value,
            lines=tuple(kept),
            allocations=_allocations(held.allocated),
            status=status,
        )
        self._done[("release_units", reference)] = fingerprint
        self._record(movements, at)
        return held.value

    def expire_due(self, at: datetime) -> tuple[Reservation, ...]:
        """Release every active hold whose ``expires_at`` is at or before ``at``; return them."""
        at = require_aware(at, "at")
        due = [
            held
            for held in self._held.values()
            if held.value.status is ReservationStatus.ACTIVE
            and held.value.expires_at is not None
            and held.value.expires_at <= at
        ]
        return tuple(self._end(held, at, ReservationStatus.EXPIRED, "expired") for held in due)

    def _end(
        self, held: _Held, at: datetime, status: ReservationStatus, reason: str
    ) -> Reservation:
        value = held.value
        if value.status is not ReservationStatus.ACTIVE:
            return value
        movements: list[Movement] = []
        for (sku, location), units in sorted(held.allocated.items()):
            if units:
                movements.append(
                    Movement(
                        kind=MovementKind.RELEASE,
                        sku=sku,
                        location=location,
                        quantity=units,
                        reference=value.id,
                        at=at,
                        reason=reason,
                    )
                )
        for line in value.lines:
            loose = value.unallocated(line.sku)
            if loose:
                movements.append(
                    Movement(
                        kind=MovementKind.RELEASE,
                        sku=line.sku,
                        location=None,
                        quantity=loose,
                        reference=value.id,
                        at=at,
                        reason=reason,
                    )
                )
        held.allocated.clear()
        held.value = attrs.evolve(value, status=status, allocations=())
        self._record(movements, at)
        return held.value

    def allocate(
        self, reservation_id: str, *, at: datetime, strategy: AllocationStrategy | None = None
    ) -> Reservation:
        """Assign the reservation's unallocated units to locations, as ``strategy`` plans.

        Units no location has free (backordered ones) stay unallocated;
        allocate again after stock arrives. Allocating a reservation with
        nothing left to allocate, or one no longer active, changes nothing.
        Raises `InvalidInput` if the strategy plans more than is wanted or free.
        """
        held = self._hold(reservation_id)
        at = require_aware(at, "at")
        value = held.value
        if value.status is not ReservationStatus.ACTIVE:
            return value
        wanted = {line.sku: value.unallocated(line.sku) for line in value.lines}
        wanted = {sku: units for sku, units in wanted.items() if units}
        if not wanted:
            return value
        free = {
            location: {sku: max(self._free(sku, location), 0) for sku in wanted}
            for location in self._locations
        }
        plan = (strategy or self._strategy).plan(wanted, free, self.locations)
        movements: list[Movement] = []
        planned: Counter[str] = Counter()
        for location, units_by_sku in sorted(plan.items()):
            self._location(location)
            for sku, units in sorted(units_by_sku.items()):
                if units == 0:
                    continue
                units = _units(units, f"the planned units of {sku!r} at {location!r}")
                if units > free[location].get(sku, 0):
                    raise InvalidInput(
                        f"the allocation plan takes {units} of {sku!r} at {location!r}, "
                        f"which has only {free[location].get(sku, 0)} free"
                    )
                planned[sku] += units
                movements.append(
                    Movement(
                        kind=MovementKind.ALLOCATE,
                        sku=sku,
                        location=location,
                        quantity=units,
                        reference=value.id,
                        at=at,
                        document=value.order_id,
                    )
                )
        for sku, units in planned.items():
            if units > wanted.get(sku, 0):
                raise InvalidInput(
                    f"the allocation plan takes {units} of {sku!r}; "
                    f"only {wanted.get(sku, 0)} are waiting"
                )
        for movement in movements:
            held.allocated[(movement.sku, movement.location or "")] += movement.quantity
        held.value = attrs.evolve(value, allocations=_allocations(held.allocated))
        self._record(movements, at)
        return held.value

    def ship(
        self,
        reservation_id: str,
        location: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        shipment_id: str,
        at: datetime,
    ) -> Reservation:
        """Pick and ship units the reservation holds at ``location`` (one shipment).

        Only allocated units ship: anything else (never reserved, allocated
        elsewhere, already shipped) raises `InvalidInput` and ships nothing.
        Idempotent per ``shipment_id``.
        """
        held = self._hold(reservation_id)
        location = self._location(_name(location, "a location id")).id
        shipment_id = _name(shipment_id, "shipment_id")
        wanted = stock_lines(lines)
        at = require_aware(at, "at")
        fingerprint = (location, wanted)
        recorded = held.shipments.get(shipment_id)
        if recorded is not None:
            if recorded != fingerprint:
                raise IdempotencyConflict(
                    shipment_id, recorded=repr(recorded), given=repr(fingerprint)
                )
            return held.value
        value = held.value
        if value.status is not ReservationStatus.ACTIVE:
            raise InvalidInput(
                f"reservation {value.id!r} is {value.status.value}: nothing it held can ship"
            )
        movements: list[Movement] = []
        for line in wanted:
            self.policy(line.sku)
            allocated = held.allocated[(line.sku, location)]
            if line.quantity > allocated:
                raise InvalidInput(
                    f"cannot ship {line.quantity} of {line.sku!r} from {location!r} for "
                    f"reservation {value.id!r}: only {allocated} allocated there; "
                    "only reserved, allocated units ship"
                )
            for kind in (MovementKind.PICK, MovementKind.SHIP):
                movements.append(
                    Movement(
                        kind=kind,
                        sku=line.sku,
                        location=location,
                        quantity=line.quantity,
                        reference=value.id,
                        at=at,
                        document=shipment_id,
                    )
                )
        for line in wanted:
            held.allocated[(line.sku, location)] -= line.quantity
            held.shipped[(line.sku, location)] += line.quantity
            self._shipped[line.sku] += line.quantity
        held.shipments[shipment_id] = fingerprint
        done = all(
            sum(n for (sku, _), n in held.shipped.items() if sku == line.sku) >= line.quantity
            for line in value.lines
        )
        held.value = attrs.evolve(
            value,
            allocations=_allocations(held.allocated),
            shipped=_allocations(held.shipped),
            status=ReservationStatus.FULFILLED if done else value.status,
        )
        self._record(movements, at)
        return held.value


# --------------------------------------------------------------------------- the port


class StockStore(Protocol):
    """Where stock is kept: balances, reservations and the journal, changed atomically.

    Failure semantics. Every call checks its whole request before changing
    anything: a call that raises leaves every balance, reservation and the
    journal as they were. ``reserve`` is atomic and never oversells: under
    concurrent callers, two reservations can never both take the last
    units; it holds every line or none. Errors: `NotFound` for an unknown
    sku, location or reservation; `InvalidInput` for a malformed request
    (blank ids, quantities below 1, naive datetimes) or shipping units that
    are not allocated to the reservation; `InsufficientStock` when a sku
    without backorders is short; `IdempotencyConflict` when a key comes back
    with a different request. Idempotency keys: ``reservation_id`` for
    ``reserve``, ``shipment_id`` for ``ship``, ``reference`` for ``expect``,
    ``receive``, ``return_to_stock``, ``adjust``, ``write_off`` and
    ``release_units``;
    ``release``, ``confirm``, ``expire_due`` and ``allocate`` are idempotent
    by nature. A store backed by a remote service raises its driver's
    errors translated to `FourFlowsError` subclasses; after a timeout,
    repeat the call with the same key.
    """

    def level(self, sku: str, location: str) -> StockLevel:
        """``sku`` at ``location``."""
        ...

    def summary(self, sku: str) -> StockSummary:
        """``sku`` over every location."""
        ...

    def reservation(self, reservation_id: str) -> Reservation:
        """The reservation as it now stands."""
        ...

    def reserve(
        self,
        reservation_id: str,
        order_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> Reservation:
        """Hold every line over the network, or raise and hold nothing."""
        ...

    def confirm(self, reservation_id: str) -> Reservation:
        """Lift the reservation's expiry."""
        ...

    def release(
        self, reservation_id: str, *, at: datetime, reason: str = "canceled"
    ) -> Reservation:
        """Give back what the reservation holds and has not shipped."""
        ...

    def release_units(
        self,
        reservation_id: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        reference: str,
        at: datetime,
        reason: str = "order changed",
    ) -> Reservation:
        """Give back some held, unshipped units (allocated or not); idempotent per reference."""
        ...

    def expire_due(self, at: datetime) -> tuple[Reservation, ...]:
        """Release the holds that expired at or before ``at``."""
        ...

    def allocate(
        self, reservation_id: str, *, at: datetime, strategy: AllocationStrategy | None = None
    ) -> Reservation:
        """Assign held units to locations."""
        ...

    def ship(
        self,
        reservation_id: str,
        location: str,
        lines: Mapping[str, int] | Iterable[tuple[str, int] | StockLine],
        *,
        shipment_id: str,
        at: datetime,
    ) -> Reservation:
        """Pick and ship allocated units from one location."""
        ...

    def expect(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Announce incoming units."""
        ...

    def receive(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put received units on hand."""
        ...

    def return_to_stock(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put returned units back on hand."""
        ...

    def adjust(
        self,
        sku: str,
        location: str,
        delta: int,
        *,
        reference: str,
        at: datetime,
        reason: str = "count",
    ) -> None:
        """Correct on-hand by a signed count."""
        ...

    def write_off(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        reference: str,
        at: datetime,
        reason: str = "damaged",
    ) -> None:
        """Remove damaged or lost units."""
        ...

    def journal(self) -> tuple[Movement, ...]:
        """Every movement, oldest first."""
        ...

    def balances(self) -> StockBalances:
        """Every balance now."""
        ...

    def take_events(self) -> tuple[DomainEvent, ...]:
        """Stock events recorded since the last call, oldest first; each is handed out once."""
        ...
