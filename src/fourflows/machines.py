"""The state-machine kernel every aggregate uses.

A machine is declared once, as data, in a `MachineSpec`: its states, the
initial state, the final states, and its transitions, each with the domain
event it records and the guards that must pass. `StateMachine` builds the
spec into a `transitions` machine once per aggregate class: that machine is
the single source of truth, and the kernel compiles it into a dispatch table
``(state, event) → candidates`` so that firing an event is a dictionary lookup,
not a walk through the library's callbacks. The machine holds no aggregate:
aggregates are plain slotted objects that carry their own ``state``.

Firing an event (`StateMachine.fire`) either

* finds the first candidate whose guards all pass, builds its domain event,
  then sets the state, bumps the version and records the event — in that
  order, so that an error while checking or building leaves the aggregate
  exactly as it was; or
* raises `InvalidTransition` (no such move from this state) or
  `GuardRejected` (the move exists but a guard refused it), naming the
  state, the event and the events allowed from here, and for a refusal each
  guard's rule and, when the guard gave one, why it refused with the values
  (``capture_fits ... : 900 TWD asked, 500 TWD capturable``).

Guards get the time of the move, ``at``, so a rule judged by time (an
authorisation that lapsed, a deadline) reads it rather than a copy carried
in the event's data.

Neither machines nor aggregates lock: an aggregate is used by one thread at a
time, which the unit of work guarantees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import attrs
from transitions import Machine as _EngineMachine
from transitions import Transition as _EngineTransition
from transitions.core import EventData
from transitions.extensions.diagrams import GraphMachine

from fourflows.errors import GuardRejected, InvalidInput, InvalidTransition, NotFound
from fourflows.events import DomainEvent

if TYPE_CHECKING:
    from fourflows.aggregates import Aggregate

__all__ = [
    "Guard",
    "GuardCheck",
    "MachineSpec",
    "StateMachine",
    "Transition",
    "machine_named",
    "register_machine",
    "registered_machines",
]

A = TypeVar("A", bound="Aggregate")

_new = object.__new__
_SLOT: Any = type(vars(DomainEvent)["sequence"])  # a slot's member descriptor

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _name(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(f"{kind} must be a snake_case name such as 'paid', not {value!r}")
    return value


def _guard_name(value: object) -> str:
    return _name("a guard name", value)


def _event_name(value: object) -> str:
    return _name("an event", value)


def _state_name(value: object) -> str:
    return _name("a state", value)


def _machine_name(value: object) -> str:
    return _name("a machine name", value)


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


GuardCheck = Callable[[A, Mapping[str, Any], datetime], "bool | str"]
"""``check(aggregate, data, at)``: ``True`` lets the move happen; ``False`` refuses it;
a string refuses it and says why, with the values (``"900 TWD asked, 500 TWD capturable"``)."""


@attrs.frozen
class Guard(Generic[A]):
    """A named condition a transition needs, with the rule it enforces in words.

    ``check(aggregate, data, at)`` gets the aggregate, the keyword data the
    event was fired with and the time of the move, and returns ``True`` when
    the move may happen. It refuses with ``False``, or with a string saying
    why in the present values, which `GuardRejected` then carries after the
    rule. It must not change anything.
    """

    name: str = attrs.field(converter=_guard_name)
    check: GuardCheck[A]
    rule: str

    @property
    def __name__(self) -> str:
        """The guard's name, which `transitions` shows in diagrams."""
        return self.name

    def __call__(self, event_data: EventData) -> bool:
        """Evaluate the guard the way the `transitions` engine calls a condition.

        The engine is triggered with the event's data and, as ``at``, its time.
        """
        data = dict(event_data.kwargs)
        at = data.pop("at", None)
        return self.check(cast(A, event_data.model), data, cast(datetime, at)) is True

    def refusal(self, detail: bool | str) -> str:
        """How `GuardRejected` words this guard's refusal, given what ``check`` returned."""
        said = f"guard {self.name!r} refused it ({self.rule})"
        return f"{said}: {detail}" if isinstance(detail, str) and detail else said


