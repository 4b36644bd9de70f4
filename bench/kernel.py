"""Benchmarks of the state-machine kernel: transition cost, loading cost and memory.

Every timing figure is a ratio of two contenders timed side by side in the same
run: each round times one batch of every contender, in an order that rotates
from round to round, with the garbage collector paused (as `timeit` does) and
the inputs built before the clock starts. A contender's time is its best batch
(the median is shown too); the ratio divides best by best, and the median of
the per-round ratios is shown next to it as a check on noise.

The structural facts — loading builds no machine, a dropped aggregate is freed
at once — are counts, not timings, and must hold exactly.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import tracemalloc
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any
from unittest import mock

import transitions

from fourflows.cash.refund import REFUND_MACHINE, Refund, RefundSucceeded
from fourflows.events import DomainEvent
from fourflows.machines import StateMachine, _record
from fourflows.money import Money

__all__ = [
    "FULL",
    "QUICK",
    "Figure",
    "PlainRefund",
    "Section",
    "Settings",
    "environment",
    "run_all",
]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Settings:
    """How much work each measurement does."""

    name: str
    batch: int  # operations per timed batch
    rounds: int  # timed batches per contender
    probe_loads: int  # loads watched for machine construction
    memory_small: int  # live aggregates, first population
    memory_large: int  # live aggregates, second population


FULL = Settings(
    "full", batch=2_000, rounds=25, probe_loads=10_000, memory_small=10_000, memory_large=100_000
)
QUICK = Settings(
    "quick", batch=500, rounds=3, probe_loads=1_000, memory_small=1_000, memory_large=10_000
)


@dataclass(frozen=True)
class Figure:
    """One claim: a measured value, the aim it is checked against, and whether it met it.

    ``met`` is None for a reference figure that has no aim. A count (unit
    ``"count"``) is a structural fact that must hold exactly; timing and memory
    figures never fail a run.
    """

    key: str
    label: str
    value: float
    unit: str  # "x" (a ratio) or "count"
    aim: str
    met: bool | None
    detail: str = ""

    @property
    def structural(self) -> bool:
        return self.unit == "count"

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "ref"
        return "PASS" if self.met else "MISS"

    @property
    def shown(self) -> str:
        return f"{self.value:,.0f}" if self.structural else f"{self.value:.2f}x"


@dataclass
class Section:
    """One measurement: how it was done, a table of absolute numbers, and its figures."""

    key: str
    title: str
    method: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def _at_most(key: str, label: str, value: float, limit: float, detail: str = "") -> Figure:
    return Figure(key, label, value, "x", f"<= {limit:.2f}x", value <= limit, detail)


def _reference(key: str, label: str, value: float, detail: str = "") -> Figure:
    return Figure(key, label, value, "x", "reference", None, detail)


def _exactly(key: str, label: str, value: int, expected: int) -> Figure:
    return Figure(key, label, value, "count", f"= {expected}", value == expected)


# --------------------------------------------------------------------------- timing


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause automatic garbage collection, restoring whatever was there before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class Batch:
    """Timed work over inputs built beforehand, and an untimed check that it was done."""

    work: Callable[[], object]
    done: Callable[[], bool]


# A contender gets the batch size, builds its inputs untimed, and returns the batch.
Prepare = Callable[[int], Batch]


@dataclass(frozen=True)
class Race:
    """Per-operation times in ns, one per round, for each contender."""

    samples: Mapping[str, list[float]]

    def best(self, name: str) -> float:
        return min(self.samples[name])

    def ratio(self, name: str, baseline: str) -> float:
        return self.best(name) / self.best(baseline)

    def detail(self, name: str, baseline: str) -> str:
        pairs = zip(self.samples[name], self.samples[baseline], strict=True)
        return f"median of per-round ratios {statistics.median(a / b for a, b in pairs):.2f}x"

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (name, f"{min(times) / 1000:.3f}", f"{statistics.median(times) / 1000:.3f}")
            for name, times in self.samples.items()
        ]


def _race(contenders: Sequence[tuple[str, Prepare]], settings: Settings) -> Race:
    """Time rounds of batches of each contender, checking after each that it did its work."""
    samples: dict[str, list[float]] = {name: [] for name, _ in contenders}
    gc.collect()  # once: the batches run with gc paused, so leftovers cannot cost them time
    for round_ in range(settings.rounds):
        turn = round_ % len(contenders)
        for name, prepare in (*contenders[turn:], *contenders[:turn]):
            prepared = prepare(settings.batch)
            with _gc_paused():
                start = time.perf_counter_ns()
                prepared.work()
                elapsed = time.perf_counter_ns() - start
            samples[name].append(elapsed / settings.batch)
            if not prepared.done():
                raise AssertionError(f"{name!r} did not do its work; its figures would be void")
    return Race(samples)


# --------------------------------------------------------------------------- fixtures

AT = datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
PAYMENT = "pay-0001"
REASON = "returned item"
PROVIDER_REF = "re_0001"
AMOUNT = Money("350", "TWD")


class PlainRefund:
    """The baseline object: a plain ``__slots__`` class with Refund's fields."""

    __slots__ = (
        "amount",
        "id",
        "outcome",
        "payment_id",
        "pending",
        "provider_ref",
        "reason",
        "state",
        "version",
    )

    def __init__(
        self, *, id: str, state: str, version: int, payment_id: str, amount: Money, reason: str
    ) -> None:
        self.id = id
        self.state = state
        self.version = version
        self.pending: list[DomainEvent] = []
        self.payment_id = payment_id
        self.amount = amount
        self.reason = reason
        self.provider_ref: str | None = None
        self.outcome: str | None = None


