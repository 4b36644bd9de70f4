"""Smoke test of bench/: the quick run reports every figure and its structural facts hold.

Timing ratios are not asserted here: timing is not a test. What is asserted is
what must hold on any machine: loading builds no machine, a dropped aggregate
is freed at once, the baseline has Refund's fields, and the report carries
every figure.
"""

from __future__ import annotations

import gc
import math
import tracemalloc

import attrs
import pytest
from bench.__main__ import main, render, structural_failures
from bench.kernel import QUICK, Figure, PlainRefund, Section, Settings, run_all

from fourflows.cash.refund import Refund

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


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return run_all(QUICK)


def _figures(sections: list[Section]) -> dict[str, Figure]:
    return {figure.key: figure for section in sections for figure in section.figures}


def test_the_report_has_every_figure(sections: list[Section]) -> None:
    figures = _figures(sections)
    assert set(figures) == EXPECTED_FIGURES
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

    monkeypatch.setattr("bench.__main__.run_all", reuse)
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
    monkeypatch.setattr("bench.__main__.run_all", lambda settings: [broken])
    assert main(["--quick"]) == 1
    assert "do not hold: aggregates alive" in capsys.readouterr().out
