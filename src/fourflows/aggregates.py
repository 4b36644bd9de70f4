"""The base of every aggregate: an id, a state, a version and pending events.

An aggregate class names its machine in the class attribute ``machine``. It
is a plain attrs class: building one (new, or loaded from storage in any
state) builds no machine and costs about as much as any small object.

Write aggregate methods so that a failure changes nothing: check the input
and compute the new values first, call `Aggregate._fire` (which raises
before it changes anything), then assign the computed values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import attrs

from fourflows.errors import InvalidInput
from fourflows.events import DomainEvent
from fourflows.machines import StateMachine

__all__ = ["Aggregate"]


def _initial_state(self: Aggregate) -> str:
    return self.machine.spec.initial


def _known_state(self: Aggregate, _: attrs.Attribute[str], value: str) -> None:
    if value not in self.machine.spec.states:
        raise InvalidInput(
            f"{type(self).__name__} {self.id!r}: {value!r} is not a state of the "
            f"{self.machine.name} machine; states: {', '.join(self.machine.spec.states)}"
        )


def _identifier(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {value!r}")


def _version(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{attribute.name} must be an int of at least 0, not {value!r}")


@attrs.define(kw_only=True, eq=False)
class Aggregate:
    """An entity whose life a state machine governs.

    ``state`` starts at the machine's initial state; ``version`` counts the
    events applied so far (a loaded aggregate passes both). Events recorded
    since loading wait in `pending_events` until the unit of work takes them.
    """

    machine: ClassVar[StateMachine[Any]]

    id: str = attrs.field(validator=_identifier)
    state: str = attrs.field(
        default=attrs.Factory(_initial_state, takes_self=True),
        validator=_known_state,
        on_setattr=attrs.setters.NO_OP,
    )
    version: int = attrs.field(default=0, validator=_version, on_setattr=attrs.setters.NO_OP)
    _pending: list[DomainEvent] = attrs.field(
        factory=list, init=False, repr=False, on_setattr=attrs.setters.NO_OP
    )

    @property
    def pending_events(self) -> tuple[DomainEvent, ...]:
        """Events recorded since the aggregate was loaded or last collected."""
        return tuple(self._pending)

    def collect_events(self) -> list[DomainEvent]:
        """Hand over the pending events and forget them (the unit of work calls this)."""
        events, self._pending = self._pending, []
        return events

    @property
    def is_final(self) -> bool:
        """Whether the aggregate reached a final state."""
        return self.machine.is_final(self.state)

    @property
    def allowed_events(self) -> tuple[str, ...]:
        """The events declared from the current state."""
        return self.machine.allowed_events(self.state)

    def can(self, event: str, **data: Any) -> bool:
        """Whether ``event`` would be accepted now, guards included."""
        return self.machine.can(self, event, **data)

    def _start(self, *, at: datetime, **data: Any) -> DomainEvent:
        """Record the machine's creation event; see `StateMachine.start`."""
        return self.machine.start(self, at=at, **data)

    def _fire(self, event: str, *, at: datetime, **data: Any) -> DomainEvent:
        """Fire ``event`` through the class's machine; see `StateMachine.fire`."""
        return self.machine.fire(self, event, at=at, **data)

    def _apply(self, state: str, event: DomainEvent) -> None:
        """Take a move the machine chose. Cannot fail; only the kernel calls it."""
        self.state = state
        self.version = event.sequence
        self._pending.append(event)
