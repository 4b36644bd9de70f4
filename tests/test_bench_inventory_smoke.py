"""Smoke test of bench/inventory.py: the quick run reports every figure and its facts hold.

Timing ratios are not asserted (timing is not a test); what must hold on any
machine is: every figure is reported, the structural counts are met, the
plain baseline refuses what the store refuses, and the allocation case is
the worst one for the default strategy.
"""

from __future__ import annotations

import math

import pytest
from bench.__main__ import render
from bench.inventory import (
    FULL_PLAN,
    QUICK_PLAN,
    SIZES,
    PerSecond,
    PlainStock,
    allocation_store,
    plan_for,
    reservation_store,
    run_inventory,
)
from bench.kernel import FULL, QUICK, Figure, Section

from fourflows.errors import InsufficientStock

EXPECTED = {
    "inventory.reserve_vs_dict",
    "inventory.reserve_100_vs_1",
    "inventory.reserve_rate",
    "inventory.oversold",
    "inventory.allocate_10_vs_1",
    "inventory.allocate_100_vs_1",
    "inventory.allocate_rate_100",
    "inventory.replay_mismatch",
}


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return run_inventory(QUICK)


def _figures(sections: list[Section]) -> dict[str, Figure]:
    return {figure.key: figure for section in sections for figure in section.figures}


def test_the_report_has_every_figure(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert set(figures) == EXPECTED
    report = render(sections, QUICK)
    for figure in figures.values():
        assert math.isfinite(figure.value)
        assert figure.value >= 0
        assert figure.label in report
    for size in SIZES:
        assert f"allocate, {size} location" in report


def test_the_structural_facts_hold(sections: list[Section]) -> None:
    figures = _figures(sections)
    for key in ("inventory.oversold", "inventory.replay_mismatch"):
        assert figures[key].structural
        assert figures[key].value == 0
        assert figures[key].verdict == "PASS"


def test_scaling_figures_carry_linear_aims(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert figures["inventory.allocate_10_vs_1"].aim == "<= 10.00x"
    assert figures["inventory.allocate_100_vs_1"].aim == "<= 100.00x"
    assert figures["inventory.reserve_100_vs_1"].aim == "<= 1.50x"
    assert figures["inventory.reserve_vs_dict"].verdict == "ref"
    rate = figures["inventory.reserve_rate"]
    assert isinstance(rate, PerSecond)
    assert rate.shown.endswith(" /s")


def test_the_plans() -> None:
    assert plan_for(QUICK) is QUICK_PLAN
    assert plan_for(FULL) is FULL_PLAN


def test_the_plain_baseline_refuses_a_short_line_whole() -> None:
    stock = PlainStock(3)
    stock.reserve("r1", {"TEE": 1, "MUG": 2})
    with pytest.raises(InsufficientStock):
        stock.reserve("r2", {"TEE": 1, "MUG": 2})  # MUG: 1 left, 2 asked
    assert stock.available == {"TEE": 2, "MUG": 1}


def test_only_the_last_location_can_take_a_whole_order() -> None:
    store, ids = allocation_store(10, 3)
    assert store.summary("MUG").on_hand == store.level("MUG", "loc-009").on_hand == 6
    reservation = store.allocate(ids[0], at=store.reservation(ids[0]).placed_at)
    assert [a.location for a in reservation.allocations] == ["loc-009"]
    assert reservation_store(100, 5).summary("TEE").on_hand == 5
