from decimal import Decimal
from typing import NamedTuple

import pytest

from fourflows import FloatNotAllowed, InvalidInput, Money
from fourflows.commerce.cart import CartLine
from fourflows.commerce.catalog import Product
from fourflows.errors import NotEligible
from fourflows.logistics.packing import Parcel, ParcelLimits, pack, total_units
from fourflows.logistics.shipping import ShipmentItem, ShippingTable


def product(sku: str, weight_g: int, size: tuple[int | str, ...] | None = None) -> Product:
    return Product(
        sku=sku, name=sku.title(), price=Money("100", "TWD"), weight_g=weight_g, size_cm=size
    )


TEE = product("TEE", 200, (30, 20, 3))
BRICK = product("BRICK", 3000)  # no size: ships by weight only
PILLOW = product("PILLOW", 1200, (40, 30, 30))


def sizes(parcels: tuple[Parcel, ...]) -> list[tuple[Decimal, ...] | None]:
    return [parcel.size_cm for parcel in parcels]


class TestFirstFitDecreasing:
    def test_heaviest_units_first_each_into_the_first_parcel_with_room(self) -> None:
        a, b, c = product("A", 3000), product("B", 1500), product("C", 1000)
        parcels = pack(
            [ShipmentItem(c, 1), ShipmentItem(b, 2), ShipmentItem(a, 1)],
            ParcelLimits(max_weight_g=4000),
        )
        # Order A 3000, B 1500, B 1500, C 1000. A opens parcel 1; B would make it 4500, so B
        # opens parcel 2; the second B joins parcel 2 (3000); C fills parcel 1 to 4000.
        assert [(p.contents, p.weight_g) for p in parcels] == [
            ((("A", 1), ("C", 1)), 4000),
            ((("B", 2),), 3000),
        ]

    def test_volumetric_weight_decides_the_order(self) -> None:
        items = [ShipmentItem(BRICK, 1), ShipmentItem(PILLOW, 1)]
        limits = ParcelLimits(max_weight_g=4000)
        # By actual weight the 3 kg brick goes first; with a 6000 cm³/kg divisor the pillow
        # (36,000 cm³ → 6 kg volumetric) outweighs it and goes first.
        by_actual = pack(items, limits)
        by_volume = pack(items, limits, volumetric_divisor=6000)
        assert [p.contents for p in by_actual] == [(("BRICK", 1),), (("PILLOW", 1),)]
        assert [p.contents for p in by_volume] == [(("PILLOW", 1),), (("BRICK", 1),)]

    def test_no_limits_give_one_parcel(self) -> None:
        (parcel,) = pack([ShipmentItem(TEE, 3), ShipmentItem(BRICK, 2)])
        assert (parcel.units, parcel.count("TEE"), parcel.count("BRICK")) == (5, 3, 2)
        assert parcel.weight_g == 3 * 200 + 2 * 3000

    def test_nothing_to_pack(self) -> None:
        assert pack([]) == ()

    def test_cart_lines_pack_too(self) -> None:
        (parcel,) = pack([CartLine(product=TEE, quantity=2)])
        assert parcel.contents == (("TEE", 2),)

    def test_total_units_adds_up_the_parcels(self) -> None:
        parcels = pack(
            [ShipmentItem(BRICK, 3), ShipmentItem(TEE, 1)], ParcelLimits(max_weight_g=5000)
        )
        assert len(parcels) == 3
        assert total_units(parcels) == {"BRICK": 3, "TEE": 1}

    def test_a_light_unit_goes_back_to_the_first_parcel_with_room(self) -> None:
        a, b, c = product("A", 700), product("B", 250), product("C", 50)
        parcels = pack(
            [ShipmentItem(c, 1), ShipmentItem(b, 2), ShipmentItem(a, 3)],
            ParcelLimits(max_weight_g=1000),
        )
        # A, A, A open three parcels (700 each); the first B fits parcel 1 (950), the second
        # only parcel 2 (950); C (50) still fits parcel 1 exactly: 950 + 50 = 1000.
        assert [(p.contents, p.weight_g) for p in parcels] == [
            ((("A", 1), ("B", 1), ("C", 1)), 1000),
            ((("A", 1), ("B", 1)), 950),
            ((("A", 1),), 700),
        ]


