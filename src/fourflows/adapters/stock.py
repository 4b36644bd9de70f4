"""An in-memory `StockStore`: an `Inventory` behind a lock.

Every call takes the lock for its whole length, so a reservation checks and
takes stock in one step: two threads can never both reserve the last units.
Use it in tests, demos and single-process shops; state lives as long as the
object does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime

from fourflows.events import DomainEvent
from fourflows.logistics.inventory import (
    AllocationStrategy,
    Inventory,
    Movement,
    Reservation,
    StockBalances,
    StockLevel,
    StockLine,
    StockLocation,
    StockPolicy,
    StockSummary,
)

__all__ = ["MemoryStockStore"]


class MemoryStockStore:
    """A thread-safe, in-memory `fourflows.logistics.inventory.StockStore`.

    ``locations`` and ``policies`` (one per sku) say what it stocks; a sku
    without a policy is unknown (`NotFound`). ``strategy`` is the default
    allocation strategy (`ByPriority` if not given).
    """

    def __init__(
        self,
        locations: Iterable[StockLocation],
        policies: Iterable[StockPolicy],
        *,
        strategy: AllocationStrategy | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._inventory = Inventory(locations, policies, strategy=strategy)

    def define(self, policy: StockPolicy) -> None:
        """Add a sku with its policy, or replace a known sku's policy."""
        with self._lock:
            self._inventory.define(policy)

    @property
    def locations(self) -> tuple[StockLocation, ...]:
        """Every location, in the order given."""
        return self._inventory.locations

    def level(self, sku: str, location: str) -> StockLevel:
        """``sku`` at ``location``."""
        with self._lock:
            return self._inventory.level(sku, location)

    def summary(self, sku: str) -> StockSummary:
        """``sku`` over every location."""
        with self._lock:
            return self._inventory.summary(sku)

    def reservation(self, reservation_id: str) -> Reservation:
        """The reservation as it now stands."""
        with self._lock:
            return self._inventory.reservation(reservation_id)

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
        with self._lock:
            return self._inventory.reserve(
                reservation_id, order_id, lines, at=at, expires_at=expires_at
            )

    def confirm(self, reservation_id: str) -> Reservation:
        """Lift the reservation's expiry."""
        with self._lock:
            return self._inventory.confirm(reservation_id)

    def release(
        self, reservation_id: str, *, at: datetime, reason: str = "canceled"
    ) -> Reservation:
        """Give back what the reservation holds and has not shipped."""
        with self._lock:
            return self._inventory.release(reservation_id, at=at, reason=reason)

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
        with self._lock:
            return self._inventory.release_units(
                reservation_id, lines, reference=reference, at=at, reason=reason
            )

    def expire_due(self, at: datetime) -> tuple[Reservation, ...]:
        """Release the holds that expired at or before ``at``."""
        with self._lock:
            return self._inventory.expire_due(at)

    def allocate(
        self, reservation_id: str, *, at: datetime, strategy: AllocationStrategy | None = None
    ) -> Reservation:
        """Assign held units to locations."""
        with self._lock:
            return self._inventory.allocate(reservation_id, at=at, strategy=strategy)

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
        with self._lock:
            return self._inventory.ship(
                reservation_id, location, lines, shipment_id=shipment_id, at=at
            )

    def expect(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Announce incoming units."""
        with self._lock:
            self._inventory.expect(sku, location, quantity, reference=reference, at=at)

    def receive(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put received units on hand."""
        with self._lock:
            self._inventory.receive(sku, location, quantity, reference=reference, at=at)

    def return_to_stock(
        self, sku: str, location: str, quantity: int, *, reference: str, at: datetime
    ) -> None:
        """Put returned units back on hand."""
        with self._lock:
            self._inventory.return_to_stock(sku, location, quantity, reference=reference, at=at)

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
        with self._lock:
            self._inventory.adjust(sku, location, delta, reference=reference, at=at, reason=reason)

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
        with self._lock:
            self._inventory.write_off(
                sku, location, quantity, reference=reference, at=at, reason=reason
            )

    def journal(self) -> tuple[Movement, ...]:
        """Every movement, oldest first."""
        with self._lock:
            return self._inventory.journal()

    def balances(self) -> StockBalances:
        """Every balance now."""
        with self._lock:
            return self._inventory.balances()

    def take_events(self) -> tuple[DomainEvent, ...]:
        """Stock events recorded since the last call, oldest first."""
        with self._lock:
            return self._inventory.take_events()
