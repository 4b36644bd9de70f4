"""Properties of money that hold for every amount, currency and weighting."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from fourflows import (
    Money,
    Precision,
    Rounding,
    allocate,
    round_money,
    sum_money,
)
from fourflows.money import allocate_units
from fourflows.testing.strategies import currencies, money, weights


@given(money(), weights())
def test_allocated_parts_sum_exactly_to_the_whole(total: Money, ws: list[int | Decimal]) -> None:
    parts = allocate(total, ws)
    assert len(parts) == len(ws)
    assert sum_money(parts) == total


@given(money(), weights())
def test_every_part_is_a_whole_number_of_minor_units(total: Money, ws: list[int | Decimal]) -> None:
    for part in allocate(total, ws):
        assert part.round() == part
        assert part.amount.as_tuple().exponent == -Precision.minor_unit(total.currency).exponent


@given(money(), weights())
def test_a_zero_weight_gets_zero(total: Money, ws: list[int | Decimal]) -> None:
    for weight, part in zip(ws, allocate(total, ws), strict=True):
        if weight == 0:
            assert part.amount == 0


@given(money(), weights())
def test_negative_totals_mirror_positive_ones(total: Money, ws: list[int | Decimal]) -> None:
    assert allocate(-total, ws) == [-part for part in allocate(total, ws)]


@given(money(), weights())
def test_allocation_is_deterministic(total: Money, ws: list[int | Decimal]) -> None:
    assert allocate(total, ws) == allocate(total, list(ws))


@given(money(min_units=0), weights())
def test_each_part_is_within_one_unit_of_its_exact_share(
    total: Money, ws: list[int | Decimal]
) -> None:
    unit = Precision.minor_unit(total.currency).quantum
    whole = sum(Decimal(w) for w in ws)
    for weight, part in zip(ws, allocate(total, ws), strict=True):
        exact = total.amount * Decimal(weight) / whole
        assert abs(part.amount - exact) < unit


@given(money(min_units=0), st.lists(st.integers(1, 100), min_size=1, max_size=10))
def test_larger_weights_never_get_smaller_parts(total: Money, ws: list[int]) -> None:
    parts = allocate(total, ws)
    for i in range(len(ws)):
        for j in range(len(ws)):
            if ws[i] > ws[j]:
                assert parts[i] >= parts[j]


@given(money(extra_digits=3))
def test_rounding_moves_less_than_half_a_step_or_exactly_half(value: Money) -> None:
    rounded = round_money(value)
    half = Precision.minor_unit(value.currency).quantum / 2
    assert abs(rounded.amount - value.amount) <= half
    assert round_money(rounded) == rounded


@given(money(extra_digits=3), st.sampled_from(list(Rounding)))
def test_rounding_mirrors_around_zero(value: Money, mode: Rounding) -> None:
    assert round_money(-value, rounding=mode) == -round_money(value, rounding=mode)


@given(money(extra_digits=2))
def test_cash_rounding_lands_on_a_cash_step(value: Money) -> None:
    step = Precision.cash(value.currency)
    cash = round_money(value, step)
    assert (cash.amount / step.quantum) % 1 == 0
    assert abs(cash.amount - value.amount) <= step.quantum / 2


@given(currencies(), st.data())
def test_sum_matches_pairwise_addition(code: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(money(currency=code), max_size=20))
    total = Money(0, code)
    for value in values:
        total = total + value
    assert sum_money(values, currency=code) == total


@given(money())
def test_json_round_trip(value: Money) -> None:
    assert Money.from_json(value.to_json()) == value


unit_totals = st.integers(min_value=-(10**9), max_value=10**9)
unit_weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(
    any
)


@given(unit_totals, unit_weights)
def test_allocated_units_sum_exactly_and_zero_weights_get_zero(total: int, ws: list[int]) -> None:
    parts = allocate_units(total, ws)
    assert len(parts) == len(ws)
    assert sum(parts) == total
    assert all(part == 0 for weight, part in zip(ws, parts, strict=True) if weight == 0)


@given(unit_totals, unit_weights)
def test_allocated_units_are_within_one_of_the_exact_share(total: int, ws: list[int]) -> None:
    for weight, part in zip(ws, allocate_units(total, ws), strict=True):
        assert abs(part - Fraction(total * weight, sum(ws))) < 1


@given(unit_totals, unit_weights)
def test_allocated_units_mirror_and_break_ties_by_order(total: int, ws: list[int]) -> None:
    parts = allocate_units(total, ws)
    assert allocate_units(-total, ws) == [-part for part in parts]
    for i in range(len(ws)):
        for j in range(i + 1, len(ws)):
            if ws[i] == ws[j]:
                # Equal weights: the earlier part gets the extra unit first.
                assert abs(parts[i]) - abs(parts[j]) in (0, 1)


@given(currencies(), unit_totals, unit_weights)
def test_allocate_splits_money_by_the_same_rule(code: str, total: int, ws: list[int]) -> None:
    # Money splits exactly as its count of minor units does.
    parts = allocate(Money.from_minor_units(total, code), ws)
    assert parts == [Money.from_minor_units(units, code) for units in allocate_units(total, ws)]
