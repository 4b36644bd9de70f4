"""Run every benchmark and print a report: ``python -m bench [--quick]``."""

from __future__ import annotations

import argparse
import textwrap
import time
from collections.abc import Sequence

from bench.inventory import run_inventory
from bench.kernel import FULL, QUICK, Section, Settings, environment, run_all
from bench.lifecycle import run_lifecycle
from bench.pricing import run_pricing

WIDTH = 100


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    """Columns padded to their widest cell; ``align`` has one 'l' or 'r' per column."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align, strict=True)
        ]
        lines.append("   " + "  ".join(cells).rstrip())
    return lines


def render_section(section: Section) -> list[str]:
    lines = [section.title]
    lines += textwrap.wrap(section.method, WIDTH, initial_indent="   ", subsequent_indent="   ")
    lines.append("")
    lines += _table(section.header, section.rows, "l" + "r" * (len(section.header) - 1))
    lines.append("")
    rows = [
        (figure.label, figure.shown, figure.aim, figure.verdict, figure.detail)
        for figure in section.figures
    ]
    lines += _table(("figure", "value", "aim", "result", "context"), rows, "lrlll")
    return lines


def run_everything(settings: Settings) -> list[Section]:
    """Every section: the kernel's, price_cart's, the order-and-payment lifecycle's, stock's."""
    return [
        *run_all(settings),
        *run_pricing(settings),
        *run_lifecycle(settings),
        *run_inventory(settings),
    ]


def render(sections: Sequence[Section], settings: Settings, seconds: float | None = None) -> str:
    """The whole report as text."""
    lines = [
        f"fourflows benchmarks — {settings.name} run",
        environment(),
        "Every claim is a ratio of contenders measured side by side in this run, or a count;",
        "absolute times are context only. 'ref' figures are references with no aim.",
        "",
    ]
    for section in sections:
        lines += render_section(section)
        lines.append("")
    figures = [figure for section in sections for figure in section.figures]
    aims = [f for f in figures if f.met is not None and not f.structural]
    facts = [f for f in figures if f.structural]
    summary = (
        f"Summary: {sum(bool(f.met) for f in aims)} of {len(aims)} timing/memory aims met; "
        f"{sum(bool(f.met) for f in facts)} of {len(facts)} structural facts hold."
    )
    if seconds is not None:
        summary += f" Ran in {seconds:.1f} s."
    lines.append(summary)
    return "\n".join(lines)


def structural_failures(sections: Sequence[Section]) -> list[str]:
    """Labels of the structural facts that did not hold (timing misses never count)."""
    return [
        figure.label
        for section in sections
        for figure in section.figures
        if figure.structural and not figure.met
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Benchmark the fourflows kernel, price_cart and the order-and-payment lifecycle; "
            "figures are ratios."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of a few seconds (what CI runs); its figures are rough",
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    start = time.perf_counter()
    sections = run_everything(settings)
    print(render(sections, settings, time.perf_counter() - start))
    failed = structural_failures(sections)
    if failed:
        print("Structural facts that do not hold: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
