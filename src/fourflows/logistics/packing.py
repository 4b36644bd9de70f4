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

**Cost.** Trying a unit in a parcel is a few comparisons on the parcel's
running totals (the weight first, the estimated box only when the weight
fits and a limit is about the size); a parcel is only changed when it takes
the unit, and a parcel that no unit left can join is no longer tried. So
packing grows with units × parcels still open, and reasons for a refusal are
only written when `pack` reports one.
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

    def _broken(self, weight_g: int, size_cm: Size | None) -> str | None:
        """The code of the first limit a parcel of this weight and size breaks, else ``None``.

        The same check as `violation`, by plain comparisons: no reason is written.
        """
        most = self.max_weight_g
        if most is not None and weight_g > most:
            return "weight"
        return None if size_cm is None else self._broken_size(size_cm)

    def _broken_size(self, size_cm: Size) -> str | None:
        """The code of the first size limit that ``size_cm`` (longest side first) breaks."""
        length, width, height = size_cm
        if self.max_side_cm is not None and length > self.max_side_cm:
            return "side"
        if (
            self.max_length_plus_girth_cm is not None
            and length + 2 * (width + height) > self.max_length_plus_girth_cm
        ):
            return "length_plus_girth"
        box = self.max_box_cm
        if box is not None and (length > box[0] or width > box[1] or height > box[2]):
            return "box"
        return None

    def violation(self, weight_g: int, size_cm: Size | None) -> tuple[str, str] | None:
        """The first limit a parcel of this weight and size breaks, as (code, reason).

        Codes: ``"weight"``, ``"side"``, ``"length_plus_girth"`` and ``"box"``.
        ``None`` when the parcel is within every limit. A parcel of unknown
        size (``None``) is checked by weight only.
        """
        code = self._broken(weight_g, size_cm)
        if code is None:
            return None
        return code, self._reason(code, weight_g, size_cm)

    def _reason(self, code: str, weight_g: int, size_cm: Size | None) -> str:
        """The words for a broken limit; only written when a refusal is reported."""
        if code == "weight":
            return f"weighs {_kg(weight_g)}, over the {_kg(self.max_weight_g or 0)} limit"
        assert size_cm is not None  # every other limit is about the size
        length, width, height = size_cm
        if code == "side":
            return (
                f"has a longest side of {_cm(length)} cm, "
                f"over the {_cm(self.max_side_cm or Decimal(0))} cm limit"
            )
        if code == "length_plus_girth":
            girth = 2 * (width + height)
            return (
                f"has a length + girth of {_cm(length + girth)} cm "
                f"({_cm(length)} + 2 × ({_cm(width)} + {_cm(height)})), "
                f"over the {_cm(self.max_length_plus_girth_cm or Decimal(0))} cm limit"
            )
        box = self.max_box_cm or (Decimal(0), Decimal(0), Decimal(0))
        return (
            f"measures {_size_text(size_cm)} cm, which does not fit the "
            f"{_size_text(box)} cm maximum"
        )

    def admits(self, weight_g: int, size_cm: Size | None) -> bool:
        """Whether a parcel of this weight and size is within every limit."""
        return self._broken(weight_g, size_cm) is None

    @property
    def _sized(self) -> bool:
        """Whether any limit is about the parcel's size (side, length + girth or box)."""
        return (
            self.max_side_cm is not None
            or self.max_length_plus_girth_cm is not None
            or self.max_box_cm is not None
        )


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
    """One unit of a product, as packing sees it (size sorted longest side first)."""

    sku: str
    weight_g: int
    size: Size | None
    volume: Decimal


def _box(length: Decimal, width: Decimal, thickest: Decimal, volume: Decimal) -> Size:
    """The estimated box over a footprint, as tall as the thickest unit and the volume need."""
    height = thickest
    if volume > length * width * height:
        height = _UP.divide(volume, length * width)
        rounded = height.quantize(_MILLIMETRE, rounding=ROUND_CEILING, context=_UP)
        if rounded != height:
            height = rounded
    a, b, c = sorted((length, width, height), reverse=True)
    return (a, b, c)


class _Load:
    """The running totals of an open parcel, changed in place only when a unit is accepted.

    ``length`` and ``width`` are the footprint (``None`` until a unit with a
    size arrives), ``thickest`` the thickest unit's height and ``volume`` the
    units' summed volume. ``closed`` marks a parcel no unit left to pack can
    join, so first-fit stops trying it; ``refused`` is the last unit its size
    refused (the units of one item come one after another, and a parcel that
    refused one refuses the next, since it has not changed).
    """

    __slots__ = (
        "closed",
        "counts",
        "length",
        "refused",
        "thickest",
        "volume",
        "weight_g",
        "width",
    )

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.weight_g = 0
        self.volume = Decimal(0)
        self.length: Decimal | None = None
        self.width = Decimal(0)
        self.thickest = Decimal(0)
        self.closed = False
        self.refused: _Unit | None = None

    def fits(self, unit: _Unit, limits: ParcelLimits) -> bool:
        """Whether the parcel with ``unit`` in it keeps within the size limits; changes nothing.

        The weight is the caller's to check. The box is estimated as `size` does,
        without building it: the footprint is (longest, middle) sides and the
        thickest unit is never thicker than the footprint is wide, so only the
        height that the volume needs can change the order of the sides.
        """
        size = unit.size
        length = self.length
        if size is None:
            if length is None:
                return True
            width, thickest, volume = self.width, self.thickest, self.volume
        else:
            a, b, c = size
            if length is None:
                length, width = a, b
            else:
                length = a if a > length else length
                width = b if b > self.width else self.width
            thickest = c if c > self.thickest else self.thickest
            volume = self.volume + unit.volume
        floor = length * width
        if volume > floor * thickest:
            height = _UP.divide(volume, floor).quantize(
                _MILLIMETRE, rounding=ROUND_CEILING, context=_UP
            )
            if height > length:
                return limits._broken_size((height, length, width)) is None
            if height > width:
                return limits._broken_size((length, height, width)) is None
            return limits._broken_size((length, width, height)) is None
        return limits._broken_size((length, width, thickest)) is None

    def add(self, unit: _Unit) -> None:
        """Put ``unit`` in the parcel."""
        self.counts[unit.sku] = self.counts.get(unit.sku, 0) + 1
        self.weight_g += unit.weight_g
        self.volume = self.volume + unit.volume
        if unit.size is not None:
            length, width, height = unit.size
            if self.length is None:
                self.length, self.width = length, width
            else:
                self.length, self.width = max(self.length, length), max(self.width, width)
            self.thickest = max(self.thickest, height)

    def box_volume(self) -> Decimal:
        """The exact estimated box volume: it only grows as units are added."""
        if self.length is None:
            return Decimal(0)
        return max(self.volume, self.length * self.width * self.thickest)

    def size(self) -> Size | None:
        """The estimated box, rounded up to the millimetre; ``None`` when no unit has a size."""
        if self.length is None:
            return None
        return _box(self.length, self.width, self.thickest, self.volume)


