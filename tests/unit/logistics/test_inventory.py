from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows.commerce.catalog import Product
from fourflows.errors import InsufficientStock, InvalidInput, NotFound
from fourflows.events import Flow, event_type
from fourflows.logistics.inventory import (
    ByDistance,
    ByPriority,
    Inventory,
    LocationKind,
    Movement,
    MovementKind,
    ReservationStatus,
    StockLevel,
    StockLine,
    StockLocation,
    StockPolicy,
    StockRanLow,
    StockRanOut,
    StockSummary,
    allocate_in_order,
    replay,
    stock_lines,
)
from fourflows.money import Money

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PREORDER_DATE = datetime(2026, 12, 15, tzinfo=UTC)

WAREHOUSE = StockLocation(id="wh", kind="warehouse", priority=1, coordinates=("25.0", "121.3"))
TAIPEI = StockLocation(
    id="taipei", kind=LocationKind.STORE, priority=2, coordinates=(25.05, 121.52)
)
KAOHSIUNG = StockLocation(id="kaohsiung", kind="store", priority=3, coordinates=("22.63", "120.30"))


def inventory(**on_hand: tuple[int, int, int]) -> Inventory:
    """An inventory where each sku has (wh, taipei, kaohsiung) units on hand."""
    stock = Inventory(
        [WAREHOUSE, TAIPEI, KAOHSIUNG],
        [
            StockPolicy(sku="TEE", low_stock_at=3),
            StockPolicy(sku="MUG"),
            StockPolicy(sku="BOOK", backorderable=True),
            StockPolicy(sku="GAME", preorder_ships_by=PREORDER_DATE),
        ],
    )
    for sku, counts in on_hand.items():
        for location, count in zip(("wh", "taipei", "kaohsiung"), counts, strict=True):
            if count:
                stock.receive(sku, location, count, reference=f"po-{sku}-{location}", at=AT)
    stock.take_events()
    return stock


class TestValues:
    def test_a_location_converts_its_kind_and_coordinates(self) -> None:
        assert WAREHOUSE.kind is LocationKind.WAREHOUSE
        assert WAREHOUSE.coordinates == (Decimal("25.0"), Decimal("121.3"))
        assert TAIPEI.coordinates == (Decimal("25.05"), Decimal("121.52"))

    @pytest.mark.parametrize(
        ("field", "value", "says"),
        [
            ("id", "", "non-empty"),
            ("kind", "depot", "depot"),
            ("priority", "1", "priority"),
            ("coordinates", (91, 0), "out of range"),
            ("coordinates", (25,), "latitude, longitude"),
            ("coordinates", ("north", 0), "north"),
        ],
    )
    def test_a_bad_location_is_refused(self, field: str, value: object, says: str) -> None:
        given: dict[str, object] = {"id": "x", field: value}
        with pytest.raises(ValueError, match=says):
            StockLocation(**given)  # type: ignore[arg-type]

    def test_clearance_stock_takes_no_backorders_or_preorders(self) -> None:
        with pytest.raises(InvalidInput, match="clearance"):
            StockPolicy(sku="LAMP", clearance=True, backorderable=True)
        with pytest.raises(InvalidInput, match="clearance"):
            StockPolicy(sku="LAMP", clearance=True, preorder_ships_by=PREORDER_DATE)
        with pytest.raises(InvalidInput, match="timezone-aware"):
            StockPolicy(sku="GAME", preorder_ships_by=datetime(2026, 12, 15))
        assert not StockPolicy(sku="LAMP", clearance=True).oversells
        assert StockPolicy(sku="GAME", preorder_ships_by=PREORDER_DATE).oversells

    def test_a_policy_from_a_catalog_product(self) -> None:
        book = Product(sku="BOOK", name="Book", price=Money("450", "TWD"), backorderable=True)
        policy = StockPolicy.for_product(book, low_stock_at=4)
        assert (policy.sku, policy.backorderable, policy.low_stock_at) == ("BOOK", True, 4)
        lamp = Product(sku="LAMP", name="Lamp", price=Money("990", "TWD"))
        assert not StockPolicy.for_product(lamp, clearance=True).oversells

    def test_stock_lines_merge_per_sku_and_sort(self) -> None:
        # TEE 2 + TEE 1 = 3; MUG 1 stays; sorted by sku.
        assert stock_lines([("TEE", 2), ("MUG", 1), StockLine("TEE", 1)]) == (
            StockLine("MUG", 1),
            StockLine("TEE", 3),
        )
        assert stock_lines({"MUG": 4}) == (StockLine("MUG", 4),)

    @pytest.mark.parametrize("lines", [{}, {"TEE": 0}, {"TEE": True}, [("TEE",)], {"": 1}])
    def test_bad_stock_lines_are_refused(self, lines: object) -> None:
        with pytest.raises(InvalidInput):
            stock_lines(lines)  # type: ignore[arg-type]

    def test_levels_and_summaries(self) -> None:
        level = StockLevel(sku="TEE", location="wh", on_hand=5, reserved=2, incoming=4)
        assert level.available == 3  # 5 on hand - 2 allocated here
        summary = StockSummary(sku="BOOK", on_hand=1, reserved=4, incoming=0)
        assert (summary.available, summary.backordered) == (0, 3)  # 4 held - 1 on hand

    def test_movements_check_their_quantity_and_location(self) -> None:
        with pytest.raises(InvalidInput, match="non-zero"):
            Movement(kind="adjust", sku="TEE", location="wh", quantity=0, reference="c", at=AT)
        with pytest.raises(InvalidInput, match="positive"):
            Movement(kind="ship", sku="TEE", location="wh", quantity=-1, reference="r", at=AT)
        with pytest.raises(InvalidInput, match="needs a location"):
            Movement(kind="receive", sku="TEE", location=None, quantity=1, reference="r", at=AT)
        with pytest.raises(InvalidInput, match="network-wide"):
            Movement(kind="reserve", sku="TEE", location="wh", quantity=1, reference="r", at=AT)

    def test_the_stock_events_are_logistics_events(self) -> None:
        assert event_type("StockRanLow") is StockRanLow
        assert StockRanOut.flow is Flow.LOGISTICS


