"""Packing: the units of a shipment put into parcels that a shipping service accepts.

Units: weights are whole **grams**, lengths are **centimetres**, volumes cm³.

**The algorithm** is first-fit decreasing. Every unit is taken on its own
(three of a sku are three units), ordered heaviest first by its own chargeable
weight (the larger of its actual and volumetric weight), then by volume, then
by sku. Each unit goes into the first open parcel that stays within the
`ParcelLimits` with it, or else opens a new parcel. A unit that does not fit
the limits even alone makes the shipment impossible: `pack` raises
`NotEligible` naming the sku and the limit.

**The parcel's size is an estimate**, not a 3-D packing. A parcel's box has
the footprint of its largest units (length = the longest side of any unit,
width = the longest middle side) and is as tall as needed to hold the summed
volume of its units without gaps, and at least as tall as its thickest unit:
height = max(thickest unit, volume ÷ (length × width)), rounded up to the
millimetre. A parcel of one unit is exactly that unit's size. Real cartons
leave some air, so give box limits a small margin if goods are awkward
shapes. Units of a product without ``size_cm`` add weight but no size.

**Chargeable weight** is max(actual weight, volumetric weight), where the
volumetric weight is the box volume in cm³ × 1000 ÷ the service's divisor
(cm³ per kg, typically 5000 or 6000) in grams rounded up to the gram, and the
result is rounded **up** to the service's weight step (for example 500 g, so
1.2 kg is charged as 1.5 kg). Without a divisor only the actual weight counts.

First-fit decreasing is a heuristic: it is fast, deterministic and usually
close to the fewest parcels, but not always optimal. In rare cases one more
unit changes how the others are grouped, so that a larger shipment's parcels
fall into cheaper weight tiers. Within one parcel, adding a unit never lowers
the chargeable weight: the estimated box only grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, Context, Decimal
from typing import Any, Protocol

import attrs

from fourflows.commerce.catalog import Product
from fourflows.errors import FloatNotAllowed, InvalidInput, NotEligible

__all__ = ["Packable", "Parcel", "ParcelLimits", "Size", "pack", "total_units"]

Size = tuple[Decimal, Decimal, Decimal]
"""Length, width and height in cm, longest side first."""

# Divisions that must never round down (a box height, a volumetric weight).
_UP = Context(prec=60, rounding=ROUND_CEILING)
_MILLIMETRE = Decimal("0.1")


class Packable(Protocol):
    """Anything that names a product and a number of units: a `ShipmentItem`, a cart line."""

    @property
    def product(self) -> Product:
        """The product to pack."""
        ...

    @property
    def quantity(self) -> int:
        """How many units of it."""
        ...


def _number(value: object, what: str) -> Decimal:
    if isinstance(value, float):
        raise FloatNotAllowed(value, what)
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise InvalidInput(f"{what} must be an int, str or Decimal, not {value!r}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise InvalidInput(f"{what} {value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput(f"{what} must be a positive number, not {value!r}")
    return number


def _optional_length(value: object) -> Decimal | None:
    return None if value is None else _number(value, "a length limit in cm")


def _optional_box(value: object) -> Size | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise InvalidInput(f"max_box_cm must be (length, width, height) in cm, not {value!r}")
    a, b, c = sorted((_number(side, "a side of max_box_cm") for side in value), reverse=True)
    return (a, b, c)


def _optional_grams(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InvalidInput(
            f"{attribute.name} must be a whole number of grams above 0, not {value!r}"
        )


def _cm(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _size_text(size: Size) -> str:
    return "×".join(_cm(side) for side in size)


def _kg(grams: int | Decimal) -> str:
    return f"{(Decimal(grams) / 1000).normalize():f} kg"


@attrs.frozen(kw_only=True)
class ParcelLimits:
    """The largest parcel a service accepts; ``None`` means no limit of that kind.

    ``max_weight_g`` applies to the actual weight. ``max_side_cm`` is the
    longest side. ``max_length_plus_girth_cm`` is length + girth, where the
    length is the longest side and the girth is 2 × (width + height).
    ``max_box_cm`` is a box the parcel must fit into in some orientation,
    such as a convenience store's 45 × 30 × 30 cm; it is kept longest side first.
    """

    max_weight_g: int | None = attrs.field(default=None, validator=_optional_grams)
    max_side_cm: Decimal | None = attrs.field(default=None, converter=_optional_length)
    max_length_plus_girth_cm: Decimal | None = attrs.field(default=None, converter=_optional_length)
    max_box_cm: Size | None = attrs.field(default=None, converter=_optional_box)

    def violation(self, weight_g: int, size_cm: Size | None) -> tuple[str, str] | None:
        """The first limit a parcel of this weight and size breaks, as (code, reason).

        Codes: ``"weight"``, ``"side"``, ``"length_plus_girth"`` and ``"box"``.
        ``None`` when the parcel is within every limit. A parcel of unknown
        size (``None``) is checked by weight only.
        """
        if self.max_weight_g is not None and weight_g > self.max_weight_g:
            return "weight", f"weighs {_kg(weight_g)}, over the {_kg(self.max_weight_g)} limit"
        if size_cm is None:
            return None
        length, width, height = size_cm
        if self.max_side_cm is not None and length > self.max_side_cm:
            return (
                "side",
                f"has a longest side of {_cm(length)} cm, "
                f"over the {_cm(self.max_side_cm)} cm limit",
            )
        girth = 2 * (width + height)
        if (
            self.max_length_plus_girth_cm is not None
            and length + girth > self.max_length_plus_girth_cm
        ):
            return (
                "length_plus_girth",
                f"has a length + girth of {_cm(length + girth)} cm "
                f"({_cm(length)} + 2 × ({_cm(width)} + {_cm(height)})), "
                f"over the {_cm(self.max_length_plus_girth_cm)} cm limit",
            )
        if self.max_box_cm is not None and any(
            side > most for side, most in zip(size_cm, self.max_box_cm, strict=True)
        ):
            return (
                "box",
                f"measures {_size_text(size_cm)} cm, which does not fit the "
                f"{_size_text(self.max_box_cm)} cm maximum",
            )
        return None

    def admits(self, weight_g: int, size_cm: Size | None) -> bool:
        """Whether a parcel of this weight and size is within every limit."""
        return self.violation(weight_g, size_cm) is None


@attrs.frozen(kw_only=True)
class Parcel:
    """One parcel: what it holds, what it weighs and its estimated size.

    ``contents`` lists (sku, units) in the order the skus were first packed.
    ``weight_g`` is the actual weight, ``volume_cm3`` the summed volume of the
    units, ``size_cm`` the estimated box (longest side first; ``None`` when no
    unit has a size), ``volumetric_weight_g`` the box volume × 1000 ÷ the
    divisor (0 without a divisor) and ``chargeable_weight_g`` the larger of
    the two, rounded up to the weight step.
    """

    contents: tuple[tuple[str, int], ...]
    weight_g: int
    volume_cm3: Decimal
    size_cm: Size | None
    volumetric_weight_g: int
    chargeable_weight_g: int

    @property
    def units(self) -> int:
        """How many units the parcel holds."""
        return sum(count for _, count in self.contents)

    def count(self, sku: str) -> int:
        """How many units of ``sku`` the parcel holds."""
        return sum(count for held, count in self.contents if held == sku)


@attrs.frozen
class _Unit:
    sku: str
    weight_g: int
    size: Size | None

    @property
    def volume(self) -> Decimal:
        if self.size is None:
            return Decimal(0)
        length, width, height = self.size
        return length * width * height


@attrs.frozen
class _Load:
    """The running totals of an open parcel; immutable so a trial never changes it."""

    contents: tuple[tuple[str, int], ...] = ()
    weight_g: int = 0
    volume: Decimal = Decimal(0)
    footprint: tuple[Decimal, Decimal] | None = None
    thickest: Decimal = Decimal(0)

    def plus(self, unit: _Unit) -> _Load:
        counts = dict(self.contents)
        counts[unit.sku] = counts.get(unit.sku, 0) + 1
        if unit.size is None:
            footprint, thickest = self.footprint, self.thickest
        else:
            length, width, height = unit.size
            old = self.footprint or (length, width)
            footprint = (max(old[0], length), max(old[1], width))
            thickest = max(self.thickest, height)
        return _Load(
            tuple(counts.items()),
            self.weight_g + unit.weight_g,
            self.volume + unit.volume,
            footprint,
            thickest,
        )

    def box_volume(self) -> Decimal:
        """The exact estimated box volume: it only grows as units are added."""
        if self.footprint is None:
            return Decimal(0)
        length, width = self.footprint
        return max(self.volume, length * width * self.thickest)

    def size(self) -> Size | None:
        if self.footprint is None:
            return None
        length, width = self.footprint
        height = self.thickest
        if self.volume > length * width * height:
            height = _UP.divide(self.volume, length * width)
            rounded = height.quantize(_MILLIMETRE, rounding=ROUND_CEILING, context=_UP)
            if rounded != height:
                height = rounded
        a, b, c = sorted((length, width, height), reverse=True)
        return (a, b, c)


def _volumetric_g(volume_cm3: Decimal, divisor: int | None) -> int:
    if divisor is None or volume_cm3 == 0:
        return 0
    grams = _UP.divide(volume_cm3 * 1000, Decimal(divisor))
    return int(grams.to_integral_value(rounding=ROUND_CEILING))


def _round_up(grams: int, step: int) -> int:
    return -(-grams // step) * step


def _units(items: Iterable[Packable]) -> list[_Unit]:
    units: list[_Unit] = []
    for item in items:
        product = getattr(item, "product", None)
        quantity = getattr(item, "quantity", None)
        if not isinstance(product, Product):
            raise InvalidInput(f"pack takes items with a product and a quantity, not {item!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidInput(
                f"the quantity of {product.sku!r} must be a whole number above 0, not {quantity!r}"
            )
        size: Size | None = None
        if product.size_cm is not None:
            a, b, c = sorted(product.size_cm, reverse=True)
            size = (a, b, c)
        units.extend([_Unit(product.sku, product.weight_g, size)] * quantity)
    return units


def _check_alone(unit: _Unit, limits: ParcelLimits) -> None:
    refused = limits.violation(unit.weight_g, unit.size)
    if refused is not None:
        code, reason = refused
        raise NotEligible("product", unit.sku, f"one unit {reason}", code=code)


def _seal(load: _Load, divisor: int | None, step: int) -> Parcel:
    volumetric = _volumetric_g(load.box_volume(), divisor)
    return Parcel(
        contents=load.contents,
        weight_g=load.weight_g,
        volume_cm3=load.volume,
        size_cm=load.size(),
        volumetric_weight_g=volumetric,
        chargeable_weight_g=_round_up(max(load.weight_g, volumetric), step),
    )


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{what} must be a whole number above 0, not {value!r}")
    return value


def pack(
    items: Iterable[Packable],
    limits: ParcelLimits | None = None,
    *,
    volumetric_divisor: int | None = None,
    weight_step_g: int = 1,
) -> tuple[Parcel, ...]:
    """Pack every unit of ``items`` into parcels within ``limits``, first-fit decreasing.

    ``volumetric_divisor`` is in cm³ per kg (``None``: actual weight only) and
    ``weight_step_g`` is the step chargeable weight is rounded up to. Raises
    `NotEligible` (kind ``"product"``, key the sku) when one unit alone breaks
    a limit, and `InvalidInput` for a quantity that is not a whole number
    above 0. No items give no parcels.

    >>> from fourflows import Money
    >>> from fourflows.commerce.catalog import Product
    >>> from fourflows.logistics.shipping import ShipmentItem
    >>> mug = Product(sku="MUG", name="Mug", price=Money("300", "TWD"),
    ...               weight_g=400, size_cm=(12, 10, 10))
    >>> [p.contents for p in pack([ShipmentItem(mug, 5)], ParcelLimits(max_weight_g=1000))]
    [(('MUG', 2),), (('MUG', 2),), (('MUG', 1),)]
    """
    chosen = limits if limits is not None else ParcelLimits()
    if not isinstance(chosen, ParcelLimits):
        raise InvalidInput(f"limits must be ParcelLimits, not {limits!r}")
    divisor = (
        None
        if volumetric_divisor is None
        else _positive_int(volumetric_divisor, "a volumetric divisor (cm³ per kg)")
    )
    step = _positive_int(weight_step_g, "a weight step in grams")
    units = _units(items)
    for unit in units:
        _check_alone(unit, chosen)

    def heaviest_first(unit: _Unit) -> tuple[int, Decimal, str]:
        own = max(unit.weight_g, _volumetric_g(unit.volume, divisor))
        return (-own, -unit.volume, unit.sku)

    loads: list[_Load] = []
    for unit in sorted(units, key=heaviest_first):
        for index, load in enumerate(loads):
            trial = load.plus(unit)
            if chosen.admits(trial.weight_g, trial.size()):
                loads[index] = trial
                break
        else:
            loads.append(_Load().plus(unit))
    return tuple(_seal(load, divisor, step) for load in loads)


def total_units(parcels: Sequence[Parcel]) -> dict[str, int]:
    """Units per sku over ``parcels``: what a packer checks against the order."""
    counts: dict[str, int] = {}
    for parcel in parcels:
        for sku, count in parcel.contents:
            counts[sku] = counts.get(sku, 0) + count
    return counts
