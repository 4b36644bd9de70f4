"""Properties of packing and shipping fees that hold for every cart, table and address."""

from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fourflows import Money
from fourflows.commerce.catalog import Product
from fourflows.errors import NotEligible
from fourflows.geo import Address
from fourflows.logistics.packing import ParcelLimits, Size, pack, total_units
from fourflows.logistics.shipping import (
    CashOnDelivery,
    Flat,
    FreeShippingOffer,
    PerItem,
    RateRule,
    ServiceKind,
    ShipmentItem,
    ShippingService,
    ShippingTable,
    ValueTiers,
    WeightTiers,
    ZoneRate,
    rate_shop,
)
from fourflows.money import Precision, round_money

ZONES = ShippingTable.example_taiwan().zones
ZONE_IDS = [zone.id for zone in ZONES]
ADDRESSES = [
    Address(country="TW", region="TW-TPE", postal_code="106"),
    Address(country="TW", postal_code="880"),
    Address(country="TW", region="TW-KIN"),
    Address(country="TW", postal_code="800"),
    Address(country="JP", postal_code="100-0001"),
]


def nt(units: int) -> Money:
    return Money(units, "TWD")


fees = st.integers(min_value=0, max_value=500).map(nt)
sides = st.integers(min_value=5, max_value=700).map(lambda tenths: Decimal(tenths).scaleb(-1))


@st.composite
def products(draw: st.DrawFn, sku: str) -> Product:
    size = draw(st.none() | st.tuples(sides, sides, sides))
    return Product(
        sku=sku,
        name=sku,
        price=nt(draw(st.integers(min_value=0, max_value=2000))),
        weight_g=draw(st.integers(min_value=0, max_value=8000)),
        size_cm=size,
        handling=draw(st.sampled_from([(), (), (), ("battery",), ("fragile", "liquid")])),
    )


@st.composite
def carts(draw: st.DrawFn, max_lines: int = 4) -> list[ShipmentItem]:
    count = draw(st.integers(min_value=1, max_value=max_lines))
    return [
        ShipmentItem(draw(products(f"P{index}")), draw(st.integers(min_value=1, max_value=4)))
        for index in range(count)
    ]


@st.composite
def limits(draw: st.DrawFn) -> ParcelLimits:
    box = draw(st.none() | st.tuples(sides, sides, sides).map(lambda s: tuple(x + 30 for x in s)))
    return ParcelLimits(
        max_weight_g=draw(st.none() | st.integers(min_value=500, max_value=30000)),
        max_side_cm=draw(st.none() | st.integers(min_value=20, max_value=150)),
        max_length_plus_girth_cm=draw(st.none() | st.integers(min_value=60, max_value=300)),
        max_box_cm=box,
    )


@st.composite
def weight_tiers(draw: st.DrawFn, *, unbounded: bool = False) -> WeightTiers:
    bounds = sorted(
        draw(st.sets(st.integers(min_value=0, max_value=40000), min_size=1, max_size=4))
    )
    if unbounded:
        bounds.append(10**9)
    prices = sorted(draw(st.lists(fees, min_size=len(bounds), max_size=len(bounds))))
    return WeightTiers(list(zip(bounds, prices, strict=True)))


RULES: list[RateRule] = [
    Flat(nt(0)),
    Flat(nt(60)),
    Flat(nt(60), per_parcel=True),
    PerItem(nt(25)),
    WeightTiers([(1000, nt(80)), (5000, nt(120)), (20000, nt(230))]),
    WeightTiers([(500, nt(60)), (3000, nt(60)), (8000, nt(150))]),
    ValueTiers([(nt(0), nt(120)), (nt(1000), nt(60)), (nt(3000), nt(0))]),
]
LIMITS = [
    ParcelLimits(),
    ParcelLimits(max_weight_g=5000, max_box_cm=(45, 30, 30)),
    ParcelLimits(max_weight_g=20000, max_side_cm=150, max_length_plus_girth_cm=300),
    ParcelLimits(max_weight_g=10000, max_side_cm=60),
    ParcelLimits(max_weight_g=3000, max_length_plus_girth_cm=120),
]
CODS = [None, CashOnDelivery(fee=nt(0)), CashOnDelivery(fee=nt(30), max_value=nt(20000))]
ZONE_SETS = [ZONE_IDS, ZONE_IDS, ZONE_IDS, ZONE_IDS[1:], ZONE_IDS[:1], ZONE_IDS[1:2]]