class TestAllocationPlans:
    def test_one_location_that_has_everything_wins_over_rank(self) -> None:
        free = {"a": {"TEE": 1, "MUG": 9}, "b": {"TEE": 2, "MUG": 1}}
        assert allocate_in_order({"TEE": 2, "MUG": 1}, free, ["a", "b"]) == {
            "b": {"TEE": 2, "MUG": 1}
        }

    def test_split_in_rank_order_when_none_can(self) -> None:
        # 6 TEE wanted; a has 1, b 2, c 9 but c ranks last: a 1 + b 2 + c 3 = 6.
        free = {"a": {"TEE": 1}, "b": {"TEE": 2}, "c": {"TEE": 9}}
        assert allocate_in_order({"TEE": 6}, free, ["a", "b", "c"]) == {"c": {"TEE": 6}}
        free["c"] = {"TEE": 3}
        assert allocate_in_order({"TEE": 6}, free, ["a", "b", "c"]) == {
            "a": {"TEE": 1},
            "b": {"TEE": 2},
            "c": {"TEE": 3},
        }

    def test_a_shortfall_leaves_units_unplanned(self) -> None:
        assert allocate_in_order({"BOOK": 5}, {"a": {"BOOK": 2}}, ["a"]) == {"a": {"BOOK": 2}}

    def test_by_priority_ranks_lower_first(self) -> None:
        free = {"wh": {"TEE": 1}, "taipei": {"TEE": 1}, "kaohsiung": {"TEE": 1}}
        plan = ByPriority().plan({"TEE": 2}, free, [KAOHSIUNG, TAIPEI, WAREHOUSE])
        assert plan == {"wh": {"TEE": 1}, "taipei": {"TEE": 1}}

    def test_by_distance_from_a_point(self) -> None:
        # A customer in Tainan (23.0, 120.2): Kaohsiung about 41 km, Taipei about 250 km.
        nearest = ByDistance.from_point("23.0", "120.2", [WAREHOUSE, TAIPEI, KAOHSIUNG])
        assert 35 < nearest.distances["kaohsiung"] < 45
        assert 230 < nearest.distances["taipei"] < 270
        free = {"wh": {"TEE": 5}, "taipei": {"TEE": 5}, "kaohsiung": {"TEE": 1}}
        plan = nearest.plan({"TEE": 2}, free, [WAREHOUSE, TAIPEI, KAOHSIUNG])
        assert plan == {"wh": {"TEE": 2}}  # no single nearer one has 2; the warehouse does

    def test_locations_without_a_distance_come_last(self) -> None:
        free = {"wh": {"TEE": 1}, "taipei": {"TEE": 1}, "kaohsiung": {"TEE": 1}}
        plan = ByDistance({"kaohsiung": 3}).plan({"TEE": 2}, free, [WAREHOUSE, TAIPEI, KAOHSIUNG])
        assert plan == {"kaohsiung": {"TEE": 1}, "wh": {"TEE": 1}}

    def test_bad_distances_are_refused(self) -> None:
        with pytest.raises(InvalidInput, match="0 or more"):
            ByDistance({"wh": -1})
        with pytest.raises(InvalidInput, match=r"not 1\.5"):
            ByDistance({"wh": 1.5})  # type: ignore[dict-item]
        with pytest.raises(InvalidInput, match="must be a number"):
            ByDistance({"wh": "far"})


