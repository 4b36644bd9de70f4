"""The tax table presets, and a regional table, keep the TaxProvider contract."""

from typing import ClassVar

from fourflows.geo import Address
from fourflows.money import Rounding
from fourflows.tax import PriceMode, TaxProvider, TaxRounding, TaxTable
from fourflows.testing.tax_contract import TaxProviderContract


class TestTaiwan(TaxProviderContract):
    currency = "TWD"

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("TW")


class TestChina(TaxProviderContract):
    currency = "CNY"
    taxable_categories = ("standard", "reduced", "services")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("CN")


class TestJapan(TaxProviderContract):
    currency = "JPY"
    taxable_categories = ("standard", "reduced")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("JP")


class TestJapanRoundingDown(TaxProviderContract):
    currency = "JPY"
    taxable_categories = ("standard", "reduced")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("JP").with_rounding(
            TaxRounding.DOCUMENT, rounding_mode=Rounding.DOWN
        )


class TestGermany(TaxProviderContract):
    taxable_categories = ("standard", "reduced")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("DE")

    def reverse_charge_ship_to(self) -> Address | None:
        return Address(country="FR", vat_id="FR40303265045")


class TestGermanyB2BLineRounding(TaxProviderContract):
    taxable_categories = ("standard", "reduced")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("DE").with_mode(PriceMode.EXCLUSIVE).with_rounding(TaxRounding.LINE)

    def reverse_charge_ship_to(self) -> Address | None:
        return Address(country="AT", vat_id="ATU12345678")


class TestBritain(TaxProviderContract):
    currency = "GBP"
    taxable_categories = ("standard", "reduced")

    def make_provider(self) -> TaxProvider:
        return TaxTable.preset("GB")


class TestCanadaOntario(TaxProviderContract):
    """A tax-exclusive table whose region override differs from the country rate."""

    currency = "CAD"
    ship_to: ClassVar[Address | None] = Address(country="CA", region="CA-ON")

    def make_provider(self) -> TaxProvider:
        return TaxTable(
            country="CA",
            rates={"standard": "5"},
            regions={"CA-ON": {"standard": "13"}},
            mode=PriceMode.EXCLUSIVE,
        )
