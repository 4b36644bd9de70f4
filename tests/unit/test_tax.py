"""Tax tables by hand: the examples a merchant or an accountant would check on paper."""

import pickle
from decimal import Decimal

import pytest

from fourflows.errors import (
    CurrencyMismatch,
    FloatNotAllowed,
    InvalidInput,
    NotFound,
    TaxServiceUnavailable,
)
from fourflows.geo import Address
from fourflows.money import Money, Precision, Rounding, allocate
from fourflows.tax import (
    EU_MEMBER_STATES,
    REVERSE_CHARGE_NOTE,
    LineTax,
    PriceMode,
    RateTotal,
    TaxLine,
    TaxProvider,
    TaxRequest,
    TaxResult,
    TaxRounding,
    TaxTable,
)


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def jpy(amount: str) -> Money:
    return Money(amount, "JPY")


def gbp(amount: str) -> Money:
    return Money(amount, "GBP")


def rows(result: TaxResult) -> list[tuple[str, Decimal, Money, Money, Money]]:
    return [(r.category, r.rate, r.net, r.tax, r.gross) for r in result.breakdown]


class TestTaiwan:
    """5% business tax inside the price, worked out on the invoice total, in whole dollars."""

    def cart_after_discount(self) -> TaxRequest:
        # 1180 + 350 + 1290 = 2820 TWD incl. tax; a 100 TWD spend-threshold
        # discount spread in whole dollars: 42, 12, 46 → 1138, 338, 1244.
        lines = {"tee": twd("1180"), "socks": twd("350"), "cap": twd("1290")}
        off = allocate(twd("100"), list(lines.values()), precision=Precision.of(0))
        assert off == [twd("42"), twd("12"), twd("46")]
        return TaxRequest(
            [
                TaxLine(key, amount - cut)
                for (key, amount), cut in zip(lines.items(), off, strict=True)
            ]
        )

    def test_the_invoice_tax_is_rounded_once_to_whole_dollars(self) -> None:
        result = TaxTable.preset("TW").compute(self.cart_after_discount())
        # gross 2720; tax = 2720 × 5 / 105 = 129.52… → 130; net = 2720 − 130 = 2590
        assert (result.gross, result.tax, result.net) == (twd("2720"), twd("130"), twd("2590"))
        assert result.mode is PriceMode.INCLUSIVE
        assert result.notes == ()

    def test_the_invoice_tax_is_shared_over_the_lines_by_largest_remainder(self) -> None:
        result = TaxTable.preset("TW").compute(self.cart_after_discount())
        # shares of 130: 130×1138/2720 = 54.39, 130×338/2720 = 16.15,
        # 130×1244/2720 = 59.46 → 54 + 16 + 59 = 129, the spare dollar goes to
        # the largest remainder (.46, the cap): 54, 16, 60.
        assert [(line.key, line.tax, line.net) for line in result.lines] == [
            ("tee", twd("54"), twd("1084")),
            ("socks", twd("16"), twd("322")),
            ("cap", twd("60"), twd("1184")),
        ]

    def test_rounding_per_line_would_give_a_dollar_less(self) -> None:
        table = TaxTable.preset("TW").with_rounding(TaxRounding.LINE)
        result = table.compute(self.cart_after_discount())
        # 1138×5/105 = 54.19 → 54; 338×5/105 = 16.10 → 16; 1244×5/105 = 59.24 → 59
        assert [line.tax for line in result.lines] == [twd("54"), twd("16"), twd("59")]
        assert result.tax == twd("129")

    def test_shipping_is_a_taxed_line_of_its_own(self) -> None:
        request = TaxRequest([TaxLine("tee", twd("1180"))], shipping=twd("60"))
        result = TaxTable.preset("TW").compute(request)
        # (1180 + 60) × 5/105 = 59.05 → 59, shared 1180:60 → 56.19 / 2.86 → 56, 3
        assert result.shipping == LineTax(
            key="shipping",
            category="standard",
            rate=5,
            net=twd("57"),
            tax=twd("3"),
            gross=twd("60"),
        )
        assert result.tax == twd("59")
        assert result.gross == twd("1240")

    def test_amounts_are_kept_at_the_minor_unit(self) -> None:
        result = TaxTable.preset("TW").compute(TaxRequest([TaxLine("tee", twd("590"))]))
        # 590 × 5/105 = 28.10 → 28
        assert str(result.tax) == "28.00 TWD"
        assert str(result.net) == "562.00 TWD"

    def test_a_whole_dollar_step_needs_no_whole_dollar_prices(self) -> None:
        result = TaxTable.preset("TW").compute(TaxRequest([TaxLine("tea", twd("45.50"))]))
        # 45.50 × 5/105 = 2.17 → 2 (whole dollars); net 43.50
        assert (result.tax, result.net) == (twd("2"), twd("43.50"))