@st.composite
def services(draw: st.DrawFn, id: str) -> ShippingService:
    """A service from pools of realistic terms: cheap to draw, and rich in equal fees."""
    return ShippingService(
        id=id,
        name=id,
        kind=draw(st.sampled_from(list(ServiceKind))),
        rates=[
            ZoneRate(
                zones=draw(st.sampled_from(ZONE_SETS)),
                rule=draw(st.sampled_from(RULES)),
                transit_days=draw(st.sampled_from([(0, 0), (1, 2), (2, 3), (3, 5)])),
                remote_surcharge=draw(st.sampled_from([None, nt(0), nt(100)])),
            )
        ],
        limits=draw(st.sampled_from(LIMITS)),
        volumetric_divisor=draw(st.sampled_from([None, 5000, 6000])),
        weight_step_g=draw(st.sampled_from([1, 500, 1000])),
        forbidden_handling=draw(st.sampled_from([(), ("battery",), ("liquid", "perishable")])),
        max_declared_value=draw(st.sampled_from([None, nt(5000)])),
        cod=draw(st.sampled_from(CODS)),
        fuel_surcharge_percent=draw(st.sampled_from(["0", "2.5", "7.5"])),
    )


@st.composite
def tables(draw: st.DrawFn) -> ShippingTable:
    count = draw(st.integers(min_value=1, max_value=4))
    return ShippingTable(
        currency="TWD",
        zones=ZONES,
        services=[draw(services(f"s{index}")) for index in range(count)],
        precision=draw(st.sampled_from([None, Precision.cash("TWD")])),
    )


@st.composite
def offers(draw: st.DrawFn, table: ShippingTable) -> FreeShippingOffer | None:
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        return None
    ids = [service.id for service in table.services]
    return FreeShippingOffer(
        services=draw(st.frozensets(st.sampled_from(ids))),
        max_fee=draw(st.none() | fees),
    )


def sorted_sides(product: Product) -> Size | None:
    if product.size_cm is None:
        return None
    a, b, c = sorted(product.size_cm, reverse=True)
    return (a, b, c)


def within(rules: ParcelLimits, weight_g: int, size: Size | None) -> bool:
    """The limits, checked here from their definitions rather than by ParcelLimits itself."""
    if rules.max_weight_g is not None and weight_g > rules.max_weight_g:
        return False
    if size is None:
        return True
    length, width, height = size
    if rules.max_side_cm is not None and length > rules.max_side_cm:
        return False
    girth = 2 * (width + height)
    if (
        rules.max_length_plus_girth_cm is not None
        and length + girth > rules.max_length_plus_girth_cm
    ):
        return False
    return rules.max_box_cm is None or all(
        side <= most for side, most in zip(size, rules.max_box_cm, strict=True)
    )


@given(st.data())
def test_a_fee_is_never_negative_and_is_the_sum_of_its_breakdown(data: st.DataObject) -> None:
    table = data.draw(tables())
    quote = rate_shop(
        data.draw(carts()),
        ship_to=data.draw(st.sampled_from(ADDRESSES)),
        table=table,
        cod=data.draw(st.booleans()),
        free_shipping=data.draw(offers(table)),
    )
    for option in quote.options:
        assert option.fee.amount >= 0
        assert sum(part.amount for part in option.breakdown) == option.fee
        assert round_money(option.fee, table.fee_precision) == option.fee
        waived = option.amount("free_shipping")
        assert -waived <= sum(p.amount for p in option.breakdown if p.code != "free_shipping")