def _ids(count: int) -> list[str]:
    return [f"refund-{i:07d}" for i in range(count)]


def _refund(id_: str, state: str = "pending", version: int = 1) -> Refund:
    return Refund(
        id=id_, state=state, version=version, payment_id=PAYMENT, amount=AMOUNT, reason=REASON
    )


def _plain(id_: str, state: str = "pending", version: int = 1) -> PlainRefund:
    return PlainRefund(
        id=id_, state=state, version=version, payment_id=PAYMENT, amount=AMOUNT, reason=REASON
    )


def _all_in(objects: Sequence[PlainRefund | Refund], state: str) -> Callable[[], bool]:
    return lambda: bool(objects) and all(obj.state == state for obj in objects)


# --------------------------------------------------------------------------- 1. transitions

DICT = "dict table[(state, event)] + attribute set"
BARE = "transitions static machine: events[e].trigger(obj)"
KERNEL = "fourflows kernel: refund._fire('succeed', ...)"
CHOOSE = "  part: StateMachine._choose (table lookup + guard)"
EVENT = "  part: machines._record(RefundSucceeded, ...) (the move's event)"
APPLY = "  part: Aggregate._apply (state, version, append)"
APPLY_PLAIN = "  same 3 writes on a plain __slots__ object"
TRANSITION_AIM = 1.30


def _transition_contenders() -> list[tuple[str, Prepare]]:
    """Each contender moves fresh pending refunds (or plain objects) to 'succeeded'."""
    spec = REFUND_MACHINE.spec
    table = {(source, move.event): move.dest for move in spec.transitions for source in move.source}
    bare = transitions.Machine(
        model=None,
        states=list(spec.states),
        initial=spec.initial,
        transitions=[
            {"trigger": move.event, "source": list(move.source), "dest": move.dest}
            for move in spec.transitions
        ],
        auto_transitions=False,
        name="bench_refund",
    ).events["succeed"]
    data = {"provider_ref": PROVIDER_REF}
    recorded = RefundSucceeded(aggregate_id="refund-0", sequence=2, occurred_at=AT, **data)

    def dict_lookup(count: int) -> Batch:
        objects = [_plain(id_) for id_ in _ids(count)]

        def work() -> None:
            for obj in objects:
                obj.state = table[(obj.state, "succeed")]

        return Batch(work, _all_in(objects, "succeeded"))

    def bare_trigger(count: int) -> Batch:
        objects = [_plain(id_) for id_ in _ids(count)]

        def work() -> None:
            for obj in objects:
                bare.trigger(obj)

        return Batch(work, _all_in(objects, "succeeded"))

    def kernel(count: int) -> Batch:
        refunds = [_refund(id_) for id_ in _ids(count)]

        def work() -> None:
            for refund in refunds:
                refund._fire("succeed", at=AT, provider_ref=PROVIDER_REF)

        return Batch(work, _all_in(refunds, "succeeded"))

    def choose(count: int) -> Batch:
        refunds = [_refund(id_) for id_ in _ids(count)]
        chosen: list[object] = []

        def work() -> None:
            for refund in refunds:
                candidate = REFUND_MACHINE._choose(refund, "succeed", data, AT)
            chosen.append(candidate)

        return Batch(work, lambda: len(chosen) == 1)

    def event(count: int) -> Batch:
        refunds = [_refund(id_) for id_ in _ids(count)]
        made: list[DomainEvent] = []

        def work() -> None:
            for refund in refunds:
                built = _record(RefundSucceeded, refund.id, 2, AT, data)
            made.append(built)

        return Batch(work, lambda: len(made) == 1)

    def apply(count: int) -> Batch:
        refunds = [_refund(id_) for id_ in _ids(count)]

        def work() -> None:
            for refund in refunds:
                refund._apply("succeeded", recorded)

        return Batch(work, _all_in(refunds, "succeeded"))

    def apply_plain(count: int) -> Batch:
        objects = [_plain(id_) for id_ in _ids(count)]

        def work() -> None:
            for obj in objects:
                obj.state = "succeeded"
                obj.version = recorded.sequence
                obj.pending.append(recorded)

        return Batch(work, _all_in(objects, "succeeded"))

    return [
        (DICT, dict_lookup),
        (BARE, bare_trigger),
        (KERNEL, kernel),
        (CHOOSE, choose),
        (EVENT, event),
        (APPLY, apply),
        (APPLY_PLAIN, apply_plain),
    ]


