"""Converters for set-valued fields: one name or many, checked and frozen."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar

from fourflows.errors import InvalidInput

E = TypeVar("E", bound=enum.Enum)


def name_set(value: Iterable[str] | str, what: str) -> frozenset[str]:
    """One name or several as a frozenset of stripped, non-empty strings; else `InvalidInput`."""
    if isinstance(value, str):
        value = (value,)
    names = set()
    for name in value:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"{what} must be a non-empty string, not {name!r}")
        names.add(name.strip())
    return frozenset(names)


def enum_set(kind: type[E], value: Iterable[E | str] | E | str, what: str) -> frozenset[E]:
    """One member or several (as members or their values) as a frozenset of ``kind``."""
    if isinstance(value, str | enum.Enum):
        value = (value,)
    members = set()
    for item in value:
        try:
            members.add(kind(item))
        except ValueError:
            allowed = ", ".join(str(m.value) for m in kind)
            raise InvalidInput(f"unknown {what} {item!r}; allowed: {allowed}") from None
    return frozenset(members)
