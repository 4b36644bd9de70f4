from decimal import Decimal

import pytest

from fourflows import CurrencyMismatch, FloatNotAllowed, InvalidInput, Money, NotFound
from fourflows.commerce.catalog import Handling, Product
from fourflows.errors import NotEligible
from fourflows.geo import Address
from fourflows.logistics import shipping
from fourflows.logistics.packing import ParcelLimits, pack
from fourflows.logistics.shipping import (
    CashOnDelivery,
    FeeComponent,
    Flat,
    FreeShippingOffer,
    PerItem,
    PostalRange,
    ServiceKind,
    ShipmentItem,
    ShippingQuote,
    ShippingService,
    ShippingTable,
    ValueTiers,
    WeightTiers,
    Zone,
    ZoneRate,
    quote_service,
    rate_shop,
)
from fourflows.money import Precision


def nt(amount: int | str) -> Money:
    return Money(amount, "TWD")


TW = ShippingTable.example_taiwan()
TAIPEI = Address(country="TW", region="TW-TPE", postal_code="106", city="Taipei")
KAOHSIUNG = Address(country="TW", postal_code="800", city="Kaohsiung")
PENGHU = Address(country="TW", postal_code="880", city="Magong")
TOKYO = Address(country="JP", postal_code="100-0001")

TEE = Product(
    sku="TEE", name="T-shirt", price=nt(590), weight_g=200, size_cm=(30, 20, 3)
)  # 400 g and 30×20×6 cm for two
PILLOW = Product(
    sku="PILLOW", name="Pillow", price=nt(890), weight_g=1200, size_cm=(40, 30, 30)
)  # light but bulky
POWER_BANK = Product(
    sku="PB",
    name="Power bank",
    price=nt(990),
    weight_g=300,
    size_cm=(15, 8, 2),
    handling=[Handling.BATTERY],
)
RACK = Product(sku="RACK", name="Shoe rack", price=nt(1500), weight_g=1000, size_cm=(50, 30, 20))


def shop(*items: ShipmentItem, ship_to: Address = TAIPEI, **options: object) -> ShippingQuote:
    return rate_shop(items, ship_to=ship_to, table=TW, **options)  # type: ignore[arg-type]


def fees(quote: ShippingQuote) -> list[tuple[str, Money]]:
    return [(option.service_id, option.fee) for option in quote.options]


class TestZones:
    @pytest.mark.parametrize(
        ("address", "zone"),
        [
            (Address(country="TW", postal_code="88041"), "tw-islands"),  # Penghu, 5 digits
            (Address(country="TW", region="TW-PEN"), "tw-islands"),  # Penghu, by region only
            (Address(country="TW", postal_code="893"), "tw-islands"),  # Kinmen 890-896
            (Address(country="TW", postal_code="209"), "tw-islands"),  # Matsu 209-212
            (Address(country="TW", region="tw-lie"), "tw-islands"),  # Matsu, by region
            (Address(country="TW", postal_code="952"), "tw-islands"),  # Orchid Island
            (Address(country="TW", postal_code="106"), "tw-taipei"),
            (Address(country="TW", postal_code="208"), "tw-main"),  # New Taipei, next to Matsu
            (Address(country="TW", postal_code="897"), "tw-main"),  # just past Kinmen
            (KAOHSIUNG, "tw-main"),
        ],
    )
    def test_the_first_matching_zone_wins(self, address: Address, zone: str) -> None:
        found = TW.zone_for(address)
        assert found is not None
        assert found.id == zone

    def test_an_address_in_no_zone_leaves_every_service_ineligible(self) -> None:
        quote = shop(ShipmentItem(TEE, 1), ship_to=TOKYO)
        assert quote.zone is None
        assert quote.options == ()
        assert quote.cheapest is None
        assert {refusal.code for refusal in quote.ineligible} == {"no_zone"}
        assert quote.reasons()["home"] == "no zone of the table covers JP 100-0001"
        tokyo = shop(ShipmentItem(TEE, 1), ship_to=Address(country="JP", region="JP-13"))
        assert tokyo.reasons()["cvs"] == "no zone of the table covers JP JP-13"

    def test_declared_order_decides_between_overlapping_zones(self) -> None:
        island_first = Zone(id="island", name="Island", countries="TW", postal_codes="880")
        whole = Zone(id="tw", name="Taiwan", countries=["TW"])
        assert (
            ShippingTable(
                currency="TWD",
                zones=[whole, island_first],
                services=[service("s", rule=Flat(nt(1)), zones=("tw", "island"))],
            ).zone_for(PENGHU)
            == whole
        )

    def test_postal_ranges_compare_the_leading_characters(self) -> None:
        kinmen = PostalRange.parse("890-896")
        assert [kinmen.matches(code) for code in ["890", "89301", "896", "897", "89", ""]] == [
            True,
            True,
            True,
            False,
            False,
            False,
        ]
        assert PostalRange.parse(("209", "212")) == PostalRange("209", "212")
        assert PostalRange.parse(kinmen) is kinmen
        assert str(PostalRange.parse("929")) == "929"
        assert str(kinmen) == "890-896"