def mixed_cart(lines: int) -> list[ShipmentItem]:
    """Products of 100 g to 1.05 kg, up to 29 × 17 × 6 cm, every seventh without a size."""
    return [
        ShipmentItem(
            Product(
                sku=f"P{i:03d}",
                name=f"Product {i}",
                price=Money("100", "TWD"),
                weight_g=100 + (i * 53 % 20) * 50,
                size_cm=(10 + i % 20, 8 + i % 10, 2 + i % 5) if i % 7 else None,
            ),
            1 + i % 3,
        )
        for i in range(lines)
    ]


def pack_for(service_id: str, items: list[ShipmentItem]) -> tuple[Parcel, ...]:
    service = ShippingTable.example_taiwan().service(service_id)
    return pack(
        items,
        service.limits,
        volumetric_divisor=service.volumetric_divisor,
        weight_step_g=service.weight_step_g,
    )


class TestPinnedParcels:
    """Parcels recorded from the first implementation, which rebuilt a parcel for every trial.

    Packing was later made cheaper (plain comparisons per trial, parcels that can take no
    unit left skipped); none of these parcels may change.
    """

    def test_a_sixteen_line_cart_at_the_convenience_store(self) -> None:
        parcels = pack_for("cvs", mixed_cart(16))  # 5 kg and a 45 × 30 × 30 cm box a parcel
        assert [p.contents for p in parcels] == [
            (("P003", 1), ("P006", 1), ("P009", 1), ("P012", 1), ("P015", 1), ("P011", 1)),
            (("P001", 2), ("P004", 2), ("P007", 2), ("P010", 1), ("P014", 1)),
            (("P010", 1), ("P013", 2), ("P002", 3), ("P005", 3), ("P008", 3), ("P000", 1)),
            (("P011", 2), ("P014", 2)),
        ]
        assert [(p.weight_g, p.size_cm) for p in parcels] == [
            (5000, (Decimal(25), Decimal(17), Decimal("12.8"))),
            (5000, (Decimal(20), Decimal("12.3"), Decimal(12))),
            (4950, (Decimal("26.6"), Decimal(23), Decimal(16))),
            (900, (Decimal(21), Decimal(9), Decimal(6))),
        ]

    def test_a_sixteen_line_cart_with_the_rider(self) -> None:
        parcels = pack_for("rider", mixed_cart(16))  # 10 kg and a 60 cm side a parcel
        assert [p.contents for p in parcels] == [
            (
                ("P003", 1),
                ("P006", 1),
                ("P009", 1),
                ("P012", 1),
                ("P015", 1),
                ("P001", 2),
                ("P004", 2),
                ("P007", 2),
                ("P010", 1),
                ("P002", 1),
            ),
            (
                ("P010", 1),
                ("P013", 2),
                ("P002", 2),
                ("P005", 3),
                ("P008", 3),
                ("P011", 3),
                ("P014", 3),
                ("P000", 1),
            ),
        ]
        assert [(p.weight_g, p.size_cm) for p in parcels] == [
            (9950, (Decimal(25), Decimal("19.5"), Decimal(17))),
            (5900, (Decimal("29.9"), Decimal(23), Decimal(16))),
        ]

    @pytest.mark.parametrize(
        ("service_id", "units", "grams"),
        [
            ("home", [20, 21, 24, 27, 32, 41, 75], [*[20000] * 6, 18000]),
            ("store", [240], [138000]),
            (
                "cvs",
                [*[5] * 5, *[6] * 8, 7, 7, 7, 8, 8, 8, 9, 9, 10, 11, 12, 13, 15, 21, 22],
                [*[5000] * 12, 4950, *[5000] * 12, 4950, 5000, 3100],
            ),
            (
                "rider",
                [10, 10, 11, 11, 12, 12, 13, 14, 15, 16, 19, 22, 30, 32, 13],
                [*[10000] * 9, 9950, *[10000] * 3, 6500, 1550],
            ),
        ],
    )
    def test_a_hundred_and_twenty_line_cart(
        self, service_id: str, units: list[int], grams: list[int]
    ) -> None:
        parcels = pack_for(service_id, mixed_cart(120))
        assert [p.units for p in parcels] == units
        assert [p.weight_g for p in parcels] == grams
        assert sum(units) == 240  # 40 lines each of 1, 2 and 3 units