class TestEuropeanUnion:
    def test_b2b_cross_border_sale_is_reverse_charged(self) -> None:
        table = TaxTable.preset("DE").with_mode(PriceMode.EXCLUSIVE)
        buyer = Address(country="FR", city="Lyon", vat_id="FR40303265045")
        request = TaxRequest(
            [TaxLine("drill", eur("1000.00")), TaxLine("manual", eur("25.00"), "reduced")],
            shipping=eur("15.00"),
            ship_to=buyer,
        )
        result = table.compute(request)
        # seller DE, buyer FR with a VAT id: no German VAT; the buyer pays
        # 1000 + 25 + 15 = 1040 net and accounts for French VAT himself.
        assert result.reverse_charge
        assert result.notes == (REVERSE_CHARGE_NOTE,)
        assert result.tax == eur("0")
        assert result.net == result.gross == eur("1040.00")
        assert all(line.rate == 0 for line in result.all_lines)

    def test_reverse_charge_takes_the_vat_out_of_inclusive_prices(self) -> None:
        buyer = Address(country="NL", vat_id="NL123456789B01")
        result = TaxTable.preset("DE").compute(
            TaxRequest([TaxLine("kettle", eur("119.00"))], ship_to=buyer)
        )
        # 119.00 incl. 19%: tax 19.00, net 100.00; reverse charged: pay 100.00
        assert (result.net, result.tax, result.gross) == (eur("100.00"), eur("0"), eur("100.00"))

    @pytest.mark.parametrize(
        ("buyer", "why"),
        [
            (Address(country="FR"), "no VAT id: a consumer"),
            (Address(country="DE", vat_id="DE811907980"), "same country as the seller"),
            (Address(country="CH", vat_id="CHE123456789"), "Switzerland is not in the EU"),
        ],
    )
    def test_german_vat_is_charged_otherwise(self, buyer: Address, why: str) -> None:
        result = TaxTable.preset("DE").compute(
            TaxRequest([TaxLine("kettle", eur("119.00"))], ship_to=buyer)
        )
        assert result.tax == eur("19.00"), why
        assert not result.reverse_charge
        assert result.notes == ()

    def test_a_seller_outside_the_eu_never_reverse_charges(self) -> None:
        buyer = Address(country="FR", vat_id="FR40303265045")
        result = TaxTable.preset("GB").compute(
            TaxRequest([TaxLine("mug", gbp("12.00"))], ship_to=buyer)
        )
        # 12.00 × 20/120 = 2.00
        assert result.tax == gbp("2.00")
        assert not result.reverse_charge

    def test_the_member_states_are_the_27(self) -> None:
        assert len(EU_MEMBER_STATES) == 27
        assert {"DE", "FR", "GR", "HR", "IE"} <= EU_MEMBER_STATES
        assert not {"GB", "CH", "NO", "EL"} & EU_MEMBER_STATES

    def test_german_consumer_cart_mixes_19_and_7_percent(self) -> None:
        request = TaxRequest(
            [
                TaxLine("headphones", eur("119.00")),
                TaxLine("cookbook", eur("21.40"), "reduced"),
                TaxLine("coffee", eur("10.70"), "reduced"),
            ],
            shipping=eur("4.90"),
        )
        result = TaxTable.preset("DE").compute(request)
        # 19%: 119.00 + 4.90 = 123.90; tax 123.90 × 19/119 = 19.782… → 19.78,
        #      shared 11900:490 → 18.998 / 0.782 → 18.99 + 0.78, spare cent to
        #      the larger remainder (.77, the headphones): 19.00 and 0.78.
        # 7%:  21.40 + 10.70 = 32.10; tax 32.10 × 7/107 = 2.10 → 1.40 and 0.70.
        assert rows(result) == [
            ("standard", Decimal(19), eur("104.12"), eur("19.78"), eur("123.90")),
            ("reduced", Decimal(7), eur("30.00"), eur("2.10"), eur("32.10")),
        ]
        assert [line.tax for line in result.lines] == [eur("19.00"), eur("1.40"), eur("0.70")]
        assert result.shipping is not None
        assert result.shipping.tax == eur("0.78")
        # 156.00 gross = 134.12 net + 21.88 tax
        assert (result.gross, result.net, result.tax) == (
            eur("156.00"),
            eur("134.12"),
            eur("21.88"),
        )

    def test_shipping_can_be_untaxed_or_taxed_at_another_rate(self) -> None:
        request = TaxRequest([TaxLine("book", eur("10.70"), "reduced")], shipping=eur("5.35"))
        untaxed = TaxTable.preset("DE").with_shipping(taxed=False).compute(request)
        assert untaxed.shipping is not None
        assert (untaxed.shipping.category, untaxed.shipping.tax) == ("exempt", eur("0"))
        reduced = TaxTable.preset("DE").with_shipping(category="reduced").compute(request)
        # (10.70 + 5.35) × 7/107 = 1.05 → 0.70 and 0.35
        assert reduced.shipping is not None
        assert (reduced.shipping.rate, reduced.shipping.tax) == (Decimal(7), eur("0.35"))

    def test_destination_rates_can_be_added_for_a_country(self) -> None:
        # A German shop above the EU distance-selling threshold charges French VAT
        # to French consumers (OSS): 20% standard; reduced falls back to 7%.
        table = TaxTable.preset("DE").with_rate("standard", "20", region="FR")
        consumer = Address(country="FR")
        result = table.compute(
            TaxRequest(
                [TaxLine("lamp", eur("120.00")), TaxLine("book", eur("10.70"), "reduced")],
                ship_to=consumer,
            )
        )
        # 120.00 × 20/120 = 20.00; 10.70 × 7/107 = 0.70
        assert [line.tax for line in result.lines] == [eur("20.00"), eur("0.70")]
        assert result.jurisdiction == "FR"


