"""Domain events: immutable facts, named in the past tense, tagged with their flow.

An event type is a frozen, keyword-only attrs subclass of `DomainEvent`,
declared with the `domain_event` decorator, which tags it with its flow and
records it in the registry that `event_types` reads (the docs build the event
catalogue from it):

    @domain_event(Flow.CASH)
    @attrs.frozen(kw_only=True)
    class TipReceived(DomainEvent):
        '''A customer left a tip.'''

        amount: Money
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

import attrs

from fourflows.errors import InvalidInput, NotFound

__all__ = [
    "DomainEvent",
    "Flow",
    "aware",
    "domain_event",
    "event_type",
    "event_types",
    "require_aware",
]


class Flow(enum.Enum):
    """The five flows of an online sale; every event belongs to one."""

    COMMERCE = "commerce"
    CASH = "cash"
    LOGISTICS = "logistics"
    INFORMATION = "information"
    SERVICE = "service"

    @property
    def chinese(self) -> str:
        """The flow's name in Traditional Chinese, e.g. 金流 for cash."""
        return _CHINESE[self]


_CHINESE = {
    Flow.COMMERCE: "商流",
    Flow.CASH: "金流",
    Flow.LOGISTICS: "物流",
    Flow.INFORMATION: "資訊流",
    Flow.SERVICE: "服務流",
}


def require_aware(value: object, what: str) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime; raise `InvalidInput` if not."""
    if type(value) is datetime and type(value.tzinfo) is timezone:
        return value  # a fixed offset (UTC, +08:00) always has one: the common case, fast
    if not isinstance(value, datetime):
        raise InvalidInput(f"{what} must be a datetime, not {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{what} must be timezone-aware, not the naive {value.isoformat()}; "
            "attach a tzinfo, e.g. datetime.now(timezone.utc)"
        )
    return value


def aware(_: object, attribute: attrs.Attribute[Any], value: datetime) -> None:
    """An attrs validator: the field must hold a timezone-aware datetime."""
    if type(value) is not datetime or type(value.tzinfo) is not timezone:
        require_aware(value, attribute.name)


def _positive(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if type(value) is not int or value < 1:  # a bool is refused: its type is not int
        raise InvalidInput(f"{attribute.name} must be an int of at least 1, not {value!r}")


def _identifier(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {value!r}")


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Something that happened to one aggregate.

    ``aggregate_id`` names the aggregate, ``sequence`` is the aggregate's
    version once the event is applied (1 for its first event), and
    ``occurred_at`` is a timezone-aware time from the caller's clock. The
    class attribute ``flow`` tells which flow the event belongs to.
    """

    flow: ClassVar[Flow]

    aggregate_id: str = attrs.field(validator=_identifier)
    sequence: int = attrs.field(validator=_positive)
    occurred_at: datetime = attrs.field(validator=aware)

    @classmethod
    def name(cls) -> str:
        """The event type's name, e.g. ``'RefundSucceeded'``."""
        return cls.__name__


_REGISTRY: dict[str, type[DomainEvent]] = {}

E = TypeVar("E", bound=type[DomainEvent])


def domain_event(flow: Flow) -> Callable[[E], E]:
    """Tag a frozen attrs `DomainEvent` subclass with ``flow`` and register it by name."""
    if not isinstance(flow, Flow):
        raise InvalidInput(f"flow must be one of {[f.value for f in Flow]}, not {flow!r}")

    def declare(cls: E) -> E:
        name = cls.__name__
        known = _REGISTRY.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise InvalidInput(
                f"an event type named {name!r} is already registered by {known.__module__}; "
                "event names must be unique"
            )
        if not (issubclass(cls, DomainEvent) and "__attrs_attrs__" in vars(cls)):
            raise InvalidInput(
                f"{name} must be a DomainEvent subclass declared with @attrs.frozen(kw_only=True) "
                "under @domain_event"
            )
        cls.flow = flow
        _REGISTRY[name] = cls
        return cls

    return declare


def event_types() -> tuple[type[DomainEvent], ...]:
    """Every registered event type, sorted by flow, then name."""
    order = list(Flow)
    return tuple(sorted(_REGISTRY.values(), key=lambda cls: (order.index(cls.flow), cls.__name__)))


def event_type(name: str) -> type[DomainEvent]:
    """The registered event type called ``name``; `NotFound` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFound("event type", name, _REGISTRY) from None