class Greedy:
    """A strategy that takes everything everywhere, more than anyone asked for."""

    def plan(
        self,
        wanted: Mapping[str, int],
        free: Mapping[str, Mapping[str, int]],
        locations: Sequence[StockLocation],
    ) -> Mapping[str, Mapping[str, int]]:
        return {location: dict(stock) for location, stock in free.items()}


class TestReservations:
    def test_a_preorder_line_carries_its_ships_by_date(self) -> None:
        stock = inventory(GAME=(1, 0, 0))
        reservation = stock.reserve("r1", "o1", {"GAME": 3}, at=AT)
        (line,) = reservation.lines
        # 3 asked, 1 on hand: 2 wait for the preorder delivery.
        assert (line.quantity, line.backordered, line.ships_by) == (3, 2, PREORDER_DATE)
        assert stock.summary("GAME").backordered == 2

    def test_a_line_covered_by_stock_has_no_ships_by(self) -> None:
        stock = inventory(GAME=(5, 0, 0))
        (line,) = stock.reserve("r1", "o1", {"GAME": 3}, at=AT).lines
        assert (line.backordered, line.ships_by) == (0, None)

    def test_the_shortfall_names_sku_requested_and_available(self) -> None:
        stock = inventory(TEE=(2, 1, 0))
        stock.reserve("r1", "o1", {"TEE": 2}, at=AT)
        with pytest.raises(InsufficientStock) as raised:
            stock.reserve("r2", "o2", {"TEE": 2}, at=AT)
        # 3 on hand - 2 held = 1 available.
        assert (raised.value.sku, raised.value.requested, raised.value.available) == ("TEE", 2, 1)
        assert "only 1 available" in str(raised.value)

    def test_an_expiry_must_come_after_the_reservation(self) -> None:
        stock = inventory(TEE=(2, 0, 0))
        with pytest.raises(InvalidInput, match="must be after"):
            stock.reserve("r1", "o1", {"TEE": 1}, at=AT, expires_at=AT)

    def test_backordered_units_are_allocated_after_stock_arrives(self) -> None:
        stock = inventory(BOOK=(1, 0, 0))
        stock.reserve("r1", "o1", {"BOOK": 3}, at=AT)
        first = stock.allocate("r1", at=AT)
        assert (first.allocated("BOOK"), first.unallocated("BOOK")) == (1, 2)
        stock.receive("BOOK", "taipei", 5, reference="grn-7", at=AT)
        second = stock.allocate("r1", at=AT)
        # 1 at the warehouse, then the 2 left come from Taipei, the only one that has them.
        assert (second.allocated("BOOK", "wh"), second.allocated("BOOK", "taipei")) == (1, 2)
        assert second.unallocated("BOOK") == 0

    def test_a_strategy_that_plans_too_much_is_refused(self) -> None:
        stock = inventory(TEE=(5, 5, 0))
        stock.reserve("r1", "o1", {"TEE": 2}, at=AT)
        before = (stock.balances(), stock.journal(), stock.reservation("r1"))
        with pytest.raises(InvalidInput, match="only 2 are waiting"):
            stock.allocate("r1", at=AT, strategy=Greedy())
        assert (stock.balances(), stock.journal(), stock.reservation("r1")) == before

    def test_a_released_reservation_neither_allocates_nor_ships(self) -> None:
        stock = inventory(TEE=(5, 0, 0))
        stock.reserve("r1", "o1", {"TEE": 2}, at=AT)
        stock.allocate("r1", at=AT)
        released = stock.release("r1", at=AT, reason="customer canceled")
        assert stock.allocate("r1", at=AT) == released
        with pytest.raises(InvalidInput, match="released"):
            stock.ship("r1", "wh", {"TEE": 1}, shipment_id="s1", at=AT)
        assert {m.reason for m in stock.journal() if m.kind is MovementKind.RELEASE} == {
            "customer canceled"
        }

    def test_a_split_order_ships_from_two_locations(self) -> None:
        stock = inventory(TEE=(2, 3, 0))
        stock.reserve("r1", "o1", {"TEE": 4}, at=AT)
        stock.allocate("r1", at=AT)  # wh 2, taipei 2
        after_first = stock.ship("r1", "wh", {"TEE": 2}, shipment_id="s1", at=AT)
        assert after_first.status is ReservationStatus.ACTIVE
        assert after_first.outstanding("TEE") == 2
        done = stock.ship("r1", "taipei", {"TEE": 2}, shipment_id="s2", at=AT)
        assert done.status is ReservationStatus.FULFILLED
        assert [(a.location, a.units) for a in done.shipped] == [("taipei", 2), ("wh", 2)]
        assert done.allocations == ()
        # Taipei keeps 3 - 2 = 1; the warehouse is empty.
        assert (stock.summary("TEE").on_hand, stock.level("TEE", "taipei").on_hand) == (1, 1)

    def test_release_units_gives_back_the_last_location_first(self) -> None:
        stock = inventory(TEE=(2, 3, 0))
        stock.reserve("r1", "o1", {"TEE": 4}, at=AT)
        stock.allocate("r1", at=AT)  # wh 2, taipei 2
        after = stock.release_units("r1", {"TEE": 3}, reference="o1:ch-1", at=AT)
        # taipei (ranked after wh) gives back its 2 first, then wh 1: wh keeps 2 - 1 = 1
        assert [(a.location, a.units) for a in after.allocations] == [("wh", 1)]
        assert (stock.level("TEE", "taipei").reserved, stock.level("TEE", "wh").reserved) == (0, 1)
        released = [m for m in stock.journal() if m.kind is MovementKind.RELEASE]
        assert [(m.location, m.quantity, m.document) for m in released] == [
            ("taipei", 2, "o1:ch-1"),
            ("wh", 1, "o1:ch-1"),
        ]
        assert stock.balances() == replay(stock.journal())

    def test_release_units_shrinks_a_preorder_and_its_promise(self) -> None:
        stock = inventory(GAME=(1, 0, 0))
        held = stock.reserve("r1", "o1", {"GAME": 3}, at=AT)  # 1 on the shelf, 2 preordered
        assert (held.lines[0].backordered, held.lines[0].ships_by) == (2, PREORDER_DATE)
        one = stock.release_units("r1", {"GAME": 1}, reference="ch-1", at=AT)
        assert (one.lines[0].quantity, one.lines[0].backordered) == (2, 1)
        assert one.lines[0].ships_by == PREORDER_DATE  # one unit still waits for the release
        none_left = stock.release_units("r1", {"GAME": 1}, reference="ch-2", at=AT)
        assert (none_left.lines[0].backordered, none_left.lines[0].ships_by) == (0, None)
        assert stock.summary("GAME").backordered == 0  # 1 held, 1 on hand

    def test_release_units_makes_stock_available_again_without_a_stock_event(self) -> None:
        stock = inventory(TEE=(4, 0, 0))
        stock.reserve("r1", "o1", {"TEE": 4}, at=AT)
        assert [type(e) for e in stock.take_events()] == [StockRanOut]
        stock.release_units("r1", {"TEE": 2}, reference="ch-1", at=AT)
        assert stock.summary("TEE").available == 2  # 4 on hand - 2 still held
        assert stock.take_events() == ()  # running low or out is told; recovering is not

    @given(
        held=st.integers(min_value=1, max_value=6),
        shipped=st.integers(min_value=0, max_value=6),
        asked=st.integers(min_value=1, max_value=8),
    )
    def test_release_units_never_gives_back_shipped_or_unheld_units(
        self, held: int, shipped: int, asked: int
    ) -> None:
        shipped = min(shipped, held)
        stock = inventory(TEE=(3, 3, 0))
        stock.reserve("r1", "o1", {"TEE": held}, at=AT)
        stock.allocate("r1", at=AT)
        first = stock.reservation("r1").allocations[0]
        if shipped:
            stock.ship(
                "r1", first.location, {"TEE": min(shipped, first.units)}, shipment_id="s1", at=AT
            )
        sent = stock.reservation("r1").shipped_units("TEE")
        after = stock.release_units("r1", {"TEE": asked}, reference="ch-1", at=AT)
        given_back = min(asked, held - sent)
        assert after.quantity("TEE") == held - given_back
        assert after.shipped_units("TEE") == sent
        assert stock.summary("TEE").reserved == held - sent - given_back
        assert stock.summary("TEE").on_hand == 6 - sent
        assert stock.balances() == replay(stock.journal())
        if given_back == held - sent:
            assert after.status in (ReservationStatus.RELEASED, ReservationStatus.FULFILLED)

    def test_unknown_reservations_and_skus(self) -> None:
        stock = inventory()
        with pytest.raises(NotFound, match="no reservation 'r9'"):
            stock.reservation("r9")
        with pytest.raises(NotFound, match="known: 'BOOK', 'GAME', 'MUG', 'TEE'"):
            stock.summary("HAT")
        with pytest.raises(NotFound, match="stock location 'tainan'"):
            stock.level("TEE", "tainan")
        stock.receive("TEE", "wh", 2, reference="grn-1", at=AT)
        stock.reserve("r1", "o1", {"TEE": 1}, at=AT)
        stock.allocate("r1", at=AT)
        with pytest.raises(NotFound, match="no sku 'HAT'"):
            stock.ship("r1", "wh", {"TEE": 1, "HAT": 1}, shipment_id="s1", at=AT)
        assert stock.level("TEE", "wh").on_hand == 2