class TestJapan:
    def request(self) -> TaxRequest:
        return TaxRequest(
            [
                TaxLine("onigiri-salmon", jpy("130"), "reduced"),
                TaxLine("onigiri-tuna", jpy("130"), "reduced"),
                TaxLine("green-tea", jpy("150"), "reduced"),
                TaxLine("batteries", jpy("330")),
            ]
        )

    def test_one_rounding_per_rate_on_the_invoice(self) -> None:
        result = TaxTable.preset("JP").compute(self.request())
        # 8%:  130 + 130 + 150 = 410; 410 × 8/108 = 30.37 → 30
        # 10%: 330 × 10/110 = 30
        assert rows(result) == [
            ("standard", Decimal(10), jpy("300"), jpy("30"), jpy("330")),
            ("reduced", Decimal(8), jpy("380"), jpy("30"), jpy("410")),
        ]
        assert result.tax == jpy("60")

    def test_rounding_each_line_gives_a_visibly_different_tax(self) -> None:
        table = TaxTable.preset("JP").with_rounding(TaxRounding.LINE)
        result = table.compute(self.request())
        # 130 × 8/108 = 9.63 → 10 (twice); 150 × 8/108 = 11.11 → 11; 330 → 30
        assert [line.tax for line in result.lines] == [jpy("10"), jpy("10"), jpy("11"), jpy("30")]
        assert result.tax == jpy("61")

    def test_rounding_down_is_a_choice_the_table_allows(self) -> None:
        table = TaxTable.preset("JP").with_rounding(
            TaxRounding.DOCUMENT, rounding_mode=Rounding.DOWN
        )
        result = table.compute(TaxRequest([TaxLine("bento", jpy("598"), "reduced")]))
        # 598 × 8/108 = 44.30 → 44 either way
        assert result.tax == jpy("44")
        result = table.compute(TaxRequest([TaxLine("bento", jpy("1295"), "reduced")]))
        # 1295 × 8/108 = 95.93 → 95 when rounding down (half-up would give 96)
        assert result.tax == jpy("95")