@given(carts(max_lines=5), limits(), st.none() | st.sampled_from([5000, 6000]))
def test_each_parcel_is_within_the_limits_and_holds_its_units(
    items: list[ShipmentItem], rules: ParcelLimits, divisor: int | None
) -> None:
    by_sku = {item.product.sku: item.product for item in items}
    try:
        parcels = pack(items, rules, volumetric_divisor=divisor)
    except NotEligible as refusal:
        product = by_sku[refusal.key]
        assert not within(rules, product.weight_g, sorted_sides(product))
        return
    for parcel in parcels:
        assert within(rules, parcel.weight_g, parcel.size_cm)
        assert parcel.weight_g == sum(by_sku[s].weight_g * n for s, n in parcel.contents)
        if parcel.size_cm is not None:
            length, width, height = parcel.size_cm
            assert length >= width >= height
            assert length * width * height >= parcel.volume_cm3
            for sku, _ in parcel.contents:
                unit = sorted_sides(by_sku[sku])
                if unit is not None:
                    assert all(u <= p for u, p in zip(unit, parcel.size_cm, strict=True))
        assert parcel.chargeable_weight_g >= max(parcel.weight_g, parcel.volumetric_weight_g)


@given(carts(max_lines=5), limits(), st.sampled_from([1, 500, 1000]))
def test_packing_keeps_every_unit_exactly_once(
    items: list[ShipmentItem], rules: ParcelLimits, step: int
) -> None:
    try:
        parcels = pack(items, rules, volumetric_divisor=6000, weight_step_g=step)
    except NotEligible:
        return
    assert total_units(parcels) == Counter({item.product.sku: item.quantity for item in items})
    assert all(parcel.units > 0 for parcel in parcels)
    assert all(parcel.chargeable_weight_g % step == 0 for parcel in parcels)


@given(st.data())
def test_options_are_sorted_and_every_service_is_accounted_for(data: st.DataObject) -> None:
    table = data.draw(tables())
    quote = rate_shop(
        data.draw(carts()),
        ship_to=data.draw(st.sampled_from(ADDRESSES)),
        table=table,
        cod=data.draw(st.booleans()),
    )
    keys = [(o.fee.amount, o.transit_days[1], o.service_id) for o in quote.options]
    assert keys == sorted(keys)
    seen = [o.service_id for o in quote.options] + [r.key for r in quote.ineligible]
    assert sorted(seen) == sorted(service.id for service in table.services)
    if quote.zone is None:
        assert quote.options == ()


@st.composite
def weight_priced_tables(draw: st.DrawFn) -> ShippingTable:
    """One service priced by weight tiers only, with no parcel limits (so one parcel)."""
    service = ShippingService(
        id="w",
        name="By weight",
        kind="home",
        rates=[
            ZoneRate(
                zones=ZONE_IDS,
                rule=draw(weight_tiers(unbounded=True)),
                transit_days=(1, 2),
                remote_surcharge=draw(st.none() | fees),
            )
        ],
        volumetric_divisor=draw(st.none() | st.sampled_from([5000, 6000])),
        weight_step_g=draw(st.sampled_from([1, 100, 500, 1000])),
        cod=CashOnDelivery(fee=draw(fees)),
        fuel_surcharge_percent=draw(st.sampled_from(["0", "2.5", "7.5", "12.5"])),
    )
    return ShippingTable(
        currency="TWD",
        zones=ZONES,
        services=[service],
        precision=draw(st.sampled_from([None, Precision.cash("TWD")])),
    )


@given(st.data())
def test_adding_an_item_never_makes_a_weight_priced_fee_cheaper(data: st.DataObject) -> None:
    table = data.draw(weight_priced_tables())
    items = data.draw(carts())
    extra = ShipmentItem(data.draw(products("EXTRA")), data.draw(st.integers(1, 3)))
    more = data.draw(st.permutations([*items, extra]))
    arguments = {
        "ship_to": data.draw(st.sampled_from(ADDRESSES[:4])),
        "table": table,
        "cod": data.draw(st.booleans()),
        "free_shipping": data.draw(offers(table)),
    }
    before = rate_shop(items, **arguments).option("w")  # type: ignore[arg-type]
    after = rate_shop(more, **arguments).option("w")  # type: ignore[arg-type]
    assert after.fee >= before.fee
    assert after.parcels[0].chargeable_weight_g >= before.parcels[0].chargeable_weight_g