def _states(value: str | Iterable[str]) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    return tuple(_name("a state", name) for name in names)


@attrs.frozen
class Transition(Generic[A]):
    """One declared move: on ``event``, from any of ``source`` to ``dest``.

    ``records`` is the domain event type the move records; ``guards`` must all
    pass. Several transitions may share an event and a source: the first whose
    guards pass is taken, as in `transitions`.
    """

    event: str = attrs.field(converter=_event_name)
    source: tuple[str, ...] = attrs.field(converter=_states)
    dest: str = attrs.field(converter=_state_name)
    records: type[DomainEvent]
    guards: tuple[Guard[A], ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class MachineSpec(Generic[A]):
    """A state machine declared as data.

    ``created`` is the domain event recorded when an aggregate begins its life
    in the initial state (`StateMachine.start`).

    Checked when created: states are unique, the initial and final states and
    every transition's ends are declared states, no transition leaves a final
    state, every state can be reached from the initial one, every state that
    is not final has a way out, and no unguarded transition hides a later one
    for the same event and source.
    """

    name: str = attrs.field(converter=_machine_name)
    states: tuple[str, ...] = attrs.field(converter=_states)
    initial: str
    final: tuple[str, ...] = attrs.field(converter=_states)
    transitions: tuple[Transition[A], ...] = attrs.field(converter=_tuple)
    created: type[DomainEvent]
    description: str = ""

    def __attrs_post_init__(self) -> None:
        states = set(self.states)
        if len(states) != len(self.states) or not states:
            raise InvalidInput(f"machine {self.name!r}: states must be unique and non-empty")
        if self.initial not in states:
            raise InvalidInput(
                f"machine {self.name!r}: initial state {self.initial!r} is not one of {self.states}"
            )
        for state in self.final:
            if state not in states:
                raise InvalidInput(
                    f"machine {self.name!r}: final state {state!r} is not one of {self.states}"
                )
        seen: dict[tuple[str, str], Transition[A]] = {}
        for move in self.transitions:
            for end in (*move.source, move.dest):
                if end not in states:
                    raise InvalidInput(
                        f"machine {self.name!r}: {move.event!r} names the unknown state {end!r}"
                    )
            for source in move.source:
                if source in self.final:
                    raise InvalidInput(
                        f"machine {self.name!r}: {move.event!r} leaves the final state {source!r}"
                    )
                earlier = seen.get((source, move.event))
                if earlier is not None and not earlier.guards:
                    raise InvalidInput(
                        f"machine {self.name!r}: {move.event!r} from {source!r} to {move.dest!r} "
                        f"can never happen: an unguarded move to {earlier.dest!r} comes first"
                    )
                seen[(source, move.event)] = move
        reached = {self.initial}
        frontier = [self.initial]
        while frontier:
            here = frontier.pop()
            for move in self.transitions:
                if here in move.source and move.dest not in reached:
                    reached.add(move.dest)
                    frontier.append(move.dest)
        unreachable = [s for s in self.states if s not in reached]
        if unreachable:
            raise InvalidInput(f"machine {self.name!r}: states {unreachable} cannot be reached")
        stuck = [
            s
            for s in self.states
            if s not in self.final and not any(s in move.source for move in self.transitions)
        ]
        if stuck:
            raise InvalidInput(
                f"machine {self.name!r}: states {stuck} have no way out; declare them final"
            )

    @property
    def events(self) -> tuple[str, ...]:
        """Every event name, in declaration order."""
        return tuple(dict.fromkeys(move.event for move in self.transitions))


class _RecordingTransition(_EngineTransition):
    """A `transitions` transition that also knows the domain event it records."""

    def __init__(self, *args: Any, records: type[DomainEvent], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records = records


class _Engine(_EngineMachine):
    transition_cls = _RecordingTransition


@attrs.frozen
class Candidate(Generic[A]):
    """A compiled move: where it goes, what must pass, what it records."""

    dest: str
    guards: tuple[Guard[A], ...]
    records: type[DomainEvent]


def _engine_transitions(spec: MachineSpec[A], *, recording: bool) -> list[dict[str, Any]]:
    moves = []
    for move in spec.transitions:
        declared: dict[str, Any] = {
            "trigger": move.event,
            "source": list(move.source),
            "dest": move.dest,
            "conditions": list(move.guards),
        }
        if recording:
            declared["records"] = move.records
        moves.append(declared)
    return moves


_BASE_FIELDS = ("aggregate_id", "sequence", "occurred_at")

_Setter = Callable[[DomainEvent, Any], None]


def _slot_setter(kind: type[DomainEvent], name: str) -> _Setter | None:
    """The ``__set__`` of the slot ``name`` of ``kind``, or ``None`` if it is no plain slot."""
    for owner in kind.__mro__:
        found: Any = vars(owner).get(name)
        if found is not None:
            return cast(_Setter, found.__set__) if type(found) is _SLOT else None
    return None


def _direct(kind: type[DomainEvent]) -> tuple[tuple[str, _Setter], ...] | None:
    """How the kernel may fill in an event of ``kind`` directly, or ``None`` if it may not.

    It may when ``kind`` is slotted and no field beyond the three every event
    has converts, validates or sets itself on init, and the class adds no
    init hook: the data then becomes the fields exactly as attrs' own
    ``__init__`` would make them. Gives each data field's name and slot
    setter. A caller constructing the event still gets every check.
    """
    if any(
        getattr(kind, hook, None) is not None
        for hook in ("__attrs_pre_init__", "__attrs_post_init__", "_attrs_cached_hash")
    ):
        return None
    setters: list[tuple[str, _Setter]] = []
    for field in attrs.fields(kind):
        name = field.name
        put = _slot_setter(kind, name)
        if put is None or field.alias != name:
            return None
        if name in _BASE_FIELDS:
            if put != _BASE_SETTERS[name]:
                return None
            continue
        if not field.init or field.converter is not None or field.validator is not None:
            return None
        setters.append((name, put))
    return tuple(setters)


_DIRECT: dict[type[DomainEvent], tuple[tuple[str, _Setter], ...] | None] = {}
_BASE_SETTERS: dict[str, _Setter] = {
    name: cast(_Setter, vars(DomainEvent)[name].__set__) for name in _BASE_FIELDS
}
_set_id = _BASE_SETTERS["aggregate_id"]
_set_sequence = _BASE_SETTERS["sequence"]
_set_at = _BASE_SETTERS["occurred_at"]
_UNKNOWN: tuple[tuple[str, _Setter], ...] = (("", _set_id),)  # never a real plan


def _record(
    kind: type[DomainEvent], aggregate_id: str, sequence: int, at: datetime, data: Mapping[str, Any]
) -> DomainEvent:
    """Build the event, turning a mismatch between ``data`` and its fields into `InvalidInput`.

    The kernel's own fast path: the aggregate's id (a non-empty string), the
    sequence (the version plus one, at least 1) and a fixed-offset aware time
    are checked here in a few comparisons, and an event type whose data fields
    carry no checks of their own (`_direct`) is filled in slot by slot when
    ``data`` names exactly its fields. Anything else, and every mistake, takes
    attrs' ``__init__``, which raises the usual errors.
    """
    setters = _DIRECT.get(kind, _UNKNOWN)
    if setters is _UNKNOWN:
        setters = _DIRECT[kind] = _direct(kind)
    if (
        setters is not None
        and len(data) == len(setters)
        and type(at) is datetime
        and type(at.tzinfo) is timezone
        and type(aggregate_id) is str
        and aggregate_id
        and type(sequence) is int
        and sequence >= 1
    ):
        made = _new(kind)
        _set_id(made, aggregate_id)
        _set_sequence(made, sequence)
        _set_at(made, at)
        try:
            for name, put in setters:
                put(made, data[name])
        except KeyError:
            pass  # data that does not name the fields: attrs' __init__ says what is wrong
        else:
            return made
    try:
        return kind(aggregate_id=aggregate_id, sequence=sequence, occurred_at=at, **data)
    except TypeError:
        fields = sorted(
            a.name
            for a in attrs.fields(kind)
            if a.init and a.name not in ("aggregate_id", "sequence", "occurred_at")
        )
        raise InvalidInput(f"{kind.__name__} takes the data {fields}, not {sorted(data)}") from None


class StateMachine(Generic[A]):
    """A `MachineSpec` built into a `transitions` engine and compiled for dispatch.

    Build one per aggregate class, at import time; it never holds an aggregate.
    """

    __slots__ = ("_allowed", "_engine", "_table", "spec")

    def __init__(self, spec: MachineSpec[A]) -> None:
        self.spec = spec
        self._engine = _Engine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            transitions=_engine_transitions(spec, recording=True),
            auto_transitions=False,
            send_event=True,
            name=spec.name,
        )
        self._table: dict[tuple[str, str], tuple[Candidate[A], ...]] = {}
        for event_name, event in self._engine.events.items():
            for source, moves in event.transitions.items():
                self._table[(source, event_name)] = tuple(
                    Candidate(
                        dest=str(move.dest),
                        guards=tuple(cast(Guard[A], c.func) for c in move.conditions),
                        records=cast(_RecordingTransition, move).records,
                    )
                    for move in moves
                )
        self._allowed: dict[str, tuple[str, ...]] = {
            state: tuple(sorted(self._engine.get_triggers(state))) for state in spec.states
        }

    def __repr__(self) -> str:
        return f"<StateMachine {self.spec.name!r}: {len(self.spec.states)} states>"

    @property
    def name(self) -> str:
        """The machine's name, e.g. ``'refund'``."""
        return self.spec.name

    @property
    def engine(self) -> Any:
        """The `transitions` machine this one is compiled from (model-less; never add models)."""
        return self._engine

    @property
    def table(self) -> Mapping[tuple[str, str], tuple[Candidate[A], ...]]:
        """The compiled dispatch table: ``(state, event)`` → candidate moves, in order."""
        return self._table

    def allowed_events(self, state: str) -> tuple[str, ...]:
        """The events declared from ``state``, sorted (guards not evaluated)."""
        try:
            return self._allowed[state]
        except KeyError:
            raise NotFound(f"state of the {self.name} machine", state, self.spec.states) from None

    def is_final(self, state: str) -> bool:
        """Whether ``state`` is final: nothing can happen after it."""
        return state in self.spec.final

    def can(self, aggregate: A, event: str, *, at: datetime | None = None, **data: Any) -> bool:
        """Whether firing ``event`` with ``data`` would succeed now (guards evaluated).

        Guards judged by time refuse unless the time of the move is given as ``at``.
        """
        try:
            self._choose(aggregate, event, data, cast(datetime, at))
        except InvalidTransition:
            return False
        return True

    def start(self, aggregate: A, *, at: datetime, **data: Any) -> DomainEvent:
        """Record the spec's ``created`` event on a brand-new aggregate (version 0)."""
        if aggregate.version != 0 or aggregate.state != self.spec.initial:
            raise InvalidTransition(
                machine=self.name,
                aggregate_id=aggregate.id,
                state=aggregate.state,
                event="start",
                allowed=self.allowed_events(aggregate.state),
                reason=f"it has already begun (version {aggregate.version})",
            )
        recorded = _record(self.spec.created, aggregate.id, 1, at, data)
        aggregate._apply(self.spec.initial, recorded)
        return recorded

    def fire(self, aggregate: A, event: str, *, at: datetime, **data: Any) -> DomainEvent:
        """Move ``aggregate`` on ``event`` and record the event's domain event.

        ``at`` is when it happened (timezone-aware); the guards get it with
        ``data``, which becomes the domain event's fields.
        """
        return self._move(aggregate, event, at, data)

    def _move(self, aggregate: A, event: str, at: datetime, data: Mapping[str, Any]) -> DomainEvent:
        """`fire` with the data as one mapping, so aggregates pass it on without repacking it."""
        candidate = self._choose(aggregate, event, data, at)
        recorded = _record(candidate.records, aggregate.id, aggregate._version + 1, at, data)
        aggregate._apply(candidate.dest, recorded)
        return recorded

    def _choose(
        self, aggregate: A, event: str, data: Mapping[str, Any], at: datetime
    ) -> Candidate[A]:
        """The first candidate whose guards all pass (each guard must return exactly True).

        A guard changes nothing, so one that passed for an earlier candidate of
        this move passes again: it is not asked twice.
        """
        candidates = self._table.get((aggregate._state, event))
        if candidates is None:
            raise self._undeclared(aggregate, event)
        if len(candidates) == 1:
            candidate = candidates[0]
            for guard in candidate.guards:
                if guard.check(aggregate, data, at) is not True:
                    raise self._rejected(aggregate, event, candidates, data, at)
            return candidate
        passed: set[int] = set()
        for candidate in candidates:
            for guard in candidate.guards:
                if id(guard) in passed:
                    continue
                if guard.check(aggregate, data, at) is not True:
                    break
                passed.add(id(guard))
            else:
                return candidate
        raise self._rejected(aggregate, event, candidates, data, at)

    def _undeclared(self, aggregate: A, event: str) -> InvalidTransition:
        state = aggregate.state
        reason = "" if event in self.spec.events else f"{self.name} has no event {event!r}"
        return InvalidTransition(
            machine=self.name,
            aggregate_id=aggregate.id,
            state=state,
            event=event,
            allowed=self._allowed.get(state, ()),
            reason=reason,
        )

    def _rejected(
        self,
        aggregate: A,
        event: str,
        candidates: Iterable[Candidate[A]],
        data: Mapping[str, Any],
        at: datetime,
    ) -> GuardRejected:
        """The refusal of every candidate: each first guard that refused, with its detail."""
        refusals: list[str] = []
        for candidate in candidates:
            for guard in candidate.guards:
                verdict = guard.check(aggregate, data, at)
                if verdict is not True:
                    text = guard.refusal(verdict)
                    if text not in refusals:
                        refusals.append(text)
                    break
        state = aggregate.state
        return GuardRejected(
            machine=self.name,
            aggregate_id=aggregate.id,
            state=state,
            event=event,
            allowed=self._allowed[state],
            reason="; ".join(refusals),
        )

    def mermaid(self) -> str:
        """The machine as a Mermaid state diagram, drawn by `transitions` from the spec."""
        spec = self.spec
        drawer = GraphMachine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            transitions=_engine_transitions(spec, recording=False),
            auto_transitions=False,
            send_event=True,
            graph_engine="mermaid",
            show_conditions=True,
            title=spec.name,
        )
        graph = drawer._get_graph(SimpleNamespace(), title=spec.name, force_new=True)
        # Keep the structure; leave colours to whoever renders the diagram, and
        # write the title as Mermaid front matter expects it.
        lines = [
            f"title: {spec.name}" if line == spec.name else line
            for line in str(graph.draw(None)).rstrip("\n").split("\n")
            if line.strip() and not line.lstrip().startswith(("classDef ", "Class "))
        ]
        lines.extend(f"  {state} --> [*]" for state in spec.final)
        return "\n".join(lines) + "\n"


_MACHINES: dict[str, StateMachine[Any]] = {}

M = TypeVar("M", bound=StateMachine[Any])


def register_machine(machine: M) -> M:
    """List ``machine`` for the CLI and the docs (by its name, which must be new)."""
    known = _MACHINES.get(machine.name)
    if known is not None and known is not machine:
        raise InvalidInput(f"a machine named {machine.name!r} is already registered")
    _MACHINES[machine.name] = machine
    return machine


def registered_machines() -> tuple[StateMachine[Any], ...]:
    """Every registered machine, sorted by name."""
    return tuple(_MACHINES[name] for name in sorted(_MACHINES))


def machine_named(name: str) -> StateMachine[Any]:
    """The registered machine called ``name``; `NotFound` lists the known ones."""
    try:
        return _MACHINES[name]
    except KeyError:
        raise NotFound("machine", name, _MACHINES) from None
