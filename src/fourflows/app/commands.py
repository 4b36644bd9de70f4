"""Commands: what a caller asks the shop to do, parsed from untrusted input.

Commands are frozen pydantic models. Building one from bad data raises
`InvalidInput` (never a bare pydantic error) naming each bad field, its value
and what is expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fourflows.errors import InvalidInput
from fourflows.money import MoneyField

__all__ = ["CancelRefund", "Command", "ConfirmRefund", "FailRefund", "RequestRefund"]


def _explain(command: str, error: ValidationError) -> InvalidInput:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in item['loc']) or 'input'}: {item['msg']} (got {item['input']!r})"
        for item in error.errors()
    )
    return InvalidInput(f"{command} is not valid: {problems}")


class Command(BaseModel):
    """The base of every command: frozen, no unknown fields, errors as `InvalidInput`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise _explain(type(self).__name__, error) from None

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str | bytes) -> Self:
        """Build the command from a mapping or a JSON object."""
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except ValueError as error:
                raise InvalidInput(f"{cls.__name__} is not valid JSON: {error}") from None
        if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
            raise InvalidInput(f"{cls.__name__} needs an object of named fields, not {data!r}")
        return cls(**data)


_Text = Field(min_length=1, max_length=200)


class RequestRefund(Command):
    """Refund ``amount`` of payment ``payment_id`` for ``reason``."""

    payment_id: str = _Text
    amount: MoneyField
    reason: str = _Text
    refund_id: str | None = Field(default=None, min_length=1, max_length=100)


class ConfirmRefund(Command):
    """The provider confirmed refund ``refund_id`` under ``provider_ref``."""

    refund_id: str = _Text
    provider_ref: str = _Text


class FailRefund(Command):
    """The provider could not carry out refund ``refund_id``."""

    refund_id: str = _Text
    reason: str = _Text


class CancelRefund(Command):
    """The shop withdraws refund ``refund_id`` before the provider acts."""

    refund_id: str = _Text
    reason: str = _Text
