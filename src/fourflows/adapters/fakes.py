"""Clocks, id sources and a notifier: deterministic for tests and demos, or real."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from fourflows.errors import InvalidInput
from fourflows.events import require_aware
from fourflows.information.notifications import Notification

__all__ = ["FixedClock", "RecordingNotifier", "SequentialIds", "SystemClock", "UuidIds"]


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that shows one time until told to move (`advance`, `set`)."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware(at, "the clock's time")

    def now(self) -> datetime:
        """The time the clock shows."""
        return self._at

    def advance(self, by: timedelta) -> datetime:
        """Move forward by ``by`` (never backwards) and return the new time."""
        if not isinstance(by, timedelta) or by < timedelta(0):
            raise InvalidInput(f"a clock moves forward by a timedelta of 0 or more, not {by!r}")
        self._at += by
        return self._at

    def set(self, at: datetime) -> None:
        """Show ``at`` from now on (it may not be earlier than the current time)."""
        at = require_aware(at, "the clock's time")
        if at < self._at:
            raise InvalidInput(
                f"a clock does not go back: {at.isoformat()} is before {self._at.isoformat()}"
            )
        self._at = at


class SequentialIds:
    """Ids like ``refund-0001``, counted per kind: readable in tests and demos."""

    def __init__(self, width: int = 4) -> None:
        self._width = width
        self._counts: Counter[str] = Counter()

    def next_id(self, kind: str) -> str:
        """The next id for ``kind``."""
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidInput(f"an id kind must be a non-empty string, not {kind!r}")
        self._counts[kind] += 1
        return f"{kind}-{self._counts[kind]:0{self._width}d}"


class UuidIds:
    """Random, globally unique ids (UUID 4), prefixed by kind."""

    def next_id(self, kind: str) -> str:
        """A new random id for ``kind``."""
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidInput(f"an id kind must be a non-empty string, not {kind!r}")
        return f"{kind}-{uuid.uuid4()}"


class RecordingNotifier:
    """A `Notifier` that keeps what it sends, once per id, in order; it can be told to fail.

    ``sent`` lists the notifications sent. A notification whose id was sent
    already is ignored. `fail_next` makes the next sends raise
    ``ConnectionError`` (as a mail server or SMS gateway that is down would),
    sending nothing, to test that the outbox offers them again.
    """

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self._ids: set[str] = set()
        self._failures = 0

    def fail_next(self, times: int = 1) -> None:
        """Make the next ``times`` sends of notifications not sent yet raise ``ConnectionError``."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise InvalidInput(f"times must be an int of 0 or more, not {times!r}")
        self._failures = times

    def send(self, notification: Notification) -> None:
        """Keep ``notification`` unless its id was sent already; raise if told to fail."""
        if not isinstance(notification, Notification):
            raise InvalidInput(f"a notifier sends a Notification, not {notification!r}")
        if notification.id in self._ids:
            return
        if self._failures > 0:
            self._failures -= 1
            raise ConnectionError(
                f"notification {notification.id!r} not sent: the notifier was told to fail"
            )
        self._ids.add(notification.id)
        self.sent.append(notification)

    def sent_to(self, customer_id: str) -> list[Notification]:
        """What was sent to ``customer_id``, in order."""
        return [n for n in self.sent if n.customer_id == customer_id]