class TestBritain:
    def test_zero_rated_and_exempt_are_apart_in_the_breakdown(self) -> None:
        request = TaxRequest(
            [
                TaxLine("kettle", gbp("24.00")),
                TaxLine("car-seat", gbp("52.50"), "reduced"),
                TaxLine("childrens-coat", gbp("30.00"), "zero"),
                TaxLine("stamps", gbp("10.00"), "exempt"),
            ]
        )
        result = TaxTable.preset("GB").compute(request)
        # 24.00 × 20/120 = 4.00; 52.50 × 5/105 = 2.50; zero-rated and exempt: none
        assert rows(result) == [
            ("standard", Decimal(20), gbp("20.00"), gbp("4.00"), gbp("24.00")),
            ("reduced", Decimal(5), gbp("50.00"), gbp("2.50"), gbp("52.50")),
            ("zero", Decimal(0), gbp("30.00"), gbp("0"), gbp("30.00")),
            ("exempt", Decimal(0), gbp("10.00"), gbp("0"), gbp("10.00")),
        ]
        assert result.tax == gbp("6.50")

    def test_explain_shows_every_row_and_the_total(self) -> None:
        result = TaxTable.preset("GB").compute(
            TaxRequest([TaxLine("kettle", gbp("24.00")), TaxLine("stamps", gbp("10.00"), "exempt")])
        )
        assert result.explain().splitlines() == [
            "standard 20%: net 20.00 GBP, tax 4.00 GBP, gross 24.00 GBP",
            "exempt 0%: net 10.00 GBP, tax 0.00 GBP, gross 10.00 GBP",
            "total (inclusive): net 30.00 GBP, tax 4.00 GBP, gross 34.00 GBP",
        ]


class TestChina:
    def test_three_bands_each_rounded_per_line(self) -> None:
        request = TaxRequest(
            [
                TaxLine("rice-cooker", Money("399.00", "CNY")),
                TaxLine("novel", Money("45.80", "CNY"), "reduced"),
                TaxLine("install", Money("100.00", "CNY"), "services"),
            ]
        )
        result = TaxTable.preset("CN").compute(request)
        # 399.00 × 13/113 = 45.903 → 45.90; 45.80 × 9/109 = 3.782 → 3.78;
        # 100.00 × 6/106 = 5.660 → 5.66
        assert [(line.rate, line.tax) for line in result.lines] == [
            (Decimal(13), Money("45.90", "CNY")),
            (Decimal(9), Money("3.78", "CNY")),
            (Decimal(6), Money("5.66", "CNY")),
        ]


