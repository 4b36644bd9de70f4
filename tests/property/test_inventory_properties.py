"""Properties of the allocation plans: never more than wanted or free, one location when one can."""

from hypothesis import given
from hypothesis import strategies as st

from fourflows.logistics.inventory import ByDistance, ByPriority, StockLocation, allocate_in_order

SKUS = ("TEE", "MUG", "BOOK")
LOCATION_IDS = ("a", "b", "c", "d")

wanted_units = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1)
free_units = st.fixed_dictionaries(
    {loc: st.dictionaries(st.sampled_from(SKUS), st.integers(0, 8)) for loc in LOCATION_IDS}
)
orders = st.permutations(LOCATION_IDS)


@given(wanted_units, free_units, orders)
def test_a_plan_takes_what_it_can_and_no_more(
    wanted: dict[str, int], free: dict[str, dict[str, int]], order: list[str]
) -> None:
    plan = allocate_in_order(wanted, free, order)
    for location, taken in plan.items():
        for sku, units in taken.items():
            assert 0 < units <= free[location].get(sku, 0)
    for sku, units in wanted.items():
        planned = sum(taken.get(sku, 0) for taken in plan.values())
        # Everything wanted, or every free unit there is.
        assert planned == min(units, sum(stock.get(sku, 0) for stock in free.values()))


@given(wanted_units, free_units, orders)
def test_one_location_when_one_can_take_everything(
    wanted: dict[str, int], free: dict[str, dict[str, int]], order: list[str]
) -> None:
    whole = [loc for loc in order if all(free[loc].get(s, 0) >= n for s, n in wanted.items())]
    plan = allocate_in_order(wanted, free, order)
    if whole:
        assert plan == {whole[0]: wanted}
    else:
        # Split: locations are used in rank order, each emptied of a sku before the next is used.
        used = [loc for loc in order if loc in plan]
        for sku in wanted:
            takers = [loc for loc in used if plan[loc].get(sku)]
            for earlier in takers[:-1]:
                assert plan[earlier][sku] == free[earlier][sku]


@given(
    wanted_units,
    free_units,
    st.lists(st.integers(-3, 3), min_size=4, max_size=4),
    st.lists(st.integers(0, 500), min_size=4, max_size=4),
)
def test_the_strategies_rank_then_plan(
    wanted: dict[str, int],
    free: dict[str, dict[str, int]],
    priorities: list[int],
    distances: list[int],
) -> None:
    locations = [
        StockLocation(id=loc, priority=p) for loc, p in zip(LOCATION_IDS, priorities, strict=True)
    ]
    by_priority = sorted(LOCATION_IDS, key=lambda loc: (priorities[LOCATION_IDS.index(loc)], loc))
    assert ByPriority().plan(wanted, free, locations) == allocate_in_order(
        wanted, free, by_priority
    )
    km = dict(zip(LOCATION_IDS, distances, strict=True))
    nearest = sorted(
        LOCATION_IDS, key=lambda loc: (km[loc], priorities[LOCATION_IDS.index(loc)], loc)
    )
    assert ByDistance(km).plan(wanted, free, locations) == allocate_in_order(wanted, free, nearest)