def bench_transitions(settings: Settings) -> Section:
    """1. Per-transition cost of the kernel against a dict table and bare `transitions`."""
    section = Section(
        key="transition",
        title="1. Per-transition cost, and where it goes",
        method=(
            f"'succeed' on fresh pending refunds (plain objects for the baselines), "
            f"{settings.batch:,} per batch, {settings.rounds} rounds, contenders rotated each "
            "round, gc paused, inputs built untimed; every batch is checked to have done its "
            "work. The kernel move checks a guard, builds RefundSucceeded and applies it; the "
            "baselines only set the state. The parts are the kernel move's three steps timed "
            "alone (Refund.succeed's own idempotency check is not timed); the event is built as "
            "the move builds it, by machines._record (id, sequence and time checked in a few "
            "comparisons, then the slots filled), not by the validating constructor a caller uses."
        ),
        header=("contender", "best µs/move", "median µs/move"),
    )
    race = _race(_transition_contenders(), settings)
    section.rows.extend(race.rows())
    section.figures.append(
        _at_most(
            "transition.vs_transitions",
            "kernel move / bare transitions trigger",
            race.ratio(KERNEL, BARE),
            TRANSITION_AIM,
            race.detail(KERNEL, BARE),
        )
    )
    references = (
        ("vs_dict", "kernel move / dict lookup + attribute set", KERNEL, DICT),
        ("choose", "lookup + guard / kernel move", CHOOSE, KERNEL),
        ("event", "event construction / kernel move", EVENT, KERNEL),
        ("apply", "_apply / kernel move", APPLY, KERNEL),
        ("apply_vs_plain", "_apply / the same writes on a plain object", APPLY, APPLY_PLAIN),
    )
    section.figures += [
        _reference(f"transition.{key}", label, race.ratio(name, base), race.detail(name, base))
        for key, label, name, base in references
    ]
    return section


# --------------------------------------------------------------------------- 2. loading

PLAIN = "plain __slots__ object, same fields"
LOAD = "Refund(...) loaded in state 'succeeded'"
LOAD_AIM = 3.0
LOADED_STATES = (("pending", 1), ("succeeded", 2), ("failed", 2), ("canceled", 2))


def _load_contenders() -> list[tuple[str, Prepare]]:
    """Each batch builds and drops its objects, keeping the last to check its state."""

    def contender(cls: type[PlainRefund] | type[Refund]) -> Prepare:
        def prepare(count: int) -> Batch:
            ids = _ids(count)
            last: list[PlainRefund | Refund] = []

            def work() -> None:
                for id_ in ids:
                    obj = cls(
                        id=id_,
                        state="succeeded",
                        version=2,
                        payment_id=PAYMENT,
                        amount=AMOUNT,
                        reason=REASON,
                    )
                last.append(obj)

            return Batch(work, _all_in(last, "succeeded"))

        return prepare

    return [(PLAIN, contender(PlainRefund)), (LOAD, contender(Refund))]