def service(
    id: str,
    *,
    rule: object,
    zones: tuple[str, ...] = ("tw",),
    transit: tuple[int, int] = (1, 2),
    remote: Money | None = None,
    **fields: object,
) -> ShippingService:
    return ShippingService(
        id=id,
        name=id.title(),
        kind=fields.pop("kind", ServiceKind.HOME),
        rates=[ZoneRate(zones=zones, rule=rule, transit_days=transit, remote_surcharge=remote)],  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def table(*services: ShippingService, **fields: object) -> ShippingTable:
    zone = Zone(id="tw", name="Taiwan", countries=["TW"])
    return ShippingTable(currency="TWD", zones=[zone], services=services, **fields)  # type: ignore[arg-type]


class TestWeightAndVolume:
    def test_a_light_but_bulky_box_pays_for_its_volume(self) -> None:
        quote = shop(ShipmentItem(PILLOW, 1))
        home = quote.option("home")
        (parcel,) = home.parcels
        # 40 × 30 × 30 = 36,000 cm³; ÷ 6000 cm³/kg = 6 kg volumetric, against 1.2 kg actual.
        assert (parcel.weight_g, parcel.volumetric_weight_g) == (1200, 6000)
        assert parcel.chargeable_weight_g == 6000
        # 6 kg is above the 5 kg tier (150), so the 10 kg tier applies: 200.
        assert home.fee == nt(200)
        # The post office charges by actual weight: 1.2 kg rounds up to 2 kg, the 5 kg tier.
        assert quote.option("post").fee == nt(120)
        assert quote.option("post").parcels[0].chargeable_weight_g == 2000

    def test_the_same_weight_in_a_small_box_pays_the_lower_tier(self) -> None:
        small = Product(
            sku="P2", name="Packed pillow", price=nt(890), weight_g=1200, size_cm=(30, 20, 20)
        )
        # 12,000 cm³ ÷ 6000 = 2 kg volumetric, over 1.2 kg actual: 2 kg is in the 5 kg tier.
        assert shop(ShipmentItem(small, 1)).option("home").fee == nt(150)

    def test_chargeable_weight_rounds_up_to_the_step(self) -> None:
        # Two T-shirts: 400 g; box 30 × 20 × 6 = 3600 cm³ ÷ 6000 = 600 g; step 500 g → 1000 g.
        (parcel,) = shop(ShipmentItem(TEE, 2)).option("home").parcels
        assert (parcel.weight_g, parcel.volumetric_weight_g, parcel.chargeable_weight_g) == (
            400,
            600,
            1000,
        )

    def test_weight_tiers_are_charged_per_parcel(self) -> None:
        brick = Product(sku="BRICK", name="Brick", price=nt(100), weight_g=3000)
        rules = WeightTiers([(1000, nt(50)), (5000, nt(80))])
        quote = rate_shop(
            [ShipmentItem(brick, 3)],
            ship_to=KAOHSIUNG,
            table=table(service("s", rule=rules, limits=ParcelLimits(max_weight_g=5000))),
        )
        option = quote.option("s")
        # 3 × 3 kg with at most 5 kg a parcel: three parcels of 3 kg, 80 each.
        assert [p.weight_g for p in option.parcels] == [3000, 3000, 3000]
        assert option.fee == nt(240)
        assert option.breakdown[0].label == "Base fee (3 parcels)"

    def test_a_parcel_above_the_last_tier_cannot_be_priced(self) -> None:
        rules = WeightTiers([(1000, nt(50))])
        with pytest.raises(NotEligible, match="above its heaviest rate tier of 1000 g") as caught:
            quote_service(
                [ShipmentItem(PILLOW, 1)],
                "s",
                ship_to=KAOHSIUNG,
                table=table(service("s", rule=rules)),
            )
        assert caught.value.code == "weight_tier"


class TestSurcharges:
    def test_penghu_pays_the_remote_area_surcharge_and_taipei_does_not(self) -> None:
        penghu = shop(ShipmentItem(TEE, 1), ship_to=PENGHU).option("home")
        taipei = shop(ShipmentItem(TEE, 1), ship_to=TAIPEI).option("home")
        # 200 g, 1800 cm³ → 300 g volumetric → 500 g chargeable: the 1 kg tier, 100.
        assert taipei.fee == nt(100)
        assert [part.code for part in taipei.breakdown] == ["base"]
        # Penghu: the same 100 plus the 100 remote-area surcharge.
        assert penghu.fee == nt(200)
        assert [(part.code, part.amount) for part in penghu.breakdown] == [
            ("base", nt(100)),
            ("remote_area", nt(100)),
        ]
        assert penghu.breakdown[1].label == "Remote-area surcharge (Taiwan outlying islands (離島))"
        assert (penghu.zone_id, penghu.transit_days) == ("tw-islands", (3, 5))
        assert taipei.transit_days == (1, 2)

    def test_fuel_surcharge_is_a_percentage_of_the_base_fee(self) -> None:
        fuelled = table(
            service(
                "s",
                rule=Flat(nt(150)),
                remote=nt(40),
                fuel_surcharge_percent=Decimal("7.5"),
            )
        )
        option = quote_service([ShipmentItem(TEE, 1)], "s", ship_to=KAOHSIUNG, table=fuelled)
        # 7.5% of the 150 base = 11.25 (the remote surcharge is not fuelled); 150 + 40 + 11.25.
        assert option.amount("fuel") == nt("11.25")
        assert option.fee == nt("201.25")
        assert option.breakdown[2].label == "Fuel surcharge (7.5% of the base fee)"
        # In whole dollars, 11.25 rounds half-up to 11: 150 + 40 + 11 = 201.
        whole = attrs_evolve_precision(fuelled, Precision.cash("TWD"))
        assert quote_service([ShipmentItem(TEE, 1)], "s", ship_to=KAOHSIUNG, table=whole).fee == nt(
            201
        )

    def test_the_breakdown_adds_up_to_the_fee(self) -> None:
        for option in shop(ShipmentItem(PILLOW, 2), ship_to=PENGHU, cod=True).options:
            assert sum(part.amount for part in option.breakdown) == option.fee


def attrs_evolve_precision(source: ShippingTable, precision: Precision) -> ShippingTable:
    return ShippingTable(
        currency=source.currency, zones=source.zones, services=source.services, precision=precision
    )


class TestCashOnDelivery:
    def test_cod_adds_the_fee_and_records_the_amount_to_collect(self) -> None:
        home = shop(ShipmentItem(TEE, 2), cod=True).option("home")
        # base 100 + COD fee 30 = 130; the courier collects goods 1180 + 130 = 1310.
        assert [(part.code, part.amount) for part in home.breakdown] == [
            ("base", nt(100)),
            ("cod_fee", nt(30)),
        ]
        assert (home.fee, home.cod, home.cod_amount) == (nt(130), True, nt(1310))

    def test_services_without_cod_are_left_out_with_the_reason(self) -> None:
        quote = shop(ShipmentItem(TEE, 1), cod=True)
        assert [option.service_id for option in quote.options] == ["store", "cvs", "home"]
        assert quote.reasons() == {
            "post": "it does not collect cash on delivery",
            "rider": "it does not collect cash on delivery",
        }
        assert all(option.cod for option in quote.options)

    def test_the_cod_cap_counts_goods_and_shipping(self) -> None:
        at_cap = Product(sku="TV", name="TV", price=nt(19870), weight_g=800, size_cm=(20, 20, 10))
        # Home: goods 19,870 + fee (100 + 30) = 20,000, exactly the cap: still eligible.
        assert shop(ShipmentItem(at_cap, 1), cod=True).option("home").cod_amount == nt(20000)
        # One dollar more of goods: 20,001 is over the cap.
        over = ShipmentItem(at_cap, 1, nt(19871))
        quote = shop(over, cod=True)
        with pytest.raises(
            NotEligible, match="over its cash-on-delivery limit of 20000 TWD"
        ) as caught:
            quote.option("home")
        assert caught.value.code == "cod_cap"
        assert "goods 19871 TWD + shipping 130 TWD" in caught.value.reason
        # The convenience store has no COD fee: 19,871 + 60 = 19,931 is within its cap.
        assert quote.option("cvs").cod_amount == nt(19931)
        # Without COD the cap does not matter.
        assert shop(over).option("home").fee == nt(100)


class TestWhatAServiceCarries:
    def test_a_battery_is_refused_by_the_post_office_and_taken_by_home_delivery(self) -> None:
        quote = shop(ShipmentItem(POWER_BANK, 1), ShipmentItem(TEE, 1))
        assert quote.reasons()["post"] == (
            "it does not carry goods that need special handling: PB (battery)"
        )
        assert quote.option("home").fee == nt(100)
        with pytest.raises(NotEligible, match="'post' is not eligible") as caught:
            quote_service([ShipmentItem(POWER_BANK, 1)], "post", ship_to=TAIPEI, table=TW)
        assert (caught.value.kind, caught.value.key, caught.value.code) == (
            "shipping service",
            "post",
            "handling",
        )

    def test_convenience_store_pickup_refuses_an_oversize_box(self) -> None:
        quote = shop(ShipmentItem(RACK, 1))
        (refusal,) = [r for r in quote.ineligible if r.key == "cvs"]
        assert refusal.code == "box"
        assert refusal.reason == (
            "RACK: one unit measures 50×30×20 cm, which does not fit the 45×30×30 cm maximum"
        )
        assert quote.option("home").fee == nt(150)  # 30,000 cm³ ÷ 6000 = 5 kg: the 5 kg tier

    def test_convenience_store_pickup_refuses_a_heavy_unit(self) -> None:
        dumbbell = Product(
            sku="DB", name="Dumbbell", price=nt(800), weight_g=6000, size_cm=(30, 15, 15)
        )
        refusal = shop(ShipmentItem(dumbbell, 1)).ineligible
        assert [(r.key, r.code, r.reason) for r in refusal if r.key == "cvs"] == [
            ("cvs", "weight", "DB: one unit weighs 6 kg, over the 5 kg limit")
        ]

    def test_convenience_store_pickup_splits_what_fits_only_apart(self) -> None:
        crate = Product(
            sku="CRATE", name="Crate", price=nt(300), weight_g=1000, size_cm=(40, 30, 20)
        )
        cvs = shop(ShipmentItem(crate, 2)).option("cvs")
        # Together 40 × 30 × 40 cm does not fit 45 × 30 × 30, so two parcels at 60 each.
        assert [parcel.size_cm for parcel in cvs.parcels] == [
            (Decimal(40), Decimal(30), Decimal(20)),
            (Decimal(40), Decimal(30), Decimal(20)),
        ]
        assert cvs.fee == nt(120)

    def test_a_declared_value_limit_refuses_valuable_goods(self) -> None:
        capped = table(service("s", rule=Flat(nt(80)), max_declared_value=nt(5000)))
        assert quote_service(
            [ShipmentItem(TEE, 8)], "s", ship_to=KAOHSIUNG, table=capped
        ).fee == nt(80)
        with pytest.raises(
            NotEligible, match="worth 5310 TWD, over its declared-value limit"
        ) as caught:
            quote_service([ShipmentItem(TEE, 9)], "s", ship_to=KAOHSIUNG, table=capped)
        assert caught.value.code == "declared_value"

    def test_same_day_delivery_is_for_taipei_only(self) -> None:
        assert shop(ShipmentItem(TEE, 1)).option("rider").transit_days == (0, 0)
        with pytest.raises(NotEligible, match=r"does not deliver to Taiwan main island") as caught:
            shop(ShipmentItem(TEE, 1), ship_to=KAOHSIUNG).option("rider")
        assert caught.value.code == "no_zone_rate"

    def test_pickup_services_have_their_kind(self) -> None:
        kinds = {option.service_id: option.kind for option in shop(ShipmentItem(TEE, 1)).options}
        assert kinds == {
            "store": ServiceKind.PICKUP_STORE,
            "cvs": ServiceKind.PICKUP_CVS,
            "post": ServiceKind.HOME,
            "home": ServiceKind.HOME,
            "rider": ServiceKind.SAME_DAY,
        }


class TestOtherRateRules:
    def test_per_item(self) -> None:
        per_item = table(service("s", rule=PerItem(nt(25))))
        # 3 T-shirts and 1 pillow: 4 units × 25 = 100.
        items = [ShipmentItem(TEE, 3), ShipmentItem(PILLOW, 1)]
        assert quote_service(items, "s", ship_to=KAOHSIUNG, table=per_item).fee == nt(100)

    def test_order_value_tiers(self) -> None:
        tiers = ValueTiers([(nt(0), nt(120)), (nt(1000), nt(60)), (nt(3000), nt(0))])
        valued = table(service("s", rule=tiers))

        def fee(value: int) -> Money:
            return quote_service(
                [ShipmentItem(TEE, 1, nt(value))], "s", ship_to=KAOHSIUNG, table=valued
            ).fee

        assert [fee(999), fee(1000), fee(2999), fee(3000)] == [nt(120), nt(60), nt(60), nt(0)]

    def test_flat_per_order_or_per_parcel(self) -> None:
        limits = ParcelLimits(max_weight_g=2000)
        items = [ShipmentItem(PILLOW, 2)]  # 1.2 kg each: one pillow a parcel
        per_order = table(service("s", rule=Flat(nt(70)), limits=limits))
        per_parcel = table(service("s", rule=Flat(nt(70), per_parcel=True), limits=limits))
        option = quote_service(items, "s", ship_to=KAOHSIUNG, table=per_order)
        assert (len(option.parcels), option.fee) == (2, nt(70))
        # 2 parcels × 70 = 140
        assert quote_service(items, "s", ship_to=KAOHSIUNG, table=per_parcel).fee == nt(140)


def free_over(threshold: Money, items: list[ShipmentItem]) -> FreeShippingOffer | None:
    """What a promotions engine would hand over: home delivery free from ``threshold``."""
    goods = sum(item.value for item in items)
    if goods >= threshold:
        return FreeShippingOffer(
            label="Free home delivery over NT$1,000", promotion_id="promo-7", services={"home"}
        )
    return None


class TestFreeShipping:
    def test_an_offer_over_a_threshold_waives_only_the_service_it_covers(self) -> None:
        items = [ShipmentItem(TEE, 2)]  # 1180, over the 1000 threshold
        offer = free_over(nt(1000), items)
        quote = rate_shop(items, ship_to=KAOHSIUNG, table=TW, free_shipping=offer)
        home = quote.option("home")
        assert home.fee == nt(0)
        assert home.breakdown == (
            FeeComponent(code="base", label="Base fee", amount=nt(100)),
            FeeComponent(
                code="free_shipping",
                label="Free home delivery over NT$1,000",
                amount=nt(-100),
                promotion_id="promo-7",
            ),
        )
        assert quote.option("cvs").fee == nt(60)
        assert quote.option("post").fee == nt(80)
        # Free home delivery now ties with store pickup at 0 and 2 days: "home" sorts first.
        assert fees(quote) == [("home", nt(0)), ("store", nt(0)), ("cvs", nt(60)), ("post", nt(80))]

    def test_below_the_threshold_there_is_no_offer(self) -> None:
        items = [ShipmentItem(TEE, 1)]  # 590
        quote = rate_shop(
            items, ship_to=KAOHSIUNG, table=TW, free_shipping=free_over(nt(1000), items)
        )
        assert quote.option("home").fee == nt(100)

    def test_the_offer_waives_surcharges_too(self) -> None:
        offer = FreeShippingOffer(services="home")
        home = shop(ShipmentItem(TEE, 1), ship_to=PENGHU, free_shipping=offer).option("home")
        # 100 base + 100 remote = 200, all waived.
        assert (home.amount("free_shipping"), home.fee) == (nt(-200), nt(0))

    def test_a_capped_offer_waives_at_most_its_cap(self) -> None:
        offer = FreeShippingOffer(label="Up to NT$60 off shipping", max_fee=nt(60))
        quote = shop(ShipmentItem(TEE, 1), ship_to=PENGHU, free_shipping=offer)
        # Home: 200 - 60 = 140; post: 80 - 60 = 20; convenience store: 60 - 60 = 0.
        assert fees(quote) == [("cvs", nt(0)), ("post", nt(20)), ("home", nt(140))]

    def test_a_free_service_shows_no_waiver(self) -> None:
        store = shop(ShipmentItem(TEE, 1), free_shipping=FreeShippingOffer()).option("store")
        assert [part.code for part in store.breakdown] == ["base"]

    def test_the_cod_cap_sees_the_waived_fee(self) -> None:
        almost = ShipmentItem(TEE, 1, nt(19900))
        # 19,900 + (100 + 30) = 20,030 is over the cap, but free shipping brings it to 19,900.
        assert "home" in shop(almost, cod=True).reasons()
        offer = FreeShippingOffer(services=["home"])
        assert shop(almost, cod=True, free_shipping=offer).option("home").cod_amount == nt(19900)


class TestSeveralOffers:
    CAPPED = FreeShippingOffer(label="Up to NT$60 off", promotion_id="cap-60", max_fee=nt(60))
    HOME = FreeShippingOffer(label="Free home delivery", promotion_id="home", services={"home"})

    def test_each_service_gets_the_offer_that_waives_the_most(self) -> None:
        quote = shop(ShipmentItem(TEE, 1), ship_to=PENGHU, free_shipping=[self.CAPPED, self.HOME])
        # Home: 100 base + 100 remote = 200; the capped offer waives 60, the home offer all 200.
        # Post: 80, only the capped offer covers it: 80 - 60 = 20. Convenience store: 60 - 60 = 0.
        assert fees(quote) == [("cvs", nt(0)), ("home", nt(0)), ("post", nt(20))]
        waivers = {
            option.service_id: [p.promotion_id for p in option.breakdown if p.promotion_id]
            for option in quote.options
        }
        assert waivers == {"cvs": ["cap-60"], "home": ["home"], "post": ["cap-60"]}

    def test_offers_never_add_up(self) -> None:
        other = FreeShippingOffer(label="Up to NT$50 off", max_fee=nt(50))
        home = shop(ShipmentItem(TEE, 1), ship_to=PENGHU, free_shipping=[other, self.CAPPED])
        # 200 - 60, not 200 - 60 - 50: the larger waiver alone.
        assert home.option("home").fee == nt(140)
        assert home.option("home").amount("free_shipping") == nt(-60)

    def test_on_a_tie_the_offer_listed_first_is_used(self) -> None:
        first = FreeShippingOffer(label="Members ship free", promotion_id="members")
        second = FreeShippingOffer(label="Free shipping weekend", promotion_id="weekend")
        for offers, used in (([first, second], "members"), ([second, first], "weekend")):
            option = shop(ShipmentItem(TEE, 1), free_shipping=offers).option("home")
            assert option.fee == nt(0)
            assert [p.promotion_id for p in option.breakdown if p.promotion_id] == [used]

    def test_one_offer_a_list_of_one_and_none(self) -> None:
        item = ShipmentItem(TEE, 1)
        assert shop(item, free_shipping=[self.CAPPED]) == shop(item, free_shipping=self.CAPPED)
        assert shop(item, free_shipping=()) == shop(item)

    def test_each_offer_is_checked(self) -> None:
        with pytest.raises(CurrencyMismatch):
            shop(
                ShipmentItem(TEE, 1),
                free_shipping=[self.HOME, FreeShippingOffer(max_fee=Money("5", "USD"))],
            )
        with pytest.raises(InvalidInput, match="services the table does not have: drone"):
            shop(
                ShipmentItem(TEE, 1), free_shipping=(self.HOME, FreeShippingOffer(services="drone"))
            )

    def test_the_items_are_packed_once_per_service_whatever_the_offers(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        packed: list[ParcelLimits | None] = []

        def counting(
            items: object, limits: ParcelLimits | None = None, **options: object
        ) -> object:
            packed.append(limits)
            return pack(items, limits, **options)  # type: ignore[arg-type]

        monkeypatch.setattr(shipping, "pack", counting)
        shop(ShipmentItem(TEE, 2), ship_to=PENGHU, free_shipping=[self.CAPPED, self.HOME])
        # Store pickup and the rider do not serve Penghu, so only home, post and cvs pack.
        assert packed == [TW.service(s).limits for s in ("home", "post", "cvs")]

    def test_a_service_the_offer_brings_under_the_cod_cap_is_eligible(self) -> None:
        almost = ShipmentItem(TEE, 1, nt(19900))
        # Without the offer 19,900 + 130 is over the 20,000 cap; with it 19,900 is collected.
        quote = shop(almost, cod=True, free_shipping=[self.CAPPED, self.HOME])
        assert quote.option("home").cod_amount == nt(19900)
        assert "home" not in quote.reasons()


class TestRateShopping:
    def test_options_are_sorted_by_fee(self) -> None:
        quote = shop(ShipmentItem(TEE, 1))
        assert fees(quote) == [
            ("store", nt(0)),
            ("cvs", nt(60)),
            ("post", nt(80)),
            ("home", nt(100)),
            ("rider", nt(150)),
        ]
        assert quote.ineligible == ()

    def test_equal_fees_go_faster_first_then_by_service_id(self) -> None:
        services = [
            service("slow", rule=Flat(nt(80)), transit=(2, 5)),
            service("b-fast", rule=Flat(nt(80)), transit=(1, 2)),
            service("a-fast", rule=Flat(nt(80)), transit=(0, 2)),
            service("cheap", rule=Flat(nt(79)), transit=(4, 9)),
        ]
        quote = rate_shop([ShipmentItem(TEE, 1)], ship_to=KAOHSIUNG, table=table(*services))
        assert [o.service_id for o in quote.options] == ["cheap", "a-fast", "b-fast", "slow"]

    def test_explain_says_how_long_delivery_takes(self) -> None:
        services = [
            service("a", rule=Flat(nt(1)), transit=(1, 1)),
            service("b", rule=Flat(nt(2)), transit=(2, 2)),
            service("c", rule=Flat(nt(3)), transit=(0, 0)),
            service("d", rule=Flat(nt(4)), transit=(0, 1)),
        ]
        text = rate_shop(
            [ShipmentItem(TEE, 1)], ship_to=KAOHSIUNG, table=table(*services)
        ).explain()
        assert [line.split("(")[1] for line in text.splitlines()[1::2]] == [
            "1 day, 1 parcel)",
            "2 days, 1 parcel)",
            "same day, 1 parcel)",
            "0-1 days, 1 parcel)",
        ]

    def test_quote_service_agrees_with_rate_shopping(self) -> None:
        items = [ShipmentItem(PILLOW, 2), ShipmentItem(TEE, 1)]
        quote = rate_shop(items, ship_to=PENGHU, table=TW, cod=True)
        for option in quote.options:
            assert (
                quote_service(items, option.service_id, ship_to=PENGHU, table=TW, cod=True)
                == option
            )

    def test_asking_for_an_unknown_service(self) -> None:
        with pytest.raises(NotFound, match="no shipping service 'drone'; known: 'cvs', 'home'"):
            quote_service([ShipmentItem(TEE, 1)], "drone", ship_to=TAIPEI, table=TW)
        with pytest.raises(NotFound, match="'drone'"):
            shop(ShipmentItem(TEE, 1)).option("drone")

    def test_explain_lists_options_breakdowns_and_reasons(self) -> None:
        text = shop(ShipmentItem(POWER_BANK, 1), ship_to=PENGHU, cod=True).explain()
        assert text.splitlines() == [
            "Shipping to tw-islands, Taiwan outlying islands (離島):",
            "  cvs: Convenience-store pickup (超商取貨): 60 TWD "
            "(2-3 days, 1 parcel, cash on delivery)",
            "      Base fee: 60 TWD",
            "  home: Home delivery (宅配): 230 TWD (3-5 days, 1 parcel, cash on delivery)",
            "      Base fee: 100 TWD",
            "      Remote-area surcharge (Taiwan outlying islands (離島)): 100 TWD",
            "      Cash-on-delivery fee: 30 TWD",
            "Not eligible:",
            "  post: it does not carry goods that need special handling: PB (battery)",
            "  store: it does not deliver to Taiwan outlying islands (離島) (tw-islands)",
            "  rider: it does not deliver to Taiwan outlying islands (離島) (tw-islands)",
        ]

    def test_a_shipment_item_is_worth_its_price_unless_told(self) -> None:
        assert ShipmentItem(TEE, 2).value == nt(1180)
        assert ShipmentItem(TEE, 2, nt(500)).value == nt(1000)
        assert ShipmentItem(product=TEE, quantity=1).unit_value == nt(590)


class TestBadInput:
    def test_items_in_another_currency(self) -> None:
        dollar_tee = Product(sku="USD-TEE", name="Tee", price=Money("20", "USD"), weight_g=200)
        with pytest.raises(CurrencyMismatch, match="cannot ship USD with TWD"):
            shop(ShipmentItem(dollar_tee, 1))
        with pytest.raises(CurrencyMismatch):
            ShipmentItem(TEE, 1, Money("20", "USD"))

    def test_a_table_amount_in_another_currency(self) -> None:
        with pytest.raises(CurrencyMismatch, match="USD with TWD"):
            table(service("s", rule=Flat(Money("5", "USD"))))
        with pytest.raises(CurrencyMismatch):
            table(service("s", rule=Flat(nt(5)), cod=CashOnDelivery(fee=Money("1", "USD"))))

    def test_an_offer_in_another_currency_or_for_unknown_services(self) -> None:
        with pytest.raises(CurrencyMismatch):
            shop(ShipmentItem(TEE, 1), free_shipping=FreeShippingOffer(max_fee=Money("5", "USD")))
        with pytest.raises(InvalidInput, match="services the table does not have: drone"):
            shop(ShipmentItem(TEE, 1), free_shipping=FreeShippingOffer(services={"drone", "home"}))

    @pytest.mark.parametrize("quantity", [0, -1, True, "2"])
    def test_a_quantity_must_be_above_zero(self, quantity: object) -> None:
        with pytest.raises(
            InvalidInput, match=f"a quantity must be a whole number above 0, not {quantity!r}"
        ):
            ShipmentItem(TEE, quantity)  # type: ignore[arg-type]

    def test_a_negative_rate(self) -> None:
        with pytest.raises(InvalidInput, match="cannot be negative: -1 TWD"):
            Flat(nt(-1))
        with pytest.raises(InvalidInput, match="cannot be negative"):
            WeightTiers([(1000, nt(-5))])
        with pytest.raises(InvalidInput, match="remote_surcharge cannot be negative"):
            service("s", rule=Flat(nt(1)), remote=nt(-100))
        with pytest.raises(InvalidInput, match="must be Money"):
            PerItem(25)  # type: ignore[arg-type]

    def test_a_zone_needs_a_matcher(self) -> None:
        with pytest.raises(InvalidInput, match="zone 'nowhere' has no matcher"):
            Zone(id="nowhere", name="Nowhere")
        with pytest.raises(InvalidInput, match="names no country"):
            Zone(id="z", name="Z", postal_codes=["880"])
        with pytest.raises(InvalidInput, match="unknown country 'XX'"):
            Zone(id="z", name="Z", countries=["XX"])

    @pytest.mark.parametrize("bad", ["885-880", "88-885", "8 8", ("880",), 880])
    def test_a_postal_range_must_make_sense(self, bad: object) -> None:
        with pytest.raises(InvalidInput, match="postal"):
            PostalRange.parse(bad)

    def test_an_unknown_handling_flag(self) -> None:
        with pytest.raises(
            InvalidInput, match="unknown handling flag 'explosive'; allowed: fragile"
        ):
            service("s", rule=Flat(nt(1)), forbidden_handling={"explosive"})

    def test_a_float_percentage(self) -> None:
        with pytest.raises(FloatNotAllowed):
            service("s", rule=Flat(nt(1)), fuel_surcharge_percent=7.5)
        with pytest.raises(InvalidInput, match="0 or more"):
            service("s", rule=Flat(nt(1)), fuel_surcharge_percent="-1")

    def test_tiers_must_rise_and_never_get_cheaper(self) -> None:
        with pytest.raises(InvalidInput, match="weight tiers must rise: 1000 g comes after 1000 g"):
            WeightTiers([(1000, nt(50)), (1000, nt(60))])
        with pytest.raises(InvalidInput, match="a heavier tier cannot cost less"):
            WeightTiers([(1000, nt(50)), (2000, nt(40))])
        with pytest.raises(InvalidInput, match="at least one tier"):
            WeightTiers([])
        with pytest.raises(InvalidInput, match=r"a weight tier \(up_to_g, fee\) must be a pair"):
            WeightTiers([(1000,)])
        with pytest.raises(InvalidInput, match="weight tiers must be a list or tuple"):
            WeightTiers("1000")
        with pytest.raises(InvalidInput, match="start with a tier from 0"):
            ValueTiers([(nt(100), nt(50))])
        with pytest.raises(InvalidInput, match="order-value tiers must rise"):
            ValueTiers([(nt(0), nt(50)), (nt(0), nt(40))])

    @pytest.mark.parametrize("days", [(3, 1), (-1, 2), (1,), (1.0, 2), "12"])
    def test_transit_days(self, days: object) -> None:
        with pytest.raises(InvalidInput, match="transit days"):
            ZoneRate(zones="tw", rule=Flat(nt(1)), transit_days=days)

    def test_a_table_must_be_consistent(self) -> None:
        with pytest.raises(
            InvalidInput, match="rate for zone 'mars', which the table does not declare"
        ):
            table(service("s", rule=Flat(nt(1)), zones=("mars",)))
        with pytest.raises(InvalidInput, match="service ids must be unique; repeated: s"):
            table(service("s", rule=Flat(nt(1))), service("s", rule=Flat(nt(2))))
        with pytest.raises(InvalidInput, match="zone 'tw' has two rates"):
            ShippingService(
                id="s",
                name="S",
                kind="home",
                rates=[
                    ZoneRate(zones="tw", rule=Flat(nt(1)), transit_days=(1, 2)),
                    ZoneRate(zones=["tw"], rule=Flat(nt(2)), transit_days=(1, 2)),
                ],
            )
        with pytest.raises(InvalidInput, match="unknown service kind 'drone'"):
            service("s", rule=Flat(nt(1)), kind="drone")

    @pytest.mark.parametrize(
        ("build", "complaint"),
        [
            (lambda: Zone(id=" ", name="Z", countries="TW"), "a zone id must be a non-empty"),
            (lambda: WeightTiers([(-1, nt(1))]), "whole number of grams, 0 or more, not -1"),
            (lambda: service("s", rule=Flat(nt(1)), fuel_surcharge_percent=[5]), "a Decimal"),
            (lambda: service("s", rule=Flat(nt(1)), fuel_surcharge_percent="x"), "not a number"),
            (lambda: service("s", rule=Flat(nt(1)), zones=()), "at least one zone id"),
            (lambda: service("s", rule=Flat(nt(1)), limits={}), "limits must be ParcelLimits"),
            (lambda: service("s", rule=Flat(nt(1)), volumetric_divisor=0), "volumetric divisor"),
            (lambda: service("s", rule=Flat(nt(1)), weight_step_g=0), "a weight step"),
            (lambda: service("s", rule=Flat(nt(1)), cod="yes"), "cod must be CashOnDelivery"),
            (lambda: service("s", rule="flat"), "a rate rule must be Flat"),
            (
                lambda: ShippingService(id="s", name="S", kind="home", rates=[]),
                "one or more ZoneRate",
            ),
            (lambda: ShippingTable(currency="TWD", zones=[], services=[]), "one or more Zone"),
            (
                lambda: ShippingTable(
                    currency="TWD", zones=TW.zones + TW.zones[:1], services=TW.services
                ),
                "zone ids must be unique; repeated: tw-islands",
            ),
            (
                lambda: ShippingTable(currency="TWD", zones=TW.zones, services=[]),
                "one or more ShippingService",
            ),
            (lambda: table(service("s", rule=Flat(nt(1))), precision=2), "must be a Precision"),
            (lambda: ShipmentItem("TEE", 1), "needs a Product, not 'TEE'"),  # type: ignore[arg-type]
            (
                lambda: rate_shop([ShipmentItem(TEE, 1)], ship_to=TAIPEI, table="TW"),  # type: ignore[arg-type]
                "ShippingTable",
            ),
            (lambda: rate_shop([ShipmentItem(TEE, 1)], ship_to="TW", table=TW), "an Address"),  # type: ignore[arg-type]
            (lambda: rate_shop(ShipmentItem(TEE, 1), ship_to=TAIPEI, table=TW), "a list of"),  # type: ignore[arg-type]
            (
                lambda: rate_shop(
                    [ShipmentItem(TEE, 1)],
                    ship_to=TAIPEI,
                    table=TW,
                    free_shipping="free",  # type: ignore[arg-type]
                ),
                "a FreeShippingOffer, a list of them or None, not 'free'",
            ),
            (
                lambda: rate_shop(
                    [ShipmentItem(TEE, 1)],
                    ship_to=TAIPEI,
                    table=TW,
                    free_shipping=[FreeShippingOffer(), "free"],  # type: ignore[list-item]
                ),
                "FreeShippingOffer values only, not 'free'",
            ),
        ],
    )
    def test_each_value_is_checked(self, build: object, complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            build()  # type: ignore[operator]

    def test_nothing_to_ship(self) -> None:
        with pytest.raises(InvalidInput, match="nothing to ship"):
            shop()
        with pytest.raises(InvalidInput, match="ShipmentItem"):
            rate_shop([TEE], ship_to=TAIPEI, table=TW)  # type: ignore[list-item]

    def test_bad_input_changes_nothing(self) -> None:
        items = [ShipmentItem(TEE, 1)]
        before = rate_shop(items, ship_to=TAIPEI, table=TW)
        with pytest.raises(InvalidInput):
            rate_shop(items, ship_to=TAIPEI, table=TW, cod="yes")  # type: ignore[arg-type]
        assert fees(rate_shop(items, ship_to=TAIPEI, table=TW)) == fees(before)
