"""Invoices and credit notes (開立發票, 折讓), Taiwanese business numbers and invoice numbering.

The order used throughout (TW preset: prices include 5% business tax, rounded to whole
dollars on the document): 3 T-shirts at 590 and 1 pair of socks at 350, home delivery in
Taipei at 100. Gross 1770 + 350 + 100 = 2220; tax 2220 × 5/105 = 105.71 → 106, so the
net is 2220 − 106 = 2114 = round(2220 / 1.05 = 2114.29). The 106 is allocated by value
(1770 : 350 : 100): 84.51 → 84, 16.71 → 16, 4.77 → 4, and the two dollars left go to
the largest remainders (shipping .77, socks .71): T-shirts 84 (28 a unit), socks 17,
shipping 5.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fourflows import CurrencyMismatch, InvalidInput, Money
from fourflows.adapters.tw_einvoice import (
    InvoicePeriod,
    NumberRange,
    TaiwanInvoiceNumbering,
    check_invoice_number,
)
from fourflows.cash.invoices import (
    SHIPPING,
    Carrier,
    CarrierKind,
    CreditExceedsInvoice,
    CreditLine,
    CreditNote,
    InvalidBusinessNumber,
    Invoice,
    InvoiceNumbering,
    InvoiceNumberOutOfRange,
    InvoiceNumberReused,
    InvoiceNumbersExhausted,
    InvoiceStatus,
    Party,
    check_business_number,
    check_donation_code,
    invoice_items,
    invoice_order,
    invoice_shipment,
    is_valid_business_number,
)
from fourflows.commerce.cart import Cart, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.order import Order, PaymentFigures
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Precision
from fourflows.tax import PriceMode, TaxTable


def twd(amount: str) -> Money:
    return Money(amount, "TWD")


TEE = Product(sku="TEE-M", name="T-shirt", price=twd("590"), weight_g=200, size_cm=(30, 20, 3))
SOCKS = Product(sku="SOCK", name="Socks", price=twd("350"), weight_g=80, size_cm=(20, 10, 2))
AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # Friday 12:00 in Taipei
LATER = AT + timedelta(days=3)
TAIPEI = Address(country="TW", city="Taipei", postal_code="106")
SELLER = Party(name="Fourflows Shop Ltd.", country="TW", tax_id="53212539")
BUYER = Party(name="Buyer Co.", country="TW", tax_id="04595257")


@functools.cache
def quote(mode: PriceMode) -> Quote:
    return price_cart(
        Cart("TWD").add(TEE, 3).add(SOCKS, 1),
        context=PricingContext(at=AT, customer=Customer(id="c-1")),
        tax=TaxTable.preset("TW").with_mode(mode),
        shipping=ShippingTable.example_taiwan(),
        ship_to=TAIPEI,
        service="home",
    )


def paid_order(mode: PriceMode = PriceMode.INCLUSIVE) -> Order:
    order = Order.place(id="o-1", quote=quote(mode), at=AT)
    order.mark_paid(PaymentFigures.of("TWD", authorized=str(order.totals.total.amount)), at=AT)
    return order


def shipped_in_two(order: Order) -> Order:
    order.allocate("TEE-M", 3, allocation_id="a-1", at=AT)
    order.allocate("SOCK", 1, allocation_id="a-2", at=AT)
    order.record_shipment("s-1", {"TEE-M": 2}, at=AT)
    order.record_shipment("s-2", {"TEE-M": 1, "SOCK": 1}, at=AT)
    return order


def invoice(**options: Any) -> Invoice:
    return invoice_order(paid_order(), number="AB12345000", at=AT, seller=SELLER, **options)


# --- the business number (統一編號) --------------------------------------------------------------


class TestBusinessNumber:
    @pytest.mark.parametrize("number", ["04595257", "53212539", "22099131", "84149961"])
    def test_published_numbers_pass_both_rules(self, number: str) -> None:
        # 04595257: digits × 1,2,1,2,1,2,4,1 = 0,8,5,18,5,4,20,7 → digit sums
        # 0+8+5+9+5+4+2+7 = 40, divisible by 10 (old rule) and by 5 (since April 2023)
        assert check_business_number(number) == number
        assert is_valid_business_number(number, divisor=10)

    def test_the_2023_rule_accepts_sums_divisible_by_5_only(self) -> None:
        # 04595252: 0+8+5+9+5+4+2+2 = 35: divisible by 5, not by 10
        assert is_valid_business_number("04595252")
        assert not is_valid_business_number("04595252", divisor=10)

    def test_a_seventh_digit_7_counts_as_0_or_1(self) -> None:
        # 1045857x: 1,0,4,10,8,10,28,x → 1+0+4+1+8+1+(10 → 0 or 1) = 15 or 16, plus x
        assert is_valid_business_number("10458575")  # 20: divisible by 5 (and 10)
        assert is_valid_business_number("10458574")  # 19, and 19 + 1 = 20
        assert is_valid_business_number("10458574", divisor=10)  # 19 + 1 = 20
        assert not is_valid_business_number("10458573")  # 18 or 19: neither
        assert not is_valid_business_number("10458572", divisor=10)  # 17 or 18

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("12345678", "sum 32"),  # 1,4,3,8,5,12,28,8 → 1+4+3+8+5+3+(0 or 1)+8 = 32 or 33
            ("04595258", "41"),  # one more than 04595257's 40
            ("1234567", "8 digits"),
            ("0459525７", "8 digits"),  # a full-width digit
            ("ABCDEFGH", "8 digits"),
            (4595257, "8 digits"),  # an int loses the leading zero
        ],
    )
    def test_bad_numbers_raise_naming_the_value(self, value: object, reason: str) -> None:
        with pytest.raises(InvalidBusinessNumber) as raised:
            check_business_number(value)
        assert repr(value) in str(raised.value)
        assert raised.value.value == value
        assert isinstance(raised.value, InvalidInput | ValueError)
        if reason.startswith("sum"):
            assert "32 is not divisible by 5" in str(raised.value)

    def test_a_taiwanese_party_tax_id_is_checked(self) -> None:
        with pytest.raises(InvalidBusinessNumber):
            Party(name="Buyer", country="TW", tax_id="12345678")
        assert Party(name="GmbH", country="DE", tax_id="DE123456789").tax_id == "DE123456789"

    def test_the_divisor_is_5_or_10(self) -> None:
        with pytest.raises(InvalidInput, match="divisor"):
            check_business_number("04595257", divisor=3)


class TestCarrierAndDonation:
    @pytest.mark.parametrize(
        ("kind", "code"),
        [
            (CarrierKind.MOBILE_BARCODE, "/ABC+123"),
            (CarrierKind.MOBILE_BARCODE, "/A.B-C12"),
            (CarrierKind.CITIZEN_CERTIFICATE, "AB12345678901234"),
            (CarrierKind.MEMBER, "c-1"),
        ],
    )
    def test_valid_carriers(self, kind: CarrierKind, code: str) -> None:
        assert Carrier(kind, code).code == code

    @pytest.mark.parametrize(
        ("kind", "code"),
        [
            (CarrierKind.MOBILE_BARCODE, "ABC+1234"),  # no leading slash
            (CarrierKind.MOBILE_BARCODE, "/abc+123"),  # lower case
            (CarrierKind.MOBILE_BARCODE, "/ABC+1234"),  # 8 characters after the slash
            (CarrierKind.CITIZEN_CERTIFICATE, "AB1234567890123"),  # 13 digits
            (CarrierKind.MEMBER, "has space"),
        ],
    )
    def test_bad_carrier_codes_raise_naming_the_code(self, kind: CarrierKind, code: str) -> None:
        with pytest.raises(InvalidInput, match=repr(code).replace("+", r"\+")):
            Carrier(kind, code)

    def test_carrier_kinds_are_the_mof_type_codes(self) -> None:
        assert Carrier("3J0002", "/ABC+123").kind is CarrierKind.MOBILE_BARCODE
        with pytest.raises(InvalidInput, match="unknown carrier kind"):
            Carrier("phone", "/ABC+123")

    @pytest.mark.parametrize("code", ["123", "8585", "1234567"])
    def test_donation_codes_have_3_to_7_digits(self, code: str) -> None:
        assert check_donation_code(code) == code

    @pytest.mark.parametrize("code", ["12", "12345678", "85a5", 8585])
    def test_bad_donation_codes_raise(self, code: object) -> None:
        with pytest.raises(InvalidInput, match="3 to 7 digits"):
            check_donation_code(code)

    def test_an_invoice_is_kept_in_a_carrier_or_donated_not_both(self) -> None:
        kept = invoice(carrier=Carrier(CarrierKind.MOBILE_BARCODE, "/ABC+123"))
        donated = invoice(donation_code="8585")
        assert (kept.carrier, donated.donation_code) == (
            Carrier(CarrierKind.MOBILE_BARCODE, "/ABC+123"),
            "8585",
        )
        with pytest.raises(InvalidInput, match="not both"):
            invoice(carrier=Carrier(CarrierKind.MEMBER, "c-1"), donation_code="8585")

    def test_a_b2b_invoice_cannot_be_donated(self) -> None:
        with pytest.raises(InvalidInput, match="cannot be donated"):
            invoice(buyer=BUYER, donation_code="8585")


# --- invoices ------------------------------------------------------------------------------------


class TestInvoicingAnOrder:
    def test_a_tax_inclusive_order_with_its_breakdown(self) -> None:
        made = invoice()
        assert [
            (line.key, line.quantity, line.gross, line.tax, line.net) for line in made.lines
        ] == [
            ("line 0 'TEE-M'", 3, twd("1770"), twd("84"), twd("1686")),  # 3 × 590, 3 × 28
            ("line 1 'SOCK'", 1, twd("350"), twd("17"), twd("333")),
            ("'shipping'", 1, twd("100"), twd("5"), twd("95")),
        ]
        # 2220 gross; 106 tax; net = round(2220 / 1.05) = round(2114.29) = 2114
        assert (made.gross, made.tax, made.net) == (twd("2220"), twd("106"), twd("2114"))
        (row,) = made.breakdown
        assert (row.category, row.rate, row.net, row.tax, row.gross) == (
            "standard",
            Decimal("5"),
            twd("2114"),
            twd("106"),
            twd("2220"),
        )
        assert (made.order_id, made.number, made.issued_at, made.seller) == (
            "o-1",
            "AB12345000",
            AT,
            SELLER,
        )
        assert not made.is_b2b
        assert made.status() is InvoiceStatus.ISSUED

    def test_a_b2b_invoice_of_a_tax_exclusive_order(self) -> None:
        made = invoice_order(
            paid_order(PriceMode.EXCLUSIVE),
            number="AB12345001",
            at=AT,
            seller=SELLER,
            buyer=BUYER,
            purchase_order="PO-2026-118",
        )
        # net 1770 + 350 + 100 = 2220; tax 2220 × 5% = 111; gross 2331
        assert (made.net, made.tax, made.gross) == (twd("2220"), twd("111"), twd("2331"))
        assert (made.is_b2b, made.purchase_order, made.price_mode) == (
            True,
            "PO-2026-118",
            PriceMode.EXCLUSIVE,
        )
        assert made.line("TEE-M").unit_totals == (twd("619.67"), twd("619.67"), twd("619.66"))

    def test_one_invoice_per_shipment_adds_up_to_the_order(self) -> None:
        order = shipped_in_two(paid_order())
        first = invoice_shipment(order, "s-1", number="AB12345000", at=AT, seller=SELLER)
        second = invoice_shipment(
            order, "s-2", number="AB12345001", at=LATER, seller=SELLER, invoices=[first]
        )
        # s-1: 2 T-shirts 1180 (tax 56) and the shipping 100 (tax 5): 1280, tax 61
        assert (first.gross, first.tax, first.shipment_id) == (twd("1280"), twd("61"), "s-1")
        # s-2: the third T-shirt 590 (tax 28) and the socks 350 (tax 17): 940, tax 45
        assert (second.gross, second.tax) == (twd("940"), twd("45"))
        assert SHIPPING not in [line.sku for line in second.lines]
        assert first.gross + second.gross == order.totals.total
        assert first.tax + second.tax == order.totals.tax
        with pytest.raises(InvalidInput, match="already invoiced on 'AB12345000'"):
            invoice_shipment(
                order, "s-1", number="AB12345002", at=LATER, seller=SELLER, invoices=[first]
            )

    def test_untaxed_shipping_is_exempt_and_shipping_can_wait(self) -> None:
        untaxed = price_cart(
            Cart("TWD").add(SOCKS, 1),
            context=PricingContext(at=AT),
            tax=TaxTable.preset("TW").with_shipping(taxed=False),
            shipping=ShippingTable.example_taiwan(),
            ship_to=TAIPEI,
            service="home",
        )
        order = Order.place(id="o-2", quote=untaxed, at=AT)
        goods = invoice_order(
            order, number="AB12345000", at=AT, seller=SELLER, include_shipping=False
        )
        assert [line.sku for line in goods.lines] == ["SOCK"]
        # the shipping alone, later: 100 with no tax in it, listed apart as exempt
        fee = invoice_items(
            order,
            {},
            number="AB12345001",
            at=LATER,
            seller=SELLER,
            invoices=[goods],
            include_shipping=True,
        )
        (line,) = fee.lines
        assert (line.sku, line.category, line.rate, line.gross, line.tax) == (
            SHIPPING,
            "exempt",
            Decimal(0),
            twd("100"),
            twd("0"),
        )
        with pytest.raises(InvalidInput, match="already invoiced"):
            invoice_items(
                order,
                {},
                number="AB12345002",
                at=LATER,
                seller=SELLER,
                invoices=[goods, fee],
                include_shipping=True,
            )

    def test_the_shipping_rate_can_be_given(self) -> None:
        made = invoice(shipping_category="shipping", shipping_rate="5")
        assert [(row.category, row.gross) for row in made.breakdown] == [
            ("shipping", twd("100")),  # same 5% rate, listed by name
            ("standard", twd("2120")),
        ]

    def test_units_already_invoiced_cannot_be_invoiced_again(self) -> None:
        order = paid_order()
        whole = invoice_order(order, number="AB12345000", at=AT, seller=SELLER)
        with pytest.raises(InvalidInput, match=r"3 open, 3 already invoiced, so 0 left"):
            invoice_items(
                order, {"TEE-M": 1}, number="AB12345001", at=AT, seller=SELLER, invoices=[whole]
            )
        with pytest.raises(InvalidInput, match="nothing to invoice"):
            invoice_order(order, number="AB12345001", at=AT, seller=SELLER, invoices=[whole])

    def test_a_void_invoice_frees_its_units(self) -> None:
        order = paid_order()
        first = invoice_order(order, number="AB12345000", at=AT, seller=SELLER)
        voided = first.void(at=AT, reason="wrong buyer")
        again = invoice_order(
            order, number="AB12345001", at=AT, seller=SELLER, buyer=BUYER, invoices=[voided]
        )
        assert (voided.status(), again.gross) == (InvoiceStatus.VOID, twd("2220"))
        assert first.voided_at is None  # voiding made a new value

    def test_bad_input_raises(self) -> None:
        order = paid_order()
        with pytest.raises(InvalidInput, match="timezone-aware"):
            invoice_order(order, number="AB1", at=datetime(2026, 11, 20), seller=SELLER)
        with pytest.raises(InvalidInput, match="no shipment 's-9'"):
            invoice_shipment(order, "s-9", number="AB1", at=AT, seller=SELLER)
        with pytest.raises(InvalidInput, match="no line with sku 'HAT'"):
            invoice_items(order, {"HAT": 1}, number="AB1", at=AT, seller=SELLER)
        with pytest.raises(InvalidInput, match="must be an int ≥ 1"):
            invoice_items(order, {"SOCK": 0}, number="AB1", at=AT, seller=SELLER)
        with pytest.raises(InvalidInput, match="seller must be a Party"):
            invoice_order(order, number="AB1", at=AT, seller="me")  # type: ignore[arg-type]


# --- credit notes --------------------------------------------------------------------------------


class TestCreditNotes:
    def test_a_returned_unit_gives_back_what_it_paid_and_its_tax(self) -> None:
        made = invoice()
        note = made.credit_units(
            {"SOCK": 1}, number="CN-1", at=LATER, reason="too small", refund_id="r-1"
        )
        (line,) = note.lines
        assert (line.sku, line.quantity, line.gross, line.tax, line.net) == (
            "SOCK",
            1,
            twd("350"),
            twd("17"),
            twd("333"),
        )
        assert (note.invoice_number, note.order_id, note.refund_id) == ("AB12345000", "o-1", "r-1")
        # 2220 − 350 = 1870 left
        assert made.left([note]) == twd("1870")
        assert made.status([note]) is InvoiceStatus.PARTLY_CREDITED

    def test_a_partial_refund_of_an_amount_in_whole_dollars(self) -> None:
        made = invoice()
        returned = made.credit_units({"SOCK": 1}, number="CN-1", at=LATER)
        allowance = made.credit_amount(
            twd("100"),
            number="CN-2",
            at=LATER,
            credit_notes=[returned],
            lines=["TEE-M"],
            reason="stain on one T-shirt",
            precision=Precision.of(0),
        )
        (line,) = allowance.lines
        # the tax share of what is left on the line: 100 × 84 / 1770 = 4.75 → 5 (whole dollars)
        assert (line.gross, line.tax, line.net, line.quantity) == (
            twd("100"),
            twd("5"),
            twd("95"),
            0,
        )
        assert made.left([returned, allowance]) == twd("1770")  # 2220 − 350 − 100

    def test_an_amount_spreads_over_the_lines_by_what_is_left(self) -> None:
        made = invoice()
        note = made.credit_amount(twd("222"), number="CN-1", at=LATER)
        # 222 over 1770 : 350 : 100 (of 2220) is 177, 35 and 10 exactly
        assert [(line.sku, line.gross) for line in note.lines] == [
            ("TEE-M", twd("177")),
            ("SOCK", twd("35")),
            ("shipping", twd("10")),
        ]
        # tax shares: 177 × 84/1770 = 8.40, 35 × 17/350 = 1.70, 10 × 5/100 = 0.50
        assert [line.tax for line in note.lines] == [twd("8.40"), twd("1.70"), twd("0.50")]
        assert note.tax == twd("10.60")
        assert note.breakdown[0].net + note.breakdown[0].tax == twd("222")

    def test_a_credit_above_what_is_left_raises_naming_the_invoice(self) -> None:
        made = invoice()
        first = made.credit_amount(twd("2000"), number="CN-1", at=LATER)
        with pytest.raises(CreditExceedsInvoice) as raised:
            made.credit_amount(twd("221"), number="CN-2", at=LATER, credit_notes=[first])
        # 2220 − 2000 = 220 left, 221 asked
        assert (raised.value.invoice, raised.value.asked, raised.value.left) == (
            "AB12345000",
            twd("221"),
            twd("220"),
        )
        assert "invoice 'AB12345000': only 220.00 TWD is left" in str(raised.value)
        assert made.left([first]) == twd("220")  # nothing changed

    def test_whole_units_are_capped_by_the_units_left(self) -> None:
        made = invoice()
        two = made.credit_units({"TEE-M": 2}, number="CN-1", at=LATER)
        with pytest.raises(CreditExceedsInvoice, match="1 of its 3 units"):
            made.credit_units({"TEE-M": 2}, number="CN-2", at=LATER, credit_notes=[two])
        last = made.credit_units({"TEE-M": 1}, number="CN-2", at=LATER, credit_notes=[two])
        assert (two.gross, last.gross, last.tax) == (twd("1180"), twd("590"), twd("28"))

    def test_units_after_an_allowance_cannot_exceed_the_money_left(self) -> None:
        made = invoice()
        allowance = made.credit_amount(twd("100"), number="CN-1", at=LATER, lines=["SOCK"])
        with pytest.raises(CreditExceedsInvoice) as raised:
            made.credit_units({"SOCK": 1}, number="CN-2", at=LATER, credit_notes=[allowance])
        assert (raised.value.asked, raised.value.left) == (twd("350"), twd("250"))

    def test_fully_credited_stays_issued_and_cannot_be_voided(self) -> None:
        made = invoice()
        everything = made.credit_amount(made.gross, number="CN-1", at=LATER)
        # the whole invoice back: exactly its tax and net, nothing rounded away
        assert (everything.gross, everything.tax, everything.net) == (
            twd("2220"),
            twd("106"),
            twd("2114"),
        )
        assert made.status([everything]) is InvoiceStatus.FULLY_CREDITED
        assert made.left([everything]) == twd("0")
        with pytest.raises(InvalidInput, match="has credit notes"):
            made.void(at=LATER, reason="refunded", credit_notes=[everything])
        with pytest.raises(CreditExceedsInvoice):
            made.credit_amount(twd("1"), number="CN-2", at=LATER, credit_notes=[everything])

    def test_a_void_invoice_cannot_be_credited_or_voided_again(self) -> None:
        voided = invoice().void(at=LATER, reason="issued twice")
        with pytest.raises(InvalidInput, match="is void"):
            voided.credit_amount(twd("1"), number="CN-1", at=LATER)
        with pytest.raises(InvalidInput, match="already void"):
            voided.void(at=LATER, reason="again")
        assert voided.left() == twd("0")

    def test_an_earlier_note_above_its_line_is_refused(self) -> None:
        made = invoice()
        forged = CreditNote(
            number="CN-X",
            invoice_number="AB12345000",
            order_id="o-1",
            issued_at=LATER,
            currency="TWD",
            lines=[
                CreditLine(
                    order_line=1,
                    sku="SOCK",
                    category="standard",
                    rate="5",
                    quantity=0,
                    gross=twd("351"),
                    tax=twd("17"),
                )
            ],
        )
        # the socks were invoiced at 350: a note of 351 on them cannot be one of its notes
        with pytest.raises(CreditExceedsInvoice, match=r"only 350\.00 TWD is left"):
            made.left([forged])

    def test_bad_credit_input_raises(self) -> None:
        made = invoice()
        first = made.credit_units({"SOCK": 1}, number="CN-1", at=LATER)
        with pytest.raises(InvalidInput, match="already used"):
            made.credit_units({"TEE-M": 1}, number="CN-1", at=LATER, credit_notes=[first])
        with pytest.raises(InvalidInput, match="cannot precede"):
            made.credit_units({"TEE-M": 1}, number="CN-2", at=AT - timedelta(days=1))
        with pytest.raises(CurrencyMismatch):
            made.credit_amount(Money("1", "USD"), number="CN-2", at=LATER)
        with pytest.raises(InvalidInput, match="more than zero"):
            made.credit_amount(twd("0"), number="CN-2", at=LATER)
        with pytest.raises(InvalidInput, match="whole number of steps"):
            made.credit_amount(twd("0.50"), number="CN-2", at=LATER, precision=Precision.of(0))
        other = invoice_order(paid_order(), number="AB12345009", at=AT, seller=SELLER)
        with pytest.raises(InvalidInput, match="is for invoice 'AB12345000'"):
            other.credit_units({"SOCK": 1}, number="CN-2", at=LATER, credit_notes=[first])
        with pytest.raises(InvalidInput, match="has no line 'HAT'"):
            made.credit_units({"HAT": 1}, number="CN-2", at=LATER)


# --- numbering -----------------------------------------------------------------------------------

NOV_DEC = InvoicePeriod(2026, 11)


def numbering() -> TaiwanInvoiceNumbering:
    return TaiwanInvoiceNumbering([NumberRange("AB", "12345000", "12345049", NOV_DEC)])


class TestTaiwanNumbering:
    def test_numbers_are_handed_out_in_order_from_the_range(self) -> None:
        port: InvoiceNumbering = numbering()
        assert [port.next_number(AT) for _ in range(3)] == [
            "AB12345000",
            "AB12345001",
            "AB12345002",
        ]

    def test_the_period_is_read_in_taiwan_time(self) -> None:
        # 2026-12-31 16:00 UTC is 2027-01-01 00:00 in Taipei: the January–February period
        assert InvoicePeriod.containing(datetime(2026, 12, 31, 16, tzinfo=UTC)) == InvoicePeriod(
            2027, 1
        )
        assert InvoicePeriod.containing(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)) == NOV_DEC
        with pytest.raises(InvoiceNumbersExhausted, match="2027-01/02: no range is allocated"):
            numbering().next_number(datetime(2026, 12, 31, 16, tzinfo=UTC))

    def test_a_naive_time_is_refused(self) -> None:
        port = numbering()
        with pytest.raises(InvalidInput, match="timezone-aware"):
            port.next_number(datetime(2026, 11, 20, 12, 0))
        assert port.remaining(NOV_DEC) == 50

    def test_an_exhausted_range_raises(self) -> None:
        port = numbering()
        issued = [port.next_number(AT) for _ in range(50)]  # 12345000 to 12345049
        assert (issued[-1], len(set(issued))) == ("AB12345049", 50)
        with pytest.raises(InvoiceNumbersExhausted, match="every allocated number is used"):
            port.next_number(AT)
        assert port.remaining(NOV_DEC) == 0

    def test_the_next_range_of_the_period_follows(self) -> None:
        port = TaiwanInvoiceNumbering(
            [
                NumberRange("AB", "12345048", "12345049", NOV_DEC),
                NumberRange("AC", 0, 49, NOV_DEC),
            ]
        )
        assert [port.next_number(AT) for _ in range(3)] == [
            "AB12345048",
            "AB12345049",
            "AC00000000",
        ]

    def test_a_claimed_number_must_be_in_range_and_unused(self) -> None:
        port = numbering()
        assert port.claim("AB12345001", AT) == "AB12345001"
        with pytest.raises(
            InvoiceNumberReused, match="'AB12345001' was already used in 2026-11/12"
        ):
            port.claim("AB12345001", AT)
        with pytest.raises(InvoiceNumberOutOfRange, match="AB12345000-AB12345049"):
            port.claim("AB12345050", AT)
        with pytest.raises(InvoiceNumberOutOfRange):
            port.claim("AC12345001", AT)  # another track
        with pytest.raises(InvoiceNumberOutOfRange, match="none"):
            port.claim("AB12345002", AT + timedelta(days=60))  # the next period
        with pytest.raises(InvalidInput, match="two upper-case letters"):
            port.claim("ab12345002", AT)
        # the claimed number is skipped; the failed claims used nothing
        assert [port.next_number(AT) for _ in range(3)] == [
            "AB12345000",
            "AB12345002",
            "AB12345003",
        ]
        assert port.remaining(NOV_DEC) == 46
        assert port.unused(NOV_DEC)[:2] == ("AB12345004", "AB12345005")

    def test_a_number_handed_out_cannot_be_claimed_again(self) -> None:
        port = numbering()
        number = port.next_number(AT)
        with pytest.raises(InvoiceNumberReused):
            port.claim(number, AT)
        assert port.is_used(number, NOV_DEC)

    def test_bad_ranges_raise(self) -> None:
        with pytest.raises(InvalidInput, match="overlap"):
            TaiwanInvoiceNumbering(
                [
                    NumberRange("AB", "12345000", "12345049", NOV_DEC),
                    NumberRange("AB", "12345049", "12345099", NOV_DEC),
                ]
            )
        with pytest.raises(InvalidInput, match="runs upwards"):
            NumberRange("AB", "12345049", "12345000", NOV_DEC)
        with pytest.raises(InvalidInput, match="track"):
            NumberRange("A1", "12345000", "12345049", NOV_DEC)
        with pytest.raises(InvalidInput, match="odd month"):
            InvoicePeriod(2026, 12)
        with pytest.raises(InvalidInput, match="eight digits"):
            NumberRange("AB", "1234500", "12345049", NOV_DEC)
        assert check_invoice_number("AB12345000") == "AB12345000"

    def test_numbers_feed_invoices(self) -> None:
        port = numbering()
        made = invoice_order(paid_order(), number=port.next_number(AT), at=AT, seller=SELLER)
        assert made.number == "AB12345000"
