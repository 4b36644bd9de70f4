from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fourflows import CurrencyMismatch, InvalidInput, Money
from fourflows.commerce.cart import Cart, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Catalog, Handling, Product
from fourflows.geo import Address, country_code

TEE = Product(
    sku="TEE-M",
    name="T-shirt",
    price=Money("590", "TWD"),
    weight_g=200,
    size_cm=(30, 20, 3),
    categories={"apparel"},
)
SOCKS = Product(sku="SOCK", name="Socks", price=Money("350", "TWD"), categories="apparel")


class TestProduct:
    def test_a_product_keeps_what_shipping_and_promotions_need(self) -> None:
        battery = Product(
            sku="PB-1",
            name="Power bank",
            price=Money("990", "TWD"),
            weight_g=350,
            size_cm=("15", Decimal("7.5"), 2),
            handling=["battery", Handling.FRAGILE],
            seller_id="seller-7",
            backorderable=True,
        )
        assert battery.size_cm == (Decimal(15), Decimal("7.5"), Decimal(2))
        assert battery.handling == {Handling.BATTERY, Handling.FRAGILE}
        assert (battery.currency, battery.tax_category) == ("TWD", "standard")
        assert SOCKS.categories == frozenset({"apparel"})

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"sku": " "}, "sku"),
            ({"price": Money("-1", "TWD")}, "negative"),
            ({"price": "590"}, "Money"),
            ({"weight_g": -5}, "grams"),
            ({"weight_g": 1.5}, "grams"),
            ({"size_cm": (10, 10)}, "length, width, height"),
            ({"size_cm": (10, 0, 5)}, "positive"),
            ({"size_cm": (10, 1.5, 5)}, "int, Decimal or str"),
            ({"handling": ["explosive"]}, "unknown handling flag 'explosive'"),
            ({"categories": [""]}, "category"),
        ],
    )
    def test_bad_fields_are_refused(self, fields: dict[str, object], complaint: str) -> None:
        values: dict[str, object] = {"sku": "X", "name": "X", "price": Money("1", "TWD")}
        values.update(fields)
        with pytest.raises(InvalidInput, match=complaint):
            Product(**values)  # type: ignore[arg-type]

    def test_variants_name_their_parent(self) -> None:
        tee_l = Product(
            sku="TEE-L",
            name="T-shirt L",
            price=Money("590", "TWD"),
            variant_of="TEE",
            options={"size": "L", "colour": "navy"},
        )
        assert tee_l.options == (("colour", "navy"), ("size", "L"))
        catalog = Catalog([TEE, tee_l])
        assert catalog.variants("TEE") == (tee_l,)


class TestCatalog:
    def test_finds_products_by_sku(self) -> None:
        catalog = Catalog([TEE, SOCKS])
        assert catalog["SOCK"] is SOCKS
        assert "TEE-M" in catalog
        assert len(catalog) == 2
        assert list(catalog) == [TEE, SOCKS]

    def test_an_unknown_sku_names_it(self) -> None:
        with pytest.raises(InvalidInput, match="unknown sku 'HAT'; the catalog has: SOCK, TEE-M"):
            Catalog([TEE, SOCKS])["HAT"]

    def test_skus_are_unique(self) -> None:
        with pytest.raises(InvalidInput, match="twice"):
            Catalog([TEE, TEE])
        with pytest.raises(InvalidInput, match="Product"):
            Catalog(["TEE"])  # type: ignore[list-item]


class TestCart:
    def test_adding_builds_a_new_cart_and_merges_same_price_lines(self) -> None:
        empty = Cart("twd")
        cart = empty.add(TEE, 2).add(SOCKS, 1).add(TEE, 1)
        assert empty.lines == ()
        assert [(line.sku, line.quantity) for line in cart.lines] == [("TEE-M", 3), ("SOCK", 1)]
        assert cart.subtotal() == Money("2120", "TWD")
        assert cart.units == 4
        assert cart.currency == "TWD"

    def test_a_price_list_price_makes_its_own_line(self) -> None:
        cart = Cart("TWD").add(TEE, 1).add(TEE, 1, unit_price=Money("490", "TWD"))
        assert [line.unit_price for line in cart.lines] == [
            Money("590", "TWD"),
            Money("490", "TWD"),
        ]
        assert cart.lines[1].subtotal == Money("490", "TWD")

    @pytest.mark.parametrize("qty", [0, -1, 1.5, True, "2"])
    def test_quantities_are_whole_and_positive(self, qty: object) -> None:
        with pytest.raises(InvalidInput, match="quantity"):
            Cart("TWD").add(TEE, qty)  # type: ignore[arg-type]

    def test_one_currency_per_cart(self) -> None:
        with pytest.raises(CurrencyMismatch):
            Cart("USD").add(TEE, 1)
        with pytest.raises(CurrencyMismatch):
            Cart("TWD").add(TEE, 1, unit_price=Money("20", "USD"))
        with pytest.raises(InvalidInput, match="0 or more"):
            Cart("TWD").add(TEE, 1, unit_price=Money("-1", "TWD"))
        with pytest.raises(InvalidInput, match="products"):
            Cart("TWD").add("TEE-M", 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="currency"):
            Cart("XYZ")

    def test_an_empty_cart_has_a_zero_subtotal(self) -> None:
        assert Cart("JPY").subtotal() == Money("0", "JPY")


class TestContextAndAddress:
    def test_context(self) -> None:
        at = datetime(2026, 11, 22, tzinfo=UTC)
        context = PricingContext(
            at=at, customer=Customer(id="c-1", tier="gold", groups="vip"), channel="app"
        )
        assert context.channel is Channel.APP
        assert context.customer.groups == {"vip"}
        with pytest.raises(InvalidInput, match="timezone-aware"):
            PricingContext(at=datetime(2026, 11, 22))
        with pytest.raises(InvalidInput, match="unknown channel 'fax'; allowed: web, app, store"):
            PricingContext(at=at, channel="fax")

    def test_addresses_normalise_codes(self) -> None:
        penghu = Address(country="tw", region="tw-pen", postal_code=" 880 ", city="Magong")
        assert (penghu.country, penghu.region, penghu.postal_code) == ("TW", "TW-PEN", "880")
        assert Address(country="DE", vat_id="de123456789").vat_id == "DE123456789"
        assert country_code(" jp ") == "JP"

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"country": "XX"}, "unknown country 'XX'"),
            ({"country": 158}, "unknown country"),
            ({"country": "TW", "region": ""}, "region"),
            ({"country": "TW", "postal_code": 880}, "postal code"),
            ({"country": "TW", "city": None}, "city"),
        ],
    )
    def test_bad_addresses_are_refused(self, fields: dict[str, object], complaint: str) -> None:
        with pytest.raises(InvalidInput, match=complaint):
            Address(**fields)  # type: ignore[arg-type]