class TestParcelSize:
    def test_one_unit_is_its_own_size(self) -> None:
        (parcel,) = pack([ShipmentItem(product("BOX", 500, (20, 45, "12.5")), 1)])
        assert parcel.size_cm == (Decimal(45), Decimal(20), Decimal("12.5"))
        assert parcel.volume_cm3 == 45 * 20 * Decimal("12.5")

    def test_units_stack_on_the_largest_footprint(self) -> None:
        (parcel,) = pack([ShipmentItem(TEE, 3)], volumetric_divisor=5000, weight_step_g=500)
        # Footprint 30 × 20; 3 × 1800 = 5400 cm³ needs 5400 ÷ 600 = 9 cm of height.
        assert parcel.size_cm == (Decimal(30), Decimal(20), Decimal(9))
        # 5400 × 1000 ÷ 5000 = 1080 g volumetric over 600 g actual, rounded up to 1500 g.
        assert (parcel.weight_g, parcel.volumetric_weight_g, parcel.chargeable_weight_g) == (
            600,
            1080,
            1500,
        )

    def test_a_box_is_at_least_as_tall_as_its_thickest_unit(self) -> None:
        shoebox = product("SHOES", 900, (30, 20, 10))
        book = product("BOOK", 400, (25, 18, 4))
        (parcel,) = pack([ShipmentItem(shoebox, 1), ShipmentItem(book, 1)])
        # 6000 + 1800 = 7800 cm³ on 30 × 20: 13 cm, more than the shoebox's 10.
        assert parcel.size_cm == (Decimal(30), Decimal(20), Decimal(13))
        (flat,) = pack(
            [ShipmentItem(shoebox, 1), ShipmentItem(product("CARD", 10, (10, 10, 1)), 1)]
        )
        # 6000 + 100 = 6100 cm³ on 30 × 20 is 10.17 cm: rounded up to the millimetre.
        assert flat.size_cm == (Decimal(30), Decimal(20), Decimal("10.2"))

    def test_volumetric_weight_uses_the_exact_estimate(self) -> None:
        card = product("CARD", 10, (10, 10, 1))
        (parcel,) = pack([ShipmentItem(TEE, 1), ShipmentItem(card, 1)], volumetric_divisor=5000)
        # 1800 + 100 = 1900 cm³: shown as 30 × 20 × 3.2 cm, charged as 1900 × 1000 ÷ 5000 = 380 g.
        assert parcel.size_cm == (Decimal(30), Decimal(20), Decimal("3.2"))
        assert (parcel.volumetric_weight_g, parcel.chargeable_weight_g) == (380, 380)

    def test_volumetric_grams_round_up(self) -> None:
        (parcel,) = pack(
            [ShipmentItem(product("CUBE", 1, (10, 10, 10)), 1)], volumetric_divisor=6000
        )
        # 1000 cm³ × 1000 ÷ 6000 = 166.67 g → 167 g.
        assert parcel.volumetric_weight_g == 167

    def test_a_product_without_a_size_adds_weight_only(self) -> None:
        (alone,) = pack([ShipmentItem(BRICK, 1)], volumetric_divisor=5000)
        assert alone.size_cm is None
        assert (alone.volume_cm3, alone.volumetric_weight_g) == (Decimal(0), 0)
        (mixed,) = pack([ShipmentItem(BRICK, 1), ShipmentItem(TEE, 1)])
        assert (mixed.size_cm, mixed.weight_g) == ((Decimal(30), Decimal(20), Decimal(3)), 3200)

    def test_a_box_limit_splits_units_that_do_not_fit_together(self) -> None:
        crate = product("CRATE", 1000, (40, 30, 20))
        parcels = pack([ShipmentItem(crate, 3)], ParcelLimits(max_box_cm=(45, 30, 30)))
        # Two crates would be 40 × 30 × 40, too tall for 45 × 30 × 30: one crate a parcel.
        assert sizes(parcels) == [(Decimal(40), Decimal(30), Decimal(20))] * 3


