"""The contract of `fourflows.logistics.inventory.StockStore`, as a pytest class any adapter runs.

Subclass `StockStoreContract` in your own test file, name the subclass
``Test...`` and supply the factory: a new, empty store that stocks the given
locations and skus::

    from fourflows.testing.stock_contract import StockStoreContract

    class TestSqlStockStore(StockStoreContract):
        def make_store(self, locations, policies):
            return SqlStockStore(url="sqlite://", locations=locations, policies=policies)

fourflows runs the same class against `fourflows.adapters.stock.MemoryStockStore`.

The suite checks what the shop relies on: a reservation holds all lines or
none and never oversells, even when threads race for the last units; unknown
skus, locations and reservations are named errors; only allocated units
ship; a partial release never goes below what shipped; every idempotency
key does its work once; a refused call changes nothing; and the journal
replays to the balances.
"""

from __future__ import annotations

import abc
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from fourflows.errors import IdempotencyConflict, InsufficientStock, InvalidInput, NotFound
from fourflows.logistics.inventory import (
    ByDistance,
    LocationKind,
    ReservationStatus,
    StockLocation,
    StockPolicy,
    StockRanLow,
    StockRanOut,
    StockStore,
    replay,
)

__all__ = ["StockStoreContract"]

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HOLD = timedelta(minutes=30)
LOCATIONS = (
    StockLocation(id="wh-taoyuan", kind=LocationKind.WAREHOUSE, priority=1),
    StockLocation(id="store-taipei", kind=LocationKind.STORE, priority=2),
)
POLICIES = (
    StockPolicy(sku="TEE", low_stock_at=2),
    StockPolicy(sku="MUG"),
    StockPolicy(sku="BOOK", backorderable=True),
    StockPolicy(sku="LAMP", clearance=True),
)