class TestRegions:
    table = TaxTable(
        country="CA",
        rates={"standard": "5", "zero": "0"},
        regions={"CA-ON": {"standard": "13"}},
        mode=PriceMode.EXCLUSIVE,
    )

    def test_a_region_override_applies_there(self) -> None:
        result = self.table.compute(
            TaxRequest(
                [TaxLine("toque", Money("20.00", "CAD"))],
                ship_to=Address(country="CA", region="CA-ON"),
            )
        )
        # exclusive: 20.00 × 13% = 2.60; gross 22.60
        assert (result.tax, result.gross, result.jurisdiction) == (
            Money("2.60", "CAD"),
            Money("22.60", "CAD"),
            "CA-ON",
        )

    def test_elsewhere_and_for_unlisted_categories_the_country_rate_applies(self) -> None:
        alberta = Address(country="CA", region="CA-AB")
        assert self.table.rate("standard", ship_to=alberta) == 5
        ontario = Address(country="CA", region="CA-ON")
        assert self.table.rate("zero", ship_to=ontario) == 0
        assert self.table.rate("Standard") == 5

    def test_a_region_cannot_invent_a_category(self) -> None:
        with pytest.raises(InvalidInput, match=r"'CA-ON'.*'luxury'"):
            TaxTable(
                country="CA",
                rates={"standard": "5"},
                regions={"CA-ON": {"luxury": "20"}},
                mode="exclusive",
            )


class TestResultShape:
    def test_lines_come_back_in_request_order_and_by_key(self) -> None:
        request = TaxRequest([TaxLine("b", twd("105")), TaxLine("a", twd("210"))])
        result = TaxTable.preset("TW").compute(request)
        assert [line.key for line in result.lines] == ["b", "a"]
        # 210 × 5/105 = 10
        assert result.line("a").tax == twd("10")
        with pytest.raises(NotFound, match=r"'c'.*known: 'a', 'b'"):
            result.line("c")

    def test_a_spare_step_goes_by_key_not_by_the_order_given(self) -> None:
        # two 10 TWD lines: (10 + 10) × 5/105 = 0.95 → 1 dollar of tax; the
        # shares tie at 0.5 each, and the tie goes to the first key, "a".
        table = TaxTable.preset("TW")
        for order in (["a", "b"], ["b", "a"]):
            result = table.compute(TaxRequest([TaxLine(key, twd("10")) for key in order]))
            assert (result.line("a").tax, result.line("b").tax) == (twd("1"), twd("0"))

    def test_an_empty_request_needs_a_currency_and_has_no_tax(self) -> None:
        with pytest.raises(InvalidInput, match="currency"):
            TaxRequest(())
        result = TaxTable.preset("TW").compute(TaxRequest((), currency="TWD"))
        assert (result.net, result.tax, result.gross, result.breakdown) == (
            twd("0"),
            twd("0"),
            twd("0"),
            (),
        )

    def test_a_result_refuses_numbers_that_do_not_add_up(self) -> None:
        with pytest.raises(InvalidInput, match="not the gross"):
            LineTax(
                key="a", category="standard", rate=5, net=twd("100"), tax=twd("5"), gross=twd("104")
            )
        with pytest.raises(CurrencyMismatch):
            RateTotal(category="standard", rate=5, net=twd("100"), tax=eur("5"), gross=twd("105"))
        line = LineTax(
            key="a", category="standard", rate=5, net=eur("100"), tax=eur("5"), gross=eur("105")
        )
        with pytest.raises(CurrencyMismatch):
            TaxResult(mode=PriceMode.EXCLUSIVE, currency="TWD", lines=[line])
        with pytest.raises(InvalidInput, match="'a' appears twice"):
            TaxResult(mode=PriceMode.EXCLUSIVE, currency="EUR", lines=[line, line])

    def test_tables_and_results_are_values(self) -> None:
        table = TaxTable.preset("DE").with_rate("standard", "20", region="FR")
        same = TaxTable.preset("DE").with_rate("standard", "20.0", region="fr")
        assert table == same
        assert hash(table) == hash(same)
        assert pickle.loads(pickle.dumps(table)) == table
        assert table != TaxTable.preset("DE")
        result = table.compute(TaxRequest([TaxLine("a", eur("12.00"))], shipping=eur("3.00")))
        assert pickle.loads(pickle.dumps(result)) == result

    def test_a_table_is_a_tax_provider(self) -> None:
        provider: TaxProvider = TaxTable.preset("JP")
        assert provider.mode is PriceMode.INCLUSIVE