class TestUnitsTooLarge:
    @pytest.mark.parametrize(
        ("limits", "code", "reason"),
        [
            (
                ParcelLimits(max_weight_g=1000),
                "weight",
                "one unit weighs 1.2 kg, over the 1 kg limit",
            ),
            (
                ParcelLimits(max_side_cm=35),
                "side",
                "one unit has a longest side of 40 cm, over the 35 cm limit",
            ),
            (
                ParcelLimits(max_length_plus_girth_cm=150),
                "length_plus_girth",
                # 40 + 2 × (30 + 30) = 160
                "one unit has a length + girth of 160 cm (40 + 2 × (30 + 30)), "
                "over the 150 cm limit",
            ),
            (
                ParcelLimits(max_box_cm=(45, 30, 25)),
                "box",
                "one unit measures 40×30×30 cm, which does not fit the 45×30×25 cm maximum",
            ),
        ],
    )
    def test_each_limit_names_the_unit(self, limits: ParcelLimits, code: str, reason: str) -> None:
        with pytest.raises(NotEligible) as caught:
            pack([ShipmentItem(TEE, 1), ShipmentItem(PILLOW, 1)], limits)
        assert (caught.value.kind, caught.value.key) == ("product", "PILLOW")
        assert (caught.value.code, caught.value.reason) == (code, reason)

    def test_the_box_fits_in_any_orientation(self) -> None:
        lying = product("LONG", 500, (10, 44, 29))
        (parcel,) = pack([ShipmentItem(lying, 1)], ParcelLimits(max_box_cm=(30, 45, 30)))
        assert parcel.size_cm == (Decimal(44), Decimal(29), Decimal(10))

    def test_limits_at_the_edge_are_allowed(self) -> None:
        limits = ParcelLimits(
            max_weight_g=1200, max_side_cm=40, max_length_plus_girth_cm=160, max_box_cm=(40, 30, 30)
        )
        assert limits.admits(1200, (Decimal(40), Decimal(30), Decimal(30)))
        assert not limits.admits(1201, (Decimal(40), Decimal(30), Decimal(30)))


class Line(NamedTuple):
    product: Product
    quantity: int


class TestBadInput:
    @pytest.mark.parametrize("quantity", [0, -2])
    def test_quantities_must_be_above_zero(self, quantity: int) -> None:
        with pytest.raises(
            InvalidInput, match=f"quantity of 'TEE' must be a whole number above 0, not {quantity}"
        ):
            pack([Line(TEE, quantity)])

    def test_items_need_a_product(self) -> None:
        with pytest.raises(InvalidInput, match="a product and a quantity"):
            pack([("TEE", 1)])  # type: ignore[list-item]

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"max_weight_g": 0}, InvalidInput),
            ({"max_weight_g": 1.5}, InvalidInput),
            ({"max_side_cm": -3}, InvalidInput),
            ({"max_side_cm": 12.5}, FloatNotAllowed),
            ({"max_length_plus_girth_cm": "x"}, InvalidInput),
            ({"max_length_plus_girth_cm": [100]}, InvalidInput),
            ({"max_box_cm": (45, 30)}, InvalidInput),
            ({"max_box_cm": (45, 30, 0)}, InvalidInput),
        ],
    )
    def test_limits_are_checked(self, fields: dict[str, object], error: type[Exception]) -> None:
        with pytest.raises(error):
            ParcelLimits(**fields)  # type: ignore[arg-type]

    @pytest.mark.parametrize(("divisor", "step"), [(0, 1), (5000, 0), (True, 1), (5000, "500")])
    def test_divisor_and_step_are_whole_numbers_above_zero(
        self, divisor: object, step: object
    ) -> None:
        with pytest.raises(InvalidInput, match="above 0"):
            pack([ShipmentItem(TEE, 1)], volumetric_divisor=divisor, weight_step_g=step)  # type: ignore[arg-type]

    def test_limits_must_be_parcel_limits(self) -> None:
        with pytest.raises(InvalidInput, match="ParcelLimits"):
            pack([ShipmentItem(TEE, 1)], {"max_weight_g": 5})  # type: ignore[arg-type]