class StockStoreContract(abc.ABC):
    """Promises of `fourflows.logistics.inventory.StockStore`."""

    @abc.abstractmethod
    def make_store(
        self, locations: Sequence[StockLocation], policies: Sequence[StockPolicy]
    ) -> StockStore:
        """Return a new, empty store of ``locations`` and skus; override in your subclass."""

    def stocked(self, **units: tuple[int, int]) -> StockStore:
        """A store where each sku has (warehouse, store) units on hand."""
        store = self.make_store(LOCATIONS, POLICIES)
        for sku, counts in units.items():
            for location, count in zip(LOCATIONS, counts, strict=True):
                if count:
                    store.receive(
                        sku, location.id, count, reference=f"po-{sku}-{location.id}", at=AT
                    )
        return store

    def unchanged(
        self, store: StockStore, call: Callable[[], object], error: type[Exception]
    ) -> Exception:
        """Assert ``call`` raises ``error`` and leaves balances and journal as they were."""
        before = (store.balances(), store.journal())
        with pytest.raises(error) as raised:
            call()
        assert (store.balances(), store.journal()) == before
        return raised.value

    # ------------------------------------------------------------------ levels

    def test_received_units_are_on_hand_and_available(self) -> None:
        """Receiving puts units on hand at that location, and takes them off incoming."""
        store = self.stocked()
        store.expect("TEE", "wh-taoyuan", 10, reference="po-1", at=AT)
        store.receive("TEE", "wh-taoyuan", 4, reference="grn-1", at=AT)
        level = store.level("TEE", "wh-taoyuan")
        assert (level.on_hand, level.reserved, level.available, level.incoming) == (4, 0, 4, 6)
        summary = store.summary("TEE")
        assert (summary.on_hand, summary.reserved, summary.available, summary.incoming) == (
            4,
            0,
            4,
            6,
        )

    def test_a_repeated_receipt_counts_once(self) -> None:
        """``receive`` is idempotent per reference; another quantity under it is refused."""
        store = self.stocked()
        store.receive("TEE", "wh-taoyuan", 4, reference="grn-1", at=AT)
        store.receive("TEE", "wh-taoyuan", 4, reference="grn-1", at=AT)
        assert store.level("TEE", "wh-taoyuan").on_hand == 4
        self.unchanged(
            store,
            lambda: store.receive("TEE", "wh-taoyuan", 5, reference="grn-1", at=AT),
            IdempotencyConflict,
        )

    def test_unknown_skus_and_locations_are_named(self) -> None:
        """An unknown sku or location raises `NotFound` naming it, and changes nothing."""
        store = self.stocked(TEE=(5, 0))
        error = self.unchanged(store, lambda: store.level("NOPE", "wh-taoyuan"), NotFound)
        assert "NOPE" in str(error)
        error = self.unchanged(
            store, lambda: store.receive("TEE", "mars", 1, reference="r", at=AT), NotFound
        )
        assert "mars" in str(error)
        self.unchanged(
            store, lambda: store.reserve("res-1", "o-1", {"TEE": 1, "NOPE": 1}, at=AT), NotFound
        )
        self.unchanged(store, lambda: store.release("res-none", at=AT), NotFound)

    def test_malformed_requests_are_refused(self) -> None:
        """Quantities below 1 and naive datetimes raise `InvalidInput` and change nothing."""
        store = self.stocked(TEE=(5, 0))
        naive = datetime(2026, 11, 22, 10, 0)
        self.unchanged(store, lambda: store.reserve("r", "o", {"TEE": 0}, at=AT), InvalidInput)
        self.unchanged(store, lambda: store.reserve("r", "o", {"TEE": 1}, at=naive), InvalidInput)
        self.unchanged(
            store,
            lambda: store.receive("TEE", "wh-taoyuan", -1, reference="x", at=AT),
            InvalidInput,
        )

    # ------------------------------------------------------------------ reserving

    def test_reserve_holds_units_over_the_network(self) -> None:
        """Reserving 7 of 5 + 3 on hand holds 7 and leaves 1 available."""
        store = self.stocked(TEE=(5, 3))
        reservation = store.reserve("res-1", "order-1", {"TEE": 7}, at=AT, expires_at=AT + HOLD)
        assert reservation.status is ReservationStatus.ACTIVE
        assert reservation.expires_at == AT + HOLD
        summary = store.summary("TEE")
        assert (summary.on_hand, summary.reserved, summary.available) == (8, 7, 1)

    def test_a_short_line_holds_nothing(self) -> None:
        """All lines or none: a short sku raises `InsufficientStock` naming it, nothing is held."""
        store = self.stocked(TEE=(5, 0), MUG=(1, 0))
        error = self.unchanged(
            store,
            lambda: store.reserve("res-1", "order-1", {"TEE": 2, "MUG": 3}, at=AT),
            InsufficientStock,
        )
        assert isinstance(error, InsufficientStock)
        assert (error.sku, error.requested, error.available) == ("MUG", 3, 1)
        assert store.summary("TEE").reserved == 0
        with pytest.raises(NotFound):
            store.reservation("res-1")

    def test_reserve_is_idempotent_per_id(self) -> None:
        """The same reservation again holds no more; another request under its id is refused."""
        store = self.stocked(TEE=(5, 0))
        first = store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        assert store.reserve("res-1", "order-1", {"TEE": 2}, at=AT) == first
        assert store.summary("TEE").reserved == 2
        self.unchanged(
            store, lambda: store.reserve("res-1", "order-1", {"TEE": 3}, at=AT), IdempotencyConflict
        )

    def test_a_backorderable_sku_may_be_held_beyond_stock(self) -> None:
        """A backorderable sku is reserved past on-hand; the excess is marked backordered."""
        store = self.stocked(BOOK=(1, 0))
        reservation = store.reserve("res-1", "order-1", {"BOOK": 3}, at=AT)
        assert [(line.sku, line.quantity, line.backordered) for line in reservation.lines] == [
            ("BOOK", 3, 2)
        ]
        summary = store.summary("BOOK")
        assert (summary.reserved, summary.available, summary.backordered) == (3, 0, 2)

    def race(self, store: StockStore, buyers: int, lines: dict[str, int]) -> list[str]:
        """Start ``buyers`` threads at once, each reserving ``lines``; say who held and who not."""
        start = threading.Barrier(buyers)
        outcomes: list[str] = []

        def buy(n: int) -> None:
            start.wait()
            try:
                store.reserve(f"res-{n}", f"order-{n}", lines, at=AT)
                outcomes.append("held")
            except InsufficientStock:
                outcomes.append("short")

        threads = [threading.Thread(target=buy, args=(n,)) for n in range(buyers)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads often, so an unguarded check-then-take loses
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
        return sorted(outcomes)

    def test_threads_never_oversell_the_last_units(self) -> None:
        """Six threads race for the last 3 units: exactly 3 are held, 3 refused."""
        for attempt in range(20):
            store = self.stocked(MUG=(3, 0))
            assert self.race(store, 6, {"MUG": 1}) == ["held"] * 3 + ["short"] * 3, attempt
            summary = store.summary("MUG")
            assert (summary.reserved, summary.available) == (3, 0)

    def test_two_threads_for_all_the_units(self) -> None:
        """Two threads each asking for every unit: one gets them all, the other none."""
        for attempt in range(20):
            store = self.stocked(TEE=(2, 2))
            assert self.race(store, 2, {"TEE": 4}) == ["held", "short"], attempt
            assert store.summary("TEE").reserved == 4

    # ------------------------------------------------------------------ releasing

    def test_release_gives_the_units_back_once(self) -> None:
        """Releasing frees what was held; releasing again changes nothing."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 4}, at=AT)
        store.allocate("res-1", at=AT)
        released = store.release("res-1", at=AT)
        assert released.status is ReservationStatus.RELEASED
        journal = store.journal()
        assert store.release("res-1", at=AT) == released
        assert store.journal() == journal
        level = store.level("TEE", "wh-taoyuan")
        assert (level.on_hand, level.reserved, store.summary("TEE").reserved) == (5, 0, 0)

    def test_expired_holds_are_released_and_confirmed_ones_kept(self) -> None:
        """``expire_due`` releases holds due at or before the time; confirmed holds never expire."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 1}, at=AT, expires_at=AT + HOLD)
        store.reserve("res-2", "order-2", {"TEE": 1}, at=AT, expires_at=AT + 2 * HOLD)
        store.reserve("res-3", "order-3", {"TEE": 1}, at=AT, expires_at=AT + HOLD)
        store.confirm("res-3")
        assert store.expire_due(AT + HOLD - timedelta(seconds=1)) == ()
        expired = store.expire_due(AT + HOLD)
        assert [r.id for r in expired] == ["res-1"]
        assert expired[0].status is ReservationStatus.EXPIRED
        assert store.expire_due(AT + HOLD) == ()
        assert store.summary("TEE").reserved == 2

    def test_release_units_gives_back_part_of_an_allocated_hold(self) -> None:
        """4 held and allocated, 1 given back: 3 stay allocated, 1 is free again."""
        store = self.stocked(TEE=(5, 0), MUG=(2, 0))
        store.reserve("res-1", "order-1", {"TEE": 4, "MUG": 1}, at=AT)
        store.allocate("res-1", at=AT)
        after = store.release_units("res-1", {"TEE": 1}, reference="ch-1", at=AT)
        assert after.status is ReservationStatus.ACTIVE
        assert (after.quantity("TEE"), after.allocated("TEE"), after.quantity("MUG")) == (3, 3, 1)
        level = store.level("TEE", "wh-taoyuan")
        # on hand 5, reserved 4 - 1 = 3, available 5 - 3 = 2
        assert (level.on_hand, level.reserved, level.available) == (5, 3, 2)
        assert store.summary("TEE").reserved == 3
        assert store.balances() == replay(store.journal())

    def test_release_units_takes_unallocated_units_first(self) -> None:
        """3 held, 2 allocated (1 backordered): releasing 2 gives back the loose one, then 1."""
        store = self.stocked(BOOK=(2, 0))
        store.reserve("res-1", "order-1", {"BOOK": 3}, at=AT)
        store.allocate("res-1", at=AT)
        assert store.reservation("res-1").unallocated("BOOK") == 1
        after = store.release_units("res-1", {"BOOK": 2}, reference="ch-1", at=AT)
        assert (after.quantity("BOOK"), after.allocated("BOOK"), after.unallocated("BOOK")) == (
            1,
            1,
            0,
        )
        assert after.lines[0].backordered == 0  # the one unit left is on the shelf
        assert store.level("BOOK", "wh-taoyuan").reserved == 1
        assert store.summary("BOOK").reserved == 1

    def test_release_units_is_idempotent_per_reference(self) -> None:
        """The same reference again changes nothing; another request under it is refused."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 4}, at=AT)
        first = store.release_units("res-1", {"TEE": 1}, reference="ch-1", at=AT)
        journal = store.journal()
        assert store.release_units("res-1", {"TEE": 1}, reference="ch-1", at=AT) == first
        assert store.journal() == journal
        self.unchanged(
            store,
            lambda: store.release_units("res-1", {"TEE": 2}, reference="ch-1", at=AT),
            IdempotencyConflict,
        )
        store.release_units("res-1", {"TEE": 1}, reference="ch-2", at=AT)
        assert store.summary("TEE").reserved == 2  # 4 - 1 - 1

    def test_release_units_never_goes_below_what_shipped(self) -> None:
        """3 held, 2 shipped: asking for 2 gives back the 1 not shipped; a sku not held, none."""
        store = self.stocked(TEE=(5, 0), MUG=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 3}, at=AT)
        store.allocate("res-1", at=AT)
        store.ship("res-1", "wh-taoyuan", {"TEE": 2}, shipment_id="s-1", at=AT)
        done = store.release_units("res-1", {"TEE": 2, "MUG": 1}, reference="ch-1", at=AT)
        assert done.status is ReservationStatus.FULFILLED  # what is left has all shipped
        assert (done.quantity("TEE"), done.shipped_units("TEE"), done.quantity("MUG")) == (2, 2, 0)
        summary = store.summary("TEE")
        # 5 on hand - 2 shipped = 3, nothing held any more
        assert (summary.on_hand, summary.reserved, summary.available) == (3, 0, 3)
        assert store.summary("MUG").reserved == 0
        assert store.balances() == replay(store.journal())

    def test_release_units_of_everything_ends_the_reservation(self) -> None:
        """Every unit given back: released; a released reservation changes nothing more."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        gone = store.release_units("res-1", {"TEE": 2}, reference="ch-1", at=AT)
        assert (gone.status, gone.lines) == (ReservationStatus.RELEASED, ())
        journal = store.journal()
        assert store.release_units("res-1", {"TEE": 1}, reference="ch-2", at=AT) == gone
        assert store.journal() == journal
        assert store.summary("TEE").reserved == 0

    def test_release_units_refuses_bad_requests(self) -> None:
        """Unknown reservations and skus are named; blank references, naive times refused."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        self.unchanged(
            store,
            lambda: store.release_units("nope", {"TEE": 1}, reference="ch-1", at=AT),
            NotFound,
        )
        self.unchanged(
            store,
            lambda: store.release_units("res-1", {"GHOST": 1}, reference="ch-1", at=AT),
            NotFound,
        )
        for bad in (
            lambda: store.release_units("res-1", {"TEE": 1}, reference=" ", at=AT),
            lambda: store.release_units("res-1", {"TEE": 0}, reference="ch-1", at=AT),
            lambda: store.release_units(
                "res-1", {"TEE": 1}, reference="ch-1", at=AT.replace(tzinfo=None)
            ),
        ):
            self.unchanged(store, bad, InvalidInput)

    # ------------------------------------------------------------------ allocating and shipping

    def test_allocation_prefers_one_location_that_has_everything(self) -> None:
        """The store can take the whole order, so it does, though the warehouse ranks first."""
        store = self.stocked(TEE=(1, 3), MUG=(5, 1))
        store.reserve("res-1", "order-1", {"TEE": 2, "MUG": 1}, at=AT)
        reservation = store.allocate("res-1", at=AT)
        assert [
            (a.location, [(x.sku, x.quantity) for x in a.lines]) for a in reservation.allocations
        ] == [("store-taipei", [("MUG", 1), ("TEE", 2)])]
        assert store.level("TEE", "store-taipei").reserved == 2

    def test_allocation_splits_by_priority_when_no_one_location_can(self) -> None:
        """5 wanted, 3 + 4 on hand: the warehouse (priority 1) gives 3, the store 2."""
        store = self.stocked(TEE=(3, 4))
        store.reserve("res-1", "order-1", {"TEE": 5}, at=AT)
        reservation = store.allocate("res-1", at=AT)
        assert (
            reservation.allocated("TEE", "wh-taoyuan"),
            reservation.allocated("TEE", "store-taipei"),
        ) == (3, 2)
        assert store.allocate("res-1", at=AT) == reservation  # nothing left to allocate

    def test_allocation_by_distance(self) -> None:
        """With distances given, the nearer store is tried first."""
        store = self.stocked(TEE=(3, 3))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        nearer_store = ByDistance({"wh-taoyuan": 40, "store-taipei": "2.5"})
        reservation = store.allocate("res-1", at=AT, strategy=nearer_store)
        assert reservation.allocated("TEE", "store-taipei") == 2

    def test_only_allocated_units_ship(self) -> None:
        """Shipping units never reserved, or not allocated there, is refused and ships nothing."""
        store = self.stocked(TEE=(5, 5), MUG=(2, 0))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        store.allocate("res-1", at=AT)
        self.unchanged(
            store,
            lambda: store.ship("res-1", "wh-taoyuan", {"TEE": 3}, shipment_id="s-1", at=AT),
            InvalidInput,
        )
        self.unchanged(
            store,
            lambda: store.ship("res-1", "store-taipei", {"TEE": 1}, shipment_id="s-1", at=AT),
            InvalidInput,
        )
        self.unchanged(
            store,
            lambda: store.ship(
                "res-1", "wh-taoyuan", {"TEE": 1, "MUG": 1}, shipment_id="s-1", at=AT
            ),
            InvalidInput,
        )

    def test_shipping_takes_units_off_hand_once_per_shipment(self) -> None:
        """Shipping 2 of 5 leaves 3 on hand; the same shipment again changes nothing."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        store.allocate("res-1", at=AT)
        shipped = store.ship("res-1", "wh-taoyuan", {"TEE": 2}, shipment_id="s-1", at=AT)
        assert shipped.status is ReservationStatus.FULFILLED
        assert shipped.shipped_units("TEE", "wh-taoyuan") == 2
        assert store.ship("res-1", "wh-taoyuan", {"TEE": 2}, shipment_id="s-1", at=AT) == shipped
        level = store.level("TEE", "wh-taoyuan")
        assert (level.on_hand, level.reserved, store.summary("TEE").reserved) == (3, 0, 0)

    def test_a_partly_shipped_reservation_releases_only_the_rest(self) -> None:
        """Ship 1 of 3, cancel: 2 go back, 1 stays gone."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 3}, at=AT)
        store.allocate("res-1", at=AT)
        store.ship("res-1", "wh-taoyuan", {"TEE": 1}, shipment_id="s-1", at=AT)
        store.release("res-1", at=AT)
        summary = store.summary("TEE")
        assert (summary.on_hand, summary.reserved, summary.available) == (4, 0, 4)

    # ------------------------------------------------------------------ corrections

    def test_returns_cannot_exceed_what_shipped(self) -> None:
        """Returned units go back on hand, but never more than shipped."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)
        store.allocate("res-1", at=AT)
        store.ship("res-1", "wh-taoyuan", {"TEE": 2}, shipment_id="s-1", at=AT)
        store.return_to_stock("TEE", "store-taipei", 1, reference="rma-1", at=AT)
        assert store.level("TEE", "store-taipei").on_hand == 1
        self.unchanged(
            store,
            lambda: store.return_to_stock("TEE", "wh-taoyuan", 2, reference="rma-2", at=AT),
            InvalidInput,
        )

    def test_held_units_cannot_be_written_off_or_counted_away(self) -> None:
        """With 3 of 5 held, writing off 3 or counting 3 away is refused; 2 is fine."""
        store = self.stocked(TEE=(5, 0))
        store.reserve("res-1", "order-1", {"TEE": 3}, at=AT)
        store.allocate("res-1", at=AT)
        self.unchanged(
            store,
            lambda: store.write_off("TEE", "wh-taoyuan", 3, reference="dmg-1", at=AT),
            InsufficientStock,
        )
        self.unchanged(
            store,
            lambda: store.adjust("TEE", "wh-taoyuan", -3, reference="count-1", at=AT),
            InsufficientStock,
        )
        store.write_off("TEE", "wh-taoyuan", 1, reference="dmg-1", at=AT)
        store.adjust("TEE", "wh-taoyuan", -1, reference="count-1", at=AT)
        assert store.level("TEE", "wh-taoyuan").on_hand == 3

    # ------------------------------------------------------------------ journal and events

    def test_the_journal_replays_to_the_balances(self) -> None:
        """Whatever happened, replaying the journal gives the balances."""
        store = self.stocked(TEE=(5, 2), BOOK=(0, 1))
        store.expect("TEE", "store-taipei", 6, reference="po-9", at=AT)
        store.reserve("res-1", "order-1", {"TEE": 6, "BOOK": 2}, at=AT)
        store.allocate("res-1", at=AT)
        store.ship("res-1", "wh-taoyuan", {"TEE": 5}, shipment_id="s-1", at=AT)
        store.return_to_stock("TEE", "wh-taoyuan", 1, reference="rma-1", at=AT)
        store.adjust("TEE", "store-taipei", 2, reference="count-1", at=AT)
        store.release("res-1", at=AT)
        assert replay(store.journal()) == store.balances()
        kinds = [movement.kind.value for movement in store.journal()]
        assert {"expect", "receive", "reserve", "allocate", "pick", "ship"} <= set(kinds)
        assert {"return_to_stock", "adjust", "release"} <= set(kinds)

    def test_low_and_out_of_stock_are_told_once(self) -> None:
        """TEE warns at 2 available; running out is told with the clearance flag."""
        store = self.stocked(TEE=(5, 0), LAMP=(1, 0))
        store.take_events()
        store.reserve("res-1", "order-1", {"TEE": 2}, at=AT)  # 3 left: above the threshold
        assert store.take_events() == ()
        store.reserve("res-2", "order-2", {"TEE": 1}, at=AT)  # 2 left: low
        store.reserve("res-3", "order-3", {"TEE": 1}, at=AT)  # 1 left: still low, told already
        store.reserve("res-4", "order-4", {"LAMP": 1}, at=AT)  # 0 left: out, for good
        events = store.take_events()
        assert [(e.name(), e.aggregate_id) for e in events] == [
            ("StockRanLow", "TEE"),
            ("StockRanOut", "LAMP"),
        ]
        low, out = events
        assert isinstance(low, StockRanLow)
        assert (low.available, low.threshold) == (2, 2)
        assert isinstance(out, StockRanOut)
        assert out.clearance
        assert store.take_events() == ()
