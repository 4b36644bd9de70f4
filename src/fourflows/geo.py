"""Where things go: countries, regions and addresses.

Countries are ISO 3166-1 alpha-2 codes (``"TW"``), regions ISO 3166-2
subdivision codes (``"TW-PEN"`` for Penghu) or any code a shop's zone table
uses. Codes are upper-cased; an unknown country raises `InvalidInput`.
"""

from __future__ import annotations

from typing import Any

import attrs
from babel import Locale

from fourflows.errors import InvalidInput

__all__ = ["Address", "country_code"]

_TERRITORIES = frozenset(
    code for code in Locale("en").territories if isinstance(code, str) and code.isalpha()
)


def country_code(value: object) -> str:
    """``value`` as an upper-case ISO 3166-1 alpha-2 country code; `InvalidInput` if unknown."""
    if not isinstance(value, str) or value.strip().upper() not in _TERRITORIES:
        raise InvalidInput(
            f"unknown country {value!r}; use an ISO 3166-1 alpha-2 code such as 'TW', 'JP', 'DE'"
        )
    return value.strip().upper()


def _optional_code(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"a region must be a non-empty code such as 'TW-PEN', not {value!r}")
    return value.strip().upper()


def _postal_code(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"a postal code must be a string, not {value!r}")
    return value.strip().upper().replace(" ", "")


def _text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{attribute.name} must be a string, not {value!r}")


@attrs.frozen(kw_only=True)
class Address:
    """A delivery or billing address, as far as pricing and shipping need it.

    ``country`` is required; ``region``, ``postal_code`` and ``city`` refine
    the zone. ``vat_id`` marks a business buyer (for reverse charge).
    """

    country: str = attrs.field(converter=country_code)
    region: str | None = attrs.field(default=None, converter=_optional_code)
    postal_code: str = attrs.field(default="", converter=_postal_code)
    city: str = attrs.field(default="", validator=_text)
    lines: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    vat_id: str | None = attrs.field(default=None, converter=_optional_code)
