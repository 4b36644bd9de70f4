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


@attrs.define(kw_only=True, eq=False)
class Aggregate:
    """An entity whose life a state machine governs.

    ``state`` starts at the machine's initial state; ``version`` counts the
    events applied so far (a loaded aggregate passes both). Both are read-only:
    only the machine moves them. Events recorded since loading wait in
    `pending_events` until the unit of work takes them.

    Subclasses are plain ``@attrs.define(kw_only=True, eq=False)`` classes.
    Give their fields no attrs validators: check input in the methods, before
    firing, so that nothing can fail after the move (and loading stays cheap).
    """

    machine: ClassVar[StateMachine[Any]]

    id: str
    _state: str = attrs.field(alias="state", default=attrs.Factory(_initial_state, takes_self=True))
    _version: int = attrs.field(alias="version", default=0)
    _pending: list[DomainEvent] = attrs.field(factory=list, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidInput(f"id must be a non-empty string, not {self.id!r}")
        if self._state not in self.machine.spec.states:
            raise InvalidInput(
                f"{type(self).__name__} {self.id!r}: {self._state!r} is not a state of the "
                f"{self.machine.name} machine; states: {', '.join(self.machine.spec.states)}"
            )
        version = self._version
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise InvalidInput(f"version must be an int of at least 0, not {version!r}")

    @property
    def state(self) -> str:
        """The current state (read-only: fire an event to move)."""
        return self._state

    @property
    def version(self) -> int:
        """How many events the aggregate has recorded in its life (read-only)."""
        return self._version

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
        return self.machine._move(self, event, at, data)

    def _apply(self, state: str, event: DomainEvent) -> None:
        """Take a move the machine chose. Cannot fail; only the kernel calls it."""
        self._state = state
        self._version = event.sequence
        self._pending.append(event)
