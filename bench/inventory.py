"""Benchmarks of inventory: reservations per second, and allocation across 1, 10 and 100 locations.

Like the kernel's benchmarks, every claim is a ratio of contenders timed side
by side in one run (rounds of batches, contenders rotated, gc paused, inputs
built untimed, each batch checked afterwards), so the figures hold on a noisy
machine:

* a reservation through `MemoryStockStore` (lock, checks, journal, events)
  against a plain dict update doing the same all-or-nothing check, and
  against the same store with 100 locations: a reservation is held over the
  network, so its cost must not grow with the number of locations;
* allocation at 10 and 100 locations against 1. The case is the worst one
  for the default strategy: only the last-ranked location holds every line,
  so "one location for everything" scans them all. The cost may grow with
  the locations, but no faster than linearly.

The structural facts are counts that must hold exactly: the stores the run
used replay from their journals to their balances, and reserving past the
stock never oversells.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bench.kernel import (
    Batch,
    Figure,
    Prepare,
    Race,
    Section,
    Settings,
    _at_most,
    _exactly,
    _race,
    _reference,
)
from fourflows.adapters.stock import MemoryStockStore
from fourflows.errors import InsufficientStock
from fourflows.logistics.inventory import StockLocation, StockPolicy, replay

__all__ = [
    "FULL_PLAN",
    "QUICK_PLAN",
    "SIZES",
    "InventoryPlan",
    "PerSecond",
    "PlainStock",
    "allocation_store",
    "bench_inventory",
    "reservation_store",
    "run_inventory",
]


@dataclass(frozen=True)
class InventoryPlan:
    """How many operations each timed batch does, and how many rounds."""

    batch: int
    rounds: int


FULL_PLAN = InventoryPlan(batch=400, rounds=11)
QUICK_PLAN = InventoryPlan(batch=50, rounds=3)
SIZES = (1, 10, 100)  # locations
RESERVE_FLAT_AIM = 1.5  # reserve at 100 locations / at 1: held over the network, not per location

AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
LINES = {"TEE": 1, "MUG": 2}
POLICIES = (StockPolicy(sku="TEE", low_stock_at=5), StockPolicy(sku="MUG"))


def plan_for(settings: Settings) -> InventoryPlan:
    """The inventory plan of a kernel run's settings: quick for the quick run, else full."""
    return QUICK_PLAN if settings.name == "quick" else FULL_PLAN


def _locations(count: int) -> list[StockLocation]:
    return [StockLocation(id=f"loc-{i:03d}", priority=i) for i in range(count)]


def reservation_store(locations: int, units: int) -> MemoryStockStore:
    """A store of ``locations`` locations whose first one holds ``units`` of each sku."""
    store = MemoryStockStore(_locations(locations), POLICIES)
    for sku in LINES:
        store.receive(sku, "loc-000", units, reference=f"grn-{sku}", at=AT)
    return store


def allocation_store(locations: int, orders: int) -> tuple[MemoryStockStore, list[str]]:
    """A store where ``orders`` reservations wait and only the last-ranked location has MUG.

    Every location holds TEE; the last one holds TEE and MUG, so the default
    strategy looks at every location before it finds the one that can take
    each order whole.
    """
    store = MemoryStockStore(_locations(locations), POLICIES)
    last = f"loc-{locations - 1:03d}"
    for location in store.locations:
        store.receive("TEE", location.id, orders, reference=f"grn-TEE-{location.id}", at=AT)
    store.receive("MUG", last, orders * LINES["MUG"], reference="grn-MUG", at=AT)
    ids = [f"res-{n:05d}" for n in range(orders)]
    for reservation_id in ids:
        store.reserve(reservation_id, f"order-{reservation_id}", LINES, at=AT)
    return store, ids


class PlainStock:
    """The baseline: units per sku in a dict, an all-or-nothing check, holds in a dict."""

    def __init__(self, units: int) -> None:
        self.available = dict.fromkeys(LINES, units)
        self.held: dict[str, dict[str, int]] = {}

    def reserve(self, reservation_id: str, lines: dict[str, int]) -> None:
        for sku, quantity in lines.items():
            if self.available[sku] < quantity:
                raise InsufficientStock(sku, requested=quantity, available=self.available[sku])
        for sku, quantity in lines.items():
            self.available[sku] -= quantity
        self.held[reservation_id] = lines


@dataclass(frozen=True)
class PerSecond(Figure):
    """Operations per second, shown as context: absolute, never a claim."""

    @property
    def shown(self) -> str:
        return f"{self.value:,.0f} /s"


def _per_second(key: str, label: str, race: Race, name: str) -> PerSecond:
    best = race.best(name)
    return PerSecond(
        key, label, 1e9 / best, "ops/s", "context", None, f"{best / 1000:,.1f} µs each"
    )


DICT = "plain dict update, same all-or-nothing check"
STORE_1 = "MemoryStockStore.reserve, 1 location"
STORE_100 = "MemoryStockStore.reserve, 100 locations"


