"""Stateful test of stock over several locations, against a model kept here.

`StockPromises` drives one `MemoryStockStore` through random receipts,
incoming announcements, reservations (some too big, some for a backorderable
sku), allocations, releases, shipments (some of units never allocated),
returns, count adjustments, write-offs and expiries. A refused call must
raise the named error and change nothing; an accepted one must move the
balances exactly as the model, worked out here from quantities alone, says.
After every step:

* on hand is never below zero, anywhere;
* allocated units at a location never exceed its units on hand, and held
  units over the network never exceed on hand unless the sku is backorderable;
* every shipped unit was reserved and allocated first (read from the journal);
* the journal replays to the store's balances, and both equal the model.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fourflows.adapters.stock import MemoryStockStore
from fourflows.errors import InsufficientStock, InvalidInput
from fourflows.logistics.inventory import (
    MovementKind,
    ReservationStatus,
    StockLocation,
    StockPolicy,
    replay,
)

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LOCATIONS = ("wh", "taipei", "kaohsiung")
SKUS = ("TEE", "BOOK")  # BOOK is backorderable
BACKORDERABLE = {"BOOK"}

locations = st.sampled_from(LOCATIONS)
skus = st.sampled_from(SKUS)
units = st.integers(1, 6)


class StockPromises(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStockStore(
            [StockLocation(id=loc, priority=i) for i, loc in enumerate(LOCATIONS)],
            [StockPolicy(sku="TEE", low_stock_at=2), StockPolicy(sku="BOOK", backorderable=True)],
        )
        self.now = START
        self.serial = 0
        # The model: quantities only.
        self.on_hand: Counter[tuple[str, str]] = Counter()
        self.incoming: Counter[tuple[str, str]] = Counter()
        self.held: dict[str, Counter[str]] = {}  # active reservation -> sku -> units not shipped
        self.allocated: dict[str, Counter[tuple[str, str]]] = {}  # reservation -> (sku, loc)
        self.expiry: dict[str, datetime | None] = {}
        self.shipped: Counter[str] = Counter()
        self.returned: Counter[str] = Counter()

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    # ------------------------------------------------------------------ model figures

    def reserved(self, sku: str) -> int:
        return sum(held[sku] for held in self.held.values())

    def allocated_at(self, sku: str, location: str) -> int:
        return sum(counts[(sku, location)] for counts in self.allocated.values())

    def network_available(self, sku: str) -> int:
        on_hand = sum(self.on_hand[(sku, loc)] for loc in LOCATIONS)
        return max(on_hand - self.reserved(sku), 0)

    def refused(self, error: type[Exception], call: object) -> None:
        """``call`` raises ``error`` and changes nothing."""
        before = (self.store.balances(), self.store.journal())
        try:
            call()  # type: ignore[operator]
        except error:
            pass
        else:
            raise AssertionError(f"expected {error.__name__}")
        assert (self.store.balances(), self.store.journal()) == before

    def end(self, reservation_id: str) -> None:
        del self.held[reservation_id]
        del self.allocated[reservation_id]
        del self.expiry[reservation_id]

    # ------------------------------------------------------------------ rules

    @initialize(stock=st.lists(st.integers(0, 6), min_size=6, max_size=6))
    def opening_stock(self, stock: list[int]) -> None:
        places = [(sku, loc) for sku in SKUS for loc in LOCATIONS]
        for (sku, location), quantity in zip(places, stock, strict=True):
            if quantity:
                self.receive(sku, location, quantity)

    @rule(sku=skus, location=locations, quantity=units)
    def receive(self, sku: str, location: str, quantity: int) -> None:
        self.store.receive(sku, location, quantity, reference=self.key("grn"), at=self.now)
        self.on_hand[(sku, location)] += quantity
        self.incoming[(sku, location)] -= min(quantity, self.incoming[(sku, location)])

    @rule(sku=skus, location=locations, quantity=units)
    def expect(self, sku: str, location: str, quantity: int) -> None:
        self.store.expect(sku, location, quantity, reference=self.key("po"), at=self.now)
        self.incoming[(sku, location)] += quantity

    @rule(
        tee=st.integers(0, 5),
        book=st.integers(0, 5),
        hold=st.sampled_from([None, 10, 30]),
    )
    def reserve(self, tee: int, book: int, hold: int | None) -> None:
        lines = {sku: n for sku, n in (("TEE", tee), ("BOOK", book)) if n}
        if not lines:
            return
        reservation_id = self.key("res")
        expires_at = None if hold is None else self.now + timedelta(minutes=hold)

        def call() -> object:
            return self.store.reserve(
                reservation_id, "order", lines, at=self.now, expires_at=expires_at
            )

        if tee > self.network_available("TEE"):
            self.refused(InsufficientStock, call)
            return
        reservation = call()
        backordered = {line.sku: line.backordered for line in reservation.lines}  # type: ignore[attr-defined]
        assert backordered.get("BOOK", 0) == max(book - self.network_available("BOOK"), 0)
        self.held[reservation_id] = Counter(lines)
        self.allocated[reservation_id] = Counter()
        self.expiry[reservation_id] = expires_at

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def allocate(self, data: st.DataObject) -> None:
        reservation_id = data.draw(st.sampled_from(sorted(self.held)))
        free = {
            (sku, loc): self.on_hand[(sku, loc)] - self.allocated_at(sku, loc)
            for sku in SKUS
            for loc in LOCATIONS
        }
        reservation = self.store.allocate(reservation_id, at=self.now)
        now = Counter(
            {
                (line.sku, allocation.location): line.quantity
                for allocation in reservation.allocations
                for line in allocation.lines
            }
        )
        added = now - self.allocated[reservation_id]
        for (sku, loc), n in added.items():
            assert n <= free[(sku, loc)], (sku, loc)
        for sku in SKUS:
            waiting = self.held[reservation_id][sku] - sum(
                self.allocated[reservation_id][(sku, loc)] for loc in LOCATIONS
            )
            free_total = sum(free[(sku, loc)] for loc in LOCATIONS)
            # Everything waiting is allocated, or all the free stock went to it.
            assert sum(added[(sku, loc)] for loc in LOCATIONS) == min(waiting, free_total)
        self.allocated[reservation_id] = now

    @precondition(lambda self: self.held)
    @rule(data=st.data(), reason=st.sampled_from(["canceled", "fraud"]))
    def release(self, data: st.DataObject, reason: str) -> None:
        reservation_id = data.draw(st.sampled_from(sorted(self.held)))
        released = self.store.release(reservation_id, at=self.now, reason=reason)
        assert released.status is ReservationStatus.RELEASED
        self.end(reservation_id)

    def allocated_units(self) -> list[tuple[str, str, str]]:
        return sorted(
            (reservation_id, sku, location)
            for reservation_id, counts in self.allocated.items()
            for (sku, location), n in counts.items()
            if n
        )

    @precondition(lambda self: self.allocated_units())
    @rule(data=st.data())
    def ship_allocated(self, data: st.DataObject) -> None:
        reservation_id, sku, location = data.draw(st.sampled_from(self.allocated_units()))
        most = self.allocated[reservation_id][(sku, location)]
        self.ship(reservation_id, location, sku, data.draw(st.integers(1, most + 1)))

    @precondition(lambda self: self.held)
    @rule(data=st.data(), location=locations, sku=skus, quantity=units)
    def ship_anything(self, data: st.DataObject, location: str, sku: str, quantity: int) -> None:
        reservation_id = data.draw(st.sampled_from(sorted(self.held)))
        self.ship(reservation_id, location, sku, quantity)

    def ship(self, reservation_id: str, location: str, sku: str, quantity: int) -> None:
        allocated = self.allocated[reservation_id][(sku, location)]

        def call() -> object:
            return self.store.ship(
                reservation_id, location, {sku: quantity}, shipment_id=self.key("s"), at=self.now
            )

        if quantity > allocated:
            self.refused(InvalidInput, call)
            return
        call()
        self.on_hand[(sku, location)] -= quantity
        self.allocated[reservation_id][(sku, location)] -= quantity
        self.held[reservation_id][sku] -= quantity
        self.shipped[sku] += quantity
        if not +self.held[reservation_id]:
            assert self.store.reservation(reservation_id).status is ReservationStatus.FULFILLED
            self.end(reservation_id)

    @precondition(lambda self: self.shipped != self.returned)
    @rule(location=locations, data=st.data())
    def return_to_stock(self, location: str, data: st.DataObject) -> None:
        sku = data.draw(st.sampled_from(sorted(self.shipped - self.returned)))
        quantity = data.draw(st.integers(1, self.shipped[sku] - self.returned[sku] + 1))

        def call() -> None:
            self.store.return_to_stock(
                sku, location, quantity, reference=self.key("rma"), at=self.now
            )

        if quantity > self.shipped[sku] - self.returned[sku]:
            self.refused(InvalidInput, call)
            return
        call()
        self.returned[sku] += quantity
        self.on_hand[(sku, location)] += quantity

    def removable(self, sku: str, location: str, quantity: int) -> bool:
        if quantity > self.on_hand[(sku, location)] - self.allocated_at(sku, location):
            return False
        return sku in BACKORDERABLE or quantity <= self.network_available(sku)

    @rule(sku=skus, location=locations, delta=st.integers(-5, 5).filter(bool))
    def adjust(self, sku: str, location: str, delta: int) -> None:
        def call() -> None:
            self.store.adjust(sku, location, delta, reference=self.key("count"), at=self.now)

        if delta < 0 and not self.removable(sku, location, -delta):
            self.refused(InsufficientStock, call)
            return
        call()
        self.on_hand[(sku, location)] += delta

    @rule(sku=skus, location=locations, quantity=units)
    def write_off(self, sku: str, location: str, quantity: int) -> None:
        def call() -> None:
            self.store.write_off(sku, location, quantity, reference=self.key("dmg"), at=self.now)

        if not self.removable(sku, location, quantity):
            self.refused(InsufficientStock, call)
            return
        call()
        self.on_hand[(sku, location)] -= quantity

    @rule(minutes=st.sampled_from([5, 10, 20]))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        expired = self.store.expire_due(self.now)
        due = sorted(r for r, at in self.expiry.items() if at is not None and at <= self.now)
        assert sorted(r.id for r in expired) == due
        for reservation_id in due:
            self.end(reservation_id)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        reservation_id = data.draw(st.sampled_from(sorted(self.held)))
        assert self.store.confirm(reservation_id).expires_at is None
        self.expiry[reservation_id] = None

    # ------------------------------------------------------------------ invariants

    @invariant()
    def on_hand_never_below_zero_and_holds_are_covered(self) -> None:
        for sku in SKUS:
            for loc in LOCATIONS:
                level = self.store.level(sku, loc)
                assert level.on_hand >= 0
                assert level.reserved <= level.on_hand
            summary = self.store.summary(sku)
            if sku not in BACKORDERABLE:
                assert summary.reserved <= summary.on_hand

    @invariant()
    def every_shipped_unit_was_reserved_first(self) -> None:
        reserved: Counter[tuple[str, str]] = Counter()  # (reservation, sku)
        allocated: Counter[tuple[str, str, str]] = Counter()  # (reservation, sku, location)
        picked: Counter[tuple[str, str, str]] = Counter()
        for m in self.store.journal():
            where = (m.reference, m.sku, m.location or "")
            if m.kind is MovementKind.RESERVE:
                reserved[(m.reference, m.sku)] += m.quantity
            elif m.kind is MovementKind.ALLOCATE:
                allocated[where] += m.quantity
                assert (
                    sum(n for (r, s, _), n in allocated.items() if (r, s) == (m.reference, m.sku))
                    <= reserved[(m.reference, m.sku)]
                )
            elif m.kind is MovementKind.PICK:
                allocated[where] -= m.quantity
                picked[where] += m.quantity
                assert allocated[where] >= 0
            elif m.kind is MovementKind.SHIP:
                picked[where] -= m.quantity
                assert picked[where] >= 0

    @invariant()
    def the_journal_replays_to_the_balances_and_the_model(self) -> None:
        balances = self.store.balances()
        assert replay(self.store.journal()) == balances
        assert balances.on_hand == {k: v for k, v in sorted(self.on_hand.items()) if v}
        assert balances.incoming == {k: v for k, v in sorted(self.incoming.items()) if v}
        assert balances.reserved == {sku: self.reserved(sku) for sku in SKUS if self.reserved(sku)}
        assert balances.allocated == {
            (sku, loc): self.allocated_at(sku, loc)
            for sku in SKUS
            for loc in LOCATIONS
            if self.allocated_at(sku, loc)
        }


TestStockPromises = StockPromises.TestCase
