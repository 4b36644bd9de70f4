"""`pack` gives exactly the parcels of first-fit decreasing written out plainly.

The reference below follows the rules in `fourflows.logistics.packing`'s
documentation with no shortcuts: every unit is tried in every parcel opened so
far, by rebuilding the parcel's whole estimate with exact fractions. `pack`
skips parcels that cannot take any unit left and never rebuilds a parcel for a
trial, so these properties pin that those savings change no parcel.
"""

from collections import Counter
from decimal import Decimal
from fractions import Fraction
from math import ceil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.commerce.catalog import Product
from fourflows.errors import NotEligible
from fourflows.logistics.packing import Parcel, ParcelLimits, pack
from fourflows.logistics.shipping import ShipmentItem

RefUnit = tuple[str, int, tuple[Fraction, Fraction, Fraction] | None]


def sides(product: Product) -> tuple[Fraction, Fraction, Fraction] | None:
    if product.size_cm is None:
        return None
    a, b, c = sorted((Fraction(side) for side in product.size_cm), reverse=True)
    return (a, b, c)


def volume(unit: RefUnit) -> Fraction:
    size = unit[2]
    return Fraction(0) if size is None else size[0] * size[1] * size[2]


def volumetric_g(cm3: Fraction, divisor: int | None) -> int:
    return 0 if divisor is None or cm3 == 0 else ceil(cm3 * 1000 / divisor)


def estimate(units: list[RefUnit]) -> tuple[tuple[Fraction, ...] | None, Fraction]:
    """The parcel's box (longest side first, height up to the millimetre) and exact volume."""
    sized = [unit[2] for unit in units if unit[2] is not None]
    if not sized:
        return None, Fraction(0)
    length = max(size[0] for size in sized)
    width = max(size[1] for size in sized)
    thickest = max(size[2] for size in sized)
    total = sum((volume(unit) for unit in units), Fraction(0))
    height = thickest
    if total > length * width * thickest:
        height = Fraction(ceil(total / (length * width) * 10), 10)
    box = tuple(sorted((length, width, height), reverse=True))
    return box, max(total, length * width * thickest)


def within(limits: ParcelLimits, weight_g: int, box: tuple[Fraction, ...] | None) -> bool:
    if limits.max_weight_g is not None and weight_g > limits.max_weight_g:
        return False
    if box is None:
        return True
    length, width, height = box
    if limits.max_side_cm is not None and length > limits.max_side_cm:
        return False
    most = limits.max_length_plus_girth_cm
    if most is not None and length + 2 * (width + height) > most:
        return False
    return limits.max_box_cm is None or all(
        side <= Fraction(top) for side, top in zip(box, limits.max_box_cm, strict=True)
    )


def reference_pack(
    items: list[ShipmentItem], limits: ParcelLimits, divisor: int | None, step: int
) -> list[tuple[tuple[tuple[str, int], ...], int, tuple[Fraction, ...] | None, int, int]]:
    units: list[RefUnit] = [
        (item.product.sku, item.product.weight_g, sides(item.product))
        for item in items
        for _ in range(item.quantity)
    ]
    units.sort(key=lambda u: (-max(u[1], volumetric_g(volume(u), divisor)), -volume(u), u[0]))
    parcels: list[list[RefUnit]] = []
    for unit in units:
        for parcel in parcels:
            trial = [*parcel, unit]
            if within(limits, sum(u[1] for u in trial), estimate(trial)[0]):
                parcel.append(unit)
                break
        else:
            parcels.append([unit])
    packed = []
    for parcel in parcels:
        weight = sum(u[1] for u in parcel)
        box, box_volume = estimate(parcel)
        volumetric = volumetric_g(box_volume, divisor)
        chargeable = -(-max(weight, volumetric) // step) * step
        contents = tuple(Counter(u[0] for u in parcel).items())
        packed.append((contents, weight, box, volumetric, chargeable))
    return packed


def described(
    parcel: Parcel,
) -> tuple[tuple[tuple[str, int], ...], int, tuple[Fraction, ...] | None, int, int]:
    box = None if parcel.size_cm is None else tuple(Fraction(side) for side in parcel.size_cm)
    return (
        parcel.contents,
        parcel.weight_g,
        box,
        parcel.volumetric_weight_g,
        parcel.chargeable_weight_g,
    )


sides_cm = st.integers(min_value=5, max_value=400).map(lambda tenths: Decimal(tenths).scaleb(-1))


@st.composite
def light_products(draw: st.DrawFn, sku: str) -> Product:
    """Products light enough that a cart fills many parcels."""
    return Product(
        sku=sku,
        name=sku,
        price=Money(100, "TWD"),
        weight_g=draw(st.integers(min_value=0, max_value=1500)),
        size_cm=draw(st.none() | st.tuples(sides_cm, sides_cm, sides_cm)),
    )


@st.composite
def many_units(draw: st.DrawFn) -> list[ShipmentItem]:
    count = draw(st.integers(min_value=1, max_value=8))
    # Two items may share a sku (a cart line split by unit value, as price_cart ships it).
    skus = draw(st.lists(st.sampled_from("ABCDEFGH"), min_size=count, max_size=count))
    made: dict[str, Product] = {}
    items = []
    for sku in skus:
        product = made.get(sku) or draw(light_products(sku))
        made[sku] = product
        items.append(ShipmentItem(product, draw(st.integers(min_value=1, max_value=6))))
    return items


@st.composite
def tight_limits(draw: st.DrawFn) -> ParcelLimits:
    box = draw(
        st.none() | st.tuples(sides_cm, sides_cm, sides_cm).map(lambda s: [x + 20 for x in s])
    )
    return ParcelLimits(
        max_weight_g=draw(st.none() | st.integers(min_value=1500, max_value=6000)),
        max_side_cm=draw(st.none() | st.integers(min_value=40, max_value=120)),
        max_length_plus_girth_cm=draw(st.none() | st.integers(min_value=120, max_value=300)),
        max_box_cm=box,
    )


@given(
    many_units(),
    tight_limits(),
    st.none() | st.sampled_from([5000, 6000]),
    st.sampled_from([1, 500]),
)
def test_pack_gives_the_parcels_of_plain_first_fit_decreasing(
    items: list[ShipmentItem], limits: ParcelLimits, divisor: int | None, step: int
) -> None:
    alone = [
        item.product.sku
        for item in items
        if not within(limits, item.product.weight_g, estimate([_unit(item)])[0])
    ]
    if alone:
        # One unit that breaks a limit by itself makes the shipment impossible.
        with pytest.raises(NotEligible) as refused:
            pack(items, limits, volumetric_divisor=divisor, weight_step_g=step)
        assert refused.value.key == alone[0]
        return
    parcels = pack(items, limits, volumetric_divisor=divisor, weight_step_g=step)
    assert [described(parcel) for parcel in parcels] == reference_pack(items, limits, divisor, step)


def _unit(item: ShipmentItem) -> RefUnit:
    return (item.product.sku, item.product.weight_g, sides(item.product))


@given(many_units(), tight_limits())
def test_admits_and_violation_agree(items: list[ShipmentItem], limits: ParcelLimits) -> None:
    for item in items:
        size = None
        if item.product.size_cm is not None:
            a, b, c = sorted(item.product.size_cm, reverse=True)
            size = (a * 2, b, c)
        weight = item.product.weight_g * item.quantity
        refused = limits.violation(weight, size)
        assert limits.admits(weight, size) == (refused is None)
        box = None if size is None else tuple(sorted((Fraction(s) for s in size), reverse=True))
        assert (refused is None) == within(limits, weight, box)
