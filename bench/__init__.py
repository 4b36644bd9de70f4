"""Benchmarks for fourflows: figures are ratios measured side by side in one run.

Run them with ``make bench`` (or ``python -m bench``; ``python -m bench --quick``
for the few-second smoke run that CI uses). Each figure is printed with the
aim it is checked against and PASS or MISS. Timing ratios are not tests and
never fail a run; the structural facts (no machine built on load, no
aggregate kept alive by a machine) do.
"""
