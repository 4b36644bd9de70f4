"""Smoke test of bench/: the quick run reports every figure and its structural facts hold.

Timing ratios are not asserted here: timing is not a test. What is asserted is
what must hold on any machine: loading builds no machine, a dropped aggregate
is freed at once, the baseline has Refund's fields, pricing is deterministic
and its fixtures do real work, every timed order lifecycle ends where it must
with one event per step and builds no machine, and the report carries every
figure.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import attrs
import pytest
from bench.__main__ import main, render, run_everything, structural_failures
from bench.kernel import FULL, QUICK, Figure, PlainRefund, Section, Settings
from bench.lifecycle import AT as AT_LIFECYCLE
from bench.lifecycle import FULL_PLAN as LIFECYCLE_FULL
from bench.lifecycle import (
    LIFECYCLE_EVENTS,
    PlainOrder,
    PlainPayment,
    Rate,
    Refused,
    Share,
    domain_lifecycle,
    plain_lifecycle,
    plain_quote,
    quote,
)
from bench.lifecycle import QUICK_PLAN as LIFECYCLE_QUICK
from bench.lifecycle import plan_for as lifecycle_plan_for
from bench.pricing import FULL_PLAN, QUICK_PLAN, Context, PricingPlan, build_case, plan_for

from fourflows.cash.refund import Refund
from fourflows.commerce.promotions import PromotionKind
from test_bench_inventory_smoke import EXPECTED as INVENTORY_FIGURES

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
    "lifecycle.domain_vs_plain",
    "lifecycle.domain_rate",
    "lifecycle.plain_rate",
    "lifecycle.shop_rate",
    "lifecycle.shop_vs_domain",
    "lifecycle.shop_vs_steps",
    "lifecycle.wrong_end",
    "lifecycle.unchecked",
    "lifecycle.machines_built",
    "lifecycle.probe_self_check",
    "lifecycle.dispatch_share",
    "lifecycle.fire_share",
    "lifecycle.start_share",
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
    assert set(figures) == EXPECTED_FIGURES | _pricing_keys(QUICK_PLAN) | INVENTORY_FIGURES
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


def test_every_timed_lifecycle_ends_as_it_must(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert figures["lifecycle.wrong_end"].value == 0
    assert figures["lifecycle.unchecked"].value == 0
    assert figures["lifecycle.probe_self_check"].value == 1  # the probe does see a build
    assert figures["lifecycle.machines_built"].value == 0


def test_the_lifecycle_figures(sections: list[Section]) -> None:
    figures = _figures(sections)
    ratio = figures["lifecycle.domain_vs_plain"]
    assert ratio.aim == "<= 10.00x"
    assert ratio.verdict in {"PASS", "MISS"}
    assert ratio.value > 0
    for key in ("shop_vs_domain", "shop_vs_steps"):
        assert figures[f"lifecycle.{key}"].verdict == "ref"
        assert figures[f"lifecycle.{key}"].value > 0
    report = render(sections, QUICK)
    for key in ("domain_rate", "plain_rate", "shop_rate"):
        rate = figures[f"lifecycle.{key}"]
        assert isinstance(rate, Rate)
        assert (rate.verdict, rate.structural) == ("ref", False)
        assert rate.shown.endswith(" /s")
        assert rate.shown in report
    shares = [figures[f"lifecycle.{key}"] for key in ("dispatch_share", "fire_share")]
    for share in shares:
        assert isinstance(share, Share)
        assert 0 < share.value <= 100
        assert share.shown in report
    assert shares[0].value <= shares[1].value  # dispatch is part of fire
    assert "Order.place" in report


def test_the_lifecycle_plans() -> None:
    assert lifecycle_plan_for(QUICK) is LIFECYCLE_QUICK
    assert lifecycle_plan_for(FULL) is LIFECYCLE_FULL


def test_the_plain_lifecycle_does_the_same_steps() -> None:
    priced = quote()
    order, payment = domain_lifecycle(priced, "t")
    plain_order, plain_payment = plain_lifecycle(plain_quote(priced), "t")
    assert (plain_order.state, plain_payment.state) == (order.state, payment.state)
    assert (len(order.pending_events), len(payment.pending_events)) == LIFECYCLE_EVENTS
    assert (len(plain_order.events), len(plain_payment.events)) == LIFECYCLE_EVENTS
    assert plain_order.total == order.totals.total.amount == payment.totals.captured.amount


def test_the_plain_contender_checks_amounts() -> None:
    lines, shipping, total = plain_quote(quote())
    with pytest.raises(Refused):
        PlainOrder("o", (lines, shipping, total + 1), AT_LIFECYCLE)
    payment = PlainPayment("p", "o", total, AT_LIFECYCLE)
    with pytest.raises(Refused):
        payment.authorize(total + 1, "ref", AT_LIFECYCLE)
    payment.authorize(total, "ref", AT_LIFECYCLE)
    with pytest.raises(Refused):
        payment.capture("c", total + 1, "ref", AT_LIFECYCLE)
    order = PlainOrder("o", (lines, shipping, total), AT_LIFECYCLE)
    with pytest.raises(Refused):
        order.mark_paid(total - 1, total - total, AT_LIFECYCLE)
    with pytest.raises(Refused):
        order.complete(AT_LIFECYCLE)  # no move from pending_payment