class TestBadInput:
    def test_an_unknown_preset_lists_the_presets(self) -> None:
        with pytest.raises(InvalidInput, match=r"'XX'.*'CN', 'DE', 'GB', 'JP', 'TW'"):
            TaxTable.preset("XX")
        assert TaxTable.preset("tw") == TaxTable.preset("TW")

    def test_an_unknown_category_is_named_with_the_ones_allowed(self) -> None:
        request = TaxRequest([TaxLine("tee", twd("590"), "reduced")])
        with pytest.raises(InvalidInput, match=r"'reduced'.*'exempt', 'standard', 'zero'"):
            TaxTable.preset("TW").compute(request)

    def test_mixed_currencies_are_refused(self) -> None:
        with pytest.raises(CurrencyMismatch):
            TaxRequest([TaxLine("a", twd("1")), TaxLine("b", eur("1"))])
        with pytest.raises(CurrencyMismatch):
            TaxRequest([TaxLine("a", twd("1"))], shipping=eur("1"))
        with pytest.raises(CurrencyMismatch):
            TaxRequest([TaxLine("a", twd("1"))], currency="EUR")

    @pytest.mark.parametrize(
        ("amount", "message"),
        [(twd("-1"), "negative"), (twd("0.005"), "minor units"), ("100", "Money")],
    )
    def test_a_line_amount_must_be_whole_minor_units_of_money(
        self, amount: object, message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=message):
            TaxLine("a", amount)  # type: ignore[arg-type]

    def test_line_keys_are_unique(self) -> None:
        with pytest.raises(InvalidInput, match="'a' appears twice"):
            TaxRequest([TaxLine("a", twd("1")), TaxLine("a", twd("2"))])

    def test_rates_are_exact_percentages(self) -> None:
        with pytest.raises(FloatNotAllowed):
            TaxTable(country="TW", rates={"standard": 5.0}, mode="inclusive")
        with pytest.raises(InvalidInput, match="0 to 100"):
            TaxTable(country="TW", rates={"standard": "105"}, mode="inclusive")
        with pytest.raises(InvalidInput, match="'standard' rate"):
            TaxTable(country="TW", rates={"reduced": "5"}, mode="inclusive")
        with pytest.raises(InvalidInput, match="'zero' is built in"):
            TaxTable(country="TW", rates={"standard": "5", "zero": "1"}, mode="inclusive")

    def test_modes_and_roundings_are_named(self) -> None:
        with pytest.raises(InvalidInput, match=r"'gross'.*'inclusive', 'exclusive'"):
            TaxTable(country="TW", rates={"standard": "5"}, mode="gross")
        with pytest.raises(InvalidInput, match=r"'invoice'.*'document', 'line'"):
            TaxTable.preset("TW").with_rounding("invoice")
        with pytest.raises(InvalidInput, match="unknown country"):
            TaxTable(country="XX", rates={"standard": "5"}, mode="inclusive")

    def test_a_tax_precision_finer_than_the_currency_is_refused(self) -> None:
        table = TaxTable.preset("DE").with_mode("exclusive")
        fine = TaxTable(
            country="DE", rates={"standard": "19"}, mode="exclusive", precision=Precision.of(3)
        )
        assert table.compute(TaxRequest([TaxLine("a", eur("1.00"))])).tax == eur("0.19")
        with pytest.raises(InvalidInput, match="finer than the minor unit"):
            fine.compute(TaxRequest([TaxLine("a", eur("1.00"))]))

    def test_a_shipping_category_must_exist(self) -> None:
        with pytest.raises(InvalidInput, match="shipping category 'reduced'"):
            TaxTable.preset("TW").with_shipping(category="reduced")


class TestTaxServiceUnavailable:
    def test_it_names_the_provider_and_what_to_do(self) -> None:
        error = TaxServiceUnavailable("acme-tax", "timed out after 2 s")
        assert "'acme-tax'" in str(error)
        assert "timed out" in str(error)
        assert "fall back" in str(error)