def _reserve_contenders(batch: int, used: list[MemoryStockStore]) -> list[tuple[str, Prepare]]:
    units = batch * max(LINES.values())
    ids = [f"res-{n:05d}" for n in range(batch)]

    def plain(count: int) -> Batch:
        stock = PlainStock(units)

        def work() -> None:
            for reservation_id in ids:
                stock.reserve(reservation_id, LINES)

        return Batch(work, lambda: len(stock.held) == count)

    def store(locations: int) -> Prepare:
        def prepare(count: int) -> Batch:
            stocked = reservation_store(locations, units)
            used.append(stocked)

            def work() -> None:
                for reservation_id in ids:
                    stocked.reserve(reservation_id, "order", LINES, at=AT)

            return Batch(work, lambda: stocked.summary("TEE").reserved == count * LINES["TEE"])

        return prepare

    return [(DICT, plain), (STORE_1, store(1)), (STORE_100, store(100))]


def _allocate_name(locations: int) -> str:
    return f"MemoryStockStore.allocate, {locations} location{'s' if locations > 1 else ''}"


def _allocate_contenders(used: list[MemoryStockStore]) -> list[tuple[str, Prepare]]:
    def contender(locations: int) -> Prepare:
        last = f"loc-{locations - 1:03d}"

        def prepare(count: int) -> Batch:
            store, ids = allocation_store(locations, count)
            used.append(store)

            def work() -> None:
                for reservation_id in ids:
                    store.allocate(reservation_id, at=AT)

            def done() -> bool:
                return all(
                    [a.location for a in store.reservation(r).allocations] == [last] for r in ids
                )

            return Batch(work, done)

        return prepare

    return [(_allocate_name(n), contender(n)) for n in SIZES]


def _oversold(units: int) -> int:
    """Reserve one more than there is, one unit at a time: how many held beyond the stock."""
    store = reservation_store(1, units)
    held = 0
    for n in range(units + 1):
        try:
            store.reserve(f"res-{n}", "order", {"TEE": 1}, at=AT)
            held += 1
        except InsufficientStock:
            pass
    return held - units


def bench_inventory(settings: Settings) -> list[Section]:
    """9. Reservations; 10. allocation across 1, 10 and 100 locations."""
    plan = plan_for(settings)
    race_settings = replace(settings, batch=plan.batch, rounds=plan.rounds)
    used: list[MemoryStockStore] = []
    reserve = _race(_reserve_contenders(plan.batch, used), race_settings)
    allocate = _race(_allocate_contenders(used), race_settings)
    mismatched = sum(replay(store.journal()) != store.balances() for store in used)

    reservations = Section(
        key="inventory.reserve",
        title="9. Stock reservations",
        method=(
            f"Each contender makes {plan.batch:,} reservations of two lines (TEE 1, MUG 2) per "
            f"batch, {plan.rounds} rounds, rotated, gc paused; stores built untimed. The store "
            "takes its lock, checks every line (all or nothing), writes reserve movements to "
            "its journal and looks for low- and out-of-stock crossings; the baseline checks "
            "and decrements a dict. Each batch's holds are checked afterwards."
        ),
        header=("contender", "best µs/reservation", "median µs/reservation"),
    )
    reservations.rows.extend(reserve.rows())
    reservations.figures += [
        _reference(
            "inventory.reserve_vs_dict",
            "store reserve / plain dict update",
            reserve.ratio(STORE_1, DICT),
            reserve.detail(STORE_1, DICT),
        ),
        _at_most(
            "inventory.reserve_100_vs_1",
            "store reserve at 100 locations / at 1",
            reserve.ratio(STORE_100, STORE_1),
            RESERVE_FLAT_AIM,
            f"{reserve.detail(STORE_100, STORE_1)}; a hold is network-wide",
        ),
        _per_second("inventory.reserve_rate", "store reservations per second", reserve, STORE_1),
        _exactly(
            "inventory.oversold",
            "units held beyond stock (reserving one past it)",
            _oversold(50),
            0,
        ),
    ]

    allocation = Section(
        key="inventory.allocate",
        title="10. Allocation across locations",
        method=(
            f"Each contender allocates {plan.batch:,} waiting reservations (TEE 1, MUG 2) per "
            f"batch, {plan.rounds} rounds, rotated, gc paused, with the default ByPriority "
            "strategy. Every location holds TEE; only the last-ranked one holds MUG, so the "
            "search for one location that can take the whole order visits every location. "
            "Each batch is checked: every order allocated whole to that last location."
        ),
        header=("contender", "best µs/allocation", "median µs/allocation"),
    )
    allocation.rows.extend(allocate.rows())
    one = _allocate_name(1)
    for size in SIZES[1:]:
        allocation.figures.append(
            _at_most(
                f"inventory.allocate_{size}_vs_1",
                f"allocation at {size} locations / at 1",
                allocate.ratio(_allocate_name(size), one),
                float(size),
                f"{allocate.detail(_allocate_name(size), one)}; aim: no worse than linear",
            )
        )
    allocation.figures += [
        _per_second(
            "inventory.allocate_rate_100",
            "allocations per second at 100 locations",
            allocate,
            _allocate_name(100),
        ),
        _exactly(
            "inventory.replay_mismatch",
            "timed stores whose journal does not replay to their balances",
            mismatched,
            0,
        ),
    ]
    return [reservations, allocation]


def run_inventory(settings: Settings) -> list[Section]:
    """The inventory sections for ``settings``."""
    return bench_inventory(settings)
