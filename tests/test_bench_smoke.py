"""Smoke test of bench/: the quick run reports every figure and its structural facts hold.

Timing ratios are not asserted here: timing is not a test. What is asserted is
what must hold on any machine: loading builds no machine, a dropped aggregate
is freed at once, the baseline has Refund's fields, pricing is deterministic
and its fixtures do real work, and the report carries every figure.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import attrs
import pytest
from bench.__main__ import main, render, run_everything, structural_failures
from bench.kernel import FULL, QUICK, Figure, PlainRefund, Section, Settings
from bench.pricing import FULL_PLAN, QUICK_PLAN, Context, PricingPlan, build_case, plan_for

from fourflows.cash.refund import Refund
from fourflows.commerce.promotions import PromotionKind

EXPECTED_FIGURES = {
    "transition.vs_transitions",
    "transition.vs_dict",
    "transition.choose",
    "transition.event",
    "transition.apply",
    "transition.apply_vs_plain",
    "load.vs_slots",
    "load.machines_built",
    "load.machines_built_firing",
    "load.probe_self_check",
    "memory.growth",
    "memory.alive_after_drop",
}


def _pricing_keys(plan: PricingPlan) -> set[str]:
    """The figures each pricing section reports for ``plan``'s grid."""
    (l0, l1, l2), (p0, p1, p2) = plan.lines, plan.promotions
    keys = {"pricing.ship.unshipped"}
    for variant in ("tax", "ship"):
        keys |= {
            f"pricing.{variant}.lines.{a}-{b}.p{p}"
            for a, b in ((l0, l1), (l1, l2))
            for p in plan.promotions
        }
        keys |= {
            f"pricing.{variant}.promotions.{a}-{b}.l{n}"
            for a, b in ((p0, p1), (p1, p2))
            for n in plan.lines
        }
        keys |= {
            f"pricing.{variant}.per_unit.{l0}x{p0}-{l1}x{p1}",
            f"pricing.{variant}.per_unit.{l1}x{p1}-{l2}x{p2}",
            f"pricing.{variant}.peer",
            f"pricing.{variant}.changed",
            f"pricing.{variant}.idle",
        }
    return keys


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return run_everything(QUICK)


def _figures(sections: list[Section]) -> dict[str, Figure]:
    return {figure.key: figure for section in sections for figure in section.figures}


def test_the_report_has_every_figure(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert set(figures) == EXPECTED_FIGURES | _pricing_keys(QUICK_PLAN)
    report = render(sections, QUICK)
    for figure in figures.values():
        assert figure.label in report
        assert math.isfinite(figure.value)
    for section in sections:
        assert section.title in report
        for row in section.rows:
            assert row[0].strip() in report


def test_timing_figures_carry_aims_and_verdicts(sections: list[Section]) -> None:
    figures = _figures(sections)
    for key in ("transition.vs_transitions", "load.vs_slots", "memory.growth"):
        assert figures[key].aim.startswith("<=")
        assert figures[key].verdict in {"PASS", "MISS"}
        assert figures[key].value > 0
    assert figures["transition.vs_dict"].verdict == "ref"
    steps = [f for key, f in figures.items() if key.startswith("pricing.") and f.unit == "x"]
    assert len(steps) == 28
    for figure in steps:
        assert figure.aim.startswith("<=")
        assert figure.verdict in {"PASS", "MISS"}
        assert figure.value > 0


def test_the_peer_time_is_context_not_a_claim(sections: list[Section]) -> None:
    report = render(sections, QUICK)
    for variant in ("tax", "ship"):
        peer = _figures(sections)[f"pricing.{variant}.peer"]
        assert isinstance(peer, Context)
        assert peer.verdict == "ref"
        assert not peer.structural
        assert peer.shown.endswith(" ms")
        assert peer.shown in report
        assert "110–130 ms" in peer.detail
    assert "20 lines, 5 promotions" in report


def test_pricing_is_deterministic_and_does_real_work(sections: list[Section]) -> None:
    figures = _figures(sections)
    for key in ("changed", "idle"):
        assert figures[f"pricing.tax.{key}"].value == 0
        assert figures[f"pricing.ship.{key}"].value == 0
    assert figures["pricing.ship.unshipped"].value == 0


def test_the_pricing_grids() -> None:
    assert plan_for(QUICK) is QUICK_PLAN
    assert plan_for(FULL) is FULL_PLAN
    assert (FULL_PLAN.lines, FULL_PLAN.promotions, FULL_PLAN.peer) == (
        (5, 50, 500),
        (1, 20, 200),
        (20, 5),
    )


def test_the_promotion_mix_is_realistic() -> None:
    case = build_case(5, 20, shipping=True)
    assert len(case.cart.lines) == 5
    assert len(case.promotions) == 20
    assert {p.kind for p in case.promotions} == set(PromotionKind)
    assert sum(p.requires_coupon for p in case.promotions) == len(case.coupons) == 2
    assert case.shipping is not None
    assert case.ship_to is not None
    quote = case.quote()
    assert len(quote.lines) == 5
    applied = {a.promotion_id for a in quote.adjustments}
    ineligible = [p for p in case.promotions if not p.is_eligible(quote.context)]
    assert len(applied) >= 5
    assert len(ineligible) >= 3
    assert quote.promotions.applied_coupons  # coupon-only promotions do run
    assert [r.code for r in quote.rejected_coupons] == ["NOSUCHCODE"]
    assert quote.shipping is not None
    assert len(build_case(50, 200, shipping=False).promotions) == 200


def test_the_plain_baseline_has_refunds_fields() -> None:
    assert {f.alias for f in attrs.fields(Refund)} == set(PlainRefund.__slots__)


def test_loading_builds_no_machine(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert figures["load.probe_self_check"].value == 1  # the probe does see a build
    assert figures["load.machines_built"].value == 0
    assert figures["load.machines_built_firing"].value == 0


def test_a_dropped_aggregate_is_freed_without_gc(sections: list[Section]) -> None:
    assert _figures(sections)["memory.alive_after_drop"].value == 0
    assert structural_failures(sections) == []


def test_the_run_leaves_gc_and_tracemalloc_as_found(sections: list[Section]) -> None:
    assert sections
    assert gc.isenabled()
    assert not tracemalloc.is_tracing()


def test_main_prints_the_report_and_exits_zero(
    sections: list[Section], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[Settings] = []

    def reuse(settings: Settings) -> list[Section]:
        asked.append(settings)
        return sections

    monkeypatch.setattr("bench.__main__.run_everything", reuse)
    assert main(["--quick"]) == 0
    assert asked == [QUICK]
    out = capsys.readouterr().out
    assert "quick run" in out
    assert "structural facts hold" in out


def test_main_exits_nonzero_when_a_structural_fact_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = Section("memory", "3. Memory", "made up", ("population", "bytes"))
    broken.figures.append(
        Figure("memory.alive_after_drop", "aggregates alive", 1, "count", "= 0", False)
    )
    monkeypatch.setattr("bench.__main__.run_everything", lambda settings: [broken])
    assert main(["--quick"]) == 1
    assert "do not hold: aggregates alive" in capsys.readouterr().out