def _volumetric_g(volume_cm3: Decimal, divisor: int | None) -> int:
    if divisor is None or volume_cm3 == 0:
        return 0
    grams = _UP.divide(volume_cm3 * 1000, Decimal(divisor))
    return int(grams.to_integral_value(rounding=ROUND_CEILING))


def _round_up(grams: int, step: int) -> int:
    return -(-grams // step) * step


def _units(items: Iterable[Packable]) -> list[tuple[_Unit, int]]:
    """Each item as one unit and how many of it, in the items' order."""
    units: list[tuple[_Unit, int]] = []
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
        volume = Decimal(0)
        if product.size_cm is not None:
            a, b, c = sorted(product.size_cm, reverse=True)
            size = (a, b, c)
            volume = a * b * c
        units.append((_Unit(product.sku, product.weight_g, size, volume), quantity))
    return units


def _check_alone(unit: _Unit, limits: ParcelLimits) -> None:
    refused = limits.violation(unit.weight_g, unit.size)
    if refused is not None:
        code, reason = refused
        raise NotEligible("product", unit.sku, f"one unit {reason}", code=code)


def _seal(load: _Load, divisor: int | None, step: int) -> Parcel:
    volumetric = _volumetric_g(load.box_volume(), divisor)
    return Parcel(
        contents=tuple(load.counts.items()),
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


def _suffix_min(values: Sequence[Any]) -> list[Any]:
    """``result[i]`` is the least of ``values[i:]``."""
    result = list(values)
    for i in range(len(result) - 2, -1, -1):
        result[i] = min(result[i], result[i + 1])
    return result


def _first_fit(units: Sequence[_Unit], limits: ParcelLimits) -> list[_Load]:
    """First-fit: each unit into the first parcel that stays within ``limits``, else a new one.

    A trial is plain comparisons on the parcel's running totals; the box is
    only estimated when the weight fits and a limit is about the size, and
    nothing is built unless the unit is accepted. A parcel that no unit left
    can join is closed: too heavy for the lightest unit left, or too full for
    the box limit to hold the smallest one left (a box holds no more than the
    product of its sides). Skipping closed parcels never changes where a unit
    goes, since they would refuse it anyway.
    """
    most = limits.max_weight_g
    sized = limits._sized
    box = limits.max_box_cm
    room = None if box is None else box[0] * box[1] * box[2]
    lightest = _suffix_min([unit.weight_g for unit in units])
    smallest = _suffix_min([unit.volume for unit in units])
    loads: list[_Load] = []
    trying: list[_Load] = []
    for index, unit in enumerate(units):
        weight = unit.weight_g
        closing = False
        for load in trying:
            total = load.weight_g + weight
            if most is not None and total > most:
                if load.weight_g + lightest[index] > most:
                    load.closed = closing = True
                continue
            if sized:
                if load.refused is unit:
                    continue
                if not load.fits(unit, limits):
                    load.refused = unit
                    if room is not None and load.volume + smallest[index] > room:
                        load.closed = closing = True
                    continue
            load.add(unit)
            break
        else:
            load = _Load()
            load.add(unit)
            loads.append(load)
            trying.append(load)
        if closing:
            trying = [load for load in trying if not load.closed]
    return loads


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
    for unit, _ in units:
        _check_alone(unit, chosen)

    def heaviest_first(pair: tuple[_Unit, int]) -> tuple[int, Decimal, str]:
        unit = pair[0]
        own = max(unit.weight_g, _volumetric_g(unit.volume, divisor))
        return (-own, -unit.volume, unit.sku)

    # Sorting the items (stably) and then repeating each unit gives the same order as
    # sorting every unit: the units of one item are equal and stay together.
    ordered = [unit for unit, count in sorted(units, key=heaviest_first) for _ in range(count)]
    return tuple(_seal(load, divisor, step) for load in _first_fit(ordered, chosen))


def total_units(parcels: Sequence[Parcel]) -> dict[str, int]:
    """Units per sku over ``parcels``: what a packer checks against the order."""
    counts: dict[str, int] = {}
    for parcel in parcels:
        for sku, count in parcel.contents:
            counts[sku] = counts.get(sku, 0) + count
    return counts