@contextmanager
def _count_machine_builds() -> Iterator[list[int]]:
    """Count calls of ``transitions.Machine.__init__`` (subclasses included) while inside."""
    calls = [0]
    original = transitions.Machine.__init__

    def counting_init(self: transitions.Machine, *args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        original(self, *args, **kwargs)

    with mock.patch.object(transitions.Machine, "__init__", counting_init):
        yield calls


def _probe_machine_builds(loads: int) -> tuple[int, int, int]:
    """Machines built across ``loads`` loads, then across one move on each, then by one build."""
    with _count_machine_builds() as calls:
        loaded = [
            _refund(id_, *LOADED_STATES[i % len(LOADED_STATES)])
            for i, id_ in enumerate(_ids(loads))
        ]
        on_load = calls[0]
        for refund in loaded:
            if refund.state == "pending":
                refund.succeed(provider_ref=PROVIDER_REF, at=AT)
        on_fire = calls[0] - on_load
        StateMachine(REFUND_MACHINE.spec)
        self_check = calls[0] - on_load - on_fire
    return on_load, on_fire, self_check


def bench_loading(settings: Settings) -> Section:
    """2. Loading an aggregate in a given state against a plain slotted object."""
    section = Section(
        key="load",
        title="2. Loading an aggregate",
        method=(
            f"{settings.batch:,} objects per batch, {settings.rounds} rounds, contenders rotated, "
            "gc paused; ids and the Money amount built untimed; each object dropped at once. "
            "Machine builds counted by patching transitions.Machine.__init__ across "
            f"{settings.probe_loads:,} loads (states cycled through all four), then while the "
            "pending ones succeed."
        ),
        header=("contender", "best µs/object", "median µs/object"),
    )
    race = _race(_load_contenders(), settings)
    section.rows.extend(race.rows())
    on_load, on_fire, self_check = _probe_machine_builds(settings.probe_loads)
    section.figures += [
        _at_most(
            "load.vs_slots",
            "Refund(...) / plain __slots__ object",
            race.ratio(LOAD, PLAIN),
            LOAD_AIM,
            race.detail(LOAD, PLAIN),
        ),
        _exactly(
            "load.machines_built", f"machines built by {settings.probe_loads:,} loads", on_load, 0
        ),
        _exactly(
            "load.machines_built_firing", "machines built by moving the loaded refunds", on_fire, 0
        ),
        _exactly(
            "load.probe_self_check",
            "probe self-check: building one StateMachine counts",
            self_check,
            1,
        ),
    ]
    return section


# --------------------------------------------------------------------------- 3. memory

MEMORY_AIM = 1.10


def _populate(count: int) -> tuple[float, list[Refund]]:
    """Live refunds, each loaded pending and moved once; bytes traced per refund."""
    ids = _ids(count)
    holder: list[Any] = [None] * count
    gc.collect()
    tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        with _gc_paused():
            before = tracemalloc.get_traced_memory()[0]
            for i in range(count):
                refund = _refund(ids[i])
                refund.succeed(provider_ref=PROVIDER_REF, at=AT)
                holder[i] = refund
            del refund
            after = tracemalloc.get_traced_memory()[0]
    finally:
        if not tracing:
            tracemalloc.stop()
    return (after - before) / count, holder


def bench_memory(settings: Settings) -> Section:
    """3. Memory: flat per-aggregate cost, and a dropped aggregate freed without gc."""
    small, large = settings.memory_small, settings.memory_large
    section = Section(
        key="memory",
        title="3. Memory with many live aggregates",
        method=(
            f"tracemalloc bytes for {small:,} then {large:,} live refunds, each loaded pending and "
            "moved once through Refund.succeed (so each holds one RefundSucceeded); ids built "
            "untimed, gc paused. Then, gc still paused, a weakref to each of the "
            f"{large:,} before the list holding them is dropped — no gc.collect()."
        ),
        header=("population", "traced KiB", "bytes/aggregate"),
    )
    _populate(16)  # warm up: first-call caches are not per-aggregate costs
    per_small, holder = _populate(small)
    del holder
    per_large, holder = _populate(large)
    section.rows += [
        (f"{n:,} live refunds", f"{per * n / 1024:,.0f}", f"{per:,.1f}")
        for n, per in ((small, per_small), (large, per_large))
    ]
    with _gc_paused():
        refs = [weakref.ref(refund) for refund in holder]
        del holder
        alive = sum(1 for ref in refs if ref() is not None)
    section.figures += [
        _at_most(
            "memory.growth",
            f"bytes per aggregate at {large:,} / at {small:,}",
            per_large / per_small,
            MEMORY_AIM,
            f"{per_large:,.1f} B vs {per_small:,.1f} B",
        ),
        _exactly(
            "memory.alive_after_drop",
            f"aggregates alive after dropping all {large:,} (gc paused, no collect)",
            alive,
            0,
        ),
    ]
    return section


# --------------------------------------------------------------------------- all


def run_all(settings: Settings) -> list[Section]:
    """Run every benchmark with ``settings``, in order."""
    return [bench(settings) for bench in (bench_transitions, bench_loading, bench_memory)]


def environment() -> str:
    """The interpreter and library versions the figures were measured with."""
    return (
        f"CPython {sys.version.split()[0]} ({sys.platform}, {os.cpu_count()} CPUs), "
        f"transitions {version('transitions')}, attrs {version('attrs')}, "
        f"fourflows {version('fourflows')}"
    )