class TestEvents:
    def test_low_stock_is_told_again_after_stock_recovers(self) -> None:
        stock = inventory(TEE=(5, 0, 0))  # threshold 3
        stock.reserve("r1", "o1", {"TEE": 2}, at=AT)  # 5 -> 3: low
        stock.receive("TEE", "wh", 4, reference="grn-2", at=AT)  # 3 -> 7: recovered
        stock.reserve("r2", "o2", {"TEE": 5}, at=AT)  # 7 -> 2: low again
        events = stock.take_events()
        assert [(type(e), e.sequence) for e in events] == [(StockRanLow, 1), (StockRanLow, 2)]
        assert [e.available for e in events if isinstance(e, StockRanLow)] == [3, 2]

    def test_running_out_in_one_step_is_told_as_out_only(self) -> None:
        stock = inventory(TEE=(5, 0, 0))
        stock.expect("TEE", "taipei", 12, reference="po-1", at=AT)
        stock.reserve("r1", "o1", {"TEE": 5}, at=AT)
        (event,) = stock.take_events()
        assert isinstance(event, StockRanOut)
        assert (event.sku, event.incoming, event.clearance, event.occurred_at) == (
            "TEE",
            12,
            False,
            AT,
        )

    def test_a_write_off_can_run_a_sku_out(self) -> None:
        stock = inventory(MUG=(2, 0, 0))
        stock.write_off("MUG", "wh", 2, reference="dmg-1", at=AT + timedelta(hours=1))
        (event,) = stock.take_events()
        assert isinstance(event, StockRanOut)


def test_replay_rebuilds_balances_from_nothing() -> None:
    # receive 5 at wh, reserve 3, allocate 3 at wh, pick + ship 2, release 1 (allocated).
    movements = [
        Movement(kind="receive", sku="TEE", location="wh", quantity=5, reference="g", at=AT),
        Movement(kind="reserve", sku="TEE", location=None, quantity=3, reference="r", at=AT),
        Movement(kind="allocate", sku="TEE", location="wh", quantity=3, reference="r", at=AT),
        Movement(kind="pick", sku="TEE", location="wh", quantity=2, reference="r", at=AT),
        Movement(kind="ship", sku="TEE", location="wh", quantity=2, reference="r", at=AT),
        Movement(kind="release", sku="TEE", location="wh", quantity=1, reference="r", at=AT),
    ]
    balances = replay(movements)
    # on hand 5 - 2 = 3; held 3 - 2 picked - 1 released = 0; nothing allocated is left.
    assert balances.on_hand == {("TEE", "wh"): 3}
    assert (balances.allocated, balances.reserved, balances.incoming) == ({}, {}, {})
